//! What a decision is checked against: the company's records and the decisions already
//! applied, read from the store when a decision is recorded ([`StoreFacts`]), or from the
//! cycle's ledger when it is applied ([`LedgerFacts`], which also sees the effects of the
//! decisions applied before it in the same cycle).

use super::state::DecisionState;
use crate::ledger::{allocation_from_record, Ledger};
use crate::store::{OutboxEntry, ProvisionState, Store, StoreError};
use chrono::NaiveDate;
use relance_connectors::contract::IdempotencyKey;
use relance_core::dunning::SentAction;
use relance_core::reconcile::Allocation;
use relance_core::{
    CompanyId, Customer, CustomerId, Invoice, InvoiceId, InvoiceStatus, Receipt, TransactionId,
};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// The facts a decision is checked against.
pub trait Facts {
    /// A customer by id.
    fn customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError>;
    /// An invoice or credit note by id.
    fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, StoreError>;
    /// The receipt with this bank transaction id.
    fn receipt(&self, tx: &TransactionId) -> Result<Option<Receipt>, StoreError>;
    /// The allocations (applied and suggested) of a receipt.
    fn allocations_of_receipt(&self, tx: &TransactionId) -> Result<Vec<Allocation>, StoreError>;
    /// The allocations (applied and suggested) to an invoice.
    fn allocations_of_invoice(&self, inv: &InvoiceId) -> Result<Vec<Allocation>, StoreError>;
    /// A customer's open invoices (not credit notes), ordered by id.
    fn open_invoices_of(&self, customer: &CustomerId) -> Result<Vec<Invoice>, StoreError>;
    /// An outbox entry by key.
    fn outbox_entry(&self, key: &str) -> Result<Option<OutboxEntry>, StoreError>;
    /// A closing's recorded state (draft, queued, posted).
    fn closing(&self, date: NaiveDate) -> Result<Option<ProvisionState>, StoreError>;
    /// The digest of a closing's latest draft.
    fn draft_digest(&self, date: NaiveDate) -> Result<Option<String>, StoreError>;
    /// The decisions applied so far.
    fn state(&self) -> &DecisionState;
    /// The dunning action planned under `key`, if any.
    fn dunning_action(&self, key: &str) -> Result<Option<SentAction>, StoreError>;
}

fn planned<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    key: &str,
) -> Result<Option<SentAction>, StoreError> {
    Ok(super::inputs::planned_actions(store, company)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, a)| a))
}

/// What remains open on an invoice (signed: negative for a credit note) after the
/// allocations applied to it and their deductions; zero when it is not open.
pub fn open_amount(f: &dyn Facts, inv: &Invoice) -> Result<Decimal, StoreError> {
    if inv.status != InvoiceStatus::Open {
        return Ok(Decimal::ZERO);
    }
    let mut open = inv.signed_open();
    for a in f.allocations_of_invoice(&inv.id)?.iter().filter(|a| a.auto) {
        open -= a.amount;
        if let Some(d) = a.deduction {
            if open >= Decimal::ZERO {
                open -= d.amount;
            } else {
                open += d.amount;
            }
        }
    }
    Ok(open)
}

/// What a credit receipt still has to place after its applied allocations.
pub fn remainder(f: &dyn Facts, r: &Receipt) -> Result<Decimal, StoreError> {
    if !r.is_credit() {
        return Ok(Decimal::ZERO);
    }
    let applied: Decimal = f
        .allocations_of_receipt(&r.id)?
        .iter()
        .filter(|a| a.auto)
        .map(|a| a.amount)
        .sum();
    Ok(r.amount - applied)
}

/// Facts read from the store, for recording.
pub struct StoreFacts<'a, S: Store + ?Sized> {
    store: &'a S,
    company: &'a CompanyId,
    state: DecisionState,
}

impl<'a, S: Store + ?Sized> StoreFacts<'a, S> {
    /// The facts of `company` in `store` (the decision state is read now).
    pub fn load(store: &'a S, company: &'a CompanyId) -> Result<Self, StoreError> {
        Ok(Self {
            store,
            company,
            state: DecisionState::load(store, company)?,
        })
    }
}

impl<S: Store + ?Sized> Facts for StoreFacts<'_, S> {
    fn customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        Ok(self.store.customer(self.company, id)?.map(|r| r.customer))
    }
    fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, StoreError> {
        Ok(self.store.invoice(self.company, id)?.map(|r| r.invoice))
    }
    fn receipt(&self, tx: &TransactionId) -> Result<Option<Receipt>, StoreError> {
        Ok(self
            .store
            .receipts_of_transaction(self.company, tx)?
            .into_iter()
            .map(|r| r.receipt)
            .find(Receipt::is_credit))
    }
    fn allocations_of_receipt(&self, tx: &TransactionId) -> Result<Vec<Allocation>, StoreError> {
        Ok(self
            .store
            .allocations_of_transaction(self.company, tx)?
            .iter()
            .filter_map(allocation_from_record)
            .collect())
    }
    fn allocations_of_invoice(&self, inv: &InvoiceId) -> Result<Vec<Allocation>, StoreError> {
        Ok(self
            .store
            .allocations_of_invoice(self.company, inv)?
            .iter()
            .filter_map(allocation_from_record)
            .collect())
    }
    fn open_invoices_of(&self, customer: &CustomerId) -> Result<Vec<Invoice>, StoreError> {
        Ok(self
            .store
            .invoices_of_customer(self.company, customer)?
            .into_iter()
            .map(|r| r.invoice)
            .filter(|i| {
                i.kind == relance_core::InvoiceKind::Invoice && i.status == InvoiceStatus::Open
            })
            .collect())
    }
    fn outbox_entry(&self, key: &str) -> Result<Option<OutboxEntry>, StoreError> {
        self.store
            .outbox_entry(self.company, &IdempotencyKey(key.to_owned()))
    }
    fn closing(&self, date: NaiveDate) -> Result<Option<ProvisionState>, StoreError> {
        self.store.provision(self.company, date)
    }
    fn draft_digest(&self, date: NaiveDate) -> Result<Option<String>, StoreError> {
        Ok(super::closing::latest_draft(self.store, self.company, date)?.map(|d| d.digest))
    }
    fn state(&self) -> &DecisionState {
        &self.state
    }
    fn dunning_action(&self, key: &str) -> Result<Option<SentAction>, StoreError> {
        planned(self.store, self.company, key)
    }
}

