//! Credit events derived from the dunning engine's history (actions sent, pauses), so the
//! provision run sees the same facts the dunning run acted on.

use super::events::{CreditEvent, CreditEventKind, ProcedureKind};
use crate::dunning::pause::{Pause, PauseKind, Procedure};
use crate::dunning::{SentAction, Stage};

/// Events from dunning actions already sent and pauses in force: a sent mise en demeure
/// (stage 3) gives `MiseEnDemeureSent`, a contentieux action (stage 4) `ContentieuxStarted`,
/// any other stage `ReminderSent` (evidence of diligence); a dispute pause gives `Dispute`,
/// a procédure collective pause gives `ProcedureCollective` dated at its opening judgment.
/// Other pauses (promise, plan, hold, factoring) are not credit events.
pub fn from_dunning(sent: &[SentAction], pauses: &[Pause]) -> Vec<CreditEvent> {
    let mut out = Vec::new();
    for a in sent {
        let kind = match a.stage {
            Stage::MiseEnDemeure => CreditEventKind::MiseEnDemeureSent,
            Stage::Contentieux => CreditEventKind::ContentieuxStarted,
            other => CreditEventKind::ReminderSent {
                level: other.number(),
            },
        };
        for inv in &a.invoices {
            out.push(CreditEvent {
                customer: a.customer.clone(),
                invoice: Some(inv.clone()),
                date: a.date,
                kind: kind.clone(),
                reference: Some(format!("dunning {} step {}", a.stage.name(), a.step)),
            });
        }
    }
    for p in pauses {
        let (date, kind) = match &p.kind {
            PauseKind::Dispute { since, note, .. } => (
                *since,
                CreditEventKind::Dispute {
                    reason: (!note.trim().is_empty()).then(|| note.clone()),
                },
            ),
            PauseKind::ProcedureCollective {
                procedure,
                judgment_date,
                bodacc_publication,
                ..
            } => (
                *judgment_date,
                CreditEventKind::ProcedureCollective {
                    procedure: match procedure {
                        Procedure::Sauvegarde => ProcedureKind::Sauvegarde,
                        Procedure::Redressement => ProcedureKind::Redressement,
                        Procedure::Liquidation => ProcedureKind::Liquidation,
                    },
                    bodacc_date: *bodacc_publication,
                },
            ),
            _ => continue,
        };
        out.push(CreditEvent {
            customer: p.customer.clone(),
            invoice: p.invoice.clone(),
            date,
            kind,
            reference: None,
        });
    }
    out
}

/// Adds to `recorded` (events people recorded, with their references) the `derived` ones (from
/// [`from_dunning`]) that state a fact not already there: a dispute or a procédure collective
/// recorded both as a dunning pause and as a credit event is one fact, and its evidence is
/// cited once, with the recorded reference.
pub fn merge_derived(recorded: &mut Vec<CreditEvent>, derived: Vec<CreditEvent>) {
    for d in derived {
        let known = recorded.iter().any(|r| {
            r.customer == d.customer
                && r.invoice == d.invoice
                && r.date == d.date
                && same_fact(&r.kind, &d.kind)
        });
        if !known {
            recorded.push(d);
        }
    }
}

fn same_fact(a: &CreditEventKind, b: &CreditEventKind) -> bool {
    match (a, b) {
        (CreditEventKind::Dispute { .. }, CreditEventKind::Dispute { .. }) => true,
        (
            CreditEventKind::ProcedureCollective { procedure: p, .. },
            CreditEventKind::ProcedureCollective { procedure: q, .. },
        ) => p == q,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn ev(invoice: Option<&str>, kind: CreditEventKind, reference: Option<&str>) -> CreditEvent {
        CreditEvent {
            customer: "C1".into(),
            invoice: invoice.map(Into::into),
            date: NaiveDate::from_ymd_opt(2026, 5, 20).unwrap_or_default(),
            kind,
            reference: reference.map(str::to_owned),
        }
    }

    #[test]
    fn one_fact_recorded_twice_is_cited_once_with_its_reference() {
        let rj = |bodacc| CreditEventKind::ProcedureCollective {
            procedure: ProcedureKind::Redressement,
            bodacc_date: bodacc,
        };
        let mut recorded = vec![ev(None, rj(None), Some("Jugement TC n° 1"))];
        let derived = vec![
            ev(None, rj(NaiveDate::from_ymd_opt(2026, 5, 29)), None),
            ev(Some("F1"), CreditEventKind::Dispute { reason: None }, None),
        ];
        merge_derived(&mut recorded, derived);
        assert_eq!(recorded.len(), 2, "{recorded:?}");
        assert_eq!(recorded[0].reference.as_deref(), Some("Jugement TC n° 1"));
        assert!(matches!(recorded[1].kind, CreditEventKind::Dispute { .. }));
    }
}
