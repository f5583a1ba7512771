//! Exact references: which invoices a receipt's text names ([`collect_hits`]), what its
//! amount says of them ([`Run::evaluate_hits`]: equal, a combination, a deduction, a
//! surplus, a partial payment), and the reference pass that weighs those readings against
//! the payer's neighbouring invoices (a mistyped digit lands on a neighbour).

use super::super::confidence as conf;
use super::super::engine::{RefStep, Run, Shared, Stage};
use super::super::explain::{Basis, Deducted, Designation};
use super::super::index::{cents, Ns};
use super::super::normalise;
use super::super::subset::{self, Limits};
use super::super::{DeductionKind, Evidence, RefKind, Rule};
use super::{
    chance_combinations, count, currency_ok, dec, kind_rank, receipt_text, Hit, HitsOutcome, Ident,
    Line, N1Cand, Proposal, Reasoning, CHANCE_MAX,
};
use std::collections::HashMap;

/// The text with a learnt numbering prefix separated from letters glued before it
/// (`"FACTVT2026000042"` → `"FACT VT2026000042"`), so the number is found whole.
fn unglue(text: &str, prefixes: &[String]) -> String {
    if prefixes.is_empty() {
        return text.to_owned();
    }
    let toks = normalise::tokens(text);
    let mut changed = false;
    let mut out: Vec<String> = Vec::with_capacity(toks.len() + 2);
    for (i, t) in toks.iter().enumerate() {
        let next_digit = toks
            .get(i + 1)
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        let glued = if next_digit {
            prefixes
                .iter()
                .find(|p| t.len() > p.len() && t.ends_with(p.as_str()))
        } else {
            None
        };
        match glued {
            Some(p) if t.bytes().all(|b| b.is_ascii_alphabetic()) => {
                out.push(t[..t.len() - p.len()].to_owned());
                out.push(p.clone());
                changed = true;
            }
            _ => out.push(t.clone()),
        }
    }
    if !changed {
        return text.to_owned();
    }
    // Keep letters and digits of a number together again ("VT" "2026" stay adjacent tokens).
    out.join(" ")
}

/// Exact references found in receipt `r`: RF creditor references (check digits verified),
/// invoice numbers, order and buyer references, after normalisation. Pairs a person
/// rejected are left out.
pub(in super::super) fn collect_hits(sh: &Shared<'_>, r: usize) -> Vec<Hit> {
    let rec = sh.receipts[r];
    let ledger = &sh.ledger;
    let mut text = receipt_text(rec);
    let unglued = unglue(&text, &ledger.prefixes);
    if unglued != text {
        text.push(' ');
        text.push_str(&unglued);
    }
    let mut raw: Vec<(u32, Ns, String)> = Vec::new();
    let mut buf = Vec::new();
    for rf in normalise::rf_references(&text) {
        buf.clear();
        ledger.lookup(Ns::Creditor, &rf, &mut buf);
        if buf.is_empty() {
            // The RF payload may be the invoice number itself.
            for k in normalise::reference_keys(&rf[4..]) {
                ledger.lookup(Ns::Number, &k, &mut buf);
            }
        }
        raw.extend(buf.drain(..).map(|(i, _)| (i, Ns::Creditor, rf.clone())));
    }
    normalise::for_each_text_key(&text, |k| {
        buf.clear();
        ledger.lookup_any(&[Ns::Number, Ns::Order, Ns::Buyer], k, &mut buf);
        for (i, n) in buf.drain(..) {
            if !raw
                .iter()
                .any(|(ri, rn, rk)| *ri == i && *rn == n && rk == k)
            {
                raw.push((i, n, k.to_owned()));
            }
        }
    });
    // A hit found only through a digits-only key is dropped when some hit has letters in
    // its key ("VT2026.43" beats "2026.43", which also fits the credit note AV2026_43).
    let has_letter_key = raw
        .iter()
        .any(|(_, n, k)| *n == Ns::Number && k.bytes().any(|b| b.is_ascii_alphabetic()));
    let mut best: HashMap<u32, (Hit, usize)> = HashMap::new();
    for (i, n, k) in raw {
        if !currency_ok(sh, r, i) || !sh.allowed(r, i) {
            continue;
        }
        let digits_only = !k.bytes().any(|b| b.is_ascii_alphabetic());
        let kind = match n {
            Ns::Number => RefKind::InvoiceNumber,
            Ns::Creditor => RefKind::CreditorReference,
            Ns::Order => RefKind::OrderReference,
            Ns::Buyer => RefKind::BuyerReference,
        };
        let strong = !(n == Ns::Number && digits_only && has_letter_key);
        let h = Hit {
            inv: i,
            kind,
            found: None,
            distance: if strong { 0 } else { 1 },
        };
        let len = k.len();
        match best.get(&i) {
            Some((b, blen))
                if (b.distance, kind_rank(b.kind), std::cmp::Reverse(*blen))
                    <= (h.distance, kind_rank(h.kind), std::cmp::Reverse(len)) => {}
            _ => {
                best.insert(i, (h, len));
            }
        }
    }
    let mut hits: Vec<Hit> = best.into_values().map(|x| x.0).collect();
    if hits.iter().any(|h| h.distance == 0) {
        hits.retain(|h| h.distance == 0);
    }
    for h in &mut hits {
        h.distance = 0;
    }
    hits.sort_by_key(|h| h.inv);
    hits
}

