//! PDF letters (A4) for the mise en demeure and other posted reminders, written with lopdf.
//!
//! A pure writer: a [`Letter`] in, PDF bytes out. Text uses the standard Type1 fonts
//! Helvetica and Helvetica-Bold with `WinAnsiEncoding`, so French accents and the euro sign
//! are shown without embedding a font and come back out of `pdftotext`. Lines are wrapped
//! with the Helvetica metrics (AFM widths), pages added as needed, and every page carries the
//! legal mentions at its foot.
//!
//! Layout of the first page, for a DL window envelope (110 × 220 mm, window 100 × 45 mm at
//! 20 mm from the right and 15 mm from the bottom; the A4 page folded in three): the sender
//! block top left; the recipient block inside [`WINDOW`]; under it, right-aligned, the place and
//! date; then the "Lettre recommandée avec accusé de réception" mention and the subject, left.
//! A letter is never made without both postal addresses ([`LetterError::MissingAddress`]).

use crate::contract::{IdempotencyKey, WriteCommand};
use chrono::NaiveDate;
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream, StringFormat};
use relance_core::dunning::template::{
    action_context, format_date, Message, SenderInfo, TemplateSet,
};
use relance_core::dunning::{Action, Channel};
use relance_core::model::{Company, Customer, CustomerKind, PostalAddress};

/// Errors writing a letter.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    /// lopdf failed to encode or write.
    #[error("pdf writer: {0}")]
    Pdf(#[from] lopdf::Error),
    /// Writing to the buffer failed.
    #[error("pdf writer: {0}")]
    Io(#[from] std::io::Error),
    /// The message template could not be rendered.
    #[error(transparent)]
    Template(#[from] relance_core::dunning::DunningError),
    /// A posted letter needs both postal addresses; this one is missing or incomplete.
    #[error("no letter without addresses: {0}")]
    MissingAddress(String),
}

/// A letter to render.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Letter {
    /// Sender block, top left (first line in bold: the company name).
    pub sender: Vec<String>,
    /// Recipient block, right (name and postal address).
    pub recipient: Vec<String>,
    /// Print "Lettre recommandée avec accusé de réception" (LRAR) above the date.
    pub registered: bool,
    /// "Lyon, le 02/03/2026".
    pub place_date: String,
    /// Subject line (bold), without the "Objet :" prefix.
    pub subject: String,
    /// Body; lines are kept, long ones wrapped.
    pub body: String,
    /// Legal mentions printed at the foot of every page.
    pub footer: Vec<String>,
    /// Document title (PDF metadata).
    pub title: String,
}

const PAGE_W: f32 = 595.0; // A4 in points
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
/// Points per millimetre (72 / 25.4).
const PT_PER_MM: f32 = 72.0 / 25.4;

/// The area of the first page seen through the window of a DL envelope, in millimetres from
/// the page's top-left corner: (left, top, width, height). The window is 100 × 45 mm; its
/// position on the folded page varies by a few millimetres with the fold and the play of the
/// page in the envelope, so the recipient block keeps 5 mm inside it.
pub const WINDOW: (f32, f32, f32, f32) = (100.0, 50.0, 95.0, 45.0);
/// Margin kept inside [`WINDOW`], in millimetres.
const WINDOW_INSET_MM: f32 = 5.0;
const BODY_SIZE: f32 = 10.0;
const LEADING: f32 = 13.0;
const FOOTER_SIZE: f32 = 7.5;

/// Encodes text to WinAnsi (Windows-1252) bytes; characters outside it become `?`.
pub fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '\u{202f}' | '\u{2007}' => 0xa0,
            '\u{2009}' | '\u{2002}' | '\u{2003}' | '\t' => b' ',
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => b'?',
        })
        .collect()
}

/// Width of a WinAnsi byte in Helvetica, in 1/1000 em (Adobe AFM metrics).
fn helvetica_width(b: u8) -> u32 {
    const ASCII: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
        278, // space../
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
        556, // 0..?
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
        778, // @..O
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
        556, // P.._
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
        556, // `..o
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
    ];
    match b {
        0x20..=0x7e => u32::from(ASCII[usize::from(b - 0x20)]),
        0xc0..=0xc5 | 0xc8..=0xcb | 0xdd | 0xde => 667,
        0xc6 | 0x8c => 1000,
        0xc7 | 0xd0 | 0xd1 | 0xd9..=0xdc => 722,
        0xcc..=0xcf | 0xec..=0xef | 0xa0 => 278,
        0xd2..=0xd6 | 0xd8 => 778,
        0xe6 => 889,
        0xe7 | 0xfd | 0xff => 500,
        0x9c => 944,
        0x97 | 0x85 | 0x89 => 1000,
        0x91 | 0x92 => 222,
        0x93 | 0x94 => 333,
        _ => 556,
    }
}

