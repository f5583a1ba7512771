//! Authentication over HTTP: who a request comes from (a session cookie, an API token, or the
//! local socket's peer credentials), CSRF checks, session cookies and login throttling.
//!
//! The API and the web console share these helpers: the console's form handlers call
//! [`Auth::authenticate`] and [`Principal::check_csrf`] with the form's `csrf_token` field;
//! the API's JSON handlers take [`Principal`] as an extractor, which checks the
//! `X-CSRF-Token` header of every unsafe request made with a session cookie.

use super::{role_on, Grant, Role, Session};
use crate::clock::Clock;
use crate::store::SharedStore;
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method};
use chrono::Duration;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use relance_core::CompanyId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "relance_session";
/// Header carrying the CSRF token of a session's unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field carrying the CSRF token (console forms).
pub const CSRF_FIELD: &str = "csrf_token";
/// How long a session's lookup is cached by an instance (a logout elsewhere takes effect
/// within this; a logout here at once).
pub const SESSION_CACHE: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a request came from, put in its extensions by the listener.
#[derive(Clone, Debug)]
pub enum Peer {
    /// A TCP client (its address: login throttling, logs).
    Tcp(IpAddr),
    /// A local process on the Unix socket, identified by its credentials (SO_PEERCRED).
    Local {
        /// User id.
        uid: u32,
        /// Group id.
        gid: u32,
        /// Process id, when the kernel gave it.
        pid: Option<i32>,
    },
}

/// How a principal authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A session cookie (CSRF applies).
    Session {
        /// The session's store key (hash of the cookie).
        key: String,
        /// The session's CSRF token.
        csrf: String,
    },
    /// An API token (by id).
    Token {
        /// The token's id.
        id: String,
    },
    /// The local socket.
    Local,
}

/// Who a request acts for, and what they may do.
#[derive(Clone, Debug)]
pub struct Principal {
    /// For the audit log: `alice`, `token:3f2a…(alice)`, `unix:uid=1000(bob)`.
    pub actor: String,
    /// The user name (for tokens, their owner; for the socket, `unix:<uid>`).
    pub user: String,
    /// Roles.
    pub grants: Vec<Grant>,
    /// How it authenticated.
    pub via: Via,
}

/// Why a request is refused before any handler runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No valid session, token or socket.
    Unauthenticated,
    /// A session's unsafe request without the right CSRF token.
    Csrf,
    /// The store could not be read.
    Unavailable(String),
}

impl Principal {
    /// The role on `company`, if any.
    pub fn role_on(&self, company: &CompanyId) -> Option<Role> {
        role_on(&self.grants, company)
    }

    /// True when the principal may see `company` at all.
    pub fn sees(&self, company: &CompanyId) -> bool {
        self.role_on(company).is_some()
    }

    /// True when it holds admin on every company (user management).
    pub fn is_global_admin(&self) -> bool {
        super::is_global_admin(&self.grants)
    }

    /// Checks a CSRF token presented by a form (or a header) against the session's; always
    /// true for tokens and the socket, which a browser never sends on its own.
    pub fn check_csrf(&self, presented: Option<&str>) -> bool {
        match &self.via {
            Via::Session { csrf, .. } => presented.is_some_and(|p| super::same(p, csrf)),
            Via::Token { .. } | Via::Local => true,
        }
    }

    /// The session's CSRF token, to put in forms.
    pub fn csrf_token(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf, .. } => Some(csrf),
            _ => None,
        }
    }
}

/// The authentication side of the service: the store, a short cache of sessions, the login
/// throttles.
#[derive(Debug)]
pub struct Auth {
    store: SharedStore,
    clock: Clock,
    cache: Mutex<HashMap<String, (Instant, Option<Opened>)>>,
    by_user: DefaultKeyedRateLimiter<String>,
    by_addr: DefaultKeyedRateLimiter<IpAddr>,
    /// Session lifetime.
    pub session_ttl: Duration,
}

/// A session with its user's grants, as cached.
type Opened = (Session, Vec<Grant>);

/// What a login attempt gave.
#[derive(Debug)]
pub enum Login {
    /// The cookie value to set and the session.
    Opened(String, Session),
    /// Wrong name or password.
    Refused,
    /// Too many attempts for this user or from this address: wait.
    Throttled,
}

