//! Bank statements: camt.052/053/054, MT940, CFONB120 and OFX (and ZIP archives of them)
//! parsed into one model, checked, converted into [`relance_core::model::Receipt`]s and
//! deduplicated.
//!
//! # Three ways in, one reading
//! - [`receipt_batches`]: receipts with their deduplication keys and the findings, in batches
//!   of a bounded size, read from any `BufRead` in constant memory: the way to import a file of
//!   any size (a store commit per batch). Its [`FileSummary`] says, after the last batch,
//!   whether the file as a whole was usable.
//! - [`parse_reader`]: the raw stream of [`BankEvent`]s (statements, entries, findings), also
//!   in constant memory; [`write_inspect_json`] and [`write_inspect_text`] are built on it.
//! - [`parse`]: the whole [`BankFile`] in memory, for small files and tests.
//!
//! All three read through the same streaming readers (one per format), so they give the same
//! statements, receipts, keys and findings in the same order.
//!
//! ```
//! use relance_connectors::formats::bank;
//! let mt940 = b":20:STMT\n:25:FR7630006000011234567890189\n:28C:1\n:60F:C260105EUR100,00\n\
//! :61:2601050105C50,00NTRFNONREF//BQ1\n:86:VT2026-001 ACME\n:62F:C260105EUR150,00\n-";
//! let file = bank::parse("a.sta", mt940);
//! assert!(bank::is_usable(&file));
//! let receipts = file.receipts();
//! assert_eq!(receipts[0].id.as_str(), "BQ1");
//! assert_eq!(receipts[0].amount.to_string(), "50.00");
//! ```
//!
//! # Receipt ids (the bank's own id of a transaction)
//! - camt: `TxDtls/Refs/AcctSvcrRef`, else the entry's `AcctSvcrRef`, else `NtryRef` (an
//!   entry with a single detail is named by that detail's reference). When an entry with
//!   several details has only an entry-level reference, detail *n* gets `<ref>#<n>` so that
//!   every receipt id stays unique.
//! - MT940: the `:61:` bank reference (after `//`), else the customer reference unless it is
//!   `NONREF`.
//! - CFONB120: the record-04 reference zone (positions 105-120) when not blank, else the
//!   écriture number (positions 82-88) prefixed by the account; see [`cfonb120`].
//! - OFX: `FITID` (the OFX spec makes it unique per account).
//! - When the bank gives no id at all, a deterministic id `RLC-<16 hex>` is derived from
//!   account, statement id and statement/entry/detail positions (SHA-256); such receipts are
//!   marked by the prefix.
//!
//! # Deduplication
//! [`BankFile::keyed_receipts`] gives each receipt a key ([`dedup_key`]) built from the bank's
//! id when there is one (account + id + booking date + amount + occurrence number of that id
//! in the file), else from the booking content (account, date, amount, counterparty,
//! remittance, end-to-end id) plus its occurrence number among identical-looking entries of
//! the same file. The
//! same file imported twice or renamed, or a camt.052 followed by the camt.053 of the same
//! day, gives the same keys; two genuinely identical payments in one file get occurrence
//! numbers 1 and 2 and are both kept. [`Dedup`] filters receipts against known keys.
//!
//! A Qonto account ([`movement_keyed`]) is read both through the Qonto API and from the
//! camt.053 files Qonto exports: its receipts are keyed by the movement alone (IBAN, booking
//! date, amount, currency, occurrence of that day and amount — [`movement_basis`]), which both
//! channels give alike, so a movement read both ways is stored once, whichever comes first.

mod batches;
pub mod camt;
pub mod cfonb120;
mod checks;
pub mod fuzz;
mod input;
mod inspect;
pub mod model;
pub mod mt940;
pub mod ofx;
pub mod rf;
mod seen;
pub mod write;
pub mod zip;

pub use batches::{receipt_batches, receipt_batches_at, FileSummary, ReceiptBatch, ReceiptBatches};
pub use inspect::{
    write_inspect_json, write_inspect_json_at, write_inspect_text, write_inspect_text_at,
};
pub use model::{Balance, BankFormat, CreditDebit, Entry, Party, Statement, TxDetail};

use crate::formats::diag::{has_fatal, Diagnostic, Severity};
use crate::formats::encoding;
use relance_core::ids::TransactionId;
use relance_core::model::Receipt;
use relance_core::money::Currency;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, Read};
use std::sync::Arc;

/// Errors of the bank module area (the parsers report problems as diagnostics instead).
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// Writing output failed.
    #[error("cannot write bank statement: {0}")]
    Io(#[from] std::io::Error),
    /// The data given to a writer cannot be rendered.
    #[error("invalid statement data: {0}")]
    Invalid(String),
}

/// One step of a streamed parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BankEvent {
    /// The format was recognised (`message` is e.g. `camt.053.001.02`).
    Format {
        /// Format.
        format: BankFormat,
        /// Message type and version as found.
        message: String,
    },
    /// A statement begins: account, id and the balances given before the entries
    /// (`entries` is empty).
    Statement(Statement),
    /// One entry of the current statement.
    Entry(Entry),
    /// The current statement ends; balances that came after the entries are appended.
    StatementEnd {
        /// Balances found after the entries.
        late_balances: Vec<Balance>,
    },
    /// A finding.
    Diagnostic(Diagnostic),
}

/// A parsed bank file: its statements and every finding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BankFile {
    /// File name as given.
    pub file: String,
    /// Format, when recognised.
    pub format: Option<BankFormat>,
    /// Message type and version as found.
    pub message: Option<String>,
    /// Statements in file order.
    pub statements: Vec<Statement>,
    /// Findings, in the order they were made.
    pub diagnostics: Vec<Diagnostic>,
}

