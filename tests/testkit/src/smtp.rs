//! The SMTP peer of the mail tests: `tests/smtp/smtp_sink.py` (aiosmtpd) on 127.0.0.1, each
//! message received written to a folder as `N.eml` and `N.json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The sink process; killed on drop.
pub struct Sink {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    /// Starts the sink with the script's `extra` options, or says SKIP (see
    /// [`crate::skip_peer`]) and returns `None` when python3 or aiosmtpd is missing.
    ///
    /// # Panics
    /// When the script does not start as it should (a broken test environment).
    pub fn start(extra: &[&str]) -> Option<Sink> {
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .map(|o| o.status.success());
        if !matches!(ok, Ok(true)) {
            crate::skip_peer(
                "python3 with aiosmtpd not available (pip install aiosmtpd); SMTP tests not run",
            );
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../smtp/smtp_sink.py");
        let dir = tempfile::tempdir().ok()?;
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let stdout = child.stdout.take()?;
        BufReader::new(stdout).read_line(&mut line).ok()?;
        let port = match line.trim().strip_prefix("READY ").map(str::parse) {
            Some(Ok(p)) => p,
            _ => panic!("the SMTP sink said {line:?}"),
        };
        Some(Sink { child, port, dir })
    }

    /// The folder the messages are written to.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `.eml` files received, in order.
    pub fn messages(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|x| x == "eml"));
        v.sort();
        v
    }

    /// The parsed summary of message `n` (1-based), as the sink wrote it.
    pub fn summary(&self, n: usize) -> serde_json::Value {
        std::fs::read_to_string(self.dir.path().join(format!("{n}.json")))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}
