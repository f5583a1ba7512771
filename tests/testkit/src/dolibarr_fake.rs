//! A fake Dolibarr REST API on 127.0.0.1:0 (axum) under `/api/index.php`, following
//! `Dolibarr/dolibarr:htdocs/compta/facture/class/api_invoices.class.php`,
//! `htdocs/comm/action/class/api_agendaevents.class.php`, `htdocs/core/lib/functions.lib.php`
//! (`forgeSQLFromUniversalSearchCriteria`, `dolForgeCriteriaCallback`) and connector-apis.md
//! §3. Each quirk reproduced names its source:
//!
//! - `DOLAPIKEY` header; errors `{"error": {"code", "message"}}` (Restler; Dolibarr#25405).
//! - Lists: `sortfield`/`sortorder` comma-separated lists, `limit` (default 100), `page`
//!   (0-based), `sqlfilters`; an empty page is `[]`, or a **404** "No invoice found" with the
//!   older-version switch (§3 [mem]); `pagination_data=true` wraps as `{data, pagination}`
//!   (`api_invoices.class.php` `index`).
//! - `sqlfilters`: `(field:op:value)` terms joined by `and`/`or`; each term is split with
//!   `explode(':')` and only its third part kept, so a value with a colon is cut
//!   (`dolForgeCriteriaCallback`); a quoted value is a string, anything else a PHP float cast;
//!   unbalanced parentheses or other text answer 400 "Bad syntax of the search string".
//! - Amounts as strings with 8 decimals, dates as Unix times of local midnight, `tms` in the
//!   server's local time (UTC + `utc_offset_minutes`), `date_modification` its Unix time;
//!   `remaintopay = total_ttc − payments − credit notes` computed at read time (`_fetch`,
//!   `index`); a partial payment writes `paiement_facture` and leaves the invoice's `tms`.
//! - `POST /agendaevents` refuses a missing `userownerid` or `type_code` with 400
//!   "… field missing" (`_validate`); `POST /invoices/paymentsdistributed` takes
//!   `arrayofamounts` and closes paid invoices on `closepaidinvoices=yes`.
//!
//! The clock moves one second per write, or with [`FakeDolibarr::tick`].

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where the API lives.
pub const BASE: &str = "/api/index.php";

/// A fault the next authenticated request gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DolFault {
    /// An HTTP status with Dolibarr's error body (429 adds `Retry-After: 1`).
    Status(u16),
    /// That status for the first `POST` whose path ends with the text (a crash between two
    /// steps of a write-back).
    StatusOnPost(String, u16),
}

#[derive(Clone, Debug)]
struct Inv {
    id: i64,
    r#ref: String,
    socid: i64,
    date: chrono::NaiveDate,
    due: chrono::NaiveDate,
    ty: i64,
    ht: Decimal,
    tva: Decimal,
    ttc: Decimal,
    status: i64,
    tms: i64,
    options: Map<String, Value>,
}

#[derive(Default)]
struct DState {
    keys: Vec<String>,
    offset_minutes: i64,
    empty_is_404: bool,
    clock: i64,
    next: i64,
    invoices: BTreeMap<i64, Inv>,
    thirdparties: BTreeMap<i64, (Value, i64)>,
    payments: BTreeMap<i64, Vec<Value>>,
    events: BTreeMap<i64, Value>,
    faults: VecDeque<DolFault>,
    arrivals: Vec<(Instant, String)>,
    delay: Duration,
}

/// The running fake. Dropping it stops it.
pub struct FakeDolibarr {
    addr: SocketAddr,
    state: Arc<Mutex<DState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDolibarr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Arc<Mutex<DState>>) -> MutexGuard<'_, DState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

const EPOCH: i64 = 1_794_816_000; // 2026-11-16T08:00:00Z

fn dstr(d: Decimal) -> String {
    format!("{:.8}", d)
}

