//! Factur-X / ZUGFeRD PDFs: finds the embedded invoice XML among the PDF's attached files (the
//! catalog's `/Names /EmbeddedFiles` name tree and `/AF` array, and any file specification
//! dictionary) and inflates that one attachment only.
//!
//! The reader is written for hostile input and stays bounded whatever the bytes:
//! - objects are found by one scan of the file (no trust in the cross-reference offsets) and
//!   parsed with an explicit nesting limit ([`MAX_DEPTH`]): `[[[[…` 200 000 levels deep is
//!   refused with `PDF-DEPTH` after 32, without recursion beyond that;
//! - nothing is inflated unless needed: an object stream (`/ObjStm`) only when the catalog or
//!   a file specification lives in it (as a cross-reference stream says), cross-reference
//!   streams to learn that, and the one attachment that will be parsed; every inflation is
//!   capped while it runs ([`MAX_AUX_STREAM`], [`MAX_AUX_TOTAL`], and the attachment at
//!   `MAX_BYTES`), so an unused 1 GB object stream costs nothing and a bomb stops at the cap;
//! - name trees, reference chains and object counts are limited too.
//!
//! Encrypted PDFs are refused (`PDF-ENCRYPTED`): PDF/A-3, which Factur-X requires, forbids
//! encryption. lopdf is still what writes PDFs (`write`), but reading goes through this module
//! because lopdf's loader recurses without limit and inflates every object stream up front.

use super::MAX_BYTES;
use crate::formats::diag::{Diagnostic, Severity};
use flate2::read::{DeflateDecoder, ZlibDecoder};
use std::collections::HashMap;
use std::io::Read;

/// Deepest nesting of arrays and dictionaries accepted (real PDFs stay under 10).
pub const MAX_DEPTH: usize = 32;
/// Largest inflated size of one cross-reference or object stream.
pub const MAX_AUX_STREAM: usize = 16 * 1024 * 1024;
/// Largest inflated size of all cross-reference and object streams of one file together.
pub const MAX_AUX_TOTAL: usize = 64 * 1024 * 1024;
/// Most indirect objects read from one file.
pub const MAX_OBJECTS: usize = 500_000;
/// Most name-tree nodes visited, and deepest name-tree nesting.
const MAX_TREE_NODES: usize = 4096;
const MAX_TREE_DEPTH: usize = 16;
/// Most compressed-object entries kept from cross-reference streams.
const MAX_COMPRESSED: usize = 1_000_000;
/// Most cross-reference streams read (the newest ones).
const MAX_XREF_STREAMS: usize = 64;

/// Attachment names an invoice travels under, in order of preference.
const KNOWN: [&str; 4] = [
    "factur-x.xml",
    "zugferd-invoice.xml",
    "xrechnung.xml",
    "order-x.xml",
];

/// A PDF object, as far as finding attachments needs (reals are not kept).
#[derive(Clone, Debug, PartialEq)]
enum Obj {
    Null,
    Bool,
    Int(i64),
    Real,
    Name(Vec<u8>),
    Str(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
}

type Dict = Vec<(Vec<u8>, Obj)>;

fn get<'a>(d: &'a Dict, key: &[u8]) -> Option<&'a Obj> {
    d.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn is_name(o: Option<&Obj>, n: &[u8]) -> bool {
    matches!(o, Some(Obj::Name(x)) if x == n)
}

/// Why an object could not be read.
#[derive(Debug)]
enum Err {
    /// Nested deeper than [`MAX_DEPTH`] at this byte.
    Depth(usize),
    /// More than [`MAX_ELEMENTS`] elements.
    Size,
    /// Not PDF syntax (or cut short).
    Syntax,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0C' | b'\0')
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// Most elements (numbers, names, strings, nested arrays…) in one object: bounds the memory
/// one object can take once parsed.
pub const MAX_ELEMENTS: usize = 1_000_000;

/// A cursor over PDF bytes with a nesting- and size-limited object parser.
struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
    elements: usize,
}

impl<'a> Lexer<'a> {
    fn new(b: &'a [u8], pos: usize) -> Self {
        Self {
            b,
            pos,
            elements: MAX_ELEMENTS,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if is_ws(c) {
                self.pos += 1;
            } else if c == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.b.get(self.pos..).is_some_and(|r| r.starts_with(s))
    }

    fn keyword(&mut self, k: &[u8]) -> bool {
        if self.starts_with(k)
            && self
                .b
                .get(self.pos + k.len())
                .is_none_or(|c| is_ws(*c) || is_delim(*c))
        {
            self.pos += k.len();
            true
        } else {
            false
        }
    }

    fn regular_run(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_ws(c) || is_delim(c) {
                break;
            }
            self.pos += 1;
        }
        &self.b[start..self.pos]
    }

