//! Incremental pull (see [`crate::systems::passes`]): customers (`res.partner`, the
//! commercial entities: no parent), then customer invoices and credit notes (`account.move`,
//! `out_invoice` / `out_refund`, posted or cancelled) by `(write_date, id)`, then, at most once
//! an `open_sweep_seconds`, every open invoice again (`payment_state in (not_paid, partial)`):
//! `amount_residual` is a stored computed field whose recomputation after a reconciliation
//! may not bump `write_date` (connector-apis.md §1.2 [mem]).
//!
//! Decoding (§0, §1.2): `false` is empty, many2one are `[id, "name"]`, dates `"YYYY-MM-DD"`,
//! datetimes `"YYYY-MM-DD HH:MM:SS"` UTC, amounts JSON floats read from their text and rounded
//! to the currency's `rounding` (`res.currency`); `in_payment` (matched to a payment whose bank
//! line is not reconciled yet) counts as paid for dunning, `reversed` as cancelled; the
//! customer of an invoice is its `commercial_partner_id` (the legal entity); instalments are
//! the receivable lines (`account_type = asset_receivable`, 16+) with their `date_maturity`;
//! the SIREN comes from `company_registry` (a SIRET with `l10n_fr`) or the OCA `siren` field.

use super::rpc::{OdooError, Rpc};
use crate::contract::Record;
use crate::systems::passes::{Position, StreamPage, Streams};
use crate::wire;
use chrono::{NaiveDate, NaiveDateTime};
use relance_core::siren::Siren;
use relance_core::{
    Currency, Customer, CustomerKind, Instalment, Invoice, InvoiceKind, InvoiceStatus,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What the pull learns once per connector: currencies and optional fields.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// `res.currency` id → (ISO code, rounding).
    pub currencies: HashMap<i64, (String, Decimal)>,
    /// `res.partner` has the OCA `siren` / `siret` fields.
    pub oca_siret: bool,
    /// `res.partner` has `country_code`.
    pub country_code: bool,
    /// The company's own partner (never a customer).
    pub company_partner: Option<i64>,
}

/// A many2one value: `[id, "name"]`, or `false` / `null` for none.
pub fn m2o(v: &Value) -> Option<(i64, String)> {
    let a = v.as_array()?;
    let id = a.first()?.as_i64()?;
    let name = a.get(1).and_then(Value::as_str).unwrap_or("").to_owned();
    Some((id, name))
}

/// An Odoo datetime (`"2025-02-03 09:12:44"`, microseconds tolerated).
pub fn datetime(v: &Value) -> Option<NaiveDateTime> {
    let s = v.as_str()?;
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
}

