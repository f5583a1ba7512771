//! Pull throughput of the Pennylane, Odoo and Dolibarr connectors against their fakes, each
//! beside a bare HTTP loop making the same kind of requests (same endpoints, page size and
//! paging) and only parsing the JSON, in the same run: the difference is what the connector
//! adds (decoding, records, cursors, the HTTP layer).
//!
//! ```text
//! cargo bench -p relance-connectors --bench systems_pull            # 10 000 invoices each
//! RELANCE_BENCH_INVOICES=2000 cargo bench -p relance-connectors --bench systems_pull
//! ```

use relance_connectors::contract::{Record, Source};
use relance_connectors::systems::dolibarr::{DolibarrConfig, DolibarrConnector};
use relance_connectors::systems::odoo::{OdooConfig, OdooConnector};
use relance_connectors::systems::pennylane::{PennylaneConfig, PennylaneConnector};
use relance_testkit::dolibarr_fake::FakeDolibarr;
use relance_testkit::odoo_fake::{FakeOdoo, Switches};
use relance_testkit::pennylane_fake::FakePennylane;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

const KEY: &str = "bench-credential";

fn secret_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(f, "{KEY}").expect("write");
    f
}

async fn drain<S: Source>(c: &mut S) -> usize {
    let mut cursor = None;
    let mut n = 0;
    loop {
        let p = c.pull(cursor.as_ref()).await.expect("pull");
        n += p
            .records
            .iter()
            .filter(|r| matches!(r, Record::Invoice(_)))
            .count();
        cursor = p.next;
        if !p.has_more {
            return n;
        }
    }
}

