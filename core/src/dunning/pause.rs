//! Pauses and stops: disputes, promises to pay, payment plans (échéanciers), manual holds,
//! procédures collectives, factoring, and e-invoicing lifecycle statuses.

use crate::dunning::policy::PausePolicy;
use crate::ids::{CustomerId, InvoiceId};
use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A pause on one invoice (`invoice` set) or on every invoice of a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// The customer.
    pub customer: CustomerId,
    /// The invoice, or `None` for the whole customer.
    pub invoice: Option<InvoiceId>,
    /// What it is.
    pub kind: PauseKind,
}

/// Kinds of pause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PauseKind {
    /// The customer contests the invoice (litige, french-rules §6.7): the disputed part is not
    /// dunned; the undisputed remainder is, when `disputed_amount` is given.
    Dispute {
        /// Since when.
        since: NaiveDate,
        /// Disputed part; `None` means the whole invoice.
        disputed_amount: Option<Decimal>,
        /// What the customer says.
        note: String,
    },
    /// The customer promised to pay by a date: dunning waits until then (plus the policy's
    /// grace), and resumes with an alert when the promise is not kept. A promise of an amount
    /// is kept as soon as that much was received on the invoices it covers since it was made.
    PromiseToPay {
        /// Promised date.
        date: NaiveDate,
        /// Promised amount; `None` for everything open.
        #[serde(default)]
        amount: Option<Decimal>,
        /// Received on the invoices covered since the promise was made.
        #[serde(default)]
        paid: Decimal,
        /// What announced the payment when no person recorded the promise: an e-invoicing
        /// "211 Paiement transmis" with its invoice, platform, date and amount. Named in the
        /// hold's reason and in the broken promise's alert.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        announced: Option<String>,
    },
    /// An agreed payment plan (échéancier): dunning waits while instalments are met, and
    /// escalates to at least the formal stage as soon as one is missed.
    PaymentPlan {
        /// Instalments (date, amount).
        instalments: Vec<(NaiveDate, Decimal)>,
        /// Total paid under the plan so far.
        paid: Decimal,
    },
    /// A hold set by a person.
    Hold {
        /// Until this day included; `None` until lifted.
        until: Option<NaiveDate>,
        /// Why.
        reason: String,
    },
    /// Sauvegarde, redressement or liquidation judiciaire: pre-opening debts may no longer be
    /// claimed (C. com. L622-21), interest stops (L622-28); the claim must be declared to the
    /// mandataire within 2 months of the BODACC publication (4 months from abroad; L622-24,
    /// R622-24).
    ProcedureCollective {
        /// Which procedure.
        procedure: Procedure,
        /// Date of the opening judgment.
        judgment_date: NaiveDate,
        /// Date of publication in the BODACC, when known.
        bodacc_publication: Option<NaiveDate>,
        /// The creditor is established outside metropolitan France.
        creditor_abroad: bool,
        /// The deadline to declare the claims, when a person set it (never later than the
        /// legal one); otherwise it follows from the BODACC publication.
        #[serde(default)]
        declaration_deadline: Option<NaiveDate>,
    },
    /// The invoice was assigned to a factor (subrogation): the factor collects, not us.
    Factored {
        /// Who.
        factor: String,
    },
}

/// Kinds of procédure collective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    /// Sauvegarde.
    Sauvegarde,
    /// Redressement judiciaire.
    Redressement,
    /// Liquidation judiciaire.
    Liquidation,
}

/// What the pauses on one invoice decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PauseOutcome {
    /// Nothing pauses it.
    None,
    /// Held: no action now.
    Hold {
        /// Why (shown in the plan's `held`).
        reason: String,
    },
    /// Stopped for good (procédure collective, paid per e-invoicing status).
    Stop {
        /// Why.
        reason: String,
    },
    /// Dun only the undisputed part.
    Partial {
        /// Amount to leave out.
        excluded: Decimal,
        /// Why.
        reason: String,
    },
    /// Dunning resumes after a broken promise or plan.
    Resume {
        /// At least the formal stage (payment plan missed).
        escalate: bool,
        /// What happened.
        note: String,
    },
}

/// Adds `months` calendar months to `d` (end of month kept when the day does not exist).
pub fn add_months(d: NaiveDate, months: u32) -> NaiveDate {
    let total = d.month0() + months;
    let year = d.year() + i32::try_from(total / 12).unwrap_or(0);
    let month = total % 12 + 1;
    (0..4)
        .filter_map(|back| NaiveDate::from_ymd_opt(year, month, d.day().saturating_sub(back)))
        .next()
        .unwrap_or(d)
}

/// Deadline to declare a claim: BODACC publication + 2 months, or + 4 months for a creditor
/// outside metropolitan France (C. com. R622-24).
pub fn declaration_deadline(publication: NaiveDate, creditor_abroad: bool) -> NaiveDate {
    add_months(publication, if creditor_abroad { 4 } else { 2 })
}

/// The deadline of a procédure collective pause: the one a person set, else the legal one
/// from the BODACC publication (`None` while it is not known).
pub fn claim_deadline(kind: &PauseKind) -> Option<NaiveDate> {
    match kind {
        PauseKind::ProcedureCollective {
            bodacc_publication,
            creditor_abroad,
            declaration_deadline: set,
            ..
        } => set.or_else(|| bodacc_publication.map(|d| declaration_deadline(d, *creditor_abroad))),
        _ => None,
    }
}

