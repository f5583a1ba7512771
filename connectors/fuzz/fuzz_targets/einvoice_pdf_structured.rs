//! Fuzz target: PDFs built from a recipe (nesting, decompression bombs in an unused object
//! stream, a non-invoice attachment, the invoice and the catalog's object stream, compressed
//! structure) then mutated, through the Factur-X reader (see `formats::einvoice::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::formats::einvoice::fuzz;

fuzz_target!(|data: &[u8]| {
    fuzz::pdf_structured(data);
});
