//! Editable text templates for reminders, with a small `{{var}}` renderer.
//!
//! Syntax: `{{name}}` inserts a variable; `{{#each list}}…{{/each}}` repeats for each item
//! (item fields shadow outer variables); `{{#if name}}…{{/if}}` keeps its content when the
//! variable is set, non-empty and not `0`/`false`. An unknown variable is an error (a typo in
//! an edited template must not send "{{iban}}" to a customer).
//!
//! A template file starts with `Subject: …` on its first line; the body follows. Files live in
//! `config/templates/{fr,en}/<stage>[.<channel>][.<tone>].txt` and are read by the binary,
//! so editing them needs no recompilation.

use crate::dunning::penalty::{MissingRate, RateKind};
use crate::dunning::plan::{Action, PreviousAction};
use crate::dunning::DunningError;
use crate::model::{Company, Customer};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Variables of one rendering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// Scalar variables.
    pub vars: BTreeMap<String, String>,
    /// Lists for `{{#each}}`.
    pub lists: BTreeMap<String, Vec<BTreeMap<String, String>>>,
}

impl Context {
    /// Sets a variable.
    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        self.vars.insert(k.to_owned(), v.into());
    }
}

#[derive(Debug)]
enum Node {
    Text(String),
    Var(String),
    Each(String, Vec<Node>),
    If(String, Vec<Node>),
}

fn parse(src: &str, name: &str) -> Result<Vec<Node>, DunningError> {
    let err = |m: String| DunningError::Template {
        name: name.to_owned(),
        message: m,
    };
    // Stack of (block kind, block var, nodes).
    let mut stack: Vec<(String, String, Vec<Node>)> =
        vec![(String::new(), String::new(), Vec::new())];
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        let (text, after) = rest.split_at(open);
        if !text.is_empty() {
            if let Some(top) = stack.last_mut() {
                top.2.push(Node::Text(text.to_owned()));
            }
        }
        let close = after.find("}}").ok_or_else(|| err("unclosed {{".into()))?;
        let tag = after[2..close].trim();
        rest = &after[close + 2..];
        if let Some(v) = tag.strip_prefix("#each ") {
            stack.push(("each".into(), v.trim().to_owned(), Vec::new()));
        } else if let Some(v) = tag.strip_prefix("#if ") {
            stack.push(("if".into(), v.trim().to_owned(), Vec::new()));
        } else if let Some(kind) = tag.strip_prefix('/') {
            let (k, v, nodes) = stack
                .pop()
                .ok_or_else(|| err(format!("unexpected {{{{/{kind}}}}}")))?;
            if k != kind.trim() || stack.is_empty() {
                return Err(err(format!("{{{{/{kind}}}}} closes a {{{{#{k}}}}} block")));
            }
            let node = if k == "each" {
                Node::Each(v, nodes)
            } else {
                Node::If(v, nodes)
            };
            if let Some(top) = stack.last_mut() {
                top.2.push(node);
            }
        } else if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err(format!("bad tag {{{{{tag}}}}}")));
        } else if let Some(top) = stack.last_mut() {
            top.2.push(Node::Var(tag.to_owned()));
        }
    }
    if !rest.is_empty() {
        if let Some(top) = stack.last_mut() {
            top.2.push(Node::Text(rest.to_owned()));
        }
    }
    if stack.len() != 1 {
        return Err(err("unclosed block".into()));
    }
    Ok(stack.pop().map(|t| t.2).unwrap_or_default())
}

fn lookup<'a>(
    name: &str,
    scopes: &[&'a BTreeMap<String, String>],
    ctx: &'a Context,
) -> Option<&'a String> {
    scopes
        .iter()
        .rev()
        .find_map(|s| s.get(name))
        .or_else(|| ctx.vars.get(name))
}

