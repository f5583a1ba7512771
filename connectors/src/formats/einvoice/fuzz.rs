//! Fuzzing entry points for e-invoices (the `connectors/fuzz` targets call these): PDFs built
//! from a recipe read off the fuzzer's bytes (nesting, bombs in every place, compressed
//! structure, then byte mutations), checked against what the recipe promises.

use super::{is_usable, parse, write};
use crate::formats::diag::Severity;
use crate::formats::hostile::{self, PdfSpec};

/// Reads small decisions off the fuzzer's bytes (zeros once they run out).
struct Draw<'a>(&'a [u8]);

impl Draw<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }

    /// One time in `n`.
    fn chance(&mut self, n: u8) -> bool {
        self.u8().is_multiple_of(n.max(1))
    }

    /// A size up to about `max` bytes, small sizes more often.
    fn size(&mut self, max: u64) -> u64 {
        let shift = u64::from(self.u8() % 40);
        (1u64 << shift.min(63)).min(max) + u64::from(self.u16())
    }
}

/// Builds a PDF from the recipe in `data`, mutates it with the rest of `data`, parses it, and
/// checks: a file refused always says why; a PDF whose invoice path holds no bomb, no nesting
/// and no mutation gives the invoice, whatever sits beside it.
pub fn pdf_structured(data: &[u8]) {
    pdf_structured_within(data, 1 << 31);
}

/// [`pdf_structured`] with bombs of at most `max_bomb` bytes.
pub fn pdf_structured_within(data: &[u8], max_bomb: u64) {
    let mut d = Draw(data);
    let sample = write::sample(usize::from(d.u8()));
    let spec = PdfSpec {
        invoice: Some(write::cii(&sample).into_bytes()),
        compress_invoice: d.u8() & 1 == 1,
        invoice_bomb: if d.chance(16) {
            d.size((1 << 27).min(max_bomb))
        } else {
            0
        },
        other_attachment_bomb: if d.chance(4) { d.size(max_bomb) } else { 0 },
        unused_objstm_bomb: if d.chance(4) { d.size(max_bomb) } else { 0 },
        compressed_structure: d.u8() & 1 == 1,
        structure_bomb: if d.chance(16) {
            d.size((1 << 27).min(max_bomb))
        } else {
            0
        },
        nesting: if d.chance(8) {
            usize::from(d.u16()) * 4
        } else {
            0
        },
    };
    let mut pdf = hostile::pdf(&spec);
    let mutations = d.0;
    for m in mutations.chunks_exact(3).take(64) {
        let at = (usize::from(m[0]) << 8 | usize::from(m[1])) * pdf.len() / 65_536;
        if let Some(b) = pdf.get_mut(at) {
            *b = m[2];
        }
    }
    let f = parse("fuzz.pdf", &pdf);
    if !is_usable(&f) {
        assert!(
            f.diagnostics.iter().any(|x| x.severity >= Severity::Error),
            "an unusable PDF without a reason: {:?}",
            f.diagnostics
        );
    }
    let clean_path = spec.invoice_bomb == 0 && spec.structure_bomb == 0 && spec.nesting == 0;
    if clean_path && mutations.len() < 3 {
        assert!(is_usable(&f), "{spec:?}: {:?}", f.diagnostics);
        assert_eq!(
            f.documents.first().and_then(|x| x.number.as_deref()),
            Some(sample.number.as_str())
        );
    }
    if spec.nesting > super::pdf::MAX_DEPTH && mutations.len() < 3 {
        assert!(f.diagnostics.iter().any(|x| x.rule == "PDF-DEPTH"));
    }
    let _ = super::inspect_json(&f);
}
