//! The service: one supervised task per company, systemd notification, signals, reload,
//! health and metrics.
//!
//! - **Supervision.** Each company runs in its own tokio task, a loop of cycles separated by
//!   its `poll_interval_secs`. A cycle that returns an error is logged and counted, and the
//!   next one runs at the next interval; a cycle that *panics* ends the task, which its
//!   supervisor sees through the `JoinHandle` and restarts after an exponential backoff
//!   (1 s doubling to 5 min). Nothing one company does stops another.
//! - **Rate limits.** One HTTP layer ([`HttpLayer`]) shared by every company: a limiter per
//!   remote `host:port`, taken by every request, configured from all companies at start and at
//!   each reload.
//! - **Connectors** are built once per company task, that is once per configuration
//!   generation ([`CycleRunner::prepare`]), and reused by every cycle of that task.
//! - **systemd** (`Type=notify`): `READY=1` once the configuration is valid, the store open and
//!   the HTTP endpoint bound; `WATCHDOG=1` from the scheduler loop at half of `WATCHDOG_USEC`;
//!   `STATUS=` lines; `STOPPING=1` on SIGTERM/SIGINT; `RELOADING=1` then `READY=1` on SIGHUP.
//! - **SIGTERM** drains: every company is told to stop (a `watch` channel); a task finishes the
//!   item it is on (the cycle sees [`CycleContext::shutdown`]) and returns; what is still
//!   running after `shutdown_timeout_secs` is cancelled; the store is flushed; exit 0.
//! - **SIGHUP** reloads: an invalid new configuration is refused, each error is logged and the
//!   old configuration keeps running; a valid one restarts exactly the companies added, removed
//!   or changed (a changed company's new task starts once its old one has finished).
//! - **Logs** go through `tracing`: to journald when stderr is the journal (`JOURNAL_STREAM`
//!   matches stderr), as text (or JSON) on stderr otherwise.
//!
//! The work of one cycle (pull, reconcile, plan, deliver) is not here: it is a [`CycleRunner`]
//! passed to [`run_with`].

use crate::clock::Clock;
use crate::config::schema::LogFormat;
use crate::config::{self, CompanyConfig, Config};
use crate::http::{self, HttpState};
use crate::metrics::{self, Metrics};
use crate::store::lease::{LeaseKeeper, LeaseSettings};
use crate::store::{SharedStore, Store};
use relance_connectors::http::HttpLayer;
use relance_core::CompanyId;
use sd_notify::NotifyState;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

/// What one cycle of one company did, for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Per source.
    pub sources: Vec<SourceReport>,
    /// Allocations decided.
    pub matches: u64,
    /// Dunning and provision actions planned.
    pub actions: u64,
    /// Outbox entries recorded by the cycle.
    pub enqueued: u64,
    /// Why no dunning plan was made, when none was.
    pub plan_error: Option<String>,
}

/// What one cycle did with one source (connector).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceReport {
    /// The source's name.
    pub connector: String,
    /// Pages pulled.
    pub pulls: u64,
    /// Files imported (folder sources).
    pub files: u64,
    /// Documents stored.
    pub documents: u64,
    /// Errors met (the cycle went on).
    pub errors: u64,
    /// Each error, naming the file or call and the reason.
    pub problems: Vec<String>,
    /// Files quarantined, with their reason.
    pub quarantined: Vec<(String, String)>,
    /// Entries not read (links, FIFOs...), with why.
    pub skipped: Vec<(String, String)>,
}

impl SourceReport {
    /// Counts and logs an error of this source.
    pub fn error(&mut self, company: &CompanyId, source: &str, message: String) {
        error!(company = %company, source, "{message}");
        self.errors += 1;
        self.problems.push(message);
    }
}

/// Everything a cycle may use.
#[derive(Clone, Debug)]
pub struct CycleContext {
    /// The company, as configured (paths absolute, secrets resolved to files).
    pub company: Arc<CompanyConfig>,
    /// The store shared by all companies (any backend).
    pub store: SharedStore,
    /// The state directory (quarantine, letters).
    pub state_dir: PathBuf,
    /// The clock (the cycle's `today` comes from it).
    pub clock: Clock,
    /// Turns `true` when the cycle should finish the item it is on and return (SIGTERM, or
    /// the company was removed or changed by a reload). Pass it to outbox delivery.
    pub shutdown: watch::Receiver<bool>,
    /// The HTTP layer shared by every company (per-host rate limits, Retry-After holds).
    pub http: Arc<HttpLayer>,
    /// The metrics registry (the daemon records the [`CycleReport`] itself; a cycle may add
    /// its own series).
    #[allow(dead_code)] // offered to cycles; the current pipeline reports through CycleReport
    pub metrics: Arc<Metrics>,
}

/// One company's cycle: what the daemon runs every poll interval.
pub trait CycleRunner: Send + Sync + 'static {
    /// What a company's task keeps from one cycle to the next (its connectors): made once
    /// when the task starts, so once per configuration generation (and again after a panic).
    type State: Send + 'static;
    /// Makes the task's state.
    fn prepare(&self, ctx: &CycleContext) -> Self::State;
    /// Runs one cycle. An `Err` is logged and counted, and the next cycle runs at the next
    /// interval; a panic restarts the company's task after a backoff.
    fn run_cycle<'a>(
        &'a self,
        ctx: CycleContext,
        state: &'a mut Self::State,
    ) -> impl Future<Output = anyhow::Result<CycleReport>> + Send + 'a;
}

impl<F, Fut> CycleRunner for F
where
    F: Fn(CycleContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<CycleReport>> + Send + 'static,
{
    type State = ();
    fn prepare(&self, _ctx: &CycleContext) {}
    fn run_cycle<'a>(
        &'a self,
        ctx: CycleContext,
        _state: &'a mut (),
    ) -> impl Future<Output = anyhow::Result<CycleReport>> + Send + 'a {
        self(ctx)
    }
}

/// Runs the daemon with the configuration in `config_dir` and `runner` as each company's
/// cycle, until SIGTERM or SIGINT (then `Ok`). A configuration refused at start is logged,
/// error by error, and returned as an error before anything starts.
pub fn run_with<R: CycleRunner>(
    config_dir: PathBuf,
    clock: Clock,
    runner: R,
) -> anyhow::Result<()> {
    run_with_listening(config_dir, clock, runner, None)
}

