//! The decisions as the engines' inputs: confirmed links and rejections for reconciliation,
//! pauses and the approval holds for the dunning plan, credit events and rate overrides for
//! the closings. Pure functions of the ledger, the decision state and `today`, so any cycle
//! (and the "next run" view) derives the same inputs from the same store.

use super::state::{DecisionState, LetterStatus, PauseRecord};
use super::{CallResult, Decision};
use crate::ledger::{self, Ledger, AUDIT_DUNNING_ACTION};
use crate::store::{Store, StoreError};
use chrono::NaiveDate;
use relance_core::dunning::pause::{Pause, PauseKind};
use relance_core::dunning::{Alert, Channel, HeldInvoice, Plan, SentAction};
use relance_core::provision::{CreditEvent, CreditEventKind, ProcedureKind};
use relance_core::reconcile::{Outcome, Policy};
use relance_core::{CompanyId, CustomerId, InvoiceId};
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Runs the reconciliation engine with what people decided: the IBANs of receipts they
/// confirmed or assigned are known for the customer (so the next receipts of that payer are
/// identified), and no pair they rejected is applied or proposed — a receipt the engine would
/// apply through a rejected pair is left to a person whole, since the rest of its combination
/// no longer holds either.
pub fn reconcile(ledger: &Ledger, policy: &Policy, state: &DecisionState) -> Outcome {
    let customers = learnt_customers(ledger, state);
    let mut out = relance_core::reconcile::reconcile(
        &ledger.invoices,
        &customers,
        &ledger.receipts,
        &ledger.applied(),
        policy,
    );
    if state.rejected.is_empty() {
        return out;
    }
    let hit: BTreeSet<_> = out
        .allocations
        .iter()
        .filter(|a| {
            state
                .rejected
                .contains(&(a.transaction.clone(), a.invoice.clone()))
        })
        .map(|a| a.transaction.clone())
        .collect();
    let had_auto: HashSet<_> = out
        .allocations
        .iter()
        .filter(|a| a.auto && hit.contains(&a.transaction))
        .map(|a| a.transaction.clone())
        .collect();
    out.allocations.retain(|a| {
        !(hit.contains(&a.transaction)
            && (a.auto
                || state
                    .rejected
                    .contains(&(a.transaction.clone(), a.invoice.clone()))))
    });
    let prior: HashSet<_> = ledger
        .allocations
        .iter()
        .filter(|a| a.auto)
        .map(|a| a.transaction.clone())
        .collect();
    for tx in had_auto {
        if !prior.contains(&tx) && !out.unmatched.contains(&tx) {
            out.unmatched.push(tx);
        }
    }
    out.unmatched.sort();
    for s in &mut out.suggestions {
        let tx = s.transaction.clone();
        s.invoices
            .retain(|(i, _)| !state.rejected.contains(&(tx.clone(), i.clone())));
    }
    out.suggestions.retain(|s| !s.invoices.is_empty());
    out
}

/// The ledger's customers with the IBANs people taught: the payer IBAN of each receipt they
/// confirmed for one of the customer's invoices or assigned to the customer.
pub fn learnt_customers(ledger: &Ledger, state: &DecisionState) -> Vec<relance_core::Customer> {
    let iban_of: HashMap<&str, &str> = ledger
        .receipts
        .iter()
        .filter_map(|r| r.counterparty_iban.as_deref().map(|i| (r.id.as_str(), i)))
        .collect();
    let customer_of: HashMap<&InvoiceId, &CustomerId> = ledger
        .invoices
        .iter()
        .map(|i| (&i.id, &i.customer))
        .collect();
    let mut learnt: HashMap<&CustomerId, Vec<&str>> = HashMap::new();
    for l in &state.confirmed {
        if let (Some(iban), Some(c)) = (
            iban_of.get(l.transaction.as_str()),
            customer_of.get(&l.invoice),
        ) {
            learnt.entry(*c).or_default().push(iban);
        }
    }
    for (tx, c) in &state.assigned {
        if let Some(iban) = iban_of.get(tx.as_str()) {
            learnt.entry(c).or_default().push(iban);
        }
    }
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase()
    };
    ledger
        .customers
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if let Some(ibans) = learnt.get(&c.id) {
                for i in ibans {
                    if !c.ibans.iter().any(|k| norm(k) == norm(i)) {
                        c.ibans.push((*i).to_owned());
                    }
                }
            }
            c
        })
        .collect()
}

