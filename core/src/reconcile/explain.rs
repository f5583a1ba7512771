//! Structured explanations of allocations and suggestions, and the sentences rendered from
//! them.
//!
//! A strategy records *why* as data: what designates the items and identifies the payer
//! ([`Evidence`]) and how the amount is explained ([`Basis`]). An allocation keeps it in a
//! compact form, [`Why`], a few dozen bytes inline with no text of its own: what the
//! receipt and the invoice already show (an IBAN, a payer name, an invoice number) is not
//! copied, the explanation says it was used and how. The sentence a person reads (the
//! `reason` of the output contract) is rendered from it when shown or serialised, never
//! stored, so that an outcome of a million allocations costs what its facts cost.

use super::{DeductionKind, RefKind, Rule};
use crate::ids::{InvoiceId, TransactionId};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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

/// Which of the bank's name manglings the payer name survived (see [`super::names`]): the
/// form in which it matched the customer's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NameForm {
    /// The same words, up to case, accents, punctuation, word order, legal forms and
    /// civilities.
    #[default]
    Words,
    /// A word one edit away or cut short, a word missing.
    Close,
    /// Spaces removed by the bank (`ETSNGUYENSASU`).
    Glued,
    /// Cut at the bank's field length.
    Cut,
    /// A couple (`M OU MME`, `MR ET MME`) or a person under the customer's surname alone.
    Couple,
    /// The exact name paid this customer before.
    Learnt,
    /// A person confirmed this name for the customer.
    Confirmed,
}

/// One piece of evidence behind an allocation (the expanded form of [`Why`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    /// A reference in the remittance, structured reference or end-to-end id designates the
    /// invoice: exactly (after normalisation) its number, RF reference, order or buyer
    /// reference, or, within the identified payer's own invoices, text close to its number.
    Reference {
        /// How it was found.
        kind: RefKind,
        /// Edit distance to the invoice's reference (0 when exact).
        distance: u8,
        /// What was typed, for a reference that is not exact.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        typed: Option<String>,
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
    Identifier,
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
    CustomerNumber,
    /// A reference shared by too many items to designate one says whose items they are.
    SharedReference {
        /// Its kind.
        kind: RefKind,
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

/// A return and what it reversed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    /// The credit reversed.
    pub original: TransactionId,
    /// ISO return reason, if given.
    pub code: Option<String>,
    /// The amount its allocation had.
    pub reversed: Decimal,
}

/// A deduction booked beside an allocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deducted {
    /// The deduction.
    pub short: Decimal,
    /// What it is booked as.
    pub kind: DeductionKind,
    /// The discount rate, for a discount (zero otherwise).
    pub rate: Decimal,
    /// For bank charges: the transfer came from abroad.
    pub abroad: bool,
    /// For bank charges: a payment platform paid, net of its commission.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub platform: bool,
}

/// Several receipts paying one invoice together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Several {
    /// All the receipts.
    pub receipts: Vec<TransactionId>,
    /// The item's open amount.
    pub total: Decimal,
    /// How each designates it.
    pub designation: Designation,
}

/// How the amount is explained. Amounts are those of the decision, the received one being
/// [`Why::received`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Basis {
    /// Equal to the open amount of the one item designated.
    Equal,
    /// Equal to the sum of the items designated.
    SumOfDesignated {
        /// Number of items.
        items: u16,
    },
    /// Equal to the only combination of some of the items designated.
    SubsetOfDesignated {
        /// Items in the combination.
        items: u16,
    },
    /// Equal to the only combination of the items designated and other open items of the
    /// customer.
    DesignatedAndOthers {
        /// Other items added.
        others: u16,
        /// Credit notes netted among them.
        credit_notes: u16,
    },
    /// The open amount (received + `short`) less a deduction booked beside the allocation.
    Deduction(Box<Deducted>),
    /// More than the items' open amount: the surplus (received − `open`) stays unapplied.
    Surplus {
        /// Open amount of the items.
        open: Decimal,
    },
    /// Less than the one item's open amount: the rest (`open` − received) stays open.
    Partial {
        /// Open before.
        open: Decimal,
        /// The amount is an instalment of the invoice's payment schedule.
        instalment: bool,
    },
    /// Less than the items designated: imputed by Code civil art. 1342-10.
    ImputedOverDesignated {
        /// Items designated.
        items: u16,
    },
    /// Several receipts together pay exactly the item's open amount.
    SeveralReceipts(Box<Several>),
    /// The identified customer's only open item of exactly the amount.
    OnlyItemOfAmount,
    /// The oldest due of the identified customer's several open items of exactly the amount
    /// (subscriptions, rents, instalments): Code civil art. 1342-10.
    OldestOfEqualItems {
        /// Items of that amount.
        items: u16,
    },
    /// An alternative: another item of the same amount.
    SameAmount,
    /// The identified customer's only open item with an instalment of the amount.
    InstalmentOfSchedule,
    /// The only combination of the identified customer's open items with the sum.
    OnlyCombination {
        /// Items.
        items: u16,
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
        candidates: u16,
    },
    /// A return reversing what its original credit had settled.
    Return(Box<Reversal>),
    /// A person confirmed it.
    Confirmed,
    /// A reason recorded as text (allocations decided before explanations were structured).
    /// Written `{"type": "recorded", "text": …}`: a tagged enum cannot carry a bare string.
    Recorded(#[serde(with = "recorded_text")] Box<str>),
}

