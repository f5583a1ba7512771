//! The company's provision policy: classification criteria, the rate matrix, accounts, journals.
//!
//! Embedded as `[provision]` in a company's configuration file. Every key has a default, so an
//! empty `[provision]` table is a valid policy; unknown keys are refused.
//!
//! ```
//! use relance_core::provision::{Policy, ProcedureKind};
//! let p = Policy::default();
//! assert!(p.validate().is_empty());
//! assert_eq!(p.accounts.doubtful, "416");
//!
//! // As written under `[provision]` in a company file (keys left out keep their default;
//! // `rates`, when given, replaces the whole default matrix).
//! let p: Policy = toml::from_str(r#"
//!     journal = "OD"
//!     vat_regime = "debits"            # or "encaissements"
//!     payment_booking = "bank"         # or "transfer_to_411"
//!     [criteria]
//!     days_overdue = 120
//!     mise_en_demeure_unanswered_days = 15
//!     direct_debits_returned = 2
//!     [accounts]
//!     doubtful = "4161"
//!     allowance = "4911"
//!     [[rates]]
//!     id = "R-MED"
//!     min_stage = "mise_en_demeure"
//!     rate = "0.30"
//!     [[rates]]
//!     id = "R-CONT-365"
//!     min_stage = "contentieux"
//!     min_days_overdue = 365
//!     rate = "0.80"
//!     [[rates]]
//!     id = "R-LJ"
//!     procedure = "liquidation"
//!     rate = "1"
//! "#).unwrap();
//! assert!(p.validate().is_empty());
//! assert_eq!(p.rates[2].procedure, Some(ProcedureKind::Liquidation));
//! assert_eq!(p.accounts.receivable, "411");
//! ```

use super::events::{ProcedureKind, Stage};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How the company treats doubtful debts. Rates are management's estimates, not law: the
/// defaults below are a starting point to be reviewed by the company and its accountant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// What makes an invoice douteuse or litigieuse.
    pub criteria: Criteria,
    /// The rate matrix: the matching row with the highest rate wins (the most severe
    /// applicable estimate; ties go to the first row listed).
    pub rates: Vec<RateRow>,
    /// Account numbers (sub-accounts such as "4161" or "4911" are fine).
    pub accounts: Accounts,
    /// Journal of the closing entries (reclassification, allowances, write-offs).
    pub journal: String,
    /// Journal of the payments booked on doubtful receivables.
    pub bank_journal: String,
    /// How payments received on a doubtful receivable are booked.
    pub payment_booking: PaymentBooking,
    /// VAT regime of the company's sales, which decides the VAT account of a write-off.
    pub vat_regime: VatRegime,
    /// The company's closing dates in the year (`["06-30", "12-31"]` for half-year closings,
    /// `["12-31"]` for a calendar fiscal year): on each, the daemon computes the closing as a
    /// draft for a person to approve. Empty (the default): closings run only on demand
    /// (`relance provision`).
    pub closing_dates: Vec<MonthDay>,
}

/// A day of the year, written `MM-DD` (`"12-31"`); `"02-29"` is the last day of February.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthDay {
    /// Month, 1–12.
    pub month: u32,
    /// Day, 1–31 (valid for the month).
    pub day: u32,
}

impl MonthDay {
    /// This day in `year` (the last day of February for `02-29` in a common year).
    pub fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day).or_else(|| {
            (self.month == 2 && self.day == 29)
                .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
                .flatten()
        })
    }
}

impl TryFrom<String> for MonthDay {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a day of the year, expected MM-DD such as \"12-31\"");
        let (m, d) = s.split_once('-').ok_or_else(bad)?;
        if m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let (month, day) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        // 2024 is a leap year: every valid MM-DD exists in it.
        NaiveDate::from_ymd_opt(2024, month, day).ok_or_else(bad)?;
        Ok(MonthDay { month, day })
    }
}

impl From<MonthDay> for String {
    fn from(m: MonthDay) -> String {
        format!("{:02}-{:02}", m.month, m.day)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            criteria: Criteria::default(),
            rates: RateRow::defaults(),
            accounts: Accounts::default(),
            journal: "OD".to_owned(),
            bank_journal: "BQ".to_owned(),
            payment_booking: PaymentBooking::Bank,
            vat_regime: VatRegime::Debits,
            closing_dates: Vec::new(),
        }
    }
}

