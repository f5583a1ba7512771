//! How a bank file is opened for streaming: the first 64 KiB are read to recognise the format
//! and its character encoding, then the whole file is read through a decoder to UTF-8 (bad
//! bytes become U+FFFD and are counted), line by line for the line formats.

use super::model::BankFormat;
use crate::formats::encoding::{self, BadBytes, DecodedReader, Sniffed};
use std::io::{BufRead, Chain, Cursor, Read};
use std::sync::{Arc, Mutex};

/// How much of the start of a file is read before parsing (format and encoding detection).
pub const HEAD_BYTES: usize = encoding::SNIFF_BYTES;

/// The start of a file, and whether it is the whole file.
pub(crate) struct Head {
    pub bytes: Vec<u8>,
    pub complete: bool,
}

/// Reads up to [`HEAD_BYTES`] from `r` (however small its own buffer is).
pub(crate) fn read_head<R: Read>(r: &mut R) -> std::io::Result<Head> {
    let mut bytes = Vec::with_capacity(8192);
    r.by_ref().take(HEAD_BYTES as u64).read_to_end(&mut bytes)?;
    let complete = bytes.len() < HEAD_BYTES;
    Ok(Head { bytes, complete })
}

/// The encoding of a bank file: the XML declaration or a BOM for camt and OFX 2, the OFX 1
/// header's `CHARSET`/`ENCODING`, else UTF-8 when the head is UTF-8, else windows-1252 (the
/// single-byte set French and German bank exports use).
pub(crate) fn sniff(format: Option<BankFormat>, head: &Head) -> Sniffed {
    let xml = encoding::sniff_xml(&head.bytes);
    if !matches!(
        xml.how,
        encoding::How::Utf8Default | encoding::How::Fallback(_)
    ) {
        return xml;
    }
    if format == Some(BankFormat::Ofx) {
        if let Some(label) = ofx_charset(&head.bytes) {
            return encoding::declared_or_default(Some(label), &head.bytes);
        }
    }
    encoding::sniff_text(&head.bytes, head.complete)
}

/// The character set an OFX 1 header names (`ENCODING:UTF-8`, `CHARSET:1252`, `CHARSET:
/// ISO-8859-1`); `None` for `USASCII`/`NONE` or no header.
fn ofx_charset(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&head[..head.len().min(2048)]);
    let header = text.split("<OFX").next().unwrap_or("");
    let value = |key: &str| {
        header.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().to_owned())
        })
    };
    if value("ENCODING").is_some_and(|e| e.eq_ignore_ascii_case("UTF-8")) {
        return Some("utf-8".to_owned());
    }
    let cs = value("CHARSET")?;
    if cs.eq_ignore_ascii_case("NONE") || cs.is_empty() {
        return None;
    }
    if cs.bytes().all(|c| c.is_ascii_digit()) {
        return Some(format!("windows-{cs}"));
    }
    Some(cs)
}

/// The head as text for format detection (decoded with `sniffed`, lossily).
pub(crate) fn head_text(head: &[u8], sniffed: &Sniffed) -> String {
    encoding::decode(head, sniffed).0
}

/// Bad bytes met by a decoder, shared with the stream that reports them at the end.
pub(crate) type SharedBad = Arc<Mutex<BadBytes>>;

/// A decoded input: the head again, then the rest of the reader, as UTF-8.
pub(crate) struct Input<R: BufRead> {
    inner: DecodedReader<Chain<Cursor<Vec<u8>>, R>>,
    bad: SharedBad,
}

impl<R: BufRead> Input<R> {
    pub(crate) fn new(head: Vec<u8>, rest: R, sniffed: &Sniffed) -> (Self, SharedBad) {
        let bad = SharedBad::default();
        (
            Self {
                inner: DecodedReader::new(Cursor::new(head).chain(rest), sniffed),
                bad: bad.clone(),
            },
            bad,
        )
    }

    fn publish(&self) {
        let b = self.inner.bad();
        if b.count > 0 && self.bad.lock().is_ok_and(|s| s.count != b.count) {
            if let Ok(mut shared) = self.bad.lock() {
                *shared = b;
            }
        }
    }
}

impl<R: BufRead> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.publish();
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Input<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
        self.publish();
    }
}

/// One line of a text file: its 1-based number and text (without the line break).
pub(crate) struct Line {
    pub number: usize,
    pub text: String,
    /// True when the line was longer than the reader's limit (the rest was dropped, or, in
    /// record mode, the line was cut into several records).
    pub cut: bool,
}

