//! Store ingest benchmark: 1 million invoices and 1 million receipts committed with their
//! cursors in batches of 1 000 (each batch atomic and durable), then a full read back; on
//! sled and, in the same run, on PostgreSQL beside it, with the ratios.
//!
//! Run: `cargo bench --bench store` (sizes: `RELANCE_BENCH_N`, `RELANCE_BENCH_BATCH`).
//! PostgreSQL is the test server of tests/pg/server.sh (`eval "$(bash tests/pg/server.sh env)"`);
//! start it with `PG_DURABLE=1 bash tests/pg/server.sh restart` so that it fsyncs its commits
//! as sled does (the test cluster runs with fsync off otherwise, and the bench says which).
//! Without `RELANCE_PG_URL` only sled runs.
//! A one-shot throughput measure, not a criterion sampling: ingesting 2 million records is
//! what is measured, and repeating it to build statistics would take minutes per sample.

use chrono::NaiveDate;
use relance::store::postgres::PgConfig;
use relance::store::{Batch, InvoiceRecord, PgStore, ReceiptRecord, SledStore, Store};
use relance_connectors::contract::Cursor;
use relance_core::{
    CompanyId, Currency, Invoice, InvoiceId, InvoiceKind, InvoiceStatus, Receipt, TransactionId,
};
use rust_decimal::Decimal;
use std::time::Instant;

fn invoice(i: u64) -> Invoice {
    let d = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date")
        + chrono::Duration::days((i % 365) as i64);
    let ttc = Decimal::new(10_000 + (i % 90_000) as i64, 2);
    Invoice {
        id: InvoiceId::new(format!("VT2026_{i:07}")),
        number: format!("VT2026_{i:07}"),
        kind: InvoiceKind::Invoice,
        type_code: 380,
        issue_date: d,
        due_date: Some(d + chrono::Duration::days(30)),
        instalments: vec![],
        currency: Currency::EUR,
        total_without_vat: ttc / Decimal::new(12, 1),
        total_vat: ttc - ttc / Decimal::new(12, 1),
        total_with_vat: ttc,
        amount_due: ttc,
        customer: format!("C{:05}", i % 20_000).into(),
        buyer_reference: None,
        order_reference: Some(format!("PO-{i}")),
        remittance_reference: None,
        payment_iban: Some("FR7630006000011234567890189".into()),
        mandate_id: None,
        status: InvoiceStatus::Open,
    }
}

