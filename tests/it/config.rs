//! `relance check-config`: the shipped example passes; every error names its file, key and
//! line; all errors of all files are reported together; secrets are never printed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

fn relance() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relance"));
    // Nothing from the caller's environment leaks into the test.
    c.env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .env_remove("RELANCE_CONFIG")
        .env_remove("RUST_LOG");
    c
}

/// Runs check-config on `dir`; returns (success, stdout + stderr).
fn check(dir: &Path, env: &[(&str, &Path)]) -> (bool, String) {
    let mut c = relance();
    c.arg("check-config").arg("--config").arg(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run relance");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A configuration directory with `relance.toml` and the given company files.
fn config_dir(companies: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("relance.toml"),
        "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\napi = { listen = \"127.0.0.1:0\" }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("companies.d")).unwrap();
    for (name, text) in companies {
        std::fs::write(dir.path().join("companies.d").join(name), text).unwrap();
    }
    dir
}

const GOOD: &str = r#"version = 1
id = "alpha"
name = "Alpha SAS"
siren = "732829320"
poll_interval_secs = 60

[[sources]]
type = "bank_dir"
name = "bank"
path = "inbox/alpha/bank"
"#;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_example_configuration_is_valid() {
    // The example refers to its secrets as systemd credentials: provide them as systemd would.
    let creds = tempfile::tempdir().unwrap();
    for name in [
        "relance_smtp-acme",
        "relance_tryton-dupont",
        "relance_pennylane-martin",
        "relance_odoo-lefebvre",
        "relance_dolibarr-petit",
        "relance_pa-petit",
    ] {
        std::fs::write(creds.path().join(name), "not-a-real-password\n").unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let (ok, text) = check(
        &workspace().join("config"),
        &[
            ("CREDENTIALS_DIRECTORY", creds.path()),
            ("STATE_DIRECTORY", state.path()),
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("company acme"), "{text}");
    assert!(text.contains("company dupont"), "{text}");
    for (company, wb) in [
        ("martin", "write-back pennylane via pennylane"),
        ("lefebvre", "write-back odoo via odoo"),
        ("petit", "write-back dolibarr via dolibarr"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("company {company} ")) && l.contains(wb)),
            "{text}"
        );
    }
    assert!(text.contains("is valid: 5 companies"), "{text}");
    assert!(!text.contains("not-a-real-password"), "{text}");
}

/// Copies a directory tree (files and folders only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn shipped_example_is_valid_outside_systemd_from_its_credentials_folder() {
    // `relance check-config --config config/` from a shell, as the README says.
    let state = tempfile::tempdir().unwrap();
    let (ok, text) = check(
        &workspace().join("config"),
        &[("STATE_DIRECTORY", state.path())],
    );
    assert!(ok, "{text}");
    assert!(text.contains("is valid: 5 companies"), "{text}");
    assert!(
        !text.contains("replace-with-the"),
        "a secret was printed: {text}"
    );
}

#[test]
fn example_without_credentials_names_each_missing_credential() {
    let state = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    copy_tree(&workspace().join("config"), conf.path());
    std::fs::remove_dir_all(conf.path().join("credentials")).unwrap();
    let (ok, text) = check(conf.path(), &[("STATE_DIRECTORY", state.path())]);
    assert!(!ok, "{text}");
    // The line each reference is written on, found in the shipped files themselves.
    let line_of = |file: &str, needle: &str| {
        let text =
            std::fs::read_to_string(workspace().join("config/companies.d").join(file)).unwrap();
        text.lines().position(|l| l.starts_with(needle)).unwrap() + 1
    };
    let acme = line_of("acme.toml", "password_file = \"cred:relance_smtp-acme\"");
    let dupont = line_of(
        "dupont.toml",
        "password_file = \"cred:relance_tryton-dupont\"",
    );
    let want_acme = format!(
        "acme.toml: line {acme}, column 1: mail.password_file: credential \"relance_smtp-acme\": $CREDENTIALS_DIRECTORY is not set"
    );
    let want_dupont =
        format!("dupont.toml: line {dupont}, column 1: sources[0].tryton.password_file");
    assert!(text.contains(&want_acme), "{text}");
    assert!(text.contains(&want_dupont), "{text}");
    assert!(text.contains("credentials/smtp-acme"), "{text}");
    for (file, needle, key) in [
        (
            "martin.toml",
            "token_file = ",
            "sources[0].pennylane.token_file",
        ),
        (
            "lefebvre.toml",
            "api_key_file = ",
            "sources[0].odoo.api_key_file",
        ),
        (
            "petit.toml",
            "api_key_file = ",
            "sources[0].dolibarr.api_key_file",
        ),
        (
            "petit.toml",
            "client_secret_file = ",
            "sources[2].pa.client_secret_file",
        ),
    ] {
        let want = format!("{file}: line {}, column 1: {key}", line_of(file, needle));
        assert!(text.contains(&want), "{want}\n{text}");
    }
    assert!(text.contains("6 errors in 5 files"), "{text}");
}

