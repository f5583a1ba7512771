//! The handlers of `/api/v1`, each with its OpenAPI description. The least role an operation
//! needs on the company is written as the scope of its security requirement (`viewer`,
//! `collector`, `approver`, `admin`; `global_admin` for user management), and the handler checks
//! the same through [`ApiState::company`].

use super::model::{allocations_of, CompanyView, Exception};
use super::seam;
use super::{blocking, ApiError, ApiState, ErrorBody};
use crate::auth::web::{self, Login, Peer, Principal, Via};
use crate::auth::{self, Grant, Role};
use crate::config::CompanyConfig;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "relance operator API",
        description = "Receivables, the exception queue and the decisions of people, for the companies relance runs. Every operation but the login needs a session (cookie `relance_session`; unsafe methods also send `X-CSRF-Token`) or an API token (`Authorization: Bearer rlc_…`). The scope of each security requirement is the least role the operation needs on the company."
    ),
    servers((url = "/api/v1")),
    modifiers(&Security),
    components(schemas(ErrorBody, Grant, Role))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(web::SESSION_COOKIE))),
        );
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The routes (relative to `/api/v1`) and their document.
pub fn build() -> (axum::Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(login, whoami, logout))
        .routes(routes!(companies))
        .routes(routes!(company))
        .routes(routes!(connectors))
        .routes(routes!(receivables))
        .routes(routes!(aged_balance))
        .routes(routes!(customers))
        .routes(routes!(timeline))
        .routes(routes!(exceptions))
        .routes(routes!(decisions, decide))
        .routes(routes!(request))
        .routes(routes!(dunning_plan))
        .routes(routes!(next_run))
        .routes(routes!(closings))
        .routes(routes!(closing))
        .routes(routes!(closing_apply))
        .routes(routes!(closing_fec))
        .routes(routes!(closing_csv))
        .routes(routes!(sync))
        .routes(routes!(users, user_add))
        .routes(routes!(user_remove))
        .routes(routes!(tokens, token_add))
        .routes(routes!(token_revoke))
        .split_for_parts()
}

// ---------- shared shapes ----------

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items matching the filters, all pages.
    pub total: usize,
    /// Index of the first item.
    pub offset: usize,
    /// Page size asked.
    pub limit: usize,
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Paging {
    /// Index of the first item (default 0).
    pub offset: Option<usize>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
}

impl Paging {
    /// The page of `all`, mapped by `f` (only the page's items are made).
    /// The page's offset and size, defaults and bounds applied.
    fn bounds(&self) -> (usize, usize) {
        (
            self.offset.unwrap_or(0),
            self.limit.unwrap_or(100).clamp(1, 1000),
        )
    }

    fn cut_map<I: ExactSizeIterator, T: ToSchema>(
        &self,
        all: I,
        f: impl FnMut(I::Item) -> T,
    ) -> Page<T> {
        let (offset, limit) = self.bounds();
        let total = all.len();
        Page {
            items: all.skip(offset).take(limit).map(f).collect(),
            total,
            offset,
            limit,
        }
    }
}

async fn view(s: &ApiState, c: &CompanyConfig) -> Result<Arc<CompanyView>, ApiError> {
    s.0.models.get(c).await.map_err(ApiError::unavailable)
}

fn stage_name(s: relance_core::dunning::Stage) -> String {
    serde_json::to_value(s)
        .ok()
        .map(|v| v.to_string())
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

// ---------- session ----------

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// User name (a token's owner; `unix:…` on the local socket).
    pub user: String,
    /// As written in the audit log.
    pub actor: String,
    /// `session`, `token` or `local`.
    pub via: String,
    /// The CSRF token to send as `X-CSRF-Token` (sessions only).
    pub csrf_token: Option<String>,
    /// Roles.
    pub grants: Vec<Grant>,
    /// The daemon's configuration directory (local socket clients only).
    pub config_dir: Option<String>,
}

fn session_info(s: &ApiState, p: &Principal) -> SessionInfo {
    SessionInfo {
        user: p.user.clone(),
        actor: p.actor.clone(),
        via: match p.via {
            Via::Session { .. } => "session",
            Via::Token { .. } => "token",
            Via::Local => "local",
        }
        .to_owned(),
        csrf_token: p.csrf_token().map(str::to_owned),
        grants: p.grants.clone(),
        config_dir: matches!(p.via, Via::Local).then(|| s.0.config_dir.display().to_string()),
    }
}

/// Opens a session: sets the `relance_session` cookie (Secure, HttpOnly, SameSite=Strict) and
/// returns the CSRF token. Throttled per user and per address.
#[utoipa::path(post, path = "/session", tag = "session", request_body = LoginRequest,
    security(()),
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(s): State<ApiState>,
    peer: Option<axum::Extension<Peer>>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let peer = peer.map(|p| p.0);
    match s
        .0
        .auth
        .login(&req.user, &req.password, peer.as_ref())
        .await
    {
        Login::Opened(cookie, session) => {
            let u = {
                let (store, name) = (s.0.store.clone(), session.user.clone());
                blocking(move || auth::user(store.as_ref(), &name).map_err(ApiError::internal))
                    .await?
            };
            let info = SessionInfo {
                user: session.user.clone(),
                actor: session.user.clone(),
                via: "session".into(),
                csrf_token: Some(session.csrf.clone()),
                grants: u.map(|u| u.grants).unwrap_or_default(),
                config_dir: None,
            };
            let mut r = Json(info).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                web::session_cookie(&cookie, s.0.auth.session_ttl),
            );
            Ok(r)
        }
        Login::Refused => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthenticated",
            message: "wrong user name or password".into(),
        }),
        Login::Throttled => {
            let mut r = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "throttled",
                message: "too many login attempts: wait a minute".into(),
            }
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
            Ok(r)
        }
    }
}

/// Who the caller is, with the session's CSRF token.
#[utoipa::path(get, path = "/session", tag = "session",
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
async fn whoami(State(s): State<ApiState>, p: Principal) -> Json<SessionInfo> {
    Json(session_info(&s, &p))
}

/// Ends the session.
#[utoipa::path(delete, path = "/session", tag = "session",
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(s): State<ApiState>, p: Principal) -> Response {
    s.0.auth.logout(&p).await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, web::clear_cookie());
    r
}

// ---------- companies ----------

/// Outbox entries by state.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxCounts {
    /// Waiting for delivery.
    pub pending: usize,
    /// Applied.
    pub done: usize,
    /// Given up (dead letters).
    pub dead: usize,
}

/// A company's connectors at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthSummary {
    /// True when this instance runs the company (holds its lease).
    pub runs_here: bool,
    /// End of the last cycle run here.
    pub last_cycle_at: Option<DateTime<Utc>>,
    /// True when that cycle pulled every source without an error.
    pub last_cycle_ok: Option<bool>,
    /// Source errors of that cycle.
    pub source_errors: usize,
    /// Files in quarantine.
    pub quarantined: usize,
    /// Write-backs given up.
    pub dead_letters: usize,
}

/// A company with its totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanySummary {
    /// Id.
    pub id: String,
    /// Legal name.
    pub name: String,
    /// SIREN.
    pub siren: Option<String>,
    /// Accounting currency.
    pub currency: String,
    /// The caller's role on it.
    pub role: Role,
    /// The date the totals are as of.
    pub as_of: NaiveDate,
    /// Invoices and credit notes known.
    pub invoices: usize,
    /// Open receivables (signed: credit notes not yet used count negative).
    pub open_total: Decimal,
    /// Of which past due.
    pub overdue_total: Decimal,
    /// Invoices past due.
    pub overdue_count: usize,
    /// Days sales outstanding over the last 90 days.
    pub dso: Option<Decimal>,
    /// The exception queue, by kind.
    pub exceptions: BTreeMap<String, usize>,
    /// Decisions recorded and not yet applied by a cycle.
    pub decisions_pending: usize,
    /// The outbox.
    pub outbox: OutboxCounts,
    /// The connectors.
    pub health: HealthSummary,
    /// When the figures were read from the store.
    pub read_at: DateTime<Utc>,
}

