//! The connector contract: a [`Source`] pulls pages of records since a cursor; a [`WriteBack`]
//! applies commands exactly once, keyed by a deterministic [`IdempotencyKey`].

use crate::error::ConnectorError;
use chrono::NaiveDate;
use relance_core::{Customer, Invoice, Receipt};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// A bank receipt (credit or debit entry).
    Receipt(Receipt),
    /// The source no longer has this invoice (deleted or cancelled).
    InvoiceRemoved {
        /// Its id.
        id: relance_core::InvoiceId,
    },
    /// A file that could not be used, kept in quarantine with the reason.
    Quarantined {
        /// The file name.
        file: String,
        /// Why (file, element or line, rule id, message).
        reason: String,
    },
}

/// A bounded page of records and the cursor after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The records of this page.
    pub records: Vec<Record>,
    /// Where the next pull starts; commit it with the records.
    pub next: Option<Cursor>,
    /// True when more pages are ready now.
    pub has_more: bool,
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

/// A system relance pulls records from.
#[allow(async_fn_in_trait)]
pub trait Source {
    /// Checks credentials and reachability.
    async fn check(&self) -> Result<(), ConnectorError>;
    /// Pulls the next bounded page after `from` (the start when `None`).
    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError>;
}

/// A system relance writes effects to, exactly once.
#[allow(async_fn_in_trait)]
pub trait WriteBack {
    /// The remote record of an effect already applied under `key`, if any.
    async fn find_applied(&self, key: &IdempotencyKey)
        -> Result<Option<RemoteRef>, ConnectorError>;
    /// Applies `cmd` under `key`; applying an already-applied key returns its reference.
    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError>;
}
