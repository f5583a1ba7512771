//! The store: everything relance knows per company, committed in atomic, flushed batches.
//!
//! One [`Batch`] carries the records pulled from a source *and* the source's cursor, the
//! seen-file hashes, the audit entries of the decisions taken and the outbox entries of the
//! remote effects to make. [`Store::commit`] applies the whole batch atomically (all or nothing,
//! also across a crash) and flushes it to disk before it returns, so a cursor never runs ahead of
//! its data (architecture invariant 6) and an outbox entry exists on disk before its remote call
//! (invariant 5).
//!
//! Records ([`InvoiceRecord`], [`OutboxEntry`], ...) are the store's own types; they embed the
//! core and connector types (`Invoice`, `WriteCommand`) rather than copy them field by field.
//! The envelope version is what protects them: a change to an embedded type that alters its
//! JSON shape must bump [`schema::SCHEMA_VERSION`] and add a migration that reads the old
//! shape (a frozen copy of the old type) and writes the new one.
//!
//! Records are stored as versioned JSON envelopes (`{"v":2,"body":…}`, invariant 7); a store
//! written by an older schema is migrated when opened ([`schema`]), one written by a newer one
//! is refused, never misread. Two backends implement the [`Store`] trait: [`sled::SledStore`]
//! (sled 0.34, embedded, the default: one process per store directory) and
//! [`postgres::PgStore`] (PostgreSQL, for several instances on several machines, each
//! company leased by one instance at a time: see [`lease`]).
//!
//! Beyond the company records, the store holds what instances share: leases (who runs which
//! company, with the fencing token every write carries), an inbox of decisions per company
//! (recorded by any instance, applied by the company's lease owner), and documents that belong
//! to no company (operator sessions, users).
//!
//! ```ignore
//! let store = SledStore::open(Path::new("/var/lib/relance/store"))?;
//! let mut batch = Batch::default();
//! batch.receipts.push(receipt_record);
//! batch.cursors.push(("bank".into(), Cursor("2026-03-01".into())));
//! store.commit(&CompanyId::new("acme"), batch)?; // atomic and flushed
//! ```

pub mod lease;
pub mod migrate;
pub mod postgres;
pub mod schema;
pub mod sled;

use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::{Cursor, IdempotencyKey, Page, Record, RemoteRef, WriteCommand};
use relance_core::{CompanyId, Customer, CustomerId, Invoice, InvoiceId, Receipt, TransactionId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use self::lease::{FencedStore, LeaseGrant};
pub use self::postgres::PgStore;
pub use self::sled::SledStore;

/// The store as the daemon, the pipeline and the commands hold it: any backend behind the
/// [`Store`] trait, shared between tasks. Cheap to clone.
pub type SharedStore = std::sync::Arc<dyn Store>;

/// Which backend a configuration asks for (`store = { type = … }` in `relance.toml`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The embedded sled store in `<state_dir>/store` (the default).
    #[default]
    Sled,
    /// A PostgreSQL database shared by every instance.
    Postgres(postgres::PgConfig),
}

impl Backend {
    /// The backend of a validated configuration, its secrets read now (the URL file, the
    /// password file). Errors name the file, never its content.
    pub fn from_settings(s: &crate::config::StoreSettings) -> Result<Self, StoreError> {
        use crate::config::secrets;
        match s {
            crate::config::StoreSettings::Sled => Ok(Backend::Sled),
            crate::config::StoreSettings::Postgres {
                url_file,
                password_file,
                pool_size,
                ..
            } => {
                let url = secrets::read(url_file)
                    .map_err(|e| StoreError::Postgres(format!("store url_file: {e}")))?;
                let password =
                    match password_file {
                        Some(p) => Some(secrets::read(p).map_err(|e| {
                            StoreError::Postgres(format!("store password_file: {e}"))
                        })?),
                        None => None,
                    };
                let mut cfg =
                    postgres::PgConfig::new(url.expose(), password.as_ref().map(|p| p.expose()))?;
                cfg.pool_size = *pool_size;
                Ok(Backend::Postgres(cfg))
            }
        }
    }

    /// `sled` or `postgres user@host:port/db`, for logs.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sled => "sled".to_owned(),
            Backend::Postgres(c) => format!("postgres {}", c.describe()),
        }
    }
}

/// Opens the store of a state directory (`<state_dir>/store`, the embedded sled backend),
/// creating the directory when missing.
pub fn open_shared(state_dir: &std::path::Path) -> Result<SharedStore, StoreError> {
    open_backend(&Backend::Sled, state_dir)
}

/// Opens the store a configuration names: sled under `state_dir`, or PostgreSQL (migrated to
/// this build's schema first). The one place that chooses a backend.
pub fn open_backend(
    backend: &Backend,
    state_dir: &std::path::Path,
) -> Result<SharedStore, StoreError> {
    match backend {
        Backend::Sled => {
            std::fs::create_dir_all(state_dir).map_err(|e| StoreError::Io {
                path: state_dir.display().to_string(),
                message: e.to_string(),
            })?;
            Ok(std::sync::Arc::new(SledStore::open(
                &state_dir.join("store"),
            )?))
        }
        Backend::Postgres(cfg) => Ok(std::sync::Arc::new(PgStore::open(cfg)?)),
    }
}

