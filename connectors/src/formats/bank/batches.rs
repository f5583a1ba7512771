//! Receipts of a bank file in bounded batches, read as a stream: the API for committing a
//! big file to the store a batch at a time, in memory that does not grow with the file.
//!
//! ```
//! use relance_connectors::formats::bank;
//! let mt940 = b":20:S1\n:25:FR7630006000011234567890189\n:28C:1\n:60F:C260105EUR100,00\n\
//! :61:2601050105C50,00NTRFNONREF//BQ1\n:86:VT2026-001\n\
//! :61:2601050105C25,00NTRFNONREF//BQ2\n:86:VT2026-002\n:62F:C260105EUR175,00\n-";
//! let mut batches = bank::receipt_batches("a.sta", &mt940[..], 1);
//! let mut ids = Vec::new();
//! for batch in batches.by_ref() {
//!     // commit batch.receipts (keys included) and batch.diagnostics here
//!     ids.extend(batch.receipts.iter().map(|k| k.receipt.id.to_string()));
//! }
//! assert_eq!(ids, ["BQ1", "BQ2"]);
//! assert!(batches.summary().usable());
//! ```
//!
//! Each batch holds at most `max_items` receipts and findings together (a batch may end in
//! the middle of a statement); the keys are the ones [`super::BankFile::keyed_receipts`] gives
//! for the same file (occurrences counted over the whole file, not per batch). A file can turn
//! out unusable only at its end (a camt cut short, an MT940 without any statement): the
//! [`FileSummary`] of the last batch says so, and a caller that must not keep part of such a
//! file stages the batches until then.

use super::{
    receipts_for_entry, BankEvent, BankFormat, BankStream, KeyedReceipt, Keyer, Statement,
};
use crate::formats::diag::{Diagnostic, Severity};
use std::collections::VecDeque;
use std::io::BufRead;

enum Item {
    Receipt(Box<KeyedReceipt>),
    Diagnostic(Diagnostic),
}

/// What the whole file gave, known once the last batch is out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// Format, when recognised.
    pub format: Option<BankFormat>,
    /// Message type and version as found.
    pub message: Option<String>,
    /// Statements read.
    pub statements: usize,
    /// Entries read (booked or not).
    pub entries: usize,
    /// Receipts given (booked entries or their transaction details).
    pub receipts: usize,
    /// Findings, by severity: fatal ones make the file unusable.
    pub fatal: usize,
    /// Error findings.
    pub errors: usize,
}

impl FileSummary {
    /// True when the file can be imported: no fatal finding and at least one statement (what
    /// [`super::is_usable`] says of the same file parsed whole).
    pub fn usable(&self) -> bool {
        self.fatal == 0 && self.statements > 0
    }
}

/// One batch of receipts with the findings made while reading them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiptBatch {
    /// Receipts with their deduplication keys, in file order.
    pub receipts: Vec<KeyedReceipt>,
    /// Findings, in the order they were made.
    pub diagnostics: Vec<Diagnostic>,
    /// Statements that ended within this batch.
    pub statements_ended: usize,
    /// True for the last batch of the file (then [`ReceiptBatches::summary`] is final).
    pub last: bool,
}

/// An iterator of [`ReceiptBatch`]es over a bank file (see the module docs).
pub struct ReceiptBatches<R: BufRead> {
    stream: BankStream<R>,
    /// Read but not yet handed out (an entry may give several receipts, an event several
    /// findings): the next batch starts with them.
    carry: VecDeque<Item>,
    file: String,
    stmt: Statement,
    keyer: Keyer,
    max: usize,
    summary: FileSummary,
    done: bool,
}

/// Streams the receipts of a bank file in batches of at most `max_items` receipts and
/// findings (at least 1), in memory bounded by the batch size (the deduplication keys and the
/// checks keep 16 to 32 bytes per receipt). `file_name` names the receipts' source, as
/// [`super::parse`] does.
pub fn receipt_batches<R: BufRead>(
    file_name: &str,
    reader: R,
    max_items: usize,
) -> ReceiptBatches<R> {
    batches_of(file_name, super::parse_reader(file_name, reader), max_items)
}

/// As [`receipt_batches`], for a reader of the start of `file`: a ZIP archive is read from
/// `file` at offsets, never held in memory (see [`super::parse_reader_at`]).
pub fn receipt_batches_at<R: BufRead>(
    file_name: &str,
    reader: R,
    file: std::fs::File,
    max_items: usize,
) -> ReceiptBatches<R> {
    batches_of(
        file_name,
        super::parse_reader_at(file_name, reader, file),
        max_items,
    )
}

fn batches_of<R: BufRead>(
    file_name: &str,
    stream: super::BankStream<R>,
    max_items: usize,
) -> ReceiptBatches<R> {
    ReceiptBatches {
        stream,
        carry: VecDeque::new(),
        file: file_name.to_owned(),
        stmt: Statement::default(),
        keyer: Keyer::default(),
        max: max_items.max(1),
        summary: FileSummary::default(),
        done: false,
    }
}

impl<R: BufRead> ReceiptBatches<R> {
    /// What the file gave so far; final once a batch with `last` was returned.
    pub fn summary(&self) -> &FileSummary {
        &self.summary
    }
}

impl<R: BufRead> Iterator for ReceiptBatches<R> {
    type Item = ReceiptBatch;

    fn next(&mut self) -> Option<ReceiptBatch> {
        if self.done && self.carry.is_empty() {
            return None;
        }
        let mut batch = ReceiptBatch::default();
        let mut ended = false;
        while self.carry.len() < self.max && !ended {
            match self.stream.next() {
                Some(ev) => self.event(ev, &mut batch),
                None => ended = true,
            }
        }
        for item in self.carry.drain(..self.carry.len().min(self.max)) {
            match item {
                Item::Receipt(r) => batch.receipts.push(*r),
                Item::Diagnostic(d) => batch.diagnostics.push(d),
            }
        }
        if ended {
            self.done = true;
        }
        batch.last = self.done && self.carry.is_empty();
        Some(batch)
    }
}

impl<R: BufRead> ReceiptBatches<R> {
    fn event(&mut self, ev: BankEvent, batch: &mut ReceiptBatch) {
        match ev {
            BankEvent::Format { format, message } => {
                if self.summary.format.is_none() {
                    self.summary.format = Some(format);
                    self.summary.message = Some(message);
                }
            }
            BankEvent::Statement(s) => {
                self.summary.statements += 1;
                self.stmt = s;
            }
            BankEvent::Entry(e) => {
                self.summary.entries += 1;
                if e.is_booked() {
                    for (r, derived) in receipts_for_entry(&self.file, &self.stmt, &e) {
                        self.summary.receipts += 1;
                        let k = self.keyer.key(r, derived);
                        self.carry.push_back(Item::Receipt(Box::new(k)));
                    }
                }
            }
            BankEvent::StatementEnd { late_balances } => {
                self.stmt.balances.extend(late_balances);
                batch.statements_ended += 1;
            }
            BankEvent::Diagnostic(d) => {
                match d.severity {
                    Severity::Fatal => self.summary.fatal += 1,
                    Severity::Error => self.summary.errors += 1,
                    _ => {}
                }
                self.carry.push_back(Item::Diagnostic(d));
            }
        }
    }
}
