//! Reconciliation: matches bank receipts to open invoices, with evidence and a reason for each.
//!
//! [`reconcile`] is a pure function of the ledger (invoices, customers), the bank receipts, the
//! allocations already made (`prior`) and a [`Policy`]. It never compares all pairs: candidates
//! come from indexes (normalised references, RF creditor references, order/buyer references,
//! mandates, payer IBANs, SIREN/VAT, payer names) and every strategy works within one
//! customer's (or one payer's customers') open items.
//!
//! Decisions, in order of strength (each pass sees what the previous ones consumed; receipts
//! are taken in (booking date, id) order, so the input order never matters):
//! 1. returns (R-transactions) reverse what their original credit had settled in an earlier
//!    run, or keep the original from being applied when both are in this run;
//! 2. exact references (invoice number, RF, order/buyer reference, end-to-end id), in two
//!    sweeps. The first applies those whose amount is explained: equal, a combination (1:N,
//!    credit notes netted as negative allocations), a deduction within policy (a discount,
//!    bank charges of a transfer from abroad, rounding) that no neighbouring invoice of the
//!    payer explains as well. The second weighs partial payments and overpayments, once the
//!    neighbours paid by their own receipts are settled: applied for a payer identified as the
//!    invoice's customer unless a neighbour one edit away fits the amount (then that one, when
//!    it is exactly its open amount) or could be meant; an instalment of the invoice's
//!    schedule is its own evidence; a second payment of an invoice, also with a typo, is
//!    flagged as a duplicate, never applied;
//! 3. several receipts that together pay exactly one invoice they all designate (N:1);
//! 4. tolerant references within the identified payer's own open items (edit distance with
//!    transpositions, numbers cut short, sequence numbers ending a reference) — never across
//!    customers; with a deduction or a surplus only when the reference designates one invoice
//!    and nothing else of the payer fits;
//! 5. identified customer (IBAN known or learnt from the reference pass and `prior`, mandate,
//!    SIREN/VAT or its name in the text, payer name — also cut at the bank's field length) and
//!    a unique amount, instalment or combination of its items; a combination only when a
//!    chance match among that many items is unlikely. Among several of its items of exactly
//!    the amount (a subscription paid without reference), the first due, oldest, by Code
//!    civil art. 1342-10; combinations count items of equal amount once, the oldest taken;
//! 6. the same N:1 pass with tolerant references and, without reference, receipts of one
//!    identified customer paying one of its items together;
//! 7. partial payments and overpayments next to open invoices the payer could have meant,
//!    decided by what its other receipts of the run showed: applied for a payer seen to type
//!    its references right, never for one seen to mistype them;
//! 8. Code civil art. 1342-10 imputation over items of other amounts (debts due first, then
//!    the oldest), automatic only when [`Policy::fifo_auto`] says so;
//! 9. otherwise ranked suggestions, never automatic; an amount alone is never evidence.
//!
//! Debits that are not returns (refunds, fees, internal transfers) are ignored: they are neither
//! allocated nor listed as unmatched. Credits with no automatic allocation (now or in `prior`)
//! are listed in [`Outcome::unmatched`] (the exception queue), with their suggestions if any;
//! a credit reversed by a return in the same run is flagged, not listed.

pub mod confidence;
mod engine;
pub mod explain;
mod index;
pub mod names;
pub mod normalise;
mod policy;
pub mod probable;
pub mod score;
mod strategy;
pub mod subset;
pub mod synth;
pub mod synth2;
mod units;

pub use engine::{reconcile, reconcile_with};
pub use explain::{
    Basis, Deducted, Designation, Evidence, IbanSource, NameForm, Reversal, Several, Why,
};
pub use policy::Policy;
pub use probable::{ProbableEvidence, ProbablePayment};
pub use units::{Executor, Sequential};

use crate::ids::{CustomerId, InvoiceId, TransactionId};
use crate::model::{Customer, Invoice, InvoiceStatus, Receipt};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A confidence score in per-mille (0..=1000); serialised as a number in [0, 1] such as 0.99.
/// It is a score, not money, so the float appears only at output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(from = "f64")]
pub struct Confidence(pub u16);

impl Confidence {
    /// The score as a fraction in [0, 1].
    pub fn as_f64(self) -> f64 {
        f64::from(self.0.min(1000)) / 1000.0
    }
}

