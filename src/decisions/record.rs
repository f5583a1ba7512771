//! Recording a decision (checked, then one inbox entry per idempotency key) and reading the
//! decisions back with where each stands.

use super::facts::StoreFacts;
use super::state::{Applied, Outcome};
use super::validate;
use super::{Decision, DecisionError, Envelope, AUDIT_DECISION, INBOX_KIND_PREFIX};
use crate::config::CompanyConfig;
use crate::store::{InboxEntry, InboxItem, Store, StoreError};
use chrono::{DateTime, Utc};
use relance_core::{CompanyId, CustomerId, InvoiceId, TransactionId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What the inbox holds for a decision: the envelope and the state it was decided on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboxBody {
    /// The decision as the client sent it.
    pub envelope: Envelope,
    /// The state it was checked against when recorded.
    pub before: serde_json::Value,
}

/// Where a recorded decision stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Recorded; the company's next cycle applies it.
    Pending,
    /// Applied by a cycle, at this instant.
    Applied {
        /// When.
        at: DateTime<Utc>,
    },
    /// Refused by the cycle that came to it (the state had changed), with the reasons.
    Refused {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        reasons: Vec<super::FieldError>,
    },
}

/// The answer to [`record`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// Its position in the company's inbox.
    pub seq: u64,
    /// The client's key.
    pub key: String,
    /// False when this key was already recorded for the same decision: nothing new was
    /// recorded (the same decision twice has one effect).
    pub new: bool,
    /// The decision's type.
    pub kind: String,
    /// The state it was checked against.
    pub before: serde_json::Value,
    /// Pending, applied or refused.
    pub status: Status,
}

/// Checks `env` against the store's current state and records it in `company`'s inbox, for
/// the next cycle to apply. The same key with the same decision answers the first recording
/// again (`new: false`); the same key with another decision is refused.
pub fn record<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    env: Envelope,
) -> Result<Recorded, DecisionError> {
    let cid = &company.id;
    if let Some(existing) = store.inbox_by_key(cid, &env.key)? {
        return same_or_reused(store, cid, &env, existing);
    }
    let facts = StoreFacts::load(store, cid)?;
    let checked = match validate::check(&env, &facts, company)? {
        Ok(c) => c,
        Err(errors) => return Err(DecisionError::Invalid(errors)),
    };
    let body = InboxBody {
        envelope: env.clone(),
        before: checked.before.clone(),
    };
    let item = InboxItem {
        key: env.key.clone(),
        kind: format!("{INBOX_KIND_PREFIX}{}", env.decision.kind()),
        recorded_at: env.at,
        actor: env.actor.clone(),
        body: serde_json::to_value(&body).map_err(|e| StoreError::Codec {
            key: format!("inbox/{}", env.key),
            source: e,
        })?,
    };
    match store.inbox_record(cid, item)? {
        Some(seq) => Ok(Recorded {
            seq,
            key: env.key,
            new: true,
            kind: env.decision.kind().to_owned(),
            before: checked.before,
            status: Status::Pending,
        }),
        // Another request recorded the same key between our look-up and our write.
        None => match store.inbox_by_key(cid, &env.key)? {
            Some(existing) => same_or_reused(store, cid, &env, existing),
            None => Err(DecisionError::NotFound(format!(
                "inbox entry {:?} vanished while being recorded",
                env.key
            ))),
        },
    }
}

fn same_or_reused<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    env: &Envelope,
    existing: InboxEntry,
) -> Result<Recorded, DecisionError> {
    let body: Option<InboxBody> = serde_json::from_value(existing.item.body.clone()).ok();
    let same = body.as_ref().is_some_and(|b| {
        b.envelope.decision == env.decision
            && b.envelope.actor == env.actor
            && b.envelope.reason_text() == env.reason_text()
    });
    if !same {
        return Err(DecisionError::KeyReused {
            key: env.key.clone(),
            seq: existing.seq,
        });
    }
    let status = status_of(store, company, &existing)?;
    Ok(Recorded {
        seq: existing.seq,
        key: existing.item.key,
        new: false,
        kind: env.decision.kind().to_owned(),
        before: body.map(|b| b.before).unwrap_or_default(),
        status,
    })
}

fn status_of<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    e: &InboxEntry,
) -> Result<Status, StoreError> {
    if e.done_at.is_none() {
        return Ok(Status::Pending);
    }
    let applied = applied_by_key(store, company)?;
    Ok(status_from(e, applied.get(&e.item.key)))
}

