//! The dunning engine: stage boundaries, customer kinds, grouping, segments, the
//! reconcile-then-remind gate, idempotency keys, sending days, caps and the JSON contract.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod dunning_support;

use chrono::Duration;
use dunning_support::*;
use relance_core::dunning::segment::PaidRecord;
use relance_core::dunning::{plan, Channel, SentAction, Stage};
use relance_core::model::CustomerKind;
use relance_core::{CustomerId, InvoiceId};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// What a table row expects: the stage, step and channel of the planned action, if any.
type Expect = Option<(Stage, u32, Channel)>;
/// A row with history: days overdue, actions already sent, expected stage and step.
type HistoryRow = (i64, Vec<SentAction>, Option<(Stage, u32)>);

/// (days overdue, expected stage and step, or None) for a new business customer with no
/// history: the default ladder D-5 préventive, D+1 amiable e-mail, D+7 amiable call,
/// D+15 formelle (mandatory), D+45 mise en demeure, D+60 contentieux.
#[test]
fn stage_boundaries_without_history() {
    let table: &[(i64, Expect)] = &[
        (-6, None),
        (-5, Some((Stage::Preventive, 0, Channel::Email))),
        (-1, Some((Stage::Preventive, 0, Channel::Email))),
        (0, None),
        (1, Some((Stage::Amiable, 0, Channel::Email))),
        (6, Some((Stage::Amiable, 0, Channel::Email))),
        (7, Some((Stage::Amiable, 1, Channel::PhoneTask))),
        (14, Some((Stage::Amiable, 1, Channel::PhoneTask))),
        (15, Some((Stage::Formelle, 0, Channel::Email))),
        // Catching up never skips the mandatory formal reminder (penalties stated first).
        (45, Some((Stage::Formelle, 0, Channel::Email))),
        (200, Some((Stage::Formelle, 0, Channel::Email))),
    ];
    for (days, want) in table {
        let inp = input(
            vec![customer("C1", CustomerKind::Business)],
            vec![invoice("F1", "C1", *days, dec!(1000))],
        );
        let p = plan(&inp, today()).unwrap();
        let got = p.actions.first().map(|a| (a.stage, a.step, a.channel));
        assert_eq!(got, *want, "D{days:+}");
        assert!(p.held.is_empty(), "D{days:+}: {:?}", p.held);
    }
}

fn sent(stage: Stage, step: u32, inv: &str, days_ago: i64) -> SentAction {
    SentAction {
        customer: CustomerId::new("C1"),
        stage,
        step,
        invoices: vec![InvoiceId::new(inv)],
        date: today() - Duration::days(days_ago),
    }
}

/// With history: the next step only when its offset is reached AND its delay since the
/// previous action has passed; never a step twice; nothing after contentieux.
#[test]
fn stage_boundaries_with_history() {
    // (days overdue, history, expected)
    let table: Vec<HistoryRow> = vec![
        // préventive sent at D-5, now D-3: nothing twice.
        (-3, vec![sent(Stage::Preventive, 0, "F1", 2)], None),
        // formelle sent at D+15, now D+44: mise en demeure not yet (offset 45).
        (44, vec![sent(Stage::Formelle, 0, "F1", 29)], None),
        // ... D+45: mise en demeure (30 days since the formal reminder ≥ 15).
        (
            45,
            vec![sent(Stage::Formelle, 0, "F1", 30)],
            Some((Stage::MiseEnDemeure, 0)),
        ),
        // formelle sent late at D+40, now D+45: only 5 days since, 15 required.
        (45, vec![sent(Stage::Formelle, 0, "F1", 5)], None),
        // ... D+55: 15 days since, mise en demeure.
        (
            55,
            vec![sent(Stage::Formelle, 0, "F1", 15)],
            Some((Stage::MiseEnDemeure, 0)),
        ),
        // mise en demeure at D+45, now D+59: offset 60 not reached.
        (59, vec![sent(Stage::MiseEnDemeure, 0, "F1", 14)], None),
        // ... D+60: contentieux.
        (
            60,
            vec![sent(Stage::MiseEnDemeure, 0, "F1", 15)],
            Some((Stage::Contentieux, 0)),
        ),
        // amiable e-mail at D+1, now D+7 (6 days since, 5 required): the call.
        (
            7,
            vec![sent(Stage::Amiable, 0, "F1", 6)],
            Some((Stage::Amiable, 1)),
        ),
        // amiable e-mail at D+4, now D+7: only 3 days since, call waits.
        (7, vec![sent(Stage::Amiable, 0, "F1", 3)], None),
    ];
    for (days, history, want) in table {
        let mut inp = input(
            vec![customer("C1", CustomerKind::Business)],
            vec![invoice("F1", "C1", days, dec!(1000))],
        );
        inp.history = history.clone();
        let p = plan(&inp, today()).unwrap();
        assert_eq!(
            p.actions.first().map(|a| (a.stage, a.step)),
            want,
            "D{days:+} after {history:?}"
        );
    }
    // After contentieux: held, dunning stopped.
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", 90, dec!(1000))],
    );
    inp.history = vec![sent(Stage::Contentieux, 0, "F1", 10)];
    let p = plan(&inp, today()).unwrap();
    assert!(p.actions.is_empty());
    assert!(p.held[0].reason.contains("contentieux"));
}