/// Recognises the format from the first bytes; `None` when it is none of the supported ones.
/// A ZIP archive is recognised by the format of its first member (only its first 8 KiB are
/// inflated). The text is decoded first (a UTF-16 camt is recognised).
pub fn detect(bytes: &[u8]) -> Option<BankFormat> {
    if zip::is_zip(bytes) {
        let first = zip::first_bytes(bytes, 8192)?;
        if zip::is_zip(&first) {
            return None;
        }
        return detect(&first);
    }
    let head = input::Head {
        bytes: bytes[..bytes.len().min(8192)].to_vec(),
        complete: bytes.len() <= 8192,
    };
    let sniffed = input::sniff(None, &head);
    detect_text(&input::head_text(&head.bytes, &sniffed))
}

/// Recognises the format from the decoded start of a file.
fn detect_text(text: &str) -> Option<BankFormat> {
    let head = match text.char_indices().nth(8192) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let t = head.trim_start_matches('\u{feff}').trim_start();
    if head.contains("OFXHEADER") || t.starts_with("<OFX") || head.contains("<OFX>") {
        return Some(BankFormat::Ofx);
    }
    if t.starts_with('<') {
        if head.contains("BkToCstmrAcctRpt") || head.contains("camt.052") {
            return Some(BankFormat::Camt052);
        }
        if head.contains("BkToCstmrDbtCdtNtfctn") || head.contains("camt.054") {
            return Some(BankFormat::Camt054);
        }
        if head.contains("BkToCstmrStmt") || head.contains("camt.053") {
            return Some(BankFormat::Camt053);
        }
        return None;
    }
    if mt940::looks_like(t) {
        return Some(BankFormat::Mt940);
    }
    if cfonb120::looks_like(t) {
        return Some(BankFormat::Cfonb120);
    }
    None
}

fn not_a_statement(text: &str, empty: bool) -> Diagnostic {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end();
    let msg =
        if first.chars().count() == 240 || first.chars().count() > 240 && first.len() % 240 == 0 {
            "not a bank statement: 240-character records (CFONB 240 transfer/remittance format), \
         not a CFONB 120 statement"
                .to_owned()
        } else if empty {
            "empty file".to_owned()
        } else {
            let shown: String = first.chars().take(40).collect();
            format!(
            "not a bank statement in a supported format (camt.052/053/054, MT940, CFONB120, OFX); \
             the file starts with {shown:?}"
        )
        };
    Diagnostic::new(Severity::Fatal, "BANK-FORMAT", "/", msg)
}

/// A format's streaming reader over decoded text.
enum Reader<R: BufRead> {
    Camt(Box<camt::CamtReader<R>>),
    Mt940(Box<mt940::Mt940Reader<R>>),
    Cfonb(Box<cfonb120::CfonbReader<R>>),
    Ofx(Box<ofx::OfxReader<R>>),
}

