//! Incremental pull: customers, then invoices and credit notes, then bank receipts, each
//! ordered by `(last_modified_at, id)` and read in bounded pages.
//!
//! The cursor (JSON text, opaque to callers) holds, per stream, the last `(timestamp, id)`
//! read. A *pass* runs through the streams in order; when it ends, each stream restarts from
//! the earlier of its last timestamp and `server clock at pass start − overlap_seconds`:
//! Tryton stamps rows with their transaction's *start* time (PostgreSQL `CURRENT_TIMESTAMP`),
//! so a transaction committing late can add rows "behind" a reader (guide §4.6). Rows read
//! twice are re-emitted; callers upsert by id, so that is harmless.
//!
//! Deletions: Tryton refuses to delete posted invoices, so a pulled invoice can only become
//! `cancelled` (emitted with status Cancelled) or `paid`. Invoices cancelled before posting
//! have no number and were never receivables: not emitted. Hard deletes of parties or
//! statement lines are not detected (they are refused once used in posted moves).

use super::error::TrytonError;
use super::rpc::RpcClient;
use super::value::{self as v, enc_datetime};
use crate::contract::{Cursor, Page, Record};
use chrono::{Duration, NaiveDateTime};
use relance_core::siren::Siren;
use relance_core::{
    Currency, Customer, CustomerKind, Instalment, Invoice, InvoiceKind, InvoiceStatus, Receipt,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The streams of a pass, in pull order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// `party.party` → [`Record::Customer`].
    Customers,
    /// `account.invoice` (type out) → [`Record::Invoice`].
    Invoices,
    /// `account.statement.line` of posted statements → [`Record::Receipt`].
    Receipts,
}

const STREAMS: [Stream; 3] = [Stream::Customers, Stream::Invoices, Stream::Receipts];

/// Position in one stream: rows after `(t, id)` in `(last_modified_at, id)` order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Timestamp (naive UTC).
    pub t: NaiveDateTime,
    /// Tie-break id: rows at exactly `t` with a greater id come next.
    pub id: i64,
}

/// The state a cursor string encodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorState {
    /// Format version.
    pub v: u32,
    /// Number of completed passes (only grows).
    pub pass: u64,
    /// Index of the stream being read in this pass.
    pub stream: usize,
    /// Server clock when this pass started.
    pub started: Option<NaiveDateTime>,
    /// Per stream: where the current pass is.
    pub pos: [Option<Position>; 3],
    /// Per stream: greatest timestamp read in the current pass.
    pub hi: [Option<NaiveDateTime>; 3],
}

impl CursorState {
    fn initial() -> Self {
        Self {
            v: 1,
            pass: 0,
            stream: 0,
            started: None,
            pos: [None, None, None],
            hi: [None, None, None],
        }
    }

    /// Decodes a cursor produced by [`CursorState::encode`].
    pub fn decode(c: &Cursor) -> Result<Self, TrytonError> {
        let s: CursorState =
            serde_json::from_str(&c.0).map_err(|e| TrytonError::Cursor(e.to_string()))?;
        if s.v != 1 || s.stream > STREAMS.len() {
            return Err(TrytonError::Cursor(format!(
                "unknown version {} or stream {}",
                s.v, s.stream
            )));
        }
        Ok(s)
    }

    /// The cursor text.
    pub fn encode(&self) -> Cursor {
        Cursor(serde_json::to_string(self).unwrap_or_default())
    }

    /// Ends the pass: every stream restarts from `min(hi, started − overlap)`.
    fn end_pass(&mut self, overlap: Duration) {
        for i in 0..STREAMS.len() {
            if let Some(hi) = self.hi[i] {
                let safe = self.started.map(|s| s - overlap).unwrap_or(hi - overlap);
                if safe < hi {
                    // re-read rows stamped at or after `safe` (id 0: every id at `safe`)
                    self.pos[i] = Some(Position { t: safe, id: 0 });
                }
            }
            self.hi[i] = None;
        }
        self.pass += 1;
        self.stream = 0;
        self.started = None;
    }
}

