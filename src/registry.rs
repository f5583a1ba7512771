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
//! arm in [`build_source`] / [`Connectors::build`], its checks in [`check_source`] (and
//! [`check_writeback`]), and its hosts in [`remote_hosts`].
//!
//! A system of record (Tryton, Pennylane, Odoo, Dolibarr) that is also the write-back target
//! is built once, for the target, and its clone serves as the source: one client, one session,
//! one rate limit. Pennylane finds the effects of its keys through the outbox (the command
//! recorded under a key, [`relance_connectors::contract::CommandLog`]), and its webhook events
//! arrive through the process-wide [`webhook_hub`], mounted on the daemon's listener.

use crate::config::schema::{DirSource, SourceConfig, WritebackConfig};
use crate::config::CompanyConfig;
use crate::store::{SharedStore, Store as _};
use relance_connectors::contract::{
    BoxSource, CommandLog, IdempotencyKey, SharedWriteBack, WriteCommand,
};
use relance_connectors::error::ConnectorError;
use relance_connectors::http::HttpLayer;
use relance_connectors::systems::chorus_pro::ChorusProConnector;
use relance_connectors::systems::dolibarr::DolibarrConnector;
use relance_connectors::systems::folder::{FolderKind, FolderOptions, FolderSource, ImportLedger};
use relance_connectors::systems::local::DirWriteBack;
use relance_connectors::systems::odoo::OdooConnector;
use relance_connectors::systems::pa::PaConnector;
use relance_connectors::systems::pennylane::webhook::WebhookHub;
use relance_connectors::systems::pennylane::PennylaneConnector;
use relance_connectors::systems::qonto::QontoConnector;
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
    writeback_source(&company.writeback).map(|(name, kind)| format!("{kind}:{name}"))
}

/// One line describing the write-back target, for `check-config`.
pub fn writeback_summary(company: &CompanyConfig) -> String {
    match writeback_source(&company.writeback) {
        None => "none".to_owned(),
        Some((name, kind)) => format!("{kind} via {name}"),
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
            // Pennylane's limit is per token: a bucket of the connector's own, not the host's
            SourceConfig::Pennylane(p) => relance_connectors::http::host_key(&p.pennylane.url)
                .ok()
                .map(|h| (h, 0)),
            SourceConfig::Odoo(o) => relance_connectors::http::host_key(&o.odoo.url)
                .ok()
                .map(|h| (h, o.odoo.requests_per_second)),
            SourceConfig::Dolibarr(d) => relance_connectors::http::host_key(&d.dolibarr.url)
                .ok()
                .map(|h| (h, d.dolibarr.requests_per_second)),
            SourceConfig::Pa(p) => relance_connectors::http::host_key(&p.pa.url)
                .ok()
                .map(|h| (h, p.pa.requests_per_second)),
            SourceConfig::ChorusPro(c) => relance_connectors::http::host_key(&c.chorus_pro.url)
                .ok()
                .map(|h| (h, c.chorus_pro.requests_per_second)),
            SourceConfig::Qonto(q) => relance_connectors::http::host_key(&q.qonto.url)
                .ok()
                .map(|h| (h, q.qonto.requests_per_second)),
            SourceConfig::EinvoiceInbox(_) | SourceConfig::BankDir(_) => None,
        })
        .collect()
}

/// The file (in the company's state directory) where a `qonto` source keeps its current
/// refresh token.
pub fn qonto_token_file(source: &str) -> String {
    relance_connectors::systems::qonto::token_file_name(source)
}

/// The target name of a `pa` source's payment reports (212 Encaissée).
pub fn pa_target(source: &str) -> String {
    format!("pa:{source}")
}

