//! Property tests of the reconciliation engine: results do not depend on input order, never
//! allocate more than a receipt brought, never more than an invoice had open.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use proptest::prelude::*;
use relance_core::model::{Customer, Invoice, InvoiceKind, InvoiceStatus, Receipt};
use relance_core::reconcile::synth::{generate, Rng, SynthConfig};
use relance_core::reconcile::{open_after, reconcile, Outcome, Policy, Rule};
use relance_core::{Currency, InvoiceId, TransactionId};
use rust_decimal::Decimal;
use std::collections::HashMap;

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut rng = Rng::new(seed);
    for i in (1..v.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap();
        v.swap(i, j);
    }
}

/// A small adversarial ledger: few customers sharing IBANs and amounts, receipts with random
/// amounts and references (sometimes of another customer's invoice, sometimes mistyped).
fn adversarial(seed: u64) -> (Vec<Invoice>, Vec<Customer>, Vec<Receipt>) {
    let mut rng = Rng::new(seed);
    let d0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let ibans = [
        "FR7611111111111111111111111",
        "FR7622222222222222222222222",
        "FR7633333333333333333333333",
    ];
    let mut customers = Vec::new();
    for k in 0..4 {
        let mut c = Customer::new(
            format!("C{k}"),
            format!("Client {} SARL", ["Alpha", "Beta", "Gamma", "Delta"][k]),
        );
        if rng.chance(600) {
            c.ibans
                .push(ibans[usize::try_from(rng.below(3)).unwrap()].to_owned());
        }
        customers.push(c);
    }
    let amounts = [10000i64, 25050, 50000, 12345, 99, 75025];
    let mut invoices = Vec::new();
    for n in 0..12u64 {
        let cents = *rng.pick(&amounts);
        let credit = rng.chance(150);
        let number = if credit {
            format!("AV-{n:04}")
        } else {
            format!("F-{n:04}")
        };
        let issue = d0 + chrono::Duration::days(rng.range(0, 60));
        invoices.push(Invoice {
            id: InvoiceId::new(number.clone()),
            number,
            kind: if credit {
                InvoiceKind::CreditNote
            } else {
                InvoiceKind::Invoice
            },
            type_code: if credit { 381 } else { 380 },
            issue_date: issue,
            due_date: Some(issue + chrono::Duration::days(30)),
            instalments: vec![],
            currency: Currency::EUR,
            total_without_vat: Decimal::new(cents, 2),
            total_vat: Decimal::ZERO,
            total_with_vat: Decimal::new(cents, 2),
            amount_due: Decimal::new(cents, 2),
            customer: format!("C{}", rng.below(4)).into(),
            buyer_reference: None,
            order_reference: if rng.chance(200) {
                Some(format!("PO{}", rng.below(3)))
            } else {
                None
            },
            remittance_reference: None,
            payment_iban: None,
            mandate_id: None,
            status: if rng.chance(100) {
                InvoiceStatus::Paid
            } else {
                InvoiceStatus::Open
            },
        });
    }
    let mut receipts = Vec::new();
    for t in 0..10u64 {
        let refd = rng.below(14);
        let text = match rng.below(5) {
            0 => format!("F-{refd:04}"),
            1 => format!("F-{refd:04} F-{:04}", rng.below(12)),
            2 => format!("fact {}", refd),
            3 => format!("PO{}", rng.below(3)),
            _ => "VIREMENT".to_owned(),
        };
        let mut amount = Decimal::new(*rng.pick(&amounts) * rng.range(1, 2), 2);
        if rng.chance(150) {
            amount -= Decimal::new(rng.range(1, 3000), 2);
        }
        let ret = rng.chance(80);
        receipts.push(Receipt {
            id: TransactionId::new(format!("T{t}")),
            account: "FR76".into(),
            booking_date: d0 + chrono::Duration::days(rng.range(20, 90)),
            value_date: None,
            amount: if ret { -amount } else { amount },
            currency: Currency::EUR,
            counterparty_name: Some(
                ["CLIENT ALPHA", "BETA", "INCONNU", "GAMMA SAS"]
                    [usize::try_from(rng.below(4)).unwrap()]
                .to_owned(),
            ),
            counterparty_iban: Some(ibans[usize::try_from(rng.below(3)).unwrap()].to_owned()),
            remittance: text,
            structured_ref: None,
            end_to_end_id: Some(format!("E{}", rng.below(4))),
            mandate_id: None,
            bank_code: None,
            return_reason: if ret { Some("AM04".into()) } else { None },
            reversal: false,
            source: String::new(),
        });
    }
    (invoices, customers, receipts)
}

