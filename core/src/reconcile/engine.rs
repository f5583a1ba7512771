//! The engine: state of open amounts and receipt remainders, the passes in order of strength,
//! and the commit of proposals (automatic or suggested) into an [`Outcome`].

use super::index::{cents, from_cents, Ledger};
use super::normalise;
use super::{
    Allocation, Confidence, Deduction, DeductionKind, Evidence, Flag, Outcome, Policy, Rule,
    Suggestion, UnappliedCredit,
};
use crate::ids::CustomerId;
use crate::model::{Customer, Invoice, Receipt};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// A payer (IBAN, name, mandate) linked to more customers than this is a shared payer (a
/// public treasury, a factor, a payment platform): it no longer identifies a customer.
pub(super) const SHARED_PAYER: usize = 20;

/// One allocation line of a proposal: invoice index, signed cents, optional deduction.
#[derive(Clone, Debug)]
pub(super) struct Line {
    pub inv: u32,
    pub cents: i64,
    pub deduction: Option<(DeductionKind, i64)>,
}

/// What a strategy proposes for one receipt.
#[derive(Clone, Debug)]
pub(super) struct Proposal {
    pub lines: Vec<Line>,
    pub rule: Rule,
    /// Per-mille.
    pub confidence: u16,
    /// Whether the rule allows automatic application at all.
    pub eligible: bool,
    pub evidence: Vec<Evidence>,
    /// The readable reason.
    pub reason: String,
    /// Surplus left unapplied (cents), flagged when applied.
    pub surplus: i64,
    /// Lower-ranked alternatives (suggestions only).
    pub alternatives: Vec<Proposal>,
}

/// How a receipt designates an invoice it may pay together with other receipts (N:1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum N1Kind {
    /// An exact reference (invoice number, RF, order or buyer reference).
    Exact,
    /// A reference close to one of the identified payer's own open invoices.
    Tolerant,
    /// No reference: an open item of the identified customer.
    Open,
}

/// A candidate of the several-receipts pass: receipt `r` may pay part of invoice `inv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct N1Cand {
    pub inv: u32,
    pub r: usize,
    pub kind: N1Kind,
    /// Strength (per-mille) of the identification of the payer as the invoice's customer;
    /// 0 when the payer is not identified.
    pub strength: u16,
}

/// How a customer was identified for a receipt, with the strength of that identification.
#[derive(Clone, Debug)]
pub(super) struct Ident {
    /// (customer, per-mille strength, evidence), strongest first, then by customer id.
    pub custs: Vec<(u32, u16, Evidence)>,
    /// Customers identified only by a name several customers share (2 or 3 homonyms whose
    /// strength was lowered for it).
    pub homonyms: Vec<u32>,
}

impl Ident {
    pub(super) fn strength(&self, c: u32) -> Option<u16> {
        self.custs.iter().filter(|x| x.0 == c).map(|x| x.1).max()
    }
    pub(super) fn evidence(&self, c: u32) -> Vec<Evidence> {
        self.custs
            .iter()
            .filter(|x| x.0 == c)
            .map(|x| x.2.clone())
            .collect()
    }
}

/// What the reference pass did with a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RefStep {
    /// Applied, or flagged as a duplicate: nothing more to do.
    Settled,
    /// To be weighed again in the second sweep (a partial payment, an overpayment, a
    /// deduction a neighbour could explain better).
    Deferred,
    /// For the customer pass.
    Open,
}

/// The sweeps of the reference pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// References whose amount is explained.
    First,
    /// Partial payments, overpayments, deductions a neighbour could explain.
    Second,
    /// After the customer pass: readings that depend on whether the payer makes typos.
    Late,
}

