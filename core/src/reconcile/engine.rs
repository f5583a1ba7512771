//! The engine: what is shared by a run (the indexed ledger, open amounts after the
//! allocations in force, what people taught), the state of one work unit, the passes in
//! order of strength, and the commit of proposals (automatic or suggested) into an
//! [`Outcome`].
//!
//! A run has four steps. The *prelude* (one thread) indexes the ledger, applies the
//! allocations in force, the returns and the links people confirmed. The *reading* step
//! finds, for each receipt, the references its text carries and the customers it identifies
//! (the costly part, independent receipt by receipt). The *units* step decides the receipts
//! of each independent unit (see [`super::units`]) through the passes. The *final* step
//! proposes, for the receipts still unapplied, the open items of their amount and their
//! probable payments, against the open amounts every unit left. The executor runs the
//! reading, units and final steps; their results are merged in a fixed order.

use super::explain::{Basis, Why};
use super::index::{cents, from_cents, IdxMap, IdxSet, Ledger};
use super::normalise;
use super::strategy::identify::StaticIdent;
use super::strategy::{Hit, N1Cand, Proposal};
use super::units::{chunks, Dsu, Executor, Sequential};
use super::{
    confidence as conf, Allocation, Confidence, Decisions, Deduction, Flag, Input, Outcome, Policy,
    ProbablePayment, Rule, Suggestion, UnappliedCredit,
};
use crate::ids::CustomerId;
use crate::model::{Customer, Invoice, Receipt};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A payer (IBAN, name, mandate) linked to more customers than this is a shared payer (a
/// public treasury, a factor, a payment platform): it no longer identifies a customer.
pub(super) const SHARED_PAYER: usize = 20;

/// Receipts read per work item of the reading and final steps.
const CHUNK: usize = 2048;

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

/// What a receipt's text and payer say, independently of every decision: the references it
/// carries and the customers it identifies without what this run learns.
pub(super) struct Reading {
    pub hits: Vec<Hit>,
    pub ident: StaticIdent,
}

/// What every unit of a run reads and none writes.
pub(super) struct Shared<'a> {
    pub ledger: Ledger<'a>,
    /// Receipts in (booking date, id, …) order; indexes refer to this.
    pub receipts: Vec<&'a Receipt>,
    pub policy: &'a Policy,
    /// Open amount of each invoice (signed cents) after the allocations in force, the
    /// returns and the confirmed links.
    pub open0: Vec<i64>,
    /// Unapplied remainder of each receipt (cents; credits only), likewise.
    pub rem0: Vec<i64>,
    /// Receipts carrying an automatic allocation before this run's decisions.
    pub auto0: Vec<bool>,
    /// Credits reversed by a return.
    pub returned: Vec<bool>,
    pub inv_by_id: HashMap<&'a str, u32>,
    /// Payer IBAN and name → customers, taught by the allocations in force.
    pub taught_iban: HashMap<String, Vec<u32>>,
    pub taught_name: HashMap<String, Vec<u32>>,
    /// Payer IBAN and name → customers, taught by links people confirmed.
    pub confirmed_iban: HashMap<String, Vec<u32>>,
    pub confirmed_name: HashMap<String, Vec<u32>>,
    /// (receipt, invoice) pairs people rejected.
    pub rejected: HashSet<(usize, u32)>,
}

impl<'a> Shared<'a> {
    /// Whether receipt `r` may be proposed for invoice `i` (a person did not reject it).
    pub(super) fn allowed(&self, r: usize, i: u32) -> bool {
        self.rejected.is_empty() || !self.rejected.contains(&(r, i))
    }
}

/// What the prelude decided: returns reversing allocations in force, confirmed links.
struct Prelude {
    out: Vec<Allocation>,
    flags: Vec<Flag>,
}

fn push_learnt(map: &mut HashMap<String, Vec<u32>>, key: String, c: u32) {
    if key.is_empty() {
        return;
    }
    let v = map.entry(key).or_default();
    if v.len() <= SHARED_PAYER && !v.contains(&c) {
        v.push(c);
    }
}

/// The key under which a payer name is learnt: its identity words.
pub(super) fn name_key(name: &str) -> String {
    normalise::name_tokens(name).join(" ")
}

fn usable_id(s: &Option<String>) -> bool {
    s.as_deref()
        .is_some_and(|v| !v.trim().is_empty() && !v.eq_ignore_ascii_case("NOTPROVIDED"))
}

