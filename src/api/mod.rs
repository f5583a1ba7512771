//! The operator API: HTTP + JSON under `/api/v1`, served by the daemon on its own listener
//! (loopback by default, HTTPS with `[api.tls]`) and on a local Unix socket for the command
//! line, described by an OpenAPI document generated from the handlers
//! (`/api/v1/openapi.json`, served without authentication: it holds no data).
//!
//! - Every request but the document and the login is authenticated ([`crate::auth::web`]):
//!   a session cookie (CSRF header on every unsafe request), an API token, or the socket's
//!   peer credentials. Roles are checked per company; a company the caller has no role on is
//!   answered 404, as one that does not exist.
//! - Reads are cut from the company's in-memory read model ([`model::ReadModels`]).
//! - Decisions go through [`seam`] into the store inbox, idempotent by the `Idempotency-Key`
//!   header; work on a company (a cycle now, booking a closing) runs inside the company's task
//!   through [`hub::Hub`], so never beside one of its cycles.
//! - Errors are `{"error": {"code": …, "message": …}}` with the matching status.

pub mod client;
pub mod hub;
pub mod model;
pub mod routes;
pub mod seam;
pub mod serve;

use crate::auth::web::{Auth, Principal, Refusal};
use crate::auth::Role;
use crate::clock::Clock;
use crate::config::CompanyConfig;
use crate::pipeline::Pipeline;
use crate::store::SharedStore;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use relance_core::CompanyId;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The API's base path.
pub const BASE: &str = "/api/v1";
/// Header carrying a decision's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Largest request body accepted.
pub const MAX_REQUEST_BODY: usize = 256 * 1024;

/// What every handler reads. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState(pub Arc<Inner>);

/// The shared parts of [`ApiState`].
#[derive(Debug)]
pub struct Inner {
    /// The store (unfenced: reads, and records that need no lease: inbox, documents).
    pub store: SharedStore,
    /// Sessions, tokens, throttles.
    pub auth: Arc<Auth>,
    /// The companies' read models.
    pub models: Arc<model::ReadModels>,
    /// The companies this instance runs.
    pub hub: Arc<hub::Hub>,
    /// The clock.
    pub clock: Clock,
    /// The configured companies (replaced on reload).
    pub companies: RwLock<Arc<Vec<Arc<CompanyConfig>>>>,
    /// Rate tables and templates (dunning plans).
    pub pipeline: Arc<Pipeline>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The configuration directory (told to local socket clients, so that a command run for
    /// another configuration does not talk to this daemon).
    pub config_dir: PathBuf,
}

impl ApiState {
    /// The state of an API over `store` for `companies`.
    pub fn new(
        store: SharedStore,
        clock: Clock,
        hub: Arc<hub::Hub>,
        companies: &[CompanyConfig],
        pipeline: Arc<Pipeline>,
        dirs: (PathBuf, PathBuf),
        session_ttl: std::time::Duration,
    ) -> Self {
        let (config_dir, state_dir) = dirs;
        let ttl = chrono::Duration::from_std(session_ttl).unwrap_or(chrono::Duration::hours(12));
        ApiState(Arc::new(Inner {
            auth: Arc::new(Auth::new(store.clone(), clock.clone(), ttl)),
            models: Arc::new(model::ReadModels::new(
                store.clone(),
                hub.clone(),
                clock.clone(),
            )),
            store,
            hub,
            clock,
            companies: RwLock::new(Arc::new(companies.iter().cloned().map(Arc::new).collect())),
            pipeline,
            state_dir,
            config_dir,
        }))
    }

    /// Replaces the configured companies (after a reload).
    pub fn set_companies(&self, companies: &[CompanyConfig]) {
        let list = Arc::new(companies.iter().cloned().map(Arc::new).collect());
        *self.0.companies.write().unwrap_or_else(|p| p.into_inner()) = list;
    }

    /// The configured companies.
    pub fn companies(&self) -> Arc<Vec<Arc<CompanyConfig>>> {
        self.0
            .companies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The company `id` when `p` holds at least `need` on it: 404 when it does not exist or
    /// `p` has no role on it, 403 when the role is too low.
    pub fn company(
        &self,
        p: &Principal,
        id: &str,
        need: Role,
    ) -> Result<Arc<CompanyConfig>, ApiError> {
        let cid = CompanyId::new(id);
        let found = self.companies().iter().find(|c| c.id == cid).cloned();
        match (found, p.role_on(&cid)) {
            (Some(c), Some(r)) if r >= need => Ok(c),
            (Some(_), Some(r)) => Err(ApiError::forbidden(format!(
                "{} on {id} may not do this: {} needed",
                r.as_str(),
                need.as_str()
            ))),
            _ => Err(ApiError::not_found(format!("no company {id:?}"))),
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable code (`unauthenticated`, `csrf`, `forbidden`, `not_found`, `invalid`,
    /// `conflict`, `throttled`, `not_here`, `unavailable`, `internal`).
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code.
    pub code: String,
    /// Message.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400/422: the request is not valid.
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
    }
    /// 401.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in (POST /api/v1/session) or send an API token (Authorization: Bearer rlc_…)",
        )
    }
    /// 403: the role is too low.
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    /// 404.
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    /// 409.
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", m)
    }
    /// 503: the store or a company's task is not available.
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
    }
    /// 500.
    pub fn internal(m: impl std::fmt::Display) -> Self {
        tracing::error!(error = %m, "api: internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m.to_string())
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Unauthenticated => ApiError::unauthenticated(),
            Refusal::Csrf => ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong X-CSRF-Token header (GET /api/v1/session gives the session's token)",
            ),
            Refusal::Unavailable(m) => ApiError::unavailable(m),
        }
    }
}

