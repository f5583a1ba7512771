//! E-invoicing lifecycle statuses into the dunning, and "212 Encaissée" out.
//!
//! Every status a source reports (a plateforme agréée's CDAR, Pennylane's
//! `e_invoicing.status`) is kept in the audit log (`einvoicing.status`); this module reads
//! them back, takes the latest status of each invoice that acts on dunning (the informational
//! ones — 200 to 205, 214 — change nothing) and turns it into the dunning's inputs, each with
//! its reason (connector-apis.md, "What relance does with each lifecycle status"):
//!
//! | status | input |
//! |---|---|
//! | 206 Approuvée partiellement | a dispute of the part not approved: only the approved part is dunned |
//! | 207 En litige, 208 Suspendue | a dispute of the whole invoice: held, with the reason code |
//! | 209 Complétée | nothing: the hold is lifted, the plan resumes |
//! | 210 Refusée | stopped (a credit note is expected), with an alert |
//! | 211 Paiement transmis | a promise to pay by its date plus [`BANK_LAG_DAYS`] (and the policy's `promise_grace_days`): held until then; when no credit covering its amount (everything open when it gives none) was applied since, dunning resumes with a `promise_broken` alert naming the invoice, the 211's platform, date and amount |
//! | 212 Encaissée | stopped: paid |
//! | 213 Rejetée | held: never legally delivered, the clock does not start; alert to re-issue |
//!
//! 203 Mise à disposition stays in the audit log as the proof of delivery. A status names its
//! invoice by the source's id or by its number (a platform knows invoices by number): it is
//! resolved against the ledger, by id first.
//!
//! Out: for each `pa` source with `report_payments`, every receipt applied to an invoice that
//! platform reported a status for, or gave (`issued_invoices`), gives one [`WriteCommand::ReportPayment`] in the outbox,
//! under [`relance_connectors::keys::einvoice_payment`] — the same key at every cycle, so the
//! outbox keeps one entry and the platform gets one 212 — and a negative allocation (a
//! returned payment) its correction under its own key. Where the platform is also the ledger
//! (Pennylane matches payments itself) nothing is sent.

use crate::ledger::{self, Ledger};
use crate::store::{Store, StoreError, AUDIT_LIFECYCLE};
use chrono::{Duration, NaiveDate};
use relance_connectors::contract::{IdempotencyKey, LifecycleStatus, WriteCommand};
use relance_connectors::systems::pa::afnor_code;
use relance_core::dunning::{Pause, PauseKind};
use relance_core::{CompanyId, Invoice, InvoiceId, InvoiceKind};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

/// Days between a buyer's "211 Paiement transmis" and the credit on the seller's account (a
/// SEPA transfer: D+1 business day, weekends and holidays included).
pub const BANK_LAG_DAYS: i64 = 5;

/// A status as reported, its order in the log kept.
#[derive(Clone, Debug)]
pub struct Reported {
    /// The status.
    pub status: LifecycleStatus,
    /// Its AFNOR code, when it has one.
    pub code: Option<u16>,
    /// Position in the audit log (later is greater).
    pub seq: usize,
}

/// Every lifecycle status recorded for `company`, in the order they were recorded.
pub fn reported<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
) -> Result<Vec<Reported>, StoreError> {
    Ok(ledger::audit_of_kind(store, company, AUDIT_LIFECYCLE)?
        .into_iter()
        .filter_map(|e| serde_json::from_value::<LifecycleStatus>(e.explanation).ok())
        .enumerate()
        .map(|(seq, status)| Reported {
            code: afnor_code(&status.status),
            status,
            seq,
        })
        .collect())
}

/// The ledger's invoice a status names: by id, else by number when one invoice has it.
pub fn resolve<'a>(ledger: &'a Ledger, id: &InvoiceId) -> Option<&'a Invoice> {
    if let Some(i) = ledger.invoices.iter().find(|i| &i.id == id) {
        return Some(i);
    }
    let mut by_number = ledger
        .invoices
        .iter()
        .filter(|i| i.number == id.as_str() && i.kind == InvoiceKind::Invoice);
    match (by_number.next(), by_number.next()) {
        (Some(i), None) => Some(i),
        _ => None,
    }
}

