//! Penalty computations checked against hand-worked examples (working in the comments),
//! across rate changes on 1 July and 1 January, for each kind of debtor.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_core::dunning::penalty::{compute, PenaltyInput};
use relance_core::dunning::policy::{PenaltyPolicy, SemesterRule};
use relance_core::dunning::{DunningError, RateTable};
use relance_core::CustomerKind;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn rates() -> RateTable {
    let t: RateTable = toml::from_str(include_str!("../../config/rates/fr.toml")).unwrap();
    t.validate().unwrap();
    t
}

fn input(
    kind: CustomerKind,
    due: NaiveDate,
    open: Decimal,
    until: NaiveDate,
) -> PenaltyInput<'static> {
    PenaltyInput {
        kind,
        due_date: due,
        open_amount: open,
        payments: &[],
        mise_en_demeure: None,
        until,
    }
}

/// french-rules §2.1 worked example, across 1 July 2025.
/// 12 000 € TTC due 15/05/2025, paid 20/08/2025: 97 days late.
/// H1 2025: MRO in force 1/1/2025 = 3,15 % (since 18/12/2024) + 10 = 13,15 %
///   16/05–30/06 = 46 days: 12 000 × 13,15 % × 46 / 365 = 1 578 × 46 / 365 = 198,8712 → 198,87
/// H2 2025: MRO in force 1/7/2025 = 2,15 % (since 11/06/2025) + 10 = 12,15 %
///   01/07–20/08 = 51 days: 12 000 × 12,15 % × 51 / 365 = 1 458 × 51 / 365 = 203,7205 → 203,72
/// Total 402,59 € + 40 €.
#[test]
fn business_split_across_1_july() {
    let p = compute(
        &input(
            CustomerKind::Business,
            d(2025, 5, 15),
            dec!(12000),
            d(2025, 8, 20),
        ),
        &rates(),
        &PenaltyPolicy::default(),
    )
    .unwrap();
    assert_eq!(p.periods.len(), 2);
    assert_eq!(
        (p.periods[0].from, p.periods[0].to, p.periods[0].days),
        (d(2025, 5, 16), d(2025, 6, 30), 46)
    );
    assert_eq!(p.periods[0].rate_percent, dec!(13.15));
    assert_eq!(p.periods[0].amount, dec!(198.87));
    assert_eq!(
        (p.periods[1].from, p.periods[1].to, p.periods[1].days),
        (d(2025, 7, 1), d(2025, 8, 20), 51)
    );
    assert_eq!(p.periods[1].rate_percent, dec!(12.15));
    assert_eq!(p.periods[1].amount, dec!(203.72));
    assert_eq!(p.amount, dec!(402.59));
    assert_eq!(p.indemnity, dec!(40.00));
    assert!(p.rate_source.contains("L441-10 II"), "{}", p.rate_source);
    assert!(
        p.rate_source
            .contains("ecb_mro@2024-12-18 3.15% in force 2025-01-01"),
        "{}",
        p.rate_source
    );
    assert!(
        p.rate_source
            .contains("ecb_mro@2025-06-11 2.15% in force 2025-07-01"),
        "{}",
        p.rate_source
    );
}

/// Same invoice, rate frozen at the semester the delay began (french-rules §2.1 variant):
/// 12 000 × 13,15 % × 97 / 365 = 1 578 × 97 / 365 = 419,3589 → 419,36.
#[test]
fn business_frozen_variant() {
    let pol = PenaltyPolicy {
        semester_rule: SemesterRule::Frozen,
        ..PenaltyPolicy::default()
    };
    let p = compute(
        &input(
            CustomerKind::Business,
            d(2025, 5, 15),
            dec!(12000),
            d(2025, 8, 20),
        ),
        &rates(),
        &pol,
    )
    .unwrap();
    assert_eq!(p.amount, dec!(419.36));
}

