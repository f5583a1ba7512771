//! Pass 5, grouping: the priced candidates of one customer at one step form one action.
//!
//! In: the walks after pass 4, the ladder and the history. Out: the actions, in (customer,
//! step) order, each with its idempotency key (see the module documentation of
//! [`super`]), reason, totals, sending day and window, and for contentieux the
//! recommendation and evidence file; plus a `missing_contact` alert for an e-mail step to a
//! customer without an address.

use crate::dunning::calendar::next_sending_day;
use crate::dunning::penalty::Penalty;
use crate::dunning::plan::candidates::{Candidate, State, Walk};
use crate::dunning::plan::history::{History, Ladder};
use crate::dunning::plan::penalties::FIRST_STAGE_STATING_PENALTIES;
use crate::dunning::plan::{
    action_key, Action, Alert, PlanInput, PlannedInvoice, PreviousAction, SentAction,
};
use crate::dunning::policy::Policy;
use crate::dunning::stage::{Channel, Stage};
use crate::ids::{CustomerId, InvoiceId};
use crate::model::{Customer, CustomerKind, Invoice};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// The language used when the customer has none.
const DEFAULT_LANGUAGE: &str = "fr";

/// A candidate with its penalty and invoice.
type Priced<'a> = (Candidate<'a>, Penalty, &'a Invoice);

pub(super) fn group(
    input: &PlanInput,
    ladder: &Ladder<'_>,
    hist: &History<'_>,
    today: NaiveDate,
    walks: Vec<Walk<'_>>,
) -> (Vec<Action>, Vec<Alert>) {
    let p = &input.policy;
    let steps = ladder.steps;
    let mut groups: BTreeMap<(&CustomerId, usize), Vec<Priced<'_>>> = BTreeMap::new();
    for w in walks {
        if let State::Priced(c, pen) = w.state {
            groups
                .entry((&c.customer.id, c.step))
                .or_default()
                .push((c, pen, w.inv));
        }
    }
    let scheduled_for = next_sending_day(today, &p.sending);
    let window = format!(
        "{:02}:00-{:02}:00",
        p.sending.window_start_hour, p.sending.window_end_hour
    );
    let mut alerts = Vec::new();
    let mut actions = Vec::with_capacity(groups.len());
    for ((cust_id, idx), group) in groups {
        let step = &steps[idx];
        let customer = group[0].0.customer;
        let segment = group[0].0.segment;
        let adj = segment.adjust(&p.segments);
        let mut invoices = Vec::with_capacity(group.len());
        let mut reasons: Vec<String> = Vec::new();
        let ids: Vec<&InvoiceId> = group.iter().map(|(_, _, inv)| &inv.id).collect();
        let bucket = group
            .iter()
            .map(|(c, _, _)| c.eligible_on)
            .max()
            .unwrap_or(today);
        let key = action_key(
            &input.company,
            cust_id,
            step.stage,
            ladder.ordinals[idx],
            bucket,
            &ids,
        );
        let when = if step.offset_days < 0 {
            format!("due in {} day(s)", -group[0].0.days)
        } else {
            format!(
                "{} day(s) overdue",
                group.iter().map(|(c, _, _)| c.days).max().unwrap_or(0)
            )
        };
        for (c, pen, inv) in group {
            if let Some(n) = &c.note {
                reasons.push(format!("{}: {n}", inv.number));
            }
            if let Some(n) = &c.due_note {
                reasons.push(format!("{}: {n}", inv.number));
            }
            if let Some(m) = pen
                .missing
                .as_ref()
                .filter(|_| step.stage >= FIRST_STAGE_STATING_PENALTIES)
            {
                reasons.push(format!(
                    "{}: penalty amount not stated, {m}; the letter states the legal clause",
                    inv.number
                ));
            }
            let previous = hist
                .by_invoice
                .get(&inv.id)
                .into_iter()
                .flatten()
                .map(|a| PreviousAction {
                    date: a.date,
                    stage: a.stage,
                    channel: ladder
                        .flat_index(a.stage, a.step)
                        .filter(|i| steps[*i].stage == a.stage)
                        .map(|i| steps[i].channel),
                })
                .collect::<Vec<_>>();
            invoices.push(PlannedInvoice {
                invoice: inv.id.clone(),
                amount_due: c.amount,
                days_overdue: c.days,
                penalty: pen.amount,
                indemnity: pen.indemnity,
                rate_source: pen.rate_source,
                number: inv.number.clone(),
                issue_date: inv.issue_date,
                due_date: c.due,
                payment_iban: inv.payment_iban.clone(),
                periods: pen.periods,
                missing_rate: pen.missing,
                due_date_note: c.due_note,
                previous: sorted(previous),
            });
        }
        let mut reason = format!(
            "stage {} step {} ({}, policy offset D{:+}, segment {}, shifted {:+} days): {when}",
            step.stage,
            ladder.ordinals[idx],
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
                &hist.by_invoice,
            )
        } else {
            (None, Vec::new())
        };
        if matches!(step.channel, Channel::Email) && customer.emails.is_empty() {
            alerts.push(Alert {
                kind: "missing_contact".into(),
                customer: cust_id.clone(),
                invoice: None,
                deadline: None,
                message: "no e-mail address for this customer: send the reminder by post or add an address".into(),
            });
        }
        let language = if customer.language.is_empty() {
            DEFAULT_LANGUAGE.to_owned()
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
            step: ladder.ordinals[idx],
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
    (actions, alerts)
}

/// Oldest first, one entry per (date, stage).
fn sorted(mut v: Vec<PreviousAction>) -> Vec<PreviousAction> {
    v.sort_by_key(|a| (a.date, a.stage));
    v.dedup_by_key(|a| (a.date, a.stage));
    v
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
