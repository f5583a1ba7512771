//! French company identifiers: SIREN (9 digits) and SIRET (14 digits), with the Luhn check.

use serde::{Deserialize, Serialize};

/// A SIREN number, validated with the Luhn key (La Poste's SIRET 356000000xxxxx aside).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Siren(pub String);

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SirenError {
    /// Not the right number of digits.
    #[error("{kind} {value:?} must have {expected} digits")]
    Length {
        /// "SIREN" or "SIRET".
        kind: &'static str,
        /// The value given.
        value: String,
        /// Expected digit count.
        expected: usize,
    },
    /// The Luhn check digit does not match.
    #[error("{kind} {value:?} fails the Luhn check")]
    Luhn {
        /// "SIREN" or "SIRET".
        kind: &'static str,
        /// The value given.
        value: String,
    },
}

/// Luhn check over ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn digits_only(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect()
}

impl Siren {
    /// Parses a SIREN (blanks, dots and dashes ignored) and checks its Luhn key.
    pub fn parse(s: &str) -> Result<Self, SirenError> {
        let d = digits_only(s);
        if d.len() != 9 || !d.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SirenError::Length {
                kind: "SIREN",
                value: s.to_owned(),
                expected: 9,
            });
        }
        if !luhn_valid(&d) {
            return Err(SirenError::Luhn {
                kind: "SIREN",
                value: s.to_owned(),
            });
        }
        Ok(Siren(d))
    }

    /// The SIREN of a SIRET (its first nine digits), after checking the SIRET.
    pub fn from_siret(s: &str) -> Result<Self, SirenError> {
        let d = digits_only(s);
        if d.len() != 14 || !d.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SirenError::Length {
                kind: "SIRET",
                value: s.to_owned(),
                expected: 14,
            });
        }
        // La Poste's establishments (SIREN 356000000) use a digit-sum-multiple-of-5 rule.
        let ok = if d.starts_with("356000000") {
            d.bytes().map(|b| u32::from(b - b'0')).sum::<u32>() % 5 == 0
        } else {
            luhn_valid(&d)
        };
        if !ok {
            return Err(SirenError::Luhn {
                kind: "SIRET",
                value: s.to_owned(),
            });
        }
        Ok(Siren(d[..9].to_owned()))
    }

    /// True when the SIREN designates a public legal entity (INSEE legal category 7xxx is not
    /// visible in the number; by convention SIRENs starting with 1 or 2 are public bodies).
    pub fn is_public_entity(&self) -> bool {
        matches!(self.0.as_bytes().first(), Some(b'1') | Some(b'2'))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siren_luhn() {
        assert!(Siren::parse("732 829 320").is_ok());
        assert!(Siren::parse("732829321").is_err());
        assert!(Siren::parse("12345").is_err());
        assert_eq!(
            Siren::from_siret("73282932000074").unwrap().as_str(),
            "732829320"
        );
    }
}
