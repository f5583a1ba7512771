//! Criterion benchmark of the four bank parsers on the fixtures written for relance
//! (`tests/fixtures/bank`), each repeated to a few hundred KB so that per-file overhead does
//! not dominate. `cargo bench -p relance-connectors --bench bank_formats -- --warm-up-time 1
//! --measurement-time 5`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use relance_connectors::formats::bank;
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bank")
            .join(name),
    )
    .unwrap_or_default()
}

/// MT940 and CFONB statements concatenate; camt and OFX are benchmarked as they are plus a
/// generated camt.053 of 2,000 entries.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let rep = |b: Vec<u8>, n: usize| {
        let mut v = Vec::with_capacity(b.len() * n);
        for _ in 0..n {
            v.extend_from_slice(&b);
            v.push(b'\n');
        }
        v
    };
    let day = chrono::NaiveDate::from_ymd_opt(2026, 2, 2).unwrap_or_default();
    let spec = bank::write::StatementSpec {
        msg_id: "M".into(),
        statement_id: "S".into(),
        created: day,
        account_iban: "FR7630006000011234567890189".into(),
        currency: "EUR".into(),
        opening_balance: rust_decimal::Decimal::ZERO,
        from_date: day,
        to_date: day,
        entries: (0..2000)
            .map(|i| bank::write::EntrySpec {
                amount: rust_decimal::Decimal::new(1000 + i, 2),
                booking_date: day,
                acct_svcr_ref: Some(format!("BQ{i:08}")),
                debtor_name: Some(format!("CLIENT {i}")),
                remittance: Some(format!("FACTURE VT2026_{i:06}")),
                ..Default::default()
            })
            .collect(),
    };
    vec![
        (
            "camt053_generated_2000",
            bank::write::camt053_string(&spec)
                .unwrap_or_default()
                .into_bytes(),
        ),
        ("camt053_fixture", fixture("camt053_v08_batch.xml")),
        ("mt940_x200", rep(fixture("mt940_fr_de.sta"), 200)),
        ("cfonb120_x200", rep(fixture("cfonb120_fr.txt"), 200)),
        ("ofx_fixture", fixture("ofx102_sgml.ofx")),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("bank_parse");
    g.sample_size(20);
    for (name, bytes) in inputs() {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
            b.iter(|| bank::parse(name, bytes).statements.len())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
