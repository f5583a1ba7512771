//! Big-statement benchmark: generates a statement of about 500 MB (≈1 million entries) in a
//! temporary directory, then, in this order and in this process, (1) scans it bare (camt: a
//! quick-xml event scan counting `Ntry`; the line formats: a line scan counting entry lines;
//! OFX: a scan counting `<STMTTRN>`) and (2) parses it with `formats::bank::parse_reader`
//! (streamed, checks on) converting every entry into receipts, and (3) reads it through
//! `formats::bank::receipt_batches` (receipts with their deduplication keys, batches of 10 000).
//! Prints entries/s, MB/s and the peak RSS of each phase: `VmHWM` from `/proc/self/status`,
//! reset before each phase by writing `5` to `/proc/self/clear_refs` (when the kernel refuses,
//! the figure is the process peak so far, said so).
//!
//! `cargo bench -p relance-connectors --bench bank_big`. Format: `RELANCE_BANK_BIG_FORMAT`
//! (`camt` by default, `mt940`, `cfonb`, `ofx`, or `all`). Size: at least `RELANCE_BANK_BIG_MB`
//! megabytes (default 500) and, for camt, at least `RELANCE_BANK_BIG_ENTRIES` entries (default
//! 1,000,000). Exits with status 1 when a parse's peak RSS reaches 100 MiB.

use chrono::NaiveDate;
use quick_xml::events::Event;
use relance_connectors::formats::bank::{self, write, BankEvent};
use rust_decimal::Decimal;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

const BUDGET_KIB: u64 = 100 * 1024;

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak-RSS counter; false when the kernel does not allow it.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn entry(i: u64, day: NaiveDate) -> write::EntrySpec {
    let cents = ((i * 7919) % 500_000 + 1) as i64;
    let credit = i % 10 != 3;
    let amount = Decimal::new(if credit { cents } else { -cents }, 2);
    write::EntrySpec {
        amount,
        booking_date: day,
        value_date: Some(day),
        acct_svcr_ref: Some(format!("BQ{i:012}")),
        end_to_end_id: Some(format!("E2E-{i:010}")),
        mandate_id: i
            .is_multiple_of(7)
            .then(|| format!("RUM-{:06}", i % 100_000)),
        debtor_name: credit.then(|| format!("CLIENT {} SARL", i % 5000)),
        debtor_iban: credit.then(|| "FR1420041010050500013M02606".to_owned()),
        creditor_name: (!credit).then(|| "FOURNISSEUR SAS".to_owned()),
        creditor_iban: None,
        remittance: Some(format!(
            "FACTURE VT2026_{:06} REGLEMENT CLIENT",
            i % 1_000_000
        )),
        structured_ref: i.is_multiple_of(10).then(|| "RF18539007547034".to_owned()),
        bank_code: None,
        reversal: false,
        return_reason: None,
    }
}

/// Writes a camt.053 of about `target_mb` MB (at least `min_entries`): entry count.
fn write_camt(path: &std::path::Path, target_mb: u64, min_entries: u64) -> u64 {
    let day = NaiveDate::from_ymd_opt(2026, 2, 2).unwrap_or_default();
    // size of one entry, to pick the count; then the closing balance (balances precede entries)
    let mut probe = Vec::new();
    let per_entry = {
        let h = write::Header {
            msg_id: "M",
            statement_id: "S",
            created: day,
            account_iban: "FR7630006000011234567890189",
            currency: "EUR",
            opening: (Decimal::ZERO, day),
            closing: (Decimal::ZERO, day),
        };
        let mut w = write::Camt053Writer::begin(&mut probe, &h).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..100 {
            w.entry(&entry(i, day)).unwrap_or_else(|e| panic!("{e}"));
        }
        let _ = w.finish();
        probe.len() as u64 / 100
    };
    let n = (target_mb * 1_000_000 / per_entry.max(1)).max(min_entries);
    let opening = Decimal::new(10_000_000, 2);
    let closing = opening + (0..n).map(|i| entry(i, day).amount).sum::<Decimal>();
    let f = File::create(path).unwrap_or_else(|e| panic!("{e}"));
    let h = write::Header {
        msg_id: "BENCH-1",
        statement_id: "BENCH-STMT-1",
        created: day,
        account_iban: "FR7630006000011234567890189",
        currency: "EUR",
        opening: (opening, day),
        closing: (closing, day),
    };
    let mut w = write::Camt053Writer::begin(BufWriter::with_capacity(1 << 20, f), &h)
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        w.entry(&entry(i, day)).unwrap_or_else(|e| panic!("{e}"));
    }
    let (mut out, _) = w.finish().unwrap_or_else(|e| panic!("{e}"));
    out.flush().unwrap_or_else(|e| panic!("{e}"));
    n
}

