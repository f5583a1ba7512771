//! The `[dunning]` policy as the company configuration writes it: defaults, overrides,
//! unknown keys refused, ladder validation; and the bundled rate table.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod dunning_support;

use relance_core::dunning::policy::{SemesterRule, UnappliedCreditHold};
use relance_core::dunning::{Channel, Policy, Stage};
use rust_decimal_macros::dec;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyFile {
    dunning: Policy,
}

#[test]
fn empty_table_gives_the_seed_process() {
    let c: CompanyFile = toml::from_str("[dunning]\n").unwrap();
    assert_eq!(c.dunning, Policy::default());
    let stages: Vec<_> = c
        .dunning
        .steps
        .iter()
        .map(|s| (s.stage, s.offset_days, s.channel))
        .collect();
    assert_eq!(
        stages,
        vec![
            (Stage::Preventive, -5, Channel::Email),
            (Stage::Amiable, 1, Channel::Email),
            (Stage::Amiable, 7, Channel::PhoneTask),
            (Stage::Formelle, 15, Channel::Email),
            (Stage::MiseEnDemeure, 45, Channel::RegisteredLetter),
            (Stage::Contentieux, 60, Channel::LegalTask),
        ]
    );
    c.dunning.validate().unwrap();
}

#[test]
fn overrides_parse() {
    let src = r#"
[dunning]
bank_data_max_age_days = 5
unapplied_credit_hold = "covering"
petites_creances_max = "5000"

[dunning.penalties]
semester_rule = "frozen"
day_count = "365"
contract_rate_percent = "12.5"

[dunning.sending]
max_actions_per_day = 200
window_start_hour = 8

[dunning.segments.chronic]
shift_days = -5
tone = "firm"

[[dunning.steps]]
stage = 1
offset_days = 3
channel = "email"

[[dunning.steps]]
stage = 2
offset_days = 20
channel = "email"
mandatory = true
min_days_since_previous = 10

[[dunning.steps]]
stage = 3
offset_days = 50
channel = "registered_letter"
mandatory = true
"#;
    let c: CompanyFile = toml::from_str(src).unwrap();
    let p = c.dunning;
    p.validate().unwrap();
    assert_eq!(p.bank_data_max_age_days, 5);
    assert_eq!(p.unapplied_credit_hold, UnappliedCreditHold::Covering);
    assert_eq!(p.penalties.semester_rule, SemesterRule::Frozen);
    assert_eq!(p.penalties.contract_rate_percent, Some(dec!(12.5)));
    assert_eq!(p.sending.max_actions_per_day, Some(200));
    assert_eq!(
        p.sending.window_end_hour, 18,
        "unset keys keep their default"
    );
    assert_eq!(p.segments.chronic.shift_days, -5);
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.steps[1].min_days_since_previous, 10);
}

#[test]
fn unknown_keys_and_bad_ladders_are_refused() {
    let e = toml::from_str::<CompanyFile>("[dunning]\nbank_data_max_age = 3\n")
        .err()
        .unwrap();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let e = toml::from_str::<CompanyFile>(
        "[dunning]\n[[dunning.steps]]\nstage = 7\noffset_days = 1\nchannel = \"email\"\n",
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("stage 7"), "{e}");
    let c: CompanyFile = toml::from_str(
        "[dunning]\n[[dunning.steps]]\nstage = 2\noffset_days = 15\nchannel = \"email\"\n[[dunning.steps]]\nstage = 1\noffset_days = 20\nchannel = \"email\"\n",
    )
    .unwrap();
    assert!(c
        .dunning
        .validate()
        .unwrap_err()
        .to_string()
        .contains("backwards"));
    let c: CompanyFile = toml::from_str(
        "[dunning]\n[[dunning.steps]]\nstage = 1\noffset_days = -2\nchannel = \"email\"\n",
    )
    .unwrap();
    assert!(
        c.dunning.validate().is_err(),
        "only préventive comes before the due date"
    );
}

#[test]
fn bundled_rate_table_is_valid_and_cites_sources() {
    let t = dunning_support::rates();
    t.validate().unwrap();
    assert!(t
        .ecb_mro
        .changes
        .iter()
        .all(|c| c.source.starts_with("http")));
    assert!(t
        .taux_legal
        .semesters
        .iter()
        .all(|r| r.source.contains("http")));
    assert_eq!(t.indemnity.amount, dec!(40.00));
    // H1 2026 derived rates (french-rules §2.4): MRO 2,15 → B2B 12,15 %, floor 3 × 2,62 = 7,86 %.
    let mro = t.mro_in_force(dunning_support::d(2026, 1, 1)).unwrap();
    assert_eq!(mro.rate_percent, dec!(2.15));
    assert_eq!(
        t.legal_rate(dunning_support::d(2026, 3, 1), false)
            .unwrap()
            .rate_percent
            * dec!(3),
        dec!(7.86)
    );
    // 2024: the floor exceeded MRO + 10 (15,21 % vs 14,50 %), as the research note flags.
    assert_eq!(
        t.legal_rate(dunning_support::d(2024, 1, 1), false)
            .unwrap()
            .rate_percent
            * dec!(3),
        dec!(15.21)
    );
    assert_eq!(
        t.mro_in_force(dunning_support::d(2024, 1, 1))
            .unwrap()
            .rate_percent,
        dec!(4.50)
    );
}
