//! The JSON-RPC client: login, `Session` authorization, context, re-login, warnings. Every
//! request goes through the shared HTTP layer ([`crate::http`]): per-host rate limit, holds on
//! `Retry-After`, gzip, timeouts, and the password and session redacted from every error.

use super::config::TrytonConfig;
use super::error::TrytonError;
use super::value;
use crate::http::{HttpClient, HttpError, HttpLayer};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// A secret string (password, session header) whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, only to put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Standard base64 with padding (the `Session` header), no dependency needed for 40 bytes.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Clone)]
struct Session {
    user_id: i64,
    header: Secret,
}

/// A JSON-RPC client bound to one database and user.
pub struct RpcClient {
    cfg: TrytonConfig,
    http: HttpClient,
    password: Secret,
    session: Mutex<Option<Session>>,
    context: Mutex<Option<Value>>,
    next_id: AtomicU64,
    server_time: std::sync::Mutex<Option<NaiveDateTime>>,
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.cfg.rpc_url())
            .field("user", &self.cfg.user)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

/// Reads the password: first line of the file, trimmed.
pub fn read_password(cfg: &TrytonConfig) -> Result<Secret, TrytonError> {
    let path = cfg.password_file.display().to_string();
    let text =
        std::fs::read_to_string(&cfg.password_file).map_err(|e| TrytonError::PasswordFile {
            path: path.clone(),
            reason: e.kind().to_string(),
        })?;
    let pw = text.lines().next().unwrap_or("").trim().to_owned();
    if pw.is_empty() {
        return Err(TrytonError::PasswordFile {
            path,
            reason: "empty".to_owned(),
        });
    }
    Ok(Secret(pw))
}

impl RpcClient {
    /// A client for `cfg` with its own HTTP layer, bounded at `cfg.requests_per_second`
    /// (tools and tests; the daemon shares one layer across companies, [`RpcClient::with_http`]).
    pub fn new(cfg: TrytonConfig) -> Result<Self, TrytonError> {
        let layer = HttpLayer::new().map_err(|e| TrytonError::Config(e.to_string()))?;
        layer.configure([(cfg.url.clone(), cfg.requests_per_second)]);
        Self::with_http(cfg, Arc::new(layer))
    }

    /// A client for `cfg` over the shared HTTP `layer` (whose per-host rates the caller
    /// configures); reads the password file now, logs in lazily.
    pub fn with_http(cfg: TrytonConfig, layer: Arc<HttpLayer>) -> Result<Self, TrytonError> {
        let password = read_password(&cfg)?;
        if let Err(e) = crate::http::host_key(&cfg.url) {
            return Err(TrytonError::Config(format!(
                "Tryton url {:?} cannot be used: {e}",
                cfg.url
            )));
        }
        let http = HttpClient::new(layer, Duration::from_secs(cfg.timeout_seconds.max(1)));
        http.add_secret(password.expose());
        Ok(Self {
            cfg,
            http,
            password,
            session: Mutex::new(None),
            context: Mutex::new(None),
            next_id: AtomicU64::new(1),
            server_time: std::sync::Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TrytonConfig {
        &self.cfg
    }

    /// The server's clock as of the last answer (its `Date` header, UTC, to the second).
    pub fn server_time(&self) -> Option<NaiveDateTime> {
        self.server_time.lock().map(|g| *g).unwrap_or(None)
    }

    /// One HTTP exchange. `auth` adds the session header. Returns the `result` or the error.
    async fn post(
        &self,
        url: &str,
        method: &str,
        params: &Value,
        auth: Option<&Secret>,
    ) -> Result<Value, TrytonError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Exactly {"id","method","params"}: any other key makes trytond answer bare results.
        let body = json!({"id": id, "method": method, "params": params});
        let mut headers = Vec::new();
        if let Some(h) = auth {
            headers.push(("authorization", h.expose()));
        }
        tracing::trace!(method, id, "tryton rpc");
        let resp = self
            .http
            .post_json(url, &body, &headers)
            .await
            .map_err(|e| match e {
                HttpError::Url(u) => TrytonError::Config(u.to_string()),
                HttpError::Client(c) => TrytonError::Config(c),
                other => TrytonError::Network {
                    method: method.to_owned(),
                    detail: other.to_string(),
                },
            })?;
        let status = resp.status;
        if let Some(t) = resp.date {
            if let Ok(mut g) = self.server_time.lock() {
                *g = Some(t.naive_utc());
            }
        }
        let retry_after = resp.retry_after;
        let text = resp.body;
        let detail = |t: &str| self.http.excerpt(t, 200);
        let m = method.to_owned();
        match status {
            200 => {}
            401 => {
                return Err(TrytonError::Unauthorized {
                    user: self.cfg.user.clone(),
                    method: m,
                })
            }
            403 => return Err(TrytonError::Forbidden { method: m }),
            404 => return Err(TrytonError::NotFound { method: m }),
            408 | 429 | 500..=599 => {
                return Err(TrytonError::Unavailable {
                    status,
                    method: m,
                    detail: detail(&text),
                    retry_after,
                })
            }
            _ => {
                return Err(TrytonError::Rejected {
                    status,
                    method: m,
                    detail: detail(&text),
                })
            }
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| TrytonError::Protocol {
            method: m.clone(),
            detail: format!("not JSON ({e}): {}", detail(&text)),
        })?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(classify_fault(method, err));
        }
        match v.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(TrytonError::Protocol {
                method: m,
                detail: format!("no result: {}", value::short(&v)),
            }),
        }
    }

