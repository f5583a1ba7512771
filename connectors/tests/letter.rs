//! PDF letters: rendered, then read back with `pdftotext` (poppler-utils) to check the text a
//! person and a court will read — accents, euro signs, amounts, legal mentions.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::{Duration, NaiveDate};
use relance_connectors::formats::letter::{letter_for_action, render_pdf, win_ansi, Letter};
use relance_core::dunning::template::{action_context, SenderInfo, TemplateSet};
use relance_core::dunning::{plan, PlanInput, Policy, RateTable, SentAction, Stage};
use relance_core::model::{Company, Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus};
use relance_core::{CompanyId, Currency, InvoiceId};
use rust_decimal_macros::dec;
use std::process::Command;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// Text of a PDF through pdftotext, NBSPs as spaces; `None` (loudly) when poppler is absent.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    if Command::new("pdftotext").arg("-v").output().is_err() {
        relance_connectors::testkit::skip_peer(
            "pdftotext not found (apt-get install -y poppler-utils); PDF text not checked",
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .replace('\u{a0}', " "),
    )
}

fn company() -> Company {
    Company {
        id: CompanyId::new("acme"),
        name: "ACME Outillage SAS".into(),
        siren: Some(relance_core::siren::Siren::parse("732829320").unwrap()),
        vat_id: None,
        ibans: vec!["FR76 3000 6000 0112 3456 7890 189".into()],
        currency: Currency::EUR,
    }
}

fn invoice(id: &str, due: NaiveDate, amount: rust_decimal::Decimal) -> Invoice {
    Invoice {
        id: InvoiceId::new(id),
        number: id.into(),
        kind: InvoiceKind::Invoice,
        type_code: 380,
        issue_date: due - Duration::days(30),
        due_date: Some(due),
        instalments: vec![],
        currency: Currency::EUR,
        total_without_vat: amount,
        total_vat: dec!(0),
        total_with_vat: amount,
        amount_due: amount,
        customer: "C1".into(),
        buyer_reference: None,
        order_reference: None,
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status: InvoiceStatus::Open,
    }
}

/// A mise en demeure for two invoices of a business customer, 50 days overdue on 2/3/2026.
fn mise_en_demeure_pdf() -> Vec<u8> {
    let today = d(2026, 3, 2);
    let rates: RateTable = toml::from_str(include_str!("../../config/rates/fr.toml")).unwrap();
    let mut inp = PlanInput::new(CompanyId::new("acme"), Policy::default(), rates);
    let mut c = Customer::new("C1", "Établissements Hérault & Fils SARL");
    c.kind = CustomerKind::Business;
    inp.customers = vec![c.clone()];
    inp.invoices = vec![
        invoice("FA-2026-0007", d(2026, 1, 11), dec!(4800)),
        invoice("FA-2026-0011", d(2026, 1, 11), dec!(1250.40)),
    ];
    inp.bank_data_as_of = Some(today);
    inp.history = vec![SentAction {
        customer: "C1".into(),
        stage: Stage::Formelle,
        step: 0,
        invoices: vec!["FA-2026-0007".into(), "FA-2026-0011".into()],
        date: d(2026, 1, 26),
    }];
    let a = plan(&inp, today).unwrap().actions.remove(0);
    assert_eq!(a.stage, Stage::MiseEnDemeure);
    let mut t = TemplateSet::default();
    t.insert(
        "fr/mise_en_demeure",
        include_str!("../../config/templates/fr/mise_en_demeure.txt"),
    );
    let sender = SenderInfo {
        address: "12 rue des Forges, 69007 Lyon".into(),
        payment_link: None,
        signature: "Hélène Moreau, responsable crédit clients".into(),
        phone: Some("04 72 00 00 00".into()),
    };
    let msg = t
        .render_action(&a, &action_context(&a, &company(), &c, &sender, today, 8))
        .unwrap();
    let letter = letter_for_action(
        &a,
        &msg,
        &company(),
        &sender,
        &c,
        &["4 place de l'Église".into(), "34000 Montpellier".into()],
        "Lyon",
    );
    render_pdf(&letter).unwrap()
}

#[test]
fn mise_en_demeure_letter_text_comes_back_out() {
    let pdf = mise_en_demeure_pdf();
    if let Ok(keep) = std::env::var("RELANCE_LETTER_OUT") {
        std::fs::write(keep, &pdf).unwrap(); // to look at the letter by eye
    }
    assert!(pdf.starts_with(b"%PDF-1.5"));
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    assert_eq!(doc.get_pages().len(), 1);
    let Some(text) = pdftotext(&pdf) else { return };
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "ACME Outillage SAS",
        "SIREN 732829320",
        "Établissements Hérault & Fils SARL",
        "4 place de l'Église",
        "Lettre recommandée avec accusé de réception",
        "Lyon, le 02/03/2026",
        "Objet : Mise en demeure de payer",
        "facture FA-2026-0007 du 12/12/2025, échue le 11/01/2026 : 4 800,00 €",
        "facture FA-2026-0011",
        "Indemnité forfaitaire pour frais de recouvrement (art. L441-10 et D441-5 du Code de commerce) : 80,00 €",
        "mettons en demeure, au sens de l'article 1344 du Code civil",
        "au plus tard le 10/03/2026",
        "IBAN FR76 3000 6000 0112 3456 7890 189",
        "Hélène Moreau",
        "La présente lettre vaut mise en demeure au sens de l'article 1344 du Code civil.",
        "indemnité forfaitaire pour frais de recouvrement de 40 € par facture",
    ] {
        assert!(flat.contains(want), "missing {want:?} in:\n{text}");
    }
    // Penalties 50 days at 12,15 % (H1 2026: MRO 2,15 % on 1/1/2026 + 10):
    // 4 800 × 12,15 % × 50 / 365 = 583,2 × 50 / 365 = 79,8904 → 79,89
    // 1 250,40 × 12,15 % × 50 / 365 = 151,9236 × 50 / 365 = 20,8114 → 20,81; total 100,70.
    assert!(
        flat.contains("Pénalités de retard au 02/03/2026 : 100,70 €"),
        "{text}"
    );
    // Total 6 050,40 + 100,70 + 80 = 6 231,10.
    assert!(flat.contains("6 231,10 €"), "{text}");
}

