//! Crash tests with real process kills: a child process (this test binary re-executed in
//! "child mode") delivers outbox entries to a fake remote, or commits sync batches, and is
//! SIGKILLed at random instants, then restarted; at the end every effect is applied exactly
//! once and the store holds every batch exactly once with its cursor.
//!
//! The child is started as `<this test binary> kill_delivery::child_process_entry --exact`
//! with `RELANCE_KILLTEST_CHILD` set; run normally, that entry point does nothing.
//!
//! Both tests run on both backends: sled (a store directory) and PostgreSQL (a database of
//! the test's own on the test server; a killed child's open transaction is rolled back by
//! the server when its connection drops).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use crate::store_model::{self, Model};
use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relance::outbox::{deliver_pending, RetryPolicy};
use relance::store::{Batch, OutboxEntry, OutboxState, PgStore, SharedStore, SledStore, Store};
use relance_connectors::contract::{IdempotencyKey, RemoteRef, WriteBack, WriteCommand};
use relance_connectors::error::ConnectorError;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHILD_ENV: &str = "RELANCE_KILLTEST_CHILD";
const DIR_ENV: &str = "RELANCE_KILLTEST_DIR";
const REMOTE_ENV: &str = "RELANCE_KILLTEST_REMOTE";
const SEED_ENV: &str = "RELANCE_KILLTEST_SEED";
const LAST_ENV: &str = "RELANCE_KILLTEST_LAST";
const EPOCH_ENV: &str = "RELANCE_KILLTEST_EPOCH_SECS";
/// The PostgreSQL database of the test (unset: sled in the directory of `DIR_ENV`).
const PGDB_ENV: &str = "RELANCE_KILLTEST_PG_DB";
const TARGET: &str = "fake";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

/// Where a test keeps its store.
enum Backend {
    Sled(tempfile::TempDir),
    Pg(crate::pg::TestDb),
}

impl Backend {
    fn sled() -> Self {
        Backend::Sled(tempfile::tempdir().unwrap())
    }

    /// A database of the test's own, or `None` after a loud skip.
    fn pg(tag: &str) -> Option<Self> {
        crate::pg::test_db(tag).map(Backend::Pg)
    }

    /// What the child needs to open the same store.
    fn envs(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Sled(d) => vec![(DIR_ENV, d.path().display().to_string())],
            Backend::Pg(db) => vec![(DIR_ENV, String::new()), (PGDB_ENV, db.name.clone())],
        }
    }

    fn open(&self) -> SharedStore {
        match self {
            Backend::Sled(d) => Arc::new(SledStore::open(d.path()).unwrap()),
            Backend::Pg(db) => Arc::new(PgStore::open(&db.cfg).unwrap()),
        }
    }
}

/// The child's store, from its environment.
fn child_store() -> SharedStore {
    match std::env::var(PGDB_ENV) {
        Ok(name) => {
            let admin = crate::pg::admin().unwrap();
            Arc::new(PgStore::open(&admin.with_database(&name)).unwrap())
        }
        Err(_) => Arc::new(SledStore::open(Path::new(&std::env::var(DIR_ENV).unwrap())).unwrap()),
    }
}

fn spawn_child(mode: &str, envs: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "kill_delivery::child_process_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, mode)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Child-mode entry point; does nothing unless started by one of the tests below.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    match mode.as_str() {
        "deliver" => child_deliver(&std::env::var(REMOTE_ENV).unwrap()),
        "sync" => child_sync(
            std::env::var(SEED_ENV).unwrap().parse().unwrap(),
            std::env::var(LAST_ENV).unwrap().parse().unwrap(),
        ),
        other => panic!("unknown child mode {other}"),
    }
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------------
// Sync: batches of records + cursor, killed at random instants.

fn child_sync(seed: u64, last: u64) {
    let store = child_store();
    let snaps = Model::snapshots(seed, last);
    // Resume from the committed cursor, after checking the store holds exactly that prefix.
    let from = store_model::check_consistent(&*store, seed, &snaps, 0, last);
    let mut out = std::io::stdout();
    writeln!(out, "\nRESUMED {from}").unwrap();
    for k in from + 1..=last {
        store
            .commit(&store_model::company(), store_model::batch(seed, k))
            .unwrap();
        writeln!(out, "COMMITTED {k}").unwrap();
        out.flush().unwrap();
    }
}

/// What the child reported: the last batch committed, and where it resumed.
type Progress = Arc<Mutex<(u64, Option<u64>)>>;

/// Reads the child's stdout on a thread (it ends when the child dies).
fn watch_stdout(child: &mut Child) -> (Progress, std::thread::JoinHandle<()>) {
    let state = Arc::new(Mutex::new((0u64, None)));
    let stdout = child.stdout.take().unwrap();
    let s = Arc::clone(&state);
    let handle = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(k) = line.strip_prefix("COMMITTED ") {
                s.lock().unwrap().0 = k.parse().unwrap();
            } else if let Some(k) = line.strip_prefix("RESUMED ") {
                let k: u64 = k.parse().unwrap();
                let mut g = s.lock().unwrap();
                g.0 = k;
                g.1 = Some(k);
            }
        }
    });
    (state, handle)
}