/// Mutable state of one run.
pub(super) struct State<'a> {
    pub ledger: Ledger<'a>,
    pub receipts: Vec<&'a Receipt>,
    pub policy: &'a Policy,
    /// Open amount of each invoice (signed cents).
    pub open: Vec<i64>,
    /// Unapplied remainder of each receipt (cents; credits only).
    pub rem: Vec<i64>,
    /// What this run applied automatically to each invoice (cents, deductions excluded).
    pub received: Vec<i64>,
    pub has_auto: Vec<bool>,
    pub returned: Vec<bool>,
    pub inv_by_id: HashMap<&'a str, u32>,
    pub learnt_iban: HashMap<String, Vec<u32>>,
    pub learnt_name: HashMap<String, Vec<u32>>,
    pub out: Vec<Allocation>,
    pub suggestions: Vec<Suggestion>,
    pub flags: Vec<Flag>,
    /// Invoices a receipt not applied alone may pay together with others (N:1): filled by
    /// the reference and customer passes, read by the several-receipts pass.
    pub n1: Vec<N1Cand>,
    /// Receipts that got suggestions, and those of them later applied (their suggestions are
    /// dropped from the outcome).
    pub suggested: Vec<bool>,
    pub superseded: Vec<bool>,
    /// Receipts whose partial or overpayment reading waits for the payer's profile.
    pub late: Vec<usize>,
    /// Set when the late stage begins: the profile no longer changes.
    pub profile_frozen: bool,
    /// Per customer, what its receipts of this run showed before the late stage: (an
    /// automatic allocation by its exact invoice number, one by a mistyped reference).
    pub profile: (Vec<bool>, Vec<bool>),
    /// References found by the reference pass, for the customer pass.
    pub hits_cache: HashMap<usize, Vec<super::strategies::Hit>>,
}

impl<'a> State<'a> {
    fn new(
        invoices: &'a [Invoice],
        customers: &'a [Customer],
        receipts: &'a [Receipt],
        policy: &'a Policy,
    ) -> Self {
        let ledger = Ledger::build(invoices, customers);
        let n_cust = ledger.cust_ids.len();
        let mut open = vec![0i64; ledger.invoices.len()];
        let mut inv_by_id = HashMap::with_capacity(ledger.invoices.len());
        for (i, inv) in ledger.invoices.iter().enumerate() {
            if inv.status == crate::model::InvoiceStatus::Open {
                open[i] = cents(inv.signed_open());
            }
            inv_by_id
                .entry(inv.id.as_str())
                .or_insert(u32::try_from(i).unwrap_or(u32::MAX));
        }
        let mut receipts: Vec<&'a Receipt> = receipts.iter().collect();
        receipts.sort_by(|a, b| {
            a.booking_date
                .cmp(&b.booking_date)
                .then(a.id.cmp(&b.id))
                .then(a.amount.cmp(&b.amount))
                .then(a.remittance.cmp(&b.remittance))
                .then(a.source.cmp(&b.source))
                .then(a.counterparty_iban.cmp(&b.counterparty_iban))
        });
        let open_len = open.len();
        let rem = receipts
            .iter()
            .map(|r| if r.is_credit() { cents(r.amount) } else { 0 })
            .collect();
        let n = receipts.len();
        Self {
            ledger,
            receipts,
            policy,
            open,
            rem,
            received: vec![0; open_len],
            has_auto: vec![false; n],
            returned: vec![false; n],
            inv_by_id,
            learnt_iban: HashMap::new(),
            learnt_name: HashMap::new(),
            out: Vec::new(),
            suggestions: Vec::new(),
            flags: Vec::new(),
            n1: Vec::new(),
            late: Vec::new(),
            profile_frozen: false,
            profile: (vec![false; n_cust], vec![false; n_cust]),
            hits_cache: HashMap::new(),
            suggested: vec![false; n],
            superseded: vec![false; n],
        }
    }

    /// Applies allocations already in force: they reduce open amounts and receipt remainders
    /// and teach payer IBANs and names.
    fn apply_prior(&mut self, prior: &[Allocation], by_tx: &HashMap<&str, usize>) {
        for a in prior {
            let r = by_tx.get(a.transaction.as_str()).copied();
            if let Some(&i) = self.inv_by_id.get(a.invoice.as_str()) {
                let d = a.deduction.map(|d| cents(d.amount)).unwrap_or(0);
                self.open[i as usize] -= cents(a.amount) + d;
                if let Some(r) = r {
                    if a.amount > Decimal::ZERO || a.rule != Rule::Return {
                        self.learn(r, i);
                    }
                }
            }
            if let Some(r) = r {
                if self.receipts[r].is_credit() {
                    self.rem[r] -= cents(a.amount);
                    self.has_auto[r] = true;
                }
            }
        }
    }

