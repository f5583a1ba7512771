//! Dated reference-rate tables: ECB main refinancing rate changes and taux de l'intérêt légal.
//!
//! Rates are data, never code (french-rules §2.4): the binary reads `config/rates/*.toml` and
//! hands the parsed [`RateTable`] to the engine. A rate asked for a date the table does not
//! cover is a [`DunningError::MissingRate`], never a guess. Every rate returned carries the
//! row it came from ([`RateRow`]), which is cited in each penalty (`rate_source`).
//!
//! A table is updated without a new build by [`RatePatch`]es (the configuration's
//! `rates.d/*.toml`), merged with [`RateTable::merge`]: rows are added or replace the row of
//! the same date, `confirmed_until` only moves forward. [`RateTable::semesters`] and
//! [`RateTable::missing_as_of`] say what the merged table covers and lacks.

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
    /// Where the table and each patch merged into it came from (`built-in config/rates/fr.toml`,
    /// `/etc/relance/rates.d/2026-h2.toml`), in merge order. Not part of the file format.
    #[serde(skip)]
    pub origins: Vec<String>,
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

/// The two tables a rate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableName {
    /// ECB main refinancing operations rate.
    EcbMro,
    /// Taux de l'intérêt légal.
    TauxLegal,
}

impl TableName {
    /// The name used in files and messages (`ecb_mro`, `taux_legal`).
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::EcbMro => "ecb_mro",
            TableName::TauxLegal => "taux_legal",
        }
    }

    /// From the name [`DunningError::MissingRate`] carries.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ecb_mro" => Some(TableName::EcbMro),
            "taux_legal" => Some(TableName::TauxLegal),
            _ => None,
        }
    }
}

/// A row the table lacks: the rate of one table for one semester.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MissingRow {
    /// The table.
    pub table: TableName,
    /// First day of the semester (1 January or 1 July): for `ecb_mro`, the day the rate in
    /// force is needed; for `taux_legal`, the semester's row.
    pub period_start: NaiveDate,
    /// Last day of the semester.
    pub period_end: NaiveDate,
    /// How far the table is known to be complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_until: Option<NaiveDate>,
}

impl MissingRow {
    /// The row a [`DunningError::MissingRate`] names, if it is one.
    pub fn from_error(e: &DunningError) -> Option<Self> {
        match e {
            DunningError::MissingRate {
                table,
                date,
                confirmed_until,
            } => Some(MissingRow {
                table: TableName::parse(table)?,
                period_start: semester_start(*date),
                period_end: semester_end(*date),
                confirmed_until: *confirmed_until,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for MissingRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.table {
            TableName::EcbMro => write!(
                f,
                "ecb_mro: the rate in force on {} (semester {} to {})",
                self.period_start, self.period_start, self.period_end
            )?,
            TableName::TauxLegal => write!(
                f,
                "taux_legal: the semester {} to {}",
                self.period_start, self.period_end
            )?,
        }
        if let Some(c) = self.confirmed_until {
            write!(f, "; table confirmed until {c}")?;
        }
        Ok(())
    }
}

/// What the table gives for one semester (`None`: the row is missing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SemesterRates {
    /// First day of the semester.
    pub start: NaiveDate,
    /// ECB MRO in force on the first day, with its row date.
    pub mro: Option<(Decimal, NaiveDate)>,
    /// Taux légal, natural-person creditor.
    pub legal_natural_person: Option<Decimal>,
    /// Taux légal, other cases.
    pub legal_other_cases: Option<Decimal>,
}

/// A drop-in update of the rate table (`rates.d/*.toml`): the same layout as the table, every
/// part optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePatch {
    /// Schema version (1).
    pub version: u32,
    /// Revision of this update; the merged table's revision is the highest one.
    pub revision: u32,
    /// Date of this update.
    pub updated: NaiveDate,
    /// ECB MRO changes, and how far the list is now confirmed.
    #[serde(default)]
    pub ecb_mro: Option<MroPatch>,
    /// Taux légal semesters.
    #[serde(default)]
    pub taux_legal: Option<LegalRatePatch>,
    /// A new amount of the indemnité forfaitaire.
    #[serde(default)]
    pub indemnity: Option<IndemnityRow>,
}

/// ECB MRO part of a [`RatePatch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MroPatch {
    /// Every ECB decision up to this date is in the merged list (only moves forward).
    #[serde(default)]
    pub confirmed_until: Option<NaiveDate>,
    /// Changes to add (or to replace the row of the same `effective` date).
    #[serde(default)]
    pub changes: Vec<MroChange>,
}