/// A company's totals as the API and the console show them.
pub fn summary(s: &ApiState, c: &CompanyConfig, v: &CompanyView, role: Role) -> CompanySummary {
    let today = s.0.clock.today();
    let totals = v.totals(today);
    let last = s.0.hub.last(&c.id);
    let (last_at, last_ok, errors) = match &last {
        Some(l) => match &l.report {
            Ok(r) => {
                let e: u64 = r.sources.iter().map(|s| s.errors).sum();
                (Some(l.at), Some(e == 0), e as usize)
            }
            Err(_) => (Some(l.at), Some(false), 1),
        },
        None => (None, None, 0),
    };
    let quarantined = v
        .dead_letters
        .iter()
        .filter(|d| d.origin.starts_with("sync:"))
        .count();
    CompanySummary {
        id: c.id.to_string(),
        name: c.name.clone(),
        siren: c.siren.as_ref().map(|s| s.as_str().to_owned()),
        currency: c.currency.to_string(),
        role,
        as_of: today,
        invoices: v.invoices.len(),
        open_total: totals.open,
        overdue_total: totals.overdue,
        overdue_count: totals.overdue_count,
        dso: totals.dso,
        exceptions: v
            .exception_counts()
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect(),
        decisions_pending: s.0.models.pending_decisions(v),
        outbox: OutboxCounts {
            pending: v.outbox_counts.0,
            done: v.outbox_counts.1,
            dead: v.outbox_counts.2,
        },
        health: HealthSummary {
            runs_here: s.0.hub.runs_here(&c.id),
            last_cycle_at: last_at,
            last_cycle_ok: last_ok,
            source_errors: errors,
            quarantined,
            dead_letters: v.dead_letters.len() - quarantined,
        },
        read_at: v.built_at,
    }
}

/// The companies the caller has a role on, with their totals.
#[utoipa::path(get, path = "/companies", tag = "companies",
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Vec<CompanySummary>), (status = 401, body = ErrorBody)))]
async fn companies(
    State(s): State<ApiState>,
    p: Principal,
) -> Result<Json<Vec<CompanySummary>>, ApiError> {
    let mut out = Vec::new();
    for c in s.companies().iter() {
        let Some(role) = p.role_on(&c.id) else {
            continue;
        };
        let v = view(&s, c).await?;
        out.push(summary(&s, c, &v, role));
    }
    Ok(Json(out))
}

/// One company with its totals.
#[utoipa::path(get, path = "/companies/{company}", tag = "companies",
    params(("company" = String, Path, description = "Company id")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = CompanySummary), (status = 404, body = ErrorBody)))]
async fn company(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
) -> Result<Json<CompanySummary>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let role = p.role_on(&c.id).unwrap_or(Role::Viewer);
    let v = view(&s, &c).await?;
    Ok(Json(summary(&s, &c, &v, role)))
}

/// A file in quarantine.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantinedFile {
    /// The file.
    pub file: String,
    /// Why (element or line, rule).
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One source.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceHealth {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: String,
    /// The committed cursor.
    pub cursor: Option<String>,
    /// Files imported so far.
    pub files_imported: usize,
    /// The latest file imported, and when.
    pub last_file: Option<String>,
    /// When it was imported.
    pub last_import_at: Option<DateTime<Utc>>,
    /// The last cycle run here: when it ended.
    pub last_pull_at: Option<DateTime<Utc>>,
    /// Pages pulled by it.
    pub pulls: Option<u64>,
    /// Its errors in it.
    pub errors: Vec<String>,
    /// Files in quarantine.
    pub quarantined: Vec<QuarantinedFile>,
}

/// Something given up, with how to retry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterItem {
    /// Stable id (its key).
    pub id: String,
    /// `outbox` or `sync:<source>`.
    pub origin: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The decision that retries it (POST it to the decisions endpoint).
    pub retry: serde_json::Value,
}

/// Connector health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Connectors {
    /// True when this instance runs the company.
    pub runs_here: bool,
    /// The last cycle's error, when it failed as a whole.
    pub cycle_error: Option<String>,
    /// The sources.
    pub sources: Vec<SourceHealth>,
    /// Write-backs given up.
    pub dead_letters: Vec<DeadLetterItem>,
}

/// Sources (last pull, errors, quarantined files with reasons) and dead letters.
#[utoipa::path(get, path = "/companies/{company}/connectors", tag = "companies",
    params(("company" = String, Path, description = "Company id")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Connectors), (status = 404, body = ErrorBody)))]
async fn connectors(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
) -> Result<Json<Connectors>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    Ok(Json(connectors_of(&s, &c, &v)))
}

/// A company's sources and dead letters, as the API and the console show them.
pub fn connectors_of(s: &ApiState, c: &CompanyConfig, v: &CompanyView) -> Connectors {
    let last = s.0.hub.last(&c.id);
    let sources = c
        .sources
        .iter()
        .map(|src| {
            let name = src.name().to_owned();
            let rep = last.as_ref().and_then(|l| {
                l.report
                    .as_ref()
                    .ok()
                    .and_then(|r| r.sources.iter().find(|x| x.connector == name))
            });
            let imports = v.imports.get(&name);
            SourceHealth {
                kind: src.kind().to_owned(),
                cursor: v.cursors.get(&name).cloned(),
                files_imported: imports.map(|i| i.0).unwrap_or(0),
                last_file: imports.and_then(|i| i.1.as_ref().map(|f| f.name.clone())),
                last_import_at: imports.and_then(|i| i.1.as_ref().map(|f| f.seen_at)),
                last_pull_at: rep.and(last.as_ref().map(|l| l.at)),
                pulls: rep.map(|r| r.pulls),
                errors: rep.map(|r| r.problems.clone()).unwrap_or_default(),
                quarantined: v
                    .dead_letters
                    .iter()
                    .filter(|d| d.origin == format!("sync:{name}"))
                    .map(|d| QuarantinedFile {
                        file: d.payload["file"].as_str().unwrap_or(&d.key).to_owned(),
                        reason: d.reason.clone(),
                        at: d.at,
                    })
                    .collect(),
                name,
            }
        })
        .collect();
    let dead_letters = v
        .dead_letters
        .iter()
        .filter(|d| !d.origin.starts_with("sync:"))
        .map(|d| DeadLetterItem {
            id: d.key.clone(),
            origin: d.origin.clone(),
            reason: d.reason.clone(),
            at: d.at,
            retry: serde_json::json!({"type": "retry_dead_letter", "key": d.key}),
        })
        .collect();
    Connectors {
        runs_here: s.0.hub.runs_here(&c.id),
        cycle_error: last.and_then(|l| l.report.err()),
        sources,
        dead_letters,
    }
}

// ---------- receivables ----------

/// Filters of the receivables.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReceivableFilter {
    /// Only this customer (id).
    pub customer: Option<String>,
    /// `open`, `settled`, `credit_note`, `cancelled`.
    pub status: Option<String>,
    /// Last dunning stage: `preventive`, `amiable`, `formelle`, `mise_en_demeure`,
    /// `contentieux`, or `none`.
    pub stage: Option<String>,
    /// At least this many days past due.
    pub overdue_min: Option<i64>,
    /// At most this many days past due.
    pub overdue_max: Option<i64>,
    /// Only held (true) or not held (false) by a pause.
    pub paused: Option<bool>,
    /// The date days past due are counted at (default today).
    pub as_of: Option<NaiveDate>,
    /// Index of the first item (default 0).
    pub offset: Option<usize>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// One receivable.
#[derive(Debug, Serialize, ToSchema)]
pub struct Receivable {
    /// Stable id (the invoice id).
    pub id: String,
    /// Number as printed.
    pub number: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    /// `open`, `settled`, `credit_note`, `cancelled`.
    pub status: String,
    /// Customer id.
    pub customer: String,
    /// Customer name.
    pub customer_name: Option<String>,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date dunning and ageing use.
    pub due_date: NaiveDate,
    /// Days past due as of the date asked.
    pub days_overdue: i64,
    /// Total with VAT.
    pub total: Decimal,
    /// Open now.
    pub open: Decimal,
    /// Currency.
    pub currency: String,
    /// Last dunning stage planned.
    pub stage: Option<String>,
    /// When it was planned.
    pub stage_date: Option<NaiveDate>,
    /// True when a pause holds it.
    pub paused: bool,
    /// The kinds of those pauses.
    pub pauses: Vec<String>,
}