/// Facts of a cycle: its ledger (kept up to date with the allocations the decisions applied
/// before), the decision state folded so far, and the store for the rest.
pub struct LedgerFacts<'a, S: Store + ?Sized> {
    store: &'a S,
    company: &'a CompanyId,
    /// The ledger, with this cycle's decisions' allocations.
    pub ledger: Ledger,
    /// The decisions applied so far, this cycle's included.
    pub state: DecisionState,
    /// Outbox entries changed by this cycle's decisions (a retried dead letter…).
    pub outbox: HashMap<String, OutboxEntry>,
    /// Closing states changed by this cycle's decisions.
    pub closings: HashMap<NaiveDate, ProvisionState>,
    /// Digests of the drafts recomputed by this cycle's decisions.
    pub drafts: HashMap<NaiveDate, String>,
}

impl<'a, S: Store + ?Sized> LedgerFacts<'a, S> {
    /// Facts over `ledger` and `state`.
    pub fn new(store: &'a S, company: &'a CompanyId, ledger: Ledger, state: DecisionState) -> Self {
        Self {
            store,
            company,
            ledger,
            state,
            outbox: HashMap::new(),
            closings: HashMap::new(),
            drafts: HashMap::new(),
        }
    }

    /// The store the facts fall back to.
    pub fn store(&self) -> &'a S {
        self.store
    }

    /// Sets (or replaces) the allocation of (transaction, invoice); `None` removes it.
    pub fn put_allocation(&mut self, tx: &TransactionId, inv: &InvoiceId, a: Option<Allocation>) {
        self.ledger
            .allocations
            .retain(|x| !(&x.transaction == tx && &x.invoice == inv));
        if let Some(a) = a {
            self.ledger.allocations.push(a);
        }
    }
}

impl<S: Store + ?Sized> Facts for LedgerFacts<'_, S> {
    fn customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        Ok(self.ledger.customers.iter().find(|c| &c.id == id).cloned())
    }
    fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, StoreError> {
        Ok(self.ledger.invoices.iter().find(|i| &i.id == id).cloned())
    }
    fn receipt(&self, tx: &TransactionId) -> Result<Option<Receipt>, StoreError> {
        Ok(self
            .ledger
            .receipts
            .iter()
            .find(|r| &r.id == tx && r.is_credit())
            .cloned())
    }
    fn allocations_of_receipt(&self, tx: &TransactionId) -> Result<Vec<Allocation>, StoreError> {
        Ok(self
            .ledger
            .allocations
            .iter()
            .filter(|a| &a.transaction == tx)
            .cloned()
            .collect())
    }
    fn allocations_of_invoice(&self, inv: &InvoiceId) -> Result<Vec<Allocation>, StoreError> {
        Ok(self
            .ledger
            .allocations
            .iter()
            .filter(|a| &a.invoice == inv)
            .cloned()
            .collect())
    }
    fn open_invoices_of(&self, customer: &CustomerId) -> Result<Vec<Invoice>, StoreError> {
        let mut v: Vec<Invoice> = self
            .ledger
            .invoices
            .iter()
            .filter(|i| {
                &i.customer == customer
                    && i.kind == relance_core::InvoiceKind::Invoice
                    && i.status == InvoiceStatus::Open
            })
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }
    fn outbox_entry(&self, key: &str) -> Result<Option<OutboxEntry>, StoreError> {
        match self.outbox.get(key) {
            Some(e) => Ok(Some(e.clone())),
            None => self
                .store
                .outbox_entry(self.company, &IdempotencyKey(key.to_owned())),
        }
    }
    fn closing(&self, date: NaiveDate) -> Result<Option<ProvisionState>, StoreError> {
        match self.closings.get(&date) {
            Some(s) => Ok(Some(s.clone())),
            None => self.store.provision(self.company, date),
        }
    }
    fn draft_digest(&self, date: NaiveDate) -> Result<Option<String>, StoreError> {
        match self.drafts.get(&date) {
            Some(d) => Ok(Some(d.clone())),
            None => {
                Ok(super::closing::latest_draft(self.store, self.company, date)?.map(|d| d.digest))
            }
        }
    }
    fn state(&self) -> &DecisionState {
        &self.state
    }
    fn dunning_action(&self, key: &str) -> Result<Option<SentAction>, StoreError> {
        planned(self.store, self.company, key)
    }
}
