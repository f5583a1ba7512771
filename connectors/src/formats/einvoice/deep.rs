//! Deep validation (cargo feature `en16931-rules`, off by default): the EN 16931 business
//! rules as the `en16931` crate implements them (CEN's core rule set, plus the CIUS rules of
//! the declared profile: XRechnung, Peppol BIS 3, Factur-X/ZUGFeRD), run on the invoice XML
//! through `en16931_formats::receive`, and reported as relance diagnostics with the rule id,
//! a severity and the EN 16931 path (`BG-16/BT-84`).
//!
//! It is a second reading of the same bytes, about as costly as relance's own parse: keep it
//! for files a person will look at, not for bulk ingestion. Its findings never make a file
//! unusable (at worst `Error`, which policy weighs); a rule relance checks itself is left to
//! relance's own diagnostic.
//!
//! Two findings of en16931-formats 0.8 are dropped because its reader, not the invoice, is
//! wrong: `BR-61` when relance read a payee account (BT-84) — its CII reader discards the
//! credit-transfer accounts when a direct-debit mandate, creditor id or debtor account is also
//! present — and `BR-49` on a CII invoice with no `ram:SpecifiedTradeSettlementPaymentMeans`,
//! which CEN's CII artefacts check only on that element (the crate builds BG-16 from a bare
//! `ram:PaymentReference`).

use super::xml::Node;
use super::{Format, ParsedFile};
use crate::formats::diag::{Diagnostic, Severity};
use en16931_formats::report::Kind;
use en16931_formats::{receive, Policy};

/// Rule id of the notes this pass adds about itself (not checked, or not readable).
pub const RULE: &str = "EN16931-RULES";

fn severity(s: en16931::Severity) -> Severity {
    match s {
        en16931::Severity::Fatal => Severity::Error,
        en16931::Severity::Warning => Severity::Warning,
        en16931::Severity::Info => Severity::Info,
    }
}

/// Runs the rule set on `xml` (the invoice itself, or the XML embedded in a PDF) and appends
/// its findings to `out`, which holds relance's own reading of the same bytes (`root`).
pub(super) fn append(xml: &[u8], root: &Node, out: &mut ParsedFile) {
    if out.format == Some(Format::Zugferd1) {
        out.diagnostics.push(Diagnostic::new(
            Severity::Info,
            RULE,
            "",
            "ZUGFeRD 1.0 is outside the EN 16931 rule set: only relance's own checks ran",
        ));
        return;
    }
    let got = receive(xml, &Policy::default());
    let report = &got.report_declared;
    if got.invoice.is_none() {
        let why = report
            .syntax
            .entries
            .iter()
            .chain(&report.container.entries)
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        out.diagnostics.push(Diagnostic::new(
            Severity::Info,
            RULE,
            "",
            format!("the EN 16931 rule set did not run: {why}"),
        ));
        return;
    }
    let has_iban = out.documents.iter().any(|d| d.iban.is_some());
    let cii_without_means = out.format == Some(Format::Cii)
        && root
            .path(&[
                "SupplyChainTradeTransaction",
                "ApplicableHeaderTradeSettlement",
                "SpecifiedTradeSettlementPaymentMeans",
            ])
            .is_none();
    let ours: Vec<String> = out.diagnostics.iter().map(|d| d.rule.clone()).collect();
    let profile = report
        .rule_set
        .as_ref()
        .map_or_else(|| "EN 16931".to_owned(), |r| r.profile.clone());
    for e in report.schema.entries.iter().chain(&report.syntax.entries) {
        if !matches!(e.kind, Kind::Duplicate | Kind::Malformed) {
            continue;
        }
        let rule = e
            .rule
            .clone()
            .unwrap_or_else(|| format!("{RULE}-{}", e.kind.as_str().to_ascii_uppercase()));
        let value = e
            .value
            .as_deref()
            .map_or(String::new(), |v| format!(" (value {v:?})"));
        out.diagnostics.push(Diagnostic::new(
            Severity::Warning,
            rule,
            e.path.clone(),
            format!("{}{value}", e.message),
        ));
    }
    let findings = report.semantic.report.iter().flat_map(|r| r.findings());
    for f in findings {
        let known_reader_gap =
            (f.rule == "BR-61" && has_iban) || (f.rule == "BR-49" && cii_without_means);
        if known_reader_gap || ours.contains(&f.rule) {
            continue;
        }
        let mut message = f.message.clone();
        if let Some(d) = &f.detail {
            message.push_str(&format!(" (expected {}, found {})", d.expected, d.actual));
        }
        if let Some(h) = &f.hint {
            message.push_str(&format!(" [{h}]"));
        }
        message.push_str(&format!(" [{profile}]"));
        out.diagnostics.push(Diagnostic::new(
            severity(f.severity),
            f.rule.clone(),
            f.path.to_string(),
            message,
        ));
    }
}
