//! ISO 11649 structured creditor references (`RF..`) and the ISO 7064 MOD 97-10 check they
//! share with IBANs (ISO 13616).

/// Outcome of checking a reference that looks like an ISO 11649 creditor reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RfCheck {
    /// Not an `RF` reference at all (e.g. a plain invoice number): nothing to check.
    NotRf,
    /// `RF` + two check digits + 1..21 alphanumerics, and MOD 97 gives 1.
    Valid,
    /// Starts with `RF` and two digits but the shape or the check digits are wrong.
    Invalid,
}

/// Removes blanks and upper-cases (references are printed in groups of four).
pub fn compact(reference: &str) -> String {
    reference
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// ISO 7064 MOD 97-10 over an alphanumeric string whose first four characters are moved to
/// the end, letters counting A=10 .. Z=35. Returns `None` on a character that is not ASCII
/// alphanumeric.
fn mod97_rotated(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() < 4 {
        return None;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(b[..4].iter()) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    Some(rem)
}

/// Checks an ISO 11649 creditor reference (`RF18 5390 0754 7034` style, blanks ignored).
pub fn check_rf(reference: &str) -> RfCheck {
    let r = compact(reference);
    let b = r.as_bytes();
    if b.len() < 4 || &b[..2] != b"RF" || !b[2].is_ascii_digit() || !b[3].is_ascii_digit() {
        return RfCheck::NotRf;
    }
    if b.len() > 25 || b.len() < 5 || !b[4..].iter().all(u8::is_ascii_alphanumeric) {
        return RfCheck::Invalid;
    }
    match mod97_rotated(&r) {
        Some(1) => RfCheck::Valid,
        _ => RfCheck::Invalid,
    }
}

/// Builds a valid ISO 11649 reference (`RFkk` + `body`) for an alphanumeric body of 1..21
/// characters; `None` otherwise. Used by the writer and tests.
pub fn make_rf(body: &str) -> Option<String> {
    let body = compact(body);
    if body.is_empty() || body.len() > 21 || !body.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let probe = format!("RF00{body}");
    let rem = mod97_rotated(&probe)?;
    Some(format!("RF{:02}{body}", 98 - rem))
}

/// True when `iban` (blanks ignored) has a plausible shape and correct MOD 97 check digits.
pub fn iban_is_valid(iban: &str) -> bool {
    let s = compact(iban);
    let b = s.as_bytes();
    b.len() >= 15
        && b.len() <= 34
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && mod97_rotated(&s) == Some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso11649_examples() {
        // The example of the standard: RF18 5390 0754 7034.
        assert_eq!(check_rf("RF18 5390 0754 7034"), RfCheck::Valid);
        assert_eq!(check_rf("RF18539007547034"), RfCheck::Valid);
        assert_eq!(check_rf("RF19539007547034"), RfCheck::Invalid);
        assert_eq!(check_rf("RF18"), RfCheck::Invalid);
        assert_eq!(check_rf("FACT-2026-001"), RfCheck::NotRf);
        assert_eq!(check_rf("RFX"), RfCheck::NotRf);
        assert_eq!(make_rf("539007547034").as_deref(), Some("RF18539007547034"));
        let r = make_rf("VT2026000042").unwrap_or_default();
        assert_eq!(check_rf(&r), RfCheck::Valid);
    }

    #[test]
    fn iban_checks() {
        assert!(iban_is_valid("FR76 3000 6000 0112 3456 7890 189"));
        assert!(iban_is_valid("DE89370400440532013000"));
        assert!(!iban_is_valid("DE89370400440532013001"));
        assert!(!iban_is_valid("1234"));
    }
}
