//! Generators of hostile files, for the tests, the fuzz targets and the benchmarks: PDFs nested
//! deep or carrying decompression bombs (an unused object stream, a non-invoice attachment,
//! the invoice itself), PDFs whose structure lives in compressed object streams, ZIP archives
//! nested deep or whose entries share one payload, and deflate streams of any length built
//! directly (no gigabyte is ever held to make a bomb).

use std::io::Write;

/// A raw DEFLATE stream (RFC 1951) that inflates to `n` zero bytes (at least 1), written with
/// fixed Huffman codes: 13 bits per 258 bytes, so 1 GB takes 6.3 MB, built in no time.
pub fn deflate_zeros(n: u64) -> Vec<u8> {
    deflate_run(&[], 0, n)
}

/// A raw DEFLATE stream that inflates to `prefix` (a stored block) followed by `n` times
/// `byte` (at least once): a bomb that starts like a real file.
pub fn deflate_run(prefix: &[u8], byte: u8, n: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        len: u32,
    }
    impl Bits {
        fn put(&mut self, v: u64, n: u32) {
            self.acc |= v << self.len;
            self.len += n;
            while self.len >= 8 {
                self.out.push((self.acc & 0xFF) as u8);
                self.acc >>= 8;
                self.len -= 8;
            }
        }
        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u64, n: u32) {
            let mut rev = 0u64;
            for i in 0..n {
                rev |= ((code >> i) & 1) << (n - 1 - i);
            }
            self.put(rev, n);
        }
        /// A literal byte with the fixed code.
        fn literal(&mut self, v: u8) {
            if v < 144 {
                self.code(0x30 + u64::from(v), 8);
            } else {
                self.code(0x190 + u64::from(v - 144), 9);
            }
        }
    }
    let n = n.max(1);
    let mut b = Bits {
        out: Vec::with_capacity(prefix.len() + (n / 258 * 13 / 8 + 16) as usize),
        acc: 0,
        len: 0,
    };
    for chunk in prefix.chunks(65_535) {
        // stored block, not final: header bits then the byte-aligned length
        b.put(0, 3);
        if b.len > 0 {
            b.put(0, 8 - b.len);
        }
        let len = chunk.len() as u16;
        b.out.extend_from_slice(&len.to_le_bytes());
        b.out.extend_from_slice(&(!len).to_le_bytes());
        b.out.extend_from_slice(chunk);
    }
    b.put(1, 1); // last block
    b.put(1, 2); // fixed Huffman
    b.literal(byte);
    let mut left = n - 1;
    while left >= 258 {
        b.code(0xC5, 8); // length 258 (code 285)
        b.code(0, 5); // distance 1
        left -= 258;
    }
    // the rest as literals (fewer than 258)
    for _ in 0..left {
        b.literal(byte);
    }
    b.code(0, 7); // end of block
    if b.len > 0 {
        b.put(0, 8 - b.len);
    }
    b.out
}

/// A zlib stream (RFC 1950, PDF's FlateDecode) that inflates to `n` zero bytes.
pub fn zlib_zeros(n: u64) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    out.extend(deflate_zeros(n));
    // Adler-32 of n zeros: a = 1, b = n mod 65521.
    let b = (n.max(1) % 65521) as u32;
    out.extend_from_slice(&(b << 16 | 1).to_be_bytes());
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// What a generated PDF holds.
#[derive(Clone, Debug, Default)]
pub struct PdfSpec {
    /// The invoice attached as `factur-x.xml`, when any.
    pub invoice: Option<Vec<u8>>,
    /// Write the invoice deflated.
    pub compress_invoice: bool,
    /// Make the invoice attachment a bomb instead: a deflate stream of this many zero bytes.
    pub invoice_bomb: u64,
    /// Another attachment (`photo.bin`) that inflates to this many zero bytes (0: none).
    pub other_attachment_bomb: u64,
    /// An object stream nothing refers to that inflates to this many bytes (0: none).
    pub unused_objstm_bomb: u64,
    /// Put the catalog and the file specification in a compressed object stream, found
    /// through a cross-reference stream with a PNG predictor (as modern writers do).
    pub compressed_structure: bool,
    /// Pad that object stream with this many zero bytes once inflated (a bomb the catalog
    /// depends on; 0: none).
    pub structure_bomb: u64,
    /// An array nested this deep (`[[[…]]]`) in an object (0: none).
    pub nesting: usize,
}

