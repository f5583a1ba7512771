//! Incremental pull (see [`crate::systems::passes`]): customers (`GET /thirdparties?mode=1`),
//! then validated, paid and abandoned invoices (`GET /invoices`), both by `(tms, rowid)`, then,
//! at most once an `open_sweep_seconds`, every unpaid invoice again (`status=unpaid`): a
//! partial payment is written to `paiement_facture` and leaves the invoice's `tms` alone.
//!
//! Quirks (connector-apis.md §3, `htdocs/compta/facture/class/api_invoices.class.php`,
//! `htdocs/core/lib/functions.lib.php` `dolForgeCriteriaCallback`):
//! - `sqlfilters` terms are split on `:` (`explode(':', …)` without a limit), so a time
//!   written `'2025-01-31 23:00:00'` is cut at its first colon: times are written
//!   `'20250131230000'`; values may not hold parentheses.
//! - `sortfield`/`sortorder` take comma-separated lists (`t.tms,t.rowid` / `ASC,ASC`): with
//!   `page=0` and a `(tms, rowid)` filter the pages never shift under concurrent updates.
//! - `tms` is in the server's local time; records give `date_modification` as a Unix time.
//! - Amounts are strings (`"1200.00000000"`), dates Unix times of local midnight;
//!   `remaintopay = total_ttc − paid − credit notes − deposits` is computed by the API.
//! - `type` 2 is a credit note (negative totals); status 1 validated (unpaid), 2 paid,
//!   3 abandoned.

use super::client::{Client, DolibarrError};
use crate::contract::Record;
use crate::systems::passes::{Position, StreamPage, Streams};
use crate::wire;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime};
use relance_core::siren::Siren;
use relance_core::{Currency, Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus};
use rust_decimal::Decimal;
use serde_json::Value;

