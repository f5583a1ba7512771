//! Character encodings of incoming files: which one a file is in (byte-order mark, the XML
//! declaration, or what the format is known to use) and a decoder to UTF-8 that replaces bad
//! bytes by U+FFFD and remembers where they were, so parsers can say so instead of silently
//! reading something else.
//!
//! - XML (CII, UBL, camt, OFX 2): a BOM (UTF-8, UTF-16 LE/BE), else UTF-16 recognised by its
//!   first bytes (`<` `?` as 16-bit units), else the declaration's `encoding` (UTF-8,
//!   ISO-8859-1, ISO-8859-15, windows-1252, US-ASCII, UTF-16 and every other WHATWG label),
//!   else UTF-8. ISO-8859-1 is read as windows-1252, its superset in practice.
//! - Line formats without a declaration (MT940, CFONB 120, FEC, OFX 1 without a charset): a
//!   BOM, else UTF-8 when the first 64 KiB are UTF-8, else windows-1252 (what French and German
//!   bank exports use when they are not UTF-8).

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};
use std::io::BufRead;

/// How much of the start of a file is looked at to choose an encoding.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// Why an encoding was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// A byte-order mark.
    Bom,
    /// UTF-16 recognised from the first characters (no BOM).
    Pattern,
    /// Named by the file (XML declaration, OFX header), as written.
    Declared(String),
    /// Nothing said: the start of the file is valid UTF-8.
    Utf8Default,
    /// Nothing said and the start of the file is not UTF-8: the format's usual single-byte
    /// character set; the byte offset of the first byte that is not UTF-8.
    Fallback(u64),
}

/// The encoding chosen for a file.
#[derive(Clone, Debug)]
pub struct Sniffed {
    /// The encoding.
    pub encoding: &'static Encoding,
    /// Length of the byte-order mark to skip.
    pub bom: usize,
    /// Why.
    pub how: How,
    /// A declared name that is no known encoding (then UTF-8 is used).
    pub unknown: Option<String>,
}

impl Sniffed {
    /// A short description for messages: `UTF-8 (declared "utf-8")`.
    pub fn describe(&self) -> String {
        let name = self.encoding.name();
        match &self.how {
            How::Bom => format!("{name} (byte-order mark)"),
            How::Pattern => format!("{name} (recognised from the first characters)"),
            How::Declared(d) => format!("{name} (declared {d:?})"),
            How::Utf8Default => format!("{name} (nothing declared)"),
            How::Fallback(at) => format!(
                "{name} (nothing declared, and byte {at} is not UTF-8: read with the format's usual single-byte character set)"
            ),
        }
    }
}

fn bom(head: &[u8]) -> Option<Sniffed> {
    let (encoding, len) = Encoding::for_bom(head)?;
    Some(Sniffed {
        encoding,
        bom: len,
        how: How::Bom,
        unknown: None,
    })
}

