//! Model test of the store: random batches, reads, reopenings and crash images, checked
//! against a plain in-memory model (no committed batch lost, no batch half applied, the cursor
//! never ahead of its data).
//!
//! Batch `k` is a pure function of `(seed, k)` and always sets the cursor of source `src` to
//! `k`; so a store whose cursor says `k` must hold exactly the model state after batches
//! `1..=k`. The SIGKILL variant of this check (a child process killed while committing) is in
//! `kill_delivery.rs`, which reuses [`batch`] and [`Model`].
//!
//! The same model runs on both backends: sled (with crash images) and PostgreSQL (commits,
//! reads and reopenings; its crash test is the SIGKILL one in `kill_delivery.rs`).
//!
//! Dropping a sled 0.34 store is not a crash: `Drop for TreeInner` flushes until nothing is
//! dirty. A crash is imitated here by copying the store directory while another thread
//! commits (what a killed process leaves is what the kernel has at that instant); the copy is
//! not instantaneous across files, which can only make the image less tidy than a real kill's.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relance::store::{
    AllocationRecord, AuditEvent, Batch, InvoiceRecord, OutboxEntry, OutboxState, PgStore,
    ReceiptRecord, SeenFile, SharedStore, SledStore, Store,
};
use relance_connectors::contract::{Cursor, IdempotencyKey, WriteCommand};
use relance_core::{
    CompanyId, Currency, Invoice, InvoiceId, InvoiceKind, InvoiceStatus, Receipt, TransactionId,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The source whose cursor numbers the batches.
pub const SOURCE: &str = "src";

/// The company the model writes to.
pub fn company() -> CompanyId {
    CompanyId::new("acme")
}

fn at(k: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap() + chrono::Duration::seconds(k as i64)
}

fn invoice(id: &str, cents: i64) -> Invoice {
    let d = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
    Invoice {
        id: InvoiceId::new(id),
        number: id.to_owned(),
        kind: InvoiceKind::Invoice,
        type_code: 380,
        issue_date: d,
        due_date: Some(d),
        instalments: vec![],
        currency: Currency::EUR,
        total_without_vat: Decimal::new(cents, 2),
        total_vat: Decimal::ZERO,
        total_with_vat: Decimal::new(cents, 2),
        amount_due: Decimal::new(cents, 2),
        // The customer follows the amount: a later version of an invoice may move it.
        customer: format!("C{}", cents % 4).into(),
        buyer_reference: None,
        order_reference: None,
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status: InvoiceStatus::Open,
    }
}

/// A receipt of `cents` with the bank id `id`.
pub fn receipt(id: &str, cents: i64) -> Receipt {
    Receipt {
        id: TransactionId::new(id),
        account: "FR7630006000011234567890189".into(),
        booking_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        value_date: None,
        amount: Decimal::new(cents, 2),
        currency: Currency::EUR,
        counterparty_name: None,
        counterparty_iban: None,
        remittance: String::new(),
        structured_ref: None,
        end_to_end_id: None,
        mandate_id: None,
        bank_code: None,
        return_reason: None,
        reversal: false,
        source: "model".into(),
    }
}

fn note(i: u64) -> WriteCommand {
    WriteCommand::AddNote {
        target_kind: "invoice".into(),
        target: format!("F{i}"),
        text: "n".into(),
    }
}

/// Batch number `k >= 1` of the run seeded `seed`.
pub fn batch(seed: u64, k: u64) -> Batch {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(k));
    let mut b = Batch::default();
    for _ in 0..rng.gen_range(0..15) {
        let id = format!("F{:03}", rng.gen_range(0..150));
        let cents = rng.gen_range(1..1_000_000);
        b.invoices.push(InvoiceRecord {
            source: SOURCE.into(),
            content_hash: format!("b{k}"),
            invoice: invoice(&id, cents),
        });
    }
    if rng.gen_bool(0.2) {
        b.removed_invoices
            .push(InvoiceId::new(format!("F{:03}", rng.gen_range(0..150))));
    }
    for i in 0..rng.gen_range(0..15) {
        let n = rng.gen_range(0..300);
        let key = format!("R{n:03}");
        let mut r = receipt(&key, (k * 100 + i) as i64);
        // Some bank transaction ids are shared by several receipts (two accounts).
        r.id = TransactionId::new(format!("T{:02}", n % 250));
        b.receipts.push(ReceiptRecord {
            dedup_key: key.clone(),
            source: SOURCE.into(),
            receipt: r,
        });
    }
    for _ in 0..rng.gen_range(0..6) {
        b.allocations.push(AllocationRecord {
            transaction: TransactionId::new(format!("T{:02}", rng.gen_range(0..40))),
            invoice: InvoiceId::new(format!("F{:03}", rng.gen_range(0..30))),
            amount: Decimal::new(rng.gen_range(1..100_000), 2),
            auto: rng.gen_bool(0.5),
            reason: "model".into(),
            evidence: serde_json::Value::Null,
            decided_at: at(k),
        });
    }
    if rng.gen_bool(0.3) {
        b.removed_allocations.push((
            TransactionId::new(format!("T{:02}", rng.gen_range(0..40))),
            InvoiceId::new(format!("F{:03}", rng.gen_range(0..30))),
        ));
    }
    for i in 0..rng.gen_range(0..3) {
        b.seen_files.push(SeenFile {
            hash: format!("h{k}-{i}"),
            name: format!("f{k}.xml"),
            source: SOURCE.into(),
            seen_at: at(k),
        });
    }
    for _ in 0..rng.gen_range(0..3) {
        let i = rng.gen_range(0..60);
        b.outbox_new.push(OutboxEntry::new(
            IdempotencyKey(format!("K{i:02}")),
            "t",
            note(i),
            at(k),
        ));
    }
    for _ in 0..rng.gen_range(0..2) {
        let i = rng.gen_range(0..60);
        let mut e = OutboxEntry::new(IdempotencyKey(format!("K{i:02}")), "t", note(i), at(0));
        e.attempts = k as u32;
        if k.is_multiple_of(3) {
            e.state = OutboxState::Dead {
                at: at(k),
                reason: "model".into(),
            };
        }
        b.outbox_updates.push(e);
    }
    for i in 0..rng.gen_range(1..4) {
        b.audit.push(AuditEvent {
            at: at(k),
            // Kinds that prefix one another, for the kind index.
            kind: ["model", "model.a", "mod"][((k + i) % 3) as usize].into(),
            subject: format!("{k}-{i}"),
            summary: String::new(),
            explanation: serde_json::Value::Null,
        });
    }
    b.cursors.push((SOURCE.into(), Cursor(k.to_string())));
    b
}

