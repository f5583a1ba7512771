//! The final step's second strategy: the probable payments of every receipt left with an
//! unapplied remainder (see [`super::super::probable`]), read against what every unit left
//! open.

use super::super::index::{cents, from_cents};
use super::super::names;
use super::super::normalise;
use super::super::probable::{ProbableEvidence, ProbablePayment, AMOUNT_ONLY_HOLD_MAX};
use super::super::subset::{self, Limits};
use super::super::DeductionKind;
use super::{currency_ok, issued_by, ref_words, sort_1342, typed_text, Final};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// At most this many customers are examined for one receipt.
const MAX_CUSTOMERS: usize = 6;
/// At most this many probable payments are listed for one receipt.
const MAX_PER_RECEIPT: usize = 12;

impl Final<'_, '_> {
    fn open_items(&self, r: usize, c: u32) -> Vec<u32> {
        self.sh
            .ledger
            .items_of(c)
            .iter()
            .copied()
            .filter(|&i| {
                self.open(i as usize) > 0
                    && currency_ok(self.sh, r, i)
                    && issued_by(self.sh, r, i)
                    && self.sh.allowed(r, i)
            })
            .take(self.sh.policy.max_combination_candidates)
            .collect()
    }

    /// The deduction that would explain paying `a` for an open `o`, if the policy accepts
    /// one (a discount at one of its rates, bank charges of a transfer from abroad).
    fn deduction(&self, r: usize, o: i64, a: i64) -> Option<DeductionKind> {
        let short = o - a;
        if short <= 0 {
            return None;
        }
        let policy = self.sh.policy;
        for rate in &policy.discount_rates {
            if (cents(from_cents(o) * (Decimal::ONE - rate)) - a).abs() <= 1 {
                return Some(DeductionKind::Discount);
            }
        }
        let abroad = super::payer_abroad(self.sh.receipts[r]);
        if abroad != Some(false)
            && short <= cents(policy.max_bank_fee)
            && from_cents(short) <= from_cents(o) * policy.max_fee_fraction
        {
            return Some(DeductionKind::BankFees);
        }
        None
    }

    /// Lists the open invoices receipt `r` could pay. `ident` are the customers its unit
    /// identified (with what it learnt).
    pub(in super::super) fn probable(
        &self,
        r: usize,
        refs: &[u32],
        ident: &[u32],
        out: &mut Vec<ProbablePayment>,
    ) {
        let a = self.rem(r);
        if a <= 0 || self.sh.returned[r] {
            return;
        }
        let rec = self.sh.receipts[r];
        let ledger = &self.sh.ledger;
        let tol = cents(self.sh.policy.rounding_tolerance);
        let mut found: BTreeMap<u32, Vec<ProbableEvidence>> = BTreeMap::new();
        let mut add = |i: u32, e: ProbableEvidence| {
            let v = found.entry(i).or_default();
            if !v.contains(&e) {
                v.push(e);
            }
        };
        // Customers to look at, with how the receipt points at them.
        let mut custs: Vec<(u32, ProbableEvidence)> = Vec::new();
        for &c in ident {
            custs.push((c, ProbableEvidence::PayerIdentified));
        }
        for &inv in refs {
            let cited = ProbableEvidence::Reference {
                found: ledger.invoices[inv as usize].number.clone(),
            };
            if self.open(inv as usize) > 0 {
                add(inv, cited.clone());
            }
            let c = ledger.inv_cust[inv as usize];
            if !custs.iter().any(|x| x.0 == c) {
                custs.push((c, cited));
            }
        }
        let loose = names::loose(
            ledger,
            rec.counterparty_name.as_deref().unwrap_or(""),
            &rec.remittance,
        );
        for (c, s) in loose {
            if !custs.iter().any(|x| x.0 == c) {
                custs.push((c, ProbableEvidence::NameClose { similarity: s }));
            }
        }
        custs.truncate(MAX_CUSTOMERS);
        let words = ref_words(rec);
        let nums = normalise::trailing_numbers(&typed_text(rec));
        let mut number = String::new();
        for (c, link) in &custs {
            let items = self.open_items(r, *c);
            if items.is_empty() {
                continue;
            }
            let mut matched = false;
            for &i in &items {
                let o = self.open(i as usize);
                if (o - a).abs() <= tol {
                    add(i, ProbableEvidence::AmountEqual);
                    add(i, link.clone());
                    matched = true;
                } else if let Some(kind) = self.deduction(r, o, a) {
                    add(i, ProbableEvidence::AmountLessDeduction { kind });
                    add(i, link.clone());
                    matched = true;
                }
                // The text names it loosely.
                normalise::compact_into(&ledger.invoices[i as usize].number, &mut number);
                let near = words
                    .iter()
                    .filter(|w| w.len().abs_diff(number.len()) <= 2)
                    .find(|w| normalise::edit_distance(w, &number, 2).is_some())
                    .cloned()
                    .or_else(|| {
                        normalise::sequence(&ledger.invoices[i as usize].number)
                            .filter(|s| s.len() >= 2 && nums.contains(s))
                    });
                if let Some(w) = near {
                    add(i, ProbableEvidence::LooseReference { found: w });
                    add(i, link.clone());
                    matched = true;
                }
            }
            if items.len() > 1 {
                let vals: Vec<i64> = items.iter().map(|&i| self.open(i as usize)).collect();
                let s = subset::find(
                    &vals,
                    a,
                    &[],
                    Limits {
                        max_items: self.sh.policy.max_combination_items,
                        max_solutions: 2,
                        max_nodes: self.sh.policy.max_combination_nodes / 5,
                    },
                );
                for sol in s.solutions.iter().filter(|s| s.len() > 1) {
                    for &k in sol {
                        add(items[k], ProbableEvidence::Combination { items: sol.len() });
                        add(items[k], link.clone());
                    }
                    matched = true;
                }
            }
            if !matched {
                // Were it the customer's, 1342-10 would impute it to the first due.
                let mut order = items.clone();
                sort_1342(self.sh, &mut order);
                let mut left = a;
                for i in order {
                    if left <= 0 {
                        break;
                    }
                    left -= self.open(i as usize);
                    add(i, ProbableEvidence::Imputation);
                    add(i, link.clone());
                }
            }
        }
        if custs.is_empty() {
            // Nobody identified: the open items of the amount, while few share it.
            let mut v: Vec<u32> = Vec::new();
            for d in -tol..=tol {
                v.extend(self.items_of_amount(r, a + d));
            }
            v.sort_unstable();
            v.dedup();
            if !v.is_empty() && v.len() <= AMOUNT_ONLY_HOLD_MAX {
                let n = v.len();
                for i in v {
                    add(i, ProbableEvidence::AmountEqual);
                    add(i, ProbableEvidence::PayerUnknown { candidates: n });
                }
            }
        }
        let mut list: Vec<(u32, Vec<ProbableEvidence>)> = found.into_iter().collect();
        // Strongest first: a reference, then an amount, then the rest.
        list.sort_by_key(|(i, ev)| (ev.iter().min().cloned(), *i));
        for (i, mut evidence) in list.into_iter().take(MAX_PER_RECEIPT) {
            evidence.sort();
            let inv = ledger.invoices[i as usize];
            out.push(ProbablePayment {
                transaction: rec.id.clone(),
                invoice: inv.id.clone(),
                customer: ledger.cust_ids[ledger.inv_cust[i as usize] as usize].clone(),
                amount: from_cents(a),
                booking_date: rec.booking_date,
                payer_name: rec.counterparty_name.clone(),
                evidence,
            });
        }
    }
}
