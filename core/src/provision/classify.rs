//! Classification: which facts known at the closing date make an invoice douteuse or
//! litigieuse (BOI-BIC-PROV-40-20 §10), each cited with its date and evidence.

use super::events::{CreditEvent, CreditEventKind, LossReason, ProcedureKind, Stage};
use super::policy::Criteria;
use crate::model::Invoice;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One classification criterion met at the closing date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "criterion", rename_all = "snake_case")]
pub enum Criterion {
    /// Past due by more than the policy threshold (alone: not deductible).
    DaysOverdue {
        /// Days past due at the closing date.
        days: i64,
        /// The policy threshold (`criteria.days_overdue`).
        threshold: u32,
    },
    /// A mise en demeure sent and still unpaid after the policy delay.
    MiseEnDemeureUnanswered {
        /// Date it was sent.
        sent: NaiveDate,
        /// Days since, at the closing date.
        days: i64,
    },
    /// Contentieux started.
    Contentieux {
        /// Date.
        since: NaiveDate,
    },
    /// Injonction de payer filed.
    Injonction {
        /// Date of filing.
        filed: NaiveDate,
    },
    /// The customer disputes the invoice (créance litigieuse).
    Dispute {
        /// Date of the dispute.
        since: NaiveDate,
    },
    /// A procédure collective is open against the customer and the invoice predates it.
    ProcedureCollective {
        /// The procedure in progress at the closing date.
        procedure: ProcedureKind,
        /// Date of the opening judgment.
        opened: NaiveDate,
        /// Date of the judgment that set the current procedure (conversion).
        judgment: NaiveDate,
        /// BODACC publication, when known.
        bodacc: Option<NaiveDate>,
    },
    /// Direct debits returned unpaid at least as often as the policy says.
    DirectDebitsReturned {
        /// Number of returns.
        count: u32,
        /// Date of the last return.
        last: NaiveDate,
    },
    /// Classified at an earlier closing and still in 416: a receivable leaves 416 only when
    /// settled or written off.
    PreviouslyClassified {
        /// The closing at which it was reclassified.
        closing: NaiveDate,
    },
}

impl Criterion {
    /// True when the criterion is a precise fact making the loss probable (a procedure,
    /// failed recovery, a dispute), as opposed to a mere overdue, which the tax
    /// administration holds insufficient (BOI-BIC-PROV-40-20; CGI 39-1-5°). An earlier
    /// classification alone is not a fact of the year.
    pub fn is_precise_fact(&self) -> bool {
        !matches!(
            self,
            Criterion::DaysOverdue { .. } | Criterion::PreviouslyClassified { .. }
        )
    }

    /// A one-line description with dates, for justifications.
    pub fn describe(&self) -> String {
        match self {
            Criterion::DaysOverdue { days, threshold } => {
                format!("{days} days past due (policy threshold {threshold})")
            }
            Criterion::MiseEnDemeureUnanswered { sent, days } => {
                format!("mise en demeure sent {sent}, unanswered after {days} days (C. civ. 1344)")
            }
            Criterion::Contentieux { since } => format!("contentieux since {since}"),
            Criterion::Injonction { filed } => {
                format!("injonction de payer filed {filed} (CPC 1405)")
            }
            Criterion::Dispute { since } => format!("disputed since {since} (créance litigieuse)"),
            Criterion::ProcedureCollective {
                procedure,
                opened,
                judgment,
                bodacc,
            } => {
                let mut s = format!("{} (opened {opened}", procedure.as_str());
                if judgment != opened {
                    s.push_str(&format!(", current judgment {judgment}"));
                }
                if let Some(b) = bodacc {
                    s.push_str(&format!(", BODACC {b}"));
                }
                s.push(')');
                s
            }
            Criterion::DirectDebitsReturned { count, last } => {
                format!("{count} direct debit(s) returned, last {last}")
            }
            Criterion::PreviouslyClassified { closing } => {
                format!("reclassified to doubtful at closing {closing}")
            }
        }
    }
}

/// A definitive loss recorded for the invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitiveLoss {
    /// Date of the fact.
    pub date: NaiveDate,
    /// Why the loss is definitive.
    pub reason: LossReason,
    /// Rectified invoice reference (CGI 272-1), if sent.
    pub rectified_invoice: Option<String>,
}

/// What the events up to the closing date say about one invoice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Days past due at the closing date (0 when not yet due).
    pub days_overdue: i64,
    /// Recovery stage reached.
    pub stage: Stage,
    /// True when disputed.
    pub disputed: bool,
    /// The procédure collective in progress, if the invoice predates its opening.
    pub procedure: Option<ProcedureKind>,
    /// Criteria met (policy-enabled ones only).
    pub criteria: Vec<Criterion>,
    /// The earliest definitive loss recorded, if any.
    pub loss: Option<DefinitiveLoss>,
    /// Every event up to the closing date, as "date: what (reference)", oldest first.
    pub evidence: Vec<String>,
}

impl Facts {
    /// True when the invoice is disputed and no sign of the debtor's distress classifies it
    /// (the overdue is then the dispute's consequence): litigieuse rather than douteuse.
    pub fn litigieuse_only(&self) -> bool {
        self.disputed
            && self
                .criteria
                .iter()
                .all(|c| matches!(c, Criterion::Dispute { .. } | Criterion::DaysOverdue { .. }))
    }
}

