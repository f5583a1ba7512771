//! Prints the text rendering of bank statement files: `cargo run --example bank_dump FILE...`.

use relance_connectors::formats::bank;

fn main() {
    for p in std::env::args().skip(1) {
        match std::fs::read(&p) {
            Ok(b) => print!("{}", bank::render_text(&bank::parse(&p, &b))),
            Err(e) => eprintln!("{p}: {e}"),
        }
    }
}
