//! E-invoicing lifecycle messages: UN/CEFACT Cross Domain Acknowledgement And Response (CDAR,
//! AFNOR XP Z12-012 "flux 6"). Bytes in, the statuses relance acts on plus diagnostics out
//! ([`parse`]); one status per invoice out, as a platform accepts it ([`write`]).
//!
//! A message carries, for one or more invoices (`ReferenceReferencedDocument`), the status
//! reached (`ProcessConditionCode` 200–220), its reason (`ReasonCode`, from a closed list for
//! 206, 207, 208, 210 and 213), the action expected (`RequestedActionCode`) and, for the
//! payment statuses (211 Paiement transmis, 212 Encaissée), one amount per VAT rate
//! (`SpecifiedDocumentCharacteristic`: `TypeCode` MEN received, MPA paid, RAP remaining; a
//! `ValueAmount` and the rate as `ValuePercent`). Parties are named by SIREN (`GlobalID
//! schemeID="0002"`) and electronic address (`URIID schemeID="0225"`), with their role (SE
//! seller, BY buyer, WK platform, DFH the public concentrator).
//!
//! The reader is bounded like the e-invoice readers (the same XML tree: no DTD, a depth and
//! an element limit, a size limit here) and never panics: one unusable status entry is
//! reported and the others are kept.
//!
//! ```
//! use relance_connectors::formats::cdar;
//! let parsed = cdar::parse(b"<not-cdar/>");
//! assert!(parsed.message.is_none());
//! ```

use crate::formats::decimal;
use crate::formats::diag::{Diagnostic, Severity};
use crate::formats::einvoice::xml::{self, Node};
use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Largest message read (real ones are a few kilobytes).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Most invoice statuses read from one message.
pub const MAX_STATUSES: usize = 10_000;
/// The French lifecycle profile (`GuidelineSpecifiedDocumentContextParameter/ID`).
pub const PROFILE: &str = "urn.cpro.gouv.fr:1p0:CDV:invoice";

const NS_RSM: &str =
    "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100";
const NS_RAM: &str =
    "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100";
const NS_UDT: &str = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100";
const NS_QDT: &str = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100";

/// A party of the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// SIREN (`GlobalID schemeID="0002"`), or another global id with its scheme.
    pub global_id: Option<(String, String)>,
    /// Electronic address (`URIID`, scheme 0225 for the French directory).
    pub uri_id: Option<String>,
    /// Role: SE seller, BY buyer, WK platform, DFH the public concentrator.
    pub role: Option<String>,
    /// Name, when given.
    pub name: Option<String>,
}

impl Party {
    /// The SIREN, when the global id is one.
    pub fn siren(&self) -> Option<&str> {
        match &self.global_id {
            Some((scheme, id)) if scheme == "0002" => Some(id),
            _ => None,
        }
    }
}

/// One amount of a payment status, for one VAT rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedAmount {
    /// `MEN` amount received, `MPA` amount paid, `RAP` amount remaining.
    pub type_code: String,
    /// The amount, VAT included.
    pub amount: Decimal,
    /// Its currency (`currencyID`), when given.
    pub currency: Option<String>,
    /// The VAT rate in percent (`ValuePercent`), when given.
    pub vat_rate: Option<Decimal>,
}

/// The status one invoice reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceStatus {
    /// The invoice number (BT-1).
    pub invoice_number: String,
    /// Its type code (BT-3: 380 invoice, 381 credit note...).
    pub invoice_type: Option<u16>,
    /// Its issue date.
    pub invoice_date: Option<NaiveDate>,
    /// The status code (200 Déposée ... 213 Rejetée, 220 Annulée).
    pub code: u16,
    /// The status as the message words it (`ProcessCondition`).
    pub label: Option<String>,
    /// When the status was reached (`ReferenceDateTime` of the status, else the message's).
    pub at: Option<NaiveDateTime>,
    /// Reason code (`TX_TVA_ERR`, `DOUBLON`...).
    pub reason_code: Option<String>,
    /// Reason text.
    pub reason: Option<String>,
    /// Expected action (`NIN` corrective invoice, `NOA` none...).
    pub action_code: Option<String>,
    /// Amounts per VAT rate (211, 212; 206 the approved part).
    pub amounts: Vec<ReportedAmount>,
}