/// Width of encoded text in points at `size` (bold is estimated 6 % wider).
fn text_width(bytes: &[u8], size: f32, bold: bool) -> f32 {
    let units: u32 = bytes.iter().map(|b| helvetica_width(*b)).sum();
    let w = units as f32 * size / 1000.0;
    if bold {
        w * 1.06
    } else {
        w
    }
}

/// Wraps one line of text to `width` points; continuation lines keep the leading indent.
fn wrap(line: &str, width: f32, size: f32, bold: bool) -> Vec<String> {
    let indent: String = line.chars().take_while(|c| *c == ' ').collect();
    // List items ("- …") hang their continuation lines under the text; paragraphs do not.
    let hang = if line.trim_start().starts_with("- ") {
        "  "
    } else {
        ""
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in line.trim_start().split(' ') {
        let candidate = if cur.is_empty() {
            format!("{indent}{word}")
        } else {
            format!("{cur} {word}")
        };
        if !cur.is_empty() && text_width(&win_ansi(&candidate), size, bold) > width {
            out.push(std::mem::take(&mut cur));
            cur = format!("{indent}{hang}{word}");
        } else {
            cur = candidate;
        }
    }
    out.push(cur);
    out
}

struct PageBuilder {
    ops: Vec<Operation>,
}

impl PageBuilder {
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, s: &str) {
        self.ops.push(Operation::new("BT", vec![]));
        self.ops.push(Operation::new(
            "Tf",
            vec![if bold { "F2" } else { "F1" }.into(), size.into()],
        ));
        self.ops
            .push(Operation::new("Td", vec![x.into(), y.into()]));
        self.ops.push(Operation::new(
            "Tj",
            vec![Object::String(win_ansi(s), StringFormat::Literal)],
        ));
        self.ops.push(Operation::new("ET", vec![]));
    }
}