/// Across 1 January 2025: 5 000 € due 30/11/2024, accrued to 14/02/2025.
/// H2 2024: MRO in force 1/7/2024 = 4,25 % (since 12/06/2024) + 10 = 14,25 %
///   01/12–31/12/2024 = 31 days: 5 000 × 14,25 % × 31 / 365 = 712,5 × 31 / 365 = 60,5137 → 60,51
/// H1 2025: 13,15 %; 01/01–14/02/2025 = 45 days: 657,5 × 45 / 365 = 81,0616 → 81,06
/// Total 141,57 € + 40 €.
#[test]
fn business_split_across_1_january() {
    let p = compute(
        &input(
            CustomerKind::Business,
            d(2024, 11, 30),
            dec!(5000),
            d(2025, 2, 14),
        ),
        &rates(),
        &PenaltyPolicy::default(),
    )
    .unwrap();
    let got: Vec<_> = p
        .periods
        .iter()
        .map(|x| (x.days, x.rate_percent, x.amount))
        .collect();
    assert_eq!(
        got,
        vec![
            (31, dec!(14.25), dec!(60.51)),
            (45, dec!(13.15), dec!(81.06))
        ]
    );
    assert_eq!(p.amount, dec!(141.57));
    assert_eq!(p.indemnity, dec!(40.00));
}

/// Partial payment: 10 000 € due 31/01/2026, 4 000 € received 20/02/2026, accrued to 02/03/2026.
/// H1 2026: MRO in force 1/1/2026 = 2,15 % + 10 = 12,15 %.
///   01/02–20/02 = 20 days on 10 000: 1 215 × 20 / 365 = 66,5753 → 66,58
///   21/02–02/03 = 10 days on 6 000: 729 × 10 / 365 = 19,9726 → 19,97
/// Total 86,55 €; the 40 € is still due once (not split on partial payment, DGCCRF).
#[test]
fn partial_payment_lowers_the_base_from_the_next_day() {
    let pays = [(d(2026, 2, 20), dec!(4000))];
    let mut i = input(
        CustomerKind::Business,
        d(2026, 1, 31),
        dec!(6000),
        d(2026, 3, 2),
    );
    i.payments = &pays;
    let p = compute(&i, &rates(), &PenaltyPolicy::default()).unwrap();
    let got: Vec<_> = p
        .periods
        .iter()
        .map(|x| (x.days, x.base, x.amount))
        .collect();
    assert_eq!(
        got,
        vec![
            (20, dec!(10000), dec!(66.58)),
            (10, dec!(6000), dec!(19.97))
        ]
    );
    assert_eq!(p.amount, dec!(86.55));
    assert_eq!(p.indemnity, dec!(40.00));
}

/// Public buyer, french-rules §2.2 example: délai expired 01/02/2025, paid 03/03/2025.
/// MRO in force 1/1/2025 = 3,15 % + 8 = 11,15 %; 02/02–03/03 = 30 days:
/// 12 000 × 11,15 % × 30 / 365 = 1 338 × 30 / 365 = 109,9726 → 109,97 € + 40 €.
#[test]
fn public_entity_intérêts_moratoires() {
    let p = compute(
        &input(
            CustomerKind::PublicEntity,
            d(2025, 2, 1),
            dec!(12000),
            d(2025, 3, 3),
        ),
        &rates(),
        &PenaltyPolicy::default(),
    )
    .unwrap();
    assert_eq!(p.amount, dec!(109.97));
    assert_eq!(p.indemnity, dec!(40.00));
    assert!(p.rate_source.contains("R2192-31"));
    assert!(p.rate_source.contains("indemnity (CCP D2192-35)"));
}

/// Public hospital across 1 July 2025: the rate is fixed at the semester the interest began
/// (R2192-31), no switching. Due 15/06/2025, accrued to 15/07/2025: 16/06–30/06 = 15 days and
/// 01/07–15/07 = 15 days, both at 11,15 %: 1 338 × 15 / 365 = 54,9863 → 54,99 twice = 109,98.
#[test]
fn public_hospital_rate_is_frozen_across_1_july() {
    let p = compute(
        &input(
            CustomerKind::PublicHospital,
            d(2025, 6, 15),
            dec!(12000),
            d(2025, 7, 15),
        ),
        &rates(),
        &PenaltyPolicy::default(),
    )
    .unwrap();
    assert!(p.periods.iter().all(|x| x.rate_percent == dec!(11.15)));
    assert_eq!(p.amount, dec!(109.98));
    assert_eq!(p.indemnity, dec!(40.00));
}

