//! Folder sources (`einvoice_inbox`, `bank_dir`): every file dropped in the folder is parsed,
//! its records committed with its content hash, and only then moved to `done/` — or to
//! `quarantine/` with a `<file>.reason.txt` naming the file, the element or line, the rule
//! and the message. A crash between the commit and the move is harmless: the next pass finds
//! the hash already imported and only finishes the move. Re-dropping a file adds nothing.

use crate::daemon::SourceReport;
use crate::offline::{self, Loaded};
use crate::store::{Batch, SledStore, Store};
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
    std::fs::create_dir_all(&dir)?;
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
    std::fs::rename(file, &target)?;
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

/// One pass over a folder source. Every file is read whole (size-checked), parsed, committed
/// with its hash and moved.
pub async fn pull_dir(
    store: &SledStore,
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
    for file in files {
        rep.pulls += 1;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match import_file(store, company, source, bank, &file, &name, now) {
            Ok(Imported::Done(n)) => {
                rep.documents += n;
                if let Err(e) = move_into(&file, "done") {
                    tracing::error!(company = %company, source, file = %name, "cannot move to done/: {e}");
                    rep.errors += 1;
                }
            }
            Ok(Imported::Already) => {
                if let Err(e) = move_into(&file, "done") {
                    tracing::error!(company = %company, source, file = %name, "cannot move to done/: {e}");
                    rep.errors += 1;
                }
            }
            Ok(Imported::Quarantined(reason)) => {
                tracing::warn!(company = %company, source, file = %name, "quarantined: {reason}");
                quarantined.push((name.clone(), reason.clone()));
                if let Err(e) = quarantine(&file, &reason) {
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
    }
    rep
}

enum Imported {
    Done(u64),
    Already,
    Quarantined(String),
}

fn import_file(
    store: &SledStore,
    company: &CompanyId,
    source: &str,
    bank: bool,
    file: &Path,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Imported> {
    let len = std::fs::metadata(file)?.len();
    if len > MAX_FILE_BYTES {
        return Ok(Imported::Quarantined(format!(
            "{name}: file of {len} bytes is over the {MAX_FILE_BYTES}-byte limit (rule FILE-SIZE)"
        )));
    }
    let bytes = std::fs::read(file)?;
    let hash = hex::encode(Sha256::digest(&bytes));
    if store.seen_file(company, &hash)?.is_some() {
        return Ok(Imported::Already);
    }
    let loaded: Loaded = if bank {
        offline::load_bank_bytes(name, &bytes)
    } else {
        offline::load_einvoice_bytes(name, &bytes)
    };
    if let Some(reason) = loaded.unusable {
        return Ok(Imported::Quarantined(reason));
    }
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
    let mut batch: Batch = crate::pipeline::page_batch(source, &page, now);
    batch
        .seen_files
        .push(crate::pipeline::seen(&hash, name, source, now));
    store.commit(company, batch)?;
    Ok(Imported::Done(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_are_skipped() {
        assert!(is_partial(".hidden.xml"));
        assert!(is_partial("f.xml.part"));
        assert!(is_partial("f.xml.reason.txt"));
        assert!(!is_partial("releve.xml"));
    }
}
