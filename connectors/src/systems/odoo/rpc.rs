//! The two Odoo external APIs behind one call, `call(model, method, ids, kwargs)`:
//!
//! - **JSON-RPC** (16–18, deprecated in 19): `POST /jsonrpc {"jsonrpc": "2.0", "method":
//!   "call", "params": {"service": "object", "method": "execute_kw", "args": [db, uid, key,
//!   model, method, [ids], kwargs]}}`, the uid from `common.authenticate` (connector-apis.md
//!   §1.1). Errors come with HTTP **200** and an `error{code, message, data{name, message}}`
//!   body (`odoo/http.py`, `JsonRPCDispatcher.handle_error`): classified by `data.name`
//!   (`AccessDenied` → credentials, `AccessError` → rights, `UserError`/`ValidationError` →
//!   the command, code 100 `SessionExpiredException` → authenticate again and retry once).
//! - **JSON-2** (19+): `POST /json/2/<model>/<method>` with the keyword arguments as body
//!   (`ids` for a recordset, `context`), `Authorization: Bearer <key>`, `X-Odoo-Database`;
//!   errors are real HTTP statuses with a JSON string (`401 "Invalid apikey"`) or an
//!   exception object.
//!
//! Every method relance calls takes keyword arguments only (`search_read(domain, fields,
//! offset, limit, order)`, `write(vals)`, `create(vals_list)`, `message_post(body, ...)`), so
//! both APIs carry the same call. A refused key is read again from its file once (a rotated
//! key is picked up at once). Requests go through the shared HTTP layer (host rate, holds,
//! timeouts, redaction of the key).

use super::config::{Api, OdooConfig};
use crate::error::ConnectorError;
use crate::http::{self, HttpClient, HttpError, HttpLayer, Method};
use crate::wire::{self, FileSecret, Secret};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What went wrong with an Odoo call. Never carries the API key.
#[derive(Debug, thiserror::Error)]
pub enum OdooError {
    /// The key file cannot be used.
    #[error("Odoo API key: {0}")]
    ApiKey(String),
    /// Login or key refused (`AccessDenied`, HTTP 401), again after reading the key anew.
    #[error("Odoo refused the credentials of {login:?} on {what} (AccessDenied): wrong login, database or API key, or an expired key")]
    AccessDenied {
        /// The login (JSON-RPC) or "API key" (JSON-2).
        login: String,
        /// The call.
        what: String,
    },
    /// The user may not do this (`AccessError`, HTTP 403).
    #[error("Odoo denies {what} to relance's user (AccessError): {message}")]
    AccessError {
        /// The call.
        what: String,
        /// Odoo's message.
        message: String,
    },
    /// A business rule or a bad argument refused the call (`UserError`, `ValidationError`,
    /// `MissingError`, `ValueError`...).
    #[error("Odoo {name} on {what}: {message}")]
    Refusal {
        /// The exception's name.
        name: String,
        /// The call.
        what: String,
        /// Odoo's message.
        message: String,
    },
    /// Concurrent update or lock: try again.
    #[error("Odoo {name} on {what}: {message}")]
    Concurrency {
        /// The exception's name.
        name: String,
        /// The call.
        what: String,
        /// Odoo's message.
        message: String,
    },
    /// Server overloaded, restarting, or answering 429.
    #[error("Odoo unavailable (HTTP {status}) on {what}: {detail}")]
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
    /// Wrong URL or database (HTTP 404 on the endpoint).
    #[error("Odoo endpoint not found (HTTP 404) on {what}: wrong url or database?")]
    NotFound {
        /// The call.
        what: String,
    },
    /// Another HTTP status.
    #[error("Odoo answered HTTP {status} on {what}: {detail}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The call.
        what: String,
        /// The body's start.
        detail: String,
    },
    /// No answer.
    #[error("network error on Odoo {what}: {detail}")]
    Network {
        /// The call.
        what: String,
        /// What happened.
        detail: String,
    },
    /// An answer relance cannot read.
    #[error("unexpected Odoo answer to {what}: {detail}")]
    Protocol {
        /// The call.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A command Odoo cannot carry out as configured.
    #[error("{0}")]
    Refused(String),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// A cursor not produced by this connector.
    #[error("invalid Odoo cursor: {0}")]
    Cursor(String),
}

