//! The configuration files as written: serde types of `relance.toml` and `companies.d/*.toml`.
//!
//! These are wire types (architecture invariant 7): they say what a file may contain and
//! nothing more. Every struct refuses unknown keys (`deny_unknown_fields`), choices are closed
//! `#[serde(tag = "type")]` enums, and there is no `flatten` or `untagged` (both hide errors).
//! [`super::load`] turns them into the validated [`super::Config`].

use relance_connectors::systems::chorus_pro::ChorusProConfig;
use relance_connectors::systems::dolibarr::{DolibarrConfig, DolibarrWriteOptions};
use relance_connectors::systems::odoo::{OdooConfig, OdooWriteOptions};
use relance_connectors::systems::pa::PaConfig;
use relance_connectors::systems::pennylane::{PennylaneConfig, PennylaneWriteOptions};
use relance_connectors::systems::qonto::QontoConfig;
pub use relance_connectors::systems::smtp::{Security, SmtpConfig};
use relance_connectors::systems::tryton::TrytonConfig;
use relance_core::Currency;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The only configuration format version this build reads (`version = 1`).
pub const VERSION: u32 = 1;

/// `relance.toml`: settings of the whole daemon.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalFile {
    /// Format version; must be 1.
    pub version: u32,
    /// Where the store, quarantine and generated letters live. Relative paths are taken from
    /// the configuration directory. Default: `$STATE_DIRECTORY` (set by systemd's
    /// `StateDirectory=`), else `/var/lib/relance`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Address of the health and metrics endpoint; must be a loopback address (the endpoint
    /// has no authentication). Port 0 picks a free port (tests). Default `127.0.0.1:9187`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Log output.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` directive syntax (`info`, `relance=debug,warn`, …); the
    /// environment variable `RUST_LOG` overrides it. Default `info`.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Name of this shard when companies are split across `relance@<shard>.service`
    /// instances (each instance has its own configuration directory, so the sets of
    /// companies are disjoint by construction). Shown in logs, status and metrics.
    #[serde(default)]
    pub shard: Option<String>,
    /// How long SIGTERM waits for in-flight work to finish before the remaining tasks are
    /// cancelled. Keep it below the unit's `TimeoutStopSec=` (90 s). Default 60.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    /// The store: `{ type = "sled" }` (the default, embedded, in the state directory) or
    /// `{ type = "postgres", url_file = "…" }` (shared by several instances).
    #[serde(default)]
    pub store: StoreConfig,
    /// The operator API (`[api]`): HTTP + JSON under `/api/v1` for people and scripts, and
    /// the local socket the command line talks to while the daemon runs.
    #[serde(default)]
    pub api: ApiFile,
}

/// `[api]`: the operator API's listener and the local socket.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// Serve the API on `listen` (the local socket is always served). Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Address of the API. Default `127.0.0.1:9188`; a non-loopback address needs `tls`
    /// (or publish the loopback listener through a TLS reverse proxy). Port 0 picks a free
    /// port (tests).
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// The local socket the command line uses. A relative path is taken from the state
    /// directory. Default `$RUNTIME_DIRECTORY/api.sock` (systemd's `RuntimeDirectory=relance`
    /// gives `/run/relance/api.sock`), else `<state_dir>/api.sock`.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// Permissions of the socket, in octal. Default `"0660"`: the service's user and group
    /// (add the operators to the group `relance`).
    #[serde(default = "default_socket_mode")]
    pub socket_mode: String,
    /// Hours a login session lasts. Default 12.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    /// Serve HTTPS directly (rustls) with these PEM files instead of plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

impl Default for ApiFile {
    fn default() -> Self {
        ApiFile {
            enabled: true,
            listen: default_api_listen(),
            socket: None,
            socket_mode: default_socket_mode(),
            session_hours: default_session_hours(),
            tls: None,
        }
    }
}

/// `[api.tls]`: certificate chain and private key, PEM.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain (leaf first). A relative path is taken from the configuration
    /// directory.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1): a path or `cred:<name>`.
    pub key_file: SecretRef,
}

fn default_true() -> bool {
    true
}