#[test]
fn unknown_key_names_file_key_and_line() {
    let bad = GOOD.replace("poll_interval_secs = 60", "poll_interval_sec = 60");
    let dir = config_dir(&[("alpha.toml", &bad)]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("companies.d/alpha.toml: line 5, column 1: poll_interval_sec: unknown field `poll_interval_sec`, expected one of"),
        "{text}"
    );
    assert!(
        text.contains("1 error in 1 file: configuration refused"),
        "{text}"
    );
}

#[test]
fn unknown_key_inside_a_tagged_source_is_placed_exactly() {
    let bad =
        format!("{GOOD}\n[[sources]]\ntype = \"einvoice_inbox\"\nname = \"in\"\npaht = \"x\"\n");
    let dir = config_dir(&[("alpha.toml", &bad)]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("alpha.toml: line 15, column 1: sources[1].paht: unknown field `paht`, expected one of `name`, `path`, `settle_secs`"),
        "{text}"
    );
}

#[test]
fn wrong_type_names_file_key_and_line_without_the_value() {
    let bad = GOOD.replace("poll_interval_secs = 60", "poll_interval_secs = \"often\"");
    let dir = config_dir(&[("alpha.toml", &bad)]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("alpha.toml: line 5, column 1: poll_interval_secs: invalid type: string (value not shown), expected u64"),
        "{text}"
    );
    assert!(!text.contains("often"), "{text}");
}

#[test]
fn missing_credential_file_names_file_key_and_line() {
    let bad = format!(
        "{GOOD}\n[mail]\nhost = \"smtp.example.org\"\nusername = \"relance\"\npassword_file = \"secrets/smtp.pw\"\nfrom = \"compta@alpha.example\"\n"
    );
    let dir = config_dir(&[("alpha.toml", &bad)]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("alpha.toml: line 15, column 1: mail.password_file: the file this key names does not exist"),
        "{text}"
    );
    // A *_file value naming nothing is never printed: it may be the secret itself.
    assert!(!text.contains("secrets/smtp.pw"), "{text}");
}

#[test]
fn a_secret_pasted_into_a_file_key_is_not_echoed() {
    let bad = format!(
        "{GOOD}\n[mail]\nhost = \"smtp.example.org\"\nusername = \"relance\"\npassword_file = \"inline/S3cr3t-Pasted-42\"\nfrom = \"compta@alpha.example\"\n"
    );
    let dir = config_dir(&[("alpha.toml", &bad)]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("mail.password_file"), "{text}");
    assert!(
        !text.contains("S3cr3t"),
        "the pasted secret is echoed: {text}"
    );
}

