//! The connector contract: a [`Source`] pulls pages of records since a cursor and is told
//! when each page is committed ([`Source::ack`]); a [`WriteBack`] applies commands exactly
//! once, keyed by a deterministic [`IdempotencyKey`] (built in [`crate::keys`]).
//!
//! The protocol the pipeline follows for every source, whatever its type:
//! 1. `pull(cursor)` returns a bounded [`Page`]: records, the cursor after them, the files the
//!    page completes ([`Page::imported`]) and opaque [`Ack`] tokens;
//! 2. the page's records, cursor and imported files are committed in one flushed store batch;
//! 3. only then `ack(page.acks)`: a folder source moves its files to `done/` (or `quarantine/`);
//!    a remote source has nothing to do. A crash between 2 and 3 loses nothing: the next pass
//!    finds the files' hashes committed and only finishes the moves.
//!
//! A unit of work larger than one page (a big bank file) is handed over in several pages:
//! the intermediate pages carry records only, and its last page carries its
//! [`ImportedFile`] and its [`Ack`], so the unit is acknowledged after its last batch and a
//! crash in between re-reads it (receipts keyed per file, [`Record::BankEntry`], add nothing
//! twice).
//!
//! [`Source`] and [`WriteBack`] are the traits connectors implement (async, `Send` futures);
//! [`DynSource`] and [`DynWriteBack`] are their object-safe forms, implemented for every
//! connector, which the registry hands to the pipeline as [`BoxSource`] / [`SharedWriteBack`].

use crate::error::ConnectorError;
use chrono::NaiveDate;
use relance_core::{Customer, Invoice, Receipt};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

/// An opaque position in a source, committed in the same store batch as the data it covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// One record pulled from a source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// A customer, created or changed.
    Customer(Customer),
    /// An invoice or credit note, created or changed.
    Invoice(Invoice),
    /// A bank receipt (credit or debit entry); the store keys it for deduplication from its
    /// content and its occurrence in the page.
    Receipt(Receipt),
    /// A bank receipt with the source's own deduplication key: a statement file's entry, keyed
    /// over the whole file (see `formats::bank::keyed_receipts`), so the same statement
    /// imported twice, or committed across several pages, adds nothing twice.
    BankEntry {
        /// Deduplication key, stable across re-imports.
        key: String,
        /// The receipt.
        receipt: Receipt,
    },
    /// The source no longer has this invoice (deleted or cancelled).
    InvoiceRemoved {
        /// Its id.
        id: relance_core::InvoiceId,
    },
    /// An e-invoicing lifecycle status of an issued invoice, as the platform (or a ledger that
    /// is one, like Pennylane) reports it. Kept raw: the status is the vendor's own word
    /// (Pennylane: `submitted, sent, approved, accepted, rejected, refused, in_dispute,
    /// partially_collected, collected`); mapping it to the AFNOR lifecycle (207 En litige,
    /// 210 Refusée, 212 Encaissée...) and acting on it is the dunning side's job. The same
    /// status may be reported again (a re-list, a webhook and the changelog): consumers
    /// deduplicate on `(invoice, platform, status)`.
    Lifecycle(LifecycleStatus),
    /// A file that could not be used, kept in quarantine with the reason.
    Quarantined {
        /// The file name.
        file: String,
        /// Why (file, element or line, rule id, message).
        reason: String,
    },
}

/// An e-invoicing lifecycle status of one invoice (see [`Record::Lifecycle`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleStatus {
    /// The invoice, by its id in the source (the id of its [`Record::Invoice`]).
    pub invoice: relance_core::InvoiceId,
    /// Who reports it: `pennylane`, a platform's name.
    pub platform: String,
    /// The status as the platform words it.
    pub status: String,
    /// The reason the platform gives (a refusal's or a dispute's), if any.
    pub reason: Option<String>,
    /// When the platform says the status was reached, if it says.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// The amount the status carries (211 amount paid, 212 amount received, 206 amount
    /// approved), all VAT rates together, when it carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
}

/// A bounded page of records and the cursor after it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The records of this page.
    pub records: Vec<Record>,
    /// Where the next pull starts; commit it with the records.
    pub next: Option<Cursor>,
    /// True when more pages are ready now.
    pub has_more: bool,
    /// Files whose import this page completes: committed with it (by content hash), so a copy
    /// dropped again is recognised.
    #[serde(default)]
    pub imported: Vec<ImportedFile>,
    /// Tokens to hand back to [`Source::ack`] once the page is committed.
    #[serde(default)]
    pub acks: Vec<Ack>,
    /// What the source saw and did not read, with why (a symbolic link, a FIFO...), for the
    /// log and the summary; nothing of it is stored.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

impl Page {
    /// A page of `records` ending at `next`.
    pub fn new(records: Vec<Record>, next: Option<Cursor>, has_more: bool) -> Self {
        Page {
            records,
            next,
            has_more,
            ..Page::default()
        }
    }
}