/// The API's default address: `127.0.0.1:9188`.
pub fn default_api_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9188)
}

fn default_socket_mode() -> String {
    "0660".to_owned()
}

fn default_session_hours() -> u64 {
    12
}

/// Which store the daemon uses (`store = { type = … }`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreConfig {
    /// The embedded sled store in `<state_dir>/store`: one process per machine.
    #[default]
    Sled,
    /// A PostgreSQL database shared by every instance of this configuration.
    Postgres(PostgresStoreConfig),
}

/// `store = { type = "postgres", … }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresStoreConfig {
    /// Where the connection URL is (`postgres://user@host:5432/relance`; it may hold the
    /// password): a path or `cred:<name>` (see [`SecretRef`]).
    pub url_file: SecretRef,
    /// Where the password is, when the URL has none: a path or `cred:<name>`.
    #[serde(default)]
    pub password_file: Option<SecretRef>,
    /// Connections in this instance's pool. Default 8.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Lease time in seconds: a dead instance's companies are taken over after at most this
    /// plus one renewal interval. Default 30.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// Seconds between two renewals (and claims of free companies). Default a third of
    /// `lease_secs` (at least 1); must be below `lease_secs`.
    #[serde(default)]
    pub renew_secs: Option<u64>,
    /// This instance's name, unique among the instances sharing the database. Default
    /// `<hostname>-<pid>`.
    #[serde(default)]
    pub instance: Option<String>,
}

fn default_pool_size() -> usize {
    8
}

fn default_lease_secs() -> u64 {
    30
}

/// The default listen address: `127.0.0.1:9187`.
pub fn default_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9187)
}

fn default_log_level() -> String {
    "info".to_owned()
}

fn default_shutdown_timeout() -> u64 {
    60
}

/// Where logs go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// journald when stderr is connected to the journal (`JOURNAL_STREAM` matches stderr),
    /// human-readable text on stderr otherwise.
    #[default]
    Auto,
    /// Human-readable text on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// The native journald protocol (structured fields).
    Journald,
}

/// `companies.d/<file>.toml`: one company.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyFile {
    /// Format version; must be 1.
    pub version: u32,
    /// Identifier of the company in relance (store keys, metrics, `--company`): lowercase
    /// letters, digits, `-` and `_`, unique across all files.
    pub id: String,
    /// Legal name.
    pub name: String,
    /// SIREN (9 digits, Luhn-checked), for French companies.
    #[serde(default)]
    pub siren: Option<String>,
    /// Accounting currency (ISO 4217). Default `EUR`.
    #[serde(default = "default_currency")]
    pub currency: Currency,
    /// Seconds between two cycles (pull, reconcile, plan, deliver). Default 300, minimum 1.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
    /// Where invoices and receipts come from; at least one.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Where actions are written back. Default `type = "none"`.
    #[serde(default)]
    pub writeback: WritebackConfig,
    /// Reconciliation policy.
    #[serde(default)]
    pub reconcile: ReconcilePolicy,
    /// Dunning policy (steps, segments, pauses, sending windows).
    #[serde(default)]
    pub dunning: relance_core::dunning::Policy,
    /// Doubtful-debt provision policy (criteria, rate matrix, accounts).
    #[serde(default)]
    pub provision: relance_core::provision::Policy,
    /// Outgoing mail (dunning letters by e-mail); absent means no e-mail is sent.
    #[serde(default)]
    pub mail: Option<MailConfig>,
    /// The company's postal address: the sender of posted letters (a mise en demeure by LRAR
    /// is held without it). Its city is the place printed before the date of letters.
    #[serde(default)]
    pub address: Option<AddressFile>,
    /// Per-customer settings that override what the sources give (`[[customers]]`).
    #[serde(default)]
    pub customers: Vec<CustomerOverride>,
}

/// A postal address as written in a company file.
///
/// ```toml
/// [address]
/// lines = ["12 rue des Forges", "Bâtiment B"]
/// postcode = "69007"
/// city = "Lyon"
/// country = "FR"        # default FR
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddressFile {
    /// Street lines (number and street, building, lieu-dit…), 1 to 3.
    pub lines: Vec<String>,
    /// Post code (5 digits in France).
    #[serde(default)]
    pub postcode: Option<String>,
    /// City.
    pub city: String,
    /// Country, ISO 3166-1 alpha-2. Default `FR`.
    #[serde(default = "default_country")]
    pub country: String,
}

