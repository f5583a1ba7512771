//! A fake Tryton JSON-RPC server on 127.0.0.1:0, for tests of the connector and the shared
//! compliance suite: login and `Session` header, `search_read` / `search_count` / `read` /
//! `create` / `write` over in-memory records with a small domain evaluator, a logical clock for
//! `last_modified_at` and the `Date` header, and injected faults (HTTP status, UserError,
//! expired session). Raw HTTP/1.1 over tokio, one request per connection.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A fault the next authenticated call answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeFault {
    /// An HTTP status with an HTML body (401, 403, 500, 503...).
    Http(u16),
    /// A JSON-RPC `UserError` with this message.
    UserError(String),
    /// A JSON-RPC `UserWarning` with this name.
    UserWarning(String),
    /// HTTP 429 with `Retry-After: <seconds>` (trytond's answer past its request limits).
    RateLimited(u64),
}

#[derive(Default)]
struct State {
    password: String,
    sessions: Vec<String>,
    next_session: u64,
    records: BTreeMap<String, Vec<Value>>,
    next_id: i64,
    /// Seconds since 2026-11-16T08:00:00 (the fake's clock).
    clock: i64,
    faults: VecDeque<FakeFault>,
    bodies: Vec<String>,
    warnings_acknowledged: Vec<String>,
    /// When each request arrived (the rate-limit tests count them per window).
    arrivals: Vec<std::time::Instant>,
    /// `Retry-After` of the 429 being answered.
    retry_after: Option<u64>,
}

/// The running fake server. Dropping it stops accepting connections.
pub struct FakeTryton {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTryton {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Arc<Mutex<State>>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn clock_value(secs: i64) -> Value {
    let base = chrono::NaiveDate::from_ymd_opt(2026, 11, 16)
        .and_then(|d| d.and_hms_opt(8, 0, 0))
        .unwrap_or_default();
    relance_connectors::systems::tryton::value::enc_datetime(base + chrono::Duration::seconds(secs))
}

impl FakeTryton {
    /// Starts a fake server accepting `password` for any login, database `fake`.
    pub async fn start(password: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            password: password.to_owned(),
            next_id: 1,
            ..State::default()
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, st).await;
                });
            }
        });
        let fake = Self { addr, state, task };
        {
            let mut s = lock(&fake.state);
            // the company's own party (never pulled as a customer)
            s.insert("company.company", json!({"party": 2}));
            s.insert("party.party", json!({"name": "Fake Company SAS"}));
        }
        Ok(fake)
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a record (its `id` and `last_modified_at` are set by the fake); returns the id.
    pub fn insert(&self, model: &str, record: Value) -> i64 {
        lock(&self.state).insert(model, record)
    }

    /// Changes fields of a record and bumps its `last_modified_at`.
    pub fn write(&self, model: &str, id: i64, changes: Value) {
        lock(&self.state).write(model, id, &changes);
    }

    /// Advances the fake clock by `secs` seconds.
    pub fn tick(&self, secs: i64) {
        lock(&self.state).clock += secs;
    }

    /// The next authenticated call fails with `fault`.
    pub fn fail_next(&self, fault: FakeFault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Forgets every session (as a server restart or idle timeout would).
    pub fn expire_sessions(&self) {
        lock(&self.state).sessions.clear();
    }

    /// Records of a model.
    pub fn records(&self, model: &str) -> Vec<Value> {
        lock(&self.state)
            .records
            .get(model)
            .cloned()
            .unwrap_or_default()
    }

    /// Every request body received so far.
    pub fn bodies(&self) -> Vec<String> {
        lock(&self.state).bodies.clone()
    }

    /// When each request arrived, in order.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        lock(&self.state).arrivals.clone()
    }

    /// Warning names acknowledged through `res.user.warning.create`.
    pub fn acknowledged(&self) -> Vec<String> {
        lock(&self.state).warnings_acknowledged.clone()
    }

    /// A small deterministic data set: `customers` parties and `invoices` posted invoices of
    /// 120.00 each (100.00 + 20.00 VAT), one line to pay each, due 30 days after issue.
    pub fn seed(&self, customers: usize, invoices: usize) {
        let mut s = lock(&self.state);
        let mut parties = Vec::new();
        for i in 0..customers {
            parties.push(s.insert("party.party", json!({"name": format!("Client {i:03}"), "lang.": {"code": "fr"}, "siren.": null, "tax_identifier.": null})));
        }
        for i in 0..invoices {
            let party = parties.get(i % parties.len().max(1)).copied().unwrap_or(1);
            let day = 1 + (i % 28) as u32;
            let issue = chrono::NaiveDate::from_ymd_opt(2026, 9, day).unwrap_or_default();
            let due = issue + chrono::Duration::days(30);
            let line = s.insert("account.move.line", json!({"maturity_date": relance_connectors::systems::tryton::value::enc_date(due),
                "debit": {"__class__": "Decimal", "decimal": "120.00"}, "credit": {"__class__": "Decimal", "decimal": "0"},
                "second_currency": null, "amount_second_currency": null, "reconciliation": null}));
            s.insert("account.invoice", json!({"number": format!("FA2026-{:05}", i + 1), "reference": null, "party": party,
                "invoice_date": relance_connectors::systems::tryton::value::enc_date(issue), "currency.": {"id": 1, "code": "EUR"},
                "untaxed_amount": {"__class__": "Decimal", "decimal": "100.00"}, "tax_amount": {"__class__": "Decimal", "decimal": "20.00"},
                "total_amount": {"__class__": "Decimal", "decimal": "120.00"}, "amount_to_pay": {"__class__": "Decimal", "decimal": "120.00"},
                "state": "posted", "lines_to_pay": [line], "payment_lines": [], "type": "out", "company": 1}));
        }
    }
}

