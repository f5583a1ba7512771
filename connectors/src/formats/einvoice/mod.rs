//! E-invoices: UN/CEFACT CII (D16B, every Factur-X/ZUGFeRD 2 profile), ZUGFeRD 1.0, UBL 2.1
//! Invoice and CreditNote, and Factur-X/ZUGFeRD PDFs carrying one of them. Bytes in, the
//! EN 16931 fields relance needs plus diagnostics out; never a panic, never a DTD.
//!
//! ```
//! use relance_connectors::formats::einvoice;
//! let f = einvoice::parse("x.xml", b"<not-an-invoice/>");
//! assert!(!einvoice::is_usable(&f));
//! ```

#[cfg(feature = "en16931-rules")]
mod deep;
mod pdf;
mod rules;
pub mod write;
mod xml;

use crate::formats::diag::{has_fatal, Diagnostic, Severity};
use chrono::NaiveDate;
use relance_core::money::{round_cents, Currency};
use relance_core::siren::Siren;
use relance_core::{
    Customer, CustomerId, CustomerKind, Invoice, InvoiceId, InvoiceKind, InvoiceStatus,
    PostalAddress,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::str::FromStr;
use xml::Node;

/// Largest file (and largest PDF attachment) read.
pub const MAX_BYTES: usize = 50 * 1024 * 1024;

/// The syntax of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// UN/CEFACT Cross Industry Invoice D16B (Factur-X, ZUGFeRD 2, XRechnung CII).
    Cii,
    /// UBL 2.1 Invoice or CreditNote.
    Ubl,
    /// A PDF with an embedded CII or UBL invoice.
    FacturxPdf,
    /// ZUGFeRD 1.0 (`CrossIndustryDocument`), read with its own paths.
    Zugferd1,
}

impl Format {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cii => "cii",
            Format::Ubl => "ubl",
            Format::FacturxPdf => "facturx_pdf",
            Format::Zugferd1 => "zugferd1",
        }
    }
}

/// Seller or buyer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Name (BT-27 / BT-44).
    pub name: Option<String>,
    /// SIREN (legal registration scheme 0002, or from a SIRET or a French VAT id).
    pub siren: Option<String>,
    /// SIRET (scheme 0009).
    pub siret: Option<String>,
    /// VAT id (BT-31 / BT-48).
    pub vat_id: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// True when a postal address is given.
    pub has_address: bool,
    /// The postal address (BG-5 / BG-8), when it gives more than a country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
}

/// One invoice line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Line id (BT-126).
    pub id: String,
    /// Item name (BT-153).
    pub name: Option<String>,
    /// Invoiced quantity (BT-129).
    pub quantity: Option<Decimal>,
    /// Line net amount (BT-131).
    pub net_amount: Option<Decimal>,
    /// VAT rate (BT-152).
    pub vat_rate: Option<Decimal>,
}

/// One VAT breakdown (BG-23).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatBreakdown {
    /// Category code (BT-118).
    pub category: Option<String>,
    /// Rate (BT-119).
    pub rate: Option<Decimal>,
    /// Taxable amount (BT-116).
    pub taxable: Option<Decimal>,
    /// Tax amount (BT-117).
    pub tax: Option<Decimal>,
}

/// The fields of one e-invoice, named after EN 16931.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Specification identifier (BT-24).
    pub specification: Option<String>,
    /// Invoice number (BT-1).
    pub number: Option<String>,
    /// Type code (BT-3).
    pub type_code: Option<u16>,
    /// Issue date (BT-2).
    pub issue_date: Option<NaiveDate>,
    /// Due date (BT-9).
    pub due_date: Option<NaiveDate>,
    /// Payment terms (BT-20).
    pub payment_terms: Option<String>,
    /// Currency (BT-5).
    pub currency: Option<String>,
    /// Seller (BG-4).
    pub seller: Party,
    /// Buyer (BG-7).
    pub buyer: Party,
    /// Buyer reference (BT-10).
    pub buyer_reference: Option<String>,
    /// Purchase order reference (BT-13).
    pub order_reference: Option<String>,
    /// Remittance information (BT-83).
    pub remittance_reference: Option<String>,
    /// Payment means code (BT-81).
    pub payment_means_code: Option<String>,
    /// Payee IBAN (BT-84).
    pub iban: Option<String>,
    /// Direct-debit mandate reference (BT-89).
    pub mandate_id: Option<String>,
    /// Sum of line net amounts (BT-106).
    pub line_total: Option<Decimal>,
    /// Document-level allowances (BT-107).
    pub allowances: Option<Decimal>,
    /// Document-level charges (BT-108).
    pub charges: Option<Decimal>,
    /// Total without VAT (BT-109).
    pub total_without_vat: Option<Decimal>,
    /// Total VAT (BT-110).
    pub total_vat: Option<Decimal>,
    /// Total with VAT (BT-112).
    pub total_with_vat: Option<Decimal>,
    /// Prepaid amount (BT-113).
    pub prepaid: Option<Decimal>,
    /// Rounding amount (BT-114).
    pub rounding: Option<Decimal>,
    /// Amount due (BT-115).
    pub amount_due: Option<Decimal>,
    /// VAT breakdown.
    pub vat: Vec<VatBreakdown>,
    /// Lines.
    pub lines: Vec<Line>,
}

