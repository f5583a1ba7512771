//! The [`Store`] on PostgreSQL: for several relance instances on several machines sharing one
//! configuration's companies, each company leased by one instance at a time ([`super::lease`]).
//!
//! - **Semantics as sled's.** One [`Store::commit`] is one transaction: a batch's records, its
//!   cursors, its outbox entries and its audit entries are all committed or none. The commit
//!   locks the company's row (so two commits of one company are serialised, like sled's commit
//!   lock), and a batch carrying a fencing token first checks the company's lease row, under
//!   `FOR SHARE`, in the same transaction: a takeover (`FOR UPDATE SKIP LOCKED`) cannot slip
//!   between the check and the writes.
//! - **Tables** (see `migrations/`): one per record kind, keyed by `(company, key)`, with the
//!   columns the operator API filters on as real, indexed columns (invoices by customer, status
//!   and due date; receipts by booking date and transaction; allocations by invoice; the audit
//!   log by sequence, subject and kind) and the record itself as a versioned JSON body (`v`,
//!   `body jsonb`, the same envelope version as sled's). Writes are one multi-row statement per
//!   record kind (`unnest` of arrays), not one per record.
//! - **Schema versions** are refinery migrations embedded in the binary, run when the store is
//!   opened under an advisory lock (instances starting together migrate once). A database
//!   whose schema is newer than this build's is refused before anything is touched.
//! - **Driver**: tokio-postgres with a deadpool pool. The [`Store`] trait is synchronous and
//!   called from blocking threads; the store runs its queries on a runtime of its own (two
//!   worker threads) and the calling thread waits on a channel, so no async worker of the
//!   caller's runtime is ever blocked on a query and no `block_on` is nested in a runtime.
//! - **Secrets**: the URL (which may hold the password) comes from a file; the password may
//!   come from its own file or credential. Neither is ever logged or put in an error: the
//!   store is described by [`PgConfig::describe`] (host, port, database, user).

use super::lease::LeaseGrant;
use super::schema::RECORD_VERSION;
use super::{
    AllocationRecord, AuditEntry, Batch, CommitOutcome, CustomerRecord, DeadLetter, Document,
    InboxEntry, InboxItem, InvoiceRecord, OutboxEntry, OutboxState, ProvisionState, ReceiptRecord,
    SeenFile, Store, StoreError,
};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use relance_connectors::contract::{Cursor, IdempotencyKey};
use relance_core::{CompanyId, CustomerId, InvoiceId, TransactionId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

mod embedded {
    refinery::embed_migrations!("src/store/postgres/migrations");
}

/// The latest schema version this build knows (the highest embedded migration).
pub fn schema_version() -> u32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .filter_map(|m| u32::try_from(m.version()).ok())
        .max()
        .unwrap_or(0)
}

/// Connections each store keeps apart for its instance's heartbeats and leases.
const LEASE_CONNECTIONS: usize = 2;

/// How to reach the database. `Debug` and [`PgConfig::describe`] never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    url: String,
    password: Option<String>,
    /// Connections in the pool (default 8).
    pub pool_size: usize,
    /// How long a connection attempt may take (default 5 s).
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("database", &self.describe())
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl PgConfig {
    /// A configuration from a `postgres://user[:password]@host[:port]/database[?options]` URL
    /// (or a `key=value` connection string), with the password given apart when it is not in
    /// the URL. The URL is checked here; errors never quote it.
    pub fn new(url: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let url = url.trim().to_owned();
        tokio_postgres::Config::from_str(&url)
            .map_err(|e| StoreError::Postgres(format!("invalid connection URL: {e}")))?;
        Ok(PgConfig {
            url,
            password: password.map(|p| p.trim_end_matches(['\r', '\n']).to_owned()),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
        })
    }

    fn pg(&self) -> tokio_postgres::Config {
        // Checked in `new`; a failure here would only mean an empty config, refused at connect.
        let mut c = tokio_postgres::Config::from_str(&self.url).unwrap_or_default();
        if let Some(p) = &self.password {
            c.password(p);
        }
        if c.get_application_name().is_none() {
            c.application_name("relance");
        }
        c.connect_timeout(self.connect_timeout);
        c.keepalives(true);
        c.keepalives_idle(Duration::from_secs(30));
        c
    }

    /// `user@host:port/database`, for logs and errors (never the password).
    pub fn describe(&self) -> String {
        let c = tokio_postgres::Config::from_str(&self.url).unwrap_or_default();
        let host = c
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(s) => s.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect::<Vec<_>>()
            .join(",");
        let port = c.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            c.get_user().unwrap_or("?"),
            c.get_dbname().unwrap_or("?")
        )
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, dbname: &str) -> Self {
        let mut c = self.clone();
        let base = self.url.split('?').next().unwrap_or(&self.url);
        let query = self.url.split_once('?').map(|(_, q)| q);
        if base.starts_with("postgres://") || base.starts_with("postgresql://") {
            let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
            let authority = rest.split('/').next().unwrap_or(rest);
            c.url = match query {
                Some(q) => format!("{scheme}://{authority}/{dbname}?{q}"),
                None => format!("{scheme}://{authority}/{dbname}"),
            };
        } else {
            c.url = format!("{} dbname={dbname}", self.url);
        }
        c
    }
}

/// One company's counts ([`PgStore::census`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Census {
    /// The company.
    pub company: String,
    /// Invoices and credit notes.
    pub invoices: u64,
    /// Receipts.
    pub receipts: u64,
    /// Allocations of receipts to invoices.
    pub allocations: u64,
    /// Outbox entries not yet applied.
    pub pending: u64,
    /// Outbox entries applied.
    pub done: u64,
    /// Outbox entries given up.
    pub dead: u64,
}

/// A runtime owned by the store, shut down without waiting when the store goes (dropping a
/// runtime inside another one's async context would panic).
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(|r| r.handle())
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The PostgreSQL-backed store. Cheap to clone (pool and runtime are shared).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Connections for heartbeats and leases only.
    lease_pool: Pool,
    rt: Arc<OwnedRuntime>,
    describe: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.describe)
            .finish_non_exhaustive()
    }
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    // tokio-postgres's Display says only "db error": give the server's message and code.
    if let Some(db) = e.as_db_error() {
        return StoreError::Postgres(format!(
            "{} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        ));
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    StoreError::Postgres(msg)
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Postgres(e.to_string())
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn u64_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The JSON of a record body, as text for a `::jsonb` cast.
fn body<T: Serialize>(key: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Codec {
        key: key.to_owned(),
        source,
    })
}

/// The label of a unit enum as serde writes it (`"open"`, `"credit_note"`, `"EUR"`).
fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v.to_string(),
        Err(_) => String::new(),
    }
}

