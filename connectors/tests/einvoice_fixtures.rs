//! E-invoice parsing on the project's own fixtures (no shared corpus needed): CII, UBL invoice
//! and credit note, a Factur-X PDF built here, broken and hostile inputs.
#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use relance_connectors::formats::einvoice::{self, write, Format};
use relance_core::{CustomerKind, InvoiceKind, InvoiceStatus};
use rust_decimal_macros::dec;

fn sample(type_code: u16) -> write::SimpleInvoice {
    write::SimpleInvoice {
        number: "F2026-0042".into(),
        type_code,
        issue_date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        due_date: Some(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()),
        currency: "EUR".into(),
        seller: ("Atelier Lumière SAS".into(), Some("812345676".into())),
        buyer: ("Garage Dupont & Fils SAS".into(), Some("523456788".into())),
        buyer_reference: Some("SERVICE-ACHATS".into()),
        order_reference: Some("PO-7781".into()),
        iban: Some("FR7630004000031234567890143".into()),
        lines: vec![
            ("Réglette LED".into(), dec!(3), dec!(19.99), dec!(20)),
            ("Livre technique".into(), dec!(1), dec!(35.00), dec!(5.5)),
        ],
    }
}

#[test]
fn cii_written_then_read_back() {
    let xml = write::cii(&sample(380));
    let f = einvoice::parse("f.xml", xml.as_bytes());
    assert_eq!(f.format, Some(Format::Cii));
    assert_eq!(f.profile.as_deref(), Some("EN 16931"));
    assert!(einvoice::is_usable(&f), "{:?}", f.diagnostics);
    assert!(f.diagnostics.is_empty(), "{:?}", f.diagnostics);
    let d = &f.documents[0];
    // 3 × 19.99 = 59.97 at 20 % → 11.99; 35.00 at 5.5 % → 1.93 (1.925 rounded half away from zero).
    assert_eq!(d.line_total, Some(dec!(94.97)));
    assert_eq!(d.total_vat, Some(dec!(13.92)));
    assert_eq!(d.total_with_vat, Some(dec!(108.89)));
    assert_eq!(d.buyer.name.as_deref(), Some("Garage Dupont & Fils SAS"));
    assert_eq!(d.order_reference.as_deref(), Some("PO-7781"));
    let (inv, cust) = einvoice::to_core(d);
    assert_eq!(inv.id.as_str(), "F2026-0042");
    assert_eq!(inv.kind, InvoiceKind::Invoice);
    assert_eq!(inv.amount_due, dec!(108.89));
    assert_eq!(inv.status, InvoiceStatus::Open);
    assert_eq!(cust.id.as_str(), "523456788");
    assert_eq!(cust.kind, CustomerKind::Business);
}

#[test]
fn ubl_invoice_and_credit_note() {
    let f = einvoice::parse("u.xml", write::ubl(&sample(380)).as_bytes());
    assert_eq!(f.format, Some(Format::Ubl));
    assert!(f.diagnostics.is_empty(), "{:?}", f.diagnostics);
    assert_eq!(f.documents[0].total_with_vat, Some(dec!(108.89)));
    let c = einvoice::parse("c.xml", write::ubl(&sample(381)).as_bytes());
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let (inv, _) = einvoice::to_core(&c.documents[0]);
    assert_eq!(inv.kind, InvoiceKind::CreditNote);
    assert_eq!(inv.total_with_vat, dec!(108.89));
    assert_eq!(c.documents[0].lines.len(), 2);
}

#[test]
fn arithmetic_rules_report_their_ids() {
    let xml = write::cii(&sample(380)).replace(
        "<ram:GrandTotalAmount>108.89</ram:GrandTotalAmount>",
        "<ram:GrandTotalAmount>108.99</ram:GrandTotalAmount>",
    );
    let f = einvoice::parse("bad.xml", xml.as_bytes());
    let rules: Vec<&str> = f.diagnostics.iter().map(|d| d.rule.as_str()).collect();
    assert!(rules.contains(&"BR-CO-15"), "{rules:?}");
    assert!(rules.contains(&"BR-CO-16"), "{rules:?}");
    // A file with errors is still shown (and still usable: the policy decides).
    assert!(einvoice::is_usable(&f));
    let xml = write::cii(&sample(380)).replace(
        "<ram:LineTotalAmount>59.97</ram:LineTotalAmount>",
        "<ram:LineTotalAmount>59.00</ram:LineTotalAmount>",
    );
    let f = einvoice::parse("bad.xml", xml.as_bytes());
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "BR-CO-10"),
        "{:?}",
        f.diagnostics
    );
    let xml = write::cii(&sample(380)).replace("<ram:ID>F2026-0042</ram:ID>", "");
    let f = einvoice::parse("bad.xml", xml.as_bytes());
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "BR-02"),
        "{:?}",
        f.diagnostics
    );
    assert!(!einvoice::is_usable(&f));
    let xml = write::cii(&sample(380)).replace("523456788", "523456789");
    let f = einvoice::parse("bad.xml", xml.as_bytes());
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "FR-SIREN"),
        "{:?}",
        f.diagnostics
    );
}

