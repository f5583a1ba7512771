//! The commands that run the pipeline: `demo`, `sync --once`, `dunning plan`, `provision`.

use crate::clock::Clock;
use crate::config::{self, CompanyConfig, Config};
use crate::daemon::{CycleContext, RateLimiters};
use crate::ledger::{self, Ledger, AUDIT_CREDIT_EVENT, AUDIT_PAUSE, AUDIT_PROVISION_STATE};
use crate::metrics::Metrics;
use crate::pipeline::{self, CycleSummary, Pipeline};
use crate::store::{AuditEvent, Batch, OutboxEntry, SledStore, Store};
use anyhow::{bail, Context as _};
use chrono::NaiveDate;
use relance_connectors::contract::IdempotencyKey;
use relance_connectors::formats::fec;
use relance_core::aging::{AgedBalance, AgingItem};
use relance_core::{InvoiceKind, Money};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The demo's fixed date: the half-year closing of the bundled company.
pub const DEMO_DATE: (i32, u32, u32) = (2026, 6, 30);

macro_rules! demo_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../config/demo/", $path)) as &[u8]),)*]
    };
}

/// The bundled demo company, built into the binary so `relance demo` works anywhere.
const DEMO_FILES: &[(&str, &[u8])] = demo_files![
    "relance.toml",
    "companies.d/demo.toml",
    "events.json",
    "invoices/AV-2026-0007.xml",
    "invoices/FA-2026-0101.xml",
    "invoices/FA-2026-0102.xml",
    "invoices/FA-2026-0103.ubl.xml",
    "invoices/FA-2026-0104.ubl.xml",
    "invoices/FA-2026-0105.xml",
    "invoices/FA-2026-0106.xml",
    "invoices/FA-2026-0107.xml",
    "invoices/FA-2026-0108.xml",
    "invoices/FA-2026-0109.ubl.xml",
    "invoices/FA-2026-0110.xml",
    "invoices/FA-2026-0111.xml",
    "invoices/FA-2026-0112.xml",
    "bank/releve-2026-06.camt053.xml",
];

