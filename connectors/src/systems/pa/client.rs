//! The HTTP client of one plateforme agréée: an OAuth2 client-credentials token (fetched, kept
//! until a minute before it expires, fetched again on a 401; the secret file read again when
//! the token endpoint refuses it), the optional `Organization-Id` header, and the flow
//! service's error body `{"errorCode", "errorMessage"}` classified (connector-apis.md §7:
//! XP Z12-013 Flow Service 1.2.0, answers 400/401/403/429/500/503).

use super::PaConfig;
use crate::error::ConnectorError;
use crate::http::{HttpClient, HttpError, HttpLayer, HttpResponse, Method};
use crate::wire::{FileSecret, Secret};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What went wrong with a platform call. Never carries the secret or the token.
#[derive(Debug, thiserror::Error)]
pub enum PaError {
    /// The client secret file cannot be used.
    #[error("platform client secret: {0}")]
    Secret(String),
    /// The token endpoint refused the client (again after reading the secret anew).
    #[error("the platform refused relance's client credentials: {0}")]
    Unauthorized(String),
    /// The token is refused for this operation (HTTP 403).
    #[error("the platform forbids {what} to relance's client (HTTP 403): {detail}")]
    Forbidden {
        /// The call.
        what: String,
        /// The platform's message.
        detail: String,
    },
    /// A request the platform refuses (400, 404, 409, 422): the body's code and message.
    #[error("the platform rejected {what} (HTTP {status}, {code}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// `errorCode`.
        code: String,
        /// `errorMessage` and `details`.
        detail: String,
    },
    /// Overload or server error (429, 5xx).
    #[error("the platform is unavailable (HTTP {status}) on {what}: {detail}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// The body's start.
        detail: String,
        /// Retry-After, when given.
        retry_after: Option<Duration>,
    },
    /// No answer.
    #[error("network error on the platform's {what}: {detail}")]
    Network {
        /// The call.
        what: String,
        /// What happened.
        detail: String,
    },
    /// An answer relance cannot read.
    #[error("unexpected platform answer to {what}: {detail}")]
    Protocol {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A command the platform cannot carry out.
    #[error("{0}")]
    Refused(String),
    /// A cursor not produced by this connector.
    #[error("invalid platform cursor: {0}")]
    Cursor(String),
}

impl From<PaError> for ConnectorError {
    fn from(e: PaError) -> Self {
        let msg = e.to_string();
        match e {
            PaError::Secret(_) | PaError::Unauthorized(_) | PaError::Forbidden { .. } => {
                ConnectorError::Config(msg)
            }
            PaError::Unavailable { retry_after, .. } => ConnectorError::Transient {
                message: msg,
                retry_after,
            },
            PaError::Network { .. } => ConnectorError::transient(msg),
            PaError::Rejected { .. }
            | PaError::Protocol { .. }
            | PaError::Refused(_)
            | PaError::Cursor(_) => ConnectorError::Permanent(msg),
        }
    }
}

/// A token and when to stop using it.
struct Token {
    value: Secret,
    until: Instant,
}

/// The client of one platform account.
pub struct Client {
    pub(super) cfg: PaConfig,
    http: HttpClient,
    secret: FileSecret,
    token: Mutex<Option<Token>>,
    extra: Vec<(&'static str, Secret)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaClient")
            .field("url", &self.cfg.url)
            .field("client_id", &self.cfg.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A body's `errorCode` and `errorMessage` (+ `details`), or its start.
fn error_of(http: &HttpClient, body: &str) -> (String, String) {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let code = v
                .get("errorCode")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| v.get("codeRetour").map(|c| c.to_string()))
                .unwrap_or_default();
            let mut msg = v
                .get("errorMessage")
                .or_else(|| v.get("error_description"))
                .or_else(|| v.get("libelle"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if let Some(d) = v.get("details").and_then(Value::as_str) {
                msg = format!("{msg} ({d})");
            }
            if msg.is_empty() {
                msg = http.excerpt(body, 200);
            }
            (code, http.redact(&msg))
        }
        Err(_) => (String::new(), http.excerpt(body, 200)),
    }
}

impl Client {
    /// A client over the shared HTTP `layer`; reads the secret file now.
    pub fn new(cfg: PaConfig, layer: Arc<HttpLayer>) -> Result<Self, PaError> {
        let http = HttpClient::new(layer, Duration::from_secs(cfg.timeout_seconds.max(1)));
        let secret = FileSecret::read(&cfg.client_secret_file, &http).map_err(PaError::Secret)?;
        Ok(Client {
            cfg,
            http,
            secret,
            token: Mutex::new(None),
            extra: Vec::new(),
        })
    }

    /// Sends `name: value` with every API call too (Chorus Pro's `cpro-account`); the value is
    /// redacted like the secret.
    pub fn with_header(mut self, name: &'static str, value: Secret) -> Self {
        self.http.add_secret(value.expose());
        self.extra.push((name, value));
        self
    }

    fn net(what: &str, e: HttpError) -> PaError {
        PaError::Network {
            what: what.to_owned(),
            detail: e.to_string(),
        }
    }

    async fn fetch_token(&self) -> Result<Token, PaError> {
        let what = "token request";
        for attempt in 0..2 {
            let secret = self.secret.get();
            let mut form = vec![
                ("grant_type", "client_credentials"),
                ("client_id", self.cfg.client_id.as_str()),
                ("client_secret", secret.expose()),
            ];
            if let Some(s) = &self.cfg.scope {
                form.push(("scope", s.as_str()));
            }
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
                200..=299 => {
                    let v: Value =
                        serde_json::from_str(&r.body).map_err(|e| PaError::Protocol {
                            what: what.into(),
                            detail: e.to_string(),
                        })?;
                    let value = v
                        .get("access_token")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| PaError::Protocol {
                            what: what.into(),
                            detail: "no access_token in the answer".into(),
                        })?;
                    self.http.add_secret(value);
                    let secs = v.get("expires_in").and_then(Value::as_u64).unwrap_or(300);
                    // used until a minute before it expires (or half its life when short)
                    let margin = 60.min(secs / 2);
                    return Ok(Token {
                        value: Secret::new(value),
                        until: Instant::now() + Duration::from_secs(secs - margin),
                    });
                }
                400 | 401 if attempt == 0 => {
                    // a rotated secret: read the file again, once
                    match self.secret.reread(&self.http) {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => return Err(PaError::Secret(e)),
                    }
                    let (code, msg) = error_of(&self.http, &r.body);
                    return Err(PaError::Unauthorized(format!("{code} {msg}")));
                }
                400 | 401 => {
                    let (code, msg) = error_of(&self.http, &r.body);
                    return Err(PaError::Unauthorized(format!("{code} {msg}")));
                }
                s => return Err(self.classify(what, &r, s)),
            }
        }
        Err(PaError::Unauthorized(
            "the token endpoint refused the secret read anew".into(),
        ))
    }

