//! Qonto (Business API) bank connector: the organization's accounts and their transactions
//! as receipts, through OAuth2 with rotating refresh tokens ([`client`]).
//!
//! - **Accounts**: `GET /v2/organization` → `organization.bank_accounts[]` (`iban`,
//!   `currency`...); `ibans` in the configuration restricts them.
//! - **Transactions**: `GET /v2/transactions?iban=…&updated_at_from=…&sort_by=updated_at:asc
//!   &per_page=…&current_page=…` (connector-apis.md §5.2), one account after the other, in
//!   keyset passes by `updated_at` (see [`pull`]): each page asks from a little before the
//!   last `updated_at` read (`overlap_seconds`, for a transaction stamped late) and skips the
//!   `(id, updated_at)` pairs it already read; page numbers are only walked while a page gives
//!   nothing newer (many transactions stamped the same instant).
//! - **Receipts**: only `status = completed` transactions are booked movements. A `pending`
//!   one is left for later: settling it changes its `updated_at`, so a later page gives it
//!   again, completed. A `declined` one never moved money and is never a receipt. Amount:
//!   `amount_cents` (else `amount`, read from its text, never through `f64`), positive for
//!   `side = credit`, negative for `debit`; booking date: the date of `settled_at` in Paris
//!   time (what a statement's `BookgDt` says); value date: `value_date` when given [mem];
//!   counterparty name: `label`; remittance: `reference` (an RF creditor reference, valid,
//!   also as the structured reference); counterparty IBAN: `transfer.counterparty_account_number`
//!   when its format is `IBAN`; the account: its IBAN.
//! - **Deduplication with camt**: a Qonto account's receipts are keyed by the movement
//!   (`formats::bank::movement_basis`: IBAN, booking date, amount, currency) and its occurrence
//!   among the day's completed movements of that amount on that account, ordered by
//!   (`settled_at`, id) — the day is read whole from the API (`settled_at_from/_to`) to count
//!   it. A camt.053 of the same account counts the same movements in file order, so a
//!   movement imported from both is stored once, whichever comes first. A camt file is keyed
//!   so only for French (or Monaco) IBANs of Qonto's bank code (`formats::bank::movement_keyed`):
//!   the camt export of a Qonto account with a German, Spanish or Italian IBAN is not matched
//!   with the API's movements (its receipts would be stored twice).
//! - Rate limit 1 000 requests / 10 s per IP (§5.2): `requests_per_second` bounds the host;
//!   a 429 is Transient with its `Retry-After`, and the layer holds the host that long.
//!
//! Testing: `connectors/tests/qonto.rs` (compliance suite, rotation, crash before storing,
//! paging, 429) against `relance_testkit::qonto_fake`; `tests/it/qonto_e2e.rs` the binary under
//! SIGKILL and the camt deduplication end to end.

pub mod client;
pub mod pull;

pub use client::{QontoError, TokenStore};

use crate::contract::{Cursor, Page, Source};
use crate::error::ConnectorError;
use crate::http::HttpLayer;
use client::Client;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The Business API base URL.
pub const DEFAULT_URL: &str = "https://thirdparty.qonto.com";
/// Qonto's OAuth2 token endpoint [mem: verify on the first real account].
pub const DEFAULT_TOKEN_URL: &str = "https://oauth.qonto.com/oauth2/token";

