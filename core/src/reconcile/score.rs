//! Scoring of reconciliation outcomes against labelled data (see [`super::synth`]): automatic
//! rate among matchable events and wrong automatic allocations, per phenomenon.
//!
//! An event is right when its automatic allocations, netted per invoice, are exactly the
//! expected ones *and* so are the differences written off beside them (discount, bank
//! charges, rounding, by kind): a shortfall booked as a partial payment leaves an invoice open
//! that the truth closes, and a partial payment booked as bank charges closes one the truth
//! leaves open; both are wrong, although the amount applied is the received one.

use super::synth::{Phenomenon, Truth};
use super::{DeductionKind, Outcome};

use crate::ids::{InvoiceId, TransactionId};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// One labelled payment event of a generator: its label (the phenomenon it shows), its
/// transactions and the allocations and write-offs a careful person books for it (none for
/// events that settle nothing).
pub trait Labelled {
    /// The phenomenon.
    type Label: Copy + Ord + fmt::Display;
    /// The phenomenon of this event.
    fn label(&self) -> Self::Label;
    /// The bank lines of the event.
    fn transactions(&self) -> &[TransactionId];
    /// Net allocations expected.
    fn expected(&self) -> &[(InvoiceId, Decimal)];
    /// Differences written off beside them.
    fn deductions(&self) -> &[(InvoiceId, DeductionKind, Decimal)];
}

impl Labelled for Truth {
    type Label = Phenomenon;
    fn label(&self) -> Phenomenon {
        self.phenomenon
    }
    fn transactions(&self) -> &[TransactionId] {
        &self.transactions
    }
    fn expected(&self) -> &[(InvoiceId, Decimal)] {
        &self.expected
    }
    fn deductions(&self) -> &[(InvoiceId, DeductionKind, Decimal)] {
        &self.deductions
    }
}

/// Counts for one phenomenon.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// Payment events.
    pub events: usize,
    /// Events that should settle something.
    pub matchable: usize,
    /// Events applied automatically and exactly right (for non-matchable: left alone).
    pub auto_correct: usize,
    /// Matchable events applied automatically and exactly right.
    pub matchable_correct: usize,
    /// Events with an automatic allocation that differs from the truth.
    pub auto_wrong: usize,
    /// Matchable events with an automatic allocation that differs from the truth.
    pub matchable_wrong: usize,
    /// Matchable events not applied, whose first proposal is exactly right.
    pub proposed_right: usize,
    /// Automatic allocation lines.
    pub auto_lines: usize,
    /// Automatic allocation lines absent from the truth (wrong invoice or amount).
    pub wrong_lines: usize,
}

/// Per-phenomenon rows and the total.
#[derive(Clone, Debug)]
pub struct Scorecard<P = Phenomenon> {
    /// Rows by phenomenon.
    pub rows: BTreeMap<P, Row>,
    /// Sum of the rows.
    pub total: Row,
}

impl<P> Default for Scorecard<P> {
    fn default() -> Self {
        Scorecard {
            rows: BTreeMap::new(),
            total: Row::default(),
        }
    }
}

