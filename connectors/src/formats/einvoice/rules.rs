//! EN 16931 business rules relance checks, with their official ids, and the French SIREN key.
//! Amounts are compared at the cent, as EN 16931 rounds document totals to two decimals.

use super::{Document, Format};
use crate::formats::diag::{Diagnostic, Severity};
use relance_core::money::round_cents;
use relance_core::siren::luhn_valid;
use rust_decimal::Decimal;

fn e(rule: &str, path: &str, msg: String) -> Diagnostic {
    Diagnostic::new(Severity::Error, rule, path, msg)
}

/// Profiles without lines (Factur-X MINIMUM and BASIC WL): line rules do not apply.
fn has_lines_profile(profile: Option<&str>) -> bool {
    !matches!(profile, Some("MINIMUM") | Some("BASIC WL"))
}

/// Checks a document; returns the findings. `invalid` lists the business terms whose value
/// was present but unreadable (already reported by the reader): they are not called missing.
pub fn check(
    d: &Document,
    format: Option<Format>,
    profile: Option<&str>,
    invalid: &[&str],
) -> Vec<Diagnostic> {
    let ubl = format == Some(Format::Ubl);
    let p = |cii: &str, u: &str| if ubl { u.to_owned() } else { cii.to_owned() };
    let mut out = Vec::new();
    let mut need = |ok: bool, rule: &str, path: String, what: &str| {
        let reported = invalid.iter().any(|bt| what.contains(&format!("({bt})")));
        if !ok && !reported {
            out.push(e(rule, &path, format!("{what} is missing")));
        }
    };
    need(
        d.specification.is_some(),
        "BR-01",
        p(
            "ExchangedDocumentContext/GuidelineSpecifiedDocumentContextParameter/ID",
            "CustomizationID",
        ),
        "the specification identifier (BT-24)",
    );
    need(
        d.number.is_some(),
        "BR-02",
        p("ExchangedDocument/ID", "ID"),
        "the invoice number (BT-1)",
    );
    need(
        d.issue_date.is_some(),
        "BR-03",
        p("ExchangedDocument/IssueDateTime", "IssueDate"),
        "the issue date (BT-2)",
    );
    need(
        d.type_code.is_some(),
        "BR-04",
        p("ExchangedDocument/TypeCode", "InvoiceTypeCode"),
        "the type code (BT-3)",
    );
    need(
        d.currency.is_some(),
        "BR-05",
        p(
            "ApplicableHeaderTradeSettlement/InvoiceCurrencyCode",
            "DocumentCurrencyCode",
        ),
        "the currency (BT-5)",
    );
    need(
        d.seller.name.is_some(),
        "BR-06",
        p(
            "SellerTradeParty/Name",
            "AccountingSupplierParty/Party/PartyLegalEntity/RegistrationName",
        ),
        "the seller name (BT-27)",
    );
    need(
        d.buyer.name.is_some(),
        "BR-07",
        p(
            "BuyerTradeParty/Name",
            "AccountingCustomerParty/Party/PartyLegalEntity/RegistrationName",
        ),
        "the buyer name (BT-44)",
    );
    if has_lines_profile(profile) {
        need(
            d.seller.has_address,
            "BR-08",
            p(
                "SellerTradeParty/PostalTradeAddress",
                "AccountingSupplierParty/Party/PostalAddress",
            ),
            "the seller postal address (BG-5)",
        );
        need(
            d.buyer.has_address,
            "BR-10",
            p(
                "BuyerTradeParty/PostalTradeAddress",
                "AccountingCustomerParty/Party/PostalAddress",
            ),
            "the buyer postal address (BG-8)",
        );
        need(
            d.line_total.is_some(),
            "BR-12",
            p(
                "SpecifiedTradeSettlementHeaderMonetarySummation/LineTotalAmount",
                "LegalMonetaryTotal/LineExtensionAmount",
            ),
            "the sum of line net amounts (BT-106)",
        );
        need(
            !d.lines.is_empty(),
            "BR-16",
            p("IncludedSupplyChainTradeLineItem", "InvoiceLine"),
            "at least one invoice line (BG-25)",
        );
    }
    need(
        d.total_without_vat.is_some(),
        "BR-13",
        p(
            "SpecifiedTradeSettlementHeaderMonetarySummation/TaxBasisTotalAmount",
            "LegalMonetaryTotal/TaxExclusiveAmount",
        ),
        "the total without VAT (BT-109)",
    );
    need(
        d.total_with_vat.is_some(),
        "BR-14",
        p(
            "SpecifiedTradeSettlementHeaderMonetarySummation/GrandTotalAmount",
            "LegalMonetaryTotal/TaxInclusiveAmount",
        ),
        "the total with VAT (BT-112)",
    );
    need(
        d.amount_due.is_some(),
        "BR-15",
        p(
            "SpecifiedTradeSettlementHeaderMonetarySummation/DuePayableAmount",
            "LegalMonetaryTotal/PayableAmount",
        ),
        "the amount due for payment (BT-115)",
    );

    let c = |x: Decimal| round_cents(x);
    let sums = p(
        "SpecifiedTradeSettlementHeaderMonetarySummation",
        "LegalMonetaryTotal",
    );
    // BR-CO-10: BT-106 = Σ BT-131.
    if let (Some(total), false) = (d.line_total, d.lines.is_empty()) {
        if d.lines.iter().all(|l| l.net_amount.is_some()) {
            let s: Decimal = d.lines.iter().filter_map(|l| l.net_amount).sum();
            if c(s) != c(total) {
                out.push(e(
                    "BR-CO-10",
                    &sums,
                    format!("sum of line net amounts (BT-106) is {total}, the lines add up to {s}"),
                ));
            }
        }
    }
    // BR-CO-13: BT-109 = BT-106 − BT-107 + BT-108.
    if let (Some(l), Some(t)) = (d.line_total, d.total_without_vat) {
        let expected = l - d.allowances.unwrap_or_default() + d.charges.unwrap_or_default();
        if c(expected) != c(t) {
            out.push(e("BR-CO-13", &sums, format!("total without VAT (BT-109) is {t}, expected {expected} = BT-106 {l} − allowances + charges")));
        }
    }
    // BR-CO-15: BT-112 = BT-109 + BT-110.
    if let (Some(ht), Some(ttc)) = (d.total_without_vat, d.total_with_vat) {
        let expected = ht + d.total_vat.unwrap_or_default();
        if c(expected) != c(ttc) {
            out.push(e("BR-CO-15", &sums, format!("total with VAT (BT-112) is {ttc}, expected {expected} = BT-109 {ht} + BT-110 {}", d.total_vat.unwrap_or_default())));
        }
    }
    // BR-CO-16: BT-115 = BT-112 − BT-113 + BT-114.
    if let (Some(ttc), Some(due)) = (d.total_with_vat, d.amount_due) {
        let expected = ttc - d.prepaid.unwrap_or_default() + d.rounding.unwrap_or_default();
        if c(expected) != c(due) {
            out.push(e("BR-CO-16", &sums, format!("amount due (BT-115) is {due}, expected {expected} = BT-112 {ttc} − prepaid + rounding")));
        }
    }
    // BR-CO-17: VAT category tax amount = taxable amount × rate / 100, rounded to 2 decimals.
    // CEN's validation artefacts accept a tax amount within 1.00 of that (in absolute value,
    // bounds included), and require a tax that rounds to zero when the rate is zero: inside
    // the tolerance a difference is a warning, never an error.
    let vat_path = p(
        "ApplicableHeaderTradeSettlement/ApplicableTradeTax",
        "TaxTotal/TaxSubtotal",
    );
    for (i, v) in d.vat.iter().enumerate() {
        if let (Some(base), Some(rate), Some(tax)) = (v.taxable, v.rate, v.tax) {
            let at = format!("{vat_path}[{}]", i + 1);
            let cat = v.category.as_deref().unwrap_or("?");
            let expected = c(base.abs() * rate / Decimal::ONE_HUNDRED);
            if rate.is_zero() {
                if !tax.round().is_zero() {
                    out.push(e(
                        "BR-CO-17",
                        &at,
                        format!("VAT amount {tax} of category {cat} at a 0 % rate should be 0"),
                    ));
                }
                continue;
            }
            // Shown with the sign of the taxable amount (credit notes written negative).
            let sign = if base.is_sign_negative() {
                -Decimal::ONE
            } else {
                Decimal::ONE
            };
            let diff = tax.abs() - expected;
            let (shown, shown_diff) = (expected * sign, diff * sign);
            if diff.abs() > Decimal::ONE {
                out.push(e("BR-CO-17", &at, format!("VAT amount {tax} of category {cat} at {rate} % on {base} should be {shown} (difference {shown_diff}, beyond the 1.00 the rule allows)")));
            } else if !diff.is_zero() {
                out.push(Diagnostic::new(
                    Severity::Warning,
                    "BR-CO-17",
                    &at,
                    format!("VAT amount {tax} of category {cat} at {rate} % on {base} differs from {shown} by {shown_diff}, within the 1.00 the rule allows"),
                ));
            }
        }
    }
    // French SIREN key.
    for (who, party) in [("seller", &d.seller), ("buyer", &d.buyer)] {
        if let Some(s) = &party.siren {
            if !(s.len() == 9 && luhn_valid(s)) {
                out.push(Diagnostic::new(
                    Severity::Warning,
                    "FR-SIREN",
                    who,
                    format!("{who} SIREN {s} fails the Luhn check"),
                ));
            }
        }
    }
    out
}
