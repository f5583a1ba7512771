//! Who paid, as a bookkeeper reads it: the payer names banks print (one row per mangling,
//! and the homonym guard), recurring payments without reference (Code civil art. 1342-10),
//! and what a person's decisions teach (a confirmed link teaches the IBAN and the name
//! variant; a rejected pair is never proposed again).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_core::model::{Customer, Invoice, InvoiceKind, InvoiceStatus, Receipt};
use relance_core::reconcile::{
    reconcile, reconcile_with, ConfirmedLink, Decisions, Input, Outcome, Policy, RejectedLink,
    Rule, Sequential,
};
use relance_core::{Currency, InvoiceId, TransactionId};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn d(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, day).unwrap()
}

fn inv(number: &str, cust: &str, amount: Decimal, due: NaiveDate) -> Invoice {
    Invoice {
        id: InvoiceId::new(number),
        number: number.to_owned(),
        kind: InvoiceKind::Invoice,
        type_code: 380,
        issue_date: due - chrono::Duration::days(30),
        due_date: Some(due),
        instalments: vec![],
        currency: Currency::EUR,
        total_without_vat: (amount / dec!(1.2)).round_dp(2),
        total_vat: amount - (amount / dec!(1.2)).round_dp(2),
        total_with_vat: amount,
        amount_due: amount,
        customer: cust.into(),
        buyer_reference: None,
        order_reference: None,
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status: InvoiceStatus::Open,
    }
}

fn cust(id: &str, name: &str, ibans: &[&str]) -> Customer {
    let mut c = Customer::new(id, name);
    c.ibans = ibans.iter().map(|s| s.to_string()).collect();
    c
}

fn rec(id: &str, amount: Decimal, name: &str, iban: &str, text: &str) -> Receipt {
    Receipt {
        id: TransactionId::new(id),
        account: "FR7630004000031234567890143".into(),
        booking_date: d(3, 10),
        value_date: None,
        amount,
        currency: Currency::EUR,
        counterparty_name: Some(name.to_owned()),
        counterparty_iban: Some(iban.to_owned()),
        remittance: text.to_owned(),
        structured_ref: None,
        end_to_end_id: None,
        mandate_id: None,
        bank_code: None,
        return_reason: None,
        reversal: false,
        source: format!("test#{id}"),
    }
}

/// Automatic allocations as (transaction, invoice, amount).
fn autos(o: &Outcome) -> Vec<(String, String, Decimal)> {
    o.allocations
        .iter()
        .filter(|a| a.auto)
        .map(|a| (a.transaction.to_string(), a.invoice.to_string(), a.amount))
        .collect()
}

/// An IBAN no customer of the ledger has paid from.
const NEW_IBAN: &str = "FR7630004000990000000000000";

/// Customers that each have one open invoice of the same amount, so that only the name
/// says who paid (nothing else identifies them: no IBAN recorded, no reference).
fn same_amount_ledger() -> (Vec<Invoice>, Vec<Customer>) {
    let names = [
        ("NGUYEN", "Ets Nguyen SASU"),
        ("LEGRAND", "Legrand Conseil SAS"),
        ("VALDELOIRE", "Société Communication du Val de Loire SARL"),
        ("HUET", "Thierry Huet"),
        ("DUPONT", "Jean Dupont"),
        ("MARTIN", "Société Martin Transports"),
        ("BARBIER", "Établissements Barbier"),
        ("PERROT", "Perrot Menuiserie"),
        ("KERBRAT", "Kerbrat Informatique EURL"),
        ("ELODIE", "L'Atelier d'Élodie"),
        ("LEFEVRE", "Hélène Lefèvre"),
        ("MENARD", "MÉNARD Loïc"),
        ("DASILVA1", "Grégory Da Silva"),
        ("DASILVA2", "Marie Da Silva"),
    ];
    let customers: Vec<Customer> = names.iter().map(|(id, n)| cust(id, n, &[])).collect();
    let invoices = names
        .iter()
        .map(|(id, _)| inv(&format!("FA-{id}"), id, dec!(348.00), d(2, 28)))
        .collect();
    (invoices, customers)
}

