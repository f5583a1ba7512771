//! The shared HTTP layer against a fake server that counts requests: the per-host limit holds
//! for every request (not once per source and cycle), for every connector sharing the host,
//! and a 429's Retry-After holds the host. The bounds checked are lower bounds on elapsed time
//! (a slow machine only makes them easier), never speed.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_connectors::contract::Source;
use relance_connectors::http::HttpLayer;
use relance_connectors::systems::tryton::{TrytonConfig, TrytonConnector};
use relance_testkit::tryton_fake::{FakeFault, FakeTryton};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "http-layer-Pa55";

fn connector(
    fake: &FakeTryton,
    pw: &tempfile::NamedTempFile,
    http: &Arc<HttpLayer>,
) -> TrytonConnector {
    let mut cfg = TrytonConfig::new(fake.url(), "fake", "admin", pw.path());
    cfg.page_size = 5;
    cfg.overlap_seconds = 0;
    TrytonConnector::with_http(cfg, http.clone()).unwrap()
}

async fn drain(c: &mut TrytonConnector) -> usize {
    let mut cursor = None;
    let mut n = 0;
    for _ in 0..1000 {
        let page = c.pull(cursor.as_ref()).await.unwrap();
        n += page.records.len();
        cursor = page.next;
        if !page.has_more {
            return n;
        }
    }
    panic!("pull never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_to_a_host_takes_its_quota_across_connectors() {
    let fake = FakeTryton::start(PASSWORD).await.unwrap();
    fake.seed(7, 23);
    let mut pw = tempfile::NamedTempFile::new().unwrap();
    writeln!(pw, "{PASSWORD}").unwrap();
    let http = Arc::new(HttpLayer::new().unwrap());
    const RATE: u32 = 5;
    // Configured with the host as `host:port`, looked up from the connector's URL.
    let url = url_of(&fake);
    http.configure([(url.trim_start_matches("http://").to_owned(), RATE)]);
    assert_eq!(http.rate(&url), Some(RATE));
    // Two companies on the same server, pulling at once.
    let (mut a, mut b) = (connector(&fake, &pw, &http), connector(&fake, &pw, &http));
    let (na, nb) = tokio::join!(drain(&mut a), drain(&mut b));
    assert_eq!((na, nb), (30, 30));
    let arrivals = fake.arrivals();
    let n = arrivals.len();
    assert!(
        n > 2 * RATE as usize,
        "{n} requests: too few to see the limit"
    );
    let elapsed = *arrivals.last().unwrap() - arrivals[0];
    // One burst of RATE, then one request per 1/RATE s: N requests need (N - RATE)/RATE s.
    let floor = Duration::from_secs_f64((n - RATE as usize) as f64 / f64::from(RATE) * 0.9);
    assert!(
        elapsed >= floor,
        "{n} requests in {elapsed:?}: the limit of {RATE}/s allows no less than {floor:?}"
    );
    // And in any window of one second, at most RATE + RATE requests arrived.
    for (i, t) in arrivals.iter().enumerate() {
        let in_window = arrivals[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 2 * RATE as usize,
            "{in_window} requests within 1 s"
        );
    }
}

fn url_of(fake: &FakeTryton) -> String {
    fake.url().trim_end_matches('/').to_owned()
}

#[tokio::test]
async fn a_429_with_retry_after_holds_the_host() {
    let fake = FakeTryton::start(PASSWORD).await.unwrap();
    fake.seed(2, 2);
    let mut pw = tempfile::NamedTempFile::new().unwrap();
    writeln!(pw, "{PASSWORD}").unwrap();
    let http = Arc::new(HttpLayer::new().unwrap());
    let mut c = connector(&fake, &pw, &http);
    c.check().await.unwrap();
    fake.fail_next(FakeFault::RateLimited(2));
    let e = c.pull(None).await.unwrap_err();
    match &e {
        relance_connectors::ConnectorError::Transient { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(2)), "{e}")
        }
        other => panic!("429 gave {other:?}"),
    }
    let before = fake.arrivals().len();
    // Another connector on the same host waits too.
    let mut other = connector(&fake, &pw, &http);
    drain(&mut other).await;
    let arrivals = fake.arrivals();
    let gap = arrivals[before] - arrivals[before - 1];
    assert!(
        gap >= Duration::from_millis(1900),
        "next request {gap:?} after the 429"
    );
}