/// Amounts received on each invoice on or after `since` (applied allocations of receipts
/// booked from that day).
fn paid_since(
    ledger: &Ledger,
    invoices: &[InvoiceId],
    customer: &CustomerId,
    since: NaiveDate,
) -> Decimal {
    let dates: HashMap<&str, NaiveDate> = ledger
        .receipts
        .iter()
        .map(|r| (r.id.as_str(), r.booking_date))
        .collect();
    let of_customer: HashSet<&InvoiceId> = if invoices.is_empty() {
        ledger
            .invoices
            .iter()
            .filter(|i| &i.customer == customer)
            .map(|i| &i.id)
            .collect()
    } else {
        invoices.iter().collect()
    };
    ledger
        .allocations
        .iter()
        .filter(|a| a.auto && a.amount > Decimal::ZERO && of_customer.contains(&a.invoice))
        .filter(|a| {
            dates
                .get(a.transaction.as_str())
                .is_some_and(|d| *d >= since)
        })
        .map(|a| a.amount)
        .sum()
}

/// The core pauses of one decision in force on `today` (none once ended or run out).
pub fn pauses_of(p: &PauseRecord, ledger: &Ledger, today: NaiveDate) -> Vec<Pause> {
    if p.ended.is_some() {
        return Vec::new();
    }
    let decided = p.at.date_naive();
    let each = |customer: &CustomerId, invoices: &[InvoiceId], kind: PauseKind| -> Vec<Pause> {
        if invoices.is_empty() {
            vec![Pause {
                customer: customer.clone(),
                invoice: None,
                kind,
            }]
        } else {
            invoices
                .iter()
                .map(|i| Pause {
                    customer: customer.clone(),
                    invoice: Some(i.clone()),
                    kind: kind.clone(),
                })
                .collect()
        }
    };
    match &p.decision {
        Decision::Dispute(d) => {
            if d.until.is_some_and(|u| today > u) {
                return Vec::new();
            }
            let kind = PauseKind::Dispute {
                since: d.since.unwrap_or(decided),
                disputed_amount: d.amount,
                note: p.reason.clone(),
            };
            each(
                &d.customer,
                &d.invoice.iter().cloned().collect::<Vec<_>>(),
                kind,
            )
        }
        Decision::PromiseToPay(d) => {
            let paid = paid_since(ledger, &p.invoices, &d.customer, decided);
            let kind = PauseKind::PromiseToPay {
                date: d.date,
                amount: d.amount,
                paid,
                announced: None,
            };
            each(&d.customer, &p.invoices, kind)
        }
        Decision::PaymentPlan(d) => {
            let paid = paid_since(ledger, &p.invoices, &d.customer, decided);
            let kind = PauseKind::PaymentPlan {
                instalments: d.instalments.iter().map(|i| (i.date, i.amount)).collect(),
                paid,
            };
            each(&d.customer, &p.invoices, kind)
        }
        Decision::Hold(d) => {
            let kind = PauseKind::Hold {
                until: Some(d.until),
                reason: format!("{} (decided by {})", p.reason, p.actor),
            };
            each(
                &d.customer,
                &d.invoice.iter().cloned().collect::<Vec<_>>(),
                kind,
            )
        }
        Decision::CallOutcome(d) => match d.outcome {
            CallResult::Promise => {
                let Some(date) = d.date else {
                    return Vec::new();
                };
                let paid = paid_since(ledger, &p.invoices, &d.customer, decided);
                let kind = PauseKind::PromiseToPay {
                    date,
                    amount: d.amount,
                    paid,
                    announced: None,
                };
                each(&d.customer, &p.invoices, kind)
            }
            CallResult::Dispute => {
                let kind = PauseKind::Dispute {
                    since: decided,
                    disputed_amount: None,
                    note: p.reason.clone(),
                };
                each(&d.customer, &p.invoices, kind)
            }
            // Held in the plan itself (its call tasks only): see `filter_plan`.
            CallResult::WrongContact | CallResult::Reached | CallResult::NoAnswer => Vec::new(),
        },
        Decision::ProcedureCollective(d) => vec![Pause {
            customer: d.customer.clone(),
            invoice: None,
            kind: PauseKind::ProcedureCollective {
                procedure: d.procedure,
                judgment_date: d.judgment_date,
                bodacc_publication: d.bodacc_date,
                creditor_abroad: d.creditor_abroad,
                declaration_deadline: d.declaration_deadline,
            },
        }],
        _ => Vec::new(),
    }
}

