//! End to end against the fakes of Pennylane, Odoo and Dolibarr (`relance_testkit`, on
//! 127.0.0.1:0 in this test process): the `relance` binary syncs, reconciles, dunns and writes
//! back; each fake is then read to show every effect exactly once — after a second run, and
//! after runs SIGKILLed at many points of their write-back batch. `relance check` reports
//! each system's reachability and credentials.

use super::cli_support::{relance, show};
use relance_connectors::systems::dolibarr::write::tag as dolibarr_tag;
use relance_testkit::dolibarr_fake::FakeDolibarr;
use relance_testkit::odoo_fake::{FakeOdoo, Switches};
use relance_testkit::pennylane_fake::FakePennylane;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TODAY: &str = "2026-01-20";
const SECRET: &str = "e2e-credential-never-printed-0001";

/// A configuration directory (state beside it) for company `co` with `company` as its file.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(company: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
        std::fs::create_dir_all(dir.path().join("bank")).unwrap();
        std::fs::write(dir.path().join("secret"), format!("{SECRET}\n")).unwrap();
        std::fs::write(
            cfg.join("relance.toml"),
            format!(
                "version = 1\nstate_dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog_format = \"text\"\nlog_level = \"warn\"\n",
                dir.path().join("state").display().to_string()
            ),
        )
        .unwrap();
        std::fs::write(cfg.join("companies.d/co.toml"), company).unwrap();
        Setup { dir }
    }
    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }
    fn secret(&self) -> String {
        self.dir.path().join("secret").display().to_string()
    }
    fn bank(&self) -> PathBuf {
        self.dir.path().join("bank")
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
    fn sync_ok(&self) -> Duration {
        let t = Instant::now();
        let out = self.sync_cmd().output().unwrap();
        assert!(out.status.success(), "sync --once failed:\n{}", show(&out));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(SECRET), "a secret in the output:\n{text}");
        t.elapsed()
    }
}

/// Starts `cmd` and SIGKILLs it after `after`; true if it was still running.
fn kill_after(mut cmd: Command, after: Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = child.try_wait().unwrap().is_none() && child.kill().is_ok();
    let _ = child.wait();
    killed
}

/// A camt.053 statement with one booked credit of `amount` naming `number`, the day before
/// today (fresh bank data for the dunning gate).
fn camt053(number: &str, payer: &str, amount: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>E2E-{TODAY}</MsgId><CreDtTm>{TODAY}T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>E2E-STMT</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>{TODAY}T06:00:00</CreDtTm>
<Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><NtryRef>1</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-01-19</Dt></BookgDt><ValDt><Dt>2026-01-19</Dt></ValDt><AcctSvcrRef>E2E00000001</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>E2E00000001</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls><RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr></RltdPties>
<RmtInf><Ustrd>FACTURE {number}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>
"#
    )
}

/// The `[relance:<key>]` markers in a text.
fn markers(text: &str) -> Vec<String> {
    text.match_indices("[relance:")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            rest.find(']').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// Everything a run left in a system: effect → how many times.
type Effects = BTreeMap<String, usize>;

fn count(into: &mut Effects, k: String) {
    *into.entry(k).or_default() += 1;
}

fn assert_each_once(e: &Effects, what: &str) {
    let twice: Vec<_> = e.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: effects applied more than once: {twice:?}"
    );
}

/// A system under test: its fake, seeded the same way each time.
trait System: Sized {
    fn start(rt: &tokio::runtime::Runtime) -> Self;
    fn company(&self, s: &Setup) -> String;
    fn bank_file(&self) -> Option<String>;
    fn effects(&self) -> Effects;
    fn name() -> &'static str;
}

