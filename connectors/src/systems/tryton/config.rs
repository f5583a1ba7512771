//! `TrytonConfig`: how relance reaches one Tryton database, and which of its codes it uses.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Connection and mapping settings of a Tryton source / write-back target.
///
/// Embedded in relance's configuration as a `type = "tryton"` source or write-back. The
/// password is never in the configuration itself: `password_file` names a file (mode 600)
/// whose first line is the password, so the configuration can be shown and logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrytonConfig {
    /// Base URL of the server, without database or path, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    /// Database name (the JSON-RPC endpoint is `<url>/<database>/rpc/`).
    pub database: String,
    /// Login of the Tryton user relance acts as.
    pub user: String,
    /// File holding that user's password (first line; surrounding blanks ignored).
    pub password_file: PathBuf,
    /// Company id in Tryton; `None` takes the user's current company (`get_preferences`).
    #[serde(default)]
    pub company: Option<i64>,
    /// Language code sent in the context (messages of UserErrors come back in it).
    #[serde(default = "default_language")]
    pub language: String,
    /// Records per page (search_read limit); 500 is the measured sweet spot (guide §5).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Upper bound on requests per second sent to the server; 0 means no limit.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// HTTP timeout of one request, in seconds (trytond's own limit is 60 s).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Overlap window of the incremental pull, in seconds: records stamped this long before a
    /// pass started are read again next pass, because a Tryton transaction stamps its rows
    /// with its start time and may commit after a reader passed that time (guide §4.6).
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// Also pull posted bank statement lines as receipts.
    #[serde(default = "default_true")]
    pub pull_receipts: bool,
    /// UserWarning names (or fragments of them, `*` for all) relance may acknowledge and
    /// retry; any other warning is a permanent error naming it. Empty by default: a warning
    /// means a person should look.
    #[serde(default)]
    pub acknowledge_warnings: Vec<String>,
    /// Process a dunning relance set (draft → waiting, Tryton's "sent" state, which also books
    /// the level's fee if any). False leaves it draft for Tryton's own campaign.
    #[serde(default = "default_true")]
    pub process_dunnings: bool,
    /// Journal codes.
    #[serde(default)]
    pub journals: TrytonJournals,
    /// Account codes.
    #[serde(default)]
    pub accounts: TrytonAccounts,
}

/// Journal codes used for the moves relance posts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrytonJournals {
    /// Miscellaneous operations (reclassification, provisions, write-offs): `MISC` in
    /// account_fr's default journals.
    #[serde(default = "default_misc_journal")]
    pub misc: String,
    /// Bank receipts booked by `Reconcile`: `STA` (statement journal) by default.
    #[serde(default = "default_bank_journal")]
    pub bank: String,
}

impl Default for TrytonJournals {
    fn default() -> Self {
        Self {
            misc: default_misc_journal(),
            bank: default_bank_journal(),
        }
    }
}

/// Account codes. The plan comptable names a class (411, 6817, 7817) where account_fr only
/// allows postings on sub-accounts (4111, 68174, 78174; the parents are closed views, guide
/// pitfall 7): commands may use either, the connector maps the class to these codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrytonAccounts {
    /// Customers (PCG 411): `4111`.
    #[serde(default = "acc_receivable")]
    pub receivable: String,
    /// Doubtful customers (PCG 416).
    #[serde(default = "acc_doubtful")]
    pub doubtful: String,
    /// Provision for doubtful debts (PCG 491).
    #[serde(default = "acc_provision")]
    pub provision: String,
    /// Provision expense (PCG 6817 → 68174).
    #[serde(default = "acc_provision_expense")]
    pub provision_expense: String,
    /// Provision reversal income (PCG 7817 → 78174).
    #[serde(default = "acc_provision_reversal")]
    pub provision_reversal: String,
    /// Irrecoverable debts (PCG 654).
    #[serde(default = "acc_bad_debt")]
    pub bad_debt: String,
    /// VAT collected (PCG 44571), reversed on a written-off debt.
    #[serde(default = "acc_vat_collected")]
    pub vat_collected: String,
    /// Bank (PCG 512 → 5121), debited by `Reconcile`.
    #[serde(default = "acc_bank")]
    pub bank: String,
}