fn receivable(v: &CompanyView, r: &super::model::InvoiceRow, as_of: NaiveDate) -> Receivable {
    Receivable {
        id: r.invoice.id.to_string(),
        number: r.invoice.number.clone(),
        kind: match r.invoice.kind {
            relance_core::InvoiceKind::CreditNote => "credit_note",
            _ => "invoice",
        }
        .to_owned(),
        status: r.status().to_owned(),
        customer: r.invoice.customer.to_string(),
        customer_name: v.customers.get(&r.invoice.customer).map(|c| c.name.clone()),
        issue_date: r.invoice.issue_date,
        due_date: r.invoice.effective_due_date(),
        days_overdue: r.days_overdue(as_of),
        total: r.invoice.total_with_vat,
        open: r.open,
        currency: r.invoice.currency.to_string(),
        stage: r.stage.map(|(s, _)| stage_name(s)),
        stage_date: r.stage.map(|(_, d)| d),
        paused: !r.pauses.is_empty(),
        pauses: r
            .pauses
            .iter()
            .filter_map(|p| {
                serde_json::to_value(&p.kind)
                    .ok()
                    .and_then(|k| k["kind"].as_str().map(str::to_owned))
            })
            .collect(),
    }
}

/// Invoices and credit notes, filtered, a page at a time.
#[utoipa::path(get, path = "/companies/{company}/receivables", tag = "receivables",
    params(("company" = String, Path, description = "Company id"), ReceivableFilter),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Page<Receivable>), (status = 404, body = ErrorBody)))]
async fn receivables(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    Query(f): Query<ReceivableFilter>,
) -> Result<Json<Page<Receivable>>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    let as_of = f.as_of.unwrap_or_else(|| s.0.clock.today());
    // The rows the filter selects, once per view and filter; each page is a slice of them.
    let key = format!(
        "receivables|{:?}|{:?}|{:?}|{as_of}|{:?}|{:?}|{:?}",
        f.customer, f.status, f.stage, f.overdue_min, f.overdue_max, f.paused
    );
    let selected = v.list(key, || {
        let positions: Box<dyn Iterator<Item = usize>> = match &f.customer {
            Some(cu) => Box::new(
                v.by_customer
                    .get(&relance_core::CustomerId::new(cu.as_str()))
                    .into_iter()
                    .flatten()
                    .copied(),
            ),
            None => Box::new(0..v.invoices.len()),
        };
        positions
            .filter(|n| {
                let Some(r) = v.invoices.get(*n) else {
                    return false;
                };
                if f.status.as_deref().is_some_and(|st| st != r.status()) {
                    return false;
                }
                if let Some(st) = &f.stage {
                    let have = r.stage.map(|(s, _)| stage_name(s));
                    if have.as_deref().unwrap_or("none") != st {
                        return false;
                    }
                }
                let late = r.days_overdue(as_of);
                if f.overdue_min.is_some_and(|m| late < m)
                    || f.overdue_max.is_some_and(|m| late > m)
                {
                    return false;
                }
                f.paused.is_none_or(|want| want != r.pauses.is_empty())
            })
            .collect()
    });
    let page = Paging {
        offset: f.offset,
        limit: f.limit,
    };
    Ok(Json(page.cut_map(selected.iter(), |n| {
        receivable(&v, &v.invoices[*n], as_of)
    })))
}

/// As of when.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AsOf {
    /// The date (default today).
    pub as_of: Option<NaiveDate>,
}

/// The aged balance and DSO as of a date.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgedBalanceBody {
    /// The date.
    pub as_of: NaiveDate,
    /// Currency.
    pub currency: String,
    /// Not yet due.
    pub not_due: Decimal,
    /// 0 to 30 days past due.
    pub days_0_30: Decimal,
    /// 31 to 60.
    pub days_31_60: Decimal,
    /// 61 to 90.
    pub days_61_90: Decimal,
    /// 91 to 180.
    pub days_91_180: Decimal,
    /// More than 180.
    pub over_180: Decimal,
    /// Sum.
    pub total: Decimal,
    /// Items in another currency, left out.
    pub other_currency_items: usize,
    /// Days sales outstanding.
    pub dso: Option<Decimal>,
    /// Days of sales DSO is computed over.
    pub dso_days: u32,
}

/// The aged balance (not due, 0–30, 31–60, 61–90, 91–180, > 180 days) and DSO as of any date:
/// what was open then (payments booked after it count as open).
#[utoipa::path(get, path = "/companies/{company}/aged-balance", tag = "receivables",
    params(("company" = String, Path, description = "Company id"), AsOf),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = AgedBalanceBody), (status = 404, body = ErrorBody)))]
async fn aged_balance(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<Json<AgedBalanceBody>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    let as_of = q.as_of.unwrap_or_else(|| s.0.clock.today());
    let memo = v.aged_dso(as_of);
    let (a, dso) = (&memo.0, memo.1);
    Ok(Json(AgedBalanceBody {
        as_of,
        currency: v.currency.to_string(),
        dso,
        dso_days: super::model::DSO_DAYS,
        not_due: a.not_due,
        days_0_30: a.days_0_30,
        days_31_60: a.days_31_60,
        days_61_90: a.days_61_90,
        days_91_180: a.days_91_180,
        over_180: a.over_180,
        total: a.total,
        other_currency_items: a.skipped_other_currency,
    }))
}

/// A customer with their totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerItem {
    /// Stable id.
    pub id: String,
    /// Name.
    pub name: String,
    /// SIREN.
    pub siren: Option<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// IBANs known (learnt from confirmed payments too).
    pub ibans: Vec<String>,
    /// Invoices and credit notes.
    pub invoices: usize,
    /// Open now.
    pub open_total: Decimal,
    /// Of which past due.
    pub overdue_total: Decimal,
}

fn customer_item(v: &CompanyView, id: &relance_core::CustomerId, today: NaiveDate) -> CustomerItem {
    let c = v.customers.get(id);
    let rows: Vec<_> = v
        .by_customer
        .get(id)
        .into_iter()
        .flatten()
        .filter_map(|n| v.invoices.get(*n))
        .collect();
    CustomerItem {
        id: id.to_string(),
        name: c.map(|c| c.name.clone()).unwrap_or_else(|| id.to_string()),
        siren: c.and_then(|c| c.siren.as_ref().map(|s| s.as_str().to_owned())),
        emails: c.map(|c| c.emails.clone()).unwrap_or_default(),
        ibans: c.map(|c| c.ibans.clone()).unwrap_or_default(),
        invoices: rows.len(),
        open_total: rows.iter().map(|r| r.open).sum(),
        overdue_total: rows
            .iter()
            .filter(|r| r.days_overdue(today) > 0 && r.open > Decimal::ZERO)
            .map(|r| r.open)
            .sum(),
    }
}

/// Customer search.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CustomerFilter {
    /// Part of the name or id (case-insensitive).
    pub q: Option<String>,
    /// Index of the first item (default 0).
    pub offset: Option<usize>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// Customers, by id, with their totals.
#[utoipa::path(get, path = "/companies/{company}/customers", tag = "receivables",
    params(("company" = String, Path, description = "Company id"), CustomerFilter),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Page<CustomerItem>), (status = 404, body = ErrorBody)))]
async fn customers(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    Query(f): Query<CustomerFilter>,
) -> Result<Json<Page<CustomerItem>>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    let today = s.0.clock.today();
    let q = f.q.as_ref().map(|q| q.to_lowercase());
    let matched: Vec<&relance_core::CustomerId> = v
        .search()
        .iter()
        .filter(|e| q.as_deref().is_none_or(|q| e.matches(q)))
        .map(|e| &e.id)
        .collect();
    // Totals are made for the page's customers only.
    Ok(Json(
        Paging {
            offset: f.offset,
            limit: f.limit,
        }
        .cut_map(matched.into_iter(), |id| customer_item(&v, id, today)),
    ))
}

