//! `relance daemon` as systemd runs it: the real binary, `NOTIFY_SOCKET` pointing at a Unix
//! datagram socket of the test, health and metrics on 127.0.0.1, signals sent with kill(1).
//!
//! The configuration uses only file connectors with empty folders, in a temporary directory.
//! Waits are bounded by a generous deadline (a hung daemon fails the test instead of hanging
//! it); nothing asserts on how long anything took.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bound on any wait: far above what a healthy daemon needs, on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);
const SECRET: &str = "Daemon-Secret-Value-77";

fn company(id: &str) -> String {
    format!(
        "version = 1\nid = \"{id}\"\nname = \"{id} SAS\"\npoll_interval_secs = 1\n\n\
         [[sources]]\ntype = \"einvoice_inbox\"\nname = \"invoices\"\npath = \"inbox/{id}/invoices\"\n\n\
         [[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = \"inbox/{id}/bank\"\n\n\
         [mail]\nhost = \"smtp.example.org\"\nusername = \"relance\"\npassword_file = \"smtp.pw\"\n\
         from = \"compta@{id}.example\"\n"
    )
}

fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("relance.toml"),
        "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\napi = { listen = \"127.0.0.1:0\" }\nshutdown_timeout_secs = 20\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("companies.d")).unwrap();
    std::fs::write(dir.join("smtp.pw"), format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.join("companies.d/alpha.toml"), company("alpha")).unwrap();
}

