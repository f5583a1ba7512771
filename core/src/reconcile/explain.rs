//! Structured explanations of allocations and suggestions, and the sentences rendered from
//! them.
//!
//! A strategy records *why* as data: what designates the items ([`Evidence`]) and how the
//! amount is explained ([`Basis`]). The sentence a person reads (the `reason` of the output
//! contract) is rendered from that data when it is shown or serialised, never stored as
//! text, so an outcome of a million allocations costs what its facts cost. One explanation is
//! shared (an `Arc`) by all the lines of one decision.

use super::{DeductionKind, RefKind, Rule};
use crate::ids::TransactionId;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Where the engine knows a payer's IBAN from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IbanSource {
    /// Recorded for the customer in the ledger.
    Ledger,
    /// Learnt from earlier allocations or from exact references in this run.
    Learnt,
    /// A person confirmed a receipt from it for the customer.
    Confirmed,
}

/// Which of the bank's name manglings the payer name survived (see
/// [`super::names`]): the form in which it matched the customer's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameForm {
    /// The same words, up to case, accents, punctuation, word order, legal forms and
    /// civilities.
    Words,
    /// A word one edit away or cut short, a word missing.
    Close,
    /// Spaces removed by the bank (`ETSNGUYENSASU`).
    Glued,
    /// Cut at the bank's field length.
    Cut,
    /// A couple (`M OU MME`, `MR ET MME`) with the customer's surname.
    Couple,
    /// The exact name paid this customer before.
    Learnt,
    /// A person confirmed this name for the customer.
    Confirmed,
}

/// One piece of evidence behind an allocation. What the receipt itself shows (its IBAN, its
/// payer name, its mandate) is not copied: the evidence says it was used and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    /// A reference found in the remittance, structured reference or end-to-end id.
    Reference {
        /// How it was found.
        kind: RefKind,
        /// The number of the invoice it designates.
        invoice: String,
        /// The text found (normalised).
        found: String,
        /// Edit distance to the invoice's reference (0 when exact).
        distance: u8,
    },
    /// The amount equals the open amount (or the sum of the combination).
    AmountEqual,
    /// The payer's IBAN is known for the customer.
    PayerIban {
        /// Where from.
        source: IbanSource,
    },
    /// The receipt's SEPA mandate is the customer's.
    Mandate,
    /// The customer's SIREN or VAT id appears in the remittance.
    Identifier {
        /// The SIREN found.
        id: String,
    },
    /// The payer's name is the customer's, in the form given.
    PayerName {
        /// Similarity in per-mille.
        similarity: u16,
        /// The form that matched.
        form: NameForm,
        /// Two or three customers have as close a name (homonyms).
        homonym: bool,
    },
    /// The customer's name appears in the remittance ("règlement pour …"): a group or a
    /// factor paying for it.
    CustomerNameInText,
    /// The customer's account number appears in the remittance.
    CustomerNumber {
        /// The number found.
        number: String,
    },
    /// A reference shared by too many items to designate one says whose items they are.
    SharedReference {
        /// How it was found.
        kind: RefKind,
        /// The text found.
        found: String,
    },
    /// The only combination of the customer's open items with this sum.
    UniqueCombination {
        /// Number of items.
        items: usize,
    },
    /// Imputed by Code civil art. 1342-10.
    Imputation,
}

/// How a receipt designates an invoice it pays together with other receipts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Designation {
    /// An exact reference in each receipt.
    Exact,
    /// A reference, exact or within the payer's own invoices, in each receipt.
    Tolerant,
    /// No reference: receipts of the identified customer.
    Open,
}

