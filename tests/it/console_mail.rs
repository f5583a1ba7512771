//! A mise en demeure approved in the web console reaches a real SMTP server once; one
//! cancelled in the console never does.
//!
//! The demo company mails through the SMTP peer of `tests/smtp/` (aiosmtpd on 127.0.0.1).
//! Its cycles of 30 June, 1 and 15 July are run by the binary (`sync --once --date`): on 15
//! July its mises en demeure wait for approval. The daemon then serves the console with its
//! clock fixed on 15 July — this test binary run again in "child mode"
//! ([`console_daemon_child_entry`]), since `relance daemon` runs on the system clock — and a
//! real headless Chromium logs in, approves one letter, cancels another with a reason, and
//! runs a cycle from the company's home page. The same run then finds the approved letter on
//! Today's page among the letters to post, downloads them as one PDF (its pages counted by
//! `pdfinfo`, its text read by `pdftotext`), marks them posted, and downloads a quarantined
//! file from the Connectors page (paths outside the quarantine folder, `..` and a planted link
//! refused). A second run records a call's outcome in one click on Today's page and finds the
//! task done, in the customer's timeline and in the audit log.
//!
//! Screenshots (under `target/console-screenshots/`): `mail-01-approvals-waiting`,
//! `mail-02-approvals-after`, `mail-03-audit`, `mail-04-worklist-letters-to-post`,
//! `mail-05-connectors-quarantine`, `call-01-worklist-call-task`, `call-02-worklist-task-done`,
//! `call-03-audit`.

use super::console::{
    browser, chromedriver, js, login, open, run_cycle, screenshots, session_cookie, submit,
    text_of, Killed, DEADLINE,
};
use super::decisions_support::{Desk, COMPANY};
use relance_testkit::smtp::Sink;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_CONFIG: &str = "RELANCE_CONSOLE_CHILD_CONFIG";
const CHILD_DATE: &str = "RELANCE_CONSOLE_CHILD_DATE";
const LEROY: &str = "399123454";
const ROUX: &str = "412998874";
const SNB: &str = "800445124";
const ADMIN_PASSWORD: &str = "un mot de passe d'administrateur";
const QUARANTINED: &[u8] = b"<?xml version=\"1.0\"?><pas-une-facture>\x01</pas-une-facture>";

/// A GET with the session cookie: status, headers, body bytes.
fn get_raw(addr: &str, path: &str, cookie: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let at = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&all[..at]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    assert!(
        !head.to_lowercase().contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, head, all[at + 4..].to_vec())
}

/// The page count `pdfinfo` gives for `pdf`.
fn pages(pdf: &[u8]) -> usize {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), pdf).unwrap();
    let out = Command::new("pdfinfo").arg(f.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().parse().unwrap()))
        .expect("a page count")
}

