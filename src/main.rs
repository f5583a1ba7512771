//! relance: the receivables daemon and its command line.
//!
//! `relance demo` runs the whole pipeline on the bundled demo company; `relance daemon` runs
//! the service; the other subcommands inspect files, reconcile, plan dunning and provisions.

mod assets;
mod cli;
mod clock;
mod cmd;
#[allow(dead_code)] // parts used by the daemon and commands the lead wires
mod config;
#[allow(dead_code)] // the CycleRunner hooks are for the sync pipeline
mod daemon;
mod http;
mod inbox_source;
mod ledger;
#[allow(dead_code)] // some families are updated by the sync pipeline
mod metrics;
#[allow(dead_code)] // wired into sync and delivery by the lead
mod offline;
mod outbox;
mod pipeline;
#[allow(dead_code)] // wired into sync and delivery by the lead
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