/// The scenario shared by the three systems: a clean run and a repeat give a reference; a
/// fresh fake and state killed at many points, then run to the end, give the same effects,
/// each exactly once.
fn exactly_once_under_sigkill<S: System>() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t0 = Instant::now();
    // reference: a clean run to the end, then a second one that adds nothing
    let sys = S::start(&rt);
    let clean = Setup::new("");
    std::fs::write(
        clean.config().join("companies.d/co.toml"),
        sys.company(&clean),
    )
    .unwrap();
    if let Some(camt) = sys.bank_file() {
        std::fs::write(clean.bank().join("releve.camt053.xml"), camt).unwrap();
    }
    let full = clean.sync_ok();
    let reference = sys.effects();
    assert_each_once(&reference, S::name());
    assert!(
        reference.len() >= 10,
        "{}: too few effects to test kills: {reference:?}",
        S::name()
    );
    clean.sync_ok();
    assert_eq!(
        sys.effects(),
        reference,
        "{}: the second run changed the system",
        S::name()
    );
    drop(sys);

    // the same, killed at several points of its runs
    let sys = S::start(&rt);
    let s = Setup::new("");
    std::fs::write(s.config().join("companies.d/co.toml"), sys.company(&s)).unwrap();
    if let Some(camt) = sys.bank_file() {
        std::fs::write(s.bank().join("releve.camt053.xml"), camt).unwrap();
    }
    let total = reference.len();
    let mut kills = 0;
    let mut mid_batch = 0;
    for frac in [0.3, 0.45, 0.6, 0.15, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8] {
        let at = Duration::from_secs_f64((full.as_secs_f64() * frac).max(0.2));
        if !kill_after(s.sync_cmd(), at) {
            break;
        }
        kills += 1;
        let done = sys.effects().len();
        if done > 0 && done < total {
            mid_batch += 1;
        }
        assert!(
            sys.effects().values().all(|n| *n == 1),
            "{}: a killed run duplicated an effect",
            S::name()
        );
    }
    assert!(
        mid_batch > 0,
        "{}: no SIGKILL landed inside the write-back batch ({kills} kills in a {full:?} run)",
        S::name()
    );
    s.sync_ok();
    s.sync_ok();
    let got = sys.effects();
    assert_each_once(&got, S::name());
    assert_eq!(
        got,
        reference,
        "{}: killed runs left the system different from a clean run",
        S::name()
    );
    eprintln!(
        "{}: {} effects each once after {kills} kills ({mid_batch} inside the write-back batch); clean run {:.1} s, test {:.1} s",
        S::name(),
        got.len(),
        full.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------------------ Pennylane

struct Pennylane {
    fake: FakePennylane,
}

impl System for Pennylane {
    fn name() -> &'static str {
        "pennylane"
    }
    fn start(rt: &tokio::runtime::Runtime) -> Self {
        let fake = rt.block_on(FakePennylane::start(SECRET)).unwrap();
        fake.set_rate_limit(None);
        fake.set_delay(Duration::from_millis(30));
        let mut numbers = Vec::new();
        for i in 0..12 {
            let c = fake.add_customer(&format!("Client {i:02} SARL"), None);
            let n = format!("F2025-{:04}", 100 + i);
            fake.add_invoice(
                c,
                &n,
                "2025-11-15",
                "2025-12-15",
                Decimal::new(10000 + i * 1000, 2),
                "EUR",
                Decimal::ONE,
            );
            numbers.push(n);
        }
        // the bank: one transfer naming an invoice, booked yesterday
        fake.add_transaction(
            Decimal::new(13200, 2),
            &format!("VIR SEPA CLIENT 01 SARL FACTURE {}", numbers[1]),
            "2026-01-19",
        );
        Pennylane { fake }
    }
    fn company(&self, s: &Setup) -> String {
        format!(
            "version = 1\nid = \"co\"\nname = \"Société e2e SAS\"\n\n[[sources]]\ntype = \"pennylane\"\nname = \"pl\"\n\n[sources.pennylane]\nurl = {:?}\ntoken_file = {:?}\nrequests_per_window = 0\npull_transactions = true\n\n[writeback]\ntype = \"pennylane\"\nsource = \"pl\"\n\n[writeback.pennylane]\nmatching = \"relance\"\n",
            self.fake.url(),
            s.secret()
        )
    }
    fn bank_file(&self) -> Option<String> {
        None
    }
    fn effects(&self) -> Effects {
        let mut e = Effects::new();
        for (_, text) in self.fake.all_comments() {
            for m in markers(&text) {
                count(&mut e, format!("comment {m}"));
            }
        }
        for inv in self.fake.invoice_ids() {
            for tx in self.fake.matches(inv) {
                count(&mut e, format!("match {tx} → {inv}"));
            }
        }
        e
    }
}

#[test]
fn pennylane_writeback_exactly_once_under_sigkill() {
    exactly_once_under_sigkill::<Pennylane>();
}

// ----------------------------------------------------------------------------------- Odoo

struct Odoo {
    fake: FakeOdoo,
}