/// Which facts classify an invoice as doubtful (douteuse) or litigious (litigieuse).
/// Each criterion met is cited in the provision line's justification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Criteria {
    /// Days past due beyond which an invoice is doubtful; `None` disables. Alone, it does
    /// not make the provision deductible (a mere overdue is insufficient, BOI-BIC-PROV-40-20).
    pub days_overdue: Option<u32>,
    /// A mise en demeure still unpaid this many days after it was sent classifies the
    /// invoice; `None` disables.
    pub mise_en_demeure_unanswered_days: Option<u32>,
    /// Contentieux started classifies the invoice.
    pub contentieux: bool,
    /// A dispute classifies the invoice as litigieuse.
    pub dispute: bool,
    /// A procédure collective opened against the customer classifies its pre-opening invoices.
    pub procedure_collective: bool,
    /// This many returned direct debits on the invoice classify it; `None` disables.
    pub direct_debits_returned: Option<u32>,
    /// An injonction de payer filed classifies the invoice.
    pub injonction: bool,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            days_overdue: Some(180),
            mise_en_demeure_unanswered_days: Some(15),
            contentieux: true,
            dispute: true,
            procedure_collective: true,
            direct_debits_returned: Some(2),
            injonction: true,
        }
    }
}

/// One row of the rate matrix (stage × age × procedure × dispute). A row matches when all its
/// set conditions hold; unset conditions match anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRow {
    /// Row id, cited in justifications (e.g. "R-LJ").
    pub id: String,
    /// The procédure collective in progress must be this one.
    #[serde(default)]
    pub procedure: Option<ProcedureKind>,
    /// The recovery stage must be at least this one.
    #[serde(default)]
    pub min_stage: Option<Stage>,
    /// The invoice must be at least this many days past due at closing.
    #[serde(default)]
    pub min_days_overdue: Option<u32>,
    /// The invoice must (true) or must not (false) be disputed.
    #[serde(default)]
    pub dispute: Option<bool>,
    /// Rate of the base without VAT, between 0 and 1.
    pub rate: Decimal,
}

impl RateRow {
    /// The default matrix. Figures are common practice estimates, not legal rates.
    pub fn defaults() -> Vec<RateRow> {
        let row = |id: &str, rate: i64| RateRow {
            id: id.to_owned(),
            procedure: None,
            min_stage: None,
            min_days_overdue: None,
            dispute: None,
            rate: Decimal::new(rate, 2),
        };
        vec![
            RateRow {
                min_days_overdue: Some(180),
                ..row("R-AGE-180", 25)
            },
            RateRow {
                min_days_overdue: Some(365),
                ..row("R-AGE-365", 50)
            },
            RateRow {
                min_stage: Some(Stage::MiseEnDemeure),
                ..row("R-MED", 30)
            },
            RateRow {
                min_stage: Some(Stage::Contentieux),
                ..row("R-CONT", 50)
            },
            RateRow {
                min_stage: Some(Stage::Contentieux),
                min_days_overdue: Some(365),
                ..row("R-CONT-365", 80)
            },
            RateRow {
                dispute: Some(true),
                ..row("R-LIT", 50)
            },
            RateRow {
                procedure: Some(ProcedureKind::Sauvegarde),
                ..row("R-SAUV", 50)
            },
            RateRow {
                procedure: Some(ProcedureKind::Redressement),
                ..row("R-RJ", 75)
            },
            RateRow {
                procedure: Some(ProcedureKind::Liquidation),
                ..row("R-LJ", 100)
            },
        ]
    }
}

/// Account numbers of the French PCG (règlement ANC 2014-03), configurable per company.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Accounts {
    /// Clients (411).
    pub receivable: String,
    /// Clients douteux ou litigieux (416).
    pub doubtful: String,
    /// Dépréciations des comptes de clients (491).
    pub allowance: String,
    /// Dotations aux dépréciations des actifs circulants — créances (68174).
    pub allowance_expense: String,
    /// Reprises sur dépréciations des actifs circulants — créances (78174).
    pub allowance_reversal: String,
    /// Pertes sur créances irrécouvrables (654).
    pub loss: String,
    /// TVA collectée (44571), debited on a write-off under the débits regime.
    pub vat_collected: String,
    /// TVA en attente (4458), debited on a write-off under the encaissements regime.
    pub vat_pending: String,
    /// Bank (512), debited by payments received on doubtful receivables.
    pub bank: String,
    /// Where a person writes off the residue left open on an invoice (a few cents short, a
    /// bank charge the customer deducted): 658 charges diverses de gestion courante (écarts
    /// de règlement). A definitive loss of the receivable is 654, through the closing.
    pub residue_write_off: String,
}

