//! Bank statement parsing on fixtures written for relance (tests/fixtures/bank): every
//! format, receipts, ids, deduplication, checks, JSON shape, writer round trip, streaming.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_connectors::formats::bank::{self, write, BankFormat, Dedup};
use relance_connectors::formats::diag::Severity;
use rust_decimal::Decimal;
use std::path::Path;
use std::str::FromStr;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bank")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn rules(f: &bank::BankFile) -> Vec<String> {
    f.diagnostics.iter().map(|d| d.rule.clone()).collect()
}

#[test]
fn camt053_v08_entries_batches_returns_and_a_garbled_amount() {
    let f = bank::parse("camt053_v08_batch.xml", &fixture("camt053_v08_batch.xml"));
    assert_eq!(f.format, Some(BankFormat::Camt053));
    assert_eq!(f.message.as_deref(), Some("camt.053.001.08"));
    assert!(bank::is_usable(&f), "{:?}", f.diagnostics);
    // the garbled entry is diagnosed and skipped, the five others are kept
    assert_eq!(f.statements[0].entries.len(), 5);
    let bad: Vec<_> = f
        .diagnostics
        .iter()
        .filter(|d| d.rule == "BANK-AMOUNT")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].severity, Severity::Error);
    assert!(bad[0].message.contains("12..34"));
    // opening + entries = closing (5-decimal amounts included): no continuity finding
    assert!(
        !rules(&f).contains(&"BANK-BALANCE".to_owned()),
        "{:?}",
        f.diagnostics
    );
    // the invalid RF reference of the third batch detail is reported, not the valid one
    let rf: Vec<_> = f
        .diagnostics
        .iter()
        .filter(|d| d.rule == "BANK-RF")
        .collect();
    assert_eq!(rf.len(), 1);
    assert!(rf[0].message.contains("RF19539007547034"));

    let r = f.receipts();
    let ids: Vec<&str> = r.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        &ids[..6],
        [
            "BQ2602020000013",
            "BQ2602020000014-1",
            "BQ2602020000014-2",
            "BQ2602020000014-3",
            "BQ2602020000015",
            "BQ2602020000016"
        ]
    );
    assert!(ids[6].starts_with("RLC-"), "no bank id at all: derived id");
    let amounts: Vec<Decimal> = r.iter().map(|x| x.amount).collect();
    assert_eq!(
        amounts,
        [
            dec("1200.00"),
            dec("100.00"),
            dec("100.00"),
            dec("150.50"),
            dec("0.00050"),
            dec("-100.00"),
            dec("-35.0005")
        ]
    );
    let acme = &r[0];
    assert_eq!(acme.account, "FR7630006000011234567890189");
    assert_eq!(acme.counterparty_name.as_deref(), Some("ACME SARL"));
    assert_eq!(
        acme.counterparty_iban.as_deref(),
        Some("FR1420041010050500013M02606")
    );
    assert_eq!(acme.remittance, "FACTURE VT2026_000042 SOLDE");
    assert_eq!(acme.structured_ref.as_deref(), Some("RF18539007547034"));
    assert_eq!(acme.end_to_end_id.as_deref(), Some("E2E-ACME-42"));
    assert_eq!(acme.bank_code.as_deref(), Some("PMNT/RCDT/ESCT"));
    assert_eq!(acme.source, "camt053_v08_batch.xml#stmt1/entry1");
    assert!(acme.is_credit());
    // SDD batch: each detail its own receipt with its mandate
    assert_eq!(r[1].mandate_id.as_deref(), Some("RUM-CLIENT-1"));
    assert_eq!(r[1].end_to_end_id.as_deref(), Some("SDD-0001"));
    assert_eq!(r[2].counterparty_name.as_deref(), Some("CLIENT DEUX"));
    assert_eq!(r[3].source, "camt053_v08_batch.xml#stmt1/entry2/detail3");
    // its RF reference fails the ISO 11649 check: not trusted as structured, kept as text
    assert_eq!(r[3].structured_ref, None);
    assert_eq!(r[3].remittance, "RF19539007547034");
    // the return: reversal, reason AC04, counterparty is the debtor of the original collection
    let ret = &r[5];
    assert!(ret.reversal && ret.is_return());
    assert_eq!(ret.return_reason.as_deref(), Some("AC04"));
    assert_eq!(ret.counterparty_name.as_deref(), Some("CLIENT UN"));
    // date-time booking keeps the bank's local date
    assert_eq!(r[6].booking_date.to_string(), "2026-02-02");
    assert_eq!(r[6].remittance, "CARTE 01/02 CAFE DE LA GARE");
}

