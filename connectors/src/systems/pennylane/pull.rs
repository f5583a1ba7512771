//! The pull: a full list of customers, customer invoices and credit notes (and, when enabled,
//! the bank transactions not yet matched), then the changelogs from the instant the full list
//! started; webhook events fetch their invoices at once, the changelogs stay the safety net.
//!
//! - **Full list** (§2.3): `GET /customers`, `/customer_invoices` (drafts filtered out),
//!   `/transactions`, `sort=id`, cursor pages of `page_size`. The server's clock when it
//!   starts (its `Date`) is where the changelogs start afterwards, so changes made during the
//!   list are read again, never lost.
//! - **Changelogs** (§2.4): `GET /changelogs/<resource>?start_date=` then `cursor=` within one
//!   read; each change names a record, fetched in batches with `filter=[{"field": "id",
//!   "operator": "in", ...}]`; `delete` of an invoice is [`Record::InvoiceRemoved`]. The
//!   position is the last `processed_at` with the ids already read at that instant (changes
//!   of the same instant are neither lost nor read twice).
//! - **Retention**: Pennylane keeps 4 weeks of changes. A position older than 27 days (by the
//!   server's clock), or a changelog answering 422, starts a full list again.
//! - **Mapping**: amounts are strings (`"230.32"`); `remaining_amount_with_tax` is converted to
//!   EUR for non-EUR invoices (a forum-reported quirk), so the open amount in the invoice's
//!   currency is `currency_amount × remaining / amount`, rounded to the currency; `paid` →
//!   Paid, `cancelled`/`archived` → Cancelled; credit notes (status `credit_note` or negative
//!   totals) become positive BT-3 381; `e_invoicing{status, reason}` becomes a
//!   [`Record::Lifecycle`] beside its invoice; `reg_no` is the SIREN.

use super::client::{Client, PennylaneError};
use super::webhook::WebhookInbox;
use crate::contract::{Ack, Cursor, LifecycleStatus, Page, Record};
use crate::wire;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use relance_core::money::round_money;
use relance_core::siren::Siren;
use relance_core::{
    Currency, Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus, Receipt,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Prefix of receipt ids pulled from Pennylane transactions (the write-back reads it back).
pub const TRANSACTION_PREFIX: &str = "pennylane:transaction:";

/// Changes older than this are gone from the changelogs (Pennylane keeps 4 weeks).
pub const RETENTION_MARGIN_DAYS: i64 = 27;

/// The streams, in pull order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Customers.
    Customers,
    /// Customer invoices and credit notes.
    Invoices,
    /// Bank transactions.
    Transactions,
}

impl Stream {
    const ALL: [Stream; 3] = [Stream::Customers, Stream::Invoices, Stream::Transactions];

    fn list_path(self) -> &'static str {
        match self {
            Stream::Customers => "/customers",
            Stream::Invoices => "/customer_invoices",
            Stream::Transactions => "/transactions",
        }
    }

    fn changelog_path(self) -> &'static str {
        match self {
            Stream::Customers => "/changelogs/customers",
            Stream::Invoices => "/changelogs/customer_invoices",
            Stream::Transactions => "/changelogs/transactions",
        }
    }
}

/// Where a stream's changelog stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Since {
    /// The last `processed_at` read (changes from there on come next).
    pub at: Option<DateTime<Utc>>,
    /// Ids already read at exactly `at`.
    pub seen: Vec<i64>,
}

/// The state a cursor encodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub v: u32,
    /// `true` while the full list runs.
    pub full: bool,
    /// The stream being read.
    pub stream: usize,
    /// Pennylane's cursor within the stream's list or changelog read.
    pub page: Option<String>,
    /// Server clock when the full list started.
    pub full_started: Option<DateTime<Utc>>,
    /// Per stream: the changelog position.
    pub since: [Since; 3],
    /// Per stream: the position the current changelog read reaches.
    pub reach: [Since; 3],
}

impl State {
    fn initial() -> Self {
        State {
            v: 1,
            full: true,
            stream: 0,
            page: None,
            full_started: None,
            since: Default::default(),
            reach: Default::default(),
        }
    }