impl Auth {
    /// Authentication over `store`, sessions lasting `session_ttl`. Logins are throttled to
    /// 5 attempts a minute per user name and 30 per client address (bursts of the same size).
    pub fn new(store: SharedStore, clock: Clock, session_ttl: Duration) -> Self {
        let per_user = Quota::per_minute(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN));
        let per_addr = Quota::per_minute(NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN));
        Auth {
            store,
            clock,
            cache: Mutex::new(HashMap::new()),
            by_user: RateLimiter::keyed(per_user),
            by_addr: RateLimiter::keyed(per_addr),
            session_ttl,
        }
    }

    /// The store.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Checks a login (on the blocking pool: argon2 takes tens of milliseconds).
    pub async fn login(&self, user: &str, password: &str, peer: Option<&Peer>) -> Login {
        if self.by_user.check_key(&user.to_owned()).is_err() {
            return Login::Throttled;
        }
        if let Some(Peer::Tcp(ip)) = peer {
            if self.by_addr.check_key(ip).is_err() {
                return Login::Throttled;
            }
        }
        let (store, u, p, now, ttl) = (
            self.store.clone(),
            user.to_owned(),
            password.to_owned(),
            self.clock.now(),
            self.session_ttl,
        );
        let r = tokio::task::spawn_blocking(move || {
            match super::check_password(store.as_ref(), &u, &p)? {
                Some(user) => super::open_session(store.as_ref(), &user.name, now, ttl).map(Some),
                None => Ok(None),
            }
        })
        .await;
        match r {
            Ok(Ok(Some((cookie, s)))) => Login::Opened(cookie, s),
            Ok(Ok(None)) => Login::Refused,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "login failed on the store");
                Login::Refused
            }
            Err(e) => {
                tracing::error!(error = %e, "login task failed");
                Login::Refused
            }
        }
    }

    /// Ends the session of `principal` (when it is one).
    pub async fn logout(&self, principal: &Principal) {
        if let Via::Session { key, .. } = &principal.via {
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key);
            let (store, key) = (self.store.clone(), key.clone());
            let _ = tokio::task::spawn_blocking(move || {
                store.put_document(super::NS_SESSIONS, &key, None)
            })
            .await;
        }
    }

    /// Who the request comes from: the socket's peer, a bearer token, or a session cookie.
    /// For a session, an unsafe method must carry the CSRF header unless `form_csrf` is true
    /// (the handler checks the form's field itself).
    pub async fn authenticate(&self, parts: &Parts, form_csrf: bool) -> Result<Principal, Refusal> {
        if let Some(Peer::Local { uid, .. }) = parts.extensions.get::<Peer>() {
            return Ok(local_principal(*uid));
        }
        if let Some(bearer) = bearer(&parts.headers) {
            let (store, text, now) = (self.store.clone(), bearer.to_owned(), self.clock.now());
            let found =
                tokio::task::spawn_blocking(move || super::token(store.as_ref(), &text, now))
                    .await
                    .map_err(|e| Refusal::Unavailable(e.to_string()))?
                    .map_err(|e| Refusal::Unavailable(e.to_string()))?;
            return match found {
                Some(t) => Ok(Principal {
                    actor: format!("token:{}({})", t.id, t.owner),
                    user: t.owner,
                    grants: t.grants,
                    via: Via::Token { id: t.id },
                }),
                None => Err(Refusal::Unauthenticated),
            };
        }
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Refusal::Unauthenticated);
        };
        let (session, grants) = self
            .session(cookie)
            .await?
            .ok_or(Refusal::Unauthenticated)?;
        let p = Principal {
            actor: session.user.clone(),
            user: session.user.clone(),
            grants,
            via: Via::Session {
                key: super::session_key(cookie),
                csrf: session.csrf.clone(),
            },
        };
        if !form_csrf && is_unsafe(&parts.method) {
            let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !p.check_csrf(presented) {
                return Err(Refusal::Csrf);
            }
        }
        Ok(p)
    }

    async fn session(&self, cookie: &str) -> Result<Option<Opened>, Refusal> {
        let key = super::session_key(cookie);
        let now = self.clock.now();
        if let Some((at, hit)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if at.elapsed() < SESSION_CACHE {
                return Ok(hit.clone().filter(|(s, _)| s.expires_at > now));
            }
        }
        let (store, c) = (self.store.clone(), cookie.to_owned());
        let found = tokio::task::spawn_blocking(move || {
            let Some(s) = super::session(store.as_ref(), &c, now)? else {
                return Ok(None);
            };
            // A removed user's sessions open nothing, even before they are purged.
            Ok::<_, super::AuthError>(super::user(store.as_ref(), &s.user)?.map(|u| (s, u.grants)))
        })
        .await
        .map_err(|e| Refusal::Unavailable(e.to_string()))?
        .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 100_000 {
            cache.retain(|_, (at, _)| at.elapsed() < SESSION_CACHE);
        }
        cache.insert(key, (Instant::now(), found.clone()));
        Ok(found)
    }
}

/// The principal of a local socket client: admin of every company (the socket's file mode and
/// group decide who may connect), named by its uid for the audit log.
pub fn local_principal(uid: u32) -> Principal {
    let name = user_name(uid)
        .map(|n| format!("unix:uid={uid}({n})"))
        .unwrap_or_else(|| format!("unix:uid={uid}"));
    Principal {
        actor: name.clone(),
        user: name,
        grants: vec![Grant {
            company: None,
            role: Role::Admin,
        }],
        via: Via::Local,
    }
}

/// The login name of `uid` from /etc/passwd, when it has one.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

/// True for the methods that change something (CSRF applies).
pub fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The bearer token of an `Authorization` header.
pub fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value opening a session: `Secure; HttpOnly; SameSite=Strict; Path=/`.
pub fn session_cookie(value: &str, max_age: Duration) -> HeaderValue {
    let v = format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        max_age.num_seconds().max(0)
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value ending a session.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "relance_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
    )
}

/// A session principal's extractor state: anything that holds an [`Auth`].
pub trait HasAuth {
    /// The authentication side.
    fn auth(&self) -> &Arc<Auth>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_bearer_are_read_from_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; relance_session=abc; b=2"),
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer rlc_x_y"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "zz"), None);
        assert_eq!(bearer(&h), Some("rlc_x_y"));
        let c = session_cookie("abc", Duration::hours(1));
        let s = c.to_str().unwrap();
        for want in ["Secure", "HttpOnly", "SameSite=Strict", "Max-Age=3600"] {
            assert!(s.contains(want), "{s}");
        }
    }
}
