//! Benchmark: a doubtful-debt closing over 10 000 receivables of 2 000 customers.
//!
//! Run: `cargo bench -p relance-core --bench provision -- --warm-up-time 1 --measurement-time 5`
//! (size: RELANCE_BENCH_PROVISION_INVOICES).

use chrono::{Days, NaiveDate};
use criterion::{criterion_group, criterion_main, Criterion};
use relance_core::provision::{
    closing, ClosingInput, CreditEvent, CreditEventKind, Policy, ProcedureKind, ProvisionState,
    Receivable, Settlement, SettlementKind,
};
use relance_core::{
    CompanyId, Currency, CustomerId, Invoice, InvoiceId, InvoiceKind, InvoiceStatus,
};
use rust_decimal::Decimal;

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.checked_add_days(Days::new(n)))
        .unwrap_or_default()
}

fn input(n: usize) -> ClosingInput {
    let mut receivables = Vec::with_capacity(n);
    let mut events = Vec::new();
    for i in 0..n {
        let cust = CustomerId::new(format!("C{}", i % 2000));
        let ht = Decimal::new(10_000 + (i as i64 * 7919) % 1_000_000, 2);
        let vat = (ht * Decimal::new(2, 1)).round_dp(2);
        let issue = day((i % 300) as u64);
        let id = InvoiceId::new(format!("F{i:06}"));
        receivables.push(Receivable {
            invoice: Invoice {
                id: id.clone(),
                number: id.to_string(),
                kind: InvoiceKind::Invoice,
                type_code: 380,
                issue_date: issue,
                due_date: issue.checked_add_days(Days::new(30)),
                instalments: vec![],
                currency: Currency::EUR,
                total_without_vat: ht,
                total_vat: vat,
                total_with_vat: ht + vat,
                amount_due: ht + vat,
                customer: cust.clone(),
                buyer_reference: None,
                order_reference: None,
                remittance_reference: None,
                payment_iban: None,
                mandate_id: None,
                status: InvoiceStatus::Open,
            },
            settlements: (i % 3 == 0)
                .then(|| Settlement {
                    reference: format!("P{i}"),
                    date: day((i % 300) as u64 + 60),
                    amount: (ht + vat) / Decimal::TWO,
                    kind: SettlementKind::Payment,
                })
                .into_iter()
                .collect(),
        });
        let ev = |date, kind| CreditEvent {
            customer: cust.clone(),
            invoice: Some(id.clone()),
            date,
            kind,
            reference: None,
        };
        events.push(ev(
            day((i % 300) as u64 + 45),
            CreditEventKind::ReminderSent { level: 1 },
        ));
        if i % 4 == 0 {
            events.push(ev(
                day((i % 300) as u64 + 75),
                CreditEventKind::MiseEnDemeureSent,
            ));
        }
        if i % 10 == 0 {
            events.push(ev(
                day((i % 300) as u64 + 120),
                CreditEventKind::ContentieuxStarted,
            ));
        }
    }
    for c in (0..2000).step_by(50) {
        events.push(CreditEvent {
            customer: CustomerId::new(format!("C{c}")),
            invoice: None,
            date: day(200),
            kind: CreditEventKind::ProcedureCollective {
                procedure: ProcedureKind::Redressement,
                bodacc_date: None,
            },
            reference: None,
        });
    }
    ClosingInput {
        company: CompanyId::new("bench"),
        currency: Currency::EUR,
        receivables,
        events,
        overrides: vec![],
        previous: ProvisionState::default(),
    }
}

fn bench(c: &mut Criterion) {
    let n = std::env::var("RELANCE_BENCH_PROVISION_INVOICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let inp = input(n);
    let policy = Policy::default();
    let d = day(365);
    let Ok(first) = closing(&inp, &policy, d) else {
        return;
    };
    eprintln!(
        "provision bench: {n} receivables, {} events, {} lines, {} entries",
        inp.events.len(),
        first.lines.len(),
        first.entries.len()
    );
    let mut g = c.benchmark_group("provision");
    g.sample_size(10);
    g.bench_function("closing_first", |b| b.iter(|| closing(&inp, &policy, d)));
    let mut again = inp.clone();
    again.previous = first.state;
    g.bench_function("closing_rerun_idempotent", |b| {
        b.iter(|| closing(&again, &policy, d))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
