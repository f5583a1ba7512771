//! Command-line interface: one binary, one subcommand per job.

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use rust_decimal::Decimal;
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
        /// After the cycle, serve the web console on 127.0.0.1 (a free port) with a user
        /// `demo` and a fresh password, until Ctrl-C.
        #[arg(long)]
        console: bool,
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
    /// E-reporting of payment data: the period's receipts not lettered to an invoice by the
    /// cut-off, totalled, and the corrections of the previous period's report (JSON).
    Ereporting(EreportingArgs),
    /// A person's decisions (confirm or reject a match, record a dispute, a promise, a payment
    /// plan, a hold or a procédure collective, approve a letter or a closing…), recorded now
    /// and applied by the company's next cycle; and what waits for a person.
    Decide {
        /// What to decide or show.
        #[command(subcommand)]
        command: DecideCommand,
    },
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
    /// The store: check that it reads back whole, or move an install to another backend.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

/// Arguments of `decide`.
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

/// `relance ereporting`.
#[derive(Debug, Args)]
pub struct EreportingArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The company.
    #[arg(long)]
    pub company: String,
    /// The period's first month (YYYY-MM).
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    pub period: NaiveDate,
    /// Months per period: 1 under the régime réel, 2 under the franchise en base.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub months: u32,
    /// Receipts not lettered by this day are reported (default: the period's last day).
    #[arg(long)]
    pub cutoff: Option<NaiveDate>,
}

