//! Odoo connector against the fake Odoo (`relance_testkit::odoo_fake`) of each version: the
//! compliance suite over JSON-RPC (17) and JSON-2 (19), full and incremental pulls checked
//! against the fake's own records, the open-invoice sweep, a session expired and a key
//! rotated mid-pull, a 429 mid-pull, errors in HTTP 200 bodies, the dispute flag on 17, 18
//! and 19, Enterprise follow-up levels, OCA credit control lines, activities, moves, and
//! multi-company databases.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_connectors::contract::{
    IdempotencyKey, MoveLine, Record, Source, WriteBack, WriteCommand,
};
use relance_connectors::systems::odoo::{Api, OdooConfig, OdooConnector, OdooWriteOptions};
use relance_connectors::ConnectorError;
use relance_testkit::compliance::{self, Fault, SourceHarness, WriteBackHarness};
use relance_testkit::odoo_fake::{FakeOdoo, OdooFault, Switches};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

const KEY: &str = "odoo-api-key-never-shown-0001";

fn key_file(k: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{k}").unwrap();
    f
}

fn config(fake: &FakeOdoo, file: &tempfile::NamedTempFile, page: u32) -> OdooConfig {
    let mut c = OdooConfig::new(fake.url(), "fake", "relance", file.path());
    c.page_size = page;
    c.overlap_seconds = 0;
    c.requests_per_second = 0;
    c.company_id = Some(1);
    c
}

use compliance::ids_of as ids;

use relance_testkit::drain;

fn invoices(records: &[Record]) -> Vec<&relance_core::Invoice> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Invoice(i) => Some(i),
            _ => None,
        })
        .collect()
}

/// The fake's own totals for company 1: posted customer moves and their residuals, rounded
/// as Odoo rounds them for display (to the cent).
fn fake_totals(fake: &FakeOdoo, company: i64) -> (usize, Decimal) {
    let moves: Vec<serde_json::Value> = fake
        .records("account.move")
        .into_iter()
        .filter(|m| m["company_id"] == json!(company) && m["state"] == json!("posted"))
        .filter(|m| {
            m["move_type"]
                .as_str()
                .is_some_and(|t| t.starts_with("out_"))
        })
        .collect();
    let sum = moves
        .iter()
        .filter(|m| matches!(m["payment_state"].as_str(), Some("not_paid" | "partial")))
        .map(|m| {
            let f = m["amount_residual"].as_f64().unwrap();
            Decimal::try_from(f).unwrap().round_dp(2)
        })
        .sum();
    (moves.len(), sum)
}

// ------------------------------------------------------------------------------- compliance

struct Harness {
    fake: FakeOdoo,
    good: tempfile::NamedTempFile,
    bad: tempfile::NamedTempFile,
    api: Api,
    invoice: i64,
    partner: i64,
}

impl Harness {
    async fn new(version: u32, api: Api) -> Self {
        let fake = FakeOdoo::start(KEY, Switches::community(version))
            .await
            .unwrap();
        let invs = fake.seed(7, 23);
        let partner = fake
            .records("account.move")
            .iter()
            .find(|m| m["id"] == json!(invs[0]))
            .unwrap()["partner_id"]
            .as_i64()
            .unwrap();
        Harness {
            fake,
            good: key_file(KEY),
            bad: key_file("wrong-key"),
            api,
            invoice: invs[0],
            partner,
        }
    }
    fn connector(&self, f: &tempfile::NamedTempFile) -> Result<OdooConnector, ConnectorError> {
        let mut cfg = config(&self.fake, f, 5);
        cfg.api = self.api;
        let opts = OdooWriteOptions {
            dispute_tag: Some("Litige".into()),
            ..OdooWriteOptions::default()
        };
        Ok(OdooConnector::new(cfg)?.with_writeback(opts))
    }
    fn fault(&self, f: Fault) -> bool {
        self.fake.fail_next(match f {
            Fault::SessionExpired => OdooFault::SessionExpired,
            Fault::ServerError => OdooFault::Http(503),
            Fault::RateLimited => OdooFault::Http(429),
            Fault::BusinessRule => OdooFault::Exception(
                "odoo.exceptions.UserError".into(),
                "You cannot do that on a locked period.".into(),
            ),
        });
        true
    }
}

