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

fn rules_of(f: &einvoice::ParsedFile) -> Vec<(Severity, String, String, String)> {
    f.diagnostics
        .iter()
        .map(|d| {
            (
                d.severity,
                d.rule.clone(),
                d.path.clone(),
                d.message.clone(),
            )
        })
        .collect()
}

use relance_connectors::formats::diag::Severity;

/// Amounts follow `xs:decimal` only: an exponent, a decimal comma, `NaN` or more digits than
/// an amount holds is an error naming the element and the value, never an amount read
/// differently (`1e9` as 1 000 000 000) nor a "missing" one.
#[test]
fn amounts_in_another_syntax_are_errors_naming_the_element() {
    let cii = write::cii(&sample(380));
    let ubl = write::ubl(&sample(380));
    let thirty = "9".repeat(30);
    for bad in ["1e9", "12,50", "NaN", thirty.as_str(), "1 089"] {
        for (xml, element) in [
            (
                cii.replace(
                    "<ram:DuePayableAmount>108.89<",
                    &format!("<ram:DuePayableAmount>{bad}<"),
                ),
                "DuePayableAmount",
            ),
            (
                ubl.replace(
                    "<cbc:PayableAmount currencyID=\"EUR\">108.89<",
                    &format!("<cbc:PayableAmount currencyID=\"EUR\">{bad}<"),
                ),
                "PayableAmount",
            ),
        ] {
            let f = einvoice::parse("amount.xml", xml.as_bytes());
            let r = rules_of(&f);
            let hit = r
                .iter()
                .find(|(_, rule, path, _)| rule == "EINV-DECIMAL" && path.ends_with(element));
            let (sev, _, _, msg) = hit.unwrap_or_else(|| panic!("{bad}: {r:?}"));
            assert_eq!(
                *sev,
                Severity::Fatal,
                "BT-115 unreadable: the invoice is not imported"
            );
            assert!(msg.contains("BT-115") && msg.contains(&bad[..3]), "{msg}");
            assert!(
                !r.iter().any(|(_, rule, _, m)| rule == "BR-15"
                    || m.contains("is missing") && m.contains("BT-115")),
                "{bad}: called missing: {r:?}"
            );
            assert_eq!(f.documents[0].amount_due, None);
            assert!(!einvoice::is_usable(&f));
        }
    }
    // a line quantity in another syntax: an error, the invoice is still usable
    let xml = cii.replace(
        "<ram:BilledQuantity unitCode=\"C62\">3</ram:BilledQuantity>",
        "<ram:BilledQuantity unitCode=\"C62\">3,0</ram:BilledQuantity>",
    );
    assert_ne!(xml, cii);
    let f = einvoice::parse("qty.xml", xml.as_bytes());
    assert!(einvoice::is_usable(&f));
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "EINV-DECIMAL"
            && d.severity == Severity::Error
            && d.message.contains("BT-129")),
        "{:?}",
        f.diagnostics
    );
}

/// An impossible date is reported with the element and the value; none is put in its place.
#[test]
fn an_impossible_due_date_is_reported_never_replaced() {
    let cii = write::cii(&sample(380)).replace(">20260401<", ">20260230<");
    let f = einvoice::parse("due.xml", cii.as_bytes());
    let d = f
        .diagnostics
        .iter()
        .find(|d| d.rule == "EINV-DATE")
        .unwrap_or_else(|| panic!("{:?}", f.diagnostics));
    assert!(
        d.message.contains("BT-9") && d.message.contains("20260230"),
        "{d:?}"
    );
    assert!(d.path.contains("DueDateDateTime"), "{d:?}");
    assert_eq!(f.documents[0].due_date, None);
    assert!(
        einvoice::is_usable(&f),
        "the invoice is still read, without a due date"
    );
    let ubl = write::ubl(&sample(380)).replace(">2026-04-01<", ">2026-02-30<");
    let f = einvoice::parse("due.xml", ubl.as_bytes());
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "EINV-DATE"
            && d.path == "DueDate"
            && d.message.contains("2026-02-30")),
        "{:?}",
        f.diagnostics
    );
    // an impossible issue date makes the invoice unusable (no date is ever assumed)
    let f = einvoice::parse(
        "issue.xml",
        write::cii(&sample(380))
            .replace(">20260302<", ">20261332<")
            .as_bytes(),
    );
    assert!(!einvoice::is_usable(&f));
    assert!(f
        .diagnostics
        .iter()
        .any(|d| d.rule == "EINV-DATE" && d.severity == Severity::Fatal));
}

