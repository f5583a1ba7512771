//! Derived state for the operator API and the console: the letters waiting for approval (with
//! their rendered text and PDF), the suggestions with their evidence, the probable payments
//! the gate holds, and the next run — what a cycle on a given day would send, and for every
//! overdue invoice it would not remind, why not. Read-only: nothing here writes to the store.

use super::inputs;
use super::state::{DecisionState, LetterState, LetterStatus};
use super::{DecisionError, INBOX_KIND_PREFIX};
use crate::config::CompanyConfig;
use crate::ledger::{self, Ledger};
use crate::pipeline::sender_info;
use crate::store::{OutboxState, Store, StoreError};
use chrono::NaiveDate;
use relance_connectors::formats::letter::{letter_for_action, render_pdf};
use relance_core::dunning::template::Message;
use relance_core::dunning::{Action, Alert, Plan, RateTable};
use relance_core::reconcile::{Allocation, Evidence};
use relance_core::{
    CompanyId, Customer, CustomerId, InvoiceId, InvoiceKind, InvoiceStatus, TransactionId,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// A letter held for approval, as the approvals page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LetterView {
    /// The action's key: what approve / edit / reschedule / cancel name.
    pub action: String,
    /// The customer.
    pub customer: CustomerId,
    /// Its name.
    pub customer_name: String,
    /// The action as planned (stage, channel, invoices with penalties and indemnities, why).
    pub planned: Action,
    /// The text to be sent (edited, once a person changed it).
    pub subject: String,
    /// Body.
    pub body: String,
    /// Template it came from (`edited` once changed).
    pub template: String,
    /// The PDF letter's file name under the company's `letters/` folder, when it has one.
    pub letter_file: Option<String>,
    /// The outbox entries it makes once approved.
    pub entries: Vec<String>,
    /// Waiting, approved or cancelled.
    pub status: LetterStatus,
    /// For an approved one: its entries applied so far.
    pub delivered: usize,
    /// When it was planned.
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

fn customer_names<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<HashMap<CustomerId, String>, StoreError> {
    Ok(store
        .customers(company)?
        .into_iter()
        .map(|c| (c.customer.id, c.customer.name))
        .collect())
}

fn letter_view<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    l: &LetterState,
    names: &HashMap<CustomerId, String>,
) -> Result<LetterView, StoreError> {
    let a = &l.request.action;
    let mut delivered = 0;
    if matches!(l.status, LetterStatus::Approved { .. }) {
        for k in &l.request.entries {
            if store
                .outbox_entry(
                    company,
                    &relance_connectors::contract::IdempotencyKey(k.clone()),
                )?
                .is_some_and(|e| matches!(e.state, OutboxState::Done { .. }))
            {
                delivered += 1;
            }
        }
    }
    Ok(LetterView {
        action: a.key.clone(),
        customer: a.customer.clone(),
        customer_name: names
            .get(&a.customer)
            .cloned()
            .unwrap_or_else(|| a.customer.to_string()),
        planned: a.clone(),
        subject: l.text.subject.clone(),
        body: l.text.body.clone(),
        template: l.text.template.clone(),
        letter_file: l.request.letter.clone(),
        entries: l.request.entries.clone(),
        status: l.status.clone(),
        delivered,
        requested_at: l.request.requested_at,
    })
}

/// The letters held for approval, oldest first: only those still waiting with
/// `waiting_only`, else also the approved (with their delivery) and cancelled ones.
pub fn letters_waiting<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    waiting_only: bool,
) -> Result<Vec<LetterView>, StoreError> {
    let state = DecisionState::load(store, company)?;
    let names = customer_names(store, company)?;
    let mut out = Vec::new();
    for l in state.letters.values() {
        if waiting_only && l.status != LetterStatus::Waiting {
            continue;
        }
        out.push(letter_view(store, company, l, &names)?);
    }
    out.sort_by(|a, b| (a.requested_at, &a.action).cmp(&(b.requested_at, &b.action)));
    Ok(out)
}