/// A parsed file: its syntax, profile, documents and every finding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedFile {
    /// File name as given.
    pub file: String,
    /// Syntax, when recognised.
    pub format: Option<Format>,
    /// Profile (MINIMUM, BASIC WL, BASIC, EN 16931, EXTENDED, XRECHNUNG, PEPPOL BIS 3, ...).
    pub profile: Option<String>,
    /// Documents read.
    pub documents: Vec<Document>,
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
}

fn fatal(rule: &str, path: &str, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Severity::Fatal, rule, path, msg)
}

/// Parses an e-invoice file of any supported syntax. Never panics.
pub fn parse(file_name: &str, bytes: &[u8]) -> ParsedFile {
    parse_with(file_name, bytes, false)
}

/// As [`parse`], then runs the full EN 16931 rule set of the `en16931` crate on the invoice
/// XML (embedded or not) and adds its findings to the diagnostics, each with its rule id, a
/// severity and its EN 16931 path. A second reading of the same bytes, about as costly as the
/// first: meant for files a person will look at. Cargo feature `en16931-rules`.
#[cfg(feature = "en16931-rules")]
pub fn parse_deep(file_name: &str, bytes: &[u8]) -> ParsedFile {
    parse_with(file_name, bytes, true)
}

fn parse_with(file_name: &str, bytes: &[u8], deep: bool) -> ParsedFile {
    let mut out = ParsedFile {
        file: file_name.to_owned(),
        ..Default::default()
    };
    if bytes.len() > MAX_BYTES {
        out.diagnostics.push(fatal(
            "FILE-SIZE",
            "",
            format!(
                "file of {} bytes is over the {MAX_BYTES}-byte limit",
                bytes.len()
            ),
        ));
        return out;
    }
    let trimmed = trim_start(bytes);
    if trimmed.starts_with(b"%PDF") {
        out.format = Some(Format::FacturxPdf);
        match pdf::embedded_invoice(bytes) {
            Ok((name, xml_bytes, notes)) => {
                out.diagnostics.extend(notes);
                let inner = parse_xml(&name, &xml_bytes, deep);
                out.profile = inner.profile;
                out.documents = inner.documents;
                out.diagnostics
                    .extend(inner.diagnostics.into_iter().map(|mut d| {
                        d.path = format!("{name}:{}", d.path);
                        d
                    }));
                if inner.format == Some(Format::Zugferd1) {
                    out.diagnostics.push(Diagnostic::new(
                        Severity::Info,
                        "FX-ZUGFERD1",
                        &name,
                        "the PDF carries a ZUGFeRD 1.0 invoice (read with its own paths)",
                    ));
                }
            }
            Err(d) => out.diagnostics.push(d),
        }
        return out;
    }
    parse_xml(file_name, bytes, deep)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

fn parse_xml(file_name: &str, bytes: &[u8], deep: bool) -> ParsedFile {
    let mut out = ParsedFile {
        file: file_name.to_owned(),
        ..Default::default()
    };
    if let Some(enc) = xml::declared_encoding(bytes) {
        let known = [
            "utf-8",
            "utf8",
            "iso-8859-1",
            "iso-8859-15",
            "latin1",
            "us-ascii",
            "windows-1252",
        ];
        if !known.contains(&enc.to_ascii_lowercase().as_str()) {
            out.diagnostics.push(Diagnostic::new(
                Severity::Warning,
                "XML-ENCODING",
                "/?xml",
                format!("declared encoding {enc:?} is not a known character set: read as UTF-8"),
            ));
        }
    }
    let root = match xml::parse(bytes) {
        Ok(r) => r,
        Err(d) => {
            out.diagnostics.push(d);
            return out;
        }
    };
    let doc = match root.name.as_str() {
        "CrossIndustryInvoice" => {
            out.format = Some(Format::Cii);
            read_cii(&root)
        }
        "CrossIndustryDocument" => {
            out.format = Some(Format::Zugferd1);
            read_zugferd1(&root)
        }
        "Invoice" | "CreditNote" => {
            out.format = Some(Format::Ubl);
            read_ubl(&root)
        }
        "testSet" => {
            // A CEN rule-test set: partial invoices, each built to pass or break one rule.
            out.diagnostics.push(fatal(
                "EINV-TESTSET",
                "testSet",
                "a CEN/TC 434 rule-test set (partial invoices), not an invoice: each test is checked, nothing is imported",
            ));
            for (i, t) in root.children_named("test").enumerate() {
                for inv in t.children.iter().filter(|c| {
                    matches!(
                        c.name.as_str(),
                        "CrossIndustryInvoice" | "Invoice" | "CreditNote"
                    )
                }) {
                    let (doc, f) = if inv.name == "CrossIndustryInvoice" {
                        (read_cii(inv), Format::Cii)
                    } else {
                        (read_ubl(inv), Format::Ubl)
                    };
                    for mut d in rules::check(&doc, Some(f), None)
                        .into_iter()
                        .filter(|d| d.rule.starts_with("BR-CO"))
                    {
                        d.path = format!("test[{}]/{}", i + 1, d.path);
                        out.diagnostics.push(d);
                    }
                }
            }
            return out;
        }
        other => {
            out.diagnostics.push(fatal(
                "EINV-ROOT",
                other,
                format!(
                    "root element <{other}> is not an e-invoice: expected CrossIndustryInvoice (CII), Invoice or CreditNote (UBL 2.1), or CrossIndustryDocument (ZUGFeRD 1.0)"
                ),
            ));
            return out;
        }
    };
    out.profile = profile_of(doc.specification.as_deref(), out.format);
    if out.profile.is_none() {
        out.diagnostics.push(Diagnostic::new(
            Severity::Warning,
            "BR-01",
            spec_path(out.format),
            "no specification identifier (BT-24): the profile cannot be detected",
        ));
    }
    out.diagnostics
        .extend(rules::check(&doc, out.format, out.profile.as_deref()));
    out.documents.push(doc);
    if deep {
        deep_rules(bytes, &root, &mut out);
    }
    out
}

#[cfg(feature = "en16931-rules")]
fn deep_rules(bytes: &[u8], root: &Node, out: &mut ParsedFile) {
    deep::append(bytes, root, out);
}

#[cfg(not(feature = "en16931-rules"))]
fn deep_rules(_: &[u8], _: &Node, _: &mut ParsedFile) {}

fn spec_path(f: Option<Format>) -> &'static str {
    match f {
        Some(Format::Ubl) => "/Invoice/cbc:CustomizationID",
        _ => "/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
    }
}

