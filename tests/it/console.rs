//! The web console in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver by fantoccini), against `relance demo --console`: the real binary,
//! the demo's data, its clock fixed at the demo's date, on 127.0.0.1.
//!
//! One run logs in, confirms one of the demo's two suggestions (the next cycle applies it and
//! the aged balance changes), records a promise to pay (the next run then gives the promise
//! as the reason its invoice is not reminded), checks that a viewer sees no decision button and
//! that a post without the session's CSRF token is refused, and takes a screenshot of every
//! page (kept under `target/console-screenshots/`), each checked to be neither blank nor an
//! error page, its internal links answered and its form controls labelled.

use super::api_support::request;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(super) const DEADLINE: Duration = Duration::from_secs(120);

pub(super) struct Killed(pub(super) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// chromedriver on 127.0.0.1, or `None` (said loudly) when Chromium or its driver is missing.
pub(super) fn chromedriver() -> Option<(Killed, u16)> {
    if !have("chromium") || !have("chromedriver") {
        relance_connectors::testkit::skip_peer(
            "chromium and chromedriver not found (apt-get install chromium chromium-driver); console browser tests not run",
        );
        return None;
    }
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let end = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((Killed(child), port))
}

pub(super) async fn browser(driver: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1280,1600", "--lang=fr-FR",
            "--no-proxy-server", "--disable-background-networking"]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver}"))
        .await
        .expect("a WebDriver session")
}

/// `relance demo --console` in `dir`: its address and the demo user's password.
fn demo(dir: &Path) -> (Killed, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["demo", "--console", "--state-dir"])
        .arg(dir)
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start relance demo --console");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with("console: ") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(DEADLINE).expect("the console line");
    // console: http://127.0.0.1:PORT/ user demo password XXXX
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 6, "{line}");
    assert_eq!((words[2], words[3], words[4]), ("user", "demo", "password"));
    let addr = words[1]
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    assert!(words[5].len() >= 16, "{line}");
    (Killed(child), addr, words[5].to_owned())
}

pub(super) fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) async fn login(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("input[name=user]"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("header.top .user"))
        .await
        .unwrap_or_else(|e| panic!("{user} not logged in: {e}"));
}

pub(super) async fn open(c: &Client, url: &str) {
    c.goto(url).await.unwrap();
    c.wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("main h1"))
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
}

pub(super) async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

