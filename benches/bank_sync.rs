//! Big bank files end to end: a camt.053 and an MT940 of about 500 MB each (≈1 million
//! entries for the camt) dropped in a company's `bank_dir`, then one `relance sync --once` of
//! the release binary per file: the file streamed, checked, hashed and committed to the sled
//! store in bounded pages, moved to `done/`, then the cycle (reconciliation, dunning plan)
//! over the store. Beside it, in the same run, a bare quick-xml event scan of the same file
//! read from disk (the floor no parser can beat), and for the MT940 a bare line scan too;
//! and `relance inspect` of the same file.
//! A second `sync --once` with nothing new measures the cycle alone over what was stored.
//!
//! Peak RSS of each `relance` process: GNU time's maximum resident set size when
//! `/usr/bin/time` exists (exact, from `wait4`), else the last `VmHWM` read from
//! `/proc/<pid>/status` every 10 ms while it runs.
//!
//! `cargo bench --bench bank_sync` (size: `RELANCE_BANK_SYNC_MB`, default 500; format:
//! `RELANCE_BANK_SYNC_FORMAT` = `camt`, `mt940` or `all`, the default). A one-shot measure,
//! not a criterion sampling loop: one run moves the files it measures.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::NaiveDate;
use relance_connectors::formats::bank::write;
use rust_decimal::Decimal;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "FR7630006000011234567890189";

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

fn cents(i: u64) -> i64 {
    ((i * 7919) % 500_000 + 1) as i64
}

fn spec(i: u64) -> write::EntrySpec {
    let credit = i % 10 != 3;
    let c = cents(i);
    write::EntrySpec {
        amount: Decimal::new(if credit { c } else { -c }, 2),
        booking_date: day(),
        value_date: Some(day()),
        acct_svcr_ref: Some(format!("BQ{i:012}")),
        end_to_end_id: Some(format!("E2E-{i:010}")),
        mandate_id: None,
        debtor_name: credit.then(|| format!("CLIENT {} SARL", i % 5000)),
        debtor_iban: credit.then(|| "FR1420041010050500013M02606".to_owned()),
        creditor_name: (!credit).then(|| "FOURNISSEUR SAS".to_owned()),
        creditor_iban: None,
        remittance: Some(format!("FACTURE VT2026_{:06} REGLEMENT", i % 1_000_000)),
        structured_ref: None,
        bank_code: None,
        reversal: false,
        return_reason: None,
    }
}

/// A camt.053 of at least `mb` MB whose balances add up: its entry count.
fn write_camt(path: &Path, mb: u64) -> u64 {
    let mut probe = Vec::new();
    let h = |closing| write::Header {
        msg_id: "BENCH-1",
        statement_id: "BENCH-STMT-1",
        created: day(),
        account_iban: ACCOUNT,
        currency: "EUR",
        opening: (Decimal::ZERO, day()),
        closing: (closing, day()),
    };
    let mut w = write::Camt053Writer::begin(&mut probe, &h(Decimal::ZERO)).unwrap();
    for i in 0..100 {
        w.entry(&spec(i)).unwrap();
    }
    let _ = w.finish().unwrap();
    let n = mb * 1_000_000 / (probe.len() as u64 / 100).max(1);
    let closing: Decimal = (0..n).map(|i| spec(i).amount).sum();
    let f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut w = write::Camt053Writer::begin(f, &h(closing)).unwrap();
    for i in 0..n {
        w.entry(&spec(i)).unwrap();
    }
    w.finish().unwrap().0.flush().unwrap();
    n
}

/// An MT940 of at least `mb` MB, one statement, balances adding up: its entry count.
fn write_mt940(path: &Path, mb: u64) -> u64 {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(w, ":20:BENCH\n:25:{ACCOUNT}\n:28C:1\n:60F:C261130EUR0,00").unwrap();
    let (mut n, mut written, mut sum) = (0u64, 0u64, 0i64);
    while written < mb * 1_000_000 {
        n += 1;
        let s = spec(n);
        let c = cents(n);
        let (mark, party) = match &s.debtor_name {
            Some(d) => ('C', d.as_str()),
            None => ('D', "FOURNISSEUR SAS"),
        };
        sum += if mark == 'C' { c } else { -c };
        let line = format!(
            ":61:2611301130{mark}{},{:02}NTRFNONREF//BQ{n:012}\n:86:/EREF/E2E-{n:010}/NAME/{party}/REMI/USTD//{}/\n",
            c / 100,
            c % 100,
            s.remittance.unwrap_or_default()
        );
        written += line.len() as u64;
        w.write_all(line.as_bytes()).unwrap();
    }
    let (mark, abs) = if sum < 0 { ('D', -sum) } else { ('C', sum) };
    writeln!(w, ":62F:{mark}261130EUR{},{:02}\n-", abs / 100, abs % 100).unwrap();
    w.flush().unwrap();
    n
}

