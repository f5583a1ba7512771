//! Full-cycle benchmark: C companies (default 1 000), each pulling N invoices (default 2 000)
//! from a fake Dolibarr on 127.0.0.1 (one fake; every company sees the same invoices, as
//! companies of one firm's dossiers would see theirs) and one bank statement of R receipts
//! (default 200, each paying an invoice) from its bank folder, then reconciling and planning
//! its dunning (a share of the invoices overdue, nothing written back): what one company's
//! first cycle does. Run by release `relance daemon` processes: one on sled, then one, two and
//! three sharing the companies by lease on PostgreSQL, in the same run; the figure is
//! companies per minute, from the daemons' start to the last company's first successful
//! cycle (read from their metrics).
//!
//! `cargo bench --bench cycle` (sizes: `RELANCE_BENCH_COMPANIES`, `RELANCE_BENCH_INVOICES`,
//! `RELANCE_BENCH_RECEIPTS`; `RELANCE_BENCH_INSTANCES=1,2,3`). PostgreSQL is the server of
//! tests/pg/server.sh (`eval "$(bash tests/pg/server.sh env)"`; `PG_DURABLE=1` for fsync as
//! sled does); without `RELANCE_PG_URL` only sled runs.
//! A one-shot throughput measure, not a criterion sampling loop (one sample is minutes).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::NaiveDate;
use relance::store::postgres::PgConfig;
use relance::store::PgStore;
use relance_testkit::dolibarr_fake::FakeDolibarr;
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "bench-dolibarr-key";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Invoice i's amount before VAT: 100.00 + 0.83 i.
fn ht(i: usize) -> Decimal {
    Decimal::new(10_000 + 83 * i as i64, 2)
}

/// A camt.053 statement of `receipts` credits, the i-th paying invoice i in full.
fn statement(receipts: usize, day: NaiveDate) -> String {
    let mut entries = String::new();
    for i in 0..receipts {
        // The fake's VAT: 20 % rounded to the cent.
        let amount = ht(i) + (ht(i) * Decimal::new(2, 1)).round_dp(2);
        write!(
            entries,
            r#"<Ntry><NtryRef>{i}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>BN{i:09}</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>BN{i:09}</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls><RltdPties><Dbtr><Nm>CLIENT {:03} SARL</Nm></Dbtr></RltdPties>
<RmtInf><Ustrd>FACTURE FB-{:06}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
"#,
            i % 50,
            i
        )
        .unwrap();
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>{day}T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>BENCH-STMT-1</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>{day}T18:00:00</CreDtTm>
<Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id><Ccy>EUR</Ccy></Acct>
{entries}</Stmt></BkToCstmrStmt></Document>
"#
    )
}

/// Writes a configuration of `companies` companies on `store` (a `store = …` line or "").
fn write_config(dir: &Path, store: &str, companies: usize, url: &str, stmt: &str) {
    std::fs::create_dir_all(dir.join("companies.d")).unwrap();
    std::fs::write(dir.join("dolibarr.key"), format!("{KEY}\n")).unwrap();
    std::fs::write(
        dir.join("relance.toml"),
        format!(
            "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\napi = {{ listen = \"127.0.0.1:0\" }}\nlog_format = \"text\"\nlog_level = \"warn\"\nshutdown_timeout_secs = 30\n{store}"
        ),
    )
    .unwrap();
    for c in 0..companies {
        let id = format!("b{c:04}");
        let bank = dir.join("state/inbox").join(&id).join("bank");
        std::fs::create_dir_all(&bank).unwrap();
        std::fs::write(bank.join("releve.camt053.xml"), stmt).unwrap();
        std::fs::write(
            dir.join(format!("companies.d/{id}.toml")),
            format!(
                "version = 1\nid = \"{id}\"\nname = \"{id} SAS\"\npoll_interval_secs = 86400\n\n\
                 [[sources]]\ntype = \"dolibarr\"\nname = \"doli\"\n\n[sources.dolibarr]\nurl = {url:?}\n\
                 api_key_file = \"dolibarr.key\"\nrequests_per_second = 0\nserver_utc_offset_minutes = 60\n\n\
                 [[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = \"inbox/{id}/bank\"\nsettle_secs = 0\n"
            ),
        )
        .unwrap();
    }
}

struct Daemon {
    child: Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, n: usize) -> Daemon {
    let runtime = dir.join(format!("run{n}"));
    std::fs::create_dir_all(&runtime).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_relance"))
        .arg("daemon")
        .arg("--config")
        .arg(dir)
        .env("RUST_LOG", "warn,relance::daemon=info")
        .env("RUNTIME_DIRECTORY", &runtime)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    Daemon { child, log }
}