impl FakeDolibarr {
    /// Starts a fake accepting `key`, its server one hour ahead of UTC (Paris in winter),
    /// answering an empty page with `[]` (`empty_is_404 = false`) or a 404 (older versions).
    pub async fn start(key: &str, empty_is_404: bool) -> std::io::Result<Self> {
        let st = DState {
            keys: vec![key.to_owned()],
            offset_minutes: 60,
            empty_is_404,
            next: 1,
            ..DState::default()
        };
        let state = Arc::new(Mutex::new(st));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = crate::fakehttp::serve(app).await?;
        Ok(FakeDolibarr { addr, state, task })
    }

    /// The API base (`http://127.0.0.1:<port>/api/index.php`).
    pub fn url(&self) -> String {
        format!("http://{}{BASE}", self.addr)
    }

    /// Replaces every key by `new`.
    pub fn rotate_key(&self, new: &str) {
        lock(&self.state).keys = vec![new.to_owned()];
    }

    /// The next authenticated request gets `f`.
    pub fn fail_next(&self, f: DolFault) {
        lock(&self.state).faults.push_back(f);
    }

    /// Delays every answer.
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).delay = d;
    }

    /// Moves the clock.
    pub fn tick(&self, secs: i64) {
        lock(&self.state).clock += secs;
    }

    /// Request arrivals and their paths.
    pub fn arrivals(&self) -> Vec<(Instant, String)> {
        lock(&self.state).arrivals.clone()
    }

    /// Agenda events recorded.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.state).events.values().cloned().collect()
    }

    /// Payments of an invoice.
    pub fn payments(&self, invoice: i64) -> Vec<Value> {
        lock(&self.state)
            .payments
            .get(&invoice)
            .cloned()
            .unwrap_or_default()
    }

    /// Extrafields of an invoice.
    pub fn options(&self, invoice: i64) -> Map<String, Value> {
        lock(&self.state)
            .invoices
            .get(&invoice)
            .map(|i| i.options.clone())
            .unwrap_or_default()
    }

    /// `(validated or paid or abandoned invoices, sum of their remaintopay)`.
    pub fn totals(&self) -> (usize, Decimal) {
        let s = lock(&self.state);
        let v: Vec<&Inv> = s.invoices.values().filter(|i| i.status > 0).collect();
        (
            v.len(),
            v.iter()
                .filter(|i| i.status == 1)
                .map(|i| s.remain(i).abs())
                .sum(),
        )
    }

    /// Adds a customer; returns its id.
    pub fn add_thirdparty(&self, name: &str, siren: Option<&str>) -> i64 {
        let mut s = lock(&self.state);
        let id = s.id();
        let v = json!({"id": id.to_string(), "name": name, "client": "1", "code_client": format!("CU{id:04}"),
            "email": format!("compta{id}@client.example"), "idprof1": siren.unwrap_or(""), "idprof2": "",
            "tva_intra": "", "country_code": "FR", "default_lang": "fr_FR", "status": "1"});
        let t = s.clock;
        s.thirdparties.insert(id, (v, t));
        id
    }

    /// Adds an invoice (validated) of `ht` + 20 % VAT; `ty` 2 is a credit note. Returns its id.
    pub fn add_invoice(&self, socid: i64, r#ref: &str, date: &str, ht: Decimal, ty: i64) -> i64 {
        let mut s = lock(&self.state);
        let id = s.id();
        let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap_or_default();
        let sign = if ty == 2 { -Decimal::ONE } else { Decimal::ONE };
        let tva = (ht * Decimal::new(2, 1)).round_dp(2);
        let tms = s.clock;
        s.invoices.insert(
            id,
            Inv {
                id,
                r#ref: r#ref.to_owned(),
                socid,
                date,
                due: date + chrono::Duration::days(30),
                ty,
                ht: sign * ht,
                tva: sign * tva,
                ttc: sign * (ht + tva),
                status: 1,
                tms,
                options: Map::new(),
            },
        );
        id
    }

    /// Adds a draft (never listed by relance's filter).
    pub fn add_draft(&self, socid: i64) -> i64 {
        let id = self.add_invoice(socid, "(PROV)", "2026-11-01", Decimal::new(1000, 2), 0);
        if let Some(i) = lock(&self.state).invoices.get_mut(&id) {
            i.status = 0;
        }
        id
    }

    /// A payment outside relance: the invoice's `tms` moves only when it is closed as paid.
    pub fn pay(&self, invoice: i64, amount: Decimal) {
        let mut s = lock(&self.state);
        s.add_payment(invoice, amount, "", true);
    }

    /// Changes an invoice's status (3 abandoned), bumping its `tms`.
    pub fn set_status(&self, invoice: i64, status: i64) {
        let mut s = lock(&self.state);
        s.clock += 1;
        let t = s.clock;
        if let Some(i) = s.invoices.get_mut(&invoice) {
            i.status = status;
            i.tms = t;
        }
    }

    /// `customers` customers and `invoices` invoices of 100.00 + VAT.
    pub fn seed(&self, customers: usize, invoices: usize) -> Vec<i64> {
        let cs: Vec<i64> = (0..customers.max(1))
            .map(|i| self.add_thirdparty(&format!("Client {i:03}"), Some("732829320")))
            .collect();
        (0..invoices)
            .map(|i| {
                if i % 4 == 3 {
                    self.tick(1);
                }
                self.add_invoice(
                    cs[i % cs.len()],
                    &format!("FA2609-{:04}", i + 1),
                    &format!("2026-09-{:02}", 1 + i % 28),
                    Decimal::new(10000, 2),
                    0,
                )
            })
            .collect()
    }
}