/// A Unix time from a number or a numeric string.
pub fn unix(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The date of a Unix time of local midnight (any offset within ±12 h).
pub fn day(v: &Value) -> Option<NaiveDate> {
    let ts = unix(v)?;
    DateTime::from_timestamp(ts + 12 * 3600, 0).map(|d| d.date_naive())
}

/// A `(t.tms ...)` value for a UTC instant, in the server's time, without colons.
pub fn tms_value(t: NaiveDateTime, offset_minutes: i32) -> String {
    (t + Duration::minutes(i64::from(offset_minutes)))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

fn keyset_filter(base: &str, after: Option<&Position>, offset_minutes: i32) -> String {
    match after {
        None => base.to_owned(),
        Some(p) => {
            let t = tms_value(p.t, offset_minutes);
            format!(
                "{base} and ((t.tms:>:'{t}') or ((t.tms:=:'{t}') and (t.rowid:>:{})))",
                p.id
            )
        }
    }
}

fn bad(what: &str, row: &Value, problem: &str) -> DolibarrError {
    DolibarrError::Protocol {
        what: what.to_owned(),
        detail: format!("{problem}: {}", wire::short(row)),
    }
}

fn id_of(row: &Value, what: &str) -> Result<i64, DolibarrError> {
    unix(&row["id"]).ok_or_else(|| bad(what, row, "no id"))
}

fn position(row: &Value, what: &str) -> Result<Position, DolibarrError> {
    let ts = unix(&row["date_modification"])
        .or_else(|| unix(&row["date_creation"]))
        .ok_or_else(|| bad(what, row, "no date_modification"))?;
    Ok(Position {
        t: DateTime::from_timestamp(ts, 0)
            .ok_or_else(|| bad(what, row, "bad date_modification"))?
            .naive_utc(),
        id: id_of(row, what)?,
    })
}

/// The pull's view of one instance.
pub struct DolibarrStreams<'a> {
    /// The client.
    pub client: &'a Client,
}

impl Streams for DolibarrStreams<'_> {
    type Error = DolibarrError;

    async fn server_now(&self) -> Result<Option<NaiveDateTime>, DolibarrError> {
        self.client
            .call(
                crate::http::Method::Get,
                "/status",
                &[],
                None,
                "GET /status",
            )
            .await?;
        Ok(self.client.server_time().map(|t| t.naive_utc()))
    }

    async fn read(
        &self,
        stream: usize,
        after: Option<&Position>,
        offset: u64,
        limit: u32,
    ) -> Result<StreamPage, DolibarrError> {
        let cfg = self.client.config();
        let off = cfg.server_utc_offset_minutes;
        let keyset = |filter: String| -> Vec<(&'static str, String)> {
            vec![
                ("sortfield", "t.tms,t.rowid".to_owned()),
                ("sortorder", "ASC,ASC".to_owned()),
                ("limit", limit.to_string()),
                ("page", "0".to_owned()),
                ("sqlfilters", filter),
            ]
        };
        let mut page = StreamPage::default();
        match stream {
            0 => {
                let mut q = keyset(keyset_filter("(t.client:>:0)", after, off));
                q.push(("mode", "1".to_owned()));
                let rows = self
                    .client
                    .list("/thirdparties", &q, "GET /thirdparties")
                    .await?;
                page.rows = rows.len();
                for r in &rows {
                    page.positions.push(position(r, "thirdparty")?);
                    page.records.push(Record::Customer(thirdparty(r)?));
                }
            }
            1 | 2 => {
                let q = if stream == 1 {
                    keyset(keyset_filter("(t.fk_statut:>:0)", after, off))
                } else {
                    vec![
                        ("status", "unpaid".to_owned()),
                        ("sortfield", "t.rowid".to_owned()),
                        ("sortorder", "ASC".to_owned()),
                        ("limit", limit.to_string()),
                        ("page", (offset / u64::from(limit.max(1))).to_string()),
                    ]
                };
                let rows = self.client.list("/invoices", &q, "GET /invoices").await?;
                page.rows = rows.len();
                let currency = Currency::parse(&cfg.currency)
                    .map_err(|e| DolibarrError::Config(format!("currency: {e}")))?;
                for r in &rows {
                    if stream == 1 {
                        page.positions.push(position(r, "invoice")?);
                    }
                    if let Some(inv) = invoice(r, currency)? {
                        page.records.push(Record::Invoice(inv));
                    }
                }
            }
            _ => {}
        }
        Ok(page)
    }
}

/// A third party as a customer: SIREN in `idprof1`, SIRET in `idprof2`.
pub fn thirdparty(row: &Value) -> Result<Customer, DolibarrError> {
    let id = id_of(row, "thirdparty")?;
    let name = wire::text(&row["name"]).unwrap_or_else(|| format!("Dolibarr third party {id}"));
    let mut c = Customer::new(id.to_string(), name);
    c.siret = wire::text(&row["idprof2"])
        .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|s| s.len() == 14);
    c.siren = wire::text(&row["idprof1"])
        .and_then(|s| Siren::parse(&s).ok())
        .or_else(|| c.siret.as_deref().and_then(|s| Siren::from_siret(s).ok()));
    c.vat_id = wire::text(&row["tva_intra"]);
    c.emails = wire::text(&row["email"]).into_iter().collect();
    c.country = wire::text(&row["country_code"]);
    if let Some(lang) = wire::text(&row["default_lang"]) {
        c.language = lang
            .chars()
            .take_while(|ch| ch.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase();
    }
    c.kind = CustomerKind::infer(c.siren.as_ref(), c.vat_id.as_deref());
    Ok(c)
}

fn money(row: &Value, name: &str) -> Result<Decimal, DolibarrError> {
    match &row[name] {
        Value::Null => Ok(Decimal::ZERO),
        v => wire::decimal(v)
            .map(|d| wire::with_scale(d, 2))
            .ok_or_else(|| bad("invoice", row, &format!("{name} is not an amount"))),
    }
}