fn acts(code: u16) -> bool {
    matches!(code, 206..=213)
}

/// What the statuses give the dunning: the latest acting code of each invoice (for the engine's
/// own lifecycle rule: 210, 212, 213) and the pauses the others stand for.
pub fn dunning_inputs(
    ledger: &Ledger,
    statuses: &[Reported],
    today: NaiveDate,
) -> (HashMap<InvoiceId, u16>, Vec<Pause>) {
    let mut latest: HashMap<&InvoiceId, &Reported> = HashMap::new();
    let mut invoices: HashMap<&InvoiceId, &Invoice> = HashMap::new();
    for r in statuses {
        if !r.code.is_some_and(acts) {
            continue;
        }
        let Some(inv) = resolve(ledger, &r.status.invoice) else {
            continue;
        };
        invoices.insert(&inv.id, inv);
        let key = |x: &Reported| (x.status.at, x.seq);
        match latest.get(&inv.id) {
            Some(prev) if key(prev) > key(r) => {}
            _ => {
                latest.insert(&inv.id, r);
            }
        }
    }
    let payments = ledger::payments_by_invoice(ledger, &[]);
    let mut codes = HashMap::new();
    let mut pauses = Vec::new();
    let mut ids: Vec<&&InvoiceId> = latest.keys().collect();
    ids.sort();
    for id in ids {
        let r = latest[*id];
        let inv = invoices[*id];
        let Some(code) = r.code else { continue };
        let since = r.status.at.map(|d| d.date_naive()).unwrap_or(today);
        let name = relance_connectors::formats::cdar::status_name(code)
            .map(|(n, _)| n)
            .unwrap_or("");
        let note = format!(
            "e-invoicing status {code} {name} reported by {} on {since}{}",
            r.status.platform,
            r.status
                .reason
                .as_deref()
                .map(|x| format!(", reason {x}"))
                .unwrap_or_default()
        );
        let pause = |kind| Pause {
            customer: inv.customer.clone(),
            invoice: Some(inv.id.clone()),
            kind,
        };
        match code {
            206 => {
                let disputed = r
                    .status
                    .amount
                    .map(|approved| (inv.total_with_vat - approved).max(Decimal::ZERO));
                pauses.push(pause(PauseKind::Dispute {
                    since,
                    disputed_amount: disputed,
                    note,
                }));
            }
            207 | 208 => pauses.push(pause(PauseKind::Dispute {
                since,
                disputed_amount: None,
                note,
            })),
            211 => {
                let paid = payments
                    .get(&inv.id)
                    .map(|v| v.iter().filter(|(d, _)| *d >= since).map(|(_, a)| *a).sum())
                    .unwrap_or_default();
                let date = since + Duration::days(BANK_LAG_DAYS);
                let amount = r
                    .status
                    .amount
                    .map(|a| format!(" for {a} {}", inv.currency))
                    .unwrap_or_default();
                pauses.push(pause(PauseKind::PromiseToPay {
                    date,
                    amount: r.status.amount,
                    paid,
                    announced: Some(format!(
                        "invoice {}: e-invoicing status 211 {name} reported by {} on {since}{amount}, expected on the account by {date} ({BANK_LAG_DAYS} days of bank lag)",
                        inv.number, r.status.platform
                    )),
                }));
            }
            210 | 212 | 213 => {
                codes.insert(inv.id.clone(), code);
            }
            _ => {} // 209: lifted
        }
    }
    (codes, pauses)
}

/// The invoices each source gave (by source name), for [`payment_reports`]: a platform that
/// is the source of the company's issued invoices (`issued_invoices`) knows every one of them.
pub fn invoices_by_source<S: Store + ?Sized>(
    store: &S,
    company: &CompanyId,
    sources: &[&str],
) -> Result<HashMap<String, HashSet<InvoiceId>>, StoreError> {
    let mut out: HashMap<String, HashSet<InvoiceId>> = HashMap::new();
    for r in store.invoices(company)? {
        if sources.contains(&r.source.as_str()) {
            out.entry(r.source).or_default().insert(r.invoice.id);
        }
    }
    Ok(out)
}

