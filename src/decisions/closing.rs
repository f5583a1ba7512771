//! Closings run by the daemon: at each of the company's closing dates
//! (`provision.closing_dates`) the doubtful-debt table is computed as a draft (store state
//! `Computed`, the table and its evidence in an audit event [`AUDIT_CLOSING_DRAFT`]), computed
//! again while data dated before the closing still arrives; a person approves it (after rate
//! overrides, if any) and the approval books it through the outbox (`Queued`), `Posted` once
//! every move is applied. The FEC and CSV exports of a closing are built from its draft.

use super::apply::ApplyContext;
use super::facts::{Facts as _, LedgerFacts};
use super::inputs;
use super::state::DecisionState;
use super::{DecisionError, FieldError, AUDIT_CLOSING_DRAFT, AUDIT_CLOSING_POSTED};
use crate::config::CompanyConfig;
use crate::ledger::{self, Ledger, AUDIT_PROVISION_STATE};
use crate::registry::TARGET_TASKS;
use crate::store::{
    AuditEvent, Batch, OutboxState, ProvisionLine, ProvisionState, ProvisionStatus, Store,
    StoreError,
};
use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::IdempotencyKey;
use relance_connectors::formats::fec;
use relance_core::provision::{ClosingInput, ClosingTable, ProvisionError};
use relance_core::CompanyId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A closing's draft: the table a person reviews, with a digest to approve exactly it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// The closing date.
    pub closing: NaiveDate,
    /// Hex digest of the table (an approval naming it is refused once the table changed).
    pub digest: String,
    /// The table: lines with their criteria, evidence, rates and justification; the entries.
    pub table: ClosingTable,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
}

/// The audit subject of a closing.
pub fn subject(closing: NaiveDate) -> String {
    format!("closing {closing}")
}

/// The digest of a table.
pub fn digest(table: &ClosingTable) -> String {
    let bytes = serde_json::to_vec(table).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..16])
}

/// The latest draft of a closing, if the daemon computed one.
pub fn latest_draft<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    closing: NaiveDate,
) -> Result<Option<Draft>, StoreError> {
    let want = subject(closing);
    Ok(ledger::audit_of_kind(store, company, AUDIT_CLOSING_DRAFT)?
        .into_iter()
        .rev()
        .filter(|e| e.subject == want)
        .find_map(|e| serde_json::from_value(e.explanation).ok()))
}

/// The closing input as of `closing`: the ledger's receivables, the credit events recorded
/// (before decisions existed, and by decisions) merged with those the dunning history shows
/// (actions sent, not those waiting for approval or cancelled), the previous closing's state,
/// and the rate overrides people decided.
pub fn input<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    ledger: &Ledger,
    state: &DecisionState,
    closing: NaiveDate,
) -> Result<ClosingInput, StoreError> {
    let id = &company.id;
    let mut events = inputs::credit_events(store, id, state)?;
    let history = inputs::sent_history(store, id, state)?;
    let pauses = inputs::pauses(store, id, ledger, state, closing)?;
    relance_core::provision::merge_derived(
        &mut events,
        relance_core::provision::from_dunning(&history, &pauses),
    );
    let previous = ledger::previous_provision_state(store, id, closing)?;
    let mut input = ledger::closing_input(id, company.currency, ledger, events, previous);
    input.overrides = state.overrides.clone();
    Ok(input)
}

/// Computes the closing table as of `closing`.
pub fn compute<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    ledger: &Ledger,
    state: &DecisionState,
    closing: NaiveDate,
) -> Result<Result<ClosingTable, ProvisionError>, StoreError> {
    let input = input(store, company, ledger, state, closing)?;
    Ok(relance_core::provision::closing(
        &input,
        &company.provision,
        closing,
    ))
}

fn lines(table: &ClosingTable) -> Vec<ProvisionLine> {
    table
        .lines
        .iter()
        .map(|l| ProvisionLine {
            invoice: l.invoice.clone(),
            customer: l.customer.clone(),
            base: l.base_ht,
            rate: l.rate,
            amount: l.new_provision,
            reclassified_416: l.doubtful_after > rust_decimal::Decimal::ZERO,
            rule: l.rate_rule.clone(),
        })
        .collect()
}

