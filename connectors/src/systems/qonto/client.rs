//! The Qonto Business API client: OAuth2 access tokens from a **rotating** refresh token, kept
//! until a minute before they expire and refreshed on a 401; the refresh token stored durably
//! before the access token it came with is used; Qonto's error bodies classified.
//!
//! Tokens (connector-apis.md, corrections of December 2026): an access token lives 1 h, a
//! refresh token 90 days; each refresh returns a new refresh token and the old one keeps
//! working for 60 s only. A refresh token received and lost (a crash before it is written)
//! would lock the company out once those 60 s are over, so [`TokenStore::save`] writes it to
//! the company's state directory — a temporary file beside it, fsynced, renamed over the old
//! one, the directory fsynced — *before* the access token is handed to any request. At start
//! the stored token is used over the configured initial one (`refresh_token_file`, the one the
//! authorization gave), which only serves the first time.
//!
//! Error bodies: `{"errors": [{"code": "...", "detail": "..."}]}` on the API [mem], RFC 6749
//! §5.2 `{"error", "error_description"}` on the token endpoint.

use super::QontoConfig;
use crate::error::ConnectorError;
use crate::http::{HttpClient, HttpError, HttpLayer, HttpResponse, Method};
use crate::wire::{self, FileSecret, Secret};
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What went wrong with a Qonto call. Never carries a token or the client secret.
#[derive(Debug, thiserror::Error)]
pub enum QontoError {
    /// A credential file cannot be used.
    #[error("Qonto credential: {0}")]
    Secret(String),
    /// The refresh token or the client was refused: the company must authorize relance again.
    #[error("Qonto refused relance's authorization ({0}): authorize relance again and put the new refresh token in refresh_token_file (then remove {1})")]
    Unauthorized(String, String),
    /// The stored refresh token cannot be written or read: nothing is sent until it can.
    #[error("Qonto token store {path}: {detail}")]
    Store {
        /// The file.
        path: String,
        /// What failed.
        detail: String,
    },
    /// Forbidden (a scope missing).
    #[error("Qonto forbids {what} (HTTP 403): {detail} (missing scope?)")]
    Forbidden {
        /// The call.
        what: String,
        /// Qonto's message.
        detail: String,
    },
    /// A request Qonto refuses (400, 404, 422...).
    #[error("Qonto rejected {what} (HTTP {status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// Qonto's message.
        detail: String,
    },
    /// Overload (429) or server error (5xx).
    #[error("Qonto unavailable (HTTP {status}) on {what}: {detail}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// Qonto's message.
        detail: String,
        /// Retry-After, when given.
        retry_after: Option<Duration>,
    },
    /// No answer.
    #[error("network error on Qonto {what}: {detail}")]
    Network {
        /// The call.
        what: String,
        /// What happened.
        detail: String,
    },
    /// An answer relance cannot read.
    #[error("unexpected Qonto answer to {what}: {detail}")]
    Protocol {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A cursor not produced by this connector.
    #[error("invalid Qonto cursor: {0}")]
    Cursor(String),
    /// A command this connector does not carry out.
    #[error("{0}")]
    Refused(String),
}

impl From<QontoError> for ConnectorError {
    fn from(e: QontoError) -> Self {
        let msg = e.to_string();
        match e {
            QontoError::Secret(_)
            | QontoError::Unauthorized(..)
            | QontoError::Forbidden { .. }
            | QontoError::Store { .. } => ConnectorError::Config(msg),
            QontoError::Unavailable { retry_after, .. } => ConnectorError::Transient {
                message: msg,
                retry_after,
            },
            QontoError::Network { .. } => ConnectorError::transient(msg),
            QontoError::Rejected { .. }
            | QontoError::Protocol { .. }
            | QontoError::Cursor(_)
            | QontoError::Refused(_) => ConnectorError::Permanent(msg),
        }
    }
}

/// Where the current refresh token lives: one file in the company's state directory (mode
/// 0600), replaced atomically.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// A store at `path` (its directory is made when the first token is saved).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TokenStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, detail: String) -> QontoError {
        QontoError::Store {
            path: self.path.display().to_string(),
            detail,
        }
    }

    /// The stored refresh token, if one was saved.
    pub fn load(&self) -> Result<Option<Secret>, QontoError> {
        if !self.path.exists() {
            return Ok(None);
        }
        wire::read_secret(&self.path)
            .map(Some)
            .map_err(|e| self.err(e))
    }

    /// Writes `token` durably: a temporary file in the same directory, written and fsynced,
    /// renamed over the file, then the directory fsynced (the rename itself on disk).
    pub fn save(&self, token: &Secret) -> Result<(), QontoError> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.err(format!("creating its folder: {e}")))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "qonto-token".to_owned());
        let tmp = dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(token.expose().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| self.err(format!("cannot store the new refresh token: {e}")))
    }
}