/// One reminder per customer and step, listing all its invoices at that step; the 40 € once
/// per invoice for a business.
#[test]
fn grouping_one_action_per_customer_and_step() {
    let inp = input(
        vec![
            customer("C1", CustomerKind::Business),
            customer("C2", CustomerKind::Business),
        ],
        vec![
            invoice("F1", "C1", 20, dec!(1000)),
            invoice("F2", "C1", 16, dec!(500)),
            invoice("F3", "C1", 3, dec!(200)),
            invoice("F4", "C2", 20, dec!(100)),
        ],
    );
    let p = plan(&inp, today()).unwrap();
    let summary: Vec<_> = p
        .actions
        .iter()
        .map(|a| {
            (
                a.customer.as_str(),
                a.stage,
                a.invoices
                    .iter()
                    .map(|i| i.invoice.as_str())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("C1", Stage::Amiable, vec!["F3"]),
            ("C1", Stage::Formelle, vec!["F1", "F2"]),
            ("C2", Stage::Formelle, vec!["F4"]),
        ]
    );
    let formal = &p.actions[1];
    assert_eq!(formal.total_indemnity, dec!(80.00), "40 € once per invoice");
    assert!(formal.invoices.iter().all(|i| i.indemnity == dec!(40.00)));
}

/// Penalty of a stage-2 reminder, business, 20 days overdue at 12,15 % (H1 2026):
/// 1 000 × 12,15 % × 20 / 365 = 121,5 × 20 / 365 = 6,6575 → 6,66; rate row cited.
#[test]
fn business_penalty_in_plan() {
    let inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", 20, dec!(1000))],
    );
    let p = plan(&inp, today()).unwrap();
    let i = &p.actions[0].invoices[0];
    assert_eq!(
        (i.penalty, i.indemnity, i.days_overdue),
        (dec!(6.66), dec!(40.00), 20)
    );
    assert!(
        i.rate_source
            .contains("ecb_mro@2025-06-11 2.15% in force 2026-01-01"),
        "{}",
        i.rate_source
    );
}

