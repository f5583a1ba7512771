//! Tolerant references, within the identified payer's own open invoices only (never across
//! customers): a bounded edit distance with transpositions on the compact number, or the
//! trailing sequence number alone.

use super::super::engine::Run;
use super::super::index::NO_SEQUENCE;
use super::super::normalise;
use super::super::RefKind;
use super::{dec, kind_rank, Hit};

impl Run<'_, '_> {
    /// References close to the customers `custs`' own open invoices (other than
    /// `exclude`); only the closest are kept.
    pub(in super::super) fn tolerant_hits(
        &self,
        r: usize,
        custs: &[u32],
        exclude: &[u32],
    ) -> Vec<Hit> {
        let nums = self.nums(r);
        let amount_text = dec(self.rem(r)).to_string();
        let max = self.policy().max_edit_distance;
        let mut out = Vec::new();
        for &c in custs {
            let near = self.near_of(r, c);
            for &i in self.sh.ledger.items_of(c) {
                if self.open(i) == 0
                    || !self.currency_ok(r, i)
                    || exclude.contains(&i)
                    || !self.sh.allowed(r, i)
                {
                    continue;
                }
                if let Some(n) = near
                    .iter()
                    .find(|n| n.inv == i && n.distance <= if n.long { max } else { 1 })
                {
                    out.push(Hit {
                        inv: i,
                        kind: RefKind::Tolerant,
                        found: Some(n.word.clone()),
                        distance: n.distance,
                    });
                    continue;
                }
                let seq = self.sh.ledger.seq[i as usize];
                // The sequence alone, two digits or more, when it is not just a piece of the
                // amount.
                if seq != NO_SEQUENCE && seq >= 10 && nums.contains(&seq) {
                    let s = seq.to_string();
                    if !amount_text.split('.').any(|p| p == s) {
                        out.push(Hit {
                            inv: i,
                            kind: RefKind::Sequence,
                            found: Some(s.into_boxed_str()),
                            distance: 0,
                        });
                    }
                }
            }
        }
        // Keep only the closest hits.
        if let Some(minrank) = out.iter().map(|h| (h.distance, kind_rank(h.kind))).min() {
            out.retain(|h| (h.distance, kind_rank(h.kind)) == minrank);
        }
        out.sort_by_key(|h| h.inv);
        out
    }

    /// Whether an open item of customer `c` other than `except` has exactly the receipt's
    /// amount open, or an open amount the receipt pays less a deduction within policy.
    pub(in super::super) fn other_item_fits(&self, r: usize, c: u32, except: u32) -> bool {
        let a = self.rem(r);
        self.sh.ledger.items_of(c).iter().any(|&i| {
            let o = self.open(i);
            i != except
                && o > 0
                && self.currency_ok(r, i)
                && self.issued_by(r, i)
                && (o == a || (o > a && self.deduction_kind(r, &[i], o, a, false).is_some()))
        })
    }

    /// Whether an open item of customer `c` other than `except`, whose sequence number is
    /// one edit away from `seq`, has at least the receipt's amount open (it could be the
    /// invoice a partial payment citing `seq` was meant for).
    pub(in super::super) fn sequence_neighbour_open(
        &self,
        r: usize,
        c: u32,
        except: u32,
        seq: &str,
    ) -> bool {
        let a = self.rem(r);
        self.sh.ledger.items_of(c).iter().any(|&i| {
            i != except
                && self.open(i) >= a
                && normalise::sequence(self.inv_number(i))
                    .is_some_and(|s| normalise::edit_distance(&s, seq, 1).is_some())
        })
    }
}