/// An access token and when to stop using it.
struct Access {
    value: Secret,
    until: Instant,
}

/// The client of one Qonto organization.
pub struct Client {
    pub(super) cfg: QontoConfig,
    http: HttpClient,
    secret: FileSecret,
    initial: Secret,
    staging: Option<Secret>,
    store: TokenStore,
    access: Mutex<Option<Access>>,
    /// Held while a refresh runs: two refreshes with one refresh token would race the rotation.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QontoClient")
            .field("url", &self.cfg.url)
            .field("client_id", &self.cfg.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_store", &self.store.path)
            .finish_non_exhaustive()
    }
}

/// The message of an error body: `errors[].detail` (or `code`), `error_description`, `message`,
/// or the body's start; redacted.
fn error_of(http: &HttpClient, body: &str) -> String {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return http.excerpt(body, 200),
    };
    let mut parts = Vec::new();
    if let Some(errs) = v.get("errors").and_then(Value::as_array) {
        for e in errs {
            let code = e.get("code").and_then(Value::as_str).unwrap_or("");
            let detail = e
                .get("detail")
                .or_else(|| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            parts.push(
                format!("{code}: {detail}")
                    .trim_matches([' ', ':'])
                    .to_owned(),
            );
        }
    }
    for k in ["error", "error_description", "message"] {
        if let Some(s) = v.get(k).and_then(Value::as_str) {
            parts.push(s.to_owned());
        }
    }
    if parts.is_empty() {
        return http.excerpt(body, 200);
    }
    http.redact(&parts.join("; "))
}

impl Client {
    /// A client over the shared HTTP `layer`, its refresh token kept in `store`; reads the
    /// credential files now.
    pub fn new(
        cfg: QontoConfig,
        layer: Arc<HttpLayer>,
        store: TokenStore,
    ) -> Result<Self, QontoError> {
        let http = HttpClient::new(layer, Duration::from_secs(cfg.timeout_seconds.max(1)));
        let secret =
            FileSecret::read(&cfg.client_secret_file, &http).map_err(QontoError::Secret)?;
        let initial = wire::read_secret(&cfg.refresh_token_file).map_err(QontoError::Secret)?;
        http.add_secret(initial.expose());
        let staging = match &cfg.staging_token_file {
            Some(p) => {
                let s = wire::read_secret(p).map_err(QontoError::Secret)?;
                http.add_secret(s.expose());
                Some(s)
            }
            None => None,
        };
        Ok(Client {
            cfg,
            http,
            secret,
            initial,
            staging,
            store,
            access: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    fn net(what: &str, e: HttpError) -> QontoError {
        QontoError::Network {
            what: what.to_owned(),
            detail: e.to_string(),
        }
    }

    fn unauthorized(&self, detail: String) -> QontoError {
        QontoError::Unauthorized(detail, self.store.path.display().to_string())
    }

    /// The refresh token to use: the stored one, else the configured initial one.
    fn refresh_token(&self) -> Result<Secret, QontoError> {
        match self.store.load()? {
            Some(t) => {
                self.http.add_secret(t.expose());
                Ok(t)
            }
            None => Ok(self.initial.clone()),
        }
    }

    /// Exchanges the refresh token for an access token and a new refresh token; the new refresh
    /// token is stored durably before the access token is returned.
    async fn refresh(&self) -> Result<Access, QontoError> {
        let what = "token refresh";
        let refresh = self.refresh_token()?;
        let secret = self.secret.get();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("client_id", self.cfg.client_id.as_str()),
            ("client_secret", secret.expose()),
        ];
        let r = self
            .http
            .post_form(
                &self.cfg.token_url,
                &form,
                &[("accept", "application/json")],
            )
            .await
            .map_err(|e| Self::net(what, e))?;
        match r.status {
            200..=299 => {}
            400 | 401 => {
                // a client secret the operator rotated is read again for the next cycle
                let _ = self.secret.reread(&self.http);
                return Err(self.unauthorized(error_of(&self.http, &r.body)));
            }
            s => return Err(self.classify(what, &r, s)),
        }
        let v: Value = serde_json::from_str(&r.body).map_err(|e| QontoError::Protocol {
            what: what.into(),
            detail: e.to_string(),
        })?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| QontoError::Protocol {
                    what: what.into(),
                    detail: format!("no {k} in the answer"),
                })
        };
        let access = field("access_token")?;
        self.http.add_secret(&access);
        // A rotating refresh token: store the new one before anything uses the access token.
        // Without one (a server that does not rotate), the current one stays.
        if let Ok(next) = field("refresh_token") {
            self.http.add_secret(&next);
            let next = Secret::new(next);
            if next != refresh {
                self.store.save(&next)?;
            }
        }
        let secs = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        let margin = 60.min(secs / 2);
        Ok(Access {
            value: Secret::new(access),
            until: Instant::now() + Duration::from_secs(secs - margin),
        })
    }

