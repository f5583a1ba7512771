//! A fake Pennylane Company API v2 on 127.0.0.1:0 (axum), following the reference pages
//! (mirrored in `StudioCatapulte/mcp-pennylane-company:documentation/api_pennylane_doc/
//! v2_company_api/endpoint_references/`) and `connector-apis.md` §2 with its December 2026
//! corrections. Each quirk reproduced names its source:
//!
//! - Bearer tokens; a firm token needs the company header (reference pages, "Required when
//!   authenticating with a firm token"); 401/403/404/409/422 bodies `{"error", "status"}`
//!   (§2.2, reference pages' response schemas).
//! - 25 requests per 5 s per token, counted over a sliding window; the 429 is plain text
//!   `Rate limit exceeded. Please retry in X seconds.` with `retry-after`, `ratelimit-limit`,
//!   `ratelimit-remaining`, `ratelimit-reset` (a Unix time); the `ratelimit-*` headers are on
//!   every answer (§2.2, pennylane.readme.io/docs/rate-limiting-1).
//! - Cursor pages: `limit` 1–100, default 20, `sort` default `-id`, `{has_more, next_cursor,
//!   items}` with `next_cursor: null` at the end; `filter` a JSON array of `{field, operator,
//!   value}`; unknown fields refused with 400 (§2.3, `gettransactions.md`).
//! - Changelogs: `start_date` or `cursor` (both: 400), `limit` 1–1000, 4 weeks kept (older
//!   `start_date`: 422), `processed_at` to the second so changes share instants
//!   (§2.4, `getcustomerinvoiceschanges.md`).
//! - Amounts are strings with two decimals, VAT computed server-side and rounded per invoice;
//!   `remaining_amount_with_tax` converted to EUR for a non-EUR invoice (§2.5, forum report).
//! - Comments: plain text, blank content 422, listed newest first (`postcustomerinvoicecomment`,
//!   `getcustomerinvoicecomments`); matching a transaction reduces the invoice's remaining
//!   amount and the transaction's `outstanding_balance` (§2.6, changelog 2025-05-07).
//! - `e_invoicing{status, reason}` on invoices (corrections, "since 2026-03").
//!
//! The fake's clock (the `Date` header, `processed_at`, `updated_at`) is logical: it starts at
//! 2026-11-16T08:00:00Z and moves one second per write, or by [`FakePennylane::tick`].

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where the API lives under the fake's address.
pub const BASE: &str = "/api/external/v2";

/// A fault the next request gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlFault {
    /// This HTTP status with Pennylane's error body.
    Status(u16),
    /// A 429 with `retry-after: <secs>`.
    RateLimited(u64),
}

/// Resources with a changelog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `customers`.
    Customers,
    /// `customer_invoices`.
    Invoices,
    /// `transactions`.
    Transactions,
}

#[derive(Clone, Debug)]
struct Change {
    id: i64,
    operation: &'static str,
    at: i64,
    seq: u64,
}

#[derive(Default)]
struct PlState {
    /// token → firm token?
    tokens: HashMap<String, bool>,
    company_id: i64,
    clock: i64,
    next_id: i64,
    seq: u64,
    customers: BTreeMap<i64, Value>,
    invoices: BTreeMap<i64, Value>,
    transactions: BTreeMap<i64, Value>,
    comments: BTreeMap<i64, Vec<Value>>,
    matches: BTreeMap<i64, Vec<i64>>,
    changes: BTreeMap<Resource, Vec<Change>>,
    limit: Option<(usize, Duration)>,
    windows: HashMap<String, VecDeque<Instant>>,
    arrivals: Vec<(Instant, String)>,
    throttled: usize,
    faults: VecDeque<PlFault>,
    delay: Duration,
    writes: Vec<(String, Value)>,
    retention_days: i64,
}

