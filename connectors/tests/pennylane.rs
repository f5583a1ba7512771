//! Pennylane connector against the fake Company API v2 (`relance_testkit::pennylane_fake`):
//! the compliance suite, full and incremental pulls checked against the fake's own state, the
//! changelogs' 4-week retention, a token rotated mid-pull, a 429 mid-pull, the per-token
//! quota counted by the fake, webhooks (signature, duplicates), and write-backs applied once.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_connectors::contract::{
    CommandLog, IdempotencyKey, MemoryCommandLog, Record, Source, WriteBack, WriteCommand,
};
use relance_connectors::http::HttpLayer;
use relance_connectors::systems::pennylane::webhook::{self, WebhookHub};
use relance_connectors::systems::pennylane::{
    Matching, PennylaneConfig, PennylaneConnector, PennylaneWriteOptions,
};
use relance_connectors::ConnectorError;
use relance_testkit::compliance::{self, Fault, SourceHarness, WriteBackHarness};
use relance_testkit::pennylane_fake::{FakePennylane, PlFault};
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "pl-company-token-never-shown-0001";

fn token_file(t: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{t}").unwrap();
    f
}

fn config(fake: &FakePennylane, file: &tempfile::NamedTempFile, page: u32) -> PennylaneConfig {
    let mut c = PennylaneConfig::new(fake.url(), file.path());
    c.page_size = page;
    c.pull_transactions = true;
    // the client's own quota is the subject of one test only
    c.requests_per_window = 0;
    c
}

use compliance::ids_of as ids;

use relance_testkit::drain;

fn open_sum(records: &[Record]) -> (usize, Decimal) {
    let mut n = 0;
    let mut sum = Decimal::ZERO;
    for r in records {
        if let Record::Invoice(i) = r {
            n += 1;
            sum += i.amount_due;
        }
    }
    (n, sum)
}

// ----------------------------------------------------------------------------- compliance

struct Harness {
    fake: FakePennylane,
    good: tempfile::NamedTempFile,
    bad: tempfile::NamedTempFile,
    log: Arc<MemoryCommandLog>,
    page: u32,
    tx: i64,
    invoice: i64,
    customer: i64,
}

impl Harness {
    async fn new() -> Self {
        let fake = FakePennylane::start(TOKEN).await.unwrap();
        fake.set_rate_limit(None);
        fake.seed(6, 17);
        let customer = fake.add_customer("Deco Addict", Some("732829320"));
        let invoice = fake.add_invoice(
            customer,
            "F2026-09999",
            "2026-10-01",
            "2026-10-31",
            Decimal::new(50000, 2),
            "EUR",
            Decimal::ONE,
        );
        let tx = fake.add_transaction(
            Decimal::new(60000, 2),
            "VIR DECO ADDICT F2026-09999",
            "2026-11-10",
        );
        Harness {
            fake,
            good: token_file(TOKEN),
            bad: token_file("not-the-token"),
            log: Arc::new(MemoryCommandLog::default()),
            page: 5,
            tx,
            invoice,
            customer,
        }
    }

    fn connector(
        &self,
        file: &tempfile::NamedTempFile,
    ) -> Result<PennylaneConnector, ConnectorError> {
        let opts = PennylaneWriteOptions {
            matching: Matching::Relance,
            dispute_category_id: Some(77),
        };
        Ok(
            PennylaneConnector::new(config(&self.fake, file, self.page))?
                .with_writeback(opts, self.log.clone() as Arc<dyn CommandLog>),
        )
    }

    fn fault(&self, f: Fault) -> bool {
        self.fake.fail_next(match f {
            Fault::SessionExpired => PlFault::Status(401),
            Fault::ServerError => PlFault::Status(503),
            Fault::RateLimited => PlFault::RateLimited(1),
            Fault::BusinessRule => PlFault::Status(422),
        });
        true
    }
}

