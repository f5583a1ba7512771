//! The web console: HTML pages rendered on the server (maud) for finance teams, served by the
//! daemon on the operator API's listener beside `/api/v1`.
//!
//! - Every page reads the same read model as the API ([`crate::api::model::CompanyView`]) and
//!   the same derived queries of the decisions engine (letters waiting, next run, probable
//!   payments, closing drafts), cached per read-model generation ([`derived`]): a page never
//!   scans the store itself.
//! - Every button posts a plain HTML form (session cookie + the session's CSRF token in the
//!   form) that records a decision through [`crate::api::seam::record`], exactly as the API's
//!   `POST /decisions` does; the reason is asked where the decision needs one
//!   ([`crate::decisions::Decision::needs_reason`]). Buttons are shown only to a role that may
//!   record the decision; the recording checks the role again.
//! - Assets (one stylesheet, one small script) are embedded in the binary; the pages work with
//!   the script off (each form then reloads the page).
//! - French by default, English per user (kept in the store, namespace [`NS_PREFS`]).

pub mod actions;
pub mod chart;
pub mod derived;
pub mod fmt;
pub mod pages;

use crate::api::ApiState;
use crate::auth::web::{Auth, HasAuth, Principal, Refusal};
use crate::auth::Role;
use crate::config::CompanyConfig;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fmt::Lang;
use maud::{html, Markup, DOCTYPE};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Store namespace of the console's per-user preferences (language).
pub const NS_PREFS: &str = "console.prefs";
/// The stylesheet.
pub const CSS: &str = include_str!("assets/console.css");
/// The script.
pub const JS: &str = include_str!("assets/console.js");

/// The console's state: the API's, the derived-query cache, the users' languages.
#[derive(Clone, Debug)]
pub struct Console {
    /// The operator API's state (store, auth, read models, hub, companies).
    pub api: ApiState,
    /// Queries derived from the store, cached per read-model generation.
    pub derived: Arc<derived::Derived>,
    langs: Arc<Mutex<HashMap<String, Lang>>>,
}

impl HasAuth for Console {
    fn auth(&self) -> &Arc<Auth> {
        &self.api.0.auth
    }
}

impl Console {
    /// The console over the API's state.
    pub fn new(api: ApiState) -> Self {
        Console {
            api,
            derived: Arc::new(derived::Derived::default()),
            langs: Arc::default(),
        }
    }

    /// The language `user` chose (French until they choose).
    pub async fn lang_of(&self, user: &str) -> Lang {
        if let Some(l) = self
            .langs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
        {
            return *l;
        }
        let (store, u) = (self.api.0.store.clone(), user.to_owned());
        let doc = tokio::task::spawn_blocking(move || store.document(NS_PREFS, &u))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let lang = doc
            .and_then(|d| d.value["lang"].as_str().map(Lang::from_code))
            .unwrap_or_default();
        self.langs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), lang);
        lang
    }

    /// Records `user`'s language.
    pub async fn set_lang(&self, user: &str, lang: Lang) -> Result<(), String> {
        let (store, u) = (self.api.0.store.clone(), user.to_owned());
        tokio::task::spawn_blocking(move || {
            store.put_document(
                NS_PREFS,
                &u,
                Some(crate::store::Document {
                    value: serde_json::json!({"lang": lang.code()}),
                    expires_at: None,
                }),
            )
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        self.langs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), lang);
        Ok(())
    }
}

/// The person looking at a page: their principal and language. A request without a session
/// is sent to the login page.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// Who.
    pub p: Principal,
    /// Their language.
    pub lang: Lang,
}

impl Viewer {
    /// True when their role on `company` may record decisions of `kind`.
    pub fn may(&self, company: &CompanyConfig, kind: &str) -> bool {
        let need = crate::api::seam::role_for(kind).unwrap_or(Role::Admin);
        self.p.role_on(&company.id).is_some_and(|r| r >= need)
    }

    /// The session's CSRF token (empty for a token or the socket, which need none).
    pub fn csrf(&self) -> &str {
        self.p.csrf_token().unwrap_or("")
    }
}

impl FromRequestParts<Console> for Viewer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, s: &Console) -> Result<Self, Response> {
        match s.auth().authenticate(parts, true).await {
            Ok(p) => {
                let lang = s.lang_of(&p.user).await;
                Ok(Viewer { p, lang })
            }
            Err(Refusal::Unauthenticated) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let to = format!("/login?next={}", url_encode(next));
                Err(Redirect::to(&to).into_response())
            }
            Err(Refusal::Csrf) => {
                Err(error_page(Lang::Fr, StatusCode::FORBIDDEN, "CSRF", "").into_response())
            }
            Err(Refusal::Unavailable(m)) => Err(error_page(
                Lang::Fr,
                StatusCode::SERVICE_UNAVAILABLE,
                "Service indisponible / unavailable",
                &m,
            )),
        }
    }
}