/// Customer kinds: consumer — no 40 €, no penalty before the mise en demeure; public entity
/// without a due date — 30 days after issue (CCP R2192-10); public hospital — 50 days (R2192-11).
#[test]
fn customer_kinds() {
    let inp = input(
        vec![customer("P", CustomerKind::Consumer)],
        vec![invoice("F1", "P", 20, dec!(1000))],
    );
    let a = &plan(&inp, today()).unwrap().actions[0];
    assert_eq!(
        (a.stage, a.invoices[0].penalty, a.invoices[0].indemnity),
        (Stage::Formelle, dec!(0), dec!(0))
    );
    assert_eq!(a.customer_kind, CustomerKind::Consumer);

    // Consumer after a mise en demeure 10 days ago: legal interest (2,62 %, H1 2026) from the
    // day after: 1 000 × 2,62 % × 10 / 365 = 26,2 × 10 / 365 = 0,7178 → 0,72; still no 40 €.
    let mut inp = input(
        vec![customer("P", CustomerKind::Consumer)],
        vec![invoice("F1", "P", 60, dec!(1000))],
    );
    inp.history = vec![SentAction {
        customer: "P".into(),
        ..sent(Stage::MiseEnDemeure, 0, "F1", 10)
    }];
    inp.policy.steps[5].min_days_since_previous = 10; // let contentieux come now
    let a = &plan(&inp, today()).unwrap().actions[0];
    assert_eq!(
        (a.stage, a.invoices[0].penalty, a.invoices[0].indemnity),
        (Stage::Contentieux, dec!(0.72), dec!(0))
    );

    for (kind, term, stage) in [
        (CustomerKind::PublicEntity, 30, Stage::Amiable),
        (CustomerKind::PublicHospital, 50, Stage::Preventive),
    ] {
        let mut inv = invoice("F1", "G", 0, dec!(1000));
        inv.due_date = None;
        inv.issue_date = today() - Duration::days(32); // 30 days: D+2; 50 days: D-18 → nothing
        let inp = input(vec![customer("G", kind)], vec![inv.clone()]);
        let p = plan(&inp, today()).unwrap();
        if kind == CustomerKind::PublicEntity {
            assert_eq!(p.actions[0].stage, stage);
            assert_eq!(
                p.actions[0].invoices[0].due_date,
                inv.issue_date + Duration::days(term)
            );
        } else {
            assert!(p.actions.is_empty(), "hospital: 50-day term, not due yet");
            // 46 days after issue: D-4 → préventive.
            let mut inv2 = inv.clone();
            inv2.issue_date = today() - Duration::days(46);
            let p = plan(&input(vec![customer("G", kind)], vec![inv2]), today()).unwrap();
            assert_eq!(p.actions[0].stage, stage);
        }
    }

    // Public entity at the formal stage: intérêts moratoires MRO + 8 = 10,15 %, and 40 €:
    // 1 000 × 10,15 % × 20 / 365 = 101,5 × 20 / 365 = 5,5616 → 5,56.
    let p = plan(
        &input(
            vec![customer("G", CustomerKind::PublicEntity)],
            vec![invoice("F1", "G", 20, dec!(1000))],
        ),
        today(),
    )
    .unwrap();
    assert_eq!(
        (
            p.actions[0].invoices[0].penalty,
            p.actions[0].invoices[0].indemnity
        ),
        (dec!(5.56), dec!(40.00))
    );
}

fn history(records: &[(i64, i64)]) -> Vec<PaidRecord> {
    // (due days ago, paid days after due)
    records
        .iter()
        .map(|(ago, late)| {
            let due = today() - Duration::days(*ago);
            PaidRecord {
                due_date: due,
                paid_date: due + Duration::days(*late),
            }
        })
        .collect()
}

/// Segments change schedule and tone: a good payer gets no préventive and 3 more days; a
/// chronic late payer 3 days fewer and the firm tone.
#[test]
fn segments_change_schedule_and_tone() {
    let run = |hist: Vec<PaidRecord>, days: i64| {
        let mut inp = input(
            vec![customer("C1", CustomerKind::Business)],
            vec![invoice("F1", "C1", days, dec!(1000))],
        );
        inp.payment_history.insert("C1".into(), hist);
        plan(&inp, today()).unwrap().actions.into_iter().next()
    };
    let good = history(&[(200, 0), (150, 2), (100, 0), (50, 1)]);
    let chronic = history(&[(200, 30), (150, 40), (100, 25), (50, 35)]);
    assert!(run(good.clone(), -3).is_none(), "good payer: no préventive");
    assert!(run(good.clone(), 3).is_none(), "good payer: amiable at D+4");
    let a = run(good, 4).unwrap();
    assert_eq!(
        (a.stage, a.segment.as_str(), a.tone.as_str()),
        (Stage::Amiable, "good_payer", "courteous")
    );
    let a = run(chronic.clone(), 12).unwrap();
    assert_eq!(
        (a.stage, a.segment.as_str(), a.tone.as_str()),
        (Stage::Formelle, "chronic", "firm")
    );
    let a = run(chronic, 1).unwrap();
    assert_eq!(
        a.stage,
        Stage::Amiable,
        "shift never moves a step before D+1"
    );
    let a = run(history(&[(200, 0), (150, 9), (100, 0), (50, 0)]), 1).unwrap();
    assert_eq!(a.segment.as_str(), "occasional");
}

