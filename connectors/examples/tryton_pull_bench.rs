//! Pull throughput of the Tryton connector: drains a database from the start and prints
//! records per second. Driven by `tests/tryton/bench.sh` (reads the `RELANCE_TRYTON_*`
//! variables of `tests/tryton/server.sh env`; `BENCH_DB` overrides the database, `BENCH_PAGE`
//! the page size).

use relance_connectors::contract::{Record, Source};
use relance_connectors::systems::tryton::{TrytonConfig, TrytonConnector};
use std::time::Instant;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (eval \"$(bash tests/tryton/server.sh env)\")"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let db = std::env::var("BENCH_DB").or_else(|_| var("RELANCE_TRYTON_DB"))?;
    let mut cfg = TrytonConfig::new(
        var("RELANCE_TRYTON_URL")?,
        db,
        var("RELANCE_TRYTON_USER")?,
        var("RELANCE_TRYTON_PASSWORD_FILE")?,
    );
    cfg.page_size = std::env::var("BENCH_PAGE")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(500);
    cfg.requests_per_second = 0;
    let page_size = cfg.page_size;
    let mut c = TrytonConnector::new(cfg).map_err(|e| e.to_string())?;
    c.check().await.map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (mut invoices, mut others, mut pages) = (0usize, 0usize, 0usize);
    let mut cursor = None;
    loop {
        let page = c.pull(cursor.as_ref()).await.map_err(|e| e.to_string())?;
        pages += 1;
        for r in &page.records {
            match r {
                Record::Invoice(_) => invoices += 1,
                _ => others += 1,
            }
        }
        cursor = page.next;
        if !page.has_more {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "relance connector: {invoices} invoices + {others} other records in {pages} pages of <= {page_size}, {secs:.2} s, {:.0} invoices/s",
        invoices as f64 / secs.max(1e-9)
    );
    Ok(())
}