#[test]
fn intraday_then_end_of_day_adds_only_what_is_new() {
    let intraday = bank::parse(
        "camt052_v02_intraday.xml",
        &fixture("camt052_v02_intraday.xml"),
    );
    assert_eq!(intraday.format, Some(BankFormat::Camt052));
    // the pending entry is not a receipt; its unknown domain is reported; balance continuity
    // is not checked while an entry is pending (the closing balance need not include it)
    assert_eq!(intraday.receipts().len(), 1);
    let r = rules(&intraday);
    assert!(
        r.contains(&"BANK-CODE".to_owned()) && !r.contains(&"BANK-BALANCE".to_owned()),
        "{r:?}"
    );
    let mut dedup = Dedup::default();
    assert_eq!(dedup.filter(intraday.keyed_receipts()).len(), 1);

    let eod = bank::parse("camt053_v08_batch.xml", &fixture("camt053_v08_batch.xml"));
    let new = dedup.filter(eod.keyed_receipts());
    let ids: Vec<&str> = new.iter().map(|k| k.receipt.id.as_str()).collect();
    assert_eq!(new.len(), 6, "{ids:?}");
    assert!(
        !ids.contains(&"BQ2602020000013"),
        "the credit seen intraday is not added again"
    );
    // the same end-of-day file again, under another name: nothing new
    let again = bank::parse("renamed.xml", &fixture("camt053_v08_batch.xml"));
    assert!(dedup.filter(again.keyed_receipts()).is_empty());
    // keys persist as strings
    let known: Vec<String> = dedup.keys().map(str::to_owned).collect();
    let mut restored = Dedup::new(known);
    assert!(restored.filter(eod.keyed_receipts()).is_empty());
}

#[test]
fn identical_payments_without_reference_are_both_kept() {
    let f = bank::parse("camt054_nons.xml", &fixture("camt054_nons.xml"));
    assert_eq!(f.format, Some(BankFormat::Camt054));
    assert_eq!(f.message.as_deref(), Some("camt.054 (no namespace)"));
    assert_eq!(f.statements[0].account.as_deref(), Some("00012345603"));
    let k = f.keyed_receipts();
    assert_eq!(k.len(), 2);
    assert_ne!(k[0].key, k[1].key);
    assert_ne!(k[0].receipt.id, k[1].receipt.id);
    assert!(f
        .diagnostics
        .iter()
        .any(|d| d.rule == "BANK-DUPLICATE" && d.severity == Severity::Info));
    let mut d = Dedup::default();
    assert_eq!(d.filter(k.clone()).len(), 2);
    assert!(d
        .filter(bank::parse("other-name.xml", &fixture("camt054_nons.xml")).keyed_receipts())
        .is_empty());
    // deterministic
    assert_eq!(
        bank::parse("x", &fixture("camt054_nons.xml")).keyed_receipts()[0].key,
        k[0].key
    );
}

#[test]
fn mt940_french_and_german_structured_86() {
    let f = bank::parse("mt940_fr_de.sta", &fixture("mt940_fr_de.sta"));
    assert_eq!(f.format, Some(BankFormat::Mt940));
    assert_eq!(f.statements.len(), 2);
    assert_eq!(
        f.statements[0].account.as_deref(),
        Some("FR7630004000031234567890143")
    );
    assert!(
        rules(&f).contains(&"MT940-61".to_owned()),
        "garbled :61: reported"
    );
    assert!(
        !rules(&f).contains(&"BANK-BALANCE".to_owned()),
        "{:?}",
        f.diagnostics
    );
    let r = f.receipts();
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].id.as_str(), "BNP2602020001");
    assert_eq!(r[0].amount, dec("1200.00"));
    assert_eq!(r[0].end_to_end_id.as_deref(), Some("E2E-ACME-42"));
    assert_eq!(r[0].counterparty_name.as_deref(), Some("ACME SARL"));
    assert_eq!(
        r[0].counterparty_iban.as_deref(),
        Some("FR1420041010050500013M02606")
    );
    assert_eq!(r[0].remittance, "FACTURE VT2026_000042");
    assert_eq!(r[1].amount, dec("-45.10"));
    assert_eq!(r[1].mandate_id.as_deref(), Some("RUM-EDF-1"));
    assert_eq!(r[1].end_to_end_id, None, "NOTPROVIDED is no id");
    assert_eq!(r[1].counterparty_name.as_deref(), Some("EDF"));
    assert!(r[2].reversal);
    assert_eq!(
        r[2].amount,
        dec("100.00"),
        "RD: reversal of a debit is a credit"
    );
    assert_eq!(r[2].return_reason.as_deref(), Some("AC04"));
    let de = &r[3];
    assert_eq!(de.account, "37040044/0532013000");
    assert_eq!(de.counterparty_name.as_deref(), Some("Kunde GmbH"));
    assert_eq!(
        de.counterparty_iban.as_deref(),
        Some("DE89370400440532013000")
    );
    assert_eq!(de.end_to_end_id.as_deref(), Some("E2E-DE-7"));
    assert_eq!(de.mandate_id.as_deref(), Some("M-7"));
    assert_eq!(de.remittance, "VT2026_000043 Danke");
    assert!(
        de.id.as_str().starts_with("RLC-"),
        "NONREF and no bank reference: derived id"
    );
}