impl From<OdooError> for ConnectorError {
    fn from(e: OdooError) -> Self {
        let msg = e.to_string();
        match e {
            OdooError::ApiKey(_)
            | OdooError::AccessDenied { .. }
            | OdooError::AccessError { .. }
            | OdooError::NotFound { .. }
            | OdooError::Config(_) => ConnectorError::Config(msg),
            OdooError::Unavailable { retry_after, .. } => ConnectorError::Transient {
                message: msg,
                retry_after,
            },
            OdooError::Network { .. } | OdooError::Concurrency { .. } => {
                ConnectorError::transient(msg)
            }
            OdooError::Refusal { .. }
            | OdooError::Http { .. }
            | OdooError::Protocol { .. }
            | OdooError::Refused(_)
            | OdooError::Cursor(_) => ConnectorError::Permanent(msg),
        }
    }
}

impl From<crate::systems::passes::CursorError> for OdooError {
    fn from(e: crate::systems::passes::CursorError) -> Self {
        OdooError::Cursor(e.0)
    }
}

/// The API in use once resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `/jsonrpc`.
    Jsonrpc,
    /// `/json/2`.
    Json2,
}

/// A client of one Odoo database and user.
pub struct Rpc {
    cfg: OdooConfig,
    http: HttpClient,
    key: FileSecret,
    uid: tokio::sync::Mutex<Option<i64>>,
    transport: tokio::sync::Mutex<Option<(Transport, u32)>>,
    company: tokio::sync::Mutex<Option<i64>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooRpc")
            .field("url", &self.cfg.url)
            .field("database", &self.cfg.database)
            .field("login", &self.cfg.login)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What kind of failure an exchange ended with, before retries are decided.
enum Failure {
    /// Credentials refused.
    Denied,
    /// JSON-RPC session expired (code 100).
    Expired,
    /// Anything else: final.
    Other(OdooError),
}

impl Rpc {
    /// A client over the shared HTTP `layer`; reads the key now, connects lazily.
    pub fn new(cfg: OdooConfig, layer: Arc<HttpLayer>) -> Result<Self, OdooError> {
        http::host_key(&cfg.url).map_err(|e| {
            OdooError::Config(format!("Odoo url {:?} cannot be used: {e}", cfg.url))
        })?;
        let http = HttpClient::new(layer, Duration::from_secs(cfg.timeout_seconds.max(1)));
        let key = FileSecret::read(&cfg.api_key_file, &http).map_err(OdooError::ApiKey)?;
        Ok(Rpc {
            cfg,
            http,
            key,
            uid: tokio::sync::Mutex::new(None),
            transport: tokio::sync::Mutex::new(None),
            company: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OdooConfig {
        &self.cfg
    }

    /// The server's clock as of the last answer (`Date`).
    pub fn server_time(&self) -> Option<DateTime<Utc>> {
        self.http.server_time()
    }

    fn key(&self) -> Secret {
        self.key.get()
    }

    async fn exchange(
        &self,
        url: &str,
        body: &Value,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<http::HttpResponse, OdooError> {
        self.http
            .send(Method::Post, url, Some(body), headers)
            .await
            .map_err(|e| match e {
                HttpError::Url(u) => OdooError::Config(u.to_string()),
                HttpError::Client(c) => OdooError::Config(c),
                other => OdooError::Network {
                    what: what.to_owned(),
                    detail: other.to_string(),
                },
            })
    }

    fn transport_status(&self, resp: &http::HttpResponse, what: &str) -> Result<(), OdooError> {
        match resp.status {
            200..=299 => Ok(()),
            404 => Err(OdooError::NotFound {
                what: what.to_owned(),
            }),
            408 | 429 | 500..=599 => Err(OdooError::Unavailable {
                status: resp.status,
                what: what.to_owned(),
                detail: self.http.excerpt(&resp.body, 200),
                retry_after: resp.retry_after,
            }),
            status => Err(OdooError::Http {
                status,
                what: what.to_owned(),
                detail: self.http.excerpt(&resp.body, 200),
            }),
        }
    }

    /// One JSON-RPC exchange: the `result`, or the classified `error`.
    async fn jsonrpc(
        &self,
        service: &str,
        method: &str,
        args: Value,
        what: &str,
    ) -> Result<Value, Failure> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": id,
            "params": {"service": service, "method": method, "args": args}});
        let resp = self
            .exchange(&self.cfg.endpoint("/jsonrpc"), &body, &[], what)
            .await
            .map_err(Failure::Other)?;
        self.transport_status(&resp, what).map_err(Failure::Other)?;
        let v: Value = serde_json::from_str(&resp.body).map_err(|e| {
            Failure::Other(OdooError::Protocol {
                what: what.to_owned(),
                detail: format!("not JSON ({e}): {}", self.http.excerpt(&resp.body, 120)),
            })
        })?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(self.classify(err, what));
        }
        v.get("result").cloned().ok_or_else(|| {
            Failure::Other(OdooError::Protocol {
                what: what.to_owned(),
                detail: format!("neither result nor error: {}", wire::short(&v)),
            })
        })
    }