impl<R: BufRead> Reader<R> {
    fn new(format: BankFormat, r: R) -> Self {
        match format {
            BankFormat::Camt052 | BankFormat::Camt053 | BankFormat::Camt054 => {
                Reader::Camt(Box::new(camt::CamtReader::new(r)))
            }
            BankFormat::Mt940 => Reader::Mt940(Box::new(mt940::Mt940Reader::new(r))),
            BankFormat::Cfonb120 => Reader::Cfonb(Box::new(cfonb120::CfonbReader::new(r))),
            BankFormat::Ofx => Reader::Ofx(Box::new(ofx::OfxReader::new(r))),
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = BankEvent;

    fn next(&mut self) -> Option<BankEvent> {
        match self {
            Reader::Camt(r) => r.next(),
            Reader::Mt940(r) => r.next(),
            Reader::Cfonb(r) => r.next(),
            Reader::Ofx(r) => r.next(),
        }
    }
}

/// One decoded text file being parsed: its reader, then what to say about its encoding.
struct TextStream<R: BufRead> {
    reader: Reader<input::Input<R>>,
    bad: input::SharedBad,
    sniffed: encoding::Sniffed,
    prefix: Option<String>,
    ended: bool,
}

impl<R: BufRead> TextStream<R> {
    /// Opens a file whose head was read: format (given, else detected), encoding, reader.
    /// `Err` carries the events of a file that is no statement at all.
    fn open(
        head: input::Head,
        rest: R,
        format: Option<BankFormat>,
        prefix: Option<String>,
    ) -> Result<(BankFormat, Vec<BankEvent>, Self), Vec<BankEvent>> {
        let first = input::sniff(None, &head);
        let text = input::head_text(&head.bytes, &first);
        let Some(format) = format.or_else(|| detect_text(&text)) else {
            let mut d = not_a_statement(&text, head.bytes.is_empty());
            if let Some(p) = &prefix {
                d.path = format!("{p}:{}", d.path);
            }
            return Err(vec![BankEvent::Diagnostic(d)]);
        };
        let sniffed = input::sniff(Some(format), &head);
        let mut notes = Vec::new();
        let at = |path: String| match &prefix {
            Some(p) => format!("{p}:{path}"),
            None => path,
        };
        if let Some(label) = &sniffed.unknown {
            notes.push(BankEvent::Diagnostic(Diagnostic::new(
                Severity::Warning,
                "BANK-ENCODING",
                at("/".into()),
                format!(
                    "declared encoding {label:?} is not a known character set: read as {}",
                    sniffed.describe()
                ),
            )));
        } else if let encoding::How::Fallback(pos) = sniffed.how {
            notes.push(BankEvent::Diagnostic(Diagnostic::new(
                Severity::Info,
                "BANK-ENCODING",
                at(format!("byte {pos}")),
                format!("not UTF-8: read as {}", sniffed.describe()),
            )));
        }
        let (inp, bad) = input::Input::new(head.bytes, rest, &sniffed);
        Ok((
            format,
            notes,
            Self {
                reader: Reader::new(format, inp),
                bad,
                sniffed,
                prefix,
                ended: false,
            },
        ))
    }

    fn next(&mut self) -> Option<BankEvent> {
        if let Some(ev) = self.reader.next() {
            return Some(match ev {
                BankEvent::Diagnostic(mut d) if self.prefix.is_some() => {
                    d.path = format!("{}:{}", self.prefix.as_deref().unwrap_or(""), d.path);
                    BankEvent::Diagnostic(d)
                }
                other => other,
            });
        }
        if self.ended {
            return None;
        }
        self.ended = true;
        let bad = self.bad.lock().map(|b| *b).unwrap_or_default();
        let msg = bad.message(&self.sniffed)?;
        let path = format!("byte {}", bad.first.unwrap_or(0));
        Some(BankEvent::Diagnostic(Diagnostic::new(
            Severity::Warning,
            "BANK-ENCODING",
            match &self.prefix {
                Some(p) => format!("{p}:{path}"),
                None => path,
            },
            msg,
        )))
    }
}

/// The members of a ZIP archive, parsed one after the other, each inflated as it is read.
struct ZipStream {
    archive: Arc<dyn zip::Archive>,
    members: std::vec::IntoIter<zip::Member>,
    budget: zip::Budget,
    current: Option<(String, TextStream<Box<dyn BufRead + Send>>)>,
    queue: VecDeque<BankEvent>,
    read_any: bool,
    done: bool,
}

impl ZipStream {
    fn new(archive: Arc<dyn zip::Archive>) -> Result<Self, String> {
        let members = zip::members(archive.as_ref())?;
        if members.is_empty() {
            return Err("ZIP archive without any file".to_owned());
        }
        Ok(Self {
            archive,
            members: members.into_iter(),
            budget: zip::Budget::default(),
            current: None,
            queue: VecDeque::new(),
            read_any: false,
            done: false,
        })
    }

    fn fatal(&mut self, path: String, msg: String) {
        self.queue.push_back(BankEvent::Diagnostic(Diagnostic::new(
            Severity::Fatal,
            "BANK-ZIP",
            path,
            msg,
        )));
    }

    fn next(&mut self) -> Option<BankEvent> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            if let Some((name, cur)) = self.current.as_mut() {
                if self.budget.exceeded() {
                    let name = name.clone();
                    self.current = None;
                    self.done = true;
                    self.fatal(
                        name.clone(),
                        format!(
                            "member {name}: the archive inflates to more than {} bytes: refused (a ZIP bomb, or a file too big to import)",
                            zip::MAX_INFLATED
                        ),
                    );
                    continue;
                }
                match cur.next() {
                    Some(ev) => return Some(ev),
                    None => self.current = None,
                }
                continue;
            }
            let Some(m) = self.members.next() else {
                self.done = true;
                if !self.read_any {
                    self.fatal(
                        "/".into(),
                        "the ZIP archive holds no statement that could be read".into(),
                    );
                }
                continue;
            };
            let mut r = zip::open(&self.archive, &m, &self.budget);
            let head = match input::read_head(&mut r) {
                Ok(h) => h,
                Err(e) => {
                    let name = m.name.clone();
                    self.done = true;
                    self.fatal(
                        name.clone(),
                        if self.budget.exceeded() {
                            format!("member {name}: the archive inflates to more than {} bytes: refused", zip::MAX_INFLATED)
                        } else {
                            format!("member {name}: cannot inflate: {e}")
                        },
                    );
                    continue;
                }
            };
            if zip::is_zip(&head.bytes) {
                self.queue.push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Error,
                    "BANK-ZIP",
                    m.name.clone(),
                    format!("member {} is itself a ZIP archive: archives inside archives are not opened", m.name),
                )));
                continue;
            }
            self.read_any = true;
            self.queue.push_back(BankEvent::Diagnostic(Diagnostic::new(
                Severity::Info,
                "BANK-ZIP",
                m.name.clone(),
                format!("read archive member {}", m.name),
            )));
            match TextStream::open(head, r, None, Some(m.name.clone())) {
                Ok((_, notes, stream)) => {
                    self.queue.extend(notes);
                    self.current = Some((m.name, stream));
                }
                Err(events) => self.queue.extend(events),
            }
        }
    }
}

enum Inner<R: BufRead> {
    Text(Box<TextStream<R>>),
    Zip(Box<ZipStream>),
    Done(std::vec::IntoIter<BankEvent>),
}

/// A streamed parse: an iterator of [`BankEvent`]s with the checks of [`checks`] applied.
/// Every format is read incrementally in constant memory (camt, MT940, CFONB 120, OFX, and
/// ZIP members while they inflate); only the checks keep a few bytes per entry.
pub struct BankStream<R: BufRead> {
    inner: Inner<R>,
    checker: checks::Checker,
    queue: VecDeque<BankEvent>,
    statements: usize,
    /// Findings handed out so far, and those past [`MAX_FINDINGS`] only counted.
    findings: usize,
    unlisted: usize,
    ended: bool,
}

/// Most findings listed for one file (fatal ones are always listed): past it, they are
/// counted and said in one last warning, so a file of a million bad lines gives a bounded
/// report, not a million messages held by whoever collects them.
pub const MAX_FINDINGS: usize = 1000;

impl<R: BufRead> Iterator for BankStream<R> {
    type Item = BankEvent;

