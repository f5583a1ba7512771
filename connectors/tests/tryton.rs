//! Tryton connector tests: the shared compliance suite against a fake JSON-RPC server (always)
//! and, when `RELANCE_TRYTON_URL` is set (see `tests/tryton/server.sh env`), against the real
//! seeded Tryton 8.2 server: full pull cross-checked with direct counts and sums, incremental
//! pull after server-side changes, each write-back command applied once and retried.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_connectors::contract::{
    Cursor, IdempotencyKey, MoveLine, Record, RemoteRef, Source, WriteBack, WriteCommand,
};
use relance_connectors::systems::tryton::pull::{customer_domain, invoice_domain, receipt_domain};
use relance_connectors::systems::tryton::value as tv;
use relance_connectors::systems::tryton::{TrytonConfig, TrytonConnector};
use relance_connectors::ConnectorError;
use relance_testkit::compliance::{self, Fault, SourceHarness, WriteBackHarness};
use relance_testkit::tryton_fake::{FakeFault, FakeTryton};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;

const FAKE_PASSWORD: &str = "fake-Pa55word-never-shown";

fn password_file(pw: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{pw}").unwrap();
    f
}

fn record_ids(records: &[Record]) -> Vec<String> {
    compliance::ids_of(records)
}

/// Drains every page from `from`; returns the records and the final cursor.
async fn drain(c: &mut TrytonConnector, from: Option<Cursor>) -> (Vec<Record>, Cursor) {
    let mut cursor = from;
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = c.pull(cursor.as_ref()).await.unwrap();
        all.extend(page.records);
        cursor = page.next;
        if !page.has_more {
            return (all, cursor.unwrap());
        }
    }
    panic!("pull never ended");
}

// ------------------------------------------------------------------------------- fake server

struct FakeHarness {
    fake: FakeTryton,
    good: tempfile::NamedTempFile,
    bad: tempfile::NamedTempFile,
    page: u32,
}

impl FakeHarness {
    async fn new() -> Self {
        let fake = FakeTryton::start(FAKE_PASSWORD).await.unwrap();
        fake.seed(7, 23);
        Self {
            fake,
            good: password_file(FAKE_PASSWORD),
            bad: password_file("wrong-password"),
            page: 5,
        }
    }
    fn config(&self, pw: &tempfile::NamedTempFile) -> TrytonConfig {
        let mut cfg = TrytonConfig::new(self.fake.url(), "fake", "admin", pw.path());
        cfg.page_size = self.page;
        cfg.overlap_seconds = 0;
        cfg.requests_per_second = 0;
        cfg
    }
    fn first_invoice(&self) -> i64 {
        self.fake.records("account.invoice")[0]["id"]
            .as_i64()
            .unwrap()
    }
}

impl FakeHarness {
    fn fault(&self, fault: Fault) -> bool {
        match fault {
            Fault::SessionExpired => self.fake.expire_sessions(),
            Fault::ServerError => self.fake.fail_next(FakeFault::Http(503)),
            Fault::RateLimited => self.fake.fail_next(FakeFault::RateLimited(1)),
            Fault::BusinessRule => self.fake.fail_next(FakeFault::UserError(
                "Line can be used only once on dunning.".into(),
            )),
        }
        true
    }
}

impl SourceHarness for FakeHarness {
    type Source = TrytonConnector;
    async fn source(&self) -> Result<TrytonConnector, ConnectorError> {
        TrytonConnector::new(self.config(&self.good))
    }
    async fn source_with_bad_credentials(&self) -> Option<Result<TrytonConnector, ConnectorError>> {
        Some(TrytonConnector::new(self.config(&self.bad)))
    }
    fn secrets(&self) -> Vec<String> {
        vec![FAKE_PASSWORD.to_owned(), "fake-session-0001".to_owned()]
    }
    fn max_page(&self) -> usize {
        self.page as usize
    }
    fn min_records(&self) -> usize {
        7 + 23
    }
    fn inject(&self, fault: Fault) -> bool {
        self.fault(fault)
    }
}

