//! The final step's first strategy: for a receipt nothing else proposed anything for, the
//! open items of exactly its amount, as suggestions only (a coincidental equal amount from
//! an unknown payer is not evidence). Read against what every unit left open.

use super::super::confidence as conf;
use super::super::engine::Shared;
use super::super::explain::{Basis, Why};
use super::super::index::from_cents;
use super::super::{Allocation, Confidence, Evidence, Rule, Suggestion};
use super::count;
use super::{currency_ok, issued_by, sort_1342};
use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering::Relaxed;

/// At most this many open items of the amount are looked at.
const MAX_CANDIDATES: usize = 50;
/// At most this many are proposed.
const MAX_PROPOSED: usize = 3;

/// The state every unit left, read by the final step.
pub(in super::super) struct Final<'s, 'a> {
    pub sh: &'s Shared<'a>,
    /// Open amount of each invoice (signed cents).
    pub open: &'s [AtomicI64],
    /// Unapplied remainder of each receipt (cents).
    pub rem: &'s [AtomicI64],
}

impl Final<'_, '_> {
    /// Open amount of invoice `i` after every unit.
    pub(in super::super) fn open(&self, i: usize) -> i64 {
        self.open[i].load(Relaxed)
    }

    /// Remainder of receipt `r` after every unit.
    pub(in super::super) fn rem(&self, r: usize) -> i64 {
        self.rem[r].load(Relaxed)
    }

    /// Open items of exactly the amount of receipt `r`, first due first.
    pub(in super::super) fn items_of_amount(&self, r: usize, amount: i64) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .sh
            .ledger
            .by_amount
            .get(amount as u64)
            .filter(|&i| {
                self.open(i as usize) == amount
                    && currency_ok(self.sh, r, i)
                    && issued_by(self.sh, r, i)
                    && self.sh.allowed(r, i)
            })
            .take(MAX_CANDIDATES)
            .collect();
        sort_1342(self.sh, &mut v);
        v
    }

    /// Proposes the open items of receipt `r`'s amount.
    pub(in super::super) fn amount_only(
        &self,
        r: usize,
        allocs: &mut Vec<Allocation>,
        sugg: &mut Vec<Suggestion>,
    ) {
        let a = self.rem(r);
        let v = self.items_of_amount(r, a);
        if v.is_empty() {
            return;
        }
        let n = v.len();
        let rec = self.sh.receipts[r];
        let confidence = Confidence(if n == 1 {
            conf::AMOUNT_ONLY_UNIQUE
        } else {
            conf::AMOUNT_ONLY_SEVERAL
        });
        let why = Why::new(
            from_cents(a),
            Basis::AmountOnly {
                candidates: count(n),
            },
            &[Evidence::AmountEqual],
            false,
        );
        for (k, &i) in v.iter().take(MAX_PROPOSED).enumerate() {
            let inv = self.sh.ledger.invoices[i as usize];
            if k == 0 {
                allocs.push(Allocation {
                    transaction: rec.id.clone(),
                    invoice: inv.id.clone(),
                    amount: from_cents(a),
                    auto: false,
                    confidence,
                    rule: Rule::AmountOnly,
                    deduction: None,
                    why: why.clone(),
                });
            }
            sugg.push(Suggestion {
                transaction: rec.id.clone(),
                rank: u8::try_from(k + 1).unwrap_or(u8::MAX),
                invoices: vec![(inv.id.clone(), from_cents(a))],
                confidence,
                rule: Rule::AmountOnly,
                why: why.clone(),
            });
        }
    }
}