/// A PDF as `spec` says: header, objects, classic or stream cross-reference, trailer.
pub fn pdf(spec: &PdfSpec) -> Vec<u8> {
    let mut out: Vec<u8> = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets: Vec<(u32, usize)> = Vec::new();
    fn obj(out: &mut Vec<u8>, offsets: &mut Vec<(u32, usize)>, num: u32, body: &[u8]) {
        offsets.push((num, out.len()));
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let stream = |dict: &str, data: &[u8]| {
        let mut b = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        b.extend_from_slice(data);
        b.extend_from_slice(b"\nendstream");
        b
    };
    // 1 pages, 2 catalog, 3 filespec, 4 invoice stream, 5 other filespec, 6 other stream,
    // 7 unused object stream, 8 nested array, 9 structure object stream, 10 xref stream
    obj(
        &mut out,
        &mut offsets,
        1,
        b"<< /Type /Pages /Kids [] /Count 0 >>",
    );
    let mut specs = Vec::new();
    if spec.invoice.is_some() || spec.invoice_bomb > 0 {
        let data = if spec.invoice_bomb > 0 {
            zlib_zeros(spec.invoice_bomb)
        } else {
            let xml = spec.invoice.clone().unwrap_or_default();
            if spec.compress_invoice {
                zlib(&xml)
            } else {
                xml
            }
        };
        let filter = if spec.compress_invoice || spec.invoice_bomb > 0 {
            "/Filter /FlateDecode "
        } else {
            ""
        };
        obj(
            &mut out,
            &mut offsets,
            4,
            &stream(
                &format!("/Type /EmbeddedFile /Subtype /text#2Fxml {filter}"),
                &data,
            ),
        );
        specs.push((3u32, "factur-x.xml", 4u32));
    }
    if spec.other_attachment_bomb > 0 {
        obj(
            &mut out,
            &mut offsets,
            6,
            &stream(
                "/Type /EmbeddedFile /Filter /FlateDecode",
                &zlib_zeros(spec.other_attachment_bomb),
            ),
        );
        specs.push((5, "photo.bin", 6));
    }
    if spec.unused_objstm_bomb > 0 {
        obj(
            &mut out,
            &mut offsets,
            7,
            &stream(
                "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
                &zlib_zeros(spec.unused_objstm_bomb),
            ),
        );
    }
    if spec.nesting > 0 {
        let mut body = "[".repeat(spec.nesting).into_bytes();
        body.extend("]".repeat(spec.nesting).into_bytes());
        obj(&mut out, &mut offsets, 8, &body);
    }
    let names: String = specs
        .iter()
        .map(|(n, name, _)| format!("({name}) {n} 0 R "))
        .collect();
    let af: String = specs.iter().map(|(n, _, _)| format!("{n} 0 R ")).collect();
    let catalog = format!(
        "<< /Type /Catalog /Pages 1 0 R /AF [{af}] /Names << /EmbeddedFiles << /Names [{names}] >> >> >>"
    );
    let filespecs: Vec<(u32, String)> = specs
        .iter()
        .map(|(n, name, s)| {
            (
                *n,
                format!(
                    "<< /Type /Filespec /F ({name}) /UF ({name}) /AFRelationship /Data /EF << /F {s} 0 R >> >>"
                ),
            )
        })
        .collect();
    if spec.compressed_structure {
        // catalog and file specifications inside object stream 9
        let mut objects = Vec::new();
        let mut header = String::new();
        for (num, body) in std::iter::once((2u32, catalog)).chain(filespecs) {
            header.push_str(&format!("{num} {} ", objects.len()));
            objects.extend_from_slice(body.as_bytes());
            objects.push(b'\n');
        }
        let first = header.len();
        let mut content = header.into_bytes();
        content.extend_from_slice(&objects);
        let n = 1 + specs.len();
        let data = if spec.structure_bomb > 0 {
            // the objects in a stored block, then a block of zeros: one zlib stream
            let mut z = vec![0x78, 0x01, 0x00];
            let len = content.len() as u16;
            z.extend_from_slice(&len.to_le_bytes());
            z.extend_from_slice(&(!len).to_le_bytes());
            z.extend_from_slice(&content);
            z.extend(deflate_zeros(spec.structure_bomb));
            z.extend_from_slice(&[0, 0, 0, 0]);
            z
        } else {
            zlib(&content)
        };
        obj(
            &mut out,
            &mut offsets,
            9,
            &stream(
                &format!("/Type /ObjStm /N {n} /First {first} /Filter /FlateDecode"),
                &data,
            ),
        );
        // cross-reference stream: W [1 4 2], PNG Up predictor, 5 columns + filter byte
        let size = 11u32;
        let mut rows: Vec<[u8; 7]> = vec![[0; 7]; size as usize];
        rows[0] = [0, 0, 0, 0, 0, 0xFF, 0xFF];
        for (num, off) in &offsets {
            let o = (*off as u32).to_be_bytes();
            rows[*num as usize] = [1, o[0], o[1], o[2], o[3], 0, 0];
        }
        for (i, (num, _, _)) in std::iter::once((2u32, "", 0u32))
            .chain(specs.iter().copied())
            .enumerate()
        {
            let idx = (i as u16).to_be_bytes();
            rows[num as usize] = [2, 0, 0, 0, 9, idx[0], idx[1]];
        }
        let xref_at = out.len() as u32;
        let o = xref_at.to_be_bytes();
        rows[10] = [1, o[0], o[1], o[2], o[3], 0, 0];
        let mut raw = Vec::new();
        let mut prev = [0u8; 7];
        for r in &rows {
            raw.push(2); // Up
            for i in 0..7 {
                raw.push(r[i].wrapping_sub(prev[i]));
            }
            prev = *r;
        }
        let data = zlib(&raw);
        obj(&mut out, &mut offsets,
            10,
            &stream(
                &format!(
                    "/Type /XRef /Size {size} /W [1 4 2] /Root 2 0 R /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >>"
                ),
                &data,
            ),
        );
        out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
        return out;
    }
    obj(&mut out, &mut offsets, 2, catalog.as_bytes());
    for (num, body) in &filespecs {
        obj(&mut out, &mut offsets, *num, body.as_bytes());
    }
    let xref_at = out.len();
    offsets.sort();
    let size = offsets.last().map_or(1, |(n, _)| n + 1);
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
    for n in 1..size {
        match offsets.iter().find(|(k, _)| *k == n) {
            Some((_, off)) => out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes()),
            None => out.extend_from_slice(b"0000000000 65535 f \n"),
        }
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {size} /Root 2 0 R >>\nstartxref\n{xref_at}\n%%EOF\n")
            .as_bytes(),
    );
    out
}

