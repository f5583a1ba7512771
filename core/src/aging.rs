//! Aged balance (buckets not due / 0–30 / 31–60 / 61–90 / 91–180 / >180 days) and DSO.

use crate::money::{Currency, Money};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One open amount to age.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgingItem {
    /// Due date of the open amount.
    pub due_date: NaiveDate,
    /// Open amount (negative for an unapplied credit note).
    pub open: Money,
}

/// Open receivables split by days past due, as of a date.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgedBalance {
    /// Not yet due.
    pub not_due: Decimal,
    /// 0 to 30 days past due (due today counts as 0).
    pub days_0_30: Decimal,
    /// 31 to 60 days past due.
    pub days_31_60: Decimal,
    /// 61 to 90 days past due.
    pub days_61_90: Decimal,
    /// 91 to 180 days past due.
    pub days_91_180: Decimal,
    /// More than 180 days past due.
    pub over_180: Decimal,
    /// Sum of all buckets.
    pub total: Decimal,
    /// Items in another currency than the balance's, which are left out.
    pub skipped_other_currency: usize,
}

impl AgedBalance {
    /// Ages `items` as of `today` in `currency`; items in another currency are counted apart.
    pub fn compute(items: &[AgingItem], today: NaiveDate, currency: Currency) -> Self {
        let mut b = AgedBalance::default();
        for it in items {
            if it.open.currency != currency {
                b.skipped_other_currency += 1;
                continue;
            }
            let late = (today - it.due_date).num_days();
            let amt = it.open.amount;
            let slot = match late {
                i64::MIN..=-1 => &mut b.not_due,
                0..=30 => &mut b.days_0_30,
                31..=60 => &mut b.days_31_60,
                61..=90 => &mut b.days_61_90,
                91..=180 => &mut b.days_91_180,
                _ => &mut b.over_180,
            };
            *slot += amt;
            b.total += amt;
        }
        b
    }
}

/// Days sales outstanding by the count-back-free method: open receivables / sales over the
/// period × days in the period. `None` when there were no sales.
pub fn dso(
    open_receivables: Decimal,
    sales_in_period: Decimal,
    period_days: u32,
) -> Option<Decimal> {
    if sales_in_period <= Decimal::ZERO {
        return None;
    }
    Some((open_receivables / sales_in_period * Decimal::from(period_days)).round_dp(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn buckets_at_their_edges() {
        let today = d(2026, 6, 30);
        let item = |due, a| AgingItem {
            due_date: due,
            open: Money::eur(a),
        };
        let items = vec![
            item(d(2026, 7, 1), dec!(1)),
            item(d(2026, 6, 30), dec!(2)),
            item(d(2026, 5, 31), dec!(4)),   // 30 days
            item(d(2026, 5, 30), dec!(8)),   // 31 days
            item(d(2026, 4, 1), dec!(16)),   // 90 days
            item(d(2026, 3, 31), dec!(32)),  // 91 days
            item(d(2025, 12, 31), dec!(64)), // 181 days
        ];
        let b = AgedBalance::compute(&items, today, Currency::EUR);
        assert_eq!(b.not_due, dec!(1));
        assert_eq!(b.days_0_30, dec!(6));
        assert_eq!(b.days_31_60, dec!(8));
        assert_eq!(b.days_61_90, dec!(16));
        assert_eq!(b.days_91_180, dec!(32));
        assert_eq!(b.over_180, dec!(64));
        assert_eq!(b.total, dec!(127));
    }

    #[test]
    fn dso_is_open_over_sales_times_days() {
        assert_eq!(dso(dec!(50000), dec!(100000), 90), Some(dec!(45.0)));
        assert_eq!(dso(dec!(1), dec!(0), 90), None);
    }
}
