//! The dunning engine: from open invoices, pauses and history to the actions due today.
//!
//! For each open invoice, in order: skip it when paid or cancelled; apply pauses and
//! e-invoicing statuses (held / stopped / undisputed remainder only); find the next step of the
//! ladder from the history of actions already sent (never backwards, never twice, never
//! skipping a mandatory step, and only once the step's delay since the previous action has
//! passed); then the reconcile-then-remind gate (stale bank data, unapplied receipts of the
//! customer). Invoices due for the same step of the same customer form one action, each with
//! its penalty and indemnity computed under the customer's regime and the rate rows cited.
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

use crate::aging::{dso, AgedBalance, AgingItem};
use crate::dunning::calendar::next_sending_day;
use crate::dunning::pause::{self, Pause, PauseKind, PauseOutcome};
use crate::dunning::penalty::{self, PenaltyInput, PenaltyPeriod};
use crate::dunning::policy::{MissingRatePolicy, PenaltyPolicy, Policy, Tone, UnappliedCreditHold};
use crate::dunning::prescription;
use crate::dunning::rates::RateTable;
use crate::dunning::segment::{classify, PaidRecord, Segment};
use crate::dunning::stage::{Channel, Stage};
use crate::dunning::DunningError;
use crate::ids::{CompanyId, CustomerId, InvoiceId};
use crate::model::{Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus};
use crate::money::{Currency, Money};
use chrono::{Duration, NaiveDate};
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
    /// `credit_risk`, `contract_rate`, `missing_contact`, `daily_cap`.
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

/// Due date used: the invoice's, else the issue date plus the policy term of the debtor kind.
fn due_date_of(inv: &Invoice, kind: CustomerKind, p: &Policy) -> NaiveDate {
    match inv
        .due_date
        .or_else(|| inv.instalments.iter().map(|i| i.due_date).min())
    {
        Some(d) => d,
        None => {
            let t = match kind {
                CustomerKind::Business => p.terms.business_days,
                CustomerKind::Consumer => p.terms.consumer_days,
                CustomerKind::PublicEntity => p.terms.public_entity_days,
                CustomerKind::PublicHospital => p.terms.public_hospital_days,
            };
            inv.issue_date + Duration::days(i64::from(t))
        }
    }
}

struct Candidate<'a> {
    inv: &'a Invoice,
    customer: &'a Customer,
    step: usize,
    amount: Decimal,
    due: NaiveDate,
    days: i64,
    eligible_on: NaiveDate,
    segment: Segment,
    note: Option<String>,
    penalty: penalty::Penalty,
}