impl SourceHarness for Harness {
    type Source = PennylaneConnector;
    async fn source(&self) -> Result<PennylaneConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn source_with_bad_credentials(
        &self,
    ) -> Option<Result<PennylaneConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![TOKEN.to_owned()]
    }
    fn max_page(&self) -> usize {
        // an invoice may come with its lifecycle status
        2 * self.page as usize
    }
    fn min_records(&self) -> usize {
        7 + 18 + 1
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

impl WriteBackHarness for Harness {
    type Target = PennylaneConnector;
    async fn target(&self) -> Result<PennylaneConnector, ConnectorError> {
        self.connector(&self.good)
    }
    async fn target_with_bad_credentials(
        &self,
    ) -> Option<Result<PennylaneConnector, ConnectorError>> {
        Some(self.connector(&self.bad))
    }
    fn secrets(&self) -> Vec<String> {
        vec![TOKEN.to_owned()]
    }
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)> {
        let inv = self.invoice.to_string();
        vec![
            (
                IdempotencyKey::derive("acme", "dunning", &[&inv, "2"]),
                WriteCommand::SetDunningLevel {
                    invoice: inv.clone(),
                    level: 2,
                    date: NaiveDate::from_ymd_opt(2026, 11, 16).unwrap(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "note", &[&inv]),
                WriteCommand::AddNote {
                    target_kind: "invoice".into(),
                    target: inv.clone(),
                    text: "Client injoignable".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "note", &["party", &self.customer.to_string()]),
                WriteCommand::AddNote {
                    target_kind: "party".into(),
                    target: self.customer.to_string(),
                    text: "Relance téléphonique".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "dispute", &[&inv]),
                WriteCommand::BlockDunning {
                    invoice: inv.clone(),
                    blocked: true,
                    reason: "Livraison contestée".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "reconcile", &[&self.tx.to_string()]),
                WriteCommand::Reconcile {
                    transaction: format!("pennylane:transaction:{}", self.tx),
                    allocations: vec![(inv, Decimal::new(60000, 2))],
                    date: NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
                },
            ),
        ]
    }
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
        Some((
            IdempotencyKey::derive("acme", "reconcile", &["camt"]),
            WriteCommand::Reconcile {
                transaction: "BQ2611160001".into(),
                allocations: vec![(self.invoice.to_string(), Decimal::ONE)],
                date: NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
            },
        ))
    }
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
        let mark = format!("[relance:{}]", key.as_str());
        let mut n = self
            .fake
            .all_comments()
            .iter()
            .filter(|(_, t)| t.contains(&mark))
            .count();
        let notes = self.fake.customer(self.customer).unwrap()["notes"]
            .as_str()
            .unwrap_or("")
            .matches(&mark)
            .count();
        n += notes;
        if let Some(WriteCommand::Reconcile { .. }) = self.log.command(key).unwrap() {
            n += self
                .fake
                .matches(self.invoice)
                .iter()
                .filter(|t| **t == self.tx)
                .count();
        }
        Ok(n)
    }
    fn inject(&self, f: Fault) -> bool {
        self.fault(f)
    }
}

#[tokio::test]
async fn compliance_suite_against_the_fake() {
    let h = Harness::new().await;
    let report = compliance::suite(&h)
        .await
        .unwrap_or_else(|e| panic!("compliance: {e}"));
    eprintln!("fake Pennylane compliance:\n{report}");
    assert!(report.skipped.is_empty(), "{report}");
    // the dispute category went on the invoice, the match paid it
    let inv = h.fake.invoice(h.invoice).unwrap();
    assert_eq!(inv["categories"][0]["id"], 77);
    assert_eq!(inv["paid"], true);
    // the token only ever travelled in the Authorization header
    assert!(h
        .fake
        .writes()
        .iter()
        .all(|(_, b)| !b.to_string().contains(TOKEN)));
}

// ------------------------------------------------------------------------ pull acceptance

