//! A fake Odoo 16/17/18/19 on 127.0.0.1:0 (axum): an in-memory ORM behind the two external
//! APIs, following `odoo/documentation:content/developer/reference/external_rpc_api.rst`,
//! `external_json2_api.rst`, `odoo/odoo:odoo/http.py` and `addons/account/models/
//! account_move.py` as summarised in connector-apis.md §1 (and its corrections). Each quirk
//! reproduced names its source:
//!
//! - `POST /jsonrpc`: `common.version` (no auth), `common.authenticate` → uid or **`false`**,
//!   `object.execute_kw(db, uid, key, model, method, args, kwargs)`; every error answers HTTP
//!   **200** with `error{code, message, data{name, message, debug, arguments}}`, code 200 on
//!   16 and 0 from 17 (`http.py` `serialize_exception`; §1.1); code 100 "Odoo Session
//!   Expired" when injected.
//! - `POST /json/2/<model>/<method>` (19 only): keyword arguments as body, `ids` for a
//!   recordset, bearer API key, `X-Odoo-Database`; errors are HTTP statuses with a JSON
//!   **string** (`401 "Invalid apikey"`, `422 ...`) (`external_json2_api.rst`). `GET
//!   /web/version` (19).
//! - Reads return `false` for empty values and `[id, "display name"]` for many2one (§0);
//!   amounts are JSON floats computed in binary floating point (`amount_tax` of 100.10 is
//!   `20.020000000000003`), so clients must round with the currency (§0 "money").
//! - An unknown field in a domain, `fields` or `vals` raises `ValueError: Invalid field`
//!   (`models.py`); `account.move.line.blocked` exists up to 17 and is gone in 18
//!   (odoo/odoo#180593, corrections); accounts have `company_id` up to 17, `company_ids` from
//!   18.
//! - `payment_state` follows `amount_residual` (`not_paid`, `partial`, `in_payment`, `paid`,
//!   `reversed`); receivable lines carry `date_maturity` and `amount_residual` (§1.2, §1.3).
//! - Enterprise `account_followup` and OCA `account_credit_control` as switches: their
//!   models, the partner's `followup_line_id`, and `ir.module.module` rows `installed` (§1.5,
//!   corrections).
//! - `write_date` is the transaction's start: rows written between two clock ticks share it
//!   (§1.2, "re-read a few seconds of overlap"). Whether recomputing `amount_residual` bumps
//!   `write_date` is unknown [mem]: a switch.
//!
//! The clock (the `Date` header, `write_date`) moves only with [`FakeOdoo::tick`].

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The versions the fake can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switches {
    /// Major version: 16, 17, 18 or 19.
    pub version: u32,
    /// Enterprise `account_followup` installed.
    pub followup: bool,
    /// OCA `account_credit_control` installed.
    pub credit_control: bool,
    /// Recomputing `amount_residual` bumps `write_date`.
    pub residual_bumps_write_date: bool,
}

impl Switches {
    /// Community `version`, no optional module.
    pub fn community(version: u32) -> Self {
        Switches {
            version,
            followup: false,
            credit_control: false,
            residual_bumps_write_date: true,
        }
    }
}

/// A fault the next authenticated call gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OdooFault {
    /// An HTTP status with an HTML page (429 adds `Retry-After: 1`).
    Http(u16),
    /// An exception (`odoo.exceptions.UserError`...) with its message.
    Exception(String, String),
    /// JSON-RPC code 100, "Odoo Session Expired".
    SessionExpired,
}

type Rec = Map<String, Value>;

#[derive(Default)]
struct OState {
    sw: Option<Switches>,
    db: String,
    login: String,
    keys: Vec<String>,
    uid: i64,
    models: BTreeMap<String, BTreeMap<i64, Rec>>,
    clock: i64,
    faults: VecDeque<OdooFault>,
    arrivals: Vec<(Instant, String)>,
    delay: Duration,
    calls: Vec<String>,
}

/// The running fake. Dropping it stops it.
pub struct FakeOdoo {
    addr: SocketAddr,
    state: Arc<Mutex<OState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOdoo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Arc<Mutex<OState>>) -> MutexGuard<'_, OState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

const EPOCH: i64 = 1_794_816_000; // 2026-11-16T08:00:00Z