/// The PDF of a letter held for approval, rendered from its current text (a preview for any
/// channel; for a registered letter, the letter that is posted).
pub fn letter_pdf<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    action: &str,
) -> Result<Vec<u8>, DecisionError> {
    let state = DecisionState::load(store, &company.id)?;
    let Some(l) = state.letters.get(action) else {
        return Err(DecisionError::NotFound(format!(
            "no letter held for approval under action key {action:?}"
        )));
    };
    let a = &l.request.action;
    let customer = crate::pipeline::letter_customer(
        company,
        store
            .customer(&company.id, &a.customer)?
            .map(|c| c.customer)
            .unwrap_or_else(|| Customer::new(a.customer.clone(), a.customer.as_str())),
    );
    let message = Message {
        subject: l.text.subject.clone(),
        body: l.text.body.clone(),
        template: l.text.template.clone(),
    };
    let letter = letter_for_action(
        a,
        &message,
        &company.company(),
        &sender_info(company),
        &customer,
    )
    .map_err(|e| DecisionError::NotFound(format!("letter {action}: {e}")))?;
    render_pdf(&letter).map_err(|e| DecisionError::NotFound(format!("letter {action}: {e}")))
}

/// A suggestion of the exception queue, with the evidence side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuggestionView {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoice proposed.
    pub invoice: InvoiceId,
    /// Amount proposed.
    pub amount: Decimal,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// The engine's sentence.
    pub reason: String,
    /// Its evidence.
    pub evidence: Vec<Evidence>,
    /// The receipt: date, amount, what it still has to place, payer name and IBAN, text.
    pub receipt: serde_json::Value,
    /// The invoice: number, customer and name, open amount, due date.
    pub invoice_detail: serde_json::Value,
}

/// The suggestions waiting for a person: allocations the engine proposed and did not apply,
/// except the pairs people rejected and receipts placed since.
pub fn suggestions<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<Vec<SuggestionView>, StoreError> {
    let ledger = Ledger::load(store, company)?;
    let state = DecisionState::load(store, company)?;
    let open = ledger::open_amounts(&ledger, &[]);
    let mut applied: HashMap<&TransactionId, Decimal> = HashMap::new();
    for a in ledger.allocations.iter().filter(|a| a.auto) {
        *applied.entry(&a.transaction).or_default() += a.amount;
    }
    let receipts: HashMap<&TransactionId, &relance_core::Receipt> =
        ledger.receipts.iter().map(|r| (&r.id, r)).collect();
    let invoices: HashMap<&InvoiceId, &relance_core::Invoice> =
        ledger.invoices.iter().map(|i| (&i.id, i)).collect();
    let names: HashMap<&CustomerId, &str> = ledger
        .customers
        .iter()
        .map(|c| (&c.id, c.name.as_str()))
        .collect();
    let mut out = Vec::new();
    for a in ledger.allocations.iter().filter(|a| !a.auto) {
        if state
            .rejected
            .contains(&(a.transaction.clone(), a.invoice.clone()))
        {
            continue;
        }
        let Some(r) = receipts.get(&a.transaction) else {
            continue;
        };
        let left = r.amount - applied.get(&a.transaction).copied().unwrap_or_default();
        let inv_open = open.get(&a.invoice).copied().unwrap_or_default();
        if left <= Decimal::ZERO || inv_open <= Decimal::ZERO {
            continue;
        }
        out.push(view(
            a,
            r,
            left,
            invoices.get(&a.invoice).copied(),
            inv_open,
            &names,
        ));
    }
    Ok(out)
}

fn view(
    a: &Allocation,
    r: &relance_core::Receipt,
    left: Decimal,
    inv: Option<&relance_core::Invoice>,
    open: Decimal,
    names: &HashMap<&CustomerId, &str>,
) -> SuggestionView {
    SuggestionView {
        transaction: a.transaction.clone(),
        invoice: a.invoice.clone(),
        amount: a.amount,
        confidence: a.confidence.as_f64(),
        reason: a.reason(),
        evidence: a.evidence(),
        receipt: serde_json::json!({
            "booking_date": r.booking_date,
            "amount": r.amount,
            "left": left,
            "payer": r.counterparty_name,
            "iban": r.counterparty_iban,
            "text": r.remittance,
            "reference": r.structured_ref,
        }),
        invoice_detail: serde_json::json!({
            "number": inv.map(|i| i.number.clone()),
            "customer": inv.map(|i| i.customer.clone()),
            "customer_name": inv.and_then(|i| names.get(&i.customer).copied()),
            "open": open,
            "due": inv.map(|i| i.effective_due_date()),
        }),
    }
}

