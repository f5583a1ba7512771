//! A fake Qonto Business API on 127.0.0.1:0 (axum), following connector-apis.md §5.2 and its
//! December 2026 corrections. Each behaviour names its source:
//!
//! - `POST /oauth2/token` (form `grant_type=refresh_token`, `refresh_token`, `client_id`,
//!   `client_secret`) → `{access_token, token_type: "bearer", expires_in: 3600, refresh_token,
//!   scope}`. Rotation (corrections: "access token 1 h, refresh token 90 days, rotating, 60 s
//!   grace on the old one"): every refresh issues a new refresh token; the one used keeps
//!   working for 60 s of the fake's clock after its first use, then answers 400
//!   `{"error": "invalid_grant", "error_description"}` (RFC 6749 §5.2), as does an unknown or
//!   expired one; a wrong client answers 401 `invalid_client`. Access tokens expire after
//!   `expires_in` seconds of the fake's clock ([`FakeQonto::tick`]) or when
//!   [`FakeQonto::expire_access_tokens`] says; an expired one gets 401.
//! - `GET /v2/organization` → `{organization: {slug, legal_name, bank_accounts: [{id, slug,
//!   iban, bic, currency, balance, balance_cents, authorized_balance,
//!   authorized_balance_cents, name, status}]}}` (§5.2 [src/client]).
//! - `GET /v2/transactions?iban=…|bank_account_id=…` (one of them required: 422 otherwise
//!   [mem]), filters `status[]`, `updated_at_from/_to`, `settled_at_from/_to` (inclusive),
//!   `sort_by=updated_at:asc|desc, settled_at:asc|desc` (default `settled_at:desc` [mem]),
//!   pages `current_page`, `per_page` (≤ 100, else 422) → `{transactions: [...], meta:
//!   {current_page, next_page, prev_page, total_pages, total_count, per_page}}`, each
//!   transaction shaped as the documentation's sample (§5.2 [src]): float `amount` beside
//!   `amount_cents`, `side`, `status` pending/declined/completed, `settled_at` null while
//!   pending, `transfer.counterparty_account_number`.
//! - `POST /v2/transactions/{id}/attachments` (multipart `file`, header
//!   `X-Qonto-Idempotency-Key`; corrections: scope `attachment.write`, processed in the
//!   background) → 200 `{}`; a key already used answers the same without a second
//!   attachment ([`FakeQonto::attachments`] counts them).
//! - Errors `{"errors": [{"code", "detail"}]}` [mem]; 429 with `Retry-After: 1` (§5.2: 429 on
//!   excess).
//!
//! For kill tests, [`FakeQonto::delay_after_token`] makes the first API request after a token
//! is issued wait: a process killed then has received (and stored) the new refresh token but
//! not used its access token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

type Answer = (u16, Vec<(String, String)>, String);

/// 2026-11-02T08:00:00Z.
pub const EPOCH: i64 = 1_793_606_400;
/// Seconds the refresh token used keeps working.
pub const GRACE_SECONDS: i64 = 60;
/// Life of a refresh token.
pub const REFRESH_LIFE: i64 = 90 * 86_400;

/// One transaction as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    /// Its id (a UUID-like string).
    pub id: String,
    /// The account's IBAN.
    pub iban: String,
    /// Amount in cents, positive.
    pub cents: i64,
    /// `credit` or `debit`.
    pub side: String,
    /// `pending`, `declined` or `completed`.
    pub status: String,
    /// Settlement time (Unix seconds), once completed.
    pub settled_at: Option<i64>,
    /// Last change (Unix seconds).
    pub updated_at: i64,
    /// Counterparty name.
    pub label: String,
    /// Remittance reference.
    pub reference: Option<String>,
    /// Counterparty IBAN.
    pub counterparty_iban: Option<String>,
}

/// An attachment the fake received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The transaction.
    pub transaction: String,
    /// `X-Qonto-Idempotency-Key`.
    pub key: Option<String>,
    /// Body length in bytes.
    pub bytes: usize,
}

#[derive(Clone, Debug)]
struct Refresh {
    expires: i64,
    used_at: Option<i64>,
}

#[derive(Default)]
struct QState {
    client_id: String,
    secret: String,
    refresh: HashMap<String, Refresh>,
    access: HashMap<String, i64>,
    issued: u64,
    clock: i64,
    accounts: Vec<(String, String)>,
    txs: Vec<Tx>,
    seq: u64,
    faults: VecDeque<u16>,
    delay_after_token: Option<Duration>,
    pending_delay: Option<Duration>,
    token_requests: usize,
    api_requests: usize,
    attachments: Vec<Attachment>,
    keys: HashMap<String, String>,
    last_refresh: Option<String>,
}

