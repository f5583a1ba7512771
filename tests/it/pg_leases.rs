//! Three instances sharing 1,000 companies through one PostgreSQL store, each instance a
//! lease keeper (renewing on a thread of its own) and a worker that cycles its leased
//! companies: a fenced commit, then outbox delivery to a fake remote that counts effects and
//! is not idempotent (a second `apply` of a key is a second effect). Then the failures:
//! an instance dies without releasing (its companies are taken over within the lease time),
//! an instance is paused past its lease and resumes (its late writes and deliveries are
//! refused by the fencing token), PostgreSQL restarts mid-cycle (the instances reconnect and
//! go on). At the end: every company cycled in every phase, every effect applied exactly
//! once, and the lease history shows no company ever leased by two instances at once.

use chrono::{DateTime, TimeZone, Utc};
use relance::outbox::{deliver_pending, RetryPolicy};
use relance::store::lease::{LeaseKeeper, LeaseSettings};
use relance::store::{AuditEvent, Batch, OutboxEntry, PgStore, SharedStore, Store, StoreError};
use relance_connectors::contract::{IdempotencyKey, RemoteRef, WriteBack, WriteCommand};
use relance_connectors::error::ConnectorError;
use relance_core::CompanyId;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COMPANIES: usize = 1_000;
const TTL: Duration = Duration::from_secs(3);
const TARGET: &str = "fake";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

/// Counts effects per key; `apply` of a key already applied is a second effect.
#[derive(Default)]
struct CountingRemote {
    effects: Mutex<HashMap<String, u32>>,
}

impl WriteBack for CountingRemote {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        Ok(self
            .effects
            .lock()
            .unwrap()
            .get(key.as_str())
            .map(|_| RemoteRef(format!("r-{}", key.as_str()))))
    }
    async fn apply(
        &self,
        key: &IdempotencyKey,
        _cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        *self
            .effects
            .lock()
            .unwrap()
            .entry(key.as_str().to_owned())
            .or_insert(0) += 1;
        Ok(RemoteRef(format!("r-{}", key.as_str())))
    }
}

