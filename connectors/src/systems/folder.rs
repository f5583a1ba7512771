//! Folder sources (`einvoice_inbox`, `bank_dir`): files dropped in a folder become pages of
//! records, and each file is moved to `done/` (or to `quarantine/` with a `.reason.txt`) only
//! once the page that carries it is committed ([`Source::ack`]).
//!
//! A pass over the folder:
//! 1. **Listing.** Regular files at the top level only. Symbolic links, FIFOs, sockets,
//!    devices and sub-folders are not read and are reported once ([`Page::skipped`]); names a
//!    writer uses while a file is incomplete (`.part`, `.tmp`, hidden files...) are left alone.
//!    `done/` or `quarantine/` being a symbolic link (or not a folder) stops the pass: files
//!    are never moved out of the inbox through a link.
//! 2. **Settling.** A file is read only once its size, modification time and inode have been
//!    observed unchanged for the settle time ([`FolderOptions::settle`]); a pass that meets new
//!    files waits that long once. A file that changes while it is read is left for the next
//!    pass.
//! 3. **Reading and parsing** on a pool of threads (`spawn_blocking`), never on the async
//!    workers: bounded batches of at most [`FolderOptions::batch_files`] files or
//!    [`FolderOptions::batch_bytes`] bytes, each one page.
//! 4. **Deciding**, in name order: a content hash already imported (the [`ImportLedger`]) or
//!    already in this pass adds nothing and the file goes to `done/`; an unusable file is
//!    quarantined with the reason (file, element or line, rule id); an invoice whose number
//!    was already imported with another customer or amount keeps the first version, and the
//!    new file is quarantined with both versions named (rule `INV-CONFLICT`).
//!
//! A file's [`ImportedFile`] and its [`Ack`] travel with the page that completes it.
//!
//! # Big bank files, in bounded memory
//! A bank file is read as a stream ([`bank::receipt_batches`]), never whole. A first reading
//! hashes it and checks it (a file that turns out unusable at its end, a camt cut short,
//! is refused before anything of it is committed) while keeping at most [`STREAM_RECEIPTS`] receipts;
//! a file with more is read a second time, on a thread of its own, and handed over in pages of
//! at most [`STREAM_RECEIPTS`] receipts ([`Record::BankEntry`], keyed over the whole file), each
//! acknowledged after its commit; only the page after the last one carries the file's
//! `ImportedFile` and `Ack`. A page not committed starts the pass over: the file is read again
//! from its start and the store's deduplication keys drop what was already committed.

use crate::contract::{Ack, Cursor, ImportedFile, Page, Record, Skipped, Source};
use crate::error::ConnectorError;
use crate::formats::bank;
use crate::formats::diag::{Diagnostic, Severity};
use crate::formats::einvoice;
use relance_core::{Customer, Invoice, InvoiceId};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolderKind {
    /// E-invoices (Factur-X/ZUGFeRD PDF, CII, UBL).
    Einvoices,
    /// Bank statements (camt.052/053/054, MT940, CFONB120, OFX).
    Bank,
}

/// Limits of a folder source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderOptions {
    /// How long a file must stay unchanged (size, modification time, inode) before it is read.
    pub settle: Duration,
    /// Largest file read; a bigger one is quarantined, never half-read.
    pub max_file_bytes: u64,
    /// At most this many files in one page.
    pub batch_files: usize,
    /// At most about this many bytes of input in one page.
    pub batch_bytes: u64,
    /// Threads reading and parsing one batch.
    pub workers: usize,
}

/// Default settle time.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(3);

impl Default for FolderOptions {
    /// Settle 3 s, files up to 512 MiB, pages of 256 files or 32 MiB, up to 4 threads.
    fn default() -> Self {
        FolderOptions {
            settle: DEFAULT_SETTLE,
            max_file_bytes: 512 * 1024 * 1024,
            batch_files: 256,
            batch_bytes: 32 * 1024 * 1024,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        }
    }
}

/// What the store already knows, for a folder source to decide before it hands records over.
/// Implemented by the binary over its store; calls may block (they run on the blocking pool).
pub trait ImportLedger: Send + Sync {
    /// True when a file with this content hash (hex SHA-256) was already imported.
    fn seen(&self, hash: &str) -> Result<bool, ConnectorError>;
    /// The invoice stored under `id`, if any.
    fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, ConnectorError>;
}

/// A folder source. One per configured folder and configuration generation: it remembers the
/// files it has observed (for the settle time) and the entries it has already reported.
pub struct FolderSource {
    dir: PathBuf,
    kind: FolderKind,
    opts: FolderOptions,
    ledger: Arc<dyn ImportLedger>,
    /// Last observation of each file: its signature and when it was first seen so.
    observed: HashMap<PathBuf, (Sig, tokio::time::Instant)>,
    /// Files of the pass in progress, not yet read.
    queue: VecDeque<(PathBuf, Sig)>,
    in_pass: bool,
    /// What to do with each file once its page is acknowledged.
    pending: HashMap<Ack, (PathBuf, Disposition)>,
    /// True between returning a page with acks and its `ack`.
    awaiting_ack: bool,
    /// Hashes and invoices taken in this pass (committed or not yet), by file name.
    pass_hashes: HashSet<String>,
    pass_invoices: HashMap<InvoiceId, (Invoice, String)>,
    /// Entries already reported as skipped (reported once per source).
    reported: HashSet<String>,
    /// The next batch, read and parsed on the blocking pool while the pipeline commits the
    /// page before it.
    prefetch: Option<Prefetch>,
    /// Checked bank files too big for one page, waiting to be streamed.
    streams: VecDeque<StreamJob>,
    /// The bank file being streamed, page by page.
    streaming: Option<Streaming>,
}

/// Most receipts of one bank file kept in memory, and most receipts of one streamed page.
pub const STREAM_RECEIPTS: usize = 5_000;

/// A checked bank file to hand over in several pages.
struct StreamJob {
    path: PathBuf,
    sig: Sig,
    hash: String,
}

/// What the thread streaming a bank file sends.
enum StreamMsg {
    Batch(Vec<bank::KeyedReceipt>),
    /// The file was read to its end: its hash, or why it cannot be trusted (changed since it
    /// was checked, unreadable).
    End(Result<String, String>),
}

/// A bank file being streamed: the job and the receiving end of its reader thread (dropped to
/// stop the thread).
struct Streaming {
    job: StreamJob,
    rx: tokio::sync::mpsc::Receiver<StreamMsg>,
    pages: usize,
}

/// A batch being read ahead.
struct Prefetch {
    files: Vec<(PathBuf, Sig)>,
    reads: tokio::task::JoinHandle<Vec<FileRead>>,
}