/// One member of a generated ZIP archive.
#[derive(Clone, Debug)]
pub struct ZipMember {
    /// File name.
    pub name: String,
    /// Data as stored in the archive (already deflated when `deflated`).
    pub data: Vec<u8>,
    /// Compression method 8 (deflate) rather than 0 (stored).
    pub deflated: bool,
    /// Size once inflated (what the headers say).
    pub size: u32,
}

impl ZipMember {
    /// A member stored as is.
    pub fn stored(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.to_owned(),
            data: data.to_vec(),
            deflated: false,
            size: data.len() as u32,
        }
    }

    /// A member deflated.
    pub fn deflated(name: &str, data: &[u8]) -> Self {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(data);
        Self {
            name: name.to_owned(),
            data: e.finish().unwrap_or_default(),
            deflated: true,
            size: data.len() as u32,
        }
    }

    /// A member that inflates to `n` zero bytes.
    pub fn zeros(name: &str, n: u64) -> Self {
        Self::run(name, &[], 0, n)
    }

    /// A member that inflates to `prefix` then `n` times `byte`.
    pub fn run(name: &str, prefix: &[u8], byte: u8, n: u64) -> Self {
        Self {
            name: name.to_owned(),
            data: deflate_run(prefix, byte, n),
            deflated: true,
            size: (prefix.len() as u64 + n).min(u64::from(u32::MAX)) as u32,
        }
    }
}

/// A ZIP archive of `members`; `shared` more central-directory entries all point at the
/// first member's data (the overlapping-entries bomb).
pub fn zip(members: &[ZipMember], shared: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut entries = 0u16;
    let mut first_offset = None;
    for m in members {
        let offset = out.len() as u32;
        first_offset.get_or_insert((offset, m.clone()));
        let method: u16 = if m.deflated { 8 } else { 0 };
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // time, date
        out.extend_from_slice(&[0; 4]); // crc (not checked by relance)
        out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&m.size.to_le_bytes());
        out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&m.data);
        central_entry(&mut central, &m.name, method, m, offset);
        entries += 1;
    }
    if let Some((offset, m)) = first_offset {
        let method: u16 = if m.deflated { 8 } else { 0 };
        for i in 0..shared {
            central_entry(
                &mut central,
                &format!("copy{i}-{}", m.name),
                method,
                &m,
                offset,
            );
            entries += 1;
        }
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn central_entry(out: &mut Vec<u8>, name: &str, method: u16, m: &ZipMember, offset: u32) {
    out.extend_from_slice(b"PK\x01\x02");
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&method.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&m.size.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // extra, comment lengths
    out.extend_from_slice(&[0; 4]); // disk, internal attributes
    out.extend_from_slice(&[0; 4]); // external attributes
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
}

/// `inner` wrapped in `depth` ZIP archives (stored), each holding the next.
pub fn nested_zip(depth: usize, inner: &[u8]) -> Vec<u8> {
    let mut cur = inner.to_vec();
    for i in 0..depth {
        cur = zip(&[ZipMember::stored(&format!("level{i}.zip"), &cur)], 0);
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn deflate_zeros_inflates_to_exactly_n_zeros() {
        for n in [1u64, 2, 257, 258, 259, 1000, 100_000] {
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(&deflate_zeros(n)[..])
                .read_to_end(&mut out)
                .unwrap_or_default();
            assert_eq!(out.len() as u64, n, "{n}");
            assert!(out.iter().all(|b| *b == 0));
            let mut z = Vec::new();
            flate2::read::ZlibDecoder::new(&zlib_zeros(n)[..])
                .read_to_end(&mut z)
                .unwrap_or_default();
            assert_eq!(z.len() as u64, n);
            let mut r = Vec::new();
            flate2::read::DeflateDecoder::new(&deflate_run(b"<OFX>", b'A', n)[..])
                .read_to_end(&mut r)
                .unwrap_or_default();
            assert_eq!(r.len() as u64, n + 5);
            assert!(r.starts_with(b"<OFX>A") && r.ends_with(b"AA") || n == 1);
        }
        assert!(deflate_zeros(1 << 30).len() < 7_000_000);
    }
}