impl SourceHarness for Harness {
    type Source = OdooConnector;
    async fn source(&self) -> Result<OdooConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn source_with_bad_credentials(&self) -> Option<Result<OdooConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![KEY.to_owned()]
    }
    fn max_page(&self) -> usize {
        5
    }
    fn min_records(&self) -> usize {
        7 + 23
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

impl WriteBackHarness for Harness {
    type Target = OdooConnector;
    async fn target(&self) -> Result<OdooConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn target_with_bad_credentials(&self) -> Option<Result<OdooConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![KEY.to_owned()]
    }
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)> {
        let inv = self.invoice.to_string();
        let d = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
        vec![
            (
                IdempotencyKey::derive("acme", "dunning", &[&inv]),
                WriteCommand::SetDunningLevel {
                    invoice: inv.clone(),
                    level: 1,
                    date: d,
                },
            ),
            (
                IdempotencyKey::derive("acme", "note", &[&inv]),
                WriteCommand::AddNote {
                    target_kind: "invoice".into(),
                    target: inv.clone(),
                    text: "Client injoignable".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "note", &["p"]),
                WriteCommand::AddNote {
                    target_kind: "party".into(),
                    target: self.partner.to_string(),
                    text: "Rappelé".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "dispute", &[&inv]),
                WriteCommand::BlockDunning {
                    invoice: inv.clone(),
                    blocked: true,
                    reason: "Qualité contestée".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "reconcile", &["T1"]),
                WriteCommand::Reconcile {
                    transaction: "BQ2611160001".into(),
                    allocations: vec![(inv.clone(), Decimal::new(12012, 2))],
                    date: d,
                },
            ),
            (
                IdempotencyKey::derive("acme", "provision", &[&inv]),
                WriteCommand::PostMove {
                    journal: String::new(),
                    date: d,
                    description: "Créance douteuse INV/2026/00001".into(),
                    lines: vec![
                        MoveLine {
                            account: "416".into(),
                            debit: Decimal::new(12012, 2),
                            credit: Decimal::ZERO,
                            party: Some(self.partner.to_string()),
                            label: "416".into(),
                        },
                        MoveLine {
                            account: "411".into(),
                            debit: Decimal::ZERO,
                            credit: Decimal::new(12012, 2),
                            party: Some(self.partner.to_string()),
                            label: "411".into(),
                        },
                    ],
                },
            ),
        ]
    }
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
        None
    }
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
        let mark = format!("[relance:{}]", key.as_str());
        let notes = self
            .fake
            .records("mail.message")
            .iter()
            .filter(|m| m["body"].as_str().unwrap_or("").contains(&mark))
            .count();
        let moves = self
            .fake
            .records("account.move")
            .iter()
            .filter(|m| m["ref"].as_str().unwrap_or("").contains(&mark))
            .count();
        Ok(notes + moves)
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

#[tokio::test]
async fn compliance_suite_over_jsonrpc_on_17() {
    let h = Harness::new(17, Api::Auto).await;
    let report = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("compliance: {e}"));
    eprintln!("fake Odoo 17 compliance:\n{report}");
    assert!(report.skipped.is_empty(), "{report}");
    assert!(
        h.fake
            .arrivals()
            .iter()
            .all(|(_, p)| !p.starts_with("account.")),
        "17 speaks JSON-RPC"
    );
    // the posted move balances 416 against 411 once
    let moves: Vec<_> = h
        .fake
        .records("account.move")
        .into_iter()
        .filter(|m| m["move_type"] == json!("entry"))
        .collect();
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0]["state"], json!("posted"));
}

#[tokio::test]
async fn compliance_suite_over_json2_on_19() {
    let h = Harness::new(19, Api::Auto).await;
    let report = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("compliance: {e}"));
    eprintln!("fake Odoo 19 compliance:\n{report}");
    assert!(report.skipped.is_empty(), "{report}");
    let arrivals = h.fake.arrivals();
    assert!(
        arrivals
            .iter()
            .any(|(_, p)| p == "account.move/search_read"),
        "19 speaks JSON-2"
    );
    assert!(!arrivals.iter().any(|(_, p)| p == "object.execute_kw"));
}