impl DState {
    fn id(&mut self) -> i64 {
        let id = self.next;
        self.next += 1;
        id
    }

    fn remain(&self, i: &Inv) -> Decimal {
        let paid: Decimal = self
            .payments
            .get(&i.id)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p["amount"].as_str().and_then(|a| a.parse::<Decimal>().ok()))
                    .sum()
            })
            .unwrap_or_default();
        i.ttc - paid
    }

    fn add_payment(&mut self, invoice: i64, amount: Decimal, num: &str, close: bool) {
        let ts = EPOCH + self.clock;
        let pid = self.id();
        self.payments
            .entry(invoice)
            .or_default()
            .push(json!({"id": pid, "amount": dstr(amount), "type": "VIR",
            "date": ts, "num": num, "ref": format!("PAY{pid:04}")}));
        let remain = self
            .invoices
            .get(&invoice)
            .map(|i| self.remain(i))
            .unwrap_or_default();
        if close && remain.abs() < Decimal::new(1, 2) {
            self.clock += 1;
            let t = self.clock;
            if let Some(i) = self.invoices.get_mut(&invoice) {
                i.status = 2;
                i.tms = t;
            }
        }
    }

    fn local(&self, t: i64) -> chrono::NaiveDateTime {
        chrono::DateTime::from_timestamp(EPOCH + t + self.offset_minutes * 60, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    }

    fn midnight(&self, d: chrono::NaiveDate) -> i64 {
        d.and_hms_opt(0, 0, 0)
            .map(|x| x.and_utc().timestamp() - self.offset_minutes * 60)
            .unwrap_or(0)
    }

    fn invoice_json(&self, i: &Inv) -> Value {
        let remain = self.remain(i);
        let options: Map<String, Value> = i.options.clone();
        json!({"id": i.id.to_string(), "ref": i.r#ref, "socid": i.socid.to_string(), "date": self.midnight(i.date),
            "date_lim_reglement": self.midnight(i.due), "type": i.ty.to_string(), "total_ht": dstr(i.ht),
            "total_tva": dstr(i.tva), "total_ttc": dstr(i.ttc), "totalpaid": dstr(i.ttc - remain),
            "totalcreditnotes": 0, "totaldeposits": 0,
            // price2num(…, 'MT'): rounded to the currency's unit
            "remaintopay": format!("{:.2}", remain.round_dp(2)),
            "paye": if i.status == 2 { "1" } else { "0" }, "statut": i.status.to_string(), "status": i.status.to_string(),
            "fk_statut": i.status.to_string(), "ref_client": "", "multicurrency_code": "EUR",
            "date_creation": EPOCH + i.tms, "date_modification": EPOCH + i.tms, "array_options": options,
            "lines": [], "contacts_ids": []})
    }
}

