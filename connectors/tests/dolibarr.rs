//! Dolibarr connector against the fake REST API (`relance_testkit::dolibarr_fake`), current
//! and older versions: the compliance suite, full and incremental pulls checked against the
//! fake's own state (the sweep catching a partial payment `tms` misses), a key rotated
//! mid-pull, a 429 mid-pull, the sqlfilters colon quirk, and write-backs applied once
//! (agenda events, extrafields, payments).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_connectors::contract::{IdempotencyKey, Record, Source, WriteBack, WriteCommand};
use relance_connectors::systems::dolibarr::{
    DolibarrConfig, DolibarrConnector, DolibarrWriteOptions,
};
use relance_connectors::ConnectorError;
use relance_testkit::compliance::{self, Fault, SourceHarness, WriteBackHarness};
use relance_testkit::dolibarr_fake::{DolFault, FakeDolibarr};
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

const KEY: &str = "dolapikey-never-shown-0001";

fn key_file(k: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{k}").unwrap();
    f
}

fn config(fake: &FakeDolibarr, file: &tempfile::NamedTempFile, page: u32) -> DolibarrConfig {
    let mut c = DolibarrConfig::new(fake.url(), file.path());
    c.page_size = page;
    c.overlap_seconds = 0;
    c.requests_per_second = 0;
    c.server_utc_offset_minutes = 60;
    c
}

fn invoices(records: &[Record]) -> Vec<&relance_core::Invoice> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Invoice(i) => Some(i),
            _ => None,
        })
        .collect()
}

use relance_testkit::drain;

// ------------------------------------------------------------------------------ compliance

struct Harness {
    fake: FakeDolibarr,
    good: tempfile::NamedTempFile,
    bad: tempfile::NamedTempFile,
    invoice: i64,
    party: i64,
}

impl Harness {
    async fn new(old: bool) -> Self {
        let fake = FakeDolibarr::start(KEY, old).await.unwrap();
        let invs = fake.seed(6, 19);
        let party = fake.add_thirdparty("Deco Addict", Some("552100554"));
        Harness {
            fake,
            good: key_file(KEY),
            bad: key_file("wrong-key"),
            invoice: invs[0],
            party,
        }
    }
    fn connector(&self, f: &tempfile::NamedTempFile) -> Result<DolibarrConnector, ConnectorError> {
        let opts = DolibarrWriteOptions {
            dunning_level_extrafield: Some("relance_niveau".into()),
            dispute_extrafield: Some("litige".into()),
            bank_account_id: Some(1),
            payment_mode_id: Some(2),
            ..DolibarrWriteOptions::default()
        };
        Ok(DolibarrConnector::new(config(&self.fake, f, 5))?.with_writeback(opts))
    }
    fn fault(&self, f: Fault) -> bool {
        match f {
            Fault::SessionExpired => self.fake.fail_next(DolFault::Status(401)),
            Fault::ServerError => self.fake.fail_next(DolFault::Status(503)),
            Fault::RateLimited => self.fake.fail_next(DolFault::Status(429)),
            Fault::BusinessRule => self.fake.fail_next(DolFault::Status(400)),
        }
        true
    }
}

impl SourceHarness for Harness {
    type Source = DolibarrConnector;
    async fn source(&self) -> Result<DolibarrConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn source_with_bad_credentials(
        &self,
    ) -> Option<Result<DolibarrConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![KEY.to_owned()]
    }
    fn max_page(&self) -> usize {
        5
    }
    fn min_records(&self) -> usize {
        7 + 19
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

impl WriteBackHarness for Harness {
    type Target = DolibarrConnector;
    async fn target(&self) -> Result<DolibarrConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn target_with_bad_credentials(
        &self,
    ) -> Option<Result<DolibarrConnector, ConnectorError>> {
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
                    level: 2,
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
                    target: self.party.to_string(),
                    text: "Rappelé".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "dispute", &[&inv]),
                WriteCommand::BlockDunning {
                    invoice: inv.clone(),
                    blocked: true,
                    reason: "Livraison incomplète".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "reconcile", &["T1"]),
                WriteCommand::Reconcile {
                    transaction: "BQ2611160001".into(),
                    allocations: vec![(inv, Decimal::new(12000, 2))],
                    date: d,
                },
            ),
        ]
    }
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
        Some((
            IdempotencyKey::derive("acme", "provision", &["x"]),
            WriteCommand::PostMove {
                journal: "OD".into(),
                date: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
                description: "Provision".into(),
                lines: vec![],
            },
        ))
    }
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
        let tag = relance_connectors::systems::dolibarr::write::tag(key);
        // each command ends with one agenda event (the reconciliation's payment is counted by
        // the test itself)
        Ok(self
            .fake
            .events()
            .iter()
            .filter(|e| e["label"].as_str().unwrap_or("").contains(&tag))
            .count())
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

