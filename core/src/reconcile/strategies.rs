//! The strategies: reference hits, payer identification, tolerant references within the
//! payer's items, amount and combination within a customer, 1342-10 imputation, amount-only
//! suggestions. Each returns a [`Proposal`] with evidence, a confidence and a reason.

use super::engine::{Ident, Line, Proposal, State, SHARED_PAYER};
use super::index::{cents, from_cents, Ns};
use super::normalise;
use super::subset::{self, Limits};
use super::{DeductionKind, Evidence, RefKind, Rule};
use crate::model::Receipt;
use std::collections::HashMap;

/// A reference found in a receipt.
#[derive(Clone, Debug)]
pub(super) struct Hit {
    pub inv: u32,
    pub kind: RefKind,
    pub found: String,
    pub distance: u8,
}

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

/// All the text a payer could have put a reference in.
fn receipt_text(r: &Receipt) -> String {
    let mut t = r.remittance.clone();
    if let Some(s) = &r.structured_ref {
        t.push(' ');
        t.push_str(s);
    }
    if let Some(e) = &r.end_to_end_id {
        if !e.eq_ignore_ascii_case("NOTPROVIDED") {
            t.push(' ');
            t.push_str(e);
        }
    }
    t
}

fn kind_rank(k: RefKind) -> u8 {
    match k {
        RefKind::CreditorReference => 0,
        RefKind::InvoiceNumber => 1,
        RefKind::OrderReference => 2,
        RefKind::BuyerReference => 3,
        RefKind::Tolerant => 4,
        RefKind::Sequence => 5,
    }
}

fn fmt_amount(c: i64) -> String {
    from_cents(c).to_string()
}

