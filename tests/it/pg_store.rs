//! The store's semantics on both backends (the same checks on sled and PostgreSQL), and what
//! only PostgreSQL has: schema migrations, fencing tokens checked in the commit's
//! transaction, leases claimed with `FOR UPDATE SKIP LOCKED`, secrets kept out of errors.

use crate::store_model::{company, receipt};
use chrono::{DateTime, TimeZone, Utc};
use relance::store::postgres::PgConfig;
use relance::store::{
    AuditEvent, Batch, Document, InboxItem, OutboxEntry, OutboxState, PgStore, ReceiptRecord,
    SharedStore, SledStore, Store, StoreError,
};
use relance_connectors::contract::{Cursor, IdempotencyKey, RemoteRef, WriteCommand};
use relance_core::CompanyId;
use std::sync::Arc;
use std::time::Duration;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

fn rr(key: &str, cents: i64) -> ReceiptRecord {
    ReceiptRecord {
        dedup_key: key.into(),
        source: "bank".into(),
        receipt: receipt(key, cents),
    }
}

fn ev(n: u32) -> AuditEvent {
    AuditEvent {
        at: at(),
        kind: "test".into(),
        subject: format!("s{n}"),
        summary: format!("event {n}"),
        explanation: serde_json::json!({ "n": n }),
    }
}

fn note(key: &str) -> OutboxEntry {
    OutboxEntry::new(
        IdempotencyKey(key.into()),
        "t",
        WriteCommand::AddNote {
            target_kind: "invoice".into(),
            target: "F1".into(),
            text: "x".into(),
        },
        at(),
    )
}