fn emit<'a>(
    nodes: &'a [Node],
    ctx: &'a Context,
    scopes: &mut Vec<&'a BTreeMap<String, String>>,
    out: &mut String,
    name: &str,
) -> Result<(), DunningError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Var(v) => match lookup(v, scopes, ctx) {
                Some(s) => out.push_str(s),
                None => {
                    return Err(DunningError::Template {
                        name: name.into(),
                        message: format!("unknown variable {v}"),
                    })
                }
            },
            Node::If(v, body) => {
                let on = lookup(v, scopes, ctx)
                    .is_some_and(|s| !s.is_empty() && s != "0" && s != "false")
                    || ctx.lists.get(v).is_some_and(|l| !l.is_empty());
                if on {
                    emit(body, ctx, scopes, out, name)?;
                }
            }
            Node::Each(v, body) => {
                let list = ctx.lists.get(v).ok_or_else(|| DunningError::Template {
                    name: name.into(),
                    message: format!("unknown list {v}"),
                })?;
                for item in list {
                    scopes.push(item);
                    let r = emit(body, ctx, scopes, out, name);
                    scopes.pop();
                    r?;
                }
            }
        }
    }
    Ok(())
}

/// The names used by `nodes` (variables, `#if` and `#each` names) that `ctx` does not
/// provide; `item` is the list an `#each` walks (its items' keys are known inside).
fn unknown_names(
    nodes: &[Node],
    ctx: &Context,
    item: Option<&BTreeMap<String, String>>,
    out: &mut Vec<String>,
) {
    let known = |n: &str| {
        ctx.vars.contains_key(n)
            || ctx.lists.contains_key(n)
            || item.is_some_and(|i| i.contains_key(n))
    };
    for n in nodes {
        match n {
            Node::Text(_) => {}
            Node::Var(v) => {
                if !known(v) {
                    out.push(v.clone());
                }
            }
            Node::If(v, body) => {
                if !known(v) {
                    out.push(v.clone());
                }
                unknown_names(body, ctx, item, out);
            }
            Node::Each(v, body) => match ctx.lists.get(v).and_then(|l| l.first()) {
                Some(first) => unknown_names(body, ctx, Some(first), out),
                None => out.push(v.clone()),
            },
        }
    }
}

/// Renders `src` with `ctx`; `name` is used in errors.
pub fn render(src: &str, ctx: &Context, name: &str) -> Result<String, DunningError> {
    let nodes = parse(src, name)?;
    let mut out = String::with_capacity(src.len() * 2);
    emit(&nodes, ctx, &mut Vec::new(), &mut out, name)?;
    Ok(out)
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Template used.
    pub template: String,
}

/// The templates, by name (`fr/formelle`, `en/amiable.phone_task`, `fr/amiable.firm`…).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateSet {
    /// Template sources by name (path under the templates directory without `.txt`).
    pub templates: BTreeMap<String, String>,
}

impl TemplateSet {
    /// Adds a template.
    pub fn insert(&mut self, name: impl Into<String>, src: impl Into<String>) {
        self.templates.insert(name.into(), src.into());
    }

    /// Checks every template parses and has a subject line.
    pub fn validate(&self) -> Result<(), DunningError> {
        for (name, src) in &self.templates {
            split_subject(src, name)?;
            parse(src, name)?;
        }
        Ok(())
    }

    /// Every problem of every template: a missing subject line, a syntax error, or a variable
    /// or list the engine does not provide (found by rendering each template with every
    /// variable of [`action_context`] set).
    pub fn check(&self) -> Vec<DunningError> {
        let sample = sample_context();
        let mut out = Vec::new();
        for (name, src) in &self.templates {
            let r = split_subject(src, name).and_then(|(subject, body)| {
                for part in [subject, body] {
                    let nodes = parse(part, name)?;
                    let mut unknown = Vec::new();
                    unknown_names(&nodes, &sample, None, &mut unknown);
                    if let Some(u) = unknown.first() {
                        return Err(DunningError::Template {
                            name: name.clone(),
                            message: format!("unknown variable {u}"),
                        });
                    }
                }
                Ok(())
            });
            if let Err(e) = r {
                out.push(e);
            }
        }
        out
    }

    /// The template for a language, stage, channel and tone, most specific first, falling
    /// back to French when the language has none.
    pub fn find(&self, lang: &str, stage: &str, channel: &str, tone: &str) -> Option<(&str, &str)> {
        let langs = [lang, "fr"];
        for l in langs {
            for cand in [
                format!("{l}/{stage}.{channel}.{tone}"),
                format!("{l}/{stage}.{channel}"),
                format!("{l}/{stage}.{tone}"),
                format!("{l}/{stage}"),
            ] {
                if let Some((k, v)) = self.templates.get_key_value(&cand) {
                    return Some((k.as_str(), v.as_str()));
                }
            }
        }
        None
    }

