//! A fake plateforme agréée on 127.0.0.1:0 (axum): the AFNOR XP Z12-013 flow service under
//! `/flow-service` and Super PDP's `/v1.beta` API, behind one OAuth2 client-credentials token
//! endpoint, following connector-apis.md §7 and its December 2026 corrections. Each behaviour
//! names its source:
//!
//! - `POST /oauth/token` (form `grant_type=client_credentials`, `client_id`,
//!   `client_secret`) → `{access_token, token_type, expires_in}`; a wrong client answers 401
//!   `{"error": "invalid_client", "error_description"}` (RFC 6749 §5.2). Tokens expire after
//!   `expires_in` seconds or when [`FakePa::expire_tokens`] says; an expired one gets 401.
//! - Flow service 1.2.0 (§7): `POST /v1/flows/search` `{limit (≤ 100), where: {updatedAfter
//!   (strict), flowType[], flowDirection[], trackingId}}` → `{limit, filters, results}` sorted
//!   by `updatedAt`, **204** when empty; `GET /v1/flows/{id}?docType=Original`; `POST
//!   /v1/flows` multipart `flowInfo` + `file`, answered 202 with the flow, its
//!   `acknowledgement.status` `Pending` until the next search (asynchronous acceptance),
//!   then `Ok` — or `Error` with `InvalidSchema` when the CDAR cannot be read; a second flow
//!   with the same `trackingId` is refused 409 `AlreadyExistingFlow`. Errors are
//!   `{"errorCode", "errorMessage", "type", "details", "instance"}`; 429 with `Retry-After`.
//! - Super PDP (superpdp/examples `quick_start.js`, `erp.go`): `GET
//!   /v1.beta/invoices?starting_after_id=` pages of `{data: [{id, en_invoice: {number}}],
//!   has_after}`; `GET /v1.beta/invoice_events?invoice_id=`; `POST /v1.beta/invoice_events
//!   {invoice_id, status_code, details: [{reported_data: [...]}]}` → 201 the event.
//!
//! Every 212 the fake accepts, by either API, is recorded ([`FakePa::received_212`]) so tests
//! can count them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use relance_connectors::formats::cdar;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// A fault the next authenticated API request gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaFault {
    /// That HTTP status with the flow service's error body (429 adds `Retry-After: 1`).
    Status(u16),
    /// The next 212 submission is taken (and recorded) but answered 503: the connection
    /// dropped after the platform took it.
    LoseAnswer,
}

/// A 212 the platform received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The invoice number.
    pub number: String,
    /// `(VAT rate, amount)` per rate.
    pub amounts: Vec<(Option<Decimal>, Decimal)>,
    /// `flows` (CDAR) or `invoice_events`.
    pub via: String,
    /// The flow's `trackingId` (the sender's key), for CDAR flows.
    pub tracking_id: Option<String>,
}

#[derive(Clone, Debug)]
struct Flow {
    id: String,
    tracking: Option<String>,
    flow_type: String,
    direction: String,
    syntax: String,
    updated: i64,
    ack: String,
    ack_details: Vec<Value>,
    doc: Vec<u8>,
}

#[derive(Default)]
struct PState {
    client_id: String,
    secret: String,
    tokens: HashMap<String, i64>,
    token_life: i64,
    next_token: u64,
    clock: i64,
    seq: u64,
    flows: Vec<Flow>,
    invoices: Vec<(i64, String)>,
    events: Vec<Value>,
    received: Vec<Received>,
    faults: VecDeque<PaFault>,
    arrivals: Vec<(Instant, String)>,
    token_requests: usize,
    delay: std::time::Duration,
}

