//! Leases: which instance runs which company, and the fencing token every write carries.
//!
//! Instances that share one configuration and one store (PostgreSQL) share its companies.
//! Each company is leased by one instance at a time, for a lease time (`ttl`), from the
//! store's lease table; the holder renews its leases every `renew` interval and releases them
//! on SIGTERM. Each grant carries a **fencing token**, larger than every earlier token of the
//! company. The token fences the instance that lost its lease without knowing it (paused,
//! partitioned, its renewals failing):
//! - every commit under a lease carries the token ([`Batch::fence`]); the store checks, in the
//!   same transaction as the writes, that the company's lease still holds exactly this token
//!   and has not run out, and refuses the whole batch otherwise ([`StoreError::Fenced`]);
//! - before each remote call, delivery asks [`Store::ensure_lease`], which checks the lease's
//!   local deadline: the instant (on this machine's monotonic clock, which keeps running while
//!   the process is stopped) before which the store cannot have given the lease to anyone
//!   else, less a safety margin. A paused instance that wakes up after its deadline refuses to
//!   call, and marking "done" is a fenced commit;
//!   The check is made again just before each request of a delivery leaves (the lookup,
//!   then each write, each after waits of its own: [`relance_connectors::gate`]), so a pause
//!   in the middle of a delivery does not let its later requests out; what is left is the
//!   instant between that check and the system call;
//! - an effect a fenced-out instance sent before it was stopped is not repeated by the new
//!   owner: delivery asks `find_applied` first, and keys are sent natively where the remote
//!   has them, as after a crash.
//!
//! The lease table's clock is the store's (PostgreSQL's `now()`), never an instance's, so
//! clocks that disagree between machines cannot give one lease twice. Locally, a deadline
//! is computed from the instant the renewal was *sent*, which is never later than the
//! instant the store stamped, so it errs on the safe side.
//!
//! [`LeaseKeeper`] is an instance's view: its [`LeaseKeeper::tick`] heartbeats, renews,
//! sheds companies beyond the instance's fair share (so a new instance gets work), and claims
//! up to that share. [`FencedStore`] is the store a leased company's cycle writes through.
//! The sled store (one process per store directory, by its lock) implements the same
//! methods with an in-memory table ([`LocalLeases`]): one code path for both backends.

