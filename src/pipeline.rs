//! One company's cycle: pull every source into the store (each page committed with its
//! cursor), reconcile, plan the dunning, record every remote effect in the outbox, deliver.
//!
//! The daemon runs [`Pipeline`] every poll interval; `relance sync --once` and `relance demo`
//! run it once. Everything a cycle decides is committed before anything is sent.

use crate::daemon::{CycleContext, CycleReport, CycleRunner, SourceReport};
use crate::ledger::{self, Ledger, AUDIT_DUNNING_ACTION};
use crate::outbox::{self, RetryPolicy};
use crate::store::{AuditEvent, Batch, OutboxEntry, SeenFile, SharedStore, Store};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::{IdempotencyKey, Page, Record, Source, WriteCommand};
use relance_connectors::formats::letter::{render_action, RenderContext};
use relance_connectors::systems::local::DirWriteBack;
use relance_connectors::systems::tryton::TrytonConnector;
use relance_core::dunning::template::{SenderInfo, TemplateSet};
use relance_core::dunning::{Plan, PlanInput, RateTable, SentAction};
use relance_core::{CompanyId, Customer};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

use crate::config::schema::{SourceConfig, WritebackConfig};
use crate::config::CompanyConfig;

/// Target name of the tasks folder (calls to make, registered letters to post).
pub const TARGET_TASKS: &str = "tasks";
/// Target name of outgoing mail (SMTP when `[mail]` is set, else the outgoing-mail folder).
pub const TARGET_MAIL: &str = "mail";

/// The cycle the daemon runs for each company.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// Dated rate tables for penalties.
    pub rates: Arc<RateTable>,
    /// Reminder templates.
    pub templates: Arc<TemplateSet>,
}

impl CycleRunner for Pipeline {
    fn run_cycle(
        &self,
        ctx: CycleContext,
    ) -> impl std::future::Future<Output = anyhow::Result<CycleReport>> + Send {
        let this = self.clone();
        async move { this.cycle(&ctx).await.map(|s| s.report) }
    }
}

/// Everything one cycle did, for the demo's and `sync --once`'s summaries.
#[derive(Clone, Debug, Default)]
pub struct CycleSummary {
    /// Counts for logs and metrics.
    pub report: CycleReport,
    /// The reconciliation outcome of this cycle.
    pub outcome: relance_core::reconcile::Outcome,
    /// The dunning plan of this cycle (actions already planned before are not repeated).
    pub plan: Option<Plan>,
    /// Why no plan was made, when none was (missing rate, stale bank data...).
    pub plan_error: Option<String>,
    /// Outbox entries recorded by this cycle.
    pub enqueued: usize,
    /// Delivery results per target.
    pub delivered: Vec<(String, outbox::DeliveryReport)>,
    /// Files quarantined by this cycle, with their reason.
    pub quarantined: Vec<(String, String)>,
}

/// Where a company's files live under the state directory.
pub fn company_dir(state_dir: &Path, company: &CompanyId) -> PathBuf {
    state_dir.join("companies").join(company.as_str())
}

/// The store batch of one pulled page (records, receipts keyed for deduplication,
/// quarantined files, and the page's cursor), committed at once.
pub fn page_batch(source: &str, page: &Page, now: DateTime<Utc>) -> Batch {
    let mut b = Batch::default();
    b.add_page(source, page, now);
    b
}

async fn commit(store: &SharedStore, company: &CompanyId, batch: Batch) -> anyhow::Result<()> {
    let s = store.clone();
    let c = company.clone();
    tokio::task::spawn_blocking(move || s.commit(&c, batch))
        .await
        .context("store task")??;
    Ok(())
}

/// Pulls every page of `src` after the committed cursor, committing each page with its
/// cursor, until the source has no more or shutdown is asked.
pub async fn pull_all<S: Source>(
    store: &SharedStore,
    company: &CompanyId,
    name: &str,
    src: &mut S,
    now: DateTime<Utc>,
    shutdown: &watch::Receiver<bool>,
    quarantined: &mut Vec<(String, String)>,
) -> SourceReport {
    let mut rep = SourceReport {
        connector: name.to_owned(),
        ..Default::default()
    };
    // A bound on pages per cycle, so one huge backlog cannot starve delivery: the rest comes
    // at the next cycle, from the committed cursor.
    for _ in 0..10_000 {
        let cursor = match store.cursor(company, name) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(company = %company, source = name, "reading cursor: {e}");
                rep.errors += 1;
                break;
            }
        };
        let page = match src.pull(cursor.as_ref()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(company = %company, source = name, "pull failed: {e}");
                rep.errors += 1;
                break;
            }
        };
        rep.pulls += 1;
        for r in &page.records {
            match r {
                Record::Quarantined { file, reason } => {
                    tracing::warn!(company = %company, source = name, file, "quarantined: {reason}");
                    quarantined.push((file.clone(), reason.clone()));
                }
                _ => rep.documents += 1,
            }
        }
        let has_more = page.has_more;
        let batch = page_batch(name, &page, now);
        if let Err(e) = commit(store, company, batch).await {
            tracing::error!(company = %company, source = name, "commit failed: {e:#}");
            rep.errors += 1;
            break;
        }
        if !has_more || *shutdown.borrow() {
            break;
        }
    }
    rep
}