fn default_country() -> String {
    "FR".to_owned()
}

impl AddressFile {
    /// The domain's postal address.
    pub fn to_core(&self) -> relance_core::PostalAddress {
        relance_core::PostalAddress {
            lines: self.lines.iter().map(|l| l.trim().to_owned()).collect(),
            postcode: self
                .postcode
                .as_ref()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty()),
            city: Some(self.city.trim().to_owned()),
            subdivision: None,
            country: Some(self.country.trim().to_ascii_uppercase()),
        }
    }
}

/// What the company's configuration says of one customer, over what the sources give.
///
/// ```toml
/// [[customers]]
/// id = "443061841"              # the customer's id in relance (SIREN for e-invoice files)
/// [customers.address]
/// lines = ["5 place du Marché"]
/// postcode = "69004"
/// city = "Lyon"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerOverride {
    /// The customer's id (as `relance dunning plan` shows it).
    pub id: String,
    /// Its postal address for letters, replacing the e-invoice's or the ERP's.
    #[serde(default)]
    pub address: Option<AddressFile>,
    /// Its e-mail addresses for reminders, replacing the source's (e-invoices carry none).
    #[serde(default)]
    pub emails: Vec<String>,
}

fn default_currency() -> Currency {
    Currency::EUR
}

fn default_poll_interval() -> u64 {
    300
}

/// The reconciliation policy (`[reconcile]`): tolerances, discount rates, imputation, the
/// automatic-application threshold.
pub type ReconcilePolicy = relance_core::reconcile::Policy;

/// One source of documents (`[[sources]]`), chosen by `type`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// A folder of e-invoice files (Factur-X PDF, CII, UBL).
    EinvoiceInbox(DirSource),
    /// A folder of bank statement files (camt.052/053/054, MT940, CFONB120, OFX).
    BankDir(DirSource),
    /// A Tryton database (invoices, customers and, optionally, bank statement lines). Boxed:
    /// its settings are much larger than a folder's.
    Tryton(Box<TrytonSource>),
    /// A Pennylane company (Company API v2): customers, invoices, credit notes, e-invoicing
    /// statuses and, optionally, unmatched bank transactions.
    Pennylane(Box<PennylaneSource>),
    /// An Odoo 16–19 database and company: customers, invoices, credit notes.
    Odoo(Box<OdooSource>),
    /// A Dolibarr instance (REST API): customers, invoices, credit notes.
    Dolibarr(Box<DolibarrSource>),
    /// A plateforme agréée (AFNOR XP Z12-013 flow service): the lifecycle statuses of the
    /// company's issued e-invoices in, "212 Encaissée" out.
    Pa(Box<PaSource>),
    /// Chorus Pro through PISTE: the supplier's invoices to public buyers and their statuses.
    ChorusPro(Box<ChorusProSource>),
    /// A Qonto organization (Business API, OAuth2): its accounts' completed transactions as
    /// receipts.
    Qonto(Box<QontoSource>),
}

impl SourceConfig {
    /// The source's name, unique within its company (store cursors are keyed by it).
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::EinvoiceInbox(s) | SourceConfig::BankDir(s) => &s.name,
            SourceConfig::Tryton(s) => &s.name,
            SourceConfig::Pennylane(s) => &s.name,
            SourceConfig::Odoo(s) => &s.name,
            SourceConfig::Dolibarr(s) => &s.name,
            SourceConfig::Pa(s) => &s.name,
            SourceConfig::ChorusPro(s) => &s.name,
            SourceConfig::Qonto(s) => &s.name,
        }
    }

    /// The `type` tag as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::EinvoiceInbox(_) => "einvoice_inbox",
            SourceConfig::BankDir(_) => "bank_dir",
            SourceConfig::Tryton(_) => "tryton",
            SourceConfig::Pennylane(_) => "pennylane",
            SourceConfig::Odoo(_) => "odoo",
            SourceConfig::Dolibarr(_) => "dolibarr",
            SourceConfig::Pa(_) => "pa",
            SourceConfig::ChorusPro(_) => "chorus_pro",
            SourceConfig::Qonto(_) => "qonto",
        }
    }
}

