//! Hostile PDFs, generated here (`formats::hostile`): nested 200 000 levels deep, carrying
//! decompression bombs in an unused object stream, in an attachment that is not the invoice,
//! in the invoice itself and in the object stream the catalog lives in. Each is read in a
//! child process of this test binary under a memory ceiling: the reading must end with the
//! invoice or with a reason, never with a crash, and never inflate what it does not need.
#![allow(clippy::unwrap_used)]

mod bounded;

use bounded::{assert_under, bounded};
use chrono::NaiveDate;
use relance_connectors::formats::einvoice::{self, write};
use relance_connectors::formats::hostile::{self, PdfSpec};

const GB: u64 = 1 << 30;

fn invoice_xml() -> Vec<u8> {
    let mut inv = write::sample(7);
    inv.issue_date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    write::cii(&inv).into_bytes()
}

/// `file usable rules…` of a parse, for the parent to check.
fn summary(f: &einvoice::ParsedFile) -> String {
    let rules: Vec<String> = f
        .diagnostics
        .iter()
        .map(|d| format!("{:?}:{}", d.severity, d.rule))
        .collect();
    format!(
        "usable={} number={} rules={}",
        einvoice::is_usable(f),
        f.documents
            .first()
            .and_then(|d| d.number.clone())
            .unwrap_or_default(),
        rules.join(",")
    )
}

#[test]
fn a_pdf_nested_200000_levels_is_refused_not_a_crash() {
    let Some(o) = bounded("a_pdf_nested_200000_levels_is_refused_not_a_crash", || {
        let pdf = hostile::pdf(&PdfSpec {
            invoice: Some(invoice_xml()),
            nesting: 200_000,
            ..PdfSpec::default()
        });
        assert!(pdf.len() > 400_000);
        summary(&einvoice::parse("nested.pdf", &pdf))
    }) else {
        return;
    };
    assert!(o.summary.contains("usable=false"), "{}", o.summary);
    assert!(o.summary.contains("Fatal:PDF-DEPTH"), "{}", o.summary);
    assert_under(&o, 100, "nested PDF");
}

#[test]
fn pdf_bombs_beside_the_invoice_are_never_inflated() {
    let Some(o) = bounded("pdf_bombs_beside_the_invoice_are_never_inflated", || {
        // 1 GiB in an object stream nothing uses, 1 GiB in an attachment that is not XML
        let pdf = hostile::pdf(&PdfSpec {
            invoice: Some(invoice_xml()),
            compress_invoice: true,
            unused_objstm_bomb: GB,
            other_attachment_bomb: GB,
            ..PdfSpec::default()
        });
        assert!(pdf.len() < 16 << 20, "{}", pdf.len());
        summary(&einvoice::parse("bombs.pdf", &pdf))
    }) else {
        return;
    };
    assert!(o.summary.contains("usable=true"), "{}", o.summary);
    assert!(o.summary.contains("number=FA-2026-000007"), "{}", o.summary);
    assert!(o.summary.contains("Info:FX-ATTACHMENT"), "{}", o.summary);
    assert_under(&o, 150, "PDF with bombs beside the invoice");
}

#[test]
fn an_invoice_attachment_that_is_a_bomb_stops_at_the_size_limit() {
    let Some(o) = bounded(
        "an_invoice_attachment_that_is_a_bomb_stops_at_the_size_limit",
        || {
            let pdf = hostile::pdf(&PdfSpec {
                invoice_bomb: GB,
                ..PdfSpec::default()
            });
            summary(&einvoice::parse("xml-bomb.pdf", &pdf))
        },
    ) else {
        return;
    };
    assert!(o.summary.contains("usable=false"), "{}", o.summary);
    assert!(o.summary.contains("Fatal:FILE-SIZE"), "{}", o.summary);
    assert_under(&o, 200, "PDF whose invoice is a bomb");
}

#[test]
fn a_bomb_in_the_object_stream_of_the_catalog_stops_at_its_cap() {
    let Some(o) = bounded(
        "a_bomb_in_the_object_stream_of_the_catalog_stops_at_its_cap",
        || {
            let pdf = hostile::pdf(&PdfSpec {
                invoice: Some(invoice_xml()),
                compressed_structure: true,
                structure_bomb: GB,
                ..PdfSpec::default()
            });
            summary(&einvoice::parse("objstm-bomb.pdf", &pdf))
        },
    ) else {
        return;
    };
    // the object stream is refused once over its cap: the catalog cannot be read
    assert!(o.summary.contains("usable=false"), "{}", o.summary);
    assert!(o.summary.contains("Warning:PDF-OBJSTM"), "{}", o.summary);
    assert_under(&o, 150, "PDF whose catalog sits in a bomb");
}

#[test]
fn catalog_and_file_specification_in_compressed_object_streams_are_read() {
    for compress_invoice in [false, true] {
        let pdf = hostile::pdf(&PdfSpec {
            invoice: Some(invoice_xml()),
            compress_invoice,
            compressed_structure: true,
            ..PdfSpec::default()
        });
        let f = einvoice::parse("modern.pdf", &pdf);
        assert!(einvoice::is_usable(&f), "{:?}", f.diagnostics);
        assert_eq!(
            f.documents[0].number.as_deref(),
            Some("FA-2026-000007"),
            "{:?}",
            f.diagnostics
        );
    }
}

#[test]
fn broken_and_hostile_pdf_structures_end_with_a_reason() {
    let xml = invoice_xml();
    let good = hostile::pdf(&PdfSpec {
        invoice: Some(xml.clone()),
        ..PdfSpec::default()
    });
    assert!(einvoice::is_usable(&einvoice::parse("ok.pdf", &good)));
    // every prefix of a PDF parses to an invoice or a reason
    for n in (0..good.len()).step_by(97) {
        let f = einvoice::parse("cut.pdf", &good[..n]);
        assert!(einvoice::is_usable(&f) || !f.diagnostics.is_empty());
    }
    // an encrypted PDF is refused
    let enc = String::from_utf8_lossy(&good).replace("/Root 2 0 R", "/Root 2 0 R /Encrypt 1 0 R");
    let f = einvoice::parse("enc.pdf", enc.as_bytes());
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "PDF-ENCRYPTED"),
        "{:?}",
        f.diagnostics
    );
    // unterminated strings everywhere: bounded work, a reason
    let mut hostile = b"%PDF-1.7\n".to_vec();
    for i in 0..20_000 {
        hostile.extend_from_slice(format!("{i} 0 obj (((((\n").as_bytes());
    }
    let f = einvoice::parse("strings.pdf", &hostile);
    assert!(!einvoice::is_usable(&f));
    assert!(!f.diagnostics.is_empty());
    // a name tree whose kids refer to themselves
    let cyclic =
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Names << /EmbeddedFiles 2 0 R >> >> endobj\n\
2 0 obj << /Kids [2 0 R 2 0 R] >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF";
    let f = einvoice::parse("cycle.pdf", cyclic);
    assert!(
        f.diagnostics.iter().any(|d| d.rule == "FX-NO-XML"),
        "{:?}",
        f.diagnostics
    );
}

/// The structured fuzz target's invariants on a hundred recipes (bombs of 4 MiB at most here;
/// the fuzzer goes to gigabytes).
#[test]
fn pdf_recipes_keep_the_fuzz_invariants() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..100 {
        let len = 8 + i % 20;
        let recipe: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        einvoice::fuzz::pdf_structured_within(&recipe, 1 << 22);
    }
}