fn context(
    config: &Config,
    company: &CompanyConfig,
    store: SledStore,
    clock: Clock,
) -> CycleContext {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let limiters = Arc::new(RateLimiters::new());
    limiters.configure(config.companies.iter());
    CycleContext {
        company: Arc::new(company.clone()),
        store,
        state_dir: config.global.state_dir.clone(),
        clock,
        shutdown: rx,
        limiters,
        metrics: Arc::new(Metrics::new()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn load_config(dir: &Path) -> anyhow::Result<Config> {
    config::load(dir).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

fn open_store(config: &Config) -> anyhow::Result<SledStore> {
    let p = config.global.state_dir.join("store");
    std::fs::create_dir_all(&config.global.state_dir)
        .with_context(|| format!("creating {}", config.global.state_dir.display()))?;
    SledStore::open(&p).with_context(|| format!("opening the store at {}", p.display()))
}

/// `relance demo [--state-dir DIR] [--date D]`.
pub fn demo(state_dir: Option<PathBuf>, date: Option<NaiveDate>) -> anyhow::Result<ExitCode> {
    let _tmp;
    let root = match state_dir {
        Some(d) => d,
        None => {
            let t = tempfile::Builder::new().prefix("relance-demo-").tempdir()?;
            let p = t.path().to_owned();
            _tmp = t;
            p
        }
    };
    let cfg_dir = root.join("config");
    for (path, bytes) in DEMO_FILES
        .iter()
        .filter(|(p, _)| !p.contains('/') || p.starts_with("companies.d/"))
    {
        let target = cfg_dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
    }
    let today = date.unwrap_or_else(|| {
        NaiveDate::from_ymd_opt(DEMO_DATE.0, DEMO_DATE.1, DEMO_DATE.2).unwrap_or_default()
    });
    let config = load_config(&cfg_dir)?;
    // The documents are dropped into the company's folder sources, as a user would. Files
    // already imported by an earlier run sit in done/: dropping them again shows that a
    // second import adds nothing.
    let inbox = config.global.state_dir.join("inbox");
    for (path, bytes) in DEMO_FILES
        .iter()
        .filter(|(p, _)| p.starts_with("invoices/") || p.starts_with("bank/"))
    {
        let target = inbox.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
    }
    let company = config
        .companies
        .first()
        .context("the demo configuration has no company")?
        .clone();
    let store = open_store(&config)?;
    record_events(
        &store,
        &company,
        &cfg_dir.join("events.json"),
        Clock::fixed_date(today),
    )?;
    let pipeline = Pipeline::load(Some(&cfg_dir))?;
    let ctx = context(&config, &company, store.clone(), Clock::fixed_date(today));
    let summary = runtime()?.block_on(pipeline.cycle(&ctx))?;
    println!(
        "relance demo — {} (SIREN {}), as of {today}",
        company.name,
        company.siren.as_ref().map(|s| s.as_str()).unwrap_or("-")
    );
    println!("state directory: {}\n", root.display());
    print_summary(&store, &company, &summary, today)?;
    println!(
        "  tasks, letters and unsent mail are under {}",
        pipeline::company_dir(&config.global.state_dir, &company.id).display()
    );
    let closing = provision_run(&store, &company, today, Some(&root), false, true)?;
    println!("{closing}");
    Ok(ExitCode::SUCCESS)
}

/// Records the demo's pauses and credit events once (keyed, so a second run adds nothing).
fn record_events(
    store: &SledStore,
    company: &CompanyConfig,
    path: &Path,
    clock: Clock,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Events {
        #[serde(default)]
        pauses: Vec<serde_json::Value>,
        #[serde(default)]
        credit_events: Vec<serde_json::Value>,
    }
    let ev: Events = serde_json::from_slice(&std::fs::read(path)?)
        .with_context(|| format!("reading {}", path.display()))?;
    let known: std::collections::HashSet<String> =
        ledger::audit_of_kind(store, &company.id, AUDIT_PAUSE)?
            .into_iter()
            .chain(ledger::audit_of_kind(
                store,
                &company.id,
                AUDIT_CREDIT_EVENT,
            )?)
            .map(|e| e.subject)
            .collect();
    let mut batch = Batch::default();
    for (kind, list) in [
        (AUDIT_PAUSE, &ev.pauses),
        (AUDIT_CREDIT_EVENT, &ev.credit_events),
    ] {
        for v in list {
            // Check the shape now: a bad entry is an error naming the file, not a silent skip.
            if kind == AUDIT_PAUSE {
                serde_json::from_value::<relance_core::dunning::Pause>(v.clone())
                    .with_context(|| format!("{}: pause {v}", path.display()))?;
            } else {
                serde_json::from_value::<relance_core::provision::CreditEvent>(v.clone())
                    .with_context(|| format!("{}: credit event {v}", path.display()))?;
            }
            let subject = IdempotencyKey::derive(company.id.as_str(), kind, &[&v.to_string()]).0;
            if known.contains(&subject) {
                continue;
            }
            batch.audit.push(AuditEvent {
                at: clock.now(),
                kind: kind.to_owned(),
                subject,
                summary: format!("recorded by staff: {v}"),
                explanation: v.clone(),
            });
        }
    }
    if !batch.is_empty() {
        store.commit(&company.id, batch)?;
    }
    Ok(())
}

fn print_summary(
    store: &SledStore,
    company: &CompanyConfig,
    s: &CycleSummary,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let ledger = Ledger::load(store, &company.id)?;
    println!("Imported");
    for r in &s.report.sources {
        println!(
            "  {:<10} {} files read, {} records, {} errors",
            r.connector, r.pulls, r.documents, r.errors
        );
    }
    println!(
        "  in the store: {} customers, {} invoices and credit notes, {} bank entries",
        ledger.customers.len(),
        ledger.invoices.len(),
        ledger.receipts.len()
    );
    for (f, r) in &s.quarantined {
        println!("  quarantined {f}: {r}");
    }
    println!("\nReconciliation");
    for a in &s.outcome.allocations {
        println!(
            "  {} {} → {} {:>10}  {:.2}  {}",
            if a.auto { "auto      " } else { "suggestion" },
            a.transaction,
            a.invoice,
            a.amount.to_string(),
            a.confidence.as_f64(),
            a.reason()
        );
    }
    for t in &s.outcome.unmatched {
        println!("  unmatched  {t}");
    }
    for f in &s.outcome.flags {
        println!(
            "  flag       {}",
            serde_json::to_string(f).unwrap_or_default()
        );
    }
    let open = ledger::open_amounts(&ledger, &[]);
    let mut items = Vec::new();
    println!("\nOpen receivables");
    for i in &ledger.invoices {
        let Some(o) = open.get(&i.id) else { continue };
        if o.is_zero() {
            continue;
        }
        let name = ledger
            .customers
            .iter()
            .find(|c| c.id == i.customer)
            .map(|c| c.name.as_str())
            .unwrap_or("?");
        println!(
            "  {:<14} {:<34} due {}  open {:>10}",
            i.number,
            name,
            i.effective_due_date(),
            o.to_string()
        );
        if i.kind == InvoiceKind::Invoice || o < &Decimal::ZERO {
            items.push(AgingItem {
                due_date: i.effective_due_date(),
                open: Money::new(*o, i.currency),
            });
        }
    }
    let aged = AgedBalance::compute(&items, today, company.currency);
    println!("\nAged balance ({})", company.currency);
    println!(
        "  not due {}  0-30 {}  31-60 {}  61-90 {}  91-180 {}  >180 {}  total {}",
        aged.not_due,
        aged.days_0_30,
        aged.days_31_60,
        aged.days_61_90,
        aged.days_91_180,
        aged.over_180,
        aged.total
    );
    println!("\nDunning as of {today}");
    match (&s.plan, &s.plan_error) {
        (Some(plan), _) => {
            for a in &plan.actions {
                println!(
                    "  {:?} / {:?} → {} ({} invoice(s), due {}, penalties {}, indemnity {})",
                    a.stage,
                    a.channel,
                    a.customer,
                    a.invoices.len(),
                    a.total_due,
                    a.total_penalty,
                    a.total_indemnity
                );
                println!("      why: {}", a.reason);
                for i in &a.invoices {
                    println!(
                        "      {} due {} ({} days late) penalty {} indemnity {} [{}]",
                        i.invoice,
                        i.amount_due,
                        i.days_overdue,
                        i.penalty,
                        i.indemnity,
                        i.rate_source
                    );
                }
            }
            for h in &plan.held {
                println!("  held {}: {}", h.invoice, h.reason);
            }
            for a in &plan.alerts {
                println!(
                    "  alert {} {}{}: {}",
                    a.kind,
                    a.customer,
                    a.deadline.map(|d| format!(" (by {d})")).unwrap_or_default(),
                    a.message
                );
            }
        }
        (None, Some(e)) => println!("  not planned: {e}"),
        _ => {}
    }
    println!("\nOutbox: {} new entries; delivered:", s.enqueued);
    for (t, d) in &s.delivered {
        println!(
            "  {t:<6} applied {} (already applied {}), retried {}, dead {}",
            d.applied, d.found_applied, d.retried, d.dead
        );
    }
    Ok(())
}

/// `relance sync --once`.
pub fn sync_once(
    config_dir: &Path,
    only: Option<&str>,
    date: Option<NaiveDate>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_dir)?;
    let store = open_store(&config)?;
    let clock = match date {
        Some(d) => Clock::fixed_date(d),
        None => Clock::System,
    };
    let pipeline = Pipeline::load(Some(config_dir))?;
    let rt = runtime()?;
    let mut failed = false;
    let mut ran = 0;
    for company in config
        .companies
        .iter()
        .filter(|c| only.is_none_or(|o| c.id.as_str() == o))
    {
        ran += 1;
        let ctx = context(&config, company, store.clone(), clock.clone());
        match rt.block_on(pipeline.cycle(&ctx)) {
            Ok(s) => {
                let docs: u64 = s.report.sources.iter().map(|r| r.documents).sum();
                let errors: u64 = s.report.sources.iter().map(|r| r.errors).sum();
                failed |= errors > 0;
                println!(
                    "{}: {} documents, {} matches, {} actions, {} outbox entries, {} source errors{}",
                    company.id, docs, s.report.matches, s.report.actions, s.enqueued, errors,
                    s.plan_error.map(|e| format!(", dunning not planned: {e}")).unwrap_or_default()
                );
            }
            Err(e) => {
                failed = true;
                eprintln!("{}: cycle failed: {e:#}", company.id);
            }
        }
    }
    if ran == 0 {
        bail!(
            "no company {:?} in {}",
            only.unwrap_or(""),
            config_dir.display()
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `relance dunning plan --company C [--date D]`: the plan from the store (dry run).
pub fn dunning_plan_company(
    config_dir: &Path,
    company: &str,
    date: Option<NaiveDate>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_dir)?;
    let company = config
        .companies
        .iter()
        .find(|c| c.id.as_str() == company)
        .with_context(|| format!("no company {company:?} in {}", config_dir.display()))?;
    let store = open_store(&config)?;
    let today = date.unwrap_or_else(|| Clock::System.today());
    let p = Pipeline::load(Some(config_dir))?;
    let ledger = Ledger::load(&store, &company.id)?;
    let outcome = ledger.reconcile(&company.reconcile);
    let mut full = ledger.clone();
    full.allocations.extend(outcome.allocations);
    let input = pipeline::plan_input(
        company,
        &p.rates,
        &full,
        ledger::dunning_history(&store, &company.id)?,
        ledger::pauses(&store, &company.id)?,
    );
    let plan = relance_core::dunning::plan(&input, today)?;
    super::out(&serde_json::to_string_pretty(&plan)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `relance dunning plan --invoices DIR --bank FILE... --date D`: offline, default policy.
pub fn dunning_plan_offline(
    invoices: &Path,
    banks: &[PathBuf],
    date: NaiveDate,
) -> anyhow::Result<ExitCode> {
    let l = crate::offline::load(invoices, banks)?;
    for (f, r) in &l.rejected {
        eprintln!("relance: skipped unusable file {f}: {r}");
    }
    let policy = relance_core::reconcile::Policy::default();
    let outcome =
        relance_core::reconcile::reconcile(&l.invoices, &l.customers, &l.receipts, &[], &policy);
    let ledger = Ledger {
        customers: l.customers,
        invoices: l.invoices,
        receipts: l.receipts,
        allocations: outcome.allocations,
    };
    let rates = crate::assets::rates(None)?;
    let mut input = relance_core::dunning::PlanInput::new(
        relance_core::CompanyId::new("offline"),
        relance_core::dunning::Policy::default(),
        rates,
    );
    input.customers = ledger.customers.clone();
    input.invoices = ledger.invoices.clone();
    input.open_amounts = ledger::open_amounts(&ledger, &[]).into_iter().collect();
    input.unapplied_credits = ledger::unapplied_by_customer(&ledger, &[]);
    input.bank_data_as_of = ledger.bank_data_as_of();
    input.payments = ledger::payments_by_invoice(&ledger, &[]);
    let plan = relance_core::dunning::plan(&input, date)?;
    super::out(&serde_json::to_string_pretty(&plan)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `relance provision --company C --closing-date D [--apply] [--out DIR] [--human]`.
pub fn provision(
    config_dir: &Path,
    company: &str,
    closing: NaiveDate,
    apply: bool,
    out: Option<&Path>,
    human: bool,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_dir)?;
    let company = config
        .companies
        .iter()
        .find(|c| c.id.as_str() == company)
        .with_context(|| format!("no company {company:?} in {}", config_dir.display()))?;
    let store = open_store(&config)?;
    let text = provision_run(&store, company, closing, out, apply, human)?;
    super::out(&text)?;
    if apply {
        let ctx = context(&config, company, store.clone(), Clock::System);
        let delivered = runtime()?.block_on(pipeline::deliver_all(&ctx, Clock::System.now()))?;
        for (t, d) in delivered {
            eprintln!(
                "{t}: applied {}, already applied {}, retried {}, dead {}",
                d.applied, d.found_applied, d.retried, d.dead
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Computes the closing table as of `closing`; writes the CSV state and the FEC export into
/// `out` when given; with `apply`, records the entries in the outbox (keyed: a second run adds
/// nothing) and the resulting state. Returns the text to print (JSON, or the table).
fn provision_run(
    store: &SledStore,
    company: &CompanyConfig,
    closing: NaiveDate,
    out: Option<&Path>,
    apply: bool,
    human: bool,
) -> anyhow::Result<String> {
    let ledger = Ledger::load(store, &company.id)?;
    let mut events = ledger::credit_events(store, &company.id)?;
    let history = ledger::dunning_history(store, &company.id)?;
    let pauses = ledger::pauses(store, &company.id)?;
    relance_core::provision::merge_derived(
        &mut events,
        relance_core::provision::from_dunning(&history, &pauses),
    );
    let previous = ledger::previous_provision_state(store, &company.id, closing)?;
    let input = ledger::closing_input(&company.id, company.currency, &ledger, events, previous);
    let table = relance_core::provision::closing(&input, &company.provision, closing)?;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        let csv = dir.join(format!("provisions-{}-{closing}.csv", company.id));
        std::fs::write(&csv, relance_core::provision::state_csv(&table))?;
        let siren = company
            .siren
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "000000000".into());
        let fec_ctx = fec::FecContext {
            customer_names: ledger
                .customers
                .iter()
                .map(|c| (c.id.as_str().to_owned(), c.name.clone()))
                .collect(),
            ..Default::default()
        };
        let (name, bytes) =
            fec::closing_file(&table, &siren, &fec_ctx, &fec::WriteOptions::default());
        let fec_path = dir.join(name);
        std::fs::write(&fec_path, bytes)
            .with_context(|| format!("writing {}", fec_path.display()))?;
    }
    if apply {
        let mut batch = Batch::default();
        let target = match &company.writeback {
            config::schema::WritebackConfig::Tryton(t) => format!("tryton:{}", t.source),
            config::schema::WritebackConfig::None => pipeline::TARGET_TASKS.to_owned(),
        };
        let now = Clock::System.now();
        for e in &table.entries {
            let (key, cmd) = fec::post_move(&company.id, e);
            batch
                .outbox_new
                .push(OutboxEntry::new(key, target.clone(), cmd, now));
        }
        batch.audit.push(AuditEvent {
            at: now,
            kind: AUDIT_PROVISION_STATE.to_owned(),
            subject: format!("closing {closing}"),
            summary: format!("closing {closing}: {} entries", table.entries.len()),
            explanation: serde_json::to_value(&table.state)?,
        });
        store.commit(&company.id, batch)?;
    }
    Ok(if human {
        relance_core::provision::table_text(&table)
    } else {
        serde_json::to_string_pretty(&table)?
    })
}

/// `relance check`: each connector's credentials and reachability.
pub fn check(config_dir: &Path, only: Option<&str>) -> anyhow::Result<ExitCode> {
    use relance_connectors::contract::Source as _;
    let config = load_config(config_dir)?;
    let rt = runtime()?;
    let mut ok = true;
    for company in config
        .companies
        .iter()
        .filter(|c| only.is_none_or(|o| c.id.as_str() == o))
    {
        for src in &company.sources {
            let res: Result<String, String> = match src {
                config::schema::SourceConfig::Tryton(t) => {
                    match relance_connectors::systems::tryton::TrytonConnector::new(
                        t.tryton.clone(),
                    ) {
                        Ok(c) => rt
                            .block_on(c.check())
                            .map(|_| "reachable, logged in".to_owned())
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
                config::schema::SourceConfig::EinvoiceInbox(d)
                | config::schema::SourceConfig::BankDir(d) => {
                    let p = if d.path.is_absolute() {
                        d.path.clone()
                    } else {
                        config.global.state_dir.join(&d.path)
                    };
                    if p.is_dir() {
                        Ok(format!("folder {} present", p.display()))
                    } else {
                        Ok(format!(
                            "folder {} will be created at the first cycle",
                            p.display()
                        ))
                    }
                }
            };
            match res {
                Ok(m) => println!("{} / {} ({}): ok, {m}", company.id, src.name(), src.kind()),
                Err(e) => {
                    ok = false;
                    println!(
                        "{} / {} ({}): FAILED: {e}",
                        company.id,
                        src.name(),
                        src.kind()
                    );
                }
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
