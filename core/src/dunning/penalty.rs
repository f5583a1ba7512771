//! Late-payment penalties, intérêts moratoires, legal interest, and the 40 € indemnity.
//!
//! * Business (C. com. L441-10 II): from the day after the due date, without any reminder,
//!   at ECB MRO in force on 1 January / 1 July + 10 points (or the contractual rate, never
//!   below 3 × taux légal), simple interest, exact days / 365, on the unpaid amount TTC.
//!   By default the late period is split at 30 June / 31 December and each semester uses its
//!   own rate ([`SemesterRule::Split`]); 40 € per invoice (D441-5).
//! * Public buyers (CCP L2192-13, R2192-31): ECB MRO in force on the first day of the semester
//!   in which interest started to run + 8 points, fixed for the whole delay; 40 € (D2192-35).
//! * Consumers (C. civ. 1231-6, 1344-1): taux légal only from the mise en demeure; no 40 €
//!   and no recovery fee of any kind (CPCE L111-8).
//!
//! Rounding: each period's amount is rounded to the cent (half away from zero), the total is
//! the sum of the rounded periods — the way a person writes the working on the letter.

use crate::dunning::policy::{DayCount, LegalRateColumn, PenaltyPolicy, SemesterRule};
use crate::dunning::rates::{semester_end, semester_start, MissingRow, RateRow, RateTable};
use crate::dunning::DunningError;
use crate::model::CustomerKind;
use crate::money::round_cents;
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Points added to the ECB MRO rate for the B2B statutory penalty rate (C. com. L441-10 II).
pub const B2B_MARGIN_POINTS: Decimal = Decimal::from_parts(10, 0, 0, false, 0);
/// Points added to the ECB MRO rate for public buyers' intérêts moratoires (CCP R2192-31).
pub const PUBLIC_MARGIN_POINTS: Decimal = Decimal::from_parts(8, 0, 0, false, 0);
/// A contractual B2B rate may not be below this many times the taux légal (C. com. L441-10 II).
pub const CONTRACT_FLOOR_TIMES_LEGAL_RATE: Decimal = Decimal::from_parts(3, 0, 0, false, 0);

/// The rate a debtor's regime needs, to name it when the table lacks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateKind {
    /// B2B statutory rate: ECB MRO + 10 points (C. com. L441-10 II).
    B2bStatutory,
    /// B2B contractual rate, checked against 3 × taux légal (C. com. L441-10 II).
    B2bContract,
    /// Public buyers' intérêts moratoires: ECB MRO + 8 points (CCP R2192-31).
    PublicMoratory,
    /// Consumers: taux légal from the mise en demeure (C. civ. 1231-6, 1344-1).
    ConsumerLegal,
}

impl RateKind {
    /// The regime of a debtor (with its contractual rate, if any).
    pub fn of(kind: CustomerKind, contract_rate: Option<Decimal>) -> Self {
        match kind {
            CustomerKind::Business if contract_rate.is_some() => RateKind::B2bContract,
            CustomerKind::Business => RateKind::B2bStatutory,
            CustomerKind::PublicEntity | CustomerKind::PublicHospital => RateKind::PublicMoratory,
            CustomerKind::Consumer => RateKind::ConsumerLegal,
        }
    }

    /// What the rate is, in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            RateKind::B2bStatutory => "B2B penalty rate ECB MRO + 10 pts (C. com. L441-10 II)",
            RateKind::B2bContract => {
                "floor of the contractual B2B rate, 3 × taux légal (C. com. L441-10 II)"
            }
            RateKind::PublicMoratory => {
                "public buyer's intérêts moratoires ECB MRO + 8 pts (CCP R2192-31)"
            }
            RateKind::ConsumerLegal => {
                "consumer's legal interest at the taux légal (C. civ. 1231-6, 1344-1)"
            }
        }
    }
}

/// A penalty that could not be computed: the row the table lacks, and the regime that needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingRate {
    /// The missing row.
    pub row: MissingRow,
    /// The rate it was needed for.
    pub kind: RateKind,
    /// The contractual rate of the debtor, for [`RateKind::B2bContract`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_rate_percent: Option<Decimal>,
}

impl std::fmt::Display for MissingRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no rate-table row for {}, needed for the {}",
            self.row,
            self.kind.describe()
        )
    }
}

/// What a penalty is computed from.
#[derive(Clone, Debug)]
pub struct PenaltyInput<'a> {
    /// Kind of debtor.
    pub kind: CustomerKind,
    /// Due date of the invoice.
    pub due_date: NaiveDate,
    /// Amount TTC still open now.
    pub open_amount: Decimal,
    /// Partial payments received after the due date (date received, amount); the base
    /// drops from the day after each one.
    pub payments: &'a [(NaiveDate, Decimal)],
    /// Consumers: date of the mise en demeure, from which legal interest runs (1344-1).
    pub mise_en_demeure: Option<NaiveDate>,
    /// Accrue up to and including this day.
    pub until: NaiveDate,
}