impl From<f64> for Confidence {
    fn from(v: f64) -> Self {
        let clamped = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        // The value is within 0..=1000 after clamping, so the cast cannot truncate.
        Confidence((clamped * 1000.0).round() as u16)
    }
}

impl Serialize for Confidence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

/// The rule that produced an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// An exact reference (invoice number, RF creditor reference, order or buyer reference,
    /// end-to-end id) designates the invoice(s).
    Reference,
    /// A reference close to one of the identified payer's own open invoices (edit distance,
    /// transposition, truncated sequence number).
    TolerantReference,
    /// The identified customer has exactly one open item of the received amount.
    CustomerAmount,
    /// The identified customer has exactly one combination of open items (invoices and credit
    /// notes) summing to the received amount.
    CustomerCombination,
    /// Imputation by Code civil art. 1342-10: debts due first, then the oldest.
    Imputation,
    /// Amount only (a suggestion, never automatic).
    AmountOnly,
    /// A return or reversal undoes what its original credit had settled.
    Return,
    /// A person confirmed the allocation.
    Confirmed,
}

/// How a reference was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    /// The invoice number, after normalisation (case, separators, prefixes, leading zeros).
    InvoiceNumber,
    /// An ISO 11649 RF creditor reference with valid check digits.
    CreditorReference,
    /// The purchase order reference (BT-13).
    OrderReference,
    /// The buyer reference (BT-10).
    BuyerReference,
    /// Within the payer's open invoices: at bounded edit distance.
    Tolerant,
    /// Within the payer's open invoices: the trailing sequence number only.
    Sequence,
}

/// What a difference between paid and open amount was booked as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeductionKind {
    /// Early-payment discount (escompte) at one of the policy rates.
    Discount,
    /// Bank charges of the transfer.
    BankFees,
    /// Rounding difference.
    Rounding,
}

/// A difference booked beside an allocation, closing the invoice although less was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deduction {
    /// What it is.
    pub kind: DeductionKind,
    /// The amount written off (positive).
    pub amount: Decimal,
}

/// One (transaction, invoice) allocation: the contract line of `relance reconcile`.
///
/// Serialised with its `reason` rendered from `why` (the output contract); read back from
/// either (a stored allocation written before explanations were structured keeps its text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The bank's id of the receipt.
    pub transaction: TransactionId,
    /// The invoice or credit note.
    pub invoice: InvoiceId,
    /// Amount applied: negative for a credit note netted, and for a return reversing.
    pub amount: Decimal,
    /// True when relance applies it without a person; false is a suggestion.
    pub auto: bool,
    /// Confidence in [0, 1].
    pub confidence: Confidence,
    /// The rule.
    pub rule: Rule,
    /// A difference booked with it (discount, bank fees, rounding), settling the invoice.
    pub deduction: Option<Deduction>,
    /// Why: the evidence and how the amount is explained.
    pub why: Why,
}

impl Allocation {
    /// The sentence a person reads: rule and evidence.
    pub fn reason(&self) -> String {
        self.why.render(self.rule, &self.invoice)
    }
    /// The evidence.
    pub fn evidence(&self) -> Vec<Evidence> {
        self.why.evidence()
    }
}

#[derive(Serialize)]
struct AllocationOut<'a> {
    transaction: &'a TransactionId,
    invoice: &'a InvoiceId,
    amount: Decimal,
    auto: bool,
    confidence: Confidence,
    rule: Rule,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deduction: Option<Deduction>,
    why: &'a Why,
}

#[derive(Deserialize)]
struct AllocationIn {
    transaction: TransactionId,
    invoice: InvoiceId,
    amount: Decimal,
    auto: bool,
    confidence: Confidence,
    rule: Rule,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    deduction: Option<Deduction>,
    #[serde(default)]
    why: Option<Why>,
}

impl Serialize for Allocation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        AllocationOut {
            transaction: &self.transaction,
            invoice: &self.invoice,
            amount: self.amount,
            auto: self.auto,
            confidence: self.confidence,
            rule: self.rule,
            reason: self.reason(),
            deduction: self.deduction,
            why: &self.why,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Allocation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let a = AllocationIn::deserialize(d)?;
        let why = match (a.why, a.reason) {
            (Some(w), _) => w,
            (None, r) => Why::recorded(r.unwrap_or_default()),
        };
        Ok(Allocation {
            transaction: a.transaction,
            invoice: a.invoice,
            amount: a.amount,
            auto: a.auto,
            confidence: a.confidence,
            rule: a.rule,
            deduction: a.deduction,
            why,
        })
    }
}