impl WriteBackHarness for FakeHarness {
    type Target = TrytonConnector;
    async fn target(&self) -> Result<TrytonConnector, ConnectorError> {
        TrytonConnector::new(self.config(&self.good))
    }
    async fn target_with_bad_credentials(&self) -> Option<Result<TrytonConnector, ConnectorError>> {
        Some(TrytonConnector::new(self.config(&self.bad)))
    }
    fn secrets(&self) -> Vec<String> {
        vec![FAKE_PASSWORD.to_owned(), "fake-session-0001".to_owned()]
    }
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)> {
        let inv = self.first_invoice().to_string();
        vec![(
            IdempotencyKey::derive("fake", "note", &[&inv, "1"]),
            WriteCommand::AddNote {
                target_kind: "invoice".into(),
                target: inv,
                text: "Relance 1 envoyée".into(),
            },
        )]
    }
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
        None
    }
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
        Ok(self
            .fake
            .records("ir.note")
            .iter()
            .filter(|n| n["message"].as_str().unwrap_or("").contains(key.as_str()))
            .count())
    }
    fn inject(&self, fault: Fault) -> bool {
        self.fault(fault)
    }
}

#[tokio::test]
async fn compliance_suite_against_the_fake_server() {
    let h = FakeHarness::new().await;
    let report = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("compliance: {e}"));
    eprintln!("fake Tryton compliance:\n{report}");
    assert!(report.skipped.is_empty());
    // the password went over the wire only in login bodies
    let bodies = h.fake.bodies();
    assert!(bodies
        .iter()
        .filter(|b| b.contains(FAKE_PASSWORD))
        .all(|b| b.contains("common.db.login")));
}

