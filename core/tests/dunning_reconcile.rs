//! Reconcile-then-remind, end to end with the real reconciliation: a customer whose payment
//! is on the latest bank statement gets no reminder; a partial payment leaves a reminder for
//! the remainder only; a payment not (yet) applied holds the customer's reminders.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod dunning_support;

use dunning_support::*;
use relance_core::dunning::plan;
use relance_core::model::{CustomerKind, Receipt};
use relance_core::reconcile::{self, open_after, unapplied_credits_by_customer};
use relance_core::{Currency, TransactionId};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn receipt(id: &str, amount: Decimal, iban: &str, reference: &str) -> Receipt {
    Receipt {
        id: TransactionId::new(id),
        account: "FR7630006000011234567890189".into(),
        booking_date: today(),
        value_date: Some(today()),
        amount,
        currency: Currency::EUR,
        counterparty_name: None,
        counterparty_iban: Some(iban.into()),
        remittance: format!("PAIEMENT FACTURE {reference}"),
        structured_ref: Some(reference.into()),
        end_to_end_id: None,
        mandate_id: None,
        bank_code: None,
        return_reason: None,
        reversal: false,
        source: "releve-2026-03-02.xml#1".into(),
    }
}

#[test]
fn payment_on_the_latest_statement_means_no_reminder() {
    let mut c1 = customer("C1", CustomerKind::Business);
    c1.ibans = vec!["FR7611111111111111111111111".into()];
    let mut c2 = customer("C2", CustomerKind::Business);
    c2.ibans = vec!["FR7622222222222222222222222".into()];
    let invoices = vec![
        invoice("FA-2026-0101", "C1", 20, dec!(1200)),
        invoice("FA-2026-0102", "C2", 20, dec!(1000)),
    ];
    let customers = vec![c1, c2];
    // The statement of today: C1 pays in full, C2 pays 600 of 1 000.
    let receipts = vec![
        receipt(
            "TX1",
            dec!(1200),
            "FR7611111111111111111111111",
            "FA-2026-0101",
        ),
        receipt(
            "TX2",
            dec!(600),
            "FR7622222222222222222222222",
            "FA-2026-0102",
        ),
    ];
    let outcome = reconcile::reconcile(
        &invoices,
        &customers,
        &receipts,
        &[],
        &reconcile::Policy::default(),
    );
    let open = open_after(&invoices, &outcome.allocations);
    let unapplied =
        unapplied_credits_by_customer(&invoices, &customers, &receipts, &outcome.allocations);

    let mut inp = input(customers, invoices);
    inp.open_amounts = open.into_iter().collect();
    inp.unapplied_credits = unapplied
        .into_iter()
        .map(|(c, v)| (c, v.iter().map(|u| u.remaining).sum::<Decimal>()))
        .collect();
    inp.bank_data_as_of = Some(today());
    let p = plan(&inp, today()).unwrap();

    assert!(
        p.actions.iter().all(|a| a.customer.as_str() != "C1"),
        "C1 paid on the latest statement: {:?}",
        p.actions
    );
    assert!(
        p.held.iter().all(|h| h.customer.as_str() != "C1"),
        "{:?}",
        p.held
    );
    let a = p
        .actions
        .iter()
        .find(|a| a.customer.as_str() == "C2")
        .unwrap();
    assert_eq!(a.invoices[0].amount_due, dec!(400), "remainder only");
    // 400 × 12,15 % × 20 / 365 = 2,66; the 40 € is still due once.
    assert_eq!(
        (a.invoices[0].penalty, a.invoices[0].indemnity),
        (dec!(2.66), dec!(40.00))
    );

    // Before reconciliation ran (receipts known, nothing applied): both customers are held.
    let mut before = inp.clone();
    before.open_amounts.clear();
    before.unapplied_credits = [("C1".into(), dec!(1200)), ("C2".into(), dec!(600))]
        .into_iter()
        .collect();
    let p = plan(&before, today()).unwrap();
    assert!(p.actions.is_empty());
    assert_eq!(p.held.len(), 2);
}
