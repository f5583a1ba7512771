//! The data set of the operator API and console benchmarks: one company with `n` invoices
//! over 5,000 customers (one in fifty a credit note), a third of them paid by a receipt naming
//! them, and the allocations a cycle would have stored.

use chrono::{NaiveDate, TimeZone, Utc};
use relance::ledger::{self, Ledger};
use relance::store::{Batch, CustomerRecord, InvoiceRecord, ReceiptRecord, SharedStore, Store};
use relance_core::{
    CompanyId, Currency, Customer, Invoice, InvoiceId, InvoiceKind, InvoiceStatus, Receipt,
    TransactionId,
};
use rust_decimal::Decimal;

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Customers of the data set.
pub const CUSTOMERS: u64 = 5_000;

fn invoice(i: u64) -> Invoice {
    let d = NaiveDate::from_ymd_opt(2025, 7, 1).expect("valid date")
        + chrono::Duration::days((i % 360) as i64);
    let ttc = Decimal::new(10_000 + (i % 90_000) as i64, 2);
    Invoice {
        id: InvoiceId::new(format!("FA{i:07}")),
        number: format!("FA{i:07}"),
        kind: if i.is_multiple_of(50) {
            InvoiceKind::CreditNote
        } else {
            InvoiceKind::Invoice
        },
        type_code: 380,
        issue_date: d,
        due_date: Some(d + chrono::Duration::days(30)),
        instalments: vec![],
        currency: Currency::EUR,
        total_without_vat: ttc / Decimal::new(12, 1),
        total_vat: ttc - ttc / Decimal::new(12, 1),
        total_with_vat: ttc,
        amount_due: ttc,
        customer: format!("C{:05}", i % CUSTOMERS).into(),
        buyer_reference: None,
        order_reference: None,
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status: InvoiceStatus::Open,
    }
}

fn receipt(i: u64, inv: &Invoice) -> Receipt {
    Receipt {
        id: TransactionId::new(format!("BQ{i:010}")),
        account: "FR7630006000011234567890189".into(),
        booking_date: inv.issue_date + chrono::Duration::days(35),
        value_date: None,
        amount: inv.total_with_vat,
        currency: Currency::EUR,
        counterparty_name: Some(format!("CLIENT {}", inv.customer)),
        counterparty_iban: None,
        remittance: format!("PAIEMENT FACTURE {}", inv.number),
        structured_ref: None,
        end_to_end_id: None,
        mandate_id: None,
        bank_code: None,
        return_reason: None,
        reversal: false,
        source: "bank".into(),
    }
}

pub fn setup(dir: &std::path::Path, n: u64) -> (SharedStore, relance::config::Config) {
    std::fs::create_dir_all(dir.join("cfg/companies.d")).expect("config dir");
    std::fs::write(
        dir.join("cfg/relance.toml"),
        format!("version = 1\nstate_dir = {:?}\n", dir.join("state")),
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("state/bank")).expect("bank dir");
    std::fs::write(
        dir.join("cfg/companies.d/load.toml"),
        "version = 1\nid = \"load\"\nname = \"Load SAS\"\n[[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = \"bank\"\n",
    )
    .expect("write");
    let config = relance::config::load(&dir.join("cfg")).expect("config");
    let store = relance::store::open_shared(&dir.join("state")).expect("store");
    let company = CompanyId::new("load");
    let mut batch = Batch::default();
    for c in 0..CUSTOMERS {
        let mut cu = Customer::new(format!("C{c:05}"), format!("Client {c:05} SARL"));
        cu.emails = vec![format!("compta{c}@client.example")];
        batch.customers.push(CustomerRecord {
            source: "erp".into(),
            customer: cu,
        });
    }
    store.commit(&company, batch).expect("commit");
    let mut k = 0u64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let mut batch = Batch::default();
        for &i in chunk {
            let inv = invoice(i);
            // A third of the invoices paid by a receipt naming them.
            if i.is_multiple_of(3) && inv.kind == InvoiceKind::Invoice {
                k += 1;
                let r = receipt(k, &inv);
                batch.receipts.push(ReceiptRecord {
                    dedup_key: format!("bank:{}", r.id),
                    source: "bank".into(),
                    receipt: r,
                });
            }
            batch.invoices.push(InvoiceRecord {
                source: "erp".into(),
                content_hash: relance::store::content_hash(&inv),
                invoice: inv,
            });
        }
        store.commit(&company, batch).expect("commit");
    }
    // The allocations a cycle would have stored.
    let c = &config.companies[0];
    let l = Ledger::load(&store, &company).expect("ledger");
    let outcome = l.reconcile(&c.reconcile);
    let now = Utc
        .with_ymd_and_hms(2026, 6, 30, 8, 0, 0)
        .single()
        .expect("date");
    for chunk in outcome.allocations.chunks(5_000) {
        let mut batch = Batch::default();
        for a in chunk {
            batch.allocations.push(ledger::allocation_record(a, now));
        }
        store.commit(&company, batch).expect("commit");
    }
    eprintln!(
        "setup: {n} invoices, {k} receipts, {} allocations ({} automatic)",
        outcome.allocations.len(),
        outcome.allocations.iter().filter(|a| a.auto).count()
    );
    (store, config)
}
