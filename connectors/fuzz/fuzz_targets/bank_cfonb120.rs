//! Fuzz target: arbitrary bytes parsed as cfonb120 (see `formats::bank::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::formats::bank::{fuzz, BankFormat};

fuzz_target!(|data: &[u8]| {
    fuzz::one_format(BankFormat::Cfonb120, data);
});
