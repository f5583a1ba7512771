//! PDF letters: rendered, then read back with `pdftotext` (poppler-utils) to check the text a
//! person and a court will read — accents, euro signs, amounts, legal mentions.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::{Duration, NaiveDate};
use relance_connectors::formats::letter::{letter_for_action, render_pdf, win_ansi, Letter};
use relance_core::dunning::template::{action_context, SenderInfo, TemplateSet};
use relance_core::dunning::{plan, PlanInput, Policy, RateTable, SentAction, Stage};
use relance_core::model::{
    Company, Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus, PostalAddress,
};
use relance_core::{CompanyId, Currency, InvoiceId};
use rust_decimal_macros::dec;
use std::process::Command;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// The output of a poppler tool (`pdftotext`, `pdftoppm`) run on `pdf` with `args` (the PDF
/// file, then `extra`); `None` (loudly) when poppler is absent.
fn poppler(tool: &str, args: &[&str], pdf: &[u8], extra: &[&str]) -> Option<Vec<u8>> {
    if Command::new(tool).arg("-v").output().is_err() {
        relance_connectors::testkit::skip_peer(&format!(
            "{tool} not found (apt-get install -y poppler-utils); the letter is not checked"
        ));
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new(tool)
        .args(args)
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

/// Text of a PDF through pdftotext, NBSPs as spaces.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    let out = poppler("pdftotext", &["-layout", "-enc", "UTF-8"], pdf, &["-"])?;
    Some(String::from_utf8(out).unwrap().replace('\u{a0}', " "))
}

fn company() -> Company {
    Company {
        id: CompanyId::new("acme"),
        name: "ACME Outillage SAS".into(),
        siren: Some(relance_core::siren::Siren::parse("732829320").unwrap()),
        vat_id: None,
        ibans: vec!["FR76 3000 6000 0112 3456 7890 189".into()],
        currency: Currency::EUR,
        address: Some(address(&["12 rue des Forges"], "69007", "Lyon")),
    }
}

fn address(lines: &[&str], postcode: &str, city: &str) -> PostalAddress {
    PostalAddress {
        lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        postcode: Some(postcode.into()),
        city: Some(city.into()),
        subdivision: None,
        country: Some("FR".into()),
    }
}

fn herault() -> Customer {
    let mut c = Customer::new("C1", "Établissements Hérault & Fils SARL");
    c.kind = CustomerKind::Business;
    c.address = Some(address(
        &["4 place de l'Église", "Bâtiment B"],
        "34000",
        "Montpellier",
    ));
    c
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
    let c = herault();
    inp.sender_address = company().address;
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
    let letter = letter_for_action(&a, &msg, &company(), &sender, &c).unwrap();
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
        "Bâtiment B",
        "34000 MONTPELLIER",
        "12 rue des Forges",
        "69007 LYON",
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
    let mut c = herault();
    inp.sender_address = company().address;
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
    let r = render_action(
        &a,
        &t,
        &RenderContext {
            company: &company(),
            sender: &sender,
            customer: &c,
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
    assert!(
        matches!(&r.commands[0].1, WriteCommand::CreateTask { details, .. } if details.contains("4 place de l'Église, Bâtiment B, 34000 MONTPELLIER")),
        "{:?}",
        r.commands[0].1
    );

    // Without the recipient's or the sender's postal address, or with one lacking its post
    // code, no letter is made, blank or not: an error that says which.
    let mut no_recipient = c.clone();
    no_recipient.address = None;
    let mut no_postcode = c.clone();
    if let Some(a) = no_postcode.address.as_mut() {
        a.postcode = None;
    }
    let mut no_sender = company();
    no_sender.address = None;
    for (name, company, customer, want) in [
        (
            "recipient",
            company(),
            &no_recipient,
            "Établissements Hérault & Fils SARL (recipient) is missing",
        ),
        (
            "post code",
            company(),
            &no_postcode,
            "(recipient) has no post code",
        ),
        (
            "sender",
            no_sender,
            &c,
            "ACME Outillage SAS (sender) is missing",
        ),
    ] {
        let e = render_action(
            &a,
            &t,
            &RenderContext {
                company: &company,
                sender: &sender,
                customer,
                today,
                deadline_days: 8,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
}

/// Words of a PDF with their boxes (points from the top-left corner), through
/// `pdftotext -bbox`; `None` (loudly) when poppler is absent.
/// A word and its box: text, xMin, yMin, xMax, yMax.
type Word = (String, f32, f32, f32, f32);

fn words_with_boxes(pdf: &[u8]) -> Option<Vec<Word>> {
    let out = poppler(
        "pdftotext",
        &["-bbox", "-f", "1", "-l", "1", "-enc", "UTF-8"],
        pdf,
        &["-"],
    )?;
    let html = String::from_utf8(out).unwrap();
    let attr = |tag: &str, name: &str| -> f32 {
        let k = format!("{name}=\"");
        let start = tag.find(&k).unwrap() + k.len();
        tag[start..].split('"').next().unwrap().parse().unwrap()
    };
    let mut words = Vec::new();
    for part in html.split("<word ").skip(1) {
        let (tag, rest) = part.split_once('>').unwrap();
        let text = rest
            .split("</word>")
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#39;", "'")
            .replace("&apos;", "'");
        words.push((
            text,
            attr(tag, "xMin"),
            attr(tag, "yMin"),
            attr(tag, "xMax"),
            attr(tag, "yMax"),
        ));
    }
    Some(words)
}

/// The first page as a grey image through `pdftoppm` (PGM), `(width, height, pixels)`.
fn page_image(pdf: &[u8], dpi: u32) -> Option<(usize, usize, Vec<u8>)> {
    let data = poppler(
        "pdftoppm",
        &["-gray", "-r", &dpi.to_string(), "-f", "1", "-l", "1"],
        pdf,
        &[],
    )?;
    // Binary PGM: "P5\n<w> <h>\n<max>\n" then one byte per pixel.
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let start = pos;
        while !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        fields.push(String::from_utf8(data[start..pos].to_vec()).unwrap());
    }
    assert_eq!(fields[0], "P5");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = data[pos + 1..].to_vec();
    assert_eq!(pixels.len(), w * h);
    Some((w, h, pixels))
}

/// The mise en demeure, looked at as a person and a window envelope would: the recipient's
/// name and address inside the window area, the place and date at the top right, the
/// "lettre recommandée" mention above the subject; the rendered page shows ink in the window
/// and nothing outside the printable margins.
#[test]
fn mise_en_demeure_layout_fits_a_window_envelope() {
    use relance_connectors::formats::letter::WINDOW;
    let pdf = mise_en_demeure_pdf();
    let Some(words) = words_with_boxes(&pdf) else {
        return;
    };
    let mm = 72.0 / 25.4;
    let (wl, wt, ww, wh) = WINDOW;
    let (wx0, wy0, wx1, wy1) = (wl * mm, wt * mm, (wl + ww) * mm, (wt + wh) * mm);
    let find = |w: &str| -> (f32, f32, f32, f32) {
        words
            .iter()
            .find(|x| x.0 == w)
            .map(|x| (x.1, x.2, x.3, x.4))
            .unwrap_or_else(|| panic!("{w:?} not on page 1: {words:?}"))
    };
    // Recipient block: every word of the name and address lines inside the window.
    for w in [
        "Établissements",
        "Hérault",
        "SARL",
        "l'Église",
        "Bâtiment",
        "34000",
        "MONTPELLIER",
    ] {
        let (x0, y0, x1, y1) = find(w);
        assert!(
            x0 >= wx0 && x1 <= wx1 && y0 >= wy0 && y1 <= wy1,
            "{w} at ({x0}, {y0})–({x1}, {y1}) is outside the window ({wx0}, {wy0})–({wx1}, {wy1})"
        );
    }
    // Sender block: top left, above the window.
    let (sx0, sy0, _, _) = find("ACME");
    assert!(sx0 < 80.0 && sy0 < wy0, "sender at ({sx0}, {sy0})");
    // Place and date: right-aligned at the right margin, under the window, above the rest.
    let (px0, py0, _, _) = find("Lyon,");
    let (_, _, dx1, _) = find("02/03/2026");
    assert!((595.0 - 56.0 - dx1).abs() < 2.0, "date ends at {dx1}");
    assert!(px0 > 595.0 / 2.0, "place at x {px0}");
    // The mention above the subject line, both below the place and date.
    let (_, my0, _, _) = find("recommandée");
    let (ox0, oy0, _, _) = find("Objet");
    assert!(
        py0 < my0 && my0 < oy0,
        "date {py0}, mention {my0}, subject {oy0}"
    );
    assert!(ox0 < 80.0, "subject at x {ox0}");

    // Rendered: dark pixels inside the window, the margins left white.
    let Some((w, h, px)) = page_image(&pdf, 72) else {
        return;
    };
    assert_eq!((w, h), (595, 842));
    let ink = |x0: f32, y0: f32, x1: f32, y1: f32| -> usize {
        let mut n = 0;
        for y in (y0 as usize)..(y1 as usize).min(h) {
            for x in (x0 as usize)..(x1 as usize).min(w) {
                if px[y * w + x] < 128 {
                    n += 1;
                }
            }
        }
        n
    };
    assert!(ink(wx0, wy0, wx1, wy1) > 200, "no text in the window area");
    assert_eq!(ink(0.0, 0.0, 595.0, 20.0), 0, "ink in the top margin");
    assert_eq!(ink(0.0, 0.0, 20.0, 842.0), 0, "ink in the left margin");
}
