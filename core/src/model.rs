//! The shared vocabulary: companies, customers, invoices and credit notes, bank receipts.
//!
//! These are the normalised forms every connector converts into and every engine reads.
//! Wire formats (EN 16931 documents, camt entries, Tryton records) live in
//! `relance-connectors` and are converted at the boundary.

use crate::ids::{CompanyId, CustomerId, InvoiceId, TransactionId};
use crate::money::Currency;
use crate::siren::Siren;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A company whose receivables relance manages (the seller).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    /// Its id in relance's configuration.
    pub id: CompanyId,
    /// Legal name.
    pub name: String,
    /// SIREN, when French.
    pub siren: Option<Siren>,
    /// Intra-community VAT id.
    pub vat_id: Option<String>,
    /// IBANs on which it receives payments.
    pub ibans: Vec<String>,
    /// Accounting currency.
    pub currency: Currency,
    /// Postal address of its registered office or billing department: the sender of letters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
}

/// A postal address (EN 16931 BG-5 / BG-8: BT-35..BT-40, BT-50..BT-55), as a letter needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    /// Street lines, in order (BT-50, BT-51, BT-163): number and street, building, lieu-dit…
    #[serde(default)]
    pub lines: Vec<String>,
    /// Post code (BT-53).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// City (BT-52).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Country subdivision (BT-54).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdivision: Option<String>,
    /// Country, ISO 3166-1 alpha-2 (BT-55).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl PostalAddress {
    fn filled(s: &Option<String>) -> Option<&str> {
        s.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The parts a posted letter cannot do without that this address lacks: a street line,
    /// the city, and the post code (required for France and when no country is given).
    pub fn missing_parts(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.lines.iter().any(|l| !l.trim().is_empty()) {
            out.push("street line");
        }
        let french = Self::filled(&self.country).is_none_or(|c| c.eq_ignore_ascii_case("FR"));
        if french && Self::filled(&self.postcode).is_none() {
            out.push("post code");
        }
        if Self::filled(&self.city).is_none() {
            out.push("city");
        }
        out
    }

    /// True when a letter can be posted to this address.
    pub fn is_postal(&self) -> bool {
        self.missing_parts().is_empty()
    }

    /// The lines of the address block as La Poste asks them (NF Z 10-011): street lines, then
    /// post code and city in capitals, then the country in capitals when it is not the
    /// sender's (`home_country`, ISO alpha-2).
    pub fn block(&self, home_country: &str) -> Vec<String> {
        let mut out = self.streets();
        if let Some(town) = self.town() {
            out.push(town.to_uppercase());
        }
        if let Some(c) = Self::filled(&self.country) {
            if !c.eq_ignore_ascii_case(home_country) {
                out.push(country_name(c).to_uppercase());
            }
        }
        out
    }

    /// The address on one line (`12 rue des Forges, 69007 Lyon`).
    pub fn one_line(&self) -> String {
        let mut parts = self.streets();
        parts.extend(self.town());
        if let Some(c) = Self::filled(&self.country).filter(|c| !c.eq_ignore_ascii_case("FR")) {
            parts.push(country_name(c).to_owned());
        }
        parts.join(", ")
    }

    /// The street lines, trimmed, empty ones left out.
    fn streets(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// `69007 Lyon`: post code and city, when either is given.
    fn town(&self) -> Option<String> {
        let town = [Self::filled(&self.postcode), Self::filled(&self.city)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!town.is_empty()).then_some(town)
    }
}

/// The French name of a country code for an address block; the code itself when not listed.
fn country_name(code: &str) -> &str {
    match code.to_ascii_uppercase().as_str() {
        "FR" => "France",
        "BE" => "Belgique",
        "LU" => "Luxembourg",
        "CH" => "Suisse",
        "MC" => "Monaco",
        "DE" => "Allemagne",
        "ES" => "Espagne",
        "IT" => "Italie",
        "NL" => "Pays-Bas",
        "PT" => "Portugal",
        "GB" => "Royaume-Uni",
        "IE" => "Irlande",
        "AT" => "Autriche",
        "US" => "États-Unis",
        _ => code,
    }
}

/// What kind of debtor a customer is: the law on penalties, indemnity and prescription differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    /// A professional buyer (C. com. L441-10: penalties and the 40 € indemnity).
    #[default]
    Business,
    /// A consumer (no 40 € indemnity, taux légal for particuliers, 2-year prescription).
    Consumer,
    /// A public entity (intérêts moratoires, 30-day term, déchéance quadriennale).
    PublicEntity,
    /// A public hospital (as public entity, with a 50-day payment term).
    PublicHospital,
}