/// A cash-discount term without date, then the term with the due date: BT-9 is kept.
#[test]
fn several_payment_terms_keep_the_due_date() {
    let terms = "<ram:SpecifiedTradePaymentTerms><ram:Description>2 % d'escompte sous 8 jours</ram:Description><ram:ApplicableTradePaymentDiscountTerms><ram:BasisPeriodMeasure unitCode=\"DAY\">8</ram:BasisPeriodMeasure><ram:CalculationPercent>2</ram:CalculationPercent></ram:ApplicableTradePaymentDiscountTerms></ram:SpecifiedTradePaymentTerms><ram:SpecifiedTradePaymentTerms>";
    let xml = write::cii(&sample(380)).replacen("<ram:SpecifiedTradePaymentTerms>", terms, 1);
    let f = einvoice::parse("terms.xml", xml.as_bytes());
    assert_eq!(
        f.documents[0].due_date,
        NaiveDate::from_ymd_opt(2026, 4, 1),
        "{:?}",
        f.diagnostics
    );
    assert_eq!(
        f.documents[0].payment_terms.as_deref(),
        Some("2 % d'escompte sous 8 jours")
    );
    // two dated terms (discount date, net date): the net date, with a warning naming both
    let dated = "<ram:SpecifiedTradePaymentTerms><ram:Description>Escompte</ram:Description><ram:DueDateDateTime><udt:DateTimeString format=\"102\">20260310</udt:DateTimeString></ram:DueDateDateTime><ram:ApplicableTradePaymentDiscountTerms><ram:CalculationPercent>2</ram:CalculationPercent></ram:ApplicableTradePaymentDiscountTerms></ram:SpecifiedTradePaymentTerms><ram:SpecifiedTradePaymentTerms>";
    let xml = write::cii(&sample(380)).replacen("<ram:SpecifiedTradePaymentTerms>", dated, 1);
    let f = einvoice::parse("terms.xml", xml.as_bytes());
    assert_eq!(f.documents[0].due_date, NaiveDate::from_ymd_opt(2026, 4, 1));
    assert!(f
        .diagnostics
        .iter()
        .any(|d| d.rule == "EINV-TERMS" && d.message.contains("2026-03-10")));
}

/// BR-CO-17 as CEN's artefacts check it: within 1.00 a warning with the difference, beyond
/// an error; a warning never makes an invoice unusable.
#[test]
fn br_co_17_allows_the_official_tolerance() {
    let xml = write::cii(&sample(380));
    for (tax, ttc, sev, diff) in [
        ("11.98", "108.88", Severity::Warning, "-0.01"),
        ("12.99", "109.89", Severity::Warning, "1.00"),
        ("13.00", "109.90", Severity::Error, "1.01"),
    ] {
        let x = xml
            .replace(
                "<ram:CalculatedAmount>11.99</ram:CalculatedAmount>",
                &format!("<ram:CalculatedAmount>{tax}</ram:CalculatedAmount>"),
            )
            .replace(
                ">13.92<",
                &format!(
                    ">{}<",
                    rust_decimal::Decimal::from_str_exact(tax).unwrap() + dec!(1.93)
                ),
            )
            .replace(">108.89<", &format!(">{ttc}<"));
        let f = einvoice::parse("vat.xml", x.as_bytes());
        let d = f
            .diagnostics
            .iter()
            .find(|d| d.rule == "BR-CO-17")
            .unwrap_or_else(|| panic!("{tax}: {:?}", f.diagnostics));
        assert_eq!(d.severity, sev, "{tax}: {d:?}");
        assert!(d.message.contains(diff), "{tax}: {d:?}");
        assert!(einvoice::is_usable(&f));
        assert!(
            !f.diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error && d.rule != "BR-CO-17"),
            "{:?}",
            f.diagnostics
        );
    }
}

