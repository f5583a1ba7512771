//! One company's cycle: pull every source into the store (each page committed with its
//! cursor, then acknowledged), reconcile, plan the dunning, record every remote effect in the
//! outbox, deliver.
//!
//! The daemon runs [`Pipeline`] every poll interval; `relance sync --once` and `relance demo`
//! run it once. Everything a cycle decides is committed before anything is sent. The cycle
//! knows no connector type: it loops over the [`Connectors`] the registry built for the
//! company's configuration generation. Engines (reconciliation, dunning plan) and store reads
//! run on the blocking pool, never on the async workers.

use crate::daemon::{CycleContext, CycleReport, CycleRunner, SourceReport};
use crate::ledger::{self, Ledger, AUDIT_DUNNING_ACTION};
use crate::outbox::{self, RetryPolicy};
use crate::registry::{BuildContext, Connectors};
use crate::store::{AuditEvent, Batch, OutboxEntry, SharedStore, Store};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::{DynSource, IdempotencyKey, Page, Record, WriteCommand};
use relance_connectors::formats::letter::{render_action, RenderContext};
use relance_core::dunning::template::{SenderInfo, TemplateSet};
use relance_core::dunning::{Plan, PlanInput, RateTable, SentAction};
use relance_core::{CompanyId, Customer};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

use crate::config::CompanyConfig;
pub use crate::registry::{company_dir, TARGET_MAIL, TARGET_TASKS};

/// The cycle the daemon runs for each company.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// Dated rate tables for penalties.
    pub rates: Arc<RateTable>,
    /// Reminder templates.
    pub templates: Arc<TemplateSet>,
}

impl CycleRunner for Pipeline {
    type State = Connectors;

    fn prepare(&self, ctx: &CycleContext) -> Connectors {
        Connectors::build(ctx.company.clone(), build_context(ctx))
    }

    async fn run_cycle(
        &self,
        ctx: CycleContext,
        conns: &mut Connectors,
    ) -> anyhow::Result<CycleReport> {
        self.cycle(&ctx, conns).await.map(|s| CycleReport {
            enqueued: s.enqueued as u64,
            plan_error: s.plan_error,
            ..s.report
        })
    }
}

