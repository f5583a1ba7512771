//! Every idempotency key relance derives, in one place.
//!
//! A key names one decision: the same facts always give the same key (re-planned after a
//! restart, on another day, by another process), and different decisions never share one. A
//! key is `relance-<kind>-<24 hex>`: the first 12 bytes of SHA-256 over the company id, the
//! kind and the parts, each separated by a NUL byte, so it fits any remote field (Tryton note,
//! SMTP Message-ID, a folder name). [`IdempotencyKey::derive`] is that construction; this
//! module says, for each kind, which parts identify the decision.
//!
//! | kind | parts | effect |
//! |---|---|---|
//! | `dunning` | customer, `stage=N`, `step=K`, `bucket=<date the step became due>`, invoice ids sorted | one reminder action ([`dunning_action`], computed by the dunning engine) |
//! | `<dunning key>-copy` | — | the e-mail copy of a registered letter ([`dunning_copy`]) |
//! | `<dunning key>-level-<invoice>` | — | the dunning level written on one invoice ([`dunning_level`]) |
//! | `reconcile` | transaction id, then `invoice=amount` sorted | the reconciliation of one receipt ([`reconcile`]) |
//! | `provision` | the closing entry's own key (closing date, invoice, step) | one provision move ([`provision`]) |
//! | `dunning.pause`, `credit.event` | the recorded fact as JSON | a fact recorded by staff, once ([`staff_fact`]) |
//! | `einvoice.212` | platform (the `pa` source), transaction, invoice, amount | one "212 Encaissée" (or its correction) sent to an e-invoicing platform ([`einvoice_payment`]) |
//! | `decision` | the decision's idempotency key (the client's), the effect's name | one remote effect of a person's decision: a write-off move, a dispute flag, a task ([`decision_effect`]) |

use crate::contract::IdempotencyKey;
use chrono::NaiveDate;
use relance_core::dunning::Stage;
use relance_core::{CompanyId, CustomerId, InvoiceId};
use rust_decimal::Decimal;

/// The key of a dunning action; the dunning engine computes the same (its `Action::key`), so a
/// plan made again gives the key of the outbox entry already recorded.
pub fn dunning_action(
    company: &CompanyId,
    customer: &CustomerId,
    stage: Stage,
    step: u32,
    bucket: NaiveDate,
    invoices: &[&InvoiceId],
) -> IdempotencyKey {
    IdempotencyKey(relance_core::dunning::plan::action_key(
        company, customer, stage, step, bucket, invoices,
    ))
}

/// The e-mail copy of a registered letter sent under `action`.
pub fn dunning_copy(action: &str) -> IdempotencyKey {
    IdempotencyKey(format!("{action}-copy"))
}

/// The dunning level the action `action` writes on `invoice`.
pub fn dunning_level(action: &str, invoice: &str) -> IdempotencyKey {
    IdempotencyKey(format!("{action}-level-{invoice}"))
}

/// The reconciliation of `transaction` with these `(invoice, amount)` allocations (in any
/// order: they are sorted).
pub fn reconcile(
    company: &CompanyId,
    transaction: &str,
    allocations: &[(String, Decimal)],
) -> IdempotencyKey {
    let mut allocs: Vec<&(String, Decimal)> = allocations.iter().collect();
    allocs.sort();
    let parts: Vec<String> = std::iter::once(transaction.to_owned())
        .chain(allocs.iter().map(|(i, a)| format!("{i}={a}")))
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    IdempotencyKey::derive(company.as_str(), "reconcile", &refs)
}

/// The "212 Encaissée" of `amount` received on `invoice` by `transaction`, sent to the
/// platform of source `platform` (a negative amount: the correction of a returned payment,
/// under its own transaction).
pub fn einvoice_payment(
    company: &CompanyId,
    platform: &str,
    transaction: &str,
    invoice: &InvoiceId,
    amount: Decimal,
) -> IdempotencyKey {
    IdempotencyKey::derive(
        company.as_str(),
        "einvoice.212",
        &[
            platform,
            transaction,
            invoice.as_str(),
            &amount.normalize().to_string(),
        ],
    )
}

/// A provision move of a closing, from the closing entry's deterministic key.
pub fn provision(company: &CompanyId, entry_key: &str) -> IdempotencyKey {
    IdempotencyKey::derive(company.as_str(), "provision", &[entry_key])
}

/// One remote effect of a person's decision, recorded under the client's idempotency key
/// `decision` (unique per company): `effect` names it within the decision (`write-off`,
/// `block-F1`, `declare`…).
pub fn decision_effect(company: &CompanyId, decision: &str, effect: &str) -> IdempotencyKey {
    IdempotencyKey::derive(company.as_str(), "decision", &[decision, effect])
}

/// A fact recorded by staff (`kind` is its audit kind: `dunning.pause`, `credit.event`), keyed
/// by its JSON text, so recording it twice records it once.
pub fn staff_fact(company: &CompanyId, kind: &str, fact: &serde_json::Value) -> IdempotencyKey {
    IdempotencyKey::derive(company.as_str(), kind, &[&fact.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_distinct() {
        let c = CompanyId::new("acme");
        let a = reconcile(
            &c,
            "T1",
            &[("F2".into(), Decimal::ONE), ("F1".into(), Decimal::TEN)],
        );
        let b = reconcile(
            &c,
            "T1",
            &[("F1".into(), Decimal::TEN), ("F2".into(), Decimal::ONE)],
        );
        assert_eq!(a, b, "allocation order does not matter");
        assert!(a.as_str().starts_with("relance-reconcile-"));
        assert_ne!(a, reconcile(&c, "T2", &[("F1".into(), Decimal::TEN)]));
        assert_ne!(a, reconcile(&CompanyId::new("other"), "T1", &[]));
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let inv = InvoiceId::new("F1");
        let k = dunning_action(&c, &"C1".into(), Stage::Amiable, 1, d, &[&inv]);
        assert!(k.as_str().starts_with("relance-dunning-"));
        assert_eq!(dunning_copy(k.as_str()).0, format!("{}-copy", k.as_str()));
        let e = einvoice_payment(&c, "pa", "T1", &inv, Decimal::new(100000, 2));
        assert_eq!(
            e,
            einvoice_payment(&c, "pa", "T1", &inv, Decimal::from(1000))
        );
        assert_ne!(
            e,
            einvoice_payment(&c, "pa", "T1", &inv, Decimal::from(-1000))
        );
        assert_ne!(
            e,
            einvoice_payment(&c, "other-pa", "T1", &inv, Decimal::from(1000))
        );
        assert_eq!(
            provision(&c, "x"),
            IdempotencyKey::derive("acme", "provision", &["x"])
        );
    }
}
