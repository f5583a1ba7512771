//! Hostile and big bank files, generated here: ZIP archives nested 1 000 deep, whose entries
//! share one payload, or that inflate past the limit, and statements of every format big
//! enough that reading them whole would show. Each runs in a child process of this test
//! binary under a memory ceiling (see `bounded`): it must end with receipts or a reason,
//! never a crash, in memory that does not grow with the input.
#![allow(clippy::unwrap_used)]

mod bounded;

use bounded::{assert_under, bounded, bounded_case};
use relance_connectors::formats::bank::{self, write};
use relance_connectors::formats::diag::Severity;
use relance_connectors::formats::hostile::{self, ZipMember};
use std::io::{BufReader, BufWriter, Write};

fn camt(entries: usize) -> String {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 2, 2).unwrap();
    let spec = write::StatementSpec {
        msg_id: "M".into(),
        statement_id: "S".into(),
        created: day,
        account_iban: "FR7630006000011234567890189".into(),
        currency: "EUR".into(),
        opening_balance: rust_decimal::Decimal::ZERO,
        from_date: day,
        to_date: day,
        entries: (0..entries)
            .map(|i| write::EntrySpec {
                amount: rust_decimal::Decimal::new(1000 + i as i64, 2),
                booking_date: day,
                acct_svcr_ref: Some(format!("BQ{i:08}")),
                debtor_name: Some(format!("CLIENT {i}")),
                remittance: Some(format!("FACTURE VT2026_{i:06}")),
                ..Default::default()
            })
            .collect(),
    };
    write::camt053_string(&spec).unwrap()
}

