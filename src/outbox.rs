//! The outbox's delivery: applies recorded remote effects exactly once through a [`WriteBack`].
//!
//! An effect is first recorded as a pending [`OutboxEntry`] (committed and flushed by
//! [`Store::commit`]) by whoever decides it. Delivery then, for each due entry:
//! 1. asks the target whether the key is already applied (`find_applied`): after a crash between
//!    the remote's success and our "done", the effect is found and not made again;
//! 2. otherwise `apply`s it under the key;
//! 3. marks the entry done (committed and flushed) only after a success answer.
//!
//! Errors follow the connector classification: `Transient` schedules a retry with exponential
//! backoff and jitter (never earlier than the remote's Retry-After); `Permanent` dead-letters
//! the entry with the reason and goes on with the others; `Config` stops delivery to the target
//! (a person must act) and leaves the entry pending. Every outcome is appended to the audit log.
//!
//! Time is an input (`now`); waiting uses tokio's clock, so tests pause it. Store calls run in
//! `spawn_blocking` (a commit flushes to disk).

use crate::store::{AuditEvent, Batch, DeadLetter, OutboxEntry, OutboxState, Store, StoreError};
use chrono::{DateTime, Utc};
use relance_connectors::contract::{RemoteRef, WriteBack};
use relance_connectors::error::ConnectorError;
use relance_core::CompanyId;
use std::hash::{Hash, Hasher};
use std::time::Duration;
use tokio::sync::watch;

/// Why delivery stopped.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The store failed; nothing was marked that did not happen.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target's configuration or credentials are wrong: delivery to it stops until a
    /// person fixes it; its entries stay pending.
    #[error("write-back target {target}: {message}")]
    Config {
        /// Name of the target connector.
        target: String,
        /// The connector's message.
        message: String,
    },
}

/// How transient failures are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry (doubled at each further attempt).
    pub base: Duration,
    /// Longest delay between two attempts (before Retry-After).
    pub max: Duration,
    /// Attempts after which a still-failing entry is dead-lettered.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s, doubling up to 6 h, 25 attempts (about four days of retries).
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(6 * 3600),
            max_attempts: 25,
        }
    }
}

impl RetryPolicy {
    /// Delay before the next attempt after `attempts` failed ones (`attempts >= 1`) of `key`.
    ///
    /// Exponential (`base · 2^(attempts-1)`, capped at `max`) with "equal jitter": half the
    /// delay is fixed, the other half spread by a hash of the key and attempt, so entries that
    /// failed together do not retry together, while a given entry's schedule is reproducible.
    /// Never shorter than the remote's `retry_after`.
    pub fn backoff(&self, key: &str, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exp = attempts.saturating_sub(1).min(32);
        let raw = self.base.saturating_mul(1u32 << exp.min(31)).min(self.max);
        let half = raw / 2;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        attempts.hash(&mut h);
        let spread_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = if spread_ms == 0 {
            0
        } else {
            h.finish() % (spread_ms + 1)
        };
        let delay = half + Duration::from_millis(jitter);
        match retry_after {
            Some(ra) if ra > delay => ra,
            _ => delay,
        }
    }
}

/// What one delivery pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Entries applied by this pass.
    pub applied: usize,
    /// Entries found already applied at the remote (a retry after a crash), marked done.
    pub found_applied: usize,
    /// Entries that failed transiently and were rescheduled.
    pub retried: usize,
    /// Entries dead-lettered (permanent error or too many attempts).
    pub dead: usize,
    /// Pending entries not yet due.
    pub not_due: usize,
    /// The earliest `next_attempt_at` of the entries still pending after this pass.
    pub next_due: Option<DateTime<Utc>>,
    /// True when the pass stopped early because cancellation was asked.
    pub cancelled: bool,
}