/// The running fake. Dropping it stops it.
pub struct FakeQonto {
    addr: SocketAddr,
    state: Arc<Mutex<QState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeQonto {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Arc<Mutex<QState>>) -> MutexGuard<'_, QState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn ts(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn parse_ts(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

fn json_answer(status: u16, v: &Value) -> Answer {
    (
        status,
        vec![("content-type".to_owned(), "application/json".to_owned())],
        v.to_string(),
    )
}

fn api_err(status: u16, code: &str, detail: &str) -> Answer {
    let mut a = json_answer(
        status,
        &json!({"errors": [{"code": code, "detail": detail}]}),
    );
    if status == 429 {
        a.1.push(("retry-after".to_owned(), "1".to_owned()));
    }
    a
}

impl FakeQonto {
    /// Starts a fake for client `client_id` with `secret`, which accepts `refresh_token` (the
    /// one the company's authorization gave).
    pub async fn start(
        client_id: &str,
        secret: &str,
        refresh_token: &str,
    ) -> std::io::Result<Self> {
        let mut st = QState {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            clock: EPOCH,
            ..QState::default()
        };
        st.refresh.insert(
            refresh_token.to_owned(),
            Refresh {
                expires: EPOCH + REFRESH_LIFE,
                used_at: None,
            },
        );
        let state = Arc::new(Mutex::new(st));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = crate::fakehttp::serve(app).await?;
        Ok(FakeQonto { addr, state, task })
    }

    /// The API base (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth2/token", self.addr)
    }

    /// Adds an account; its id.
    pub fn add_account(&self, iban: &str) -> String {
        let mut s = lock(&self.state);
        let id = format!("acc-{}", s.accounts.len() + 1);
        s.accounts.push((id.clone(), iban.to_owned()));
        id
    }

    /// Adds a transaction stamped with the clock (then a second later): `cents` > 0, `side`
    /// `credit`/`debit`, `status`; a completed one settles at `settled_at` (Unix seconds,
    /// the clock when `None`). Its id.
    #[allow(clippy::too_many_arguments)]
    pub fn add_tx(
        &self,
        iban: &str,
        cents: i64,
        side: &str,
        status: &str,
        settled_at: Option<i64>,
        label: &str,
        reference: Option<&str>,
        counterparty_iban: Option<&str>,
    ) -> String {
        let mut s = lock(&self.state);
        s.seq += 1;
        let id = format!(
            "7f3c{:04x}-3595-421a-8b26-f9d9616ce{:03}",
            s.seq,
            s.seq % 1000
        );
        let now = s.clock;
        s.clock += 1;
        let tx = Tx {
            id: id.clone(),
            iban: iban.to_owned(),
            cents,
            side: side.to_owned(),
            status: status.to_owned(),
            settled_at: (status == "completed").then(|| settled_at.unwrap_or(now)),
            updated_at: now,
            label: label.to_owned(),
            reference: reference.map(str::to_owned),
            counterparty_iban: counterparty_iban.map(str::to_owned),
        };
        s.txs.push(tx);
        id
    }

    /// Settles a pending transaction at `settled_at` (its `updated_at` the clock).
    pub fn settle(&self, id: &str, settled_at: i64) {
        let mut s = lock(&self.state);
        let now = s.clock;
        s.clock += 1;
        if let Some(t) = s.txs.iter_mut().find(|t| t.id == id) {
            t.status = "completed".into();
            t.settled_at = Some(settled_at);
            t.updated_at = now;
        }
    }

    /// Every transaction.
    pub fn transactions(&self) -> Vec<Tx> {
        lock(&self.state).txs.clone()
    }

    /// Moves the fake's clock.
    pub fn tick(&self, secs: i64) {
        lock(&self.state).clock += secs;
    }

    /// The fake's clock.
    pub fn clock(&self) -> i64 {
        lock(&self.state).clock
    }

    /// Every access token issued so far stops working.
    pub fn expire_access_tokens(&self) {
        lock(&self.state).access.clear();
    }

    /// The next API request answers `status` with Qonto's error body (429: `Retry-After: 1`).
    pub fn fail_next(&self, status: u16) {
        lock(&self.state).faults.push_back(status);
    }

    /// After each token issued, the next API request waits `d` before it is answered.
    pub fn delay_after_token(&self, d: Option<Duration>) {
        lock(&self.state).delay_after_token = d;
    }

    /// Token requests that issued a token.
    pub fn token_requests(&self) -> usize {
        lock(&self.state).token_requests
    }

    /// Authenticated API requests received.
    pub fn api_requests(&self) -> usize {
        lock(&self.state).api_requests
    }