fn error(status: u16, message: &str) -> (u16, Vec<(String, String)>, String) {
    let mut h = vec![("content-type".into(), "application/json".into())];
    if status == 429 {
        h.push(("retry-after".into(), "1".into()));
    }
    (
        status,
        h,
        json!({"error": {"code": status, "message": message}}).to_string(),
    )
}

fn ok(v: Value) -> (u16, Vec<(String, String)>, String) {
    (
        200,
        vec![("content-type".into(), "application/json".into())],
        v.to_string(),
    )
}

async fn handle(
    State(st): State<Arc<Mutex<DState>>>,
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
    let answer = route(&mut s, &method, &uri, &headers, &body);
    crate::fakehttp::respond(answer, EPOCH + s.clock)
}

/// A parsed `sqlfilters` expression.
enum Expr {
    Term(String, String, Term),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A term's value after `dolForgeCriteriaCallback`.
enum Term {
    Text(String),
    Number(f64),
    List(Vec<String>),
    Null,
}

fn parse_filter(f: &str) -> Result<Expr, String> {
    let f = f.trim();
    let f = if f.starts_with('(') && f.ends_with(')') {
        f.to_owned()
    } else {
        format!("({f})")
    };
    let mut depth = 0i32;
    for c in f.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err("Wrong balance of parenthesis".into());
        }
    }
    if depth != 0 {
        return Err("Wrong balance of parenthesis".into());
    }
    let chars: Vec<char> = f.chars().collect();
    let mut pos = 0;
    let e = parse_or(&chars, &mut pos)?;
    if pos != chars.len() {
        return Err("Bad syntax of the search string".into());
    }
    Ok(e)
}

fn skip_ws(c: &[char], p: &mut usize) {
    while *p < c.len() && c[*p] == ' ' {
        *p += 1;
    }
}

fn keyword(c: &[char], p: &mut usize, k: &str) -> bool {
    skip_ws(c, p);
    let s: String = c[*p..].iter().take(k.len()).collect();
    if s.eq_ignore_ascii_case(k) {
        *p += k.len();
        true
    } else {
        false
    }
}

fn parse_or(c: &[char], p: &mut usize) -> Result<Expr, String> {
    let mut parts = vec![parse_and(c, p)?];
    while keyword(c, p, "or") {
        parts.push(parse_and(c, p)?);
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::Or(parts)
    })
}

fn parse_and(c: &[char], p: &mut usize) -> Result<Expr, String> {
    let mut parts = vec![parse_atom(c, p)?];
    while keyword(c, p, "and") {
        parts.push(parse_atom(c, p)?);
    }
    skip_ws(c, p);
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::And(parts)
    })
}

fn parse_atom(c: &[char], p: &mut usize) -> Result<Expr, String> {
    skip_ws(c, p);
    if *p >= c.len() || c[*p] != '(' {
        return Err("Bad syntax of the search string".into());
    }
    // a term: ( field:op:value ) with no parenthesis inside
    let inner_end = c[*p + 1..]
        .iter()
        .position(|x| *x == ')' || *x == '(')
        .map(|i| i + *p + 1);
    if let Some(end) = inner_end {
        if c[end] == ')' {
            let inner: String = c[*p + 1..end].iter().collect();
            if let Some(t) = term(&inner) {
                *p = end + 1;
                return Ok(t);
            }
        }
    }
    *p += 1;
    let e = parse_or(c, p)?;
    skip_ws(c, p);
    if *p >= c.len() || c[*p] != ')' {
        return Err("Bad syntax of the search string".into());
    }
    *p += 1;
    Ok(e)
}

