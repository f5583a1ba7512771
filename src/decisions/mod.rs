//! Decisions made by people: what they are, how they are checked and recorded, and how the
//! next cycle applies them.
//!
//! A person (through the operator API, the console or `relance decide`) confirms or rejects a
//! match, records a customer's dispute or promise, approves a mise en demeure, approves a
//! closing… Each is an [`Envelope`]: the client's idempotency key, who, when, why, and the
//! [`Decision`] itself. [`record`] checks it against the store's current state (every problem
//! named by its field, all at once) and records it in the company's inbox
//! ([`Store::inbox_record`]): immutable, one entry per key, so the same decision sent twice has
//! one effect. Any instance may record; nothing else is written at that point.
//!
//! The company's next cycle ([`apply::apply_pending`], called by the pipeline) reads the pending
//! entries in order, checks each again against the state of that moment (another decision or a
//! bank file may have changed it), and turns it into its effects — allocations, outbox entries,
//! pauses, approvals, closings — committed in one batch with its audit event (kind
//! [`AUDIT_DECISION`]: who, when, why, the state before and after, applied or refused and why)
//! and the inbox entry marked done. A crash before that commit leaves the entry pending; after
//! it, done: a decision is applied once or not at all.
//!
//! Where each decision goes:
//!
//! | decision | effect in the next cycle |
//! |---|---|
//! | `confirm_match`, `split_receipt`, `reassign_match` | allocations stored as applied (auto), the reconciliation written back through the outbox; the payer's IBAN and name are learnt for the customer |
//! | `reject_match` | the pair is never proposed again (nor held as a probable payment); an applied allocation is undone, with a task to undo it in the system of record |
//! | `assign_receipt` | the payer's IBAN is learnt for the customer; the engine places the money among its items |
//! | `write_off` | the residue settled by a `PostMove` to the chosen account, with the reason |
//! | `dispute`, `promise_to_pay`, `payment_plan`, `hold`, `procedure_collective` | dunning pauses (and credit events for the provisions); a broken promise or a missed instalment resumes the dunning with an alert (escalated for a plan) |
//! | `end_pause` | the pause ends |
//! | `approve_letter`, `edit_letter`, `reschedule_letter`, `cancel_letter` | a letter waiting for approval is released (re-rendered when edited or rescheduled) or never sent |
//! | `override_rate`, `approve_closing` | the closing draft recomputed with the rate; approval books it through the outbox |
//! | `retry_dead_letter` | the outbox entry is delivered again |
//! | `call_outcome` | a note in the system of record; `promise` and `dispute` pause dunning as `promise_to_pay` and `dispute` do; `wrong_contact` holds the customer's call tasks, with an alert, until ended (`end_pause`); `reached` and `no_answer` change nothing else |
//! | `letters_posted` | the letters are no longer listed as to post (the worklist) |
//!
//! The functions the operator API and the CLI call, all independent of HTTP: [`record`],
//! [`decisions`] (the log), [`queries::letters_waiting`], [`queries::suggestions`],
//! [`queries::probable_payments`], [`queries::next_run`], [`closing::drafts`],
//! [`closing::exports`], and [`command::execute`] (one function per `relance decide`
//! subcommand).

pub mod apply;
pub mod closing;
pub mod command;
pub mod facts;
pub mod inputs;
pub mod queries;
pub mod record;
pub mod state;
pub mod validate;

pub use record::{decisions, record, DecisionView, Recorded};
pub use state::DecisionState;

use chrono::{DateTime, NaiveDate, Utc};
use relance_core::dunning::pause::Procedure;
use relance_core::{CustomerId, InvoiceId, TransactionId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;
/// Inbox kind prefix of decisions (`decision.confirm_match`…).
pub const INBOX_KIND_PREFIX: &str = "decision.";
/// Audit kind of a decision applied or refused by a cycle (explanation: [`state::Applied`]).
pub const AUDIT_DECISION: &str = "decision";
/// Audit kind of a dunning action held for a person's approval (explanation:
/// [`state::ApprovalRequest`]).
pub const AUDIT_APPROVAL_REQUESTED: &str = "approval.requested";
/// Audit kind of a closing draft computed by the daemon (explanation: [`closing::Draft`]).
pub const AUDIT_CLOSING_DRAFT: &str = "closing.draft";
/// Audit kind of a closing whose moves are all posted.
pub const AUDIT_CLOSING_POSTED: &str = "closing.posted";
/// Longest idempotency key, actor, or reason accepted (characters).
pub const MAX_TEXT: usize = 2000;
/// Longest edited letter body (characters).
pub const MAX_LETTER: usize = 20_000;

/// One decision as a client sends it: who, when, why and what, under the client's key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Envelope version ([`ENVELOPE_VERSION`]).
    #[serde(default = "envelope_version")]
    pub v: u32,
    /// The client's idempotency key: the same key twice records one decision.
    pub key: String,
    /// Who decided (user name, API token name).
    pub actor: String,
    /// When it was decided (an input: the API's clock, or the CLI's `--at`).
    pub at: DateTime<Utc>,
    /// Why: shown in the audit log; required by the decisions that say so
    /// ([`Decision::needs_reason`]).
    #[serde(default)]
    pub reason: Option<String>,
    /// What was decided.
    pub decision: Decision,
}