/// The running fake. Dropping it stops it.
pub struct FakePennylane {
    addr: SocketAddr,
    state: Arc<Mutex<PlState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePennylane {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Arc<Mutex<PlState>>) -> MutexGuard<'_, PlState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

const EPOCH: i64 = 1_794_816_000; // 2026-11-16T08:00:00Z

fn iso(clock: i64) -> String {
    chrono::DateTime::from_timestamp(EPOCH + clock, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn money(d: rust_decimal::Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

fn dec(v: &Value) -> rust_decimal::Decimal {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

impl FakePennylane {
    /// Starts a fake whose company token is `token`, for Pennylane company 4242, with the
    /// documented limit (25 requests per 5 s per token).
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let mut st = PlState {
            company_id: 4242,
            next_id: 1,
            limit: Some((25, Duration::from_secs(5))),
            retention_days: 28,
            ..PlState::default()
        };
        st.tokens.insert(token.to_owned(), false);
        let state = Arc::new(Mutex::new(st));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = crate::fakehttp::serve(app).await?;
        Ok(FakePennylane { addr, state, task })
    }

    /// The API's base URL (`http://127.0.0.1:<port>/api/external/v2`).
    pub fn url(&self) -> String {
        format!("http://{}{BASE}", self.addr)
    }

    /// The Pennylane company id the fake serves.
    pub fn company_id(&self) -> i64 {
        lock(&self.state).company_id
    }

    /// Accepts `token` as a firm token (the company header is then required).
    pub fn add_firm_token(&self, token: &str) {
        lock(&self.state).tokens.insert(token.to_owned(), true);
    }

    /// Replaces every token by `new` (an operator rotating the company's token).
    pub fn rotate_token(&self, new: &str) {
        let mut s = lock(&self.state);
        s.tokens.clear();
        s.tokens.insert(new.to_owned(), false);
    }

    /// Sets the per-token limit (`None`: unlimited).
    pub fn set_rate_limit(&self, limit: Option<(usize, Duration)>) {
        lock(&self.state).limit = limit;
    }

    /// Delays every answer (so a kill can land among write-backs).
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).delay = d;
    }

    /// The next request gets `fault`.
    pub fn fail_next(&self, fault: PlFault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// How many days of changes the changelogs keep (Pennylane: 4 weeks).
    pub fn set_retention_days(&self, days: i64) {
        lock(&self.state).retention_days = days;
    }

    /// Advances the clock.
    pub fn tick(&self, secs: i64) {
        lock(&self.state).clock += secs;
    }

    /// When each request arrived, with its path.
    pub fn arrivals(&self) -> Vec<(Instant, String)> {
        lock(&self.state).arrivals.clone()
    }

    /// How many 429s the fake answered.
    pub fn throttled(&self) -> usize {
        lock(&self.state).throttled
    }

    /// Every write received: `METHOD path` and body.
    pub fn writes(&self) -> Vec<(String, Value)> {
        lock(&self.state).writes.clone()
    }

    /// An invoice as served.
    pub fn invoice(&self, id: i64) -> Option<Value> {
        lock(&self.state).invoices.get(&id).cloned()
    }

    /// Ids of every finalized invoice, ascending.
    pub fn invoice_ids(&self) -> Vec<i64> {
        lock(&self.state)
            .invoices
            .values()
            .filter(|i| i["draft"] == json!(false))
            .filter_map(|i| i["id"].as_i64())
            .collect()
    }

    /// The comments of an invoice (their content).
    pub fn comments(&self, invoice: i64) -> Vec<String> {
        lock(&self.state)
            .comments
            .get(&invoice)
            .map(|c| {
                c.iter()
                    .filter_map(|x| x["content"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every comment of every invoice.
    pub fn all_comments(&self) -> Vec<(i64, String)> {
        let s = lock(&self.state);
        s.comments
            .iter()
            .flat_map(|(i, cs)| {
                cs.iter()
                    .filter_map(|c| c["content"].as_str().map(|t| (*i, t.to_owned())))
            })
            .collect()
    }

    /// The transactions matched to an invoice.
    pub fn matches(&self, invoice: i64) -> Vec<i64> {
        lock(&self.state)
            .matches
            .get(&invoice)
            .cloned()
            .unwrap_or_default()
    }

    /// A customer as served.
    pub fn customer(&self, id: i64) -> Option<Value> {
        lock(&self.state).customers.get(&id).cloned()
    }

    /// `(finalized invoices, sum of their remaining amounts with tax)`: what a full pull must
    /// give.
    pub fn totals(&self) -> (usize, rust_decimal::Decimal) {
        let s = lock(&self.state);
        let fin: Vec<&Value> = s
            .invoices
            .values()
            .filter(|i| i["draft"] == json!(false))
            .collect();
        (
            fin.len(),
            fin.iter()
                .map(|i| dec(&i["remaining_amount_with_tax"]).abs())
                .sum(),
        )
    }

    /// Adds a company customer; returns its id.
    pub fn add_customer(&self, name: &str, siren: Option<&str>) -> i64 {
        let mut s = lock(&self.state);
        let id = s.next();
        let now = iso(s.clock);
        s.customers.insert(id, json!({"id": id, "name": name, "customer_type": "company",
            "reg_no": siren, "vat_number": null, "emails": [format!("compta{id}@client.example")],
            "billing_address": {"address": "1 rue de la Paix", "postal_code": "75002", "city": "Paris", "country_alpha2": "FR"},
            "billing_language": "fr_FR", "notes": "", "payment_conditions": "30_days",
            "external_reference": format!("C{id}"), "created_at": now, "updated_at": now}));
        s.change(Resource::Customers, id, "insert");
        id
    }

    /// Adds a finalized invoice of `net` (VAT 20 % computed and rounded here) in `currency`
    /// (non-EUR at `rate` EUR per unit); returns its id.
    #[allow(clippy::too_many_arguments)] // a fixture: an invoice's fields, named at each call
    pub fn add_invoice(
        &self,
        customer: i64,
        number: &str,
        date: &str,
        deadline: &str,
        net: rust_decimal::Decimal,
        currency: &str,
        rate: rust_decimal::Decimal,
    ) -> i64 {
        let mut s = lock(&self.state);
        let id = s.next();
        let tax = (net * rust_decimal::Decimal::new(2, 1)).round_dp(2);
        let total = net + tax;
        let eur = (total * rate).round_dp(2);
        let now = iso(s.clock);
        s.invoices.insert(id, json!({"id": id, "label": format!("Facture {number}"), "invoice_number": number,
            "currency": currency, "amount": money(eur), "currency_amount": money(total),
            "currency_amount_before_tax": money(net), "exchange_rate": rate.to_string(),
            "date": date, "deadline": deadline, "currency_tax": money(tax), "tax": money((tax * rate).round_dp(2)),
            "language": "fr_FR", "paid": false, "status": "upcoming",
            "remaining_amount_with_tax": money(eur), "remaining_amount_without_tax": money((net * rate).round_dp(2)),
            "draft": false, "credit_note": false, "customer": {"id": customer, "url": format!("{BASE}/customers/{customer}")},
            "credited_invoice": null, "categories": [], "archived_at": null, "external_reference": null,
            "pdf_invoice_subject": null, "e_invoicing": {"status": null, "reason": null},
            "created_at": now, "updated_at": now}));
        s.change(Resource::Invoices, id, "insert");
        id
    }

    /// Adds a draft invoice (never listed by relance's filter).
    pub fn add_draft(&self, customer: i64) -> i64 {
        let id = self.add_invoice(
            customer,
            "BROUILLON",
            "2026-11-01",
            "2026-12-01",
            rust_decimal::Decimal::new(5000, 2),
            "EUR",
            rust_decimal::Decimal::ONE,
        );
        let mut s = lock(&self.state);
        if let Some(i) = s.invoices.get_mut(&id) {
            i["draft"] = json!(true);
            i["status"] = json!("draft");
        }
        id
    }

    /// Records a payment of `amount` (EUR) on an invoice outside relance (a person in
    /// Pennylane): remaining amount and status change, a changelog entry is written.
    pub fn pay(&self, invoice: i64, amount: rust_decimal::Decimal) {
        let mut s = lock(&self.state);
        s.reduce(invoice, amount);
    }

    /// Sets an invoice's e-invoicing status.
    pub fn set_einvoicing(&self, invoice: i64, status: &str, reason: Option<&str>) {
        let mut s = lock(&self.state);
        s.clock += 1;
        let now = iso(s.clock);
        if let Some(i) = s.invoices.get_mut(&invoice) {
            i["e_invoicing"] = json!({"status": status, "reason": reason});
            i["updated_at"] = json!(now);
        }
        s.change(Resource::Invoices, invoice, "update");
    }

    /// Deletes an invoice (a changelog `delete`).
    pub fn delete_invoice(&self, invoice: i64) {
        let mut s = lock(&self.state);
        s.invoices.remove(&invoice);
        s.change(Resource::Invoices, invoice, "delete");
    }

    /// Adds a bank transaction (credit when positive); returns its id.
    pub fn add_transaction(&self, amount: rust_decimal::Decimal, label: &str, date: &str) -> i64 {
        let mut s = lock(&self.state);
        let id = s.next();
        let now = iso(s.clock);
        s.transactions.insert(id, json!({"id": id, "label": label, "date": date,
            "outstanding_balance": money(amount), "created_at": now, "updated_at": now, "archived_at": null,
            "currency": "EUR", "currency_amount": money(amount), "amount": money(amount),
            "currency_fee": "0.00", "fee": "0.00", "journal_id": 1,
            "bank_account": {"id": 53, "url": format!("{BASE}/bank_accounts/53")}, "categories": [],
            "matched_invoices": {"url": format!("{BASE}/transactions/{id}/matched_invoices")}}));
        s.change(Resource::Transactions, id, "insert");
        id
    }

    /// `customers` customers and `invoices` invoices of 100.00 + 20 % VAT, spread over them,
    /// issued in October 2026, due 30 days later.
    pub fn seed(&self, customers: usize, invoices: usize) {
        let ids: Vec<i64> = (0..customers.max(1))
            .map(|i| self.add_customer(&format!("Client {i:03}"), None))
            .collect();
        for i in 0..invoices {
            let day = 1 + (i % 28);
            let due_day = 1 + (i % 28);
            self.add_invoice(
                ids[i % ids.len()],
                &format!("F2026-{:05}", i + 1),
                &format!("2026-10-{day:02}"),
                &format!("2026-11-{due_day:02}"),
                rust_decimal::Decimal::new(10000, 2),
                "EUR",
                rust_decimal::Decimal::ONE,
            );
        }
    }
}

impl PlState {
    fn next(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.clock += 1;
        id
    }

    fn change(&mut self, r: Resource, id: i64, op: &'static str) {
        self.seq += 1;
        let c = Change {
            id,
            operation: op,
            at: self.clock,
            seq: self.seq,
        };
        self.changes.entry(r).or_default().push(c);
    }

    fn reduce(&mut self, invoice: i64, amount: rust_decimal::Decimal) {
        self.clock += 1;
        let now = iso(self.clock);
        if let Some(i) = self.invoices.get_mut(&invoice) {
            let rem =
                (dec(&i["remaining_amount_with_tax"]) - amount).max(rust_decimal::Decimal::ZERO);
            i["remaining_amount_with_tax"] = json!(money(rem));
            let paid = rem.is_zero();
            i["paid"] = json!(paid);
            i["status"] = json!(if paid { "paid" } else { "partially_paid" });
            i["updated_at"] = json!(now);
        }
        self.change(Resource::Invoices, invoice, "update");
    }
}

fn error(status: u16, message: &str) -> (u16, Vec<(String, String)>, String) {
    (
        status,
        vec![("content-type".into(), "application/json".into())],
        json!({"error": message, "status": status}).to_string(),
    )
}

fn ok(v: Value) -> (u16, Vec<(String, String)>, String) {
    (
        200,
        vec![("content-type".into(), "application/json".into())],
        v.to_string(),
    )
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

async fn handle(
    State(st): State<Arc<Mutex<PlState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = lock(&st).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut s = lock(&st);
    let (status, mut extra, text) = route(&mut s, &method, &uri, &headers, &body);
    let token = bearer(&headers).unwrap_or_default();
    if let Some((n, window)) = s.limit {
        let used = s.windows.get(&token).map(VecDeque::len).unwrap_or(0);
        extra.push(("ratelimit-limit".into(), n.to_string()));
        extra.push((
            "ratelimit-remaining".into(),
            n.saturating_sub(used).to_string(),
        ));
        let reset = s
            .windows
            .get(&token)
            .and_then(|w| w.front())
            .map(|t| window.saturating_sub(t.elapsed()).as_secs() + 1)
            .unwrap_or(window.as_secs());
        extra.push((
            "ratelimit-reset".into(),
            (EPOCH + s.clock + reset as i64).to_string(),
        ));
    }
    crate::fakehttp::respond((status, extra, text), EPOCH + s.clock)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

use crate::fakehttp::Answer;

fn route(s: &mut PlState, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Answer {
    let path = uri.path().to_owned();
    s.arrivals.push((Instant::now(), path.clone()));
    let Some(rest) = path.strip_prefix(BASE) else {
        return error(404, "Not found");
    };
    // auth (§2.1)
    let token = bearer(headers);
    let Some(firm) = token.as_ref().and_then(|t| s.tokens.get(t)).copied() else {
        return error(401, "Access token is missing or invalid");
    };
    if firm {
        let company = headers
            .get(pennylane_company_header())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        if company != Some(s.company_id) {
            return error(
                403,
                "Firm token: the company to act on is missing or not in the firm",
            );
        }
    }
    // per-token quota over a sliding window (§2.2)
    if let Some((n, window)) = s.limit {
        let token = token.clone().unwrap_or_default();
        let w = s.windows.entry(token).or_default();
        while w.front().is_some_and(|t| t.elapsed() >= window) {
            w.pop_front();
        }
        if w.len() >= n {
            let secs = w
                .front()
                .map(|t| window.saturating_sub(t.elapsed()).as_secs() + 1)
                .unwrap_or(1);
            s.throttled += 1;
            return throttle(s, secs, n);
        }
        w.push_back(Instant::now());
    }
    if let Some(f) = s.faults.pop_front() {
        return match f {
            PlFault::Status(code) => error(code, "Injected failure"),
            PlFault::RateLimited(secs) => {
                s.throttled += 1;
                throttle(s, secs, 25)
            }
        };
    }
    let q = query_map(uri);
    let seg: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error(400, "Body is not JSON"),
        }
    };
    if *method != Method::GET {
        s.writes
            .push((format!("{method} {rest}"), json_body.clone()));
    }
    match (method.as_str(), seg.as_slice()) {
        ("GET", ["me"]) => ok(
            json!({"user": {"id": 1, "first_name": "Compta", "email": "compta@acme.example"},
            "company": {"id": s.company_id, "name": "ACME SAS", "reg_no": "732829320"},
            "scopes": ["customer_invoices:all", "customers:all", "transactions:readonly"]}),
        ),
        ("GET", ["customers"]) => list(s, Resource::Customers, &q),
        ("GET", ["customer_invoices"]) => list(s, Resource::Invoices, &q),
        ("GET", ["transactions"]) => list(s, Resource::Transactions, &q),
        ("GET", ["customers", id]) => {
            match id.parse().ok().and_then(|i: i64| s.customers.get(&i)) {
                Some(c) => ok(c.clone()),
                None => error(404, "Customer not found"),
            }
        }
        ("PUT", [kind, id]) if *kind == "company_customers" || *kind == "individual_customers" => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| s.customers.contains_key(i))
            else {
                return error(404, "Customer not found");
            };
            s.clock += 1;
            let now = iso(s.clock);
            if let (Some(c), Value::Object(changes)) = (s.customers.get_mut(&id), &json_body) {
                for (k, v) in changes {
                    c[k.as_str()] = v.clone();
                }
                c["updated_at"] = json!(now);
            }
            s.change(Resource::Customers, id, "update");
            ok(s.customers.get(&id).cloned().unwrap_or_default())
        }
        ("GET", ["customer_invoices", id]) => {
            match id.parse().ok().and_then(|i: i64| s.invoices.get(&i)) {
                Some(i) => ok(i.clone()),
                None => error(404, "Customer invoice not found"),
            }
        }
        ("GET", ["customer_invoices", id, "comments"]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| s.invoices.contains_key(i))
            else {
                return error(404, "Customer invoice not found");
            };
            let mut all = s.comments.get(&id).cloned().unwrap_or_default();
            // newest first (getcustomerinvoicecomments: "Defaults to -created_at")
            all.reverse();
            page(all, &q)
        }
        ("POST", ["customer_invoices", id, "comments"]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| s.invoices.contains_key(i))
            else {
                return error(404, "Customer invoice not found");
            };
            let content = json_body
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or("");
            if content.trim().is_empty() {
                return error(
                    422,
                    "content must contain at least one non-whitespace character",
                );
            }
            if content.chars().count() > 10_000 {
                return error(422, "content is too long (maximum is 10000 characters)");
            }
            let cid = s.next();
            let c = json!({"id": cid, "content": content, "created_at": iso(s.clock)});
            s.comments.entry(id).or_default().push(c.clone());
            (
                201,
                vec![("content-type".into(), "application/json".into())],
                c.to_string(),
            )
        }
        ("GET", ["customer_invoices", id, "matched_transactions"]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| s.invoices.contains_key(i))
            else {
                return error(404, "Customer invoice not found");
            };
            let txs: Vec<Value> = s
                .matches
                .get(&id)
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|t| s.transactions.get(t).cloned())
                .collect();
            page(txs, &q)
        }
        ("POST", ["customer_invoices", id, "matched_transactions"]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| s.invoices.contains_key(i))
            else {
                return error(404, "Customer invoice not found");
            };
            let Some(tx) = json_body
                .get("transaction_id")
                .and_then(Value::as_i64)
                .filter(|t| s.transactions.contains_key(t))
            else {
                return error(404, "Transaction not found");
            };
            if s.matches.get(&id).is_some_and(|m| m.contains(&tx)) {
                return error(422, "Transaction already matched with this invoice");
            }
            s.matches.entry(id).or_default().push(tx);
            let outstanding = s
                .transactions
                .get(&tx)
                .map(|t| dec(&t["outstanding_balance"]))
                .unwrap_or_default();
            let remaining = s
                .invoices
                .get(&id)
                .map(|i| dec(&i["remaining_amount_with_tax"]))
                .unwrap_or_default();
            let used = outstanding.min(remaining).max(rust_decimal::Decimal::ZERO);
            s.reduce(id, used);
            if let Some(t) = s.transactions.get_mut(&tx) {
                t["outstanding_balance"] = json!(money(outstanding - used));
            }
            s.change(Resource::Transactions, tx, "update");
            (204, Vec::new(), String::new())
        }
        ("PUT", ["customer_invoices", id, "categories"]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| s.invoices.contains_key(i))
            else {
                return error(404, "Customer invoice not found");
            };
            let Some(list) = json_body.as_array() else {
                return error(400, "categories must be a list of {id, weight}");
            };
            let cats: Vec<Value> = list
                .iter()
                .map(|c| json!({"id": c["id"], "label": format!("Catégorie {}", c["id"]), "weight": c["weight"]}))
                .collect();
            s.clock += 1;
            let now = iso(s.clock);
            if let Some(i) = s.invoices.get_mut(&id) {
                i["categories"] = Value::Array(cats.clone());
                i["updated_at"] = json!(now);
            }
            s.change(Resource::Invoices, id, "update");
            ok(Value::Array(cats))
        }
        ("GET", ["changelogs", r]) => {
            let r = match *r {
                "customers" => Resource::Customers,
                "customer_invoices" => Resource::Invoices,
                "transactions" => Resource::Transactions,
                _ => return error(404, "Not found"),
            };
            changelog(s, r, &q)
        }
        _ => error(404, "Not found"),
    }
}

fn pennylane_company_header() -> &'static str {
    relance_connectors::systems::pennylane::client::COMPANY_HEADER
}

