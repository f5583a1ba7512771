//! Scores the engine on generated labelled data and prints the table per phenomenon:
//! `cargo test -p relance-core --release --test reconcile_score -- --nocapture`.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_core::reconcile::score::score;
use relance_core::reconcile::synth::{generate, Phenomenon, SynthConfig};
use relance_core::reconcile::{reconcile, Policy};

#[test]
fn score_table_on_generated_data() {
    for seed in [1u64, 2, 3, 4] {
        let cfg = SynthConfig {
            seed,
            customers: 1500,
            ..SynthConfig::default()
        };
        let ds = generate(&cfg);
        let out = reconcile(
            &ds.invoices,
            &ds.customers,
            &ds.receipts,
            &[],
            &Policy::default(),
        );
        let card = score(&ds.truth, &out);
        println!(
            "seed {seed}: {} customers, {} invoices, {} bank lines, numbering {}\n{card}",
            ds.customers.len(),
            ds.invoices.len(),
            ds.receipts.len(),
            if ds.numbering_by_account {
                "account by account"
            } else {
                "chronological"
            }
        );
        // The traps: nothing applied for strangers and noise.
        for p in [Phenomenon::Stranger, Phenomenon::Noise] {
            if let Some(r) = card.rows.get(&p) {
                assert_eq!(r.auto_wrong, 0, "seed {seed}: {p} applied automatically");
            }
        }
        // Regression guards, below the figures reported (which are not tuned to): the
        // issue's goal is 97 % applied and at most 1 wrong in 1 000.
        assert!(card.wrong_per_mille() < 1.0, "seed {seed}: {card}");
        assert!(card.auto_rate() > 97.0, "seed {seed}: {card}");
    }
}