impl<'a> Shared<'a> {
    fn build(input: &Input<'a>, policy: &'a Policy) -> (Self, Prelude) {
        let ledger = Ledger::build(input.invoices, input.customers);
        let mut open0 = vec![0i64; ledger.invoices.len()];
        let mut inv_by_id = HashMap::with_capacity(ledger.invoices.len());
        for (i, inv) in ledger.invoices.iter().enumerate() {
            if inv.status == crate::model::InvoiceStatus::Open {
                open0[i] = cents(inv.signed_open());
            }
            inv_by_id
                .entry(inv.id.as_str())
                .or_insert(u32::try_from(i).unwrap_or(u32::MAX));
        }
        let mut receipts: Vec<&'a Receipt> = input.receipts.iter().collect();
        receipts.sort_by(|a, b| {
            a.booking_date
                .cmp(&b.booking_date)
                .then(a.id.cmp(&b.id))
                .then(a.amount.cmp(&b.amount))
                .then(a.remittance.cmp(&b.remittance))
                .then(a.source.cmp(&b.source))
                .then(a.counterparty_iban.cmp(&b.counterparty_iban))
        });
        let rem0 = receipts
            .iter()
            .map(|r| if r.is_credit() { cents(r.amount) } else { 0 })
            .collect();
        let n = receipts.len();
        let mut sh = Shared {
            ledger,
            receipts,
            policy,
            open0,
            rem0,
            auto0: vec![false; n],
            returned: vec![false; n],
            inv_by_id,
            taught_iban: HashMap::new(),
            taught_name: HashMap::new(),
            confirmed_iban: HashMap::new(),
            confirmed_name: HashMap::new(),
            rejected: HashSet::new(),
        };
        let mut by_tx: HashMap<&'a str, usize> = HashMap::with_capacity(n);
        for (k, r) in sh.receipts.iter().enumerate() {
            by_tx.entry(r.id.as_str()).or_insert(k);
        }
        sh.apply_prior(input.prior, &by_tx);
        let mut pre = Prelude {
            out: Vec::new(),
            flags: Vec::new(),
        };
        sh.returns(input.prior, &mut pre);
        sh.decisions(input.decisions, input.prior, &by_tx, &mut pre);
        (sh, pre)
    }

    /// Teaches that the payer of receipt `r` pays for the customer of invoice `i`.
    fn teach(&mut self, r: usize, i: u32) {
        let c = self.ledger.inv_cust[i as usize];
        let rec = self.receipts[r];
        if let Some(ib) = rec.counterparty_iban.as_deref() {
            push_learnt(&mut self.taught_iban, normalise::iban(ib), c);
        }
        if let Some(n) = rec.counterparty_name.as_deref() {
            push_learnt(&mut self.taught_name, name_key(n), c);
        }
    }

    /// Applies allocations already in force: they reduce open amounts and receipt remainders
    /// and teach payer IBANs and names.
    fn apply_prior(&mut self, prior: &[Allocation], by_tx: &HashMap<&str, usize>) {
        for a in prior {
            let r = by_tx.get(a.transaction.as_str()).copied();
            if let Some(&i) = self.inv_by_id.get(a.invoice.as_str()) {
                let d = a.deduction.map(|d| cents(d.amount)).unwrap_or(0);
                self.open0[i as usize] -= cents(a.amount) + d;
                if let Some(r) = r {
                    if a.amount > Decimal::ZERO || a.rule != Rule::Return {
                        self.teach(r, i);
                    }
                }
            }
            if let Some(r) = r {
                if self.receipts[r].is_credit() {
                    self.rem0[r] -= cents(a.amount);
                    self.auto0[r] = true;
                }
            }
        }
    }