#[tokio::test]
async fn compliance_suite_against_the_current_fake() {
    let h = Harness::new(false).await;
    let report = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("compliance: {e}"));
    eprintln!("fake Dolibarr compliance:\n{report}");
    assert!(report.skipped.is_empty(), "{report}");
    let opts = h.fake.options(h.invoice);
    assert_eq!(
        (
            opts["options_relance_niveau"].as_str(),
            opts["options_litige"].as_str()
        ),
        (Some("2"), Some("1"))
    );
    assert_eq!(
        h.fake.payments(h.invoice).len(),
        1,
        "the reconciliation paid once"
    );
}

#[tokio::test]
async fn compliance_suite_against_an_older_version_answering_empty_pages_with_404() {
    let h = Harness::new(true).await;
    let report = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("compliance: {e}"));
    assert!(report.skipped.is_empty(), "{report}");
}

// --------------------------------------------------------------------------------- pulls

#[tokio::test]
async fn full_pull_equals_the_fakes_totals() {
    for old in [false, true] {
        let fake = FakeDolibarr::start(KEY, old).await.unwrap();
        let invs = fake.seed(8, 57);
        let c0 = fake.add_thirdparty("Avoirs", None);
        fake.add_invoice(c0, "AV2610-0001", "2026-10-03", Decimal::new(4000, 2), 2);
        fake.add_draft(c0);
        fake.pay(invs[0], Decimal::new(2000, 2));
        fake.pay(invs[1], Decimal::new(12000, 2));
        fake.set_status(invs[2], 3);
        let file = key_file(KEY);
        let mut c = DolibarrConnector::new(config(&fake, &file, 10)).unwrap();
        let (all, _) = drain(&mut c, None).await;
        let got = invoices(&all);
        let (n, sum) = fake.totals();
        assert_eq!(got.len(), n, "old={old}");
        assert_eq!(
            got.iter().map(|i| i.amount_due).sum::<Decimal>(),
            sum,
            "old={old}"
        );
        let partial = got
            .iter()
            .find(|i| i.id.as_str() == invs[0].to_string())
            .unwrap();
        assert_eq!(partial.amount_due.to_string(), "100.00");
        assert_eq!(
            got.iter()
                .find(|i| i.id.as_str() == invs[2].to_string())
                .unwrap()
                .status,
            relance_core::InvoiceStatus::Cancelled
        );
        let customers = all
            .iter()
            .filter(|r| matches!(r, Record::Customer(_)))
            .count();
        assert_eq!(customers, 9);
    }
}