/// A file a page finishes importing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedFile {
    /// Hex SHA-256 of its bytes.
    pub hash: String,
    /// Its name when imported.
    pub name: String,
}

/// An opaque token a source gives with a page and gets back in [`Source::ack`] once the page
/// is committed (a folder source: the file to move).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ack(pub String);

/// An entry a source left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The entry (file name).
    pub entry: String,
    /// Why it was not read.
    pub reason: String,
}

/// Deterministic key of a remote effect: the same decision always gives the same key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    /// Key of an effect: `company`, a kind (e.g. "dunning") and the parts that identify the
    /// decision (invoice ids, stage, closing date...). Hashed so it fits any remote field.
    pub fn derive(company: &str, kind: &str, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(company.as_bytes());
        h.update([0]);
        h.update(kind.as_bytes());
        for p in parts {
            h.update([0]);
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        IdempotencyKey(format!("relance-{kind}-{}", hex::encode(&digest[..12])))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the remote system calls the effect once applied (record id, message id...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RemoteRef(pub String);

/// One line of an accounting move to post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveLine {
    /// Account code (e.g. "416", "68174").
    pub account: String,
    /// Debit amount (zero when credit).
    pub debit: Decimal,
    /// Credit amount (zero when debit).
    pub credit: Decimal,
    /// Customer the line concerns, for receivable and doubtful accounts.
    pub party: Option<String>,
    /// Line label.
    pub label: String,
}

/// A remote effect, recorded in the outbox before it is applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum WriteCommand {
    /// Record a dunning level on an invoice (Tryton: `account.dunning` at a procedure level).
    SetDunningLevel {
        /// Invoice id in the source.
        invoice: String,
        /// Stage number (0 préventive … 4 contentieux).
        level: u8,
        /// Date of the action.
        date: NaiveDate,
    },
    /// Attach a note to an invoice or a party.
    AddNote {
        /// "invoice" or "party".
        target_kind: String,
        /// Id in the source.
        target: String,
        /// Text of the note.
        text: String,
    },
    /// Block or unblock dunning of an invoice (dispute).
    BlockDunning {
        /// Invoice id in the source.
        invoice: String,
        /// True to block.
        blocked: bool,
        /// Why.
        reason: String,
    },
    /// Reconcile a receipt with invoices in the source (payment lines to invoice lines).
    Reconcile {
        /// The bank's transaction id.
        transaction: String,
        /// Invoice id and amount pairs.
        allocations: Vec<(String, Decimal)>,
        /// Booking date.
        date: NaiveDate,
    },
    /// Post an accounting move (provision, reclassification, write-off).
    PostMove {
        /// Journal code.
        journal: String,
        /// Accounting date.
        date: NaiveDate,
        /// Description.
        description: String,
        /// Balanced lines.
        lines: Vec<MoveLine>,
    },
    /// Send an e-mail (reminder), with optional PDF attachment stored in the state dir.
    SendEmail {
        /// Recipients.
        to: Vec<String>,
        /// Subject.
        subject: String,
        /// Plain-text body.
        body: String,
        /// Attachments: file name and bytes.
        attachments: Vec<(String, Vec<u8>)>,
    },
    /// Report a receipt applied to an issued e-invoice to its platform: the status "212
    /// Encaissée" (AFNOR XP Z12-012), one amount per VAT rate (the platform's copy of the
    /// invoice gives the rates); a negative `amount` corrects an earlier report (a returned
    /// direct debit, a reversed transfer).
    ReportPayment {
        /// Invoice id in relance.
        invoice: String,
        /// Its number (BT-1), as the platform knows it.
        number: String,
        /// Its type code (BT-3).
        type_code: u16,
        /// Its issue date.
        issue_date: NaiveDate,
        /// The bank transaction.
        transaction: String,
        /// Amount received (VAT included), negative for a correction.
        amount: Decimal,
        /// Its currency.
        currency: String,
        /// Date received (booking date).
        date: NaiveDate,
    },
    /// A task for a person (call the customer, post a registered letter).
    CreateTask {
        /// Who or what queue.
        assignee: Option<String>,
        /// What to do.
        title: String,
        /// Details.
        details: String,
    },
}

/// The commands recorded under idempotency keys, as a write-back target may read them back.
///
/// A remote system that cannot be searched for a key (no field relance may write the key to
/// that a search reaches: Pennylane) finds an effect by its natural key instead (the invoice a
/// comment is on, the transaction matched to an invoice): `find_applied(key)` reads the
/// command recorded under `key` here, then looks for its effect. The binary implements it over
/// the outbox (the entry is committed before any remote call); [`MemoryCommandLog`] serves
/// tools and tests.
pub trait CommandLog: Send + Sync + std::fmt::Debug {
    /// The command recorded under `key`, if any.
    fn command(&self, key: &IdempotencyKey) -> Result<Option<WriteCommand>, ConnectorError>;
    /// Told before `cmd` is applied under `key` (the outbox already holds it: nothing to do
    /// there; an in-memory log keeps it).
    fn remember(&self, key: &IdempotencyKey, cmd: &WriteCommand) {
        let _ = (key, cmd);
    }
}

/// A [`CommandLog`] in memory: what was applied through it since it was made.
#[derive(Debug, Default)]
pub struct MemoryCommandLog(
    std::sync::Mutex<std::collections::HashMap<IdempotencyKey, WriteCommand>>,
);

impl CommandLog for MemoryCommandLog {
    fn command(&self, key: &IdempotencyKey) -> Result<Option<WriteCommand>, ConnectorError> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(m.get(key).cloned())
    }
    fn remember(&self, key: &IdempotencyKey, cmd: &WriteCommand) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(key.clone(), cmd.clone());
    }
}

