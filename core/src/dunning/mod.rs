//! Dunning (relance) under French law: stages, penalties, the 40 € indemnity, pauses and stops.
//!
//! The engine is a pure function: [`plan()`] takes a [`PlanInput`] (customers, open invoices
//! after reconciliation, unapplied credits and probable payments, pauses, history of actions
//! already sent, the dated [`RateTable`] and the company's [`Policy`]) and `today`, and
//! returns a [`Plan`]: the actions due, grouped one per customer and stage, each invoice with
//! its penalty and the rate table rows used, plus the invoices held back and why.
//!
//! Modules: [`policy`] (configuration), [`rates`] (ECB MRO and taux légal tables),
//! [`penalty`] (penalties and indemnity), [`stage`] (ladder), [`segment`] (payment history),
//! [`pause`] (disputes, promises, payment plans, holds, procédures collectives, e-invoicing
//! statuses), [`prescription`] (limitation deadlines), [`calendar`] (business days),
//! [`template`] (text templates), [`probable`] (receipts that may be an invoice's payment),
//! [`mod@plan`] (the engine, in passes), [`score`] (scoring on labelled data).

pub mod calendar;
pub mod pause;
pub mod penalty;
pub mod plan;
pub mod policy;
pub mod prescription;
pub mod probable;
pub mod rates;
pub mod score;
pub mod segment;
pub mod stage;
pub mod template;

pub use pause::{Pause, PauseKind};
pub use plan::{
    plan, Action, Alert, HeldInvoice, MissingRateUse, Plan, PlanInput, PlannedInvoice,
    PreviousAction, SentAction,
};
pub use policy::Policy;
pub use probable::PaymentHold;
pub use rates::RateTable;
pub use stage::{Channel, Stage};

use chrono::NaiveDate;

/// What can stop a plan: a configuration or data problem, never a domain outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DunningError {
    /// The policy is inconsistent.
    #[error("invalid dunning policy: {0}")]
    InvalidPolicy(String),
    /// The rate table is inconsistent.
    #[error("invalid rate table: {0}")]
    InvalidRateTable(String),
    /// No rate is known for a date: the table must be updated, nothing is guessed.
    #[error("no {table} rate known for {date} (table confirmed until {confirmed_until:?}): add the row to the rate table")]
    MissingRate {
        /// Which table ("ecb_mro", "taux_legal").
        table: &'static str,
        /// The date a rate was needed for.
        date: NaiveDate,
        /// How far the table is confirmed.
        confirmed_until: Option<NaiveDate>,
    },
    /// A template could not be rendered.
    #[error("template {name}: {message}")]
    Template {
        /// Template name.
        name: String,
        /// What is wrong.
        message: String,
    },
}