    fn int_token(&mut self) -> Option<i64> {
        let save = self.pos;
        let run = self.regular_run();
        let ok = !run.is_empty()
            && run.len() <= 18
            && run
                .iter()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || (i == 0 && matches!(c, b'+' | b'-')));
        match std::str::from_utf8(run).ok().and_then(|s| s.parse().ok()) {
            Some(v) if ok => Some(v),
            _ => {
                self.pos = save;
                None
            }
        }
    }

    /// One object; arrays and dictionaries nest at most [`MAX_DEPTH`] deep.
    fn object(&mut self, depth: usize) -> Result<Obj, Err> {
        self.skip_ws();
        if self.elements == 0 {
            return Err(Err::Size);
        }
        self.elements -= 1;
        let Some(c) = self.peek() else {
            return Err(Err::Syntax);
        };
        match c {
            b'[' => {
                if depth >= MAX_DEPTH {
                    return Err(Err::Depth(self.pos));
                }
                self.pos += 1;
                let mut v = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(v));
                        }
                        None => return Err(Err::Syntax),
                        _ => v.push(self.object(depth + 1)?),
                    }
                }
            }
            b'<' if self.starts_with(b"<<") => {
                if depth >= MAX_DEPTH {
                    return Err(Err::Depth(self.pos));
                }
                self.pos += 2;
                let mut d = Vec::new();
                loop {
                    self.skip_ws();
                    if self.starts_with(b">>") {
                        self.pos += 2;
                        return Ok(Obj::Dict(d));
                    }
                    match self.object(depth + 1)? {
                        Obj::Name(k) => {
                            let v = self.object(depth + 1)?;
                            d.push((k, v));
                        }
                        _ => return Err(Err::Syntax),
                    }
                }
            }
            b'<' => self.hex_string(),
            b'(' => self.literal_string(),
            b'/' => {
                self.pos += 1;
                let run = self.regular_run();
                Ok(Obj::Name(decode_name(run)))
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => {
                let save = self.pos;
                if let Some(n) = self.int_token() {
                    // "N G R": a reference
                    let after = self.pos;
                    self.skip_ws();
                    if let Some(g) = self.int_token() {
                        self.skip_ws();
                        if self.keyword(b"R") {
                            if let (Ok(n), Ok(g)) = (u32::try_from(n), u16::try_from(g)) {
                                return Ok(Obj::Ref(n, g));
                            }
                        }
                    }
                    self.pos = after;
                    return Ok(Obj::Int(n));
                }
                self.pos = save;
                let run = self.regular_run();
                if run
                    .iter()
                    .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.'))
                {
                    Ok(Obj::Real)
                } else {
                    Err(Err::Syntax)
                }
            }
            _ => {
                if self.keyword(b"true") || self.keyword(b"false") {
                    Ok(Obj::Bool)
                } else if self.keyword(b"null") {
                    Ok(Obj::Null)
                } else {
                    Err(Err::Syntax)
                }
            }
        }
    }

    fn hex_string(&mut self) -> Result<Obj, Err> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        loop {
            let c = self.peek().ok_or(Err::Syntax)?;
            self.pos += 1;
            if c == b'>' {
                break;
            }
            if is_ws(c) {
                continue;
            }
            let v = (c as char).to_digit(16).ok_or(Err::Syntax)? as u8;
            match hi.take() {
                Some(h) => out.push(h << 4 | v),
                None => hi = Some(v),
            }
        }
        if let Some(h) = hi {
            out.push(h << 4);
        }
        Ok(Obj::Str(out))
    }

    fn literal_string(&mut self) -> Result<Obj, Err> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut level = 1usize;
        loop {
            let c = self.peek().ok_or(Err::Syntax)?;
            self.pos += 1;
            match c {
                b'(' => {
                    level += 1;
                    out.push(c);
                }
                b')' => {
                    level -= 1;
                    if level == 0 {
                        break;
                    }
                    out.push(c);
                }
                b'\\' => {
                    let e = self.peek().ok_or(Err::Syntax)?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xFF) as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
        Ok(Obj::Str(out))
    }
}

fn decode_name(run: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(run.len());
    let mut i = 0;
    while i < run.len() {
        if run[i] == b'#' && i + 2 < run.len() + 1 {
            let hex = run
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(run[i]);
        i += 1;
    }
    out
}

/// A PDF text string: UTF-16BE or UTF-8 with their BOM, else PDFDocEncoding (read as
/// Latin-1, which it equals for the characters file names use).
fn text_string(b: &[u8]) -> String {
    if let Some(rest) = b.strip_prefix(&[0xFE, 0xFF]) {
        let u: Vec<u16> = rest
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&u)
    } else if let Some(rest) = b.strip_prefix(b"\xEF\xBB\xBF") {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        b.iter().map(|&c| char::from(c)).collect()
    }
}

fn fatal(rule: &str, path: impl Into<String>, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Severity::Fatal, rule, path, msg)
}

/// An inflated object stream: its (object number, offset) pairs and its objects' bytes.
type ObjStm = (Vec<(u32, usize)>, Vec<u8>);

/// What [`embedded_invoice`] finds: the attachment's name and bytes, or why not.
pub type Found = Result<(String, Vec<u8>), Diagnostic>;

/// Where a compressed object lives: object stream number, index, and the byte offset of the
/// cross-reference stream that says so (the newest statement wins).
#[derive(Clone, Copy)]
struct Compressed {
    stream: u32,
    index: usize,
    declared_at: usize,
}