struct Line {
    system: &'static str,
    invoices: usize,
    connector: Duration,
    requests_connector: usize,
    bare: Duration,
    requests_bare: usize,
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn pennylane(n: usize, page: u32) -> Line {
    let fake = FakePennylane::start(KEY).await.expect("fake");
    fake.set_rate_limit(None);
    fake.seed(100, n);
    let file = secret_file();
    let mut cfg = PennylaneConfig::new(fake.url(), file.path());
    cfg.page_size = page;
    cfg.requests_per_window = 0;
    let mut c = PennylaneConnector::new(cfg).expect("connector");
    let before = fake.arrivals().len();
    let t = Instant::now();
    let got = drain(&mut c).await;
    let connector = t.elapsed();
    let requests_connector = fake.arrivals().len() - before;
    assert_eq!(got, n);
    // bare: the same lists, cursor by cursor, JSON parsed and counted
    let http = reqwest::Client::new();
    let before = fake.arrivals().len();
    let t = Instant::now();
    let mut count = 0;
    for path in ["/customers", "/customer_invoices"] {
        let mut cursor: Option<String> = None;
        loop {
            let mut q = vec![("limit", page.to_string()), ("sort", "id".to_owned())];
            if path == "/customer_invoices" {
                q.push((
                    "filter",
                    json!([{"field": "draft", "operator": "eq", "value": false}]).to_string(),
                ));
            }
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let v: Value = http
                .get(format!("{}{path}", fake.url()))
                .bearer_auth(KEY)
                .query(&q)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if path == "/customer_invoices" {
                count += v["items"].as_array().map_or(0, Vec::len);
            }
            cursor = v["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
    }
    let bare = t.elapsed();
    assert_eq!(count, n);
    Line {
        system: "pennylane",
        invoices: n,
        connector,
        requests_connector,
        bare,
        requests_bare: fake.arrivals().len() - before,
    }
}

async fn odoo(n: usize, page: u32) -> Line {
    let fake = FakeOdoo::start(KEY, Switches::community(17))
        .await
        .expect("fake");
    fake.seed(100, n);
    let file = secret_file();
    let mut cfg = OdooConfig::new(fake.url(), "fake", "relance", file.path());
    cfg.page_size = page;
    cfg.requests_per_second = 0;
    cfg.company_id = Some(1);
    let mut c = OdooConnector::new(cfg).expect("connector");
    let before = fake.arrivals().len();
    let t = Instant::now();
    let got = drain(&mut c).await;
    let connector = t.elapsed();
    let requests_connector = fake.arrivals().len() - before;
    assert_eq!(got, n);
    // bare: authenticate, then search_read pages of partners and moves plus each page's
    // receivable lines, as execute_kw over JSON-RPC
    let http = reqwest::Client::new();
    let url = format!("{}/jsonrpc", fake.url());
    let call = |args: Value| json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": args});
    let before = fake.arrivals().len();
    let t = Instant::now();
    let uid: Value = http
        .post(&url)
        .json(&call(json!({"service": "common", "method": "authenticate", "args": ["fake", "relance", KEY, {}]})))
        .send()
        .await
        .expect("auth")
        .json()
        .await
        .expect("json");
    let uid = uid["result"].clone();
    let mut count = 0;
    for (model, domain, fields) in [
        (
            "res.partner",
            json!([["parent_id", "=", false]]),
            json!(["name", "company_registry", "write_date"]),
        ),
        (
            "account.move",
            json!([
                ["move_type", "in", ["out_invoice", "out_refund"]],
                ["state", "in", ["posted", "cancel"]]
            ]),
            json!([
                "name",
                "partner_id",
                "amount_total",
                "amount_residual",
                "currency_id",
                "payment_state",
                "write_date"
            ]),
        ),
    ] {
        let mut offset = 0;
        loop {
            let v: Value = http
                .post(&url)
                .json(&call(json!({"service": "object", "method": "execute_kw", "args": ["fake", uid, KEY, model, "search_read", [],
                    {"domain": domain, "fields": fields, "offset": offset, "limit": page, "order": "write_date asc, id asc"}]})))
                .send()
                .await
                .expect("post")
                .json()
                .await
                .expect("json");
            let rows = v["result"].as_array().cloned().unwrap_or_default();
            if model == "account.move" {
                count += rows.len();
                let ids: Vec<Value> = rows.iter().map(|r| r["id"].clone()).collect();
                let _: Value = http
                    .post(&url)
                    .json(&call(json!({"service": "object", "method": "execute_kw", "args": ["fake", uid, KEY, "account.move.line", "search_read", [],
                        {"domain": [["move_id", "in", ids], ["account_type", "=", "asset_receivable"]], "fields": ["move_id", "date_maturity", "amount_currency"]}]})))
                    .send()
                    .await
                    .expect("post")
                    .json()
                    .await
                    .expect("json");
            }
            offset += rows.len();
            if rows.len() < page as usize {
                break;
            }
        }
    }
    let bare = t.elapsed();
    assert_eq!(count, n);
    Line {
        system: "odoo (JSON-RPC)",
        invoices: n,
        connector,
        requests_connector,
        bare,
        requests_bare: fake.arrivals().len() - before,
    }
}

async fn dolibarr(n: usize, page: u32) -> Line {
    let fake = FakeDolibarr::start(KEY, false).await.expect("fake");
    let cs: Vec<i64> = (0..100)
        .map(|i| fake.add_thirdparty(&format!("Client {i}"), None))
        .collect();
    for i in 0..n {
        if i % 50 == 49 {
            fake.tick(1);
        }
        fake.add_invoice(
            cs[i % cs.len()],
            &format!("FA-{i:06}"),
            "2026-09-01",
            Decimal::new(10000, 2),
            0,
        );
    }
    let file = secret_file();
    let mut cfg = DolibarrConfig::new(fake.url(), file.path());
    cfg.page_size = page;
    cfg.requests_per_second = 0;
    cfg.server_utc_offset_minutes = 60;
    let mut c = DolibarrConnector::new(cfg).expect("connector");
    let before = fake.arrivals().len();
    let t = Instant::now();
    let got = drain(&mut c).await;
    let connector = t.elapsed();
    let requests_connector = fake.arrivals().len() - before;
    assert_eq!(got, n);
    let http = reqwest::Client::new();
    let before = fake.arrivals().len();
    let t = Instant::now();
    let mut count = 0;
    for path in ["/thirdparties", "/invoices"] {
        let mut p = 0;
        loop {
            let v: Value = http
                .get(format!("{}{path}", fake.url()))
                .header("DOLAPIKEY", KEY)
                .query(&[
                    ("limit", page.to_string()),
                    ("page", p.to_string()),
                    ("sortfield", "t.rowid".into()),
                    ("sortorder", "ASC".into()),
                ])
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            let rows = v.as_array().map_or(0, Vec::len);
            if path == "/invoices" {
                count += rows;
            }
            p += 1;
            if rows < page as usize {
                break;
            }
        }
    }
    let bare = t.elapsed();
    assert_eq!(count, n);
    Line {
        system: "dolibarr",
        invoices: n,
        connector,
        requests_connector,
        bare,
        requests_bare: fake.arrivals().len() - before,
    }
}

fn main() {
    let n: usize = std::env::var("RELANCE_BENCH_INVOICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lines = rt.block_on(async {
        vec![
            pennylane(n, 100).await,
            odoo(n, 200).await,
            dolibarr(n, 100).await,
        ]
    });
    println!("pull of {n} invoices from each fake (127.0.0.1), connector beside a bare HTTP loop of the same requests:");
    println!(
        "{:<16} {:>9} {:>10} {:>12} {:>9} {:>10} {:>12} {:>9} {:>7}",
        "system",
        "invoices",
        "conn s",
        "conn inv/s",
        "conn req",
        "bare s",
        "bare inv/s",
        "bare req",
        "ratio"
    );
    for l in &lines {
        println!(
            "{:<16} {:>9} {:>10.3} {:>12.0} {:>9} {:>10.3} {:>12.0} {:>9} {:>7.2}",
            l.system,
            l.invoices,
            l.connector.as_secs_f64(),
            rate(l.invoices, l.connector),
            l.requests_connector,
            l.bare.as_secs_f64(),
            rate(l.invoices, l.bare),
            l.requests_bare,
            l.connector.as_secs_f64() / l.bare.as_secs_f64()
        );
    }
}
