//! The pull: accounts, then each account's transactions in keyset passes by `updated_at`, as
//! [`Record::BankEntry`]s keyed by the movement (see the module above).
//!
//! The cursor (`qonto1:` + JSON) holds, per IBAN, the last `updated_at` read, the
//! `(id, updated_at)` pairs read within `overlap_seconds` before it (skipped when read again),
//! the page number (only above 1 while pages give nothing newer), and the accounts done in the
//! current pass. A pass ends when every account reached its last page: that page says
//! `has_more = false`, and the next pull starts a new pass.

use super::client::{Client, QontoError};
use crate::contract::{Cursor, Page, Record};
use crate::formats::bank::{self, rf};
use crate::http::with_query;
use crate::wire;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use relance_core::ids::TransactionId;
use relance_core::model::Receipt;
use relance_core::money::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const CURSOR_PREFIX: &str = "qonto1:";

/// One account of the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Qonto's id.
    pub id: String,
    /// Its IBAN.
    pub iban: String,
    /// Its currency.
    pub currency: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The last `updated_at` read (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    /// The page to ask next (≥ 1).
    #[serde(default = "one")]
    page: u32,
    /// `(id, updated_at)` read within the overlap window before `at`.
    #[serde(default)]
    recent: Vec<(String, String)>,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    accounts: BTreeMap<String, Position>,
    /// Accounts done in the current pass.
    #[serde(default)]
    done: BTreeSet<String>,
}

impl State {
    fn parse(c: Option<&Cursor>) -> Result<Self, QontoError> {
        let Some(c) = c else {
            return Ok(State::default());
        };
        let json =
            c.0.strip_prefix(CURSOR_PREFIX)
                .ok_or_else(|| QontoError::Cursor(format!("{:?} is not a Qonto cursor", c.0)))?;
        serde_json::from_str(json).map_err(|e| QontoError::Cursor(e.to_string()))
    }

    fn cursor(&self) -> Cursor {
        Cursor(format!(
            "{CURSOR_PREFIX}{}",
            serde_json::to_string(self).unwrap_or_default()
        ))
    }
}

/// The organization's accounts (restricted to `ibans` when configured), by IBAN.
pub async fn accounts(client: &Client) -> Result<Vec<Account>, QontoError> {
    let v = client
        .get_json("/v2/organization", "GET /v2/organization")
        .await?;
    let list = v["organization"]["bank_accounts"]
        .as_array()
        .ok_or_else(|| QontoError::Protocol {
            what: "GET /v2/organization".into(),
            detail: "no organization.bank_accounts".into(),
        })?;
    let wanted: BTreeSet<String> = client.cfg.ibans.iter().map(|i| compact(i)).collect();
    let mut out: Vec<Account> = list
        .iter()
        .filter_map(|a| {
            Some(Account {
                id: wire::text(&a["id"]).unwrap_or_default(),
                iban: compact(&wire::text(&a["iban"])?),
                currency: wire::text(&a["currency"]).unwrap_or_else(|| "EUR".into()),
            })
        })
        .filter(|a| wanted.is_empty() || wanted.contains(&a.iban))
        .collect();
    out.sort_by(|a, b| a.iban.cmp(&b.iban));
    Ok(out)
}

fn compact(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

fn ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn fmt_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut d = first_next.pred_opt()?;
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt()?;
    }
    Some(d)
}

/// Paris's offset from UTC at `t`, in hours: +2 from the last Sunday of March 01:00 UTC to
/// the last Sunday of October 01:00 UTC (EU summer time, directive 2000/84/EC), else +1.
fn paris_offset_hours(t: DateTime<Utc>) -> i64 {
    let y = t.year();
    let start = last_sunday(y, 3).and_then(|d| d.and_hms_opt(1, 0, 0));
    let end = last_sunday(y, 10).and_then(|d| d.and_hms_opt(1, 0, 0));
    match (start, end) {
        (Some(s), Some(e)) if t.naive_utc() >= s && t.naive_utc() < e => 2,
        _ => 1,
    }
}

/// The date in Paris of the instant `t`.
pub fn paris_date(t: DateTime<Utc>) -> NaiveDate {
    (t + chrono::Duration::hours(paris_offset_hours(t))).date_naive()
}

