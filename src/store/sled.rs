//! The [`Store`] on sled 0.34: one tree per company, records under prefixed keys, each commit
//! one `apply_batch` (atomic across a crash) followed by an explicit flush.
//!
//! Key layout inside the company tree `co/<company>` (the prefixes never prefix each other):
//! `cust/<id>`, `inv/<id>`, `rcpt/<dedup key>`, `alloc/<transaction>\0<invoice>`,
//! `cur/<source>`, `seen/<hash>`, `obx/<key>` (every outbox entry), `obxp/<key>` (index of the
//! pending ones, empty value), `dead/<key>`, `aud/<seq as 8 bytes big-endian>`,
//! `prov/<YYYY-MM-DD>`, `meta/audit_seq` (last audit sequence number, 8 bytes big-endian),
//! `meta/commit_seq` (commits applied to this company, 8 bytes big-endian),
//! `ibx/<seq>` (inbox entries), `ibxk/<key>` (inbox key → seq), `ibxp/<seq>` (pending inbox
//! index), `meta/inbox_seq`. Secondary indexes (schema 3, empty values, kept in the same
//! batch as their record): `xai/<invoice>\0<transaction>` (allocations of an invoice),
//! `xic/<customer>\0<invoice>` (invoices of a customer), `xrt/<transaction>\0<dedup key>`
//! (receipts of a bank transaction), `xak/<kind>\0<seq>` (audit entries of a kind), so the
//! look-ups a decision makes read what they need, not the whole company. Shared documents live in the tree `docs` under
//! `<namespace>\0<key>`. Values are JSON envelopes `{"v":2,"body":…}` (see [`super::schema`]).
//!
//! Leases are in memory ([`LocalLeases`]): only one process opens a sled store.
//!
//! **Damage.** sled recovers a truncated or partly overwritten log by dropping what it cannot
//! read, so a damaged store would open as an older or empty one, silently. Two checks refuse
//! that at open ([`StoreError::Damaged`]): a store whose files hold data but no schema version,
//! and a company whose `meta/commit_seq` is behind the count written, after each flushed
//! commit, to `relance-commits/<company>` beside sled's files. A panic inside sled while it
//! opens is caught and reported the same way.

use super::lease::{LeaseGrant, LocalLeases};
use super::schema::{self, RECORD_VERSION};
use super::{
    AllocationRecord, AuditEntry, Batch, CommitOutcome, CustomerRecord, DeadLetter, Document,
    InboxEntry, InboxItem, InvoiceRecord, OutboxEntry, ProvisionState, ReceiptRecord, SeenFile,
    Store, StoreError,
};
use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::{Cursor, IdempotencyKey};
use relance_core::{CompanyId, CustomerId, InvoiceId, TransactionId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub(crate) const CUST: &[u8] = b"cust/";
pub(crate) const INV: &[u8] = b"inv/";
pub(crate) const RCPT: &[u8] = b"rcpt/";
pub(crate) const ALLOC: &[u8] = b"alloc/";
pub(crate) const CUR: &[u8] = b"cur/";
pub(crate) const SEEN: &[u8] = b"seen/";
pub(crate) const OBX: &[u8] = b"obx/";
pub(crate) const OBX_PENDING: &[u8] = b"obxp/";
pub(crate) const DEAD: &[u8] = b"dead/";
pub(crate) const AUD: &[u8] = b"aud/";
pub(crate) const PROV: &[u8] = b"prov/";
pub(crate) const META: &[u8] = b"meta/";
pub(crate) const AUDIT_SEQ: &[u8] = b"meta/audit_seq";
pub(crate) const COMMIT_SEQ: &[u8] = b"meta/commit_seq";
/// Folder (inside the store directory) of the per-company commit counts written after each
/// flushed commit.
const COMMITS_DIR: &str = "relance-commits";
pub(crate) const IBX: &[u8] = b"ibx/";
pub(crate) const IBX_KEY: &[u8] = b"ibxk/";
pub(crate) const IBX_PENDING: &[u8] = b"ibxp/";
pub(crate) const INBOX_SEQ: &[u8] = b"meta/inbox_seq";
/// Index of the allocations of an invoice: `xai/<invoice>\0<transaction>`.
pub(crate) const X_ALLOC_INV: &[u8] = b"xai/";
/// Index of the invoices of a customer: `xic/<customer>\0<invoice>`.
pub(crate) const X_INV_CUST: &[u8] = b"xic/";
/// Index of the receipts of a bank transaction: `xrt/<transaction>\0<dedup key>`.
pub(crate) const X_RCPT_TX: &[u8] = b"xrt/";
/// Index of the audit entries of a kind: `xak/<kind>\0<seq as 8 bytes big-endian>`.
pub(crate) const X_AUD_KIND: &[u8] = b"xak/";
/// The record prefixes with an index entry each (see [`index_key_of`]).
pub(crate) const INDEXED: [&[u8]; 4] = [INV, RCPT, ALLOC, AUD];
/// The index prefixes.
const INDEXES: [&[u8]; 4] = [X_ALLOC_INV, X_INV_CUST, X_RCPT_TX, X_AUD_KIND];
/// The tree of shared documents.
const DOCS_TREE: &str = "docs";
/// How long [`SledStore::open`] waits for the directory lock.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Prefix of company tree names.
pub(crate) const COMPANY_TREE: &str = "co/";

/// The sled-backed store. Cheap to clone (the database handle is shared).
///
/// sled locks its directory: one process at a time opens a store.
#[derive(Clone)]
pub struct SledStore {
    db: ::sled::Db,
    path: PathBuf,
    /// Serialises commits, so the reads a commit makes (dedup keys, audit sequence) and its
    /// write are not interleaved with another commit's.
    commit_lock: Arc<Mutex<()>>,
    /// Company trees opened so far, by tree name (reads never create a tree).
    trees: Arc<RwLock<HashMap<String, ::sled::Tree>>>,
    /// The lease table (in memory: one process per store).
    leases: Arc<LocalLeases>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A record as written: the record version and the body.
#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    v: u32,
    body: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    v: u32,
    body: T,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

/// Encodes a record as a current-version envelope.
pub(crate) fn encode<T: Serialize>(key: &[u8], body: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&EnvelopeOut {
        v: RECORD_VERSION,
        body,
    })
    .map_err(|source| StoreError::Codec {
        key: printable(key),
        source,
    })
}

/// Decodes a current-version envelope; any other version is an error, never a guess.
pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    match serde_json::from_slice::<EnvelopeIn<T>>(bytes) {
        Ok(env) if env.v == RECORD_VERSION => Ok(env.body),
        Ok(env) => Err(StoreError::RecordVersion {
            key: printable(key),
            found: env.v,
            expected: RECORD_VERSION,
        }),
        Err(source) => match serde_json::from_slice::<VersionOnly>(bytes) {
            Ok(VersionOnly { v }) if v != RECORD_VERSION => Err(StoreError::RecordVersion {
                key: printable(key),
                found: v,
                expected: RECORD_VERSION,
            }),
            _ => Err(StoreError::Codec {
                key: printable(key),
                source,
            }),
        },
    }
}