/// The wire form of [`Basis::Recorded`]'s text: an object, so that the enum's tag fits in it.
mod recorded_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Out<'a> {
        text: &'a str,
    }

    #[derive(Deserialize)]
    struct In {
        text: String,
    }

    pub fn serialize<S: Serializer, T: AsRef<str>>(t: &T, s: S) -> Result<S::Ok, S::Error> {
        Out { text: t.as_ref() }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<str>, D::Error> {
        Ok(In::deserialize(d)?.text.into_boxed_str())
    }
}

/// Evidence flags of [`Why`].
mod flag {
    pub const AMOUNT_EQUAL: u16 = 1;
    pub const IBAN_LEDGER: u16 = 1 << 1;
    pub const IBAN_LEARNT: u16 = 1 << 2;
    pub const IBAN_CONFIRMED: u16 = 1 << 3;
    pub const MANDATE: u16 = 1 << 4;
    pub const IDENTIFIER: u16 = 1 << 5;
    pub const NAME: u16 = 1 << 6;
    pub const NAME_HOMONYM: u16 = 1 << 7;
    pub const NAME_IN_TEXT: u16 = 1 << 8;
    pub const CUSTOMER_NUMBER: u16 = 1 << 9;
    pub const SHARED_REFERENCE: u16 = 1 << 10;
    pub const IMPUTATION: u16 = 1 << 11;
    pub const FOREIGN: u16 = 1 << 12;
}

/// Why an allocation or a suggestion was made, compactly: the evidence and how the amount
/// is explained. [`Why::evidence`] expands it, [`Why::render`] makes the sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Why {
    /// The receipt's unapplied amount when it was decided, in cents.
    received: i64,
    /// How the amount is explained.
    pub basis: Basis,
    /// What was typed, for a reference that is not exact.
    typed: Option<Box<str>>,
    /// The references: how many, the strongest kind, the largest edit distance.
    refs: u8,
    ref_kind: RefKind,
    ref_distance: u8,
    /// Evidence flags (see `flag`).
    flags: u16,
    /// The payer name's match, when a name identified the payer.
    name_similarity: u16,
    name_form: NameForm,
    /// Items of the unique combination, 0 for none.
    combination: u16,
    /// The kind of a shared reference.
    shared_kind: RefKind,
}

fn kind_strength(k: RefKind) -> u8 {
    match k {
        RefKind::CreditorReference => 0,
        RefKind::InvoiceNumber => 1,
        RefKind::OrderReference => 2,
        RefKind::BuyerReference => 3,
        RefKind::Tolerant => 4,
        RefKind::Sequence => 5,
    }
}