/// Taux légal part of a [`RatePatch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalRatePatch {
    /// Semesters to add (or to replace the row of the same `start`).
    #[serde(default)]
    pub semesters: Vec<LegalRateRow>,
}

/// Plausible bounds of a reference rate, percent: a figure outside is a typo (the ECB MRO has
/// never been negative, the taux légal never above 20 %).
const RATE_MIN_PERCENT: Decimal = Decimal::ZERO;
const RATE_MAX_PERCENT: Decimal = Decimal::from_parts(30, 0, 0, false, 0);

impl RatePatch {
    /// Checks the patch on its own; each problem with the key path it is at
    /// (`ecb_mro.changes[0].rate_percent`).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.version != 1 {
            out.push((
                "version".into(),
                format!("version {} not supported, expected 1", self.version),
            ));
        }
        let rate_ok = |r: Decimal| (RATE_MIN_PERCENT..=RATE_MAX_PERCENT).contains(&r);
        if let Some(m) = &self.ecb_mro {
            for (i, c) in m.changes.iter().enumerate() {
                let at = format!("ecb_mro.changes[{i}]");
                if !rate_ok(c.rate_percent) {
                    out.push((
                        format!("{at}.rate_percent"),
                        format!(
                            "{}% is not a plausible ECB rate, expected {RATE_MIN_PERCENT} to {RATE_MAX_PERCENT}",
                            c.rate_percent
                        ),
                    ));
                }
                if c.source.trim().is_empty() {
                    out.push((
                        format!("{at}.source"),
                        "must cite where the figure was read".into(),
                    ));
                }
                if i > 0 && c.effective <= m.changes[i - 1].effective {
                    out.push((
                        format!("{at}.effective"),
                        "changes must be in increasing date order".into(),
                    ));
                }
            }
            if let (Some(cu), Some(last)) = (m.confirmed_until, m.changes.last()) {
                if cu < last.effective {
                    out.push((
                        "ecb_mro.confirmed_until".into(),
                        format!("{cu} is before the last change given ({})", last.effective),
                    ));
                }
            }
        }
        if let Some(t) = &self.taux_legal {
            for (i, r) in t.semesters.iter().enumerate() {
                let at = format!("taux_legal.semesters[{i}]");
                if semester_start(r.start) != r.start {
                    out.push((
                        format!("{at}.start"),
                        format!(
                            "{} does not start a semester, expected 1 January or 1 July",
                            r.start
                        ),
                    ));
                }
                for (k, v) in [
                    ("natural_person_percent", r.natural_person_percent),
                    ("other_cases_percent", r.other_cases_percent),
                ] {
                    if !rate_ok(v) {
                        out.push((
                            format!("{at}.{k}"),
                            format!("{v}% is not a plausible taux légal, expected {RATE_MIN_PERCENT} to {RATE_MAX_PERCENT}"),
                        ));
                    }
                }
                if r.source.trim().is_empty() {
                    out.push((format!("{at}.source"), "must cite the arrêté".into()));
                }
                if i > 0 && r.start <= t.semesters[i - 1].start {
                    out.push((
                        format!("{at}.start"),
                        "semesters must be in increasing date order".into(),
                    ));
                }
            }
        }
        if let Some(ind) = &self.indemnity {
            if ind.amount <= Decimal::ZERO {
                out.push(("indemnity.amount".into(), "must be positive".into()));
            }
        }
        out
    }
}

