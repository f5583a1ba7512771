//! What a clumsy operator or a hostile sender does, through the real binary: relative
//! configuration paths, `sync --once`'s log and summary, a damaged store.

use relance_connectors::formats::einvoice::write;
use std::path::Path;
use std::process::{Command, Output};

fn relance() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
    c.env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .env_remove("RELANCE_CONFIG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG");
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A configuration in `dir/cfg` whose state is `dir/cfg/state`, with an e-invoice inbox and a
/// bank folder read at once (no settle time).
fn config(dir: &Path) {
    let cfg = dir.join("cfg");
    std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
    std::fs::write(
        cfg.join("relance.toml"),
        "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\napi = { listen = \"127.0.0.1:0\" }\nlog_format = \"text\"\n",
    )
    .unwrap();
    std::fs::write(
        cfg.join("companies.d/alpha.toml"),
        "version = 1\nid = \"alpha\"\nname = \"Alpha SAS\"\n\n\
         [[sources]]\ntype = \"einvoice_inbox\"\nname = \"invoices\"\npath = \"inbox/invoices\"\nsettle_secs = 0\n\n\
         [[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = \"inbox/bank\"\nsettle_secs = 0\n",
    )
    .unwrap();
}

#[test]
fn a_relative_config_dir_resolves_every_path_once() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let out = relance()
        .current_dir(dir.path())
        .args([
            "sync",
            "--once",
            "--date",
            "2026-03-02",
            "--config",
            "./cfg",
        ])
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    let state = dir.path().join("cfg/state");
    assert!(state.join("inbox/invoices").is_dir(), "{o}\n{e}");
    assert!(state.join("store").is_dir());
    assert!(
        !state.join("cfg").exists() && !dir.path().join("cfg/state/cfg/state").exists(),
        "paths resolved twice under the state directory"
    );
}

#[test]
fn sync_once_logs_to_stderr_and_names_each_quarantine_and_error() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let state = dir.path().join("cfg/state");
    let inbox = state.join("inbox/invoices");
    let bank = state.join("inbox/bank");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&bank).unwrap();
    std::fs::write(inbox.join("good.xml"), write::cii(&write::sample(1))).unwrap();
    let long = format!("{}.xml", "n".repeat(250));
    std::fs::write(inbox.join(&long), "<Invoice").unwrap();
    // The bank folder's done/ is a link out of the state directory: the folder is refused.
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, bank.join("done")).unwrap();
    let out = relance()
        .env("RUST_LOG", "debug")
        .args(["sync", "--once", "--date", "2026-03-02", "--config"])
        .arg(dir.path().join("cfg"))
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(
        !out.status.success(),
        "a source error fails the run:\n{o}\n{e}"
    );
    assert!(
        e.contains("DEBUG") || e.contains("debug"),
        "no log on stderr:\n{e}"
    );
    assert!(o.contains(&format!("invoices quarantined {long}")), "{o}");
    assert!(
        o.contains("bank error:") && o.contains("symbolic link"),
        "{o}"
    );
    // The quarantined file keeps its reason, under a name short enough to exist.
    let reasons = std::fs::read_dir(inbox.join("quarantine"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".reason.txt")
        })
        .count();
    assert_eq!(reasons, 1);
    assert!(inbox.join("done/good.xml").exists());
}

#[test]
fn a_damaged_store_is_refused_with_its_path_and_store_check_says_so() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path());
    let cfg = dir.path().join("cfg");
    let inbox = cfg.join("state/inbox/invoices");
    std::fs::create_dir_all(&inbox).unwrap();
    for i in 0..30 {
        std::fs::write(
            inbox.join(format!("f{i}.xml")),
            write::cii(&write::sample(i)),
        )
        .unwrap();
    }
    let sync = || {
        relance()
            .args(["sync", "--once", "--date", "2026-03-02", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let out = sync();
    assert!(out.status.success(), "{:?}", text(&out));
    let check = || {
        relance()
            .args(["store", "check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let out = check();
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("alpha: ") && o.contains("30 invoices"), "{o}");
    // Cut the database file short (what a full disk or a bad copy leaves).
    let db = cfg.join("state/store/db");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(1000)
        .unwrap();
    for out in [check(), sync()] {
        let (o, e) = text(&out);
        assert!(!out.status.success(), "{o}\n{e}");
        assert!(!e.contains("panicked"), "{e}");
        assert!(e.contains("is damaged") && e.contains("restore"), "{e}");
        assert!(
            e.contains(&cfg.join("state/store").display().to_string()),
            "{e}"
        );
    }
}
