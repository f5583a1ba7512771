//! Subcommand dispatch.

mod access;
pub mod decide;
mod files;
mod rates;
mod run;
mod store;

pub use run::{book_closing, closing_fec, closing_table, plan_for};

use crate::cli::{Cli, Command, DunningCommand, StoreCommand, TokenCommand, UserCommand};
use std::io::Write as _;
use std::process::ExitCode;

/// Prints `text` and a newline on stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn out(text: &str) -> anyhow::Result<()> {
    let mut o = std::io::stdout().lock();
    match writeln!(o, "{text}").and_then(|_| o.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Daemon { config } => {
            let pipeline = crate::pipeline::Pipeline::load(Some(&config.config))?;
            crate::daemon::run_with(config.config, crate::clock::Clock::System, pipeline)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { config } => {
            let (code, report) = crate::config::check_config(&config.config);
            if code == 0 {
                println!("{report}");
            } else {
                eprintln!("{report}");
            }
            Ok(ExitCode::from(code))
        }
        Command::Check { config, company } => run::check(&config.config, company.as_deref()),
        Command::Sync {
            config,
            once: _,
            company,
            date,
        } => run::sync_once(&config.config, company.as_deref(), date),
        Command::Demo {
            state_dir,
            date,
            console,
        } => run::demo(state_dir, date, console),
        Command::Inspect { files, human, deep } => files::inspect(&files, human, deep),
        Command::Reconcile {
            invoices,
            bank,
            offline,
        } => files::reconcile(&invoices, &bank, &offline),
        Command::Rates { config, date, json } => rates::show(config.as_deref(), date, json),
        Command::Dunning {
            command: DunningCommand::Plan(a),
        } => match (&a.company, &a.invoices) {
            (_, Some(dir)) => {
                let date = a.date.ok_or_else(|| {
                    anyhow::anyhow!("--date is required with --invoices (the plan date)")
                })?;
                let offline = crate::cli::OfflineConfig {
                    config: a.config.clone(),
                    company: a.company.clone(),
                };
                run::dunning_plan_offline(dir, &a.bank, date, &offline)
            }
            (Some(c), None) => {
                let dir = a
                    .config
                    .clone()
                    .unwrap_or_else(|| std::path::PathBuf::from("/etc/relance"));
                run::dunning_plan_company(&dir, c, a.date)
            }
            _ => {
                anyhow::bail!("give either --company C, or --invoices DIR --bank FILE... --date D")
            }
        },
        Command::Store {
            command: StoreCommand::Check { config },
        } => run::store_check(&config.config),
        Command::User { command } => match command {
            UserCommand::Add {
                name,
                config,
                role,
                company,
                password_file,
            } => access::user_add(
                &config.config,
                &name,
                role,
                &company,
                password_file.as_deref(),
            ),
            UserCommand::List { config } => access::user_list(&config.config),
            UserCommand::Remove { name, config } => access::user_remove(&config.config, &name),
        },
        Command::Token { command } => match command {
            TokenCommand::Add {
                name,
                config,
                user,
                role,
                company,
            } => access::token_add(&config.config, &name, &user, role, &company),
            TokenCommand::List { config } => access::token_list(&config.config),
            TokenCommand::Revoke { id, config } => access::token_revoke(&config.config, &id),
        },
        Command::Provision(a) => run::provision(
            &a.config.config,
            &a.company,
            a.closing_date,
            a.apply,
            a.out.as_deref(),
            a.human,
        ),
        Command::Ereporting(a) => run::ereporting(&a),
        Command::Decide { command } => decide::run(command),
        Command::Store {
            command:
                StoreCommand::Migrate {
                    from,
                    to,
                    password_file,
                    overwrite,
                },
        } => store::migrate(&from, &to, password_file.as_deref(), overwrite),
    }
}
