//! Tryton's JSON value encoding: `{"__class__": "Decimal" | "date" | "datetime" | ...}` objects,
//! lenient booleans (`1/0` on SQLite), dotted-field sub-objects (`"party."`).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

/// A value of a record that is missing or not of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Tryton field {field}: {problem}")]
pub struct ValueError {
    /// Field name (dotted for sub-objects).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> ValueError {
    ValueError {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// A Decimal as Tryton expects it: a string keeps the scale; a JSON float is refused by the
/// server ("number of digits exceeds the limit").
pub fn enc_decimal(d: Decimal) -> Value {
    json!({"__class__": "Decimal", "decimal": d.to_string()})
}

/// A date as Tryton expects it.
pub fn enc_date(d: NaiveDate) -> Value {
    use chrono::Datelike;
    json!({"__class__": "date", "year": d.year(), "month": d.month(), "day": d.day()})
}

/// A naive UTC datetime as Tryton expects it.
pub fn enc_datetime(t: NaiveDateTime) -> Value {
    use chrono::{Datelike, Timelike};
    json!({"__class__": "datetime", "year": t.year(), "month": t.month(), "day": t.day(),
        "hour": t.hour(), "minute": t.minute(), "second": t.second(),
        "microsecond": t.nanosecond() / 1000})
}

fn class_of(v: &Value) -> Option<&str> {
    v.get("__class__").and_then(Value::as_str)
}

/// The field `name` of a record object (`Value::Null` when absent).
pub fn field<'a>(rec: &'a Value, name: &str) -> &'a Value {
    rec.get(name).unwrap_or(&Value::Null)
}

/// Follows a dotted path through the `"x."` sub-objects of a search_read row:
/// `path(rec, &["party", "name"])` reads `rec["party."]["name"]`.
pub fn path<'a>(rec: &'a Value, parts: &[&str]) -> &'a Value {
    let mut cur = rec;
    for (i, p) in parts.iter().enumerate() {
        let key = if i + 1 < parts.len() {
            format!("{p}.")
        } else {
            (*p).to_owned()
        };
        match cur.get(&key) {
            Some(v) => cur = v,
            None => return &Value::Null,
        }
    }
    cur
}

/// A Decimal field (Tryton object, plain number or string).
pub fn decimal(v: &Value, name: &str) -> Result<Decimal, ValueError> {
    match v {
        Value::Object(_) if class_of(v) == Some("Decimal") => {
            let s = v
                .get("decimal")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(name, "Decimal without text"))?;
            Decimal::from_str(s).map_err(|e| bad(name, format!("bad decimal {s:?}: {e}")))
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Decimal::from(i))
            } else {
                Decimal::from_str(&n.to_string())
                    .map_err(|e| bad(name, format!("bad number {n}: {e}")))
            }
        }
        Value::String(s) => {
            Decimal::from_str(s).map_err(|e| bad(name, format!("bad decimal {s:?}: {e}")))
        }
        _ => Err(bad(name, format!("expected a Decimal, got {}", short(v)))),
    }
}

/// A Decimal field that may be null (null reads as zero).
pub fn decimal_or_zero(v: &Value, name: &str) -> Result<Decimal, ValueError> {
    if v.is_null() {
        Ok(Decimal::ZERO)
    } else {
        decimal(v, name)
    }
}

fn int_part(v: &Value, key: &str, name: &str) -> Result<u32, ValueError> {
    v.get(key)
        .and_then(Value::as_f64)
        .filter(|f| *f >= 0.0 && f.fract() == 0.0)
        .map(|f| f as u32)
        .ok_or_else(|| bad(name, format!("missing or bad {key}")))
}

