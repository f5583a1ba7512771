//! The Dolibarr REST client (Luracast Restler under `/api/index.php`): the `DOLAPIKEY` header
//! (re-read from its file on a 401), `DOLAPIENTITY` for the multi-company module, the error
//! body `{"error": {"code", "message"}}` classified (connector-apis.md §3, Dolibarr issue
//! #25405), and lists where an empty page is `[]` (current code) or a **404** (older
//! versions): both are the end.

use super::config::DolibarrConfig;
use crate::error::ConnectorError;
use crate::http::{self, HttpClient, HttpError, HttpLayer, Method};
use crate::wire::{self, FileSecret, Secret};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong with a Dolibarr call. Never carries the key.
#[derive(Debug, thiserror::Error)]
pub enum DolibarrError {
    /// The key file cannot be used.
    #[error("Dolibarr API key: {0}")]
    ApiKey(String),
    /// The key was refused (HTTP 401), again after reading its file anew.
    #[error("Dolibarr refused the API key (HTTP 401) on {what}: {detail}")]
    Unauthorized {
        /// The call.
        what: String,
        /// Dolibarr's message.
        detail: String,
    },
    /// The key's user lacks a right (HTTP 403).
    #[error("Dolibarr forbids {what} to relance's user (HTTP 403): {detail}")]
    Forbidden {
        /// The call.
        what: String,
        /// Dolibarr's message.
        detail: String,
    },
    /// No such record (HTTP 404 on a single record).
    #[error("Dolibarr has no {what} (HTTP 404): {detail}")]
    NotFound {
        /// The call.
        what: String,
        /// Dolibarr's message.
        detail: String,
    },
    /// A request Dolibarr refuses (HTTP 400, 405...): bad filter, missing field.
    #[error("Dolibarr rejected {what} (HTTP {status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// Dolibarr's message.
        detail: String,
    },
    /// Server error or overload (5xx, 429).
    #[error("Dolibarr unavailable (HTTP {status}) on {what}: {detail}")]
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
    #[error("network error on Dolibarr {what}: {detail}")]
    Network {
        /// The call.
        what: String,
        /// What happened.
        detail: String,
    },
    /// An answer relance cannot read.
    #[error("unexpected Dolibarr answer to {what}: {detail}")]
    Protocol {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A command Dolibarr cannot carry out.
    #[error("{0}")]
    Refused(String),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// A cursor not produced by this connector.
    #[error("invalid Dolibarr cursor: {0}")]
    Cursor(String),
}

impl From<DolibarrError> for ConnectorError {
    fn from(e: DolibarrError) -> Self {
        let msg = e.to_string();
        match e {
            DolibarrError::ApiKey(_)
            | DolibarrError::Unauthorized { .. }
            | DolibarrError::Forbidden { .. }
            | DolibarrError::Config(_) => ConnectorError::Config(msg),
            DolibarrError::Unavailable { retry_after, .. } => ConnectorError::Transient {
                message: msg,
                retry_after,
            },
            DolibarrError::Network { .. } => ConnectorError::transient(msg),
            DolibarrError::NotFound { .. }
            | DolibarrError::Rejected { .. }
            | DolibarrError::Protocol { .. }
            | DolibarrError::Refused(_)
            | DolibarrError::Cursor(_) => ConnectorError::Permanent(msg),
        }
    }
}

impl From<crate::systems::passes::CursorError> for DolibarrError {
    fn from(e: crate::systems::passes::CursorError) -> Self {
        DolibarrError::Cursor(e.0)
    }
}

/// A client of one Dolibarr instance.
pub struct Client {
    cfg: DolibarrConfig,
    http: HttpClient,
    key: FileSecret,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DolibarrClient")
            .field("url", &self.cfg.url)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over the shared HTTP `layer`; reads the key now.
    pub fn new(cfg: DolibarrConfig, layer: Arc<HttpLayer>) -> Result<Self, DolibarrError> {
        http::host_key(&cfg.url).map_err(|e| {
            DolibarrError::Config(format!("Dolibarr url {:?} cannot be used: {e}", cfg.url))
        })?;
        let http = HttpClient::new(layer, Duration::from_secs(cfg.timeout_seconds.max(1)));
        let key = FileSecret::read(&cfg.api_key_file, &http).map_err(DolibarrError::ApiKey)?;
        Ok(Client { cfg, http, key })
    }

