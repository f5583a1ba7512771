//! What the decisions applied so far add up to: links confirmed and rejected, receipts
//! assigned, pauses in force, letters waiting or released, rate overrides.
//!
//! Folded from the audit log alone (events [`AUDIT_DECISION`] and
//! [`AUDIT_APPROVAL_REQUESTED`]), so it can be rebuilt from what was committed, by any
//! instance; the cycle folds in each decision it applies, so a later decision of the same
//! cycle sees the earlier ones.

use super::{
    Decision, FieldError, AUDIT_APPROVAL_REQUESTED, AUDIT_CLOSING_DRAFT, AUDIT_DECISION,
    ENVELOPE_VERSION,
};
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use relance_core::dunning::Action;
use relance_core::provision::RateOverride;
use relance_core::{CompanyId, CustomerId, InvoiceId, TransactionId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a cycle ended a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Its effects were committed with this event.
    Applied,
    /// It no longer held when the cycle came to it (the state had changed since it was
    /// recorded): nothing was done.
    Refused {
        /// Why, field by field.
        reasons: Vec<FieldError>,
    },
}

/// A decision as a cycle applied or refused it: the explanation of its audit event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// Envelope version it was recorded with.
    #[serde(default = "v1")]
    pub v: u32,
    /// Its inbox sequence number.
    pub seq: u64,
    /// The client's idempotency key.
    pub key: String,
    /// Who decided.
    pub actor: String,
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// What.
    pub decision: Decision,
    /// The state it was decided on, as recorded.
    pub before: serde_json::Value,
    /// The state it left (what it changed), as applied.
    pub after: serde_json::Value,
    /// Applied or refused.
    pub outcome: Outcome,
    /// When the cycle applied it.
    pub applied_at: DateTime<Utc>,
}

fn v1() -> u32 {
    ENVELOPE_VERSION
}

impl Applied {
    /// True when its effects were committed.
    pub fn is_applied(&self) -> bool {
        self.outcome == Outcome::Applied
    }
}

/// The text of a letter as a person sees and approves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterText {
    /// Subject line.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Template it was rendered from (`edited` once a person changed it).
    pub template: String,
}

/// A dunning action held for a person's approval: its rendered letter, and the outbox
/// entries it will make once approved (none exists before).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The action, as planned.
    pub action: Action,
    /// The rendered message (the letter's text).
    pub text: LetterText,
    /// File name of the PDF letter under the company's `letters/` folder, when there is one.
    #[serde(default)]
    pub letter: Option<String>,
    /// Keys of the outbox entries it will make, in order.
    pub entries: Vec<String>,
    /// When it was planned.
    pub requested_at: DateTime<Utc>,
}

/// Where a letter waiting for approval stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LetterStatus {
    /// Waiting for a person.
    Waiting,
    /// Released for delivery.
    Approved {
        /// Who.
        by: String,
        /// When.
        at: DateTime<Utc>,
        /// Not delivered before this day (reschedule).
        #[serde(default)]
        not_before: Option<NaiveDate>,
        /// True when a person changed its text.
        edited: bool,
    },
    /// Never to be sent.
    Cancelled {
        /// Who.
        by: String,
        /// When.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
}

/// A letter held for approval and what people decided about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LetterState {
    /// The request, as planned.
    pub request: ApprovalRequest,
    /// The text to send (the request's, or the edited one).
    pub text: LetterText,
    /// Waiting, approved or cancelled.
    pub status: LetterStatus,
}

/// A pause recorded by a decision, and its end if a person ended it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PauseRecord {
    /// The key of the decision that recorded it.
    pub key: String,
    /// Who recorded it.
    pub actor: String,
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// Why (for a dispute: what the customer says).
    pub reason: String,
    /// The pause decision.
    pub decision: Decision,
    /// The invoices it covers, as resolved when applied; empty for every invoice of the
    /// customer (a hold, a dispute or a procédure collective of the whole customer).
    #[serde(default)]
    pub invoices: Vec<InvoiceId>,
    /// Ended by a person: when, by whom, why.
    pub ended: Option<(DateTime<Utc>, String, String)>,
}