/// Decodes a row's `(v, body)` at columns `vi`, `vi + 1`; another version is an error.
fn decode<T: DeserializeOwned>(key: &str, row: &Row, vi: usize) -> Result<T, StoreError> {
    let v: i32 = row.get(vi);
    let found = u32::try_from(v).unwrap_or(0);
    if found != RECORD_VERSION {
        return Err(StoreError::RecordVersion {
            key: key.to_owned(),
            found,
            expected: RECORD_VERSION,
        });
    }
    let text: &str = row.get(vi + 1);
    serde_json::from_str(text).map_err(|source| StoreError::Codec {
        key: key.to_owned(),
        source,
    })
}

/// Keeps one item per key: the first (`keep_last = false`, an insert that does not
/// overwrite) or the last (an upsert), in first-seen order. Returns how many were dropped.
fn dedup<T, K: Eq + Hash>(items: &[T], key: impl Fn(&T) -> K, keep_last: bool) -> (Vec<&T>, usize) {
    let mut pos: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match pos.get(&key(item)) {
            Some(&i) => {
                if keep_last {
                    out[i] = item;
                }
            }
            None => {
                pos.insert(key(item), out.len());
                out.push(item);
            }
        }
    }
    let dropped = items.len() - out.len();
    (out, dropped)
}

impl PgStore {
    /// Connects, migrates the schema to this build's (refusing a newer one) and opens the pool.
    pub fn open(cfg: &PgConfig) -> Result<Self, StoreError> {
        Self::open_at(cfg, None)
    }

    /// As [`PgStore::open`], migrating only up to `version` (tests of the migrations).
    pub fn open_at(cfg: &PgConfig, version: Option<u32>) -> Result<Self, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("relance-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres(format!("cannot start the store runtime: {e}")))?;
        let build = |size: usize, wait: Duration| {
            let mgr = Manager::from_config(
                cfg.pg(),
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(mgr)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(wait))
                .create_timeout(Some(cfg.connect_timeout))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()
                .map_err(|e| StoreError::Postgres(format!("cannot build the pool: {e}")))
        };
        let pool = build(cfg.pool_size.max(1), Duration::from_secs(30))?;
        // Leases have connections of their own: renewals never queue behind the cycles'
        // work, however many companies are busy (a starved renewal loses every lease).
        let lease_pool = build(LEASE_CONNECTIONS, cfg.connect_timeout)?;
        let store = PgStore {
            pool,
            lease_pool,
            rt: Arc::new(OwnedRuntime(Some(rt))),
            describe: cfg.describe(),
        };
        let pg = cfg.pg();
        store.run(async move { migrate(pg, version).await })?;
        Ok(store)
    }

    /// `user@host:port/database`.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Runs `f` on the store's runtime and waits for it on this thread.
    fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let Some(handle) = self.rt.handle() else {
            return Err(StoreError::Task("the store runtime is gone".into()));
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Task("a PostgreSQL task ended without an answer".into()))?
    }

    /// Runs `f` with a pooled connection.
    fn with<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send,
    {
        self.with_pool(self.pool.clone(), f)
    }

    /// Runs `f` with a connection of the lease pool (heartbeats, claims, renewals, releases).
    fn with_lease<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send,
    {
        self.with_pool(self.lease_pool.clone(), f)
    }

    fn with_pool<T, F, Fut>(&self, pool: Pool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send,
    {
        self.run(async move {
            let client = pool.get().await.map_err(pool_err)?;
            f(client).await
        })
    }

    fn rows<T: DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
        sql: &'static str,
        company: &CompanyId,
        extra: Option<String>,
    ) -> Result<Vec<T>, StoreError> {
        let company = company.to_string();
        self.with(move |c| async move {
            let rows = match &extra {
                Some(x) => c.query(sql, &[&company, x]).await,
                None => c.query(sql, &[&company]).await,
            }
            .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    let k: &str = r.get(0);
                    decode(&format!("{table}/{k}"), r, 1)
                })
                .collect()
        })
    }

    fn one<T: DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
        sql: &'static str,
        company: &CompanyId,
        key: String,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .rows::<T>(table, sql, company, Some(key))?
            .into_iter()
            .next())
    }

    /// Deletes every record of `company` (for `relance store migrate --overwrite`).
    pub fn clear_company(&self, company: &CompanyId) -> Result<(), StoreError> {
        let company = company.to_string();
        self.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_err)?;
            tx.execute("DELETE FROM company WHERE company = $1", &[&company])
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)
        })
    }

    /// Creates database `name` on the server of `admin` (a role with CREATEDB), and returns
    /// the configuration of the new database. For tests and benchmarks.
    pub fn create_database(admin: &PgConfig, name: &str) -> Result<PgConfig, StoreError> {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', ""));
        admin_exec(admin, sql)?;
        Ok(admin.with_database(name))
    }

    /// Drops database `name` (closing its connections). For tests and benchmarks.
    pub fn drop_database(admin: &PgConfig, name: &str) -> Result<(), StoreError> {
        let sql = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "")
        );
        admin_exec(admin, sql)
    }

    /// Runs SQL on a connection of its own (administration, tests).
    pub fn exec_admin(cfg: &PgConfig, sql: &str) -> Result<(), StoreError> {
        admin_exec(cfg, sql.to_owned())
    }

    /// A server setting (`SHOW name`), e.g. `fsync`.
    pub fn setting(&self, name: &str) -> Result<String, StoreError> {
        let name = name.to_owned();
        self.with(move |c| async move {
            let r = c
                .query_one("SELECT current_setting($1)", &[&name])
                .await
                .map_err(pg_err)?;
            Ok(r.get(0))
        })
    }

    /// Bytes the database occupies (`pg_database_size`).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.with(|c| async move {
            let r = c
                .query_one("SELECT pg_database_size(current_database())", &[])
                .await
                .map_err(pg_err)?;
            Ok(u64_of(r.get(0)))
        })
    }

    /// Per company, in one query: invoices, receipts, allocations and outbox entries pending,
    /// done and dead; ordered by company. For checks over many companies at once.
    pub fn census(&self) -> Result<Vec<Census>, StoreError> {
        self.with(|c| async move {
            let rows = c
                .query(
                    "SELECT c.company, \
                       (SELECT count(*) FROM invoice x WHERE x.company = c.company), \
                       (SELECT count(*) FROM receipt x WHERE x.company = c.company), \
                       (SELECT count(*) FROM allocation x WHERE x.company = c.company), \
                       (SELECT count(*) FROM outbox x WHERE x.company = c.company AND x.state = 'pending'), \
                       (SELECT count(*) FROM outbox x WHERE x.company = c.company AND x.state = 'done'), \
                       (SELECT count(*) FROM outbox x WHERE x.company = c.company AND x.state = 'dead') \
                     FROM company c ORDER BY c.company",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            let n = |r: &Row, i: usize| u64_of(r.get::<_, i64>(i));
            Ok(rows
                .iter()
                .map(|r| Census {
                    company: r.get(0),
                    invoices: n(r, 1),
                    receipts: n(r, 2),
                    allocations: n(r, 3),
                    pending: n(r, 4),
                    done: n(r, 5),
                    dead: n(r, 6),
                })
                .collect())
        })
    }

    /// Every outbox entry of every company: (company, key, target, state), in one query.
    pub fn outbox_states(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        self.with(|c| async move {
            let rows = c
                .query(
                    "SELECT company, key, target, state FROM outbox ORDER BY company, key",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect())
        })
    }

    /// The lease table now: (company, owner, still valid), ordered by company.
    pub fn leases_now(&self) -> Result<Vec<(String, Option<String>, bool)>, StoreError> {
        self.with(|c| async move {
            let rows = c
                .query(
                    "SELECT company, owner, owner IS NOT NULL AND expires_at > now() FROM lease \
                     ORDER BY company",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    /// Every grant in the lease history: (company, token, owner, acquired, expires), ordered
    /// by company and token. Tests check from it that no company was ever leased twice at once.
    #[allow(clippy::type_complexity)]
    pub fn lease_history(
        &self,
    ) -> Result<Vec<(String, u64, String, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        self.with(|c| async move {
            let rows = c
                .query(
                    "SELECT company, token, owner, acquired_at, expires_at FROM lease_history \
                     ORDER BY company, token",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), u64_of(r.get(1)), r.get(2), r.get(3), r.get(4)))
                .collect())
        })
    }
}

fn admin_exec(admin: &PgConfig, sql: String) -> Result<(), StoreError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Postgres(e.to_string()))?;
    let pg = admin.pg();
    // A plain thread: this may be called from inside another runtime (tests).
    std::thread::spawn(move || {
        rt.block_on(async move {
            let (client, conn) = pg.connect(NoTls).await.map_err(pg_err)?;
            let task = tokio::spawn(conn);
            let r = client.batch_execute(&sql).await.map_err(pg_err);
            drop(client);
            let _ = task.await;
            r
        })
    })
    .join()
    .map_err(|_| StoreError::Task("database administration thread panicked".into()))?
}

