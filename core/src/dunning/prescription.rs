//! Prescription (limitation) deadlines of a claim, by kind of debtor.
//!
//! * Business: 5 years from exigibility (C. com. L110-4; C. civ. 2224).
//! * Consumer: 2 years (C. conso L218-2).
//! * Public bodies: 4 years from 1 January of the year after the right arose (déchéance
//!   quadriennale, loi 68-1250 art. 1), i.e. through 31 December of year + 4.
//!
//! Reminders and mises en demeure do not interrupt it (Cass. com. 18/05/2022 n°20-23.204);
//! only an acknowledgement, a legal action, or (public bodies) a written claim does — so the
//! engine warns well before.

use crate::model::CustomerKind;
use chrono::{Datelike, NaiveDate};

/// The last day on which the claim can still be acted on.
pub fn deadline(kind: CustomerKind, due_date: NaiveDate) -> NaiveDate {
    let plus_years = |n: i32| {
        NaiveDate::from_ymd_opt(due_date.year() + n, due_date.month(), due_date.day())
            .or_else(|| NaiveDate::from_ymd_opt(due_date.year() + n, due_date.month(), 28))
            .unwrap_or(due_date)
    };
    match kind {
        CustomerKind::Business => plus_years(5),
        CustomerKind::Consumer => plus_years(2),
        CustomerKind::PublicEntity | CustomerKind::PublicHospital => {
            NaiveDate::from_ymd_opt(due_date.year() + 4, 12, 31).unwrap_or(due_date)
        }
    }
}

/// The legal basis, for explanations.
pub fn basis(kind: CustomerKind) -> &'static str {
    match kind {
        CustomerKind::Business => "5 years, C. com. L110-4",
        CustomerKind::Consumer => "2 years, C. conso L218-2",
        CustomerKind::PublicEntity | CustomerKind::PublicHospital => {
            "déchéance quadriennale, loi 68-1250 art. 1 (interrupted by any written payment claim)"
        }
    }
}
