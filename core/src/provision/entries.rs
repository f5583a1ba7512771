//! Accounting entries (PCG) of a closing run: one balanced move per invoice and kind, with a
//! deterministic key and its justification.

use super::policy::Policy;
use crate::ids::{CompanyId, CustomerId, InvoiceId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a move does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// 416 / 411 at TTC: the receivable becomes doubtful or litigious.
    Reclassification,
    /// 512 / 416 (or 411 / 416): a payment, credit note or dividend on a doubtful receivable.
    Payment,
    /// 68174 / 491: the allowance increases.
    Allowance,
    /// 491 / 78174: the allowance decreases (payment, lower rate, settlement).
    AllowanceReversal,
    /// 654 (HT) + 44571 (VAT) / 416 (TTC): the loss is definitive (CGI 272-1).
    WriteOff,
    /// 491 / 78174: the whole allowance is reversed on write-off.
    WriteOffReversal,
}

impl EntryKind {
    /// Snake-case name, used in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Reclassification => "reclassification",
            EntryKind::Payment => "payment",
            EntryKind::Allowance => "allowance",
            EntryKind::AllowanceReversal => "allowance_reversal",
            EntryKind::WriteOff => "write_off",
            EntryKind::WriteOffReversal => "write_off_reversal",
        }
    }
}

/// One line of a move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryLine {
    /// Account number.
    pub account: String,
    /// Debit (zero on a credit line).
    pub debit: Decimal,
    /// Credit (zero on a debit line).
    pub credit: Decimal,
    /// Customer, on 411 and 416 lines only (ERPs such as Tryton refuse a party on accounts
    /// that do not require one, such as 491 or 654).
    pub party: Option<CustomerId>,
    /// Line label.
    pub label: String,
}

/// One balanced move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Deterministic key: `provision:<company>:<invoice>:<closing>:<kind>` (plus the
    /// settlement reference for payments).
    pub key: String,
    /// What the move does.
    pub kind: EntryKind,
    /// Journal code.
    pub journal: String,
    /// Accounting date (the closing date).
    pub date: NaiveDate,
    /// The invoice.
    pub invoice: InvoiceId,
    /// Its customer.
    pub customer: CustomerId,
    /// Move label.
    pub label: String,
    /// The lines (two or three, debits and credits equal).
    pub lines: Vec<EntryLine>,
    /// Why: criteria, evidence, rule and amounts.
    pub justification: String,
}

impl Entry {
    /// Sum of debits.
    pub fn total_debit(&self) -> Decimal {
        self.lines.iter().map(|l| l.debit).sum()
    }

    /// Sum of credits.
    pub fn total_credit(&self) -> Decimal {
        self.lines.iter().map(|l| l.credit).sum()
    }

    /// True when debits equal credits and every line is one-sided and non-negative.
    pub fn is_balanced(&self) -> bool {
        self.total_debit() == self.total_credit()
            && self.lines.iter().all(|l| {
                l.debit >= Decimal::ZERO
                    && l.credit >= Decimal::ZERO
                    && (l.debit.is_zero() || l.credit.is_zero())
            })
    }
}

/// The deterministic key of an entry.
pub fn entry_key(
    company: &CompanyId,
    invoice: &InvoiceId,
    closing: NaiveDate,
    kind: EntryKind,
    reference: Option<&str>,
) -> String {
    let mut k = format!("provision:{company}:{invoice}:{closing}:{}", kind.as_str());
    if let Some(r) = reference {
        k.push(':');
        k.push_str(r);
    }
    k
}

/// Builds entries for one invoice at one closing.
pub(crate) struct Builder<'a> {
    pub policy: &'a Policy,
    pub company: &'a CompanyId,
    pub invoice: &'a InvoiceId,
    pub number: &'a str,
    pub customer: &'a CustomerId,
    pub closing: NaiveDate,
}