/// Called once with the operator API's TCP address, when it listens.
pub type OnApiListening = Box<dyn FnOnce(std::net::SocketAddr) + Send>;

/// [`run_with`], telling `on_api` the operator API's address once it listens (`relance demo
/// --console` prints it).
pub fn run_with_listening<R: CycleRunner>(
    config_dir: PathBuf,
    clock: Clock,
    runner: R,
    on_api: Option<OnApiListening>,
) -> anyhow::Result<()> {
    let loaded = config::load(&config_dir);
    match &loaded {
        Ok(cfg) => init_logging(cfg.global.log_format, &cfg.global.log_level),
        Err(_) => init_logging(LogFormat::Auto, "info"),
    }
    let cfg = match loaded {
        Ok(cfg) => cfg,
        Err(errors) => {
            for e in &errors.0 {
                error!(error = %e, "configuration error");
            }
            notify(&[NotifyState::Status("configuration refused, see the log")]);
            anyhow::bail!(
                "configuration in {} refused: {} error(s)",
                config_dir.display(),
                errors.0.len()
            );
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        Daemon::start(cfg, clock, Arc::new(runner), on_api)
            .await?
            .run()
            .await
    })
}

/// Sends notifications to systemd (nothing when `NOTIFY_SOCKET` is unset).
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        debug!(error = %e, "sd_notify failed");
    }
}

/// The watchdog period to ping at: half of `WATCHDOG_USEC`, when the watchdog is on for this
/// process (`WATCHDOG_PID` unset or equal to our pid, as sd_watchdog_enabled(3) says).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2).max(Duration::from_millis(10)))
}

/// True when stderr is the journal: `JOURNAL_STREAM` is `<device>:<inode>` of stderr.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .map(|m| m.dev() == dev && m.ino() == ino)
        .unwrap_or(false)
}

/// Installs the global `tracing` subscriber (once; later calls do nothing). `RUST_LOG`
/// overrides `level`.
pub fn init_logging(format: LogFormat, level: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let want_journal = match format {
        LogFormat::Journald => true,
        LogFormat::Auto => stderr_is_journal(),
        LogFormat::Text | LogFormat::Json => false,
    };
    let journald = if want_journal {
        tracing_journald::layer()
            .map(|l| l.with_syslog_identifier("relance".to_owned()))
            .ok()
    } else {
        None
    };
    let json = (journald.is_none() && format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    let text = (journald.is_none() && format != LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(json)
        .with(text)
        .try_init();
}

/// Sets the per-host rates of `http` from every company's configuration.
pub fn configure_http(http: &HttpLayer, companies: &[CompanyConfig]) {
    http.configure(companies.iter().flat_map(crate::registry::remote_hosts));
}

/// A doubling delay: `base` doubled per consecutive failure, at most `max` (how a panicked
/// company task is restarted, and [`RETRY`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for RestartPolicy {
    /// 1 s doubling to 5 min.
    fn default() -> Self {
        RestartPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RestartPolicy {
    /// Delay before restart number `n` (1 for the first restart after a run of successes).
    pub fn delay(&self, n: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.max)
    }
}

/// A task handle that aborts its task when dropped (a cancelled supervisor cancels its child).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for AbortOnDrop {
    type Output = Result<(), tokio::task::JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// What the company tasks share.
#[derive(Clone, Debug)]
struct Shared {
    store: SharedStore,
    state_dir: PathBuf,
    clock: Clock,
    metrics: Arc<Metrics>,
    http: Arc<HttpLayer>,
    restart: RestartPolicy,
    /// The companies as the API reaches them.
    hub: Arc<crate::api::hub::Hub>,
}

struct CompanyTask {
    config: Arc<CompanyConfig>,
    /// The lease token the task runs under (0 without leasing).
    token: u64,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// What a reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Companies started.
    pub added: Vec<String>,
    /// Companies stopped.
    pub removed: Vec<String>,
    /// Companies restarted with a new configuration.
    pub changed: Vec<String>,
    /// Companies left running.
    pub unchanged: usize,
}

/// The set of supervised company tasks.
pub struct Scheduler<R: CycleRunner> {
    runner: Arc<R>,
    shared: Shared,
    tasks: BTreeMap<CompanyId, CompanyTask>,
    /// Tasks told to stop by a reload, still finishing.
    retiring: Vec<JoinHandle<()>>,
    /// With leasing (the daemon), only these companies run, each writing through the store
    /// fenced by its lease's token; `None` runs every configured company (tests).
    leases: Option<BTreeMap<CompanyId, (u64, SharedStore)>>,
}

impl<R: CycleRunner> Scheduler<R> {
    fn new(runner: Arc<R>, shared: Shared) -> Self {
        Scheduler {
            runner,
            shared,
            tasks: BTreeMap::new(),
            retiring: Vec::new(),
            leases: None,
        }
    }

    /// Runs only leased companies from now on: `grant` adds, `revoke` removes (the caller
    /// then calls [`Scheduler::apply`]).
    fn lease(&mut self, grant: Vec<(CompanyId, u64, SharedStore)>, revoke: &[CompanyId]) {
        let leases = self.leases.get_or_insert_with(BTreeMap::new);
        for c in revoke {
            leases.remove(c);
        }
        for (c, token, store) in grant {
            leases.insert(c, (token, store));
        }
    }

    /// Stops these companies' tasks now and hands back their handles (to release their
    /// leases once they have finished).
    fn retire(&mut self, ids: &[CompanyId]) -> Vec<JoinHandle<()>> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(t) = self.tasks.remove(id) {
                let _ = t.stop.send(true);
                out.push(t.handle);
            }
            self.shared.hub.detach(id);
        }
        out
    }

    /// Makes the running set match `companies`: starts the new ones, stops the ones gone,
    /// restarts the ones whose configuration changed, leaves the others alone.
    fn apply(&mut self, companies: &[CompanyConfig]) -> Changes {
        let leased: Vec<CompanyConfig>;
        let companies = match &self.leases {
            Some(l) => {
                leased = companies
                    .iter()
                    .filter(|c| l.contains_key(&c.id))
                    .cloned()
                    .collect();
                &leased[..]
            }
            None => companies,
        };
        let mut changes = Changes::default();
        let wanted: BTreeMap<&CompanyId, &CompanyConfig> =
            companies.iter().map(|c| (&c.id, c)).collect();
        let gone: Vec<CompanyId> = self
            .tasks
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(t) = self.tasks.remove(&id) {
                let _ = t.stop.send(true);
                self.retiring.push(t.handle);
            }
            self.shared.hub.detach(&id);
            for name in [
                metrics::COMPANY_UP,
                metrics::OUTBOX_DEPTH,
                metrics::LAST_SUCCESS,
            ] {
                self.shared
                    .metrics
                    .remove_matching(name, "company", id.as_str());
            }
            changes.removed.push(id.to_string());
        }
        for c in companies {
            let (token, store) = match self.leases.as_ref().and_then(|l| l.get(&c.id)) {
                Some((t, s)) => (*t, s.clone()),
                None => (0, self.shared.store.clone()),
            };
            let prev = match self.tasks.get(&c.id) {
                Some(t) if *t.config == *c && t.token == token => {
                    changes.unchanged += 1;
                    continue;
                }
                Some(_) => {
                    changes.changed.push(c.id.to_string());
                    self.tasks.remove(&c.id).map(|t| {
                        let _ = t.stop.send(true);
                        t.handle
                    })
                }
                None => {
                    changes.added.push(c.id.to_string());
                    None
                }
            };
            let config = Arc::new(c.clone());
            let (stop, stop_rx) = watch::channel(false);
            // Up from the moment it is scheduled (READY=1 follows), before its task first runs.
            self.shared
                .metrics
                .set(metrics::COMPANY_UP, &[("company", c.id.as_str())], 1.0);
            let shared = Shared {
                store,
                ..self.shared.clone()
            };
            // Requests from the API (a cycle now, a job between cycles), served by the task.
            let (req_tx, req_rx) = tokio::sync::mpsc::channel(64);
            self.shared.hub.attach(&c.id, req_tx);
            let handle = tokio::spawn(supervise(
                self.runner.clone(),
                shared,
                config.clone(),
                stop_rx,
                prev,
                Arc::new(tokio::sync::Mutex::new(req_rx)),
            ));
            self.tasks.insert(
                c.id.clone(),
                CompanyTask {
                    config,
                    token,
                    stop,
                    handle,
                },
            );
        }
        self.retiring.retain(|h| !h.is_finished());
        changes
    }

    /// Tells every task to stop, waits up to `timeout` for them to finish, cancels the rest.
    /// Returns how many were cancelled.
    async fn shutdown(&mut self, timeout: Duration) -> usize {
        let mut handles: Vec<JoinHandle<()>> = std::mem::take(&mut self.retiring);
        for (id, t) in std::mem::take(&mut self.tasks) {
            let _ = t.stop.send(true);
            handles.push(t.handle);
            self.shared.hub.detach(&id);
        }
        let aborts: Vec<_> = handles.iter().map(|h| h.abort_handle()).collect();
        let drained = tokio::time::timeout(timeout, async {
            for h in handles {
                let _ = h.await;
            }
        })
        .await;
        if drained.is_ok() {
            return 0;
        }
        let cancelled = aborts.iter().filter(|a| !a.is_finished()).count();
        for a in aborts {
            a.abort();
        }
        cancelled
    }
}