/// One event of a customer's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    /// The day it concerns.
    pub date: NaiveDate,
    /// When relance recorded it, when known.
    pub at: Option<DateTime<Utc>>,
    /// `invoice`, `credit_note`, `receipt`, `allocation`, `suggestion`, `reminder`, `pause`,
    /// `credit_event`, `provision`, `decision`.
    pub kind: String,
    /// Stable id of the object.
    pub id: String,
    /// One line for people.
    pub summary: String,
    /// The object: evidence, delivery status, rule, rate row...
    pub details: serde_json::Value,
}

/// A customer's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    /// The customer.
    pub customer: CustomerItem,
    /// Events, oldest first.
    pub events: Vec<TimelineEvent>,
}

fn delivery_state(e: &crate::store::OutboxEntry) -> serde_json::Value {
    let channel = match &e.command {
        relance_connectors::contract::WriteCommand::SendEmail { .. } => "email",
        relance_connectors::contract::WriteCommand::CreateTask { .. } => "task",
        relance_connectors::contract::WriteCommand::SetDunningLevel { .. } => "dunning_level",
        relance_connectors::contract::WriteCommand::AddNote { .. } => "note",
        relance_connectors::contract::WriteCommand::BlockDunning { .. } => "block",
        relance_connectors::contract::WriteCommand::Reconcile { .. } => "reconcile",
        relance_connectors::contract::WriteCommand::ReportPayment { .. } => "einvoice_status",
        relance_connectors::contract::WriteCommand::PostMove { .. } => "move",
    };
    let (status, at, detail) = match &e.state {
        crate::store::OutboxState::Pending => ("pending", None, e.last_error.clone()),
        crate::store::OutboxState::Done { at, remote_ref, .. } => {
            ("delivered", Some(*at), Some(remote_ref.0.clone()))
        }
        crate::store::OutboxState::Dead { at, reason } => ("dead", Some(*at), Some(reason.clone())),
    };
    serde_json::json!({
        "key": e.key.0, "target": e.target, "channel": channel, "status": status,
        "at": at, "detail": detail, "attempts": e.attempts,
    })
}

/// Everything about one customer: invoices, credit notes, receipts, allocations with their
/// evidence, reminders planned and sent (channel, delivery status), pauses, credit events,
/// provisions, decisions.
#[utoipa::path(get, path = "/companies/{company}/customers/{customer}/timeline", tag = "receivables",
    params(("company" = String, Path, description = "Company id"), ("customer" = String, Path, description = "Customer id")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Timeline), (status = 404, body = ErrorBody)))]
async fn timeline(
    State(s): State<ApiState>,
    p: Principal,
    Path((company, customer)): Path<(String, String)>,
) -> Result<Json<Timeline>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    let cid = relance_core::CustomerId::new(customer.as_str());
    timeline_of(&s, &c, &v, &cid)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no customer {customer:?}")))
}

/// A customer's timeline (`None` when the company has no such customer), as the API and the
/// console show it.
pub fn timeline_of(
    s: &ApiState,
    c: &CompanyConfig,
    v: &CompanyView,
    cid: &relance_core::CustomerId,
) -> Option<Timeline> {
    let cid = cid.clone();
    if !v.customers.contains_key(&cid) && !v.by_customer.contains_key(&cid) {
        return None;
    }
    let mut ev = Vec::new();
    let mut receipts_seen = std::collections::HashSet::new();
    for r in v
        .by_customer
        .get(&cid)
        .into_iter()
        .flatten()
        .filter_map(|n| v.invoices.get(*n))
    {
        let i = &r.invoice;
        ev.push(TimelineEvent {
            date: i.issue_date,
            at: None,
            kind: if i.kind == relance_core::InvoiceKind::CreditNote {
                "credit_note"
            } else {
                "invoice"
            }
            .into(),
            id: i.id.to_string(),
            summary: format!(
                "{} {} {} due {}, open {}",
                i.number,
                i.total_with_vat,
                i.currency,
                i.effective_due_date(),
                r.open
            ),
            details: serde_json::json!({"status": r.status(), "open": r.open, "due_date": i.effective_due_date()}),
        });
        for a in allocations_of(v, &i.id) {
            let date = v
                .receipts
                .get(&a.transaction)
                .map(|x| x.booking_date)
                .unwrap_or(a.decided_at.date_naive());
            if receipts_seen.insert(a.transaction.clone()) {
                if let Some(rc) = v.receipts.get(&a.transaction) {
                    ev.push(TimelineEvent {
                        date: rc.booking_date,
                        at: None,
                        kind: "receipt".into(),
                        id: rc.id.to_string(),
                        summary: format!(
                            "{} {} from {}: {}",
                            rc.amount,
                            rc.currency,
                            rc.counterparty_name.as_deref().unwrap_or("?"),
                            rc.remittance
                        ),
                        details: serde_json::to_value(rc).unwrap_or_default(),
                    });
                }
            }
            ev.push(TimelineEvent {
                date,
                at: Some(a.decided_at),
                kind: if a.auto { "allocation" } else { "suggestion" }.into(),
                id: format!("{}->{}", a.transaction, a.invoice),
                summary: format!(
                    "{} of {} to {}: {}",
                    a.amount, a.transaction, a.invoice, a.reason
                ),
                details: a.evidence.clone(),
            });
        }
        if let Some(dir) = Some(&i.id) {
            for st in &v.provisions {
                for l in st.lines.iter().filter(|l| &l.invoice == dir) {
                    ev.push(TimelineEvent {
                        date: st.closing,
                        at: Some(st.updated_at),
                        kind: "provision".into(),
                        id: format!("{}:{}", st.closing, l.invoice),
                        summary: format!(
                            "closing {}: provision {} ({} × {}), {}",
                            st.closing, l.amount, l.base, l.rate, l.rule
                        ),
                        details: serde_json::to_value(l).unwrap_or_default(),
                    });
                }
            }
        }
    }
    for a in v.actions.get(&cid).into_iter().flatten() {
        ev.push(TimelineEvent {
            date: a.action.date,
            at: Some(a.at),
            kind: "reminder".into(),
            id: a.key.clone(),
            summary: a.summary.clone(),
            details: serde_json::json!({
                "stage": stage_name(a.action.stage),
                "step": a.action.step,
                "invoices": a.action.invoices,
                "deliveries": a.deliveries.iter().map(delivery_state).collect::<Vec<_>>(),
            }),
        });
    }
    for (at, pz) in v.pauses.iter().filter(|(_, x)| x.customer == cid) {
        ev.push(TimelineEvent {
            date: at.date_naive(),
            at: Some(*at),
            kind: "pause".into(),
            id: relance_connectors::keys::staff_fact(
                &c.id,
                crate::ledger::AUDIT_PAUSE,
                &serde_json::to_value(pz).unwrap_or_default(),
            )
            .0,
            summary: format!(
                "dunning held on {}",
                pz.invoice
                    .as_ref()
                    .map(|i| i.as_str())
                    .unwrap_or("every invoice")
            ),
            details: serde_json::to_value(pz).unwrap_or_default(),
        });
    }
    for (at, ce) in v.credit_events.iter().filter(|(_, x)| x.customer == cid) {
        ev.push(TimelineEvent {
            date: ce.date,
            at: Some(*at),
            kind: "credit_event".into(),
            id: relance_connectors::keys::staff_fact(
                &c.id,
                crate::ledger::AUDIT_CREDIT_EVENT,
                &serde_json::to_value(ce).unwrap_or_default(),
            )
            .0,
            summary: format!(
                "{} {}",
                serde_json::to_value(&ce.kind)
                    .ok()
                    .and_then(|k| k["kind"].as_str().map(str::to_owned))
                    .unwrap_or_default(),
                ce.reference.as_deref().unwrap_or("")
            ),
            details: serde_json::to_value(ce).unwrap_or_default(),
        });
    }
    s.0.models.for_each_decision(v, |d| {
        // The inbox body is the envelope and the state it was decided on: the decision's
        // customer, else the one its "before" names (a match names an invoice's).
        let b = &d.item.body;
        let customer = b
            .pointer("/envelope/decision/customer")
            .or_else(|| b.pointer("/before/invoice/customer"))
            .or_else(|| b.pointer("/before/customer"))
            .and_then(|v| v.as_str());
        if customer == Some(cid.as_str()) {
            ev.push(decision_event(&c.id, d));
        }
    });
    ev.sort_by_key(|e| (e.date, e.at));
    Some(Timeline {
        customer: customer_item(v, &cid, s.0.clock.today()),
        events: ev,
    })
}

