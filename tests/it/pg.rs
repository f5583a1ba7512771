//! A private PostgreSQL database per test, on the server tests/pg/server.sh runs on 127.0.0.1
//! (`RELANCE_PG_URL`, `RELANCE_PG_PASSWORD_FILE`). Without it a test skips loudly; under
//! `RELANCE_REQUIRE_PEERS=1` it fails.

use relance::store::postgres::PgConfig;
use relance::store::PgStore;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Tests share the server: those that restart it hold this exclusively, the others shared.
static SERVER: RwLock<()> = RwLock::new(());

/// How a test holds the server.
#[allow(dead_code)] // held for its drop
enum Hold {
    Shared(RwLockReadGuard<'static, ()>),
    Exclusive(RwLockWriteGuard<'static, ()>),
}

/// A database created for one test, dropped when the value is.
pub struct TestDb {
    /// How to reach it.
    pub cfg: PgConfig,
    /// Its name.
    pub name: String,
    admin: PgConfig,
    _hold: Hold,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = PgStore::drop_database(&self.admin, &self.name);
    }
}

/// The server's configuration (the `postgres` database), or `None` after a loud skip.
pub fn admin() -> Option<PgConfig> {
    let (Ok(url), Ok(pw_file)) = (
        std::env::var("RELANCE_PG_URL"),
        std::env::var("RELANCE_PG_PASSWORD_FILE"),
    ) else {
        relance_connectors::testkit::skip_peer(
            "no PostgreSQL test server (RELANCE_PG_URL unset: run bash tests/pg/server.sh setup \
             and eval \"$(bash tests/pg/server.sh env)\", or bash tests/run.sh)",
        );
        return None;
    };
    let pw = std::fs::read_to_string(&pw_file).expect("RELANCE_PG_PASSWORD_FILE is readable");
    Some(
        PgConfig::new(&url, Some(pw.lines().next().unwrap_or("")))
            .expect("RELANCE_PG_URL is valid"),
    )
}

/// A fresh database named after `tag` and this process, or `None` after a loud skip.
pub fn test_db(tag: &str) -> Option<TestDb> {
    let admin = admin()?;
    let hold = Hold::Shared(SERVER.read().unwrap_or_else(|p| p.into_inner()));
    create(admin, tag, hold)
}

/// As [`test_db`], for a test that restarts the server: no other database test runs meanwhile.
pub fn test_db_exclusive(tag: &str) -> Option<TestDb> {
    let admin = admin()?;
    let hold = Hold::Exclusive(SERVER.write().unwrap_or_else(|p| p.into_inner()));
    create(admin, tag, hold)
}

fn create(admin: PgConfig, tag: &str, hold: Hold) -> Option<TestDb> {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "relance_t_{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let _ = PgStore::drop_database(&admin, &name);
    let cfg = PgStore::create_database(&admin, &name).expect("the test role may CREATE DATABASE");
    Some(TestDb {
        cfg,
        name,
        admin,
        _hold: hold,
    })
}

/// Restarts the test server (tests/pg/server.sh restart), for the reconnection tests.
pub fn restart_server() {
    let ctl = std::env::var("RELANCE_PG_CTL").expect("RELANCE_PG_CTL names tests/pg/server.sh");
    let st = std::process::Command::new("bash")
        .arg(ctl)
        .arg("restart")
        .status()
        .expect("server.sh runs");
    assert!(st.success(), "server.sh restart failed");
}