/// One instance: a keeper renewing on its own thread, a worker cycling its companies.
struct Instance {
    name: String,
    keeper: Arc<Mutex<LeaseKeeper>>,
    /// Set: the instance stops dead (no release), as a SIGKILL would leave it.
    dead: Arc<AtomicBool>,
    /// Set: both threads stop where they are until cleared (SIGSTOP … SIGCONT).
    paused: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Shared {
    companies: Vec<CompanyId>,
    remote: Arc<CountingRemote>,
    /// Cycles done per company (a fenced commit that succeeded).
    cycles: Mutex<BTreeMap<CompanyId, u64>>,
    /// Writes refused by the fencing token, and remote calls refused before being made.
    refused: AtomicU64,
    /// Store errors met (PostgreSQL down), retried at the next pass.
    errors: AtomicU64,
}

fn wait_while(flag: &AtomicBool) {
    while flag.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start(name: &str, store: SharedStore, shared: Arc<Shared>) -> Instance {
    let mut settings = LeaseSettings::new(name, TTL);
    settings.renew = Duration::from_millis(500);
    settings.margin = Duration::from_millis(500);
    let keeper = Arc::new(Mutex::new(LeaseKeeper::new(store.clone(), settings)));
    let dead = Arc::new(AtomicBool::new(false));
    let paused = Arc::new(AtomicBool::new(false));
    let renewer = {
        let (keeper, dead, paused, shared) =
            (keeper.clone(), dead.clone(), paused.clone(), shared.clone());
        std::thread::spawn(move || {
            while !dead.load(Ordering::SeqCst) {
                wait_while(&paused);
                let (changes, result) = keeper.lock().unwrap().tick(&shared.companies);
                if result.is_err() {
                    shared.errors.fetch_add(1, Ordering::SeqCst);
                }
                // Shed companies are released at once: the worker takes a fresh snapshot of
                // the held leases each pass, so it no longer runs them.
                if !changes.shed.is_empty() {
                    let _ = keeper.lock().unwrap().release(&changes.shed);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let worker = {
        let (keeper, dead, paused, shared) =
            (keeper.clone(), dead.clone(), paused.clone(), shared.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let policy = RetryPolicy {
                base: Duration::from_millis(50),
                max: Duration::from_millis(200),
                max_attempts: 1000,
            };
            let (_tx, cancel) = tokio::sync::watch::channel(false);
            let started = Instant::now();
            while !dead.load(Ordering::SeqCst) {
                let (held, leased): (Vec<CompanyId>, Vec<SharedStore>) = {
                    let k = keeper.lock().unwrap();
                    k.held()
                        .map(|l| (l.company().clone(), k.fenced(l.clone())))
                        .unzip()
                };
                if held.is_empty() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                for (c, store) in held.iter().zip(leased) {
                    if dead.load(Ordering::SeqCst) {
                        return;
                    }
                    // A pause lands between taking the lease and using it.
                    wait_while(&paused);
                    let now = t0() + chrono::Duration::from_std(started.elapsed()).unwrap();
                    let b = Batch {
                        audit: vec![AuditEvent {
                            at: now,
                            kind: "test.cycle".into(),
                            subject: c.to_string(),
                            summary: String::new(),
                            explanation: serde_json::Value::Null,
                        }],
                        ..Batch::default()
                    };
                    match store.commit(c, b) {
                        Ok(_) => *shared.cycles.lock().unwrap().entry(c.clone()).or_insert(0) += 1,
                        Err(StoreError::Fenced { .. }) => {
                            shared.refused.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                        Err(_) => {
                            shared.errors.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                    }
                    match rt.block_on(deliver_pending(
                        &store,
                        c,
                        TARGET,
                        &*shared.remote,
                        now,
                        &policy,
                        &cancel,
                    )) {
                        Ok(_) => {}
                        Err(relance::outbox::OutboxError::Store(StoreError::Fenced { .. })) => {
                            shared.refused.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            shared.errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }
        })
    };
    Instance {
        name: name.to_owned(),
        keeper,
        dead,
        paused,
        threads: vec![renewer, worker],
    }
}

/// Adds `n` pending outbox entries per company, tagged `round`.
fn enqueue(store: &dyn Store, companies: &[CompanyId], round: u32, n: u32) -> usize {
    let mut total = 0;
    for c in companies {
        let mut b = Batch::default();
        for i in 0..n {
            let key =
                IdempotencyKey::derive(c.as_str(), "note", &[&round.to_string(), &i.to_string()]);
            let cmd = WriteCommand::AddNote {
                target_kind: "invoice".into(),
                target: format!("F{i}"),
                text: "relance".into(),
            };
            b.outbox_new.push(OutboxEntry::new(key, TARGET, cmd, t0()));
        }
        total += store.commit(c, b).unwrap().outbox_added;
    }
    total
}

fn pending(store: &dyn Store, companies: &[CompanyId]) -> usize {
    companies
        .iter()
        .map(|c| {
            store
                .outbox_pending(c, TARGET)
                .map(|v| v.len())
                .unwrap_or(usize::MAX / 2000)
        })
        .sum()
}

fn until(limit: Duration, what: &str, f: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}; {}",
            DIAG.lock()
                .unwrap()
                .as_ref()
                .map(|d| d())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// What the failing wait prints about the instances.
type Diag = Box<dyn Fn() -> String + Send>;
static DIAG: Mutex<Option<Diag>> = Mutex::new(None);

/// The companies whose lease row names `owner` and has not run out.
fn owned_by(pg: &PgStore, owner: &str) -> usize {
    pg.leases_now()
        .unwrap()
        .iter()
        .filter(|(_, o, live)| o.as_deref() == Some(owner) && *live)
        .count()
}

#[test]
fn three_instances_share_a_thousand_companies_through_kill_pause_and_restart() {
    let Some(db) = crate::pg::test_db_exclusive("leases") else {
        return;
    };
    let pg = PgStore::open(&db.cfg).unwrap();
    let companies: Vec<CompanyId> = (0..COMPANIES)
        .map(|i| CompanyId::new(format!("c{i:04}")))
        .collect();
    let shared = Arc::new(Shared {
        companies: companies.clone(),
        remote: Arc::default(),
        cycles: Mutex::default(),
        refused: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let mut expected = enqueue(&pg, &companies, 1, 2);
    let open = || -> SharedStore { Arc::new(PgStore::open(&db.cfg).unwrap()) };
    {
        let (shared, cfg, companies) = (shared.clone(), db.cfg.clone(), companies.clone());
        *DIAG.lock().unwrap() = Some(Box::new(move || {
            let leases = PgStore::open(&cfg)
                .and_then(|p| p.leases_now())
                .unwrap_or_default();
            let mut by: BTreeMap<String, usize> = BTreeMap::new();
            for (_, o, live) in &leases {
                *by.entry(format!("{o:?}/{live}")).or_insert(0) += 1;
            }
            let cycles = shared.cycles.lock().unwrap();
            format!(
                "leases {by:?}; errors {}, refused {}; cycles of c0000..: {:?}",
                shared.errors.load(Ordering::SeqCst),
                shared.refused.load(Ordering::SeqCst),
                companies
                    .iter()
                    .take(5)
                    .map(|c| cycles.get(c).copied())
                    .collect::<Vec<_>>()
            )
        }));
    }
    let mut instances: Vec<Instance> = ["a", "b", "c"]
        .iter()
        .map(|n| start(n, open(), shared.clone()))
        .collect();

    // Phase 1: every company cycles; the load spreads over the three.
    let every_company_cycles = |from: &BTreeMap<CompanyId, u64>| {
        let now = shared.cycles.lock().unwrap().clone();
        companies
            .iter()
            .all(|c| now.get(c).copied().unwrap_or(0) > from.get(c).copied().unwrap_or(0))
    };
    let none = BTreeMap::new();
    until(Duration::from_secs(120), "every company cycles", || {
        every_company_cycles(&none)
    });
    until(Duration::from_secs(120), "first deliveries", || {
        pending(&pg, &companies) == 0
    });
    let spread: Vec<usize> = instances.iter().map(|i| owned_by(&pg, &i.name)).collect();
    eprintln!("leases per instance after start: {spread:?}");
    assert!(
        spread.iter().all(|n| *n >= 300),
        "load not spread: {spread:?}"
    );

    // Phase 2: instance a dies without releasing; b and c take its companies over within
    // the lease time (plus a renewal interval and the claim's own time).
    expected += enqueue(&pg, &companies, 2, 1);
    let a = instances.remove(0);
    a.dead.store(true, Ordering::SeqCst);
    let held_by_a = owned_by(&pg, "a");
    let took = until(Duration::from_secs(30), "a's companies taken over", || {
        owned_by(&pg, "b") + owned_by(&pg, "c") == COMPANIES
    });
    eprintln!("{held_by_a} companies of the dead instance taken over in {took:?}");
    assert!(
        took <= TTL + Duration::from_secs(3),
        "takeover took {took:?}"
    );
    for t in a.threads {
        t.join().unwrap();
    }
    let snap = shared.cycles.lock().unwrap().clone();
    until(
        Duration::from_secs(120),
        "every company cycles after the kill",
        || every_company_cycles(&snap),
    );
    until(
        Duration::from_secs(120),
        "deliveries after the kill",
        || pending(&pg, &companies) == 0,
    );

    // Phase 3: b is paused past its lease; c takes everything; b resumes: its late writes
    // and deliveries are refused.
    expected += enqueue(&pg, &companies, 3, 1);
    let refused_before = shared.refused.load(Ordering::SeqCst);
    instances[0].paused.store(true, Ordering::SeqCst);
    until(Duration::from_secs(30), "c holds every company", || {
        owned_by(&pg, "c") == COMPANIES
    });
    until(
        Duration::from_secs(120),
        "deliveries while b is paused",
        || pending(&pg, &companies) == 0,
    );
    expected += enqueue(&pg, &companies, 4, 1);
    instances[0].paused.store(false, Ordering::SeqCst);
    until(Duration::from_secs(30), "b's late work refused", || {
        shared.refused.load(Ordering::SeqCst) > refused_before
    });
    let snap = shared.cycles.lock().unwrap().clone();
    until(
        Duration::from_secs(120),
        "every company cycles after the pause",
        || every_company_cycles(&snap),
    );
    until(
        Duration::from_secs(120),
        "deliveries after the pause",
        || pending(&pg, &companies) == 0,
    );

    // Phase 4: PostgreSQL restarts mid-cycle; the instances reconnect and go on.
    expected += enqueue(&pg, &companies, 5, 1);
    let errors_before = shared.errors.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    crate::pg::restart_server();
    let snap = shared.cycles.lock().unwrap().clone();
    until(
        Duration::from_secs(180),
        "every company cycles after the restart",
        || every_company_cycles(&snap),
    );
    until(
        Duration::from_secs(180),
        "deliveries after the restart",
        || pending(&pg, &companies) == 0,
    );
    let errors = shared.errors.load(Ordering::SeqCst) - errors_before;
    eprintln!("store errors during the restart (retried): {errors}");

    for i in &instances {
        i.dead.store(true, Ordering::SeqCst);
    }
    for i in instances {
        for t in i.threads {
            t.join().unwrap();
        }
        let _ = i.keeper.lock().unwrap().release_all();
    }

    // Every effect exactly once.
    let effects = shared.remote.effects.lock().unwrap();
    assert_eq!(effects.len(), expected, "effects missing");
    let twice: Vec<_> = effects.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "effects applied more than once: {twice:?}"
    );
    // Never two owners at once: per company, each grant starts after the previous ended.
    let history = pg.lease_history().unwrap();
    let mut overlaps = Vec::new();
    for w in history.windows(2) {
        let (p, n) = (&w[0], &w[1]);
        if p.0 == n.0 && n.3 < p.4 {
            overlaps.push((n.0.clone(), p.2.clone(), n.2.clone()));
        }
    }
    assert!(overlaps.is_empty(), "leased twice at once: {overlaps:?}");
    let takeovers = history.iter().filter(|h| h.1 > 1).count();
    eprintln!(
        "{} grants in the lease history ({takeovers} after the first), {} effects once each, {} late writes or calls refused",
        history.len(),
        effects.len(),
        shared.refused.load(Ordering::SeqCst)
    );
}