impl Default for TrytonAccounts {
    fn default() -> Self {
        Self {
            receivable: acc_receivable(),
            doubtful: acc_doubtful(),
            provision: acc_provision(),
            provision_expense: acc_provision_expense(),
            provision_reversal: acc_provision_reversal(),
            bad_debt: acc_bad_debt(),
            vat_collected: acc_vat_collected(),
            bank: acc_bank(),
        }
    }
}

impl TrytonAccounts {
    /// The Tryton account code to post on for a code of a command (class or sub-account).
    pub fn resolve<'a>(&'a self, code: &'a str) -> &'a str {
        match code {
            "411" => &self.receivable,
            "416" => &self.doubtful,
            "491" => &self.provision,
            "6817" => &self.provision_expense,
            "7817" => &self.provision_reversal,
            "654" => &self.bad_debt,
            "4457" => &self.vat_collected,
            "512" => &self.bank,
            other => other,
        }
    }
}

impl TrytonConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(
        url: impl Into<String>,
        database: impl Into<String>,
        user: impl Into<String>,
        password_file: impl Into<PathBuf>,
    ) -> Self {
        Self {
            url: url.into(),
            database: database.into(),
            user: user.into(),
            password_file: password_file.into(),
            company: None,
            language: default_language(),
            page_size: default_page_size(),
            requests_per_second: default_rps(),
            timeout_seconds: default_timeout(),
            overlap_seconds: default_overlap(),
            pull_receipts: true,
            acknowledge_warnings: Vec::new(),
            process_dunnings: true,
            journals: TrytonJournals::default(),
            accounts: TrytonAccounts::default(),
        }
    }

    /// The JSON-RPC endpoint of the database.
    pub fn rpc_url(&self) -> String {
        format!("{}/{}/rpc/", self.url.trim_end_matches('/'), self.database)
    }

    /// The server-level endpoint (version, database list).
    pub fn server_url(&self) -> String {
        format!("{}/rpc/", self.url.trim_end_matches('/'))
    }
}

fn default_language() -> String {
    "fr".to_owned()
}
fn default_page_size() -> u32 {
    500
}
fn default_rps() -> u32 {
    50
}
fn default_timeout() -> u64 {
    60
}
fn default_overlap() -> u64 {
    120
}
fn default_true() -> bool {
    true
}
fn default_misc_journal() -> String {
    "MISC".to_owned()
}
fn default_bank_journal() -> String {
    "STA".to_owned()
}
fn acc_receivable() -> String {
    "4111".to_owned()
}
fn acc_doubtful() -> String {
    "416".to_owned()
}
fn acc_provision() -> String {
    "491".to_owned()
}
fn acc_provision_expense() -> String {
    "68174".to_owned()
}
fn acc_provision_reversal() -> String {
    "78174".to_owned()
}
fn acc_bad_debt() -> String {
    "654".to_owned()
}
fn acc_vat_collected() -> String {
    "44571".to_owned()
}
fn acc_bank() -> String {
    "5121".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_toml_takes_defaults_and_unknown_fields_are_refused() {
        let cfg: TrytonConfig = toml::from_str(
            "url = \"http://127.0.0.1:8000\"\ndatabase = \"db\"\nuser = \"admin\"\npassword_file = \"/etc/relance/tryton.pw\"\n",
        )
        .unwrap();
        assert_eq!(
            cfg,
            TrytonConfig::new(
                "http://127.0.0.1:8000",
                "db",
                "admin",
                "/etc/relance/tryton.pw"
            )
        );
        assert_eq!(cfg.rpc_url(), "http://127.0.0.1:8000/db/rpc/");
        assert_eq!(cfg.accounts.resolve("411"), "4111");
        assert_eq!(cfg.accounts.resolve("416"), "416");
        let err = toml::from_str::<TrytonConfig>(
            "url = \"u\"\ndatabase = \"d\"\nuser = \"a\"\npassword_file = \"p\"\npassword = \"x\"\n",
        );
        assert!(err.is_err());
    }
}