#[tokio::test]
async fn full_pull_equals_the_fakes_totals_and_skips_drafts() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    fake.set_rate_limit(None);
    fake.seed(9, 123);
    let c0 = fake.add_customer("Client USD", None);
    fake.add_invoice(
        c0,
        "F-USD-1",
        "2026-10-02",
        "2026-11-02",
        Decimal::new(100000, 2),
        "USD",
        Decimal::new(92, 2),
    );
    let draft = fake.add_draft(c0);
    let first = fake.invoice_ids()[0];
    fake.pay(first, Decimal::new(5000, 2));
    let file = token_file(TOKEN);
    let mut c = PennylaneConnector::new(config(&fake, &file, 20)).unwrap();
    let (all, _) = drain(&mut c, None).await;
    let (n, total) = fake.totals();
    let got: Vec<&relance_core::Invoice> = all
        .iter()
        .filter_map(|r| match r {
            Record::Invoice(i) => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), n);
    assert!(!got.iter().any(|i| i.id.as_str() == draft.to_string()));
    // the fake's sum is in EUR; relance holds the USD invoice in USD
    let usd = got.iter().find(|i| i.number == "F-USD-1").unwrap();
    assert_eq!(
        (usd.currency.as_str(), usd.amount_due.to_string()),
        ("USD", "1200.00".to_owned())
    );
    let eur_sum: Decimal = got
        .iter()
        .filter(|i| i.currency.as_str() == "EUR")
        .map(|i| i.amount_due)
        .sum();
    assert_eq!(
        eur_sum + Decimal::new(110400, 2),
        total,
        "EUR amounts plus the USD one at 0.92"
    );
    let partial = got
        .iter()
        .find(|i| i.id.as_str() == first.to_string())
        .unwrap();
    assert_eq!(partial.amount_due.to_string(), "70.00");
    let customers = all
        .iter()
        .filter(|r| matches!(r, Record::Customer(_)))
        .count();
    assert_eq!(customers, 10);
}

#[tokio::test]
async fn incremental_pull_picks_exactly_the_changes() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    fake.set_rate_limit(None);
    fake.seed(4, 30);
    let file = token_file(TOKEN);
    let mut c = PennylaneConnector::new(config(&fake, &file, 7)).unwrap();
    let (all, cursor) = drain(&mut c, None).await;
    assert_eq!(open_sum(&all).0, 30);
    // the first changelog read after a full list re-reads the changes stamped at the instant
    // the list started (they may have been made while it ran); then the source is quiet
    let seen: BTreeSet<String> = ids(&all).into_iter().collect();
    let (boundary, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(ids(&boundary).iter().all(|i| seen.contains(i)) && boundary.len() <= 2);
    let (quiet, cursor) = drain(&mut c, Some(cursor)).await;
    assert!(quiet.is_empty(), "quiet source re-read {:?}", ids(&quiet));
    let inv = fake.invoice_ids();
    fake.pay(inv[3], Decimal::new(12000, 2));
    fake.set_einvoicing(inv[5], "refused", Some("Commande inconnue"));
    fake.delete_invoice(inv[7]);
    let cust = fake.add_customer("Nouveau client", Some("552100554"));
    let fresh = fake.add_invoice(
        cust,
        "F2026-NEW",
        "2026-11-15",
        "2026-12-15",
        Decimal::new(1000, 2),
        "EUR",
        Decimal::ONE,
    );
    let (changed, cursor) = drain(&mut c, Some(cursor)).await;
    let got: BTreeSet<String> = ids(&changed).into_iter().collect();
    let want: BTreeSet<String> = [
        format!("customer:{cust}"),
        format!("invoice:{}", inv[3]),
        format!("invoice:{}", inv[5]),
        format!("lifecycle:{}:refused", inv[5]),
        format!("removed:{}", inv[7]),
        format!("invoice:{fresh}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(
        changed.len(),
        want.len(),
        "a change read twice: {:?}",
        ids(&changed)
    );
    let paid = changed.iter().find_map(|r| match r {
        Record::Invoice(i) if i.id.as_str() == inv[3].to_string() => Some(i),
        _ => None,
    });
    assert_eq!(paid.unwrap().status, relance_core::InvoiceStatus::Paid);
    let (again, _) = drain(&mut c, Some(cursor)).await;
    assert!(again.is_empty(), "{:?}", ids(&again));
}

#[tokio::test]
async fn a_position_older_than_the_retention_lists_everything_again() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    fake.set_rate_limit(None);
    fake.seed(2, 9);
    let file = token_file(TOKEN);
    let mut c = PennylaneConnector::new(config(&fake, &file, 50)).unwrap();
    let (_, cursor) = drain(&mut c, None).await;
    fake.tick(29 * 86_400);
    let (again, _) = drain(&mut c, Some(cursor)).await;
    assert_eq!(open_sum(&again).0, 9, "every invoice listed again");
    // a server keeping less than relance assumes refuses the position itself (422): also a
    // full list
    fake.set_retention_days(2);
    let (_, cursor) = drain(&mut c, None).await;
    fake.tick(3 * 86_400);
    let (again, _) = drain(&mut c, Some(cursor)).await;
    assert_eq!(open_sum(&again).0, 9);
}