/// The daemon under test; killed if the test fails half-way.
pub(crate) struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
    notify: UnixDatagram,
    notes: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub(crate) fn start(dir: tempfile::TempDir, watchdog_usec: Option<u64>) -> Daemon {
        Self::start_limited(dir, watchdog_usec, None)
    }

    /// Starts the daemon, with at most `nofile` open file descriptors when given.
    fn start_limited(
        dir: tempfile::TempDir,
        watchdog_usec: Option<u64>,
        nofile: Option<u32>,
    ) -> Daemon {
        let sock_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&sock_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}"))
                    .arg(env!("CARGO_BIN_EXE_relance"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_relance")),
        };
        cmd.arg("daemon")
            .arg("--config")
            .arg(dir.path())
            .env("NOTIFY_SOCKET", &sock_path)
            .env("RUST_LOG", "debug")
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_PID")
            .env_remove("WATCHDOG_USEC")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("STATE_DIRECTORY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(usec) = watchdog_usec {
            cmd.env("WATCHDOG_USEC", usec.to_string());
        }
        let mut child = cmd.spawn().expect("start relance daemon");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Daemon {
            child,
            log,
            notify,
            notes: Vec::new(),
            _dir: dir,
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a notification line equal to `want` arrives; returns false at the deadline.
    fn wait_note(&mut self, want: &str) -> bool {
        let end = Instant::now() + DEADLINE;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if self.notes.iter().any(|n| n == want) {
                return true;
            }
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.notes.extend(msg.lines().map(str::to_owned));
            }
        }
        self.notes.iter().any(|n| n == want)
    }

    /// Waits until the log holds `want`.
    fn wait_log(&self, want: &str) -> bool {
        wait_until(|| self.log().contains(want))
    }

    /// The health/metrics address, from the "http listening addr=…" log line.
    pub(crate) fn addr(&self) -> String {
        assert!(
            self.wait_log("http listening"),
            "no http line in:\n{}",
            self.log()
        );
        let log = self.log();
        let at = log.find("addr=127.0.0.1:").expect("addr field");
        log[at + 5..].split_whitespace().next().unwrap().to_owned()
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    pub(crate) fn wait_exit(&mut self) -> Option<ExitStatus> {
        let end = Instant::now() + DEADLINE;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

pub(crate) fn wait_until(f: impl Fn() -> bool) -> bool {
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A minimal HTTP/1.1 GET: (status code, body).
pub(crate) fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn ready_watchdog_health_metrics_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let mut d = Daemon::start(dir, Some(200_000));
    assert!(d.wait_note("READY=1"), "no READY=1; log:\n{}", d.log());
    assert!(
        d.wait_note("WATCHDOG=1"),
        "no WATCHDOG=1; log:\n{}",
        d.log()
    );
    assert!(
        d.notes
            .iter()
            .any(|n| n.starts_with("STATUS=running 1 companies")),
        "{:?}",
        d.notes
    );

    let addr = d.addr();
    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(get(&addr, "/readyz"), (200, "ready\n".to_owned()));
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("relance_companies 1\n"), "{metrics}");
    assert!(
        metrics.contains("relance_company_up{company=\"alpha\"} 1\n"),
        "{metrics}"
    );
    // Cycles run (the first after a small per-company offset) and are counted.
    assert!(
        wait_until(|| get(&addr, "/metrics")
            .1
            .contains("relance_cycles_total{company=\"alpha\",outcome=\"ok\"}")),
        "no cycle counted:\n{}",
        get(&addr, "/metrics").1
    );
    // The file sources' folders were created under the state directory.
    assert!(d.dir().join("state/inbox/alpha/invoices").is_dir());
    assert!(d.dir().join("state/inbox/alpha/bank").is_dir());

    d.signal("TERM");
    assert!(
        d.wait_note("STOPPING=1"),
        "no STOPPING=1; log:\n{}",
        d.log()
    );
    let status = d
        .wait_exit()
        .expect("the daemon did not exit after SIGTERM");
    assert!(status.success(), "exit {status:?}; log:\n{}", d.log());
    assert!(d.log().contains("stopped"), "{}", d.log());
    assert!(!d.log().contains(SECRET), "the secret leaked into the log");
}

#[test]
fn sighup_refuses_a_bad_configuration_and_applies_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let mut d = Daemon::start(dir, None);
    assert!(d.wait_note("READY=1"), "no READY=1; log:\n{}", d.log());
    let addr = d.addr();

    // An invalid new configuration: refused, logged with file, key and line; still running.
    let bad = company("alpha").replace("poll_interval_secs = 1", "poll_interval_sec = 1");
    std::fs::write(d.dir().join("companies.d/alpha.toml"), bad).unwrap();
    d.signal("HUP");
    assert!(
        d.wait_log("configuration reload refused"),
        "no refusal in the log:\n{}",
        d.log()
    );
    assert!(
        d.log()
            .contains("alpha.toml: line 4, column 1: poll_interval_sec: unknown field"),
        "{}",
        d.log()
    );
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon exited on a bad reload"
    );
    let (_, metrics) = get(&addr, "/metrics");
    assert!(
        metrics.contains("relance_config_reloads_total{result=\"refused\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("relance_company_up{company=\"alpha\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("relance_config_generation 1\n"),
        "{metrics}"
    );

    // A valid changed configuration: alpha fixed, beta added.
    std::fs::write(d.dir().join("companies.d/alpha.toml"), company("alpha")).unwrap();
    std::fs::write(d.dir().join("companies.d/beta.toml"), company("beta")).unwrap();
    d.signal("HUP");
    assert!(
        wait_until(|| get(&addr, "/metrics")
            .1
            .contains("relance_company_up{company=\"beta\"} 1\n")),
        "beta never came up:\n{}",
        d.log()
    );
    let (_, metrics) = get(&addr, "/metrics");
    assert!(metrics.contains("relance_companies 2\n"), "{metrics}");
    assert!(
        metrics.contains("relance_config_generation 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("relance_config_reloads_total{result=\"ok\"} 1\n"),
        "{metrics}"
    );
    assert!(d.log().contains("added=[\"beta\"]"), "{}", d.log());

    d.signal("TERM");
    let status = d
        .wait_exit()
        .expect("the daemon did not exit after SIGTERM");
    assert!(status.success(), "exit {status:?}; log:\n{}", d.log());
    assert!(!d.log().contains(SECRET), "the secret leaked into the log");
}

#[test]
fn an_invalid_configuration_at_start_exits_non_zero_with_the_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    std::fs::write(
        dir.path().join("companies.d/alpha.toml"),
        company("alpha").replace("poll_interval_secs = 1", "poll_interval_secs = 0"),
    )
    .unwrap();
    let mut d = Daemon::start(dir, None);
    let status = d.wait_exit().expect("the daemon did not exit");
    assert!(!status.success());
    assert!(
        d.wait_log("alpha.toml: line 4, column 1: poll_interval_secs: must be at least 1"),
        "{}",
        d.log()
    );
    assert!(!d.notes.iter().any(|n| n == "READY=1"));
}

#[test]
fn sighup_with_a_new_state_dir_keeps_every_path_under_the_running_one() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let mut d = Daemon::start(dir, None);
    assert!(d.wait_note("READY=1"), "no READY=1; log:\n{}", d.log());
    std::fs::write(
        d.dir().join("relance.toml"),
        "version = 1\nstate_dir = \"state2\"\nlisten = \"127.0.0.1:0\"\napi = { listen = \"127.0.0.1:0\" }\nshutdown_timeout_secs = 20\n",
    )
    .unwrap();
    d.signal("HUP");
    assert!(d.wait_log("configuration reloaded"), "{}", d.log());
    assert!(
        d.log().contains("takes effect at the next restart"),
        "{}",
        d.log()
    );
    // Files dropped in the running inbox are imported into the running store.
    let inbox = d.dir().join("state/inbox/alpha/invoices");
    std::fs::write(
        inbox.join("after-reload.xml"),
        relance_connectors::formats::einvoice::write::cii(
            &relance_connectors::formats::einvoice::write::sample(3),
        ),
    )
    .unwrap();
    assert!(
        wait_until(|| inbox.join("done/after-reload.xml").exists()),
        "the file in the running inbox was not imported:\n{}",
        d.log()
    );
    assert!(
        !d.dir().join("state2").exists(),
        "the new state_dir was used before a restart"
    );
    assert!(
        d.log().contains("unchanged=1"),
        "the company was restarted: {}",
        d.log()
    );
    d.signal("TERM");
    assert!(d.wait_exit().is_some_and(|s| s.success()), "{}", d.log());
}