/// Brings the schema to this build's (or to `target`), under an advisory lock; refuses a
/// schema newer than this build's.
async fn migrate(pg: tokio_postgres::Config, target: Option<u32>) -> Result<(), StoreError> {
    const LOCK: i64 = 0x0072_656c_616e_6365; // "relance"
    let (mut client, conn) = pg.connect(NoTls).await.map_err(pg_err)?;
    let task = tokio::spawn(conn);
    let result = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
            .await
            .map_err(pg_err)?;
        let exists: bool = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                &[],
            )
            .await
            .map_err(pg_err)?
            .get(0);
        let supported = schema_version();
        if exists {
            let found: Option<i32> = client
                .query_one("SELECT max(version) FROM refinery_schema_history", &[])
                .await
                .map_err(pg_err)?
                .get(0);
            let found = found.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
            if found > supported {
                return Err(StoreError::NewerSchema { found, supported });
            }
        } else {
            // A database with relance's tables but no history is not one we made.
            let stray: bool = client
                .query_one("SELECT to_regclass('company') IS NOT NULL", &[])
                .await
                .map_err(pg_err)?
                .get(0);
            if stray {
                return Err(StoreError::UnknownSchema {
                    path: "PostgreSQL database (tables without refinery_schema_history)".into(),
                });
            }
        }
        let mut runner = embedded::migrations::runner();
        if let Some(v) = target {
            runner = runner.set_target(refinery::Target::Version(
                i32::try_from(v).unwrap_or(i32::MAX),
            ));
        }
        runner
            .run_async(&mut client)
            .await
            .map_err(|e| StoreError::Migration {
                from: 0,
                to: target.unwrap_or(supported),
                key: String::new(),
                reason: e.to_string(),
            })?;
        Ok(())
    }
    .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await;
    drop(client);
    let _ = task.await;
    result
}

/// The SQL parameters of one multi-row statement: one array per column.
#[derive(Default)]
struct Cols {
    text: Vec<Vec<String>>,
    opt_text: Vec<Vec<Option<String>>>,
    dates: Vec<Vec<NaiveDate>>,
    opt_dates: Vec<Vec<Option<NaiveDate>>>,
    times: Vec<Vec<DateTime<Utc>>>,
    bools: Vec<Vec<bool>>,
    ints: Vec<Vec<i64>>,
}

async fn exec(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    tx.execute(sql, params).await.map_err(pg_err)
}

