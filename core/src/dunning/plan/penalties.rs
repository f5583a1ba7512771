//! Pass 4, penalties: each candidate's late-payment penalty and indemnity to the plan date,
//! under its debtor's regime, with the rate-table rows cited.
//!
//! In: the walks after the gate, the mise en demeure dates of the history. Out: each
//! candidate priced, plus `contract_rate` alerts (a contractual rate below the legal floor);
//! a rate the table lacks is handled as the policy's `on_missing_rate` says.

use crate::dunning::penalty::{self, PenaltyInput, RateMemo};
use crate::dunning::plan::candidates::{State, Walk};
use crate::dunning::plan::history::History;
use crate::dunning::plan::{Alert, PlanInput};
use crate::dunning::policy::{MissingRatePolicy, PenaltyPolicy};
use crate::dunning::DunningError;
use chrono::NaiveDate;

pub(super) fn apply(
    input: &PlanInput,
    hist: &History<'_>,
    today: NaiveDate,
    walks: &mut [Walk<'_>],
) -> Result<(), DunningError> {
    let p = &input.policy;
    let mut memo = RateMemo::default();
    let mut missing_rate_alerted = false;
    for w in walks.iter_mut() {
        if !matches!(w.state, State::Due(_)) {
            continue;
        }
        let State::Due(c) = std::mem::replace(&mut w.state, State::Skip) else {
            continue;
        };
        let inv = w.inv;
        let payments = input
            .payments
            .get(&inv.id)
            .map_or(&[][..], |v| v.as_slice());
        let contract = input.contract_rates.get(&inv.customer).copied();
        let pen_policy;
        let pen_policy_ref = match contract {
            Some(r) => {
                pen_policy = PenaltyPolicy {
                    contract_rate_percent: Some(r),
                    ..p.penalties.clone()
                };
                &pen_policy
            }
            None => &p.penalties,
        };
        let pen_input = PenaltyInput {
            kind: c.customer.kind,
            due_date: c.due,
            open_amount: c.amount,
            payments,
            mise_en_demeure: hist.med_date.get(&inv.id).copied(),
            until: today,
        };
        let penalty =
            match penalty::compute_memo(&pen_input, &input.rates, pen_policy_ref, &mut memo) {
                Ok(pen) => pen,
                Err(e @ DunningError::MissingRate { .. })
                    if p.on_missing_rate == MissingRatePolicy::Hold =>
                {
                    w.state = State::Held(format!(
                        "{e}; reminder held until the rate table is updated"
                    ));
                    if !missing_rate_alerted {
                        missing_rate_alerted = true;
                        w.alerts.push(Alert {
                            kind: "missing_rate".into(),
                            customer: inv.customer.clone(),
                            invoice: Some(inv.id.clone()),
                            deadline: None,
                            message: format!("{e}"),
                        });
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
        for warning in &penalty.warnings {
            w.alerts.push(Alert {
                kind: "contract_rate".into(),
                customer: inv.customer.clone(),
                invoice: Some(inv.id.clone()),
                deadline: None,
                message: warning.clone(),
            });
        }
        w.state = State::Priced(c, penalty);
    }
    Ok(())
}
