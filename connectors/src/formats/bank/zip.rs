//! ZIP archives of statements (some banks and OCA's importer ship camt in a ZIP): the central
//! directory is read, and each member (stored or deflated) is inflated while it is parsed,
//! never held whole. An archive in a file is read at offsets ([`FileArchive`]): only its
//! central directory is held in memory, never the archive; one received as bytes
//! ([`MemArchive`]) is bounded by [`MAX_ARCHIVE`].
//!
//! Bounded whatever the archive: members whose data overlap (the "several entries, one
//! payload" bomb) are refused; inflation stops at [`MAX_INFLATED`] for all members together
//! (a ZIP never yields more than a plain file may be); an archive inside the archive is not
//! opened (one level only, so no recursion).

use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Largest archive read from a stream (it is then held in memory to read its central
/// directory); an archive in a file is read at offsets, whatever its size.
pub const MAX_ARCHIVE: u64 = 512 * 1024 * 1024;
/// Largest inflated size of all members of one archive together.
pub const MAX_INFLATED: u64 = 512 * 1024 * 1024;
/// Most members read from one archive.
pub const MAX_MEMBERS: usize = 1000;
/// Largest central directory read (the only part of an archive held in memory).
pub const MAX_DIRECTORY: u64 = 16 * 1024 * 1024;

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
    ])))
}

fn u32_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
        *b.get(i + 2)?,
        *b.get(i + 3)?,
    ])))
}

/// True when `b` starts like a ZIP archive.
pub fn is_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06")
}

/// Where an archive's bytes are read from, at offsets.
pub trait Archive: Send + Sync {
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// Reads at `offset` into `buf`: how many bytes were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

/// An archive held in memory (owned, `Arc<[u8]>`, or borrowed, `&[u8]`).
#[derive(Clone)]
pub struct MemArchive<B = Arc<[u8]>>(pub B);

impl<B: AsRef<[u8]> + Send + Sync> Archive for MemArchive<B> {
    fn size(&self) -> u64 {
        self.0.as_ref().len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let b = self.0.as_ref();
        let at = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
        let n = buf.len().min(b.len() - at);
        buf[..n].copy_from_slice(&b[at..at + n]);
        Ok(n)
    }
}

/// An archive in a file, read at offsets (positional reads: the file's own offset, which a
/// hashing reader may share, does not move). Its size is taken when it is opened.
pub struct FileArchive {
    file: std::fs::File,
    size: u64,
}

impl FileArchive {
    /// The archive in `file`.
    pub fn new(file: std::fs::File) -> std::io::Result<Self> {
        let size = file.metadata()?.len();
        Ok(FileArchive { file, size })
    }
}

impl Archive for FileArchive {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if offset >= self.size {
            return Ok(0);
        }
        let room = usize::try_from(self.size - offset).unwrap_or(usize::MAX);
        let n = buf.len().min(room);
        self.file.read_at(&mut buf[..n], offset)
    }
}

/// Reads exactly `len` bytes at `offset` (fewer at the end of the archive).
fn read_span<A: Archive + ?Sized>(a: &A, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let len = len.min(a.size().saturating_sub(offset));
    let mut out = vec![0; usize::try_from(len).map_err(std::io::Error::other)?];
    let mut done = 0;
    while done < out.len() {
        let n = a.read_at(&mut out[done..], offset + done as u64)?;
        if n == 0 {
            out.truncate(done);
            break;
        }
        done += n;
    }
    Ok(out)
}

/// One member: its name, compression method and where its data is.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub name: String,
    method: usize,
    start: u64,
    len: u64,
}

/// The file members of an archive (directories and `__MACOSX` skipped), in directory order;
/// an error when the directory is unreadable, a method is not stored or deflate, or two
/// members share bytes. Reads the end of the archive, its central directory and each local
/// header, nothing else.
pub(crate) fn members<A: Archive + ?Sized>(a: &A) -> Result<Vec<Member>, String> {
    let bad = || "corrupt ZIP archive (central directory unreadable)".to_owned();
    let io = |e: std::io::Error| format!("cannot read the ZIP archive: {e}");
    let size = a.size();
    let tail_at = size.saturating_sub(65_557);
    let tail = read_span(a, tail_at, size - tail_at).map_err(io)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let count = u16_at(&tail, eocd + 10).ok_or_else(bad)?;
    let dir_len = u32_at(&tail, eocd + 12).ok_or_else(bad)?;
    let dir_at = u32_at(&tail, eocd + 16).ok_or_else(bad)?;
    if dir_len > MAX_DIRECTORY {
        return Err(format!(
            "ZIP central directory over {MAX_DIRECTORY} bytes: refused"
        ));
    }
    if dir_at.saturating_add(dir_len) > size {
        return Err(bad());
    }
    let dir = read_span(a, dir_at, dir_len).map_err(io)?;
    let mut p = 0usize;
    let mut out: Vec<Member> = Vec::new();
    let mut ranges: Vec<(u64, u64, String)> = Vec::new();
    for _ in 0..count {
        if !dir.get(p..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
            return Err(bad());
        }
        let method = u16_at(&dir, p + 10).ok_or_else(bad)?;
        let csize = u32_at(&dir, p + 20).ok_or_else(bad)?;
        let nlen = u16_at(&dir, p + 28).ok_or_else(bad)?;
        let elen = u16_at(&dir, p + 30).ok_or_else(bad)?;
        let clen = u16_at(&dir, p + 32).ok_or_else(bad)?;
        let local = u32_at(&dir, p + 42).ok_or_else(bad)?;
        let name =
            String::from_utf8_lossy(dir.get(p + 46..p + 46 + nlen).ok_or_else(bad)?).into_owned();
        p += 46 + nlen + elen + clen;
        let header = read_span(a, local, 30).map_err(io)?;
        if header.len() < 30 || !header.starts_with(b"PK\x03\x04") {
            return Err(bad());
        }
        let lnlen = u16_at(&header, 26).ok_or_else(bad)? as u64;
        let lelen = u16_at(&header, 28).ok_or_else(bad)? as u64;
        let data_start = local + 30 + lnlen + lelen;
        if data_start.saturating_add(csize) > size {
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

/// A member's raw (compressed) bytes, read at offsets.
struct Span {
    archive: Arc<dyn Archive>,
    at: u64,
    end: u64,
}

impl Read for Span {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = usize::try_from(self.end - self.at).unwrap_or(usize::MAX);
        let n = buf.len().min(room);
        if n == 0 {
            return Ok(0);
        }
        let got = self.archive.read_at(&mut buf[..n], self.at)?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the ZIP archive ends inside a member",
            ));
        }
        self.at += got as u64;
        Ok(got)
    }
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
pub(crate) fn open(
    archive: &Arc<dyn Archive>,
    m: &Member,
    budget: &Budget,
) -> Box<dyn BufRead + Send> {
    let raw = BufReader::with_capacity(
        64 * 1024,
        Span {
            archive: archive.clone(),
            at: m.start,
            end: m.start + m.len,
        },
    );
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
    let ms = members(&MemArchive(bytes)).ok()?;
    let m = ms.first()?;
    let start = usize::try_from(m.start).ok()?;
    let data = bytes.get(start..start.checked_add(usize::try_from(m.len).ok()?)?)?;
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
