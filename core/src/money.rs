//! Money: a `Decimal` amount with its ISO 4217 currency. Never a float.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code (three upper-case ASCII letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// A currency code that is not three ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency code {0:?}, expected three letters such as EUR")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// The euro.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses a code such as `EUR` (case-insensitive, surrounding blanks ignored).
    pub fn parse(s: &str) -> Result<Self, InvalidCurrency> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(Currency([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
                b[2].to_ascii_uppercase(),
            ]))
        } else {
            Err(InvalidCurrency(s.to_owned()))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII letters by construction, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of minor units (ISO 4217 exponent) for rounding amounts in this currency.
    pub fn minor_units(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"ISK" | b"CLP" | b"VND" | b"XOF" | b"XAF" | b"XPF" | b"HUF" => {
                if &self.0 == b"HUF" {
                    2
                } else {
                    0
                }
            }
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" | b"IQD" | b"LYD" => 3,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money in one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount, as an exact decimal.
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in a currency.
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero in a currency.
    pub fn zero(currency: Currency) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    /// An amount in euros.
    pub fn eur(amount: Decimal) -> Self {
        Self::new(amount, Currency::EUR)
    }

    /// Rounded to the currency's minor unit, half away from zero (commercial rounding, the
    /// rule EN 16931 and French invoicing practice use for document-level amounts).
    pub fn rounded(self) -> Self {
        Self::new(round_money(self.amount, self.currency), self.currency)
    }

    /// Sum of two amounts, `None` if the currencies differ.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| Money::new(self.amount + other.amount, self.currency))
    }

    /// Difference of two amounts, `None` if the currencies differ.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| Money::new(self.amount - other.amount, self.currency))
    }

    /// True when the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Rounds an amount to the currency's minor unit, half away from zero.
pub fn round_money(amount: Decimal, currency: Currency) -> Decimal {
    amount.round_dp_with_strategy(
        currency.minor_units(),
        RoundingStrategy::MidpointAwayFromZero,
    )
}

/// Rounds to cents, half away from zero.
pub fn round_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn currency_parses_and_normalises() {
        assert_eq!(Currency::parse(" eur ").unwrap(), Currency::EUR);
        assert!(Currency::parse("EU").is_err());
        assert!(Currency::parse("E1R").is_err());
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_cents(dec!(2.345)), dec!(2.35));
        assert_eq!(round_cents(dec!(-2.345)), dec!(-2.35));
        assert_eq!(Money::eur(dec!(10.005)).rounded().amount, dec!(10.01));
    }

    #[test]
    fn mixed_currencies_do_not_add() {
        let a = Money::eur(dec!(1));
        let b = Money::new(dec!(1), Currency::parse("USD").unwrap());
        assert!(a.checked_add(b).is_none());
        assert_eq!(a.checked_add(a).unwrap().amount, dec!(2));
    }
}
