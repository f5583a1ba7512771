//! Templates: the bundled French and English files parse and render with every variable the
//! engine provides; business reminders state penalties and the 40 €, consumer ones never do.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod dunning_support;

use chrono::Duration;
use dunning_support::*;
use relance_core::dunning::template::{
    action_context, format_amount, render, Context, SenderInfo, TemplateSet,
};
use relance_core::dunning::{plan, Action, SentAction, Stage};
use relance_core::model::{Company, CustomerKind};
use relance_core::{CompanyId, Currency};
use rust_decimal_macros::dec;

macro_rules! bundled {
    ($($name:literal),* $(,)?) => {{
        let mut t = TemplateSet::default();
        $( t.insert($name, include_str!(concat!("../../config/templates/", $name, ".txt"))); )*
        t
    }};
}

fn templates() -> TemplateSet {
    bundled!(
        "fr/preventive",
        "fr/amiable",
        "fr/amiable.firm",
        "fr/amiable.phone_task",
        "fr/formelle",
        "fr/mise_en_demeure",
        "fr/contentieux",
        "en/preventive",
        "en/amiable",
        "en/amiable.firm",
        "en/amiable.phone_task",
        "en/formelle",
        "en/mise_en_demeure",
        "en/contentieux",
    )
}

fn company() -> Company {
    Company {
        id: CompanyId::new("acme"),
        name: "ACME Outillage SAS".into(),
        siren: None,
        vat_id: None,
        ibans: vec!["FR76 3000 6000 0112 3456 7890 189".into()],
        currency: Currency::EUR,
        address: None,
    }
}

fn sender() -> SenderInfo {
    SenderInfo {
        address: "12 rue des Forges, 69007 Lyon".into(),
        payment_link: Some("https://pay.example.test/acme".into()),
        signature: "Service comptabilité clients".into(),
        phone: None,
    }
}

fn action_for(kind: CustomerKind, lang: &str, days: i64) -> (Action, relance_core::Customer) {
    let mut c = customer("C1", kind);
    c.language = lang.into();
    let inp = input(
        vec![c.clone()],
        vec![
            invoice("FA-2026-0042", "C1", days, dec!(1234.5)),
            invoice("FA-2026-0043", "C1", days, dec!(100)),
        ],
    );
    (plan(&inp, today()).unwrap().actions.remove(0), c)
}

#[test]
fn every_bundled_template_renders() {
    let t = templates();
    t.validate().unwrap();
    for (kind, days) in [
        (CustomerKind::Business, 20),
        (CustomerKind::Consumer, 20),
        (CustomerKind::Business, -3),
    ] {
        for lang in ["fr", "en"] {
            let (mut a, c) = action_for(kind, lang, days);
            for stage in Stage::ALL {
                a.stage = stage;
                let ctx = action_context(&a, &company(), &c, &sender(), today(), 8);
                let m = t.render_action(&a, &ctx).unwrap();
                assert!(m.template.starts_with(lang), "{}", m.template);
                assert!(!m.body.contains("{{"), "{}: {}", m.template, m.body);
                assert!(!m.subject.is_empty());
            }
        }
    }
}

#[test]
fn business_formal_reminder_in_french() {
    let t = templates();
    let (a, c) = action_for(CustomerKind::Business, "fr", 20);
    assert_eq!(a.stage, Stage::Formelle);
    let m = t
        .render_action(
            &a,
            &action_context(&a, &company(), &c, &sender(), today(), 8),
        )
        .unwrap();
    assert_eq!(m.template, "fr/formelle");
    assert!(m.body.contains("facture FA-2026-0042 du 11/01/2026, échue le 10/02/2026 (20 jours de retard) : 1\u{a0}234,50\u{a0}€"), "{}", m.body);
    // 1 234,50 × 12,15 % × 20 / 365 = 149,99175 × 20 / 365 = 8,2187 → 8,22; 100 → 0,6658 → 0,67
    assert!(
        m.body
            .contains("pénalités de retard au 02/03/2026 : 8,22\u{a0}€"),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("Indemnité forfaitaire pour frais de recouvrement : 80,00\u{a0}€"));
    assert!(m.body.contains("L441-10"));
    assert!(m.body.contains("FR76 3000 6000 0112 3456 7890 189"));
    assert!(m.body.contains("https://pay.example.test/acme"));
    // 1 334,50 + 8,89 + 80 = 1 423,39
    assert!(m.subject.contains("1\u{a0}423,39\u{a0}€"), "{}", m.subject);
}