    /// Learns that the payer of receipt `r` pays for the customer of invoice `i`.
    pub(super) fn learn(&mut self, r: usize, i: u32) {
        let c = self.ledger.inv_cust[i as usize];
        let rec = self.receipts[r];
        if let Some(ib) = rec.counterparty_iban.as_deref() {
            let k = normalise::iban(ib);
            if !k.is_empty() {
                let v = self.learnt_iban.entry(k).or_default();
                if v.len() <= SHARED_PAYER && !v.contains(&c) {
                    v.push(c);
                }
            }
        }
        if let Some(n) = rec.counterparty_name.as_deref() {
            let k = normalise::name_tokens(n).join(" ");
            if !k.is_empty() {
                let v = self.learnt_name.entry(k).or_default();
                if v.len() <= SHARED_PAYER && !v.contains(&c) {
                    v.push(c);
                }
            }
        }
    }

    /// Returns and reversals: find the original credit, reverse what it settled (prior
    /// allocations) or keep it from being matched (same batch), and flag it for dunning.
    fn returns(&mut self, prior: &[Allocation]) {
        let mut prior_by_tx: HashMap<&str, Vec<&Allocation>> = HashMap::new();
        for a in prior {
            prior_by_tx
                .entry(a.transaction.as_str())
                .or_default()
                .push(a);
        }
        let mut credits_by_amount: HashMap<i64, Vec<usize>> = HashMap::new();
        for (k, r) in self.receipts.iter().enumerate() {
            if r.is_credit() {
                credits_by_amount
                    .entry(cents(r.amount))
                    .or_default()
                    .push(k);
            }
        }
        for k in 0..self.receipts.len() {
            let r = self.receipts[k];
            if !r.is_return() || prior_by_tx.contains_key(r.id.as_str()) {
                continue;
            }
            let amount = cents(r.amount.abs());
            let mut best: Option<(u8, usize)> = None;
            for &o in credits_by_amount
                .get(&amount)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let c = self.receipts[o];
                if self.returned[o] || c.booking_date > r.booking_date || c.currency != r.currency {
                    continue;
                }
                let score = if usable_id(&r.end_to_end_id) && r.end_to_end_id == c.end_to_end_id {
                    4
                } else if r.remittance.contains(c.id.as_str()) && !c.id.as_str().is_empty() {
                    3
                } else if usable_id(&r.mandate_id) && r.mandate_id == c.mandate_id {
                    2
                } else if r.counterparty_iban.is_some()
                    && r.counterparty_iban.as_deref().map(normalise::iban)
                        == c.counterparty_iban.as_deref().map(normalise::iban)
                {
                    1
                } else {
                    0
                };
                if score > 0 && best.is_none_or(|(s, _)| score >= s) {
                    // Same score: the later original (receipts are sorted by date, then id).
                    best = Some((score, o));
                }
            }
            let Some((_, o)) = best else {
                self.flags.push(Flag::ReturnUnlinked {
                    transaction: r.id.clone(),
                });
                continue;
            };
            self.returned[o] = true;
            let orig = self.receipts[o];
            let mut reopened = Vec::new();
            if let Some(allocs) = prior_by_tx.get(orig.id.as_str()) {
                let mut allocs = allocs.clone();
                allocs.sort_by(|a, b| a.invoice.cmp(&b.invoice));
                for a in allocs {
                    if let Some(&i) = self.inv_by_id.get(a.invoice.as_str()) {
                        let d = a.deduction.map(|d| cents(d.amount)).unwrap_or(0);
                        self.open[i as usize] += cents(a.amount) + d;
                    }
                    self.rem[o] = 0;
                    reopened.push(a.invoice.clone());
                    self.out.push(Allocation {
                        transaction: r.id.clone(),
                        invoice: a.invoice.clone(),
                        amount: -a.amount,
                        auto: true,
                        confidence: Confidence(990),
                        rule: Rule::Return,
                        reason: format!(
                            "return{} of credit {}: reverses its allocation of {} to {}",
                            r.return_reason
                                .as_deref()
                                .map(|c| format!(" ({c})"))
                                .unwrap_or_default(),
                            orig.id,
                            a.amount,
                            a.invoice
                        ),
                        evidence: vec![],
                        deduction: a.deduction.map(|d| Deduction {
                            kind: d.kind,
                            amount: -d.amount,
                        }),
                    });
                }
            }
            self.rem[o] = 0;
            self.flags.push(Flag::Return {
                transaction: r.id.clone(),
                original: orig.id.clone(),
                reopened,
                reason: r.return_reason.clone(),
            });
        }
    }

    /// Notes what an applied proposal shows of the payer's habits: an exact invoice number,
    /// or a mistyped one.
    fn note_profile(&mut self, p: &Proposal) {
        let exact = p.rule == Rule::Reference
            && p.evidence.iter().any(|e| {
                matches!(
                    e,
                    Evidence::Reference {
                        kind: super::RefKind::InvoiceNumber | super::RefKind::CreditorReference,
                        distance: 0,
                        ..
                    }
                )
            });
        let typo = p.rule == Rule::TolerantReference
            && p.evidence.iter().any(|e| {
                matches!(
                    e,
                    Evidence::Reference {
                        kind: super::RefKind::Tolerant,
                        distance: 1..,
                        ..
                    }
                )
            });
        for l in &p.lines {
            let c = self.ledger.inv_cust[l.inv as usize] as usize;
            if exact {
                self.profile.0[c] = true;
            }
            if typo {
                self.profile.1[c] = true;
            }
        }
    }

    /// Records a proposal: applied when eligible and confident enough and within what is open
    /// and received; otherwise proposed.
    pub(super) fn commit(&mut self, r: usize, p: Proposal) -> bool {
        let rec = self.receipts[r];
        let mut auto = p.eligible && p.confidence >= self.policy.auto_threshold;
        let total: i64 = p.lines.iter().map(|l| l.cents).sum();
        if total > self.rem[r] || total <= 0 {
            auto = false;
        }
        for l in &p.lines {
            let o = self.open[l.inv as usize];
            let d = l.deduction.map(|d| d.1).unwrap_or(0);
            let within = if o > 0 {
                l.cents > 0 && l.cents + d <= o
            } else {
                l.cents < 0 && l.cents >= o
            };
            if !within {
                auto = false;
            }
        }
        let conf = Confidence(p.confidence.min(1000));
        if auto {
            for l in &p.lines {
                let d = l.deduction.map(|d| d.1).unwrap_or(0);
                self.open[l.inv as usize] -= l.cents + d;
                self.received[l.inv as usize] += l.cents;
            }
            self.rem[r] -= total;
            self.has_auto[r] = true;
            if !self.profile_frozen {
                self.note_profile(&p);
            }
            if self.suggested[r] {
                self.superseded[r] = true;
            }
            if p.surplus > 0 {
                self.flags.push(Flag::Overpayment {
                    transaction: rec.id.clone(),
                    surplus: from_cents(p.surplus),
                });
            }
            for l in &p.lines {
                let inv = self.ledger.invoices[l.inv as usize];
                let o = self.open[l.inv as usize];
                if l.deduction.is_none() && o > 0 && l.cents > 0 {
                    let instalment = inv.instalments.iter().any(|i| cents(i.amount) == l.cents);
                    self.flags.push(Flag::Partial {
                        transaction: rec.id.clone(),
                        invoice: inv.id.clone(),
                        remaining: from_cents(o),
                        instalment,
                    });
                }
            }
        } else {
            self.suggested[r] = true;
            let mut rank = 1u8;
            for s in std::iter::once(&p).chain(p.alternatives.iter()) {
                self.suggestions.push(Suggestion {
                    transaction: rec.id.clone(),
                    rank,
                    invoices: s
                        .lines
                        .iter()
                        .map(|l| {
                            (
                                self.ledger.invoices[l.inv as usize].id.clone(),
                                from_cents(l.cents),
                            )
                        })
                        .collect(),
                    confidence: Confidence(s.confidence.min(1000)),
                    reason: s.reason.clone(),
                });
                rank = rank.saturating_add(1);
            }
        }
        for l in &p.lines {
            let inv = self.ledger.invoices[l.inv as usize];
            self.out.push(Allocation {
                transaction: rec.id.clone(),
                invoice: inv.id.clone(),
                amount: from_cents(l.cents),
                auto,
                confidence: conf,
                rule: p.rule,
                reason: p.reason.clone(),
                evidence: p.evidence.clone(),
                deduction: l.deduction.map(|(kind, c)| Deduction {
                    kind,
                    amount: from_cents(c),
                }),
            });
        }
        auto
    }

    fn finish(mut self) -> Outcome {
        let mut unmatched = Vec::new();
        for (k, r) in self.receipts.iter().enumerate() {
            if r.is_credit() && !self.returned[k] && !self.has_auto[k] {
                unmatched.push(r.id.clone());
            }
        }
        unmatched.sort();
        unmatched.dedup();
        let superseded: std::collections::HashSet<&crate::ids::TransactionId> = self
            .receipts
            .iter()
            .zip(&self.superseded)
            .filter(|(_, s)| **s)
            .map(|(r, _)| &r.id)
            .collect();
        if !superseded.is_empty() {
            self.out
                .retain(|a| a.auto || !superseded.contains(&a.transaction));
            self.suggestions
                .retain(|s| !superseded.contains(&s.transaction));
        }
        self.out.sort_by(|a, b| {
            a.transaction
                .cmp(&b.transaction)
                .then(a.invoice.cmp(&b.invoice))
                .then(b.auto.cmp(&a.auto))
        });
        self.suggestions
            .sort_by(|a, b| a.transaction.cmp(&b.transaction).then(a.rank.cmp(&b.rank)));
        Outcome {
            allocations: self.out,
            unmatched,
            suggestions: self.suggestions,
            flags: self.flags,
        }
    }
}

