//! The provision base (amount without VAT still due) and the rate: the policy matrix or a
//! person's override.

use super::classify::Facts;
use super::events::RateOverride;
use super::policy::{Policy, RateRow};
use crate::ids::InvoiceId;
use crate::model::Invoice;
use crate::money::round_cents;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An amount tax included split into its part without VAT and its VAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Without VAT (HT).
    pub ht: Decimal,
    /// VAT.
    pub vat: Decimal,
}

/// Splits `ttc` (what remains due on `invoice`, tax included) by the invoice's own HT/TTC
/// ratio. Rounding rule: HT = TTC × total HT / total TTC rounded to the cent, half away from
/// zero; VAT = TTC − HT, so HT + VAT is always exactly TTC, and the full open amount gives
/// back the invoice's own HT and VAT. An invoice with a zero total is all HT.
pub fn split_ttc(ttc: Decimal, invoice: &Invoice) -> Split {
    if invoice.total_with_vat.is_zero() || ttc == invoice.total_with_vat {
        if invoice.total_with_vat.is_zero() {
            return Split {
                ht: ttc,
                vat: Decimal::ZERO,
            };
        }
        return Split {
            ht: invoice.total_without_vat,
            vat: invoice.total_vat,
        };
    }
    let ht = round_cents(ttc * invoice.total_without_vat / invoice.total_with_vat);
    Split { ht, vat: ttc - ht }
}

/// The allowance for a base and a rate, rounded to the cent half away from zero.
pub fn allowance(base_ht: Decimal, rate: Decimal) -> Decimal {
    round_cents(base_ht * rate)
}

/// Where a rate came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateChoice {
    /// The rate, between 0 and 1.
    pub rate: Decimal,
    /// The rule: a matrix row id, "override", or "none" when no row matched.
    pub rule: String,
    /// Why, in words (row conditions, or who overrode and why).
    pub detail: String,
    /// The override used, if any.
    pub overridden: Option<RateOverride>,
}

fn row_matches(row: &RateRow, f: &Facts) -> bool {
    row.procedure.is_none_or(|p| f.procedure == Some(p))
        && row.min_stage.is_none_or(|s| f.stage >= s)
        && row
            .min_days_overdue
            .is_none_or(|d| f.days_overdue >= i64::from(d))
        && row.dispute.is_none_or(|d| f.disputed == d)
}

fn row_conditions(row: &RateRow) -> String {
    let mut c = Vec::new();
    if let Some(p) = row.procedure {
        c.push(format!("procedure = {}", p.as_str()));
    }
    if let Some(s) = row.min_stage {
        c.push(format!("stage >= {}", s.as_str()));
    }
    if let Some(d) = row.min_days_overdue {
        c.push(format!("days overdue >= {d}"));
    }
    if let Some(d) = row.dispute {
        c.push(format!("dispute = {d}"));
    }
    if c.is_empty() {
        "any".to_owned()
    } else {
        c.join(", ")
    }
}

/// The latest override for `invoice` decided on or before `closing` (later in the list wins
/// on the same date).
pub fn applicable_override<'a>(
    overrides: &'a [RateOverride],
    invoice: &InvoiceId,
    closing: NaiveDate,
) -> Option<&'a RateOverride> {
    overrides
        .iter()
        .filter(|o| &o.invoice == invoice && o.date <= closing)
        .fold(None, |best: Option<&RateOverride>, o| match best {
            Some(b) if b.date > o.date => Some(b),
            _ => Some(o),
        })
}

/// Chooses the rate: a person's override if one applies, else the matching matrix row with
/// the highest rate (first listed on ties), else 0 under rule "none".
pub fn choose_rate(
    policy: &Policy,
    facts: &Facts,
    overrides: &[RateOverride],
    invoice: &InvoiceId,
    closing: NaiveDate,
) -> RateChoice {
    if let Some(o) = applicable_override(overrides, invoice, closing) {
        return RateChoice {
            rate: o.rate,
            rule: "override".to_owned(),
            detail: format!(
                "override {} by {} on {}: {}",
                o.rate, o.by, o.date, o.reason
            ),
            overridden: Some(o.clone()),
        };
    }
    let mut best: Option<&RateRow> = None;
    for row in policy.rates.iter().filter(|r| row_matches(r, facts)) {
        if best.is_none_or(|b| row.rate > b.rate) {
            best = Some(row);
        }
    }
    match best {
        Some(row) => RateChoice {
            rate: row.rate,
            rule: row.id.clone(),
            detail: format!(
                "matrix row {} ({}) rate {}",
                row.id,
                row_conditions(row),
                row.rate
            ),
            overridden: None,
        },
        None => RateChoice {
            rate: Decimal::ZERO,
            rule: "none".to_owned(),
            detail: "no matrix row matches: no allowance".to_owned(),
            overridden: None,
        },
    }
}