/// An Odoo date.
pub fn date(v: &Value) -> Option<NaiveDate> {
    v.as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

/// The text of an Odoo datetime, for domains.
pub fn odoo_datetime(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn bad(what: &str, row: &Value, problem: &str) -> OdooError {
    OdooError::Protocol {
        what: what.to_owned(),
        detail: format!("{problem}: {}", wire::short(row)),
    }
}

/// Loads the catalogue.
pub async fn catalogue(rpc: &Rpc) -> Result<Catalogue, OdooError> {
    let rows = rpc
        .search_read(
            "res.currency",
            json!([["active", "in", [true, false]]]),
            &["name", "rounding"],
            0,
            None,
            "id asc",
        )
        .await?;
    let mut currencies = HashMap::new();
    for r in &rows {
        if let (Some(id), Some(code)) = (r["id"].as_i64(), wire::text(&r["name"])) {
            let rounding = wire::decimal(&r["rounding"]).unwrap_or(Decimal::new(1, 2));
            currencies.insert(id, (code, rounding.normalize()));
        }
    }
    let fields = rpc.field_names("res.partner").await?;
    let company_partner = match rpc.company().await? {
        Some(c) => rpc
            .search_read(
                "res.company",
                json!([["id", "=", c]]),
                &["partner_id"],
                0,
                Some(1),
                "id asc",
            )
            .await?
            .first()
            .and_then(|r| m2o(&r["partner_id"]))
            .map(|p| p.0),
        None => None,
    };
    Ok(Catalogue {
        currencies,
        oca_siret: fields.iter().any(|f| f == "siren"),
        country_code: fields.iter().any(|f| f == "country_code"),
        company_partner,
    })
}

/// The invoices' base domain (customer invoices and credit notes of the company, posted or
/// cancelled).
pub fn invoice_domain(company: Option<i64>) -> Vec<Value> {
    let mut d = vec![
        json!(["move_type", "in", ["out_invoice", "out_refund"]]),
        json!(["state", "in", ["posted", "cancel"]]),
    ];
    if let Some(c) = company {
        d.push(json!(["company_id", "=", c]));
    }
    d
}

/// The customers' base domain (commercial entities the company may see).
pub fn partner_domain(company: Option<i64>, own: Option<i64>) -> Vec<Value> {
    let mut d = vec![json!(["parent_id", "=", false])];
    if let Some(c) = company {
        d.push(json!("|"));
        d.push(json!(["company_id", "=", false]));
        d.push(json!(["company_id", "=", c]));
    }
    if let Some(p) = own {
        d.push(json!(["id", "!=", p]));
    }
    d
}

fn after(mut domain: Vec<Value>, pos: Option<&Position>) -> Value {
    if let Some(p) = pos {
        let t = odoo_datetime(p.t);
        domain.push(json!("|"));
        domain.push(json!(["write_date", ">", t]));
        domain.push(json!("&"));
        domain.push(json!(["write_date", "=", t]));
        domain.push(json!(["id", ">", p.id]));
    }
    Value::Array(domain)
}

/// Fields read for each invoice.
pub const INVOICE_FIELDS: [&str; 17] = [
    "name",
    "move_type",
    "state",
    "partner_id",
    "commercial_partner_id",
    "invoice_date",
    "invoice_date_due",
    "date",
    "amount_untaxed",
    "amount_tax",
    "amount_total",
    "amount_residual",
    "currency_id",
    "payment_state",
    "payment_reference",
    "ref",
    "write_date",
];

const PARTNER_FIELDS: [&str; 8] = [
    "name",
    "is_company",
    "email",
    "vat",
    "company_registry",
    "lang",
    "commercial_partner_id",
    "write_date",
];

/// The pull's view of one database: the streams of [`crate::systems::passes`].
pub struct OdooStreams<'a> {
    /// The client.
    pub rpc: &'a Rpc,
    /// The catalogue.
    pub cat: &'a Catalogue,
}

fn position(row: &Value, what: &str) -> Result<Position, OdooError> {
    Ok(Position {
        t: datetime(&row["write_date"]).ok_or_else(|| bad(what, row, "no write_date"))?,
        id: row["id"].as_i64().ok_or_else(|| bad(what, row, "no id"))?,
    })
}

impl Streams for OdooStreams<'_> {
    type Error = OdooError;

    async fn server_now(&self) -> Result<Option<NaiveDateTime>, OdooError> {
        self.rpc
            .search_read("res.company", json!([]), &["id"], 0, Some(1), "id asc")
            .await?;
        Ok(self.rpc.server_time().map(|t| t.naive_utc()))
    }

    async fn read(
        &self,
        stream: usize,
        after_pos: Option<&Position>,
        offset: u64,
        limit: u32,
    ) -> Result<StreamPage, OdooError> {
        let company = self.rpc.company().await?;
        let mut page = StreamPage::default();
        match stream {
            0 => {
                let mut fields: Vec<&str> = PARTNER_FIELDS.to_vec();
                if self.cat.oca_siret {
                    fields.extend(["siren", "siret"]);
                }
                if self.cat.country_code {
                    fields.push("country_code");
                }
                let rows = self
                    .rpc
                    .search_read(
                        "res.partner",
                        after(partner_domain(company, self.cat.company_partner), after_pos),
                        &fields,
                        0,
                        Some(limit),
                        "write_date asc, id asc",
                    )
                    .await?;
                page.rows = rows.len();
                for r in &rows {
                    page.positions.push(position(r, "res.partner")?);
                    page.records.push(Record::Customer(partner(r)?));
                }
            }
            1 | 2 => {
                let rows = if stream == 1 {
                    self.rpc
                        .search_read(
                            "account.move",
                            after(invoice_domain(company), after_pos),
                            &INVOICE_FIELDS,
                            0,
                            Some(limit),
                            "write_date asc, id asc",
                        )
                        .await?
                } else {
                    let mut d = invoice_domain(company);
                    d.push(json!(["payment_state", "in", ["not_paid", "partial"]]));
                    self.rpc
                        .search_read(
                            "account.move",
                            Value::Array(d),
                            &INVOICE_FIELDS,
                            offset,
                            Some(limit),
                            "id asc",
                        )
                        .await?
                };
                page.rows = rows.len();
                let lines = receivable_lines(self.rpc, &rows).await?;
                for r in &rows {
                    if stream == 1 {
                        page.positions.push(position(r, "account.move")?);
                    }
                    if let Some(inv) = invoice(r, &lines, self.cat)? {
                        page.records.push(Record::Invoice(inv));
                    }
                }
            }
            _ => {}
        }
        Ok(page)
    }
}