fn throttle(s: &PlState, secs: u64, n: usize) -> Answer {
    (
        429,
        vec![
            ("content-type".into(), "text/plain".into()),
            ("retry-after".into(), secs.to_string()),
            ("ratelimit-limit".into(), n.to_string()),
            ("ratelimit-remaining".into(), "0".into()),
            (
                "ratelimit-reset".into(),
                (EPOCH + s.clock + secs as i64).to_string(),
            ),
        ],
        format!("Rate limit exceeded. Please retry in {secs} seconds."),
    )
}

fn limit_of(q: &HashMap<String, String>, max: usize) -> Result<usize, Answer> {
    match q.get("limit") {
        None => Ok(20),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(error(400, &format!("limit must be between 1 and {max}"))),
        },
    }
}

/// A page of an already ordered list; the cursor is the offset (hex), opaque to clients.
fn page(items: Vec<Value>, q: &HashMap<String, String>) -> Answer {
    let refs: Vec<&Value> = items.iter().collect();
    page_refs(&refs, q)
}

fn page_refs(items: &[&Value], q: &HashMap<String, String>) -> Answer {
    let limit = match limit_of(q, 100) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let offset = q
        .get("cursor")
        .and_then(|c| hex::decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.strip_prefix("offset:")
                .and_then(|n| n.parse::<usize>().ok())
        })
        .unwrap_or(0);
    let rest: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| (*v).clone())
        .collect();
    let more = offset + rest.len() < items.len();
    ok(json!({"has_more": more,
        "next_cursor": if more { json!(hex::encode(format!("offset:{}", offset + rest.len()))) } else { Value::Null },
        "items": rest}))
}

