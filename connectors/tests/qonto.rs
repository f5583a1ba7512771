//! Qonto connector against the fake Qonto (`relance_testkit::qonto_fake`): the compliance
//! suite, refresh-token rotation (the new token stored before use, the stored one used after
//! a restart beyond the grace window, an unused one expiring after 90 days), transactions incremental by `updated_at` across pages
//! and same-second stamps, pending and declined transactions left out, a 429 mid-pull, and the
//! receipts' keys equal to those of the same movements in a camt.053 of the account.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_connectors::contract::{Record, Source};
use relance_connectors::formats::bank;
use relance_connectors::systems::qonto::{QontoConfig, QontoConnector};
use relance_connectors::ConnectorError;
use relance_testkit::compliance::{self, Fault, SourceHarness};
use relance_testkit::drain;
use relance_testkit::qonto_fake::{FakeQonto, EPOCH, GRACE_SECONDS};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

const SECRET: &str = "qonto-client-secret-never-shown-31";
const INITIAL: &str = "qonto-initial-refresh-token-never-shown";
const IBAN: &str = "FR7616958000010123456789012";
const IBAN2: &str = "FR7616958000019876543210987";

fn file(dir: &Path, name: &str, v: &str) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    writeln!(f, "{v}").unwrap();
    p
}

struct Setup {
    fake: FakeQonto,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let fake = FakeQonto::start("relance-app", SECRET, INITIAL)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        file(dir.path(), "secret", SECRET);
        file(dir.path(), "refresh", INITIAL);
        file(dir.path(), "bad-secret", "wrong");
        Setup { fake, dir }
    }
    fn config(&self, secret: &str, page: u32) -> QontoConfig {
        let mut c = QontoConfig::new(
            "relance-app",
            self.dir.path().join(secret),
            self.dir.path().join("refresh"),
        );
        c.url = self.fake.url();
        c.token_url = self.fake.token_url();
        c.page_size = page;
        c.requests_per_second = 0;
        c.overlap_seconds = 60;
        c
    }
    fn store(&self) -> PathBuf {
        self.dir
            .path()
            .join("state")
            .join("qonto-bank.refresh-token")
    }
    fn connector(&self, page: u32) -> QontoConnector {
        QontoConnector::new(self.config("secret", page), self.store()).unwrap()
    }
}

fn entries(records: &[Record]) -> Vec<(String, String, String)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::BankEntry { key, receipt } => Some((
                key.clone(),
                receipt.id.to_string(),
                receipt.amount.to_string(),
            )),
            _ => None,
        })
        .collect()
}

// ------------------------------------------------------------------------------ compliance

struct Harness(Setup);

impl SourceHarness for Harness {
    type Source = QontoConnector;
    async fn source(&self) -> Result<QontoConnector, ConnectorError> {
        QontoConnector::new(self.0.config("secret", 5), self.0.store())
    }
    async fn source_with_bad_credentials(&self) -> Option<Result<QontoConnector, ConnectorError>> {
        Some(QontoConnector::new(
            self.0.config("bad-secret", 5),
            self.0.dir.path().join("other.refresh-token"),
        ))
    }
    fn secrets(&self) -> Vec<String> {
        let mut s = vec![SECRET.to_owned(), INITIAL.to_owned()];
        s.extend(self.0.fake.last_refresh_token());
        s
    }
    fn max_page(&self) -> usize {
        5
    }
    fn min_records(&self) -> usize {
        14
    }
    fn inject(&self, f: Fault) -> bool {
        match f {
            Fault::SessionExpired => self.0.fake.expire_access_tokens(),
            Fault::ServerError => self.0.fake.fail_next(503),
            Fault::RateLimited => self.0.fake.fail_next(429),
            Fault::BusinessRule => self.0.fake.fail_next(422),
        }
        true
    }
}