/// Reconcile-then-remind: a customer whose payment is on the latest statement gets no
/// reminder — whether reconciliation applied it (open amount 0) or not yet (unapplied
/// credit); a partial payment yields a reminder for the remainder only.
#[test]
fn payment_on_latest_statement_means_no_reminder() {
    let base = || {
        input(
            vec![customer("C1", CustomerKind::Business)],
            vec![invoice("F1", "C1", 20, dec!(1000))],
        )
    };
    // Applied: open 0 after reconciliation → nothing, not even held.
    let mut inp = base();
    inp.open_amounts.insert("F1".into(), dec!(0));
    let p = plan(&inp, today()).unwrap();
    assert!(p.actions.is_empty() && p.held.is_empty());
    // Not yet applied: held with the reason.
    let mut inp = base();
    inp.unapplied_credits.insert("C1".into(), dec!(1000));
    let p = plan(&inp, today()).unwrap();
    assert!(p.actions.is_empty());
    assert!(p.held[0].reason.contains("not yet applied"), "{:?}", p.held);
    // Partial: 600 of 1000 applied → remind 400, penalty on 400:
    // 400 × 12,15 % × 20 / 365 = 48,6 × 20 / 365 = 2,6630 → 2,66; 40 € still due once.
    let mut inp = base();
    inp.open_amounts.insert("F1".into(), dec!(400));
    let a = &plan(&inp, today()).unwrap().actions[0];
    assert_eq!(
        (
            a.invoices[0].amount_due,
            a.invoices[0].penalty,
            a.invoices[0].indemnity
        ),
        (dec!(400), dec!(2.66), dec!(40.00))
    );
    assert_eq!(a.total_due, dec!(400));
    // An open credit note counts as an unapplied credit.
    let mut inp = base();
    let mut cn = invoice("AV1", "C1", 0, dec!(50));
    cn.kind = relance_core::InvoiceKind::CreditNote;
    inp.invoices.push(cn);
    assert!(plan(&inp, today()).unwrap().actions.is_empty());
    // Covering policy: a credit smaller than the invoice does not hold it.
    let mut inp = base();
    inp.policy.unapplied_credit_hold = relance_core::dunning::policy::UnappliedCreditHold::Covering;
    inp.unapplied_credits.insert("C1".into(), dec!(100));
    assert_eq!(plan(&inp, today()).unwrap().actions.len(), 1);
}

/// Stale or missing bank data holds every action (default: older than 3 days).
#[test]
fn stale_bank_data_holds() {
    for (as_of, held) in [(Some(3), false), (Some(4), true), (None, true)] {
        let mut inp = input(
            vec![customer("C1", CustomerKind::Business)],
            vec![invoice("F1", "C1", 20, dec!(1000))],
        );
        inp.bank_data_as_of = as_of.map(|n| today() - Duration::days(n));
        let p = plan(&inp, today()).unwrap();
        assert_eq!(p.actions.is_empty(), held, "{as_of:?}");
        assert_eq!(
            p.held
                .iter()
                .any(|h| h.reason.contains("reconcile before reminding")),
            held
        );
    }
}

/// Keys are deterministic, independent of the plan date for the same facts, and differ for
/// another invoice set.
#[test]
fn idempotency_keys() {
    let inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", 20, dec!(1000))],
    );
    let k1 = plan(&inp, today()).unwrap().actions[0].key.clone();
    assert_eq!(k1, plan(&inp, today()).unwrap().actions[0].key);
    // Same facts seen one day later (e.g. after a crash before the outbox was written).
    let k2 = plan(&inp, today() + Duration::days(1)).unwrap().actions[0]
        .key
        .clone();
    assert_eq!(k1, k2);
    assert!(k1.starts_with("relance-dunning-"));
    let mut inp2 = inp.clone();
    inp2.invoices.push(invoice("F2", "C1", 20, dec!(5)));
    assert_ne!(k1, plan(&inp2, today()).unwrap().actions[0].key);
}

