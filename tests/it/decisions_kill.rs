//! SIGKILL at random instants: while a decision is being recorded (by the command line with
//! the store opened, and by the daemon answering the socket), it is recorded once or not at
//! all, and applied once; while an approved mise en demeure is being delivered, the customer
//! gets one letter (or, when the kill fell inside the SMTP transaction, none and a dead letter
//! saying the delivery is ambiguous — never two).

use super::api_support::Daemon;
use super::decisions_support::{Desk, COMPANY};
use relance_core::CompanyId;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A small deterministic generator of kill delays.
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

fn inbox_count(store: &dyn relance::store::Store, key: &str) -> usize {
    store
        .inbox(&CompanyId::new(COMPANY), 0, 100_000, false)
        .unwrap()
        .iter()
        .filter(|e| e.item.key == key)
        .count()
}

const HOLD: [&str; 14] = [
    "decide",
    "hold",
    "--company",
    "demo",
    "--customer",
    "412998874",
    "--until",
    "2026-08-31",
    "--reason",
    "killed",
    "--key",
    "kill-hold",
    "--at",
    "2026-06-30T09:00:00Z",
];

#[test]
fn a_decision_killed_while_recorded_is_recorded_once_or_not_at_all() {
    let d = Desk::new(None);
    d.cycle("2026-06-30");
    let mut delays = Delays(14);
    let mut killed = 0;
    for _ in 0..12 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relance"))
            .args(HOLD)
            .arg("--config")
            .arg(d.config())
            .env_remove("RUNTIME_DIRECTORY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delays.next_ms(400)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        let store = d.store();
        assert!(inbox_count(store.as_ref(), "kill-hold") <= 1);
    }
    assert!(killed > 0, "no run was killed: the delays are too long");
    // Run to its end: one entry, whatever the kills left.
    let out = d.relance(&HOLD);
    assert!(out.contains("\"seq\""), "{out}");
    assert_eq!(inbox_count(d.store().as_ref(), "kill-hold"), 1);
    d.cycle("2026-07-01");
    assert_eq!(d.applied("kill-hold").len(), 1);
    d.cycle("2026-07-02");
    assert_eq!(d.applied("kill-hold").len(), 1);
}

#[test]
fn a_daemon_killed_while_recording_a_decision_records_it_once_or_not_at_all() {
    let mut daemon = Daemon::start();
    let out = daemon.relance(&["sync", "--once", "--company", "demo"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut delays = Delays(7);
    let json = r#"{"type":"hold","customer":"412998874","until":"2099-08-31"}"#;
    let args = [
        "decide",
        "json",
        "--company",
        "demo",
        "--key",
        "kill-daemon-hold",
        "--reason",
        "killed",
        json,
    ];
    for _ in 0..3 {
        let cfg = daemon.config().to_owned();
        let client = std::thread::spawn(move || {
            Command::new(env!("CARGO_BIN_EXE_relance"))
                .args(args)
                .arg("--config")
                .arg(cfg)
                .env_remove("RUNTIME_DIRECTORY")
                .output()
                .unwrap()
        });
        std::thread::sleep(Duration::from_millis(delays.next_ms(300)));
        daemon = daemon.kill_and_restart();
        let _ = client.join();
    }
    let out = daemon.relance(&args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = daemon.relance(&["decide", "list", "--company", "demo"], None);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let n = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["key"] == "kill-daemon-hold")
        .count();
    assert_eq!(n, 1, "{v}");
}

#[test]
fn an_approved_letter_killed_during_delivery_is_sent_once() {
    let Some(sink) = relance_testkit::smtp::Sink::start(&["--delay-data-reply", "0.3"]) else {
        return;
    };
    let d = Desk::new(Some(&sink));
    d.add_customers(&[("399123454", "compta@leroy.example", None)]);
    d.cycle("2026-06-30");
    d.cycle("2026-07-15");
    let letters = d.request("2026-07-15", serde_json::json!({"request": "letters"}));
    let action = letters["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["customer"] == "399123454")
        .unwrap_or_else(|| panic!("{letters}"))["action"]
        .as_str()
        .unwrap()
        .to_owned();
    d.decide(
        "2026-07-15",
        "approver",
        "approve-kill",
        serde_json::json!({"type": "approve_letter", "action": action}),
    );
    let med = || {
        (1..=sink.messages().len())
            .filter(|n| {
                let m = sink.summary(*n);
                m["rcpt_tos"].to_string().contains("leroy")
                    && m["attachments"].to_string().contains("mise_en_demeure")
            })
            .count()
    };
    let mut delays = Delays(3);
    for day in 16..24 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relance"))
            .args(["sync", "--once", "--company", "demo", "--date"])
            .arg(format!("2026-07-{day}"))
            .arg("--config")
            .arg(d.config())
            .env_remove("RUNTIME_DIRECTORY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200 + delays.next_ms(1500)));
        let _ = child.kill();
        child.wait().unwrap();
        assert!(med() <= 1, "a second letter");
    }
    d.cycle("2026-07-24");
    d.cycle("2026-07-25");
    let sent = med();
    assert!(sent <= 1);
    if sent == 0 {
        // The kill fell inside the SMTP transaction: held for a person, never resent blind.
        let dead = d.get("2026-07-25", "/exceptions?kind=dead_letter").body;
        assert!(dead.to_string().contains("ambiguous"), "{dead}");
    }
    assert_eq!(d.applied("approve-kill").len(), 1);
}