    /// Classifies a JSON-RPC `error` member (or a JSON-2 exception object).
    fn classify(&self, err: &Value, what: &str) -> Failure {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let data = err.get("data").unwrap_or(err);
        let name = data
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let message = self.http.excerpt(
            data.get("message")
                .and_then(Value::as_str)
                .or_else(|| err.get("message").and_then(Value::as_str))
                .unwrap_or(""),
            300,
        );
        let short = name.rsplit('.').next().unwrap_or("").to_owned();
        let w = what.to_owned();
        if code == 100 || short == "SessionExpiredException" {
            return Failure::Expired;
        }
        match short.as_str() {
            "AccessDenied" => Failure::Denied,
            // an unknown database: the configuration is wrong
            "OperationalError" | "DatabaseDoesNotExist" => {
                Failure::Other(OdooError::Config(format!(
                    "Odoo cannot open database {:?} ({name}): {message}",
                    self.cfg.database
                )))
            }
            "AccessError" => Failure::Other(OdooError::AccessError { what: w, message }),
            "ConcurrencyError"
            | "SerializationFailure"
            | "LockNotAvailable"
            | "TransactionRollbackError" => Failure::Other(OdooError::Concurrency {
                name,
                what: w,
                message,
            }),
            "" => Failure::Other(OdooError::Protocol {
                what: w,
                detail: format!(
                    "error without a name: {}",
                    self.http.excerpt(&err.to_string(), 200)
                ),
            }),
            _ => Failure::Other(OdooError::Refusal {
                name,
                what: w,
                message,
            }),
        }
    }

    /// The server's major version (`common.version`; `GET /web/version` where JSON-RPC is
    /// gone).
    pub async fn version(&self) -> Result<u32, OdooError> {
        Ok(self.transport().await?.1)
    }

    /// The API in use and the server's major version.
    pub async fn transport(&self) -> Result<(Transport, u32), OdooError> {
        let mut g = self.transport.lock().await;
        if let Some(t) = *g {
            return Ok(t);
        }
        let version = match self
            .jsonrpc("common", "version", json!([]), "common.version")
            .await
        {
            Ok(v) => v["server_version_info"][0].as_u64().unwrap_or(0) as u32,
            Err(Failure::Other(OdooError::NotFound { .. })) => {
                // JSON-RPC removed: JSON-2's unauthenticated version route
                let resp = self
                    .http
                    .get(&self.cfg.endpoint("/web/version"), &[])
                    .await
                    .map_err(|e| OdooError::Network {
                        what: "GET /web/version".into(),
                        detail: e.to_string(),
                    })?;
                self.transport_status(&resp, "GET /web/version")?;
                let v: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
                v["version_info"][0].as_u64().unwrap_or(19) as u32
            }
            Err(Failure::Other(e)) => return Err(e),
            Err(_) => 0,
        };
        let t = match self.cfg.api {
            Api::Jsonrpc => Transport::Jsonrpc,
            Api::Json2 => Transport::Json2,
            Api::Auto if version >= 19 => Transport::Json2,
            Api::Auto => Transport::Jsonrpc,
        };
        tracing::debug!(version, transport = ?t, "odoo server");
        *g = Some((t, version));
        Ok((t, version))
    }