impl Run<'_, '_> {
    /// The exact references read in receipt `r`.
    pub(in super::super) fn hits(&self, r: usize) -> Vec<Hit> {
        self.reading(r).map(|x| x.hits()).unwrap_or_default()
    }

    /// The reference pass: exact references decide. In the first sweep only a reference
    /// whose amount is explained (equal, a combination, a deduction no neighbouring invoice
    /// of the payer explains as well) is applied; partial payments, overpayments and such
    /// deductions are deferred to the second sweep, which weighs them against the payer's
    /// neighbouring invoices still open (a mistyped digit lands on a neighbour).
    pub(in super::super) fn reference_pass(&mut self, r: usize, stage: Stage) -> RefStep {
        let strict = stage == Stage::First;
        let mut hits = if stage != Stage::Second {
            let h = self.hits(r);
            if h.is_empty() {
                return RefStep::Open;
            }
            if strict {
                self.hits_cache.insert(r);
            }
            h
        } else {
            if !self.hits_cache.contains(&r) {
                return RefStep::Open;
            }
            self.hits(r)
        };
        if hits.len() > self.policy().max_combination_candidates {
            // A reference shared by too many items (a public buyer's service code): it
            // identifies the customer, the customer pass decides.
            return RefStep::Open;
        }
        // The cheap identification (IBAN, mandate, SIREN) first: when it already designates
        // the referenced items' customer, what names say adds nothing to the decision.
        let fast = self.identify_with(r, false);
        let fast_own = hits
            .iter()
            .any(|h| fast.strength(self.cust_of(h.inv)).is_some());
        let ident = if fast_own { fast } else { self.identify(r) };
        let mut foreign = false;
        if !ident.custs.is_empty() {
            let own: Vec<Hit> = hits
                .iter()
                .filter(|h| ident.strength(self.cust_of(h.inv)).is_some())
                .cloned()
                .collect();
            if !own.is_empty() {
                hits = own;
            } else {
                // The reference designates another customer's invoice than the identified
                // payer's: the payer's own items at a small edit distance win (a mistyped
                // reference must not settle someone else's invoice).
                let custs: Vec<u32> = ident.custs.iter().map(|x| x.0).collect();
                let tol = self.tolerant_hits(r, &custs, &[]);
                if !tol.is_empty() {
                    return RefStep::Open;
                }
                foreign = true;
            }
        }
        let a = self.rem(r);
        let mut cs: Vec<u32> = hits.iter().map(|h| self.cust_of(h.inv)).collect();
        cs.sort_unstable();
        cs.dedup();
        let exclude: Vec<u32> = hits.iter().map(|h| h.inv).collect();
        let p = match self.evaluate_hits(r, &hits, &ident, false, foreign) {
            HitsOutcome::Duplicate(items) => {
                if foreign {
                    return RefStep::Open;
                }
                if self.is_repayment(r, &items) {
                    self.flag_duplicate(r, &items);
                    return RefStep::Settled;
                }
                if strict {
                    return RefStep::Deferred;
                }
                // A settled neighbour of exactly this amount: paid twice, the second time
                // with a typo in the reference.
                let repaid: Vec<u32> = self
                    .near_items(r, &cs, &exclude, 1)
                    .into_iter()
                    .filter(|&i| self.open(i) == 0 && self.is_repayment(r, &[i]))
                    .collect();
                if !repaid.is_empty() {
                    self.flag_duplicate(r, &repaid);
                    return RefStep::Settled;
                }
                // The referenced items are settled and the amount is not theirs: a mistyped
                // reference of a neighbouring invoice of the same customer whose open amount
                // it is.
                let near = self.near_items(r, &cs, &exclude, self.policy().max_edit_distance);
                let exact: Vec<u32> = near
                    .iter()
                    .copied()
                    .filter(|&i| self.open(i) == a)
                    .collect();
                if exact.len() == 1 && self.apply_neighbour(r, exact[0], &ident) {
                    return RefStep::Settled;
                }
                return RefStep::Open;
            }
            HitsOutcome::Nothing => return RefStep::Open,
            HitsOutcome::Proposal(p) => p,
        };
        let partial_or_over = p.surplus > 0
            || p.lines
                .iter()
                .any(|l| l.deduction.is_none() && l.cents > 0 && l.cents < self.open(l.inv));
        let deducted = p.lines.iter().any(|l| l.deduction.is_some());
        let confident = p.eligible && p.confidence >= self.policy().auto_threshold;
        if !partial_or_over && !deducted {
            // The amount is explained exactly (equal, a combination).
            if confident {
                return self.commit_step(r, p);
            }
            return RefStep::Open;
        }
        // The amount does not equal the referenced items: the payer's own open items one
        // edit away from what was typed may be what was meant (sequential numbers make such
        // typos land on a neighbour). The neighbours are looked for among the referenced
        // items' customer and the identified payer's (a homonym's invoice may have been
        // typed).
        let mut near_custs = cs.clone();
        for x in ident.custs.iter().take(4) {
            if !near_custs.contains(&x.0) {
                near_custs.push(x.0);
            }
        }
        let near2: Vec<(u32, u8)> = if foreign {
            Vec::new()
        } else {
            self.near_items_dist(
                r,
                &near_custs,
                &exclude,
                self.policy().max_edit_distance.max(1),
            )
        };
        let near: Vec<u32> = near2.iter().filter(|x| x.1 <= 1).map(|x| x.0).collect();
        let near_open: Vec<u32> = near.iter().copied().filter(|&i| self.open(i) > 0).collect();
        // Open exactly the amount: one edit away, or two for long numbers (a number cut
        // short at the field length, two digits mistyped).
        let mut near_exact: Vec<u32> = near_open
            .iter()
            .copied()
            .filter(|&i| self.open(i) == a)
            .collect();
        if near_exact.is_empty() {
            near_exact = near2
                .iter()
                .map(|x| x.0)
                .filter(|&i| self.open(i) == a)
                .collect();
        }
        let near_fit: Vec<u32> = near_open
            .iter()
            .copied()
            .filter(|&i| {
                let o = self.open(i);
                o > a
                    && (self.deduction_kind(r, &[i], o, a, false).is_some()
                        || self.inv(i).instalments.iter().any(|x| cents(x.amount) == a))
            })
            .collect();
        // A settled neighbour of exactly this amount: perhaps paid twice, the second time
        // with a typo in the reference.
        let repaid_neighbour = near
            .iter()
            .any(|&i| self.open(i) == 0 && self.original_amounts(i).contains(&a));
        if !partial_or_over {
            let kind = p.lines.iter().find_map(|l| l.deduction.map(|d| d.0));
            // A discount the text announces is the payer's own account of the amount.
            let announced = kind == Some(DeductionKind::Discount) && self.text(r).says_discount;
            // A deduction: applied unless a neighbour explains the amount as well.
            if announced || (near_exact.is_empty() && near_fit.is_empty() && !repaid_neighbour) {
                if confident {
                    return self.commit_step(r, p);
                }
                return RefStep::Open;
            }
            if strict {
                return RefStep::Deferred;
            }
            // A few cents of rounding on the invoice typed, or the exact amount of a
            // neighbour: what the payer's other receipts show of its typing decides.
            if kind == Some(DeductionKind::Rounding)
                && near_exact.len() == 1
                && near_fit.is_empty()
                && !repaid_neighbour
                && confident
                && cs.len() == 1
            {
                match stage {
                    Stage::First | Stage::Second => {
                        self.late.push(r);
                        return RefStep::Open;
                    }
                    Stage::Late => {
                        let (exact_refs, typo_prone) = self.habits(cs[0]);
                        let careful = exact_refs && !typo_prone;
                        if careful {
                            return self.commit_step(r, p);
                        }
                        if typo_prone && self.apply_neighbour(r, near_exact[0], &ident) {
                            return RefStep::Settled;
                        }
                        return RefStep::Open;
                    }
                }
            }
            if near_exact.len() == 1 && self.apply_neighbour(r, near_exact[0], &ident) {
                return RefStep::Settled;
            }
            self.push_n1(r, &hits, &ident, Designation::Exact);
            return RefStep::Open;
        }
        if strict {
            return RefStep::Deferred;
        }
        // One neighbour whose open amount is exactly the amount wins.
        if near_exact.len() == 1 && self.apply_neighbour(r, near_exact[0], &ident) {
            return RefStep::Settled;
        }
        let sum: i64 = p.lines.iter().map(|l| l.cents).sum();
        let overpaid = p.surplus > 0;
        // Paying more than twice what the referenced items have open is not an overpayment
        // one would make: a neighbour the amount fits less a deduction is what was meant.
        if overpaid
            && p.surplus > sum
            && near_exact.is_empty()
            && near_fit.len() == 1
            && self.apply_neighbour(r, near_fit[0], &ident)
        {
            return RefStep::Settled;
        }
        // An amount equal to one instalment of the referenced invoice's schedule is its own
        // evidence.
        let instalment = p.lines.len() == 1
            && !overpaid
            && self
                .inv(p.lines[0].inv)
                .instalments
                .iter()
                .any(|i| cents(i.amount) == a);
        // Words of a partial payment ("acompte", "solde", "échéance") contradict an
        // overpayment.
        let contradicted = overpaid && self.text(r).partial;
        // A partial or overpayment reading is applied only for a payer identified as the
        // invoice's customer.
        let payer_is_customer = cs.len() == 1 && ident.strength(cs[0]).is_some();
        if !(confident && payer_is_customer && !contradicted) {
            if !foreign {
                // Perhaps one of several receipts paying this invoice (N:1).
                self.push_n1(r, &hits, &ident, Designation::Exact);
            }
            return RefStep::Open;
        }
        if instalment {
            return self.commit_step(r, p);
        }
        // The payer may have meant a neighbour of the invoice it typed. Never applied: when
        // a neighbour fits the amount less a deduction, or a settled neighbour had exactly
        // this amount (paid twice, the second time with a typo); for an overpayment, when
        // the amount is a round figure (as down payments are) it could be a partial payment
        // of a neighbour, or when it is more than twice what is open (not an overpayment
        // one makes) and any neighbour is open.
        let could_be_partial_of_neighbour = near_open.iter().any(|&i| self.open(i) >= a);
        let hard_ambiguous = !near_fit.is_empty()
            || !near_exact.is_empty()
            || repaid_neighbour
            || (overpaid
                && ((a % 1000 == 0 && could_be_partial_of_neighbour)
                    || (p.surplus > sum && !near_open.is_empty())));
        if hard_ambiguous {
            self.push_n1(r, &hits, &ident, Designation::Exact);
            return RefStep::Open;
        }
        if near_open.is_empty() {
            return self.commit_step(r, p);
        }
        // Open neighbours the amount does not fit: whether the payer makes typos decides,
        // once its other receipts of the run were matched.
        match stage {
            Stage::First | Stage::Second => {
                self.late.push(r);
                self.push_n1(r, &hits, &ident, Designation::Exact);
                RefStep::Open
            }
            Stage::Late => {
                let (exact_refs, typo_prone) = self.habits(cs[0]);
                let careful = exact_refs && !typo_prone;
                // An overpayment of the very invoice typed is likelier than a typo and an
                // overpayment of a neighbour, unless the payer is seen to make typos; a
                // partial payment, only for a payer seen to type its references right, or
                // when no neighbour has as much open.
                let allow = if overpaid {
                    !typo_prone
                } else {
                    careful || (!typo_prone && !could_be_partial_of_neighbour)
                };
                if allow {
                    self.commit_step(r, p)
                } else {
                    RefStep::Open
                }
            }
        }
    }