fn check_bounds(
    invoices: &[Invoice],
    receipts: &[Receipt],
    o: &Outcome,
) -> Result<(), TestCaseError> {
    let by_id: HashMap<&str, &Receipt> = receipts.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut per_tx: HashMap<&str, Decimal> = HashMap::new();
    for a in o.allocations.iter().filter(|a| a.auto) {
        *per_tx.entry(a.transaction.as_str()).or_default() += a.amount;
        if a.rule != Rule::Return {
            let inv = invoices.iter().find(|i| i.id == a.invoice).unwrap();
            match inv.kind {
                InvoiceKind::Invoice => prop_assert!(a.amount > Decimal::ZERO, "{a:?}"),
                InvoiceKind::CreditNote => prop_assert!(a.amount < Decimal::ZERO, "{a:?}"),
            }
        }
    }
    for (tx, sum) in per_tx {
        let r = by_id[tx];
        if r.is_credit() {
            prop_assert!(sum <= r.amount, "{tx}: allocated {sum} of {}", r.amount);
            prop_assert!(sum > Decimal::ZERO);
        } else {
            prop_assert!(
                sum.abs() <= r.amount.abs(),
                "{tx}: reversed {sum} of {}",
                r.amount
            );
        }
    }
    for (id, open) in open_after(invoices, &o.allocations) {
        let inv = invoices.iter().find(|i| i.id == id).unwrap();
        match inv.kind {
            InvoiceKind::Invoice => prop_assert!(open >= Decimal::ZERO, "{id}: open after {open}"),
            InvoiceKind::CreditNote => {
                prop_assert!(open <= Decimal::ZERO, "{id}: open after {open}")
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn order_independent_on_generated_data(seed in 0u64..10_000, shuffle_seed in any::<u64>()) {
        let ds = generate(&SynthConfig { seed, customers: 25, ..SynthConfig::default() });
        let policy = Policy::default();
        let a = reconcile(&ds.invoices, &ds.customers, &ds.receipts, &[], &policy);
        let (mut inv, mut cus, mut rec) = (ds.invoices.clone(), ds.customers.clone(), ds.receipts.clone());
        shuffle(&mut inv, shuffle_seed);
        shuffle(&mut cus, shuffle_seed ^ 1);
        shuffle(&mut rec, shuffle_seed ^ 2);
        let b = reconcile(&inv, &cus, &rec, &[], &policy);
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        check_bounds(&ds.invoices, &ds.receipts, &a)?;
    }

    #[test]
    fn bounds_and_order_on_adversarial_data(seed in any::<u64>(), shuffle_seed in any::<u64>(), fifo in any::<bool>()) {
        let (invoices, customers, receipts) = adversarial(seed);
        let policy = Policy { fifo_auto: fifo, ..Policy::default() };
        let a = reconcile(&invoices, &customers, &receipts, &[], &policy);
        check_bounds(&invoices, &receipts, &a)?;
        let (mut inv, mut cus, mut rec) = (invoices.clone(), customers.clone(), receipts.clone());
        shuffle(&mut inv, shuffle_seed);
        shuffle(&mut cus, shuffle_seed ^ 1);
        shuffle(&mut rec, shuffle_seed ^ 2);
        let b = reconcile(&inv, &cus, &rec, &[], &policy);
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }

    #[test]
    fn incremental_run_respects_bounds(seed in 0u64..10_000, split in 1usize..10) {
        // Half the statement first, then all of it with the first run's allocations as prior.
        let ds = generate(&SynthConfig { seed, customers: 20, ..SynthConfig::default() });
        let mut rec = ds.receipts.clone();
        rec.sort_by(|a, b| a.booking_date.cmp(&b.booking_date).then(a.id.cmp(&b.id)));
        let cut = rec.len() * split / 10;
        let policy = Policy::default();
        let first = reconcile(&ds.invoices, &ds.customers, &rec[..cut], &[], &policy);
        let applied: Vec<_> = first.allocations.iter().filter(|a| a.auto).cloned().collect();
        let second = reconcile(&ds.invoices, &ds.customers, &rec, &applied, &policy);
        let mut all = applied.clone();
        all.extend(second.allocations.iter().cloned());
        let merged = Outcome { allocations: all, ..Outcome::default() };
        check_bounds(&ds.invoices, &ds.receipts, &merged)?;
    }
}