/// The cycle's closing step: closings whose moves are all applied become `Posted`; on or
/// after the latest configured closing date, that closing's draft is computed (again, while it
/// is not approved) and recorded when it changed.
pub fn cycle_step<S: Store + ?Sized>(
    store: &S,
    cx: &ApplyContext<'_>,
    ledger: &Ledger,
    state: &DecisionState,
    today: NaiveDate,
) -> anyhow::Result<Batch> {
    let id = &cx.company.id;
    let mut batch = Batch::default();
    for mut p in store.provisions(id)? {
        if p.status != ProvisionStatus::Queued {
            continue;
        }
        let mut all = true;
        for k in &p.move_keys {
            let done = store
                .outbox_entry(id, k)?
                .is_some_and(|e| matches!(e.state, OutboxState::Done { .. }));
            all &= done;
        }
        if all {
            p.status = ProvisionStatus::Posted;
            p.updated_at = cx.now;
            batch.audit.push(AuditEvent {
                at: cx.now,
                kind: AUDIT_CLOSING_POSTED.to_owned(),
                subject: subject(p.closing),
                summary: format!("closing {}: {} moves posted", p.closing, p.move_keys.len()),
                explanation: json!({ "moves": p.move_keys }),
            });
            batch.provisions.push(p);
        }
    }
    let Some(closing) = cx.company.provision.latest_closing(today) else {
        return Ok(batch);
    };
    if store
        .provision(id, closing)?
        .is_some_and(|s| s.status != ProvisionStatus::Computed)
    {
        return Ok(batch);
    }
    let table = match compute(store, cx.company, ledger, state, closing)? {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(company = %id, %closing, "closing draft not computed: {e}");
            return Ok(batch);
        }
    };
    let d = digest(&table);
    if latest_draft(store, id, closing)?.is_some_and(|x| x.digest == d) {
        return Ok(batch);
    }
    draft_records(&mut batch, cx.now, table, d);
    Ok(batch)
}

/// The records of a draft: the closing `Computed` with its lines, and the table in the audit.
pub fn draft_records(batch: &mut Batch, now: DateTime<Utc>, table: ClosingTable, digest: String) {
    let closing = table.closing_date;
    batch.provisions.push(ProvisionState {
        closing,
        status: ProvisionStatus::Computed,
        lines: lines(&table),
        move_keys: Vec::new(),
        updated_at: now,
    });
    batch.audit.push(AuditEvent {
        at: now,
        kind: AUDIT_CLOSING_DRAFT.to_owned(),
        subject: subject(closing),
        summary: format!(
            "closing {closing}: draft of {} lines, {} entries (+68174 {}, -78174 {}), waiting for approval",
            table.lines.len(),
            table.entries.len(),
            table.totals.increase,
            table.totals.decrease
        ),
        explanation: serde_json::to_value(Draft {
            closing,
            digest,
            table,
            computed_at: now,
        })
        .unwrap_or_default(),
    });
}

/// The records that book a closing table: its moves in the outbox (to the system of record,
/// or the tasks folder without one), the resulting provision state (the next closing's
/// previous state), and the closing `Queued` (`Posted` at once when there is nothing to post).
pub fn booking(
    batch: &mut Batch,
    company: &CompanyConfig,
    table: &ClosingTable,
    now: DateTime<Utc>,
    writeback: Option<&str>,
    by: &str,
) -> Vec<IdempotencyKey> {
    let target = writeback.unwrap_or(TARGET_TASKS);
    let mut keys = Vec::new();
    for e in &table.entries {
        let (key, cmd) = fec::post_move(&company.id, e);
        keys.push(key.clone());
        batch
            .outbox_new
            .push(crate::store::OutboxEntry::new(key, target, cmd, now));
    }
    batch.audit.push(AuditEvent {
        at: now,
        kind: AUDIT_PROVISION_STATE.to_owned(),
        subject: subject(table.closing_date),
        summary: format!(
            "closing {}: {} entries booked ({by})",
            table.closing_date,
            table.entries.len()
        ),
        explanation: serde_json::to_value(&table.state).unwrap_or_default(),
    });
    batch.provisions.push(ProvisionState {
        closing: table.closing_date,
        status: if keys.is_empty() {
            ProvisionStatus::Posted
        } else {
            ProvisionStatus::Queued
        },
        lines: lines(table),
        move_keys: keys.clone(),
        updated_at: now,
    });
    keys
}