impl State<'_> {
    fn cust_label(&self, c: u32) -> String {
        let id = &self.ledger.cust_ids[c as usize];
        let name = &self.ledger.cust_names[c as usize];
        if name == id.as_str() {
            id.to_string()
        } else {
            format!("{id} ({name})")
        }
    }

    fn inv_number(&self, i: u32) -> &str {
        &self.ledger.invoices[i as usize].number
    }

    /// Whether invoice `i` was issued by the receipt's booking date (with a week's slack for
    /// documents dated after they were sent): a payment without reference does not pay an
    /// invoice that did not exist yet.
    fn issued_by(&self, r: usize, i: u32) -> bool {
        self.ledger.invoices[i as usize].issue_date
            <= self.receipts[r].booking_date + chrono::Duration::days(7)
    }

    fn currency_ok(&self, r: usize, i: u32) -> bool {
        self.ledger.invoices[i as usize].currency == self.receipts[r].currency
    }

    /// Exact references found in the receipt: RF creditor references (check digits verified),
    /// invoice numbers, order and buyer references, after normalisation.
    pub(super) fn collect_hits(&self, r: usize) -> Vec<Hit> {
        let rec = self.receipts[r];
        let mut text = receipt_text(rec);
        let unglued = unglue(&text, &self.ledger.prefixes);
        if unglued != text {
            text.push(' ');
            text.push_str(&unglued);
        }
        let mut raw: Vec<(u32, Ns, String)> = Vec::new();
        let mut buf = Vec::new();
        for rf in normalise::rf_references(&text) {
            buf.clear();
            self.ledger.lookup(Ns::Creditor, &rf, &mut buf);
            if buf.is_empty() {
                // The RF payload may be the invoice number itself.
                for k in normalise::reference_keys(&rf[4..]) {
                    self.ledger.lookup(Ns::Number, &k, &mut buf);
                }
            }
            raw.extend(buf.drain(..).map(|(i, _)| (i, Ns::Creditor, rf.clone())));
        }
        normalise::for_each_text_key(&text, |k| {
            buf.clear();
            self.ledger
                .lookup_any(&[Ns::Number, Ns::Order, Ns::Buyer], k, &mut buf);
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
        let mut best: HashMap<u32, Hit> = HashMap::new();
        for (i, n, k) in raw {
            if !self.currency_ok(r, i) {
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
                found: k,
                distance: if strong { 0 } else { 1 },
            };
            match best.get(&i) {
                Some(b)
                    if (
                        b.distance,
                        kind_rank(b.kind),
                        std::cmp::Reverse(b.found.len()),
                    ) <= (
                        h.distance,
                        kind_rank(h.kind),
                        std::cmp::Reverse(h.found.len()),
                    ) => {}
                _ => {
                    best.insert(i, h);
                }
            }
        }
        let mut hits: Vec<Hit> = best.into_values().collect();
        if hits.iter().any(|h| h.distance == 0) {
            hits.retain(|h| h.distance == 0);
        }
        for h in &mut hits {
            h.distance = 0;
        }
        hits.sort_by_key(|h| h.inv);
        hits
    }

    /// Who the payer is: IBAN (ledger or learnt), mandate, SIREN/VAT in the text, name.
    pub(super) fn identify(&self, r: usize) -> Ident {
        self.identify_with(r, true)
    }

    /// [`Self::identify`], with or without the payer-name search (the costly part).
    pub(super) fn identify_with(&self, r: usize, names: bool) -> Ident {
        let rec = self.receipts[r];
        let mut custs: Vec<(u32, u16, super::Evidence)> = Vec::new();
        if let Some(ib) = rec.counterparty_iban.as_deref() {
            let k = normalise::iban(ib);
            if let Some(v) = self
                .ledger
                .by_iban
                .get(&k)
                .filter(|v| v.len() <= SHARED_PAYER)
            {
                for &c in v {
                    custs.push((c, 950, Evidence::PayerIban { iban: k.clone() }));
                }
            }
            if let Some(v) = self.learnt_iban.get(&k).filter(|v| v.len() <= SHARED_PAYER) {
                for &c in v {
                    custs.push((c, 940, Evidence::PayerIban { iban: k.clone() }));
                }
            }
        }
        if let Some(m) = rec.mandate_id.as_deref() {
            let k = normalise::compact(m);
            if let Some(v) = self
                .ledger
                .by_mandate
                .get(&k)
                .filter(|v| v.len() <= SHARED_PAYER)
            {
                for &c in v {
                    custs.push((c, 960, Evidence::Mandate { id: m.to_owned() }));
                }
            }
        }
        for s in normalise::siren_candidates(&rec.remittance) {
            if let Some(v) = self
                .ledger
                .by_siren
                .get(&s)
                .filter(|v| v.len() <= SHARED_PAYER)
            {
                for &c in v {
                    custs.push((c, 940, Evidence::Identifier { id: s.clone() }));
                }
            }
        }
        if let Some(n) = rec.counterparty_name.as_deref().filter(|_| names) {
            let toks = normalise::name_tokens(n);
            if let Some(v) = self
                .learnt_name
                .get(&toks.join(" "))
                .filter(|v| v.len() <= SHARED_PAYER)
            {
                for &c in v {
                    custs.push((
                        c,
                        930,
                        Evidence::PayerName {
                            name: n.to_owned(),
                            similarity: 1000,
                        },
                    ));
                }
            }
            // Candidates share two name tokens (pair index), or the one token of a one-word
            // name; a long posting (a very common pair) is not a lead.
            let mut cand: Vec<u32> = Vec::new();
            let m = toks.len().min(8);
            for i in 0..m {
                for j in i + 1..m {
                    let before = cand.len();
                    cand.extend(
                        self.ledger
                            .by_name_pair
                            .get(super::index::pair_hash(&toks[i], &toks[j]))
                            .take(31),
                    );
                    if cand.len() - before > 30 {
                        cand.truncate(before);
                    }
                }
            }
            for t in &toks {
                if let Some(v) = self.ledger.by_name_token.get(t) {
                    if v.len() <= 50 {
                        cand.extend(
                            v.iter()
                                .copied()
                                .filter(|&c| self.ledger.name_toks[c as usize].len() == 1),
                        );
                    }
                }
            }
            cand.sort_unstable();
            cand.dedup();
            let mut scored: Vec<(u16, u32)> = cand
                .into_iter()
                .map(|c| {
                    (
                        normalise::name_similarity(&toks, &self.ledger.name_toks[c as usize]),
                        c,
                    )
                })
                .filter(|(s, _)| *s >= self.policy.name_similarity_min)
                .collect();
            scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            if let Some(&(top, _)) = scored.first() {
                let close: Vec<(u16, u32)> =
                    scored.into_iter().filter(|(s, _)| *s + 50 >= top).collect();
                if close.len() <= 3 {
                    // Homonyms: the name alone no longer identifies one customer.
                    let penalty = if close.len() > 1 { 150 } else { 0 };
                    for (s, c) in close {
                        let base: u16 = if s >= 950 { 930 } else { 910 };
                        custs.push((
                            c,
                            base - penalty,
                            Evidence::PayerName {
                                name: n.to_owned(),
                                similarity: s,
                            },
                        ));
                    }
                }
            }
        }
        custs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ident { custs }
    }

    /// The reference pass: exact references decide. Returns true when the receipt is settled
    /// (applied or flagged as a duplicate) and needs no further pass.
    pub(super) fn reference_pass(&mut self, r: usize) -> bool {
        let mut hits = self.collect_hits(r);
        if hits.is_empty() {
            return false;
        }
        self.hits_cache.insert(r, hits.clone());
        if hits.len() > self.policy.max_combination_candidates {
            // A reference shared by too many items (a public buyer's service code): it
            // identifies the customer, the customer pass decides.
            return false;
        }
        // The cheap identification (IBAN, mandate, SIREN) first: when it already designates
        // the referenced items' customer, the name search adds nothing to the decision.
        let fast = self.identify_with(r, false);
        let fast_own = hits.iter().any(|h| {
            fast.strength(self.ledger.inv_cust[h.inv as usize])
                .is_some()
        });
        let ident = if fast_own { fast } else { self.identify(r) };
        let mut foreign = false;
        if !ident.custs.is_empty() {
            let own: Vec<Hit> = hits
                .iter()
                .filter(|h| {
                    ident
                        .strength(self.ledger.inv_cust[h.inv as usize])
                        .is_some()
                })
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
                    return false;
                }
                foreign = true;
            }
        }
        let p = match self.evaluate_hits(r, &hits, &ident, false, foreign) {
            HitsOutcome::Duplicate(items) => {
                if foreign {
                    return false;
                }
                let rec = self.receipts[r];
                self.flags.push(super::Flag::Duplicate {
                    transaction: rec.id.clone(),
                    invoices: items
                        .iter()
                        .map(|&i| self.ledger.invoices[i as usize].id.clone())
                        .collect(),
                });
                return true;
            }
            HitsOutcome::Nothing => return false,
            HitsOutcome::Proposal(p) => p,
        };
        let partial_or_over = p.surplus > 0
            || p.lines.iter().any(|l| {
                l.deduction.is_none() && l.cents > 0 && l.cents < self.open[l.inv as usize]
            });
        if !partial_or_over {
            // The amount is explained (equal, a combination, a deduction).
            if p.eligible && p.confidence >= self.policy.auto_threshold {
                return self.commit(r, p);
            }
            return false;
        }
        // The amount does not fit the referenced items: the payer's own open items one edit
        // away from what was typed may be what was meant (sequential numbers make such typos
        // land on a neighbour). One whose open amount is exactly the amount wins; any that
        // could be meant makes the partial or overpayment reading unsafe to apply.
        let a = self.rem[r];
        let mut cs: Vec<u32> = hits
            .iter()
            .map(|h| self.ledger.inv_cust[h.inv as usize])
            .collect();
        cs.sort_unstable();
        cs.dedup();
        let exclude: Vec<u32> = hits.iter().map(|h| h.inv).collect();
        let near: Vec<Hit> = if foreign {
            Vec::new()
        } else {
            self.tolerant_hits(r, &cs, &exclude)
                .into_iter()
                .filter(|h| h.kind == RefKind::Tolerant && h.distance <= 1)
                .collect()
        };
        let exact: Vec<&Hit> = near
            .iter()
            .filter(|h| self.open[h.inv as usize] == a)
            .collect();
        if exact.len() == 1 {
            let h = exact[0].clone();
            if let HitsOutcome::Proposal(q) = self.evaluate_hits(r, &[h], &ident, true, false) {
                if q.eligible && q.confidence >= self.policy.auto_threshold {
                    return self.commit(r, q);
                }
            }
        }
        // An amount equal to one instalment of the referenced invoice's schedule is its own
        // evidence.
        let instalment = p.lines.len() == 1
            && p.surplus == 0
            && self.ledger.invoices[p.lines[0].inv as usize]
                .instalments
                .iter()
                .any(|i| cents(i.amount) == a);
        let ambiguous_near = !instalment && near.iter().any(|h| self.open[h.inv as usize] >= a);
        // A partial or overpayment reading is applied only for a payer identified as the
        // invoice's customer, with no neighbour it could have meant.
        let payer_is_customer = cs.len() == 1 && ident.strength(cs[0]).is_some();
        if p.eligible
            && p.confidence >= self.policy.auto_threshold
            && !ambiguous_near
            && payer_is_customer
        {
            return self.commit(r, p);
        }
        if p.surplus == 0 && p.lines.len() == 1 && !foreign {
            // Perhaps one of several receipts paying this invoice (N:1).
            self.partials.push((p.lines[0].inv, r));
        }
        false
    }

    /// Several receipts referencing the same invoice, none applied alone, that together pay
    /// exactly its open amount (an invoice paid in instalments, N:1): applied together.
    pub(super) fn several_receipts_pass(&mut self) {
        let mut v = self.partials.clone();
        v.sort_unstable();
        v.dedup();
        v.retain(|&(_, r)| self.rem[r] > 0);
        let mut k = 0;
        while k < v.len() {
            let inv = v[k].0;
            let mut j = k;
            while j < v.len() && v[j].0 == inv {
                j += 1;
            }
            let rs: Vec<usize> = v[k..j].iter().map(|x| x.1).collect();
            k = j;
            let total: i64 = rs.iter().map(|&r| self.rem[r]).sum();
            if rs.len() < 2 || total != self.open[inv as usize] {
                continue;
            }
            let ids = rs
                .iter()
                .map(|&r| self.receipts[r].id.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            for &r in &rs {
                let a = self.rem[r];
                let ident = self.identify(r);
                let c = self.ledger.inv_cust[inv as usize];
                let mut evidence = vec![Evidence::Reference {
                    kind: RefKind::InvoiceNumber,
                    found: self.inv_number(inv).to_owned(),
                    distance: 0,
                }];
                evidence.extend(ident.evidence(c));
                let p = Proposal {
                    lines: vec![Line { inv, cents: a, deduction: None }],
                    rule: Rule::Reference,
                    confidence: 950,
                    eligible: true,
                    evidence,
                    reason: format!(
                        "reference to {} (exact or by its sequence number) in each of the receipts {ids}, which together pay its open amount {} (several receipts for one invoice); this one {}{}",
                        self.inv_number(inv),
                        fmt_amount(total),
                        fmt_amount(a),
                        self.payer_text(&ident, &[c])
                    ),
                    surplus: 0,
                    alternatives: Vec::new(),
                };
                self.commit(r, p);
            }
        }
    }

    /// The customer pass: tolerant references within the payer's items, then amount or a
    /// unique combination, then 1342-10 imputation; otherwise suggestions.
    pub(super) fn customer_pass(&mut self, r: usize) {
        let ident = self.identify(r);
        let hits = self.hits_cache.remove(&r).unwrap_or_default();
        let mut fallback: Vec<Proposal> = Vec::new();
        if !hits.is_empty() && hits.len() <= self.policy.max_combination_candidates {
            let foreign = !ident.custs.is_empty()
                && hits.iter().all(|h| {
                    ident
                        .strength(self.ledger.inv_cust[h.inv as usize])
                        .is_none()
                });
            match self.evaluate_hits(r, &hits, &ident, false, foreign) {
                // The reference pass did not apply it: only proposed now.
                HitsOutcome::Proposal(mut p) => {
                    p.eligible = false;
                    fallback.push(p)
                }
                HitsOutcome::Duplicate(_) if foreign => {}
                HitsOutcome::Duplicate(items) => {
                    let rec = self.receipts[r];
                    self.flags.push(super::Flag::Duplicate {
                        transaction: rec.id.clone(),
                        invoices: items
                            .iter()
                            .map(|&i| self.ledger.invoices[i as usize].id.clone())
                            .collect(),
                    });
                    return;
                }
                HitsOutcome::Nothing => {}
            }
        }
        let mut ident = ident;
        if hits.len() > self.policy.max_combination_candidates {
            // A shared order/buyer reference identifies the customer.
            let mut cs: Vec<u32> = hits
                .iter()
                .map(|h| self.ledger.inv_cust[h.inv as usize])
                .collect();
            cs.sort_unstable();
            cs.dedup();
            if cs.len() == 1 {
                ident.custs.push((
                    cs[0],
                    930,
                    Evidence::Reference {
                        kind: hits[0].kind,
                        found: hits[0].found.clone(),
                        distance: 0,
                    },
                ));
            }
        }
        let mut custs: Vec<u32> = ident.custs.iter().map(|x| x.0).collect();
        custs.dedup();
        {
            let mut seen = Vec::new();
            custs.retain(|c| {
                if seen.contains(c) {
                    false
                } else {
                    seen.push(*c);
                    true
                }
            });
        }
        custs.truncate(8);
        if !custs.is_empty() {
            let tol = self.tolerant_hits(r, &custs, &[]);
            if !tol.is_empty() {
                if let HitsOutcome::Proposal(p) = self.evaluate_hits(r, &tol, &ident, true, false) {
                    if p.eligible && p.confidence >= self.policy.auto_threshold {
                        self.commit(r, p);
                        return;
                    }
                    fallback.push(p);
                }
            }
            if let Some(p) = self.by_customer(r, &ident, &custs) {
                if p.eligible && p.confidence >= self.policy.auto_threshold {
                    self.commit(r, p);
                    return;
                }
                fallback.push(p);
            }
        }
        if fallback.is_empty() {
            if let Some(p) = self.amount_only(r) {
                fallback.push(p);
            }
        }
        fallback.sort_by_key(|p| std::cmp::Reverse(p.confidence));
        let mut it = fallback.into_iter();
        if let Some(mut best) = it.next() {
            // The best of several strategies, when below the threshold, is only proposed.
            best.eligible = best.eligible && best.confidence >= self.policy.auto_threshold;
            best.alternatives.extend(it.map(|mut p| {
                p.alternatives.clear();
                p
            }));
            best.alternatives.truncate(4);
            let single_partial = best.lines.len() == 1
                && best.surplus == 0
                && matches!(best.rule, Rule::Reference | Rule::TolerantReference)
                && best.lines[0].deduction.is_none()
                && best.lines[0].cents > 0
                && best.lines[0].cents < self.open[best.lines[0].inv as usize];
            let inv = best.lines.first().map(|l| l.inv);
            if !self.commit(r, best) && single_partial {
                if let Some(inv) = inv {
                    // Perhaps one of several receipts paying this invoice (N:1).
                    self.partials.push((inv, r));
                }
            }
        }
    }

    /// References close to the identified customers' own open invoices: bounded edit distance
    /// (with transpositions) on the compact number, or the trailing sequence number alone.
    pub(super) fn tolerant_hits(&self, r: usize, custs: &[u32], exclude: &[u32]) -> Vec<Hit> {
        let rec = self.receipts[r];
        let text = receipt_text(rec);
        let mut words: Vec<String> = Vec::new();
        let toks = normalise::tokens(&text);
        for i in 0..toks.len().min(64) {
            let mut c = String::new();
            for t in &toks[i..(i + 4).min(toks.len())] {
                c.push_str(t);
                if c.len() >= 4 && c.bytes().any(|b| b.is_ascii_digit()) {
                    words.push(c.clone());
                }
            }
        }
        words.sort_unstable();
        words.dedup();
        let nums = normalise::numbers(&text);
        let amount_text = fmt_amount(self.rem[r]);
        let mut out = Vec::new();
        for &c in custs {
            for &i in self.ledger.items_of(c) {
                if self.open[i as usize] == 0 || !self.currency_ok(r, i) || exclude.contains(&i) {
                    continue;
                }
                let number = normalise::compact(self.inv_number(i));
                let max = if number.len() >= 8 {
                    self.policy.max_edit_distance
                } else {
                    1
                };
                let mut best: Option<(u8, String)> = None;
                for w in &words {
                    if w.len().abs_diff(number.len()) > usize::from(max) {
                        continue;
                    }
                    if let Some(d) = normalise::edit_distance(w, &number, max) {
                        if best.as_ref().is_none_or(|b| d < b.0) {
                            best = Some((d, w.clone()));
                        }
                    }
                }
                if let Some((d, w)) = best {
                    out.push(Hit {
                        inv: i,
                        kind: RefKind::Tolerant,
                        found: w,
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
                            found: seq,
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

    /// Evaluates a set of referenced items against the received amount.
    fn evaluate_hits(
        &self,
        r: usize,
        hits: &[Hit],
        ident: &Ident,
        tolerant: bool,
        foreign: bool,
    ) -> HitsOutcome {
        let a = self.rem[r];
        let open_hits: Vec<&Hit> = hits
            .iter()
            .filter(|h| self.open[h.inv as usize] != 0)
            .collect();
        if open_hits.is_empty() {
            return if tolerant {
                HitsOutcome::Nothing
            } else {
                HitsOutcome::Duplicate(hits.iter().map(|h| h.inv).collect())
            };
        }
        let base: u16 = match (tolerant, foreign) {
            (_, true) => 920,
            (true, _) => {
                if open_hits.iter().all(|h| h.kind == RefKind::Sequence) {
                    930
                } else {
                    950
                }
            }
            (false, false) => {
                if open_hits
                    .iter()
                    .all(|h| matches!(h.kind, RefKind::OrderReference | RefKind::BuyerReference))
                {
                    970
                } else {
                    990
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
                found: h.found.clone(),
                distance: h.distance,
            })
            .collect();
        let mut hit_custs: Vec<u32> = open_hits
            .iter()
            .map(|h| self.ledger.inv_cust[h.inv as usize])
            .collect();
        hit_custs.sort_unstable();
        hit_custs.dedup();
        for &c in &hit_custs {
            ev.extend(ident.evidence(c));
        }
        let refs_text = open_hits
            .iter()
            .map(|h| {
                let n = self.inv_number(h.inv);
                let how = match h.kind {
                    RefKind::InvoiceNumber => "invoice number",
                    RefKind::CreditorReference => "RF creditor reference, check digits valid",
                    RefKind::OrderReference => "order reference BT-13",
                    RefKind::BuyerReference => "buyer reference BT-10",
                    RefKind::Tolerant => "close to the invoice number",
                    RefKind::Sequence => "sequence number",
                };
                if h.distance > 0 {
                    format!("{n} ({how}, \"{}\", {} edit(s))", h.found, h.distance)
                } else {
                    format!("{n} ({how}, \"{}\")", h.found)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let payer = self.payer_text(ident, &hit_custs);
        let what = if tolerant {
            "tolerant reference within the payer's open invoices"
        } else if foreign {
            "reference to an invoice of a customer other than the identified payer"
        } else {
            "reference"
        };
        let make = |lines: Vec<Line>, conf: u16, eligible: bool, surplus: i64, tail: String| {
            let mut evidence = ev.clone();
            if tail.contains("equal") {
                evidence.push(Evidence::AmountEqual);
            }
            Proposal {
                lines,
                rule,
                confidence: conf,
                eligible,
                evidence,
                reason: format!("{what}: {refs_text}; {tail}{payer}"),
                surplus,
                alternatives: Vec::new(),
            }
        };
        let items: Vec<i64> = open_hits
            .iter()
            .map(|h| self.open[h.inv as usize])
            .collect();
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
        // 1. The amount equals the referenced items.
        if sum == a {
            let tail = if open_hits.len() > 1 {
                format!(
                    "amount {} equal to the sum of {} items",
                    fmt_amount(a),
                    open_hits.len()
                )
            } else {
                format!("amount {} equal to the open amount", fmt_amount(a))
            };
            return HitsOutcome::Proposal(make(full(&all), base, true, 0, tail));
        }
        let limits = Limits {
            max_items: self.policy.max_combination_items,
            max_solutions: 2,
            max_nodes: self.policy.max_combination_nodes,
        };
        // 2. A unique subset of the referenced items (a reference shared or listed in excess).
        if open_hits.len() > 1 {
            let s = subset::find(&items, a, &[], limits);
            if s.solutions.len() == 1 && !s.exhausted {
                let tail = format!(
                    "amount {} equal to the only combination of {} referenced items",
                    fmt_amount(a),
                    s.solutions[0].len()
                );
                return HitsOutcome::Proposal(make(
                    full(&s.solutions[0]),
                    base.saturating_sub(20),
                    !foreign,
                    0,
                    tail,
                ));
            }
        }
        // 3. The referenced items with other open items of the same customer (1:N with some
        //    references missing, or credit notes netted).
        if hit_custs.len() == 1 && !foreign {
            let c = hit_custs[0];
            let mut pool: Vec<u32> = open_hits.iter().map(|h| h.inv).collect();
            for &i in self.ledger.items_of(c) {
                if pool.len() >= self.policy.max_combination_candidates {
                    break;
                }
                if self.open[i as usize] != 0 && !pool.contains(&i) && self.currency_ok(r, i) {
                    pool.push(i);
                }
            }
            if pool.len() > open_hits.len() {
                let vals: Vec<i64> = pool.iter().map(|&i| self.open[i as usize]).collect();
                let forced: Vec<usize> = (0..open_hits.len()).collect();
                let s = subset::find(&vals, a, &forced, limits);
                if s.solutions.len() == 1 && !s.exhausted {
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
                    let tail = format!(
                        "amount {} equal to the only combination of the referenced and {} other open item(s) of the customer{}",
                        fmt_amount(a),
                        sol.len() - forced.len(),
                        if credit_notes > 0 {
                            format!(", netting {credit_notes} credit note(s)")
                        } else {
                            String::new()
                        }
                    );
                    let mut p = make(lines, base.saturating_sub(40), true, 0, tail);
                    p.evidence
                        .push(Evidence::UniqueCombination { items: sol.len() });
                    return HitsOutcome::Proposal(p);
                }
            }
        }
        let positive: Vec<usize> = all.iter().copied().filter(|&k| items[k] > 0).collect();
        let pos_sum: i64 = positive.iter().map(|&k| items[k]).sum();
        // 4. Deductions within policy: discount, rounding, bank fees.
        if a < sum && a > 0 && !positive.is_empty() {
            let short = sum - a;
            if let Some((kind, conf, note)) = self.deduction_kind(sum, a, open_hits.len()) {
                let big = *positive
                    .iter()
                    .max_by(|&&x, &&y| items[x].cmp(&items[y]).then(y.cmp(&x)))
                    .unwrap_or(&0);
                let mut lines = full(&all);
                if let Some(l) = lines.get_mut(big) {
                    if l.cents > short {
                        l.cents -= short;
                        l.deduction = Some((kind, short));
                        let tail = format!(
                            "amount {} is the open {} less {} booked as {note}",
                            fmt_amount(a),
                            fmt_amount(sum),
                            fmt_amount(short)
                        );
                        // A deduction on top of a tolerant or foreign reference is two
                        // imperfections: proposed, not applied.
                        return HitsOutcome::Proposal(make(
                            lines,
                            base.saturating_sub(1000 - conf),
                            !foreign && !tolerant,
                            0,
                            tail,
                        ));
                    }
                }
            }
        }
        // 5. More than the referenced items: settle them, leave the surplus unapplied.
        if a > sum && sum > 0 {
            let tail = format!(
                "amount {} exceeds the open {}: surplus {} left unapplied",
                fmt_amount(a),
                fmt_amount(sum),
                fmt_amount(a - sum)
            );
            return HitsOutcome::Proposal(make(
                full(&all),
                base.saturating_sub(30),
                !foreign && !tolerant,
                a - sum,
                tail,
            ));
        }
        // 6. Less: a partial payment of one item, or imputation over several.
        if a < pos_sum && a > 0 {
            if positive.len() == 1 {
                let k = positive[0];
                let inv = self.ledger.invoices[open_hits[k].inv as usize];
                let instalment = inv.instalments.iter().any(|i| cents(i.amount) == a);
                let tail = format!(
                    "partial payment {} of the open {}{}, {} remains open",
                    fmt_amount(a),
                    fmt_amount(items[k]),
                    if instalment {
                        " (an instalment of its schedule)"
                    } else {
                        ""
                    },
                    fmt_amount(items[k] - a)
                );
                let eligible = self.policy.auto_partial_with_reference && !tolerant && !foreign;
                return HitsOutcome::Proposal(make(
                    vec![Line {
                        inv: open_hits[k].inv,
                        cents: a,
                        deduction: None,
                    }],
                    if instalment {
                        base.saturating_sub(40)
                    } else {
                        base.saturating_sub(70)
                    },
                    eligible,
                    0,
                    tail,
                ));
            }
            let order: Vec<u32> = {
                let mut v: Vec<u32> = positive.iter().map(|&k| open_hits[k].inv).collect();
                self.sort_1342(&mut v);
                v
            };
            let lines = self.impute(&order, a);
            let tail = format!(
                "amount {} less than the {} referenced items: imputed by Code civil art. 1342-10 (due first, oldest first)",
                fmt_amount(a),
                positive.len()
            );
            let mut p = make(
                lines,
                if self.policy.fifo_auto { 900 } else { 750 },
                self.policy.fifo_auto && !tolerant && !foreign,
                0,
                tail,
            );
            p.rule = Rule::Imputation;
            p.evidence.push(Evidence::Imputation);
            return HitsOutcome::Proposal(p);
        }
        HitsOutcome::Nothing
    }

    /// The deduction that explains `open − paid`, if within policy: (kind, per-mille, label).
    fn deduction_kind(
        &self,
        open: i64,
        paid: i64,
        n: usize,
    ) -> Option<(DeductionKind, u16, String)> {
        let short = open - paid;
        if short <= 0 {
            return None;
        }
        let tol = i64::try_from(n).unwrap_or(1).max(1);
        for rate in &self.policy.discount_rates {
            let expected = cents(from_cents(open) * (rust_decimal::Decimal::ONE - rate));
            if (expected - paid).abs() <= tol {
                return Some((
                    DeductionKind::Discount,
                    970,
                    format!(
                        "early-payment discount at {} %",
                        (rate * rust_decimal::Decimal::ONE_HUNDRED).normalize()
                    ),
                ));
            }
        }
        if short <= cents(self.policy.rounding_tolerance) {
            return Some((
                DeductionKind::Rounding,
                980,
                "rounding difference".to_owned(),
            ));
        }
        if short <= cents(self.policy.max_bank_fee)
            && from_cents(short) <= from_cents(open) * self.policy.max_fee_fraction
        {
            return Some((
                DeductionKind::BankFees,
                940,
                "bank charges of the transfer".to_owned(),
            ));
        }
        None
    }

    /// Sorts invoice indexes by Code civil art. 1342-10: debts due first (at the receipt's
    /// booking date this is the due date order), then the oldest; ties by number.
    fn sort_1342(&self, v: &mut [u32]) {
        let inv = &self.ledger.invoices;
        v.sort_by(|&a, &b| {
            let (x, y) = (inv[a as usize], inv[b as usize]);
            x.effective_due_date()
                .cmp(&y.effective_due_date())
                .then(x.issue_date.cmp(&y.issue_date))
                .then(x.number.cmp(&y.number))
                .then(a.cmp(&b))
        });
    }

    /// Imputes `amount` over `order`: each item fully until the amount runs out.
    fn impute(&self, order: &[u32], amount: i64) -> Vec<Line> {
        let mut left = amount;
        let mut lines = Vec::new();
        for &i in order {
            if left <= 0 {
                break;
            }
            let o = self.open[i as usize];
            if o <= 0 {
                continue;
            }
            let take = o.min(left);
            lines.push(Line {
                inv: i,
                cents: take,
                deduction: None,
            });
            left -= take;
        }
        lines
    }

    fn payer_text(&self, ident: &Ident, custs: &[u32]) -> String {
        let mut parts = Vec::new();
        for &c in custs {
            for e in ident.evidence(c) {
                let s = match e {
                    Evidence::PayerIban { iban } => {
                        format!(
                            "payer IBAN {iban} known for customer {}",
                            self.cust_label(c)
                        )
                    }
                    Evidence::Mandate { id } => {
                        format!("SEPA mandate {id} of customer {}", self.cust_label(c))
                    }
                    Evidence::Identifier { id } => {
                        format!("SIREN {id} of customer {} in the text", self.cust_label(c))
                    }
                    Evidence::PayerName { name, similarity } => format!(
                        "payer name \"{name}\" matches customer {} ({:.2})",
                        self.cust_label(c),
                        f64::from(similarity) / 1000.0
                    ),
                    _ => continue,
                };
                if !parts.contains(&s) {
                    parts.push(s);
                }
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; {}", parts.join("; "))
        }
    }

    /// Amount and combinations among the identified customers' open items.
    fn by_customer(&self, r: usize, ident: &Ident, custs: &[u32]) -> Option<Proposal> {
        let a = self.rem[r];
        let mut pool: Vec<u32> = Vec::new();
        for &c in custs {
            for &i in self.ledger.items_of(c) {
                if self.open[i as usize] != 0 && self.currency_ok(r, i) && self.issued_by(r, i) {
                    pool.push(i);
                }
            }
        }
        if pool.is_empty() {
            return None;
        }
        self.sort_1342(&mut pool);
        let strength = |i: u32| {
            ident
                .strength(self.ledger.inv_cust[i as usize])
                .unwrap_or(0)
        };
        let evid = |lines: &[Line]| -> (Vec<Evidence>, String) {
            let mut cs: Vec<u32> = lines
                .iter()
                .map(|l| self.ledger.inv_cust[l.inv as usize])
                .collect();
            cs.sort_unstable();
            cs.dedup();
            let mut ev = Vec::new();
            for &c in &cs {
                ev.extend(ident.evidence(c));
            }
            (ev, self.payer_text(ident, &cs))
        };
        let numbers = |lines: &[Line]| -> String {
            lines
                .iter()
                .map(|l| self.inv_number(l.inv).to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mk = |lines: Vec<Line>,
                  rule: Rule,
                  conf: u16,
                  eligible: bool,
                  what: String,
                  extra: Vec<Evidence>| {
            let (mut ev, payer) = evid(&lines);
            ev.extend(extra);
            let reason = format!("{what} ({}){payer}", numbers(&lines));
            Proposal {
                lines,
                rule,
                confidence: conf,
                eligible,
                evidence: ev,
                reason,
                surplus: 0,
                alternatives: Vec::new(),
            }
        };
        // Single items of exactly the amount.
        let singles: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|&i| self.open[i as usize] == a)
            .collect();
        if singles.len() == 1 {
            let i = singles[0];
            return Some(mk(
                vec![Line {
                    inv: i,
                    cents: a,
                    deduction: None,
                }],
                Rule::CustomerAmount,
                strength(i),
                true,
                format!(
                    "identified customer, the only open item of amount {} equal",
                    fmt_amount(a)
                ),
                vec![Evidence::AmountEqual],
            ));
        }
        if singles.len() > 1 {
            let i = singles[0];
            let mut p = mk(
                vec![Line { inv: i, cents: a, deduction: None }],
                Rule::Imputation,
                if self.policy.fifo_auto { 900 } else { 700 },
                self.policy.fifo_auto,
                format!(
                    "identified customer, {} open items of amount {}: imputed by Code civil art. 1342-10 to the first due, oldest",
                    singles.len(),
                    fmt_amount(a)
                ),
                vec![Evidence::AmountEqual, Evidence::Imputation],
            );
            for &j in singles.iter().skip(1).take(3) {
                p.alternatives.push(mk(
                    vec![Line {
                        inv: j,
                        cents: a,
                        deduction: None,
                    }],
                    Rule::CustomerAmount,
                    600,
                    false,
                    "same amount".to_owned(),
                    vec![],
                ));
            }
            return Some(p);
        }
        // Combinations (with credit notes).
        let cand: Vec<u32> = pool
            .iter()
            .copied()
            .take(self.policy.max_combination_candidates)
            .collect();
        let vals: Vec<i64> = cand.iter().map(|&i| self.open[i as usize]).collect();
        let limits = Limits {
            max_items: self.policy.max_combination_items,
            max_solutions: 2,
            max_nodes: self.policy.max_combination_nodes,
        };
        let s = subset::find(&vals, a, &[], limits);
        let to_lines = |sol: &[usize]| -> Vec<Line> {
            sol.iter()
                .map(|&k| Line {
                    inv: cand[k],
                    cents: vals[k],
                    deduction: None,
                })
                .collect()
        };
        if s.solutions.len() == 1 && !s.exhausted {
            let lines = to_lines(&s.solutions[0]);
            let conf = lines.iter().map(|l| strength(l.inv)).min().unwrap_or(0);
            let n = lines.len();
            return Some(mk(
                lines,
                Rule::CustomerCombination,
                conf.saturating_sub(20),
                true,
                format!(
                    "identified customer, the only combination of {n} open items summing to {}",
                    fmt_amount(a)
                ),
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
                        650,
                        false,
                        format!(
                            "identified customer, one of several combinations summing to {}",
                            fmt_amount(a)
                        ),
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
        let mut deducted: Vec<(u32, DeductionKind, u16, String)> = Vec::new();
        for &i in &pool {
            let o = self.open[i as usize];
            if o > a {
                if let Some((k, c, note)) = self.deduction_kind(o, a, 1) {
                    deducted.push((i, k, c, note));
                }
            }
        }
        if deducted.len() == 1 {
            let (i, kind, c, note) = deducted.remove(0);
            let o = self.open[i as usize];
            // Bank fees without a reference are indistinguishable from a partial payment:
            // proposed only. Discount and rounding are precise enough to apply.
            let eligible = kind != DeductionKind::BankFees;
            let conf = strength(i).saturating_sub(1000 - c).saturating_sub(10);
            return Some(mk(
                vec![Line {
                    inv: i,
                    cents: a,
                    deduction: Some((kind, o - a)),
                }],
                Rule::CustomerAmount,
                if eligible { conf } else { conf.min(850) },
                eligible,
                format!(
                    "identified customer, the only open item of {} less {} booked as {note}",
                    fmt_amount(o),
                    fmt_amount(o - a)
                ),
                vec![],
            ));
        }
        // Imputation by 1342-10 over the customer's items.
        let total: i64 = pool.iter().map(|&i| self.open[i as usize].max(0)).sum();
        if a < total {
            let lines = self.impute(&pool, a);
            return Some(mk(
                lines,
                Rule::Imputation,
                if self.policy.fifo_auto { 900 } else { 600 },
                self.policy.fifo_auto,
                format!(
                    "identified customer, no reference and no matching amount: {} imputed by Code civil art. 1342-10 (debts due first, then the oldest)",
                    fmt_amount(a)
                ),
                vec![Evidence::Imputation],
            ));
        }
        // More than everything open: never spread automatically.
        let lines = self.impute(&pool, a);
        let mut p = mk(
            lines,
            Rule::Imputation,
            500,
            false,
            format!(
                "identified customer paid {} for {} open: overpayment, to be reviewed",
                fmt_amount(a),
                fmt_amount(total)
            ),
            vec![],
        );
        p.surplus = a - total;
        Some(p)
    }

    /// Open items of exactly the amount, payer unknown: suggestions only, never automatic
    /// (a coincidental equal amount from an unknown payer is not evidence).
    fn amount_only(&self, r: usize) -> Option<Proposal> {
        let a = self.rem[r];
        let mut v: Vec<u32> = self
            .ledger
            .by_amount
            .get(a as u64)
            .filter(|&i| {
                self.open[i as usize] == a && self.currency_ok(r, i) && self.issued_by(r, i)
            })
            .take(50)
            .collect();
        if v.is_empty() {
            return None;
        }
        self.sort_1342(&mut v);
        let n = v.len();
        let mut props: Vec<Proposal> = v
            .into_iter()
            .take(3)
            .map(|i| Proposal {
                lines: vec![Line { inv: i, cents: a, deduction: None }],
                rule: Rule::AmountOnly,
                confidence: if n == 1 { 400 } else { 200 },
                eligible: false,
                evidence: vec![Evidence::AmountEqual],
                reason: format!(
                    "amount {} equals the open amount of {} ({} candidate(s)); payer not identified, amount alone is not evidence",
                    fmt_amount(a),
                    self.inv_number(i),
                    n
                ),
                surplus: 0,
                alternatives: Vec::new(),
            })
            .collect();
        let mut first = props.remove(0);
        first.alternatives = props;
        Some(first)
    }
}

/// What the referenced items say.
pub(super) enum HitsOutcome {
    /// Nothing conclusive.
    Nothing,
    /// Every referenced item is already settled: a duplicate payment.
    Duplicate(Vec<u32>),
    /// A proposal.
    Proposal(Proposal),
}