/// How the amount is explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Basis {
    /// Equal to the open amount of the one item designated.
    Equal,
    /// Equal to the sum of the items designated.
    SumOfDesignated {
        /// Number of items.
        items: usize,
    },
    /// Equal to the only combination of some of the items designated.
    SubsetOfDesignated {
        /// Items in the combination.
        items: usize,
    },
    /// Equal to the only combination of the items designated and other open items of the
    /// customer.
    DesignatedAndOthers {
        /// Other items added.
        others: usize,
        /// Credit notes netted among them.
        credit_notes: usize,
    },
    /// The open amount less a deduction booked beside the allocation.
    Deduction {
        /// Open amount of the items.
        open: Decimal,
        /// The deduction.
        short: Decimal,
        /// What it is booked as.
        kind: DeductionKind,
        /// The discount rate, for a discount.
        rate: Option<Decimal>,
        /// For bank charges: the transfer came from abroad.
        abroad: bool,
    },
    /// More than the items' open amount: the surplus stays unapplied.
    Surplus {
        /// Open amount of the items.
        open: Decimal,
        /// Left unapplied.
        surplus: Decimal,
    },
    /// Less than the one item's open amount: the rest stays open.
    Partial {
        /// Open before.
        open: Decimal,
        /// Open after.
        remaining: Decimal,
        /// The amount is an instalment of the invoice's payment schedule.
        instalment: bool,
    },
    /// Less than the items designated: imputed by Code civil art. 1342-10.
    ImputedOverDesignated {
        /// Items designated.
        items: usize,
    },
    /// Several receipts together pay exactly the item's open amount.
    SeveralReceipts {
        /// All the receipts.
        receipts: Vec<TransactionId>,
        /// The item's open amount.
        total: Decimal,
        /// How each designates it.
        designation: Designation,
    },
    /// The identified customer's only open item of exactly the amount.
    OnlyItemOfAmount,
    /// The oldest due of the identified customer's several open items of exactly the amount
    /// (subscriptions, rents, instalments): Code civil art. 1342-10.
    OldestOfEqualItems {
        /// Items of that amount.
        items: usize,
    },
    /// An alternative: another item of the same amount.
    SameAmount,
    /// The identified customer's only open item with an instalment of the amount.
    InstalmentOfSchedule,
    /// The only combination of the identified customer's open items with the sum.
    OnlyCombination {
        /// Items.
        items: usize,
    },
    /// One of several combinations with the sum.
    OneOfSeveralCombinations,
    /// No reference and no matching amount: imputed by art. 1342-10 over different amounts.
    ImputedWithoutMatch,
    /// More than everything open for the customer.
    OverpaidCustomer {
        /// All that is open.
        open: Decimal,
    },
    /// Amount equal, payer not identified.
    AmountOnly {
        /// Open items of that amount.
        candidates: usize,
    },
    /// A return reversing what its original credit had settled.
    Return {
        /// The credit reversed.
        original: TransactionId,
        /// ISO return reason, if given.
        code: Option<String>,
        /// The amount its allocation had.
        reversed: Decimal,
    },
    /// A person confirmed it.
    Confirmed,
    /// A reason recorded as text (allocations decided before explanations were structured).
    Recorded {
        /// The text.
        text: String,
    },
}

/// Why an allocation or a suggestion was made: the evidence and the explanation of the
/// amount. Rendered as a sentence by [`Why::render`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Why {
    /// The receipt's unapplied amount when it was decided.
    pub received: Decimal,
    /// How the amount is explained.
    pub basis: Basis,
    /// What designates the items and identifies the payer.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// The reference designates another customer's invoice than the identified payer's.
    #[serde(default)]
    pub foreign: bool,
}

impl Why {
    /// An explanation recorded as text.
    pub fn recorded(text: impl Into<String>) -> Self {
        Why {
            received: Decimal::ZERO,
            basis: Basis::Recorded { text: text.into() },
            evidence: Vec::new(),
            foreign: false,
        }
    }

