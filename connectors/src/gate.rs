//! The write gate: a check every remote call of a delivery makes at the last moment before
//! its request leaves, so that an instance which lost its company's lease while a delivery was
//! under way (paused, partitioned) makes no further call.
//!
//! The outbox runs each delivery inside [`gated`] with a check on its lease; the HTTP layer
//! ([`crate::http::HttpClient`]) and the SMTP target ask [`check`] after every wait of theirs
//! (rate limits, connection) and just before sending. Outside a delivery there is no gate and
//! [`check`] passes. The gate narrows the window in which a paused instance can still send to
//! the instant between the check and the system call; what such a call did is found by the
//! new owner's `find_applied`, or by the remote's native idempotency key.

use std::future::Future;
use std::sync::Arc;

/// A gate: `Ok` while calls may go out, else why not.
pub type Gate = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

tokio::task_local! {
    static GATE: Gate;
}

/// Runs `f` with `gate` asked before each of its remote calls.
pub async fn gated<F: Future>(gate: Gate, f: F) -> F::Output {
    GATE.scope(gate, f).await
}

/// The current gate's answer (`Ok` outside [`gated`]).
pub fn check() -> Result<(), String> {
    GATE.try_with(|g| g()).unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_answers_inside_its_scope_only() {
        assert!(check().is_ok());
        let shut: Gate = Arc::new(|| Err("lease lost".to_owned()));
        let inside = gated(shut, async { check() }).await;
        assert_eq!(inside, Err("lease lost".to_owned()));
        assert!(check().is_ok());
    }
}