#[tokio::test]
async fn fake_incremental_pull_sees_exactly_the_changes() {
    let h = FakeHarness::new().await;
    let mut c = h.source().await.unwrap();
    let (all, cursor) = drain(&mut c, None).await;
    assert_eq!(all.len(), 30);
    let (none, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(
        none.is_empty(),
        "quiet source re-read {:?}",
        record_ids(&none)
    );
    let inv = h.first_invoice();
    h.fake.write(
        "account.invoice",
        inv,
        json!({"state": "paid", "amount_to_pay": {"__class__": "Decimal", "decimal": "0"}}),
    );
    let party = h.fake.insert(
        "party.party",
        json!({"name": "Nouveau client", "lang.": {"code": "en"}}),
    );
    let (changed, _) = drain(&mut c, Some(cursor)).await;
    assert_eq!(
        record_ids(&changed),
        vec![format!("customer:{party}"), format!("invoice:{inv}")]
    );
    match &changed[1] {
        Record::Invoice(i) => assert_eq!(
            (i.status, i.amount_due),
            (relance_core::InvoiceStatus::Paid, Decimal::ZERO)
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn fake_overlap_window_rereads_only_recent_rows() {
    let h = FakeHarness::new().await;
    let mut cfg = h.config(&h.good);
    cfg.overlap_seconds = 5;
    let mut c = TrytonConnector::new(cfg).unwrap();
    let (all, cursor) = drain(&mut c, None).await;
    assert_eq!(all.len(), 30);
    // the fake stamps one row per second and its clock stands at the last row: the rows of
    // the last 5 seconds may still be joined by late commits, so they are read again
    let (again, cursor) = drain(&mut c, Some(cursor)).await;
    let tail: Vec<String> = record_ids(&all)
        .into_iter()
        .rev()
        .take(again.len())
        .collect();
    assert!(!again.is_empty() && again.len() <= 6, "{}", again.len());
    let mut again_ids = record_ids(&again);
    again_ids.reverse();
    assert_eq!(again_ids, tail);
    // once the server clock is past the window, nothing more is re-read
    h.fake.tick(60);
    let (_, cursor) = drain(&mut c, Some(cursor)).await;
    let (quiet, _) = drain(&mut c, Some(cursor)).await;
    assert!(quiet.is_empty(), "{:?}", record_ids(&quiet));
}

#[tokio::test]
async fn fake_warnings_are_acknowledged_only_when_configured() {
    let h = FakeHarness::new().await;
    let inv = h.first_invoice().to_string();
    let cmd = WriteCommand::AddNote {
        target_kind: "invoice".into(),
        target: inv,
        text: "x".into(),
    };
    let strict = h.source().await.unwrap();
    h.fake
        .fail_next(FakeFault::UserWarning("abc.invoice_date_future".into()));
    let e = strict
        .apply(&IdempotencyKey("k1".into()), &cmd)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectorError::Permanent(ref m) if m.contains("invoice_date_future")),
        "{e:?}"
    );
    let mut cfg = h.config(&h.good);
    cfg.acknowledge_warnings = vec!["invoice_date_future".into()];
    let lenient = TrytonConnector::new(cfg).unwrap();
    h.fake
        .fail_next(FakeFault::UserWarning("abc.invoice_date_future".into()));
    lenient
        .apply(&IdempotencyKey("k2".into()), &cmd)
        .await
        .unwrap();
    assert_eq!(
        h.fake.acknowledged(),
        vec!["abc.invoice_date_future".to_owned()]
    );
}

#[tokio::test]
async fn fake_errors_are_classified() {
    let h = FakeHarness::new().await;
    let c = h.source().await.unwrap();
    for (status, transient) in [(500, true), (503, true), (403, false), (400, false)] {
        h.fake.fail_next(FakeFault::Http(status));
        let e = c
            .find_applied(&IdempotencyKey("k".into()))
            .await
            .unwrap_err();
        assert_eq!(e.is_transient(), transient, "HTTP {status}: {e:?}");
    }
    // wrong database: 404 → configuration
    let mut cfg = h.config(&h.good);
    cfg.database = "nope".into();
    let e = TrytonConnector::new(cfg)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    // nothing listening → transient
    let mut cfg = h.config(&h.good);
    cfg.url = "http://127.0.0.1:9".into();
    assert!(TrytonConnector::new(cfg)
        .unwrap()
        .check()
        .await
        .unwrap_err()
        .is_transient());
    // missing password file → configuration, before any request
    let mut cfg = h.config(&h.good);
    cfg.password_file = "/nonexistent/relance/pw".into();
    assert!(matches!(
        TrytonConnector::new(cfg).unwrap_err(),
        ConnectorError::Config(_)
    ));
}

// ------------------------------------------------------------------------------ real server

struct Real {
    url: String,
    db: String,
    user: String,
    password_file: String,
    today: NaiveDate,
}

fn real_env() -> Option<Real> {
    let url = std::env::var("RELANCE_TRYTON_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    Some(Real {
        url,
        db: std::env::var("RELANCE_TRYTON_DB").unwrap_or_else(|_| "relance".into()),
        user: std::env::var("RELANCE_TRYTON_USER").unwrap_or_else(|_| "admin".into()),
        password_file: std::env::var("RELANCE_TRYTON_PASSWORD_FILE").unwrap_or_default(),
        today: std::env::var("RELANCE_TRYTON_TODAY")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(NaiveDate::from_ymd_opt(2026, 11, 16).unwrap()),
    })
}

impl Real {
    fn config(&self, page: u32) -> TrytonConfig {
        let mut cfg = TrytonConfig::new(&self.url, &self.db, &self.user, &self.password_file);
        cfg.page_size = page;
        cfg.overlap_seconds = 0;
        cfg.requests_per_second = 0;
        cfg
    }
}

async fn model(c: &TrytonConnector, m: &str, method: &str, args: Vec<Value>) -> Value {
    c.rpc()
        .model(m, method, args)
        .await
        .unwrap_or_else(|e| panic!("{m}.{method}: {e}"))
}

async fn search_read(c: &TrytonConnector, m: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
    c.rpc()
        .search_read(m, domain, 0, None, json!([["id", "ASC"]]), fields)
        .await
        .unwrap_or_else(|e| panic!("{m}: {e}"))
}

/// Open posted invoices with at least 10.00 to pay whose lines to pay are all unreconciled and
/// due by `today`: `(id, never dunned)`.
async fn open_invoices(c: &TrytonConnector, today: NaiveDate) -> Vec<(i64, bool)> {
    let rows = search_read(
        c,
        "account.invoice",
        json!([
            ["type", "=", "out"],
            ["state", "=", "posted"],
            ["total_amount", ">", 0]
        ]),
        &["lines_to_pay", "amount_to_pay"],
    )
    .await;
    let mut out = Vec::new();
    for r in rows {
        if tv::decimal(&r["amount_to_pay"], "a").unwrap() < Decimal::TEN {
            continue;
        }
        let lines = tv::ids(&r["lines_to_pay"], "l").unwrap();
        let ls = search_read(
            c,
            "account.move.line",
            json!([["id", "in", lines]]),
            &["maturity_date", "reconciliation", "dunnings"],
        )
        .await;
        let open_due = ls.iter().all(|l| {
            l["reconciliation"].is_null()
                && tv::opt_date(&l["maturity_date"], "m")
                    .unwrap()
                    .is_some_and(|m| m <= today)
        });
        let undunned = ls
            .iter()
            .all(|l| l["dunnings"].as_array().is_some_and(|d| d.is_empty()));
        if open_due {
            out.push((r["id"].as_i64().unwrap(), undunned));
        }
    }
    out
}

struct RealHarness<'a> {
    real: &'a Real,
    commands: Vec<(IdempotencyKey, WriteCommand)>,
    refused: (IdempotencyKey, WriteCommand),
    probe: TrytonConnector,
}

