//! PA connector against the fake plateforme agréée (`relance_testkit::pa_fake`): the compliance
//! suite (AFNOR flow service), lifecycle statuses pulled incrementally (flows stamped in the
//! same second across pages, an unreadable CDAR quarantined, a token expired mid-pull, a 429
//! mid-pull), and "212 Encaissée" sent once with one amount per VAT rate — through a CDAR
//! flow tracked by the key, and through Super PDP's `invoice_events` — also when the answer
//! to the submission is lost.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_connectors::contract::{IdempotencyKey, Record, Source, WriteBack, WriteCommand};
use relance_connectors::formats::einvoice::write::{cii, SimpleInvoice};
use relance_connectors::systems::pa::{PaConfig, PaConnector, Profile};
use relance_connectors::ConnectorError;
use relance_testkit::compliance::{self, Fault, SourceHarness, WriteBackHarness};
use relance_testkit::drain;
use relance_testkit::pa_fake::{FakePa, PaFault};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::io::Write;

const SECRET: &str = "pa-client-secret-never-shown-77";

fn secret_file(k: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{k}").unwrap();
    f
}

fn config(fake: &FakePa, file: &tempfile::NamedTempFile, page: u32) -> PaConfig {
    let mut c = PaConfig::new(fake.url(), fake.token_url(), "relance-acme", file.path());
    c.page_size = page;
    c.requests_per_second = 0;
    c.superpdp_url = Some(fake.superpdp_url());
    c.seller_siren = Some("100000009".into());
    c
}

/// An invoice with two VAT rates: 800 € at 20 % and 200 € at 5.5 % (1 171.00 € with VAT).
fn two_rates(number: &str) -> SimpleInvoice {
    SimpleInvoice {
        number: number.into(),
        type_code: 380,
        issue_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        due_date: NaiveDate::from_ymd_opt(2026, 10, 31),
        currency: "EUR".into(),
        seller: ("Atelier Tilleul".into(), Some("100000009".into())),
        buyer: ("Client Exemple".into(), Some("200000008".into())),
        buyer_reference: None,
        order_reference: None,
        iban: None,
        lines: vec![
            ("Pose".into(), dec!(1), dec!(800.00), dec!(20)),
            ("Livres".into(), dec!(1), dec!(200.00), dec!(5.5)),
        ],
    }
}

fn report(number: &str, tx: &str, amount: Decimal) -> WriteCommand {
    WriteCommand::ReportPayment {
        invoice: number.into(),
        number: number.into(),
        type_code: 380,
        issue_date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        transaction: tx.into(),
        amount,
        currency: "EUR".into(),
        date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
    }
}

fn statuses(records: &[Record]) -> Vec<(String, String, Option<String>)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Lifecycle(l) => {
                Some((l.invoice.to_string(), l.status.clone(), l.reason.clone()))
            }
            _ => None,
        })
        .collect()
}

// ------------------------------------------------------------------------------ compliance

struct Harness {
    fake: FakePa,
    good: tempfile::NamedTempFile,
    bad: tempfile::NamedTempFile,
}

impl Harness {
    async fn new() -> Self {
        let fake = FakePa::start("relance-acme", SECRET).await.unwrap();
        for i in 0..4 {
            let n = format!("F-{i}");
            fake.add_invoice(&n, &cii(&two_rates(&n)));
        }
        for i in 0..12 {
            let n = format!("F-{i}");
            fake.add_status(&n, [200, 203, 207, 209][i % 4], None, i % 3 == 1);
        }
        Harness {
            fake,
            good: secret_file(SECRET),
            bad: secret_file("wrong-secret"),
        }
    }
    fn connector(&self, f: &tempfile::NamedTempFile) -> Result<PaConnector, ConnectorError> {
        PaConnector::new(config(&self.fake, f, 5))
    }
    fn fault(&self, f: Fault) -> bool {
        match f {
            Fault::SessionExpired => self.fake.expire_tokens(),
            Fault::ServerError => self.fake.fail_next(PaFault::Status(503)),
            Fault::RateLimited => self.fake.fail_next(PaFault::Status(429)),
            Fault::BusinessRule => self.fake.fail_next(PaFault::Status(400)),
        }
        true
    }
}

impl SourceHarness for Harness {
    type Source = PaConnector;
    async fn source(&self) -> Result<PaConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn source_with_bad_credentials(&self) -> Option<Result<PaConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![SECRET.to_owned()]
    }
    fn max_page(&self) -> usize {
        5
    }
    fn min_records(&self) -> usize {
        12
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

impl WriteBackHarness for Harness {
    type Target = PaConnector;
    async fn target(&self) -> Result<PaConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn target_with_bad_credentials(&self) -> Option<Result<PaConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![SECRET.to_owned()]
    }
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)> {
        vec![
            (
                IdempotencyKey::derive("acme", "einvoice.212", &["F-0", "T1"]),
                report("F-0", "T1", dec!(1171.00)),
            ),
            (
                IdempotencyKey::derive("acme", "einvoice.212", &["F-1", "T2"]),
                report("F-1", "T2", dec!(500.00)),
            ),
        ]
    }
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
        Some((
            IdempotencyKey::derive("acme", "einvoice.212", &["F-404", "T9"]),
            report("F-404", "T9", dec!(10)),
        ))
    }
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
        Ok(self
            .fake
            .received_212()
            .iter()
            .filter(|r| r.tracking_id.as_deref() == Some(key.as_str()))
            .count())
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

