//! The facts a provision is decided from: credit events, settlements and user rate overrides.
//!
//! The dunning engine's history (reminders, mise en demeure, contentieux), the BODACC watch
//! (procédures collectives), the bank (returned direct debits, liquidation dividends) and the
//! user (disputes, definitive losses, rate overrides) all feed these plain values.

use crate::ids::{CustomerId, InvoiceId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How far recovery has gone, in order: a later stage is more severe.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Amicable reminders only (or none).
    #[default]
    Amiable,
    /// A mise en demeure was sent (C. civ. 1344) and is still unanswered.
    MiseEnDemeure,
    /// Legal recovery started: contentieux or injonction de payer (CPC 1405 s.).
    Contentieux,
}

impl Stage {
    /// The stage name as used in policy files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Amiable => "amiable",
            Stage::MiseEnDemeure => "mise_en_demeure",
            Stage::Contentieux => "contentieux",
        }
    }
}

/// Kind of procédure collective opened against a customer (C. com. livre VI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    /// Sauvegarde (C. com. L620-1).
    Sauvegarde,
    /// Redressement judiciaire (C. com. L631-1).
    Redressement,
    /// Liquidation judiciaire (C. com. L640-1).
    Liquidation,
}

impl ProcedureKind {
    /// The name as used in policy files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcedureKind::Sauvegarde => "sauvegarde",
            ProcedureKind::Redressement => "redressement",
            ProcedureKind::Liquidation => "liquidation",
        }
    }
}

/// Why a loss is certain and definitive (the write-off to 654 is deductible that year).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LossReason {
    /// Judgment pronouncing the liquidation (VAT relief from that date, CGI 272-1).
    LiquidationJudgment,
    /// Closure of the liquidation for insufficiency of assets (C. com. L643-9).
    ClotureInsuffisanceActif,
    /// Certificate of irrecoverability from the liquidator.
    CertificatIrrecouvrabilite,
    /// Prescription reached (C. com. L110-4).
    Prescription,
    /// Any other fact, described.
    Other {
        /// What happened.
        detail: String,
    },
}

impl LossReason {
    /// A short text for justifications.
    pub fn describe(&self) -> String {
        match self {
            LossReason::LiquidationJudgment => "liquidation judgment".to_owned(),
            LossReason::ClotureInsuffisanceActif => {
                "closure for insufficiency of assets (C. com. L643-9)".to_owned()
            }
            LossReason::CertificatIrrecouvrabilite => {
                "liquidator's certificate of irrecoverability".to_owned()
            }
            LossReason::Prescription => "prescription reached (C. com. L110-4)".to_owned(),
            LossReason::Other { detail } => detail.clone(),
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreditEventKind {
    /// A reminder of the given dunning level was sent (evidence of diligence only).
    ReminderSent {
        /// Dunning level (0 préventive … 4 contentieux).
        level: u8,
    },
    /// A mise en demeure was sent (C. civ. 1344), e.g. by LRAR.
    MiseEnDemeureSent,
    /// The file went to contentieux (lawyer, commissaire de justice, collection agency).
    ContentieuxStarted,
    /// The customer contests the invoice (principle or amount): créance litigieuse.
    Dispute {
        /// The customer's stated reason, if known.
        #[serde(default)]
        reason: Option<String>,
    },
    /// A procédure collective was opened (or converted) by judgment on the event's date.
    ProcedureCollective {
        /// Sauvegarde, redressement or liquidation.
        procedure: ProcedureKind,
        /// Publication date in the BODACC (starts the 2-month déclaration de créance, L622-24).
        #[serde(default)]
        bodacc_date: Option<NaiveDate>,
    },
    /// A SEPA direct debit was returned unpaid (R-transaction).
    DirectDebitReturned {
        /// ISO 20022 return reason (AM04, MS02...), if known.
        #[serde(default)]
        reason_code: Option<String>,
    },
    /// A requête en injonction de payer was filed (CPC 1405 s.).
    InjonctionFiled,
    /// A dividend was received from the liquidator (amount TTC, reduces the receivable).
    LiquidationDividend {
        /// Amount received, tax included.
        amount: Decimal,
    },
    /// The loss is certain and definitive: write off to 654 and recover the VAT.
    DefinitiveLoss {
        /// Why the loss is definitive.
        #[serde(flatten)]
        reason: LossReason,
        /// Reference of the rectified invoice sent to the customer (CGI 272-1, required to
        /// recover the VAT: CE 28/03/2012 n°320470). Without it the write-off is held.
        #[serde(default)]
        rectified_invoice: Option<String>,
    },
}

impl CreditEventKind {
    /// A short name for tables and justifications.
    pub fn name(&self) -> &'static str {
        match self {
            CreditEventKind::ReminderSent { .. } => "reminder",
            CreditEventKind::MiseEnDemeureSent => "mise en demeure",
            CreditEventKind::ContentieuxStarted => "contentieux",
            CreditEventKind::Dispute { .. } => "dispute",
            CreditEventKind::ProcedureCollective { .. } => "procédure collective",
            CreditEventKind::DirectDebitReturned { .. } => "direct debit returned",
            CreditEventKind::InjonctionFiled => "injonction de payer",
            CreditEventKind::LiquidationDividend { .. } => "liquidation dividend",
            CreditEventKind::DefinitiveLoss { .. } => "definitive loss",
        }
    }
}

/// One dated fact about a customer or one of its invoices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditEvent {
    /// The customer concerned.
    pub customer: CustomerId,
    /// The invoice concerned; `None` for a customer-wide event, which concerns the customer's
    /// invoices issued on or before its date (for a procédure collective: on or before the
    /// opening judgment).
    #[serde(default)]
    pub invoice: Option<InvoiceId>,
    /// Date of the fact (letter sent, judgment pronounced, payment received...).
    pub date: NaiveDate,
    /// What happened.
    #[serde(flatten)]
    pub kind: CreditEventKind,
    /// Reference of the evidence (letter tracking number, judgment number, bank reference).
    #[serde(default)]
    pub reference: Option<String>,
}

impl CreditEvent {
    /// True when the event concerns this invoice of this customer.
    pub fn concerns(&self, customer: &CustomerId, invoice: &InvoiceId) -> bool {
        &self.customer == customer && self.invoice.as_ref().is_none_or(|i| i == invoice)
    }
}

/// What reduced an invoice's open amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementKind {
    /// A payment received (booked 512 / 416 once the receivable is doubtful).
    Payment,
    /// A credit note applied (booked by the source on 411; moved 411 / 416 once doubtful).
    CreditNote,
}

/// One dated reduction of an invoice's open amount, tax included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// Unique reference (bank transaction id, credit-note number): keys its entry.
    pub reference: String,
    /// Date received or applied.
    pub date: NaiveDate,
    /// Amount applied to the invoice, tax included (positive).
    pub amount: Decimal,
    /// Payment or credit note.
    pub kind: SettlementKind,
}

/// A rate chosen by a person for one invoice, replacing the policy matrix from its date on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateOverride {
    /// The invoice.
    pub invoice: InvoiceId,
    /// Rate between 0 and 1 of the base without VAT.
    pub rate: Decimal,
    /// Who decided.
    pub by: String,
    /// Why (management's estimate of the probable loss, e.g. expected dividend).
    pub reason: String,
    /// When decided: applies to closings on or after this date.
    pub date: NaiveDate,
}
