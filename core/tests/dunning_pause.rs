//! Pauses and stops, one table row each: disputes, promises, payment plans, manual holds,
//! procédures collectives, factoring, e-invoicing lifecycle statuses.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod dunning_support;

use chrono::Duration;
use dunning_support::*;
use relance_core::dunning::pause::{declaration_deadline, Pause, PauseKind, Procedure};
use relance_core::dunning::{plan, Plan, Stage};
use relance_core::model::CustomerKind;
use relance_core::{CustomerId, InvoiceId};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn run(pauses: Vec<Pause>, status: Option<u16>, days: i64) -> Plan {
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![invoice("F1", "C1", days, dec!(1000))],
    );
    inp.pauses = pauses;
    if let Some(s) = status {
        inp.lifecycle_status.insert("F1".into(), s);
    }
    plan(&inp, today()).unwrap()
}

fn on_invoice(kind: PauseKind) -> Pause {
    Pause {
        customer: CustomerId::new("C1"),
        invoice: Some(InvoiceId::new("F1")),
        kind,
    }
}

fn on_customer(kind: PauseKind) -> Pause {
    Pause {
        customer: CustomerId::new("C1"),
        invoice: None,
        kind,
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    Held(&'static str),
    Act(Stage),
}

#[test]
fn pauses_table() {
    let t = today();
    let rows: Vec<(&str, Vec<Pause>, Option<u16>, Want)> = vec![
        ("no pause", vec![], None, Want::Act(Stage::Formelle)),
        (
            "whole-invoice dispute",
            vec![on_invoice(PauseKind::Dispute {
                since: t,
                disputed_amount: None,
                note: "livraison incomplète".into(),
            })],
            None,
            Want::Held("litige"),
        ),
        (
            "promise in the future",
            vec![on_customer(PauseKind::PromiseToPay {
                date: t + Duration::days(5),
                amount: None,
                paid: Decimal::ZERO,
                announced: None,
            })],
            None,
            Want::Held("promise"),
        ),
        (
            "promise within grace",
            vec![on_customer(PauseKind::PromiseToPay {
                date: t - Duration::days(2),
                amount: None,
                paid: Decimal::ZERO,
                announced: None,
            })],
            None,
            Want::Held("promise"),
        ),
        (
            "promise broken",
            vec![on_customer(PauseKind::PromiseToPay {
                date: t - Duration::days(3),
                amount: None,
                paid: Decimal::ZERO,
                announced: None,
            })],
            None,
            Want::Act(Stage::Formelle),
        ),
        (
            "payment plan on track",
            vec![on_customer(PauseKind::PaymentPlan {
                instalments: vec![
                    (t - Duration::days(10), dec!(500)),
                    (t + Duration::days(20), dec!(500)),
                ],
                paid: dec!(500),
            })],
            None,
            Want::Held("échéancier on track"),
        ),
        (
            "manual hold on the invoice",
            vec![on_invoice(PauseKind::Hold {
                until: None,
                reason: "accord commercial".into(),
            })],
            None,
            Want::Held("manual hold"),
        ),
        (
            "manual hold on the customer",
            vec![on_customer(PauseKind::Hold {
                until: Some(t),
                reason: "vu avec le DAF".into(),
            })],
            None,
            Want::Held("manual hold until"),
        ),
        (
            "manual hold expired",
            vec![on_customer(PauseKind::Hold {
                until: Some(t - Duration::days(1)),
                reason: "x".into(),
            })],
            None,
            Want::Act(Stage::Formelle),
        ),
        (
            "procédure collective",
            vec![on_customer(PauseKind::ProcedureCollective {
                procedure: Procedure::Redressement,
                judgment_date: t - Duration::days(10),
                bodacc_publication: Some(t - Duration::days(3)),
                creditor_abroad: false,
                declaration_deadline: None,
            })],
            None,
            Want::Held("L622-21"),
        ),
        (
            "factored",
            vec![on_invoice(PauseKind::Factored {
                factor: "BPI Factor".into(),
            })],
            None,
            Want::Held("factor"),
        ),
        ("status 207 en litige", vec![], Some(207), Want::Held("207")),
        ("status 208 suspendue", vec![], Some(208), Want::Held("208")),
        ("status 210 refusée", vec![], Some(210), Want::Held("210")),
        (
            "status 213 rejetée",
            vec![],
            Some(213),
            Want::Held("not started"),
        ),
        (
            "status 212 encaissée",
            vec![],
            Some(212),
            Want::Held("Encaissée"),
        ),
        (
            "status 205 approuvée",
            vec![],
            Some(205),
            Want::Act(Stage::Formelle),
        ),
    ];
    for (name, pauses, status, want) in rows {
        let p = run(pauses, status, 20);
        let got = match (p.actions.first(), p.held.first()) {
            (Some(a), None) => Want::Act(a.stage),
            (None, Some(h)) => {
                assert!(
                    h.reason.contains(match &want {
                        Want::Held(s) => s,
                        Want::Act(_) => "",
                    }),
                    "{name}: {}",
                    h.reason
                );
                match want {
                    Want::Held(s) => Want::Held(s),
                    Want::Act(_) => Want::Held("?"),
                }
            }
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(got, want, "{name}");
    }
}

/// A refused (210) or rejected (213) e-invoice raises an alert naming what to do; a disputed
/// one (207) does not (the hold says why).
#[test]
fn refused_and_rejected_einvoices_alert() {
    for (code, kind) in [
        (210, Some("einvoice_refused")),
        (213, Some("einvoice_rejected")),
        (207, None),
    ] {
        let p = run(vec![], Some(code), 20);
        let got = p
            .alerts
            .iter()
            .find(|a| a.kind.starts_with("einvoice_"))
            .map(|a| (a.kind.as_str(), a.invoice.clone()));
        assert_eq!(got, kind.map(|k| (k, Some(InvoiceId::new("F1")))), "{code}");
        assert!(p.actions.is_empty(), "{code}: not dunned");
    }
}

/// A partial dispute leaves the undisputed remainder to dun (french-rules §6.7).
#[test]
fn partial_dispute_duns_the_remainder() {
    let p = run(
        vec![on_invoice(PauseKind::Dispute {
            since: today(),
            disputed_amount: Some(dec!(300)),
            note: "2 articles manquants".into(),
        })],
        None,
        20,
    );
    assert_eq!(p.actions[0].invoices[0].amount_due, dec!(700));
    assert!(p.actions[0].reason.contains("litige"));
}

/// A missed instalment escalates at once to the formal stage, even at D+3, with an alert.
#[test]
fn missed_instalment_escalates() {
    let t = today();
    let p = run(
        vec![on_customer(PauseKind::PaymentPlan {
            instalments: vec![
                (t - Duration::days(10), dec!(500)),
                (t + Duration::days(20), dec!(500)),
            ],
            paid: dec!(200),
        })],
        None,
        3,
    );
    assert_eq!(p.actions[0].stage, Stage::Formelle);
    assert!(p.alerts.iter().any(|a| a.kind == "payment_plan_broken"));
}

/// Broken promise: dunning resumes with an alert.
#[test]
fn broken_promise_alerts() {
    let p = run(
        vec![on_customer(PauseKind::PromiseToPay {
            date: today() - Duration::days(10),
            amount: None,
            paid: Decimal::ZERO,
            announced: None,
        })],
        None,
        20,
    );
    assert!(p.alerts.iter().any(|a| a.kind == "promise_broken"));
}

/// Procédure collective: alert to declare the claim within 2 months of the BODACC publication
/// (4 months from abroad); invoices issued after the judgment are still dunned (L622-17).
#[test]
fn procedure_collective_alert_and_post_opening_invoices() {
    let t = today();
    let pc = on_customer(PauseKind::ProcedureCollective {
        procedure: Procedure::Liquidation,
        judgment_date: d(2026, 1, 12),
        bodacc_publication: Some(d(2026, 1, 20)),
        creditor_abroad: false,
        declaration_deadline: None,
    });
    let mut inp = input(
        vec![customer("C1", CustomerKind::Business)],
        vec![
            invoice("F1", "C1", 20, dec!(1000)),
            invoice("F2", "C1", 20, dec!(300)),
        ],
    );
    inp.invoices[1].issue_date = d(2026, 1, 15); // after the judgment
    inp.pauses = vec![pc];
    let p = plan(&inp, t).unwrap();
    let alert = p.alerts.iter().find(|a| a.kind == "declare_claim").unwrap();
    assert_eq!(alert.deadline, Some(d(2026, 3, 20)));
    assert_eq!(p.held.len(), 1);
    assert_eq!(p.held[0].invoice.as_str(), "F1");
    assert_eq!(p.actions[0].invoices[0].invoice.as_str(), "F2");
    assert_eq!(declaration_deadline(d(2026, 1, 20), true), d(2026, 5, 20));
    assert_eq!(declaration_deadline(d(2025, 12, 31), false), d(2026, 2, 28));
}
