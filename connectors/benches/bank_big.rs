//! Big-statement benchmark: generates a camt.053 of about 500 MB (≈1 million entries) in a
//! temporary directory with the streaming writer, then, in this order and in this process,
//! (1) scans it with a bare quick-xml reader (counting `Ntry` elements) and (2) parses it
//! with `formats::bank::parse_reader` (streamed, checks on) converting every entry into
//! receipts. Prints entries/s, MB/s and the peak RSS of each phase: `VmHWM` from
//! `/proc/self/status`, reset before each phase by writing `5` to `/proc/self/clear_refs`
//! (when the kernel refuses, the figure is the process peak so far, said so).
//!
//! `cargo bench -p relance-connectors --bench bank_big`. Size: at least `RELANCE_BANK_BIG_MB`
//! megabytes (default 500) and at least `RELANCE_BANK_BIG_ENTRIES` entries (default
//! 1,000,000). Exits with status 1 when the parse's peak RSS reaches 100 MiB.

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

fn main() {
    let target_mb: u64 = std::env::var("RELANCE_BANK_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a temporary directory: {e}");
            std::process::exit(2);
        }
    };
    let path = dir.path().join("big.camt053.xml");
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
    let min_entries: u64 = std::env::var("RELANCE_BANK_BIG_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let n = (target_mb * 1_000_000 / per_entry.max(1)).max(min_entries);
    let opening = Decimal::new(10_000_000, 2);
    let closing = opening + (0..n).map(|i| entry(i, day).amount).sum::<Decimal>();

    let t = Instant::now();
    {
        let f = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
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
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mb = size as f64 / 1_000_000.0;
    println!(
        "generated {mb:.1} MB, {n} entries in {:.1} s ({})",
        t.elapsed().as_secs_f64(),
        path.display()
    );

    // (1) bare quick-xml scan
    let reset1 = reset_hwm();
    let t = Instant::now();
    let mut reader = quick_xml::Reader::from_reader(BufReader::with_capacity(
        64 * 1024,
        File::open(&path).unwrap_or_else(|e| panic!("{e}")),
    ));
    let mut buf = Vec::with_capacity(4096);
    let mut ntry = 0u64;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"Ntry" => ntry += 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("scan: {e}"),
        }
        buf.clear();
    }
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
    let mut total = Decimal::ZERO;
    for ev in bank::parse_reader("big.camt053.xml", input) {
        match ev {
            BankEvent::Statement(s) => stmt = s,
            BankEvent::Entry(e) => {
                entries += 1;
                for (r, _) in bank::receipts_for_entry("big.camt053.xml", &stmt, &e) {
                    receipts += 1;
                    total += r.amount;
                }
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
    assert_eq!(entries, ntry, "every Ntry read");
    assert_eq!(opening + total, closing, "amounts add up");

    let note = |ok: bool| {
        if ok {
            "phase peak"
        } else {
            "process peak (clear_refs refused)"
        }
    };
    println!(
        "quick-xml scan : {scan_s:>6.2} s  {:>7.1} MB/s  {:>9.0} entries/s  peak RSS {:>6.1} MiB ({})",
        mb / scan_s,
        ntry as f64 / scan_s,
        scan_hwm as f64 / 1024.0,
        note(reset1)
    );
    println!(
        "bank::parse    : {parse_s:>6.2} s  {:>7.1} MB/s  {:>9.0} entries/s  peak RSS {:>6.1} MiB ({}); {entries} entries, {receipts} receipts, {diags} findings",
        mb / parse_s,
        entries as f64 / parse_s,
        parse_hwm as f64 / 1024.0,
        note(reset2)
    );
    if parse_hwm >= BUDGET_KIB {
        println!("FAIL: parse peak RSS {parse_hwm} KiB is not under {BUDGET_KIB} KiB");
        std::process::exit(1);
    }
    println!("OK: parse peak RSS under 100 MiB");
}