    fn next(&mut self) -> Option<BankEvent> {
        loop {
            let Some(ev) = self.next_event() else {
                if self.unlisted > 0 && !self.ended {
                    self.ended = true;
                    return Some(BankEvent::Diagnostic(Diagnostic::new(
                        Severity::Warning,
                        "BANK-FINDINGS",
                        "/",
                        format!(
                            "{} more findings are not listed (the first {MAX_FINDINGS} are)",
                            self.unlisted
                        ),
                    )));
                }
                return None;
            };
            if let BankEvent::Diagnostic(d) = &ev {
                if d.severity != Severity::Fatal {
                    if self.findings >= MAX_FINDINGS {
                        self.unlisted += 1;
                        continue;
                    }
                    self.findings += 1;
                }
            }
            return Some(ev);
        }
    }
}

impl<R: BufRead> BankStream<R> {
    fn next_event(&mut self) -> Option<BankEvent> {
        if let Some(e) = self.queue.pop_front() {
            return Some(e);
        }
        let ev = match &mut self.inner {
            Inner::Text(t) => t.next(),
            Inner::Zip(z) => z.next(),
            Inner::Done(it) => it.next(),
        };
        match ev {
            Some(mut ev) => {
                if let BankEvent::Statement(s) = &mut ev {
                    self.statements += 1;
                    s.position = self.statements;
                }
                self.checker.observe(&ev, &mut self.queue);
                Some(ev)
            }
            None => {
                self.checker.finish(&mut self.queue);
                self.queue.pop_front()
            }
        }
    }
}

impl<R: BufRead> BankStream<R> {
    fn of(inner: Inner<R>) -> Self {
        BankStream {
            inner,
            checker: checks::Checker::default(),
            queue: VecDeque::new(),
            statements: 0,
            findings: 0,
            unlisted: 0,
            ended: false,
        }
    }

    fn failed(rule: &str, msg: String) -> Self {
        let d = Diagnostic::new(Severity::Fatal, rule, "/", msg);
        Self::of(Inner::Done(vec![BankEvent::Diagnostic(d)].into_iter()))
    }
}

fn open_stream<R: BufRead>(
    mut reader: R,
    format: Option<BankFormat>,
    file: Option<std::fs::File>,
) -> BankStream<R> {
    let head = match input::read_head(&mut reader) {
        Ok(h) => h,
        Err(e) => return BankStream::failed("BANK-IO", format!("cannot read: {e}")),
    };
    if zip::is_zip(&head.bytes) {
        let archive: Arc<dyn zip::Archive> = match file {
            // In a file: read at offsets, never held.
            Some(f) => match zip::FileArchive::new(f) {
                Ok(a) => Arc::new(a),
                Err(e) => return BankStream::failed("BANK-IO", format!("cannot read: {e}")),
            },
            None => {
                let mut all = head.bytes;
                if let Err(e) = reader
                    .take(zip::MAX_ARCHIVE + 1 - all.len() as u64)
                    .read_to_end(&mut all)
                {
                    return BankStream::failed("BANK-IO", format!("cannot read: {e}"));
                }
                if all.len() as u64 > zip::MAX_ARCHIVE {
                    return BankStream::failed(
                        "BANK-ZIP",
                        format!("ZIP archive over {} bytes: refused", zip::MAX_ARCHIVE),
                    );
                }
                Arc::new(zip::MemArchive(Arc::from(all)))
            }
        };
        return match ZipStream::new(archive) {
            Ok(z) => BankStream::of(Inner::Zip(Box::new(z))),
            Err(msg) => BankStream::failed("BANK-ZIP", msg),
        };
    }
    match TextStream::open(head, reader, format, None) {
        Ok((_, notes, t)) => {
            let mut s = BankStream::of(Inner::Text(Box::new(t)));
            s.queue.extend(notes);
            s
        }
        Err(events) => BankStream::of(Inner::Done(events.into_iter())),
    }
}

/// Streams a bank file from `reader`, in constant memory whatever its format and size (a ZIP
/// archive is held whole, up to 512 MiB, its members inflated as they are read: use
/// [`parse_reader_at`] when the file itself is at hand). `file_name` does not influence
/// parsing (the content decides the format); it is taken for symmetry with [`parse`].
/// Convert streamed entries with [`receipts_for_entry`], or use [`receipt_batches`] for
/// receipts with their deduplication keys in bounded batches.
pub fn parse_reader<R: BufRead>(file_name: &str, reader: R) -> BankStream<R> {
    let _ = file_name;
    open_stream(reader, None, None)
}

/// As [`parse_reader`], for a reader of the start of `file`: when the content is a ZIP
/// archive, its directory and members are read from `file` at their offsets (positional
/// reads, which leave the file's offset where `reader` put it), so the archive is never held
/// in memory whatever its size; any other format streams from `reader` alone.
pub fn parse_reader_at<R: BufRead>(
    file_name: &str,
    reader: R,
    file: std::fs::File,
) -> BankStream<R> {
    let _ = file_name;
    open_stream(reader, None, Some(file))
}

/// Parses a whole bank file held in memory. Never fails: problems are diagnostics, and a file
/// that cannot be used at all carries a `Fatal` one with the reason.
pub fn parse(file_name: &str, bytes: &[u8]) -> BankFile {
    collect(file_name, parse_reader(file_name, bytes))
}

/// Parses a file whose format is already known (no detection): the camt reader accepts any
/// of the three camt messages; a wrong format gives the parser's own fatal reason.
pub fn parse_as(format: BankFormat, file_name: &str, bytes: &[u8]) -> BankFile {
    collect(file_name, open_stream(bytes, Some(format), None))
}

