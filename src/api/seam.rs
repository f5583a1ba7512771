//! The one place where the API meets the decisions: which decision kinds exist, which role
//! each needs, and how a decision is recorded.
//!
//! A decision is recorded as an entry of the company's store inbox ([`Store::inbox_record`]):
//! keyed by the client's idempotency key (the same key twice records one entry), with who
//! sent it, when, and the decision as the client wrote it. The company's lease owner applies
//! it at its next cycle. Everything the API does with decisions goes through this module, so
//! the decisions engine plugs in here: its validation, its derived queues (letters waiting for
//! approval, probable payments held, the next run) and its recording function.

use crate::auth::Role;
use crate::store::{InboxEntry, Store, StoreError};
use chrono::{DateTime, Utc};
use relance_core::CompanyId;
use serde::{Deserialize, Serialize};

/// Every decision kind with the least role that may record it.
pub const KINDS: &[(&str, Role)] = &[
    ("confirm_match", Role::Collector),
    ("reject_match", Role::Collector),
    ("split_receipt", Role::Collector),
    ("reassign_match", Role::Collector),
    ("assign_receipt", Role::Collector),
    ("dispute", Role::Collector),
    ("promise_to_pay", Role::Collector),
    ("payment_plan", Role::Collector),
    ("hold", Role::Collector),
    ("procedure_collective", Role::Collector),
    ("end_pause", Role::Collector),
    ("retry_dead_letter", Role::Collector),
    ("call_outcome", Role::Collector),
    ("letters_posted", Role::Collector),
    ("write_off", Role::Approver),
    ("approve_letter", Role::Approver),
    ("edit_letter", Role::Approver),
    ("reschedule_letter", Role::Approver),
    ("cancel_letter", Role::Approver),
    ("approve_closing", Role::Approver),
    ("override_rate", Role::Approver),
];

/// Longest decision body accepted, in bytes of JSON.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest idempotency key accepted.
pub const MAX_KEY: usize = 200;
/// Inbox kinds of decisions start with this.
pub const KIND_PREFIX: &str = "decision.";

/// The least role that may record decisions of `kind`; `None` for an unknown kind.
pub fn role_for(kind: &str) -> Option<Role> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, r)| *r)
}

/// A decision as the API receives it.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The client's idempotency key.
    pub key: String,
    /// Who (user, token, local user).
    pub actor: String,
    /// When it was received.
    pub at: DateTime<Utc>,
    /// The decision (`{"type": …, …}`).
    pub decision: serde_json::Value,
}

/// What recording gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recorded {
    /// Stable id of the decision: `<company>:<sequence>`.
    pub id: String,
    /// Its sequence number in the company's inbox.
    pub seq: u64,
    /// True when this key had been recorded before (nothing new was recorded).
    pub duplicate: bool,
}

/// Why a decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum SeamError {
    /// The body is not a decision.
    #[error("{0}")]
    Invalid(String),
    /// The idempotency key was used before for another decision.
    #[error("idempotency key {0:?} was already used for another decision")]
    KeyReused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The decision's kind, checked: an object with a known `type`.
pub fn kind_of(decision: &serde_json::Value) -> Result<&str, SeamError> {
    let kind = decision
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| SeamError::Invalid("the decision has no \"type\"".to_owned()))?;
    if role_for(kind).is_none() {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(SeamError::Invalid(format!(
            "unknown decision type {kind:?}, expected one of {}",
            known.join(", ")
        )));
    }
    Ok(kind)
}

/// Records a decision for `company` (blocking: call it on the blocking pool): the decisions
/// engine checks it against the store's current state (every problem named by its field) and
/// records it in the company's inbox. A `reason` member of the body is the decision's reason.
/// The same key with the same decision again records nothing and answers the first one's id;
/// the same key with another decision is refused. Returns the inbox entry when one was made.
pub fn record(
    store: &dyn Store,
    company: &crate::config::CompanyConfig,
    envelope: Envelope,
) -> Result<(Recorded, Option<InboxEntry>), SeamError> {
    kind_of(&envelope.decision)?;
    let mut body = envelope.decision;
    let reason = match body.as_object_mut().and_then(|o| o.remove("reason")) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(r)) => Some(r),
        Some(_) => return Err(SeamError::Invalid("reason: a text is expected".into())),
    };
    let decision: crate::decisions::Decision = match serde_json::from_value(body) {
        Ok(d) => d,
        // A key already recorded names that decision: another body under it is a conflict,
        // whether or not it reads.
        Err(_) if store.inbox_by_key(&company.id, &envelope.key)?.is_some() => {
            return Err(SeamError::KeyReused(envelope.key));
        }
        Err(e) => {
            return Err(SeamError::Invalid(format!(
                "the decision does not read: {e}"
            )))
        }
    };
    let env = crate::decisions::Envelope {
        v: crate::decisions::ENVELOPE_VERSION,
        key: envelope.key.clone(),
        actor: envelope.actor,
        at: envelope.at,
        reason,
        decision,
    };
    let r = crate::decisions::record(store, company, env).map_err(|e| match e {
        crate::decisions::DecisionError::KeyReused { key, .. } => SeamError::KeyReused(key),
        crate::decisions::DecisionError::Store(e) => SeamError::Store(e),
        other => SeamError::Invalid(other.to_string()),
    })?;
    let entry = if r.new {
        store.inbox_by_key(&company.id, &envelope.key)?
    } else {
        None
    };
    Ok((
        Recorded {
            id: format!("{}:{}", company.id, r.seq),
            seq: r.seq,
            duplicate: !r.new,
        },
        entry,
    ))
}

/// The inbox entry recorded under `key`, if any.
pub fn find(
    store: &dyn Store,
    company: &CompanyId,
    key: &str,
) -> Result<Option<InboxEntry>, StoreError> {
    let mut from = 0;
    loop {
        let page = store.inbox(company, from, 10_000, false)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            return Ok(None);
        };
        if let Some(e) = page.into_iter().find(|e| e.item.key == key) {
            return Ok(Some(e));
        }
        from = last + 1;
    }
}
