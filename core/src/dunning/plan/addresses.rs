//! Pass 4b, addresses: a registered letter (the mise en demeure by lettre recommandée avec
//! accusé de réception) needs the sender's and the recipient's postal addresses. Without one,
//! the invoices of that step are held, the reason says which address is missing and what is
//! lacking in it, and a `missing_address` alert is raised once per customer; nothing is
//! rendered or sent blank.

use crate::dunning::plan::candidates::{State, Walk};
use crate::dunning::plan::history::Ladder;
use crate::dunning::plan::{Alert, PlanInput};
use crate::dunning::stage::Channel;
use crate::ids::CustomerId;
use crate::model::PostalAddress;
use std::collections::HashSet;

/// What is wrong with an address for a letter, if anything.
fn lacking(a: Option<&PostalAddress>) -> Option<String> {
    match a {
        None => Some("is missing".to_owned()),
        Some(a) => {
            let parts = a.missing_parts();
            (!parts.is_empty()).then(|| format!("is incomplete (no {})", parts.join(", no ")))
        }
    }
}

pub(super) fn apply(input: &PlanInput, ladder: &Ladder<'_>, walks: &mut [Walk<'_>]) {
    let sender = lacking(input.sender_address.as_ref()).map(|l| {
        format!(
            "the company's postal address (the sender of the letter) {l}: set [address] in the company's configuration"
        )
    });
    let mut alerted: HashSet<&CustomerId> = HashSet::new();
    for w in walks.iter_mut() {
        let State::Priced(c, _) = &w.state else {
            continue;
        };
        if ladder.steps[c.step].channel != Channel::RegisteredLetter {
            continue;
        }
        let recipient = lacking(c.customer.address.as_ref()).map(|l| {
            format!(
                "the postal address of {} (the recipient) {l}: none usable in the e-invoice buyer address (BG-8), the ERP's party address or the company's [[customers]] configuration",
                c.customer.name
            )
        });
        let missing: Vec<String> = [sender.clone(), recipient].into_iter().flatten().collect();
        if missing.is_empty() {
            continue;
        }
        let reason = format!(
            "{} goes by lettre recommandée avec accusé de réception and {}: held until the address is known",
            ladder.steps[c.step].stage.name(),
            missing.join("; and ")
        );
        if alerted.insert(&w.inv.customer) {
            w.alerts.push(Alert {
                kind: "missing_address".into(),
                customer: w.inv.customer.clone(),
                invoice: Some(w.inv.id.clone()),
                deadline: None,
                message: reason.clone(),
            });
        }
        w.state = State::Held(reason);
    }
}
