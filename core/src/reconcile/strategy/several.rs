//! Several receipts, none applied alone, that together pay exactly the open amount of one
//! invoice they all designate (an invoice paid in instalments, or a down payment and the
//! balance: N:1).

use super::super::confidence as conf;
use super::super::engine::Run;
use super::super::explain::{Basis, Designation, Several};
use super::super::subset::{self, Limits};
use super::super::{Evidence, RefKind, Rule};
use super::{chance_combinations, dec, Line, N1Cand, Proposal, Reasoning, CHANCE_MAX};
use std::collections::HashMap;

impl Run<'_, '_> {
    /// Applies together the receipts that pay one invoice. A receipt designates an invoice
    /// by an exact reference, by a reference close to one of its identified payer's
    /// invoices, or, without any reference, as an open item of its identified customer
    /// (then each receipt's payer must be identified as that customer). The combination
    /// must be the only one for the invoice, and no receipt may take part in the combination
    /// of another invoice.
    pub(in super::super) fn several_receipts_pass(&mut self) {
        let mut v: Vec<N1Cand> = self
            .n1
            .iter()
            .copied()
            .filter(|c| {
                let o = self.open(c.inv);
                let rem = self.rem(c.r);
                rem > 0 && !self.has_auto(c.r) && o > 0 && rem < o
            })
            .collect();
        v.sort_by(|a, b| {
            (a.inv, a.r, a.kind, std::cmp::Reverse(a.strength)).cmp(&(
                b.inv,
                b.r,
                b.kind,
                std::cmp::Reverse(b.strength),
            ))
        });
        v.dedup_by_key(|c| (c.inv, c.r));
        let mut sols: Vec<Vec<N1Cand>> = Vec::new();
        let mut k = 0;
        while k < v.len() {
            let inv = v[k].inv;
            let mut j = k;
            while j < v.len() && v[j].inv == inv {
                j += 1;
            }
            let group: Vec<N1Cand> = v[k..j].iter().copied().take(16).collect();
            k = j;
            if group.len() < 2 {
                continue;
            }
            let vals: Vec<i64> = group.iter().map(|c| self.rem(c.r)).collect();
            let s = subset::find(
                &vals,
                self.open(inv),
                &[],
                Limits {
                    max_items: 6,
                    max_solutions: 2,
                    max_nodes: 20_000,
                },
            );
            let open_kind = s
                .solutions
                .first()
                .is_some_and(|sol| sol.iter().any(|&x| group[x].kind == Designation::Open));
            if s.solutions.len() == 1
                && !s.exhausted
                && s.solutions[0].len() >= 2
                && (!open_kind || s.solutions[0].len() <= 4)
                && chance_combinations(group.len(), s.solutions[0].len(), self.open(inv))
                    <= CHANCE_MAX
            {
                sols.push(s.solutions[0].iter().map(|&x| group[x]).collect());
            }
        }
        let mut uses: HashMap<usize, usize> = HashMap::new();
        for sol in &sols {
            for c in sol {
                *uses.entry(c.r).or_default() += 1;
            }
        }
        for sol in sols {
            if sol.iter().any(|c| uses.get(&c.r).copied().unwrap_or(0) > 1) {
                continue;
            }
            let inv = sol[0].inv;
            let worst = sol
                .iter()
                .map(|c| c.kind)
                .max()
                .unwrap_or(Designation::Exact);
            let (rule, confidence) = match worst {
                Designation::Exact => (Rule::Reference, conf::SEVERAL_EXACT),
                Designation::Tolerant => (
                    Rule::TolerantReference,
                    if sol
                        .iter()
                        .all(|c| c.kind == Designation::Exact || c.strength > 0)
                    {
                        conf::SEVERAL_TOLERANT
                    } else {
                        0
                    },
                ),
                Designation::Open => (
                    Rule::CustomerCombination,
                    sol.iter()
                        .map(|c| c.strength)
                        .min()
                        .unwrap_or(0)
                        .saturating_sub(conf::SEVERAL_OPEN_DROP),
                ),
            };
            if confidence < self.policy().auto_threshold {
                continue;
            }
            let total = self.open(inv);
            let ids: Vec<_> = sol.iter().map(|c| self.rec(c.r).id.clone()).collect();
            let c = self.cust_of(inv);
            for cand in &sol {
                let r = cand.r;
                let a = self.rem(r);
                let ident = self.identify(r);
                let mut evidence = Vec::new();
                if cand.kind != Designation::Open {
                    evidence.push(Evidence::Reference {
                        kind: if cand.kind == Designation::Exact {
                            RefKind::InvoiceNumber
                        } else {
                            RefKind::Tolerant
                        },
                        distance: 0,
                        typed: None,
                    });
                }
                evidence.extend(ident.evidence(c));
                evidence.push(Evidence::UniqueCombination { items: sol.len() });
                let p = Proposal {
                    lines: vec![Line {
                        inv,
                        cents: a,
                        deduction: None,
                    }],
                    rule,
                    confidence,
                    eligible: true,
                    why: Reasoning {
                        received: dec(a),
                        basis: Basis::SeveralReceipts(Box::new(Several {
                            receipts: ids.clone(),
                            total: dec(total),
                            designation: worst,
                        })),
                        evidence,
                        foreign: false,
                    },
                    surplus: 0,
                    alternatives: Vec::new(),
                };
                self.commit(r, p);
            }
        }
    }
}