fn rules(f: &bank::BankFile) -> String {
    f.diagnostics
        .iter()
        .map(|d| format!("{:?}:{}", d.severity, d.rule))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn a_zip_nested_1000_levels_is_refused_not_a_crash() {
    let Some(o) = bounded("a_zip_nested_1000_levels_is_refused_not_a_crash", || {
        let zip = hostile::nested_zip(1000, camt(50).as_bytes());
        let f = bank::parse("nested.zip", &zip);
        format!("usable={} {}", bank::is_usable(&f), rules(&f))
    }) else {
        return;
    };
    assert!(o.summary.contains("usable=false"), "{}", o.summary);
    assert!(o.summary.contains("Error:BANK-ZIP"), "{}", o.summary);
    assert!(o.summary.contains("Fatal:BANK-ZIP"), "{}", o.summary);
    assert_under(&o, 100, "ZIP nested 1000 levels");
    // one level is read
    let f = bank::parse("one.zip", &hostile::nested_zip(1, camt(3).as_bytes()));
    assert!(bank::is_usable(&f), "{:?}", f.diagnostics);
    assert_eq!(f.receipts().len(), 3);
}

#[test]
fn zip_entries_sharing_one_payload_are_refused_before_inflating() {
    let Some(o) = bounded(
        "zip_entries_sharing_one_payload_are_refused_before_inflating",
        || {
            // four directory entries, one 1 GiB payload: 4 GiB if each were inflated
            let zip = hostile::zip(&[ZipMember::zeros("statement.xml", 1 << 30)], 3);
            let f = bank::parse("overlap.zip", &zip);
            let d = f
                .diagnostics
                .iter()
                .find(|d| d.rule == "BANK-ZIP")
                .map(|d| d.message.clone())
                .unwrap_or_default();
            format!("usable={} {} | {d}", bank::is_usable(&f), rules(&f))
        },
    ) else {
        return;
    };
    assert!(o.summary.contains("usable=false"), "{}", o.summary);
    assert!(o.summary.contains("share the same bytes"), "{}", o.summary);
    assert_under(&o, 100, "overlapping ZIP entries");
}

#[test]
fn zip_inflation_stops_at_the_limit_in_bounded_memory() {
    let Some(o) = bounded("zip_inflation_stops_at_the_limit_in_bounded_memory", || {
        // a statement, then an OFX whose memo never ends, inflating past the archive's limit
        let ofx = b"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><ACCTID>1</BANKACCTFROM><BANKTRANLIST><STMTTRN><MEMO>";
        let members = [
            ZipMember::deflated("a.xml", camt(5).as_bytes()),
            ZipMember::run("b.ofx", ofx, b'A', bank::zip::MAX_INFLATED + (1 << 20)),
        ];
        let zip = hostile::zip(&members, 0);
        assert!(zip.len() < 8 << 20);
        let mut entries = 0;
        let mut fatal = Vec::new();
        for ev in bank::parse_reader("bomb.zip", &zip[..]) {
            match ev {
                bank::BankEvent::Entry(_) => entries += 1,
                bank::BankEvent::Diagnostic(d) if d.severity == Severity::Fatal => {
                    fatal.push(format!("{}: {}", d.rule, d.message))
                }
                _ => {}
            }
        }
        format!("entries={entries} | {}", fatal.join(" / "))
    }) else {
        return;
    };
    assert!(o.summary.starts_with("entries=5 "), "{}", o.summary);
    assert!(
        o.summary
            .contains("BANK-ZIP: member b.ofx: the archive inflates to more than"),
        "{}",
        o.summary
    );
    assert_under(&o, 100, "ZIP inflating past the limit");
}

/// A camt whose text never ends is refused at 1 MiB, not buffered whole.
#[test]
fn a_camt_text_that_never_ends_is_refused_in_bounded_memory() {
    let Some(o) = bounded(
        "a_camt_text_that_never_ends_is_refused_in_bounded_memory",
        || {
            let head = camt(1);
            let cut = head.find("<Ustrd>").unwrap() + "<Ustrd>".len();
            let mut bytes = head.as_bytes()[..cut].to_vec();
            bytes.resize(bytes.len() + (100 << 20), b'x');
            let f = bank::parse("endless.xml", &bytes);
            format!("usable={} {}", bank::is_usable(&f), rules(&f))
        },
    ) else {
        return;
    };
    assert!(o.summary.contains("Fatal:XML-SYNTAX"), "{}", o.summary);
    // the input itself is 100 MiB
    assert_under(&o, 150, "endless camt text");
}

/// Writes a big file of `format` (about `mb` MB) and returns its path and entry count.
fn big_file(dir: &std::path::Path, format: &str, mb: usize) -> (std::path::PathBuf, usize) {
    let path = dir.join(format!("big.{format}"));
    let mut w = BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut n = 0usize;
    let target = mb * 1_000_000;
    let mut written = 0usize;
    let mut out = |s: String, written: &mut usize| {
        *written += s.len();
        w.write_all(s.as_bytes()).unwrap();
    };
    match format {
        "mt940" => {
            out(
                ":20:BIG\n:25:FR7630004000031234567890143\n:28C:1\n:60F:C260101EUR0,00\n".into(),
                &mut written,
            );
            while written < target {
                n += 1;
                out(format!(":61:2601020102C{},{:02}NTRFNONREF//BQ{n:010}\n:86:/EREF/E2E-{n}/REMI/USTD//FACTURE VT2026_{n:06} CLIENT {n}\n", n % 9000 + 1, n % 100), &mut written);
            }
            out(":62F:C260102EUR0,00\n-\n".into(), &mut written);
        }
        "cfonb" => {
            // 1-2 code, 3-7 bank, 8-11, 12-16 branch, 17-19 currency, 20 decimals, 22-32 account
            let rec = |code: &str| format!("{code}30004    00031EUR2 31234567890  ");
            let balance = |code: &str| {
                format!(
                    "{:<120}\n",
                    format!("{}020126{:50}0000000000000{{", rec(code), "")
                )
            };
            out(balance("01"), &mut written);
            while written < target {
                n += 1;
                let label = format!("{:<31}", format!("VIR SEPA CLIENT {}", n % 1000));
                let line = format!(
                    "{}020126  020126{label}  {:07}  {:013}A{:<16}",
                    rec("04"),
                    n % 10_000_000,
                    n % 900_000 + 1,
                    format!("BQ{n:010}")
                );
                assert_eq!(line.len(), 120, "{line}");
                out(format!("{line}\n"), &mut written);
            }
            out(balance("07"), &mut written);
        }
        "ofx" => {
            out("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:1252\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30004<ACCTID>000123456<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST><DTSTART>20260101<DTEND>20260131\n".into(), &mut written);
            while written < target {
                n += 1;
                out(format!("<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260102<TRNAMT>{}.{:02}<FITID>OFX{n:010}<NAME>CLIENT {}<MEMO>FACTURE VT2026_{n:06}</STMTTRN>\n", n % 9000 + 1, n % 100, n % 1000), &mut written);
            }
            out("</BANKTRANLIST><LEDGERBAL><BALAMT>0.00<DTASOF>20260131</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n".into(), &mut written);
        }
        _ => {
            let one = camt(1);
            let (head, rest) = one.split_at(one.find("<Ntry>").unwrap());
            let entry_end = rest.find("</Ntry>").unwrap() + "</Ntry>".len();
            let (entry, tail) = rest.split_at(entry_end);
            out(head.to_owned(), &mut written);
            while written < target {
                n += 1;
                out(
                    entry.replace("BQ00000000", &format!("BQ{n:08}")),
                    &mut written,
                );
            }
            out(tail.to_owned(), &mut written);
        }
    }
    w.flush().unwrap();
    (path, n)
}

/// Every format streams: an 8 MB file of each, through the receipt batches and the streamed
/// inspect, never holds the file, its text or its entries.
#[test]
fn every_format_streams_in_bounded_memory() {
    for format in ["camt", "mt940", "cfonb", "ofx"] {
        let Some(o) = bounded_case("every_format_streams_in_bounded_memory", format, || {
            let dir = tempfile::tempdir().unwrap();
            let (path, n) = big_file(dir.path(), format, 8);
            let file = std::fs::File::open(&path).unwrap();
            let mut receipts = 0usize;
            let mut batches = bank::receipt_batches("big", BufReader::new(file), 5_000);
            for b in batches.by_ref() {
                assert!(b.receipts.len() + b.diagnostics.len() <= 5_000);
                receipts += b.receipts.len();
            }
            let usable = batches.summary().usable();
            let file = std::fs::File::open(&path).unwrap();
            let streamed_usable =
                bank::write_inspect_json("big", BufReader::new(file), &mut std::io::sink())
                    .unwrap();
            format!(
                "{n} {receipts} {}",
                if usable && streamed_usable {
                    "usable"
                } else {
                    "unusable"
                }
            )
        }) else {
            continue;
        };
        let mut parts = o.summary.split_whitespace();
        let (want, got) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        assert_eq!(want, got, "{format}: every entry a receipt: {}", o.summary);
        assert!(o.summary.ends_with(" usable"), "{format}: {}", o.summary);
        assert_under(&o, 32, &format!("8 MB {format} streamed"));
    }
}

/// The structured fuzz target's invariants on a few hundred recipes (the fuzzer explores more;
/// this keeps them checked in every test run).
#[test]
fn zip_recipes_keep_the_fuzz_invariants() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..150 {
        let recipe: Vec<u8> = (0..24)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // keep bombs small here: the fuzzer goes up to the limit
                (x % 251) as u8
            })
            .map(|b| if b % 16 == 15 { 14 } else { b })
            .collect();
        bank::fuzz::zip_structured(&recipe);
    }
    for seed in [
        &[2u8, 15, 2, 0x41, 1, 0, 0][..],
        &[0, 2, 0, 0, 1, 1],
        &[0, 0, 0, 0, 0, 2],
    ] {
        bank::fuzz::zip_structured(seed);
    }
}