#[test]
fn a_customer_reference_repeated_on_another_day_is_a_new_payment() {
    // MT940 without bank reference: the id is the customer's reference (here an invoice
    // number), which the same customer may use again for a second instalment.
    let day = |d: &str| {
        format!(
            ":20:S{d}\n:25:FR7630004000031234567890143\n:28C:{d}\n:60F:C2602{d}EUR0,00\n\
             :61:2602{d}C100,00NTRFVT2026-7\n:86:ACOMPTE\n:62F:C2602{d}EUR100,00\n-\n"
        )
    };
    let mut dedup = Dedup::default();
    let a = bank::parse("a.sta", day("10").as_bytes());
    let b = bank::parse("b.sta", day("11").as_bytes());
    assert_eq!(a.receipts()[0].id.as_str(), "VT2026-7");
    assert_eq!(dedup.filter(a.keyed_receipts()).len(), 1);
    assert_eq!(
        dedup.filter(b.keyed_receipts()).len(),
        1,
        "another day, another payment"
    );
    assert!(dedup.filter(b.keyed_receipts()).is_empty());
}

#[test]
fn cfonb120_records_and_overpunch() {
    let f = bank::parse("cfonb120_fr.txt", &fixture("cfonb120_fr.txt"));
    assert_eq!(f.format, Some(BankFormat::Cfonb120));
    let s = &f.statements[0];
    assert_eq!(s.account.as_deref(), Some("300040000312345678901"));
    assert_eq!(s.opening_balance().map(|b| b.amount), Some(dec("1000.00")));
    assert_eq!(s.closing_balance().map(|b| b.amount), Some(dec("2154.90")));
    assert!(rules(&f).contains(&"BANK-AMOUNT".to_owned()));
    let r = f.receipts();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id.as_str(), "BQ2602020000013");
    assert_eq!(
        r[0].remittance,
        "VIR SEPA ACME SARL FACTURE VT2026_000042 SOLDE"
    );
    assert_eq!(r[0].counterparty_name.as_deref(), Some("ACME SARL"));
    assert_eq!(r[0].end_to_end_id.as_deref(), Some("E2E-ACME-42"));
    assert_eq!(r[1].amount, dec("-45.10"));
    assert_eq!(r[1].id.as_str(), "300040000312345678901-0000002");
    assert_eq!(r[1].mandate_id.as_deref(), Some("RUM-EDF-1"));
    assert_eq!(r[1].counterparty_name.as_deref(), Some("EDF"));
}

#[test]
fn ofx_sgml_and_xml() {
    let f = bank::parse("ofx102_sgml.ofx", &fixture("ofx102_sgml.ofx"));
    assert_eq!(f.format, Some(BankFormat::Ofx));
    let r = f.receipts();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id.as_str(), "OFX-0001");
    assert_eq!(r[0].remittance, "FACTURE VT2026_000042 & SOLDE");
    assert_eq!(r[0].counterparty_name.as_deref(), Some("ACME SARL"));
    assert_eq!(r[1].amount, dec("-45.10"));
    assert!(
        rules(&f).contains(&"BANK-AMOUNT".to_owned()),
        "$12 is diagnosed"
    );
    let x = bank::parse("ofx211_xml.ofx", &fixture("ofx211_xml.ofx"));
    let r = x.receipts();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].booking_date.to_string(), "2026-02-02");
    assert_eq!(
        x.statements[0].closing_balance().map(|b| b.amount),
        Some(dec("-25.00"))
    );
    assert_eq!(r[1].remittance, "AVOIR 12");
}

#[test]
fn a_file_that_is_not_a_statement_is_fatal_with_a_reason() {
    let bytes = fixture("not_a_statement.csv");
    assert_eq!(bank::detect(&bytes), None);
    let f = bank::parse("not_a_statement.csv", &bytes);
    assert!(!bank::is_usable(&f));
    assert_eq!(f.diagnostics[0].severity, Severity::Fatal);
    assert!(f.diagnostics[0].message.contains("not a bank statement"));
    let e = bank::parse("empty", b"");
    assert!(!bank::is_usable(&e));
    let x = bank::parse(
        "x.xml",
        b"<?xml version=\"1.0\"?><Invoice xmlns=\"urn:oasis\"/>",
    );
    assert!(!bank::is_usable(&x));
}