/// An invoice the gate holds because a receipt not yet applied may be its payment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbablePayment {
    /// The invoice held.
    pub invoice: InvoiceId,
    /// Its customer.
    pub customer: CustomerId,
    /// The receipt that may pay it, when the gate names one.
    pub transaction: Option<TransactionId>,
    /// The receipt's amount not yet applied.
    pub amount: Option<Decimal>,
    /// The gate's reason, as the plan gives it.
    pub reason: String,
}

/// The invoices the reconcile-then-remind gate holds on `date`, with the receipt that may be
/// their payment (a person confirms it for the invoice, or rejects the pair).
pub fn probable_payments<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    rates: &RateTable,
    date: NaiveDate,
) -> anyhow::Result<Vec<ProbablePayment>> {
    let (ledger, state, plan) = planned(store, company, rates, date)?;
    let plan = plan?;
    let unapplied = relance_core::reconcile::unapplied_credits_by_customer(
        &ledger.invoices,
        &inputs::learnt_customers(&ledger, &state),
        &ledger.receipts,
        &ledger.applied(),
    );
    let mut out = Vec::new();
    for h in &plan.held {
        if !h.reason.contains("not yet applied") && !h.reason.contains("may be its payment") {
            continue;
        }
        let credits = unapplied.get(&h.customer).map_or(&[][..], |v| v.as_slice());
        if credits.is_empty() {
            out.push(ProbablePayment {
                invoice: h.invoice.clone(),
                customer: h.customer.clone(),
                transaction: None,
                amount: None,
                reason: h.reason.clone(),
            });
        }
        for c in credits {
            if state
                .rejected
                .contains(&(c.transaction.clone(), h.invoice.clone()))
            {
                continue;
            }
            out.push(ProbablePayment {
                invoice: h.invoice.clone(),
                customer: h.customer.clone(),
                transaction: Some(c.transaction.clone()),
                amount: Some(c.remaining),
                reason: h.reason.clone(),
            });
        }
    }
    Ok(out)
}

/// The ledger as a cycle on `date` would see it (after reconciliation with the decisions,
/// nothing stored), the decision state, and the plan.
fn planned<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    rates: &RateTable,
    date: NaiveDate,
) -> anyhow::Result<(
    Ledger,
    DecisionState,
    Result<Plan, relance_core::dunning::DunningError>,
)> {
    let ledger = Ledger::load(store, &company.id)?;
    let state = DecisionState::load(store, &company.id)?;
    let outcome = inputs::reconcile(&ledger, &company.reconcile, &state);
    let mut full = ledger;
    full.allocations.extend(outcome.allocations);
    let (_, plan) = crate::pipeline::plan_with_decisions(
        store,
        company,
        rates,
        &full,
        &outcome.suggestions,
        &state,
        date,
    )?;
    Ok((full, state, plan))
}

/// The dunning plan a cycle on `date` would make from the store (a dry run).
pub fn plan_as_of<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    rates: &RateTable,
    date: NaiveDate,
) -> anyhow::Result<Plan> {
    Ok(planned(store, company, rates, date)?.2?)
}

/// An action of the next run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextAction {
    /// The action.
    pub action: Action,
    /// True when it will wait for a person's approval instead of going out.
    pub needs_approval: bool,
}

/// An overdue invoice the next run will not remind, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotReminded {
    /// The invoice.
    pub invoice: InvoiceId,
    /// Its number.
    pub number: String,
    /// Its customer.
    pub customer: CustomerId,
    /// Still open.
    pub open: Decimal,
    /// Due date.
    pub due_date: NaiveDate,
    /// Days past it.
    pub days_overdue: i64,
    /// Why no action.
    pub reason: String,
}

/// What a cycle on `date` would do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextRun {
    /// The day.
    pub date: NaiveDate,
    /// The actions it would plan.
    pub actions: Vec<NextAction>,
    /// Letters people approved (or rescheduled) whose delivery is due by then.
    pub released: Vec<LetterView>,
    /// Every overdue open invoice in no action, with why.
    pub not_reminded: Vec<NotReminded>,
    /// The plan's alerts (broken promises, missed instalments, claims to declare…).
    pub alerts: Vec<Alert>,
    /// Decisions recorded and not yet applied (the next cycle applies them first: this view
    /// does not include their effects).
    pub pending_decisions: usize,
    /// Why no plan could be made, when none could.
    pub plan_error: Option<String>,
}