/// A lifecycle message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdarMessage {
    /// The message id (`ExchangedDocument/ID`).
    pub id: String,
    /// The profile (`GuidelineSpecifiedDocumentContextParameter/ID`).
    pub profile: Option<String>,
    /// When it was issued.
    pub issued_at: Option<NaiveDateTime>,
    /// Who sends it.
    pub issuer: Party,
    /// Who it is for.
    pub recipients: Vec<Party>,
    /// The statuses it reports, one per invoice.
    pub statuses: Vec<InvoiceStatus>,
}

/// What [`parse`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parsed {
    /// The message, unless the file is unusable.
    pub message: Option<CdarMessage>,
    /// Findings, with rule ids and element paths.
    pub diagnostics: Vec<Diagnostic>,
}

/// The name of a status code, and whether it needs a reason code.
pub fn status_name(code: u16) -> Option<(&'static str, bool)> {
    Some(match code {
        200 => ("Déposée", false),
        201 => ("Émise par la plateforme", false),
        202 => ("Reçue par la plateforme", false),
        203 => ("Mise à disposition", false),
        204 => ("Prise en charge", false),
        205 => ("Approuvée", false),
        206 => ("Approuvée partiellement", true),
        207 => ("En litige", true),
        208 => ("Suspendue", true),
        209 => ("Complétée", false),
        210 => ("Refusée", true),
        211 => ("Paiement transmis", false),
        212 => ("Encaissée", false),
        213 => ("Rejetée", true),
        214 => ("Visée", false),
        220 => ("Annulée", false),
        _ => return None,
    })
}

/// Reason codes seen in the published code lists, for a warning on others (lists evolve: an
/// unknown code is kept, never refused).
const KNOWN_REASONS: [&str; 11] = [
    "TX_TVA_ERR",
    "MONTANTTOTAL_ERR",
    "DOUBLON",
    "CMD_ERR",
    "LIVR_INCOMP",
    "COORD_BANC_ERR",
    "CONTRAT_TERM",
    "NON_CONFORME",
    "JUSTIF_ABS",
    "AUTRE",
    "DEST_ERR",
];

fn diag(sev: Severity, rule: &str, path: &str, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::new(sev, rule, path, msg)
}

