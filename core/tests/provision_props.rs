//! Properties of closing runs on random receivables, events and settlements: every entry
//! balances, the books (416, 491 per invoice) match the state, re-running adds nothing, and
//! the order of the inputs does not matter.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use relance_core::provision::{
    closing, Classification, ClosingInput, CreditEvent, CreditEventKind, LossReason, Policy,
    ProcedureKind, ProvisionState, RateOverride, Receivable, Settlement, SettlementKind,
};
use relance_core::{
    CompanyId, Currency, CustomerId, Invoice, InvoiceId, InvoiceKind, InvoiceStatus,
};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

fn base() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 1, 1).unwrap()
}

fn day(n: u64) -> NaiveDate {
    base().checked_add_days(Days::new(n)).unwrap()
}

#[derive(Debug, Clone)]
struct Spec {
    ht_cents: i64,
    vat_permille: i64,
    issue: u64,
    events: Vec<(u8, u64)>,
    settlements: Vec<(i64, u64, bool)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1i64..2_000_000,
        prop::sample::select(vec![0i64, 21, 55, 100, 200]),
        0u64..400,
        prop::collection::vec((0u8..9, 0u64..1200), 0..5),
        prop::collection::vec((1i64..1_500_000, 0u64..1200, any::<bool>()), 0..4),
    )
        .prop_map(
            |(ht_cents, vat_permille, issue, events, settlements)| Spec {
                ht_cents,
                vat_permille,
                issue,
                events,
                settlements,
            },
        )
}

fn build(specs: &[Spec]) -> (Vec<Receivable>, Vec<CreditEvent>) {
    let mut recv = Vec::new();
    let mut events = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let id = format!("F{i}");
        let cust = format!("C{}", i % 3);
        let ht = Decimal::new(s.ht_cents, 2);
        let vat = (ht * Decimal::new(s.vat_permille, 3)).round_dp(2);
        let inv = Invoice {
            id: InvoiceId::new(&id),
            number: id.clone(),
            kind: InvoiceKind::Invoice,
            type_code: 380,
            issue_date: day(s.issue),
            due_date: Some(day(s.issue + 30)),
            instalments: vec![],
            currency: Currency::EUR,
            total_without_vat: ht,
            total_vat: vat,
            total_with_vat: ht + vat,
            amount_due: ht + vat,
            customer: CustomerId::new(&cust),
            buyer_reference: None,
            order_reference: None,
            remittance_reference: None,
            payment_iban: None,
            mandate_id: None,
            status: InvoiceStatus::Open,
        };
        let settlements = s
            .settlements
            .iter()
            .enumerate()
            .map(|(k, (cents, at, credit))| Settlement {
                reference: format!("S{i}-{k}"),
                date: day(s.issue + at),
                amount: Decimal::new(*cents, 2),
                kind: if *credit {
                    SettlementKind::CreditNote
                } else {
                    SettlementKind::Payment
                },
            })
            .collect();
        for (k, (kind, at)) in s.events.iter().enumerate() {
            let date = day(s.issue + at);
            let (invoice, kind) = match kind {
                0 => (Some(id.clone()), CreditEventKind::MiseEnDemeureSent),
                1 => (Some(id.clone()), CreditEventKind::ContentieuxStarted),
                2 => (Some(id.clone()), CreditEventKind::Dispute { reason: None }),
                3 => (
                    None,
                    CreditEventKind::ProcedureCollective {
                        procedure: ProcedureKind::Redressement,
                        bodacc_date: None,
                    },
                ),
                4 => (
                    None,
                    CreditEventKind::ProcedureCollective {
                        procedure: ProcedureKind::Liquidation,
                        bodacc_date: None,
                    },
                ),
                5 => (Some(id.clone()), CreditEventKind::InjonctionFiled),
                6 => (
                    Some(id.clone()),
                    CreditEventKind::DirectDebitReturned { reason_code: None },
                ),
                7 => (
                    Some(id.clone()),
                    CreditEventKind::LiquidationDividend {
                        amount: Decimal::new(s.ht_cents / 10, 2),
                    },
                ),
                _ => (
                    Some(id.clone()),
                    CreditEventKind::DefinitiveLoss {
                        reason: LossReason::CertificatIrrecouvrabilite,
                        rectified_invoice: (at % 2 == 0).then(|| format!("{id}-R")),
                    },
                ),
            };
            events.push(CreditEvent {
                customer: CustomerId::new(&cust),
                invoice: invoice.map(InvoiceId::new),
                date,
                kind,
                reference: Some(format!("E{i}-{k}")),
            });
        }
        recv.push(Receivable {
            invoice: inv,
            settlements,
        });
    }
    (recv, events)
}