// ------------------------------------------------------------------------------- pulls

#[tokio::test]
async fn full_pull_equals_the_fakes_totals_on_every_version() {
    for version in [16, 17, 18, 19] {
        let fake = FakeOdoo::start(KEY, Switches::community(version))
            .await
            .unwrap();
        let invs = fake.seed(9, 61);
        fake.pay(invs[0], 50.0, false);
        fake.pay(invs[1], 1000.0, true); // in_payment: paid for dunning
        let p = fake.add_partner("Avoirs SARL", Some("552100554"), Some(1));
        fake.add_invoice(p, "RINV/2026/00001", "2026-10-01", 40.0, true, 1, 1);
        let file = key_file(KEY);
        let mut c = OdooConnector::new(config(&fake, &file, 17)).unwrap();
        let (all, _) = drain(&mut c, None).await;
        let got = invoices(&all);
        let (n, sum) = fake_totals(&fake, 1);
        assert_eq!(got.len(), n, "Odoo {version}");
        let open: Decimal = got
            .iter()
            .filter(|i| i.kind == relance_core::InvoiceKind::Invoice)
            .map(|i| i.amount_due)
            .sum();
        let refunds: Decimal = got
            .iter()
            .filter(|i| i.kind == relance_core::InvoiceKind::CreditNote)
            .map(|i| i.amount_due)
            .sum();
        assert_eq!(open + refunds, sum, "Odoo {version}");
        // 100.10 + 20 % computed in binary floating point: 20.020000000000003 → 20.02
        assert!(got.iter().all(|i| i.total_vat.to_string() == "20.02"
            || i.kind == relance_core::InvoiceKind::CreditNote));
        let paid = got
            .iter()
            .find(|i| i.id.as_str() == invs[1].to_string())
            .unwrap();
        assert_eq!(
            (paid.status, paid.amount_due),
            (relance_core::InvoiceStatus::Paid, Decimal::ZERO)
        );
        let two = got
            .iter()
            .find(|i| i.id.as_str() == invs[4].to_string())
            .unwrap();
        assert_eq!((two.instalments.len(), two.due_date), (2, None));
        assert_eq!(two.instalments[0].amount.to_string(), "60.06");
        let customers: Vec<_> = all
            .iter()
            .filter_map(|r| match r {
                Record::Customer(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(
            customers.len(),
            10,
            "Odoo {version}: the company's own partner is not a customer: {:?}",
            customers
                .iter()
                .map(|c| (&c.id, &c.name))
                .collect::<Vec<_>>()
        );
        assert!(customers
            .iter()
            .any(|c| c.siren.as_ref().is_some_and(|s| s.as_str() == "552100554")));
    }
}

#[tokio::test]
async fn incremental_pull_picks_exactly_the_changes_and_the_sweep_what_write_date_misses() {
    let mut sw = Switches::community(18);
    sw.residual_bumps_write_date = false;
    let fake = FakeOdoo::start(KEY, sw).await.unwrap();
    let invs = fake.seed(4, 30);
    let file = key_file(KEY);
    let mut cfg = config(&fake, &file, 7);
    cfg.open_sweep_seconds = 600;
    let mut c = OdooConnector::new(cfg).unwrap();
    let (all, cursor) = drain(&mut c, None).await;
    assert_eq!(invoices(&all).len(), 30);
    fake.tick(5);
    let (quiet, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(quiet.is_empty(), "{:?}", ids(&quiet));
    // an old invoice changed, a new customer and invoice
    fake.write("account.move", invs[2], json!({"ref": "BC-2026-7"}));
    let p = fake.add_partner("Nouveau", None, Some(1));
    let fresh = fake.add_invoice(p, "INV/2026/09999", "2026-11-02", 10.0, false, 1, 1);
    // a payment whose recomputation does not bump write_date
    fake.pay(invs[5], 20.0, false);
    let (changed, cursor) = drain(&mut c, Some(cursor)).await;
    let got: BTreeSet<String> = ids(&changed).into_iter().collect();
    let want: BTreeSet<String> = [
        format!("customer:{p}"),
        format!("invoice:{}", invs[2]),
        format!("invoice:{fresh}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(changed.len(), 3);
    // the sweep (every 10 minutes) re-reads the open invoices and sees the payment
    fake.tick(700);
    let (swept, _) = drain(&mut c, Some(cursor)).await;
    let paid = invoices(&swept)
        .into_iter()
        .find(|i| i.id.as_str() == invs[5].to_string())
        .unwrap();
    assert_eq!(paid.amount_due.to_string(), "100.12");
}

#[tokio::test]
async fn a_session_expired_or_a_key_rotated_mid_pull_reauthenticates() {
    for version in [17, 19] {
        let fake = FakeOdoo::start(KEY, Switches::community(version))
            .await
            .unwrap();
        fake.seed(3, 40);
        let file = key_file(KEY);
        let mut c = OdooConnector::new(config(&fake, &file, 5)).unwrap();
        let mut cursor = None;
        let mut records = Vec::new();
        for i in 0.. {
            if i == 2 {
                fake.fail_next(OdooFault::SessionExpired);
            }
            if i == 4 {
                fake.rotate_key("odoo-rotated-key-0002");
                std::fs::write(file.path(), "odoo-rotated-key-0002\n").unwrap();
            }
            let p = c
                .pull(cursor.as_ref())
                .await
                .unwrap_or_else(|e| panic!("Odoo {version}: {e}"));
            records.extend(p.records);
            cursor = p.next;
            if !p.has_more {
                break;
            }
        }
        assert_eq!(invoices(&records).len(), 40, "Odoo {version}");
        fake.rotate_key("someone-else");
        let e = c.pull(None).await.unwrap_err();
        assert!(
            matches!(e, ConnectorError::Config(_)),
            "Odoo {version}: {e:?}"
        );
        assert!(!e.to_string().contains("odoo-rotated-key-0002"));
    }
}

#[tokio::test]
async fn a_429_mid_pull_slows_down_and_loses_nothing() {
    let fake = FakeOdoo::start(KEY, Switches::community(17)).await.unwrap();
    fake.seed(3, 30);
    let file = key_file(KEY);
    let mut c = OdooConnector::new(config(&fake, &file, 5)).unwrap();
    let p = c.pull(None).await.unwrap();
    fake.fail_next(OdooFault::Http(429));
    let (rest, _) = drain(&mut c, p.next.clone()).await;
    let mut all = p.records;
    all.extend(rest);
    assert_eq!(invoices(&all).len(), 30);
    let gaps: Vec<Duration> = fake
        .arrivals()
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .collect();
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_millis(900)),
        "{gaps:?}"
    );
}

#[tokio::test]
async fn errors_in_http_200_bodies_are_classified() {
    let fake = FakeOdoo::start(KEY, Switches::community(16)).await.unwrap();
    fake.seed(1, 2);
    let file = key_file(KEY);
    let c = OdooConnector::new(config(&fake, &file, 5)).unwrap();
    c.check().await.unwrap();
    for (name, config_error) in [
        ("odoo.exceptions.AccessError", true),
        ("odoo.exceptions.UserError", false),
        ("odoo.exceptions.ValidationError", false),
        ("builtins.ValueError", false),
    ] {
        fake.fail_next(OdooFault::Exception(name.into(), "refused".into()));
        let e = c
            .find_applied(&IdempotencyKey("k".into()))
            .await
            .unwrap_err();
        assert_eq!(
            matches!(e, ConnectorError::Config(_)),
            config_error,
            "{name}: {e:?}"
        );
        assert_eq!(
            matches!(e, ConnectorError::Permanent(_)),
            !config_error,
            "{name}: {e:?}"
        );
    }
    let mut cfg = config(&fake, &file, 5);
    cfg.database = "nope".into();
    let e = OdooConnector::new(cfg).unwrap().check().await.unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    let mut cfg = config(&fake, &file, 5);
    cfg.login = "nobody".into();
    let e = OdooConnector::new(cfg).unwrap().check().await.unwrap_err();
    assert!(
        matches!(e, ConnectorError::Config(_)),
        "authenticate answered false: {e:?}"
    );
    let mut cfg = config(&fake, &file, 5);
    cfg.url = "http://127.0.0.1:9".into();
    assert!(OdooConnector::new(cfg)
        .unwrap()
        .check()
        .await
        .unwrap_err()
        .is_transient());
}

// --------------------------------------------------------------------------- write-back

fn dunning(inv: i64, level: u8) -> WriteCommand {
    WriteCommand::SetDunningLevel {
        invoice: inv.to_string(),
        level,
        date: NaiveDate::from_ymd_opt(2026, 11, 16).unwrap(),
    }
}

fn dispute(inv: i64, on: bool) -> WriteCommand {
    WriteCommand::BlockDunning {
        invoice: inv.to_string(),
        blocked: on,
        reason: "Litige qualité".into(),
    }
}

#[tokio::test]
async fn the_dispute_flag_follows_the_version_and_the_companys_choice() {
    // 17: the receivable lines' "No follow-up" flag
    let fake = FakeOdoo::start(KEY, Switches::community(17)).await.unwrap();
    let invs = fake.seed(1, 2);
    let file = key_file(KEY);
    let c = OdooConnector::new(config(&fake, &file, 5)).unwrap();
    c.apply(&IdempotencyKey("d17".into()), &dispute(invs[0], true))
        .await
        .unwrap();
    let lines: Vec<_> = fake
        .records("account.move.line")
        .into_iter()
        .filter(|l| l["move_id"] == json!(invs[0]))
        .collect();
    assert!(lines.iter().all(|l| l["blocked"] == json!(true)));
    // 18: no such flag; without a configured one, a clear Permanent refusal
    let fake = FakeOdoo::start(KEY, Switches::community(18)).await.unwrap();
    let invs = fake.seed(1, 2);
    let c = OdooConnector::new(config(&fake, &file, 5)).unwrap();
    let e = c
        .apply(&IdempotencyKey("d18".into()), &dispute(invs[0], true))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectorError::Permanent(ref m) if m.contains("dispute_tag")),
        "{e:?}"
    );
    assert!(c
        .find_applied(&IdempotencyKey("d18".into()))
        .await
        .unwrap()
        .is_none());
    // 18 with a tag: on the customer, off at the end of the dispute
    let c = c.with_writeback(OdooWriteOptions {
        dispute_tag: Some("Litige".into()),
        ..OdooWriteOptions::default()
    });
    c.apply(&IdempotencyKey("d18t".into()), &dispute(invs[0], true))
        .await
        .unwrap();
    let partner = fake
        .records("account.move")
        .iter()
        .find(|m| m["id"] == json!(invs[0]))
        .unwrap()["partner_id"]
        .clone();
    let tag = fake
        .records("res.partner.category")
        .iter()
        .find(|t| t["name"] == json!("Litige"))
        .unwrap()["id"]
        .clone();
    let tags = |f: &FakeOdoo| {
        f.records("res.partner")
            .iter()
            .find(|p| p["id"] == partner)
            .unwrap()["category_id"]
            .clone()
    };
    assert_eq!(tags(&fake), json!([tag]));
    c.apply(&IdempotencyKey("d18u".into()), &dispute(invs[0], false))
        .await
        .unwrap();
    assert_eq!(tags(&fake), json!([]));
    // 19 with an x_ field on the invoice
    let fake = FakeOdoo::start(KEY, Switches::community(19)).await.unwrap();
    let invs = fake.seed(1, 2);
    let c = OdooConnector::new(config(&fake, &file, 5))
        .unwrap()
        .with_writeback(OdooWriteOptions {
            dispute_field: Some("x_litige".into()),
            ..OdooWriteOptions::default()
        });
    c.apply(&IdempotencyKey("d19".into()), &dispute(invs[0], true))
        .await
        .unwrap();
    assert_eq!(
        fake.records("account.move")
            .iter()
            .find(|m| m["id"] == json!(invs[0]))
            .unwrap()["x_litige"],
        json!(true)
    );
}

#[tokio::test]
async fn followup_levels_credit_control_and_activities_where_installed() {
    let mut sw = Switches::community(17);
    sw.followup = true;
    sw.credit_control = true;
    let fake = FakeOdoo::start(KEY, sw).await.unwrap();
    let invs = fake.seed(1, 3);
    let file = key_file(KEY);
    let c = OdooConnector::new(config(&fake, &file, 5))
        .unwrap()
        .with_writeback(OdooWriteOptions {
            activity: true,
            ..OdooWriteOptions::default()
        });
    for (k, lvl) in [("l2", 2), ("l2", 2), ("l1", 1)] {
        c.apply(&IdempotencyKey(k.into()), &dunning(invs[0], lvl))
            .await
            .unwrap();
    }
    let partner = fake
        .records("account.move")
        .iter()
        .find(|m| m["id"] == json!(invs[0]))
        .unwrap()["partner_id"]
        .clone();
    let line2 = fake
        .records("account_followup.followup.line")
        .iter()
        .find(|l| l["name"] == json!("Deuxième rappel"))
        .unwrap()["id"]
        .clone();
    let p = fake
        .records("res.partner")
        .into_iter()
        .find(|x| x["id"] == partner)
        .unwrap();
    assert_eq!(
        p["followup_line_id"], line2,
        "level 2, not lowered by the later level 1"
    );
    let ccl = fake.records("credit.control.line");
    assert_eq!(
        ccl.len(),
        2,
        "one line per level for the invoice's one receivable line: {ccl:?}"
    );
    assert_eq!(
        fake.records("mail.activity").len(),
        2,
        "one activity per action key"
    );
    // without the modules nothing of theirs is called
    let fake = FakeOdoo::start(KEY, Switches::community(17)).await.unwrap();
    let invs = fake.seed(1, 1);
    let c = OdooConnector::new(config(&fake, &file, 5)).unwrap();
    c.apply(&IdempotencyKey("plain".into()), &dunning(invs[0], 2))
        .await
        .unwrap();
    assert!(!fake
        .calls()
        .iter()
        .any(|m| m.starts_with("credit.control") || m.starts_with("account_followup")));
    assert_eq!(fake.records("mail.message").len(), 1);
}

#[tokio::test]
async fn a_multi_company_database_gives_one_relance_company_per_odoo_company() {
    let fake = FakeOdoo::start(KEY, Switches::community(18)).await.unwrap();
    fake.seed(2, 5);
    let second = fake.add_company("Filiale SAS");
    let p = fake.add_partner("Client filiale", None, Some(second));
    fake.add_invoice(p, "FIL/2026/00001", "2026-10-01", 300.0, false, 1, second);
    fake.add_invoice(p, "FIL/2026/00002", "2026-10-02", 300.0, false, 1, second);
    let file = key_file(KEY);
    let mut one = OdooConnector::new(config(&fake, &file, 50)).unwrap();
    let mut cfg = config(&fake, &file, 50);
    cfg.company_id = Some(second);
    let mut two = OdooConnector::new(cfg).unwrap();
    let (a, _) = drain(&mut one, None).await;
    let (b, _) = drain(&mut two, None).await;
    assert_eq!((invoices(&a).len(), invoices(&b).len()), (5, 2));
    assert!(invoices(&b).iter().all(|i| i.number.starts_with("FIL/")));
    // a company that does not exist: a configuration error
    let mut cfg = config(&fake, &file, 50);
    cfg.company_id = Some(99);
    let e = OdooConnector::new(cfg).unwrap().check().await.unwrap_err();
    assert!(
        matches!(e, ConnectorError::Config(ref m) if m.contains("company 99")),
        "{e:?}"
    );
    // without company_id on a multi-company database: a configuration error
    let mut cfg = config(&fake, &file, 50);
    cfg.company_id = None;
    let e = OdooConnector::new(cfg).unwrap().check().await.unwrap_err();
    assert!(
        matches!(e, ConnectorError::Config(ref m) if m.contains("company_id")),
        "{e:?}"
    );
}
