//! Pass 4, penalties: each candidate's late-payment penalty and indemnity to the plan date,
//! under its debtor's regime, with the rate-table rows cited.
//!
//! In: the walks after the gate, the mise en demeure dates of the history. Out: each
//! candidate priced, `contract_rate` alerts (a contractual rate below the legal floor), and
//! the rows the table lacked. A missing rate never stops the plan: the penalty is left
//! uncomputed (zero, with the missing row named in `rate_source` and `missing`); a step that
//! states penalties (formelle and later) then states the legal clause without an amount, or
//! is held, as the policy's `on_missing_rate` says; one `missing_rate` alert per row.

use crate::dunning::penalty::{self, MissingRate, Penalty, PenaltyInput, RateKind, RateMemo};
use crate::dunning::plan::candidates::{State, Walk};
use crate::dunning::plan::history::{History, Ladder};
use crate::dunning::plan::{Alert, MissingRateUse, PlanInput};
use crate::dunning::policy::{MissingRatePolicy, PenaltyPolicy};
use crate::dunning::rates::MissingRow;
use crate::dunning::stage::Stage;
use crate::dunning::DunningError;
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// The first stage whose letters state the penalties and the indemnity.
pub(super) const FIRST_STAGE_STATING_PENALTIES: Stage = Stage::Formelle;

pub(super) fn apply(
    input: &PlanInput,
    ladder: &Ladder<'_>,
    hist: &History<'_>,
    today: NaiveDate,
    walks: &mut [Walk<'_>],
) -> Result<Vec<MissingRateUse>, DunningError> {
    let p = &input.policy;
    let mut memo = RateMemo::default();
    let mut uses: Vec<MissingRateUse> = Vec::new();
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
        let penalty = match penalty::compute_memo(
            &pen_input,
            &input.rates,
            pen_policy_ref,
            &mut memo,
        ) {
            Ok(pen) => pen,
            Err(e) => {
                let Some(row) = MissingRow::from_error(&e) else {
                    return Err(e);
                };
                let missing = MissingRate {
                    row,
                    kind: RateKind::of(c.customer.kind, pen_policy_ref.contract_rate_percent),
                    contract_rate_percent: pen_policy_ref.contract_rate_percent,
                };
                let states = ladder.steps[c.step].stage >= FIRST_STAGE_STATING_PENALTIES;
                let hold = states && p.on_missing_rate == MissingRatePolicy::Hold;
                let effect = match (states, hold) {
                        (false, _) => "this step states no penalty and goes out as usual",
                        (true, false) => "the letter states the legal clause without an amount (policy dunning.on_missing_rate = \"state_clause\")",
                        (true, true) => "the letter states penalties: held until the rate table is updated (policy dunning.on_missing_rate = \"hold\")",
                    };
                let u = match uses.iter_mut().position(|u| u.row == missing.row) {
                    Some(i) => &mut uses[i],
                    None => {
                        w.alerts.push(Alert {
                                kind: "missing_rate".into(),
                                customer: inv.customer.clone(),
                                invoice: Some(inv.id.clone()),
                                deadline: None,
                                message: format!(
                                    "{missing}; {effect}. Add the row to the rate table (a file in rates.d/ of the configuration directory; `relance rates` shows what is missing)"
                                ),
                            });
                        uses.push(MissingRateUse {
                            row: missing.row.clone(),
                            kinds: Vec::new(),
                            invoices: Vec::new(),
                            held: Vec::new(),
                        });
                        let last = uses.len() - 1;
                        &mut uses[last]
                    }
                };
                if !u.kinds.contains(&missing.kind) {
                    u.kinds.push(missing.kind);
                }
                u.invoices.push(inv.id.clone());
                if hold {
                    u.held.push(inv.id.clone());
                    w.state = State::Held(format!("penalty not computed: {missing}; {effect}"));
                    continue;
                }
                let indemnity = penalty::indemnity_due(&pen_input, &input.rates);
                let mut rate_source = format!("penalty not computed: {missing}; {effect}");
                if indemnity > Decimal::ZERO {
                    rate_source.push_str(" | ");
                    rate_source.push_str(penalty::indemnity_citation(c.customer.kind));
                }
                Penalty {
                    amount: Decimal::ZERO,
                    indemnity,
                    rate_source,
                    periods: Vec::new(),
                    warnings: Vec::new(),
                    missing: Some(missing),
                }
            }
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
    Ok(uses)
}