impl From<hub::HubError> for ApiError {
    fn from(e: hub::HubError) -> Self {
        match e {
            hub::HubError::NotHere(_) => {
                ApiError::new(StatusCode::CONFLICT, "not_here", e.to_string())
            }
            hub::HubError::Gone(_) => ApiError::unavailable(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"relance\""),
            );
        }
        r
    }
}

impl crate::auth::web::HasAuth for ApiState {
    fn auth(&self) -> &Arc<Auth> {
        &self.0.auth
    }
}

/// A handler's caller, on any router whose state holds an [`Auth`] (the API's, the console's):
/// refused with a JSON error (401, or 403 `csrf` for a session's unsafe request without its
/// `X-CSRF-Token` header). A console form handler that reads the token from its form calls
/// [`Auth::authenticate`] with `form_csrf` instead.
impl<S> FromRequestParts<S> for Principal
where
    S: crate::auth::web::HasAuth + Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(state.auth().authenticate(parts, false).await?)
    }
}

/// Runs `f` on the blocking pool (store reads and writes).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// The routes and their OpenAPI document.
pub fn router(state: ApiState) -> axum::Router {
    let (router, doc) = routes::build();
    // Made once; each answer shares the bytes.
    let doc = axum::body::Bytes::from(doc.to_pretty_json().unwrap_or_default());
    axum::Router::new()
        .nest(BASE, router)
        .route(
            &format!("{BASE}/openapi.json"),
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc) }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(state.clone())
        // The web console, beside the API on the same listener.
        .merge(crate::console::router(state))
}

/// The OpenAPI document (as served at `/api/v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::build().1
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap_or_default().to_owned());
                    }
                    refs(x, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_valid_and_names_every_operation() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(doc["servers"][0]["url"], BASE);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        assert!(schemes.contains_key("session") && schemes.contains_key("token"));
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(schemas.contains_key(name), "dangling {r}");
        }
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}"
                );
                let sec = op["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path}: no security"));
                for req in sec.iter().filter_map(|r| r.as_object()) {
                    for (scheme, scopes) in req {
                        assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
                        for s in scopes.as_array().unwrap() {
                            assert!(
                                ["viewer", "collector", "approver", "admin", "global_admin"]
                                    .contains(&s.as_str().unwrap()),
                                "{method} {path}: scope {s}"
                            );
                        }
                    }
                }
                for p in path.split('/').filter(|s| s.starts_with('{')) {
                    let name = p.trim_matches(|c| c == '{' || c == '}');
                    let params = op["parameters"].as_array().unwrap();
                    assert!(
                        params
                            .iter()
                            .any(|x| x["name"] == name && x["in"] == "path"),
                        "{method} {path}: path parameter {name} undocumented"
                    );
                }
                ops.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        for want in [
            "POST /session",
            "GET /companies",
            "GET /companies/{company}",
            "GET /companies/{company}/connectors",
            "GET /companies/{company}/receivables",
            "GET /companies/{company}/aged-balance",
            "GET /companies/{company}/customers/{customer}/timeline",
            "GET /companies/{company}/exceptions",
            "POST /companies/{company}/decisions",
            "GET /companies/{company}/next-run",
            "GET /companies/{company}/closings/{date}/fec",
            "POST /users",
            "POST /tokens",
        ] {
            assert!(ops.iter().any(|o| o == want), "{want} missing from {ops:?}");
        }
    }

    #[tokio::test]
    async fn every_documented_operation_is_routed_and_guarded() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open_shared(dir.path()).unwrap();
        let state = ApiState::new(
            store,
            Clock::fixed_date(chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()),
            Arc::default(),
            &[],
            Arc::new(Pipeline::load(None).unwrap()),
            (dir.path().to_owned(), dir.path().to_owned()),
            std::time::Duration::from_secs(3600),
        );
        let app = router(state);
        let served = app
            .clone()
            .oneshot(
                axum::http::Request::get("/api/v1/openapi.json")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(served.status(), StatusCode::OK);
        let doc = serde_json::to_value(openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let public = op["security"].as_array().is_some_and(|s| {
                    s.iter()
                        .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
                });
                let uri = format!(
                    "{BASE}{}",
                    path.replace("{date}", "2026-06-30")
                        .replace('{', "x")
                        .replace('}', "")
                );
                let req = axum::http::Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&uri)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from("{}"))
                    .unwrap();
                let status = app.clone().oneshot(req).await.unwrap().status();
                if public {
                    assert_ne!(status, StatusCode::NOT_FOUND, "{method} {uri}");
                } else {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
                }
            }
        }
    }
}
