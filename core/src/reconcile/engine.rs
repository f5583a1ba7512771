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

use super::explain::{Basis, Reversal, Why};
use super::index::{cents, from_cents, IdxMap, IdxSet, Ledger};
use super::normalise;
use super::strategy::reading::{
    iban_key, payer_name_key, read, Near, Reading, Readings, TextFlags, View,
};
use super::strategy::{N1Cand, Proposal};
use super::units::{Dsu, Executor, Sequential};
use super::{
    confidence as conf, Allocation, Confidence, Decisions, Deduction, Flag, Input, Outcome, Policy,
    ProbablePayment, Rule, Suggestion, UnappliedCredit,
};
use crate::ids::CustomerId;
use crate::model::{Customer, Invoice, Receipt};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU8};
use std::sync::Mutex;

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
    /// Payer IBAN and name (keys, see [`iban_key`]) → customers, taught by the allocations
    /// in force.
    pub taught_iban: HashMap<u64, Vec<u32>>,
    pub taught_name: HashMap<u64, Vec<u32>>,
    /// Payer IBAN and name → customers, taught by links people confirmed.
    pub confirmed_iban: HashMap<u64, Vec<u32>>,
    pub confirmed_name: HashMap<u64, Vec<u32>>,
    /// (receipt, invoice) pairs people rejected.
    pub rejected: HashSet<(usize, u32)>,
}

impl<'a> Shared<'a> {
    /// Whether receipt `r` may be proposed for invoice `i` (a person did not reject it).
    pub(super) fn allowed(&self, r: usize, i: u32) -> bool {
        self.rejected.is_empty() || !self.rejected.contains(&(r, i))
    }

    /// The customers the allocations in force and people taught for a payer's IBAN and
    /// name keys.
    pub(super) fn taught_customers(&self, iban: u64, name: u64, out: &mut Vec<u32>) {
        for (map, key) in [
            (&self.taught_iban, iban),
            (&self.confirmed_iban, iban),
            (&self.taught_name, name),
            (&self.confirmed_name, name),
        ] {
            if key != 0 {
                if let Some(v) = map.get(&key) {
                    out.extend(v);
                }
            }
        }
    }
}

/// What the prelude decided: returns reversing allocations in force, confirmed links.
struct Prelude {
    out: Vec<Allocation>,
    flags: Vec<Flag>,
}

/// Receipts by their bank id: the run's positions sorted by id (4 bytes a receipt).
struct TxIndex(Vec<u32>);

impl TxIndex {
    fn new(receipts: &[&Receipt]) -> Self {
        let mut v: Vec<u32> = (0..receipts.len())
            .map(|k| u32::try_from(k).unwrap_or(u32::MAX))
            .collect();
        v.sort_by(|&a, &b| {
            receipts[a as usize]
                .id
                .cmp(&receipts[b as usize].id)
                .then(a.cmp(&b))
        });
        TxIndex(v)
    }

    /// The first receipt (in run order) with this id.
    fn get(&self, receipts: &[&Receipt], id: &str) -> Option<usize> {
        let k = self
            .0
            .partition_point(|&x| receipts[x as usize].id.as_str() < id);
        let x = *self.0.get(k)? as usize;
        (receipts[x].id.as_str() == id).then_some(x)
    }
}

