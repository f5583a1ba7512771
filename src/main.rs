//! relance: the receivables daemon and its command line.
//!
//! `relance demo` runs the whole pipeline on the bundled demo company; `relance daemon` runs
//! the service; the other subcommands inspect files, reconcile, plan dunning and provisions.
//! The work is in the `relance` library; this file only parses the command line.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = relance::cli::Cli::parse();
    match relance::cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("relance: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
