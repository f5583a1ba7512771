//! Configuration → connectors: the one place that matches on connector types.
//!
//! [`Connectors::build`] turns a company's configuration into its sources and its write-back
//! targets, once per configuration generation (the daemon builds them when a company's task
//! starts, and a reload that changes the company starts a new task). The pipeline, the daemon
//! and the commands then loop over [`BoxSource`]s and [`SharedWriteBack`]s and know no
//! concrete type. A source or target whose construction fails (an unreadable password file)
//! is kept as a broken slot with its error, reported at every cycle and built again at the
//! next one, so the operator's fix takes effect without a reload.
//!
//! Adding a connector type means: a variant of [`SourceConfig`] (or [`WritebackConfig`]), its
//! arm in [`build_source`] / [`Connectors::build`], its checks in [`check_source`], and its
//! hosts in [`remote_hosts`].

use crate::config::schema::{DirSource, SourceConfig, WritebackConfig};
use crate::config::CompanyConfig;
use crate::store::{SharedStore, Store as _};
use relance_connectors::contract::{BoxSource, SharedWriteBack};
use relance_connectors::error::ConnectorError;
use relance_connectors::http::HttpLayer;
use relance_connectors::systems::folder::{FolderKind, FolderOptions, FolderSource, ImportLedger};
use relance_connectors::systems::local::DirWriteBack;
use relance_connectors::systems::smtp::SmtpMailer;
use relance_connectors::systems::tryton::TrytonConnector;
use relance_core::{CompanyId, Invoice, InvoiceId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Target name of the tasks folder (calls to make, registered letters to post).
pub const TARGET_TASKS: &str = "tasks";
/// Target name of outgoing mail (SMTP when `[mail]` is set, else the outgoing-mail folder).
pub const TARGET_MAIL: &str = "mail";

/// Where a company's files live under the state directory.
pub fn company_dir(state_dir: &Path, company: &CompanyId) -> PathBuf {
    state_dir.join("companies").join(company.as_str())
}

/// What a cycle needs to build connectors: the state directory and store they write to, and
/// the HTTP layer every HTTP connector shares (rate limits per host across companies).
#[derive(Clone, Debug)]
pub struct BuildContext {
    /// The state directory (folders, sent-logs).
    pub state_dir: PathBuf,
    /// The store (folder sources read the import log through it); `None` for a command that
    /// only checks connectors while a daemon holds the store.
    pub store: Option<SharedStore>,
    /// The shared HTTP client layer.
    pub http: Arc<HttpLayer>,
}

/// One configured source, built or not.
pub struct SourceSlot {
    /// Its configured name (cursor key in the store).
    pub name: String,
    /// Its `type` tag.
    pub kind: &'static str,
    /// The connector, or why it could not be built.
    pub source: Result<BoxSource, String>,
    config: SourceConfig,
}

impl std::fmt::Debug for SourceSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSlot")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("built", &self.source.is_ok())
            .finish()
    }
}

/// One write-back target, built or not.
pub struct TargetSlot {
    /// Its name (the outbox entries' `target`).
    pub name: String,
    /// The connector, or why it could not be built.
    pub target: Result<SharedWriteBack, String>,
}

/// A company's connectors for one configuration generation.
pub struct Connectors {
    /// Sources, in configuration order.
    pub sources: Vec<SourceSlot>,
    /// Write-back targets: tasks, mail, and the system of record when configured.
    pub targets: Vec<TargetSlot>,
    /// Name of the system-of-record target (reconciliations, dunning levels, moves), if any.
    pub writeback: Option<String>,
    company: Arc<CompanyConfig>,
    cx: BuildContext,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors")
            .field("company", &self.company.id)
            .field("sources", &self.sources)
            .field(
                "targets",
                &self.targets.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The name of the system-of-record target of a company, if it has one.
pub fn writeback_target(company: &CompanyConfig) -> Option<String> {
    match &company.writeback {
        WritebackConfig::None => None,
        WritebackConfig::Tryton(t) => Some(format!("tryton:{}", t.source)),
    }
}

/// One line describing the write-back target, for `check-config`.
pub fn writeback_summary(company: &CompanyConfig) -> String {
    match &company.writeback {
        WritebackConfig::None => "none".to_owned(),
        WritebackConfig::Tryton(t) => format!("tryton via {}", t.source),
    }
}

/// The remote hosts a company talks to over HTTP (`host:port`, default port explicit), with
/// the requests-per-second bound configured for each (0 = unbounded).
pub fn remote_hosts(company: &CompanyConfig) -> Vec<(String, u32)> {
    company
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceConfig::Tryton(t) => relance_connectors::http::host_key(&t.tryton.url)
                .ok()
                .map(|h| (h, t.tryton.requests_per_second)),
            SourceConfig::EinvoiceInbox(_) | SourceConfig::BankDir(_) => None,
        })
        .collect()
}