/// Percent-encodes `s` for a path segment or a query value (every byte but the unreserved
/// ones: a space is `%20`, never `+`, which a path keeps as it is).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The console's routes, with their state.
pub fn router(api: ApiState) -> axum::Router {
    use axum::routing::{get, post};
    let c = Console::new(api);
    axum::Router::new()
        .route("/", get(pages::portfolio))
        .route("/login", get(actions::login_page).post(actions::login))
        .route("/logout", post(actions::logout))
        .route("/lang", post(actions::set_lang))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .route("/c/{company}", get(pages::home))
        .route("/c/{company}/queue", get(pages::queue))
        .route("/c/{company}/customers", get(pages::customers))
        .route("/c/{company}/customers/{customer}", get(pages::customer))
        .route("/c/{company}/approvals", get(pages::approvals))
        .route(
            "/c/{company}/approvals/{action}/pdf",
            get(pages::approval_pdf),
        )
        .route("/c/{company}/letters/{name}", get(pages::letter_file))
        .route("/c/{company}/worklist", get(pages::worklist))
        .route(
            "/c/{company}/worklist/letters.pdf",
            get(pages::letters_to_post_pdf),
        )
        .route("/c/{company}/next-run", get(pages::next_run))
        .route("/c/{company}/closing", get(pages::closing))
        .route(
            "/c/{company}/closing/{date}/{format}",
            get(pages::closing_export),
        )
        .route("/c/{company}/connectors", get(pages::connectors))
        .route(
            "/c/{company}/connectors/{source}/quarantine/{name}",
            get(pages::quarantined_file),
        )
        .route("/c/{company}/audit", get(pages::audit))
        .route("/c/{company}/decide", post(actions::decide))
        .route("/c/{company}/cycle", post(actions::cycle))
        .layer(axum::middleware::map_response(headers))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::api::MAX_REQUEST_BODY,
        ))
        .with_state(c)
}

/// Security headers on every console answer: no framing, no caching, scripts and styles from
/// the console only.
async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(mime: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// An HTML answer.
pub fn respond(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// An error page (no navigation: the person may not see the company).
pub fn error_page(lang: Lang, status: StatusCode, title: &str, detail: &str) -> Response {
    let m = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                title { "relance — " (title) }
                link rel="stylesheet" href="/assets/console.css";
            }
            body.error {
                main {
                    h1 { (title) }
                    @if !detail.is_empty() { p.detail { (detail) } }
                    p { a href="/" { (lang.t("Retour au portefeuille", "Back to the portfolio")) } }
                }
            }
        }
    };
    respond(status, m)
}

/// The pages of a company, for the navigation bar: (path suffix, French, English).
pub const NAV: &[(&str, &str, &str)] = &[
    ("", "Accueil", "Home"),
    ("/queue", "Exceptions", "Exceptions"),
    ("/customers", "Clients", "Customers"),
    ("/approvals", "Validations", "Approvals"),
    ("/worklist", "Aujourd'hui", "Today"),
    ("/next-run", "Prochain passage", "Next run"),
    ("/closing", "Clôture", "Closing"),
    ("/connectors", "Connecteurs", "Connectors"),
    ("/audit", "Journal", "Audit log"),
];

/// A whole page: header (user, language, logout), the company's navigation when there is a
/// company, a message after a decision, then `body`.
pub fn layout(
    v: &Viewer,
    company: Option<&CompanyConfig>,
    current: &str,
    title: &str,
    flash: Option<&str>,
    body: Markup,
) -> Markup {
    let l = v.lang;
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — relance" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "relance" }
                    @if let Some(c) = company {
                        span.company { (c.name) }
                    }
                    span.spacer {}
                    span.user { (v.p.user) }
                    form.inline-form method="post" action="/lang" {
                        input type="hidden" name="csrf_token" value=(v.csrf());
                        input type="hidden" name="back" value=(current);
                        @if l == Lang::Fr {
                            button name="lang" value="en" type="submit" { "English" }
                        } @else {
                            button name="lang" value="fr" type="submit" { "Français" }
                        }
                    }
                    form.inline-form method="post" action="/logout" {
                        input type="hidden" name="csrf_token" value=(v.csrf());
                        button type="submit" { (l.t("Se déconnecter", "Log out")) }
                    }
                }
                @if let Some(c) = company {
                    nav.pages aria-label=(l.t("Pages de la société", "Company pages")) {
                        a href="/" { (l.t("Portefeuille", "Portfolio")) }
                        @for (suffix, fr, en) in NAV {
                            @let href = format!("/c/{}{}", c.id, suffix);
                            @let here = current.split('?').next() == Some(href.as_str());
                            a href=(href) class=[here.then_some("here")] { (l.t(fr, en)) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(f) = flash {
                        p.flash role="status" { (f) }
                    }
                    (body)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(
            super::url_encode("MME CLAIRE+PETIT/é"),
            "MME%20CLAIRE%2BPETIT%2F%C3%A9"
        );
        assert_eq!(super::url_encode("FA-2026_01.pdf"), "FA-2026_01.pdf");
    }
}