fn decision_event(
    company: &relance_core::CompanyId,
    d: &crate::store::InboxEntry,
) -> TimelineEvent {
    TimelineEvent {
        date: d.item.recorded_at.date_naive(),
        at: Some(d.item.recorded_at),
        kind: "decision".into(),
        id: format!("{company}:{}", d.seq),
        summary: format!(
            "{} by {}{}",
            d.item.kind.trim_start_matches(seam::KIND_PREFIX),
            d.item.actor,
            if d.done_at.is_some() {
                ""
            } else {
                " (waiting for the next cycle)"
            }
        ),
        details: d.item.body.clone(),
    }
}

// ---------- the queue ----------

/// Queue filter.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ExceptionFilter {
    /// Only this kind: `suggestion`, `unmatched_receipt`, `overpayment`, `duplicate`,
    /// `receipt_flag`, `hold`, `quarantined_file`, `dead_letter`.
    pub kind: Option<String>,
    /// Index of the first item (default 0).
    pub offset: Option<usize>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// One item of the exception queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionItem {
    /// Stable id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// One line for people.
    pub summary: String,
    /// The customer concerned, when known.
    pub customer: Option<String>,
    /// The amount concerned.
    pub amount: Option<Decimal>,
    /// Evidence: the receipt's text, name, IBAN; the invoice's number, amount, customer...
    pub details: serde_json::Value,
    /// Decision types that resolve it.
    pub decisions: Vec<String>,
}

fn exception_item(v: &CompanyView, e: &Exception) -> ExceptionItem {
    let receipt = |t: &relance_core::TransactionId| {
        v.receipts
            .get(t)
            .map(|r| serde_json::to_value(r).unwrap_or_default())
    };
    let kind = e.kind().to_owned();
    let list = |xs: &[&str]| xs.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    match e {
        Exception::Suggestion(a) => {
            let inv = v
                .invoice_index
                .get(&a.invoice)
                .and_then(|n| v.invoices.get(*n));
            ExceptionItem {
                id: format!("{}->{}", a.transaction, a.invoice),
                kind,
                summary: format!(
                    "{} of {} to {}? {}",
                    a.amount, a.transaction, a.invoice, a.reason
                ),
                customer: inv.map(|r| r.invoice.customer.to_string()),
                amount: Some(a.amount),
                details: serde_json::json!({
                    "transaction": a.transaction, "invoice": a.invoice,
                    "receipt": receipt(&a.transaction),
                    "invoice_detail": inv.map(|r| serde_json::json!({
                        "number": r.invoice.number, "total": r.invoice.total_with_vat,
                        "open": r.open, "customer": r.invoice.customer,
                        "customer_name": v.customers.get(&r.invoice.customer).map(|c| c.name.clone()),
                    })),
                    "evidence": a.evidence,
                }),
                decisions: list(&[
                    "confirm_match",
                    "reject_match",
                    "split_receipt",
                    "reassign_match",
                ]),
            }
        }
        Exception::Unmatched(t) => ExceptionItem {
            id: t.to_string(),
            kind,
            summary: format!(
                "receipt {t} not matched{}",
                v.receipts
                    .get(t)
                    .map(|r| format!(
                        ": {} from {}, {}",
                        r.amount,
                        r.counterparty_name.as_deref().unwrap_or("?"),
                        r.remittance
                    ))
                    .unwrap_or_default()
            ),
            customer: None,
            amount: v.receipts.get(t).map(|r| r.amount),
            details: serde_json::json!({"receipt": receipt(t)}),
            decisions: list(&["assign_receipt", "split_receipt", "write_off"]),
        },
        Exception::Flag(f) => {
            let value = serde_json::to_value(f).unwrap_or_default();
            let t = value["transaction"].as_str().unwrap_or("").to_owned();
            ExceptionItem {
                id: format!("{}:{t}", value["type"].as_str().unwrap_or("flag")),
                kind,
                summary: format!("{} on {t}", value["type"].as_str().unwrap_or("flag")),
                customer: None,
                amount: value["surplus"].as_str().and_then(|s| s.parse().ok()),
                details: serde_json::json!({"flag": value, "receipt": receipt(&relance_core::TransactionId::new(t.as_str()))}),
                decisions: list(&["assign_receipt", "write_off", "split_receipt"]),
            }
        }
        Exception::Hold(cu, inv, p) => ExceptionItem {
            id: format!(
                "hold:{cu}:{}",
                inv.as_ref().map(|i| i.as_str()).unwrap_or("*")
            ),
            kind,
            summary: format!(
                "dunning held for {cu} on {}",
                inv.as_ref().map(|i| i.as_str()).unwrap_or("every invoice")
            ),
            customer: Some(cu.to_string()),
            amount: None,
            details: serde_json::to_value(p).unwrap_or_default(),
            decisions: list(&["hold", "dispute", "promise_to_pay", "payment_plan"]),
        },
        Exception::DeadLetter(d) => ExceptionItem {
            id: d.key.clone(),
            kind,
            summary: format!("{}: {}", d.origin, d.reason),
            customer: None,
            amount: None,
            details: serde_json::json!({"origin": d.origin, "reason": d.reason, "at": d.at, "payload": d.payload}),
            decisions: if d.origin.starts_with("sync:") {
                Vec::new()
            } else {
                list(&["retry_dead_letter"])
            },
        },
    }
}

/// What relance will not decide alone: suggestions, unmatched receipts, overpayments and
/// duplicates, holds, quarantined files and dead letters.
#[utoipa::path(get, path = "/companies/{company}/exceptions", tag = "queue",
    params(("company" = String, Path, description = "Company id"), ExceptionFilter),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Page<ExceptionItem>), (status = 404, body = ErrorBody)))]
async fn exceptions(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    Query(f): Query<ExceptionFilter>,
) -> Result<Json<Page<ExceptionItem>>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    let offset = f.offset.unwrap_or(0);
    let limit = f.limit.unwrap_or(100).clamp(1, 1000);
    let matching: Vec<&Exception> = v
        .exceptions
        .iter()
        .filter(|e| f.kind.as_deref().is_none_or(|k| k == e.kind()))
        .collect();
    let items = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|e| exception_item(&v, e))
        .collect();
    Ok(Json(Page {
        items,
        total: matching.len(),
        offset,
        limit,
    }))
}

// ---------- decisions ----------

/// A decision as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionItem {
    /// Stable id: `<company>:<sequence>`.
    pub id: String,
    /// Sequence in the company's inbox.
    pub seq: u64,
    /// Decision type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who.
    pub actor: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// When a cycle applied it.
    pub applied_at: Option<DateTime<Utc>>,
    /// The client's idempotency key.
    pub key: String,
    /// The decision as sent.
    pub body: serde_json::Value,
}

/// The decisions recorded for a company (the audit log of people's decisions), newest first.
#[utoipa::path(get, path = "/companies/{company}/decisions", tag = "decisions",
    params(("company" = String, Path, description = "Company id"), Paging),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Page<DecisionItem>), (status = 404, body = ErrorBody)))]
async fn decisions(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    Query(pg): Query<Paging>,
) -> Result<Json<Page<DecisionItem>>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    // Only the page's decisions are copied (each carries the state it was decided on).
    let (offset, limit) = pg.bounds();
    let (total, page) = s.0.models.decisions_newest(&v, offset, limit);
    Ok(Json(Page {
        items: page
            .into_iter()
            .map(|d| DecisionItem {
                id: format!("{}:{}", c.id, d.seq),
                seq: d.seq,
                kind: d.item.kind.trim_start_matches(seam::KIND_PREFIX).to_owned(),
                actor: d.item.actor,
                recorded_at: d.item.recorded_at,
                applied_at: d.done_at,
                key: d.item.key,
                body: d.item.body,
            })
            .collect(),
        total,
        offset,
        limit,
    }))
}