/// The objects of one PDF: where each lives, what was inflated so far.
struct Pdf<'a> {
    b: &'a [u8],
    endstreams: Vec<usize>,
    /// Bytes the parser may still read (all objects together): a damaged or hostile file
    /// that would make it read the same bytes over and over stops here.
    work: usize,
    direct: HashMap<u32, (usize, u16)>,
    compressed: HashMap<u32, Compressed>,
    trailer: Option<(usize, Dict)>,
    filespecs: Vec<u32>,
    /// Inflated object streams: (header pairs, objects part).
    objstm: HashMap<u32, Option<ObjStm>>,
    inflated: usize,
    notes: Vec<Diagnostic>,
}

/// Finds the byte offsets of `needle` in `hay` from `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let rel = hay[i..].iter().position(|c| *c == first)?;
        i += rel;
        if hay[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The start of an `N G obj` header ending just before `obj_at`, with N and G.
fn header_before(b: &[u8], obj_at: usize) -> Option<(usize, u32, u16)> {
    let mut i = obj_at;
    let ws_end = i;
    while i > 0 && is_ws(b[i - 1]) {
        i -= 1;
    }
    if i == ws_end {
        return None;
    }
    let gen_end = i;
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == gen_end || gen_end - i > 5 {
        return None;
    }
    let gen: u16 = std::str::from_utf8(&b[i..gen_end]).ok()?.parse().ok()?;
    let ws2 = i;
    while i > 0 && is_ws(b[i - 1]) {
        i -= 1;
    }
    if i == ws2 {
        return None;
    }
    let num_end = i;
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == num_end || num_end - i > 10 {
        return None;
    }
    if i > 0 && !(is_ws(b[i - 1]) || is_delim(b[i - 1])) {
        return None;
    }
    let num: u32 = std::str::from_utf8(&b[i..num_end]).ok()?.parse().ok()?;
    Some((i, num, gen))
}

/// The data range of a stream whose dictionary ended at `after_dict`: after `stream` and its
/// end of line, `length` bytes when that ends at `endstream`, else up to the next `endstream`
/// (`endstreams`: the offsets of every `endstream` of the file, ascending).
fn stream_range(
    b: &[u8],
    endstreams: &[usize],
    after_dict: usize,
    length: Option<i64>,
) -> Option<(usize, usize)> {
    let mut lx = Lexer::new(b, after_dict);
    lx.skip_ws();
    if !lx.keyword(b"stream") {
        return None;
    }
    let mut start = lx.pos;
    if b.get(start) == Some(&b'\r') {
        start += 1;
    }
    if b.get(start) == Some(&b'\n') {
        start += 1;
    }
    if let Some(len) = length.and_then(|l| usize::try_from(l).ok()) {
        if let Some(end) = start.checked_add(len).filter(|e| *e <= b.len()) {
            let mut k = end;
            while k < b.len() && is_ws(b[k]) {
                k += 1;
            }
            if b[k..].starts_with(b"endstream") {
                return Some((start, end));
            }
        }
    }
    let end = *endstreams.get(endstreams.partition_point(|p| *p < start))?;
    let mut e = end;
    if e > start && b[e - 1] == b'\n' {
        e -= 1;
    }
    if e > start && b[e - 1] == b'\r' {
        e -= 1;
    }
    Some((start, e))
}

/// Why a stream could not be decoded.
enum DecodeErr {
    TooBig(usize),
    Filter(String),
    Corrupt(String),
}

fn capped(mut r: impl Read, cap: usize) -> Result<Vec<u8>, (Vec<u8>, Option<std::io::Error>)> {
    let mut out = Vec::new();
    match r.by_ref().take(cap as u64 + 1).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err((out, Some(e))),
    }
}

fn inflate(data: &[u8], cap: usize) -> Result<Vec<u8>, DecodeErr> {
    let zlib = data.len() >= 2 && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    let res = if zlib {
        capped(ZlibDecoder::new(data), cap)
    } else {
        capped(DeflateDecoder::new(data), cap)
    };
    let out = match res {
        Ok(o) => o,
        // A damaged end (a bad checksum, trailing garbage) after the data is common: keep
        // what was inflated; the XML parser says if it is cut.
        Err((o, _)) if !o.is_empty() => o,
        Err((_, e)) => {
            return Err(DecodeErr::Corrupt(
                e.map_or_else(|| "no data".to_owned(), |e| e.to_string()),
            ))
        }
    };
    if out.len() > cap {
        return Err(DecodeErr::TooBig(cap));
    }
    Ok(out)
}

fn ascii_hex(data: &[u8], cap: usize) -> Result<Vec<u8>, DecodeErr> {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut hi: Option<u8> = None;
    for &c in data {
        if c == b'>' {
            break;
        }
        if is_ws(c) {
            continue;
        }
        let v = (c as char)
            .to_digit(16)
            .ok_or_else(|| DecodeErr::Corrupt("ASCIIHexDecode: not a hex digit".into()))?
            as u8;
        match hi.take() {
            Some(h) => out.push(h << 4 | v),
            None => hi = Some(v),
        }
        if out.len() > cap {
            return Err(DecodeErr::TooBig(cap));
        }
    }
    if let Some(h) = hi {
        out.push(h << 4);
    }
    Ok(out)
}