    /// Renders the message of an action.
    pub fn render_action(&self, action: &Action, ctx: &Context) -> Result<Message, DunningError> {
        let (name, src) = self
            .find(
                &action.language,
                action.stage.name(),
                action.channel.as_str(),
                action.tone.as_str(),
            )
            .ok_or_else(|| DunningError::Template {
                name: format!("{}/{}", action.language, action.stage.name()),
                message: "no template for this stage".into(),
            })?;
        let (subject, body) = split_subject(src, name)?;
        Ok(Message {
            subject: render(subject, ctx, name)?.trim().to_owned(),
            body: render(body, ctx, name)?,
            template: name.to_owned(),
        })
    }
}

fn split_subject<'a>(src: &'a str, name: &str) -> Result<(&'a str, &'a str), DunningError> {
    let (first, body) = src.split_once('\n').unwrap_or((src, ""));
    let subject = first
        .strip_prefix("Subject:")
        .ok_or_else(|| DunningError::Template {
            name: name.into(),
            message: "first line must be \"Subject: …\"".into(),
        })?;
    Ok((subject, body.strip_prefix('\n').unwrap_or(body)))
}

/// An amount as a person of that language writes it: `1 234,56 €` / `€1,234.56`.
pub fn format_amount(amount: Decimal, lang: &str) -> String {
    let a = amount.round_dp(2);
    let neg = a.is_sign_negative() && !a.is_zero();
    let s = format!("{:.2}", a.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let sep = if lang == "fr" { '\u{a0}' } else { ',' };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(sep);
        }
        grouped.push(c);
    }
    let sign = if neg { "-" } else { "" };
    if lang == "fr" {
        format!("{sign}{grouped},{frac}\u{a0}€")
    } else {
        format!("{sign}€{grouped}.{frac}")
    }
}

/// A date as a person of that language writes it: `15/05/2025` / `15 May 2025`.
pub fn format_date(d: NaiveDate, lang: &str) -> String {
    if lang == "fr" {
        d.format("%d/%m/%Y").to_string()
    } else {
        d.format("%-d %B %Y").to_string()
    }
}

/// What the sender adds to every message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// Postal address of the company (one line).
    pub address: String,
    /// Payment link, if the company offers one.
    pub payment_link: Option<String>,
    /// Who signs (name and role).
    pub signature: String,
    /// Phone number for questions.
    pub phone: Option<String>,
}