/// What can go wrong reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying database failed (IO, corruption reported by sled).
    #[error("store database error: {0}")]
    Db(#[from] ::sled::Error),
    /// The store's files are damaged (truncated, overwritten, partly restored): opening it
    /// would lose committed data or crash.
    #[error("store at {path} is damaged: {detail}. Stop relance, restore the state directory from your last backup (README: \"Backup and restore\"), then run `relance store check`")]
    Damaged {
        /// The store directory.
        path: String,
        /// What was found.
        detail: String,
    },
    /// PostgreSQL failed or cannot be reached (the message never holds the password).
    #[error("PostgreSQL store: {0}")]
    Postgres(String),
    /// A write or delivery under a lease this instance no longer holds: another instance
    /// runs the company now (or nobody does and the lease has run out). Nothing was written.
    #[error("company {company}: lease token {token} is no longer valid; write refused (fenced)")]
    Fenced {
        /// The company.
        company: String,
        /// The token the write carried.
        token: u64,
    },
    /// Another process (or a store not yet released in this one) holds the directory lock.
    #[error("store at {path} is locked by another process (is another relance running?)")]
    Locked {
        /// The store directory.
        path: String,
    },
    /// A record could not be encoded or decoded.
    #[error("store record {key}: {source}")]
    Codec {
        /// The record's key, printable.
        key: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A record carries a version this build does not read (it would be misread).
    #[error("store record {key}: record version {found}, expected {expected}")]
    RecordVersion {
        /// The record's key, printable.
        key: String,
        /// Version found in the record.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The store was written by a newer relance (schema version above this build's).
    #[error(
        "store schema version {found} is newer than this build's {supported}: upgrade relance"
    )]
    NewerSchema {
        /// Version found on disk.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },
    /// The store holds data but no schema version: it is not a relance store, or is damaged.
    #[error("store at {path} holds data without a schema version: refusing to guess its layout")]
    UnknownSchema {
        /// The store directory.
        path: String,
    },
    /// A migration step failed.
    #[error("store migration from schema {from} to {to} failed at {key}: {reason}")]
    Migration {
        /// Version migrated from.
        from: u32,
        /// Version migrated to.
        to: u32,
        /// Key being migrated.
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// The blocking task running a store operation panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
    /// The target of `relance store migrate` already holds data.
    #[error("the target store already holds data for {0} (use --overwrite to replace it)")]
    TargetNotEmpty(String),
    /// The store's directory cannot be created or read.
    #[error("store directory {path}: {message}")]
    Io {
        /// The directory.
        path: String,
        /// The IO error.
        message: String,
    },
}

/// A customer as stored, with the source it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// Name of the source (connector) that gave it.
    pub source: String,
    /// The customer.
    pub customer: Customer,
}

/// An invoice or credit note as stored; upserted by its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceRecord {
    /// Name of the source (connector) that gave it.
    pub source: String,
    /// Hash of the source content it was built from (detects changes on re-pull).
    pub content_hash: String,
    /// The invoice.
    pub invoice: Invoice,
}

/// A bank receipt as stored, deduplicated by `dedup_key`: a second receipt with the same key
/// (an overlapping statement imported twice) adds nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// The caller's deduplication key (e.g. account + bank id + booking date + amount).
    pub dedup_key: String,
    /// Name of the source (connector) that gave it.
    pub source: String,
    /// The receipt.
    pub receipt: Receipt,
}

/// One allocation of a receipt to an invoice, with the evidence behind the decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationRecord {
    /// The bank's transaction id.
    pub transaction: TransactionId,
    /// The invoice (or credit note, with a negative amount).
    pub invoice: InvoiceId,
    /// Amount allocated.
    pub amount: Decimal,
    /// True when relance applies it without a person.
    pub auto: bool,
    /// Why (rule id and summary).
    pub reason: String,
    /// The evidence (matched references, scores…), as the reconcile engine gave it.
    pub evidence: serde_json::Value,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
}

/// A file already imported, by content hash, so a second import of it is skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenFile {
    /// Hash of the file's bytes (hex SHA-256).
    pub hash: String,
    /// File name when seen.
    pub name: String,
    /// Source that imported it.
    pub source: String,
    /// When it was imported.
    pub seen_at: DateTime<Utc>,
}

/// Where an outbox entry stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutboxState {
    /// Not yet known to be applied; delivered at or after `next_attempt_at`.
    Pending,
    /// Applied at the remote.
    Done {
        /// When relance learnt it was applied.
        at: DateTime<Utc>,
        /// The remote's reference of the effect.
        remote_ref: RemoteRef,
        /// True when `find_applied` found it already applied (a retry after a crash).
        found_applied: bool,
    },
    /// Will not be applied: a permanent error or too many attempts.
    Dead {
        /// When it was given up.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
}

/// A remote effect to make, recorded (committed and flushed) before any remote call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Deterministic key: the same decision always gives the same key.
    pub key: IdempotencyKey,
    /// Name of the write-back connector that applies it.
    pub target: String,
    /// The effect.
    pub command: WriteCommand,
    /// Remote calls attempted so far (find_applied + apply count as one attempt).
    pub attempts: u32,
    /// Not to be attempted before this instant.
    pub next_attempt_at: DateTime<Utc>,
    /// When the entry was recorded.
    pub created_at: DateTime<Utc>,
    /// The last error, if any, for explanations.
    pub last_error: Option<String>,
    /// Pending, done or dead.
    pub state: OutboxState,
}

impl OutboxEntry {
    /// A new pending entry, due at once.
    pub fn new(
        key: IdempotencyKey,
        target: impl Into<String>,
        command: WriteCommand,
        now: DateTime<Utc>,
    ) -> Self {
        OutboxEntry {
            key,
            target: target.into(),
            command,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            last_error: None,
            state: OutboxState::Pending,
        }
    }

