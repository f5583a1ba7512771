//! Fuzz target: ZIP archives built from a recipe (statements of every format stored or
//! deflated and mutated, bombs, entries sharing a payload, nesting), parsed streamed and in
//! memory (see `formats::bank::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::formats::bank::fuzz;

fuzz_target!(|data: &[u8]| {
    fuzz::zip_structured(data);
});
