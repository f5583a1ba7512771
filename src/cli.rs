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
    },
    /// Dunning: what would be sent, and why.
    Dunning {
        #[command(subcommand)]
        command: DunningCommand,
    },
    /// Doubtful-debt provisions as of a closing date (dry run unless --apply).
    Provision(ProvisionArgs),
    /// Console and API users: `user add NAME --role ROLE [--company C]…` (password from a file
    /// or standard input), `user list`, `user remove NAME`.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens for scripts: `token add NAME --user U`, shown once; `token list`,
    /// `token revoke ID`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Record a decision for a company's next cycle, as the operator API does
    /// (`POST /api/v1/companies/C/decisions`): the decision is JSON with a "type", e.g.
    /// `relance decide --company demo '{"type":"dispute","customer":"399123454",…}'`. Through
    /// the running daemon when there is one, else in the store directly.
    Decide(DecideArgs),
    /// The store: check that it reads back whole, or move an install to another backend.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

/// Arguments of `decide`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The configured company.
    #[arg(long)]
    pub company: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// The idempotency key (default: derived from the decision's text, so the same command
    /// twice records one decision).
    #[arg(long)]
    pub key: Option<String>,
    /// The decision, JSON with a "type" (`-` reads it from standard input).
    pub decision: String,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is the first line of --password-file, or of standard input.
    Add {
        /// Login name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
        /// The role, on every --company given, or on every company when none is.
        #[arg(long, value_enum)]
        role: crate::auth::Role,
        /// A company the role applies to (repeat for several).
        #[arg(long)]
        company: Vec<String>,
        /// File whose first line is the password (`-` or absent: standard input).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the users and their roles.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a user, their sessions and their tokens.
    Remove {
        /// Login name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token acting for --user (with at most the user's roles); prints it once.
    Add {
        /// A name for people ("nightly export").
        name: String,
        #[command(flatten)]
        config: ConfigArg,
        /// The user it acts for.
        #[arg(long)]
        user: String,
        /// Narrow it to this role (default: the user's roles).
        #[arg(long, value_enum, requires = "company")]
        role: Option<crate::auth::Role>,
        /// Narrow it to these companies (with --role).
        #[arg(long)]
        company: Vec<String>,
    },
    /// List the tokens (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id.
        id: String,
        #[command(flatten)]
        config: ConfigArg,
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

/// Arguments of `dunning plan`.
#[derive(Debug, Args)]
pub struct DunningPlanArgs {
    /// Plan for this configured company (from its store).
    #[arg(long, conflicts_with = "invoices")]
    pub company: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
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
