//! Probable payments: unapplied receipts that could be the payment of an open invoice.
//!
//! This is the reconcile side of the reconcile-then-remind gate. A receipt relance did not
//! apply (its payer unidentified, its amount ambiguous, its reference mistyped) may still be
//! the payment of an invoice; reminding that invoice's customer is the one error a finance
//! team does not forgive. So [`super::Outcome::probable_payments`] lists, for every receipt
//! with an unapplied remainder, the open invoices it could pay, whoever the payer:
//!
//! * its amount equals the invoice's open amount (within the rounding tolerance), or the
//!   open amount less a deduction the policy accepts (a discount at one of its rates, bank
//!   charges of a transfer from abroad);
//! * its amount equals a combination of the customer's open items the invoice is part of;
//! * its text names the invoice (an exact reference, or loosely: a reference a few edits
//!   from the number, its sequence number) or its payer or text names the customer, even
//!   loosely (a payer name below the identification threshold, homonyms): then the items
//!   Code civil art. 1342-10 would impute the receipt to are listed too.
//!
//! The dunning plan holds each listed invoice with [`ProbablePayment::reason`] ("a receipt
//! of 348.00 from ETSNGUYENSASU on 2026-01-30 may be its payment: …"), and the exception
//! queue shows the receipt with these invoices. The list is recomputed at every run: the
//! hold ends when the receipt is applied (to this invoice or elsewhere) or a person rejects
//! the pair (see [`super::Decisions::rejected`]). An amount alone, from an unknown payer, is
//! never a reason to *apply*; it is a reason not to remind, while at most
//! [`AMOUNT_ONLY_HOLD_MAX`] open items share it (beyond, the amount says nothing about any
//! of them and the receipt waits in the queue alone).
//!
//! The type is self-contained (ids, amounts, dates and names, no index into the engine), so
//! it can be stored, sent to the console or turned into dunning holds as it is.

use super::DeductionKind;
use crate::ids::{CustomerId, InvoiceId, TransactionId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

/// An unknown payer's amount holds the open items of that amount while there are at most
/// this many.
pub const AMOUNT_ONLY_HOLD_MAX: usize = 10;

/// Why a receipt could be an invoice's payment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProbableEvidence {
    /// The receipt's text carries the invoice's reference.
    Reference {
        /// The text found.
        found: String,
    },
    /// The text names the invoice loosely (a reference a few edits from its number, its
    /// sequence number).
    LooseReference {
        /// The text found.
        found: String,
    },
    /// The amount equals the invoice's open amount (within the rounding tolerance).
    AmountEqual,
    /// The amount is the invoice's open amount less a deduction the policy accepts.
    AmountLessDeduction {
        /// What it would be booked as.
        kind: DeductionKind,
    },
    /// The amount equals a combination of the customer's open items including this one.
    Combination {
        /// Items in the combination.
        items: usize,
    },
    /// Were the receipt the customer's, Code civil art. 1342-10 would impute it to this
    /// invoice (debts due first, then the oldest).
    Imputation,
    /// The payer is identified as the invoice's customer (IBAN, mandate, name…), but the
    /// amount did not say what it pays.
    PayerIdentified,
    /// The payer's name, or the text, is close to the customer's name without identifying
    /// it (below the identification threshold, or shared by homonyms).
    NameClose {
        /// Similarity in per-mille.
        similarity: u16,
    },
    /// The payer is not identified: the amount is the only lead.
    PayerUnknown {
        /// Open items sharing the amount.
        candidates: usize,
    },
}

/// An unapplied receipt that may be an invoice's payment: the invoice is not to be reminded
/// while the receipt is unapplied.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProbablePayment {
    /// The receipt.
    pub transaction: TransactionId,
    /// The invoice it may pay.
    pub invoice: InvoiceId,
    /// The invoice's customer.
    pub customer: CustomerId,
    /// The receipt's unapplied amount.
    pub amount: Decimal,
    /// The receipt's booking date.
    pub booking_date: NaiveDate,
    /// The payer's name as the statement shows it.
    pub payer_name: Option<String>,
    /// Why it may be its payment, strongest first.
    pub evidence: Vec<ProbableEvidence>,
}

impl ProbablePayment {
    /// The sentence a person reads, e.g. "a receipt of 348.00 from ETSNGUYENSASU on
    /// 2026-01-30 may be its payment: amount equal to its open amount; payer name close to
    /// the customer's (0.78)".
    pub fn reason(&self) -> String {
        let from = self
            .payer_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(|n| format!(" from {}", n.trim()))
            .unwrap_or_default();
        let parts: Vec<String> = self.evidence.iter().map(evidence_text).collect();
        format!(
            "a receipt of {}{from} on {} (transaction {}) may be its payment: {}",
            self.amount,
            self.booking_date,
            self.transaction,
            parts.join("; ")
        )
    }
}

fn evidence_text(e: &ProbableEvidence) -> String {
    match e {
        ProbableEvidence::Reference { found } => format!("its reference \"{found}\" in the text"),
        ProbableEvidence::LooseReference { found } => {
            format!("\"{found}\" in the text is close to its number")
        }
        ProbableEvidence::AmountEqual => "amount equal to its open amount".to_owned(),
        ProbableEvidence::AmountLessDeduction { kind } => format!(
            "amount equal to its open amount less {}",
            match kind {
                DeductionKind::Discount => "an early-payment discount",
                DeductionKind::BankFees => "bank charges",
                DeductionKind::Rounding => "a rounding difference",
            }
        ),
        ProbableEvidence::Combination { items } => {
            format!("amount equal to {items} open items of the customer together")
        }
        ProbableEvidence::Imputation => {
            "Code civil art. 1342-10 would impute it to this invoice first".to_owned()
        }
        ProbableEvidence::PayerIdentified => "payer identified as the customer".to_owned(),
        ProbableEvidence::NameClose { similarity } => format!(
            "payer name or text close to the customer's name ({:.2})",
            f64::from(*similarity) / 1000.0
        ),
        ProbableEvidence::PayerUnknown { candidates } => {
            format!("payer not identified, {candidates} open item(s) of this amount")
        }
    }
}

#[derive(Serialize)]
struct ProbableOut<'a> {
    transaction: &'a TransactionId,
    invoice: &'a InvoiceId,
    customer: &'a CustomerId,
    amount: Decimal,
    booking_date: NaiveDate,
    payer_name: &'a Option<String>,
    evidence: &'a [ProbableEvidence],
    reason: String,
}

impl Serialize for ProbablePayment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ProbableOut {
            transaction: &self.transaction,
            invoice: &self.invoice,
            customer: &self.customer,
            amount: self.amount,
            booking_date: self.booking_date,
            payer_name: &self.payer_name,
            evidence: &self.evidence,
            reason: self.reason(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_receipt_payer_and_date() {
        let p = ProbablePayment {
            transaction: "BQ1".into(),
            invoice: "F-1".into(),
            customer: "C1".into(),
            amount: Decimal::new(34800, 2),
            booking_date: NaiveDate::from_ymd_opt(2026, 1, 30).unwrap_or_default(),
            payer_name: Some("ETSNGUYENSASU".into()),
            evidence: vec![
                ProbableEvidence::AmountEqual,
                ProbableEvidence::NameClose { similarity: 780 },
            ],
        };
        let r = p.reason();
        assert!(
            r.starts_with("a receipt of 348.00 from ETSNGUYENSASU on 2026-01-30"),
            "{r}"
        );
        assert!(r.contains("amount equal"), "{r}");
        let v = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(v["reason"], r);
    }
}
