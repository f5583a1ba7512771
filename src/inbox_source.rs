//! Folder sources (`einvoice_inbox`, `bank_dir`): every file dropped in the folder is parsed,
//! its records committed with its content hash (up to 256 files or 32 MiB in one store batch),
//! and only then moved to `done/` — or to
//! `quarantine/` with a `<file>.reason.txt` naming the file, the element or line, the rule
//! and the message. A crash between the commit and the move is harmless: the next pass finds
//! the hash already imported and only finishes the move. Re-dropping a file adds nothing.

use crate::daemon::SourceReport;
use crate::offline::{self, Loaded};
use crate::store::{Batch, SharedStore, Store};
use chrono::{DateTime, Utc};
use relance_connectors::contract::{Page, Record};
use relance_core::CompanyId;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Largest file a folder source reads (a bigger one is quarantined, never half-read).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// True for names a writer uses while the file is incomplete, and for hidden files.
fn is_partial(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('~')
        || [".part", ".tmp", ".crdownload", ".filepart", ".reason.txt"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// Files ready to import in `dir`, sorted by name (so imports happen in a stable order).
pub fn ready_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if !e.file_type()?.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if is_partial(&name) {
            continue;
        }
        out.push(e.path());
    }
    out.sort();
    Ok(out)
}

fn move_into(file: &Path, sub: &str) -> std::io::Result<PathBuf> {
    let dir = file.parent().unwrap_or(Path::new(".")).join(sub);
    let name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{}.{n}", name.to_string_lossy()));
        n += 1;
    }
    match std::fs::rename(file, &target) {
        // The folder is made on first use (a missing source file is an error of its own).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() => {
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(file, &target)?;
        }
        other => other?,
    }
    Ok(target)
}

/// Moves `file` to `quarantine/` and writes the reason beside it.
pub fn quarantine(file: &Path, reason: &str) -> std::io::Result<PathBuf> {
    let target = move_into(file, "quarantine")?;
    let mut reason_path = target.clone().into_os_string();
    reason_path.push(".reason.txt");
    std::fs::write(PathBuf::from(reason_path), format!("{reason}\n"))?;
    Ok(target)
}

/// One pass over a folder source. Every file is read whole (size-checked) and parsed; the
/// usable ones are committed with their hashes in batches, then moved.
pub async fn pull_dir(
    store: &SharedStore,
    company: &CompanyId,
    source: &str,
    bank: bool,
    dir: &Path,
    now: DateTime<Utc>,
    quarantined: &mut Vec<(String, String)>,
) -> SourceReport {
    let mut rep = SourceReport {
        connector: source.to_owned(),
        ..Default::default()
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::error!(company = %company, source, dir = %dir.display(), "cannot create the folder: {e}");
        rep.errors += 1;
        return rep;
    }
    let files = match ready_files(dir) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(company = %company, source, dir = %dir.display(), "cannot list: {e}");
            rep.errors += 1;
            return rep;
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    std::thread::scope(|scope| {
        // Batches are committed (and their files moved) by one thread, in order, while the
        // next files are read and parsed.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Pending>(1);
        let committer = scope.spawn(move || {
            let mut done = SourceReport::default();
            // The files of a committed batch are moved while the next batch is committed;
            // one batch's moves finish before the next one's start.
            let mut mover: Option<std::thread::ScopedJoinHandle<'_, SourceReport>> = None;
            let join = |h: std::thread::ScopedJoinHandle<'_, SourceReport>,
                        done: &mut SourceReport| {
                match h.join() {
                    Ok(r) => {
                        done.documents += r.documents;
                        done.errors += r.errors;
                    }
                    Err(_) => done.errors += 1,
                }
            };
            for mut batch in rx {
                if let Some(files) = batch.commit(store, company, source, &mut done) {
                    if let Some(h) = mover.take() {
                        join(h, &mut done);
                    }
                    mover = Some(scope.spawn(move || {
                        let mut moved = SourceReport::default();
                        move_done(files, company, source, &mut moved);
                        moved
                    }));
                }
            }
            if let Some(h) = mover.take() {
                join(h, &mut done);
            }
            done
        });
        let mut pending = Pending::default();
        // Every hash taken in this pass, committed or still in flight.
        let mut pass: std::collections::HashSet<String> = Default::default();
        for chunk in files.chunks(BATCH_FILES) {
            // Reading, hashing and parsing are independent per file: done on every core. What
            // they produce is then taken in name order, so the result does not depend on timing.
            let outcomes = read_all(store, company, bank, chunk, workers);
            for (file, outcome) in chunk.iter().zip(outcomes) {
                rep.pulls += 1;
                let name = file_name(file);
                match outcome.and_then(|o| pending.take(o, file, &name, source, now, &mut pass)) {
                    Ok(Imported::Pending) => {}
                    Ok(Imported::Already) => {
                        if let Err(e) = move_into(file, "done") {
                            tracing::error!(company = %company, source, file = %name, "cannot move to done/: {e}");
                            rep.errors += 1;
                        }
                    }
                    Ok(Imported::Quarantined(reason)) => {
                        tracing::warn!(company = %company, source, file = %name, "quarantined: {reason}");
                        quarantined.push((name.clone(), reason.clone()));
                        if let Err(e) = quarantine(file, &reason) {
                            tracing::error!(company = %company, source, file = %name, "cannot quarantine: {e}");
                            rep.errors += 1;
                        }
                    }
                    Err(e) => {
                        // The file stays where it is and is tried again at the next pass.
                        tracing::error!(company = %company, source, file = %name, "import failed: {e:#}");
                        rep.errors += 1;
                    }
                }
                if pending.is_full() {
                    send(
                        &tx,
                        std::mem::take(&mut pending),
                        store,
                        company,
                        source,
                        &mut rep,
                    );
                }
            }
        }
        send(&tx, pending, store, company, source, &mut rep);
        drop(tx);
        match committer.join() {
            Ok(done) => {
                rep.documents += done.documents;
                rep.errors += done.errors;
            }
            Err(_) => {
                tracing::error!(company = %company, source, "the store commit thread stopped unexpectedly");
                rep.errors += 1;
            }
        }
    });
    rep
}