impl Default for Accounts {
    fn default() -> Self {
        Self {
            receivable: "411".to_owned(),
            doubtful: "416".to_owned(),
            allowance: "491".to_owned(),
            allowance_expense: "68174".to_owned(),
            allowance_reversal: "78174".to_owned(),
            loss: "654".to_owned(),
            vat_collected: "44571".to_owned(),
            vat_pending: "4458".to_owned(),
            bank: "512".to_owned(),
            residue_write_off: "658".to_owned(),
        }
    }
}

/// How a payment received on a doubtful receivable is booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentBooking {
    /// relance books it: debit bank (512), credit 416.
    Bank,
    /// The system of record books receipts on 411: relance moves the amount from 416 back to
    /// 411 (debit 411, credit 416) so the source's receipt settles it.
    #[serde(rename = "transfer_to_411")]
    TransferTo411,
}

/// VAT regime of the sales (CGI 269-2): decides which VAT account a write-off debits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VatRegime {
    /// VAT due on invoicing (goods, services with option débits): recovered via 44571 and the
    /// CA3 (CGI 272-1).
    Debits,
    /// VAT due on receipt (services): never declared on the unpaid amount, so the write-off
    /// debits the "en attente" account.
    Encaissements,
}

/// A policy value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A rate is outside 0..=1.
    #[error("provision.rates[{index}] ({id}): rate {rate} is outside 0..=1")]
    RateOutOfRange {
        /// Row position.
        index: usize,
        /// Row id.
        id: String,
        /// The rate given.
        rate: Decimal,
    },
    /// Two rows share an id.
    #[error("provision.rates[{index}]: duplicate row id {id:?}")]
    DuplicateRow {
        /// Row position.
        index: usize,
        /// The id.
        id: String,
    },
    /// A closing date listed twice.
    #[error("provision.closing_dates[{index}]: {date} is listed twice")]
    DuplicateClosing {
        /// Position.
        index: usize,
        /// The date.
        date: String,
    },
    /// An account or journal is empty.
    #[error("provision.{key}: must not be empty")]
    Empty {
        /// The key.
        key: String,
    },
}

impl Policy {
    /// The latest of the configured closing dates on or before `today` (`None` without any).
    pub fn latest_closing(&self, today: NaiveDate) -> Option<NaiveDate> {
        self.closing_dates
            .iter()
            .flat_map(|m| [m.in_year(today.year()), m.in_year(today.year() - 1)])
            .flatten()
            .filter(|d| *d <= today)
            .max()
    }

    /// All problems of the policy (empty when usable).
    pub fn validate(&self) -> Vec<PolicyError> {
        let mut out = Vec::new();
        for (index, d) in self.closing_dates.iter().enumerate() {
            if self.closing_dates[..index].contains(d) {
                out.push(PolicyError::DuplicateClosing {
                    index,
                    date: String::from(*d),
                });
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (index, r) in self.rates.iter().enumerate() {
            if r.rate < Decimal::ZERO || r.rate > Decimal::ONE {
                out.push(PolicyError::RateOutOfRange {
                    index,
                    id: r.id.clone(),
                    rate: r.rate,
                });
            }
            if !seen.insert(r.id.as_str()) {
                out.push(PolicyError::DuplicateRow {
                    index,
                    id: r.id.clone(),
                });
            }
        }
        let a = &self.accounts;
        let keys = [
            ("accounts.receivable", &a.receivable),
            ("accounts.doubtful", &a.doubtful),
            ("accounts.allowance", &a.allowance),
            ("accounts.allowance_expense", &a.allowance_expense),
            ("accounts.allowance_reversal", &a.allowance_reversal),
            ("accounts.loss", &a.loss),
            ("accounts.vat_collected", &a.vat_collected),
            ("accounts.vat_pending", &a.vat_pending),
            ("accounts.bank", &a.bank),
            ("accounts.residue_write_off", &a.residue_write_off),
            ("journal", &self.journal),
            ("bank_journal", &self.bank_journal),
        ];
        for (key, v) in keys {
            if v.trim().is_empty() {
                out.push(PolicyError::Empty {
                    key: key.to_owned(),
                });
            }
        }
        out
    }
}
