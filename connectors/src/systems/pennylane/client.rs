//! The Company API v2 client: bearer token (re-read from its file on a 401, so a rotated token
//! is picked up mid-pull), the firm token's company header, the token's quota as a bucket of
//! the shared HTTP layer, cursor-paged lists, and Pennylane's error shapes classified.
//!
//! Error shapes (connector-apis.md §2.2): `{"error": "<message>", "status": 404}` for
//! 4xx; a 429 is plain text (`Rate limit exceeded. Please retry in X seconds.`) with
//! `retry-after` and `ratelimit-*` headers.

use super::config::PennylaneConfig;
use crate::error::ConnectorError;
use crate::http::{self, HttpClient, HttpError, HttpLayer, Method};
use crate::wire::{self, FileSecret, Secret};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The header naming the company a firm token acts on (reference pages: "Numeric ID of the
/// company to act on. Required when authenticating with a firm token") [verify the name on
/// the first firm account].
pub const COMPANY_HEADER: &str = "X-Company-Id";

/// What went wrong with a Pennylane call. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum PennylaneError {
    /// The token file cannot be used.
    #[error("Pennylane token: {0}")]
    Token(String),
    /// The token was refused (HTTP 401), again after reading its file anew.
    #[error("Pennylane refused the API token (HTTP 401) on {what}: expired or revoked? put a valid token in its file")]
    Unauthorized {
        /// The call.
        what: String,
    },
    /// The token lacks a scope or the user a right (HTTP 403).
    #[error("Pennylane forbids {what} (HTTP 403): {detail} (missing scope? read-only token?)")]
    Forbidden {
        /// The call.
        what: String,
        /// Pennylane's message.
        detail: String,
    },
    /// No such resource (HTTP 404).
    #[error("Pennylane has no {what} (HTTP 404): {detail}")]
    NotFound {
        /// The call.
        what: String,
        /// Pennylane's message.
        detail: String,
    },
    /// Refused by a rule (HTTP 400, 409, 422...).
    #[error("Pennylane rejected {what} (HTTP {status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// Pennylane's message.
        detail: String,
    },
    /// Quota spent (429) or server unavailable (5xx): retry later.
    #[error("Pennylane unavailable (HTTP {status}) on {what}: {detail}")]
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
    #[error("network error on Pennylane {what}: {detail}")]
    Network {
        /// The call.
        what: String,
        /// What happened.
        detail: String,
    },
    /// An answer relance cannot read.
    #[error("unexpected Pennylane answer to {what}: {detail}")]
    Protocol {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A command Pennylane cannot carry out as asked.
    #[error("{0}")]
    Refused(String),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// A cursor not produced by this connector.
    #[error("invalid Pennylane cursor: {0}")]
    Cursor(String),
}

impl From<PennylaneError> for ConnectorError {
    fn from(e: PennylaneError) -> Self {
        let msg = e.to_string();
        match e {
            PennylaneError::Token(_)
            | PennylaneError::Unauthorized { .. }
            | PennylaneError::Forbidden { .. }
            | PennylaneError::Config(_) => ConnectorError::Config(msg),
            PennylaneError::Unavailable { retry_after, .. } => ConnectorError::Transient {
                message: msg,
                retry_after,
            },
            PennylaneError::Network { .. } => ConnectorError::transient(msg),
            PennylaneError::NotFound { .. }
            | PennylaneError::Rejected { .. }
            | PennylaneError::Protocol { .. }
            | PennylaneError::Refused(_)
            | PennylaneError::Cursor(_) => ConnectorError::Permanent(msg),
        }
    }
}

impl From<crate::systems::passes::CursorError> for PennylaneError {
    fn from(e: crate::systems::passes::CursorError) -> Self {
        PennylaneError::Cursor(e.0)
    }
}

/// One page of a cursor-paged list.
#[derive(Debug, Default)]
pub struct ListPage {
    /// The items.
    pub items: Vec<Value>,
    /// The cursor of the next page (`None` at the end).
    pub next: Option<String>,
}

/// A client of one Pennylane company.
pub struct Client {
    cfg: PennylaneConfig,
    http: HttpClient,
    token: FileSecret,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PennylaneClient")
            .field("url", &self.cfg.url)
            .field("company_id", &self.cfg.company_id)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over the shared HTTP `layer`; reads the token now.
    pub fn new(cfg: PennylaneConfig, layer: Arc<HttpLayer>) -> Result<Self, PennylaneError> {
        http::host_key(&cfg.url).map_err(|e| {
            PennylaneError::Config(format!("Pennylane url {:?} cannot be used: {e}", cfg.url))
        })?;
        let http = HttpClient::new(layer, Duration::from_secs(cfg.timeout_seconds.max(1)));
        let token = FileSecret::read(&cfg.token_file, &http).map_err(PennylaneError::Token)?;
        let http = http.with_bucket(
            &format!("pennylane:{}", http::fingerprint(token.get().expose())),
            cfg.requests_per_window,
            Duration::from_secs(cfg.window_seconds),
        );
        Ok(Client { cfg, http, token })
    }

