//! Payment-history segments: good payer, occasional late payer, chronic late payer, new customer.
//!
//! The seed material: "segmenter les clients selon leur historique de paiement" — a loyal
//! customer late once gets a more human approach, a customer who never pays on time a firmer
//! one. The segment shifts the schedule and picks the tone ([`SegmentAdjust`]).

use crate::dunning::policy::{SegmentAdjust, SegmentPolicy};
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One settled invoice of the customer's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidRecord {
    /// Its due date.
    pub due_date: NaiveDate,
    /// When it was fully paid.
    pub paid_date: NaiveDate,
}

/// A customer's segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Pays on time (within the tolerance).
    GoodPayer,
    /// Sometimes late.
    Occasional,
    /// Late most of the time, or very late on average.
    Chronic,
    /// Too little history to judge.
    NewCustomer,
}

impl Segment {
    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::GoodPayer => "good_payer",
            Segment::Occasional => "occasional",
            Segment::Chronic => "chronic",
            Segment::NewCustomer => "new_customer",
        }
    }

    /// The schedule and tone adjustments of this segment.
    pub fn adjust(self, p: &SegmentPolicy) -> &SegmentAdjust {
        match self {
            Segment::GoodPayer => &p.good_payer,
            Segment::Occasional => &p.occasional,
            Segment::Chronic => &p.chronic,
            Segment::NewCustomer => &p.new_customer,
        }
    }
}

/// Classifies a customer from the invoices paid within the look-back window.
///
/// New: fewer than `new_customer_min_paid` paid invoices. Chronic: the share of payments
/// later than the tolerance reaches `chronic_late_share_percent`, or the average delay over
/// all payments reaches `chronic_avg_days_late`. Occasional: at least one late payment.
/// Good payer otherwise.
pub fn classify(history: &[PaidRecord], today: NaiveDate, p: &SegmentPolicy) -> Segment {
    let from = today - Duration::days(i64::from(p.lookback_days));
    let mut count: u32 = 0;
    let mut late: u32 = 0;
    let mut total_delay: i64 = 0;
    for r in history
        .iter()
        .filter(|r| r.paid_date >= from && r.paid_date <= today)
    {
        count += 1;
        let delay = (r.paid_date - r.due_date).num_days().max(0);
        total_delay += delay;
        if delay > i64::from(p.late_tolerance_days) {
            late += 1;
        }
    }
    if count < p.new_customer_min_paid || count == 0 {
        return Segment::NewCustomer;
    }
    let share = Decimal::from(late) * Decimal::from(100) / Decimal::from(count);
    let avg = total_delay / i64::from(count);
    if share >= p.chronic_late_share_percent || avg >= i64::from(p.chronic_avg_days_late) {
        Segment::Chronic
    } else if late > 0 {
        Segment::Occasional
    } else {
        Segment::GoodPayer
    }
}