    /// What the customer's receipts of this run showed before the late stage: (an
    /// automatic allocation by its exact invoice number, one by a mistyped reference); a
    /// customer with nothing decided yet showed neither.
    fn habits(&self, c: u32) -> (bool, bool) {
        match self.profile.get(&c) {
            Some(&(exact, typo)) => (exact, typo),
            None => (false, false),
        }
    }

    /// The foreign pass for receipt `r`, whose references all designate other customers'
    /// invoices than its identified payer's: applied when the amount is exactly what they
    /// have open and none of the payer's own invoices is close to what was typed (then the
    /// payer's own items were what was meant, and its unit decided); otherwise proposed, if
    /// nothing else was.
    pub(in super::super) fn foreign_reference(&mut self, r: usize) {
        let Some(reading) = self.reading(r) else {
            return;
        };
        let hits: Vec<Hit> = reading
            .foreign
            .iter()
            .map(|&(inv, kind)| Hit {
                inv,
                kind,
                found: None,
                distance: 0,
            })
            .collect();
        if hits.is_empty() || hits.len() > self.policy().max_combination_candidates {
            return;
        }
        let ident = self.identify(r);
        let custs: Vec<u32> = ident.custs.iter().map(|x| x.0).collect();
        if !custs.is_empty() && !self.tolerant_hits(r, &custs, &[]).is_empty() {
            return;
        }
        if let HitsOutcome::Proposal(mut p) = self.evaluate_hits(r, &hits, &ident, false, true) {
            let exact = p.surplus == 0
                && p.lines
                    .iter()
                    .all(|l| l.deduction.is_none() && (l.cents < 0 || l.cents >= self.open(l.inv)));
            if !(exact && p.eligible && p.confidence >= self.policy().auto_threshold) {
                if self.suggested(r) {
                    return;
                }
                p.eligible = false;
            }
            self.commit(r, p);
        }
    }