/// One period of constant base and rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PenaltyPeriod {
    /// First day (inclusive).
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
    /// Number of days.
    pub days: i64,
    /// Unpaid amount during the period.
    pub base: Decimal,
    /// Rate, percent per year.
    pub rate_percent: Decimal,
    /// Day-count denominator (365 or 366).
    pub year_days: u32,
    /// base × rate × days / (100 × year_days), rounded to the cent.
    pub amount: Decimal,
}

/// A computed penalty with its working.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Penalty {
    /// Total of the periods.
    pub amount: Decimal,
    /// Indemnité forfaitaire (40 €) or zero.
    pub indemnity: Decimal,
    /// Legal basis and the rate-table rows used.
    pub rate_source: String,
    /// The working.
    pub periods: Vec<PenaltyPeriod>,
    /// Things a person should know (contract rate below the legal floor…).
    pub warnings: Vec<String>,
    /// Set when the amount could not be computed because the rate table lacks a row (then
    /// `amount` is zero and `periods` empty; the indemnity, a fixed amount, is still given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<MissingRate>,
}

/// Computes the penalty of one invoice (`policy.contract_rate_percent` is the contractual
/// rate of a business debtor, if any).
pub fn compute(
    input: &PenaltyInput<'_>,
    rates: &RateTable,
    policy: &PenaltyPolicy,
) -> Result<Penalty, DunningError> {
    compute_memo(input, rates, policy, &mut RateMemo::default())
}

/// Which rate row a period needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum MemoKey {
    /// B2B, semester start, contractual rate.
    Business(NaiveDate, Option<Decimal>),
    /// Public buyer, start of the semester the interest began.
    Public(NaiveDate),
    /// Consumer, semester start, natural-person column.
    Consumer(NaiveDate, bool),
}

/// Rate rows already looked up while planning: one table lookup and one citation per
/// semester and regime, however many invoices.
#[derive(Debug, Default)]
pub struct RateMemo {
    rows: HashMap<MemoKey, (RateRow, Option<String>)>,
}

impl RateMemo {
    fn get(
        &mut self,
        key: MemoKey,
        rates: &RateTable,
    ) -> Result<(RateRow, Option<String>), DunningError> {
        if let Some(v) = self.rows.get(&key) {
            return Ok(v.clone());
        }
        let v = match key {
            MemoKey::Business(sem, contract) => business_rate(sem, contract, rates)?,
            MemoKey::Public(sem) => {
                let mro = rates.mro_in_force(sem)?;
                let row = RateRow {
                    rate_percent: mro.rate_percent + PUBLIC_MARGIN_POINTS,
                    citation: format!(
                        "CCP R2192-31: MRO + 8 pts, fixed for the whole delay; {}",
                        mro.citation
                    ),
                };
                (row, None)
            }
            MemoKey::Consumer(sem, natural) => {
                let til = rates.legal_rate(sem, natural)?;
                let row = RateRow {
                    rate_percent: til.rate_percent,
                    citation: format!(
                        "C. civ. 1231-6, 1344-1: taux légal from the mise en demeure; {}",
                        til.citation
                    ),
                };
                (row, None)
            }
        };
        self.rows.insert(key, v.clone());
        Ok(v)
    }
}

fn is_late(input: &PenaltyInput<'_>) -> bool {
    input.until > input.due_date && input.open_amount > Decimal::ZERO
}

/// The indemnité forfaitaire due on the invoice: the table's amount (40 €) once the invoice
/// is late, for professionals and public buyers; never for consumers (CPCE L111-8).
pub fn indemnity_due(input: &PenaltyInput<'_>, rates: &RateTable) -> Decimal {
    match input.kind {
        CustomerKind::Consumer => Decimal::ZERO,
        _ if is_late(input) => rates.indemnity.amount, // cited as the `indemnity` row
        _ => Decimal::ZERO,
    }
}

/// The citation of the indemnity in `rate_source`, per regime.
pub fn indemnity_citation(kind: CustomerKind) -> &'static str {
    if kind.is_public() {
        "indemnity (CCP D2192-35)"
    } else {
        "indemnity (C. com. D441-5)"
    }
}