#[test]
fn detect_recognises_each_format() {
    for (name, fmt) in [
        ("camt053_v08_batch.xml", BankFormat::Camt053),
        ("camt052_v02_intraday.xml", BankFormat::Camt052),
        ("camt054_nons.xml", BankFormat::Camt054),
        ("mt940_fr_de.sta", BankFormat::Mt940),
        ("cfonb120_fr.txt", BankFormat::Cfonb120),
        ("ofx102_sgml.ofx", BankFormat::Ofx),
        ("ofx211_xml.ofx", BankFormat::Ofx),
    ] {
        assert_eq!(bank::detect(&fixture(name)), Some(fmt), "{name}");
    }
}

#[test]
fn inspect_json_has_exactly_the_documented_shape() {
    let f = bank::parse("camt053_v08_batch.xml", &fixture("camt053_v08_batch.xml"));
    let j = bank::inspect_json(&f);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(keys(&j), ["diagnostics", "file", "format", "statements"]);
    let s = &j["statements"][0];
    assert_eq!(
        keys(s),
        [
            "account",
            "closing_balance",
            "currency",
            "entries",
            "opening_balance"
        ]
    );
    assert_eq!(s["opening_balance"], "1000.00");
    assert_eq!(s["closing_balance"], "2415.50");
    let e = &s["entries"][0];
    assert_eq!(
        keys(e),
        [
            "amount",
            "bank_code",
            "booking_date",
            "counterparty",
            "credit_debit",
            "details",
            "end_to_end_id",
            "id",
            "remittance",
            "return_reason",
            "reversal",
            "structured_ref",
            "value_date"
        ]
    );
    assert_eq!(keys(&e["counterparty"]), ["iban", "name"]);
    assert_eq!(e["amount"], "1200.00");
    assert_eq!(e["id"], "BQ2602020000013");
    assert_eq!(e["details"][0]["structured_ref_check"], "rf_valid");
    assert_eq!(s["entries"][1]["details"].as_array().map(Vec::len), Some(3));
    assert_eq!(s["entries"][3]["amount"], "-100.00");
    assert_eq!(j["format"], "camt053");
    assert!(j["diagnostics"][0]["rule"].is_string());
    let text = bank::render_text(&f);
    assert!(text.contains("BQ2602020000013") && text.contains("batch of 3"));
}

#[test]
fn streaming_with_a_tiny_buffer_gives_the_same_file() {
    for name in [
        "camt053_v08_batch.xml",
        "camt052_v02_intraday.xml",
        "camt054_nons.xml",
        "mt940_fr_de.sta",
        "ofx102_sgml.ofx",
    ] {
        let bytes = fixture(name);
        let whole = bank::parse(name, &bytes);
        let streamed = bank::collect(
            name,
            bank::parse_reader(name, std::io::BufReader::with_capacity(7, &bytes[..])),
        );
        assert_eq!(whole, streamed, "{name}");
    }
}

#[test]
fn every_prefix_of_every_fixture_parses_without_panic() {
    for name in [
        "camt053_v08_batch.xml",
        "camt052_v02_intraday.xml",
        "camt054_nons.xml",
        "mt940_fr_de.sta",
        "cfonb120_fr.txt",
        "ofx102_sgml.ofx",
        "ofx211_xml.ofx",
    ] {
        let bytes = fixture(name);
        for n in (0..bytes.len()).step_by(13) {
            let f = bank::parse(name, &bytes[..n]);
            let _ = f.receipts();
            let _ = bank::inspect_json(&f);
        }
    }
}