    /// Returns and reversals: find the original credit, reverse what it settled (prior
    /// allocations) or keep it from being matched (same batch), and flag it for dunning.
    fn returns(&mut self, prior: &[Allocation], pre: &mut Prelude) {
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
                pre.flags.push(Flag::ReturnUnlinked {
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
                        self.open0[i as usize] += cents(a.amount) + d;
                    }
                    reopened.push(a.invoice.clone());
                    pre.out.push(Allocation {
                        transaction: r.id.clone(),
                        invoice: a.invoice.clone(),
                        amount: -a.amount,
                        auto: true,
                        confidence: Confidence(conf::RETURN),
                        rule: Rule::Return,
                        deduction: a.deduction.map(|d| Deduction {
                            kind: d.kind,
                            amount: -d.amount,
                        }),
                        why: Arc::new(Why {
                            received: r.amount,
                            basis: Basis::Return {
                                original: orig.id.clone(),
                                code: r.return_reason.clone(),
                                reversed: a.amount,
                            },
                            evidence: Vec::new(),
                            foreign: false,
                        }),
                    });
                }
            }
            self.rem0[o] = 0;
            pre.flags.push(Flag::Return {
                transaction: r.id.clone(),
                original: orig.id.clone(),
                reopened,
                reason: r.return_reason.clone(),
            });
        }
    }

    /// What people decided: confirmed links are applied (when not in force already) and
    /// teach the payer's IBAN and name for the customer; rejected pairs are never proposed.
    fn decisions(
        &mut self,
        d: &Decisions,
        prior: &[Allocation],
        by_tx: &HashMap<&str, usize>,
        pre: &mut Prelude,
    ) {
        for x in &d.rejected {
            if let (Some(&r), Some(&i)) = (
                by_tx.get(x.transaction.as_str()),
                self.inv_by_id.get(x.invoice.as_str()),
            ) {
                self.rejected.insert((r, i));
            }
        }
        let in_force: HashSet<(&str, &str)> = prior
            .iter()
            .filter(|a| a.auto)
            .map(|a| (a.transaction.as_str(), a.invoice.as_str()))
            .collect();
        for link in &d.confirmed {
            let Some(&i) = self.inv_by_id.get(link.invoice.as_str()) else {
                continue;
            };
            let c = self.ledger.inv_cust[i as usize];
            let r = by_tx.get(link.transaction.as_str()).copied();
            let rec = r.map(|r| self.receipts[r]);
            let iban = rec
                .and_then(|x| x.counterparty_iban.as_deref())
                .or(link.payer_iban.as_deref());
            let name = rec
                .and_then(|x| x.counterparty_name.as_deref())
                .or(link.payer_name.as_deref());
            if let Some(ib) = iban {
                push_learnt(&mut self.confirmed_iban, normalise::iban(ib), c);
            }
            if let Some(n) = name {
                push_learnt(&mut self.confirmed_name, name_key(n), c);
            }
            let Some(r) = r else { continue };
            if in_force.contains(&(link.transaction.as_str(), link.invoice.as_str()))
                || self.returned[r]
                || !self.receipts[r].is_credit()
            {
                continue;
            }
            let o = self.open0[i as usize];
            let want = cents(link.amount);
            let take = if o >= 0 {
                want.min(o).min(self.rem0[r])
            } else {
                // A credit note netted: the person's (negative) amount, within what is open.
                want.max(o)
            };
            if take == 0 || (o > 0 && take < 0) {
                continue;
            }
            self.open0[i as usize] -= take;
            self.rem0[r] -= take;
            self.auto0[r] = true;
            pre.out.push(Allocation {
                transaction: link.transaction.clone(),
                invoice: link.invoice.clone(),
                amount: from_cents(take),
                auto: true,
                confidence: Confidence(conf::CONFIRMED),
                rule: Rule::Confirmed,
                deduction: None,
                why: Arc::new(Why {
                    received: self.receipts[r].amount,
                    basis: Basis::Confirmed,
                    evidence: Vec::new(),
                    foreign: false,
                }),
            });
        }
    }
}

/// One independent unit: its receipts (in run order), the customers whose items they may
/// settle, and what was read of each receipt.
pub(super) struct Unit {
    pub receipts: Vec<usize>,
    pub customers: Vec<u32>,
    pub readings: Vec<Reading>,
}

/// What a unit decided, merged into the outcome.
pub(super) struct UnitOut {
    pub out: Vec<Allocation>,
    pub suggestions: Vec<Suggestion>,
    pub flags: Vec<Flag>,
    /// Open amounts and remainders it changed.
    pub open: Vec<(u32, i64)>,
    pub rem: Vec<(usize, i64)>,
    /// Receipts it applied (in whole or in part).
    pub applied: Vec<usize>,
    /// Receipts without any proposal of their own: open items of their amount are proposed
    /// in the final step.
    pub amount_only: Vec<usize>,
    /// Receipts still unapplied, with what was read of them and who they identify (for the
    /// probable payments).
    pub unapplied: Vec<(usize, Reading, Vec<u32>)>,
}

/// The mutable state of one unit.
pub(super) struct Run<'s, 'a> {
    pub sh: &'s Shared<'a>,
    pub customers: &'s [u32],
    pub readings: IdxMap<usize, &'s Reading>,
    open: IdxMap<u32, i64>,
    rem: IdxMap<usize, i64>,
    received: IdxMap<u32, i64>,
    has_auto: IdxSet<usize>,
    pub learnt_iban: HashMap<String, Vec<u32>>,
    pub learnt_name: HashMap<String, Vec<u32>>,
    pub out: Vec<Allocation>,
    pub suggestions: Vec<Suggestion>,
    pub flags: Vec<Flag>,
    /// Invoices a receipt not applied alone may pay together with others (N:1): filled by
    /// the reference and customer passes, read by the several-receipts pass.
    pub n1: Vec<N1Cand>,
    /// Receipts that got suggestions, and those of them later applied (their suggestions
    /// are dropped from the outcome).
    pub suggested: IdxSet<usize>,
    pub superseded: IdxSet<usize>,
    /// Receipts whose partial or overpayment reading waits for the payer's profile.
    pub late: Vec<usize>,
    /// Set when the late stage begins: the profile no longer changes.
    pub profile_frozen: bool,
    /// Per customer, what its receipts of this run showed before the late stage: (an
    /// automatic allocation by its exact invoice number, one by a mistyped reference).
    pub profile: IdxMap<u32, (bool, bool)>,
    /// Receipts whose references the reference pass found and did not settle.
    pub hits_cache: IdxSet<usize>,
    /// Receipts for which the customer pass found no proposal of its own.
    pub amount_only: Vec<usize>,
}

