//! The connector compliance suite, shared by every system connector: bounded pages, a cursor
//! that only moves forward, exactly-once write-back, secrets kept out of errors, `Debug` output
//! and logs, and errors classified (credentials → Config, 5xx → Transient, business rule →
//! Permanent, expired session → transparent re-login).
//!
//! A test implements [`Harness`] for its target (a fake server, or a real one) and runs
//! [`suite`]. The suite captures `tracing` events on the current thread, so run it on a
//! current-thread runtime (`#[tokio::test]`'s default).

use crate::contract::{Cursor, IdempotencyKey, Record, Source, WriteBack, WriteCommand};
use crate::error::ConnectorError;
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
    /// A business-rule refusal (Tryton UserError): Permanent.
    BusinessRule,
}

/// What the suite needs from a target.
#[allow(async_fn_in_trait)]
pub trait Harness {
    /// The connector type under test.
    type Conn: Source + WriteBack + fmt::Debug;
    /// A fresh connector with valid credentials (the factory).
    async fn connector(&self) -> Result<Self::Conn, ConnectorError>;
    /// A connector whose password is wrong.
    async fn connector_with_bad_password(&self) -> Result<Self::Conn, ConnectorError>;
    /// Strings that must never be shown: passwords, tokens.
    fn secrets(&self) -> Vec<String>;
    /// The largest page the connector was configured for.
    fn max_page(&self) -> usize;
    /// The number of records a full pull from the start must give at least.
    fn min_records(&self) -> usize;
    /// Commands to apply, each under its own key; each must succeed.
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)>;
    /// A command the target refuses by a business rule (Permanent), if the target has one
    /// without fault injection.
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

fn ids_of(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r {
            Record::Customer(c) => format!("customer:{}", c.id),
            Record::Invoice(i) => format!("invoice:{}", i.id),
            Record::Receipt(r) => format!("receipt:{}", r.id),
            Record::BankEntry { key, .. } => format!("bank-entry:{key}"),
            Record::InvoiceRemoved { id } => format!("removed:{id}"),
            Record::Quarantined { file, .. } => format!("quarantined:{file}"),
        })
        .collect()
}

/// Drains a source from `from`; returns the records' ids and the final cursor.
async fn drain<S: Source>(
    src: &mut S,
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
        if page.records.len() > max_page {
            return Err(format!(
                "page of {} records, above the configured {max_page}",
                page.records.len()
            ));
        }
        ids.extend(ids_of(&page.records));
        if page.next.is_none() && page.has_more {
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

/// Runs every check against `h`; the first failure is returned as `Err` with its reason.
pub async fn suite<H: Harness>(h: &H) -> Result<Report, String> {
    let capture = Capture::default();
    let dispatch = tracing::Dispatch::new(capture.clone());
    let guard = tracing::dispatcher::set_default(&dispatch);
    // callsites first hit on other threads (no subscriber) may have cached "never": re-ask
    tracing::callsite::rebuild_interest_cache();
    let mut report = Report::default();
    let mut shown = String::new(); // every error and Debug text the suite saw
    let result = run(h, &mut report, &mut shown).await;
    drop(guard);
    result?;
    let logs = capture.text();
    for secret in h.secrets().iter().filter(|s| !s.is_empty()) {
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

async fn run<H: Harness>(h: &H, report: &mut Report, shown: &mut String) -> Result<(), String> {
    let max_page = h.max_page();
    let mut conn = h.connector().await.map_err(|e| format!("connector: {e}"))?;
    let _ = write!(shown, "{conn:?}");
    conn.check()
        .await
        .map_err(|e| format!("check with valid credentials failed: {e}"))?;
    report.passed.push("check() with valid credentials".into());

    // bounded pages, forward-only cursor, full coverage
    let max_pages = h.min_records() / max_page.max(1) + 50;
    let (ids, end) = drain(&mut conn, None, max_page, max_pages).await?;
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
    let (again, _) = drain(&mut conn, end.clone(), max_page, max_pages).await?;
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
    // replaying from the start gives the same first page (reads are repeatable)
    let p1 = conn.pull(None).await.map_err(|e| e.to_string())?;
    let p2 = conn.pull(None).await.map_err(|e| e.to_string())?;
    // (the next cursors may differ: a cursor may record the server's clock)
    check(
        ids_of(&p1.records) == ids_of(&p2.records),
        "two pulls from the same cursor gave different records",
    )?;
    report
        .passed
        .push("pull from the same cursor is repeatable".into());

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
        let fresh = h.connector().await.map_err(|e| e.to_string())?;
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

    // error classification
    match h.connector_with_bad_password().await {
        Err(e) => {
            let _ = write!(shown, "{e} {e:?}");
            check(
                matches!(e, ConnectorError::Config(_)),
                &format!("bad password at construction gave {e:?}"),
            )?;
        }
        Ok(bad) => {
            let _ = write!(shown, "{bad:?}");
            let e = bad
                .check()
                .await
                .err()
                .ok_or("check() with a bad password succeeded")?;
            let _ = write!(shown, "{e} {e:?}");
            check(
                matches!(e, ConnectorError::Config(_)),
                &format!("bad password gave {e:?}, expected Config"),
            )?;
        }
    }
    report.passed.push("bad password → Config".into());
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
            .push("expired session: target cannot inject it".into());
    }
    if h.inject(Fault::ServerError) {
        let e = conn
            .pull(None)
            .await
            .err()
            .ok_or("pull during a 503 succeeded")?;
        let _ = write!(shown, "{e} {e:?}");
        check(
            e.is_transient(),
            &format!("503 gave {e:?}, expected Transient"),
        )?;
        conn.pull(None)
            .await
            .map_err(|e| format!("pull after the 503 failed: {e}"))?;
        report
            .passed
            .push("5xx → Transient, next call works".into());
    } else {
        report.skipped.push("5xx: target cannot inject it".into());
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
                .push("business-rule refusal (UserError) → Permanent, not marked applied".into());
        }
        None => report
            .skipped
            .push("business-rule refusal: no refused command and no injection".into()),
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
    }
}
