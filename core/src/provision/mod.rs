//! Doubtful debts (créances douteuses): classification, provision rates and PCG entries.
//!
//! A closing run ([`closing()`]) takes the receivables with their dated settlements, the
//! credit events and the provision state left by the previous closing, and returns the table
//! of provisions at the closing date with the balanced entries that bring the books to it:
//! reclassification 411 → 416 (TTC), allowance 68174 / 491 and reversal 491 / 78174 (on the
//! base without VAT), payments on doubtful receivables (512 / 416), write-offs (654 HT + VAT
//! 44571 / 416, CGI 272-1). Each entry has a deterministic key (company, invoice, closing
//! date, kind), and the run books only the difference between the previous state and the
//! target, so running the same closing again on the state it produced adds nothing.
//!
//! The table is a pure function of the inputs dated up to the closing date: events and
//! settlements after it are ignored, so any past closing can be regenerated.
//!
//! - [`policy`]: the `[provision]` configuration (criteria, rate matrix, accounts).
//! - [`events`]: the facts fed in (credit events, settlements, rate overrides).
//! - [`feed`]: credit events from the dunning engine's history.
//! - [`classify`]: which criteria are met, with evidence.
//! - [`rate`]: base without VAT and rate choice.
//! - [`entries`]: the moves.
//! - [`closing`](mod@closing): the run and the state.
//! - [`report`]: text table and CSV.

pub mod classify;
pub mod closing;
pub mod entries;
pub mod events;
pub mod feed;
pub mod policy;
pub mod rate;
pub mod report;

pub use classify::{Criterion, Facts};
pub use closing::{
    closing, Classification, ClosingInput, ClosingTable, InvoiceState, Note, ProvisionError,
    ProvisionLine, ProvisionState, Receivable, Totals,
};
pub use entries::{Entry, EntryKind, EntryLine};
pub use events::{
    CreditEvent, CreditEventKind, LossReason, ProcedureKind, RateOverride, Settlement,
    SettlementKind, Stage,
};
pub use feed::{from_dunning, merge_derived};
pub use policy::{
    Accounts, Criteria, MonthDay, PaymentBooking, Policy, PolicyError, RateRow, VatRegime,
};
pub use report::{rectification_mention, state_csv, table_text, STATE_CSV_HEADER};
