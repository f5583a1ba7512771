//! Tryton 8.x connector: pulls customers, customer invoices / credit notes and bank receipts
//! over JSON-RPC, and writes dunning levels, notes, dispute blocks, reconciliations and moves
//! back, exactly once (the idempotency key is stored in Tryton itself, see [`mod@write`]).
//!
//! Shapes and pitfalls of the API are those of the verified peer guide (`peers/tryton.md`):
//! envelope `{"id","method","params"}`, mandatory context, `Session` header, `__class__`
//! values, naive UTC timestamps stamped at transaction start.
//!
//! Testing: `connectors/tests/tryton.rs` runs the shared compliance suite
//! (`relance_testkit::compliance`) against the fake server of the test-support crate
//! (`relance_testkit::tryton_fake`) always, and against a real seeded Tryton 8.2 when
//! `RELANCE_TRYTON_URL` is set:
//!
//! ```text
//! bash tests/tryton/server.sh setup && eval "$(bash tests/tryton/server.sh env)"
//! cargo test -p relance-connectors --test tryton
//! bash tests/tryton/bench.sh     # pull throughput vs a direct search_read loop (not in CI)
//! ```

pub mod config;
pub mod error;
pub mod pull;
pub mod rpc;
pub mod value;
pub mod write;

pub use config::{TrytonAccounts, TrytonConfig, TrytonJournals};
pub use error::TrytonError;

use crate::contract::{Cursor, IdempotencyKey, Page, RemoteRef, Source, WriteBack, WriteCommand};
use crate::error::ConnectorError;
use crate::http::HttpLayer;
use rpc::RpcClient;
use serde_json::json;
use std::sync::Arc;

/// The Tryton connector: a [`Source`] and a [`WriteBack`] over one database. Clones share one
/// client (one session, one rate limit): the registry gives a clone to the source and one to
/// the write-back target of the same database.
#[derive(Clone, Debug)]
pub struct TrytonConnector {
    rpc: Arc<RpcClient>,
}

impl TrytonConnector {
    /// A connector for `cfg` with its own HTTP layer (bounded at `cfg.requests_per_second`).
    /// Reads the password file now; connects lazily.
    pub fn new(cfg: TrytonConfig) -> Result<Self, ConnectorError> {
        Ok(Self {
            rpc: Arc::new(RpcClient::new(cfg)?),
        })
    }

    /// A connector for `cfg` over the shared HTTP layer (the daemon's, whose per-host rates
    /// it configures from every company).
    pub fn with_http(cfg: TrytonConfig, http: Arc<HttpLayer>) -> Result<Self, ConnectorError> {
        Ok(Self {
            rpc: Arc::new(RpcClient::with_http(cfg, http)?),
        })
    }

    /// Dunnings changed after `from` (Tryton's own dunning state; see [`pull::pull_dunnings`]).
    pub async fn dunnings(
        &self,
        from: Option<&Cursor>,
    ) -> Result<pull::DunningPage, ConnectorError> {
        Ok(pull::pull_dunnings(&self.rpc, from).await?)
    }

    /// The JSON-RPC client, for callers needing calls the contract does not cover.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }
}

impl Source for TrytonConnector {
    async fn check(&self) -> Result<(), ConnectorError> {
        self.rpc
            .server_call("common.server.version", json!([]))
            .await?;
        // logs in and reads the company: credentials and rights
        self.rpc.context().await?;
        Ok(())
    }

    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        Ok(pull::pull(&self.rpc, from).await?)
    }
}

impl WriteBack for TrytonConnector {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        Ok(write::find_applied(&self.rpc, key).await?)
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        Ok(write::apply(&self.rpc, key, cmd).await?)
    }
}
