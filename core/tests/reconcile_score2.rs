//! Scores the engine on the second, independent generator (`reconcile::synth2`): each of its
//! three sellers on several seeds, with the policy and thresholds the first generator is
//! scored with. Prints the table per case:
//! `cargo test -p relance-core --release --test reconcile_score2 -- --nocapture`.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_core::reconcile::score::score;
use relance_core::reconcile::synth2::{generate, Case, Config, Sector};
use relance_core::reconcile::{reconcile, Policy};

#[test]
fn score_table_on_the_second_generator() {
    let customers = if cfg!(debug_assertions) { 120 } else { 300 };
    let mut failures: Vec<String> = Vec::new();
    for sector in [Sector::Consumer, Sector::Public, Sector::Services] {
        for seed in [11u64, 12, 13] {
            let ds = generate(&Config {
                seed,
                customers,
                sector: Some(sector),
                ..Config::default()
            });
            let out = reconcile(
                &ds.invoices,
                &ds.customers,
                &ds.receipts,
                &[],
                &Policy::default(),
            );
            let card = score(&ds.truth, &out);
            println!(
                "{sector:?} seed {seed}: {} customers, {} invoices, {} bank lines\n{card}",
                ds.customers.len(),
                ds.invoices.len(),
                ds.receipts.len()
            );
            for c in [Case::Stranger, Case::Noise, Case::Returned] {
                if card.rows.get(&c).is_some_and(|r| r.auto_wrong > 0) {
                    failures.push(format!("{sector:?} seed {seed}: {c} applied"));
                }
            }
            // The goal: at least 97 % applied and right, at most 1 wrong in 1 000.
            if card.wrong_per_mille() > 1.0 || card.auto_rate() < 97.0 {
                failures.push(format!(
                    "{sector:?} seed {seed}: {:.2} % right, {:.2} wrong per 1000",
                    card.auto_rate(),
                    card.wrong_per_mille()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
