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

use crate::dunning::plan::Action;
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
/// penalties, indemnities, totals, IBAN, payment link, deadline.
///
/// Scalars: `company_name`, `company_siren`, `company_address`, `signature`, `phone`,
/// `customer_name`, `customer_id`, `date`, `iban`, `payment_link`, `total_due`,
/// `total_penalty`, `total_indemnity`, `total_claimed`, `invoice_count`, `deadline`,
/// `has_penalties`, `has_indemnity`, `stage`, `reason`, `recommendation`.
/// List `invoices` with `number`, `issue_date`, `due_date`, `amount_due`, `days_overdue`,
/// `penalty`, `indemnity`, `rate_source`; list `evidence` with `item`.
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
    let items = action
        .invoices
        .iter()
        .map(|i| {
            let mut m = BTreeMap::new();
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