impl<'s, 'a> Run<'s, 'a> {
    pub(super) fn new(sh: &'s Shared<'a>, unit: &'s Unit) -> Self {
        let mut readings = IdxMap::default();
        for (k, &r) in unit.receipts.iter().enumerate() {
            readings.insert(r, &unit.readings[k]);
        }
        Run {
            sh,
            customers: &unit.customers,
            readings,
            open: IdxMap::default(),
            rem: IdxMap::default(),
            received: IdxMap::default(),
            has_auto: IdxSet::default(),
            learnt_iban: HashMap::new(),
            learnt_name: HashMap::new(),
            out: Vec::new(),
            suggestions: Vec::new(),
            flags: Vec::new(),
            n1: Vec::new(),
            suggested: IdxSet::default(),
            superseded: IdxSet::default(),
            late: Vec::new(),
            profile_frozen: false,
            profile: IdxMap::default(),
            hits_cache: IdxSet::default(),
            amount_only: Vec::new(),
        }
    }

    /// Open amount of invoice `i` (signed cents).
    pub(super) fn open(&self, i: u32) -> i64 {
        self.open
            .get(&i)
            .copied()
            .unwrap_or(self.sh.open0[i as usize])
    }

    /// Unapplied remainder of receipt `r` (cents).
    pub(super) fn rem(&self, r: usize) -> i64 {
        self.rem.get(&r).copied().unwrap_or(self.sh.rem0[r])
    }

    /// What this run applied automatically to invoice `i` (cents, deductions excluded).
    pub(super) fn received(&self, i: u32) -> i64 {
        self.received.get(&i).copied().unwrap_or(0)
    }

    /// Whether receipt `r` carries an automatic allocation.
    pub(super) fn has_auto(&self, r: usize) -> bool {
        self.sh.auto0[r] || self.has_auto.contains(&r)
    }

