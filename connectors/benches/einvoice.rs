//! E-invoice ingestion throughput: 10 000 generated CII and UBL invoices, and Factur-X PDFs,
//! parsed with every EN 16931 check and converted to relance's invoice and customer, beside a
//! plain quick-xml event scan of the same bytes (the floor no parser can beat).
//!
//! `cargo bench -p relance-connectors --bench einvoice`
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use relance_connectors::formats::einvoice::{self, write};
use std::hint::black_box;

const N: usize = 10_000;

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

fn bench(c: &mut Criterion) {
    let cii: Vec<Vec<u8>> = (0..N)
        .map(|i| write::cii(&write::sample(i)).into_bytes())
        .collect();
    let ubl: Vec<Vec<u8>> = (0..N)
        .map(|i| write::ubl(&write::sample(i)).into_bytes())
        .collect();
    let pdfs: Vec<Vec<u8>> = cii
        .iter()
        .take(1_000)
        .map(|x| write::facturx_pdf(x).unwrap())
        .collect();
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