    /// Applies receipt `r` to invoice `i`, a neighbour of the invoice its reference names
    /// (one edit away, same customer), when the tolerant reading is confident. True when
    /// applied.
    pub(in super::super) fn apply_neighbour(&mut self, r: usize, i: u32, ident: &Ident) -> bool {
        if !self.sh.allowed(r, i) {
            return false;
        }
        let max = self.policy().max_edit_distance;
        let Some((d, w)) = self
            .near_of(r, self.cust_of(i))
            .into_iter()
            .find(|n| n.inv == i && n.distance <= if n.long { max } else { 1 })
            .map(|n| (n.distance, n.word))
        else {
            return false;
        };
        let h = Hit {
            inv: i,
            kind: RefKind::Tolerant,
            found: Some(w),
            distance: d,
        };
        if let HitsOutcome::Proposal(q) = self.evaluate_hits(r, &[h], ident, true, false) {
            if q.eligible && q.confidence >= self.policy().auto_threshold {
                return self.commit(r, q);
            }
        }
        false
    }

    /// Open or settled items of the customers `custs` (other than `exclude`) whose number is
    /// one edit (or transposition) away from a word of the receipt, or up to `max` edits for
    /// numbers of 8 characters or more.
    pub(in super::super) fn near_items(
        &self,
        r: usize,
        custs: &[u32],
        exclude: &[u32],
        max: u8,
    ) -> Vec<u32> {
        self.near_items_dist(r, custs, exclude, max)
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    }