/// [`compute`] with a memo of rate rows shared across invoices.
pub fn compute_memo(
    input: &PenaltyInput<'_>,
    rates: &RateTable,
    policy: &PenaltyPolicy,
    memo: &mut RateMemo,
) -> Result<Penalty, DunningError> {
    let mut warnings = Vec::new();
    let mut rate = |key: MemoKey, warnings: &mut Vec<String>| -> Result<RateRow, DunningError> {
        let (row, warning) = memo.get(key, rates)?;
        if let Some(w) = warning {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        Ok(row)
    };
    let late = is_late(input);
    let indemnity = indemnity_due(input, rates);
    let mut start = input.due_date + Duration::days(1);
    if input.kind == CustomerKind::Consumer {
        match input.mise_en_demeure {
            Some(m) => start = start.max(m + Duration::days(1)),
            None => {
                return Ok(Penalty {
                    amount: Decimal::ZERO,
                    indemnity,
                    rate_source: "C. civ. 1344-1: consumer debt, legal interest runs only from a mise en demeure (none sent yet)".into(),
                    periods: Vec::new(),
                    warnings,
                    missing: None,
                })
            }
        }
    }
    if !late || start > input.until {
        return Ok(Penalty {
            amount: Decimal::ZERO,
            indemnity,
            rate_source: "not late".into(),
            periods: Vec::new(),
            warnings,
            missing: None,
        });
    }

    // Fixed rate for public buyers (and for the frozen B2B variant): rate of the semester in
    // which interest started to run.
    let frozen = match input.kind {
        CustomerKind::PublicEntity | CustomerKind::PublicHospital => {
            Some(rate(MemoKey::Public(semester_start(start)), &mut warnings)?)
        }
        CustomerKind::Business if policy.semester_rule == SemesterRule::Frozen => Some(rate(
            MemoKey::Business(semester_start(start), policy.contract_rate_percent),
            &mut warnings,
        )?),
        _ => None,
    };

    let mut periods: Vec<PenaltyPeriod> = Vec::new();
    let mut citations: Vec<String> = Vec::new();
    let mut day = start;
    while day <= input.until {
        // The period ends at the semester end, the day of a payment, or `until`.
        let mut end = semester_end(day).min(input.until);
        for (p, _) in input.payments {
            if *p >= day && *p < end {
                end = *p;
            }
        }
        // Base: what is open now plus every payment received on or after this period's
        // first day (a payment on day p still leaves day p at the old base).
        let base = input.open_amount
            + input
                .payments
                .iter()
                .filter(|(p, _)| *p >= day)
                .map(|(_, a)| *a)
                .sum::<Decimal>();
        let row = match (&frozen, input.kind) {
            (Some(r), _) => r.clone(),
            (None, CustomerKind::Consumer) => {
                let natural = policy.consumer_legal_rate == LegalRateColumn::NaturalPerson;
                rate(
                    MemoKey::Consumer(semester_start(day), natural),
                    &mut warnings,
                )?
            }
            (None, _) => rate(
                MemoKey::Business(semester_start(day), policy.contract_rate_percent),
                &mut warnings,
            )?,
        };
        if !citations.contains(&row.citation) {
            citations.push(row.citation.clone());
        }
        let year_days = match policy.day_count {
            DayCount::Fixed365 => 365,
            DayCount::Actual if day.leap_year() => 366,
            DayCount::Actual => 365,
        };
        let days = (end - day).num_days() + 1;
        let amount = round_cents(
            base * row.rate_percent * Decimal::from(days)
                / (Decimal::ONE_HUNDRED * Decimal::from(year_days)),
        );
        periods.push(PenaltyPeriod {
            from: day,
            to: end,
            days,
            base,
            rate_percent: row.rate_percent,
            year_days,
            amount,
        });
        day = end + Duration::days(1);
    }
    let amount = periods.iter().map(|p| p.amount).sum();
    let mut rate_source = citations.join(" | ");
    if indemnity > Decimal::ZERO {
        rate_source.push_str(" | ");
        rate_source.push_str(indemnity_citation(input.kind));
    }
    Ok(Penalty {
        amount,
        indemnity,
        rate_source,
        periods,
        warnings,
        missing: None,
    })
}

/// The B2B rate of the semester starting `sem`: contractual (at least 3 × taux légal, with a
/// warning when the contract is below) or MRO in force on 1 January / 1 July + 10 points.
fn business_rate(
    sem: NaiveDate,
    contract: Option<Decimal>,
    rates: &RateTable,
) -> Result<(RateRow, Option<String>), DunningError> {
    match contract {
        Some(c) => {
            let til = rates.legal_rate(sem, false)?;
            let floor = til.rate_percent * CONTRACT_FLOOR_TIMES_LEGAL_RATE;
            if c < floor {
                let warning = format!(
                    "contractual rate {c}% is below the legal floor 3 × taux légal = {floor}% for the semester from {sem}; the floor is applied (C. com. L441-10 II)"
                );
                let row = RateRow {
                    rate_percent: floor,
                    citation: format!("C. com. L441-10 II: floor 3 × taux légal; {}", til.citation),
                };
                Ok((row, Some(warning)))
            } else {
                let row = RateRow {
                    rate_percent: c,
                    citation: format!(
                        "contractual rate {c}% (≥ 3 × taux légal {floor}%); {}",
                        til.citation
                    ),
                };
                Ok((row, None))
            }
        }
        None => {
            let mro = rates.mro_in_force(sem)?;
            let row = RateRow {
                rate_percent: mro.rate_percent + B2B_MARGIN_POINTS,
                citation: format!("C. com. L441-10 II: MRO + 10 pts; {}", mro.citation),
            };
            Ok((row, None))
        }
    }
}
