//! Sending days: business days and French public holidays (metropolitan list).
//!
//! Fixed holidays: 1 Jan, 1 May, 8 May, 14 Jul, 15 Aug, 1 Nov, 11 Nov, 25 Dec; movable ones
//! from Easter Sunday: Easter Monday (+1), Ascension (+39), Whit Monday (+50) (C. trav.
//! L3133-1). Alsace-Moselle's extra days are not included.

use crate::dunning::policy::SendingPolicy;
use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Easter Sunday of a year (anonymous Gregorian algorithm).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// True for a French public holiday.
pub fn is_french_holiday(d: NaiveDate) -> bool {
    let fixed = [
        (1, 1),
        (5, 1),
        (5, 8),
        (7, 14),
        (8, 15),
        (11, 1),
        (11, 11),
        (12, 25),
    ];
    if fixed.contains(&(d.month(), d.day())) {
        return true;
    }
    easter(d.year()).is_some_and(|e| [1, 39, 50].iter().any(|n| e + Duration::days(*n) == d))
}

/// True when actions may go out on `d` under the policy.
pub fn is_sending_day(d: NaiveDate, p: &SendingPolicy) -> bool {
    if p.business_days_only && matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        return false;
    }
    !(p.skip_french_holidays && is_french_holiday(d))
}

/// The first sending day on or after `d` (at most 14 days later: a policy cannot close
/// more than that in a row, since weekends and holidays never add up to two weeks).
pub fn next_sending_day(d: NaiveDate, p: &SendingPolicy) -> NaiveDate {
    (0..15)
        .map(|n| d + Duration::days(n))
        .find(|x| is_sending_day(*x, p))
        .unwrap_or(d)
}