#[tokio::test]
async fn qonto_source_passes_the_compliance_suite() {
    let s = Setup::new().await;
    s.fake.add_account(IBAN);
    s.fake.add_account(IBAN2);
    for i in 0..16 {
        let iban = if i % 3 == 0 { IBAN2 } else { IBAN };
        s.fake.add_tx(
            iban,
            10_000 + i * 100,
            if i % 4 == 0 { "debit" } else { "credit" },
            "completed",
            None,
            "CLIENT EXEMPLE",
            Some(&format!("VT2026-{i:03}")),
            None,
        );
    }
    let h = Harness(s);
    let report = compliance::source_suite(&h).await.unwrap();
    println!("{report}");
    assert!(report.passed.len() >= 7, "{report}");
}

// ------------------------------------------------------------------------------ tokens

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_before_use_and_wins_after_a_restart() {
    let s = Setup::new().await;
    s.fake.add_account(IBAN);
    s.fake.add_tx(
        IBAN,
        120_000,
        "credit",
        "completed",
        None,
        "ACME",
        None,
        None,
    );
    let c = s.connector(100);
    c.check().await.unwrap();
    let stored = std::fs::read_to_string(s.store()).unwrap();
    let issued = s.fake.last_refresh_token().unwrap();
    assert_eq!(stored.trim(), issued, "the new refresh token is on disk");
    assert!(!stored.contains(INITIAL));
    // beyond the grace window the initial token is dead; a restarted connector works
    s.fake.tick(GRACE_SECONDS + 1);
    assert!(!s.fake.refresh_token_valid(INITIAL));
    let mut again = s.connector(100);
    let (records, _) = drain(&mut again, None).await;
    assert_eq!(entries(&records).len(), 1);
    assert_eq!(s.fake.token_requests(), 2);
    // an hour later the access token expired: refreshed (and rotated) on the 401
    s.fake.tick(3600);
    let (records, _) = drain(&mut again, None).await;
    assert_eq!(entries(&records).len(), 1);
    assert_eq!(s.fake.token_requests(), 3);
    assert_eq!(
        std::fs::read_to_string(s.store()).unwrap().trim(),
        s.fake.last_refresh_token().unwrap()
    );
    // a lost store (and the initial token long used): Config, naming what to do
    std::fs::remove_file(s.store()).unwrap();
    let e = s.connector(100).check().await.unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("authorize relance again"), "{e}");
    assert!(!e.to_string().contains(INITIAL) && !e.to_string().contains(SECRET));
}

// ------------------------------------------------------------------------------ pull

