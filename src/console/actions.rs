//! What the console's forms post: the login, the logout, the language, a cycle now, and every
//! decision — turned from the form's fields into the decision's JSON and recorded through
//! [`crate::api::seam::record`], the API's own recording path.
//!
//! Every post but the login is checked against the session's CSRF token (the form's
//! `csrf_token` field); the login form carries a token of its own, tied to a cookie set with
//! the form (a login cannot be forged from another site either).

use super::fmt::{parse_amount, parse_date, Lang};
use super::{error_page, respond, Console};
use crate::api::seam;
use crate::auth::web::{self, Login, Peer, Principal, Refusal, CSRF_FIELD};
use crate::auth::Role;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html as m, DOCTYPE};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Cookie tying the login form to its browser.
pub const LOGIN_COOKIE: &str = "relance_login";
/// Header the console's script sets to get a short text answer instead of a redirect.
pub const INLINE_HEADER: &str = "x-console-inline";

/// The request's parts, for handlers that authenticate themselves after reading the form.
pub struct Head(Parts);

impl<S: Send + Sync> FromRequestParts<S> for Head {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Head(parts.clone()))
    }
}

/// A path inside the console to go back to (anything else goes to `/`).
fn local(back: Option<&str>) -> String {
    match back {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') => b.to_owned(),
        _ => "/".to_owned(),
    }
}

fn with_msg(back: &str, msg: &str) -> String {
    let (path, _) = back.split_once('?').unwrap_or((back, ""));
    format!("{path}?msg={}", super::url_encode(msg))
}

/// The session of a form post, checked against the form's CSRF token.
async fn poster(
    s: &Console,
    head: &Parts,
    form: &[(String, String)],
) -> Result<Principal, Response> {
    let p = match s.api.0.auth.authenticate(head, true).await {
        Ok(p) => p,
        Err(Refusal::Unauthenticated) => {
            return Err(error_page(
                Lang::Fr,
                StatusCode::UNAUTHORIZED,
                "Session expirée / session expired",
                "",
            ))
        }
        Err(Refusal::Csrf) => return Err(csrf_refused()),
        Err(Refusal::Unavailable(m)) => {
            return Err(error_page(
                Lang::Fr,
                StatusCode::SERVICE_UNAVAILABLE,
                "Service indisponible / unavailable",
                &m,
            ))
        }
    };
    let presented = field(form, CSRF_FIELD);
    if !p.check_csrf(presented) {
        return Err(csrf_refused());
    }
    Ok(p)
}

fn csrf_refused() -> Response {
    error_page(
        Lang::Fr,
        StatusCode::FORBIDDEN,
        "Jeton CSRF absent ou faux / missing or wrong CSRF token",
        "Rechargez la page et recommencez. / Reload the page and try again.",
    )
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// ---------- login ----------

/// The login page's query.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    /// Where to go once logged in.
    pub next: Option<String>,
}

fn login_form(lang: Lang, next: &str, token: &str, error: Option<&str>) -> maud::Markup {
    let l = lang;
    m! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (l.t("Connexion — relance", "Log in — relance")) }
                link rel="stylesheet" href="/assets/console.css";
            }
            body.login {
                main {
                    h1 { "relance" }
                    @if let Some(e) = error { p.bad role="alert" { (e) } }
                    form method="post" action="/login" {
                        input type="hidden" name="csrf_token" value=(token);
                        input type="hidden" name="next" value=(next);
                        label { (l.t("Utilisateur", "User")) " " input type="text" name="user" autocomplete="username" required autofocus; }
                        label { (l.t("Mot de passe", "Password")) " " input type="password" name="password" autocomplete="current-password" required; }
                        button type="submit" { (l.t("Se connecter", "Log in")) }
                    }
                }
            }
        }
    }
}

fn login_answer(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let token = format!("{:032x}", rand::random::<u128>());
    let mut r = respond(status, login_form(Lang::Fr, next, &token, error));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; Path=/login; Max-Age=3600; Secure; HttpOnly; SameSite=Strict"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /login`.
pub async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    login_answer(StatusCode::OK, &local(q.next.as_deref()), None)
}