    async fn authenticate(&self, renew: bool) -> Result<i64, OdooError> {
        let mut g = self.uid.lock().await;
        if renew {
            *g = None;
        }
        if let Some(uid) = *g {
            return Ok(uid);
        }
        let key = self.key();
        let args = json!([self.cfg.database, self.cfg.login, key.expose(), {}]);
        let denied = || OdooError::AccessDenied {
            login: self.cfg.login.clone(),
            what: "common.authenticate".into(),
        };
        let r = match self
            .jsonrpc("common", "authenticate", args, "common.authenticate")
            .await
        {
            Ok(r) => r,
            Err(Failure::Denied) | Err(Failure::Expired) => return Err(denied()),
            Err(Failure::Other(e)) => return Err(e),
        };
        // `false` (not an error) when the login or key is wrong
        let uid = r.as_i64().ok_or_else(denied)?;
        *g = Some(uid);
        Ok(uid)
    }

    /// Reads the key file again; true when it changed.
    fn reread_key(&self) -> Result<bool, OdooError> {
        self.key.reread(&self.http).map_err(OdooError::ApiKey)
    }

    /// The context sent with every call: the company.
    async fn context(&self) -> Result<Value, OdooError> {
        match self.company().await? {
            Some(c) => Ok(json!({"allowed_company_ids": [c]})),
            None => Ok(json!({})),
        }
    }