impl CustomerKind {
    /// True for public entities of any sort.
    pub fn is_public(self) -> bool {
        matches!(
            self,
            CustomerKind::PublicEntity | CustomerKind::PublicHospital
        )
    }

    /// The kind inferred from identifiers alone: a SIREN starting with 1 or 2 is a public
    /// legal entity; any SIREN or VAT id means a business; nothing means a consumer.
    pub fn infer(siren: Option<&Siren>, vat_id: Option<&str>) -> CustomerKind {
        match (siren, vat_id) {
            (Some(s), _) if s.is_public_entity() => CustomerKind::PublicEntity,
            (Some(_), _) => CustomerKind::Business,
            (None, Some(v)) if !v.trim().is_empty() => CustomerKind::Business,
            _ => CustomerKind::Consumer,
        }
    }
}

/// A customer (buyer) of a company.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Id in the system of record (for e-invoice files: SIREN, VAT id or normalised name).
    pub id: CustomerId,
    /// Name as invoiced.
    pub name: String,
    /// SIREN (from BT-47 scheme 0002, or the first nine digits of a SIRET, scheme 0009).
    pub siren: Option<Siren>,
    /// SIRET of the invoiced establishment.
    pub siret: Option<String>,
    /// Intra-community VAT id (BT-48).
    pub vat_id: Option<String>,
    /// Business, consumer or public entity.
    pub kind: CustomerKind,
    /// IBANs this customer is known to pay from.
    pub ibans: Vec<String>,
    /// E-mail addresses for reminders.
    pub emails: Vec<String>,
    /// Preferred language (ISO 639-1, e.g. "fr", "en").
    pub language: String,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Postal address for letters (the e-invoice buyer address BG-8, the ERP's party address,
    /// or the company's configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
}

impl Customer {
    /// A customer with just an id and a name; the kind is inferred as consumer.
    pub fn new(id: impl Into<CustomerId>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            siren: None,
            siret: None,
            vat_id: None,
            kind: CustomerKind::Consumer,
            ibans: Vec::new(),
            emails: Vec::new(),
            language: "fr".to_owned(),
            country: None,
            address: None,
        }
    }
}

/// Invoice or credit note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// An invoice (BT-3 380, 384 corrective, 389 self-billed, 386 prepayment, ...).
    Invoice,
    /// A credit note (BT-3 381, or an invoice with negative totals): a credit of the customer.
    CreditNote,
}

/// Where an invoice stands in the system of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Posted and not yet fully paid.
    Open,
    /// Fully paid.
    Paid,
    /// Cancelled in the source; no longer a receivable.
    Cancelled,
}

/// One due date of an invoice with several instalments (payment schedule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instalment {
    /// When this part is due.
    pub due_date: NaiveDate,
    /// Amount of this part, tax included.
    pub amount: Decimal,
}