/// A folder source (`einvoice_inbox`, `bank_dir`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// The folder. A relative path is taken from the state directory (the daemon creates it
    /// there); an absolute path must exist and be a directory.
    pub path: PathBuf,
    /// Seconds a file must stay unchanged (size, modification time) before it is read, so a
    /// file still being copied in is never imported half-written. Default 3; 0 reads at once
    /// (only when files are moved in atomically).
    #[serde(default = "default_settle_secs")]
    pub settle_secs: u64,
}

fn default_settle_secs() -> u64 {
    3
}

/// A Tryton source: a name and the connection (`[sources.tryton]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrytonSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// How to reach the database. `password_file` takes a secret reference (see
    /// [`SecretRef`]): a path or `cred:<name>`.
    pub tryton: TrytonConfig,
}

/// A Pennylane source: a name and the connection (`[sources.pennylane]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PennylaneSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// How to reach the company. `token_file` and `webhook_secret_file` take secret
    /// references (see [`SecretRef`]).
    pub pennylane: PennylaneConfig,
}

/// An Odoo source: a name and the connection (`[sources.odoo]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OdooSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// How to reach the database; `api_key_file` takes a secret reference.
    pub odoo: OdooConfig,
}

/// A Dolibarr source: a name and the connection (`[sources.dolibarr]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DolibarrSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// How to reach the instance; `api_key_file` takes a secret reference.
    pub dolibarr: DolibarrConfig,
}

/// A plateforme agréée source: a name and the connection (`[sources.pa]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// How to reach the platform; `client_secret_file` takes a secret reference.
    pub pa: PaConfig,
}

/// A Qonto source: a name and the connection (`[sources.qonto]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QontoSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// How to reach Qonto; `client_secret_file`, `refresh_token_file` and
    /// `staging_token_file` take secret references.
    pub qonto: QontoConfig,
}

/// A Chorus Pro source: a name and the connection (`[sources.chorus_pro]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChorusProSource {
    /// Name of the source, unique within the company.
    pub name: String,
    /// How to reach PISTE and the supplier's structure; `client_secret_file` and
    /// `account_file` take secret references.
    pub chorus_pro: ChorusProConfig,
}

/// Where actions are written back (`[writeback]`), chosen by `type`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WritebackConfig {
    /// Nothing is written back: decisions are only recorded (and mailed, if `[mail]` is set).
    #[default]
    None,
    /// The Tryton database of one of the company's `tryton` sources.
    Tryton(TrytonWriteback),
    /// The Pennylane company of one of the company's `pennylane` sources.
    Pennylane(PennylaneWriteback),
    /// The Odoo database of one of the company's `odoo` sources.
    Odoo(OdooWriteback),
    /// The Dolibarr instance of one of the company's `dolibarr` sources.
    Dolibarr(DolibarrWriteback),
}

/// Write-back to Tryton through the connection of a `tryton` source.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrytonWriteback {
    /// Name of the `tryton` source whose connection is used.
    pub source: String,
}

/// Write-back to Pennylane through the connection of a `pennylane` source; what it writes
/// in `[writeback.pennylane]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PennylaneWriteback {
    /// Name of the `pennylane` source whose connection is used.
    pub source: String,
    /// Matching policy and dispute category.
    #[serde(default)]
    pub pennylane: PennylaneWriteOptions,
}

/// Write-back to Odoo through the connection of an `odoo` source; what it writes in
/// `[writeback.odoo]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OdooWriteback {
    /// Name of the `odoo` source whose connection is used.
    pub source: String,
    /// Activities, follow-up, credit control, dispute flag, journal and accounts.
    #[serde(default)]
    pub odoo: OdooWriteOptions,
}