fn push_learnt(map: &mut HashMap<u64, Vec<u32>>, key: u64, c: u32) {
    if key == 0 {
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
        for (i, inv) in ledger.invoices.iter().enumerate() {
            if inv.status == crate::model::InvoiceStatus::Open {
                open0[i] = cents(inv.signed_open());
            }
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
            taught_iban: HashMap::new(),
            taught_name: HashMap::new(),
            confirmed_iban: HashMap::new(),
            confirmed_name: HashMap::new(),
            rejected: HashSet::new(),
        };
        let by_tx = if input.prior.is_empty() && input.decisions == &Decisions::default() {
            TxIndex(Vec::new())
        } else {
            TxIndex::new(&sh.receipts)
        };
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
        push_learnt(
            &mut self.taught_iban,
            iban_key(rec.counterparty_iban.as_deref()),
            c,
        );
        push_learnt(
            &mut self.taught_name,
            payer_name_key(rec.counterparty_name.as_deref()),
            c,
        );
    }

    /// Applies allocations already in force: they reduce open amounts and receipt remainders
    /// and teach payer IBANs and names.
    fn apply_prior(&mut self, prior: &[Allocation], by_tx: &TxIndex) {
        for a in prior {
            let r = by_tx.get(&self.receipts, a.transaction.as_str());
            if let Some(i) = self.ledger.invoice_index(a.invoice.as_str()) {
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
        // The credits of the amounts returned, by amount (a statement has few returns).
        let mut returned_amounts: Vec<i64> = self
            .receipts
            .iter()
            .filter(|r| r.is_return())
            .map(|r| cents(r.amount.abs()))
            .collect();
        if returned_amounts.is_empty() {
            return;
        }
        returned_amounts.sort_unstable();
        returned_amounts.dedup();
        let mut credits_by_amount: Vec<(i64, usize)> = self
            .receipts
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.is_credit() && returned_amounts.binary_search(&cents(r.amount)).is_ok()
            })
            .map(|(k, r)| (cents(r.amount), k))
            .collect();
        credits_by_amount.sort_unstable();
        // The allocations in force, by transaction (sorted, searched).
        let mut prior_by_tx: Vec<&Allocation> = prior.iter().collect();
        prior_by_tx.sort_by(|a, b| a.transaction.cmp(&b.transaction));
        let prior_of = |id: &str| -> &[&Allocation] {
            let from = prior_by_tx.partition_point(|a| a.transaction.as_str() < id);
            let to = from + prior_by_tx[from..].partition_point(|a| a.transaction.as_str() == id);
            &prior_by_tx[from..to]
        };
        for k in 0..self.receipts.len() {
            let r = self.receipts[k];
            if !r.is_return() || !prior_of(r.id.as_str()).is_empty() {
                continue;
            }
            let amount = cents(r.amount.abs());
            let mut best: Option<(u8, usize)> = None;
            let from = credits_by_amount.partition_point(|x| x.0 < amount);
            for &(_, o) in credits_by_amount[from..]
                .iter()
                .take_while(|x| x.0 == amount)
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
            let allocs = prior_of(orig.id.as_str());
            if !allocs.is_empty() {
                let mut allocs = allocs.to_vec();
                allocs.sort_by(|a, b| a.invoice.cmp(&b.invoice));
                for a in allocs {
                    if let Some(i) = self.ledger.invoice_index(a.invoice.as_str()) {
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
                        why: Why::new(
                            r.amount,
                            Basis::Return(Box::new(Reversal {
                                original: orig.id.clone(),
                                code: r.return_reason.clone(),
                                reversed: a.amount,
                            })),
                            &[],
                            false,
                        ),
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
        by_tx: &TxIndex,
        pre: &mut Prelude,
    ) {
        for x in &d.rejected {
            if let (Some(&r), Some(&i)) = (
                by_tx.get(&self.receipts, x.transaction.as_str()).as_ref(),
                self.ledger.invoice_index(x.invoice.as_str()).as_ref(),
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
            let Some(i) = self.ledger.invoice_index(link.invoice.as_str()) else {
                continue;
            };
            let c = self.ledger.inv_cust[i as usize];
            let r = by_tx.get(&self.receipts, link.transaction.as_str());
            let rec = r.map(|r| self.receipts[r]);
            let iban = rec
                .and_then(|x| x.counterparty_iban.as_deref())
                .or(link.payer_iban.as_deref());
            let name = rec
                .and_then(|x| x.counterparty_name.as_deref())
                .or(link.payer_name.as_deref());
            push_learnt(&mut self.confirmed_iban, iban_key(iban), c);
            push_learnt(&mut self.confirmed_name, payer_name_key(name), c);
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
                why: Why::new(self.receipts[r].amount, Basis::Confirmed, &[], false),
            });
        }
    }
}

/// One independent unit: its receipts (in run order), the customers whose items they may
/// settle, and what was read of each receipt.
pub(super) struct Unit {
    pub id: u32,
    pub receipts: Vec<usize>,
    pub customers: Vec<u32>,
}

/// A receipt index in 32 bits (a run holds far fewer than 4 billion receipts).
fn idx32(r: usize) -> u32 {
    u32::try_from(r).unwrap_or(u32::MAX)
}

/// A receipt left unapplied by its unit: its index, the customers it identifies, the
/// invoices its text references.
type Unapplied = (u32, Vec<u32>, Vec<u32>);

/// What a unit decided, merged into the outcome.
pub(super) struct UnitOut {
    pub out: Vec<Allocation>,
    pub suggestions: Vec<Suggestion>,
    pub flags: Vec<Flag>,
    /// Receipts without any proposal of their own: open items of their amount are proposed
    /// in the final step.
    pub amount_only: Vec<u32>,
    /// Receipts still unapplied, with who they identify and the invoices their text
    /// references (for the probable payments).
    pub unapplied: Vec<Unapplied>,
}

/// The state units change, one slot per receipt and per invoice. Units are disjoint in
/// receipts and invoices (each slot is written by its own unit only), and a unit reads
/// another unit's slot never: for an item outside it, the value before the units step
/// ([`Shared::open0`]). So the outcome does not depend on how units are scheduled; the
/// atomics only let units on different threads share the arrays without copies.
pub(super) struct Live {
    /// Unit of each receipt and of each open item (`u32::MAX`: none).
    rec_unit: Vec<u32>,
    inv_unit: Vec<u32>,
    /// Open amount of each invoice, what the units applied to it (cents).
    open: Vec<AtomicI64>,
    received: Vec<AtomicI64>,
    /// Remainder of each receipt (cents), its state bits.
    rem: Vec<AtomicI64>,
    state: Vec<AtomicU8>,
}

/// Bits of a unit's per-receipt state.
const HAS_AUTO: u8 = 1;
const SUGGESTED: u8 = 2;
const SUPERSEDED: u8 = 4;

/// The unit id of the foreign pass, which runs alone after every unit and may read and
/// change anything.
const GLOBAL: u32 = u32::MAX - 1;

/// Where a unit reads its receipts' readings.
#[derive(Clone, Copy)]
enum Src<'s> {
    /// The run's arena.
    Arena(&'s Readings),
    /// One receipt read on its own.
    One(usize, &'s Reading),
}

/// The mutable state of one unit.
pub(super) struct Run<'s, 'a> {
    pub sh: &'s Shared<'a>,
    readings: Src<'s>,
    /// This unit's id, and the state it changes (`None` for a read-only run).
    unit: u32,
    live: Option<&'s Live>,
    pub learnt_iban: HashMap<u64, Vec<u32>>,
    pub learnt_name: HashMap<u64, Vec<u32>>,
    pub out: Vec<Allocation>,
    pub suggestions: Vec<Suggestion>,
    pub flags: Vec<Flag>,
    /// Invoices a receipt not applied alone may pay together with others (N:1): filled by
    /// the reference and customer passes, read by the several-receipts pass.
    pub n1: Vec<N1Cand>,
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
    /// (receipt, invoice) of each automatic allocation by an exact reference, in order: what
    /// the payers are learnt from.
    pub by_reference: Vec<(usize, u32)>,
}

impl<'s, 'a> Run<'s, 'a> {
    pub(super) fn new(
        sh: &'s Shared<'a>,
        unit: &'s Unit,
        readings: &'s Readings,
        live: &'s Live,
    ) -> Self {
        let mut run = Self::with(sh, Src::Arena(readings));
        run.unit = unit.id;
        run.live = Some(live);
        run
    }

    fn with(sh: &'s Shared<'a>, readings: Src<'s>) -> Self {
        Run {
            sh,
            readings,
            unit: u32::MAX,
            live: None,
            learnt_iban: HashMap::new(),
            learnt_name: HashMap::new(),
            out: Vec::new(),
            suggestions: Vec::new(),
            flags: Vec::new(),
            n1: Vec::new(),
            late: Vec::new(),
            profile_frozen: false,
            profile: IdxMap::default(),
            hits_cache: IdxSet::default(),
            amount_only: Vec::new(),
            by_reference: Vec::new(),
        }
    }

    /// The foreign pass: after every unit, on its own thread, over everything.
    fn global(sh: &'s Shared<'a>, readings: &'s Readings, live: &'s Live) -> Self {
        let mut run = Self::with(sh, Src::Arena(readings));
        run.unit = GLOBAL;
        run.live = Some(live);
        run
    }

    /// What was read of receipt `r`.
    pub(super) fn reading(&self, r: usize) -> Option<View<'s>> {
        match self.readings {
            Src::Arena(a) => a.get(r),
            Src::One(k, x) => (k == r).then(|| x.view()),
        }
    }

    /// The live slots of invoice `i`, if it is one of the unit's items.
    fn inv_live(&self, i: u32) -> Option<&'s Live> {
        let l = self.live?;
        (self.unit == GLOBAL || l.inv_unit[i as usize] == self.unit).then_some(l)
    }

    /// The live slots of receipt `r`, if it is one of the unit's receipts.
    fn rec_live(&self, r: usize) -> Option<&'s Live> {
        let l = self.live?;
        (self.unit == GLOBAL || l.rec_unit[r] == self.unit).then_some(l)
    }

    /// Whether receipt `r` got a suggestion (in its unit or here).
    pub(super) fn suggested(&self, r: usize) -> bool {
        self.state(r, SUGGESTED)
    }

    /// Open amount of invoice `i` (signed cents).
    pub(super) fn open(&self, i: u32) -> i64 {
        match self.inv_live(i) {
            Some(l) => l.open[i as usize].load(Relaxed),
            None => self.sh.open0[i as usize],
        }
    }

    /// Unapplied remainder of receipt `r` (cents).
    pub(super) fn rem(&self, r: usize) -> i64 {
        match self.rec_live(r) {
            Some(l) => l.rem[r].load(Relaxed),
            None => self.sh.rem0[r],
        }
    }

    /// What this run applied automatically to invoice `i` (cents, deductions excluded).
    pub(super) fn received(&self, i: u32) -> i64 {
        self.inv_live(i)
            .map_or(0, |l| l.received[i as usize].load(Relaxed))
    }

    fn state(&self, r: usize, bit: u8) -> bool {
        self.rec_live(r)
            .is_some_and(|l| l.state[r].load(Relaxed) & bit != 0)
    }

    fn set_state(&mut self, r: usize, bit: u8) {
        if let Some(l) = self.rec_live(r) {
            l.state[r].fetch_or(bit, Relaxed);
        }
    }

    /// Whether receipt `r` carries an automatic allocation.
    pub(super) fn has_auto(&self, r: usize) -> bool {
        self.sh.auto0[r] || self.state(r, HAS_AUTO)
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
        self.inv_live(i).is_some()
    }

    /// Learns that the payer of receipt `r` pays for the customer of invoice `i`.
    pub(super) fn learn(&mut self, r: usize, i: u32) {
        let c = self.cust_of(i);
        let (ik, nk) = self.payer_keys(r);
        for (learnt, taught, k) in [
            (&mut self.learnt_iban, &self.sh.taught_iban, ik),
            (&mut self.learnt_name, &self.sh.taught_name, nk),
        ] {
            if k == 0 {
                continue;
            }
            let v = learnt
                .entry(k)
                .or_insert_with(|| taught.get(&k).cloned().unwrap_or_default());
            if v.len() <= SHARED_PAYER && !v.contains(&c) {
                v.push(c);
            }
        }
    }

    /// The keys of receipt `r`'s payer IBAN and name.
    pub(super) fn payer_keys(&self, r: usize) -> (u64, u64) {
        match self.reading(r) {
            Some(x) => (x.iban_key, x.name_key),
            None => {
                let rec = self.rec(r);
                (
                    iban_key(rec.counterparty_iban.as_deref()),
                    payer_name_key(rec.counterparty_name.as_deref()),
                )
            }
        }
    }

    /// What receipt `r`'s text says of the payment.
    pub(super) fn text(&self, r: usize) -> TextFlags {
        match self.reading(r) {
            Some(x) => x.text,
            None => TextFlags::of(self.sh, r),
        }
    }

    /// Trailing numbers of what receipt `r`'s payer typed.
    pub(super) fn nums(&self, r: usize) -> Vec<u64> {
        match self.reading(r) {
            Some(x) => x.nums.to_vec(),
            None => super::strategy::reading::typed_numbers(self.sh, r).to_vec(),
        }
    }

    /// The items of customer `c` whose number is close to a word receipt `r`'s payer typed.
    pub(super) fn near_of(&self, r: usize, c: u32) -> Vec<Near> {
        if let Some(v) = self
            .reading(r)
            .and_then(|x| x.near_of(c, &self.sh.ledger.inv_cust))
        {
            return v;
        }
        let words = super::strategy::ref_words(self.rec(r));
        let mut v = Vec::new();
        if !words.is_empty() {
            super::strategy::reading::near_items_of(self.sh, &words, c, &mut v);
        }
        v
    }

    /// Customers the payer IBAN key is learnt for (allocations in force and this run).
    pub(super) fn learnt_iban_of(&self, key: u64) -> Option<&Vec<u32>> {
        if key == 0 {
            return None;
        }
        self.learnt_iban
            .get(&key)
            .or_else(|| self.sh.taught_iban.get(&key))
    }

    /// Customers the payer name key is learnt for.
    pub(super) fn learnt_name_of(&self, key: u64) -> Option<&Vec<u32>> {
        if key == 0 {
            return None;
        }
        self.learnt_name
            .get(&key)
            .or_else(|| self.sh.taught_name.get(&key))
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
                if let Some(lv) = self.inv_live(l.inv) {
                    lv.open[l.inv as usize].fetch_sub(l.cents + d, Relaxed);
                    lv.received[l.inv as usize].fetch_add(l.cents, Relaxed);
                }
            }
            if let Some(lv) = self.rec_live(r) {
                lv.rem[r].fetch_sub(total, Relaxed);
            }
            if p.rule == Rule::Reference {
                self.by_reference.extend(p.lines.iter().map(|l| (r, l.inv)));
            }
            self.set_state(r, HAS_AUTO);
            if !self.profile_frozen {
                self.note_profile(&p);
            }
            if self.state(r, SUGGESTED) {
                self.set_state(r, SUPERSEDED);
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
            self.set_state(r, SUGGESTED);
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
                    why: s.why.compact(),
                });
                rank = rank.saturating_add(1);
            }
        }
        let why = p.why.compact();
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
                why: why.clone(),
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
        for (r, i) in std::mem::take(&mut self.by_reference) {
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
    fn finish(mut self, unit: &Unit) -> UnitOut {
        let superseded: HashSet<&crate::ids::TransactionId> = unit
            .receipts
            .iter()
            .filter(|&&r| self.state(r, SUPERSEDED))
            .map(|&r| &self.sh.receipts[r].id)
            .collect();
        if !superseded.is_empty() {
            self.out
                .retain(|a| a.auto || !superseded.contains(&a.transaction));
            self.suggestions
                .retain(|s| !superseded.contains(&s.transaction));
        }
        let amount_only: Vec<u32> = self
            .amount_only
            .iter()
            .copied()
            .filter(|&r| !self.has_auto(r) && !self.state(r, SUGGESTED))
            .map(idx32)
            .collect();
        if self.out.capacity() < 4096 {
            self.out.shrink_to_fit();
        }
        UnitOut {
            out: self.out,
            suggestions: self.suggestions,
            flags: self.flags,
            amount_only,
            unapplied: Vec::new(),
        }
    }
}

