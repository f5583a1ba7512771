//! `OdooConfig` (how relance reaches one Odoo company) and `OdooWriteOptions` (what it writes
//! back there).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which external API to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// Ask the server its version (`common.version`, else `GET /web/version`): JSON-2 from 19
    /// on, JSON-RPC before.
    #[default]
    Auto,
    /// `POST /jsonrpc` (`common.authenticate`, `object.execute_kw`), Odoo 16–18 (19 still
    /// answers, deprecated; removal announced for 20).
    Jsonrpc,
    /// `POST /json/2/<model>/<method>` with `Authorization: Bearer <API key>`, Odoo 19+.
    Json2,
}

/// Connection settings of a `type = "odoo"` source (`[sources.odoo]`).
///
/// The API key is never in the configuration: `api_key_file` names a file (or a systemd
/// credential) whose first line is the key of the Odoo user relance acts as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooConfig {
    /// Base URL, e.g. `https://erp.example.com`.
    pub url: String,
    /// Database name.
    pub database: String,
    /// Login of the user the API key belongs to (JSON-RPC authenticates with it; JSON-2 does
    /// not need it).
    #[serde(default)]
    pub login: String,
    /// File holding the API key (first line).
    pub api_key_file: PathBuf,
    /// Which API to speak.
    #[serde(default)]
    pub api: Api,
    /// The Odoo company (`res.company` id) this relance company is: a multi-company database
    /// gives one relance company per Odoo company. Default: the user's current company.
    #[serde(default)]
    pub company_id: Option<i64>,
    /// Records per request.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Upper bound on requests per second to the host; 0: none.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Timeout of one request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Seconds of changes re-read at each pass: a transaction stamps `write_date` at its start
    /// and may commit after a reader passed it.
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// Seconds between two re-reads of every open invoice (`amount_residual` is a stored
    /// computed field whose recomputation may not bump `write_date`).
    #[serde(default = "default_sweep")]
    pub open_sweep_seconds: u64,
}

/// What the Odoo write-back target does (`[writeback]` with `type = "odoo"`). A dispute is
/// flagged with the company's choice (`dispute_tag` or `dispute_field`), else, up to Odoo 17,
/// with the "No follow-up" flag of the receivable lines (`account.move.line.blocked`, removed
/// in 18: odoo/odoo#180593).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooWriteOptions {
    /// Also schedule a `mail.activity` (to-do) per dunning action, beside the chatter note.
    #[serde(default)]
    pub activity: bool,
    /// The user the activities are assigned to (default: relance's user).
    #[serde(default)]
    pub activity_user_id: Option<i64>,
    /// Write the follow-up level on the customer where Enterprise `account_followup` is
    /// installed (stage N is the N-th follow-up line by delay). Default true.
    #[serde(default = "default_true")]
    pub followup: bool,
    /// Create OCA `account_credit_control` lines where that module is installed. Default true.
    #[serde(default = "default_true")]
    pub credit_control: bool,
    /// The credit control policy whose levels stages map to (default: the first policy).
    #[serde(default)]
    pub credit_control_policy_id: Option<i64>,
    /// A customer tag (`res.partner.category` name) put on the customer while an invoice is
    /// in dispute.
    #[serde(default)]
    pub dispute_tag: Option<String>,
    /// A boolean field on `account.move` (a Studio `x_` field) set while in dispute.
    #[serde(default)]
    pub dispute_field: Option<String>,
    /// Journal code of the moves relance posts when the command names none.
    #[serde(default = "default_journal")]
    pub journal: String,
    /// Account codes for the plan comptable classes commands use (`"411" = "411100"`); a class
    /// not listed is looked up as a code, then as the first code starting with it.
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
}

impl OdooConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(
        url: impl Into<String>,
        database: impl Into<String>,
        login: impl Into<String>,
        api_key_file: impl Into<PathBuf>,
    ) -> Self {
        OdooConfig {
            url: url.into(),
            database: database.into(),
            login: login.into(),
            api_key_file: api_key_file.into(),
            api: Api::Auto,
            company_id: None,
            page_size: default_page_size(),
            requests_per_second: default_rps(),
            timeout_seconds: default_timeout(),
            overlap_seconds: default_overlap(),
            open_sweep_seconds: default_sweep(),
        }
    }

    /// `url` + `path`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }
}

impl Default for OdooWriteOptions {
    /// Every option at its default.
    fn default() -> Self {
        OdooWriteOptions {
            activity: false,
            activity_user_id: None,
            followup: true,
            credit_control: true,
            credit_control_policy_id: None,
            dispute_tag: None,
            dispute_field: None,
            journal: default_journal(),
            accounts: BTreeMap::new(),
        }
    }
}

fn default_page_size() -> u32 {
    200
}
fn default_rps() -> u32 {
    20
}
fn default_timeout() -> u64 {
    60
}
fn default_overlap() -> u64 {
    120
}
fn default_sweep() -> u64 {
    3600
}
fn default_true() -> bool {
    true
}
fn default_journal() -> String {
    "OD".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: OdooConfig = toml::from_str(
            "url = \"https://erp.example.com\"\ndatabase = \"prod\"\nlogin = \"relance\"\napi_key_file = \"/k\"\n",
        )
        .unwrap();
        assert_eq!(
            c,
            OdooConfig::new("https://erp.example.com", "prod", "relance", "/k")
        );
        assert!(toml::from_str::<OdooConfig>(
            "url = \"u\"\ndatabase = \"d\"\napi_key_file = \"k\"\napi_key = \"x\"\n"
        )
        .is_err());
        let w: OdooWriteOptions = toml::from_str("dispute_tag = \"Litige\"\n").unwrap();
        assert!(w.followup && w.credit_control && w.dispute_tag.is_some());
        assert_eq!(w.journal, "OD");
    }
}
