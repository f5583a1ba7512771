//! Fuzz target: arbitrary bytes as a CDAR lifecycle message: parse, write back and parse again
//! must never panic or hang, and the written message must read back to the same statuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::formats::cdar;

fuzz_target!(|data: &[u8]| {
    let p = cdar::parse(data);
    if let Some(m) = &p.message {
        let again = cdar::parse(cdar::write(m).as_bytes());
        let back = again.message.expect("a written message reads back");
        assert_eq!(back.statuses.len(), m.statuses.len());
    }
});