    /// [`Self::near_items`] with the distance of each.
    pub(in super::super) fn near_items_dist(
        &self,
        r: usize,
        custs: &[u32],
        exclude: &[u32],
        max: u8,
    ) -> Vec<(u32, u8)> {
        let mut out: Vec<(u32, u8)> = Vec::new();
        for &c in custs {
            for n in self.near_of(r, c) {
                let i = n.inv;
                if exclude.contains(&i) || !self.currency_ok(r, i) || !self.sh.allowed(r, i) {
                    continue;
                }
                let m = if n.long { max } else { max.min(1) };
                if n.distance <= m {
                    out.push((i, n.distance));
                }
            }
        }
        out.sort_unstable();
        out.dedup_by_key(|x| x.0);
        out
    }

    /// The amounts a payment of invoice `i` would have: its total, what the source had
    /// open, and what was applied to it in this run.
    pub(in super::super) fn original_amounts(&self, i: u32) -> [i64; 3] {
        let inv = self.inv(i);
        [
            cents(inv.total_with_vat.abs()),
            cents(inv.amount_due.abs()),
            self.received(i),
        ]
    }

    /// Whether the amount is what the settled `items` were (or were paid): a second payment.
    pub(in super::super) fn is_repayment(&self, r: usize, items: &[u32]) -> bool {
        let a = self.rem(r);
        let total: i64 = items.iter().map(|&i| self.original_amounts(i)[0]).sum();
        a == total || items.iter().any(|&i| self.original_amounts(i).contains(&a))
    }

    pub(in super::super) fn flag_duplicate(&mut self, r: usize, items: &[u32]) {
        let rec = self.rec(r);
        self.flags.push(super::super::Flag::Duplicate {
            transaction: rec.id.clone(),
            invoices: items.iter().map(|&i| self.inv(i).id.clone()).collect(),
        });
    }

