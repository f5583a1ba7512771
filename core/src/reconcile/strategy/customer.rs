//! The customer pass: for a receipt no reference settled, tolerant references within the
//! identified payer's items, then its open items without reference (the only item of the
//! amount, the oldest of several items of the amount, an instalment, the only combination,
//! a deduction), then Code civil art. 1342-10 imputation; what is not applied is proposed.

use super::super::confidence as conf;
use super::super::engine::{RefStep, Run, Stage};
use super::super::explain::{Basis, Deducted, Designation};
use super::super::index::cents;
use super::super::subset::{self, Limits};
use super::super::{DeductionKind, Evidence, Rule};
use super::{
    chance_combinations, count, dec, Hit, HitsOutcome, Ident, Line, N1Cand, Proposal, Reasoning,
    CHANCE_MAX,
};

impl Run<'_, '_> {
    /// Decides a receipt the reference pass left open.
    pub(in super::super) fn customer_pass(&mut self, r: usize) {
        // What the reference pass could not apply may be applicable now that other receipts
        // were applied (the balance of an invoice paid before its down payment was weighed).
        if self.hits_cache.contains(&r) && self.reference_pass(r, Stage::Second) == RefStep::Settled
        {
            self.hits_cache.remove(&r);
            return;
        }
        let ident = self.identify(r);
        let hits: Vec<Hit> = if self.hits_cache.remove(&r) {
            self.hits(r)
        } else {
            Vec::new()
        };
        let policy = self.policy();
        let mut fallback: Vec<Proposal> = Vec::new();
        let shared = hits.len() > policy.max_combination_candidates;
        let foreign = !ident.custs.is_empty()
            && hits
                .iter()
                .all(|h| ident.strength(self.cust_of(h.inv)).is_none());
        // An exact reference to an open item of the payer (or of an unknown payer) that the
        // reference pass did not apply: no other item of the customer is applied instead.
        let own_open_ref = !shared && !foreign && hits.iter().any(|h| self.open(h.inv) != 0);
        if !hits.is_empty() && !shared {
            match self.evaluate_hits(r, &hits, &ident, false, foreign) {
                // The reference pass did not apply it: only proposed now.
                HitsOutcome::Proposal(mut p) => {
                    p.eligible = false;
                    fallback.push(p)
                }
                HitsOutcome::Duplicate(_) if foreign => {}
                HitsOutcome::Duplicate(items) => {
                    if self.is_repayment(r, &items) {
                        self.flag_duplicate(r, &items);
                        return;
                    }
                }
                HitsOutcome::Nothing => {}
            }
        }
        let mut ident = ident;
        if shared {
            // A shared order/buyer reference identifies the customer.
            let mut cs: Vec<u32> = hits.iter().map(|h| self.cust_of(h.inv)).collect();
            cs.sort_unstable();
            cs.dedup();
            if cs.len() == 1 {
                ident.custs.push((
                    cs[0],
                    conf::IDENT_SHARED_REFERENCE,
                    Evidence::SharedReference { kind: hits[0].kind },
                ));
            }
        }
        let mut custs: Vec<u32> = Vec::new();
        for x in &ident.custs {
            if !custs.contains(&x.0) {
                custs.push(x.0);
            }
        }
        custs.truncate(8);
        let mut tol: Vec<Hit> = Vec::new();
        if !custs.is_empty() {
            tol = self.tolerant_hits(r, &custs, &[]);
            if tol.len() > 1 {
                // Several of the payer's invoices as close to what was typed: the one the
                // amount fits (equal, or less a deduction within policy), if only one does.
                let a = self.rem(r);
                let fits: Vec<Hit> = tol
                    .iter()
                    .filter(|h| {
                        let o = self.open(h.inv);
                        o == a || (o > a && self.deduction_kind(r, &[h.inv], o, a, false).is_some())
                    })
                    .cloned()
                    .collect();
                if fits.len() == 1 {
                    tol = fits;
                }
            }
            if !tol.is_empty() && !own_open_ref {
                // A settled invoice of the payer close to what was typed, of exactly this
                // amount: paid twice (the second time with a typo or a cut reference).
                let repaid: Vec<u32> = self
                    .near_items(r, &custs, &[], policy.max_edit_distance)
                    .into_iter()
                    .filter(|&i| self.open(i) == 0 && self.is_repayment(r, &[i]))
                    .collect();
                if !repaid.is_empty() {
                    self.flag_duplicate(r, &repaid);
                    return;
                }
            }
            if !tol.is_empty() {
                if let HitsOutcome::Proposal(mut p) =
                    self.evaluate_hits(r, &tol, &ident, true, false)
                {
                    if own_open_ref {
                        p.eligible = false;
                    }
                    if p.eligible && p.confidence >= policy.auto_threshold {
                        self.commit(r, p);
                        return;
                    }
                    fallback.push(p);
                }
            }
            if let Some(mut p) = self.by_customer(r, &ident, &custs) {
                if own_open_ref {
                    p.eligible = false;
                }
                if p.eligible && p.confidence >= policy.auto_threshold {
                    self.commit(r, p);
                    return;
                }
                fallback.push(p);
            }
        }
        if fallback.is_empty() {
            // Nothing of its own: the open items of its amount are proposed at the end.
            self.amount_only.push(r);
        }
        // The receipt is not applied alone: it may be one of several paying one invoice.
        let amount_fits = fallback.iter().any(Proposal::amount_equal);
        if !foreign && !shared {
            self.push_n1(r, &hits, &ident, Designation::Exact);
        }
        let tol_n1: Vec<Hit> = tol.iter().filter(|h| h.distance <= 1).cloned().collect();
        self.push_n1(r, &tol_n1, &ident, Designation::Tolerant);
        if hits.is_empty() && tol.is_empty() && !amount_fits {
            // No reference and no amount fits: any open item of a customer identified
            // strongly enough.
            for &(c, strength, _) in &ident.custs {
                if strength < policy.auto_threshold + conf::SEVERAL_OPEN_MARGIN {
                    continue;
                }
                let items: Vec<u32> = self
                    .sh
                    .ledger
                    .items_of(c)
                    .iter()
                    .copied()
                    .filter(|&i| {
                        self.open(i) > 0
                            && self.currency_ok(r, i)
                            && self.issued_by(r, i)
                            && self.sh.allowed(r, i)
                    })
                    .take(policy.max_combination_candidates)
                    .collect();
                for inv in items {
                    self.n1.push(N1Cand {
                        inv,
                        r,
                        kind: Designation::Open,
                        strength,
                    });
                }
            }
        }
        fallback.sort_by_key(|p| std::cmp::Reverse(p.confidence));
        let mut it = fallback.into_iter();
        if let Some(mut best) = it.next() {
            // The best of several strategies, when below the threshold, is only proposed.
            best.eligible = best.eligible && best.confidence >= policy.auto_threshold;
            best.alternatives.extend(it.map(|mut p| {
                p.alternatives.clear();
                p
            }));
            best.alternatives.truncate(4);
            self.commit(r, best);
        }
    }

