//! A desk for the decision tests: the demo company in a temporary configuration, its cycles
//! run by the real binary (`relance sync --once --date D`, no daemon), and the operator API
//! served in-process over the same store on a fixed clock, to post decisions and read the
//! queues between two cycles. The API and the binary never hold the store at the same time.

use relance::api::{self, hub::Hub, ApiState};
use relance::auth::{self, Grant, Role};
use relance::clock::Clock;
use relance::pipeline::Pipeline;
use relance_core::CompanyId;
use relance_testkit::smtp::Sink;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use tower::ServiceExt as _;

pub const COMPANY: &str = "demo";

/// A postal address: (line, postcode, city).
pub type Address<'a> = (&'a str, &'a str, &'a str);

/// The company's configuration and the credentials of its API users.
pub struct Desk {
    pub dir: tempfile::TempDir,
    /// Bearer tokens by role name (`collector`, `approver`).
    tokens: Vec<(String, String)>,
}

/// An answer of the in-process API.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub bytes: Vec<u8>,
}

impl Desk {
    /// The demo company alone (the second company of the API tests removed), mailing through
    /// `mail` when given.
    pub fn new(mail: Option<&Sink>) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        super::api_support::write_config(dir.path());
        std::fs::remove_file(dir.path().join("companies.d/other.toml")).unwrap();
        let path = dir.path().join("companies.d/demo.toml");
        // Statements read every few weeks (the gate would hold every reminder after three
        // days), and a closing at the end of June.
        let mut toml = std::fs::read_to_string(&path)
            .unwrap()
            .replace("bank_data_max_age_days = 3", "bank_data_max_age_days = 400");
        toml.push_str("\n[provision]\nclosing_dates = [\"06-30\"]\n");
        // The second half of 2026 in the rate table (a fixture: the rows are not published).
        std::fs::create_dir_all(dir.path().join("rates.d")).unwrap();
        std::fs::write(
            dir.path().join("rates.d/2026-h2.toml"),
            "version = 1\nrevision = 90\nupdated = \"2026-07-02\"\n\n[ecb_mro]\n\
             confirmed_until = \"2026-12-31\"\n\n[[taux_legal.semesters]]\nstart = \"2026-07-01\"\n\
             natural_person_percent = \"6.67\"\nother_cases_percent = \"2.62\"\nsource = \"test fixture\"\n",
        )
        .unwrap();
        if let Some(sink) = mail {
            toml.push_str(&format!(
                "\n[mail]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\n\
                 from = \"Atelier Lumière <compta@atelier-lumiere.example>\"\n",
                sink.port
            ));
        }
        std::fs::write(&path, toml).unwrap();
        let mut desk = Desk {
            dir,
            tokens: Vec::new(),
        };
        let store = desk.store();
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T08:00:00Z")
            .unwrap()
            .to_utc();
        for role in [Role::Collector, Role::Approver] {
            let name = format!("{role:?}").to_lowercase();
            let grants = vec![Grant {
                company: Some(CompanyId::new(COMPANY)),
                role,
            }];
            auth::add_user(
                store.as_ref(),
                &name,
                "un mot de passe assez long",
                grants.clone(),
                now,
            )
            .unwrap();
            let (secret, _) =
                auth::add_token(store.as_ref(), &name, "tests", grants, None, now).unwrap();
            desk.tokens.push((name, secret));
        }
        drop(store);
        desk
    }

    /// Adds `[[customers]]` entries: (id, e-mail, postal address (line, postcode, city)).
    pub fn add_customers(&self, customers: &[(&str, &str, Option<Address>)]) {
        let path = self.dir.path().join("companies.d/demo.toml");
        let mut toml = std::fs::read_to_string(&path).unwrap();
        for (id, email, address) in customers {
            toml.push_str(&format!(
                "\n[[customers]]\nid = \"{id}\"\nemails = [\"{email}\"]\n"
            ));
            if let Some((line, postcode, city)) = address {
                toml.push_str(&format!(
                    "[customers.address]\nlines = [\"{line}\"]\npostcode = \"{postcode}\"\ncity = \"{city}\"\n"
                ));
            }
        }
        std::fs::write(&path, toml).unwrap();
    }

    pub fn config(&self) -> &Path {
        self.dir.path()
    }

    /// The store, opened here (drop it before the next cycle).
    pub fn store(&self) -> relance::store::SharedStore {
        relance::store::open_shared(&self.dir.path().join("state")).unwrap()
    }

    /// Runs `relance ARGS --config DIR`; returns stdout, asserting success.
    pub fn relance(&self, args: &[&str]) -> String {
        let out = self.relance_raw(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "relance {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    pub fn relance_raw(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_relance"))
            .args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("RUNTIME_DIRECTORY")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }

    /// One cycle of the company on `date` (pull, apply the decisions, reconcile, plan,
    /// deliver), by the binary.
    pub fn cycle(&self, date: &str) -> String {
        self.relance(&["sync", "--once", "--company", COMPANY, "--date", date])
    }

    /// Requests to the API on `date` (its clock), as `role`: each `(method, path, body, key)`
    /// in order, on one API instance over the store.
    pub fn api(
        &self,
        date: &str,
        role: &str,
        calls: &[(&str, &str, Option<String>, &str)],
    ) -> Vec<Reply> {
        let token = self
            .tokens
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no {role} token"));
        let config = relance::config::load(self.config()).unwrap();
        let store = self.store();
        let day: chrono::NaiveDate = date.parse().unwrap();
        let clock = Clock::Fixed(day.and_hms_opt(9, 0, 0).unwrap().and_utc());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let state = ApiState::new(
                store,
                clock,
                Arc::new(Hub::default()),
                &config.companies,
                Arc::new(Pipeline::load(Some(self.config())).unwrap()),
                (self.config().to_owned(), config.global.state_dir.clone()),
                std::time::Duration::from_secs(3600),
            );
            let app = api::router(state);
            let mut out = Vec::new();
            for (method, path, body, key) in calls {
                let mut req = axum::http::Request::builder()
                    .method(*method)
                    .uri(format!("/api/v1/companies/{COMPANY}{path}"))
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json");
                if !key.is_empty() {
                    req = req.header("idempotency-key", *key);
                }
                let req = req
                    .body(axum::body::Body::from(body.clone().unwrap_or_default()))
                    .unwrap();
                let resp = app.clone().oneshot(req).await.unwrap();
                let status = resp.status().as_u16();
                let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
                    .await
                    .unwrap()
                    .to_vec();
                let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                out.push(Reply {
                    status,
                    body,
                    bytes,
                });
            }
            out
        });
        drop(rt);
        out
    }

    /// One GET on `date` as the approver.
    pub fn get(&self, date: &str, path: &str) -> Reply {
        self.api(date, "approver", &[("GET", path, None, "")])
            .remove(0)
    }

    /// Posts one decision on `date` as `role`, under `key`; asserts it was recorded (201).
    pub fn decide(&self, date: &str, role: &str, key: &str, decision: serde_json::Value) -> Reply {
        let r = self
            .api(
                date,
                role,
                &[("POST", "/decisions", Some(decision.to_string()), key)],
            )
            .remove(0);
        assert_eq!(r.status, 201, "{key}: {} {}", r.status, r.body);
        r
    }

    /// Posts one decision expecting it to be refused at once (422), returning the message.
    pub fn refused(
        &self,
        date: &str,
        role: &str,
        key: &str,
        decision: serde_json::Value,
    ) -> String {
        let r = self
            .api(
                date,
                role,
                &[("POST", "/decisions", Some(decision.to_string()), key)],
            )
            .remove(0);
        assert_eq!(r.status, 422, "{key}: {} {}", r.status, r.body);
        r.body["error"]["message"].as_str().unwrap_or("").to_owned()
    }

    /// A `relance decide` request through the API (`/requests`), answered as the CLI gets it.
    pub fn request(&self, date: &str, req: serde_json::Value) -> serde_json::Value {
        let r = self
            .api(
                date,
                "approver",
                &[("POST", "/requests", Some(req.to_string()), "")],
            )
            .remove(0);
        assert_eq!(r.status, 200, "{req}: {} {}", r.status, r.body);
        r.body
    }

    /// The audit of the first decision of `kind` a cycle applied or refused.
    pub fn applied_of_kind(&self, kind: &str) -> Option<serde_json::Value> {
        let store = self.store();
        store
            .audit_by_kind(
                &CompanyId::new(COMPANY),
                &[relance::decisions::AUDIT_DECISION],
                0,
                100_000,
            )
            .unwrap()
            .into_iter()
            .map(|e| e.event.explanation)
            .find(|x| x["decision"]["type"] == kind)
    }

    /// The audit events of a decision (kind `decision`) whose subject is `key`.
    pub fn applied(&self, key: &str) -> Vec<serde_json::Value> {
        let store = self.store();
        let events = store
            .audit_by_kind(
                &CompanyId::new(COMPANY),
                &[relance::decisions::AUDIT_DECISION],
                0,
                100_000,
            )
            .unwrap();
        events
            .into_iter()
            .filter(|e| e.event.subject == key)
            .map(|e| e.event.explanation)
            .collect()
    }
}