/// The profile named by a specification identifier (BT-24).
pub fn profile_of(spec: Option<&str>, format: Option<Format>) -> Option<String> {
    let s = spec?.to_ascii_lowercase();
    let p = if s.contains("xrechnung") {
        "XRECHNUNG"
    } else if s.contains("minimum") {
        "MINIMUM"
    } else if s.contains("basicwl") {
        "BASIC WL"
    } else if s.contains("extended") || s.contains("ctc-fr") || s.contains("ctc_fr") {
        "EXTENDED"
    } else if s.contains("basic") {
        "BASIC"
    } else if s.contains("comfort") {
        "COMFORT"
    } else if s.contains("peppol") {
        "PEPPOL BIS 3"
    } else if s.contains("en16931") {
        "EN 16931"
    } else if format == Some(Format::Zugferd1) && s.contains("ferd") {
        "ZUGFERD 1"
    } else {
        return Some(spec?.to_owned());
    };
    Some(p.to_owned())
}

fn dec(n: Option<&Node>) -> Option<Decimal> {
    let t = n?.text.trim().replace(' ', "");
    if t.is_empty() {
        return None;
    }
    Decimal::from_str(&t)
        .or_else(|_| Decimal::from_scientific(&t))
        .ok()
}

fn text(n: Option<&Node>) -> Option<String> {
    let t = n?.text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn date_102(n: Option<&Node>) -> Option<NaiveDate> {
    let t = text(n)?;
    let t = t.trim();
    if t.len() == 8 {
        NaiveDate::parse_from_str(t, "%Y%m%d").ok()
    } else {
        NaiveDate::parse_from_str(t.get(..10).unwrap_or(t), "%Y-%m-%d").ok()
    }
}

/// The amount child in the document's currency when several are given (BT-110 and its
/// tax-currency twin BT-111), else one that names no currency, else the first when the
/// document's currency is unknown. An amount only in another currency is not BT-110 (CEN's
/// BR-CO-15 test set): none is returned, and BR-CO-15 then says so.
fn amount_in(parent: Option<&Node>, name: &str, currency: Option<&str>) -> Option<Decimal> {
    let p = parent?;
    let all: Vec<&Node> = p.children_named(name).collect();
    let pick = match currency {
        Some(c) => all
            .iter()
            .find(|n| n.attr("currencyID") == Some(c))
            .or_else(|| all.iter().find(|n| n.attr("currencyID").is_none())),
        None => all.first(),
    };
    dec(pick.copied())
}

fn siren_from(party: &mut Party) {
    if party.siren.is_none() {
        if let Some(s) = &party.siret {
            party.siren = Siren::from_siret(s).ok().map(|s| s.0);
        }
    }
    if party.siren.is_none() {
        if let Some(v) = &party.vat_id {
            let v = v.replace(' ', "").to_ascii_uppercase();
            if v.len() == 13 && v.starts_with("FR") {
                party.siren = Siren::parse(&v[4..]).ok().map(|s| s.0);
            }
        }
    }
}

/// A postal address (BT-35..BT-40 / BT-50..BT-55) from its parts; `None` when it gives no
/// more than a country.
fn postal_address(
    lines: Vec<String>,
    postcode: Option<String>,
    city: Option<String>,
    subdivision: Option<String>,
    country: Option<String>,
) -> Option<PostalAddress> {
    if lines.is_empty() && postcode.is_none() && city.is_none() {
        return None;
    }
    Some(PostalAddress {
        lines,
        postcode,
        city,
        subdivision,
        country,
    })
}

fn cii_party(p: Option<&Node>) -> Party {
    let Some(p) = p else { return Party::default() };
    let mut party = Party {
        name: text(p.child("Name")),
        country: text(p.path(&["PostalTradeAddress", "CountryID"])),
        has_address: p.child("PostalTradeAddress").is_some(),
        address: p.child("PostalTradeAddress").and_then(|a| {
            postal_address(
                ["LineOne", "LineTwo", "LineThree"]
                    .iter()
                    .filter_map(|n| text(a.child(n)))
                    .collect(),
                text(a.child("PostcodeCode")),
                text(a.child("CityName")),
                text(a.child("CountrySubDivisionName")),
                text(a.child("CountryID")),
            )
        }),
        ..Default::default()
    };
    for id in p
        .path(&["SpecifiedLegalOrganization"])
        .into_iter()
        .flat_map(|o| o.children_named("ID"))
    {
        match id.attr("schemeID") {
            Some("0009") => party.siret = text(Some(id)),
            _ => party.siren = party.siren.clone().or_else(|| siren_digits(text(Some(id)))),
        }
    }
    for reg in p.children_named("SpecifiedTaxRegistration") {
        if let Some(id) = reg.child("ID") {
            if id.attr("schemeID") == Some("VA") || party.vat_id.is_none() {
                party.vat_id = text(Some(id));
            }
        }
    }
    siren_from(&mut party);
    party
}

/// A registration id that is a SIREN (nine digits) or a SIRET (its first nine).
fn siren_digits(s: Option<String>) -> Option<String> {
    let d: String = s?.chars().filter(|c| !c.is_whitespace()).collect();
    if d.len() == 9 && d.bytes().all(|b| b.is_ascii_digit()) {
        Some(d)
    } else if d.len() == 14 && d.bytes().all(|b| b.is_ascii_digit()) {
        Some(d[..9].to_owned())
    } else {
        None
    }
}

fn read_cii(root: &Node) -> Document {
    let tx = root.child("SupplyChainTradeTransaction");
    let agreement = tx.and_then(|t| t.child("ApplicableHeaderTradeAgreement"));
    let settlement = tx.and_then(|t| t.child("ApplicableHeaderTradeSettlement"));
    let sums = settlement.and_then(|s| s.child("SpecifiedTradeSettlementHeaderMonetarySummation"));
    let currency = text(settlement.and_then(|s| s.child("InvoiceCurrencyCode")));
    let terms = settlement.and_then(|s| s.child("SpecifiedTradePaymentTerms"));
    let means = settlement.and_then(|s| s.child("SpecifiedTradeSettlementPaymentMeans"));
    let mut doc = Document {
        specification: text(root.path(&[
            "ExchangedDocumentContext",
            "GuidelineSpecifiedDocumentContextParameter",
            "ID",
        ])),
        number: text(root.path(&["ExchangedDocument", "ID"])),
        type_code: text(root.path(&["ExchangedDocument", "TypeCode"])).and_then(|t| t.parse().ok()),
        issue_date: date_102(root.path(&["ExchangedDocument", "IssueDateTime", "DateTimeString"])),
        due_date: date_102(terms.and_then(|t| t.path(&["DueDateDateTime", "DateTimeString"]))),
        payment_terms: text(terms.and_then(|t| t.child("Description"))),
        seller: cii_party(agreement.and_then(|a| a.child("SellerTradeParty"))),
        buyer: cii_party(agreement.and_then(|a| a.child("BuyerTradeParty"))),
        buyer_reference: text(agreement.and_then(|a| a.child("BuyerReference"))),
        order_reference: text(
            agreement.and_then(|a| a.path(&["BuyerOrderReferencedDocument", "IssuerAssignedID"])),
        ),
        remittance_reference: text(settlement.and_then(|s| s.child("PaymentReference"))),
        payment_means_code: text(means.and_then(|m| m.child("TypeCode"))),
        iban: text(means.and_then(|m| m.path(&["PayeePartyCreditorFinancialAccount", "IBANID"]))),
        mandate_id: text(terms.and_then(|t| t.child("DirectDebitMandateID"))),
        line_total: dec(sums.and_then(|s| s.child("LineTotalAmount"))),
        allowances: dec(sums.and_then(|s| s.child("AllowanceTotalAmount"))),
        charges: dec(sums.and_then(|s| s.child("ChargeTotalAmount"))),
        total_without_vat: dec(sums.and_then(|s| s.child("TaxBasisTotalAmount"))),
        total_vat: amount_in(sums, "TaxTotalAmount", currency.as_deref()),
        total_with_vat: dec(sums.and_then(|s| s.child("GrandTotalAmount"))),
        prepaid: dec(sums.and_then(|s| s.child("TotalPrepaidAmount"))),
        rounding: dec(sums.and_then(|s| s.child("RoundingAmount"))),
        amount_due: dec(sums.and_then(|s| s.child("DuePayableAmount"))),
        currency,
        ..Default::default()
    };
    if let Some(s) = settlement {
        for t in s.children_named("ApplicableTradeTax") {
            doc.vat.push(VatBreakdown {
                category: text(t.child("CategoryCode")),
                rate: dec(t.child("RateApplicablePercent")),
                taxable: dec(t.child("BasisAmount")),
                tax: dec(t.child("CalculatedAmount")),
            });
        }
    }
    if let Some(t) = tx {
        for (i, li) in t
            .children_named("IncludedSupplyChainTradeLineItem")
            .enumerate()
        {
            let ls = li.child("SpecifiedLineTradeSettlement");
            doc.lines.push(Line {
                id: text(li.path(&["AssociatedDocumentLineDocument", "LineID"]))
                    .unwrap_or_else(|| (i + 1).to_string()),
                name: text(li.path(&["SpecifiedTradeProduct", "Name"])),
                quantity: dec(li.path(&["SpecifiedLineTradeDelivery", "BilledQuantity"])),
                net_amount: dec(ls.and_then(|s| {
                    s.path(&[
                        "SpecifiedTradeSettlementLineMonetarySummation",
                        "LineTotalAmount",
                    ])
                })),
                vat_rate: dec(
                    ls.and_then(|s| s.path(&["ApplicableTradeTax", "RateApplicablePercent"]))
                ),
            });
        }
    }
    doc
}

fn read_zugferd1(root: &Node) -> Document {
    let tx = root.child("SpecifiedSupplyChainTradeTransaction");
    let agreement = tx.and_then(|t| t.child("ApplicableSupplyChainTradeAgreement"));
    let settlement = tx.and_then(|t| t.child("ApplicableSupplyChainTradeSettlement"));
    let sums = settlement.and_then(|s| s.child("SpecifiedTradeSettlementMonetarySummation"));
    let currency = text(settlement.and_then(|s| s.child("InvoiceCurrencyCode")));
    let terms = settlement.and_then(|s| s.child("SpecifiedTradePaymentTerms"));
    let mut doc = Document {
        specification: text(root.path(&[
            "SpecifiedExchangedDocumentContext",
            "GuidelineSpecifiedDocumentContextParameter",
            "ID",
        ])),
        number: text(root.path(&["HeaderExchangedDocument", "ID"])),
        type_code: text(root.path(&["HeaderExchangedDocument", "TypeCode"]))
            .and_then(|t| t.parse().ok()),
        issue_date: date_102(root.path(&[
            "HeaderExchangedDocument",
            "IssueDateTime",
            "DateTimeString",
        ])),
        due_date: date_102(terms.and_then(|t| t.path(&["DueDateDateTime", "DateTimeString"]))),
        payment_terms: text(terms.and_then(|t| t.child("Description"))),
        seller: cii_party(agreement.and_then(|a| a.child("SellerTradeParty"))),
        buyer: cii_party(agreement.and_then(|a| a.child("BuyerTradeParty"))),
        buyer_reference: text(agreement.and_then(|a| a.child("BuyerReference"))),
        order_reference: text(
            agreement.and_then(|a| a.path(&["BuyerOrderReferencedDocument", "ID"])),
        ),
        remittance_reference: text(settlement.and_then(|s| s.child("PaymentReference"))),
        line_total: dec(sums.and_then(|s| s.child("LineTotalAmount"))),
        allowances: dec(sums.and_then(|s| s.child("AllowanceTotalAmount"))),
        charges: dec(sums.and_then(|s| s.child("ChargeTotalAmount"))),
        total_without_vat: dec(sums.and_then(|s| s.child("TaxBasisTotalAmount"))),
        total_vat: amount_in(sums, "TaxTotalAmount", currency.as_deref()),
        total_with_vat: dec(sums.and_then(|s| s.child("GrandTotalAmount"))),
        prepaid: dec(sums.and_then(|s| s.child("TotalPrepaidAmount"))),
        amount_due: dec(sums.and_then(|s| s.child("DuePayableAmount"))),
        currency,
        ..Default::default()
    };
    if let Some(t) = tx {
        for (i, li) in t
            .children_named("IncludedSupplyChainTradeLineItem")
            .enumerate()
        {
            doc.lines.push(Line {
                id: text(li.path(&["AssociatedDocumentLineDocument", "LineID"]))
                    .unwrap_or_else(|| (i + 1).to_string()),
                name: text(li.path(&["SpecifiedTradeProduct", "Name"])),
                quantity: dec(li.path(&["SpecifiedSupplyChainTradeDelivery", "BilledQuantity"])),
                net_amount: dec(li.path(&[
                    "SpecifiedSupplyChainTradeSettlement",
                    "SpecifiedTradeSettlementMonetarySummation",
                    "LineTotalAmount",
                ])),
                vat_rate: dec(li.path(&[
                    "SpecifiedSupplyChainTradeSettlement",
                    "ApplicableTradeTax",
                    "ApplicablePercent",
                ])),
            });
        }
    }
    doc
}

fn ubl_party(p: Option<&Node>) -> Party {
    let Some(p) = p.and_then(|p| p.child("Party")) else {
        return Party::default();
    };
    let legal = p.child("PartyLegalEntity");
    let mut party = Party {
        name: text(legal.and_then(|l| l.child("RegistrationName")))
            .or_else(|| text(p.path(&["PartyName", "Name"]))),
        country: text(p.path(&["PostalAddress", "Country", "IdentificationCode"])),
        has_address: p.child("PostalAddress").is_some(),
        address: p.child("PostalAddress").and_then(|a| {
            postal_address(
                [
                    text(a.child("StreetName")),
                    text(a.child("AdditionalStreetName")),
                ]
                .into_iter()
                .flatten()
                .chain(
                    a.children_named("AddressLine")
                        .filter_map(|l| text(l.child("Line"))),
                )
                .collect(),
                text(a.child("PostalZone")),
                text(a.child("CityName")),
                text(a.child("CountrySubentity")),
                text(a.path(&["Country", "IdentificationCode"])),
            )
        }),
        ..Default::default()
    };
    if let Some(id) = legal.and_then(|l| l.child("CompanyID")) {
        match id.attr("schemeID") {
            Some("0009") => party.siret = text(Some(id)),
            _ => party.siren = siren_digits(text(Some(id))),
        }
    }
    for pid in p
        .children_named("PartyIdentification")
        .filter_map(|x| x.child("ID"))
    {
        match pid.attr("schemeID") {
            Some("0009") if party.siret.is_none() => party.siret = text(Some(pid)),
            Some("0002") if party.siren.is_none() => party.siren = siren_digits(text(Some(pid))),
            _ => {}
        }
    }
    for ts in p.children_named("PartyTaxScheme") {
        let is_vat = ts
            .path(&["TaxScheme", "ID"])
            .map(|n| n.text.trim() == "VAT")
            .unwrap_or(true);
        if is_vat && party.vat_id.is_none() {
            party.vat_id = text(ts.child("CompanyID"));
        }
    }
    siren_from(&mut party);
    party
}

fn read_ubl(root: &Node) -> Document {
    let credit = root.name == "CreditNote";
    let currency = text(root.child("DocumentCurrencyCode"));
    let totals = root.child("LegalMonetaryTotal");
    let means = root.child("PaymentMeans");
    let tax_totals: Vec<&Node> = root.children_named("TaxTotal").collect();
    let tax_total = tax_totals
        .iter()
        .find(|t| t.child("TaxAmount").and_then(|a| a.attr("currencyID")) == currency.as_deref())
        .or_else(|| tax_totals.first())
        .copied();
    let mut doc = Document {
        specification: text(root.child("CustomizationID")),
        number: text(root.child("ID")),
        type_code: text(root.child(if credit {
            "CreditNoteTypeCode"
        } else {
            "InvoiceTypeCode"
        }))
        .and_then(|t| t.parse().ok())
        .or(if credit { Some(381) } else { None }),
        issue_date: date_102(root.child("IssueDate")),
        due_date: date_102(root.child("DueDate"))
            .or_else(|| date_102(means.and_then(|m| m.child("PaymentDueDate")))),
        payment_terms: text(root.path(&["PaymentTerms", "Note"])),
        seller: ubl_party(root.child("AccountingSupplierParty")),
        buyer: ubl_party(root.child("AccountingCustomerParty")),
        buyer_reference: text(root.child("BuyerReference")),
        order_reference: text(root.path(&["OrderReference", "ID"])),
        remittance_reference: text(means.and_then(|m| m.child("PaymentID"))),
        payment_means_code: text(means.and_then(|m| m.child("PaymentMeansCode"))),
        iban: text(means.and_then(|m| m.path(&["PayeeFinancialAccount", "ID"]))),
        mandate_id: text(means.and_then(|m| m.path(&["PaymentMandate", "ID"]))),
        line_total: dec(totals.and_then(|t| t.child("LineExtensionAmount"))),
        allowances: dec(totals.and_then(|t| t.child("AllowanceTotalAmount"))),
        charges: dec(totals.and_then(|t| t.child("ChargeTotalAmount"))),
        total_without_vat: dec(totals.and_then(|t| t.child("TaxExclusiveAmount"))),
        total_vat: dec(tax_total.and_then(|t| t.child("TaxAmount"))),
        total_with_vat: dec(totals.and_then(|t| t.child("TaxInclusiveAmount"))),
        prepaid: dec(totals.and_then(|t| t.child("PrepaidAmount"))),
        rounding: dec(totals.and_then(|t| t.child("PayableRoundingAmount"))),
        amount_due: dec(totals.and_then(|t| t.child("PayableAmount"))),
        currency,
        ..Default::default()
    };
    if let Some(t) = tax_total {
        for s in t.children_named("TaxSubtotal") {
            doc.vat.push(VatBreakdown {
                category: text(s.path(&["TaxCategory", "ID"])),
                rate: dec(s.path(&["TaxCategory", "Percent"])),
                taxable: dec(s.child("TaxableAmount")),
                tax: dec(s.child("TaxAmount")),
            });
        }
    }
    let (line_name, qty_name) = if credit {
        ("CreditNoteLine", "CreditedQuantity")
    } else {
        ("InvoiceLine", "InvoicedQuantity")
    };
    for (i, l) in root.children_named(line_name).enumerate() {
        doc.lines.push(Line {
            id: text(l.child("ID")).unwrap_or_else(|| (i + 1).to_string()),
            name: text(l.path(&["Item", "Name"])),
            quantity: dec(l.child(qty_name)),
            net_amount: dec(l.child("LineExtensionAmount")),
            vat_rate: dec(l.path(&["Item", "ClassifiedTaxCategory", "Percent"])),
        });
    }
    doc
}

/// True when the file can be imported: nothing fatal and at least one document with a
/// number and a total.
pub fn is_usable(f: &ParsedFile) -> bool {
    !has_fatal(&f.diagnostics)
        && f.documents
            .iter()
            .any(|d| d.number.is_some() && (d.total_with_vat.is_some() || d.amount_due.is_some()))
}

/// Type codes of credit notes (UNTDID 1001).
const CREDIT_CODES: [u16; 4] = [381, 261, 396, 532];

fn normalised_name(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// The document as relance's invoice (id = number, BT-1) and its buyer as a customer
/// (id = SIREN, else VAT id, else the normalised name).
pub fn to_core(doc: &Document) -> (Invoice, Customer) {
    let buyer = &doc.buyer;
    let siren = buyer.siren.as_deref().and_then(|s| Siren::parse(s).ok());
    let id = siren
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .or_else(|| buyer.vat_id.clone())
        .or_else(|| buyer.name.as_deref().map(normalised_name))
        .unwrap_or_else(|| "UNKNOWN-BUYER".to_owned());
    let kind = CustomerKind::infer(siren.as_ref(), buyer.vat_id.as_deref());
    let language = match buyer.country.as_deref() {
        None | Some("FR") | Some("BE") | Some("LU") | Some("MC") | Some("CH") => "fr",
        Some(_) => "en",
    };
    let customer = Customer {
        id: CustomerId::new(id.clone()),
        name: buyer.name.clone().unwrap_or_else(|| id.clone()),
        siren: siren.clone(),
        siret: buyer.siret.clone(),
        vat_id: buyer.vat_id.clone(),
        kind,
        ibans: Vec::new(),
        emails: Vec::new(),
        language: language.to_owned(),
        country: buyer.country.clone(),
        address: buyer.address.clone(),
    };
    let total = doc.total_with_vat.unwrap_or_default();
    let negative = total < Decimal::ZERO;
    let is_credit = doc.type_code.is_some_and(|t| CREDIT_CODES.contains(&t)) || negative;
    let due = doc
        .amount_due
        .unwrap_or_else(|| total - doc.prepaid.unwrap_or_default());
    let abs = |d: Option<Decimal>| round_cents(d.unwrap_or_default().abs());
    let amount_due = round_cents(due.abs());
    let number = doc.number.clone().unwrap_or_default();
    let invoice = Invoice {
        id: InvoiceId::new(number.clone()),
        number,
        kind: if is_credit {
            InvoiceKind::CreditNote
        } else {
            InvoiceKind::Invoice
        },
        type_code: doc.type_code.unwrap_or(380),
        issue_date: doc.issue_date.unwrap_or_default(),
        due_date: doc.due_date,
        instalments: Vec::new(),
        currency: doc
            .currency
            .as_deref()
            .and_then(|c| Currency::parse(c).ok())
            .unwrap_or(Currency::EUR),
        total_without_vat: abs(doc.total_without_vat),
        total_vat: abs(doc.total_vat),
        total_with_vat: abs(doc.total_with_vat),
        amount_due,
        customer: customer.id.clone(),
        buyer_reference: doc.buyer_reference.clone(),
        order_reference: doc.order_reference.clone(),
        remittance_reference: doc.remittance_reference.clone(),
        payment_iban: doc.iban.clone(),
        mandate_id: doc.mandate_id.clone(),
        status: if amount_due.is_zero() {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Open
        },
    };
    (invoice, customer)
}

fn s(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |d| Value::String(d.to_string()))
}

/// The JSON printed by `relance inspect` for an e-invoice file.
pub fn inspect_json(f: &ParsedFile) -> Value {
    let docs: Vec<Value> = f
        .documents
        .iter()
        .map(|d| {
            let kind = {
                let siren = d.buyer.siren.as_deref().and_then(|s| Siren::parse(s).ok());
                CustomerKind::infer(siren.as_ref(), d.buyer.vat_id.as_deref())
            };
            json!({
                "number": d.number,
                "type_code": d.type_code,
                "issue_date": d.issue_date.map(|x| x.to_string()),
                "due_date": d.due_date.map(|x| x.to_string()),
                "currency": d.currency,
                "seller": {"name": d.seller.name, "siren": d.seller.siren, "vat_id": d.seller.vat_id},
                "buyer": {"name": d.buyer.name, "siren": d.buyer.siren, "vat_id": d.buyer.vat_id, "kind": kind},
                "buyer_reference": d.buyer_reference,
                "order_reference": d.order_reference,
                "remittance_reference": d.remittance_reference,
                "iban": d.iban,
                "total_without_vat": s(d.total_without_vat),
                "total_vat": s(d.total_vat),
                "total_with_vat": s(d.total_with_vat),
                "prepaid": s(d.prepaid),
                "amount_due": s(d.amount_due),
                "lines": d.lines.iter().map(|l| json!({
                    "id": l.id, "name": l.name, "quantity": s(l.quantity),
                    "net_amount": s(l.net_amount), "vat_rate": s(l.vat_rate),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "file": f.file,
        "format": f.format.map(Format::as_str),
        "profile": f.profile,
        "documents": docs,
        "diagnostics": f.diagnostics.iter().map(|d| json!({
            "severity": d.severity, "rule": d.rule, "path": d.path, "message": d.message,
        })).collect::<Vec<_>>(),
    })
}

/// A readable view of a parsed file.
pub fn human(f: &ParsedFile) -> String {
    let mut o = format!(
        "{}: {} {}\n",
        f.file,
        f.format.map_or("unrecognised", Format::as_str),
        f.profile.as_deref().unwrap_or("")
    );
    for d in &f.documents {
        o.push_str(&format!(
            "  {} (type {}) issued {} due {}  {} → {}\n    total {} {} (VAT {}), due {}  lines {}\n",
            d.number.as_deref().unwrap_or("?"),
            d.type_code.map_or("?".to_owned(), |t| t.to_string()),
            d.issue_date.map_or("?".to_owned(), |x| x.to_string()),
            d.due_date.map_or("-".to_owned(), |x| x.to_string()),
            d.seller.name.as_deref().unwrap_or("?"),
            d.buyer.name.as_deref().unwrap_or("?"),
            d.total_with_vat.map_or("?".to_owned(), |x| x.to_string()),
            d.currency.as_deref().unwrap_or(""),
            d.total_vat.map_or("?".to_owned(), |x| x.to_string()),
            d.amount_due.map_or("?".to_owned(), |x| x.to_string()),
            d.lines.len(),
        ));
    }
    for d in &f.diagnostics {
        o.push_str(&format!(
            "  {:?} {} at {}: {}\n",
            d.severity, d.rule, d.path, d.message
        ));
    }
    o
}