/// What the store should hold, in plain collections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// Invoice id → (content hash, amount due).
    pub invoices: BTreeMap<String, (String, Decimal)>,
    /// Receipt dedup key → amount.
    pub receipts: BTreeMap<String, Decimal>,
    /// The cursor of [`SOURCE`].
    pub cursor: Option<String>,
    /// Outbox key → (attempts, pending).
    pub outbox: BTreeMap<String, (u32, bool)>,
    /// Subjects of the audit log, in order.
    pub audit: Vec<String>,
    /// Seen file hashes.
    pub seen: BTreeSet<String>,
    /// (transaction, invoice) → amount allocated.
    pub allocations: BTreeMap<(String, String), Decimal>,
}

impl Model {
    /// Applies a batch with the store's documented semantics.
    pub fn apply(&mut self, b: &Batch) {
        for r in &b.invoices {
            self.invoices.insert(
                r.invoice.id.0.clone(),
                (r.content_hash.clone(), r.invoice.amount_due),
            );
        }
        for id in &b.removed_invoices {
            self.invoices.remove(&id.0);
        }
        for a in &b.allocations {
            self.allocations
                .insert((a.transaction.0.clone(), a.invoice.0.clone()), a.amount);
        }
        for (t, i) in &b.removed_allocations {
            self.allocations.remove(&(t.0.clone(), i.0.clone()));
        }
        for r in &b.receipts {
            self.receipts
                .entry(r.dedup_key.clone())
                .or_insert(r.receipt.amount);
        }
        for f in &b.seen_files {
            self.seen.insert(f.hash.clone());
        }
        for e in &b.outbox_new {
            self.outbox
                .entry(e.key.0.clone())
                .or_insert((e.attempts, e.is_pending()));
        }
        for e in &b.outbox_updates {
            self.outbox
                .insert(e.key.0.clone(), (e.attempts, e.is_pending()));
        }
        self.audit.extend(b.audit.iter().map(|e| e.subject.clone()));
        for (s, c) in &b.cursors {
            if s == SOURCE {
                self.cursor = Some(c.0.clone());
            }
        }
    }

    /// The model after batches `1..=n`, for every `n` in `0..=last`.
    pub fn snapshots(seed: u64, last: u64) -> Vec<Model> {
        let mut m = Model::default();
        let mut out = vec![m.clone()];
        for k in 1..=last {
            m.apply(&batch(seed, k));
            out.push(m.clone());
        }
        out
    }

