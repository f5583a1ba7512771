//! Configuration: `relance.toml` and `companies.d/*.toml`, loaded, validated and explained.
//!
//! [`load`] reads every file of a configuration directory, collects *all* problems (syntax,
//! schema, semantics) across all files, each placed at its file, key path, line and column,
//! and returns either a validated [`Config`] or the whole list as [`ConfigErrors`].
//! [`check_config`] is `relance check-config`: the same, as a report and an exit code, with no
//! network access.
//!
//! ```text
//! /etc/relance/relance.toml           version = 1, state_dir, listen, log_format, shard …
//! /etc/relance/companies.d/acme.toml  version = 1, id, name, siren, [[sources]], [writeback],
//!                                     [reconcile], [dunning], [provision], [mail]
//! ```
//!
//! Secrets are never in these files: `*_file` keys name a file or a systemd credential
//! (`cred:<name>`), see [`secrets`].

pub mod load;
pub mod schema;
pub mod secrets;

use self::load::{KeyPath, Location, SourceFile};
use self::schema::{
    CompanyFile, GlobalFile, LogFormat, MailConfig, ReconcilePolicy, SecretRef, Security,
    SmtpConfig, SourceConfig, StoreConfig, WritebackConfig, VERSION,
};
use relance_core::siren::{Siren, SirenError};
use relance_core::{CompanyId, Currency};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The global file's name inside the configuration directory.
pub const GLOBAL_FILE: &str = "relance.toml";
/// The folder of company files inside the configuration directory.
pub const COMPANIES_DIR: &str = "companies.d";

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// Daemon-wide settings.
    pub global: Global,
    /// The companies, ordered by file name.
    pub companies: Vec<CompanyConfig>,
    /// Things worth a look that do not stop relance.
    pub warnings: Vec<ConfigWarning>,
}

/// Daemon-wide settings, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// State directory (absolute).
    pub state_dir: PathBuf,
    /// Health and metrics address (loopback).
    pub listen: SocketAddr,
    /// Log output.
    pub log_format: LogFormat,
    /// Log filter directives.
    pub log_level: String,
    /// Shard name, if any.
    pub shard: Option<String>,
    /// How long SIGTERM waits for in-flight work.
    pub shutdown_timeout: Duration,
    /// The store backend (secrets resolved to files, read when the store is opened).
    pub store: StoreSettings,
    /// The operator API and the local socket.
    pub api: ApiSettings,
}

/// The operator API's settings, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiSettings {
    /// Serve the API on `listen`.
    pub enabled: bool,
    /// Its address (loopback unless `tls`).
    pub listen: SocketAddr,
    /// The socket path when configured (absolute); else the daemon's default.
    pub socket: Option<PathBuf>,
    /// The socket's permission bits.
    pub socket_mode: u32,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Certificate chain and key files for a direct HTTPS listener.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl ApiSettings {
    /// Where the daemon listens for the command line: the configured path, else
    /// `$RUNTIME_DIRECTORY/api.sock` (`runtime_dir`), else `<state_dir>/api.sock`.
    pub fn socket_path(&self, state_dir: &Path, runtime_dir: Option<&Path>) -> PathBuf {
        match (&self.socket, runtime_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(r)) => r.join("api.sock"),
            (None, None) => state_dir.join("api.sock"),
        }
    }

    /// Where the command line looks for a running daemon, in order: the configured path, or
    /// systemd's runtime directory (`/run/relance`, `/run/relance-<shard>` for a shard) and
    /// then `<state_dir>/api.sock`.
    pub fn socket_candidates(&self, state_dir: &Path, shard: Option<&str>) -> Vec<PathBuf> {
        match &self.socket {
            Some(p) => vec![p.clone()],
            None => {
                let run = match shard {
                    Some(s) => PathBuf::from(format!("/run/relance-{s}")),
                    None => PathBuf::from("/run/relance"),
                };
                vec![run.join("api.sock"), state_dir.join("api.sock")]
            }
        }
    }
}

/// The store backend, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreSettings {
    /// The embedded sled store in `<state_dir>/store`.
    #[default]
    Sled,
    /// A PostgreSQL database shared by several instances.
    Postgres {
        /// File holding the connection URL.
        url_file: PathBuf,
        /// File holding the password, if apart from the URL.
        password_file: Option<PathBuf>,
        /// Connections in the pool.
        pool_size: usize,
        /// Lease time.
        lease: Duration,
        /// Renewal interval.
        renew: Duration,
        /// This instance's name.
        instance: Option<String>,
    },
}

/// One company, validated: paths are absolute, secret references resolved to files.
#[derive(Clone, Debug, PartialEq)]
pub struct CompanyConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// Its id.
    pub id: CompanyId,
    /// Legal name.
    pub name: String,
    /// SIREN, checked.
    pub siren: Option<Siren>,
    /// Accounting currency.
    pub currency: Currency,
    /// Time between two cycles.
    pub poll_interval: Duration,
    /// Sources; folder paths are absolute and a Tryton `password_file` is the resolved file.
    pub sources: Vec<SourceConfig>,
    /// Write-back target.
    pub writeback: WritebackConfig,
    /// Reconciliation policy.
    pub reconcile: ReconcilePolicy,
    /// Dunning policy.
    pub dunning: relance_core::dunning::Policy,
    /// Provision policy.
    pub provision: relance_core::provision::Policy,
    /// Outgoing mail, with its password file resolved.
    pub mail: Option<Mail>,
}