    /// The configuration.
    pub fn config(&self) -> &DolibarrConfig {
        &self.cfg
    }

    /// The server's clock as of the last answer (`Date`).
    pub fn server_time(&self) -> Option<DateTime<Utc>> {
        self.http.server_time()
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        key: &Secret,
        what: &str,
    ) -> Result<http::HttpResponse, DolibarrError> {
        let entity = self.cfg.entity.map(|e| e.to_string());
        let mut headers = vec![("DOLAPIKEY", key.expose()), ("accept", "application/json")];
        if let Some(e) = &entity {
            headers.push(("DOLAPIENTITY", e.as_str()));
        }
        self.http
            .send(method, url, body, &headers)
            .await
            .map_err(|e| match e {
                HttpError::Url(u) => DolibarrError::Config(u.to_string()),
                HttpError::Client(c) => DolibarrError::Config(c),
                other => DolibarrError::Network {
                    what: what.to_owned(),
                    detail: other.to_string(),
                },
            })
    }

    /// One call to `path` (with its query). A 401 reads the key file again and retries once.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, DolibarrError> {
        let url = http::with_query(&self.cfg.endpoint(path), query)
            .map_err(|e| DolibarrError::Config(e.to_string()))?;
        let mut resp = self
            .exchange(method, &url, body, &self.key.get(), what)
            .await?;
        if resp.status == 401 {
            if self.key.reread(&self.http).map_err(DolibarrError::ApiKey)? {
                tracing::info!(
                    what,
                    "Dolibarr API key changed in its file: using the new one"
                );
            }
            resp = self
                .exchange(method, &url, body, &self.key.get(), what)
                .await?;
        }
        self.answer(resp, what)
    }

    fn answer(&self, resp: http::HttpResponse, what: &str) -> Result<Value, DolibarrError> {
        let detail = |body: &str| -> String {
            serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .map(|m| self.http.excerpt(&m, 300))
                .unwrap_or_else(|| self.http.excerpt(body, 200))
        };
        let w = what.to_owned();
        match resp.status {
            200..=299 => {
                if resp.body.trim().is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_str(&resp.body).map_err(|e| DolibarrError::Protocol {
                    what: w,
                    detail: format!("not JSON ({e}): {}", self.http.excerpt(&resp.body, 120)),
                })
            }
            401 => Err(DolibarrError::Unauthorized {
                what: w,
                detail: detail(&resp.body),
            }),
            403 => Err(DolibarrError::Forbidden {
                what: w,
                detail: detail(&resp.body),
            }),
            404 => Err(DolibarrError::NotFound {
                what: w,
                detail: detail(&resp.body),
            }),
            408 | 429 | 500..=599 => Err(DolibarrError::Unavailable {
                status: resp.status,
                what: w,
                detail: detail(&resp.body),
                retry_after: resp.retry_after,
            }),
            status => Err(DolibarrError::Rejected {
                status,
                what: w,
                detail: detail(&resp.body),
            }),
        }
    }

    /// A list: the array, `[]` for an empty page given as a 404 by older versions, the
    /// `data` of a `pagination_data` answer.
    pub async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<Vec<Value>, DolibarrError> {
        match self.call(Method::Get, path, query, None, what).await {
            Ok(Value::Array(a)) => Ok(a),
            Ok(Value::Object(o)) if o.get("data").is_some_and(Value::is_array) => Ok(o
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()),
            Ok(Value::Null) => Ok(Vec::new()),
            Ok(other) => Err(DolibarrError::Protocol {
                what: what.to_owned(),
                detail: format!("expected a list, got {}", wire::short(&other)),
            }),
            // older versions: "404 Not found: No invoice found" for an empty page
            Err(DolibarrError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}
