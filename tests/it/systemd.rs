//! The shipped systemd units: `systemd-analyze verify` is clean and
//! `systemd-analyze security --offline=yes` rates their exposure at most 2.0.
//!
//! verify needs the ExecStart binary to exist, so each unit is copied to a temporary
//! directory with `/usr/bin/relance` replaced by the binary under test. Without
//! systemd-analyze the tests say SKIP and pass.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

fn analyze_available() -> bool {
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            relance_connectors::testkit::skip_peer(
                "systemd-analyze is not installed; the unit files were not checked",
            );
            false
        }
    }
}

fn unit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

/// Copies `name` into `dir` with ExecStart pointing at the test binary.
fn staged(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(unit_dir().join(name)).unwrap();
    let text = text.replace("/usr/bin/relance", env!("CARGO_BIN_EXE_relance"));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn verify(unit: &Path) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = unit
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace("@.", "@a.");
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(name.as_str()) || l.contains(&*unit.to_string_lossy()))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "verify {}: {stderr}",
        unit.display()
    );
}

fn exposure(unit: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no exposure line: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let after = line.rsplit_once(": ").map(|(_, r)| r).unwrap_or("");
    after
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::MAX)
}

#[test]
fn relance_service_verifies_and_is_hardened() {
    if !analyze_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = staged(dir.path(), "relance.service");
    verify(&unit);
    let score = exposure(&unit);
    eprintln!("relance.service exposure: {score}");
    assert!(score <= 2.0, "exposure {score} > 2.0");
}

#[test]
fn shard_template_verifies_and_is_hardened() {
    if !analyze_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    staged(dir.path(), "relance@.service");
    // An instance of the template, as systemctl would start it.
    let instance = dir.path().join("relance@a.service");
    std::fs::copy(dir.path().join("relance@.service"), &instance).unwrap();
    verify(&instance);
    let score = exposure(&instance);
    eprintln!("relance@a.service exposure: {score}");
    assert!(score <= 2.0, "exposure {score} > 2.0");
}

#[test]
fn units_keep_the_required_settings() {
    // The settings the architecture requires, so a later edit cannot drop one silently.
    for name in ["relance.service", "relance@.service"] {
        let text = std::fs::read_to_string(unit_dir().join(name)).unwrap();
        for want in [
            "Type=notify",
            "WatchdogSec=",
            "TimeoutStopSec=",
            "LimitNOFILE=",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "DynamicUser=yes",
            "StateDirectory=relance",
            "RuntimeDirectory=relance",
            "RuntimeDirectoryMode=0750",
            "ConfigurationDirectory=relance",
            "LoadCredential=",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=\n",
            "SystemCallFilter=@system-service",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "MemoryDenyWriteExecute=yes",
        ] {
            assert!(text.contains(want), "{name} lacks {want:?}");
        }
    }
    let sysusers = std::fs::read_to_string(unit_dir().join("sysusers.d/relance.conf")).unwrap();
    assert!(sysusers
        .lines()
        .any(|l| l.starts_with("u ") && l.contains("relance")));
    let tmpfiles = std::fs::read_to_string(unit_dir().join("tmpfiles.d/relance.conf")).unwrap();
    assert!(tmpfiles.contains("/etc/relance/credentials     0700 root root"));
}

/// True when running as root (sysusers and tmpfiles chown what they create).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `tool --root=<tmp> <args> -` with `file` on stdin; returns the root, or `None` (with
/// a SKIP message) when the tool is absent or the test is not root.
fn apply_in_root(tool: &str, args: &[&str], file: &str) -> Option<tempfile::TempDir> {
    if Command::new(tool).arg("--version").output().is_err() {
        relance_connectors::testkit::skip_peer(&format!(
            "{tool} is not installed; {file} was not applied"
        ));
        return None;
    }
    if !is_root() {
        relance_connectors::testkit::skip_peer(&format!(
            "{tool} --root needs root to chown; {file} was not applied"
        ));
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    let out = Command::new(tool)
        .arg(format!("--root={}", root.path().display()))
        .args(args)
        .arg("-")
        .stdin(std::fs::File::open(unit_dir().join(file)).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(root)
}

#[test]
fn sysusers_creates_the_relance_user() {
    let Some(root) = apply_in_root("systemd-sysusers", &[], "sysusers.d/relance.conf") else {
        return;
    };
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("relance:"))
        .expect("relance user");
    assert!(
        line.ends_with(":/var/lib/relance:/usr/sbin/nologin"),
        "{line}"
    );
}

#[test]
fn tmpfiles_creates_a_private_credentials_directory() {
    use std::os::unix::fs::PermissionsExt;
    let Some(root) = apply_in_root("systemd-tmpfiles", &["--create"], "tmpfiles.d/relance.conf")
    else {
        return;
    };
    let creds = std::fs::metadata(root.path().join("etc/relance/credentials")).unwrap();
    assert!(creds.is_dir());
    assert_eq!(creds.permissions().mode() & 0o777, 0o700);
    assert!(root.path().join("etc/relance/companies.d").is_dir());
}