impl std::fmt::Debug for FolderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderSource")
            .field("dir", &self.dir)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What identifies a file's state: size, modification time, inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sig {
    len: u64,
    mtime: Option<SystemTime>,
    ino: u64,
}

impl Sig {
    fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Sig {
            len: m.len(),
            mtime: m.modified().ok(),
            ino: m.ino(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Disposition {
    Done,
    Quarantine(String),
}

/// Sub-folder of imported files.
pub const DONE: &str = "done";
/// Sub-folder of unusable files, each beside its `.reason.txt`.
pub const QUARANTINE: &str = "quarantine";
/// Suffix of the file explaining a quarantined file.
pub const REASON_SUFFIX: &str = ".reason.txt";
/// Longest file name the file systems relance runs on accept (bytes).
const NAME_MAX: usize = 255;

/// True for names a writer uses while the file is incomplete, and for hidden files.
pub fn is_partial(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('~')
        || [".part", ".tmp", ".crdownload", ".filepart", REASON_SUFFIX]
            .iter()
            .any(|s| name.ends_with(s))
}

impl FolderSource {
    /// A source reading `dir` (created at the first pass when missing).
    pub fn new(
        dir: impl Into<PathBuf>,
        kind: FolderKind,
        opts: FolderOptions,
        ledger: Arc<dyn ImportLedger>,
    ) -> Self {
        FolderSource {
            dir: dir.into(),
            kind,
            opts,
            ledger,
            observed: HashMap::new(),
            queue: VecDeque::new(),
            in_pass: false,
            pending: HashMap::new(),
            awaiting_ack: false,
            pass_hashes: HashSet::new(),
            pass_invoices: HashMap::new(),
            reported: HashSet::new(),
            prefetch: None,
            streams: VecDeque::new(),
            streaming: None,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn reset_pass(&mut self) {
        // A batch read ahead for an abandoned pass is dropped (read again in the next one).
        self.prefetch = None;
        self.streams.clear();
        self.streaming = None;
        self.queue.clear();
        self.pending.clear();
        self.pass_hashes.clear();
        self.pass_invoices.clear();
        self.in_pass = false;
        self.awaiting_ack = false;
    }

    /// Lists the folder, waits for new files to settle, and queues the settled ones.
    async fn start_pass(&mut self, skipped: &mut Vec<Skipped>) -> Result<(), ConnectorError> {
        self.reset_pass();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || check_layout(&dir))
            .await
            .map_err(|e| ConnectorError::transient(format!("folder task: {e}")))??;
        let mut listing = self.list().await?;
        let now = tokio::time::Instant::now();
        // Files not yet observed unchanged for the settle time: wait once for the longest.
        let wait = listing
            .files
            .iter()
            .map(|(p, sig)| match self.observed.get(p) {
                Some((s, since)) if s == sig => {
                    self.opts.settle.saturating_sub(now.duration_since(*since))
                }
                _ => self.opts.settle,
            })
            .max()
            .unwrap_or(Duration::ZERO);
        for (p, sig) in &listing.files {
            match self.observed.get(p) {
                Some((s, _)) if s == sig => {}
                _ => {
                    self.observed.insert(p.clone(), (*sig, now));
                }
            }
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            listing = self.list().await?;
        }
        let now = tokio::time::Instant::now();
        let present: HashSet<PathBuf> = listing.files.iter().map(|(p, _)| p.clone()).collect();
        self.observed.retain(|p, _| present.contains(p));
        for (p, sig) in listing.files {
            match self.observed.get(&p) {
                Some((s, since)) if *s == sig && now.duration_since(*since) >= self.opts.settle => {
                    self.queue.push_back((p, sig));
                }
                Some((s, _)) if *s == sig => {} // still settling (seen during the wait)
                _ => {
                    // Changed during the wait: still being written.
                    tracing::debug!(file = %p.display(), "still changing, left for the next pass");
                    self.observed.insert(p, (sig, now));
                }
            }
        }
        for s in listing.skipped {
            if self.reported.insert(s.entry.clone()) {
                tracing::warn!(dir = %self.dir.display(), entry = %s.entry, "not read: {}", s.reason);
                skipped.push(s);
            }
        }
        self.in_pass = true;
        Ok(())
    }

    async fn list(&self) -> Result<Listing, ConnectorError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || list(&dir))
            .await
            .map_err(|e| ConnectorError::transient(format!("folder task: {e}")))?
    }

    /// Takes the next batch of the queue.
    fn next_batch(&mut self) -> Vec<(PathBuf, Sig)> {
        let mut out = Vec::new();
        let mut bytes = 0u64;
        while let Some((p, sig)) = self.queue.front() {
            if out.len() >= self.opts.batch_files.max(1)
                || (!out.is_empty() && bytes + sig.len > self.opts.batch_bytes)
            {
                break;
            }
            bytes += sig.len;
            out.push((p.clone(), *sig));
            self.queue.pop_front();
        }
        out
    }
}

impl FolderSource {
    /// True while the pass has pages left.
    fn more(&self) -> bool {
        !self.queue.is_empty()
            || self.prefetch.is_some()
            || !self.streams.is_empty()
            || self.streaming.is_some()
    }

    /// The next page of the bank file being streamed, if any: its next receipts, or, once it
    /// was read to its end, the page that completes it (its hash and ack).
    async fn stream_page(&mut self) -> Option<Page> {
        {
            let mut st = match self.streaming.take() {
                Some(st) => st,
                None => {
                    let job = self.streams.pop_front()?;
                    let rx = spawn_stream(&job);
                    Streaming { job, rx, pages: 0 }
                }
            };
            let mut page = Page::default();
            match st.rx.recv().await {
                Some(StreamMsg::Batch(receipts)) => {
                    st.pages += 1;
                    page.records = receipts
                        .into_iter()
                        .map(|k| Record::BankEntry {
                            key: k.key,
                            receipt: k.receipt,
                        })
                        .collect();
                    // Acknowledged like any page: one not committed starts the pass over.
                    page.acks
                        .push(Ack(format!("{}#{}", st.job.path.display(), st.pages)));
                    self.streaming = Some(st);
                }
                Some(StreamMsg::End(Ok(hash))) if hash == st.job.hash => {
                    let ack = Ack(st.job.path.display().to_string());
                    page.imported.push(ImportedFile {
                        hash,
                        name: name_of(&st.job.path),
                    });
                    page.acks.push(ack.clone());
                    self.pending
                        .insert(ack, (st.job.path.clone(), Disposition::Done));
                }
                end => {
                    let why = match end {
                        Some(StreamMsg::End(Err(why))) => why,
                        _ => "changed since it was checked".to_owned(),
                    };
                    // What was committed of it stays (the store drops it as duplicates when
                    // the file is read again); the file itself is left for the next pass.
                    tracing::warn!(file = %st.job.path.display(), "not completed, left for the next pass: {why}");
                    self.observed.remove(&st.job.path);
                    page.skipped.push(Skipped {
                        entry: name_of(&st.job.path),
                        reason: format!("error: {why} (the file stays and is read again)"),
                    });
                }
            }
            page.has_more = self.more();
            self.awaiting_ack = !page.acks.is_empty();
            if !page.has_more {
                self.in_pass = false;
            }
            Some(page)
        }
    }
}

struct Listing {
    files: Vec<(PathBuf, Sig)>,
    skipped: Vec<Skipped>,
}

fn io_config(what: String) -> ConnectorError {
    ConnectorError::Config(what)
}

/// Refuses a `done/` or `quarantine/` that is a symbolic link or not a folder.
fn check_layout(dir: &Path) -> Result<(), ConnectorError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() || m.file_type().is_symlink() => {}
        Ok(_) => return Err(io_config(format!("{} is not a folder", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| {
                io_config(format!("cannot create the folder {}: {e}", dir.display()))
            })?;
        }
        Err(e) => return Err(ConnectorError::transient(format!("{}: {e}", dir.display()))),
    }
    for sub in [DONE, QUARANTINE] {
        sub_dir(dir, sub, false)?;
    }
    Ok(())
}

/// `dir/sub`, refused when it is a symbolic link or not a folder; created when `create`.
fn sub_dir(dir: &Path, sub: &str, create: bool) -> Result<PathBuf, ConnectorError> {
    let p = dir.join(sub);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_symlink() => Err(io_config(format!(
            "{} is a symbolic link: refusing to move files out of the inbox through it (make it a plain folder)",
            p.display()
        ))),
        Ok(m) if !m.is_dir() => Err(io_config(format!(
            "{} is not a folder: files cannot be moved into it",
            p.display()
        ))),
        Ok(_) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if create {
                match std::fs::create_dir(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return sub_dir(dir, sub, false)
                    }
                    Err(e) => {
                        return Err(ConnectorError::transient(format!(
                            "cannot create {}: {e}",
                            p.display()
                        )))
                    }
                }
            }
            Ok(p)
        }
        Err(e) => Err(ConnectorError::transient(format!("{}: {e}", p.display()))),
    }
}