/// Applies a batch inside `tx` (the caller commits).
async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    company: &str,
    batch: &Batch,
) -> Result<CommitOutcome, StoreError> {
    let mut outcome = CommitOutcome::default();
    let v = i32::try_from(RECORD_VERSION).unwrap_or(i32::MAX);
    let last: i64 = tx
        .query_one(
            "INSERT INTO company (company) VALUES ($1) ON CONFLICT (company) \
             DO UPDATE SET audit_seq = company.audit_seq RETURNING audit_seq",
            &[&company],
        )
        .await
        .map_err(pg_err)?
        .get(0);

    if !batch.customers.is_empty() {
        let (items, _) = dedup(
            &batch.customers,
            |r| r.customer.id.as_str().to_owned(),
            true,
        );
        let mut c = Cols {
            text: vec![Vec::new(); 4],
            ..Cols::default()
        };
        for r in items {
            let k = format!("customer/{}", r.customer.id.as_str());
            c.text[0].push(r.customer.id.as_str().to_owned());
            c.text[1].push(r.customer.name.clone());
            c.text[2].push(r.source.clone());
            c.text[3].push(body(&k, r)?);
        }
        exec(
            tx,
            "INSERT INTO customer (company, id, name, source, v, body) \
             SELECT $1, t.id, t.name, t.source, $2, t.body::jsonb \
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS t(id, name, source, body) \
             ON CONFLICT (company, id) DO UPDATE SET name = EXCLUDED.name, \
             source = EXCLUDED.source, v = EXCLUDED.v, body = EXCLUDED.body",
            &[&company, &v, &c.text[0], &c.text[1], &c.text[2], &c.text[3]],
        )
        .await?;
    }

    if !batch.invoices.is_empty() {
        let (items, _) = dedup(&batch.invoices, |r| r.invoice.id.as_str().to_owned(), true);
        let mut c = Cols {
            text: vec![Vec::new(); 8],
            dates: vec![Vec::new()],
            opt_dates: vec![Vec::new()],
            ..Cols::default()
        };
        for r in items {
            let i = &r.invoice;
            let k = format!("invoice/{}", i.id.as_str());
            c.text[0].push(i.id.as_str().to_owned());
            c.text[1].push(i.customer.as_str().to_owned());
            c.text[2].push(label(&i.status));
            c.text[3].push(label(&i.kind));
            c.text[4].push(i.amount_due.to_string());
            c.text[5].push(label(&i.currency));
            c.text[6].push(r.source.clone());
            c.text[7].push(body(&k, r)?);
            c.dates[0].push(i.issue_date);
            c.opt_dates[0].push(i.due_date);
        }
        exec(
            tx,
            "INSERT INTO invoice (company, id, customer, status, kind, issue_date, due_date, \
             amount_due, currency, source, content_hash, v, body) \
             SELECT $1, t.id, t.customer, t.status, t.kind, t.issue_date, t.due_date, \
             t.amount_due::numeric, t.currency, t.source, t.body::jsonb->>'content_hash', $2, t.body::jsonb \
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::date[], \
             $9::text[], $10::text[], $11::text[], $12::text[]) \
             AS t(id, customer, status, kind, issue_date, due_date, amount_due, currency, source, body) \
             ON CONFLICT (company, id) DO UPDATE SET customer = EXCLUDED.customer, \
             status = EXCLUDED.status, kind = EXCLUDED.kind, issue_date = EXCLUDED.issue_date, \
             due_date = EXCLUDED.due_date, amount_due = EXCLUDED.amount_due, \
             currency = EXCLUDED.currency, source = EXCLUDED.source, \
             content_hash = EXCLUDED.content_hash, v = EXCLUDED.v, body = EXCLUDED.body",
            &[
                &company,
                &v,
                &c.text[0],
                &c.text[1],
                &c.text[2],
                &c.text[3],
                &c.dates[0],
                &c.opt_dates[0],
                &c.text[4],
                &c.text[5],
                &c.text[6],
                &c.text[7],
            ],
        )
        .await?;
    }
    if !batch.removed_invoices.is_empty() {
        let ids: Vec<&str> = batch.removed_invoices.iter().map(|i| i.as_str()).collect();
        exec(
            tx,
            "DELETE FROM invoice WHERE company = $1 AND id = ANY($2::text[])",
            &[&company, &ids],
        )
        .await?;
    }

    if !batch.receipts.is_empty() {
        let (items, dup) = dedup(&batch.receipts, |r| r.dedup_key.clone(), false);
        let mut c = Cols {
            text: vec![Vec::new(); 5],
            opt_text: vec![Vec::new()],
            dates: vec![Vec::new()],
            ..Cols::default()
        };
        for r in items {
            let k = format!("receipt/{}", r.dedup_key);
            c.text[0].push(r.dedup_key.clone());
            c.text[1].push(r.receipt.id.as_str().to_owned());
            c.text[2].push(r.receipt.amount.to_string());
            c.text[3].push(r.source.clone());
            c.text[4].push(body(&k, r)?);
            c.opt_text[0].push(r.receipt.counterparty_name.clone());
            c.dates[0].push(r.receipt.booking_date);
        }
        let added = exec(
            tx,
            "INSERT INTO receipt (company, dedup_key, transaction_id, booking_date, amount, \
             counterparty, source, v, body) \
             SELECT $1, t.k, t.tx, t.d, t.amount::numeric, t.cp, t.source, $2, t.body::jsonb \
             FROM unnest($3::text[], $4::text[], $5::date[], $6::text[], $7::text[], $8::text[], $9::text[]) \
             AS t(k, tx, d, amount, cp, source, body) \
             ON CONFLICT (company, dedup_key) DO NOTHING",
            &[
                &company,
                &v,
                &c.text[0],
                &c.text[1],
                &c.dates[0],
                &c.text[2],
                &c.opt_text[0],
                &c.text[3],
                &c.text[4],
            ],
        )
        .await?;
        let added = usize::try_from(added).unwrap_or(0);
        outcome.receipts_added = added;
        outcome.receipts_duplicate = dup + (c.text[0].len() - added);
    }

    if !batch.allocations.is_empty() {
        let (items, _) = dedup(
            &batch.allocations,
            |a| {
                (
                    a.transaction.as_str().to_owned(),
                    a.invoice.as_str().to_owned(),
                )
            },
            true,
        );
        let mut c = Cols {
            text: vec![Vec::new(); 4],
            bools: vec![Vec::new()],
            times: vec![Vec::new()],
            ..Cols::default()
        };
        for a in items {
            let k = format!(
                "allocation/{}/{}",
                a.transaction.as_str(),
                a.invoice.as_str()
            );
            c.text[0].push(a.transaction.as_str().to_owned());
            c.text[1].push(a.invoice.as_str().to_owned());
            c.text[2].push(a.amount.to_string());
            c.text[3].push(body(&k, a)?);
            c.bools[0].push(a.auto);
            c.times[0].push(a.decided_at);
        }
        exec(
            tx,
            "INSERT INTO allocation (company, transaction_id, invoice_id, amount, auto, decided_at, v, body) \
             SELECT $1, t.tx, t.inv, t.amount::numeric, t.auto, t.at, $2, t.body::jsonb \
             FROM unnest($3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[], $8::text[]) \
             AS t(tx, inv, amount, auto, at, body) \
             ON CONFLICT (company, transaction_id, invoice_id) DO UPDATE SET \
             amount = EXCLUDED.amount, auto = EXCLUDED.auto, decided_at = EXCLUDED.decided_at, \
             v = EXCLUDED.v, body = EXCLUDED.body",
            &[
                &company,
                &v,
                &c.text[0],
                &c.text[1],
                &c.text[2],
                &c.bools[0],
                &c.times[0],
                &c.text[3],
            ],
        )
        .await?;
    }
    if !batch.removed_allocations.is_empty() {
        let txs: Vec<&str> = batch
            .removed_allocations
            .iter()
            .map(|(t, _)| t.as_str())
            .collect();
        let invs: Vec<&str> = batch
            .removed_allocations
            .iter()
            .map(|(_, i)| i.as_str())
            .collect();
        exec(
            tx,
            "DELETE FROM allocation a USING unnest($2::text[], $3::text[]) AS t(tx, inv) \
             WHERE a.company = $1 AND a.transaction_id = t.tx AND a.invoice_id = t.inv",
            &[&company, &txs, &invs],
        )
        .await?;
    }

    if !batch.cursors.is_empty() {
        let (items, _) = dedup(&batch.cursors, |(s, _)| s.clone(), true);
        let mut keys = Vec::new();
        let mut bodies = Vec::new();
        for (s, cur) in items {
            keys.push(s.clone());
            bodies.push(body(&format!("cursor/{s}"), cur)?);
        }
        exec(
            tx,
            "INSERT INTO source_cursor (company, source, v, body) \
             SELECT $1, t.k, $2, t.body::jsonb FROM unnest($3::text[], $4::text[]) AS t(k, body) \
             ON CONFLICT (company, source) DO UPDATE SET v = EXCLUDED.v, body = EXCLUDED.body",
            &[&company, &v, &keys, &bodies],
        )
        .await?;
    }

    if !batch.seen_files.is_empty() {
        let (items, _) = dedup(&batch.seen_files, |f| f.hash.clone(), true);
        let mut keys = Vec::new();
        let mut bodies = Vec::new();
        for f in items {
            keys.push(f.hash.clone());
            bodies.push(body(&format!("seen/{}", f.hash), f)?);
        }
        exec(
            tx,
            "INSERT INTO seen_file (company, hash, v, body) \
             SELECT $1, t.k, $2, t.body::jsonb FROM unnest($3::text[], $4::text[]) AS t(k, body) \
             ON CONFLICT (company, hash) DO UPDATE SET v = EXCLUDED.v, body = EXCLUDED.body",
            &[&company, &v, &keys, &bodies],
        )
        .await?;
    }

    if !batch.outbox_new.is_empty() {
        let (items, dup) = dedup(&batch.outbox_new, |e| e.key.as_str().to_owned(), false);
        let n = items.len();
        let added = write_outbox(tx, company, v, &items, false).await?;
        outcome.outbox_added = added;
        outcome.outbox_existing = dup + (n - added);
    }
    if !batch.outbox_updates.is_empty() {
        let (items, _) = dedup(&batch.outbox_updates, |e| e.key.as_str().to_owned(), true);
        write_outbox(tx, company, v, &items, true).await?;
    }

    if !batch.dead_letters.is_empty() {
        let (items, _) = dedup(&batch.dead_letters, |d| d.key.clone(), true);
        let mut c = Cols {
            text: vec![Vec::new(); 3],
            times: vec![Vec::new()],
            ..Cols::default()
        };
        for d in items {
            c.text[0].push(d.key.clone());
            c.text[1].push(d.origin.clone());
            c.text[2].push(body(&format!("dead/{}", d.key), d)?);
            c.times[0].push(d.at);
        }
        exec(
            tx,
            "INSERT INTO dead_letter (company, key, origin, at, v, body) \
             SELECT $1, t.k, t.origin, t.at, $2, t.body::jsonb \
             FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS t(k, origin, at, body) \
             ON CONFLICT (company, key) DO UPDATE SET origin = EXCLUDED.origin, at = EXCLUDED.at, \
             v = EXCLUDED.v, body = EXCLUDED.body",
            &[&company, &v, &c.text[0], &c.text[1], &c.times[0], &c.text[2]],
        )
        .await?;
    }

    if !batch.audit.is_empty() {
        let mut c = Cols {
            text: vec![Vec::new(); 3],
            ints: vec![Vec::new()],
            times: vec![Vec::new()],
            ..Cols::default()
        };
        let mut seq = u64_of(last);
        for event in &batch.audit {
            seq += 1;
            let entry = AuditEntry {
                seq,
                event: event.clone(),
            };
            c.ints[0].push(i64_of(seq));
            c.times[0].push(event.at);
            c.text[0].push(event.kind.clone());
            c.text[1].push(event.subject.clone());
            c.text[2].push(body(&format!("audit/{seq}"), &entry)?);
        }
        exec(
            tx,
            "INSERT INTO audit (company, seq, at, kind, subject, v, body) \
             SELECT $1, t.seq, t.at, t.kind, t.subject, $2, t.body::jsonb \
             FROM unnest($3::bigint[], $4::timestamptz[], $5::text[], $6::text[], $7::text[]) \
             AS t(seq, at, kind, subject, body)",
            &[
                &company,
                &v,
                &c.ints[0],
                &c.times[0],
                &c.text[0],
                &c.text[1],
                &c.text[2],
            ],
        )
        .await?;
        let seq_i = i64_of(seq);
        exec(
            tx,
            "UPDATE company SET audit_seq = $2 WHERE company = $1",
            &[&company, &seq_i],
        )
        .await?;
        outcome.audit_seqs = Some((u64_of(last) + 1, seq));
    }

    if !batch.provisions.is_empty() {
        let (items, _) = dedup(&batch.provisions, |p| p.closing, true);
        let mut dates = Vec::new();
        let mut status = Vec::new();
        let mut bodies = Vec::new();
        for p in items {
            dates.push(p.closing);
            status.push(label(&p.status));
            bodies.push(body(&format!("provision/{}", p.closing), p)?);
        }
        exec(
            tx,
            "INSERT INTO provision (company, closing, status, v, body) \
             SELECT $1, t.d, t.status, $2, t.body::jsonb \
             FROM unnest($3::date[], $4::text[], $5::text[]) AS t(d, status, body) \
             ON CONFLICT (company, closing) DO UPDATE SET status = EXCLUDED.status, \
             v = EXCLUDED.v, body = EXCLUDED.body",
            &[&company, &v, &dates, &status, &bodies],
        )
        .await?;
    }

    if !batch.inbox_done.is_empty() {
        let seqs: Vec<i64> = batch.inbox_done.iter().map(|(s, _)| i64_of(*s)).collect();
        let ats: Vec<DateTime<Utc>> = batch.inbox_done.iter().map(|(_, a)| *a).collect();
        exec(
            tx,
            "UPDATE inbox i SET done_at = t.at FROM unnest($2::bigint[], $3::timestamptz[]) AS t(seq, at) \
             WHERE i.company = $1 AND i.seq = t.seq AND i.done_at IS NULL",
            &[&company, &seqs, &ats],
        )
        .await?;
    }
    Ok(outcome)
}

