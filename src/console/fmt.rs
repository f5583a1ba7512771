//! How the console writes numbers, amounts and dates: French by default (`1 234,56 €`,
//! `03/12/2026`), English for users who chose it (`€1,234.56`, `2026-12-03`), and the few words
//! both languages need.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

/// A user's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    /// French (the default).
    #[default]
    Fr,
    /// English.
    En,
}

impl Lang {
    /// `fr` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The language of a code; French for anything else.
    pub fn from_code(code: &str) -> Lang {
        if code.eq_ignore_ascii_case("en") {
            Lang::En
        } else {
            Lang::Fr
        }
    }

    /// The French or the English text.
    pub fn t(self, fr: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }

    /// A date: `03/12/2026` in French, `2026-12-03` in English.
    pub fn date(self, d: NaiveDate) -> String {
        match self {
            Lang::Fr => d.format("%d/%m/%Y").to_string(),
            Lang::En => d.format("%Y-%m-%d").to_string(),
        }
    }

    /// An instant, as a date and a time (UTC).
    pub fn datetime(self, t: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            Lang::Fr => t.format("%d/%m/%Y %H:%M").to_string(),
            Lang::En => t.format("%Y-%m-%d %H:%M").to_string(),
        }
    }

    /// A number with two decimals: `1 234,56` (narrow no-break spaces) or `1,234.56`.
    pub fn number(self, v: Decimal) -> String {
        let (group, point) = match self {
            Lang::Fr => ('\u{202f}', ','),
            Lang::En => (',', '.'),
        };
        grouped(v, 2, group, point)
    }

    /// An amount in a currency: `1 234,56 €` or `€1,234.56` (other currencies by their code).
    pub fn money(self, v: Decimal, currency: &str) -> String {
        let n = self.number(v.abs());
        let sign = if v.is_sign_negative() && !v.is_zero() {
            "-"
        } else {
            ""
        };
        match (self, currency) {
            (Lang::Fr, "EUR") => format!("{sign}{n}\u{a0}€"),
            (Lang::En, "EUR") => format!("{sign}€{n}"),
            (_, c) => format!("{sign}{n}\u{a0}{c}"),
        }
    }

    /// A rate in [0, 1] as a percentage: `50 %` or `50%`.
    pub fn percent(self, rate: Decimal) -> String {
        let p = (rate * Decimal::ONE_HUNDRED).normalize();
        let (group, point) = match self {
            Lang::Fr => ('\u{202f}', ','),
            Lang::En => (',', '.'),
        };
        let dp = p.scale().min(2);
        let text = grouped(p, dp, group, point);
        match self {
            Lang::Fr => format!("{text}\u{a0}%"),
            Lang::En => format!("{text}%"),
        }
    }
}

/// `v` rounded half away from zero to `dp` decimals, with `group` between thousands and
/// `point` before the decimals.
fn grouped(v: Decimal, dp: u32, group: char, point: char) -> String {
    let r = v.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.*}", dp as usize, r.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    if r.is_sign_negative() && !r.is_zero() {
        out.push('-');
    }
    let digits: Vec<char> = int.chars().collect();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(group);
        }
        out.push(*c);
    }
    if !frac.is_empty() {
        out.push(point);
        out.push_str(frac);
    }
    out
}

/// Reads an amount typed by a person: `1 234,56`, `1234.56`, `1,234.56` or `-12,5`.
pub fn parse_amount(text: &str) -> Option<Decimal> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{202f}' && *c != '\u{a0}' && *c != '€')
        .collect();
    if t.is_empty() {
        return None;
    }
    let normal = match (t.rfind(','), t.rfind('.')) {
        // Both: the last one is the decimal point, the other groups thousands.
        (Some(c), Some(p)) if c > p => t.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => t.replace(',', ""),
        (Some(_), None) => t.replace(',', "."),
        _ => t,
    };
    normal.parse().ok()
}

/// Reads a date typed by a person or sent by a date input: `2026-12-03` or `03/12/2026`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t, "%d/%m/%Y"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn french_and_english_formats() {
        assert_eq!(
            Lang::Fr.money(dec!(1234.56), "EUR"),
            "1\u{202f}234,56\u{a0}€"
        );
        assert_eq!(Lang::En.money(dec!(1234.56), "EUR"), "€1,234.56");
        assert_eq!(
            Lang::Fr.money(dec!(-1234567.005), "EUR"),
            "-1\u{202f}234\u{202f}567,01\u{a0}€"
        );
        assert_eq!(Lang::Fr.money(dec!(0), "EUR"), "0,00\u{a0}€");
        assert_eq!(Lang::Fr.money(dec!(12), "USD"), "12,00\u{a0}USD");
        assert_eq!(Lang::Fr.number(dec!(999.999)), "1\u{202f}000,00");
        let d = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(Lang::Fr.date(d), "03/12/2026");
        assert_eq!(Lang::En.date(d), "2026-12-03");
        assert_eq!(Lang::Fr.percent(dec!(0.5)), "50\u{a0}%");
        assert_eq!(Lang::En.percent(dec!(0.125)), "12.5%");
    }

    #[test]
    fn typed_amounts_and_dates_are_read() {
        assert_eq!(parse_amount("1 234,56"), Some(dec!(1234.56)));
        assert_eq!(parse_amount("1\u{202f}234,56 €"), Some(dec!(1234.56)));
        assert_eq!(parse_amount("1,234.56"), Some(dec!(1234.56)));
        assert_eq!(parse_amount("1.234,56"), Some(dec!(1234.56)));
        assert_eq!(parse_amount("-12,5"), Some(dec!(-12.5)));
        assert_eq!(parse_amount(""), None);
        assert_eq!(parse_amount("abc"), None);
        let d = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
        assert_eq!(parse_date("2026-07-15"), Some(d));
        assert_eq!(parse_date("15/07/2026"), Some(d));
        assert_eq!(parse_date("15.07.2026"), None);
    }
}
