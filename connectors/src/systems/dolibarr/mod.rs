//! Dolibarr (REST) connector: pulls customers (SIREN in `idprof1`) and validated invoices and
//! credit notes with `remaintopay`, incrementally by `tms`, with a periodic re-read of the
//! unpaid ones; writes dunning actions back as agenda events (and extrafields when
//! configured), records the payments relance applied when a bank account is configured —
//! exactly once (see [`mod@write`]).
//!
//! Auth: the `DOLAPIKEY` header (a user's key, no expiry; re-read from its file on a 401).
//! Pagination: `sortfield`/`sortorder`/`limit`/`page`; an empty page is `[]` or, on older
//! versions, a 404 — both the end.
//!
//! Testing: `connectors/tests/dolibarr.rs` runs the compliance suite and the acceptance tests
//! against `relance_testkit::dolibarr_fake`.

pub mod client;
pub mod config;
pub mod pull;
pub mod write;

pub use client::DolibarrError;
pub use config::{DolibarrConfig, DolibarrWriteOptions};

use crate::contract::{Cursor, IdempotencyKey, Page, RemoteRef, Source, WriteBack, WriteCommand};
use crate::error::ConnectorError;
use crate::http::{HttpLayer, Method};
use crate::systems::passes::{self, Kind, Settings};
use chrono::Duration;
use client::Client;
use std::sync::Arc;

const KINDS: [Kind; 3] = [Kind::Keyset, Kind::Keyset, Kind::Sweep];

/// The Dolibarr connector: a [`Source`] and a [`WriteBack`] for one instance (and entity).
#[derive(Clone, Debug)]
pub struct DolibarrConnector {
    client: Arc<Client>,
    opts: DolibarrWriteOptions,
}

impl DolibarrConnector {
    /// A connector with its own HTTP layer (bounded at `cfg.requests_per_second`).
    pub fn new(cfg: DolibarrConfig) -> Result<Self, ConnectorError> {
        let layer = HttpLayer::new().map_err(|e| ConnectorError::Config(e.to_string()))?;
        layer.configure([(cfg.url.clone(), cfg.requests_per_second)]);
        Self::with_http(cfg, Arc::new(layer))
    }

    /// A connector over the shared HTTP layer; reads the key file now.
    pub fn with_http(cfg: DolibarrConfig, http: Arc<HttpLayer>) -> Result<Self, ConnectorError> {
        Ok(DolibarrConnector {
            client: Arc::new(Client::new(cfg, http)?),
            opts: DolibarrWriteOptions::default(),
        })
    }

    /// Sets what the write-back does.
    pub fn with_writeback(mut self, opts: DolibarrWriteOptions) -> Self {
        self.opts = opts;
        self
    }

    /// The REST client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Source for DolibarrConnector {
    async fn check(&self) -> Result<(), ConnectorError> {
        // an authenticated read: credentials and the invoices right
        self.client
            .call(
                Method::Get,
                "/invoices",
                &[("limit", "1".to_owned())],
                None,
                "GET /invoices",
            )
            .await
            .or_else(|e| match e {
                // older versions answer an empty list with 404
                DolibarrError::NotFound { ref detail, .. } if detail.contains("No invoice") => {
                    Ok(serde_json::Value::Null)
                }
                DolibarrError::NotFound { .. } => Err(DolibarrError::Config(format!(
                    "{e}: is url the REST API's base (…/api/index.php) and the API REST module enabled?"
                ))),
                other => Err(other),
            })?;
        Ok(())
    }

    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        let cfg = self.client.config();
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000_000));
        let settings = Settings {
            limit: cfg.page_size.max(1),
            overlap: secs(cfg.overlap_seconds),
            sweep_every: secs(cfg.open_sweep_seconds),
        };
        let streams = pull::DolibarrStreams {
            client: &self.client,
        };
        Ok(passes::next_page(&streams, &KINDS, from, settings).await?)
    }
}

impl WriteBack for DolibarrConnector {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        Ok(write::find_applied(&self.client, key).await?)
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        Ok(write::apply(&self.client, &self.opts, key, cmd).await?)
    }
}
