//! The `relance decide` requests, one function for all: the command line runs them against
//! the store when no daemon runs, and the daemon's local socket runs the same [`execute`]
//! with its own store, so both paths share the code. A request is plain serde data (it
//! travels over the socket as JSON).

use super::closing::{self, ClosingView, Exports};
use super::queries::{self, LetterView, NextRun, ProbablePayment, SuggestionView};
use super::record::{self, DecisionView, Filter, Recorded};
use super::{DecisionError, Envelope};
use crate::config::CompanyConfig;
use crate::store::Store;
use chrono::NaiveDate;
use relance_core::dunning::RateTable;
use serde::{Deserialize, Serialize};

/// What `relance decide …` asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Record a decision (checked now, applied by the next cycle).
    Record {
        /// The decision.
        envelope: Envelope,
    },
    /// The decisions recorded, with where each stands.
    List {
        /// Which.
        #[serde(default)]
        filter: Filter,
    },
    /// The letters held for approval (all of them, or only those waiting).
    Letters {
        /// Also the approved and cancelled ones.
        #[serde(default)]
        all: bool,
    },
    /// The PDF of a letter held for approval, from its current text.
    LetterPdf {
        /// The action's key.
        action: String,
    },
    /// The suggestions waiting for a person.
    Suggestions,
    /// The invoices the gate holds, with the receipt that may pay them.
    Probable {
        /// As of this day.
        date: NaiveDate,
    },
    /// What a cycle on `date` would send, and why each other overdue invoice would not be.
    NextRun {
        /// The day.
        date: NaiveDate,
    },
    /// The closings, with their drafts.
    Closings,
    /// A closing's FEC and CSV exports.
    Export {
        /// The closing date.
        closing: NaiveDate,
    },
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", content = "body", rename_all = "snake_case")]
pub enum Response {
    /// A decision recorded (or found recorded under its key).
    Recorded(Recorded),
    /// Decisions.
    Decisions(Vec<DecisionView>),
    /// Letters.
    Letters(Vec<LetterView>),
    /// A PDF.
    Pdf(Vec<u8>),
    /// Suggestions.
    Suggestions(Vec<SuggestionView>),
    /// Probable payments.
    Probable(Vec<ProbablePayment>),
    /// The next run.
    NextRun(Box<NextRun>),
    /// Closings.
    Closings(Vec<ClosingView>),
    /// Exports: FEC name and bytes, CSV name and bytes.
    Export {
        /// FEC file name.
        fec_name: String,
        /// FEC bytes.
        fec: Vec<u8>,
        /// CSV file name.
        csv_name: String,
        /// CSV bytes.
        csv: Vec<u8>,
    },
}

/// Runs `req` for `company` against `store`.
pub fn execute<S: Store + ?Sized>(
    store: &S,
    company: &CompanyConfig,
    rates: &RateTable,
    req: Request,
) -> Result<Response, DecisionError> {
    let id = &company.id;
    let other = |e: anyhow::Error| DecisionError::NotFound(format!("{e:#}"));
    Ok(match req {
        Request::Record { envelope } => {
            Response::Recorded(record::record(store, company, envelope)?)
        }
        Request::List { filter } => Response::Decisions(record::decisions(store, id, &filter)?),
        Request::Letters { all } => Response::Letters(queries::letters_waiting(store, id, !all)?),
        Request::LetterPdf { action } => {
            Response::Pdf(queries::letter_pdf(store, company, &action)?)
        }
        Request::Suggestions => Response::Suggestions(queries::suggestions(store, id)?),
        Request::Probable { date } => Response::Probable(
            queries::probable_payments(store, company, rates, date).map_err(other)?,
        ),
        Request::NextRun { date } => Response::NextRun(Box::new(
            queries::next_run(store, company, rates, date).map_err(other)?,
        )),
        Request::Closings => Response::Closings(closing::drafts(store, id)?),
        Request::Export { closing: date } => {
            let Exports {
                fec_name,
                fec,
                csv_name,
                csv,
            } = closing::exports(store, company, date)?;
            Response::Export {
                fec_name,
                fec,
                csv_name,
                csv,
            }
        }
    })
}