fn envelope_version() -> u32 {
    ENVELOPE_VERSION
}

impl Envelope {
    /// The reason, trimmed; empty when none was given.
    pub fn reason_text(&self) -> &str {
        self.reason.as_deref().map(str::trim).unwrap_or("")
    }
}

/// What a person decided. Tagged by `type` (`{"type": "confirm_match", …}`); each payload
/// refuses unknown fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Decision {
    /// A suggested match (or a probable payment held by the gate) is right: apply it.
    ConfirmMatch(ConfirmMatch),
    /// This receipt does not pay this invoice: never propose it again (an applied allocation
    /// is undone).
    RejectMatch(RejectMatch),
    /// The receipt pays several invoices, with these amounts.
    SplitReceipt(SplitReceipt),
    /// The receipt's allocation to one invoice belongs to another.
    ReassignMatch(ReassignMatch),
    /// The receipt comes from this customer (the invoice is left to the engine).
    AssignReceipt(AssignReceipt),
    /// Write off the residue left open on an invoice (a few cents short, a bank charge).
    WriteOff(WriteOff),
    /// The customer contests the invoice (or all its invoices).
    Dispute(Dispute),
    /// The customer promised to pay by a date.
    PromiseToPay(PromiseToPay),
    /// An agreed payment plan (échéancier).
    PaymentPlan(PaymentPlan),
    /// No dunning until a date.
    Hold(Hold),
    /// A sauvegarde, redressement or liquidation judiciaire was opened against the customer.
    ProcedureCollective(ProcedureCollective),
    /// End a pause recorded earlier (dispute settled, hold lifted…).
    EndPause(EndPause),
    /// Send a letter waiting for approval as rendered.
    ApproveLetter(LetterRef),
    /// Send a letter waiting for approval with this text instead.
    EditLetter(EditLetter),
    /// Send a letter waiting for approval, not before a date.
    RescheduleLetter(RescheduleLetter),
    /// Never send a letter waiting for approval (the plan does not propose it again for the
    /// same facts).
    CancelLetter(LetterRef),
    /// Book a closing's draft (doubtful-debt provisions) through the outbox.
    ApproveClosing(ApproveClosing),
    /// Use this rate for one invoice in a closing (and later ones) instead of the matrix.
    OverrideRate(OverrideRate),
    /// Deliver a dead-lettered outbox entry again.
    RetryDeadLetter(RetryDeadLetter),
    /// What came of a call to the customer (a call task of the worklist, or any call).
    CallOutcome(CallOutcome),
    /// The registered letters of these dunning actions were posted (printed and sent by
    /// LRAR): no longer listed as to post.
    LettersPosted(LettersPosted),
}

/// `confirm_match`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmMatch {
    /// The receipt (bank transaction id).
    pub transaction: TransactionId,
    /// The invoice it pays.
    pub invoice: InvoiceId,
    /// The amount applied; default: the suggestion's amount, else what the receipt still has
    /// up to the invoice's open amount.
    #[serde(default)]
    pub amount: Option<Decimal>,
}

/// `reject_match`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectMatch {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoice it does not pay.
    pub invoice: InvoiceId,
}

/// One part of a split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// The invoice (or credit note, with a negative amount).
    pub invoice: InvoiceId,
    /// The amount applied to it.
    pub amount: Decimal,
}

/// `split_receipt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitReceipt {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoices and amounts (suggestions of the receipt not listed are dropped).
    pub parts: Vec<Part>,
}