/// The raw events of `bytes` read as `format` (no checks): what the per-format
/// `parse_events` functions return.
pub(crate) fn events_of(format: BankFormat, bytes: &[u8]) -> Vec<BankEvent> {
    let head = input::Head {
        bytes: bytes[..bytes.len().min(input::HEAD_BYTES)].to_vec(),
        complete: bytes.len() <= input::HEAD_BYTES,
    };
    let rest = &bytes[head.bytes.len()..];
    match TextStream::open(head, rest, Some(format), None) {
        Ok((_, mut notes, mut t)) => {
            while let Some(e) = t.next() {
                notes.push(e);
            }
            notes
        }
        Err(events) => events,
    }
}

/// Gathers streamed events into a [`BankFile`].
pub fn collect<I: Iterator<Item = BankEvent>>(file_name: &str, events: I) -> BankFile {
    let mut bf = BankFile {
        file: file_name.to_owned(),
        ..BankFile::default()
    };
    for ev in events {
        match ev {
            BankEvent::Format { format, message } => {
                if bf.format.is_none() {
                    bf.format = Some(format);
                    bf.message = Some(message);
                }
            }
            BankEvent::Statement(s) => {
                let mut s = s;
                s.position = bf.statements.len() + 1;
                bf.statements.push(s);
            }
            BankEvent::Entry(e) => {
                if bf.statements.is_empty() {
                    bf.statements.push(Statement {
                        position: 1,
                        ..Statement::default()
                    });
                }
                if let Some(s) = bf.statements.last_mut() {
                    s.entries.push(e);
                }
            }
            BankEvent::StatementEnd { late_balances } => {
                if let Some(s) = bf.statements.last_mut() {
                    s.balances.extend(late_balances);
                }
            }
            BankEvent::Diagnostic(d) => bf.diagnostics.push(d),
        }
    }
    bf
}

/// True when the file can be imported: no fatal diagnostic and at least one statement.
pub fn is_usable(file: &BankFile) -> bool {
    is_usable_summary(has_fatal(&file.diagnostics), file.statements.len())
}

/// [`is_usable`] from what a streamed reading counted.
pub(crate) fn is_usable_summary(fatal: bool, statements: usize) -> bool {
    !fatal && statements > 0
}

/// Which party is the counterparty: the debtor for credits and reversals (returns of our
/// collections), the creditor for ordinary debits; the other one when that one is empty.
fn counterparty(e: &Entry, d: &TxDetail) -> (Option<String>, Option<String>) {
    let debtor_first = e.credit_debit == CreditDebit::Credit || e.reversal;
    let (first, first_ult, second, second_ult) = if debtor_first {
        (
            &d.debtor,
            &d.ultimate_debtor,
            &d.creditor,
            &d.ultimate_creditor,
        )
    } else {
        (
            &d.creditor,
            &d.ultimate_creditor,
            &d.debtor,
            &d.ultimate_debtor,
        )
    };
    let pick =
        |p: &Party, u: &Option<String>| (p.name.clone().or_else(|| u.clone()), p.iban.clone());
    if !first.is_empty() || first_ult.is_some() {
        pick(first, first_ult)
    } else {
        pick(second, second_ult)
    }
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(&h.finalize()[..8])
}

/// The receipt id of an entry (`detail` = `None`) or of one of its details, and whether it
/// was derived by relance (true) rather than given by the bank.
///
/// An entry holding exactly one transaction detail is named like that detail: the detail's
/// `Refs/AcctSvcrRef` comes first (the `reconcile` output contract), whether or not the
/// detail is passed.
pub fn receipt_id(stmt: &Statement, e: &Entry, detail: Option<&TxDetail>) -> (String, bool) {
    if let Some(r) = detail
        .or(e.single_detail())
        .and_then(|d| d.acct_svcr_ref.as_deref())
    {
        return (r.to_owned(), false);
    }
    if let Some(r) = e.acct_svcr_ref.as_deref().or(e.ntry_ref.as_deref()) {
        return match detail {
            Some(d) if e.details.len() > 1 => (format!("{r}#{}", d.position), false),
            _ => (r.to_owned(), false),
        };
    }
    let dpos = detail.map_or(0, |d| d.position).to_string();
    let h = short_hash(&[
        stmt.account.as_deref().unwrap_or(""),
        stmt.id.as_deref().unwrap_or(""),
        &stmt.position.to_string(),
        &e.position.to_string(),
        &dpos,
    ]);
    (format!("RLC-{h}"), true)
}

/// One receipt with its deduplication key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedReceipt {
    /// Deterministic key, stable across re-imports and overlapping files ([`dedup_key`]).
    pub key: String,
    /// The receipt.
    pub receipt: Receipt,
}

/// The French bank code (code banque, IBAN positions 5–9) of Qonto (Olinda SAS) [mem: verify
/// on the first real Qonto IBAN].
pub const QONTO_BANK_CODE: &str = "16958";

/// True when receipts of `account` are keyed by the movement alone ([`movement_basis`]): an
/// account read through two channels that name a movement differently. That is a Qonto
/// account (FR or MC IBAN with Qonto's bank code): its movements come both from the Qonto API
/// (`systems::qonto`, ids are Qonto's UUIDs) and from the camt.053 statements Qonto exports,
/// whose references are not documented to be those UUIDs.
pub fn movement_keyed(account: &str) -> bool {
    let a: String = account
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    (a.starts_with("FR") || a.starts_with("MC")) && a.get(4..9) == Some(QONTO_BANK_CODE)
}