fn after(pos: &Option<Position>) -> Option<Value> {
    pos.as_ref().map(|p| {
        let t = enc_datetime(p.t);
        json!([
            "OR",
            ["last_modified_at", ">", t],
            [["last_modified_at", "=", t], ["id", ">", p.id]]
        ])
    })
}

/// Pulls the next page after `from`.
pub async fn pull(rpc: &RpcClient, from: Option<&Cursor>) -> Result<Page, TrytonError> {
    let mut st = match from {
        Some(c) => CursorState::decode(c)?,
        None => CursorState::initial(),
    };
    let cfg = rpc.config();
    let limit = cfg.page_size.max(1);
    let overlap =
        Duration::seconds(i64::try_from(cfg.overlap_seconds).unwrap_or(i64::MAX / 2_000_000));
    let company = rpc.company().await?;
    loop {
        if st.stream >= STREAMS.len() {
            st.end_pass(overlap);
            return Ok(Page::new(Vec::new(), Some(st.encode()), false));
        }
        let stream = STREAMS[st.stream];
        if stream == Stream::Receipts && !cfg.pull_receipts {
            st.stream += 1;
            continue;
        }
        if st.started.is_none() {
            // the server's clock before any read of this pass (Date header, floored to the
            // second, so never later than the snapshot the reads below see)
            rpc.server_call("common.server.version", json!([])).await?;
            st.started = rpc.server_time();
        }
        let (rows, records) = match stream {
            Stream::Customers => customers(rpc, company, &st.pos[0], limit).await?,
            Stream::Invoices => invoices(rpc, company, &st.pos[1], limit).await?,
            Stream::Receipts => receipts(rpc, company, &st.pos[2], limit).await?,
        };
        let i = st.stream;
        if let Some(last) = rows.last() {
            st.pos[i] = Some(last.clone());
            let top = rows.iter().map(|p| p.t).max();
            st.hi[i] = st.hi[i].max(top);
        }
        let full = rows.len() >= limit as usize;
        if !full {
            st.stream += 1;
        }
        let mut has_more = full || st.stream < STREAMS.len();
        if st.stream >= STREAMS.len() {
            st.end_pass(overlap);
            has_more = false;
        }
        if records.is_empty() && has_more {
            // nothing in this stream: go straight on to the next one, same page
            continue;
        }
        return Ok(Page::new(records, Some(st.encode()), has_more));
    }
}

fn order() -> Value {
    json!([["last_modified_at", "ASC"], ["id", "ASC"]])
}

fn with_after(mut domain: Vec<Value>, pos: &Option<Position>) -> Value {
    if let Some(a) = after(pos) {
        domain.push(a);
    }
    Value::Array(domain)
}

fn position(row: &Value) -> Result<Position, TrytonError> {
    Ok(Position {
        t: v::datetime(v::field(row, "last_modified_at"), "last_modified_at")?,
        id: v::id(v::field(row, "id"), "id")?,
    })
}

fn id_list(rows: &[Value]) -> Result<Vec<i64>, TrytonError> {
    rows.iter()
        .map(|r| v::id(v::field(r, "id"), "id").map_err(TrytonError::from))
        .collect()
}

