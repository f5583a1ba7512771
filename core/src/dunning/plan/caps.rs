//! Pass 6, caps: at most `max_actions_per_day` actions per company and day (those already
//! planned today included); the most advanced stages and the largest amounts go first, the
//! rest is deferred (planned again next time, under the same keys).

use crate::dunning::plan::Action;
use crate::dunning::policy::SendingPolicy;
use std::collections::HashSet;

/// Splits `actions` into (kept, deferred).
pub(super) fn apply(
    sending: &SendingPolicy,
    sent_today: u32,
    actions: Vec<Action>,
) -> (Vec<Action>, Vec<Action>) {
    let Some(cap) = sending.max_actions_per_day else {
        return (actions, Vec::new());
    };
    let room = usize::try_from(cap.saturating_sub(sent_today)).unwrap_or(usize::MAX);
    if actions.len() <= room {
        return (actions, Vec::new());
    }
    let mut order: Vec<usize> = (0..actions.len()).collect();
    order.sort_by(|a, b| {
        let (x, y) = (&actions[*a], &actions[*b]);
        (y.stage, y.total_due)
            .cmp(&(x.stage, x.total_due))
            .then(a.cmp(b))
    });
    let keep: HashSet<usize> = order.into_iter().take(room).collect();
    let mut kept = Vec::new();
    let mut deferred = Vec::new();
    for (i, a) in actions.into_iter().enumerate() {
        if keep.contains(&i) {
            kept.push(a);
        } else {
            deferred.push(a);
        }
    }
    (kept, deferred)
}