    /// True while the entry still has to be delivered.
    pub fn is_pending(&self) -> bool {
        matches!(self.state, OutboxState::Pending)
    }
}

/// Something relance gave up on, kept with the reason for a person to look at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Unique key (the outbox key, or a file hash, ...).
    pub key: String,
    /// Where it comes from: "outbox", "sync:<source>", ...
    pub origin: String,
    /// Why it was given up (error classification and message).
    pub reason: String,
    /// The item itself.
    pub payload: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// One decision to log (a match, a reminder, a provision, a delivery, a cursor move...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it was decided (passed in, never read from the clock here).
    pub at: DateTime<Utc>,
    /// Kind of decision, e.g. "reconcile.match", "dunning.plan", "outbox.done".
    pub kind: String,
    /// What it concerns (invoice id, transaction id, idempotency key...).
    pub subject: String,
    /// One-line summary.
    pub summary: String,
    /// The explanation: rule id, evidence, rate table row.
    pub explanation: serde_json::Value,
}

/// An audit event as stored, with its position in the company's append-only log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log: 1, 2, 3... without gaps, in commit order.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
}

/// How far the doubtful-debt provision of one closing has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionStatus {
    /// Computed, not posted (dry run or waiting for approval).
    Computed,
    /// Its moves are in the outbox.
    Queued,
    /// Its moves are applied in the system of record.
    Posted,
}

/// One invoice's provision at a closing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvisionLine {
    /// The invoice.
    pub invoice: InvoiceId,
    /// Its customer.
    pub customer: CustomerId,
    /// Amount without VAT the provision is based on.
    pub base: Decimal,
    /// Rate applied (0..=1), from the named rate table row.
    pub rate: Decimal,
    /// Provision amount (account 491 balance for this invoice).
    pub amount: Decimal,
    /// True when the receivable was reclassified to 416.
    pub reclassified_416: bool,
    /// Rate table row or rule that gave the rate.
    pub rule: String,
}

/// The provision state of one closing date, so the next closing can compute reversals (78174).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvisionState {
    /// The closing date.
    pub closing: NaiveDate,
    /// Computed, queued or posted.
    pub status: ProvisionStatus,
    /// Per-invoice lines.
    pub lines: Vec<ProvisionLine>,
    /// Outbox keys of the moves posted for this closing.
    pub move_keys: Vec<IdempotencyKey>,
    /// When this state was recorded.
    pub updated_at: DateTime<Utc>,
}

/// Audit kind of an e-invoicing lifecycle status reported by a source
/// ([`Record::Lifecycle`]): subject the invoice id, explanation the status as reported. Each
/// report is kept (a status seen again is logged again); its readers deduplicate on
/// `(invoice, platform, status)`.
pub const AUDIT_LIFECYCLE: &str = "einvoicing.status";

/// Everything one commit applies for one company, atomically.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Customers to upsert by id.
    pub customers: Vec<CustomerRecord>,
    /// Invoices to upsert by id.
    pub invoices: Vec<InvoiceRecord>,
    /// Invoices the source no longer has (removed from the store).
    pub removed_invoices: Vec<InvoiceId>,
    /// Receipts to insert unless their dedup key is already stored.
    pub receipts: Vec<ReceiptRecord>,
    /// Allocations to upsert by (transaction, invoice).
    pub allocations: Vec<AllocationRecord>,
    /// Allocations to remove, by (transaction, invoice) (e.g. a returned payment).
    pub removed_allocations: Vec<(TransactionId, InvoiceId)>,
    /// Cursors to set, by source name: committed with the data they cover.
    pub cursors: Vec<(String, Cursor)>,
    /// Files imported by this batch.
    pub seen_files: Vec<SeenFile>,
    /// New outbox entries: inserted unless an entry with the same key exists (a decision
    /// planned again keeps its first entry and its state).
    pub outbox_new: Vec<OutboxEntry>,
    /// Outbox entries to overwrite (delivery progress).
    pub outbox_updates: Vec<OutboxEntry>,
    /// Dead letters to record (upsert by key).
    pub dead_letters: Vec<DeadLetter>,
    /// Decisions to append to the audit log, in order.
    pub audit: Vec<AuditEvent>,
    /// Provision states to upsert by closing date.
    pub provisions: Vec<ProvisionState>,
    /// Inbox entries (decisions) this batch applied, by sequence number, with the instant:
    /// marked done in the same transaction as their effects.
    pub inbox_done: Vec<(u64, DateTime<Utc>)>,
    /// The lease token this batch is written under. With a token, the commit is refused
    /// ([`StoreError::Fenced`]) unless the company's lease still holds exactly this token and
    /// has not run out, checked in the same transaction as the writes. `None`: an unleased
    /// write (commands run while no daemon runs, tests, `store migrate`).
    pub fence: Option<u64>,
}

/// A decision (or any input for a company) recorded by whichever instance received it, to
/// be applied by the instance that holds the company's lease, at its next cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The client's idempotency key: the same key twice records one entry.
    pub key: String,
    /// What it is, e.g. "decision.confirm_match"; the consumer dispatches on it.
    pub kind: String,
    /// When it was received (an input, never read from the clock here).
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it (user, token name, instance), for the audit log.
    pub actor: String,
    /// The decision itself.
    pub body: serde_json::Value,
}

/// An inbox item as stored, with its position in the company's inbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Position: 1, 2, 3... per company, in recording order.
    pub seq: u64,
    /// The item.
    pub item: InboxItem,
    /// When a cycle applied it (`None` while pending).
    pub done_at: Option<DateTime<Utc>>,
}