fn outbox_state(e: &OutboxEntry) -> &'static str {
    match e.state {
        OutboxState::Pending => "pending",
        OutboxState::Done { .. } => "done",
        OutboxState::Dead { .. } => "dead",
    }
}

/// Inserts outbox entries (`overwrite`: upserts); returns how many rows were written.
async fn write_outbox(
    tx: &deadpool_postgres::Transaction<'_>,
    company: &str,
    v: i32,
    items: &[&OutboxEntry],
    overwrite: bool,
) -> Result<usize, StoreError> {
    let mut keys = Vec::new();
    let mut targets = Vec::new();
    let mut states = Vec::new();
    let mut next = Vec::new();
    let mut bodies = Vec::new();
    for e in items {
        keys.push(e.key.as_str().to_owned());
        targets.push(e.target.clone());
        states.push(outbox_state(e).to_owned());
        next.push(e.next_attempt_at);
        bodies.push(body(&format!("outbox/{}", e.key.as_str()), *e)?);
    }
    let conflict = if overwrite {
        "ON CONFLICT (company, key) DO UPDATE SET target = EXCLUDED.target, state = EXCLUDED.state, \
         next_attempt_at = EXCLUDED.next_attempt_at, v = EXCLUDED.v, body = EXCLUDED.body"
    } else {
        "ON CONFLICT (company, key) DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO outbox (company, key, target, state, next_attempt_at, v, body) \
         SELECT $1, t.k, t.target, t.state, t.next, $2, t.body::jsonb \
         FROM unnest($3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[]) \
         AS t(k, target, state, next, body) {conflict}"
    );
    let n = exec(
        tx,
        &sql,
        &[&company, &v, &keys, &targets, &states, &next, &bodies],
    )
    .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

impl Store for PgStore {
    fn commit(&self, company: &CompanyId, batch: Batch) -> Result<CommitOutcome, StoreError> {
        let company = company.to_string();
        self.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_err)?;
            if let Some(token) = batch.fence {
                let row = tx
                    .query_opt(
                        "SELECT token, owner IS NOT NULL AND expires_at > now() FROM lease \
                         WHERE company = $1 FOR SHARE",
                        &[&company],
                    )
                    .await
                    .map_err(pg_err)?;
                let valid =
                    row.is_some_and(|r| u64_of(r.get::<_, i64>(0)) == token && r.get::<_, bool>(1));
                if !valid {
                    // At once, not when the connection is next used: the row lock must not
                    // outlive the refusal (a claimer on another connection skips locked rows).
                    tx.rollback().await.map_err(pg_err)?;
                    return Err(StoreError::Fenced { company, token });
                }
            }
            if batch.is_empty() {
                tx.commit().await.map_err(pg_err)?;
                return Ok(CommitOutcome::default());
            }
            let outcome = apply(&tx, &company, &batch).await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(outcome)
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(()) // a committed transaction is durable
    }

    fn companies(&self) -> Result<Vec<CompanyId>, StoreError> {
        self.with(|c| async move {
            let rows = c
                .query("SELECT company FROM company ORDER BY company", &[])
                .await
                .map_err(pg_err)?;
            Ok(rows
                .iter()
                .map(|r| CompanyId::new(r.get::<_, String>(0)))
                .collect())
        })
    }

    fn customer(
        &self,
        company: &CompanyId,
        id: &CustomerId,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        self.one(
            "customer",
            "SELECT id, v, body::text FROM customer WHERE company = $1 AND id = $2",
            company,
            id.as_str().to_owned(),
        )
    }

    fn customers(&self, company: &CompanyId) -> Result<Vec<CustomerRecord>, StoreError> {
        self.rows(
            "customer",
            "SELECT id, v, body::text FROM customer WHERE company = $1 ORDER BY id",
            company,
            None,
        )
    }

    fn invoice(
        &self,
        company: &CompanyId,
        id: &InvoiceId,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        self.one(
            "invoice",
            "SELECT id, v, body::text FROM invoice WHERE company = $1 AND id = $2",
            company,
            id.as_str().to_owned(),
        )
    }

    fn invoices(&self, company: &CompanyId) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.rows(
            "invoice",
            "SELECT id, v, body::text FROM invoice WHERE company = $1 ORDER BY id",
            company,
            None,
        )
    }

    fn receipt(
        &self,
        company: &CompanyId,
        dedup_key: &str,
    ) -> Result<Option<ReceiptRecord>, StoreError> {
        self.one(
            "receipt",
            "SELECT dedup_key, v, body::text FROM receipt WHERE company = $1 AND dedup_key = $2",
            company,
            dedup_key.to_owned(),
        )
    }

    fn receipts(&self, company: &CompanyId) -> Result<Vec<ReceiptRecord>, StoreError> {
        self.rows(
            "receipt",
            "SELECT dedup_key, v, body::text FROM receipt WHERE company = $1 ORDER BY dedup_key",
            company,
            None,
        )
    }

    fn allocations(&self, company: &CompanyId) -> Result<Vec<AllocationRecord>, StoreError> {
        self.rows(
            "allocation",
            "SELECT transaction_id || '/' || invoice_id, v, body::text FROM allocation \
             WHERE company = $1 ORDER BY transaction_id, invoice_id",
            company,
            None,
        )
    }

    fn cursor(&self, company: &CompanyId, source: &str) -> Result<Option<Cursor>, StoreError> {
        self.one(
            "cursor",
            "SELECT source, v, body::text FROM source_cursor WHERE company = $1 AND source = $2",
            company,
            source.to_owned(),
        )
    }

    fn cursors(&self, company: &CompanyId) -> Result<Vec<(String, Cursor)>, StoreError> {
        let company = company.to_string();
        self.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT source, v, body::text FROM source_cursor WHERE company = $1 ORDER BY source",
                    &[&company],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    let s: String = r.get(0);
                    let cur = decode(&format!("cursor/{s}"), r, 1)?;
                    Ok((s, cur))
                })
                .collect()
        })
    }

    fn seen_file(&self, company: &CompanyId, hash: &str) -> Result<Option<SeenFile>, StoreError> {
        self.one(
            "seen",
            "SELECT hash, v, body::text FROM seen_file WHERE company = $1 AND hash = $2",
            company,
            hash.to_owned(),
        )
    }

    fn outbox_entry(
        &self,
        company: &CompanyId,
        key: &IdempotencyKey,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        self.one(
            "outbox",
            "SELECT key, v, body::text FROM outbox WHERE company = $1 AND key = $2",
            company,
            key.as_str().to_owned(),
        )
    }

    fn outbox(&self, company: &CompanyId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.rows(
            "outbox",
            "SELECT key, v, body::text FROM outbox WHERE company = $1 ORDER BY key",
            company,
            None,
        )
    }

    fn outbox_pending(
        &self,
        company: &CompanyId,
        target: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.rows(
            "outbox",
            "SELECT key, v, body::text FROM outbox \
             WHERE company = $1 AND target = $2 AND state = 'pending' ORDER BY key",
            company,
            Some(target.to_owned()),
        )
    }

    fn dead_letters(&self, company: &CompanyId) -> Result<Vec<DeadLetter>, StoreError> {
        self.rows(
            "dead",
            "SELECT key, v, body::text FROM dead_letter WHERE company = $1 ORDER BY key",
            company,
            None,
        )
    }

    fn audit(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let company = company.to_string();
        let from = i64_of(from_seq);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT seq, v, body::text FROM audit WHERE company = $1 AND seq >= $2 \
                     ORDER BY seq LIMIT $3",
                    &[&company, &from, &limit],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| decode(&format!("audit/{}", r.get::<_, i64>(0)), r, 1))
                .collect()
        })
    }

    fn receipts_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<ReceiptRecord>, StoreError> {
        self.rows(
            "receipt",
            "SELECT dedup_key, v, body::text FROM receipt WHERE company = $1 \
             AND transaction_id = $2 ORDER BY dedup_key",
            company,
            Some(transaction.to_string()),
        )
    }

    fn allocations_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        self.rows(
            "allocation",
            "SELECT transaction_id || '/' || invoice_id, v, body::text FROM allocation \
             WHERE company = $1 AND transaction_id = $2 ORDER BY invoice_id",
            company,
            Some(transaction.to_string()),
        )
    }

    fn allocations_of_invoice(
        &self,
        company: &CompanyId,
        invoice: &InvoiceId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        self.rows(
            "allocation",
            "SELECT transaction_id || '/' || invoice_id, v, body::text FROM allocation \
             WHERE company = $1 AND invoice_id = $2 ORDER BY transaction_id",
            company,
            Some(invoice.to_string()),
        )
    }

    fn invoices_of_customer(
        &self,
        company: &CompanyId,
        customer: &CustomerId,
    ) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.rows(
            "invoice",
            "SELECT id, v, body::text FROM invoice WHERE company = $1 AND customer = $2 ORDER BY id",
            company,
            Some(customer.to_string()),
        )
    }

    fn audit_by_kind(
        &self,
        company: &CompanyId,
        kinds: &[&str],
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let company = company.to_string();
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        let from = i64_of(from_seq);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| async move {
            // Served by `audit_by_kind (company, kind, seq)`.
            let rows = c
                .query(
                    "SELECT seq, v, body::text FROM audit WHERE company = $1 AND kind = ANY($2) \
                     AND seq >= $3 ORDER BY seq LIMIT $4",
                    &[&company, &kinds, &from, &limit],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| decode(&format!("audit/{}", r.get::<_, i64>(0)), r, 1))
                .collect()
        })
    }

    fn provision(
        &self,
        company: &CompanyId,
        closing: NaiveDate,
    ) -> Result<Option<ProvisionState>, StoreError> {
        self.one(
            "provision",
            "SELECT closing::text, v, body::text FROM provision \
             WHERE company = $1 AND closing = $2::text::date",
            company,
            closing.format("%Y-%m-%d").to_string(),
        )
    }

    fn provisions(&self, company: &CompanyId) -> Result<Vec<ProvisionState>, StoreError> {
        self.rows(
            "provision",
            "SELECT closing::text, v, body::text FROM provision WHERE company = $1 ORDER BY closing",
            company,
            None,
        )
    }

    fn seen_files(&self, company: &CompanyId) -> Result<Vec<SeenFile>, StoreError> {
        self.rows(
            "seen",
            "SELECT hash, v, body::text FROM seen_file WHERE company = $1 ORDER BY hash",
            company,
            None,
        )
    }

    fn inbox_record(
        &self,
        company: &CompanyId,
        item: InboxItem,
    ) -> Result<Option<u64>, StoreError> {
        let company = company.to_string();
        let v = i32::try_from(RECORD_VERSION).unwrap_or(i32::MAX);
        self.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_err)?;
            let last: i64 = tx
                .query_one(
                    "INSERT INTO company (company) VALUES ($1) ON CONFLICT (company) \
                     DO UPDATE SET inbox_seq = company.inbox_seq RETURNING inbox_seq",
                    &[&company],
                )
                .await
                .map_err(pg_err)?
                .get(0);
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM inbox WHERE company = $1 AND key = $2",
                    &[&company, &item.key],
                )
                .await
                .map_err(pg_err)?
                .is_some();
            if exists {
                return Ok(None); // rolled back on drop
            }
            let seq = last + 1;
            let b = body(&format!("inbox/{seq}"), &item)?;
            tx.execute(
                "INSERT INTO inbox (company, seq, key, kind, recorded_at, v, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)",
                &[
                    &company,
                    &seq,
                    &item.key,
                    &item.kind,
                    &item.recorded_at,
                    &v,
                    &b,
                ],
            )
            .await
            .map_err(pg_err)?;
            tx.execute(
                "UPDATE company SET inbox_seq = $2 WHERE company = $1",
                &[&company, &seq],
            )
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(Some(u64_of(seq)))
        })
    }

    fn inbox_by_key(
        &self,
        company: &CompanyId,
        key: &str,
    ) -> Result<Option<InboxEntry>, StoreError> {
        let company = company.to_string();
        let key = key.to_owned();
        self.with(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT seq, v, body::text, done_at FROM inbox WHERE company = $1 AND key = $2",
                    &[&company, &key],
                )
                .await
                .map_err(pg_err)?;
            row.map(|r| {
                let seq: i64 = r.get(0);
                Ok(InboxEntry {
                    seq: u64_of(seq),
                    item: decode(&format!("inbox/{seq}"), &r, 1)?,
                    done_at: r.get(3),
                })
            })
            .transpose()
        })
    }

    fn inbox(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
        pending_only: bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let company = company.to_string();
        let from = i64_of(from_seq);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT seq, v, body::text, done_at FROM inbox WHERE company = $1 AND seq >= $2 \
                     AND (NOT $4 OR done_at IS NULL) ORDER BY seq LIMIT $3",
                    &[&company, &from, &limit, &pending_only],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    let seq: i64 = r.get(0);
                    Ok(InboxEntry {
                        seq: u64_of(seq),
                        item: decode(&format!("inbox/{seq}"), r, 1)?,
                        done_at: r.get(3),
                    })
                })
                .collect()
        })
    }

    fn document(&self, namespace: &str, key: &str) -> Result<Option<Document>, StoreError> {
        let (ns, key) = (namespace.to_owned(), key.to_owned());
        self.with(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT v, body::text, expires_at FROM document WHERE namespace = $1 AND key = $2",
                    &[&ns, &key],
                )
                .await
                .map_err(pg_err)?;
            match row {
                Some(r) => Ok(Some(Document {
                    value: decode(&format!("document/{ns}/{key}"), &r, 0)?,
                    expires_at: r.get(2),
                })),
                None => Ok(None),
            }
        })
    }

    fn documents(&self, namespace: &str) -> Result<Vec<(String, Document)>, StoreError> {
        let ns = namespace.to_owned();
        self.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT key, v, body::text, expires_at FROM document WHERE namespace = $1 ORDER BY key",
                    &[&ns],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    let k: String = r.get(0);
                    let value = decode(&format!("document/{ns}/{k}"), r, 1)?;
                    Ok((
                        k,
                        Document {
                            value,
                            expires_at: r.get(3),
                        },
                    ))
                })
                .collect()
        })
    }

    fn put_document(
        &self,
        namespace: &str,
        key: &str,
        doc: Option<Document>,
    ) -> Result<(), StoreError> {
        let (ns, key) = (namespace.to_owned(), key.to_owned());
        let v = i32::try_from(RECORD_VERSION).unwrap_or(i32::MAX);
        self.with(move |c| async move {
            match doc {
                Some(d) => {
                    let b = body(&format!("document/{ns}/{key}"), &d.value)?;
                    c.execute(
                        "INSERT INTO document (namespace, key, expires_at, v, body) \
                         VALUES ($1, $2, $3, $4, $5::text::jsonb) ON CONFLICT (namespace, key) \
                         DO UPDATE SET expires_at = EXCLUDED.expires_at, v = EXCLUDED.v, body = EXCLUDED.body",
                        &[&ns, &key, &d.expires_at, &v, &b],
                    )
                    .await
                    .map_err(pg_err)?;
                }
                None => {
                    c.execute(
                        "DELETE FROM document WHERE namespace = $1 AND key = $2",
                        &[&ns, &key],
                    )
                    .await
                    .map_err(pg_err)?;
                }
            }
            Ok(())
        })
    }

    fn purge_documents(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.with(move |c| async move {
            c.execute("DELETE FROM document WHERE expires_at < $1", &[&now])
                .await
                .map_err(pg_err)
        })
    }

    fn document_namespaces(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| async move {
            let rows = c
                .query(
                    "SELECT DISTINCT namespace FROM document ORDER BY namespace",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }

    fn heartbeat(&self, instance: &str, ttl: Duration) -> Result<usize, StoreError> {
        let instance = instance.to_owned();
        let ms = millis(ttl);
        self.with_lease(move |c| async move {
            c.execute(
                "INSERT INTO instance (name, last_seen) VALUES ($1, now()) \
                 ON CONFLICT (name) DO UPDATE SET last_seen = now()",
                &[&instance],
            )
            .await
            .map_err(pg_err)?;
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM instance WHERE last_seen > now() - $1::float8 * interval '1 millisecond'",
                    &[&(ms as f64)],
                )
                .await
                .map_err(pg_err)?
                .get(0);
            Ok(usize::try_from(n).unwrap_or(1))
        })
    }

    fn instance_gone(&self, instance: &str) -> Result<(), StoreError> {
        let instance = instance.to_owned();
        self.with_lease(move |c| async move {
            c.execute("DELETE FROM instance WHERE name = $1", &[&instance])
                .await
                .map_err(pg_err)?;
            Ok(())
        })
    }

    fn lease_claim(
        &self,
        instance: &str,
        candidates: &[CompanyId],
        max: usize,
        ttl: Duration,
    ) -> Result<Vec<LeaseGrant>, StoreError> {
        let instance = instance.to_owned();
        let companies: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let ms = millis(ttl) as f64;
        self.with_lease(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_err)?;
            tx.execute(
                "INSERT INTO lease (company) SELECT x FROM unnest($1::text[]) AS x \
                 WHERE NOT EXISTS (SELECT 1 FROM lease WHERE company = x) ON CONFLICT DO NOTHING",
                &[&companies],
            )
            .await
            .map_err(pg_err)?;
            let rows = tx
                .query(
                    "WITH cand AS ( \
                       SELECT company, owner AS previous FROM lease \
                       WHERE company = ANY($1::text[]) AND (owner IS NULL OR expires_at <= now()) \
                       ORDER BY md5(company || $2) LIMIT $3 \
                       FOR UPDATE SKIP LOCKED), \
                     upd AS ( \
                       UPDATE lease l SET owner = $2, token = l.token + 1, acquired_at = now(), \
                         expires_at = now() + $4::float8 * interval '1 millisecond' \
                       FROM cand WHERE l.company = cand.company \
                       RETURNING l.company, l.token, cand.previous, l.acquired_at, l.expires_at), \
                     hist AS ( \
                       INSERT INTO lease_history (company, token, owner, previous, acquired_at, expires_at) \
                       SELECT company, token, $2, previous, acquired_at, expires_at FROM upd) \
                     SELECT company, token, previous FROM upd",
                    &[&companies, &instance, &max, &ms],
                )
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(rows
                .iter()
                .map(|r| LeaseGrant {
                    company: CompanyId::new(r.get::<_, String>(0)),
                    token: u64_of(r.get(1)),
                    previous: r.get(2),
                })
                .collect())
        })
    }

    fn lease_renew(
        &self,
        instance: &str,
        held: &[(CompanyId, u64)],
        ttl: Duration,
    ) -> Result<Vec<CompanyId>, StoreError> {
        let instance = instance.to_owned();
        let companies: Vec<String> = held.iter().map(|(c, _)| c.to_string()).collect();
        let tokens: Vec<i64> = held.iter().map(|(_, t)| i64_of(*t)).collect();
        let ms = millis(ttl) as f64;
        self.with_lease(move |c| async move {
            let rows = c
                .query(
                    "WITH h AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS h(company, token)), \
                     upd AS ( \
                       UPDATE lease l SET expires_at = now() + $4::float8 * interval '1 millisecond' \
                       FROM h WHERE l.company = h.company AND l.token = h.token AND l.owner = $1 \
                       RETURNING l.company, l.token, l.expires_at), \
                     hist AS ( \
                       UPDATE lease_history lh SET expires_at = upd.expires_at FROM upd \
                       WHERE lh.company = upd.company AND lh.token = upd.token) \
                     SELECT company FROM upd",
                    &[&instance, &companies, &tokens, &ms],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows
                .iter()
                .map(|r| CompanyId::new(r.get::<_, String>(0)))
                .collect())
        })
    }

    fn lease_release(&self, instance: &str, held: &[(CompanyId, u64)]) -> Result<(), StoreError> {
        let instance = instance.to_owned();
        let companies: Vec<String> = held.iter().map(|(c, _)| c.to_string()).collect();
        let tokens: Vec<i64> = held.iter().map(|(_, t)| i64_of(*t)).collect();
        self.with_lease(move |c| async move {
            c.execute(
                "WITH h AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS h(company, token)), \
                 upd AS ( \
                   UPDATE lease l SET owner = NULL, expires_at = now() \
                   FROM h WHERE l.company = h.company AND l.token = h.token AND l.owner = $1 \
                   RETURNING l.company, l.token) \
                 UPDATE lease_history lh SET expires_at = now(), released = true FROM upd \
                 WHERE lh.company = upd.company AND lh.token = upd.token",
                &[&instance, &companies, &tokens],
            )
            .await
            .map_err(pg_err)?;
            Ok(())
        })
    }

    fn lease_check(&self, company: &CompanyId, token: u64) -> Result<bool, StoreError> {
        let company = company.to_string();
        let token = i64_of(token);
        self.with(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT token = $2 AND owner IS NOT NULL AND expires_at > now() FROM lease \
                     WHERE company = $1",
                    &[&company, &token],
                )
                .await
                .map_err(pg_err)?;
            Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
        })
    }
}