/// BT-110 is the TaxTotalAmount in the invoice currency: one only in another currency (the VAT
/// accounting currency, BT-111) is not read as the invoice's VAT (CEN's BR-CO-15 test set).
#[test]
fn vat_total_only_in_another_currency_is_not_bt110() {
    let xml = write::cii(&sample(380));
    let f = einvoice::parse("ok.xml", xml.as_bytes());
    assert_eq!(f.documents[0].total_vat, Some(dec!(13.92)));
    let xml = xml.replace(
        "<ram:TaxTotalAmount currencyID=\"EUR\">",
        "<ram:TaxTotalAmount currencyID=\"DKK\">",
    );
    let f = einvoice::parse("bad.xml", xml.as_bytes());
    assert_eq!(f.documents[0].total_vat, None);
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "BR-CO-15"),
        "{:?}",
        f.diagnostics
    );
}

/// Found by the `einvoice_xml` fuzzer: the XML declaration is read without slicing inside a
/// character, whatever stands where the encoding's quote should be.
#[test]
fn xml_declaration_oddities_do_not_panic() {
    let f = einvoice::parse(
        "quote.xml",
        b"<?xml version=\"1.0\" encoding=\xEF\xBB\xBF<?xml version='1.0' encoding='UTF-8'?><a/>",
    );
    assert!(!einvoice::is_usable(&f));
    // A declaration whose first 200 bytes end inside a character is still read.
    let decl = "<?xml version=\"1.0\" encoding=\"x-unknown\"?><!--";
    let mut xml = format!("{decl}{}", "a".repeat(199 - decl.len()));
    xml.push_str("é-->");
    assert_eq!(xml.as_bytes()[199], 0xC3, "é straddles byte 200");
    xml.push_str(write::cii(&sample(380)).split_once("?>").unwrap().1);
    let f = einvoice::parse("long.xml", xml.as_bytes());
    assert!(einvoice::is_usable(&f), "{:?}", f.diagnostics);
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "XML-ENCODING"),
        "{:?}",
        f.diagnostics
    );
}

/// A minimal PDF with `xml` attached, uncompressed, as `name` (EmbeddedFiles name tree and /AF).
fn pdf_with(name: &str, xml: &[u8]) -> Vec<u8> {
    write::pdf_with_attachment(name, xml).unwrap()
}

#[test]
fn facturx_pdf_with_and_without_attachment() {
    let mut xml = b"\xEF\xBB\xBF".to_vec();
    xml.extend_from_slice(write::cii(&sample(380)).as_bytes());
    let pdf = pdf_with("factur-x.xml", &xml);
    let f = einvoice::parse("f.pdf", &pdf);
    assert_eq!(f.format, Some(Format::FacturxPdf));
    assert!(einvoice::is_usable(&f), "{:?}", f.diagnostics);
    assert_eq!(f.documents[0].total_with_vat, Some(dec!(108.89)));

    let pdf = pdf_with("notes.txt", b"hello");
    let f = einvoice::parse("plain.pdf", &pdf);
    assert!(!einvoice::is_usable(&f));
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "FX-NO-XML"),
        "{:?}",
        f.diagnostics
    );

    let f = einvoice::parse("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog");
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "PDF-SYNTAX"),
        "{:?}",
        f.diagnostics
    );
}

#[test]
fn hostile_inputs_are_refused_not_expanded() {
    let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<rsm:CrossIndustryInvoice xmlns:rsm="x"><a>&lol2;</a></rsm:CrossIndustryInvoice>"#;
    let f = einvoice::parse("bomb.xml", bomb);
    assert!(f.diagnostics.iter().any(|d| d.rule == "XML-DTD"));
    let deep = format!(
        "<Invoice>{}{}</Invoice>",
        "<x>".repeat(10_000),
        "</x>".repeat(10_000)
    );
    assert!(einvoice::parse("deep.xml", deep.as_bytes())
        .diagnostics
        .iter()
        .any(|d| d.rule == "XML-DEPTH"));
    let big = vec![b' '; einvoice::MAX_BYTES + 1];
    assert!(einvoice::parse("big.xml", &big)
        .diagnostics
        .iter()
        .any(|d| d.rule == "FILE-SIZE"));
    let f = einvoice::parse("trunc.xml", &write::cii(&sample(380)).as_bytes()[..500]);
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "XML-SYNTAX"),
        "{:?}",
        f.diagnostics
    );
    assert!(!einvoice::is_usable(&f));
    let f = einvoice::parse(
        "other.xml",
        b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"/>",
    );
    assert!(f.diagnostics.iter().any(|d| d.rule == "EINV-ROOT"));
}