/// An id usable to link entries: present and not the SEPA placeholder.
fn usable_id(s: &Option<String>) -> bool {
    s.as_deref()
        .is_some_and(|v| !v.trim().is_empty() && !v.eq_ignore_ascii_case("NOTPROVIDED"))
}

fn tx_index(receipts: &[&Receipt]) -> HashMap<String, usize> {
    let mut m = HashMap::with_capacity(receipts.len());
    for (k, r) in receipts.iter().enumerate() {
        m.entry(r.id.as_str().to_owned()).or_insert(k);
    }
    m
}

/// Reconciles `receipts` against `invoices` (see the module documentation).
///
/// `prior` are the allocations already in force (from earlier runs, automatic or confirmed by
/// a person): they are applied first and not repeated in the outcome. Returns reverse prior
/// allocations of their original credit. The result depends only on the contents of the
/// inputs, not on their order.
pub fn reconcile(
    invoices: &[Invoice],
    customers: &[Customer],
    receipts: &[Receipt],
    prior: &[Allocation],
    policy: &Policy,
) -> Outcome {
    let mut st = State::new(invoices, customers, receipts, policy);
    let by_tx_owned = tx_index(&st.receipts);
    let by_tx: HashMap<&str, usize> = by_tx_owned.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    st.apply_prior(prior, &by_tx);
    st.returns(prior);
    let n = st.receipts.len();
    let mut pending = Vec::new();
    let mut deferred = Vec::new();
    // First sweep: references whose amount is explained (equal, a combination, a deduction
    // no neighbouring invoice could explain better). Partial payments and overpayments wait
    // for the second sweep, so that the neighbours of the referenced invoice that were paid
    // by their own receipts are settled when the typo reading is weighed.
    for r in 0..n {
        if st.rem[r] > 0 && !st.returned[r] {
            match st.reference_pass(r, Stage::First) {
                RefStep::Settled => {
                    st.hits_cache.remove(&r);
                }
                RefStep::Deferred => deferred.push(r),
                RefStep::Open => pending.push(r),
            }
        }
    }
    for r in deferred {
        if st.rem[r] > 0 && st.reference_pass(r, Stage::Second) != RefStep::Settled {
            pending.push(r);
        } else {
            st.hits_cache.remove(&r);
        }
    }
    pending.sort_unstable();
    st.several_receipts_pass();
    // Learn payer IBANs and names from what the reference pass applied (never from within the
    // pass itself, so the order of receipts does not matter).
    let learnt: Vec<(usize, u32)> = st
        .out
        .iter()
        .filter(|a| a.auto && a.rule == Rule::Reference)
        .filter_map(|a| {
            let r = *by_tx.get(a.transaction.as_str())?;
            let i = *st.inv_by_id.get(a.invoice.as_str())?;
            Some((r, i))
        })
        .collect();
    for (r, i) in learnt {
        st.learn(r, i);
    }
    for r in pending {
        if st.rem[r] > 0 {
            st.customer_pass(r);
        }
    }
    // Receipts the customer pass could only read as partial payments (by reference, tolerant
    // reference or, without reference, within the identified customer's items) may be
    // several receipts paying one invoice together.
    st.several_receipts_pass();
    // Partial payments and overpayments next to open invoices the payer could have meant:
    // decided by what the payer's other receipts showed of its typing.
    st.profile_frozen = true;
    let mut late = std::mem::take(&mut st.late);
    late.sort_unstable();
    late.dedup();
    for r in late {
        if st.rem[r] > 0 && !st.has_auto[r] {
            st.reference_pass(r, Stage::Late);
        }
    }
    st.finish()
}