#[tokio::test]
async fn transactions_are_pulled_incrementally_once_each_and_only_when_completed() {
    let s = Setup::new().await;
    s.fake.add_account(IBAN);
    let mut ids = Vec::new();
    // seven stamped in the same second, more than a page
    for i in 0..7 {
        ids.push(s.fake.add_tx(
            IBAN,
            5_000 + i,
            "credit",
            "completed",
            None,
            "SAME SECOND",
            None,
            None,
        ));
        s.fake.tick(-1);
    }
    s.fake.tick(1);
    let pending = s.fake.add_tx(
        IBAN, 77_700, "credit", "pending", None, "PENDING", None, None,
    );
    s.fake.add_tx(
        IBAN, 88_800, "credit", "declined", None, "DECLINED", None, None,
    );
    let mut c = s.connector(3);
    let (records, cursor) = drain(&mut c, None).await;
    let got = entries(&records);
    assert_eq!(got.len(), 7, "{got:?}");
    let unique: BTreeSet<_> = got.iter().map(|g| g.1.clone()).collect();
    assert_eq!(unique.len(), 7, "each once");
    // nothing new: nothing again
    let (records, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(entries(&records).is_empty(), "{:?}", entries(&records));
    // the pending one settles: it comes, once; a 429 on the way is waited out
    s.fake.settle(&pending, EPOCH + 30);
    s.fake.fail_next(429);
    let e = c.pull(Some(&cursor)).await.unwrap_err();
    assert!(
        matches!(
            e,
            ConnectorError::Transient {
                retry_after: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    let (records, _) = drain(&mut c, Some(cursor)).await;
    let got = entries(&records);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, pending);
    assert_eq!(got[0].2, "777.00");
}

/// A camt.053 of `iban` booking `(date, signed amount, reference)` entries in that order, as
/// a Qonto export would (its own references: not the API's ids).
fn camt(iban: &str, entries: &[(&str, &str, &str)]) -> String {
    let mut ntry = String::new();
    for (i, (date, amount, reference)) in entries.iter().enumerate() {
        let (cd, abs) = match amount.strip_prefix('-') {
            Some(a) => ("DBIT", a),
            None => ("CRDT", *amount),
        };
        ntry.push_str(&format!(
            "<Ntry><NtryRef>QNT{i:06}</NtryRef><Amt Ccy=\"EUR\">{abs}</Amt><CdtDbtInd>{cd}</CdtDbtInd><Sts>BOOK</Sts>\
<BookgDt><Dt>{date}</Dt></BookgDt><ValDt><Dt>{date}</Dt></ValDt><AcctSvcrRef>QNT-EXPORT-{i}</AcctSvcrRef>\
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><RmtInf><Ustrd>{reference}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
<GrpHdr><MsgId>QONTO-1</MsgId><CreDtTm>2026-11-03T06:00:00</CreDtTm></GrpHdr>\
<Stmt><Id>QONTO-STMT-1</Id><CreDtTm>2026-11-03T06:00:00</CreDtTm><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>\
{ntry}</Stmt></BkToCstmrStmt></Document>"
    )
}

#[tokio::test]
async fn receipts_are_keyed_like_the_same_movements_in_a_qonto_camt_export() {
    let s = Setup::new().await;
    s.fake.add_account(IBAN);
    // 2 November (Paris): two payments of 100 €, one of 250 €, a debit; 23:30 UTC is the 3rd
    let day = EPOCH; // 2026-11-02T08:00Z
    s.fake.add_tx(
        IBAN,
        10_000,
        "credit",
        "completed",
        Some(day),
        "A",
        Some("F1"),
        None,
    );
    s.fake.add_tx(
        IBAN,
        25_000,
        "credit",
        "completed",
        Some(day + 60),
        "B",
        Some("F2"),
        None,
    );
    s.fake.add_tx(
        IBAN,
        10_000,
        "credit",
        "completed",
        Some(day + 120),
        "C",
        Some("F3"),
        None,
    );
    s.fake.add_tx(
        IBAN,
        4_250,
        "debit",
        "completed",
        Some(day + 180),
        "EDF",
        None,
        None,
    );
    s.fake.add_tx(
        IBAN,
        9_900,
        "credit",
        "completed",
        Some(day + 15 * 3600 + 30 * 60),
        "LATE",
        Some("F4"),
        None,
    );
    let mut c = s.connector(2);
    let (records, _) = drain(&mut c, None).await;
    let api: BTreeSet<String> = entries(&records).into_iter().map(|e| e.0).collect();
    assert_eq!(api.len(), 5);
    let xml = camt(
        IBAN,
        &[
            ("2026-11-02", "100.00", "F1"),
            ("2026-11-02", "250.00", "F2"),
            ("2026-11-02", "100.00", "F3"),
            ("2026-11-02", "-42.50", ""),
            ("2026-11-03", "99.00", "F4"),
        ],
    );
    let f = bank::parse("qonto-2026-11.xml", xml.as_bytes());
    assert!(bank::is_usable(&f), "{:?}", f.diagnostics);
    let files: BTreeSet<String> = f.keyed_receipts().into_iter().map(|k| k.key).collect();
    assert_eq!(
        api, files,
        "the same movements give the same keys by both channels"
    );
}

#[tokio::test]
async fn a_refresh_token_unused_for_90_days_expires_into_a_configuration_error() {
    use relance_testkit::qonto_fake::REFRESH_LIFE;
    let s = Setup::new().await;
    s.fake.add_account(IBAN);
    let mut c = s.connector(100);
    drain(&mut c, None).await;
    let stored = std::fs::read_to_string(s.store()).unwrap();
    assert!(s.fake.refresh_token_valid(stored.trim()));
    s.fake.tick(REFRESH_LIFE + 1);
    assert!(!s.fake.refresh_token_valid(stored.trim()));
    let e = c.pull(None).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("invalid_grant"), "{e}");
    assert!(!e.to_string().contains(stored.trim()), "{e}");
}