/// Records a decision (`{"type": "confirm_match", …}`) for the next cycle to apply. The
/// `Idempotency-Key` header is required: the same key with the same decision again records
/// nothing and answers the first one (200); the same key with another decision is refused
/// (409). The role needed depends on the type: collector for matches, receipts, disputes,
/// promises, payment plans, holds, procédures collectives, retries, the outcomes of calls
/// (`call_outcome`: reached, promise, dispute, no_answer, wrong_contact) and letters posted
/// (`letters_posted`); approver for
/// write-offs, approvals and closings.
#[utoipa::path(post, path = "/companies/{company}/decisions", tag = "decisions",
    params(("company" = String, Path, description = "Company id"),
           ("Idempotency-Key" = String, Header, description = "The client's key of this decision")),
    request_body(content = Object, description = "The decision: an object with a `type`"),
    security(("session" = ["collector"]), ("token" = ["collector"])),
    responses((status = 201, body = seam::Recorded), (status = 200, body = seam::Recorded),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decide(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Visible at all (404 otherwise) before anything about the request is said.
    let c = s.company(&p, &company, Role::Viewer)?;
    let key = headers
        .get(super::IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= seam::MAX_KEY)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "the Idempotency-Key header is required (1 to {} characters)",
                seam::MAX_KEY
            ))
        })?
        .to_owned();
    if body.len() > seam::MAX_BODY {
        return Err(ApiError::invalid(format!(
            "a decision is at most {} bytes",
            seam::MAX_BODY
        )));
    }
    let decision: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("the body is not JSON: {e}")))?;
    if !decision.is_object() {
        return Err(ApiError::invalid("the decision must be a JSON object"));
    }
    let kind = seam::kind_of(&decision)
        .map_err(|e| ApiError::invalid(e.to_string()))?
        .to_owned();
    let need = seam::role_for(&kind).unwrap_or(Role::Admin);
    s.company(&p, &company, need)?;
    let envelope = seam::Envelope {
        key,
        actor: p.actor.clone(),
        at: s.0.clock.now(),
        decision,
    };
    let (store, cc) = (s.0.store.clone(), c.clone());
    let (recorded, entry) = blocking(move || {
        seam::record(store.as_ref(), &cc, envelope).map_err(|e| match e {
            seam::SeamError::Invalid(m) => ApiError::invalid(m),
            seam::SeamError::KeyReused(_) => ApiError::conflict(e.to_string()),
            seam::SeamError::Store(e) => ApiError::unavailable(e.to_string()),
        })
    })
    .await?;
    if let Some(entry) = entry {
        s.0.models.recorded(&c.id, entry);
    }
    let status = if recorded.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(recorded)).into_response())
}

/// A `relance decide` request of the command line (record a decision, list the decisions,
/// the letters waiting, the suggestions, the probable payments, the next run, the closings, a
/// closing's exports), run by the daemon on its store: the same code as without a daemon.
/// Recording needs the decision type's role; the others, viewer.
#[utoipa::path(post, path = "/companies/{company}/requests", tag = "decisions",
    params(("company" = String, Path, description = "Company id")),
    request_body(content = Object, description = "A request: an object with a `request` tag"),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, description = "The response: an object with a `response` tag"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn request(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    use crate::decisions::command::{execute, Request};
    let c = s.company(&p, &company, Role::Viewer)?;
    if body.len() > seam::MAX_BODY {
        return Err(ApiError::invalid(format!(
            "a request is at most {} bytes",
            seam::MAX_BODY
        )));
    }
    let mut req: Request = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("the request does not read: {e}")))?;
    let key = if let Request::Record { envelope } = &mut req {
        // The author is who the API knows the caller to be, whatever the request says.
        envelope.actor = p.actor.clone();
        envelope.at = s.0.clock.now();
        let need = seam::role_for(envelope.decision.kind()).unwrap_or(Role::Admin);
        s.company(&p, &company, need)?;
        Some(envelope.key.clone())
    } else {
        None
    };
    let (store, cc, rates) = (s.0.store.clone(), c.clone(), s.0.pipeline.rates.clone());
    let resp = blocking(move || {
        let r = execute(store.as_ref(), &cc, &rates, req).map_err(|e| match e {
            crate::decisions::DecisionError::KeyReused { .. } => ApiError::conflict(e.to_string()),
            crate::decisions::DecisionError::NotFound(m) => ApiError::not_found(m),
            crate::decisions::DecisionError::Store(e) => ApiError::unavailable(e.to_string()),
            e @ crate::decisions::DecisionError::Invalid(_) => ApiError::invalid(e.to_string()),
        })?;
        let entry = match &key {
            Some(k) => store
                .inbox_by_key(&cc.id, k)
                .map_err(|e| ApiError::unavailable(e.to_string()))?,
            None => None,
        };
        Ok((r, entry))
    })
    .await?;
    if let Some(e) = resp.1 {
        if e.done_at.is_none() {
            s.0.models.recorded(&c.id, e);
        }
    }
    Ok(Json(resp.0).into_response())
}

// ---------- dunning ----------

/// The plan's date.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PlanDate {
    /// The date to plan for (default today).
    pub date: Option<NaiveDate>,
}

async fn plan(
    s: &ApiState,
    c: Arc<CompanyConfig>,
    date: NaiveDate,
) -> Result<relance_core::dunning::Plan, ApiError> {
    let (store, pipeline) = (s.0.store.clone(), s.0.pipeline.clone());
    blocking(move || {
        crate::cmd::plan_for(&store, &c, &pipeline, date)
            .map_err(|e| ApiError::invalid(format!("{e:#}")))
    })
    .await
}

/// What dunning would send as of a date, and why (dry run: nothing is recorded); the same as
/// `relance dunning plan --company`.
#[utoipa::path(get, path = "/companies/{company}/dunning-plan", tag = "dunning",
    params(("company" = String, Path, description = "Company id"), PlanDate),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Object, description = "The plan: actions with their reasons, held invoices, alerts"),
        (status = 404, body = ErrorBody)))]
async fn dunning_plan(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
    Query(q): Query<PlanDate>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let date = q.date.unwrap_or_else(|| s.0.clock.today());
    let plan = plan(&s, c, date).await?;
    Ok(Json(
        serde_json::to_value(plan).map_err(ApiError::internal)?,
    ))
}

/// An overdue invoice the next run will not remind, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotSent {
    /// The invoice.
    pub invoice: String,
    /// The customer.
    pub customer: String,
    /// Why not.
    pub reason: String,
}

/// The next run.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextRun {
    /// The date of the next run (tomorrow).
    pub date: NaiveDate,
    /// What it would send.
    pub actions: serde_json::Value,
    /// Every overdue open invoice not in it, with the reason.
    pub not_sent: Vec<NotSent>,
    /// Alerts.
    pub alerts: serde_json::Value,
}

/// What tomorrow's cycle would send, and for every overdue invoice not in it, why not.
#[utoipa::path(get, path = "/companies/{company}/next-run", tag = "dunning",
    params(("company" = String, Path, description = "Company id")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = NextRun), (status = 404, body = ErrorBody)))]
async fn next_run(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
) -> Result<Json<NextRun>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let date = s.0.clock.today() + chrono::Days::new(1);
    let v = view(&s, &c).await?;
    let plan = plan(&s, c, date).await?;
    let mut covered: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for a in &plan.actions {
        for i in &a.invoices {
            covered.insert(i.invoice.as_str());
        }
    }
    let held: BTreeMap<&str, &relance_core::dunning::HeldInvoice> =
        plan.held.iter().map(|h| (h.invoice.as_str(), h)).collect();
    let mut not_sent = Vec::new();
    for r in &v.invoices {
        if r.status() != "open"
            || r.days_overdue(date) <= 0
            || covered.contains(r.invoice.id.as_str())
        {
            continue;
        }
        let reason = match held.get(r.invoice.id.as_str()) {
            Some(h) => h.reason.clone(),
            None => match r.stage {
                Some((st, d)) => format!(
                    "{} already planned on {d}; its next step is not due yet",
                    stage_name(st)
                ),
                None => "no step of the policy is due for it yet".to_owned(),
            },
        };
        not_sent.push(NotSent {
            invoice: r.invoice.id.to_string(),
            customer: r.invoice.customer.to_string(),
            reason,
        });
    }
    Ok(Json(NextRun {
        date,
        actions: serde_json::to_value(&plan.actions).map_err(ApiError::internal)?,
        not_sent,
        alerts: serde_json::to_value(&plan.alerts).map_err(ApiError::internal)?,
    }))
}