/// A root named like a supported one in an unknown namespace (a pre-standard `<Invoice>`) is
/// an unsupported format, not an all-empty invoice.
#[test]
fn a_root_in_an_unknown_namespace_is_an_unsupported_format() {
    for xml in [
        "<?xml version=\"1.0\"?><Invoice><ID>F1</ID><Total>12.00</Total></Invoice>".to_owned(),
        write::ubl(&sample(380)).replace(
            "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
            "http://example.com/pre-standard-invoice",
        ),
        write::cii(&sample(380)).replace(
            "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
            "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:13",
        ),
    ] {
        let f = einvoice::parse("old.xml", xml.as_bytes());
        assert!(!einvoice::is_usable(&f));
        assert!(f.documents.is_empty());
        let d = f
            .diagnostics
            .iter()
            .find(|d| d.rule == "EINV-NAMESPACE")
            .unwrap_or_else(|| panic!("{:?}", f.diagnostics));
        assert_eq!(d.severity, Severity::Fatal);
        assert!(d.message.contains("unsupported format"), "{d:?}");
    }
}

fn utf16(s: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for u in s.encode_utf16() {
        out.extend(if big_endian {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

/// Declared encodings are honoured (UTF-16 with BOM, ISO-8859-1/15, windows-1252); bytes
/// that are not valid in the encoding are an error giving their offset, never silently read
/// as another character set.
#[test]
fn declared_encodings_are_honoured_and_bad_bytes_reported() {
    let mut inv = sample(380);
    inv.buyer.0 = "Café Œuvre €".into();
    let xml = write::cii(&inv);
    for (label, bytes) in [
        (
            "utf-16le",
            utf16(
                &xml.replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\""),
                false,
            ),
        ),
        (
            "utf-16be",
            utf16(
                &xml.replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\""),
                true,
            ),
        ),
    ] {
        let f = einvoice::parse("u16.xml", &bytes);
        assert!(einvoice::is_usable(&f), "{label}: {:?}", f.diagnostics);
        assert_eq!(
            f.documents[0].buyer.name.as_deref(),
            Some("Café Œuvre €"),
            "{label}"
        );
    }
    // windows-1252 and ISO-8859-15 both have Œ and €
    for (label, enc) in [
        ("windows-1252", encoding_rs::WINDOWS_1252),
        ("ISO-8859-15", encoding_rs::ISO_8859_15),
    ] {
        let text = xml.replace("encoding=\"UTF-8\"", &format!("encoding=\"{label}\""));
        let (bytes, _, bad) = enc.encode(&text);
        assert!(!bad);
        let f = einvoice::parse("latin.xml", &bytes);
        assert!(f.diagnostics.is_empty(), "{label}: {:?}", f.diagnostics);
        assert_eq!(
            f.documents[0].buyer.name.as_deref(),
            Some("Café Œuvre €"),
            "{label}"
        );
    }
    // ISO-8859-1 declared: é read as é
    let mut inv = sample(380);
    inv.buyer.0 = "Café du Marché".into();
    let text = write::cii(&inv).replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let f = einvoice::parse("latin1.xml", &bytes);
    assert_eq!(f.documents[0].buyer.name.as_deref(), Some("Café du Marché"));
    // Latin-1 bytes in a file that says UTF-8: an error with the offset of the first one
    let lying = text.replace("encoding=\"ISO-8859-1\"", "encoding=\"UTF-8\"");
    let (lying, _, _) = encoding_rs::WINDOWS_1252.encode(&lying);
    let at = lying.iter().position(|b| *b == 0xE9).unwrap();
    let f = einvoice::parse("lying.xml", &lying);
    let d = f
        .diagnostics
        .iter()
        .find(|d| d.rule == "XML-ENCODING")
        .unwrap_or_else(|| panic!("{:?}", f.diagnostics));
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.path, format!("byte {at}"), "{d:?}");
    assert!(d.message.contains("UTF-8"), "{d:?}");
    assert_eq!(
        f.documents[0].buyer.name.as_deref(),
        Some("Caf\u{fffd} du March\u{fffd}")
    );
}
