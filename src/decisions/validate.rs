//! Checks a decision against the facts: the items it names exist, amounts add up, dates make
//! sense, the letter or closing is still waiting. Every problem is reported, each naming its
//! field; a decision that holds is returned resolved (defaults filled in) with the state it was
//! decided on.

use super::facts::{open_amount, remainder, Facts};
use super::state::{LetterStatus, PauseRecord};
use super::{Decision, Envelope, FieldError, ENVELOPE_VERSION, MAX_LETTER, MAX_TEXT};
use crate::config::CompanyConfig;
use crate::store::{ProvisionStatus, StoreError};
use chrono::NaiveDate;
use relance_core::dunning::pause::declaration_deadline;
use relance_core::reconcile::Allocation;
use relance_core::{CustomerId, Invoice, InvoiceId, InvoiceKind, Receipt};
use rust_decimal::Decimal;
use serde_json::json;

/// Longest idempotency key or actor name (characters).
pub const MAX_KEY: usize = 200;
/// Most parts in a split, invoices in a promise or plan, instalments in a plan.
pub const MAX_ITEMS: usize = 200;

/// A decision that holds, with what it resolves to.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    /// The state it was decided on (shown in the audit log as "before").
    pub before: serde_json::Value,
    /// The receipt it concerns.
    pub receipt: Option<Receipt>,
    /// Allocations to make (invoice, amount).
    pub parts: Vec<(Invoice, Decimal)>,
    /// Allocations to remove (suggestions replaced, an allocation reassigned or rejected).
    pub drop: Vec<Allocation>,
    /// The invoices a pause covers (open ones), or the invoice written off.
    pub covered: Vec<Invoice>,
    /// Sum of what is open on `covered`.
    pub open_total: Decimal,
    /// A resolved amount (write-off).
    pub amount: Option<Decimal>,
    /// The account of a write-off.
    pub account: Option<String>,
    /// The declaration deadline of a procédure collective.
    pub deadline: Option<NaiveDate>,
    /// The pause an `end_pause` ends.
    pub pause: Option<PauseRecord>,
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
}

fn money(e: &mut Errors, field: &str, a: Decimal) {
    if a <= Decimal::ZERO {
        e.push(field, format!("must be positive, got {a}"));
    } else if a.normalize().scale() > 2 {
        e.push(field, format!("at most 2 decimals (cents), got {a}"));
    }
}

fn text(e: &mut Errors, field: &str, s: &str, max: usize) {
    if s.trim().is_empty() {
        e.push(field, "must not be empty");
    } else if s.chars().count() > max {
        e.push(field, format!("longer than {max} characters"));
    } else if s
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        e.push(field, "holds control characters");
    }
}

/// The envelope's own fields: version, key, actor, reason.
fn envelope(env: &Envelope, e: &mut Errors) {
    if env.v != ENVELOPE_VERSION {
        e.push(
            "v",
            format!(
                "envelope version {} is not known, expected {ENVELOPE_VERSION}",
                env.v
            ),
        );
    }
    text(e, "key", &env.key, MAX_KEY);
    if env.key.chars().any(char::is_whitespace) {
        e.push("key", "must not hold spaces");
    }
    text(e, "actor", &env.actor, MAX_KEY);
    match &env.reason {
        Some(r) if !r.trim().is_empty() => text(e, "reason", r, MAX_TEXT),
        _ if env.decision.needs_reason() => e.push(
            "reason",
            format!(
                "a reason is required for {} (it is kept in the audit log)",
                env.decision.kind()
            ),
        ),
        _ => {}
    }
}

