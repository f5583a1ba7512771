//! Fuzz target: arbitrary bytes as an e-invoice XML (CII, UBL, ZUGFeRD 1): parse, check,
//! convert and render must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::formats::einvoice;

fuzz_target!(|data: &[u8]| {
    let f = einvoice::parse("fuzz.xml", data);
    if einvoice::is_usable(&f) {
        for d in &f.documents {
            let _ = einvoice::to_core(d);
        }
    }
    let _ = einvoice::inspect_json(&f);
    let _ = einvoice::human(&f);
});
