//! Every confidence the engine gives, named, in one table with the reasoning behind it.
//!
//! Confidences are per-mille. [`super::Policy::auto_threshold`] (default 900) separates what
//! is applied without a person from what is proposed, so the values below are written
//! against it: a value at or above 900 is applied when the rule allows it at all, a value
//! below is only proposed. Two kinds of numbers meet here:
//!
//! * the *strength of an identification* of the payer as a customer (how sure the engine is
//!   of who paid), and
//! * the *confidence of a proposal* (how sure it is of what was paid), which for rules
//!   without a reference is the strength of the identification, lowered by what the amount
//!   leaves open.
//!
//! The policy's threshold is configurable, these values are not: they encode how much each
//! piece of evidence is worth relative to the others, and are the same for every data set.

// --- Who paid: strength of an identification --------------------------------------------

/// A SEPA direct-debit mandate is the seller's own reference for one customer: the bank
/// copies it, nobody types it.
pub const IDENT_MANDATE: u16 = 960;
/// The payer's IBAN is recorded for the customer in the ledger.
pub const IDENT_LEDGER_IBAN: u16 = 950;
/// A person confirmed a receipt from this IBAN for the customer.
pub const IDENT_CONFIRMED_IBAN: u16 = 950;
/// The IBAN paid the customer's invoices before (learnt from allocations in force or from
/// exact references of this run). Slightly below the ledger: an IBAN learnt from one match
/// carries that match's (small) risk.
pub const IDENT_LEARNT_IBAN: u16 = 940;
/// The customer's SIREN or French VAT id, Luhn-checked, in the remittance.
pub const IDENT_SIREN: u16 = 940;
/// A person confirmed a receipt bearing this (variant of the) payer name for the customer.
pub const IDENT_CONFIRMED_NAME: u16 = 940;
/// The exact payer name paid the customer's invoices before, and only this customer's.
pub const IDENT_LEARNT_NAME: u16 = 930;
/// A learnt payer name that paid for several customers: it no longer tells which one.
pub const IDENT_LEARNT_NAME_SHARED: u16 = 780;
/// The payer name is the customer's name up to what banks do to names (similarity ≥ 0.95:
/// case, accents, punctuation, word order, legal form, civility, spaces removed, cut at the
/// field length), and no other customer's name is as close.
pub const IDENT_NAME_STRONG: u16 = 930;
/// The payer name is close to the customer's (similarity between the policy minimum and
/// 0.95: a word one edit away, a word missing), no other customer as close.
pub const IDENT_NAME_CLOSE: u16 = 910;
/// Lowered from a name match when two or three customers' names are as close (homonyms):
/// the name alone no longer identifies one of them, only the amount can (see
/// [`HOMONYM_AMOUNT_BONUS`]).
pub const HOMONYM_PENALTY: u16 = 150;
/// The remittance names the customer ("règlement pour …"), a group or a factor paying.
pub const IDENT_NAME_IN_TEXT: u16 = 920;
/// The customer's account number (its id in the seller's ledger, 5 characters or more with
/// a digit) is in the remittance: printed on the invoice for that purpose.
pub const IDENT_CUSTOMER_NUMBER: u16 = 930;
/// An order or buyer reference shared by too many items to designate one (a public buyer's
/// service code) still says whose items they are.
pub const IDENT_SHARED_REFERENCE: u16 = 930;

// --- What was paid: exact references -----------------------------------------------------

/// An exact invoice number or RF creditor reference (check digits valid) and an amount that
/// explains it: the strongest evidence a statement carries.
pub const REF_EXACT: u16 = 990;
/// Only an order (BT-13) or buyer (BT-10) reference: the customer's own reference, which
/// can cover several invoices.
pub const REF_ORDER_OR_BUYER: u16 = 970;
/// The reference names another customer's invoice than the identified payer's: a group
/// paying for a subsidiary, or a typo landing on a stranger's invoice. Applied only when the
/// amount is exactly that invoice's.
pub const REF_FOREIGN: u16 = 920;
/// Lowered from the reference's value when the amount is the only combination of a subset
/// of the referenced items (references listed in excess).
pub const REF_SUBSET_DROP: u16 = 20;
/// Lowered when the referenced items are completed by other open items of the customer
/// (1:N with references missing, credit notes netted).
pub const REF_WITH_OTHERS_DROP: u16 = 40;
/// Lowered for an overpayment of the referenced items (the surplus stays unapplied).
pub const REF_OVERPAYMENT_DROP: u16 = 30;
/// Lowered for a partial payment equal to an instalment of the invoice's schedule.
pub const REF_INSTALMENT_DROP: u16 = 40;
/// Lowered for another partial payment of a referenced invoice (the rest stays open).
pub const REF_PARTIAL_DROP: u16 = 70;
/// A partial payment on a tolerant reference: just above the threshold, applied only when
/// the reading is otherwise unambiguous.
pub const TOLERANT_PARTIAL: u16 = 905;
/// Imputation by art. 1342-10 over the referenced items when the policy allows it.
pub const IMPUTATION_FIFO_AUTO: u16 = 900;
/// Imputation over the referenced items, proposed.
pub const IMPUTATION_REFERENCED_PROPOSED: u16 = 750;

