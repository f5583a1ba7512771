//! Dated reference-rate tables: ECB main refinancing rate changes and taux de l'intérêt légal.
//!
//! Rates are data, never code (french-rules §2.4): the binary reads `config/rates/*.toml` and
//! hands the parsed [`RateTable`] to the engine. A rate asked for a date the table does not
//! cover is a [`DunningError::MissingRate`], never a guess. Every rate returned carries the
//! row it came from ([`RateRow`]), which is cited in each penalty (`rate_source`).

use crate::dunning::DunningError;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A versioned table of reference rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTable {
    /// Schema version of the file (1).
    pub version: u32,
    /// Revision of the data, increased at each update (cited in `rate_source`).
    pub revision: u32,
    /// Date of the last update of the data.
    pub updated: NaiveDate,
    /// ECB main refinancing operations rate.
    pub ecb_mro: MroTable,
    /// Taux de l'intérêt légal, per semester.
    pub taux_legal: LegalRateTable,
    /// The indemnité forfaitaire pour frais de recouvrement.
    pub indemnity: IndemnityRow,
}

/// ECB MRO change dates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MroTable {
    /// The list of changes is known to be complete up to this date (last decision checked);
    /// no rate is given for a later date.
    pub confirmed_until: NaiveDate,
    /// Changes, in date order.
    pub changes: Vec<MroChange>,
}

/// One ECB MRO change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MroChange {
    /// Date from which the rate applies.
    pub effective: NaiveDate,
    /// Rate, percent per year.
    pub rate_percent: Decimal,
    /// Where the figure was read.
    pub source: String,
}

/// Taux légal per semester.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalRateTable {
    /// Semesters, in date order.
    pub semesters: Vec<LegalRateRow>,
}

/// The two taux légal of one semester (arrêté semestriel, C. mon. fin. L313-2, D313-1-A).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalRateRow {
    /// First day of the semester (1 January or 1 July).
    pub start: NaiveDate,
    /// Creditor is a natural person not acting professionally, percent.
    pub natural_person_percent: Decimal,
    /// All other cases, percent.
    pub other_cases_percent: Decimal,
    /// The arrêté and where it was read.
    pub source: String,
}

/// The indemnité forfaitaire pour frais de recouvrement (C. com. L441-10 II, D441-5; CCP D2192-35).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndemnityRow {
    /// Amount per invoice paid late, in euros.
    pub amount: Decimal,
    /// Legal basis and source.
    pub source: String,
}

/// A rate with the table row it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRow {
    /// Rate, percent per year.
    pub rate_percent: Decimal,
    /// Citation: table, row date, revision and source.
    pub citation: String,
}

/// First day of the semester containing `d` (1 January or 1 July).
pub fn semester_start(d: NaiveDate) -> NaiveDate {
    let month = if d.month() <= 6 { 1 } else { 7 };
    NaiveDate::from_ymd_opt(d.year(), month, 1).unwrap_or(d)
}

/// Last day of the semester containing `d` (30 June or 31 December).
pub fn semester_end(d: NaiveDate) -> NaiveDate {
    let (m, day) = if d.month() <= 6 { (6, 30) } else { (12, 31) };
    NaiveDate::from_ymd_opt(d.year(), m, day).unwrap_or(d)
}

impl RateTable {
    /// Checks version, ordering, semester starts and positivity of the indemnity.
    pub fn validate(&self) -> Result<(), DunningError> {
        let bad = |m: String| Err(DunningError::InvalidRateTable(m));
        if self.version != 1 {
            return bad(format!(
                "version {} not supported, expected 1",
                self.version
            ));
        }
        if self.ecb_mro.changes.is_empty() {
            return bad("ecb_mro.changes is empty".into());
        }
        if self
            .ecb_mro
            .changes
            .windows(2)
            .any(|w| w[1].effective <= w[0].effective)
        {
            return bad("ecb_mro.changes must be in increasing date order".into());
        }
        if self
            .taux_legal
            .semesters
            .windows(2)
            .any(|w| w[1].start <= w[0].start)
        {
            return bad("taux_legal.semesters must be in increasing date order".into());
        }
        if let Some(r) = self
            .taux_legal
            .semesters
            .iter()
            .find(|r| semester_start(r.start) != r.start)
        {
            return bad(format!(
                "taux_legal semester {} does not start on 1 January or 1 July",
                r.start
            ));
        }
        if self.indemnity.amount <= Decimal::ZERO {
            return bad("indemnity.amount must be positive".into());
        }
        Ok(())
    }

    /// Every row by the id citations use (`ecb_mro@2025-06-11`, `taux_legal@2026-01-01`,
    /// `indemnity`), with its figure and source — the plan carries this map once, so each
    /// penalty cites a short row id rather than repeating the sources.
    pub fn row_sources(&self) -> std::collections::BTreeMap<String, String> {
        let mut m = std::collections::BTreeMap::new();
        for c in &self.ecb_mro.changes {
            m.insert(
                format!("ecb_mro@{}", c.effective),
                format!("{}% from {}; {}", c.rate_percent, c.effective, c.source),
            );
        }
        for r in &self.taux_legal.semesters {
            m.insert(
                format!("taux_legal@{}", r.start),
                format!(
                    "natural person {}%, other cases {}% for the semester from {}; {}",
                    r.natural_person_percent, r.other_cases_percent, r.start, r.source
                ),
            );
        }
        m.insert(
            "indemnity".into(),
            format!(
                "{} per invoice; {}",
                self.indemnity.amount, self.indemnity.source
            ),
        );
        m
    }

    /// The ECB MRO rate in force on `date`.
    pub fn mro_in_force(&self, date: NaiveDate) -> Result<RateRow, DunningError> {
        let missing = || DunningError::MissingRate {
            table: "ecb_mro",
            date,
            confirmed_until: Some(self.ecb_mro.confirmed_until),
        };
        if date > self.ecb_mro.confirmed_until {
            return Err(missing());
        }
        let row = self
            .ecb_mro
            .changes
            .iter()
            .rev()
            .find(|c| c.effective <= date)
            .ok_or_else(missing)?;
        Ok(RateRow {
            rate_percent: row.rate_percent,
            citation: format!(
                "ecb_mro@{} {}% in force {date} (rates rev. {})",
                row.effective, row.rate_percent, self.revision
            ),
        })
    }

    /// The taux légal row of the semester containing `date`.
    pub fn legal_rate(
        &self,
        date: NaiveDate,
        natural_person: bool,
    ) -> Result<RateRow, DunningError> {
        let start = semester_start(date);
        let row = self
            .taux_legal
            .semesters
            .iter()
            .find(|r| r.start == start)
            .ok_or(DunningError::MissingRate {
                table: "taux_legal",
                date,
                confirmed_until: self
                    .taux_legal
                    .semesters
                    .last()
                    .map(|r| semester_end(r.start)),
            })?;
        let (rate, col) = if natural_person {
            (row.natural_person_percent, "natural_person")
        } else {
            (row.other_cases_percent, "other_cases")
        };
        Ok(RateRow {
            rate_percent: rate,
            citation: format!(
                "taux_legal@{start} {col} {rate}% (rates rev. {})",
                self.revision
            ),
        })
    }
}
