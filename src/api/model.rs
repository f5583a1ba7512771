//! The read model: one company's receivables, timeline material and exception queue, decoded
//! once from the store into memory and shared (`Arc`) by every request until the next cycle or
//! decision makes it stale.
//!
//! [`ReadModels::get`] hands out the current view at once. A view is stale when a cycle of the
//! company ended on this instance since it was built ([`Hub::generation`]), when a decision was
//! recorded ([`ReadModels::invalidate`]), or, for a company that runs on another instance, when
//! it is older than [`FOREIGN_MAX_AGE`]. A stale view is still served while one rebuild runs on
//! the blocking pool (never two at once for a company); only the first request of a company
//! waits for its build. Pages and filters are cut from the view, never from the store.

use super::hub::Hub;
use crate::config::CompanyConfig;
use crate::ledger::{self, Ledger};
use crate::store::{
    AllocationRecord, DeadLetter, InboxEntry, OutboxEntry, OutboxState, ProvisionState, SeenFile,
    Store, StoreError,
};
use chrono::{DateTime, NaiveDate, Utc};
use relance_core::aging::{AgedBalance, AgingItem};
use relance_core::dunning::{Pause, SentAction, Stage};
use relance_core::provision::CreditEvent;
use relance_core::reconcile::{Allocation, Flag};
use relance_core::{
    CompanyId, Customer, CustomerId, Invoice, InvoiceId, InvoiceKind, InvoiceStatus, Money,
    Receipt, TransactionId,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a view of a company that runs on another instance is served without a rebuild.
pub const FOREIGN_MAX_AGE: Duration = Duration::from_secs(5);
/// Shortest time between two rebuilds of one company (decisions recorded in a burst make one).
pub const MIN_REBUILD_GAP: Duration = Duration::from_millis(500);
/// Days of sales DSO is computed over.
pub const DSO_DAYS: u32 = 90;

/// One invoice or credit note as the API shows it.
#[derive(Clone, Debug)]
pub struct InvoiceRow {
    /// The invoice.
    pub invoice: Invoice,
    /// Open now (signed; zero when settled), after relance's automatic allocations.
    pub open: Decimal,
    /// Payments relance applied (booking date, amount), to age as of an earlier date.
    pub payments: Vec<(NaiveDate, Decimal)>,
    /// The last dunning stage planned for it, with its date.
    pub stage: Option<(Stage, NaiveDate)>,
    /// The pauses that hold it (dispute, promise, plan, hold, procédure), as recorded.
    pub pauses: Vec<Pause>,
}

impl InvoiceRow {
    /// `open`, `settled`, `credit_note`, `cancelled`.
    pub fn status(&self) -> &'static str {
        if self.invoice.status == InvoiceStatus::Cancelled {
            "cancelled"
        } else if self.invoice.kind == InvoiceKind::CreditNote {
            "credit_note"
        } else if self.open.is_zero() {
            "settled"
        } else {
            "open"
        }
    }

    /// Days past the due date as of `today` (negative before it).
    pub fn days_overdue(&self, today: NaiveDate) -> i64 {
        (today - self.invoice.effective_due_date()).num_days()
    }

    /// The open amount as of `date`: the invoice must be issued by then, and the payments
    /// relance applied after `date` are counted as still open.
    pub fn open_as_of(&self, date: NaiveDate) -> Option<Decimal> {
        if self.invoice.issue_date > date || self.invoice.status == InvoiceStatus::Cancelled {
            return None;
        }
        let later: Decimal = self
            .payments
            .iter()
            .filter(|(d, _)| *d > date)
            .map(|(_, a)| *a)
            .sum();
        Some(self.open + later)
    }
}

/// A dunning action planned for a customer, with what became of its outbox entries.
#[derive(Clone, Debug)]
pub struct ActionRow {
    /// Its key (the audit subject).
    pub key: String,
    /// When it was planned.
    pub at: DateTime<Utc>,
    /// What was planned.
    pub action: SentAction,
    /// The audit summary (stage, customer, reason).
    pub summary: String,
    /// Its outbox entries: the letter or mail, the task, the levels written back.
    pub deliveries: Vec<OutboxEntry>,
}