// --- What was paid: tolerant references within the payer's items -------------------------

/// A reference at a bounded edit distance of one of the identified payer's own invoices.
pub const TOLERANT_EDIT: u16 = 950;
/// The trailing sequence number alone, three digits or more, within the payer's items.
pub const TOLERANT_SEQUENCE_LONG: u16 = 945;
/// The trailing sequence number alone, two digits.
pub const TOLERANT_SEQUENCE_SHORT: u16 = 930;

// --- Deductions ---------------------------------------------------------------------------

/// A rounding difference (a few cents): nearly certain once the invoice is designated.
pub const DEDUCTION_ROUNDING: u16 = 980;
/// An early-payment discount at one of the policy rates, to the cent.
pub const DEDUCTION_DISCOUNT: u16 = 970;
/// Bank charges of a transfer from abroad (the only transfers that arrive less charges).
pub const DEDUCTION_FEES_ABROAD: u16 = 960;
/// The commission of a payment platform (card acquirer, wallet) that pays each charge net:
/// the platform is named by the statement, its commission is what it keeps.
pub const DEDUCTION_PLATFORM_FEE: u16 = 960;
/// Bank charges when the statement gives no IBAN.
pub const DEDUCTION_FEES_UNKNOWN: u16 = 940;
/// Lowered further for a deduction read without a reference (the customer's only item).
pub const DEDUCTION_NO_REFERENCE_DROP: u16 = 10;
/// Bank charges without a reference cannot be told from a partial payment: at most this,
/// never applied.
pub const DEDUCTION_FEES_NO_REFERENCE_MAX: u16 = 850;

// --- What was paid: the identified customer's items, no reference ----------------------

/// Lowered from the identification for an instalment of one item's schedule.
pub const CUSTOMER_INSTALMENT_DROP: u16 = 10;
/// Lowered from the identification for the only combination of its items with the sum.
pub const CUSTOMER_COMBINATION_DROP: u16 = 20;
/// Raised when the amount is the only one of its value among the open items of two or three
/// homonyms: it tells which one paid (a stranger paying exactly that amount is the
/// coincidence the amount must rule out, hence no more than three).
pub const HOMONYM_AMOUNT_BONUS: u16 = 130;
/// Lowered from the identification for the oldest of several items of exactly the amount
/// (subscriptions, rents, instalments without reference): Code civil art. 1342-10 says which
/// one a payment without designation settles, so nothing is left to chance but the
/// identification itself.
pub const CUSTOMER_EQUAL_ITEMS_DROP: u16 = 10;
/// An alternative item of the same amount, proposed beside the imputed one.
pub const CUSTOMER_SAME_AMOUNT_ALTERNATIVE: u16 = 600;
/// One of several combinations of the customer's items with the sum, proposed.
pub const CUSTOMER_AMBIGUOUS_COMBINATION: u16 = 650;
/// Imputation by art. 1342-10 over different amounts, proposed (default policy).
pub const CUSTOMER_IMPUTATION_PROPOSED: u16 = 600;
/// More than everything open: never spread without a person.
pub const CUSTOMER_OVERPAYMENT: u16 = 500;
/// Lowered from the weakest identification of receipts that together pay one item.
pub const SEVERAL_OPEN_DROP: u16 = 20;
/// The identification must exceed the threshold by this much for receipts without any
/// reference to be read as paying one item together.
pub const SEVERAL_OPEN_MARGIN: u16 = 20;

// --- Several receipts for one invoice -----------------------------------------------------

/// Each receipt references the invoice exactly and together they pay its open amount.
pub const SEVERAL_EXACT: u16 = 950;
/// Each receipt references the invoice, exactly or within its identified payer's items.
pub const SEVERAL_TOLERANT: u16 = 930;

// --- Never automatic ---------------------------------------------------------------------

/// The only open item of the amount, payer not identified.
pub const AMOUNT_ONLY_UNIQUE: u16 = 400;
/// One of several open items of the amount, payer not identified.
pub const AMOUNT_ONLY_SEVERAL: u16 = 200;

// --- People and returns --------------------------------------------------------------------

/// A return reversing what its original credit settled: the bank says so.
pub const RETURN: u16 = 990;
/// An allocation a person confirmed.
pub const CONFIRMED: u16 = 1000;