impl Why {
    /// An explanation from its parts.
    pub fn new(received: Decimal, basis: Basis, evidence: &[Evidence], foreign: bool) -> Self {
        let mut w = Why {
            received: (received * Decimal::ONE_HUNDRED)
                .round()
                .to_i64()
                .unwrap_or(i64::MAX),
            basis,
            typed: None,
            refs: 0,
            ref_kind: RefKind::InvoiceNumber,
            ref_distance: 0,
            flags: if foreign { flag::FOREIGN } else { 0 },
            name_similarity: 0,
            name_form: NameForm::Words,
            combination: 0,
            shared_kind: RefKind::OrderReference,
        };
        for e in evidence {
            match e {
                Evidence::Reference {
                    kind,
                    distance,
                    typed,
                } => {
                    if w.refs == 0 || kind_strength(*kind) < kind_strength(w.ref_kind) {
                        w.ref_kind = *kind;
                    }
                    w.refs = w.refs.saturating_add(1);
                    w.ref_distance = w.ref_distance.max(*distance);
                    if w.typed.is_none() {
                        w.typed = typed.as_deref().map(Box::from);
                    }
                }
                Evidence::AmountEqual => w.flags |= flag::AMOUNT_EQUAL,
                Evidence::PayerIban { source } => {
                    w.flags |= match source {
                        IbanSource::Ledger => flag::IBAN_LEDGER,
                        IbanSource::Learnt => flag::IBAN_LEARNT,
                        IbanSource::Confirmed => flag::IBAN_CONFIRMED,
                    }
                }
                Evidence::Mandate => w.flags |= flag::MANDATE,
                Evidence::Identifier => w.flags |= flag::IDENTIFIER,
                Evidence::PayerName {
                    similarity,
                    form,
                    homonym,
                } => {
                    if w.flags & flag::NAME == 0 || *similarity > w.name_similarity {
                        w.name_similarity = *similarity;
                        w.name_form = *form;
                    }
                    w.flags |= flag::NAME;
                    if *homonym {
                        w.flags |= flag::NAME_HOMONYM;
                    }
                }
                Evidence::CustomerNameInText => w.flags |= flag::NAME_IN_TEXT,
                Evidence::CustomerNumber => w.flags |= flag::CUSTOMER_NUMBER,
                Evidence::SharedReference { kind } => {
                    w.flags |= flag::SHARED_REFERENCE;
                    w.shared_kind = *kind;
                }
                Evidence::UniqueCombination { items } => {
                    w.combination = u16::try_from(*items).unwrap_or(u16::MAX)
                }
                Evidence::Imputation => w.flags |= flag::IMPUTATION,
            }
        }
        w
    }

    /// An explanation recorded as text.
    pub fn recorded(text: impl Into<String>) -> Self {
        Why::new(
            Decimal::ZERO,
            Basis::Recorded(text.into().into_boxed_str()),
            &[],
            false,
        )
    }

    /// The receipt's unapplied amount when it was decided.
    pub fn received(&self) -> Decimal {
        Decimal::new(self.received, 2)
    }

    /// The reference designates another customer's invoice than the identified payer's.
    pub fn foreign(&self) -> bool {
        self.flags & flag::FOREIGN != 0
    }

    fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    /// The evidence, expanded: references (one entry for all of the same kind), then what
    /// identified the payer, then what the amount says.
    pub fn evidence(&self) -> Vec<Evidence> {
        let mut v = Vec::new();
        if self.refs > 0 {
            v.push(Evidence::Reference {
                kind: self.ref_kind,
                distance: self.ref_distance,
                typed: self.typed.as_deref().map(str::to_owned),
            });
        }
        for (f, src) in [
            (flag::IBAN_LEDGER, IbanSource::Ledger),
            (flag::IBAN_LEARNT, IbanSource::Learnt),
            (flag::IBAN_CONFIRMED, IbanSource::Confirmed),
        ] {
            if self.has(f) {
                v.push(Evidence::PayerIban { source: src });
            }
        }
        if self.has(flag::MANDATE) {
            v.push(Evidence::Mandate);
        }
        if self.has(flag::IDENTIFIER) {
            v.push(Evidence::Identifier);
        }
        if self.has(flag::CUSTOMER_NUMBER) {
            v.push(Evidence::CustomerNumber);
        }
        if self.has(flag::NAME) {
            v.push(Evidence::PayerName {
                similarity: self.name_similarity,
                form: self.name_form,
                homonym: self.has(flag::NAME_HOMONYM),
            });
        }
        if self.has(flag::NAME_IN_TEXT) {
            v.push(Evidence::CustomerNameInText);
        }
        if self.has(flag::SHARED_REFERENCE) {
            v.push(Evidence::SharedReference {
                kind: self.shared_kind,
            });
        }
        if self.has(flag::AMOUNT_EQUAL) {
            v.push(Evidence::AmountEqual);
        }
        if self.combination > 0 {
            v.push(Evidence::UniqueCombination {
                items: usize::from(self.combination),
            });
        }
        if self.has(flag::IMPUTATION) {
            v.push(Evidence::Imputation);
        }
        v
    }

