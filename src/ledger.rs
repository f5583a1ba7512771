//! The company's ledger as the engines see it: store records turned into core values, and
//! the engines' decisions turned back into store records.
//!
//! Everything the core decides from is rebuilt here from the store alone, so a decision can be
//! replayed (and explained) from what was committed.

use crate::store::{AllocationRecord, AuditEvent, InvoiceRecord, ReceiptRecord, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use relance_core::dunning::{Pause, SentAction};
use relance_core::provision::{
    ClosingInput, CreditEvent, ProvisionState as CoreProvisionState, Receivable, Settlement,
    SettlementKind,
};
use relance_core::reconcile::{Allocation, Outcome};
use relance_core::{
    CompanyId, Customer, CustomerId, Invoice, InvoiceId, InvoiceKind, Receipt, TransactionId,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// Audit kind of a planned dunning action (its explanation is the [`SentAction`]).
pub const AUDIT_DUNNING_ACTION: &str = "dunning.action";
/// Audit kind of an allocation decided by the reconciliation engine.
pub const AUDIT_MATCH: &str = "reconcile.match";
/// Audit kind of a credit event (dispute, procédure collective...) recorded by a person.
pub const AUDIT_CREDIT_EVENT: &str = "credit.event";
/// Audit kind of a dunning pause recorded by a person.
pub const AUDIT_PAUSE: &str = "dunning.pause";
/// Audit kind of the provision state after a closing (explanation: the core state).
pub const AUDIT_PROVISION_STATE: &str = "provision.state";
/// Prefix of the transaction id of a residue a person wrote off: it settles the invoice like
/// an allocation, and is no bank receipt.
pub const WRITE_OFF_PREFIX: &str = "WO-";

/// Everything known of one company, as core values.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Customers.
    pub customers: Vec<Customer>,
    /// Invoices and credit notes.
    pub invoices: Vec<Invoice>,
    /// Bank receipts (credits and debits).
    pub receipts: Vec<Receipt>,
    /// Allocations in force (automatic ones and suggestions).
    pub allocations: Vec<Allocation>,
    /// Dates of the residues people wrote off (their allocations' transactions).
    pub write_offs: HashMap<TransactionId, NaiveDate>,
}

impl Ledger {
    /// Reads the company's ledger from the store.
    pub fn load<S: Store + ?Sized>(store: &S, company: &CompanyId) -> Result<Self, StoreError> {
        let customers = store
            .customers(company)?
            .into_iter()
            .map(|c| c.customer)
            .collect();
        let invoices = store
            .invoices(company)?
            .into_iter()
            .map(|r: InvoiceRecord| r.invoice)
            .collect();
        let receipts = store
            .receipts(company)?
            .into_iter()
            .map(|r: ReceiptRecord| r.receipt)
            .collect();
        let records = store.allocations(company)?;
        let write_offs = records
            .iter()
            .filter(|r| r.transaction.as_str().starts_with(WRITE_OFF_PREFIX))
            .map(|r| (r.transaction.clone(), r.decided_at.date_naive()))
            .collect();
        let allocations = records.iter().filter_map(allocation_from_record).collect();
        Ok(Self {
            customers,
            invoices,
            receipts,
            allocations,
            write_offs,
        })
    }

    /// The automatic allocations in force (suggestions are not applied).
    pub fn applied(&self) -> Vec<Allocation> {
        self.allocations
            .iter()
            .filter(|a| a.auto)
            .cloned()
            .collect()
    }

    /// Runs the reconciliation engine over the whole ledger, with the automatic allocations
    /// already in force as `prior`.
    pub fn reconcile(&self, policy: &relance_core::reconcile::Policy) -> Outcome {
        relance_core::reconcile::reconcile(
            &self.invoices,
            &self.customers,
            &self.receipts,
            &self.applied(),
            policy,
        )
    }

    /// Date of the latest bank data: the latest booking date of any receipt.
    pub fn bank_data_as_of(&self) -> Option<NaiveDate> {
        self.receipts.iter().map(|r| r.booking_date).max()
    }
}

/// A stored allocation back as the engine's value (the engine's full allocation is kept in
/// the record's evidence). `None` for a record whose evidence is not an allocation.
pub fn allocation_from_record(r: &AllocationRecord) -> Option<Allocation> {
    match serde_json::from_value::<Allocation>(r.evidence.clone()) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(
                transaction = %r.transaction,
                invoice = %r.invoice,
                "stored allocation without readable evidence, left out: {e}"
            );
            None
        }
    }
}