#[test]
fn long_letters_flow_onto_more_pages_with_the_footer_on_each() {
    let body = (0..120)
        .map(|i| format!("Ligne {i} : facture réglée partiellement — reste dû 1 000,00 €."))
        .collect::<Vec<_>>()
        .join("\n");
    let letter = Letter {
        sender: vec!["ACME".into()],
        recipient: vec!["Client".into()],
        registered: false,
        place_date: "Lyon, le 02/03/2026".into(),
        subject: "Relevé".into(),
        body,
        footer: vec!["Mention légale de pied de page".into()],
        title: "Relevé".into(),
    };
    let pdf = render_pdf(&letter).unwrap();
    let pages = lopdf::Document::load_mem(&pdf).unwrap().get_pages().len();
    assert!(pages >= 2, "{pages}");
    let Some(text) = pdftotext(&pdf) else { return };
    assert_eq!(
        text.matches("Mention légale de pied de page").count(),
        pages
    );
    assert!(text.contains("Ligne 119"));
    assert!(text.contains(&format!("1/{pages}")));
}

#[test]
fn win_ansi_encoding() {
    assert_eq!(win_ansi("é€œ’…"), vec![0xe9, 0x80, 0x9c, 0x92, 0x85]);
    assert_eq!(win_ansi("a\u{202f}b☃"), vec![b'a', 0xa0, b'b', b'?']);
}

/// A planned mise en demeure becomes: the PDF, a task to post it by LRAR, a copy by e-mail
/// with the PDF, and the dunning level on each invoice — each under its own key.
#[test]
fn registered_letter_action_becomes_commands() {
    use relance_connectors::contract::WriteCommand;
    use relance_connectors::formats::letter::{render_action, RenderContext};
    let today = d(2026, 3, 2);
    let rates: RateTable = toml::from_str(include_str!("../../config/rates/fr.toml")).unwrap();
    let mut inp = PlanInput::new(CompanyId::new("acme"), Policy::default(), rates);
    let mut c = Customer::new("C1", "Établissements Hérault & Fils SARL");
    c.kind = CustomerKind::Business;
    c.emails = vec!["compta@herault.example".into()];
    inp.customers = vec![c.clone()];
    inp.invoices = vec![invoice("FA-2026-0007", d(2026, 1, 11), dec!(4800))];
    inp.bank_data_as_of = Some(today);
    inp.history = vec![SentAction {
        customer: "C1".into(),
        stage: Stage::Formelle,
        step: 0,
        invoices: vec!["FA-2026-0007".into()],
        date: d(2026, 1, 26),
    }];
    let a = plan(&inp, today).unwrap().actions.remove(0);
    let mut t = TemplateSet::default();
    t.insert(
        "fr/mise_en_demeure",
        include_str!("../../config/templates/fr/mise_en_demeure.txt"),
    );
    let sender = SenderInfo {
        address: "12 rue des Forges, 69007 Lyon".into(),
        payment_link: None,
        signature: "Service clients".into(),
        phone: None,
    };
    let addr = vec![
        "4 place de l'Église".to_owned(),
        "34000 Montpellier".to_owned(),
    ];
    let r = render_action(
        &a,
        &t,
        &RenderContext {
            company: &company(),
            sender: &sender,
            customer: &c,
            customer_address: &addr,
            place: "Lyon",
            today,
            deadline_days: 8,
        },
    )
    .unwrap();
    let (name, pdf) = r.letter_pdf.unwrap();
    assert_eq!(name, "mise_en_demeure-C1-2026-03-02.pdf");
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!(r.commands.len(), 3);
    assert_eq!(r.commands[0].0.as_str(), a.key);
    assert!(
        matches!(&r.commands[0].1, WriteCommand::CreateTask { title, .. } if title.starts_with("Poster en LRAR"))
    );
    assert!(
        matches!(&r.commands[1].1, WriteCommand::SendEmail { attachments, .. } if attachments[0].0 == name)
    );
    assert_eq!(r.commands[1].0.as_str(), format!("{}-copy", a.key));
    assert!(matches!(
        &r.commands[2].1,
        WriteCommand::SetDunningLevel { level: 3, .. }
    ));
}
