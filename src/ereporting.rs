//! E-reporting of payment data: the period's receipts not lettered to an invoice.
//!
//! What the rules say (connector-apis.md, corrections; french-rules.md §5.3): for services
//! whose VAT is due on receipt, the seller transmits payment data — for a domestic B2B
//! e-invoice as its "212 Encaissée" (sent by [`crate::einvoicing`]), otherwise by e-reporting;
//! **receipts not lettered by the due date are reported in aggregate for the period and
//! corrected in the next report by what was lettered since**. Payment data go monthly under
//! the régime réel (normal or simplifié), every two months under the franchise en base.
//!
//! [`report`] computes that report from the store's receipts and allocations: for a period
//! of one or two calendar months,
//!
//! - **unlettered**: the credits booked in the period (reversals and debits left out) that no
//!   allocation relance applied had lettered to an invoice by the cut-off, one by one and
//!   totalled per currency;
//! - **corrections**: the credits booked in the previous period of the same length that were
//!   not lettered by its cut-off and were lettered since, up to this report's cut-off — what
//!   the previous report's aggregate overstated.
//!
//! The cut-off is the end of the period unless one is given (the "due date" is not defined
//! further in the sources: give the one your platform applies); the previous period's
//! cut-off is always its end. When an allocation was lettered is when relance recorded it
//! (its `decided_at`: the cycle's date). Amounts are with VAT: an unlettered receipt has no
//! invoice, so no VAT rate to split it by. The report is not transmitted: the e-reporting
//! flow's content (XP Z12-013 `flowSyntax` FRR) is not described in the sources.

use chrono::{Datelike, NaiveDate};
use relance_core::{Receipt, TransactionId};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One allocation as the report reads it: the receipt, the invoice, the amount, whether
/// relance applies it (a suggestion letters nothing) and the day it was recorded.
#[derive(Clone, Debug)]
pub struct Lettering {
    /// The receipt's transaction.
    pub transaction: TransactionId,
    /// The invoice's number or id.
    pub invoice: String,
    /// Amount lettered.
    pub amount: Decimal,
    /// Applied (not a suggestion).
    pub auto: bool,
    /// The day relance recorded it.
    pub on: NaiveDate,
}

/// A reporting period: calendar months, first and last day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First day.
    pub start: NaiveDate,
    /// Last day (included).
    pub end: NaiveDate,
}

impl Period {
    /// The `months` calendar months from the month of `start` (1 under the régime réel, 2
    /// under the franchise en base).
    pub fn months(start: NaiveDate, months: u32) -> Option<Period> {
        let first = start.with_day(1)?;
        let next = relance_core::dunning::pause::add_months(first, months.max(1));
        Some(Period {
            start: first,
            end: next.pred_opt()?,
        })
    }

    /// The period of the same length just before.
    pub fn previous(&self) -> Option<Period> {
        let months = (self.end.year() - self.start.year()) * 12 + self.end.month() as i32
            - self.start.month() as i32
            + 1;
        let months = u32::try_from(months).ok()?;
        let mut y = self.start.year();
        let mut m = self.start.month() as i32 - months as i32;
        while m < 1 {
            m += 12;
            y -= 1;
        }
        Period::months(
            NaiveDate::from_ymd_opt(y, u32::try_from(m).ok()?, 1)?,
            months,
        )
    }

    fn holds(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end
    }
}

/// One receipt in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The receipt's transaction id.
    pub transaction: String,
    /// Its booking date.
    pub booking_date: NaiveDate,
    /// Its amount (with VAT).
    pub amount: Decimal,
    /// Its currency.
    pub currency: String,
    /// The payer, as the bank names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// When relance lettered it (corrections only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lettered_on: Option<NaiveDate>,
    /// The invoices it was lettered to (corrections only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invoices: Vec<String>,
}

/// The period's report of receipts not lettered by the cut-off, and the corrections of the
/// previous period's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The period reported.
    pub period: Period,
    /// Receipts not lettered by this day are reported.
    pub cutoff: NaiveDate,
    /// Credits of the period not lettered by the cut-off.
    pub unlettered: Vec<Item>,
    /// Their total per currency.
    pub unlettered_total: BTreeMap<String, Decimal>,
    /// The previous period, whose aggregate the corrections amend.
    pub previous_period: Period,
    /// Credits of the previous period unlettered at its end, lettered since (by the cut-off).
    pub corrections: Vec<Item>,
    /// Their total per currency.
    pub corrections_total: BTreeMap<String, Decimal>,
    /// The rule applied, with its source.
    pub rule: String,
}