#[test]
fn three_wrong_types_in_one_file_are_all_reported() {
    let bad = GOOD
        .replace("poll_interval_secs = 60", "poll_interval_secs = \"often\"")
        .replace("siren = \"732829320\"", "siren = 732829320")
        .replace(
            "path = \"inbox/alpha/bank\"",
            "path = \"inbox/alpha/bank\"\nsettle_secs = \"soon\"",
        );
    let dir = config_dir(&[("alpha.toml", &bad)]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    for key in ["siren", "poll_interval_secs", "sources[0].settle_secs"] {
        assert!(
            text.contains(&format!(": {key}: invalid type")),
            "{key} not reported:\n{text}"
        );
    }
    assert!(text.contains("3 errors in 1 file"), "{text}");
}

#[test]
fn all_errors_of_all_files_are_reported_together() {
    let unknown = GOOD.replace("poll_interval_secs = 60", "poll_interval_sec = 60");
    let zero = GOOD.replace("poll_interval_secs = 60", "poll_interval_secs = 0");
    let dup = GOOD.replace("inbox/alpha/bank", "inbox/other/bank");
    let dir = config_dir(&[("a.toml", &unknown), ("b.toml", &zero), ("c.toml", &dup)]);
    std::fs::write(
        dir.path().join("relance.toml"),
        "version = 1\nlisten = \"0.0.0.0:9187\"\nstate_dir = \"state\"\n",
    )
    .unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    for want in [
        "relance.toml: line 2, column 1: listen: 0.0.0.0:9187 is not a loopback address",
        "a.toml: line 5, column 1: poll_interval_sec: unknown field",
        "b.toml: line 5, column 1: poll_interval_secs: must be at least 1, found 0",
        "c.toml: line 2, column 1: id: company id \"alpha\" is already used by",
        "4 errors in 4 files: configuration refused",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn a_secret_never_appears_in_the_output() {
    const SECRET: &str = "Sup3r-Secret-Value-42";
    let dir = config_dir(&[]);
    std::fs::write(dir.path().join("smtp.pw"), format!("{SECRET}\n")).unwrap();
    // A password sent in clear (refused), a password pasted into the wrong keys (refused),
    // a valid reference to the secret file: none of it may print the secret.
    let a = format!(
        "{GOOD}\n[mail]\nhost = \"relay.example.org\"\nsecurity = \"plain\"\nusername = \"relance\"\npassword_file = \"smtp.pw\"\nfrom = \"compta@alpha.example\"\n"
    );
    let b = GOOD
        .replace("\"alpha\"", "\"beta\"")
        .replace("inbox/alpha", "inbox/beta")
        .replace(
            "poll_interval_secs = 60",
            &format!("poll_interval_secs = \"{SECRET}\""),
        );
    let c = format!(
        "version = 1\nid = \"gamma\"\nname = \"G\"\n[[sources]]\ntype = \"tryton\"\nname = \"erp\"\n[sources.tryton]\nurl = \"http://127.0.0.1:8000\"\ndatabase = \"d\"\nuser = \"u\"\npassword = \"{SECRET}\"\npassword_file = \"smtp.pw\"\n"
    );
    for (name, text) in [("a.toml", a), ("b.toml", b), ("c.toml", c)] {
        std::fs::write(dir.path().join("companies.d").join(name), text).unwrap();
    }
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("mail.security: a password is configured with security = \"plain\""),
        "{text}"
    );
    assert!(
        text.contains("b.toml: line 5, column 1: poll_interval_secs"),
        "{text}"
    );
    assert!(
        text.contains("c.toml: line 11, column 1: sources[0].tryton.password: unknown field"),
        "{text}"
    );
    assert!(!text.contains(SECRET), "the secret leaked:\n{text}");
}

#[test]
fn credentials_resolve_from_the_credentials_directory() {
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("relance_smtp-alpha"), "pw\n").unwrap();
    let text = format!(
        "{GOOD}\n[mail]\nhost = \"smtp.example.org\"\nusername = \"relance\"\npassword_file = \"cred:relance_smtp-alpha\"\nfrom = \"compta@alpha.example\"\n"
    );
    let dir = config_dir(&[("alpha.toml", &text)]);
    let (ok, out) = check(dir.path(), &[("CREDENTIALS_DIRECTORY", creds.path())]);
    assert!(ok, "{out}");
    // Outside systemd: the unit's credentials folder under the configuration, absent here.
    let (ok, out) = check(dir.path(), &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("$CREDENTIALS_DIRECTORY is not set") && out.contains("credentials/smtp-alpha"),
        "{out}"
    );
    // ... and found once it is there.
    std::fs::create_dir(dir.path().join("credentials")).unwrap();
    std::fs::write(dir.path().join("credentials/smtp-alpha"), "pw\n").unwrap();
    let (ok, out) = check(dir.path(), &[]);
    assert!(ok, "{out}");
    // A credential not named after the unit's folder still needs systemd.
    let other = text.replace("cred:relance_smtp-alpha", "cred:smtp-alpha");
    let dir = config_dir(&[("alpha.toml", &other)]);
    let (ok, out) = check(dir.path(), &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("needs $CREDENTIALS_DIRECTORY"), "{out}");
}

/// A company of each system of record, every mistake at once: each is named by file, key and
/// line, and no secret is printed.
#[test]
fn pennylane_odoo_and_dolibarr_mistakes_name_file_key_and_line() {
    let penny = r#"version = 1
id = "pl"
name = "Pennylane SAS"

[[sources]]
type = "pennylane"
name = "pl"

[sources.pennylane]
token_file = "secrets/pl-token"
page_size = 500
timeout_seconds = 0

[writeback]
type = "pennylane"
source = "odoo"
"#;
    let odoo = r#"version = 1
id = "od"
name = "Odoo SA"

[[sources]]
type = "odoo"
name = "erp"

[sources.odoo]
url = "ftp://erp.example"
database = ""
api_key_file = "secrets/odoo-key"

[writeback]
type = "odoo"
source = "erp"

[writeback.odoo]
dispute_tag = "Litige"
dispute_field = "x_litige"
"#;
    let doli = r#"version = 1
id = "do"
name = "Dolibarr SARL"

[[sources]]
type = "dolibarr"
name = "doli"

[sources.dolibarr]
url = "https://gestion.example/api/index.php"
api_key_file = "secrets/doli-key"

[writeback]
type = "dolibarr"
source = "doli"

[writeback.dolibarr]
bank_account_id = 3
"#;
    // a schema error stops the other checks of its file, not of the others
    let typo = r#"version = 1
id = "dt"
name = "Typo SARL"

[[sources]]
type = "dolibarr"
name = "doli"

[sources.dolibarr]
url = "https://gestion.example/api/index.php"
api_key_file = "secrets/doli-key"
colour = "blue"
"#;
    let dir = config_dir(&[
        ("pl.toml", penny),
        ("od.toml", odoo),
        ("do.toml", doli),
        ("dt.toml", typo),
    ]);
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/doli-key"),
        "doli-key-value-never-printed\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets/pl-token"),
        "pl-token-value-never-printed\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets/odoo-key"),
        "odoo-key-value-never-printed\n",
    )
    .unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    for want in [
        "pl.toml: line 11, column 1: sources[0].pennylane.page_size: 500 is out of range, expected 1 to 100",
        "pl.toml: line 12, column 1: sources[0].pennylane.timeout_seconds: must be at least 1",
        "pl.toml: line 16, column 1: writeback.source: source \"odoo\" is not a pennylane source of this company",
        "od.toml: line 10, column 1: sources[0].odoo.url: URL \"ftp://erp.example\" is not usable",
        "od.toml: line 11, column 1: sources[0].odoo.database: must not be empty",
        // an absent key is placed at its table
        "od.toml: line 9, column 10: sources[0].odoo.login: must not be empty",
        "od.toml: line 20, column 1: writeback.odoo.dispute_field: set dispute_tag or dispute_field, not both",
        "do.toml: line 17, column 12: writeback.dolibarr.payment_mode_id: bank_account_id and payment_mode_id go together",
        "dt.toml: line 12, column 1: sources[0].dolibarr.colour: unknown field `colour`",
        "9 errors in 4 files",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("never-printed"), "{text}");
}

