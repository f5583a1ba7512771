//! The dunning engine: from open invoices, pauses and history to the actions due today.
//!
//! [`plan()`] runs passes, each a module with plain inputs and outputs:
//!
//! 1. [`history`] — where each invoice stands on the ladder: latest step reached and when,
//!    mise en demeure dates, actions per invoice and per customer, actions already planned
//!    today;
//! 2. [`candidates`] — per open invoice, in (customer, due date, id) order: skip it when paid;
//!    apply pauses and e-invoicing statuses (held / stopped / undisputed remainder only); find
//!    the next step (never backwards, never twice, never skipping a mandatory step, only once
//!    the step's delay since the previous action and the contact frequency allow);
//! 3. [`gate`] — reconcile before remind: stale bank data, unapplied receipts of the customer;
//! 4. [`penalties`] — each candidate's penalty and indemnity under its debtor's regime, with
//!    the rate rows cited;
//! 5. [`grouping`] — the candidates of one customer at one step form one action;
//! 6. [`caps`] — the daily cap;
//!
//! then [`risk`] adds the credit-risk alerts. Every invoice held on the way is listed with
//! its reason, and the alerts come in invoice order.
//!
//! # Idempotency key
//! `key = IdempotencyKey::derive(company, "dunning", [customer, "stage=N", "step=K",
//! "bucket=YYYY-MM-DD", invoice ids sorted…])` (same SHA-256 construction as
//! `relance_connectors::contract::IdempotencyKey::derive`). The date bucket is **the day the
//! step became due for this group** — the latest of `due date + step offset` over the group's
//! invoices — not the plan date: re-planning the same facts on any later day, after a restart,
//! gives the same key, so the outbox refuses the duplicate. A different invoice set or step is
//! a different decision and a different key.
//!
//! # History
//! `history` must list every action already *enqueued* (sent or still in the outbox): the
//! engine plans the next step only after those.

mod addresses;
mod candidates;
mod caps;
mod gate;
mod grouping;
mod history;
mod penalties;
mod risk;

use crate::dunning::pause::Pause;
use crate::dunning::penalty::{MissingRate, PenaltyPeriod, RateKind};
use crate::dunning::policy::{Policy, Tone};
use crate::dunning::probable::PaymentHold;
use crate::dunning::rates::MissingRow;
use crate::dunning::rates::RateTable;
use crate::dunning::segment::{PaidRecord, Segment};
use crate::dunning::stage::{Channel, Stage};
use crate::dunning::DunningError;
use crate::ids::{CompanyId, CustomerId, InvoiceId};
use crate::model::PostalAddress;
use crate::model::{Customer, CustomerKind, Invoice};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// An action already enqueued or sent (from the outbox).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentAction {
    /// Customer.
    pub customer: CustomerId,
    /// Stage.
    pub stage: Stage,
    /// Ordinal of the step within its stage (0 for the first).
    pub step: u32,
    /// Invoices it covered.
    pub invoices: Vec<InvoiceId>,
    /// Date it was planned for.
    pub date: NaiveDate,
}

/// Everything the engine decides from.
#[derive(Clone, Debug)]
pub struct PlanInput {
    /// The company (part of every key).
    pub company: CompanyId,
    /// Its policy.
    pub policy: Policy,
    /// Rate tables.
    pub rates: RateTable,
    /// Customers.
    pub customers: Vec<Customer>,
    /// Invoices and credit notes.
    pub invoices: Vec<Invoice>,
    /// Open amount of each invoice after reconciliation (absent: the source's `amount_due`).
    pub open_amounts: HashMap<InvoiceId, Decimal>,
    /// Receipts received from each customer and not yet applied to invoices.
    pub unapplied_credits: HashMap<CustomerId, Decimal>,
    /// Date of the latest bank data (statement) of the company.
    pub bank_data_as_of: Option<NaiveDate>,
    /// Partial payments per invoice (date received, amount), for the penalty base.
    pub payments: HashMap<InvoiceId, Vec<(NaiveDate, Decimal)>>,
    /// Paid invoices of each customer, for segments.
    pub payment_history: HashMap<CustomerId, Vec<PaidRecord>>,
    /// Pauses.
    pub pauses: Vec<Pause>,
    /// Latest e-invoicing lifecycle status code per invoice (200–213).
    pub lifecycle_status: HashMap<InvoiceId, u16>,
    /// Actions already enqueued or sent.
    pub history: Vec<SentAction>,
    /// Contractual penalty rate per business customer (percent), overriding the policy's.
    pub contract_rates: HashMap<CustomerId, Decimal>,
    /// Credit sales of the last 365 days per customer, for DSO alerts.
    pub sales_last_365: HashMap<CustomerId, Decimal>,
    /// Receipts not yet applied that may be an invoice's payment, whoever the payer: those
    /// invoices are held (the gate), each with the receipt named in the reason.
    pub payment_holds: Vec<PaymentHold>,
    /// The company's postal address, the sender of letters: a registered letter is held
    /// without it.
    pub sender_address: Option<PostalAddress>,
}