/// One item of the exception queue.
#[derive(Clone, Debug)]
pub enum Exception {
    /// A suggested allocation waiting for a person.
    Suggestion(AllocationRecord),
    /// A credit relance could not apply.
    Unmatched(TransactionId),
    /// A receipt flag: overpayment, duplicate, partial, return.
    Flag(Flag),
    /// An invoice held from dunning by a pause.
    Hold(CustomerId, Option<InvoiceId>, Pause),
    /// Something given up (a write-back, a quarantined file).
    DeadLetter(DeadLetter),
}

impl Exception {
    /// The kind, as the API names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Exception::Suggestion(_) => "suggestion",
            Exception::Unmatched(_) => "unmatched_receipt",
            Exception::Flag(Flag::Overpayment { .. }) => "overpayment",
            Exception::Flag(Flag::Duplicate { .. }) => "duplicate",
            Exception::Flag(_) => "receipt_flag",
            Exception::Hold(..) => "hold",
            Exception::DeadLetter(d) if d.origin.starts_with("sync:") => "quarantined_file",
            Exception::DeadLetter(_) => "dead_letter",
        }
    }
}

/// Everything the API reads of one company, as of one build.
#[derive(Debug)]
pub struct CompanyView {
    /// The company.
    pub company: CompanyId,
    /// Its accounting currency.
    pub currency: relance_core::Currency,
    /// When the view was built.
    pub built_at: DateTime<Utc>,
    /// Customers by id.
    pub customers: BTreeMap<CustomerId, Customer>,
    /// Invoices and credit notes, ordered by id.
    pub invoices: Vec<InvoiceRow>,
    /// Position in `invoices` by id.
    pub invoice_index: HashMap<InvoiceId, usize>,
    /// Positions in `invoices` by customer.
    pub by_customer: HashMap<CustomerId, Vec<usize>>,
    /// Receipts by transaction id.
    pub receipts: BTreeMap<TransactionId, Receipt>,
    /// Stored allocations (automatic and suggested).
    pub allocations: Vec<AllocationRecord>,
    /// Positions in `allocations` by invoice.
    pub alloc_by_invoice: HashMap<InvoiceId, Vec<usize>>,
    /// Dunning actions by customer, oldest first.
    pub actions: HashMap<CustomerId, Vec<ActionRow>>,
    /// Pauses recorded, with when.
    pub pauses: Vec<(DateTime<Utc>, Pause)>,
    /// Credit events recorded, with when.
    pub credit_events: Vec<(DateTime<Utc>, CreditEvent)>,
    /// Closings.
    pub provisions: Vec<ProvisionState>,
    /// Dead letters and quarantined files.
    pub dead_letters: Vec<DeadLetter>,
    /// The exception queue, in a stable order.
    pub exceptions: Vec<Exception>,
    /// Decisions recorded (pending and applied), newest last.
    pub decisions: Vec<InboxEntry>,
    /// Outbox entries by state: pending, done, dead.
    pub outbox_counts: (usize, usize, usize),
    /// Files imported, by source: count and the latest.
    pub imports: BTreeMap<String, (usize, Option<SeenFile>)>,
    /// Cursors by source.
    pub cursors: BTreeMap<String, String>,
    /// Answers computed from this view, kept with it (a view never changes once built).
    pub memo: Memo,
}

/// Entries one memo map holds before it starts afresh.
const MEMO_ENTRIES: usize = 256;

/// What the read endpoints compute from a view over all its invoices or customers, computed
/// once per view and question: a page of the same list, or the totals of the same day, is then
/// read, not recomputed. Bounded: a map past [`MEMO_ENTRIES`] questions starts afresh.
#[derive(Debug, Default)]
pub struct Memo {
    aged: Mutex<HashMap<NaiveDate, Arc<AgedDso>>>,
    totals: Mutex<HashMap<NaiveDate, Totals>>,
    search: std::sync::OnceLock<Vec<SearchEntry>>,
    lists: Mutex<HashMap<String, Arc<Vec<usize>>>>,
}