/// `pa` and `chorus_pro` sources: their mistakes named by file, key and line, the secret never printed; a good
/// one is accepted.
#[test]
fn pa_mistakes_name_file_key_and_line() {
    let bad = r#"version = 1
id = "pa"
name = "Plateforme SAS"

[[sources]]
type = "pa"
name = "pa"

[sources.pa]
url = "ftp://pa.example"
token_url = "https://auth.pa.example/oauth/token"
client_id = ""
client_secret_file = "secrets/pa-secret"
page_size = 500
profile = "superpdp"
seller_siren = "123456789"
"#;
    let good = r#"version = 1
id = "pg"
name = "Plateforme bonne SAS"

[[sources]]
type = "pa"
name = "pa"

[sources.pa]
url = "https://pa.example/flow-service"
token_url = "https://auth.pa.example/oauth/token"
client_id = "relance"
client_secret_file = "secrets/pa-secret"
seller_siren = "732829320"
"#;
    let cpro = r#"version = 1
id = "cp"
name = "Fournisseur public SAS"

[[sources]]
type = "chorus_pro"
name = "cpro"

[sources.chorus_pro]
url = "https://sandbox-api.piste.gouv.fr"
token_url = "https://sandbox-oauth.piste.gouv.fr/api/oauth/token"
client_id = "app"
client_secret_file = "secrets/pa-secret"
account_file = "secrets/missing-account"
supplier_id = 0
public_payment_days = 90
"#;
    let dir = config_dir(&[("pa.toml", bad), ("pg.toml", good), ("cp.toml", cpro)]);
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/pa-secret"),
        "pa-secret-value-never-printed\n",
    )
    .unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    for want in [
        "pa.toml: line 10, column 1: sources[0].pa.url: URL \"ftp://pa.example\" is not usable",
        "pa.toml: line 12, column 1: sources[0].pa.client_id: must not be empty",
        "pa.toml: line 14, column 1: sources[0].pa.page_size: 500 is out of range",
        "sources[0].pa.superpdp_url: must not be empty",
        "pa.toml: line 16, column 1: sources[0].pa.seller_siren: 123456789 is out of range",
        "cp.toml: line 14, column 1: sources[0].chorus_pro.account_file:",
        "cp.toml: line 15, column 1: sources[0].chorus_pro.supplier_id: 0 is out of range",
        "cp.toml: line 16, column 1: sources[0].chorus_pro.public_payment_days: 90 is out of range",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.lines().any(|l| l.contains("pg.toml")), "{text}");
    assert!(!text.contains("never-printed"), "{text}");
    let dir = config_dir(&[("pg.toml", good)]);
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/pa-secret"), "x-secret-value\n").unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
}

