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