/// Plans the dunning of one company as of `today`.
pub fn plan(input: &PlanInput, today: NaiveDate) -> Result<Plan, DunningError> {
    let p = &input.policy;
    p.validate()?;
    input.rates.validate()?;
    let steps = &p.steps;
    let mut out = Plan::default();

    let customers: HashMap<&CustomerId, &Customer> =
        input.customers.iter().map(|c| (&c.id, c)).collect();
    let mut pauses_by_inv: HashMap<&InvoiceId, Vec<&Pause>> = HashMap::new();
    let mut pauses_by_cust: HashMap<&CustomerId, Vec<&Pause>> = HashMap::new();
    for pz in &input.pauses {
        match &pz.invoice {
            Some(i) => pauses_by_inv.entry(i).or_default().push(pz),
            None => pauses_by_cust.entry(&pz.customer).or_default().push(pz),
        }
    }

    // Ordinal of each step within its stage, and the flat index of (stage, ordinal).
    let ordinals: Vec<u32> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            u32::try_from(steps[..i].iter().filter(|x| x.stage == s.stage).count()).unwrap_or(0)
        })
        .collect();
    let flat_index = |stage: Stage, ord: u32| -> Option<usize> {
        let mut last = None;
        for (i, s) in steps.iter().enumerate() {
            if s.stage == stage {
                last = Some(i);
                if ordinals[i] == ord {
                    return Some(i);
                }
            }
        }
        // A step removed from the policy since: count it as the last step of its stage;
        // a stage removed entirely: the last step before it.
        last.or_else(|| steps.iter().rposition(|s| s.stage < stage))
    };

    // Latest step reached per invoice, the date of the latest action, actions sent today,
    // and the mise en demeure date (start of legal interest for consumers).
    let mut reached: HashMap<&InvoiceId, (usize, NaiveDate)> = HashMap::new();
    let mut med_date: HashMap<&InvoiceId, NaiveDate> = HashMap::new();
    let mut history_by_inv: HashMap<&InvoiceId, Vec<&SentAction>> = HashMap::new();
    let mut sent_today: u32 = 0;
    let mut last_contact: HashMap<&CustomerId, NaiveDate> = HashMap::new();
    for h in &input.history {
        if h.date == today {
            sent_today += 1;
        }
        let lc = last_contact.entry(&h.customer).or_insert(h.date);
        *lc = (*lc).max(h.date);
        let Some(fi) = flat_index(h.stage, h.step) else {
            continue;
        };
        for i in &h.invoices {
            let e = reached.entry(i).or_insert((fi, h.date));
            if fi > e.0 {
                e.0 = fi;
            }
            if h.date > e.1 {
                e.1 = h.date;
            }
            if h.stage == Stage::MiseEnDemeure {
                let m = med_date.entry(i).or_insert(h.date);
                *m = (*m).min(h.date);
            }
            history_by_inv.entry(i).or_default().push(h);
        }
    }

    // Unapplied credits, including open credit notes not yet used.
    let mut unapplied: HashMap<&CustomerId, Decimal> = input
        .unapplied_credits
        .iter()
        .map(|(c, a)| (c, *a))
        .collect();
    for inv in input
        .invoices
        .iter()
        .filter(|i| i.kind == InvoiceKind::CreditNote && i.status == InvoiceStatus::Open)
    {
        let open = input
            .open_amounts
            .get(&inv.id)
            .copied()
            .unwrap_or(inv.amount_due)
            .abs();
        *unapplied.entry(&inv.customer).or_default() += open;
    }
    let bank_stale = match input.bank_data_as_of {
        None => Some("no bank data yet: reconcile before reminding".to_owned()),
        Some(d) if (today - d).num_days() > i64::from(p.bank_data_max_age_days) => Some(format!(
            "latest bank data of {d} is older than {} days: reconcile before reminding",
            p.bank_data_max_age_days
        )),
        Some(_) => None,
    };

    let mut segments: HashMap<&CustomerId, Segment> = HashMap::new();
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    let mut aging: HashMap<&CustomerId, Vec<AgingItem>> = HashMap::new();
    let mut claim_alerted: HashMap<&CustomerId, ()> = HashMap::new();

    let mut memo = penalty::RateMemo::default();
    let mut missing_rate_alerted = false;
    let mut resume_alerted: std::collections::HashSet<(&CustomerId, String)> =
        std::collections::HashSet::new();
    let mut order: Vec<&Invoice> = input
        .invoices
        .iter()
        .filter(|i| i.kind == InvoiceKind::Invoice && i.status == InvoiceStatus::Open)
        .collect();
    order.sort_by(|a, b| {
        (&a.customer, a.effective_due_date(), &a.id).cmp(&(
            &b.customer,
            b.effective_due_date(),
            &b.id,
        ))
    });

    for inv in order {
        let held = |out: &mut Plan, reason: String| {
            out.held.push(HeldInvoice {
                invoice: inv.id.clone(),
                reason,
                customer: inv.customer.clone(),
            })
        };
        let Some(customer) = customers.get(&inv.customer).copied() else {
            held(
                &mut out,
                format!(
                    "customer {} unknown: cannot choose the legal regime",
                    inv.customer
                ),
            );
            continue;
        };
        let open = input
            .open_amounts
            .get(&inv.id)
            .copied()
            .unwrap_or(inv.amount_due);
        if open <= p.min_amount_to_remind {
            continue; // fully paid (or a few cents left): no action
        }
        let kind = customer.kind;
        let due = due_date_of(inv, kind, p);
        let days = (today - due).num_days();
        aging.entry(&inv.customer).or_default().push(AgingItem {
            due_date: due,
            open: Money::new(open, inv.currency),
        });

        // Prescription alert, whatever the pauses.
        let deadline = prescription::deadline(kind, due);
        if (deadline - today).num_days() <= i64::from(p.alerts.prescription_warn_days) {
            out.alerts.push(Alert {
                kind: "prescription".into(),
                customer: inv.customer.clone(),
                invoice: Some(inv.id.clone()),
                deadline: Some(deadline),
                message: format!(
                    "claim of {open} on invoice {} is time-barred after {deadline} ({}); reminders do not interrupt it — obtain an acknowledgement or act in court",
                    inv.number,
                    prescription::basis(kind)
                ),
            });
        }

        // Pauses and e-invoicing statuses.
        let mut outcome = pause::evaluate(
            pauses_by_inv
                .get(&inv.id)
                .into_iter()
                .flatten()
                .chain(pauses_by_cust.get(&inv.customer).into_iter().flatten())
                .copied(),
            inv.issue_date,
            today,
            &p.pauses,
        );
        if let Some(code) = input.lifecycle_status.get(&inv.id) {
            let o = pause::lifecycle_outcome(*code);
            if matches!(o, PauseOutcome::Stop { .. })
                || (matches!(o, PauseOutcome::Hold { .. })
                    && !matches!(outcome, PauseOutcome::Stop { .. }))
            {
                outcome = o;
            }
        }
        for pz in pauses_by_cust.get(&inv.customer).into_iter().flatten() {
            if let PauseKind::ProcedureCollective {
                procedure,
                judgment_date,
                bodacc_publication,
                ..
            } = &pz.kind
            {
                if claim_alerted.insert(&inv.customer, ()).is_none() {
                    let deadline = pause::claim_deadline(&pz.kind);
                    out.alerts.push(Alert {
                        kind: "declare_claim".into(),
                        customer: inv.customer.clone(),
                        invoice: None,
                        deadline,
                        message: match bodacc_publication {
                            Some(d) => format!("{procedure:?} opened {judgment_date}, BODACC {d}: declare every pre-opening claim to the mandataire judiciaire by the deadline (C. com. L622-24, R622-24), with the invoices attached"),
                            None => format!("{procedure:?} opened {judgment_date}: watch the BODACC publication; the claim must be declared within 2 months of it (C. com. L622-24, R622-24)"),
                        },
                    });
                }
            }
        }
        let mut amount = open;
        let mut note = None;
        let mut escalate = false;
        match outcome {
            PauseOutcome::Stop { reason } | PauseOutcome::Hold { reason } => {
                held(&mut out, reason);
                continue;
            }
            PauseOutcome::Partial { excluded, reason } => {
                amount = open - excluded;
                if amount <= p.min_amount_to_remind {
                    held(&mut out, reason);
                    continue;
                }
                note = Some(reason);
            }
            PauseOutcome::Resume {
                escalate: e,
                note: n,
            } => {
                let kind = if e {
                    "payment_plan_broken"
                } else {
                    "promise_broken"
                };
                // One alert per customer and event, not one per invoice it covers.
                if resume_alerted.insert((&inv.customer, n.clone())) {
                    out.alerts.push(Alert {
                        kind: kind.into(),
                        customer: inv.customer.clone(),
                        invoice: Some(inv.id.clone()),
                        deadline: None,
                        message: n.clone(),
                    });
                }
                escalate = e;
                note = Some(n);
            }
            PauseOutcome::None => {}
        }

        // Next step.
        let last = reached.get(&inv.id).copied();
        if let Some((li, _)) = last {
            if steps[li].stage == Stage::Contentieux {
                held(
                    &mut out,
                    "contentieux recommended: automatic dunning stopped".into(),
                );
                continue;
            }
        }
        let segment = *segments.entry(&inv.customer).or_insert_with(|| {
            classify(
                input
                    .payment_history
                    .get(&inv.customer)
                    .map_or(&[][..], |v| v.as_slice()),
                today,
                &p.segments,
            )
        });
        let adj = segment.adjust(&p.segments);
        let start = last.map_or(0, |(li, _)| li + 1);
        let mut chosen: Option<(usize, NaiveDate)> = None;
        for (idx, s) in steps.iter().enumerate().skip(start) {
            let offset = if s.stage == Stage::Preventive {
                if adj.skip_preventive || days >= 0 {
                    continue;
                }
                s.offset_days
            } else {
                (s.offset_days + adj.shift_days).max(1)
            };
            if days < i64::from(offset) {
                break;
            }
            chosen = Some((idx, due + Duration::days(i64::from(offset))));
            if s.mandatory {
                break;
            }
        }
        if escalate {
            let first_formal = steps
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, s)| s.stage >= Stage::Formelle);
            if let Some((fi, _)) = first_formal {
                if chosen.is_none_or(|(c, _)| steps[c].stage < Stage::Formelle) {
                    chosen = Some((fi, today));
                }
            }
        }
        let Some((idx, eligible_on)) = chosen else {
            continue;
        };
        if let Some((_, last_date)) = last {
            if (today - last_date).num_days() < i64::from(steps[idx].min_days_since_previous) {
                continue; // the step's delay since the previous action has not passed
            }
        }
        // Contact frequency per customer, whatever the invoice: invoices falling due on
        // successive days wait and go together instead of one message a day.
        if let Some(lc) = last_contact.get(&inv.customer) {
            let gap = (today - *lc).num_days();
            if gap > 0 && gap < i64::from(p.sending.min_days_between_contacts) {
                continue;
            }
        }

        // Reconcile-then-remind gate.
        if let Some(r) = &bank_stale {
            held(&mut out, r.clone());
            continue;
        }
        if let Some(credit) = unapplied
            .get(&inv.customer)
            .copied()
            .filter(|c| *c > p.unapplied_credit_tolerance)
        {
            let blocks = match p.unapplied_credit_hold {
                UnappliedCreditHold::Any => true,
                UnappliedCreditHold::Covering => credit >= amount,
            };
            if blocks {
                held(&mut out, format!("customer has {credit} received and not yet applied: reconcile before reminding"));
                continue;
            }
        }
        // Penalty accrued to today, under the debtor's regime.
        let payments = input
            .payments
            .get(&inv.id)
            .map_or(&[][..], |v| v.as_slice());
        let contract = input.contract_rates.get(&inv.customer).copied();
        let pen_policy;
        let pen_policy_ref = match contract {
            Some(r) => {
                pen_policy = PenaltyPolicy {
                    contract_rate_percent: Some(r),
                    ..p.penalties.clone()
                };
                &pen_policy
            }
            None => &p.penalties,
        };
        let pen_input = PenaltyInput {
            kind,
            due_date: due,
            open_amount: amount,
            payments,
            mise_en_demeure: med_date.get(&inv.id).copied(),
            until: today,
        };
        let penalty =
            match penalty::compute_memo(&pen_input, &input.rates, pen_policy_ref, &mut memo) {
                Ok(pen) => pen,
                Err(e @ DunningError::MissingRate { .. })
                    if p.on_missing_rate == MissingRatePolicy::Hold =>
                {
                    held(
                        &mut out,
                        format!("{e}; reminder held until the rate table is updated"),
                    );
                    if !missing_rate_alerted {
                        missing_rate_alerted = true;
                        out.alerts.push(Alert {
                            kind: "missing_rate".into(),
                            customer: inv.customer.clone(),
                            invoice: Some(inv.id.clone()),
                            deadline: None,
                            message: format!("{e}"),
                        });
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
        for w in &penalty.warnings {
            out.alerts.push(Alert {
                kind: "contract_rate".into(),
                customer: inv.customer.clone(),
                invoice: Some(inv.id.clone()),
                deadline: None,
                message: w.clone(),
            });
        }
        candidates.push(Candidate {
            inv,
            customer,
            step: idx,
            amount,
            due,
            days,
            eligible_on,
            segment,
            note,
            penalty,
        });
    }

    // Group by (customer, step), in order.
    let mut groups: BTreeMap<(&CustomerId, usize), Vec<Candidate<'_>>> = BTreeMap::new();
    for c in candidates {
        groups.entry((&c.customer.id, c.step)).or_default().push(c);
    }
    let scheduled_for = next_sending_day(today, &p.sending);
    let window = format!(
        "{:02}:00-{:02}:00",
        p.sending.window_start_hour, p.sending.window_end_hour
    );
    let mut actions = Vec::with_capacity(groups.len());
    for ((cust_id, idx), group) in groups {
        let step = &steps[idx];
        let customer = group[0].customer;
        let segment = group[0].segment;
        let adj = segment.adjust(&p.segments);
        let mut invoices = Vec::with_capacity(group.len());
        let mut reasons: Vec<String> = Vec::new();
        let ids: Vec<&InvoiceId> = group.iter().map(|c| &c.inv.id).collect();
        let bucket = group.iter().map(|c| c.eligible_on).max().unwrap_or(today);
        let key = action_key(
            &input.company,
            cust_id,
            step.stage,
            ordinals[idx],
            bucket,
            &ids,
        );
        let when = if step.offset_days < 0 {
            format!("due in {} day(s)", -group[0].days)
        } else {
            format!(
                "{} day(s) overdue",
                group.iter().map(|c| c.days).max().unwrap_or(0)
            )
        };
        for c in group {
            if let Some(n) = &c.note {
                reasons.push(format!("{}: {n}", c.inv.number));
            }
            invoices.push(PlannedInvoice {
                invoice: c.inv.id.clone(),
                amount_due: c.amount,
                days_overdue: c.days,
                penalty: c.penalty.amount,
                indemnity: c.penalty.indemnity,
                rate_source: c.penalty.rate_source,
                number: c.inv.number.clone(),
                issue_date: c.inv.issue_date,
                due_date: c.due,
                payment_iban: c.inv.payment_iban.clone(),
                periods: c.penalty.periods,
            });
        }
        let mut reason = format!(
            "stage {} step {} ({}, policy offset D{:+}, segment {}, shifted {:+} days): {when}",
            step.stage,
            ordinals[idx],
            step.channel.as_str(),
            step.offset_days,
            segment.as_str(),
            if step.stage == Stage::Preventive {
                0
            } else {
                adj.shift_days
            }
        );
        for r in reasons {
            reason.push_str("; ");
            reason.push_str(&r);
        }
        let total_due: Decimal = invoices.iter().map(|i| i.amount_due).sum();
        let total_penalty: Decimal = invoices.iter().map(|i| i.penalty).sum();
        let total_indemnity: Decimal = invoices.iter().map(|i| i.indemnity).sum();
        let (recommendation, evidence) = if step.stage == Stage::Contentieux {
            contentieux(
                customer,
                &invoices,
                total_due + total_penalty + total_indemnity,
                p,
                &history_by_inv,
            )
        } else {
            (None, Vec::new())
        };
        if matches!(step.channel, Channel::Email) && customer.emails.is_empty() {
            out.alerts.push(Alert {
                kind: "missing_contact".into(),
                customer: cust_id.clone(),
                invoice: None,
                deadline: None,
                message: "no e-mail address for this customer: send the reminder by post or add an address".into(),
            });
        }
        let language = if customer.language.is_empty() {
            "fr".to_owned()
        } else {
            customer.language.to_lowercase()
        };
        actions.push(Action {
            customer: cust_id.clone(),
            stage: step.stage,
            channel: step.channel,
            invoices,
            reason,
            key,
            step: ordinals[idx],
            scheduled_for,
            window: window.clone(),
            segment,
            tone: adj.tone,
            language,
            customer_kind: customer.kind,
            total_due,
            total_penalty,
            total_indemnity,
            recommendation,
            evidence,
        });
    }

    // Daily cap: the most advanced stages and the largest amounts first.
    if let Some(cap) = p.sending.max_actions_per_day {
        let room = usize::try_from(cap.saturating_sub(sent_today)).unwrap_or(usize::MAX);
        if actions.len() > room {
            let mut order: Vec<usize> = (0..actions.len()).collect();
            order.sort_by(|a, b| {
                let (x, y) = (&actions[*a], &actions[*b]);
                (y.stage, y.total_due)
                    .cmp(&(x.stage, x.total_due))
                    .then(a.cmp(b))
            });
            let keep: std::collections::HashSet<usize> = order.into_iter().take(room).collect();
            let mut kept = Vec::new();
            for (i, a) in actions.into_iter().enumerate() {
                if keep.contains(&i) {
                    kept.push(a);
                } else {
                    out.deferred.push(a);
                }
            }
            actions = kept;
        }
    }
    out.actions = actions;
    if !out.actions.is_empty() || !out.deferred.is_empty() {
        out.rate_rows = input.rates.row_sources();
    }

    // Credit-risk alerts from the aged balance and DSO.
    let mut custs: Vec<_> = aging.into_iter().collect();
    custs.sort_by(|a, b| a.0.cmp(b.0));
    for (cust, items) in custs {
        let aged = AgedBalance::compute(&items, today, Currency::EUR);
        let over_90 = aged.days_91_180 + aged.over_180;
        if let Some(limit) = p.alerts.over_90_days_amount {
            if over_90 > limit {
                out.alerts.push(Alert {
                    kind: "credit_risk".into(),
                    customer: cust.clone(),
                    invoice: None,
                    deadline: None,
                    message: format!(
                        "{over_90} over 90 days past due (limit {limit}); total open {}",
                        aged.total
                    ),
                });
            }
        }
        if let (Some(limit), Some(sales)) = (p.alerts.dso_days, input.sales_last_365.get(cust)) {
            if let Some(d) = dso(aged.total, *sales, 365).filter(|d| *d > limit) {
                out.alerts.push(Alert {
                    kind: "credit_risk".into(),
                    customer: cust.clone(),
                    invoice: None,
                    deadline: None,
                    message: format!("DSO {d} days over the last 365 days (limit {limit})"),
                });
            }
        }
    }
    Ok(out)
}

/// The contentieux recommendation and the evidence file list.
fn contentieux(
    customer: &Customer,
    invoices: &[PlannedInvoice],
    claimed: Decimal,
    p: &Policy,
    history: &HashMap<&InvoiceId, Vec<&SentAction>>,
) -> (Option<String>, Vec<String>) {
    let route = match customer.kind {
        CustomerKind::Business => "requête en injonction de payer to the président of the tribunal de commerce of the debtor's seat (CPC 1405 s.; online via Infogreffe), or mandate a collection agency (CPCE R124-1 s.)",
        CustomerKind::Consumer => "requête en injonction de payer to the tribunal judiciaire of the debtor's domicile (CPC 1405 s.); no recovery fee may be charged to the consumer (CPCE L111-8)",
        CustomerKind::PublicEntity | CustomerKind::PublicHospital => "written claim to the public buyer's ordonnateur and comptable (interrupts the déchéance quadriennale), then the administrative court (⚠ route not researched: ask counsel)",
    };
    let mut rec = format!("stop automatic dunning; {route}");
    if claimed <= p.petites_creances_max
        && customer.kind != CustomerKind::PublicEntity
        && customer.kind != CustomerKind::PublicHospital
    {
        rec.push_str(&format!(
            "; the claim ({claimed}) is within the procédure simplifiée de recouvrement des petites créances (≤ {}, CPCE L125-1) through a commissaire de justice",
            p.petites_creances_max
        ));
    }
    let mut evidence = Vec::new();
    for i in invoices {
        evidence.push(format!(
            "invoice {} of {} due {}, open {}",
            i.number, i.issue_date, i.due_date, i.amount_due
        ));
    }
    let mut sent: Vec<&SentAction> = invoices
        .iter()
        .flat_map(|i| history.get(&i.invoice).into_iter().flatten().copied())
        .collect();
    sent.sort_by_key(|a| (a.date, a.stage, a.step));
    sent.dedup();
    for s in sent {
        let what = if s.stage == Stage::MiseEnDemeure {
            "mise en demeure (LRAR) with its avis de réception"
        } else {
            "reminder"
        };
        evidence.push(format!("{what} of {} (stage {})", s.date, s.stage));
    }
    let pen: Decimal = invoices.iter().map(|i| i.penalty).sum();
    let ind: Decimal = invoices.iter().map(|i| i.indemnity).sum();
    evidence.push(format!(
        "statement of accrued penalties {pen} and indemnities {ind} with the rate rows used"
    ));
    evidence.push(
        "contract / general terms of sale showing the payment terms and penalty clause".into(),
    );
    (Some(rec), evidence)
}