/// The basis of a movement's key on an account of [`movement_keyed`]: what both channels give
/// the same way — the account's IBAN (upper case, no blanks), the booking date (Qonto: the
/// date of `settled_at` in Paris time, the statement's `BookgDt`), the signed amount and the
/// currency. Labels, references and counterparty fields are left out: the API and the camt
/// export word them differently. Two movements alike in all four are told apart by their
/// occurrence number, counted the same way on both sides (the n-th of the day with that
/// amount, [`dedup_key`]).
pub fn movement_basis(r: &Receipt) -> String {
    let account: String = r
        .account
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    [
        "M",
        account.as_str(),
        &r.booking_date.to_string(),
        &r.amount.normalize().to_string(),
        r.currency.as_str(),
    ]
    .join("\u{1f}")
}

/// What the key of a statement file's receipt is built from, counted over the whole file
/// ([`Keyer`]): on an account read through two channels ([`movement_keyed`]) the movement
/// alone ([`movement_basis`]), else [`key_basis`].
pub fn file_key_basis(r: &Receipt, bank_id: bool) -> String {
    if movement_keyed(&r.account) {
        movement_basis(r)
    } else {
        key_basis(r, bank_id)
    }
}

/// What a deduplication key is built from (see the module docs): the bank's id when it gave
/// one (`bank_id`), else the booking content. (A receipt a source hands over without a key,
/// counted within its page, keeps its bank id in the key, whatever its account: the movement
/// alone, counted per page, would merge two like movements of one day on two pages.)
pub fn key_basis(r: &Receipt, bank_id: bool) -> String {
    let amount = r.amount.normalize().to_string();
    // The booking date is part of both bases: an intraday report and the end-of-day statement
    // book an entry on the same date, while a reference chosen by the customer (MT940
    // customer reference, an invoice number) can come back on another day for another payment.
    let date = r.booking_date.to_string();
    if bank_id {
        [
            "B",
            r.account.as_str(),
            r.id.as_str(),
            date.as_str(),
            amount.as_str(),
            r.currency.as_str(),
        ]
        .join("\u{1f}")
    } else {
        [
            "C",
            r.account.as_str(),
            date.as_str(),
            amount.as_str(),
            r.currency.as_str(),
            r.counterparty_iban.as_deref().unwrap_or(""),
            r.counterparty_name.as_deref().unwrap_or(""),
            r.remittance.as_str(),
            r.end_to_end_id.as_deref().unwrap_or(""),
        ]
        .join("\u{1f}")
    }
}

