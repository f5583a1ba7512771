//! Property: for any facts and any pattern of days the daemon runs, dunning never goes
//! backwards, never repeats a step for an invoice, never repeats a key, and amounts keep their
//! precision and never exceed what is open.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod dunning_support;

use chrono::Duration;
use dunning_support::*;
use proptest::prelude::*;
use relance_core::dunning::{plan, SentAction};
use relance_core::model::CustomerKind;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn never_backwards_never_twice(
        invoices in proptest::collection::vec((0usize..3, -20i64..120, 1i64..500_000), 1..8),
        runs in proptest::collection::vec(any::<bool>(), 100),
        kind in 0usize..4,
    ) {
        let kinds = [CustomerKind::Business, CustomerKind::Consumer, CustomerKind::PublicEntity, CustomerKind::PublicHospital];
        let customers = (0..3).map(|c| customer(&format!("C{c}"), kinds[kind])).collect();
        let invs = invoices
            .iter()
            .enumerate()
            .map(|(n, (c, overdue, cents))| invoice(&format!("F{n}"), &format!("C{c}"), *overdue, Decimal::new(*cents, 2)))
            .collect();
        let mut inp = input(customers, invs);
        let start = today() - Duration::days(60); // stays within H1 2026 … the table's range
        let mut last: HashMap<String, (u8, u32)> = HashMap::new();
        let mut keys = HashSet::new();
        for (n, run) in runs.iter().enumerate() {
            if !run {
                continue;
            }
            let day = start + Duration::days(n as i64);
            inp.bank_data_as_of = Some(day);
            let p = plan(&inp, day).unwrap();
            for a in p.actions {
                prop_assert!(keys.insert(a.key.clone()));
                for i in &a.invoices {
                    let s = (a.stage.number(), a.step);
                    if let Some(prev) = last.get(i.invoice.as_str()) {
                        prop_assert!(s > *prev, "{} went from {:?} to {:?} on {}", i.invoice, prev, s, day);
                    }
                    last.insert(i.invoice.to_string(), s);
                    prop_assert!(i.amount_due > Decimal::ZERO);
                    prop_assert!(i.penalty.scale() <= 2 && i.penalty >= Decimal::ZERO);
                }
                inp.history.push(SentAction {
                    customer: a.customer,
                    stage: a.stage,
                    step: a.step,
                    invoices: a.invoices.into_iter().map(|i| i.invoice).collect(),
                    date: day,
                });
            }
        }
    }
}
