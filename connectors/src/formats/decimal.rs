//! Strict decimal numbers as the standards write them: XML Schema `xs:decimal` (CII, UBL,
//! camt) with optional digit limits. Anything else (an exponent, a decimal comma, `NaN`, a
//! thousands separator, more digits than a `Decimal` holds) is refused with the reason, so the
//! caller can name the element in its diagnostic instead of reading a wrong or missing amount.

use rust_decimal::Decimal;
use std::str::FromStr;

/// Why a text is not a decimal number of the expected syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecimalError {
    /// Empty text.
    Empty,
    /// Not the syntax: the text shown, what is wrong.
    Syntax(&'static str),
    /// More digits than allowed (or than a `Decimal` holds): the limit broken.
    TooManyDigits(String),
}

impl std::fmt::Display for DecimalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecimalError::Empty => f.write_str("it is empty"),
            DecimalError::Syntax(why) => f.write_str(why),
            DecimalError::TooManyDigits(why) => f.write_str(why),
        }
    }
}

/// Digit limits of a schema type (`totalDigits`, `fractionDigits`); `None` is unlimited
/// (still within the 28 significant digits a `Decimal` holds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Largest number of digits, integer and fraction parts together (leading zeros of the
    /// integer part and trailing zeros of the fraction are not counted, as in XML Schema).
    pub total_digits: Option<usize>,
    /// Largest number of fraction digits (trailing zeros not counted).
    pub fraction_digits: Option<usize>,
    /// Whether a sign is allowed.
    pub signed: bool,
}

impl Limits {
    /// `xs:decimal` with a sign and no digit limits (CII and UBL amounts, quantities, rates).
    pub const XSD: Limits = Limits {
        total_digits: None,
        fraction_digits: None,
        signed: true,
    };
}

/// Parses `s` (surrounding whitespace allowed, as XML Schema collapses it) as `xs:decimal`:
/// an optional sign, digits, an optional `.` and digits, at least one digit in all.
pub fn parse(s: &str, limits: Limits) -> Result<Decimal, DecimalError> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if t.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'+' | b'-' if !limits.signed => {
            return Err(DecimalError::Syntax("a sign is not allowed here"));
        }
        b'-' => ("-", &t[1..]),
        b'+' => ("", &t[1..]),
        _ => ("", t),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return Err(DecimalError::Syntax(if body.contains(',') {
            "a decimal comma is not allowed: the decimal mark is '.' and there is no thousands separator"
        } else if body.bytes().any(|c| c == b'e' || c == b'E')
            && body.bytes().any(|c| c.is_ascii_digit())
        {
            "an exponent is not allowed: write the number in full"
        } else if body.contains('.') && frac.contains('.') {
            "more than one '.'"
        } else {
            "only digits, one '.' and a leading sign are allowed"
        }));
    }
    if int.is_empty() && frac.is_empty() {
        return Err(DecimalError::Syntax("there is no digit"));
    }
    let significant_int = int.trim_start_matches('0');
    let significant_frac = frac.trim_end_matches('0');
    if let Some(n) = limits.fraction_digits {
        if significant_frac.len() > n {
            return Err(DecimalError::TooManyDigits(format!(
                "{} fraction digits, at most {n} allowed",
                significant_frac.len()
            )));
        }
    }
    let total = significant_int.len() + significant_frac.len();
    if let Some(n) = limits.total_digits {
        if total > n {
            return Err(DecimalError::TooManyDigits(format!(
                "{total} digits, at most {n} allowed"
            )));
        }
    }
    if total > 28 || int.len() + frac.len() > 60 {
        return Err(DecimalError::TooManyDigits(format!(
            "{total} significant digits, more than the 28 an amount can hold"
        )));
    }
    let text = format!(
        "{sign}{}.{}",
        if int.is_empty() { "0" } else { int },
        if frac.is_empty() { "0" } else { frac }
    );
    let mut d = Decimal::from_str(&text).map_err(|_| {
        DecimalError::TooManyDigits("more digits than an amount can hold".to_owned())
    })?;
    // Keep the scale as written ("12.50" stays 12.50, "12" stays 12).
    let scale = u32::try_from(frac.len()).unwrap_or(28).min(28);
    if d.scale() != scale {
        d.rescale(scale);
    }
    Ok(d)
}

/// [`parse`] with the limits of `xs:decimal` ([`Limits::XSD`]).
pub fn xsd(s: &str) -> Result<Decimal, DecimalError> {
    parse(s, Limits::XSD)
}

/// Shows a text in a message: at most 40 characters, quoted and escaped.
pub fn shown(s: &str) -> String {
    let t: String = s.trim().chars().take(40).collect();
    if s.trim().chars().count() > 40 {
        format!("{t:?}…")
    } else {
        format!("{t:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsd_syntax_only() {
        assert_eq!(xsd("12.50").map(|d| d.to_string()), Ok("12.50".to_owned()));
        assert_eq!(xsd(" -0.5 ").map(|d| d.to_string()), Ok("-0.5".to_owned()));
        assert_eq!(xsd("+3").map(|d| d.to_string()), Ok("3".to_owned()));
        assert_eq!(xsd(".5").map(|d| d.to_string()), Ok("0.5".to_owned()));
        assert_eq!(xsd("5.").map(|d| d.to_string()), Ok("5".to_owned()));
        for bad in [
            "1e9", "12,50", "NaN", "1 000", "", ".", "-", "1.2.3", "0x10", "∞",
        ] {
            assert!(xsd(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            xsd(&"9".repeat(30)),
            Err(DecimalError::TooManyDigits(_))
        ));
        // leading zeros and trailing zeros are not significant
        assert!(xsd(&format!("{}1.5{}", "0".repeat(40), "0".repeat(10))).is_ok());
        let camt = Limits {
            total_digits: Some(18),
            fraction_digits: Some(5),
            signed: false,
        };
        assert!(parse("1.23456", camt).is_ok());
        assert!(parse("1.234567", camt).is_err());
        assert!(parse("-1", camt).is_err());
        assert!(parse("1234567890123456789", camt).is_err());
    }
}
