//! The connector compliance suite, one for every connector: bounded pages, a cursor that only
//! moves forward, each page acknowledged only after its commit, exactly-once write-back under
//! retry and after a restart, secrets kept out of errors, `Debug` output and logs, and errors
//! classified (credentials → Config, 429 → Transient with its Retry-After, 5xx → Transient,
//! business rule or error body → Permanent, expired session → transparent re-login).
//!
//! A source's test implements [`SourceHarness`] and runs [`source_suite`]; a write-back
//! target's implements [`WriteBackHarness`] and runs [`writeback_suite`]; a connector that is
//! both (Tryton) runs [`suite`]. A check a target cannot exercise (a folder has no password)
//! is listed as skipped with the reason, never silently passed. The suite captures `tracing`
//! events on the current thread: run it on a current-thread runtime (`#[tokio::test]`).

use relance_connectors::contract::{
    Cursor, IdempotencyKey, Page, Record, Source, WriteBack, WriteCommand,
};
use relance_connectors::error::ConnectorError;
use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A fault a harness can make its target answer with, on the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The session is no longer valid (HTTP 401 on the next call): the connector must log in
    /// again by itself.
    SessionExpired,
    /// HTTP 503: the call must fail as Transient.
    ServerError,
    /// HTTP 429 with `Retry-After: 1`: Transient, carrying the delay.
    RateLimited,
    /// A business-rule refusal (Tryton UserError, an HTTP 200 whose body is an error):
    /// Permanent.
    BusinessRule,
}

/// What the source half of the suite needs.
#[allow(async_fn_in_trait)]
pub trait SourceHarness {
    /// The source under test.
    type Source: Source + fmt::Debug;
    /// A fresh source with valid credentials.
    async fn source(&self) -> Result<Self::Source, ConnectorError>;
    /// A source whose credentials are wrong; `None` when the source has none.
    async fn source_with_bad_credentials(&self) -> Option<Result<Self::Source, ConnectorError>>;
    /// Strings that must never be shown: passwords, tokens.
    fn secrets(&self) -> Vec<String>;
    /// The largest page the source was configured for, in records.
    fn max_page(&self) -> usize;
    /// The number of records a full pull from the start must give at least.
    fn min_records(&self) -> usize;
    /// Called with each page before it is acknowledged: record what the pipeline's commit
    /// would (a folder source's import log).
    fn commit(&self, page: &Page) {
        let _ = page;
    }
    /// Arms `fault` for the next call; false when the target cannot inject it.
    fn inject(&self, fault: Fault) -> bool;
}

/// What the write-back half of the suite needs.
#[allow(async_fn_in_trait)]
pub trait WriteBackHarness {
    /// The target under test.
    type Target: WriteBack + fmt::Debug;
    /// A fresh target with valid credentials (a new one stands for a restart).
    async fn target(&self) -> Result<Self::Target, ConnectorError>;
    /// A target whose credentials are wrong; `None` when the target has none.
    async fn target_with_bad_credentials(&self) -> Option<Result<Self::Target, ConnectorError>>;
    /// Strings that must never be shown: passwords, tokens.
    fn secrets(&self) -> Vec<String>;
    /// Commands to apply, each under its own key; each must succeed.
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)>;
    /// A command the target refuses by a business rule (Permanent), if it has one without
    /// fault injection.
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)>;
    /// How many remote records carry `key` (the proof of "no duplicate").
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError>;
    /// Arms `fault` for the next call; false when the target cannot inject it.
    fn inject(&self, fault: Fault) -> bool;
}

/// Outcome of the suite: the checks that ran and the ones skipped, with why.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Checks passed.
    pub passed: Vec<String>,
    /// Checks skipped, with the reason.
    pub skipped: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} passed, 0 failed, {} skipped",
            self.passed.len(),
            self.skipped.len()
        )?;
        for p in &self.passed {
            writeln!(f, "  ok   {p}")?;
        }
        for s in &self.skipped {
            writeln!(f, "  skip {s}")?;
        }
        Ok(())
    }
}

/// Captured `tracing` output (every event and span field, formatted with `Debug`).
#[derive(Clone, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Capture {
    fn push(&self, s: String) {
        if let Ok(mut l) = self.lines.lock() {
            l.push(s);
        }
    }
    fn text(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut s = format!("span {}", attrs.metadata().name());
        attrs.record(&mut Fields(&mut s));
        self.push(s);
        tracing::span::Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut s = String::from("record");
        values.record(&mut Fields(&mut s));
        self.push(s);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut s = format!("event {}", event.metadata().target());
        event.record(&mut Fields(&mut s));
        self.push(s);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A printable id of each record (`invoice:<id>`, `receipt:<id>`...), to compare pulls.
pub fn ids_of(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r {
            Record::Customer(c) => format!("customer:{}", c.id),
            Record::Invoice(i) => format!("invoice:{}", i.id),
            Record::Receipt(r) => format!("receipt:{}", r.id),
            Record::BankEntry { key, .. } => format!("bank-entry:{key}"),
            Record::InvoiceRemoved { id } => format!("removed:{id}"),
            Record::Quarantined { file, .. } => format!("quarantined:{file}"),
            Record::Lifecycle(l) => format!("lifecycle:{}:{}", l.invoice, l.status),
        })
        .collect()
}