impl System for Odoo {
    fn name() -> &'static str {
        "odoo"
    }
    fn start(rt: &tokio::runtime::Runtime) -> Self {
        let mut sw = Switches::community(18);
        sw.credit_control = true;
        let fake = rt.block_on(FakeOdoo::start(SECRET, sw)).unwrap();
        fake.set_delay(Duration::from_millis(30));
        for i in 0..12 {
            let p = fake.add_partner(
                &format!("Client {i:02} SARL"),
                Some("732 829 320 00074"),
                Some(1),
            );
            fake.add_invoice(
                p,
                &format!("INV/2025/{:05}", 100 + i),
                "2025-11-15",
                100.0 + 10.0 * i as f64,
                false,
                1,
                1,
            );
        }
        Odoo { fake }
    }
    fn company(&self, s: &Setup) -> String {
        format!(
            "version = 1\nid = \"co\"\nname = \"Société e2e SAS\"\n\n[[sources]]\ntype = \"odoo\"\nname = \"erp\"\n\n[sources.odoo]\nurl = {:?}\ndatabase = \"fake\"\nlogin = \"relance\"\napi_key_file = {:?}\ncompany_id = 1\nrequests_per_second = 0\n\n[[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = {:?}\nsettle_secs = 0\n\n[writeback]\ntype = \"odoo\"\nsource = \"erp\"\n\n[writeback.odoo]\ndispute_tag = \"Litige\"\n",
            self.fake.url(),
            s.secret(),
            s.bank().display().to_string()
        )
    }
    fn bank_file(&self) -> Option<String> {
        // INV/2025/00101: 110.00 + 20 %
        Some(camt053("INV/2025/00101", "CLIENT 01 SARL", "132.00"))
    }
    fn effects(&self) -> Effects {
        let mut e = Effects::new();
        for m in self.fake.records("mail.message") {
            for k in markers(m["body"].as_str().unwrap_or("")) {
                count(&mut e, format!("note {k}"));
            }
        }
        for l in self.fake.records("credit.control.line") {
            count(
                &mut e,
                format!(
                    "credit control {} level {}",
                    l["move_line_id"], l["policy_level_id"]
                ),
            );
        }
        e
    }
}

#[test]
fn odoo_writeback_exactly_once_under_sigkill() {
    exactly_once_under_sigkill::<Odoo>();
}

// ------------------------------------------------------------------------------- Dolibarr

struct Dolibarr {
    fake: FakeDolibarr,
    invoices: Vec<i64>,
}

impl System for Dolibarr {
    fn name() -> &'static str {
        "dolibarr"
    }
    fn start(rt: &tokio::runtime::Runtime) -> Self {
        let fake = rt.block_on(FakeDolibarr::start(SECRET, false)).unwrap();
        fake.set_delay(Duration::from_millis(30));
        let mut invoices = Vec::new();
        for i in 0..12 {
            let c = fake.add_thirdparty(&format!("Client {i:02} SARL"), Some("732829320"));
            invoices.push(fake.add_invoice(
                c,
                &format!("FA2511-{:04}", 100 + i),
                "2025-11-15",
                Decimal::new(10000 + i * 1000, 2),
                0,
            ));
        }
        Dolibarr { fake, invoices }
    }
    fn company(&self, s: &Setup) -> String {
        format!(
            "version = 1\nid = \"co\"\nname = \"Société e2e SAS\"\n\n[[sources]]\ntype = \"dolibarr\"\nname = \"doli\"\n\n[sources.dolibarr]\nurl = {:?}\napi_key_file = {:?}\nrequests_per_second = 0\nserver_utc_offset_minutes = 60\n\n[[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = {:?}\nsettle_secs = 0\n\n[writeback]\ntype = \"dolibarr\"\nsource = \"doli\"\n\n[writeback.dolibarr]\ndunning_level_extrafield = \"relance_niveau\"\nbank_account_id = 1\npayment_mode_id = 2\n",
            self.fake.url(),
            s.secret(),
            s.bank().display().to_string()
        )
    }
    fn bank_file(&self) -> Option<String> {
        Some(camt053("FA2511-0101", "CLIENT 01 SARL", "132.00"))
    }
    fn effects(&self) -> Effects {
        let mut e = Effects::new();
        for ev in self.fake.events() {
            for k in markers(ev["note"].as_str().unwrap_or("")) {
                count(&mut e, format!("event {k}"));
                let tag = dolibarr_tag(&relance_connectors::contract::IdempotencyKey(k.clone()));
                assert!(
                    ev["label"].as_str().unwrap_or("").contains(&tag),
                    "the label carries the key's tag"
                );
            }
        }
        for inv in &self.invoices {
            for p in self.fake.payments(*inv) {
                count(&mut e, format!("payment {} on {inv}", p["num"]));
            }
        }
        e
    }
}