/// The e-invoicing platforms relance reports payments to: (source name, target name, the
/// platform's name in its statuses), for the `pa` sources with `report_payments`.
pub fn payment_platforms(company: &CompanyConfig) -> Vec<(String, String, String)> {
    company
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceConfig::Pa(p) if p.pa.report_payments => {
                Some((p.name.clone(), pa_target(&p.name), p.pa.platform.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The names of the company's platform sources that are the source of its issued invoices
/// (`issued_invoices = true`): such a platform knows every invoice it gave.
pub fn invoice_platforms(company: &CompanyConfig) -> Vec<String> {
    company
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceConfig::Pa(p) if p.pa.issued_invoices => Some(p.name.clone()),
            _ => None,
        })
        .collect()
}

/// The folder of the company's folder source named `name` (`None` for another source type).
pub fn folder_named(company: &CompanyConfig, name: &str) -> Option<PathBuf> {
    company.sources.iter().find_map(|s| match s {
        SourceConfig::EinvoiceInbox(d) | SourceConfig::BankDir(d) if d.name == name => {
            Some(d.path.clone())
        }
        _ => None,
    })
}

/// The folders of a company's folder sources (to create them at start, so an operator can
/// drop files at once).
pub fn folders(company: &CompanyConfig) -> Vec<PathBuf> {
    company
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceConfig::EinvoiceInbox(d) | SourceConfig::BankDir(d) => Some(d.path.clone()),
            SourceConfig::Tryton(_)
            | SourceConfig::Pennylane(_)
            | SourceConfig::Odoo(_)
            | SourceConfig::Dolibarr(_)
            | SourceConfig::Pa(_)
            | SourceConfig::ChorusPro(_)
            | SourceConfig::Qonto(_) => None,
        })
        .collect()
}

/// The process-wide hub of Pennylane webhook subscriptions: each Pennylane source with a
/// `webhook_secret_file` registers its company there, and the daemon's listener serves
/// [`relance_connectors::systems::pennylane::webhook::router`] over it.
pub fn webhook_hub() -> Arc<WebhookHub> {
    static HUB: std::sync::OnceLock<Arc<WebhookHub>> = std::sync::OnceLock::new();
    HUB.get_or_init(|| Arc::new(WebhookHub::new())).clone()
}

/// The commands recorded under keys: the outbox of one company (a Pennylane target finds an
/// effect by the natural key of the command recorded under its key).
#[derive(Debug)]
struct StoreCommands {
    store: Option<SharedStore>,
    company: CompanyId,
}

impl CommandLog for StoreCommands {
    fn command(&self, key: &IdempotencyKey) -> Result<Option<WriteCommand>, ConnectorError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        store
            .outbox_entry(&self.company, key)
            .map(|e| e.map(|e| e.command))
            .map_err(|e| ConnectorError::transient(e.to_string()))
    }
}

/// A system of record built for the write-back target, whose clone serves as its source.
#[derive(Clone)]
enum Shared {
    Tryton(TrytonConnector),
    Pennylane(PennylaneConnector),
    Odoo(OdooConnector),
    Dolibarr(DolibarrConnector),
}

impl Shared {
    fn source(&self) -> BoxSource {
        match self {
            Shared::Tryton(c) => Box::new(c.clone()),
            Shared::Pennylane(c) => Box::new(c.clone()),
            Shared::Odoo(c) => Box::new(c.clone()),
            Shared::Dolibarr(c) => Box::new(c.clone()),
        }
    }

    fn target(&self) -> SharedWriteBack {
        match self {
            Shared::Tryton(c) => Arc::new(c.clone()),
            Shared::Pennylane(c) => Arc::new(c.clone()),
            Shared::Odoo(c) => Arc::new(c.clone()),
            Shared::Dolibarr(c) => Arc::new(c.clone()),
        }
    }
}

fn pennylane(
    cfg: &relance_connectors::systems::pennylane::PennylaneConfig,
    cx: &BuildContext,
) -> Result<PennylaneConnector, ConnectorError> {
    PennylaneConnector::with_http(cfg.clone(), cx.http.clone())?.with_webhooks(webhook_hub())
}