/// The effect of `pauses` (those of the invoice and of its customer) on an invoice issued on
/// `issue_date`, as of `today`. The strongest outcome wins: stop, hold, partial, resume.
pub fn evaluate<'a>(
    pauses: impl Iterator<Item = &'a Pause>,
    issue_date: NaiveDate,
    today: NaiveDate,
    p: &PausePolicy,
) -> PauseOutcome {
    let mut out = PauseOutcome::None;
    let rank = |o: &PauseOutcome| match o {
        PauseOutcome::Stop { .. } => 4,
        PauseOutcome::Hold { .. } => 3,
        PauseOutcome::Partial { .. } => 2,
        PauseOutcome::Resume { .. } => 1,
        PauseOutcome::None => 0,
    };
    for pause in pauses {
        let o = match &pause.kind {
            PauseKind::Dispute {
                since,
                disputed_amount: None,
                note,
            } => PauseOutcome::Hold {
                reason: format!(
                    "litige since {since}: {note} (dunning suspended, french-rules §6.7)"
                ),
            },
            PauseKind::Dispute {
                since,
                disputed_amount: Some(a),
                note,
            } => PauseOutcome::Partial {
                excluded: *a,
                reason: format!(
                    "litige since {since} on {a}: {note}; the undisputed remainder is dunned"
                ),
            },
            PauseKind::PromiseToPay {
                date,
                amount,
                paid,
                announced,
            } => {
                let what = amount.map(|a| format!(" {a}")).unwrap_or_default();
                let by = announced
                    .as_deref()
                    .map(|a| format!("{a}: "))
                    .unwrap_or_default();
                if amount.is_some_and(|a| *paid >= a) {
                    PauseOutcome::None // kept: what is still open is dunned as usual
                } else if today <= *date + Duration::days(i64::from(p.promise_grace_days)) {
                    PauseOutcome::Hold {
                        reason: format!("{by}promise to pay{what} by {date}"),
                    }
                } else {
                    PauseOutcome::Resume {
                        escalate: false,
                        note: match amount {
                            Some(_) => format!(
                                "{by}promise to pay{what} by {date} not kept ({paid} received since)"
                            ),
                            None => format!("{by}promise to pay by {date} not kept"),
                        },
                    }
                }
            }
            PauseKind::PaymentPlan { instalments, paid } => {
                let grace = Duration::days(i64::from(p.payment_plan_grace_days));
                // Instalments whose date (plus grace) has passed must all be covered by `paid`.
                let mut cumulative = Decimal::ZERO;
                let mut missed = None;
                for (d, a) in instalments.iter().filter(|(d, _)| *d + grace < today) {
                    cumulative += *a;
                    if cumulative > *paid && missed.is_none() {
                        missed = Some(*d);
                    }
                }
                let last = instalments.iter().map(|(d, _)| *d).max();
                match (missed, last) {
                    (Some(d), _) => PauseOutcome::Resume {
                        escalate: true,
                        note: format!("échéancier: instalment of {d} missed (paid {paid} of {cumulative} due)"),
                    },
                    (None, Some(l)) if today <= l + grace => {
                        let next = instalments.iter().find(|(d, _)| *d + grace >= today);
                        PauseOutcome::Hold {
                            reason: match next {
                                Some((d, a)) => format!("échéancier on track; next instalment {a} on {d}"),
                                None => "échéancier on track".into(),
                            },
                        }
                    }
                    _ => PauseOutcome::Resume {
                        escalate: true,
                        note: "échéancier ended with a balance still open".into(),
                    },
                }
            }
            PauseKind::Hold { until, reason } => match until {
                Some(u) if today > *u => PauseOutcome::None,
                Some(u) => PauseOutcome::Hold {
                    reason: format!("manual hold until {u}: {reason}"),
                },
                None => PauseOutcome::Hold {
                    reason: format!("manual hold: {reason}"),
                },
            },
            PauseKind::ProcedureCollective {
                procedure,
                judgment_date,
                ..
            } => {
                if issue_date <= *judgment_date {
                    PauseOutcome::Stop {
                        reason: format!(
                            "procédure collective ({procedure:?}) opened {judgment_date}: pre-opening claim, no dunning (C. com. L622-21), declare it to the mandataire (L622-24)"
                        ),
                    }
                } else {
                    PauseOutcome::None
                }
            }
            PauseKind::Factored { factor } => PauseOutcome::Stop {
                reason: format!("factored to {factor}: the factor collects (subrogation)"),
            },
        };
        if rank(&o) > rank(&out) {
            out = o;
        }
    }
    out
}

/// The effect of the latest e-invoicing lifecycle status (AFNOR XP Z12-012 codes) the engine
/// reads itself: 210 Refusée stops (the buyer refused it: a credit note is expected), 212
/// Encaissée stops (paid), 213 Rejetée holds (never legally delivered: the payment period has
/// not started). 207 En litige and 208 Suspendue hold when given here; the binary gives them
/// as disputes with their reason code instead, with 206, 209 and 211.
pub fn lifecycle_outcome(code: u16) -> PauseOutcome {
    let hold = |r: &str| PauseOutcome::Hold {
        reason: format!("e-invoicing status {code} {r}"),
    };
    match code {
        207 => hold("En litige (buyer disputes the invoice)"),
        208 => hold("Suspendue (buyer suspended processing)"),
        210 => PauseOutcome::Stop {
            reason: format!(
                "e-invoicing status {code} Refusée: the buyer refused the invoice, no dunning; a credit note is expected"
            ),
        },
        213 => hold(
            "Rejetée (the platform rejected the invoice: never legally delivered, its payment period has not started; re-issue it)",
        ),
        212 => PauseOutcome::Stop {
            reason: format!("e-invoicing status {code} Encaissée: paid"),
        },
        _ => PauseOutcome::None,
    }
}