/// The first and last instants (UTC) of the Paris day `d`.
fn paris_day_bounds(d: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let local_midnight = Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?);
    // the offset at the day's start (a change happens at 01:00 UTC, well after midnight)
    let start = local_midnight - chrono::Duration::hours(paris_offset_hours(local_midnight));
    let next_local = Utc.from_utc_datetime(&d.succ_opt()?.and_hms_opt(0, 0, 0)?);
    let next = next_local - chrono::Duration::hours(paris_offset_hours(next_local));
    Some((start, next - chrono::Duration::milliseconds(1)))
}

/// A transaction's signed amount and currency.
fn amount_of(tx: &Value) -> Option<(Decimal, Currency)> {
    let currency = Currency::parse(tx["currency"].as_str().unwrap_or("EUR")).ok()?;
    let abs = match tx["amount_cents"].as_i64() {
        Some(c) => Decimal::new(c, 2),
        None => wire::with_scale(wire::decimal(&tx["amount"])?, 2),
    }
    .abs();
    match tx["side"].as_str() {
        Some("credit") => Some((abs, currency)),
        Some("debit") => Some((-abs, currency)),
        _ => None,
    }
}

/// A completed transaction as a receipt (without its key); `None` for any other status or a
/// transaction missing what a booked movement has.
pub fn receipt_of(tx: &Value, iban: &str) -> Option<Receipt> {
    if tx["status"].as_str() != Some("completed") {
        return None;
    }
    let id = wire::text(&tx["id"])?;
    let settled = ts(tx["settled_at"].as_str()?)?;
    let (amount, currency) = amount_of(tx)?;
    let reference = wire::text(&tx["reference"]);
    let structured_ref = reference
        .as_deref()
        .filter(|r| rf::check_rf(r) == rf::RfCheck::Valid)
        .map(str::to_owned);
    let transfer = &tx["transfer"];
    let counterparty_iban = match transfer["counterparty_account_number_format"].as_str() {
        Some("IBAN") | None => {
            wire::text(&transfer["counterparty_account_number"]).map(|s| compact(&s))
        }
        Some(_) => None,
    };
    Some(Receipt {
        id: TransactionId::new(id.clone()),
        account: iban.to_owned(),
        booking_date: paris_date(settled),
        value_date: tx["value_date"]
            .as_str()
            .and_then(|d| NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok()),
        amount,
        currency,
        counterparty_name: wire::text(&tx["label"]),
        counterparty_iban,
        remittance: reference.unwrap_or_default(),
        structured_ref,
        end_to_end_id: None,
        mandate_id: None,
        bank_code: wire::text(&tx["operation_type"]),
        return_reason: None,
        reversal: false,
        source: format!("qonto:{iban}/{id}"),
    })
}

/// One page of `/v2/transactions` with `query`: the transactions and whether a next page exists.
async fn transactions(
    client: &Client,
    query: &[(&str, String)],
) -> Result<(Vec<Value>, bool), QontoError> {
    let what = "GET /v2/transactions";
    let url = with_query(&client.endpoint("/v2/transactions"), query).map_err(|e| {
        QontoError::Protocol {
            what: what.into(),
            detail: e.to_string(),
        }
    })?;
    let r = client
        .call(crate::http::Method::Get, &url, None, None, &[], what)
        .await?;
    let v: Value = serde_json::from_str(&r.body).map_err(|e| QontoError::Protocol {
        what: what.into(),
        detail: format!("not JSON ({e})"),
    })?;
    let txs = v["transactions"]
        .as_array()
        .cloned()
        .ok_or_else(|| QontoError::Protocol {
            what: what.into(),
            detail: "no transactions list".into(),
        })?;
    let more = !v["meta"]["next_page"].is_null();
    Ok((txs, more))
}