/// Renders a letter to PDF bytes.
pub fn render_pdf(letter: &Letter) -> Result<Vec<u8>, LetterError> {
    let text_w = PAGE_W - 2.0 * MARGIN;
    let footer_lines: Vec<String> = letter
        .footer
        .iter()
        .flat_map(|l| wrap(l, text_w, FOOTER_SIZE, false))
        .collect();
    let bottom = MARGIN + FOOTER_SIZE * 1.4 * footer_lines.len() as f32 + 16.0;

    let mut pages: Vec<PageBuilder> = vec![PageBuilder { ops: Vec::new() }];
    let mut y = PAGE_H - MARGIN;
    // Sender block.
    for (i, l) in letter.sender.iter().enumerate() {
        if let Some(p) = pages.last_mut() {
            p.text(MARGIN, y, if i == 0 { 11.0 } else { 9.0 }, i == 0, l);
        }
        y -= if i == 0 { 14.0 } else { 11.5 };
    }
    // Recipient block, inside the envelope window.
    let (wl, wt, _, _) = WINDOW;
    let rx = (wl + WINDOW_INSET_MM) * PT_PER_MM;
    let mut ry = PAGE_H - (wt + WINDOW_INSET_MM) * PT_PER_MM - BODY_SIZE;
    for (i, l) in letter.recipient.iter().enumerate() {
        if let Some(p) = pages.last_mut() {
            p.text(rx, ry, BODY_SIZE + 0.5, i == 0, l);
        }
        ry -= LEADING;
    }
    // Place and date, right-aligned under the window; then the mention and the subject.
    let window_bottom = PAGE_H - (WINDOW.1 + WINDOW.3) * PT_PER_MM;
    y = y.min(ry).min(window_bottom) - LEADING;
    if let Some(p) = pages.last_mut() {
        p.text(
            PAGE_W - MARGIN - text_width(&win_ansi(&letter.place_date), BODY_SIZE, false),
            y,
            BODY_SIZE,
            false,
            &letter.place_date,
        );
    }
    y -= 2.0 * LEADING;
    if letter.registered {
        if let Some(p) = pages.last_mut() {
            p.text(
                MARGIN,
                y,
                BODY_SIZE,
                true,
                "Lettre recommandée avec accusé de réception",
            );
        }
        y -= LEADING;
    }
    y -= 2.0 * LEADING;
    for l in wrap(
        &format!("Objet : {}", letter.subject),
        text_w,
        BODY_SIZE + 0.5,
        true,
    ) {
        if let Some(p) = pages.last_mut() {
            p.text(MARGIN, y, BODY_SIZE + 0.5, true, &l);
        }
        y -= LEADING + 1.0;
    }
    y -= LEADING;
    for raw in letter.body.lines() {
        for l in wrap(raw.trim_end(), text_w, BODY_SIZE, false) {
            if y < bottom {
                pages.push(PageBuilder { ops: Vec::new() });
                y = PAGE_H - MARGIN;
            }
            if !l.trim().is_empty() {
                if let Some(p) = pages.last_mut() {
                    p.text(MARGIN, y, BODY_SIZE, false, &l);
                }
            }
            y -= LEADING;
        }
    }

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = |name: &str| {
        dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => Object::Name(name.as_bytes().to_vec()),
            "Encoding" => "WinAnsiEncoding",
        }
    };
    let f1 = doc.add_object(font("Helvetica"));
    let f2 = doc.add_object(font("Helvetica-Bold"));
    let resources_id =
        doc.add_object(dictionary! { "Font" => dictionary! { "F1" => f1, "F2" => f2 } });
    let total = pages.len();
    let mut kids: Vec<Object> = Vec::with_capacity(total);
    for (n, mut page) in pages.into_iter().enumerate() {
        let mut fy = MARGIN + FOOTER_SIZE * 1.4 * (footer_lines.len() as f32 - 1.0);
        for l in &footer_lines {
            page.text(MARGIN, fy, FOOTER_SIZE, false, l);
            fy -= FOOTER_SIZE * 1.4;
        }
        if total > 1 {
            let label = format!("{}/{}", n + 1, total);
            page.text(
                PAGE_W - MARGIN - text_width(&win_ansi(&label), FOOTER_SIZE, false),
                MARGIN - 14.0,
                FOOTER_SIZE,
                false,
                &label,
            );
        }
        let content = Content {
            operations: page.ops,
        }
        .encode()?;
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).unwrap_or(i64::MAX);
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), PAGE_W.into(), PAGE_H.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::String(win_ansi(&letter.title), StringFormat::Literal),
        "Producer" => Object::string_literal("relance"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.compress();
    let mut buf = Vec::new();
    doc.save_to(&mut buf)?;
    Ok(buf)
}

/// One PDF holding every page of `files`, in order (the day's letters, printed at once).
/// Each file's page tree becomes a branch of the new one, so what its pages inherit from it
/// (fonts, page size) stays theirs. Meant for the letters [`render_pdf`] wrote, not for
/// documents from outside (lopdf reads them whole).
pub fn concat_pdfs(files: &[Vec<u8>]) -> Result<Vec<u8>, LetterError> {
    let mut out = Document::with_version("1.5");
    let root = out.new_object_id();
    let mut kids: Vec<Object> = Vec::with_capacity(files.len());
    let mut count: i64 = 0;
    for bytes in files {
        let mut doc = Document::load_mem(bytes)?;
        doc.renumber_objects_with(out.max_id + 1);
        out.max_id = out.max_id.max(doc.max_id);
        count += i64::try_from(doc.get_pages().len()).unwrap_or(0);
        let catalogs: Vec<lopdf::ObjectId> = doc
            .objects
            .iter()
            .filter(|(_, o)| {
                o.as_dict()
                    .ok()
                    .and_then(|d| d.get(b"Type").ok())
                    .and_then(|t| t.as_name().ok())
                    == Some(b"Catalog".as_slice())
            })
            .map(|(id, _)| *id)
            .collect();
        for id in catalogs {
            let pages = doc
                .objects
                .remove(&id)
                .and_then(|c| c.as_dict().ok()?.get(b"Pages").ok()?.as_reference().ok());
            let Some(pages) = pages else { continue };
            if let Some(Object::Dictionary(d)) = doc.objects.get_mut(&pages) {
                d.set("Parent", root);
                kids.push(pages.into());
            }
        }
        out.objects.extend(doc.objects);
    }
    out.objects.insert(
        root,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
        }),
    );
    let catalog = out.add_object(dictionary! { "Type" => "Catalog", "Pages" => root });
    out.trailer.set("Root", catalog);
    out.compress();
    let mut buf = Vec::new();
    out.save_to(&mut buf)?;
    Ok(buf)
}