#[test]
fn writer_round_trip() {
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let spec = write::StatementSpec {
        msg_id: "MSG-1".into(),
        statement_id: "ST-1".into(),
        created: d("2026-02-03"),
        account_iban: "FR7630006000011234567890189".into(),
        currency: "EUR".into(),
        opening_balance: dec("10.00"),
        from_date: d("2026-02-01"),
        to_date: d("2026-02-02"),
        entries: vec![
            write::EntrySpec {
                amount: dec("1200.00"),
                booking_date: d("2026-02-02"),
                acct_svcr_ref: Some("BQ-1".into()),
                end_to_end_id: Some("E2E-1".into()),
                debtor_name: Some("ACME & FILS <SARL>".into()),
                debtor_iban: Some("FR1420041010050500013M02606".into()),
                remittance: Some("FACTURE VT2026_000042".into()),
                structured_ref: bank::rf::make_rf("VT2026000042"),
                ..write::EntrySpec::default()
            },
            write::EntrySpec {
                amount: dec("-100.00"),
                booking_date: d("2026-02-02"),
                acct_svcr_ref: Some("BQ-2".into()),
                debtor_name: Some("CLIENT".into()),
                reversal: true,
                return_reason: Some("MS02".into()),
                mandate_id: Some("RUM-1".into()),
                bank_code: Some("PMNT/RDDT/UPDD".into()),
                ..write::EntrySpec::default()
            },
        ],
    };
    let xml = write::camt053_string(&spec).unwrap();
    let f = bank::parse("w.xml", xml.as_bytes());
    assert!(bank::is_usable(&f), "{:?}", f.diagnostics);
    assert!(f.diagnostics.is_empty(), "{:?}", f.diagnostics);
    let r = f.receipts();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id.as_str(), "BQ-1");
    assert_eq!(
        r[0].counterparty_name.as_deref(),
        Some("ACME & FILS <SARL>")
    );
    assert_eq!(
        bank::rf::check_rf(r[0].structured_ref.as_deref().unwrap_or("")),
        bank::rf::RfCheck::Valid
    );
    assert_eq!(r[1].amount, dec("-100.00"));
    assert!(r[1].reversal);
    assert_eq!(r[1].return_reason.as_deref(), Some("MS02"));
    assert_eq!(r[1].mandate_id.as_deref(), Some("RUM-1"));
    assert_eq!(
        f.statements[0].closing_balance().map(|b| b.amount),
        Some(dec("1110.00"))
    );
}

fn find<'a>(
    f: &'a bank::BankFile,
    rule: &str,
) -> Vec<&'a relance_connectors::formats::diag::Diagnostic> {
    f.diagnostics.iter().filter(|d| d.rule == rule).collect()
}

const MT940: &str = ":20:S1\n:25:FR7630004000031234567890143\n:28C:1\n:60F:C260101EUR100,00\n\
:61:2601010101C50,00NTRFNONREF//BQ1\n:86:FACTURE 1\n:62F:C260101EUR150,00\n-\n";