/// A system relance pulls records from. Implement it with `async fn`s; the futures must be
/// `Send` (the daemon runs each company on the tokio pool).
pub trait Source: Send + Sync {
    /// Checks credentials and reachability.
    fn check(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send;
    /// Pulls the next bounded page after `from` (the start when `None`).
    fn pull(
        &mut self,
        from: Option<&Cursor>,
    ) -> impl Future<Output = Result<Page, ConnectorError>> + Send;
    /// Told after the page carrying `acks` was committed (records, cursor and imported files
    /// flushed): finish what the page handed over. Never called for a page whose commit
    /// failed. The default does nothing (remote sources keep their position in the cursor).
    fn ack(&mut self, acks: Vec<Ack>) -> impl Future<Output = Result<(), ConnectorError>> + Send {
        let _ = acks;
        async { Ok(()) }
    }
}

/// A system relance writes effects to, exactly once.
pub trait WriteBack: Send + Sync {
    /// The remote record of an effect already applied under `key`, if any.
    fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<RemoteRef>, ConnectorError>> + Send;
    /// Applies `cmd` under `key`; applying an already-applied key returns its reference.
    fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> impl Future<Output = Result<RemoteRef, ConnectorError>> + Send;
}

/// A boxed `Send` future, the return type of the object-safe traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Source`] in object-safe form; every `Source` is one.
pub trait DynSource: Send + Sync {
    /// [`Source::check`].
    fn check(&self) -> BoxFuture<'_, Result<(), ConnectorError>>;
    /// [`Source::pull`].
    fn pull<'a>(
        &'a mut self,
        from: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, ConnectorError>>;
    /// [`Source::ack`].
    fn ack(&mut self, acks: Vec<Ack>) -> BoxFuture<'_, Result<(), ConnectorError>>;
}

impl<T: Source> DynSource for T {
    fn check(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(Source::check(self))
    }
    fn pull<'a>(
        &'a mut self,
        from: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        Box::pin(Source::pull(self, from))
    }
    fn ack(&mut self, acks: Vec<Ack>) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(Source::ack(self, acks))
    }
}

/// A source as the pipeline holds it.
pub type BoxSource = Box<dyn DynSource>;

/// [`WriteBack`] in object-safe form; every `WriteBack` is one.
pub trait DynWriteBack: Send + Sync {
    /// [`WriteBack::find_applied`].
    fn find_applied<'a>(
        &'a self,
        key: &'a IdempotencyKey,
    ) -> BoxFuture<'a, Result<Option<RemoteRef>, ConnectorError>>;
    /// [`WriteBack::apply`].
    fn apply<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        cmd: &'a WriteCommand,
    ) -> BoxFuture<'a, Result<RemoteRef, ConnectorError>>;
}

impl<T: WriteBack> DynWriteBack for T {
    fn find_applied<'a>(
        &'a self,
        key: &'a IdempotencyKey,
    ) -> BoxFuture<'a, Result<Option<RemoteRef>, ConnectorError>> {
        Box::pin(WriteBack::find_applied(self, key))
    }
    fn apply<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        cmd: &'a WriteCommand,
    ) -> BoxFuture<'a, Result<RemoteRef, ConnectorError>> {
        Box::pin(WriteBack::apply(self, key, cmd))
    }
}

/// A write-back target as the pipeline holds it (shared by the cycles of one configuration
/// generation).
pub type SharedWriteBack = std::sync::Arc<dyn DynWriteBack>;

/// A shared target is a target, so outbox delivery takes either a concrete connector or a
/// [`SharedWriteBack`].
impl<'t> WriteBack for std::sync::Arc<dyn DynWriteBack + 't> {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        DynWriteBack::find_applied(&**self, key).await
    }
    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        DynWriteBack::apply(&**self, key, cmd).await
    }
}