impl Pipeline {
    /// A pipeline with the rate tables and templates of `config_dir` (or the built-in ones).
    pub fn load(config_dir: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Self {
            rates: Arc::new(crate::assets::rates(config_dir)?),
            templates: Arc::new(crate::assets::templates(config_dir)?),
        })
    }

    /// Runs one cycle for the company of `ctx`.
    pub async fn cycle(&self, ctx: &CycleContext) -> anyhow::Result<CycleSummary> {
        let now = ctx.clock.now();
        let today = ctx.clock.today();
        let company = &ctx.company;
        let cid = company.id.clone();
        let store = &ctx.store;
        let mut summary = CycleSummary::default();

        // 1. Pull.
        for src in &company.sources {
            let name = src.name().to_owned();
            let rep = match src {
                SourceConfig::Tryton(t) => {
                    if let Some(host) = host_of(&t.tryton.url) {
                        ctx.limiters.acquire(&host).await;
                    }
                    match TrytonConnector::new(t.tryton.clone()) {
                        Ok(mut c) => {
                            pull_all(
                                store,
                                &cid,
                                &name,
                                &mut c,
                                now,
                                &ctx.shutdown,
                                &mut summary.quarantined,
                            )
                            .await
                        }
                        Err(e) => {
                            tracing::error!(company = %cid, source = %name, "{e}");
                            SourceReport {
                                connector: name.clone(),
                                errors: 1,
                                ..Default::default()
                            }
                        }
                    }
                }
                SourceConfig::EinvoiceInbox(d) | SourceConfig::BankDir(d) => {
                    let dir = resolve_dir(&ctx.state_dir, &d.path);
                    crate::inbox_source::pull_dir(
                        store,
                        &cid,
                        &name,
                        matches!(src, SourceConfig::BankDir(_)),
                        &dir,
                        now,
                        &mut summary.quarantined,
                    )
                    .await
                }
            };
            summary.report.sources.push(rep);
        }

        // 2. Reconcile.
        let ledger = {
            let s = store.clone();
            let c = cid.clone();
            tokio::task::spawn_blocking(move || Ledger::load(&s, &c))
                .await
                .context("store task")??
        };
        let outcome = ledger.reconcile(&company.reconcile);
        let mut batch = Batch::default();
        for a in &outcome.allocations {
            batch.allocations.push(ledger::allocation_record(a, now));
            batch.audit.push(ledger::allocation_audit(a, now));
        }
        summary.report.matches = outcome.allocations.iter().filter(|a| a.auto).count() as u64;
        let writeback = writeback_target(company);
        if let Some(target) = &writeback {
            for (key, cmd) in reconcile_commands(&cid, &ledger, &outcome) {
                batch
                    .outbox_new
                    .push(OutboxEntry::new(key, target.clone(), cmd, now));
            }
        }
        let enq_reconcile = batch.outbox_new.len();
        commit(store, &cid, batch).await?;
        summary.enqueued += enq_reconcile;

        // 3. Dunning plan, recorded in the outbox with its audit before any delivery.
        let history = {
            let s = store.clone();
            let c = cid.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                Ok((ledger::dunning_history(&s, &c)?, ledger::pauses(&s, &c)?))
            })
            .await
            .context("store task")??
        };
        let mut full = ledger.clone();
        full.allocations.extend(outcome.allocations.iter().cloned());
        let input = plan_input(company, &self.rates, &full, history.0, history.1);
        match relance_core::dunning::plan(&input, today) {
            Ok(plan) => {
                let (batch, n) =
                    self.plan_batch(ctx, &full, &plan, today, now, writeback.as_deref())?;
                commit(store, &cid, batch).await?;
                summary.enqueued += n;
                summary.report.actions = plan.actions.len() as u64;
                summary.plan = Some(plan);
            }
            Err(e) => {
                tracing::error!(company = %cid, "dunning not planned: {e}");
                summary.plan_error = Some(e.to_string());
            }
        }
        summary.outcome = outcome;

        // 4. Deliver.
        summary.delivered = deliver_all(ctx, now).await?;
        Ok(summary)
    }

    /// Turns a plan into outbox entries (with letters written beside the state) and the audit
    /// of each action, in one batch.
    fn plan_batch(
        &self,
        ctx: &CycleContext,
        ledger: &Ledger,
        plan: &Plan,
        today: NaiveDate,
        now: DateTime<Utc>,
        writeback: Option<&str>,
    ) -> anyhow::Result<(Batch, usize)> {
        let company = &ctx.company;
        let core_company = company.company();
        let customers: HashMap<&str, &Customer> = ledger
            .customers
            .iter()
            .map(|c| (c.id.as_str(), c))
            .collect();
        let sender = SenderInfo {
            address: String::new(),
            payment_link: None,
            signature: format!("Le service comptabilité – {}", company.name),
            phone: None,
        };
        let letters = company_dir(&ctx.state_dir, &company.id).join("letters");
        let mut batch = Batch::default();
        for action in &plan.actions {
            let fallback;
            let customer = match customers.get(action.customer.as_str()) {
                Some(c) => *c,
                None => {
                    fallback = Customer::new(action.customer.clone(), action.customer.as_str());
                    &fallback
                }
            };
            let cx = RenderContext {
                company: &core_company,
                sender: &sender,
                customer,
                customer_address: &[],
                place: "Paris",
                today,
                deadline_days: company.dunning.mise_en_demeure_deadline_days,
            };
            let rendered = render_action(action, &self.templates, &cx).with_context(|| {
                format!("rendering the action for customer {}", action.customer)
            })?;
            if let Some((name, pdf)) = &rendered.letter_pdf {
                std::fs::create_dir_all(&letters)
                    .with_context(|| format!("creating {}", letters.display()))?;
                let p = letters.join(name);
                std::fs::write(&p, pdf).with_context(|| format!("writing {}", p.display()))?;
            }
            for (key, cmd) in rendered.commands {
                let target = match &cmd {
                    WriteCommand::SendEmail { to, .. } if !to.is_empty() => TARGET_MAIL.to_owned(),
                    WriteCommand::SendEmail { .. } | WriteCommand::CreateTask { .. } => {
                        TARGET_TASKS.to_owned()
                    }
                    _ => match writeback {
                        Some(w) => w.to_owned(),
                        None => continue,
                    },
                };
                batch
                    .outbox_new
                    .push(OutboxEntry::new(key, target, cmd, now));
            }
            let sent = SentAction {
                customer: action.customer.clone(),
                stage: action.stage,
                step: action.step,
                invoices: action.invoices.iter().map(|i| i.invoice.clone()).collect(),
                date: action.scheduled_for,
            };
            batch.audit.push(AuditEvent {
                at: now,
                kind: AUDIT_DUNNING_ACTION.to_owned(),
                subject: action.key.clone(),
                summary: format!(
                    "{:?} to {} ({} invoices, {} due): {}",
                    action.stage,
                    action.customer,
                    action.invoices.len(),
                    action.total_due,
                    action.reason
                ),
                explanation: serde_json::to_value(&sent).unwrap_or_default(),
            });
        }
        let n = batch.outbox_new.len();
        Ok((batch, n))
    }
}