/// The receivable lines of `rows`' moves: move id → `(date_maturity, amount_currency)`.
async fn receivable_lines(
    rpc: &Rpc,
    rows: &[Value],
) -> Result<HashMap<i64, Vec<(Option<NaiveDate>, Decimal)>>, OdooError> {
    let ids: Vec<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    let mut out: HashMap<i64, Vec<(Option<NaiveDate>, Decimal)>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let lines = rpc
        .search_read(
            "account.move.line",
            json!([
                ["move_id", "in", ids],
                ["account_type", "=", "asset_receivable"]
            ]),
            &["move_id", "date_maturity", "amount_currency"],
            0,
            None,
            "date_maturity asc, id asc",
        )
        .await?;
    for l in &lines {
        let Some((mv, _)) = m2o(&l["move_id"]) else {
            continue;
        };
        let amount = wire::decimal(&l["amount_currency"]).unwrap_or(Decimal::ZERO);
        out.entry(mv)
            .or_default()
            .push((date(&l["date_maturity"]), amount.abs()));
    }
    Ok(out)
}

/// A `res.partner` row as a customer.
pub fn partner(row: &Value) -> Result<Customer, OdooError> {
    let id = row["id"]
        .as_i64()
        .ok_or_else(|| bad("res.partner", row, "no id"))?;
    let name = wire::text(&row["name"]).unwrap_or_else(|| format!("Odoo partner {id}"));
    let mut c = Customer::new(id.to_string(), name);
    let registry = wire::text(&row["company_registry"])
        .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>());
    let oca_siret = wire::text(&row["siret"]);
    let oca_siren = wire::text(&row["siren"]);
    c.siret = oca_siret
        .clone()
        .or_else(|| registry.clone().filter(|r| r.len() == 14));
    c.siren = oca_siren
        .and_then(|s| Siren::parse(&s).ok())
        .or_else(|| registry.as_deref().and_then(|r| Siren::parse(r).ok()))
        .or_else(|| c.siret.as_deref().and_then(|s| Siren::from_siret(s).ok()));
    c.vat_id = wire::text(&row["vat"]);
    if let Some(e) = wire::text(&row["email"]) {
        c.emails = e
            .split([',', ';'])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Some(lang) = wire::text(&row["lang"]) {
        c.language = lang
            .chars()
            .take_while(|ch| ch.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase();
    }
    c.country = wire::text(&row["country_code"]);
    c.kind = CustomerKind::infer(c.siren.as_ref(), c.vat_id.as_deref());
    Ok(c)
}

fn amount(row: &Value, name: &str, rounding: Decimal) -> Result<Decimal, OdooError> {
    let v = &row[name];
    if v == &Value::Bool(false) || v.is_null() {
        return Ok(Decimal::ZERO);
    }
    wire::decimal(v)
        .map(|d| wire::round_to(d, rounding))
        .ok_or_else(|| bad("account.move", row, &format!("{name} is not an amount")))
}

/// An `account.move` row (with [`INVOICE_FIELDS`]) as an invoice; `None` for a move without a
/// number (cancelled before it was ever posted).
pub fn invoice(
    row: &Value,
    lines: &HashMap<i64, Vec<(Option<NaiveDate>, Decimal)>>,
    cat: &Catalogue,
) -> Result<Option<Invoice>, OdooError> {
    let what = "account.move";
    let id = row["id"].as_i64().ok_or_else(|| bad(what, row, "no id"))?;
    let Some(number) = wire::text(&row["name"]).filter(|n| n != "/") else {
        return Ok(None);
    };
    let (currency_id, code) =
        m2o(&row["currency_id"]).ok_or_else(|| bad(what, row, "no currency_id"))?;
    let (code, rounding) = cat
        .currencies
        .get(&currency_id)
        .cloned()
        .unwrap_or((code, Decimal::new(1, 2)));
    let currency = Currency::parse(&code).map_err(|e| bad(what, row, &e.to_string()))?;
    let kind = if row["move_type"].as_str() == Some("out_refund") {
        InvoiceKind::CreditNote
    } else {
        InvoiceKind::Invoice
    };
    let status = match (row["state"].as_str(), row["payment_state"].as_str()) {
        (Some("cancel"), _) | (_, Some("reversed")) => InvoiceStatus::Cancelled,
        // in_payment: matched to a payment whose bank line is not reconciled yet
        (_, Some("paid" | "in_payment")) => InvoiceStatus::Paid,
        _ => InvoiceStatus::Open,
    };
    let amount_due = if status == InvoiceStatus::Open {
        amount(row, "amount_residual", rounding)?.abs()
    } else {
        Decimal::ZERO
    };
    let customer = m2o(&row["commercial_partner_id"])
        .or_else(|| m2o(&row["partner_id"]))
        .ok_or_else(|| bad(what, row, "no partner"))?
        .0;
    let issue = date(&row["invoice_date"])
        .or_else(|| date(&row["date"]))
        .ok_or_else(|| bad(what, row, "no invoice_date"))?;
    let mut instalments: Vec<Instalment> = lines
        .get(&id)
        .map(|ls| {
            ls.iter()
                .filter_map(|(d, a)| {
                    d.map(|due| Instalment {
                        due_date: due,
                        amount: wire::round_to(*a, rounding),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    instalments.sort_by_key(|i| i.due_date);
    let due_date = match instalments.len() {
        0 => date(&row["invoice_date_due"]),
        1 => Some(instalments[0].due_date),
        _ => None,
    };
    if instalments.len() == 1 {
        instalments.clear();
    }
    Ok(Some(Invoice {
        id: id.to_string().into(),
        number,
        kind,
        type_code: if kind == InvoiceKind::CreditNote {
            381
        } else {
            380
        },
        issue_date: issue,
        due_date,
        instalments,
        currency,
        total_without_vat: amount(row, "amount_untaxed", rounding)?.abs(),
        total_vat: amount(row, "amount_tax", rounding)?.abs(),
        total_with_vat: amount(row, "amount_total", rounding)?.abs(),
        amount_due,
        customer: customer.to_string().into(),
        buyer_reference: None,
        order_reference: wire::text(&row["ref"]),
        remittance_reference: wire::text(&row["payment_reference"]),
        payment_iban: None,
        mandate_id: None,
        status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalogue {
        let mut c = Catalogue::default();
        c.currencies.insert(1, ("EUR".into(), Decimal::new(1, 2)));
        c
    }

    #[test]
    fn falses_pairs_and_floats_decode_safely() {
        let row = json!({"id": 42, "name": "INV/2025/00042", "move_type": "out_invoice", "state": "posted",
            "partner_id": [18, "Deco Addict, Jean"], "commercial_partner_id": [17, "Deco Addict"],
            "invoice_date": "2025-01-15", "invoice_date_due": "2025-03-14", "date": "2025-01-15",
            "amount_untaxed": 1000.0, "amount_tax": 200.00000000000003, "amount_total": 1200.0,
            "amount_residual": 700.0000000000001, "currency_id": [1, "EUR"], "payment_state": "partial",
            "payment_reference": "INV/2025/00042", "ref": false, "write_date": "2025-02-03 09:12:44"});
        let mut lines = HashMap::new();
        lines.insert(
            42,
            vec![
                (NaiveDate::from_ymd_opt(2025, 2, 14), Decimal::new(6000, 1)),
                (NaiveDate::from_ymd_opt(2025, 3, 14), Decimal::new(6000, 1)),
            ],
        );
        let inv = invoice(&row, &lines, &cat()).unwrap().unwrap();
        assert_eq!(
            inv.customer.as_str(),
            "17",
            "grouped by the commercial partner"
        );
        assert_eq!(
            (inv.total_vat.to_string(), inv.amount_due.to_string()),
            ("200.00".into(), "700.00".into())
        );
        assert_eq!((inv.instalments.len(), inv.due_date), (2, None));
        assert_eq!(inv.order_reference, None, "false is empty");
        let mut paid = row.clone();
        paid["payment_state"] = json!("in_payment");
        assert_eq!(
            invoice(&paid, &lines, &cat()).unwrap().unwrap().status,
            InvoiceStatus::Paid
        );
        let mut refund = row.clone();
        refund["move_type"] = json!("out_refund");
        assert_eq!(
            invoice(&refund, &lines, &cat()).unwrap().unwrap().type_code,
            381
        );
        let mut draft_cancel = row;
        draft_cancel["name"] = json!(false);
        assert!(invoice(&draft_cancel, &lines, &cat()).unwrap().is_none());
        assert_eq!(m2o(&json!(false)), None);
    }

    #[test]
    fn sirens_from_the_registry_or_oca_fields() {
        let p = partner(
            &json!({"id": 7, "name": "ACME", "company_registry": "732 829 320 00074",
            "vat": "FR44732829320", "email": "a@acme.example, b@acme.example", "lang": "fr_FR"}),
        )
        .unwrap();
        assert_eq!(
            (p.siren.unwrap().as_str(), p.siret.as_deref()),
            ("732829320", Some("73282932000074"))
        );
        assert_eq!(p.emails.len(), 2);
        let p = partner(&json!({"id": 8, "name": "X", "company_registry": false, "siren": "552100554", "siret": false})).unwrap();
        assert_eq!(p.siren.unwrap().as_str(), "552100554");
    }
}