/// What a cycle on `date` (typically tomorrow) would send, and for every overdue invoice not
/// in it, why not.
pub fn next_run<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    rates: &RateTable,
    date: NaiveDate,
) -> anyhow::Result<NextRun> {
    let (ledger, state, plan) = planned(store, company, rates, date)?;
    let pending = store
        .inbox(&company.id, 0, usize::MAX, true)?
        .iter()
        .filter(|e| e.item.kind.starts_with(INBOX_KIND_PREFIX))
        .count();
    let names = customer_names(store, &company.id)?;
    let end_of_day = date
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    let mut released = Vec::new();
    for l in state.letters.values() {
        if !matches!(l.status, LetterStatus::Approved { .. }) {
            continue;
        }
        let mut due = false;
        for k in &l.request.entries {
            if let Some(e) = store.outbox_entry(
                &company.id,
                &relance_connectors::contract::IdempotencyKey(k.clone()),
            )? {
                due |= e.is_pending() && end_of_day.is_none_or(|t| e.next_attempt_at < t);
            }
        }
        if due {
            released.push(letter_view(store, &company.id, l, &names)?);
        }
    }
    let (plan, plan_error) = match plan {
        Ok(p) => (p, None),
        Err(e) => (Plan::default(), Some(e.to_string())),
    };
    let in_action: HashSet<&InvoiceId> = plan
        .actions
        .iter()
        .flat_map(|a| a.invoices.iter().map(|i| &i.invoice))
        .collect();
    let held: HashMap<&InvoiceId, &str> = plan
        .held
        .iter()
        .map(|h| (&h.invoice, h.reason.as_str()))
        .collect();
    let history = inputs::history(store, &company.id, &state)?;
    let mut last: HashMap<&InvoiceId, &relance_core::dunning::SentAction> = HashMap::new();
    for a in &history {
        for i in &a.invoices {
            if last.get(i).is_none_or(|p| p.date <= a.date) {
                last.insert(i, a);
            }
        }
    }
    let open = ledger::open_amounts(&ledger, &[]);
    let min = company.dunning.min_amount_to_remind;
    let mut not_reminded = Vec::new();
    for inv in ledger
        .invoices
        .iter()
        .filter(|i| i.kind == InvoiceKind::Invoice && i.status == InvoiceStatus::Open)
    {
        let o = open.get(&inv.id).copied().unwrap_or(Decimal::ZERO);
        let due = inv.effective_due_date();
        if o <= Decimal::ZERO || due >= date || in_action.contains(&inv.id) {
            continue;
        }
        let reason = if let Some(r) = held.get(&inv.id) {
            (*r).to_owned()
        } else if plan_error.is_some() {
            "no plan could be made (see plan_error)".to_owned()
        } else if o <= min {
            format!("{o} left open: at or below the minimum reminded (dunning.min_amount_to_remind = {min})")
        } else if let Some(a) = last.get(&inv.id) {
            format!(
                "reminded already: {} (step {}) on {}; the next step of the ladder is not due yet, or its delay since that action (or since the customer's last contact) has not passed",
                a.stage.name(),
                a.step,
                a.date
            )
        } else {
            "no step of the ladder is due yet for this customer's segment".to_owned()
        };
        not_reminded.push(NotReminded {
            invoice: inv.id.clone(),
            number: inv.number.clone(),
            customer: inv.customer.clone(),
            open: o,
            due_date: due,
            days_overdue: (date - due).num_days(),
            reason,
        });
    }
    not_reminded.sort_by(|a, b| {
        (&a.customer, a.due_date, &a.invoice).cmp(&(&b.customer, b.due_date, &b.invoice))
    });
    Ok(NextRun {
        date,
        actions: plan
            .actions
            .iter()
            .map(|a| NextAction {
                needs_approval: company.dunning.needs_approval(a.stage),
                action: a.clone(),
            })
            .collect(),
        released,
        not_reminded,
        alerts: plan.alerts,
        pending_decisions: pending,
        plan_error,
    })
}
