//! Who may do what: local users with roles per company, server-side sessions, CSRF tokens and
//! API tokens, all kept as shared store documents so that any instance serves them.
//!
//! - **Users** (`auth.users/<name>`): an argon2id password hash (PHC string) and grants, each a
//!   role on one company or on every company (`company = None`). The roles are ordered:
//!   viewer < collector < approver < admin; a grant of a role gives the roles below it.
//! - **Sessions** (`auth.sessions/<sha256 of the cookie value>`): the user, a CSRF token, and
//!   an expiry (purged by [`Store::purge_documents`]). The cookie carries 256 random bits;
//!   the store holds only their hash, so a copy of the store opens no session.
//! - **API tokens** (`auth.tokens/<id>`): `rlc_<id>_<secret>`, shown once; the store keeps the
//!   SHA-256 of the secret (the secret has 256 random bits: a slow hash adds nothing), the
//!   owner and grants no wider than the owner's when it was made.
//!
//! Every comparison of a presented secret with a stored hash is constant-time.

pub mod web;

use crate::store::{Document, SharedStore, Store, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use relance_core::CompanyId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// Namespace of user documents.
pub const NS_USERS: &str = "auth.users";
/// Namespace of session documents.
pub const NS_SESSIONS: &str = "auth.sessions";
/// Namespace of API token documents.
pub const NS_TOKENS: &str = "auth.tokens";
/// Prefix of every API token.
pub const TOKEN_PREFIX: &str = "rlc_";

/// What can go wrong with users, sessions and tokens.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A user name outside the allowed set.
    #[error("user name {0:?} is not valid, expected 1 to 64 of a-z A-Z 0-9 . _ - @")]
    BadName(String),
    /// A password too short to be one.
    #[error("the password must have at least {MIN_PASSWORD} characters")]
    WeakPassword,
    /// The user exists already.
    #[error("user {0:?} exists already")]
    UserExists(String),
    /// No such user.
    #[error("no user {0:?}")]
    NoUser(String),
    /// A token asked for grants its owner does not have.
    #[error("a token cannot grant more than its owner has: {0}")]
    GrantTooWide(String),
    /// Hashing failed (argon2 parameters; never the password).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A stored document does not decode.
    #[error("stored {what} {key:?} is unreadable: {reason}")]
    Corrupt {
        /// Which kind of document.
        what: &'static str,
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

/// A role on a company. Ordered: each role may do what the ones before it may.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything of the company.
    Viewer,
    /// Records decisions on receivables: matches, disputes, promises, holds, plans.
    Collector,
    /// Approves letters waiting for approval, closings, write-offs.
    Approver,
    /// Everything, including sync runs; an admin of every company also manages users.
    Admin,
}

impl Role {
    /// The role's name as written in the API and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Collector => "collector",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

/// One role on one company, or on every company (`company: None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// The company id, or none for every company.
    #[schema(value_type = Option<String>)]
    pub company: Option<CompanyId>,
    /// The role.
    pub role: Role,
}

/// The role the grants give on `company` (the highest that applies).
pub fn role_on(grants: &[Grant], company: &CompanyId) -> Option<Role> {
    grants
        .iter()
        .filter(|g| g.company.as_ref().is_none_or(|c| c == company))
        .map(|g| g.role)
        .max()
}

/// True when `g` gives nothing `ceiling` does not.
pub fn within(g: &Grant, ceiling: &[Grant]) -> bool {
    match &g.company {
        Some(c) => role_on(ceiling, c).is_some_and(|r| r >= g.role),
        None => ceiling
            .iter()
            .any(|cg| cg.company.is_none() && cg.role >= g.role),
    }
}

/// True when the grants include admin on every company (user management).
pub fn is_global_admin(grants: &[Grant]) -> bool {
    grants
        .iter()
        .any(|g| g.company.is_none() && g.role == Role::Admin)
}

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Roles.
    pub grants: Vec<Grant>,
    /// When added.
    pub created_at: DateTime<Utc>,
}