#[test]
fn name_manglings_table() {
    let (invoices, customers) = same_amount_ledger();
    // (what the bank printed, the customer whose invoice it pays; None: nobody is sure)
    let rows: &[(&str, &str, Option<&str>)] = &[
        ("spaces removed", "ETSNGUYENSASU", Some("NGUYEN")),
        ("spaces removed", "LEGRANDCONSEILSAS", Some("LEGRAND")),
        (
            "cut at 35",
            "SOCIETE COMMUNICATION DU VAL DE LOI",
            Some("VALDELOIRE"),
        ),
        (
            "address run on, cut at 35",
            "M THIERRY HUET 14 CHEMIN DU MOULIN ",
            Some("HUET"),
        ),
        ("words reordered", "DUPONT JEAN M", Some("DUPONT")),
        (
            "legal form abbreviated",
            "STE MARTIN TRANSPORTS",
            Some("MARTIN"),
        ),
        ("legal form abbreviated", "ETS BARBIER", Some("BARBIER")),
        ("legal form added", "PERROT MENUISERIE SARL", Some("PERROT")),
        (
            "legal form dropped",
            "KERBRAT INFORMATIQUE",
            Some("KERBRAT"),
        ),
        (
            "accents and punctuation stripped",
            "L ATELIER D ELODIE",
            Some("ELODIE"),
        ),
        ("couple", "M OU MME LEFEVRE HELENE", Some("LEFEVRE")),
        ("couple, surname only", "MR ET MME MENARD", Some("MENARD")),
        // The guard: another given name is another person; a surname two customers share
        // identifies neither.
        ("homonym: another given name", "DUPONT PIERRE", None),
        ("homonym: shared surname", "M OU MME DA SILVA", None),
    ];
    for (k, (what, printed, expected)) in rows.iter().enumerate() {
        let r = rec(
            &format!("T{k}"),
            dec!(348.00),
            printed,
            NEW_IBAN,
            "VIREMENT",
        );
        let o = reconcile(&invoices, &customers, &[r], &[], &Policy::default());
        let got = autos(&o);
        match expected {
            Some(c) => assert_eq!(
                got,
                vec![(format!("T{k}"), format!("FA-{c}"), dec!(348.00))],
                "{what}: {printed}\n{o:#?}"
            ),
            None => assert!(got.is_empty(), "{what}: {printed} applied: {got:?}"),
        }
    }
}

#[test]
fn subscription_oldest_of_the_amount_and_amount_beats_fifo() {
    const IBAN: &str = "FR7610107001011234567890129";
    let customers = vec![cust("A", "Legrand Conseil SAS", &[IBAN])];
    let invoices = vec![
        // An older project invoice of another amount, still open.
        inv("FA-0001", "A", dec!(1200.00), d(1, 5)),
        inv("FA-0002", "A", dec!(58.80), d(1, 31)),
        inv("FA-0003", "A", dec!(58.80), d(2, 28)),
        inv("FA-0004", "A", dec!(58.80), d(3, 31)),
        inv("FA-0005", "A", dec!(480.00), d(2, 15)),
    ];
    let run = |rs: &[Receipt]| reconcile(&invoices, &customers, rs, &[], &Policy::default());
    // A standing order without reference: the first due of the items of that amount.
    let o = run(&[rec("T1", dec!(58.80), "LEGRANDCONSEILSAS", IBAN, "")]);
    assert_eq!(
        autos(&o),
        vec![("T1".into(), "FA-0002".into(), dec!(58.80))]
    );
    assert_eq!(o.allocations[0].rule, Rule::Imputation);
    let reason = o.allocations[0].reason();
    assert!(reason.contains("1342-10"), "{reason}");
    assert!(reason.contains("3 open items of amount 58.80"), "{reason}");
    // Two months at once: the two oldest.
    let o = run(&[rec("T2", dec!(117.60), "LEGRANDCONSEILSAS", IBAN, "")]);
    assert_eq!(
        autos(&o),
        vec![
            ("T2".into(), "FA-0002".into(), dec!(58.80)),
            ("T2".into(), "FA-0003".into(), dec!(58.80)),
        ],
        "{o:#?}"
    );
    // The month after month: each receipt its month, in order.
    let o = run(&[
        rec("T3", dec!(58.80), "LEGRAND CONSEIL", IBAN, "ABONNEMENT"),
        {
            let mut r = rec("T4", dec!(58.80), "LEGRAND CONSEIL", IBAN, "ABONNEMENT");
            r.booking_date = d(4, 10);
            r
        },
    ]);
    assert_eq!(
        autos(&o),
        vec![
            ("T3".into(), "FA-0002".into(), dec!(58.80)),
            ("T4".into(), "FA-0003".into(), dec!(58.80)),
        ]
    );
    // An amount equal to one invoice beats imputation over the older, different one.
    let o = run(&[rec("T5", dec!(480.00), "LEGRAND CONSEIL SAS", IBAN, "")]);
    assert_eq!(
        autos(&o),
        vec![("T5".into(), "FA-0005".into(), dec!(480.00))]
    );
    // An unidentified payer of the amount: nothing applied, whatever the amount.
    let o = run(&[rec("T6", dec!(58.80), "SCI LES PINS", NEW_IBAN, "")]);
    assert!(autos(&o).is_empty(), "{o:#?}");
}

