//! Fuzz target: arbitrary bytes through format detection, streamed and in-memory parses
//! compared (see `formats::bank::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::formats::bank::fuzz;

fuzz_target!(|data: &[u8]| {
    fuzz::any_format(data);
});