/// The documented semantics of a commit, checked through the trait.
fn semantics(s: &dyn Store) {
    let c = company();
    // Receipts: deduplicated within and across batches, the first kept.
    let b = Batch {
        receipts: vec![rr("a", 100), rr("b", 200), rr("a", 999)],
        ..Batch::default()
    };
    let o = s.commit(&c, b).unwrap();
    assert_eq!((o.receipts_added, o.receipts_duplicate), (2, 1));
    let b = Batch {
        receipts: vec![rr("b", 555), rr("c", 300)],
        ..Batch::default()
    };
    let o = s.commit(&c, b).unwrap();
    assert_eq!((o.receipts_added, o.receipts_duplicate), (1, 1));
    assert_eq!(
        s.receipt(&c, "b").unwrap().unwrap().receipt.amount,
        rust_decimal::Decimal::new(200, 2)
    );
    // Audit: append-only, per company, from 1.
    let b = Batch {
        audit: vec![ev(1), ev(2)],
        ..Batch::default()
    };
    assert_eq!(s.commit(&c, b).unwrap().audit_seqs, Some((1, 2)));
    let b = Batch {
        audit: vec![ev(3)],
        ..Batch::default()
    };
    assert_eq!(s.commit(&c, b).unwrap().audit_seqs, Some((3, 3)));
    assert_eq!(s.audit(&c, 2, 1).unwrap()[0].seq, 2);
    let other = CompanyId::new("other");
    let b = Batch {
        audit: vec![ev(9)],
        ..Batch::default()
    };
    assert_eq!(s.commit(&other, b).unwrap().audit_seqs, Some((1, 1)));
    // Outbox: a decision planned again keeps its first entry; updates overwrite.
    let mut b = Batch::default();
    b.outbox_new.push(note("k"));
    b.outbox_new.push(note("k"));
    let o = s.commit(&c, b).unwrap();
    assert_eq!((o.outbox_added, o.outbox_existing), (1, 1));
    let mut done = note("k");
    done.state = OutboxState::Done {
        at: at(),
        remote_ref: RemoteRef("r".into()),
        found_applied: false,
    };
    let mut b = Batch::default();
    b.outbox_updates.push(done.clone());
    b.cursors.push(("src".into(), Cursor("c1".into())));
    s.commit(&c, b).unwrap();
    assert!(s.outbox_pending(&c, "t").unwrap().is_empty());
    let mut b = Batch::default();
    b.outbox_new.push(note("k"));
    assert_eq!(s.commit(&c, b).unwrap().outbox_existing, 1);
    assert_eq!(s.outbox(&c).unwrap(), vec![done]);
    assert_eq!(s.cursor(&c, "src").unwrap(), Some(Cursor("c1".into())));
    // Inbox: one entry per key, done in a batch.
    let item = InboxItem {
        key: "d1".into(),
        kind: "decision.test".into(),
        recorded_at: at(),
        actor: "alice".into(),
        body: serde_json::json!({"x": 1}),
    };
    assert_eq!(s.inbox_record(&c, item.clone()).unwrap(), Some(1));
    assert_eq!(s.inbox_record(&c, item.clone()).unwrap(), None);
    let mut second = item.clone();
    second.key = "d2".into();
    assert_eq!(s.inbox_record(&c, second).unwrap(), Some(2));
    let pending = s.inbox(&c, 0, 10, true).unwrap();
    assert_eq!(
        pending.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(pending[0].item, item);
    let b = Batch {
        inbox_done: vec![(1, at())],
        ..Batch::default()
    };
    s.commit(&c, b).unwrap();
    assert_eq!(s.inbox(&c, 0, 10, true).unwrap()[0].seq, 2);
    assert_eq!(s.inbox(&c, 0, 10, false).unwrap()[0].done_at, Some(at()));
    // Shared documents.
    let d = Document {
        value: serde_json::json!({"user": "alice"}),
        expires_at: Some(at()),
    };
    s.put_document("session", "abc", Some(d.clone())).unwrap();
    s.put_document("session", "abd", Some(d.clone())).unwrap();
    assert_eq!(s.document("session", "abc").unwrap(), Some(d.clone()));
    assert_eq!(s.documents("session").unwrap().len(), 2);
    s.put_document("session", "abd", None).unwrap();
    assert_eq!(s.documents("session").unwrap().len(), 1);
    assert_eq!(
        s.purge_documents(at() + chrono::Duration::seconds(1))
            .unwrap(),
        1
    );
    assert!(s.document("session", "abc").unwrap().is_none());
    // Reading an unknown company is empty.
    let ghost = CompanyId::new("ghost");
    assert!(s.invoices(&ghost).unwrap().is_empty());
    assert!(s.inbox(&ghost, 0, 10, false).unwrap().is_empty());
}

/// Leases and fencing through the trait.
fn fencing(s: &dyn Store) {
    let c = company();
    let ttl = Duration::from_millis(600);
    let a = s
        .lease_claim("a", std::slice::from_ref(&c), 10, ttl)
        .unwrap();
    assert_eq!(a.len(), 1);
    assert!(s
        .lease_claim("b", std::slice::from_ref(&c), 10, ttl)
        .unwrap()
        .is_empty());
    let token = a[0].token;
    let fenced = |t| Batch {
        fence: Some(t),
        cursors: vec![("src".into(), Cursor(format!("t{t}")))],
        ..Batch::default()
    };
    s.commit(&c, fenced(token)).unwrap();
    assert!(matches!(
        s.commit(&c, fenced(token + 1)),
        Err(StoreError::Fenced { .. })
    ));
    std::thread::sleep(Duration::from_millis(700));
    assert!(!s.lease_check(&c, token).unwrap());
    assert!(
        matches!(s.commit(&c, fenced(token)), Err(StoreError::Fenced { .. })),
        "a lease that ran out fences its writes"
    );
    let b = s
        .lease_claim("b", std::slice::from_ref(&c), 10, ttl)
        .unwrap();
    assert_eq!(b[0].previous.as_deref(), Some("a"));
    assert!(b[0].token > token);
    assert!(s
        .lease_renew("a", &[(c.clone(), token)], ttl)
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.commit(&c, fenced(token)),
        Err(StoreError::Fenced { .. })
    ));
    s.commit(&c, fenced(b[0].token)).unwrap();
    assert_eq!(
        s.cursor(&c, "src").unwrap(),
        Some(Cursor(format!("t{}", b[0].token)))
    );
    s.lease_release("b", &[(c.clone(), b[0].token)]).unwrap();
    assert!(matches!(
        s.commit(&c, fenced(b[0].token)),
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(
        s.lease_claim("a", std::slice::from_ref(&c), 10, ttl)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.heartbeat("a", ttl).unwrap(), 1);
    assert_eq!(s.heartbeat("b", ttl).unwrap(), 2);
    s.instance_gone("b").unwrap();
    assert_eq!(s.heartbeat("a", ttl).unwrap(), 1);
}

#[test]
fn commit_semantics_hold_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    semantics(&SledStore::open(dir.path()).unwrap());
}

#[test]
fn commit_semantics_hold_on_postgres() {
    let Some(db) = crate::pg::test_db("semantics") else {
        return;
    };
    semantics(&PgStore::open(&db.cfg).unwrap());
}

#[test]
fn fencing_tokens_refuse_stale_writes_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    fencing(&SledStore::open(dir.path()).unwrap());
}