/// Splits UTF-8 text into lines at LF, CR LF or a lone CR, in constant memory.
///
/// In line mode a line longer than `max` characters is truncated (`cut`); in record mode
/// (CFONB files written without line breaks) it is cut every `max` characters, each piece
/// numbered from the line's number on.
pub(crate) struct Lines<R: BufRead> {
    r: R,
    max: usize,
    records: bool,
    number: usize,
    piece: usize,
    pending_cr: bool,
    done: bool,
    pub(crate) error: Option<std::io::Error>,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(r: R, max: usize, records: bool) -> Self {
        Self {
            r,
            max,
            records,
            number: 1,
            piece: 0,
            pending_cr: false,
            done: false,
            error: None,
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        if self.done {
            return None;
        }
        let mut bytes: Vec<u8> = Vec::new();
        let mut chars = 0usize;
        let mut cut = false;
        let mut got_any = false;
        loop {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) => {
                    self.error = Some(e);
                    self.done = true;
                    break;
                }
            };
            if buf.is_empty() {
                self.done = true;
                break;
            }
            let mut i = 0;
            if self.pending_cr {
                self.pending_cr = false;
                if buf[0] == b'\n' {
                    i = 1;
                }
            }
            let mut ended = false;
            while i < buf.len() {
                // Bulk: up to the next line break, when that stays within the limit.
                let rest = &buf[i..];
                let skipping = cut && !self.records;
                // Looks no further than the characters still allowed (4 bytes each at most,
                // and one for the break): records cut from a text without line breaks would
                // otherwise scan the whole buffer again for each record.
                let window = if skipping {
                    rest.len()
                } else {
                    rest.len().min(
                        self.max
                            .saturating_sub(chars)
                            .saturating_mul(4)
                            .saturating_add(1),
                    )
                };
                let stop = memchr::memchr2(b'\n', b'\r', &rest[..window]).unwrap_or(window);
                if skipping {
                    i += stop;
                } else {
                    // at most as many bytes as characters are still allowed
                    let take = stop.min(self.max.saturating_sub(chars));
                    bytes.extend_from_slice(&rest[..take]);
                    chars += rest[..take].iter().filter(|c| **c & 0xC0 != 0x80).count();
                    got_any |= take > 0;
                    i += take;
                    if take < stop && chars < self.max {
                        continue;
                    }
                }
                if i == buf.len() {
                    break;
                }
                let c = buf[i];
                if c == b'\n' || c == b'\r' {
                    if c == b'\r' {
                        if buf.get(i + 1) == Some(&b'\n') {
                            i += 1;
                        } else if i + 1 == buf.len() {
                            self.pending_cr = true;
                        }
                    }
                    i += 1;
                    ended = true;
                    break;
                }
                let starts_char = c & 0xC0 != 0x80;
                if starts_char && chars >= self.max {
                    if self.records {
                        // a record is complete: the rest of the line is the next record
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        self.r.consume(i);
                        let line = Line {
                            number: self.number + self.piece,
                            text,
                            cut: true,
                        };
                        self.piece += 1;
                        return Some(line);
                    }
                    cut = true;
                }
                if !cut || self.records {
                    bytes.push(c);
                    if starts_char {
                        chars += 1;
                    }
                }
                got_any = true;
                i += 1;
            }
            self.r.consume(i);
            if ended {
                let line = Line {
                    number: self.number + self.piece,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    cut,
                };
                self.number += 1;
                self.piece = 0;
                return Some(line);
            }
        }
        if got_any && !bytes.is_empty() {
            return Some(Line {
                number: self.number + self.piece,
                text: String::from_utf8_lossy(&bytes).into_owned(),
                cut,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str, max: usize, records: bool, cap: usize) -> Vec<(usize, String, bool)> {
        Lines::new(
            std::io::BufReader::with_capacity(cap, s.as_bytes()),
            max,
            records,
        )
        .map(|l| (l.number, l.text, l.cut))
        .collect()
    }

    /// Records cut from a long text without line breaks (a CFONB file written as one line),
    /// with multi-byte characters, across buffer boundaries: every record has its characters,
    /// nothing lost or doubled.
    #[test]
    fn records_of_a_text_without_line_breaks() {
        let record: String = "0123456789éABCDEFGH".chars().cycle().take(120).collect();
        let text = record.repeat(2000);
        for cap in [7, 4096, 64 * 1024] {
            let got = lines(&text, 120, true, cap);
            assert_eq!(got.len(), 2000, "{cap}");
            assert!(got.iter().all(|(_, t, _)| *t == record), "{cap}");
            assert_eq!(got[1999].0, 2000);
        }
    }

    #[test]
    fn line_breaks_of_every_kind() {
        for cap in [1, 2, 3, 64] {
            assert_eq!(
                lines("a\r\nb\rc\nd", 100, false, cap),
                vec![
                    (1, "a".into(), false),
                    (2, "b".into(), false),
                    (3, "c".into(), false),
                    (4, "d".into(), false)
                ],
                "{cap}"
            );
            assert_eq!(
                lines("a\n\nb\n", 100, false, cap),
                vec![
                    (1, "a".into(), false),
                    (2, String::new(), false),
                    (3, "b".into(), false)
                ]
            );
            assert_eq!(
                lines("abcdef\nxy", 3, false, cap),
                vec![(1, "abc".into(), true), (2, "xy".into(), false)]
            );
            assert_eq!(
                lines("abcdéfg\nxy", 3, true, cap),
                vec![
                    (1, "abc".into(), true),
                    (2, "déf".into(), true),
                    (3, "g".into(), false),
                    (2, "xy".into(), false)
                ]
            );
        }
    }
}