/// `reassign_match`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReassignMatch {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoice it is allocated (or suggested) to now.
    pub from_invoice: InvoiceId,
    /// The invoice it pays.
    pub to_invoice: InvoiceId,
    /// The amount; default: the current allocation's.
    #[serde(default)]
    pub amount: Option<Decimal>,
}

/// `assign_receipt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignReceipt {
    /// The receipt.
    pub transaction: TransactionId,
    /// The customer who paid it.
    pub customer: CustomerId,
}

/// `write_off`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteOff {
    /// The invoice.
    pub invoice: InvoiceId,
    /// The residue written off, tax included (at most the open amount).
    pub amount: Decimal,
    /// The account debited; default the policy's `provision.accounts.residue_write_off`.
    #[serde(default)]
    pub account: Option<String>,
}

/// `dispute` (the envelope's reason is the customer's complaint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispute {
    /// The customer.
    pub customer: CustomerId,
    /// The invoice; `None` for all the customer's invoices.
    #[serde(default)]
    pub invoice: Option<InvoiceId>,
    /// The disputed part; `None` for the whole invoice (the rest is dunned).
    #[serde(default)]
    pub amount: Option<Decimal>,
    /// Since when (default: the decision's date).
    #[serde(default)]
    pub since: Option<NaiveDate>,
    /// Until when dunning waits (included); `None` until a person ends it.
    #[serde(default)]
    pub until: Option<NaiveDate>,
}

/// `promise_to_pay`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromiseToPay {
    /// The customer.
    pub customer: CustomerId,
    /// The invoices the promise covers; empty for all the customer's open invoices.
    #[serde(default)]
    pub invoices: Vec<InvoiceId>,
    /// The promised date.
    pub date: NaiveDate,
    /// The promised amount; `None` for everything open on the invoices covered.
    #[serde(default)]
    pub amount: Option<Decimal>,
}

/// One instalment of a payment plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instalment {
    /// Due date.
    pub date: NaiveDate,
    /// Amount, tax included.
    pub amount: Decimal,
}

/// `payment_plan`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlan {
    /// The customer.
    pub customer: CustomerId,
    /// The invoices the plan covers; empty for all the customer's open invoices.
    #[serde(default)]
    pub invoices: Vec<InvoiceId>,
    /// The instalments, in date order; they add up to what is open on the invoices covered.
    pub instalments: Vec<Instalment>,
}

/// `hold`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// The customer.
    pub customer: CustomerId,
    /// The invoice; `None` for all the customer's invoices.
    #[serde(default)]
    pub invoice: Option<InvoiceId>,
    /// The last day of the hold.
    pub until: NaiveDate,
}

/// `procedure_collective`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureCollective {
    /// The customer.
    pub customer: CustomerId,
    /// Sauvegarde, redressement or liquidation.
    pub procedure: Procedure,
    /// Date of the opening judgment.
    pub judgment_date: NaiveDate,
    /// Date of publication in the BODACC, when known.
    #[serde(default)]
    pub bodacc_date: Option<NaiveDate>,
    /// Deadline to declare the claims to the mandataire; default 2 months after the BODACC
    /// publication, 4 from abroad (C. com. L622-24, R622-24). A later date is refused.
    #[serde(default)]
    pub declaration_deadline: Option<NaiveDate>,
    /// The company is established outside metropolitan France (4 months to declare).
    #[serde(default)]
    pub creditor_abroad: bool,
    /// The judgment's reference (tribunal, number).
    #[serde(default)]
    pub reference: Option<String>,
    /// The mandataire judiciaire (or liquidateur) to declare to.
    #[serde(default)]
    pub mandataire: Option<String>,
}

/// `end_pause`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndPause {
    /// The key of the decision that recorded the pause.
    pub pause: String,
}

/// `approve_letter`, `cancel_letter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LetterRef {
    /// The dunning action's key (as listed by the letters waiting for approval).
    pub action: String,
}

/// `edit_letter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditLetter {
    /// The dunning action's key.
    pub action: String,
    /// The new subject; `None` keeps the rendered one.
    #[serde(default)]
    pub subject: Option<String>,
    /// The new body.
    pub body: String,
}

/// `reschedule_letter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleLetter {
    /// The dunning action's key.
    pub action: String,
    /// Not sent before this day (the letter is dated so).
    pub date: NaiveDate,
}

/// `approve_closing`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveClosing {
    /// The closing date.
    pub closing: NaiveDate,
    /// The digest of the draft the person reviewed ([`closing::Draft::digest`]); when given,
    /// the approval is refused if the draft has changed since.
    #[serde(default)]
    pub draft: Option<String>,
}