    /// Decodes a cursor of this connector.
    pub fn decode(c: &Cursor) -> Result<Self, PennylaneError> {
        let s: State =
            serde_json::from_str(&c.0).map_err(|e| PennylaneError::Cursor(e.to_string()))?;
        if s.v != 1 || s.stream > Stream::ALL.len() {
            return Err(PennylaneError::Cursor(format!(
                "version {} stream {}",
                s.v, s.stream
            )));
        }
        Ok(s)
    }

    /// The cursor text.
    pub fn encode(&self) -> Cursor {
        Cursor(serde_json::to_string(self).unwrap_or_default())
    }

    fn restart_full(&mut self) {
        *self = State::initial();
    }
}

fn streams(client: &Client) -> Vec<Stream> {
    Stream::ALL
        .into_iter()
        .filter(|s| *s != Stream::Transactions || client.config().pull_transactions)
        .collect()
}

/// Pulls the next page after `from`. Pending webhook events are served first (their acks
/// name the events, removed from `inbox` once the page is committed).
pub async fn pull(
    client: &Client,
    inbox: Option<&WebhookInbox>,
    from: Option<&Cursor>,
) -> Result<Page, PennylaneError> {
    let mut st = match from {
        Some(c) => State::decode(c)?,
        None => State::initial(),
    };
    let enabled = streams(client);
    let limit = client.config().page_size.clamp(1, 100);
    if !st.full {
        if let Some(inbox) = inbox {
            let pending = inbox.peek(limit as usize);
            if !pending.is_empty() {
                let ids: Vec<i64> = pending.iter().map(|(_, id)| *id).collect();
                let records = fetch(client, Stream::Invoices, &ids).await?;
                let mut page = Page::new(records, Some(st.encode()), true);
                page.acks = pending.iter().map(|(e, _)| Ack(e.clone())).collect();
                return Ok(page);
            }
        }
    }
    skip_disabled(&mut st, &enabled);
    loop {
        if st.stream >= Stream::ALL.len() {
            // a pass of the changelogs is over: the next one starts from the positions
            st.stream = 0;
            skip_disabled(&mut st, &enabled);
            return Ok(Page::new(Vec::new(), Some(st.encode()), false));
        }
        let stream = Stream::ALL[st.stream];
        if st.full {
            if st.full_started.is_none() && st.page.is_none() && st.stream == 0 {
                st.full_started = Some(server_now(client).await?);
            }
            let (records, next) = list_page(client, stream, st.page.as_deref(), limit).await?;
            st.page = next;
            if st.page.is_none() {
                st.stream += 1;
                skip_disabled(&mut st, &enabled);
            }
            let done = st.stream >= Stream::ALL.len();
            if done {
                finish_full(client, &mut st);
            }
            if records.is_empty() && !done {
                continue;
            }
            return Ok(Page::new(records, Some(st.encode()), !done));
        }
        // changelogs
        if st.stream == 0 && st.page.is_none() {
            let now = server_now(client).await?;
            let oldest = enabled
                .iter()
                .filter_map(|s| st.since[*s as usize].at)
                .min();
            if oldest.is_some_and(|o| now - o > Duration::days(RETENTION_MARGIN_DAYS)) {
                tracing::info!(
                    "Pennylane changelog position older than {RETENTION_MARGIN_DAYS} days (kept 4 weeks): listing everything again"
                );
                st.restart_full();
                continue;
            }
        }
        match changes_page(client, stream, &mut st, limit).await {
            Ok(records) => {
                let end_of_stream = st.page.is_none();
                if end_of_stream {
                    let i = st.stream;
                    if st.reach[i].at.is_some() {
                        st.since[i] = std::mem::take(&mut st.reach[i]);
                    }
                    st.stream += 1;
                    skip_disabled(&mut st, &enabled);
                }
                let done = st.stream >= Stream::ALL.len();
                if done {
                    st.stream = 0;
                }
                if records.is_empty() && !done {
                    continue;
                }
                return Ok(Page::new(records, Some(st.encode()), !done));
            }
            Err(PennylaneError::Rejected { status: 422, .. }) => {
                tracing::info!(
                    stream = ?stream,
                    "Pennylane refused the changelog position (422: older than its retention): listing everything again"
                );
                st.restart_full();
            }
            Err(e) => return Err(e),
        }
    }
}