/// The value of `encoding` in an XML declaration at the start of `head` (ASCII-compatible
/// encodings only; a UTF-8 BOM is skipped).
pub fn xml_declared(head: &[u8]) -> Option<String> {
    let b = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let b = &b[..b.len().min(1024)];
    let start = b.iter().position(|c| !c.is_ascii_whitespace())?;
    let b = b[start..].strip_prefix(b"<?xml")?;
    let end = b.windows(2).position(|w| w == b"?>")?;
    let decl = &b[..end];
    let i = decl.windows(8).position(|w| w == b"encoding")?;
    let mut rest = &decl[i + 8..];
    rest = trim_ascii_start(rest).strip_prefix(b"=")?;
    rest = trim_ascii_start(rest);
    let q = *rest.first().filter(|c| matches!(c, b'"' | b'\''))?;
    let rest = &rest[1..];
    let v = &rest[..rest.iter().position(|c| *c == q)?];
    Some(String::from_utf8_lossy(v).into_owned())
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// The encoding of an XML document from its first bytes.
pub fn sniff_xml(head: &[u8]) -> Sniffed {
    if let Some(s) = bom(head) {
        return s;
    }
    // XML 1.0 appendix F: "<?" as UTF-16 code units.
    if head.starts_with(&[0x3C, 0x00, 0x3F, 0x00]) {
        return Sniffed {
            encoding: UTF_16LE,
            bom: 0,
            how: How::Pattern,
            unknown: None,
        };
    }
    if head.starts_with(&[0x00, 0x3C, 0x00, 0x3F]) {
        return Sniffed {
            encoding: UTF_16BE,
            bom: 0,
            how: How::Pattern,
            unknown: None,
        };
    }
    declared_or_default(xml_declared(head), head)
}

/// The encoding named by `label` (a declaration or header) when it is known, else the
/// default of a text file without declaration.
pub fn declared_or_default(label: Option<String>, head: &[u8]) -> Sniffed {
    if let Some(label) = label {
        match Encoding::for_label_no_replacement(label.trim().as_bytes()) {
            // A declared 16-bit encoding on bytes that are not 16-bit (no BOM, no pattern):
            // the declaration is wrong; the bytes decide.
            Some(e) if e == UTF_16LE || e == UTF_16BE => {}
            Some(e) => {
                return Sniffed {
                    encoding: e,
                    bom: 0,
                    how: How::Declared(label),
                    unknown: None,
                }
            }
            None => {
                let mut s = sniff_text(head, false);
                s.unknown = Some(label);
                return s;
            }
        }
    }
    sniff_text(head, false)
}

/// The encoding of a text file without declaration: BOM, else UTF-8 when `head` is UTF-8
/// (`complete`: `head` is the whole file, so a character cut at its end is an error), else
/// windows-1252.
pub fn sniff_text(head: &[u8], complete: bool) -> Sniffed {
    if let Some(s) = bom(head) {
        return s;
    }
    match std::str::from_utf8(head) {
        Ok(_) => utf8_default(),
        Err(e) if e.error_len().is_none() && !complete => utf8_default(),
        Err(e) => Sniffed {
            encoding: WINDOWS_1252,
            bom: 0,
            how: How::Fallback(e.valid_up_to() as u64),
            unknown: None,
        },
    }
}

fn utf8_default() -> Sniffed {
    Sniffed {
        encoding: UTF_8,
        bom: 0,
        how: How::Utf8Default,
        unknown: None,
    }
}

/// Bytes that are not valid in the encoding: how many sequences, and the byte offset of the
/// first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BadBytes {
    /// Malformed sequences replaced by U+FFFD.
    pub count: u64,
    /// Byte offset (in the file) of the first.
    pub first: Option<u64>,
}

impl BadBytes {
    fn record(&mut self, at: u64) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(at);
        }
    }

    /// A message for a diagnostic, `None` when there were none.
    pub fn message(&self, sniffed: &Sniffed) -> Option<String> {
        let first = self.first?;
        Some(format!(
            "{} byte sequence(s) are not valid {}, the first at byte {first}; each was replaced by U+FFFD",
            self.count,
            sniffed.describe()
        ))
    }
}

/// Decodes a whole buffer to UTF-8 with `sniffed`'s encoding (its BOM skipped).
pub fn decode(bytes: &[u8], sniffed: &Sniffed) -> (String, BadBytes) {
    let input = bytes.get(sniffed.bom..).unwrap_or_default();
    let mut bad = BadBytes::default();
    if sniffed.encoding == UTF_8 {
        if let Ok(s) = std::str::from_utf8(input) {
            return (s.to_owned(), bad);
        }
    }
    let mut decoder = sniffed.encoding.new_decoder_without_bom_handling();
    let cap = decoder
        .max_utf8_buffer_length_without_replacement(input.len())
        .unwrap_or(input.len().saturating_mul(3))
        .saturating_add(16);
    let mut out = String::with_capacity(cap.min(input.len().saturating_mul(3) + 16));
    let mut read_total = 0usize;
    loop {
        let (res, read) =
            decoder.decode_to_string_without_replacement(&input[read_total..], &mut out, true);
        read_total += read;
        match res {
            encoding_rs::DecoderResult::InputEmpty => break,
            encoding_rs::DecoderResult::OutputFull => {
                out.reserve(input.len() - read_total + 16);
            }
            encoding_rs::DecoderResult::Malformed(len, extra) => {
                let at = (sniffed.bom + read_total) as u64 - u64::from(extra) - u64::from(len);
                bad.record(at);
                out.push('\u{FFFD}');
            }
        }
    }
    (out, bad)
}

/// A reader that decodes `inner` to UTF-8 as it is read (constant memory): bad sequences
/// become U+FFFD and are counted in [`DecodedReader::bad`]. UTF-8 input is only checked and
/// passed through (no copy); other encodings are transcoded.
pub struct DecodedReader<R: BufRead> {
    inner: R,
    /// `None` for UTF-8 (checked in place).
    decoder: Option<encoding_rs::Decoder>,
    skip: usize,
    out: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes of the inner buffer handed out in place and not consumed yet (UTF-8).
    direct: usize,
    /// The start of a UTF-8 character cut by the end of the inner buffer.
    carry: Vec<u8>,
    consumed: u64,
    bad: BadBytes,
    eof: bool,
}

const OUT_BUF: usize = 64 * 1024;