#[test]
fn fencing_tokens_refuse_stale_writes_on_postgres() {
    let Some(db) = crate::pg::test_db("fencing") else {
        return;
    };
    fencing(&PgStore::open(&db.cfg).unwrap());
}

#[test]
fn concurrent_claimers_never_share_a_company() {
    let Some(db) = crate::pg::test_db("claims") else {
        return;
    };
    let store: SharedStore = Arc::new(PgStore::open(&db.cfg).unwrap());
    let companies: Vec<CompanyId> = (0..300)
        .map(|i| CompanyId::new(format!("c{i:03}")))
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (s, cs) = (store.clone(), companies.clone());
            std::thread::spawn(move || {
                let me = format!("i{i}");
                let mut got = Vec::new();
                for _ in 0..10 {
                    got.extend(
                        s.lease_claim(&me, &cs, 20, Duration::from_secs(60))
                            .unwrap(),
                    );
                }
                got
            })
        })
        .collect();
    let mut all: Vec<CompanyId> = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap().into_iter().map(|g| g.company));
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a company was granted twice");
    assert_eq!(
        n, 300,
        "4 claimers × 10 rounds × 20 cover the 300 companies"
    );
    let pg = PgStore::open(&db.cfg).unwrap();
    assert_eq!(pg.lease_history().unwrap().len(), 300);
}