/// `POST /login`: opens a session (the API's login, throttled the same way).
pub async fn login(
    State(s): State<Console>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let next = local(field(&form, "next"));
    let presented = field(&form, CSRF_FIELD).unwrap_or("");
    let expected = web::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if presented.is_empty() || !crate::auth::same(presented, expected) {
        return login_answer(
            StatusCode::FORBIDDEN,
            &next,
            Some("Formulaire expiré, recommencez. / The form expired, try again."),
        );
    }
    let user = field(&form, "user").unwrap_or("");
    let password = field(&form, "password").unwrap_or("");
    let peer = peer.map(|p| p.0);
    match s.api.0.auth.login(user, password, peer.as_ref()).await {
        Login::Opened(cookie, _) => {
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                web::session_cookie(&cookie, s.api.0.auth.session_ttl),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "relance_login=; Path=/login; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
                ),
            );
            r
        }
        Login::Refused => login_answer(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("Utilisateur ou mot de passe incorrect. / Wrong user name or password."),
        ),
        Login::Throttled => {
            let mut r = login_answer(
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                Some(
                    "Trop de tentatives : attendez une minute. / Too many attempts: wait a minute.",
                ),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            r
        }
    }
}

/// `POST /logout`.
pub async fn logout(
    State(s): State<Console>,
    Head(head): Head,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let p = match poster(&s, &head, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    s.api.0.auth.logout(&p).await;
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, web::clear_cookie());
    r
}