/// The payment reports to send: for each platform `(source, target, platform name)`, one
/// [`WriteCommand::ReportPayment`] per receipt applied to an invoice that platform knows — it
/// reported a status for it, or gave it (`given`: the invoices of each source) — with its
/// target and key.
pub fn payment_reports(
    company: &CompanyId,
    ledger: &Ledger,
    statuses: &[Reported],
    platforms: &[(String, String, String)],
    given: &HashMap<String, HashSet<InvoiceId>>,
) -> Vec<(String, IdempotencyKey, WriteCommand)> {
    let receipts: HashMap<&str, (NaiveDate, &str)> = ledger
        .receipts
        .iter()
        .map(|r| (r.id.as_str(), (r.booking_date, r.currency.as_str())))
        .collect();
    let mut out = Vec::new();
    for (source, target, platform) in platforms {
        let mut known: HashSet<&InvoiceId> = statuses
            .iter()
            .filter(|r| &r.status.platform == platform)
            .filter_map(|r| resolve(ledger, &r.status.invoice))
            .filter(|i| i.kind == InvoiceKind::Invoice)
            .map(|i| &i.id)
            .collect();
        known.extend(given.get(source).into_iter().flatten());
        for a in ledger.allocations.iter().filter(|a| a.auto) {
            if !known.contains(&a.invoice) || a.amount.is_zero() {
                continue;
            }
            let Some(inv) = ledger.invoices.iter().find(|i| i.id == a.invoice) else {
                continue;
            };
            let Some((date, currency)) = receipts.get(a.transaction.as_str()) else {
                continue;
            };
            let key = relance_connectors::keys::einvoice_payment(
                company,
                source,
                a.transaction.as_str(),
                &inv.id,
                a.amount,
            );
            out.push((
                target.clone(),
                key,
                WriteCommand::ReportPayment {
                    invoice: inv.id.to_string(),
                    number: inv.number.clone(),
                    type_code: inv.type_code,
                    issue_date: inv.issue_date,
                    transaction: a.transaction.to_string(),
                    amount: a.amount,
                    currency: (*currency).to_owned(),
                    date: *date,
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use relance_core::reconcile::Allocation;
    use rust_decimal_macros::dec;

    fn invoice(id: &str, number: &str) -> Invoice {
        let mut i = crate::store::schema::tests_support::invoice(id);
        i.number = number.into();
        i.total_with_vat = dec!(1200);
        i.amount_due = dec!(1200);
        i
    }

    fn status(n: usize, number: &str, code: &str, reason: Option<&str>, day: u32) -> Reported {
        let status = LifecycleStatus {
            invoice: InvoiceId::new(number),
            platform: "pa".into(),
            status: code.into(),
            reason: reason.map(str::to_owned),
            at: NaiveDate::from_ymd_opt(2026, 11, day)
                .and_then(|d| d.and_hms_opt(10, 0, 0))
                .map(|d| d.and_utc()),
            amount: (code == "206" || code == "211").then_some(dec!(700)),
        };
        Reported {
            code: afnor_code(code),
            status,
            seq: n,
        }
    }

    #[test]
    fn statuses_become_holds_stops_and_promises_by_the_latest() {
        let ledger = Ledger {
            invoices: vec![
                invoice("1", "F1"),
                invoice("2", "F2"),
                invoice("3", "F3"),
                invoice("4", "F4"),
                invoice("5", "F5"),
            ],
            ..Ledger::default()
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let s = vec![
            status(0, "F1", "207", Some("TX_TVA_ERR: Taux de TVA erroné"), 2),
            status(1, "F2", "207", Some("CMD_ERR"), 2),
            status(2, "F2", "203", None, 3),
            status(3, "F2", "209", None, 4),
            status(4, "F3", "210", Some("DOUBLON"), 5),
            status(5, "F4", "206", Some("LIVR_INCOMP"), 5),
            status(6, "F5", "211", None, 6),
            status(7, "F-unknown", "210", None, 6),
        ];
        let (codes, pauses) = dunning_inputs(&ledger, &s, today);
        assert_eq!(codes, HashMap::from([(InvoiceId::new("3"), 210)]));
        let on = |id: &str| {
            pauses
                .iter()
                .find(|p| p.invoice == Some(InvoiceId::new(id)))
        };
        match &on("1").unwrap().kind {
            PauseKind::Dispute {
                disputed_amount: None,
                note,
                ..
            } => {
                assert!(
                    note.contains("207 En litige") && note.contains("TX_TVA_ERR"),
                    "{note}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(
            on("2").is_none(),
            "209 after 207 lifts the hold (203 changes nothing)"
        );
        assert!(matches!(
            &on("4").unwrap().kind,
            PauseKind::Dispute { disputed_amount: Some(a), .. } if *a == dec!(500)
        ));
        match &on("5").unwrap().kind {
            PauseKind::PromiseToPay {
                date,
                amount: Some(a),
                announced: Some(by),
                ..
            } => {
                assert_eq!(*date, NaiveDate::from_ymd_opt(2026, 11, 11).unwrap());
                assert_eq!(*a, dec!(700));
                assert!(
                    by.contains("invoice F5")
                        && by.contains("211 Paiement transmis")
                        && by.contains("on 2026-11-06")
                        && by.contains("700 EUR"),
                    "{by}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_report_per_applied_receipt_on_invoices_the_platform_knows() {
        let mut ledger = Ledger {
            invoices: vec![invoice("1", "F1"), invoice("2", "F2")],
            ..Ledger::default()
        };
        let r = |id: &str| relance_core::Receipt {
            id: id.into(),
            account: "FR76".into(),
            booking_date: NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
            value_date: None,
            amount: dec!(1200),
            currency: relance_core::Currency::parse("EUR").unwrap(),
            counterparty_name: None,
            counterparty_iban: None,
            remittance: String::new(),
            structured_ref: None,
            end_to_end_id: None,
            mandate_id: None,
            bank_code: None,
            return_reason: None,
            reversal: false,
            source: "bank".into(),
        };
        ledger.receipts = vec![r("T1"), r("T2")];
        let alloc = |tx: &str, inv: &str, auto| Allocation {
            transaction: tx.into(),
            invoice: inv.into(),
            amount: dec!(1200),
            auto,
            confidence: relance_core::reconcile::Confidence(1000),
            rule: relance_core::reconcile::Rule::Imputation,
            deduction: None,
            why: relance_core::reconcile::explain::Why::recorded("test"),
        };
        ledger.allocations = vec![
            alloc("T1", "1", true),
            alloc("T2", "2", true),
            alloc("T2", "1", false),
        ];
        let s = vec![status(0, "F1", "203", None, 2)];
        let platforms = vec![("pa".to_owned(), "pa:pa".to_owned(), "pa".to_owned())];
        let c = CompanyId::new("acme");
        let none = HashMap::new();
        let out = payment_reports(&c, &ledger, &s, &platforms, &none);
        assert_eq!(
            out.len(),
            1,
            "F2 is unknown to the platform, a suggestion is not applied"
        );
        assert_eq!(out[0].0, "pa:pa");
        assert!(
            matches!(&out[0].2, WriteCommand::ReportPayment { number, amount, .. } if number == "F1" && *amount == dec!(1200))
        );
        assert_eq!(
            out,
            payment_reports(&c, &ledger, &s, &platforms, &none),
            "the same keys again"
        );
        // the platform gave F2 (it is the source of the issued invoices): it knows it too
        let given = HashMap::from([("pa".to_owned(), HashSet::from([InvoiceId::new("2")]))]);
        let out = payment_reports(&c, &ledger, &s, &platforms, &given);
        assert_eq!(out.len(), 2, "{out:?}");
    }
}