fn list(dir: &Path) -> Result<Listing, ConnectorError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ConnectorError::transient(format!("cannot list {}: {e}", dir.display())))?;
    for e in rd {
        let e = e.map_err(|e| {
            ConnectorError::transient(format!("cannot list {}: {e}", dir.display()))
        })?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = match e.file_type() {
            Ok(t) => t,
            Err(err) => {
                skipped.push(Skipped {
                    entry: name,
                    reason: format!("cannot read its type: {err}"),
                });
                continue;
            }
        };
        if ft.is_dir() && (name == DONE || name == QUARANTINE) {
            continue;
        }
        if is_partial(&name) {
            continue;
        }
        let why = if ft.is_symlink() {
            Some("a symbolic link: not followed (it could point outside the state directory); copy or move the file itself into the folder")
        } else if ft.is_dir() {
            Some("a sub-folder: only files at the top of the folder are read")
        } else if !ft.is_file() {
            Some("not a regular file (a FIFO, socket or device): not read")
        } else {
            None
        };
        if let Some(reason) = why {
            skipped.push(Skipped {
                entry: name,
                reason: reason.to_owned(),
            });
            continue;
        }
        match std::fs::symlink_metadata(e.path()) {
            Ok(m) => files.push((e.path(), Sig::of(&m))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => skipped.push(Skipped {
                entry: name,
                reason: format!("cannot read its metadata: {err}"),
            }),
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Listing { files, skipped })
}

/// The file name of a path, as text.
fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The reason of an unusable file: its worst findings, with rule and path.
pub fn unusable_reason(file: &str, diags: &[Diagnostic]) -> String {
    let worst: Vec<String> = diags
        .iter()
        .filter(|d| d.severity >= Severity::Error)
        .take(5)
        .map(|d| {
            format!(
                "{file}: {} at {}: {} [{:?}]",
                d.rule, d.path, d.message, d.severity
            )
        })
        .collect();
    if worst.is_empty() {
        format!("{file}: no document could be read from this file")
    } else {
        worst.join("\n")
    }
}

/// What one file gave.
enum FileRead {
    /// It changed while it was read: left for the next pass.
    Unsettled,
    /// It could not be read (it stays where it is).
    Failed(String),
    /// Over the size limit, or unusable: the reason.
    Unusable { reason: String },
    /// Parsed.
    Parsed { hash: String, content: Content },
}

enum Content {
    Invoices(Vec<(Invoice, Customer)>),
    Receipts(Vec<bank::KeyedReceipt>),
    /// A checked bank file with more than [`STREAM_RECEIPTS`] receipts: read again, streamed.
    Stream,
}

/// Opens a file without following a symbolic link and without blocking on a FIFO.
fn open_plain(p: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(p)
}

fn read_one(p: &Path, sig: Sig, kind: FolderKind, max: u64) -> FileRead {
    use std::io::Read as _;
    let name = name_of(p);
    let mut f = match open_plain(p) {
        Ok(f) => f,
        Err(e) => return FileRead::Failed(format!("cannot open: {e}")),
    };
    let meta = match f.metadata() {
        Ok(m) => m,
        Err(e) => return FileRead::Failed(format!("cannot read its metadata: {e}")),
    };
    if !meta.is_file() || Sig::of(&meta) != sig {
        return FileRead::Unsettled;
    }
    // An e-invoice is parsed in memory: one over the parser's own limit is refused unread.
    let max = match kind {
        FolderKind::Einvoices => max.min(einvoice::MAX_BYTES as u64),
        FolderKind::Bank => max,
    };
    if meta.len() > max {
        return FileRead::Unusable {
            reason: format!(
                "{name}: file of {} bytes is over the {max}-byte limit (rule FILE-SIZE)",
                meta.len()
            ),
        };
    }
    if kind == FolderKind::Bank {
        return check_bank(p, f, sig, &name);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    if let Err(e) = f.by_ref().take(max + 1).read_to_end(&mut bytes) {
        return FileRead::Failed(format!("cannot read: {e}"));
    }
    // Changed while read (a writer still at work): the next pass takes it once it settles.
    if !unchanged(p, sig, bytes.len() as u64) {
        return FileRead::Unsettled;
    }
    let hash = hex::encode(Sha256::digest(&bytes));
    let parsed = einvoice::parse(&name, &bytes);
    if !einvoice::is_usable(&parsed) {
        return FileRead::Unusable {
            reason: unusable_reason(&name, &parsed.diagnostics),
        };
    }
    FileRead::Parsed {
        hash,
        content: Content::Invoices(parsed.documents.iter().map(einvoice::to_core).collect()),
    }
}

/// True when `p` still has the signature `sig` and `read` bytes were read of it.
fn unchanged(p: &Path, sig: Sig, read: u64) -> bool {
    matches!(std::fs::symlink_metadata(p), Ok(m) if Sig::of(&m) == sig && read == sig.len)
}

/// The hash and length of what was read of a file so far.
#[derive(Default)]
struct HashWriter {
    hash: Sha256,
    len: u64,
}

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hash.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type HashState = std::sync::Arc<std::sync::Mutex<HashWriter>>;

/// A reader that hashes what goes through it.
struct Hashing<R> {
    inner: R,
    state: HashState,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Write as _;
        let n = self.inner.read(buf)?;
        self.state
            .lock()
            .map_err(|_| std::io::Error::other("hash state poisoned"))?
            .write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Reads a bank file through [`bank::receipt_batches`], calling `each` with every batch (it
/// returns false to stop), then hashes what the parser left unread: the file's hash and
/// length, and the file summary.
fn stream_bank(
    f: std::fs::File,
    name: &str,
    mut each: impl FnMut(bank::ReceiptBatch) -> bool,
) -> std::io::Result<(String, u64, bank::FileSummary)> {
    // A second handle on the same open file shares its offset: once the parser stops, it
    // reads on from where the hashing reader stopped (what sits in the buffer is hashed).
    let mut rest = f.try_clone()?;
    // A third one reads a ZIP archive's members at their offsets (the archive is never held).
    let archive = f.try_clone()?;
    let state = HashState::default();
    let reader = std::io::BufReader::with_capacity(
        256 * 1024,
        Hashing {
            inner: f,
            state: state.clone(),
        },
    );
    let mut batches = bank::receipt_batches_at(name, reader, archive, STREAM_RECEIPTS);
    for b in batches.by_ref() {
        if !each(b) {
            break;
        }
    }
    let summary = batches.summary().clone();
    drop(batches);
    let mut h = std::mem::take(
        &mut *state
            .lock()
            .map_err(|_| std::io::Error::other("hash state poisoned"))?,
    );
    std::io::copy(&mut rest, &mut h)?;
    Ok((hex::encode(h.hash.finalize()), h.len, summary))
}

/// Checks a bank file in one streamed reading: usable or not (with the reason), its hash, and
/// its receipts when there are at most [`STREAM_RECEIPTS`] of them (else it is streamed again
/// once the pass decides to import it).
fn check_bank(p: &Path, f: std::fs::File, sig: Sig, name: &str) -> FileRead {
    let mut kept = Some(Vec::new());
    let mut worst = Vec::new();
    let read = stream_bank(f, name, |b| {
        worst.extend(
            b.diagnostics
                .into_iter()
                .filter(|d| d.severity >= Severity::Error)
                .take(5usize.saturating_sub(worst.len())),
        );
        if let Some(k) = kept.as_mut() {
            if k.len() + b.receipts.len() <= STREAM_RECEIPTS {
                k.extend(b.receipts);
            } else {
                kept = None;
            }
        }
        true
    });
    let (hash, len, summary) = match read {
        Ok(r) => r,
        Err(e) => return FileRead::Failed(format!("cannot read: {e}")),
    };
    if !unchanged(p, sig, len) {
        return FileRead::Unsettled;
    }
    if !summary.usable() {
        return FileRead::Unusable {
            reason: unusable_reason(name, &worst),
        };
    }
    FileRead::Parsed {
        hash,
        content: kept.map_or(Content::Stream, Content::Receipts),
    }
}

/// Streams a checked bank file on a thread of its own, at most two batches ahead of the
/// pages committed; ends with the file's hash (or why it cannot be trusted any more).
fn spawn_stream(job: &StreamJob) -> tokio::sync::mpsc::Receiver<StreamMsg> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let (path, sig) = (job.path.clone(), job.sig);
    let spawned = std::thread::Builder::new()
        .name("relance-bank-stream".to_owned())
        .spawn(move || {
            let end = match open_plain(&path) {
                Err(e) => Err(format!("cannot open: {e}")),
                Ok(f) => {
                    let name = name_of(&path);
                    match stream_bank(f, &name, |b| {
                        b.receipts.is_empty()
                            || tx.blocking_send(StreamMsg::Batch(b.receipts)).is_ok()
                    }) {
                        Err(e) => Err(format!("cannot read: {e}")),
                        Ok((_, len, _)) if !unchanged(&path, sig, len) => {
                            Err("changed while it was imported".to_owned())
                        }
                        Ok((hash, _, _)) => Ok(hash),
                    }
                }
            };
            let _ = tx.blocking_send(StreamMsg::End(end));
        });
    if let Err(e) = spawned {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let _ = tx.try_send(StreamMsg::End(Err(format!("cannot start its reader: {e}"))));
        return rx;
    }
    rx
}

/// Reads and parses `files` on `workers` threads; one outcome per file, in order.
fn read_batch(
    files: &[(PathBuf, Sig)],
    kind: FolderKind,
    max: u64,
    workers: usize,
) -> Vec<FileRead> {
    if workers <= 1 || files.len() < 2 {
        return files
            .iter()
            .map(|(p, s)| read_one(p, *s, kind, max))
            .collect();
    }
    let per = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(p, s)| read_one(p, *s, kind, max))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(files.chunks(per))
            .flat_map(|(h, part)| {
                h.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|_| FileRead::Failed("the parser stopped unexpectedly".to_owned()))
                        .collect()
                })
            })
            .collect()
    })
}