    async fn bearer(&self, fresh: bool) -> Result<Secret, PaError> {
        if !fresh {
            let g = self.token.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = g.as_ref() {
                if Instant::now() < t.until {
                    return Ok(t.value.clone());
                }
            }
        }
        let t = self.fetch_token().await?;
        let v = t.value.clone();
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
        Ok(v)
    }

    fn classify(&self, what: &str, r: &HttpResponse, status: u16) -> PaError {
        let (code, detail) = error_of(&self.http, &r.body);
        match status {
            403 => PaError::Forbidden {
                what: what.into(),
                detail,
            },
            429 | 500..=599 => PaError::Unavailable {
                status,
                what: what.into(),
                detail: format!("{code} {detail}").trim().to_owned(),
                retry_after: r.retry_after,
            },
            _ => PaError::Rejected {
                status,
                what: what.into(),
                code,
                detail,
            },
        }
    }

    /// `url` + `path`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.url.trim_end_matches('/'))
    }

    /// One authenticated call: JSON `body`, or `raw` bytes with their content type; a 401
    /// fetches a new token and tries once more. The answer (2xx, 204 included).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        raw: Option<(&str, Vec<u8>)>,
        what: &str,
    ) -> Result<HttpResponse, PaError> {
        self.call_url(method, &self.endpoint(path), body, raw, what)
            .await
    }

    /// [`Client::call`] on a full URL (a vendor API beside the flow service, same token).
    pub async fn call_url(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        raw: Option<(&str, Vec<u8>)>,
        what: &str,
    ) -> Result<HttpResponse, PaError> {
        self.call_inner(method, url, body, raw, false, what).await
    }

    /// A GET of `path` for the answer's bytes (a document: CII, UBL, a Factur-X PDF), with the
    /// same token and error handling as [`Client::call`].
    pub async fn download(&self, path: &str, what: &str) -> Result<Vec<u8>, PaError> {
        let r = self
            .call_inner(Method::Get, &self.endpoint(path), None, None, true, what)
            .await?;
        Ok(r.raw.unwrap_or_else(|| r.body.into_bytes()))
    }

    async fn call_inner(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        raw: Option<(&str, Vec<u8>)>,
        bytes_back: bool,
        what: &str,
    ) -> Result<HttpResponse, PaError> {
        for attempt in 0..2 {
            let token = self.bearer(attempt > 0).await?;
            let auth = format!("Bearer {}", token.expose());
            let mut headers = vec![
                ("authorization", auth.as_str()),
                ("accept", "application/json"),
            ];
            if let Some(o) = &self.cfg.organization_id {
                headers.push(("organization-id", o.as_str()));
            }
            for (k, v) in &self.extra {
                headers.push((k, v.expose()));
            }
            let r = match &raw {
                Some((ct, bytes)) => {
                    self.http
                        .send_bytes(method, url, ct, bytes.clone(), &headers)
                        .await
                }
                None if bytes_back => self.http.get_bytes(url, &headers).await,
                None => self.http.send(method, url, body, &headers).await,
            }
            .map_err(|e| Self::net(what, e))?;
            match r.status {
                200..=299 => return Ok(r),
                401 if attempt == 0 => continue,
                401 => {
                    let (code, msg) = error_of(&self.http, &r.body);
                    return Err(PaError::Unauthorized(format!(
                        "{what}: a fresh token was refused too: {code} {msg}"
                    )));
                }
                s => return Err(self.classify(what, &r, s)),
            }
        }
        Err(PaError::Unauthorized(format!("{what}: token refused")))
    }

    /// [`Client::call`] with a JSON answer (`Value::Null` for a 204 or an empty body).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, PaError> {
        let r = self.call(method, path, body, None, what).await?;
        if r.status == 204 || r.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&r.body).map_err(|e| PaError::Protocol {
            what: what.into(),
            detail: format!("not JSON ({e}): {}", self.http.excerpt(&r.body, 120)),
        })
    }

    /// The HTTP handle (for redaction in messages).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }
}