/// Books an approved closing: the table computed now must be the draft the person saw.
pub fn book<S: Store + ?Sized>(
    facts: &mut LedgerFacts<'_, S>,
    cx: &ApplyContext<'_>,
    closing: NaiveDate,
    reviewed: Option<&str>,
    batch: &mut Batch,
) -> anyhow::Result<Result<serde_json::Value, Vec<FieldError>>> {
    let table = match compute(
        facts.store(),
        cx.company,
        &facts.ledger,
        &facts.state,
        closing,
    )? {
        Ok(t) => t,
        Err(e) => {
            return Ok(Err(vec![FieldError::new(
                "decision.closing",
                format!("the closing cannot be computed: {e}"),
            )]))
        }
    };
    let now_digest = digest(&table);
    let drafted = facts.draft_digest(closing)?;
    if drafted.as_deref() != Some(now_digest.as_str()) || reviewed.is_some_and(|r| r != now_digest)
    {
        // Record the new draft so the person reviews it.
        draft_records(batch, cx.now, table, now_digest.clone());
        facts.drafts.insert(closing, now_digest.clone());
        return Ok(Err(vec![FieldError::new(
            "decision.draft",
            format!("the draft of the closing of {closing} changed since it was reviewed (now {now_digest}): review it again"),
        )]));
    }
    let keys = booking(batch, cx.company, &table, cx.now, cx.writeback, "approved");
    if let Some(p) = batch.provisions.last() {
        facts.closings.insert(closing, p.clone());
    }
    Ok(Ok(json!({
        "closing": closing,
        "digest": now_digest,
        "entries": keys,
        "totals": table.totals,
    })))
}

/// A closing as the console lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosingView {
    /// The closing date.
    pub closing: NaiveDate,
    /// Draft (computed), queued or posted.
    pub status: ProvisionStatus,
    /// The latest draft (table with evidence), when there is one.
    pub draft: Option<Draft>,
    /// Keys of the moves booked.
    pub move_keys: Vec<IdempotencyKey>,
    /// Of those, the ones applied in the system of record.
    pub posted: usize,
}

/// Every closing of the company with its state and latest draft, latest first.
pub fn drafts<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<Vec<ClosingView>, StoreError> {
    let mut out = Vec::new();
    for p in store.provisions(company)?.into_iter().rev() {
        let mut posted = 0;
        for k in &p.move_keys {
            if store
                .outbox_entry(company, k)?
                .is_some_and(|e| matches!(e.state, OutboxState::Done { .. }))
            {
                posted += 1;
            }
        }
        out.push(ClosingView {
            closing: p.closing,
            status: p.status,
            draft: latest_draft(store, company, p.closing)?,
            move_keys: p.move_keys,
            posted,
        });
    }
    Ok(out)
}

/// A closing's exports: the FEC file of its entries and the CSV of its provision state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exports {
    /// FEC file name (`<SIREN>FEC<YYYYMMDD>.txt`).
    pub fec_name: String,
    /// FEC bytes (tab-separated, UTF-8, CR LF).
    pub fec: Vec<u8>,
    /// CSV file name.
    pub csv_name: String,
    /// CSV bytes.
    pub csv: Vec<u8>,
}

/// The exports of a table.
pub fn export_files(
    company: &CompanyConfig,
    customers: &[relance_core::Customer],
    table: &ClosingTable,
) -> Exports {
    let siren = company
        .siren
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "000000000".into());
    let ctx = fec::FecContext {
        customer_names: customers
            .iter()
            .map(|c| (c.id.as_str().to_owned(), c.name.clone()))
            .collect(),
        ..Default::default()
    };
    let (fec_name, fec) = fec::closing_file(table, &siren, &ctx, &fec::WriteOptions::default());
    Exports {
        fec_name,
        fec,
        csv_name: format!("provisions-{}-{}.csv", company.id, table.closing_date),
        csv: relance_core::provision::state_csv(table).into_bytes(),
    }
}

/// The exports of a closing's latest draft (the booked one, once approved).
pub fn exports<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    closing: NaiveDate,
) -> Result<Exports, DecisionError> {
    let Some(d) = latest_draft(store, &company.id, closing)? else {
        return Err(DecisionError::NotFound(format!(
            "no draft for the closing of {closing}"
        )));
    };
    let customers: Vec<relance_core::Customer> = store
        .customers(&company.id)?
        .into_iter()
        .map(|c| c.customer)
        .collect();
    Ok(export_files(company, &customers, &d.table))
}