/// The deduplication key: a hash of [`key_basis`] and the 1-based `occurrence` of that basis
/// in the file.
pub fn dedup_key(basis: &str, occurrence: usize) -> String {
    let occ = occurrence.to_string();
    let mut h = Sha256::new();
    h.update(basis.as_bytes());
    h.update([0x1e]);
    h.update(occ.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Gives receipts their deduplication keys in file order, counting the occurrences of each
/// [`key_basis`]: the keys [`BankFile::keyed_receipts`] and [`receipt_batches`] give. It keeps
/// one 64-bit hash per distinct basis (9 to 18 bytes per receipt, whatever the size of the
/// receipts), hashed with keys drawn for this file so that no file can be built to make two
/// bases collide.
#[derive(Debug, Default)]
pub struct Keyer {
    hasher: std::collections::hash_map::RandomState,
    seen: seen::Seen,
    repeated: HashMap<u64, u32>,
}

impl Keyer {
    /// The receipt with its key; `derived` when relance made its id (see [`receipt_id`]).
    pub fn key(&mut self, receipt: Receipt, derived: bool) -> KeyedReceipt {
        use std::hash::BuildHasher;
        let basis = file_key_basis(&receipt, !derived);
        let h = self.hasher.hash_one(&basis);
        let n = if self.seen.insert(h) {
            1
        } else {
            let c = self.repeated.entry(h).or_insert(1);
            *c += 1;
            *c
        };
        KeyedReceipt {
            key: dedup_key(&basis, n as usize),
            receipt,
        }
    }
}

impl BankFile {
    /// Every booked entry (or, for batches, every transaction detail) as a receipt, with its
    /// deduplication key. Entries that are pending or information only (`PDNG`, `INFO`) are
    /// not receipts; entries without any date or with an unusable currency are left out
    /// (the checks report them as `BANK-DATE` / `BANK-CURRENCY` errors).
    pub fn keyed_receipts(&self) -> Vec<KeyedReceipt> {
        let mut out = Vec::new();
        let mut keyer = Keyer::default();
        for s in &self.statements {
            for e in &s.entries {
                if !e.is_booked() {
                    continue;
                }
                for (r, derived) in receipts_for_entry(&self.file, s, e) {
                    out.push(keyer.key(r, derived));
                }
            }
        }
        out
    }

    /// Every booked entry or transaction detail as a receipt (see [`BankFile::keyed_receipts`]).
    pub fn receipts(&self) -> Vec<Receipt> {
        self.keyed_receipts()
            .into_iter()
            .map(|k| k.receipt)
            .collect()
    }
}

/// The receipts of one entry of a statement of file `file_name` (one per transaction detail
/// of a batch whose details all carry an amount, else one for the entry), each with `true`
/// when its id was derived by relance rather than given by the bank. Pending and
/// information-only entries give receipts too: the caller filters on [`Entry::is_booked`].
/// This is the conversion to use on the streamed path ([`parse_reader`]), entry by entry.
pub fn receipts_for_entry(file_name: &str, s: &Statement, e: &Entry) -> Vec<(Receipt, bool)> {
    let Some(booking_date) = e.booking_date.or(e.value_date) else {
        return Vec::new();
    };
    let ccy_text = e.currency.as_deref().or(s.effective_currency());
    let Some(entry_ccy) = ccy_text.and_then(|c| Currency::parse(c).ok()) else {
        return Vec::new();
    };
    let account = s.account.clone().unwrap_or_default();
    let split = e.details.len() > 1 && e.details.iter().all(|d| d.amount.is_some());
    let make = |d: Option<&TxDetail>, amount, currency| {
        let (id, derived) = receipt_id(s, e, d);
        let empty = TxDetail::default();
        let dd = d.or(e.single_detail()).unwrap_or(&empty);
        let (name, iban) = counterparty(e, dd);
        let mut remittance = if !dd.remittance.is_empty() {
            dd.remittance.clone()
        } else {
            dd.additional_info
                .clone()
                .or_else(|| e.additional_info.clone())
                .unwrap_or_default()
        };
        // An RF reference whose ISO 11649 check digits fail is a typo: the reconciler trusts
        // structured references, so it is not passed as one; it stays visible in the text
        // (the BANK-RF finding says so).
        let structured_ref = match dd.structured_ref.as_deref() {
            Some(r) if rf::check_rf(r) == rf::RfCheck::Invalid => {
                if !remittance.is_empty() {
                    remittance.push(' ');
                }
                remittance.push_str(r);
                None
            }
            other => other.map(str::to_owned),
        };
        let source = match d {
            Some(d) if split => format!(
                "{}#stmt{}/entry{}/detail{}",
                file_name, s.position, e.position, d.position
            ),
            _ => format!("{}#stmt{}/entry{}", file_name, s.position, e.position),
        };
        let r = Receipt {
            id: TransactionId::new(id),
            account: account.clone(),
            booking_date,
            value_date: e.value_date,
            amount,
            currency,
            counterparty_name: name,
            counterparty_iban: iban,
            remittance,
            structured_ref,
            end_to_end_id: dd.end_to_end_id.clone(),
            mandate_id: dd.mandate_id.clone(),
            bank_code: dd.bank_code.clone().or_else(|| e.bank_code.clone()),
            return_reason: dd.return_reason.clone(),
            reversal: e.reversal,
            source,
        };
        (r, derived)
    };
    if split {
        e.details
            .iter()
            .map(|d| {
                let amt = d.amount.unwrap_or_default();
                let signed = d.credit_debit.unwrap_or(e.credit_debit).signed(amt);
                let ccy = d
                    .currency
                    .as_deref()
                    .and_then(|c| Currency::parse(c).ok())
                    .unwrap_or(entry_ccy);
                make(Some(d), signed, ccy)
            })
            .collect()
    } else {
        vec![make(None, e.signed_amount(), entry_ccy)]
    }
}

/// Filters receipts against the keys already imported; the caller persists the keys.
#[derive(Clone, Debug, Default)]
pub struct Dedup {
    known: HashSet<String>,
}

impl Dedup {
    /// A filter that knows these keys.
    pub fn new<I: IntoIterator<Item = String>>(known: I) -> Self {
        Self {
            known: known.into_iter().collect(),
        }
    }

    /// True when the key was seen.
    pub fn is_known(&self, key: &str) -> bool {
        self.known.contains(key)
    }

    /// Keeps only the receipts whose key is new, and remembers those keys (so the same
    /// receipts offered again are dropped).
    pub fn filter(&mut self, receipts: Vec<KeyedReceipt>) -> Vec<KeyedReceipt> {
        receipts
            .into_iter()
            .filter(|k| self.known.insert(k.key.clone()))
            .collect()
    }

    /// The keys known so far.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(String::as_str)
    }
}

fn opt_str<T: ToString>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |x| Value::String(x.to_string()))
}

fn detail_json(s: &Statement, e: &Entry, d: &TxDetail) -> Value {
    let (name, iban) = counterparty(e, d);
    let cd = d.credit_debit.unwrap_or(e.credit_debit);
    json!({
        "id": receipt_id(s, e, Some(d)).0,
        "amount": opt_str(d.amount.map(|a| cd.signed(a))),
        "currency": d.currency,
        "credit_debit": cd.as_str(),
        "counterparty": {"name": name, "iban": iban},
        "ultimate_debtor": d.ultimate_debtor,
        "remittance": d.remittance,
        "structured_ref": d.structured_ref,
        "structured_ref_check": d.structured_ref.as_deref().map(|r| match rf::check_rf(r) {
            rf::RfCheck::NotRf => "not_rf",
            rf::RfCheck::Valid => "rf_valid",
            rf::RfCheck::Invalid => "rf_invalid",
        }),
        "end_to_end_id": d.end_to_end_id,
        "mandate_id": d.mandate_id,
        "return_reason": d.return_reason,
        "charges": opt_str(d.charges),
    })
}

/// The JSON shape `relance inspect` prints: amounts are decimal strings, signed (debits
/// negative) beside their `credit_debit` indicator; dates are ISO `YYYY-MM-DD`. Entry-level
/// counterparty, remittance and references come from the entry's only detail; for batches
/// they are in `details`.
pub fn inspect_json(file: &BankFile) -> Value {
    let statements: Vec<Value> = file
        .statements
        .iter()
        .map(|s| {
            let entries: Vec<Value> = s.entries.iter().map(|e| entry_json(s, e)).collect();
            let mut v = statement_json(s);
            v["entries"] = Value::Array(entries);
            v
        })
        .collect();
    json!({
        "file": file.file,
        "format": file.format.map(BankFormat::as_str),
        "statements": statements,
        "diagnostics": file.diagnostics,
    })
}

/// The JSON of one statement without its entries (`account`, `currency`, balances).
pub(crate) fn statement_json(s: &Statement) -> Value {
    json!({
        "account": s.account,
        "currency": s.effective_currency(),
        "opening_balance": opt_str(s.opening_balance().map(|b| b.amount)),
        "closing_balance": opt_str(s.closing_balance().map(|b| b.amount)),
    })
}