fn text(n: &Node, path: &[&str]) -> Option<String> {
    n.path(path)
        .map(|c| c.text.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// `YYYYMMDD` (format 102) or `YYYYMMDDHHMMSS` (format 204), or an ISO date-time.
fn date_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok();
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(s, "%Y%m%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.naive_utc())
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
}

/// The date-time of an element holding a `DateTimeString`.
fn dt_of(n: Option<&Node>) -> Option<NaiveDateTime> {
    let n = n?;
    let s = n
        .child("DateTimeString")
        .map(|c| c.text.as_str())
        .unwrap_or(&n.text);
    date_time(s)
}

fn party(n: &Node) -> Party {
    Party {
        global_id: n.child("GlobalID").map(|g| {
            (
                g.attr("schemeID").unwrap_or_default().trim().to_owned(),
                g.text.trim().to_owned(),
            )
        }),
        uri_id: n
            .path(&["URIUniversalCommunication", "URIID"])
            .or_else(|| n.child("URIID"))
            .map(|u| u.text.trim().to_owned())
            .filter(|s| !s.is_empty()),
        role: text(n, &["RoleCode"]),
        name: text(n, &["Name"]),
    }
}

/// Reads a CDAR message. Never panics; an unusable file gives no message and a fatal
/// diagnostic; an unusable status entry is left out with an error naming it.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    if bytes.len() > MAX_BYTES {
        out.diagnostics.push(diag(
            Severity::Fatal,
            "CDAR-SIZE",
            "/",
            format!(
                "message of {} bytes is over the {MAX_BYTES}-byte limit",
                bytes.len()
            ),
        ));
        return out;
    }
    let (text_, _, notes) = xml::decode(bytes);
    out.diagnostics.extend(notes);
    let root = match xml::parse(&text_) {
        Ok(r) => r,
        Err(d) => {
            out.diagnostics.push(d);
            return out;
        }
    };
    if root.name != "CrossDomainAcknowledgementAndResponse" {
        out.diagnostics.push(diag(
            Severity::Fatal,
            "CDAR-ROOT",
            &format!("/{}", root.name),
            format!(
                "root element is <{}>, not <CrossDomainAcknowledgementAndResponse>",
                root.name
            ),
        ));
        return out;
    }
    if let Some(ns) = root.namespace.as_deref() {
        if ns != NS_RSM {
            out.diagnostics.push(diag(
                Severity::Warning,
                "CDAR-NAMESPACE",
                "/CrossDomainAcknowledgementAndResponse",
                format!(
                    "namespace {} is not the CDAR one ({NS_RSM})",
                    decimal::shown(ns)
                ),
            ));
        }
    }
    let profile = text(
        &root,
        &[
            "ExchangedDocumentContext",
            "GuidelineSpecifiedDocumentContextParameter",
            "ID",
        ],
    );
    if let Some(p) = &profile {
        if p != PROFILE {
            out.diagnostics.push(diag(
                Severity::Warning,
                "CDAR-PROFILE",
                "/ExchangedDocumentContext/GuidelineSpecifiedDocumentContextParameter/ID",
                format!(
                    "profile {} is not the French lifecycle profile {PROFILE}",
                    decimal::shown(p)
                ),
            ));
        }
    }
    let doc = root.child("ExchangedDocument");
    let id = doc.and_then(|d| text(d, &["ID"])).unwrap_or_default();
    if id.is_empty() {
        out.diagnostics.push(diag(
            Severity::Error,
            "CDAR-ID",
            "/ExchangedDocument/ID",
            "the message has no id",
        ));
    }
    let issued_at = dt_of(doc.and_then(|d| d.child("IssueDateTime")));
    let issuer = doc
        .and_then(|d| {
            d.child("IssuerTradeParty")
                .or_else(|| d.child("SenderTradeParty"))
        })
        .map(party)
        .unwrap_or_default();
    let recipients: Vec<Party> = doc
        .map(|d| d.children_named("RecipientTradeParty").map(party).collect())
        .unwrap_or_default();
    let mut statuses = Vec::new();
    let mut refs = 0usize;
    for (ai, ack) in root.children_named("AcknowledgementDocument").enumerate() {
        let ack_at = dt_of(ack.child("IssueDateTime"));
        for (ri, r) in ack
            .children_named("ReferenceReferencedDocument")
            .enumerate()
        {
            refs += 1;
            if statuses.len() >= MAX_STATUSES {
                out.diagnostics.push(diag(
                    Severity::Error,
                    "CDAR-SIZE",
                    "/AcknowledgementDocument",
                    format!("more than {MAX_STATUSES} statuses: the rest is not read"),
                ));
                break;
            }
            let path = format!(
                "/AcknowledgementDocument[{}]/ReferenceReferencedDocument[{}]",
                ai + 1,
                ri + 1
            );
            if let Some(s) = status(r, &path, ack_at.or(issued_at), &mut out.diagnostics) {
                statuses.push(s);
            }
        }
    }
    if refs == 0 {
        out.diagnostics.push(diag(
            Severity::Fatal,
            "CDAR-EMPTY",
            "/AcknowledgementDocument",
            "the message reports no invoice status (no ReferenceReferencedDocument)",
        ));
        return out;
    }
    if statuses.is_empty() {
        // Every status was unreadable (each says why above): nothing in it can be acted on.
        out.diagnostics.push(diag(
            Severity::Fatal,
            "CDAR-EMPTY",
            "/AcknowledgementDocument",
            format!("none of the message's {refs} invoice statuses could be read"),
        ));
        return out;
    }
    out.message = Some(CdarMessage {
        id,
        profile,
        issued_at,
        issuer,
        recipients,
        statuses,
    });
    out
}