/// `dolForgeCriteriaCallback`: `explode(':')`, operand, operator, and only the third part.
fn term(inner: &str) -> Option<Expr> {
    let parts: Vec<&str> = inner.split(':').collect();
    if parts.len() < 3
        || !parts[0]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    let field = parts[0].trim().to_owned();
    let op = parts[1].trim().to_ascii_lowercase();
    if !op.chars().all(|c| "<>!=insotlke".contains(c)) {
        return None;
    }
    let raw = parts[2];
    let value = if op == "in" || op == "notin" {
        Term::List(
            raw.split(',')
                .map(|x| x.trim_matches('\'').to_owned())
                .collect(),
        )
    } else if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
        Term::Text(raw[1..raw.len() - 1].to_owned())
    } else if raw.eq_ignore_ascii_case("null") {
        Term::Null
    } else {
        // PHP's (float) cast of anything else: "'2025-01-31 23" is 0
        Term::Number(raw.trim().parse::<f64>().unwrap_or(0.0))
    };
    Some(Expr::Term(field, op, value))
}

/// A column's value for a filter: numbers as numbers, datetimes as `YYYYMMDDHHMMSS` numbers.
fn eval(e: &Expr, col: &dyn Fn(&str) -> Option<Value>) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|x| eval(x, col)),
        Expr::Or(v) => v.iter().any(|x| eval(x, col)),
        Expr::Term(field, op, value) => {
            let have = col(field).unwrap_or(Value::Null);
            let as_num = |v: &Value| -> Option<f64> {
                match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                }
            };
            match (op.as_str(), value) {
                ("like" | "notlike", Term::Text(pat)) => {
                    let h = have.as_str().unwrap_or("");
                    let hit = like(pat, h);
                    if op == "like" {
                        hit
                    } else {
                        !hit
                    }
                }
                ("in" | "notin", Term::List(list)) => {
                    let h = match &have {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let hit = list.contains(&h);
                    if op == "in" {
                        hit
                    } else {
                        !hit
                    }
                }
                ("is", Term::Null) => have.is_null(),
                ("isnot", Term::Null) => !have.is_null(),
                (_, Term::Text(t)) => {
                    let (a, b) = match (as_num(&have), t.parse::<f64>().ok()) {
                        (Some(a), Some(b)) => (a, b),
                        _ => return cmp_str(op, have.as_str().unwrap_or(""), t),
                    };
                    cmp_num(op, a, b)
                }
                (_, Term::Number(n)) => as_num(&have).is_some_and(|a| cmp_num(op, a, *n)),
                _ => false,
            }
        }
    }
}

fn cmp_num(op: &str, a: f64, b: f64) -> bool {
    match op {
        "=" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "<=" => a <= b,
        ">=" => a >= b,
        _ => false,
    }
}

fn cmp_str(op: &str, a: &str, b: &str) -> bool {
    match op {
        "=" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "<=" => a <= b,
        ">=" => a >= b,
        _ => false,
    }
}

