//! What the tests that run the relance binary against fakes share: the command without the
//! caller's environment, and a failed run shown whole.

use std::process::{Command, Output};

/// The relance binary, with no configuration, credential or state directory inherited.
pub fn relance() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
    c.env_remove("RELANCE_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .env("RUST_LOG", "warn");
    c
}

/// A run's status, stdout and stderr, for an assertion's message.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
