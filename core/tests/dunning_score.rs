//! The dunning score on generated data, several seeds: no paid invoice reminded, at least
//! 95 % of the invoices overdue 15 days or more acted on or held with a reason, the 40 € on
//! every B2B reminder stating penalties and never for consumers. Prints the scorecards:
//! `cargo test -p relance-core --release --test dunning_score -- --nocapture`.
//!
//! Another generator plugs in by implementing `relance_core::dunning::score::Generator` and
//! being added to `generators()`; the policy, thresholds and simulation are the same for all.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_core::dunning::score::{simulate, Generator, Simulation, SynthGenerator, Unidentified};
use relance_core::dunning::{Policy, RateTable};
use relance_core::reconcile::synth::SynthConfig;
use relance_core::reconcile::synth2::{Sector, Synth2Generator};

/// Customers per data set and days between cycles: smaller in a debug build (the
/// workspace's `cargo test`), the figures reported come from the release run.
const SIZE: (usize, i64) = if cfg!(debug_assertions) {
    (40, 5)
} else {
    (150, 3)
};

fn generators() -> Vec<Box<dyn Generator>> {
    let synth = SynthGenerator(SynthConfig {
        customers: SIZE.0,
        ..SynthConfig::default()
    });
    let mut v: Vec<Box<dyn Generator>> = vec![
        Box::new(synth.clone()),
        Box::new(Unidentified {
            inner: synth,
            per_mille: 100,
        }),
    ];
    // The second, independent generator: each of its sellers.
    for sector in [Sector::Consumer, Sector::Public, Sector::Services] {
        v.push(Box::new(Synth2Generator {
            customers: SIZE.0,
            sector: Some(sector),
        }));
    }
    v
}

#[test]
fn dunning_score_on_generated_data() {
    let rates: RateTable = toml::from_str(include_str!("../../config/rates/fr.toml")).unwrap();
    let sim = Simulation {
        every_days: SIZE.1,
        policy: Policy::default(),
        rates,
        reconcile: relance_core::reconcile::Policy::default(),
    };
    for g in generators() {
        for seed in [1u64, 2, 3] {
            let data = g.generate(seed);
            let card = simulate(&data, &sim).unwrap();
            println!("{} seed {seed}:\n{card}", g.name());
            assert!(
                card.actions > 0,
                "{} seed {seed}: nothing planned",
                g.name()
            );
            assert!(
                card.paid_reminded.is_empty(),
                "{} seed {seed}: paid invoices reminded: {:?}",
                g.name(),
                &card.paid_reminded[..card.paid_reminded.len().min(10)]
            );
            assert!(
                card.coverage() >= 95.0,
                "{} seed {seed}: {:.1} % of overdue invoices acted on or held; e.g. {:?}",
                g.name(),
                card.coverage(),
                card.uncovered
            );
            assert!(
                card.b2b_stating > 0,
                "{} seed {seed}: no formal reminder",
                g.name()
            );
            assert!(
                card.b2b_without_indemnity.is_empty(),
                "{} seed {seed}: {:?}",
                g.name(),
                card.b2b_without_indemnity
            );
            assert!(
                card.consumer_with_indemnity.is_empty(),
                "{} seed {seed}: {:?}",
                g.name(),
                card.consumer_with_indemnity
            );
        }
    }
}