/// The running fake. Dropping it stops it.
pub struct FakePa {
    addr: SocketAddr,
    state: Arc<Mutex<PState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePa {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Arc<Mutex<PState>>) -> MutexGuard<'_, PState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

const EPOCH: i64 = 1_793_606_400; // 2026-11-02T08:00:00Z

fn ts(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn err(status: u16, code: &str, msg: &str) -> Ans {
    let mut h = vec![("content-type".to_owned(), "application/json".to_owned())];
    if status == 429 {
        h.push(("retry-after".to_owned(), "1".to_owned()));
    }
    (
        status,
        h,
        json!({"errorCode": code, "errorMessage": msg, "type": "about:blank", "details": msg, "instance": "/flow-service"})
            .to_string()
            .into_bytes(),
    )
}

/// A route's answer: status, headers and a body of bytes (a Factur-X PDF is not text).
type Ans = (u16, Vec<(String, String)>, Vec<u8>);

fn raw(status: u16, ct: &str, body: Vec<u8>) -> Ans {
    (
        status,
        vec![("content-type".to_owned(), ct.to_owned())],
        body,
    )
}

fn ok(status: u16, v: &Value) -> Ans {
    (
        status,
        vec![("content-type".to_owned(), "application/json".to_owned())],
        v.to_string().into_bytes(),
    )
}

impl FakePa {
    /// Starts a fake accepting client `client_id` with `secret`; tokens live an hour.
    pub async fn start(client_id: &str, secret: &str) -> std::io::Result<Self> {
        let st = PState {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            token_life: 3600,
            clock: EPOCH,
            ..PState::default()
        };
        let state = Arc::new(Mutex::new(st));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = crate::fakehttp::serve(app).await?;
        Ok(FakePa { addr, state, task })
    }

    /// The flow service base (`http://127.0.0.1:<port>/flow-service`).
    pub fn url(&self) -> String {
        format!("http://{}/flow-service", self.addr)
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// The Super PDP API base.
    pub fn superpdp_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the client secret (the old one stops working).
    pub fn rotate_secret(&self, new: &str) {
        lock(&self.state).secret = new.to_owned();
    }

    /// Every token issued so far stops working (expired).
    pub fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// Sets the life of the tokens issued from now, in seconds.
    pub fn set_token_life(&self, secs: i64) {
        lock(&self.state).token_life = secs;
    }

    /// Sets the clock (Unix time) the next flows are stamped with.
    pub fn set_clock(&self, unix: i64) {
        lock(&self.state).clock = unix;
    }

    /// Every answer waits this long first (a slow platform: kills land mid-delivery).
    pub fn set_delay(&self, d: std::time::Duration) {
        lock(&self.state).delay = d;
    }

    /// Moves the clock.
    pub fn tick(&self, secs: i64) {
        lock(&self.state).clock += secs;
    }

    /// Arms a fault for the next API request.
    pub fn fail_next(&self, f: PaFault) {
        lock(&self.state).faults.push_back(f);
    }

    /// Token requests served.
    pub fn token_requests(&self) -> usize {
        lock(&self.state).token_requests
    }

    /// Requests received (method and path), with when.
    pub fn arrivals(&self) -> Vec<(Instant, String)> {
        lock(&self.state).arrivals.clone()
    }

    /// Every 212 received.
    pub fn received_212(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// Adds an issued invoice (its CII or UBL), as a `CustomerInvoice` flow going out,
    /// tracked under its number, and in the Super PDP invoice list.
    pub fn add_invoice(&self, number: &str, xml: &str) {
        let syntax = if xml.contains("CrossIndustryInvoice") {
            "CII"
        } else {
            "UBL"
        };
        self.add_invoice_file(number, syntax, xml.as_bytes(), "Ok");
    }

    /// Adds an issued invoice flow of any syntax (`CII`, `UBL`, `Factur-X`: the PDF's bytes)
    /// with its acknowledgement status (`Ok`, `Pending` until the next search, `Error` with
    /// `InvalidSchema`), as the flow service keeps what the company's software submitted
    /// (XP Z12-013 `Flow.flowSyntax`, `acknowledgement`); its id.
    pub fn add_invoice_file(&self, number: &str, syntax: &str, doc: &[u8], ack: &str) -> String {
        let mut s = lock(&self.state);
        s.clock += 1;
        s.seq += 1;
        let id = format!("flow-inv-{}", s.seq);
        let updated = s.clock;
        s.flows.push(Flow {
            id: id.clone(),
            tracking: Some(number.to_owned()),
            flow_type: "CustomerInvoice".into(),
            direction: "Out".into(),
            syntax: syntax.into(),
            updated,
            ack: ack.into(),
            ack_details: if ack == "Error" {
                vec![
                    json!({"level": "Error", "item": "file", "reasonCode": "InvalidSchema", "reasonMessage": "the invoice does not follow the schema"}),
                ]
            } else {
                vec![]
            },
            doc: doc.to_vec(),
        });
        let n = s.invoices.len() as i64 + 1;
        s.invoices.push((1000 + n, number.to_owned()));
        id
    }

    /// A lifecycle status of invoice `number` coming in (a `CustomerInvoiceLC` flow with its
    /// CDAR); `same_second` stamps it with the last flow's time instead of a second later.
    pub fn add_status(
        &self,
        number: &str,
        code: u16,
        reason: Option<(&str, &str)>,
        same_second: bool,
    ) -> String {
        self.add_status_with_amounts(number, code, reason, same_second, &[])
    }

    /// [`FakePa::add_status`] with the message's amounts per VAT rate (`(rate, amount)`): a
    /// 211 Paiement transmis carries the amount paid (`MPA`), a 206 the amount approved, one
    /// `SpecifiedDocumentCharacteristic` per rate (connector-apis.md, corrections).
    pub fn add_status_with_amounts(
        &self,
        number: &str,
        code: u16,
        reason: Option<(&str, &str)>,
        same_second: bool,
        amounts: &[(Decimal, Decimal)],
    ) -> String {
        let mut s = lock(&self.state);
        if !same_second {
            s.clock += 1;
        }
        s.seq += 1;
        let id = format!("flow-lc-{}", s.seq);
        let at = chrono::DateTime::from_timestamp(s.clock, 0).map(|d| d.naive_utc());
        let msg = cdar::CdarMessage {
            id: format!("{number}_{code}_{}", s.seq),
            profile: None,
            issued_at: at,
            issuer: cdar::Party {
                global_id: Some(("0002".into(), "200000008".into())),
                role: Some(if code == 213 { "WK" } else { "BY" }.into()),
                ..cdar::Party::default()
            },
            recipients: vec![cdar::Party {
                global_id: Some(("0002".into(), "100000009".into())),
                role: Some("SE".into()),
                ..cdar::Party::default()
            }],
            statuses: vec![cdar::InvoiceStatus {
                invoice_number: number.to_owned(),
                invoice_type: Some(380),
                invoice_date: None,
                code,
                label: None,
                at,
                reason_code: reason.map(|r| r.0.to_owned()),
                reason: reason.map(|r| r.1.to_owned()),
                action_code: None,
                amounts: amounts
                    .iter()
                    .map(|(rate, amount)| cdar::ReportedAmount {
                        type_code: if code == 211 { "MPA" } else { "MEN" }.into(),
                        amount: *amount,
                        currency: Some("EUR".into()),
                        vat_rate: Some(*rate),
                    })
                    .collect(),
            }],
        };
        let updated = s.clock;
        s.flows.push(Flow {
            id: id.clone(),
            tracking: None,
            flow_type: "CustomerInvoiceLC".into(),
            direction: "In".into(),
            syntax: "CDAR".into(),
            updated,
            ack: "Ok".into(),
            ack_details: vec![],
            doc: cdar::write(&msg).into_bytes(),
        });
        id
    }

    /// A flow that is not a readable CDAR (for quarantine tests).
    pub fn add_garbage_status(&self, body: &str) {
        let mut s = lock(&self.state);
        s.clock += 1;
        s.seq += 1;
        let id = format!("flow-lc-{}", s.seq);
        let updated = s.clock;
        s.flows.push(Flow {
            id,
            tracking: None,
            flow_type: "CustomerInvoiceLC".into(),
            direction: "In".into(),
            syntax: "CDAR".into(),
            updated,
            ack: "Ok".into(),
            ack_details: vec![],
            doc: body.as_bytes().to_vec(),
        });
    }
}

async fn handle(
    State(state): State<Arc<Mutex<PState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = lock(&state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let ((status, headers, body), date) = {
        let mut s = lock(&state);
        s.arrivals
            .push((Instant::now(), format!("{} {}", method, uri.path())));
        let a = route(&mut s, &method, &uri, &headers, &body);
        (a, s.clock)
    };
    crate::fakehttp::respond_bytes(status, headers, body, date)
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn query(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn route(s: &mut PState, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Ans {
    let path = uri.path().to_owned();
    if path == "/oauth/token" && method == Method::POST {
        let f = form(body);
        if f.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return ok(
                400,
                &json!({"error": "unsupported_grant_type", "error_description": "client_credentials only"}),
            );
        }
        if f.get("client_id") != Some(&s.client_id) || f.get("client_secret") != Some(&s.secret) {
            return ok(
                401,
                &json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
            );
        }
        s.token_requests += 1;
        s.next_token += 1;
        let t = format!("pa-token-{}-{}", s.next_token, s.clock);
        let until = s.clock + s.token_life;
        s.tokens.insert(t.clone(), until);
        return ok(
            200,
            &json!({"access_token": t, "token_type": "Bearer", "expires_in": s.token_life}),
        );
    }
    if path == "/flow-service/v1/healthcheck" {
        return ok(200, &json!({"status": "UP"}));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match s.tokens.get(token) {
        Some(until) if *until > s.clock => {}
        _ => {
            return err(
                401,
                "UNAUTHORIZED",
                "The access token is missing, invalid or expired",
            )
        }
    }
    let lose_answer = match s.faults.front() {
        Some(PaFault::Status(code)) => {
            let code = *code;
            s.faults.pop_front();
            return match code {
                429 => err(
                    429,
                    "TOO_MANY_REQUESTS",
                    "The client emitted too many requests",
                ),
                400 => err(400, "BAD_REQUEST", "The request is not valid"),
                c => err(c, "INTERNAL_ERROR", "The service is unavailable"),
            };
        }
        Some(PaFault::LoseAnswer) if method == Method::POST && !path.ends_with("/search") => {
            s.faults.pop_front();
            true
        }
        _ => false,
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let answer = match (method.clone(), parts.as_slice()) {
        (Method::POST, ["flow-service", "v1", "flows", "search"]) => search(s, body),
        (Method::GET, ["flow-service", "v1", "flows", id]) => {
            match s.flows.iter().find(|f| f.id == *id) {
                None => err(404, "NOT_FOUND", "No such flow"),
                Some(f) => match query(uri).get("docType").map(String::as_str) {
                    Some("Original") => {
                        let ct = if f.syntax == "Factur-X" {
                            "application/pdf"
                        } else {
                            "application/xml"
                        };
                        return raw(200, ct, f.doc.clone());
                    }
                    _ => ok(200, &flow_json(f)),
                },
            }
        }
        (Method::POST, ["flow-service", "v1", "flows"]) => submit(s, headers, body),
        (Method::GET, ["v1.beta", "invoices"]) => {
            let after: i64 = query(uri)
                .get("starting_after_id")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let rest: Vec<&(i64, String)> = s.invoices.iter().filter(|(i, _)| *i > after).collect();
            // two per page, so a client must follow has_after
            let data: Vec<Value> = rest
                .iter()
                .take(2)
                .map(|(i, n)| json!({"id": i, "en_invoice": {"number": n}}))
                .collect();
            ok(200, &json!({"data": data, "has_after": rest.len() > 2}))
        }
        (Method::GET, ["v1.beta", "invoice_events"]) => {
            let inv: i64 = query(uri)
                .get("invoice_id")
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1);
            let data: Vec<Value> = s
                .events
                .iter()
                .filter(|e| e.get("invoice_id").and_then(Value::as_i64) == Some(inv))
                .cloned()
                .collect();
            ok(200, &json!({"data": data}))
        }
        (Method::POST, ["v1.beta", "invoice_events"]) => superpdp_event(s, body),
        _ => err(404, "NOT_FOUND", "No such resource"),
    };
    if lose_answer && answer.0 < 300 {
        return err(503, "SERVICE_UNAVAILABLE", "connection reset");
    }
    answer
}

fn flow_json(f: &Flow) -> Value {
    json!({
        "flowId": f.id, "trackingId": f.tracking, "name": format!("{}.xml", f.id),
        "flowSyntax": f.syntax, "flowType": f.flow_type, "flowDirection": f.direction,
        "processingRule": "B2B", "submittedAt": ts(f.updated), "updatedAt": ts(f.updated),
        "acknowledgement": {"status": f.ack, "details": f.ack_details},
    })
}

fn search(s: &mut PState, body: &[u8]) -> Ans {
    // asynchronous acceptance: what was Pending is processed by the next search
    for f in s.flows.iter_mut().filter(|f| f.ack == "Pending") {
        f.ack = "Ok".into();
    }
    let Ok(q) = serde_json::from_slice::<Value>(body) else {
        return err(400, "BAD_REQUEST", "body is not JSON");
    };
    let limit = q.get("limit").and_then(Value::as_u64).unwrap_or(25);
    if limit == 0 || limit > 100 {
        return err(400, "BAD_REQUEST", "limit must be between 1 and 100");
    }
    let w = q.get("where").cloned().unwrap_or(Value::Null);
    let after = match w.get("updatedAfter").and_then(Value::as_str) {
        None => None,
        Some(a) => match chrono::DateTime::parse_from_rfc3339(a) {
            Ok(d) => Some(d.timestamp_millis()),
            Err(_) => return err(400, "BAD_REQUEST", "updatedAfter is not a date-time"),
        },
    };
    let any_of = |k: &str, v: &str| match w.get(k).and_then(Value::as_array) {
        None => true,
        Some(a) => a.iter().any(|x| x.as_str() == Some(v)),
    };
    let tracking = w.get("trackingId").and_then(Value::as_str);
    let mut hits: Vec<&Flow> = s
        .flows
        .iter()
        .filter(|f| after.map(|a| f.updated * 1000 > a).unwrap_or(true))
        .filter(|f| any_of("flowType", &f.flow_type) && any_of("flowDirection", &f.direction))
        .filter(|f| {
            tracking
                .map(|t| f.tracking.as_deref() == Some(t))
                .unwrap_or(true)
        })
        .collect();
    hits.sort_by(|a, b| (a.updated, &a.id).cmp(&(b.updated, &b.id)));
    if hits.is_empty() {
        return (204, vec![], Vec::new());
    }
    let results: Vec<Value> = hits
        .iter()
        .take(limit as usize)
        .map(|f| flow_json(f))
        .collect();
    ok(
        200,
        &json!({"limit": limit, "filters": w, "results": results}),
    )
}

/// The parts of a multipart body: (name, content).
fn multipart(headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
    let ct = headers.get("content-type")?.to_str().ok()?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let sep = format!("--{boundary}");
    let mut out = Vec::new();
    for part in text.split(&sep).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let (head, content) = part.split_once("\r\n\r\n")?;
        let name = head.split("name=\"").nth(1)?.split('"').next()?.to_owned();
        out.push((name, content.trim_end_matches("\r\n").to_owned()));
    }
    Some(out)
}

fn submit(s: &mut PState, headers: &HeaderMap, body: &[u8]) -> Ans {
    let Some(parts) = multipart(headers, body) else {
        return err(
            400,
            "BAD_REQUEST",
            "expected multipart/form-data with flowInfo and file",
        );
    };
    let info = parts
        .iter()
        .find(|(n, _)| n == "flowInfo")
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok());
    let file = parts
        .iter()
        .find(|(n, _)| n == "file")
        .map(|(_, v)| v.clone());
    let (Some(info), Some(file)) = (info, file) else {
        return err(400, "BAD_REQUEST", "flowInfo (JSON) and file are required");
    };
    let tracking = info
        .get("trackingId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(t) = &tracking {
        if s.flows.iter().any(|f| f.tracking.as_deref() == Some(t)) {
            return err(
                409,
                "AlreadyExistingFlow",
                "A flow with this trackingId already exists",
            );
        }
    }
    s.clock += 1;
    s.seq += 1;
    let parsed = cdar::parse(file.as_bytes());
    let (ack, details) = match &parsed.message {
        Some(m) => {
            for st in m.statuses.iter().filter(|st| st.code == 212) {
                s.received.push(Received {
                    number: st.invoice_number.clone(),
                    amounts: st.amounts.iter().map(|a| (a.vat_rate, a.amount)).collect(),
                    via: "flows".into(),
                    tracking_id: tracking.clone(),
                });
            }
            ("Pending", vec![])
        }
        None => (
            "Error",
            vec![
                json!({"level": "Error", "item": "file", "reasonCode": "InvalidSchema", "reasonMessage": "not a CDAR message"}),
            ],
        ),
    };
    let f = Flow {
        id: format!("flow-out-{}", s.seq),
        tracking,
        flow_type: info
            .get("flowType")
            .and_then(Value::as_str)
            .unwrap_or("CustomerInvoiceLC")
            .to_owned(),
        direction: "Out".into(),
        syntax: "CDAR".into(),
        updated: s.clock,
        ack: ack.into(),
        ack_details: details,
        doc: file.into_bytes(),
    };
    let v = flow_json(&f);
    s.flows.push(f);
    ok(202, &v)
}

fn superpdp_event(s: &mut PState, body: &[u8]) -> Ans {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return err(400, "BAD_REQUEST", "body is not JSON");
    };
    let inv = v.get("invoice_id").and_then(Value::as_i64);
    let Some(number) = inv
        .and_then(|i| s.invoices.iter().find(|(id, _)| *id == i))
        .map(|(_, n)| n.clone())
    else {
        return err(404, "NOT_FOUND", "No such invoice");
    };
    let status = v.get("status_code").and_then(Value::as_str).unwrap_or("");
    if !status.starts_with("fr:") {
        return err(422, "UNPROCESSABLE", "status_code must be a fr: code");
    }
    let data = v
        .pointer("/details/0/reported_data")
        .cloned()
        .unwrap_or(Value::Null);
    let dec = |x: &Value| relance_connectors::wire::decimal(x);
    if status == "fr:212" {
        let amounts: Vec<(Option<Decimal>, Decimal)> = data
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r.get("value_percent").and_then(dec), dec(r.get("amount")?)?)))
            .collect();
        if amounts.is_empty() {
            return err(422, "UNPROCESSABLE", "212 needs reported_data with amounts");
        }
        s.received.push(Received {
            number,
            amounts,
            via: "invoice_events".into(),
            tracking_id: None,
        });
    }
    s.seq += 1;
    let e = json!({"id": s.seq, "invoice_id": inv, "status_code": status, "details": v.get("details"), "created_at": ts(s.clock)});
    s.events.push(e.clone());
    ok(201, &e)
}