/// The folders of a company's folder sources (to create them at start, so an operator can
/// drop files at once).
pub fn folders(company: &CompanyConfig) -> Vec<PathBuf> {
    company
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceConfig::EinvoiceInbox(d) | SourceConfig::BankDir(d) => Some(d.path.clone()),
            SourceConfig::Tryton(_) => None,
        })
        .collect()
}

/// The import log a folder source reads: the store, for one company.
#[derive(Debug)]
struct StoreLedger {
    store: Option<SharedStore>,
    company: CompanyId,
}

impl StoreLedger {
    fn store(&self) -> Result<&SharedStore, ConnectorError> {
        self.store.as_ref().ok_or_else(|| {
            ConnectorError::Config("no store is open in this command: nothing is imported".into())
        })
    }
}

impl ImportLedger for StoreLedger {
    fn seen(&self, hash: &str) -> Result<bool, ConnectorError> {
        self.store()?
            .seen_file(&self.company, hash)
            .map(|f| f.is_some())
            .map_err(|e| ConnectorError::transient(e.to_string()))
    }

    fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, ConnectorError> {
        self.store()?
            .invoice(&self.company, id)
            .map(|r| r.map(|r| r.invoice))
            .map_err(|e| ConnectorError::transient(e.to_string()))
    }
}

fn folder(
    d: &DirSource,
    kind: FolderKind,
    company: &CompanyConfig,
    cx: &BuildContext,
) -> FolderSource {
    let opts = FolderOptions {
        settle: Duration::from_secs(d.settle_secs),
        ..FolderOptions::default()
    };
    let ledger = Arc::new(StoreLedger {
        store: cx.store.clone(),
        company: company.id.clone(),
    });
    FolderSource::new(d.path.clone(), kind, opts, ledger)
}

/// Builds one source. A Tryton source shares its client (session, rate limit) with the Tryton
/// write-back target built from it: pass the connector built for the target, if any.
pub fn build_source(
    s: &SourceConfig,
    company: &CompanyConfig,
    cx: &BuildContext,
    tryton: &BTreeMap<String, TrytonConnector>,
) -> Result<BoxSource, ConnectorError> {
    Ok(match s {
        SourceConfig::EinvoiceInbox(d) => Box::new(folder(d, FolderKind::Einvoices, company, cx)),
        SourceConfig::BankDir(d) => Box::new(folder(d, FolderKind::Bank, company, cx)),
        SourceConfig::Tryton(t) => match tryton.get(&t.name) {
            Some(c) => Box::new(c.clone()),
            None => Box::new(TrytonConnector::with_http(
                t.tryton.clone(),
                cx.http.clone(),
            )?),
        },
    })
}