/// A record shared by every instance that belongs to no company (an operator session, a
/// user, an API token), under a namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The record.
    pub value: serde_json::Value,
    /// After this instant it may be purged ([`Store::purge_documents`]); readers check it.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Hex SHA-256 of a record's JSON: tells a changed record from a re-pulled unchanged one.
pub fn content_hash<T: Serialize>(value: &T) -> String {
    // Serialising plain data types to JSON cannot fail (no maps with non-string keys, no
    // fallible Serialize impls); an empty hash would only make the record look changed.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl Batch {
    /// Adds a page pulled from `source`: its records and, when it has one, its next cursor,
    /// so both are committed together (a cursor advances only with its data). Receipts are
    /// keyed as the bank formats define it: the bank's id when it gave one, else the booking
    /// content, with the occurrence of that basis in the page (two identical payments on one
    /// day stay two receipts; the same statement imported twice adds nothing). A quarantined
    /// file becomes a dead letter and an audit entry with its reason.
    pub fn add_page(&mut self, source: &str, page: &Page, at: DateTime<Utc>) {
        let mut occurrences: std::collections::HashMap<String, usize> = Default::default();
        for record in &page.records {
            match record {
                Record::Customer(c) => self.customers.push(CustomerRecord {
                    source: source.to_owned(),
                    customer: c.clone(),
                }),
                Record::Invoice(i) => self.invoices.push(InvoiceRecord {
                    source: source.to_owned(),
                    content_hash: content_hash(i),
                    invoice: i.clone(),
                }),
                Record::Receipt(r) => {
                    // Ids relance derived itself (the bank gave none) start with RLC-.
                    let basis = relance_connectors::formats::bank::key_basis(
                        r,
                        !r.id.as_str().starts_with("RLC-"),
                    );
                    let n = occurrences.entry(basis.clone()).or_insert(0);
                    *n += 1;
                    self.receipts.push(ReceiptRecord {
                        dedup_key: relance_connectors::formats::bank::dedup_key(&basis, *n),
                        source: source.to_owned(),
                        receipt: r.clone(),
                    })
                }
                Record::BankEntry { key, receipt } => self.receipts.push(ReceiptRecord {
                    dedup_key: key.clone(),
                    source: source.to_owned(),
                    receipt: receipt.clone(),
                }),
                Record::InvoiceRemoved { id } => self.removed_invoices.push(id.clone()),
                Record::Lifecycle(l) => self.audit.push(AuditEvent {
                    at,
                    kind: AUDIT_LIFECYCLE.to_owned(),
                    subject: l.invoice.to_string(),
                    summary: format!(
                        "{} reports invoice {} {}{}",
                        l.platform,
                        l.invoice,
                        l.status,
                        l.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                    explanation: serde_json::to_value(l).unwrap_or_default(),
                }),
                Record::Quarantined { file, reason } => {
                    self.dead_letters.push(DeadLetter {
                        key: format!("quarantine:{source}:{file}"),
                        origin: format!("sync:{source}"),
                        reason: reason.clone(),
                        payload: serde_json::json!({ "file": file }),
                        at,
                    });
                    self.audit.push(AuditEvent {
                        at,
                        kind: "sync.quarantine".to_owned(),
                        subject: file.clone(),
                        summary: format!("file quarantined by {source}: {reason}"),
                        explanation: serde_json::json!({ "source": source, "reason": reason }),
                    });
                }
            }
        }
        if let Some(next) = &page.next {
            self.cursors.push((source.to_owned(), next.clone()));
        }
        for f in &page.imported {
            self.seen_files.push(SeenFile {
                hash: f.hash.clone(),
                name: f.name.clone(),
                source: source.to_owned(),
                seen_at: at,
            });
        }
    }

    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
            && self.invoices.is_empty()
            && self.removed_invoices.is_empty()
            && self.receipts.is_empty()
            && self.allocations.is_empty()
            && self.removed_allocations.is_empty()
            && self.cursors.is_empty()
            && self.seen_files.is_empty()
            && self.outbox_new.is_empty()
            && self.outbox_updates.is_empty()
            && self.dead_letters.is_empty()
            && self.audit.is_empty()
            && self.provisions.is_empty()
            && self.inbox_done.is_empty()
    }
}

/// What a commit did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Receipts stored.
    pub receipts_added: usize,
    /// Receipts skipped because their dedup key was already stored (or repeated in the batch).
    pub receipts_duplicate: usize,
    /// New outbox entries stored.
    pub outbox_added: usize,
    /// New outbox entries skipped because their key already had an entry.
    pub outbox_existing: usize,
    /// Sequence numbers given to this batch's audit events (first, last), if any.
    pub audit_seqs: Option<(u64, u64)>,
}

