//! `PennylaneConfig` (how relance reaches one Pennylane company) and `PennylaneWriteOptions`
//! (what it writes back there).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The Company API v2 base URL.
pub const DEFAULT_URL: &str = "https://app.pennylane.com/api/external/v2";

/// Connection settings of a `type = "pennylane"` source (`[sources.pennylane]`).
///
/// The token is never in the configuration: `token_file` names a file (or a systemd
/// credential) whose first line is a Company API token, or a Firm API token together with
/// `company_id` for one company of an accounting firm's portfolio. Every company of a
/// portfolio names the same firm token file: they share its quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PennylaneConfig {
    /// Base URL of the Company API v2 (default `https://app.pennylane.com/api/external/v2`).
    #[serde(default = "default_url")]
    pub url: String,
    /// File holding the API token (first line).
    pub token_file: PathBuf,
    /// The Pennylane company to act on, when `token_file` holds a firm token (sent with every
    /// request; ignored by Pennylane for a company token).
    #[serde(default)]
    pub company_id: Option<i64>,
    /// Items per list page (1–100; Pennylane's default is 20).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests allowed per window and per token: Pennylane's documented limit is 25 per 5 s.
    /// 0 lifts the client's own bound (tests and benchmarks against a fake).
    #[serde(default = "default_requests_per_window")]
    pub requests_per_window: u32,
    /// The window of that limit, in seconds.
    #[serde(default = "default_window_seconds")]
    pub window_seconds: u64,
    /// Timeout of one request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Seconds of changelog re-read before the last change seen (0: the exact position, changes
    /// of the same instant included).
    #[serde(default)]
    pub overlap_seconds: u64,
    /// Also pull the bank transactions not yet matched in Pennylane, as receipts for relance to
    /// match (write-back `matching = "relance"`). Off by default: where Pennylane or a person
    /// matches, a receipt relance holds would stay unapplied in relance once matched there.
    #[serde(default)]
    pub pull_transactions: bool,
    /// File holding the signing secret of the company's webhook subscription, when Pennylane
    /// sends events to relance's listener (`POST /webhooks/pennylane`); the changelogs stay the
    /// safety net.
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
}

/// Who matches bank transactions to invoices in Pennylane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matching {
    /// relance writes the matches it applied (`POST /customer_invoices/{id}/matched_transactions`).
    #[default]
    Relance,
    /// The company leaves matching to Pennylane: relance's reconciliations are kept in relance
    /// only and nothing is written.
    Pennylane,
}

/// What the Pennylane write-back target does (`[writeback]` with `type = "pennylane"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PennylaneWriteOptions {
    /// Who matches transactions.
    #[serde(default)]
    pub matching: Matching,
    /// Analytic category put on an invoice in dispute (and taken off when the dispute ends),
    /// beside the comment; none: the comment only.
    #[serde(default)]
    pub dispute_category_id: Option<i64>,
}

impl PennylaneConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(url: impl Into<String>, token_file: impl Into<PathBuf>) -> Self {
        PennylaneConfig {
            url: url.into(),
            token_file: token_file.into(),
            company_id: None,
            page_size: default_page_size(),
            requests_per_window: default_requests_per_window(),
            window_seconds: default_window_seconds(),
            timeout_seconds: default_timeout(),
            overlap_seconds: 0,
            pull_transactions: false,
            webhook_secret_file: None,
        }
    }

    /// `url` + `path` (`/customer_invoices`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}
fn default_page_size() -> u32 {
    100
}
fn default_requests_per_window() -> u32 {
    25
}
fn default_window_seconds() -> u64 {
    5
}
fn default_timeout() -> u64 {
    30
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: PennylaneConfig = toml::from_str("token_file = \"/etc/relance/pl\"\n").unwrap();
        assert_eq!(c, PennylaneConfig::new(DEFAULT_URL, "/etc/relance/pl"));
        assert_eq!(
            c.endpoint("/me"),
            "https://app.pennylane.com/api/external/v2/me"
        );
        assert!(toml::from_str::<PennylaneConfig>("token_file = \"x\"\ntoken = \"y\"\n").is_err());
        let w: PennylaneWriteOptions = toml::from_str("matching = \"pennylane\"\n").unwrap();
        assert_eq!(w.matching, Matching::Pennylane);
    }
}
