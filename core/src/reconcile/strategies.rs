//! The strategies: reference hits, payer identification, tolerant references within the
//! payer's items, amount and combination within a customer, 1342-10 imputation, amount-only
//! suggestions. Each returns a [`Proposal`] with evidence, a confidence and a reason.

use super::engine::{Ident, Line, N1Cand, N1Kind, Proposal, RefStep, Stage, State, SHARED_PAYER};
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

/// What the payer typed: the remittance and the structured reference, without the
/// end-to-end id (an identifier its software generates, matched exactly or not at all).
fn typed_text(r: &Receipt) -> String {
    let mut t = r.remittance.clone();
    if let Some(s) = &r.structured_ref {
        t.push(' ');
        t.push_str(s);
    }
    t
}

/// Whether the remittance says the payer takes an early-payment discount.
fn says_discount(r: &Receipt) -> bool {
    normalise::tokens(&r.remittance)
        .iter()
        .any(|t| matches!(t.as_str(), "ESCOMPTE" | "ESC" | "DISCOUNT" | "SKONTO"))
}

/// Candidate reference words of a receipt for tolerant matching: runs of up to four
/// consecutive tokens of what the payer typed, compacted, of 4 characters or more with a
/// digit.
fn ref_words(r: &Receipt) -> Vec<String> {
    let text = typed_text(r);
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
    words
}

/// Whether the text says the payment is partial: a down payment, an instalment or the
/// balance ("acompte", "échéance 2/3", "solde", "paiement partiel").
fn partial_words(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "ACOMPTE",
        "ACOMPTES",
        "ACPTE",
        "ACPT",
        "ECHEANCE",
        "ECHEANCES",
        "ECH",
        "PARTIEL",
        "PARTIELLE",
        "PARTIAL",
        "SOLDE",
        "RELIQUAT",
        "VERSEMENT",
        "INSTALMENT",
        "INSTALLMENT",
        "DEPOSIT",
    ];
    normalise::tokens(text)
        .iter()
        .any(|t| WORDS.contains(&t.as_str()))
}

/// Whether the text calls the payment a down payment ("acompte"): not the settlement of an
/// invoice's whole open amount.
fn down_payment_words(text: &str) -> bool {
    normalise::tokens(text).iter().any(|t| {
        matches!(
            t.as_str(),
            "ACOMPTE" | "ACOMPTES" | "ACPTE" | "ACPT" | "DEPOSIT"
        )
    })
}

/// Where the payer's bank is, from its IBAN: `Some(true)` outside France (a foreign
/// transfer, the only kind that arrives less bank charges: within the EEA, PSD2 art. 81
/// forbids deducting charges from the amount transferred), `Some(false)` in France or
/// Monaco, `None` when the statement gives no IBAN.
fn payer_abroad(r: &Receipt) -> Option<bool> {
    let ib = normalise::iban(r.counterparty_iban.as_deref()?);
    if ib.len() < 2 {
        return None;
    }
    Some(!(ib.starts_with("FR") || ib.starts_with("MC")))
}