/// Builds the system of record named by the write-back configuration, with its options.
fn build_shared(
    company: &CompanyConfig,
    cx: &BuildContext,
) -> Option<(String, Result<Shared, String>)> {
    let (name, kind) = writeback_source(&company.writeback)?;
    let source = company
        .sources
        .iter()
        .find(|s| s.name() == name && s.kind() == kind);
    let built = match (&company.writeback, source) {
        (WritebackConfig::Tryton(_), Some(SourceConfig::Tryton(t))) => {
            TrytonConnector::with_http(t.tryton.clone(), cx.http.clone()).map(Shared::Tryton)
        }
        (WritebackConfig::Pennylane(w), Some(SourceConfig::Pennylane(p))) => {
            pennylane(&p.pennylane, cx).map(|c| {
                let log = Arc::new(StoreCommands {
                    store: cx.store.clone(),
                    company: company.id.clone(),
                });
                Shared::Pennylane(c.with_writeback(w.pennylane.clone(), log))
            })
        }
        (WritebackConfig::Odoo(w), Some(SourceConfig::Odoo(o))) => {
            OdooConnector::with_http(o.odoo.clone(), cx.http.clone())
                .map(|c| Shared::Odoo(c.with_writeback(w.odoo.clone())))
        }
        (WritebackConfig::Dolibarr(w), Some(SourceConfig::Dolibarr(d))) => {
            DolibarrConnector::with_http(d.dolibarr.clone(), cx.http.clone())
                .map(|c| Shared::Dolibarr(c.with_writeback(w.dolibarr.clone())))
        }
        _ => {
            return Some((
                name.to_owned(),
                Err(format!("no {kind} source named {name:?}")),
            ))
        }
    };
    Some((name.to_owned(), built.map_err(|e| e.to_string())))
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

/// Builds one source. A system of record's source shares its client (session, rate limit)
/// with the write-back target built from it: pass what was built for the target, if any.
fn build_source(
    s: &SourceConfig,
    company: &CompanyConfig,
    cx: &BuildContext,
    shared: &BTreeMap<String, Shared>,
) -> Result<BoxSource, ConnectorError> {
    if let Some(c) = shared.get(s.name()) {
        return Ok(c.source());
    }
    Ok(match s {
        SourceConfig::EinvoiceInbox(d) => Box::new(folder(d, FolderKind::Einvoices, company, cx)),
        SourceConfig::BankDir(d) => Box::new(folder(d, FolderKind::Bank, company, cx)),
        SourceConfig::Tryton(t) => Box::new(TrytonConnector::with_http(
            t.tryton.clone(),
            cx.http.clone(),
        )?),
        SourceConfig::Pennylane(p) => Box::new(pennylane(&p.pennylane, cx)?),
        SourceConfig::Odoo(o) => {
            Box::new(OdooConnector::with_http(o.odoo.clone(), cx.http.clone())?)
        }
        SourceConfig::Dolibarr(d) => Box::new(DolibarrConnector::with_http(
            d.dolibarr.clone(),
            cx.http.clone(),
        )?),
        SourceConfig::Pa(p) => Box::new(PaConnector::with_http(p.pa.clone(), cx.http.clone())?),
        SourceConfig::ChorusPro(c) => Box::new(ChorusProConnector::with_http(
            c.chorus_pro.clone(),
            cx.http.clone(),
        )?),
        // The rotating refresh token lives in the company's state directory.
        SourceConfig::Qonto(q) => Box::new(QontoConnector::with_http(
            q.qonto.clone(),
            cx.http.clone(),
            company_dir(&cx.state_dir, &company.id).join(qonto_token_file(&q.name)),
        )?),
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
        let mut shared: BTreeMap<String, Shared> = BTreeMap::new();
        let writeback = writeback_target(&company);
        if let Some((name, built)) = build_shared(&company, &cx) {
            let target = match built {
                Ok(c) => {
                    let t = c.target();
                    shared.insert(name, c);
                    Ok(t)
                }
                Err(e) => Err(e),
            };
            targets.push(TargetSlot {
                name: writeback.clone().unwrap_or_default(),
                target,
            });
        }
        // Each platform relance reports payments to is a target of its own.
        for s in &company.sources {
            if let SourceConfig::Pa(p) = s {
                if p.pa.report_payments {
                    targets.push(TargetSlot {
                        name: pa_target(&p.name),
                        target: PaConnector::with_http(p.pa.clone(), cx.http.clone())
                            .map(|c| Arc::new(c) as SharedWriteBack)
                            .map_err(|e| e.to_string()),
                    });
                }
            }
        }
        let sources = company
            .sources
            .iter()
            .map(|s| SourceSlot {
                name: s.name().to_owned(),
                kind: s.kind(),
                source: build_source(s, &company, &cx, &shared).map_err(|e| e.to_string()),
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
    // The sent-log lives in the company's state folder, which nothing may have made yet
    // (a company whose first effects are all e-mails).
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
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

/// Resolves secret references: the file a `*_file` value names, and a warning about it (a
/// file others can read), or why it cannot be used.
pub type SecretResolver<'a> =
    dyn FnMut(&str) -> Result<(PathBuf, Option<String>), crate::config::ErrorKind> + 'a;

/// The checks shared by the HTTP sources: the URL, secrets, ranges.
struct Checks<'a, 'r> {
    errors: Vec<(Vec<&'static str>, crate::config::ErrorKind)>,
    warnings: Vec<(Vec<&'static str>, String)>,
    resolve: &'a mut SecretResolver<'r>,
}

impl Checks<'_, '_> {
    fn url(&mut self, key: Vec<&'static str>, url: &str, what: &str) {
        use relance_connectors::http::{host_key, is_loopback};
        match host_key(url) {
            Err(_) => self.errors.push((
                key,
                crate::config::ErrorKind::BadUrl {
                    url: url.to_owned(),
                },
            )),
            Ok(_) if url.starts_with("http://") && !is_loopback(url) => self.warnings.push((
                key,
                format!("plain http to a remote host: the {what} travels unencrypted, use https"),
            )),
            Ok(_) => {}
        }
    }

    fn secret(&mut self, key: Vec<&'static str>, path: &mut PathBuf) {
        let raw = path.to_string_lossy().into_owned();
        match (self.resolve)(&raw) {
            Ok((p, warning)) => {
                *path = p;
                if let Some(w) = warning {
                    self.warnings.push((key, w));
                }
            }
            Err(e) => self.errors.push((key, e)),
        }
    }

    fn nonzero(&mut self, key: Vec<&'static str>, v: u64) {
        if v == 0 {
            self.errors.push((key, crate::config::ErrorKind::Zero));
        }
    }

    fn nonempty(&mut self, key: Vec<&'static str>, v: &str) {
        if v.trim().is_empty() {
            self.errors.push((key, crate::config::ErrorKind::Empty));
        }
    }

    fn range(&mut self, key: Vec<&'static str>, ok: bool, value: String, expected: &'static str) {
        if !ok {
            self.errors.push((
                key,
                crate::config::ErrorKind::OutOfRange { value, expected },
            ));
        }
    }
}

/// Per-type checks of a source and its resolution (paths under `state_dir`, secrets under the
/// configuration directory), without network access.
pub fn check_source(
    s: SourceConfig,
    state_dir: &Path,
    resolve_secret: &mut SecretResolver<'_>,
) -> SourceCheck {
    use crate::config::ErrorKind;
    let mut c = Checks {
        errors: Vec::new(),
        warnings: Vec::new(),
        resolve: resolve_secret,
    };
    let resolved = match s {
        SourceConfig::EinvoiceInbox(d) => {
            SourceConfig::EinvoiceInbox(check_dir(d, state_dir, &mut c.errors))
        }
        SourceConfig::BankDir(d) => SourceConfig::BankDir(check_dir(d, state_dir, &mut c.errors)),
        SourceConfig::Tryton(mut t) => {
            let k = |f: &'static str| vec!["tryton", f];
            c.url(k("url"), &t.tryton.url, "Tryton password");
            c.nonempty(k("database"), &t.tryton.database);
            c.nonempty(k("user"), &t.tryton.user);
            c.nonzero(k("page_size"), u64::from(t.tryton.page_size));
            c.nonzero(k("timeout_seconds"), t.tryton.timeout_seconds);
            c.secret(k("password_file"), &mut t.tryton.password_file);
            SourceConfig::Tryton(t)
        }
        SourceConfig::Pennylane(mut p) => {
            let k = |f: &'static str| vec!["pennylane", f];
            let cfg = &mut p.pennylane;
            c.url(k("url"), &cfg.url, "Pennylane token");
            c.range(
                k("page_size"),
                (1..=100).contains(&cfg.page_size),
                cfg.page_size.to_string(),
                "1 to 100 (Pennylane's list limit)",
            );
            if cfg.requests_per_window > 0 {
                c.nonzero(k("window_seconds"), cfg.window_seconds);
            }
            c.nonzero(k("timeout_seconds"), cfg.timeout_seconds);
            if let Some(id) = cfg.company_id {
                c.range(
                    k("company_id"),
                    id > 0,
                    id.to_string(),
                    "a Pennylane company id",
                );
            }
            c.secret(k("token_file"), &mut cfg.token_file);
            if let Some(w) = cfg.webhook_secret_file.as_mut() {
                c.secret(k("webhook_secret_file"), w);
            }
            SourceConfig::Pennylane(p)
        }
        SourceConfig::Odoo(mut o) => {
            use relance_connectors::systems::odoo::Api;
            let k = |f: &'static str| vec!["odoo", f];
            let cfg = &mut o.odoo;
            c.url(k("url"), &cfg.url, "Odoo API key");
            c.nonempty(k("database"), &cfg.database);
            if cfg.api != Api::Json2 && cfg.login.trim().is_empty() {
                // JSON-RPC authenticates with the login (api = "auto" may choose it)
                c.errors.push((k("login"), ErrorKind::Empty));
            }
            c.nonzero(k("page_size"), u64::from(cfg.page_size));
            c.nonzero(k("timeout_seconds"), cfg.timeout_seconds);
            if let Some(id) = cfg.company_id {
                c.range(
                    k("company_id"),
                    id > 0,
                    id.to_string(),
                    "an Odoo res.company id",
                );
            }
            c.secret(k("api_key_file"), &mut cfg.api_key_file);
            SourceConfig::Odoo(o)
        }
        SourceConfig::Dolibarr(mut d) => {
            let k = |f: &'static str| vec!["dolibarr", f];
            let cfg = &mut d.dolibarr;
            c.url(k("url"), &cfg.url, "Dolibarr API key");
            if relance_connectors::http::host_key(&cfg.url).is_ok()
                && !cfg.url.trim_end_matches('/').ends_with("/api/index.php")
            {
                c.warnings.push((
                    k("url"),
                    "Dolibarr's REST API usually lives under …/api/index.php".to_owned(),
                ));
            }
            if relance_core::Currency::parse(&cfg.currency).is_err() {
                c.errors.push((
                    k("currency"),
                    ErrorKind::OutOfRange {
                        value: cfg.currency.clone(),
                        expected: "an ISO 4217 code",
                    },
                ));
            }
            c.nonzero(k("page_size"), u64::from(cfg.page_size));
            c.nonzero(k("timeout_seconds"), cfg.timeout_seconds);
            c.range(
                k("server_utc_offset_minutes"),
                (-840..=840).contains(&cfg.server_utc_offset_minutes),
                cfg.server_utc_offset_minutes.to_string(),
                "minutes between -840 and 840",
            );
            c.secret(k("api_key_file"), &mut cfg.api_key_file);
            SourceConfig::Dolibarr(d)
        }
        SourceConfig::Pa(mut p) => {
            use relance_connectors::systems::pa::Profile;
            let k = |f: &'static str| vec!["pa", f];
            let cfg = &mut p.pa;
            c.url(k("url"), &cfg.url, "platform token");
            c.url(k("token_url"), &cfg.token_url, "platform client secret");
            c.nonempty(k("client_id"), &cfg.client_id);
            c.nonempty(k("platform"), &cfg.platform);
            c.range(
                k("page_size"),
                (1..=100).contains(&cfg.page_size),
                cfg.page_size.to_string(),
                "1 to 100 (the flow service's search limit)",
            );
            c.nonzero(k("timeout_seconds"), cfg.timeout_seconds);
            match (&cfg.profile, &cfg.superpdp_url) {
                (Profile::Superpdp, None) => c.errors.push((k("superpdp_url"), ErrorKind::Empty)),
                (Profile::Superpdp, Some(u)) => c.url(k("superpdp_url"), u, "platform token"),
                (Profile::Afnor, _) => {}
            }
            if let Some(siren) = &cfg.seller_siren {
                c.range(
                    k("seller_siren"),
                    relance_core::siren::Siren::parse(siren).is_ok(),
                    siren.clone(),
                    "a SIREN (9 digits, Luhn key)",
                );
            }
            c.secret(k("client_secret_file"), &mut cfg.client_secret_file);
            SourceConfig::Pa(p)
        }
        SourceConfig::ChorusPro(mut p) => {
            let k = |f: &'static str| vec!["chorus_pro", f];
            let cfg = &mut p.chorus_pro;
            c.url(k("url"), &cfg.url, "PISTE token");
            c.url(k("token_url"), &cfg.token_url, "PISTE client secret");
            c.nonempty(k("client_id"), &cfg.client_id);
            c.range(
                k("supplier_id"),
                cfg.supplier_id > 0,
                cfg.supplier_id.to_string(),
                "the supplier's Chorus Pro structure id",
            );
            c.range(
                k("public_payment_days"),
                (1..=60).contains(&cfg.public_payment_days),
                cfg.public_payment_days.to_string(),
                "1 to 60 days (CCP R2192-10, R2192-11: 30, 50 or 60)",
            );
            c.range(
                k("page_size"),
                (1..=500).contains(&cfg.page_size),
                cfg.page_size.to_string(),
                "1 to 500",
            );
            c.nonzero(k("timeout_seconds"), cfg.timeout_seconds);
            c.secret(k("client_secret_file"), &mut cfg.client_secret_file);
            c.secret(k("account_file"), &mut cfg.account_file);
            SourceConfig::ChorusPro(p)
        }
        SourceConfig::Qonto(mut q) => {
            let k = |f: &'static str| vec!["qonto", f];
            let cfg = &mut q.qonto;
            c.url(k("url"), &cfg.url, "Qonto access token");
            c.url(k("token_url"), &cfg.token_url, "Qonto refresh token");
            c.nonempty(k("client_id"), &cfg.client_id);
            c.range(
                k("page_size"),
                (1..=100).contains(&cfg.page_size),
                cfg.page_size.to_string(),
                "1 to 100 (Qonto's per_page limit)",
            );
            c.nonzero(k("timeout_seconds"), cfg.timeout_seconds);
            for iban in &cfg.ibans {
                let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
                let ok = compact.len() >= 15
                    && compact.len() <= 34
                    && compact.chars().all(|c| c.is_ascii_alphanumeric())
                    && compact
                        .get(..2)
                        .is_some_and(|p| p.chars().all(|c| c.is_ascii_alphabetic()));
                c.range(k("ibans"), ok, iban.clone(), "an IBAN");
            }
            c.secret(k("client_secret_file"), &mut cfg.client_secret_file);
            c.secret(k("refresh_token_file"), &mut cfg.refresh_token_file);
            if let Some(s) = cfg.staging_token_file.as_mut() {
                c.secret(k("staging_token_file"), s);
            }
            SourceConfig::Qonto(q)
        }
    };
    SourceCheck {
        resolved,
        errors: c.errors,
        warnings: c.warnings,
    }
}

/// What `check-config` says about the write-back table beyond the schema, with the company's
/// resolved sources: (key below `writeback`, problem) and warnings.
#[allow(clippy::type_complexity)]
pub fn check_writeback(
    w: &WritebackConfig,
    sources: &[SourceConfig],
) -> (
    Vec<(Vec<&'static str>, crate::config::ErrorKind)>,
    Vec<(Vec<&'static str>, String)>,
) {
    use crate::config::ErrorKind;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let Some((name, kind)) = writeback_source(w) else {
        return (errors, warnings);
    };
    let source = sources
        .iter()
        .find(|s| s.name() == name && s.kind() == kind);
    if source.is_none() {
        errors.push((
            vec!["source"],
            ErrorKind::WritebackSource {
                name: name.to_owned(),
                kind,
            },
        ));
    }
    match (w, source) {
        (WritebackConfig::Pennylane(p), Some(SourceConfig::Pennylane(s))) => {
            use relance_connectors::systems::pennylane::Matching;
            if p.pennylane.matching == Matching::Pennylane && s.pennylane.pull_transactions {
                warnings.push((
                    vec!["pennylane", "matching"],
                    format!(
                        "matching is left to Pennylane but source {name:?} pulls its transactions: once Pennylane matches one, relance still holds it as an unapplied receipt (set pull_transactions = false)"
                    ),
                ));
            }
        }
        (WritebackConfig::Odoo(o), _) => {
            if o.odoo.dispute_tag.is_some() && o.odoo.dispute_field.is_some() {
                errors.push((
                    vec!["odoo", "dispute_field"],
                    ErrorKind::Conflict("set dispute_tag or dispute_field, not both"),
                ));
            }
            if let Some(f) = &o.odoo.dispute_field {
                if !f.starts_with("x_") {
                    warnings.push((
                        vec!["odoo", "dispute_field"],
                        format!("{f:?} is not a custom field (x_…): relance writes it on every disputed invoice"),
                    ));
                }
            }
        }
        (WritebackConfig::Dolibarr(d), _) => {
            let o = &d.dolibarr;
            if o.bank_account_id.is_some() != o.payment_mode_id.is_some() {
                errors.push((
                    vec![
                        "dolibarr",
                        if o.bank_account_id.is_some() {
                            "payment_mode_id"
                        } else {
                            "bank_account_id"
                        },
                    ],
                    ErrorKind::Conflict(
                        "bank_account_id and payment_mode_id go together (payments are recorded with both)",
                    ),
                ));
            }
        }
        _ => {}
    }
    (errors, warnings)
}

/// What `check-config` says about the sources of issued invoices when a `pa` source is the
/// source of truth for them (`issued_invoices = true`): an error when two platforms claim it,
/// a warning for each other source that also reads issued invoices (an invoice both give is
/// the same document read twice: the last read wins). `(source index, key below it, problem)`.
#[allow(clippy::type_complexity)]
pub fn check_invoice_sources(
    sources: &[SourceConfig],
) -> (
    Vec<(usize, Vec<&'static str>, crate::config::ErrorKind)>,
    Vec<(usize, Vec<&'static str>, String)>,
) {
    use crate::config::ErrorKind;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let truth: Vec<(usize, &str)> = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            SourceConfig::Pa(p) if p.pa.issued_invoices => Some((i, s.name())),
            _ => None,
        })
        .collect();
    let Some(&(_, platform)) = truth.first() else {
        return (errors, warnings);
    };
    for (i, _) in truth.iter().skip(1) {
        errors.push((
            *i,
            vec!["pa", "issued_invoices"],
            ErrorKind::Conflict(
                "only one platform can be the source of truth for the company's issued invoices",
            ),
        ));
    }
    for (i, s) in sources.iter().enumerate() {
        let reads_invoices = matches!(
            s,
            SourceConfig::EinvoiceInbox(_)
                | SourceConfig::Tryton(_)
                | SourceConfig::Pennylane(_)
                | SourceConfig::Odoo(_)
                | SourceConfig::Dolibarr(_)
        );
        if reads_invoices {
            warnings.push((
                i,
                vec!["type"],
                format!(
                    "platform source {platform:?} is the source of truth for issued invoices (issued_invoices = true), and this {} source reads issued invoices too: an invoice both give is read twice and the last read wins",
                    s.kind()
                ),
            ));
        }
    }
    (errors, warnings)
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
        SourceConfig::Tryton(_)
        | SourceConfig::Pennylane(_)
        | SourceConfig::Odoo(_)
        | SourceConfig::Dolibarr(_)
        | SourceConfig::Pa(_)
        | SourceConfig::ChorusPro(_)
        | SourceConfig::Qonto(_) => None,
    }
}

/// The source a write-back target writes through and the source type it must have, if any.
pub fn writeback_source(w: &WritebackConfig) -> Option<(&str, &'static str)> {
    match w {
        WritebackConfig::None => None,
        WritebackConfig::Tryton(t) => Some((&t.source, "tryton")),
        WritebackConfig::Pennylane(p) => Some((&p.source, "pennylane")),
        WritebackConfig::Odoo(o) => Some((&o.source, "odoo")),
        WritebackConfig::Dolibarr(d) => Some((&d.source, "dolibarr")),
    }
}

/// Reads a `type`-tagged table (`sources[i]` or `writeback`) again as its variant's own struct,
/// for the exact key of a schema error inside it (see `config::load`).
pub fn reread_variant(table: &str, tag: &str, text: &str) -> Option<crate::config::load::DeError> {
    use crate::config::load::deserialize_str;
    use crate::config::schema::{
        ChorusProSource, DolibarrSource, DolibarrWriteback, OdooSource, OdooWriteback, PaSource,
        PennylaneSource, PennylaneWriteback, QontoSource, TrytonSource, TrytonWriteback,
    };
    match (table, tag) {
        ("sources", "einvoice_inbox" | "bank_dir") => deserialize_str::<DirSource>(text).err(),
        ("sources", "tryton") => deserialize_str::<TrytonSource>(text).err(),
        ("sources", "pennylane") => deserialize_str::<PennylaneSource>(text).err(),
        ("sources", "odoo") => deserialize_str::<OdooSource>(text).err(),
        ("sources", "dolibarr") => deserialize_str::<DolibarrSource>(text).err(),
        ("sources", "pa") => deserialize_str::<PaSource>(text).err(),
        ("sources", "chorus_pro") => deserialize_str::<ChorusProSource>(text).err(),
        ("sources", "qonto") => deserialize_str::<QontoSource>(text).err(),
        ("writeback", "tryton") => deserialize_str::<TrytonWriteback>(text).err(),
        ("writeback", "pennylane") => deserialize_str::<PennylaneWriteback>(text).err(),
        ("writeback", "odoo") => deserialize_str::<OdooWriteback>(text).err(),
        ("writeback", "dolibarr") => deserialize_str::<DolibarrWriteback>(text).err(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::schema::PaSource;
    use relance_connectors::systems::pa::PaConfig;

    fn pa(name: &str, issued: bool) -> SourceConfig {
        let mut cfg = PaConfig::new("https://pa.example", "https://pa.example/t", "c", "s");
        cfg.issued_invoices = issued;
        SourceConfig::Pa(Box::new(PaSource {
            name: name.into(),
            pa: cfg,
        }))
    }

    #[test]
    fn one_platform_is_the_source_of_issued_invoices_and_other_sources_are_named() {
        let inbox = SourceConfig::EinvoiceInbox(DirSource {
            name: "inbox".into(),
            path: "in".into(),
            settle_secs: 0,
        });
        let (errors, warnings) = check_invoice_sources(&[pa("a", false), inbox.clone()]);
        assert!(errors.is_empty() && warnings.is_empty());
        let (errors, warnings) =
            check_invoice_sources(&[pa("a", true), inbox, pa("b", true), pa("c", false)]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 2, "the second platform claiming it");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].0, 1, "the inbox");
        assert!(warnings[0].2.contains("\"a\""), "{:?}", warnings[0]);
    }
}
