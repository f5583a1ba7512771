//! End-to-end acceptance against the real Tryton 8.2 test server (`tests/tryton/server.sh`):
//! the `relance` binary syncs, reconciles, dunns and provisions, and Tryton is checked over
//! JSON-RPC to show every effect exactly once — across a second run and across SIGKILLs.
//!
//! Skipped (with `SKIP:` on stderr) unless `RELANCE_TRYTON_URL` is set:
//! `eval "$(bash tests/tryton/server.sh env)"`. The tests share one server: they run one at a
//! time (a static mutex) and those that write restore the seeded snapshot first
//! (`server.sh reset`).

use super::cli_support::show;
use relance_connectors::systems::tryton::value as tv;
use relance_connectors::systems::tryton::{TrytonConfig, TrytonConnector};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One Tryton e2e test at a time: they share the server and reset it.
static SERVER: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERVER.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test server's coordinates, from `server.sh env`.
struct Env {
    url: String,
    db: String,
    user: String,
    password_file: String,
    today: String,
}

fn env() -> Option<Env> {
    let url = std::env::var("RELANCE_TRYTON_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    Some(Env {
        url,
        db: std::env::var("RELANCE_TRYTON_DB").unwrap_or_else(|_| "relance".into()),
        user: std::env::var("RELANCE_TRYTON_USER").unwrap_or_else(|_| "admin".into()),
        password_file: std::env::var("RELANCE_TRYTON_PASSWORD_FILE").unwrap_or_default(),
        today: std::env::var("RELANCE_TRYTON_TODAY").unwrap_or_else(|_| "2026-11-16".into()),
    })
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Restores the seeded snapshot (`server.sh reset`); returns how long it took.
fn reset_server() -> Duration {
    let t = Instant::now();
    let out = Command::new("bash")
        .arg(workspace().join("tests/tryton/server.sh"))
        .arg("reset")
        .output()
        .expect("run server.sh reset");
    assert!(
        out.status.success(),
        "server.sh reset failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = t.elapsed();
    eprintln!("server.sh reset: {:.1} s", d.as_secs_f64());
    d
}

/// A JSON-RPC probe of the test server, through the connector's own client.
struct Probe {
    rt: tokio::runtime::Runtime,
    c: TrytonConnector,
}

impl Probe {
    fn new(e: &Env) -> Self {
        let mut cfg = TrytonConfig::new(&e.url, &e.db, &e.user, &e.password_file);
        cfg.requests_per_second = 0;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self {
            rt,
            c: TrytonConnector::new(cfg).unwrap(),
        }
    }

    fn count(&self, model: &str, domain: Value) -> u64 {
        self.rt
            .block_on(self.c.rpc().search_count(model, domain))
            .unwrap_or_else(|e| panic!("{model}: {e}"))
    }

    fn read(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        self.rt
            .block_on(self.c.rpc().search_read(
                model,
                domain,
                0,
                None,
                json!([["id", "ASC"]]),
                fields,
            ))
            .unwrap_or_else(|e| panic!("{model}: {e}"))
    }

    /// Everything relance's write-back leaves in Tryton.
    fn effects(&self) -> Effects {
        let mut keys: BTreeMap<String, usize> = BTreeMap::new();
        let mut move_keys: BTreeMap<String, usize> = BTreeMap::new();
        let mut dunning_notes = 0;
        for n in self.read(
            "ir.note",
            json!([["message", "like", "%[relance:%"]]),
            &["message", "resource"],
        ) {
            for k in markers(n["message"].as_str().unwrap_or("")) {
                *keys.entry(k).or_default() += 1;
            }
            if n["message"]
                .as_str()
                .is_some_and(|m| m.contains("[relance:relance-dunning-"))
            {
                dunning_notes += 1;
            }
        }
        for m in self.read(
            "account.move",
            json!([["description", "like", "%[relance:%"]]),
            &["description"],
        ) {
            for k in markers(m["description"].as_str().unwrap_or("")) {
                *move_keys.entry(k).or_default() += 1;
            }
        }
        let all = json!([["active", "in", [true, false]]]);
        // Without the id: a killed run may burn sequence numbers, not change the outcome.
        let mut dunning_rows: Vec<String> = self
            .read(
                "account.dunning",
                all.clone(),
                &["line", "level", "state", "blocked"],
            )
            .iter()
            .map(|d| {
                format!(
                    "line {} level {} {} blocked {}",
                    d["line"], d["level"], d["state"], d["blocked"]
                )
            })
            .collect();
        dunning_rows.sort();
        Effects {
            keys,
            dunning_rows,
            move_keys,
            dunning_notes,
            notes: self.count("ir.note", json!([])),
            dunnings: self.count("account.dunning", all),
            moves: self.count("account.move", json!([])),
        }
    }

    /// Balance (debit − credit) of the posting account `code`.
    fn balance(&self, code: &str) -> Decimal {
        self.read(
            "account.move.line",
            json!([["account.code", "=", code]]),
            &["debit", "credit"],
        )
        .iter()
        .map(|l| {
            tv::decimal(&l["debit"], "debit").unwrap()
                - tv::decimal(&l["credit"], "credit").unwrap()
        })
        .sum()
    }
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

#[derive(Clone, Debug, PartialEq, Eq)]
struct Effects {
    /// Note markers, with how many notes carry each.
    keys: BTreeMap<String, usize>,
    /// Move markers, with how many moves carry each.
    move_keys: BTreeMap<String, usize>,
    /// Relance notes of dunning commands.
    dunning_notes: usize,
    /// Every dunning (active or not): line, level, state, blocked; sorted.
    dunning_rows: Vec<String>,
    notes: u64,
    dunnings: u64,
    moves: u64,
}

impl Effects {
    fn assert_each_once(&self) {
        let twice: Vec<_> = self
            .keys
            .iter()
            .chain(&self.move_keys)
            .filter(|(_, n)| **n != 1)
            .collect();
        assert!(
            twice.is_empty(),
            "effects applied more than once: {twice:?}"
        );
    }
}

/// An open posted customer invoice to pay in full from the bank statement.
#[derive(Clone, Debug)]
struct Target {
    id: i64,
    number: String,
    amount: Decimal,
    party: String,
}

/// The first open posted invoice, unpaid, with a single line to pay (no instalments).
fn pick_invoice(p: &Probe) -> Target {
    let rows = p.read(
        "account.invoice",
        json!([
            ["type", "=", "out"],
            ["state", "=", "posted"],
            ["total_amount", ">", 0]
        ]),
        &[
            "number",
            "total_amount",
            "amount_to_pay",
            "lines_to_pay",
            "party.name",
        ],
    );
    rows.iter()
        .find_map(|r| {
            let total = tv::decimal(&r["total_amount"], "total").ok()?;
            let to_pay = tv::decimal(&r["amount_to_pay"], "to_pay").ok()?;
            let lines = tv::ids(&r["lines_to_pay"], "lines").ok()?;
            if total != to_pay || total <= Decimal::TEN || lines.len() != 1 {
                return None;
            }
            Some(Target {
                id: r["id"].as_i64()?,
                number: r["number"].as_str()?.to_owned(),
                amount: total,
                party: r["party."]["name"].as_str()?.to_owned(),
            })
        })
        .expect("the seed has an open, unpaid invoice with one line to pay (`server.sh reset`)")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A camt.053 statement with one booked credit paying `t` exactly, its number in the
/// remittance, booked the day before `today` (fresh bank data for the dunning gate).
fn camt053(t: &Target, today: &str) -> String {
    let d: chrono::NaiveDate = today.parse().unwrap();
    let booked = d.pred_opt().unwrap();
    let amount = t.amount.round_dp(2);
    let party = xml_escape(&t.party);
    let number = xml_escape(&t.number);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>E2E-{today}</MsgId><CreDtTm>{today}T06:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>E2E-STMT-{today}</Id>
      <ElctrncSeqNb>1</ElctrncSeqNb>
      <CreDtTm>{today}T06:00:00</CreDtTm>
      <Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Ntry>
        <NtryRef>1</NtryRef>
        <Amt Ccy="EUR">{amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{booked}</Dt></BookgDt>
        <ValDt><Dt>{booked}</Dt></ValDt>
        <AcctSvcrRef>E2E{id:08}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls><Refs><AcctSvcrRef>E2E{id:08}</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls><RltdPties><Dbtr><Nm>{party}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>FACTURE {number}</Ustrd></RmtInf></TxDtls></NtryDtls>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"#,
        id = t.id,
    )
}

/// The shipped rate table plus TEST-ONLY rows covering the seed's date (2026-11-16): the
/// shipped file has no confirmed ECB rate after 2026-02-05 nor a taux légal for H2 2026, and
/// the dunning engine rightly refuses to guess. These rows are NOT real figures.
fn test_rates() -> String {
    let shipped = std::fs::read_to_string(workspace().join("config/rates/fr.toml")).unwrap();
    let confirmed = "confirmed_until = \"2026-02-05\"";
    assert!(
        shipped.contains(confirmed),
        "config/rates/fr.toml changed: update this test"
    );
    let mro_row = "# TEST-ONLY (tests/it/tryton_e2e.rs): NOT a real ECB decision, only so that\n\
                   # penalties can be computed at the test seed's date.\n\
                   [[ecb_mro.changes]]\neffective = \"2026-07-01\"\nrate_percent = \"2.15\"\n\
                   source = \"TEST-ONLY row, not a real rate\"\n\n";
    let legal_row = "# TEST-ONLY (tests/it/tryton_e2e.rs): NOT the published arrêté.\n\
                     [[taux_legal.semesters]]\nstart = \"2026-07-01\"\n\
                     natural_person_percent = \"6.67\"\nother_cases_percent = \"2.62\"\n\
                     source = \"TEST-ONLY row, not a real rate\"\n\n";
    let mut out = shipped.replace(
        confirmed,
        "# TEST-ONLY: confirmed_until moved past the seed's date.\nconfirmed_until = \"2026-12-31\"",
    );
    let legal_at = out
        .find("# Taux de l'intérêt légal")
        .expect("taux légal section");
    out.insert_str(legal_at, mro_row);
    let indemnity_at = out.find("[indemnity]").expect("indemnity section");
    out.insert_str(indemnity_at, legal_row);
    out
}

/// A configuration directory (and state directory) in a tempdir for company `fr`.
struct Setup {
    dir: tempfile::TempDir,
    target: Target,
}

impl Setup {
    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }
}

fn setup(e: &Env, p: &Probe) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let target = pick_invoice(p);
    let cfg = dir.path().join("config");
    std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
    std::fs::create_dir_all(cfg.join("rates")).unwrap();
    let bank = dir.path().join("bank");
    std::fs::create_dir_all(&bank).unwrap();
    let state = dir.path().join("state");
    std::fs::write(
        cfg.join("relance.toml"),
        format!(
            "version = 1\nstate_dir = {:?}\nlisten = \"127.0.0.1:0\"\napi = {{ listen = \"127.0.0.1:0\" }}\nlog_format = \"text\"\nlog_level = \"warn\"\n",
            state.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        cfg.join("companies.d/fr.toml"),
        format!(
            r#"version = 1
id = "fr"
name = "Société de test SAS"
currency = "EUR"

[[sources]]
type = "tryton"
name = "erp"

[sources.tryton]
url = {url:?}
database = {db:?}
user = {user:?}
password_file = {pw:?}
requests_per_second = 0

[[sources]]
type = "bank_dir"
name = "bank"
path = {bank:?}

[writeback]
type = "tryton"
source = "erp"

# TEST policy. Tryton's account_fr has no "OD" journal: its miscellaneous journal is MISC.
[provision]
journal = "MISC"

[provision.criteria]
# Low threshold so that the seed's overdue invoices qualify as doubtful at its date.
days_overdue = 30

# One row replacing the default matrix, so that the seed's invoices (at most a few months
# late) get an allowance and the allowance accounts move.
[[provision.rates]]
id = "R-TEST-60"
min_days_overdue = 60
rate = "0.40"
"#,
            url = e.url,
            db = e.db,
            user = e.user,
            pw = e.password_file,
            bank = bank.display().to_string(),
        ),
    )
    .unwrap();
    std::fs::write(cfg.join("rates/fr.toml"), test_rates()).unwrap();
    std::fs::write(
        bank.join("releve-e2e.camt053.xml"),
        camt053(&target, &e.today),
    )
    .unwrap();
    Setup { dir, target }
}

fn relance() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
    c.env_remove("RELANCE_CONFIG").env("RUST_LOG", "warn");
    c
}

fn sync_cmd(s: &Setup, today: &str) -> Command {
    let mut c = relance();
    c.args([
        "sync",
        "--once",
        "--company",
        "fr",
        "--date",
        today,
        "--config",
    ])
    .arg(s.config());
    c
}

/// Runs `sync --once` to the end; asserts success; returns the output and its duration.
fn sync_ok(s: &Setup, today: &str) -> (Output, Duration) {
    let t = Instant::now();
    let out = sync_cmd(s, today)
        .output()
        .expect("run relance sync --once");
    let d = t.elapsed();
    assert!(out.status.success(), "sync --once failed:\n{}", show(&out));
    eprintln!(
        "sync --once ({:.1} s): {}",
        d.as_secs_f64(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    (out, d)
}

/// Starts `cmd` and SIGKILLs it after `after` (if it is still running). True if killed.
fn kill_after(mut cmd: Command, after: Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relance");
    let t = Instant::now();
    while t.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Child::kill sends SIGKILL on Unix.
    let killed = child.try_wait().unwrap().is_none() && child.kill().is_ok();
    let _ = child.wait();
    killed
}

/// Runs `cmd` and SIGKILLs it as soon as `progress()` rises above its value at the start (an
/// effect landed in the remote), so the kill falls among the effects whatever the machine's
/// speed. Returns the progress seen at the kill, or `None` when the command ended by itself.
fn kill_on_progress(mut cmd: Command, progress: impl Fn() -> usize) -> Option<usize> {
    let start = progress();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relance");
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        let now = progress();
        if now > start {
            let killed = child.try_wait().unwrap().is_none() && child.kill().is_ok();
            let _ = child.wait();
            return killed.then_some(now);
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the command made no progress in 300 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn invoice_state(p: &Probe, id: i64) -> (String, Decimal) {
    let r = p.read(
        "account.invoice",
        json!([["id", "=", id]]),
        &["state", "amount_to_pay"],
    );
    (
        r[0]["state"].as_str().unwrap_or("").to_owned(),
        tv::decimal(&r[0]["amount_to_pay"], "amount_to_pay").unwrap(),
    )
}

#[test]
fn sync_once_end_to_end() {
    let Some(e) = env() else {
        relance_connectors::testkit::skip_peer(
            "RELANCE_TRYTON_URL not set (eval \"$(bash tests/tryton/server.sh env)\")",
        );
        return;
    };
    let _g = serial();
    let t0 = Instant::now();
    reset_server();
    let p = Probe::new(&e);
    let before = p.effects();
    let s = setup(&e, &p);
    eprintln!("paying {:?}", s.target);

    sync_ok(&s, &e.today);
    let after = p.effects();
    after.assert_each_once();
    // The receipt paid the invoice in Tryton.
    let (state, to_pay) = invoice_state(&p, s.target.id);
    assert!(
        state == "paid" || to_pay.is_zero(),
        "{} not reconciled in Tryton: state {state}, amount to pay {to_pay}",
        s.target.number
    );
    assert!(
        after.move_keys.len() > before.move_keys.len(),
        "no relance move in Tryton: {after:?}"
    );
    // Dunning written back: at least one dunning created/processed, with relance's note.
    assert!(
        after.dunning_notes > 0,
        "no relance note on a dunning: {after:?}"
    );
    assert!(
        after.dunning_rows != before.dunning_rows,
        "no dunning created or processed in Tryton: {before:?} → {after:?}"
    );
    assert!(after.keys.len() > before.keys.len());

    // A second run: nothing new in Tryton.
    sync_ok(&s, &e.today);
    let again = p.effects();
    assert_eq!(again, after, "the second run changed Tryton");
    eprintln!(
        "sync_once_end_to_end: {} relance keys, {} dunnings, {} moves; {:.1} s",
        again.keys.len(),
        again.dunnings,
        again.moves,
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn sigkill_during_writeback_applies_each_effect_once() {
    let Some(e) = env() else {
        relance_connectors::testkit::skip_peer(
            "RELANCE_TRYTON_URL not set (eval \"$(bash tests/tryton/server.sh env)\")",
        );
        return;
    };
    let _g = serial();
    let t0 = Instant::now();

    // Reference: a clean run to the end (then a second, which adds nothing) on a fresh seed.
    reset_server();
    let p = Probe::new(&e);
    let clean = setup(&e, &p);
    let (_, clean_time) = sync_ok(&clean, &e.today);
    sync_ok(&clean, &e.today);
    let reference = p.effects();
    reference.assert_each_once();
    drop(clean);

    // The same from a fresh seed and a fresh state, killed at several points of its runs.
    reset_server();
    let p = Probe::new(&e);
    let s = setup(&e, &p);
    // Kill points: timed ones early in a run land in the pull or the planning; then each run
    // is killed right after one more effect lands in Tryton, so those kills fall inside the
    // write-back batch whatever the machine's speed (a restart resumes from the store). Stop at
    // the first run that ends by itself.
    let full = clean_time.as_secs_f64();
    let total = reference.keys.len();
    let mut kills = 0;
    let mut mid_batch = 0;
    let mut ended = false;
    for frac in [0.15, 0.3, 0.1] {
        let at = Duration::from_secs_f64((full * frac).max(0.3));
        if !kill_after(sync_cmd(&s, &e.today), at) {
            eprintln!("run ended by itself before {:.2} s", at.as_secs_f64());
            ended = true;
            break;
        }
        kills += 1;
        let done = p.effects().keys.len();
        eprintln!(
            "SIGKILL after {:.2} s: {done}/{total} effects in Tryton",
            at.as_secs_f64()
        );
        if done > 0 && done < total {
            mid_batch += 1;
        }
    }
    for _ in 0..8 {
        if ended {
            break;
        }
        match kill_on_progress(sync_cmd(&s, &e.today), || p.effects().keys.len()) {
            Some(done) => {
                kills += 1;
                eprintln!("SIGKILL after an effect landed: {done}/{total} effects in Tryton");
                if done < total {
                    mid_batch += 1;
                }
            }
            None => {
                eprintln!("run ended by itself");
                ended = true;
            }
        }
    }
    assert!(
        mid_batch > 0,
        "no SIGKILL landed inside the write-back batch ({kills} kills): adjust the kill points"
    );
    sync_ok(&s, &e.today);
    sync_ok(&s, &e.today);
    let got = p.effects();
    got.assert_each_once();
    assert_eq!(
        (
            &got.keys,
            &got.move_keys,
            got.dunning_notes,
            got.notes,
            got.dunnings,
            got.moves,
            &got.dunning_rows
        ),
        (
            &reference.keys,
            &reference.move_keys,
            reference.dunning_notes,
            reference.notes,
            reference.dunnings,
            reference.moves,
            &reference.dunning_rows
        ),
        "killed runs left Tryton different from a clean run"
    );
    eprintln!(
        "sigkill test: {kills} kills ({mid_batch} inside the write-back batch), {} keys each once; {:.1} s",
        got.keys.len(),
        t0.elapsed().as_secs_f64()
    );
}

fn provision_cmd(s: &Setup, today: &str, out: &Path) -> Command {
    let mut c = relance();
    c.args([
        "provision",
        "--company",
        "fr",
        "--closing-date",
        today,
        "--apply",
        "--config",
    ])
    .arg(s.config())
    .arg("--out")
    .arg(out);
    c
}

fn provision_ok(s: &Setup, today: &str, out: &Path) -> Value {
    let t = Instant::now();
    let o = provision_cmd(s, today, out)
        .output()
        .expect("run relance provision");
    assert!(o.status.success(), "provision failed:\n{}", show(&o));
    eprintln!(
        "provision --apply ({:.1} s): {}",
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&o.stderr).trim()
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|err| panic!("provision JSON: {err}\n{}", show(&o)))
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
}

#[test]
fn provision_apply_posts_moves_once() {
    let Some(e) = env() else {
        relance_connectors::testkit::skip_peer(
            "RELANCE_TRYTON_URL not set (eval \"$(bash tests/tryton/server.sh env)\")",
        );
        return;
    };
    let _g = serial();
    let t0 = Instant::now();
    reset_server();
    let p = Probe::new(&e);
    let s = setup(&e, &p);
    sync_ok(&s, &e.today);
    let accounts = ["416", "491", "68174"];
    let before: Vec<Decimal> = accounts.iter().map(|a| p.balance(a)).collect();
    let out = s.dir.path().join("closing");

    // First apply, SIGKILLed early (before any posting, during start-up and planning), then
    // each time right after a move lands in Tryton (each restart resumes the outbox), then run
    // to the end.
    let moves_before = p.effects().move_keys.len();
    let mut mid_batch = 0;
    for ms in [300, 800] {
        if !kill_after(provision_cmd(&s, &e.today, &out), Duration::from_millis(ms)) {
            eprintln!("provision ended by itself before {ms} ms");
            break;
        }
        let posted = p.effects().move_keys.len() - moves_before;
        eprintln!("provision SIGKILL after {ms} ms: {posted} moves posted");
    }
    for _ in 0..5 {
        match kill_on_progress(provision_cmd(&s, &e.today, &out), || {
            p.effects().move_keys.len()
        }) {
            Some(n) => {
                mid_batch += 1;
                eprintln!(
                    "provision SIGKILL after a posting: {} moves posted",
                    n - moves_before
                );
            }
            None => {
                eprintln!("provision ended by itself");
                break;
            }
        }
    }
    let table = provision_ok(&s, &e.today, &out);
    let entries = table["entries"].as_array().map_or(0, Vec::len);
    assert!(
        entries > 0,
        "no provision entry: lower the test's days_overdue?\n{table:#}"
    );
    let totals = &table["totals"];
    let after: Vec<Decimal> = accounts.iter().map(|a| p.balance(a)).collect();
    let delta: Vec<Decimal> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    // 416 is a debit balance (doubtful receivables TTC), 491 a credit one (allowances),
    // 68174 a debit one (this closing's allowances).
    assert_eq!(
        delta[0],
        dec(&totals["doubtful_ttc"]),
        "416 vs table\n{totals:#}"
    );
    assert_eq!(
        -delta[1],
        dec(&totals["new_provision"]) - dec(&totals["previous_provision"]),
        "491 vs table\n{totals:#}"
    );
    assert_eq!(
        delta[2],
        dec(&totals["increase"]),
        "68174 vs table\n{totals:#}"
    );
    let effects = p.effects();
    effects.assert_each_once();
    assert_eq!(
        effects.move_keys.len() - moves_before,
        entries,
        "one move per entry"
    );
    assert!(
        mid_batch > 0,
        "no SIGKILL landed after the first posting: adjust the kill points"
    );

    // Second apply: no new move.
    let table2 = provision_ok(&s, &e.today, &out);
    assert_eq!(table2["totals"], table["totals"]);
    let effects2 = p.effects();
    assert_eq!(effects2, effects, "the second provision run changed Tryton");
    let after2: Vec<Decimal> = accounts.iter().map(|a| p.balance(a)).collect();
    assert_eq!(after2, after);
    eprintln!(
        "provision_apply_posts_moves_once: {entries} entries, balances {:?} → {:?}; {:.1} s",
        before,
        after,
        t0.elapsed().as_secs_f64()
    );
}
