//! E-mail delivery against a real SMTP server on 127.0.0.1 (aiosmtpd, `tests/smtp/smtp_sink.py`):
//! the message as received (recipient, subject, French body, PDF attachment), exactly-once
//! per idempotency key across restarts, and no duplicate after a kill during the transaction.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_connectors::contract::{IdempotencyKey, WriteBack, WriteCommand};
use relance_connectors::formats::letter::{render_pdf, Letter};
use relance_connectors::systems::smtp::{LogState, Security, SmtpConfig, SmtpMailer};
use relance_connectors::ConnectorError;
use std::time::Duration;

use relance_testkit::smtp::Sink;
use std::process::Command;

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::Plain,
        from: "ACME Recouvrement <compta@acme.example>".into(),
        reply_to: None,
        username: None,
        hello_name: Some("relance.test".into()),
        timeout_secs: 10,
        resend_ambiguous: false,
    }
}

fn reminder() -> WriteCommand {
    let letter = Letter {
        sender: vec!["ACME Outillage SAS".into(), "12 rue des Forges".into(), "69007 Lyon".into()],
        recipient: vec!["Établissements Hérault & Fils".into()],
        registered: true,
        place_date: "Lyon, le 02/03/2026".into(),
        subject: "Mise en demeure de payer – 6 231,10 €".into(),
        body: "Madame, Monsieur,\n\nPar la présente, nous vous mettons en demeure de régler 6 231,10 €.".into(),
        footer: vec!["ACME Outillage SAS – SIREN 732829320".into()],
        title: "Mise en demeure".into(),
    };
    WriteCommand::SendEmail {
        to: vec!["compta@herault-fils.example".into()],
        subject: "ACME Outillage SAS – relance : factures impayées (6 231,10 €)".into(),
        body: "Madame, Monsieur,\n\nMalgré notre précédent rappel, la facture FA-2026-0007 reste impayée ; pénalités de retard au 02/03/2026 : 79,89 €, indemnité forfaitaire : 40,00 €.\n".into(),
        attachments: vec![("mise-en-demeure-FA-2026-0007.pdf".into(), render_pdf(&letter).unwrap())],
    }
}

#[tokio::test]
async fn sends_a_french_reminder_with_its_pdf() {
    let Some(sink) = Sink::start(&[]) else { return };
    let state = tempfile::tempdir().unwrap();
    let mailer = SmtpMailer::new(&config(sink.port), None, state.path().join("sent.log")).unwrap();
    let key = IdempotencyKey::derive("acme", "dunning", &["C1", "stage=2"]);
    let r = mailer.apply(&key, &reminder()).await.unwrap();
    assert_eq!(r.0, format!("<{}@acme.example>", key.as_str()));
    assert_eq!(sink.messages().len(), 1);
    let m = sink.summary(1);
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["compta@herault-fils.example"])
    );
    assert_eq!(m["to"], "compta@herault-fils.example");
    assert!(m["from"].as_str().unwrap().contains("compta@acme.example"));
    assert_eq!(
        m["subject"],
        "ACME Outillage SAS – relance : factures impayées (6 231,10 €)"
    );
    assert_eq!(m["message_id"], r.0);
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("Malgré notre précédent rappel"), "{body}");
    assert!(
        body.contains("pénalités de retard au 02/03/2026 : 79,89 €"),
        "{body}"
    );
    let att = &m["attachments"][0];
    assert_eq!(att["filename"], "mise-en-demeure-FA-2026-0007.pdf");
    assert_eq!(att["content_type"], "application/pdf");
    let pdf = std::fs::read(sink.dir().join("1-mise-en-demeure-FA-2026-0007.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    if Command::new("pdftotext").arg("-v").output().is_ok() {
        let out = Command::new("pdftotext")
            .arg(sink.dir().join("1-mise-en-demeure-FA-2026-0007.pdf"))
            .arg("-")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Établissements Hérault & Fils"), "{text}");
        assert!(
            text.contains("Lettre recommandée avec accusé de réception"),
            "{text}"
        );
    } else {
        relance_connectors::testkit::skip_peer("pdftotext not found; attachment text not checked");
    }
    assert_eq!(
        mailer.log().get(key.as_str()),
        Some(LogState::Sent {
            message_id: r.0.clone()
        })
    );
}