    /// Amount and combinations among the identified customers' open items.
    pub(in super::super) fn by_customer(
        &self,
        r: usize,
        ident: &Ident,
        custs: &[u32],
    ) -> Option<Proposal> {
        let a = self.rem(r);
        let policy = self.policy();
        let mut pool: Vec<u32> = Vec::new();
        for &c in custs {
            for &i in self.sh.ledger.items_of(c) {
                if self.open(i) != 0
                    && self.currency_ok(r, i)
                    && self.issued_by(r, i)
                    && self.sh.allowed(r, i)
                {
                    pool.push(i);
                }
            }
        }
        if pool.is_empty() {
            return None;
        }
        self.sort_1342(&mut pool);
        let strength = |i: u32| ident.strength(self.cust_of(i)).unwrap_or(0);
        let mk = |lines: Vec<Line>,
                  rule: Rule,
                  confidence: u16,
                  eligible: bool,
                  basis: Basis,
                  extra: Vec<Evidence>| {
            let mut cs: Vec<u32> = lines.iter().map(|l| self.cust_of(l.inv)).collect();
            cs.sort_unstable();
            cs.dedup();
            let mut evidence = self.payer_evidence(ident, &cs);
            evidence.extend(extra);
            Proposal {
                lines,
                rule,
                confidence,
                eligible,
                why: Reasoning {
                    received: dec(a),
                    basis,
                    evidence,
                    foreign: false,
                },
                surplus: 0,
                alternatives: Vec::new(),
            }
        };
        let one = |i: u32| {
            vec![Line {
                inv: i,
                cents: a,
                deduction: None,
            }]
        };
        // A name shared by two or three customers (and nothing else identifying any of
        // them): an amount that only one of them has open items of tells which one paid.
        let homonyms_only = |c: u32| {
            custs.len() <= 3
                && ident.homonyms.contains(&c)
                && ident.custs.iter().all(|x| ident.homonyms.contains(&x.0))
        };
        // Single items of exactly the amount.
        let singles: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|&i| self.open(i) == a)
            .collect();
        if singles.len() == 1 {
            let i = singles[0];
            let confidence = if homonyms_only(self.cust_of(i)) {
                strength(i).saturating_add(conf::HOMONYM_AMOUNT_BONUS)
            } else {
                strength(i)
            };
            return Some(mk(
                one(i),
                Rule::CustomerAmount,
                confidence,
                true,
                Basis::OnlyItemOfAmount,
                vec![Evidence::AmountEqual],
            ));
        }
        if singles.len() > 1 {
            // Subscriptions, rents, instalments without reference: the payment designates
            // none of the customer's items of that amount, so Code civil art. 1342-10 says
            // which one it settles (the first due, oldest). The identification is the only
            // thing left to chance.
            let i = singles[0];
            // Items of several customers (two identified): which customer paid is open.
            let one_customer = singles.iter().all(|&j| self.cust_of(j) == self.cust_of(i));
            // A payer known only by a name homonyms share gets no bonus here: the amount
            // says which homonym, not which of its months, and another of its receipts left
            // to a person may have paid the oldest.
            let mut p = mk(
                one(i),
                Rule::Imputation,
                strength(i).saturating_sub(conf::CUSTOMER_EQUAL_ITEMS_DROP),
                one_customer,
                Basis::OldestOfEqualItems {
                    items: count(singles.len()),
                },
                vec![Evidence::AmountEqual, Evidence::Imputation],
            );
            for &j in singles.iter().skip(1).take(3) {
                p.alternatives.push(mk(
                    one(j),
                    Rule::CustomerAmount,
                    conf::CUSTOMER_SAME_AMOUNT_ALTERNATIVE,
                    false,
                    Basis::SameAmount,
                    vec![],
                ));
            }
            return Some(p);
        }
        // A down payment is no settlement of several items; an amount some item of the
        // customer had and was already paid is perhaps a second payment of it: neither is
        // read as a combination or a deduction without a person.
        let partial_text = self.text(r).partial;
        let repaid_item = custs.iter().any(|&c| {
            self.sh
                .ledger
                .items_of(c)
                .iter()
                .any(|&i| self.open(i) == 0 && self.received(i) == a)
        });
        // One item whose payment schedule has an instalment of exactly the amount.
        let by_instalment: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|&i| {
                self.open(i) > a && self.inv(i).instalments.iter().any(|x| cents(x.amount) == a)
            })
            .collect();
        if by_instalment.len() == 1 {
            let i = by_instalment[0];
            return Some(mk(
                one(i),
                Rule::CustomerAmount,
                strength(i).saturating_sub(conf::CUSTOMER_INSTALMENT_DROP),
                true,
                Basis::InstalmentOfSchedule,
                vec![Evidence::AmountEqual],
            ));
        }
        // Combinations (with credit notes).
        let cand: Vec<u32> = pool
            .iter()
            .copied()
            .take(policy.max_combination_candidates)
            .collect();
        let vals: Vec<i64> = cand.iter().map(|&i| self.open(i)).collect();
        let limits = Limits {
            max_items: policy.max_combination_items,
            max_solutions: 2,
            max_nodes: policy.max_combination_nodes,
        };
        // Combinations of amounts: items of equal amount are interchangeable, the first due
        // of them taken (art. 1342-10), so that two months of a subscription paid at once
        // are the two oldest.
        let s = subset::find_distinct(&vals, a, limits);
        let to_lines = |sol: &[usize]| -> Vec<Line> {
            sol.iter()
                .map(|&k| Line {
                    inv: cand[k],
                    cents: vals[k],
                    deduction: None,
                })
                .collect()
        };
        // A combination spanning several customers is no payment one makes, unless they
        // share a payer (a group); and a unique one among many items may be chance.
        let one_payer = |sol: &[usize]| {
            let mut cs: Vec<u32> = sol.iter().map(|&k| self.cust_of(cand[k])).collect();
            cs.sort_unstable();
            cs.dedup();
            cs.len() == 1
                || cs.iter().all(|&c| {
                    ident
                        .evidence(c)
                        .iter()
                        .any(|e| matches!(e, Evidence::PayerIban { .. } | Evidence::Mandate))
                })
        };
        if s.solutions.len() == 1
            && !s.exhausted
            && !partial_text
            && !repaid_item
            && one_payer(&s.solutions[0])
            && chance_combinations(cand.len(), s.solutions[0].len(), a) <= CHANCE_MAX
        {
            let lines = to_lines(&s.solutions[0]);
            let weakest = lines.iter().map(|l| strength(l.inv)).min().unwrap_or(0);
            let n = lines.len();
            return Some(mk(
                lines,
                Rule::CustomerCombination,
                weakest.saturating_sub(conf::CUSTOMER_COMBINATION_DROP),
                true,
                Basis::OnlyCombination { items: count(n) },
                vec![
                    Evidence::AmountEqual,
                    Evidence::UniqueCombination { items: n },
                ],
            ));
        }
        if s.solutions.len() > 1 || s.exhausted {
            let mut props: Vec<Proposal> = s
                .solutions
                .iter()
                .map(|sol| {
                    mk(
                        to_lines(sol),
                        Rule::CustomerCombination,
                        conf::CUSTOMER_AMBIGUOUS_COMBINATION,
                        false,
                        Basis::OneOfSeveralCombinations,
                        vec![Evidence::AmountEqual],
                    )
                })
                .collect();
            if !props.is_empty() {
                let mut first = props.remove(0);
                first.alternatives = props;
                return Some(first);
            }
        }
        // A single item less a deduction.
        let mut deducted = Vec::new();
        for &i in &pool {
            let o = self.open(i);
            if o > a {
                if let Some(d) = self.deduction_kind(r, &[i], o, a, true) {
                    deducted.push((i, d));
                }
            }
        }
        if deducted.len() == 1 {
            let (i, d) = deducted.remove(0);
            let o = self.open(i);
            // Bank fees without a reference are indistinguishable from a partial payment:
            // proposed only. Discount and rounding are precise enough to apply.
            let eligible = d.kind != DeductionKind::BankFees && !repaid_item;
            let confidence = strength(i)
                .saturating_sub(1000 - d.confidence)
                .saturating_sub(conf::DEDUCTION_NO_REFERENCE_DROP);
            return Some(mk(
                vec![Line {
                    inv: i,
                    cents: a,
                    deduction: Some((d.kind, o - a)),
                }],
                Rule::CustomerAmount,
                if eligible {
                    confidence
                } else {
                    confidence.min(conf::DEDUCTION_FEES_NO_REFERENCE_MAX)
                },
                eligible,
                Basis::Deduction(Box::new(Deducted {
                    short: dec(o - a),
                    kind: d.kind,
                    rate: d.rate.unwrap_or_default(),
                    abroad: d.abroad,
                    platform: d.platform,
                })),
                vec![],
            ));
        }
        // Imputation by 1342-10 over the customer's items.
        let total: i64 = pool.iter().map(|&i| self.open(i).max(0)).sum();
        if a < total {
            let lines = self.impute(&pool, a);
            return Some(mk(
                lines,
                Rule::Imputation,
                if policy.fifo_auto {
                    conf::IMPUTATION_FIFO_AUTO
                } else {
                    conf::CUSTOMER_IMPUTATION_PROPOSED
                },
                policy.fifo_auto,
                Basis::ImputedWithoutMatch,
                vec![Evidence::Imputation],
            ));
        }
        // More than everything open: never spread automatically.
        let lines = self.impute(&pool, a);
        let mut p = mk(
            lines,
            Rule::Imputation,
            conf::CUSTOMER_OVERPAYMENT,
            false,
            Basis::OverpaidCustomer { open: dec(total) },
            vec![],
        );
        p.surplus = a - total;
        Some(p)
    }
}