/// The variables of an action's message: company, customer, the invoice list with amounts,
/// penalties, indemnities, totals, IBAN, payment link, deadline, and what was sent before.
///
/// Scalars: `company_name`, `company_siren`, `company_address`, `signature`, `phone`,
/// `customer_name`, `customer_id`, `date`, `iban`, `payment_link`, `total_due`,
/// `total_penalty`, `total_indemnity`, `total_claimed`, `invoice_count`, `deadline`,
/// `has_penalties`, `has_indemnity`, `stage`, `reason`, `recommendation`, `is_professional`
/// (the debtor is not a consumer: penalties and the 40 € may be mentioned);
/// `has_penalty_clause` and `penalty_clause_sentence` when a penalty could not be computed
/// (the rate table lacks a row: the legal clause is stated without an amount);
/// `all_reminded`, `some_reminded`, `none_reminded` (whether every invoice, some, or none
/// already had a written reminder) and `previous_reminders` ("notre relance du 02/03/2026").
/// List `invoices` with `number`, `issue_date`, `due_date`, `amount_due`, `days_overdue`,
/// `penalty`, `indemnity`, `rate_source`, `has_penalties` (this invoice's penalty is
/// computed and positive), `penalty_clause` (set instead when it is not computed),
/// `reminded` / `not_reminded` and `reminders` ("relance du 02/03/2026"); list `evidence` with
/// `item`.
pub fn action_context(
    action: &Action,
    company: &Company,
    customer: &Customer,
    sender: &SenderInfo,
    today: NaiveDate,
    deadline_days: u32,
) -> Context {
    let lang = action.language.as_str();
    let mut c = Context::default();
    c.set("company_name", company.name.clone());
    c.set(
        "company_siren",
        company
            .siren
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    );
    c.set("company_address", sender.address.clone());
    c.set("signature", sender.signature.clone());
    c.set("phone", sender.phone.clone().unwrap_or_default());
    c.set("customer_name", customer.name.clone());
    c.set("customer_id", customer.id.to_string());
    c.set("date", format_date(today, lang));
    c.set(
        "deadline",
        format_date(
            today + chrono::Duration::days(i64::from(deadline_days)),
            lang,
        ),
    );
    let iban = action
        .invoices
        .iter()
        .find_map(|i| i.payment_iban.clone())
        .or_else(|| company.ibans.first().cloned())
        .unwrap_or_default();
    c.set("iban", iban);
    c.set(
        "payment_link",
        sender.payment_link.clone().unwrap_or_default(),
    );
    c.set("total_due", format_amount(action.total_due, lang));
    c.set("total_penalty", format_amount(action.total_penalty, lang));
    c.set(
        "total_indemnity",
        format_amount(action.total_indemnity, lang),
    );
    c.set(
        "total_claimed",
        format_amount(
            action.total_due + action.total_penalty + action.total_indemnity,
            lang,
        ),
    );
    c.set("invoice_count", action.invoices.len().to_string());
    c.set(
        "has_penalties",
        if action.total_penalty > Decimal::ZERO {
            "1"
        } else {
            ""
        },
    );
    c.set(
        "has_indemnity",
        if action.total_indemnity > Decimal::ZERO {
            "1"
        } else {
            ""
        },
    );
    c.set("stage", action.stage.name());
    c.set("reason", action.reason.clone());
    c.set(
        "recommendation",
        action.recommendation.clone().unwrap_or_default(),
    );
    let reminders: Vec<Vec<NaiveDate>> = action
        .invoices
        .iter()
        .map(|i| written_reminders(&i.previous))
        .collect();
    let reminded = reminders.iter().filter(|r| !r.is_empty()).count();
    let flag = |b: bool| if b { "1" } else { "" };
    c.set(
        "all_reminded",
        flag(reminded > 0 && reminded == reminders.len()),
    );
    c.set(
        "some_reminded",
        flag(reminded > 0 && reminded < reminders.len()),
    );
    c.set("none_reminded", flag(reminded == 0));
    let mut all_dates: Vec<NaiveDate> = reminders.iter().flatten().copied().collect();
    all_dates.sort_unstable();
    all_dates.dedup();
    c.set("previous_reminders", our_reminders(&all_dates, lang));
    let clause = action.invoices.iter().find_map(|i| i.missing_rate.as_ref());
    c.set("has_penalty_clause", flag(clause.is_some()));
    c.set(
        "is_professional",
        flag(action.customer_kind != crate::model::CustomerKind::Consumer),
    );
    c.set(
        "penalty_clause_sentence",
        clause.map(|m| clause_sentence(m, lang)).unwrap_or_default(),
    );
    let items = action
        .invoices
        .iter()
        .zip(&reminders)
        .map(|(i, dates)| {
            let mut m = BTreeMap::new();
            m.insert(
                "has_penalties".into(),
                flag(i.penalty > Decimal::ZERO).to_owned(),
            );
            m.insert(
                "penalty_clause".into(),
                i.missing_rate
                    .as_ref()
                    .map(|x| short_clause(x, lang))
                    .unwrap_or_default(),
            );
            m.insert("reminded".into(), flag(!dates.is_empty()).to_owned());
            m.insert("not_reminded".into(), flag(dates.is_empty()).to_owned());
            m.insert("reminders".into(), reminder_list(dates, lang));
            m.insert("number".into(), i.number.clone());
            m.insert("issue_date".into(), format_date(i.issue_date, lang));
            m.insert("due_date".into(), format_date(i.due_date, lang));
            m.insert("amount_due".into(), format_amount(i.amount_due, lang));
            m.insert("days_overdue".into(), i.days_overdue.to_string());
            m.insert("penalty".into(), format_amount(i.penalty, lang));
            m.insert("indemnity".into(), format_amount(i.indemnity, lang));
            m.insert("rate_source".into(), i.rate_source.clone());
            m
        })
        .collect();
    c.lists.insert("invoices".into(), items);
    let evidence = action
        .evidence
        .iter()
        .map(|e| BTreeMap::from([("item".to_owned(), e.clone())]))
        .collect();
    c.lists.insert("evidence".into(), evidence);
    c
}

