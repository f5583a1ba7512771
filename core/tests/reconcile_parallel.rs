//! The engine's independent work units run on a parallel executor give exactly the outcome
//! of the sequential run, on both generators (the benchmark checks it again at 1 M lines).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_core::model::{Customer, Invoice, Receipt};
use relance_core::reconcile::{
    reconcile_with, synth, synth2, Decisions, Executor, Input, Policy, Sequential,
};

/// The units on rayon's pool.
struct Pool;

impl Executor for Pool {
    fn map<T, R, F>(&self, items: Vec<T>, f: F) -> Vec<R>
    where
        T: Send,
        R: Send,
        F: Fn(T) -> R + Sync + Send,
    {
        use rayon::prelude::*;
        items.into_par_iter().map(f).collect()
    }
}

fn same(invoices: &[Invoice], customers: &[Customer], receipts: &[Receipt]) {
    let decisions = Decisions::default();
    let input = Input {
        invoices,
        customers,
        receipts,
        prior: &[],
        decisions: &decisions,
    };
    let policy = Policy::default();
    let seq = reconcile_with(&input, &policy, &Sequential);
    let par = reconcile_with(&input, &policy, &Pool);
    assert!(!seq.allocations.is_empty());
    assert_eq!(seq, par);
}

#[test]
fn parallel_equals_sequential_on_both_generators() {
    for seed in [1u64, 2] {
        let ds = synth::generate(&synth::SynthConfig {
            seed,
            customers: 300,
            ..synth::SynthConfig::default()
        });
        same(&ds.invoices, &ds.customers, &ds.receipts);
        let ds = synth2::generate(&synth2::Config {
            seed,
            customers: 200,
            ..synth2::Config::default()
        });
        same(&ds.invoices, &ds.customers, &ds.receipts);
    }
}