/// A date field.
pub fn date(v: &Value, name: &str) -> Result<NaiveDate, ValueError> {
    match class_of(v) {
        Some("date") | Some("datetime") => {
            let (y, m, d) = (
                int_part(v, "year", name)?,
                int_part(v, "month", name)?,
                int_part(v, "day", name)?,
            );
            NaiveDate::from_ymd_opt(y as i32, m, d)
                .ok_or_else(|| bad(name, format!("invalid date {y}-{m}-{d}")))
        }
        _ => Err(bad(name, format!("expected a date, got {}", short(v)))),
    }
}

/// A date field that may be null.
pub fn opt_date(v: &Value, name: &str) -> Result<Option<NaiveDate>, ValueError> {
    if v.is_null() {
        Ok(None)
    } else {
        date(v, name).map(Some)
    }
}

/// A datetime field (naive, UTC on the server).
pub fn datetime(v: &Value, name: &str) -> Result<NaiveDateTime, ValueError> {
    let d = date(v, name)?;
    if class_of(v) != Some("datetime") {
        return Err(bad(name, "expected a datetime"));
    }
    let (h, mi, s) = (
        int_part(v, "hour", name)?,
        int_part(v, "minute", name)?,
        int_part(v, "second", name)?,
    );
    let us = v.get("microsecond").and_then(Value::as_u64).unwrap_or(0) as u32;
    let t = NaiveTime::from_hms_micro_opt(h, mi, s, us).ok_or_else(|| bad(name, "invalid time"))?;
    Ok(NaiveDateTime::new(d, t))
}

/// A boolean, lenient: `true/false`, `1/0` (SQLite), null as false.
pub fn boolean(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// An integer id (Many2One or `id`).
pub fn id(v: &Value, name: &str) -> Result<i64, ValueError> {
    v.as_i64()
        .ok_or_else(|| bad(name, format!("expected an id, got {}", short(v))))
}

/// A list of ids (One2Many / Many2Many).
pub fn ids(v: &Value, name: &str) -> Result<Vec<i64>, ValueError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a.iter().map(|x| id(x, name)).collect(),
        _ => Err(bad(
            name,
            format!("expected a list of ids, got {}", short(v)),
        )),
    }
}

/// A text field; null and empty strings read as `None`.
pub fn opt_str(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A required text field.
pub fn string(v: &Value, name: &str) -> Result<String, ValueError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(name, format!("expected text, got {}", short(v))))
}

/// At most 80 characters of a value, for error messages.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(80).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn decimals_keep_scale_both_ways() {
        let v = enc_decimal(dec!(6162.00));
        assert_eq!(v, json!({"__class__": "Decimal", "decimal": "6162.00"}));
        assert_eq!(decimal(&v, "x").unwrap().to_string(), "6162.00");
        assert_eq!(
            decimal(&json!({"__class__": "Decimal", "decimal": "0"}), "x").unwrap(),
            Decimal::ZERO
        );
        assert_eq!(decimal(&json!(12), "x").unwrap(), dec!(12));
        assert!(decimal(&Value::Null, "x").is_err());
    }

    #[test]
    fn dates_and_datetimes_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 4, 7).unwrap();
        assert_eq!(date(&enc_date(d), "d").unwrap(), d);
        let t = d.and_hms_micro_opt(14, 14, 36, 690_308).unwrap();
        let v = enc_datetime(t);
        assert_eq!(v["microsecond"], json!(690308));
        assert_eq!(datetime(&v, "t").unwrap(), t);
        assert!(datetime(&enc_date(d), "t").is_err());
    }

    #[test]
    fn lenient_booleans_and_paths() {
        assert!(
            boolean(&json!(true))
                && boolean(&json!(1))
                && !boolean(&json!(0))
                && !boolean(&Value::Null)
        );
        let rec =
            json!({"party": 11, "party.": {"id": 11, "siren.": {"code_compact": "455033894"}}});
        assert_eq!(
            path(&rec, &["party", "siren", "code_compact"]),
            &json!("455033894")
        );
        assert!(path(&rec, &["currency", "code"]).is_null());
    }
}
