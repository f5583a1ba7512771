//! Errors of the Tryton connector and their classification into [`ConnectorError`].

use super::value::ValueError;
use crate::error::ConnectorError;
use std::time::Duration;

/// What went wrong with a Tryton call. Never carries the password or the session token.
#[derive(Debug, thiserror::Error)]
pub enum TrytonError {
    /// The password file could not be read.
    #[error("cannot read the Tryton password file {path}: {reason}")]
    PasswordFile {
        /// The file.
        path: String,
        /// Why (I/O error kind, or "empty").
        reason: String,
    },
    /// Login refused or session refused again right after a fresh login (HTTP 401).
    #[error("Tryton refused the credentials of user {user:?} (HTTP 401) on {method}")]
    Unauthorized {
        /// Login used.
        user: String,
        /// The call.
        method: String,
    },
    /// The method is not callable over RPC or not allowed to the user (HTTP 403).
    #[error("Tryton forbids {method} (HTTP 403): not RPC-exposed or no access right")]
    Forbidden {
        /// The call.
        method: String,
    },
    /// Database or endpoint not found (HTTP 404).
    #[error("Tryton endpoint not found (HTTP 404) for {method}: wrong URL or database?")]
    NotFound {
        /// The call.
        method: String,
    },
    /// The server is overloaded, restarting or timed out (HTTP 429, 5xx).
    #[error("Tryton unavailable (HTTP {status}) on {method}: {detail}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The call.
        method: String,
        /// Start of the response body.
        detail: String,
        /// Retry-After header, when given.
        retry_after: Option<Duration>,
    },
    /// The request was malformed in the server's eyes (HTTP 400, 422, others).
    #[error("Tryton rejected the request (HTTP {status}) for {method}: {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The call.
        method: String,
        /// Start of the response body.
        detail: String,
    },
    /// Connection refused, reset, timed out, or a body that could not be read.
    #[error("network error on {method}: {detail}")]
    Network {
        /// The call.
        method: String,
        /// reqwest's description (without URL credentials: none are ever in the URL).
        detail: String,
    },
    /// A business rule refused the call (`UserError`).
    #[error("Tryton UserError on {method}: {message}{}", if description.is_empty() { String::new() } else { format!(" ({description})") })]
    User {
        /// The call.
        method: String,
        /// The message.
        message: String,
        /// Its description.
        description: String,
    },
    /// A warning relance is not allowed to acknowledge (`UserWarning`).
    #[error("Tryton UserWarning {name} on {method}: {message} (not in acknowledge_warnings)")]
    Warning {
        /// The call.
        method: String,
        /// Warning key, needed to acknowledge it.
        name: String,
        /// The message.
        message: String,
    },
    /// Concurrent modification or lock timeout: try again.
    #[error("Tryton {kind} on {method}: {message}")]
    Concurrency {
        /// Exception name.
        kind: String,
        /// The call.
        method: String,
        /// The message.
        message: String,
    },
    /// Any other server exception (unknown field, bad domain, a bug).
    #[error("Tryton fault on {method}: {message}")]
    Fault {
        /// The call.
        method: String,
        /// `str(exception)`.
        message: String,
    },
    /// The answer is not the JSON-RPC envelope.
    #[error("unexpected Tryton answer to {method}: {detail}")]
    Protocol {
        /// The call.
        method: String,
        /// What was wrong.
        detail: String,
    },
    /// A record field is missing or malformed.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// Data relance needs is absent (journal, period, account, level...) or a command cannot
    /// be expressed in Tryton.
    #[error("{0}")]
    Missing(String),
    /// A command Tryton cannot carry out as asked (nothing to dun, unbalanced move, level
    /// change refused on a processed dunning...): the same command will fail again.
    #[error("{0}")]
    Refused(String),
    /// Bad configuration (URL...).
    #[error("{0}")]
    Config(String),
    /// A cursor string not produced by this connector.
    #[error("invalid Tryton cursor: {0}")]
    Cursor(String),
}

impl From<TrytonError> for ConnectorError {
    fn from(e: TrytonError) -> Self {
        let msg = e.to_string();
        match e {
            // credentials, rights, endpoint: a person must fix the configuration
            TrytonError::PasswordFile { .. }
            | TrytonError::Unauthorized { .. }
            | TrytonError::Forbidden { .. }
            | TrytonError::NotFound { .. }
            | TrytonError::Config(_)
            | TrytonError::Missing(_) => ConnectorError::Config(msg),
            TrytonError::Unavailable { retry_after, .. } => ConnectorError::Transient {
                message: msg,
                retry_after,
            },
            TrytonError::Network { .. } | TrytonError::Concurrency { .. } => {
                ConnectorError::transient(msg)
            }
            // the same call will fail the same way: dead-letter it
            TrytonError::Rejected { .. }
            | TrytonError::User { .. }
            | TrytonError::Warning { .. }
            | TrytonError::Fault { .. }
            | TrytonError::Protocol { .. }
            | TrytonError::Value(_)
            | TrytonError::Refused(_)
            | TrytonError::Cursor(_) => ConnectorError::Permanent(msg),
        }
    }
}