    /// The sentence a person reads, for an allocation or suggestion by `rule` of `invoice`.
    pub fn render(&self, rule: Rule, invoice: &InvoiceId) -> String {
        let mut s = String::new();
        let a = self.received();
        match &self.basis {
            Basis::Recorded(text) => return text.to_string(),
            Basis::Confirmed => s.push_str("confirmed by a person"),
            Basis::Return(x) => {
                s.push_str("return");
                if let Some(c) = &x.code {
                    let _ = write!(s, " ({c})");
                }
                let _ = write!(
                    s,
                    " of credit {}: reverses its allocation of {} to {invoice}",
                    x.original, x.reversed
                );
                return s;
            }
            Basis::AmountOnly { candidates } => {
                let _ = write!(
                    s,
                    "amount {a} equals the open amount of {invoice} ({candidates} candidate(s)); payer not identified, amount alone is not evidence"
                );
                return s;
            }
            Basis::SeveralReceipts(x) => {
                let (receipts, total) = (&x.receipts, x.total);
                let how = match x.designation {
                    Designation::Exact => "reference to it in each of the receipts",
                    Designation::Tolerant => {
                        "reference to it, exact or within the payer's own invoices, in each of the receipts"
                    }
                    Designation::Open => "receipts of the identified customer",
                };
                let ids: Vec<&str> = receipts.iter().map(TransactionId::as_str).collect();
                let _ = write!(
                    s,
                    "{how} {}, which together pay exactly its open amount {total} (several receipts for one invoice {invoice}); this one {a}",
                    ids.join(", ")
                );
            }
            basis if self.refs == 0 => s.push_str(&customer_text(basis, a, invoice)),
            basis => {
                s.push_str(match (rule, self.foreign()) {
                    (Rule::TolerantReference, _) => {
                        "tolerant reference within the payer's open invoices"
                    }
                    (_, true) => {
                        "reference to an invoice of a customer other than the identified payer"
                    }
                    _ => "reference",
                });
                s.push_str(": ");
                s.push_str(&self.refs_text(invoice));
                s.push_str("; ");
                s.push_str(&amount_text(basis, a));
            }
        }
        let payer = self.payer_text();
        if !payer.is_empty() {
            s.push_str("; ");
            s.push_str(&payer);
        }
        s
    }

    fn refs_text(&self, invoice: &InvoiceId) -> String {
        let what = ref_kind_text(self.ref_kind);
        let mut t = if self.refs > 1 {
            format!(
                "{what} of each of {} items, {invoice} among them",
                self.refs
            )
        } else {
            format!("{what} of {invoice}")
        };
        if let Some(typed) = &self.typed {
            let _ = write!(t, ", typed \"{typed}\"");
        }
        if self.ref_distance > 0 {
            let _ = write!(t, ", {} edit(s) away", self.ref_distance);
        }
        t
    }