/// Two versions of one invoice number are the same document when they agree on who owes
/// what: customer, kind, currency, total and issue date.
fn same_document(a: &Invoice, b: &Invoice) -> bool {
    a.customer == b.customer
        && a.kind == b.kind
        && a.currency == b.currency
        && a.total_with_vat == b.total_with_vat
        && a.issue_date == b.issue_date
}

fn describe(i: &Invoice) -> String {
    format!(
        "customer {}, {:?} of {} {} issued {}",
        i.customer, i.kind, i.total_with_vat, i.currency, i.issue_date
    )
}

/// The state the deciding step reads and updates, moved to the blocking pool and back.
struct Decide {
    ledger: Arc<dyn ImportLedger>,
    pass_hashes: HashSet<String>,
    pass_invoices: HashMap<InvoiceId, (Invoice, String)>,
}

struct Decided {
    page: Page,
    dispositions: Vec<(Ack, PathBuf, Disposition)>,
    unsettled: Vec<PathBuf>,
    /// Bank files to stream in pages of their own, after this page.
    streams: Vec<StreamJob>,
}

impl Decide {
    fn run(&mut self, files: &[(PathBuf, Sig)], reads: Vec<FileRead>) -> Decided {
        let mut page = Page::default();
        let mut dispositions = Vec::new();
        let mut unsettled = Vec::new();
        let mut streams = Vec::new();
        for ((p, sig), read) in files.iter().zip(reads) {
            let name = name_of(p);
            let ack = Ack(p.display().to_string());
            match read {
                FileRead::Unsettled => unsettled.push(p.clone()),
                FileRead::Failed(why) => {
                    tracing::error!(file = %p.display(), "{why}");
                    page.skipped.push(Skipped {
                        entry: name,
                        reason: format!("error: {why} (the file stays and is tried again)"),
                    });
                }
                FileRead::Unusable { reason } => {
                    page.records.push(Record::Quarantined {
                        file: name,
                        reason: reason.clone(),
                    });
                    page.acks.push(ack.clone());
                    dispositions.push((ack, p.clone(), Disposition::Quarantine(reason)));
                }
                FileRead::Parsed { hash, content } => {
                    let known = self.pass_hashes.contains(&hash)
                        || match self.ledger.seen(&hash) {
                            Ok(b) => b,
                            Err(e) => {
                                page.skipped.push(Skipped {
                                    entry: name,
                                    reason: format!("error: cannot check the import log: {e}"),
                                });
                                continue;
                            }
                        };
                    if known {
                        // A copy of content already imported: nothing to add.
                        page.acks.push(ack.clone());
                        dispositions.push((ack, p.clone(), Disposition::Done));
                        continue;
                    }
                    if let Content::Stream = content {
                        // Its pages follow this one; the last one completes it.
                        self.pass_hashes.insert(hash.clone());
                        streams.push(StreamJob {
                            path: p.clone(),
                            sig: *sig,
                            hash,
                        });
                        continue;
                    }
                    page.acks.push(ack.clone());
                    match content {
                        Content::Stream => {}
                        Content::Receipts(rs) => {
                            page.records
                                .extend(rs.into_iter().map(|k| Record::BankEntry {
                                    key: k.key,
                                    receipt: k.receipt,
                                }));
                        }
                        Content::Invoices(docs) => {
                            match self.invoices(&name, docs, &mut page.records) {
                                Ok(None) => {}
                                Ok(Some(reason)) => {
                                    page.records.push(Record::Quarantined {
                                        file: name,
                                        reason: reason.clone(),
                                    });
                                    dispositions.push((
                                        ack,
                                        p.clone(),
                                        Disposition::Quarantine(reason),
                                    ));
                                    continue;
                                }
                                Err(e) => {
                                    page.acks.pop();
                                    page.skipped.push(Skipped {
                                        entry: name,
                                        reason: format!(
                                            "error: cannot read the stored invoices: {e}"
                                        ),
                                    });
                                    continue;
                                }
                            }
                        }
                    }
                    self.pass_hashes.insert(hash.clone());
                    page.imported.push(ImportedFile { hash, name });
                    dispositions.push((ack, p.clone(), Disposition::Done));
                }
            }
        }
        Decided {
            page,
            dispositions,
            unsettled,
            streams,
        }
    }

