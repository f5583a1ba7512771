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
use crate::decisions::{self, apply::ApplyContext, apply::ApplyOutcome, DecisionState};
use crate::ledger::{self, Ledger, AUDIT_DUNNING_ACTION};
use crate::outbox::{self, RetryPolicy};
use crate::registry::{BuildContext, Connectors};
use crate::store::{AuditEvent, Batch, OutboxEntry, SharedStore, Store};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::{DynSource, IdempotencyKey, Page, Record, WriteCommand};
use relance_connectors::formats::letter::{render_action, LetterError, RenderContext};
use relance_core::dunning::template::{SenderInfo, TemplateSet};
use relance_core::dunning::{Plan, PlanInput, RateTable, SentAction};
use relance_core::{CompanyId, Customer};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
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
    /// The configuration directory they came from: read again at each cycle, so a rate-table
    /// update dropped in `rates.d/` applies from the next cycle.
    pub config_dir: Option<PathBuf>,
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
    /// People's decisions this cycle applied or refused.
    pub decisions: Vec<decisions::state::Applied>,
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
            config_dir: config_dir.map(Path::to_owned),
        })
    }

    /// The rate table and templates for this cycle: the configuration directory's as they
    /// are now; when they no longer load (a bad file dropped in since), the error is logged
    /// and the ones loaded at start are used.
    fn assets(&self, company: &CompanyId) -> (Arc<RateTable>, Arc<TemplateSet>) {
        let Some(dir) = self.config_dir.as_deref() else {
            return (self.rates.clone(), self.templates.clone());
        };
        let rates = match crate::assets::load_rates(Some(dir)) {
            Ok(r) => Arc::new(r.table),
            Err(e) => {
                tracing::error!(company = %company, "rate table not reloaded, the one loaded at start is used:\n{e}");
                self.rates.clone()
            }
        };
        let templates = match crate::assets::load_templates(Some(dir)) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                tracing::error!(company = %company, "templates not reloaded, the ones loaded at start are used:\n{e}");
                self.templates.clone()
            }
        };
        (rates, templates)
    }

    /// Pulls every source of the company (each page committed with its cursor, then
    /// acknowledged): the first step of a cycle.
    pub async fn pull(&self, ctx: &CycleContext, conns: &mut Connectors) -> Vec<SourceReport> {
        let now = ctx.clock.now();
        let cid = &ctx.company.id;
        let mut out = Vec::new();
        conns.retry_broken();
        for slot in &mut conns.sources {
            let rep = match &mut slot.source {
                Ok(src) => {
                    pull_all(
                        &ctx.store,
                        cid,
                        &slot.name,
                        src.as_mut(),
                        now,
                        &ctx.shutdown,
                    )
                    .await
                }
                Err(e) => {
                    let mut rep = SourceReport {
                        connector: slot.name.clone(),
                        ..Default::default()
                    };
                    rep.error(cid, &slot.name, e.clone());
                    rep
                }
            };
            out.push(rep);
        }
        out
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
        for rep in self.pull(ctx, conns).await {
            summary.quarantined.extend(rep.quarantined.iter().cloned());
            summary.report.sources.push(rep);
        }

        // 2. People's decisions recorded since the last cycle: each applied (or refused) with
        //    its effects, audit event and inbox mark in one batch.
        let (ledger, state) = {
            let (s, c) = (store.clone(), cid.clone());
            blocking(move || Ok((Ledger::load(&s, &c)?, DecisionState::load(&s, &c)?))).await?
        };
        let writeback = conns.writeback.clone();
        let applied = {
            let (s, co, dir, wb) = (
                store.clone(),
                company.clone(),
                ctx.state_dir.clone(),
                writeback.clone(),
            );
            blocking(move || {
                let acx = ApplyContext {
                    company: &co,
                    state_dir: &dir,
                    now,
                    writeback: wb.as_deref(),
                };
                decisions::apply::apply_pending(&s, &acx, ledger, state)
            })
            .await?
        };
        let ApplyOutcome {
            batch,
            ledger,
            state,
            applied,
        } = applied;
        if !batch.is_empty() {
            summary.enqueued += batch.outbox_new.len();
            commit(store, &cid, batch).await?;
        }
        summary.decisions = applied;
        let state = Arc::new(state);

        // 3. Reconcile (off the async workers: the engine is CPU-bound), with what people
        //    confirmed and rejected.
        let ledger = Arc::new(ledger);
        let outcome = {
            let (l, policy, st) = (ledger.clone(), company.reconcile.clone(), state.clone());
            blocking(move || Ok(decisions::inputs::reconcile(&l, &policy, &st))).await?
        };
        let mut batch = Batch::default();
        for a in &outcome.allocations {
            batch.allocations.push(ledger::allocation_record(a, now));
            batch.audit.push(ledger::allocation_audit(a, now));
        }
        summary.report.matches = outcome.allocations.iter().filter(|a| a.auto).count() as u64;
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

        // 4. Dunning plan, recorded in the outbox with its audit before any delivery; the
        //    actions of the stages that wait for approval are recorded as requests only.
        let mut full = (*ledger).clone();
        full.allocations.extend(outcome.allocations.iter().cloned());

        // 3b. "212 Encaissée" to the e-invoicing platforms, for the receipts applied (the same
        //     keys at every cycle: the outbox keeps the first entry of each).
        let platforms = crate::registry::payment_platforms(company);
        if !platforms.is_empty() {
            let (s, c, f) = (store.clone(), cid.clone(), full.clone());
            let givers = crate::registry::invoice_platforms(company);
            let reports = blocking(move || {
                let statuses = crate::einvoicing::reported(&*s, &c)?;
                let given = if givers.is_empty() {
                    HashMap::new()
                } else {
                    let sources: Vec<&str> = givers.iter().map(String::as_str).collect();
                    crate::einvoicing::invoices_by_source(&*s, &c, &sources)?
                };
                Ok(crate::einvoicing::payment_reports(
                    &c, &f, &statuses, &platforms, &given,
                ))
            })
            .await?;
            let mut batch = Batch::default();
            for (target, key, cmd) in reports {
                batch
                    .outbox_new
                    .push(OutboxEntry::new(key, target, cmd, now));
            }
            if !batch.outbox_new.is_empty() {
                commit(store, &cid, batch).await?;
            }
        }
        let (rates, templates) = {
            let (this, c) = (self.clone(), cid.clone());
            blocking(move || Ok(this.assets(&c))).await?
        };
        let planned = {
            let (s, co, rates, f, st, suggestions) = (
                store.clone(),
                company.clone(),
                rates.clone(),
                full.clone(),
                state.clone(),
                outcome.suggestions.clone(),
            );
            blocking(move || plan_with_decisions(&s, &co, &rates, &f, &suggestions, &st, today))
                .await?
        };
        match planned {
            (customers, Ok(plan)) => {
                let (cx, plan2, wb, t) = (
                    ctx.clone(),
                    plan.clone(),
                    writeback.clone(),
                    templates.clone(),
                );
                let (batch, n) = blocking(move || {
                    Self::plan_batch(&cx, &t, &customers, &plan2, today, now, wb.as_deref())
                })
                .await?;
                commit(store, &cid, batch).await?;
                summary.enqueued += n;
                summary.report.actions = plan.actions.len() as u64;
                record_plan_metrics(ctx, &rates, &plan, today);
                for m in &plan.missing_rates {
                    tracing::warn!(
                        company = %cid,
                        invoices = m.invoices.len(),
                        held = m.held.len(),
                        "rate table lacks {}: update it (rates.d/*.toml, see `relance rates`)",
                        m.row
                    );
                }
                summary.plan = Some(plan);
            }
            (_, Err(e)) => {
                tracing::error!(company = %cid, "dunning not planned: {e}");
                summary.plan_error = Some(e.to_string());
            }
        }
        summary.outcome = outcome;

        // 5. Closings: a draft on the company's closing dates; booked closings posted.
        {
            let (s, co, dir, wb, st) = (
                store.clone(),
                company.clone(),
                ctx.state_dir.clone(),
                writeback.clone(),
                state.clone(),
            );
            let batch = blocking(move || {
                let acx = ApplyContext {
                    company: &co,
                    state_dir: &dir,
                    now,
                    writeback: wb.as_deref(),
                };
                // The plan's actions of today are after any closing date: the ledger as
                // reconciled is what the closing reads.
                decisions::closing::cycle_step(&s, &acx, &full, &st, today)
            })
            .await?;
            if !batch.is_empty() {
                commit(store, &cid, batch).await?;
            }
        }

        // 4. Deliver.
        summary.delivered = deliver_all(ctx, conns, now).await?;
        Ok(summary)
    }

    /// Turns a plan into outbox entries (with letters written beside the state) and the audit
    /// of each action, in one batch.
    fn plan_batch(
        ctx: &CycleContext,
        templates: &TemplateSet,
        customers: &[Customer],
        plan: &Plan,
        today: NaiveDate,
        now: DateTime<Utc>,
        writeback: Option<&str>,
    ) -> anyhow::Result<(Batch, usize)> {
        let company = &ctx.company;
        let core_company = company.company();
        let customers: HashMap<&str, &Customer> =
            customers.iter().map(|c| (c.id.as_str(), c)).collect();
        let sender = sender_info(company);
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
                today,
                deadline_days: company.dunning.mise_en_demeure_deadline_days,
            };
            let rendered = match render_action(action, templates, &cx) {
                Ok(r) => r,
                Err(LetterError::MissingAddress(why)) => {
                    // The plan holds registered letters without addresses; should one get
                    // here, it is not sent (nor recorded: planned again next cycle).
                    tracing::error!(company = %company.id, customer = %action.customer, "letter not made: {why}");
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("rendering the action for customer {}", action.customer)
                    })
                }
            };
            if let Some((name, pdf)) = &rendered.letter_pdf {
                store_letter(&ctx.state_dir, &company.id, name, pdf)?;
            }
            if company.dunning.needs_approval(action.stage) {
                // Planned and rendered, but nothing recorded in the outbox: a person approves
                // (the same commands, under the same keys, are made then), edits, reschedules
                // or cancels it.
                let entries = rendered
                    .commands
                    .iter()
                    .filter(|(_, cmd)| target_of(cmd, writeback).is_some())
                    .map(|(k, _)| k.as_str().to_owned())
                    .collect();
                let request = decisions::state::ApprovalRequest {
                    action: action.clone(),
                    text: decisions::state::LetterText {
                        subject: rendered.message.subject.clone(),
                        body: rendered.message.body.clone(),
                        template: rendered.message.template.clone(),
                    },
                    letter: rendered.letter_pdf.as_ref().map(|(n, _)| n.clone()),
                    entries,
                    requested_at: now,
                };
                batch.audit.push(AuditEvent {
                    at: now,
                    kind: decisions::AUDIT_APPROVAL_REQUESTED.to_owned(),
                    subject: action.key.clone(),
                    summary: format!(
                        "{} to {} waiting for approval: {}",
                        action.stage.name(),
                        action.customer,
                        rendered.message.subject
                    ),
                    explanation: serde_json::to_value(&request).unwrap_or_default(),
                });
            } else {
                for (key, cmd) in rendered.commands {
                    let Some(target) = target_of(&cmd, writeback) else {
                        continue;
                    };
                    batch
                        .outbox_new
                        .push(OutboxEntry::new(key, target, cmd, now));
                }
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

/// The customer as its letters address it: the postal and e-mail addresses the company's
/// configuration sets (`[[customers]]`) over the source's.
pub fn letter_customer(company: &CompanyConfig, mut customer: Customer) -> Customer {
    if let Some(a) = company.dunning.letters.customers.get(&customer.id) {
        customer.address = Some(a.clone());
    }
    if let Some(e) = company.dunning.letters.emails.get(&customer.id) {
        customer.emails = e.clone();
    }
    customer
}

/// What the company adds to every message: its address on one line, the signature.
pub fn sender_info(company: &CompanyConfig) -> SenderInfo {
    SenderInfo {
        address: company
            .dunning
            .letters
            .sender
            .as_ref()
            .map(|a| a.one_line())
            .unwrap_or_default(),
        payment_link: None,
        signature: format!("Le service comptabilité – {}", company.name),
        phone: None,
    }
}

/// Where a dunning command goes: an e-mail with recipients to the mail target, an e-mail
/// without any and a task to the tasks folder, anything else to the system of record
/// (`None` when the company has no write-back target: the effect is not made).
pub fn target_of(cmd: &WriteCommand, writeback: Option<&str>) -> Option<String> {
    match cmd {
        WriteCommand::SendEmail { to, .. } if !to.is_empty() => Some(TARGET_MAIL.to_owned()),
        WriteCommand::SendEmail { .. } | WriteCommand::CreateTask { .. } => {
            Some(TARGET_TASKS.to_owned())
        }
        _ => writeback.map(str::to_owned),
    }
}

/// Writes a letter's PDF under the company's `letters/` folder (replacing an earlier
/// rendering of the same letter).
pub fn store_letter(
    state_dir: &Path,
    company: &CompanyId,
    name: &str,
    pdf: &[u8],
) -> anyhow::Result<std::path::PathBuf> {
    let letters = company_dir(state_dir, company).join("letters");
    std::fs::create_dir_all(&letters).with_context(|| format!("creating {}", letters.display()))?;
    let p = letters.join(name);
    std::fs::write(&p, pdf).with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

/// The plan of `today` from the ledger (after this cycle's allocations) and the decisions:
/// the history without the actions people cancelled, the pauses people recorded and the holds
/// of the letters waiting for approval, the IBANs people taught for the gate; the actions
/// people cancelled are left out of the plan (their invoices listed as held, with why).
#[allow(clippy::type_complexity)]
pub fn plan_with_decisions<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    rates: &RateTable,
    ledger: &Ledger,
    suggestions: &[relance_core::reconcile::Suggestion],
    state: &DecisionState,
    today: NaiveDate,
) -> anyhow::Result<(
    Vec<Customer>,
    Result<Plan, relance_core::dunning::DunningError>,
)> {
    let history = decisions::inputs::history(store, &company.id, state)?;
    let pauses = decisions::inputs::pauses(store, &company.id, ledger, state, today)?;
    let mut taught = ledger.clone();
    taught.customers = decisions::inputs::learnt_customers(ledger, state);
    let mut input = plan_input(company, rates, &taught, suggestions, history, pauses);
    let statuses = crate::einvoicing::reported(store, &company.id)?;
    let (codes, lifecycle_pauses) = crate::einvoicing::dunning_inputs(&taught, &statuses, today);
    input.lifecycle_status = codes;
    input.pauses.extend(lifecycle_pauses);
    let plan = relance_core::dunning::plan(&input, today).map(|mut p| {
        decisions::inputs::filter_plan(&mut p, state);
        p
    });
    Ok((input.customers, plan))
}

/// The dunning engine's input from the ledger (after this cycle's allocations): customers
/// with the addresses the company's configuration sets over the sources', the company's
/// address as sender, and the probable payments reconciliation left (its proposals, the
/// unapplied receipts that may pay an invoice, whoever the payer).
pub fn plan_input(
    company: &CompanyConfig,
    rates: &RateTable,
    ledger: &Ledger,
    suggestions: &[relance_core::reconcile::Suggestion],
    history: Vec<SentAction>,
    pauses: Vec<relance_core::dunning::Pause>,
) -> PlanInput {
    let mut input = PlanInput::new(company.id.clone(), company.dunning.clone(), rates.clone());
    input.customers = ledger
        .customers
        .iter()
        .cloned()
        .map(|c| letter_customer(company, c))
        .collect();
    input.sender_address = company.dunning.letters.sender.clone();
    input.payment_holds = relance_core::dunning::probable::holds_from_reconciliation(
        &ledger.invoices,
        &input.customers,
        &ledger.receipts,
        &ledger.allocations,
        suggestions,
        &relance_core::dunning::probable::FinderPolicy::from(&company.reconcile),
    );
    input.invoices = ledger.invoices.clone();
    input.open_amounts = ledger::open_amounts(ledger, &[]).into_iter().collect();
    input.unapplied_credits = ledger::unapplied_by_customer(ledger, &[]);
    input.bank_data_as_of = ledger.bank_data_as_of();
    input.payments = ledger::payments_by_invoice(ledger, &[]);
    input.history = history;
    input.pauses = pauses;
    input
}

/// The plan's gauges, per company: rate-table rows missing as of `today`, invoices whose
/// penalty they left uncomputed, invoices held.
fn record_plan_metrics(ctx: &CycleContext, rates: &RateTable, plan: &Plan, today: NaiveDate) {
    let company = ctx.company.id.as_str();
    ctx.metrics.set(
        crate::metrics::MISSING_RATE_ROWS,
        &[("company", company)],
        rates.missing_as_of(today).len() as f64,
    );
    ctx.metrics.set(
        crate::metrics::MISSING_RATE_INVOICES,
        &[("company", company)],
        plan.missing_rates
            .iter()
            .map(|m| m.invoices.len())
            .sum::<usize>() as f64,
    );
    ctx.metrics.set(
        crate::metrics::DUNNING_HELD,
        &[("company", company)],
        plan.held.len() as f64,
    );
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