/// An aged balance and the DSO on its total.
pub type AgedDso = (AgedBalance, Option<Decimal>);

/// A customer as the search reads it: id, and the id and name in lower case.
#[derive(Debug)]
pub struct SearchEntry {
    /// The customer.
    pub id: CustomerId,
    id_lower: String,
    name_lower: String,
}

impl SearchEntry {
    /// True when `q` (lower case) is in the id or the name.
    pub fn matches(&self, q: &str) -> bool {
        self.id_lower.contains(q) || self.name_lower.contains(q)
    }
}

/// A company's open and overdue totals as of a day.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    /// Open receivables in the company's currency (credit notes not yet used negative).
    pub open: Decimal,
    /// Of which past due.
    pub overdue: Decimal,
    /// Invoices past due.
    pub overdue_count: usize,
    /// DSO on `open`.
    pub dso: Option<Decimal>,
}

fn memo<K: std::hash::Hash + Eq, V: Clone>(
    map: &Mutex<HashMap<K, V>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V {
    if let Some(v) = map.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return v.clone();
    }
    // Computed outside the lock: two first askers may both compute, never wait on each other.
    let v = compute();
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= MEMO_ENTRIES {
        m.clear();
    }
    m.insert(key, v.clone());
    v
}

impl CompanyView {
    /// The aged balance as of `date` and the DSO on its total, computed once per date.
    pub fn aged_dso(&self, date: NaiveDate) -> Arc<AgedDso> {
        memo(&self.memo.aged, date, || {
            let a = self.aged(date);
            let dso = self.dso(date, a.total);
            Arc::new((a, dso))
        })
    }

    /// Open and overdue totals as of `today` (what the company summary shows).
    pub fn totals(&self, today: NaiveDate) -> Totals {
        memo(&self.memo.totals, today, || {
            let mut t = Totals::default();
            for r in &self.invoices {
                if r.invoice.currency != self.currency || r.open.is_zero() {
                    continue;
                }
                t.open += r.open;
                if r.days_overdue(today) > 0 && r.open > Decimal::ZERO {
                    t.overdue += r.open;
                    t.overdue_count += 1;
                }
            }
            t.dso = self.dso(today, t.open);
            t
        })
    }

    /// Every customer (known, or only named by an invoice), ordered by id, as the search
    /// reads them.
    pub fn search(&self) -> &[SearchEntry] {
        self.memo.search.get_or_init(|| {
            let mut ids: Vec<&CustomerId> = self.customers.keys().collect();
            for id in self.by_customer.keys() {
                if !self.customers.contains_key(id) {
                    ids.push(id);
                }
            }
            ids.sort();
            ids.into_iter()
                .map(|id| SearchEntry {
                    id: id.clone(),
                    id_lower: id.as_str().to_lowercase(),
                    name_lower: self
                        .customers
                        .get(id)
                        .map(|c| c.name.to_lowercase())
                        .unwrap_or_default(),
                })
                .collect()
        })
    }

    /// The positions in `invoices` a filter selects, computed once per view and `key` (the
    /// filter, written out whole).
    pub fn list(&self, key: String, select: impl FnOnce() -> Vec<usize>) -> Arc<Vec<usize>> {
        memo(&self.memo.lists, key, || Arc::new(select()))
    }