/// Checks `env` against `facts`; returns what it resolves to, or every problem found.
pub fn check(
    env: &Envelope,
    facts: &dyn Facts,
    company: &CompanyConfig,
) -> Result<Result<Checked, Vec<FieldError>>, StoreError> {
    let mut e = Errors(Vec::new());
    envelope(env, &mut e);
    let today = env.at.date_naive();
    let mut c = Checked::default();
    match &env.decision {
        Decision::ConfirmMatch(d) => {
            let r = receipt(facts, &d.transaction, &mut e)?;
            let inv = invoice(facts, &d.invoice, "decision.invoice", None, &mut e)?;
            if let (Some(r), Some(inv)) = (r, inv) {
                let allocs = facts.allocations_of_receipt(&r.id)?;
                let here = allocs.iter().find(|a| a.invoice == inv.id);
                if here.is_some_and(|a| a.auto) {
                    e.push(
                        "decision.invoice",
                        format!("{} is already applied to {}", r.id, inv.id),
                    );
                }
                if inv.kind != InvoiceKind::Invoice {
                    e.push(
                        "decision.invoice",
                        format!(
                            "{} is a credit note: use split_receipt to net it with a negative amount",
                            inv.id
                        ),
                    );
                }
                let rem = remainder(facts, &r)?;
                let open = open_amount(facts, &inv)?;
                let suggested = here.filter(|a| !a.auto).map(|a| a.amount);
                let amount = d
                    .amount
                    .or(suggested)
                    .unwrap_or_else(|| rem.min(open).max(Decimal::ZERO));
                money(&mut e, "decision.amount", amount);
                if amount > rem {
                    e.push(
                        "decision.amount",
                        format!("{amount} is more than the {rem} receipt {} still has to place", r.id),
                    );
                }
                if amount > open {
                    e.push(
                        "decision.amount",
                        format!(
                            "{amount} is more than the {open} open on {}: use split_receipt to place the rest elsewhere",
                            inv.id
                        ),
                    );
                }
                c.before = json!({
                    "receipt": receipt_view(&r, rem),
                    "invoice": { "id": inv.id, "customer": inv.customer, "open": open },
                    "suggestion": here.filter(|a| !a.auto),
                    "rejected": facts.state().rejected.contains(&(r.id.clone(), inv.id.clone())),
                });
                c.drop = allocs.iter().filter(|a| !a.auto).cloned().collect();
                c.parts = vec![(inv, amount)];
                c.receipt = Some(r);
            }
        }
        Decision::RejectMatch(d) => {
            let r = receipt(facts, &d.transaction, &mut e)?;
            let inv = match facts.invoice(&d.invoice)? {
                Some(i) => Some(i),
                None => {
                    e.push(
                        "decision.invoice",
                        format!("no invoice {} in the store", d.invoice),
                    );
                    None
                }
            };
            if let (Some(r), Some(inv)) = (r, inv) {
                if facts
                    .state()
                    .rejected
                    .contains(&(r.id.clone(), inv.id.clone()))
                {
                    e.push(
                        "decision",
                        format!("{} was already rejected for {}", r.id, inv.id),
                    );
                }
                let here = facts
                    .allocations_of_receipt(&r.id)?
                    .into_iter()
                    .find(|a| a.invoice == inv.id);
                c.before = json!({
                    "receipt": receipt_view(&r, remainder(facts, &r)?),
                    "invoice": { "id": inv.id, "open": open_amount(facts, &inv)? },
                    "allocation": here,
                });
                c.drop = here.into_iter().collect();
                c.receipt = Some(r);
            }
        }
        Decision::SplitReceipt(d) => {
            let r = receipt(facts, &d.transaction, &mut e)?;
            if d.parts.is_empty() {
                e.push("decision.parts", "must list at least one invoice");
            }
            if d.parts.len() > MAX_ITEMS {
                e.push(
                    "decision.parts",
                    format!("more than {MAX_ITEMS} parts"),
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut parts = Vec::new();
            let applied: Vec<Allocation> = match &r {
                Some(r) => facts.allocations_of_receipt(&r.id)?,
                None => Vec::new(),
            };
            for (i, p) in d.parts.iter().enumerate() {
                let field = format!("decision.parts[{i}]");
                if !seen.insert(&p.invoice) {
                    e.push(&format!("{field}.invoice"), format!("{} is listed twice", p.invoice));
                    continue;
                }
                let Some(inv) = invoice(facts, &p.invoice, &format!("{field}.invoice"), None, &mut e)?
                else {
                    continue;
                };
                if applied.iter().any(|a| a.auto && a.invoice == inv.id) {
                    e.push(
                        &format!("{field}.invoice"),
                        format!("the receipt is already applied to {}: reassign it instead", inv.id),
                    );
                }
                let open = open_amount(facts, &inv)?;
                match inv.kind {
                    InvoiceKind::Invoice => {
                        money(&mut e, &format!("{field}.amount"), p.amount);
                        if p.amount > open {
                            e.push(
                                &format!("{field}.amount"),
                                format!("{} is more than the {open} open on {}", p.amount, inv.id),
                            );
                        }
                    }
                    InvoiceKind::CreditNote => {
                        money(&mut e, &format!("{field}.amount"), -p.amount);
                        if p.amount < open {
                            e.push(
                                &format!("{field}.amount"),
                                format!("credit note {} has only {open} to net", inv.id),
                            );
                        }
                    }
                }
                parts.push((inv, p.amount));
            }
            if let Some(r) = r {
                let rem = remainder(facts, &r)?;
                let sum: Decimal = d.parts.iter().map(|p| p.amount).sum();
                if sum > rem {
                    e.push(
                        "decision.parts",
                        format!("the parts add up to {sum}, more than the {rem} receipt {} still has to place", r.id),
                    );
                }
                if sum <= Decimal::ZERO && !d.parts.is_empty() {
                    e.push("decision.parts", format!("the parts add up to {sum}: nothing to place"));
                }
                c.before = json!({
                    "receipt": receipt_view(&r, rem),
                    "allocations": applied,
                });
                c.drop = applied.into_iter().filter(|a| !a.auto).collect();
                c.receipt = Some(r);
            }
            c.parts = parts;
        }
        Decision::ReassignMatch(d) => {
            let r = receipt(facts, &d.transaction, &mut e)?;
            let to = invoice(facts, &d.to_invoice, "decision.to_invoice", None, &mut e)?;
            if d.from_invoice == d.to_invoice {
                e.push("decision.to_invoice", "is the invoice it is already allocated to");
            }
            if let Some(r) = r {
                let allocs = facts.allocations_of_receipt(&r.id)?;
                let from = allocs.iter().find(|a| a.invoice == d.from_invoice).cloned();
                match (&from, to) {
                    (None, _) => e.push(
                        "decision.from_invoice",
                        format!("{} is neither allocated nor suggested to {}", r.id, d.from_invoice),
                    ),
                    (Some(f), Some(to)) => {
                        if to.kind != InvoiceKind::Invoice {
                            e.push("decision.to_invoice", format!("{} is a credit note", to.id));
                        }
                        if allocs.iter().any(|a| a.auto && a.invoice == to.id) {
                            e.push(
                                "decision.to_invoice",
                                format!("the receipt is already applied to {}", to.id),
                            );
                        }
                        let freed = if f.auto { f.amount } else { Decimal::ZERO };
                        let rem = remainder(facts, &r)? + freed;
                        let amount = d.amount.unwrap_or(f.amount);
                        money(&mut e, "decision.amount", amount);
                        let open = open_amount(facts, &to)?;
                        if amount > open {
                            e.push(
                                "decision.amount",
                                format!("{amount} is more than the {open} open on {}", to.id),
                            );
                        }
                        if amount > rem {
                            e.push(
                                "decision.amount",
                                format!("{amount} is more than the {rem} the receipt can place"),
                            );
                        }
                        c.before = json!({
                            "receipt": receipt_view(&r, remainder(facts, &r)?),
                            "allocation": f,
                            "to": { "id": to.id, "open": open },
                        });
                        c.parts = vec![(to, amount)];
                    }
                    (Some(_), None) => {}
                }
                c.drop = from.into_iter().collect();
                c.receipt = Some(r);
            }
        }
        Decision::AssignReceipt(d) => {
            let r = receipt(facts, &d.transaction, &mut e)?;
            let cust = customer(facts, &d.customer, &mut e)?;
            if let (Some(r), Some(_)) = (r, cust) {
                let rem = remainder(facts, &r)?;
                if rem <= Decimal::ZERO {
                    e.push(
                        "decision.transaction",
                        format!("{} is fully applied already", r.id),
                    );
                }
                if facts.state().assigned.get(&r.id) == Some(&d.customer) {
                    e.push(
                        "decision.customer",
                        format!("{} is already assigned to {}", r.id, d.customer),
                    );
                }
                c.before = json!({
                    "receipt": receipt_view(&r, rem),
                    "assigned_to": facts.state().assigned.get(&r.id),
                });
                c.receipt = Some(r);
            }
        }
        Decision::WriteOff(d) => {
            if let Some(inv) = invoice(facts, &d.invoice, "decision.invoice", None, &mut e)? {
                let open = open_amount(facts, &inv)?;
                money(&mut e, "decision.amount", d.amount);
                if inv.kind != InvoiceKind::Invoice {
                    e.push("decision.invoice", format!("{} is a credit note", inv.id));
                }
                if d.amount > open {
                    e.push(
                        "decision.amount",
                        format!("{} is more than the {open} open on {}", d.amount, inv.id),
                    );
                }
                let account = d
                    .account
                    .clone()
                    .unwrap_or_else(|| company.provision.accounts.residue_write_off.clone());
                let digits = account.chars().all(|c| c.is_ascii_digit());
                if !digits || !(3..=12).contains(&account.len()) || !account.starts_with('6') {
                    e.push(
                        "decision.account",
                        format!("{account:?} is not a charge account: expected a class-6 account number of the chart (658, 6588, 654…)"),
                    );
                }
                c.before = json!({ "invoice": { "id": inv.id, "customer": inv.customer, "open": open } });
                c.amount = Some(d.amount);
                c.account = Some(account);
                c.open_total = open;
                c.covered = vec![inv];
            }
        }
        Decision::Dispute(d) => {
            let ok = customer(facts, &d.customer, &mut e)?.is_some();
            let since = d.since.unwrap_or(today);
            if since > today {
                e.push("decision.since", format!("{since} is in the future"));
            }
            if let Some(u) = d.until {
                if u < since.max(today) {
                    e.push("decision.until", format!("{u} is before {}", since.max(today)));
                }
            }
            if d.amount.is_some() && d.invoice.is_none() {
                e.push("decision.amount", "a disputed amount needs the invoice it is part of");
            }
            if ok {
                cover(facts, &d.customer, d.invoice.iter().cloned().collect(), "decision.invoice", &mut e, &mut c)?;
                if let (Some(a), [inv]) = (d.amount, c.covered.as_slice()) {
                    money(&mut e, "decision.amount", a);
                    let open = open_amount(facts, inv)?;
                    if a > open {
                        e.push(
                            "decision.amount",
                            format!("{a} is more than the {open} open on {}", inv.id),
                        );
                    }
                }
                if let Some(p) = facts.state().active_pauses().find(|p| match &p.decision {
                    Decision::Dispute(x) => x.customer == d.customer && x.invoice == d.invoice,
                    _ => false,
                }) {
                    e.push(
                        "decision",
                        format!("already disputed (decision {} of {}): end that dispute first", p.key, p.at.date_naive()),
                    );
                }
                c.before = pauses_view(facts, &d.customer, &c.covered);
            }
        }
        Decision::PromiseToPay(d) => {
            if customer(facts, &d.customer, &mut e)?.is_some() {
                cover(facts, &d.customer, d.invoices.clone(), "decision.invoices", &mut e, &mut c)?;
                if d.date < today {
                    e.push("decision.date", format!("{} is before the decision's date {today}", d.date));
                }
                if let Some(a) = d.amount {
                    money(&mut e, "decision.amount", a);
                    if a > c.open_total && !c.covered.is_empty() {
                        e.push(
                            "decision.amount",
                            format!("{a} is more than the {} open on the invoices covered", c.open_total),
                        );
                    }
                }
                c.before = pauses_view(facts, &d.customer, &c.covered);
            }
        }
        Decision::PaymentPlan(d) => {
            if customer(facts, &d.customer, &mut e)?.is_some() {
                cover(facts, &d.customer, d.invoices.clone(), "decision.invoices", &mut e, &mut c)?;
                if d.instalments.is_empty() {
                    e.push("decision.instalments", "must list at least one instalment");
                }
                if d.instalments.len() > MAX_ITEMS {
                    e.push("decision.instalments", format!("more than {MAX_ITEMS} instalments"));
                }
                let mut prev: Option<NaiveDate> = None;
                for (i, x) in d.instalments.iter().enumerate() {
                    money(&mut e, &format!("decision.instalments[{i}].amount"), x.amount);
                    if prev.is_some_and(|p| x.date <= p) {
                        e.push(
                            &format!("decision.instalments[{i}].date"),
                            format!("{} is not after the previous instalment's date", x.date),
                        );
                    }
                    if i == 0 && x.date < today {
                        e.push(
                            &format!("decision.instalments[{i}].date"),
                            format!("{} is before the decision's date {today}", x.date),
                        );
                    }
                    prev = Some(x.date);
                }
                let sum: Decimal = d.instalments.iter().map(|x| x.amount).sum();
                if !c.covered.is_empty() && sum != c.open_total {
                    e.push(
                        "decision.instalments",
                        format!("the instalments add up to {sum}; the invoices covered have {} open", c.open_total),
                    );
                }
                c.before = pauses_view(facts, &d.customer, &c.covered);
            }
        }
        Decision::Hold(d) => {
            if customer(facts, &d.customer, &mut e)?.is_some() {
                cover(facts, &d.customer, d.invoice.iter().cloned().collect(), "decision.invoice", &mut e, &mut c)?;
                if d.until < today {
                    e.push("decision.until", format!("{} is before the decision's date {today}", d.until));
                }
                c.before = pauses_view(facts, &d.customer, &c.covered);
            }
        }
        Decision::ProcedureCollective(d) => {
            if customer(facts, &d.customer, &mut e)?.is_some() {
                if d.judgment_date > today {
                    e.push("decision.judgment_date", format!("{} is in the future", d.judgment_date));
                }
                if let Some(b) = d.bodacc_date {
                    if b < d.judgment_date {
                        e.push("decision.bodacc_date", format!("{b} is before the judgment of {}", d.judgment_date));
                    }
                    if b > today {
                        e.push("decision.bodacc_date", format!("{b} is in the future"));
                    }
                }
                let legal = d.bodacc_date.map(|b| declaration_deadline(b, d.creditor_abroad));
                match (d.declaration_deadline, legal) {
                    (Some(given), Some(legal)) if given > legal => e.push(
                        "decision.declaration_deadline",
                        format!(
                            "{given} is after the legal deadline {legal}: {} months after the BODACC publication (C. com. L622-24, R622-24)",
                            if d.creditor_abroad { 4 } else { 2 }
                        ),
                    ),
                    (Some(given), _) if given < d.judgment_date => e.push(
                        "decision.declaration_deadline",
                        format!("{given} is before the judgment of {}", d.judgment_date),
                    ),
                    _ => {}
                }
                c.deadline = d.declaration_deadline.or(legal);
                if facts.state().active_pauses().any(|p| match &p.decision {
                    Decision::ProcedureCollective(x) => {
                        x.customer == d.customer
                            && x.procedure == d.procedure
                            && x.judgment_date == d.judgment_date
                    }
                    _ => false,
                }) {
                    e.push("decision", format!("this judgment of {} is already recorded", d.judgment_date));
                }
                let invoices: Vec<Invoice> = facts
                    .open_invoices_of(&d.customer)?
                    .into_iter()
                    .filter(|i| i.issue_date <= d.judgment_date)
                    .collect();
                let mut total = Decimal::ZERO;
                for i in &invoices {
                    total += open_amount(facts, i)?;
                }
                c.open_total = total;
                c.covered = invoices;
                c.before = pauses_view(facts, &d.customer, &c.covered);
            }
        }
        Decision::EndPause(d) => {
            match facts.state().pauses.iter().find(|p| p.key == d.pause) {
                None => e.push("decision.pause", format!("no pause was recorded under key {:?}", d.pause)),
                Some(p) if p.ended.is_some() => e.push(
                    "decision.pause",
                    format!("the pause {:?} has already ended", d.pause),
                ),
                Some(p) => {
                    c.before = json!({ "pause": p });
                    c.pause = Some(p.clone());
                }
            }
        }
        Decision::ApproveLetter(d) | Decision::CancelLetter(d) => {
            letter(facts, &d.action, &mut e, &mut c);
        }
        Decision::EditLetter(d) => {
            letter(facts, &d.action, &mut e, &mut c);
            text(&mut e, "decision.body", &d.body, MAX_LETTER);
            if let Some(s) = &d.subject {
                text(&mut e, "decision.subject", s, MAX_KEY);
            }
        }
        Decision::RescheduleLetter(d) => {
            letter(facts, &d.action, &mut e, &mut c);
            if d.date < today {
                e.push("decision.date", format!("{} is before the decision's date {today}", d.date));
            }
        }
        Decision::ApproveClosing(d) => match facts.closing(d.closing)? {
            None => e.push(
                "decision.closing",
                format!("no draft for the closing of {} (drafts are computed by the daemon at the dates of provision.closing_dates)", d.closing),
            ),
            Some(s) if s.status != ProvisionStatus::Computed => e.push(
                "decision.closing",
                format!("the closing of {} is already booked ({:?})", d.closing, s.status),
            ),
            Some(s) => {
                let digest = facts.draft_digest(d.closing)?;
                if let (Some(want), Some(have)) = (&d.draft, &digest) {
                    if want != have {
                        e.push(
                            "decision.draft",
                            format!("the draft changed since it was reviewed (now {have}): review it again"),
                        );
                    }
                }
                c.before = json!({ "closing": s, "draft": digest });
            }
        },
        Decision::OverrideRate(d) => {
            invoice(facts, &d.invoice, "decision.invoice", None, &mut e)?;
            if d.rate < Decimal::ZERO || d.rate > Decimal::ONE {
                e.push("decision.rate", format!("{} is outside 0..=1 (a share of the base without VAT)", d.rate));
            }
            if let Some(s) = facts.closing(d.closing)? {
                if s.status != ProvisionStatus::Computed {
                    e.push(
                        "decision.closing",
                        format!("the closing of {} is already booked: an override applies to a later closing", d.closing),
                    );
                }
            }
            c.before = json!({
                "overrides": facts.state().overrides.iter().filter(|o| o.invoice == d.invoice).collect::<Vec<_>>(),
            });
        }
        Decision::CallOutcome(d) => {
            use super::CallResult;
            if customer(facts, &d.customer, &mut e)?.is_some() {
                if let Some(key) = &d.action {
                    match facts.dunning_action(key)? {
                        None => e.push("decision.action", format!("no dunning action {key:?}")),
                        Some(a) if a.customer != d.customer => e.push(
                            "decision.action",
                            format!("{key:?} is an action for {}, not {}", a.customer, d.customer),
                        ),
                        Some(_) => {}
                    }
                }
                let promise = d.outcome == CallResult::Promise;
                if !promise && d.date.is_some() {
                    e.push("decision.date", "a date is only for a promise");
                }
                if !promise && d.amount.is_some() {
                    e.push("decision.amount", "an amount is only for a promise");
                }
                if !matches!(d.outcome, CallResult::Promise | CallResult::Dispute) && !d.invoices.is_empty() {
                    e.push("decision.invoices", "invoices are only for a promise or a dispute");
                }
                if matches!(d.outcome, CallResult::Promise | CallResult::Dispute) {
                    cover(facts, &d.customer, d.invoices.clone(), "decision.invoices", &mut e, &mut c)?;
                }
                if promise {
                    match d.date {
                        None => e.push("decision.date", "a promise needs the promised date"),
                        Some(date) if date < today => e.push(
                            "decision.date",
                            format!("{date} is before the decision's date {today}"),
                        ),
                        Some(_) => {}
                    }
                    if let Some(a) = d.amount {
                        money(&mut e, "decision.amount", a);
                        if a > c.open_total && !c.covered.is_empty() {
                            e.push(
                                "decision.amount",
                                format!("{a} is more than the {} open on the invoices covered", c.open_total),
                            );
                        }
                    }
                }
                if d.outcome == CallResult::WrongContact {
                    if let Some(p) = facts.state().active_pauses().find(|p| {
                        matches!(&p.decision, Decision::CallOutcome(x)
                            if x.customer == d.customer && x.outcome == CallResult::WrongContact)
                    }) {
                        e.push(
                            "decision.outcome",
                            format!("a wrong contact is already reported (decision {} of {}): end it once the contact is fixed", p.key, p.at.date_naive()),
                        );
                    }
                }
                let mut before = pauses_view(facts, &d.customer, &c.covered);
                before["action"] = json!(d.action);
                c.before = before;
            }
        }
        Decision::LettersPosted(d) => {
            if d.actions.is_empty() {
                e.push("decision.actions", "must list at least one letter");
            }
            if d.actions.len() > MAX_ITEMS {
                e.push("decision.actions", format!("more than {MAX_ITEMS} letters"));
            }
            if let Some(date) = d.date {
                if date > today {
                    e.push("decision.date", format!("{date} is in the future"));
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut letters = Vec::new();
            for (i, key) in d.actions.iter().enumerate() {
                let field = format!("decision.actions[{i}]");
                if !seen.insert(key) {
                    e.push(&field, format!("{key:?} is listed twice"));
                    continue;
                }
                if let Some((by, at)) = facts.state().posted.get(key) {
                    e.push(&field, format!("already marked as posted by {by} on {at}"));
                    continue;
                }
                match facts.dunning_action(key)? {
                    None => e.push(&field, format!("no dunning action {key:?}")),
                    Some(a) if a.stage < relance_core::dunning::Stage::MiseEnDemeure => e.push(
                        &field,
                        format!("{key:?} is a {} reminder, not a letter to post", a.stage.name()),
                    ),
                    Some(a) => {
                        // Released: its task (post it) is in the outbox; a letter waiting
                        // for approval, or cancelled, is not to post.
                        if facts.outbox_entry(key)?.is_none() {
                            e.push(&field, format!("the letter of {key:?} is not released (waiting for approval or cancelled)"));
                        } else {
                            letters.push(json!({"action": key, "customer": a.customer, "stage": a.stage, "date": a.date}));
                        }
                    }
                }
            }
            c.before = json!({ "letters": letters });
        }
        Decision::RetryDeadLetter(d) => match facts.outbox_entry(&d.key)? {
            None => e.push("decision.key", format!("no outbox entry {:?}", d.key)),
            Some(x) if !matches!(x.state, crate::store::OutboxState::Dead { .. }) => e.push(
                "decision.key",
                format!("outbox entry {:?} is not dead-lettered", d.key),
            ),
            Some(x) => c.before = json!({ "entry": { "key": x.key, "target": x.target, "attempts": x.attempts, "state": x.state, "last_error": x.last_error } }),
        },
    }
    Ok(if e.0.is_empty() { Ok(c) } else { Err(e.0) })
}

fn receipt_view(r: &Receipt, remainder: Decimal) -> serde_json::Value {
    json!({
        "id": r.id,
        "amount": r.amount,
        "remainder": remainder,
        "booking_date": r.booking_date,
        "payer": r.counterparty_name,
        "iban": r.counterparty_iban,
        "text": r.remittance,
    })
}

fn receipt(
    facts: &dyn Facts,
    tx: &relance_core::TransactionId,
    e: &mut Errors,
) -> Result<Option<Receipt>, StoreError> {
    let r = facts.receipt(tx)?;
    if r.is_none() {
        e.push(
            "decision.transaction",
            format!("no credit receipt {tx} in the store"),
        );
    }
    Ok(r)
}

fn customer(
    facts: &dyn Facts,
    id: &CustomerId,
    e: &mut Errors,
) -> Result<Option<relance_core::Customer>, StoreError> {
    let c = facts.customer(id)?;
    if c.is_none() {
        e.push(
            "decision.customer",
            format!("no customer {id} in the store"),
        );
    }
    Ok(c)
}

/// An open invoice (of `of`, when given).
fn invoice(
    facts: &dyn Facts,
    id: &InvoiceId,
    field: &str,
    of: Option<&CustomerId>,
    e: &mut Errors,
) -> Result<Option<Invoice>, StoreError> {
    let Some(inv) = facts.invoice(id)? else {
        e.push(field, format!("no invoice {id} in the store"));
        return Ok(None);
    };
    if let Some(c) = of {
        if &inv.customer != c {
            e.push(
                field,
                format!("{id} is an invoice of {}, not of {c}", inv.customer),
            );
            return Ok(None);
        }
    }
    if inv.status != relance_core::InvoiceStatus::Open || open_amount(facts, &inv)?.is_zero() {
        e.push(field, format!("{id} is not open"));
        return Ok(None);
    }
    Ok(Some(inv))
}

/// The open invoices a pause covers: those named (each an open invoice of the customer), or
/// all the customer's open invoices.
fn cover(
    facts: &dyn Facts,
    customer: &CustomerId,
    named: Vec<InvoiceId>,
    field: &str,
    e: &mut Errors,
    c: &mut Checked,
) -> Result<(), StoreError> {
    if named.len() > MAX_ITEMS {
        e.push(field, format!("more than {MAX_ITEMS} invoices"));
        return Ok(());
    }
    let mut covered = Vec::new();
    if named.is_empty() {
        covered = facts.open_invoices_of(customer)?;
        covered.retain(|i| {
            open_amount(facts, i)
                .map(|o| o > Decimal::ZERO)
                .unwrap_or(false)
        });
        if covered.is_empty() {
            e.push(
                "decision.customer",
                format!("{customer} has no open invoice"),
            );
        }
    } else {
        let mut seen = std::collections::BTreeSet::new();
        for (i, id) in named.iter().enumerate() {
            let f = if field.ends_with('s') {
                format!("{field}[{i}]")
            } else {
                field.to_owned()
            };
            if !seen.insert(id) {
                e.push(&f, format!("{id} is listed twice"));
                continue;
            }
            if let Some(inv) = invoice(facts, id, &f, Some(customer), e)? {
                if inv.kind != InvoiceKind::Invoice {
                    e.push(&f, format!("{id} is a credit note"));
                    continue;
                }
                covered.push(inv);
            }
        }
    }
    let mut total = Decimal::ZERO;
    for i in &covered {
        total += open_amount(facts, i)?;
    }
    c.open_total = total;
    c.covered = covered;
    Ok(())
}

fn pauses_view(facts: &dyn Facts, customer: &CustomerId, covered: &[Invoice]) -> serde_json::Value {
    let pauses: Vec<&PauseRecord> = facts
        .state()
        .active_pauses()
        .filter(|p| p.decision.customer() == Some(customer))
        .collect();
    json!({
        "customer": customer,
        "invoices": covered.iter().map(|i| json!({"id": i.id, "due": i.effective_due_date()})).collect::<Vec<_>>(),
        "pauses_in_force": pauses,
    })
}

fn letter(facts: &dyn Facts, action: &str, e: &mut Errors, c: &mut Checked) {
    match facts.state().letters.get(action) {
        None => e.push(
            "decision.action",
            format!("no letter waiting for approval under action key {action:?}"),
        ),
        Some(l) => {
            match &l.status {
                LetterStatus::Waiting => {}
                LetterStatus::Approved { by, at, .. } => e.push(
                    "decision.action",
                    format!("already approved by {by} on {}", at.date_naive()),
                ),
                LetterStatus::Cancelled { by, at, .. } => e.push(
                    "decision.action",
                    format!("cancelled by {by} on {}", at.date_naive()),
                ),
            }
            c.before = json!({
                "action": l.request.action.key,
                "stage": l.request.action.stage,
                "customer": l.request.action.customer,
                "status": l.status,
                "subject": l.text.subject,
            });
        }
    }
}