impl Connectors {
    /// Builds every source and target of `company`.
    pub fn build(company: Arc<CompanyConfig>, cx: BuildContext) -> Self {
        let dir = company_dir(&cx.state_dir, &company.id);
        let mut targets = vec![TargetSlot {
            name: TARGET_TASKS.to_owned(),
            target: Ok(Arc::new(DirWriteBack::new(dir.join("tasks"))) as SharedWriteBack),
        }];
        let mail: Result<SharedWriteBack, String> = match &company.mail {
            Some(mail) => mailer(mail, &dir),
            None => Ok(Arc::new(DirWriteBack::new(dir.join("outgoing-mail")))),
        };
        targets.push(TargetSlot {
            name: TARGET_MAIL.to_owned(),
            target: mail,
        });
        // The system of record: one client shared by its source and its target.
        let mut tryton: BTreeMap<String, TrytonConnector> = BTreeMap::new();
        let writeback = writeback_target(&company);
        match &company.writeback {
            WritebackConfig::None => {}
            WritebackConfig::Tryton(w) => {
                let cfg = company.sources.iter().find_map(|s| match s {
                    SourceConfig::Tryton(t) if t.name == w.source => Some(t.tryton.clone()),
                    _ => None,
                });
                let target = match cfg {
                    Some(cfg) => match TrytonConnector::with_http(cfg, cx.http.clone()) {
                        Ok(c) => {
                            tryton.insert(w.source.clone(), c.clone());
                            Ok(Arc::new(c) as SharedWriteBack)
                        }
                        Err(e) => Err(e.to_string()),
                    },
                    None => Err(format!("no tryton source named {:?}", w.source)),
                };
                targets.push(TargetSlot {
                    name: writeback.clone().unwrap_or_default(),
                    target,
                });
            }
        }
        let sources = company
            .sources
            .iter()
            .map(|s| SourceSlot {
                name: s.name().to_owned(),
                kind: s.kind(),
                source: build_source(s, &company, &cx, &tryton).map_err(|e| e.to_string()),
                config: s.clone(),
            })
            .collect();
        Connectors {
            sources,
            targets,
            writeback,
            company,
            cx,
        }
    }

    /// Builds again the sources and targets whose construction failed (called at the start
    /// of each cycle).
    pub fn retry_broken(&mut self) {
        let none = BTreeMap::new();
        for slot in &mut self.sources {
            if slot.source.is_err() {
                slot.source = build_source(&slot.config, &self.company, &self.cx, &none)
                    .map_err(|e| e.to_string());
            }
        }
        if self.targets.iter().any(|t| t.target.is_err()) {
            let fresh = Connectors::build(self.company.clone(), self.cx.clone());
            for (slot, new) in self.targets.iter_mut().zip(fresh.targets) {
                if slot.target.is_err() {
                    slot.target = new.target;
                }
            }
        }
    }
}

fn mailer(mail: &crate::config::Mail, dir: &Path) -> Result<SharedWriteBack, String> {
    let password = match &mail.password_file {
        Some(p) => Some(crate::config::secrets::read(p).map_err(|e| e.to_string())?),
        None => None,
    };
    SmtpMailer::new(
        &mail.smtp,
        password.as_ref().map(|s| s.expose()),
        dir.join("mail-sent.log"),
    )
    .map(|m| Arc::new(m) as SharedWriteBack)
    .map_err(|e| e.to_string())
}