/// How many combinations of `k` among `n` items one would expect, by chance alone, to add up
/// exactly to `target` cents: C(n, k) spread over the amount's range (a rough count of the
/// sums a combination of that size can take). Among many open items, some combination of
/// several matches almost any amount; a combination is evidence only when a chance match is
/// unlikely.
fn chance_combinations(n: usize, k: usize, target: i64) -> f64 {
    let mut c = 1.0f64;
    for i in 0..k.min(n) {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    c / (target.max(1) as f64)
}

/// Above this expected number of chance matches, a unique combination is not applied.
const CHANCE_MAX: f64 = 0.001;

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
        let mut homonyms: Vec<u32> = Vec::new();
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
            let tail = normalise::cut_tail(n);
            if let Some(v) = self
                .learnt_name
                .get(&toks.join(" "))
                .filter(|v| v.len() <= SHARED_PAYER)
            {
                // A name learnt for several customers is a name they share: it no longer
                // tells which one paid.
                let shared = v.len() > 1;
                for &c in v {
                    if shared {
                        homonyms.push(c);
                    }
                    custs.push((
                        c,
                        if shared { 780 } else { 930 },
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
                        normalise::payer_name_similarity(
                            &toks,
                            &self.ledger.name_toks[c as usize],
                            tail.as_deref(),
                        ),
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
                        if penalty > 0 {
                            homonyms.push(c);
                        }
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
        if names {
            // A group or a factor paying for a customer often names it in the remittance:
            // every word of a name of two words or more, in the text.
            let words: Vec<String> = normalise::name_tokens(&rec.remittance)
                .into_iter()
                .filter(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_alphabetic()))
                .collect();
            let m = words.len().min(10);
            let mut cand: Vec<u32> = Vec::new();
            for i in 0..m {
                for j in i + 1..m {
                    cand.extend(
                        self.ledger
                            .by_name_pair
                            .get(super::index::pair_hash(&words[i], &words[j]))
                            .take(31),
                    );
                }
            }
            cand.sort_unstable();
            cand.dedup();
            let named: Vec<u32> = cand
                .into_iter()
                .filter(|&c| {
                    let t = &self.ledger.name_toks[c as usize];
                    t.len() >= 2 && t.iter().all(|w| words.contains(w))
                })
                .collect();
            if named.len() == 1 && !custs.iter().any(|x| x.0 == named[0] && x.1 >= 920) {
                let c = named[0];
                custs.push((
                    c,
                    920,
                    Evidence::CustomerNameInText {
                        name: self.ledger.cust_names[c as usize].clone(),
                    },
                ));
            }
        }
        custs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ident { custs, homonyms }
    }

    /// The reference pass: exact references decide. In the first sweep (`strict`) only a
    /// reference whose amount is explained (equal, a combination, a deduction no neighbouring
    /// invoice of the payer explains as well) is applied; partial payments, overpayments and
    /// such deductions are deferred to the second sweep, which weighs them against the payer's
    /// neighbouring invoices still open (a mistyped digit lands on a neighbour).
    pub(super) fn reference_pass(&mut self, r: usize, stage: Stage) -> RefStep {
        let strict = stage == Stage::First;
        let mut hits = if stage != Stage::Second {
            let h = self.collect_hits(r);
            if h.is_empty() {
                return RefStep::Open;
            }
            if strict {
                self.hits_cache.insert(r, h.clone());
            }
            h
        } else {
            match self.hits_cache.get(&r) {
                Some(h) => h.clone(),
                None => return RefStep::Open,
            }
        };
        if stage == Stage::Late && hits.is_empty() {
            return RefStep::Open;
        }
        if hits.len() > self.policy.max_combination_candidates {
            // A reference shared by too many items (a public buyer's service code): it
            // identifies the customer, the customer pass decides.
            return RefStep::Open;
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
                    return RefStep::Open;
                }
                foreign = true;
            }
        }
        let a = self.rem[r];
        let mut cs: Vec<u32> = hits
            .iter()
            .map(|h| self.ledger.inv_cust[h.inv as usize])
            .collect();
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
                    .filter(|&i| self.open[i as usize] == 0 && self.is_repayment(r, &[i]))
                    .collect();
                if !repaid.is_empty() {
                    self.flag_duplicate(r, &repaid);
                    return RefStep::Settled;
                }
                // The referenced items are settled and the amount is not theirs: a mistyped
                // reference of a neighbouring invoice of the same customer whose open amount
                // it is.
                let near = self.near_items(r, &cs, &exclude, self.policy.max_edit_distance);
                let exact: Vec<u32> = near
                    .iter()
                    .copied()
                    .filter(|&i| self.open[i as usize] == a)
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
            || p.lines.iter().any(|l| {
                l.deduction.is_none() && l.cents > 0 && l.cents < self.open[l.inv as usize]
            });
        let deducted = p.lines.iter().any(|l| l.deduction.is_some());
        let confident = p.eligible && p.confidence >= self.policy.auto_threshold;
        if !partial_or_over && !deducted {
            // The amount is explained exactly (equal, a combination).
            if confident {
                return self.commit_step(r, p);
            }
            return RefStep::Open;
        }
        // The amount does not equal the referenced items: the payer's own open items one edit
        // away from what was typed may be what was meant (sequential numbers make such typos
        // land on a neighbour).
        // The neighbours are looked for among the referenced items' customer and the
        // identified payer's (a homonym's invoice may have been typed).
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
                self.policy.max_edit_distance.max(1),
            )
        };
        let near: Vec<u32> = near2.iter().filter(|x| x.1 <= 1).map(|x| x.0).collect();
        let near_open: Vec<u32> = near
            .iter()
            .copied()
            .filter(|&i| self.open[i as usize] > 0)
            .collect();
        // Open exactly the amount: one edit away, or two for long numbers (a number cut
        // short at the field length, two digits mistyped).
        let mut near_exact: Vec<u32> = near_open
            .iter()
            .copied()
            .filter(|&i| self.open[i as usize] == a)
            .collect();
        if near_exact.is_empty() {
            near_exact = near2
                .iter()
                .map(|x| x.0)
                .filter(|&i| self.open[i as usize] == a)
                .collect();
        }
        let near_fit: Vec<u32> = near_open
            .iter()
            .copied()
            .filter(|&i| {
                let o = self.open[i as usize];
                o > a
                    && (self.deduction_kind(r, &[i], o, a, false).is_some()
                        || self.ledger.invoices[i as usize]
                            .instalments
                            .iter()
                            .any(|x| cents(x.amount) == a))
            })
            .collect();
        // A settled neighbour of exactly this amount: perhaps paid twice, the second time with
        // a typo in the reference.
        let repaid_neighbour = near
            .iter()
            .any(|&i| self.open[i as usize] == 0 && self.original_amounts(i).contains(&a));
        if !partial_or_over {
            let kind = p.lines.iter().find_map(|l| l.deduction.map(|d| d.0));
            // A discount the text announces is the payer's own account of the amount.
            let announced =
                kind == Some(DeductionKind::Discount) && says_discount(self.receipts[r]);
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
                        let c = cs[0] as usize;
                        let (exact_refs, typos) = &self.profile;
                        let typo_prone = typos.get(c).copied().unwrap_or(true);
                        let careful = exact_refs.get(c).copied().unwrap_or(false) && !typo_prone;
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
            self.push_n1(r, &hits, &ident, N1Kind::Exact);
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
            && self.ledger.invoices[p.lines[0].inv as usize]
                .instalments
                .iter()
                .any(|i| cents(i.amount) == a);
        // Words of a partial payment ("acompte", "solde", "échéance") contradict an
        // overpayment.
        let contradicted = overpaid && partial_words(&receipt_text(self.receipts[r]));
        // A partial or overpayment reading is applied only for a payer identified as the
        // invoice's customer.
        let payer_is_customer = cs.len() == 1 && ident.strength(cs[0]).is_some();
        if !(confident && payer_is_customer && !contradicted) {
            if !foreign {
                // Perhaps one of several receipts paying this invoice (N:1).
                self.push_n1(r, &hits, &ident, N1Kind::Exact);
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
        let could_be_partial_of_neighbour = near_open.iter().any(|&i| self.open[i as usize] >= a);
        let hard_ambiguous = !near_fit.is_empty()
            || !near_exact.is_empty()
            || repaid_neighbour
            || (overpaid
                && ((a % 1000 == 0 && could_be_partial_of_neighbour)
                    || (p.surplus > sum && !near_open.is_empty())));
        if hard_ambiguous {
            self.push_n1(r, &hits, &ident, N1Kind::Exact);
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
                self.push_n1(r, &hits, &ident, N1Kind::Exact);
                RefStep::Open
            }
            Stage::Late => {
                let c = cs[0] as usize;
                let (exact_refs, typos) = &self.profile;
                let typo_prone = typos.get(c).copied().unwrap_or(true);
                let careful = exact_refs.get(c).copied().unwrap_or(false) && !typo_prone;
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

    /// Commits a proposal and says whether the receipt is settled.
    fn commit_step(&mut self, r: usize, p: Proposal) -> RefStep {
        if self.commit(r, p) {
            RefStep::Settled
        } else {
            RefStep::Open
        }
    }

    /// Applies receipt `r` to invoice `i`, a neighbour of the invoice its reference names (one
    /// edit away, same customer), when the tolerant reading is confident. True when applied.
    fn apply_neighbour(&mut self, r: usize, i: u32, ident: &Ident) -> bool {
        let number = normalise::compact(self.inv_number(i));
        let words = ref_words(self.receipts[r]);
        let max = if number.len() >= 8 {
            self.policy.max_edit_distance
        } else {
            1
        };
        let Some((d, w)) = words
            .iter()
            .filter_map(|w| normalise::edit_distance(w, &number, max).map(|d| (d, w.clone())))
            .min()
        else {
            return false;
        };
        let h = Hit {
            inv: i,
            kind: RefKind::Tolerant,
            found: w,
            distance: d,
        };
        if let HitsOutcome::Proposal(q) = self.evaluate_hits(r, &[h], ident, true, false) {
            if q.eligible && q.confidence >= self.policy.auto_threshold {
                return self.commit(r, q);
            }
        }
        false
    }

    /// Open or settled items of the customers `custs` (other than `exclude`) whose number is
    /// one edit (or transposition) away from a word of the receipt, or up to `max` edits for
    /// numbers of 8 characters or more.
    fn near_items(&self, r: usize, custs: &[u32], exclude: &[u32], max: u8) -> Vec<u32> {
        self.near_items_dist(r, custs, exclude, max)
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    }

    /// [`Self::near_items`] with the distance of each.
    fn near_items_dist(&self, r: usize, custs: &[u32], exclude: &[u32], max: u8) -> Vec<(u32, u8)> {
        let words = ref_words(self.receipts[r]);
        let mut out: Vec<(u32, u8)> = Vec::new();
        let mut number = String::new();
        for &c in custs {
            for &i in self.ledger.items_of(c) {
                if exclude.contains(&i) || !self.currency_ok(r, i) {
                    continue;
                }
                normalise::compact_into(self.inv_number(i), &mut number);
                let m = if number.len() >= 8 { max } else { max.min(1) };
                let d = words
                    .iter()
                    .filter(|w| w.len().abs_diff(number.len()) <= usize::from(m))
                    .filter_map(|w| normalise::edit_distance(w, &number, m))
                    .min();
                if let Some(d) = d {
                    out.push((i, d));
                }
            }
        }
        out.sort_unstable();
        out.dedup_by_key(|x| x.0);
        out
    }

    /// The amounts a payment of invoice `i` would have: its total, what the source had open,
    /// and what was applied to it in this run.
    fn original_amounts(&self, i: u32) -> [i64; 3] {
        let inv = self.ledger.invoices[i as usize];
        [
            cents(inv.total_with_vat.abs()),
            cents(inv.amount_due.abs()),
            self.received[i as usize],
        ]
    }

    /// Whether the amount is what the settled `items` were (or were paid): a second payment.
    fn is_repayment(&self, r: usize, items: &[u32]) -> bool {
        let a = self.rem[r];
        let total: i64 = items.iter().map(|&i| self.original_amounts(i)[0]).sum();
        a == total || items.iter().any(|&i| self.original_amounts(i).contains(&a))
    }

    fn flag_duplicate(&mut self, r: usize, items: &[u32]) {
        let rec = self.receipts[r];
        self.flags.push(super::Flag::Duplicate {
            transaction: rec.id.clone(),
            invoices: items
                .iter()
                .map(|&i| self.ledger.invoices[i as usize].id.clone())
                .collect(),
        });
    }

    /// Records the open items of `hits` as N:1 candidates of receipt `r`.
    fn push_n1(&mut self, r: usize, hits: &[Hit], ident: &Ident, kind: N1Kind) {
        for h in hits {
            if self.open[h.inv as usize] > 0 {
                let strength = ident
                    .strength(self.ledger.inv_cust[h.inv as usize])
                    .unwrap_or(0);
                self.n1.push(N1Cand {
                    inv: h.inv,
                    r,
                    kind,
                    strength,
                });
            }
        }
    }

    /// Several receipts, none applied alone, that together pay exactly the open amount of one
    /// invoice they all designate (an invoice paid in instalments, or a down payment and the
    /// balance, N:1): applied together. A receipt designates an invoice by an exact reference,
    /// by a reference close to one of its identified payer's invoices, or, without any
    /// reference, as an open item of its identified customer (then each receipt's payer must
    /// be identified as that customer). The combination must be the only one for the invoice,
    /// and no receipt may take part in the combination of another invoice.
    pub(super) fn several_receipts_pass(&mut self) {
        let mut v: Vec<N1Cand> = self
            .n1
            .iter()
            .copied()
            .filter(|c| {
                let o = self.open[c.inv as usize];
                self.rem[c.r] > 0 && !self.has_auto[c.r] && o > 0 && self.rem[c.r] < o
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
            let vals: Vec<i64> = group.iter().map(|c| self.rem[c.r]).collect();
            let s = subset::find(
                &vals,
                self.open[inv as usize],
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
                .is_some_and(|sol| sol.iter().any(|&x| group[x].kind == N1Kind::Open));
            if s.solutions.len() == 1
                && !s.exhausted
                && s.solutions[0].len() >= 2
                && (!open_kind || s.solutions[0].len() <= 4)
                && chance_combinations(group.len(), s.solutions[0].len(), self.open[inv as usize])
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
            let worst = sol.iter().map(|c| c.kind).max().unwrap_or(N1Kind::Exact);
            let (rule, conf, how) = match worst {
                N1Kind::Exact => (
                    Rule::Reference,
                    950,
                    "reference to it in each of the receipts",
                ),
                N1Kind::Tolerant => (
                    Rule::TolerantReference,
                    if sol
                        .iter()
                        .all(|c| c.kind == N1Kind::Exact || c.strength > 0)
                    {
                        930
                    } else {
                        0
                    },
                    "reference to it, exact or within the payer's own invoices, in each of the receipts",
                ),
                N1Kind::Open => (
                    Rule::CustomerCombination,
                    sol.iter()
                        .map(|c| c.strength)
                        .min()
                        .unwrap_or(0)
                        .saturating_sub(20),
                    "receipts of the identified customer",
                ),
            };
            if conf < self.policy.auto_threshold {
                continue;
            }
            let total = self.open[inv as usize];
            let ids = sol
                .iter()
                .map(|c| self.receipts[c.r].id.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let c = self.ledger.inv_cust[inv as usize];
            for cand in &sol {
                let r = cand.r;
                let a = self.rem[r];
                let ident = self.identify(r);
                let mut evidence = Vec::new();
                if cand.kind != N1Kind::Open {
                    evidence.push(Evidence::Reference {
                        kind: if cand.kind == N1Kind::Exact {
                            RefKind::InvoiceNumber
                        } else {
                            RefKind::Tolerant
                        },
                        found: self.inv_number(inv).to_owned(),
                        distance: 0,
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
                    confidence: conf,
                    eligible: true,
                    evidence,
                    reason: format!(
                        "{how} {ids}, which together pay exactly its open amount {} (several receipts for one invoice {}); this one {}{}",
                        fmt_amount(total),
                        self.inv_number(inv),
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
        // What the reference pass could not apply may be applicable now that other receipts
        // were applied (the balance of an invoice paid before its down payment was weighed).
        if self.hits_cache.contains_key(&r)
            && self.reference_pass(r, Stage::Second) == RefStep::Settled
        {
            self.hits_cache.remove(&r);
            return;
        }
        let ident = self.identify(r);
        let hits = self.hits_cache.remove(&r).unwrap_or_default();
        let mut fallback: Vec<Proposal> = Vec::new();
        let shared = hits.len() > self.policy.max_combination_candidates;
        let foreign = !ident.custs.is_empty()
            && hits.iter().all(|h| {
                ident
                    .strength(self.ledger.inv_cust[h.inv as usize])
                    .is_none()
            });
        // An exact reference to an open item of the payer (or of an unknown payer) that the
        // reference pass did not apply: no other item of the customer is applied instead.
        let own_open_ref =
            !shared && !foreign && hits.iter().any(|h| self.open[h.inv as usize] != 0);
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
                let a = self.rem[r];
                let fits: Vec<Hit> = tol
                    .iter()
                    .filter(|h| {
                        let o = self.open[h.inv as usize];
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
                    .near_items(r, &custs, &[], self.policy.max_edit_distance)
                    .into_iter()
                    .filter(|&i| self.open[i as usize] == 0 && self.is_repayment(r, &[i]))
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
                    if p.eligible && p.confidence >= self.policy.auto_threshold {
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
        // The receipt is not applied alone: it may be one of several paying one invoice.
        let amount_fits = fallback
            .iter()
            .any(|p| p.evidence.contains(&Evidence::AmountEqual));
        if !foreign && !shared {
            self.push_n1(r, &hits, &ident, N1Kind::Exact);
        }
        let tol_n1: Vec<Hit> = tol.iter().filter(|h| h.distance <= 1).cloned().collect();
        self.push_n1(r, &tol_n1, &ident, N1Kind::Tolerant);
        if hits.is_empty() && tol.is_empty() && !amount_fits {
            // No reference and no amount fits: any open item of a customer identified
            // strongly enough.
            for &(c, strength, _) in &ident.custs {
                if strength < self.policy.auto_threshold + 20 {
                    continue;
                }
                let items: Vec<u32> = self
                    .ledger
                    .items_of(c)
                    .iter()
                    .copied()
                    .filter(|&i| {
                        self.open[i as usize] > 0 && self.currency_ok(r, i) && self.issued_by(r, i)
                    })
                    .take(self.policy.max_combination_candidates)
                    .collect();
                for inv in items {
                    self.n1.push(N1Cand {
                        inv,
                        r,
                        kind: N1Kind::Open,
                        strength,
                    });
                }
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
            self.commit(r, best);
        }
    }

    /// References close to the identified customers' own open invoices: bounded edit distance
    /// (with transpositions) on the compact number, or the trailing sequence number alone.
    pub(super) fn tolerant_hits(&self, r: usize, custs: &[u32], exclude: &[u32]) -> Vec<Hit> {
        let rec = self.receipts[r];
        let text = typed_text(rec);
        let words = ref_words(rec);
        let nums = normalise::trailing_numbers(&text);
        let amount_text = fmt_amount(self.rem[r]);
        let mut out = Vec::new();
        let mut number = String::new();
        for &c in custs {
            for &i in self.ledger.items_of(c) {
                if self.open[i as usize] == 0 || !self.currency_ok(r, i) || exclude.contains(&i) {
                    continue;
                }
                normalise::compact_into(self.inv_number(i), &mut number);
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
                    // A sequence number of three digits or more within the payer's items is
                    // nearly as specific as the whole number.
                    if open_hits.iter().all(|h| h.found.len() >= 3) {
                        945
                    } else {
                        930
                    }
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
        // 1. The amount equals the referenced items (on a mistyped reference, not when the
        //    text calls it a down payment: then the amount equal to that invoice is chance).
        if sum == a {
            let down = tolerant
                && open_hits.iter().any(|h| h.distance > 0)
                && down_payment_words(&receipt_text(self.receipts[r]));
            let tail = if open_hits.len() > 1 {
                format!(
                    "amount {} equal to the sum of {} items",
                    fmt_amount(a),
                    open_hits.len()
                )
            } else {
                format!("amount {} equal to the open amount", fmt_amount(a))
            };
            return HitsOutcome::Proposal(make(full(&all), base, !down, 0, tail));
        }
        let limits = Limits {
            max_items: self.policy.max_combination_items,
            max_solutions: 2,
            max_nodes: self.policy.max_combination_nodes,
        };
        // 2. A unique subset of the referenced items (a reference shared or listed in excess).
        if open_hits.len() > 1 {
            let s = subset::find(&items, a, &[], limits);
            if s.solutions.len() == 1
                && !s.exhausted
                && chance_combinations(items.len(), s.solutions[0].len(), a) <= CHANCE_MAX
            {
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
        // A tolerant reference designating one open item of the identified payer, one edit
        // away or by a sequence number of three digits or more, no other open item of the
        // payer fitting the amount: it may carry an imperfect amount too.
        let single_tolerant = || {
            tolerant
                && open_hits.len() == 1
                && hit_custs.len() == 1
                && ident
                    .strength(hit_custs[0])
                    .is_some_and(|s| s >= self.policy.auto_threshold)
                && (open_hits[0].distance <= 1
                    || (open_hits[0].kind == RefKind::Sequence && open_hits[0].found.len() >= 3))
                && !self.other_item_fits(r, hit_custs[0], open_hits[0].inv)
        };
        // A partial payment of the one referenced item.
        let partial_one = || {
            let inv = self.ledger.invoices[open_hits[0].inv as usize];
            let instalment = inv.instalments.iter().any(|i| cents(i.amount) == a);
            let tail = format!(
                "partial payment {} of the open {}{}, {} remains open",
                fmt_amount(a),
                fmt_amount(items[0]),
                if instalment {
                    " (an instalment of its schedule)"
                } else {
                    ""
                },
                fmt_amount(items[0] - a)
            );
            // On a tolerant reference, an amount equal to one instalment of the schedule is
            // the confirmation; otherwise only a clear sequence number with no neighbouring
            // sequence of the payer's open items it could be a partial payment of.
            let clear_sequence = || {
                open_hits[0].kind == RefKind::Sequence
                    && !self.sequence_neighbour_open(
                        r,
                        hit_custs[0],
                        open_hits[0].inv,
                        &open_hits[0].found,
                    )
            };
            let tolerant_ok = single_tolerant() && (instalment || clear_sequence());
            let eligible =
                self.policy.auto_partial_with_reference && !foreign && (!tolerant || tolerant_ok);
            let conf = if instalment {
                base.saturating_sub(40)
            } else if tolerant {
                905
            } else {
                base.saturating_sub(70)
            };
            HitsOutcome::Proposal(make(
                vec![Line {
                    inv: open_hits[0].inv,
                    cents: a,
                    deduction: None,
                }],
                conf,
                eligible,
                0,
                tail,
            ))
        };
        // An amount equal to one instalment of the one referenced invoice's schedule is a
        // partial payment, whatever else could add up to it.
        if open_hits.len() == 1
            && a > 0
            && a < items[0]
            && self.ledger.invoices[open_hits[0].inv as usize]
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
            for &i in self.ledger.items_of(c) {
                if pool.len() >= self.policy.max_combination_candidates {
                    break;
                }
                if self.open[i as usize] != 0
                    && !pool.contains(&i)
                    && self.currency_ok(r, i)
                    && self.issued_by(r, i)
                {
                    pool.push(i);
                }
            }
            if pool.len() > open_hits.len() {
                let vals: Vec<i64> = pool.iter().map(|&i| self.open[i as usize]).collect();
                let forced: Vec<usize> = (0..open_hits.len()).collect();
                // At most two items beyond the referenced ones: among many open items, some
                // combination of several would match any amount by chance (an overpayment
                // must not be spread over unrelated invoices).
                let s = subset::find(
                    &vals,
                    a,
                    &forced,
                    Limits {
                        max_items: self.policy.max_combination_items.min(forced.len() + 2),
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
            let hit_items: Vec<u32> = open_hits.iter().map(|h| h.inv).collect();
            if let Some((kind, conf, note)) = self.deduction_kind(r, &hit_items, sum, a, false) {
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
                        // A deduction on top of a tolerant reference is applied only when
                        // the reference designates one invoice of the identified payer, one
                        // edit away or by its sequence number, and no other open item of the
                        // payer fits the amount; on top of a foreign reference, never.
                        return HitsOutcome::Proposal(make(
                            lines,
                            base.saturating_sub(1000 - conf),
                            !foreign && (!tolerant || single_tolerant()),
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
            // On a tolerant reference, not when more than twice what is open was paid (that
            // is no overpayment one makes: the reference is more likely wrong).
            return HitsOutcome::Proposal(make(
                full(&all),
                base.saturating_sub(30),
                !foreign && (!tolerant || (a - sum <= sum && single_tolerant())),
                a - sum,
                tail,
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

    /// The deduction that explains `open − paid` on `items` (their open total is `open`),
    /// if within policy: (kind, per-mille, label). Bank charges are deducted only from a
    /// transfer from abroad; neither they nor a discount are read into a payment its text
    /// calls partial. With `early`, an early-payment discount (escompte) is read only into a
    /// payment made by the due date (C. com. art. L441-9: the discount is for paying before
    /// the date of the terms), as when no reference says which invoice was paid.
    fn deduction_kind(
        &self,
        r: usize,
        items: &[u32],
        open: i64,
        paid: i64,
        early: bool,
    ) -> Option<(DeductionKind, u16, String)> {
        let short = open - paid;
        if short <= 0 {
            return None;
        }
        let rec = self.receipts[r];
        let partial = partial_words(&receipt_text(rec));
        let tol = i64::try_from(items.len()).unwrap_or(1).max(1);
        let due = items
            .iter()
            .map(|&i| self.ledger.invoices[i as usize].effective_due_date())
            .max();
        let on_time = due.is_some_and(|d| rec.booking_date <= d + chrono::Duration::days(7));
        let abroad = payer_abroad(rec);
        let fee_possible = !partial
            && abroad != Some(false)
            && short <= cents(self.policy.max_bank_fee)
            && from_cents(short) <= from_cents(open) * self.policy.max_fee_fraction;
        let says_discount = says_discount(rec);
        // A payment from abroad short by what a discount rate would give is more likely short
        // by bank charges, unless its text says it takes a discount.
        let in_time = if early {
            on_time
        } else if fee_possible && abroad == Some(true) {
            says_discount
        } else {
            true
        };
        if in_time && !partial {
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
        }
        if short <= cents(self.policy.rounding_tolerance) && !partial {
            return Some((
                DeductionKind::Rounding,
                980,
                "rounding difference".to_owned(),
            ));
        }
        if fee_possible {
            return Some((
                DeductionKind::BankFees,
                if abroad == Some(true) { 960 } else { 940 },
                if abroad == Some(true) {
                    "bank charges of a transfer from abroad".to_owned()
                } else {
                    "bank charges of the transfer".to_owned()
                },
            ));
        }
        None
    }

    /// Whether an open item of customer `c` other than `except` has exactly the receipt's
    /// amount open, or an open amount the receipt pays less a deduction within policy.
    fn other_item_fits(&self, r: usize, c: u32, except: u32) -> bool {
        let a = self.rem[r];
        self.ledger.items_of(c).iter().any(|&i| {
            let o = self.open[i as usize];
            i != except
                && o > 0
                && self.currency_ok(r, i)
                && self.issued_by(r, i)
                && (o == a || (o > a && self.deduction_kind(r, &[i], o, a, false).is_some()))
        })
    }

    /// Whether an open item of customer `c` other than `except`, whose sequence number is one
    /// edit away from `seq`, has at least the receipt's amount open (it could be the invoice
    /// a partial payment citing `seq` was meant for).
    fn sequence_neighbour_open(&self, r: usize, c: u32, except: u32, seq: &str) -> bool {
        let a = self.rem[r];
        self.ledger.items_of(c).iter().any(|&i| {
            i != except
                && self.open[i as usize] >= a
                && normalise::sequence(self.inv_number(i))
                    .is_some_and(|s| normalise::edit_distance(&s, seq, 1).is_some())
        })
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
                    Evidence::CustomerNameInText { name } => {
                        format!("customer name \"{name}\" in the remittance")
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
            let c = self.ledger.inv_cust[i as usize];
            // A name shared by two or three customers (and nothing else identifying any of
            // them): the amount, the only one of its value among all their open items, tells
            // which one paid. (A stranger of the same name paying exactly that amount is
            // the coincidence the amount must rule out, hence no more than three.)
            let homonyms_only = custs.len() <= 3
                && ident.homonyms.contains(&c)
                && ident.custs.iter().all(|x| ident.homonyms.contains(&x.0));
            let conf = if homonyms_only {
                strength(i).saturating_add(130)
            } else {
                strength(i)
            };
            return Some(mk(
                vec![Line {
                    inv: i,
                    cents: a,
                    deduction: None,
                }],
                Rule::CustomerAmount,
                conf,
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
        // A down payment is no settlement of several items; an amount some item of the
        // customer had and was already paid is perhaps a second payment of it: neither is
        // read as a combination or a deduction without a person.
        let partial_text = partial_words(&receipt_text(self.receipts[r]));
        let repaid_item = custs.iter().any(|&c| {
            self.ledger
                .items_of(c)
                .iter()
                .any(|&i| self.open[i as usize] == 0 && self.received[i as usize] == a)
        });
        // One item whose payment schedule has an instalment of exactly the amount.
        let by_instalment: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|&i| {
                self.open[i as usize] > a
                    && self.ledger.invoices[i as usize]
                        .instalments
                        .iter()
                        .any(|x| cents(x.amount) == a)
            })
            .collect();
        if by_instalment.len() == 1 {
            let i = by_instalment[0];
            return Some(mk(
                vec![Line {
                    inv: i,
                    cents: a,
                    deduction: None,
                }],
                Rule::CustomerAmount,
                strength(i).saturating_sub(10),
                true,
                format!(
                    "identified customer, the only open item with an instalment of {} in its payment schedule",
                    fmt_amount(a)
                ),
                vec![Evidence::AmountEqual],
            ));
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
        // A combination spanning several customers is no payment one makes, unless they share
        // a payer (a group); and a unique one among many items may be chance.
        let one_payer = |sol: &[usize]| {
            let mut cs: Vec<u32> = sol
                .iter()
                .map(|&k| self.ledger.inv_cust[cand[k] as usize])
                .collect();
            cs.sort_unstable();
            cs.dedup();
            cs.len() == 1
                || cs.iter().all(|&c| {
                    ident
                        .evidence(c)
                        .iter()
                        .any(|e| matches!(e, Evidence::PayerIban { .. } | Evidence::Mandate { .. }))
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
                if let Some((k, c, note)) = self.deduction_kind(r, &[i], o, a, true) {
                    deducted.push((i, k, c, note));
                }
            }
        }
        if deducted.len() == 1 {
            let (i, kind, c, note) = deducted.remove(0);
            let o = self.open[i as usize];
            // Bank fees without a reference are indistinguishable from a partial payment:
            // proposed only. Discount and rounding are precise enough to apply.
            let eligible = kind != DeductionKind::BankFees && !repaid_item;
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