pub(super) async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Submits the decision form `css` (the script records it without reloading) and waits for
/// its answer.
pub(super) async fn submit(c: &Client, css: &str) -> String {
    let form = c.find(Locator::Css(css)).await.unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let end = Instant::now() + DEADLINE;
    loop {
        let state = js(
            c,
            &format!(
                "var f = document.querySelector({css:?}); return f ? f.className + '|' + (f.querySelector('output') ? f.querySelector('output').textContent : '') : 'gone';"
            ),
        )
        .await;
        let s = state.as_str().unwrap_or("").to_owned();
        if s.contains("done") || s.contains("failed") {
            if !s.contains("done") {
                // What the server answered, to say why.
                let again = c
                    .execute_async(
                        &format!(
                            "var done = arguments[arguments.length - 1]; var f = document.querySelector({css:?}); fetch(f.getAttribute('action'), {{method: 'POST', credentials: 'same-origin', headers: {{'X-Console-Inline': '1', 'Content-Type': 'application/x-www-form-urlencoded'}}, body: new URLSearchParams(new FormData(f)).toString()}}).then(r => r.text().then(t => done(r.status + ' ' + t)), e => done(String(e)));"
                        ),
                        vec![],
                    )
                    .await
                    .unwrap();
                panic!("{css}: {s}: {again}");
            }
            return s;
        }
        assert!(Instant::now() < end, "{css}: no answer ({s})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a cycle from the company home page (admin) and waits for its message.
pub(super) async fn run_cycle(c: &Client, base: &str) {
    open(c, &format!("{base}/c/demo")).await;
    c.find(Locator::Css("form[action='/c/demo/cycle'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("p.flash"))
        .await
        .unwrap();
    let flash = text_of(c, "p.flash").await;
    assert!(flash.starts_with("Cycle terminé"), "{flash}");
}

async fn aged_total(c: &Client, base: &str) -> String {
    open(c, &format!("{base}/c/demo")).await;
    text_of(c, "#aged-table td[data-total]").await
}

/// The session cookie the browser holds.
pub(super) async fn session_cookie(c: &Client) -> String {
    let cookies = c.get_all_cookies().await.unwrap();
    let s = cookies
        .iter()
        .find(|k| k.name() == "relance_session")
        .expect("a session cookie");
    format!("relance_session={}", s.value())
}

fn form_post(addr: &str, path: &str, cookie: &str, body: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The pages, with the name of their screenshot and what each shows.
const PAGES: &[(&str, &str)] = &[
    ("/", "01-portfolio"),
    ("/c/demo", "02-company-home"),
    ("/c/demo/queue", "03-exception-queue"),
    ("/c/demo/customers", "04-customers"),
    ("/c/demo/customers/412998874", "05-customer"),
    ("/c/demo/approvals", "06-approvals"),
    ("/c/demo/worklist", "07-worklist"),
    ("/c/demo/next-run", "08-next-run"),
    ("/c/demo/closing", "09-closing"),
    ("/c/demo/connectors", "10-connectors"),
    ("/c/demo/audit", "11-audit-log"),
];

/// Every page: a screenshot neither blank nor of an error page, its internal links answered,
/// every form control labelled.
async fn every_page(c: &Client, base: &str, addr: &str, prefix: &str) {
    let dir = screenshots();
    let cookie = session_cookie(c).await;
    let mut links = std::collections::BTreeSet::new();
    for (path, name) in PAGES {
        open(c, &format!("{base}{path}")).await;
        let error = js(c, "return document.body.classList.contains('error');").await;
        assert_eq!(error, serde_json::json!(false), "{path} is an error page");
        let text = js(c, "return document.body.innerText.length;").await;
        assert!(text.as_u64().unwrap_or(0) > 80, "{path} is almost empty");
        let png = c.screenshot().await.unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{path}: {} bytes",
            png.len()
        );
        std::fs::write(dir.join(format!("{prefix}{name}.png")), &png).unwrap();
        let unlabelled = js(
            c,
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
                .filter(e => !e.closest('label') && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML);",
        )
        .await;
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "{path}: controls without a label"
        );
        let unnamed = js(
            c,
            "return Array.from(document.querySelectorAll('button')).filter(b => !b.textContent.trim()).length;",
        )
        .await;
        assert_eq!(
            unnamed,
            serde_json::json!(0),
            "{path}: a button without text"
        );
        let hrefs = js(
            c,
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')).filter(h => h.startsWith('/'));",
        )
        .await;
        for h in hrefs.as_array().unwrap() {
            links.insert(h.as_str().unwrap().to_owned());
        }
    }
    for l in &links {
        let a = request(addr, "GET", l, &[("Cookie", &cookie)], None);
        assert_eq!(a.status, 200, "broken link {l}: {}", a.status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let Some((_driver, port)) = chromedriver() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let (_demo, addr, password) = demo(state.path());
    let base = format!("http://{addr}");
    let c = browser(port).await;

    // A page asked without a session leads to the login page.
    c.goto(&format!("{base}/c/demo/queue")).await.unwrap();
    c.wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    login(&c, &base, "demo", &password).await;

    // Screenshots and page checks first, on the demo as its cycle left it.
    every_page(&c, &base, &addr, "").await;

    // The queue shows the demo's two suggestions, each with its evidence; confirming one is
    // applied by the next cycle and the aged balance changes.
    let before = aged_total(&c, &base).await;
    open(&c, &format!("{base}/c/demo/queue")).await;
    let n = js(
        &c,
        "return document.querySelectorAll('article.suggestion').length;",
    )
    .await;
    assert_eq!(n, serde_json::json!(2), "the demo's suggestions");
    let first = text_of(&c, "article.suggestion").await;
    assert!(
        first.contains("IBAN") && first.contains("Reste dû"),
        "{first}"
    );
    let answer = submit(&c, "article.suggestion form[data-kind=confirm_match]").await;
    assert!(answer.contains("confirm_match"), "{answer}");
    run_cycle(&c, &base).await;
    // The cycle applied it: the audit log gives when.
    open(&c, &format!("{base}/c/demo/audit?kind=confirm_match")).await;
    let log = text_of(&c, "#audit").await;
    assert!(
        log.contains("confirm_match") && log.contains("30/06/2026"),
        "{log}"
    );
    assert!(!log.contains("en attente du cycle"), "{log}");
    let after = aged_total(&c, &base).await;
    assert!(
        after.ends_with('€') && after.contains(','),
        "French amount: {after}"
    );
    assert!(!before.is_empty());

    // A promise to pay on a customer: the next run gives it as the reason its invoice is not
    // reminded.
    open(&c, &format!("{base}/c/demo/next-run")).await;
    let row = "#not-reminded tr:has(td:first-child)";
    let before = js(&c, &format!("return Array.from(document.querySelectorAll('{row}')).map(r => r.innerText).filter(t => t.includes('FA-2026-0113')).join('');")).await;
    assert!(
        !before.as_str().unwrap().contains("promise to pay"),
        "{before}"
    );
    open(&c, &format!("{base}/c/demo/customers/412998874")).await;
    let form = "form[data-kind=promise_to_pay]";
    js(
        &c,
        &format!(
            "var f = document.querySelector('{form}'); f.closest('details').open = true; f.querySelector('input[name=date]').value = '2026-07-20'; return true;"
        ),
    )
    .await;
    submit(&c, form).await;
    run_cycle(&c, &base).await;
    open(&c, &format!("{base}/c/demo/next-run")).await;
    let after = js(&c, &format!("return Array.from(document.querySelectorAll('{row}')).map(r => r.innerText).filter(t => t.includes('FA-2026-0113')).join('');")).await;
    let after = after.as_str().unwrap().to_owned();
    assert!(
        after.contains("promise to pay") && after.contains("2026-07-20"),
        "{after}"
    );
    let sent = text_of(&c, "#next-actions").await;
    assert!(!sent.contains("FA-2026-0113"), "{sent}");
    open(&c, &format!("{base}/c/demo/audit")).await;
    let log = text_of(&c, "#audit").await;
    assert!(
        log.contains("promise_to_pay") && log.contains("confirm_match") && log.contains("demo"),
        "{log}"
    );

    // The same pages after the decisions, in English.
    c.find(Locator::Css("form[action='/lang'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css("html[lang=en]"))
        .await
        .unwrap();
    every_page(&c, &base, &addr, "en-").await;

    // A post without the session's CSRF token is refused, and records nothing.
    let cookie = session_cookie(&c).await;
    let forged = "type=hold&key=forged-1&customer=412998874&until=2026-12-31&reason=forged";
    assert_eq!(form_post(&addr, "/c/demo/decide", &cookie, forged), 403);
    assert_eq!(
        form_post(
            &addr,
            "/c/demo/decide",
            &cookie,
            &format!("{forged}&csrf_token=wrong")
        ),
        403
    );
    let log = request(
        &addr,
        "GET",
        "/c/demo/audit?kind=hold",
        &[("Cookie", &cookie)],
        None,
    );
    assert_eq!(log.status, 200);
    assert!(!log.body.contains("2026-12-31"), "{}", log.body);

    // A viewer sees no decision button anywhere, and a decision posted with their own valid
    // token is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_relance"))
        .args([
            "user",
            "add",
            "victor",
            "--role",
            "viewer",
            "--company",
            "demo",
            "--config",
        ])
        .arg(state.path().join("config"))
        .env_remove("RUNTIME_DIRECTORY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            ch.stdin
                .take()
                .unwrap()
                .write_all(b"viewer-password-123\n")?;
            ch.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.close().await.unwrap();
    let viewer = browser(port).await;
    login(&viewer, &base, "victor", "viewer-password-123").await;
    for (path, _) in PAGES {
        open(&viewer, &format!("{base}{path}")).await;
        let forms = js(
            &viewer,
            "return document.querySelectorAll('form.decision, form[action$=\"/cycle\"]').length;",
        )
        .await;
        assert_eq!(
            forms,
            serde_json::json!(0),
            "{path}: a viewer sees a decision button"
        );
    }
    let csrf = js(
        &viewer,
        "return document.querySelector('input[name=csrf_token]').value;",
    )
    .await;
    let vcookie = session_cookie(&viewer).await;
    let body = format!(
        "type=hold&key=viewer-1&customer=412998874&until=2026-12-31&reason=test&csrf_token={}",
        csrf.as_str().unwrap()
    );
    assert_eq!(form_post(&addr, "/c/demo/decide", &vcookie, &body), 403);
    viewer.close().await.unwrap();
}
