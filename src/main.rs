//! relance: the receivables daemon and its command line.
//!
//! `relance demo` runs the whole pipeline on the bundled demo company; `relance daemon` runs
//! the service; the other subcommands inspect files, reconcile, plan dunning and provisions.

mod assets;
mod cli;
mod clock;
mod cmd;
mod config;
mod daemon;
mod http;
mod inbox_source;
mod ledger;
mod metrics;
mod offline;
#[allow(dead_code)] // run_delivery: the continuous loop, exercised by the tests
mod outbox;
mod pipeline;
#[allow(dead_code)] // the full read API serves tests, benches and inspection tools
mod store;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("relance: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