fn status_from(e: &InboxEntry, a: Option<&Applied>) -> Status {
    match (e.done_at, a) {
        (None, _) => Status::Pending,
        (Some(at), Some(a)) => match &a.outcome {
            Outcome::Applied => Status::Applied { at },
            Outcome::Refused { reasons } => Status::Refused {
                at,
                reasons: reasons.clone(),
            },
        },
        (Some(at), None) => Status::Applied { at },
    }
}

fn applied_by_key<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<HashMap<String, Applied>, StoreError> {
    Ok(
        crate::ledger::audit_of_kinds(store, company, &[AUDIT_DECISION])?
            .into_iter()
            .filter_map(|e| serde_json::from_value::<Applied>(e.explanation).ok())
            .map(|a| (a.key.clone(), a))
            .collect(),
    )
}

/// A decision as the audit log and the timeline show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionView {
    /// Position in the company's inbox.
    pub seq: u64,
    /// The client's key.
    pub key: String,
    /// Its type.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// When decided.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: Option<String>,
    /// What (absent when this build cannot read it).
    pub decision: Option<Decision>,
    /// The state before, as recorded.
    pub before: serde_json::Value,
    /// What it changed, as applied (null while pending).
    pub after: serde_json::Value,
    /// Pending, applied or refused.
    pub status: Status,
    /// The customer it concerns, when known.
    pub customer: Option<CustomerId>,
    /// The invoices it names.
    pub invoices: Vec<InvoiceId>,
    /// The receipt it names.
    pub transaction: Option<TransactionId>,
}

/// Which decisions to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only those not yet applied.
    #[serde(default)]
    pub pending_only: bool,
    /// Only those concerning this customer.
    #[serde(default)]
    pub customer: Option<CustomerId>,
    /// Only those naming this invoice.
    #[serde(default)]
    pub invoice: Option<InvoiceId>,
    /// Only those by this actor.
    #[serde(default)]
    pub actor: Option<String>,
}

/// The company's decisions in recording order, with where each stands.
pub fn decisions<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    filter: &Filter,
) -> Result<Vec<DecisionView>, StoreError> {
    let entries = store.inbox(company, 0, usize::MAX, filter.pending_only)?;
    let applied = applied_by_key(store, company)?;
    let mut out = Vec::new();
    for e in entries {
        if !e.item.kind.starts_with(INBOX_KIND_PREFIX) {
            continue;
        }
        let body: Option<InboxBody> = serde_json::from_value(e.item.body.clone()).ok();
        let a = applied.get(&e.item.key);
        let decision = body.as_ref().map(|b| b.envelope.decision.clone());
        // The customer of a decision naming only invoices or a receipt is the one the
        // audit's "before" names.
        let before = body.as_ref().map(|b| b.before.clone()).unwrap_or_default();
        let customer = decision
            .as_ref()
            .and_then(|d| d.customer().cloned())
            .or_else(|| {
                before
                    .pointer("/invoice/customer")
                    .and_then(|v| v.as_str())
                    .map(CustomerId::new)
            })
            .or_else(|| {
                before
                    .get("customer")
                    .and_then(|v| v.as_str())
                    .map(CustomerId::new)
            });
        let invoices: Vec<InvoiceId> = decision
            .as_ref()
            .map(|d| d.invoices().into_iter().cloned().collect())
            .unwrap_or_default();
        let v = DecisionView {
            seq: e.seq,
            kind: e.item.kind.trim_start_matches(INBOX_KIND_PREFIX).to_owned(),
            actor: e.item.actor.clone(),
            at: e.item.recorded_at,
            reason: body.as_ref().and_then(|b| b.envelope.reason.clone()),
            transaction: decision.as_ref().and_then(|d| d.transaction().cloned()),
            decision,
            before,
            after: a.map(|a| a.after.clone()).unwrap_or_default(),
            status: status_from(&e, a),
            customer,
            invoices,
            key: e.item.key,
        };
        if filter
            .customer
            .as_ref()
            .is_some_and(|c| v.customer.as_ref() != Some(c))
            || filter
                .invoice
                .as_ref()
                .is_some_and(|i| !v.invoices.contains(i))
            || filter.actor.as_ref().is_some_and(|a| &v.actor != a)
        {
            continue;
        }
        out.push(v);
    }
    Ok(out)
}