/// An invoice (`None` for a draft, which has no number yet).
pub fn invoice(row: &Value, currency: Currency) -> Result<Option<Invoice>, DolibarrError> {
    let what = "invoice";
    let id = id_of(row, what)?;
    let status = unix(&row["status"])
        .or_else(|| unix(&row["statut"]))
        .or_else(|| unix(&row["fk_statut"]))
        .unwrap_or(0);
    if status == 0 {
        return Ok(None);
    }
    let ty = unix(&row["type"]).unwrap_or(0);
    let kind = if ty == 2 {
        InvoiceKind::CreditNote
    } else {
        InvoiceKind::Invoice
    };
    let paid = unix(&row["paye"]) == Some(1);
    let st = match status {
        3 => InvoiceStatus::Cancelled,
        2 => InvoiceStatus::Paid,
        _ if paid => InvoiceStatus::Paid,
        _ => InvoiceStatus::Open,
    };
    let amount_due = if st == InvoiceStatus::Open {
        money(row, "remaintopay")?.abs()
    } else {
        Decimal::ZERO
    };
    let number = wire::text(&row["ref"]).ok_or_else(|| bad(what, row, "no ref"))?;
    Ok(Some(Invoice {
        id: id.to_string().into(),
        number,
        kind,
        type_code: match ty {
            2 => 381,
            3 => 386,
            1 => 384,
            _ => 380,
        },
        issue_date: day(&row["date"]).ok_or_else(|| bad(what, row, "no date"))?,
        due_date: day(&row["date_lim_reglement"]),
        instalments: Vec::new(),
        currency,
        total_without_vat: money(row, "total_ht")?.abs(),
        total_vat: money(row, "total_tva")?.abs(),
        total_with_vat: money(row, "total_ttc")?.abs(),
        amount_due,
        customer: unix(&row["socid"])
            .ok_or_else(|| bad(what, row, "no socid"))?
            .to_string()
            .into(),
        buyer_reference: None,
        order_reference: wire::text(&row["ref_client"]),
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status: st,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invoices_from_strings_and_timestamps() {
        let row = json!({"id": "1", "ref": "FA2401-0001", "socid": "5", "date": 1704063600,
            "date_lim_reglement": "1706742000", "type": "0", "total_ht": "1000.00000000",
            "total_tva": "200.00000000", "total_ttc": "1200.00000000", "remaintopay": "700",
            "paye": "0", "status": "1", "date_modification": 1704100000});
        let inv = invoice(&row, Currency::EUR).unwrap().unwrap();
        assert_eq!(
            inv.issue_date,
            NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            "Paris midnight"
        );
        assert_eq!(inv.due_date, NaiveDate::from_ymd_opt(2024, 2, 1));
        assert_eq!(
            (inv.amount_due.to_string(), inv.total_with_vat.to_string()),
            ("700.00".into(), "1200.00".into())
        );
        let mut cn = row.clone();
        cn["type"] = json!(2);
        cn["total_ttc"] = json!("-120.00000000");
        cn["remaintopay"] = json!("-120");
        let c = invoice(&cn, Currency::EUR).unwrap().unwrap();
        assert_eq!(
            (c.kind, c.total_with_vat.to_string()),
            (InvoiceKind::CreditNote, "120.00".into())
        );
        let mut draft = row;
        draft["status"] = json!(0);
        assert!(invoice(&draft, Currency::EUR).unwrap().is_none());
    }

    #[test]
    fn filters_carry_no_colon_in_their_values() {
        let t = NaiveDate::from_ymd_opt(2026, 11, 16)
            .unwrap()
            .and_hms_opt(8, 30, 5)
            .unwrap();
        let f = keyset_filter("(t.fk_statut:>:0)", Some(&Position { t, id: 42 }), 60);
        assert_eq!(
            f,
            "(t.fk_statut:>:0) and ((t.tms:>:'20261116093005') or ((t.tms:=:'20261116093005') and (t.rowid:>:42)))"
        );
        let value_parts: Vec<&str> = f.split("t.tms:>:").nth(1).unwrap().split(')').collect();
        assert!(!value_parts[0].contains(':'));
    }
}