    /// The configuration.
    pub fn config(&self) -> &PennylaneConfig {
        &self.cfg
    }

    /// The HTTP handle (for redaction).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Pennylane's clock as of the last answer (`Date`).
    pub fn server_time(&self) -> Option<DateTime<Utc>> {
        self.http.server_time()
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        token: &Secret,
        what: &str,
    ) -> Result<http::HttpResponse, PennylaneError> {
        let bearer = format!("Bearer {}", token.expose());
        let company = self.cfg.company_id.map(|c| c.to_string());
        let mut headers = vec![
            ("authorization", bearer.as_str()),
            ("accept", "application/json"),
        ];
        if let Some(c) = &company {
            headers.push((COMPANY_HEADER, c.as_str()));
        }
        self.http
            .send(method, url, body, &headers)
            .await
            .map_err(|e| match e {
                HttpError::Url(u) => PennylaneError::Config(u.to_string()),
                HttpError::Client(c) => PennylaneError::Config(c),
                other => PennylaneError::Network {
                    what: what.to_owned(),
                    detail: other.to_string(),
                },
            })
    }

    /// One call; `path` may carry a query (see [`http::with_query`]). A 401 reads the token
    /// file again and retries once (a token rotated by the operator is used at once).
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, PennylaneError> {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            self.cfg.endpoint(path_and_query)
        };
        let mut resp = self
            .exchange(method, &url, body, &self.token.get(), what)
            .await?;
        if resp.status == 401 {
            if self
                .token
                .reread(&self.http)
                .map_err(PennylaneError::Token)?
            {
                tracing::info!(
                    what,
                    "Pennylane token changed in its file: using the new one"
                );
            } else {
                tracing::debug!(what, "Pennylane answered 401: trying the token once more");
            }
            resp = self
                .exchange(method, &url, body, &self.token.get(), what)
                .await?;
        }
        self.answer(resp, what)
    }

    fn answer(&self, resp: http::HttpResponse, what: &str) -> Result<Value, PennylaneError> {
        let detail = |body: &str| -> String {
            // {"error": "...", "status": n}, else the body's start (429 is plain text)
            serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .map(|m| self.http.excerpt(&m, 300))
                .unwrap_or_else(|| self.http.excerpt(body, 200))
        };
        let w = what.to_owned();
        match resp.status {
            200..=299 => {
                if resp.body.trim().is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_str(&resp.body).map_err(|e| PennylaneError::Protocol {
                    what: w,
                    detail: format!("not JSON ({e}): {}", self.http.excerpt(&resp.body, 120)),
                })
            }
            401 => Err(PennylaneError::Unauthorized { what: w }),
            403 => Err(PennylaneError::Forbidden {
                what: w,
                detail: detail(&resp.body),
            }),
            404 => Err(PennylaneError::NotFound {
                what: w,
                detail: detail(&resp.body),
            }),
            408 | 429 | 500..=599 => Err(PennylaneError::Unavailable {
                status: resp.status,
                what: w,
                detail: detail(&resp.body),
                retry_after: resp.retry_after,
            }),
            status => Err(PennylaneError::Rejected {
                status,
                what: w,
                detail: detail(&resp.body),
            }),
        }
    }

    /// GET `path` with `query`.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<Value, PennylaneError> {
        let url = http::with_query(&self.cfg.endpoint(path), query)
            .map_err(|e| PennylaneError::Config(e.to_string()))?;
        self.call(Method::Get, &url, None, what).await
    }

    /// One page of a cursor-paged list at `path`.
    pub async fn list(
        &self,
        path: &str,
        mut query: Vec<(&str, String)>,
        cursor: Option<&str>,
        what: &str,
    ) -> Result<ListPage, PennylaneError> {
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        let v = self.get(path, &query, what).await?;
        let items = match v.get("items") {
            Some(Value::Array(a)) => a.clone(),
            _ => {
                return Err(PennylaneError::Protocol {
                    what: what.to_owned(),
                    detail: format!("no items list: {}", wire::short(&v)),
                })
            }
        };
        let next = v
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let has_more = v.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        Ok(ListPage {
            items,
            next: if has_more { next } else { None },
        })
    }

    /// `filter` for a list: a JSON array of `{field, operator, value}` (§2.3).
    pub fn filter(conditions: &[(&str, &str, Value)]) -> String {
        Value::Array(
            conditions
                .iter()
                .map(|(f, o, v)| serde_json::json!({"field": f, "operator": o, "value": v}))
                .collect(),
        )
        .to_string()
    }
}