/// A session as stored (under the hash of its cookie value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user.
    pub user: String,
    /// The CSRF token every unsafe request of this session must carry.
    pub csrf: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// An API token as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Public id (the part after `rlc_` and before the secret).
    pub id: String,
    /// A name for people ("nightly export").
    pub name: String,
    /// The user it acts for.
    pub owner: String,
    /// Hex SHA-256 of the secret part.
    pub secret_sha256: String,
    /// What it may do (never more than the owner could when it was made).
    pub grants: Vec<Grant>,
    /// When made.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Checks a user name: 1 to 64 of `a-z A-Z 0-9 . _ - @`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Constant-time equality of two strings (lengths are not secret).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    key: &str,
    doc: Document,
) -> Result<T, AuthError> {
    serde_json::from_value(doc.value).map_err(|e| AuthError::Corrupt {
        what,
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T, expires_at: Option<DateTime<Utc>>) -> Document {
    Document {
        // Plain data with string keys: serialising cannot fail.
        value: serde_json::to_value(value).unwrap_or_default(),
        expires_at,
    }
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) and a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// A hash of a random password, verified against when the user does not exist, so that
/// a login takes as long for an unknown user as for a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Adds a user (refused when the name is taken).
pub fn add_user(
    store: &dyn Store,
    name: &str,
    password: &str,
    grants: Vec<Grant>,
    now: DateTime<Utc>,
) -> Result<User, AuthError> {
    if !valid_name(name) {
        return Err(AuthError::BadName(name.to_owned()));
    }
    if password.chars().count() < MIN_PASSWORD {
        return Err(AuthError::WeakPassword);
    }
    if store.document(NS_USERS, name)?.is_some() {
        return Err(AuthError::UserExists(name.to_owned()));
    }
    let user = User {
        name: name.to_owned(),
        password_hash: hash_password(password)?,
        grants,
        created_at: now,
    };
    store.put_document(NS_USERS, name, Some(encode(&user, None)))?;
    Ok(user)
}

/// A user by name.
pub fn user(store: &dyn Store, name: &str) -> Result<Option<User>, AuthError> {
    match store.document(NS_USERS, name)? {
        Some(d) => decode("user", name, d).map(Some),
        None => Ok(None),
    }
}

/// Every user, by name.
pub fn users(store: &dyn Store) -> Result<Vec<User>, AuthError> {
    store
        .documents(NS_USERS)?
        .into_iter()
        .map(|(k, d)| decode("user", &k, d))
        .collect()
}

/// Removes a user, their sessions and their tokens. Returns false when there was none.
pub fn remove_user(store: &dyn Store, name: &str) -> Result<bool, AuthError> {
    if store.document(NS_USERS, name)?.is_none() {
        return Ok(false);
    }
    store.put_document(NS_USERS, name, None)?;
    for (k, d) in store.documents(NS_SESSIONS)? {
        if decode::<Session>("session", &k, d).is_ok_and(|s| s.user == name) {
            store.put_document(NS_SESSIONS, &k, None)?;
        }
    }
    for t in tokens(store, Some(name))? {
        store.put_document(NS_TOKENS, &t.id, None)?;
    }
    Ok(true)
}

/// Checks a name and password; the user when they match. Takes the same time for an unknown
/// user as for a wrong password.
pub fn check_password(
    store: &dyn Store,
    name: &str,
    password: &str,
) -> Result<Option<User>, AuthError> {
    match user(store, name)? {
        Some(u) if verify_password(password, &u.password_hash) => Ok(Some(u)),
        Some(_) => Ok(None),
        None => {
            let _ = verify_password(password, decoy_hash());
            Ok(None)
        }
    }
}

/// Opens a session for `user` lasting `ttl`; returns the cookie value (secret) and the session.
pub fn open_session(
    store: &dyn Store,
    user: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<(String, Session), AuthError> {
    let secret = random_hex(32);
    let session = Session {
        user: user.to_owned(),
        csrf: random_hex(32),
        created_at: now,
        expires_at: now + ttl,
    };
    store.put_document(
        NS_SESSIONS,
        &sha256_hex(&secret),
        Some(encode(&session, Some(session.expires_at))),
    )?;
    Ok((secret, session))
}

/// The session a cookie value opens, when it exists and has not expired.
pub fn session(
    store: &dyn Store,
    cookie: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, AuthError> {
    if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let key = sha256_hex(cookie);
    match store.document(NS_SESSIONS, &key)? {
        Some(d) => {
            let s: Session = decode("session", &key, d)?;
            Ok((s.expires_at > now).then_some(s))
        }
        None => Ok(None),
    }
}

/// Ends the session of a cookie value.
pub fn close_session(store: &dyn Store, cookie: &str) -> Result<(), AuthError> {
    Ok(store.put_document(NS_SESSIONS, &sha256_hex(cookie), None)?)
}

/// The key a session is stored under (for caches).
pub fn session_key(cookie: &str) -> String {
    sha256_hex(cookie)
}

/// Makes an API token for `owner` with `grants` (each must be within the owner's); returns
/// the token text (shown once) and the stored token.
pub fn add_token(
    store: &dyn Store,
    owner: &str,
    name: &str,
    grants: Vec<Grant>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(String, Token), AuthError> {
    let u = user(store, owner)?.ok_or_else(|| AuthError::NoUser(owner.to_owned()))?;
    let grants = if grants.is_empty() {
        u.grants.clone()
    } else {
        grants
    };
    for g in &grants {
        if !within(g, &u.grants) {
            return Err(AuthError::GrantTooWide(format!(
                "{} on {}",
                g.role.as_str(),
                g.company
                    .as_ref()
                    .map(|c| c.as_str())
                    .unwrap_or("every company")
            )));
        }
    }
    let id = random_hex(8);
    let secret = random_hex(32);
    let token = Token {
        id: id.clone(),
        name: name.to_owned(),
        owner: owner.to_owned(),
        secret_sha256: sha256_hex(&secret),
        grants,
        created_at: now,
        expires_at,
    };
    store.put_document(NS_TOKENS, &id, Some(encode(&token, expires_at)))?;
    Ok((format!("{TOKEN_PREFIX}{id}_{secret}"), token))
}

/// The token a presented text opens, when it exists, matches and has not expired.
pub fn token(
    store: &dyn Store,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<Token>, AuthError> {
    let Some((id, secret)) = presented
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|r| r.split_once('_'))
    else {
        return Ok(None);
    };
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(d) = store.document(NS_TOKENS, id)? else {
        return Ok(None);
    };
    let t: Token = decode("token", id, d)?;
    let live = t.expires_at.is_none_or(|e| e > now);
    Ok((live && same(&sha256_hex(secret), &t.secret_sha256)).then_some(t))
}

/// Every token (of one owner when given).
pub fn tokens(store: &dyn Store, owner: Option<&str>) -> Result<Vec<Token>, AuthError> {
    let mut out = Vec::new();
    for (k, d) in store.documents(NS_TOKENS)? {
        let t: Token = decode("token", &k, d)?;
        if owner.is_none_or(|o| o == t.owner) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Revokes a token by id. Returns false when there was none.
pub fn revoke_token(store: &dyn Store, id: &str) -> Result<bool, AuthError> {
    if store.document(NS_TOKENS, id)?.is_none() {
        return Ok(false);
    }
    store.put_document(NS_TOKENS, id, None)?;
    Ok(true)
}

/// Reads a password: the first line of `file`, or of standard input when `file` is `-` or
/// absent (so it never appears on a command line or in the shell history).
pub fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    use std::io::BufRead as _;
    let mut line = String::new();
    match file {
        Some(p) if p != std::path::Path::new("-") => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                anyhow::anyhow!("cannot read the password file {}: {e}", p.display())
            })?;
            line = text.lines().next().unwrap_or("").to_owned();
        }
        _ => {
            std::io::stdin().lock().read_line(&mut line)?;
        }
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The store handle the helpers take, from a shared one.
pub fn as_store(s: &SharedStore) -> &dyn Store {
    s.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 30, 9, 0, 0).unwrap()
    }

    fn store() -> (tempfile::TempDir, SharedStore) {
        let d = tempfile::tempdir().unwrap();
        let s = crate::store::open_shared(d.path()).unwrap();
        (d, s)
    }

    #[test]
    fn roles_are_ordered_and_grants_scope_them() {
        let g = vec![
            Grant {
                company: Some(CompanyId::new("a")),
                role: Role::Approver,
            },
            Grant {
                company: None,
                role: Role::Viewer,
            },
        ];
        assert_eq!(role_on(&g, &CompanyId::new("a")), Some(Role::Approver));
        assert_eq!(role_on(&g, &CompanyId::new("b")), Some(Role::Viewer));
        assert!(!is_global_admin(&g));
        assert!(Role::Viewer < Role::Collector && Role::Approver < Role::Admin);
    }

    #[test]
    fn passwords_sessions_and_tokens() {
        let (_d, s) = store();
        let g = vec![Grant {
            company: Some(CompanyId::new("a")),
            role: Role::Collector,
        }];
        add_user(
            s.as_ref(),
            "alice",
            "correct horse battery",
            g.clone(),
            now(),
        )
        .unwrap();
        assert!(matches!(
            add_user(s.as_ref(), "alice", "correct horse battery", g, now()),
            Err(AuthError::UserExists(_))
        ));
        assert!(matches!(
            add_user(s.as_ref(), "bob", "short", vec![], now()),
            Err(AuthError::WeakPassword)
        ));
        let stored = user(s.as_ref(), "alice").unwrap().unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$"));
        assert!(!stored.password_hash.contains("correct horse"));
        assert!(check_password(s.as_ref(), "alice", "correct horse battery")
            .unwrap()
            .is_some());
        assert!(check_password(s.as_ref(), "alice", "wrong horse battery")
            .unwrap()
            .is_none());
        assert!(check_password(s.as_ref(), "nobody", "x").unwrap().is_none());

        let (cookie, sess) = open_session(s.as_ref(), "alice", now(), Duration::hours(1)).unwrap();
        assert_eq!(session(s.as_ref(), &cookie, now()).unwrap(), Some(sess));
        assert_eq!(
            session(s.as_ref(), &cookie, now() + Duration::hours(2)).unwrap(),
            None
        );
        // The store holds the hash of the cookie, never the cookie.
        assert!(s.document(NS_SESSIONS, &cookie).unwrap().is_none());
        close_session(s.as_ref(), &cookie).unwrap();
        assert_eq!(session(s.as_ref(), &cookie, now()).unwrap(), None);

        let too_wide = vec![Grant {
            company: Some(CompanyId::new("a")),
            role: Role::Admin,
        }];
        assert!(matches!(
            add_token(s.as_ref(), "alice", "t", too_wide, None, now()),
            Err(AuthError::GrantTooWide(_))
        ));
        let (text, t) = add_token(s.as_ref(), "alice", "export", vec![], None, now()).unwrap();
        assert_eq!(token(s.as_ref(), &text, now()).unwrap(), Some(t.clone()));
        let forged = format!("{TOKEN_PREFIX}{}_{}", t.id, "0".repeat(64));
        assert_eq!(token(s.as_ref(), &forged, now()).unwrap(), None);
        assert!(remove_user(s.as_ref(), "alice").unwrap());
        assert_eq!(token(s.as_ref(), &text, now()).unwrap(), None);
    }
}