    pub(super) fn rec(&self, r: usize) -> &'a Receipt {
        self.sh.receipts[r]
    }

    pub(super) fn inv(&self, i: u32) -> &'a Invoice {
        self.sh.ledger.invoices[i as usize]
    }

    pub(super) fn cust_of(&self, i: u32) -> u32 {
        self.sh.ledger.inv_cust[i as usize]
    }

    pub(super) fn policy(&self) -> &'a Policy {
        self.sh.policy
    }

    /// Whether invoice `i` belongs to this unit (always so for what the strategies find; a
    /// guard, so that two units never decide on one invoice).
    fn in_unit(&self, i: u32) -> bool {
        self.customers.binary_search(&self.cust_of(i)).is_ok()
    }

    /// Learns that the payer of receipt `r` pays for the customer of invoice `i`.
    pub(super) fn learn(&mut self, r: usize, i: u32) {
        let c = self.cust_of(i);
        let rec = self.rec(r);
        if let Some(ib) = rec.counterparty_iban.as_deref() {
            let k = normalise::iban(ib);
            if !k.is_empty() {
                let base = self.sh.taught_iban.get(&k);
                let v = self
                    .learnt_iban
                    .entry(k)
                    .or_insert_with(|| base.cloned().unwrap_or_default());
                if v.len() <= SHARED_PAYER && !v.contains(&c) {
                    v.push(c);
                }
            }
        }
        if let Some(n) = rec.counterparty_name.as_deref() {
            let k = name_key(n);
            if !k.is_empty() {
                let base = self.sh.taught_name.get(&k);
                let v = self
                    .learnt_name
                    .entry(k)
                    .or_insert_with(|| base.cloned().unwrap_or_default());
                if v.len() <= SHARED_PAYER && !v.contains(&c) {
                    v.push(c);
                }
            }
        }
    }

    /// Customers the payer IBAN `key` is learnt for (allocations in force and this run).
    pub(super) fn learnt_iban_of(&self, key: &str) -> Option<&Vec<u32>> {
        self.learnt_iban
            .get(key)
            .or_else(|| self.sh.taught_iban.get(key))
    }

    /// Customers the payer name `key` is learnt for.
    pub(super) fn learnt_name_of(&self, key: &str) -> Option<&Vec<u32>> {
        self.learnt_name
            .get(key)
            .or_else(|| self.sh.taught_name.get(key))
    }

    /// Notes what an applied proposal shows of the payer's habits: an exact invoice number,
    /// or a mistyped one.
    fn note_profile(&mut self, p: &Proposal) {
        let exact = p.rule == Rule::Reference
            && p.why.evidence.iter().any(|e| {
                matches!(
                    e,
                    super::Evidence::Reference {
                        kind: super::RefKind::InvoiceNumber | super::RefKind::CreditorReference,
                        distance: 0,
                        ..
                    }
                )
            });
        let typo = p.rule == Rule::TolerantReference
            && p.why.evidence.iter().any(|e| {
                matches!(
                    e,
                    super::Evidence::Reference {
                        kind: super::RefKind::Tolerant,
                        distance: 1..,
                        ..
                    }
                )
            });
        for l in &p.lines {
            let c = self.cust_of(l.inv);
            let e = self.profile.entry(c).or_default();
            if exact {
                e.0 = true;
            }
            if typo {
                e.1 = true;
            }
        }
    }

    /// Records a proposal: applied when eligible and confident enough and within what is open
    /// and received; otherwise proposed.
    pub(super) fn commit(&mut self, r: usize, p: Proposal) -> bool {
        if p.lines.iter().any(|l| !self.sh.allowed(r, l.inv)) {
            // A person rejected one of its pairs: neither applied nor proposed again.
            return false;
        }
        let rec = self.rec(r);
        let mut auto = p.eligible && p.confidence >= self.policy().auto_threshold;
        let total: i64 = p.lines.iter().map(|l| l.cents).sum();
        if total > self.rem(r) || total <= 0 {
            auto = false;
        }
        for l in &p.lines {
            let o = self.open(l.inv);
            let d = l.deduction.map(|d| d.1).unwrap_or(0);
            let within = if o > 0 {
                l.cents > 0 && l.cents + d <= o
            } else {
                l.cents < 0 && l.cents >= o
            };
            if !within || !self.in_unit(l.inv) {
                auto = false;
            }
        }
        let conf = Confidence(p.confidence.min(1000));
        if auto {
            for l in &p.lines {
                let d = l.deduction.map(|d| d.1).unwrap_or(0);
                let o = self.open(l.inv);
                self.open.insert(l.inv, o - l.cents - d);
                let got = self.received(l.inv);
                self.received.insert(l.inv, got + l.cents);
            }
            let left = self.rem(r) - total;
            self.rem.insert(r, left);
            self.has_auto.insert(r);
            if !self.profile_frozen {
                self.note_profile(&p);
            }
            if self.suggested.contains(&r) {
                self.superseded.insert(r);
            }
            if p.surplus > 0 {
                self.flags.push(Flag::Overpayment {
                    transaction: rec.id.clone(),
                    surplus: from_cents(p.surplus),
                });
            }
            for l in &p.lines {
                let inv = self.inv(l.inv);
                let o = self.open(l.inv);
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
            self.suggested.insert(r);
            let mut rank = 1u8;
            for s in std::iter::once(&p).chain(p.alternatives.iter()) {
                if s.lines.iter().any(|l| !self.sh.allowed(r, l.inv)) {
                    continue;
                }
                self.suggestions.push(Suggestion {
                    transaction: rec.id.clone(),
                    rank,
                    invoices: s
                        .lines
                        .iter()
                        .map(|l| (self.inv(l.inv).id.clone(), from_cents(l.cents)))
                        .collect(),
                    confidence: Confidence(s.confidence.min(1000)),
                    rule: s.rule,
                    why: Arc::new(s.why.clone()),
                });
                rank = rank.saturating_add(1);
            }
        }
        let why = Arc::new(p.why);
        for l in &p.lines {
            let inv = self.inv(l.inv);
            self.out.push(Allocation {
                transaction: rec.id.clone(),
                invoice: inv.id.clone(),
                amount: from_cents(l.cents),
                auto,
                confidence: conf,
                rule: p.rule,
                deduction: l.deduction.map(|(kind, c)| Deduction {
                    kind,
                    amount: from_cents(c),
                }),
                why: Arc::clone(&why),
            });
        }
        auto
    }

    /// The passes over the unit's receipts, in order of strength.
    fn decide(&mut self, receipts: &[usize]) {
        let mut pending = Vec::new();
        let mut deferred = Vec::new();
        // First sweep: references whose amount is explained (equal, a combination, a
        // deduction no neighbouring invoice could explain better). Partial payments and
        // overpayments wait for the second sweep, so that the neighbours of the referenced
        // invoice that were paid by their own receipts are settled when the typo reading is
        // weighed.
        for &r in receipts {
            if self.rem(r) > 0 && !self.sh.returned[r] {
                match self.reference_pass(r, Stage::First) {
                    RefStep::Settled => {
                        self.hits_cache.remove(&r);
                    }
                    RefStep::Deferred => deferred.push(r),
                    RefStep::Open => pending.push(r),
                }
            }
        }
        for r in deferred {
            if self.rem(r) > 0 && self.reference_pass(r, Stage::Second) != RefStep::Settled {
                pending.push(r);
            } else {
                self.hits_cache.remove(&r);
            }
        }
        pending.sort_unstable();
        self.several_receipts_pass();
        // Learn payer IBANs and names from what the reference pass applied (never from
        // within the pass itself, so the order of receipts does not matter).
        let learnt: Vec<(usize, u32)> = {
            let by_tx: HashMap<&str, usize> = receipts
                .iter()
                .map(|&r| (self.rec(r).id.as_str(), r))
                .collect();
            self.out
                .iter()
                .filter(|a| a.auto && a.rule == Rule::Reference)
                .filter_map(|a| {
                    let r = *by_tx.get(a.transaction.as_str())?;
                    let i = *self.sh.inv_by_id.get(a.invoice.as_str())?;
                    Some((r, i))
                })
                .collect()
        };
        for (r, i) in learnt {
            self.learn(r, i);
        }
        for r in pending {
            if self.rem(r) > 0 {
                self.customer_pass(r);
            }
        }
        // Receipts the customer pass could only read as partial payments (by reference,
        // tolerant reference or, without reference, within the identified customer's items)
        // may be several receipts paying one invoice together.
        self.several_receipts_pass();
        // Partial payments and overpayments next to open invoices the payer could have
        // meant: decided by what the payer's other receipts showed of its typing.
        self.profile_frozen = true;
        let mut late = std::mem::take(&mut self.late);
        late.sort_unstable();
        late.dedup();
        for r in late {
            if self.rem(r) > 0 && !self.has_auto(r) {
                self.reference_pass(r, Stage::Late);
            }
        }
    }

    /// The unit's decisions, suggestions of receipts applied later dropped.
    fn finish(mut self) -> UnitOut {
        if !self.superseded.is_empty() {
            let superseded: HashSet<&crate::ids::TransactionId> = self
                .superseded
                .iter()
                .map(|&r| &self.sh.receipts[r].id)
                .collect();
            self.out
                .retain(|a| a.auto || !superseded.contains(&a.transaction));
            self.suggestions
                .retain(|s| !superseded.contains(&s.transaction));
        }
        let amount_only: Vec<usize> = self
            .amount_only
            .iter()
            .copied()
            .filter(|&r| !self.has_auto(r) && !self.suggested.contains(&r))
            .collect();
        let mut open: Vec<(u32, i64)> = self.open.iter().map(|(&i, &v)| (i, v)).collect();
        open.sort_unstable();
        let mut rem: Vec<(usize, i64)> = self.rem.iter().map(|(&r, &v)| (r, v)).collect();
        rem.sort_unstable();
        let mut applied: Vec<usize> = self.has_auto.iter().copied().collect();
        applied.sort_unstable();
        UnitOut {
            out: self.out,
            suggestions: self.suggestions,
            flags: self.flags,
            open,
            rem,
            applied,
            amount_only,
            unapplied: Vec::new(),
        }
    }
}