    /// Adds a file's documents, keeping the first version of each invoice number; returns the
    /// quarantine reason when one of them conflicts with a version already imported.
    fn invoices(
        &mut self,
        file: &str,
        docs: Vec<(Invoice, Customer)>,
        out: &mut Vec<Record>,
    ) -> Result<Option<String>, ConnectorError> {
        let mut conflicts = Vec::new();
        let mut accepted = Vec::new();
        for (inv, cust) in docs {
            let first = match self.pass_invoices.get(&inv.id) {
                Some((i, from)) => Some((i.clone(), format!("file {from}"))),
                None => self
                    .ledger
                    .invoice(&inv.id)?
                    .map(|i| (i, "an earlier import".to_owned())),
            };
            match first {
                None => accepted.push((inv, cust)),
                Some((kept, _)) if same_document(&kept, &inv) => {
                    tracing::info!(file, invoice = %inv.number, "invoice already imported (same document): kept the first");
                }
                Some((kept, from)) => conflicts.push(format!(
                    "invoice {} conflicts with the version already imported from {from}: kept {}; this file gives {} (rule INV-CONFLICT: an invoice number identifies one document)",
                    inv.number,
                    describe(&kept),
                    describe(&inv)
                )),
            }
        }
        let n = accepted.len();
        for (inv, cust) in accepted {
            self.pass_invoices
                .insert(inv.id.clone(), (inv.clone(), file.to_owned()));
            out.push(Record::Customer(cust));
            out.push(Record::Invoice(inv));
        }
        if conflicts.is_empty() {
            return Ok(None);
        }
        let mut reason = format!("{file}: {}", conflicts.join("; "));
        if n > 0 {
            reason.push_str(&format!(
                " ({n} other document(s) of this file were imported)"
            ));
        }
        Ok(Some(reason))
    }
}