    /// The identification part of a sentence.
    fn payer_text(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.has(flag::IBAN_LEDGER) {
            parts.push("payer IBAN recorded for the customer".to_owned());
        }
        if self.has(flag::IBAN_LEARNT) {
            parts.push("payer IBAN known for the customer from earlier payments".to_owned());
        }
        if self.has(flag::IBAN_CONFIRMED) {
            parts.push("payer IBAN confirmed for the customer by a person".to_owned());
        }
        if self.has(flag::MANDATE) {
            parts.push("SEPA mandate of the customer".to_owned());
        }
        if self.has(flag::IDENTIFIER) {
            parts.push("SIREN of the customer in the remittance".to_owned());
        }
        if self.has(flag::CUSTOMER_NUMBER) {
            parts.push("customer account number in the remittance".to_owned());
        }
        if self.has(flag::NAME_IN_TEXT) {
            parts.push("customer name in the remittance".to_owned());
        }
        if self.has(flag::SHARED_REFERENCE) {
            parts.push(format!(
                "{} designates the customer's items",
                ref_kind_text(self.shared_kind)
            ));
        }
        if self.has(flag::NAME) {
            parts.push(format!(
                "payer name matches the customer's ({}, {:.2}){}",
                name_form_text(self.name_form),
                f64::from(self.name_similarity) / 1000.0,
                if self.has(flag::NAME_HOMONYM) {
                    ", as another customer's does"
                } else {
                    ""
                }
            ));
        }
        parts.join("; ")
    }
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

fn deduction_text(kind: DeductionKind, rate: Decimal, abroad: bool, platform: bool) -> String {
    match kind {
        DeductionKind::BankFees if platform => {
            "the commission of the payment platform that paid".to_owned()
        }
        DeductionKind::Discount => format!(
            "early-payment discount at {} %",
            (rate * Decimal::ONE_HUNDRED).normalize()
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
        Basis::Deduction(d) => format!(
            "amount {a} is the open {} less {} booked as {}",
            a + d.short,
            d.short,
            deduction_text(d.kind, d.rate, d.abroad, d.platform)
        ),
        Basis::Surplus { open } => format!(
            "amount {a} exceeds the open {open}: surplus {} left unapplied",
            a - open
        ),
        Basis::Partial { open, instalment } => format!(
            "partial payment {a} of the open {open}{}, {} remains open",
            if *instalment {
                " (an instalment of its schedule)"
            } else {
                ""
            },
            open - a
        ),
        Basis::ImputedOverDesignated { items } => format!(
            "amount {a} less than the {items} referenced items: imputed by Code civil art. 1342-10 (due first, oldest first)"
        ),
        other => customer_text(other, a, &InvoiceId::new("")),
    }
}

fn customer_text(b: &Basis, a: Decimal, invoice: &InvoiceId) -> String {
    match b {
        Basis::OnlyItemOfAmount => {
            format!("identified customer, {invoice} the only open item of amount {a} equal")
        }
        Basis::OldestOfEqualItems { items } => format!(
            "identified customer, {items} open items of amount {a} (a recurring payment without reference): {invoice} is the first due, oldest, to which Code civil art. 1342-10 imputes a payment that designates none"
        ),
        Basis::SameAmount => format!("same amount as {invoice}"),
        Basis::InstalmentOfSchedule => format!(
            "identified customer, {invoice} the only open item with an instalment of {a} in its payment schedule"
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
        Basis::Deduction(d) => format!(
            "identified customer, {invoice} the only open item of {} less {} booked as {}",
            a + d.short,
            d.short,
            deduction_text(d.kind, d.rate, d.abroad, d.platform)
        ),
        other => amount_text(other, a),
    }
}

fn name_form_text(f: NameForm) -> &'static str {
    match f {
        NameForm::Words => "the same words",
        NameForm::Close => "close",
        NameForm::Glued => "spaces removed",
        NameForm::Cut => "cut at the field length",
        NameForm::Couple => "the customer's surname, a couple or a person",
        NameForm::Learnt => "paid for this customer before",
        NameForm::Confirmed => "confirmed for this customer by a person",
    }
}

/// The serialised form of [`Why`]: the evidence expanded.
#[derive(Serialize, Deserialize)]
struct WhyWire {
    received: Decimal,
    basis: Basis,
    #[serde(default)]
    evidence: Vec<Evidence>,
    #[serde(default)]
    foreign: bool,
}

impl Serialize for Why {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WhyWire {
            received: self.received(),
            basis: self.basis.clone(),
            evidence: self.evidence(),
            foreign: self.foreign(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Why {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WhyWire::deserialize(d)?;
        Ok(Why::new(w.received, w.basis, &w.evidence, w.foreign))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_reason_round_trips() {
        let w = Why::recorded("confirmed by alice: the payer is the customer's director");
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["basis"]["type"], "recorded", "{v}");
        let back: Why = serde_json::from_value(v).unwrap();
        assert_eq!(back, w);
    }

    #[test]
    fn compact_form_round_trips_through_its_wire_form() {
        let ev = vec![
            Evidence::Reference {
                kind: RefKind::Tolerant,
                distance: 1,
                typed: Some("VT2026000049".into()),
            },
            Evidence::PayerIban {
                source: IbanSource::Learnt,
            },
            Evidence::PayerName {
                similarity: 960,
                form: NameForm::Glued,
                homonym: false,
            },
            Evidence::AmountEqual,
        ];
        let w = Why::new(Decimal::new(120000, 2), Basis::Equal, &ev, false);
        assert_eq!(w.evidence(), ev);
        let back: Why = serde_json::from_value(serde_json::to_value(&w).unwrap_or_default())
            .unwrap_or_else(|_| Why::recorded("unreadable"));
        assert_eq!(back, w);
        let s = w.render(Rule::TolerantReference, &InvoiceId::new("VT2026_000042"));
        assert!(s.contains("VT2026_000042") && s.contains("1 edit"), "{s}");
        assert!(s.contains("spaces removed"), "{s}");
    }

    #[test]
    fn stays_small() {
        // An outcome holds one per allocation line: no heap for what the inputs show.
        assert!(
            std::mem::size_of::<Why>() <= 96,
            "{}",
            std::mem::size_of::<Why>()
        );
    }
}
