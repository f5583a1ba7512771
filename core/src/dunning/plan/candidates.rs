//! Pass 2, candidates: for each open invoice, whether a step of the ladder is due today.
//!
//! In: the input, the [`Ladder`] and the [`History`]. Out: one [`Walk`] per open invoice, in
//! plan order (customer, due date, id): skipped (paid, or nothing due yet), held (unknown
//! customer, pause, e-invoicing status, contentieux reached) with its reason, or a
//! [`Candidate`] for one step; plus the aged items per customer (credit-risk alerts) and the
//! alerts found on the way (prescription, declaration of claim, broken promise or plan).
//!
//! The step: the furthest step whose offset (shifted by the payment-history segment, never
//! before the day after the due date) has passed, stopping at the first mandatory one, never
//! backwards nor twice, and only once the step's delay since the previous action and the
//! customer's contact frequency allow.

use crate::aging::AgingItem;
use crate::dunning::pause::{self, Pause, PauseKind, PauseOutcome};
use crate::dunning::plan::history::{History, Ladder};
use crate::dunning::plan::{Alert, PlanInput};
use crate::dunning::policy::Policy;
use crate::dunning::prescription;
use crate::dunning::segment::{classify, Segment};
use crate::dunning::stage::Stage;
use crate::ids::{CustomerId, InvoiceId};
use crate::model::{Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus};
use crate::money::Money;
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

/// The earliest offset of an after-due step, whatever the segment shift: the day after the
/// due date (penalties run from then, C. com. L441-10 II).
pub(super) const FIRST_DAY_AFTER_DUE: i32 = 1;

/// An invoice for which a step is due today.
pub(super) struct Candidate<'a> {
    pub customer: &'a Customer,
    /// Flat index of the step in the ladder.
    pub step: usize,
    /// Amount reminded (open, less any disputed part).
    pub amount: Decimal,
    /// Due date used.
    pub due: NaiveDate,
    /// How the due date was found, when the document did not give it.
    pub due_note: Option<String>,
    /// Days past the due date (negative before it).
    pub days: i64,
    /// The day the step became due (the idempotency bucket).
    pub eligible_on: NaiveDate,
    pub segment: Segment,
    /// A note for the action's reason (partial dispute, broken promise…).
    pub note: Option<String>,
}

/// Where one invoice stands after a pass.
pub(super) enum State<'a> {
    /// Nothing to do and nothing to say (paid, or no step due yet).
    Skip,
    /// Held back, with the reason.
    Held(String),
    /// A step is due (pass 2).
    Due(Candidate<'a>),
    /// A step is due and its penalty computed (pass 4).
    Priced(Candidate<'a>, crate::dunning::penalty::Penalty),
}

/// One open invoice through the passes: its state, and the alerts it raised, in order.
pub(super) struct Walk<'a> {
    pub inv: &'a Invoice,
    pub alerts: Vec<Alert>,
    pub state: State<'a>,
}

/// The output of the candidates pass.
pub(super) struct Candidates<'a> {
    pub walks: Vec<Walk<'a>>,
    /// Open items per customer, for the aged balance.
    pub aging: HashMap<&'a CustomerId, Vec<AgingItem>>,
}

/// Due date used: the invoice's, else the earliest instalment, else the issue date plus the
/// policy term of the debtor kind — in which case the note says so, and which term was used.
pub(super) fn due_date_of(
    inv: &Invoice,
    kind: CustomerKind,
    p: &Policy,
) -> (NaiveDate, Option<String>) {
    match inv
        .due_date
        .or_else(|| inv.instalments.iter().map(|i| i.due_date).min())
    {
        Some(d) => (d, None),
        None => {
            let (t, key) = match kind {
                CustomerKind::Business => (p.terms.business_days, "business_days"),
                CustomerKind::Consumer => (p.terms.consumer_days, "consumer_days"),
                CustomerKind::PublicEntity => (p.terms.public_entity_days, "public_entity_days"),
                CustomerKind::PublicHospital => {
                    (p.terms.public_hospital_days, "public_hospital_days")
                }
            };
            let due = inv.issue_date + Duration::days(i64::from(t));
            (
                due,
                Some(format!(
                    "the document gives no usable due date (BT-9 missing or invalid): {due} assumed = issue date {} + {t} days (policy dunning.terms.{key})",
                    inv.issue_date
                )),
            )
        }
    }
}