/// `POST /lang`: the user's language, kept for their next sessions.
pub async fn set_lang(
    State(s): State<Console>,
    Head(head): Head,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let p = match poster(&s, &head, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let lang = Lang::from_code(field(&form, "lang").unwrap_or("fr"));
    if let Err(e) = s.set_lang(&p.user, lang).await {
        return error_page(lang, StatusCode::SERVICE_UNAVAILABLE, "—", &e);
    }
    Redirect::to(&local(field(&form, "back"))).into_response()
}

// ---------- a cycle now ----------

/// `POST /c/{company}/cycle` (admin): runs a cycle of the company now, as `relance sync
/// --once` does through the API.
pub async fn cycle(
    State(s): State<Console>,
    Path(id): Path<String>,
    Head(head): Head,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let p = match poster(&s, &head, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let lang = s.lang_of(&p.user).await;
    let c = match s.api.company(&p, &id, Role::Admin) {
        Ok(c) => c,
        Err(e) => return error_page(lang, e.status, "—", &e.message),
    };
    let back = local(field(&form, "back"));
    let msg = match s.api.0.hub.run_cycle(&c.id).await {
        Ok(Ok(r)) => {
            s.api.0.models.invalidate(&c.id);
            // The next page shows the cycle's effects: wait for the view built after it.
            let _ = s.api.0.models.rebuild(&c).await;
            format!(
                "{} {} {}, {} {}, {} {}",
                lang.t("Cycle terminé :", "Cycle done:"),
                r.matches,
                lang.t("rapprochement(s)", "match(es)"),
                r.actions,
                lang.t("action(s) de relance", "dunning action(s)"),
                r.enqueued,
                lang.t("envoi(s) en file", "outbox entries"),
            )
        }
        Ok(Err(e)) => format!("{} {e}", lang.t("Cycle en échec :", "Cycle failed:")),
        Err(e) => e.to_string(),
    };
    Redirect::to(&with_msg(&back, &msg)).into_response()
}

// ---------- decisions ----------

/// The form fields that are not part of the decision itself.
const RESERVED: &[&str] = &[CSRF_FIELD, "type", "key", "back", "reason"];
/// Fields read as dates.
const DATES: &[&str] = &[
    "date",
    "until",
    "since",
    "judgment_date",
    "bodacc_date",
    "declaration_deadline",
    "closing",
];
/// Fields read as amounts.
const AMOUNTS: &[&str] = &["amount"];
/// Fields that may repeat (a multiple select).
const LISTS: &[&str] = &["invoices", "actions"];

/// Splits a `left = amount` line (also `left;amount`, `left amount`).
fn pair(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    line.split_once('=')
        .or_else(|| line.split_once(';'))
        .or_else(|| line.split_once(char::is_whitespace))
        .map(|(a, b)| (a.trim(), b.trim()))
}

/// The decision's JSON from the form's fields; each problem named by its field.
pub fn decision_json(form: &[(String, String)]) -> Result<Value, String> {
    let kind = field(form, "type").unwrap_or("");
    let mut o = Map::new();
    o.insert("type".into(), json!(kind));
    let mut errors = Vec::new();
    for (k, v) in form {
        let v = v.trim();
        if RESERVED.contains(&k.as_str()) || v.is_empty() {
            continue;
        }
        let k = k.as_str();
        if DATES.contains(&k) {
            match parse_date(v) {
                Some(d) => {
                    o.insert(k.into(), json!(d.to_string()));
                }
                None => errors.push(format!(
                    "{k}: «{v}» is not a date (AAAA-MM-JJ or JJ/MM/AAAA)"
                )),
            }
        } else if AMOUNTS.contains(&k) {
            match parse_amount(v) {
                Some(a) => {
                    o.insert(k.into(), json!(a.to_string()));
                }
                None => errors.push(format!("{k}: «{v}» is not an amount")),
            }
        } else if k == "rate_percent" {
            match parse_amount(v) {
                Some(p) => {
                    o.insert(
                        "rate".into(),
                        json!((p / rust_decimal::Decimal::ONE_HUNDRED)
                            .normalize()
                            .to_string()),
                    );
                }
                None => errors.push(format!("rate: «{v}» is not a percentage")),
            }
        } else if LISTS.contains(&k) {
            let list = o.entry(k).or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                a.push(json!(v));
            }
        } else if k == "parts" {
            let mut parts = Vec::new();
            for line in v.lines().filter(|l| !l.trim().is_empty()) {
                match pair(line).and_then(|(i, a)| Some((i, parse_amount(a)?))) {
                    Some((i, a)) => parts.push(json!({"invoice": i, "amount": a.to_string()})),
                    None => errors.push(format!("parts: «{line}» is not «invoice = amount»")),
                }
            }
            o.insert("parts".into(), json!(parts));
        } else if k == "instalments" {
            let mut list = Vec::new();
            for line in v.lines().filter(|l| !l.trim().is_empty()) {
                match pair(line).and_then(|(d, a)| Some((parse_date(d)?, parse_amount(a)?))) {
                    Some((d, a)) => {
                        list.push(json!({"date": d.to_string(), "amount": a.to_string()}))
                    }
                    None => errors.push(format!("instalments: «{line}» is not «date = amount»")),
                }
            }
            o.insert("instalments".into(), json!(list));
        } else if k == "creditor_abroad" {
            o.insert(k.into(), json!(true));
        } else {
            o.insert(k.into(), json!(v));
        }
    }
    if let Some(r) = field(form, "reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        o.insert("reason".into(), json!(r));
    } else if crate::decisions::needs_reason_for(kind, field(form, "outcome")) {
        errors.push("reason: a reason is required (it is kept in the audit log)".into());
    }
    if errors.is_empty() {
        Ok(Value::Object(o))
    } else {
        Err(errors.join("; "))
    }
}

/// `POST /c/{company}/decide`: records the form's decision, as `POST /api/v1/companies/{company}/decisions`
/// does (same role check, same recording, same idempotency by the form's key).
pub async fn decide(
    State(s): State<Console>,
    Path(id): Path<String>,
    Head(head): Head,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let inline = head.headers.contains_key(INLINE_HEADER);
    let p = match poster(&s, &head, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let lang = s.lang_of(&p.user).await;
    let back = local(field(&form, "back"));
    let refuse = |status: StatusCode, msg: String| -> Response {
        if inline {
            (status, msg).into_response()
        } else {
            error_page(
                lang,
                status,
                lang.t("Décision non enregistrée", "Decision not recorded"),
                &msg,
            )
        }
    };
    let visible = match s.api.company(&p, &id, Role::Viewer) {
        Ok(c) => c,
        Err(e) => return refuse(e.status, e.message),
    };
    let decision = match decision_json(&form) {
        Ok(d) => d,
        Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let kind = match seam::kind_of(&decision) {
        Ok(k) => k.to_owned(),
        Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let need = seam::role_for(&kind).unwrap_or(Role::Admin);
    if let Err(e) = s.api.company(&p, &id, need) {
        return refuse(e.status, e.message);
    }
    let key = match field(&form, "key").map(str::trim) {
        Some(k) if !k.is_empty() && k.len() <= seam::MAX_KEY => k.to_owned(),
        _ => return refuse(StatusCode::UNPROCESSABLE_ENTITY, "key: missing".into()),
    };
    let envelope = seam::Envelope {
        key,
        actor: p.actor.clone(),
        at: s.api.0.clock.now(),
        decision,
    };
    let (store, cc) = (s.api.0.store.clone(), visible.clone());
    let r = tokio::task::spawn_blocking(move || seam::record(store.as_ref(), &cc, envelope)).await;
    let (recorded, entry) = match r {
        Ok(Ok(x)) => x,
        Ok(Err(seam::SeamError::Store(e))) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Ok(Err(e @ seam::SeamError::KeyReused(_))) => {
            return refuse(StatusCode::CONFLICT, e.to_string())
        }
        Ok(Err(e)) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if let Some(entry) = entry {
        s.api.0.models.recorded(&visible.id, entry);
    }
    let msg = format!(
        "{} {} ({}) {}",
        lang.t("Décision n°", "Decision #"),
        recorded.seq,
        kind,
        if recorded.duplicate {
            lang.t("déjà enregistrée.", "already recorded.")
        } else {
            lang.t(
                "enregistrée : le prochain cycle l'applique.",
                "recorded: the next cycle applies it.",
            )
        }
    );
    if inline {
        let status = if recorded.duplicate {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        return (status, msg).into_response();
    }
    Redirect::to(&with_msg(&back, &msg)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn form_fields_become_the_decision() {
        let d = decision_json(&form(&[
            ("csrf_token", "x"),
            ("type", "promise_to_pay"),
            ("key", "k1"),
            ("customer", "C1"),
            ("invoices", "F1"),
            ("invoices", "F2"),
            ("date", "15/07/2026"),
            ("amount", "1 234,50"),
        ]))
        .unwrap();
        assert_eq!(
            d,
            json!({"type": "promise_to_pay", "customer": "C1", "invoices": ["F1", "F2"],
                   "date": "2026-07-15", "amount": "1234.50"})
        );
        let d = decision_json(&form(&[
            ("type", "payment_plan"),
            ("customer", "C1"),
            ("instalments", "2026-07-15 = 100,00\n15/08/2026;200\n"),
        ]))
        .unwrap();
        assert_eq!(
            d["instalments"],
            json!([{"date": "2026-07-15", "amount": "100.00"}, {"date": "2026-08-15", "amount": "200"}])
        );
        let d = decision_json(&form(&[
            ("type", "override_rate"),
            ("closing", "2026-06-30"),
            ("invoice", "F1"),
            ("rate_percent", "50"),
            ("reason", "accord du client"),
        ]))
        .unwrap();
        assert_eq!(d["rate"], "0.5");
        assert_eq!(d["reason"], "accord du client");
    }

    #[test]
    fn a_decision_that_needs_a_reason_is_refused_without_one() {
        let e = decision_json(&form(&[
            ("type", "reject_match"),
            ("transaction", "T1"),
            ("invoice", "F1"),
            ("reason", "  "),
        ]))
        .unwrap_err();
        assert!(e.contains("reason"), "{e}");
        let e = decision_json(&form(&[("type", "hold"), ("until", "demain")])).unwrap_err();
        assert!(e.contains("until") && e.contains("reason"), "{e}");
    }

    #[test]
    fn a_call_outcome_asks_a_reason_only_where_its_outcome_needs_one() {
        let e = decision_json(&form(&[
            ("type", "call_outcome"),
            ("customer", "C1"),
            ("outcome", "wrong_contact"),
        ]))
        .unwrap_err();
        assert!(e.contains("reason"), "{e}");
        let d = decision_json(&form(&[
            ("type", "call_outcome"),
            ("customer", "C1"),
            ("action", "relance-dunning-1"),
            ("outcome", "promise"),
            ("date", "20/07/2026"),
            ("amount", "150,00"),
        ]))
        .unwrap();
        assert_eq!(
            d,
            json!({"type": "call_outcome", "customer": "C1", "action": "relance-dunning-1",
                   "outcome": "promise", "date": "2026-07-20", "amount": "150.00"})
        );
        assert_eq!(seam::role_for("call_outcome"), Some(Role::Collector));
        let d = decision_json(&form(&[
            ("type", "letters_posted"),
            ("actions", "A1"),
            ("actions", "A2"),
        ]))
        .unwrap();
        assert_eq!(d["actions"], json!(["A1", "A2"]));
        assert_eq!(seam::role_for("letters_posted"), Some(Role::Collector));
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local(Some("/c/demo")), "/c/demo");
        assert_eq!(local(Some("//evil.example")), "/");
        assert_eq!(local(Some("https://evil.example")), "/");
        assert_eq!(local(None), "/");
        assert_eq!(with_msg("/c/x?msg=old", "ok"), "/c/x?msg=ok");
    }
}
