//! `DolibarrConfig` (how relance reaches one Dolibarr instance) and `DolibarrWriteOptions`
//! (what it writes back there).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Connection settings of a `type = "dolibarr"` source (`[sources.dolibarr]`).
///
/// The key is never in the configuration: `api_key_file` names a file (or a systemd
/// credential) whose first line is the `DOLAPIKEY` of the Dolibarr user relance acts as (the
/// "API REST" module must be enabled; the key has that user's rights).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DolibarrConfig {
    /// The REST API's base URL, e.g. `https://erp.example.com/api/index.php`.
    pub url: String,
    /// File holding the API key (first line).
    pub api_key_file: PathBuf,
    /// The entity (multi-company module) to act on, sent as `DOLAPIENTITY`.
    #[serde(default)]
    pub entity: Option<u32>,
    /// The instance's main currency (Dolibarr's amounts are in it). Default `EUR`.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Records per request (`limit`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Upper bound on requests per second to the host; 0: none.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Timeout of one request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Seconds of changes re-read at each pass (`tms` has a one-second resolution).
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// Seconds between two re-reads of every unpaid invoice: a partial payment does not touch
    /// the invoice's `tms`.
    #[serde(default = "default_sweep")]
    pub open_sweep_seconds: u64,
    /// The offset of the server's clock (PHP and database time zone) from UTC, in minutes,
    /// used to write `tms` filters in the server's time; its smallest value of the year
    /// (60 for Paris): a smaller value re-reads more, never less. Default 0.
    #[serde(default)]
    pub server_utc_offset_minutes: i32,
}

/// What the Dolibarr write-back target does (`[writeback]` with `type = "dolibarr"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DolibarrWriteOptions {
    /// Owner of the agenda events relance creates (a Dolibarr user id); default: the API
    /// key's user.
    #[serde(default)]
    pub user_owner_id: Option<i64>,
    /// Type of those events (`c_actioncomm` code). Default `AC_OTH`.
    #[serde(default = "default_event_type")]
    pub event_type: String,
    /// An invoice extrafield (created by the administrator) holding the dunning level, e.g.
    /// `relance_niveau` for `options_relance_niveau`.
    #[serde(default)]
    pub dunning_level_extrafield: Option<String>,
    /// An invoice extrafield (0/1) set while the invoice is in dispute.
    #[serde(default)]
    pub dispute_extrafield: Option<String>,
    /// Bank account (`accountid`) receipts relance applied are recorded on, as Dolibarr
    /// payments; with `payment_mode_id`. Without both, an agenda event tells the accountant.
    #[serde(default)]
    pub bank_account_id: Option<i64>,
    /// Payment mode (`paymentid`, e.g. the id of `VIR`) of those payments.
    #[serde(default)]
    pub payment_mode_id: Option<i64>,
}

impl Default for DolibarrWriteOptions {
    fn default() -> Self {
        DolibarrWriteOptions {
            user_owner_id: None,
            event_type: default_event_type(),
            dunning_level_extrafield: None,
            dispute_extrafield: None,
            bank_account_id: None,
            payment_mode_id: None,
        }
    }
}

impl DolibarrConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(url: impl Into<String>, api_key_file: impl Into<PathBuf>) -> Self {
        DolibarrConfig {
            url: url.into(),
            api_key_file: api_key_file.into(),
            entity: None,
            currency: default_currency(),
            page_size: default_page_size(),
            requests_per_second: default_rps(),
            timeout_seconds: default_timeout(),
            overlap_seconds: default_overlap(),
            open_sweep_seconds: default_sweep(),
            server_utc_offset_minutes: 0,
        }
    }

    /// `url` + `path`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }
}

fn default_currency() -> String {
    "EUR".to_owned()
}
fn default_page_size() -> u32 {
    100
}
fn default_rps() -> u32 {
    10
}
fn default_timeout() -> u64 {
    30
}
fn default_overlap() -> u64 {
    120
}
fn default_sweep() -> u64 {
    3600
}
fn default_event_type() -> String {
    "AC_OTH".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: DolibarrConfig = toml::from_str(
            "url = \"https://erp.example.com/api/index.php\"\napi_key_file = \"/k\"\n",
        )
        .unwrap();
        assert_eq!(
            c,
            DolibarrConfig::new("https://erp.example.com/api/index.php", "/k")
        );
        assert!(toml::from_str::<DolibarrConfig>(
            "url = \"u\"\napi_key_file = \"k\"\nkey = \"x\"\n"
        )
        .is_err());
        let w: DolibarrWriteOptions = toml::from_str("dispute_extrafield = \"litige\"\n").unwrap();
        assert_eq!(w.event_type, "AC_OTH");
    }
}