/// The store record of an engine allocation (the whole allocation kept as evidence).
pub fn allocation_record(a: &Allocation, now: DateTime<Utc>) -> AllocationRecord {
    AllocationRecord {
        transaction: a.transaction.clone(),
        invoice: a.invoice.clone(),
        amount: a.amount,
        auto: a.auto,
        reason: a.reason(),
        evidence: serde_json::to_value(a).unwrap_or(serde_json::Value::Null),
        decided_at: now,
    }
}

/// The audit event of an allocation decision.
pub fn allocation_audit(a: &Allocation, now: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        at: now,
        kind: AUDIT_MATCH.to_owned(),
        subject: format!("{} -> {}", a.transaction, a.invoice),
        summary: format!(
            "{} {} to {} ({}): {}",
            if a.auto { "applied" } else { "suggested" },
            a.amount,
            a.invoice,
            serde_json::to_value(a.rule)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            a.reason()
        ),
        explanation: serde_json::to_value(a).unwrap_or(serde_json::Value::Null),
    }
}

/// Reads every audit event of `kind`, in order.
pub fn audit_of_kind<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    kind: &str,
) -> Result<Vec<AuditEvent>, StoreError> {
    audit_of_kinds(store, company, &[kind])
}

/// Reads every audit event whose kind is one of `kinds`, in order.
pub fn audit_of_kinds<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    kinds: &[&str],
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = store.audit_by_kind(company, kinds, from, 10_000)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        out.extend(page.into_iter().map(|e| e.event));
        from = last + 1;
    }
    Ok(out)
}

/// Dunning actions already planned and enqueued (never planned twice: the engine reads them).
pub fn dunning_history<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<Vec<SentAction>, StoreError> {
    Ok(audit_of_kind(store, company, AUDIT_DUNNING_ACTION)?
        .into_iter()
        .filter_map(|e| serde_json::from_value(e.explanation).ok())
        .collect())
}

/// Pauses recorded by people (disputes, promises, payment plans, holds, procédures).
pub fn pauses<S: Store + ?Sized>(store: &S, company: &CompanyId) -> Result<Vec<Pause>, StoreError> {
    Ok(audit_of_kind(store, company, AUDIT_PAUSE)?
        .into_iter()
        .filter_map(|e| serde_json::from_value(e.explanation).ok())
        .collect())
}

/// Credit events recorded by people (procédure collective, injonction filed, definitive loss).
pub fn credit_events<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<Vec<CreditEvent>, StoreError> {
    Ok(audit_of_kind(store, company, AUDIT_CREDIT_EVENT)?
        .into_iter()
        .filter_map(|e| serde_json::from_value(e.explanation).ok())
        .collect())
}

/// The provision state left by the latest closing strictly before `closing` (empty if none).
pub fn previous_provision_state<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    closing: NaiveDate,
) -> Result<CoreProvisionState, StoreError> {
    let mut best: Option<(NaiveDate, CoreProvisionState)> = None;
    for e in audit_of_kind(store, company, AUDIT_PROVISION_STATE)? {
        let Some(date) = e
            .subject
            .strip_prefix("closing ")
            .and_then(|d| d.parse::<NaiveDate>().ok())
        else {
            continue;
        };
        if date >= closing {
            continue;
        }
        if let Ok(state) = serde_json::from_value::<CoreProvisionState>(e.explanation) {
            if best.as_ref().is_none_or(|(d, _)| date >= *d) {
                best = Some((date, state));
            }
        }
    }
    Ok(best.map(|(_, s)| s).unwrap_or_default())
}

/// Open amount of each invoice after the automatic allocations (signed; credit notes negative).
pub fn open_amounts(ledger: &Ledger, extra: &[Allocation]) -> BTreeMap<InvoiceId, Decimal> {
    let mut all = ledger.applied();
    all.extend(extra.iter().filter(|a| a.auto).cloned());
    relance_core::reconcile::open_after(&ledger.invoices, &all)
}