#[test]
fn an_old_schema_is_migrated_and_a_newer_one_refused() {
    let Some(db) = crate::pg::test_db("schema") else {
        return;
    };
    // A database at schema 1 (before leases, inbox and documents), with a record in it.
    let old = PgStore::open_at(&db.cfg, Some(1)).unwrap();
    let mut b = Batch::default();
    b.cursors.push(("src".into(), Cursor("42".into())));
    b.audit.push(ev(1));
    old.commit(&company(), b).unwrap();
    drop(old);
    // Opening with this build migrates it: the record reads back, the new tables work.
    let store = PgStore::open(&db.cfg).unwrap();
    assert_eq!(
        store.cursor(&company(), "src").unwrap(),
        Some(Cursor("42".into()))
    );
    assert_eq!(store.audit(&company(), 0, 10).unwrap().len(), 1);
    assert!(
        store
            .lease_claim("a", &[company()], 1, Duration::from_secs(5))
            .unwrap()
            .len()
            == 1
    );
    drop(store);
    // A schema newer than this build's is refused, not misread.
    let admin_cfg = db.cfg.clone();
    let raw = PgStore::open(&admin_cfg).unwrap();
    drop(raw);
    run_sql(
        &db.cfg,
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
         VALUES (99, 'future', '2027-01-01', '0')",
    );
    let err = PgStore::open(&db.cfg).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn a_database_with_foreign_tables_but_no_history_is_refused() {
    let Some(db) = crate::pg::test_db("foreign") else {
        return;
    };
    run_sql(&db.cfg, "CREATE TABLE company (x int)");
    let err = PgStore::open(&db.cfg).unwrap_err();
    assert!(matches!(err, StoreError::UnknownSchema { .. }), "{err}");
}

#[test]
fn the_password_never_shows_in_debug_or_errors() {
    let Some(admin) = crate::pg::admin() else {
        return;
    };
    let pw = "S3cret-never-logged";
    let url = format!("postgres://relance:{pw}@127.0.0.1:1/nope");
    let cfg = PgConfig::new(&url, None).unwrap();
    assert!(!format!("{cfg:?}").contains(pw));
    assert!(!cfg.describe().contains(pw));
    let mut cfg = cfg;
    cfg.connect_timeout = Duration::from_millis(500);
    let err = PgStore::open(&cfg).unwrap_err().to_string();
    assert!(!err.contains(pw), "{err}");
    // A wrong password against the real server: refused, and not echoed.
    let wrong = admin.with_database("postgres");
    let url = wrong.describe();
    assert!(!url.contains(pw));
    let bad = PgConfig::new(
        &format!("postgres://relance:{pw}@{}", url.split('@').nth(1).unwrap()),
        None,
    )
    .unwrap();
    let err = PgStore::open(&bad).unwrap_err().to_string();
    assert!(
        err.contains("password") || err.contains("authentication"),
        "{err}"
    );
    assert!(!err.contains(pw), "{err}");
}

/// Runs SQL on a test database with a throw-away connection.
pub fn run_sql(cfg: &PgConfig, sql: &str) {
    PgStore::exec_admin(cfg, sql).unwrap();
}

#[test]
fn store_migrate_moves_the_demo_install_to_postgres_checked() {
    let Some(db) = crate::pg::test_db("migrate") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_relance");
    let st = std::process::Command::new(bin)
        .args(["demo", "--state-dir"])
        .arg(state.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let url = std::env::var("RELANCE_PG_URL").unwrap();
    let url = format!(
        "postgres:{}",
        url.replace("/postgres", &format!("/{}", db.name))
    );
    let pw = std::env::var("RELANCE_PG_PASSWORD_FILE").unwrap();
    let store_dir = state.path().join("config/state/store");
    assert!(
        store_dir.is_dir(),
        "the demo keeps its store in config/state/store"
    );
    let from = format!("sled:{}", store_dir.display());
    let migrate = |extra: &[&str]| {
        std::process::Command::new(bin)
            .args([
                "store",
                "migrate",
                "--from",
                &from,
                "--to",
                &url,
                "--password-file",
                &pw,
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = migrate(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("demo:") && stdout.contains("checked"),
        "{stdout}"
    );
    // The copy holds what the source holds, digest for digest.
    let src = SledStore::open(&store_dir).unwrap();
    let dst = PgStore::open(&db.cfg).unwrap();
    let companies = src.companies().unwrap();
    assert!(!companies.is_empty());
    for c in &companies {
        let (a, da) = relance::store::company_digest(&src, c).unwrap();
        let (b, dbg) = relance::store::company_digest(&dst, c).unwrap();
        assert_eq!((a.clone(), da), (b, dbg));
        assert!(a.invoices > 0 && a.audit > 0, "{a:?}");
    }
    drop(src);
    // A second copy into the filled database is refused, unless told to overwrite.
    let out = migrate(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds data"));
    let out = migrate(&["--overwrite"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_store_reconnects_after_a_server_restart() {
    let Some(db) = crate::pg::test_db_exclusive("restart") else {
        return;
    };
    let store = PgStore::open(&db.cfg).unwrap();
    let c = company();
    let put = |n: u32| {
        store.commit(
            &c,
            Batch {
                cursors: vec![("src".into(), Cursor(n.to_string()))],
                ..Batch::default()
            },
        )
    };
    put(1).unwrap();
    crate::pg::restart_server();
    // The pooled connections died with the server: the first calls may fail, then the pool
    // connects again.
    let start = std::time::Instant::now();
    let mut errors = 0;
    loop {
        match put(2) {
            Ok(_) => break,
            Err(e) => {
                errors += 1;
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "no reconnection: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    eprintln!(
        "reconnected after {errors} failed calls in {:?}",
        start.elapsed()
    );
    assert_eq!(store.cursor(&c, "src").unwrap(), Some(Cursor("2".into())));
}