/// What the registry needs from a cycle's context.
pub fn build_context(ctx: &CycleContext) -> BuildContext {
    BuildContext {
        state_dir: ctx.state_dir.clone(),
        store: Some(ctx.store.clone()),
        http: ctx.http.clone(),
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

/// The store batch of one pulled page (records, receipts keyed for deduplication,
/// quarantined files, imported files and the page's cursor), committed at once.
pub fn page_batch(source: &str, page: &Page, now: DateTime<Utc>) -> Batch {
    let mut b = Batch::default();
    b.add_page(source, page, now);
    b
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("blocking task")?
}

async fn commit(store: &SharedStore, company: &CompanyId, batch: Batch) -> anyhow::Result<()> {
    let s = store.clone();
    let c = company.clone();
    blocking(move || Ok(s.commit(&c, batch)?)).await?;
    Ok(())
}

/// Pulls every page of `src` after the committed cursor, committing each page with its
/// cursor and acknowledging it after the commit, until the source has no more or shutdown is
/// asked.
pub async fn pull_all(
    store: &SharedStore,
    company: &CompanyId,
    name: &str,
    src: &mut dyn DynSource,
    now: DateTime<Utc>,
    shutdown: &watch::Receiver<bool>,
) -> SourceReport {
    let mut rep = SourceReport {
        connector: name.to_owned(),
        ..Default::default()
    };
    // A bound on pages per cycle, so one huge backlog cannot starve delivery: the rest comes
    // at the next cycle, from the committed cursor.
    for _ in 0..10_000 {
        let cursor = {
            let (s, c, n) = (store.clone(), company.clone(), name.to_owned());
            match blocking(move || Ok(s.cursor(&c, &n)?)).await {
                Ok(c) => c,
                Err(e) => {
                    rep.error(company, name, format!("reading the cursor: {e:#}"));
                    break;
                }
            }
        };
        let page = match src.pull(cursor.as_ref()).await {
            Ok(p) => p,
            Err(e) => {
                rep.error(company, name, format!("pull failed: {e}"));
                break;
            }
        };
        rep.pulls += 1;
        for s in &page.skipped {
            if let Some(why) = s.reason.strip_prefix("error: ") {
                rep.error(company, name, format!("{}: {why}", s.entry));
            } else {
                tracing::warn!(company = %company, source = name, entry = %s.entry, "skipped: {}", s.reason);
                rep.skipped.push((s.entry.clone(), s.reason.clone()));
            }
        }
        let mut documents = 0;
        let mut quarantined = Vec::new();
        for r in &page.records {
            match r {
                Record::Quarantined { file, reason } => {
                    quarantined.push((file.clone(), reason.clone()));
                }
                _ => documents += 1,
            }
        }
        let has_more = page.has_more;
        let batch = page_batch(name, &page, now);
        if let Err(e) = commit(store, company, batch).await {
            rep.error(company, name, format!("commit failed: {e:#}"));
            break;
        }
        rep.documents += documents;
        rep.files += page.imported.len() as u64;
        for (file, reason) in quarantined {
            tracing::warn!(company = %company, source = name, file, "quarantined: {reason}");
            rep.quarantined.push((file, reason));
        }
        if !page.acks.is_empty() {
            if let Err(e) = src.ack(page.acks).await {
                rep.error(company, name, e.to_string());
            }
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

    /// Runs one cycle for the company of `ctx` with its connectors.
    pub async fn cycle(
        &self,
        ctx: &CycleContext,
        conns: &mut Connectors,
    ) -> anyhow::Result<CycleSummary> {
        let now = ctx.clock.now();
        let today = ctx.clock.today();
        let company = &ctx.company;
        let cid = company.id.clone();
        let store = &ctx.store;
        let mut summary = CycleSummary::default();

        // 1. Pull, every source, whatever its type.
        conns.retry_broken();
        for slot in &mut conns.sources {
            let rep = match &mut slot.source {
                Ok(src) => {
                    pull_all(store, &cid, &slot.name, src.as_mut(), now, &ctx.shutdown).await
                }
                Err(e) => {
                    let mut rep = SourceReport {
                        connector: slot.name.clone(),
                        ..Default::default()
                    };
                    rep.error(&cid, &slot.name, e.clone());
                    rep
                }
            };
            summary.quarantined.extend(rep.quarantined.iter().cloned());
            summary.report.sources.push(rep);
        }

        // 2. Reconcile (off the async workers: the engine is CPU-bound).
        let ledger = {
            let (s, c) = (store.clone(), cid.clone());
            Arc::new(blocking(move || Ok(Ledger::load(&s, &c)?)).await?)
        };
        let outcome = {
            let (l, policy) = (ledger.clone(), company.reconcile.clone());
            blocking(move || Ok(l.reconcile(&policy))).await?
        };
        let mut batch = Batch::default();
        for a in &outcome.allocations {
            batch.allocations.push(ledger::allocation_record(a, now));
            batch.audit.push(ledger::allocation_audit(a, now));
        }
        summary.report.matches = outcome.allocations.iter().filter(|a| a.auto).count() as u64;
        let writeback = conns.writeback.clone();
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
            let (s, c) = (store.clone(), cid.clone());
            blocking(move || Ok((ledger::dunning_history(&s, &c)?, ledger::pauses(&s, &c)?)))
                .await?
        };
        let mut full = (*ledger).clone();
        full.allocations.extend(outcome.allocations.iter().cloned());
        let input = plan_input(company, &self.rates, &full, history.0, history.1);
        let planned = blocking(move || Ok(relance_core::dunning::plan(&input, today))).await?;
        match planned {
            Ok(plan) => {
                let (this, cx, plan2, wb) =
                    (self.clone(), ctx.clone(), plan.clone(), writeback.clone());
                let (batch, n) = blocking(move || {
                    this.plan_batch(&cx, &full, &plan2, today, now, wb.as_deref())
                })
                .await?;
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
        summary.delivered = deliver_all(ctx, conns, now).await?;
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
        out.push((
            relance_connectors::keys::reconcile(company, tx, &allocs),
            WriteCommand::Reconcile {
                transaction: tx.to_owned(),
                allocations: allocs,
                date: *date,
            },
        ));
    }
    out
}

/// Delivers the company's pending outbox entries to every target it has, one target after
/// the other (one delivery per company and target at a time). A target that could not be
/// built is skipped with its error logged; its entries wait.
pub async fn deliver_all(
    ctx: &CycleContext,
    conns: &Connectors,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, outbox::DeliveryReport)>> {
    let cid = &ctx.company.id;
    let policy = RetryPolicy::default();
    let mut out = Vec::new();
    for slot in &conns.targets {
        match &slot.target {
            Ok(target) => out.push((
                slot.name.clone(),
                outbox::deliver_pending(
                    &ctx.store,
                    cid,
                    &slot.name,
                    target,
                    now,
                    &policy,
                    &ctx.shutdown,
                )
                .await?,
            )),
            Err(e) => {
                tracing::error!(company = %cid, target = %slot.name, "write-back target not available, its entries wait: {e}");
            }
        }
    }
    Ok(out)
}
