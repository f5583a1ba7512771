//! Benchmark: plan dunning for 100 000 customers with 1 000 000 open invoices.
//!
//! Not a criterion loop (one plan of this size takes seconds): builds the input once, plans
//! it three times, prints the times and the peak resident memory (VmHWM, Linux).
//! Run: `cargo bench -p relance-core --bench dunning` (sizes: RELANCE_BENCH_CUSTOMERS,
//! RELANCE_BENCH_INVOICES_PER_CUSTOMER).

use chrono::{Duration, NaiveDate};
use relance_core::dunning::pause::{Pause, PauseKind};
use relance_core::dunning::segment::PaidRecord;
use relance_core::dunning::{plan, PlanInput, Policy, RateTable, SentAction, Stage};
use relance_core::model::{
    Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus, PostalAddress,
};
use relance_core::{CompanyId, Currency, InvoiceId};
use rust_decimal::Decimal;
use std::time::Instant;

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "n/a".into())
}

/// User + system CPU seconds of this process so far (Linux /proc, clock ticks of 1/100 s).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let ticks: u64 =
                after.get(11)?.parse::<u64>().ok()? + after.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let customers = env("RELANCE_BENCH_CUSTOMERS", 100_000);
    let per = env("RELANCE_BENCH_INVOICES_PER_CUSTOMER", 10);
    let today = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap_or_default();
    let rates: RateTable = match toml::from_str(include_str!("../../config/rates/fr.toml")) {
        Ok(r) => r,
        Err(e) => panic!("rate table: {e}"),
    };
    let t0 = Instant::now();
    let mut input = PlanInput::new(CompanyId::new("bench"), Policy::default(), rates);
    input.bank_data_as_of = Some(today);
    let address = |street: String| PostalAddress {
        lines: vec![street],
        postcode: Some("69007".into()),
        city: Some("Lyon".into()),
        subdivision: None,
        country: Some("FR".into()),
    };
    input.sender_address = Some(address("12 rue des Forges".into()));
    // A cheap deterministic pseudo-random sequence (no dependency).
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let kinds = [
        CustomerKind::Business,
        CustomerKind::Business,
        CustomerKind::Business,
        CustomerKind::Consumer,
        CustomerKind::PublicEntity,
        CustomerKind::PublicHospital,
    ];
    for c in 0..customers {
        let id = format!("C{c:06}");
        let mut cust = Customer::new(id.as_str(), format!("Customer {c}"));
        cust.kind = kinds[c % kinds.len()];
        cust.emails = vec![format!("ap{c}@example.test")];
        cust.language = if c % 5 == 0 { "en".into() } else { "fr".into() };
        cust.address = Some(address(format!("{c} avenue du Client")));
        input.customers.push(cust);
        let hist: Vec<PaidRecord> = (0..(c % 6))
            .map(|k| {
                let due = today - Duration::days(40 * (k as i64 + 1));
                PaidRecord {
                    due_date: due,
                    paid_date: due + Duration::days((next() % 30) as i64),
                }
            })
            .collect();
        input.payment_history.insert(id.as_str().into(), hist);
        if c % 50 == 0 {
            input
                .unapplied_credits
                .insert(id.as_str().into(), Decimal::new(10000, 2));
        }
        if c % 97 == 0 {
            input.pauses.push(Pause {
                customer: id.as_str().into(),
                invoice: None,
                kind: PauseKind::PromiseToPay {
                    date: today + Duration::days(3),
                    amount: None,
                    paid: Decimal::ZERO,
                    announced: None,
                },
            });
        }
        for k in 0..per {
            let inv_id = format!("F{c:06}-{k:02}");
            let days_overdue = (next() % 430) as i64 - 30; // D-30 … D+399
            let due = today - Duration::days(days_overdue);
            let amount = Decimal::new((next() % 1_000_000) as i64 + 1000, 2);
            if k == 0 && days_overdue > 20 {
                input.history.push(SentAction {
                    customer: id.as_str().into(),
                    stage: Stage::Formelle,
                    step: 0,
                    invoices: vec![InvoiceId::new(inv_id.as_str())],
                    date: due + Duration::days(15),
                });
            }
            if k == 1 && c % 3 == 0 {
                input
                    .open_amounts
                    .insert(InvoiceId::new(inv_id.as_str()), amount / Decimal::from(2));
            }
            if k == 2 && c % 40 == 0 {
                input
                    .lifecycle_status
                    .insert(InvoiceId::new(inv_id.as_str()), 207);
            }
            input.invoices.push(Invoice {
                id: InvoiceId::new(inv_id.as_str()),
                number: inv_id,
                kind: InvoiceKind::Invoice,
                type_code: 380,
                issue_date: due - Duration::days(30),
                due_date: Some(due),
                instalments: Vec::new(),
                currency: Currency::EUR,
                total_without_vat: amount,
                total_vat: Decimal::ZERO,
                total_with_vat: amount,
                amount_due: amount,
                customer: id.as_str().into(),
                buyer_reference: None,
                order_reference: None,
                remittance_reference: None,
                payment_iban: None,
                mandate_id: None,
                status: InvoiceStatus::Open,
            });
        }
    }
    println!(
        "dunning bench: {customers} customers, {} open invoices, {} history actions; input built in {:.2?}; VmHWM after build {}",
        input.invoices.len(),
        input.history.len(),
        t0.elapsed(),
        vm_hwm()
    );
    let mut times = Vec::new();
    for run in 0..3 {
        let t = Instant::now();
        let cpu0 = cpu_secs();
        let p = match plan(&input, today) {
            Ok(p) => p,
            Err(e) => panic!("plan failed: {e}"),
        };
        let el = t.elapsed();
        let cpu = cpu_secs() - cpu0;
        let invoices: usize = p.actions.iter().map(|a| a.invoices.len()).sum();
        println!(
            "run {run}: plan in {el:.2?} wall, {cpu:.2} s CPU — {} actions covering {invoices} invoices, {} held, {} alerts, {} deferred",
            p.actions.len(),
            p.held.len(),
            p.alerts.len(),
            p.deferred.len()
        );
        times.push(el);
    }
    times.sort();
    println!(
        "plan time min {:.2?} median {:.2?}; peak RSS (VmHWM) {}",
        times[0],
        times[1],
        vm_hwm()
    );
}