#[test]
fn dolibarr_writeback_exactly_once_under_sigkill() {
    exactly_once_under_sigkill::<Dolibarr>();
}

// ------------------------------------------------------------------------- relance check

#[test]
fn check_reports_reachability_and_credentials_of_each_system() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pl = Pennylane::start(&rt);
    let od = Odoo::start(&rt);
    let dl = Dolibarr::start(&rt);
    let s = Setup::new("");
    let cfg = s.config();
    for (id, text) in [
        ("pl", pl.company(&s)),
        ("od", od.company(&s)),
        ("dl", dl.company(&s)),
    ] {
        std::fs::write(
            cfg.join("companies.d").join(format!("{id}.toml")),
            text.replace("id = \"co\"", &format!("id = \"{id}\"")),
        )
        .unwrap();
    }
    // the bank folder is shared by two example companies: give each its own
    for id in ["od", "dl"] {
        let p = cfg.join("companies.d").join(format!("{id}.toml"));
        let text = std::fs::read_to_string(&p).unwrap();
        let own = s.dir.path().join(format!("bank-{id}"));
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(
            &p,
            text.replace(&s.bank().display().to_string(), &own.display().to_string()),
        )
        .unwrap();
    }
    std::fs::remove_file(cfg.join("companies.d/co.toml")).unwrap();
    let run = || {
        let out = relance()
            .arg("check")
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = run();
    assert!(ok, "{text}");
    for line in [
        "pl / pl (pennylane): ok",
        "od / erp (odoo): ok",
        "dl / doli (dolibarr): ok",
        "pl / write-back pennylane:pl: built on its source's connection",
        "od / write-back odoo:erp: built on its source's connection",
        "dl / write-back dolibarr:doli: built on its source's connection",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    // a revoked credential: FAILED, a configuration error, the secret not printed
    pl.fake.rotate_token("another-token");
    od.fake.rotate_key("another-key");
    dl.fake.rotate_key("another-key");
    let (ok, text) = run();
    assert!(!ok, "{text}");
    for sys in [
        "pl / pl (pennylane): FAILED: configuration error",
        "od / erp (odoo): FAILED: configuration error",
        "dl / doli (dolibarr): FAILED: configuration error",
    ] {
        assert!(text.contains(sys), "{sys:?} missing:\n{text}");
    }
    assert!(!text.contains(SECRET), "{text}");
    // a host that does not answer: a transient failure naming the host
    let p = cfg.join("companies.d/dl.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace(&dl.fake.url(), "http://127.0.0.1:9/api/index.php"),
    )
    .unwrap();
    let (ok, text) = run();
    assert!(!ok, "{text}");
    assert!(
        text.contains("dl / doli (dolibarr): FAILED: transient error: network error on Dolibarr"),
        "{text}"
    );
    assert!(text.contains("127.0.0.1:9"), "{text}");
}

#[test]
fn pennylane_einvoicing_statuses_reach_the_audit_log() {
    use relance::store::Store as _;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sys = Pennylane::start(&rt);
    let refused = sys.fake.invoice_ids()[3];
    sys.fake
        .set_einvoicing(refused, "refused", Some("Commande inconnue"));
    let s = Setup::new("");
    std::fs::write(s.config().join("companies.d/co.toml"), sys.company(&s)).unwrap();
    s.sync_ok();
    let store = relance::store::open_shared(&s.dir.path().join("state")).unwrap();
    let log = store
        .audit(&relance_core::CompanyId::new("co"), 0, 10_000)
        .unwrap();
    let statuses: Vec<_> = log
        .iter()
        .filter(|e| e.event.kind == relance::store::AUDIT_LIFECYCLE)
        .collect();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let e = &statuses[0].event;
    assert_eq!(e.subject, refused.to_string());
    assert_eq!(e.explanation["status"], "refused");
    assert_eq!(e.explanation["platform"], "pennylane");
    assert_eq!(e.explanation["reason"], "Commande inconnue");
}