/// `override_rate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideRate {
    /// The closing date from which the rate applies.
    pub closing: NaiveDate,
    /// The invoice.
    pub invoice: InvoiceId,
    /// Rate of the base without VAT, between 0 and 1.
    pub rate: Decimal,
}

/// `retry_dead_letter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryDeadLetter {
    /// The outbox entry's key.
    pub key: String,
}

/// What came of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    /// The customer was reached (nothing else agreed): recorded, the plan goes on.
    Reached,
    /// The customer promised to pay by a date (and an amount): dunning waits, as for
    /// `promise_to_pay`.
    Promise,
    /// The customer contests: dunning of what is contested stops, as for `dispute`.
    Dispute,
    /// Nobody answered: recorded, the plan goes on.
    NoAnswer,
    /// The number or the person is wrong: an alert, and no more call tasks for the customer
    /// until a person fixes the contact and ends it (`end_pause` with this decision's key);
    /// written reminders go on.
    WrongContact,
}

impl CallResult {
    /// Name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Reached => "reached",
            CallResult::Promise => "promise",
            CallResult::Dispute => "dispute",
            CallResult::NoAnswer => "no_answer",
            CallResult::WrongContact => "wrong_contact",
        }
    }

    /// Reads a name ([`Self::as_str`]).
    pub fn from_name(s: &str) -> Option<Self> {
        [
            CallResult::Reached,
            CallResult::Promise,
            CallResult::Dispute,
            CallResult::NoAnswer,
            CallResult::WrongContact,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// True when the audit log needs a reason for it: what the customer contests, what is
    /// wrong with the contact.
    pub fn needs_reason(self) -> bool {
        matches!(self, CallResult::Dispute | CallResult::WrongContact)
    }

    /// True when it holds or shapes dunning until it runs out or a person ends it.
    pub fn is_pause(self) -> bool {
        matches!(
            self,
            CallResult::Promise | CallResult::Dispute | CallResult::WrongContact
        )
    }
}

/// `call_outcome` (the envelope's reason: what the customer said, what is wrong).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallOutcome {
    /// The customer called.
    pub customer: CustomerId,
    /// The dunning action (the call task) this answers; `None` for a call outside the plan.
    #[serde(default)]
    pub action: Option<String>,
    /// What came of it.
    pub outcome: CallResult,
    /// A promise or a dispute: the invoices it covers; empty for all the customer's open
    /// invoices.
    #[serde(default)]
    pub invoices: Vec<InvoiceId>,
    /// A promise: the promised date.
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// A promise: the amount promised; `None` for everything open on the invoices covered.
    #[serde(default)]
    pub amount: Option<Decimal>,
}

/// `letters_posted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LettersPosted {
    /// The dunning actions whose letters were posted (as the worklist lists them).
    pub actions: Vec<String>,
    /// The day they were posted (default: the decision's date).
    #[serde(default)]
    pub date: Option<NaiveDate>,
}