impl RateTable {
    /// Merges a patch read from `origin`: rows are added, a row of the same date is replaced,
    /// `confirmed_until` moves forward only, the revision becomes the highest. Returns what a
    /// person should know (a row replaced by a different figure).
    pub fn merge(&mut self, patch: RatePatch, origin: &str) -> Vec<String> {
        let mut notes = Vec::new();
        let tag = |source: String| format!("{source} [{origin}]");
        if let Some(m) = patch.ecb_mro {
            if let Some(cu) = m.confirmed_until {
                self.ecb_mro.confirmed_until = self.ecb_mro.confirmed_until.max(cu);
            }
            for mut c in m.changes {
                c.source = tag(c.source);
                match self
                    .ecb_mro
                    .changes
                    .iter_mut()
                    .find(|x| x.effective == c.effective)
                {
                    Some(x) => {
                        if x.rate_percent != c.rate_percent {
                            notes.push(format!(
                                "{origin}: ecb_mro@{} {}% replaced by {}%",
                                c.effective, x.rate_percent, c.rate_percent
                            ));
                        }
                        *x = c;
                    }
                    None => self.ecb_mro.changes.push(c),
                }
            }
            self.ecb_mro.changes.sort_by_key(|c| c.effective);
        }
        if let Some(t) = patch.taux_legal {
            for mut r in t.semesters {
                r.source = tag(r.source);
                match self
                    .taux_legal
                    .semesters
                    .iter_mut()
                    .find(|x| x.start == r.start)
                {
                    Some(x) => {
                        if (x.natural_person_percent, x.other_cases_percent)
                            != (r.natural_person_percent, r.other_cases_percent)
                        {
                            notes.push(format!(
                                "{origin}: taux_legal@{} {}% / {}% replaced by {}% / {}%",
                                r.start,
                                x.natural_person_percent,
                                x.other_cases_percent,
                                r.natural_person_percent,
                                r.other_cases_percent
                            ));
                        }
                        *x = r;
                    }
                    None => self.taux_legal.semesters.push(r),
                }
            }
            self.taux_legal.semesters.sort_by_key(|r| r.start);
        }
        if let Some(mut ind) = patch.indemnity {
            if ind.amount != self.indemnity.amount {
                notes.push(format!(
                    "{origin}: indemnity {} replaced by {}",
                    self.indemnity.amount, ind.amount
                ));
            }
            ind.source = tag(ind.source);
            self.indemnity = ind;
        }
        self.revision = self.revision.max(patch.revision);
        self.updated = self.updated.max(patch.updated);
        self.origins.push(origin.to_owned());
        notes
    }

    /// What the table gives for every semester from the first one it covers to the one
    /// containing `until`.
    pub fn semesters(&self, until: NaiveDate) -> Vec<SemesterRates> {
        // The first semester both tables cover: the MRO in force on its first day is known
        // and it has a taux légal row.
        let mro_first = self.ecb_mro.changes.first().map(|c| {
            let s = semester_start(c.effective);
            if s == c.effective {
                s
            } else {
                semester_end(s).succ_opt().unwrap_or(s)
            }
        });
        let legal_first = self.taux_legal.semesters.first().map(|r| r.start);
        let first = match (mro_first, legal_first) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Vec::new(),
        };
        let mut out = Vec::new();
        let mut sem = semester_start(first);
        let last = semester_start(until);
        while sem <= last {
            let mro = self
                .mro_in_force(sem)
                .ok()
                .and_then(|_| {
                    self.ecb_mro
                        .changes
                        .iter()
                        .rev()
                        .find(|c| c.effective <= sem)
                })
                .map(|c| (c.rate_percent, c.effective));
            let legal = self.taux_legal.semesters.iter().find(|r| r.start == sem);
            out.push(SemesterRates {
                start: sem,
                mro,
                legal_natural_person: legal.map(|r| r.natural_person_percent),
                legal_other_cases: legal.map(|r| r.other_cases_percent),
            });
            sem = semester_end(sem).succ_opt().unwrap_or(NaiveDate::MAX);
        }
        out
    }

    /// The rows a plan on `date` may need and the table lacks: the ECB MRO in force on the
    /// first day of `date`'s semester and of every earlier semester the table covers, and the
    /// taux légal of those semesters.
    pub fn missing_as_of(&self, date: NaiveDate) -> Vec<MissingRow> {
        let mut out = Vec::new();
        for s in self.semesters(date) {
            let end = semester_end(s.start);
            if s.mro.is_none() {
                out.push(MissingRow {
                    table: TableName::EcbMro,
                    period_start: s.start,
                    period_end: end,
                    confirmed_until: Some(self.ecb_mro.confirmed_until),
                });
            }
            if s.legal_other_cases.is_none() {
                out.push(MissingRow {
                    table: TableName::TauxLegal,
                    period_start: s.start,
                    period_end: end,
                    confirmed_until: self
                        .taux_legal
                        .semesters
                        .last()
                        .map(|r| semester_end(r.start)),
                });
            }
        }
        out
    }
}