/// Drains a source from `from` as the pipeline does (pull, commit, acknowledge); returns the
/// records' ids and the final cursor.
async fn drain<H: SourceHarness>(
    h: &H,
    src: &mut H::Source,
    from: Option<Cursor>,
    max_page: usize,
    max_pages: usize,
) -> Result<(Vec<String>, Option<Cursor>), String> {
    let mut cursor = from;
    let mut ids = Vec::new();
    for _ in 0..max_pages {
        let page = src
            .pull(cursor.as_ref())
            .await
            .map_err(|e| format!("pull failed: {e}"))?;
        h.commit(&page);
        src.ack(page.acks.clone())
            .await
            .map_err(|e| format!("ack failed: {e}"))?;
        if page.records.len() > max_page {
            return Err(format!(
                "page of {} records, above the configured {max_page}",
                page.records.len()
            ));
        }
        ids.extend(ids_of(&page.records));
        // A source that keeps its position in a cursor must keep giving one; a source
        // without cursors (a folder: its position is the pass it is in) gives none.
        if page.next.is_none() && page.has_more && cursor.is_some() {
            return Err("has_more without a next cursor".to_owned());
        }
        if page.next.is_some() {
            cursor = page.next;
        }
        if !page.has_more {
            return Ok((ids, cursor));
        }
    }
    Err(format!(
        "still has_more after {max_pages} pages: the cursor does not move forward"
    ))
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.to_owned())
    }
}

/// Runs `checks` with `tracing` captured, then checks no secret was logged or shown.
async fn captured<F, Fut>(secrets: Vec<String>, checks: F) -> Result<Report, String>
where
    F: FnOnce(Report, String) -> Fut,
    Fut: std::future::Future<Output = Result<(Report, String), String>>,
{
    let capture = Capture::default();
    let dispatch = tracing::Dispatch::new(capture.clone());
    let guard = tracing::dispatcher::set_default(&dispatch);
    // callsites first hit on other threads (no subscriber) may have cached "never": re-ask
    tracing::callsite::rebuild_interest_cache();
    let result = checks(Report::default(), String::new()).await;
    drop(guard);
    let (mut report, shown) = result?;
    let logs = capture.text();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        check(
            !logs.contains(secret.as_str()),
            "a secret appears in the tracing output",
        )?;
        check(
            !shown.contains(secret.as_str()),
            "a secret appears in an error or Debug output",
        )?;
    }
    report.passed.push(format!(
        "secrets absent from {} log lines, errors and Debug output",
        logs.lines().count()
    ));
    Ok(report)
}

/// The source checks; the first failure is returned as `Err` with its reason.
pub async fn source_suite<H: SourceHarness>(h: &H) -> Result<Report, String> {
    captured(
        SourceHarness::secrets(h),
        |mut report, mut shown| async move {
            run_source(h, &mut report, &mut shown).await?;
            Ok((report, shown))
        },
    )
    .await
}

/// The write-back checks; the first failure is returned as `Err` with its reason.
pub async fn writeback_suite<H: WriteBackHarness>(h: &H) -> Result<Report, String> {
    captured(
        WriteBackHarness::secrets(h),
        |mut report, mut shown| async move {
            run_writeback(h, &mut report, &mut shown).await?;
            Ok((report, shown))
        },
    )
    .await
}

/// Both halves, for a connector that is a source and a write-back target.
pub async fn suite<H: SourceHarness + WriteBackHarness>(h: &H) -> Result<Report, String> {
    let mut a = source_suite(h).await?;
    let b = writeback_suite(h).await?;
    a.passed.extend(b.passed);
    a.skipped.extend(b.skipped);
    Ok(a)
}

fn classify_bad_credentials(
    e: &ConnectorError,
    shown: &mut String,
    report: &mut Report,
) -> Result<(), String> {
    let _ = write!(shown, "{e} {e:?}");
    check(
        matches!(e, ConnectorError::Config(_)),
        &format!("bad credentials gave {e:?}, expected Config"),
    )?;
    report.passed.push("bad credentials → Config".into());
    Ok(())
}