/// Waits until the child says it has opened the store and started working (or has exited),
/// so the kill lands in its work, not in its start-up.
fn wait_started(child: &mut Child, progress: &Progress) {
    for _ in 0..15_000 {
        if progress.lock().unwrap().1.is_some() || child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("child did not start within 30 s");
}

#[test]
fn sync_killed_at_random_points_commits_every_batch_once_with_its_cursor() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    sync_killed(&Backend::sled());
}

#[test]
fn sync_killed_at_random_points_commits_every_batch_once_with_its_cursor_on_postgres() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    if let Some(b) = Backend::pg("killsync") {
        sync_killed(&b);
    }
}

fn sync_killed(backend: &Backend) {
    let (seed, last) = (7u64, 400u64);
    let snaps = Model::snapshots(seed, last);
    let mut envs = backend.envs();
    envs.push((SEED_ENV, seed.to_string()));
    envs.push((LAST_ENV, last.to_string()));
    let mut rng = StdRng::seed_from_u64(11);
    let mut reported = 0u64;
    let (mut kills, mut mid_commit) = (0, 0);
    for round in 0..80 {
        let mut child = spawn_child("sync", &envs);
        let (progress, reader) = watch_stdout(&mut child);
        wait_started(&mut child, &progress);
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let status = child.wait().unwrap();
        reader.join().unwrap(); // every line the child wrote has been read
        let (committed, resumed) = *progress.lock().unwrap();
        if !finished && resumed.is_some() {
            mid_commit += 1; // killed while committing batches, not while opening
        }
        if let Some(resumed) = resumed {
            assert!(
                resumed >= reported,
                "round {round}: resumed at {resumed}, below {reported}"
            );
        }
        // Every commit the child reported (this round or before) is on disk; at most the one
        // in flight is extra.
        let lo = committed.max(reported);
        let store = backend.open();
        let k = store_model::check_consistent(&*store, seed, &snaps, lo, (lo + 1).min(last));
        drop(store);
        reported = k;
        if finished {
            assert!(status.success(), "child failed: {status}");
            if k == last {
                break;
            }
        }
    }
    // Finish without kills.
    let mut child = spawn_child("sync", &envs);
    let _ = watch_stdout(&mut child);
    assert!(child.wait().unwrap().success());
    let store = backend.open();
    store_model::check_consistent(&*store, seed, &snaps, last, last);
    eprintln!(
        "kill sync: {kills} SIGKILLs ({mid_commit} while committing), every batch present once, cursor at {last}"
    );
}

// ---------------------------------------------------------------------------------------------
// Delivery: a fake remote on 127.0.0.1 counts effects; the delivering child is killed.

/// The fake remote's state: effects applied per key, connections being served.
#[derive(Default)]
struct Remote {
    effects: Mutex<HashMap<String, u32>>,
    apply_calls: Mutex<HashMap<String, u32>>,
    active: AtomicUsize,
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn serve(remote: Arc<Remote>, mut stream: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return, // the client died mid-request: nothing happens
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if let (Some(key), "GET") = (path.strip_prefix("/applied/"), method) {
        match remote.effects.lock().unwrap().get(key) {
            Some(_) => respond(&mut stream, "200 OK", &format!("ref-{key}")),
            None => respond(&mut stream, "404 Not Found", ""),
        }
    } else if let (Some(key), "POST") = (path.strip_prefix("/apply/"), method) {
        let calls = {
            let mut c = remote.apply_calls.lock().unwrap();
            let n = c.entry(key.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        // Every fifth key fails transiently on its first call (a 503 with Retry-After).
        let hash: u32 = key.bytes().map(u32::from).sum();
        if calls == 1 && hash.is_multiple_of(5) {
            respond(&mut stream, "503 Service Unavailable", "");
            return;
        }
        // Not idempotent on purpose: a second apply would be a second effect, so only
        // find_applied-before-apply keeps effects at one.
        *remote
            .effects
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_insert(0) += 1;
        // Widen the window between the remote's success and the child's "done".
        std::thread::sleep(Duration::from_millis(u64::from(hash % 4)));
        respond(&mut stream, "200 OK", &format!("ref-{key}"));
    } else if path == "/barrier" {
        respond(&mut stream, "200 OK", "");
    } else {
        respond(&mut stream, "400 Bad Request", "");
    }
}

fn start_remote() -> (Arc<Remote>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let remote = Arc::new(Remote::default());
    let r = Arc::clone(&remote);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let r = Arc::clone(&r);
            r.active.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                serve(Arc::clone(&r), stream);
                r.active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (remote, addr)
}

/// A `WriteBack` over the fake remote's tiny HTTP API (blocking IO is fine in this test).
struct HttpRemote {
    addr: String,
}

impl HttpRemote {
    fn call(&self, method: &str, path: &str) -> Result<(u16, String), ConnectorError> {
        let mut s =
            TcpStream::connect(&self.addr).map_err(|e| ConnectorError::transient(e.to_string()))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: fake\r\nContent-Length: 0\r\n\r\n"
        )
        .map_err(|e| ConnectorError::transient(e.to_string()))?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)
            .map_err(|e| ConnectorError::transient(e.to_string()))?;
        let status = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }
}

impl WriteBack for HttpRemote {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        match self.call("GET", &format!("/applied/{}", key.as_str()))? {
            (200, body) => Ok(Some(RemoteRef(body))),
            (404, _) => Ok(None),
            (code, _) => Err(ConnectorError::transient(format!("HTTP {code}"))),
        }
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        _cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        match self.call("POST", &format!("/apply/{}", key.as_str()))? {
            (200, body) => Ok(RemoteRef(body)),
            (503, _) => Err(ConnectorError::Transient {
                message: "HTTP 503".into(),
                retry_after: Some(Duration::from_millis(5)),
            }),
            (code, _) => Err(ConnectorError::Permanent(format!("HTTP {code}"))),
        }
    }
}