impl Decision {
    /// The `type` tag, e.g. `confirm_match`.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::ConfirmMatch(_) => "confirm_match",
            Decision::RejectMatch(_) => "reject_match",
            Decision::SplitReceipt(_) => "split_receipt",
            Decision::ReassignMatch(_) => "reassign_match",
            Decision::AssignReceipt(_) => "assign_receipt",
            Decision::WriteOff(_) => "write_off",
            Decision::Dispute(_) => "dispute",
            Decision::PromiseToPay(_) => "promise_to_pay",
            Decision::PaymentPlan(_) => "payment_plan",
            Decision::Hold(_) => "hold",
            Decision::ProcedureCollective(_) => "procedure_collective",
            Decision::EndPause(_) => "end_pause",
            Decision::ApproveLetter(_) => "approve_letter",
            Decision::EditLetter(_) => "edit_letter",
            Decision::RescheduleLetter(_) => "reschedule_letter",
            Decision::CancelLetter(_) => "cancel_letter",
            Decision::ApproveClosing(_) => "approve_closing",
            Decision::OverrideRate(_) => "override_rate",
            Decision::RetryDeadLetter(_) => "retry_dead_letter",
            Decision::CallOutcome(_) => "call_outcome",
            Decision::LettersPosted(_) => "letters_posted",
        }
    }

    /// True when the audit log needs a reason for it: undoing or contradicting the engine,
    /// losing money, holding dunning, changing a provision.
    pub fn needs_reason(&self) -> bool {
        match self {
            Decision::CallOutcome(d) => d.outcome.needs_reason(),
            _ => kind_needs_reason(self.kind()),
        }
    }

    /// The pause kinds (they hold or shape dunning until they end).
    pub fn is_pause(&self) -> bool {
        matches!(
            self,
            Decision::Dispute(_)
                | Decision::PromiseToPay(_)
                | Decision::PaymentPlan(_)
                | Decision::Hold(_)
                | Decision::ProcedureCollective(_)
        ) || matches!(self, Decision::CallOutcome(d) if d.outcome.is_pause())
    }

    /// The customer it concerns, when it names one.
    pub fn customer(&self) -> Option<&CustomerId> {
        match self {
            Decision::AssignReceipt(d) => Some(&d.customer),
            Decision::Dispute(d) => Some(&d.customer),
            Decision::PromiseToPay(d) => Some(&d.customer),
            Decision::PaymentPlan(d) => Some(&d.customer),
            Decision::Hold(d) => Some(&d.customer),
            Decision::ProcedureCollective(d) => Some(&d.customer),
            Decision::CallOutcome(d) => Some(&d.customer),
            _ => None,
        }
    }

    /// The invoices it names.
    pub fn invoices(&self) -> Vec<&InvoiceId> {
        match self {
            Decision::ConfirmMatch(d) => vec![&d.invoice],
            Decision::RejectMatch(d) => vec![&d.invoice],
            Decision::SplitReceipt(d) => d.parts.iter().map(|p| &p.invoice).collect(),
            Decision::ReassignMatch(d) => vec![&d.from_invoice, &d.to_invoice],
            Decision::WriteOff(d) => vec![&d.invoice],
            Decision::Dispute(d) => d.invoice.iter().collect(),
            Decision::PromiseToPay(d) => d.invoices.iter().collect(),
            Decision::PaymentPlan(d) => d.invoices.iter().collect(),
            Decision::Hold(d) => d.invoice.iter().collect(),
            Decision::OverrideRate(d) => vec![&d.invoice],
            Decision::CallOutcome(d) => d.invoices.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The receipt it names.
    pub fn transaction(&self) -> Option<&TransactionId> {
        match self {
            Decision::ConfirmMatch(d) => Some(&d.transaction),
            Decision::RejectMatch(d) => Some(&d.transaction),
            Decision::SplitReceipt(d) => Some(&d.transaction),
            Decision::ReassignMatch(d) => Some(&d.transaction),
            Decision::AssignReceipt(d) => Some(&d.transaction),
            _ => None,
        }
    }
}

/// The decision types whose audit entry needs a reason ([`Decision::needs_reason`]).
pub const KINDS_NEEDING_REASON: &[&str] = &[
    "reject_match",
    "reassign_match",
    "write_off",
    "dispute",
    "hold",
    "end_pause",
    "cancel_letter",
    "override_rate",
];

/// True when decisions of type `kind` need a reason (forms ask for it before they are sent).
pub fn kind_needs_reason(kind: &str) -> bool {
    KINDS_NEEDING_REASON.contains(&kind)
}

/// True when a decision of type `kind` with the `outcome` field given (a call's) needs a
/// reason: [`kind_needs_reason`], and a call whose outcome says so
/// ([`CallResult::needs_reason`]).
pub fn needs_reason_for(kind: &str, outcome: Option<&str>) -> bool {
    kind_needs_reason(kind)
        || (kind == "call_outcome"
            && outcome
                .and_then(CallResult::from_name)
                .is_some_and(CallResult::needs_reason))
}

/// One problem of a decision, named by its field (`decision.amount`, `reason`…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field, as a path in the envelope's JSON.
    pub field: String,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl FieldError {
    /// A problem of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// The decision does not hold against the current state; every problem is listed.
    #[error("decision refused: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The key was already used for a different decision.
    #[error("idempotency key {key:?} was already used for another decision (recorded as #{seq})")]
    KeyReused {
        /// The key.
        key: String,
        /// The inbox entry recorded under it.
        seq: u64,
    },
    /// Nothing is known of this item (a letter, a closing, a decision to refer to).
    #[error("{0}")]
    NotFound(String),
    /// The store failed; nothing was recorded.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl DecisionError {
    /// One invalid field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        DecisionError::Invalid(vec![FieldError::new(field, message)])
    }
}