/// The letter of a dunning action (mise en demeure by LRAR, or any posted reminder): the
/// rendered message as body, the company and its postal address as sender, the customer's
/// postal address as recipient, the company's town and the date, and the legal mentions at
/// the foot — identity of the creditor (SIREN), the basis of the demand (C. civ. 1344), and
/// for professionals the penalty rule and the 40 € indemnity (C. com. L441-10 II, D441-5).
///
/// Fails with [`LetterError::MissingAddress`] when either postal address is missing or
/// lacks a street line, post code or city: a letter is never made with a blank address.
pub fn letter_for_action(
    action: &Action,
    message: &Message,
    company: &Company,
    sender: &SenderInfo,
    customer: &Customer,
) -> Result<Letter, LetterError> {
    let lang = action.language.as_str();
    let lacking = |who: &str, a: Option<&PostalAddress>| -> Option<String> {
        match a {
            None => Some(format!("the postal address of {who} is missing")),
            Some(a) if !a.is_postal() => Some(format!(
                "the postal address of {who} has no {}",
                a.missing_parts().join(", no ")
            )),
            Some(_) => None,
        }
    };
    let problems: Vec<String> = [
        lacking(
            &format!("{} (sender)", company.name),
            company.address.as_ref(),
        ),
        lacking(
            &format!("{} (recipient)", customer.name),
            customer.address.as_ref(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let (Some(from), Some(to)) = (company.address.as_ref(), customer.address.as_ref()) else {
        return Err(LetterError::MissingAddress(problems.join("; ")));
    };
    if !problems.is_empty() {
        return Err(LetterError::MissingAddress(problems.join("; ")));
    }
    let home = from.country.as_deref().unwrap_or("FR");
    let mut sender_block = vec![company.name.clone()];
    sender_block.extend(from.block(home));
    if let Some(s) = &company.siren {
        sender_block.push(format!("SIREN {}", s.as_str()));
    }
    if let Some(p) = &sender.phone {
        sender_block.push(format!("Tél. {p}"));
    }
    let mut recipient = vec![customer.name.clone()];
    recipient.extend(to.block(home));
    let mut footer = vec![format!(
        "{}{} – {}",
        company.name,
        company
            .siren
            .as_ref()
            .map(|s| format!(" – SIREN {}", s.as_str()))
            .unwrap_or_default(),
        from.one_line()
    )];
    let registered = action.channel == relance_core::dunning::Channel::RegisteredLetter;
    if action.stage == relance_core::dunning::Stage::MiseEnDemeure {
        footer.push(
            "La présente lettre vaut mise en demeure au sens de l'article 1344 du Code civil."
                .into(),
        );
    }
    if action.customer_kind != CustomerKind::Consumer {
        footer.push(
            "Pénalités de retard exigibles de plein droit dès le lendemain de l'échéance, sans rappel (art. L441-10 II C. com.) ; indemnité forfaitaire pour frais de recouvrement de 40 € par facture (art. D441-5 C. com.)."
                .into(),
        );
    }
    if action.customer_kind.is_public() {
        footer.push("Intérêts moratoires et indemnité forfaitaire dus de plein droit (art. L2192-13, R2192-31 et D2192-35 du Code de la commande publique).".into());
    }
    let place = from.city.as_deref().unwrap_or_default();
    Ok(Letter {
        sender: sender_block,
        recipient,
        registered,
        place_date: if lang == "fr" {
            format!("{place}, le {}", format_date(action.scheduled_for, "fr"))
        } else {
            format!("{place}, {}", format_date(action.scheduled_for, lang))
        },
        subject: message.subject.clone(),
        body: message.body.clone(),
        footer,
        title: message.subject.clone(),
    })
}

/// What an action turns into: the outbox commands (each with its key) and, for a registered
/// letter, the PDF to store beside the state for the operator to print.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedAction {
    /// Commands to enqueue, in order.
    pub commands: Vec<(IdempotencyKey, WriteCommand)>,
    /// File name and bytes of the letter, for [`Channel::RegisteredLetter`].
    pub letter_pdf: Option<(String, Vec<u8>)>,
    /// The rendered message.
    pub message: Message,
}

/// Everything about the recipient and the day a rendering needs.
#[derive(Clone, Debug)]
pub struct RenderContext<'a> {
    /// The creditor, with its postal address (the sender of letters; its city is the place
    /// printed before the date).
    pub company: &'a Company,
    /// Signature, payment link, phone.
    pub sender: &'a SenderInfo,
    /// The debtor, with its postal address.
    pub customer: &'a Customer,
    /// Plan date.
    pub today: NaiveDate,
    /// Days given to pay (policy `mise_en_demeure_deadline_days`).
    pub deadline_days: u32,
}

/// Turns a planned action into outbox commands:
///
/// * `email` → `SendEmail` under the action's key;
/// * `phone_task` / `legal_task` → `CreateTask` under the action's key;
/// * `registered_letter` → the PDF letter, a `CreateTask` "post by LRAR" under the action's
///   key, and a copy by e-mail with the PDF attached under `<key>-copy` when the customer has
///   an address;
/// * and always one `SetDunningLevel` per invoice under `<key>-level-<invoice>`.
pub fn render_action(
    action: &Action,
    templates: &TemplateSet,
    cx: &RenderContext<'_>,
) -> Result<RenderedAction, LetterError> {
    let ctx = action_context(
        action,
        cx.company,
        cx.customer,
        cx.sender,
        cx.today,
        cx.deadline_days,
    );
    let message = templates.render_action(action, &ctx)?;
    render_message(action, message, cx)
}

/// [`render_action`] with the message already written: the text a person approved or edited
/// (the commands, keys and letter are the same as for the rendered template).
pub fn render_message(
    action: &Action,
    message: Message,
    cx: &RenderContext<'_>,
) -> Result<RenderedAction, LetterError> {
    let key = IdempotencyKey(action.key.clone());
    let mut commands = Vec::new();
    let mut letter_pdf = None;
    let email = |attachments: Vec<(String, Vec<u8>)>| WriteCommand::SendEmail {
        to: cx.customer.emails.clone(),
        subject: message.subject.clone(),
        body: message.body.clone(),
        attachments,
    };
    match action.channel {
        Channel::Email => commands.push((key, email(Vec::new()))),
        Channel::PhoneTask | Channel::LegalTask => commands.push((
            key,
            WriteCommand::CreateTask {
                assignee: None,
                title: message.subject.clone(),
                details: message.body.clone(),
            },
        )),
        Channel::RegisteredLetter => {
            let letter = letter_for_action(action, &message, cx.company, cx.sender, cx.customer)?;
            let pdf = render_pdf(&letter)?;
            let name = format!(
                "{}-{}-{}.pdf",
                action.stage.name(),
                action.customer,
                action.scheduled_for
            );
            commands.push((
                key,
                WriteCommand::CreateTask {
                    assignee: None,
                    title: format!("Poster en LRAR : {} – {}", cx.customer.name, message.subject),
                    details: format!(
                        "Imprimer la lettre {name}, l'envoyer en recommandé avec accusé de réception à {} ({}) et conserver la preuve de dépôt et l'avis de réception (pièces du dossier contentieux).",
                        cx.customer.name,
                        letter.recipient[1..].join(", ")
                    ),
                },
            ));
            if !cx.customer.emails.is_empty() {
                commands.push((
                    crate::keys::dunning_copy(&action.key),
                    email(vec![(name.clone(), pdf.clone())]),
                ));
            }
            letter_pdf = Some((name, pdf));
        }
    }
    for i in &action.invoices {
        commands.push((
            crate::keys::dunning_level(&action.key, i.invoice.as_str()),
            WriteCommand::SetDunningLevel {
                invoice: i.invoice.to_string(),
                level: action.stage.number(),
                date: action.scheduled_for,
            },
        ));
    }
    Ok(RenderedAction {
        commands,
        letter_pdf,
        message,
    })
}