fn ascii85(data: &[u8], cap: usize) -> Result<Vec<u8>, DecodeErr> {
    let mut out = Vec::with_capacity(data.len() * 4 / 5 + 4);
    let mut group = [0u8; 5];
    let mut n = 0;
    let data = data.strip_prefix(b"<~").unwrap_or(data);
    for &c in data {
        if c == b'~' {
            break;
        }
        if is_ws(c) {
            continue;
        }
        if c == b'z' && n == 0 {
            out.extend_from_slice(&[0; 4]);
        } else if (b'!'..=b'u').contains(&c) {
            group[n] = c - b'!';
            n += 1;
            if n == 5 {
                let v = group.iter().fold(0u64, |a, d| a * 85 + u64::from(*d));
                let v = u32::try_from(v)
                    .map_err(|_| DecodeErr::Corrupt("ASCII85Decode: group too large".into()))?;
                out.extend_from_slice(&v.to_be_bytes());
                n = 0;
            }
        } else {
            return Err(DecodeErr::Corrupt(
                "ASCII85Decode: character out of range".into(),
            ));
        }
        if out.len() > cap {
            return Err(DecodeErr::TooBig(cap));
        }
    }
    if n > 1 {
        for g in group.iter_mut().skip(n) {
            *g = 84;
        }
        let v = group.iter().fold(0u64, |a, d| a * 85 + u64::from(*d));
        let bytes = u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
        out.extend_from_slice(&bytes[..n - 1]);
    }
    Ok(out)
}

/// Undoes a PNG (10-15) or TIFF (2) predictor of 8-bit samples.
fn unpredict(data: Vec<u8>, parms: Option<&Dict>) -> Result<Vec<u8>, DecodeErr> {
    let int = |k: &[u8], d: i64| match parms.and_then(|p| get(p, k)) {
        Some(Obj::Int(v)) => *v,
        _ => d,
    };
    let predictor = int(b"Predictor", 1);
    if predictor <= 1 {
        return Ok(data);
    }
    let colors = int(b"Colors", 1).clamp(1, 32) as usize;
    let bpc = int(b"BitsPerComponent", 8);
    let columns = int(b"Columns", 1).clamp(1, 1 << 20) as usize;
    if bpc != 8 {
        return Err(DecodeErr::Filter(format!(
            "predictor with {bpc} bits per component"
        )));
    }
    let bpp = colors;
    let row = columns * colors;
    if predictor == 2 {
        let mut out = data;
        for r in out.chunks_mut(row) {
            for i in bpp..r.len() {
                r[i] = r[i].wrapping_add(r[i - bpp]);
            }
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let Some((&kind, bytes)) = chunk.split_first() else {
            break;
        };
        let mut cur = bytes.to_vec();
        cur.resize(row, 0);
        for i in 0..row {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let ul = if i >= bpp { prev[i - bpp] } else { 0 };
            let p = match kind {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => {
                    let (a, b, c) = (i16::from(left), i16::from(up), i16::from(ul));
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        ul
                    }
                }
                _ => return Err(DecodeErr::Corrupt(format!("PNG predictor row type {kind}"))),
            };
            cur[i] = cur[i].wrapping_add(p);
        }
        out.extend_from_slice(&cur[..bytes.len().min(row)]);
        prev = cur;
    }
    Ok(out)
}

impl<'a> Pdf<'a> {
    /// Scans the whole file once: every `N G obj` (stream data skipped), the trailers, the
    /// cross-reference streams (inflated, capped) and the file specifications.
    fn scan(b: &'a [u8]) -> Result<Self, Diagnostic> {
        let mut endstreams = Vec::new();
        let mut p = 0;
        while let Some(at) = find(b, b"endstream", p) {
            endstreams.push(at);
            p = at + 9;
        }
        let mut pdf = Pdf {
            b,
            endstreams,
            work: b.len().saturating_mul(4).saturating_add(64 << 20),
            direct: HashMap::new(),
            compressed: HashMap::new(),
            trailer: None,
            filespecs: Vec::new(),
            objstm: HashMap::new(),
            inflated: 0,
            notes: Vec::new(),
        };
        let mut xref_streams: Vec<(usize, u32)> = Vec::new();
        let mut pos = 0;
        while let Some(at) = find(b, b"obj", pos) {
            pos = at + 3;
            if b.get(at + 3).is_some_and(|c| !(is_ws(*c) || is_delim(*c))) {
                continue;
            }
            let Some((start, num, gen)) = header_before(b, at) else {
                continue;
            };
            let mut lx = Lexer::new(b, at + 3);
            let parsed = lx.object(0);
            pdf.spend(lx.pos - (at + 3))?;
            let obj = match parsed {
                Ok(o) => o,
                Err(Err::Depth(p)) => {
                    return Err(fatal(
                        "PDF-DEPTH",
                        format!("object {num} {gen} at byte {start}"),
                        format!(
                            "arrays or dictionaries nested deeper than {MAX_DEPTH} (at byte {p}): refused, real PDFs never do this"
                        ),
                    ))
                }
                Err(Err::Syntax | Err::Size) => continue,
            };
            if pdf.direct.len() >= MAX_OBJECTS && !pdf.direct.contains_key(&num) {
                return Err(fatal(
                    "PDF-SIZE",
                    format!("byte {start}"),
                    format!("more than {MAX_OBJECTS} objects: refused"),
                ));
            }
            pdf.direct.insert(num, (start, gen));
            pos = lx.pos;
            if let Obj::Dict(d) = &obj {
                let length = match get(d, b"Length") {
                    Some(Obj::Int(n)) => Some(*n),
                    _ => None,
                };
                if let Some((_, end)) = stream_range(b, &pdf.endstreams, lx.pos, length) {
                    pos = end;
                }
                if is_name(get(d, b"Type"), b"XRef") {
                    xref_streams.push((start, num));
                    if get(d, b"Root").is_some() {
                        pdf.set_trailer(start, d.clone());
                    }
                }
                if is_name(get(d, b"Type"), b"Filespec") || get(d, b"EF").is_some() {
                    pdf.filespecs.push(num);
                }
            }
        }
        let mut tpos = 0;
        while let Some(at) = find(b, b"trailer", tpos) {
            tpos = at + 7;
            let mut lx = Lexer::new(b, at + 7);
            let parsed = lx.object(0);
            pdf.spend(lx.pos - (at + 7))?;
            match parsed {
                Ok(Obj::Dict(d)) if get(&d, b"Root").is_some() => pdf.set_trailer(at, d),
                Err(Err::Depth(p)) => {
                    return Err(fatal(
                        "PDF-DEPTH",
                        format!("trailer at byte {at}"),
                        format!("nested deeper than {MAX_DEPTH} (at byte {p}): refused"),
                    ))
                }
                _ => {}
            }
        }
        // The newest cross-reference streams describe the file; a file with more than a few
        // dozen has been tampered with.
        let skip = xref_streams.len().saturating_sub(MAX_XREF_STREAMS);
        for (offset, num) in xref_streams.into_iter().skip(skip) {
            pdf.read_xref_stream(offset, num)?;
        }
        Ok(pdf)
    }