fn child_deliver(addr: &str) {
    let store = child_store();
    println!("\nRESUMED 0");
    let epoch: i64 = std::env::var(EPOCH_ENV).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = HttpRemote {
        addr: addr.to_owned(),
    };
    let policy = RetryPolicy {
        base: Duration::from_millis(2),
        max: Duration::from_millis(10),
        max_attempts: 1000,
    };
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    rt.block_on(async {
        // Each child's clock starts after every earlier child's (the parent passes the epoch).
        let start = tokio::time::Instant::now();
        let now = || {
            t0() + chrono::Duration::seconds(epoch)
                + chrono::Duration::from_std(start.elapsed()).unwrap()
        };
        loop {
            let c = store_model::company();
            deliver_pending(&store, &c, TARGET, &target, now(), &policy, &cancel)
                .await
                .unwrap();
            if store.outbox_pending(&c, TARGET).unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
}

#[test]
fn delivery_killed_at_random_points_applies_every_effect_exactly_once() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    delivery_killed(&Backend::sled());
}

#[test]
fn delivery_killed_at_random_points_applies_every_effect_exactly_once_on_postgres() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    if let Some(b) = Backend::pg("killdeliver") {
        delivery_killed(&b);
    }
}

fn delivery_killed(backend: &Backend) {
    const N: usize = 120;
    let (remote, addr) = start_remote();
    {
        let store = backend.open();
        let mut b = Batch::default();
        for i in 0..N {
            let key = IdempotencyKey::derive("acme", "note", &[&i.to_string()]);
            let cmd = WriteCommand::AddNote {
                target_kind: "invoice".into(),
                target: format!("F{i}"),
                text: "relance".into(),
            };
            b.outbox_new.push(OutboxEntry::new(key, TARGET, cmd, t0()));
        }
        store.commit(&store_model::company(), b).unwrap();
    }
    let mut rng = StdRng::seed_from_u64(5);
    let mut kills = 0;
    let mut finished = false;
    for round in 0..80u64 {
        let mut envs = backend.envs();
        envs.push((REMOTE_ENV, addr.clone()));
        envs.push((EPOCH_ENV, (round * 3600).to_string()));
        let mut child = spawn_child("deliver", &envs);
        let (progress, _reader) = watch_stdout(&mut child);
        wait_started(&mut child, &progress);
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
            child.wait().unwrap();
        } else {
            assert!(child.wait().unwrap().success());
            finished = true;
        }
        // Let requests the dead child left in flight reach the remote before restarting: the
        // listener accepts in order, so once our barrier request is served every connection
        // the child opened has been accepted (and counted); then wait for them to finish.
        let barrier = HttpRemote { addr: addr.clone() };
        assert_eq!(barrier.call("GET", "/barrier").unwrap().0, 200);
        while remote.active.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        if finished {
            break;
        }
    }
    if !finished {
        let mut envs = backend.envs();
        envs.push((REMOTE_ENV, addr.clone()));
        envs.push((EPOCH_ENV, (100 * 3600).to_string()));
        let mut child = spawn_child("deliver", &envs);
        let _ = watch_stdout(&mut child);
        assert!(child.wait().unwrap().success());
    }
    let store = backend.open();
    let entries = store.outbox(&store_model::company()).unwrap();
    assert_eq!(entries.len(), N);
    let effects = remote.effects.lock().unwrap();
    let mut found_applied = 0;
    for e in &entries {
        assert_eq!(
            effects.get(e.key.as_str()),
            Some(&1),
            "effect count of {}",
            e.key.as_str()
        );
        match &e.state {
            OutboxState::Done {
                found_applied: f,
                remote_ref,
                ..
            } => {
                assert_eq!(remote_ref.0, format!("ref-{}", e.key.as_str()));
                found_applied += usize::from(*f);
            }
            other => panic!("{} not done: {other:?}", e.key.as_str()),
        }
    }
    assert_eq!(effects.len(), N);
    eprintln!(
        "kill delivery: {kills} SIGKILLs, {N} effects applied once each, {found_applied} found already applied after a kill"
    );
}