/// The key of each receipt of one account and Paris day: its occurrence among the day's
/// completed movements of the same amount and currency, ordered by (`settled_at`, id), read
/// whole from the API.
async fn day_keys(
    client: &Client,
    iban: &str,
    day: NaiveDate,
    wanted: &[&Receipt],
) -> Result<HashMap<String, String>, QontoError> {
    let (from, to) = paris_day_bounds(day).ok_or_else(|| QontoError::Protocol {
        what: "GET /v2/transactions".into(),
        detail: format!("no Paris day {day}"),
    })?;
    let mut all: Vec<(DateTime<Utc>, String, Decimal, Currency)> = Vec::new();
    for page in 1..=10_000u32 {
        let q = vec![
            ("iban", iban.to_owned()),
            ("status[]", "completed".to_owned()),
            ("settled_at_from", fmt_ts(from)),
            ("settled_at_to", fmt_ts(to)),
            ("sort_by", "settled_at:asc".to_owned()),
            ("per_page", "100".to_owned()),
            ("current_page", page.to_string()),
        ];
        let (txs, more) = transactions(client, &q).await?;
        for tx in &txs {
            if let Some(r) = receipt_of(tx, iban) {
                if let Some(t) = tx["settled_at"].as_str().and_then(ts) {
                    all.push((t, r.id.as_str().to_owned(), r.amount, r.currency));
                }
            }
        }
        if !more || txs.is_empty() {
            break;
        }
    }
    all.sort();
    let mut out = HashMap::new();
    for r in wanted {
        let me = all.iter().find(|(_, id, ..)| id == r.id.as_str());
        let n = match me {
            Some((t, id, ..)) => all
                .iter()
                .filter(|(t2, id2, a, c)| *a == r.amount && *c == r.currency && (t2, id2) < (t, id))
                .count(),
            // settled in the meantime out of that day (it cannot: settled_at is final); first
            None => 0,
        };
        out.insert(
            r.id.as_str().to_owned(),
            bank::dedup_key(&bank::movement_basis(r), n + 1),
        );
    }
    Ok(out)
}

