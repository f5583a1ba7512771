//! Command-line interface: one binary, one subcommand per job.

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// relance gets French companies paid: it syncs invoices and bank receipts, reconciles them,
/// plans the dunning (relance) of what is still unpaid under French law, and books
/// doubtful-debt provisions.
#[derive(Debug, Parser)]
#[command(name = "relance", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration lives.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// Configuration directory holding relance.toml and companies.d/*.toml.
    #[arg(
        long,
        value_name = "DIR",
        env = "RELANCE_CONFIG",
        default_value = "/etc/relance"
    )]
    pub config: PathBuf,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: one supervised task per company, health and metrics on loopback.
    Daemon {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate the configuration without touching the network; exits non-zero on any error.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Check each connector's credentials and reachability.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this company.
        #[arg(long)]
        company: Option<String>,
    },
    /// Run one full cycle (pull, reconcile, plan, deliver) and exit.
    Sync {
        #[command(flatten)]
        config: ConfigArg,
        /// Run one cycle and exit (the only mode; the daemon runs cycles forever).
        #[arg(long, required = true)]
        once: bool,
        /// Only this company.
        #[arg(long)]
        company: Option<String>,
        /// Pretend today is this date (YYYY-MM-DD).
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Run the whole pipeline on the bundled demo company, with no network and no server.
    Demo {
        /// Keep the demo's state (store, letters, exports) in this directory.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Pretend today is this date (defaults to the demo's fixed date).
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Parse e-invoice and bank files and print what they contain as JSON, with diagnostics.
    Inspect {
        /// Files to read (Factur-X/ZUGFeRD PDF, CII, UBL, camt.052/053/054, MT940, CFONB120, OFX).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A readable view instead of JSON.
        #[arg(long)]
        human: bool,
        /// E-invoices: also run the full EN 16931 rule set (CEN's business rules, code lists)
        /// of the `en16931` crate and list its findings with their rule ids. Slower; the
        /// import path runs relance's own checks only.
        #[arg(long)]
        deep: bool,
    },
    /// Match bank receipts to invoices from files and print the allocations as JSON (read-only).
    Reconcile {
        /// Directory of invoices and credit notes (UBL, CII, Factur-X PDF), read recursively.
        #[arg(long, value_name = "DIR")]
        invoices: PathBuf,
        /// Bank statement files (any supported format).
        #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
        bank: Vec<PathBuf>,
        #[command(flatten)]
        offline: OfflineConfig,
    },
    /// The rate table in force (built-in or updated by the configuration), the periods it
    /// covers, and the rows missing as of a date.
    Rates {
        /// Configuration directory (its `rates/fr.toml` and `rates.d/*.toml`); default
        /// /etc/relance when it exists, else the built-in table only.
        #[arg(long, value_name = "DIR", env = "RELANCE_CONFIG")]
        config: Option<PathBuf>,
        /// The date to check coverage for (YYYY-MM-DD); default today.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// JSON instead of the readable report.
        #[arg(long)]
        json: bool,
    },
    /// Dunning: what would be sent, and why.
    Dunning {
        #[command(subcommand)]
        command: DunningCommand,
    },
    /// Doubtful-debt provisions as of a closing date (dry run unless --apply).
    Provision(ProvisionArgs),
    /// The store: check that it reads back whole, or move an install to another backend.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

/// Store subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Open the store (stop the daemon first: it holds the store), read every record back and
    /// check its indexes; exits non-zero, saying what is wrong, when it is damaged.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Copy every record of one store into another and check the copy (counts and a content
    /// digest per company). Stop the daemons first. `sled:DIR` is a store directory
    /// (`<state_dir>/store`); `postgres:URL` a database (`postgres:postgres://user@host/db`).
    Migrate {
        /// The store to read.
        #[arg(long, value_name = "sled:DIR|postgres:URL")]
        from: String,
        /// The store to fill; it must be empty unless --overwrite.
        #[arg(long, value_name = "sled:DIR|postgres:URL")]
        to: String,
        /// File holding the PostgreSQL password, when the URL has none (never on the
        /// command line: it would show in the process list).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Replace what the target already holds for the companies copied (PostgreSQL
        /// target only), e.g. to finish an interrupted copy.
        #[arg(long)]
        overwrite: bool,
    },
}

/// Dunning subcommands.
#[derive(Debug, Subcommand)]
pub enum DunningCommand {
    /// Plan the reminders as of a date (dry run: nothing is sent).
    Plan(DunningPlanArgs),
}

/// The configuration of an offline command: rates, templates and a company's policies.
#[derive(Debug, Args, Clone)]
pub struct OfflineConfig {
    /// Configuration directory: its rate table updates (`rates/fr.toml`, `rates.d/*.toml`)
    /// and templates, and, when it holds a relance.toml, the policies of `--company` (or of
    /// its only company). Without it: the built-in tables, templates and default policies.
    #[arg(long, value_name = "DIR", env = "RELANCE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The configured company whose policies (and addresses) apply.
    #[arg(long)]
    pub company: Option<String>,
}

/// Arguments of `dunning plan`.
#[derive(Debug, Args)]
pub struct DunningPlanArgs {
    /// The configured company: its store (or, with --invoices, its policies and addresses).
    #[arg(long)]
    pub company: Option<String>,
    /// Configuration directory (default /etc/relance); offline: rates, templates and the
    /// company's policies, see `relance reconcile --help`.
    #[arg(long, value_name = "DIR", env = "RELANCE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Offline: directory of invoice files.
    #[arg(long, value_name = "DIR", requires = "bank")]
    pub invoices: Option<PathBuf>,
    /// Offline: bank statement files.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub bank: Vec<PathBuf>,
    /// The date to plan for (YYYY-MM-DD); required offline, today otherwise.
    #[arg(long)]
    pub date: Option<NaiveDate>,
}

/// Arguments of `provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The configured company.
    #[arg(long)]
    pub company: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Closing date (YYYY-MM-DD).
    #[arg(long)]
    pub closing_date: NaiveDate,
    /// Write the entries back through the outbox (otherwise a dry run).
    #[arg(long)]
    pub apply: bool,
    /// Directory for the CSV state of provisions and the FEC export.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A readable table instead of JSON.
    #[arg(long)]
    pub human: bool,
}
