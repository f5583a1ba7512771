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
pub mod fuzz;
mod pdf;
mod rules;
pub mod write;
pub(crate) mod xml;

use crate::formats::decimal;
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
        let (found, notes) = pdf::embedded_invoice(bytes);
        out.diagnostics.extend(notes);
        match found {
            Ok((name, xml_bytes)) => {
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

/// Namespace URIs of the supported roots: a root with another namespace (or none) is a
/// pre-standard or proprietary document that only looks like one of them.
const NAMESPACES: [(&str, &str, Format); 4] = [
    (
        "CrossIndustryInvoice",
        "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
        Format::Cii,
    ),
    (
        "Invoice",
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
        Format::Ubl,
    ),
    (
        "CreditNote",
        "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
        Format::Ubl,
    ),
    (
        "CrossIndustryDocument",
        "urn:ferd:CrossIndustryDocument:invoice:1p0",
        Format::Zugferd1,
    ),
];

fn parse_xml(file_name: &str, bytes: &[u8], deep: bool) -> ParsedFile {
    let mut out = ParsedFile {
        file: file_name.to_owned(),
        ..Default::default()
    };
    let (text, _sniffed, notes) = xml::decode(bytes);
    out.diagnostics.extend(notes);
    let root = match xml::parse(&text) {
        Ok(r) => r,
        Err(d) => {
            out.diagnostics.push(d);
            return out;
        }
    };
    if root.name == "testSet" {
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
                let mut rd = Rd::default();
                let (doc, f) = if inv.name == "CrossIndustryInvoice" {
                    (read_cii(inv, &mut rd), Format::Cii)
                } else {
                    (read_ubl(inv, &mut rd), Format::Ubl)
                };
                for mut d in rules::check(&doc, Some(f), None, &rd.invalid)
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
    let Some((_, expected_ns, format)) = NAMESPACES.iter().find(|(n, _, _)| *n == root.name) else {
        let other = root.name.as_str();
        out.diagnostics.push(fatal(
            "EINV-ROOT",
            other,
            format!(
                "root element <{other}> is not an e-invoice: expected CrossIndustryInvoice (CII), Invoice or CreditNote (UBL 2.1), or CrossIndustryDocument (ZUGFeRD 1.0)"
            ),
        ));
        return out;
    };
    if root.namespace.as_deref() != Some(*expected_ns) {
        let name = &root.name;
        out.diagnostics.push(fatal(
            "EINV-NAMESPACE",
            name,
            format!(
                "root element <{name}> is in {}, not in {expected_ns}: an unsupported format (a pre-standard or proprietary document with the same element name), nothing is read",
                root.namespace
                    .as_deref()
                    .map_or("no namespace".to_owned(), |n| format!("namespace {n:?}"))
            ),
        ));
        return out;
    }
    out.format = Some(*format);
    let mut rd = Rd::default();
    let doc = match format {
        Format::Cii => read_cii(&root, &mut rd),
        Format::Zugferd1 => read_zugferd1(&root, &mut rd),
        _ => read_ubl(&root, &mut rd),
    };
    out.diagnostics.append(&mut rd.diagnostics);
    out.profile = profile_of(doc.specification.as_deref(), out.format);
    if out.profile.is_none() {
        out.diagnostics.push(Diagnostic::new(
            Severity::Warning,
            "BR-01",
            spec_path(out.format),
            "no specification identifier (BT-24): the profile cannot be detected",
        ));
    }
    out.diagnostics.extend(rules::check(
        &doc,
        out.format,
        out.profile.as_deref(),
        &rd.invalid,
    ));
    out.documents.push(doc);
    if deep {
        deep_rules(text.as_bytes(), &root, &mut out);
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

/// What a reader found while reading values: findings about values that are present but not
/// in the standard's syntax (an amount `1e9` or `12,50`, a date 2026-02-30), each naming the
/// element, the business term and the value, and the business terms concerned (so the rules
/// do not also call them missing).
#[derive(Default)]
struct Rd {
    diagnostics: Vec<Diagnostic>,
    invalid: Vec<&'static str>,
}

/// Business terms relance turns into money owed: a value of one of them that cannot be read
/// makes the file unusable rather than an invoice with a guessed amount or date.
const CRITICAL: [&str; 6] = ["BT-2", "BT-109", "BT-110", "BT-112", "BT-113", "BT-115"];

impl Rd {
    fn bad(&mut self, rule: &str, bt: &'static str, path: &str, msg: String) {
        let sev = if CRITICAL.contains(&bt) {
            Severity::Fatal
        } else {
            Severity::Error
        };
        self.diagnostics.push(Diagnostic::new(sev, rule, path, msg));
        if !self.invalid.contains(&bt) {
            self.invalid.push(bt);
        }
    }

    /// An `xs:decimal` (amount, quantity, rate), `None` when absent or empty, and a finding
    /// when present in another syntax.
    fn dec(&mut self, n: Option<&Node>, bt: &'static str, path: &str) -> Option<Decimal> {
        let raw = n?.text.trim();
        if raw.is_empty() {
            return None;
        }
        match decimal::xsd(raw) {
            Ok(d) => Some(d),
            Err(e) => {
                self.bad(
                    "EINV-DECIMAL",
                    bt,
                    path,
                    format!(
                        "{bt} {} is not a decimal number ({e}); the value is not read",
                        decimal::shown(raw)
                    ),
                );
                None
            }
        }
    }

    /// A date: CII `udt:DateTimeString` (format 102, `CCYYMMDD`) or UBL `xs:date`
    /// (`CCYY-MM-DD`, a time zone allowed); both forms are read in either syntax.
    fn date(&mut self, n: Option<&Node>, bt: &'static str, path: &str) -> Option<NaiveDate> {
        let n = n?;
        let raw = n.text.trim();
        if raw.is_empty() {
            return None;
        }
        if let Some(f) = n.attr("format").map(str::trim) {
            if f != "102" {
                self.bad(
                    "EINV-DATE",
                    bt,
                    path,
                    format!(
                        "{bt} date {} has format {f:?}: only 102 (CCYYMMDD) names a day; the date is not read",
                        decimal::shown(raw)
                    ),
                );
                return None;
            }
        }
        let parsed = if raw.len() == 8 && raw.bytes().all(|b| b.is_ascii_digit()) {
            NaiveDate::parse_from_str(raw, "%Y%m%d").ok()
        } else {
            let day = raw.get(..10).unwrap_or(raw);
            let zone = raw.get(10..).unwrap_or("");
            let zone_ok = zone.is_empty()
                || zone == "Z"
                || (zone.len() == 6
                    && matches!(zone.as_bytes()[0], b'+' | b'-')
                    && zone.as_bytes()[3] == b':');
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .ok()
                .filter(|_| zone_ok && day.len() == 10)
        };
        if parsed.is_none() {
            self.bad(
                "EINV-DATE",
                bt,
                path,
                format!(
                    "{bt} date {} is not a calendar date (CCYYMMDD or CCYY-MM-DD); the date is not read, none is assumed in its place",
                    decimal::shown(raw)
                ),
            );
        }
        parsed
    }

    /// A type code (UNTDID 1001), a number.
    fn code(&mut self, n: Option<&Node>, bt: &'static str, path: &str) -> Option<u16> {
        let t = text(n)?;
        match t.parse() {
            Ok(c) => Some(c),
            Err(_) => {
                self.bad(
                    "EINV-CODE",
                    bt,
                    path,
                    format!("{bt} {} is not a numeric code", decimal::shown(&t)),
                );
                None
            }
        }
    }

    /// The amount child in the document's currency when several are given (BT-110 and its
    /// tax-currency twin BT-111), else one that names no currency, else the first when the
    /// document's currency is unknown. An amount only in another currency is not BT-110 (CEN's
    /// BR-CO-15 test set): none is returned, and BR-CO-15 then says so.
    fn amount_in(
        &mut self,
        parent: Option<&Node>,
        name: &str,
        currency: Option<&str>,
        bt: &'static str,
        path: &str,
    ) -> Option<Decimal> {
        let p = parent?;
        let all: Vec<&Node> = p.children_named(name).collect();
        let pick = match currency {
            Some(c) => all
                .iter()
                .find(|n| n.attr("currencyID") == Some(c))
                .or_else(|| all.iter().find(|n| n.attr("currencyID").is_none())),
            None => all.first(),
        };
        self.dec(pick.copied(), bt, path)
    }

    /// The due date (BT-9) among several payment terms (CII `SpecifiedTradePaymentTerms`, each
    /// with its `DueDateDateTime`): the terms that are not only a cash discount or a penalty
    /// are preferred; when they give different dates the last one is taken (the whole amount
    /// is due then; instalments are not modelled) and a warning lists them all.
    fn due_date<'n>(
        &mut self,
        terms: impl Iterator<Item = &'n Node>,
        path: &str,
    ) -> Option<NaiveDate> {
        let mut dated: Vec<(NaiveDate, bool)> = Vec::new();
        for (i, t) in terms.enumerate() {
            let at = format!("{path}[{}]/DueDateDateTime/DateTimeString", i + 1);
            let discount_only = t.child("ApplicableTradePaymentDiscountTerms").is_some()
                || t.child("ApplicableTradePaymentPenaltyTerms").is_some();
            if let Some(d) = self.date(t.path(&["DueDateDateTime", "DateTimeString"]), "BT-9", &at)
            {
                dated.push((d, discount_only));
            }
        }
        let net: Vec<NaiveDate> = dated.iter().filter(|(_, d)| !d).map(|(x, _)| *x).collect();
        let pool: Vec<NaiveDate> = if net.is_empty() {
            dated.iter().map(|(x, _)| *x).collect()
        } else {
            net
        };
        let chosen = pool.iter().max().copied()?;
        let mut distinct: Vec<NaiveDate> = dated.iter().map(|(x, _)| *x).collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() > 1 {
            self.diagnostics.push(Diagnostic::new(
                Severity::Warning,
                "EINV-TERMS",
                path,
                format!(
                    "the payment terms give {} due dates ({}): BT-9 is read as {chosen}, the last one of the terms that are not only a cash discount",
                    distinct.len(),
                    distinct
                        .iter()
                        .map(NaiveDate::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Some(chosen)
    }

    /// The due date of a UBL document without `cbc:DueDate`: the `PaymentDueDate` of its
    /// payment means (a credit note's place for it), the last when they differ, with a warning.
    fn due_date_ubl(&mut self, means: &[&Node]) -> Option<NaiveDate> {
        let mut dates = Vec::new();
        for (i, m) in means.iter().enumerate() {
            let at = format!("PaymentMeans[{}]/PaymentDueDate", i + 1);
            if let Some(d) = self.date(m.child("PaymentDueDate"), "BT-9", &at) {
                dates.push(d);
            }
        }
        dates.sort();
        dates.dedup();
        let chosen = dates.last().copied()?;
        if dates.len() > 1 {
            self.diagnostics.push(Diagnostic::new(
                Severity::Warning,
                "EINV-TERMS",
                "PaymentMeans",
                format!(
                    "the payment means give {} due dates: BT-9 is read as {chosen}, the last one",
                    dates.len()
                ),
            ));
        }
        Some(chosen)
    }

    /// The first payment-terms element that has `name`.
    fn first_with<'n>(terms: &[&'n Node], name: &str) -> Option<&'n Node> {
        terms.iter().find_map(|t| t.child(name))
    }
}

fn text(n: Option<&Node>) -> Option<String> {
    let t = n?.text.trim();
    (!t.is_empty()).then(|| t.to_owned())
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

fn read_cii(root: &Node, rd: &mut Rd) -> Document {
    let tx = root.child("SupplyChainTradeTransaction");
    let agreement = tx.and_then(|t| t.child("ApplicableHeaderTradeAgreement"));
    let settlement = tx.and_then(|t| t.child("ApplicableHeaderTradeSettlement"));
    let sums = settlement.and_then(|s| s.child("SpecifiedTradeSettlementHeaderMonetarySummation"));
    let currency = text(settlement.and_then(|s| s.child("InvoiceCurrencyCode")));
    let terms: Vec<&Node> = settlement
        .map(|s| s.children_named("SpecifiedTradePaymentTerms").collect())
        .unwrap_or_default();
    let means = settlement.and_then(|s| s.child("SpecifiedTradeSettlementPaymentMeans"));
    const SUMS: &str = "SupplyChainTradeTransaction/ApplicableHeaderTradeSettlement/SpecifiedTradeSettlementHeaderMonetarySummation";
    let sum = |name: &str| sums.and_then(|s| s.child(name));
    let mut doc = Document {
        specification: text(root.path(&[
            "ExchangedDocumentContext",
            "GuidelineSpecifiedDocumentContextParameter",
            "ID",
        ])),
        number: text(root.path(&["ExchangedDocument", "ID"])),
        type_code: rd.code(
            root.path(&["ExchangedDocument", "TypeCode"]),
            "BT-3",
            "ExchangedDocument/TypeCode",
        ),
        issue_date: rd.date(
            root.path(&["ExchangedDocument", "IssueDateTime", "DateTimeString"]),
            "BT-2",
            "ExchangedDocument/IssueDateTime/DateTimeString",
        ),
        due_date: rd.due_date(
            terms.iter().copied(),
            "SupplyChainTradeTransaction/ApplicableHeaderTradeSettlement/SpecifiedTradePaymentTerms",
        ),
        payment_terms: text(Rd::first_with(&terms, "Description")),
        seller: cii_party(agreement.and_then(|a| a.child("SellerTradeParty"))),
        buyer: cii_party(agreement.and_then(|a| a.child("BuyerTradeParty"))),
        buyer_reference: text(agreement.and_then(|a| a.child("BuyerReference"))),
        order_reference: text(
            agreement.and_then(|a| a.path(&["BuyerOrderReferencedDocument", "IssuerAssignedID"])),
        ),
        remittance_reference: text(settlement.and_then(|s| s.child("PaymentReference"))),
        payment_means_code: text(means.and_then(|m| m.child("TypeCode"))),
        iban: text(means.and_then(|m| m.path(&["PayeePartyCreditorFinancialAccount", "IBANID"]))),
        mandate_id: text(Rd::first_with(&terms, "DirectDebitMandateID")),
        line_total: rd.dec(sum("LineTotalAmount"), "BT-106", &format!("{SUMS}/LineTotalAmount")),
        allowances: rd.dec(
            sum("AllowanceTotalAmount"),
            "BT-107",
            &format!("{SUMS}/AllowanceTotalAmount"),
        ),
        charges: rd.dec(sum("ChargeTotalAmount"), "BT-108", &format!("{SUMS}/ChargeTotalAmount")),
        total_without_vat: rd.dec(
            sum("TaxBasisTotalAmount"),
            "BT-109",
            &format!("{SUMS}/TaxBasisTotalAmount"),
        ),
        total_vat: rd.amount_in(
            sums,
            "TaxTotalAmount",
            currency.as_deref(),
            "BT-110",
            &format!("{SUMS}/TaxTotalAmount"),
        ),
        total_with_vat: rd.dec(sum("GrandTotalAmount"), "BT-112", &format!("{SUMS}/GrandTotalAmount")),
        prepaid: rd.dec(
            sum("TotalPrepaidAmount"),
            "BT-113",
            &format!("{SUMS}/TotalPrepaidAmount"),
        ),
        rounding: rd.dec(sum("RoundingAmount"), "BT-114", &format!("{SUMS}/RoundingAmount")),
        amount_due: rd.dec(sum("DuePayableAmount"), "BT-115", &format!("{SUMS}/DuePayableAmount")),
        currency,
        ..Default::default()
    };
    if let Some(s) = settlement {
        for (i, t) in s.children_named("ApplicableTradeTax").enumerate() {
            let at = format!(
                "SupplyChainTradeTransaction/ApplicableHeaderTradeSettlement/ApplicableTradeTax[{}]",
                i + 1
            );
            doc.vat.push(VatBreakdown {
                category: text(t.child("CategoryCode")),
                rate: rd.dec(
                    t.child("RateApplicablePercent"),
                    "BT-119",
                    &format!("{at}/RateApplicablePercent"),
                ),
                taxable: rd.dec(
                    t.child("BasisAmount"),
                    "BT-116",
                    &format!("{at}/BasisAmount"),
                ),
                tax: rd.dec(
                    t.child("CalculatedAmount"),
                    "BT-117",
                    &format!("{at}/CalculatedAmount"),
                ),
            });
        }
    }
    if let Some(t) = tx {
        for (i, li) in t
            .children_named("IncludedSupplyChainTradeLineItem")
            .enumerate()
        {
            let at = format!(
                "SupplyChainTradeTransaction/IncludedSupplyChainTradeLineItem[{}]",
                i + 1
            );
            let ls = li.child("SpecifiedLineTradeSettlement");
            doc.lines.push(Line {
                id: text(li.path(&["AssociatedDocumentLineDocument", "LineID"]))
                    .unwrap_or_else(|| (i + 1).to_string()),
                name: text(li.path(&["SpecifiedTradeProduct", "Name"])),
                quantity: rd.dec(
                    li.path(&["SpecifiedLineTradeDelivery", "BilledQuantity"]),
                    "BT-129",
                    &format!("{at}/SpecifiedLineTradeDelivery/BilledQuantity"),
                ),
                net_amount: rd.dec(
                    ls.and_then(|s| {
                        s.path(&[
                            "SpecifiedTradeSettlementLineMonetarySummation",
                            "LineTotalAmount",
                        ])
                    }),
                    "BT-131",
                    &format!("{at}/SpecifiedLineTradeSettlement/SpecifiedTradeSettlementLineMonetarySummation/LineTotalAmount"),
                ),
                vat_rate: rd.dec(
                    ls.and_then(|s| s.path(&["ApplicableTradeTax", "RateApplicablePercent"])),
                    "BT-152",
                    &format!("{at}/SpecifiedLineTradeSettlement/ApplicableTradeTax/RateApplicablePercent"),
                ),
            });
        }
    }
    doc
}

fn read_zugferd1(root: &Node, rd: &mut Rd) -> Document {
    let tx = root.child("SpecifiedSupplyChainTradeTransaction");
    let agreement = tx.and_then(|t| t.child("ApplicableSupplyChainTradeAgreement"));
    let settlement = tx.and_then(|t| t.child("ApplicableSupplyChainTradeSettlement"));
    let sums = settlement.and_then(|s| s.child("SpecifiedTradeSettlementMonetarySummation"));
    let currency = text(settlement.and_then(|s| s.child("InvoiceCurrencyCode")));
    let terms: Vec<&Node> = settlement
        .map(|s| s.children_named("SpecifiedTradePaymentTerms").collect())
        .unwrap_or_default();
    const SUMS: &str = "SpecifiedSupplyChainTradeTransaction/ApplicableSupplyChainTradeSettlement/SpecifiedTradeSettlementMonetarySummation";
    let sum = |name: &str| sums.and_then(|s| s.child(name));
    let mut doc = Document {
        specification: text(root.path(&[
            "SpecifiedExchangedDocumentContext",
            "GuidelineSpecifiedDocumentContextParameter",
            "ID",
        ])),
        number: text(root.path(&["HeaderExchangedDocument", "ID"])),
        type_code: rd.code(
            root.path(&["HeaderExchangedDocument", "TypeCode"]),
            "BT-3",
            "HeaderExchangedDocument/TypeCode",
        ),
        issue_date: rd.date(
            root.path(&[
                "HeaderExchangedDocument",
                "IssueDateTime",
                "DateTimeString",
            ]),
            "BT-2",
            "HeaderExchangedDocument/IssueDateTime/DateTimeString",
        ),
        due_date: rd.due_date(
            terms.iter().copied(),
            "SpecifiedSupplyChainTradeTransaction/ApplicableSupplyChainTradeSettlement/SpecifiedTradePaymentTerms",
        ),
        payment_terms: text(Rd::first_with(&terms, "Description")),
        seller: cii_party(agreement.and_then(|a| a.child("SellerTradeParty"))),
        buyer: cii_party(agreement.and_then(|a| a.child("BuyerTradeParty"))),
        buyer_reference: text(agreement.and_then(|a| a.child("BuyerReference"))),
        order_reference: text(
            agreement.and_then(|a| a.path(&["BuyerOrderReferencedDocument", "ID"])),
        ),
        remittance_reference: text(settlement.and_then(|s| s.child("PaymentReference"))),
        line_total: rd.dec(sum("LineTotalAmount"), "BT-106", &format!("{SUMS}/LineTotalAmount")),
        allowances: rd.dec(
            sum("AllowanceTotalAmount"),
            "BT-107",
            &format!("{SUMS}/AllowanceTotalAmount"),
        ),
        charges: rd.dec(sum("ChargeTotalAmount"), "BT-108", &format!("{SUMS}/ChargeTotalAmount")),
        total_without_vat: rd.dec(
            sum("TaxBasisTotalAmount"),
            "BT-109",
            &format!("{SUMS}/TaxBasisTotalAmount"),
        ),
        total_vat: rd.amount_in(
            sums,
            "TaxTotalAmount",
            currency.as_deref(),
            "BT-110",
            &format!("{SUMS}/TaxTotalAmount"),
        ),
        total_with_vat: rd.dec(sum("GrandTotalAmount"), "BT-112", &format!("{SUMS}/GrandTotalAmount")),
        prepaid: rd.dec(
            sum("TotalPrepaidAmount"),
            "BT-113",
            &format!("{SUMS}/TotalPrepaidAmount"),
        ),
        amount_due: rd.dec(sum("DuePayableAmount"), "BT-115", &format!("{SUMS}/DuePayableAmount")),
        currency,
        ..Default::default()
    };
    if let Some(t) = tx {
        for (i, li) in t
            .children_named("IncludedSupplyChainTradeLineItem")
            .enumerate()
        {
            let at = format!(
                "SpecifiedSupplyChainTradeTransaction/IncludedSupplyChainTradeLineItem[{}]",
                i + 1
            );
            doc.lines.push(Line {
                id: text(li.path(&["AssociatedDocumentLineDocument", "LineID"]))
                    .unwrap_or_else(|| (i + 1).to_string()),
                name: text(li.path(&["SpecifiedTradeProduct", "Name"])),
                quantity: rd.dec(
                    li.path(&["SpecifiedSupplyChainTradeDelivery", "BilledQuantity"]),
                    "BT-129",
                    &format!("{at}/SpecifiedSupplyChainTradeDelivery/BilledQuantity"),
                ),
                net_amount: rd.dec(
                    li.path(&[
                        "SpecifiedSupplyChainTradeSettlement",
                        "SpecifiedTradeSettlementMonetarySummation",
                        "LineTotalAmount",
                    ]),
                    "BT-131",
                    &format!("{at}/SpecifiedSupplyChainTradeSettlement/SpecifiedTradeSettlementMonetarySummation/LineTotalAmount"),
                ),
                vat_rate: rd.dec(
                    li.path(&[
                        "SpecifiedSupplyChainTradeSettlement",
                        "ApplicableTradeTax",
                        "ApplicablePercent",
                    ]),
                    "BT-152",
                    &format!("{at}/SpecifiedSupplyChainTradeSettlement/ApplicableTradeTax/ApplicablePercent"),
                ),
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

fn read_ubl(root: &Node, rd: &mut Rd) -> Document {
    let credit = root.name == "CreditNote";
    let currency = text(root.child("DocumentCurrencyCode"));
    let totals = root.child("LegalMonetaryTotal");
    let all_means: Vec<&Node> = root.children_named("PaymentMeans").collect();
    let means = all_means.first().copied();
    let tax_totals: Vec<&Node> = root.children_named("TaxTotal").collect();
    let tax_index = tax_totals
        .iter()
        .position(|t| {
            t.child("TaxAmount").and_then(|a| a.attr("currencyID")) == currency.as_deref()
        })
        .unwrap_or(0);
    let tax_total = tax_totals.get(tax_index).copied();
    let tax_path = format!("TaxTotal[{}]", tax_index + 1);
    let total = |name: &str| totals.and_then(|t| t.child(name));
    let due_date = match root.child("DueDate") {
        Some(d) => rd.date(Some(d), "BT-9", "DueDate"),
        None => rd.due_date_ubl(&all_means),
    };
    let mut doc = Document {
        specification: text(root.child("CustomizationID")),
        number: text(root.child("ID")),
        type_code: {
            let name = if credit {
                "CreditNoteTypeCode"
            } else {
                "InvoiceTypeCode"
            };
            rd.code(root.child(name), "BT-3", name)
                .or(if credit { Some(381) } else { None })
        },
        issue_date: rd.date(root.child("IssueDate"), "BT-2", "IssueDate"),
        due_date,
        payment_terms: text(root.path(&["PaymentTerms", "Note"])),
        seller: ubl_party(root.child("AccountingSupplierParty")),
        buyer: ubl_party(root.child("AccountingCustomerParty")),
        buyer_reference: text(root.child("BuyerReference")),
        order_reference: text(root.path(&["OrderReference", "ID"])),
        remittance_reference: text(means.and_then(|m| m.child("PaymentID"))),
        payment_means_code: text(means.and_then(|m| m.child("PaymentMeansCode"))),
        iban: text(means.and_then(|m| m.path(&["PayeeFinancialAccount", "ID"]))),
        mandate_id: text(means.and_then(|m| m.path(&["PaymentMandate", "ID"]))),
        line_total: rd.dec(
            total("LineExtensionAmount"),
            "BT-106",
            "LegalMonetaryTotal/LineExtensionAmount",
        ),
        allowances: rd.dec(
            total("AllowanceTotalAmount"),
            "BT-107",
            "LegalMonetaryTotal/AllowanceTotalAmount",
        ),
        charges: rd.dec(
            total("ChargeTotalAmount"),
            "BT-108",
            "LegalMonetaryTotal/ChargeTotalAmount",
        ),
        total_without_vat: rd.dec(
            total("TaxExclusiveAmount"),
            "BT-109",
            "LegalMonetaryTotal/TaxExclusiveAmount",
        ),
        total_vat: rd.dec(
            tax_total.and_then(|t| t.child("TaxAmount")),
            "BT-110",
            &format!("{tax_path}/TaxAmount"),
        ),
        total_with_vat: rd.dec(
            total("TaxInclusiveAmount"),
            "BT-112",
            "LegalMonetaryTotal/TaxInclusiveAmount",
        ),
        prepaid: rd.dec(
            total("PrepaidAmount"),
            "BT-113",
            "LegalMonetaryTotal/PrepaidAmount",
        ),
        rounding: rd.dec(
            total("PayableRoundingAmount"),
            "BT-114",
            "LegalMonetaryTotal/PayableRoundingAmount",
        ),
        amount_due: rd.dec(
            total("PayableAmount"),
            "BT-115",
            "LegalMonetaryTotal/PayableAmount",
        ),
        currency,
        ..Default::default()
    };
    if let Some(t) = tax_total {
        for (i, s) in t.children_named("TaxSubtotal").enumerate() {
            let at = format!("{tax_path}/TaxSubtotal[{}]", i + 1);
            doc.vat.push(VatBreakdown {
                category: text(s.path(&["TaxCategory", "ID"])),
                rate: rd.dec(
                    s.path(&["TaxCategory", "Percent"]),
                    "BT-119",
                    &format!("{at}/TaxCategory/Percent"),
                ),
                taxable: rd.dec(
                    s.child("TaxableAmount"),
                    "BT-116",
                    &format!("{at}/TaxableAmount"),
                ),
                tax: rd.dec(s.child("TaxAmount"), "BT-117", &format!("{at}/TaxAmount")),
            });
        }
    }
    let (line_name, qty_name) = if credit {
        ("CreditNoteLine", "CreditedQuantity")
    } else {
        ("InvoiceLine", "InvoicedQuantity")
    };
    for (i, l) in root.children_named(line_name).enumerate() {
        let at = format!("{line_name}[{}]", i + 1);
        doc.lines.push(Line {
            id: text(l.child("ID")).unwrap_or_else(|| (i + 1).to_string()),
            name: text(l.path(&["Item", "Name"])),
            quantity: rd.dec(l.child(qty_name), "BT-129", &format!("{at}/{qty_name}")),
            net_amount: rd.dec(
                l.child("LineExtensionAmount"),
                "BT-131",
                &format!("{at}/LineExtensionAmount"),
            ),
            vat_rate: rd.dec(
                l.path(&["Item", "ClassifiedTaxCategory", "Percent"]),
                "BT-152",
                &format!("{at}/Item/ClassifiedTaxCategory/Percent"),
            ),
        });
    }
    doc
}

/// True when the file can be imported: nothing fatal and at least one document with a
/// number, an issue date (the dunning counts from it; none is ever assumed) and a total.
pub fn is_usable(f: &ParsedFile) -> bool {
    !has_fatal(&f.diagnostics)
        && f.documents.iter().any(|d| {
            d.number.is_some()
                && d.issue_date.is_some()
                && (d.total_with_vat.is_some() || d.amount_due.is_some())
        })
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
