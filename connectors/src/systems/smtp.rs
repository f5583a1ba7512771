//! SMTP delivery of reminders (lettre): STARTTLS, implicit TLS, or plain for local tests.
//!
//! Implements [`WriteBack`] for [`WriteCommand::SendEmail`] exactly once per idempotency key:
//!
//! * the key is the message's `Message-ID` (`<key@sender-domain>`), so a copy that did go
//!   out is recognisable in any mailbox or archive;
//! * a local **sent-log** (append-only, fsynced) records `pending` before the SMTP
//!   transaction and `sent` after the server's 250, or `failed` when the server refused the
//!   message (nothing delivered, a retry is safe);
//! * a key found `sent` is not sent again ([`WriteBack::find_applied`] returns its
//!   Message-ID); a key left `pending` by a crash during the transaction is **ambiguous** —
//!   the server may have accepted it — and is not resent automatically: `apply` returns a
//!   permanent error naming the Message-ID so a person checks the mailbox (or the company
//!   sets `resend_ambiguous`). A reminder sent twice is worse than one held for a look.
//!
//! The password comes from a credential file read by the binary (`LoadCredential=`); it is
//! never logged and never part of an error message.

use crate::contract::{IdempotencyKey, RemoteRef, WriteBack, WriteCommand};
use crate::error::ConnectorError;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (submission, port 587). Required.
    Starttls,
    /// Implicit TLS (submissions, port 465).
    Tls,
    /// No encryption at all: only for a local test server.
    Plain,
}

/// SMTP settings of a company (`[mail]` in its configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Port (587 STARTTLS, 465 TLS).
    pub port: u16,
    /// Security.
    pub security: Security,
    /// Sender address, e.g. `"ACME Recouvrement <compta@acme.fr>"`.
    pub from: String,
    /// Reply-To, when replies should go elsewhere.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// User name for AUTH; the password comes from a credential file.
    #[serde(default)]
    pub username: Option<String>,
    /// Name sent in EHLO (default: the host's name).
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Timeout of each SMTP command, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Resend a key left `pending` by a crash (may duplicate); default false.
    #[serde(default)]
    pub resend_ambiguous: bool,
}

fn default_timeout() -> u64 {
    30
}

/// State of a key in the sent-log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogState {
    /// An SMTP transaction was started and its outcome is unknown.
    Pending {
        /// Message-ID used.
        message_id: String,
    },
    /// The server accepted the message.
    Sent {
        /// Message-ID used.
        message_id: String,
    },
    /// The server refused it: nothing was delivered.
    Failed,
}

/// The append-only sent-log: one line per event, `state<TAB>key<TAB>message-id`.
#[derive(Debug)]
pub struct SentLog {
    path: PathBuf,
    state: Mutex<HashMap<String, LogState>>,
}

impl SentLog {
    /// Opens (or creates) the log at `path` and loads its state.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, ConnectorError> {
        let path = path.into();
        let mut state = HashMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for line in text.lines() {
                    let mut f = line.split('\t');
                    let (Some(kind), Some(key)) = (f.next(), f.next()) else {
                        continue;
                    };
                    let mid = f.next().unwrap_or_default().to_owned();
                    let s = match kind {
                        "pending" => LogState::Pending { message_id: mid },
                        "sent" => LogState::Sent { message_id: mid },
                        "failed" => LogState::Failed,
                        _ => continue, // a torn last line after a crash
                    };
                    state.insert(key.to_owned(), s);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ConnectorError::Config(format!(
                    "sent-log {}: {e}",
                    path.display()
                )))
            }
        }
        Ok(Self {
            path,
            state: Mutex::new(state),
        })
    }

    /// The state of a key.
    pub fn get(&self, key: &str) -> Option<LogState> {
        self.state.lock().ok().and_then(|s| s.get(key).cloned())
    }

    /// Appends an event and syncs it to disk before returning.
    pub fn record(&self, key: &str, s: LogState) -> Result<(), ConnectorError> {
        let (kind, mid) = match &s {
            LogState::Pending { message_id } => ("pending", message_id.as_str()),
            LogState::Sent { message_id } => ("sent", message_id.as_str()),
            LogState::Failed => ("failed", ""),
        };
        let io = |e: std::io::Error| {
            ConnectorError::transient(format!("sent-log {}: {e}", self.path.display()))
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        f.write_all(format!("{kind}\t{key}\t{mid}\n").as_bytes())
            .map_err(io)?;
        f.sync_data().map_err(io)?;
        if let Ok(mut st) = self.state.lock() {
            st.insert(key.to_owned(), s);
        }
        Ok(())
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Sends reminders by SMTP, exactly once per key.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    log: SentLog,
    resend_ambiguous: bool,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from)
            .field("log", &self.log.path)
            .finish_non_exhaustive()
    }
}

fn mailbox(s: &str, what: &str) -> Result<Mailbox, ConnectorError> {
    s.parse().map_err(|e| {
        ConnectorError::Config(format!("mail.{what}: {s:?} is not an e-mail address: {e}"))
    })
}

/// The Message-ID of a key: `<key@domain of the sender>`.
pub fn message_id(key: &IdempotencyKey, from: &Mailbox) -> String {
    format!("<{}@{}>", key.as_str(), from.email.domain())
}

