//! Pass 3, the reconcile-then-remind gate: no reminder while the bank data is stale or while
//! money received and not yet applied could settle the invoice, whoever the payer.
//!
//! In: the walks of pass 2. Out: the same walks, a candidate turned into a hold (with the
//! reason) when the latest bank statement is older than `bank_data_max_age_days`; when a
//! receipt not yet applied may be the invoice's payment (`PlanInput::payment_holds`, from any
//! payer, identified or not: the reason names the receipt, its payer and date); or when the
//! customer has unapplied receipts or open credit notes (beyond the tolerance; every invoice
//! of the customer, or only those the credit covers, as the policy says).

use crate::dunning::plan::candidates::{State, Walk};
use crate::dunning::plan::PlanInput;
use crate::dunning::policy::UnappliedCreditHold;
use crate::dunning::probable::PaymentHold;
use crate::ids::{CustomerId, InvoiceId};
use crate::model::{InvoiceKind, InvoiceStatus};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Why nothing may be reminded at all today, if so: no bank data, or bank data too old.
fn bank_stale(input: &PlanInput, today: NaiveDate) -> Option<String> {
    let max_age = input.policy.bank_data_max_age_days;
    match input.bank_data_as_of {
        None => Some("no bank data yet: reconcile before reminding".to_owned()),
        Some(d) if (today - d).num_days() > i64::from(max_age) => Some(format!(
            "latest bank data of {d} is older than {max_age} days: reconcile before reminding"
        )),
        Some(_) => None,
    }
}

/// Unapplied credits per customer: receipts not yet applied plus open credit notes not used.
fn unapplied(input: &PlanInput) -> HashMap<&CustomerId, Decimal> {
    let mut unapplied: HashMap<&CustomerId, Decimal> = input
        .unapplied_credits
        .iter()
        .map(|(c, a)| (c, *a))
        .collect();
    for inv in input
        .invoices
        .iter()
        .filter(|i| i.kind == InvoiceKind::CreditNote && i.status == InvoiceStatus::Open)
    {
        let open = input
            .open_amounts
            .get(&inv.id)
            .copied()
            .unwrap_or(inv.amount_due)
            .abs();
        *unapplied.entry(&inv.customer).or_default() += open;
    }
    unapplied
}

pub(super) fn apply(input: &PlanInput, today: NaiveDate, walks: &mut [Walk<'_>]) {
    let p = &input.policy;
    let stale = bank_stale(input, today);
    let unapplied = unapplied(input);
    let mut probable: HashMap<&InvoiceId, Vec<&PaymentHold>> = HashMap::new();
    for h in &input.payment_holds {
        probable.entry(&h.invoice).or_default().push(h);
    }
    for w in walks {
        let State::Due(c) = &w.state else { continue };
        if let Some(r) = &stale {
            w.state = State::Held(r.clone());
            continue;
        }
        if let Some(holds) = probable.get(&w.inv.id) {
            let mut reason = holds[0].reason();
            if holds.len() > 1 {
                reason.push_str(&format!(
                    " (and {} other receipt(s) that may be: {})",
                    holds.len() - 1,
                    holds[1..]
                        .iter()
                        .map(|h| h.transaction.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            w.state = State::Held(reason);
            continue;
        }
        if let Some(credit) = unapplied
            .get(&w.inv.customer)
            .copied()
            .filter(|c| *c > p.unapplied_credit_tolerance)
        {
            let blocks = match p.unapplied_credit_hold {
                UnappliedCreditHold::Any => true,
                UnappliedCreditHold::Covering => credit >= c.amount,
            };
            if blocks {
                w.state = State::Held(format!(
                    "customer has {credit} received and not yet applied: reconcile before reminding"
                ));
            }
        }
    }
}
