//! The README's first command: `relance demo` on the bundled company, and the offline
//! commands on the same files.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn relance() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
    c.env_remove("RELANCE_CONFIG").env("RUST_LOG", "warn");
    c
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo")
}

fn run_demo(state: &Path) -> String {
    let out = relance()
        .args(["demo", "--state-dir"])
        .arg(state)
        .output()
        .expect("run relance demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo failed:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn files_named(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap().to_string_lossy().contains(needle) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn demo_runs_the_whole_pipeline_and_a_second_run_adds_nothing() {
    let state = tempfile::tempdir().unwrap();
    let first = run_demo(state.path());
    // Imported, reconciled, dunned, provisioned.
    assert!(first.contains("Imported"), "{first}");
    assert!(first.contains("14 invoices and credit notes"), "{first}");
    assert!(first.contains("Reconciliation"), "{first}");
    assert!(
        first.contains("BQ2606020000001"),
        "the clean payment is matched:\n{first}"
    );
    assert!(first.contains("Dunning as of 2026-06-30"), "{first}");
    assert!(first.contains("Aged balance"), "{first}");
    // The stranger paying an amount equal to an open invoice is not applied automatically.
    let stranger: Vec<&str> = first
        .lines()
        .filter(|l| l.contains("BQ2606250000007"))
        .collect();
    assert!(
        stranger.iter().all(|l| !l.trim_start().starts_with("auto")),
        "a stranger's payment was applied automatically: {stranger:?}"
    );
    // The closing run leaves its FEC export in the state directory.
    let fec = files_named(state.path(), "FEC");
    assert_eq!(fec.len(), 1, "one FEC export expected, found {fec:?}");
    let fec_text = std::fs::read_to_string(&fec[0]).unwrap();
    assert!(fec_text.starts_with("JournalCode"), "{fec_text}");
    // Files were moved to done/.
    let imported = files_named(state.path(), "FA-2026-0101");
    assert!(
        imported
            .iter()
            .any(|p| p.parent().is_some_and(|d| d.ends_with("done"))),
        "imported files are moved to done/: {imported:?}"
    );

    // A second run over the same state: the re-dropped files are recognised, nothing is
    // planned or enqueued twice.
    let second = run_demo(state.path());
    assert!(
        second.contains("Outbox: 0 new entries"),
        "second run enqueued again:\n{second}"
    );
}

#[test]
fn reconcile_prints_the_offline_contract() {
    let d = demo_dir();
    let out = relance()
        .arg("reconcile")
        .arg("--invoices")
        .arg(d.join("invoices"))
        .arg("--bank")
        .arg(d.join("bank/releve-2026-06.camt053.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let allocs = v["allocations"].as_array().unwrap();
    assert!(!allocs.is_empty());
    for a in allocs {
        for k in [
            "transaction",
            "invoice",
            "amount",
            "auto",
            "confidence",
            "reason",
        ] {
            assert!(a.get(k).is_some(), "allocation without {k}: {a}");
        }
        assert!(a["amount"].is_string(), "amounts are decimal strings: {a}");
    }
    let clean = allocs
        .iter()
        .find(|a| a["transaction"] == "BQ2606020000001")
        .expect("the clean payment is allocated");
    assert_eq!(clean["invoice"], "FA-2026-0101");
    assert_eq!(clean["amount"], "1200.00");
    assert_eq!(clean["auto"], true);
    let unmatched = v["unmatched"].as_array().unwrap();
    assert!(
        unmatched.iter().any(|t| t == "BQ2606250000007"),
        "the stranger's payment stays in the exception queue: {v}"
    );
    // The debit (URSSAF) is neither allocated nor unmatched.
    assert!(!allocs.iter().any(|a| a["transaction"] == "BQ2606260000008"));
}

#[test]
fn inspect_prints_json_and_fails_on_unusable_files() {
    let d = demo_dir();
    let out = relance()
        .arg("inspect")
        .arg(d.join("invoices/FA-2026-0104.ubl.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "ubl");
    assert_eq!(v["documents"][0]["number"], "FA-2026-0104");
    assert_eq!(v["documents"][0]["total_with_vat"], "5040.00");
    assert_eq!(v["documents"][0]["order_reference"], "EJ-2026-000458");

    let out = relance()
        .arg("inspect")
        .arg(d.join("bank/releve-2026-06.camt053.xml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["statements"][0]["entries"].as_array().unwrap().len(), 9);

    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), b"<Invoice><unclosed></Invoice>").unwrap();
    let out = relance().arg("inspect").arg(bad.path()).output().unwrap();
    assert!(!out.status.success(), "an unusable file must exit non-zero");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["diagnostics"].as_array().unwrap().is_empty());
}

/// `inspect` streams a bank statement from the file: several files, one bigger than every
/// buffer, give exactly what the in-memory parse gives.
#[test]
fn inspect_streams_bank_files_as_the_in_memory_parse_reads_them() {
    use relance_connectors::formats::bank;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 2, 2).unwrap();
    let spec = bank::write::StatementSpec {
        msg_id: "M".into(),
        statement_id: "S".into(),
        created: day,
        account_iban: "FR7630006000011234567890189".into(),
        currency: "EUR".into(),
        opening_balance: rust_decimal::Decimal::ZERO,
        from_date: day,
        to_date: day,
        entries: (0..800)
            .map(|i| bank::write::EntrySpec {
                amount: rust_decimal::Decimal::new(1000 + i, 2),
                booking_date: day,
                acct_svcr_ref: Some(format!("BQ{i:08}")),
                debtor_name: Some(format!("CLIENT {i}")),
                remittance: Some(format!("FACTURE VT2026_{i:06}")),
                ..Default::default()
            })
            .collect(),
    };
    let xml = bank::write::camt053_string(&spec).unwrap();
    assert!(xml.len() > 200_000);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.camt053.xml");
    std::fs::write(&big, &xml).unwrap();
    let demo = demo_dir().join("bank/releve-2026-06.camt053.xml");
    let out = relance()
        .arg("inspect")
        .arg(&big)
        .arg(&demo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, path) in [&big, &demo].into_iter().enumerate() {
        let name = path.display().to_string();
        let whole = bank::parse(&name, &std::fs::read(path).unwrap());
        assert_eq!(v[i], bank::inspect_json(&whole), "{name}");
    }
    assert_eq!(
        v[0]["statements"][0]["entries"].as_array().unwrap().len(),
        800
    );
}

#[test]
fn dunning_plan_offline_prints_the_plan_contract() {
    let d = demo_dir();
    let out = relance()
        .args(["dunning", "plan", "--date", "2026-06-30", "--invoices"])
        .arg(d.join("invoices"))
        .arg("--bank")
        .arg(d.join("bank/releve-2026-06.camt053.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = v["actions"].as_array().unwrap();
    assert!(!actions.is_empty(), "{v}");
    for a in actions {
        for k in ["customer", "stage", "channel", "invoices", "reason"] {
            assert!(a.get(k).is_some(), "action without {k}: {a}");
        }
        for i in a["invoices"].as_array().unwrap() {
            for k in [
                "invoice",
                "amount_due",
                "days_overdue",
                "penalty",
                "indemnity",
                "rate_source",
            ] {
                assert!(i.get(k).is_some(), "invoice line without {k}: {i}");
            }
        }
    }
    // Paid in full on the statement: FA-2026-0101 is never reminded.
    let all: Vec<&Value> = actions
        .iter()
        .flat_map(|a| a["invoices"].as_array().unwrap())
        .collect();
    assert!(!all.iter().any(|i| i["invoice"] == "FA-2026-0101"), "{v}");
    assert!(v.get("held").is_some());
}

#[test]
fn inspect_deep_adds_the_en16931_rule_set() {
    // A tax category outside UNCL 5305: relance's own import checks let it through, the full
    // EN 16931 rule set names the code-list rules it breaks.
    let text = std::fs::read_to_string(demo_dir().join("invoices/FA-2026-0101.xml"))
        .unwrap()
        .replace("CategoryCode>S<", "CategoryCode>Q<");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad-category.xml");
    std::fs::write(&file, text).unwrap();
    let rules = |deep: bool| -> Vec<String> {
        let mut cmd = relance();
        cmd.arg("inspect");
        if deep {
            cmd.arg("--deep");
        }
        let out = cmd.arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["rule"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(!rules(false).iter().any(|r| r == "BR-CL-18"));
    let deep = rules(true);
    assert!(deep.iter().any(|r| r == "BR-CL-18"), "{deep:?}");
}