#[tokio::test]
async fn a_token_rotated_mid_pull_is_read_again_and_nothing_is_lost() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    fake.set_rate_limit(None);
    fake.seed(3, 40);
    let file = token_file(TOKEN);
    let mut c = PennylaneConnector::new(config(&fake, &file, 5)).unwrap();
    let mut cursor = None;
    let mut records = Vec::new();
    for i in 0.. {
        if i == 3 {
            fake.rotate_token("pl-rotated-token-0002");
            std::fs::write(file.path(), "pl-rotated-token-0002\n").unwrap();
        }
        let p = c.pull(cursor.as_ref()).await.unwrap();
        records.extend(p.records);
        cursor = p.next;
        if !p.has_more {
            break;
        }
    }
    assert_eq!(open_sum(&records).0, 40);
    // a token revoked and not replaced: Config, naming no secret
    fake.rotate_token("pl-someone-else");
    let e = c.pull(None).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    assert!(!e.to_string().contains("pl-rotated-token-0002"));
}

#[tokio::test]
async fn a_429_mid_pull_slows_down_and_loses_nothing() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    fake.set_rate_limit(None);
    fake.seed(3, 30);
    let file = token_file(TOKEN);
    let mut c = PennylaneConnector::new(config(&fake, &file, 5)).unwrap();
    let p = c.pull(None).await.unwrap();
    fake.fail_next(PlFault::RateLimited(2));
    let (rest, _) = drain(&mut c, p.next.clone()).await;
    let mut all = p.records;
    all.extend(rest);
    assert_eq!(open_sum(&all).0, 30);
    assert_eq!(fake.throttled(), 1);
    let arrivals = fake.arrivals();
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_millis(1900)),
        "no request waited for the Retry-After: {gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_quota_holds_for_every_request_and_no_429_is_provoked() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    // the fake enforces Pennylane's 25 per 5 s and counts
    fake.seed(2, 100);
    let file = token_file(TOKEN);
    let layer = Arc::new(HttpLayer::new().unwrap());
    // two connectors on the same token (a firm's portfolio), pulling at once
    let mut cfg = config(&fake, &file, 5);
    cfg.requests_per_window = 25;
    let mut a = PennylaneConnector::with_http(cfg.clone(), layer.clone()).unwrap();
    let mut b = PennylaneConnector::with_http(cfg, layer.clone()).unwrap();
    let t0 = Instant::now();
    let ((ra, _), (rb, _)) = tokio::join!(drain(&mut a, None), drain(&mut b, None));
    assert_eq!((open_sum(&ra).0, open_sum(&rb).0), (100, 100));
    let arrivals: Vec<Instant> = fake.arrivals().into_iter().map(|(t, _)| t).collect();
    let n = arrivals.len();
    assert!(n > 40, "{n} requests: too few to see the quota");
    assert_eq!(fake.throttled(), 0, "the client provoked a 429");
    let window = Duration::from_secs(5);
    for (i, t) in arrivals.iter().enumerate() {
        let inside = arrivals[i..]
            .iter()
            .take_while(|u| **u - *t < window)
            .count();
        assert!(inside <= 25, "{inside} requests within 5 s");
    }
    // N requests at 25 per 5 s need at least (N - 25) / 5 seconds
    let floor = Duration::from_secs_f64((n - 25) as f64 / 5.0 * 0.95);
    assert!(t0.elapsed() >= floor, "{n} requests in {:?}", t0.elapsed());
}

// ------------------------------------------------------------------------------ webhooks

