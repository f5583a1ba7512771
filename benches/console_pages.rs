//! Server time and weight of every console page on one company with 100,000 invoices: each
//! page asked through the console's router in the process (no network), with a session, the
//! first request (which computes the page's derived queries) timed apart from the next ones
//! (served from the read model and the per-generation cache). Beside them, the floor of the
//! same run: the embedded stylesheet, served by the same router without any read.
//!
//! Run: `cargo bench --bench console_pages` (sizes: `RELANCE_LOAD_INVOICES` (100000),
//! `RELANCE_CONSOLE_REQUESTS` per page (200)). Goal: p95 < 100 ms, pages < 300 KB.

#[path = "load_data/mod.rs"]
mod load_data;

use chrono::NaiveDate;
use http_body_util::BodyExt as _;
use load_data::{env_or, setup};
use relance::api::{hub::Hub, ApiState};
use relance::clock::Clock;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

const PAGES: &[&str] = &[
    "/assets/console.css",
    "/",
    "/c/load",
    "/c/load/queue",
    "/c/load/customers",
    "/c/load/customers/C00001",
    "/c/load/approvals",
    "/c/load/worklist",
    "/c/load/next-run",
    "/c/load/closing",
    "/c/load/connectors",
    "/c/load/audit",
];

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n = env_or("RELANCE_LOAD_INVOICES", 100_000) as u64;
    let per = env_or("RELANCE_CONSOLE_REQUESTS", 200);
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
        relance::auth::add_user(
            store.as_ref(),
            "bench",
            "a long enough password",
            vec![relance::auth::Grant {
                company: None,
                role: relance::auth::Role::Admin,
            }],
            clock.now(),
        )
        .expect("user");
        let (cookie, _) = relance::auth::open_session(
            store.as_ref(),
            "bench",
            clock.now(),
            chrono::Duration::hours(1),
        )
        .expect("session");
        let cookie = format!("relance_session={cookie}");
        let app = relance::api::router(state);
        let get = |path: &'static str| {
            let app = app.clone();
            let cookie = cookie.clone();
            async move {
                let req = axum::http::Request::get(path)
                    .header("cookie", cookie)
                    .body(axum::body::Body::empty())
                    .expect("request");
                let t = Instant::now();
                let resp = app.oneshot(req).await.expect("answer");
                let status = resp.status().as_u16();
                let bytes = resp.into_body().collect().await.expect("body").to_bytes();
                (t.elapsed(), status, bytes.len())
            }
        };
        // The read model is built once, as the daemon does at its first request.
        let t = Instant::now();
        let (_, status, _) = get("/c/load").await;
        assert_eq!(status, 200);
        eprintln!(
            "read model build and first home page: {:.0} ms",
            ms(t.elapsed())
        );
        println!(
            "{:<28} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "page", "first ms", "p50 ms", "p95 ms", "max ms", "bytes"
        );
        let mut worst = Duration::ZERO;
        let mut heaviest = 0;
        for path in PAGES {
            let (first, status, _) = get(path).await;
            assert_eq!(status, 200, "{path}");
            let mut times = Vec::with_capacity(per);
            let mut size = 0;
            for _ in 0..per {
                let (d, status, n) = get(path).await;
                assert_eq!(status, 200, "{path}");
                times.push(d);
                size = n;
            }
            times.sort();
            let p95 = pct(&times, 0.95);
            if !path.starts_with("/assets") {
                worst = worst.max(p95);
                heaviest = heaviest.max(size);
            }
            println!(
                "{:<28} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>10}",
                path,
                ms(first),
                ms(pct(&times, 0.5)),
                ms(p95),
                ms(*times.last().unwrap_or(&Duration::ZERO)),
                size
            );
        }
        println!(
            "worst p95 {:.2} ms (goal < 100 ms), heaviest page {} bytes (goal < 300 KB)",
            ms(worst),
            heaviest
        );
    });
}