// ---------- closings ----------

/// A closing recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClosingItem {
    /// Stable id: the closing date.
    pub closing: NaiveDate,
    /// `computed`, `queued`, `posted`.
    pub status: String,
    /// Invoices provisioned.
    pub lines: usize,
    /// Sum of the provisions.
    pub provisioned: Decimal,
    /// When recorded.
    pub updated_at: DateTime<Utc>,
}

/// The closings recorded (doubtful-debt provisions).
#[utoipa::path(get, path = "/companies/{company}/closings", tag = "closings",
    params(("company" = String, Path, description = "Company id")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Vec<ClosingItem>), (status = 404, body = ErrorBody)))]
async fn closings(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
) -> Result<Json<Vec<ClosingItem>>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let v = view(&s, &c).await?;
    Ok(Json(
        v.provisions
            .iter()
            .map(|st| ClosingItem {
                closing: st.closing,
                status: serde_json::to_value(st.status)
                    .ok()
                    .and_then(|x| x.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                lines: st.lines.len(),
                provisioned: st.lines.iter().map(|l| l.amount).sum(),
                updated_at: st.updated_at,
            })
            .collect(),
    ))
}

async fn table(
    s: &ApiState,
    c: Arc<CompanyConfig>,
    date: NaiveDate,
) -> Result<(relance_core::provision::ClosingTable, crate::ledger::Ledger), ApiError> {
    let store = s.0.store.clone();
    blocking(move || {
        crate::cmd::closing_table(&store, &c, date).map_err(|e| ApiError::invalid(format!("{e:#}")))
    })
    .await
}

/// The doubtful-debt table as of a closing date, each line with its evidence and rate row,
/// and the entries it would book (dry run).
#[utoipa::path(get, path = "/companies/{company}/closings/{date}", tag = "closings",
    params(("company" = String, Path, description = "Company id"), ("date" = NaiveDate, Path, description = "Closing date")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Object, description = "The closing table"), (status = 404, body = ErrorBody)))]
async fn closing(
    State(s): State<ApiState>,
    p: Principal,
    Path((company, date)): Path<(String, NaiveDate)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let (t, _) = table(&s, c, date).await?;
    Ok(Json(serde_json::to_value(t).map_err(ApiError::internal)?))
}

/// What booking a closing did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Booked {
    /// The table booked.
    pub table: serde_json::Value,
    /// Entries recorded in the outbox (a second booking records none again).
    pub entries: usize,
    /// Delivery right after, per target.
    pub delivered: Vec<Delivered>,
}

/// One target's delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivered {
    /// Target.
    pub target: String,
    /// Applied now.
    pub applied: usize,
    /// Found already applied.
    pub found_applied: usize,
    /// Rescheduled.
    pub retried: usize,
    /// Given up.
    pub dead: usize,
}

/// Books a closing: its entries go to the outbox (keyed: once), delivered at once; the same as
/// `relance provision --apply`. Runs in the company's task on the instance that runs it.
#[utoipa::path(post, path = "/companies/{company}/closings/{date}/apply", tag = "closings",
    params(("company" = String, Path, description = "Company id"), ("date" = NaiveDate, Path, description = "Closing date")),
    security(("session" = ["approver"]), ("token" = ["approver"])),
    responses((status = 200, body = Booked), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn closing_apply(
    State(s): State<ApiState>,
    p: Principal,
    Path((company, date)): Path<(String, NaiveDate)>,
) -> Result<Json<Booked>, ApiError> {
    let c = s.company(&p, &company, Role::Approver)?;
    let actor = p.actor.clone();
    let actor2 = actor.clone();
    let cc = c.clone();
    let booked = s
        .0
        .hub
        .run_job(&c.id, move |ctx| async move {
            let store = ctx.store.clone();
            let c2 = cc.clone();
            let now = ctx.clock.now();
            let by = format!("operator API ({actor2})");
            let t = tokio::task::spawn_blocking(move || {
                let (t, _) = crate::cmd::closing_table(&store, &c2, date)?;
                crate::cmd::book_closing(&store, &c2, &t, now, &by)?;
                Ok::<_, anyhow::Error>(t)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{e:#}"))?;
            tracing::info!(company = %cc.id, closing = %date, actor, entries = t.entries.len(), "closing booked");
            let conns = crate::registry::Connectors::build(ctx.company.clone(), crate::pipeline::build_context(&ctx));
            let delivered = crate::pipeline::deliver_all(&ctx, &conns, now)
                .await
                .map_err(|e| format!("{e:#}"))?;
            Ok::<_, String>((t, delivered))
        })
        .await?
        .map_err(ApiError::invalid)?;
    s.0.models.invalidate(&c.id);
    let (t, delivered) = booked;
    Ok(Json(Booked {
        entries: t.entries.len(),
        table: serde_json::to_value(&t).map_err(ApiError::internal)?,
        delivered: delivered
            .into_iter()
            .map(|(target, d)| Delivered {
                target,
                applied: d.applied,
                found_applied: d.found_applied,
                retried: d.retried,
                dead: d.dead,
            })
            .collect(),
    }))
}

fn download(name: &str, mime: &'static str, bytes: Vec<u8>) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\'], "_")
    );
    let mut r = bytes.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(mime));
    if let Ok(v) = header::HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// The closing's FEC file (entries of the closing, tab-separated, as the FEC format says).
#[utoipa::path(get, path = "/companies/{company}/closings/{date}/fec", tag = "closings",
    params(("company" = String, Path, description = "Company id"), ("date" = NaiveDate, Path, description = "Closing date")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = ErrorBody)))]
async fn closing_fec(
    State(s): State<ApiState>,
    p: Principal,
    Path((company, date)): Path<(String, NaiveDate)>,
) -> Result<Response, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let (t, ledger) = table(&s, c.clone(), date).await?;
    let (name, bytes) = crate::cmd::closing_fec(&c, &t, &ledger);
    Ok(download(&name, "text/plain; charset=utf-8", bytes))
}

/// The closing's provision table as CSV.
#[utoipa::path(get, path = "/companies/{company}/closings/{date}/csv", tag = "closings",
    params(("company" = String, Path, description = "Company id"), ("date" = NaiveDate, Path, description = "Closing date")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn closing_csv(
    State(s): State<ApiState>,
    p: Principal,
    Path((company, date)): Path<(String, NaiveDate)>,
) -> Result<Response, ApiError> {
    let c = s.company(&p, &company, Role::Viewer)?;
    let (t, _) = table(&s, c.clone(), date).await?;
    Ok(download(
        &format!("provisions-{}-{date}.csv", c.id),
        "text/csv; charset=utf-8",
        relance_core::provision::state_csv(&t).into_bytes(),
    ))
}

// ---------- sync ----------

/// One source in a cycle.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncSource {
    /// Its name.
    pub name: String,
    /// Pages pulled.
    pub pulls: u64,
    /// Files imported.
    pub files: u64,
    /// Documents stored.
    pub documents: u64,
    /// Errors, each naming the file or call.
    pub problems: Vec<String>,
    /// Files quarantined: `{file, reason}`.
    pub quarantined: Vec<serde_json::Value>,
    /// Entries not read: `{file, reason}`.
    pub skipped: Vec<serde_json::Value>,
}

/// What a cycle did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReport {
    /// Company.
    pub company: String,
    /// Documents stored.
    pub documents: u64,
    /// Automatic allocations.
    pub matches: u64,
    /// Dunning actions planned.
    pub actions: u64,
    /// Outbox entries recorded.
    pub enqueued: u64,
    /// Source errors.
    pub source_errors: u64,
    /// Why no dunning plan was made.
    pub plan_error: Option<String>,
    /// Per source.
    pub sources: Vec<SyncSource>,
}

