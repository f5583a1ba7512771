//! ZIP archives of statements (some banks and OCA's importer ship camt in a ZIP): the central
//! directory is read, and each member (stored or deflated) is inflated while it is parsed,
//! never held whole.
//!
//! Bounded whatever the archive: members whose data overlap (the "several entries, one
//! payload" bomb) are refused; inflation stops at [`MAX_INFLATED`] for all members together
//! (a ZIP never yields more than a plain file may be); an archive inside the archive is not
//! opened (one level only, so no recursion).

use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Largest archive read (it is held in memory to read its central directory).
pub const MAX_ARCHIVE: u64 = 512 * 1024 * 1024;
/// Largest inflated size of all members of one archive together.
pub const MAX_INFLATED: u64 = 512 * 1024 * 1024;
/// Most members read from one archive.
pub const MAX_MEMBERS: usize = 1000;

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
    ])))
}

fn u32_at(b: &[u8], i: usize) -> Option<usize> {
    let v = u32::from_le_bytes([*b.get(i)?, *b.get(i + 1)?, *b.get(i + 2)?, *b.get(i + 3)?]);
    usize::try_from(v).ok()
}

/// True when `b` starts like a ZIP archive.
pub fn is_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06")
}

/// One member: its name, compression method and where its data is.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub name: String,
    method: usize,
    start: usize,
    len: usize,
}

/// Shares an archive's bytes between member readers.
#[derive(Clone)]
pub(crate) struct Bytes(pub Arc<[u8]>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The file members of an archive (directories and `__MACOSX` skipped), in directory order;
/// an error when the directory is unreadable, a method is not stored or deflate, or two
/// members share bytes.
pub(crate) fn members(bytes: &[u8]) -> Result<Vec<Member>, String> {
    let bad = || "corrupt ZIP archive (central directory unreadable)".to_owned();
    let start = bytes.len().saturating_sub(65_557);
    let eocd = (start..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let count = u16_at(bytes, eocd + 10).ok_or_else(bad)?;
    let mut p = u32_at(bytes, eocd + 16).ok_or_else(bad)?;
    let mut out: Vec<Member> = Vec::new();
    let mut ranges: Vec<(usize, usize, String)> = Vec::new();
    for _ in 0..count {
        if !bytes.get(p..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
            return Err(bad());
        }
        let method = u16_at(bytes, p + 10).ok_or_else(bad)?;
        let csize = u32_at(bytes, p + 20).ok_or_else(bad)?;
        let nlen = u16_at(bytes, p + 28).ok_or_else(bad)?;
        let elen = u16_at(bytes, p + 30).ok_or_else(bad)?;
        let clen = u16_at(bytes, p + 32).ok_or_else(bad)?;
        let local = u32_at(bytes, p + 42).ok_or_else(bad)?;
        let name =
            String::from_utf8_lossy(bytes.get(p + 46..p + 46 + nlen).ok_or_else(bad)?).into_owned();
        p += 46 + nlen + elen + clen;
        if !bytes
            .get(local..)
            .is_some_and(|b| b.starts_with(b"PK\x03\x04"))
        {
            return Err(bad());
        }
        let lnlen = u16_at(bytes, local + 26).ok_or_else(bad)?;
        let lelen = u16_at(bytes, local + 28).ok_or_else(bad)?;
        let data_start = local + 30 + lnlen + lelen;
        if bytes
            .get(data_start..data_start.saturating_add(csize))
            .is_none()
        {
            return Err(bad());
        }
        // Every entry, directories included, owns its bytes (local header and data).
        ranges.push((local, data_start + csize, name.clone()));
        if name.ends_with('/') || name.starts_with("__MACOSX") {
            continue;
        }
        if method != 0 && method != 8 {
            return Err(format!(
                "ZIP member {name}: compression method {method} not supported (only stored and deflate)"
            ));
        }
        if out.len() >= MAX_MEMBERS {
            return Err(format!("more than {MAX_MEMBERS} members: refused"));
        }
        out.push(Member {
            name,
            method,
            start: data_start,
            len: csize,
        });
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(format!(
                "ZIP members {} and {} share the same bytes (an archive built to inflate one payload many times): refused",
                w[0].2, w[1].2
            ));
        }
    }
    Ok(out)
}

/// Counts inflated bytes against a budget shared by all members of one archive, and says
/// when it was exceeded (the read then fails).
struct Capped<R> {
    inner: R,
    used: Arc<AtomicU64>,
    exceeded: Arc<AtomicBool>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.used.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > MAX_INFLATED {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other(format!(
                "the archive inflates to more than {MAX_INFLATED} bytes"
            )));
        }
        Ok(n)
    }
}

/// The inflation budget of one archive.
#[derive(Clone, Default)]
pub(crate) struct Budget {
    used: Arc<AtomicU64>,
    exceeded: Arc<AtomicBool>,
}

impl Budget {
    /// True once a member read went over [`MAX_INFLATED`].
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }
}

/// A reader of one member's inflated bytes, counted against `budget`.
pub(crate) fn open(archive: &Bytes, m: &Member, budget: &Budget) -> Box<dyn BufRead + Send> {
    let mut c = Cursor::new(archive.clone());
    c.set_position(m.start as u64);
    let raw = c.take(m.len as u64);
    let capped = |r: Box<dyn Read + Send>| Capped {
        inner: r,
        used: budget.used.clone(),
        exceeded: budget.exceeded.clone(),
    };
    if m.method == 8 {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            capped(Box::new(flate2::read::DeflateDecoder::new(raw))),
        ))
    } else {
        Box::new(BufReader::with_capacity(64 * 1024, capped(Box::new(raw))))
    }
}

/// The first inflated bytes of the first member (format detection), at most `n`.
pub(crate) fn first_bytes(bytes: &[u8], n: usize) -> Option<Vec<u8>> {
    let ms = members(bytes).ok()?;
    let m = ms.first()?;
    let data = bytes.get(m.start..m.start + m.len)?;
    let mut out = Vec::new();
    let r: Box<dyn Read> = if m.method == 8 {
        Box::new(flate2::read::DeflateDecoder::new(data))
    } else {
        Box::new(data)
    };
    // a member cut short still shows its first bytes
    let _ = r.take(n as u64).read_to_end(&mut out);
    Some(out)
}