fn input(
    recv: Vec<Receivable>,
    events: Vec<CreditEvent>,
    previous: ProvisionState,
) -> ClosingInput {
    ClosingInput {
        company: CompanyId::new("co"),
        currency: Currency::EUR,
        receivables: recv,
        events,
        overrides: vec![],
        previous,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn closings_balance_match_the_books_and_are_idempotent(specs in prop::collection::vec(spec(), 1..6)) {
        let policy = Policy::default();
        let (recv, events) = build(&specs);
        let closings = [day(364), day(729), day(1094), day(1459)];
        let mut state = ProvisionState::default();
        // Per (account, invoice) balance, debit positive.
        let mut books: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for c in closings {
            let t = closing(&input(recv.clone(), events.clone(), state.clone()), &policy, c).unwrap();
            for e in &t.entries {
                prop_assert!(e.is_balanced(), "unbalanced {:?}", e);
                prop_assert!(e.total_debit() > Decimal::ZERO, "empty entry {:?}", e);
                prop_assert_eq!(e.date, c);
                for l in &e.lines {
                    *books.entry((l.account.clone(), e.invoice.to_string())).or_default() += l.debit - l.credit;
                }
            }
            for s in &t.state.invoices {
                let b416 = books.get(&("416".to_owned(), s.invoice.to_string())).copied().unwrap_or_default();
                let b491 = books.get(&("491".to_owned(), s.invoice.to_string())).copied().unwrap_or_default();
                prop_assert_eq!(b416, s.doubtful_ttc);
                prop_assert_eq!(-b491, s.allowance);
                prop_assert!(s.allowance >= Decimal::ZERO && s.doubtful_ttc >= Decimal::ZERO);
                prop_assert!(s.allowance <= s.doubtful_ttc, "allowance above 416 {:?}", s);
            }
            for l in &t.lines {
                prop_assert!(l.new_provision <= l.base_ht || l.new_provision.is_zero());
                if l.classification != Classification::Irrecouvrable {
                    prop_assert_eq!(l.base_ht + l.vat, l.doubtful_after);
                }
            }
            // Same closing again on its own state: nothing new, same state.
            let again = closing(&input(recv.clone(), events.clone(), t.state.clone()), &policy, c).unwrap();
            prop_assert!(again.entries.is_empty(), "second run produced {:?}", again.entries);
            prop_assert_eq!(&again.state, &t.state);
            // A pure function of the facts up to the closing date: dropping everything dated
            // after it changes nothing.
            let past_events: Vec<CreditEvent> = events.iter().filter(|e| e.date <= c).cloned().collect();
            let past_recv: Vec<Receivable> = recv
                .iter()
                .map(|r| Receivable {
                    invoice: r.invoice.clone(),
                    settlements: r.settlements.iter().filter(|s| s.date <= c).cloned().collect(),
                })
                .collect();
            let past = closing(&input(past_recv, past_events, state.clone()), &policy, c).unwrap();
            prop_assert_eq!(&past.entries, &t.entries);
            prop_assert_eq!(&past.lines, &t.lines);
            // Input order does not matter.
            let mut rrecv = recv.clone();
            rrecv.reverse();
            let mut revents = events.clone();
            revents.reverse();
            let shuffled = closing(&input(rrecv, revents, state.clone()), &policy, c).unwrap();
            prop_assert_eq!(&shuffled.entries, &t.entries);
            // The same closing re-run after a person overrides every rate: the differences
            // are booked under new (revision) keys and the books still match the state.
            let mut changed = input(recv.clone(), events.clone(), t.state.clone());
            changed.overrides = recv
                .iter()
                .map(|r| RateOverride {
                    invoice: r.invoice.id.clone(),
                    rate: Decimal::new(9, 1),
                    by: "test".into(),
                    reason: "prudence".into(),
                    date: c,
                })
                .collect();
            let revised = closing(&changed, &policy, c).unwrap();
            for e in &revised.entries {
                prop_assert!(e.is_balanced());
                prop_assert!(!t.state.entry_keys.contains(&e.key), "key reused {}", e.key);
                for l in &e.lines {
                    *books.entry((l.account.clone(), e.invoice.to_string())).or_default() += l.debit - l.credit;
                }
            }
            for s in &revised.state.invoices {
                let b491 = books.get(&("491".to_owned(), s.invoice.to_string())).copied().unwrap_or_default();
                prop_assert_eq!(-b491, s.allowance);
            }
            let again = closing(&changed, &policy, c).unwrap();
            prop_assert_eq!(again.entries.len(), revised.entries.len(), "same input and state, same entries");
            let settled = closing(&input(recv.clone(), events.clone(), revised.state.clone()), &policy, c).unwrap();
            let mut changed2 = changed.clone();
            changed2.previous = revised.state.clone();
            prop_assert!(closing(&changed2, &policy, c).unwrap().entries.is_empty());
            // Back to the matrix at the same closing: revisions again, keys still unique.
            let mut all_keys: std::collections::BTreeSet<String> = revised.state.entry_keys.iter().cloned().collect();
            for e in &settled.entries {
                prop_assert!(all_keys.insert(e.key.clone()), "duplicate key {}", e.key);
                for l in &e.lines {
                    *books.entry((l.account.clone(), e.invoice.to_string())).or_default() += l.debit - l.credit;
                }
            }
            state = settled.state;
        }
    }
}