fn skip_disabled(st: &mut State, enabled: &[Stream]) {
    while st.stream < Stream::ALL.len() && !enabled.contains(&Stream::ALL[st.stream]) {
        st.stream += 1;
    }
}

fn finish_full(client: &Client, st: &mut State) {
    let started = st.full_started.or_else(|| client.server_time());
    let overlap = Duration::seconds(
        i64::try_from(client.config().overlap_seconds).unwrap_or(i64::MAX / 2_000_000),
    );
    let at = started.map(|s| s - overlap);
    st.full = false;
    st.stream = 0;
    st.page = None;
    st.full_started = None;
    for s in &mut st.since {
        *s = Since {
            at,
            seen: Vec::new(),
        };
    }
    st.reach = Default::default();
}

async fn server_now(client: &Client) -> Result<DateTime<Utc>, PennylaneError> {
    if let Some(t) = client.server_time() {
        // a fresh answer's clock: ask again only when none was seen yet
        return Ok(t);
    }
    client.get("/me", &[], "GET /me").await?;
    client
        .server_time()
        .ok_or_else(|| PennylaneError::Protocol {
            what: "GET /me".into(),
            detail: "no Date header: the server's clock is needed to place the changelogs".into(),
        })
}

fn list_query(stream: Stream, limit: u32) -> Vec<(&'static str, String)> {
    let mut q = vec![("limit", limit.to_string()), ("sort", "id".to_owned())];
    if stream == Stream::Invoices {
        q.push(("filter", Client::filter(&[("draft", "eq", json!(false))])));
    }
    q
}

async fn list_page(
    client: &Client,
    stream: Stream,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<Record>, Option<String>), PennylaneError> {
    let what = format!("GET {}", stream.list_path());
    let page = client
        .list(stream.list_path(), list_query(stream, limit), cursor, &what)
        .await?;
    let mut records = Vec::with_capacity(page.items.len());
    for item in &page.items {
        convert(stream, item, &mut records)?;
    }
    Ok((records, page.next))
}