impl SmtpMailer {
    /// A mailer. `password` is the content of the credential file (a trailing newline is
    /// ignored); `sent_log` is the path of the sent-log in the state directory.
    pub fn new(
        cfg: &SmtpConfig,
        password: Option<&str>,
        sent_log: impl Into<PathBuf>,
    ) -> Result<Self, ConnectorError> {
        let cfgerr = |e: lettre::transport::smtp::Error| {
            ConnectorError::Config(format!("mail.host {:?}: {e}", cfg.host))
        };
        let mut b = match cfg.security {
            Security::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host).map_err(cfgerr)?
            }
            Security::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(cfgerr)?
            }
            Security::Plain => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            }
        };
        b = b
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
        if let Some(h) = &cfg.hello_name {
            b = b.hello_name(ClientId::Domain(h.clone()));
        }
        match (&cfg.username, password) {
            (Some(u), Some(p)) => {
                b = b.credentials(Credentials::new(
                    u.clone(),
                    p.trim_end_matches(['\n', '\r']).to_owned(),
                ))
            }
            (Some(_), None) => {
                return Err(ConnectorError::Config(
                    "mail.username is set but no password credential was given".into(),
                ))
            }
            (None, _) => {}
        }
        Ok(Self {
            transport: b.build(),
            from: mailbox(&cfg.from, "from")?,
            reply_to: cfg
                .reply_to
                .as_deref()
                .map(|r| mailbox(r, "reply_to"))
                .transpose()?,
            log: SentLog::open(sent_log)?,
            resend_ambiguous: cfg.resend_ambiguous,
        })
    }

    /// The sent-log.
    pub fn log(&self) -> &SentLog {
        &self.log
    }

    /// Builds the message of a `SendEmail` command under `key`.
    pub fn build_message(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<Message, ConnectorError> {
        let WriteCommand::SendEmail {
            to,
            subject,
            body,
            attachments,
        } = cmd
        else {
            return Err(ConnectorError::Permanent(
                "smtp only applies send_email commands".into(),
            ));
        };
        if to.is_empty() {
            return Err(ConnectorError::Permanent(
                "send_email without recipient".into(),
            ));
        }
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(subject.clone())
            .message_id(Some(message_id(key, &self.from)));
        if let Some(r) = &self.reply_to {
            b = b.reply_to(r.clone());
        }
        for t in to {
            let mb: Mailbox = t
                .parse()
                .map_err(|e| ConnectorError::Permanent(format!("recipient {t:?}: {e}")))?;
            b = b.to(mb);
        }
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(body.clone());
        let msg = if attachments.is_empty() {
            b.singlepart(text)
        } else {
            let mut mp = MultiPart::mixed().singlepart(text);
            for (name, bytes) in attachments {
                let ct = if name.to_ascii_lowercase().ends_with(".pdf") {
                    "application/pdf"
                } else {
                    "application/octet-stream"
                };
                let ct = ContentType::parse(ct)
                    .map_err(|e| ConnectorError::Permanent(format!("attachment {name}: {e}")))?;
                mp = mp.singlepart(Attachment::new(name.clone()).body(bytes.clone(), ct));
            }
            b.multipart(mp)
        };
        msg.map_err(|e| ConnectorError::Permanent(format!("cannot build the message: {e}")))
    }
}

impl WriteBack for SmtpMailer {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        match self.log.get(key.as_str()) {
            Some(LogState::Sent { message_id }) => Ok(Some(RemoteRef(message_id))),
            Some(LogState::Pending { message_id }) if !self.resend_ambiguous => Err(ConnectorError::Permanent(format!(
                "ambiguous delivery: a previous attempt of {message_id} was interrupted during the SMTP transaction and may have been accepted; check the sent mailbox for this Message-ID before resending"
            ))),
            _ => Ok(None),
        }
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        if let Some(r) = self.find_applied(key).await? {
            return Ok(r);
        }
        let msg = self.build_message(key, cmd)?;
        let mid = message_id(key, &self.from);
        // Reach the server first: a failure here certainly delivered nothing, so it is a plain
        // transient error and the key does not become ambiguous.
        match self.transport.test_connection().await {
            Ok(true) => {}
            Ok(false) => return Err(ConnectorError::transient("smtp server did not answer NOOP")),
            Err(e) => return Err(ConnectorError::transient(format!("smtp: {e}"))),
        }
        // The delivery's lease may have been lost while the connection was tested.
        crate::gate::check().map_err(|why| ConnectorError::transient(format!("smtp: {why}")))?;
        self.log.record(
            key.as_str(),
            LogState::Pending {
                message_id: mid.clone(),
            },
        )?;
        match self.transport.send(msg).await {
            Ok(_) => {
                self.log.record(
                    key.as_str(),
                    LogState::Sent {
                        message_id: mid.clone(),
                    },
                )?;
                Ok(RemoteRef(mid))
            }
            Err(e) => {
                // A reply from the server (4xx/5xx) means it did not take the message: nothing
                // was delivered, record it so a retry is not taken as ambiguous. Anything else
                // (connection lost, timeout) may have happened after the data was accepted:
                // leave the key pending.
                let refused = e.is_response() || e.is_transient() || e.is_permanent();
                if refused {
                    self.log.record(key.as_str(), LogState::Failed)?;
                }
                let m = format!("smtp: {e}");
                if e.is_permanent() {
                    Err(ConnectorError::Permanent(m))
                } else {
                    Err(ConnectorError::transient(m))
                }
            }
        }
    }
}