fn matches_filter(item: &Value, conds: &[Value]) -> Result<bool, String> {
    for c in conds {
        let field = c["field"].as_str().unwrap_or("");
        let op = c["operator"].as_str().unwrap_or("");
        let want = &c["value"];
        let have = match field {
            "customer_id" => item["customer"]["id"].clone(),
            "id" | "draft" | "date" | "credit_note" | "invoice_number" | "bank_account_id"
            | "reg_no" | "external_reference" | "customer_type" => item[field].clone(),
            other => return Err(format!("filter on unknown field {other}")),
        };
        let cmp = |a: &Value, b: &Value| -> Option<std::cmp::Ordering> {
            match (a, b) {
                (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
                (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
                _ => None,
            }
        };
        use std::cmp::Ordering::*;
        let ok = match op {
            "eq" => have == *want,
            "not_eq" => have != *want,
            "in" => want.as_array().is_some_and(|a| a.contains(&have)),
            "not_in" => want.as_array().is_some_and(|a| !a.contains(&have)),
            "gt" => cmp(&have, want) == Some(Greater),
            "lt" => cmp(&have, want) == Some(Less),
            "gteq" => matches!(cmp(&have, want), Some(Greater | Equal)),
            "lteq" => matches!(cmp(&have, want), Some(Less | Equal)),
            other => return Err(format!("unknown operator {other}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn list(s: &PlState, r: Resource, q: &HashMap<String, String>) -> Answer {
    let items: Vec<&Value> = match r {
        Resource::Customers => s.customers.values().collect(),
        Resource::Invoices => s.invoices.values().collect(),
        Resource::Transactions => s.transactions.values().collect(),
    };
    let conds: Vec<Value> = match q.get("filter") {
        None => Vec::new(),
        Some(f) => match serde_json::from_str::<Value>(f) {
            Ok(Value::Array(a)) => a,
            _ => {
                return error(
                    400,
                    "filter must be a JSON array of {field, operator, value}",
                )
            }
        },
    };
    let mut out: Vec<&Value> = Vec::new();
    for i in items {
        match matches_filter(i, &conds) {
            Ok(true) => out.push(i),
            Ok(false) => {}
            Err(e) => return error(400, &e),
        }
    }
    // default sort -id (reference pages: "Defaults to -id")
    match q.get("sort").map(String::as_str) {
        Some("id") => {}
        None | Some("-id") => out.reverse(),
        Some(other) => return error(400, &format!("cannot sort on {other}")),
    }
    page_refs(&out, q)
}

fn changelog(s: &PlState, r: Resource, q: &HashMap<String, String>) -> Answer {
    if q.contains_key("start_date") && q.contains_key("cursor") {
        return error(400, "start_date and cursor cannot be used together");
    }
    let limit = match limit_of(q, 1000) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let retained_from = s.clock - s.retention_days * 86_400;
    let start = match q.get("start_date") {
        None => retained_from,
        Some(d) => match chrono::DateTime::parse_from_rfc3339(d) {
            Ok(t) => {
                let secs = t.timestamp() - EPOCH;
                if secs < retained_from {
                    return error(422, "start_date must be within the last 4 weeks");
                }
                secs
            }
            Err(_) => return error(400, "start_date must be RFC 3339"),
        },
    };
    let offset = q
        .get("cursor")
        .and_then(|c| hex::decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|x| {
            let (o, st) = x.strip_prefix("log:")?.split_once(':')?;
            Some((o.parse::<usize>().ok()?, st.parse::<i64>().ok()?))
        });
    let (offset, start) = offset.unwrap_or((0, start));
    let mut all: Vec<&Change> = s
        .changes
        .get(&r)
        .map(|v| {
            v.iter()
                .filter(|c| c.at >= start && c.at >= retained_from)
                .collect()
        })
        .unwrap_or_default();
    all.sort_by_key(|c| (c.at, c.seq));
    let rest: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| {
            json!({"id": c.id, "operation": c.operation, "processed_at": iso(c.at),
            "updated_at": iso(c.at), "created_at": iso(c.at)})
        })
        .collect();
    let more = offset + rest.len() < all.len();
    ok(json!({"items": rest, "has_more": more,
        "next_cursor": if more { json!(hex::encode(format!("log:{}:{start}", offset + rest.len()))) } else { Value::Null }}))
}