/// A context with every variable and list [`action_context`] sets (values of a sample
/// grouped letter), to check templates.
pub fn sample_context() -> Context {
    use crate::dunning::penalty::MissingRate;
    use crate::dunning::plan::PlannedInvoice;
    use crate::dunning::policy::Tone;
    use crate::dunning::rates::{MissingRow, TableName};
    use crate::dunning::segment::Segment;
    use crate::dunning::stage::{Channel, Stage};
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
    let invoice = PlannedInvoice {
        invoice: "F1".into(),
        amount_due: Decimal::ONE_HUNDRED,
        days_overdue: 20,
        penalty: Decimal::ONE,
        indemnity: Decimal::from(40),
        rate_source: "sample".into(),
        number: "F1".into(),
        issue_date: day,
        due_date: day,
        payment_iban: Some("FR76".into()),
        periods: Vec::new(),
        missing_rate: Some(MissingRate {
            row: MissingRow {
                table: TableName::EcbMro,
                period_start: day,
                period_end: day,
                confirmed_until: None,
            },
            kind: RateKind::B2bStatutory,
            contract_rate_percent: None,
        }),
        due_date_note: None,
        previous: vec![PreviousAction {
            date: day,
            stage: Stage::Amiable,
            channel: Some(Channel::Email),
        }],
    };
    let action = Action {
        customer: "C1".into(),
        stage: Stage::Formelle,
        channel: Channel::Email,
        invoices: vec![invoice],
        reason: "sample".into(),
        key: "sample".into(),
        step: 0,
        scheduled_for: day,
        window: "09:00-18:00".into(),
        segment: Segment::NewCustomer,
        tone: Tone::Standard,
        language: "fr".into(),
        customer_kind: crate::model::CustomerKind::Business,
        total_due: Decimal::ONE_HUNDRED,
        total_penalty: Decimal::ONE,
        total_indemnity: Decimal::from(40),
        recommendation: Some("sample".into()),
        evidence: vec!["sample".into()],
    };
    let company = Company {
        id: "c".into(),
        name: "Sample".into(),
        siren: None,
        vat_id: None,
        ibans: Vec::new(),
        currency: crate::money::Currency::EUR,
        address: None,
    };
    let customer = Customer::new("C1", "Client");
    action_context(&action, &company, &customer, &SenderInfo::default(), day, 8)
}

/// Dates of the written reminders already sent for an invoice (see
/// [`PreviousAction::is_written_reminder`]), oldest first.
fn written_reminders(previous: &[PreviousAction]) -> Vec<NaiveDate> {
    let mut v: Vec<NaiveDate> = previous
        .iter()
        .filter(|a| a.is_written_reminder())
        .map(|a| a.date)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// `02/03/2026`, `02/03/2026 et 09/03/2026`, `2 March 2026, 9 March 2026 and 16 March 2026`.
fn join_dates(dates: &[NaiveDate], lang: &str) -> String {
    let f: Vec<String> = dates.iter().map(|d| format_date(*d, lang)).collect();
    let and = if lang == "fr" { " et " } else { " and " };
    match f.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{}{and}{last}", rest.join(", ")),
    }
}

/// One invoice's reminders: `relance du 02/03/2026` / `reminders of 2 March 2026 and …`.
fn reminder_list(dates: &[NaiveDate], lang: &str) -> String {
    match (dates.len(), lang == "fr") {
        (0, _) => String::new(),
        (1, true) => format!("relance du {}", join_dates(dates, lang)),
        (_, true) => format!("relances des {}", join_dates(dates, lang)),
        (1, false) => format!("reminder of {}", join_dates(dates, lang)),
        (_, false) => format!("reminders of {}", join_dates(dates, lang)),
    }
}