/// 1,100 idle connections to the health port of a daemon limited to 256 descriptors: it keeps
/// importing files and `/healthz` answers again within seconds (idle connections are closed
/// after the header timeout, extra ones refused at once).
#[test]
fn idle_connections_cannot_exhaust_the_daemons_descriptors() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        relance_connectors::testkit::skip_peer("prlimit (util-linux) not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let mut d = Daemon::start_limited(dir, None, Some(256));
    assert!(d.wait_note("READY=1"), "no READY=1; log:\n{}", d.log());
    let addr = d.addr();
    let mut idle = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect(&addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect {}: {e}", idle.len()),
        }
    }
    let inbox = d.dir().join("state/inbox/alpha/invoices");
    std::fs::write(
        inbox.join("during-flood.xml"),
        relance_connectors::formats::einvoice::write::cii(
            &relance_connectors::formats::einvoice::write::sample(4),
        ),
    )
    .unwrap();
    let bound = Duration::from_secs(20);
    let start = Instant::now();
    let mut healthy = false;
    while start.elapsed() < bound {
        let ok = TcpStream::connect(&addr).ok().and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
            let mut r = String::new();
            s.read_to_string(&mut r).ok()?;
            Some(r.contains("200 OK"))
        });
        if ok == Some(true) {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        healthy,
        "/healthz unreachable for {bound:?}; log:\n{}",
        d.log()
    );
    assert!(
        wait_until(|| inbox.join("done/during-flood.xml").exists()),
        "the inbox was not imported during the flood; log:\n{}",
        d.log()
    );
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d.child.id()))
        .map(|r| r.count())
        .unwrap_or(0);
    assert!(fds < 200, "{fds} descriptors open");
    drop(idle);
    d.signal("TERM");
    assert!(d.wait_exit().is_some_and(|s| s.success()), "{}", d.log());
}
