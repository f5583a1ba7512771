//! Odoo 16–19 connector: pulls customers (SIREN from `company_registry` or the OCA `siren`
//! field, grouped by `commercial_partner_id`) and customer invoices and credit notes with
//! their residual amounts and instalments; writes dunning actions back as chatter notes (and,
//! where installed, Enterprise follow-up levels, OCA credit control lines, activities),
//! disputes with the company's tag or field (the "No follow-up" flag up to 17), moves —
//! exactly once (see [`mod@write`]).
//!
//! - Transport (§1.1): JSON-RPC on 16–18 (`common.authenticate` + `object.execute_kw`, the
//!   API key as password), JSON-2 on 19 (`/json/2/<model>/<method>`, bearer key), chosen by
//!   the server's version unless configured ([`rpc`]).
//! - "HTTP 200 with an error body" is an error, classified by the exception's name.
//! - Multi-company: one relance company per Odoo company (`company_id`): every read is
//!   filtered on it and every call carries it in `allowed_company_ids`.
//!
//! Testing: `connectors/tests/odoo.rs` runs the compliance suite and the acceptance tests
//! against `relance_testkit::odoo_fake` (versions 16, 17, 18, 19 as switches).

pub mod config;
pub mod pull;
pub mod rpc;
pub mod write;

pub use config::{Api, OdooConfig, OdooWriteOptions};
pub use rpc::OdooError;

use crate::contract::{Cursor, IdempotencyKey, Page, RemoteRef, Source, WriteBack, WriteCommand};
use crate::error::ConnectorError;
use crate::http::HttpLayer;
use crate::systems::passes::{self, Kind, Settings};
use chrono::Duration;
use rpc::Rpc;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The streams of a pass: customers, invoices, the open-invoice sweep.
const KINDS: [Kind; 3] = [Kind::Keyset, Kind::Keyset, Kind::Sweep];

/// The Odoo connector: a [`Source`] and a [`WriteBack`] over one database and company. Clones
/// share one client.
#[derive(Clone, Debug)]
pub struct OdooConnector {
    rpc: Arc<Rpc>,
    opts: OdooWriteOptions,
    catalogue: Arc<Mutex<Option<Arc<pull::Catalogue>>>>,
    features: Arc<Mutex<Option<write::Features>>>,
}

impl OdooConnector {
    /// A connector with its own HTTP layer (bounded at `cfg.requests_per_second`).
    pub fn new(cfg: OdooConfig) -> Result<Self, ConnectorError> {
        let layer = HttpLayer::new().map_err(|e| ConnectorError::Config(e.to_string()))?;
        layer.configure([(cfg.url.clone(), cfg.requests_per_second)]);
        Self::with_http(cfg, Arc::new(layer))
    }

    /// A connector over the shared HTTP layer. Reads the key file now.
    pub fn with_http(cfg: OdooConfig, http: Arc<HttpLayer>) -> Result<Self, ConnectorError> {
        Ok(OdooConnector {
            rpc: Arc::new(Rpc::new(cfg, http)?),
            opts: OdooWriteOptions::default(),
            catalogue: Arc::default(),
            features: Arc::default(),
        })
    }

    /// Sets what the write-back does.
    pub fn with_writeback(mut self, opts: OdooWriteOptions) -> Self {
        self.opts = opts;
        self
    }

    /// The client, for calls the contract does not cover.
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    async fn catalogue(&self) -> Result<Arc<pull::Catalogue>, OdooError> {
        let mut g = self.catalogue.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(pull::catalogue(&self.rpc).await?);
        *g = Some(c.clone());
        Ok(c)
    }

    /// What the database offers the write-back (modules, fields, version).
    pub async fn features(&self) -> Result<write::Features, OdooError> {
        let mut g = self.features.lock().await;
        if let Some(f) = g.as_ref() {
            return Ok(f.clone());
        }
        let f = write::features(&self.rpc).await?;
        *g = Some(f.clone());
        Ok(f)
    }
}

impl Source for OdooConnector {
    async fn check(&self) -> Result<(), ConnectorError> {
        // version (no credentials), then an authenticated read of the company
        self.rpc.transport().await?;
        let companies = self
            .rpc
            .search_read(
                "res.company",
                serde_json::json!([]),
                &["id"],
                0,
                None,
                "id asc",
            )
            .await?;
        if let Some(c) = self.rpc.company().await? {
            if !companies.iter().any(|r| r["id"].as_i64() == Some(c)) {
                return Err(ConnectorError::Config(format!(
                    "Odoo company {c} (company_id) does not exist or relance's user may not see it"
                )));
            }
        }
        Ok(())
    }

    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        let cat = self.catalogue().await?;
        let cfg = self.rpc.config();
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000_000));
        let settings = Settings {
            limit: cfg.page_size.max(1),
            overlap: secs(cfg.overlap_seconds),
            sweep_every: secs(cfg.open_sweep_seconds),
        };
        let streams = pull::OdooStreams {
            rpc: &self.rpc,
            cat: &cat,
        };
        Ok(passes::next_page(&streams, &KINDS, from, settings).await?)
    }
}

impl WriteBack for OdooConnector {
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
        let feat = self.features().await?;
        Ok(write::apply(&self.rpc, &self.opts, &feat, key, cmd).await?)
    }
}
