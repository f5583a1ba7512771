//! Subcommand dispatch.

use crate::cli::{Cli, Command, DunningCommand};
use std::process::ExitCode;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Daemon { .. }
        | Command::CheckConfig { .. }
        | Command::Check { .. }
        | Command::Sync { .. }
        | Command::Demo { .. }
        | Command::Inspect { .. }
        | Command::Reconcile { .. }
        | Command::Provision(_) => anyhow::bail!("not built yet"),
        Command::Dunning { command: DunningCommand::Plan(_) } => anyhow::bail!("not built yet"),
    }
}
