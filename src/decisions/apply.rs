//! Applying the pending decisions in a company's cycle: each is checked again against the
//! state of the moment, then turned into its effects, committed with its audit event and its
//! inbox entry marked done, all in the cycle's batch.

use super::facts::{Facts as _, LedgerFacts};
use super::record::InboxBody;
use super::state::{Applied, DecisionState, LetterStatus, Outcome};
use super::validate::{self, Checked};
use super::{Decision, Envelope, FieldError, AUDIT_DECISION, INBOX_KIND_PREFIX};
use crate::config::CompanyConfig;
use crate::ledger::{allocation_audit, allocation_record, Ledger, WRITE_OFF_PREFIX};
use crate::pipeline::{sender_info, store_letter, target_of, TARGET_TASKS};
use crate::store::{AuditEvent, Batch, InboxEntry, OutboxEntry, OutboxState, Store};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use relance_connectors::contract::{IdempotencyKey, MoveLine, WriteCommand};
use relance_connectors::formats::letter::{render_message, RenderContext};
use relance_connectors::keys;
use relance_core::dunning::template::Message;
use relance_core::reconcile::{Allocation, Confidence, Rule};
use relance_core::{Customer, Invoice, InvoiceId, Receipt, TransactionId};
use rust_decimal::Decimal;
use serde_json::json;
use std::path::Path;

/// Pending decisions applied by one cycle, at most (the rest wait for the next).
pub const MAX_PER_CYCLE: usize = 1000;

/// What a cycle needs to apply decisions.
#[derive(Clone, Copy, Debug)]
pub struct ApplyContext<'a> {
    /// The company.
    pub company: &'a CompanyConfig,
    /// The state directory (letters).
    pub state_dir: &'a Path,
    /// The cycle's instant.
    pub now: DateTime<Utc>,
    /// The system of record's target name, if the company writes back.
    pub writeback: Option<&'a str>,
}

/// The decisions a cycle applied, and the ledger and decision state after them.
#[derive(Debug)]
pub struct ApplyOutcome {
    /// Their effects, audit events and inbox marks (commit it).
    pub batch: Batch,
    /// The ledger with their allocations.
    pub ledger: Ledger,
    /// The decision state with them folded in.
    pub state: DecisionState,
    /// Each decision, as applied or refused.
    pub applied: Vec<Applied>,
}

/// Applies `company`'s pending decisions (at most [`MAX_PER_CYCLE`], in recording order) to
/// `ledger` and `state`. Nothing is written: the caller commits the batch.
pub fn apply_pending<S: Store + ?Sized>(
    store: &S,
    cx: &ApplyContext<'_>,
    ledger: Ledger,
    state: DecisionState,
) -> anyhow::Result<ApplyOutcome> {
    let cid = &cx.company.id;
    let pending = store.inbox(cid, 0, MAX_PER_CYCLE, true)?;
    let mut facts = LedgerFacts::new(store, cid, ledger, state);
    let mut batch = Batch::default();
    let mut applied = Vec::new();
    for entry in pending {
        if !entry.item.kind.starts_with(INBOX_KIND_PREFIX) {
            continue;
        }
        let body: InboxBody = match serde_json::from_value(entry.item.body.clone()) {
            Ok(b) => b,
            Err(e) => {
                // Written by a newer build: left pending for it, never marked done unread.
                tracing::warn!(company = %cid, seq = entry.seq, key = %entry.item.key, "decision not readable by this build, left pending: {e}");
                continue;
            }
        };
        let a = apply_one(cx, &entry, body, &mut facts, &mut batch)?;
        facts.state.fold(&a);
        batch.audit.push(AuditEvent {
            at: cx.now,
            kind: AUDIT_DECISION.to_owned(),
            subject: a.key.clone(),
            summary: summary(&a),
            explanation: serde_json::to_value(&a).unwrap_or_default(),
        });
        batch.inbox_done.push((entry.seq, cx.now));
        applied.push(a);
    }
    Ok(ApplyOutcome {
        batch,
        ledger: facts.ledger,
        state: facts.state,
        applied,
    })
}

