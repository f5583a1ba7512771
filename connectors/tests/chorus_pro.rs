//! Chorus Pro connector against the fake PISTE + Chorus Pro (`relance_testkit::chorus_fake`):
//! the compliance suite's source half, invoices paged and pulled incrementally by status
//! change, the due date from the reception date plus the public buyer's payment period, the
//! statuses as lifecycle records, and an HTTP 200 whose `codeRetour` is not 0 an error.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_connectors::contract::{Record, Source};
use relance_connectors::systems::chorus_pro::{ChorusProConfig, ChorusProConnector};
use relance_connectors::ConnectorError;
use relance_testkit::chorus_fake::{ChorusFault, FakeChorus};
use relance_testkit::compliance::{self, Fault, SourceHarness};
use relance_testkit::drain;
use std::io::Write;

const SECRET: &str = "piste-secret-never-shown-42";
const ACCOUNT: &str = "TECH_1_relance@cpro.fr:tech-password-never-shown";

fn file(k: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{k}").unwrap();
    f
}

struct Harness {
    fake: FakeChorus,
    secret: tempfile::NamedTempFile,
    account: tempfile::NamedTempFile,
    bad: tempfile::NamedTempFile,
}

impl Harness {
    async fn new() -> Self {
        let fake = FakeChorus::start("relance-app", SECRET, ACCOUNT, 7001)
            .await
            .unwrap();
        for i in 0..9 {
            fake.set_invoice(
                &format!("F-CP-{i}"),
                &format!("110002011{:05}", 40 + i),
                ["MISE_A_DISPOSITION", "SUSPENDUE", "MANDATEE"][i % 3],
                &format!("2026-02-{:02}T10:12:00+01:00", 2 + i),
                "2026-02-01",
                1000.0,
                1200.0,
                "",
            );
        }
        Harness {
            fake,
            secret: file(SECRET),
            account: file(ACCOUNT),
            bad: file("wrong"),
        }
    }
    fn connector(
        &self,
        secret: &tempfile::NamedTempFile,
    ) -> Result<ChorusProConnector, ConnectorError> {
        let mut c = ChorusProConfig::new(
            self.fake.url(),
            self.fake.token_url(),
            "relance-app",
            secret.path(),
            self.account.path(),
            7001,
        );
        c.page_size = 2;
        c.requests_per_second = 0;
        ChorusProConnector::new(c)
    }
}

impl SourceHarness for Harness {
    type Source = ChorusProConnector;
    async fn source(&self) -> Result<ChorusProConnector, ConnectorError> {
        self.connector(&self.secret)
    }
    async fn source_with_bad_credentials(
        &self,
    ) -> Option<Result<ChorusProConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![SECRET.to_owned(), ACCOUNT.to_owned()]
    }
    fn max_page(&self) -> usize {
        6 // two invoices: their buyer, the invoice, the status
    }
    fn min_records(&self) -> usize {
        9
    }
    fn inject(&self, f: Fault) -> bool {
        match f {
            Fault::SessionExpired => self.fake.expire_tokens(),
            Fault::ServerError => self.fake.fail_next(ChorusFault::Status(503)),
            Fault::RateLimited => self.fake.fail_next(ChorusFault::Status(429)),
            Fault::BusinessRule => self.fake.fail_next(ChorusFault::CodeRetour),
        }
        true
    }
}

#[tokio::test]
async fn compliance_suite_source() {
    let h = Harness::new().await;
    let r = compliance::source_suite(&h)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{r}");
}