async fn run_source<H: SourceHarness>(
    h: &H,
    report: &mut Report,
    shown: &mut String,
) -> Result<(), String> {
    let max_page = h.max_page();
    let mut conn = h.source().await.map_err(|e| format!("source: {e}"))?;
    let _ = write!(shown, "{conn:?}");
    conn.check()
        .await
        .map_err(|e| format!("check with valid credentials failed: {e}"))?;
    report.passed.push("check() with valid credentials".into());

    // bounded pages, forward-only cursor, full coverage
    let max_pages = h.min_records() / max_page.max(1) + 50;
    let (ids, end) = drain(h, &mut conn, None, max_page, max_pages).await?;
    let unique: HashSet<&String> = ids.iter().collect();
    check(
        unique.len() == ids.len(),
        "a full pull from the start returned a record twice",
    )?;
    check(
        ids.len() >= h.min_records(),
        &format!(
            "a full pull gave {} records, expected at least {}",
            ids.len(),
            h.min_records()
        ),
    )?;
    report.passed.push(format!(
        "full pull: {} records in pages of at most {max_page}, no duplicate",
        ids.len()
    ));
    let (again, _) = drain(h, &mut conn, end.clone(), max_page, max_pages).await?;
    let seen: HashSet<&String> = ids.iter().collect();
    check(
        again.iter().all(|i| seen.contains(i)),
        "a pull from the final cursor of a quiet source gave unseen records",
    )?;
    check(
        again.len() < ids.len() || ids.len() <= max_page,
        "a pull from the final cursor started over",
    )?;
    report.passed.push(format!(
        "cursor moves forward: {} record(s) re-read from the final cursor",
        again.len()
    ));
    // replaying from the same cursor gives the same first page (reads are repeatable)
    let p1 = conn.pull(end.as_ref()).await.map_err(|e| e.to_string())?;
    let p2 = conn.pull(end.as_ref()).await.map_err(|e| e.to_string())?;
    // (the next cursors may differ: a cursor may record the server's clock)
    check(
        ids_of(&p1.records) == ids_of(&p2.records),
        "two pulls from the same cursor gave different records",
    )?;
    report
        .passed
        .push("pull from the same cursor is repeatable".into());

    match h.source_with_bad_credentials().await {
        None => report
            .skipped
            .push("bad credentials: the source has none".into()),
        Some(Err(e)) => classify_bad_credentials(&e, shown, report)?,
        Some(Ok(bad)) => {
            let _ = write!(shown, "{bad:?}");
            let e = bad
                .check()
                .await
                .err()
                .ok_or("check() with bad credentials succeeded")?;
            classify_bad_credentials(&e, shown, report)?;
        }
    }
    if h.inject(Fault::SessionExpired) {
        conn.pull(None)
            .await
            .map_err(|e| format!("pull after session expiry should re-login, got {e}"))?;
        report
            .passed
            .push("expired session (401) → transparent re-login".into());
    } else {
        report
            .skipped
            .push("expired session: the source has no session".into());
    }
    for (fault, what) in [(Fault::ServerError, "5xx"), (Fault::RateLimited, "429")] {
        if !h.inject(fault) {
            report
                .skipped
                .push(format!("{what}: the source cannot meet it"));
            continue;
        }
        let e = conn
            .pull(None)
            .await
            .err()
            .ok_or(format!("pull during a {what} succeeded"))?;
        let _ = write!(shown, "{e} {e:?}");
        check(
            e.is_transient(),
            &format!("{what} gave {e:?}, expected Transient"),
        )?;
        if fault == Fault::RateLimited {
            check(
                matches!(
                    e,
                    ConnectorError::Transient {
                        retry_after: Some(_),
                        ..
                    }
                ),
                &format!("429 with Retry-After gave {e:?}, expected its delay"),
            )?;
        }
        conn.pull(None)
            .await
            .map_err(|e| format!("pull after the {what} failed: {e}"))?;
        report
            .passed
            .push(format!("{what} → Transient, next call works"));
    }
    Ok(())
}