fn addr(d: &Daemon) -> String {
    let end = Instant::now() + Duration::from_secs(300);
    loop {
        let log = d.log.lock().unwrap().clone();
        if let Some(at) = log.find("addr=127.0.0.1:") {
            return log[at + 5..].split_whitespace().next().unwrap().to_owned();
        }
        assert!(Instant::now() < end, "daemon did not listen:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Companies with a successful cycle, and companies with a failed one, on one instance.
fn cycled(addr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return Default::default();
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut page = String::new();
    let _ = s.read_to_string(&mut page);
    let (mut ok, mut failed) = (BTreeSet::new(), BTreeSet::new());
    for l in page
        .lines()
        .filter(|l| l.starts_with("relance_cycles_total{"))
    {
        let Some(c) = l
            .split("company=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        if l.contains("outcome=\"ok\"") {
            ok.insert(c.to_owned());
        } else {
            failed.insert(c.to_owned());
        }
    }
    (ok, failed)
}

/// Starts `instances` daemons on the configuration in `dir` and times every company's first
/// successful cycle. Returns companies per minute.
fn run(label: &str, dir: &Path, instances: usize, companies: usize, invoices: usize) -> f64 {
    let started = Instant::now();
    let daemons: Vec<Daemon> = (0..instances).map(|n| start(dir, n)).collect();
    let addrs: Vec<String> = daemons.iter().map(addr).collect();
    let limit = Duration::from_secs(3 * 3600);
    loop {
        let (mut ok, mut failed) = (BTreeSet::new(), BTreeSet::new());
        for a in &addrs {
            let (o, f) = cycled(a);
            ok.extend(o);
            failed.extend(f);
        }
        if ok.len() >= companies {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "{label}: {} of {companies} companies cycled; failed: {failed:?}",
            ok.len()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let secs = started.elapsed().as_secs_f64();
    let per_min = companies as f64 * 60.0 / secs;
    println!(
        "{label}: {companies} companies × {invoices} invoices, first cycles done in {secs:.1} s: {per_min:.1} companies/min ({:.0} invoices/s)",
        (companies * invoices) as f64 / secs
    );
    for d in &daemons {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(d.child.id().to_string())
            .status();
    }
    for mut d in daemons {
        let end = Instant::now() + Duration::from_secs(60);
        while d.child.try_wait().unwrap().is_none() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    per_min
}

fn pg_admin() -> Option<(PgConfig, String, String)> {
    let url = std::env::var("RELANCE_PG_URL").ok()?;
    let pw_file = std::env::var("RELANCE_PG_PASSWORD_FILE").ok()?;
    let pw = std::fs::read_to_string(&pw_file).ok()?;
    let cfg = PgConfig::new(&url, Some(pw.lines().next().unwrap_or(""))).ok()?;
    Some((cfg, url, pw_file))
}

fn main() {
    let companies = env("RELANCE_BENCH_COMPANIES", 1_000);
    let invoices = env("RELANCE_BENCH_INVOICES", 2_000);
    let receipts = env("RELANCE_BENCH_RECEIPTS", 200).min(invoices);
    let counts: Vec<usize> = std::env::var("RELANCE_BENCH_INSTANCES")
        .unwrap_or_else(|_| "1,2,3".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeDolibarr::start(KEY, false)).unwrap();
    let today = relance::clock::Clock::System.today();
    let customers: Vec<i64> = (0..50)
        .map(|i| fake.add_thirdparty(&format!("Client {i:03} SARL"), Some("732829320")))
        .collect();
    for i in 0..invoices {
        // One in ten overdue by 36 days; the others issued ten days ago, due in twenty.
        let issued = today - chrono::Duration::days(if i % 10 == 9 { 66 } else { 10 });
        fake.add_invoice(
            customers[i % customers.len()],
            &format!("FB-{i:06}"),
            &issued.format("%Y-%m-%d").to_string(),
            ht(i),
            0,
        );
    }
    let stmt = statement(receipts, today.pred_opt().unwrap());
    println!(
        "cycle bench: {companies} companies, {invoices} invoices each (one in ten overdue), {receipts} receipts each; one fake Dolibarr on 127.0.0.1"
    );

    let sled_dir = tempfile::tempdir().unwrap();
    write_config(sled_dir.path(), "", companies, &fake.url(), &stmt);
    let sled = run("sled, 1 instance", sled_dir.path(), 1, companies, invoices);
    drop(sled_dir);

    let Some((admin, url, pw_file)) = pg_admin() else {
        println!("postgres: SKIP (RELANCE_PG_URL unset: eval \"$(bash tests/pg/server.sh env)\")");
        return;
    };
    for n in counts {
        let name = format!("relance_bench_cycle_{}_{n}", std::process::id());
        let _ = PgStore::drop_database(&admin, &name);
        let db = PgStore::create_database(&admin, &name).expect("create the bench database");
        let fsync = PgStore::open(&db)
            .and_then(|s| s.setting("fsync"))
            .unwrap_or_default();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pg.url"),
            format!("{}\n", url.replace("/postgres", &format!("/{name}"))),
        )
        .unwrap();
        let store = format!(
            "store = {{ type = \"postgres\", url_file = \"pg.url\", password_file = {pw_file:?} }}\n"
        );
        write_config(dir.path(), &store, companies, &fake.url(), &stmt);
        let pg = run(
            &format!("postgres (fsync={fsync}), {n} instance(s)"),
            dir.path(),
            n,
            companies,
            invoices,
        );
        println!("  postgres {n} / sled 1: {:.2}×", pg / sled);
        drop(dir);
        let _ = PgStore::drop_database(&admin, &name);
    }
}