    /// Logs in (`common.db.login`) and keeps the session.
    async fn login(&self) -> Result<Session, TrytonError> {
        let params =
            json!([self.cfg.user, {"password": self.password.expose()}, self.cfg.language]);
        let r = self
            .post(&self.cfg.rpc_url(), "common.db.login", &params, None)
            .await?;
        let user_id = r.get(0).and_then(Value::as_i64);
        let token = r.get(1).and_then(Value::as_str);
        let (Some(user_id), Some(token)) = (user_id, token) else {
            // a 200 without [uid, session] means the login was refused
            return Err(TrytonError::Unauthorized {
                user: self.cfg.user.clone(),
                method: "common.db.login".to_owned(),
            });
        };
        let header = Secret(format!(
            "Session {}",
            base64(format!("{}:{}:{}", self.cfg.user, user_id, token).as_bytes())
        ));
        self.http.add_secret(token);
        self.http.add_secret(header.expose());
        tracing::debug!(user = %self.cfg.user, user_id, "tryton login");
        Ok(Session { user_id, header })
    }

    async fn session(&self, renew: bool) -> Result<Session, TrytonError> {
        let mut guard = self.session.lock().await;
        if renew {
            *guard = None;
        }
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = self.login().await?;
        *guard = Some(s.clone());
        Ok(s)
    }

    /// The logged-in user's id.
    pub async fn user_id(&self) -> Result<i64, TrytonError> {
        Ok(self.session(false).await?.user_id)
    }

    /// Ends the session on the server (`common.db.logout`) and forgets it.
    pub async fn logout(&self) -> Result<(), TrytonError> {
        let taken = self.session.lock().await.take();
        if let Some(s) = taken {
            self.post(
                &self.cfg.rpc_url(),
                "common.db.logout",
                &json!([]),
                Some(&s.header),
            )
            .await?;
        }
        Ok(())
    }

    /// Ends the session on the server but keeps it here, so the next call meets the HTTP 401
    /// an idle timeout or a `fresh_session` refusal gives, and logs in again. For tests.
    pub async fn invalidate_session(&self) -> Result<(), TrytonError> {
        let kept = self.session.lock().await.clone();
        if let Some(s) = kept {
            self.post(
                &self.cfg.rpc_url(),
                "common.db.logout",
                &json!([]),
                Some(&s.header),
            )
            .await?;
        }
        Ok(())
    }

    /// A server-level call (no session, no database): `common.server.version` etc.
    pub async fn server_call(&self, method: &str, params: Value) -> Result<Value, TrytonError> {
        self.post(&self.cfg.server_url(), method, &params, None)
            .await
    }