#[tokio::test]
async fn reception_date_starts_the_public_payment_period_and_statuses_are_kept() {
    let h = Harness::new().await;
    let mut c = h.connector(&h.secret).unwrap();
    let (records, cursor) = drain(&mut c, None).await;
    let inv = records
        .iter()
        .find_map(|r| match r {
            Record::Invoice(i) if i.number == "F-CP-0" => Some(i.clone()),
            _ => None,
        })
        .unwrap();
    // made available on 2 February: due 30 days later (CCP R2192-10, R2192-12)
    assert_eq!(inv.due_date, NaiveDate::from_ymd_opt(2026, 3, 4));
    assert_eq!(inv.total_with_vat, rust_decimal_macros::dec!(1200.0));
    let buyer = records
        .iter()
        .find_map(|r| match r {
            Record::Customer(c) if c.id == inv.customer => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert!(buyer.kind.is_public());
    // suspended one: deposit date + 30 days, status kept for the dunning
    let suspended = records
        .iter()
        .find_map(|r| match r {
            Record::Lifecycle(l) if l.invoice.as_str() == "F-CP-1" => Some(l.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(suspended.status, "SUSPENDUE");
    assert_eq!(
        relance_connectors::systems::pa::afnor_code(&suspended.status),
        Some(208)
    );
    // a status change later: read again from the cursor
    h.fake.set_invoice(
        "F-CP-1",
        "11000201100044",
        "MISE_EN_PAIEMENT",
        "2026-03-10T09:00:00+01:00",
        "2026-02-01",
        1000.0,
        1200.0,
        "",
    );
    let (more, _) = drain(&mut c, Some(cursor)).await;
    assert!(more.iter().any(|r| matches!(r, Record::Lifecycle(l) if l.invoice.as_str() == "F-CP-1" && l.status == "MISE_EN_PAIEMENT")));
}

#[tokio::test]
async fn an_error_code_in_an_http_200_is_an_error() {
    let h = Harness::new().await;
    let mut c = h.connector(&h.secret).unwrap();
    h.fake.fail_next(ChorusFault::CodeRetour);
    let e = c.pull(None).await.unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Permanent(m) if m.contains("20001") && m.contains("GDP_MSG_11.022")),
        "{e:?}"
    );
    // a wrong supplier id: the service answers 200 with codeRetour 20002
    let mut cfg = ChorusProConfig::new(
        h.fake.url(),
        h.fake.token_url(),
        "relance-app",
        h.secret.path(),
        h.account.path(),
        1,
    );
    cfg.requests_per_second = 0;
    let e = ChorusProConnector::new(cfg)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(format!("{e}").contains("20002"), "{e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("never-shown"), "{shown}");
}

/// The public buyer's intérêts moratoires run from the reception date plus 30 days, at ECB MRO
/// + 8 points (CCP R2192-31), with the 40 € indemnity (D2192-35), and the plan names the
/// rate-table row it used.
#[tokio::test]
async fn moratory_interest_from_the_reception_date_with_its_rate_row() {
    use relance_core::dunning::{plan, PlanInput, Policy, RateTable};
    let h = Harness::new().await;
    let mut c = h.connector(&h.secret).unwrap();
    let (records, _) = drain(&mut c, None).await;
    let rates: RateTable = toml::from_str(include_str!("../../config/rates/fr.toml")).unwrap();
    let mut input = PlanInput::new("co".into(), Policy::default(), rates);
    for r in records {
        match r {
            Record::Customer(c) if !input.customers.iter().any(|x| x.id == c.id) => {
                input.customers.push(c)
            }
            Record::Invoice(i) if i.number == "F-CP-0" => input.invoices.push(i),
            _ => {}
        }
    }
    let today = NaiveDate::from_ymd_opt(2026, 4, 3).unwrap();
    input.bank_data_as_of = Some(today); // reconciled this morning: nothing unapplied
    let p = plan(&input, today).unwrap();
    let inv = p
        .actions
        .iter()
        .flat_map(|a| a.invoices.iter())
        .find(|i| i.invoice.as_str() == "F-CP-0")
        .unwrap_or_else(|| panic!("not dunned: {p:?}"));
    // due 4 March (2 February + 30 days): 30 days late on 3 April
    assert_eq!(inv.days_overdue, 30);
    assert_eq!(inv.indemnity, rust_decimal_macros::dec!(40));
    assert!(inv.penalty > rust_decimal::Decimal::ZERO);
    assert!(inv.rate_source.contains("R2192-31"), "{}", inv.rate_source);
    assert!(
        inv.rate_source.contains("ecb_mro@"),
        "the rate row: {}",
        inv.rate_source
    );
}