fn like(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('_') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
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

/// Sort, page and answer a list (`index`): `limit + 1` read, `limit` answered; only the
/// page's rows are rendered.
fn answer_list<T>(
    s: &DState,
    mut rows: Vec<(Map<String, Value>, T)>,
    q: &HashMap<String, String>,
    empty: &str,
    render: impl Fn(&DState, &T) -> Value,
) -> (u16, Vec<(String, String)>, String) {
    let fields: Vec<String> = q
        .get("sortfield")
        .map(|f| f.split(',').map(|x| x.trim().to_owned()).collect())
        .unwrap_or_else(|| vec!["t.rowid".into()]);
    let orders: Vec<bool> = q
        .get("sortorder")
        .map(|o| {
            o.split(',')
                .map(|x| x.trim().eq_ignore_ascii_case("desc"))
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by(|(a, _), (b, _)| {
        for (i, f) in fields.iter().enumerate() {
            let (x, y) = (
                a.get(f).cloned().unwrap_or(Value::Null),
                b.get(f).cloned().unwrap_or(Value::Null),
            );
            let o = x
                .as_f64()
                .unwrap_or(0.0)
                .partial_cmp(&y.as_f64().unwrap_or(0.0))
                .unwrap_or(std::cmp::Ordering::Equal);
            let o = if orders.get(i).copied().unwrap_or(false) {
                o.reverse()
            } else {
                o
            };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100);
    let page = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0);
    let total = rows.len();
    let out: Vec<Value> = if limit == 0 {
        rows.iter().map(|r| render(s, &r.1)).collect()
    } else {
        rows.iter()
            .skip(limit * page)
            .take(limit)
            .map(|r| render(s, &r.1))
            .collect()
    };
    if out.is_empty() && s.empty_is_404 {
        return error(404, &format!("Not found: {empty}"));
    }
    if q.get("pagination_data")
        .is_some_and(|p| p == "true" || p == "1")
    {
        return ok(
            json!({"data": out, "pagination": {"total": total, "page": page, "page_count": total.div_ceil(limit.max(1)), "limit": limit}}),
        );
    }
    ok(Value::Array(out))
}

fn route(
    s: &mut DState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let path = uri.path().to_owned();
    s.arrivals.push((Instant::now(), path.clone()));
    let Some(rest) = path.strip_prefix(BASE) else {
        return error(404, "Not Found");
    };
    let seg: Vec<&str> = rest.trim_matches('/').split('/').collect();
    if *method == Method::GET && seg == ["status"] {
        return ok(
            json!({"success": {"code": 200, "dolibarr_version": if s.empty_is_404 { "16.0.5" } else { "20.0.2" }, "access_locked": "0"}}),
        );
    }
    match headers.get("dolapikey").and_then(|v| v.to_str().ok()) {
        None => return error(401, "Unauthorized: Failed to login to API. No parameter 'HTTP_DOLAPIKEY' on HTTP header (and no parameter DOLAPIKEY in URL)."),
        Some(k) if !s.keys.iter().any(|x| x == k) => return error(401, "Unauthorized: Access denied: Bad value for apikey"),
        Some(_) => {}
    }
    match s.faults.front().cloned() {
        Some(DolFault::Status(code)) => {
            s.faults.pop_front();
            return error(code, "Injected failure");
        }
        Some(DolFault::StatusOnPost(p, code)) if *method == Method::POST && rest.ends_with(&p) => {
            s.faults.pop_front();
            return error(code, "Injected failure");
        }
        _ => {}
    }
    let q = query_map(uri);
    let filter = match q.get("sqlfilters").filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => match parse_filter(f) {
            Ok(e) => Some(e),
            Err(m) => {
                return error(
                    400,
                    &format!("Error when validating parameter sqlfilters -> {m}"),
                )
            }
        },
    };
    let jbody: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    let m = method.as_str();
    match (m, seg.as_slice()) {
        ("GET", ["users", "info"]) => ok(json!({"id": "1", "login": "relance", "admin": "0"})),
        ("GET", ["invoices"]) => {
            let want = q.get("status").map(String::as_str);
            let mut rows = Vec::new();
            for i in s.invoices.values() {
                let ok_status = match want {
                    Some("draft") => i.status == 0,
                    Some("unpaid") => i.status == 1,
                    Some("paid") => i.status == 2,
                    Some("cancelled") => i.status == 3,
                    _ => true,
                };
                let mut cols = Map::new();
                cols.insert("t.rowid".into(), json!(i.id));
                cols.insert(
                    "t.tms".into(),
                    json!(s
                        .local(i.tms)
                        .format("%Y%m%d%H%M%S")
                        .to_string()
                        .parse::<i64>()
                        .unwrap_or(0)),
                );
                cols.insert("t.fk_statut".into(), json!(i.status));
                cols.insert("t.type".into(), json!(i.ty));
                cols.insert("t.ref".into(), json!(i.r#ref));
                if !ok_status
                    || filter
                        .as_ref()
                        .is_some_and(|f| !eval(f, &|c| cols.get(c).cloned()))
                {
                    continue;
                }
                rows.push((cols, i.id));
            }
            answer_list(s, rows, &q, "No invoice found", |s, id| {
                s.invoices
                    .get(id)
                    .map(|i| s.invoice_json(i))
                    .unwrap_or_default()
            })
        }
        ("GET", ["invoices", id]) => {
            match id.parse::<i64>().ok().and_then(|i| s.invoices.get(&i)) {
                Some(i) => ok(s.invoice_json(i)),
                None => error(404, "Invoice not found"),
            }
        }
        ("PUT", ["invoices", id]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| s.invoices.contains_key(i))
            else {
                return error(404, "Invoice not found");
            };
            s.clock += 1;
            let t = s.clock;
            if let Some(i) = s.invoices.get_mut(&id) {
                if let Some(o) = jbody.get("array_options").and_then(Value::as_object) {
                    for (k, v) in o {
                        i.options.insert(k.clone(), v.clone());
                    }
                }
                i.tms = t;
            }
            let i = s.invoices.get(&id).cloned();
            ok(i.map(|i| s.invoice_json(&i)).unwrap_or_default())
        }
        ("GET", ["invoices", id, "payments"]) => match id
            .parse::<i64>()
            .ok()
            .filter(|i| s.invoices.contains_key(i))
        {
            Some(i) => ok(Value::Array(
                s.payments.get(&i).cloned().unwrap_or_default(),
            )),
            None => error(404, "Invoice not found"),
        },
        ("POST", ["invoices", "paymentsdistributed"]) => {
            let Some(amounts) = jbody
                .get("arrayofamounts")
                .and_then(Value::as_object)
                .cloned()
            else {
                return error(400, "Invoice ID is mandatory. Fill the invoice id and amount into arrayofamounts parameter.");
            };
            if jbody.get("accountid").is_none() {
                return error(400, "Account ID is mandatory");
            }
            if jbody.get("paymentid").is_none() {
                return error(400, "Payment ID or Payment Code is mandatory");
            }
            let num = jbody
                .get("num_payment")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let close = jbody.get("closepaidinvoices").and_then(Value::as_str) == Some("yes");
            for (id, a) in amounts {
                let Some(id) = id
                    .parse::<i64>()
                    .ok()
                    .filter(|i| s.invoices.contains_key(i))
                else {
                    return error(404, &format!("Invoice ID {id} not found"));
                };
                let amount = a["amount"]
                    .as_str()
                    .and_then(|x| x.parse::<Decimal>().ok())
                    .unwrap_or_default();
                s.add_payment(id, amount, &num, close);
            }
            let pid = s.id();
            ok(json!(pid))
        }
        ("GET", ["thirdparties"]) => {
            let mut rows = Vec::new();
            for (id, (v, t)) in &s.thirdparties {
                let mut cols = Map::new();
                cols.insert("t.rowid".into(), json!(id));
                cols.insert(
                    "t.tms".into(),
                    json!(s
                        .local(*t)
                        .format("%Y%m%d%H%M%S")
                        .to_string()
                        .parse::<i64>()
                        .unwrap_or(0)),
                );
                cols.insert("t.client".into(), json!(1));
                if filter
                    .as_ref()
                    .is_some_and(|f| !eval(f, &|c| cols.get(c).cloned()))
                {
                    continue;
                }
                let mut v = v.clone();
                v["date_modification"] = json!(EPOCH + t);
                rows.push((cols, v));
            }
            answer_list(s, rows, &q, "No thirdparty found", |_, v| v.clone())
        }
        ("GET", ["agendaevents"]) => {
            let mut rows = Vec::new();
            for (id, e) in &s.events {
                let mut cols = Map::new();
                cols.insert("t.id".into(), json!(id));
                cols.insert("t.label".into(), e["label"].clone());
                cols.insert("t.note".into(), e["note"].clone());
                if filter
                    .as_ref()
                    .is_some_and(|f| !eval(f, &|c| cols.get(c).cloned()))
                {
                    continue;
                }
                rows.push((cols, e.clone()));
            }
            answer_list(s, rows, &q, "No Agenda Event found", |_, v| v.clone())
        }
        ("POST", ["agendaevents"]) => {
            for f in ["userownerid", "type_code"] {
                if jbody.get(f).is_none_or(Value::is_null) {
                    return error(400, &format!("{f} field missing"));
                }
            }
            let id = s.id();
            let mut e = jbody.clone();
            e["id"] = json!(id.to_string());
            s.events.insert(id, e);
            ok(json!(id))
        }
        _ => error(404, "Not Found"),
    }
}