/// Unapplied credits per customer (sum of remainders), for the reconcile-then-remind gate.
pub fn unapplied_by_customer(
    ledger: &Ledger,
    extra: &[Allocation],
) -> HashMap<CustomerId, Decimal> {
    let mut all = ledger.applied();
    all.extend(extra.iter().filter(|a| a.auto).cloned());
    relance_core::reconcile::unapplied_credits_by_customer(
        &ledger.invoices,
        &ledger.customers,
        &ledger.receipts,
        &all,
    )
    .into_iter()
    .map(|(c, v)| (c, v.iter().map(|u| u.remaining).sum()))
    .collect()
}

/// Payments applied to each invoice (date, amount), from the automatic allocations.
pub fn payments_by_invoice(
    ledger: &Ledger,
    extra: &[Allocation],
) -> HashMap<InvoiceId, Vec<(NaiveDate, Decimal)>> {
    let dates: HashMap<&str, NaiveDate> = ledger
        .receipts
        .iter()
        .map(|r| (r.id.as_str(), r.booking_date))
        .collect();
    let mut out: HashMap<InvoiceId, Vec<(NaiveDate, Decimal)>> = HashMap::new();
    for a in ledger.allocations.iter().chain(extra).filter(|a| a.auto) {
        if let Some(d) = dates.get(a.transaction.as_str()) {
            out.entry(a.invoice.clone())
                .or_default()
                .push((*d, a.amount));
        }
    }
    out
}

/// The closing input of a company as of `closing`: receivables with their dated settlements
/// (the source's own payments, dated at issue since the source gives no date, and relance's
/// automatic allocations at their booking dates), credit events from the dunning history and
/// people, and the previous closing's state.
pub fn closing_input(
    company: &CompanyId,
    currency: relance_core::Currency,
    ledger: &Ledger,
    events: Vec<CreditEvent>,
    previous: CoreProvisionState,
) -> ClosingInput {
    let dates: HashMap<&str, NaiveDate> = ledger
        .receipts
        .iter()
        .map(|r| (r.id.as_str(), r.booking_date))
        .collect();
    let mut settlements: HashMap<&InvoiceId, Vec<Settlement>> = HashMap::new();
    for a in ledger.allocations.iter().filter(|a| a.auto) {
        if let Some(date) = ledger.write_offs.get(&a.transaction) {
            // A residue written off: it leaves the receivable like a credit note would.
            settlements.entry(&a.invoice).or_default().push(Settlement {
                reference: a.transaction.as_str().to_owned(),
                date: *date,
                amount: a.amount,
                kind: SettlementKind::CreditNote,
            });
            continue;
        }
        let Some(date) = dates.get(a.transaction.as_str()) else {
            continue;
        };
        if a.amount > Decimal::ZERO {
            settlements.entry(&a.invoice).or_default().push(Settlement {
                reference: a.transaction.as_str().to_owned(),
                date: *date,
                amount: a.amount,
                kind: SettlementKind::Payment,
            });
        }
        if let Some(d) = a.deduction {
            settlements.entry(&a.invoice).or_default().push(Settlement {
                reference: format!("{}-deduction", a.transaction),
                date: *date,
                amount: d.amount,
                kind: SettlementKind::CreditNote,
            });
        }
    }
    let receivables = ledger
        .invoices
        .iter()
        .filter(|i| i.kind == InvoiceKind::Invoice)
        .map(|i| {
            let mut s = settlements.remove(&i.id).unwrap_or_default();
            let paid_in_source = i.total_with_vat - i.amount_due;
            if paid_in_source > Decimal::ZERO {
                s.push(Settlement {
                    reference: format!("{}-source", i.id),
                    date: i.issue_date,
                    amount: paid_in_source,
                    kind: SettlementKind::Payment,
                });
            }
            Receivable {
                invoice: i.clone(),
                settlements: s,
            }
        })
        .collect();
    ClosingInput {
        company: company.clone(),
        currency,
        receivables,
        events,
        overrides: Vec::new(),
        previous,
    }
}