impl RealHarness<'_> {
    fn bad(&self) -> Result<TrytonConnector, ConnectorError> {
        let f = password_file("not-the-password");
        let mut cfg = self.real.config(7);
        cfg.password_file = f.path().to_owned();
        let c = TrytonConnector::new(cfg);
        drop(f);
        c
    }
    fn password(&self) -> Vec<String> {
        vec![std::fs::read_to_string(&self.real.password_file)
            .unwrap_or_default()
            .trim()
            .to_owned()]
    }
}

impl SourceHarness for RealHarness<'_> {
    type Source = TrytonConnector;
    async fn source(&self) -> Result<TrytonConnector, ConnectorError> {
        TrytonConnector::new(self.real.config(7))
    }
    async fn source_with_bad_credentials(&self) -> Option<Result<TrytonConnector, ConnectorError>> {
        Some(self.bad())
    }
    fn secrets(&self) -> Vec<String> {
        self.password()
    }
    fn max_page(&self) -> usize {
        7
    }
    fn min_records(&self) -> usize {
        11 + 42
    }
    fn inject(&self, _: Fault) -> bool {
        false
    }
}

impl WriteBackHarness for RealHarness<'_> {
    type Target = TrytonConnector;
    async fn target(&self) -> Result<TrytonConnector, ConnectorError> {
        TrytonConnector::new(self.real.config(7))
    }
    async fn target_with_bad_credentials(&self) -> Option<Result<TrytonConnector, ConnectorError>> {
        Some(self.bad())
    }
    fn secrets(&self) -> Vec<String> {
        self.password()
    }
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)> {
        self.commands.clone()
    }
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
        Some(self.refused.clone())
    }
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
        let pat = format!("%[relance:{}]%", key.as_str());
        let notes = self
            .probe
            .rpc()
            .search_count("ir.note", json!([["message", "like", pat]]))
            .await?;
        let moves = self
            .probe
            .rpc()
            .search_count("account.move", json!([["description", "like", pat]]))
            .await?;
        Ok(notes.max(moves) as usize)
    }
    fn inject(&self, _: Fault) -> bool {
        false
    }
}

fn signed_total(records: &[Record]) -> (usize, Decimal, Decimal) {
    let mut n = 0;
    let (mut total, mut due) = (Decimal::ZERO, Decimal::ZERO);
    for r in records {
        if let Record::Invoice(i) = r {
            n += 1;
            let sign = if i.kind == relance_core::InvoiceKind::CreditNote {
                -Decimal::ONE
            } else {
                Decimal::ONE
            };
            total += sign * i.total_with_vat;
            due += sign * i.amount_due;
        }
    }
    (n, total, due)
}

