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