/// The store of every company's data. Implementations must apply a [`Batch`] atomically
/// (all of it or none of it, also across a crash) and durably (flushed) before
/// [`Store::commit`] returns.
///
/// Object-safe: the daemon holds a [`SharedStore`] (`Arc<dyn Store>`), so another backend
/// (PostgreSQL) plugs in without touching the pipeline, the outbox or the commands. Every call
/// may block on disk or network: async callers run it in `spawn_blocking`.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Applies `batch` for `company` atomically and flushes it to disk.
    fn commit(&self, company: &CompanyId, batch: Batch) -> Result<CommitOutcome, StoreError>;
    /// Flushes anything not yet on disk (commit already does; for shutdown).
    fn flush(&self) -> Result<(), StoreError>;

    /// Companies with data in the store.
    fn companies(&self) -> Result<Vec<CompanyId>, StoreError>;
    /// A customer by id.
    fn customer(
        &self,
        company: &CompanyId,
        id: &CustomerId,
    ) -> Result<Option<CustomerRecord>, StoreError>;
    /// All customers, ordered by id.
    fn customers(&self, company: &CompanyId) -> Result<Vec<CustomerRecord>, StoreError>;
    /// An invoice by id.
    fn invoice(
        &self,
        company: &CompanyId,
        id: &InvoiceId,
    ) -> Result<Option<InvoiceRecord>, StoreError>;
    /// All invoices, ordered by id.
    fn invoices(&self, company: &CompanyId) -> Result<Vec<InvoiceRecord>, StoreError>;
    /// A receipt by dedup key.
    fn receipt(
        &self,
        company: &CompanyId,
        dedup_key: &str,
    ) -> Result<Option<ReceiptRecord>, StoreError>;
    /// All receipts, ordered by dedup key.
    fn receipts(&self, company: &CompanyId) -> Result<Vec<ReceiptRecord>, StoreError>;
    /// All allocations, ordered by (transaction, invoice).
    fn allocations(&self, company: &CompanyId) -> Result<Vec<AllocationRecord>, StoreError>;
    /// The committed cursor of a source.
    fn cursor(&self, company: &CompanyId, source: &str) -> Result<Option<Cursor>, StoreError>;
    /// Every source's cursor, ordered by source name.
    fn cursors(&self, company: &CompanyId) -> Result<Vec<(String, Cursor)>, StoreError>;
    /// The file with this content hash, if already imported.
    fn seen_file(&self, company: &CompanyId, hash: &str) -> Result<Option<SeenFile>, StoreError>;
    /// An outbox entry by key.
    fn outbox_entry(
        &self,
        company: &CompanyId,
        key: &IdempotencyKey,
    ) -> Result<Option<OutboxEntry>, StoreError>;
    /// All outbox entries (any state), ordered by key.
    fn outbox(&self, company: &CompanyId) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Pending outbox entries for `target`, ordered by key.
    fn outbox_pending(
        &self,
        company: &CompanyId,
        target: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// All dead letters, ordered by key.
    fn dead_letters(&self, company: &CompanyId) -> Result<Vec<DeadLetter>, StoreError>;
    /// Up to `limit` audit entries with `seq >= from_seq`, in order.
    fn audit(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// The receipts carrying this bank transaction id (usually one; the same id in two
    /// accounts' statements gives two). The default scans [`Store::receipts`].
    fn receipts_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<ReceiptRecord>, StoreError> {
        let mut v = self.receipts(company)?;
        v.retain(|r| &r.receipt.id == transaction);
        Ok(v)
    }
    /// The allocations of one receipt, ordered by invoice. The default scans
    /// [`Store::allocations`].
    fn allocations_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        let mut v = self.allocations(company)?;
        v.retain(|a| &a.transaction == transaction);
        Ok(v)
    }
    /// The allocations to one invoice, ordered by transaction. The default scans
    /// [`Store::allocations`].
    fn allocations_of_invoice(
        &self,
        company: &CompanyId,
        invoice: &InvoiceId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        let mut v = self.allocations(company)?;
        v.retain(|a| &a.invoice == invoice);
        Ok(v)
    }
    /// The invoices and credit notes of one customer, ordered by id. The default scans
    /// [`Store::invoices`].
    fn invoices_of_customer(
        &self,
        company: &CompanyId,
        customer: &CustomerId,
    ) -> Result<Vec<InvoiceRecord>, StoreError> {
        let mut v = self.invoices(company)?;
        v.retain(|i| &i.invoice.customer == customer);
        Ok(v)
    }
    /// Up to `limit` audit entries with `seq >= from_seq` whose kind is one of `kinds`, in
    /// order. The default pages through [`Store::audit`]; a backend with an index on the kind
    /// answers from it.
    fn audit_by_kind(
        &self,
        company: &CompanyId,
        kinds: &[&str],
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        let mut from = from_seq;
        while out.len() < limit {
            let page = self.audit(company, from, 10_000)?;
            let Some(last) = page.last().map(|e| e.seq) else {
                break;
            };
            out.extend(
                page.into_iter()
                    .filter(|e| kinds.contains(&e.event.kind.as_str()))
                    .take(limit - out.len()),
            );
            from = last + 1;
        }
        Ok(out)
    }
    /// The provision state of a closing date.
    fn provision(
        &self,
        company: &CompanyId,
        closing: NaiveDate,
    ) -> Result<Option<ProvisionState>, StoreError>;
    /// All provision states, ordered by closing date.
    fn provisions(&self, company: &CompanyId) -> Result<Vec<ProvisionState>, StoreError>;
    /// Every imported file, ordered by hash.
    fn seen_files(&self, company: &CompanyId) -> Result<Vec<SeenFile>, StoreError>;

    /// Records an inbox item for `company` unless one with the same key exists; returns its
    /// sequence number when it is new. Any instance may record (no lease needed): the lease
    /// owner applies it at its next cycle and marks it done in that cycle's batch
    /// ([`Batch::inbox_done`]).
    fn inbox_record(&self, company: &CompanyId, item: InboxItem)
        -> Result<Option<u64>, StoreError>;
    /// Up to `limit` inbox entries with `seq >= from_seq`, in order; only the pending ones
    /// when `pending_only`.
    fn inbox(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
        pending_only: bool,
    ) -> Result<Vec<InboxEntry>, StoreError>;

    /// The inbox entry recorded under `key`, if any. The default scans [`Store::inbox`].
    fn inbox_by_key(
        &self,
        company: &CompanyId,
        key: &str,
    ) -> Result<Option<InboxEntry>, StoreError> {
        Ok(self
            .inbox(company, 0, usize::MAX, false)?
            .into_iter()
            .find(|e| e.item.key == key))
    }

    /// A shared document by namespace and key.
    fn document(&self, namespace: &str, key: &str) -> Result<Option<Document>, StoreError>;
    /// Every document of a namespace, ordered by key.
    fn documents(&self, namespace: &str) -> Result<Vec<(String, Document)>, StoreError>;
    /// Writes (`Some`) or deletes (`None`) a shared document, durably.
    fn put_document(
        &self,
        namespace: &str,
        key: &str,
        doc: Option<Document>,
    ) -> Result<(), StoreError>;
    /// Deletes the documents whose `expires_at` is before `now`; returns how many.
    fn purge_documents(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The namespaces that hold documents, ordered.
    fn document_namespaces(&self) -> Result<Vec<String>, StoreError>;

    /// Says `instance` is alive for `ttl`; returns how many instances are alive (this one
    /// included), so each can take its share of the companies.
    fn heartbeat(&self, instance: &str, ttl: std::time::Duration) -> Result<usize, StoreError>;
    /// Forgets `instance` (a clean stop), so the others count one fewer at once.
    fn instance_gone(&self, instance: &str) -> Result<(), StoreError>;
    /// Leases to `instance`, for `ttl`, up to `max` of the `candidates` that nobody holds or
    /// whose lease ran out, skipping any another instance is claiming at the same moment
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`). Each grant has a new fencing token, larger
    /// than every token the company had before.
    fn lease_claim(
        &self,
        instance: &str,
        candidates: &[CompanyId],
        max: usize,
        ttl: std::time::Duration,
    ) -> Result<Vec<LeaseGrant>, StoreError>;
    /// Extends by `ttl` the leases of `held` (company, token) that `instance` still holds
    /// with that token; returns the companies renewed (the others are lost).
    fn lease_renew(
        &self,
        instance: &str,
        held: &[(CompanyId, u64)],
        ttl: std::time::Duration,
    ) -> Result<Vec<CompanyId>, StoreError>;
    /// Gives up the leases of `held` at once (SIGTERM, or shedding load to a new instance).
    fn lease_release(&self, instance: &str, held: &[(CompanyId, u64)]) -> Result<(), StoreError>;
    /// True while the company's lease holds `token` and has not run out.
    fn lease_check(&self, company: &CompanyId, token: u64) -> Result<bool, StoreError>;
    /// Before a remote call made under a lease: `Err(Fenced)` when the lease is known lost.
    /// A plain store has no lease and allows it; [`FencedStore`] checks its lease.
    fn ensure_lease(&self, _company: &CompanyId) -> Result<(), StoreError> {
        Ok(())
    }

    /// Reads every record of every company back (each decoded, so a damaged or misversioned
    /// record is an error naming its key) and counts them: `relance store check`. A backend
    /// may check more (indexes, sequences) than this default, which only uses the reads above.
    fn verify(&self) -> Result<VerifyReport, StoreError> {
        verify_records(self)
    }
}

/// [`Store::verify`]'s reading part, through the trait's reads alone (any backend).
pub fn verify_records<S: Store + ?Sized>(store: &S) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    for c in store.companies()? {
        let audit = {
            let mut n = 0u64;
            let mut from = 0u64;
            loop {
                let page = store.audit(&c, from, 10_000)?;
                let Some(last) = page.last() else { break };
                from = last.seq + 1;
                n += page.len() as u64;
            }
            n
        };
        report.companies.push(CompanyCounts {
            company: c.clone(),
            customers: store.customers(&c)?.len() as u64,
            invoices: store.invoices(&c)?.len() as u64,
            receipts: store.receipts(&c)?.len() as u64,
            allocations: store.allocations(&c)?.len() as u64,
            cursors: store.cursors(&c)?.len() as u64,
            outbox: store.outbox(&c)?.len() as u64,
            dead_letters: store.dead_letters(&c)?.len() as u64,
            audit,
            provisions: store.provisions(&c)?.len() as u64,
            seen_files: store.seen_files(&c)?.len() as u64,
            inbox: store.inbox(&c, 0, usize::MAX, false)?.len() as u64,
        });
    }
    Ok(report)
}

/// What [`Store::verify`] read, per company.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Record counts of each company with data.
    pub companies: Vec<CompanyCounts>,
    /// Problems found that reading did not turn into an error (index entries without their
    /// record, gaps in the audit sequence...), each naming its key.
    pub problems: Vec<String>,
}

/// Record counts of one company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanyCounts {
    /// The company.
    pub company: CompanyId,
    /// Customers.
    pub customers: u64,
    /// Invoices and credit notes.
    pub invoices: u64,
    /// Bank receipts.
    pub receipts: u64,
    /// Allocations.
    pub allocations: u64,
    /// Source cursors.
    pub cursors: u64,
    /// Outbox entries (any state).
    pub outbox: u64,
    /// Dead letters.
    pub dead_letters: u64,
    /// Audit entries.
    pub audit: u64,
    /// Provision states.
    pub provisions: u64,
    /// Imported files.
    pub seen_files: u64,
    /// Inbox entries (pending or done).
    pub inbox: u64,
}

/// Counts and a content digest of one company's records, read through the [`Store`] trait:
/// two stores holding the same records give the same digest whatever their backend
/// (`relance store migrate` checks the copy with it).
pub fn company_digest(
    store: &dyn Store,
    company: &CompanyId,
) -> Result<(CompanyCounts, String), StoreError> {
    fn feed<T: Serialize>(h: &mut Sha256, tag: &str, items: &[T]) {
        h.update(tag.as_bytes());
        h.update((items.len() as u64).to_be_bytes());
        for i in items {
            let bytes = serde_json::to_vec(i).unwrap_or_default();
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
    }
    let mut h = Sha256::new();
    let customers = store.customers(company)?;
    let invoices = store.invoices(company)?;
    let receipts = store.receipts(company)?;
    let allocations = store.allocations(company)?;
    let cursors = store.cursors(company)?;
    let seen = store.seen_files(company)?;
    let outbox = store.outbox(company)?;
    let dead = store.dead_letters(company)?;
    let provisions = store.provisions(company)?;
    let inbox = store.inbox(company, 0, usize::MAX, false)?;
    feed(&mut h, "customers", &customers);
    feed(&mut h, "invoices", &invoices);
    feed(&mut h, "receipts", &receipts);
    feed(&mut h, "allocations", &allocations);
    feed(&mut h, "cursors", &cursors);
    feed(&mut h, "seen", &seen);
    feed(&mut h, "outbox", &outbox);
    feed(&mut h, "dead", &dead);
    feed(&mut h, "provisions", &provisions);
    feed(&mut h, "inbox", &inbox);
    let mut audit_n = 0u64;
    let mut from = 0u64;
    h.update(b"audit");
    loop {
        let page = store.audit(company, from, 10_000)?;
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        audit_n += page.len() as u64;
        for e in &page {
            let bytes = serde_json::to_vec(e).unwrap_or_default();
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
    }
    let counts = CompanyCounts {
        company: company.clone(),
        customers: customers.len() as u64,
        invoices: invoices.len() as u64,
        receipts: receipts.len() as u64,
        allocations: allocations.len() as u64,
        cursors: cursors.len() as u64,
        outbox: outbox.len() as u64,
        dead_letters: dead.len() as u64,
        audit: audit_n,
        provisions: provisions.len() as u64,
        seen_files: seen.len() as u64,
        inbox: inbox.len() as u64,
    };
    Ok((counts, hex::encode(h.finalize())))
}

/// A shared store is a store (so `Arc<SledStore>` and [`SharedStore`] go wherever a
/// `S: Store` does).
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn commit(&self, company: &CompanyId, batch: Batch) -> Result<CommitOutcome, StoreError> {
        (**self).commit(company, batch)
    }
    fn flush(&self) -> Result<(), StoreError> {
        (**self).flush()
    }
    fn companies(&self) -> Result<Vec<CompanyId>, StoreError> {
        (**self).companies()
    }
    fn customer(
        &self,
        company: &CompanyId,
        id: &CustomerId,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        (**self).customer(company, id)
    }
    fn customers(&self, company: &CompanyId) -> Result<Vec<CustomerRecord>, StoreError> {
        (**self).customers(company)
    }
    fn invoice(
        &self,
        company: &CompanyId,
        id: &InvoiceId,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        (**self).invoice(company, id)
    }
    fn invoices(&self, company: &CompanyId) -> Result<Vec<InvoiceRecord>, StoreError> {
        (**self).invoices(company)
    }
    fn receipt(
        &self,
        company: &CompanyId,
        dedup_key: &str,
    ) -> Result<Option<ReceiptRecord>, StoreError> {
        (**self).receipt(company, dedup_key)
    }
    fn receipts(&self, company: &CompanyId) -> Result<Vec<ReceiptRecord>, StoreError> {
        (**self).receipts(company)
    }
    fn allocations(&self, company: &CompanyId) -> Result<Vec<AllocationRecord>, StoreError> {
        (**self).allocations(company)
    }
    fn cursor(&self, company: &CompanyId, source: &str) -> Result<Option<Cursor>, StoreError> {
        (**self).cursor(company, source)
    }
    fn cursors(&self, company: &CompanyId) -> Result<Vec<(String, Cursor)>, StoreError> {
        (**self).cursors(company)
    }
    fn seen_file(&self, company: &CompanyId, hash: &str) -> Result<Option<SeenFile>, StoreError> {
        (**self).seen_file(company, hash)
    }
    fn outbox_entry(
        &self,
        company: &CompanyId,
        key: &IdempotencyKey,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        (**self).outbox_entry(company, key)
    }
    fn outbox(&self, company: &CompanyId) -> Result<Vec<OutboxEntry>, StoreError> {
        (**self).outbox(company)
    }
    fn outbox_pending(
        &self,
        company: &CompanyId,
        target: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        (**self).outbox_pending(company, target)
    }
    fn dead_letters(&self, company: &CompanyId) -> Result<Vec<DeadLetter>, StoreError> {
        (**self).dead_letters(company)
    }
    fn audit(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        (**self).audit(company, from_seq, limit)
    }
    fn receipts_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<ReceiptRecord>, StoreError> {
        (**self).receipts_of_transaction(company, transaction)
    }
    fn allocations_of_transaction(
        &self,
        company: &CompanyId,
        transaction: &TransactionId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        (**self).allocations_of_transaction(company, transaction)
    }
    fn allocations_of_invoice(
        &self,
        company: &CompanyId,
        invoice: &InvoiceId,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        (**self).allocations_of_invoice(company, invoice)
    }
    fn invoices_of_customer(
        &self,
        company: &CompanyId,
        customer: &CustomerId,
    ) -> Result<Vec<InvoiceRecord>, StoreError> {
        (**self).invoices_of_customer(company, customer)
    }
    fn audit_by_kind(
        &self,
        company: &CompanyId,
        kinds: &[&str],
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        (**self).audit_by_kind(company, kinds, from_seq, limit)
    }
    fn provision(
        &self,
        company: &CompanyId,
        closing: NaiveDate,
    ) -> Result<Option<ProvisionState>, StoreError> {
        (**self).provision(company, closing)
    }
    fn provisions(&self, company: &CompanyId) -> Result<Vec<ProvisionState>, StoreError> {
        (**self).provisions(company)
    }
    fn seen_files(&self, company: &CompanyId) -> Result<Vec<SeenFile>, StoreError> {
        (**self).seen_files(company)
    }
    fn inbox_record(
        &self,
        company: &CompanyId,
        item: InboxItem,
    ) -> Result<Option<u64>, StoreError> {
        (**self).inbox_record(company, item)
    }
    fn inbox(
        &self,
        company: &CompanyId,
        from_seq: u64,
        limit: usize,
        pending_only: bool,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        (**self).inbox(company, from_seq, limit, pending_only)
    }
    fn inbox_by_key(
        &self,
        company: &CompanyId,
        key: &str,
    ) -> Result<Option<InboxEntry>, StoreError> {
        (**self).inbox_by_key(company, key)
    }
    fn document(&self, namespace: &str, key: &str) -> Result<Option<Document>, StoreError> {
        (**self).document(namespace, key)
    }
    fn documents(&self, namespace: &str) -> Result<Vec<(String, Document)>, StoreError> {
        (**self).documents(namespace)
    }
    fn put_document(
        &self,
        namespace: &str,
        key: &str,
        doc: Option<Document>,
    ) -> Result<(), StoreError> {
        (**self).put_document(namespace, key, doc)
    }
    fn purge_documents(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).purge_documents(now)
    }
    fn document_namespaces(&self) -> Result<Vec<String>, StoreError> {
        (**self).document_namespaces()
    }
    fn heartbeat(&self, instance: &str, ttl: std::time::Duration) -> Result<usize, StoreError> {
        (**self).heartbeat(instance, ttl)
    }
    fn instance_gone(&self, instance: &str) -> Result<(), StoreError> {
        (**self).instance_gone(instance)
    }
    fn lease_claim(
        &self,
        instance: &str,
        candidates: &[CompanyId],
        max: usize,
        ttl: std::time::Duration,
    ) -> Result<Vec<LeaseGrant>, StoreError> {
        (**self).lease_claim(instance, candidates, max, ttl)
    }
    fn lease_renew(
        &self,
        instance: &str,
        held: &[(CompanyId, u64)],
        ttl: std::time::Duration,
    ) -> Result<Vec<CompanyId>, StoreError> {
        (**self).lease_renew(instance, held, ttl)
    }
    fn lease_release(&self, instance: &str, held: &[(CompanyId, u64)]) -> Result<(), StoreError> {
        (**self).lease_release(instance, held)
    }
    fn lease_check(&self, company: &CompanyId, token: u64) -> Result<bool, StoreError> {
        (**self).lease_check(company, token)
    }
    fn ensure_lease(&self, company: &CompanyId) -> Result<(), StoreError> {
        (**self).ensure_lease(company)
    }
    fn verify(&self) -> Result<VerifyReport, StoreError> {
        (**self).verify()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_page_becomes_records_plus_its_cursor() {
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let inv = schema::tests_support::invoice("F1");
        let page = Page {
            imported: vec![relance_connectors::contract::ImportedFile {
                hash: "h1".into(),
                name: "f.xml".into(),
            }],
            records: vec![
                Record::Invoice(inv.clone()),
                Record::InvoiceRemoved { id: "F0".into() },
                Record::Quarantined {
                    file: "bad.xml".into(),
                    reason: "CII: no BT-1".into(),
                },
                Record::Lifecycle(relance_connectors::contract::LifecycleStatus {
                    invoice: "F1".into(),
                    platform: "pennylane".into(),
                    status: "in_dispute".into(),
                    reason: Some("Montant erroné".into()),
                    at: None,
                    amount: None,
                }),
            ],
            next: Some(Cursor("c2".into())),
            has_more: false,
            ..Page::default()
        };
        let mut b = Batch::default();
        b.add_page("inbox", &page, at);
        assert_eq!(b.invoices[0].content_hash, content_hash(&inv));
        assert_eq!(b.invoices[0].content_hash.len(), 64);
        assert_eq!(b.removed_invoices, vec![InvoiceId::new("F0")]);
        assert_eq!(b.dead_letters[0].origin, "sync:inbox");
        assert_eq!(b.audit[0].kind, "sync.quarantine");
        assert_eq!(b.audit[1].kind, AUDIT_LIFECYCLE);
        assert_eq!(b.audit[1].subject, "F1");
        assert_eq!(b.audit[1].explanation["status"], "in_dispute");
        assert_eq!(b.cursors, vec![("inbox".to_owned(), Cursor("c2".into()))]);
        assert_eq!(b.seen_files[0].hash, "h1");
        let mut changed = inv.clone();
        changed.amount_due = Decimal::ZERO;
        assert_ne!(content_hash(&changed), content_hash(&inv));
    }
}