/// Amounts follow each standard's decimal syntax: MT940 `1e9` is not a 1.00 receipt, camt
/// `12,50` / `NaN` / 30 digits, CFONB 3 decimals in EUR, OFX `1e9` are errors naming where.
#[test]
fn amounts_in_another_syntax_are_errors_naming_where() {
    let f = bank::parse(
        "e.sta",
        MT940
            .replace(":61:2601010101C50,00NTRF", ":61:2601010101C1e9NTRF")
            .as_bytes(),
    );
    assert!(f.receipts().is_empty(), "{:?}", f.receipts());
    let d = find(&f, "MT940-61");
    assert_eq!(d.len(), 1, "{:?}", f.diagnostics);
    assert!(
        d[0].message.contains("\"1e9\"") && d[0].path == "line 5",
        "{:?}",
        d[0]
    );
    // a balance with an exponent, and 30 digits in :61:
    let f = bank::parse("e.sta", MT940.replace("EUR100,00", "EUR1E2,00").as_bytes());
    assert!(
        find(&f, "BANK-AMOUNT")[0].message.contains(":60F:"),
        "{:?}",
        f.diagnostics
    );
    let thirty = format!("{},00", "9".repeat(28));
    let f = bank::parse(
        "e.sta",
        MT940
            .replace("C50,00NTRF", &format!("C{thirty}NTRF"))
            .as_bytes(),
    );
    assert!(f.receipts().is_empty() && !find(&f, "MT940-61").is_empty());

    let camt = fixture("camt053_v08_batch.xml");
    let text = String::from_utf8(camt).unwrap();
    for bad in ["12,50", "NaN", "1e3", &"9".repeat(30), "1.234567"] {
        let x = text.replacen(
            "<Amt Ccy=\"EUR\">1200.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>",
            &format!("<Amt Ccy=\"EUR\">{bad}</Amt><CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>"),
            1,
        );
        assert_ne!(x, text);
        let f = bank::parse("c.xml", x.as_bytes());
        let d = find(&f, "BANK-AMOUNT");
        assert!(
            d.iter()
                .any(|d| d.path == "Stmt[1]/Ntry[1]/Amt" && d.message.contains(&bad[..2])),
            "{bad}: {:?}",
            f.diagnostics
        );
        assert!(!f
            .receipts()
            .iter()
            .any(|r| r.id.as_str() == "BQ2602020000013"));
    }

    // CFONB: EUR with 3 decimals is refused (an amount read 10 times too small otherwise)
    let cfonb = String::from_utf8(fixture("cfonb120_fr.txt")).unwrap();
    let three: String = cfonb
        .lines()
        .map(|l| {
            if l.starts_with("04") && l.contains("ACME") {
                format!("{}3{}", &l[..19], &l[20..])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let f = bank::parse("c.txt", three.as_bytes());
    let d = find(&f, "CFONB-DECIMALS");
    assert_eq!(d.len(), 1, "{:?}", f.diagnostics);
    assert!(
        d[0].message.contains("3 decimals") && d[0].message.contains("EUR"),
        "{:?}",
        d[0]
    );
    assert!(!f
        .receipts()
        .iter()
        .any(|r| r.id.as_str() == "BQ2602020000013"));

    // OFX
    let ofx = String::from_utf8(fixture("ofx102_sgml.ofx")).unwrap();
    let x = ofx.replacen("<TRNAMT>+1200.00", "<TRNAMT>1e9", 1);
    assert_ne!(x, ofx);
    let f = bank::parse("o.ofx", x.as_bytes());
    assert!(
        find(&f, "BANK-AMOUNT")
            .iter()
            .any(|d| d.message.contains("1e9")),
        "{:?}",
        f.diagnostics
    );
    assert!(!f.receipts().iter().any(|r| r.amount == dec("1000000000")));
}

/// An impossible date is reported with the element and the value, in every format.
#[test]
fn impossible_dates_are_reported_with_element_and_value() {
    let camt = String::from_utf8(fixture("camt053_v08_batch.xml")).unwrap();
    let x = camt.replacen(
        "<BookgDt><Dt>2026-02-02</Dt></BookgDt>",
        "<BookgDt><Dt>2026-02-30</Dt></BookgDt>",
        1,
    );
    let f = bank::parse("c.xml", x.as_bytes());
    let d = find(&f, "BANK-DATE");
    assert!(
        d.iter()
            .any(|d| d.path == "Stmt[1]/Ntry[1]/BookgDt" && d.message.contains("2026-02-30")),
        "{:?}",
        f.diagnostics
    );
    // the value date stays the receipt's date; nothing invented
    assert_eq!(f.receipts()[0].booking_date.to_string(), "2026-02-02");
    let x = camt.replacen(
        "<Dt><Dt>2026-02-01</Dt></Dt>",
        "<Dt><Dt>2026-13-01</Dt></Dt>",
        1,
    );
    let f = bank::parse("c.xml", x.as_bytes());
    assert!(
        find(&f, "BANK-DATE")
            .iter()
            .any(|d| d.path == "Stmt[1]/Bal[1]/Dt"),
        "{:?}",
        f.diagnostics
    );

    let f = bank::parse(
        "f.sta",
        MT940.replace(":61:2601010101", ":61:2602300230").as_bytes(),
    );
    let d = find(&f, "BANK-DATE");
    assert!(
        d.iter().any(|d| d.message.contains("260230")),
        "{:?}",
        f.diagnostics
    );

    let cfonb = String::from_utf8(fixture("cfonb120_fr.txt")).unwrap();
    let x = cfonb.replacen("020226  020226VIR SEPA", "020226  300226VIR SEPA", 1);
    assert_ne!(x, cfonb);
    let f = bank::parse("c.txt", x.as_bytes());
    assert!(
        find(&f, "BANK-DATE")
            .iter()
            .any(|d| d.message.contains("300226")),
        "{:?}",
        f.diagnostics
    );

    let ofx = String::from_utf8(fixture("ofx102_sgml.ofx")).unwrap();
    let x = ofx.replacen("<DTPOSTED>", "<DTUSER>20260230<DTPOSTED>", 1);
    let f = bank::parse("o.ofx", x.as_bytes());
    assert!(
        find(&f, "BANK-DATE")
            .iter()
            .any(|d| d.message.contains("20260230") && d.path.ends_with("DTUSER")),
        "{:?}",
        f.diagnostics
    );
}

/// MT940 fields end at block trailers and at the DOS end-of-file byte: the closing balance
/// is read, and a 0x1A right before `:20:` does not swallow the next account's statement.
#[test]
fn mt940_fields_end_at_block_trailers_and_dos_eof() {
    let second = MT940
        .replace(":20:S1", ":20:S2")
        .replace("FR7630004000031234567890143", "FR7630006000011234567890189")
        .replace("BQ1", "BQ2");
    for (name, text) in [
        ("trailer", format!("{MT940}ABNANL2A\n940\nABNANL2A\n{second}")),
        (
            "swift blocks",
            format!(
                "{{1:F01BNPAFRPPAXXX0000000000}}{{2:O9400000000000BNPAFRPPAXXX00000000000000000000N}}{{4:\n{}-}}{{5:{{CHK:ABC}}}}\n{{1:F01X}}{{4:\n{}-}}",
                MT940.trim_end_matches("-\n"),
                second.trim_end_matches("-\n")
            ),
        ),
        ("dos eof", format!("{}\u{1a}{second}", MT940.trim_end_matches("-\n"))),
        ("dos eof end", format!("{MT940}\u{1a}")),
    ] {
        let f = bank::parse("t.sta", text.as_bytes());
        assert!(
            find(&f, "BANK-AMOUNT").is_empty(),
            "{name}: {:?}",
            f.diagnostics
        );
        let closing: Vec<_> = f
            .statements
            .iter()
            .map(|s| s.closing_balance().map(|b| b.amount))
            .collect();
        assert!(closing.iter().all(|c| *c == Some(dec("150.00"))), "{name}: {closing:?}");
        let ids: Vec<String> = f.receipts().iter().map(|r| r.id.to_string()).collect();
        let want: &[&str] = if name == "dos eof end" { &["BQ1"] } else { &["BQ1", "BQ2"] };
        assert_eq!(ids, want, "{name}");
        if ids.len() == 2 {
            assert_eq!(
                f.statements[1].account.as_deref(),
                Some("FR7630006000011234567890189"),
                "{name}"
            );
        }
    }
}

/// CFONB: an operation of another account is never booked on the current statement; a
/// closing record of another account is not applied to it.
#[test]
fn cfonb_records_of_another_account_are_diagnosed_and_split() {
    let cfonb = String::from_utf8(fixture("cfonb120_fr.txt")).unwrap();
    let lines: Vec<&str> = cfonb.lines().collect();
    // the EDF operation (and its complements) of account 98765432100 in the middle
    let other = |l: &str| format!("{}98765432100{}", &l[..21], &l[32..]);
    let mut text: Vec<String> = Vec::new();
    for l in &lines {
        if l.starts_with("04") && l.contains("PRLV SEPA EDF") {
            text.push(other(l));
        } else {
            text.push((*l).to_owned());
        }
    }
    let f = bank::parse("c.txt", text.join("\n").as_bytes());
    let d = find(&f, "CFONB-ACCOUNT");
    assert_eq!(d.len(), 1, "{:?}", f.diagnostics);
    assert_eq!(d[0].severity, Severity::Error);
    assert!(d[0].message.contains("98765432100"), "{:?}", d[0]);
    let accounts: Vec<Option<&str>> = f.statements.iter().map(|s| s.account.as_deref()).collect();
    assert!(
        accounts.contains(&Some("300040000398765432100")),
        "{accounts:?}"
    );
    let edf = f
        .receipts()
        .into_iter()
        .find(|r| r.amount == dec("-45.10"))
        .unwrap();
    assert_eq!(
        edf.account, "300040000398765432100",
        "booked on its own account"
    );
    // the other receipts stay on the statement's account, and its closing balance is read
    for r in f.receipts().iter().filter(|r| r.amount != dec("-45.10")) {
        assert_eq!(r.account, "300040000312345678901");
    }
    assert!(f
        .statements
        .iter()
        .any(|s| s.account.as_deref() == Some("300040000312345678901")
            && s.closing_balance().map(|b| b.amount) == Some(dec("2154.90"))));
    // a closing record of another account: not applied, said so
    let mut text: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let last = text.len() - 1;
    text[last] = other(&text[last]);
    let f = bank::parse("c.txt", text.join("\n").as_bytes());
    assert!(
        find(&f, "CFONB-ACCOUNT")
            .iter()
            .any(|d| d.message.contains("closing record")),
        "{:?}",
        f.diagnostics
    );
    assert_eq!(f.statements[0].closing_balance(), None);
}

/// The reconcile contract: an entry holding one TxDtls is named by the TxDtls reference.
#[test]
fn an_entry_with_one_detail_is_named_by_the_detail_reference() {
    let camt = String::from_utf8(fixture("camt053_v08_batch.xml")).unwrap();
    let x = camt.replacen(
        "<Refs><EndToEndId>E2E-ACME-42</EndToEndId></Refs>",
        "<Refs><AcctSvcrRef>TX-REF-42</AcctSvcrRef><EndToEndId>E2E-ACME-42</EndToEndId></Refs>",
        1,
    );
    assert_ne!(x, camt);
    let f = bank::parse("c.xml", x.as_bytes());
    assert_eq!(f.receipts()[0].id.as_str(), "TX-REF-42");
    assert_eq!(
        bank::inspect_json(&f)["statements"][0]["entries"][0]["id"],
        "TX-REF-42"
    );
}

/// Encodings: camt in UTF-16 with BOM or declared ISO-8859-1, MT940 in Latin-1 (said so),
/// and bytes that are not UTF-8 in a UTF-8 file (reported with their offset).
#[test]
fn bank_files_in_other_encodings_are_read_and_bad_bytes_reported() {
    let camt = String::from_utf8(fixture("camt053_v08_batch.xml"))
        .unwrap()
        .replace("ACME SARL", "ÉLAN CAFÉ");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            camt.replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\"")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let latin1 = encoding_rs::WINDOWS_1252
        .encode(&camt.replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\""))
        .0
        .into_owned();
    for (name, bytes) in [("utf-16", utf16), ("latin-1", latin1)] {
        assert_eq!(bank::detect(&bytes), Some(BankFormat::Camt053), "{name}");
        let f = bank::parse("c.xml", &bytes);
        assert!(bank::is_usable(&f), "{name}: {:?}", f.diagnostics);
        assert_eq!(
            f.receipts()[0].counterparty_name.as_deref(),
            Some("ÉLAN CAFÉ"),
            "{name}"
        );
        assert!(
            find(&f, "BANK-ENCODING").is_empty(),
            "{name}: {:?}",
            f.diagnostics
        );
        // streamed with a tiny buffer: the same
        let streamed = bank::collect(
            "c.xml",
            bank::parse_reader("c.xml", std::io::BufReader::with_capacity(3, &bytes[..])),
        );
        assert_eq!(streamed, f, "{name}");
    }
    let sta = MT940.replace("FACTURE 1", "FACTURE CAFÉ");
    let latin = encoding_rs::WINDOWS_1252.encode(&sta).0.into_owned();
    let f = bank::parse("l.sta", &latin);
    assert_eq!(f.receipts()[0].remittance, "FACTURE CAFÉ");
    let d = find(&f, "BANK-ENCODING");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Info);
    assert!(d[0].message.contains("windows-1252"), "{:?}", d[0]);
    // a UTF-8 file (the first 64 KiB say so) with one bad byte further on
    let mut big = format!(":20:S0\n:25:X\n:28C:0\n:86:{}\n", "A".repeat(70_000)).into_bytes();
    big.extend_from_slice(MT940.as_bytes());
    let at = big.len() - MT940.len() + MT940.find("FACTURE 1").unwrap() + 8;
    big[at] = 0xE9;
    let f = bank::parse("b.sta", &big);
    let d = find(&f, "BANK-ENCODING");
    assert_eq!(d.len(), 1, "{:?}", f.diagnostics);
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(d[0].path, format!("byte {at}"));
}