/// The report of `period` (cut-off `cutoff`, default its end) from the company's receipts
/// and allocations. `None` when the previous period cannot be dated.
pub fn report(
    receipts: &[Receipt],
    letterings: &[Lettering],
    period: Period,
    cutoff: Option<NaiveDate>,
) -> Option<Report> {
    let cutoff = cutoff.unwrap_or(period.end);
    let previous = period.previous()?;
    // the first day each receipt was lettered, and to what (up to the cut-off)
    let mut first: HashMap<&str, NaiveDate> = HashMap::new();
    let mut to: HashMap<&str, Vec<String>> = HashMap::new();
    for l in letterings
        .iter()
        .filter(|l| l.auto && l.amount > Decimal::ZERO && l.on <= cutoff)
    {
        let t = l.transaction.as_str();
        first
            .entry(t)
            .and_modify(|d| *d = (*d).min(l.on))
            .or_insert(l.on);
        let v = to.entry(t).or_default();
        if !v.contains(&l.invoice) {
            v.push(l.invoice.clone());
        }
    }
    let item = |r: &Receipt, lettered: bool| Item {
        transaction: r.id.to_string(),
        booking_date: r.booking_date,
        amount: r.amount,
        currency: r.currency.to_string(),
        payer: r.counterparty_name.clone(),
        lettered_on: lettered
            .then(|| first.get(r.id.as_str()).copied())
            .flatten(),
        invoices: if lettered {
            to.get(r.id.as_str()).cloned().unwrap_or_default()
        } else {
            Vec::new()
        },
    };
    let credits = receipts
        .iter()
        .filter(|r| r.amount > Decimal::ZERO && !r.reversal);
    let mut unlettered = Vec::new();
    let mut corrections = Vec::new();
    for r in credits {
        let on = first.get(r.id.as_str()).copied();
        if period.holds(r.booking_date) && on.is_none_or(|d| d > cutoff) {
            unlettered.push(item(r, false));
        } else if previous.holds(r.booking_date) && on.is_some_and(|d| d > previous.end) {
            corrections.push(item(r, true));
        }
    }
    let order = |a: &Item, b: &Item| {
        (a.booking_date, &a.transaction).cmp(&(b.booking_date, &b.transaction))
    };
    unlettered.sort_by(order);
    corrections.sort_by(order);
    let total = |items: &[Item]| {
        let mut t: BTreeMap<String, Decimal> = BTreeMap::new();
        for i in items {
            *t.entry(i.currency.clone()).or_default() += i.amount;
        }
        t
    };
    Some(Report {
        period,
        cutoff,
        unlettered_total: total(&unlettered),
        unlettered,
        previous_period: previous,
        corrections_total: total(&corrections),
        corrections,
        rule: "e-reporting of payment data (VAT on receipts for services): receipts not lettered by the due date are reported in aggregate for the period and corrected in the next report by what was lettered since (connector-apis.md corrections, after assistance.jefacture.com 9868847167900; french-rules.md §5.3: monthly under the régime réel, every two months under the franchise en base)".into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rust_decimal_macros::dec;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn receipt(id: &str, on: NaiveDate, amount: Decimal) -> Receipt {
        Receipt {
            id: id.into(),
            account: "FR76".into(),
            booking_date: on,
            value_date: None,
            amount,
            currency: relance_core::Currency::parse("EUR").unwrap(),
            counterparty_name: Some("Payeur SA".into()),
            counterparty_iban: None,
            remittance: String::new(),
            structured_ref: None,
            end_to_end_id: None,
            mandate_id: None,
            bank_code: None,
            return_reason: None,
            reversal: false,
            source: "bank".into(),
        }
    }

    fn letter(tx: &str, inv: &str, on: NaiveDate, auto: bool) -> Lettering {
        Lettering {
            transaction: tx.into(),
            invoice: inv.into(),
            amount: dec!(100),
            auto,
            on,
        }
    }

    #[test]
    fn periods_of_one_and_two_months() {
        let p = Period::months(d(3, 15), 1).unwrap();
        assert_eq!((p.start, p.end), (d(3, 1), d(3, 31)));
        assert_eq!(p.previous().unwrap().end, d(2, 28));
        let p = Period::months(d(1, 1), 2).unwrap();
        assert_eq!((p.start, p.end), (d(1, 1), d(2, 28)));
        let prev = p.previous().unwrap();
        assert_eq!(
            (prev.start, prev.end),
            (
                NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(),
                NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
            )
        );
    }

    #[test]
    fn unlettered_by_the_cutoff_and_corrections_of_the_previous_period() {
        let receipts = vec![
            receipt("A", d(3, 5), dec!(100)),  // lettered in March
            receipt("B", d(3, 20), dec!(250)), // lettered in April: unlettered for March
            receipt("C", d(3, 25), dec!(40)),  // only a suggestion
            receipt("D", d(2, 10), dec!(70)),  // February, lettered in March: a correction
            receipt("E", d(2, 11), dec!(30)),  // February, lettered in February
            receipt("F", d(3, 6), dec!(-20)),  // a debit: not a receipt to report
        ];
        let l = vec![
            letter("A", "F1", d(3, 6), true),
            letter("B", "F2", d(4, 3), true),
            letter("C", "F3", d(3, 26), false),
            letter("D", "F4", d(3, 2), true),
            letter("E", "F5", d(2, 12), true),
        ];
        let march = Period::months(d(3, 1), 1).unwrap();
        let r = report(&receipts, &l, march, None).unwrap();
        let ids = |v: &[Item]| v.iter().map(|i| i.transaction.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&r.unlettered), ["B", "C"]);
        assert_eq!(r.unlettered_total["EUR"], dec!(290));
        assert_eq!(ids(&r.corrections), ["D"]);
        assert_eq!(r.corrections[0].invoices, ["F4"]);
        assert_eq!(r.corrections[0].lettered_on, Some(d(3, 2)));
        // a later cut-off (the platform's due date) counts B as lettered in time
        let r = report(&receipts, &l, march, Some(d(4, 10))).unwrap();
        assert_eq!(ids(&r.unlettered), ["C"]);
        // April's report corrects March by B
        let april = Period::months(d(4, 1), 1).unwrap();
        let r = report(&receipts, &l, april, None).unwrap();
        assert!(r.unlettered.is_empty());
        assert_eq!(ids(&r.corrections), ["B"]);
        assert_eq!(r.corrections_total["EUR"], dec!(250));
    }
}