impl Builder<'_> {
    fn line(
        &self,
        account: &str,
        debit: Decimal,
        credit: Decimal,
        party: bool,
        label: &str,
    ) -> EntryLine {
        EntryLine {
            account: account.to_owned(),
            debit,
            credit,
            party: party.then(|| self.customer.clone()),
            label: label.to_owned(),
        }
    }

    fn entry(
        &self,
        kind: EntryKind,
        journal: &str,
        reference: Option<&str>,
        label: String,
        lines: Vec<EntryLine>,
        justification: String,
    ) -> Entry {
        Entry {
            key: entry_key(self.company, self.invoice, self.closing, kind, reference),
            kind,
            journal: journal.to_owned(),
            date: self.closing,
            invoice: self.invoice.clone(),
            customer: self.customer.clone(),
            label,
            lines,
            justification,
        }
    }

    /// Debit 416, credit 411, at TTC.
    pub fn reclassification(&self, ttc: Decimal, why: String) -> Entry {
        let a = &self.policy.accounts;
        let label = format!("Créance douteuse {} reclassée", self.number);
        let lines = vec![
            self.line(&a.doubtful, ttc, Decimal::ZERO, true, &label),
            self.line(&a.receivable, Decimal::ZERO, ttc, true, &label),
        ];
        self.entry(
            EntryKind::Reclassification,
            &self.policy.journal,
            None,
            label,
            lines,
            why,
        )
    }

    /// Debit bank (or 411), credit 416.
    pub fn payment(&self, reference: &str, ttc: Decimal, via_411: bool, why: String) -> Entry {
        let a = &self.policy.accounts;
        let label = format!("Encaissement créance douteuse {} {reference}", self.number);
        let (debit_account, party, journal) = if via_411 {
            (&a.receivable, true, &self.policy.journal)
        } else {
            (&a.bank, false, &self.policy.bank_journal)
        };
        let lines = vec![
            self.line(debit_account, ttc, Decimal::ZERO, party, &label),
            self.line(&a.doubtful, Decimal::ZERO, ttc, true, &label),
        ];
        self.entry(
            EntryKind::Payment,
            journal,
            Some(reference),
            label,
            lines,
            why,
        )
    }

    /// Debit 68174, credit 491.
    pub fn allowance(&self, amount: Decimal, why: String) -> Entry {
        let a = &self.policy.accounts;
        let label = format!("Dépréciation créance {}", self.number);
        let lines = vec![
            self.line(&a.allowance_expense, amount, Decimal::ZERO, false, &label),
            self.line(&a.allowance, Decimal::ZERO, amount, false, &label),
        ];
        self.entry(
            EntryKind::Allowance,
            &self.policy.journal,
            None,
            label,
            lines,
            why,
        )
    }

    /// Debit 491, credit 78174 (`kind` is the reversal or the write-off reversal).
    pub fn reversal(&self, kind: EntryKind, amount: Decimal, why: String) -> Entry {
        let a = &self.policy.accounts;
        let label = format!("Reprise dépréciation créance {}", self.number);
        let lines = vec![
            self.line(&a.allowance, amount, Decimal::ZERO, false, &label),
            self.line(&a.allowance_reversal, Decimal::ZERO, amount, false, &label),
        ];
        self.entry(kind, &self.policy.journal, None, label, lines, why)
    }

    /// Debit 654 (HT) and the VAT account (VAT), credit 416 (TTC). A zero VAT line is left out.
    pub fn write_off(&self, ht: Decimal, vat: Decimal, vat_account: &str, why: String) -> Entry {
        let a = &self.policy.accounts;
        let label = format!("Créance irrécouvrable {}", self.number);
        let mut lines = vec![self.line(&a.loss, ht, Decimal::ZERO, false, &label)];
        if !vat.is_zero() {
            lines.push(self.line(vat_account, vat, Decimal::ZERO, false, &label));
        }
        lines.push(self.line(&a.doubtful, Decimal::ZERO, ht + vat, true, &label));
        self.entry(
            EntryKind::WriteOff,
            &self.policy.journal,
            None,
            label,
            lines,
            why,
        )
    }
}