/// The streaming API gives, batch by batch, exactly the receipts and keys of the in-memory
/// parse, within the batch size.
#[test]
fn receipt_batches_equal_the_whole_file() {
    for name in [
        "camt053_v08_batch.xml",
        "camt052_v02_intraday.xml",
        "camt054_nons.xml",
        "mt940_fr_de.sta",
        "cfonb120_fr.txt",
        "ofx102_sgml.ofx",
        "ofx211_xml.ofx",
    ] {
        let bytes = fixture(name);
        let whole = bank::parse(name, &bytes);
        for size in [1, 2, 7, 1000] {
            let mut batches =
                bank::receipt_batches(name, std::io::BufReader::with_capacity(5, &bytes[..]), size);
            let mut keyed = Vec::new();
            let mut diags = Vec::new();
            let mut last = false;
            for b in batches.by_ref() {
                assert!(!last, "nothing after the last batch");
                assert!(b.receipts.len() + b.diagnostics.len() <= size);
                keyed.extend(b.receipts);
                diags.extend(b.diagnostics);
                last = b.last;
            }
            assert!(last, "{name}: a last batch");
            assert_eq!(keyed, whole.keyed_receipts(), "{name} by {size}");
            assert_eq!(diags, whole.diagnostics, "{name} by {size}");
            let s = batches.summary();
            assert_eq!(s.usable(), bank::is_usable(&whole), "{name}");
            assert_eq!(s.statements, whole.statements.len());
            assert_eq!(s.format, whole.format);
        }
        // the streamed inspect is the same JSON as the in-memory one
        let mut out = Vec::new();
        let usable = bank::write_inspect_json(name, &bytes[..], &mut out).unwrap();
        assert_eq!(usable, bank::is_usable(&whole));
        let streamed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(streamed, bank::inspect_json(&whole), "{name}");
        let mut text = Vec::new();
        bank::write_inspect_text(name, &bytes[..], &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        for s in bank::inspect_json(&whole)["statements"].as_array().unwrap() {
            for e in s["entries"].as_array().unwrap() {
                let id = e["id"].as_str().unwrap();
                assert!(text.contains(id), "{name}: {id} not in\n{text}");
            }
        }
    }
}