    /// The sentence a person reads, for an allocation or suggestion by `rule`.
    pub fn render(&self, rule: Rule) -> String {
        let mut s = String::new();
        let a = self.received;
        match &self.basis {
            Basis::Recorded { text } => return text.clone(),
            Basis::Confirmed => {
                s.push_str("confirmed by a person");
            }
            Basis::Return {
                original,
                code,
                reversed,
            } => {
                s.push_str("return");
                if let Some(c) = code {
                    let _ = write!(s, " ({c})");
                }
                let _ = write!(
                    s,
                    " of credit {original}: reverses its allocation of {reversed}"
                );
                return s;
            }
            Basis::AmountOnly { candidates } => {
                let _ = write!(
                    s,
                    "amount {a} equals the open amount ({candidates} candidate(s)); payer not identified, amount alone is not evidence"
                );
                return s;
            }
            Basis::SeveralReceipts {
                receipts,
                total,
                designation,
            } => {
                let how = match designation {
                    Designation::Exact => "reference to it in each of the receipts",
                    Designation::Tolerant => {
                        "reference to it, exact or within the payer's own invoices, in each of the receipts"
                    }
                    Designation::Open => "receipts of the identified customer",
                };
                let ids: Vec<&str> = receipts.iter().map(TransactionId::as_str).collect();
                let _ = write!(
                    s,
                    "{how} {}, which together pay exactly its open amount {total} (several receipts for one invoice); this one {a}",
                    ids.join(", ")
                );
            }
            basis if is_customer_basis(basis) => {
                s.push_str(&customer_text(basis, a));
            }
            basis => {
                s.push_str(match (rule, self.foreign) {
                    (Rule::TolerantReference, _) => {
                        "tolerant reference within the payer's open invoices"
                    }
                    (_, true) => {
                        "reference to an invoice of a customer other than the identified payer"
                    }
                    _ => "reference",
                });
                s.push_str(": ");
                let refs: Vec<String> = self
                    .evidence
                    .iter()
                    .filter_map(|e| match e {
                        Evidence::Reference {
                            kind,
                            invoice,
                            found,
                            distance,
                        } => Some(if *distance > 0 {
                            format!(
                                "{invoice} ({}, \"{found}\", {distance} edit(s))",
                                ref_kind_text(*kind)
                            )
                        } else {
                            format!("{invoice} ({}, \"{found}\")", ref_kind_text(*kind))
                        }),
                        _ => None,
                    })
                    .collect();
                s.push_str(&refs.join(", "));
                s.push_str("; ");
                s.push_str(&amount_text(basis, a));
            }
        }
        let payer = payer_text(&self.evidence);
        if !payer.is_empty() {
            s.push_str("; ");
            s.push_str(&payer);
        }
        s
    }
}

fn is_customer_basis(b: &Basis) -> bool {
    matches!(
        b,
        Basis::OnlyItemOfAmount
            | Basis::OldestOfEqualItems { .. }
            | Basis::SameAmount
            | Basis::InstalmentOfSchedule
            | Basis::OnlyCombination { .. }
            | Basis::OneOfSeveralCombinations
            | Basis::ImputedWithoutMatch
            | Basis::OverpaidCustomer { .. }
    )
}

/// How a reference kind reads in a sentence.
pub(crate) fn ref_kind_text(k: RefKind) -> &'static str {
    match k {
        RefKind::InvoiceNumber => "invoice number",
        RefKind::CreditorReference => "RF creditor reference, check digits valid",
        RefKind::OrderReference => "order reference BT-13",
        RefKind::BuyerReference => "buyer reference BT-10",
        RefKind::Tolerant => "close to the invoice number",
        RefKind::Sequence => "sequence number",
    }
}

fn deduction_text(kind: DeductionKind, rate: Option<Decimal>, abroad: bool) -> String {
    match kind {
        DeductionKind::Discount => format!(
            "early-payment discount at {} %",
            rate.map(|r| (r * Decimal::ONE_HUNDRED).normalize().to_string())
                .unwrap_or_default()
        ),
        DeductionKind::Rounding => "rounding difference".to_owned(),
        DeductionKind::BankFees if abroad => "bank charges of a transfer from abroad".to_owned(),
        DeductionKind::BankFees => "bank charges of the transfer".to_owned(),
    }
}