    fn spend(&mut self, n: usize) -> Result<(), Diagnostic> {
        match self.work.checked_sub(n) {
            Some(w) => {
                self.work = w;
                Ok(())
            }
            None => Err(fatal(
                "PDF-SYNTAX",
                "",
                "the PDF is too damaged to read within bounds (objects overlap or never end): refused",
            )),
        }
    }

    /// Parses the object that follows the `obj` keyword of the header at `offset`, within the
    /// work budget (`None` once it is spent).
    fn parse_direct(&mut self, offset: usize) -> Option<(Obj, usize)> {
        let window = self
            .b
            .get(offset..offset.saturating_add(40).min(self.b.len()))?;
        let obj_at = offset + find(window, b"obj", 0)?;
        let mut lx = Lexer::new(self.b, obj_at + 3);
        let parsed = lx.object(0);
        let used = lx.pos - (obj_at + 3);
        if self.spend(used).is_err() {
            if !self.notes.iter().any(|n| n.rule == "PDF-BUDGET") {
                self.notes.push(Diagnostic::new(
                    Severity::Warning,
                    "PDF-BUDGET",
                    format!("byte {offset}"),
                    "the PDF makes the reader go over the same objects again and again: the search for attachments stopped here",
                ));
            }
            return None;
        }
        parsed.ok().map(|o| (o, lx.pos))
    }

    fn set_trailer(&mut self, at: usize, d: Dict) {
        if self.trailer.as_ref().is_none_or(|(p, _)| at >= *p) {
            self.trailer = Some((at, d));
        }
    }

    fn charge(&mut self, n: usize, what: &str) -> Result<(), Diagnostic> {
        self.inflated += n;
        if self.inflated > MAX_AUX_TOTAL {
            return Err(fatal(
                "PDF-INFLATE",
                what,
                format!(
                    "object and cross-reference streams inflate to more than {MAX_AUX_TOTAL} bytes in all: refused"
                ),
            ));
        }
        Ok(())
    }

