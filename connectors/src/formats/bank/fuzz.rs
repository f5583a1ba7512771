//! Fuzzing entry points (the `connectors/fuzz` targets call these): parse arbitrary bytes as
//! one format, then exercise everything built on the result. Each function panics only
//! when an invariant is broken, which is what the fuzzer reports.

use super::{
    collect, inspect_json, is_usable, parse, parse_as, parse_reader, render_text, BankFile,
    BankFormat,
};

fn exercise(f: &BankFile) {
    let keyed = f.keyed_receipts();
    if is_usable(f) {
        for k in &keyed {
            assert!(!k.receipt.id.as_str().is_empty(), "receipt without id");
            assert_eq!(k.key.len(), 32, "dedup key is 16 bytes hex");
        }
    }
    let mut d = super::Dedup::default();
    let n = d.filter(keyed.clone()).len();
    assert!(n <= keyed.len());
    assert!(
        d.filter(keyed).is_empty(),
        "a second import of the same receipts adds nothing"
    );
    let _ = serde_json::to_string(&inspect_json(f));
    let _ = render_text(f);
}

/// Parses `data` as `format` and exercises receipts, dedup keys, JSON and text output.
pub fn one_format(format: BankFormat, data: &[u8]) {
    let f = parse_as(format, "fuzz", data);
    exercise(&f);
}

/// Detects and parses `data`, and checks that the streamed parse (with a tiny buffer) gives
/// exactly the in-memory result.
pub fn any_format(data: &[u8]) {
    let f = parse("fuzz", data);
    let streamed = collect(
        "fuzz",
        parse_reader("fuzz", std::io::BufReader::with_capacity(3, data)),
    );
    assert_eq!(f, streamed, "streamed and in-memory parses differ");
    exercise(&f);
}