/// Simulation: run the engine every day from D-10 to D+90 (skipping some days), recording what
/// it plans; stages never go backwards, no step repeats, no key repeats, and the ladder ends at
/// contentieux.
#[test]
fn never_backwards_never_twice() {
    let inv = invoice("F1", "C1", 0, dec!(1000)); // due today()
    let mut inp = input(vec![customer("C1", CustomerKind::Business)], vec![inv]);
    let mut keys = std::collections::HashSet::new();
    let mut last = None;
    let mut stages = Vec::new();
    for n in -10..=90i64 {
        if n % 7 == 3 {
            continue; // the daemon was down that day
        }
        let day = today() + Duration::days(n);
        inp.bank_data_as_of = Some(day);
        let p = plan(&inp, day).unwrap();
        for a in p.actions {
            assert!(keys.insert(a.key.clone()), "key repeated on {day}");
            let s = (a.stage, a.step);
            assert!(
                last.is_none_or(|l| s > l),
                "went backwards or repeated on {day}: {s:?} after {last:?}"
            );
            last = Some(s);
            stages.push((n, a.stage.number(), a.step));
            inp.history.push(SentAction {
                customer: a.customer,
                stage: a.stage,
                step: a.step,
                invoices: a.invoices.into_iter().map(|i| i.invoice).collect(),
                date: day,
            });
        }
    }
    // D-5 préventive, D+1 e-mail, D+7 call, D+15 formelle; D+45 was a down day, so the
    // mise en demeure goes on D+46 and contentieux 15 days later, D+61 (not D+60).
    assert_eq!(
        stages,
        vec![
            (-5, 0, 0),
            (1, 1, 0),
            (7, 1, 1),
            (15, 2, 0),
            (46, 3, 0),
            (61, 4, 0)
        ]
    );
}

/// Sending days: a Saturday plan is scheduled for Monday; 14 July for the 15th; a daily cap
/// keeps the most advanced stages and defers the rest.
#[test]
fn sending_days_and_cap() {
    let inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", 20, dec!(1000))],
    );
    let sat = d(2026, 3, 7);
    let mut i2 = inp.clone();
    i2.bank_data_as_of = Some(sat);
    assert_eq!(
        plan(&i2, sat).unwrap().actions[0].scheduled_for,
        d(2026, 3, 9)
    );
    assert_eq!(
        plan(&inp, today()).unwrap().actions[0].window,
        "09:00-18:00"
    );

    let mut inp = input(
        vec![
            customer("C1", CustomerKind::Business),
            customer("C2", CustomerKind::Business),
            customer("C3", CustomerKind::Business),
        ],
        vec![
            invoice("F1", "C1", 2, dec!(1000)),
            invoice("F2", "C2", 20, dec!(10)),
            invoice("F3", "C3", 20, dec!(900)),
        ],
    );
    inp.policy.sending.max_actions_per_day = Some(3);
    inp.history.push(SentAction {
        customer: "C9".into(),
        stage: Stage::Amiable,
        step: 0,
        invoices: vec![],
        date: today(),
    });
    let p = plan(&inp, today()).unwrap();
    let kept: Vec<_> = p.actions.iter().map(|a| a.customer.as_str()).collect();
    assert_eq!(kept, vec!["C2", "C3"]);
    assert_eq!(p.deferred.len(), 1);
    assert_eq!(p.deferred[0].customer.as_str(), "C1");
}

/// Prescription alerts: a business claim due 1/6/2021 is time-barred after 1/6/2026 —
/// warned at 2/3/2026 (91 days before, within the 180-day window).
#[test]
fn prescription_alert() {
    let mut inv = invoice("F1", "C1", 0, dec!(1000));
    inv.due_date = Some(d(2021, 6, 1));
    let mut inp = input(vec![customer("C1", CustomerKind::Business)], vec![inv]);
    inp.history.push(sent(Stage::Contentieux, 0, "F1", 100));
    let p = plan(&inp, today()).unwrap();
    let a = p.alerts.iter().find(|a| a.kind == "prescription").unwrap();
    assert_eq!(a.deadline, Some(d(2026, 6, 1)));
    // The consumer deadline is 2 years, the public one 31 December of year + 4.
    use relance_core::dunning::prescription::deadline;
    assert_eq!(
        deadline(CustomerKind::Consumer, d(2025, 3, 10)),
        d(2027, 3, 10)
    );
    assert_eq!(
        deadline(CustomerKind::PublicEntity, d(2025, 3, 10)),
        d(2029, 12, 31)
    );
    // Credit-risk alert: 12 000 over 90 days past due (limit 10 000).
    assert!(p.alerts.iter().all(|a| a.kind != "credit_risk"));
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", 100, dec!(12000))],
    );
    inp.bank_data_as_of = Some(today());
    assert!(plan(&inp, today())
        .unwrap()
        .alerts
        .iter()
        .any(|a| a.kind == "credit_risk"));
}