/// Consumer: nothing before a mise en demeure, and never the 40 €.
#[test]
fn consumer_no_interest_before_mise_en_demeure_and_never_40() {
    let p = compute(
        &input(
            CustomerKind::Consumer,
            d(2025, 5, 15),
            dec!(3000),
            d(2025, 7, 20),
        ),
        &rates(),
        &PenaltyPolicy::default(),
    )
    .unwrap();
    assert_eq!(p.amount, Decimal::ZERO);
    assert_eq!(p.indemnity, Decimal::ZERO);
    assert!(p.rate_source.contains("1344-1"));
}

/// Consumer after a mise en demeure sent 20/06/2025: taux légal (other cases — the creditor is
/// a company) from 21/06/2025, across 1 July.
///   H1 2025 3,71 %: 21/06–30/06 = 10 days: 3 000 × 3,71 % × 10 / 365 = 111,3 × 10 / 365 = 3,0493 → 3,05
///   H2 2025 2,76 %: 01/07–20/07 = 20 days: 82,8 × 20 / 365 = 4,5370 → 4,54
/// Total 7,59 €, no indemnity.
#[test]
fn consumer_legal_interest_after_mise_en_demeure() {
    let mut i = input(
        CustomerKind::Consumer,
        d(2025, 5, 15),
        dec!(3000),
        d(2025, 7, 20),
    );
    i.mise_en_demeure = Some(d(2025, 6, 20));
    let p = compute(&i, &rates(), &PenaltyPolicy::default()).unwrap();
    let got: Vec<_> = p
        .periods
        .iter()
        .map(|x| (x.days, x.rate_percent, x.amount))
        .collect();
    assert_eq!(
        got,
        vec![(10, dec!(3.71), dec!(3.05)), (20, dec!(2.76), dec!(4.54))]
    );
    assert_eq!(p.amount, dec!(7.59));
    assert_eq!(p.indemnity, Decimal::ZERO);
}

/// A contractual rate below 3 × taux légal is raised to the floor, with a warning.
/// H1 2026: 3 × 2,62 = 7,86 %; 1 000 € due 31/01/2026 to 02/03/2026 = 30 days:
/// 1 000 × 7,86 % × 30 / 365 = 78,6 × 30 / 365 = 6,4603 → 6,46.
#[test]
fn contract_rate_below_floor_is_raised() {
    let pol = PenaltyPolicy {
        contract_rate_percent: Some(dec!(5)),
        ..PenaltyPolicy::default()
    };
    let p = compute(
        &input(
            CustomerKind::Business,
            d(2026, 1, 31),
            dec!(1000),
            d(2026, 3, 2),
        ),
        &rates(),
        &pol,
    )
    .unwrap();
    assert_eq!(p.periods[0].rate_percent, dec!(7.86));
    assert_eq!(p.amount, dec!(6.46));
    assert_eq!(p.warnings.len(), 1);
}

/// No rate is known for H2 2026 (ECB decisions after 5/2/2026 not in the table): an error
/// naming the table and the date, never a guess.
#[test]
fn missing_rate_is_a_clear_error() {
    let e = compute(
        &input(
            CustomerKind::Business,
            d(2026, 6, 20),
            dec!(1000),
            d(2026, 7, 10),
        ),
        &rates(),
        &PenaltyPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        DunningError::MissingRate {
            table: "ecb_mro",
            date: d(2026, 7, 1),
            confirmed_until: Some(d(2026, 2, 5))
        }
    );
    assert!(e.to_string().contains("2026-07-01"));
}

/// Not yet late: nothing, and no indemnity.
#[test]
fn not_late_gives_nothing() {
    let p = compute(
        &input(
            CustomerKind::Business,
            d(2026, 3, 1),
            dec!(1000),
            d(2026, 3, 1),
        ),
        &rates(),
        &PenaltyPolicy::default(),
    )
    .unwrap();
    assert_eq!((p.amount, p.indemnity), (Decimal::ZERO, Decimal::ZERO));
}
