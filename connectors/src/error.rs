//! Connector errors, classified for retry: configuration, transient, permanent.

use std::time::Duration;

/// What went wrong talking to a remote system, classified so the caller knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Wrong configuration or credentials: stop this connector and alert a person.
    #[error("configuration error: {0}")]
    Config(String),
    /// Worth retrying later (network, 5xx, 429, lock), after `retry_after` if the remote said.
    #[error("transient error: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// The remote's Retry-After, if any.
        retry_after: Option<Duration>,
    },
    /// Will fail again: dead-letter the item with this reason and go on.
    #[error("permanent error: {0}")]
    Permanent(String),
}

impl ConnectorError {
    /// A transient error without a retry hint.
    pub fn transient(message: impl Into<String>) -> Self {
        ConnectorError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// True when retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectorError::Transient { .. })
    }
}
