//! Worked examples of doubtful-debt provisions (domain rules §4.4), expected entries written
//! out by hand line by line.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::NaiveDate;
use relance_core::provision::{
    closing, state_csv, table_text, Classification, ClosingInput, CreditEvent, CreditEventKind,
    Entry, EntryKind, LossReason, Policy, ProcedureKind, ProvisionState, RateOverride, RateRow,
    Receivable, Settlement, SettlementKind, Stage, STATE_CSV_HEADER,
};
use relance_core::{
    CompanyId, Currency, CustomerId, Invoice, InvoiceId, InvoiceKind, InvoiceStatus,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn invoice(
    id: &str,
    customer: &str,
    issue: NaiveDate,
    due: NaiveDate,
    ht: Decimal,
    vat: Decimal,
) -> Invoice {
    Invoice {
        id: InvoiceId::new(id),
        number: id.to_owned(),
        kind: InvoiceKind::Invoice,
        type_code: 380,
        issue_date: issue,
        due_date: Some(due),
        instalments: vec![],
        currency: Currency::EUR,
        total_without_vat: ht,
        total_vat: vat,
        total_with_vat: ht + vat,
        amount_due: ht + vat,
        customer: CustomerId::new(customer),
        buyer_reference: None,
        order_reference: None,
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status: InvoiceStatus::Open,
    }
}

fn event(
    customer: &str,
    invoice: Option<&str>,
    date: NaiveDate,
    kind: CreditEventKind,
) -> CreditEvent {
    CreditEvent {
        customer: CustomerId::new(customer),
        invoice: invoice.map(InvoiceId::new),
        date,
        kind,
        reference: None,
    }
}

fn row(id: &str, rate: Decimal) -> RateRow {
    RateRow {
        id: id.to_owned(),
        procedure: None,
        min_stage: None,
        min_days_overdue: None,
        dispute: None,
        rate,
    }
}

/// A line written as (account, debit, credit, party).
type L<'a> = (&'a str, Decimal, Decimal, Option<&'a str>);

fn assert_entry(e: &Entry, kind: EntryKind, journal: &str, date: NaiveDate, lines: &[L]) {
    assert_eq!(e.kind, kind, "{e:#?}");
    assert_eq!(e.journal, journal);
    assert_eq!(e.date, date);
    let got: Vec<(String, Decimal, Decimal, Option<String>)> = e
        .lines
        .iter()
        .map(|l| {
            (
                l.account.clone(),
                l.debit,
                l.credit,
                l.party.as_ref().map(|p| p.to_string()),
            )
        })
        .collect();
    let want: Vec<(String, Decimal, Decimal, Option<String>)> = lines
        .iter()
        .map(|(a, d, c, p)| (a.to_string(), *d, *c, p.map(str::to_owned)))
        .collect();
    assert_eq!(got, want, "entry {}", e.key);
    assert!(e.is_balanced());
}

fn input(
    receivables: Vec<Receivable>,
    events: Vec<CreditEvent>,
    previous: ProvisionState,
) -> ClosingInput {
    ClosingInput {
        company: CompanyId::new("acme"),
        currency: Currency::EUR,
        receivables,
        events,
        overrides: vec![],
        previous,
    }
}

/// The policy of the domain example: contentieux → 60 %, contentieux and a year overdue → 80 %.
fn example_policy() -> Policy {
    Policy {
        rates: vec![
            RateRow {
                min_stage: Some(Stage::Contentieux),
                ..row("R-CONT", dec!(0.60))
            },
            RateRow {
                min_stage: Some(Stage::Contentieux),
                min_days_overdue: Some(365),
                ..row("R-CONT-365", dec!(0.80))
            },
            RateRow {
                procedure: Some(ProcedureKind::Liquidation),
                ..row("R-LJ", dec!(1))
            },
        ],
        ..Policy::default()
    }
}

/// Domain rules §4.4: 10 000 € HT + 20 % = 12 000 € TTC; reclass and 60 % at 31/12/N, 80 % at
/// 31/12/N+1, liquidation with write-off and VAT recovery in N+2.
#[test]
fn reclass_60_then_80_then_liquidation_write_off() {
    let policy = example_policy();
    let inv = invoice(
        "F2024-001",
        "C1",
        d(2024, 6, 30),
        d(2024, 7, 30),
        dec!(10000),
        dec!(2000),
    );
    let events = vec![
        event(
            "C1",
            Some("F2024-001"),
            d(2024, 9, 1),
            CreditEventKind::ReminderSent { level: 1 },
        ),
        event(
            "C1",
            Some("F2024-001"),
            d(2024, 10, 15),
            CreditEventKind::MiseEnDemeureSent,
        ),
        event(
            "C1",
            Some("F2024-001"),
            d(2024, 11, 20),
            CreditEventKind::ContentieuxStarted,
        ),
        // N+2: liquidation pronounced, rectified invoice sent (these are after the first two
        // closings and must not influence them).
        event(
            "C1",
            None,
            d(2026, 3, 2),
            CreditEventKind::ProcedureCollective {
                procedure: ProcedureKind::Liquidation,
                bodacc_date: Some(d(2026, 3, 12)),
            },
        ),
        event(
            "C1",
            Some("F2024-001"),
            d(2026, 3, 20),
            CreditEventKind::DefinitiveLoss {
                reason: LossReason::LiquidationJudgment,
                rectified_invoice: Some("F2024-001-R".into()),
            },
        ),
    ];
    let recv = vec![Receivable {
        invoice: inv,
        settlements: vec![],
    }];

    // 31/12/N
    let n = d(2024, 12, 31);
    let t1 = closing(
        &input(recv.clone(), events.clone(), ProvisionState::default()),
        &policy,
        n,
    )
    .unwrap();
    assert_eq!(t1.entries.len(), 2, "{}", table_text(&t1));
    assert_entry(
        &t1.entries[0],
        EntryKind::Reclassification,
        "OD",
        n,
        &[
            ("416", dec!(12000), dec!(0), Some("C1")),
            ("411", dec!(0), dec!(12000), Some("C1")),
        ],
    );
    assert_entry(
        &t1.entries[1],
        EntryKind::Allowance,
        "OD",
        n,
        &[
            ("68174", dec!(6000), dec!(0), None),
            ("491", dec!(0), dec!(6000), None),
        ],
    );
    let l = &t1.lines[0];
    assert_eq!(l.classification, Classification::Douteuse);
    assert_eq!(
        (l.base_ht, l.rate, l.rate_rule.as_str()),
        (dec!(10000), dec!(0.60), "R-CONT")
    );
    assert_eq!(
        (l.previous_provision, l.movement, l.new_provision),
        (dec!(0), dec!(6000), dec!(6000))
    );
    assert!(l.deductible);
    assert!(
        l.evidence
            .iter()
            .any(|e| e.starts_with("2024-10-15: mise en demeure")),
        "{:?}",
        l.evidence
    );
    assert!(
        l.justification.contains("contentieux since 2024-11-20"),
        "{}",
        l.justification
    );
    assert_eq!(
        t1.entries[0].key,
        "provision:acme:F2024-001:2024-12-31:reclassification"
    );

    // Same closing again on the state it produced: nothing new.
    let again = closing(
        &input(recv.clone(), events.clone(), t1.state.clone()),
        &policy,
        n,
    )
    .unwrap();
    assert!(again.entries.is_empty(), "{}", table_text(&again));
    assert_eq!(again.state, t1.state);

    // 31/12/N+1: 519 days overdue → 80 %.
    let n1 = d(2025, 12, 31);
    let t2 = closing(
        &input(recv.clone(), events.clone(), t1.state.clone()),
        &policy,
        n1,
    )
    .unwrap();
    assert_eq!(t2.entries.len(), 1, "{}", table_text(&t2));
    assert_entry(
        &t2.entries[0],
        EntryKind::Allowance,
        "OD",
        n1,
        &[
            ("68174", dec!(2000), dec!(0), None),
            ("491", dec!(0), dec!(2000), None),
        ],
    );
    assert_eq!(
        (
            t2.lines[0].previous_provision,
            t2.lines[0].movement,
            t2.lines[0].new_provision
        ),
        (dec!(6000), dec!(2000), dec!(8000))
    );
    assert_eq!(t2.lines[0].rate_rule, "R-CONT-365");

    // N+2: liquidation pronounced, rectified invoice sent.
    let n2 = d(2026, 12, 31);
    let t3 = closing(
        &input(recv.clone(), events.clone(), t2.state.clone()),
        &policy,
        n2,
    )
    .unwrap();
    assert_eq!(t3.entries.len(), 2, "{}", table_text(&t3));
    assert_entry(
        &t3.entries[0],
        EntryKind::WriteOff,
        "OD",
        n2,
        &[
            ("654", dec!(10000), dec!(0), None),
            ("44571", dec!(2000), dec!(0), None),
            ("416", dec!(0), dec!(12000), Some("C1")),
        ],
    );
    assert_entry(
        &t3.entries[1],
        EntryKind::WriteOffReversal,
        "OD",
        n2,
        &[
            ("491", dec!(8000), dec!(0), None),
            ("78174", dec!(0), dec!(8000), None),
        ],
    );
    assert_eq!(t3.lines[0].classification, Classification::Irrecouvrable);
    assert!(t3.entries[0].justification.contains("F2024-001-R"));
    assert_eq!(t3.totals.written_off_ht, dec!(10000));

    let again = closing(
        &input(recv.clone(), events.clone(), t3.state.clone()),
        &policy,
        n2,
    )
    .unwrap();
    assert!(again.entries.is_empty());
    // A later closing does not touch a written-off invoice.
    let later = closing(&input(recv, events, t3.state), &policy, d(2027, 12, 31)).unwrap();
    assert!(later.entries.is_empty() && later.lines.is_empty());
}

/// Regenerating a past closing ignores events dated after it.
#[test]
fn past_closing_is_regenerated_from_facts_up_to_its_date() {
    let policy = example_policy();
    let inv = invoice(
        "F1",
        "C1",
        d(2024, 6, 30),
        d(2024, 7, 30),
        dec!(10000),
        dec!(2000),
    );
    let events = vec![
        event(
            "C1",
            Some("F1"),
            d(2024, 11, 20),
            CreditEventKind::ContentieuxStarted,
        ),
        event(
            "C1",
            None,
            d(2025, 1, 10),
            CreditEventKind::ProcedureCollective {
                procedure: ProcedureKind::Liquidation,
                bodacc_date: None,
            },
        ),
    ];
    let recv = vec![Receivable {
        invoice: inv,
        settlements: vec![],
    }];
    let t = closing(
        &input(recv, events, ProvisionState::default()),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    assert_eq!(t.lines[0].new_provision, dec!(6000));
    assert!(t.lines[0].evidence.iter().all(|e| !e.contains("procédure")));
}

/// Payment received after provisioning: 512 / 416, then reversal of the allowance on the
/// reduced base; the final payment clears 416 and 491.
#[test]
fn payment_after_provisioning() {
    let policy = Policy {
        rates: vec![RateRow {
            min_stage: Some(Stage::MiseEnDemeure),
            ..row("R-MED", dec!(0.50))
        }],
        ..Policy::default()
    };
    let inv = invoice(
        "F2",
        "C2",
        d(2024, 5, 2),
        d(2024, 6, 1),
        dec!(5000),
        dec!(1000),
    );
    let events = vec![event(
        "C2",
        Some("F2"),
        d(2024, 9, 1),
        CreditEventKind::MiseEnDemeureSent,
    )];
    let pay1 = Settlement {
        reference: "BQ-2025-0410".into(),
        date: d(2025, 4, 10),
        amount: dec!(3600),
        kind: SettlementKind::Payment,
    };
    let pay2 = Settlement {
        reference: "BQ-2026-0115".into(),
        date: d(2026, 1, 15),
        amount: dec!(2400),
        kind: SettlementKind::Payment,
    };
    let recv = |s: Vec<Settlement>| {
        vec![Receivable {
            invoice: inv.clone(),
            settlements: s,
        }]
    };

    let n = d(2024, 12, 31);
    let t1 = closing(
        &input(
            recv(vec![pay1.clone(), pay2.clone()]),
            events.clone(),
            ProvisionState::default(),
        ),
        &policy,
        n,
    )
    .unwrap();
    assert_entry(
        &t1.entries[0],
        EntryKind::Reclassification,
        "OD",
        n,
        &[
            ("416", dec!(6000), dec!(0), Some("C2")),
            ("411", dec!(0), dec!(6000), Some("C2")),
        ],
    );
    assert_entry(
        &t1.entries[1],
        EntryKind::Allowance,
        "OD",
        n,
        &[
            ("68174", dec!(2500), dec!(0), None),
            ("491", dec!(0), dec!(2500), None),
        ],
    );

    // 31/12/N+1: 3 600 received on 10/04; remaining 2 400 TTC = 2 000 HT; 50 % = 1 000.
    let n1 = d(2025, 12, 31);
    let t2 = closing(
        &input(
            recv(vec![pay1.clone(), pay2.clone()]),
            events.clone(),
            t1.state.clone(),
        ),
        &policy,
        n1,
    )
    .unwrap();
    assert_eq!(t2.entries.len(), 2, "{}", table_text(&t2));
    assert_entry(
        &t2.entries[0],
        EntryKind::Payment,
        "BQ",
        n1,
        &[
            ("512", dec!(3600), dec!(0), None),
            ("416", dec!(0), dec!(3600), Some("C2")),
        ],
    );
    assert_eq!(
        t2.entries[0].key,
        "provision:acme:F2:2025-12-31:payment:BQ-2025-0410"
    );
    assert_entry(
        &t2.entries[1],
        EntryKind::AllowanceReversal,
        "OD",
        n1,
        &[
            ("491", dec!(1500), dec!(0), None),
            ("78174", dec!(0), dec!(1500), None),
        ],
    );
    let l = &t2.lines[0];
    assert_eq!(
        (l.open_ttc, l.base_ht, l.vat, l.doubtful_after),
        (dec!(2400), dec!(2000), dec!(400), dec!(2400))
    );
    assert_eq!(
        (l.previous_provision, l.movement, l.new_provision),
        (dec!(2500), dec!(-1500), dec!(1000))
    );
    let again = closing(
        &input(
            recv(vec![pay1.clone(), pay2.clone()]),
            events.clone(),
            t2.state.clone(),
        ),
        &policy,
        n1,
    )
    .unwrap();
    assert!(again.entries.is_empty());

    // 31/12/N+2: paid in full: 512/416 2 400, reversal of the remaining 1 000.
    let n2 = d(2026, 12, 31);
    let t3 = closing(
        &input(recv(vec![pay1, pay2]), events, t2.state),
        &policy,
        n2,
    )
    .unwrap();
    assert_entry(
        &t3.entries[0],
        EntryKind::Payment,
        "BQ",
        n2,
        &[
            ("512", dec!(2400), dec!(0), None),
            ("416", dec!(0), dec!(2400), Some("C2")),
        ],
    );
    assert_entry(
        &t3.entries[1],
        EntryKind::AllowanceReversal,
        "OD",
        n2,
        &[
            ("491", dec!(1000), dec!(0), None),
            ("78174", dec!(0), dec!(1000), None),
        ],
    );
    assert_eq!(t3.lines[0].classification, Classification::Soldee);
    assert_eq!(t3.totals.new_provision, dec!(0));
}

/// Liquidation dividend then definitive loss: 512/416 for the dividend, loss and VAT only on
/// the unpaid remainder split pro rata, whole allowance reversed.
#[test]
fn liquidation_dividend_then_write_off() {
    let policy = example_policy();
    let inv = invoice(
        "F3",
        "C3",
        d(2024, 1, 15),
        d(2024, 2, 14),
        dec!(10000),
        dec!(2000),
    );
    let mut events = vec![event(
        "C3",
        None,
        d(2024, 4, 2),
        CreditEventKind::ProcedureCollective {
            procedure: ProcedureKind::Liquidation,
            bodacc_date: Some(d(2024, 4, 12)),
        },
    )];
    let recv = vec![Receivable {
        invoice: inv,
        settlements: vec![],
    }];
    let n = d(2024, 12, 31);
    let t1 = closing(
        &input(recv.clone(), events.clone(), ProvisionState::default()),
        &policy,
        n,
    )
    .unwrap();
    assert_entry(
        &t1.entries[0],
        EntryKind::Reclassification,
        "OD",
        n,
        &[
            ("416", dec!(12000), dec!(0), Some("C3")),
            ("411", dec!(0), dec!(12000), Some("C3")),
        ],
    );
    assert_entry(
        &t1.entries[1],
        EntryKind::Allowance,
        "OD",
        n,
        &[
            ("68174", dec!(10000), dec!(0), None),
            ("491", dec!(0), dec!(10000), None),
        ],
    );
    assert_eq!(t1.lines[0].rate_rule, "R-LJ");

    events.push(CreditEvent {
        reference: Some("LIQ-DIV-1".into()),
        ..event(
            "C3",
            Some("F3"),
            d(2025, 6, 3),
            CreditEventKind::LiquidationDividend { amount: dec!(1200) },
        )
    });
    events.push(event(
        "C3",
        Some("F3"),
        d(2025, 9, 30),
        CreditEventKind::DefinitiveLoss {
            reason: LossReason::ClotureInsuffisanceActif,
            rectified_invoice: Some("F3-R".into()),
        },
    ));
    let n1 = d(2025, 12, 31);
    let t2 = closing(
        &input(recv.clone(), events.clone(), t1.state.clone()),
        &policy,
        n1,
    )
    .unwrap();
    assert_eq!(t2.entries.len(), 3, "{}", table_text(&t2));
    assert_entry(
        &t2.entries[0],
        EntryKind::Payment,
        "BQ",
        n1,
        &[
            ("512", dec!(1200), dec!(0), None),
            ("416", dec!(0), dec!(1200), Some("C3")),
        ],
    );
    // 10 800 TTC unpaid = 9 000 HT + 1 800 VAT.
    assert_entry(
        &t2.entries[1],
        EntryKind::WriteOff,
        "OD",
        n1,
        &[
            ("654", dec!(9000), dec!(0), None),
            ("44571", dec!(1800), dec!(0), None),
            ("416", dec!(0), dec!(10800), Some("C3")),
        ],
    );
    assert_entry(
        &t2.entries[2],
        EntryKind::WriteOffReversal,
        "OD",
        n1,
        &[
            ("491", dec!(10000), dec!(0), None),
            ("78174", dec!(0), dec!(10000), None),
        ],
    );
    let again = closing(&input(recv, events, t2.state.clone()), &policy, n1).unwrap();
    assert!(again.entries.is_empty());
}

/// Without a rectified invoice the VAT cannot be recovered: the write-off is held.
#[test]
fn write_off_without_rectified_invoice_is_held() {
    let policy = example_policy();
    let inv = invoice(
        "F4",
        "C4",
        d(2024, 1, 15),
        d(2024, 2, 14),
        dec!(1000),
        dec!(200),
    );
    let events = vec![
        event(
            "C4",
            Some("F4"),
            d(2024, 3, 1),
            CreditEventKind::ContentieuxStarted,
        ),
        event(
            "C4",
            Some("F4"),
            d(2024, 11, 1),
            CreditEventKind::DefinitiveLoss {
                reason: LossReason::Prescription,
                rectified_invoice: None,
            },
        ),
    ];
    let t = closing(
        &input(
            vec![Receivable {
                invoice: inv,
                settlements: vec![],
            }],
            events,
            ProvisionState::default(),
        ),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    assert!(t.entries.iter().all(|e| e.kind != EntryKind::WriteOff));
    assert_eq!(t.lines[0].classification, Classification::Douteuse);
    assert!(
        t.notes
            .iter()
            .any(|n| n.message.contains("no rectified invoice")),
        "{:?}",
        t.notes
    );
}

/// Partial payment with an awkward VAT rate: HT = TTC × HT/TTC rounded half away from zero,
/// VAT = the rest. A person's override replaces the matrix and is cited.
#[test]
fn pro_rata_rounding_and_override() {
    let policy = Policy::default();
    let inv = invoice(
        "F5",
        "C5",
        d(2024, 1, 10),
        d(2024, 2, 9),
        dec!(100.00),
        dec!(5.50),
    );
    let events = vec![event(
        "C5",
        Some("F5"),
        d(2024, 5, 1),
        CreditEventKind::Dispute {
            reason: Some("goods damaged".into()),
        },
    )];
    let s = Settlement {
        reference: "P1".into(),
        date: d(2024, 6, 1),
        amount: dec!(33.33),
        kind: SettlementKind::Payment,
    };
    let mut inp = input(
        vec![Receivable {
            invoice: inv,
            settlements: vec![s],
        }],
        events,
        ProvisionState::default(),
    );
    inp.overrides.push(RateOverride {
        invoice: InvoiceId::new("F5"),
        rate: dec!(0.35),
        by: "marie.dupont".into(),
        reason: "customer offered a 65 % settlement".into(),
        date: d(2024, 12, 20),
    });
    let n = d(2024, 12, 31);
    let t = closing(&inp, &policy, n).unwrap();
    let l = &t.lines[0];
    // 72.17 × 100 / 105.5 = 68.4076 → 68.41; VAT 3.76.
    assert_eq!(
        (l.open_ttc, l.base_ht, l.vat),
        (dec!(72.17), dec!(68.41), dec!(3.76))
    );
    assert_eq!(l.classification, Classification::Litigieuse);
    assert_eq!(l.rate_rule, "override");
    assert!(l.rate_detail.contains("marie.dupont") && l.rate_detail.contains("65 %"));
    // 68.41 × 0.35 = 23.9435 → 23.94
    assert_entry(
        &t.entries[0],
        EntryKind::Reclassification,
        "OD",
        n,
        &[
            ("416", dec!(72.17), dec!(0), Some("C5")),
            ("411", dec!(0), dec!(72.17), Some("C5")),
        ],
    );
    assert_entry(
        &t.entries[1],
        EntryKind::Allowance,
        "OD",
        n,
        &[
            ("68174", dec!(23.94), dec!(0), None),
            ("491", dec!(0), dec!(23.94), None),
        ],
    );
}

/// A mere overdue classifies (policy) but the allowance is flagged non-deductible.
#[test]
fn overdue_only_is_not_deductible() {
    let policy = Policy::default();
    let inv = invoice(
        "F6",
        "C6",
        d(2023, 1, 10),
        d(2023, 2, 9),
        dec!(1000),
        dec!(200),
    );
    let t = closing(
        &input(
            vec![Receivable {
                invoice: inv,
                settlements: vec![],
            }],
            vec![],
            ProvisionState::default(),
        ),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    let l = &t.lines[0];
    assert!(!l.deductible, "{}", l.deductibility);
    // 691 days: R-AGE-365 (50 %) beats R-AGE-180 (25 %).
    assert_eq!(
        (l.rate_rule.as_str(), l.new_provision),
        ("R-AGE-365", dec!(500))
    );
    assert_eq!(t.totals.non_deductible, dec!(500));
    let csv = state_csv(&t);
    assert!(csv.starts_with(STATE_CSV_HEADER));
    assert_eq!(csv.lines().count(), 2);
    assert!(csv.contains(",F6,F6,C6,douteuse,691,1200.00,1200.00,1200.00,1000.00,200.00,0.5,R-AGE-365,0.00,500.00,500.00,false,"), "{csv}");
}

/// A procédure collective concerns only invoices issued on or before its opening judgment.
#[test]
fn procedure_concerns_pre_opening_invoices_only() {
    let policy = Policy {
        criteria: relance_core::provision::Criteria {
            days_overdue: None,
            ..Default::default()
        },
        ..Policy::default()
    };
    let before = invoice(
        "F7",
        "C7",
        d(2024, 3, 1),
        d(2024, 3, 31),
        dec!(100),
        dec!(20),
    );
    let after = invoice(
        "F8",
        "C7",
        d(2024, 5, 1),
        d(2024, 5, 31),
        dec!(100),
        dec!(20),
    );
    let events = vec![event(
        "C7",
        None,
        d(2024, 4, 15),
        CreditEventKind::ProcedureCollective {
            procedure: ProcedureKind::Redressement,
            bodacc_date: None,
        },
    )];
    let t = closing(
        &input(
            vec![
                Receivable {
                    invoice: before,
                    settlements: vec![],
                },
                Receivable {
                    invoice: after,
                    settlements: vec![],
                },
            ],
            events,
            ProvisionState::default(),
        ),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    assert_eq!(t.lines.len(), 1);
    assert_eq!(
        (
            t.lines[0].invoice.as_str(),
            t.lines[0].rate_rule.as_str(),
            t.lines[0].new_provision
        ),
        ("F7", "R-RJ", dec!(75))
    );
}

/// Sub-accounts and the encaissements regime come from the policy.
#[test]
fn accounts_are_configurable() {
    let policy: Policy = toml::from_str(
        r#"
        vat_regime = "encaissements"
        payment_booking = "transfer_to_411"
        [accounts]
        doubtful = "4161"
        allowance = "4911"
        [[rates]]
        id = "LJ"
        procedure = "liquidation"
        rate = "1"
        "#,
    )
    .unwrap();
    let inv = invoice(
        "F9",
        "C9",
        d(2024, 1, 15),
        d(2024, 2, 14),
        dec!(1000),
        dec!(200),
    );
    let events = vec![
        event(
            "C9",
            None,
            d(2024, 4, 2),
            CreditEventKind::ProcedureCollective {
                procedure: ProcedureKind::Liquidation,
                bodacc_date: None,
            },
        ),
        event(
            "C9",
            Some("F9"),
            d(2024, 12, 1),
            CreditEventKind::DefinitiveLoss {
                reason: LossReason::LiquidationJudgment,
                rectified_invoice: Some("R9".into()),
            },
        ),
    ];
    let s = Settlement {
        reference: "P9".into(),
        date: d(2024, 12, 20),
        amount: dec!(120),
        kind: SettlementKind::Payment,
    };
    let n = d(2024, 12, 31);
    // First closing at 30/06 (before the payment and the loss), then 31/12.
    let first = closing(
        &input(
            vec![Receivable {
                invoice: inv.clone(),
                settlements: vec![s.clone()],
            }],
            events.clone(),
            ProvisionState::default(),
        ),
        &policy,
        d(2024, 6, 30),
    )
    .unwrap();
    assert_entry(
        &first.entries[0],
        EntryKind::Reclassification,
        "OD",
        d(2024, 6, 30),
        &[
            ("4161", dec!(1200), dec!(0), Some("C9")),
            ("411", dec!(0), dec!(1200), Some("C9")),
        ],
    );
    assert_entry(
        &first.entries[1],
        EntryKind::Allowance,
        "OD",
        d(2024, 6, 30),
        &[
            ("68174", dec!(1000), dec!(0), None),
            ("4911", dec!(0), dec!(1000), None),
        ],
    );
    let t = closing(
        &input(
            vec![Receivable {
                invoice: inv,
                settlements: vec![s],
            }],
            events,
            first.state,
        ),
        &policy,
        n,
    )
    .unwrap();
    assert_entry(
        &t.entries[0],
        EntryKind::Payment,
        "OD",
        n,
        &[
            ("411", dec!(120), dec!(0), Some("C9")),
            ("4161", dec!(0), dec!(120), Some("C9")),
        ],
    );
    assert_entry(
        &t.entries[1],
        EntryKind::WriteOff,
        "OD",
        n,
        &[
            ("654", dec!(900), dec!(0), None),
            ("4458", dec!(180), dec!(0), None),
            ("4161", dec!(0), dec!(1080), Some("C9")),
        ],
    );
    assert_entry(
        &t.entries[2],
        EntryKind::WriteOffReversal,
        "OD",
        n,
        &[
            ("4911", dec!(1000), dec!(0), None),
            ("78174", dec!(0), dec!(1000), None),
        ],
    );
}

#[test]
fn policy_refuses_unknown_keys_and_bad_rates() {
    assert!(toml::from_str::<Policy>("journals = \"OD\"").is_err());
    assert!(toml::from_str::<Policy>("[accounts]\ndoubtfull = \"416\"").is_err());
    let p: Policy = toml::from_str("[[rates]]\nid = \"X\"\nrate = \"1.5\"").unwrap();
    assert_eq!(p.validate().len(), 1);
    let empty: Policy = toml::from_str("").unwrap();
    assert_eq!(empty, Policy::default());
}

#[test]
fn table_serializes_and_reads_well() {
    let policy = example_policy();
    let inv = invoice(
        "F1",
        "C1",
        d(2024, 6, 30),
        d(2024, 7, 30),
        dec!(10000),
        dec!(2000),
    );
    let events = vec![event(
        "C1",
        Some("F1"),
        d(2024, 11, 20),
        CreditEventKind::ContentieuxStarted,
    )];
    let t = closing(
        &input(
            vec![Receivable {
                invoice: inv,
                settlements: vec![],
            }],
            events,
            ProvisionState::default(),
        ),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    let json = serde_json::to_string(&t).unwrap();
    assert!(json.contains("\"classification\":\"douteuse\""));
    let back: relance_core::provision::ClosingTable = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    let text = table_text(&t);
    assert!(
        text.contains("F1") && text.contains("60%") && text.contains("68174"),
        "{text}"
    );
    let ev: CreditEvent = serde_json::from_str(
        r#"{"customer":"C1","invoice":"F1","date":"2026-03-20","kind":"definitive_loss","reason":"cloture_insuffisance_actif","rectified_invoice":"F1-R"}"#,
    )
    .unwrap();
    assert!(matches!(
        ev.kind,
        CreditEventKind::DefinitiveLoss {
            reason: LossReason::ClotureInsuffisanceActif,
            ..
        }
    ));
}

/// The same closing re-run after a person changed the rate: the difference is booked under a
/// revision key; re-running once more adds nothing.
#[test]
fn rerun_after_override_books_a_revision() {
    let policy = example_policy();
    let inv = invoice(
        "F10",
        "C10",
        d(2024, 6, 30),
        d(2024, 7, 30),
        dec!(1000),
        dec!(200),
    );
    let events = vec![event(
        "C10",
        Some("F10"),
        d(2024, 11, 20),
        CreditEventKind::ContentieuxStarted,
    )];
    let recv = vec![Receivable {
        invoice: inv,
        settlements: vec![],
    }];
    let n = d(2024, 12, 31);
    let t1 = closing(
        &input(recv.clone(), events.clone(), ProvisionState::default()),
        &policy,
        n,
    )
    .unwrap();
    assert_eq!(t1.lines[0].new_provision, dec!(600));
    let mut changed = input(recv, events, t1.state.clone());
    changed.overrides.push(RateOverride {
        invoice: InvoiceId::new("F10"),
        rate: dec!(0.9),
        by: "controller".into(),
        reason: "customer closed its premises".into(),
        date: n,
    });
    let t2 = closing(&changed, &policy, n).unwrap();
    assert_eq!(t2.entries.len(), 1);
    assert_eq!(
        t2.entries[0].key,
        "provision:acme:F10:2024-12-31:allowance:r2"
    );
    assert_entry(
        &t2.entries[0],
        EntryKind::Allowance,
        "OD",
        n,
        &[
            ("68174", dec!(300), dec!(0), None),
            ("491", dec!(0), dec!(300), None),
        ],
    );
    changed.previous = t2.state;
    assert!(closing(&changed, &policy, n).unwrap().entries.is_empty());
}

/// Money received after a write-off is not booked automatically: it is noted once.
#[test]
fn receipt_after_write_off_is_noted_once() {
    let policy = example_policy();
    let inv = invoice(
        "F11",
        "C11",
        d(2024, 1, 15),
        d(2024, 2, 14),
        dec!(1000),
        dec!(200),
    );
    let events = vec![
        event(
            "C11",
            None,
            d(2024, 3, 1),
            CreditEventKind::ProcedureCollective {
                procedure: ProcedureKind::Liquidation,
                bodacc_date: None,
            },
        ),
        event(
            "C11",
            Some("F11"),
            d(2024, 9, 1),
            CreditEventKind::DefinitiveLoss {
                reason: LossReason::LiquidationJudgment,
                rectified_invoice: Some("F11-R".into()),
            },
        ),
    ];
    let late = Settlement {
        reference: "VIR-LATE".into(),
        date: d(2025, 2, 1),
        amount: dec!(50),
        kind: SettlementKind::Payment,
    };
    let recv = vec![Receivable {
        invoice: inv,
        settlements: vec![late],
    }];
    let t1 = closing(
        &input(recv.clone(), events.clone(), ProvisionState::default()),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    assert!(t1.entries.iter().any(|e| e.kind == EntryKind::WriteOff));
    let t2 = closing(
        &input(recv.clone(), events.clone(), t1.state),
        &policy,
        d(2025, 12, 31),
    )
    .unwrap();
    assert!(t2.entries.is_empty());
    assert!(
        t2.notes
            .iter()
            .any(|n| n.message.contains("VIR-LATE") && n.message.contains("after the write-off")),
        "{:?}",
        t2.notes
    );
    let t3 = closing(&input(recv, events, t2.state), &policy, d(2026, 12, 31)).unwrap();
    assert!(t3.notes.is_empty() && t3.entries.is_empty());
}

#[test]
fn rectified_invoice_mention_carries_the_amounts() {
    let m = relance_core::provision::rectification_mention("F2024-001", dec!(9000), dec!(1800));
    assert!(
        m.contains("9000,00 € (prix net)")
            && m.contains("1800,00 € (TVA correspondante)")
            && m.contains("CGI art. 272"),
        "{m}"
    );
}

/// Customer-wide facts concern only the invoices that existed then; invoices issued after the
/// closing date are not part of it.
#[test]
fn customer_wide_events_and_later_invoices() {
    let policy = Policy {
        criteria: relance_core::provision::Criteria {
            days_overdue: None,
            ..Default::default()
        },
        ..Policy::default()
    };
    let old = invoice(
        "F20",
        "C20",
        d(2024, 3, 1),
        d(2024, 3, 31),
        dec!(100),
        dec!(20),
    );
    let new = invoice(
        "F21",
        "C20",
        d(2024, 9, 1),
        d(2024, 10, 1),
        dec!(100),
        dec!(20),
    );
    let after = invoice(
        "F22",
        "C20",
        d(2025, 1, 5),
        d(2025, 2, 4),
        dec!(100),
        dec!(20),
    );
    let events = vec![event(
        "C20",
        None,
        d(2024, 6, 1),
        CreditEventKind::Dispute { reason: None },
    )];
    let recv = [old, new, after]
        .into_iter()
        .map(|invoice| Receivable {
            invoice,
            settlements: vec![],
        })
        .collect();
    let t = closing(
        &input(recv, events, ProvisionState::default()),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    let ids: Vec<&str> = t.lines.iter().map(|l| l.invoice.as_str()).collect();
    assert_eq!(ids, ["F20"]);
}

/// The dunning history feeds the classification: a sent mise en demeure and a procédure
/// collective pause become credit events.
#[test]
fn dunning_history_feeds_the_closing() {
    use relance_core::dunning::pause::{Pause, PauseKind, Procedure};
    use relance_core::dunning::{SentAction, Stage as DunningStage};
    let sent = vec![
        SentAction {
            customer: CustomerId::new("C30"),
            stage: DunningStage::Formelle,
            step: 0,
            invoices: vec![InvoiceId::new("F30")],
            date: d(2024, 4, 1),
        },
        SentAction {
            customer: CustomerId::new("C30"),
            stage: DunningStage::MiseEnDemeure,
            step: 0,
            invoices: vec![InvoiceId::new("F30")],
            date: d(2024, 5, 1),
        },
    ];
    let pauses = vec![Pause {
        customer: CustomerId::new("C31"),
        invoice: None,
        kind: PauseKind::ProcedureCollective {
            procedure: Procedure::Sauvegarde,
            judgment_date: d(2024, 7, 1),
            bodacc_publication: Some(d(2024, 7, 9)),
            creditor_abroad: false,
            declaration_deadline: None,
        },
    }];
    let events = relance_core::provision::from_dunning(&sent, &pauses);
    assert_eq!(events.len(), 3);
    let recv = vec![
        Receivable {
            invoice: invoice(
                "F30",
                "C30",
                d(2024, 2, 1),
                d(2024, 3, 2),
                dec!(100),
                dec!(20),
            ),
            settlements: vec![],
        },
        Receivable {
            invoice: invoice(
                "F31",
                "C31",
                d(2024, 2, 1),
                d(2024, 3, 2),
                dec!(100),
                dec!(20),
            ),
            settlements: vec![],
        },
    ];
    let policy = Policy {
        criteria: relance_core::provision::Criteria {
            days_overdue: None,
            ..Default::default()
        },
        ..Policy::default()
    };
    let t = closing(
        &input(recv, events, ProvisionState::default()),
        &policy,
        d(2024, 12, 31),
    )
    .unwrap();
    let rules: Vec<(&str, &str)> = t
        .lines
        .iter()
        .map(|l| (l.invoice.as_str(), l.rate_rule.as_str()))
        .collect();
    assert_eq!(rules, [("F30", "R-MED"), ("F31", "R-SAUV")]);
    assert!(
        t.lines[0]
            .evidence
            .iter()
            .any(|e| e.contains("reminder level 2")),
        "{:?}",
        t.lines[0].evidence
    );
}