/// The letter's reference to what was sent: `notre relance du …` / `nos relances des …`.
fn our_reminders(dates: &[NaiveDate], lang: &str) -> String {
    match (dates.len(), lang == "fr") {
        (0, _) => String::new(),
        (1, true) => format!("notre relance du {}", join_dates(dates, lang)),
        (_, true) => format!("nos relances des {}", join_dates(dates, lang)),
        (1, false) => format!("our reminder of {}", join_dates(dates, lang)),
        (_, false) => format!("our reminders of {}", join_dates(dates, lang)),
    }
}

fn percent(r: Decimal, lang: &str) -> String {
    let s = r.normalize().to_string();
    if lang == "fr" {
        format!("{}\u{a0}%", s.replace('.', ","))
    } else {
        format!("{s}%")
    }
}

/// The legal clause of a penalty that could not be computed, for the invoice line.
pub fn short_clause(m: &MissingRate, lang: &str) -> String {
    let contract = m
        .contract_rate_percent
        .map(|r| percent(r, lang))
        .unwrap_or_default();
    match (m.kind, lang == "fr") {
        (RateKind::B2bStatutory, true) => "pénalités de retard au taux BCE + 10 points".into(),
        (RateKind::B2bContract, true) => {
            format!("pénalités de retard au taux contractuel de {contract}")
        }
        (RateKind::PublicMoratory, true) => "intérêts moratoires au taux BCE + 8 points".into(),
        (RateKind::ConsumerLegal, true) => "intérêts au taux légal".into(),
        (RateKind::B2bStatutory, false) => {
            "late-payment penalties at the ECB rate + 10 points".into()
        }
        (RateKind::B2bContract, false) => {
            format!("late-payment penalties at the contractual rate of {contract}")
        }
        (RateKind::PublicMoratory, false) => {
            "late-payment interest at the ECB rate + 8 points".into()
        }
        (RateKind::ConsumerLegal, false) => "interest at the legal rate".into(),
    }
}

/// The legal clause of a penalty that could not be computed, as a sentence of the letter.
pub fn clause_sentence(m: &MissingRate, lang: &str) -> String {
    let contract = m
        .contract_rate_percent
        .map(|r| percent(r, lang))
        .unwrap_or_default();
    match (m.kind, lang == "fr") {
        (RateKind::B2bStatutory, true) => "Des pénalités de retard courent de plein droit depuis le lendemain de l'échéance au taux de la Banque centrale européenne majoré de 10 points (article L441-10 du Code de commerce) ; leur montant vous sera communiqué séparément.".into(),
        (RateKind::B2bContract, true) => format!("Des pénalités de retard courent de plein droit depuis le lendemain de l'échéance au taux contractuel de {contract}, au moins égal à trois fois le taux de l'intérêt légal (article L441-10 du Code de commerce) ; leur montant vous sera communiqué séparément."),
        (RateKind::PublicMoratory, true) => "Des intérêts moratoires courent de plein droit depuis l'expiration du délai de paiement au taux de la Banque centrale européenne majoré de 8 points (articles L2192-13 et R2192-31 du Code de la commande publique) ; leur montant vous sera communiqué séparément.".into(),
        (RateKind::ConsumerLegal, true) => "Des intérêts au taux légal courent à compter de la mise en demeure (articles 1231-6 et 1344-1 du Code civil) ; leur montant vous sera communiqué séparément.".into(),
        (RateKind::B2bStatutory, false) => "Late-payment penalties accrue as of right from the day after the due date at the European Central Bank rate plus 10 percentage points (French Commercial Code art. L441-10); their amount will be notified to you separately.".into(),
        (RateKind::B2bContract, false) => format!("Late-payment penalties accrue as of right from the day after the due date at the contractual rate of {contract}, no less than three times the French legal interest rate (French Commercial Code art. L441-10); their amount will be notified to you separately."),
        (RateKind::PublicMoratory, false) => "Late-payment interest accrues as of right from the end of the payment period at the European Central Bank rate plus 8 percentage points (French Public Procurement Code art. L2192-13 and R2192-31); its amount will be notified to you separately.".into(),
        (RateKind::ConsumerLegal, false) => "Interest at the French legal rate accrues from the formal notice (French Civil Code art. 1231-6 and 1344-1); its amount will be notified to you separately.".into(),
    }
}