#[tokio::test]
async fn real_tryton_server() {
    let Some(real) = real_env() else {
        relance_connectors::testkit::skip_peer("RELANCE_TRYTON_URL not set");
        return;
    };
    let mut c = TrytonConnector::new(real.config(7)).unwrap();
    c.check().await.unwrap();
    let company = c.rpc().company().await.unwrap();

    // 1. full pull == what the server reports
    let (all, cursor) = drain(&mut c, None).await;
    let ids = record_ids(&all);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "duplicates in a full pull"
    );
    let count = |prefix: &str| ids.iter().filter(|i| i.starts_with(prefix)).count() as u64;
    let n_customers = c
        .rpc()
        .search_count(
            "party.party",
            Value::Array(customer_domain(c.rpc(), company).await.unwrap()),
        )
        .await
        .unwrap();
    let n_invoices = c
        .rpc()
        .search_count("account.invoice", Value::Array(invoice_domain(company)))
        .await
        .unwrap();
    let n_receipts = c
        .rpc()
        .search_count(
            "account.statement.line",
            Value::Array(receipt_domain(company)),
        )
        .await
        .unwrap();
    assert_eq!(
        (count("customer:"), count("invoice:"), count("receipt:")),
        (n_customers, n_invoices, n_receipts)
    );
    assert!(
        n_customers >= 11 && n_invoices >= 42 && n_receipts >= 1,
        "seed too small: {n_customers} {n_invoices} {n_receipts}"
    );
    let direct = search_read(
        &c,
        "account.invoice",
        Value::Array(invoice_domain(company)),
        &["total_amount", "amount_to_pay", "state"],
    )
    .await;
    let mut d_total = Decimal::ZERO;
    let mut d_due = Decimal::ZERO;
    for r in &direct {
        d_total += tv::decimal(&r["total_amount"], "t").unwrap();
        if r["state"] == json!("posted") {
            d_due += tv::decimal(&r["amount_to_pay"], "a").unwrap();
        }
    }
    let (n, total, due) = signed_total(&all);
    assert_eq!((n as u64, total, due), (n_invoices, d_total, d_due));
    let customer = |name: &str| {
        all.iter()
            .find_map(|r| match r {
                Record::Customer(c) if c.name == name => Some(c.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("customer {name} not pulled"))
    };
    let b = customer("Boulangerie Martin SARL");
    assert!(
        b.siren.is_some()
            && b.vat_id
                .as_deref()
                .is_some_and(|v| v.starts_with("FR") && v.len() == 13),
        "{b:?}"
    );
    assert!(
        b.siret
            .as_deref()
            .is_some_and(|s| s.len() == 14 && s.starts_with(b.siren.as_ref().unwrap().as_str())),
        "{b:?}"
    );
    assert_eq!(
        (
            b.emails.clone(),
            b.language.as_str(),
            b.country.as_deref(),
            b.kind
        ),
        (
            vec!["comptabilite@boulangerie.example".to_owned()],
            "fr",
            Some("FR"),
            relance_core::CustomerKind::Business
        )
    );
    // The party address, for letters: street, post code, city and country.
    let a = b
        .address
        .clone()
        .unwrap_or_else(|| panic!("no address pulled: {b:?}"));
    assert_eq!(
        (
            a.lines.clone(),
            a.postcode.as_deref(),
            a.city.as_deref(),
            a.country.as_deref()
        ),
        (
            vec!["12 rue de la République".to_owned()],
            Some("69002"),
            Some("Lyon"),
            Some("FR")
        ),
        "{b:?}"
    );
    assert!(a.is_postal(), "{a:?}");
    let j = customer("John Smith");
    assert_eq!(
        (j.siren.is_none(), j.language.as_str(), j.kind),
        (true, "en", relance_core::CustomerKind::Consumer),
        "{j:?}"
    );
    let split = all.iter().find_map(|r| match r {
        Record::Invoice(i) if i.instalments.len() == 2 => Some(i.clone()),
        _ => None,
    });
    let split = split.expect("an invoice with two instalments (50 % at 30 days, rest at 60)");
    assert_eq!(
        split.instalments.iter().map(|i| i.amount).sum::<Decimal>(),
        split.total_with_vat
    );
    assert!(
        split.due_date.is_none() && split.instalments[0].due_date < split.instalments[1].due_date
    );
    let credit_notes = all
        .iter()
        .filter(|r| matches!(r, Record::Invoice(i) if i.type_code == 381))
        .count();
    assert!(credit_notes >= 2, "{credit_notes} credit notes");
    let receipts_sum: Decimal = all
        .iter()
        .filter_map(|r| {
            if let Record::Receipt(x) = r {
                Some(x.amount)
            } else {
                None
            }
        })
        .sum();
    let direct_sum: Decimal = search_read(
        &c,
        "account.statement.line",
        Value::Array(receipt_domain(company)),
        &["amount"],
    )
    .await
    .iter()
    .map(|r| tv::decimal(&r["amount"], "a").unwrap())
    .sum();
    assert_eq!(receipts_sum, direct_sum);
    eprintln!("full pull: {n_customers} customers, {n_invoices} invoices (total {d_total}, open {d_due}), {n_receipts} receipts ({direct_sum})");

    // 2. incremental pull after server-side changes: exactly those records
    let (quiet, cursor) = drain(&mut c, Some(cursor)).await;
    let (_, cursor) = if quiet.is_empty() {
        (quiet, cursor)
    } else {
        drain(&mut c, Some(cursor)).await
    };
    let parties = search_read(
        &c,
        "party.party",
        json!([["name", "=", "Pharmacie Girard"]]),
        &["name"],
    )
    .await;
    let party = parties[0]["id"].as_i64().unwrap();
    model(
        &c,
        "party.party",
        "write",
        vec![json!([party]), json!({"name": "Pharmacie Girard"})],
    )
    .await;
    let candidates = open_invoices(&c, real.today).await;
    let undunned: Vec<i64> = candidates.iter().filter(|c| c.1).map(|c| c.0).collect();
    let dunned: Vec<i64> = candidates.iter().filter(|c| !c.1).map(|c| c.0).collect();
    assert!(!undunned.is_empty() && dunned.len() >= 2, "open invoices: {} never dunned (need 1, `server.sh reset` restores them), {} dunned (need 2)", undunned.len(), dunned.len());
    let paid_inv = dunned[0];
    let pay_key = IdempotencyKey::derive("itest", "reconcile", &[&paid_inv.to_string(), &cursor.0]);
    let pay = WriteCommand::Reconcile {
        transaction: format!("IT-{paid_inv}"),
        allocations: vec![(paid_inv.to_string(), Decimal::new(1000, 2))],
        date: real.today,
    };
    c.apply(&pay_key, &pay).await.unwrap();
    let (changed, _) = drain(&mut c, Some(cursor.clone())).await;
    let changed_ids: BTreeSet<String> = record_ids(&changed).into_iter().collect();
    let expected: BTreeSet<String> = [format!("customer:{party}"), format!("invoice:{paid_inv}")]
        .into_iter()
        .collect();
    assert_eq!(changed_ids, expected);
    eprintln!("incremental pull after 2 changes: {changed_ids:?}");
    // the reconcile command, retried: no second move
    let r1 = c.find_applied(&pay_key).await.unwrap().unwrap();
    assert_eq!(c.apply(&pay_key, &pay).await.unwrap(), r1);

    // a receipt Tryton booked itself (statement line, partial payment): allocated, no new move
    let partial = all
        .iter()
        .filter_map(|r| match r {
            Record::Receipt(x) => x.source.split("related to account.invoice,").nth(1).map(|inv| {
                (x.id.to_string(), inv.trim_end_matches(')').to_owned(), x.amount)
            }),
            _ => None,
        })
        .find(|(_, inv, _)| {
            all.iter().any(|r| matches!(r, Record::Invoice(i) if i.id.as_str() == inv && i.status == relance_core::InvoiceStatus::Open))
        })
        .expect("a partly paid invoice with its statement line");
    let moves_before = c
        .rpc()
        .search_count("account.move", json!([]))
        .await
        .unwrap();
    let stl_key = IdempotencyKey::derive("itest", "reconcile-stl", &[&partial.0, &cursor.0]);
    let stl = WriteCommand::Reconcile {
        transaction: partial.0.clone(),
        allocations: vec![(partial.1.clone(), partial.2)],
        date: real.today,
    };
    let rs = c.apply(&stl_key, &stl).await.unwrap();
    assert_eq!(rs.0, partial.0.trim_start_matches("tryton:"));
    assert_eq!(c.apply(&stl_key, &stl).await.unwrap(), rs);
    assert_eq!(
        c.rpc()
            .search_count("account.move", json!([]))
            .await
            .unwrap(),
        moves_before
    );

    // a receipt paying an invoice in full: reconciled, the invoice becomes paid
    let full_inv = *dunned.get(2).expect("a third open dunned invoice");
    let row = search_read(
        &c,
        "account.invoice",
        json!([["id", "=", full_inv]]),
        &["amount_to_pay"],
    )
    .await;
    let open = tv::decimal(&row[0]["amount_to_pay"], "a").unwrap();
    let full_key =
        IdempotencyKey::derive("itest", "reconcile", &[&full_inv.to_string(), &cursor.0]);
    let full = WriteCommand::Reconcile {
        transaction: format!("IT-FULL-{full_inv}"),
        allocations: vec![(full_inv.to_string(), open)],
        date: real.today,
    };
    let rf = c.apply(&full_key, &full).await.unwrap();
    assert_eq!(c.apply(&full_key, &full).await.unwrap(), rf);
    let row = search_read(
        &c,
        "account.invoice",
        json!([["id", "=", full_inv]]),
        &["state", "amount_to_pay"],
    )
    .await;
    assert_eq!(row[0]["state"], json!("paid"), "{row:?}");

    // 3. each write-back command once, then retried (compliance suite on the real server)
    let nonce = c
        .rpc()
        .search_count("ir.note", json!([]))
        .await
        .unwrap()
        .to_string();
    let dun_inv = undunned[0];
    let block_inv = dunned[1];
    let key = |kind: &str, part: &str| IdempotencyKey::derive("itest", kind, &[part, &nonce]);
    let line = |account: &str, debit: i64, credit: i64, party: Option<i64>| MoveLine {
        account: account.into(),
        debit: Decimal::new(debit, 2),
        credit: Decimal::new(credit, 2),
        party: party.map(|p| p.to_string()),
        label: format!("test {account}"),
    };
    let cust = search_read(
        &c,
        "account.invoice",
        json!([["id", "=", dun_inv]]),
        &["party", "untaxed_amount", "total_amount"],
    )
    .await;
    let cust_party = cust[0]["party"].as_i64().unwrap();
    let commands = vec![
        (
            key("note", "party"),
            WriteCommand::AddNote {
                target_kind: "party".into(),
                target: cust_party.to_string(),
                text: "Appel du 16/11 : promesse de paiement".into(),
            },
        ),
        (
            key("dunning", &dun_inv.to_string()),
            WriteCommand::SetDunningLevel {
                invoice: dun_inv.to_string(),
                level: 1,
                date: real.today,
            },
        ),
        (
            key("block", &block_inv.to_string()),
            WriteCommand::BlockDunning {
                invoice: block_inv.to_string(),
                blocked: true,
                reason: "Litige sur la livraison".into(),
            },
        ),
        (
            key("reclass", &dun_inv.to_string()),
            WriteCommand::PostMove {
                journal: "MISC".into(),
                date: real.today,
                description: format!("Reclassement 411 -> 416 facture {dun_inv}"),
                lines: vec![
                    line("416", 12000, 0, Some(cust_party)),
                    line("411", 0, 12000, Some(cust_party)),
                ],
            },
        ),
        (
            key("provision", &dun_inv.to_string()),
            WriteCommand::PostMove {
                journal: "MISC".into(),
                date: real.today,
                description: format!("Dépréciation facture {dun_inv}"),
                lines: vec![line("6817", 10000, 0, None), line("491", 0, 10000, None)],
            },
        ),
    ];
    let refused = (
        key("refused", "491-party"),
        WriteCommand::PostMove {
            journal: "MISC".into(),
            date: real.today,
            description: "491 avec tiers".into(),
            lines: vec![
                line("68174", 500, 0, None),
                line("491", 0, 500, Some(cust_party)),
            ],
        },
    );
    let h = RealHarness {
        real: &real,
        commands: commands.clone(),
        refused,
        probe: TrytonConnector::new(real.config(50)).unwrap(),
    };
    let report = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("compliance on the real server: {e}"));
    eprintln!("real Tryton compliance:\n{report}");

    // what Tryton shows after the commands
    let dunnings = search_read(
        &c,
        "account.dunning",
        json!([[
            "line.move_origin",
            "=",
            format!("account.invoice,{dun_inv}")
        ]]),
        &["state", "level.sequence"],
    )
    .await;
    assert!(
        !dunnings.is_empty()
            && dunnings
                .iter()
                .all(|d| d["state"] == json!("waiting") && d["level."]["sequence"] == json!(10)),
        "{dunnings:?}"
    );
    let blocked = search_read(
        &c,
        "account.dunning",
        json!([
            [
                "line.move_origin",
                "=",
                format!("account.invoice,{block_inv}")
            ],
            ["active", "in", [true, false]]
        ]),
        &["blocked"],
    )
    .await;
    assert!(
        !blocked.is_empty() && blocked.iter().all(|d| d["blocked"] == json!(true)),
        "{blocked:?}"
    );
    for (k, _) in &commands[3..] {
        let RemoteRef(r) = c.find_applied(k).await.unwrap().unwrap();
        let id: i64 = r.trim_start_matches("account.move,").parse().unwrap();
        let mv = search_read(
            &c,
            "account.move",
            json!([["id", "=", id]]),
            &["state", "journal.code"],
        )
        .await;
        assert_eq!(
            (mv[0]["state"].clone(), mv[0]["journal."]["code"].clone()),
            (json!("posted"), json!("MISC"))
        );
    }
    // the receipt's credit line is among the invoice's payment lines
    let RemoteRef(pay_ref) = r1;
    let pay_move: i64 = pay_ref.trim_start_matches("account.move,").parse().unwrap();
    let credit = c
        .rpc()
        .search(
            "account.move.line",
            json!([["move", "=", pay_move], ["credit", ">", 0]]),
            None,
        )
        .await
        .unwrap();
    let paid = search_read(
        &c,
        "account.invoice",
        json!([["id", "=", paid_inv]]),
        &["payment_lines"],
    )
    .await;
    let payment_lines = tv::ids(&paid[0]["payment_lines"], "p").unwrap();
    assert!(
        credit.len() == 1 && payment_lines.contains(&credit[0]),
        "{credit:?} in {payment_lines:?}"
    );

    // 4. Tryton's dunnings, read incrementally: all of them, ours among them
    let mut dunnings = Vec::new();
    let mut dc: Option<Cursor> = None;
    loop {
        let page = c.dunnings(dc.as_ref()).await.unwrap();
        assert!(page.dunnings.len() <= 7);
        dunnings.extend(page.dunnings);
        dc = Some(page.next);
        if !page.has_more {
            break;
        }
    }
    let n_dunnings = c
        .rpc()
        .search_count("account.dunning", json!([["active", "in", [true, false]]]))
        .await
        .unwrap();
    assert_eq!(dunnings.len() as u64, n_dunnings);
    let ours: Vec<_> = dunnings
        .iter()
        .filter(|d| d.invoice.as_deref() == Some(dun_inv.to_string().as_str()))
        .collect();
    assert!(
        !ours.is_empty()
            && ours
                .iter()
                .all(|d| d.state == "waiting" && d.level_sequence == 10),
        "{ours:?}"
    );
    assert!(dunnings
        .iter()
        .any(|d| d.invoice.as_deref() == Some(block_inv.to_string().as_str()) && d.blocked));
    eprintln!("dunnings: {n_dunnings} read incrementally");

    // 5. an expired session (server-side logout) is renewed transparently
    c.rpc().invalidate_session().await.unwrap();
    let page = c.pull(None).await.unwrap();
    assert!(!page.records.is_empty());
    c.rpc().logout().await.unwrap();
}