    /// Builds the view from the store (blocking: call it on the blocking pool).
    pub fn build(
        store: &dyn Store,
        company: &CompanyConfig,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let cid = &company.id;
        let ledger = Ledger::load(store, cid)?;
        let stored_allocations = store.allocations(cid)?;
        let open = ledger::open_amounts(&ledger, &[]);
        let payments = ledger::payments_by_invoice(&ledger, &[]);
        let history = ledger::audit_of_kind(store, cid, ledger::AUDIT_DUNNING_ACTION)?;
        let mut pauses: Vec<(DateTime<Utc>, Pause)> =
            ledger::audit_of_kind(store, cid, ledger::AUDIT_PAUSE)?
                .into_iter()
                .filter_map(|e| Some((e.at, serde_json::from_value(e.explanation).ok()?)))
                .collect();
        // The pauses people decided, as the next plan reads them (ended or run out: none).
        let people = crate::decisions::DecisionState::load(store, cid)?;
        for p in &people.pauses {
            for x in crate::decisions::inputs::pauses_of(p, &ledger, now.date_naive()) {
                pauses.push((p.at, x));
            }
        }
        let credit_events: Vec<(DateTime<Utc>, CreditEvent)> =
            ledger::audit_of_kind(store, cid, ledger::AUDIT_CREDIT_EVENT)?
                .into_iter()
                .filter_map(|e| Some((e.at, serde_json::from_value(e.explanation).ok()?)))
                .collect();
        let outbox: BTreeMap<String, OutboxEntry> = store
            .outbox(cid)?
            .into_iter()
            .map(|e| (e.key.0.clone(), e))
            .collect();
        let outbox_counts = outbox
            .values()
            .fold((0, 0, 0), |(p, d, x), e| match e.state {
                OutboxState::Pending => (p + 1, d, x),
                OutboxState::Done { .. } => (p, d + 1, x),
                OutboxState::Dead { .. } => (p, d, x + 1),
            });

        let mut actions: HashMap<CustomerId, Vec<ActionRow>> = HashMap::new();
        let mut stage_of: HashMap<InvoiceId, (Stage, NaiveDate)> = HashMap::new();
        for e in history {
            let Ok(action) = serde_json::from_value::<SentAction>(e.explanation) else {
                continue;
            };
            for i in &action.invoices {
                let s = stage_of
                    .entry(i.clone())
                    .or_insert((action.stage, action.date));
                if (action.stage, action.date) >= *s {
                    *s = (action.stage, action.date);
                }
            }
            let prefix = format!("{}-", e.subject);
            let mut deliveries: Vec<OutboxEntry> = outbox
                .range(e.subject.clone()..)
                .take_while(|(k, _)| **k == e.subject || k.starts_with(&prefix))
                .map(|(_, v)| v.clone())
                .collect();
            deliveries.sort_by(|a, b| a.key.0.cmp(&b.key.0));
            actions
                .entry(action.customer.clone())
                .or_default()
                .push(ActionRow {
                    key: e.subject,
                    at: e.at,
                    summary: e.summary,
                    action,
                    deliveries,
                });
        }

        let mut invoices: Vec<InvoiceRow> = ledger
            .invoices
            .iter()
            .map(|i| {
                let held: Vec<Pause> = pauses
                    .iter()
                    .filter(|(_, p)| {
                        p.customer == i.customer && p.invoice.as_ref().is_none_or(|x| *x == i.id)
                    })
                    .map(|(_, p)| p.clone())
                    .collect();
                InvoiceRow {
                    open: open.get(&i.id).copied().unwrap_or(Decimal::ZERO),
                    payments: payments.get(&i.id).cloned().unwrap_or_default(),
                    stage: stage_of.get(&i.id).copied(),
                    pauses: held,
                    invoice: i.clone(),
                }
            })
            .collect();
        invoices.sort_by(|a, b| a.invoice.id.cmp(&b.invoice.id));
        let invoice_index = invoices
            .iter()
            .enumerate()
            .map(|(n, r)| (r.invoice.id.clone(), n))
            .collect();
        let mut by_customer: HashMap<CustomerId, Vec<usize>> = HashMap::new();
        for (n, r) in invoices.iter().enumerate() {
            by_customer
                .entry(r.invoice.customer.clone())
                .or_default()
                .push(n);
        }
        let mut alloc_by_invoice: HashMap<InvoiceId, Vec<usize>> = HashMap::new();
        for (n, a) in stored_allocations.iter().enumerate() {
            alloc_by_invoice
                .entry(a.invoice.clone())
                .or_default()
                .push(n);
        }

        // The queue: what the engine proposes and cannot decide, from the same run a cycle
        // makes (the flags are not stored), plus holds and what was given up.
        // With what people decided, exactly as the cycle runs it: a pair they rejected is
        // never shown again, a payer they taught is known.
        let outcome = crate::decisions::inputs::reconcile(&ledger, &company.reconcile, &people);
        let decided: HashSet<(TransactionId, InvoiceId)> = stored_allocations
            .iter()
            .filter(|a| a.auto)
            .map(|a| (a.transaction.clone(), a.invoice.clone()))
            .collect();
        let mut exceptions: Vec<Exception> = Vec::new();
        let mut suggested: HashSet<(TransactionId, InvoiceId)> = HashSet::new();
        for a in stored_allocations.iter().filter(|a| {
            !a.auto
                && !people
                    .rejected
                    .contains(&(a.transaction.clone(), a.invoice.clone()))
        }) {
            if suggested.insert((a.transaction.clone(), a.invoice.clone())) {
                exceptions.push(Exception::Suggestion(a.clone()));
            }
        }
        for a in outcome.allocations.iter().filter(|a| !a.auto) {
            let k = (a.transaction.clone(), a.invoice.clone());
            if !decided.contains(&k) && suggested.insert(k) {
                exceptions.push(Exception::Suggestion(ledger::allocation_record(a, now)));
            }
        }
        let with_suggestion: HashSet<&TransactionId> = suggested.iter().map(|(t, _)| t).collect();
        for t in &outcome.unmatched {
            if !with_suggestion.contains(t) {
                exceptions.push(Exception::Unmatched(t.clone()));
            }
        }
        for f in &outcome.flags {
            exceptions.push(Exception::Flag(f.clone()));
        }
        for (_, p) in &pauses {
            exceptions.push(Exception::Hold(
                p.customer.clone(),
                p.invoice.clone(),
                p.clone(),
            ));
        }
        // A dead letter a person retried (its outbox entry pending or delivered again) no
        // longer waits for anyone.
        let mut dead_letters = store.dead_letters(cid)?;
        dead_letters.retain(|d| {
            outbox
                .get(&d.key)
                .is_none_or(|e| matches!(e.state, OutboxState::Dead { .. }))
        });
        for d in &dead_letters {
            exceptions.push(Exception::DeadLetter(d.clone()));
        }

        let mut imports: BTreeMap<String, (usize, Option<SeenFile>)> = BTreeMap::new();
        for f in store.seen_files(cid)? {
            let e = imports.entry(f.source.clone()).or_insert((0, None));
            e.0 += 1;
            if e.1.as_ref().is_none_or(|l| f.seen_at > l.seen_at) {
                e.1 = Some(f);
            }
        }
        let cursors = store
            .cursors(cid)?
            .into_iter()
            .map(|(s, c)| (s, c.0))
            .collect();
        Ok(CompanyView {
            company: cid.clone(),
            currency: company.currency,
            built_at: now,
            // With the payer IBANs people taught by confirming and assigning receipts.
            customers: crate::decisions::inputs::learnt_customers(&ledger, &people)
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
            invoices,
            invoice_index,
            by_customer,
            receipts: ledger
                .receipts
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect(),
            allocations: stored_allocations,
            alloc_by_invoice,
            actions,
            pauses,
            credit_events,
            provisions: store.provisions(cid)?,
            dead_letters,
            exceptions,
            decisions: store.inbox(cid, 0, usize::MAX, false)?,
            outbox_counts,
            imports,
            cursors,
            memo: Memo::default(),
        })
    }