/// A key for error messages: UTF-8 where it is, escaped bytes elsewhere.
pub(crate) fn printable(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "\\0")
}

fn key(prefix: &[u8], id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + id.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(id.as_bytes());
    k
}

fn alloc_key(transaction: &str, invoice: &str) -> Vec<u8> {
    pair_key(ALLOC, transaction, invoice)
}

/// `prefix` + `a` + NUL + `b`: a two-part key (ids hold no NUL).
fn pair_key(prefix: &[u8], a: &str, b: &str) -> Vec<u8> {
    let mut k = pair_prefix(prefix, a);
    k.extend_from_slice(b.as_bytes());
    k
}

/// The first part of every [`pair_key`] starting with `a`.
fn pair_prefix(prefix: &[u8], a: &str) -> Vec<u8> {
    let mut k = key(prefix, a);
    k.push(0);
    k
}

fn kind_key(kind: &str, seq: u64) -> Vec<u8> {
    let mut k = pair_prefix(X_AUD_KIND, kind);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[derive(Deserialize)]
struct CustomerOf {
    invoice: CustomerField,
}
#[derive(Deserialize)]
struct CustomerField {
    customer: String,
}
#[derive(Deserialize)]
struct TransactionOf {
    receipt: IdField,
}
#[derive(Deserialize)]
struct IdField {
    id: String,
}
#[derive(Deserialize)]
struct KindOf {
    seq: u64,
    event: KindField,
}
#[derive(Deserialize)]
struct KindField {
    kind: String,
}

/// The index key a stored record `(k, v)` has, if its kind is indexed (schema 3).
pub(crate) fn index_key_of(k: &[u8], v: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    if let Some(id) = k.strip_prefix(INV) {
        let c: CustomerOf = decode(k, v)?;
        let id = String::from_utf8_lossy(id);
        return Ok(Some(pair_key(X_INV_CUST, &c.invoice.customer, &id)));
    }
    if let Some(dedup) = k.strip_prefix(RCPT) {
        let t: TransactionOf = decode(k, v)?;
        let dedup = String::from_utf8_lossy(dedup);
        return Ok(Some(pair_key(X_RCPT_TX, &t.receipt.id, &dedup)));
    }
    if let Some(rest) = k.strip_prefix(ALLOC) {
        let Some(nul) = rest.iter().position(|b| *b == 0) else {
            return Ok(None);
        };
        let (tx, inv) = (&rest[..nul], &rest[nul + 1..]);
        return Ok(Some([X_ALLOC_INV, inv, &[0], tx].concat()));
    }
    if k.starts_with(AUD) {
        let a: KindOf = decode(k, v)?;
        return Ok(Some(kind_key(&a.event.kind, a.seq)));
    }
    Ok(None)
}

/// The customer an invoice stored under `k` has, if it is stored.
fn stored_customer(tree: &::sled::Tree, k: &[u8]) -> Result<Option<String>, StoreError> {
    match tree.get(k)? {
        Some(v) => Ok(Some(decode::<CustomerOf>(k, &v)?.invoice.customer)),
        None => Ok(None),
    }
}

fn audit_key(seq: u64) -> Vec<u8> {
    seq_key(AUD, seq)
}

fn seq_key(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn doc_key(namespace: &str, key: &str) -> Vec<u8> {
    let mut k = namespace.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`, migrating an older schema first.
    ///
    /// sled locks the directory; the lock of a store just dropped in this process is released
    /// by sled's background threads a moment later, so a locked directory is retried for up to
    /// [`LOCK_WAIT`] before [`StoreError::Locked`] is returned (another process holds it).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let started = std::time::Instant::now();
        let had_data = std::fs::metadata(path.join("db")).is_ok_and(|m| m.len() > 0);
        let db = loop {
            match open_catching_panics(path)? {
                Ok(db) => break db,
                Err(::sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(StoreError::Locked {
                            path: path.display().to_string(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e @ (::sled::Error::Corruption { .. } | ::sled::Error::ReportableBug(_))) => {
                    return Err(StoreError::Damaged {
                        path: path.display().to_string(),
                        detail: format!("sled cannot read it ({e})"),
                    })
                }
                Err(e) => return Err(e.into()),
            }
        };
        if had_data && db.get(schema::VERSION_KEY)?.is_none() && db.tree_names().len() <= 1 {
            return Err(StoreError::Damaged {
                path: path.display().to_string(),
                detail: "its files hold data but sled reads no schema version and no record \
                         (a truncated or overwritten db file; if this store never held data, \
                         remove the directory instead)"
                    .to_owned(),
            });
        }
        schema::prepare(&db, path)?;
        check_commit_counts(&db, path)?;
        Ok(SledStore {
            db,
            path: path.to_path_buf(),
            commit_lock: Arc::new(Mutex::new(())),
            trees: Arc::default(),
            leases: Arc::default(),
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes the store occupies on disk (sled's own estimate).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// The company's tree, created when missing (for commits).
    fn tree(&self, company: &CompanyId) -> Result<::sled::Tree, StoreError> {
        let name = format!("{COMPANY_TREE}{}", company.as_str());
        if let Some(t) = self.cached(&name) {
            return Ok(t);
        }
        let tree = self.db.open_tree(&name)?;
        self.trees
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, tree.clone());
        Ok(tree)
    }

    /// The company's tree if it exists (for reads: an unknown company reads as empty).
    fn existing_tree(&self, company: &CompanyId) -> Result<Option<::sled::Tree>, StoreError> {
        let name = format!("{COMPANY_TREE}{}", company.as_str());
        if let Some(t) = self.cached(&name) {
            return Ok(Some(t));
        }
        if self.db.tree_names().iter().any(|n| n == name.as_bytes()) {
            return self.tree(company).map(Some);
        }
        Ok(None)
    }

    fn cached(&self, name: &str) -> Option<::sled::Tree> {
        // A poisoned cache lock holds valid tree handles all the same.
        let trees = self.trees.read().unwrap_or_else(|p| p.into_inner());
        trees.get(name).cloned()
    }

    fn get<T: DeserializeOwned>(
        &self,
        company: &CompanyId,
        k: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(None);
        };
        match tree.get(k)? {
            Some(v) => decode(k, &v).map(Some),
            None => Ok(None),
        }
    }

    fn scan<T: DeserializeOwned>(
        &self,
        company: &CompanyId,
        prefix: &[u8],
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(out);
        };
        for kv in tree.scan_prefix(prefix) {
            let (k, v) = kv?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// The records an index names: each key under `prefix` gives, by `record_key` of its
    /// rest, the record's key. An index entry whose record is gone is left out (never
    /// written so: index and record change in one batch).
    fn indexed<T: DeserializeOwned>(
        &self,
        company: &CompanyId,
        prefix: &[u8],
        record_key: impl Fn(&[u8]) -> Vec<u8>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(out);
        };
        for kv in tree.scan_prefix(prefix) {
            let (k, _) = kv?;
            let rk = record_key(&k[prefix.len()..]);
            if let Some(v) = tree.get(&rk)? {
                out.push(decode(&rk, &v)?);
            }
        }
        Ok(out)
    }

    /// Builds the sled batch of `batch`; the caller holds the commit lock.
    fn build(
        tree: &::sled::Tree,
        batch: &Batch,
    ) -> Result<(::sled::Batch, CommitOutcome), StoreError> {
        let mut b = ::sled::Batch::default();
        let mut outcome = CommitOutcome::default();
        for r in &batch.customers {
            let k = key(CUST, r.customer.id.as_str());
            let v = encode(&k, r)?;
            b.insert(k, v);
        }
        // The customer each invoice has once the batch so far is applied (its index entry).
        let mut customer_of: HashMap<&str, Option<String>> = HashMap::new();
        for r in &batch.invoices {
            let id = r.invoice.id.as_str();
            let k = key(INV, id);
            let before = match customer_of.get(id) {
                Some(c) => c.clone(),
                None => stored_customer(tree, &k)?,
            };
            let now = r.invoice.customer.as_str();
            if let Some(old) = before.filter(|old| old != now) {
                b.remove(pair_key(X_INV_CUST, &old, id));
            }
            b.insert(pair_key(X_INV_CUST, now, id), &[] as &[u8]);
            customer_of.insert(id, Some(now.to_owned()));
            let v = encode(&k, r)?;
            b.insert(k, v);
        }
        for id in &batch.removed_invoices {
            let k = key(INV, id.as_str());
            let before = match customer_of.get(id.as_str()) {
                Some(c) => c.clone(),
                None => stored_customer(tree, &k)?,
            };
            if let Some(old) = before {
                b.remove(pair_key(X_INV_CUST, &old, id.as_str()));
            }
            customer_of.insert(id.as_str(), None);
            b.remove(k);
        }
        let mut new_receipts = HashSet::new();
        for r in &batch.receipts {
            let k = key(RCPT, &r.dedup_key);
            if new_receipts.contains(&k) || tree.contains_key(&k)? {
                outcome.receipts_duplicate += 1;
                continue;
            }
            let v = encode(&k, r)?;
            new_receipts.insert(k.clone());
            b.insert(k, v);
            b.insert(
                pair_key(X_RCPT_TX, r.receipt.id.as_str(), &r.dedup_key),
                &[] as &[u8],
            );
            outcome.receipts_added += 1;
        }
        for a in &batch.allocations {
            let k = alloc_key(a.transaction.as_str(), a.invoice.as_str());
            let v = encode(&k, a)?;
            b.insert(k, v);
            b.insert(
                pair_key(X_ALLOC_INV, a.invoice.as_str(), a.transaction.as_str()),
                &[] as &[u8],
            );
        }
        for (t, i) in &batch.removed_allocations {
            b.remove(alloc_key(t.as_str(), i.as_str()));
            b.remove(pair_key(X_ALLOC_INV, i.as_str(), t.as_str()));
        }
        for (source, cursor) in &batch.cursors {
            let k = key(CUR, source);
            let v = encode(&k, cursor)?;
            b.insert(k, v);
        }
        for f in &batch.seen_files {
            let k = key(SEEN, &f.hash);
            let v = encode(&k, f)?;
            b.insert(k, v);
        }
        let mut new_outbox = HashSet::new();
        for e in &batch.outbox_new {
            let k = key(OBX, e.key.as_str());
            if new_outbox.contains(&k) || tree.contains_key(&k)? {
                outcome.outbox_existing += 1;
                continue;
            }
            Self::put_outbox(&mut b, &k, e)?;
            new_outbox.insert(k);
            outcome.outbox_added += 1;
        }
        for e in &batch.outbox_updates {
            let k = key(OBX, e.key.as_str());
            Self::put_outbox(&mut b, &k, e)?;
        }
        for d in &batch.dead_letters {
            let k = key(DEAD, &d.key);
            let v = encode(&k, d)?;
            b.insert(k, v);
        }
        if !batch.audit.is_empty() {
            let last = tree.get(AUDIT_SEQ)?.and_then(|v| read_u64(&v)).unwrap_or(0);
            let mut seq = last;
            for event in &batch.audit {
                seq += 1;
                let k = audit_key(seq);
                let v = encode(
                    &k,
                    &AuditEntry {
                        seq,
                        event: event.clone(),
                    },
                )?;
                b.insert(k, v);
                b.insert(kind_key(&event.kind, seq), &[] as &[u8]);
            }
            b.insert(AUDIT_SEQ, &seq.to_be_bytes());
            outcome.audit_seqs = Some((last + 1, seq));
        }
        for p in &batch.provisions {
            let k = key(PROV, &p.closing.format("%Y-%m-%d").to_string());
            let v = encode(&k, p)?;
            b.insert(k, v);
        }
        for (seq, at) in &batch.inbox_done {
            let k = seq_key(IBX, *seq);
            if let Some(v) = tree.get(&k)? {
                let mut e: InboxEntry = decode(&k, &v)?;
                if e.done_at.is_none() {
                    e.done_at = Some(*at);
                    b.insert(k.clone(), encode(&k, &e)?);
                    b.remove(seq_key(IBX_PENDING, *seq));
                }
            }
        }
        Ok((b, outcome))
    }

    fn put_outbox(b: &mut ::sled::Batch, k: &[u8], e: &OutboxEntry) -> Result<(), StoreError> {
        b.insert(k, encode(k, e)?);
        let pk = key(OBX_PENDING, e.key.as_str());
        if e.is_pending() {
            b.insert(pk, &[] as &[u8]);
        } else {
            b.remove(pk);
        }
        Ok(())
    }
}

/// sled's page cache: what it keeps of the store in memory (its default, 1 GiB, lets a big
/// import grow the daemon by as much; reads past the cache go to the file and the OS cache).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Opens sled, turning a panic inside it (a damaged file it indexes out of bounds) into
/// [`StoreError::Damaged`]. The panic's own message is kept off stderr.
fn open_catching_panics(path: &Path) -> Result<Result<::sled::Db, ::sled::Error>, StoreError> {
    QUIET_PANICS.with(|q| q.set(true));
    install_quiet_hook();
    let p = path.to_owned();
    let r = std::panic::catch_unwind(move || {
        ::sled::Config::new()
            .path(&p)
            .cache_capacity(CACHE_BYTES)
            .open()
    });
    QUIET_PANICS.with(|q| q.set(false));
    r.map_err(|panic| StoreError::Damaged {
        path: path.display().to_string(),
        detail: format!(
            "sled stopped reading it ({})",
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned())
        ),
    })
}

thread_local! {
    /// True while this thread opens a store: a panic then is reported as damage, not printed.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wraps the panic hook once so that panics of a thread opening a store stay quiet; every
/// other panic goes to the previous hook as before.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

fn commits_file(path: &Path, company: &str) -> PathBuf {
    path.join(COMMITS_DIR).join(company)
}

/// Refuses a store in which a company holds fewer commits than were written (see the module
/// documentation).
fn check_commit_counts(db: &::sled::Db, path: &Path) -> Result<(), StoreError> {
    let Ok(rd) = std::fs::read_dir(path.join(COMMITS_DIR)) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let company = e.file_name().to_string_lossy().into_owned();
        if company.starts_with('.') {
            continue;
        }
        let Some(written) = std::fs::read_to_string(e.path())
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        else {
            continue;
        };
        let name = format!("{COMPANY_TREE}{company}");
        let held = if db.tree_names().iter().any(|n| n == name.as_bytes()) {
            db.open_tree(&name)?
                .get(COMMIT_SEQ)?
                .and_then(|v| read_u64(&v))
                .unwrap_or(0)
        } else {
            0
        };
        if held < written {
            return Err(StoreError::Damaged {
                path: path.display().to_string(),
                detail: format!(
                    "company {company} holds {held} commits, but {written} were committed and flushed (committed data is missing)"
                ),
            });
        }
    }
    Ok(())
}

impl Store for SledStore {
    fn commit(&self, company: &CompanyId, batch: Batch) -> Result<CommitOutcome, StoreError> {
        let tree = self.tree(company)?;
        let (outcome, seq) = {
            // A poisoned lock only means another commit panicked; sled's state is whole
            // (a batch is applied entirely or not at all), so going on is safe.
            let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(token) = batch.fence {
                if !self.leases.check(company, token) {
                    return Err(StoreError::Fenced {
                        company: company.to_string(),
                        token,
                    });
                }
            }
            let (mut b, outcome) = Self::build(&tree, &batch)?;
            let seq = tree
                .get(COMMIT_SEQ)?
                .and_then(|v| read_u64(&v))
                .unwrap_or(0)
                + 1;
            b.insert(COMMIT_SEQ, &seq.to_be_bytes());
            tree.apply_batch(b)?;
            (outcome, seq)
        };
        self.db.flush()?;
        // After the flush: the count on the side is never ahead of what sled holds durably.
        // Not synced: a stale count only weakens the check, never trips it.
        let file = commits_file(&self.path, company.as_str());
        let tmp = file.with_file_name(format!(".{}.{seq}.tmp", company.as_str()));
        let written = std::fs::create_dir_all(self.path.join(COMMITS_DIR))
            .and_then(|()| std::fs::write(&tmp, seq.to_string()))
            .and_then(|()| std::fs::rename(&tmp, &file));
        if let Err(e) = written {
            tracing::warn!(store = %self.path.display(), company = %company, error = %e, "cannot record the commit count (damage detection weakened)");
        }
        Ok(outcome)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn companies(&self) -> Result<Vec<CompanyId>, StoreError> {
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            if let Some(c) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix(COMPANY_TREE))
            {
                if !self.db.open_tree(&name)?.is_empty() {
                    out.push(CompanyId::new(c));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn customer(
        &self,
        company: &CompanyId,
        id: &CustomerId,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        self.get(company, &key(CUST, id.as_str()))
    }

    fn customers(&self, company: &CompanyId) -> Result<Vec<CustomerRecord>, StoreError> {
        self.scan(company, CUST)
    }

    fn invoice(
        &self,
        company: &CompanyId,
        id: &InvoiceId,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        self.get(company, &key(INV, id.as_str()))
    }

    fn invoices(&self, company: &CompanyId) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.scan(company, INV)
    }

    fn receipt(
        &self,
        company: &CompanyId,
        dedup_key: &str,
    ) -> Result<Option<ReceiptRecord>, StoreError> {
        self.get(company, &key(RCPT, dedup_key))
    }

    fn receipts(&self, company: &CompanyId) -> Result<Vec<ReceiptRecord>, StoreError> {
        self.scan(company, RCPT)
    }

    fn allocations(&self, company: &CompanyId) -> Result<Vec<AllocationRecord>, StoreError> {
        self.scan(company, ALLOC)
    }

    fn allocations_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        let mut prefix = key(ALLOC, transaction.as_str());
        prefix.push(0);
        self.scan(company, &prefix)
    }

    fn allocations_of_invoice(
        &self,
        company: &CompanyId,
        invoice: &InvoiceId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        self.indexed(company, &pair_prefix(X_ALLOC_INV, invoice.as_str()), |tx| {
            alloc_key(&String::from_utf8_lossy(tx), invoice.as_str())
        })
    }

    fn invoices_of_customer(
        &self,
        company: &CompanyId,
        customer: &CustomerId,
    ) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.indexed(company, &pair_prefix(X_INV_CUST, customer.as_str()), |id| {
            [INV, id].concat()
        })
    }

    fn receipts_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<ReceiptRecord>, StoreError> {
        self.indexed(
            company,
            &pair_prefix(X_RCPT_TX, transaction.as_str()),
            |dedup| [RCPT, dedup].concat(),
        )
    }

    fn audit_by_kind(
        &self,
        company: &CompanyId,
        kinds: &[&str],
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(out);
        };
        // The first `limit` sequence numbers of each kind from `from_seq`, merged.
        let mut seqs: Vec<u64> = Vec::new();
        let mut kinds: Vec<&str> = kinds.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let prefix = pair_prefix(X_AUD_KIND, kind);
            for kv in tree.range(kind_key(kind, from_seq)..).take(limit) {
                let (k, _) = kv?;
                let Some(seq) = k.strip_prefix(prefix.as_slice()).and_then(read_u64) else {
                    break;
                };
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        for seq in seqs.into_iter().take(limit) {
            let k = audit_key(seq);
            match tree.get(&k)? {
                Some(v) => out.push(decode(&k, &v)?),
                None => {
                    return Err(StoreError::Damaged {
                        path: self.path.display().to_string(),
                        detail: format!(
                            "company {company}: the audit index names entry {seq}, which is missing (relance store check)"
                        ),
                    })
                }
            }
        }
        Ok(out)
    }

    fn cursor(&self, company: &CompanyId, source: &str) -> Result<Option<Cursor>, StoreError> {
        self.get(company, &key(CUR, source))
    }

    fn cursors(&self, company: &CompanyId) -> Result<Vec<(String, Cursor)>, StoreError> {
        let mut out = Vec::new();
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(out);
        };
        for kv in tree.scan_prefix(CUR) {
            let (k, v) = kv?;
            let source = String::from_utf8_lossy(&k[CUR.len()..]).into_owned();
            out.push((source, decode(&k, &v)?));
        }
        Ok(out)
    }

    fn seen_file(&self, company: &CompanyId, hash: &str) -> Result<Option<SeenFile>, StoreError> {
        self.get(company, &key(SEEN, hash))
    }

    fn outbox_entry(
        &self,
        company: &CompanyId,
        key_: &IdempotencyKey,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        self.get(company, &key(OBX, key_.as_str()))
    }

    fn outbox(&self, company: &CompanyId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan(company, OBX)
    }

    fn outbox_pending(
        &self,
        company: &CompanyId,
        target: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(out);
        };
        for kv in tree.scan_prefix(OBX_PENDING) {
            let (pk, _) = kv?;
            let mut k = OBX.to_vec();
            k.extend_from_slice(&pk[OBX_PENDING.len()..]);
            if let Some(v) = tree.get(&k)? {
                let e: OutboxEntry = decode(&k, &v)?;
                if e.is_pending() && e.target == target {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    fn dead_letters(&self, company: &CompanyId) -> Result<Vec<DeadLetter>, StoreError> {
        self.scan(company, DEAD)
    }

    fn audit(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(out);
        };
        for kv in tree.range(audit_key(from_seq)..) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            if !k.starts_with(AUD) {
                break;
            }
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    fn provision(
        &self,
        company: &CompanyId,
        closing: NaiveDate,
    ) -> Result<Option<ProvisionState>, StoreError> {
        self.get(company, &key(PROV, &closing.format("%Y-%m-%d").to_string()))
    }

    fn provisions(&self, company: &CompanyId) -> Result<Vec<ProvisionState>, StoreError> {
        self.scan(company, PROV)
    }

    /// Every record decoded, then sled's own invariants: known key prefixes, each pending
    /// index entry with its pending outbox entry, an audit log without gaps.
    fn verify(&self) -> Result<super::VerifyReport, StoreError> {
        let mut report = super::verify_records(self)?;
        let prefixes: [&[u8]; 15] = [
            IBX,
            IBX_KEY,
            IBX_PENDING,
            CUST,
            INV,
            RCPT,
            ALLOC,
            CUR,
            SEEN,
            OBX,
            OBX_PENDING,
            DEAD,
            AUD,
            PROV,
            META,
        ];
        for c in &report.companies {
            let Some(tree) = self.existing_tree(&c.company)? else {
                continue;
            };
            for kv in tree.iter() {
                let (k, _) = kv?;
                if !prefixes.iter().chain(&INDEXES).any(|p| k.starts_with(p)) {
                    report.problems.push(format!(
                        "company {}: key {} has no known prefix",
                        c.company,
                        printable(&k)
                    ));
                }
            }
            for kv in tree.scan_prefix(OBX_PENDING) {
                let (pk, _) = kv?;
                let mut k = OBX.to_vec();
                k.extend_from_slice(&pk[OBX_PENDING.len()..]);
                let pending = match tree.get(&k)? {
                    Some(v) => decode::<OutboxEntry>(&k, &v)?.is_pending(),
                    None => false,
                };
                if !pending {
                    report.problems.push(format!(
                        "company {}: pending index {} without a pending outbox entry",
                        c.company,
                        printable(&pk)
                    ));
                }
            }
            // Every indexed record in its index, and nothing else there.
            let mut indexed = 0u64;
            for prefix in INDEXED {
                for kv in tree.scan_prefix(prefix) {
                    let (k, v) = kv?;
                    match index_key_of(&k, &v) {
                        Ok(Some(x)) => {
                            indexed += 1;
                            if !tree.contains_key(&x)? {
                                report.problems.push(format!(
                                    "company {}: {} is missing from its index",
                                    c.company,
                                    printable(&k)
                                ));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => report.problems.push(format!("company {}: {e}", c.company)),
                    }
                }
            }
            let mut entries = 0u64;
            for prefix in INDEXES {
                entries += tree.scan_prefix(prefix).count() as u64;
            }
            if entries != indexed {
                report.problems.push(format!(
                    "company {}: the indexes hold {entries} entries for {indexed} indexed records",
                    c.company
                ));
            }
            let last = tree.get(AUDIT_SEQ)?.and_then(|v| read_u64(&v)).unwrap_or(0);
            if last != c.audit {
                report.problems.push(format!(
                    "company {}: audit log holds {} entries, its sequence says {last}",
                    c.company, c.audit
                ));
            }
        }
        Ok(report)
    }

    fn seen_files(&self, company: &CompanyId) -> Result<Vec<SeenFile>, StoreError> {
        self.scan(company, SEEN)
    }

    fn inbox_record(
        &self,
        company: &CompanyId,
        item: InboxItem,
    ) -> Result<Option<u64>, StoreError> {
        let tree = self.tree(company)?;
        {
            let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
            let kk = key(IBX_KEY, &item.key);
            if tree.contains_key(&kk)? {
                return Ok(None);
            }
            let seq = tree.get(INBOX_SEQ)?.and_then(|v| read_u64(&v)).unwrap_or(0) + 1;
            let k = seq_key(IBX, seq);
            let entry = InboxEntry {
                seq,
                item,
                done_at: None,
            };
            let mut b = ::sled::Batch::default();
            b.insert(k.clone(), encode(&k, &entry)?);
            b.insert(kk, &seq.to_be_bytes());
            b.insert(seq_key(IBX_PENDING, seq), &[] as &[u8]);
            b.insert(INBOX_SEQ, &seq.to_be_bytes());
            tree.apply_batch(b)?;
            self.db.flush()?;
            Ok(Some(seq))
        }
    }

    fn inbox_by_key(
        &self,
        company: &CompanyId,
        key: &str,
    ) -> Result<Option<InboxEntry>, StoreError> {
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(None);
        };
        let Some(seq) = tree
            .get(self::key(IBX_KEY, key))?
            .and_then(|v| read_u64(&v))
        else {
            return Ok(None);
        };
        let k = seq_key(IBX, seq);
        match tree.get(&k)? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    fn inbox(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
        pending_only: bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let mut out = Vec::new();
        let Some(tree) = self.existing_tree(company)? else {
            return Ok(out);
        };
        let prefix = if pending_only { IBX_PENDING } else { IBX };
        for kv in tree.range(seq_key(prefix, from_seq)..) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            if !k.starts_with(prefix) {
                break;
            }
            if pending_only {
                let Some(seq) = read_u64(&k[prefix.len()..]) else {
                    continue;
                };
                let ek = seq_key(IBX, seq);
                if let Some(v) = tree.get(&ek)? {
                    out.push(decode(&ek, &v)?);
                }
            } else {
                out.push(decode(&k, &v)?);
            }
        }
        Ok(out)
    }

    fn document(&self, namespace: &str, key_: &str) -> Result<Option<Document>, StoreError> {
        let k = doc_key(namespace, key_);
        match self.db.open_tree(DOCS_TREE)?.get(&k)? {
            Some(v) => decode(&k, &v).map(Some),
            None => Ok(None),
        }
    }

    fn documents(&self, namespace: &str) -> Result<Vec<(String, Document)>, StoreError> {
        let prefix = doc_key(namespace, "");
        let mut out = Vec::new();
        for kv in self.db.open_tree(DOCS_TREE)?.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            out.push((name, decode(&k, &v)?));
        }
        Ok(out)
    }

    fn put_document(
        &self,
        namespace: &str,
        key_: &str,
        doc: Option<Document>,
    ) -> Result<(), StoreError> {
        let k = doc_key(namespace, key_);
        let tree = self.db.open_tree(DOCS_TREE)?;
        match doc {
            Some(d) => {
                tree.insert(k.clone(), encode(&k, &d)?)?;
            }
            None => {
                tree.remove(k)?;
            }
        }
        self.db.flush()?;
        Ok(())
    }

    fn purge_documents(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let tree = self.db.open_tree(DOCS_TREE)?;
        let mut n = 0;
        for kv in tree.iter() {
            let (k, v) = kv?;
            let d: Document = decode(&k, &v)?;
            if d.expires_at.is_some_and(|e| e < now) {
                tree.remove(k)?;
                n += 1;
            }
        }
        self.db.flush()?;
        Ok(n)
    }

    fn document_namespaces(&self) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = Vec::new();
        for kv in self.db.open_tree(DOCS_TREE)?.iter() {
            let (k, _) = kv?;
            let ns = k.split(|b| *b == 0).next().unwrap_or(&[]);
            let ns = String::from_utf8_lossy(ns).into_owned();
            if out.last() != Some(&ns) {
                out.push(ns);
            }
        }
        Ok(out)
    }

    fn heartbeat(&self, instance: &str, ttl: std::time::Duration) -> Result<usize, StoreError> {
        Ok(self.leases.heartbeat(instance, ttl))
    }

    fn instance_gone(&self, instance: &str) -> Result<(), StoreError> {
        self.leases.instance_gone(instance);
        Ok(())
    }

    fn lease_claim(
        &self,
        instance: &str,
        candidates: &[CompanyId],
        max: usize,
        ttl: std::time::Duration,
    ) -> Result<Vec<LeaseGrant>, StoreError> {
        Ok(self.leases.claim(instance, candidates, max, ttl))
    }

    fn lease_renew(
        &self,
        instance: &str,
        held: &[(CompanyId, u64)],
        ttl: std::time::Duration,
    ) -> Result<Vec<CompanyId>, StoreError> {
        Ok(self.leases.renew(instance, held, ttl))
    }

    fn lease_release(&self, instance: &str, held: &[(CompanyId, u64)]) -> Result<(), StoreError> {
        // Under the commit lock: a commit that passed its fence check finishes first.
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.leases.release(instance, held);
        Ok(())
    }

    fn lease_check(&self, company: &CompanyId, token: u64) -> Result<bool, StoreError> {
        Ok(self.leases.check(company, token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEvent, OutboxState, ProvisionLine, ProvisionStatus};
    use chrono::{DateTime, TimeZone, Utc};
    use relance_connectors::contract::{RemoteRef, WriteCommand};
    use relance_core::Customer;
    use rust_decimal::Decimal;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
    }

    use crate::store::schema::tests_support::receipt;

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

    fn open() -> (tempfile::TempDir, SledStore, CompanyId) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        (dir, store, CompanyId::new("acme"))
    }

    #[test]
    fn receipts_are_deduplicated_by_key_within_and_across_batches() {
        let (_d, s, c) = open();
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
        let all = s.receipts(&c).unwrap();
        assert_eq!(
            all.iter().map(|r| r.receipt.amount).collect::<Vec<_>>(),
            vec![
                Decimal::new(100, 2),
                Decimal::new(200, 2),
                Decimal::new(300, 2)
            ]
        );
        assert_eq!(
            s.receipt(&c, "b").unwrap().unwrap().receipt.amount,
            Decimal::new(200, 2)
        );
    }

    #[test]
    fn audit_is_append_only_and_ordered_across_commits() {
        let (_d, s, c) = open();
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
        assert_eq!(s.commit(&c, Batch::default()).unwrap().audit_seqs, None);
        let log = s.audit(&c, 0, 10).unwrap();
        assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(log[2].event, ev(3));
        assert_eq!(s.audit(&c, 2, 1).unwrap()[0].seq, 2);
        // Sequences are per company.
        let other = CompanyId::new("other");
        let b = Batch {
            audit: vec![ev(9)],
            ..Batch::default()
        };
        assert_eq!(s.commit(&other, b).unwrap().audit_seqs, Some((1, 1)));
    }

    #[test]
    fn outbox_new_keeps_the_first_entry_and_updates_overwrite() {
        let (_d, s, c) = open();
        let cmd = WriteCommand::AddNote {
            target_kind: "invoice".into(),
            target: "F1".into(),
            text: "x".into(),
        };
        let e = OutboxEntry::new(IdempotencyKey("k".into()), "tryton", cmd.clone(), at());
        let mut b = Batch::default();
        b.outbox_new.push(e.clone());
        assert_eq!(s.commit(&c, b).unwrap().outbox_added, 1);
        let mut done = e.clone();
        done.state = OutboxState::Done {
            at: at(),
            remote_ref: RemoteRef("r".into()),
            found_applied: false,
        };
        let mut b = Batch::default();
        b.outbox_updates.push(done.clone());
        s.commit(&c, b).unwrap();
        assert!(s.outbox_pending(&c, "tryton").unwrap().is_empty());
        // The same decision planned again does not reset the done entry.
        let mut b = Batch::default();
        b.outbox_new.push(e);
        assert_eq!(s.commit(&c, b).unwrap().outbox_existing, 1);
        assert_eq!(s.outbox(&c).unwrap(), vec![done]);
    }

    #[test]
    fn everything_else_round_trips() {
        let (dir, s, c) = open();
        let mut b = Batch::default();
        b.customers.push(CustomerRecord {
            source: "tryton".into(),
            customer: Customer::new("C1", "Client"),
        });
        b.cursors.push(("bank".into(), Cursor("p1".into())));
        b.cursors.push(("tryton".into(), Cursor("t1".into())));
        b.seen_files.push(SeenFile {
            hash: "ab".into(),
            name: "x.xml".into(),
            source: "bank".into(),
            seen_at: at(),
        });
        b.allocations.push(AllocationRecord {
            transaction: "T1".into(),
            invoice: "F1".into(),
            amount: Decimal::new(12000, 2),
            auto: true,
            reason: "R1 exact reference".into(),
            evidence: serde_json::json!({ "ref": "F1" }),
            decided_at: at(),
        });
        b.dead_letters.push(DeadLetter {
            key: "f".into(),
            origin: "sync:bank".into(),
            reason: "bad".into(),
            payload: serde_json::Value::Null,
            at: at(),
        });
        let closing = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
        let prov = ProvisionState {
            closing,
            status: ProvisionStatus::Computed,
            lines: vec![ProvisionLine {
                invoice: "F1".into(),
                customer: "C1".into(),
                base: Decimal::new(10000, 2),
                rate: Decimal::new(5, 1),
                amount: Decimal::new(5000, 2),
                reclassified_416: true,
                rule: "P2 50%".into(),
            }],
            move_keys: vec![],
            updated_at: at(),
        };
        b.provisions.push(prov.clone());
        s.commit(&c, b).unwrap();
        drop(s);
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.companies().unwrap(), vec![c.clone()]);
        assert_eq!(
            s.customer(&c, &"C1".into()).unwrap().unwrap().customer.name,
            "Client"
        );
        assert_eq!(s.cursor(&c, "bank").unwrap(), Some(Cursor("p1".into())));
        assert_eq!(s.cursors(&c).unwrap().len(), 2);
        assert_eq!(s.seen_file(&c, "ab").unwrap().unwrap().name, "x.xml");
        assert!(s.seen_file(&c, "cd").unwrap().is_none());
        assert_eq!(s.allocations(&c).unwrap()[0].amount, Decimal::new(12000, 2));
        assert_eq!(s.dead_letters(&c).unwrap().len(), 1);
        assert_eq!(s.provision(&c, closing).unwrap(), Some(prov));
        assert_eq!(s.provisions(&c).unwrap().len(), 1);
        let mut b = Batch::default();
        b.removed_allocations.push(("T1".into(), "F1".into()));
        s.commit(&c, b).unwrap();
        assert!(s.allocations(&c).unwrap().is_empty());
    }

    #[test]
    fn reading_an_unknown_company_creates_nothing() {
        let (_d, s, _c) = open();
        let ghost = CompanyId::new("ghost");
        assert!(s.invoices(&ghost).unwrap().is_empty());
        assert!(s.cursor(&ghost, "x").unwrap().is_none());
        assert!(s.outbox_pending(&ghost, "t").unwrap().is_empty());
        assert!(s.audit(&ghost, 0, 10).unwrap().is_empty());
        assert!(!s.db.tree_names().iter().any(|n| n.starts_with(b"co/")));
        assert!(s.companies().unwrap().is_empty());
    }

    #[test]
    fn a_store_open_elsewhere_is_reported_locked() {
        let (dir, _s, _c) = open();
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }

    #[test]
    fn invoices_are_upserted_and_removed() {
        let (_d, s, c) = open();
        let mut inv = crate::store::schema::tests_support::invoice("F1");
        let mut b = Batch::default();
        b.invoices.push(InvoiceRecord {
            source: "t".into(),
            content_hash: "h1".into(),
            invoice: inv.clone(),
        });
        s.commit(&c, b).unwrap();
        inv.amount_due = Decimal::ZERO;
        let mut b = Batch::default();
        b.invoices.push(InvoiceRecord {
            source: "t".into(),
            content_hash: "h2".into(),
            invoice: inv.clone(),
        });
        s.commit(&c, b).unwrap();
        let got = s.invoices(&c).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].content_hash.as_str(), got[0].invoice.amount_due),
            ("h2", Decimal::ZERO)
        );
        let mut b = Batch::default();
        b.removed_invoices.push("F1".into());
        s.commit(&c, b).unwrap();
        assert!(s.invoice(&c, &"F1".into()).unwrap().is_none());
    }

    fn filled(dir: &Path) {
        let s = SledStore::open(dir).unwrap();
        let c = CompanyId::new("acme");
        for k in 0..40 {
            let mut b = Batch::default();
            for i in 0..100 {
                b.cursors
                    .push((format!("s{k}-{i}"), Cursor("y".repeat(1000))));
            }
            b.audit.push(ev(k));
            s.commit(&c, b).unwrap();
        }
        let report = s.verify().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.companies[0].cursors, 4000);
        assert_eq!(report.companies[0].audit, 40);
    }

    /// A copy of `from` whose `db` file is cut to `keep` bytes.
    fn truncated_copy(from: &Path, keep: u64) -> tempfile::TempDir {
        let to = tempfile::tempdir().unwrap();
        let mut stack = vec![(from.to_owned(), to.path().to_owned())];
        while let Some((a, b)) = stack.pop() {
            std::fs::create_dir_all(&b).unwrap();
            for e in std::fs::read_dir(&a).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push((e.path(), b.join(e.file_name())));
                } else {
                    std::fs::copy(e.path(), b.join(e.file_name())).unwrap();
                }
            }
        }
        let db = to.path().join("db");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .unwrap()
            .set_len(keep)
            .unwrap();
        to
    }

    #[test]
    fn a_truncated_store_is_refused_with_its_path_never_opened_empty() {
        let dir = tempfile::tempdir().unwrap();
        filled(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(200)); // sled releases its lock
        let len = std::fs::metadata(dir.path().join("db")).unwrap().len();
        for keep in [0, 100, len / 4, len / 2, len * 3 / 4] {
            let copy = truncated_copy(dir.path(), keep);
            match SledStore::open(copy.path()) {
                Err(e @ StoreError::Damaged { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(&copy.path().display().to_string()), "{text}");
                    assert!(text.contains("restore"), "{text}");
                }
                Err(other) => panic!("cut at {keep}/{len}: {other}"),
                Ok(s) => panic!(
                    "cut at {keep}/{len}: opened, with {} cursors of 4000",
                    s.cursors(&CompanyId::new("acme")).unwrap().len()
                ),
            }
        }
        // The intact store opens and verifies.
        let s = SledStore::open(dir.path()).unwrap();
        assert!(s.verify().unwrap().problems.is_empty());
    }
}