/// The dunning engine's input from the ledger (after this cycle's allocations).
pub fn plan_input(
    company: &CompanyConfig,
    rates: &RateTable,
    ledger: &Ledger,
    history: Vec<SentAction>,
    pauses: Vec<relance_core::dunning::Pause>,
) -> PlanInput {
    let mut input = PlanInput::new(company.id.clone(), company.dunning.clone(), rates.clone());
    input.customers = ledger.customers.clone();
    input.invoices = ledger.invoices.clone();
    input.open_amounts = ledger::open_amounts(ledger, &[]).into_iter().collect();
    input.unapplied_credits = ledger::unapplied_by_customer(ledger, &[]);
    input.bank_data_as_of = ledger.bank_data_as_of();
    input.payments = ledger::payments_by_invoice(ledger, &[]);
    input.history = history;
    input.pauses = pauses;
    input
}

/// Write-back commands reconciling each receipt's automatic allocations in the source.
pub fn reconcile_commands(
    company: &CompanyId,
    ledger: &Ledger,
    outcome: &relance_core::reconcile::Outcome,
) -> Vec<(IdempotencyKey, WriteCommand)> {
    let dates: HashMap<&str, NaiveDate> = ledger
        .receipts
        .iter()
        .map(|r| (r.id.as_str(), r.booking_date))
        .collect();
    let mut by_tx: BTreeMap<&str, Vec<(String, Decimal)>> = BTreeMap::new();
    for a in outcome.allocations.iter().filter(|a| a.auto) {
        by_tx
            .entry(a.transaction.as_str())
            .or_default()
            .push((a.invoice.as_str().to_owned(), a.amount));
    }
    let mut out = Vec::new();
    for (tx, mut allocs) in by_tx {
        let Some(date) = dates.get(tx) else { continue };
        allocs.sort();
        let parts: Vec<String> = std::iter::once(tx.to_owned())
            .chain(allocs.iter().map(|(i, a)| format!("{i}={a}")))
            .collect();
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        out.push((
            IdempotencyKey::derive(company.as_str(), "reconcile", &refs),
            WriteCommand::Reconcile {
                transaction: tx.to_owned(),
                allocations: allocs,
                date: *date,
            },
        ));
    }
    out
}

