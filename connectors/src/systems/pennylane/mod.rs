//! Pennylane (Company API v2) connector: pulls customers (SIREN from `reg_no`), customer
//! invoices and credit notes with their payment status and e-invoicing status, and optionally
//! the bank transactions not matched yet; writes dunning actions as invoice comments, disputes
//! as a comment (and an analytic category), matches transactions relance applied — exactly
//! once, without idempotency keys on Pennylane's side (see [`mod@write`]).
//!
//! - Auth: a Company API token, or a Firm API token with `company_id` (one relance company per
//!   Pennylane company of the portfolio, one shared quota).
//! - Rate limit: 25 requests per 5 s per token (§2.2), enforced before sending by a bucket of
//!   the shared HTTP layer keyed by the token's fingerprint, so no 429 is provoked; a 429 still
//!   received holds the token's bucket for its `retry-after` and is a Transient error.
//! - Incremental pull by the changelogs (4 weeks kept; older: a full list again), webhooks when
//!   configured ([`webhook`]); see [`pull`].
//!
//! Testing: `connectors/tests/pennylane.rs` runs the compliance suite and the acceptance tests
//! against the fake of `relance_testkit::pennylane_fake` (127.0.0.1:0); `tests/it/systems_e2e.rs`
//! runs the binary against it under SIGKILL.

pub mod client;
pub mod config;
pub mod pull;
pub mod webhook;
pub mod write;

pub use client::PennylaneError;
pub use config::{Matching, PennylaneConfig, PennylaneWriteOptions};

use crate::contract::{
    Ack, CommandLog, Cursor, IdempotencyKey, MemoryCommandLog, Page, RemoteRef, Source, WriteBack,
    WriteCommand,
};
use crate::error::ConnectorError;
use crate::http::HttpLayer;
use crate::wire::{self, Secret};
use client::Client;
use std::sync::Arc;
use webhook::{WebhookHub, WebhookInbox};

/// Webhook delivery of one company: its hub, secret, and the inbox the hub gives once the
/// company's id is known.
#[derive(Debug)]
struct Webhooks {
    hub: Arc<WebhookHub>,
    secret: Secret,
    inbox: std::sync::OnceLock<Arc<WebhookInbox>>,
}

impl Webhooks {
    fn register(&self, company: i64) {
        let inbox = self.hub.register(company, self.secret.clone());
        let _ = self.inbox.set(inbox);
    }
}

/// The Pennylane connector: a [`Source`] and a [`WriteBack`] for one company. Clones share one
/// client (token, quota).
#[derive(Clone, Debug)]
pub struct PennylaneConnector {
    client: Arc<Client>,
    opts: PennylaneWriteOptions,
    log: Arc<dyn CommandLog>,
    webhooks: Option<Arc<Webhooks>>,
}

impl PennylaneConnector {
    /// A connector with its own HTTP layer (tools and tests). Reads the token now.
    pub fn new(cfg: PennylaneConfig) -> Result<Self, ConnectorError> {
        let layer = HttpLayer::new().map_err(|e| ConnectorError::Config(e.to_string()))?;
        Self::with_http(cfg, Arc::new(layer))
    }

    /// A connector over the shared HTTP layer.
    pub fn with_http(cfg: PennylaneConfig, http: Arc<HttpLayer>) -> Result<Self, ConnectorError> {
        Ok(PennylaneConnector {
            client: Arc::new(Client::new(cfg, http)?),
            opts: PennylaneWriteOptions::default(),
            log: Arc::new(MemoryCommandLog::default()),
            webhooks: None,
        })
    }

    /// Sets what the write-back does and where it reads the commands recorded under keys
    /// (the outbox, in the daemon).
    pub fn with_writeback(mut self, opts: PennylaneWriteOptions, log: Arc<dyn CommandLog>) -> Self {
        self.opts = opts;
        self.log = log;
        self
    }

    /// Receives the company's webhook events through `hub` (reads `webhook_secret_file`);
    /// without that key, the connector stays on the changelogs alone.
    pub fn with_webhooks(mut self, hub: Arc<WebhookHub>) -> Result<Self, ConnectorError> {
        let Some(path) = self.client.config().webhook_secret_file.clone() else {
            return Ok(self);
        };
        let secret = wire::read_secret(&path)
            .map_err(|e| ConnectorError::Config(format!("Pennylane webhook secret: {e}")))?;
        self.client.http().add_secret(secret.expose());
        let w = Arc::new(Webhooks {
            hub,
            secret,
            inbox: std::sync::OnceLock::new(),
        });
        if let Some(company) = self.client.config().company_id {
            w.register(company);
        }
        self.webhooks = Some(w);
        Ok(self)
    }

    /// The webhook inbox, once webhooks are configured and the company known.
    pub fn inbox(&self) -> Option<&Arc<WebhookInbox>> {
        self.webhooks.as_ref().and_then(|w| w.inbox.get())
    }

    /// The REST client, for calls the contract does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `GET /me`: the token's company (registers the webhook inbox under its id).
    async fn me(&self) -> Result<serde_json::Value, PennylaneError> {
        let me = self.client.get("/me", &[], "GET /me").await?;
        if let Some(w) = &self.webhooks {
            if w.inbox.get().is_none() {
                match me["company"]["id"].as_i64() {
                    Some(id) => w.register(id),
                    None => tracing::warn!(
                        "Pennylane GET /me names no company: set company_id to receive webhooks"
                    ),
                }
            }
        }
        Ok(me)
    }
}

impl Source for PennylaneConnector {
    async fn check(&self) -> Result<(), ConnectorError> {
        self.me().await.map_err(|e| match e {
            PennylaneError::NotFound { .. } => ConnectorError::Config(format!(
                "{e}: is url the Company API v2 base ({})?",
                config::DEFAULT_URL
            )),
            other => other.into(),
        })?;
        Ok(())
    }

    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        if self.webhooks.is_some() && self.inbox().is_none() {
            self.me().await?;
        }
        let inbox = self.inbox().map(Arc::as_ref);
        Ok(pull::pull(&self.client, inbox, from).await?)
    }

    async fn ack(&mut self, acks: Vec<Ack>) -> Result<(), ConnectorError> {
        if let Some(inbox) = self.inbox() {
            let events: Vec<String> = acks.into_iter().map(|a| a.0).collect();
            inbox.ack(&events);
        }
        Ok(())
    }
}

impl WriteBack for PennylaneConnector {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        Ok(write::find_applied(&self.client, &self.opts, self.log.as_ref(), key).await?)
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        Ok(write::apply(&self.client, &self.opts, self.log.as_ref(), key, cmd).await?)
    }
}