fn odoo_time(clock: i64) -> String {
    chrono::DateTime::from_timestamp(EPOCH + clock, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The field types of a model on a given version (what `fields_get` answers).
fn schema(model: &str, sw: &Switches) -> Vec<(&'static str, &'static str)> {
    let mut f: Vec<(&str, &str)> = match model {
        "res.partner" => vec![
            ("name", "char"),
            ("is_company", "boolean"),
            ("email", "char"),
            ("vat", "char"),
            ("company_registry", "char"),
            ("lang", "selection"),
            ("parent_id", "many2one:res.partner"),
            ("commercial_partner_id", "many2one:res.partner"),
            ("company_id", "many2one:res.company"),
            ("country_code", "char"),
            ("category_id", "many2many:res.partner.category"),
            ("customer_rank", "integer"),
        ],
        "account.move" => vec![
            ("name", "char"),
            ("move_type", "selection"),
            ("state", "selection"),
            ("partner_id", "many2one:res.partner"),
            ("commercial_partner_id", "many2one:res.partner"),
            ("invoice_date", "date"),
            ("invoice_date_due", "date"),
            ("date", "date"),
            ("amount_untaxed", "monetary"),
            ("amount_tax", "monetary"),
            ("amount_total", "monetary"),
            ("amount_residual", "monetary"),
            ("currency_id", "many2one:res.currency"),
            ("payment_state", "selection"),
            ("payment_reference", "char"),
            ("ref", "char"),
            ("company_id", "many2one:res.company"),
            ("journal_id", "many2one:account.journal"),
            ("line_ids", "one2many:account.move.line"),
            ("x_litige", "boolean"),
        ],
        "account.move.line" => vec![
            ("move_id", "many2one:account.move"),
            ("account_type", "selection"),
            ("account_id", "many2one:account.account"),
            ("partner_id", "many2one:res.partner"),
            ("date_maturity", "date"),
            ("amount_currency", "monetary"),
            ("amount_residual", "monetary"),
            ("balance", "monetary"),
            ("debit", "monetary"),
            ("credit", "monetary"),
            ("name", "char"),
            ("reconciled", "boolean"),
        ],
        "res.currency" => vec![
            ("name", "char"),
            ("rounding", "float"),
            ("active", "boolean"),
        ],
        "res.company" => vec![("name", "char"), ("partner_id", "many2one:res.partner")],
        "res.partner.category" => vec![("name", "char")],
        "mail.message" => vec![
            ("model", "char"),
            ("res_id", "integer"),
            ("body", "html"),
            ("message_type", "selection"),
            ("subtype_xmlid", "char"),
        ],
        "mail.activity" => vec![
            ("res_model_id", "many2one:ir.model"),
            ("res_model", "char"),
            ("res_id", "integer"),
            ("summary", "char"),
            ("note", "html"),
            ("date_deadline", "date"),
            ("user_id", "many2one:res.users"),
            ("activity_type_id", "many2one:mail.activity.type"),
            ("active", "boolean"),
        ],
        "ir.model" => vec![("model", "char"), ("name", "char")],
        "ir.model.data" => vec![
            ("module", "char"),
            ("name", "char"),
            ("model", "char"),
            ("res_id", "integer"),
        ],
        "ir.module.module" => vec![("name", "char"), ("state", "selection")],
        "account.journal" => vec![
            ("code", "char"),
            ("name", "char"),
            ("company_id", "many2one:res.company"),
        ],
        "account.account" => vec![("code", "char"), ("name", "char")],
        "account_followup.followup.line" if sw.followup => vec![
            ("name", "char"),
            ("delay", "integer"),
            ("company_id", "many2one:res.company"),
        ],
        "credit.control.policy" if sw.credit_control => vec![("name", "char")],
        "credit.control.policy.level" if sw.credit_control => vec![
            ("policy_id", "many2one:credit.control.policy"),
            ("level", "integer"),
            ("name", "char"),
            ("channel", "selection"),
        ],
        "credit.control.line" if sw.credit_control => vec![
            ("move_line_id", "many2one:account.move.line"),
            ("partner_id", "many2one:res.partner"),
            ("policy_level_id", "many2one:credit.control.policy.level"),
            ("date", "date"),
            ("date_due", "date"),
            ("amount_due", "monetary"),
            ("balance_due", "monetary"),
            ("state", "selection"),
            ("channel", "selection"),
        ],
        _ => Vec::new(),
    };
    if f.is_empty() {
        return f;
    }
    f.push(("id", "integer"));
    f.push(("write_date", "datetime"));
    f.push(("create_date", "datetime"));
    f.push(("display_name", "char"));
    match model {
        // the "No follow-up" flag, gone in 18 (odoo/odoo#180593)
        "account.move.line" if sw.version <= 17 => f.push(("blocked", "boolean")),
        // accounts shared between companies from 18
        "account.account" if sw.version >= 18 => f.push(("company_ids", "many2many:res.company")),
        "account.account" => f.push(("company_id", "many2one:res.company")),
        "res.partner" if sw.followup => f.push((
            "followup_line_id",
            "many2one:account_followup.followup.line",
        )),
        "res.partner" if sw.credit_control => {
            f.push(("credit_policy_id", "many2one:credit.control.policy"))
        }
        _ => {}
    }
    f
}

fn field_type(model: &str, field: &str, sw: &Switches) -> Option<&'static str> {
    schema(model, sw)
        .into_iter()
        .find(|(n, _)| *n == field)
        .map(|(_, t)| t)
}

/// An Odoo exception.
struct Exc {
    name: String,
    message: String,
}

fn exc(name: &str, message: impl Into<String>) -> Exc {
    Exc {
        name: name.to_owned(),
        message: message.into(),
    }
}

fn invalid_field(model: &str, field: &str) -> Exc {
    exc(
        "builtins.ValueError",
        format!("Invalid field {field:?} on model {model:?}"),
    )
}

impl FakeOdoo {
    /// Starts a fake of `sw.version` for database `fake`, login `relance`, API key `key`,
    /// company 1 (EUR) with its partner, the French misc journal `OD`, a few accounts of the
    /// plan comptable, and the modules the switches install.
    pub async fn start(key: &str, sw: Switches) -> std::io::Result<Self> {
        let st = OState {
            sw: Some(sw),
            db: "fake".into(),
            login: "relance".into(),
            keys: vec![key.to_owned()],
            uid: 2,
            ..OState::default()
        };
        let state = Arc::new(Mutex::new(st));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = crate::fakehttp::serve(app).await?;
        let fake = FakeOdoo { addr, state, task };
        {
            let mut s = lock(&fake.state);
            // ids are per table, as in PostgreSQL: company 1, EUR 1, the company's partner 1
            let company = s.insert(
                "res.company",
                json!({"name": "ACME SAS", "partner_id": false}),
            );
            s.insert(
                "res.currency",
                json!({"name": "EUR", "rounding": 0.01, "active": true}),
            );
            s.insert(
                "res.currency",
                json!({"name": "USD", "rounding": 0.01, "active": true}),
            );
            let p = s.insert("res.partner", json!({"name": "ACME SAS", "is_company": true, "parent_id": false, "company_id": false}));
            if let Some(c) = s
                .models
                .get_mut("res.company")
                .and_then(|m| m.get_mut(&company))
            {
                c.insert("partner_id".into(), json!(p));
            }
            s.insert(
                "account.journal",
                json!({"code": "OD", "name": "Opérations diverses", "company_id": 1}),
            );
            for (code, name) in [
                ("411100", "Clients"),
                ("416000", "Clients douteux"),
                ("491000", "Dépréciations des comptes clients"),
                ("681740", "Dotations aux dépréciations des créances"),
                ("781740", "Reprises sur dépréciations des créances"),
                ("654000", "Pertes sur créances irrécouvrables"),
            ] {
                let company = if sw.version >= 18 {
                    json!([1])
                } else {
                    json!(1)
                };
                let key = if sw.version >= 18 {
                    "company_ids"
                } else {
                    "company_id"
                };
                s.insert(
                    "account.account",
                    json!({"code": code, "name": name, key: company}),
                );
            }
            s.insert(
                "ir.model",
                json!({"model": "account.move", "name": "Journal Entry"}),
            );
            let todo = s.insert("mail.activity.type", json!({"name": "À faire"}));
            s.insert("ir.model.data", json!({"module": "mail", "name": "mail_activity_data_todo", "model": "mail.activity.type", "res_id": todo}));
            for (name, on) in [
                ("account", true),
                ("account_followup", sw.followup),
                ("account_credit_control", sw.credit_control),
            ] {
                s.insert(
                    "ir.module.module",
                    json!({"name": name, "state": if on { "installed" } else { "uninstalled" }}),
                );
            }
            if sw.followup {
                for (n, d) in [
                    ("Premier rappel", 15),
                    ("Deuxième rappel", 30),
                    ("Mise en demeure", 45),
                    ("Contentieux", 60),
                ] {
                    s.insert(
                        "account_followup.followup.line",
                        json!({"name": n, "delay": d, "company_id": 1}),
                    );
                }
            }
            if sw.credit_control {
                let pol = s.insert(
                    "credit.control.policy",
                    json!({"name": "Relances standard"}),
                );
                for (lvl, n, ch) in [
                    (1, "Rappel", "email"),
                    (2, "Relance", "letter"),
                    (3, "Mise en demeure", "letter"),
                    (4, "Contentieux", "letter"),
                ] {
                    s.insert(
                        "credit.control.policy.level",
                        json!({"policy_id": pol, "level": lvl, "name": n, "channel": ch}),
                    );
                }
            }
        }
        Ok(fake)
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces every API key by `new`.
    pub fn rotate_key(&self, new: &str) {
        lock(&self.state).keys = vec![new.to_owned()];
    }

    /// The next authenticated call gets `f`.
    pub fn fail_next(&self, f: OdooFault) {
        lock(&self.state).faults.push_back(f);
    }

    /// Delays every answer.
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).delay = d;
    }

    /// Moves the clock.
    pub fn tick(&self, secs: i64) {
        lock(&self.state).clock += secs;
    }

    /// When each request arrived and what it called.
    pub fn arrivals(&self) -> Vec<(Instant, String)> {
        lock(&self.state).arrivals.clone()
    }

    /// Every model method called (`model.method`), in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// The records of a model (raw: many2one as ids).
    pub fn records(&self, model: &str) -> Vec<Value> {
        lock(&self.state)
            .models
            .get(model)
            .map(|m| m.values().map(|r| Value::Object(r.clone())).collect())
            .unwrap_or_default()
    }

    /// Adds a record (stamped with the clock); returns its id.
    pub fn insert(&self, model: &str, vals: Value) -> i64 {
        lock(&self.state).insert(model, vals)
    }

    /// Changes fields of a record (bumps its `write_date`).
    pub fn write(&self, model: &str, id: i64, vals: Value) {
        let mut s = lock(&self.state);
        let clock = s.clock;
        if let (Some(r), Value::Object(v)) =
            (s.models.get_mut(model).and_then(|m| m.get_mut(&id)), vals)
        {
            for (k, x) in v {
                r.insert(k, x);
            }
            r.insert("write_date".into(), json!(odoo_time(clock)));
        }
    }

    /// Adds a second company (a multi-company database); returns its id.
    pub fn add_company(&self, name: &str) -> i64 {
        let mut s = lock(&self.state);
        let p = s.insert(
            "res.partner",
            json!({"name": name, "is_company": true, "parent_id": false, "company_id": false}),
        );
        s.insert("res.company", json!({"name": name, "partner_id": p}))
    }

    /// Adds a customer of `company`; returns its id.
    pub fn add_partner(&self, name: &str, registry: Option<&str>, company: Option<i64>) -> i64 {
        let mut s = lock(&self.state);
        let id = s.insert(
            "res.partner",
            json!({"name": name, "is_company": true, "parent_id": false,
            "company_registry": registry.map(Value::from).unwrap_or(json!(false)),
            "email": format!("compta@{}.example", name.to_lowercase().replace(' ', "-")),
            "vat": false, "lang": "fr_FR", "country_code": "FR", "customer_rank": 1,
            "company_id": company.map(Value::from).unwrap_or(json!(false)), "category_id": []}),
        );
        if let Some(r) = s.models.get_mut("res.partner").and_then(|m| m.get_mut(&id)) {
            r.insert("commercial_partner_id".into(), json!(id));
        }
        id
    }

    /// Adds a posted customer invoice (or credit note) of `net` + 20 % VAT in company
    /// `company`, due in `instalments` equal parts a month apart; returns its id.
    #[allow(clippy::too_many_arguments)] // a fixture: an invoice's fields, named at each call
    pub fn add_invoice(
        &self,
        partner: i64,
        number: &str,
        date: &str,
        net: f64,
        refund: bool,
        instalments: usize,
        company: i64,
    ) -> i64 {
        let mut s = lock(&self.state);
        // binary floating point, as the ORM computes it
        let tax = net * 0.2;
        let total = net + tax;
        let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap_or_default();
        let n = instalments.max(1);
        let mut dues = Vec::new();
        for i in 0..n {
            dues.push(d + chrono::Duration::days(30 * (i as i64 + 1)));
        }
        let mv = s.insert("account.move", json!({"name": number,
            "move_type": if refund { "out_refund" } else { "out_invoice" }, "state": "posted",
            "partner_id": partner, "commercial_partner_id": partner, "invoice_date": date,
            "invoice_date_due": dues.last().map(|x| x.to_string()), "date": date,
            "amount_untaxed": net, "amount_tax": tax, "amount_total": total, "amount_residual": total,
            "currency_id": 1, "payment_state": "not_paid", "payment_reference": number, "ref": false,
            "company_id": company, "journal_id": false, "x_litige": false}));
        let part = total / n as f64;
        for due in dues {
            let mut line = json!({"move_id": mv, "account_type": "asset_receivable", "partner_id": partner,
                "date_maturity": due.to_string(), "amount_currency": if refund { -part } else { part },
                "amount_residual": if refund { -part } else { part }, "balance": if refund { -part } else { part },
                "debit": if refund { 0.0 } else { part }, "credit": if refund { part } else { 0.0 },
                "name": number, "reconciled": false, "account_id": 1});
            if s.sw.is_some_and(|sw| sw.version <= 17) {
                line["blocked"] = json!(false);
            }
            s.insert("account.move.line", line);
        }
        mv
    }

    /// Records a payment of `amount` on an invoice: residual, payment state (`in_payment`
    /// when `unreconciled_bank`), receivable lines; `write_date` bumped unless the switch
    /// says the recomputation does not.
    pub fn pay(&self, invoice: i64, amount: f64, unreconciled_bank: bool) {
        let mut s = lock(&self.state);
        let bump = s.sw.is_none_or(|sw| sw.residual_bumps_write_date);
        let clock = s.clock;
        let Some(m) = s
            .models
            .get_mut("account.move")
            .and_then(|m| m.get_mut(&invoice))
        else {
            return;
        };
        let residual = (m["amount_residual"].as_f64().unwrap_or(0.0) - amount).max(0.0);
        m.insert("amount_residual".into(), json!(residual));
        let state = if residual < 0.005 {
            if unreconciled_bank {
                "in_payment"
            } else {
                "paid"
            }
        } else {
            "partial"
        };
        m.insert("payment_state".into(), json!(state));
        if bump {
            m.insert("write_date".into(), json!(odoo_time(clock)));
        }
        let mut left = amount;
        if let Some(lines) = s.models.get_mut("account.move.line") {
            for l in lines
                .values_mut()
                .filter(|l| l["move_id"] == json!(invoice))
            {
                let r = l["amount_residual"].as_f64().unwrap_or(0.0);
                let used = r.min(left);
                left -= used;
                l.insert("amount_residual".into(), json!(r - used));
                if r - used < 0.005 {
                    l.insert("reconciled".into(), json!(true));
                }
            }
        }
    }

    /// `customers` partners and `invoices` invoices of 100.10 + VAT each (the VAT a binary
    /// float), every fifth in two instalments, in company 1.
    pub fn seed(&self, customers: usize, invoices: usize) -> Vec<i64> {
        let ps: Vec<i64> = (0..customers.max(1))
            .map(|i| {
                self.add_partner(
                    &format!("Client {i:03}"),
                    Some("732 829 320 00074"),
                    Some(1),
                )
            })
            .collect();
        let mut out = Vec::new();
        for i in 0..invoices {
            if i % 7 == 6 {
                self.tick(1);
            }
            let day = 1 + (i % 28);
            out.push(self.add_invoice(
                ps[i % ps.len()],
                &format!("INV/2026/{:05}", i + 1),
                &format!("2026-09-{day:02}"),
                100.10,
                false,
                if i % 5 == 4 { 2 } else { 1 },
                1,
            ));
        }
        out
    }
}