fn amount_text(b: &Basis, a: Decimal) -> String {
    match b {
        Basis::Equal => format!("amount {a} equal to the open amount"),
        Basis::SumOfDesignated { items } => {
            format!("amount {a} equal to the sum of {items} items")
        }
        Basis::SubsetOfDesignated { items } => {
            format!("amount {a} equal to the only combination of {items} referenced items")
        }
        Basis::DesignatedAndOthers {
            others,
            credit_notes,
        } => format!(
            "amount {a} equal to the only combination of the referenced and {others} other open item(s) of the customer{}",
            if *credit_notes > 0 {
                format!(", netting {credit_notes} credit note(s)")
            } else {
                String::new()
            }
        ),
        Basis::Deduction {
            open,
            short,
            kind,
            rate,
            abroad,
        } => format!(
            "amount {a} is the open {open} less {short} booked as {}",
            deduction_text(*kind, *rate, *abroad)
        ),
        Basis::Surplus { open, surplus } => {
            format!("amount {a} exceeds the open {open}: surplus {surplus} left unapplied")
        }
        Basis::Partial {
            open,
            remaining,
            instalment,
        } => format!(
            "partial payment {a} of the open {open}{}, {remaining} remains open",
            if *instalment {
                " (an instalment of its schedule)"
            } else {
                ""
            }
        ),
        Basis::ImputedOverDesignated { items } => format!(
            "amount {a} less than the {items} referenced items: imputed by Code civil art. 1342-10 (due first, oldest first)"
        ),
        other => customer_text(other, a),
    }
}

fn customer_text(b: &Basis, a: Decimal) -> String {
    match b {
        Basis::OnlyItemOfAmount => {
            format!("identified customer, the only open item of amount {a} equal")
        }
        Basis::OldestOfEqualItems { items } => format!(
            "identified customer, {items} open items of amount {a} (a recurring payment without reference): the first due, oldest, as Code civil art. 1342-10 imputes a payment that designates none"
        ),
        Basis::SameAmount => "same amount".to_owned(),
        Basis::InstalmentOfSchedule => format!(
            "identified customer, the only open item with an instalment of {a} in its payment schedule"
        ),
        Basis::OnlyCombination { items } => format!(
            "identified customer, the only combination of {items} open items summing to {a}"
        ),
        Basis::OneOfSeveralCombinations => {
            format!("identified customer, one of several combinations summing to {a}")
        }
        Basis::ImputedWithoutMatch => format!(
            "identified customer, no reference and no matching amount: {a} imputed by Code civil art. 1342-10 (debts due first, then the oldest)"
        ),
        Basis::OverpaidCustomer { open } => {
            format!("identified customer paid {a} for {open} open: overpayment, to be reviewed")
        }
        Basis::Deduction {
            open,
            short,
            kind,
            rate,
            abroad,
        } => format!(
            "identified customer, the only open item of {open} less {short} booked as {}",
            deduction_text(*kind, *rate, *abroad)
        ),
        _ => String::new(),
    }
}

fn name_form_text(f: NameForm) -> &'static str {
    match f {
        NameForm::Words => "the same words",
        NameForm::Close => "close",
        NameForm::Glued => "spaces removed",
        NameForm::Cut => "cut at the field length",
        NameForm::Couple => "a couple with the customer's surname",
        NameForm::Learnt => "paid for this customer before",
        NameForm::Confirmed => "confirmed for this customer by a person",
    }
}

/// The identification part of a sentence.
fn payer_text(ev: &[Evidence]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in ev {
        let s = match e {
            Evidence::PayerIban { source } => match source {
                IbanSource::Ledger => "payer IBAN recorded for the customer".to_owned(),
                IbanSource::Learnt => {
                    "payer IBAN known for the customer from earlier payments".to_owned()
                }
                IbanSource::Confirmed => {
                    "payer IBAN confirmed for the customer by a person".to_owned()
                }
            },
            Evidence::Mandate => "SEPA mandate of the customer".to_owned(),
            Evidence::Identifier { id } => format!("SIREN {id} of the customer in the text"),
            Evidence::CustomerNameInText => "customer name in the remittance".to_owned(),
            Evidence::CustomerNumber { number } => {
                format!("customer account number {number} in the remittance")
            }
            Evidence::SharedReference { kind, found } => format!(
                "\"{found}\" ({}) designates the customer's items",
                ref_kind_text(*kind)
            ),
            Evidence::PayerName {
                similarity,
                form,
                homonym,
            } => format!(
                "payer name matches the customer's ({}, {:.2}){}",
                name_form_text(*form),
                f64::from(*similarity) / 1000.0,
                if *homonym {
                    ", as another customer's does"
                } else {
                    ""
                }
            ),
            _ => continue,
        };
        if !parts.contains(&s) {
            parts.push(s);
        }
    }
    parts.join("; ")
}