fn status(
    r: &Node,
    path: &str,
    default_at: Option<NaiveDateTime>,
    diags: &mut Vec<Diagnostic>,
) -> Option<InvoiceStatus> {
    let Some(number) = text(r, &["IssuerAssignedID"]) else {
        diags.push(diag(
            Severity::Error,
            "CDAR-INVOICE",
            &format!("{path}/IssuerAssignedID"),
            "status without the invoice number it is about: left out",
        ));
        return None;
    };
    let raw = text(r, &["ProcessConditionCode"]).unwrap_or_default();
    let code = match raw.parse::<u16>() {
        Ok(c) => c,
        Err(_) => {
            diags.push(diag(
                Severity::Error,
                "CDAR-STATUS",
                &format!("{path}/ProcessConditionCode"),
                format!(
                    "invoice {}: status code {} is not a number: left out",
                    decimal::shown(&number),
                    decimal::shown(&raw)
                ),
            ));
            return None;
        }
    };
    let known = status_name(code);
    if known.is_none() {
        diags.push(diag(
            Severity::Warning,
            "CDAR-STATUS",
            &format!("{path}/ProcessConditionCode"),
            format!(
                "invoice {}: status code {code} is not in the lifecycle list",
                decimal::shown(&number)
            ),
        ));
    }
    let statuses: Vec<&Node> = r.children_named("SpecifiedDocumentStatus").collect();
    let first = statuses.first().copied();
    let reason_code = first.and_then(|s| text(s, &["ReasonCode"]));
    let reason = first.and_then(|s| text(s, &["Reason"]));
    let action_code = first.and_then(|s| text(s, &["RequestedActionCode"]));
    let at = first
        .and_then(|s| dt_of(s.child("ReferenceDateTime")))
        .or_else(|| dt_of(r.child("ReceiptDateTime")))
        .or(default_at);
    if let (Some((_, true)), None) = (known, &reason_code) {
        diags.push(diag(
            Severity::Warning,
            "CDAR-REASON",
            &format!("{path}/SpecifiedDocumentStatus/ReasonCode"),
            format!(
                "invoice {}: status {code} needs a reason code and has none",
                decimal::shown(&number)
            ),
        ));
    }
    if let Some(rc) = &reason_code {
        if !KNOWN_REASONS.contains(&rc.as_str()) {
            diags.push(diag(
                Severity::Info,
                "CDAR-REASON",
                &format!("{path}/SpecifiedDocumentStatus/ReasonCode"),
                format!(
                    "reason code {} is not one relance knows: kept as given",
                    decimal::shown(rc)
                ),
            ));
        }
    }
    let mut amounts = Vec::new();
    let chars = statuses
        .iter()
        .flat_map(|s| s.children_named("SpecifiedDocumentCharacteristic"))
        .chain(r.children_named("SpecifiedDocumentCharacteristic"));
    for (ci, c) in chars.enumerate() {
        let cpath = format!(
            "{path}/SpecifiedDocumentStatus/SpecifiedDocumentCharacteristic[{}]",
            ci + 1
        );
        let Some(v) = c.child("ValueAmount") else {
            continue; // a field correction (DIV, MAJ...), not an amount
        };
        let amount = match decimal::xsd(&v.text) {
            Ok(a) => a,
            Err(e) => {
                diags.push(diag(
                    Severity::Error,
                    "CDAR-AMOUNT",
                    &format!("{cpath}/ValueAmount"),
                    format!("amount {}: {e}: left out", decimal::shown(&v.text)),
                ));
                continue;
            }
        };
        let vat_rate = match text(c, &["ValuePercent"]) {
            None => None,
            Some(p) => match decimal::xsd(&p) {
                Ok(p) => Some(p),
                Err(e) => {
                    diags.push(diag(
                        Severity::Error,
                        "CDAR-AMOUNT",
                        &format!("{cpath}/ValuePercent"),
                        format!(
                            "VAT rate {}: {e}: the amount is kept without its rate",
                            decimal::shown(&p)
                        ),
                    ));
                    None
                }
            },
        };
        amounts.push(ReportedAmount {
            type_code: text(c, &["TypeCode"]).unwrap_or_else(|| "MEN".to_owned()),
            amount,
            currency: v.attr("currencyID").map(|s| s.trim().to_owned()),
            vat_rate,
        });
    }
    if matches!(code, 211 | 212) && amounts.is_empty() {
        diags.push(diag(
            Severity::Warning,
            "CDAR-AMOUNT",
            path,
            format!(
                "invoice {}: payment status {code} without an amount",
                decimal::shown(&number)
            ),
        ));
    }
    Some(InvoiceStatus {
        invoice_type: text(r, &["TypeCode"]).and_then(|t| t.parse().ok()),
        invoice_date: dt_of(r.child("FormattedIssueDateTime")).map(|d| d.date()),
        invoice_number: number,
        code,
        label: text(r, &["ProcessCondition"]),
        at,
        reason_code,
        reason,
        action_code,
        amounts,
    })
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // characters XML 1.0 cannot carry
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

fn write_party(o: &mut String, tag: &str, p: &Party) {
    o.push_str(&format!("    <ram:{tag}>\n"));
    if let Some((scheme, id)) = &p.global_id {
        o.push_str(&format!(
            "      <ram:GlobalID schemeID=\"{}\">{}</ram:GlobalID>\n",
            esc(scheme),
            esc(id)
        ));
    }
    if let Some(n) = &p.name {
        o.push_str(&format!("      <ram:Name>{}</ram:Name>\n", esc(n)));
    }
    if let Some(r) = &p.role {
        o.push_str(&format!("      <ram:RoleCode>{}</ram:RoleCode>\n", esc(r)));
    }
    if let Some(u) = &p.uri_id {
        o.push_str(&format!(
            "      <ram:URIUniversalCommunication><ram:URIID schemeID=\"0225\">{}</ram:URIID></ram:URIUniversalCommunication>\n",
            esc(u)
        ));
    }
    o.push_str(&format!("    </ram:{tag}>\n"));
}

/// Writes `msg` as a CDAR document (the profile [`PROFILE`] unless it names another), in the
/// element order of the schema; [`parse`] reads it back to the same message.
pub fn write(msg: &CdarMessage) -> String {
    let mut o = String::with_capacity(2048);
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!(
        "<rsm:CrossDomainAcknowledgementAndResponse xmlns:rsm=\"{NS_RSM}\" xmlns:ram=\"{NS_RAM}\" xmlns:udt=\"{NS_UDT}\" xmlns:qdt=\"{NS_QDT}\">\n"
    ));
    o.push_str(&format!(
        "  <rsm:ExchangedDocumentContext>\n    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{}</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>\n  </rsm:ExchangedDocumentContext>\n",
        esc(msg.profile.as_deref().unwrap_or(PROFILE))
    ));
    o.push_str("  <rsm:ExchangedDocument>\n");
    o.push_str(&format!("    <ram:ID>{}</ram:ID>\n", esc(&msg.id)));
    if let Some(at) = msg.issued_at {
        o.push_str(&format!(
            "    <ram:IssueDateTime><udt:DateTimeString format=\"204\">{}</udt:DateTimeString></ram:IssueDateTime>\n",
            at.format("%Y%m%d%H%M%S")
        ));
    }
    write_party(&mut o, "IssuerTradeParty", &msg.issuer);
    for r in &msg.recipients {
        write_party(&mut o, "RecipientTradeParty", r);
    }
    o.push_str("  </rsm:ExchangedDocument>\n");
    o.push_str("  <rsm:AcknowledgementDocument>\n    <ram:MultipleReferencesIndicator><udt:Indicator>false</udt:Indicator></ram:MultipleReferencesIndicator>\n    <ram:TypeCode>23</ram:TypeCode>\n");
    if let Some(at) = msg.issued_at {
        o.push_str(&format!(
            "    <ram:IssueDateTime><udt:DateTimeString format=\"204\">{}</udt:DateTimeString></ram:IssueDateTime>\n",
            at.format("%Y%m%d%H%M%S")
        ));
    }
    for s in &msg.statuses {
        o.push_str("    <ram:ReferenceReferencedDocument>\n");
        o.push_str(&format!(
            "      <ram:IssuerAssignedID>{}</ram:IssuerAssignedID>\n",
            esc(&s.invoice_number)
        ));
        if let Some(t) = s.invoice_type {
            o.push_str(&format!("      <ram:TypeCode>{t}</ram:TypeCode>\n"));
        }
        if let Some(d) = s.invoice_date {
            o.push_str(&format!(
                "      <ram:FormattedIssueDateTime><qdt:DateTimeString format=\"102\">{}</qdt:DateTimeString></ram:FormattedIssueDateTime>\n",
                d.format("%Y%m%d")
            ));
        }
        o.push_str(&format!(
            "      <ram:ProcessConditionCode>{}</ram:ProcessConditionCode>\n",
            s.code
        ));
        let label = s
            .label
            .clone()
            .or_else(|| status_name(s.code).map(|(n, _)| n.to_owned()));
        if let Some(l) = label {
            o.push_str(&format!(
                "      <ram:ProcessCondition>{}</ram:ProcessCondition>\n",
                esc(&l)
            ));
        }
        o.push_str("      <ram:SpecifiedDocumentStatus>\n");
        if let Some(at) = s.at {
            o.push_str(&format!(
                "        <ram:ReferenceDateTime><udt:DateTimeString format=\"204\">{}</udt:DateTimeString></ram:ReferenceDateTime>\n",
                at.format("%Y%m%d%H%M%S")
            ));
        }
        if let Some(rc) = &s.reason_code {
            o.push_str(&format!(
                "        <ram:ReasonCode>{}</ram:ReasonCode>\n",
                esc(rc)
            ));
        }
        if let Some(r) = &s.reason {
            o.push_str(&format!("        <ram:Reason>{}</ram:Reason>\n", esc(r)));
        }
        if let Some(a) = &s.action_code {
            o.push_str(&format!(
                "        <ram:RequestedActionCode>{}</ram:RequestedActionCode>\n",
                esc(a)
            ));
        }
        for a in &s.amounts {
            o.push_str("        <ram:SpecifiedDocumentCharacteristic>\n");
            o.push_str(&format!(
                "          <ram:TypeCode>{}</ram:TypeCode>\n",
                esc(&a.type_code)
            ));
            match &a.currency {
                Some(c) => o.push_str(&format!(
                    "          <ram:ValueAmount currencyID=\"{}\">{}</ram:ValueAmount>\n",
                    esc(c),
                    a.amount
                )),
                None => o.push_str(&format!(
                    "          <ram:ValueAmount>{}</ram:ValueAmount>\n",
                    a.amount
                )),
            }
            if let Some(p) = a.vat_rate {
                o.push_str(&format!(
                    "          <ram:ValuePercent>{p}</ram:ValuePercent>\n"
                ));
            }
            o.push_str("        </ram:SpecifiedDocumentCharacteristic>\n");
        }
        o.push_str("      </ram:SpecifiedDocumentStatus>\n");
        o.push_str("    </ram:ReferenceReferencedDocument>\n");
    }
    o.push_str("  </rsm:AcknowledgementDocument>\n");
    o.push_str("</rsm:CrossDomainAcknowledgementAndResponse>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer: a message with bad bytes whose only status is cut short was read
    /// as a message with no status (and written again, read as none at all): unusable, it
    /// says so, and nothing is kept of it.
    #[test]
    fn a_message_whose_every_status_is_unreadable_is_unusable() {
        let p = parse(include_bytes!("../../tests/fixtures/cdar/fuzz-1.xml"));
        assert!(p.message.is_none());
        assert!(p
            .diagnostics
            .iter()
            .any(|d| d.rule == "CDAR-EMPTY" && d.severity == Severity::Fatal));
    }
    use rust_decimal_macros::dec;

    /// The shape of the published "En litige" example (AFNOR XP Z12-012 annex B), written
    /// here with made-up parties.
    const LITIGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossDomainAcknowledgementAndResponse xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100" xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:BusinessProcessSpecifiedDocumentContextParameter><ram:ID>REGULATED</ram:ID></ram:BusinessProcessSpecifiedDocumentContextParameter>
    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn.cpro.gouv.fr:1p0:CDV:invoice</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>F202600006_207_20260701161000#380_20260701</ram:ID>
    <ram:IssueDateTime><udt:DateTimeString format="204">20260701181500</udt:DateTimeString></ram:IssueDateTime>
    <ram:IssuerTradeParty><ram:GlobalID schemeID="0002">200000008</ram:GlobalID><ram:RoleCode>BY</ram:RoleCode></ram:IssuerTradeParty>
    <ram:RecipientTradeParty><ram:GlobalID schemeID="0002">100000009</ram:GlobalID><ram:RoleCode>SE</ram:RoleCode></ram:RecipientTradeParty>
  </rsm:ExchangedDocument>
  <rsm:AcknowledgementDocument>
    <ram:TypeCode>23</ram:TypeCode>
    <ram:ReferenceReferencedDocument>
      <ram:IssuerAssignedID>F202600006</ram:IssuerAssignedID>
      <ram:TypeCode>380</ram:TypeCode>
      <ram:FormattedIssueDateTime><qdt:DateTimeString format="102">20260701</qdt:DateTimeString></ram:FormattedIssueDateTime>
      <ram:ProcessConditionCode>207</ram:ProcessConditionCode>
      <ram:ProcessCondition>En_litige</ram:ProcessCondition>
      <ram:SpecifiedDocumentStatus>
        <ram:ReasonCode>TX_TVA_ERR</ram:ReasonCode><ram:Reason>Taux de TVA erroné</ram:Reason>
        <ram:RequestedActionCode>NIN</ram:RequestedActionCode>
      </ram:SpecifiedDocumentStatus>
    </ram:ReferenceReferencedDocument>
  </rsm:AcknowledgementDocument>
</rsm:CrossDomainAcknowledgementAndResponse>"#;

    #[test]
    fn reads_a_dispute_with_its_reason_and_parties() {
        let p = parse(LITIGE.as_bytes());
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let m = p.message.unwrap();
        assert_eq!(m.profile.as_deref(), Some(PROFILE));
        assert_eq!(m.issuer.siren(), Some("200000008"));
        assert_eq!(m.issuer.role.as_deref(), Some("BY"));
        assert_eq!(m.recipients[0].siren(), Some("100000009"));
        let s = &m.statuses[0];
        assert_eq!(s.invoice_number, "F202600006");
        assert_eq!(s.code, 207);
        assert_eq!(s.invoice_type, Some(380));
        assert_eq!(s.reason_code.as_deref(), Some("TX_TVA_ERR"));
        assert_eq!(s.action_code.as_deref(), Some("NIN"));
        assert_eq!(s.invoice_date, NaiveDate::from_ymd_opt(2026, 7, 1));
        assert_eq!(
            s.at.unwrap().to_string(),
            "2026-07-01 18:15:00",
            "the message's time when the status has none"
        );
    }

    fn encaissee() -> CdarMessage {
        CdarMessage {
            id: "F1-212-1".into(),
            profile: None,
            issued_at: NaiveDate::from_ymd_opt(2026, 11, 3).and_then(|d| d.and_hms_opt(9, 0, 0)),
            issuer: Party {
                global_id: Some(("0002".into(), "100000009".into())),
                role: Some("SE".into()),
                name: Some("Atelier <Tilleul> & fils".into()),
                uri_id: Some("100000009_FACT".into()),
            },
            recipients: vec![Party {
                global_id: Some(("0002".into(), "200000008".into())),
                role: Some("BY".into()),
                ..Party::default()
            }],
            statuses: vec![InvoiceStatus {
                invoice_number: "F1".into(),
                invoice_type: Some(380),
                invoice_date: NaiveDate::from_ymd_opt(2026, 10, 1),
                code: 212,
                label: None,
                at: NaiveDate::from_ymd_opt(2026, 11, 2).and_then(|d| d.and_hms_opt(0, 0, 0)),
                reason_code: None,
                reason: None,
                action_code: None,
                amounts: vec![
                    ReportedAmount {
                        type_code: "MEN".into(),
                        amount: dec!(1200.00),
                        currency: Some("EUR".into()),
                        vat_rate: Some(dec!(20.00)),
                    },
                    ReportedAmount {
                        type_code: "MEN".into(),
                        amount: dec!(105.50),
                        currency: Some("EUR".into()),
                        vat_rate: Some(dec!(5.50)),
                    },
                ],
            }],
        }
    }

    #[test]
    fn writes_an_encaissee_with_one_amount_per_rate_and_reads_it_back() {
        let m = encaissee();
        let xml = write(&m);
        let p = parse(xml.as_bytes());
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let mut back = p.message.unwrap();
        assert_eq!(back.statuses[0].label.as_deref(), Some("Encaissée"));
        back.statuses[0].label = None;
        back.profile = None;
        assert_eq!(back, m);
        assert_eq!(
            xml.matches("<ram:SpecifiedDocumentCharacteristic>").count(),
            2
        );
    }

    #[test]
    fn a_bad_entry_is_left_out_and_the_others_kept() {
        let m = encaissee();
        let good = write(&m);
        let bad = good.replace(
            "<ram:ReferenceReferencedDocument>",
            "<ram:ReferenceReferencedDocument><ram:IssuerAssignedID>F0</ram:IssuerAssignedID><ram:ProcessConditionCode>XX</ram:ProcessConditionCode></ram:ReferenceReferencedDocument><ram:ReferenceReferencedDocument>",
        );
        let p = parse(bad.as_bytes());
        let msg = p.message.unwrap();
        assert_eq!(msg.statuses.len(), 1);
        assert_eq!(msg.statuses[0].invoice_number, "F1");
        assert!(p
            .diagnostics
            .iter()
            .any(|d| d.rule == "CDAR-STATUS" && d.path.contains("ReferenceReferencedDocument[1]")));
        let amount = good.replace(">1200.00<", ">12O0<");
        let p = parse(amount.as_bytes());
        assert_eq!(p.message.unwrap().statuses[0].amounts.len(), 1);
        assert!(p.diagnostics.iter().any(|d| d.rule == "CDAR-AMOUNT"));
    }

    #[test]
    fn unusable_files_say_why() {
        assert_eq!(parse(b"").diagnostics[0].rule, "XML-SYNTAX");
        assert_eq!(parse(b"<Invoice/>").diagnostics[0].rule, "CDAR-ROOT");
        let dtd = b"<!DOCTYPE a [<!ENTITY x \"y\">]><CrossDomainAcknowledgementAndResponse/>";
        assert_eq!(parse(dtd).diagnostics[0].rule, "XML-DTD");
        let empty = parse(b"<CrossDomainAcknowledgementAndResponse/>");
        assert!(empty.message.is_none());
        assert!(empty.diagnostics.iter().any(|d| d.rule == "CDAR-EMPTY"));
        let big = vec![b' '; MAX_BYTES + 1];
        assert_eq!(parse(&big).diagnostics[0].rule, "CDAR-SIZE");
        let deep = format!(
            "<CrossDomainAcknowledgementAndResponse>{}{}</CrossDomainAcknowledgementAndResponse>",
            "<a>".repeat(200),
            "</a>".repeat(200)
        );
        assert_eq!(parse(deep.as_bytes()).diagnostics[0].rule, "XML-DEPTH");
    }

    #[test]
    fn a_refusal_without_reason_is_kept_with_a_warning() {
        let x = LITIGE
            .replace(">207<", ">210<")
            .replace("<ram:ReasonCode>TX_TVA_ERR</ram:ReasonCode>", "");
        let p = parse(x.as_bytes());
        assert_eq!(p.message.unwrap().statuses[0].code, 210);
        assert!(p
            .diagnostics
            .iter()
            .any(|d| d.rule == "CDAR-REASON" && d.severity == Severity::Warning));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_mutations(cut in 0usize..3000, byte in proptest::prelude::any::<u8>()) {
            let mut b = write(&encaissee()).into_bytes();
            let i = cut % b.len();
            b[i] = byte;
            let _ = parse(&b);
            let _ = parse(&b[..i]);
        }
    }
}