    /// The aged balance of what was open as of `date` (invoices and unapplied credit notes in
    /// the company's currency).
    pub fn aged(&self, date: NaiveDate) -> AgedBalance {
        let items: Vec<AgingItem> = self
            .invoices
            .iter()
            .filter_map(|r| {
                let open = r.open_as_of(date)?;
                (!open.is_zero()).then(|| AgingItem {
                    due_date: r.invoice.effective_due_date(),
                    open: Money::new(open, r.invoice.currency),
                })
            })
            .collect();
        AgedBalance::compute(&items, date, self.currency)
    }

    /// DSO as of `date`: receivables open then over the sales of the [`DSO_DAYS`] before it.
    pub fn dso(&self, date: NaiveDate, open: Decimal) -> Option<Decimal> {
        let from = date - chrono::Days::new(u64::from(DSO_DAYS));
        let sales: Decimal = self
            .invoices
            .iter()
            .filter(|r| {
                r.invoice.currency == self.currency
                    && r.invoice.status != InvoiceStatus::Cancelled
                    && r.invoice.issue_date > from
                    && r.invoice.issue_date <= date
            })
            .map(|r| match r.invoice.kind {
                InvoiceKind::CreditNote => -r.invoice.total_with_vat,
                _ => r.invoice.total_with_vat,
            })
            .sum();
        relance_core::aging::dso(open, sales, DSO_DAYS)
    }