async fn run_writeback<H: WriteBackHarness>(
    h: &H,
    report: &mut Report,
    shown: &mut String,
) -> Result<(), String> {
    let conn = h.target().await.map_err(|e| format!("target: {e}"))?;
    let _ = write!(shown, "{conn:?}");
    // exactly-once write-back
    for (key, cmd) in h.commands() {
        let before = conn
            .find_applied(&key)
            .await
            .map_err(|e| format!("find_applied: {e}"))?;
        check(
            before.is_none(),
            &format!("{} reported applied before apply", key.as_str()),
        )?;
        let r1 = conn
            .apply(&key, &cmd)
            .await
            .map_err(|e| format!("apply {}: {e}", key.as_str()))?;
        let found = conn
            .find_applied(&key)
            .await
            .map_err(|e| format!("find_applied: {e}"))?;
        check(
            found.as_ref() == Some(&r1),
            &format!("find_applied after apply gave {found:?}, apply gave {r1:?}"),
        )?;
        let r2 = conn
            .apply(&key, &cmd)
            .await
            .map_err(|e| format!("re-apply {}: {e}", key.as_str()))?;
        check(r1 == r2, "re-applying a key gave another reference")?;
        // a new connector (after a restart) must see it too
        let fresh = h.target().await.map_err(|e| e.to_string())?;
        let r3 = fresh
            .apply(&key, &cmd)
            .await
            .map_err(|e| format!("apply after restart: {e}"))?;
        check(
            r1 == r3,
            "applying a key from a new connector gave another reference",
        )?;
        let n = h.effects(&key).await.map_err(|e| e.to_string())?;
        check(
            n == 1,
            &format!("{} remote records carry {}, expected 1", n, key.as_str()),
        )?;
        report.passed.push(format!(
            "{} applied once, retried twice, one remote record ({})",
            command_name(&cmd),
            r1.0
        ));
    }

    match h.target_with_bad_credentials().await {
        None => report
            .skipped
            .push("bad credentials: the target has none".into()),
        Some(Err(e)) => classify_bad_credentials(&e, shown, report)?,
        Some(Ok(bad)) => {
            let _ = write!(shown, "{bad:?}");
            let (key, cmd) = h
                .commands()
                .into_iter()
                .next()
                .ok_or("no command to try with bad credentials")?;
            let key = IdempotencyKey(format!("{}-badcred", key.as_str()));
            let e = bad
                .apply(&key, &cmd)
                .await
                .err()
                .ok_or("apply with bad credentials succeeded")?;
            classify_bad_credentials(&e, shown, report)?;
        }
    }
    let refused = match h.refused_command() {
        Some(kc) => Some(kc),
        None if h.inject(Fault::BusinessRule) => h
            .commands()
            .into_iter()
            .next()
            .map(|(k, c)| (IdempotencyKey(format!("{}-refused", k.as_str())), c)),
        None => None,
    };
    match refused {
        Some((key, cmd)) => {
            let e = conn
                .apply(&key, &cmd)
                .await
                .err()
                .ok_or("a refused command was applied")?;
            let _ = write!(shown, "{e} {e:?}");
            check(
                matches!(e, ConnectorError::Permanent(_)),
                &format!("business-rule refusal gave {e:?}, expected Permanent"),
            )?;
            let none = conn.find_applied(&key).await.map_err(|e| e.to_string())?;
            check(none.is_none(), "a refused command is reported applied")?;
            report
                .passed
                .push("business-rule refusal → Permanent, not marked applied".into());
        }
        None => report
            .skipped
            .push("business-rule refusal: no refused command and no injection".into()),
    }
    for (fault, what) in [(Fault::ServerError, "5xx"), (Fault::RateLimited, "429")] {
        if !h.inject(fault) {
            report
                .skipped
                .push(format!("write-back {what}: the target cannot meet it"));
            continue;
        }
        let (key, cmd) = h.commands().into_iter().next().ok_or("no command to try")?;
        let key = IdempotencyKey(format!("{}-{what}", key.as_str()));
        let e = conn
            .apply(&key, &cmd)
            .await
            .err()
            .ok_or(format!("apply during a {what} succeeded"))?;
        let _ = write!(shown, "{e} {e:?}");
        check(
            e.is_transient(),
            &format!("write-back {what} gave {e:?}, expected Transient"),
        )?;
        let r = conn
            .apply(&key, &cmd)
            .await
            .map_err(|e| format!("apply after the {what} failed: {e}"))?;
        let n = h.effects(&key).await.map_err(|e| e.to_string())?;
        check(
            n == 1,
            &format!("after a {what} and a retry, {n} remote records carry the key"),
        )?;
        report.passed.push(format!(
            "write-back {what} → Transient, retry applies once ({})",
            r.0
        ));
    }
    Ok(())
}

fn command_name(c: &WriteCommand) -> &'static str {
    match c {
        WriteCommand::SetDunningLevel { .. } => "SetDunningLevel",
        WriteCommand::AddNote { .. } => "AddNote",
        WriteCommand::BlockDunning { .. } => "BlockDunning",
        WriteCommand::Reconcile { .. } => "Reconcile",
        WriteCommand::PostMove { .. } => "PostMove",
        WriteCommand::SendEmail { .. } => "SendEmail",
        WriteCommand::CreateTask { .. } => "CreateTask",
        WriteCommand::ReportPayment { .. } => "ReportPayment",
    }
}