/// Writes an MT940, CFONB 120 or OFX file of about `target_mb` MB whose balances add up:
/// entry count.
fn write_text(path: &std::path::Path, format: &str, target_mb: u64) -> u64 {
    let mut w = BufWriter::with_capacity(
        1 << 20,
        File::create(path).unwrap_or_else(|e| panic!("{e}")),
    );
    let target = target_mb * 1_000_000;
    let mut written = 0u64;
    let mut put = |s: &str, written: &mut u64| {
        *written += s.len() as u64;
        w.write_all(s.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    };
    let mut n = 0u64;
    let mut sum: i64 = 0;
    let amount = |i: u64| ((i * 7919) % 500_000 + 1) as i64;
    match format {
        "mt940" => {
            put(
                ":20:BENCH\n:25:FR7630004000031234567890143\n:28C:1\n:60F:C260101EUR0,00\n",
                &mut written,
            );
            while written < target {
                n += 1;
                let a = amount(n);
                sum += a;
                put(&format!(
                    ":61:2601020102C{},{:02}NTRFNONREF//BQ{n:012}\n:86:/EREF/E2E-{n:010}/CNTP/FR1420041010050500013M02606/CMCIFRPP/CLIENT {} SARL/PARIS//REMI/USTD//FACTURE VT2026_{:06} REGLEMENT CLIENT/\n",
                    a / 100, a % 100, n % 5000, n % 1_000_000
                ), &mut written);
            }
            put(
                &format!(":62F:C260102EUR{},{:02}\n-\n", sum / 100, sum % 100),
                &mut written,
            );
        }
        "cfonb" => {
            let rec = |code: &str| format!("{code}30004    00031EUR2 31234567890  ");
            let overpunch = |v: i64| {
                let s = format!("{:014}", v);
                let last = (s.as_bytes()[13] - b'0') as usize;
                format!(
                    "{}{}",
                    &s[..13],
                    ['{', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'][last]
                )
            };
            put(
                &format!(
                    "{:<120}\n",
                    format!("{}020126{:50}{}", rec("01"), "", overpunch(0))
                ),
                &mut written,
            );
            while written < target {
                n += 1;
                let a = amount(n);
                sum += a;
                put(
                    &format!(
                        "{:<120}\n",
                        format!(
                            "{}020126  020126{:<31}  {:07}  {}{:<16}",
                            rec("04"),
                            format!("VIR SEPA CLIENT {} SARL", n % 5000),
                            n % 10_000_000,
                            overpunch(a),
                            format!("BQ{n:012}")
                        )
                    ),
                    &mut written,
                );
            }
            put(
                &format!(
                    "{:<120}\n",
                    format!("{}020126{:50}{}", rec("07"), "", overpunch(sum))
                ),
                &mut written,
            );
        }
        _ => {
            put("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:1252\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30004<ACCTID>000123456<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST><DTSTART>20260101<DTEND>20260131\n", &mut written);
            while written < target {
                n += 1;
                let a = amount(n);
                sum += a;
                put(&format!(
                    "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260102<TRNAMT>{}.{:02}<FITID>OFX{n:012}<NAME>CLIENT {} SARL<MEMO>FACTURE VT2026_{:06} REGLEMENT CLIENT</STMTTRN>\n",
                    a / 100, a % 100, n % 5000, n % 1_000_000
                ), &mut written);
            }
            put(&format!("</BANKTRANLIST><LEDGERBAL><BALAMT>{}.{:02}<DTASOF>20260131</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n", sum / 100, sum % 100), &mut written);
        }
    }
    w.flush().unwrap_or_else(|e| panic!("{e}"));
    n
}

/// The bare scan of a file: camt with quick-xml, the others by lines or tags.
fn scan(path: &std::path::Path, format: &str) -> u64 {
    let input = BufReader::with_capacity(
        64 * 1024,
        File::open(path).unwrap_or_else(|e| panic!("{e}")),
    );
    let mut n = 0u64;
    if format == "camt" {
        let mut reader = quick_xml::Reader::from_reader(input);
        let mut buf = Vec::with_capacity(4096);
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) if e.local_name().as_ref() == b"Ntry" => n += 1,
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("scan: {e}"),
            }
            buf.clear();
        }
        return n;
    }
    use std::io::BufRead;
    let mut input = input;
    let mut line = Vec::with_capacity(256);
    let marker: &[u8] = match format {
        "mt940" => b":61:",
        "cfonb" => b"04",
        _ => b"<STMTTRN>",
    };
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                if line.starts_with(marker) {
                    n += 1;
                }
            }
            Err(e) => panic!("scan: {e}"),
        }
    }
    n
}

