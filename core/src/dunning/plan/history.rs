//! Pass 1, history: where each invoice stands on the ladder from the actions already enqueued.
//!
//! In: the policy's steps and `PlanInput::history`. Out: a [`Ladder`] (each step's ordinal
//! within its stage, and the lookup of a recorded `(stage, step)` in the current policy) and a
//! [`History`]: the latest step reached and the date of the latest action per invoice, the
//! mise en demeure date (start of legal interest for consumers), the actions per invoice (for
//! the wording of letters and the contentieux file), the actions already planned today (for
//! the daily cap) and the latest contact per customer (for the contact frequency).

use crate::dunning::plan::SentAction;
use crate::dunning::policy::StepPolicy;
use crate::dunning::stage::Stage;
use crate::ids::{CustomerId, InvoiceId};
use chrono::NaiveDate;
use std::collections::HashMap;

/// The policy's ladder with each step's ordinal within its stage.
pub(super) struct Ladder<'p> {
    /// The steps, in order.
    pub steps: &'p [StepPolicy],
    /// Ordinal of each step within its stage (0 for the first step of a stage).
    pub ordinals: Vec<u32>,
}

impl<'p> Ladder<'p> {
    pub fn new(steps: &'p [StepPolicy]) -> Self {
        let ordinals = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                u32::try_from(steps[..i].iter().filter(|x| x.stage == s.stage).count()).unwrap_or(0)
            })
            .collect();
        Self { steps, ordinals }
    }

    /// The flat index of a recorded `(stage, ordinal)` in the current policy. A step removed
    /// from the policy since counts as the last step of its stage; a stage removed entirely as
    /// the last step before it.
    pub fn flat_index(&self, stage: Stage, ord: u32) -> Option<usize> {
        let mut last = None;
        for (i, s) in self.steps.iter().enumerate() {
            if s.stage == stage {
                last = Some(i);
                if self.ordinals[i] == ord {
                    return Some(i);
                }
            }
        }
        last.or_else(|| self.steps.iter().rposition(|s| s.stage < stage))
    }
}

/// What the history says, per invoice and per customer.
#[derive(Default)]
pub(super) struct History<'a> {
    /// Latest step reached (flat index) and date of the latest action, per invoice.
    pub reached: HashMap<&'a InvoiceId, (usize, NaiveDate)>,
    /// Date of the first mise en demeure, per invoice.
    pub med_date: HashMap<&'a InvoiceId, NaiveDate>,
    /// Every action that covered the invoice, in history order.
    pub by_invoice: HashMap<&'a InvoiceId, Vec<&'a SentAction>>,
    /// Actions already planned for `today` (they count against the daily cap).
    pub sent_today: u32,
    /// Date of the latest action per customer, whatever the invoice.
    pub last_contact: HashMap<&'a CustomerId, NaiveDate>,
}

impl<'a> History<'a> {
    pub fn build(history: &'a [SentAction], ladder: &Ladder<'_>, today: NaiveDate) -> Self {
        let mut h = History::default();
        for a in history {
            if a.date == today {
                h.sent_today += 1;
            }
            let lc = h.last_contact.entry(&a.customer).or_insert(a.date);
            *lc = (*lc).max(a.date);
            let Some(fi) = ladder.flat_index(a.stage, a.step) else {
                continue;
            };
            for i in &a.invoices {
                let e = h.reached.entry(i).or_insert((fi, a.date));
                if fi > e.0 {
                    e.0 = fi;
                }
                if a.date > e.1 {
                    e.1 = a.date;
                }
                if a.stage == Stage::MiseEnDemeure {
                    let m = h.med_date.entry(i).or_insert(a.date);
                    *m = (*m).min(a.date);
                }
                h.by_invoice.entry(i).or_default().push(a);
            }
        }
        h
    }
}
