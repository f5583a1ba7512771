//! A real `relance daemon` serving the operator API on 127.0.0.1 and its socket in a
//! temporary directory, with two companies (the demo's files in `demo`, nothing in `other`),
//! and a small HTTP/1.1 client for the tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Far above what a healthy daemon needs on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Writes the configuration: `demo` (the bundled company, its files dropped in its inboxes)
/// and `other` (empty folders).
pub fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("relance.toml"),
        "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\nlog_format = \"text\"\n\
         shutdown_timeout_secs = 20\n\n[api]\nlisten = \"127.0.0.1:0\"\nsocket = \"api.sock\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("companies.d")).unwrap();
    let demo = std::fs::read_to_string(repo().join("config/demo/companies.d/demo.toml")).unwrap();
    std::fs::write(dir.join("companies.d/demo.toml"), &demo).unwrap();
    let other = demo
        .replace("id = \"demo\"", "id = \"other\"")
        .replace("inbox/invoices", "inbox-other/invoices")
        .replace("inbox/bank", "inbox-other/bank");
    std::fs::write(dir.join("companies.d/other.toml"), other).unwrap();
    let state = dir.join("state");
    copy_dir(
        &repo().join("config/demo/invoices"),
        &state.join("inbox/invoices"),
    );
    copy_dir(&repo().join("config/demo/bank"), &state.join("inbox/bank"));
    std::fs::create_dir_all(state.join("inbox-other/invoices")).unwrap();
    std::fs::create_dir_all(state.join("inbox-other/bank")).unwrap();
}

/// The daemon under test; killed when dropped.
pub struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
    pub dir: tempfile::TempDir,
    pub api: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Starts the daemon on a fresh configuration and waits for its API.
    pub fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path());
        Self::start_in(dir)
    }

    /// Starts the daemon on the configuration in `dir` and waits for its API.
    pub fn start_in(dir: tempfile::TempDir) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relance"))
            .arg("daemon")
            .arg("--config")
            .arg(dir.path())
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env_remove("RUNTIME_DIRECTORY")
            .env_remove("STATE_DIRECTORY")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start relance daemon");
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
        let mut d = Daemon {
            child,
            log,
            dir,
            api: String::new(),
        };
        let end = Instant::now() + DEADLINE;
        loop {
            let log = d.log();
            if let Some(at) = log.find("api listening") {
                let rest = &log[at..];
                let a = rest.find("addr=").expect("addr field");
                d.api = rest[a + 5..].split_whitespace().next().unwrap().to_owned();
                break;
            }
            assert!(Instant::now() < end, "no api line in:\n{log}");
            if let Some(s) = d.child.try_wait().unwrap() {
                panic!("daemon exited {s}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// SIGKILLs the daemon and starts it again on the same configuration and state.
    pub fn kill_and_restart(mut self) -> Daemon {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        // A killed daemon leaves its socket file behind; the new one replaces it.
        Self::start_in(dir)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn config(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `relance ARGS --config DIR` (the command line, talking to this daemon).
    pub fn relance(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
        c.args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("RUNTIME_DIRECTORY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// `relance user add NAME --role ROLE [--company C]`, password on stdin; asserts success.
    pub fn add_user(&self, name: &str, role: &str, company: Option<&str>, password: &str) {
        let mut args = vec!["user", "add", name, "--role", role];
        if let Some(c) = company {
            args.extend(["--company", c]);
        }
        let out = self.relance(&args, Some(&format!("{password}\n")));
        assert!(
            out.status.success(),
            "user add {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request: `headers` as (name, value); a JSON body when given.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A logged-in session: its cookie header value and CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Logs in; panics unless it succeeds.
pub fn login(addr: &str, user: &str, password: &str) -> Session {
    let a = request(
        addr,
        "POST",
        "/api/v1/session",
        &[],
        Some(&serde_json::json!({"user": user, "password": password}).to_string()),
    );
    assert_eq!(a.status, 200, "login {user}: {}", a.body);
    let set = a.header("set-cookie").expect("a session cookie").to_owned();
    for want in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(want), "{set}");
    }
    Session {
        cookie: set.split(';').next().unwrap().to_owned(),
        csrf: a.json()["csrf_token"].as_str().unwrap().to_owned(),
    }
}