impl OState {
    fn sw(&self) -> Switches {
        self.sw.unwrap_or(Switches::community(17))
    }

    fn insert(&mut self, model: &str, vals: Value) -> i64 {
        let id = self
            .models
            .get(model)
            .and_then(|m| m.keys().next_back())
            .copied()
            .unwrap_or(0)
            + 1;
        let mut r = match vals {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        r.insert("id".into(), json!(id));
        r.insert("write_date".into(), json!(odoo_time(self.clock)));
        r.insert("create_date".into(), json!(odoo_time(self.clock)));
        self.models
            .entry(model.to_owned())
            .or_default()
            .insert(id, r);
        id
    }

    fn display(&self, model: &str, id: i64) -> Value {
        let Some(r) = self.models.get(model).and_then(|m| m.get(&id)) else {
            return json!(format!("{model},{id}"));
        };
        r.get("name")
            .cloned()
            .filter(|n| n.is_string())
            .unwrap_or(json!(format!("{model},{id}")))
    }

    /// A field as `read` shows it: `false` for empty, `[id, name]` for many2one, ids for
    /// x2many.
    fn shown(&self, model: &str, r: &Rec, field: &str) -> Value {
        let sw = self.sw();
        let v = r.get(field).cloned().unwrap_or(Value::Null);
        match field_type(model, field, &sw) {
            Some(t) if t.starts_with("many2one:") => match v.as_i64() {
                Some(id) => json!([id, self.display(&t[9..], id)]),
                None => json!(false),
            },
            Some(t) if t.starts_with("one2many:") || t.starts_with("many2many:") => {
                if field == "line_ids" {
                    let id = r.get("id").cloned().unwrap_or(Value::Null);
                    let ids: Vec<Value> = self
                        .models
                        .get("account.move.line")
                        .map(|m| {
                            m.values()
                                .filter(|l| l.get("move_id") == Some(&id))
                                .map(|l| l["id"].clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    return Value::Array(ids);
                }
                if v.is_array() {
                    v
                } else {
                    json!([])
                }
            }
            Some("integer") | Some("float") | Some("monetary") => {
                if v.is_null() {
                    json!(0)
                } else {
                    v
                }
            }
            Some(_) if field == "display_name" => {
                self.display(model, r["id"].as_i64().unwrap_or(0))
            }
            Some(_) => {
                if v.is_null() {
                    json!(false)
                } else {
                    v
                }
            }
            None => json!(false),
        }
    }

    fn check_field(&self, model: &str, field: &str) -> Result<(), Exc> {
        if field_type(model, field, &self.sw()).is_some() {
            Ok(())
        } else {
            Err(invalid_field(model, field))
        }
    }

    fn select(&self, model: &str, domain: &Value) -> Result<Vec<&Rec>, Exc> {
        let recs = self.models.get(model);
        let mut out = Vec::new();
        if let Some(m) = recs {
            for r in m.values() {
                if self.eval(model, r, domain)? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// A domain in Polish notation (`'&'`, `'|'`, `'!'`; implicit AND).
    fn eval(&self, model: &str, r: &Rec, domain: &Value) -> Result<bool, Exc> {
        let items = domain.as_array().cloned().unwrap_or_default();
        let mut stack: Vec<bool> = Vec::new();
        for item in items.iter().rev() {
            match item.as_str() {
                Some("&") => {
                    let (a, b) = (stack.pop().unwrap_or(true), stack.pop().unwrap_or(true));
                    stack.push(a && b);
                }
                Some("|") => {
                    let (a, b) = (stack.pop().unwrap_or(false), stack.pop().unwrap_or(false));
                    stack.push(a || b);
                }
                Some("!") => {
                    let a = stack.pop().unwrap_or(true);
                    stack.push(!a);
                }
                _ => stack.push(self.leaf(model, r, item)?),
            }
        }
        Ok(stack.into_iter().all(|b| b))
    }

    fn leaf(&self, model: &str, r: &Rec, leaf: &Value) -> Result<bool, Exc> {
        let l = leaf
            .as_array()
            .ok_or_else(|| exc("builtins.ValueError", format!("Invalid leaf {leaf}")))?;
        let field = l.first().and_then(Value::as_str).unwrap_or("");
        let op = l.get(1).and_then(Value::as_str).unwrap_or("");
        let want = l.get(2).cloned().unwrap_or(Value::Null);
        self.check_field(model, field)?;
        let raw = r.get(field).cloned().unwrap_or(Value::Bool(false));
        let have = if raw.is_null() {
            Value::Bool(false)
        } else {
            raw
        };
        let num = |v: &Value| v.as_f64();
        let cmp = |a: &Value, b: &Value| -> Option<std::cmp::Ordering> {
            match (a, b) {
                (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
                _ => num(a)?.partial_cmp(&num(b)?),
            }
        };
        use std::cmp::Ordering::*;
        let like = |pat: &str, text: &str, ci: bool| -> bool {
            let (p, t) = if ci {
                (pat.to_lowercase(), text.to_lowercase())
            } else {
                (pat.to_owned(), text.to_owned())
            };
            like_match(&p, &t)
        };
        Ok(match op {
            "=" => {
                have == want
                    || (want == Value::Bool(false) && (have.is_null() || have == json!([])))
            }
            "!=" => have != want,
            ">" => cmp(&have, &want) == Some(Greater),
            "<" => cmp(&have, &want) == Some(Less),
            ">=" => matches!(cmp(&have, &want), Some(Greater | Equal)),
            "<=" => matches!(cmp(&have, &want), Some(Less | Equal)),
            "in" | "not in" => {
                let list = want.as_array().cloned().unwrap_or_default();
                let hit = match &have {
                    Value::Array(hs) => hs.iter().any(|h| list.contains(h)),
                    h => list.contains(h),
                };
                if op == "in" {
                    hit
                } else {
                    !hit
                }
            }
            "ilike" | "like" | "=like" | "=ilike" => {
                let text = have.as_str().unwrap_or("");
                let pat = want.as_str().unwrap_or("");
                let pat = if op.starts_with('=') {
                    pat.to_owned()
                } else {
                    format!("%{pat}%")
                };
                like(&pat, text, op.contains('i'))
            }
            other => {
                return Err(exc(
                    "builtins.ValueError",
                    format!("Invalid operator {other:?}"),
                ))
            }
        })
    }
}

/// SQL LIKE: `%` any run, `_` any one character.
fn like_match(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

fn html(status: u16) -> (u16, Vec<(String, String)>, String) {
    let mut h = vec![("content-type".into(), "text/html".into())];
    if status == 429 {
        h.push(("retry-after".into(), "1".into()));
    }
    (
        status,
        h,
        format!("<html><body><h1>{status}</h1></body></html>"),
    )
}

fn json_answer(status: u16, v: Value) -> (u16, Vec<(String, String)>, String) {
    (
        status,
        vec![("content-type".into(), "application/json".into())],
        v.to_string(),
    )
}

async fn handle(
    State(st): State<Arc<Mutex<OState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = lock(&st).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut s = lock(&st);
    let answer = route(&mut s, &method, &uri, &headers, &body);
    crate::fakehttp::respond(answer, EPOCH + s.clock)
}

fn rpc_error(s: &OState, id: &Value, e: &Exc) -> (u16, Vec<(String, String)>, String) {
    // HTTP 200 with an error body; code 200 up to 16, 0 after (http.py serialize_exception)
    let code = if s.sw().version <= 16 { 200 } else { 0 };
    json_answer(
        200,
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": "Odoo Server Error",
        "data": {"name": e.name, "debug": format!("Traceback (most recent call last):\n  ...\n{}: {}", e.name, e.message),
                 "message": e.message, "arguments": [e.message], "context": {}}}}),
    )
}

fn route(
    s: &mut OState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let path = uri.path().to_owned();
    let sw = s.sw();
    if *method == Method::GET && path == "/web/version" {
        if sw.version < 19 {
            return html(404);
        }
        return json_answer(
            200,
            json!({"version_info": [sw.version, 0, 0, "final", 0, ""], "version": format!("{}.0", sw.version)}),
        );
    }
    if *method != Method::POST {
        return html(405);
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return html(400);
    };
    if path == "/jsonrpc" {
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let p = &req["params"];
        let service = p["service"].as_str().unwrap_or("");
        let m = p["method"].as_str().unwrap_or("");
        let args = p["args"].as_array().cloned().unwrap_or_default();
        s.arrivals.push((Instant::now(), format!("{service}.{m}")));
        match (service, m) {
            ("common", "version") => {
                return json_answer(
                    200,
                    json!({"jsonrpc": "2.0", "id": id, "result": {"server_version": format!("{}.0", sw.version),
                    "server_version_info": [sw.version, 0, 0, "final", 0, ""], "server_serie": format!("{}.0", sw.version), "protocol_version": 1}}),
                );
            }
            ("common", "authenticate") => {
                let ok = args.first().and_then(Value::as_str) == Some(s.db.as_str())
                    && args.get(1).and_then(Value::as_str) == Some(s.login.as_str())
                    && args
                        .get(2)
                        .and_then(Value::as_str)
                        .is_some_and(|k| s.keys.iter().any(|x| x == k));
                // authenticate answers `false`, not an error, for wrong credentials
                let r = if ok { json!(s.uid) } else { json!(false) };
                return json_answer(200, json!({"jsonrpc": "2.0", "id": id, "result": r}));
            }
            ("object", "execute_kw") => {
                if args.first().and_then(Value::as_str) != Some(s.db.as_str()) {
                    let e = exc(
                        "psycopg2.OperationalError",
                        format!(
                            "FATAL:  database {:?} does not exist",
                            args.first().and_then(Value::as_str).unwrap_or("")
                        ),
                    );
                    return rpc_error(s, &id, &e);
                }
                let key_ok = args
                    .get(2)
                    .and_then(Value::as_str)
                    .is_some_and(|k| s.keys.iter().any(|x| x == k));
                if !key_ok || args.get(1).and_then(Value::as_i64) != Some(s.uid) {
                    return rpc_error(
                        s,
                        &id,
                        &exc("odoo.exceptions.AccessDenied", "Access Denied"),
                    );
                }
                if let Some(f) = s.faults.pop_front() {
                    return match f {
                        OdooFault::Http(code) => html(code),
                        OdooFault::Exception(name, msg) => rpc_error(s, &id, &exc(&name, msg)),
                        OdooFault::SessionExpired => json_answer(
                            200,
                            json!({"jsonrpc": "2.0", "id": id, "error": {"code": 100,
                            "message": "Odoo Session Expired", "data": {"name": "odoo.http.SessionExpiredException",
                            "message": "Session expired", "arguments": ["Session expired"], "context": {}}}}),
                        ),
                    };
                }
                let model = args.get(3).and_then(Value::as_str).unwrap_or("").to_owned();
                let meth = args.get(4).and_then(Value::as_str).unwrap_or("").to_owned();
                let pos = args
                    .get(5)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let kwargs = args
                    .get(6)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let ids: Option<Vec<i64>> = pos
                    .first()
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_i64).collect());
                return match execute(s, &model, &meth, ids, kwargs) {
                    Ok(r) => json_answer(200, json!({"jsonrpc": "2.0", "id": id, "result": r})),
                    Err(e) => rpc_error(s, &id, &e),
                };
            }
            _ => {
                return rpc_error(
                    s,
                    &id,
                    &exc(
                        "builtins.NameError",
                        format!("{service}.{m} does not exist"),
                    ),
                )
            }
        }
    }
    if let Some(rest) = path.strip_prefix("/json/2/") {
        if sw.version < 19 {
            return html(404);
        }
        s.arrivals.push((Instant::now(), rest.to_owned()));
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !key.is_some_and(|k| s.keys.iter().any(|x| x == k)) {
            return json_answer(401, json!("Invalid apikey"));
        }
        if headers
            .get("x-odoo-database")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|d| d != s.db)
        {
            return html(404);
        }
        if let Some(f) = s.faults.pop_front() {
            return match f {
                OdooFault::Http(code) => html(code),
                OdooFault::Exception(_, msg) => json_answer(422, json!(msg)),
                OdooFault::SessionExpired => json_answer(401, json!("Invalid apikey")),
            };
        }
        let Some((model, meth)) = rest.split_once('/') else {
            return html(404);
        };
        let mut kwargs = req.as_object().cloned().unwrap_or_default();
        let ids = kwargs.remove("ids").and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
        });
        return match execute(s, model, meth, ids, kwargs) {
            Ok(r) => json_answer(200, r),
            Err(e) if e.name.ends_with("AccessError") => json_answer(403, json!(e.message)),
            Err(e) if e.name.ends_with("MissingError") => json_answer(404, json!(e.message)),
            Err(e) => json_answer(422, json!(e.message)),
        };
    }
    html(404)
}

fn execute(
    s: &mut OState,
    model: &str,
    meth: &str,
    ids: Option<Vec<i64>>,
    mut kw: Map<String, Value>,
) -> Result<Value, Exc> {
    s.calls.push(format!("{model}.{meth}"));
    kw.remove("context");
    let sw = s.sw();
    if schema(model, &sw).is_empty() && !matches!(model, "mail.activity.type") {
        return Err(exc("builtins.KeyError", format!("'{model}'")));
    }
    match meth {
        "search_read" | "search_count" | "search" => {
            let domain = kw.remove("domain").unwrap_or(json!([]));
            let rows = s.select(model, &domain)?;
            if meth == "search_count" {
                return Ok(json!(rows.len()));
            }
            let mut rows: Vec<&Rec> = rows;
            let order = kw
                .get("order")
                .and_then(Value::as_str)
                .unwrap_or("id asc")
                .to_owned();
            let keys: Vec<(String, bool)> = order
                .split(',')
                .map(|k| {
                    let mut p = k.split_whitespace();
                    (
                        p.next().unwrap_or("id").to_owned(),
                        p.next().is_some_and(|d| d.eq_ignore_ascii_case("desc")),
                    )
                })
                .collect();
            for (k, _) in &keys {
                s.check_field(model, k)?;
            }
            rows.sort_by(|a, b| {
                for (k, desc) in &keys {
                    let (x, y) = (
                        a.get(k).cloned().unwrap_or(Value::Null),
                        b.get(k).cloned().unwrap_or(Value::Null),
                    );
                    let o = match (&x, &y) {
                        (Value::String(p), Value::String(q)) => p.cmp(q),
                        _ => x
                            .as_f64()
                            .unwrap_or(0.0)
                            .partial_cmp(&y.as_f64().unwrap_or(0.0))
                            .unwrap_or(std::cmp::Ordering::Equal),
                    };
                    let o = if *desc { o.reverse() } else { o };
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
            let offset = kw.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
            let limit = kw
                .get("limit")
                .and_then(Value::as_u64)
                .map(|l| l as usize)
                .unwrap_or(usize::MAX);
            let page: Vec<&Rec> = rows.into_iter().skip(offset).take(limit).collect();
            if meth == "search" {
                return Ok(Value::Array(page.iter().map(|r| r["id"].clone()).collect()));
            }
            let fields: Vec<String> = kw
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            for f in &fields {
                s.check_field(model, f)?;
            }
            Ok(Value::Array(
                page.into_iter()
                    .map(|r| project(s, model, r, &fields))
                    .collect(),
            ))
        }
        "read" => {
            let ids = ids.unwrap_or_default();
            let fields: Vec<String> = kw
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut out = Vec::new();
            for id in ids {
                let r = s.models.get(model).and_then(|m| m.get(&id)).cloned()
                    .ok_or_else(|| exc("odoo.exceptions.MissingError", format!("Record does not exist or has been deleted. (Record: {model}({id},))")))?;
                out.push(project(s, model, &r, &fields));
            }
            Ok(Value::Array(out))
        }
        "fields_get" => {
            let mut o = Map::new();
            for (f, t) in schema(model, &sw) {
                o.insert(
                    f.to_owned(),
                    json!({"type": t.split(':').next().unwrap_or(t)}),
                );
            }
            Ok(Value::Object(o))
        }
        "create" => {
            let list = match kw.remove("vals_list") {
                Some(Value::Array(a)) => a,
                Some(Value::Object(o)) => vec![Value::Object(o)],
                _ => return Err(exc("builtins.TypeError", "create() missing 'vals_list'")),
            };
            let mut out = Vec::new();
            for vals in list {
                out.push(create(s, model, vals)?);
            }
            Ok(json!(out))
        }
        "write" => {
            let ids = ids.unwrap_or_default();
            let vals = kw
                .remove("vals")
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            for k in vals.keys() {
                s.check_field(model, k)?;
            }
            let clock = s.clock;
            for id in ids {
                let Some(r) = s.models.get_mut(model).and_then(|m| m.get_mut(&id)) else {
                    return Err(exc(
                        "odoo.exceptions.MissingError",
                        format!(
                            "Record does not exist or has been deleted. (Record: {model}({id},))"
                        ),
                    ));
                };
                for (k, v) in &vals {
                    if k == "category_id" {
                        let mut cur: Vec<Value> = r
                            .get(k)
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        for c in v.as_array().cloned().unwrap_or_default() {
                            let c = c.as_array().cloned().unwrap_or_default();
                            match c.first().and_then(Value::as_i64) {
                                Some(4) => {
                                    if let Some(x) = c.get(1) {
                                        if !cur.contains(x) {
                                            cur.push(x.clone());
                                        }
                                    }
                                }
                                Some(3) => {
                                    if let Some(x) = c.get(1) {
                                        cur.retain(|y| y != x);
                                    }
                                }
                                Some(6) => {
                                    cur = c
                                        .get(2)
                                        .and_then(Value::as_array)
                                        .cloned()
                                        .unwrap_or_default();
                                }
                                _ => return Err(exc("builtins.ValueError", "bad x2many command")),
                            }
                        }
                        r.insert(k.clone(), Value::Array(cur));
                    } else {
                        r.insert(k.clone(), v.clone());
                    }
                }
                r.insert("write_date".into(), json!(odoo_time(clock)));
            }
            Ok(json!(true))
        }
        "message_post" => {
            let ids = ids.unwrap_or_default();
            let Some(id) = ids
                .first()
                .copied()
                .filter(|i| s.models.get(model).is_some_and(|m| m.contains_key(i)))
            else {
                return Err(exc(
                    "odoo.exceptions.MissingError",
                    "Record does not exist or has been deleted.",
                ));
            };
            let mid = s.insert("mail.message", json!({"model": model, "res_id": id, "body": kw.get("body").cloned().unwrap_or(json!("")),
                "message_type": kw.get("message_type").cloned().unwrap_or(json!("comment")),
                "subtype_xmlid": kw.get("subtype_xmlid").cloned().unwrap_or(json!(false))}));
            Ok(json!(mid))
        }
        "action_post" if model == "account.move" => {
            for id in ids.unwrap_or_default() {
                let lines: Vec<Rec> = s
                    .models
                    .get("account.move.line")
                    .map(|m| {
                        m.values()
                            .filter(|l| l["move_id"] == json!(id))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let d: f64 = lines
                    .iter()
                    .map(|l| l["debit"].as_f64().unwrap_or(0.0))
                    .sum();
                let c: f64 = lines
                    .iter()
                    .map(|l| l["credit"].as_f64().unwrap_or(0.0))
                    .sum();
                if (d - c).abs() > 0.005 || lines.is_empty() {
                    return Err(exc(
                        "odoo.exceptions.UserError",
                        "The entry is not balanced.",
                    ));
                }
                let clock = s.clock;
                if let Some(m) = s
                    .models
                    .get_mut("account.move")
                    .and_then(|m| m.get_mut(&id))
                {
                    if m["state"] == json!("posted") {
                        return Err(exc(
                            "odoo.exceptions.UserError",
                            "The entry is already posted.",
                        ));
                    }
                    m.insert("state".into(), json!("posted"));
                    m.insert("write_date".into(), json!(odoo_time(clock)));
                }
            }
            Ok(json!(false))
        }
        other => Err(exc(
            "builtins.AttributeError",
            format!("The method '{other}' does not exist on the model '{model}'"),
        )),
    }
}

fn create(s: &mut OState, model: &str, vals: Value) -> Result<i64, Exc> {
    let mut vals = vals.as_object().cloned().unwrap_or_default();
    let lines = vals.remove("line_ids");
    for k in vals.keys() {
        s.check_field(model, k)?;
    }
    if model == "mail.activity" {
        vals.insert("res_model".into(), json!("account.move"));
        vals.entry("active").or_insert(json!(true));
    }
    if model == "account.move" {
        vals.entry("state").or_insert(json!("draft"));
        vals.entry("name").or_insert(json!("/"));
    }
    let id = s.insert(model, Value::Object(vals));
    if let Some(Value::Array(cmds)) = lines {
        for c in cmds {
            let Some(line) = c.as_array().and_then(|a| a.get(2)).cloned() else {
                return Err(exc("builtins.ValueError", "bad one2many command"));
            };
            let mut line = line.as_object().cloned().unwrap_or_default();
            line.insert("move_id".into(), json!(id));
            for k in line.keys() {
                s.check_field("account.move.line", k)?;
            }
            s.insert("account.move.line", Value::Object(line));
        }
    }
    Ok(id)
}

fn project(s: &OState, model: &str, r: &Rec, fields: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), r["id"].clone());
    let all: Vec<String> = if fields.is_empty() {
        schema(model, &s.sw())
            .iter()
            .map(|(f, _)| (*f).to_owned())
            .collect()
    } else {
        fields.to_vec()
    };
    for f in all {
        m.insert(f.clone(), s.shown(model, r, &f));
    }
    Value::Object(m)
}