#[test]
fn consumer_formal_reminder_never_mentions_40_euros() {
    let t = templates();
    for lang in ["fr", "en"] {
        let (a, c) = action_for(CustomerKind::Consumer, lang, 20);
        let m = t
            .render_action(
                &a,
                &action_context(&a, &company(), &c, &sender(), today(), 8),
            )
            .unwrap();
        assert!(!m.body.contains("40"), "{}", m.body);
        assert!(!m.body.contains("L441-10"), "{}", m.body);
    }
}

#[test]
fn english_and_tone_variants() {
    let t = templates();
    let (mut a, c) = action_for(CustomerKind::Business, "en", 3);
    assert_eq!(a.stage, Stage::Amiable);
    let m = t
        .render_action(
            &a,
            &action_context(&a, &company(), &c, &sender(), today(), 8),
        )
        .unwrap();
    assert_eq!(m.template, "en/amiable");
    assert!(m.body.contains("€1,234.50"), "{}", m.body);
    a.tone = relance_core::dunning::policy::Tone::Firm;
    assert_eq!(
        t.render_action(
            &a,
            &action_context(&a, &company(), &c, &sender(), today(), 8)
        )
        .unwrap()
        .template,
        "en/amiable.firm"
    );
    // A language without templates falls back to French.
    a.language = "de".into();
    assert_eq!(
        t.render_action(
            &a,
            &action_context(&a, &company(), &c, &sender(), today(), 8)
        )
        .unwrap()
        .template,
        "fr/amiable.firm"
    );
}

#[test]
fn renderer_rules() {
    let mut ctx = Context::default();
    ctx.set("name", "Dupont");
    ctx.set("empty", "");
    ctx.lists.insert(
        "invoices".into(),
        vec![
            [("number".to_owned(), "A".to_owned())].into(),
            [("number".to_owned(), "B".to_owned())].into(),
        ],
    );
    assert_eq!(
        render(
            "Bonjour {{ name }} : {{#each invoices}}[{{number}} {{name}}]{{/each}}",
            &ctx,
            "t"
        )
        .unwrap(),
        "Bonjour Dupont : [A Dupont][B Dupont]"
    );
    assert_eq!(
        render("{{#if empty}}x{{/if}}{{#if name}}y{{/if}}", &ctx, "t").unwrap(),
        "y"
    );
    assert!(render("{{iban}}", &ctx, "t")
        .unwrap_err()
        .to_string()
        .contains("unknown variable iban"));
    assert!(render("{{#each invoices}}", &ctx, "t").is_err());
    assert!(render("{{#each invoices}}{{/if}}", &ctx, "t").is_err());
    assert!(render("{{name", &ctx, "t").is_err());
    assert_eq!(
        format_amount(dec!(-1234567.891), "fr"),
        "-1\u{a0}234\u{a0}567,89\u{a0}€"
    );
    assert_eq!(format_amount(dec!(40), "en"), "€40.00");
}

fn render_for(a: &Action, c: &relance_core::Customer, day: chrono::NaiveDate) -> String {
    templates()
        .render_action(a, &action_context(a, &company(), c, &sender(), day, 8))
        .unwrap()
        .body
}

fn sent_on(stage: Stage, step: u32, invoices: &[&str], date: chrono::NaiveDate) -> SentAction {
    SentAction {
        customer: "C1".into(),
        stage,
        step,
        invoices: invoices.iter().map(|i| (*i).into()).collect(),
        date,
    }
}

