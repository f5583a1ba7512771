//! What the test suites share about skipping: a test whose peer (a server, a tool) or whose
//! reference corpus is missing says `SKIP:` and why on stderr and passes — unless the run asked
//! for them (`RELANCE_REQUIRE_PEERS=1`, `RELANCE_REQUIRE_CORPUS=1`, as CI does), where a skip
//! is a failure, so that a green run never hides a test that did not run.

/// Skips for a missing peer (Tryton server, SMTP server, pdftotext, systemd-analyze).
///
/// # Panics
/// When `RELANCE_REQUIRE_PEERS=1`.
pub fn skip_peer(why: &str) {
    skip("RELANCE_REQUIRE_PEERS", why);
}

/// Skips for a missing reference corpus (`../shared/corpus`).
///
/// # Panics
/// When `RELANCE_REQUIRE_CORPUS=1`.
pub fn skip_corpus(why: &str) {
    skip("RELANCE_REQUIRE_CORPUS", why);
}

fn skip(var: &str, why: &str) {
    if std::env::var(var).as_deref() == Ok("1") {
        panic!("{var}=1 and this test cannot run: {why}");
    }
    eprintln!("SKIP: {why}");
}