async fn blocking<S, T, F>(store: &S, f: F) -> Result<T, StoreError>
where
    S: Store + Clone + Send + 'static,
    T: Send + 'static,
    F: FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
{
    let s = store.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

async fn commit<S>(store: &S, company: &CompanyId, batch: Batch) -> Result<(), StoreError>
where
    S: Store + Clone + Send + 'static,
{
    let company = company.clone();
    blocking(store, move |s| s.commit(&company, batch).map(|_| ())).await
}

fn event(now: DateTime<Utc>, kind: &str, entry: &OutboxEntry, summary: String) -> AuditEvent {
    AuditEvent {
        at: now,
        kind: kind.to_owned(),
        subject: entry.key.as_str().to_owned(),
        summary,
        explanation: serde_json::json!({
            "target": entry.target,
            "attempts": entry.attempts,
            "state": entry.state,
            "last_error": entry.last_error,
        }),
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Delivers every due pending entry of `company` for the target named `target_name`, in key
/// order, stopping between two entries as soon as `cancel` holds `true` (the entry in flight
/// is finished and recorded first: that is the SIGTERM drain).
///
/// Run at most one delivery per (company, target) at a time: two concurrent passes could
/// both find an entry not yet applied and both apply it.
pub async fn deliver_pending<S, W>(
    store: &S,
    company: &CompanyId,
    target_name: &str,
    target: &W,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    cancel: &watch::Receiver<bool>,
) -> Result<DeliveryReport, OutboxError>
where
    S: Store + Clone + Send + 'static,
    W: WriteBack,
{
    let pending = {
        let (c, t) = (company.clone(), target_name.to_owned());
        // Flush after reading: an entry another thread's commit has applied but not yet
        // flushed must be on disk before its remote call (recorded before applied).
        blocking(store, move |s| {
            let pending = s.outbox_pending(&c, &t)?;
            s.flush()?;
            Ok(pending)
        })
        .await?
    };
    let mut report = DeliveryReport::default();
    for entry in pending {
        if *cancel.borrow() {
            report.cancelled = true;
            report.next_due = earliest(report.next_due, entry.next_attempt_at);
            continue;
        }
        if entry.next_attempt_at > now {
            report.not_due += 1;
            report.next_due = earliest(report.next_due, entry.next_attempt_at);
            continue;
        }
        if let Some(next) =
            deliver_one(store, company, target, entry, now, policy, &mut report).await?
        {
            report.next_due = earliest(report.next_due, next);
        }
    }
    Ok(report)
}

/// Delivers one entry; returns its next attempt time when it stays pending.
async fn deliver_one<S, W>(
    store: &S,
    company: &CompanyId,
    target: &W,
    mut entry: OutboxEntry,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    report: &mut DeliveryReport,
) -> Result<Option<DateTime<Utc>>, OutboxError>
where
    S: Store + Clone + Send + 'static,
    W: WriteBack,
{
    // Under a lease, no remote call once the lease is lost or about to run out: the new
    // owner delivers (and finds what this call would have done, if it had been made).
    store.ensure_lease(company)?;
    // And again before each request of the delivery leaves (a lookup, then writes, each after
    // waits of its own): the lease may be lost between them.
    let gate: relance_connectors::gate::Gate = {
        let (store, company) = (store.clone(), company.clone());
        std::sync::Arc::new(move || store.ensure_lease(&company).map_err(|e| e.to_string()))
    };
    let outcome: Result<(RemoteRef, bool), ConnectorError> =
        relance_connectors::gate::gated(gate, async {
            match target.find_applied(&entry.key).await {
                Ok(Some(remote_ref)) => Ok((remote_ref, true)),
                Ok(None) => target
                    .apply(&entry.key, &entry.command)
                    .await
                    .map(|r| (r, false)),
                Err(e) => Err(e),
            }
        })
        .await;
    entry.attempts = entry.attempts.saturating_add(1);
    let mut batch = Batch::default();
    let mut next = None;
    match outcome {
        Ok((remote_ref, found_applied)) => {
            let summary = if found_applied {
                format!(
                    "already applied at {} as {}: marked done",
                    entry.target, remote_ref.0
                )
            } else {
                format!("applied at {} as {}", entry.target, remote_ref.0)
            };
            entry.state = OutboxState::Done {
                at: now,
                remote_ref,
                found_applied,
            };
            entry.last_error = None;
            batch.audit.push(event(now, "outbox.done", &entry, summary));
            if found_applied {
                report.found_applied += 1;
            } else {
                report.applied += 1;
            }
        }
        Err(ConnectorError::Transient {
            message,
            retry_after,
        }) => {
            entry.last_error = Some(format!("transient: {message}"));
            if entry.attempts >= policy.max_attempts {
                let reason = format!(
                    "gave up after {} attempts (retry policy max_attempts), last error: transient: {message}",
                    entry.attempts
                );
                dead_letter(&mut batch, &mut entry, now, reason);
                report.dead += 1;
            } else {
                let delay = policy.backoff(entry.key.as_str(), entry.attempts, retry_after);
                let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                entry.next_attempt_at = now
                    .checked_add_signed(delay)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                next = Some(entry.next_attempt_at);
                let summary = format!(
                    "attempt {} failed (transient: {message}); next attempt at {}",
                    entry.attempts, entry.next_attempt_at
                );
                batch
                    .audit
                    .push(event(now, "outbox.retry", &entry, summary));
                report.retried += 1;
            }
        }
        Err(ConnectorError::Permanent(message)) => {
            entry.last_error = Some(format!("permanent: {message}"));
            dead_letter(
                &mut batch,
                &mut entry,
                now,
                format!("permanent error: {message}"),
            );
            report.dead += 1;
        }
        Err(ConnectorError::Config(message)) => {
            // Not the entry's fault: keep it pending and due, record why delivery stopped.
            entry.attempts = entry.attempts.saturating_sub(1);
            entry.last_error = Some(format!("configuration: {message}"));
            let summary = format!("delivery to {} stopped: configuration error", entry.target);
            batch
                .audit
                .push(event(now, "outbox.stopped", &entry, summary));
            let target = entry.target.clone();
            batch.outbox_updates.push(entry);
            commit(store, company, batch).await?;
            return Err(OutboxError::Config { target, message });
        }
    }
    batch.outbox_updates.push(entry);
    commit(store, company, batch).await?;
    Ok(next)
}

fn dead_letter(batch: &mut Batch, entry: &mut OutboxEntry, now: DateTime<Utc>, reason: String) {
    entry.state = OutboxState::Dead {
        at: now,
        reason: reason.clone(),
    };
    batch.dead_letters.push(DeadLetter {
        key: entry.key.as_str().to_owned(),
        origin: format!("outbox:{}", entry.target),
        reason: reason.clone(),
        payload: serde_json::to_value(&*entry).unwrap_or(serde_json::Value::Null),
        at: now,
    });
    batch.audit.push(event(now, "outbox.dead", entry, reason));
}

/// Runs delivery for one company and target until `cancel` turns `true` (or its sender is
/// dropped): a pass, then a sleep until the next entry is due, at most `poll` (new entries
/// are picked up at the next pass). `now` gives the current instant at each pass.
#[allow(clippy::too_many_arguments)] // distinct inputs; a struct would only rename them
pub async fn run_delivery<S, W, N>(
    store: &S,
    company: &CompanyId,
    target_name: &str,
    target: &W,
    policy: &RetryPolicy,
    now: N,
    poll: Duration,
    mut cancel: watch::Receiver<bool>,
) -> Result<(), OutboxError>
where
    S: Store + Clone + Send + 'static,
    W: WriteBack,
    N: Fn() -> DateTime<Utc>,
{
    loop {
        if *cancel.borrow() {
            return Ok(());
        }
        let report =
            deliver_pending(store, company, target_name, target, now(), policy, &cancel).await?;
        if report.cancelled {
            return Ok(());
        }
        let wait = report
            .next_due
            .and_then(|t| (t - now()).to_std().ok())
            .map_or(poll, |w| w.min(poll));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = cancel.changed() => {
                if changed.is_err() {
                    return Ok(()); // the sender is gone: nobody can ask us to go on
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SledStore, Store};
    use chrono::{NaiveDate, TimeZone};
    use relance_connectors::contract::{IdempotencyKey, WriteCommand};
    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex;

    /// An in-memory remote: records applied keys and can be scripted to fail.
    #[derive(Default)]
    struct FakeRemote {
        applied: Mutex<HashMap<String, (RemoteRef, u32)>>,
        /// Errors to return from the next `apply` calls, per key.
        script: Mutex<HashMap<String, VecDeque<ConnectorError>>>,
        find_calls: Mutex<u32>,
    }

    impl FakeRemote {
        fn fail(&self, key: &str, e: ConnectorError) {
            self.script
                .lock()
                .unwrap()
                .entry(key.to_owned())
                .or_default()
                .push_back(e);
        }
        fn count(&self, key: &str) -> u32 {
            self.applied.lock().unwrap().get(key).map_or(0, |(_, n)| *n)
        }
    }

    impl WriteBack for FakeRemote {
        async fn find_applied(
            &self,
            key: &IdempotencyKey,
        ) -> Result<Option<RemoteRef>, ConnectorError> {
            *self.find_calls.lock().unwrap() += 1;
            Ok(self
                .applied
                .lock()
                .unwrap()
                .get(key.as_str())
                .map(|(r, _)| r.clone()))
        }
        async fn apply(
            &self,
            key: &IdempotencyKey,
            _cmd: &WriteCommand,
        ) -> Result<RemoteRef, ConnectorError> {
            if let Some(e) = self
                .script
                .lock()
                .unwrap()
                .get_mut(key.as_str())
                .and_then(|q| q.pop_front())
            {
                return Err(e);
            }
            let mut a = self.applied.lock().unwrap();
            let e = a
                .entry(key.0.clone())
                .or_insert((RemoteRef(format!("R-{}", key.0)), 0));
            e.1 += 1;
            Ok(e.0.clone())
        }
    }

    /// A remote whose lookup takes so long that the lease is lost meanwhile (the process was
    /// paused), and whose writes ask the gate as the HTTP layer does.
    struct PausedDuringLookup {
        lease: std::sync::Arc<crate::store::lease::Lease>,
        applied: Mutex<u32>,
    }

    impl WriteBack for PausedDuringLookup {
        async fn find_applied(
            &self,
            _key: &IdempotencyKey,
        ) -> Result<Option<RemoteRef>, ConnectorError> {
            self.lease.lose();
            Ok(None)
        }
        async fn apply(
            &self,
            key: &IdempotencyKey,
            _cmd: &WriteCommand,
        ) -> Result<RemoteRef, ConnectorError> {
            relance_connectors::gate::check().map_err(ConnectorError::transient)?;
            *self.applied.lock().unwrap() += 1;
            Ok(RemoteRef(format!("R-{}", key.0)))
        }
    }

    #[tokio::test]
    async fn a_lease_lost_during_the_lookup_lets_no_write_out() {
        use crate::store::lease::{Lease, LeaseStats};
        use crate::store::FencedStore;
        let (_d, store, c) = setup(1);
        let inner: crate::store::SharedStore = std::sync::Arc::new(store.clone());
        let lease = std::sync::Arc::new(Lease::new(
            c.clone(),
            7,
            std::time::Instant::now() + Duration::from_secs(60),
            Duration::from_secs(1),
        ));
        let stats = std::sync::Arc::new(LeaseStats::default());
        let fenced = FencedStore::new(inner, lease.clone(), stats.clone());
        let fenced: crate::store::SharedStore = std::sync::Arc::new(fenced);
        let remote = PausedDuringLookup {
            lease,
            applied: Mutex::new(0),
        };
        let (_tx, rx) = no_cancel();
        let r = deliver_pending(
            &fenced,
            &c,
            "tryton",
            &remote,
            t0(),
            &RetryPolicy::default(),
            &rx,
        )
        .await;
        assert!(r.is_err(), "{r:?}");
        assert_eq!(*remote.applied.lock().unwrap(), 0, "a write went out");
        assert!(stats.fenced.load(std::sync::atomic::Ordering::SeqCst) >= 1);
        // The entry is still pending for the next owner.
        assert_eq!(store.outbox_pending(&c, "tryton").unwrap().len(), 1);
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
    }

    fn cmd(i: u32) -> WriteCommand {
        WriteCommand::SetDunningLevel {
            invoice: format!("F{i}"),
            level: 1,
            date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        }
    }

    fn setup(n: u32) -> (tempfile::TempDir, SledStore, CompanyId) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let c = CompanyId::new("acme");
        let mut b = Batch::default();
        for i in 0..n {
            b.outbox_new.push(OutboxEntry::new(
                IdempotencyKey(format!("k{i}")),
                "tryton",
                cmd(i),
                t0(),
            ));
        }
        store.commit(&c, b).unwrap();
        (dir, store, c)
    }

    fn no_cancel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    #[tokio::test]
    async fn delivers_each_entry_once_and_marks_done() {
        let (_d, store, c) = setup(3);
        let remote = FakeRemote::default();
        let (_tx, rx) = no_cancel();
        let pol = RetryPolicy::default();
        let r = deliver_pending(&store, &c, "tryton", &remote, t0(), &pol, &rx)
            .await
            .unwrap();
        assert_eq!(
            (r.applied, r.found_applied, r.retried, r.dead),
            (3, 0, 0, 0)
        );
        assert_eq!(r.next_due, None);
        for i in 0..3 {
            assert_eq!(remote.count(&format!("k{i}")), 1);
        }
        assert!(store.outbox_pending(&c, "tryton").unwrap().is_empty());
        assert!(store.outbox(&c).unwrap().iter().all(|e| matches!(
            e.state,
            OutboxState::Done {
                found_applied: false,
                ..
            }
        )));
        // A second pass does nothing.
        let r = deliver_pending(&store, &c, "tryton", &remote, t0(), &pol, &rx)
            .await
            .unwrap();
        assert_eq!(r, DeliveryReport::default());
        let audit = store.audit(&c, 0, 100).unwrap();
        assert_eq!(audit.len(), 3);
        assert!(audit.iter().all(|a| a.event.kind == "outbox.done"));
    }

    #[tokio::test]
    async fn entries_of_other_targets_are_left_alone() {
        let (_d, store, c) = setup(1);
        let remote = FakeRemote::default();
        let (_tx, rx) = no_cancel();
        let r = deliver_pending(
            &store,
            &c,
            "odoo",
            &remote,
            t0(),
            &RetryPolicy::default(),
            &rx,
        )
        .await
        .unwrap();
        assert_eq!(r, DeliveryReport::default());
        assert_eq!(store.outbox_pending(&c, "tryton").unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_effect_applied_before_a_crash_is_found_not_repeated() {
        let (_d, store, c) = setup(1);
        let remote = FakeRemote::default();
        // The remote applied k0, then we "crashed" before marking it done.
        remote
            .apply(&IdempotencyKey("k0".into()), &cmd(0))
            .await
            .unwrap();
        let (_tx, rx) = no_cancel();
        let r = deliver_pending(
            &store,
            &c,
            "tryton",
            &remote,
            t0(),
            &RetryPolicy::default(),
            &rx,
        )
        .await
        .unwrap();
        assert_eq!((r.applied, r.found_applied), (0, 1));
        assert_eq!(remote.count("k0"), 1);
        let e = store
            .outbox_entry(&c, &IdempotencyKey("k0".into()))
            .unwrap()
            .unwrap();
        assert!(matches!(
            e.state,
            OutboxState::Done {
                found_applied: true,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn transient_errors_back_off_and_honour_retry_after() {
        let (_d, store, c) = setup(2);
        let remote = FakeRemote::default();
        remote.fail("k0", ConnectorError::transient("503"));
        remote.fail(
            "k1",
            ConnectorError::Transient {
                message: "429".into(),
                retry_after: Some(Duration::from_secs(3600)),
            },
        );
        let (_tx, rx) = no_cancel();
        let pol = RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
            max_attempts: 5,
        };
        let r = deliver_pending(&store, &c, "tryton", &remote, t0(), &pol, &rx)
            .await
            .unwrap();
        assert_eq!(r.retried, 2);
        let e0 = store
            .outbox_entry(&c, &IdempotencyKey("k0".into()))
            .unwrap()
            .unwrap();
        let e1 = store
            .outbox_entry(&c, &IdempotencyKey("k1".into()))
            .unwrap()
            .unwrap();
        let d0 = e0.next_attempt_at - t0();
        assert!(
            d0 >= chrono::Duration::seconds(5) && d0 <= chrono::Duration::seconds(10),
            "{d0}"
        );
        assert_eq!(e1.next_attempt_at - t0(), chrono::Duration::seconds(3600));
        assert_eq!(r.next_due, Some(e0.next_attempt_at));
        assert_eq!(e0.attempts, 1);
        assert!(e0.last_error.as_deref().unwrap().contains("503"));
        // Not due yet: nothing happens.
        let r = deliver_pending(
            &store,
            &c,
            "tryton",
            &remote,
            t0() + chrono::Duration::seconds(4),
            &pol,
            &rx,
        )
        .await
        .unwrap();
        assert_eq!(r.not_due, 2);
        // Due: k0 succeeds, k1 still waits for its Retry-After.
        let later = t0() + chrono::Duration::seconds(11);
        let r = deliver_pending(&store, &c, "tryton", &remote, later, &pol, &rx)
            .await
            .unwrap();
        assert_eq!((r.applied, r.not_due), (1, 1));
        assert_eq!(remote.count("k0"), 1);
        assert_eq!(remote.count("k1"), 0);
    }

    #[tokio::test]
    async fn permanent_error_dead_letters_and_goes_on() {
        let (_d, store, c) = setup(2);
        let remote = FakeRemote::default();
        remote.fail(
            "k0",
            ConnectorError::Permanent("invoice F0 does not exist".into()),
        );
        let (_tx, rx) = no_cancel();
        let r = deliver_pending(
            &store,
            &c,
            "tryton",
            &remote,
            t0(),
            &RetryPolicy::default(),
            &rx,
        )
        .await
        .unwrap();
        assert_eq!((r.applied, r.dead), (1, 1));
        let dead = store.dead_letters(&c).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key, "k0");
        assert!(dead[0].reason.contains("does not exist"));
        let e0 = store
            .outbox_entry(&c, &IdempotencyKey("k0".into()))
            .unwrap()
            .unwrap();
        assert!(matches!(e0.state, OutboxState::Dead { .. }));
    }

    #[tokio::test]
    async fn too_many_transient_failures_dead_letter() {
        let (_d, store, c) = setup(1);
        let remote = FakeRemote::default();
        for _ in 0..3 {
            remote.fail("k0", ConnectorError::transient("timeout"));
        }
        let (_tx, rx) = no_cancel();
        let pol = RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(1),
            max_attempts: 2,
        };
        let far = t0() + chrono::Duration::days(1);
        deliver_pending(&store, &c, "tryton", &remote, t0(), &pol, &rx)
            .await
            .unwrap();
        let r = deliver_pending(&store, &c, "tryton", &remote, far, &pol, &rx)
            .await
            .unwrap();
        assert_eq!(r.dead, 1);
        assert!(store.dead_letters(&c).unwrap()[0]
            .reason
            .contains("gave up after 2 attempts"));
    }

    #[tokio::test]
    async fn config_error_stops_and_keeps_the_entry_pending() {
        let (_d, store, c) = setup(2);
        let remote = FakeRemote::default();
        remote.fail("k0", ConnectorError::Config("401 unauthorized".into()));
        let (_tx, rx) = no_cancel();
        let err = deliver_pending(
            &store,
            &c,
            "tryton",
            &remote,
            t0(),
            &RetryPolicy::default(),
            &rx,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, OutboxError::Config { .. }), "{err}");
        let pending = store.outbox_pending(&c, "tryton").unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].attempts, 0);
        assert_eq!(remote.count("k1"), 0);
    }

    #[tokio::test]
    async fn cancel_stops_between_items() {
        let (_d, store, c) = setup(3);
        let remote = FakeRemote::default();
        let (tx, rx) = no_cancel();
        tx.send(true).unwrap();
        let r = deliver_pending(
            &store,
            &c,
            "tryton",
            &remote,
            t0(),
            &RetryPolicy::default(),
            &rx,
        )
        .await
        .unwrap();
        assert!(r.cancelled);
        assert_eq!(r.applied, 0);
        assert_eq!(store.outbox_pending(&c, "tryton").unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn run_delivery_retries_on_tokio_time_until_cancelled() {
        let (_d, store, c) = setup(1);
        let remote = std::sync::Arc::new(FakeRemote::default());
        remote.fail("k0", ConnectorError::transient("503"));
        remote.fail("k0", ConnectorError::transient("503"));
        let (tx, rx) = no_cancel();
        let start = tokio::time::Instant::now();
        let now = move || t0() + chrono::Duration::from_std(start.elapsed()).unwrap();
        let pol = RetryPolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(600),
            max_attempts: 10,
        };
        let run = run_delivery(
            &store,
            &c,
            "tryton",
            &*remote,
            &pol,
            now,
            Duration::from_secs(300),
            rx,
        );
        let stopper = async {
            // Paused time advances only when every task waits: 20 minutes pass instantly.
            tokio::time::sleep(Duration::from_secs(1200)).await;
            tx.send(true).unwrap();
        };
        let (res, ()) = tokio::join!(run, stopper);
        res.unwrap();
        assert_eq!(remote.count("k0"), 1);
        let e = store
            .outbox_entry(&c, &IdempotencyKey("k0".into()))
            .unwrap()
            .unwrap();
        assert_eq!(e.attempts, 3);
        assert!(matches!(e.state, OutboxState::Done { .. }));
    }

    #[test]
    fn backoff_grows_is_capped_and_is_reproducible() {
        let pol = RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            max_attempts: 25,
        };
        for attempts in 1..30 {
            let raw = Duration::from_secs(30)
                .saturating_mul(1 << (attempts - 1).min(20))
                .min(pol.max);
            let d = pol.backoff("k", attempts, None);
            assert!(
                d >= raw / 2 && d <= raw,
                "attempt {attempts}: {d:?} vs {raw:?}"
            );
            assert_eq!(d, pol.backoff("k", attempts, None));
        }
        assert_eq!(
            pol.backoff("k", 1, Some(Duration::from_secs(7200))),
            Duration::from_secs(7200)
        );
        // Different keys spread out.
        let spread: std::collections::HashSet<_> = (0..20)
            .map(|i| pol.backoff(&format!("k{i}"), 5, None))
            .collect();
        assert!(spread.len() > 10);
    }
}