/// A receipt confirmed as (part of) the payment of an invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoice.
    pub invoice: InvoiceId,
    /// The amount applied.
    pub amount: Decimal,
}

/// Everything the decisions applied so far add up to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecisionState {
    /// Receipts confirmed as payments (confirm, split, reassign), in decision order.
    pub confirmed: Vec<Link>,
    /// Pairs people rejected: never proposed again.
    pub rejected: BTreeSet<(TransactionId, InvoiceId)>,
    /// Receipts assigned to a customer.
    pub assigned: BTreeMap<TransactionId, CustomerId>,
    /// Pauses, in decision order (ended ones kept, with their end).
    pub pauses: Vec<PauseRecord>,
    /// Letters held for approval, by action key.
    pub letters: BTreeMap<String, LetterState>,
    /// Rate overrides for closings.
    pub overrides: Vec<RateOverride>,
    /// Keys of the decisions applied (or refused) so far.
    pub seen: BTreeSet<String>,
    /// Letters marked as posted, by dunning action key: who, and the day posted.
    pub posted: BTreeMap<String, (String, NaiveDate)>,
}

impl DecisionState {
    /// Folds the company's audit log.
    pub fn load<S: Store + ?Sized>(store: &S, company: &CompanyId) -> Result<Self, StoreError> {
        let mut st = DecisionState::default();
        for e in crate::ledger::audit_of_kinds(
            store,
            company,
            &[AUDIT_DECISION, AUDIT_APPROVAL_REQUESTED],
        )? {
            if e.kind == AUDIT_DECISION {
                match serde_json::from_value::<Applied>(e.explanation) {
                    Ok(a) => st.fold(&a),
                    Err(err) => {
                        tracing::warn!(company = %company, subject = %e.subject, "unreadable decision event, left out: {err}")
                    }
                }
            } else {
                match serde_json::from_value::<ApprovalRequest>(e.explanation) {
                    Ok(r) => st.request(r),
                    // A letter that cannot be read back would wait for nobody, unseen.
                    Err(err) => {
                        tracing::error!(company = %company, subject = %e.subject, "unreadable approval request, its letter is not listed: {err}")
                    }
                }
            }
        }
        Ok(st)
    }

    /// Adds a letter held for approval (a second request for the same action is ignored).
    pub fn request(&mut self, r: ApprovalRequest) {
        let key = r.action.key.clone();
        self.letters.entry(key).or_insert_with(|| LetterState {
            text: r.text.clone(),
            request: r,
            status: LetterStatus::Waiting,
        });
    }