/// Runs a cycle of the company now (after the one in progress), on the instance that runs it;
/// the same as `relance sync --once`.
#[utoipa::path(post, path = "/companies/{company}/sync", tag = "companies",
    params(("company" = String, Path, description = "Company id")),
    security(("session" = ["admin"]), ("token" = ["admin"])),
    responses((status = 200, body = SyncReport), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn sync(
    State(s): State<ApiState>,
    p: Principal,
    Path(company): Path<String>,
) -> Result<Json<SyncReport>, ApiError> {
    let c = s.company(&p, &company, Role::Admin)?;
    let r = s.0.hub.run_cycle(&c.id).await?.map_err(|e| ApiError {
        status: StatusCode::BAD_GATEWAY,
        code: "cycle_failed",
        message: e,
    })?;
    s.0.models.invalidate(&c.id);
    let pair = |(f, why): &(String, String)| serde_json::json!({"file": f, "reason": why});
    Ok(Json(SyncReport {
        company: c.id.to_string(),
        documents: r.sources.iter().map(|x| x.documents).sum(),
        matches: r.matches,
        actions: r.actions,
        enqueued: r.enqueued,
        source_errors: r.sources.iter().map(|x| x.errors).sum(),
        plan_error: r.plan_error.clone(),
        sources: r
            .sources
            .iter()
            .map(|x| SyncSource {
                name: x.connector.clone(),
                pulls: x.pulls,
                files: x.files,
                documents: x.documents,
                problems: x.problems.clone(),
                quarantined: x.quarantined.iter().map(pair).collect(),
                skipped: x.skipped.iter().map(pair).collect(),
            })
            .collect(),
    }))
}

// ---------- users and tokens ----------

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserItem {
    /// Name.
    pub name: String,
    /// Roles.
    pub grants: Vec<Grant>,
    /// When added.
    pub created_at: DateTime<Utc>,
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// Name (a-z A-Z 0-9 . _ - @).
    pub name: String,
    /// Password (at least 12 characters), hashed with argon2id.
    pub password: String,
    /// Roles.
    pub grants: Vec<Grant>,
}

fn require_global_admin(p: &Principal) -> Result<(), ApiError> {
    if p.is_global_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only an admin of every company manages users",
        ))
    }
}

fn auth_error(e: auth::AuthError) -> ApiError {
    match e {
        auth::AuthError::Store(e) => ApiError::unavailable(e.to_string()),
        auth::AuthError::UserExists(_) => ApiError::conflict(e.to_string()),
        auth::AuthError::NoUser(_) => ApiError::not_found(e.to_string()),
        auth::AuthError::Hash(_) | auth::AuthError::Corrupt { .. } => ApiError::internal(e),
        _ => ApiError::invalid(e.to_string()),
    }
}

/// The users.
#[utoipa::path(get, path = "/users", tag = "users",
    security(("session" = ["global_admin"]), ("token" = ["global_admin"])),
    responses((status = 200, body = Vec<UserItem>), (status = 403, body = ErrorBody)))]
async fn users(State(s): State<ApiState>, p: Principal) -> Result<Json<Vec<UserItem>>, ApiError> {
    require_global_admin(&p)?;
    let store = s.0.store.clone();
    let list = blocking(move || auth::users(store.as_ref()).map_err(auth_error)).await?;
    Ok(Json(
        list.into_iter()
            .map(|u| UserItem {
                name: u.name,
                grants: u.grants,
                created_at: u.created_at,
            })
            .collect(),
    ))
}

/// Adds a user (`relance user add`).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    security(("session" = ["global_admin"]), ("token" = ["global_admin"])),
    responses((status = 201, body = UserItem), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn user_add(
    State(s): State<ApiState>,
    p: Principal,
    Json(n): Json<NewUser>,
) -> Result<Response, ApiError> {
    require_global_admin(&p)?;
    let known: Vec<_> = s.companies().iter().map(|c| c.id.clone()).collect();
    for g in &n.grants {
        if let Some(c) = &g.company {
            if !known.contains(c) {
                return Err(ApiError::invalid(format!("no company {c} is configured")));
            }
        }
    }
    let (store, now, actor) = (s.0.store.clone(), s.0.clock.now(), p.actor.clone());
    let u = blocking(move || {
        auth::add_user(store.as_ref(), &n.name, &n.password, n.grants, now).map_err(auth_error)
    })
    .await?;
    tracing::info!(user = %u.name, by = actor, "user added");
    Ok((
        StatusCode::CREATED,
        Json(UserItem {
            name: u.name,
            grants: u.grants,
            created_at: u.created_at,
        }),
    )
        .into_response())
}

/// Removes a user with their sessions and tokens.
#[utoipa::path(delete, path = "/users/{user}", tag = "users",
    params(("user" = String, Path, description = "User name")),
    security(("session" = ["global_admin"]), ("token" = ["global_admin"])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn user_remove(
    State(s): State<ApiState>,
    p: Principal,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_global_admin(&p)?;
    let store = s.0.store.clone();
    let u = user.clone();
    let gone = blocking(move || auth::remove_user(store.as_ref(), &u).map_err(auth_error)).await?;
    if gone {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no user {user:?}")))
    }
}

/// An API token (its secret is shown only when it is made).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenItem {
    /// Stable id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The user it acts for.
    pub owner: String,
    /// Roles.
    pub grants: Vec<Grant>,
    /// When made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

fn token_item(t: auth::Token) -> TokenItem {
    TokenItem {
        id: t.id,
        name: t.name,
        owner: t.owner,
        grants: t.grants,
        created_at: t.created_at,
        expires_at: t.expires_at,
    }
}

/// A new token.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// A name for people.
    pub name: String,
    /// The user it acts for (default the caller; another user needs a global admin).
    pub user: Option<String>,
    /// Roles, within the user's (default all of the user's).
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token made.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenMade {
    /// The token: send it as `Authorization: Bearer <token>`. Shown once; only its hash is kept.
    pub token: String,
    /// The token.
    pub item: TokenItem,
}

/// The caller's tokens (every token for a global admin).
#[utoipa::path(get, path = "/tokens", tag = "users",
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 200, body = Vec<TokenItem>)))]
async fn tokens(State(s): State<ApiState>, p: Principal) -> Result<Json<Vec<TokenItem>>, ApiError> {
    let store = s.0.store.clone();
    let owner = (!p.is_global_admin()).then(|| p.user.clone());
    let list = blocking(move || auth::tokens(store.as_ref(), owner.as_deref()).map_err(auth_error))
        .await?;
    Ok(Json(list.into_iter().map(token_item).collect()))
}

/// Makes an API token (`relance token add`).
#[utoipa::path(post, path = "/tokens", tag = "users", request_body = NewToken,
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 201, body = TokenMade), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn token_add(
    State(s): State<ApiState>,
    p: Principal,
    Json(n): Json<NewToken>,
) -> Result<Response, ApiError> {
    let owner = n.user.clone().unwrap_or_else(|| p.user.clone());
    if owner != p.user {
        require_global_admin(&p)?;
    }
    // A token makes tokens within its own grants only (never its owner's wider ones).
    let mut grants = n.grants;
    if matches!(p.via, Via::Token { .. }) {
        if grants.is_empty() {
            grants = p.grants.clone();
        }
        if let Some(g) = grants.iter().find(|g| !auth::within(g, &p.grants)) {
            return Err(ApiError::forbidden(format!(
                "this token cannot grant {} on {}",
                g.role.as_str(),
                g.company
                    .as_ref()
                    .map(|c| c.as_str())
                    .unwrap_or("every company")
            )));
        }
    }
    let (store, now) = (s.0.store.clone(), s.0.clock.now());
    let (text, t) = blocking(move || {
        auth::add_token(store.as_ref(), &owner, &n.name, grants, n.expires_at, now)
            .map_err(auth_error)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenMade {
            token: text,
            item: token_item(t),
        }),
    )
        .into_response())
}

/// Revokes a token.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "users",
    params(("id" = String, Path, description = "Token id")),
    security(("session" = ["viewer"]), ("token" = ["viewer"])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn token_revoke(
    State(s): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = s.0.store.clone();
    let (i, user, admin) = (id.clone(), p.user.clone(), p.is_global_admin());
    let gone = blocking(move || {
        let mine = auth::tokens(store.as_ref(), (!admin).then_some(user.as_str()))
            .map_err(auth_error)?
            .iter()
            .any(|t| t.id == i);
        if !mine {
            return Ok(false);
        }
        auth::revoke_token(store.as_ref(), &i).map_err(auth_error)
    })
    .await?;
    if gone {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no token {id:?}")))
    }
}