/// Reads the events concerning `invoice` dated on or before `closing` and applies the policy
/// criteria. Events after the closing date are ignored (facts must exist at closing).
pub fn classify(
    invoice: &Invoice,
    events: &[CreditEvent],
    criteria: &Criteria,
    closing: NaiveDate,
) -> Facts {
    let mut mine: Vec<&CreditEvent> = events
        .iter()
        .filter(|e| e.date <= closing && e.concerns(&invoice.customer, &invoice.id))
        // A customer-wide fact cannot concern an invoice issued after it; procedures are
        // the exception, judged below against their opening judgment.
        .filter(|e| {
            e.invoice.is_some()
                || invoice.issue_date <= e.date
                || matches!(e.kind, CreditEventKind::ProcedureCollective { .. })
        })
        .collect();
    // Same-date events are taken in a fixed order so the input order never matters.
    mine.sort_by(|a, b| {
        (a.date, a.kind.name(), &a.reference).cmp(&(b.date, b.kind.name(), &b.reference))
    });

    let mut f = Facts {
        days_overdue: (closing - invoice.effective_due_date()).num_days().max(0),
        ..Facts::default()
    };
    let mut med: Option<NaiveDate> = None;
    let mut contentieux: Option<NaiveDate> = None;
    let mut injonction: Option<NaiveDate> = None;
    let mut dispute: Option<NaiveDate> = None;
    let mut returns: (u32, Option<NaiveDate>) = (0, None);
    // (opening date, current kind, current judgment date, bodacc)
    let mut procedure: Option<(NaiveDate, ProcedureKind, NaiveDate, Option<NaiveDate>)> = None;

    for e in &mine {
        let mut line = format!("{}: {}", e.date, e.kind.name());
        match &e.kind {
            CreditEventKind::ReminderSent { level } => line.push_str(&format!(" level {level}")),
            CreditEventKind::MiseEnDemeureSent => {
                med.get_or_insert(e.date);
            }
            CreditEventKind::ContentieuxStarted => {
                contentieux.get_or_insert(e.date);
            }
            CreditEventKind::InjonctionFiled => {
                injonction.get_or_insert(e.date);
            }
            CreditEventKind::Dispute { reason } => {
                dispute.get_or_insert(e.date);
                if let Some(r) = reason {
                    line.push_str(&format!(" ({r})"));
                }
            }
            CreditEventKind::DirectDebitReturned { reason_code } => {
                returns.0 += 1;
                returns.1 = Some(e.date);
                if let Some(r) = reason_code {
                    line.push_str(&format!(" {r}"));
                }
            }
            CreditEventKind::ProcedureCollective {
                procedure: kind,
                bodacc_date,
            } => {
                line.push_str(&format!(" {}", kind.as_str()));
                if let Some(b) = bodacc_date {
                    line.push_str(&format!(", BODACC {b}"));
                }
                procedure = Some(match procedure {
                    None => (e.date, *kind, e.date, *bodacc_date),
                    // Same-day judgments: the most severe procedure holds.
                    Some((opened, k, j, b)) if j == e.date => {
                        (opened, k.max(*kind), j, bodacc_date.or(b))
                    }
                    Some((opened, _, _, b)) => (opened, *kind, e.date, bodacc_date.or(b)),
                });
            }
            CreditEventKind::LiquidationDividend { amount } => {
                line.push_str(&format!(" {amount}"));
            }
            CreditEventKind::DefinitiveLoss {
                reason,
                rectified_invoice,
            } => {
                line.push_str(&format!(": {}", reason.describe()));
                if let Some(r) = rectified_invoice {
                    line.push_str(&format!(", rectified invoice {r}"));
                }
                if f.loss.is_none() {
                    f.loss = Some(DefinitiveLoss {
                        date: e.date,
                        reason: reason.clone(),
                        rectified_invoice: rectified_invoice.clone(),
                    });
                }
            }
        }
        if let Some(r) = &e.reference {
            line.push_str(&format!(" [ref {r}]"));
        }
        f.evidence.push(line);
    }

    // Only invoices issued on or before the opening judgment are pre-opening claims
    // (C. com. L622-24); later ones are paid at maturity (L622-17).
    if let Some((opened, kind, judgment, bodacc)) = procedure {
        if invoice.issue_date <= opened {
            f.procedure = Some(kind);
            if criteria.procedure_collective {
                f.criteria.push(Criterion::ProcedureCollective {
                    procedure: kind,
                    opened,
                    judgment,
                    bodacc,
                });
            }
        }
    }
    if let Some(since) = contentieux {
        f.stage = Stage::Contentieux;
        if criteria.contentieux {
            f.criteria.push(Criterion::Contentieux { since });
        }
    }
    if let Some(filed) = injonction {
        f.stage = Stage::Contentieux;
        if criteria.injonction {
            f.criteria.push(Criterion::Injonction { filed });
        }
    }
    if let Some(sent) = med {
        f.stage = f.stage.max(Stage::MiseEnDemeure);
        let days = (closing - sent).num_days();
        if let Some(min) = criteria.mise_en_demeure_unanswered_days {
            if days >= i64::from(min) {
                f.criteria
                    .push(Criterion::MiseEnDemeureUnanswered { sent, days });
            }
        }
    }
    if let Some(since) = dispute {
        f.disputed = true;
        if criteria.dispute {
            f.criteria.push(Criterion::Dispute { since });
        }
    }
    if let (count, Some(last)) = returns {
        if let Some(min) = criteria.direct_debits_returned {
            if count >= min {
                f.criteria
                    .push(Criterion::DirectDebitsReturned { count, last });
            }
        }
    }
    if let Some(threshold) = criteria.days_overdue {
        if f.days_overdue > i64::from(threshold) {
            f.criteria.push(Criterion::DaysOverdue {
                days: f.days_overdue,
                threshold,
            });
        }
    }
    f
}