impl State {
    fn insert(&mut self, model: &str, mut record: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.clock += 1;
        if let Value::Object(m) = &mut record {
            m.insert("id".into(), json!(id));
            m.insert("last_modified_at".into(), clock_value(self.clock));
        }
        self.records
            .entry(model.to_owned())
            .or_default()
            .push(record);
        id
    }

    fn write(&mut self, model: &str, id: i64, changes: &Value) {
        self.clock += 1;
        let now = clock_value(self.clock);
        if let Some(rec) = self
            .records
            .get_mut(model)
            .and_then(|rs| rs.iter_mut().find(|r| r["id"] == json!(id)))
        {
            if let (Value::Object(m), Value::Object(c)) = (rec, changes) {
                for (k, v) in c {
                    m.insert(k.clone(), v.clone());
                }
                m.insert("last_modified_at".into(), now);
            }
        }
    }
}

async fn serve(mut sock: TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let (head_end, content_length) = loop {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            break (pos + 4, len);
        }
        if buf.len() > 1 << 20 {
            return Ok(());
        }
    };
    while buf.len() < head_end + content_length {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let auth = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_owned())
    });
    let (status, reply, date) = {
        let mut s = lock(&st);
        s.bodies.push(body.clone());
        s.arrivals.push(std::time::Instant::now());
        let (status, reply) = handle(&mut s, &path, auth.as_deref(), &body);
        let date = clock_value(s.clock);
        (status, reply, date)
    };
    let retry_after = if status == 429 {
        lock(&st)
            .retry_after
            .take()
            .map(|s| format!("Retry-After: {s}\r\n"))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let date = relance_connectors::systems::tryton::value::datetime(&date, "clock")
        .map(|d| d.and_utc().to_rfc2822().replace("+0000", "GMT"))
        .unwrap_or_default();
    let reason = match status {
        200 => "OK",
        401 => "UNAUTHORIZED",
        429 => "TOO MANY REQUESTS",
        403 => "FORBIDDEN",
        500 => "INTERNAL SERVER ERROR",
        503 => "SERVICE UNAVAILABLE",
        _ => "ERROR",
    };
    let ctype = if status == 200 {
        "application/json"
    } else {
        "text/html"
    };
    let resp = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nDate: {date}\r\n{retry_after}Connection: close\r\n\r\n{reply}", reply.len());
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

fn rpc_ok(id: &Value, result: Value) -> (u16, String) {
    (200, json!({"id": id, "result": result}).to_string())
}

fn rpc_err(id: &Value, error: Value) -> (u16, String) {
    (200, json!({"id": id, "error": error}).to_string())
}

fn html(status: u16) -> (u16, String) {
    (
        status,
        format!("<html><body><h1>{status}</h1></body></html>"),
    )
}

fn handle(s: &mut State, path: &str, auth: Option<&str>, body: &str) -> (u16, String) {
    let Ok(req) = serde_json::from_str::<Value>(body) else {
        return html(400);
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let params = req.get("params").cloned().unwrap_or(json!([]));
    if path == "/rpc/" {
        return match method.as_str() {
            "common.server.version" => rpc_ok(&id, json!("8.2")),
            "common.db.list" => rpc_ok(&id, json!(["fake"])),
            _ => html(403),
        };
    }
    if path != "/fake/rpc/" {
        return html(404);
    }
    if method == "common.db.login" {
        let pw = params
            .get(1)
            .and_then(|p| p.get("password"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if pw != s.password {
            return html(401);
        }
        s.next_session += 1;
        let token = format!("fake-session-{:04}", s.next_session);
        s.sessions.push(token.clone());
        return rpc_ok(&id, json!([1, token, null]));
    }
    // authorization: Session base64(login:uid:token); the fake checks the token is known
    let known = auth
        .and_then(|a| a.strip_prefix("Session "))
        .is_some_and(|b64| s.sessions.iter().any(|t| decode_has(b64, t)));
    if !known {
        return html(401);
    }
    if let Some(f) = s.faults.pop_front() {
        return match f {
            FakeFault::Http(code) => html(code),
            FakeFault::RateLimited(secs) => {
                s.retry_after = Some(secs);
                html(429)
            }
            FakeFault::UserError(msg) => rpc_err(&id, json!(["UserError", [msg, "", null]])),
            FakeFault::UserWarning(name) => {
                rpc_err(&id, json!(["UserWarning", [name, "a warning", ""]]))
            }
        };
    }
    let Some(rest) = method.strip_prefix("model.") else {
        return html(403);
    };
    let Some((model, op)) = rest.rsplit_once('.') else {
        return html(403);
    };
    let args = params.as_array().cloned().unwrap_or_default();
    if args.last().is_none_or(|c| !c.is_object()) {
        return html(422);
    }
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    match (model, op) {
        ("res.user", "get_preferences") => rpc_ok(
            &id,
            json!({"company": 1, "companies": [1], "language": "fr"}),
        ),
        ("res.user.warning", "create") => {
            for w in arg(0).as_array().cloned().unwrap_or_default() {
                if let Some(n) = w.get("name").and_then(Value::as_str) {
                    s.warnings_acknowledged.push(n.to_owned());
                }
            }
            rpc_ok(&id, json!([1]))
        }
        (_, "search_read") => {
            let rows = select(s, model, &arg(0), &arg(3));
            let offset = arg(1).as_u64().unwrap_or(0) as usize;
            let limit = arg(2).as_u64().map(|l| l as usize).unwrap_or(usize::MAX);
            let fields: Vec<String> = arg(4)
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let out: Vec<Value> = rows
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|r| project(&r, &fields))
                .collect();
            rpc_ok(&id, Value::Array(out))
        }
        (_, "search") => {
            let ids: Vec<Value> = select(s, model, &arg(0), &arg(3))
                .into_iter()
                .map(|r| r["id"].clone())
                .collect();
            rpc_ok(&id, Value::Array(ids))
        }
        (_, "search_count") => rpc_ok(&id, json!(select(s, model, &arg(0), &Value::Null).len())),
        (_, "read") => {
            let want = arg(0);
            let rows: Vec<Value> = s
                .records
                .get(model)
                .map(|rs| {
                    rs.iter()
                        .filter(|r| want.as_array().is_some_and(|a| a.contains(&r["id"])))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let fields: Vec<String> = arg(1)
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            rpc_ok(
                &id,
                Value::Array(rows.iter().map(|r| project(r, &fields)).collect()),
            )
        }
        (_, "create") => {
            let mut ids = Vec::new();
            for vals in arg(0).as_array().cloned().unwrap_or_default() {
                ids.push(s.insert(model, vals));
            }
            rpc_ok(&id, json!(ids))
        }
        (_, "write") => {
            for rid in arg(0).as_array().cloned().unwrap_or_default() {
                s.write(model, rid.as_i64().unwrap_or(0), &arg(1));
            }
            rpc_ok(&id, Value::Null)
        }
        _ => html(403),
    }
}

fn decode_has(b64: &str, token: &str) -> bool {
    // decoding is not needed: encode the candidate the same way and compare
    let mut found = false;
    for uid in 1..=1 {
        let plain = format!(":{uid}:{token}");
        found |= b64_decode(b64).is_some_and(|d| d.ends_with(&plain));
    }
    found
}

fn b64_decode(s: &str) -> Option<String> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = T.iter().position(|t| *t == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

fn project(r: &Value, fields: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), r["id"].clone());
    for f in fields {
        let (base, sub) = match f.split_once('.') {
            Some((b, _)) => (b.to_owned(), Some(format!("{b}."))),
            None => (f.clone(), None),
        };
        if let Some(v) = r.get(&base) {
            m.insert(base.clone(), v.clone());
        }
        if let Some(sub) = sub {
            m.insert(sub.clone(), r.get(&sub).cloned().unwrap_or(Value::Null));
        }
    }
    Value::Object(m)
}

fn select(s: &State, model: &str, domain: &Value, order: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = s
        .records
        .get(model)
        .map(|rs| rs.iter().filter(|r| eval(r, domain)).cloned().collect())
        .unwrap_or_default();
    let by_time = order.to_string().contains("last_modified_at");
    rows.sort_by(|a, b| {
        let ka = (
            if by_time {
                cmp_key(&a["last_modified_at"])
            } else {
                String::new()
            },
            a["id"].as_i64(),
        );
        let kb = (
            if by_time {
                cmp_key(&b["last_modified_at"])
            } else {
                String::new()
            },
            b["id"].as_i64(),
        );
        ka.cmp(&kb)
    });
    rows
}

fn cmp_key(v: &Value) -> String {
    relance_connectors::systems::tryton::value::datetime(v, "t")
        .map(|d| d.format("%Y%m%d%H%M%S%6f").to_string())
        .unwrap_or_default()
}

fn eval(r: &Value, domain: &Value) -> bool {
    let Some(items) = domain.as_array() else {
        return true;
    };
    if items.len() == 3 && items[0].is_string() && items[1].is_string() {
        return leaf(r, items);
    }
    match items.first().and_then(Value::as_str) {
        Some("OR") => items[1..].iter().any(|d| eval(r, d)),
        Some("AND") => items[1..].iter().all(|d| eval(r, d)),
        _ => items.iter().all(|d| eval(r, d)),
    }
}

fn leaf(r: &Value, l: &[Value]) -> bool {
    let field = l[0].as_str().unwrap_or("");
    let op = l[1].as_str().unwrap_or("");
    let want = &l[2];
    if field.contains('.') {
        return true; // dotted paths are not modelled: treated as matching
    }
    let Some(have) = r.get(field) else {
        return op == "=" && want.is_null();
    };
    let ord = |a: &Value, b: &Value| -> Option<std::cmp::Ordering> {
        if a.get("__class__").is_some() {
            return Some(cmp_key(a).cmp(&cmp_key(b)));
        }
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => None,
        }
    };
    use std::cmp::Ordering::*;
    match op {
        "=" => have == want,
        "!=" => have != want,
        ">" => ord(have, want) == Some(Greater),
        "<" => ord(have, want) == Some(Less),
        ">=" => matches!(ord(have, want), Some(Greater | Equal)),
        "<=" => matches!(ord(have, want), Some(Less | Equal)),
        "in" => match (have, want.as_array()) {
            (Value::Array(hs), Some(ws)) => hs.iter().any(|h| ws.contains(h)),
            (h, Some(ws)) => ws.contains(h),
            _ => false,
        },
        "like" | "ilike" => {
            let pat = want.as_str().unwrap_or("").trim_matches('%');
            have.as_str().is_some_and(|h| h.contains(pat))
        }
        _ => true,
    }
}
