//! Credit-risk alerts from the aged balance and the DSO of each customer (after the passes:
//! they concern the customer's whole balance, whatever is planned).

use crate::aging::{dso, AgedBalance, AgingItem};
use crate::dunning::plan::Alert;
use crate::dunning::policy::AlertPolicy;
use crate::ids::CustomerId;
use crate::money::Currency;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// The DSO window: credit sales of the last 365 days (`PlanInput::sales_last_365`).
const DSO_PERIOD_DAYS: u32 = 365;

pub(super) fn alerts(
    aging: HashMap<&CustomerId, Vec<AgingItem>>,
    sales_last_365: &HashMap<CustomerId, Decimal>,
    policy: &AlertPolicy,
    today: NaiveDate,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut custs: Vec<_> = aging.into_iter().collect();
    custs.sort_by(|a, b| a.0.cmp(b.0));
    for (cust, items) in custs {
        let aged = AgedBalance::compute(&items, today, Currency::EUR);
        let over_90 = aged.days_91_180 + aged.over_180;
        if let Some(limit) = policy.over_90_days_amount {
            if over_90 > limit {
                out.push(Alert {
                    kind: "credit_risk".into(),
                    customer: cust.clone(),
                    invoice: None,
                    deadline: None,
                    message: format!(
                        "{over_90} over 90 days past due (limit {limit}); total open {}",
                        aged.total
                    ),
                });
            }
        }
        if let (Some(limit), Some(sales)) = (policy.dso_days, sales_last_365.get(cust)) {
            if let Some(d) = dso(aged.total, *sales, DSO_PERIOD_DAYS).filter(|d| *d > limit) {
                out.push(Alert {
                    kind: "credit_risk".into(),
                    customer: cust.clone(),
                    invoice: None,
                    deadline: None,
                    message: format!("DSO {d} days over the last 365 days (limit {limit})"),
                });
            }
        }
    }
    out
}