fn summary(a: &Applied) -> String {
    let what = serde_json::to_value(&a.decision)
        .ok()
        .map(|v| v.to_string())
        .unwrap_or_default();
    match &a.outcome {
        Outcome::Applied => format!(
            "{} by {}: applied: {what}{}",
            a.decision.kind(),
            a.actor,
            a.reason
                .as_deref()
                .map(|r| format!(" (why: {r})"))
                .unwrap_or_default()
        ),
        Outcome::Refused { reasons } => format!(
            "{} by {}: refused: {}",
            a.decision.kind(),
            a.actor,
            reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

fn apply_one<S: Store + ?Sized>(
    cx: &ApplyContext<'_>,
    entry: &InboxEntry,
    body: InboxBody,
    facts: &mut LedgerFacts<'_, S>,
    batch: &mut Batch,
) -> anyhow::Result<Applied> {
    let env = body.envelope;
    let mut out = Applied {
        v: env.v,
        seq: entry.seq,
        key: env.key.clone(),
        actor: env.actor.clone(),
        at: env.at,
        reason: env.reason.clone(),
        decision: env.decision.clone(),
        before: body.before,
        after: serde_json::Value::Null,
        outcome: Outcome::Applied,
        applied_at: cx.now,
    };
    if facts.state.seen.contains(&env.key) {
        // The inbox holds one entry per key; a second event for it would be a bug elsewhere.
        out.outcome = refused("key", "this decision was already applied");
        return Ok(out);
    }
    let checked = match validate::check(&env, facts, cx.company)? {
        Ok(c) => c,
        Err(reasons) => {
            out.outcome = Outcome::Refused { reasons };
            return Ok(out);
        }
    };
    match effects(cx, &env, checked, facts, batch)? {
        Ok(after) => out.after = after,
        Err(reasons) => out.outcome = Outcome::Refused { reasons },
    }
    Ok(out)
}

fn refused(field: &str, message: &str) -> Outcome {
    Outcome::Refused {
        reasons: vec![FieldError::new(field, message)],
    }
}

/// The allocation a person decided.
pub fn confirmed_allocation(
    transaction: &TransactionId,
    invoice: &InvoiceId,
    amount: Decimal,
    env: &Envelope,
    base: Option<&Allocation>,
) -> Allocation {
    let why = match env.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => format!(": {r}"),
        _ => String::new(),
    };
    let mut reason = format!(
        "confirmed by {} on {} ({}){why}",
        env.actor,
        env.at.date_naive(),
        env.decision.kind()
    );
    let why = match base {
        Some(b) => {
            reason.push_str("; proposed as: ");
            reason.push_str(&b.reason());
            relance_core::reconcile::explain::Why::new(
                b.why.received(),
                relance_core::reconcile::explain::Basis::Recorded(reason.into_boxed_str()),
                &b.evidence(),
                b.why.foreign(),
            )
        }
        None => relance_core::reconcile::explain::Why::recorded(reason),
    };
    Allocation {
        transaction: transaction.clone(),
        invoice: invoice.clone(),
        amount,
        auto: true,
        confidence: Confidence(1000),
        rule: base.map_or(Rule::Imputation, |b| b.rule),
        deduction: None,
        why,
    }
}

type Effect = Result<serde_json::Value, Vec<FieldError>>;

fn outbox(
    batch: &mut Batch,
    key: IdempotencyKey,
    target: &str,
    cmd: WriteCommand,
    now: DateTime<Utc>,
) {
    batch
        .outbox_new
        .push(OutboxEntry::new(key, target, cmd, now));
}

fn effects<S: Store + ?Sized>(
    cx: &ApplyContext<'_>,
    env: &Envelope,
    c: Checked,
    facts: &mut LedgerFacts<'_, S>,
    batch: &mut Batch,
) -> anyhow::Result<Effect> {
    let cid = &cx.company.id;
    let now = cx.now;
    let reason = env.reason_text().to_owned();
    let after = match &env.decision {
        Decision::ConfirmMatch(_) | Decision::SplitReceipt(_) | Decision::ReassignMatch(_) => {
            let Some(r) = c.receipt.clone() else {
                return Ok(Err(vec![FieldError::new(
                    "decision.transaction",
                    "no receipt",
                )]));
            };
            let undone = drop_allocations(cx, env, &r, &c.drop, facts, batch);
            let mut made = Vec::new();
            for (inv, amount) in &c.parts {
                let base = c.drop.iter().find(|a| a.invoice == inv.id && !a.auto);
                let a = confirmed_allocation(&r.id, &inv.id, *amount, env, base);
                put_allocation(batch, allocation_record(&a, now));
                batch.audit.push(allocation_audit(&a, now));
                facts.put_allocation(&r.id, &inv.id, Some(a.clone()));
                made.push(a);
            }
            if let Some(w) = cx.writeback {
                let mut allocs: Vec<(String, Decimal)> = made
                    .iter()
                    .map(|a| (a.invoice.to_string(), a.amount))
                    .collect();
                allocs.sort();
                outbox(
                    batch,
                    keys::reconcile(cid, r.id.as_str(), &allocs),
                    w,
                    WriteCommand::Reconcile {
                        transaction: r.id.to_string(),
                        allocations: allocs,
                        date: r.booking_date,
                    },
                    now,
                );
            }
            let customers: Vec<_> = c.parts.iter().map(|(i, _)| i.customer.clone()).collect();
            json!({
                "allocations": made.iter().map(|a| json!({"invoice": a.invoice, "amount": a.amount})).collect::<Vec<_>>(),
                "amount": made.first().map(|a| a.amount.to_string()),
                "undone": undone,
                "learnt": { "customers": customers, "iban": r.counterparty_iban, "name": r.counterparty_name },
            })
        }
        Decision::RejectMatch(d) => {
            let undone = match &c.receipt {
                Some(r) => drop_allocations(cx, env, r, &c.drop, facts, batch),
                None => Vec::new(),
            };
            json!({ "rejected": { "transaction": d.transaction, "invoice": d.invoice }, "undone": undone })
        }
        Decision::AssignReceipt(d) => {
            json!({
                "customer": d.customer,
                "learnt": { "iban": c.receipt.as_ref().and_then(|r| r.counterparty_iban.clone()),
                            "name": c.receipt.as_ref().and_then(|r| r.counterparty_name.clone()) },
            })
        }
        Decision::WriteOff(_) => {
            let (Some(inv), Some(amount), Some(account)) =
                (c.covered.first(), c.amount, c.account.clone())
            else {
                return Ok(Err(vec![FieldError::new(
                    "decision.invoice",
                    "nothing to write off",
                )]));
            };
            let key = keys::decision_effect(cid, &env.key, "write-off");
            let tx = TransactionId::new(format!(
                "{WRITE_OFF_PREFIX}{}",
                key.as_str().trim_start_matches("relance-decision-")
            ));
            let mut a = confirmed_allocation(&tx, &inv.id, amount, env, None);
            a.why = relance_core::reconcile::explain::Why::recorded(format!(
                "residue of {amount} written off to {account} by {}: {reason}",
                env.actor
            ));
            put_allocation(batch, allocation_record(&a, now));
            batch.audit.push(allocation_audit(&a, now));
            facts.put_allocation(&tx, &inv.id, Some(a));
            let label = format!(
                "Écart de règlement {} passé en charge : {reason}",
                inv.number
            );
            let target = cx.writeback.unwrap_or(TARGET_TASKS);
            let cmd = WriteCommand::PostMove {
                journal: cx.company.provision.journal.clone(),
                date: env.at.date_naive(),
                description: label.clone(),
                lines: vec![
                    MoveLine {
                        account: account.clone(),
                        debit: amount,
                        credit: Decimal::ZERO,
                        party: None,
                        label: label.clone(),
                    },
                    MoveLine {
                        account: cx.company.provision.accounts.receivable.clone(),
                        debit: Decimal::ZERO,
                        credit: amount,
                        party: Some(inv.customer.to_string()),
                        label,
                    },
                ],
            };
            outbox(batch, key.clone(), target, cmd, now);
            json!({ "allocation": tx, "amount": amount, "account": account, "move": key, "open_before": c.open_total })
        }
        Decision::Dispute(d) => {
            let invoices: Vec<&InvoiceId> = d.invoice.iter().collect();
            if let Some(w) = cx.writeback {
                for inv in &c.covered {
                    outbox(
                        batch,
                        keys::decision_effect(cid, &env.key, &format!("block-{}", inv.id)),
                        w,
                        WriteCommand::BlockDunning {
                            invoice: inv.id.to_string(),
                            blocked: true,
                            reason: format!("Litige : {reason}"),
                        },
                        now,
                    );
                }
            }
            json!({ "invoices": invoices, "covered": ids(&c.covered), "pause": "dispute" })
        }
        Decision::PromiseToPay(d) => {
            note(
                cx,
                env,
                &d.customer,
                &format!(
                    "Promesse de paiement{} au {} (enregistrée par {})",
                    d.amount.map(|a| format!(" de {a} €")).unwrap_or_default(),
                    d.date,
                    env.actor
                ),
                batch,
            );
            json!({ "invoices": ids(&c.covered), "open": c.open_total, "pause": "promise_to_pay" })
        }
        Decision::PaymentPlan(d) => {
            let plan: Vec<String> = d
                .instalments
                .iter()
                .map(|i| format!("{} € le {}", i.amount, i.date))
                .collect();
            note(
                cx,
                env,
                &d.customer,
                &format!(
                    "Échéancier accordé (enregistré par {}) : {}",
                    env.actor,
                    plan.join(", ")
                ),
                batch,
            );
            json!({ "invoices": ids(&c.covered), "open": c.open_total, "pause": "payment_plan" })
        }
        Decision::Hold(d) => {
            let invoices: Vec<&InvoiceId> = d.invoice.iter().collect();
            json!({ "invoices": invoices, "covered": ids(&c.covered), "until": d.until, "pause": "hold" })
        }
        Decision::ProcedureCollective(d) => {
            let lines: Vec<String> = c
                .covered
                .iter()
                .map(|i| {
                    format!(
                        "- {} du {} : {} € TTC",
                        i.number, i.issue_date, i.amount_due
                    )
                })
                .collect();
            let deadline = c
                .deadline
                .map(|d| format!(" avant le {d}"))
                .unwrap_or_else(|| {
                    " dans les 2 mois de la publication au BODACC (date à surveiller)".into()
                });
            outbox(
                batch,
                keys::decision_effect(cid, &env.key, "declare"),
                TARGET_TASKS,
                WriteCommand::CreateTask {
                    assignee: None,
                    title: format!("Déclarer les créances de {} au mandataire{deadline}", d.customer),
                    details: format!(
                        "{:?} ouvert le {} ({}). Déclarer au mandataire judiciaire{}{deadline} (C. com. L622-24, R622-24) les créances antérieures au jugement, factures jointes :\n{}\nTotal ouvert : {} € TTC.",
                        d.procedure,
                        d.judgment_date,
                        d.reference.as_deref().unwrap_or("jugement"),
                        d.mandataire.as_deref().map(|m| format!(" {m}")).unwrap_or_default(),
                        lines.join("\n"),
                        c.open_total
                    ),
                },
                now,
            );
            if let Some(w) = cx.writeback {
                for inv in &c.covered {
                    outbox(
                        batch,
                        keys::decision_effect(cid, &env.key, &format!("block-{}", inv.id)),
                        w,
                        WriteCommand::BlockDunning {
                            invoice: inv.id.to_string(),
                            blocked: true,
                            reason: format!(
                                "Procédure collective ({:?}) ouverte le {}",
                                d.procedure, d.judgment_date
                            ),
                        },
                        now,
                    );
                }
            }
            json!({ "covered": ids(&c.covered), "open": c.open_total, "declaration_deadline": c.deadline, "pause": "procedure_collective" })
        }
        Decision::EndPause(_) => {
            let Some(p) = &c.pause else {
                return Ok(Err(vec![FieldError::new("decision.pause", "no pause")]));
            };
            if let (Decision::Dispute(_), Some(w)) = (&p.decision, cx.writeback) {
                let covered: Vec<String> = facts
                    .state
                    .pauses
                    .iter()
                    .find(|x| x.key == p.key)
                    .map(|x| x.invoices.iter().map(ToString::to_string).collect())
                    .unwrap_or_default();
                for inv in covered {
                    outbox(
                        batch,
                        keys::decision_effect(cid, &env.key, &format!("unblock-{inv}")),
                        w,
                        WriteCommand::BlockDunning {
                            invoice: inv,
                            blocked: false,
                            reason: format!("Fin du litige : {reason}"),
                        },
                        now,
                    );
                }
            }
            json!({ "ended": p.key })
        }
        Decision::ApproveLetter(d) => release(cx, &d.action, None, None, facts, batch)?,
        Decision::EditLetter(d) => release(
            cx,
            &d.action,
            None,
            Some((d.subject.clone(), d.body.clone())),
            facts,
            batch,
        )?,
        Decision::RescheduleLetter(d) => release(cx, &d.action, Some(d.date), None, facts, batch)?,
        Decision::CancelLetter(d) => json!({ "cancelled": d.action }),
        Decision::ApproveClosing(d) => {
            match super::closing::book(facts, cx, d.closing, d.draft.as_deref(), batch)? {
                Ok(v) => v,
                Err(reasons) => return Ok(Err(reasons)),
            }
        }
        Decision::OverrideRate(d) => {
            json!({ "invoice": d.invoice, "rate": d.rate, "from_closing": d.closing })
        }
        Decision::CallOutcome(d) => {
            use super::CallResult;
            let what = match d.outcome {
                CallResult::Reached => "client joint".to_owned(),
                CallResult::NoAnswer => "pas de réponse".to_owned(),
                CallResult::WrongContact => "mauvais contact".to_owned(),
                CallResult::Dispute => "litige".to_owned(),
                CallResult::Promise => format!(
                    "promesse de paiement{}{}",
                    d.amount.map(|a| format!(" de {a} €")).unwrap_or_default(),
                    d.date.map(|x| format!(" au {x}")).unwrap_or_default()
                ),
            };
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            };
            note(
                cx,
                env,
                &d.customer,
                &format!(
                    "Appel du {} par {} : {what}{why}",
                    env.at.date_naive(),
                    env.actor
                ),
                batch,
            );
            if let (CallResult::Dispute, Some(w)) = (d.outcome, cx.writeback) {
                for inv in &c.covered {
                    outbox(
                        batch,
                        keys::decision_effect(cid, &env.key, &format!("block-{}", inv.id)),
                        w,
                        WriteCommand::BlockDunning {
                            invoice: inv.id.to_string(),
                            blocked: true,
                            reason: format!("Litige : {reason}"),
                        },
                        now,
                    );
                }
            }
            // The invoices a pause covers: a promise's as resolved, a dispute's as named
            // (none: the whole customer), as `promise_to_pay` and `dispute` record them.
            let invoices: Vec<&InvoiceId> = match d.outcome {
                CallResult::Promise => ids(&c.covered),
                _ => d.invoices.iter().collect(),
            };
            json!({
                "outcome": d.outcome,
                "action": d.action,
                "invoices": invoices,
                "covered": ids(&c.covered),
                "open": c.open_total,
                "pause": d.outcome.is_pause().then_some(d.outcome.as_str()),
            })
        }
        Decision::LettersPosted(d) => {
            json!({ "posted": d.actions, "date": d.date.unwrap_or(env.at.date_naive()) })
        }
        Decision::RetryDeadLetter(d) => {
            let Some(mut e) = facts.outbox_entry(&d.key)? else {
                return Ok(Err(vec![FieldError::new(
                    "decision.key",
                    "no outbox entry",
                )]));
            };
            let before = e.state.clone();
            e.state = OutboxState::Pending;
            e.attempts = 0;
            e.next_attempt_at = now;
            e.last_error = Some(format!(
                "retried by {} after: {}",
                env.actor,
                e.last_error.clone().unwrap_or_default()
            ));
            facts.outbox.insert(d.key.clone(), e.clone());
            batch.outbox_updates.push(e);
            json!({ "key": d.key, "was": before, "now": "pending" })
        }
    };
    Ok(Ok(after))
}

fn ids(v: &[Invoice]) -> Vec<&InvoiceId> {
    v.iter().map(|i| &i.id).collect()
}

/// A note on the customer in the system of record, when the company writes back.
fn note(
    cx: &ApplyContext<'_>,
    env: &Envelope,
    customer: &relance_core::CustomerId,
    text: &str,
    batch: &mut Batch,
) {
    if let Some(w) = cx.writeback {
        outbox(
            batch,
            keys::decision_effect(&cx.company.id, &env.key, "note"),
            w,
            WriteCommand::AddNote {
                target_kind: "party".into(),
                target: customer.to_string(),
                text: text.to_owned(),
            },
            cx.now,
        );
    }
}

/// Writes an allocation in the batch. A removal of the same pair recorded earlier in the batch
/// (a confirmation drops the suggestion it turns into an allocation) is superseded: a store
/// applies a batch's writes before its removals, which would lose the allocation.
fn put_allocation(batch: &mut Batch, record: crate::store::AllocationRecord) {
    batch
        .removed_allocations
        .retain(|(t, i)| !(*t == record.transaction && *i == record.invoice));
    batch
        .allocations
        .retain(|x| !(x.transaction == record.transaction && x.invoice == record.invoice));
    batch.allocations.push(record);
}

/// Removes an allocation in the batch, superseding a write of the same pair recorded earlier.
fn remove_allocation(batch: &mut Batch, transaction: &TransactionId, invoice: &InvoiceId) {
    batch
        .allocations
        .retain(|x| !(x.transaction == *transaction && x.invoice == *invoice));
    batch
        .removed_allocations
        .push((transaction.clone(), invoice.clone()));
}

/// Removes allocations a decision replaces. An applied one that was written back to the system
/// of record cannot be unwritten by a command: a task asks a person to undo it there.
fn drop_allocations<S: Store + ?Sized>(
    cx: &ApplyContext<'_>,
    env: &Envelope,
    r: &Receipt,
    drop: &[Allocation],
    facts: &mut LedgerFacts<'_, S>,
    batch: &mut Batch,
) -> Vec<serde_json::Value> {
    let mut undone = Vec::new();
    for a in drop {
        remove_allocation(batch, &a.transaction, &a.invoice);
        facts.put_allocation(&a.transaction, &a.invoice, None);
        if a.auto {
            undone.push(json!({ "invoice": a.invoice, "amount": a.amount }));
            if cx.writeback.is_some() {
                outbox(
                    batch,
                    keys::decision_effect(&cx.company.id, &env.key, &format!("undo-{}", a.invoice)),
                    TARGET_TASKS,
                    WriteCommand::CreateTask {
                        assignee: None,
                        title: format!("Annuler le lettrage de {} avec {}", r.id, a.invoice),
                        details: format!(
                            "{} a annulé l'affectation de {} € du paiement {} du {} à {} ({}). Défaire ce lettrage dans le système comptable ; relance enregistre la nouvelle affectation.",
                            env.actor, a.amount, r.id, r.booking_date, a.invoice, env.reason_text()
                        ),
                    },
                    cx.now,
                );
            }
        }
    }
    undone
}

/// Releases a letter waiting for approval: its commands re-rendered from the approved text
/// (edited, or dated anew when rescheduled) under the keys planned, and recorded in the
/// outbox, not due before `not_before`.
fn release<S: Store + ?Sized>(
    cx: &ApplyContext<'_>,
    action_key: &str,
    not_before: Option<NaiveDate>,
    edit: Option<(Option<String>, String)>,
    facts: &mut LedgerFacts<'_, S>,
    batch: &mut Batch,
) -> anyhow::Result<serde_json::Value> {
    let Some(l) = facts.state.letters.get(action_key).cloned() else {
        return Ok(json!({ "released": false }));
    };
    debug_assert_eq!(l.status, LetterStatus::Waiting);
    let mut action = l.request.action.clone();
    if let Some(d) = not_before {
        action.scheduled_for = d;
    }
    let mut text = l.text.clone();
    if let Some((subject, body)) = edit {
        if let Some(s) = subject {
            text.subject = s;
        }
        text.body = body;
        text.template = "edited".into();
    }
    let customer: Customer = crate::pipeline::letter_customer(
        cx.company,
        facts
            .customer(&action.customer)?
            .unwrap_or_else(|| Customer::new(action.customer.clone(), action.customer.as_str())),
    );
    let company = cx.company.company();
    let sender = sender_info(cx.company);
    let rcx = RenderContext {
        company: &company,
        sender: &sender,
        customer: &customer,
        today: action.scheduled_for,
        deadline_days: cx.company.dunning.mise_en_demeure_deadline_days,
    };
    let message = Message {
        subject: text.subject.clone(),
        body: text.body.clone(),
        template: text.template.clone(),
    };
    let rendered = render_message(&action, message, &rcx)
        .with_context(|| format!("rendering the approved letter of action {action_key}"))?;
    if let Some((name, pdf)) = &rendered.letter_pdf {
        store_letter(cx.state_dir, &cx.company.id, name, pdf)?;
    }
    let due = match not_before {
        Some(d) => d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(cx.now)
            .max(cx.now),
        None => cx.now,
    };
    let mut keys_out = Vec::new();
    for (key, cmd) in rendered.commands {
        let Some(target) = target_of(&cmd, cx.writeback) else {
            continue;
        };
        keys_out.push(key.as_str().to_owned());
        let mut e = OutboxEntry::new(key, target, cmd, cx.now);
        e.next_attempt_at = due;
        batch.outbox_new.push(e);
    }
    Ok(json!({
        "entries": keys_out,
        "not_before": not_before,
        "letter": rendered.letter_pdf.as_ref().map(|(n, _)| n),
        "edited": text.template == "edited",
    }))
}