    /// Exception counts by kind.
    pub fn exception_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for e in &self.exceptions {
            *m.entry(e.kind()).or_insert(0) += 1;
        }
        m
    }
}

#[derive(Debug, Default)]
struct Slot {
    view: Option<Arc<CompanyView>>,
    built: Option<Instant>,
    generation: Option<u64>,
    dirty: bool,
    building: bool,
    error: Option<String>,
}

/// The views of every company, built on demand.
#[derive(Debug)]
pub struct ReadModels {
    store: crate::store::SharedStore,
    hub: Arc<Hub>,
    clock: crate::clock::Clock,
    slots: Mutex<HashMap<CompanyId, Arc<tokio::sync::Mutex<()>>>>,
    state: Mutex<HashMap<CompanyId, Slot>>,
    /// Decisions recorded here since the company's view was built (a decision changes no
    /// receivable until a cycle applies it, so it is added to the view's list, not rebuilt).
    recorded: Mutex<HashMap<CompanyId, Vec<InboxEntry>>>,
}

impl ReadModels {
    /// Views over `store`, made stale by the cycles `hub` reports.
    pub fn new(
        store: crate::store::SharedStore,
        hub: Arc<Hub>,
        clock: crate::clock::Clock,
    ) -> Self {
        ReadModels {
            store,
            hub,
            clock,
            slots: Mutex::new(HashMap::new()),
            state: Mutex::new(HashMap::new()),
            recorded: Mutex::new(HashMap::new()),
        }
    }

    /// A decision was recorded for `company`: it shows in the decisions at once.
    pub fn recorded(&self, company: &CompanyId, entry: InboxEntry) {
        self.recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(company.clone())
            .or_default()
            .push(entry);
    }

    /// The decisions of `view`'s company: the view's, then those recorded here since it was
    /// built, in sequence order.
    pub fn decisions(&self, view: &CompanyView) -> Vec<InboxEntry> {
        let mut out = Vec::new();
        self.for_each_decision(view, |d| out.push(d.clone()));
        out
    }

    /// Calls `f` with the decisions recorded here since `view` was built (not in it), oldest
    /// first, without copying them (the list's lock is held meanwhile).
    fn with_since<R>(&self, view: &CompanyView, f: impl FnOnce(&[&InboxEntry]) -> R) -> R {
        let last = view.decisions.last().map(|e| e.seq).unwrap_or(0);
        let recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        let mut more: Vec<&InboxEntry> = recorded
            .get(&view.company)
            .map(|extra| extra.iter().filter(|e| e.seq > last).collect())
            .unwrap_or_default();
        more.sort_by_key(|e| e.seq);
        more.dedup_by_key(|e| e.seq);
        f(&more)
    }

    /// Calls `f` with each decision [`Self::decisions`] lists, in order, without copying.
    pub fn for_each_decision(&self, view: &CompanyView, mut f: impl FnMut(&InboxEntry)) {
        for d in &view.decisions {
            f(d);
        }
        self.with_since(view, |more| {
            for d in more {
                f(d);
            }
        });
    }

    /// How many decisions [`Self::decisions`] lists (without copying them).
    pub fn decision_count(&self, view: &CompanyView) -> usize {
        view.decisions.len() + self.with_since(view, |more| more.len())
    }

    /// Decisions newest first: how many in all, and those from `offset` (at most `limit`),
    /// copying only those.
    pub fn decisions_newest(
        &self,
        view: &CompanyView,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<InboxEntry>) {
        self.with_since(view, |since| {
            let total = view.decisions.len() + since.len();
            let page = since
                .iter()
                .rev()
                .copied()
                .chain(view.decisions.iter().rev())
                .skip(offset)
                .take(limit)
                .cloned()
                .collect();
            (total, page)
        })
    }