#[test]
fn a_confirmed_link_teaches_the_iban_and_the_name_variant() {
    let customers = vec![
        cust("A", "Perrot Menuiserie", &[]),
        cust("B", "Kerbrat Informatique EURL", &[]),
    ];
    let invoices = vec![
        inv("FA-1", "A", dec!(500.00), d(2, 1)),
        inv("FA-2", "A", dec!(300.00), d(2, 15)),
        inv("FA-3", "A", dec!(275.00), d(2, 20)),
        inv("FB-1", "B", dec!(300.00), d(2, 10)),
    ];
    // Paid under a trade name the ledger does not know, from a new IBAN, no reference.
    const TRADE_IBAN: &str = "FR7630004000990000000000077";
    let r1 = rec(
        "R1",
        dec!(500.00),
        "LES BOIS DU BOCAGE",
        TRADE_IBAN,
        "VIREMENT",
    );
    let mut r2 = rec("R2", dec!(300.00), "SARL LBB", TRADE_IBAN, "VIREMENT");
    r2.booking_date = d(3, 20);
    let mut r3 = rec("R3", dec!(275.00), "LES BOIS DU BOCAGE", NEW_IBAN, "");
    r3.booking_date = d(3, 21);
    let receipts = vec![r1.clone(), r2.clone(), r3.clone()];
    let policy = Policy::default();
    let none = Decisions::default();
    let input = |decisions| Input {
        invoices: &invoices,
        customers: &customers,
        receipts: &receipts,
        prior: &[],
        decisions,
    };
    // Nobody identifies the payer: nothing applied.
    let o = reconcile_with(&input(&none), &policy, &Sequential);
    assert!(autos(&o).is_empty(), "{o:#?}");
    // A person confirms R1 for FA-1: it is applied, and its IBAN and name are taught.
    let decided = Decisions {
        confirmed: vec![ConfirmedLink {
            transaction: "R1".into(),
            invoice: "FA-1".into(),
            amount: dec!(500.00),
            payer_iban: None,
            payer_name: None,
        }],
        rejected: vec![],
    };
    let o = reconcile_with(&input(&decided), &policy, &Sequential);
    let mut got = autos(&o);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("R1".into(), "FA-1".into(), dec!(500.00)),
            // The taught IBAN, another name: 300.00 is FA-2, not customer B's FB-1.
            ("R2".into(), "FA-2".into(), dec!(300.00)),
            // The taught name, another IBAN.
            ("R3".into(), "FA-3".into(), dec!(275.00)),
        ],
        "{o:#?}"
    );
    let r1_rule = o
        .allocations
        .iter()
        .find(|a| a.transaction.as_str() == "R1")
        .unwrap()
        .rule;
    assert_eq!(r1_rule, Rule::Confirmed);
    // Taught from a link of an earlier cycle whose receipt is no longer among the inputs:
    // the IBAN and name given with the decision.
    let later = vec![r2, r3];
    let decided_earlier = Decisions {
        confirmed: vec![ConfirmedLink {
            transaction: "R1".into(),
            invoice: "FA-1".into(),
            amount: dec!(500.00),
            payer_iban: Some(TRADE_IBAN.into()),
            payer_name: Some("LES BOIS DU BOCAGE".into()),
        }],
        rejected: vec![],
    };
    let o = reconcile_with(
        &Input {
            invoices: &invoices,
            customers: &customers,
            receipts: &later,
            prior: &[],
            decisions: &decided_earlier,
        },
        &policy,
        &Sequential,
    );
    let mut got = autos(&o);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("R2".into(), "FA-2".into(), dec!(300.00)),
            ("R3".into(), "FA-3".into(), dec!(275.00)),
        ],
        "{o:#?}"
    );
}

#[test]
fn a_rejected_pair_is_never_proposed_again() {
    const IBAN: &str = "FR7610107001011234567890129";
    let customers = vec![cust("A", "Perrot Menuiserie", &[IBAN])];
    let invoices = vec![inv("FA-1", "A", dec!(300.00), d(2, 1))];
    let r = rec("R1", dec!(300.00), "PERROT MENUISERIE", IBAN, "FA-1");
    let receipts = vec![r];
    let policy = Policy::default();
    let o = reconcile(&invoices, &customers, &receipts, &[], &policy);
    assert_eq!(autos(&o), vec![("R1".into(), "FA-1".into(), dec!(300.00))]);
    let rejected = Decisions {
        confirmed: vec![],
        rejected: vec![RejectedLink {
            transaction: "R1".into(),
            invoice: "FA-1".into(),
        }],
    };
    let o = reconcile_with(
        &Input {
            invoices: &invoices,
            customers: &customers,
            receipts: &receipts,
            prior: &[],
            decisions: &rejected,
        },
        &policy,
        &Sequential,
    );
    assert!(
        o.allocations.iter().all(|a| a.invoice.as_str() != "FA-1"),
        "{o:#?}"
    );
    assert!(
        o.suggestions
            .iter()
            .all(|s| s.invoices.iter().all(|(i, _)| i.as_str() != "FA-1")),
        "{o:#?}"
    );
    assert!(
        o.probable_payments
            .iter()
            .all(|p| p.invoice.as_str() != "FA-1"),
        "{o:#?}"
    );
    assert_eq!(o.unmatched, vec![TransactionId::new("R1")]);
}
