//! relance-core: the receivables domain of relance, with no IO, no clock and no threads.
//!
//! Everything here is a pure function of plain values and a date passed in:
//!
//! ```
//! use chrono::NaiveDate;
//! use relance_core::money::{Currency, Money};
//! use relance_core::aging::{AgedBalance, AgingItem};
//! use rust_decimal::Decimal;
//!
//! let today = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
//! let due = NaiveDate::from_ymd_opt(2026, 2, 15).unwrap();
//! let items = [AgingItem { due_date: due, open: Money::new(Decimal::new(120000, 2), Currency::EUR) }];
//! let aged = AgedBalance::compute(&items, today, Currency::EUR);
//! assert_eq!(aged.days_31_60, Decimal::new(120000, 2));
//! ```
//!
//! The modules are the domain's boundaries: [`money`] and [`model`] are the shared vocabulary,
//! [`aging`] computes aged balances and DSO, [`reconcile`] matches receipts to invoices,
//! [`dunning`] decides reminders under French law, [`provision`] computes doubtful-debt
//! provisions and their accounting entries.

pub mod aging;
pub mod dunning;
pub mod ids;
pub mod model;
pub mod money;
pub mod provision;
pub mod reconcile;
pub mod siren;

pub use ids::{CompanyId, CustomerId, InvoiceId, TransactionId};
pub use model::{
    Company, Customer, CustomerKind, Instalment, Invoice, InvoiceKind, InvoiceStatus,
    PostalAddress, Receipt,
};
pub use money::{Currency, Money};
