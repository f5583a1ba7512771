//! Operator API under load: 100 concurrent sessions reading and deciding on one company with
//! 100,000 invoices, over HTTP on 127.0.0.1 (the API's own listener code, each session on its
//! own keep-alive connection). Prints p50/p99/max latency per endpoint, beside the floor of the
//! same run: the static OpenAPI document, served by the same listener without a store read.
//!
//! Run: `cargo bench --bench api_load` (sizes: `RELANCE_LOAD_INVOICES` (100000),
//! `RELANCE_LOAD_SESSIONS` (100), `RELANCE_LOAD_REQUESTS` per session (100)). Bounded: every
//! session makes its requests and stops; the whole run stops after 10 minutes at most.
//!
//! `RELANCE_LOAD_THINK_MS` (0) is the pause of a session between two requests: 0 is a closed
//! loop (each session asks again as soon as it is answered: the server saturated, latency is
//! mostly queueing behind the other 99); a pause models people reading what they asked for
//! (the sessions start spread over one pause).

use chrono::NaiveDate;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use relance::api::{hub::Hub, ApiState};
use relance::clock::Clock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "load_data/mod.rs"]
mod load_data;
use load_data::{env_or, setup, CUSTOMERS};

/// One request of a session: its name in the table, method, path, body, extra headers.
type Step = (
    &'static str,
    &'static str,
    String,
    Option<String>,
    Vec<(&'static str, String)>,
);

struct Conn {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Conn { send }
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Result<(u16, usize), String> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        self.send.ready().await.map_err(|e| e.to_string())?;
        let resp = self
            .send
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let n = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes()
            .len();
        Ok((status, n))
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let n = env_or("RELANCE_LOAD_INVOICES", 100_000) as u64;
    let sessions = env_or("RELANCE_LOAD_SESSIONS", 100);
    let per = env_or("RELANCE_LOAD_REQUESTS", 100);
    let think = Duration::from_millis(env_or("RELANCE_LOAD_THINK_MS", 0) as u64);
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    let (store, config) = setup(dir.path(), n);
    eprintln!("setup took {:.1} s", t.elapsed().as_secs_f64());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let clock = Clock::fixed_date(NaiveDate::from_ymd_opt(2026, 6, 30).expect("date"));
        let hub = Arc::new(Hub::default());
        // The company runs here (as in the daemon): its view is rebuilt after its cycles only.
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let company = config.companies[0].clone();
        hub.attach(&company.id, tx);
        let state = ApiState::new(
            store.clone(),
            clock.clone(),
            hub,
            &config.companies,
            Arc::new(relance::pipeline::Pipeline::load(None).expect("assets")),
            (dir.path().join("cfg"), dir.path().join("state")),
            Duration::from_secs(3600),
        );
        let now = clock.now();
        relance::auth::add_user(
            store.as_ref(),
            "load",
            "a long enough password",
            vec![relance::auth::Grant {
                company: Some(company.id.clone()),
                role: relance::auth::Role::Collector,
            }],
            now,
        )
        .expect("user");
        let mut cookies = Vec::new();
        for _ in 0..sessions {
            let (c, s) = relance::auth::open_session(store.as_ref(), "load", now, chrono::Duration::hours(2))
                .expect("session");
            cookies.push((format!("relance_session={c}"), s.csrf));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(relance::api::serve::serve_tcp(
            listener,
            relance::api::router(state),
            None,
            async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            },
        ));
        // Warm-up: the first request builds the read model.
        let t = Instant::now();
        let mut warm = Conn::open(addr).await;
        let (st, _) = warm
            .call("GET", "/api/v1/companies/load", &[("cookie", cookies[0].0.clone())], None)
            .await
            .expect("warm-up");
        assert_eq!(st, 200);
        eprintln!("read model built in {:.2} s", t.elapsed().as_secs_f64());

        let started = Instant::now();
        let mut tasks = Vec::new();
        let run = started;
        for (sn, (cookie, csrf)) in cookies.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                let mut out: Vec<(&'static str, Duration, u16)> = Vec::new();
                if !think.is_zero() {
                    tokio::time::sleep(think * sn as u32 / sessions as u32).await;
                }
                for i in 0..per {
                    if i > 0 && !think.is_zero() {
                        tokio::time::sleep(think).await;
                    }
                    let k = (sn * 7919 + i * 104_729) as u64;
                    let customer = format!("C{:05}", k % CUSTOMERS);
                    let h = vec![("cookie", cookie.clone())];
                    let (name, method, path, body, extra): Step = match i % 10 {
                        0 => ("GET /companies/{c}", "GET", "/api/v1/companies/load".into(), None, vec![]),
                        1 => ("GET /receivables (overdue page)", "GET", format!("/api/v1/companies/load/receivables?status=open&overdue_min=30&offset={}&limit=50", k % 2000), None, vec![]),
                        2 => ("GET /receivables?customer", "GET", format!("/api/v1/companies/load/receivables?customer={customer}"), None, vec![]),
                        3 => ("GET /aged-balance?as_of", "GET", format!("/api/v1/companies/load/aged-balance?as_of=2026-0{}-15", 1 + k % 6), None, vec![]),
                        4 => ("GET /exceptions", "GET", "/api/v1/companies/load/exceptions?limit=50".into(), None, vec![]),
                        5 => ("GET /customers?q", "GET", format!("/api/v1/companies/load/customers?q={}&limit=20", &customer[..4]), None, vec![]),
                        6 => ("GET /customers/{id}/timeline", "GET", format!("/api/v1/companies/load/customers/{customer}/timeline"), None, vec![]),
                        7 => ("POST /decisions", "POST", "/api/v1/companies/load/decisions".into(),
                              Some(serde_json::json!({"type": "promise_to_pay", "customer": customer, "date": "2026-07-15", "amount": "100.00"}).to_string()),
                              vec![("x-csrf-token", csrf.clone()), ("idempotency-key", format!("load-{sn}-{i}"))]),
                        8 => ("GET /decisions", "GET", "/api/v1/companies/load/decisions?limit=20".into(), None, vec![]),
                        _ => ("GET /openapi.json (floor)", "GET", "/api/v1/openapi.json".into(), None, vec![]),
                    };
                    let mut headers = h;
                    headers.extend(extra);
                    let t = Instant::now();
                    match conn.call(method, &path, &headers, body).await {
                        Ok((status, _)) => out.push((name, t.elapsed(), status)),
                        Err(e) => {
                            // A connection the server closed: counted (status 0), and the
                            // session goes on with a new one.
                            eprintln!("{name}: {e} after {:.1} s (session {sn}, request {i}, {:.1} s into the run)", t.elapsed().as_secs_f64(), run.elapsed().as_secs_f64());
                            out.push((name, t.elapsed(), 0));
                            conn = Conn::open(addr).await;
                        }
                    }
                }
                out
            }));
        }
        let mut all: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
        let mut bad: BTreeMap<(&'static str, u16), usize> = BTreeMap::new();
        let collect = async {
            for t in tasks {
                for (name, d, status) in t.await.expect("session task") {
                    if !(200..300).contains(&status) {
                        *bad.entry((name, status)).or_default() += 1;
                    }
                    all.entry(name).or_default().push(d);
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(600), collect).await.is_err() {
            eprintln!("stopped at the 10-minute bound");
        }
        let wall = started.elapsed();
        let total: usize = all.values().map(Vec::len).sum();
        println!(
            "api_load: {n} invoices, {sessions} concurrent sessions × {per} requests = {total} requests in {:.1} s ({:.0} req/s), {} ms between a session's requests",
            wall.as_secs_f64(),
            total as f64 / wall.as_secs_f64(),
            think.as_millis()
        );
        println!("{:<36} {:>7} {:>10} {:>10} {:>10}", "endpoint", "n", "p50 ms", "p99 ms", "max ms");
        for (name, mut v) in all {
            v.sort();
            println!(
                "{:<36} {:>7} {:>10.2} {:>10.2} {:>10.2}",
                name,
                v.len(),
                pct(&v, 0.50).as_secs_f64() * 1e3,
                pct(&v, 0.99).as_secs_f64() * 1e3,
                v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
            );
        }
        if !bad.is_empty() {
            println!("non-2xx answers: {bad:?}");
        }
        let _ = stop_tx.send(true);
        let _ = server.await;
    });
}