fn pdftotext(pdf: &[u8]) -> String {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg(f.path())
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Child mode: the daemon on the configuration `$RELANCE_CONSOLE_CHILD_CONFIG`, its clock fixed
/// on `$RELANCE_CONSOLE_CHILD_DATE`, printing `console: ADDR` once the API listens. Run
/// normally (the variables unset), it does nothing.
#[test]
fn console_daemon_child_entry() {
    let Ok(config) = std::env::var(CHILD_CONFIG) else {
        return;
    };
    let date: chrono::NaiveDate = std::env::var(CHILD_DATE).unwrap().parse().unwrap();
    let pipeline = relance::pipeline::Pipeline::load(Some(Path::new(&config))).unwrap();
    let tell: relance::daemon::OnApiListening = Box::new(|addr| {
        println!("console: {addr}");
    });
    relance::daemon::run_with_listening(
        config.into(),
        relance::clock::Clock::fixed_date(date),
        pipeline,
        Some(tell),
    )
    .unwrap();
}

/// The daemon of `config` on `date`, in a child process: it and its console's address.
fn daemon_on(config: &Path, date: &str) -> (Killed, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "console_mail::console_daemon_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_CONFIG, config)
        .env(CHILD_DATE, date)
        .env("RUST_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the daemon's child");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // The harness prints "test NAME ... " before the test's own output, on its line.
            if let Some((_, addr)) = line.split_once("console: ") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(DEADLINE)
        .expect("the daemon's console address");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    (Killed(child), addr)
}

/// The mises en demeure the SMTP peer received for recipients containing `to`.
fn med_mails(sink: &Sink, to: &str) -> usize {
    (1..=sink.messages().len())
        .map(|n| sink.summary(n))
        .filter(|m| {
            m["rcpt_tos"].to_string().contains(to)
                && m["attachments"].as_array().is_some_and(|a| {
                    a.iter().any(|x| {
                        x["filename"]
                            .as_str()
                            .is_some_and(|f| f.starts_with("mise_en_demeure"))
                    })
                })
        })
        .count()
}

/// The action key of the letter waiting for `customer` on `date`.
fn waiting_letter(d: &Desk, date: &str, customer: &str) -> String {
    let r = d.request(date, json!({"request": "letters", "all": false}));
    r["body"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["customer"] == customer && l["status"]["status"] == "waiting")
        .and_then(|l| l["action"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no letter waiting for {customer}: {r}"))
}

#[test]
fn a_letter_approved_in_the_console_reaches_the_smtp_peer_once() {
    let Some(sink) = Sink::start(&[]) else {
        return;
    };
    let Some((_driver, port)) = chromedriver() else {
        return;
    };
    let poppler = ["pdfinfo", "pdftotext"].iter().all(|t| {
        Command::new(t)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if !poppler {
        relance_connectors::testkit::skip_peer(
            "pdfinfo and pdftotext not found (apt-get install poppler-utils); console letters test not run",
        );
        return;
    }
    let d = Desk::new(Some(&sink));
    d.add_customers(&[
        (LEROY, "compta@leroy.example", None),
        (ROUX, "compta@roux.example", None),
        (
            SNB,
            "compta@snb.example",
            Some(("3 quai des Chartrons", "33000", "Bordeaux")),
        ),
    ]);
    // A file no parser reads: quarantined by the first cycle, offered for download.
    std::fs::write(
        d.config().join("state/inbox/invoices/illisible.xml"),
        QUARANTINED,
    )
    .unwrap();
    for day in ["2026-06-30", "2026-07-01", "2026-07-15"] {
        d.cycle(day);
    }
    // A link planted in the quarantine folder is never followed.
    std::os::unix::fs::symlink(
        d.config().join("relance.toml"),
        d.config().join("state/inbox/invoices/quarantine/lien.xml"),
    )
    .unwrap();
    let (leroy, roux) = (
        waiting_letter(&d, "2026-07-15", LEROY),
        waiting_letter(&d, "2026-07-15", ROUX),
    );
    assert_eq!(med_mails(&sink, "leroy") + med_mails(&sink, "roux"), 0);
    {
        let store = d.store();
        relance::auth::add_user(
            store.as_ref(),
            "admin",
            ADMIN_PASSWORD,
            vec![relance::auth::Grant {
                company: Some(relance_core::CompanyId::new(COMPANY)),
                role: relance::auth::Role::Admin,
            }],
            chrono::DateTime::parse_from_rfc3339("2026-07-15T08:00:00Z")
                .unwrap()
                .to_utc(),
        )
        .unwrap();
    }
    let (_daemon, addr) = daemon_on(d.config(), "2026-07-15");
    // The Desk's API calls run a runtime of their own: the browser runs on another.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(in_the_browser(port, &addr, &sink, &leroy, &roux));
}

async fn in_the_browser(port: u16, addr: &str, sink: &Sink, leroy: &str, roux: &str) {
    let base = format!("http://{addr}");
    let c = browser(port).await;
    login(&c, &base, "admin", ADMIN_PASSWORD).await;

    // Both letters wait on the Approvals page, rendered.
    open(&c, &format!("{base}/c/{COMPANY}/approvals")).await;
    let dir = screenshots();
    std::fs::write(
        dir.join("mail-01-approvals-waiting.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    for key in [leroy, roux] {
        let text = text_of(&c, &format!("article.letter[data-action='{key}']")).await;
        assert!(text.contains("mise en demeure"), "{text}");
    }
    let before = sink.messages().len();

    // Approve one; cancel the other, with the reason the form asks for.
    submit(
        &c,
        &format!("article.letter[data-action='{leroy}'] form[data-kind=approve_letter]"),
    )
    .await;
    let cancel = format!("article.letter[data-action='{roux}'] form[data-kind=cancel_letter]");
    js(
        &c,
        &format!(
            "document.querySelector(\"{cancel} input[name=reason]\").value = 'le client a payé hier (virement en route)'; return true;"
        ),
    )
    .await;
    submit(&c, &cancel).await;
    // Recorded, not sent: the next cycle applies them.
    assert_eq!(sink.messages().len(), before);

    run_cycle(&c, &base).await;
    let end = Instant::now() + Duration::from_secs(30);
    while med_mails(sink, "leroy") == 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(med_mails(sink, "leroy"), 1, "the approved letter");
    assert_eq!(
        sink.messages().len(),
        before + 1,
        "exactly one message reached the SMTP peer"
    );
    assert_eq!(med_mails(sink, "roux"), 0, "the cancelled letter");

    // A second cycle sends nothing more; the page shows neither letter waiting.
    run_cycle(&c, &base).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.messages().len(), before + 1);
    assert_eq!(med_mails(sink, "roux"), 0);
    open(&c, &format!("{base}/c/{COMPANY}/approvals")).await;
    let left = js(
        &c,
        &format!(
            "return document.querySelectorAll(\"article.letter[data-action='{leroy}'], article.letter[data-action='{roux}']\").length;"
        ),
    )
    .await;
    assert_eq!(left, json!(0));
    std::fs::write(
        dir.join("mail-02-approvals-after.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    open(&c, &format!("{base}/c/{COMPANY}/audit")).await;
    let log = text_of(&c, "#audit").await;
    assert!(
        log.contains("approve_letter") && log.contains("cancel_letter") && log.contains("admin"),
        "{log}"
    );
    std::fs::write(dir.join("mail-03-audit.png"), c.screenshot().await.unwrap()).unwrap();

    // Today's letters to post: the approved one, in one PDF with the pages of its letter;
    // marked as posted, it is listed no more.
    open(&c, &format!("{base}/c/{COMPANY}/worklist")).await;
    let listed = js(
        &c,
        "return Array.from(document.querySelectorAll('#to-post + p a, ul.letters li[data-action]')).map(e => e.getAttribute('data-action') || e.getAttribute('href'));",
    )
    .await;
    let listed: Vec<String> = serde_json::from_value(listed).unwrap();
    assert_eq!(
        listed,
        vec![
            format!("/c/{COMPANY}/worklist/letters.pdf"),
            leroy.to_owned()
        ],
        "the letters to post"
    );
    std::fs::write(
        dir.join("mail-04-worklist-letters-to-post.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    let cookie = session_cookie(&c).await;
    let file = js(&c, "return document.querySelector(\"ul.letters li a[href*='/letters/']\").getAttribute('href');").await;
    let (status, _, one) = get_raw(addr, file.as_str().unwrap(), &cookie);
    assert_eq!(status, 200);
    let (status, head, all) = get_raw(addr, &format!("/c/{COMPANY}/worklist/letters.pdf"), &cookie);
    assert_eq!(status, 200, "{head}");
    assert!(head.to_lowercase().contains("application/pdf"), "{head}");
    assert!(pages(&one) >= 1);
    assert_eq!(
        pages(&all),
        pages(&one),
        "the day's PDF has the pages of its letters"
    );
    let text = pdftotext(&all);
    assert!(text.to_lowercase().contains("mise en demeure"), "{text}");
    submit(&c, "form[data-kind=letters_posted]").await;
    open(&c, &format!("{base}/c/{COMPANY}/worklist")).await;
    let left = js(
        &c,
        "return document.querySelectorAll('ul.letters li[data-action]').length;",
    )
    .await;
    assert_eq!(
        left,
        json!(0),
        "a letter marked as posted is no longer to post"
    );
    let (status, _, _) = get_raw(addr, &format!("/c/{COMPANY}/worklist/letters.pdf"), &cookie);
    assert_eq!(status, 404);
    open(&c, &format!("{base}/c/{COMPANY}/audit?kind=letters_posted")).await;
    let rows = js(
        &c,
        "return document.querySelectorAll('#audit tbody tr').length;",
    )
    .await;
    assert_eq!(rows, json!(1), "one decision marked the letters posted");

    // The quarantined file, downloaded from the Connectors page; nothing outside the folder.
    open(&c, &format!("{base}/c/{COMPANY}/connectors")).await;
    std::fs::write(
        dir.join("mail-05-connectors-quarantine.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    let href = js(&c, "var a = document.querySelector('#quarantine a[download]'); return a ? a.getAttribute('href') : null;").await;
    let href = href
        .as_str()
        .expect("a download link per quarantined file")
        .to_owned();
    let (status, head, bytes) = get_raw(addr, &href, &cookie);
    assert_eq!(status, 200, "{head}");
    assert!(head.to_lowercase().contains("attachment"), "{head}");
    assert_eq!(bytes, QUARANTINED);
    let q = href.rsplit_once('/').unwrap().0.to_owned();
    for bad in [
        format!("{q}/..%2F..%2F..%2Frelance.toml"),
        format!("{q}/%2E%2E"),
        format!("{q}/.illisible.xml.reason"),
        format!("{q}/lien.xml"),
    ] {
        let (status, _, body) = get_raw(addr, &bad, &cookie);
        assert!(status == 400 || status == 404, "{bad}: {status}");
        assert!(
            !String::from_utf8_lossy(&body).contains("state_dir"),
            "{bad}"
        );
    }
    let (status, _, _) = get_raw(
        addr,
        &format!("/c/{COMPANY}/connectors/nope/quarantine/illisible.xml"),
        &cookie,
    );
    assert_eq!(status, 404);
    c.close().await.unwrap();
}

/// The day a call task is planned for, and its key: the desk's cycles run day after day
/// (three weeks at most) until the next run would plan one.
fn a_call_day(d: &Desk) -> (String, String, String) {
    let start: chrono::NaiveDate = "2026-06-30".parse().unwrap();
    for n in 0..21 {
        let day = (start + chrono::Days::new(n)).to_string();
        d.cycle(&day);
        let run = d.get(&day, "/next-run").body;
        if let Some(a) = run["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["channel"] == "phone_task")
        {
            return (
                a["scheduled_for"].as_str().unwrap().to_owned(),
                a["key"].as_str().unwrap().to_owned(),
                a["customer"].as_str().unwrap().to_owned(),
            );
        }
    }
    panic!("no call task in three weeks");
}

#[test]
fn a_call_outcome_recorded_in_one_click_shows_its_task_done() {
    let Some((_driver, port)) = chromedriver() else {
        return;
    };
    let d = Desk::new(None);
    let (day, key, customer) = a_call_day(&d);
    d.cycle(&day);
    {
        let store = d.store();
        relance::auth::add_user(
            store.as_ref(),
            "admin",
            ADMIN_PASSWORD,
            vec![relance::auth::Grant {
                company: Some(relance_core::CompanyId::new(COMPANY)),
                role: relance::auth::Role::Admin,
            }],
            chrono::DateTime::parse_from_rfc3339("2026-06-30T08:00:00Z")
                .unwrap()
                .to_utc(),
        )
        .unwrap();
    }
    let (_daemon, addr) = daemon_on(d.config(), &day);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let base = format!("http://{addr}");
        let c = browser(port).await;
        login(&c, &base, "admin", ADMIN_PASSWORD).await;
        let dir = screenshots();
        open(&c, &format!("{base}/c/{COMPANY}/worklist")).await;
        let task = format!("article.task[data-action='{key}']");
        let outcomes = js(
            &c,
            &format!("return Array.from(document.querySelectorAll(\"{task} form[data-kind=call_outcome] input[name=outcome]\")).map(i => i.value);"),
        )
        .await;
        assert_eq!(
            outcomes,
            json!(["reached", "no_answer", "promise", "dispute", "wrong_contact"]),
            "the outcomes of today's call"
        );
        let unlabelled = js(
            &c,
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
                .filter(e => !e.closest('label') && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).length;",
        )
        .await;
        assert_eq!(unlabelled, json!(0));
        std::fs::write(
            dir.join("call-01-worklist-call-task.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();

        // One click: reached.
        submit(
            &c,
            &format!("{task} form[data-kind=call_outcome]:has(input[name=outcome][value=reached])"),
        )
        .await;
        open(&c, &format!("{base}/c/{COMPANY}/worklist")).await;
        let class = js(&c, &format!("return document.querySelector(\"{task}\").className;")).await;
        assert!(class.as_str().unwrap().contains("done"), "{class}");
        let text = text_of(&c, &task).await;
        assert!(text.contains("Fait : joint (admin)"), "{text}");
        let left = js(
            &c,
            &format!("return document.querySelectorAll(\"{task} form\").length;"),
        )
        .await;
        assert_eq!(left, json!(0), "a task whose outcome is recorded has no outcome button");
        std::fs::write(
            dir.join("call-02-worklist-task-done.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();

        // In the customer's timeline and the audit log; the next cycle applies it.
        run_cycle(&c, &base).await;
        open(&c, &format!("{base}/c/{COMPANY}/customers/{customer}")).await;
        let tl = text_of(&c, "#timeline").await;
        assert!(tl.contains("call_outcome by admin"), "{tl}");
        open(&c, &format!("{base}/c/{COMPANY}/audit?kind=call_outcome")).await;
        let log = text_of(&c, "#audit").await;
        assert!(log.contains("reached") && log.contains(&key), "{log}");
        assert!(!log.contains("en attente du cycle"), "{log}");
        std::fs::write(
            dir.join("call-03-audit.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        c.close().await.unwrap();
    });
}
