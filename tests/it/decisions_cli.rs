//! `relance decide` subcommands, without a daemon (the command opens the store) and through a
//! running one (the same requests over its socket to `/requests`): each decision recorded
//! once per key, refused with its field when wrong, listed, and applied by the next cycle; the
//! queues (suggestions, letters, probable payments, next run, closings) answered on both paths.

use super::api_support::Daemon;
use super::decisions_support::Desk;

fn json_of(out: &std::process::Output, what: &str) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {stdout}"))
}

/// Recording subcommands with the arguments they need on the demo company after its first
/// cycle (June 30), and the decision type each records; the dates in year `year` (the daemon
/// stamps a decision with its own clock: its tests date them where no clock reaches).
fn recordings(year: &str) -> Vec<(&'static str, Vec<String>)> {
    let list: Vec<(&'static str, Vec<&'static str>)> = vec![
        (
            "confirm_match",
            vec![
                "confirm",
                "--transaction",
                "BQ2606250000007",
                "--invoice",
                "FA-2026-0106",
            ],
        ),
        (
            "reject_match",
            vec![
                "reject",
                "--transaction",
                "BQ2606150000004",
                "--invoice",
                "FA-2026-0105",
                "--reason",
                "another order",
            ],
        ),
        (
            "dispute",
            vec![
                "dispute",
                "--customer",
                "399123454",
                "--invoice",
                "FA-2026-0107",
                "--reason",
                "hours contested",
            ],
        ),
        (
            "payment_plan",
            vec![
                "payment-plan",
                "--customer",
                "800445124",
                "--invoice",
                "FA-2026-0108",
                "--instalment",
                "DATE1=5100.00",
                "--instalment",
                "DATE2=5100.00",
            ],
        ),
        (
            "hold",
            vec![
                "hold",
                "--customer",
                "412998874",
                "--until",
                "YYYY-08-31",
                "--reason",
                "accountant on leave",
            ],
        ),
    ];
    list.into_iter()
        .map(|(k, a)| {
            let mut v = vec!["decide".to_owned()];
            v.extend(a.iter().map(|s| {
                s.replace("YYYY", year)
                    .replace("DATE1", &format!("{year}-07-10"))
                    .replace("DATE2", &format!("{year}-08-10"))
            }));
            v.extend(["--company".to_owned(), "demo".to_owned()]);
            (k, v)
        })
        .collect()
}

#[test]
fn decide_without_a_daemon_records_once_and_the_cycle_applies() {
    let d = Desk::new(None);
    d.cycle("2026-06-30");
    let s = json_of(
        &d.relance_raw(&["decide", "suggestions", "--company", "demo"]),
        "suggestions",
    );
    assert!(s.to_string().contains("BQ2606250000007"), "{s}");
    for (kind, mut a) in recordings("2026") {
        a.extend(["--at".to_owned(), "2026-06-30T09:00:00Z".to_owned()]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let first = json_of(&d.relance_raw(&a), kind);
        assert_eq!(first["new"], true, "{kind}: {first}");
        // The same command again: the same key, nothing new.
        let again = json_of(&d.relance_raw(&a), kind);
        assert_eq!(again["new"], false, "{kind}: {again}");
        assert_eq!(again["seq"], first["seq"], "{kind}");
    }
    // Refused with the field named, nothing recorded.
    let bad = d.relance_raw(&[
        "decide",
        "hold",
        "--company",
        "demo",
        "--customer",
        "nobody",
        "--until",
        "2026-08-31",
        "--reason",
        "x",
        "--at",
        "2026-06-30T09:00:00Z",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("decision.customer"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let no_reason = d.relance_raw(&[
        "decide",
        "reject",
        "--company",
        "demo",
        "--transaction",
        "BQ2606150000004",
        "--invoice",
        "FA-2026-0105",
        "--at",
        "2026-06-30T09:00:00Z",
    ]);
    assert!(!no_reason.status.success());
    assert!(String::from_utf8_lossy(&no_reason.stderr).contains("reason"));

    let pending = json_of(
        &d.relance_raw(&["decide", "list", "--company", "demo", "--pending"]),
        "list",
    );
    assert_eq!(
        pending.as_array().unwrap().len(),
        recordings("2026").len(),
        "{pending}"
    );
    d.cycle("2026-07-01");
    let pending = json_of(
        &d.relance_raw(&["decide", "list", "--company", "demo", "--pending"]),
        "list",
    );
    assert_eq!(pending.as_array().unwrap().len(), 0, "{pending}");
    for (kind, _) in recordings("2026") {
        let applied = d
            .applied_of_kind(kind)
            .unwrap_or_else(|| panic!("{kind} not applied"));
        assert_eq!(applied["outcome"]["status"], "applied", "{kind}: {applied}");
    }
    let run = json_of(
        &d.relance_raw(&[
            "decide",
            "next-run",
            "--company",
            "demo",
            "--date",
            "2026-07-08",
        ]),
        "next-run",
    );
    let text = run.to_string();
    assert!(
        text.contains("manual hold") && text.contains("échéancier") && text.contains("litige"),
        "{text}"
    );
    for q in [
        vec!["letters", "--all"],
        vec!["closings"],
        vec!["probable", "--date", "2026-07-01"],
    ] {
        let mut a = vec!["decide"];
        a.extend(q.iter());
        a.extend(["--company", "demo"]);
        json_of(&d.relance_raw(&a), q[0]);
    }
}

#[test]
fn decide_through_the_running_daemon() {
    let d = Daemon::start();
    let out = d.relance(&["sync", "--once", "--company", "demo"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = json_of(
        &d.relance(&["decide", "suggestions", "--company", "demo"], None),
        "suggestions",
    );
    assert!(s.to_string().contains("BQ2606250000007"), "{s}");
    for (kind, a) in recordings("2099") {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let first = json_of(&d.relance(&a, None), kind);
        assert_eq!(first["new"], true, "{kind}: {first}");
        let again = json_of(&d.relance(&a, None), kind);
        assert_eq!(again["new"], false, "{kind}: {again}");
    }
    let bad = d.relance(
        &[
            "decide",
            "hold",
            "--company",
            "demo",
            "--customer",
            "nobody",
            "--until",
            "2099-08-31",
            "--reason",
            "x",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("decision.customer"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // A cycle of the daemon applies them; the log names the local user as their author.
    let out = d.relance(&["sync", "--once", "--company", "demo"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = json_of(
        &d.relance(&["decide", "list", "--company", "demo"], None),
        "list",
    );
    let items = all.as_array().unwrap();
    assert_eq!(items.len(), recordings("2026").len(), "{all}");
    for i in items {
        assert!(i.to_string().contains("unix:uid="), "{i}");
    }
    let pending = json_of(
        &d.relance(&["decide", "list", "--company", "demo", "--pending"], None),
        "pending",
    );
    assert_eq!(pending.as_array().unwrap().len(), 0, "{pending}");
    for q in [
        vec!["letters", "--all"],
        vec!["closings"],
        vec!["next-run"],
        vec!["probable"],
    ] {
        let mut a = vec!["decide"];
        a.extend(q.iter());
        a.extend(["--company", "demo"]);
        json_of(&d.relance(&a, None), q[0]);
    }
    assert!(!d.log().contains("locked"));
}
