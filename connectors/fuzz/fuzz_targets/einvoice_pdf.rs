//! Fuzz target: arbitrary bytes behind a PDF header, through the Factur-X attachment search.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::formats::einvoice;

fuzz_target!(|data: &[u8]| {
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend_from_slice(data);
    let f = einvoice::parse("fuzz.pdf", &pdf);
    let _ = einvoice::is_usable(&f);
    let _ = einvoice::inspect_json(&f);
});
