//! A write-back target on the local disk: each command becomes a folder named after its
//! idempotency key, holding the command as JSON and its attachments (PDF letters).
//!
//! It serves the effects that end with a person rather than a remote system — tasks (call the
//! customer, post the registered letter), and e-mails when no SMTP server is configured (the
//! demo, or a company that sends its mail by hand) — with the same exactly-once contract as a
//! remote: a folder is written under a temporary name and renamed into place, so it either
//! exists whole or not at all, and [`WriteBack::find_applied`] is its existence.

use crate::contract::{IdempotencyKey, RemoteRef, WriteBack, WriteCommand};
use crate::error::ConnectorError;
use std::path::{Path, PathBuf};

/// A folder of applied commands.
#[derive(Clone, Debug)]
pub struct DirWriteBack {
    root: PathBuf,
}

impl DirWriteBack {
    /// A target writing under `root` (created when missing).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder holding the command applied under `key`.
    pub fn entry_dir(&self, key: &IdempotencyKey) -> PathBuf {
        self.root.join(safe_name(key.as_str()))
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A file name made of the key's safe characters only.
fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ConnectorError {
    // A full disk or a permission problem will not fix itself by retrying at once, but it
    // may once a person acts: transient, so the entry waits rather than being lost.
    ConnectorError::transient(format!("{what} {}: {e}", path.display()))
}

impl WriteBack for DirWriteBack {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        let dir = self.entry_dir(key);
        Ok(dir
            .join("command.json")
            .is_file()
            .then(|| RemoteRef(dir.display().to_string())))
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        if let Some(r) = self.find_applied(key).await? {
            return Ok(r);
        }
        let dir = self.entry_dir(key);
        let tmp = self.root.join(format!(".{}.tmp", safe_name(key.as_str())));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io_err("cannot clear", &tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io_err("cannot create", &tmp, e))?;
        let mut shown = cmd.clone();
        if let WriteCommand::SendEmail { attachments, .. } = &mut shown {
            for (name, bytes) in attachments.iter_mut() {
                let p = tmp.join(safe_file(name));
                std::fs::write(&p, &*bytes).map_err(|e| io_err("cannot write", &p, e))?;
                bytes.clear();
            }
        }
        if let WriteCommand::SendEmail {
            to, subject, body, ..
        } = cmd
        {
            let text = format!("To: {}\nSubject: {subject}\n\n{body}\n", to.join(", "));
            let p = tmp.join("message.txt");
            std::fs::write(&p, text).map_err(|e| io_err("cannot write", &p, e))?;
        }
        let json = serde_json::json!({ "key": key, "command": shown });
        let p = tmp.join("command.json");
        let bytes = serde_json::to_vec_pretty(&json)
            .map_err(|e| ConnectorError::Permanent(format!("cannot encode command: {e}")))?;
        std::fs::write(&p, bytes).map_err(|e| io_err("cannot write", &p, e))?;
        std::fs::rename(&tmp, &dir).map_err(|e| io_err("cannot rename into", &dir, e))?;
        Ok(RemoteRef(dir.display().to_string()))
    }
}

fn safe_file(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if n.starts_with('.') || n.is_empty() {
        format!("attachment{n}")
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn applies_once_and_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let t = DirWriteBack::new(dir.path());
        let key = IdempotencyKey::derive("acme", "task", &["x"]);
        assert!(t.find_applied(&key).await.unwrap().is_none());
        let cmd = WriteCommand::SendEmail {
            to: vec!["a@example.org".into()],
            subject: "Relance".into(),
            body: "Bonjour".into(),
            attachments: vec![("../lettre.pdf".into(), b"%PDF-1.4".to_vec())],
        };
        let r1 = t.apply(&key, &cmd).await.unwrap();
        let r2 = t.apply(&key, &cmd).await.unwrap();
        assert_eq!(r1, r2);
        assert!(t.find_applied(&key).await.unwrap().is_some());
        let d = t.entry_dir(&key);
        assert!(d.join(".._lettre.pdf").is_file() || d.join("attachment.._lettre.pdf").is_file());
        assert!(std::fs::read_to_string(d.join("message.txt"))
            .unwrap()
            .contains("Bonjour"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