impl Source for FolderSource {
    async fn check(&self) -> Result<(), ConnectorError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            if !dir.exists() {
                return Ok(()); // made at the first pass
            }
            for sub in [DONE, QUARANTINE] {
                sub_dir(&dir, sub, false)?;
            }
            std::fs::read_dir(&dir)
                .map(|_| ())
                .map_err(|e| io_config(format!("cannot list {}: {e}", dir.display())))
        })
        .await
        .map_err(|e| ConnectorError::transient(format!("folder task: {e}")))?
    }

    async fn pull(&mut self, _from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        let mut skipped = Vec::new();
        if self.awaiting_ack || !self.in_pass {
            // A page not acknowledged was not committed: start over from the folder.
            self.start_pass(&mut skipped).await?;
        }
        if let Some(mut page) = self.stream_page().await {
            page.skipped.splice(0..0, skipped);
            return Ok(page);
        }
        let (kind, max, workers) = (self.kind, self.opts.max_file_bytes, self.opts.workers);
        let (files, reads) = match self.prefetch.take() {
            Some(p) => (p.files, Some(p.reads)),
            None => (self.next_batch(), None),
        };
        if files.is_empty() {
            self.reset_pass();
            return Ok(Page {
                skipped,
                ..Page::default()
            });
        }
        let reads = match reads {
            Some(handle) => handle
                .await
                .map_err(|e| ConnectorError::transient(format!("folder parse task: {e}")))?,
            None => {
                let f = files.clone();
                tokio::task::spawn_blocking(move || read_batch(&f, kind, max, workers))
                    .await
                    .map_err(|e| ConnectorError::transient(format!("folder parse task: {e}")))?
            }
        };
        // Read the next batch while this page is committed.
        let next = self.next_batch();
        if !next.is_empty() {
            let f = next.clone();
            self.prefetch = Some(Prefetch {
                files: next,
                reads: tokio::task::spawn_blocking(move || read_batch(&f, kind, max, workers)),
            });
        }
        let mut decide = Decide {
            ledger: self.ledger.clone(),
            pass_hashes: std::mem::take(&mut self.pass_hashes),
            pass_invoices: std::mem::take(&mut self.pass_invoices),
        };
        let (decide, decided) = tokio::task::spawn_blocking(move || {
            let d = decide.run(&files, reads);
            (decide, d)
        })
        .await
        .map_err(|e| ConnectorError::transient(format!("folder decide task: {e}")))?;
        self.pass_hashes = decide.pass_hashes;
        self.pass_invoices = decide.pass_invoices;
        let now = tokio::time::Instant::now();
        for p in decided.unsettled {
            // Seen changing: observe it again from now.
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                self.observed.insert(p, (Sig::of(&m), now));
            }
        }
        for (ack, p, d) in decided.dispositions {
            self.pending.insert(ack, (p, d));
        }
        self.streams.extend(decided.streams);
        let mut page = decided.page;
        page.skipped.splice(0..0, skipped);
        page.has_more = self.more();
        self.awaiting_ack = !page.acks.is_empty();
        if !page.has_more {
            self.in_pass = false;
        }
        Ok(page)
    }

    async fn ack(&mut self, acks: Vec<Ack>) -> Result<(), ConnectorError> {
        self.awaiting_ack = false;
        let mut moves = Vec::new();
        for a in acks {
            if let Some((p, d)) = self.pending.remove(&a) {
                self.observed.remove(&p);
                moves.push((p, d));
            }
        }
        let dir = self.dir.clone();
        let errors = tokio::task::spawn_blocking(move || {
            let mut errors = Vec::new();
            for (p, d) in moves {
                let r = match &d {
                    Disposition::Done => move_into(&dir, &p, DONE).map(|_| ()),
                    Disposition::Quarantine(reason) => quarantine(&dir, &p, reason).map(|_| ()),
                };
                if let Err(e) = r {
                    errors.push(format!("{}: {e}", name_of(&p)));
                }
            }
            errors
        })
        .await
        .map_err(|e| ConnectorError::transient(format!("folder move task: {e}")))?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::transient(format!(
                "committed, but cannot move {} file(s) (the next pass finishes the move): {}",
                errors.len(),
                errors.join("; ")
            )))
        }
    }
}

/// A file name of at most [`NAME_MAX`] bytes once `suffix` is added: `name` itself when it
/// fits, else its start and a hash of the whole name (`<start>~<8 hex>`), so two long names
/// stay apart and the same name always gives the same result.
pub fn fitting_name(name: &str, suffix: &str) -> String {
    if name.len() + suffix.len() <= NAME_MAX {
        return format!("{name}{suffix}");
    }
    let tag = &hex::encode(Sha256::digest(name.as_bytes()))[..8];
    let room = NAME_MAX.saturating_sub(suffix.len() + 1 + tag.len());
    let mut end = room.min(name.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}~{tag}{suffix}", &name[..end])
}

/// Moves `file` into `dir/sub/` under a free name; refuses a `sub` that is a link.
fn move_into(dir: &Path, file: &Path, sub: &str) -> Result<PathBuf, ConnectorError> {
    let target_dir = sub_dir(dir, sub, true)?;
    let name = name_of(file);
    let mut target = target_dir.join(&name);
    let mut n = 1;
    while std::fs::symlink_metadata(&target).is_ok() {
        target = target_dir.join(fitting_name(&name, &format!(".{n}")));
        n += 1;
    }
    std::fs::rename(file, &target)
        .map_err(|e| ConnectorError::transient(format!("cannot move into {sub}/: {e}")))?;
    Ok(target)
}

