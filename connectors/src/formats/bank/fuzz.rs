//! Fuzzing entry points (the `connectors/fuzz` targets call these): parse arbitrary bytes as
//! one format, then exercise everything built on the result. Each function panics only
//! when an invariant is broken, which is what the fuzzer reports.

use super::{
    collect, inspect_json, is_usable, parse, parse_as, parse_reader, render_text, BankFile,
    BankFormat,
};

fn exercise(f: &BankFile) {
    let keyed = f.keyed_receipts();
    if is_usable(f) {
        for k in &keyed {
            assert!(!k.receipt.id.as_str().is_empty(), "receipt without id");
            assert_eq!(k.key.len(), 32, "dedup key is 16 bytes hex");
        }
    }
    let mut d = super::Dedup::default();
    let n = d.filter(keyed.clone()).len();
    assert!(n <= keyed.len());
    assert!(
        d.filter(keyed).is_empty(),
        "a second import of the same receipts adds nothing"
    );
    let _ = serde_json::to_string(&inspect_json(f));
    let _ = render_text(f);
}

/// Parses `data` as `format` and exercises receipts, dedup keys, JSON and text output.
pub fn one_format(format: BankFormat, data: &[u8]) {
    let f = parse_as(format, "fuzz", data);
    exercise(&f);
}

/// Detects and parses `data`, and checks that the streamed parse (with a tiny buffer) gives
/// exactly the in-memory result.
pub fn any_format(data: &[u8]) {
    let f = parse("fuzz", data);
    let streamed = collect(
        "fuzz",
        parse_reader("fuzz", std::io::BufReader::with_capacity(3, data)),
    );
    assert_eq!(f, streamed, "streamed and in-memory parses differ");
    exercise(&f);
}

/// Small statements of every format, for archives built by [`zip_structured`].
fn member_text(kind: u8, n: usize) -> Vec<u8> {
    match kind % 4 {
        0 => {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 2, 2).unwrap_or_default();
            let spec = super::write::StatementSpec {
                msg_id: "M".into(),
                statement_id: format!("S{n}"),
                created: day,
                account_iban: "FR7630006000011234567890189".into(),
                currency: "EUR".into(),
                opening_balance: rust_decimal::Decimal::ZERO,
                from_date: day,
                to_date: day,
                entries: (0..1 + n % 5)
                    .map(|i| super::write::EntrySpec {
                        amount: rust_decimal::Decimal::new(100 + i as i64, 2),
                        booking_date: day,
                        acct_svcr_ref: Some(format!("BQ{n}-{i}")),
                        ..Default::default()
                    })
                    .collect(),
            };
            super::write::camt053_string(&spec)
                .unwrap_or_default()
                .into_bytes()
        }
        1 => format!(
            ":20:S{n}\n:25:FR7630004000031234567890143\n:28C:1\n:60F:C260101EUR1,00\n:61:2601010101C{n},00NTRFNONREF//BQ{n}\n:86:/REMI/USTD//F{n}\n:62F:C260101EUR{},00\n-\n",
            n + 1
        )
        .into_bytes(),
        2 => format!(
            "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><ACCTID>{n}</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260102<TRNAMT>{n}.00<FITID>F{n}</STMTTRN></BANKTRANLIST><LEDGERBAL><BALAMT>1.00</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
        )
        .into_bytes(),
        _ => {
            let rec = |code: &str| format!("{code}30004    00031EUR2 31234567890  ");
            let bal = |code: &str| format!("{:<120}\n", format!("{}020126{:50}0000000000000{{", rec(code), ""));
            format!(
                "{}{:<120}\n{}",
                bal("01"),
                format!("{}020126  020126{:<31}  {:07}  {:013}A{:<16}", rec("04"), "VIR", n % 1000, n + 1, format!("BQ{n}")),
                bal("07")
            )
            .into_bytes()
        }
    }
}

/// Builds a ZIP archive from the recipe in `data` (members of every format, stored or
/// deflated and mutated, bombs, entries sharing a payload, nesting), then checks it as
/// [`any_format`] does, plus what the recipe promises: shared entries and nested archives
/// are refused with a reason.
pub fn zip_structured(data: &[u8]) {
    use crate::formats::hostile::{self, ZipMember};
    let mut it = data.iter().copied();
    let mut next = || it.next().unwrap_or(0);
    let count = 1 + usize::from(next() % 4);
    let mut members = Vec::new();
    for i in 0..count {
        let kind = next();
        let name = format!("m{i}.dat");
        let m = if kind % 16 == 15 {
            // a bomb: a statement start, then a run of one byte, up to 4 MiB (the 512 MiB
            // cap itself is checked by tests/bank_hostile.rs: bigger bombs spend the fuzzer's
            // time inflating, four parses of each under the sanitizer, not exploring)
            let size = 1u64 << (10 + next() % 13);
            ZipMember::run(&name, &member_text(next(), i)[..40], next(), size)
        } else {
            let mut text = member_text(kind, i + usize::from(next()));
            for _ in 0..(next() % 4) {
                let at = usize::from(next()) * text.len() / 256;
                if let Some(b) = text.get_mut(at) {
                    *b = next();
                }
            }
            if next() & 1 == 1 {
                ZipMember::deflated(&name, &text)
            } else {
                ZipMember::stored(&name, &text)
            }
        };
        members.push(m);
    }
    let shared = usize::from(next() % 3);
    let depth = usize::from(next() % 3);
    let mut zip = hostile::zip(&members, shared);
    if depth > 0 {
        zip = hostile::nested_zip(depth, &zip);
    }
    let f = parse("fuzz.zip", &zip);
    if shared > 0 || depth > 0 {
        assert!(
            !is_usable(&f),
            "shared {shared} depth {depth}: {:?}",
            f.diagnostics
        );
        assert!(f
            .diagnostics
            .iter()
            .any(|d| d.rule == "BANK-ZIP" && d.severity >= crate::formats::diag::Severity::Error));
    }
    any_format(&zip);
}