    /// What `store` holds, read through the `Store` trait. `seen` is probed for the hashes
    /// batches `1..=last` may have written.
    pub fn observe(store: &dyn Store, seed: u64, last: u64) -> Model {
        let c = company();
        let audit = store.audit(&c, 0, usize::MAX).unwrap();
        for (i, e) in audit.iter().enumerate() {
            assert_eq!(
                e.seq,
                i as u64 + 1,
                "audit log has a gap or is out of order"
            );
        }
        let mut seen = BTreeSet::new();
        for k in 1..=last {
            for f in batch(seed, k).seen_files {
                if store.seen_file(&c, &f.hash).unwrap().is_some() {
                    seen.insert(f.hash);
                }
            }
        }
        Model {
            invoices: store
                .invoices(&c)
                .unwrap()
                .into_iter()
                .map(|r| (r.invoice.id.0, (r.content_hash, r.invoice.amount_due)))
                .collect(),
            receipts: store
                .receipts(&c)
                .unwrap()
                .into_iter()
                .map(|r| (r.dedup_key, r.receipt.amount))
                .collect(),
            cursor: store.cursor(&c, SOURCE).unwrap().map(|c| c.0),
            outbox: store
                .outbox(&c)
                .unwrap()
                .into_iter()
                .map(|e| (e.key.0.clone(), (e.attempts, e.is_pending())))
                .collect(),
            audit: audit.into_iter().map(|e| e.event.subject).collect(),
            seen,
            allocations: store
                .allocations(&c)
                .unwrap()
                .into_iter()
                .map(|a| ((a.transaction.0, a.invoice.0), a.amount))
                .collect(),
        }
    }
}

/// The backend's look-ups by customer, invoice, transaction and audit kind answer what a
/// scan of everything would (sled answers them from its indexes, PostgreSQL from its own).
pub fn check_lookups(store: &dyn Store) {
    let c = company();
    let invoices = store.invoices(&c).unwrap();
    for cu in ["C0", "C1", "C2", "C3", "C9"] {
        let want: Vec<_> = invoices
            .iter()
            .filter(|r| r.invoice.customer.as_str() == cu)
            .cloned()
            .collect();
        assert_eq!(
            store.invoices_of_customer(&c, &cu.into()).unwrap(),
            want,
            "invoices of {cu}"
        );
    }
    let receipts = store.receipts(&c).unwrap();
    for t in 0..42 {
        let tx = TransactionId::new(format!("T{t:02}"));
        let mut want: Vec<_> = receipts
            .iter()
            .filter(|r| r.receipt.id == tx)
            .cloned()
            .collect();
        let mut got = store.receipts_of_transaction(&c, &tx).unwrap();
        want.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
        got.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
        assert_eq!(got, want, "receipts of {tx}");
    }
    let allocations = store.allocations(&c).unwrap();
    for i in 0..32 {
        let inv = InvoiceId::new(format!("F{i:03}"));
        let want: Vec<_> = allocations
            .iter()
            .filter(|a| a.invoice == inv)
            .cloned()
            .collect();
        assert_eq!(
            store.allocations_of_invoice(&c, &inv).unwrap(),
            want,
            "allocations of {inv}"
        );
    }
    let audit = store.audit(&c, 0, usize::MAX).unwrap();
    for kinds in [&["model"][..], &["mod"], &["model.a", "mod"], &["none"]] {
        let want: Vec<_> = audit
            .iter()
            .filter(|e| kinds.contains(&e.event.kind.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            store.audit_by_kind(&c, kinds, 1, usize::MAX).unwrap(),
            want,
            "audit of {kinds:?}"
        );
        // A page from the middle.
        if let Some(mid) = want.get(want.len() / 2) {
            let page = store.audit_by_kind(&c, kinds, mid.seq, 3).unwrap();
            let tail: Vec<_> = want
                .iter()
                .filter(|e| e.seq >= mid.seq)
                .take(3)
                .cloned()
                .collect();
            assert_eq!(page, tail, "audit page of {kinds:?} from {}", mid.seq);
        }
    }
}

/// The batch number a store's cursor says it holds (0 when none).
pub fn cursor_batch(store: &dyn Store) -> u64 {
    store
        .cursor(&company(), SOURCE)
        .unwrap()
        .map_or(0, |c| c.0.parse().expect("model cursors are numbers"))
}

/// Checks that `store` holds exactly the model state its cursor names, and that the cursor is
/// within `lo..=hi`; returns the cursor's batch number.
pub fn check_consistent(store: &dyn Store, seed: u64, snaps: &[Model], lo: u64, hi: u64) -> u64 {
    let k = cursor_batch(store);
    assert!(
        lo <= k && k <= hi,
        "cursor at batch {k}, expected within {lo}..={hi}"
    );
    let last = (snaps.len() - 1) as u64;
    let got = Model::observe(store, seed, last);
    check_lookups(store);
    assert_eq!(
        got, snaps[k as usize],
        "store differs from the model after batch {k}"
    );
    k
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    // The commit counts first, sled's files after: a real crash image has counts no newer
    // than the data they count (they are written after each flush), so a copy taken over
    // time must not read them later than the data.
    entries.sort_by_key(|e| e.file_name() != "relance-commits");
    for entry in entries {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            // A file may be renamed away (sled snapshots) while we copy: skip it, as a crash
            // at that instant would have left either name.
            let _ = std::fs::copy(entry.path(), &target);
        }
    }
}