pub(super) fn walk<'a>(
    input: &'a PlanInput,
    ladder: &Ladder<'_>,
    hist: &History<'a>,
    today: NaiveDate,
) -> Candidates<'a> {
    let p = &input.policy;
    let steps = ladder.steps;
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
    let mut segments: HashMap<&CustomerId, Segment> = HashMap::new();
    let mut aging: HashMap<&CustomerId, Vec<AgingItem>> = HashMap::new();
    let mut claim_alerted: HashSet<&CustomerId> = HashSet::new();
    let mut resume_alerted: HashSet<(&CustomerId, String)> = HashSet::new();

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

    let mut walks = Vec::with_capacity(order.len());
    for inv in order {
        let mut w = Walk {
            inv,
            alerts: Vec::new(),
            state: State::Skip,
        };
        let Some(customer) = customers.get(&inv.customer).copied() else {
            w.state = State::Held(format!(
                "customer {} unknown: cannot choose the legal regime",
                inv.customer
            ));
            walks.push(w);
            continue;
        };
        let open = input
            .open_amounts
            .get(&inv.id)
            .copied()
            .unwrap_or(inv.amount_due);
        if open <= p.min_amount_to_remind {
            walks.push(w); // fully paid (or a few cents left): no action
            continue;
        }
        let kind = customer.kind;
        let (due, due_note) = due_date_of(inv, kind, p);
        let days = (today - due).num_days();
        aging.entry(&inv.customer).or_default().push(AgingItem {
            due_date: due,
            open: Money::new(open, inv.currency),
        });

        // Prescription alert, whatever the pauses.
        let deadline = prescription::deadline(kind, due);
        if (deadline - today).num_days() <= i64::from(p.alerts.prescription_warn_days) {
            w.alerts.push(Alert {
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
            let alert = match code {
                210 => Some(("einvoice_refused", "the buyer refused the invoice (e-invoicing status 210 Refusée): dunning stopped; issue the credit note and, if due, a corrected invoice")),
                213 => Some(("einvoice_rejected", "the platform rejected the invoice (e-invoicing status 213 Rejetée): it was never legally delivered and its payment period has not started; re-issue it")),
                _ => None,
            };
            if let Some((kind, message)) = alert {
                w.alerts.push(Alert {
                    kind: kind.into(),
                    customer: inv.customer.clone(),
                    invoice: Some(inv.id.clone()),
                    deadline: None,
                    message: message.into(),
                });
            }
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
                if claim_alerted.insert(&inv.customer) {
                    let deadline = pause::claim_deadline(&pz.kind);
                    w.alerts.push(Alert {
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
                w.state = State::Held(reason);
                walks.push(w);
                continue;
            }
            PauseOutcome::Partial { excluded, reason } => {
                amount = open - excluded;
                if amount <= p.min_amount_to_remind {
                    w.state = State::Held(reason);
                    walks.push(w);
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
                    w.alerts.push(Alert {
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
        let last = hist.reached.get(&inv.id).copied();
        if let Some((li, _)) = last {
            if steps[li].stage == Stage::Contentieux {
                w.state = State::Held("contentieux recommended: automatic dunning stopped".into());
                walks.push(w);
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
                (s.offset_days + adj.shift_days).max(FIRST_DAY_AFTER_DUE)
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
            walks.push(w);
            continue;
        };
        if let Some((_, last_date)) = last {
            if (today - last_date).num_days() < i64::from(steps[idx].min_days_since_previous) {
                walks.push(w); // the step's delay since the previous action has not passed
                continue;
            }
        }
        // Contact frequency per customer, whatever the invoice: invoices falling due on
        // successive days wait and go together instead of one message a day.
        if let Some(lc) = hist.last_contact.get(&inv.customer) {
            let gap = (today - *lc).num_days();
            if gap > 0 && gap < i64::from(p.sending.min_days_between_contacts) {
                walks.push(w);
                continue;
            }
        }
        w.state = State::Due(Candidate {
            customer,
            step: idx,
            amount,
            due,
            due_note,
            days,
            eligible_on,
            segment,
            note,
        });
        walks.push(w);
    }
    Candidates { walks, aging }
}