/// Write-back to Dolibarr through the connection of a `dolibarr` source; what it writes in
/// `[writeback.dolibarr]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DolibarrWriteback {
    /// Name of the `dolibarr` source whose connection is used.
    pub source: String,
    /// Agenda events' owner and type, extrafields, payment recording.
    #[serde(default)]
    pub dolibarr: DolibarrWriteOptions,
}

/// Outgoing mail server (`[mail]`): the SMTP connector's settings
/// ([`relance_connectors::systems::smtp::SmtpConfig`], same key names) plus `password_file`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP server host name.
    pub host: String,
    /// Port; default 587 for `starttls`, 465 for `tls`, 25 for `plain`.
    #[serde(default)]
    pub port: Option<u16>,
    /// Transport security: `starttls` (default), `tls` (implicit) or `plain` (only for a
    /// relay on the same host; a password is then refused).
    #[serde(default = "default_security")]
    pub security: Security,
    /// Sender address of the letters, e.g. `Comptabilité ACME <compta@acme.example>`.
    pub from: String,
    /// Reply-to address, if different from `from`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Login, if the server wants one (then `password_file` is required).
    #[serde(default)]
    pub username: Option<String>,
    /// Where the SMTP password is: a path or `cred:<name>` (see [`SecretRef`]).
    #[serde(default)]
    pub password_file: Option<SecretRef>,
    /// Name sent in EHLO (default: the host's name).
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Timeout of each SMTP command, seconds. Default 30.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
    /// Resend a message left ambiguous by a crash during the SMTP transaction (it may then
    /// arrive twice). Default false: a person checks the mailbox.
    #[serde(default)]
    pub resend_ambiguous: bool,
}

fn default_security() -> Security {
    Security::Starttls
}

fn default_smtp_timeout() -> u64 {
    30
}

impl MailConfig {
    /// The port, explicit or the default of the security mode.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::Plain => 25,
        })
    }

    /// The SMTP connector's configuration (the password is read separately, from the
    /// resolved `password_file`).
    pub fn smtp_config(&self) -> SmtpConfig {
        SmtpConfig {
            host: self.host.clone(),
            port: self.effective_port(),
            security: self.security,
            from: self.from.clone(),
            reply_to: self.reply_to.clone(),
            username: self.username.clone(),
            hello_name: self.hello_name.clone(),
            timeout_secs: self.timeout_secs,
            resend_ambiguous: self.resend_ambiguous,
        }
    }
}

/// Where a secret is read from, as written in a `*_file` key.
///
/// - `cred:<name>`: the systemd credential `<name>` (`LoadCredential=<name>:/path` or
///   `LoadCredentialEncrypted=` in the unit), read from `$CREDENTIALS_DIRECTORY/<name>`;
/// - anything else: a file path (relative paths are taken from the configuration directory).
///
/// The file's first line is the secret. The configuration only ever holds the reference, so
/// it can be shown and logged; the value is read into a [`super::secrets::Secret`], whose
/// `Debug` is redacted and which has no `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// A systemd credential by name.
    Credential(String),
    /// A file path.
    File(PathBuf),
}

/// The prefix of a systemd credential reference.
pub const CRED_PREFIX: &str = "cred:";

impl SecretRef {
    /// Parses a reference (`cred:<name>` or a path).
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(name) = s.strip_prefix(CRED_PREFIX) {
            let ok = !name.is_empty()
                && name != "."
                && name != ".."
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b));
            if ok {
                Ok(SecretRef::Credential(name.to_owned()))
            } else {
                Err(format!(
                    "credential name {name:?} is not valid, expected letters, digits and -_.@: \
                     (a systemd credential name)"
                ))
            }
        } else if s.is_empty() {
            Err("empty path, expected a file path or cred:<name>".to_owned())
        } else {
            Ok(SecretRef::File(PathBuf::from(s)))
        }
    }
}

impl TryFrom<String> for SecretRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SecretRef::parse(&s)
    }
}

impl From<SecretRef> for String {
    fn from(r: SecretRef) -> String {
        r.to_string()
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Credential(n) => write!(f, "{CRED_PREFIX}{n}"),
            SecretRef::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A reference is not a secret; Debug shows it like Display.
        write!(f, "SecretRef({self})")
    }
}
