//! Dunning through the binary, past the end of the rate table: the offline plan, the demo,
//! one cycle of the pipeline (`sync --once`) and the daemon keep dunning with an alert and a
//! gauge naming the missing rows; a drop-in in `rates.d/` fills them, `check-config` places
//! its errors; `relance rates` shows what is covered and missing.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn relance() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
    c.env_remove("RELANCE_CONFIG").env("RUST_LOG", "warn");
    c
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo() -> PathBuf {
    workspace().join("config/demo")
}

fn run(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().expect("run relance");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// The demo's June statement (bookings from the 2nd to the 29th) made current on
/// 2026-12-03: its days moved into November, the last ones (29th, 30th) onto 1 and 2
/// December, so the latest booking is yesterday's.
fn current_statement(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(demo().join("bank/releve-2026-06.camt053.xml")).unwrap();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("2026-0") {
        out.push_str(&rest[..i]);
        let (month, day) = (&rest[i + 6..i + 7], &rest[i + 8..i + 10]);
        let moved = match (month, day.parse::<u32>()) {
            ("6", Ok(d)) if d >= 29 => format!("2026-12-{:02}", d - 28),
            ("6", Ok(d)) => format!("2026-11-{d:02}"),
            ("5", Ok(d)) => format!("2026-10-{d:02}"),
            _ => rest[i..i + 10].to_owned(),
        };
        out.push_str(&moved);
        rest = &rest[i + 10..];
    }
    out.push_str(rest);
    let p = dir.join("releve-2026-11.camt053.xml");
    std::fs::write(&p, out).unwrap();
    p
}

/// A rate-table drop-in giving the second semester of 2026 (figures for the test).
const H2_2026: &str = r#"version = 1
revision = 2
updated = "2026-07-03"

[ecb_mro]
confirmed_until = "2026-12-31"

[[ecb_mro.changes]]
effective = "2026-06-10"
rate_percent = "2.00"
source = "test figure"

[[taux_legal.semesters]]
start = "2026-07-01"
natural_person_percent = "6.50"
other_cases_percent = "2.50"
source = "test figure"
"#;

/// A whole rate table that ends with the first semester of 2026.
const TABLE_TO_JUNE_2026: &str = r#"version = 1
revision = 1
updated = "2026-02-05"

[ecb_mro]
confirmed_until = "2026-02-05"

[[ecb_mro.changes]]
effective = "2025-06-11"
rate_percent = "2.15"
source = "test figure"

[[taux_legal.semesters]]
start = "2026-01-01"
natural_person_percent = "6.67"
other_cases_percent = "2.62"
source = "test figure"

[indemnity]
amount = "40.00"
source = "C. com. D441-5"
"#;

fn plan_offline(date: &str, banks: &[PathBuf], config: Option<&Path>) -> (Value, String) {
    let mut cmd = relance();
    cmd.args(["dunning", "plan", "--invoices"])
        .arg(demo().join("invoices"))
        .arg("--bank")
        .args(banks)
        .args(["--date", date]);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let (stdout, stderr) = run(&mut cmd);
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

fn formal_actions(plan: &Value) -> Vec<&Value> {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["stage"] == 2)
        .collect()
}

/// The issue's command: a plan on 2026-07-02, past the table's last row, exits 0 with the
/// formal reminder stating the legal clause, and an alert naming the row.
#[test]
fn offline_plan_past_the_rate_table() {
    let (plan, stderr) = plan_offline(
        "2026-07-02",
        &[demo().join("bank/releve-2026-06.camt053.xml")],
        None,
    );
    let formal = formal_actions(&plan);
    assert!(!formal.is_empty(), "{plan:#}");
    let inv = &formal[0]["invoices"][0];
    assert_eq!(inv["penalty"], "0.00");
    assert_eq!(inv["indemnity"], "40.00");
    assert_eq!(inv["missing_rate"]["row"]["table"], "ecb_mro");
    assert_eq!(inv["missing_rate"]["row"]["period_start"], "2026-07-01");
    assert!(plan["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "missing_rate"
            && a["message"].as_str().unwrap().contains("2026-07-01")));
    assert_eq!(plan["missing_rates"][0]["row"]["table"], "ecb_mro");
    assert!(stderr.contains("the rate table lacks ecb_mro"), "{stderr}");
    let body = plan["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == formal[0]["key"])
        .unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(body.contains("majoré de 10 points"), "{body}");
    assert!(!body.contains("précédent rappel"), "{body}");

    // With a drop-in for H2 2026 in the configuration, the penalty is computed and cites it.
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("rates.d")).unwrap();
    std::fs::write(cfg.path().join("rates.d/2026-h2.toml"), H2_2026).unwrap();
    let (plan, _) = plan_offline(
        "2026-07-02",
        &[demo().join("bank/releve-2026-06.camt053.xml")],
        Some(cfg.path()),
    );
    assert!(plan.get("missing_rates").is_none(), "{plan:#}");
    let inv = &formal_actions(&plan)[0]["invoices"][0];
    assert_ne!(inv["penalty"], "0.00", "{inv:#}");
    assert!(plan["rate_rows"]["taux_legal@2026-07-01"]
        .as_str()
        .unwrap()
        .contains("2026-h2.toml"));
}

/// Today (2026-12-03) with bank data that is current: the plan exits 0, every overdue
/// business invoice gets its formal reminder with the clause, the alert names the row.
#[test]
fn offline_plan_today_with_current_bank_data() {
    let dir = tempfile::tempdir().unwrap();
    let bank = current_statement(dir.path());
    let (plan, _) = plan_offline("2026-12-03", &[bank], None);
    assert!(!formal_actions(&plan).is_empty(), "{plan:#}");
    assert!(
        plan["held"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| !h["reason"].as_str().unwrap().contains("older than")),
        "bank data is current: {plan:#}"
    );
    assert!(plan["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "missing_rate"));
}

/// `relance demo --date 2026-07-02` runs the whole pipeline past the table's end.
#[test]
fn demo_past_the_rate_table() {
    let state = tempfile::tempdir().unwrap();
    let (stdout, _) = run(relance()
        .args(["demo", "--date", "2026-07-02", "--state-dir"])
        .arg(state.path()));
    assert!(stdout.contains("Formelle / Email"), "{stdout}");
    assert!(stdout.contains("rate table lacks ecb_mro"), "{stdout}");
    assert!(stdout.contains("alert missing_rate"), "{stdout}");
}

/// A configuration directory with the demo company, its documents in the inbox, and
/// `extra` appended to its company file.
fn demo_config(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path();
    std::fs::copy(demo().join("relance.toml"), cfg.join("relance.toml")).unwrap();
    std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
    let company = std::fs::read_to_string(demo().join("companies.d/demo.toml")).unwrap();
    std::fs::write(
        cfg.join("companies.d/demo.toml"),
        company.replace(
            "[dunning]\nbank_data_max_age_days = 3",
            &format!("[dunning]\n{extra}"),
        ),
    )
    .unwrap();
    for (from, to) in [
        ("invoices", "state/inbox/invoices"),
        ("bank", "state/inbox/bank"),
    ] {
        let target = cfg.join(to);
        std::fs::create_dir_all(&target).unwrap();
        for e in std::fs::read_dir(demo().join(from)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), target.join(e.file_name())).unwrap();
        }
    }
    dir
}

/// One cycle of the pipeline (`sync --once`) on 2026-07-20: reminders are planned and
/// enqueued, the summary names the missing row.
#[test]
fn pipeline_keeps_dunning_through_a_missing_row() {
    let dir = demo_config("bank_data_max_age_days = 30");
    let (stdout, _) = run(relance()
        .args(["sync", "--once", "--date", "2026-07-20", "--config"])
        .arg(dir.path()));
    let line = stdout.lines().find(|l| l.starts_with("demo:")).unwrap();
    let actions: u32 = line
        .split(", ")
        .find_map(|p| p.strip_suffix(" actions"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(actions >= 1, "{stdout}");
    assert!(!line.contains("not planned"), "{stdout}");
    assert!(
        stdout.contains("demo: the rate table lacks ecb_mro: the rate in force on 2026-07-01"),
        "{stdout}"
    );
}

/// The daemon, on the real clock, with a rate table that ends in June 2026: it keeps
/// planning, and `/metrics` shows the missing rows and the held invoices per company.
#[test]
fn daemon_keeps_dunning_and_reports_missing_rows() {
    use crate::daemon::{get, wait_until, Daemon};
    let dir = demo_config("bank_data_max_age_days = 100000");
    // A table that ends in June 2026 (whatever the built-in one has since): today is after
    // its end, so rows are missing.
    std::fs::create_dir_all(dir.path().join("rates")).unwrap();
    std::fs::write(dir.path().join("rates/fr.toml"), TABLE_TO_JUNE_2026).unwrap();
    let company = dir.path().join("companies.d/demo.toml");
    let text = std::fs::read_to_string(&company).unwrap();
    std::fs::write(
        &company,
        text.replace("poll_interval_secs = 300", "poll_interval_secs = 1"),
    )
    .unwrap();
    let dropin_dir = dir.path().join("rates.d");
    let d = Daemon::start(dir, None);
    let addr = d.addr();
    let metric = |name: &str| -> Option<f64> {
        let (_, body) = get(&addr, "/metrics");
        body.lines()
            .find(|l| l.starts_with(&format!("{name}{{company=\"demo\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert!(
        wait_until(|| metric("relance_dunning_missing_rate_rows").is_some_and(|v| v >= 1.0)),
        "no missing-rate gauge:\n{}\n{}",
        get(&addr, "/metrics").1,
        d.log()
    );
    // The plan's gauges are set while the cycle runs, the action counter when it ends.
    assert!(
        wait_until(|| metric("relance_actions_total").is_some_and(|v| v >= 1.0)),
        "no action planned:\n{}\n{}",
        get(&addr, "/metrics").1,
        d.log()
    );
    assert!(
        metric("relance_dunning_missing_rate_invoices").is_some_and(|v| v >= 1.0),
        "{}",
        get(&addr, "/metrics").1
    );
    assert!(metric("relance_dunning_held_invoices").is_some());
    assert!(d.log().contains("rate table lacks ecb_mro"), "{}", d.log());
    // A drop-in confirming the ECB list (no change since) applies from the next cycle: the
    // ECB rows are no longer missing (the taux légal ones still are).
    let before = metric("relance_dunning_missing_rate_rows").unwrap();
    std::fs::create_dir_all(&dropin_dir).unwrap();
    std::fs::write(
        dropin_dir.join("confirm.toml"),
        "version = 1\nrevision = 2\nupdated = \"2026-12-03\"\n[ecb_mro]\nconfirmed_until = \"2099-12-31\"\n",
    )
    .unwrap();
    assert!(
        wait_until(|| metric("relance_dunning_missing_rate_rows").is_some_and(|v| v < before)),
        "the drop-in was not applied:\n{}\n{}",
        get(&addr, "/metrics").1,
        d.log()
    );
}

/// `relance rates`: the built-in table, its semesters, what is missing as of a date; a
/// drop-in fills the semester.
#[test]
fn rates_command_shows_coverage_and_what_is_missing() {
    let empty = tempfile::tempdir().unwrap();
    let (text, _) = run(relance()
        .args(["rates", "--date", "2026-12-03", "--config"])
        .arg(empty.path()));
    assert!(text.contains("built-in config/rates/fr.toml"), "{text}");
    assert!(
        text.contains("2026-01-01      2.15         12.15"),
        "{text}"
    );
    assert!(text.contains("Missing as of 2026-12-03:"), "{text}");
    assert!(
        text.contains("ecb_mro: the rate in force on 2026-07-01"),
        "{text}"
    );
    assert!(
        text.contains("taux_legal: the semester 2026-07-01 to 2026-12-31"),
        "{text}"
    );
    let (text, _) = run(relance()
        .args(["rates", "--date", "2026-03-02", "--config"])
        .arg(empty.path()));
    assert!(text.contains("Nothing missing as of 2026-03-02."), "{text}");

    std::fs::create_dir_all(empty.path().join("rates.d")).unwrap();
    std::fs::write(empty.path().join("rates.d/2026-h2.toml"), H2_2026).unwrap();
    let (json, _) = run(relance()
        .args(["rates", "--json", "--date", "2026-12-03", "--config"])
        .arg(empty.path()));
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["missing"], Value::Array(vec![]), "{v:#}");
    assert_eq!(v["revision"], 2);
    assert_eq!(v["origins"].as_array().unwrap().len(), 2);
}

/// `check-config` checks the drop-ins with the configuration: every error with its file,
/// key and line, the configuration refused.
#[test]
fn check_config_places_rate_dropin_errors() {
    let dir = demo_config("bank_data_max_age_days = 3");
    let d = dir.path().join("rates.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("2026-h2.toml"),
        H2_2026.replace("rate_percent = \"2.00\"", "rate_percent = \"200\""),
    )
    .unwrap();
    std::fs::write(
        d.join("typo.toml"),
        "version = 1\nrevision = 3\nupdated = \"2026-07-03\"\n[taux_legal]\nsemester = []\n",
    )
    .unwrap();
    let out = relance()
        .arg("check-config")
        .arg("--config")
        .arg(dir.path())
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("2026-h2.toml: line 10, column 1: ecb_mro.changes[0].rate_percent: 200% is not a plausible ECB rate"),
        "{text}"
    );
    assert!(
        text.contains("typo.toml: line 5, column 1: taux_legal.semester: unknown field `semester`"),
        "{text}"
    );
}

/// The pipeline posts a mise en demeure with both postal addresses: the sender's from the
/// company file, the recipient's from the e-invoice (BG-8), the company's town and the date;
/// without the company's address the letter is held with an alert and no PDF is written.
#[test]
fn pipeline_letters_carry_both_addresses_or_wait() {
    for with_address in [true, false] {
        let dir = demo_config("bank_data_max_age_days = 30");
        if !with_address {
            let company = dir.path().join("companies.d/demo.toml");
            let text = std::fs::read_to_string(&company).unwrap();
            let cut = text.find("# The sender of posted letters").unwrap();
            std::fs::write(&company, &text[..cut]).unwrap();
        }
        // The formal reminder on 30 June, then the mise en demeure (D+45, 15 days later).
        for date in ["2026-06-30", "2026-07-20"] {
            run(relance()
                .args(["sync", "--once", "--date", date, "--config"])
                .arg(dir.path()));
        }
        let letters = dir.path().join("state/companies/demo/letters");
        let pdfs: Vec<PathBuf> = std::fs::read_dir(&letters)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        let (plan, _) = {
            let mut cmd = relance();
            cmd.args([
                "dunning",
                "plan",
                "--company",
                "demo",
                "--date",
                "2026-07-20",
                "--config",
            ])
            .arg(dir.path());
            let (stdout, stderr) = run(&mut cmd);
            (serde_json::from_str::<Value>(&stdout).unwrap(), stderr)
        };
        if !with_address {
            assert!(
                pdfs.is_empty(),
                "a letter without the sender's address: {pdfs:?}"
            );
            let held = plan["held"].as_array().unwrap();
            assert!(
                held.iter().any(|h| h["invoice"] == "FA-2026-0113"
                    && h["reason"].as_str().unwrap().contains(
                        "the company's postal address (the sender of the letter) is missing"
                    )),
                "{plan:#}"
            );
            assert!(plan["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["kind"] == "missing_address"));
            continue;
        }
        let pdf = pdfs
            .iter()
            .find(|p| p.to_string_lossy().contains("mise_en_demeure-412998874"))
            .unwrap_or_else(|| panic!("no mise en demeure in {pdfs:?}"));
        if Command::new("pdftotext").arg("-v").output().is_err() {
            relance_connectors::testkit::skip_peer(
                "pdftotext not found (apt-get install -y poppler-utils); letter text not checked",
            );
            continue;
        }
        let out = Command::new("pdftotext")
            .args(["-layout", "-enc", "UTF-8"])
            .arg(pdf)
            .arg("-")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace('\u{a0}', " ");
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for want in [
            "Atelier Lumière SAS",
            "14 rue des Artisans",
            "47000 AGEN",
            "Imprimerie Roux SAS",
            "9 chemin du Moulin",
            "31200 TOULOUSE",
            "Agen, le 20/07/2026",
            "Lettre recommandée avec accusé de réception",
            "Malgré notre relance du 30/06/2026",
        ] {
            assert!(flat.contains(want), "missing {want:?} in:\n{text}");
        }
        assert!(!flat.contains("Paris"), "{text}");
    }
}