/// What `check-config` says about one source, beyond the schema: (key below the source's
/// table, problem) pairs, and the source with its paths resolved.
pub struct SourceCheck {
    /// The source, folder paths made absolute and secret references resolved.
    pub resolved: SourceConfig,
    /// Problems: (key relative to the source's table, message kind).
    pub errors: Vec<(Vec<&'static str>, crate::config::ErrorKind)>,
    /// Warnings: (key relative to the source's table, message).
    pub warnings: Vec<(Vec<&'static str>, String)>,
}

/// Per-type checks of a source and its resolution (paths under `state_dir`, secrets under the
/// configuration directory), without network access.
pub fn check_source(
    s: SourceConfig,
    state_dir: &Path,
    resolve_secret: &mut dyn FnMut(&str) -> Result<PathBuf, crate::config::ErrorKind>,
) -> SourceCheck {
    use crate::config::ErrorKind;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let resolved = match s {
        SourceConfig::EinvoiceInbox(d) => {
            SourceConfig::EinvoiceInbox(check_dir(d, state_dir, &mut errors))
        }
        SourceConfig::BankDir(d) => SourceConfig::BankDir(check_dir(d, state_dir, &mut errors)),
        SourceConfig::Tryton(mut t) => {
            match relance_connectors::http::host_key(&t.tryton.url) {
                Err(_) => errors.push((
                    vec!["tryton", "url"],
                    ErrorKind::BadUrl {
                        url: t.tryton.url.clone(),
                    },
                )),
                Ok(_) if t.tryton.url.starts_with("http://")
                    && !relance_connectors::http::is_loopback(&t.tryton.url) =>
                {
                    warnings.push((
                        vec!["tryton", "url"],
                        "plain http to a remote host: the Tryton password travels unencrypted, use https".to_owned(),
                    ))
                }
                Ok(_) => {}
            }
            if t.tryton.database.trim().is_empty() {
                errors.push((vec!["tryton", "database"], ErrorKind::Empty));
            }
            if t.tryton.user.trim().is_empty() {
                errors.push((vec!["tryton", "user"], ErrorKind::Empty));
            }
            if t.tryton.page_size == 0 {
                errors.push((vec!["tryton", "page_size"], ErrorKind::Zero));
            }
            if t.tryton.timeout_seconds == 0 {
                errors.push((vec!["tryton", "timeout_seconds"], ErrorKind::Zero));
            }
            let raw = t.tryton.password_file.to_string_lossy().into_owned();
            match resolve_secret(&raw) {
                Ok(p) => t.tryton.password_file = p,
                Err(e) => errors.push((vec!["tryton", "password_file"], e)),
            }
            SourceConfig::Tryton(t)
        }
    };
    SourceCheck {
        resolved,
        errors,
        warnings,
    }
}

fn check_dir(
    mut d: DirSource,
    state_dir: &Path,
    errors: &mut Vec<(Vec<&'static str>, crate::config::ErrorKind)>,
) -> DirSource {
    use crate::config::ErrorKind;
    use std::path::Component;
    if d.path.components().any(|c| c == Component::ParentDir) {
        errors.push((
            vec!["path"],
            ErrorKind::PathEscapes {
                path: d.path.clone(),
            },
        ));
        return d;
    }
    let resolved = if d.path.is_absolute() {
        if !d.path.exists() {
            errors.push((
                vec!["path"],
                ErrorKind::PathMissing {
                    path: d.path.clone(),
                },
            ));
        } else if !d.path.is_dir() {
            errors.push((
                vec!["path"],
                ErrorKind::NotADirectory {
                    path: d.path.clone(),
                },
            ));
        }
        d.path.clone()
    } else {
        let p = state_dir.join(&d.path);
        if p.exists() && !p.is_dir() {
            errors.push((vec!["path"], ErrorKind::NotADirectory { path: p.clone() }));
        }
        p
    };
    d.path = resolved;
    d
}

/// The folder path of a folder source (for the shared-folder check), if it is one.
pub fn folder_of(s: &SourceConfig) -> Option<&Path> {
    match s {
        SourceConfig::EinvoiceInbox(d) | SourceConfig::BankDir(d) => Some(&d.path),
        SourceConfig::Tryton(_) => None,
    }
}

/// True when `name` is a source of the company that can serve as `type = "tryton"` write-back.
pub fn is_tryton_source(sources: &[SourceConfig], name: &str) -> bool {
    sources
        .iter()
        .any(|s| matches!(s, SourceConfig::Tryton(t) if t.name == name))
}

/// The name of the source a write-back target writes through, if any (checked to exist).
pub fn writeback_source(w: &WritebackConfig) -> Option<&str> {
    match w {
        WritebackConfig::None => None,
        WritebackConfig::Tryton(t) => Some(&t.source),
    }
}

/// Reads a `type`-tagged table (`sources[i]` or `writeback`) again as its variant's own struct,
/// for the exact key of a schema error inside it (see `config::load`).
pub fn reread_variant(table: &str, tag: &str, text: &str) -> Option<crate::config::load::DeError> {
    use crate::config::load::deserialize_str;
    use crate::config::schema::{TrytonSource, TrytonWriteback};
    match (table, tag) {
        ("sources", "einvoice_inbox" | "bank_dir") => deserialize_str::<DirSource>(text).err(),
        ("sources", "tryton") => deserialize_str::<TrytonSource>(text).err(),
        ("writeback", "tryton") => deserialize_str::<TrytonWriteback>(text).err(),
        _ => None,
    }
}