/// Hands a batch to the committer; commits it here if the committer has gone.
fn send(
    tx: &std::sync::mpsc::SyncSender<Pending>,
    batch: Pending,
    store: &SharedStore,
    company: &CompanyId,
    source: &str,
    rep: &mut SourceReport,
) {
    if batch.files.is_empty() {
        return;
    }
    if let Err(std::sync::mpsc::SendError(mut batch)) = tx.send(batch) {
        batch.flush(store, company, source, rep);
    }
}

fn file_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What reading one file gave, before it joins a batch.
enum Read {
    /// Its content hash is already in the store.
    Seen,
    /// Over the size limit, or unusable: the reason.
    Unusable(String),
    /// Parsed: its hash, size and content.
    Parsed {
        hash: String,
        len: u64,
        loaded: Box<Loaded>,
    },
}

/// Reads, hashes and parses `files` on `workers` threads; one outcome per file, in order.
fn read_all(
    store: &SharedStore,
    company: &CompanyId,
    bank: bool,
    files: &[PathBuf],
    workers: usize,
) -> Vec<anyhow::Result<Read>> {
    if workers <= 1 || files.len() < 2 {
        return files
            .iter()
            .map(|f| read_one(store, company, bank, f))
            .collect();
    }
    let per = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|f| read_one(store, company, bank, f))
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
                        .map(|f| {
                            Err(anyhow::anyhow!(
                                "{}: the parser stopped unexpectedly",
                                file_name(f)
                            ))
                        })
                        .collect()
                })
            })
            .collect()
    })
}