/// Supervises one company: runs its loop in a child task and restarts it after a panic.
async fn supervise<R: CycleRunner>(
    runner: Arc<R>,
    shared: Shared,
    company: Arc<CompanyConfig>,
    mut stop: watch::Receiver<bool>,
    prev: Option<JoinHandle<()>>,
    requests: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<crate::api::hub::Request>>>,
) {
    let id = company.id.to_string();
    if let Some(prev) = prev {
        // A changed company: its old task finishes its current item first, so two cycles of
        // the same company never run at once.
        let _ = prev.await;
    }
    let consecutive_panics = Arc::new(AtomicU32::new(0));
    loop {
        if *stop.borrow() {
            return;
        }
        shared
            .metrics
            .set(metrics::COMPANY_UP, &[("company", &id)], 1.0);
        let child = AbortOnDrop(tokio::spawn(company_loop(
            runner.clone(),
            shared.clone(),
            company.clone(),
            stop.clone(),
            consecutive_panics.clone(),
            requests.clone(),
        )));
        match child.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let n = consecutive_panics.fetch_add(1, Ordering::SeqCst) + 1;
                let delay = shared.restart.delay(n);
                let what = panic_message(e.into_panic());
                error!(company = %id, panic = %what, restart_in_secs = delay.as_secs_f64(), "company task panicked");
                shared
                    .metrics
                    .set(metrics::COMPANY_UP, &[("company", &id)], 0.0);
                shared.metrics.inc(metrics::RESTARTS, &[("company", &id)]);
                shared
                    .metrics
                    .inc(metrics::CYCLES, &[("company", &id), ("outcome", "panic")]);
                shared
                    .metrics
                    .inc(metrics::ERRORS, &[("company", &id), ("connector", "cycle")]);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            Err(_) => return, // cancelled: the daemon is going away
        }
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

/// A small per-company offset of the first cycle (a hash of the id, up to the poll interval
/// and at most 10 s), so that a hundred companies do not all start their cycle at once.
fn first_cycle_offset(id: &str, poll: Duration) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    let span = poll.min(Duration::from_secs(10));
    let ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(if ms == 0 { 0 } else { h.finish() % ms })
}

/// The wait after cycles that failed or whose sources had errors: 30 s, doubling with each
/// such cycle in a row, up to one hour, never beyond the poll interval.
pub const RETRY: RestartPolicy = RestartPolicy {
    base: Duration::from_secs(30),
    max: Duration::from_secs(3600),
};

/// The wait before the next cycle after `failures` failed or partial cycles in a row (0: the
/// last one succeeded).
pub fn next_wait(poll: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return poll;
    }
    RETRY.delay(failures).min(poll)
}