    async fn bearer(&self, fresh: bool, refused: Option<&Secret>) -> Result<Secret, QontoError> {
        if !fresh {
            let g = self.access.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = g.as_ref() {
                if Instant::now() < t.until {
                    return Ok(t.value.clone());
                }
            }
        }
        let _guard = self.refreshing.lock().await;
        // Another call may have refreshed while this one waited.
        {
            let g = self.access.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = g.as_ref() {
                if Instant::now() < t.until && Some(&t.value) != refused {
                    return Ok(t.value.clone());
                }
            }
        }
        let t = self.refresh().await?;
        let v = t.value.clone();
        *self.access.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
        Ok(v)
    }

    fn classify(&self, what: &str, r: &HttpResponse, status: u16) -> QontoError {
        let detail = error_of(&self.http, &r.body);
        match status {
            403 => QontoError::Forbidden {
                what: what.into(),
                detail,
            },
            429 | 500..=599 => QontoError::Unavailable {
                status,
                what: what.into(),
                detail,
                retry_after: r.retry_after,
            },
            _ => QontoError::Rejected {
                status,
                what: what.into(),
                detail,
            },
        }
    }

    /// `url` + `path`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.url.trim_end_matches('/'))
    }

    /// One authenticated call to `url` (JSON `body` or `raw` bytes with their content type,
    /// extra `headers`); a 401 refreshes the access token and tries once more.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        raw: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<HttpResponse, QontoError> {
        let mut refused: Option<Secret> = None;
        for attempt in 0..2 {
            let token = self.bearer(attempt > 0, refused.as_ref()).await?;
            let auth = format!("Bearer {}", token.expose());
            let mut h = vec![
                ("authorization", auth.as_str()),
                ("accept", "application/json"),
            ];
            if let Some(s) = &self.staging {
                h.push(("x-qonto-staging-token", s.expose()));
            }
            h.extend_from_slice(headers);
            let r = match &raw {
                Some((ct, bytes)) => {
                    self.http
                        .send_bytes(method, url, ct, bytes.clone(), &h)
                        .await
                }
                None => self.http.send(method, url, body, &h).await,
            }
            .map_err(|e| Self::net(what, e))?;
            match r.status {
                200..=299 => return Ok(r),
                401 if attempt == 0 => {
                    refused = Some(token);
                    continue;
                }
                401 => {
                    return Err(self.unauthorized(format!(
                        "{what}: a fresh access token was refused too: {}",
                        error_of(&self.http, &r.body)
                    )))
                }
                s => return Err(self.classify(what, &r, s)),
            }
        }
        Err(self.unauthorized(format!("{what}: access token refused")))
    }

    /// A GET of `path` with a JSON answer.
    pub async fn get_json(&self, path_and_query: &str, what: &str) -> Result<Value, QontoError> {
        let url = self.endpoint(path_and_query);
        let r = self.call(Method::Get, &url, None, None, &[], what).await?;
        serde_json::from_str(&r.body).map_err(|e| QontoError::Protocol {
            what: what.into(),
            detail: format!("not JSON ({e}): {}", self.http.excerpt(&r.body, 120)),
        })
    }

    /// The HTTP handle (redaction).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_store_replaces_its_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let s = TokenStore::new(dir.path().join("sub").join("qonto.token"));
        assert!(s.load().unwrap().is_none());
        s.save(&Secret::new("rt-1")).unwrap();
        s.save(&Secret::new("rt-2")).unwrap();
        assert_eq!(s.load().unwrap().unwrap().expose(), "rt-2");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["qonto.token".to_owned()],
            "no temporary file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(s.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