    /// The Odoo company in use: the configured one, else the database's only company.
    pub async fn company(&self) -> Result<Option<i64>, OdooError> {
        if let Some(c) = self.cfg.company_id {
            return Ok(Some(c));
        }
        let mut g = self.company.lock().await;
        if let Some(c) = *g {
            return Ok(Some(c));
        }
        let mut kw = Map::new();
        kw.insert("domain".into(), json!([]));
        kw.insert("fields".into(), json!(["id"]));
        kw.insert("limit".into(), json!(2));
        let rows = self
            .raw_call("res.company", "search_read", None, kw, None)
            .await?;
        let ids: Vec<i64> = rows
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["id"].as_i64()).collect())
            .unwrap_or_default();
        match ids.as_slice() {
            [one] => {
                *g = Some(*one);
                Ok(Some(*one))
            }
            [] => Ok(None),
            _ => Err(OdooError::Config(
                "this Odoo database has several companies: set company_id (one relance company per Odoo company)".into(),
            )),
        }
    }

    /// `model.method(**kwargs)` on `ids` (a recordset method) or on the model, with the
    /// company's context.
    pub async fn call(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        let ctx = self.context().await?;
        self.raw_call(model, method, ids, kwargs, Some(ctx)).await
    }

    async fn raw_call(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        mut kwargs: Map<String, Value>,
        context: Option<Value>,
    ) -> Result<Value, OdooError> {
        let what = format!("{model}.{method}");
        if let Some(c) = context {
            kwargs.insert("context".into(), c);
        }
        let (transport, _) = self.transport().await?;
        let mut reread = false;
        let mut renewed = false;
        loop {
            let outcome = match transport {
                Transport::Jsonrpc => {
                    let uid = self.authenticate(false).await;
                    let uid = match uid {
                        Ok(u) => u,
                        Err(OdooError::AccessDenied { .. }) if !reread => {
                            reread = true;
                            self.reread_key()?;
                            self.authenticate(true).await?
                        }
                        Err(e) => return Err(e),
                    };
                    let args = match ids {
                        Some(ids) => json!([ids]),
                        None => json!([]),
                    };
                    let key = self.key();
                    self.jsonrpc(
                        "object",
                        "execute_kw",
                        json!([
                            self.cfg.database,
                            uid,
                            key.expose(),
                            model,
                            method,
                            args,
                            kwargs
                        ]),
                        &what,
                    )
                    .await
                }
                Transport::Json2 => self.json2(model, method, ids, &kwargs, &what).await,
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(Failure::Expired) if !renewed => {
                    renewed = true;
                    tracing::debug!(what = %what, "Odoo session expired: authenticating again");
                    if transport == Transport::Jsonrpc {
                        self.authenticate(true).await?;
                    }
                }
                Err(Failure::Denied) if !reread => {
                    reread = true;
                    if self.reread_key()? {
                        tracing::info!(what = %what, "Odoo API key changed in its file: using the new one");
                    }
                    if transport == Transport::Jsonrpc {
                        self.authenticate(true).await?;
                    }
                }
                Err(Failure::Denied) | Err(Failure::Expired) => {
                    return Err(OdooError::AccessDenied {
                        login: if transport == Transport::Json2 {
                            "API key".into()
                        } else {
                            self.cfg.login.clone()
                        },
                        what,
                    })
                }
                Err(Failure::Other(e)) => return Err(e),
            }
        }
    }

    async fn json2(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        kwargs: &Map<String, Value>,
        what: &str,
    ) -> Result<Value, Failure> {
        let mut body = kwargs.clone();
        if let Some(ids) = ids {
            body.insert("ids".into(), json!(ids));
        }
        let key = self.key();
        let bearer = format!("Bearer {}", key.expose());
        let headers = [
            ("authorization", bearer.as_str()),
            ("x-odoo-database", self.cfg.database.as_str()),
        ];
        let url = self.cfg.endpoint(&format!("/json/2/{model}/{method}"));
        let resp = self
            .exchange(&url, &Value::Object(body), &headers, what)
            .await
            .map_err(Failure::Other)?;
        let parsed: Option<Value> = serde_json::from_str(&resp.body).ok();
        match resp.status {
            200..=299 => parsed.ok_or_else(|| {
                Failure::Other(OdooError::Protocol {
                    what: what.to_owned(),
                    detail: format!("not JSON: {}", self.http.excerpt(&resp.body, 120)),
                })
            }),
            401 => Err(Failure::Denied),
            403 | 404 | 422 | 400 | 409 => {
                // a JSON string (the doc's examples) or an exception object
                match parsed {
                    Some(Value::Object(o)) if o.contains_key("name") => {
                        Err(self.classify(&Value::Object(o), what))
                    }
                    other => {
                        let message = other
                            .as_ref()
                            .and_then(Value::as_str)
                            .map(|s| self.http.excerpt(s, 300))
                            .unwrap_or_else(|| self.http.excerpt(&resp.body, 200));
                        Err(Failure::Other(match resp.status {
                            403 => OdooError::AccessError {
                                what: what.to_owned(),
                                message,
                            },
                            404 => OdooError::NotFound {
                                what: what.to_owned(),
                            },
                            status => OdooError::Refusal {
                                name: format!("HTTP {status}"),
                                what: what.to_owned(),
                                message,
                            },
                        }))
                    }
                }
            }
            _ => Err(Failure::Other(
                self.transport_status(&resp, what)
                    .err()
                    .unwrap_or(OdooError::Http {
                        status: resp.status,
                        what: what.to_owned(),
                        detail: String::new(),
                    }),
            )),
        }
    }

    /// `search_read(domain, fields, offset, limit, order)`.
    pub async fn search_read(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
        offset: u64,
        limit: Option<u32>,
        order: &str,
    ) -> Result<Vec<Value>, OdooError> {
        let mut kw = Map::new();
        kw.insert("domain".into(), domain);
        kw.insert("fields".into(), json!(fields));
        kw.insert("offset".into(), json!(offset));
        if let Some(l) = limit {
            kw.insert("limit".into(), json!(l));
        }
        kw.insert("order".into(), json!(order));
        match self.call(model, "search_read", None, kw).await? {
            Value::Array(rows) => Ok(rows),
            other => Err(OdooError::Protocol {
                what: format!("{model}.search_read"),
                detail: format!("expected a list, got {}", wire::short(&other)),
            }),
        }
    }

    /// `fields_get(attributes=["type"])`: the field names of a model on this database.
    pub async fn field_names(&self, model: &str) -> Result<Vec<String>, OdooError> {
        let mut kw = Map::new();
        kw.insert("attributes".into(), json!(["type"]));
        let v = self.call(model, "fields_get", None, kw).await?;
        Ok(v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default())
    }
}