#[test]
fn dolibarr_secret_and_offset_errors_are_placed() {
    let doli = r#"version = 1
id = "do"
name = "Dolibarr SARL"

[[sources]]
type = "dolibarr"
name = "doli"

[sources.dolibarr]
url = "http://gestion.example/"
api_key_file = "secrets/missing"
server_utc_offset_minutes = 5000
"#;
    let dir = config_dir(&[("do.toml", doli)]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    for want in [
        "do.toml: line 11, column 1: sources[0].dolibarr.api_key_file: the file this key names does not exist",
        "do.toml: line 12, column 1: sources[0].dolibarr.server_utc_offset_minutes: 5000 is out of range",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // fixed, the plain-http URL and its path are only warnings
    let fixed = doli.replace("secrets/missing", "key").replace("5000", "60");
    let dir = config_dir(&[("do.toml", &fixed)]);
    std::fs::write(dir.path().join("key"), "k3y-value\n").unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("sources[0].dolibarr.url: plain http to a remote host"),
        "{text}"
    );
    assert!(text.contains("…/api/index.php"), "{text}");
}

/// `qonto` sources: the type is accepted; its mistakes are named by file, key and line, the
/// secrets never printed.
#[test]
fn qonto_sources_are_checked_with_file_key_and_line() {
    let good = r#"version = 1
id = "qg"
name = "Banque bonne SAS"

[[sources]]
type = "qonto"
name = "qonto"

[sources.qonto]
client_id = "relance-app"
client_secret_file = "secrets/qonto-secret"
refresh_token_file = "secrets/qonto-refresh"
ibans = ["FR76 1695 8000 0101 2345 6789 012"]
"#;
    let bad = r#"version = 1
id = "qb"
name = "Banque SAS"

[[sources]]
type = "qonto"
name = "qonto"

[sources.qonto]
url = "ftp://thirdparty.qonto.example"
client_id = ""
client_secret_file = "secrets/qonto-secret"
refresh_token_file = "secrets/missing-refresh"
page_size = 250
ibans = ["not an iban"]
"#;
    let unknown = r#"version = 1
id = "qu"
name = "Banque inconnue SAS"

[[sources]]
type = "qonto"
name = "qonto"

[sources.qonto]
client_id = "relance-app"
client_secret_file = "secrets/qonto-secret"
refresh_token_file = "secrets/qonto-refresh"
api_key = "pasted"
"#;
    let dir = config_dir(&[("qb.toml", bad), ("qg.toml", good), ("qu.toml", unknown)]);
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/qonto-secret"),
        "qonto-secret-value-never-printed\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets/qonto-refresh"),
        "qonto-refresh-never-printed\n",
    )
    .unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    for want in [
        "qb.toml: line 10, column 1: sources[0].qonto.url: URL \"ftp://thirdparty.qonto.example\" is not usable",
        "qb.toml: line 11, column 1: sources[0].qonto.client_id: must not be empty",
        "qb.toml: line 13, column 1: sources[0].qonto.refresh_token_file:",
        "qb.toml: line 14, column 1: sources[0].qonto.page_size: 250 is out of range",
        "qb.toml: line 15, column 1: sources[0].qonto.ibans: not an iban is out of range",
        "qu.toml: line 13, column 1: sources[0].qonto.api_key",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.lines().any(|l| l.contains("qg.toml")), "{text}");
    assert!(!text.contains("never-printed"), "{text}");
    let dir = config_dir(&[("qg.toml", good)]);
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/qonto-secret"), "s\n").unwrap();
    std::fs::write(dir.path().join("secrets/qonto-refresh"), "r\n").unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
}