/// Pulls the next page (see the module docs).
pub async fn pull(
    client: &Client,
    cache: &mut Option<Vec<Account>>,
    from: Option<&Cursor>,
) -> Result<Page, QontoError> {
    let mut state = State::parse(from)?;
    if state.done.is_empty() || cache.is_none() {
        *cache = Some(accounts(client).await?);
    }
    let list = cache.clone().unwrap_or_default();
    let Some(account) = list.iter().find(|a| !state.done.contains(&a.iban)) else {
        state.done.clear();
        return Ok(Page::new(Vec::new(), Some(state.cursor()), false));
    };
    let overlap = chrono::Duration::seconds(
        i64::try_from(client.cfg.overlap_seconds).unwrap_or(i64::MAX / 4_000_000),
    );
    let mut pos = state
        .accounts
        .get(&account.iban)
        .cloned()
        .unwrap_or_default();
    let at = pos.at.as_deref().and_then(ts);
    let mut q = vec![
        ("iban", account.iban.clone()),
        ("sort_by", "updated_at:asc".to_owned()),
        ("per_page", client.cfg.page_size.clamp(1, 100).to_string()),
        ("current_page", pos.page.max(1).to_string()),
    ];
    if let Some(at) = at {
        q.push(("updated_at_from", fmt_ts(at - overlap)));
    }
    let (txs, more) = transactions(client, &q).await?;
    let seen: BTreeSet<(String, String)> = pos.recent.iter().cloned().collect();
    let mut newest = at;
    let mut progressed = false;
    let mut fresh: Vec<Receipt> = Vec::new();
    for tx in &txs {
        let (Some(id), Some(upd)) = (
            wire::text(&tx["id"]),
            tx["updated_at"].as_str().and_then(ts),
        ) else {
            continue;
        };
        let pair = (id, fmt_ts(upd));
        if seen.contains(&pair) {
            continue;
        }
        if at.is_none_or(|a| upd > a) {
            progressed = true;
        }
        newest = Some(newest.map_or(upd, |n| n.max(upd)));
        pos.recent.push(pair);
        if let Some(r) = receipt_of(tx, &account.iban) {
            fresh.push(r);
        }
    }
    // keys: per Paris day, the occurrence among that day's movements of the same amount
    let mut by_day: BTreeMap<NaiveDate, Vec<&Receipt>> = BTreeMap::new();
    for r in &fresh {
        by_day.entry(r.booking_date).or_default().push(r);
    }
    let mut keys = HashMap::new();
    for (day, rs) in by_day {
        keys.extend(day_keys(client, &account.iban, day, &rs).await?);
    }
    let records: Vec<Record> = fresh
        .into_iter()
        .filter_map(|r| {
            let key = keys.get(r.id.as_str())?.clone();
            Some(Record::BankEntry { key, receipt: r })
        })
        .collect();
    // the new position
    if let Some(n) = newest {
        let keep_from = n - overlap;
        pos.recent
            .retain(|(_, u)| ts(u).is_some_and(|u| u >= keep_from));
        pos.recent.sort();
        pos.recent.dedup();
        pos.at = Some(fmt_ts(n));
    }
    if !more {
        pos.page = 1;
        state.done.insert(account.iban.clone());
    } else if progressed {
        pos.page = 1;
    } else {
        pos.page = pos.page.max(1) + 1;
    }
    state.accounts.insert(account.iban.clone(), pos);
    let has_more = list.iter().any(|a| !state.done.contains(&a.iban));
    if !has_more {
        state.done.clear();
    }
    Ok(Page::new(records, Some(state.cursor()), has_more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paris_dates_follow_summer_time() {
        let d = |s: &str| paris_date(ts(s).unwrap()).to_string();
        assert_eq!(d("2026-01-15T23:30:00Z"), "2026-01-16", "winter: UTC+1");
        assert_eq!(d("2026-01-15T22:30:00Z"), "2026-01-15");
        assert_eq!(d("2026-07-15T22:30:00Z"), "2026-07-16", "summer: UTC+2");
        assert_eq!(d("2026-07-15T21:30:00Z"), "2026-07-15");
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC
        assert_eq!(paris_offset_hours(ts("2026-03-29T00:59:59Z").unwrap()), 1);
        assert_eq!(paris_offset_hours(ts("2026-03-29T01:00:00Z").unwrap()), 2);
        assert_eq!(paris_offset_hours(ts("2026-10-25T00:59:59Z").unwrap()), 2);
        assert_eq!(paris_offset_hours(ts("2026-10-25T01:00:00Z").unwrap()), 1);
        let (a, b) = paris_day_bounds(NaiveDate::from_ymd_opt(2026, 7, 16).unwrap()).unwrap();
        assert_eq!(fmt_ts(a), "2026-07-15T22:00:00.000Z");
        assert_eq!(fmt_ts(b), "2026-07-16T21:59:59.999Z");
    }

    #[test]
    fn only_completed_transactions_are_receipts() {
        let tx = json!({"id": "t1", "amount": 0.1, "amount_cents": 10, "side": "debit",
            "currency": "EUR", "label": "Ferry", "settled_at": "2026-03-03T16:06:38.000Z",
            "updated_at": "2026-03-03T16:06:38.000Z", "status": "completed",
            "reference": "VT2026-001", "operation_type": "transfer",
            "transfer": {"counterparty_account_number": "NL93 RABO 3730 9767 96",
                         "counterparty_account_number_format": "IBAN"}});
        let r = receipt_of(&tx, "FR7616958000010000000000001").unwrap();
        assert_eq!(r.amount.to_string(), "-0.10");
        assert_eq!(r.booking_date.to_string(), "2026-03-03");
        assert_eq!(r.counterparty_iban.as_deref(), Some("NL93RABO3730976796"));
        assert_eq!(r.counterparty_name.as_deref(), Some("Ferry"));
        assert_eq!(r.remittance, "VT2026-001");
        let mut credit = tx.clone();
        credit["side"] = json!("credit");
        credit["amount_cents"] = Value::Null;
        credit["amount"] = json!(1200.5);
        assert_eq!(
            receipt_of(&credit, "X").unwrap().amount.to_string(),
            "1200.50"
        );
        for status in ["pending", "declined"] {
            let mut t = tx.clone();
            t["status"] = json!(status);
            assert!(receipt_of(&t, "X").is_none(), "{status}");
        }
    }

    #[test]
    fn foreign_cursors_are_refused() {
        assert!(State::parse(Some(&Cursor("pa1:{}".into()))).is_err());
        let s = State::default();
        assert_eq!(State::parse(Some(&s.cursor())).unwrap(), s);
    }
}