#[test]
fn zugferd1_is_recognised_not_misread() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15">
<rsm:SpecifiedExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn:ferd:CrossIndustryDocument:invoice:1p0:basic</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter></rsm:SpecifiedExchangedDocumentContext>
<rsm:HeaderExchangedDocument><ram:ID>471102</ram:ID><ram:TypeCode>380</ram:TypeCode><ram:IssueDateTime><udt:DateTimeString format="102">20130305</udt:DateTimeString></ram:IssueDateTime></rsm:HeaderExchangedDocument>
<rsm:SpecifiedSupplyChainTradeTransaction><ram:ApplicableSupplyChainTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
<ram:SpecifiedTradeSettlementMonetarySummation><ram:LineTotalAmount currencyID="EUR">198.00</ram:LineTotalAmount><ram:TaxBasisTotalAmount currencyID="EUR">198.00</ram:TaxBasisTotalAmount><ram:TaxTotalAmount currencyID="EUR">37.62</ram:TaxTotalAmount><ram:GrandTotalAmount currencyID="EUR">235.62</ram:GrandTotalAmount><ram:DuePayableAmount currencyID="EUR">235.62</ram:DuePayableAmount></ram:SpecifiedTradeSettlementMonetarySummation>
</ram:ApplicableSupplyChainTradeSettlement></rsm:SpecifiedSupplyChainTradeTransaction></rsm:CrossIndustryDocument>"#;
    let f = einvoice::parse("z1.xml", xml);
    assert_eq!(f.format, Some(Format::Zugferd1));
    assert_eq!(f.documents[0].number.as_deref(), Some("471102"));
    assert_eq!(f.documents[0].total_with_vat, Some(dec!(235.62)));
}

#[test]
fn inspect_json_has_the_contract_shape() {
    let f = einvoice::parse("f.xml", write::ubl(&sample(380)).as_bytes());
    let v = einvoice::inspect_json(&f);
    assert_eq!(v["format"], "ubl");
    let d = &v["documents"][0];
    for k in [
        "number",
        "type_code",
        "issue_date",
        "due_date",
        "currency",
        "seller",
        "buyer",
        "buyer_reference",
        "order_reference",
        "total_without_vat",
        "total_vat",
        "total_with_vat",
        "prepaid",
        "amount_due",
        "lines",
    ] {
        assert!(d.get(k).is_some(), "missing {k}");
    }
    assert_eq!(d["total_with_vat"], "108.89");
    assert_eq!(d["buyer"]["kind"], "business");
    assert!(v["diagnostics"].is_array());
}

/// The EN 16931 rule set of the `en16931` crate, as an extra pass (feature `en16931-rules`).
#[cfg(feature = "en16931-rules")]
#[test]
fn deep_rules_add_en16931_findings_with_rule_ids() {
    use relance_connectors::formats::diag::Severity;
    let xml = write::cii(&sample(380));
    // The written invoice has standard-rated lines and no seller VAT id: BR-S-02, a rule
    // relance does not check itself.
    assert!(einvoice::parse("f.xml", xml.as_bytes())
        .diagnostics
        .is_empty());
    let f = einvoice::parse_deep("f.xml", xml.as_bytes());
    let br_s_02 = f.diagnostics.iter().find(|d| d.rule == "BR-S-02");
    let br_s_02 = br_s_02.unwrap_or_else(|| panic!("{:?}", f.diagnostics));
    assert_eq!(br_s_02.severity, Severity::Error);
    assert!(br_s_02.path.contains("BT-31"), "{br_s_02:?}");
    assert!(
        einvoice::is_usable(&f),
        "deep findings never make a file unusable"
    );

    // A direct-debit mandate beside the payee IBAN: the crate's reader loses the IBAN and
    // reports BR-61; relance read the IBAN, so that finding is dropped.
    let with_mandate = xml.replace(
        "</ram:DueDateDateTime>",
        "</ram:DueDateDateTime><ram:DirectDebitMandateID>MANDAT-1</ram:DirectDebitMandateID>",
    );
    let f = einvoice::parse_deep("m.xml", with_mandate.as_bytes());
    assert!(f.documents[0].iban.is_some());
    assert!(
        !f.diagnostics.iter().any(|d| d.rule == "BR-61"),
        "{:?}",
        f.diagnostics
    );

    // Inside a Factur-X PDF the findings carry the attachment name in their path.
    let pdf = pdf_with("factur-x.xml", xml.as_bytes());
    let f = einvoice::parse_deep("f.pdf", &pdf);
    assert!(
        f.diagnostics
            .iter()
            .any(|d| d.rule == "BR-S-02" && d.path.starts_with("factur-x.xml:")),
        "{:?}",
        f.diagnostics
    );

    // Broken XML: relance's own fatal diagnostic, the rule set does not run.
    let f = einvoice::parse_deep("t.xml", &xml.as_bytes()[..500]);
    assert!(!einvoice::is_usable(&f));
}