/// A ranked alternative for the exception queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// The receipt.
    pub transaction: TransactionId,
    /// 1 for the best.
    pub rank: u8,
    /// Invoices and amounts proposed.
    pub invoices: Vec<(InvoiceId, Decimal)>,
    /// Confidence in [0, 1].
    pub confidence: Confidence,
    /// The rule that would apply it.
    pub rule: Rule,
    /// Why.
    pub why: Why,
}

impl Suggestion {
    /// The sentence a person reads.
    pub fn reason(&self) -> String {
        let first = self
            .invoices
            .first()
            .map(|x| x.0.clone())
            .unwrap_or_else(|| InvoiceId::new(""));
        self.why.render(self.rule, &first)
    }
}

#[derive(Serialize)]
struct SuggestionOut<'a> {
    transaction: &'a TransactionId,
    rank: u8,
    invoices: &'a [(InvoiceId, Decimal)],
    confidence: Confidence,
    rule: Rule,
    reason: String,
    why: &'a Why,
}

#[derive(Deserialize)]
struct SuggestionIn {
    transaction: TransactionId,
    rank: u8,
    invoices: Vec<(InvoiceId, Decimal)>,
    confidence: Confidence,
    #[serde(default = "suggestion_rule")]
    rule: Rule,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    why: Option<Why>,
}

fn suggestion_rule() -> Rule {
    Rule::AmountOnly
}

impl Serialize for Suggestion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SuggestionOut {
            transaction: &self.transaction,
            rank: self.rank,
            invoices: &self.invoices,
            confidence: self.confidence,
            rule: self.rule,
            reason: self.reason(),
            why: &self.why,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Suggestion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = SuggestionIn::deserialize(d)?;
        let why = match (x.why, x.reason) {
            (Some(w), _) => w,
            (None, r) => Why::recorded(r.unwrap_or_default()),
        };
        Ok(Suggestion {
            transaction: x.transaction,
            rank: x.rank,
            invoices: x.invoices,
            confidence: x.confidence,
            rule: x.rule,
            why,
        })
    }
}

/// Something a person (or the dunning engine) must know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Flag {
    /// More was received than was open on the designated items; the surplus stays unapplied.
    Overpayment {
        /// The receipt.
        transaction: TransactionId,
        /// Unapplied surplus.
        surplus: Decimal,
    },
    /// The receipt designates items already settled: probably paid twice.
    Duplicate {
        /// The receipt.
        transaction: TransactionId,
        /// The items it designates.
        invoices: Vec<InvoiceId>,
    },
    /// A partial payment: the rest stays open (an instalment when the invoice has a schedule).
    Partial {
        /// The receipt.
        transaction: TransactionId,
        /// The invoice.
        invoice: InvoiceId,
        /// Still open after it.
        remaining: Decimal,
        /// True when the invoice has instalments and the amount equals one of them.
        instalment: bool,
    },
    /// A return reopened invoices: dunning must know they are unpaid again.
    Return {
        /// The return transaction.
        transaction: TransactionId,
        /// The credit it reverses.
        original: TransactionId,
        /// Invoices reopened.
        reopened: Vec<InvoiceId>,
        /// ISO return reason, if given.
        reason: Option<String>,
    },
    /// A return whose original credit could not be found.
    ReturnUnlinked {
        /// The return transaction.
        transaction: TransactionId,
    },
}

/// A credit receipt with an unapplied remainder and the customers it is attributed or
/// attributable to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnappliedCredit {
    /// The receipt.
    pub transaction: TransactionId,
    /// The remainder not yet applied.
    pub remaining: Decimal,
    /// Booking date.
    pub booking_date: chrono::NaiveDate,
    /// True when the receipt already carries allocations to this customer's items;
    /// false when the customer is only identified (IBAN, mandate, name, SIREN/VAT, reference).
    pub attributed: bool,
}