impl CompanyConfig {
    /// The company of an offline command without a configuration: id `offline`, every policy
    /// at its default, no sources, no address.
    pub fn offline_defaults() -> Self {
        CompanyConfig {
            file: PathBuf::new(),
            id: CompanyId::new("offline"),
            name: "offline".to_owned(),
            siren: None,
            currency: Currency::EUR,
            poll_interval: Duration::from_secs(300),
            sources: Vec::new(),
            writeback: WritebackConfig::None,
            reconcile: ReconcilePolicy::default(),
            dunning: relance_core::dunning::Policy::default(),
            provision: relance_core::provision::Policy::default(),
            mail: None,
        }
    }

    /// The company as the domain knows it.
    pub fn company(&self) -> relance_core::Company {
        relance_core::Company {
            id: self.id.clone(),
            name: self.name.clone(),
            siren: self.siren.clone(),
            vat_id: None,
            ibans: Vec::new(),
            currency: self.currency,
            address: self.dunning.letters.sender.clone(),
        }
    }
}

/// Outgoing mail settings, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// The SMTP connector's settings (port resolved).
    pub smtp: SmtpConfig,
    /// The resolved password file (read with [`secrets::read`] when connecting).
    pub password_file: Option<PathBuf>,
}

/// What is wrong with one key of one file.
#[derive(Debug)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The key path inside the file (empty: the file as a whole).
    pub key: KeyPath,
    /// Line and column, when the key is written in the file.
    pub location: Option<Location>,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// The kinds of configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The file or directory cannot be read.
    #[error("cannot read: {0}")]
    Io(std::io::Error),
    /// Not valid TOML.
    #[error("invalid TOML: {0}")]
    Syntax(String),
    /// Valid TOML that does not fit the schema (unknown key, wrong type, missing key).
    #[error("{0}")]
    Schema(String),
    /// An unsupported `version`.
    #[error("version {found} is not supported, expected {VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// An identifier (company id, shard) with characters outside the allowed set.
    #[error("{value:?} is not a valid identifier, expected 1 to 63 of a-z 0-9 - _ starting with a letter or digit")]
    BadIdentifier {
        /// The value.
        value: String,
    },
    /// Two company files use the same id.
    #[error("company id {id:?} is already used by {}", other.display())]
    DuplicateCompany {
        /// The id.
        id: String,
        /// The other file.
        other: PathBuf,
    },
    /// Two sources of one company share a name.
    #[error("source name {name:?} is used twice in this company")]
    DuplicateSource {
        /// The name.
        name: String,
    },
    /// A SIREN that is not one.
    #[error(transparent)]
    Siren(#[from] SirenError),
    /// A value that must be positive is zero.
    #[error("must be at least 1, found 0")]
    Zero,
    /// A required text is empty.
    #[error("must not be empty")]
    Empty,
    /// A company without sources.
    #[error("no source: add at least one [[sources]] table")]
    NoSources,
    /// A path with `..` in it.
    #[error("path {} must not contain \"..\"", path.display())]
    PathEscapes {
        /// The path.
        path: PathBuf,
    },
    /// An absolute path that does not exist.
    #[error("directory {} does not exist", path.display())]
    PathMissing {
        /// The path.
        path: PathBuf,
    },
    /// A path that exists but is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Two sources read the same folder (each file would be imported twice).
    #[error("folder {} is already read by {other}", path.display())]
    PathShared {
        /// The folder.
        path: PathBuf,
        /// `<company>/<source>` that reads it first.
        other: String,
    },
    /// `[writeback]` names a source that is not a source of this company of its type.
    #[error("source {name:?} is not a {kind} source of this company")]
    WritebackSource {
        /// The name given.
        name: String,
        /// The source type the write-back needs.
        kind: &'static str,
    },
    /// A value outside what the key accepts.
    #[error("{value} is out of range, expected {expected}")]
    OutOfRange {
        /// The value, as written.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// Two keys that cannot be set together, or one that needs another.
    #[error("{0}")]
    Conflict(&'static str),
    /// A secret reference that cannot be used.
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    /// SMTP credentials set without the other half.
    #[error("{0}")]
    MailAuth(&'static str),
    /// A password would travel unencrypted.
    #[error("a password is configured with security = \"plain\": it would be sent in clear, use starttls or tls")]
    PasswordInClear,
    /// An address that is not loopback for the unauthenticated health/metrics endpoint.
    #[error("{addr} is not a loopback address: the health and metrics endpoint has no authentication, expose it through a proxy if needed")]
    NotLoopback {
        /// The address.
        addr: SocketAddr,
    },
    /// A log filter that does not parse.
    #[error("invalid log filter: {0}")]
    LogFilter(String),
    /// A URL relance cannot use.
    #[error("URL {url:?} is not usable, expected http:// or https:// followed by a host")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// A dunning or provision policy that is inconsistent.
    #[error("{0}")]
    Policy(String),
    /// A rate-table file (`rates/fr.toml`, `rates.d/*.toml`) or a template that cannot be used.
    #[error("{0}")]
    Asset(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.location {
            write!(f, ": line {}, column {}", l.line, l.column)?;
        }
        if !self.key.is_root() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration directory, in file order.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: std::collections::BTreeSet<&Path> =
            self.0.iter().map(|e| e.file.as_path()).collect();
        for e in &self.0 {
            writeln!(f, "error: {e}")?;
        }
        write!(
            f,
            "{} error{} in {} file{}: configuration refused",
            self.0.len(),
            plural(self.0.len()),
            files.len(),
            plural(files.len())
        )
    }
}

impl std::error::Error for ConfigErrors {}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Something that does not stop relance but deserves a look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file (or directory).
    pub file: PathBuf,
    /// The key path (empty: the file as a whole).
    pub key: String,
    /// Where, when known.
    pub location: Option<Location>,
    /// What to look at.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.location {
            write!(f, ": line {}, column {}", l.line, l.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What the environment contributes to a configuration (read once, passed in, so tests can
/// set it without touching the process environment).
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// `$CREDENTIALS_DIRECTORY` (systemd credentials).
    pub credentials_dir: Option<PathBuf>,
    /// `$STATE_DIRECTORY` (systemd `StateDirectory=`), the default state directory.
    pub state_directory: Option<PathBuf>,
    /// The state directory to resolve paths under whatever the file says: the running one,
    /// when the daemon reloads (a new `state_dir` takes effect at the next restart only).
    pub state_dir_override: Option<PathBuf>,
}

impl Env {
    /// The process environment's values.
    pub fn from_process() -> Self {
        Env {
            credentials_dir: secrets::credentials_dir_from_env(),
            // systemd may pass several directories separated by ':'; the first is ours.
            state_directory: std::env::var("STATE_DIRECTORY")
                .ok()
                .and_then(|v| v.split(':').next().map(PathBuf::from))
                .filter(|p| p.is_absolute()),
            state_dir_override: None,
        }
    }
}

/// Loads and validates the configuration directory `dir` (the process environment supplies
/// `$CREDENTIALS_DIRECTORY` and `$STATE_DIRECTORY`). No network access.
pub fn load(dir: &Path) -> Result<Config, ConfigErrors> {
    load_with(dir, &Env::from_process())
}

/// [`load`] with an explicit environment.
pub fn load_with(dir: &Path, env: &Env) -> Result<Config, ConfigErrors> {
    // Every path is resolved once, from the absolute configuration directory: how the
    // directory was named on the command line (`./dir`, a symlink) changes nothing.
    let absolute = std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_owned());
    let dir = absolute.as_path();
    let mut v = Validator {
        errors: Vec::new(),
        warnings: Vec::new(),
        env,
    };
    let global = v.global(dir);
    let state_dir = global
        .as_ref()
        .map(|g| g.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from("/var/lib/relance"));
    let companies = v.companies(dir, &state_dir);
    v.assets(dir);
    match global {
        Some(global) if v.errors.is_empty() => Ok(Config {
            dir: dir.to_owned(),
            global,
            companies,
            warnings: v.warnings,
        }),
        _ => {
            // Files in reading order, each file's errors by line.
            let mut rank: BTreeMap<PathBuf, usize> = BTreeMap::new();
            for e in &v.errors {
                let next = rank.len();
                rank.entry(e.file.clone()).or_insert(next);
            }
            v.errors.sort_by_key(|e| {
                (
                    rank.get(&e.file).copied().unwrap_or(usize::MAX),
                    e.location.map(|l| l.line),
                )
            });
            Err(ConfigErrors(v.errors))
        }
    }
}

/// `relance check-config`: validates `dir` without network access and returns the exit code
/// (0 valid, 1 invalid) and the report to print (every error, then the warnings).
pub fn check_config(dir: &Path) -> (u8, String) {
    check_config_with(dir, &Env::from_process())
}

/// [`check_config`] with an explicit environment.
pub fn check_config_with(dir: &Path, env: &Env) -> (u8, String) {
    use std::fmt::Write as _;
    let mut out = String::new();
    match load_with(dir, env) {
        Ok(cfg) => {
            for c in &cfg.companies {
                let kinds: Vec<String> = cfg_sources_summary(c);
                let _ = writeln!(
                    out,
                    "company {} ({}): {} source{} [{}], write-back {}, mail {}, every {} s",
                    c.id,
                    c.name,
                    c.sources.len(),
                    plural(c.sources.len()),
                    kinds.join(", "),
                    crate::registry::writeback_summary(c),
                    c.mail
                        .as_ref()
                        .map(|m| format!("{}:{}", m.smtp.host, m.smtp.port))
                        .unwrap_or_else(|| "none".to_owned()),
                    c.poll_interval.as_secs()
                );
            }
            if let Ok(r) = crate::assets::load_rates(Some(dir)) {
                let today = crate::clock::Clock::System.today();
                let missing = r.table.missing_as_of(today);
                let _ = writeln!(
                    out,
                    "rate table: {} (revision {}); {}",
                    r.table.origins.join(" + "),
                    r.table.revision,
                    if missing.is_empty() {
                        format!("nothing missing as of {today}")
                    } else {
                        format!(
                            "missing as of {today}: {} (formal letters state the legal clause without an amount until added, see `relance rates`)",
                            missing
                                .iter()
                                .map(|m| format!("{} from {}", m.table.as_str(), m.period_start))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                );
            }
            for w in &cfg.warnings {
                let _ = writeln!(out, "warning: {w}");
            }
            let _ = write!(
                out,
                "configuration {} is valid: {} compan{}",
                dir.display(),
                cfg.companies.len(),
                if cfg.companies.len() == 1 { "y" } else { "ies" }
            );
            (0, out)
        }
        Err(errors) => (1, errors.to_string()),
    }
}

fn cfg_sources_summary(c: &CompanyConfig) -> Vec<String> {
    c.sources
        .iter()
        .map(|s| format!("{}:{}", s.kind(), s.name()))
        .collect()
}

struct Validator<'e> {
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    env: &'e Env,
}

impl Validator<'_> {
    fn error(&mut self, file: &SourceFile, key: KeyPath, kind: ErrorKind) {
        let location = file.locate(&key);
        self.errors.push(ConfigError {
            file: file.path.clone(),
            key,
            location,
            kind,
        });
    }

    fn warn(&mut self, file: &SourceFile, key: KeyPath, message: String) {
        let location = file.locate(&key);
        self.warnings.push(ConfigWarning {
            file: file.path.clone(),
            key: key.to_string(),
            location,
            message,
        });
    }

    fn read<T: serde::de::DeserializeOwned>(&mut self, path: &Path) -> Option<(SourceFile, T)> {
        let file = match SourceFile::read(path) {
            Ok(f) => f,
            Err(e) => {
                self.errors.push(ConfigError {
                    file: path.to_owned(),
                    key: KeyPath::default(),
                    location: None,
                    kind: ErrorKind::Io(e),
                });
                return None;
            }
        };
        match file.parse_all::<T>() {
            Ok(t) => Some((file, t)),
            Err(failures) => {
                for f in failures {
                    self.errors.push(ConfigError {
                        file: file.path.clone(),
                        key: f.key,
                        location: f.location,
                        kind: if f.syntax {
                            ErrorKind::Syntax(f.message)
                        } else {
                            ErrorKind::Schema(f.message)
                        },
                    });
                }
                None
            }
        }
    }

    fn global(&mut self, dir: &Path) -> Option<Global> {
        let (file, g) = self.read::<GlobalFile>(&dir.join(GLOBAL_FILE))?;
        let before = self.errors.len();
        if g.version != VERSION {
            self.error(
                &file,
                KeyPath::keys(&["version"]),
                ErrorKind::Version { found: g.version },
            );
        }
        let state_dir = match &g.state_dir {
            Some(p) => {
                self.check_no_dotdot(&file, KeyPath::keys(&["state_dir"]), p);
                let p = if p.is_absolute() {
                    p.clone()
                } else {
                    dir.join(p)
                };
                p.components().filter(|c| *c != Component::CurDir).collect()
            }
            None => self
                .env
                .state_directory
                .clone()
                .unwrap_or_else(|| PathBuf::from("/var/lib/relance")),
        };
        // A reload keeps the running state directory (see `Env::state_dir_override`).
        let state_dir = match &self.env.state_dir_override {
            Some(running) => running.clone(),
            None => state_dir,
        };
        if state_dir.exists() && !state_dir.is_dir() {
            self.error(
                &file,
                KeyPath::keys(&["state_dir"]),
                ErrorKind::NotADirectory {
                    path: state_dir.clone(),
                },
            );
        }
        if !g.listen.ip().is_loopback() {
            self.error(
                &file,
                KeyPath::keys(&["listen"]),
                ErrorKind::NotLoopback { addr: g.listen },
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&g.log_level) {
            self.error(
                &file,
                KeyPath::keys(&["log_level"]),
                ErrorKind::LogFilter(e.to_string()),
            );
        }
        if let Some(s) = &g.shard {
            if !valid_identifier(s) {
                self.error(
                    &file,
                    KeyPath::keys(&["shard"]),
                    ErrorKind::BadIdentifier { value: s.clone() },
                );
            }
        }
        if g.shutdown_timeout_secs == 0 {
            self.error(
                &file,
                KeyPath::keys(&["shutdown_timeout_secs"]),
                ErrorKind::Zero,
            );
        } else if g.shutdown_timeout_secs >= 90 {
            // systemd kills the service at TimeoutStopSec= (90 s in the shipped unit); the
            // drain must end before, or in-flight work is killed instead of cancelled cleanly.
            self.warn(
                &file,
                KeyPath::keys(&["shutdown_timeout_secs"]),
                "should stay below the unit's TimeoutStopSec= (90 s in the shipped unit)"
                    .to_owned(),
            );
        }
        let store = self.store(dir, &file, &g.store);
        let api = self.api(dir, &file, &g.api, &state_dir);
        (self.errors.len() == before).then(|| Global {
            state_dir,
            listen: g.listen,
            log_format: g.log_format,
            log_level: g.log_level,
            shard: g.shard,
            shutdown_timeout: Duration::from_secs(g.shutdown_timeout_secs),
            store,
            api,
        })
    }

    fn api(
        &mut self,
        dir: &Path,
        file: &SourceFile,
        a: &schema::ApiFile,
        state_dir: &Path,
    ) -> ApiSettings {
        let k = |key: &str| KeyPath::keys(&["api", key]);
        let tls = a.tls.as_ref().and_then(|t| {
            let kp = KeyPath::keys(&["api", "tls", "cert_file"]);
            self.check_no_dotdot(file, kp.clone(), &t.cert_file);
            let cert = if t.cert_file.is_absolute() {
                t.cert_file.clone()
            } else {
                dir.join(&t.cert_file)
            };
            if !cert.is_file() {
                self.error(file, kp, ErrorKind::PathMissing { path: cert.clone() });
            }
            let key = self.secret(
                dir,
                file,
                KeyPath::keys(&["api", "tls", "key_file"]),
                &t.key_file,
            )?;
            Some((cert, key))
        });
        if a.enabled && !a.listen.ip().is_loopback() && a.tls.is_none() {
            self.error(
                file,
                k("listen"),
                ErrorKind::Policy(format!(
                    "{} is not a loopback address and [api.tls] is not set: the API would carry passwords and session cookies in clear; set [api.tls] or publish the loopback listener through a TLS reverse proxy",
                    a.listen
                )),
            );
        }
        let socket_mode = match u32::from_str_radix(a.socket_mode.trim_start_matches("0o"), 8) {
            Ok(m) if m <= 0o777 && m & 0o007 == 0 => m,
            _ => {
                self.error(
                    file,
                    k("socket_mode"),
                    ErrorKind::Policy(format!(
                        "{:?} is not usable, expected octal permission bits without any for others, e.g. \"0660\"",
                        a.socket_mode
                    )),
                );
                0o660
            }
        };
        if a.session_hours == 0 {
            self.error(file, k("session_hours"), ErrorKind::Zero);
        }
        let socket = a.socket.as_ref().map(|p| {
            self.check_no_dotdot(file, k("socket"), p);
            if p.is_absolute() {
                p.clone()
            } else {
                state_dir.join(p)
            }
        });
        ApiSettings {
            enabled: a.enabled,
            listen: a.listen,
            socket,
            socket_mode,
            session_ttl: Duration::from_secs(a.session_hours.saturating_mul(3600)),
            tls,
        }
    }

    fn store(&mut self, dir: &Path, file: &SourceFile, s: &StoreConfig) -> StoreSettings {
        let StoreConfig::Postgres(p) = s else {
            return StoreSettings::Sled;
        };
        let k = |key: &str| KeyPath::keys(&["store", key]);
        let url_file = self.secret(dir, file, k("url_file"), &p.url_file);
        let password_file = match &p.password_file {
            Some(r) => self.secret(dir, file, k("password_file"), r),
            None => None,
        };
        if p.pool_size == 0 {
            self.error(file, k("pool_size"), ErrorKind::Zero);
        }
        if p.lease_secs == 0 {
            self.error(file, k("lease_secs"), ErrorKind::Zero);
        }
        let renew = p.renew_secs.unwrap_or((p.lease_secs / 3).max(1));
        if renew == 0 || renew >= p.lease_secs.max(1) {
            self.error(
                file,
                k("renew_secs"),
                ErrorKind::Policy(format!(
                    "{renew} s is not below lease_secs ({} s): leases would run out between renewals",
                    p.lease_secs
                )),
            );
        }
        if let Some(i) = &p.instance {
            if !valid_identifier(i) {
                self.error(
                    file,
                    k("instance"),
                    ErrorKind::BadIdentifier { value: i.clone() },
                );
            }
        }
        StoreSettings::Postgres {
            url_file: url_file.unwrap_or_default(),
            password_file,
            pool_size: p.pool_size,
            lease: Duration::from_secs(p.lease_secs),
            renew: Duration::from_secs(renew),
            instance: p.instance.clone(),
        }
    }

    fn companies(&mut self, dir: &Path, state_dir: &Path) -> Vec<CompanyConfig> {
        let cdir = dir.join(COMPANIES_DIR);
        let mut files = Vec::new();
        match std::fs::read_dir(&cdir) {
            Ok(rd) => {
                for entry in rd {
                    match entry {
                        Ok(e) => files.push(e.path()),
                        Err(e) => self.errors.push(ConfigError {
                            file: cdir.clone(),
                            key: KeyPath::default(),
                            location: None,
                            kind: ErrorKind::Io(e),
                        }),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self.errors.push(ConfigError {
                file: cdir.clone(),
                key: KeyPath::default(),
                location: None,
                kind: ErrorKind::Io(e),
            }),
        }
        files.sort();
        let mut ids: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut folders: BTreeMap<PathBuf, String> = BTreeMap::new();
        let mut out = Vec::new();
        for path in files {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || path.is_dir() {
                continue;
            }
            if !name.ends_with(".toml") {
                self.warnings.push(ConfigWarning {
                    file: path.clone(),
                    key: String::new(),
                    location: None,
                    message: "ignored: company files must end in .toml".to_owned(),
                });
                continue;
            }
            let Some((file, c)) = self.read::<CompanyFile>(&path) else {
                continue;
            };
            if let Some(cfg) = self.company(dir, state_dir, &file, c, &mut ids, &mut folders) {
                out.push(cfg);
            }
        }
        if out.is_empty() && self.errors.is_empty() {
            self.warnings.push(ConfigWarning {
                file: cdir,
                key: String::new(),
                location: None,
                message: "no company configured: the daemon will idle".to_owned(),
            });
        }
        out
    }

    fn company(
        &mut self,
        dir: &Path,
        state_dir: &Path,
        file: &SourceFile,
        c: CompanyFile,
        ids: &mut BTreeMap<String, PathBuf>,
        folders: &mut BTreeMap<PathBuf, String>,
    ) -> Option<CompanyConfig> {
        let before = self.errors.len();
        let k = |keys: &[&str]| KeyPath::keys(keys);
        if c.version != VERSION {
            self.error(
                file,
                k(&["version"]),
                ErrorKind::Version { found: c.version },
            );
        }
        if !valid_identifier(&c.id) {
            self.error(
                file,
                k(&["id"]),
                ErrorKind::BadIdentifier {
                    value: c.id.clone(),
                },
            );
        } else if let Some(other) = ids.get(&c.id) {
            let other = other.clone();
            self.error(
                file,
                k(&["id"]),
                ErrorKind::DuplicateCompany {
                    id: c.id.clone(),
                    other,
                },
            );
        } else {
            ids.insert(c.id.clone(), file.path.clone());
        }
        if c.name.trim().is_empty() {
            self.error(file, k(&["name"]), ErrorKind::Empty);
        }
        let siren = match c.siren.as_deref().map(Siren::parse) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                self.error(file, k(&["siren"]), ErrorKind::Siren(e));
                None
            }
            None => None,
        };
        if c.poll_interval_secs == 0 {
            self.error(file, k(&["poll_interval_secs"]), ErrorKind::Zero);
        }
        if c.sources.is_empty() {
            self.error(file, KeyPath::default(), ErrorKind::NoSources);
        }
        let mut names = std::collections::BTreeSet::new();
        let mut sources = Vec::with_capacity(c.sources.len());
        for (i, s) in c.sources.into_iter().enumerate() {
            let at = KeyPath::keys(&["sources"]).index(i);
            if s.name().trim().is_empty() {
                self.error(file, at.key("name"), ErrorKind::Empty);
            } else if !names.insert(s.name().to_owned()) {
                self.error(
                    file,
                    at.key("name"),
                    ErrorKind::DuplicateSource {
                        name: s.name().to_owned(),
                    },
                );
            }
            sources.push(self.source(dir, state_dir, file, &c.id, at, s, folders));
        }
        let (src_errors, src_warnings) = crate::registry::check_invoice_sources(&sources);
        let at_source = |i: usize, rel: &[&str]| {
            rel.iter()
                .fold(KeyPath::keys(&["sources"]).index(i), |k, r| k.key(r))
        };
        for (i, rel, kind) in src_errors {
            self.error(file, at_source(i, &rel), kind);
        }
        for (i, rel, msg) in src_warnings {
            self.warn(file, at_source(i, &rel), msg);
        }
        let (wb_errors, wb_warnings) = crate::registry::check_writeback(&c.writeback, &sources);
        let under = |rel: &[&str]| {
            rel.iter()
                .fold(KeyPath::keys(&["writeback"]), |k, r| k.key(r))
        };
        for (rel, kind) in wb_errors {
            self.error(file, under(&rel), kind);
        }
        for (rel, msg) in wb_warnings {
            self.warn(file, under(&rel), msg);
        }
        self.reconcile_policy(file, &c.reconcile);
        if let Err(e) = c.dunning.validate() {
            let msg = e.to_string();
            let key = policy_key(&msg, "dunning");
            self.error(file, key, ErrorKind::Policy(msg));
        }
        for e in c.provision.validate() {
            let msg = format!("invalid provision policy: {e}");
            let key = policy_key(&e.to_string(), "provision");
            self.error(file, key, ErrorKind::Policy(msg));
        }
        let mail = c.mail.and_then(|m| self.mail(dir, file, m));
        let address = c
            .address
            .as_ref()
            .and_then(|a| self.address(file, KeyPath::keys(&["address"]), a));
        let mut customer_addresses = BTreeMap::new();
        let mut customer_emails = BTreeMap::new();
        let mut seen_customers = std::collections::BTreeSet::new();
        for (i, o) in c.customers.iter().enumerate() {
            let at = KeyPath::keys(&["customers"]).index(i);
            if o.id.trim().is_empty() {
                self.error(file, at.key("id"), ErrorKind::Empty);
                continue;
            }
            if !seen_customers.insert(o.id.trim().to_owned()) {
                self.error(
                    file,
                    at.key("id"),
                    ErrorKind::Policy(format!("customer {:?} is listed twice", o.id)),
                );
                continue;
            }
            if let Some(a) = o
                .address
                .as_ref()
                .and_then(|a| self.address(file, at.key("address"), a))
            {
                customer_addresses.insert(relance_core::CustomerId::new(o.id.trim()), a);
            }
            let mut emails = Vec::new();
            for (j, e) in o.emails.iter().enumerate() {
                let e = e.trim();
                let well_formed = e.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && domain.contains('.')
                        && !e.chars().any(|c| c.is_whitespace() || c == ',' || c == '<')
                });
                if well_formed {
                    emails.push(e.to_owned());
                } else {
                    self.error(
                        file,
                        at.key("emails").index(j),
                        ErrorKind::Policy(format!("{e:?} is not an e-mail address")),
                    );
                }
            }
            if !emails.is_empty() {
                customer_emails.insert(relance_core::CustomerId::new(o.id.trim()), emails);
            }
        }
        (self.errors.len() == before).then(|| CompanyConfig {
            file: file.path.clone(),
            id: CompanyId::new(c.id),
            name: c.name,
            siren,
            currency: c.currency,
            poll_interval: Duration::from_secs(c.poll_interval_secs),
            sources,
            writeback: c.writeback,
            reconcile: c.reconcile,
            dunning: relance_core::dunning::Policy {
                letters: relance_core::dunning::policy::Letters {
                    sender: address,
                    customers: customer_addresses,
                    emails: customer_emails,
                },
                ..c.dunning
            },
            provision: c.provision,
            mail,
        })
    }

    /// The rate table (built-in or `rates/fr.toml`, with `rates.d/*.toml` merged) and the
    /// templates of the directory: every problem, placed; rows a drop-in replaced by another
    /// figure as warnings.
    fn assets(&mut self, dir: &Path) {
        let mut asset_errors = Vec::new();
        match crate::assets::load_rates(Some(dir)) {
            Ok(loaded) => {
                for n in loaded.notes {
                    self.warnings.push(ConfigWarning {
                        file: dir.join(crate::assets::RATES_DROPIN_DIR),
                        key: String::new(),
                        location: None,
                        message: n,
                    });
                }
            }
            Err(e) => asset_errors.extend(e.0),
        }
        if let Err(e) = crate::assets::load_templates(Some(dir)) {
            asset_errors.extend(e.0);
        }
        self.errors.extend(asset_errors);
    }

    /// Checks a postal address: at least one street line and none empty, at most 3 (with the
    /// name and the town, a window envelope holds 6 lines), a city, a country code, and for
    /// France a 5-digit post code.
    fn address(
        &mut self,
        file: &SourceFile,
        at: KeyPath,
        a: &schema::AddressFile,
    ) -> Option<relance_core::PostalAddress> {
        let before = self.errors.len();
        if a.lines.is_empty() || a.lines.len() > 3 {
            self.error(
                file,
                at.key("lines"),
                ErrorKind::Policy(format!("{} street lines, expected 1 to 3", a.lines.len())),
            );
        }
        for (i, l) in a.lines.iter().enumerate() {
            if l.trim().is_empty() {
                self.error(file, at.key("lines").index(i), ErrorKind::Empty);
            }
        }
        if a.city.trim().is_empty() {
            self.error(file, at.key("city"), ErrorKind::Empty);
        }
        let country = a.country.trim();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            self.error(
                file,
                at.key("country"),
                ErrorKind::Policy(format!(
                    "{country:?} is not a country code, expected ISO 3166-1 alpha-2 such as FR"
                )),
            );
        }
        let postcode = a.postcode.as_deref().map(str::trim).unwrap_or("");
        if country.eq_ignore_ascii_case("FR")
            && (postcode.len() != 5 || !postcode.bytes().all(|b| b.is_ascii_digit()))
        {
            self.error(
                file,
                at.key("postcode"),
                ErrorKind::Policy(format!(
                    "{postcode:?} is not a French post code, expected 5 digits"
                )),
            );
        }
        (self.errors.len() == before).then(|| a.to_core())
    }

    #[allow(clippy::too_many_arguments)] // one call site; the context is what it checks
    fn source(
        &mut self,
        dir: &Path,
        state_dir: &Path,
        file: &SourceFile,
        company: &str,
        at: KeyPath,
        s: SourceConfig,
        folders: &mut BTreeMap<PathBuf, String>,
    ) -> SourceConfig {
        let name = s.name().to_owned();
        let env = self.env;
        let mut resolve = |raw: &str| -> Result<(PathBuf, Option<String>), ErrorKind> {
            let r = SecretRef::parse(raw).map_err(ErrorKind::Schema)?;
            check_secret(dir, env, &r).map_err(ErrorKind::Secret)
        };
        let check = crate::registry::check_source(s, state_dir, &mut resolve);
        let key = |rel: &[&str]| {
            let mut k = at.clone();
            for r in rel {
                k = k.key(r);
            }
            k
        };
        for (rel, kind) in check.errors {
            self.error(file, key(&rel), kind);
        }
        for (rel, msg) in check.warnings {
            self.warn(file, key(&rel), msg);
        }
        if let Some(path) = crate::registry::folder_of(&check.resolved) {
            let me = format!("{company}/{name}");
            if let Some(other) = folders.get(path) {
                let other = other.clone();
                self.error(
                    file,
                    key(&["path"]),
                    ErrorKind::PathShared {
                        path: path.to_owned(),
                        other,
                    },
                );
            } else {
                folders.insert(path.to_owned(), me);
            }
        }
        check.resolved
    }

    /// Range checks of the reconciliation policy (its own type checks only the types).
    fn reconcile_policy(&mut self, file: &SourceFile, p: &ReconcilePolicy) {
        let k = |key: &str| KeyPath::keys(&["reconcile", key]);
        for (key, v) in [
            ("auto_threshold", p.auto_threshold),
            ("name_similarity_min", p.name_similarity_min),
        ] {
            if v > 1000 {
                self.error(
                    file,
                    k(key),
                    ErrorKind::Policy(format!("{v} is out of range, expected per-mille 0..=1000")),
                );
            }
        }
        for (i, r) in p.discount_rates.iter().enumerate() {
            if r.is_sign_negative() || *r >= rust_decimal::Decimal::ONE {
                self.error(
                    file,
                    k("discount_rates").index(i),
                    ErrorKind::Policy(format!(
                        "discount rate {r} is out of range, expected a fraction in 0..1 (0.02 = 2 %)"
                    )),
                );
            }
        }
        for (key, v) in [
            ("max_bank_fee", p.max_bank_fee),
            ("max_fee_fraction", p.max_fee_fraction),
            ("rounding_tolerance", p.rounding_tolerance),
        ] {
            if v.is_sign_negative() {
                self.error(
                    file,
                    k(key),
                    ErrorKind::Policy(format!("{v} is negative, expected 0 or more")),
                );
            }
        }
    }

    /// Resolves and reads a secret (to check it; the value is dropped at once).
    fn secret(
        &mut self,
        dir: &Path,
        file: &SourceFile,
        key: KeyPath,
        r: &SecretRef,
    ) -> Option<PathBuf> {
        match check_secret(dir, self.env, r) {
            Ok((path, warning)) => {
                if let Some(w) = warning {
                    self.warn(file, key, w);
                }
                Some(path)
            }
            Err(e) => {
                self.error(file, key, ErrorKind::Secret(e));
                None
            }
        }
    }

    fn mail(&mut self, dir: &Path, file: &SourceFile, m: MailConfig) -> Option<Mail> {
        let before = self.errors.len();
        let k = |key: &str| KeyPath::keys(&["mail", key]);
        if m.host.trim().is_empty() {
            self.error(file, k("host"), ErrorKind::Empty);
        }
        if !m.from.contains('@') {
            self.error(
                file,
                k("from"),
                ErrorKind::Schema("expected an e-mail address".to_owned()),
            );
        }
        match (&m.username, &m.password_file) {
            (Some(_), None) => self.error(
                file,
                k("username"),
                ErrorKind::MailAuth("username is set without password_file"),
            ),
            (None, Some(_)) => self.error(
                file,
                k("password_file"),
                ErrorKind::MailAuth("password_file is set without username"),
            ),
            _ => {}
        }
        if m.password_file.is_some() && m.security == Security::Plain {
            self.error(file, k("security"), ErrorKind::PasswordInClear);
        }
        if m.timeout_secs == 0 {
            self.error(file, k("timeout_secs"), ErrorKind::Zero);
        }
        let password_file = match &m.password_file {
            Some(r) => self.secret(dir, file, k("password_file"), r),
            None => None,
        };
        (self.errors.len() == before).then(|| Mail {
            smtp: m.smtp_config(),
            password_file,
        })
    }

    /// Refuses `..` in a path; true when the path is fine.
    fn check_no_dotdot(&mut self, file: &SourceFile, key: KeyPath, p: &Path) -> bool {
        if p.components().any(|c| c == Component::ParentDir) {
            self.error(file, key, ErrorKind::PathEscapes { path: p.to_owned() });
            false
        } else {
            true
        }
    }
}

/// The key a policy message starts with (`dunning.steps[1]: …`), else the policy's table.
fn policy_key(message: &str, table: &str) -> KeyPath {
    let body = message.split_once(": ").map(|(_, b)| b).unwrap_or(message);
    [message, body]
        .iter()
        .filter_map(|m| {
            let end = m.find([':', ' ']).unwrap_or(m.len());
            let head = &m[..end];
            head.starts_with(table)
                .then(|| KeyPath::parse_dotted(head))
                .flatten()
        })
        .next()
        .unwrap_or_else(|| KeyPath::keys(&[table]))
}

/// Company ids and shard names: 1–63 of `a-z 0-9 - _`, starting with a letter or digit (they
/// appear in store keys, metric labels and unit instance names).
pub fn valid_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// Resolves and reads a secret reference (the value is dropped at once); the file and a
/// warning when a plain file is readable by others.
fn check_secret(
    dir: &Path,
    env: &Env,
    r: &SecretRef,
) -> Result<(PathBuf, Option<String>), secrets::SecretError> {
    let path = secrets::resolve(r, dir, env.credentials_dir.as_deref())?;
    secrets::read(&path)?;
    let warning = (matches!(r, SecretRef::File(_)) && secrets::too_open(&path)).then(|| {
        format!(
            "secret file {} is readable by group or others, expected mode 0600 or 0400",
            path.display()
        )
    });
    Ok((path, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_resolves_paths_and_checks_policy_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("relance.toml"), "version = 1\n").unwrap();
        std::fs::create_dir(d.join("companies.d")).unwrap();
        let company = "version = 1\nid = \"acme\"\nname = \"ACME\"\n\
                       [[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = \"in/bank\"\n";
        std::fs::write(d.join("companies.d/acme.toml"), company).unwrap();
        let env = Env {
            credentials_dir: None,
            state_directory: Some(PathBuf::from("/var/lib/relance-test")),
            state_dir_override: None,
        };
        let cfg = load_with(d, &env).unwrap();
        assert_eq!(cfg.global.state_dir, PathBuf::from("/var/lib/relance-test"));
        assert_eq!(cfg.global.listen.to_string(), "127.0.0.1:9187");
        let c = &cfg.companies[0];
        assert_eq!(c.poll_interval, Duration::from_secs(300));
        match &c.sources[0] {
            SourceConfig::BankDir(s) => {
                assert_eq!(s.path, PathBuf::from("/var/lib/relance-test/in/bank"))
            }
            other => panic!("{other:?}"),
        }
        let bad = format!(
            "{company}[reconcile]\nauto_threshold = 1200\ndiscount_rates = [\"0.02\", \"1.5\"]\n"
        );
        std::fs::write(d.join("companies.d/acme.toml"), bad).unwrap();
        let errors = load_with(d, &env).unwrap_err().to_string();
        assert!(
            errors.contains("line 9, column 1: reconcile.auto_threshold: 1200 is out of range"),
            "{errors}"
        );
        assert!(
            errors.contains("line 10, column 27: reconcile.discount_rates[1]: discount rate 1.5"),
            "{errors}"
        );
    }

    #[test]
    fn identifiers() {
        assert!(valid_identifier("acme"));
        assert!(valid_identifier("acme-2_b"));
        assert!(!valid_identifier("Acme"));
        assert!(!valid_identifier("-acme"));
        assert!(!valid_identifier(""));
    }

    #[test]
    fn policy_keys_are_found_in_messages() {
        assert_eq!(
            policy_key(
                "invalid dunning policy: dunning.steps[1]: stage goes backwards",
                "dunning"
            )
            .to_string(),
            "dunning.steps[1]"
        );
        assert_eq!(
            policy_key(
                "provision.rates[0] (x): rate 2 is outside 0..=1",
                "provision"
            )
            .to_string(),
            "provision.rates[0]"
        );
        assert_eq!(
            policy_key("something else", "dunning").to_string(),
            "dunning"
        );
    }
}