#[tokio::test]
async fn same_key_is_sent_once_even_after_a_restart() {
    let Some(sink) = Sink::start(&[]) else { return };
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("sent.log");
    let key = IdempotencyKey::derive("acme", "dunning", &["C1", "stage=1"]);
    let first = SmtpMailer::new(&config(sink.port), None, &log).unwrap();
    let r1 = first.apply(&key, &reminder()).await.unwrap();
    let r2 = first.apply(&key, &reminder()).await.unwrap();
    assert_eq!(r1, r2);
    drop(first);
    // Restart: a new mailer reads the sent-log.
    let second = SmtpMailer::new(&config(sink.port), None, &log).unwrap();
    assert_eq!(second.find_applied(&key).await.unwrap(), Some(r1.clone()));
    assert_eq!(second.apply(&key, &reminder()).await.unwrap(), r1);
    assert_eq!(sink.messages().len(), 1, "one message for one key");
    // Another key is another message.
    let other = IdempotencyKey::derive("acme", "dunning", &["C2", "stage=1"]);
    second.apply(&other, &reminder()).await.unwrap();
    assert_eq!(sink.messages().len(), 2);
}

/// The sender is killed after the server has the message but before it answered 250: the
/// sent-log says `pending`. After the restart, re-delivery of the same key does not send a
/// second message; it reports the ambiguity with the Message-ID to look up.
#[tokio::test]
async fn kill_during_sending_sends_no_duplicate() {
    let Some(sink) = Sink::start(&["--delay-data-reply", "30"]) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("sent.log");
    let key = IdempotencyKey::derive("acme", "dunning", &["C1", "stage=3"]);
    let cfg = config(sink.port);
    let log2 = log.clone();
    let task = tokio::spawn(async move {
        let m = SmtpMailer::new(&cfg, None, &log2).unwrap();
        m.apply(&key, &reminder()).await
    });
    let mut waited = 0;
    while sink.messages().is_empty() {
        assert!(waited < 200, "the sink never received the message");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    task.abort(); // the "kill": the future is dropped mid-transaction
    assert!(task.await.unwrap_err().is_cancelled());

    let key = IdempotencyKey::derive("acme", "dunning", &["C1", "stage=3"]);
    let restarted = SmtpMailer::new(&config(sink.port), None, &log).unwrap();
    let mid = format!("<{}@acme.example>", key.as_str());
    assert_eq!(
        restarted.log().get(key.as_str()),
        Some(LogState::Pending {
            message_id: mid.clone()
        })
    );
    let err = restarted.apply(&key, &reminder()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err}");
    assert!(err.to_string().contains(&mid), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "no second message");
    // The message that did arrive carries the key: a person can confirm it was delivered.
    assert_eq!(sink.summary(1)["message_id"], mid);
}

/// Server unreachable: a transient error, and the key is not left ambiguous — the retry later
/// sends the message once.
#[tokio::test]
async fn server_down_is_transient_and_retry_sends() {
    let Some(sink) = Sink::start(&[]) else { return };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("sent.log");
    let key = IdempotencyKey::derive("acme", "dunning", &["C1", "stage=2", "retry"]);
    let down = SmtpMailer::new(&config(closed), None, &log).unwrap();
    let err = down.apply(&key, &reminder()).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(down.log().get(key.as_str()), None);
    let up = SmtpMailer::new(&config(sink.port), None, &log).unwrap();
    up.apply(&key, &reminder()).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn configuration_errors_are_clear() {
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(25);
    cfg.from = "not an address".into();
    let e = SmtpMailer::new(&cfg, None, state.path().join("l")).unwrap_err();
    assert!(e.to_string().contains("mail.from"), "{e}");
    let mut cfg = config(25);
    cfg.username = Some("relance".into());
    let e = SmtpMailer::new(&cfg, None, state.path().join("l")).unwrap_err();
    assert!(e.to_string().contains("password"), "{e}");
    // The password itself never appears in errors or Debug output.
    let m = SmtpMailer::new(&cfg, Some("s3cr3t\n"), state.path().join("l")).unwrap();
    assert!(!format!("{m:?}").contains("s3cr3t"));
}

/// The dunning engine's keys (core, no connector dependency) are built exactly as the
/// outbox's `IdempotencyKey::derive`, so either side can recompute the other's key.
#[test]
fn dunning_keys_match_the_outbox_key_construction() {
    use chrono::NaiveDate;
    use relance_core::dunning::plan::action_key;
    use relance_core::dunning::Stage;
    use relance_core::{CompanyId, CustomerId, InvoiceId};
    let bucket = NaiveDate::from_ymd_opt(2026, 2, 25).unwrap();
    let (a, b) = (InvoiceId::new("FA-2"), InvoiceId::new("FA-1"));
    let core = action_key(
        &CompanyId::new("acme"),
        &CustomerId::new("C1"),
        Stage::Formelle,
        0,
        bucket,
        &[&a, &b],
    );
    let outbox = IdempotencyKey::derive(
        "acme",
        "dunning",
        &[
            "C1",
            "stage=2",
            "step=0",
            "bucket=2026-02-25",
            "FA-1",
            "FA-2",
        ],
    );
    assert_eq!(core, outbox.0);
}

/// The SMTP target passes the connectors' compliance suite against the real server: applied
/// once under retries and after a restart, a refused mailbox (550) is Permanent and not
/// marked sent, nothing secret in logs or errors.
#[tokio::test]
async fn smtp_passes_the_compliance_suite() {
    use relance_testkit::compliance::{self, Fault, WriteBackHarness};
    struct H {
        sink: Sink,
        state: tempfile::TempDir,
    }
    impl WriteBackHarness for H {
        type Target = SmtpMailer;
        async fn target(&self) -> Result<SmtpMailer, ConnectorError> {
            SmtpMailer::new(
                &config(self.sink.port),
                None,
                self.state.path().join("sent.log"),
            )
        }
        async fn target_with_bad_credentials(&self) -> Option<Result<SmtpMailer, ConnectorError>> {
            None // the test server takes no AUTH
        }
        fn secrets(&self) -> Vec<String> {
            Vec::new()
        }
        fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)> {
            vec![(
                IdempotencyKey::derive("acme", "dunning", &["C1", "compliance"]),
                reminder(),
            )]
        }
        fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
            let WriteCommand::SendEmail {
                subject,
                body,
                attachments,
                ..
            } = reminder()
            else {
                return None;
            };
            Some((
                IdempotencyKey::derive("acme", "dunning", &["C9", "refused"]),
                WriteCommand::SendEmail {
                    to: vec!["refused@herault-fils.example".into()],
                    subject,
                    body,
                    attachments,
                },
            ))
        }
        async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
            Ok(self
                .sink
                .messages()
                .iter()
                .filter(|m| {
                    std::fs::read_to_string(m)
                        .unwrap_or_default()
                        .contains(key.as_str())
                })
                .count())
        }
        fn inject(&self, _: Fault) -> bool {
            false
        }
    }
    let Some(sink) = Sink::start(&[]) else { return };
    let h = H {
        sink,
        state: tempfile::tempdir().unwrap(),
    };
    let report = compliance::writeback_suite(&h)
        .await
        .unwrap_or_else(|e| panic!("smtp compliance: {e}"));
    eprintln!("SMTP compliance:\n{report}");
    assert!(
        report.passed.iter().any(|p| p.contains("Permanent")),
        "{report}"
    );
}