    /// Folds one decision applied (refused ones change nothing but are remembered).
    pub fn fold(&mut self, a: &Applied) {
        self.seen.insert(a.key.clone());
        if !a.is_applied() {
            return;
        }
        let reason = a.reason.clone().unwrap_or_default();
        match &a.decision {
            Decision::ConfirmMatch(d) => {
                let amount = a
                    .after
                    .get("amount")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok())
                    .or(d.amount)
                    .unwrap_or_default();
                self.confirm(&d.transaction, &d.invoice, amount);
            }
            Decision::SplitReceipt(d) => {
                self.confirmed.retain(|l| l.transaction != d.transaction);
                for p in &d.parts {
                    self.confirm(&d.transaction, &p.invoice, p.amount);
                }
            }
            Decision::ReassignMatch(d) => {
                let pair = (d.transaction.clone(), d.from_invoice.clone());
                self.confirmed
                    .retain(|l| (&l.transaction, &l.invoice) != (&pair.0, &pair.1));
                self.rejected.insert(pair);
                let amount = a
                    .after
                    .get("amount")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok())
                    .or(d.amount)
                    .unwrap_or_default();
                self.confirm(&d.transaction, &d.to_invoice, amount);
            }
            Decision::RejectMatch(d) => {
                self.confirmed
                    .retain(|l| !(l.transaction == d.transaction && l.invoice == d.invoice));
                self.rejected
                    .insert((d.transaction.clone(), d.invoice.clone()));
            }
            Decision::AssignReceipt(d) => {
                self.assigned
                    .insert(d.transaction.clone(), d.customer.clone());
            }
            Decision::LettersPosted(d) => {
                let day = d.date.unwrap_or(a.at.date_naive());
                for k in &d.actions {
                    self.posted
                        .entry(k.clone())
                        .or_insert_with(|| (a.actor.clone(), day));
                }
            }
            Decision::CallOutcome(d) if !d.outcome.is_pause() => {}
            Decision::Dispute(_)
            | Decision::PromiseToPay(_)
            | Decision::PaymentPlan(_)
            | Decision::Hold(_)
            | Decision::CallOutcome(_)
            | Decision::ProcedureCollective(_) => self.pauses.push(PauseRecord {
                key: a.key.clone(),
                actor: a.actor.clone(),
                at: a.at,
                reason,
                decision: a.decision.clone(),
                invoices: a
                    .after
                    .get("invoices")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default(),
                ended: None,
            }),
            Decision::EndPause(d) => {
                if let Some(p) = self.pauses.iter_mut().find(|p| p.key == d.pause) {
                    p.ended = Some((a.at, a.actor.clone(), reason));
                }
            }
            Decision::ApproveLetter(d) => self.release(&d.action, a, None, None),
            Decision::EditLetter(d) => {
                let subject = d.subject.clone();
                let body = d.body.clone();
                self.release(&d.action, a, None, Some((subject, body)));
            }
            Decision::RescheduleLetter(d) => self.release(&d.action, a, Some(d.date), None),
            Decision::CancelLetter(d) => {
                if let Some(l) = self.letters.get_mut(&d.action) {
                    l.status = LetterStatus::Cancelled {
                        by: a.actor.clone(),
                        at: a.at,
                        reason,
                    };
                }
            }
            Decision::OverrideRate(d) => {
                self.overrides
                    .retain(|o| o.invoice != d.invoice || o.date != d.closing);
                self.overrides.push(RateOverride {
                    invoice: d.invoice.clone(),
                    rate: d.rate,
                    by: a.actor.clone(),
                    reason,
                    date: d.closing,
                });
            }
            Decision::WriteOff(_) | Decision::ApproveClosing(_) | Decision::RetryDeadLetter(_) => {}
        }
    }

    fn confirm(&mut self, tx: &TransactionId, inv: &InvoiceId, amount: Decimal) {
        self.rejected.remove(&(tx.clone(), inv.clone()));
        self.confirmed
            .retain(|l| !(&l.transaction == tx && &l.invoice == inv));
        self.confirmed.push(Link {
            transaction: tx.clone(),
            invoice: inv.clone(),
            amount,
        });
    }

    fn release(
        &mut self,
        action: &str,
        a: &Applied,
        not_before: Option<NaiveDate>,
        edit: Option<(Option<String>, String)>,
    ) {
        let Some(l) = self.letters.get_mut(action) else {
            return;
        };
        let edited = edit.is_some();
        if let Some((subject, body)) = edit {
            if let Some(s) = subject {
                l.text.subject = s;
            }
            l.text.body = body;
            l.text.template = "edited".to_owned();
        }
        l.status = LetterStatus::Approved {
            by: a.actor.clone(),
            at: a.at,
            not_before,
            edited,
        };
    }

    /// Pauses not ended by a person, in decision order.
    pub fn active_pauses(&self) -> impl Iterator<Item = &PauseRecord> {
        self.pauses.iter().filter(|p| p.ended.is_none())
    }

    /// Keys of the dunning actions people cancelled.
    pub fn cancelled_actions(&self) -> BTreeSet<&str> {
        self.letters
            .iter()
            .filter(|(_, l)| matches!(l.status, LetterStatus::Cancelled { .. }))
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Letters still waiting for a person.
    pub fn waiting(&self) -> impl Iterator<Item = &LetterState> {
        self.letters
            .values()
            .filter(|l| l.status == LetterStatus::Waiting)
    }
}

/// The audit kinds whose events describe decisions and their consequences (for listings).
pub const DECISION_KINDS: [&str; 3] = [
    AUDIT_DECISION,
    AUDIT_APPROVAL_REQUESTED,
    AUDIT_CLOSING_DRAFT,
];
