//! The command line while the daemon runs: the commands that read or change a configured
//! company go through the daemon's socket (the daemon holds the store; opening it would say
//! "locked"), and give what they give without a daemon.

use super::api_support::{request, Daemon};

fn ok(out: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn commands_go_through_the_running_daemon() {
    let d = Daemon::start();

    // sync --once: the cycle runs in the daemon; the summary is the usual one.
    let out = ok(&d.relance(&["sync", "--once"], None), "sync --once");
    assert!(out.contains("demo: "), "{out}");
    assert!(out.contains("other: "), "{out}");
    assert!(out.contains("documents"), "{out}");
    let demo_line = out.lines().find(|l| l.starts_with("demo: ")).unwrap();
    assert!(!demo_line.starts_with("demo: 0 documents"), "{out}");

    // dunning plan --company: the plan JSON, from the daemon's store.
    let out = ok(
        &d.relance(
            &[
                "dunning",
                "plan",
                "--company",
                "demo",
                "--date",
                "2026-06-30",
            ],
            None,
        ),
        "dunning plan",
    );
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(plan["actions"].is_array(), "{plan}");
    assert!(
        !plan["actions"].as_array().unwrap().is_empty()
            || !plan["held"].as_array().unwrap().is_empty(),
        "{plan}"
    );

    // provision --apply: booked by the daemon, through its outbox, with the files written here.
    let out_dir = d.dir.path().join("closing");
    let out = ok(
        &d.relance(
            &[
                "provision",
                "--company",
                "demo",
                "--closing-date",
                "2026-06-30",
                "--apply",
                "--out",
                out_dir.to_str().unwrap(),
            ],
            None,
        ),
        "provision --apply",
    );
    let table: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(table["closing_date"], "2026-06-30", "{table}");
    assert!(std::fs::read_dir(&out_dir).unwrap().count() >= 2);
    // The closing is booked: the same command again books nothing new.
    let again = ok(
        &d.relance(
            &[
                "provision",
                "--company",
                "demo",
                "--closing-date",
                "2026-06-30",
                "--apply",
            ],
            None,
        ),
        "provision --apply again",
    );
    assert!(serde_json::from_str::<serde_json::Value>(&again).is_ok());

    // A decision from the command line, twice: one event (the daemon stamps it with its own
    // clock, so the promised date is one no clock reaches).
    let decision =
        r#"{"type":"promise_to_pay","customer":"399123454","date":"2099-07-15","amount":"500.00"}"#;
    let first = ok(
        &d.relance(&["decide", "json", "--company", "demo", decision], None),
        "decide",
    );
    assert!(first.contains("\"new\": true"), "{first}");
    let second = ok(
        &d.relance(&["decide", "json", "--company", "demo", decision], None),
        "decide again",
    );
    assert!(second.contains("\"new\": false"), "{second}");

    // Users through the daemon too, and the decision's author is the local user.
    let pw = "un mot de passe assez long";
    d.add_user("ana", "viewer", Some("demo"), pw);
    let listed = ok(&d.relance(&["user", "list"], None), "user list");
    assert!(listed.contains("ana\tviewer on demo"), "{listed}");
    let s = super::api_support::login(&d.api, "ana", pw);
    let log = request(
        &d.api,
        "GET",
        "/api/v1/companies/demo/decisions",
        &[("Cookie", &s.cookie)],
        None,
    )
    .json();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log}");
    assert!(
        items[0]["actor"].as_str().unwrap().starts_with("unix:uid="),
        "{log}"
    );

    // A token made from the command line works as a bearer token.
    let tok = ok(
        &d.relance(&["token", "add", "export", "--user", "ana"], None),
        "token add",
    );
    let tok = tok.trim();
    let a = request(
        &d.api,
        "GET",
        "/api/v1/companies/demo",
        &[("Authorization", &format!("Bearer {tok}"))],
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["role"], "viewer");
    assert!(a.json()["invoices"].as_u64().unwrap() > 0, "{}", a.body);

    // Nothing said "locked": every command went through the socket.
    assert!(!d.log().contains("locked"));
}

#[test]
fn without_a_daemon_the_commands_open_the_store() {
    let dir = tempfile::tempdir().unwrap();
    super::api_support::write_config(dir.path());
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write as _;
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_relance"));
        c.args(args)
            .arg("--config")
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(t) = stdin {
            child.stdin.take().unwrap().write_all(t.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    ok(
        &run(&["sync", "--once", "--date", "2026-06-30"], None),
        "sync",
    );
    ok(
        &run(
            &[
                "user",
                "add",
                "bob",
                "--role",
                "collector",
                "--company",
                "demo",
            ],
            Some("un mot de passe assez long\n"),
        ),
        "user add",
    );
    // Decided on a fixed date (--at), without a daemon.
    let hold = r#"{"type":"hold","customer":"399123454","until":"2026-08-31"}"#;
    let d = ok(
        &run(
            &[
                "decide",
                "json",
                "--company",
                "demo",
                "--reason",
                "the customer asked for time",
                "--at",
                "2026-06-30T09:00:00Z",
                hold,
            ],
            None,
        ),
        "decide",
    );
    assert!(d.contains("\"new\": true"), "{d}");
    let listed = ok(&run(&["user", "list"], None), "user list");
    assert!(listed.contains("bob\tcollector on demo"), "{listed}");
    // A weak password is refused with the reason.
    let weak = run(&["user", "add", "eve", "--role", "viewer"], Some("short\n"));
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));
}
