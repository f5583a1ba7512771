//! The `relance` binary against the fake Qonto (`relance_testkit::qonto_fake`, on 127.0.0.1:0
//! in this test process): `relance check` reports the source; movements read both from the API
//! and from a camt.053 in a bank folder are stored once, in both orders; `sync --once` killed
//! right after Qonto rotated the refresh token (before the access token was used) leaves the new
//! refresh token stored, so after the grace window access still works, and no transaction is
//! lost or stored twice.

use super::cli_support::{relance, show};
use relance::store::Store as _;
use relance_core::CompanyId;
use relance_testkit::qonto_fake::{FakeQonto, EPOCH, GRACE_SECONDS};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TODAY: &str = "2026-11-03";
const SECRET: &str = "qonto-e2e-client-secret-never-printed";
const INITIAL: &str = "qonto-e2e-initial-refresh-never-printed";
const IBAN: &str = "FR7616958000010123456789012";

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    /// A company `co` with a bank folder (when `bank`) and the Qonto source of `fake`.
    fn new(fake: &FakeQonto, bank: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
        std::fs::create_dir_all(dir.path().join("bank")).unwrap();
        std::fs::write(dir.path().join("secret"), format!("{SECRET}\n")).unwrap();
        std::fs::write(dir.path().join("refresh"), format!("{INITIAL}\n")).unwrap();
        std::fs::write(
            cfg.join("relance.toml"),
            format!(
                "version = 1\nstate_dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog_format = \"text\"\nlog_level = \"warn\"\n",
                dir.path().join("state").display().to_string()
            ),
        )
        .unwrap();
        let mut company = "version = 1\nid = \"co\"\nname = \"Société Qonto SAS\"\n\n".to_owned();
        if bank {
            company.push_str(&format!(
                "[[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = {:?}\nsettle_secs = 0\n\n",
                dir.path().join("bank").display().to_string()
            ));
        }
        company.push_str(&format!(
            "[[sources]]\ntype = \"qonto\"\nname = \"qonto\"\n\n[sources.qonto]\nurl = {:?}\ntoken_url = {:?}\nclient_id = \"relance-app\"\nclient_secret_file = {:?}\nrefresh_token_file = {:?}\npage_size = 3\nrequests_per_second = 0\n",
            fake.url(),
            fake.token_url(),
            dir.path().join("secret").display().to_string(),
            dir.path().join("refresh").display().to_string(),
        ));
        std::fs::write(cfg.join("companies.d/co.toml"), company).unwrap();
        Setup { dir }
    }
    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }
    fn token_file(&self) -> PathBuf {
        self.dir
            .path()
            .join("state/companies/co/qonto-qonto.refresh-token")
    }
    fn sync_cmd(&self) -> Command {
        let mut c = relance();
        c.args([
            "sync",
            "--once",
            "--company",
            "co",
            "--date",
            TODAY,
            "--config",
        ])
        .arg(self.config());
        c
    }
    fn sync_ok(&self) {
        let out = self.sync_cmd().output().unwrap();
        assert!(out.status.success(), "sync --once failed:\n{}", show(&out));
        let text = show(&out);
        assert!(
            !text.contains(SECRET) && !text.contains(INITIAL) && !text.contains("qonto-rt-"),
            "a secret in the output:\n{text}"
        );
    }
    /// The stored receipts: dedup key → (source, transaction id).
    fn receipts(&self) -> BTreeMap<String, (String, String)> {
        let store = relance::store::open_shared(&self.dir.path().join("state")).unwrap();
        store
            .receipts(&CompanyId::new("co"))
            .unwrap()
            .into_iter()
            .map(|r| (r.dedup_key, (r.source, r.receipt.id.to_string())))
            .collect()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A camt.053 of `iban` booking `(date, signed amount, reference)` in that order, with the
/// export's own references (not the API's ids).
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
<NtryDtls><TxDtls><RmtInf><Ustrd>{reference}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
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

/// Four movements of 2 November: two payments of 100 €, one of 250 €, a debit of 42.50 €.
fn movements(fake: &FakeQonto) {
    fake.add_account(IBAN);
    let day = EPOCH;
    for (cents, side, at, who, r) in [
        (10_000, "credit", 0, "CLIENT A", "F1"),
        (25_000, "credit", 60, "CLIENT B", "F2"),
        (10_000, "credit", 120, "CLIENT C", "F3"),
        (4_250, "debit", 180, "EDF", ""),
    ] {
        fake.add_tx(
            IBAN,
            cents,
            side,
            "completed",
            Some(day + at),
            who,
            Some(r).filter(|r| !r.is_empty()),
            None,
        );
    }
}

fn export() -> String {
    camt(
        IBAN,
        &[
            ("2026-11-02", "100.00", "F1"),
            ("2026-11-02", "250.00", "F2"),
            ("2026-11-02", "100.00", "F3"),
            ("2026-11-02", "-42.50", ""),
        ],
    )
}

#[test]
fn movements_from_the_api_and_a_camt_export_are_stored_once_in_both_orders() {
    let rt = rt();
    // the file first (the bank folder is the first source), then the API in the same cycle
    let fake = rt
        .block_on(FakeQonto::start("relance-app", SECRET, INITIAL))
        .unwrap();
    movements(&fake);
    let s = Setup::new(&fake, true);
    std::fs::write(s.dir.path().join("bank/qonto-novembre.xml"), export()).unwrap();
    s.sync_ok();
    let first = s.receipts();
    assert_eq!(first.len(), 4, "{first:#?}");
    assert!(
        first.values().all(|(src, _)| src == "bank"),
        "the file came first: {first:#?}"
    );
    s.sync_ok();
    assert_eq!(s.receipts(), first, "a second run adds nothing");
    drop(fake);

    // the API first, the file a cycle later
    let fake = rt
        .block_on(FakeQonto::start("relance-app", SECRET, INITIAL))
        .unwrap();
    movements(&fake);
    let s2 = Setup::new(&fake, true);
    s2.sync_ok();
    let api = s2.receipts();
    assert_eq!(api.len(), 4, "{api:#?}");
    assert!(api.values().all(|(src, _)| src == "qonto"), "{api:#?}");
    std::fs::write(s2.dir.path().join("bank/qonto-novembre.xml"), export()).unwrap();
    s2.sync_ok();
    let after = s2.receipts();
    assert_eq!(after, api, "the export added nothing");
    assert!(
        s2.dir.path().join("bank/done/qonto-novembre.xml").exists()
            || std::fs::read_dir(s2.dir.path().join("bank/done"))
                .map(|d| d.count() == 1)
                .unwrap_or(false),
        "the file was imported (moved to done/)"
    );
    // the same keys whichever channel came first
    let k1: Vec<&String> = first.keys().collect();
    let k2: Vec<&String> = after.keys().collect();
    assert_eq!(k1, k2);
}

#[test]
fn check_reports_the_qonto_source_and_a_lost_authorization() {
    let rt = rt();
    let fake = rt
        .block_on(FakeQonto::start("relance-app", SECRET, INITIAL))
        .unwrap();
    fake.add_account(IBAN);
    let s = Setup::new(&fake, false);
    let run = || {
        let out = relance()
            .arg("check")
            .arg("--config")
            .arg(s.config())
            .output()
            .unwrap();
        (out.status.success(), show(&out))
    };
    let (ok, text) = run();
    assert!(ok, "{text}");
    assert!(text.contains("co / qonto (qonto): ok"), "{text}");
    // the check rotated the token: the stored one works after the grace window
    assert_eq!(
        std::fs::read_to_string(s.token_file()).unwrap().trim(),
        fake.last_refresh_token().unwrap()
    );
    fake.tick(GRACE_SECONDS + 1);
    let (ok, text) = run();
    assert!(ok, "{text}");
    // the stored token lost and the initial one long used: a configuration error
    std::fs::remove_file(s.token_file()).unwrap();
    fake.tick(GRACE_SECONDS + 1);
    let (ok, text) = run();
    assert!(!ok, "{text}");
    assert!(
        text.contains("co / qonto (qonto): FAILED: configuration error"),
        "{text}"
    );
    assert!(text.contains("authorize relance again"), "{text}");
    assert!(!text.contains(SECRET) && !text.contains(INITIAL), "{text}");
}

#[test]
fn sync_killed_after_a_token_rotation_keeps_access_and_every_transaction_once() {
    let rt = rt();
    let fake = rt
        .block_on(FakeQonto::start("relance-app", SECRET, INITIAL))
        .unwrap();
    fake.add_account(IBAN);
    let s = Setup::new(&fake, false);
    let mut added: usize = 0;
    let mut add = |n: usize| {
        for _ in 0..n {
            added += 1;
            fake.add_tx(
                IBAN,
                1_000 + added as i64 * 7,
                "credit",
                "completed",
                None,
                "CLIENT",
                Some(&format!("F{added}")),
                None,
            );
        }
    };
    add(5);
    // the first API request after each token waits: the kill lands between the token's
    // receipt (and storage) and its use
    fake.delay_after_token(Some(Duration::from_secs(5)));
    let mut kills = 0;
    for round in 0..3 {
        let before = fake.token_requests();
        let mut child = s
            .sync_cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while fake.token_requests() == before && t.elapsed() < Duration::from_secs(20) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "sync ended before a token was issued"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            fake.token_requests() > before,
            "round {round}: no token issued"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: sync already ended"
        );
        child.kill().unwrap();
        let _ = child.wait();
        kills += 1;
        // the rotated token was stored before the kill; the old one dies with the grace window
        let issued = fake.last_refresh_token().unwrap();
        assert_eq!(
            std::fs::read_to_string(s.token_file()).unwrap().trim(),
            issued,
            "round {round}: the new refresh token was not stored before use"
        );
        fake.tick(GRACE_SECONDS + 5);
        add(4);
    }
    fake.delay_after_token(None);
    s.sync_ok();
    s.sync_ok();
    let got = s.receipts();
    let ids: std::collections::BTreeSet<&String> = got.values().map(|(_, id)| id).collect();
    assert_eq!(got.len(), added, "{got:#?}");
    assert_eq!(ids.len(), added, "each transaction once");
    let want: std::collections::BTreeSet<String> =
        fake.transactions().into_iter().map(|t| t.id).collect();
    assert_eq!(
        ids.into_iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        want,
        "none lost"
    );
    eprintln!("qonto: {added} transactions once after {kills} kills between rotation and use");
}