/// See [`super::unapplied_credits_by_customer`].
pub(super) fn unapplied_credits(
    invoices: &[Invoice],
    customers: &[Customer],
    receipts: &[Receipt],
    allocations: &[Allocation],
    policy: &Policy,
) -> BTreeMap<CustomerId, Vec<UnappliedCredit>> {
    let mut st = State::new(invoices, customers, receipts, policy);
    let by_tx_owned = tx_index(&st.receipts);
    let by_tx: HashMap<&str, usize> = by_tx_owned.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let applied: Vec<Allocation> = allocations.iter().filter(|a| a.auto).cloned().collect();
    st.apply_prior(&applied, &by_tx);
    st.returns(&applied);
    let mut attributed: HashMap<usize, Vec<u32>> = HashMap::new();
    for a in &applied {
        if let (Some(&r), Some(&i)) = (
            by_tx.get(a.transaction.as_str()),
            st.inv_by_id.get(a.invoice.as_str()),
        ) {
            let c = st.ledger.inv_cust[i as usize];
            let v = attributed.entry(r).or_default();
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    let mut out: BTreeMap<CustomerId, Vec<UnappliedCredit>> = BTreeMap::new();
    for r in 0..st.receipts.len() {
        if st.rem[r] <= 0 || st.returned[r] {
            continue;
        }
        let rec = st.receipts[r];
        let (custs, is_attr) = match attributed.get(&r) {
            Some(v) => (v.clone(), true),
            None => {
                let mut v: Vec<u32> = st.identify(r).custs.iter().map(|x| x.0).collect();
                for h in st.collect_hits(r) {
                    v.push(st.ledger.inv_cust[h.inv as usize]);
                }
                v.sort_unstable();
                v.dedup();
                (v, false)
            }
        };
        for c in custs {
            out.entry(st.ledger.cust_ids[c as usize].clone())
                .or_default()
                .push(UnappliedCredit {
                    transaction: rec.id.clone(),
                    remaining: from_cents(st.rem[r]),
                    booking_date: rec.booking_date,
                    attributed: is_attr,
                });
        }
    }
    out
}