    /// The stream object `num`: its dictionary and its decoded data, at most `cap` bytes.
    fn stream_data(&mut self, num: u32, cap: usize) -> Result<(Dict, Vec<u8>), String> {
        let (offset, _) = *self.direct.get(&num).ok_or("is not in the file")?;
        let Some((Obj::Dict(d), after)) = self.parse_direct(offset) else {
            return Err("is not a stream".into());
        };
        // A stream's length is a number or an uncompressed object (never one inside an object
        // stream, which would need another stream first).
        let length = match get(&d, b"Length") {
            Some(Obj::Int(n)) => Some(*n),
            Some(Obj::Ref(n, _)) => match self.direct.get(n).copied() {
                Some((off, _)) => match self.parse_direct(off) {
                    Some((Obj::Int(v), _)) => Some(v),
                    _ => None,
                },
                None => None,
            },
            _ => None,
        };
        let (start, end) =
            stream_range(self.b, &self.endstreams, after, length).ok_or("is not a stream")?;
        let raw = &self.b[start..end];
        let filters: Vec<Vec<u8>> = match get(&d, b"Filter") {
            Some(Obj::Name(n)) => vec![n.clone()],
            Some(Obj::Array(a)) => a
                .iter()
                .filter_map(|o| match o {
                    Obj::Name(n) => Some(n.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let parms: Vec<Option<Dict>> = match get(&d, b"DecodeParms") {
            Some(Obj::Dict(p)) => vec![Some(p.clone())],
            Some(Obj::Array(a)) => a
                .iter()
                .map(|o| match o {
                    Obj::Dict(p) => Some(p.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut data = raw.to_vec();
        for (i, f) in filters.iter().enumerate() {
            let p = parms.get(i).and_then(Option::as_ref);
            let step = match f.as_slice() {
                b"FlateDecode" | b"Fl" => inflate(&data, cap).and_then(|d| unpredict(d, p)),
                b"ASCIIHexDecode" | b"AHx" => ascii_hex(&data, cap),
                b"ASCII85Decode" | b"A85" => ascii85(&data, cap),
                other => Err(DecodeErr::Filter(
                    String::from_utf8_lossy(other).into_owned(),
                )),
            };
            data = match step {
                Ok(d) => d,
                Err(DecodeErr::TooBig(c)) => {
                    return Err(format!("inflates to more than {c} bytes"));
                }
                Err(DecodeErr::Filter(f)) => return Err(format!("filter {f} is not supported")),
                Err(DecodeErr::Corrupt(m)) => return Err(format!("cannot be decoded: {m}")),
            };
        }
        if data.len() > cap {
            return Err(format!("is larger than {cap} bytes"));
        }
        Ok((d, data))
    }

    fn read_xref_stream(&mut self, offset: usize, num: u32) -> Result<(), Diagnostic> {
        let (d, data) = match self.stream_data(num, MAX_AUX_STREAM) {
            Ok(x) => x,
            Err(why) => {
                self.notes.push(Diagnostic::new(
                    Severity::Warning,
                    "PDF-XREF",
                    format!("object {num}"),
                    format!("cross-reference stream {why}: ignored"),
                ));
                return Ok(());
            }
        };
        self.charge(data.len(), &format!("object {num}"))?;
        let w: Vec<usize> = match get(&d, b"W") {
            Some(Obj::Array(a)) => a
                .iter()
                .map(|o| match o {
                    Obj::Int(v) => usize::try_from(*v).unwrap_or(0).min(8),
                    _ => 0,
                })
                .collect(),
            _ => return Ok(()),
        };
        if w.len() < 3 {
            return Ok(());
        }
        let entry = w[0] + w[1] + w[2];
        if entry == 0 {
            return Ok(());
        }
        let size = match get(&d, b"Size") {
            Some(Obj::Int(v)) => *v,
            _ => 0,
        };
        let index: Vec<i64> = match get(&d, b"Index") {
            Some(Obj::Array(a)) => a
                .iter()
                .filter_map(|o| match o {
                    Obj::Int(v) => Some(*v),
                    _ => None,
                })
                .collect(),
            _ => vec![0, size],
        };
        let field = |bytes: &[u8], default: u64| -> u64 {
            if bytes.is_empty() {
                default
            } else {
                bytes.iter().fold(0u64, |a, b| a << 8 | u64::from(*b))
            }
        };
        let mut rows = data.chunks_exact(entry);
        for pair in index.chunks(2) {
            let [first, count] = pair else { break };
            for k in 0..(*count).max(0) {
                let Some(row) = rows.next() else { break };
                let t = field(&row[..w[0]], 1);
                if t != 2 {
                    continue;
                }
                let Ok(obj_num) = u32::try_from(first + k) else {
                    continue;
                };
                if self.compressed.len() >= MAX_COMPRESSED {
                    continue;
                }
                let stream = field(&row[w[0]..w[0] + w[1]], 0);
                let idx = field(&row[w[0] + w[1]..], 0);
                let (Ok(stream), Ok(index)) = (u32::try_from(stream), usize::try_from(idx)) else {
                    continue;
                };
                let newer = self
                    .compressed
                    .get(&obj_num)
                    .is_none_or(|c| offset >= c.declared_at);
                if newer {
                    self.compressed.insert(
                        obj_num,
                        Compressed {
                            stream,
                            index,
                            declared_at: offset,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Object `num`, resolving through its object stream when compressed.
    fn resolve_num(&mut self, num: u32) -> Option<Obj> {
        let direct = self.direct.get(&num).copied();
        let compressed = self.compressed.get(&num).copied();
        let use_compressed = match (direct, compressed) {
            (Some((off, _)), Some(c)) => c.declared_at > off,
            (None, Some(_)) => true,
            _ => false,
        };
        if use_compressed {
            let c = compressed?;
            return self.in_objstm(c.stream, num, c.index);
        }
        let (offset, _) = direct?;
        self.parse_direct(offset).map(|(o, _)| o)
    }

    fn in_objstm(&mut self, stm: u32, num: u32, index: usize) -> Option<Obj> {
        if !self.objstm.contains_key(&stm) {
            let loaded = self.load_objstm(stm);
            self.objstm.insert(stm, loaded);
        }
        let (pairs, objects) = self.objstm.get(&stm)?.as_ref()?;
        let off = pairs
            .get(index)
            .filter(|(n, _)| *n == num)
            .or_else(|| pairs.iter().find(|(n, _)| *n == num))?
            .1;
        let mut lx = Lexer::new(objects, off);
        let parsed = lx.object(0);
        let used = lx.pos.saturating_sub(off);
        self.spend(used).ok()?;
        parsed.ok()
    }

    fn load_objstm(&mut self, stm: u32) -> Option<ObjStm> {
        let (d, data) = match self.stream_data(stm, MAX_AUX_STREAM) {
            Ok(x) => x,
            Err(why) => {
                self.notes.push(Diagnostic::new(
                    Severity::Warning,
                    "PDF-OBJSTM",
                    format!("object {stm}"),
                    format!("object stream {why}: its objects are not read"),
                ));
                return None;
            }
        };
        if self.charge(data.len(), &format!("object {stm}")).is_err() {
            self.notes.push(Diagnostic::new(
                Severity::Warning,
                "PDF-INFLATE",
                format!("object {stm}"),
                format!("object streams inflate to more than {MAX_AUX_TOTAL} bytes in all: object stream {stm} not read"),
            ));
            return None;
        }
        let n = match get(&d, b"N") {
            Some(Obj::Int(v)) => usize::try_from(*v).ok()?,
            _ => return None,
        };
        let first = match get(&d, b"First") {
            Some(Obj::Int(v)) => usize::try_from(*v).ok()?,
            _ => return None,
        };
        let head = data.get(..first)?;
        let mut lx = Lexer::new(head, 0);
        let mut pairs = Vec::with_capacity(n.min(10_000));
        for _ in 0..n {
            lx.skip_ws();
            let (Some(num), Some(off)) = (lx.int_token(), {
                lx.skip_ws();
                lx.int_token()
            }) else {
                break;
            };
            if let (Ok(num), Ok(off)) = (u32::try_from(num), usize::try_from(off)) {
                pairs.push((num, off));
            }
        }
        let objects = data.get(first..)?.to_vec();
        Some((pairs, objects))
    }

    /// Follows references (a few hops at most).
    fn deref(&mut self, o: &Obj) -> Option<Obj> {
        let mut cur = o.clone();
        for _ in 0..8 {
            match cur {
                Obj::Ref(n, _) => cur = self.resolve_num(n)?,
                other => return Some(other),
            }
        }
        None
    }

    fn dict(&mut self, o: Option<&Obj>) -> Option<Dict> {
        match self.deref(o?)? {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The (name, file specification) pairs of a name tree node and its kids.
    fn name_tree(
        &mut self,
        node: &Dict,
        depth: usize,
        budget: &mut usize,
        out: &mut Vec<(String, Obj)>,
    ) {
        if depth > MAX_TREE_DEPTH || *budget == 0 {
            return;
        }
        *budget -= 1;
        if let Some(Obj::Array(names)) = get(node, b"Names").cloned() {
            for pair in names.chunks(2) {
                if let [Obj::Str(k), v] = pair {
                    out.push((text_string(k), v.clone()));
                }
            }
        }
        let kids = match get(node, b"Kids").cloned() {
            Some(k) => self.deref(&k),
            None => None,
        };
        if let Some(Obj::Array(kids)) = kids {
            for k in kids {
                if let Some(d) = self.dict(Some(&k)) {
                    self.name_tree(&d, depth + 1, budget, out);
                }
                if *budget == 0 {
                    break;
                }
            }
        }
    }
}

/// One attached file: its name and the stream object holding it.
struct Attachment {
    name: String,
    stream: Option<u32>,
}

fn attachment(pdf: &mut Pdf<'_>, spec: &Dict, key_name: Option<String>) -> Option<Attachment> {
    let name = [b"UF".as_slice(), b"F".as_slice()]
        .iter()
        .find_map(|k| match get(spec, k) {
            Some(Obj::Str(s)) => Some(text_string(s)),
            _ => None,
        })
        .or(key_name)?;
    let ef = pdf.dict(get(spec, b"EF"));
    let stream = ef.and_then(|ef| match get(&ef, b"F").or_else(|| get(&ef, b"UF")) {
        Some(Obj::Ref(n, _)) => Some(*n),
        _ => None,
    });
    Some(Attachment { name, stream })
}

/// The embedded invoice (its attachment name and bytes; an error when the PDF is refused or
/// unreadable, or carries no XML attachment) and notes (other attachments, parts of the file
/// that could not be read).
pub fn embedded_invoice(bytes: &[u8]) -> (Found, Vec<Diagnostic>) {
    let mut pdf = match Pdf::scan(bytes) {
        Ok(p) => p,
        Err(d) => return (Err(d), Vec::new()),
    };
    let result = find_invoice(&mut pdf);
    let notes = std::mem::take(&mut pdf.notes);
    (result, notes)
}

fn find_invoice(pdf: &mut Pdf<'_>) -> Result<(String, Vec<u8>), Diagnostic> {
    let Some((_, trailer)) = pdf.trailer.clone() else {
        if pdf.filespecs.is_empty() {
            return Err(fatal(
                "PDF-SYNTAX",
                "",
                "the PDF cannot be read: no trailer or cross-reference stream names its catalog (/Root)",
            ));
        }
        return pick(pdf, Vec::new());
    };
    if get(&trailer, b"Encrypt").is_some() {
        return Err(fatal(
            "PDF-ENCRYPTED",
            "/Encrypt",
            "the PDF is encrypted: PDF/A-3 (Factur-X) forbids it, and relance does not read encrypted files",
        ));
    }
    let mut found: Vec<Attachment> = Vec::new();
    if let Some(root) = pdf.dict(get(&trailer, b"Root")) {
        let mut pairs = Vec::new();
        let names = pdf.dict(get(&root, b"Names"));
        if let Some(tree) = names.and_then(|n| pdf.dict(get(&n, b"EmbeddedFiles"))) {
            let mut budget = MAX_TREE_NODES;
            pdf.name_tree(&tree, 0, &mut budget, &mut pairs);
        }
        if let Some(Obj::Array(af)) = get(&root, b"AF").and_then(|o| pdf.deref(o)) {
            for o in af.iter().take(MAX_TREE_NODES) {
                pairs.push((String::new(), o.clone()));
            }
        }
        for (key, spec) in pairs {
            let key = (!key.is_empty()).then_some(key);
            if let Some(d) = pdf.dict(Some(&spec)) {
                if let Some(a) = attachment(pdf, &d, key) {
                    found.push(a);
                }
            }
        }
    }
    pick(pdf, found)
}

fn pick(pdf: &mut Pdf<'_>, mut found: Vec<Attachment>) -> Result<(String, Vec<u8>), Diagnostic> {
    // File specifications the catalog does not reach (seen in the wild): read too.
    for num in pdf.filespecs.clone().into_iter().take(MAX_TREE_NODES) {
        if let Some(Obj::Dict(d)) = pdf.resolve_num(num) {
            if let Some(a) = attachment(pdf, &d, None) {
                found.push(a);
            }
        }
    }
    let mut unique: Vec<Attachment> = Vec::new();
    for a in found {
        match unique.iter_mut().find(|u| u.name == a.name) {
            Some(u) if u.stream.is_none() => u.stream = a.stream,
            Some(_) => {}
            None => unique.push(a),
        }
    }
    let xmls: Vec<usize> = unique
        .iter()
        .enumerate()
        .filter(|(_, a)| a.name.to_ascii_lowercase().ends_with(".xml") && a.stream.is_some())
        .map(|(i, _)| i)
        .collect();
    let chosen = KNOWN
        .iter()
        .find_map(|k| {
            xmls.iter()
                .copied()
                .find(|i| unique[*i].name.eq_ignore_ascii_case(k))
        })
        .or_else(|| xmls.first().copied());
    let Some(i) = chosen else {
        return Err(fatal(
            "FX-NO-XML",
            "/Root/Names/EmbeddedFiles",
            format!(
                "the PDF carries no XML invoice attachment (attachments: {})",
                if unique.is_empty() {
                    "none".to_owned()
                } else {
                    unique
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ));
    };
    let name = unique[i].name.clone();
    let stream = unique[i].stream.unwrap_or_default();
    let content = match pdf.stream_data(stream, MAX_BYTES) {
        Ok((_, data)) => data,
        Err(why) => {
            let rule = if why.contains("more than") || why.contains("larger") {
                "FILE-SIZE"
            } else {
                "PDF-STREAM"
            };
            return Err(fatal(
                rule,
                &name,
                format!("attachment {name} (object {stream}) {why}: not read"),
            ));
        }
    };
    for a in unique.iter().filter(|a| a.name != name) {
        let n = &a.name;
        if n.eq_ignore_ascii_case("zugferd-invoice.xml") {
            pdf.notes.push(Diagnostic::new(
                Severity::Warning,
                "FX-ZUGFERD1",
                n,
                format!("the PDF also carries {n}, a ZUGFeRD 1.0 invoice: {name} is read, {n} is ignored"),
            ));
            continue;
        }
        pdf.notes.push(Diagnostic::new(
            Severity::Info,
            "FX-ATTACHMENT",
            n,
            format!("other attachment {n} not read (the invoice is {name})"),
        ));
    }
    Ok((name, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse_with_a_depth_limit() {
        let mut lx = Lexer::new(b"<< /A [1 2 0 R (x(y)\\051) <414>] /B#20C /n >>", 0);
        let o = lx.object(0).unwrap_or(Obj::Null);
        let Obj::Dict(d) = o else { panic!("{o:?}") };
        assert_eq!(
            get(&d, b"A"),
            Some(&Obj::Array(vec![
                Obj::Int(1),
                Obj::Ref(2, 0),
                Obj::Str(b"x(y))".to_vec()),
                Obj::Str(b"A@".to_vec())
            ]))
        );
        assert_eq!(get(&d, b"B C"), Some(&Obj::Name(b"n".to_vec())));
        let deep = "[".repeat(200_000);
        assert!(matches!(
            Lexer::new(deep.as_bytes(), 0).object(0),
            Err(Err::Depth(32))
        ));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Lexer::new(ok.as_bytes(), 0).object(0).is_ok());
    }

    #[test]
    fn png_predictor_up() {
        // two rows of 2 columns, filter 2 (Up)
        let data = vec![2, 1, 2, 2, 1, 1];
        let p: Dict = vec![
            (b"Predictor".to_vec(), Obj::Int(12)),
            (b"Columns".to_vec(), Obj::Int(2)),
        ];
        let out = unpredict(data, Some(&p)).unwrap_or_default();
        assert_eq!(out, vec![1, 2, 2, 3]);
    }

    #[test]
    fn ascii_filters() {
        assert_eq!(ascii_hex(b"41 42>", 10).ok(), Some(b"AB".to_vec()));
        assert_eq!(
            ascii85(b"87cURD]j7BEbo7~>", 100).ok(),
            Some(b"Hello world".to_vec())
        );
    }
}