fn receipt(i: u64) -> Receipt {
    Receipt {
        id: TransactionId::new(format!("BQ{i:013}")),
        account: "FR7630006000011234567890189".into(),
        booking_date: NaiveDate::from_ymd_opt(2026, 2, 1).expect("valid date")
            + chrono::Duration::days((i % 300) as i64),
        value_date: None,
        amount: Decimal::new(10_000 + (i % 90_000) as i64, 2),
        currency: Currency::EUR,
        counterparty_name: Some(format!("CLIENT {:05}", i % 20_000)),
        counterparty_iban: Some("FR7612345000019876543210123".into()),
        remittance: format!("FACTURE VT2026_{i:07}"),
        structured_ref: None,
        end_to_end_id: Some(format!("E2E{i}")),
        mandate_id: None,
        bank_code: Some("PMNT/RCDT/ESCT".into()),
        return_reason: None,
        reversal: false,
        source: format!("releve.xml#{i}"),
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one backend did.
struct Figures {
    invoices_per_s: f64,
    receipts_per_s: f64,
    read_per_s: f64,
    bytes: u64,
}

fn run(name: &str, store: &dyn Store, n: u64, per_batch: u64, size: &dyn Fn() -> u64) -> Figures {
    let company = CompanyId::new("bench");
    let started = Instant::now();
    let mut next = 0;
    while next < n {
        let end = (next + per_batch).min(n);
        let b = Batch {
            invoices: (next..end)
                .map(|i| InvoiceRecord {
                    source: "erp".into(),
                    content_hash: format!("{i:016x}"),
                    invoice: invoice(i),
                })
                .collect(),
            cursors: vec![("erp".into(), Cursor(end.to_string()))],
            ..Batch::default()
        };
        store.commit(&company, b).expect("commit invoices");
        next = end;
    }
    let inv_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut next = 0;
    let mut added = 0;
    while next < n {
        let end = (next + per_batch).min(n);
        let b = Batch {
            receipts: (next..end)
                .map(|i| {
                    let r = receipt(i);
                    ReceiptRecord {
                        dedup_key: format!("{}/{}", r.account, r.id),
                        source: "bank".into(),
                        receipt: r,
                    }
                })
                .collect(),
            cursors: vec![("bank".into(), Cursor(end.to_string()))],
            ..Batch::default()
        };
        added += store
            .commit(&company, b)
            .expect("commit receipts")
            .receipts_added;
        next = end;
    }
    let rcpt_secs = started.elapsed().as_secs_f64();
    assert_eq!(added as u64, n);

    let started = Instant::now();
    let invoices = store.invoices(&company).expect("read invoices").len();
    let receipts = store.receipts(&company).expect("read receipts").len();
    let read_secs = started.elapsed().as_secs_f64();
    assert_eq!((invoices as u64, receipts as u64), (n, n));
    store.flush().expect("flush");
    let bytes = size();
    println!("{name}: {n} records of each kind, batches of {per_batch} (atomic + durable):");
    println!(
        "  invoices: {inv_secs:.1} s, {:.0} records/s",
        n as f64 / inv_secs
    );
    println!(
        "  receipts: {rcpt_secs:.1} s, {:.0} records/s (with dedup lookups)",
        n as f64 / rcpt_secs
    );
    println!(
        "  read back all {} records: {read_secs:.1} s, {:.0} records/s",
        2 * n,
        (2 * n) as f64 / read_secs
    );
    println!(
        "  on disk: {:.0} MiB, {:.0} bytes/record",
        bytes as f64 / 1048576.0,
        bytes as f64 / (2 * n) as f64
    );
    Figures {
        invoices_per_s: n as f64 / inv_secs,
        receipts_per_s: n as f64 / rcpt_secs,
        read_per_s: (2 * n) as f64 / read_secs,
        bytes,
    }
}

fn pg_admin() -> Option<PgConfig> {
    let url = std::env::var("RELANCE_PG_URL").ok()?;
    let pw = std::env::var("RELANCE_PG_PASSWORD_FILE")
        .ok()
        .and_then(|f| std::fs::read_to_string(f).ok())?;
    PgConfig::new(&url, Some(pw.lines().next().unwrap_or(""))).ok()
}

fn main() {
    let n = env("RELANCE_BENCH_N", 1_000_000);
    let per_batch = env("RELANCE_BENCH_BATCH", 1_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let sled = {
        let store = SledStore::open(dir.path()).expect("open store");
        let path = dir.path().to_owned();
        run("sled", &store, n, per_batch, &|| dir_size(&path))
    };
    drop(dir);
    let Some(admin) = pg_admin() else {
        println!("postgres: SKIP (RELANCE_PG_URL unset: eval \"$(bash tests/pg/server.sh env)\")");
        return;
    };
    let name = format!("relance_bench_store_{}", std::process::id());
    let cfg = PgStore::create_database(&admin, &name).expect("create the bench database");
    let durable = {
        let store = PgStore::open(&cfg).expect("open PostgreSQL");
        let fsync = store.setting("fsync").unwrap_or_default();
        let pg = run(
            &format!("postgres (fsync={fsync}, {})", store.describe()),
            &store,
            n,
            per_batch,
            &|| store.size_on_disk().unwrap_or(0),
        );
        println!(
            "postgres / sled: invoices {:.2}×, receipts {:.2}×, read {:.2}×, size {:.2}×",
            pg.invoices_per_s / sled.invoices_per_s,
            pg.receipts_per_s / sled.receipts_per_s,
            pg.read_per_s / sled.read_per_s,
            pg.bytes as f64 / sled.bytes as f64
        );
        fsync
    };
    if durable != "on" {
        println!("  (PostgreSQL ran with fsync={durable}: PG_DURABLE=1 bash tests/pg/server.sh restart for a durable comparison)");
    }
    let _ = PgStore::drop_database(&admin, &name);
}