/// Reads every receipt the units will decide (the references in its text, the customers it
/// identifies), on the executor.
fn read_all<E: Executor>(sh: &Shared<'_>, exec: &E) -> Vec<Option<Reading>> {
    let n = sh.receipts.len();
    let parts = exec.map(chunks(n, CHUNK), |range| {
        range
            .map(|r| {
                (sh.rem0[r] > 0 && !sh.returned[r]).then(|| Reading {
                    hits: super::strategy::reference::collect_hits(sh, r),
                    ident: super::strategy::identify::static_ident(sh, r),
                })
            })
            .collect::<Vec<_>>()
    });
    parts.into_iter().flatten().collect()
}

/// Cuts the receipts to decide into independent units (see [`super::units`]).
fn partition(sh: &Shared<'_>, mut readings: Vec<Option<Reading>>) -> Vec<Unit> {
    let nc = sh.ledger.cust_ids.len();
    // Nodes: customers, then payer keys (IBAN, learnt name) as they come.
    let mut keys: HashMap<u64, u32> = HashMap::new();
    let mut edges: Vec<(usize, Vec<u32>)> = Vec::new();
    let mut next = u32::try_from(nc).unwrap_or(u32::MAX);
    let mut key_node = |h: u64| -> u32 {
        *keys.entry(h).or_insert_with(|| {
            let k = next;
            next += 1;
            k
        })
    };
    for (r, reading) in readings.iter().enumerate() {
        let Some(reading) = reading else { continue };
        let rec = sh.receipts[r];
        let mut nodes: Vec<u32> = Vec::new();
        for h in &reading.hits {
            nodes.push(sh.ledger.inv_cust[h.inv as usize]);
        }
        reading.ident.customers(&mut nodes);
        // What the allocations in force and people taught about this payer.
        let iban_key = rec.counterparty_iban.as_deref().map(normalise::iban);
        let name = rec.counterparty_name.as_deref().map(name_key);
        for (map, key) in [
            (&sh.taught_iban, iban_key.as_deref()),
            (&sh.confirmed_iban, iban_key.as_deref()),
            (&sh.taught_name, name.as_deref()),
            (&sh.confirmed_name, name.as_deref()),
        ] {
            if let Some(v) = key.and_then(|k| map.get(k)) {
                nodes.extend(v);
            }
        }
        if let Some(ib) = rec.counterparty_iban.as_deref() {
            let k = normalise::iban(ib);
            if !k.is_empty() {
                nodes.push(key_node(
                    super::index::key_hash(super::index::Ns::Number, &k) ^ 1,
                ));
            }
        }
        if let Some(n) = rec.counterparty_name.as_deref() {
            let k = name_key(n);
            if !k.is_empty() {
                nodes.push(key_node(
                    super::index::key_hash(super::index::Ns::Number, &k) ^ 2,
                ));
            }
        }
        nodes.sort_unstable();
        nodes.dedup();
        edges.push((r, nodes));
    }
    let mut dsu = Dsu::new(next as usize);
    for (_, nodes) in &edges {
        for w in nodes.windows(2) {
            dsu.union(w[0], w[1]);
        }
    }
    // Group receipts by component, in run order; a receipt with no node is a unit alone.
    let mut unit_of_root: HashMap<u32, usize> = HashMap::new();
    let mut units: Vec<Unit> = Vec::new();
    for (r, nodes) in edges {
        let Some(reading) = readings[r].take() else {
            continue;
        };
        let u = match nodes.first() {
            Some(&n0) => {
                let root = dsu.find(n0);
                *unit_of_root.entry(root).or_insert_with(|| {
                    units.push(Unit {
                        receipts: Vec::new(),
                        customers: Vec::new(),
                        readings: Vec::new(),
                    });
                    units.len() - 1
                })
            }
            None => {
                units.push(Unit {
                    receipts: Vec::new(),
                    customers: Vec::new(),
                    readings: Vec::new(),
                });
                units.len() - 1
            }
        };
        units[u].receipts.push(r);
        units[u].readings.push(reading);
    }
    for c in 0..nc {
        let c = u32::try_from(c).unwrap_or(u32::MAX);
        if let Some(&u) = unit_of_root.get(&dsu.find(c)) {
            units[u].customers.push(c);
        }
    }
    units
}