fn read_one(
    store: &SharedStore,
    company: &CompanyId,
    bank: bool,
    file: &Path,
) -> anyhow::Result<Read> {
    use std::io::Read as _;
    let name = file_name(file);
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    if len > MAX_FILE_BYTES {
        return Ok(Read::Unusable(format!(
            "{name}: file of {len} bytes is over the {MAX_FILE_BYTES}-byte limit (rule FILE-SIZE)"
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.by_ref()
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok(Read::Unusable(format!(
            "{name}: file grew over the {MAX_FILE_BYTES}-byte limit while read (rule FILE-SIZE)"
        )));
    }
    let hash = hex::encode(Sha256::digest(&bytes));
    if store.seen_file(company, &hash)?.is_some() {
        return Ok(Read::Seen);
    }
    let loaded: Loaded = if bank {
        offline::load_bank_bytes(&name, &bytes)
    } else {
        offline::load_einvoice_bytes(&name, &bytes)
    };
    if let Some(reason) = loaded.unusable {
        return Ok(Read::Unusable(reason));
    }
    Ok(Read::Parsed {
        hash,
        len: bytes.len() as u64,
        loaded: Box::new(loaded),
    })
}

/// Files parsed but not yet committed: committed together in one store batch (flushed), and
/// only then moved to `done/`. A crash before the commit leaves every file in place; a crash
/// after it leaves files whose hashes are known, which the next pass only moves.
#[derive(Default)]
struct Pending {
    batch: Batch,
    /// (file, name, records it adds)
    files: Vec<(PathBuf, String, u64)>,
    bytes: u64,
}

/// At most this many files, or this many bytes of input, in one committed batch.
const BATCH_FILES: usize = 256;
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

enum Imported {
    /// Parsed and added to the pending batch.
    Pending,
    Already,
    Quarantined(String),
}

impl Pending {
    fn is_full(&self) -> bool {
        self.files.len() >= BATCH_FILES || self.bytes >= BATCH_BYTES
    }

    /// Adds what was read of `file` to the batch.
    fn take(
        &mut self,
        read: Read,
        file: &Path,
        name: &str,
        source: &str,
        now: DateTime<Utc>,
        pass: &mut std::collections::HashSet<String>,
    ) -> anyhow::Result<Imported> {
        let (hash, len, loaded) = match read {
            Read::Seen => return Ok(Imported::Already),
            Read::Unusable(reason) => return Ok(Imported::Quarantined(reason)),
            Read::Parsed { hash, len, loaded } => (hash, len, loaded),
        };
        if pass.contains(&hash) {
            // The same content twice in one pass (a copy under another name): nothing to add,
            // moved to done/ with the batch that holds it, once committed after the first.
            self.files.push((file.to_path_buf(), name.to_owned(), 0));
            return Ok(Imported::Pending);
        }
        let loaded = *loaded;
        let mut records: Vec<Record> = Vec::new();
        records.extend(loaded.customers.into_iter().map(Record::Customer));
        records.extend(loaded.invoices.into_iter().map(Record::Invoice));
        records.extend(loaded.receipts.into_iter().map(Record::Receipt));
        let n = records.len() as u64;
        let page = Page {
            records,
            next: None,
            has_more: false,
        };
        self.batch.add_page(source, &page, now);
        self.batch
            .seen_files
            .push(crate::pipeline::seen(&hash, name, source, now));
        pass.insert(hash);
        self.bytes += len;
        self.files.push((file.to_path_buf(), name.to_owned(), n));
        Ok(Imported::Pending)
    }

    fn flush(
        &mut self,
        store: &SharedStore,
        company: &CompanyId,
        source: &str,
        rep: &mut SourceReport,
    ) {
        if let Some(files) = self.commit(store, company, source, rep) {
            move_done(files, company, source, rep);
        }
    }

    /// Commits the batch (one flushed store batch); the files to move, or `None` when the
    /// commit failed and every file stays where it is for the next pass.
    fn commit(
        &mut self,
        store: &SharedStore,
        company: &CompanyId,
        source: &str,
        rep: &mut SourceReport,
    ) -> Option<Vec<(PathBuf, String, u64)>> {
        if self.files.is_empty() {
            return None;
        }
        let batch = std::mem::take(&mut self.batch);
        let files = std::mem::take(&mut self.files);
        self.bytes = 0;
        if let Err(e) = store.commit(company, batch) {
            tracing::error!(company = %company, source, files = files.len(), "store commit failed: {e}");
            rep.errors += files.len() as u64;
            return None;
        }
        Some(files)
    }
}

/// Moves committed files to `done/`.
fn move_done(
    files: Vec<(PathBuf, String, u64)>,
    company: &CompanyId,
    source: &str,
    rep: &mut SourceReport,
) {
    for (file, name, n) in files {
        rep.documents += n;
        if let Err(e) = move_into(&file, "done") {
            tracing::error!(company = %company, source, file = %name, "cannot move to done/: {e}");
            rep.errors += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pass_imports_each_content_once_and_moves_every_file() {
        use relance_connectors::formats::einvoice::write;
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = std::sync::Arc::new(crate::store::SledStore::open(&dir.path().join("store")).unwrap());
        let company = CompanyId::new("c");
        let inbox = dir.path().join("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        // More files than one batch holds, one of them twice under another name, one unusable.
        let n = BATCH_FILES + 10;
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
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let mut quarantined = Vec::new();
        let rep = pull_dir(&store, &company, "in", false, &inbox, now, &mut quarantined).await;
        assert_eq!(rep.pulls, n as u64 + 2);
        assert_eq!(rep.errors, 0);
        assert_eq!(store.invoices(&company).unwrap().len(), n);
        assert_eq!(
            std::fs::read_dir(inbox.join("done")).unwrap().count(),
            n + 1
        );
        assert_eq!(quarantined.len(), 1);
        assert!(inbox.join("quarantine/broken.xml.reason.txt").exists());
        // Dropped again: recognised by hash, nothing added.
        std::fs::write(inbox.join("again.xml"), write::cii(&write::sample(7))).unwrap();
        let rep = pull_dir(&store, &company, "in", false, &inbox, now, &mut quarantined).await;
        assert_eq!((rep.pulls, rep.documents), (1, 0));
        assert_eq!(store.invoices(&company).unwrap().len(), n);
    }

    #[test]
    fn partial_names_are_skipped() {
        assert!(is_partial(".hidden.xml"));
        assert!(is_partial("f.xml.part"));
        assert!(is_partial("f.xml.reason.txt"));
        assert!(!is_partial("releve.xml"));
    }
}