impl PlanInput {
    /// An input with no data yet.
    pub fn new(company: CompanyId, policy: Policy, rates: RateTable) -> Self {
        Self {
            company,
            policy,
            rates,
            customers: Vec::new(),
            invoices: Vec::new(),
            open_amounts: HashMap::new(),
            unapplied_credits: HashMap::new(),
            bank_data_as_of: None,
            payments: HashMap::new(),
            payment_history: HashMap::new(),
            pauses: Vec::new(),
            lifecycle_status: HashMap::new(),
            history: Vec::new(),
            contract_rates: HashMap::new(),
            sales_last_365: HashMap::new(),
            payment_holds: Vec::new(),
            sender_address: None,
        }
    }
}

/// One invoice of an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedInvoice {
    /// Invoice id.
    pub invoice: InvoiceId,
    /// Amount reminded (open after reconciliation, less any disputed part).
    #[serde(with = "amount")]
    pub amount_due: Decimal,
    /// Days past the due date (negative before it).
    pub days_overdue: i64,
    /// Penalty accrued to the plan date.
    #[serde(with = "amount")]
    pub penalty: Decimal,
    /// Indemnité forfaitaire (40 € once per invoice; 0 for consumers).
    #[serde(with = "amount")]
    pub indemnity: Decimal,
    /// Legal basis and rate rows used.
    pub rate_source: String,
    /// Number as printed.
    pub number: String,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date used.
    pub due_date: NaiveDate,
    /// IBAN the invoice asked to be paid on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_iban: Option<String>,
    /// Penalty working.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<PenaltyPeriod>,
    /// Set when the penalty could not be computed (the rate table lacks a row): the letter
    /// states the legal clause instead of an amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_rate: Option<MissingRate>,
    /// How the due date was found, when the document did not give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date_note: Option<String>,
    /// The actions already sent or enqueued for this invoice, oldest first (the wording of a
    /// letter follows them: "despite our reminder of …" only when there was one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<PreviousAction>,
}

/// An action already sent or enqueued for an invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousAction {
    /// Date it was planned for.
    pub date: NaiveDate,
    /// Stage.
    pub stage: Stage,
    /// Its channel under the current policy (`None` when the step no longer exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
}

impl PreviousAction {
    /// True for a written reminder of an unpaid invoice (an e-mail or letter after the due
    /// date): what "our previous reminder" may refer to. A pre-due notice or a call task
    /// (which may not have reached anyone) is not.
    pub fn is_written_reminder(&self) -> bool {
        self.stage >= Stage::Amiable
            && matches!(
                self.channel,
                Some(Channel::Email) | Some(Channel::RegisteredLetter)
            )
    }
}

/// A rate-table row the plan needed and did not find, and what it touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingRateUse {
    /// The row.
    pub row: MissingRow,
    /// The rates that needed it.
    pub kinds: Vec<RateKind>,
    /// Invoices whose penalty it left uncomputed (stated as a clause or held).
    pub invoices: Vec<InvoiceId>,
    /// Of those, the invoices held (policy `on_missing_rate = "hold"`).
    pub held: Vec<InvoiceId>,
}

/// One action: a reminder, a call, a letter or a legal recommendation for one customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Customer.
    pub customer: CustomerId,
    /// Stage.
    pub stage: Stage,
    /// Channel.
    pub channel: Channel,
    /// Invoices covered.
    pub invoices: Vec<PlannedInvoice>,
    /// Why now.
    pub reason: String,
    /// Idempotency key (see the module documentation).
    pub key: String,
    /// Ordinal of the step within its stage.
    pub step: u32,
    /// Date the action may go out (the plan date, or the next sending day).
    pub scheduled_for: NaiveDate,
    /// Sending window, local hours.
    pub window: String,
    /// Payment-history segment.
    pub segment: Segment,
    /// Tone of the template.
    pub tone: Tone,
    /// Customer's language.
    pub language: String,
    /// Debtor regime.
    pub customer_kind: CustomerKind,
    /// Sum of the amounts due.
    #[serde(with = "amount")]
    pub total_due: Decimal,
    /// Sum of the penalties.
    #[serde(with = "amount")]
    pub total_penalty: Decimal,
    /// Sum of the indemnities.
    #[serde(with = "amount")]
    pub total_indemnity: Decimal,
    /// Contentieux: what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    /// Contentieux: the evidence file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// An invoice on which nothing is planned, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldInvoice {
    /// Invoice id.
    pub invoice: InvoiceId,
    /// Why.
    pub reason: String,
    /// Customer.
    pub customer: CustomerId,
}