/// The JSON contract the CLI prints: exactly these fields (extra ones allowed), amounts as
/// decimal strings.
#[test]
fn json_contract() {
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![
            invoice("F1", "C1", 20, dec!(1000)),
            invoice("F2", "C1", 20, dec!(10)),
        ],
    );
    inp.lifecycle_status.insert("F2".into(), 207);
    let v = serde_json::to_value(plan(&inp, today()).unwrap()).unwrap();
    let a = &v["actions"][0];
    for k in ["customer", "stage", "channel", "invoices", "reason"] {
        assert!(a.get(k).is_some(), "missing {k}");
    }
    let i = &a["invoices"][0];
    assert_eq!(i["invoice"], "F1");
    assert_eq!(i["amount_due"], "1000.00");
    assert_eq!(i["days_overdue"], 20);
    assert_eq!(i["penalty"], "6.66");
    assert_eq!(i["indemnity"], "40.00");
    assert!(i["rate_source"].as_str().unwrap().contains("L441-10"));
    assert_eq!(a["stage"], 2);
    assert_eq!(a["channel"], "email");
    assert_eq!(v["held"][0]["invoice"], "F2");
    assert!(v["held"][0]["reason"].as_str().unwrap().contains("207"));
    // The cited rows come with their figures and sources, once per plan.
    assert!(v["rate_rows"]["ecb_mro@2025-06-11"]
        .as_str()
        .unwrap()
        .contains("https://"));
    assert!(v["rate_rows"]["indemnity"]
        .as_str()
        .unwrap()
        .contains("D441-5"));
    let _ = Decimal::ZERO;
}

/// French public holidays, fixed and Easter-based (2026: Easter 5 April, Ascension 14 May,
/// Whit Monday 25 May).
#[test]
fn french_holidays() {
    use relance_core::dunning::calendar::{easter, is_french_holiday};
    assert_eq!(easter(2026), Some(d(2026, 4, 5)));
    assert_eq!(easter(2025), Some(d(2025, 4, 20)));
    for h in [
        d(2026, 1, 1),
        d(2026, 4, 6),
        d(2026, 5, 1),
        d(2026, 5, 8),
        d(2026, 5, 14),
        d(2026, 5, 25),
        d(2026, 7, 14),
        d(2026, 8, 15),
        d(2026, 11, 1),
        d(2026, 11, 11),
        d(2026, 12, 25),
    ] {
        assert!(is_french_holiday(h), "{h}");
    }
    assert!(!is_french_holiday(d(2026, 4, 7)));
    // A plan on 14 July is scheduled for the 15th.
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", 20, dec!(1000))],
    );
    inp.rates.ecb_mro.confirmed_until = d(2026, 7, 14); // test only: pretend H2 2026 is known
    inp.bank_data_as_of = Some(d(2026, 7, 14));
    let mut inv = invoice("F1", "C1", 0, dec!(1000));
    inv.due_date = Some(d(2026, 6, 24));
    inp.invoices = vec![inv];
    assert_eq!(
        plan(&inp, d(2026, 7, 14)).unwrap().actions[0].scheduled_for,
        d(2026, 7, 15)
    );
}