/// The domain of the customers stream (every party but the company's own).
pub async fn customer_domain(rpc: &RpcClient, company: i64) -> Result<Vec<Value>, TrytonError> {
    let comp = rpc
        .model(
            "company.company",
            "read",
            vec![json!([company]), json!(["party"])],
        )
        .await?;
    let party = comp
        .get(0)
        .map(|c| v::field(c, "party"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(vec![json!(["id", "!=", party])])
}

/// The domain of the invoices stream: numbered customer invoices and credit notes.
pub fn invoice_domain(company: i64) -> Vec<Value> {
    vec![
        json!(["company", "=", company]),
        json!(["type", "=", "out"]),
        json!(["state", "in", ["posted", "paid", "cancelled"]]),
        json!(["number", "!=", null]),
    ]
}

/// The domain of the receipts stream: lines of posted statements.
pub fn receipt_domain(company: i64) -> Vec<Value> {
    vec![
        json!(["statement.company", "=", company]),
        json!(["statement.state", "=", "posted"]),
    ]
}

async fn customers(
    rpc: &RpcClient,
    company: i64,
    pos: &Option<Position>,
    limit: u32,
) -> Result<(Vec<Position>, Vec<Record>), TrytonError> {
    let domain = with_after(customer_domain(rpc, company).await?, pos);
    let fields = [
        "name",
        "code",
        "lang.code",
        "siren.code_compact",
        "tax_identifier.code_compact",
        "tax_identifier.type",
        "last_modified_at",
    ];
    let rows = rpc
        .search_read("party.party", domain, 0, Some(limit), order(), &fields)
        .await?;
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let ids = id_list(&rows)?;
    let addresses = rpc
        .search_read(
            "party.address",
            json!([["party", "in", ids]]),
            0,
            None,
            json!([["party", "ASC"], ["sequence", "ASC"], ["id", "ASC"]]),
            &[
                "party",
                "country.code",
                "siret.code_compact",
                "street",
                "postal_code",
                "city",
                "subdivision.name",
            ],
        )
        .await?;
    let mails = rpc
        .search_read(
            "party.contact_mechanism",
            json!([["party", "in", ids], ["type", "=", "email"]]),
            0,
            None,
            json!([["party", "ASC"], ["sequence", "ASC"], ["id", "ASC"]]),
            &["party", "value"],
        )
        .await?;
    let mut first_address: HashMap<i64, &Value> = HashMap::new();
    for a in &addresses {
        if let Some(p) = v::field(a, "party").as_i64() {
            first_address.entry(p).or_insert(a);
        }
    }
    let mut emails: HashMap<i64, Vec<String>> = HashMap::new();
    for m in &mails {
        if let (Some(p), Some(val)) = (
            v::field(m, "party").as_i64(),
            v::opt_str(v::field(m, "value")),
        ) {
            emails.entry(p).or_default().push(val);
        }
    }
    let mut positions = Vec::with_capacity(rows.len());
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let pos = position(row)?;
        let id = pos.id;
        let mut c = Customer::new(id.to_string(), v::string(v::field(row, "name"), "name")?);
        c.siren = v::opt_str(v::path(row, &["siren", "code_compact"]))
            .and_then(|s| Siren::parse(&s).ok());
        // Tryton's fr_vat identifiers are stored without the FR prefix (guide §4.5b)
        c.vat_id = v::opt_str(v::path(row, &["tax_identifier", "code_compact"])).map(|code| {
            let kind = v::path(row, &["tax_identifier", "type"])
                .as_str()
                .unwrap_or("");
            match kind.strip_prefix("fr_") {
                Some(_) if !code.starts_with("FR") => format!("FR{code}"),
                _ => code,
            }
        });
        if let Some(a) = first_address.get(&id) {
            c.country = v::opt_str(v::path(a, &["country", "code"]));
            c.siret = v::opt_str(v::path(a, &["siret", "code_compact"]));
            c.address = postal_address(a, c.country.clone());
        }
        if c.siren.is_none() {
            c.siren = c.siret.as_deref().and_then(|s| Siren::from_siret(s).ok());
        }
        c.kind = CustomerKind::infer(c.siren.as_ref(), c.vat_id.as_deref());
        c.emails = emails.remove(&id).unwrap_or_default();
        if let Some(lang) = v::opt_str(v::path(row, &["lang", "code"])) {
            c.language = lang
                .chars()
                .take_while(|ch| ch.is_ascii_alphabetic())
                .collect::<String>()
                .to_ascii_lowercase();
        }
        positions.push(pos);
        records.push(Record::Customer(c));
    }
    Ok((positions, records))
}

/// The party address (`street` is multi-line text in Tryton) as a postal address; `None` when
/// it has no street, post code or city.
fn postal_address(a: &Value, country: Option<String>) -> Option<relance_core::PostalAddress> {
    let lines: Vec<String> = v::opt_str(v::field(a, "street"))
        .map(|s| {
            s.lines()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let postcode = v::opt_str(v::field(a, "postal_code"));
    let city = v::opt_str(v::field(a, "city"));
    if lines.is_empty() && postcode.is_none() && city.is_none() {
        return None;
    }
    Some(relance_core::PostalAddress {
        lines,
        postcode,
        city,
        subdivision: v::opt_str(v::path(a, &["subdivision", "name"])),
        country,
    })
}

/// Fields read for each invoice.
pub const INVOICE_FIELDS: [&str; 13] = [
    "number",
    "reference",
    "party",
    "invoice_date",
    "currency.code",
    "untaxed_amount",
    "tax_amount",
    "total_amount",
    "amount_to_pay",
    "state",
    "lines_to_pay",
    "last_modified_at",
    "type",
];

async fn invoices(
    rpc: &RpcClient,
    company: i64,
    pos: &Option<Position>,
    limit: u32,
) -> Result<(Vec<Position>, Vec<Record>), TrytonError> {
    let domain = with_after(invoice_domain(company), pos);
    let rows = rpc
        .search_read(
            "account.invoice",
            domain,
            0,
            Some(limit),
            order(),
            &INVOICE_FIELDS,
        )
        .await?;
    let mut line_ids = Vec::new();
    for r in &rows {
        line_ids.extend(v::ids(v::field(r, "lines_to_pay"), "lines_to_pay")?);
    }
    let lines = if line_ids.is_empty() {
        Vec::new()
    } else {
        rpc.search_read(
            "account.move.line",
            json!([["id", "in", line_ids]]),
            0,
            None,
            json!([["id", "ASC"]]),
            &[
                "maturity_date",
                "debit",
                "credit",
                "second_currency",
                "amount_second_currency",
            ],
        )
        .await?
    };
    let by_id: HashMap<i64, &Value> = lines
        .iter()
        .filter_map(|l| v::field(l, "id").as_i64().map(|i| (i, l)))
        .collect();
    let mut positions = Vec::with_capacity(rows.len());
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        positions.push(position(row)?);
        records.push(Record::Invoice(invoice(row, &by_id)?));
    }
    Ok((positions, records))
}

/// Converts an `account.invoice` row (with [`INVOICE_FIELDS`]) and its lines to pay.
pub fn invoice(row: &Value, lines: &HashMap<i64, &Value>) -> Result<Invoice, TrytonError> {
    let id = v::id(v::field(row, "id"), "id")?;
    let total = v::decimal(v::field(row, "total_amount"), "total_amount")?;
    // Tryton has one invoice type for both: a negative total is a credit note (BT-3 381)
    let kind = if total < Decimal::ZERO {
        InvoiceKind::CreditNote
    } else {
        InvoiceKind::Invoice
    };
    let state = v::string(v::field(row, "state"), "state")?;
    let status = match state.as_str() {
        "paid" => InvoiceStatus::Paid,
        "cancelled" => InvoiceStatus::Cancelled,
        _ => InvoiceStatus::Open,
    };
    let currency_code = v::string(v::path(row, &["currency", "code"]), "currency.code")?;
    let currency = Currency::parse(&currency_code).map_err(|e| {
        TrytonError::Value(v::ValueError {
            field: "currency.code".into(),
            problem: e.to_string(),
        })
    })?;
    let mut instalments = Vec::new();
    for lid in v::ids(v::field(row, "lines_to_pay"), "lines_to_pay")? {
        let Some(l) = lines.get(&lid) else { continue };
        let Some(due) = v::opt_date(v::field(l, "maturity_date"), "maturity_date")? else {
            continue;
        };
        let amount = if v::field(l, "second_currency").is_null() {
            v::decimal_or_zero(v::field(l, "debit"), "debit")?
                - v::decimal_or_zero(v::field(l, "credit"), "credit")?
        } else {
            v::decimal_or_zero(
                v::field(l, "amount_second_currency"),
                "amount_second_currency",
            )?
        };
        instalments.push(Instalment {
            due_date: due,
            amount: amount.abs(),
        });
    }
    instalments.sort_by_key(|i| i.due_date);
    let due_date = if instalments.len() == 1 {
        Some(instalments[0].due_date)
    } else {
        None
    };
    let amount_due = match status {
        InvoiceStatus::Open => {
            v::decimal_or_zero(v::field(row, "amount_to_pay"), "amount_to_pay")?.abs()
        }
        _ => Decimal::ZERO,
    };
    Ok(Invoice {
        id: id.to_string().into(),
        number: v::string(v::field(row, "number"), "number")?,
        kind,
        type_code: if kind == InvoiceKind::CreditNote {
            381
        } else {
            380
        },
        issue_date: v::date(v::field(row, "invoice_date"), "invoice_date")?,
        due_date,
        instalments,
        currency,
        total_without_vat: v::decimal(v::field(row, "untaxed_amount"), "untaxed_amount")?.abs(),
        total_vat: v::decimal(v::field(row, "tax_amount"), "tax_amount")?.abs(),
        total_with_vat: total.abs(),
        amount_due,
        customer: v::id(v::field(row, "party"), "party")?.to_string().into(),
        buyer_reference: None,
        order_reference: v::opt_str(v::field(row, "reference")),
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status,
    })
}

async fn receipts(
    rpc: &RpcClient,
    company: i64,
    pos: &Option<Position>,
    limit: u32,
) -> Result<(Vec<Position>, Vec<Record>), TrytonError> {
    let domain = with_after(receipt_domain(company), pos);
    let fields = [
        "number",
        "date",
        "amount",
        "party.name",
        "description",
        "related_to",
        "statement.name",
        "statement.journal.name",
        "statement.journal.currency.code",
        "last_modified_at",
    ];
    let rows = rpc
        .search_read(
            "account.statement.line",
            domain,
            0,
            Some(limit),
            order(),
            &fields,
        )
        .await?;
    let mut positions = Vec::with_capacity(rows.len());
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let pos = position(row)?;
        let currency = v::opt_str(v::path(row, &["statement", "journal", "currency", "code"]))
            .and_then(|c| Currency::parse(&c).ok())
            .unwrap_or(Currency::EUR);
        let date = v::date(v::field(row, "date"), "date")?;
        let related = v::opt_str(v::field(row, "related_to"));
        records.push(Record::Receipt(Receipt {
            id: format!("{}{}", super::write::STATEMENT_LINE_PREFIX, pos.id).into(),
            account: v::opt_str(v::path(row, &["statement", "journal", "name"]))
                .unwrap_or_default(),
            booking_date: date,
            value_date: Some(date),
            amount: v::decimal(v::field(row, "amount"), "amount")?,
            currency,
            counterparty_name: v::opt_str(v::path(row, &["party", "name"])),
            counterparty_iban: None,
            remittance: v::opt_str(v::field(row, "description")).unwrap_or_default(),
            structured_ref: None,
            end_to_end_id: None,
            mandate_id: None,
            bank_code: None,
            return_reason: None,
            reversal: false,
            source: format!(
                "tryton statement {} line {}{}",
                v::opt_str(v::path(row, &["statement", "name"])).unwrap_or_default(),
                v::opt_str(v::field(row, "number")).unwrap_or_else(|| pos.id.to_string()),
                related
                    .map(|r| format!(" (related to {r})"))
                    .unwrap_or_default()
            ),
        }));
        positions.push(pos);
    }
    Ok((positions, records))
}

/// A dunning as Tryton holds it (one per receivable line): the level it reached, its state.
/// Not a [`Record`] (the contract has no dunning record): read with [`pull_dunnings`], e.g. to
/// compare relance's stage with what Tryton shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrytonDunning {
    /// `account.dunning` id.
    pub id: i64,
    /// The invoice whose line it duns (id as text), when the line comes from an invoice.
    pub invoice: Option<String>,
    /// The receivable move line.
    pub line: i64,
    /// Sequence of its level in the procedure (10, 20...).
    pub level_sequence: i64,
    /// `draft` (proposed), `waiting` (processed, "sent"), `final` (past the last level).
    pub state: String,
    /// Blocked (dispute).
    pub blocked: bool,
    /// False once the line is reconciled.
    pub active: bool,
    /// Processing date.
    pub date: Option<chrono::NaiveDate>,
    /// Due date of the line.
    pub maturity_date: Option<chrono::NaiveDate>,
    /// Amount dunned (company currency).
    pub amount: Decimal,
}