    /// The refresh token issued last.
    pub fn last_refresh_token(&self) -> Option<String> {
        lock(&self.state).last_refresh.clone()
    }

    /// True when `token` would be accepted now.
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        let s = lock(&self.state);
        s.refresh.get(token).is_some_and(|r| refresh_ok(r, s.clock))
    }

    /// Attachments received (one per idempotency key).
    pub fn attachments(&self) -> Vec<Attachment> {
        lock(&self.state).attachments.clone()
    }
}

fn refresh_ok(r: &Refresh, clock: i64) -> bool {
    clock <= r.expires && r.used_at.is_none_or(|u| clock <= u + GRACE_SECONDS)
}

async fn handle(
    State(state): State<Arc<Mutex<QState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = {
        let mut s = lock(&state);
        if uri.path() == "/oauth2/token" {
            None
        } else {
            s.pending_delay.take()
        }
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (answer, date) = {
        let mut s = lock(&state);
        let a = route(&mut s, &method, &uri, &headers, &body);
        (a, s.clock)
    };
    crate::fakehttp::respond(answer, date)
}

fn route(s: &mut QState, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Answer {
    let path = uri.path().to_owned();
    if path == "/oauth2/token" && method == Method::POST {
        return token(s, body);
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match s.access.get(bearer) {
        Some(until) if *until > s.clock => {}
        _ => {
            return api_err(
                401,
                "unauthorized",
                "The access token is missing, invalid or expired",
            )
        }
    }
    s.api_requests += 1;
    if let Some(code) = s.faults.pop_front() {
        return match code {
            429 => api_err(429, "too_many_requests", "Rate limit exceeded"),
            422 => api_err(422, "invalid_parameter", "The request is not valid"),
            c => api_err(c, "internal_server_error", "Something went wrong"),
        };
    }
    let q: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.clone(), parts.as_slice()) {
        (Method::GET, ["v2", "organization"]) => {
            let accounts: Vec<Value> = s
                .accounts
                .iter()
                .map(|(id, iban)| {
                    json!({"id": id, "slug": format!("acme-{id}"), "iban": iban,
                        "bic": "QNTOFRP1XXX", "currency": "EUR", "balance": 1000.5,
                        "balance_cents": 100050, "authorized_balance": 1000.5,
                        "authorized_balance_cents": 100050, "name": "Compte principal",
                        "status": "active"})
                })
                .collect();
            json_answer(
                200,
                &json!({"organization": {"slug": "acme-1234", "legal_name": "ACME SAS",
                    "bank_accounts": accounts}}),
            )
        }
        (Method::GET, ["v2", "transactions"]) => list(s, &q),
        (Method::POST, ["v2", "transactions", id, "attachments"]) => attach(s, id, headers, body),
        _ => api_err(404, "not_found", "No such resource"),
    }
}

fn token(s: &mut QState, body: &[u8]) -> Answer {
    let f: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    if f.get("client_id") != Some(&s.client_id) || f.get("client_secret") != Some(&s.secret) {
        return json_answer(
            401,
            &json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
        );
    }
    if f.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return json_answer(
            400,
            &json!({"error": "unsupported_grant_type", "error_description": "refresh_token expected"}),
        );
    }
    let given = f.get("refresh_token").cloned().unwrap_or_default();
    let clock = s.clock;
    match s.refresh.get_mut(&given) {
        Some(r) if refresh_ok(r, clock) => {
            if r.used_at.is_none() {
                r.used_at = Some(clock);
            }
        }
        _ => {
            return json_answer(
                400,
                &json!({"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, or was issued to another client"}),
            )
        }
    }
    s.issued += 1;
    s.token_requests += 1;
    let access = format!("qonto-at-{}-{}", s.issued, s.clock);
    let refresh = format!("qonto-rt-{}-{}", s.issued, s.clock);
    s.access.insert(access.clone(), clock + 3600);
    s.refresh.insert(
        refresh.clone(),
        Refresh {
            expires: clock + REFRESH_LIFE,
            used_at: None,
        },
    );
    s.last_refresh = Some(refresh.clone());
    s.pending_delay = s.delay_after_token;
    json_answer(
        200,
        &json!({"access_token": access, "token_type": "bearer", "expires_in": 3600,
            "refresh_token": refresh, "scope": "organization.read offline_access attachment.write"}),
    )
}

fn tx_json(t: &Tx) -> Value {
    let amount = t.cents as f64 / 100.0;
    let mut transfer = Value::Null;
    if let Some(cp) = &t.counterparty_iban {
        transfer = json!({"counterparty_account_number": cp,
            "counterparty_account_number_format": "IBAN",
            "counterparty_bank_identifier": "AGRIFRPP", "counterparty_bank_identifier_format": "SWIFT_BIC"});
    }
    json!({"id": t.id, "transaction_id": format!("acme-transaction-{}", &t.id[4..8]),
        "amount": amount, "amount_cents": t.cents, "settled_balance": null,
        "settled_balance_cents": null, "local_amount": amount, "local_amount_cents": t.cents,
        "side": t.side, "operation_type": "transfer", "currency": "EUR", "local_currency": "EUR",
        "label": t.label, "settled_at": t.settled_at.map(ts), "emitted_at": ts(t.updated_at),
        "updated_at": ts(t.updated_at), "status": t.status, "note": null,
        "reference": t.reference, "vat_amount": null, "category": "other_income",
        "subject_type": "Transfer", "transfer": transfer})
}

fn list(s: &QState, q: &[(String, String)]) -> Answer {
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    let iban = match (get("iban"), get("bank_account_id")) {
        (Some(i), _) => i.to_owned(),
        (None, Some(id)) => match s.accounts.iter().find(|(a, _)| a == id) {
            Some((_, i)) => i.clone(),
            None => return api_err(404, "not_found", "bank account not found"),
        },
        (None, None) => {
            return api_err(
                422,
                "invalid_parameter",
                "iban or bank_account_id is required",
            )
        }
    };
    let statuses: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "status[]")
        .map(|(_, v)| v.as_str())
        .collect();
    let bound = |k: &str| -> Result<Option<i64>, Answer> {
        match get(k) {
            None => Ok(None),
            Some(v) => parse_ts(v).map(Some).ok_or_else(|| {
                api_err(422, "invalid_parameter", &format!("{k} is not a date-time"))
            }),
        }
    };
    let (uf, ut, sf, st) = match (
        bound("updated_at_from"),
        bound("updated_at_to"),
        bound("settled_at_from"),
        bound("settled_at_to"),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
    };
    let per_page: usize = get("per_page").and_then(|v| v.parse().ok()).unwrap_or(100);
    if per_page == 0 || per_page > 100 {
        return api_err(
            422,
            "invalid_parameter",
            "per_page must be between 1 and 100",
        );
    }
    let page: usize = get("current_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut hits: Vec<&Tx> = s
        .txs
        .iter()
        .filter(|t| t.iban == iban)
        .filter(|t| statuses.is_empty() || statuses.contains(&t.status.as_str()))
        .filter(|t| uf.is_none_or(|f| t.updated_at * 1000 >= f))
        .filter(|t| ut.is_none_or(|f| t.updated_at * 1000 <= f))
        .filter(|t| sf.is_none_or(|f| t.settled_at.is_some_and(|x| x * 1000 >= f)))
        .filter(|t| st.is_none_or(|f| t.settled_at.is_some_and(|x| x * 1000 <= f)))
        .collect();
    match get("sort_by").unwrap_or("settled_at:desc") {
        "updated_at:asc" => hits.sort_by_key(|t| (t.updated_at, t.id.clone())),
        "updated_at:desc" => hits.sort_by_key(|t| std::cmp::Reverse((t.updated_at, t.id.clone()))),
        "settled_at:asc" => hits.sort_by_key(|t| (t.settled_at, t.id.clone())),
        "settled_at:desc" => hits.sort_by_key(|t| std::cmp::Reverse((t.settled_at, t.id.clone()))),
        other => {
            return api_err(
                422,
                "invalid_parameter",
                &format!("sort_by {other} is not supported"),
            )
        }
    }
    let total = hits.len();
    let pages = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = hits
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|t| tx_json(t))
        .collect();
    json_answer(
        200,
        &json!({"transactions": items, "meta": {"current_page": page,
            "next_page": if page < pages { json!(page + 1) } else { Value::Null },
            "prev_page": if page > 1 { json!(page - 1) } else { Value::Null },
            "total_pages": pages, "total_count": total, "per_page": per_page}}),
    )
}

fn attach(s: &mut QState, id: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
    if !s.txs.iter().any(|t| t.id == id) {
        return api_err(404, "not_found", "transaction not found");
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("multipart/form-data") {
        return api_err(422, "invalid_parameter", "a multipart file is expected");
    }
    let key = headers
        .get("x-qonto-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(k) = &key {
        if s.keys.get(k).is_some_and(|t| t == id) {
            return json_answer(200, &json!({}));
        }
        s.keys.insert(k.clone(), id.to_owned());
    }
    s.attachments.push(Attachment {
        transaction: id.to_owned(),
        key,
        bytes: body.len(),
    });
    json_answer(200, &json!({}))
}
