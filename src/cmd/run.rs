//! The commands that run the pipeline: `demo`, `sync --once`, `dunning plan`, `provision`.

use crate::clock::Clock;
use crate::config::{self, CompanyConfig, Config};
use crate::daemon::CycleContext;
use crate::ledger::{self, Ledger};
use crate::metrics::Metrics;
use crate::pipeline::{self, CycleSummary, Pipeline};
use crate::registry::{self, Connectors};
use crate::store::{Batch, OutboxEntry, SharedStore, Store};
use anyhow::{bail, Context as _};
use chrono::NaiveDate;
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
    "decisions.json",
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
    "invoices/FA-2026-0113.xml",
    "bank/releve-2026-06.camt053.xml",
];

fn context(
    config: &Config,
    company: &CompanyConfig,
    store: SharedStore,
    clock: Clock,
    http: &Arc<relance_connectors::http::HttpLayer>,
) -> CycleContext {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    CycleContext {
        company: Arc::new(company.clone()),
        store,
        state_dir: config.global.state_dir.clone(),
        clock,
        shutdown: rx,
        http: http.clone(),
        metrics: Arc::new(Metrics::new()),
    }
}

/// The HTTP layer of a command, bounded per host as the daemon would be.
fn http_layer(config: &Config) -> anyhow::Result<Arc<relance_connectors::http::HttpLayer>> {
    let http = relance_connectors::http::HttpLayer::new()?;
    crate::daemon::configure_http(&http, &config.companies);
    Ok(Arc::new(http))
}