/// The JSON of one entry of statement `s` (shape documented at [`inspect_json`]).
pub(crate) fn entry_json(s: &Statement, e: &Entry) -> Value {
    let empty = TxDetail::default();
    let d = e.single_detail().unwrap_or(&empty);
    let (name, iban) = counterparty(e, d);
    let remittance = if d.remittance.is_empty() {
        e.additional_info.clone().unwrap_or_default()
    } else {
        d.remittance.clone()
    };
    json!({
        "id": receipt_id(s, e, None).0,
        "booking_date": opt_str(e.booking_date),
        "value_date": opt_str(e.value_date),
        "amount": e.signed_amount().to_string(),
        "credit_debit": e.credit_debit.as_str(),
        "reversal": e.reversal,
        "counterparty": {"name": name, "iban": iban},
        "remittance": remittance,
        "structured_ref": d.structured_ref,
        "end_to_end_id": d.end_to_end_id,
        "bank_code": e.bank_code,
        "return_reason": d.return_reason,
        "details": e.details.iter().map(|d| detail_json(s, e, d)).collect::<Vec<_>>(),
    })
}

/// One entry as a line of [`render_text`].
pub(crate) fn entry_line(s: &Statement, e: &Entry) -> String {
    let ccy = s.effective_currency().unwrap_or("");
    let d = e.single_detail();
    let (name, _) = d.map_or((None, None), |d| counterparty(e, d));
    let rem = d
        .map(|d| d.remittance.as_str())
        .filter(|r| !r.is_empty())
        .or(e.additional_info.as_deref());
    format!(
        "    {:>4} {} {:>14} {}{}{} {} | {} | {}\n",
        e.position,
        e.booking_date
            .map_or("----------".to_owned(), |d| d.to_string()),
        e.signed_amount().to_string(),
        e.currency.as_deref().unwrap_or(ccy),
        if e.reversal { " REVERSAL" } else { "" },
        if e.details.len() > 1 {
            format!(" batch of {}", e.details.len())
        } else {
            String::new()
        },
        receipt_id(s, e, None).0,
        name.unwrap_or_default(),
        rem.unwrap_or("")
    )
}

/// A human-readable rendering: one block per statement, one line per entry, then findings.
pub fn render_text(file: &BankFile) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} ({}), {} statement(s), usable: {}",
        file.file,
        file.format.map_or("unknown format", BankFormat::as_str),
        file.message.as_deref().unwrap_or("-"),
        file.statements.len(),
        if is_usable(file) { "yes" } else { "no" }
    );
    for s in &file.statements {
        let ccy = s.effective_currency().unwrap_or("");
        let _ = writeln!(
            out,
            "  statement {} {} account {} {}: opening {} closing {}, {} entries",
            s.position,
            s.id.as_deref().unwrap_or("-"),
            s.account.as_deref().unwrap_or("-"),
            ccy,
            s.opening_balance()
                .map_or("-".to_owned(), |b| b.amount.to_string()),
            s.closing_balance()
                .map_or("-".to_owned(), |b| b.amount.to_string()),
            s.entries.len()
        );
        for e in &s.entries {
            out.push_str(&entry_line(s, e));
        }
    }
    for d in &file.diagnostics {
        let _ = writeln!(
            out,
            "  {:?} {} at {}: {}",
            d.severity, d.rule, d.path, d.message
        );
    }
    out
}

#[cfg(test)]
mod movement_tests {
    use super::*;
    use chrono::NaiveDate;

    fn receipt(account: &str, id: &str, remittance: &str) -> Receipt {
        Receipt {
            id: TransactionId::new(id),
            account: account.to_owned(),
            booking_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            value_date: None,
            amount: rust_decimal::Decimal::new(10000, 2),
            currency: Currency::parse("EUR").unwrap(),
            counterparty_name: Some("CLIENT A".into()),
            counterparty_iban: None,
            remittance: remittance.to_owned(),
            structured_ref: None,
            end_to_end_id: None,
            mandate_id: None,
            bank_code: None,
            return_reason: None,
            reversal: false,
            source: String::new(),
        }
    }

    #[test]
    fn qonto_accounts_are_keyed_by_the_movement_alone() {
        assert!(movement_keyed("FR76 1695 8000 0101 2345 6789 012"));
        assert!(movement_keyed("fr7616958000010123456789012"));
        assert!(movement_keyed("MC5816958000010123456789012"));
        assert!(!movement_keyed("FR7630004000031234567890143"));
        assert!(!movement_keyed("DE89370400440532013000"));
        // a Qonto account: the bank's id and the texts do not change the key
        let a = receipt("FR76 1695 8000 0101 2345 6789 012", "QNT-EXPORT-1", "F1");
        let b = receipt(
            "FR7616958000010123456789012",
            "7f3c-uuid",
            "VIR F1 CLIENT A",
        );
        assert_eq!(file_key_basis(&a, true), file_key_basis(&b, true));
        assert_eq!(file_key_basis(&a, true), file_key_basis(&b, false));
        assert_eq!(file_key_basis(&a, true), movement_basis(&b));
        // another bank: the bank's id still counts
        let c = receipt("FR7630004000031234567890143", "X1", "F1");
        let d = receipt("FR7630004000031234567890143", "X2", "F1");
        assert_ne!(file_key_basis(&c, true), file_key_basis(&d, true));
        // a receipt handed over without a key keeps its id in its key, on any account
        assert_ne!(key_basis(&a, true), key_basis(&b, true));
    }
}