#[tokio::test]
async fn webhooks_are_verified_deduplicated_and_fetched_at_the_next_pull() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    fake.set_rate_limit(None);
    fake.seed(2, 6);
    let file = token_file(TOKEN);
    let secret = token_file("whsec-pennylane-test");
    let hub = Arc::new(WebhookHub::new());
    let mut cfg = config(&fake, &file, 50);
    cfg.webhook_secret_file = Some(secret.path().to_owned());
    let mut c = PennylaneConnector::new(cfg)
        .unwrap()
        .with_webhooks(hub.clone())
        .unwrap();
    let (_, cursor) = drain(&mut c, None).await;
    // the daemon's listener with the route mounted
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, webhook::router(hub)).await.unwrap();
    });
    let inv = fake.invoice_ids()[2];
    fake.set_einvoicing(inv, "in_dispute", Some("Quantités erronées"));
    let event =
        serde_json::json!({"id": 987654, "event": "customer_invoice.e_invoicing_status_updated",
        "retry_count": 0, "created": 1_794_816_100,
        "data": {"context": {"company_id": fake.company_id(), "firm_id": null},
                 "object": {"id": inv, "e_invoicing": {"status": "in_dispute"}},
                 "previous_attributes": {"e_invoicing": {"status": "accepted"}}}})
        .to_string();
    let http = reqwest::Client::new();
    let post = |sig: String, body: String| {
        http.post(format!("http://{addr}{}", webhook::PATH))
            .header(webhook::SIGNATURE_HEADER, sig)
            .body(body)
            .send()
    };
    let good = webhook::sign("whsec-pennylane-test", event.as_bytes());
    assert_eq!(
        post(good.clone(), event.clone()).await.unwrap().status(),
        200
    );
    assert_eq!(
        post(good.clone(), event.clone()).await.unwrap().status(),
        200,
        "a retry is accepted"
    );
    assert_eq!(
        post("00ff".into(), event.clone()).await.unwrap().status(),
        401
    );
    assert_eq!(
        c.inbox().unwrap().len(),
        1,
        "the retry was not queued twice"
    );
    // the next pull serves the webhook first, then the changelog has the same change
    let p = c.pull(Some(&cursor)).await.unwrap();
    assert_eq!(
        ids(&p.records),
        vec![
            format!("invoice:{inv}"),
            format!("lifecycle:{inv}:in_dispute")
        ]
    );
    c.ack(p.acks).await.unwrap();
    assert!(c.inbox().unwrap().is_empty());
    let (rest, _) = drain(&mut c, p.next).await;
    assert!(
        ids(&rest).contains(&format!("lifecycle:{inv}:in_dispute")),
        "changelog safety net"
    );
    server.abort();
}

// ---------------------------------------------------------------------------- write-back

#[tokio::test]
async fn matching_left_to_pennylane_writes_nothing_and_firm_tokens_name_the_company() {
    let fake = FakePennylane::start(TOKEN).await.unwrap();
    fake.set_rate_limit(None);
    fake.add_firm_token("pl-firm-token-0003");
    fake.seed(1, 2);
    let inv = fake.invoice_ids()[0];
    let tx = fake.add_transaction(Decimal::new(12000, 2), "VIR", "2026-11-10");
    let firm = token_file("pl-firm-token-0003");
    let mut cfg = config(&fake, &firm, 10);
    // without the company header a firm token is refused
    let e = PennylaneConnector::new(cfg.clone())
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    cfg.company_id = Some(fake.company_id());
    let c = PennylaneConnector::new(cfg).unwrap().with_writeback(
        PennylaneWriteOptions {
            matching: Matching::Pennylane,
            dispute_category_id: None,
        },
        Arc::new(MemoryCommandLog::default()),
    );
    c.check().await.unwrap();
    let key = IdempotencyKey::derive("acme", "reconcile", &["x"]);
    let r = c
        .apply(
            &key,
            &WriteCommand::Reconcile {
                transaction: format!("pennylane:transaction:{tx}"),
                allocations: vec![(inv.to_string(), Decimal::new(12000, 2))],
                date: NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(r.0.starts_with("matching-left-to-pennylane"), "{r:?}");
    assert!(fake.matches(inv).is_empty());
    assert_eq!(c.find_applied(&key).await.unwrap(), Some(r));
    let writes: HashMap<String, usize> =
        fake.writes().iter().fold(HashMap::new(), |mut m, (k, _)| {
            *m.entry(k.clone()).or_default() += 1;
            m
        });
    assert!(writes.is_empty(), "{writes:?}");
}
