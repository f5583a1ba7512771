//! E-invoice ingestion throughput: 10 000 generated CII and UBL invoices, and Factur-X PDFs,
//! parsed with every EN 16931 check and converted to relance's invoice and customer, beside a
//! plain quick-xml event scan of the same bytes (the floor no parser can beat).
//!
//! `cargo bench -p relance-connectors --bench einvoice`
#![allow(clippy::unwrap_used, missing_docs)]

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lopdf::{dictionary, Document, Object, Stream, StringFormat};
use relance_connectors::formats::einvoice::{self, write};
use rust_decimal::Decimal;
use std::hint::black_box;

const N: usize = 10_000;

fn invoice(i: usize) -> write::SimpleInvoice {
    let lines = (0..1 + i % 5)
        .map(|l| {
            (
                format!("Article {l} de la commande {i}"),
                Decimal::from(1 + (i + l) % 7),
                Decimal::new(1999 + ((i * 37 + l * 11) % 50_000) as i64, 2),
                if l % 3 == 0 {
                    Decimal::new(55, 1)
                } else {
                    Decimal::from(20)
                },
            )
        })
        .collect();
    write::SimpleInvoice {
        number: format!("FA-2026-{i:06}"),
        type_code: if i % 20 == 0 { 381 } else { 380 },
        issue_date: NaiveDate::from_ymd_opt(2026, 1 + (i % 12) as u32, 1 + (i % 28) as u32)
            .unwrap(),
        due_date: NaiveDate::from_ymd_opt(2026, 1 + (i % 12) as u32, 28),
        currency: "EUR".into(),
        seller: ("Atelier Lumière SAS".into(), Some("812345676".into())),
        buyer: (format!("Client numéro {i} SARL"), None),
        buyer_reference: (i % 4 == 0).then(|| format!("SERVICE-{}", i % 97)),
        order_reference: (i % 3 == 0).then(|| format!("PO-{i}")),
        iban: Some("FR7630004000031234567890143".into()),
        lines,
    }
}

fn scan(bytes: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            Ok(_) => n += 1,
        }
        buf.clear();
    }
    n
}

fn pdf_with(xml: &[u8]) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages = doc.new_object_id();
    doc.objects.insert(
        pages,
        Object::Dictionary(
            dictionary! {"Type" => "Pages", "Kids" => Vec::<Object>::new(), "Count" => 0},
        ),
    );
    let mut stream = Stream::new(dictionary! {"Type" => "EmbeddedFile"}, xml.to_vec());
    let _ = stream.compress();
    let file = doc.add_object(stream);
    let name = || Object::String(b"factur-x.xml".to_vec(), StringFormat::Literal);
    let spec = doc.add_object(dictionary! {"Type" => "Filespec", "F" => name(), "UF" => name(), "EF" => dictionary! {"F" => file}});
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages, "AF" => vec![Object::Reference(spec)],
        "Names" => dictionary! {"EmbeddedFiles" => dictionary! {"Names" => vec![name(), Object::Reference(spec)]}}});
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let cii: Vec<Vec<u8>> = (0..N)
        .map(|i| write::cii(&invoice(i)).into_bytes())
        .collect();
    let ubl: Vec<Vec<u8>> = (0..N)
        .map(|i| write::ubl(&invoice(i)).into_bytes())
        .collect();
    let pdfs: Vec<Vec<u8>> = cii.iter().take(1_000).map(|x| pdf_with(x)).collect();
    let mut g = c.benchmark_group("einvoice");
    g.sample_size(10);
    for (label, docs) in [("cii", &cii), ("ubl", &ubl), ("facturx_pdf", &pdfs)] {
        let bytes: usize = docs.iter().map(Vec::len).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(
            BenchmarkId::new("parse_check_convert", label),
            docs,
            |b, docs| {
                b.iter(|| {
                    let mut ok = 0;
                    for (i, d) in docs.iter().enumerate() {
                        let f = einvoice::parse("bench", d);
                        if einvoice::is_usable(&f) {
                            black_box(einvoice::to_core(&f.documents[0]));
                            ok += 1;
                        }
                        black_box(i);
                    }
                    assert_eq!(ok, docs.len());
                })
            },
        );
        if label != "facturx_pdf" {
            g.bench_with_input(
                BenchmarkId::new("quick_xml_scan", label),
                docs,
                |b, docs| b.iter(|| docs.iter().map(|d| scan(d)).sum::<usize>()),
            );
        }
    }
    g.finish();
    eprintln!("einvoice bench: {} CII, {} UBL ({} and {} bytes), {} PDFs; documents per iteration as listed", N, N,
        cii.iter().map(Vec::len).sum::<usize>(), ubl.iter().map(Vec::len).sum::<usize>(), pdfs.len());
}

criterion_group!(benches, bench);
criterion_main!(benches);