/// A ZIP archive in a file is read at offsets: its members stream from the file, the archive
/// is never held (a 24 MB archive read in less memory than its size; the same bytes given as
/// a stream are held, up to the stream limit).
#[test]
fn a_zip_in_a_file_is_read_at_offsets_not_held() {
    const PATH: &str = "RELANCE_TEST_BIG_ZIP";
    const TEST: &str = "a_zip_in_a_file_is_read_at_offsets_not_held";
    let dir = tempfile::tempdir().unwrap();
    if std::env::var(PATH).is_err() {
        // In the parent: the archive is made here, outside the measured child.
        let (camt_path, n) = big_file(dir.path(), "camt", 24);
        let camt = std::fs::read(&camt_path).unwrap();
        let zip = hostile::zip(&[ZipMember::stored("big.xml", &camt)], 0);
        let zip_path = dir.path().join("big.zip");
        std::fs::write(&zip_path, &zip).unwrap();
        std::fs::write(dir.path().join("n"), n.to_string()).unwrap();
        std::env::set_var(PATH, &zip_path);
    }
    let path = std::path::PathBuf::from(std::env::var(PATH).unwrap());
    let o = bounded_case(TEST, "file", || {
        let n = std::fs::read_to_string(path.with_file_name("n")).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let at = file.try_clone().unwrap();
        let mut receipts = 0usize;
        let mut batches = bank::receipt_batches_at("big.zip", BufReader::new(file), at, 5_000);
        for b in batches.by_ref() {
            receipts += b.receipts.len();
        }
        let usable = batches.summary().usable();
        let file = std::fs::File::open(&path).unwrap();
        let at = file.try_clone().unwrap();
        let inspected =
            bank::write_inspect_json_at("big.zip", BufReader::new(file), at, &mut std::io::sink())
                .unwrap();
        format!("{} {receipts} {usable} {inspected}", n.trim())
    });
    // The same archive as a stream is held: it shows in the memory used.
    let held = bounded_case(TEST, "stream", || {
        let file = std::fs::File::open(&path).unwrap();
        let mut receipts = 0usize;
        for b in bank::receipt_batches("big.zip", BufReader::new(file), 5_000) {
            receipts += b.receipts.len();
        }
        receipts.to_string()
    });
    let (Some(o), Some(held)) = (o, held) else {
        return;
    };
    let mut parts = o.summary.split_whitespace();
    let (want, got) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    assert_eq!(want, got, "every entry a receipt: {}", o.summary);
    assert!(o.summary.ends_with("true true"), "{}", o.summary);
    assert_under(&o, 20, "24 MB ZIP in a file");
    if let (Some(a), Some(b)) = (o.peak_kib, held.peak_kib) {
        assert!(b > a + 20 * 1024, "streamed {b} KiB vs at offsets {a} KiB");
    }
}