/// A penalty needing a rate the table lacks (H2 2026) never stops the plan. Steps that state
/// no penalty go out as usual; a formal reminder states the legal clause without an amount
/// (default `state_clause`), or, with `on_missing_rate = "hold"`, only that invoice is held;
/// either way the reason and one alert per row name the table, the rate kind and the period,
/// the 40 € is still stated, and nothing is guessed.
#[test]
fn missing_rate_never_stops_the_plan() {
    use relance_core::dunning::penalty::RateKind;
    use relance_core::dunning::policy::MissingRatePolicy;
    use relance_core::dunning::rates::TableName;
    let day = d(2026, 7, 20);
    let mut inp = input(
        vec![
            customer("C1", CustomerKind::Business),
            customer("C2", CustomerKind::Business),
            customer("P", CustomerKind::Consumer),
            customer("S", CustomerKind::PublicEntity),
        ],
        vec![
            invoice("F1", "C1", 0, dec!(1000)),
            invoice("F2", "C2", 0, dec!(1000)),
            invoice("F3", "P", 0, dec!(1000)),
            invoice("F4", "S", 0, dec!(1000)),
        ],
    );
    inp.invoices[0].due_date = Some(d(2026, 7, 10)); // D+10: amiable, states no penalty
    inp.invoices[1].due_date = Some(d(2026, 6, 1)); // D+49: formelle first (mandatory)
    inp.invoices[2].due_date = Some(d(2026, 6, 1)); // consumer: no rate before a mise en demeure
    inp.invoices[3].due_date = Some(d(2026, 5, 1)); // public: rate of H1, the delay's start
    inp.bank_data_as_of = Some(day);

    let p = plan(&inp, day).unwrap();
    assert!(p.held.is_empty(), "{:?}", p.held);
    assert_eq!(p.actions.len(), 4, "{:?}", p.actions);
    let by = |c: &str| p.actions.iter().find(|a| a.customer.as_str() == c).unwrap();
    let amiable = by("C1");
    assert_eq!(amiable.stage, Stage::Amiable);
    assert!(
        !amiable.reason.contains("penalty amount not stated"),
        "{}",
        amiable.reason
    );
    let formal = by("C2");
    assert_eq!(formal.stage, Stage::Formelle);
    let f2 = &formal.invoices[0];
    assert_eq!(f2.penalty, dec!(0));
    assert_eq!(
        f2.indemnity,
        dec!(40),
        "the 40 € is a fixed amount: still stated"
    );
    let m = f2
        .missing_rate
        .as_ref()
        .expect("the missing row is carried");
    assert_eq!(m.row.table, TableName::EcbMro);
    assert_eq!(m.row.period_start, d(2026, 7, 1));
    assert_eq!(m.row.period_end, d(2026, 12, 31));
    assert_eq!(m.kind, RateKind::B2bStatutory);
    for text in [&formal.reason, &f2.rate_source] {
        assert!(text.contains("ecb_mro"), "{text}");
        assert!(text.contains("2026-07-01"), "{text}");
        assert!(text.contains("MRO + 10"), "{text}");
    }
    assert_eq!(by("P").invoices[0].penalty, dec!(0));
    assert!(by("P").invoices[0].missing_rate.is_none());
    // Public buyer: MRO in force on 1 January 2026 + 8 = 10.15 %, fixed for the delay.
    assert!(by("S").invoices[0].penalty > dec!(0));
    assert!(by("S").invoices[0].missing_rate.is_none());
    let alerts: Vec<_> = p
        .alerts
        .iter()
        .filter(|a| a.kind == "missing_rate")
        .collect();
    assert_eq!(alerts.len(), 1, "one alert per missing row: {alerts:?}");
    assert!(
        alerts[0].message.contains("ecb_mro"),
        "{}",
        alerts[0].message
    );
    assert!(
        alerts[0].message.contains("2026-07-01"),
        "{}",
        alerts[0].message
    );
    assert_eq!(p.missing_rates.len(), 1);
    assert_eq!(p.missing_rates[0].row.table, TableName::EcbMro);
    assert_eq!(
        p.missing_rates[0]
            .invoices
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>(),
        ["F1", "F2"]
    );
    assert!(p.missing_rates[0].held.is_empty());

    inp.policy.on_missing_rate = MissingRatePolicy::Hold;
    let p = plan(&inp, day).unwrap();
    assert_eq!(p.held.len(), 1, "{:?}", p.held);
    assert_eq!(p.held[0].invoice.as_str(), "F2");
    assert!(p.held[0].reason.contains("ecb_mro"), "{}", p.held[0].reason);
    assert!(
        p.held[0].reason.contains("2026-07-01"),
        "{}",
        p.held[0].reason
    );
    assert!(p.held[0].reason.contains("hold"), "{}", p.held[0].reason);
    assert_eq!(
        p.actions.len(),
        3,
        "the amiable, consumer and public reminders go out"
    );
    assert!(p.actions.iter().all(|a| a.customer.as_str() != "C2"));
    assert_eq!(p.missing_rates[0].held.len(), 1);
    assert!(p.alerts.iter().any(|a| a.kind == "missing_rate"));

    // The old configuration value is refused with the choices, not silently accepted.
    let e = toml::from_str::<relance_core::dunning::Policy>("on_missing_rate = \"error\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("state_clause") && e.contains("hold"), "{e}");
}

/// Contact frequency: an invoice reaching its step the day after another one's reminder
/// waits (3 days by default) and then goes with whatever else is due; same-day actions are
/// not affected.
#[test]
fn contact_frequency_per_customer() {
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![
            invoice("F1", "C1", 2, dec!(1000)),
            invoice("F2", "C1", 1, dec!(500)),
        ],
    );
    inp.history = vec![sent(Stage::Amiable, 0, "F1", 1)]; // F1 reminded yesterday
    assert!(plan(&inp, today()).unwrap().actions.is_empty(), "F2 waits");
    let later = today() + Duration::days(2);
    inp.bank_data_as_of = Some(later);
    let p = plan(&inp, later).unwrap();
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].invoices[0].invoice.as_str(), "F2");
    inp.policy.sending.min_days_between_contacts = 0;
    inp.bank_data_as_of = Some(today());
    assert_eq!(plan(&inp, today()).unwrap().actions.len(), 1);
}