/// An invoice or credit note, normalised from whatever source it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Unique id within the company (source id, or the number for e-invoice files).
    pub id: InvoiceId,
    /// Invoice number as printed (BT-1).
    pub number: String,
    /// Invoice or credit note.
    pub kind: InvoiceKind,
    /// UNTDID 1001 type code (BT-3).
    pub type_code: u16,
    /// Issue date (BT-2).
    pub issue_date: NaiveDate,
    /// Due date (BT-9); `None` when the document gives none (then policy terms apply).
    pub due_date: Option<NaiveDate>,
    /// Instalments when the source gives a payment schedule (lines to pay with maturities).
    pub instalments: Vec<Instalment>,
    /// Currency (BT-5).
    pub currency: Currency,
    /// Total without VAT (BT-109), positive for credit notes too.
    pub total_without_vat: Decimal,
    /// Total VAT (BT-110).
    pub total_vat: Decimal,
    /// Total with VAT (BT-112).
    pub total_with_vat: Decimal,
    /// Amount still open as known by the source (BT-115 for files, amount to pay for ERPs),
    /// before relance's own allocations.
    pub amount_due: Decimal,
    /// The buyer.
    pub customer: CustomerId,
    /// Buyer reference (BT-10), e.g. a public buyer's service code or engagement number.
    pub buyer_reference: Option<String>,
    /// Purchase order reference (BT-13).
    pub order_reference: Option<String>,
    /// Structured remittance reference the seller asked for (BT-83), e.g. an RF creditor reference.
    pub remittance_reference: Option<String>,
    /// IBAN the seller asked to be paid on (BT-84).
    pub payment_iban: Option<String>,
    /// SEPA direct-debit mandate reference (BT-89), when collected by direct debit.
    pub mandate_id: Option<String>,
    /// Status in the source.
    pub status: InvoiceStatus,
}

impl Invoice {
    /// The signed amount still owed by the customer: negative for a credit note.
    pub fn signed_open(&self) -> Decimal {
        match self.kind {
            InvoiceKind::Invoice => self.amount_due,
            InvoiceKind::CreditNote => -self.amount_due.abs(),
        }
    }

    /// The due date to age and dun by: BT-9, else the earliest instalment, else the issue date.
    pub fn effective_due_date(&self) -> NaiveDate {
        self.due_date
            .or_else(|| self.instalments.iter().map(|i| i.due_date).min())
            .unwrap_or(self.issue_date)
    }
}

/// A bank credit or debit, normalised from a statement entry or one of its transaction details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The bank's own id (see `TransactionId`).
    pub id: TransactionId,
    /// Account it was booked on (IBAN or the bank's account id).
    pub account: String,
    /// Booking date.
    pub booking_date: NaiveDate,
    /// Value date.
    pub value_date: Option<NaiveDate>,
    /// Signed amount: positive for a credit to the company, negative for a debit.
    pub amount: Decimal,
    /// Currency of the account entry.
    pub currency: Currency,
    /// Debtor (or ultimate debtor) name.
    pub counterparty_name: Option<String>,
    /// Debtor IBAN.
    pub counterparty_iban: Option<String>,
    /// Unstructured remittance text (lines joined with a space).
    pub remittance: String,
    /// Structured creditor reference (ISO 11649 RF or the invoice number).
    pub structured_ref: Option<String>,
    /// End-to-end id.
    pub end_to_end_id: Option<String>,
    /// SEPA direct-debit mandate id.
    pub mandate_id: Option<String>,
    /// Bank transaction code (ISO domain/family/sub-family, or proprietary).
    pub bank_code: Option<String>,
    /// Return reason (ISO 20022 code such as AC04, MS02) for R-transactions.
    pub return_reason: Option<String>,
    /// True when the bank flags the entry as a reversal.
    pub reversal: bool,
    /// Source file name and position inside it (for explanations and deduplication).
    pub source: String,
}

impl Receipt {
    /// True for an incoming payment (positive and not a reversal or return).
    pub fn is_credit(&self) -> bool {
        self.amount > Decimal::ZERO && !self.reversal && self.return_reason.is_none()
    }

    /// True for a return or reversal of an earlier credit (SDD reject, returned transfer).
    pub fn is_return(&self) -> bool {
        self.return_reason.is_some() || (self.reversal && self.amount < Decimal::ZERO)
    }
}