fn writeback_target(company: &CompanyConfig) -> Option<String> {
    match &company.writeback {
        WritebackConfig::None => None,
        WritebackConfig::Tryton(t) => Some(format!("tryton:{}", t.source)),
    }
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split("://").nth(1)?;
    Some(rest.split('/').next()?.to_owned())
}

fn resolve_dir(state_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        state_dir.join(p)
    }
}

/// Delivers the company's pending outbox entries to every target it uses.
pub async fn deliver_all(
    ctx: &CycleContext,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, outbox::DeliveryReport)>> {
    let company = &ctx.company;
    let cid = &company.id;
    let store = &ctx.store;
    let policy = RetryPolicy::default();
    let dir = company_dir(&ctx.state_dir, cid);
    let mut out = Vec::new();

    let tasks = DirWriteBack::new(dir.join("tasks"));
    out.push((
        TARGET_TASKS.to_owned(),
        outbox::deliver_pending(
            store,
            cid,
            TARGET_TASKS,
            &tasks,
            now,
            &policy,
            &ctx.shutdown,
        )
        .await?,
    ));

    match &company.mail {
        Some(mail) => {
            let password = match &mail.password_file {
                Some(p) => Some(crate::config::secrets::read(p)?),
                None => None,
            };
            let mailer = relance_connectors::systems::smtp::SmtpMailer::new(
                &mail.smtp,
                password.as_ref().map(|s| s.expose()),
                dir.join("mail-sent.log"),
            )?;
            out.push((
                TARGET_MAIL.to_owned(),
                outbox::deliver_pending(
                    store,
                    cid,
                    TARGET_MAIL,
                    &mailer,
                    now,
                    &policy,
                    &ctx.shutdown,
                )
                .await?,
            ));
        }
        None => {
            let folder = DirWriteBack::new(dir.join("outgoing-mail"));
            out.push((
                TARGET_MAIL.to_owned(),
                outbox::deliver_pending(
                    store,
                    cid,
                    TARGET_MAIL,
                    &folder,
                    now,
                    &policy,
                    &ctx.shutdown,
                )
                .await?,
            ));
        }
    }

    if let WritebackConfig::Tryton(w) = &company.writeback {
        let target = format!("tryton:{}", w.source);
        let cfg = company.sources.iter().find_map(|s| match s {
            SourceConfig::Tryton(t) if t.name == w.source => Some(t.tryton.clone()),
            _ => None,
        });
        if let Some(cfg) = cfg {
            if let Some(host) = host_of(&cfg.url) {
                ctx.limiters.acquire(&host).await;
            }
            let conn = TrytonConnector::new(cfg)?;
            out.push((
                target.clone(),
                outbox::deliver_pending(store, cid, &target, &conn, now, &policy, &ctx.shutdown)
                    .await?,
            ));
        }
    }
    Ok(out)
}

/// Marks `files` as imported (used by the folder sources).
pub fn seen(hash: &str, name: &str, source: &str, now: DateTime<Utc>) -> SeenFile {
    SeenFile {
        hash: hash.to_owned(),
        name: name.to_owned(),
        source: source.to_owned(),
        seen_at: now,
    }
}