/// Settings of a `type = "qonto"` source (`[sources.qonto]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QontoConfig {
    /// The Business API base (default `https://thirdparty.qonto.com`).
    #[serde(default = "default_url")]
    pub url: String,
    /// The OAuth2 token endpoint.
    #[serde(default = "default_token_url")]
    pub token_url: String,
    /// The OAuth2 client id of relance's Qonto application.
    pub client_id: String,
    /// File holding the client secret (first line).
    pub client_secret_file: PathBuf,
    /// File holding the refresh token the company's authorization gave (first line). Used
    /// once: every refresh rotates it, and the current one is kept in the company's state
    /// directory (`qonto-<source>.refresh-token`), which wins over this file from then on.
    pub refresh_token_file: PathBuf,
    /// File holding the sandbox's `X-Qonto-Staging-Token`, for the sandbox only.
    #[serde(default)]
    pub staging_token_file: Option<PathBuf>,
    /// Only these accounts (IBANs); empty: every account of the organization.
    #[serde(default)]
    pub ibans: Vec<String>,
    /// Transactions per page (1–100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds re-read before the last `updated_at` read.
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// Upper bound on requests per second to the host; 0: none.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Timeout of one request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}
fn default_token_url() -> String {
    DEFAULT_TOKEN_URL.to_owned()
}
fn default_page_size() -> u32 {
    100
}
fn default_overlap() -> u64 {
    300
}
fn default_rps() -> u32 {
    50
}
fn default_timeout() -> u64 {
    30
}

impl QontoConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(
        client_id: impl Into<String>,
        client_secret_file: impl Into<PathBuf>,
        refresh_token_file: impl Into<PathBuf>,
    ) -> Self {
        QontoConfig {
            url: default_url(),
            token_url: default_token_url(),
            client_id: client_id.into(),
            client_secret_file: client_secret_file.into(),
            refresh_token_file: refresh_token_file.into(),
            staging_token_file: None,
            ibans: Vec::new(),
            page_size: default_page_size(),
            overlap_seconds: default_overlap(),
            requests_per_second: default_rps(),
            timeout_seconds: default_timeout(),
        }
    }
}

/// The file name of a source's stored refresh token, in its company's state directory.
pub fn token_file_name(source: &str) -> String {
    format!("qonto-{source}.refresh-token")
}

/// The Qonto connector of one organization: a [`Source`] of receipts. Clones share one client
/// (tokens, rotation).
#[derive(Clone, Debug)]
pub struct QontoConnector {
    client: Arc<Client>,
    accounts: Option<Vec<pull::Account>>,
}

impl QontoConnector {
    /// A connector with its own HTTP layer (tools and tests), its refresh token kept at
    /// `token_store`.
    pub fn new(cfg: QontoConfig, token_store: impl Into<PathBuf>) -> Result<Self, ConnectorError> {
        let layer = HttpLayer::new().map_err(|e| ConnectorError::Config(e.to_string()))?;
        Self::with_http(cfg, Arc::new(layer), token_store)
    }

    /// A connector over the shared HTTP layer.
    pub fn with_http(
        cfg: QontoConfig,
        http: Arc<HttpLayer>,
        token_store: impl Into<PathBuf>,
    ) -> Result<Self, ConnectorError> {
        let store = TokenStore::new(token_store);
        Ok(QontoConnector {
            client: Arc::new(Client::new(cfg, http, store)?),
            accounts: None,
        })
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Source for QontoConnector {
    async fn check(&self) -> Result<(), ConnectorError> {
        let accounts = pull::accounts(&self.client).await?;
        if accounts.is_empty() {
            return Err(ConnectorError::Config(
                "Qonto: the organization has no account relance may read (check ibans)".into(),
            ));
        }
        Ok(())
    }

    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        Ok(pull::pull(&self.client, &mut self.accounts, from).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: QontoConfig = toml::from_str(
            "client_id = \"c\"\nclient_secret_file = \"s\"\nrefresh_token_file = \"r\"\n",
        )
        .unwrap();
        assert_eq!(c, QontoConfig::new("c", "s", "r"));
        assert_eq!(c.url, DEFAULT_URL);
        assert!(toml::from_str::<QontoConfig>(
            "client_id = \"c\"\nclient_secret_file = \"s\"\nrefresh_token_file = \"r\"\ntoken = \"x\"\n"
        )
        .is_err());
        assert_eq!(token_file_name("bank"), "qonto-bank.refresh-token");
    }
}