impl<R: BufRead> DecodedReader<R> {
    /// Decodes `inner` (read from its first byte, BOM included) with `sniffed`'s encoding.
    pub fn new(inner: R, sniffed: &Sniffed) -> Self {
        let utf8 = sniffed.encoding == UTF_8;
        Self {
            inner,
            decoder: (!utf8).then(|| sniffed.encoding.new_decoder_without_bom_handling()),
            skip: sniffed.bom,
            out: if utf8 { vec![0; 8] } else { vec![0; OUT_BUF] },
            pos: 0,
            len: 0,
            direct: 0,
            carry: Vec::new(),
            consumed: 0,
            bad: BadBytes::default(),
            eof: false,
        }
    }

    /// Bad byte sequences met so far.
    pub fn bad(&self) -> BadBytes {
        self.bad
    }

    /// Input bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.consumed
    }

    fn skip_bom(&mut self) -> std::io::Result<()> {
        while self.skip > 0 {
            let input = self.inner.fill_buf()?;
            if input.is_empty() {
                break;
            }
            let n = input.len().min(self.skip);
            self.inner.consume(n);
            self.skip -= n;
            self.consumed += n as u64;
        }
        Ok(())
    }

    /// Puts one U+FFFD in the small output buffer for a bad sequence at `at`.
    fn replacement(&mut self, at: u64) {
        self.bad.record(at);
        self.out[..3].copy_from_slice("\u{FFFD}".as_bytes());
        self.pos = 0;
        self.len = 3;
    }

    /// UTF-8: what can be handed out in place, else one character (or U+FFFD) copied.
    fn fill_utf8(&mut self) -> std::io::Result<()> {
        // Finish a character cut by the previous buffer first.
        if !self.carry.is_empty() {
            let input = self.inner.fill_buf()?;
            let need = utf8_len(self.carry[0]).saturating_sub(self.carry.len());
            let take = need.min(input.len());
            let mut seq = std::mem::take(&mut self.carry);
            seq.extend_from_slice(&input[..take]);
            let at = self.consumed - (seq.len() - take) as u64;
            match std::str::from_utf8(&seq) {
                Ok(_) => {
                    self.inner.consume(take);
                    self.consumed += take as u64;
                    self.out[..seq.len()].copy_from_slice(&seq);
                    self.pos = 0;
                    self.len = seq.len();
                }
                Err(e) if e.error_len().is_none() && !input.is_empty() => {
                    // still not complete: keep carrying
                    self.inner.consume(take);
                    self.consumed += take as u64;
                    self.carry = seq;
                }
                Err(e) => {
                    // bad (or cut by the end of the file): one U+FFFD for the bad part, the
                    // bytes after it are read again
                    let bad_len = e.error_len().unwrap_or(seq.len()).max(1);
                    let from_input = bad_len.saturating_sub(seq.len() - take).min(take);
                    self.inner.consume(from_input);
                    self.consumed += from_input as u64;
                    self.replacement(at);
                }
            }
            return Ok(());
        }
        let input = self.inner.fill_buf()?;
        if input.is_empty() {
            self.eof = true;
            return Ok(());
        }
        // At most a buffer's worth is handed out at a time, however much the inner reader
        // holds (a slice in memory holds everything): the readers above bound what they
        // buffer by what each read gives them.
        let input = &input[..input.len().min(OUT_BUF)];
        match std::str::from_utf8(input) {
            Ok(_) => self.direct = input.len(),
            Err(e) if e.valid_up_to() > 0 => self.direct = e.valid_up_to(),
            Err(e) => match e.error_len() {
                Some(n) => {
                    let at = self.consumed;
                    self.inner.consume(n);
                    self.consumed += n as u64;
                    self.replacement(at);
                }
                None => {
                    // a character cut by the end of the buffer
                    self.carry = input.to_vec();
                    let n = input.len();
                    self.inner.consume(n);
                    self.consumed += n as u64;
                }
            },
        }
        Ok(())
    }

    fn fill_transcoded(&mut self) -> std::io::Result<()> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(());
        };
        let input = self.inner.fill_buf()?;
        let last = input.is_empty();
        // Leave room for one U+FFFD after a malformed sequence.
        let room = self.out.len() - 3;
        let (res, read, written) =
            decoder.decode_to_utf8_without_replacement(input, &mut self.out[..room], last);
        self.inner.consume(read);
        self.consumed += read as u64;
        self.pos = 0;
        self.len = written;
        match res {
            encoding_rs::DecoderResult::InputEmpty => {
                if last {
                    self.eof = true;
                }
            }
            encoding_rs::DecoderResult::OutputFull => {}
            encoding_rs::DecoderResult::Malformed(len, extra) => {
                let at = self
                    .consumed
                    .saturating_sub(u64::from(extra) + u64::from(len));
                self.bad.record(at);
                self.out[self.len..self.len + 3].copy_from_slice("\u{FFFD}".as_bytes());
                self.len += 3;
            }
        }
        Ok(())
    }
}

