//! The one place that reads the wall clock. Everything else takes `today` or `now` as input.

use chrono::{DateTime, NaiveDate, Utc};

/// A source of the current time: the system clock in production, a fixed instant in tests.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant (tests, `--date`).
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The current instant.
    #[allow(clippy::disallowed_methods)] // the one allowed reading of the clock
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }

    /// Today's date (UTC; French business days are judged on the date alone).
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// A clock fixed at midnight UTC of `date`.
    pub fn fixed_date(date: NaiveDate) -> Self {
        Clock::Fixed(
            date.and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc())
                .unwrap_or_default(),
        )
    }
}