    /// An authenticated call with `params` as given (the context must already be in it).
    /// Re-logs in once on HTTP 401 (expired session, `fresh_session` refusal), acknowledges
    /// the UserWarnings the configuration allows.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, TrytonError> {
        let mut relogged = false;
        let mut acknowledged: Vec<String> = Vec::new();
        loop {
            let s = self.session(false).await?;
            match self
                .post(&self.cfg.rpc_url(), method, &params, Some(&s.header))
                .await
            {
                Err(TrytonError::Unauthorized { .. }) if !relogged => {
                    relogged = true;
                    tracing::debug!(method, "tryton session refused, logging in again");
                    self.session(true).await?;
                }
                Err(TrytonError::Warning {
                    name,
                    method: m,
                    message,
                }) if self.warning_allowed(&name)
                    && !acknowledged.contains(&name)
                    && acknowledged.len() < 5 =>
                {
                    tracing::info!(method = %m, warning = %name, message = %message, "acknowledging Tryton warning as configured");
                    // an empty context is enough here (no company-dependent default on warnings)
                    let ack = json!([[{"user": s.user_id, "name": name, "always": false}], {}]);
                    self.post(
                        &self.cfg.rpc_url(),
                        "model.res.user.warning.create",
                        &ack,
                        Some(&s.header),
                    )
                    .await?;
                    acknowledged.push(name);
                }
                other => return other,
            }
        }
    }

    fn warning_allowed(&self, name: &str) -> bool {
        self.cfg
            .acknowledge_warnings
            .iter()
            .any(|w| w == "*" || (!w.is_empty() && name.contains(w.as_str())))
    }

    /// The context sent with every model call: company, language, and `with_payment: false` so
    /// `amount_to_pay` is the legally open amount, not reduced by pending direct debits
    /// (guide pitfall 9).
    pub async fn context(&self) -> Result<Value, TrytonError> {
        let mut guard = self.context.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let company = match self.cfg.company {
            Some(c) => c,
            None => {
                let prefs = self
                    .call("model.res.user.get_preferences", json!([true, {}]))
                    .await?;
                prefs.get("company").and_then(Value::as_i64).ok_or_else(|| {
                    TrytonError::Missing(format!("Tryton user {:?} has no current company; set `company` in the configuration", self.cfg.user))
                })?
            }
        };
        let ctx = json!({"company": company, "companies": [company], "language": self.cfg.language, "with_payment": false});
        *guard = Some(ctx.clone());
        Ok(ctx)
    }

    /// The company id in use.
    pub async fn company(&self) -> Result<i64, TrytonError> {
        let ctx = self.context().await?;
        ctx.get("company")
            .and_then(Value::as_i64)
            .ok_or_else(|| TrytonError::Missing("no company".to_owned()))
    }

    /// `model.<model>.<method>` with `args` followed by the context.
    pub async fn model(
        &self,
        model: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, TrytonError> {
        self.model_ctx(model, method, args, None).await
    }

    /// As [`RpcClient::model`], with extra context keys (e.g. `active_ids` for wizards).
    pub async fn model_ctx(
        &self,
        model: &str,
        method: &str,
        mut args: Vec<Value>,
        extra: Option<Value>,
    ) -> Result<Value, TrytonError> {
        let mut ctx = self.context().await?;
        if let (Some(Value::Object(extra)), Value::Object(c)) = (extra, &mut ctx) {
            c.extend(extra);
        }
        args.push(ctx);
        self.call(&format!("model.{model}.{method}"), Value::Array(args))
            .await
    }

    /// `search_read(domain, offset, limit, order, fields)`.
    pub async fn search_read(
        &self,
        model: &str,
        domain: Value,
        offset: u64,
        limit: Option<u32>,
        order: Value,
        fields: &[&str],
    ) -> Result<Vec<Value>, TrytonError> {
        let r = self
            .model(
                model,
                "search_read",
                vec![domain, json!(offset), json!(limit), order, json!(fields)],
            )
            .await?;
        match r {
            Value::Array(rows) => Ok(rows),
            other => Err(TrytonError::Protocol {
                method: format!("model.{model}.search_read"),
                detail: format!("expected a list, got {}", value::short(&other)),
            }),
        }
    }

    /// `search(domain, offset, limit, order)` → ids.
    pub async fn search(
        &self,
        model: &str,
        domain: Value,
        limit: Option<u32>,
    ) -> Result<Vec<i64>, TrytonError> {
        let r = self
            .model(
                model,
                "search",
                vec![domain, json!(0), json!(limit), json!([["id", "ASC"]])],
            )
            .await?;
        Ok(value::ids(&r, model)?)
    }

    /// `search_count(domain)`.
    pub async fn search_count(&self, model: &str, domain: Value) -> Result<u64, TrytonError> {
        let r = self.model(model, "search_count", vec![domain]).await?;
        r.as_u64().ok_or_else(|| TrytonError::Protocol {
            method: format!("model.{model}.search_count"),
            detail: value::short(&r),
        })
    }

    /// Runs a wizard to completion of one state: create, execute `state` with `data` and the
    /// records in the context, delete.
    pub async fn wizard(
        &self,
        wizard: &str,
        state: &str,
        data: Value,
        model: &str,
        ids: &[i64],
    ) -> Result<Value, TrytonError> {
        let created = self
            .call(&format!("wizard.{wizard}.create"), json!([{}]))
            .await?;
        let sid = created
            .get(0)
            .and_then(Value::as_i64)
            .ok_or_else(|| TrytonError::Protocol {
                method: format!("wizard.{wizard}.create"),
                detail: value::short(&created),
            })?;
        let mut ctx = self.context().await?;
        if let Value::Object(c) = &mut ctx {
            c.insert("active_model".into(), json!(model));
            c.insert("active_id".into(), json!(ids.first()));
            c.insert("active_ids".into(), json!(ids));
        }
        let result = self
            .call(
                &format!("wizard.{wizard}.execute"),
                json!([sid, data, state, ctx]),
            )
            .await;
        let plain = self.context().await?;
        // deleting the wizard session is housekeeping: its failure does not undo the work
        if let Err(e) = self
            .call(&format!("wizard.{wizard}.delete"), json!([sid, plain]))
            .await
        {
            tracing::debug!(wizard, error = %e, "wizard delete failed");
        }
        result
    }
}