/// A due date the document did not give (missing, or invalid and dropped by the parser) is
/// never silently invented: the action's reason and the invoice say it was assumed, from which
/// policy term.
#[test]
fn assumed_due_date_is_said() {
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", 20, dec!(1000))],
    );
    inp.invoices[0].due_date = None;
    inp.invoices[0].issue_date = d(2026, 1, 1); // + 30 days = 31/01, D+30 on 2/3
    let p = plan(&inp, today()).unwrap();
    let a = &p.actions[0];
    assert_eq!(a.invoices[0].due_date, d(2026, 1, 31));
    let note = a.invoices[0].due_date_note.as_deref().unwrap();
    for text in [note, a.reason.as_str()] {
        assert!(text.contains("no usable due date"), "{text}");
        assert!(text.contains("2026-01-31 assumed"), "{text}");
        assert!(text.contains("dunning.terms.business_days"), "{text}");
    }
    // A due date given by the document: no note.
    inp.invoices[0].due_date = Some(d(2026, 1, 31));
    let p = plan(&inp, today()).unwrap();
    assert!(p.actions[0].invoices[0].due_date_note.is_none());
    assert!(!p.actions[0].reason.contains("assumed"));
}

/// A mise en demeure by LRAR is never planned without both postal addresses: held, the reason
/// saying which one is missing (or what is lacking in it), one alert per customer.
#[test]
fn registered_letter_needs_both_addresses() {
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![
            invoice("F1", "C1", 45, dec!(1000)),
            invoice("F2", "C1", 45, dec!(500)),
        ],
    );
    inp.history = vec![SentAction {
        customer: "C1".into(),
        stage: Stage::Formelle,
        step: 0,
        invoices: vec!["F1".into(), "F2".into()],
        date: today() - Duration::days(30),
    }];
    let p = plan(&inp, today()).unwrap();
    assert_eq!(p.actions[0].stage, Stage::MiseEnDemeure, "{:?}", p.held);

    let mut no_recipient = inp.clone();
    no_recipient.customers[0].address = None;
    let mut incomplete = inp.clone();
    if let Some(a) = incomplete.customers[0].address.as_mut() {
        a.postcode = None;
    }
    let mut no_sender = inp.clone();
    no_sender.sender_address = None;
    for (name, case, want) in [
        (
            "no recipient address",
            no_recipient,
            "the postal address of Client C1 (the recipient) is missing",
        ),
        (
            "incomplete",
            incomplete,
            "(the recipient) is incomplete (no post code)",
        ),
        (
            "no sender address",
            no_sender,
            "the company's postal address (the sender of the letter) is missing",
        ),
    ] {
        let p = plan(&case, today()).unwrap();
        assert!(p.actions.is_empty(), "{name}: {:?}", p.actions);
        assert_eq!(p.held.len(), 2, "{name}");
        for h in &p.held {
            assert!(h.reason.contains(want), "{name}: {}", h.reason);
            assert!(
                h.reason.contains("lettre recommandée"),
                "{name}: {}",
                h.reason
            );
        }
        let alerts: Vec<_> = p
            .alerts
            .iter()
            .filter(|a| a.kind == "missing_address")
            .collect();
        assert_eq!(alerts.len(), 1, "{name}: {alerts:?}");
    }
    // E-mail steps need no postal address.
    let mut early = inp.clone();
    early.history.clear();
    early.customers[0].address = None;
    early.sender_address = None;
    for i in &mut early.invoices {
        i.due_date = Some(today() - Duration::days(20));
    }
    assert_eq!(plan(&early, today()).unwrap().actions.len(), 1);
}