/// The length of the UTF-8 sequence a lead byte starts (1 for a byte that starts none).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

impl<R: BufRead> std::io::Read for DecodedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for DecodedReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.skip_bom()?;
        loop {
            if self.direct > 0 {
                let input = self.inner.fill_buf()?;
                let n = self.direct.min(input.len());
                return Ok(&input[..n]);
            }
            if self.pos < self.len {
                return Ok(&self.out[self.pos..self.len]);
            }
            if self.eof {
                if !self.carry.is_empty() {
                    // a character cut by the end of the file
                    let at = self.consumed - self.carry.len() as u64;
                    self.carry.clear();
                    self.replacement(at);
                    continue;
                }
                return Ok(&[]);
            }
            if self.decoder.is_some() {
                self.fill_transcoded()?;
            } else {
                self.fill_utf8()?;
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        if self.direct > 0 {
            let n = amt.min(self.direct);
            self.inner.consume(n);
            self.consumed += n as u64;
            self.direct -= n;
        } else {
            self.pos = (self.pos + amt).min(self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn boms_patterns_declarations() {
        assert_eq!(sniff_xml(b"\xFF\xFE<\0?\0").encoding, UTF_16LE);
        assert_eq!(sniff_xml(b"\xFE\xFF\0<\0?").encoding, UTF_16BE);
        assert_eq!(sniff_xml(b"<\0?\0x\0").encoding, UTF_16LE);
        let s = sniff_xml(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>");
        assert_eq!(s.encoding, WINDOWS_1252);
        assert_eq!(s.how, How::Declared("ISO-8859-1".into()));
        assert_eq!(
            sniff_xml(b"<?xml version='1.0' encoding='iso-8859-15'?>").encoding,
            encoding_rs::ISO_8859_15
        );
        let s = sniff_xml(b"<?xml version=\"1.0\" encoding=\"x-nonsense\"?>");
        assert_eq!(s.encoding, UTF_8);
        assert_eq!(s.unknown.as_deref(), Some("x-nonsense"));
        assert_eq!(sniff_text(b"caf\xE9 ok", true).how, How::Fallback(3));
        assert_eq!(sniff_text("café".as_bytes(), true).encoding, UTF_8);
        // a character cut at the end of a partial head is not an error
        assert_eq!(sniff_text(&"café".as_bytes()[..4], false).encoding, UTF_8);
    }

    #[test]
    fn utf8_checked_in_place_agrees_with_the_whole_decoding() {
        let cases: [&[u8]; 7] = [
            "é€😀 plain".as_bytes(),
            b"\xE2\x82",
            b"a\xE2\x82Bcd",
            b"\xF0\x9F\x98",
            b"\x80\x80abc\xC3",
            b"ok\xC3\xA9\xFFz\xE2\x82\xAC",
            b"",
        ];
        for bytes in cases {
            let s = utf8_default();
            let (whole, bad) = decode(bytes, &s);
            for cap in [1, 2, 3, 4, 7, 64] {
                let mut r = DecodedReader::new(std::io::BufReader::with_capacity(cap, bytes), &s);
                let mut streamed = String::new();
                r.read_to_string(&mut streamed).unwrap_or_default();
                assert_eq!(whole, streamed, "{bytes:?} by {cap}");
                assert_eq!(bad, r.bad(), "{bytes:?} by {cap}");
            }
        }
    }

    #[test]
    fn streaming_decoder_marks_bad_bytes_and_matches_whole_decoding() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>é€</a>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        for (bytes, want_bad) in [
            (utf16.clone(), None),
            (b"ab\xFFcd\xC3".to_vec(), Some(2)),
            ("plain é".as_bytes().to_vec(), None),
        ] {
            let s = if bytes.starts_with(&[0xFF, 0xFE]) {
                sniff_xml(&bytes)
            } else {
                utf8_default()
            };
            let (whole, bad) = decode(&bytes, &s);
            for cap in [1, 2, 3, 5, 64] {
                let mut r =
                    DecodedReader::new(std::io::BufReader::with_capacity(cap, &bytes[..]), &s);
                let mut streamed = String::new();
                r.read_to_string(&mut streamed).unwrap_or_default();
                assert_eq!(whole, streamed, "{cap}");
                assert_eq!(bad, r.bad(), "{cap}");
            }
            assert_eq!(bad.first.is_some(), want_bad.is_some());
            if let Some(n) = want_bad {
                assert_eq!(bad.count, n);
                assert_eq!(bad.first, Some(2));
            }
        }
    }
}