/// Maps a JSON-RPC `error` member to an error.
fn classify_fault(method: &str, err: &Value) -> TrytonError {
    let m = method.to_owned();
    let kind = err.get(0).and_then(Value::as_str).unwrap_or("");
    let args = err.get(1).unwrap_or(&Value::Null);
    let arg = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("").to_owned();
    match kind {
        "UserError" => TrytonError::User {
            method: m,
            message: arg(0),
            description: arg(1),
        },
        "UserWarning" => TrytonError::Warning {
            method: m,
            name: arg(0),
            message: arg(1),
        },
        "ConcurrencyException" | "TimeoutException" | "RateLimitException" => {
            TrytonError::Concurrency {
                kind: kind.to_owned(),
                method: m,
                message: if args.is_string() {
                    args.as_str().unwrap_or("").to_owned()
                } else {
                    arg(0)
                },
            }
        }
        "" => TrytonError::Protocol {
            method: m,
            detail: format!("error without a name: {}", value::short(err)),
        },
        other => TrytonError::Fault {
            method: m,
            message: other.chars().take(300).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"admin:1:abc"), "YWRtaW46MTphYmM=");
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
    }

    #[test]
    fn faults_are_classified() {
        let e = classify_fault(
            "m",
            &json!([
                "UserError",
                ["Line can be used only once on dunning.", "", null]
            ]),
        );
        assert!(
            matches!(e, TrytonError::User { ref message, .. } if message.starts_with("Line can"))
        );
        let e = classify_fault(
            "m",
            &json!(["UserWarning", ["abc.invoice_date_future", "future", ""]]),
        );
        assert!(
            matches!(e, TrytonError::Warning { ref name, .. } if name == "abc.invoice_date_future")
        );
        let e = classify_fault("m", &json!(["'no_such_field'", ""]));
        assert!(matches!(e, TrytonError::Fault { .. }));
    }
}