/// Moves `file` to `quarantine/` and writes the reason beside it (its name shortened when the
/// file's own name leaves no room for the suffix).
fn quarantine(dir: &Path, file: &Path, reason: &str) -> Result<PathBuf, ConnectorError> {
    let target = move_into(dir, file, QUARANTINE)?;
    let name = name_of(&target);
    let reason_path = target.with_file_name(fitting_name(&name, REASON_SUFFIX));
    let text = format!("file: {name}\n{reason}\n");
    std::fs::write(&reason_path, text).map_err(|e| {
        ConnectorError::transient(format!("cannot write {}: {e}", reason_path.display()))
    })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::einvoice::write;
    use std::sync::Mutex;

    /// The store's part a folder source reads, filled by [`Mem::commit`] as the pipeline would.
    #[derive(Default)]
    struct Mem {
        seen: Mutex<HashSet<String>>,
        invoices: Mutex<HashMap<InvoiceId, Invoice>>,
        receipts: Mutex<HashSet<String>>,
    }

    impl ImportLedger for Mem {
        fn seen(&self, hash: &str) -> Result<bool, ConnectorError> {
            Ok(self.seen.lock().unwrap().contains(hash))
        }
        fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, ConnectorError> {
            Ok(self.invoices.lock().unwrap().get(id).cloned())
        }
    }

    impl Mem {
        fn commit(&self, page: &Page) {
            for f in &page.imported {
                self.seen.lock().unwrap().insert(f.hash.clone());
            }
            for r in &page.records {
                match r {
                    Record::Invoice(i) => {
                        self.invoices
                            .lock()
                            .unwrap()
                            .insert(i.id.clone(), i.clone());
                    }
                    Record::BankEntry { key, .. } => {
                        self.receipts.lock().unwrap().insert(key.clone());
                    }
                    _ => {}
                }
            }
        }
    }

    fn opts(settle_ms: u64) -> FolderOptions {
        FolderOptions {
            settle: Duration::from_millis(settle_ms),
            ..FolderOptions::default()
        }
    }

    /// Pulls every page of a pass, committing (into `mem`) and acknowledging each.
    async fn pass(src: &mut FolderSource, mem: &Mem) -> Vec<Page> {
        let mut pages = Vec::new();
        loop {
            let page = src.pull(None).await.unwrap();
            mem.commit(&page);
            src.ack(page.acks.clone()).await.unwrap();
            let more = page.has_more;
            pages.push(page);
            if !more {
                return pages;
            }
        }
    }

    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    #[tokio::test]
    async fn a_pass_imports_each_content_once_and_moves_every_file_after_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        let o = opts(0);
        let n = o.batch_files + 10;
        for i in 0..n {
            std::fs::write(
                inbox.join(format!("f{i:04}.xml")),
                write::cii(&write::sample(i)),
            )
            .unwrap();
        }
        std::fs::write(
            inbox.join("copy-of-f0003.xml"),
            write::cii(&write::sample(3)),
        )
        .unwrap();
        std::fs::write(inbox.join("broken.xml"), "<Invoice").unwrap();
        let mem = Arc::new(Mem::default());
        let mut src = FolderSource::new(&inbox, FolderKind::Einvoices, o, mem.clone());
        // The first page is not acknowledged (its commit failed): nothing moved, and the next
        // pull starts the pass again.
        let first = src.pull(None).await.unwrap();
        assert!(first.has_more);
        assert_eq!(count(&inbox.join(DONE)), 0, "moved before the commit");
        let pages = pass(&mut src, &mem).await;
        assert!(pages.len() >= 2, "one page per bounded batch");
        assert!(pages.iter().all(|p| p.imported.len() <= 256));
        assert_eq!(mem.invoices.lock().unwrap().len(), n);
        assert_eq!(count(&inbox.join(DONE)), n + 1);
        assert!(inbox.join("quarantine/broken.xml.reason.txt").exists());
        // Dropped again under another name: recognised by hash, nothing added, moved.
        std::fs::write(inbox.join("again.xml"), write::cii(&write::sample(7))).unwrap();
        let pages = pass(&mut src, &mem).await;
        assert!(pages
            .iter()
            .all(|p| p.records.is_empty() && p.imported.is_empty()));
        assert_eq!(count(&inbox.join(DONE)), n + 2);
    }

    /// An MT940 file with two statements, written slowly (as a transfer would): it is read only
    /// once it has stopped changing, whole, never half of it.
    #[tokio::test]
    async fn a_file_still_being_written_is_read_only_once_settled() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("bank");
        std::fs::create_dir_all(&inbox).unwrap();
        let text = include_str!("../../tests/fixtures/bank/mt940_fr_de.sta");
        let path = inbox.join("releve.sta");
        let cut = text.find(":86:166").unwrap() + 20; // inside the second statement's :86:
        std::fs::write(&path, &text[..cut]).unwrap();
        let rest = text[cut..].to_owned();
        let p2 = path.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new().append(true).open(&p2).unwrap();
            for chunk in rest.as_bytes().chunks(8) {
                std::thread::sleep(Duration::from_millis(15));
                f.write_all(chunk).unwrap();
                f.flush().unwrap();
            }
        });
        let mem = Arc::new(Mem::default());
        let mut src = FolderSource::new(&inbox, FolderKind::Bank, opts(400), mem.clone());
        let mut imported = 0;
        for _ in 0..50 {
            let pages = pass(&mut src, &mem).await;
            imported += pages.iter().map(|p| p.imported.len()).sum::<usize>();
            if imported > 0 {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(imported, 1);
        assert_eq!(
            std::fs::read_to_string(inbox.join("done/releve.sta")).unwrap(),
            text,
            "the file imported is the whole file"
        );
        // Both statements: 3 entries of the first, 2 of the second (one is unusable and
        // reported by the parser, not dropped by the folder).
        assert!(
            mem.receipts.lock().unwrap().len() >= 4,
            "{:?}",
            mem.receipts
        );
    }

    /// An MT940 of `n` entries whose balances add up.
    fn big_mt940(n: usize) -> String {
        let mut s =
            String::from(":20:BIG\n:25:FR7630004000031234567890143\n:28C:1\n:60F:C260101EUR0,00\n");
        for i in 1..=n {
            s.push_str(&format!(
                ":61:2601020102C1,{:02}NTRFNONREF//BQ{i:08}\n:86:FACTURE VT2026_{i:06} CLIENT\n",
                i % 100
            ));
        }
        let total: u64 = (1..=n as u64).map(|i| 100 + i % 100).sum();
        s.push_str(&format!(
            ":62F:C260102EUR{},{:02}\n-\n",
            total / 100,
            total % 100
        ));
        s
    }

    #[tokio::test]
    async fn a_bank_file_bigger_than_a_page_is_streamed_in_bounded_pages_and_completed_last() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("bank");
        std::fs::create_dir_all(&inbox).unwrap();
        let n = STREAM_RECEIPTS * 2 + 17;
        std::fs::write(inbox.join("big.sta"), big_mt940(n)).unwrap();
        let mem = Arc::new(Mem::default());
        let mut src = FolderSource::new(&inbox, FolderKind::Bank, opts(0), mem.clone());
        // The first streamed page is not committed: the pass starts over and the file is read
        // again from its start, nothing lost.
        let first = src.pull(None).await.unwrap();
        assert!(first.has_more);
        let pages = pass(&mut src, &mem).await;
        assert!(pages.len() >= 4, "{} pages", pages.len());
        assert!(pages.iter().all(|p| p.records.len() <= STREAM_RECEIPTS));
        assert_eq!(mem.receipts.lock().unwrap().len(), n);
        let last = pages.iter().rposition(|p| !p.imported.is_empty()).unwrap();
        assert_eq!(pages[last].imported[0].name, "big.sta");
        assert!(
            pages[..last].iter().all(|p| p.imported.is_empty()),
            "the file completed before its last receipts"
        );
        assert!(inbox.join("done/big.sta").exists());
        // Dropped again: known by its hash, nothing read twice.
        std::fs::copy(inbox.join("done/big.sta"), inbox.join("again.sta")).unwrap();
        let pages = pass(&mut src, &mem).await;
        assert!(pages.iter().all(|p| p.records.is_empty()));
        assert!(inbox.join("done/again.sta").exists());
    }

    /// A ZIP archive of a statement bigger than a page: its member streams from the file in
    /// bounded pages (the archive read at offsets), the file's hash covers all its bytes (a
    /// copy dropped again is known), and it moves to `done/` after its last page.
    #[tokio::test]
    async fn a_zip_of_a_big_statement_streams_from_the_file_in_pages() {
        use crate::formats::hostile::{zip, ZipMember};
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("bank");
        std::fs::create_dir_all(&inbox).unwrap();
        let n = STREAM_RECEIPTS * 2 + 5;
        let archive = zip(
            &[ZipMember::deflated("big.sta", big_mt940(n).as_bytes())],
            0,
        );
        std::fs::write(inbox.join("statements.zip"), &archive).unwrap();
        let mem = Arc::new(Mem::default());
        let mut src = FolderSource::new(&inbox, FolderKind::Bank, opts(0), mem.clone());
        let pages = pass(&mut src, &mem).await;
        assert!(pages.len() >= 3, "{} pages", pages.len());
        assert!(pages.iter().all(|p| p.records.len() <= STREAM_RECEIPTS));
        assert_eq!(mem.receipts.lock().unwrap().len(), n);
        let last = pages.iter().rposition(|p| !p.imported.is_empty()).unwrap();
        assert_eq!(pages[last].imported[0].name, "statements.zip");
        let want = hex::encode(Sha256::digest(&archive));
        assert_eq!(
            pages[last].imported[0].hash, want,
            "the hash covers the whole archive"
        );
        assert!(inbox.join("done/statements.zip").exists());
        std::fs::write(inbox.join("again.zip"), &archive).unwrap();
        let pages = pass(&mut src, &mem).await;
        assert!(pages.iter().all(|p| p.records.is_empty()));
        assert_eq!(mem.receipts.lock().unwrap().len(), n);
        assert!(inbox.join("done/again.zip").exists());
    }

    #[tokio::test]
    async fn the_same_invoice_number_with_another_customer_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        let first = write::sample(1);
        std::fs::write(inbox.join("a-first.xml"), write::cii(&first)).unwrap();
        let mut other = write::sample(2);
        other.number = first.number.clone();
        std::fs::write(inbox.join("b-other.xml"), write::cii(&other)).unwrap();
        let mem = Arc::new(Mem::default());
        let mut src = FolderSource::new(&inbox, FolderKind::Einvoices, opts(0), mem.clone());
        let pages = pass(&mut src, &mem).await;
        let stored = mem.invoices.lock().unwrap().clone();
        assert_eq!(stored.len(), 1);
        let kept = stored.values().next().unwrap();
        assert!(
            kept.customer.as_str().contains("1") || kept.customer.as_str().contains("numéro 1"),
            "{kept:?}"
        );
        let reason =
            std::fs::read_to_string(inbox.join("quarantine/b-other.xml.reason.txt")).unwrap();
        assert!(reason.contains("INV-CONFLICT"), "{reason}");
        assert!(reason.contains(&first.number), "{reason}");
        assert!(
            reason.contains("kept customer") && reason.contains("this file gives customer"),
            "{reason}"
        );
        assert!(pages.iter().any(|p| p
            .records
            .iter()
            .any(|r| matches!(r, Record::Quarantined { file, .. } if file == "b-other.xml"))));
        // Arriving in a later pass, after the first was committed: the same.
        std::fs::write(inbox.join("c-later.xml"), write::cii(&other)).unwrap();
        pass(&mut src, &mem).await;
        assert!(inbox.join("quarantine/c-later.xml.reason.txt").exists());
        assert_eq!(mem.invoices.lock().unwrap().get(&kept.id).unwrap(), kept);
        // The same document again (same customer and amount) is a copy, not a conflict.
        let mut again = write::sample(1);
        again.order_reference = Some("PO-other".into());
        std::fs::write(inbox.join("d-same.xml"), write::cii(&again)).unwrap();
        pass(&mut src, &mem).await;
        assert!(inbox.join("done/d-same.xml").exists());
    }

    #[tokio::test]
    async fn links_and_fifos_are_skipped_and_reported_and_linked_folders_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.xml"), write::cii(&write::sample(1))).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.xml"), inbox.join("link.xml")).unwrap();
        let fifo = inbox.join("pipe.xml");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        std::fs::write(inbox.join("ok.xml"), write::cii(&write::sample(2))).unwrap();
        let mem = Arc::new(Mem::default());
        let mut src = FolderSource::new(&inbox, FolderKind::Einvoices, opts(0), mem.clone());
        let pages = pass(&mut src, &mem).await;
        let skipped: Vec<&Skipped> = pages.iter().flat_map(|p| &p.skipped).collect();
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped
            .iter()
            .any(|s| s.entry == "link.xml" && s.reason.contains("symbolic link")));
        assert!(skipped
            .iter()
            .any(|s| s.entry == "pipe.xml" && s.reason.contains("FIFO")));
        assert_eq!(mem.invoices.lock().unwrap().len(), 1);
        assert!(outside.join("secret.xml").exists());
        // Reported once, not at every pass.
        let again = pass(&mut src, &mem).await;
        assert!(again.iter().all(|p| p.skipped.is_empty()));
        // done/ replaced by a link out of the inbox: the pass is refused, nothing moves there.
        std::fs::remove_dir_all(inbox.join(DONE)).unwrap();
        std::os::unix::fs::symlink(&outside, inbox.join(DONE)).unwrap();
        std::fs::write(inbox.join("new.xml"), write::cii(&write::sample(3))).unwrap();
        let err = src.pull(None).await.unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(inbox.join("new.xml").exists());
        assert!(!outside.join("new.xml").exists());
    }

    #[tokio::test]
    async fn a_quarantined_file_with_a_very_long_name_gets_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        let name = format!("{}.xml", "r".repeat(250));
        assert_eq!(name.len(), 254);
        std::fs::write(inbox.join(&name), "<Invoice").unwrap();
        let mem = Arc::new(Mem::default());
        let mut src = FolderSource::new(&inbox, FolderKind::Einvoices, opts(0), mem.clone());
        pass(&mut src, &mem).await;
        let q = inbox.join(QUARANTINE);
        assert!(q.join(&name).exists());
        let reasons: Vec<String> = std::fs::read_dir(&q)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(REASON_SUFFIX))
            .collect();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        let text = std::fs::read_to_string(q.join(&reasons[0])).unwrap();
        assert!(
            text.contains(&name),
            "the reason names the whole file: {text}"
        );
    }

    #[test]
    fn partial_names_are_skipped() {
        assert!(is_partial(".hidden.xml"));
        assert!(is_partial("f.xml.part"));
        assert!(is_partial("f.xml.reason.txt"));
        assert!(!is_partial("releve.xml"));
    }

    #[test]
    fn long_names_are_shortened_deterministically() {
        let long = "a".repeat(254);
        let r = fitting_name(&long, REASON_SUFFIX);
        assert!(r.len() <= NAME_MAX, "{}", r.len());
        assert!(r.ends_with(REASON_SUFFIX));
        assert_eq!(r, fitting_name(&long, REASON_SUFFIX));
        let other = format!("{}b", "a".repeat(253));
        assert_ne!(r, fitting_name(&other, REASON_SUFFIX));
        assert_eq!(fitting_name("x.xml", REASON_SUFFIX), "x.xml.reason.txt");
        // Multi-byte characters are not cut in half.
        let accents = "é".repeat(127);
        assert!(fitting_name(&accents, REASON_SUFFIX).len() <= NAME_MAX);
    }
}
