//! Runs a scenario of a test in a child process of the test binary and reports how it ended
//! and its peak resident memory (`VmHWM`), so that a test can assert a memory ceiling, and a
//! stack overflow or an abort in the parser fails the test instead of the whole test binary.

use std::process::Command;

const ENV: &str = "RELANCE_BOUNDED_SCENARIO";
const CASE: &str = "RELANCE_BOUNDED_CASE";

/// How the child ended.
pub struct Outcome {
    /// What the scenario returned (a summary the parent checks).
    pub summary: String,
    /// Peak resident set of the child, KiB (`None` without `/proc`).
    pub peak_kib: Option<u64>,
}

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// In the parent: runs test `test` (its full path, e.g. `pdf_bombs_are_not_inflated`) again in
/// a child that calls `scenario`, and returns the child's outcome; panics when the child
/// crashed. In the child: runs `scenario`, prints its outcome, and returns `None`.
pub fn bounded(test: &str, scenario: impl FnOnce() -> String) -> Option<Outcome> {
    bounded_case(test, "", scenario)
}

/// [`bounded`] for one `case` of a test that runs several (each in its own child); in the
/// child, the other cases return `None` without running.
pub fn bounded_case(test: &str, case: &str, scenario: impl FnOnce() -> String) -> Option<Outcome> {
    if std::env::var(ENV).as_deref() == Ok(test) {
        if std::env::var(CASE).unwrap_or_default() != case {
            return None;
        }
        let summary = scenario();
        println!("SUMMARY<<{summary}>>");
        println!("PEAK_KIB={}", vm_hwm_kib().unwrap_or(0));
        return None;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no test binary: {e}"));
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ENV, test)
        .env(CASE, case)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the child: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains("SUMMARY<<"),
        "the scenario crashed ({}): {}\n{}",
        out.status,
        stdout
            .chars()
            .rev()
            .take(2000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>(),
        stderr
            .chars()
            .rev()
            .take(2000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
    let summary = stdout
        .split("SUMMARY<<")
        .nth(1)
        .and_then(|s| s.split(">>").next())
        .unwrap_or("")
        .to_owned();
    let peak_kib = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_KIB="))
        .and_then(|v| v.trim().parse().ok())
        .filter(|v| *v > 0);
    if peak_kib.is_none() {
        eprintln!("SKIP memory ceiling of {test}: /proc/self/status unreadable");
    }
    Some(Outcome { summary, peak_kib })
}

/// Asserts the child stayed under `limit_mib`.
pub fn assert_under(o: &Outcome, limit_mib: u64, what: &str) {
    if let Some(p) = o.peak_kib {
        assert!(
            p < limit_mib * 1024,
            "{what}: peak RSS {} MiB, the ceiling is {limit_mib} MiB",
            p / 1024
        );
        eprintln!(
            "{what}: peak RSS {:.1} MiB (ceiling {limit_mib} MiB)",
            p as f64 / 1024.0
        );
    }
}