fn parse_month(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a month (YYYY-MM)"))
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

/// The company a decision is about.
#[derive(Debug, Args, Clone)]
pub struct CompanyArg {
    /// The configured company.
    #[arg(long)]
    pub company: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// What every decision carries besides its content.
#[derive(Debug, Args, Clone)]
pub struct DecisionArgs {
    #[command(flatten)]
    pub target: CompanyArg,
    /// Idempotency key. Default: derived from the decision, the person and the reason, so the
    /// same command run twice records one decision.
    #[arg(long)]
    pub key: Option<String>,
    /// Who decides (default: the login name, as `cli:<name>`).
    #[arg(long)]
    pub by: Option<String>,
    /// Why: kept in the audit log; required to reject, reassign, write off, record a dispute
    /// or a hold, end a pause, cancel a letter or override a rate.
    #[arg(long)]
    pub reason: Option<String>,
    /// When it was decided (RFC 3339, e.g. 2026-07-01T09:00:00Z). Default: now.
    #[arg(long)]
    pub at: Option<DateTime<Utc>>,
}

/// `relance decide` subcommands: the decisions, then what waits for them.
#[derive(Debug, Subcommand)]
pub enum DecideCommand {
    /// Confirm a suggested match (or a probable payment): the receipt pays the invoice.
    Confirm {
        #[command(flatten)]
        d: DecisionArgs,
        /// The receipt (bank transaction id).
        #[arg(long)]
        transaction: String,
        /// The invoice it pays.
        #[arg(long)]
        invoice: String,
        /// The amount (default: the suggestion's, else what fits).
        #[arg(long)]
        amount: Option<Decimal>,
    },
    /// Reject a match: this receipt does not pay this invoice (never proposed again).
    Reject {
        #[command(flatten)]
        d: DecisionArgs,
        /// The receipt.
        #[arg(long)]
        transaction: String,
        /// The invoice.
        #[arg(long)]
        invoice: String,
    },
    /// Split a receipt over several invoices.
    Split {
        #[command(flatten)]
        d: DecisionArgs,
        /// The receipt.
        #[arg(long)]
        transaction: String,
        /// INVOICE=AMOUNT, once per invoice (a credit note with a negative amount).
        #[arg(long = "part", value_name = "INVOICE=AMOUNT", required = true, value_parser = parse_pair::<Decimal>)]
        parts: Vec<(String, Decimal)>,
    },
    /// Move a receipt's allocation (or suggestion) from one invoice to another.
    Reassign {
        #[command(flatten)]
        d: DecisionArgs,
        /// The receipt.
        #[arg(long)]
        transaction: String,
        /// The invoice it is allocated to now.
        #[arg(long)]
        from: String,
        /// The invoice it pays.
        #[arg(long)]
        to: String,
        /// The amount (default: the current allocation's).
        #[arg(long)]
        amount: Option<Decimal>,
    },
    /// Assign a receipt to the customer who paid it (the engine places it).
    Assign {
        #[command(flatten)]
        d: DecisionArgs,
        /// The receipt.
        #[arg(long)]
        transaction: String,
        /// The customer.
        #[arg(long)]
        customer: String,
    },
    /// Write off the residue left open on an invoice.
    WriteOff {
        #[command(flatten)]
        d: DecisionArgs,
        /// The invoice.
        #[arg(long)]
        invoice: String,
        /// The residue, tax included.
        #[arg(long)]
        amount: Decimal,
        /// The account debited (default provision.accounts.residue_write_off, 658).
        #[arg(long)]
        account: Option<String>,
    },
    /// Record that the customer disputes an invoice (or all its invoices); --reason says what.
    Dispute {
        #[command(flatten)]
        d: DecisionArgs,
        /// The customer.
        #[arg(long)]
        customer: String,
        /// The invoice (default: all the customer's invoices).
        #[arg(long)]
        invoice: Option<String>,
        /// The disputed part (default: the whole invoice).
        #[arg(long)]
        amount: Option<Decimal>,
        /// Since when (default: the decision's date).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Until when dunning waits (default: until a person ends it).
        #[arg(long)]
        until: Option<NaiveDate>,
    },
    /// Record the customer's promise to pay by a date (dunning resumes, with an alert, when
    /// it is not kept).
    Promise {
        #[command(flatten)]
        d: DecisionArgs,
        /// The customer.
        #[arg(long)]
        customer: String,
        /// An invoice the promise covers (repeat; default: all the customer's open invoices).
        #[arg(long = "invoice")]
        invoices: Vec<String>,
        /// The promised date.
        #[arg(long)]
        date: NaiveDate,
        /// The promised amount (default: everything open on them).
        #[arg(long)]
        amount: Option<Decimal>,
    },
    /// Record an agreed payment plan (échéancier); a missed instalment escalates.
    PaymentPlan {
        #[command(flatten)]
        d: DecisionArgs,
        /// The customer.
        #[arg(long)]
        customer: String,
        /// An invoice the plan covers (repeat; default: all the customer's open invoices).
        #[arg(long = "invoice")]
        invoices: Vec<String>,
        /// DATE=AMOUNT, once per instalment, in date order; they add up to what is open.
        #[arg(long = "instalment", value_name = "DATE=AMOUNT", required = true, value_parser = parse_pair::<Decimal>)]
        instalments: Vec<(String, Decimal)>,
    },
    /// Hold dunning until a date.
    Hold {
        #[command(flatten)]
        d: DecisionArgs,
        /// The customer.
        #[arg(long)]
        customer: String,
        /// The invoice (default: all the customer's invoices).
        #[arg(long)]
        invoice: Option<String>,
        /// The last day of the hold.
        #[arg(long)]
        until: NaiveDate,
    },
    /// Record a procédure collective opened against a customer.
    Procedure {
        #[command(flatten)]
        d: DecisionArgs,
        /// The customer.
        #[arg(long)]
        customer: String,
        /// sauvegarde, redressement or liquidation.
        #[arg(long)]
        procedure: String,
        /// Date of the opening judgment.
        #[arg(long)]
        judgment_date: NaiveDate,
        /// Date of publication in the BODACC.
        #[arg(long)]
        bodacc_date: Option<NaiveDate>,
        /// Deadline to declare the claims (default: 2 months after the BODACC publication).
        #[arg(long)]
        declaration_deadline: Option<NaiveDate>,
        /// The company is established outside metropolitan France (4 months to declare).
        #[arg(long)]
        abroad: bool,
        /// The judgment's reference.
        #[arg(long)]
        reference: Option<String>,
        /// The mandataire judiciaire.
        #[arg(long)]
        mandataire: Option<String>,
    },
    /// End a pause recorded earlier (a dispute settled, a hold lifted).
    EndPause {
        #[command(flatten)]
        d: DecisionArgs,
        /// The key of the decision that recorded the pause.
        #[arg(long)]
        pause: String,
    },
    /// Approve a letter waiting for approval: it is sent as rendered.
    Approve {
        #[command(flatten)]
        d: DecisionArgs,
        /// The action's key (see `relance decide letters`).
        #[arg(long)]
        action: String,
    },
    /// Send a letter waiting for approval with another text.
    Edit {
        #[command(flatten)]
        d: DecisionArgs,
        /// The action's key.
        #[arg(long)]
        action: String,
        /// The new subject (default: the rendered one).
        #[arg(long)]
        subject: Option<String>,
        /// File holding the new body (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        body_file: PathBuf,
    },
    /// Send a letter waiting for approval, not before a date (dated so).
    Reschedule {
        #[command(flatten)]
        d: DecisionArgs,
        /// The action's key.
        #[arg(long)]
        action: String,
        /// Not before this day.
        #[arg(long)]
        date: NaiveDate,
    },
    /// Never send a letter waiting for approval.
    Cancel {
        #[command(flatten)]
        d: DecisionArgs,
        /// The action's key.
        #[arg(long)]
        action: String,
    },
    /// Approve a closing's draft: its provisions are booked through the outbox.
    ApproveClosing {
        #[command(flatten)]
        d: DecisionArgs,
        /// The closing date.
        #[arg(long)]
        closing: NaiveDate,
        /// The digest of the draft reviewed (refused if the draft changed since).
        #[arg(long)]
        draft: Option<String>,
    },
    /// Use this rate for one invoice in a closing (and later ones).
    OverrideRate {
        #[command(flatten)]
        d: DecisionArgs,
        /// The closing date.
        #[arg(long)]
        closing: NaiveDate,
        /// The invoice.
        #[arg(long)]
        invoice: String,
        /// Rate of the base without VAT, 0 to 1.
        #[arg(long)]
        rate: Decimal,
    },
    /// Deliver a dead-lettered outbox entry again.
    Retry {
        #[command(flatten)]
        d: DecisionArgs,
        /// The outbox entry's key.
        #[arg(long)]
        entry: String,
    },
    /// Record the decisions of a JSON file (one envelope, or a list; `-` for standard input).
    File {
        #[command(flatten)]
        target: CompanyArg,
        /// The file.
        file: PathBuf,
    },
    /// The decisions recorded, with where each stands (pending, applied, refused).
    List {
        #[command(flatten)]
        target: CompanyArg,
        /// Only those not yet applied.
        #[arg(long)]
        pending: bool,
        /// Only those about this customer.
        #[arg(long)]
        customer: Option<String>,
        /// Only those naming this invoice.
        #[arg(long)]
        invoice: Option<String>,
    },
    /// The letters held for approval, with their text.
    Letters {
        #[command(flatten)]
        target: CompanyArg,
        /// Also those approved (with their delivery) and cancelled.
        #[arg(long)]
        all: bool,
    },
    /// Write the PDF of a letter held for approval.
    LetterPdf {
        #[command(flatten)]
        target: CompanyArg,
        /// The action's key.
        #[arg(long)]
        action: String,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// The suggestions waiting for a person, with their evidence.
    Suggestions {
        #[command(flatten)]
        target: CompanyArg,
    },
    /// The invoices the reconcile-then-remind gate holds, with the receipt that may pay them.
    Probable {
        #[command(flatten)]
        target: CompanyArg,
        /// As of this day (default today).
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// What the next cycle would send, and why each other overdue invoice would not be.
    NextRun {
        #[command(flatten)]
        target: CompanyArg,
        /// The day (default tomorrow).
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// The closings and their drafts.
    Closings {
        #[command(flatten)]
        target: CompanyArg,
    },
    /// Record a decision written as the operator API takes it: JSON with a "type", e.g.
    /// `relance decide json --company demo '{"type":"promise_to_pay","customer":"399123454","date":"2026-07-15"}'`
    /// (`-` reads it from standard input).
    Json {
        #[command(flatten)]
        d: DecisionArgs,
        /// The decision.
        decision: String,
    },
    /// Write a closing's FEC and CSV exports.
    Export {
        #[command(flatten)]
        target: CompanyArg,
        /// The closing date.
        #[arg(long)]
        closing: NaiveDate,
        /// The folder to write them to.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Parses `KEY=VALUE` with a typed value.
fn parse_pair<T: std::str::FromStr>(s: &str) -> Result<(String, T), String>
where
    T::Err: std::fmt::Display,
{
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))?;
    let v = v.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    Ok((k.trim().to_owned(), v))
}