    /// Decisions recorded and not yet applied (those of the view and those recorded since).
    pub fn pending_decisions(&self, view: &CompanyView) -> usize {
        let mut n = 0;
        self.for_each_decision(view, |d| n += usize::from(d.done_at.is_none()));
        n
    }

    /// Marks a company's view stale (a decision was recorded).
    pub fn invalidate(&self, company: &CompanyId) {
        if let Some(s) = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(company)
        {
            s.dirty = true;
        }
    }

    fn stale(&self, s: &Slot, company: &CompanyId) -> bool {
        let gen = self.hub.generation(company);
        let age = s.built.map(|b| b.elapsed()).unwrap_or(Duration::MAX);
        if age < MIN_REBUILD_GAP {
            return false;
        }
        s.dirty || gen != s.generation || (gen.is_none() && age > FOREIGN_MAX_AGE)
    }

    /// The current view of `company`: at once when one exists (a stale one starts a rebuild
    /// in the background), after a build for the first request.
    pub async fn get(
        self: &Arc<Self>,
        company: &CompanyConfig,
    ) -> Result<Arc<CompanyView>, String> {
        let (current, stale) = {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            match st.get(&company.id) {
                Some(s) => (s.view.clone(), self.stale(s, &company.id) && !s.building),
                None => (None, true),
            }
        };
        match current {
            Some(v) => {
                if stale {
                    let me = self.clone();
                    let c = company.clone();
                    tokio::spawn(async move {
                        let _ = me.rebuild(&c).await;
                    });
                }
                Ok(v)
            }
            None => self.rebuild(company).await,
        }
    }

    /// Rebuilds `company`'s view now (one build at a time per company; a caller that waited
    /// for another's build takes its result).
    pub async fn rebuild(
        self: &Arc<Self>,
        company: &CompanyConfig,
    ) -> Result<Arc<CompanyView>, String> {
        let lock = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(company.id.clone())
            .or_default()
            .clone();
        let started = Instant::now();
        let _guard = lock.lock().await;
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let s = st.entry(company.id.clone()).or_default();
            if let (Some(v), Some(b)) = (&s.view, s.built) {
                if b >= started && !s.dirty {
                    return Ok(v.clone());
                }
            }
            s.building = true;
            s.dirty = false;
        }
        let generation = self.hub.generation(&company.id);
        let (store, c, now) = (self.store.clone(), company.clone(), self.clock.now());
        let built =
            tokio::task::spawn_blocking(move || CompanyView::build(store.as_ref(), &c, now))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let s = st.entry(company.id.clone()).or_default();
        s.building = false;
        match built {
            Ok(v) => {
                let v = Arc::new(v);
                let last = v.decisions.last().map(|e| e.seq).unwrap_or(0);
                if let Some(extra) = self
                    .recorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&company.id)
                {
                    extra.retain(|e| e.seq > last);
                }
                s.view = Some(v.clone());
                s.built = Some(Instant::now());
                s.generation = generation;
                s.error = None;
                Ok(v)
            }
            Err(e) => {
                tracing::error!(company = %company.id, error = %e, "read model build failed");
                s.dirty = true;
                s.error = Some(e.clone());
                match &s.view {
                    Some(v) => Ok(v.clone()),
                    None => Err(e),
                }
            }
        }
    }
}

/// The allocations an invoice received, in force and suggested.
pub fn allocations_of<'a>(
    view: &'a CompanyView,
    invoice: &InvoiceId,
) -> impl Iterator<Item = &'a AllocationRecord> {
    view.alloc_by_invoice
        .get(invoice)
        .into_iter()
        .flatten()
        .filter_map(|n| view.allocations.get(*n))
}

/// The engine allocation kept in a record's evidence, when it is one.
pub fn engine_allocation(r: &AllocationRecord) -> Option<Allocation> {
    serde_json::from_value(r.evidence.clone()).ok()
}