/// The connectors of a command's company (built once, as a daemon task would).
fn connectors(ctx: &CycleContext) -> Connectors {
    Connectors::build(ctx.company.clone(), pipeline::build_context(ctx))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub(crate) fn load_config(dir: &Path) -> anyhow::Result<Config> {
    config::load(dir).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

pub(crate) fn open_store(config: &Config) -> anyhow::Result<SharedStore> {
    let backend = crate::store::Backend::from_settings(&config.global.store)?;
    let what = match &backend {
        crate::store::Backend::Sled => config.global.state_dir.join("store").display().to_string(),
        other => other.describe(),
    };
    crate::store::open_backend(&backend, &config.global.state_dir)
        .with_context(|| format!("opening the store at {what}"))
}

/// `relance demo [--state-dir DIR] [--date D] [--console]`.
pub fn demo(
    state_dir: Option<PathBuf>,
    date: Option<NaiveDate>,
    console: bool,
) -> anyhow::Result<ExitCode> {
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
    let pipeline = Pipeline::load(Some(&cfg_dir))?;
    let http = http_layer(&config)?;
    let ctx = context(
        &config,
        &company,
        store.clone(),
        Clock::fixed_date(today),
        &http,
    );
    let rt = runtime()?;
    let summary = rt.block_on(async {
        let mut conns = connectors(&ctx);
        // The documents first, then what the staff decided about them (checked against
        // them), then the cycle, which applies the decisions before it plans.
        let pulled = pipeline.pull(&ctx, &mut conns).await;
        record_decisions(&store, &company, &cfg_dir.join("decisions.json"))?;
        let mut summary = pipeline.cycle(&ctx, &mut conns).await?;
        for (rep, first) in summary.report.sources.iter_mut().zip(pulled) {
            rep.files += first.files;
            rep.documents += first.documents;
            rep.errors += first.errors;
            rep.problems.extend(first.problems);
            rep.quarantined.extend(first.quarantined.iter().cloned());
            summary.quarantined.extend(first.quarantined);
        }
        anyhow::Ok(summary)
    })?;
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
    if console {
        let password = demo_user(&store, today)?;
        // The daemon opens the store itself: every handle of this run is let go first.
        drop((store, ctx, rt));
        serve_console(&cfg_dir, pipeline, today, password)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo console's user `demo` (admin of every company) with a fresh random password.
fn demo_user(store: &SharedStore, today: NaiveDate) -> anyhow::Result<String> {
    use rand::Rng as _;
    let password: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    crate::auth::remove_user(&**store, "demo")?;
    crate::auth::add_user(
        &**store,
        "demo",
        &password,
        vec![crate::auth::Grant {
            company: None,
            role: crate::auth::Role::Admin,
        }],
        today
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default(),
    )?;
    Ok(password)
}

/// Runs the daemon on the demo's configuration (its clock fixed at the demo's date), printing
/// the console's address and credentials once it listens, until Ctrl-C.
fn serve_console(
    cfg_dir: &Path,
    pipeline: Pipeline,
    today: NaiveDate,
    password: String,
) -> anyhow::Result<()> {
    let tell: crate::daemon::OnApiListening = Box::new(move |addr| {
        println!(
            "console: http://127.0.0.1:{}/ user demo password {password}",
            addr.port()
        );
        println!("(Ctrl-C to stop)");
    });
    crate::daemon::run_with_listening(
        cfg_dir.to_owned(),
        Clock::fixed_date(today),
        pipeline,
        Some(tell),
    )
}

/// Records the decisions of the demo's staff (a dispute, a procédure collective) as any
/// person's decisions are recorded: checked against the store, once per key (a second run of
/// the demo finds them recorded and adds nothing).
fn record_decisions(
    store: &SharedStore,
    company: &CompanyConfig,
    path: &Path,
) -> anyhow::Result<()> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let list: Vec<crate::decisions::Envelope> =
        serde_json::from_slice(&text).with_context(|| format!("reading {}", path.display()))?;
    for (i, env) in list.into_iter().enumerate() {
        crate::decisions::record(&**store, company, env)
            .with_context(|| format!("{}: decision [{i}]", path.display()))?;
    }
    Ok(())
}

fn print_summary(
    store: &SharedStore,
    company: &CompanyConfig,
    s: &CycleSummary,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let ledger = Ledger::load(store, &company.id)?;
    println!("Imported");
    for r in &s.report.sources {
        println!(
            "  {:<10} {} files imported, {} records, {} errors",
            r.connector, r.files, r.documents, r.errors
        );
        for p in &r.problems {
            println!("  {:<10} error: {p}", r.connector);
        }
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
    if !s.decisions.is_empty() {
        println!("\nDecisions applied");
        for a in &s.decisions {
            let outcome = match &a.outcome {
                crate::decisions::state::Outcome::Applied => "applied".to_owned(),
                crate::decisions::state::Outcome::Refused { reasons } => format!(
                    "refused: {}",
                    reasons
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
            println!(
                "  {:<20} {} by {} ({}): {outcome}",
                a.decision.kind(),
                a.key,
                a.actor,
                a.reason.as_deref().unwrap_or("")
            );
        }
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
            for m in &plan.missing_rates {
                println!(
                    "  rate table lacks {} ({} invoice(s), {} held): update it (rates.d/*.toml, see `relance rates`)",
                    m.row,
                    m.invoices.len(),
                    m.held.len()
                );
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
    // The same logs as the daemon's, on stderr (RUST_LOG overrides the configured level).
    crate::daemon::init_logging(config.global.log_format, &config.global.log_level);
    if let Some(client) = crate::api::client::Client::find(&config)? {
        if date.is_some() {
            bail!("--date cannot be used while the daemon runs: its cycles run on its own clock");
        }
        return sync_via_daemon(&client, &config, only);
    }
    let store = open_store(&config)?;
    let clock = match date {
        Some(d) => Clock::fixed_date(d),
        None => Clock::System,
    };
    let pipeline = Pipeline::load(Some(config_dir))?;
    let rt = runtime()?;
    let http = http_layer(&config)?;
    let mut failed = false;
    let mut ran = 0;
    for company in config
        .companies
        .iter()
        .filter(|c| only.is_none_or(|o| c.id.as_str() == o))
    {
        ran += 1;
        let ctx = context(&config, company, store.clone(), clock.clone(), &http);
        let result = rt.block_on(async {
            let mut conns = connectors(&ctx);
            pipeline.cycle(&ctx, &mut conns).await
        });
        match result {
            Ok(s) => {
                let docs: u64 = s.report.sources.iter().map(|r| r.documents).sum();
                let errors: u64 = s.report.sources.iter().map(|r| r.errors).sum();
                failed |= errors > 0;
                let held = s.plan.as_ref().map_or(0, |p| p.held.len());
                println!(
                    "{}: {} documents, {} matches, {} actions, {} held, {} outbox entries, {} source errors{}",
                    company.id, docs, s.report.matches, s.report.actions, held, s.enqueued, errors,
                    s.plan_error.as_ref().map(|e| format!(", dunning not planned: {e}")).unwrap_or_default()
                );
                for m in s.plan.iter().flat_map(|p| &p.missing_rates) {
                    println!(
                        "{}: the rate table lacks {} ({} invoice(s), {} held): update it (rates.d/*.toml, see `relance rates`)",
                        company.id,
                        m.row,
                        m.invoices.len(),
                        m.held.len()
                    );
                }
                for r in &s.report.sources {
                    for p in &r.problems {
                        println!("  {} error: {p}", r.connector);
                    }
                    for (f, why) in &r.quarantined {
                        println!(
                            "  {} quarantined {f}: {}",
                            r.connector,
                            why.replace('\n', "; ")
                        );
                    }
                    for (f, why) in &r.skipped {
                        println!("  {} not read {f}: {why}", r.connector);
                    }
                }
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

/// `relance sync --once` while the daemon runs: each company's cycle runs in the daemon, now,
/// and its report is printed as a cycle run here would print it.
fn sync_via_daemon(
    client: &crate::api::client::Client,
    config: &Config,
    only: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut ran = 0;
    for company in config
        .companies
        .iter()
        .filter(|c| only.is_none_or(|o| c.id.as_str() == o))
    {
        ran += 1;
        let r = match client.post_json(
            &format!("/api/v1/companies/{}/sync", company.id),
            &serde_json::json!({}),
            None,
        ) {
            Ok(r) => r,
            Err(e) => {
                failed = true;
                eprintln!("{}: cycle failed: {e:#}", company.id);
                continue;
            }
        };
        let errors = r["source_errors"].as_u64().unwrap_or(0);
        failed |= errors > 0;
        println!(
            "{}: {} documents, {} matches, {} actions, {} outbox entries, {} source errors{}",
            company.id,
            r["documents"],
            r["matches"],
            r["actions"],
            r["enqueued"],
            errors,
            r["plan_error"]
                .as_str()
                .map(|e| format!(", dunning not planned: {e}"))
                .unwrap_or_default()
        );
        for src in r["sources"].as_array().into_iter().flatten() {
            let name = src["name"].as_str().unwrap_or("?");
            for p in src["problems"].as_array().into_iter().flatten() {
                println!("  {name} error: {}", p.as_str().unwrap_or(""));
            }
            for q in src["quarantined"].as_array().into_iter().flatten() {
                println!(
                    "  {name} quarantined {}: {}",
                    q["file"].as_str().unwrap_or(""),
                    q["reason"].as_str().unwrap_or("").replace('\n', "; ")
                );
            }
            for q in src["skipped"].as_array().into_iter().flatten() {
                println!(
                    "  {name} not read {}: {}",
                    q["file"].as_str().unwrap_or(""),
                    q["reason"].as_str().unwrap_or("")
                );
            }
        }
    }
    if ran == 0 {
        bail!(
            "no company {:?} in {}",
            only.unwrap_or(""),
            config.dir.display()
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
    let today = date.unwrap_or_else(|| Clock::System.today());
    let p = Pipeline::load(Some(config_dir))?;
    if let Some(client) = crate::api::client::Client::find(&config)? {
        let plan = client.get_json(&format!(
            "/api/v1/companies/{}/dunning-plan?date={today}",
            company.id
        ))?;
        super::out(&serde_json::to_string_pretty(&plan)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(&config)?;
    let plan = plan_for(&store, company, &p, today)?;
    super::out(&serde_json::to_string_pretty(&plan)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `relance ereporting`: the period's receipts not lettered by the cut-off and the
/// corrections of the previous period's report, from the company's store (see
/// [`crate::ereporting`]).
pub fn ereporting(a: &crate::cli::EreportingArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&a.config.config)?;
    let company = config
        .companies
        .iter()
        .find(|c| c.id.as_str() == a.company)
        .with_context(|| {
            format!(
                "no company {:?} in {}",
                a.company,
                a.config.config.display()
            )
        })?;
    if crate::api::client::Client::find(&config)?.is_some() {
        bail!("the daemon holds the store: run relance ereporting while it is stopped (the API has no e-reporting route yet)");
    }
    let period = crate::ereporting::Period::months(a.period, a.months)
        .with_context(|| format!("no period of {} month(s) from {}", a.months, a.period))?;
    let store = open_store(&config)?;
    let ledger = Ledger::load(store.as_ref(), &company.id)?;
    let letterings: Vec<crate::ereporting::Lettering> = store
        .allocations(&company.id)?
        .into_iter()
        .map(|r| crate::ereporting::Lettering {
            transaction: r.transaction,
            invoice: r.invoice.to_string(),
            amount: r.amount,
            auto: r.auto,
            on: r.decided_at.date_naive(),
        })
        .collect();
    let report = crate::ereporting::report(&ledger.receipts, &letterings, period, a.cutoff)
        .context("the previous period cannot be dated")?;
    super::out(&serde_json::to_string_pretty(&report)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The dunning plan of a configured company as of `today`, from its store, with people's
/// decisions (dry run: the reconciliation's new allocations are counted, nothing is written).
pub fn plan_for(
    store: &SharedStore,
    company: &CompanyConfig,
    p: &Pipeline,
    today: NaiveDate,
) -> anyhow::Result<relance_core::dunning::Plan> {
    crate::decisions::queries::plan_as_of(store.as_ref(), company, &p.rates, today)
}

/// The company whose policies an offline command applies: `--company C` of `--config DIR`, or
/// the directory's only company; `None` (built-in defaults) without a `relance.toml`.
pub(super) fn offline_company(
    offline: &crate::cli::OfflineConfig,
) -> anyhow::Result<Option<CompanyConfig>> {
    let Some(dir) = offline.config.as_deref() else {
        if offline.company.is_some() {
            bail!("--company needs --config DIR (the configuration that defines it)");
        }
        return Ok(None);
    };
    crate::assets::existing_dir(dir)?;
    if !dir.join(config::GLOBAL_FILE).is_file() {
        if let Some(c) = &offline.company {
            bail!(
                "--company {c}: {} has no {}",
                dir.display(),
                config::GLOBAL_FILE
            );
        }
        return Ok(None);
    }
    let config = load_config(dir)?;
    let found = match &offline.company {
        Some(c) => Some(
            config
                .companies
                .iter()
                .find(|x| x.id.as_str() == c)
                .with_context(|| format!("no company {c:?} in {}", dir.display()))?,
        ),
        None if config.companies.len() == 1 => config.companies.first(),
        None if config.companies.is_empty() => None,
        None => bail!(
            "{} configures {} companies: say which with --company",
            dir.display(),
            config.companies.len()
        ),
    };
    if let Some(c) = found {
        eprintln!(
            "relance: policies of company {} ({})",
            c.id,
            c.file.display()
        );
    }
    Ok(found.cloned())
}

/// `relance dunning plan --invoices DIR --bank FILE... --date D [--config DIR] [--company C]`:
/// offline, with the configuration's rate table, templates and company policies (else the
/// built-in ones). Prints the plan and, under `messages`, each action's message as the
/// templates render it (subject and body; nothing is sent or written).
pub fn dunning_plan_offline(
    invoices: &Path,
    banks: &[PathBuf],
    date: NaiveDate,
    offline: &crate::cli::OfflineConfig,
) -> anyhow::Result<ExitCode> {
    let company = offline_company(offline)?;
    let config_dir = offline.config.as_deref();
    let rates = crate::assets::rates(config_dir)?;
    let templates = crate::assets::templates(config_dir)?;
    let l = crate::offline::load(invoices, banks)?;
    for (f, r) in &l.rejected {
        eprintln!("relance: skipped unusable file {f}: {r}");
    }
    let reconcile_policy = company
        .as_ref()
        .map(|c| c.reconcile.clone())
        .unwrap_or_default();
    let outcome = relance_core::reconcile::reconcile(
        &l.invoices,
        &l.customers,
        &l.receipts,
        &[],
        &reconcile_policy,
    );
    let ledger = Ledger {
        customers: l.customers,
        invoices: l.invoices,
        receipts: l.receipts,
        allocations: outcome.allocations.clone(),
        ..Ledger::default()
    };
    let company = company.unwrap_or_else(CompanyConfig::offline_defaults);
    let input = pipeline::plan_input(
        &company,
        &rates,
        &ledger,
        &outcome.suggestions,
        Vec::new(),
        Vec::new(),
    );
    let plan = relance_core::dunning::plan(&input, date)?;
    for m in &plan.missing_rates {
        eprintln!(
            "relance: the rate table lacks {} ({} invoice(s), {} held): update it (rates.d/*.toml, see `relance rates`)",
            m.row,
            m.invoices.len(),
            m.held.len()
        );
    }
    let core_company = company.company();
    let sender = pipeline::sender_info(&company);
    let mut messages = Vec::new();
    for a in &plan.actions {
        let fallback;
        let customer = match input.customers.iter().find(|c| c.id == a.customer) {
            Some(c) => c,
            None => {
                fallback = relance_core::Customer::new(a.customer.clone(), a.customer.as_str());
                &fallback
            }
        };
        let ctx = relance_core::dunning::template::action_context(
            a,
            &core_company,
            customer,
            &sender,
            date,
            company.dunning.mise_en_demeure_deadline_days,
        );
        let m = templates.render_action(a, &ctx)?;
        messages.push(serde_json::json!({
            "key": a.key,
            "customer": a.customer,
            "template": m.template,
            "subject": m.subject,
            "body": m.body,
        }));
    }
    let mut out = serde_json::to_value(&plan)?;
    if let Some(o) = out.as_object_mut() {
        o.insert("messages".into(), serde_json::Value::Array(messages));
    }
    super::out(&serde_json::to_string_pretty(&out)?)?;
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
    if let Some(client) = crate::api::client::Client::find(&config)? {
        return provision_via_daemon(&client, company, closing, apply, out, human);
    }
    let store = open_store(&config)?;
    let text = provision_run(&store, company, closing, out, apply, human)?;
    super::out(&text)?;
    if apply {
        let http = http_layer(&config)?;
        let ctx = context(&config, company, store.clone(), Clock::System, &http);
        let delivered = runtime()?.block_on(async {
            let conns = connectors(&ctx);
            pipeline::deliver_all(&ctx, &conns, Clock::System.now()).await
        })?;
        for (t, d) in delivered {
            eprintln!(
                "{t}: applied {}, already applied {}, retried {}, dead {}",
                d.applied, d.found_applied, d.retried, d.dead
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `relance provision` while the daemon runs: the table (and, with `apply`, the booking and
/// its delivery) from the daemon; the files written here from what it sends.
fn provision_via_daemon(
    client: &crate::api::client::Client,
    company: &CompanyConfig,
    closing: NaiveDate,
    apply: bool,
    out: Option<&Path>,
    human: bool,
) -> anyhow::Result<ExitCode> {
    let base = format!("/api/v1/companies/{}/closings/{closing}", company.id);
    let table: serde_json::Value = if apply {
        let r = client.post_json(&format!("{base}/apply"), &serde_json::json!({}), None)?;
        for d in r["delivered"].as_array().into_iter().flatten() {
            eprintln!(
                "{}: applied {}, already applied {}, retried {}, dead {}",
                d["target"].as_str().unwrap_or("?"),
                d["applied"],
                d["found_applied"],
                d["retried"],
                d["dead"]
            );
        }
        r["table"].clone()
    } else {
        client.get_json(&base)?
    };
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        let csv = client.get_bytes(&format!("{base}/csv"))?;
        std::fs::write(
            dir.join(format!("provisions-{}-{closing}.csv", company.id)),
            csv.1,
        )?;
        let (name, fec) = client.get_bytes(&format!("{base}/fec"))?;
        let name = name.unwrap_or_else(|| format!("FEC-{closing}.txt"));
        let path = dir.join(&name);
        std::fs::write(&path, fec).with_context(|| format!("writing {}", path.display()))?;
    }
    let text = if human {
        let t: relance_core::provision::ClosingTable =
            serde_json::from_value(table).context("reading the closing table the daemon sent")?;
        relance_core::provision::table_text(&t)
    } else {
        serde_json::to_string_pretty(&table)?
    };
    super::out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The closing table of `company` as of `closing`, from the store, with the disputes,
/// procédures collectives and rate overrides people decided.
pub fn closing_table(
    store: &SharedStore,
    company: &CompanyConfig,
    closing: NaiveDate,
) -> anyhow::Result<(relance_core::provision::ClosingTable, Ledger)> {
    let ledger = Ledger::load(store, &company.id)?;
    let state = crate::decisions::DecisionState::load(store.as_ref(), &company.id)?;
    let table =
        crate::decisions::closing::compute(store.as_ref(), company, &ledger, &state, closing)??;
    Ok((table, ledger))
}

/// The FEC file of a closing table: its name and bytes.
pub fn closing_fec(
    company: &CompanyConfig,
    table: &relance_core::provision::ClosingTable,
    ledger: &Ledger,
) -> (String, Vec<u8>) {
    let x = crate::decisions::closing::export_files(company, &ledger.customers, table);
    (x.fec_name, x.fec)
}

/// Books a closing as an approval would, in one commit through `store` (the lease's fenced
/// store in the daemon): the draft, the entries in the outbox (keyed: a second time adds
/// nothing), the resulting state. Booked before: the entries are recorded again under their
/// keys (nothing new is added), so an interrupted delivery finishes.
pub fn book_closing(
    store: &SharedStore,
    company: &CompanyConfig,
    table: &relance_core::provision::ClosingTable,
    now: chrono::DateTime<chrono::Utc>,
    by: &str,
) -> anyhow::Result<()> {
    use crate::decisions::closing as closings;
    let booked = store
        .provision(&company.id, table.closing_date)?
        .is_some_and(|p| p.status != crate::store::ProvisionStatus::Computed);
    let mut batch = Batch::default();
    let wb = registry::writeback_target(company);
    if !booked {
        let d = closings::digest(table);
        closings::draft_records(&mut batch, now, table.clone(), d);
        closings::booking(&mut batch, company, table, now, wb.as_deref(), by);
    } else {
        let target = wb.unwrap_or_else(|| registry::TARGET_TASKS.to_owned());
        for e in &table.entries {
            let (key, cmd) = fec::post_move(&company.id, e);
            batch
                .outbox_new
                .push(OutboxEntry::new(key, target.clone(), cmd, now));
        }
    }
    store.commit(&company.id, batch)?;
    Ok(())
}

/// Computes the closing table as of `closing` (with the disputes, procédures collectives and
/// rate overrides people decided); writes the CSV state and the FEC export into `out` when
/// given; with `apply`, books it as an approval would. Returns the text to print (JSON, or the
/// table).
fn provision_run(
    store: &SharedStore,
    company: &CompanyConfig,
    closing: NaiveDate,
    out: Option<&Path>,
    apply: bool,
    human: bool,
) -> anyhow::Result<String> {
    let (table, ledger) = closing_table(store, company, closing)?;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        let x = crate::decisions::closing::export_files(company, &ledger.customers, &table);
        for (name, bytes) in [(&x.csv_name, &x.csv), (&x.fec_name, &x.fec)] {
            let p = dir.join(name);
            std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    if apply {
        book_closing(
            store,
            company,
            &table,
            Clock::System.now(),
            "relance provision --apply",
        )?;
    }
    Ok(if human {
        relance_core::provision::table_text(&table)
    } else {
        serde_json::to_string_pretty(&table)?
    })
}

/// `relance store check`: open the store, read every record back, check its indexes.
pub fn store_check(config_dir: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(config_dir)?;
    let path = config.global.state_dir.join("store");
    if !path.exists() {
        bail!(
            "no store at {} yet (the daemon creates it at its first start)",
            path.display()
        );
    }
    let store = open_store(&config)?;
    let report = store
        .verify()
        .with_context(|| format!("reading the store at {} back", path.display()))?;
    for c in &report.companies {
        println!(
            "{}: {} customers, {} invoices, {} receipts, {} allocations, {} cursors, {} outbox entries, {} dead letters, {} audit entries, {} closings",
            c.company, c.customers, c.invoices, c.receipts, c.allocations, c.cursors, c.outbox,
            c.dead_letters, c.audit, c.provisions
        );
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
    if report.problems.is_empty() {
        println!("store {} is whole: every record read back", path.display());
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "store {} has {} problem(s): restore it from a backup (README: \"Backup and restore\")",
            path.display(),
            report.problems.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `relance check`: each connector's credentials and reachability.
pub fn check(config_dir: &Path, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_dir)?;
    let rt = runtime()?;
    let http = http_layer(&config)?;
    let mut ok = true;
    // The store is not opened (a running daemon holds it): folder sources check their
    // folders, and their import log is never read by a check.
    for company in config
        .companies
        .iter()
        .filter(|c| only.is_none_or(|o| c.id.as_str() == o))
    {
        let cx = registry::BuildContext {
            state_dir: config.global.state_dir.clone(),
            store: None,
            http: http.clone(),
        };
        let conns = Connectors::build(Arc::new(company.clone()), cx);
        for slot in &conns.sources {
            let res: Result<(), String> = match &slot.source {
                Ok(src) => rt.block_on(src.check()).map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            };
            match res {
                Ok(()) => println!("{} / {} ({}): ok", company.id, slot.name, slot.kind),
                Err(e) => {
                    ok = false;
                    println!(
                        "{} / {} ({}): FAILED: {e}",
                        company.id, slot.name, slot.kind
                    );
                }
            }
        }
        for t in &conns.targets {
            match &t.target {
                Err(e) => {
                    ok = false;
                    println!("{} / write-back {}: FAILED: {e}", company.id, t.name);
                }
                // the system of record writes through its source's connection, checked above
                Ok(_) if conns.writeback.as_deref() == Some(t.name.as_str()) => {
                    println!(
                        "{} / write-back {}: built on its source's connection",
                        company.id, t.name
                    );
                }
                Ok(_) => {}
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