    /// Records the open items of `hits` as N:1 candidates of receipt `r`.
    pub(in super::super) fn push_n1(
        &mut self,
        r: usize,
        hits: &[Hit],
        ident: &Ident,
        kind: Designation,
    ) {
        for h in hits {
            if self.open(h.inv) > 0 {
                let strength = ident.strength(self.cust_of(h.inv)).unwrap_or(0);
                self.n1.push(N1Cand {
                    inv: h.inv,
                    r,
                    kind,
                    strength,
                });
            }
        }
    }

    /// Evaluates a set of referenced items against the received amount.
    pub(in super::super) fn evaluate_hits(
        &self,
        r: usize,
        hits: &[Hit],
        ident: &Ident,
        tolerant: bool,
        foreign: bool,
    ) -> HitsOutcome {
        let a = self.rem(r);
        let policy = self.policy();
        let open_hits: Vec<&Hit> = hits.iter().filter(|h| self.open(h.inv) != 0).collect();
        if open_hits.is_empty() {
            return if tolerant {
                HitsOutcome::Nothing
            } else {
                HitsOutcome::Duplicate(hits.iter().map(|h| h.inv).collect())
            };
        }
        let base: u16 = match (tolerant, foreign) {
            (_, true) => conf::REF_FOREIGN,
            (true, _) => {
                if open_hits.iter().all(|h| h.kind == RefKind::Sequence) {
                    // A sequence number of three digits or more within the payer's items is
                    // nearly as specific as the whole number.
                    if open_hits.iter().all(|h| h.found_len() >= 3) {
                        conf::TOLERANT_SEQUENCE_LONG
                    } else {
                        conf::TOLERANT_SEQUENCE_SHORT
                    }
                } else {
                    conf::TOLERANT_EDIT
                }
            }
            (false, false) => {
                if open_hits
                    .iter()
                    .all(|h| matches!(h.kind, RefKind::OrderReference | RefKind::BuyerReference))
                {
                    conf::REF_ORDER_OR_BUYER
                } else {
                    conf::REF_EXACT
                }
            }
        };
        let rule = if tolerant {
            Rule::TolerantReference
        } else {
            Rule::Reference
        };
        let mut ev: Vec<Evidence> = open_hits
            .iter()
            .map(|h| Evidence::Reference {
                kind: h.kind,
                distance: h.distance,
                typed: h.found.as_deref().map(str::to_owned),
            })
            .collect();
        let mut hit_custs: Vec<u32> = open_hits.iter().map(|h| self.cust_of(h.inv)).collect();
        hit_custs.sort_unstable();
        hit_custs.dedup();
        ev.extend(self.payer_evidence(ident, &hit_custs));
        let make = |lines: Vec<Line>,
                    conf: u16,
                    eligible: bool,
                    surplus: i64,
                    basis: Basis,
                    extra: &[Evidence]| {
            let mut evidence = ev.clone();
            evidence.extend_from_slice(extra);
            Proposal {
                lines,
                rule,
                confidence: conf,
                eligible,
                why: Reasoning {
                    received: dec(a),
                    basis,
                    evidence,
                    foreign,
                },
                surplus,
                alternatives: Vec::new(),
            }
        };
        let items: Vec<i64> = open_hits.iter().map(|h| self.open(h.inv)).collect();
        let sum: i64 = items.iter().sum();
        let full = |idx: &[usize]| -> Vec<Line> {
            idx.iter()
                .map(|&k| Line {
                    inv: open_hits[k].inv,
                    cents: items[k],
                    deduction: None,
                })
                .collect()
        };
        let all: Vec<usize> = (0..open_hits.len()).collect();
        // 1. The amount equals the referenced items (on a mistyped reference, not when the
        //    text calls it a down payment: then the amount equal to that invoice is chance).
        if sum == a {
            let down =
                tolerant && open_hits.iter().any(|h| h.distance > 0) && self.text(r).down_payment;
            let basis = if open_hits.len() > 1 {
                Basis::SumOfDesignated {
                    items: count(open_hits.len()),
                }
            } else {
                Basis::Equal
            };
            return HitsOutcome::Proposal(make(
                full(&all),
                base,
                !down,
                0,
                basis,
                &[Evidence::AmountEqual],
            ));
        }
        let limits = Limits {
            max_items: policy.max_combination_items,
            max_solutions: 2,
            max_nodes: policy.max_combination_nodes,
        };
        // 2. A unique subset of the referenced items (a reference shared or listed in
        //    excess).
        if open_hits.len() > 1 {
            let s = subset::find(&items, a, &[], limits);
            if s.solutions.len() == 1
                && !s.exhausted
                && chance_combinations(items.len(), s.solutions[0].len(), a) <= CHANCE_MAX
            {
                return HitsOutcome::Proposal(make(
                    full(&s.solutions[0]),
                    base.saturating_sub(conf::REF_SUBSET_DROP),
                    !foreign,
                    0,
                    Basis::SubsetOfDesignated {
                        items: count(s.solutions[0].len()),
                    },
                    &[Evidence::AmountEqual],
                ));
            }
        }
        // A tolerant reference designating one open item of the identified payer, one edit
        // away or by a sequence number of three digits or more, no other open item of the
        // payer fitting the amount: it may carry an imperfect amount too.
        let single_tolerant = || {
            tolerant
                && open_hits.len() == 1
                && hit_custs.len() == 1
                && ident
                    .strength(hit_custs[0])
                    .is_some_and(|s| s >= policy.auto_threshold)
                && (open_hits[0].distance <= 1
                    || (open_hits[0].kind == RefKind::Sequence && open_hits[0].found_len() >= 3))
                && !self.other_item_fits(r, hit_custs[0], open_hits[0].inv)
        };
        // A partial payment of the one referenced item.
        let partial_one = || {
            let inv = self.inv(open_hits[0].inv);
            let instalment = inv.instalments.iter().any(|i| cents(i.amount) == a);
            // On a tolerant reference, an amount equal to one instalment of the schedule is
            // the confirmation; otherwise only a clear sequence number with no neighbouring
            // sequence of the payer's open items it could be a partial payment of.
            let clear_sequence = || {
                open_hits[0].kind == RefKind::Sequence
                    && !self.sequence_neighbour_open(
                        r,
                        hit_custs[0],
                        open_hits[0].inv,
                        open_hits[0].found.as_deref().unwrap_or(""),
                    )
            };
            let tolerant_ok = single_tolerant() && (instalment || clear_sequence());
            let eligible =
                policy.auto_partial_with_reference && !foreign && (!tolerant || tolerant_ok);
            let confidence = if instalment {
                base.saturating_sub(conf::REF_INSTALMENT_DROP)
            } else if tolerant {
                conf::TOLERANT_PARTIAL
            } else {
                base.saturating_sub(conf::REF_PARTIAL_DROP)
            };
            HitsOutcome::Proposal(make(
                vec![Line {
                    inv: open_hits[0].inv,
                    cents: a,
                    deduction: None,
                }],
                confidence,
                eligible,
                0,
                Basis::Partial {
                    open: dec(items[0]),
                    instalment,
                },
                &[],
            ))
        };
        // An amount equal to one instalment of the one referenced invoice's schedule is a
        // partial payment, whatever else could add up to it.
        if open_hits.len() == 1
            && a > 0
            && a < items[0]
            && self
                .inv(open_hits[0].inv)
                .instalments
                .iter()
                .any(|i| cents(i.amount) == a)
        {
            return partial_one();
        }
        // 3. The referenced items with other open items of the same customer (1:N with some
        //    references missing, or credit notes netted).
        if hit_custs.len() == 1 && !foreign {
            let c = hit_custs[0];
            let mut pool: Vec<u32> = open_hits.iter().map(|h| h.inv).collect();
            for &i in self.sh.ledger.items_of(c) {
                if pool.len() >= policy.max_combination_candidates {
                    break;
                }
                if self.open(i) != 0
                    && !pool.contains(&i)
                    && self.currency_ok(r, i)
                    && self.issued_by(r, i)
                    && self.sh.allowed(r, i)
                {
                    pool.push(i);
                }
            }
            if pool.len() > open_hits.len() {
                let vals: Vec<i64> = pool.iter().map(|&i| self.open(i)).collect();
                let forced: Vec<usize> = (0..open_hits.len()).collect();
                // At most two items beyond the referenced ones: among many open items, some
                // combination of several would match any amount by chance (an overpayment
                // must not be spread over unrelated invoices).
                let s = subset::find(
                    &vals,
                    a,
                    &forced,
                    Limits {
                        max_items: policy.max_combination_items.min(forced.len() + 2),
                        ..limits
                    },
                );
                // Credit notes netted are the common case and there are few of them: the
                // chance is counted among the items of the kind added.
                let extras: Vec<usize> = s
                    .solutions
                    .first()
                    .map(|sol| sol.iter().copied().filter(|&k| k >= forced.len()).collect())
                    .unwrap_or_default();
                let only_credit_notes = extras.iter().all(|&k| vals[k] < 0);
                let among = if only_credit_notes {
                    vals[forced.len()..].iter().filter(|&&v| v < 0).count()
                } else {
                    pool.len() - forced.len()
                };
                if s.solutions.len() == 1
                    && !s.exhausted
                    && chance_combinations(among, extras.len(), a) <= CHANCE_MAX
                {
                    let sol = &s.solutions[0];
                    let lines: Vec<Line> = sol
                        .iter()
                        .map(|&k| Line {
                            inv: pool[k],
                            cents: vals[k],
                            deduction: None,
                        })
                        .collect();
                    let credit_notes = sol.iter().filter(|&&k| vals[k] < 0).count();
                    return HitsOutcome::Proposal(make(
                        lines,
                        base.saturating_sub(conf::REF_WITH_OTHERS_DROP),
                        true,
                        0,
                        Basis::DesignatedAndOthers {
                            others: count(sol.len() - forced.len()),
                            credit_notes: count(credit_notes),
                        },
                        &[
                            Evidence::AmountEqual,
                            Evidence::UniqueCombination { items: sol.len() },
                        ],
                    ));
                }
            }
        }
        let positive: Vec<usize> = all.iter().copied().filter(|&k| items[k] > 0).collect();
        let pos_sum: i64 = positive.iter().map(|&k| items[k]).sum();
        // 4. Deductions within policy: discount, rounding, bank fees.
        if a < sum && a > 0 && !positive.is_empty() {
            let short = sum - a;
            let hit_items: Vec<u32> = open_hits.iter().map(|h| h.inv).collect();
            if let Some(dk) = self.deduction_kind(r, &hit_items, sum, a, false) {
                let big = *positive
                    .iter()
                    .max_by(|&&x, &&y| items[x].cmp(&items[y]).then(y.cmp(&x)))
                    .unwrap_or(&0);
                let mut lines = full(&all);
                if let Some(l) = lines.get_mut(big) {
                    if l.cents > short {
                        l.cents -= short;
                        l.deduction = Some((dk.kind, short));
                        // A deduction on top of a tolerant reference is applied only when
                        // the reference designates one invoice of the identified payer, one
                        // edit away or by its sequence number, and no other open item of
                        // the payer fits the amount; on top of a foreign reference, never.
                        return HitsOutcome::Proposal(make(
                            lines,
                            base.saturating_sub(1000 - dk.confidence),
                            !foreign && (!tolerant || single_tolerant()),
                            0,
                            Basis::Deduction(Box::new(Deducted {
                                short: dec(short),
                                kind: dk.kind,
                                rate: dk.rate.unwrap_or_default(),
                                abroad: dk.abroad,
                                platform: dk.platform,
                            })),
                            &[],
                        ));
                    }
                }
            }
        }
        // 5. More than the referenced items: settle them, leave the surplus unapplied.
        if a > sum && sum > 0 {
            // On a tolerant reference, not when more than twice what is open was paid (that
            // is no overpayment one makes: the reference is more likely wrong).
            return HitsOutcome::Proposal(make(
                full(&all),
                base.saturating_sub(conf::REF_OVERPAYMENT_DROP),
                !foreign && (!tolerant || (a - sum <= sum && single_tolerant())),
                a - sum,
                Basis::Surplus { open: dec(sum) },
                &[],
            ));
        }
        // 6. Less: a partial payment of one item, or imputation over several.
        if a < pos_sum && a > 0 {
            if positive.len() == 1 && open_hits.len() == 1 {
                return partial_one();
            }
            let order: Vec<u32> = {
                let mut v: Vec<u32> = positive.iter().map(|&k| open_hits[k].inv).collect();
                self.sort_1342(&mut v);
                v
            };
            let lines = self.impute(&order, a);
            let mut p = make(
                lines,
                if policy.fifo_auto {
                    conf::IMPUTATION_FIFO_AUTO
                } else {
                    conf::IMPUTATION_REFERENCED_PROPOSED
                },
                policy.fifo_auto && !tolerant && !foreign,
                0,
                Basis::ImputedOverDesignated {
                    items: count(positive.len()),
                },
                &[Evidence::Imputation],
            );
            p.rule = Rule::Imputation;
            return HitsOutcome::Proposal(p);
        }
        HitsOutcome::Nothing
    }
}
