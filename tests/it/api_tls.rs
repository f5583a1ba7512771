//! `[api.tls]`: the API served over HTTPS directly (rustls), with a certificate made by
//! openssl for 127.0.0.1 and checked by curl against it; a non-loopback address without TLS
//! is refused by the configuration, naming the file and the key.

use std::process::Command;

fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
        || Command::new(tool)
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !ok {
        relance_connectors::testkit::skip_peer(&format!(
            "{tool} is not installed; the HTTPS listener was not checked"
        ));
    }
    ok
}

#[test]
fn the_api_serves_https_with_the_configured_certificate() {
    if !have("openssl") || !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("api.crt"), dir.path().join("api.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    super::api_support::write_config(dir.path());
    let toml = std::fs::read_to_string(dir.path().join("relance.toml")).unwrap();
    std::fs::write(
        dir.path().join("relance.toml"),
        format!("{toml}tls = {{ cert_file = \"api.crt\", key_file = \"api.key\" }}\n"),
    )
    .unwrap();
    let d = super::api_support::Daemon::start_in(dir);
    assert!(d.log().contains("tls=true"), "{}", d.log());
    let https = |extra: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "--cacert"])
            .arg(&cert)
            .args(extra)
            .arg(format!("https://{}/api/v1/openapi.json", d.api))
            .output()
            .unwrap()
    };
    let ok = https(&[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(doc["paths"].is_object());
    // Plain HTTP on the TLS port gets no answer.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("http://{}/api/v1/openapi.json", d.api))
        .output()
        .unwrap();
    assert!(!plain.status.success() || plain.stdout.is_empty());
}

#[test]
fn a_public_address_without_tls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    super::api_support::write_config(dir.path());
    let toml = std::fs::read_to_string(dir.path().join("relance.toml")).unwrap();
    std::fs::write(
        dir.path().join("relance.toml"),
        toml.replace(
            "[api]\nlisten = \"127.0.0.1:0\"",
            "[api]\nlisten = \"0.0.0.0:9443\"\nsocket_mode = \"0666\"",
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(["check-config", "--config"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("relance.toml: line 8"), "{err}");
    assert!(
        err.contains("api.listen: 0.0.0.0:9443 is not a loopback address"),
        "{err}"
    );
    assert!(err.contains("api.socket_mode"), "{err}");
}