/// A page of dunnings and the cursor after it.
#[derive(Clone, Debug, PartialEq)]
pub struct DunningPage {
    /// The dunnings, in `(last_modified_at, id)` order.
    pub dunnings: Vec<TrytonDunning>,
    /// Where the next pull starts.
    pub next: Cursor,
    /// True when more pages are ready now.
    pub has_more: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct DunningCursor {
    v: u32,
    pos: Option<Position>,
    hi: Option<NaiveDateTime>,
    started: Option<NaiveDateTime>,
}

/// Pulls dunnings (active or not) changed after `from`, with the same paging and overlap
/// rules as [`pull`] (its own cursor).
pub async fn pull_dunnings(
    rpc: &RpcClient,
    from: Option<&Cursor>,
) -> Result<DunningPage, TrytonError> {
    let mut st = match from {
        Some(c) => serde_json::from_str::<DunningCursor>(&c.0)
            .map_err(|e| TrytonError::Cursor(e.to_string()))?,
        None => DunningCursor {
            v: 1,
            pos: None,
            hi: None,
            started: None,
        },
    };
    let cfg = rpc.config();
    let limit = cfg.page_size.max(1);
    let overlap =
        Duration::seconds(i64::try_from(cfg.overlap_seconds).unwrap_or(i64::MAX / 2_000_000));
    let company = rpc.company().await?;
    if st.started.is_none() {
        rpc.server_call("common.server.version", json!([])).await?;
        st.started = rpc.server_time();
    }
    let domain = with_after(
        vec![
            json!(["company", "=", company]),
            json!(["active", "in", [true, false]]),
        ],
        &st.pos,
    );
    let fields = [
        "line",
        "line.move_origin",
        "level.sequence",
        "state",
        "blocked",
        "active",
        "date",
        "maturity_date",
        "amount",
        "last_modified_at",
    ];
    let rows = rpc
        .search_read("account.dunning", domain, 0, Some(limit), order(), &fields)
        .await?;
    let mut dunnings = Vec::with_capacity(rows.len());
    for r in &rows {
        let pos = position(r)?;
        let origin = v::path(r, &["line", "move_origin"]).as_str().unwrap_or("");
        dunnings.push(TrytonDunning {
            id: pos.id,
            invoice: origin.strip_prefix("account.invoice,").map(str::to_owned),
            line: v::id(v::field(r, "line"), "line")?,
            level_sequence: v::path(r, &["level", "sequence"]).as_i64().unwrap_or(0),
            state: v::string(v::field(r, "state"), "state")?,
            blocked: v::boolean(v::field(r, "blocked")),
            active: v::boolean(v::field(r, "active")),
            date: v::opt_date(v::field(r, "date"), "date")?,
            maturity_date: v::opt_date(v::field(r, "maturity_date"), "maturity_date")?,
            amount: v::decimal_or_zero(v::field(r, "amount"), "amount")?,
        });
        st.hi = st.hi.max(Some(pos.t));
        st.pos = Some(pos);
    }
    let has_more = rows.len() >= limit as usize;
    if !has_more {
        if let Some(hi) = st.hi {
            let safe = st.started.map(|s| s - overlap).unwrap_or(hi - overlap);
            if safe < hi {
                st.pos = Some(Position { t: safe, id: 0 });
            }
        }
        st.hi = None;
        st.started = None;
    }
    Ok(DunningPage {
        dunnings,
        next: Cursor(serde_json::to_string(&st).unwrap_or_default()),
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32, m: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 16)
            .unwrap()
            .and_hms_opt(h, m, s)
            .unwrap()
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let mut st = CursorState::initial();
        st.pos[1] = Some(Position {
            t: t(10, 0, 0),
            id: 42,
        });
        assert_eq!(CursorState::decode(&st.encode()).unwrap(), st);
        assert!(CursorState::decode(&Cursor("nope".into())).is_err());
    }

    #[test]
    fn pass_end_rewinds_only_inside_the_overlap_window() {
        let mut st = CursorState::initial();
        st.started = Some(t(12, 0, 0));
        // stream 0: last change long before the pass: keep the exact position
        st.pos[0] = Some(Position {
            t: t(9, 0, 0),
            id: 7,
        });
        st.hi[0] = Some(t(9, 0, 0));
        // stream 1: changes 30 s before the pass started: re-read from started - 120 s
        st.pos[1] = Some(Position {
            t: t(11, 59, 30),
            id: 9,
        });
        st.hi[1] = Some(t(11, 59, 30));
        st.end_pass(Duration::seconds(120));
        assert_eq!(
            st.pos[0],
            Some(Position {
                t: t(9, 0, 0),
                id: 7
            })
        );
        assert_eq!(
            st.pos[1],
            Some(Position {
                t: t(11, 58, 0),
                id: 0
            })
        );
        assert_eq!((st.pass, st.stream, st.started), (1, 0, None));
    }

    #[test]
    fn credit_notes_are_positive_with_kind_381() {
        let row = json!({"id": 5, "number": "AV2026-00001", "reference": null, "party": 3,
            "invoice_date": {"__class__": "date", "year": 2026, "month": 11, "day": 4},
            "currency.": {"id": 1, "code": "EUR"},
            "untaxed_amount": {"__class__": "Decimal", "decimal": "-240.00"},
            "tax_amount": {"__class__": "Decimal", "decimal": "-48.00"},
            "total_amount": {"__class__": "Decimal", "decimal": "-288.00"},
            "amount_to_pay": {"__class__": "Decimal", "decimal": "-288.00"},
            "state": "posted", "lines_to_pay": [77], "type": "out"});
        let line = json!({"id": 77, "maturity_date": {"__class__": "date", "year": 2026, "month": 12, "day": 4},
            "debit": {"__class__": "Decimal", "decimal": "0"}, "credit": {"__class__": "Decimal", "decimal": "288.00"},
            "second_currency": null, "amount_second_currency": null});
        let lines: HashMap<i64, &Value> = [(77, &line)].into_iter().collect();
        let inv = invoice(&row, &lines).unwrap();
        assert_eq!(
            (inv.kind, inv.type_code, inv.total_with_vat.to_string()),
            (InvoiceKind::CreditNote, 381, "288.00".to_owned())
        );
        assert_eq!(inv.amount_due.to_string(), "288.00");
        assert_eq!(inv.due_date, NaiveDate::from_ymd_opt(2026, 12, 4));
        assert_eq!(inv.signed_open().to_string(), "-288.00");
    }
}