/// Decides one unit.
fn run_unit(sh: &Shared<'_>, unit: Unit) -> UnitOut {
    let mut run = Run::new(sh, &unit);
    run.decide(&unit.receipts);
    // Who the unapplied receipts identify, with what the unit learnt.
    let idents: Vec<Option<Vec<u32>>> = unit
        .receipts
        .iter()
        .map(|&r| {
            (run.rem(r) > 0).then(|| {
                let mut v: Vec<u32> = run.identify(r).custs.iter().map(|x| x.0).collect();
                v.dedup();
                v
            })
        })
        .collect();
    let mut o = run.finish();
    for ((r, reading), ident) in unit.receipts.into_iter().zip(unit.readings).zip(idents) {
        if let Some(ident) = ident {
            o.unapplied.push((r, reading, ident));
        }
    }
    o
}

/// Reconciles `receipts` against `invoices` (see the module documentation of
/// [`super`]), on the caller's thread, with no decisions of people.
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
    let decisions = Decisions::default();
    reconcile_with(
        &Input {
            invoices,
            customers,
            receipts,
            prior,
            decisions: &decisions,
        },
        policy,
        &Sequential,
    )
}

/// Reconciles the input with people's decisions, running independent work on `exec` (see
/// [`super::units`]). The outcome is the same for every executor.
pub fn reconcile_with<E: Executor>(input: &Input<'_>, policy: &Policy, exec: &E) -> Outcome {
    let (sh, prelude) = Shared::build(input, policy);
    let readings = read_all(&sh, exec);
    let units = partition(&sh, readings);
    let outs = exec.map(units, |u| run_unit(&sh, u));
    // Merge: units are disjoint in receipts and invoices.
    let mut open = sh.open0.clone();
    let mut rem = sh.rem0.clone();
    let mut applied = sh.auto0.clone();
    let mut allocations = prelude.out;
    let mut suggestions = Vec::new();
    let mut flags = prelude.flags;
    let mut amount_only = Vec::new();
    let mut unapplied = Vec::new();
    for o in outs {
        for (i, v) in o.open {
            open[i as usize] = v;
        }
        for (r, v) in o.rem {
            rem[r] = v;
        }
        for r in o.applied {
            applied[r] = true;
        }
        allocations.extend(o.out);
        suggestions.extend(o.suggestions);
        flags.extend(o.flags);
        amount_only.extend(o.amount_only);
        unapplied.extend(o.unapplied);
    }
    amount_only.sort_unstable();
    unapplied.sort_by_key(|x| x.0);
    // Final step: against what every unit left open.
    let fin = super::strategy::Final {
        sh: &sh,
        open: &open,
        rem: &rem,
    };
    let amount_only_set: HashSet<usize> = amount_only.iter().copied().collect();
    let work: Vec<Vec<(usize, Reading, Vec<u32>)>> = {
        let mut v: Vec<Vec<(usize, Reading, Vec<u32>)>> = Vec::new();
        let mut cur = Vec::new();
        for x in unapplied {
            cur.push(x);
            if cur.len() == CHUNK {
                v.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            v.push(cur);
        }
        v
    };
    let finals = exec.map(work, |items| {
        let mut allocs = Vec::new();
        let mut sugg = Vec::new();
        let mut probable = Vec::new();
        for (r, reading, ident) in items {
            if amount_only_set.contains(&r) {
                fin.amount_only(r, &mut allocs, &mut sugg);
            }
            fin.probable(r, &reading, &ident, &mut probable);
        }
        (allocs, sugg, probable)
    });
    let mut probable_payments: Vec<ProbablePayment> = Vec::new();
    for (a, s, p) in finals {
        allocations.extend(a);
        suggestions.extend(s);
        probable_payments.extend(p);
    }
    let mut unmatched = Vec::new();
    for (k, r) in sh.receipts.iter().enumerate() {
        if r.is_credit() && !sh.returned[k] && !applied[k] {
            unmatched.push(r.id.clone());
        }
    }
    unmatched.sort();
    unmatched.dedup();
    allocations.sort_by(|a, b| {
        a.transaction
            .cmp(&b.transaction)
            .then(a.invoice.cmp(&b.invoice))
            .then(b.auto.cmp(&a.auto))
    });
    suggestions.sort_by(|a, b| a.transaction.cmp(&b.transaction).then(a.rank.cmp(&b.rank)));
    flags.sort_by(|a, b| flag_key(a).cmp(&flag_key(b)));
    probable_payments.sort_by(|a, b| {
        a.invoice
            .cmp(&b.invoice)
            .then(a.booking_date.cmp(&b.booking_date))
            .then(a.transaction.cmp(&b.transaction))
    });
    let _ = rem;
    Outcome {
        allocations,
        unmatched,
        suggestions,
        flags,
        probable_payments,
    }
}

/// Flags in transaction order (a stable sort keeps the order of one receipt's flags).
fn flag_key(f: &Flag) -> &str {
    match f {
        Flag::Overpayment { transaction, .. }
        | Flag::Duplicate { transaction, .. }
        | Flag::Partial { transaction, .. }
        | Flag::Return { transaction, .. }
        | Flag::ReturnUnlinked { transaction } => transaction.as_str(),
    }
}

/// See [`super::unapplied_credits_by_customer`].
pub(super) fn unapplied_credits(
    invoices: &[Invoice],
    customers: &[Customer],
    receipts: &[Receipt],
    allocations: &[Allocation],
    policy: &Policy,
) -> BTreeMap<CustomerId, Vec<UnappliedCredit>> {
    let applied: Vec<Allocation> = allocations.iter().filter(|a| a.auto).cloned().collect();
    let decisions = Decisions::default();
    let input = Input {
        invoices,
        customers,
        receipts,
        prior: &applied,
        decisions: &decisions,
    };
    let (sh, _) = Shared::build(&input, policy);
    let mut by_tx: HashMap<&str, usize> = HashMap::new();
    for (k, r) in sh.receipts.iter().enumerate() {
        by_tx.entry(r.id.as_str()).or_insert(k);
    }
    let mut attributed: HashMap<usize, Vec<u32>> = HashMap::new();
    for a in &applied {
        if let (Some(&r), Some(&i)) = (
            by_tx.get(a.transaction.as_str()),
            sh.inv_by_id.get(a.invoice.as_str()),
        ) {
            let c = sh.ledger.inv_cust[i as usize];
            let v = attributed.entry(r).or_default();
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    let empty = Unit {
        receipts: Vec::new(),
        customers: Vec::new(),
        readings: Vec::new(),
    };
    let mut out: BTreeMap<CustomerId, Vec<UnappliedCredit>> = BTreeMap::new();
    for r in 0..sh.receipts.len() {
        if sh.rem0[r] <= 0 || sh.returned[r] {
            continue;
        }
        let rec = sh.receipts[r];
        let (custs, is_attr) = match attributed.get(&r) {
            Some(v) => (v.clone(), true),
            None => {
                let reading = Reading {
                    hits: super::strategy::reference::collect_hits(&sh, r),
                    ident: super::strategy::identify::static_ident(&sh, r),
                };
                let mut run = Run::new(&sh, &empty);
                run.readings.insert(r, &reading);
                let mut v: Vec<u32> = run.identify(r).custs.iter().map(|x| x.0).collect();
                for h in &reading.hits {
                    v.push(sh.ledger.inv_cust[h.inv as usize]);
                }
                v.sort_unstable();
                v.dedup();
                (v, false)
            }
        };
        for c in custs {
            out.entry(sh.ledger.cust_ids[c as usize].clone())
                .or_default()
                .push(UnappliedCredit {
                    transaction: rec.id.clone(),
                    remaining: from_cents(sh.rem0[r]),
                    booking_date: rec.booking_date,
                    attributed: is_attr,
                });
        }
    }
    out
}