/// Reads every receipt the units will decide (the references in its text, the customers it
/// identifies), on the executor.
fn read_all<E: Executor>(sh: &Shared<'_>, exec: &E) -> Readings {
    Readings::read_all(sh, exec, CHUNK, |r| sh.rem0[r] > 0 && !sh.returned[r])
}

/// Cuts the receipts to decide into independent units (see [`super::units`]), and lays out
/// their state.
fn partition(sh: &Shared<'_>, readings: &Readings) -> (Vec<Unit>, Live) {
    let nc = sh.ledger.cust_ids.len();
    // Nodes: customers, then payer keys (IBAN, learnt name) as they come.
    let mut keys: HashMap<u64, u32> = HashMap::new();
    let mut edges: Vec<(usize, u32)> = Vec::new();
    let mut next = u32::try_from(nc).unwrap_or(u32::MAX);
    let mut key_node = |h: u64| -> u32 {
        *keys.entry(h).or_insert_with(|| {
            let k = next;
            next += 1;
            k
        })
    };
    let mut nodes: Vec<u32> = Vec::new();
    let mut flat: Vec<(u32, u32)> = Vec::new();
    for r in 0..sh.receipts.len() {
        let Some(reading) = readings.get(r) else {
            continue;
        };
        nodes.clear();
        for &(inv, _) in reading.refs {
            nodes.push(sh.ledger.inv_cust[inv as usize]);
        }
        reading.customers(&mut nodes);
        // What the allocations in force and people taught about this payer.
        sh.taught_customers(reading.iban_key, reading.name_key, &mut nodes);
        if reading.iban_key != 0 {
            nodes.push(key_node(reading.iban_key ^ 1));
        }
        if reading.name_key != 0 {
            nodes.push(key_node(reading.name_key ^ 2));
        }
        nodes.sort_unstable();
        nodes.dedup();
        edges.push((r, nodes.first().copied().unwrap_or(u32::MAX)));
        for w in nodes.windows(2) {
            flat.push((w[0], w[1]));
        }
    }
    let mut dsu = Dsu::new(next as usize);
    for (a, b) in flat {
        dsu.union(a, b);
    }
    // Group receipts by component, in run order; a receipt with no node is a unit alone.
    let mut unit_of_root: HashMap<u32, usize> = HashMap::new();
    let mut units: Vec<Unit> = Vec::new();
    for (r, n0) in edges {
        let u = if n0 == u32::MAX {
            units.push(Unit {
                id: 0,
                receipts: Vec::new(),
                customers: Vec::new(),
            });
            units.len() - 1
        } else {
            let root = dsu.find(n0);
            *unit_of_root.entry(root).or_insert_with(|| {
                units.push(Unit {
                    id: 0,
                    receipts: Vec::new(),
                    customers: Vec::new(),
                });
                units.len() - 1
            })
        };
        units[u].receipts.push(r);
    }
    for c in 0..nc {
        let c = u32::try_from(c).unwrap_or(u32::MAX);
        if let Some(&u) = unit_of_root.get(&dsu.find(c)) {
            units[u].customers.push(c);
        }
    }
    let mut live = Live {
        rec_unit: vec![u32::MAX; sh.receipts.len()],
        inv_unit: vec![u32::MAX; sh.ledger.invoices.len()],
        open: sh.open0.iter().map(|&v| AtomicI64::new(v)).collect(),
        received: (0..sh.ledger.invoices.len())
            .map(|_| AtomicI64::new(0))
            .collect(),
        rem: sh.rem0.iter().map(|&v| AtomicI64::new(v)).collect(),
        state: sh
            .auto0
            .iter()
            .map(|&a| AtomicU8::new(if a { HAS_AUTO } else { 0 }))
            .collect(),
    };
    for (k, u) in units.iter_mut().enumerate() {
        u.id = u32::try_from(k).unwrap_or(u32::MAX);
        for &r in &u.receipts {
            live.rec_unit[r] = u.id;
        }
        for &c in &u.customers {
            for &i in sh.ledger.items_of(c) {
                live.inv_unit[i as usize] = u.id;
            }
        }
    }
    (units, live)
}