/// Something a person must look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Kind: `declare_claim`, `prescription`, `payment_plan_broken`, `promise_broken`,
    /// `credit_risk`, `contract_rate`, `missing_contact`, `missing_rate` (the rate table lacks
    /// a row a penalty needs), `missing_address` (a registered letter held for want of a postal
    /// address), `einvoice_refused` (210 Refusée), `einvoice_rejected` (213 Rejetée).
    pub kind: String,
    /// Customer.
    pub customer: CustomerId,
    /// Invoice, when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceId>,
    /// Deadline, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<NaiveDate>,
    /// What to do and why.
    pub message: String,
}

/// The result of planning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Actions due, one per customer and step.
    pub actions: Vec<Action>,
    /// Invoices held back, with the reason.
    pub held: Vec<HeldInvoice>,
    /// Alerts.
    pub alerts: Vec<Alert>,
    /// Actions due but deferred by the daily cap (planned again next time).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<Action>,
    /// The rate-table rows cited by `rate_source` (`ecb_mro@2025-06-11`…), with figures and
    /// sources.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rate_rows: BTreeMap<String, String>,
    /// Rows the rate table lacks that this plan needed (each also raised a `missing_rate`
    /// alert).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_rates: Vec<MissingRateUse>,
}

mod amount {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        let mut v = d.round_dp(2);
        v.rescale(2);
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The idempotency key of an action (same construction as the connectors' `IdempotencyKey`).
pub fn action_key(
    company: &CompanyId,
    customer: &CustomerId,
    stage: Stage,
    step: u32,
    bucket: NaiveDate,
    invoices: &[&InvoiceId],
) -> String {
    let mut ids: Vec<&str> = invoices.iter().map(|i| i.as_str()).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    h.update(company.as_str().as_bytes());
    h.update([0]);
    h.update(b"dunning");
    let stage_s = format!("stage={}", stage.number());
    let step_s = format!("step={step}");
    let bucket_s = format!("bucket={bucket}");
    for p in [customer.as_str(), &stage_s, &step_s, &bucket_s]
        .into_iter()
        .chain(ids)
    {
        h.update([0]);
        h.update(p.as_bytes());
    }
    format!("relance-dunning-{}", hex::encode(&h.finalize()[..12]))
}

/// Plans the dunning of one company as of `today`: the passes in order.
pub fn plan(input: &PlanInput, today: NaiveDate) -> Result<Plan, DunningError> {
    let p = &input.policy;
    p.validate()?;
    input.rates.validate()?;
    let ladder = history::Ladder::new(&p.steps);
    let hist = history::History::build(&input.history, &ladder, today);
    let candidates::Candidates { mut walks, aging } =
        candidates::walk(input, &ladder, &hist, today);
    gate::apply(input, today, &mut walks);
    let missing_rates = penalties::apply(input, &ladder, &hist, today, &mut walks)?;
    addresses::apply(input, &ladder, &mut walks);

    let mut out = Plan {
        missing_rates,
        ..Plan::default()
    };
    for w in &mut walks {
        out.alerts.append(&mut w.alerts);
        if let candidates::State::Held(reason) = &w.state {
            out.held.push(HeldInvoice {
                invoice: w.inv.id.clone(),
                reason: reason.clone(),
                customer: w.inv.customer.clone(),
            });
        }
    }
    let (actions, mut alerts) = grouping::group(input, &ladder, &hist, today, walks);
    out.alerts.append(&mut alerts);
    let (actions, deferred) = caps::apply(&p.sending, hist.sent_today, actions);
    out.actions = actions;
    out.deferred = deferred;
    if !out.actions.is_empty() || !out.deferred.is_empty() {
        out.rate_rows = input.rates.row_sources();
    }
    out.alerts
        .extend(risk::alerts(aging, &input.sales_last_365, &p.alerts, today));
    Ok(out)
}