/// A file of thousands of bad lines gives a bounded report: the first findings listed, the
/// rest counted in one last warning; the good entries are all read.
#[test]
fn findings_past_the_limit_are_counted_not_listed() {
    let mut s =
        String::from(":20:BAD\n:25:FR7630004000031234567890143\n:28C:1\n:60F:C260101EUR0,00\n");
    for i in 0..3000 {
        s.push_str(&format!(
            ":61:2601020102C1e9NTRFNONREF//BAD{i}\n:86:/REMI/USTD//X\n"
        ));
    }
    for i in 0..10 {
        s.push_str(&format!(
            ":61:2601020102C1,00NTRFNONREF//OK{i}\n:86:/REMI/USTD//Y\n"
        ));
    }
    s.push_str(":62F:C260102EUR10,00\n-\n");
    let f = bank::parse("bad.sta", s.as_bytes());
    let listed = f
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Fatal && d.rule != "BANK-FINDINGS")
        .count();
    assert_eq!(listed, bank::MAX_FINDINGS, "{}", rules(&f));
    let last = f.diagnostics.last().unwrap();
    assert_eq!(last.rule, "BANK-FINDINGS");
    assert!(
        last.message.contains("more findings are not listed"),
        "{}",
        last.message
    );
    assert_eq!(f.receipts().len(), 10);
}