/// Fetches records by id (a changelog's or a webhook's), in batches of at most 100.
pub async fn fetch(
    client: &Client,
    stream: Stream,
    ids: &[i64],
) -> Result<Vec<Record>, PennylaneError> {
    let mut records = Vec::new();
    for chunk in ids.chunks(100) {
        let mut q = list_query(stream, chunk.len() as u32);
        q.retain(|(k, _)| *k != "filter");
        let mut conds = vec![("id", "in", json!(chunk))];
        if stream == Stream::Invoices {
            conds.push(("draft", "eq", json!(false)));
        }
        q.push(("filter", Client::filter(&conds)));
        let what = format!("GET {} by id", stream.list_path());
        let mut cursor = None;
        loop {
            let page = client
                .list(stream.list_path(), q.clone(), cursor.as_deref(), &what)
                .await?;
            for item in &page.items {
                convert(stream, item, &mut records)?;
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok(records)
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// One page of `stream`'s changelog: the changed records (fetched) and removals.
async fn changes_page(
    client: &Client,
    stream: Stream,
    st: &mut State,
    limit: u32,
) -> Result<Vec<Record>, PennylaneError> {
    let i = stream as usize;
    let mut q: Vec<(&str, String)> = vec![("limit", limit.to_string())];
    match (&st.page, st.since[i].at) {
        (Some(c), _) => q.push(("cursor", c.clone())),
        (None, Some(at)) => q.push((
            "start_date",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )),
        (None, None) => {}
    }
    let what = format!("GET {}", stream.changelog_path());
    let v = client.get(stream.changelog_path(), &q, &what).await?;
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| PennylaneError::Protocol {
            what: what.clone(),
            detail: format!("no items list: {}", wire::short(&v)),
        })?;
    let has_more = v.get("has_more").and_then(Value::as_bool).unwrap_or(false);
    st.page = if has_more {
        v.get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    } else {
        None
    };
    if st.reach[i].at.is_none() {
        st.reach[i] = st.since[i].clone();
    }
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    for item in &items {
        let (Some(id), Some(at)) = (
            item.get("id").and_then(Value::as_i64),
            parse_time(item.get("processed_at").unwrap_or(&Value::Null)),
        ) else {
            return Err(PennylaneError::Protocol {
                what,
                detail: format!("change without id or processed_at: {}", wire::short(item)),
            });
        };
        // already read at the position's instant
        let since = &st.since[i];
        if since.at == Some(at) && since.seen.contains(&id) {
            continue;
        }
        let reach = &mut st.reach[i];
        match reach.at {
            Some(r) if r > at => {}
            Some(r) if r == at => {
                if !reach.seen.contains(&id) {
                    reach.seen.push(id);
                }
            }
            _ => {
                reach.at = Some(at);
                reach.seen = vec![id];
            }
        }
        match item.get("operation").and_then(Value::as_str) {
            Some("delete") => {
                changed.retain(|c| *c != id);
                if !removed.contains(&id) {
                    removed.push(id);
                }
            }
            _ => {
                removed.retain(|r| *r != id);
                if !changed.contains(&id) {
                    changed.push(id);
                }
            }
        }
    }
    let mut records = fetch(client, stream, &changed).await?;
    if stream == Stream::Invoices {
        records.extend(removed.into_iter().map(|id| Record::InvoiceRemoved {
            id: id.to_string().into(),
        }));
    }
    Ok(records)
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

fn bad(what: &str, item: &Value, problem: &str) -> PennylaneError {
    PennylaneError::Protocol {
        what: what.to_owned(),
        detail: format!("{problem}: {}", wire::short(item)),
    }
}

fn money(item: &Value, name: &str, what: &str) -> Result<Decimal, PennylaneError> {
    wire::decimal(field(item, name))
        .ok_or_else(|| bad(what, item, &format!("{name} is not an amount")))
}

fn date(item: &Value, name: &str) -> Option<NaiveDate> {
    field(item, name)
        .as_str()
        .and_then(|s| NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").ok())
}

fn convert(stream: Stream, item: &Value, out: &mut Vec<Record>) -> Result<(), PennylaneError> {
    match stream {
        Stream::Customers => out.push(Record::Customer(customer(item)?)),
        Stream::Invoices => {
            let inv = invoice(item)?;
            let lifecycle = lifecycle(item, &inv);
            out.push(Record::Invoice(inv));
            out.extend(lifecycle.map(Record::Lifecycle));
        }
        Stream::Transactions => {
            if let Some(r) = receipt(item)? {
                out.push(Record::Receipt(r));
            }
        }
    }
    Ok(())
}

/// A customer (company or individual, §2.7).
pub fn customer(item: &Value) -> Result<Customer, PennylaneError> {
    let what = "customer";
    let id = field(item, "id")
        .as_i64()
        .ok_or_else(|| bad(what, item, "no id"))?;
    let name = wire::text(field(item, "name"))
        .or_else(|| {
            let first = wire::text(field(item, "first_name")).unwrap_or_default();
            let last = wire::text(field(item, "last_name")).unwrap_or_default();
            let n = format!("{first} {last}").trim().to_owned();
            (!n.is_empty()).then_some(n)
        })
        .unwrap_or_else(|| format!("Pennylane customer {id}"));
    let mut c = Customer::new(id.to_string(), name);
    c.siren = wire::text(field(item, "reg_no"))
        .and_then(|s| Siren::parse(&s).ok().or_else(|| Siren::from_siret(&s).ok()));
    c.vat_id = wire::text(field(item, "vat_number"));
    c.emails = field(item, "emails")
        .as_array()
        .map(|a| a.iter().filter_map(wire::text).collect())
        .unwrap_or_default();
    c.country = wire::text(&item["billing_address"]["country_alpha2"]);
    if let Some(lang) = wire::text(field(item, "billing_language")) {
        c.language = lang
            .chars()
            .take_while(|ch| ch.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase();
    }
    if let Some(iban) = wire::text(field(item, "billing_iban")) {
        c.ibans.push(iban);
    }
    c.kind = if field(item, "customer_type").as_str() == Some("individual") {
        CustomerKind::Consumer
    } else {
        CustomerKind::infer(c.siren.as_ref(), c.vat_id.as_deref())
    };
    Ok(c)
}

/// A customer invoice or credit note (§2.5).
pub fn invoice(item: &Value) -> Result<Invoice, PennylaneError> {
    let what = "customer invoice";
    let id = field(item, "id")
        .as_i64()
        .ok_or_else(|| bad(what, item, "no id"))?;
    let currency_code = wire::text(field(item, "currency")).unwrap_or_else(|| "EUR".to_owned());
    let currency =
        Currency::parse(&currency_code).map_err(|e| bad(what, item, &format!("currency: {e}")))?;
    let total = money(item, "currency_amount", what)?;
    let untaxed = wire::decimal(field(item, "currency_amount_before_tax")).unwrap_or(total);
    let tax = wire::decimal(field(item, "currency_tax")).unwrap_or(total - untaxed);
    let status_text = field(item, "status").as_str().unwrap_or("");
    let kind = if status_text == "credit_note"
        || field(item, "credit_note").as_bool() == Some(true)
        || total < Decimal::ZERO
    {
        InvoiceKind::CreditNote
    } else {
        InvoiceKind::Invoice
    };
    let status = if field(item, "paid").as_bool() == Some(true) || status_text == "paid" {
        InvoiceStatus::Paid
    } else if matches!(status_text, "cancelled" | "archived")
        || !field(item, "archived_at").is_null()
    {
        InvoiceStatus::Cancelled
    } else {
        InvoiceStatus::Open
    };
    let amount_due = if status == InvoiceStatus::Open {
        let remaining = money(item, "remaining_amount_with_tax", what)?.abs();
        if currency == Currency::EUR {
            remaining
        } else {
            // remaining_amount_with_tax is in EUR: back to the invoice's currency pro rata
            let eur = wire::decimal(field(item, "amount"))
                .unwrap_or(Decimal::ZERO)
                .abs();
            if eur.is_zero() {
                total.abs()
            } else {
                round_money(total.abs() * remaining / eur, currency)
            }
        }
    } else {
        Decimal::ZERO
    };
    let issue = date(item, "date").ok_or_else(|| bad(what, item, "no date"))?;
    let customer = item["customer"]["id"]
        .as_i64()
        .ok_or_else(|| bad(what, item, "no customer"))?;
    Ok(Invoice {
        id: id.to_string().into(),
        number: wire::text(field(item, "invoice_number")).unwrap_or_else(|| format!("#{id}")),
        kind,
        type_code: if kind == InvoiceKind::CreditNote {
            381
        } else {
            380
        },
        issue_date: issue,
        due_date: date(item, "deadline"),
        instalments: Vec::new(),
        currency,
        total_without_vat: untaxed.abs(),
        total_vat: tax.abs(),
        total_with_vat: total.abs(),
        amount_due,
        customer: customer.to_string().into(),
        buyer_reference: None,
        order_reference: wire::text(field(item, "pdf_invoice_subject")),
        remittance_reference: wire::text(field(item, "external_reference")),
        payment_iban: None,
        mandate_id: None,
        status,
    })
}

/// The invoice's e-invoicing status, when it has one (since 2026-03).
pub fn lifecycle(item: &Value, inv: &Invoice) -> Option<LifecycleStatus> {
    let e = field(item, "e_invoicing");
    let status = wire::text(field(e, "status"))?;
    Some(LifecycleStatus {
        invoice: inv.id.clone(),
        platform: "pennylane".to_owned(),
        status,
        reason: wire::text(field(e, "reason")),
        at: parse_time(field(e, "updated_at")),
        amount: None,
    })
}

/// A bank transaction as a receipt: only credits not archived and not matched in Pennylane
/// at all (`outstanding_balance` equal to the amount); a transaction Pennylane matched, even
/// in part, is Pennylane's.
pub fn receipt(item: &Value) -> Result<Option<Receipt>, PennylaneError> {
    let what = "transaction";
    let id = field(item, "id")
        .as_i64()
        .ok_or_else(|| bad(what, item, "no id"))?;
    let amount = money(item, "currency_amount", what)?;
    let outstanding = wire::decimal(field(item, "outstanding_balance")).unwrap_or(amount);
    if amount <= Decimal::ZERO || !field(item, "archived_at").is_null() || outstanding != amount {
        return Ok(None);
    }
    let currency = wire::text(field(item, "currency"))
        .and_then(|c| Currency::parse(&c).ok())
        .unwrap_or(Currency::EUR);
    let booked = date(item, "date").ok_or_else(|| bad(what, item, "no date"))?;
    let label = wire::text(field(item, "label")).unwrap_or_default();
    Ok(Some(Receipt {
        id: format!("{TRANSACTION_PREFIX}{id}").into(),
        account: item["bank_account"]["id"]
            .as_i64()
            .map(|b| format!("pennylane bank account {b}"))
            .unwrap_or_default(),
        booking_date: booked,
        value_date: Some(booked),
        amount,
        currency,
        counterparty_name: None,
        counterparty_iban: None,
        remittance: label.clone(),
        structured_ref: None,
        end_to_end_id: None,
        mandate_id: None,
        bank_code: None,
        return_reason: None,
        reversal: false,
        source: format!("pennylane transaction {id} ({label})"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoices_map_status_credit_notes_and_foreign_remaining() {
        let base = json!({"id": 42, "invoice_number": "F20230001", "currency": "EUR",
            "amount": "230.32", "currency_amount": "230.32", "currency_amount_before_tax": "196.32",
            "currency_tax": "34.00", "date": "2023-08-30", "deadline": "2023-09-29",
            "paid": false, "status": "late", "remaining_amount_with_tax": "100.00",
            "customer": {"id": 7, "url": "x"}, "archived_at": null,
            "e_invoicing": {"status": "in_dispute", "reason": "Montant erroné"}});
        let inv = invoice(&base).unwrap();
        assert_eq!(
            (
                inv.status,
                inv.amount_due.to_string(),
                inv.total_vat.to_string()
            ),
            (InvoiceStatus::Open, "100.00".to_owned(), "34.00".to_owned())
        );
        let l = lifecycle(&base, &inv).unwrap();
        assert_eq!(
            (l.status.as_str(), l.reason.as_deref()),
            ("in_dispute", Some("Montant erroné"))
        );
        let mut usd = base.clone();
        usd["currency"] = json!("USD");
        usd["currency_amount"] = json!("250.00");
        usd["amount"] = json!("230.32");
        usd["remaining_amount_with_tax"] = json!("115.16");
        assert_eq!(invoice(&usd).unwrap().amount_due.to_string(), "125.00");
        let mut cn = base.clone();
        cn["status"] = json!("credit_note");
        cn["currency_amount"] = json!("-120.00");
        cn["remaining_amount_with_tax"] = json!("-120.00");
        let c = invoice(&cn).unwrap();
        assert_eq!(
            (c.kind, c.type_code, c.total_with_vat.to_string()),
            (InvoiceKind::CreditNote, 381, "120.00".to_owned())
        );
        let mut paid = base;
        paid["paid"] = json!(true);
        assert_eq!(invoice(&paid).unwrap().amount_due, Decimal::ZERO);
    }

    #[test]
    fn only_unmatched_credits_become_receipts() {
        let t = json!({"id": 9, "label": "VIR SEPA CLIENT F20230001", "date": "2023-09-01",
            "outstanding_balance": "120.00", "currency": "EUR", "currency_amount": "120.00",
            "amount": "120.00", "archived_at": null, "bank_account": {"id": 3}});
        let r = receipt(&t).unwrap().unwrap();
        assert_eq!(r.id.as_str(), "pennylane:transaction:9");
        let mut matched = t.clone();
        matched["outstanding_balance"] = json!("20.00");
        assert!(receipt(&matched).unwrap().is_none());
        let mut debit = t;
        debit["currency_amount"] = json!("-50.00");
        debit["outstanding_balance"] = json!("-50.00");
        assert!(receipt(&debit).unwrap().is_none());
    }

    #[test]
    fn customers_take_the_siren_from_reg_no() {
        let c = customer(
            &json!({"id": 5, "name": "Deco Addict", "reg_no": "732 829 320",
            "vat_number": "FR44732829320", "emails": ["compta@deco.example"],
            "billing_address": {"country_alpha2": "FR"}, "billing_language": "fr_FR",
            "customer_type": "company"}),
        )
        .unwrap();
        assert_eq!(c.siren.unwrap().as_str(), "732829320");
        assert_eq!(
            (c.language.as_str(), c.country.as_deref()),
            ("fr", Some("FR"))
        );
    }
}