/// Decides one unit; its allocations go straight to the outcome's (`sink`), so that a
/// unit's own vector is freed as soon as it is decided.
fn run_unit(
    sh: &Shared<'_>,
    readings: &Readings,
    live: &Live,
    unit: Unit,
    sink: &Mutex<Vec<Allocation>>,
) -> UnitOut {
    let mut run = Run::new(sh, &unit, readings, live);
    run.decide(&unit.receipts);
    // Who the unapplied receipts identify, with what the unit learnt, and what their text
    // references.
    let unapplied: Vec<Unapplied> = unit
        .receipts
        .iter()
        .filter(|&&r| run.rem(r) > 0)
        .map(|&r| {
            let mut v: Vec<u32> = run.identify(r).custs.iter().map(|x| x.0).collect();
            v.dedup();
            let refs = run
                .reading(r)
                .map(|x| x.refs.iter().map(|h| h.0).collect())
                .unwrap_or_default();
            (idx32(r), v, refs)
        })
        .collect();
    let mut o = run.finish(&unit);
    o.unapplied = unapplied;
    let out = std::mem::take(&mut o.out);
    // A lock another unit poisoned by panicking still holds good allocations.
    sink.lock().unwrap_or_else(|e| e.into_inner()).extend(out);
    o
}

/// Orders allocations by transaction, invoice, automatic first, then by everything else
/// they hold: a total order, so the outcome does not depend on the order units finished in.
fn allocation_order(a: &Allocation, b: &Allocation) -> std::cmp::Ordering {
    a.transaction
        .cmp(&b.transaction)
        .then(a.invoice.cmp(&b.invoice))
        .then(b.auto.cmp(&a.auto))
        .then(b.confidence.cmp(&a.confidence))
        .then(a.amount.cmp(&b.amount))
        .then_with(|| {
            // Two lines of one receipt on one invoice, alike so far: rare, the rest decides.
            format!("{:?}{:?}{:?}", a.rule, a.deduction, a.why)
                .cmp(&format!("{:?}{:?}{:?}", b.rule, b.deduction, b.why))
        })
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
    let (units, live) = partition(&sh, &readings);
    // References were all read: their index is done with.
    let mut sh = sh;
    sh.ledger.refs = super::index::KeyIndex::empty();
    let sh = sh;
    let to_decide: usize = units.iter().map(|u| u.receipts.len()).sum();
    // Room for about one allocation a receipt (room not written to is not memory in use).
    let sink = Mutex::new(Vec::with_capacity(
        to_decide + to_decide / 8 + prelude.out.len() + 64,
    ));
    let outs = exec.map(units, |u| run_unit(&sh, &readings, &live, u, &sink));
    // References to other customers' invoices, once every customer's receipts are decided.
    let foreign = {
        let mut run = Run::global(&sh, &readings, &live);
        for r in readings.with_foreign() {
            if run.rem(r) > 0 && !run.has_auto(r) {
                run.foreign_reference(r);
            }
        }
        (run.out, run.suggestions, run.flags)
    };
    let superseded: HashSet<&crate::ids::TransactionId> = sh
        .receipts
        .iter()
        .enumerate()
        .filter(|(k, _)| live.state[*k].load(Relaxed) & SUPERSEDED != 0)
        .map(|(_, r)| &r.id)
        .collect();
    // The readings are done with: the final step reads again the few receipts it needs.
    drop(readings);
    // Merge: units are disjoint in receipts and invoices.

    let mut allocations = sink.into_inner().unwrap_or_else(|e| e.into_inner());
    allocations.retain(|a| a.auto || !superseded.contains(&a.transaction));
    allocations.extend(prelude.out);
    let mut suggestions = Vec::new();
    let mut flags = prelude.flags;
    let mut amount_only = Vec::new();
    let mut unapplied = Vec::new();
    for o in outs {
        suggestions.extend(
            o.suggestions
                .into_iter()
                .filter(|s| !superseded.contains(&s.transaction)),
        );
        flags.extend(o.flags);
        amount_only.extend(o.amount_only);
        unapplied.extend(o.unapplied);
    }
    allocations.extend(foreign.0);
    suggestions.extend(foreign.1);
    flags.extend(foreign.2);
    amount_only.retain(|&r| live.state[r as usize].load(Relaxed) & (HAS_AUTO | SUGGESTED) == 0);
    amount_only.sort_unstable();
    unapplied.sort_by_key(|x| x.0);
    // Final step: against what every unit left open.
    let fin = super::strategy::Final {
        sh: &sh,
        open: &live.open,
        rem: &live.rem,
    };
    let amount_only_set: HashSet<u32> = amount_only.iter().copied().collect();
    let work: Vec<Vec<Unapplied>> = {
        let mut v: Vec<Vec<Unapplied>> = Vec::new();
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
        for (r, ident, refs) in items {
            if amount_only_set.contains(&r) {
                fin.amount_only(r as usize, &mut allocs, &mut sugg);
            }
            fin.probable(r as usize, &refs, &ident, &mut probable);
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
        if r.is_credit() && !sh.returned[k] && live.state[k].load(Relaxed) & HAS_AUTO == 0 {
            unmatched.push(r.id.clone());
        }
    }
    unmatched.sort();
    unmatched.dedup();
    // In place (no buffer the size of the outcome), by a total order.
    allocations.sort_unstable_by(allocation_order);
    suggestions.sort_by(|a, b| a.transaction.cmp(&b.transaction).then(a.rank.cmp(&b.rank)));
    flags.sort_by(|a, b| flag_key(a).cmp(flag_key(b)));
    probable_payments.sort_by(|a, b| {
        a.invoice
            .cmp(&b.invoice)
            .then(a.booking_date.cmp(&b.booking_date))
            .then(a.transaction.cmp(&b.transaction))
    });
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
    let by_tx = TxIndex::new(&sh.receipts);
    let mut attributed: HashMap<usize, Vec<u32>> = HashMap::new();
    for a in &applied {
        if let (Some(&r), Some(&i)) = (
            by_tx.get(&sh.receipts, a.transaction.as_str()).as_ref(),
            sh.ledger.invoice_index(a.invoice.as_str()).as_ref(),
        ) {
            let c = sh.ledger.inv_cust[i as usize];
            let v = attributed.entry(r).or_default();
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    let mut out: BTreeMap<CustomerId, Vec<UnappliedCredit>> = BTreeMap::new();
    for r in 0..sh.receipts.len() {
        if sh.rem0[r] <= 0 || sh.returned[r] {
            continue;
        }
        let rec = sh.receipts[r];
        let (custs, is_attr) = match attributed.get(&r) {
            Some(v) => (v.clone(), true),
            None => {
                let reading = read(&sh, r);
                let run = Run::with(&sh, Src::One(r, &reading));
                let mut v: Vec<u32> = run.identify(r).custs.iter().map(|x| x.0).collect();
                for &(inv, _) in reading.refs.iter().chain(&reading.foreign) {
                    v.push(sh.ledger.inv_cust[inv as usize]);
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