impl<P> Scorecard<P> {
    /// Matchable events applied automatically and right, in per-cent.
    pub fn auto_rate(&self) -> f64 {
        pct(self.total.matchable_correct, self.total.matchable)
    }
    /// Matchable events left to a person (neither applied right nor wrong).
    pub fn left(&self) -> usize {
        self.total.matchable - self.total.matchable_correct - self.matchable_wrong()
    }
    /// Matchable events with a wrong automatic allocation.
    pub fn matchable_wrong(&self) -> usize {
        self.total.matchable_wrong
    }
    /// Wrong automatic allocation lines per 1 000 automatic lines.
    pub fn wrong_per_mille(&self) -> f64 {
        if self.total.auto_lines == 0 {
            0.0
        } else {
            self.total.wrong_lines as f64 * 1000.0 / self.total.auto_lines as f64
        }
    }
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        100.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

/// Scores an outcome against the truth of any generator.
pub fn score<T: Labelled>(truth: &[T], outcome: &Outcome) -> Scorecard<T::Label> {
    let mut by_tx: HashMap<&TransactionId, Vec<usize>> = HashMap::new();
    for (k, a) in outcome.allocations.iter().enumerate() {
        by_tx.entry(&a.transaction).or_default().push(k);
    }
    let mut first_suggestion: HashMap<&TransactionId, BTreeMap<InvoiceId, Decimal>> =
        HashMap::new();
    for s in outcome.suggestions.iter().filter(|s| s.rank == 1) {
        let m = first_suggestion.entry(&s.transaction).or_default();
        for (i, a) in &s.invoices {
            *m.entry(i.clone()).or_default() += *a;
        }
    }
    let mut card = Scorecard::default();
    for t in truth {
        let mut net: BTreeMap<InvoiceId, Decimal> = BTreeMap::new();
        let mut off: BTreeMap<(InvoiceId, DeductionKind), Decimal> = BTreeMap::new();
        let mut lines = 0usize;
        let mut proposed: BTreeMap<InvoiceId, Decimal> = BTreeMap::new();
        for tx in t.transactions() {
            for &k in by_tx.get(tx).map(Vec::as_slice).unwrap_or(&[]) {
                let a = &outcome.allocations[k];
                if a.auto {
                    *net.entry(a.invoice.clone()).or_default() += a.amount;
                    if let Some(d) = a.deduction {
                        *off.entry((a.invoice.clone(), d.kind)).or_default() += d.amount;
                    }
                    lines += 1;
                }
            }
            if let Some(m) = first_suggestion.get(tx) {
                for (i, a) in m {
                    *proposed.entry(i.clone()).or_default() += *a;
                }
            }
        }
        net.retain(|_, v| !v.is_zero());
        off.retain(|_, v| !v.is_zero());
        let expected: BTreeMap<InvoiceId, Decimal> = t.expected().iter().cloned().collect();
        let expected_off: BTreeMap<(InvoiceId, DeductionKind), Decimal> = t
            .deductions()
            .iter()
            .map(|(i, k, a)| ((i.clone(), *k), *a))
            .collect();
        let off_of = |m: &BTreeMap<(InvoiceId, DeductionKind), Decimal>, i: &InvoiceId| {
            m.iter()
                .filter(|((j, _), _)| j == i)
                .map(|((_, k), a)| (*k, *a))
                .collect::<Vec<_>>()
        };
        let row = card.rows.entry(t.label()).or_default();
        row.events += 1;
        row.auto_lines += lines;
        // A line is wrong when its invoice is not expected, its amount differs, or what was
        // written off beside it differs.
        let wrong_lines = net
            .iter()
            .filter(|(i, a)| {
                expected.get(*i) != Some(*a) || off_of(&off, i) != off_of(&expected_off, i)
            })
            .count();
        let net_right = net == expected && off == expected_off;
        row.wrong_lines += wrong_lines.min(lines);
        if expected.is_empty() {
            if net.is_empty() {
                row.auto_correct += 1;
            } else {
                row.auto_wrong += 1;
            }
        } else {
            row.matchable += 1;
            if net_right {
                row.auto_correct += 1;
                row.matchable_correct += 1;
            } else if !net.is_empty() {
                row.auto_wrong += 1;
                row.matchable_wrong += 1;
            } else if proposed == expected {
                row.proposed_right += 1;
            }
        }
    }
    for r in card.rows.values() {
        card.total.events += r.events;
        card.total.matchable += r.matchable;
        card.total.auto_correct += r.auto_correct;
        card.total.matchable_correct += r.matchable_correct;
        card.total.matchable_wrong += r.matchable_wrong;
        card.total.auto_wrong += r.auto_wrong;
        card.total.proposed_right += r.proposed_right;
        card.total.auto_lines += r.auto_lines;
        card.total.wrong_lines += r.wrong_lines;
    }
    card
}

impl<P: fmt::Display> fmt::Display for Scorecard<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<22} {:>7} {:>9} {:>8} {:>7} {:>7} {:>6} {:>9} {:>10}",
            "phenomenon",
            "events",
            "matchable",
            "auto_ok",
            "auto_%",
            "wrong",
            "left",
            "proposed",
            "wrong/1000"
        )?;
        for (p, r) in &self.rows {
            let rate = if r.matchable > 0 {
                format!("{:.1}", pct(r.auto_correct, r.matchable))
            } else {
                format!("({:.0})", pct(r.auto_correct, r.events))
            };
            let wpm = if r.auto_lines > 0 {
                format!("{:.2}", r.wrong_lines as f64 * 1000.0 / r.auto_lines as f64)
            } else {
                "-".into()
            };
            writeln!(
                f,
                "{:<22} {:>7} {:>9} {:>8} {:>7} {:>7} {:>6} {:>9} {:>10}",
                p.to_string(),
                r.events,
                r.matchable,
                r.auto_correct,
                rate,
                r.auto_wrong,
                r.matchable - r.matchable_correct - r.matchable_wrong,
                r.proposed_right,
                wpm
            )?;
        }
        writeln!(
            f,
            "TOTAL {:>15} events, {} matchable: automatic and right {:.2} %, wrong automatic lines {:.2} per 1000 ({} of {}), wrong events {}; for non-matchable events auto_% is the share left alone",
            self.total.events,
            self.total.matchable,
            self.auto_rate(),
            self.wrong_per_mille(),
            self.total.wrong_lines,
            self.total.auto_lines,
            self.total.auto_wrong
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::synth::Phenomenon;
    use crate::reconcile::{Allocation, Confidence, Deduction, Rule};

    fn alloc(invoice: &str, amount: i64, deduction: Option<(DeductionKind, i64)>) -> Allocation {
        Allocation {
            transaction: "T1".into(),
            invoice: invoice.into(),
            amount: Decimal::new(amount, 2),
            auto: true,
            confidence: Confidence(990),
            rule: Rule::Reference,
            why: crate::reconcile::Why::recorded("test"),
            deduction: deduction.map(|(kind, a)| Deduction {
                kind,
                amount: Decimal::new(a, 2),
            }),
        }
    }

    fn card(truth: Truth, a: Allocation) -> Row {
        let o = Outcome {
            allocations: vec![a],
            ..Outcome::default()
        };
        score(&[truth], &o).total
    }

    #[test]
    fn write_offs_are_part_of_being_right() {
        let fees = Truth {
            phenomenon: Phenomenon::BankFees,
            transactions: vec!["T1".into()],
            expected: vec![("F1".into(), Decimal::new(118_500, 2))],
            deductions: vec![("F1".into(), DeductionKind::BankFees, Decimal::new(1_500, 2))],
        };
        let right = card(
            fees.clone(),
            alloc("F1", 118_500, Some((DeductionKind::BankFees, 1_500))),
        );
        assert_eq!((right.auto_correct, right.wrong_lines), (1, 0));
        // The received amount applied, but the shortfall left open: wrong.
        let partial = card(fees.clone(), alloc("F1", 118_500, None));
        assert_eq!((partial.auto_wrong, partial.wrong_lines), (1, 1));
        // Booked as a discount instead of bank charges: wrong too.
        let discount = card(
            fees,
            alloc("F1", 118_500, Some((DeductionKind::Discount, 1_500))),
        );
        assert_eq!(discount.auto_wrong, 1);
        // A partial payment booked as bank charges closes an invoice that stays open: wrong.
        let part = Truth {
            phenomenon: Phenomenon::Partial,
            transactions: vec!["T1".into()],
            expected: vec![("F1".into(), Decimal::new(118_500, 2))],
            deductions: vec![],
        };
        let r = card(
            part,
            alloc("F1", 118_500, Some((DeductionKind::BankFees, 1_500))),
        );
        assert_eq!((r.auto_wrong, r.wrong_lines), (1, 1));
    }
}
