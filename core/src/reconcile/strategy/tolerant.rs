//! Tolerant references, within the identified payer's own open invoices only (never across
//! customers): a bounded edit distance with transpositions on the compact number, or the
//! trailing sequence number alone.

use super::super::engine::Run;
use super::super::normalise;
use super::super::RefKind;
use super::{dec, kind_rank, ref_words, typed_text, Hit};

impl Run<'_, '_> {
    /// References close to the customers `custs`' own open invoices (other than
    /// `exclude`); only the closest are kept.
    pub(in super::super) fn tolerant_hits(
        &self,
        r: usize,
        custs: &[u32],
        exclude: &[u32],
    ) -> Vec<Hit> {
        let rec = self.rec(r);
        let text = typed_text(rec);
        let words = ref_words(rec);
        let nums = normalise::trailing_numbers(&text);
        let amount_text = dec(self.rem(r)).to_string();
        let mut out = Vec::new();
        let mut number = String::new();
        for &c in custs {
            for &i in self.sh.ledger.items_of(c) {
                if self.open(i) == 0
                    || !self.currency_ok(r, i)
                    || exclude.contains(&i)
                    || !self.sh.allowed(r, i)
                {
                    continue;
                }
                normalise::compact_into(self.inv_number(i), &mut number);
                let max = if number.len() >= 8 {
                    self.policy().max_edit_distance
                } else {
                    1
                };
                let mut best: Option<(u8, &String)> = None;
                for w in &words {
                    if w.len().abs_diff(number.len()) > usize::from(max) {
                        continue;
                    }
                    if let Some(d) = normalise::edit_distance(w, &number, max) {
                        if best.as_ref().is_none_or(|b| d < b.0) {
                            best = Some((d, w));
                        }
                    }
                }
                if let Some((d, w)) = best {
                    out.push(Hit {
                        inv: i,
                        kind: RefKind::Tolerant,
                        found: w.as_str().into(),
                        distance: d,
                    });
                    continue;
                }
                if let Some(seq) = normalise::sequence(self.inv_number(i)) {
                    // The sequence alone, when it is not just a piece of the amount.
                    if seq.len() >= 2
                        && nums.contains(&seq)
                        && !amount_text.split('.').any(|p| p == seq)
                    {
                        out.push(Hit {
                            inv: i,
                            kind: RefKind::Sequence,
                            found: seq.into_boxed_str(),
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