#[tokio::test]
async fn incremental_pull_picks_exactly_the_changes_and_the_sweep_the_partial_payments() {
    let fake = FakeDolibarr::start(KEY, false).await.unwrap();
    let invs = fake.seed(4, 30);
    let file = key_file(KEY);
    let mut cfg = config(&fake, &file, 7);
    cfg.open_sweep_seconds = 600;
    let mut c = DolibarrConnector::new(cfg).unwrap();
    let (all, cursor) = drain(&mut c, None).await;
    assert_eq!(invoices(&all).len(), 30);
    fake.tick(3);
    let (quiet, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(quiet.is_empty(), "{} re-read", quiet.len());
    let p = fake.add_thirdparty("Nouveau", Some("552100554"));
    let fresh = fake.add_invoice(p, "FA2611-0001", "2026-11-10", Decimal::new(5000, 2), 0);
    fake.set_status(invs[4], 3);
    fake.pay(invs[6], Decimal::new(3000, 2)); // partial: tms untouched
    let (changed, cursor) = drain(&mut c, Some(cursor)).await;
    let got: BTreeSet<String> = compliance::ids_of(&changed).into_iter().collect();
    let want: BTreeSet<String> = [
        format!("customer:{p}"),
        format!("invoice:{fresh}"),
        format!("invoice:{}", invs[4]),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    fake.tick(700);
    let (swept, _) = drain(&mut c, Some(cursor)).await;
    let paid = invoices(&swept)
        .into_iter()
        .find(|i| i.id.as_str() == invs[6].to_string())
        .unwrap();
    assert_eq!(
        paid.amount_due.to_string(),
        "90.00",
        "the sweep saw the partial payment"
    );
}

#[tokio::test]
async fn a_server_clock_offset_set_too_low_rereads_but_never_misses() {
    let fake = FakeDolibarr::start(KEY, false).await.unwrap();
    fake.seed(2, 10);
    let file = key_file(KEY);
    let mut cfg = config(&fake, &file, 50);
    cfg.server_utc_offset_minutes = 0; // the server is one hour ahead
    let mut c = DolibarrConnector::new(cfg).unwrap();
    let (_, cursor) = drain(&mut c, None).await;
    let p = fake.add_thirdparty("Tard", None);
    let inv = fake.add_invoice(p, "FA2611-0009", "2026-11-10", Decimal::new(5000, 2), 0);
    let (changed, _) = drain(&mut c, Some(cursor)).await;
    assert!(compliance::ids_of(&changed).contains(&format!("invoice:{inv}")));
}

#[tokio::test]
async fn a_key_rotated_mid_pull_is_read_again_and_a_429_loses_nothing() {
    let fake = FakeDolibarr::start(KEY, true).await.unwrap();
    fake.seed(3, 40);
    let file = key_file(KEY);
    let mut c = DolibarrConnector::new(config(&fake, &file, 5)).unwrap();
    let mut cursor = None;
    let mut records = Vec::new();
    for i in 0.. {
        if i == 3 {
            fake.rotate_key("dolapikey-rotated-0002");
            std::fs::write(file.path(), "dolapikey-rotated-0002\n").unwrap();
        }
        if i == 5 {
            fake.fail_next(DolFault::Status(429));
        }
        let p = match c.pull(cursor.as_ref()).await {
            Ok(p) => p,
            Err(ConnectorError::Transient { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(1)));
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        records.extend(p.records);
        cursor = p.next;
        if !p.has_more {
            break;
        }
    }
    assert_eq!(invoices(&records).len(), 40);
    let gaps: Vec<Duration> = fake
        .arrivals()
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .collect();
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_millis(900)),
        "the 429's Retry-After held the host"
    );
    fake.rotate_key("someone-else");
    let e = c.check().await.unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    assert!(!e.to_string().contains("dolapikey-rotated-0002"));
}

#[tokio::test]
async fn a_colon_in_a_filter_value_is_cut_by_dolibarr() {
    // the quirk the client avoids by writing times without colons
    let fake = FakeDolibarr::start(KEY, false).await.unwrap();
    fake.seed(1, 12);
    let file = key_file(KEY);
    let c = DolibarrConnector::new(config(&fake, &file, 5)).unwrap();
    let q = |f: &str| vec![("sqlfilters", f.to_owned()), ("limit", "0".to_owned())];
    let cut = c
        .client()
        .list("/invoices", &q("(t.tms:>:'2030-01-01 00:00:00')"), "x")
        .await
        .unwrap();
    let compact = c
        .client()
        .list("/invoices", &q("(t.tms:>:'20300101000000')"), "x")
        .await
        .unwrap();
    assert_eq!((cut.len(), compact.len()), (12, 0));
    let e = c
        .client()
        .list("/invoices", &q("(t.tms:>:'2030'"), "x")
        .await
        .unwrap_err();
    assert!(matches!(
        ConnectorError::from(e),
        ConnectorError::Permanent(_)
    ));
}

#[tokio::test]
async fn payments_are_recorded_once_and_levels_never_lowered() {
    let fake = FakeDolibarr::start(KEY, false).await.unwrap();
    let invs = fake.seed(1, 3);
    let file = key_file(KEY);
    let c = DolibarrConnector::new(config(&fake, &file, 5))
        .unwrap()
        .with_writeback(DolibarrWriteOptions {
            dunning_level_extrafield: Some("relance_niveau".into()),
            bank_account_id: Some(1),
            payment_mode_id: Some(2),
            ..DolibarrWriteOptions::default()
        });
    let d = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
    for (k, lvl) in [("a", 3u8), ("b", 1)] {
        c.apply(
            &IdempotencyKey(k.into()),
            &WriteCommand::SetDunningLevel {
                invoice: invs[0].to_string(),
                level: lvl,
                date: d,
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(fake.options(invs[0])["options_relance_niveau"], "3");
    let cmd = WriteCommand::Reconcile {
        transaction: "BQ1".into(),
        allocations: vec![
            (invs[1].to_string(), Decimal::new(12000, 2)),
            (invs[2].to_string(), Decimal::new(5000, 2)),
        ],
        date: d,
    };
    let key = IdempotencyKey("pay".into());
    // the payment made, then a crash before the event: the retry finds the payment by its tag
    fake.fail_next(DolFault::StatusOnPost("/agendaevents".into(), 503));
    let first = c.apply(&key, &cmd).await;
    assert!(first.is_err());
    let r = c.apply(&key, &cmd).await.unwrap();
    assert_eq!(c.find_applied(&key).await.unwrap(), Some(r));
    assert_eq!(
        (fake.payments(invs[1]).len(), fake.payments(invs[2]).len()),
        (1, 1)
    );
    let (all, _) = drain(&mut c.clone(), None).await;
    let paid = invoices(&all)
        .into_iter()
        .find(|i| i.id.as_str() == invs[1].to_string())
        .unwrap();
    assert_eq!(paid.status, relance_core::InvoiceStatus::Paid);
}