#[tokio::test]
async fn compliance_suite() {
    let h = Harness::new().await;
    let r = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{r}");
}

// ------------------------------------------------------------------------------ pulls

#[tokio::test]
async fn statuses_are_pulled_incrementally_without_loss_or_repeat() {
    let fake = FakePa::start("relance-acme", SECRET).await.unwrap();
    let f = secret_file(SECRET);
    // seven statuses, five of them in one second, over pages of two
    fake.add_status("F1", 203, None, false);
    fake.add_status("F1", 207, Some(("TX_TVA_ERR", "Taux de TVA erroné")), false);
    for n in ["F2", "F3", "F4", "F5"] {
        fake.add_status(n, 210, Some(("DOUBLON", "Facture en double")), true);
    }
    fake.add_garbage_status("<Invoice>not a lifecycle message</Invoice>");
    let mut c = PaConnector::new(config(&fake, &f, 2)).unwrap();
    let (records, cursor) = drain(&mut c, None).await;
    let got = statuses(&records);
    assert_eq!(got.len(), 6, "{got:?}");
    assert_eq!(
        got[1],
        (
            "F1".into(),
            "207".into(),
            Some("TX_TVA_ERR: Taux de TVA erroné".into())
        )
    );
    let quarantined: Vec<_> = records
        .iter()
        .filter(|r| matches!(r, Record::Quarantined { reason, .. } if reason.contains("CDAR-ROOT")))
        .collect();
    assert_eq!(
        quarantined.len(),
        1,
        "the unreadable CDAR is quarantined with its rule"
    );
    // nothing new: nothing again
    let (again, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(statuses(&again).is_empty(), "{again:?}");
    // a new status, in the same second as the last one, is read once
    fake.add_status("F1", 209, None, true);
    let (more, _) = drain(&mut c, Some(cursor)).await;
    assert_eq!(statuses(&more), vec![("F1".into(), "209".into(), None)]);
}

#[tokio::test]
async fn an_expired_token_and_a_429_mid_pull() {
    let fake = FakePa::start("relance-acme", SECRET).await.unwrap();
    let f = secret_file(SECRET);
    for i in 0..6 {
        fake.add_status(
            &format!("F{i}"),
            207,
            Some(("CMD_ERR", "Commande erronée")),
            false,
        );
    }
    let mut c = PaConnector::new(config(&fake, &f, 2)).unwrap();
    let p1 = c.pull(None).await.unwrap();
    assert_eq!(p1.records.len(), 2);
    fake.expire_tokens();
    let p2 = c.pull(p1.next.as_ref()).await.unwrap();
    assert_eq!(p2.records.len(), 2, "a fresh token is fetched by itself");
    assert_eq!(fake.token_requests(), 2);
    fake.fail_next(PaFault::Status(429));
    match c.pull(p2.next.as_ref()).await {
        Err(ConnectorError::Transient {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(1)));
            assert!(message.contains("TOO_MANY_REQUESTS"), "{message}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    let p3 = c.pull(p2.next.as_ref()).await.unwrap();
    assert_eq!(p3.records.len(), 2, "the same page after the 429");
}

#[tokio::test]
async fn a_rotated_secret_is_read_again_and_a_wrong_one_is_config() {
    let fake = FakePa::start("relance-acme", SECRET).await.unwrap();
    let f = secret_file(SECRET);
    fake.add_status("F1", 203, None, false);
    let mut c = PaConnector::new(config(&fake, &f, 2)).unwrap();
    c.check().await.unwrap();
    fake.rotate_secret("new-secret-after-rotation");
    fake.expire_tokens();
    std::fs::write(f.path(), "new-secret-after-rotation\n").unwrap();
    c.pull(None).await.unwrap();
    let bad = secret_file("not-it");
    let e = PaConnector::new(config(&fake, &bad, 2))
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("not-it"));
}

// ------------------------------------------------------------------------------ 212

#[tokio::test]
async fn encaissee_has_one_amount_per_rate_and_is_sent_once_even_when_the_answer_is_lost() {
    let fake = FakePa::start("relance-acme", SECRET).await.unwrap();
    let f = secret_file(SECRET);
    fake.add_invoice("F-2026-7", &cii(&two_rates("F-2026-7")));
    let c = PaConnector::new(config(&fake, &f, 5)).unwrap();
    let key = IdempotencyKey::derive("acme", "einvoice.212", &["F-2026-7", "BQ1"]);
    let cmd = report("F-2026-7", "BQ1", dec!(1171.00));
    fake.fail_next(PaFault::LoseAnswer);
    let e = c.apply(&key, &cmd).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    // the outbox retries: found by its trackingId, not sent again
    let found = c.find_applied(&key).await.unwrap();
    assert!(found.is_some());
    let again = c.apply(&key, &cmd).await.unwrap();
    assert_eq!(Some(again), found);
    let got = fake.received_212();
    assert_eq!(got.len(), 1, "{got:?}");
    let mut amounts = got[0].amounts.clone();
    amounts.sort();
    assert_eq!(
        amounts,
        vec![
            (Some(dec!(5.50)), dec!(211.00)),
            (Some(dec!(20.00)), dec!(960.00))
        ]
    );
    // a partial payment and its correction (a returned direct debit): two more, each once
    let k2 = IdempotencyKey::derive("acme", "einvoice.212", &["F-2026-7", "BQ2"]);
    c.apply(&k2, &report("F-2026-7", "BQ2", dec!(500.00)))
        .await
        .unwrap();
    let k3 = IdempotencyKey::derive("acme", "einvoice.212", &["F-2026-7", "BQ2", "returned"]);
    c.apply(&k3, &report("F-2026-7", "BQ2", dec!(-500.00)))
        .await
        .unwrap();
    c.apply(&k3, &report("F-2026-7", "BQ2", dec!(-500.00)))
        .await
        .unwrap();
    let got = fake.received_212();
    assert_eq!(got.len(), 3);
    let sum = |i: usize| got[i].amounts.iter().map(|a| a.1).sum::<Decimal>();
    assert_eq!(sum(1), dec!(500.00));
    assert_eq!(sum(2), dec!(-500.00));
}

#[tokio::test]
async fn superpdp_invoice_events_carry_fr_212_once() {
    let fake = FakePa::start("relance-acme", SECRET).await.unwrap();
    let f = secret_file(SECRET);
    for n in ["A1", "A2", "A3", "F-9"] {
        fake.add_invoice(n, &cii(&two_rates(n)));
    }
    let mut cfg = config(&fake, &f, 5);
    cfg.profile = Profile::Superpdp;
    let c = PaConnector::new(cfg).unwrap();
    let key = IdempotencyKey::derive("acme", "einvoice.212", &["F-9", "BQ7"]);
    let cmd = report("F-9", "BQ7", dec!(1171.00));
    fake.fail_next(PaFault::LoseAnswer);
    assert!(c.apply(&key, &cmd).await.unwrap_err().is_transient());
    let r = c.apply(&key, &cmd).await.unwrap();
    assert!(r.0.starts_with("invoice_event:"), "{r:?}");
    let got = fake.received_212();
    assert_eq!(
        got.len(),
        1,
        "found by its natural key after the lost answer: {got:?}"
    );
    assert_eq!(got[0].via, "invoice_events");
    assert_eq!(got[0].amounts.len(), 2);
}

/// With `issued_invoices`, the platform's `CustomerInvoice` flows are read as invoices over
/// pages, each once; turned on after statuses were read, the invoices are read from the start
/// and the statuses are not read again; a new invoice flow is read at the next pass, alone.
#[tokio::test]
async fn issued_invoices_are_pulled_incrementally_beside_the_statuses() {
    let fake = FakePa::start("relance-acme", SECRET).await.unwrap();
    let f = secret_file(SECRET);
    fake.add_status("F1", 203, None, false);
    for n in ["F1", "F2", "F3", "F4", "F5"] {
        fake.add_invoice(n, &cii(&two_rates(n)));
    }
    fake.add_status("F3", 207, Some(("CMD_ERR", "Commande erronée")), false);
    let invoices = |records: &[Record]| -> Vec<String> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Invoice(i) => Some(i.number.clone()),
                _ => None,
            })
            .collect()
    };
    // statuses only, as before the flag
    let mut c = PaConnector::new(config(&fake, &f, 2)).unwrap();
    let (records, cursor) = drain(&mut c, None).await;
    assert_eq!(statuses(&records).len(), 2);
    assert!(invoices(&records).is_empty());
    assert!(cursor.0.starts_with("pa1|"), "{cursor:?}");
    // the flag on: every invoice once, no status again
    let mut cfg = config(&fake, &f, 2);
    cfg.issued_invoices = true;
    let mut c = PaConnector::new(cfg).unwrap();
    let (records, cursor) = drain(&mut c, Some(cursor)).await;
    assert_eq!(invoices(&records), ["F1", "F2", "F3", "F4", "F5"]);
    assert!(statuses(&records).is_empty(), "{records:?}");
    let total = records.iter().find_map(|r| match r {
        Record::Invoice(i) => Some(i.total_with_vat),
        _ => None,
    });
    assert_eq!(total, Some(dec!(1171.00)));
    // nothing new, nothing again; a new invoice alone
    let (again, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(invoices(&again).is_empty() && statuses(&again).is_empty());
    fake.add_invoice("F6", &cii(&two_rates("F6")));
    let (more, _) = drain(&mut c, Some(cursor)).await;
    assert_eq!(invoices(&more), ["F6"]);
}