/// Every pause in force for the dunning plan on `today`: those recorded before decisions
/// existed (audit kind `dunning.pause`), those of the decisions, and a hold on the invoices of
/// each letter waiting for a person's approval (nothing more is sent for them meanwhile).
pub fn pauses<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    ledger: &Ledger,
    state: &DecisionState,
    today: NaiveDate,
) -> Result<Vec<Pause>, StoreError> {
    let mut out = ledger::pauses(store, company)?;
    for p in &state.pauses {
        out.extend(pauses_of(p, ledger, today));
    }
    for l in state.waiting() {
        let a = &l.request.action;
        for i in &a.invoices {
            out.push(Pause {
                customer: a.customer.clone(),
                invoice: Some(i.invoice.clone()),
                kind: PauseKind::Hold {
                    until: None,
                    reason: format!(
                        "{} of {} waiting for approval (action {})",
                        a.stage.name(),
                        a.scheduled_for,
                        a.key
                    ),
                },
            });
        }
    }
    Ok(out)
}

/// Credit events for the closings: those recorded before decisions existed, and the
/// disputes and procédures collectives people recorded (with the decision as reference).
pub fn credit_events<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    state: &DecisionState,
) -> Result<Vec<CreditEvent>, StoreError> {
    let mut out = ledger::credit_events(store, company)?;
    for p in &state.pauses {
        let reference = Some(format!("decision {} by {}", p.key, p.actor));
        match &p.decision {
            Decision::Dispute(d) => {
                let invoices: Vec<Option<InvoiceId>> = match &d.invoice {
                    Some(i) => vec![Some(i.clone())],
                    None => vec![None],
                };
                for invoice in invoices {
                    out.push(CreditEvent {
                        customer: d.customer.clone(),
                        invoice,
                        date: d.since.unwrap_or(p.at.date_naive()),
                        kind: CreditEventKind::Dispute {
                            reason: (!p.reason.is_empty()).then(|| p.reason.clone()),
                        },
                        reference: reference.clone(),
                    });
                }
            }
            Decision::CallOutcome(d) if d.outcome == CallResult::Dispute => {
                let invoices: Vec<Option<InvoiceId>> = if p.invoices.is_empty() {
                    vec![None]
                } else {
                    p.invoices.iter().cloned().map(Some).collect()
                };
                for invoice in invoices {
                    out.push(CreditEvent {
                        customer: d.customer.clone(),
                        invoice,
                        date: p.at.date_naive(),
                        kind: CreditEventKind::Dispute {
                            reason: (!p.reason.is_empty()).then(|| p.reason.clone()),
                        },
                        reference: reference.clone(),
                    });
                }
            }
            Decision::ProcedureCollective(d) => out.push(CreditEvent {
                customer: d.customer.clone(),
                invoice: None,
                date: d.judgment_date,
                kind: CreditEventKind::ProcedureCollective {
                    procedure: match d.procedure {
                        relance_core::dunning::pause::Procedure::Sauvegarde => {
                            ProcedureKind::Sauvegarde
                        }
                        relance_core::dunning::pause::Procedure::Redressement => {
                            ProcedureKind::Redressement
                        }
                        relance_core::dunning::pause::Procedure::Liquidation => {
                            ProcedureKind::Liquidation
                        }
                    },
                    bodacc_date: d.bodacc_date,
                },
                reference: d.reference.clone().or(reference),
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// The dunning actions planned so far, with their keys, in order.
pub fn planned_actions<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<Vec<(String, SentAction)>, StoreError> {
    Ok(ledger::audit_of_kind(store, company, AUDIT_DUNNING_ACTION)?
        .into_iter()
        .filter_map(|e| {
            serde_json::from_value::<SentAction>(e.explanation)
                .ok()
                .map(|a| (e.subject, a))
        })
        .collect())
}

/// The dunning history the plan builds on: the actions planned, less those people cancelled
/// (never sent: the ladder stays where it was).
pub fn history<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    state: &DecisionState,
) -> Result<Vec<SentAction>, StoreError> {
    let cancelled = state.cancelled_actions();
    Ok(planned_actions(store, company)?
        .into_iter()
        .filter(|(k, _)| !cancelled.contains(k.as_str()))
        .map(|(_, a)| a)
        .collect())
}

/// The actions actually sent or on their way, for the closings' evidence of diligence: the
/// planned ones less the cancelled and those still waiting for approval.
pub fn sent_history<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    state: &DecisionState,
) -> Result<Vec<SentAction>, StoreError> {
    Ok(planned_actions(store, company)?
        .into_iter()
        .filter(|(k, _)| match state.letters.get(k) {
            None => true,
            Some(l) => matches!(l.status, LetterStatus::Approved { .. }),
        })
        .map(|(_, a)| a)
        .collect())
}

/// The wrong contacts people reported by customer, not yet ended: the decision's key, who,
/// when, what is wrong.
pub fn wrong_contacts(state: &DecisionState) -> HashMap<&CustomerId, &PauseRecord> {
    state
        .active_pauses()
        .filter_map(|p| match &p.decision {
            Decision::CallOutcome(d) if d.outcome == CallResult::WrongContact => {
                Some((&d.customer, p))
            }
            _ => None,
        })
        .collect()
}

/// Removes from `plan` the actions people cancelled (the same facts give the same key: the
/// plan proposes it again, and it is not sent), listing their invoices as held with why; and
/// the call tasks of customers whose contact people reported wrong (written reminders go
/// on), each such customer with a `wrong_contact` alert until a person ends the report.
pub fn filter_plan(plan: &mut Plan, state: &DecisionState) {
    let wrong = wrong_contacts(state);
    let mut alerted: BTreeSet<&CustomerId> = BTreeSet::new();
    let mut kept = Vec::with_capacity(plan.actions.len());
    for a in std::mem::take(&mut plan.actions) {
        if a.channel == Channel::PhoneTask {
            if let Some(p) = wrong.get(&a.customer) {
                for i in &a.invoices {
                    plan.held.push(HeldInvoice {
                        invoice: i.invoice.clone(),
                        customer: a.customer.clone(),
                        reason: format!(
                            "call held: wrong contact reported by {} on {}: {} (ended by end_pause {} once the contact is fixed)",
                            p.actor,
                            p.at.date_naive(),
                            p.reason,
                            p.key
                        ),
                    });
                }
                continue;
            }
        }
        match state.letters.get(&a.key).map(|l| &l.status) {
            Some(LetterStatus::Cancelled { by, at, reason }) => {
                for i in &a.invoices {
                    plan.held.push(HeldInvoice {
                        invoice: i.invoice.clone(),
                        customer: a.customer.clone(),
                        reason: format!(
                            "{} cancelled by {by} on {}: {reason} (proposed again only when the facts change)",
                            a.stage.name(),
                            at.date_naive()
                        ),
                    });
                }
            }
            _ => kept.push(a),
        }
    }
    plan.actions = kept;
    for (customer, p) in &wrong {
        if alerted.insert(customer) {
            plan.alerts.push(Alert {
                kind: "wrong_contact".into(),
                customer: (*customer).clone(),
                invoice: None,
                deadline: None,
                message: format!(
                    "the phone contact is wrong ({}, reported by {} on {}): fix it in the system of record, then end the report (end_pause {}); no call task is planned meanwhile",
                    p.reason,
                    p.actor,
                    p.at.date_naive(),
                    p.key
                ),
            });
        }
    }
}