/// A bare quick-xml event scan of the file, read from disk: events.
fn xml_scan(path: &Path) -> u64 {
    let mut r = quick_xml::Reader::from_reader(BufReader::with_capacity(
        256 * 1024,
        std::fs::File::open(path).unwrap(),
    ));
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(_) => n += 1,
        }
        buf.clear();
    }
}

/// A bare line scan of the file counting `:61:` lines.
fn line_scan(path: &Path) -> u64 {
    let mut r = BufReader::with_capacity(256 * 1024, std::fs::File::open(path).unwrap());
    let mut line = Vec::new();
    let mut n = 0;
    while r.read_until(b'\n', &mut line).unwrap() > 0 {
        n += u64::from(line.starts_with(b":61:"));
        line.clear();
    }
    n
}

fn write_config(dir: &Path) {
    std::fs::create_dir_all(dir.join("companies.d")).unwrap();
    std::fs::write(
        dir.join("relance.toml"),
        "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\napi = { listen = \"127.0.0.1:0\" }\nlog_format = \"text\"\nlog_level = \"warn\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("companies.d/bench.toml"),
        "version = 1\nid = \"bench\"\nname = \"Atelier Lumière SAS\"\nsiren = \"812345676\"\n\
         currency = \"EUR\"\n\n[[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\n\
         path = \"bank\"\nsettle_secs = 0\n\n[writeback]\ntype = \"none\"\n",
    )
    .unwrap();
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `relance sync --once` on `dir`: seconds, peak RSS in KiB, how it was measured.
fn sync(dir: &Path) -> (f64, u64, &'static str) {
    let d = dir.display().to_string();
    measure(
        dir,
        &["sync", "--once", "--date", "2026-12-03", "--config", &d],
    )
}

/// Runs `relance <args>` (its output discarded, it must succeed): seconds, peak RSS in KiB,
/// how it was measured. `scratch` holds GNU time's output.
fn measure(scratch: &Path, args: &[&str]) -> (f64, u64, &'static str) {
    let dir = scratch;
    let gnu_time = Path::new("/usr/bin/time").exists();
    let rss_file = dir.join("maxrss.txt");
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file);
        c.arg(env!("CARGO_BIN_EXE_relance"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_relance"))
    };
    let err_file = dir.join("stderr.txt");
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_file).unwrap());
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut polled = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if !gnu_time {
            polled = polled.max(vm_hwm_kib(child.id()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        panic!(
            "relance {args:?} failed: {}",
            std::fs::read_to_string(&err_file).unwrap_or_default()
        );
    }
    if gnu_time {
        let kib = std::fs::read_to_string(&rss_file)
            .unwrap()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap();
        (secs, kib, "GNU time")
    } else {
        (secs, polled, "VmHWM polled")
    }
}

fn run(format: &str, mb: u64) {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let bank = dir.path().join("state/bank");
    std::fs::create_dir_all(&bank).unwrap();
    let file: PathBuf = bank.join(if format == "camt" {
        "releve.xml"
    } else {
        "releve.sta"
    });
    let entries = if format == "camt" {
        write_camt(&file, mb)
    } else {
        write_mt940(&file, mb)
    };
    let size = std::fs::metadata(&file).unwrap().len() as f64 / 1e6;

    let t = Instant::now();
    let events = xml_scan(&file);
    let xml_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let lines = line_scan(&file);
    let line_s = t.elapsed().as_secs_f64();

    let f = file.display().to_string();
    let (inspect_s, inspect_rss, _) = measure(dir.path(), &["inspect", &f]);
    let (sync_s, rss, how) = sync(dir.path());
    let done = dir
        .path()
        .join("state/bank/done")
        .join(file.file_name().unwrap());
    assert!(done.exists(), "the file was not imported");
    let (again_s, again_rss, _) = sync(dir.path());

    println!(
        "{format:<6} {size:>6.1} MB {entries:>8} entries | sync --once {sync_s:>6.1} s {:>6.1} MB/s, peak RSS {:>6.1} MiB ({how}) | \
         cycle alone over the stored receipts {again_s:>5.1} s, peak RSS {:>6.1} MiB | \
         inspect {inspect_s:>5.1} s, peak RSS {:>6.1} MiB | \
         quick-xml scan {xml_s:>5.2} s {:>7.1} MB/s ({events} events) | line scan {line_s:>5.2} s {:>7.1} MB/s ({lines} :61:) | \
         sync / quick-xml speed {:.2}",
        size / sync_s,
        rss as f64 / 1024.0,
        again_rss as f64 / 1024.0,
        inspect_rss as f64 / 1024.0,
        size / xml_s,
        size / line_s,
        xml_s / sync_s,
    );
}

fn main() {
    let mb = std::env::var("RELANCE_BANK_SYNC_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let format = std::env::var("RELANCE_BANK_SYNC_FORMAT").unwrap_or_else(|_| "all".to_owned());
    for f in ["camt", "mt940"] {
        if format == "all" || format == f {
            run(f, mb);
        }
    }
}