/// The result of [`reconcile`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// New allocations (prior ones are not repeated), automatic and proposed, sorted by
    /// transaction then invoice.
    pub allocations: Vec<Allocation>,
    /// Credits with no automatic allocation in this run nor before (the exception queue).
    pub unmatched: Vec<TransactionId>,
    /// Ranked alternatives for receipts that are not applied automatically.
    #[serde(default)]
    pub suggestions: Vec<Suggestion>,
    /// Overpayments, duplicates, partial payments, returns.
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// Unapplied receipts that could be the payment of open invoices, whether or not their
    /// payer was identified: the reconcile side of the reconcile-then-remind gate (no
    /// reminder for these invoices while the receipt is unapplied) and probable payments in
    /// the exception queue.
    #[serde(default)]
    pub probable_payments: Vec<ProbablePayment>,
}

/// A receipt a person confirmed as the payment of an invoice (from the exception queue).
///
/// It is applied (when the receipt is among the inputs and not already allocated so) and it
/// teaches the payer's IBAN and name variant for the invoice's customer, so that the next
/// receipts of that payer are identified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedLink {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoice it pays.
    pub invoice: InvoiceId,
    /// The amount the person applied.
    pub amount: Decimal,
    /// The payer's IBAN as the statement showed it; the receipt's own is used when the
    /// receipt is among the inputs.
    #[serde(default)]
    pub payer_iban: Option<String>,
    /// The payer's name as the statement showed it; likewise.
    #[serde(default)]
    pub payer_name: Option<String>,
}

/// A suggestion a person rejected: this receipt does not pay this invoice. The pair is never
/// proposed again (not applied, not suggested, not a probable payment).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RejectedLink {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoice.
    pub invoice: InvoiceId,
}

/// What people decided about earlier outcomes, an input of [`reconcile_with`] (the operator
/// service records these decisions as events and feeds them to each cycle).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decisions {
    /// Receipts confirmed as payments of invoices.
    #[serde(default)]
    pub confirmed: Vec<ConfirmedLink>,
    /// Suggestions rejected.
    #[serde(default)]
    pub rejected: Vec<RejectedLink>,
}

/// Everything [`reconcile_with`] reads.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// Invoices and credit notes.
    pub invoices: &'a [Invoice],
    /// The ledger's customers.
    pub customers: &'a [Customer],
    /// Bank lines (credits, debits, returns).
    pub receipts: &'a [Receipt],
    /// Allocations already in force (from earlier runs, automatic or confirmed): applied
    /// first and not repeated in the outcome.
    pub prior: &'a [Allocation],
    /// What people decided.
    pub decisions: &'a Decisions,
}

impl Outcome {
    /// Only the automatic allocations.
    pub fn auto_allocations(&self) -> impl Iterator<Item = &Allocation> {
        self.allocations.iter().filter(|a| a.auto)
    }
}

/// What remains open on each invoice (signed: negative for credit notes) after the source's
/// `amount_due` and the given automatic allocations and their deductions. Cancelled and paid
/// invoices are absent. Suggestions (`auto == false`) are ignored.
pub fn open_after(
    invoices: &[Invoice],
    allocations: &[Allocation],
) -> BTreeMap<InvoiceId, Decimal> {
    let mut open: BTreeMap<InvoiceId, Decimal> = invoices
        .iter()
        .filter(|i| i.status == InvoiceStatus::Open)
        .map(|i| (i.id.clone(), i.signed_open()))
        .collect();
    for a in allocations.iter().filter(|a| a.auto) {
        if let Some(o) = open.get_mut(&a.invoice) {
            *o -= a.amount;
            if let Some(d) = a.deduction {
                if *o >= Decimal::ZERO {
                    *o -= d.amount;
                } else {
                    *o += d.amount;
                }
            }
        }
    }
    open
}

/// Credit receipts with an unapplied remainder, by the customer they are attributed to (they
/// carry automatic allocations to its items) or attributable to (its IBAN, mandate, SIREN/VAT,
/// name or one of its invoice references identifies it). The dunning engine must not remind a
/// customer while one of these could settle the reminded invoice.
pub fn unapplied_credits_by_customer(
    invoices: &[Invoice],
    customers: &[Customer],
    receipts: &[Receipt],
    allocations: &[Allocation],
) -> BTreeMap<CustomerId, Vec<UnappliedCredit>> {
    engine::unapplied_credits(
        invoices,
        customers,
        receipts,
        allocations,
        &Policy::default(),
    )
}