fn main() {
    let target_mb: u64 = std::env::var("RELANCE_BANK_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let min_entries: u64 = std::env::var("RELANCE_BANK_BIG_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let which = std::env::var("RELANCE_BANK_BIG_FORMAT").unwrap_or_else(|_| "camt".into());
    let formats: Vec<&str> = if which == "all" {
        vec!["camt", "mt940", "cfonb", "ofx"]
    } else {
        vec![which.as_str()]
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a temporary directory: {e}");
            std::process::exit(2);
        }
    };
    let mut failed = false;
    for format in formats {
        failed |= !run(dir.path(), format, target_mb, min_entries);
    }
    if failed {
        std::process::exit(1);
    }
}

/// One format: generate, scan, parse, batches; false when a peak reached the budget.
fn run(dir: &std::path::Path, format: &str, target_mb: u64, min_entries: u64) -> bool {
    let path = dir.join(format!("big.{format}"));
    let t = Instant::now();
    let n = if format == "camt" {
        write_camt(&path, target_mb, min_entries)
    } else {
        write_text(&path, format, target_mb)
    };
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mb = size as f64 / 1_000_000.0;
    println!(
        "{format}: generated {mb:.1} MB, {n} entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // (1) bare scan
    let reset1 = reset_hwm();
    let t = Instant::now();
    let scanned = scan(&path, format);
    let scan_s = t.elapsed().as_secs_f64();
    let scan_hwm = vm_hwm_kib().unwrap_or(0);

    // (2) relance streaming parse + receipts
    let reset2 = reset_hwm();
    let t = Instant::now();
    let input = BufReader::with_capacity(
        64 * 1024,
        File::open(&path).unwrap_or_else(|e| panic!("{e}")),
    );
    let mut stmt = bank::Statement::default();
    let (mut entries, mut receipts, mut diags) = (0u64, 0u64, 0u64);
    for ev in bank::parse_reader("big", input) {
        match ev {
            BankEvent::Statement(s) => stmt = s,
            BankEvent::Entry(e) => {
                entries += 1;
                receipts += bank::receipts_for_entry("big", &stmt, &e).len() as u64;
            }
            BankEvent::Diagnostic(d) => {
                diags += 1;
                if diags <= 5 {
                    println!("  finding: {:?} {} {}", d.severity, d.rule, d.message);
                }
            }
            _ => {}
        }
    }
    let parse_s = t.elapsed().as_secs_f64();
    let parse_hwm = vm_hwm_kib().unwrap_or(0);
    assert_eq!(entries, scanned, "every entry read");
    assert_eq!(entries, n, "every entry generated read");
    assert_eq!(diags, 0, "the generated file reconciles, nothing to report");

    // (3) receipt batches (keys included)
    let reset3 = reset_hwm();
    let t = Instant::now();
    let input = BufReader::with_capacity(
        64 * 1024,
        File::open(&path).unwrap_or_else(|e| panic!("{e}")),
    );
    let mut batched = 0u64;
    let mut batches = bank::receipt_batches("big", input, 10_000);
    for b in batches.by_ref() {
        batched += b.receipts.len() as u64;
    }
    let batch_s = t.elapsed().as_secs_f64();
    let batch_hwm = vm_hwm_kib().unwrap_or(0);
    assert_eq!(batched, receipts);
    assert!(batches.summary().usable());

    let note = |ok: bool| {
        if ok {
            "phase peak"
        } else {
            "process peak (clear_refs refused)"
        }
    };
    let line = |what: &str, s: f64, hwm: u64, ok: bool| {
        println!(
            "{format} {what:<16}: {s:>6.2} s  {:>7.1} MB/s  {:>9.0} entries/s  peak RSS {:>6.1} MiB ({})",
            mb / s,
            n as f64 / s,
            hwm as f64 / 1024.0,
            note(ok)
        );
    };
    line("bare scan", scan_s, scan_hwm, reset1);
    line("bank::parse", parse_s, parse_hwm, reset2);
    line("receipt_batches", batch_s, batch_hwm, reset3);
    println!("{format}: {entries} entries, {receipts} receipts; parse at {:.0} % of the bare scan's speed", 100.0 * scan_s / parse_s);
    let _ = std::fs::remove_file(&path);
    let ok = parse_hwm < BUDGET_KIB && batch_hwm < BUDGET_KIB;
    if !ok {
        println!(
            "FAIL: {format}: peak RSS {parse_hwm} / {batch_hwm} KiB is not under {BUDGET_KIB} KiB"
        );
    } else {
        println!("OK: {format}: peak RSS under 100 MiB");
    }
    ok
}