/// A first letter that does not lie: an invoice found at D+20 with no history is dunned at the
/// formal stage (a catch-up) and the letter says nothing of a previous reminder; with history
/// it names the reminders and their dates; in a grouped letter each invoice says its own.
#[test]
fn wording_follows_the_history_that_exists() {
    for (lang, lie, none, despite) in [
        (
            "fr",
            "précédent rappel",
            "Sauf erreur de notre part, les factures ci-dessous restent impayées",
            "Malgré notre relance du 11/02/2026, les factures ci-dessous restent impayées",
        ),
        (
            "en",
            "previous reminder",
            "According to our records, the invoices below remain unpaid",
            "Despite our reminder of 11 February 2026, the invoices below remain unpaid",
        ),
    ] {
        // Catch-up: no history at all.
        let (a, c) = action_for(CustomerKind::Business, lang, 20);
        assert_eq!(a.stage, Stage::Formelle);
        let body = render_for(&a, &c, today());
        assert!(!body.contains(lie), "{lang}: {body}");
        assert!(
            !body.contains("Malgré") && !body.contains("Despite"),
            "{lang}: {body}"
        );
        assert!(body.contains(none), "{lang}: {body}");

        // Both invoices had the amiable e-mail on 11/02 (D+1): "despite our reminder of …".
        let mut c2 = customer("C1", CustomerKind::Business);
        c2.language = lang.into();
        let mut inp = input(
            vec![c2.clone()],
            vec![
                invoice("FA-2026-0042", "C1", 20, dec!(1234.5)),
                invoice("FA-2026-0043", "C1", 20, dec!(100)),
            ],
        );
        inp.history = vec![sent_on(
            Stage::Amiable,
            0,
            &["FA-2026-0042", "FA-2026-0043"],
            d(2026, 2, 11),
        )];
        let a = plan(&inp, today()).unwrap().actions.remove(0);
        assert_eq!(a.stage, Stage::Formelle);
        let body = render_for(&a, &c2, today());
        assert!(body.contains(despite), "{lang}: {body}");

        // Grouped letter, only FA-2026-0042 was reminded (and once called, which is no
        // written reminder): the opening says so, each line carries its own history.
        inp.history = vec![
            sent_on(Stage::Amiable, 0, &["FA-2026-0042"], d(2026, 2, 11)),
            sent_on(Stage::Amiable, 1, &["FA-2026-0042"], d(2026, 2, 17)),
        ];
        inp.invoices[1].due_date = Some(today() - Duration::days(20));
        let a = plan(&inp, today()).unwrap().actions.remove(0);
        assert_eq!(a.invoices.len(), 2, "{a:?}");
        let body = render_for(&a, &c2, today());
        assert!(
            !body.contains("Malgré") && !body.contains("Despite"),
            "{lang}: {body}"
        );
        let line = |n: &str| body.lines().find(|l| l.contains(n)).unwrap().to_owned();
        let (l42, l43) = (line("FA-2026-0042"), line("FA-2026-0043"));
        if lang == "fr" {
            assert!(l42.ends_with("(relance du 11/02/2026)"), "{l42}");
        } else {
            assert!(l42.ends_with("(reminder of 11 February 2026)"), "{l42}");
        }
        assert!(
            !l42.contains("17"),
            "a call task is not a written reminder: {l42}"
        );
        assert!(
            !l43.contains("relance du") && !l43.contains("reminder of"),
            "{l43}"
        );
    }
}

/// A formal reminder whose penalty cannot be computed (H2 2026 not in the table) states the
/// legal clause of the debtor's regime without an amount, never "0,00 €" of penalties, and
/// still the 40 €.
#[test]
fn missing_rate_states_the_legal_clause() {
    let day = d(2026, 7, 20);
    for (kind, contract, fr, en) in [
        (
            CustomerKind::Business,
            None,
            "taux de la Banque centrale européenne majoré de 10 points",
            "European Central Bank rate plus 10 percentage points",
        ),
        (
            CustomerKind::Business,
            Some(dec!(12)),
            "taux contractuel de 12\u{a0}%",
            "contractual rate of 12%",
        ),
        (
            CustomerKind::PublicEntity,
            None,
            "majoré de 8 points",
            "plus 8 percentage points",
        ),
    ] {
        for lang in ["fr", "en"] {
            let mut c = customer("C1", kind);
            c.language = lang.into();
            let mut inp = input(vec![c.clone()], vec![invoice("F1", "C1", 0, dec!(1000))]);
            // Public buyers: the rate of the semester the delay began, so an H2 delay.
            inp.invoices[0].due_date = Some(if kind.is_public() {
                d(2026, 7, 2)
            } else {
                d(2026, 6, 25)
            });
            inp.bank_data_as_of = Some(day);
            if let Some(r) = contract {
                inp.contract_rates.insert("C1".into(), r);
            }
            let a = plan(&inp, day).unwrap().actions.remove(0);
            assert_eq!(a.stage, Stage::Formelle, "{kind:?}");
            assert!(a.invoices[0].missing_rate.is_some(), "{kind:?} {lang}");
            let body = render_for(&a, &c, day);
            assert!(
                body.contains(if lang == "fr" { fr } else { en }),
                "{kind:?} {lang}: {body}"
            );
            // No computed penalty line: "pénalités de retard au 20/07/2026 : 0,00 €".
            assert!(
                !body.contains("au 20/07/2026") && !body.contains("to 20 July 2026"),
                "{kind:?} {lang}: {body}"
            );
            assert!(
                body.contains("40,00\u{a0}€") || body.contains("€40.00"),
                "{kind:?} {lang}: {body}"
            );
        }
    }
}