use super::{
    AllocationRecord, AuditEntry, Batch, CommitOutcome, CustomerRecord, DeadLetter, Document,
    InboxEntry, InboxItem, InvoiceRecord, OutboxEntry, ProvisionState, ReceiptRecord, SeenFile,
    SharedStore, Store, StoreError,
};
use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::{Cursor, IdempotencyKey};
use relance_core::{CompanyId, CustomerId, InvoiceId, TransactionId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One lease granted by [`Store::lease_claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The company.
    pub company: CompanyId,
    /// Its new fencing token.
    pub token: u64,
    /// The instance that held it before (its lease had run out), if any: a takeover.
    pub previous: Option<String>,
}

/// Lease times of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// This instance's name, unique among the instances sharing the store.
    pub instance: String,
    /// How long a lease lasts without renewal: a dead instance's companies are taken over
    /// after at most this plus one renewal interval.
    pub ttl: Duration,
    /// How often leases are renewed and new ones claimed (well below `ttl`).
    pub renew: Duration,
    /// Safety margin: remote calls stop this long before the lease's local deadline.
    pub margin: Duration,
}

impl LeaseSettings {
    /// Settings for `instance` with lease time `ttl`: renewal every third of it, margin a fifth.
    pub fn new(instance: impl Into<String>, ttl: Duration) -> Self {
        LeaseSettings {
            instance: instance.into(),
            ttl,
            renew: ttl / 3,
            margin: ttl / 5,
        }
    }
}

/// A lease this instance holds: the token, and the local deadline renewals push back.
#[derive(Debug)]
pub struct Lease {
    company: CompanyId,
    token: u64,
    margin: Duration,
    deadline: Mutex<Instant>,
    lost: AtomicBool,
}

impl Lease {
    pub(crate) fn new(company: CompanyId, token: u64, deadline: Instant, margin: Duration) -> Self {
        Lease {
            company,
            token,
            margin,
            deadline: Mutex::new(deadline),
            lost: AtomicBool::new(false),
        }
    }

    /// The company.
    pub fn company(&self) -> &CompanyId {
        &self.company
    }

    /// The fencing token.
    pub fn token(&self) -> u64 {
        self.token
    }

    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn extend(&self, deadline: Instant) {
        let mut d = self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        if deadline > *d {
            *d = deadline;
        }
    }

    /// Marks the lease lost: no write or remote call goes out under it any more.
    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// True while the lease is neither lost nor within its margin of the local deadline.
    pub fn is_valid(&self) -> bool {
        !self.lost.load(Ordering::SeqCst) && Instant::now() + self.margin < self.deadline()
    }
}

/// Counters of an instance's leases, exported as metrics.
#[derive(Debug, Default)]
pub struct LeaseStats {
    /// Leases held now.
    pub held: AtomicU64,
    /// Leases taken from an instance whose lease had run out.
    pub takeovers: AtomicU64,
    /// Writes and remote calls refused because their lease was lost.
    pub fenced: AtomicU64,
    /// Leases lost (not renewed in time, or taken by another instance).
    pub lost: AtomicU64,
}

/// What one [`LeaseKeeper::tick`] changed.
#[derive(Debug, Default)]
pub struct LeaseChanges {
    /// Leases granted by this tick: start these companies.
    pub gained: Vec<Arc<Lease>>,
    /// Leases lost: stop these companies at once (their writes are refused anyway).
    pub lost: Vec<CompanyId>,
    /// Leases to give up (no longer configured, or beyond this instance's share): stop these
    /// companies, then [`LeaseKeeper::release`] them.
    pub shed: Vec<CompanyId>,
}

/// An instance's leases: heartbeat, renew, shed, claim.
#[derive(Debug)]
pub struct LeaseKeeper {
    store: SharedStore,
    settings: LeaseSettings,
    held: BTreeMap<CompanyId, Arc<Lease>>,
    shedding: BTreeMap<CompanyId, Arc<Lease>>,
    stats: Arc<LeaseStats>,
}

impl LeaseKeeper {
    /// A keeper holding nothing yet.
    pub fn new(store: SharedStore, settings: LeaseSettings) -> Self {
        LeaseKeeper {
            store,
            settings,
            held: BTreeMap::new(),
            shedding: BTreeMap::new(),
            stats: Arc::default(),
        }
    }

    /// The counters (shared with [`FencedStore`]s made by [`LeaseKeeper::fenced`]).
    pub fn stats(&self) -> Arc<LeaseStats> {
        self.stats.clone()
    }

    /// The settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// The leases held (shed ones excluded).
    pub fn held(&self) -> impl Iterator<Item = &Arc<Lease>> {
        self.held.values()
    }

    /// The store a leased company writes through.
    pub fn fenced(&self, lease: Arc<Lease>) -> SharedStore {
        Arc::new(FencedStore::new(
            self.store.clone(),
            lease,
            self.stats.clone(),
        ))
    }

    fn drop_expired(&mut self, changes: &mut LeaseChanges) {
        let now = Instant::now();
        let expired: Vec<CompanyId> = self
            .held
            .iter()
            .filter(|(_, l)| l.deadline() <= now)
            .map(|(c, _)| c.clone())
            .collect();
        for c in expired {
            if let Some(l) = self.held.remove(&c) {
                l.lose();
                self.stats.lost.fetch_add(1, Ordering::SeqCst);
                changes.lost.push(c);
            }
        }
    }

    /// One round: heartbeat, renew what is held, shed what is beyond this instance's share of
    /// `configured`, claim up to that share. A store error drops (as lost) the leases whose
    /// local deadline has passed and is returned with them in `Err`'s companion: the caller
    /// stops those companies and retries at the next tick.
    pub fn tick(&mut self, configured: &[CompanyId]) -> (LeaseChanges, Result<(), StoreError>) {
        let mut changes = LeaseChanges::default();
        let result = self.tick_inner(configured, &mut changes);
        if result.is_err() {
            self.drop_expired(&mut changes);
        }
        self.stats
            .held
            .store(self.held.len() as u64, Ordering::SeqCst);
        (changes, result)
    }

    fn tick_inner(
        &mut self,
        configured: &[CompanyId],
        changes: &mut LeaseChanges,
    ) -> Result<(), StoreError> {
        // A lease a write found fenced (taken, or run out in the store while renewals failed)
        // stays lost even if the store would still renew its token: give it up, and claim
        // the company again with a new token below if it is free.
        let poisoned: Vec<(CompanyId, u64)> = self
            .held
            .values()
            .filter(|l| l.lost.load(Ordering::SeqCst))
            .map(|l| (l.company.clone(), l.token))
            .collect();
        for (c, _) in &poisoned {
            self.held.remove(c);
            self.stats.lost.fetch_add(1, Ordering::SeqCst);
            changes.lost.push(c.clone());
        }
        if !poisoned.is_empty() {
            self.store
                .lease_release(&self.settings.instance, &poisoned)?;
        }
        let s = &self.settings;
        let sent = Instant::now();
        let live = self.store.heartbeat(&s.instance, s.ttl)?.max(1);
        let pairs: Vec<(CompanyId, u64)> = self
            .held
            .values()
            .chain(self.shedding.values())
            .map(|l| (l.company.clone(), l.token))
            .collect();
        if !pairs.is_empty() {
            let renewed = self.store.lease_renew(&s.instance, &pairs, s.ttl)?;
            let renewed: std::collections::HashSet<&CompanyId> = renewed.iter().collect();
            let deadline = sent + s.ttl;
            let mut lost = Vec::new();
            for (c, l) in self.held.iter().chain(self.shedding.iter()) {
                if renewed.contains(c) {
                    l.extend(deadline);
                } else {
                    l.lose();
                    lost.push(c.clone());
                }
            }
            for c in lost {
                if self.held.remove(&c).is_some() {
                    self.stats.lost.fetch_add(1, Ordering::SeqCst);
                    changes.lost.push(c.clone());
                }
                self.shedding.remove(&c);
            }
        }
        let wanted: std::collections::HashSet<&CompanyId> = configured.iter().collect();
        let share = configured.len().div_ceil(live);
        let gone: Vec<CompanyId> = self
            .held
            .keys()
            .filter(|c| !wanted.contains(c))
            .cloned()
            .collect();
        let excess = self
            .held
            .len()
            .saturating_sub(gone.len())
            .saturating_sub(share);
        let beyond: Vec<CompanyId> = self
            .held
            .keys()
            .filter(|c| wanted.contains(c))
            .rev()
            .take(excess)
            .cloned()
            .collect();
        for c in gone.into_iter().chain(beyond) {
            if let Some(l) = self.held.remove(&c) {
                self.shedding.insert(c.clone(), l);
                changes.shed.push(c);
            }
        }
        let room = share.saturating_sub(self.held.len() + self.shedding.len());
        if room > 0 {
            let candidates: Vec<CompanyId> = configured
                .iter()
                .filter(|c| !self.held.contains_key(*c) && !self.shedding.contains_key(*c))
                .cloned()
                .collect();
            if !candidates.is_empty() {
                let sent = Instant::now();
                let grants = self
                    .store
                    .lease_claim(&s.instance, &candidates, room, s.ttl)?;
                for g in grants {
                    if g.previous.as_deref().is_some_and(|p| p != s.instance) {
                        self.stats.takeovers.fetch_add(1, Ordering::SeqCst);
                    }
                    let lease = Arc::new(Lease::new(
                        g.company.clone(),
                        g.token,
                        sent + s.ttl,
                        s.margin,
                    ));
                    self.held.insert(g.company, lease.clone());
                    changes.gained.push(lease);
                }
            }
        }
        Ok(())
    }

    /// Releases leases being shed (their companies have stopped).
    pub fn release(&mut self, companies: &[CompanyId]) -> Result<(), StoreError> {
        let mut pairs = Vec::new();
        for c in companies {
            if let Some(l) = self.shedding.remove(c) {
                l.lose();
                pairs.push((c.clone(), l.token));
            }
        }
        if pairs.is_empty() {
            return Ok(());
        }
        self.store.lease_release(&self.settings.instance, &pairs)
    }

    /// Releases every lease and forgets this instance (SIGTERM, after the drain).
    pub fn release_all(&mut self) -> Result<(), StoreError> {
        let all: Vec<CompanyId> = self.held.keys().cloned().collect();
        for c in &all {
            if let Some(l) = self.held.remove(c) {
                self.shedding.insert(c.clone(), l);
            }
        }
        let shed: Vec<CompanyId> = self.shedding.keys().cloned().collect();
        self.stats.held.store(0, Ordering::SeqCst);
        self.release(&shed)?;
        self.store.instance_gone(&self.settings.instance)
    }
}

/// A store whose commits carry one lease's fencing token, and which refuses remote calls
/// once the lease is lost: what a leased company's cycle holds.
#[derive(Debug)]
pub struct FencedStore {
    inner: SharedStore,
    lease: Arc<Lease>,
    stats: Arc<LeaseStats>,
}

impl FencedStore {
    /// Wraps `inner` under `lease`, counting refusals in `stats`.
    pub fn new(inner: SharedStore, lease: Arc<Lease>, stats: Arc<LeaseStats>) -> Self {
        FencedStore {
            inner,
            lease,
            stats,
        }
    }

    fn refused(&self) -> StoreError {
        self.stats.fenced.fetch_add(1, Ordering::SeqCst);
        StoreError::Fenced {
            company: self.lease.company.to_string(),
            token: self.lease.token,
        }
    }
}

impl Store for FencedStore {
    fn commit(&self, company: &CompanyId, mut batch: Batch) -> Result<CommitOutcome, StoreError> {
        if *company != self.lease.company || self.lease.lost.load(Ordering::SeqCst) {
            return Err(self.refused());
        }
        batch.fence = Some(self.lease.token);
        match self.inner.commit(company, batch) {
            Err(StoreError::Fenced { .. }) => {
                self.lease.lose();
                Err(self.refused())
            }
            other => other,
        }
    }
    fn ensure_lease(&self, company: &CompanyId) -> Result<(), StoreError> {
        if *company == self.lease.company && self.lease.is_valid() {
            Ok(())
        } else {
            Err(self.refused())
        }
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
    fn companies(&self) -> Result<Vec<CompanyId>, StoreError> {
        self.inner.companies()
    }
    fn customer(
        &self,
        company: &CompanyId,
        id: &CustomerId,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        self.inner.customer(company, id)
    }
    fn customers(&self, company: &CompanyId) -> Result<Vec<CustomerRecord>, StoreError> {
        self.inner.customers(company)
    }
    fn invoice(
        &self,
        company: &CompanyId,
        id: &InvoiceId,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        self.inner.invoice(company, id)
    }
    fn invoices(&self, company: &CompanyId) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.inner.invoices(company)
    }
    fn receipt(
        &self,
        company: &CompanyId,
        dedup_key: &str,
    ) -> Result<Option<ReceiptRecord>, StoreError> {
        self.inner.receipt(company, dedup_key)
    }
    fn receipts(&self, company: &CompanyId) -> Result<Vec<ReceiptRecord>, StoreError> {
        self.inner.receipts(company)
    }
    fn allocations(&self, company: &CompanyId) -> Result<Vec<AllocationRecord>, StoreError> {
        self.inner.allocations(company)
    }
    fn cursor(&self, company: &CompanyId, source: &str) -> Result<Option<Cursor>, StoreError> {
        self.inner.cursor(company, source)
    }
    fn cursors(&self, company: &CompanyId) -> Result<Vec<(String, Cursor)>, StoreError> {
        self.inner.cursors(company)
    }
    fn seen_file(&self, company: &CompanyId, hash: &str) -> Result<Option<SeenFile>, StoreError> {
        self.inner.seen_file(company, hash)
    }
    fn outbox_entry(
        &self,
        company: &CompanyId,
        key: &IdempotencyKey,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        self.inner.outbox_entry(company, key)
    }
    fn outbox(&self, company: &CompanyId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox(company)
    }
    fn outbox_pending(
        &self,
        company: &CompanyId,
        target: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_pending(company, target)
    }
    fn dead_letters(&self, company: &CompanyId) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.dead_letters(company)
    }
    fn audit(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit(company, from_seq, limit)
    }
    fn audit_by_kind(
        &self,
        company: &CompanyId,
        kinds: &[&str],
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_by_kind(company, kinds, from_seq, limit)
    }
    fn receipts_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<ReceiptRecord>, StoreError> {
        self.inner.receipts_of_transaction(company, transaction)
    }
    fn allocations_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        self.inner.allocations_of_transaction(company, transaction)
    }
    fn allocations_of_invoice(
        &self,
        company: &CompanyId,
        invoice: &InvoiceId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        self.inner.allocations_of_invoice(company, invoice)
    }
    fn invoices_of_customer(
        &self,
        company: &CompanyId,
        customer: &CustomerId,
    ) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.inner.invoices_of_customer(company, customer)
    }
    fn provision(
        &self,
        company: &CompanyId,
        closing: NaiveDate,
    ) -> Result<Option<ProvisionState>, StoreError> {
        self.inner.provision(company, closing)
    }
    fn provisions(&self, company: &CompanyId) -> Result<Vec<ProvisionState>, StoreError> {
        self.inner.provisions(company)
    }
    fn seen_files(&self, company: &CompanyId) -> Result<Vec<SeenFile>, StoreError> {
        self.inner.seen_files(company)
    }
    fn inbox_record(
        &self,
        company: &CompanyId,
        item: InboxItem,
    ) -> Result<Option<u64>, StoreError> {
        self.inner.inbox_record(company, item)
    }
    fn inbox(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
        pending_only: bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        self.inner.inbox(company, from_seq, limit, pending_only)
    }
    fn inbox_by_key(
        &self,
        company: &CompanyId,
        key: &str,
    ) -> Result<Option<InboxEntry>, StoreError> {
        self.inner.inbox_by_key(company, key)
    }
    fn document(&self, namespace: &str, key: &str) -> Result<Option<Document>, StoreError> {
        self.inner.document(namespace, key)
    }
    fn documents(&self, namespace: &str) -> Result<Vec<(String, Document)>, StoreError> {
        self.inner.documents(namespace)
    }
    fn put_document(
        &self,
        namespace: &str,
        key: &str,
        doc: Option<Document>,
    ) -> Result<(), StoreError> {
        self.inner.put_document(namespace, key, doc)
    }
    fn purge_documents(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_documents(now)
    }
    fn document_namespaces(&self) -> Result<Vec<String>, StoreError> {
        self.inner.document_namespaces()
    }
    fn heartbeat(&self, instance: &str, ttl: Duration) -> Result<usize, StoreError> {
        self.inner.heartbeat(instance, ttl)
    }
    fn instance_gone(&self, instance: &str) -> Result<(), StoreError> {
        self.inner.instance_gone(instance)
    }
    fn lease_claim(
        &self,
        instance: &str,
        candidates: &[CompanyId],
        max: usize,
        ttl: Duration,
    ) -> Result<Vec<LeaseGrant>, StoreError> {
        self.inner.lease_claim(instance, candidates, max, ttl)
    }
    fn lease_renew(
        &self,
        instance: &str,
        held: &[(CompanyId, u64)],
        ttl: Duration,
    ) -> Result<Vec<CompanyId>, StoreError> {
        self.inner.lease_renew(instance, held, ttl)
    }
    fn lease_release(&self, instance: &str, held: &[(CompanyId, u64)]) -> Result<(), StoreError> {
        self.inner.lease_release(instance, held)
    }
    fn lease_check(&self, company: &CompanyId, token: u64) -> Result<bool, StoreError> {
        self.inner.lease_check(company, token)
    }
}

/// The lease table of a store only one process opens (sled): in memory, on the monotonic
/// clock. Tokens restart at 1 with the process, which is safe because no other process can
/// hold the store at the same time (sled's directory lock).
#[derive(Debug, Default)]
pub struct LocalLeases {
    state: Mutex<LocalState>,
}

#[derive(Debug, Default)]
struct LocalState {
    leases: HashMap<CompanyId, LocalLease>,
    instances: HashMap<String, Instant>,
}

#[derive(Debug)]
struct LocalLease {
    owner: Option<String>,
    token: u64,
    expires: Instant,
}

impl LocalLeases {
    fn state(&self) -> std::sync::MutexGuard<'_, LocalState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// See [`Store::heartbeat`].
    pub fn heartbeat(&self, instance: &str, ttl: Duration) -> usize {
        let now = Instant::now();
        let mut s = self.state();
        s.instances.insert(instance.to_owned(), now + ttl);
        s.instances.retain(|_, until| *until > now);
        s.instances.len()
    }

    /// See [`Store::instance_gone`].
    pub fn instance_gone(&self, instance: &str) {
        self.state().instances.remove(instance);
    }

    /// See [`Store::lease_claim`].
    pub fn claim(
        &self,
        instance: &str,
        candidates: &[CompanyId],
        max: usize,
        ttl: Duration,
    ) -> Vec<LeaseGrant> {
        let now = Instant::now();
        let mut s = self.state();
        let mut out = Vec::new();
        for c in candidates {
            if out.len() >= max {
                break;
            }
            let l = s.leases.entry(c.clone()).or_insert(LocalLease {
                owner: None,
                token: 0,
                expires: now,
            });
            if l.owner.is_some() && l.expires > now {
                continue;
            }
            let previous = l.owner.take();
            l.owner = Some(instance.to_owned());
            l.token += 1;
            l.expires = now + ttl;
            out.push(LeaseGrant {
                company: c.clone(),
                token: l.token,
                previous,
            });
        }
        out
    }

    /// See [`Store::lease_renew`].
    pub fn renew(
        &self,
        instance: &str,
        held: &[(CompanyId, u64)],
        ttl: Duration,
    ) -> Vec<CompanyId> {
        let now = Instant::now();
        let mut s = self.state();
        let mut out = Vec::new();
        for (c, token) in held {
            if let Some(l) = s.leases.get_mut(c) {
                if l.token == *token && l.owner.as_deref() == Some(instance) {
                    l.expires = now + ttl;
                    out.push(c.clone());
                }
            }
        }
        out
    }

    /// See [`Store::lease_release`].
    pub fn release(&self, instance: &str, held: &[(CompanyId, u64)]) {
        let now = Instant::now();
        let mut s = self.state();
        for (c, token) in held {
            if let Some(l) = s.leases.get_mut(c) {
                if l.token == *token && l.owner.as_deref() == Some(instance) {
                    l.owner = None;
                    l.expires = now;
                }
            }
        }
    }

    /// See [`Store::lease_check`].
    pub fn check(&self, company: &CompanyId, token: u64) -> bool {
        let now = Instant::now();
        self.state()
            .leases
            .get(company)
            .is_some_and(|l| l.token == token && l.owner.is_some() && l.expires > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<CompanyId> {
        (0..n).map(|i| CompanyId::new(format!("c{i:03}"))).collect()
    }

    #[test]
    fn local_leases_grant_once_renew_by_token_and_hand_over_after_expiry() {
        let l = LocalLeases::default();
        let ttl = Duration::from_millis(80);
        let c = ids(3);
        let a = l.claim("a", &c, 10, ttl);
        assert_eq!(a.len(), 3);
        assert!(
            l.claim("b", &c, 10, ttl).is_empty(),
            "held leases are not granted twice"
        );
        assert!(l.check(&c[0], a[0].token));
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !l.check(&c[0], a[0].token),
            "a lease that ran out fences its token"
        );
        let b = l.claim("b", &c[..1], 10, ttl);
        assert_eq!(b[0].previous.as_deref(), Some("a"));
        assert!(b[0].token > a[0].token);
        // a's late renewal of c0 fails; its other two (expired, not taken) revive.
        let renewed = l.renew(
            "a",
            &[(c[0].clone(), a[0].token), (c[1].clone(), a[1].token)],
            ttl,
        );
        assert_eq!(renewed, vec![c[1].clone()]);
        l.release("b", &[(c[0].clone(), b[0].token)]);
        assert!(!l.check(&c[0], b[0].token));
        assert_eq!(l.claim("a", &c[..1], 1, ttl).len(), 1);
    }

    #[test]
    fn keeper_takes_its_share_and_sheds_for_a_new_instance() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(crate::store::SledStore::open(dir.path()).unwrap());
        let c = ids(10);
        let ttl = Duration::from_secs(30);
        let mut a = LeaseKeeper::new(store.clone(), LeaseSettings::new("a", ttl));
        let (ch, r) = a.tick(&c);
        r.unwrap();
        assert_eq!(ch.gained.len(), 10, "alone, an instance runs every company");
        let mut b = LeaseKeeper::new(store.clone(), LeaseSettings::new("b", ttl));
        let (ch, r) = b.tick(&c);
        r.unwrap();
        assert!(ch.gained.is_empty(), "nothing is free yet");
        let (ch, r) = a.tick(&c);
        r.unwrap();
        assert_eq!(ch.shed.len(), 5, "two instances: a gives up half");
        a.release(&ch.shed).unwrap();
        let (ch, r) = b.tick(&c);
        r.unwrap();
        assert_eq!(ch.gained.len(), 5);
        assert_eq!(a.held().count() + b.held().count(), 10);
        // b's leases fence b's writes only.
        let lease = b.held().next().unwrap().clone();
        let fenced = b.fenced(lease.clone());
        fenced.commit(lease.company(), Batch::default()).unwrap();
        let other = a.held().next().unwrap().company().clone();
        assert!(matches!(
            fenced.commit(&other, Batch::default()),
            Err(StoreError::Fenced { .. })
        ));
        // A lease found fenced by a write is given up at the next tick, then claimed anew.
        lease.lose();
        let (ch, r) = b.tick(&c);
        r.unwrap();
        assert!(ch.lost.contains(lease.company()), "{ch:?}");
        assert!(ch
            .gained
            .iter()
            .any(|g| g.company() == lease.company() && g.token() > lease.token()));
        b.release_all().unwrap();
        assert!(fenced.ensure_lease(lease.company()).is_err());
        assert!(matches!(
            fenced.commit(lease.company(), Batch::default()),
            Err(StoreError::Fenced { .. })
        ));
        assert_eq!(b.stats().fenced.load(Ordering::SeqCst), 3);
    }
}