/// How many seeds: RELANCE_MODEL_SEEDS=n runs seeds 1..=n (a longer soak); the default is 3.
fn seeds() -> u64 {
    std::env::var("RELANCE_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Random operations on one sled store: commits, full reads, clean reopenings, and crash
/// images (the directory copied while another thread commits), each checked against the model.
#[test]
fn random_batches_reads_reopens_and_crash_images_match_the_model() {
    for seed in 1..=seeds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let open = move || -> SharedStore { Arc::new(SledStore::open(&path).unwrap()) };
        run_model(seed, 160, &open, Some(dir.path()));
    }
}

/// The same operations on PostgreSQL (a database of its own): commits, reads, reopenings.
#[test]
fn random_batches_reads_and_reopens_match_the_model_on_postgres() {
    if crate::pg::admin().is_none() {
        return;
    }
    for seed in 1..=seeds() {
        let db = crate::pg::test_db(&format!("model{seed}")).unwrap();
        let cfg = db.cfg.clone();
        let open = move || -> SharedStore { Arc::new(PgStore::open(&cfg).unwrap()) };
        run_model(seed, 160, &open, None);
        drop(db);
    }
}

fn run_model(seed: u64, total: u64, open: &dyn Fn() -> SharedStore, crash_dir: Option<&Path>) {
    let snaps = Model::snapshots(seed, total);
    let mut store = open();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut k = 0u64;
    let (mut images, mut mid_write) = (0, 0);
    while k < total {
        match rng.gen_range(0..100) {
            0..=64 => {
                k += 1;
                store.commit(&company(), batch(seed, k)).unwrap();
            }
            65..=79 => {
                check_consistent(&*store, seed, &snaps, k, k);
            }
            80..=87 => {
                drop(store);
                store = open();
                check_consistent(&*store, seed, &snaps, k, k);
            }
            _ => {
                let Some(dir) = crash_dir else {
                    // No crash image of a server: commit a run of batches from another
                    // thread, as a concurrent writer would, and check the result.
                    let n = rng.gen_range(1..=8).min(total - k);
                    let s = store.clone();
                    std::thread::spawn(move || {
                        for j in k + 1..=k + n {
                            s.commit(&company(), batch(seed, j)).unwrap();
                        }
                    })
                    .join()
                    .unwrap();
                    k += n;
                    check_consistent(&*store, seed, &snaps, k, k);
                    continue;
                };
                // Crash image: copy the directory while a thread commits the next batches.
                let n = rng.gen_range(1..=8).min(total - k);
                let done = Arc::new(AtomicU64::new(k));
                let writer = {
                    let (store, done) = (store.clone(), Arc::clone(&done));
                    std::thread::spawn(move || {
                        for j in k + 1..=k + n {
                            store.commit(&company(), batch(seed, j)).unwrap();
                            done.store(j, Ordering::SeqCst);
                        }
                    })
                };
                std::thread::sleep(std::time::Duration::from_micros(rng.gen_range(0..3000)));
                let before = done.load(Ordering::SeqCst);
                let image = tempfile::tempdir().unwrap();
                copy_dir(dir, image.path());
                let after = done.load(Ordering::SeqCst);
                writer.join().unwrap();
                k += n;
                let crashed = SledStore::open(image.path()).unwrap();
                // Everything committed before the copy began is there; at most the batch in
                // flight when the copy ended is extra; nothing is half there.
                let at = check_consistent(&crashed, seed, &snaps, before, (after + 1).min(k));
                images += 1;
                mid_write += usize::from(at < k);
            }
        }
    }
    drop(store);
    let store = open();
    check_consistent(&*store, seed, &snaps, total, total);
    eprintln!(
        "store_model seed {seed}: {total} batches, {images} crash images checked \
         ({mid_write} taken before the writer's last batch)"
    );
}