/// One company's loop: a cycle, then a wait of `poll_interval`, until told to stop. While it
/// waits it serves the API's requests: a cycle now (the next wait starts after it), or a job
/// run between two cycles.
async fn company_loop<R: CycleRunner>(
    runner: Arc<R>,
    shared: Shared,
    company: Arc<CompanyConfig>,
    mut stop: watch::Receiver<bool>,
    consecutive_panics: Arc<AtomicU32>,
    requests: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<crate::api::hub::Request>>>,
) {
    use crate::api::hub::Request;
    let id = company.id.to_string();
    let mut requests = requests.lock().await;
    let mut next = tokio::time::Instant::now() + first_cycle_offset(&id, company.poll_interval);
    let context = |stop: &watch::Receiver<bool>| CycleContext {
        company: company.clone(),
        store: shared.store.clone(),
        state_dir: shared.state_dir.clone(),
        clock: shared.clock.clone(),
        shutdown: stop.clone(),
        http: shared.http.clone(),
        metrics: shared.metrics.clone(),
    };
    let mut state = runner.prepare(&context(&stop));
    let mut listening = true;
    // Cycles in a row that failed or had a source error: the next one comes sooner than the
    // poll interval (a source down at 8:00 is tried again before tomorrow).
    let mut failures = 0u32;
    loop {
        let request = tokio::select! {
            _ = tokio::time::sleep_until(next) => None,
            _ = stop.wait_for(|s| *s) => return,
            r = requests.recv(), if listening => match r {
                Some(r) => Some(r),
                // Every sender is gone (the company left this instance's hub): cycles go on
                // by the clock until the task is told to stop.
                None => {
                    listening = false;
                    continue;
                }
            },
        };
        let reply = match request {
            None => None,
            Some(Request::Cycle(reply)) => Some(reply),
            Some(Request::Job(job)) => {
                job(context(&stop)).await;
                continue;
            }
        };
        let ctx = context(&stop);
        debug!(company = %id, requested = reply.is_some(), "cycle starts");
        let result = runner.run_cycle(ctx, &mut state).await;
        let failed = !record_cycle(&shared, &id, &result);
        failures = if failed {
            failures.saturating_add(1)
        } else {
            0
        };
        let wait = next_wait(company.poll_interval, failures);
        if failed {
            info!(company = %id, retry_in_secs = wait.as_secs(), "cycle not complete: the next one comes sooner");
        }
        next = tokio::time::Instant::now() + wait;
        consecutive_panics.store(0, Ordering::SeqCst);
        update_outbox_depth(&shared, &company.id).await;
        let outcome = result.map_err(|e| format!("{e:#}"));
        shared
            .hub
            .cycled(&company.id, shared.clock.now(), outcome.clone());
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Counts a cycle in the metrics; true when it was a success (every source without an error).
fn record_cycle(shared: &Shared, id: &str, result: &anyhow::Result<CycleReport>) -> bool {
    let m = &shared.metrics;
    match result {
        Ok(r) => {
            for s in &r.sources {
                let l = [("company", id), ("connector", s.connector.as_str())];
                m.add(metrics::PULLS, &l, s.pulls);
                m.add(metrics::DOCUMENTS, &l, s.documents);
                if s.errors > 0 {
                    m.add(metrics::ERRORS, &l, s.errors);
                }
            }
            m.add(metrics::MATCHES, &[("company", id)], r.matches);
            m.add(metrics::ACTIONS, &[("company", id)], r.actions);
            // A cycle is a success only when every source pulled without an error: one whose
            // pulls failed must not look fresh on the dashboard.
            let failed = r.sources.iter().filter(|s| s.errors > 0).count();
            if failed == 0 {
                m.inc(metrics::CYCLES, &[("company", id), ("outcome", "ok")]);
                // Seconds since the epoch fit f64 exactly for the next few million years.
                let ts = shared.clock.now().timestamp() as f64;
                m.set(metrics::LAST_SUCCESS, &[("company", id)], ts);
            } else {
                m.inc(metrics::CYCLES, &[("company", id), ("outcome", "partial")]);
                warn!(company = %id, failed_sources = failed, "cycle done with source errors: not counted as a success");
            }
            let docs: u64 = r.sources.iter().map(|s| s.documents).sum();
            debug!(company = %id, documents = docs, matches = r.matches, actions = r.actions, "cycle done");
            failed == 0
        }
        Err(e) => {
            m.inc(metrics::CYCLES, &[("company", id), ("outcome", "error")]);
            m.inc(metrics::ERRORS, &[("company", id), ("connector", "cycle")]);
            error!(company = %id, error = format!("{e:#}"), "cycle failed");
            false
        }
    }
}

async fn update_outbox_depth(shared: &Shared, company: &CompanyId) {
    let store = shared.store.clone();
    let c = company.clone();
    let pending = tokio::task::spawn_blocking(move || {
        store
            .outbox(&c)
            .map(|v| v.iter().filter(|e| e.is_pending()).count())
    })
    .await;
    match pending {
        Ok(Ok(n)) => {
            // Entry counts are far below 2^53.
            shared.metrics.set(
                metrics::OUTBOX_DEPTH,
                &[("company", company.as_str())],
                n as f64,
            );
        }
        Ok(Err(e)) => warn!(company = %company, error = %e, "cannot read the outbox depth"),
        Err(e) => warn!(company = %company, error = %e, "outbox depth task failed"),
    }
}

/// Creates the folders of file sources that live under the state directory (relative paths
/// in the configuration), so an operator can drop files in them at once.
fn create_source_dirs(state_dir: &Path, companies: &[CompanyConfig]) {
    for c in companies {
        for path in crate::registry::folders(c) {
            if path.starts_with(state_dir) && !path.exists() {
                if let Err(e) = std::fs::create_dir_all(&path) {
                    warn!(company = %c.id, path = %path.display(), error = %e, "cannot create the source folder");
                }
            }
        }
    }
}

/// The lease times of the configured store: PostgreSQL's settings; sled's leases are local
/// (one process), with the defaults.
fn lease_settings(store: &config::StoreSettings) -> LeaseSettings {
    match store {
        config::StoreSettings::Postgres {
            lease,
            renew,
            instance,
            ..
        } => {
            let name = instance.clone().unwrap_or_else(default_instance_name);
            let mut s = LeaseSettings::new(name, *lease);
            s.renew = *renew;
            s.margin = (*lease / 5).min(*renew);
            s
        }
        config::StoreSettings::Sled => LeaseSettings::new("local", Duration::from_secs(30)),
    }
}

/// `<hostname>-<pid>`: unique among instances on several machines and on one.
fn default_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "relance".to_owned()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

/// Runs `f` on a thread of its own and waits for it: lease work never queues behind the
/// cycles' store calls on the runtime's blocking pool (with hundreds of companies busy, a
/// renewal waiting there would arrive after the lease had run out). `None` if the thread
/// could not start or panicked.
async fn on_lease_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("relance-lease".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.await.ok()
}

/// One lease round: heartbeat, renew, shed, claim (on a thread of its own), then the running
/// set follows: lost companies stop at once, shed ones stop and are released once their
/// task has finished, gained ones start.
async fn lease_round<R: CycleRunner>(
    keeper: &Arc<Mutex<LeaseKeeper>>,
    scheduler: &mut Scheduler<R>,
    config: &Config,
    metrics: &Arc<Metrics>,
    drain: Duration,
    apply: bool,
) {
    let ids: Vec<CompanyId> = config.companies.iter().map(|c| c.id.clone()).collect();
    let k = keeper.clone();
    let round = on_lease_thread(move || {
        let mut k = k.lock().unwrap_or_else(|p| p.into_inner());
        let (changes, result) = k.tick(&ids);
        let grants: Vec<(CompanyId, u64, SharedStore)> = changes
            .gained
            .iter()
            .map(|l| (l.company().clone(), l.token(), k.fenced(l.clone())))
            .collect();
        (changes, result, grants, k.stats())
    })
    .await;
    let Some((changes, result, grants, stats)) = round else {
        error!("lease round task failed");
        return;
    };
    if let Err(e) = result {
        warn!(error = %e, lost = changes.lost.len(), "lease round failed; retrying at the next one");
    }
    for c in &changes.lost {
        warn!(company = %c, "lease lost: the company stops here (another instance runs it)");
    }
    if !changes.gained.is_empty() {
        info!(gained = changes.gained.len(), "companies leased");
    }
    let mut revoke = changes.lost.clone();
    revoke.extend(changes.shed.iter().cloned());
    scheduler.lease(grants, &revoke);
    let lost_handles = scheduler.retire(&changes.lost);
    drop(lost_handles); // their writes are refused already; they stop on their own
    if !changes.shed.is_empty() {
        info!(
            shed = changes.shed.len(),
            "companies handed to other instances"
        );
        let handles = scheduler.retire(&changes.shed);
        let (keeper, shed) = (keeper.clone(), changes.shed.clone());
        tokio::spawn(async move {
            let aborts: Vec<_> = handles.iter().map(|h| h.abort_handle()).collect();
            let all = async {
                for h in handles {
                    let _ = h.await;
                }
            };
            if tokio::time::timeout(drain, all).await.is_err() {
                for a in aborts {
                    a.abort();
                }
            }
            let r = on_lease_thread(move || {
                keeper
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(&shed)
            })
            .await;
            if !matches!(r, Some(Ok(()))) {
                warn!("shed leases not released: they run out at expiry");
            }
        });
    }
    if apply {
        scheduler.apply(&config.companies);
    }
    use std::sync::atomic::Ordering as O;
    metrics.set(metrics::LEASES_HELD, &[], stats.held.load(O::SeqCst) as f64);
    metrics.set(
        metrics::LEASE_TAKEOVERS,
        &[],
        stats.takeovers.load(O::SeqCst) as f64,
    );
    metrics.set(metrics::LEASES_LOST, &[], stats.lost.load(O::SeqCst) as f64);
    metrics.set(
        metrics::FENCED_REFUSED,
        &[],
        stats.fenced.load(O::SeqCst) as f64,
    );
}

struct Daemon<R: CycleRunner> {
    config: Config,
    scheduler: Scheduler<R>,
    shared: Shared,
    ready: Arc<AtomicBool>,
    http_stop: watch::Sender<bool>,
    http_task: JoinHandle<()>,
    generation: u64,
    signals: Signals,
    /// This instance's leases (in a std mutex: ticks run on the blocking pool).
    keeper: Arc<Mutex<LeaseKeeper>>,
    /// The operator API's state (its companies follow reloads).
    api: crate::api::ApiState,
    /// The API's listeners.
    api_tasks: Vec<JoinHandle<()>>,
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl<R: CycleRunner> Daemon<R> {
    async fn start(
        config: Config,
        clock: Clock,
        runner: Arc<R>,
        on_api: Option<OnApiListening>,
    ) -> anyhow::Result<Self> {
        // Handlers first: from here on SIGHUP/SIGTERM are ours, not the default action.
        let signals = Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        };
        let g = &config.global;
        let shard = g.shard.as_deref().unwrap_or("-");
        info!(config = %config.dir.display(), state_dir = %g.state_dir.display(), shard, companies = config.companies.len(), "starting");
        for w in &config.warnings {
            warn!(warning = %w, "configuration warning");
        }
        notify(&[NotifyState::Status("opening the store")]);
        std::fs::create_dir_all(&g.state_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the state directory {}: {e}",
                g.state_dir.display()
            )
        })?;
        let state_dir = g.state_dir.clone();
        let backend = crate::store::Backend::from_settings(&g.store)?;
        info!(store = %backend.describe(), "opening the store");
        let store =
            tokio::task::spawn_blocking(move || crate::store::open_backend(&backend, &state_dir))
                .await
                .map_err(|e| anyhow::anyhow!("store open task failed: {e}"))??;
        let keeper = Arc::new(Mutex::new(LeaseKeeper::new(
            store.clone(),
            lease_settings(&g.store),
        )));
        create_source_dirs(&g.state_dir, &config.companies);

        let metrics = Arc::new(Metrics::new());
        metrics.set(
            metrics::BUILD_INFO,
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        metrics.set(metrics::READY, &[], 0.0);
        let ready = Arc::new(AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind(g.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", g.listen))?;
        let addr = listener.local_addr()?;
        info!(addr = %addr, "http listening");
        let (http_stop, mut http_stop_rx) = watch::channel(false);
        let state = HttpState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        };
        let http_task = tokio::spawn(async move {
            let stop = async move {
                let _ = http_stop_rx.wait_for(|s| *s).await;
            };
            if let Err(e) = http::serve(listener, state, stop).await {
                error!(error = %e, "http endpoint failed");
            }
        });

        // The operator API: the local socket always, the TCP listener unless disabled.
        let hub = Arc::new(crate::api::hub::Hub::default());
        let api = crate::api::ApiState::new(
            store.clone(),
            clock.clone(),
            hub.clone(),
            &config.companies,
            Arc::new(crate::pipeline::Pipeline::load(Some(&config.dir))?),
            (config.dir.clone(), g.state_dir.clone()),
            g.api.session_ttl,
        );
        let app = crate::api::router(api.clone());
        let mut api_tasks = Vec::new();
        let runtime_dir = std::env::var("RUNTIME_DIRECTORY")
            .ok()
            .and_then(|v| v.split(':').next().map(PathBuf::from))
            .filter(|p| p.is_absolute());
        let socket = g.api.socket_path(&g.state_dir, runtime_dir.as_deref());
        let unix = crate::api::serve::bind_socket(&socket, g.api.socket_mode)?;
        info!(socket = %socket.display(), "api socket listening");
        {
            let mut rx = http_stop.subscribe();
            api_tasks.push(tokio::spawn(crate::api::serve::serve_unix(
                unix,
                socket,
                app.clone(),
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
            )));
        }
        if g.api.enabled {
            let tls = match &g.api.tls {
                Some((cert, key)) => Some(crate::api::serve::tls_acceptor(cert, key)?),
                None => None,
            };
            let listener = tokio::net::TcpListener::bind(g.api.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {} (api): {e}", g.api.listen))?;
            let api_addr = listener.local_addr()?;
            info!(addr = %api_addr, tls = tls.is_some(), "api listening");
            if let Some(tell) = on_api {
                tell(api_addr);
            }
            let mut rx = http_stop.subscribe();
            api_tasks.push(tokio::spawn(crate::api::serve::serve_tcp(
                listener,
                app,
                tls,
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
            )));
        }

        let http = Arc::new(HttpLayer::new()?);
        configure_http(&http, &config.companies);
        let shared = Shared {
            store,
            state_dir: g.state_dir.clone(),
            clock,
            metrics: metrics.clone(),
            http,
            restart: RestartPolicy::default(),
            hub,
        };
        let mut scheduler = Scheduler::new(runner, shared.clone());
        // The first leases before READY: alone (sled, or the first PostgreSQL instance) this
        // instance runs every company at once; others come with their share.
        scheduler.lease(Vec::new(), &[]);
        lease_round(
            &keeper,
            &mut scheduler,
            &config,
            &metrics,
            g.shutdown_timeout,
            false,
        )
        .await;
        scheduler.apply(&config.companies);
        metrics.set(metrics::COMPANIES, &[], config.companies.len() as f64);
        metrics.set(metrics::CONFIG_GENERATION, &[], 1.0);
        metrics.set(metrics::READY, &[], 1.0);
        ready.store(true, Ordering::SeqCst);
        let status = format!(
            "running {} companies, http on {addr}",
            config.companies.len()
        );
        notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
        info!(companies = config.companies.len(), "ready");
        Ok(Daemon {
            config,
            scheduler,
            shared,
            ready,
            http_stop,
            http_task,
            generation: 1,
            signals,
            keeper,
            api,
            api_tasks,
        })
    }

    async fn run(mut self) -> anyhow::Result<()> {
        let watchdog = watchdog_interval();
        let mut tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if let Some(w) = watchdog {
            info!(
                every_ms = u64::try_from(w.as_millis()).unwrap_or(u64::MAX),
                "watchdog on"
            );
        }
        let renew = self
            .keeper
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .settings()
            .renew;
        let mut lease_tick = tokio::time::interval(renew);
        lease_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Expired sessions (and any document past its end) are purged every ten minutes.
        let mut purge_tick = tokio::time::interval(Duration::from_secs(600));
        purge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = purge_tick.tick() => {
                    let (store, now) = (self.shared.store.clone(), self.shared.clock.now());
                    match tokio::task::spawn_blocking(move || store.purge_documents(now)).await {
                        Ok(Ok(n)) if n > 0 => debug!(purged = n, "expired sessions purged"),
                        Ok(Err(e)) => warn!(error = %e, "expired sessions not purged"),
                        _ => {}
                    }
                }
                _ = lease_tick.tick() => {
                    let timeout = self.config.global.shutdown_timeout;
                    lease_round(&self.keeper, &mut self.scheduler, &self.config, &self.shared.metrics, timeout, true).await;
                }
                _ = self.signals.term.recv() => { info!(signal = "SIGTERM", "stopping"); break; }
                _ = self.signals.int.recv() => { info!(signal = "SIGINT", "stopping"); break; }
                _ = self.signals.hup.recv() => self.reload().await,
                _ = tick.tick(), if watchdog.is_some() => notify(&[NotifyState::Watchdog]),
            }
        }
        self.stop().await
    }

    async fn reload(&mut self) {
        notify(&[
            NotifyState::Reloading,
            NotifyState::Status("reloading the configuration"),
        ]);
        info!(config = %self.config.dir.display(), "SIGHUP: reloading the configuration");
        let dir = self.config.dir.clone();
        let running = self.shared.state_dir.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            // Paths resolve under the running state directory: a new `state_dir` waits for
            // the restart, as the log says, and nothing moves to it before.
            let env = config::Env::from_process();
            let asked = config::load_with(&dir, &env)
                .ok()
                .map(|c| c.global.state_dir);
            let env = config::Env {
                state_dir_override: Some(running),
                ..env
            };
            config::load_with(&dir, &env).map(|c| (c, asked))
        })
        .await;
        let m = &self.shared.metrics;
        let status = match loaded {
            Ok(Ok((new, asked_state_dir))) => {
                let g_old = &self.config.global;
                let g_new = &new.global;
                if asked_state_dir.is_some_and(|a| a != g_old.state_dir) {
                    warn!(
                        running = %g_old.state_dir.display(),
                        "state_dir changed: it takes effect at the next restart; until then every path stays under the running state directory"
                    );
                }
                if g_old.listen != g_new.listen
                    || g_old.log_format != g_new.log_format
                    || g_old.log_level != g_new.log_level
                    || g_old.shard != g_new.shard
                    || g_old.store != g_new.store
                {
                    warn!("listen, state_dir, log_format, log_level and shard take effect at the next restart; the running values are kept");
                }
                for w in &new.warnings {
                    warn!(warning = %w, "configuration warning");
                }
                create_source_dirs(&self.shared.state_dir, &new.companies);
                configure_http(&self.shared.http, &new.companies);
                // Companies added by the reload are claimed now, not at the next renewal.
                let timeout = new.global.shutdown_timeout;
                lease_round(
                    &self.keeper,
                    &mut self.scheduler,
                    &new,
                    &self.shared.metrics,
                    timeout,
                    false,
                )
                .await;
                let changes = self.scheduler.apply(&new.companies);
                self.api.set_companies(&new.companies);
                self.generation += 1;
                m.inc(metrics::RELOADS, &[("result", "ok")]);
                m.set(metrics::COMPANIES, &[], new.companies.len() as f64);
                m.set(metrics::CONFIG_GENERATION, &[], self.generation as f64);
                info!(
                    generation = self.generation,
                    added = ?changes.added,
                    removed = ?changes.removed,
                    changed = ?changes.changed,
                    unchanged = changes.unchanged,
                    "configuration reloaded"
                );
                let keep_global = self.config.global.clone();
                let shutdown_timeout = new.global.shutdown_timeout;
                self.config = new;
                // Only the drain timeout is taken live; the rest of `global` stays as started.
                self.config.global = config::Global {
                    shutdown_timeout,
                    ..keep_global
                };
                format!(
                    "running {} companies (configuration generation {})",
                    self.config.companies.len(),
                    self.generation
                )
            }
            Ok(Err(errors)) => {
                for e in &errors.0 {
                    error!(error = %e, "configuration error");
                }
                error!(
                    errors = errors.0.len(),
                    "configuration reload refused: the previous configuration keeps running"
                );
                m.inc(metrics::RELOADS, &[("result", "refused")]);
                format!(
                    "reload refused ({} errors), running the previous configuration ({} companies)",
                    errors.0.len(),
                    self.config.companies.len()
                )
            }
            Err(e) => {
                error!(error = %e, "configuration reload task failed");
                m.inc(metrics::RELOADS, &[("result", "refused")]);
                "reload failed, running the previous configuration".to_owned()
            }
        };
        notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.ready.store(false, Ordering::SeqCst);
        self.shared.metrics.set(metrics::READY, &[], 0.0);
        notify(&[
            NotifyState::Stopping,
            NotifyState::Status("draining in-flight work"),
        ]);
        let timeout = self.config.global.shutdown_timeout;
        let cancelled = self.scheduler.shutdown(timeout).await;
        if cancelled > 0 {
            warn!(
                cancelled,
                timeout_secs = timeout.as_secs(),
                "tasks still running at the drain timeout were cancelled"
            );
        }
        // Every company has stopped: give the leases up so the other instances take the
        // companies at once instead of after the lease time.
        let keeper = self.keeper.clone();
        match tokio::task::spawn_blocking(move || {
            keeper
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .release_all()
        })
        .await
        {
            Ok(Ok(())) => info!("leases released"),
            Ok(Err(e)) => {
                warn!(error = %e, "leases not released: the other instances take them at expiry")
            }
            Err(e) => warn!(error = %e, "lease release task failed"),
        }
        let store = self.shared.store.clone();
        match tokio::task::spawn_blocking(move || store.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(error = %e, "store flush failed"),
            Err(e) => error!(error = %e, "store flush task failed"),
        }
        let _ = self.http_stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.http_task).await;
        self.http_task.abort();
        for mut t in std::mem::take(&mut self.api_tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut t).await;
            t.abort();
        }
        notify(&[NotifyState::Status("stopped")]);
        info!("stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::{DirSource, ReconcilePolicy, WritebackConfig};
    use relance_core::Currency;
    use std::sync::atomic::AtomicU64;

    fn company(id: &str, poll_secs: u64) -> CompanyConfig {
        CompanyConfig {
            file: PathBuf::from(format!("/x/{id}.toml")),
            id: CompanyId::new(id),
            name: id.to_owned(),
            siren: None,
            currency: Currency::EUR,
            poll_interval: Duration::from_secs(poll_secs),
            sources: vec![crate::config::schema::SourceConfig::BankDir(DirSource {
                name: "bank".into(),
                path: PathBuf::from("/x/bank"),
                settle_secs: 0,
            })],
            writeback: WritebackConfig::None,
            reconcile: ReconcilePolicy::default(),
            dunning: Default::default(),
            provision: Default::default(),
            mail: None,
        }
    }

    fn shared(dir: &Path) -> Shared {
        Shared {
            store: Arc::new(crate::store::SledStore::open(&dir.join("store")).unwrap()),
            state_dir: dir.to_owned(),
            clock: Clock::fixed_date(chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
            metrics: Arc::new(Metrics::new()),
            http: Arc::new(HttpLayer::new().unwrap()),
            restart: RestartPolicy::default(),
            hub: Arc::default(),
        }
    }

    /// Waits (in paused virtual time) until `f` holds, at most `limit` of virtual time.
    async fn until(limit: Duration, f: impl Fn() -> bool) -> bool {
        let end = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < end {
            if f() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        f()
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_company_is_restarted_and_others_keep_running() {
        let dir = tempfile::tempdir().unwrap();
        let sh = shared(dir.path());
        let calls: Arc<std::sync::Mutex<BTreeMap<String, u64>>> = Arc::default();
        let c2 = calls.clone();
        let runner = move |ctx: CycleContext| {
            let calls = c2.clone();
            async move {
                let id = ctx.company.id.to_string();
                let n = {
                    let mut m = calls.lock().unwrap();
                    let e = m.entry(id.clone()).or_insert(0);
                    *e += 1;
                    *e
                };
                if id == "bad" && n <= 2 {
                    panic!("boom {n}");
                }
                if id == "err" {
                    anyhow::bail!("remote said no");
                }
                Ok(CycleReport {
                    sources: vec![SourceReport {
                        connector: "bank".into(),
                        pulls: 1,
                        documents: 2,
                        ..Default::default()
                    }],
                    matches: 1,
                    actions: 0,
                    ..Default::default()
                })
            }
        };
        let mut s = Scheduler::new(Arc::new(runner), sh.clone());
        let changes = s.apply(&[company("good", 60), company("bad", 60), company("err", 60)]);
        assert_eq!(changes.added.len(), 3);
        let m = sh.metrics.clone();
        let ok = until(Duration::from_secs(600), || {
            m.get(metrics::RESTARTS, &[("company", "bad")]) == Some(2.0)
                && m.get(metrics::CYCLES, &[("company", "bad"), ("outcome", "ok")])
                    .is_some()
                && m.get(metrics::CYCLES, &[("company", "good"), ("outcome", "ok")]) >= Some(2.0)
                && m.get(metrics::CYCLES, &[("company", "err"), ("outcome", "error")]) >= Some(2.0)
        })
        .await;
        assert!(ok, "{}", m.render());
        assert!(
            m.get(metrics::CYCLES, &[("company", "good"), ("outcome", "ok")])
                .unwrap()
                >= 2.0
        );
        assert!(
            m.get(metrics::CYCLES, &[("company", "err"), ("outcome", "error")])
                .unwrap()
                >= 2.0
        );
        assert_eq!(m.get(metrics::COMPANY_UP, &[("company", "bad")]), Some(1.0));
        assert_eq!(
            m.get(metrics::OUTBOX_DEPTH, &[("company", "good")]),
            Some(0.0)
        );
        assert!(
            m.get(
                metrics::DOCUMENTS,
                &[("company", "good"), ("connector", "bank")]
            )
            .unwrap()
                >= 2.0
        );
        assert_eq!(s.shutdown(Duration::from_secs(5)).await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn reload_restarts_only_what_changed_and_shutdown_drains() {
        let dir = tempfile::tempdir().unwrap();
        let sh = shared(dir.path());
        let cycles = Arc::new(AtomicU64::new(0));
        let c2 = cycles.clone();
        let runner = move |mut ctx: CycleContext| {
            let cycles = c2.clone();
            async move {
                cycles.fetch_add(1, Ordering::SeqCst);
                // A long item: it ends early when asked to stop (as delivery does).
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    _ = ctx.shutdown.wait_for(|s| *s) => {}
                }
                Ok(CycleReport::default())
            }
        };
        let mut s = Scheduler::new(Arc::new(runner), sh.clone());
        s.apply(&[company("a", 60), company("b", 60)]);
        tokio::time::sleep(Duration::from_secs(15)).await;
        let changes = s.apply(&[company("a", 60), company("b", 120), company("c", 60)]);
        assert_eq!(changes.added, vec!["c".to_owned()]);
        assert_eq!(changes.changed, vec!["b".to_owned()]);
        assert_eq!(changes.unchanged, 1);
        let changes = s.apply(&[company("b", 120), company("c", 60)]);
        assert_eq!(changes.removed, vec!["a".to_owned()]);
        assert!(sh
            .metrics
            .get(metrics::COMPANY_UP, &[("company", "a")])
            .is_none());
        tokio::time::sleep(Duration::from_secs(15)).await;
        // Every task is mid-item (30 s items); a drain asks them to stop and they finish.
        assert_eq!(s.shutdown(Duration::from_secs(60)).await, 0);
        assert!(cycles.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_cancels_what_does_not_drain_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let sh = shared(dir.path());
        let runner = |_ctx: CycleContext| async move {
            // Ignores the shutdown signal.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(CycleReport::default())
        };
        let mut s = Scheduler::new(Arc::new(runner), sh);
        s.apply(&[company("stuck", 1)]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(s.shutdown(Duration::from_secs(10)).await, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cycle_whose_pulls_all_failed_is_not_a_success() {
        let dir = tempfile::tempdir().unwrap();
        let sh = shared(dir.path());
        let runner = |ctx: CycleContext| async move {
            let failing = ctx.company.id.as_str() == "down";
            Ok(CycleReport {
                sources: vec![SourceReport {
                    connector: "erp".into(),
                    errors: u64::from(failing),
                    problems: if failing {
                        vec!["pull failed: connection refused".into()]
                    } else {
                        vec![]
                    },
                    ..Default::default()
                }],
                ..Default::default()
            })
        };
        let mut s = Scheduler::new(Arc::new(runner), sh.clone());
        s.apply(&[company("down", 60), company("up", 60)]);
        let m = sh.metrics.clone();
        let ok = until(Duration::from_secs(600), || {
            m.get(
                metrics::CYCLES,
                &[("company", "down"), ("outcome", "partial")],
            ) >= Some(2.0)
                && m.get(metrics::CYCLES, &[("company", "up"), ("outcome", "ok")]) >= Some(2.0)
        })
        .await;
        assert!(ok, "{}", m.render());
        assert_eq!(m.get(metrics::LAST_SUCCESS, &[("company", "down")]), None);
        assert!(m.get(metrics::LAST_SUCCESS, &[("company", "up")]).is_some());
        assert!(
            m.get(
                metrics::ERRORS,
                &[("company", "down"), ("connector", "erp")]
            ) >= Some(2.0)
        );
        assert_eq!(s.shutdown(Duration::from_secs(5)).await, 0);
    }

    /// A source that fails on a daily poll is tried again after 30 s, then 60 s, not
    /// tomorrow; once it succeeds the company waits its poll interval again.
    #[tokio::test(start_paused = true)]
    async fn a_cycle_with_a_failed_source_is_tried_again_soon() {
        let dir = tempfile::tempdir().unwrap();
        let sh = shared(dir.path());
        let calls = Arc::new(AtomicU64::new(0));
        let c2 = calls.clone();
        let runner = move |_ctx: CycleContext| {
            let n = c2.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                Ok(CycleReport {
                    sources: vec![SourceReport {
                        connector: "erp".into(),
                        errors: u64::from(n <= 2),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
        };
        let mut s = Scheduler::new(Arc::new(runner), sh.clone());
        s.apply(&[company("flaky", 86_400)]);
        let m = sh.metrics.clone();
        // First cycle within the 10 s start offset, then 30 s and 60 s later: 100 s suffice.
        let ok = until(Duration::from_secs(100), || {
            m.get(metrics::CYCLES, &[("company", "flaky"), ("outcome", "ok")]) == Some(1.0)
        })
        .await;
        assert!(ok, "{}", m.render());
        assert_eq!(
            m.get(
                metrics::CYCLES,
                &[("company", "flaky"), ("outcome", "partial")]
            ),
            Some(2.0)
        );
        // Healthy again: the next cycle is a day away.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(s.shutdown(Duration::from_secs(5)).await, 0);
    }

    #[test]
    fn waits_after_failures_double_up_to_the_poll_interval() {
        let day = Duration::from_secs(86_400);
        assert_eq!(next_wait(day, 0), day);
        assert_eq!(next_wait(day, 1), Duration::from_secs(30));
        assert_eq!(next_wait(day, 2), Duration::from_secs(60));
        assert_eq!(next_wait(day, 8), Duration::from_secs(3600));
        assert_eq!(next_wait(day, 40), Duration::from_secs(3600));
        assert_eq!(
            next_wait(Duration::from_secs(10), 3),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn restart_delays_double_up_to_the_cap() {
        let p = RestartPolicy::default();
        assert_eq!(p.delay(1), Duration::from_secs(1));
        assert_eq!(p.delay(2), Duration::from_secs(2));
        assert_eq!(p.delay(4), Duration::from_secs(8));
        assert_eq!(p.delay(30), Duration::from_secs(300));
    }
}
