//! What the HTTP connectors share about wire values: secrets read from `*_file` keys and held
//! in a redacting type, money parsed from the strings and JSON floats the APIs send (never
//! through `f64`), rounding to a currency's precision, short excerpts for error messages.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A credential (API key, token, webhook secret) whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, only to put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Largest credential file read.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Reads a credential file: its first line, surrounding blanks trimmed. The error names the
/// file and why, never its content.
pub fn read_secret(path: &Path) -> Result<Secret, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {}", e.kind()))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(format!("{shown} is larger than {MAX_SECRET_BYTES} bytes"));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {}", e.kind()))?;
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(format!(
            "{shown} is empty: expected the secret on its first line"
        ));
    }
    Ok(Secret(first.to_owned()))
}

/// A credential read from its `*_file` and read again when the remote refuses it, so that a
/// key the operator rotated is used at once; every value read is registered with the HTTP
/// client for redaction.
#[derive(Debug)]
pub struct FileSecret {
    path: std::path::PathBuf,
    current: std::sync::RwLock<Secret>,
}

impl FileSecret {
    /// Reads the file now (its first line); registers the value with `http`.
    pub fn read(path: &Path, http: &crate::http::HttpClient) -> Result<Self, String> {
        let s = read_secret(path)?;
        http.add_secret(s.expose());
        Ok(FileSecret {
            path: path.to_owned(),
            current: std::sync::RwLock::new(s),
        })
    }

    /// The value in use.
    pub fn get(&self) -> Secret {
        self.current
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reads the file again; true when the value changed.
    pub fn reread(&self, http: &crate::http::HttpClient) -> Result<bool, String> {
        let fresh = read_secret(&self.path)?;
        http.add_secret(fresh.expose());
        let mut g = self.current.write().unwrap_or_else(|p| p.into_inner());
        let changed = *g != fresh;
        *g = fresh;
        Ok(changed)
    }
}

/// A decimal from a JSON string (`"230.32"`, `"1200.00000000"`) or number (`700.0`, `1e-7`),
/// read from its text so a float is never rounded through `f64`. `None` for anything else
/// (`null`, `false`, an object, a string that is not a number).
pub fn decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if text.is_empty() {
        return None;
    }
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// `d` rounded to a multiple of `rounding` (an ERP currency's smallest unit: 0.01, 0.05, 1),
/// half away from zero; a zero or negative `rounding` leaves `d` as it is.
pub fn round_to(d: Decimal, rounding: Decimal) -> Decimal {
    if rounding <= Decimal::ZERO {
        return d;
    }
    let units = (d / rounding).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    let r = units * rounding;
    r.round_dp(rounding.scale()).normalize_to(rounding.scale())
}

trait NormalizeTo {
    fn normalize_to(self, scale: u32) -> Decimal;
}

impl NormalizeTo for Decimal {
    /// The same value written with exactly `scale` decimals (`700` → `700.00`).
    fn normalize_to(self, scale: u32) -> Decimal {
        let mut d = self;
        d.rescale(scale);
        d
    }
}

/// `d` with exactly `dp` decimals, half away from zero (`round_dp` keeps fewer when it can).
pub fn with_scale(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
        .normalize_to(dp)
}

/// At most 120 characters of a value, for error messages.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(120).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// A text value; `null`, `false` (Odoo's empty) and blank strings read as `None`.
pub fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The idempotency marker written beside every effect relance makes in a remote system
/// (`[relance:<key>]`), found again by a text search.
pub fn marker(key: &crate::contract::IdempotencyKey) -> String {
    format!("[relance:{}]", key.as_str())
}

/// The French name of dunning stage `level` (0 préventive … 4 contentieux), for the notes the
/// connectors write in a system of record.
pub fn stage_label(level: u8) -> &'static str {
    match level {
        0 => "relance préventive",
        1 => "relance amiable",
        2 => "relance écrite formelle",
        3 => "mise en demeure",
        4 => "contentieux",
        _ => "relance",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_come_from_text_never_from_f64() {
        assert_eq!(decimal(&json!("230.32")).unwrap().to_string(), "230.32");
        assert_eq!(
            decimal(&json!("1200.00000000")).unwrap().to_string(),
            "1200.00000000"
        );
        assert_eq!(decimal(&json!(700.0)).unwrap().to_string(), "700.0");
        let artefact = decimal(&json!(0.1 + 0.2)).unwrap();
        assert_eq!(artefact.to_string(), "0.30000000000000004");
        assert_eq!(decimal(&json!(1e-7)).unwrap().to_string(), "0.0000001");
        assert_eq!(decimal(&json!(false)), None);
        assert_eq!(decimal(&json!("")), None);
        assert_eq!(decimal(&json!("abc")), None);
    }

    #[test]
    fn rounding_to_a_currency_unit() {
        let cent = Decimal::new(1, 2);
        assert_eq!(
            round_to(decimal(&json!(0.1 + 0.2)).unwrap(), cent).to_string(),
            "0.30"
        );
        assert_eq!(round_to(Decimal::new(1005, 3), cent).to_string(), "1.01");
        assert_eq!(round_to(Decimal::new(-1005, 3), cent).to_string(), "-1.01");
        assert_eq!(round_to(Decimal::new(700, 0), cent).to_string(), "700.00");
        let nickel = Decimal::new(5, 2);
        assert_eq!(round_to(Decimal::new(1012, 2), nickel).to_string(), "10.10");
        assert_eq!(round_to(Decimal::new(1013, 2), nickel).to_string(), "10.15");
        assert_eq!(
            round_to(Decimal::new(1501, 2), Decimal::ONE).to_string(),
            "15"
        );
        assert_eq!(with_scale(Decimal::new(7, 0), 2).to_string(), "7.00");
    }

    #[test]
    fn secrets_are_read_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "  tok3n-value \nnext\n").unwrap();
        let s = read_secret(&p).unwrap();
        assert_eq!(s.expose(), "tok3n-value");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        std::fs::write(&p, "\n").unwrap();
        let e = read_secret(&p).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        assert!(read_secret(&dir.path().join("none")).is_err());
    }
}
