#![allow(clippy::unwrap_used)]
use relance_core::reconcile::synth::{generate, SynthConfig};
use relance_core::reconcile::{reconcile, Policy};
use std::fmt::Write;

#[test]
fn dump() {
    let path = std::env::var("GOLDEN_OUT").unwrap_or_else(|_| "/tmp/rg/golden.txt".into());
    let mut s = String::new();
    for (seed, n) in [
        (1u64, 1500usize),
        (2, 1500),
        (3, 1500),
        (4, 1500),
        (5, 3000),
        (6, 3000),
        (7, 800),
    ] {
        let ds = generate(&SynthConfig {
            seed,
            customers: n,
            ..SynthConfig::default()
        });
        let out = reconcile(
            &ds.invoices,
            &ds.customers,
            &ds.receipts,
            &[],
            &Policy::default(),
        );
        writeln!(s, "== seed {seed}").unwrap();
        for a in &out.allocations {
            writeln!(
                s,
                "A {} {} {} {} {} {:?} {:?}",
                a.transaction, a.invoice, a.amount, a.auto, a.confidence.0, a.rule, a.deduction
            )
            .unwrap();
            writeln!(s, "R {}", a.reason()).unwrap();
        }
        for x in &out.suggestions {
            writeln!(
                s,
                "S {} {} {:?} {}",
                x.transaction, x.rank, x.invoices, x.confidence.0
            )
            .unwrap();
            writeln!(s, "R {}", x.reason()).unwrap();
        }
        let mut flags: Vec<String> = out.flags.iter().map(|f| format!("{f:?}")).collect();
        flags.sort();
        for f in flags {
            writeln!(s, "F {f}").unwrap();
        }
        for u in &out.unmatched {
            writeln!(s, "U {u}").unwrap();
        }
    }
    std::fs::write(path, s).unwrap();
}
