//! The console's pages. Each reads the company's read model (and the derived queries cached per
//! generation), renders HTML, and shows a decision's form only to a role that may record it.

use super::chart::{self, Bar};
use super::derived::Stamp;
use super::fmt::Lang;
use super::{error_page, layout, respond, Console, Viewer};
use crate::api::model::{engine_allocation, CompanyView, Exception};
use crate::api::routes;
use crate::auth::Role;
use crate::config::CompanyConfig;
use crate::decisions::{closing, queries};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use maud::{html, Markup};
use relance_core::dunning::pause::PauseKind;
use relance_core::{CustomerId, InvoiceKind};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Common query parameters: the message shown after a decision, filters.
#[derive(Debug, Default, Deserialize)]
pub struct Q {
    /// Message after a decision or a cycle.
    pub msg: Option<String>,
    /// The date figures are as of.
    pub as_of: Option<String>,
    /// Sort key (portfolio).
    pub sort: Option<String>,
    /// Search text.
    pub q: Option<String>,
    /// Kind filter (audit log).
    pub kind: Option<String>,
    /// Actor filter (audit log).
    pub actor: Option<String>,
    /// Closing date.
    pub date: Option<String>,
}

pub(super) type Page = Result<Response, Response>;

/// The company `id` and its current view, or the error page to answer.
pub(super) async fn company_view(
    s: &Console,
    v: &Viewer,
    id: &str,
) -> Result<(Arc<CompanyConfig>, Arc<CompanyView>), Response> {
    let c = s.api.company(&v.p, id, Role::Viewer).map_err(|e| {
        error_page(
            v.lang,
            e.status,
            v.lang.t("Introuvable", "Not found"),
            &e.message,
        )
    })?;
    let view = s.api.0.models.get(&c).await.map_err(|e| {
        error_page(
            v.lang,
            StatusCode::SERVICE_UNAVAILABLE,
            v.lang.t("Données indisponibles", "Data unavailable"),
            &e,
        )
    })?;
    Ok((c, view))
}

fn stamp(s: &Console, view: &Arc<CompanyView>) -> Stamp {
    Stamp::of(view, s.api.0.models.decision_count(view))
}

fn unavailable(l: Lang, e: &str) -> Response {
    error_page(
        l,
        StatusCode::SERVICE_UNAVAILABLE,
        l.t("Calcul impossible", "Could not be computed"),
        e,
    )
}

async fn letters(
    s: &Console,
    c: &Arc<CompanyConfig>,
    view: &Arc<CompanyView>,
) -> Result<Arc<Vec<queries::LetterView>>, String> {
    let (store, id) = (s.api.0.store.clone(), c.id.clone());
    s.derived
        .get(&c.id, "letters", stamp(s, view), move || {
            queries::letters_waiting(store.as_ref(), &id, true).map_err(|e| e.to_string())
        })
        .await
}

async fn next_run_of(
    s: &Console,
    c: &Arc<CompanyConfig>,
    view: &Arc<CompanyView>,
) -> Result<Arc<queries::NextRun>, String> {
    let (store, cc, rates) = (
        s.api.0.store.clone(),
        c.clone(),
        s.api.0.pipeline.rates.clone(),
    );
    let date = s.api.0.clock.today() + chrono::Days::new(1);
    s.derived
        .get(&c.id, "next_run", stamp(s, view), move || {
            queries::next_run(store.as_ref(), &cc, &rates, date).map_err(|e| format!("{e:#}"))
        })
        .await
}

async fn probable_of(
    s: &Console,
    c: &Arc<CompanyConfig>,
    view: &Arc<CompanyView>,
) -> Result<Arc<Vec<queries::ProbablePayment>>, String> {
    let (store, cc, rates) = (
        s.api.0.store.clone(),
        c.clone(),
        s.api.0.pipeline.rates.clone(),
    );
    let date = s.api.0.clock.today();
    s.derived
        .get(&c.id, "probable", stamp(s, view), move || {
            queries::probable_payments(store.as_ref(), &cc, &rates, date)
                .map_err(|e| format!("{e:#}"))
        })
        .await
}

async fn drafts_of(
    s: &Console,
    c: &Arc<CompanyConfig>,
    view: &Arc<CompanyView>,
) -> Result<Arc<Vec<closing::ClosingView>>, String> {
    let (store, id) = (s.api.0.store.clone(), c.id.clone());
    s.derived
        .get(&c.id, "drafts", stamp(s, view), move || {
            closing::drafts(store.as_ref(), &id).map_err(|e| e.to_string())
        })
        .await
}

fn cur(c: &CompanyConfig) -> String {
    c.currency.to_string()
}

fn customer_name(view: &CompanyView, id: &CustomerId) -> String {
    view.customers
        .get(id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| id.to_string())
}

fn customer_link(c: &CompanyConfig, view: &CompanyView, id: &CustomerId) -> Markup {
    html! {
        a href=(format!("/c/{}/customers/{}", c.id, super::url_encode(id.as_str()))) { (customer_name(view, id)) }
    }
}

fn stage_label(l: Lang, s: relance_core::dunning::Stage) -> &'static str {
    use relance_core::dunning::Stage::*;
    match s {
        Preventive => l.t("préventive", "preventive"),
        Amiable => l.t("amiable", "friendly"),
        Formelle => l.t("relance formelle", "formal reminder"),
        MiseEnDemeure => l.t("mise en demeure", "formal notice"),
        Contentieux => l.t("contentieux", "litigation"),
    }
}

// ---------- decision forms ----------

/// What a decision does, in a sentence (shown beside its button).
fn effect(l: Lang, kind: &str) -> &'static str {
    match kind {
        "confirm_match" => l.t(
            "Le prochain cycle applique le paiement à la facture et retient l'IBAN du payeur.",
            "The next cycle applies the payment to the invoice and learns the payer's IBAN.",
        ),
        "reject_match" => l.t(
            "Ce rapprochement ne sera plus proposé.",
            "This match will not be proposed again.",
        ),
        "split_receipt" => l.t(
            "Le paiement est réparti entre les factures indiquées.",
            "The payment is split between the invoices given.",
        ),
        "reassign_match" => l.t(
            "Le paiement est affecté à une autre facture.",
            "The payment goes to another invoice.",
        ),
        "assign_receipt" => l.t(
            "Le paiement est rattaché au client ; son IBAN est retenu.",
            "The payment is tied to the customer; their IBAN is learnt.",
        ),
        "write_off" => l.t(
            "Le reliquat est passé en perte sur le compte indiqué.",
            "The residue is written off to the account given.",
        ),
        "dispute" => l.t(
            "Les relances de la partie contestée s'arrêtent.",
            "Dunning of the disputed part stops.",
        ),
        "promise_to_pay" => l.t(
            "Les relances attendent la date promise ; une promesse non tenue les reprend avec une alerte.",
            "Dunning waits for the promised date; a broken promise resumes it with an alert.",
        ),
        "payment_plan" => l.t(
            "Les relances attendent tant que les échéances sont payées.",
            "Dunning waits while the instalments are paid.",
        ),
        "hold" => l.t(
            "Aucune relance jusqu'à la date indiquée.",
            "No dunning until the date given.",
        ),
        "procedure_collective" => l.t(
            "Les relances s'arrêtent ; une alerte rappelle la date limite de déclaration de créance.",
            "Dunning stops; an alert gives the deadline to declare the claim.",
        ),
        "end_pause" => l.t("La suspension prend fin.", "The pause ends."),
        "approve_letter" => l.t(
            "La lettre part au prochain cycle.",
            "The letter goes out at the next cycle.",
        ),
        "edit_letter" => l.t(
            "La lettre part avec ce texte.",
            "The letter goes out with this text.",
        ),
        "reschedule_letter" => l.t(
            "La lettre part à cette date, datée ainsi.",
            "The letter goes out on that date, dated so.",
        ),
        "cancel_letter" => l.t("La lettre ne partira pas.", "The letter will not be sent."),
        "approve_closing" => l.t(
            "Les écritures de provision sont passées via la file d'envoi.",
            "The provision entries are booked through the outbox.",
        ),
        "override_rate" => l.t(
            "Ce taux remplace celui de la matrice pour cette facture.",
            "This rate replaces the matrix's for this invoice.",
        ),
        "retry_dead_letter" => l.t("L'envoi est retenté.", "The delivery is tried again."),
        "call_outcome" => l.t(
            "Noté au journal et à l'historique du client ; une promesse ou un litige suspend les relances, un mauvais contact suspend les appels jusqu'à correction.",
            "Kept in the audit log and the customer's timeline; a promise or a dispute holds dunning, a wrong contact holds the calls until fixed.",
        ),
        "letters_posted" => l.t(
            "Ces lettres ne sont plus listées à poster.",
            "These letters are no longer listed to post.",
        ),
        _ => "",
    }
}

/// A decision's form: nothing when the viewer's role may not record it. `fields` are the
/// visible controls; the reason is asked when the decision needs one.
pub(super) fn decision_form(
    v: &Viewer,
    c: &CompanyConfig,
    kind: &str,
    button: &str,
    back: &str,
    hidden: &[(&str, String)],
    fields: Markup,
) -> Markup {
    let needs = crate::decisions::kind_needs_reason(kind);
    decision_form_with(v, c, kind, needs, button, back, hidden, fields)
}

/// [`decision_form`], saying whether the reason is asked (`needs`).
#[allow(clippy::too_many_arguments)]
pub(super) fn decision_form_with(
    v: &Viewer,
    c: &CompanyConfig,
    kind: &str,
    needs: bool,
    button: &str,
    back: &str,
    hidden: &[(&str, String)],
    fields: Markup,
) -> Markup {
    if !v.may(c, kind) {
        return html! {};
    }
    let l = v.lang;
    let key: String = format!("console-{:032x}", rand::random::<u128>());
    html! {
        form.decision method="post" action=(format!("/c/{}/decide", c.id)) data-inline="1" data-kind=(kind) {
            input type="hidden" name="csrf_token" value=(v.csrf());
            input type="hidden" name="type" value=(kind);
            input type="hidden" name="key" value=(key);
            input type="hidden" name="back" value=(back);
            @for (k, val) in hidden {
                input type="hidden" name=(k) value=(val);
            }
            (fields)
            @if needs {
                label.reason { (l.t("Motif (obligatoire)", "Reason (required)")) " "
                    input type="text" name="reason" required maxlength="2000";
                }
            }
            button type="submit" title=(effect(l, kind)) { (button) }
            span.effect { (effect(l, kind)) }
        }
    }
}

fn input(label: &str, name: &str, ty: &str, value: &str, required: bool) -> Markup {
    html! {
        label { (label) " "
            input type=(ty) name=(name) value=(value) required[required];
        }
    }
}

// ---------- portfolio ----------

struct Row {
    id: String,
    name: String,
    open: Decimal,
    overdue: Decimal,
    dso: Option<Decimal>,
    exceptions: usize,
    letters: usize,
    ok: Option<bool>,
    error: Option<String>,
    currency: String,
}

/// `/`: every company the user may see with its totals, sortable.
pub async fn portfolio(State(s): State<Console>, v: Viewer, Query(q): Query<Q>) -> Page {
    let l = v.lang;
    let mut rows = Vec::new();
    for c in s.api.companies().iter() {
        let Some(role) = v.p.role_on(&c.id) else {
            continue;
        };
        let Ok(view) = s.api.0.models.get(c).await else {
            rows.push(Row {
                id: c.id.to_string(),
                name: c.name.clone(),
                open: Decimal::ZERO,
                overdue: Decimal::ZERO,
                dso: None,
                exceptions: 0,
                letters: 0,
                ok: Some(false),
                error: Some(l.t("données indisponibles", "data unavailable").into()),
                currency: cur(c),
            });
            continue;
        };
        let sum = routes::summary(&s.api, c, &view, role);
        let waiting = letters(&s, c, &view).await.map(|x| x.len()).unwrap_or(0);
        let error = match s.api.0.hub.last(&c.id) {
            Some(last) => match &last.report {
                Err(e) => Some(e.clone()),
                Ok(r) => r
                    .sources
                    .iter()
                    .flat_map(|x| x.problems.iter())
                    .next()
                    .cloned(),
            },
            None => None,
        };
        rows.push(Row {
            id: sum.id,
            name: sum.name,
            open: sum.open_total,
            overdue: sum.overdue_total,
            dso: sum.dso,
            exceptions: sum.exceptions.values().sum(),
            letters: waiting,
            ok: sum.health.last_cycle_ok,
            error,
            currency: sum.currency,
        });
    }
    let sort = q.sort.as_deref().unwrap_or("name");
    match sort {
        "open" => rows.sort_by_key(|r| std::cmp::Reverse(r.open)),
        "overdue" => rows.sort_by_key(|r| std::cmp::Reverse(r.overdue)),
        "dso" => rows.sort_by_key(|r| std::cmp::Reverse(r.dso)),
        "exceptions" => rows.sort_by_key(|r| std::cmp::Reverse(r.exceptions)),
        "letters" => rows.sort_by_key(|r| std::cmp::Reverse(r.letters)),
        _ => rows.sort_by(|a, b| a.name.cmp(&b.name)),
    }
    let th = |key: &str, label: &str| {
        html! {
            th scope="col" aria-sort=(if key == sort { "descending" } else { "none" }) {
                a href=(format!("/?sort={key}")) { (label) }
            }
        }
    };
    let body = html! {
        table.data {
            caption { (l.t("Sociétés suivies", "Companies")) }
            thead { tr {
                (th("name", l.t("Société", "Company")))
                (th("open", l.t("Encours", "Open")))
                (th("overdue", l.t("Échu", "Overdue")))
                (th("dso", "DSO"))
                (th("exceptions", l.t("Exceptions", "Exceptions")))
                (th("letters", l.t("Lettres à valider", "Letters to approve")))
                th scope="col" { (l.t("Connecteurs", "Connectors")) }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td { a href=(format!("/c/{}", r.id)) { (r.name) } }
                        td.num { (l.money(r.open, &r.currency)) }
                        td.num { (l.money(r.overdue, &r.currency)) }
                        td.num { (r.dso.map(|d| format!("{} {}", l.number(d), l.t("j", "d"))).unwrap_or_else(|| "—".into())) }
                        td.num { a href=(format!("/c/{}/queue", r.id)) { (r.exceptions) } }
                        td.num { a href=(format!("/c/{}/approvals", r.id)) { (r.letters) } }
                        @match (r.ok, &r.error) {
                            (Some(false), e) => td.bad { (l.t("échec", "failed")) @if let Some(e) = e { " : " (e) } },
                            (_, Some(e)) => td.bad { (e) },
                            (Some(true), None) => td.good { (l.t("à jour", "up to date")) },
                            (None, None) => td { (l.t("pas encore de cycle ici", "no cycle here yet")) },
                        }
                    }
                }
            }
        }
        @if rows.is_empty() {
            p { (l.t("Aucune société ne vous est ouverte.", "No company is open to you.")) }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            None,
            "/",
            l.t("Portefeuille", "Portfolio"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

// ---------- company home ----------

/// The last day of the month `back` months before `d`'s (0: `d` itself).
fn month_end(d: NaiveDate, back: u32) -> NaiveDate {
    if back == 0 {
        return d;
    }
    let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
    let mut m = first;
    for _ in 0..back - 1 {
        m = m - chrono::Days::new(1);
        m = NaiveDate::from_ymd_opt(m.year(), m.month(), 1).unwrap_or(m);
    }
    m - chrono::Days::new(1)
}

/// The home page's series, computed once per generation and date.
pub struct HomeSeries {
    aged: Vec<(NaiveDate, relance_core::aging::AgedBalance)>,
    dso: Vec<(NaiveDate, Option<Decimal>)>,
    cash: Vec<(NaiveDate, Decimal, Decimal)>,
    top: Vec<(CustomerId, Decimal, usize)>,
}

fn home_series(view: &CompanyView, as_of: NaiveDate) -> HomeSeries {
    let aged: Vec<_> = (0..6)
        .rev()
        .map(|b| {
            let d = month_end(as_of, b);
            (d, view.aged(d))
        })
        .collect();
    let dso = (0..12)
        .rev()
        .map(|b| {
            let d = month_end(as_of, b);
            let open = if b < 6 {
                aged.get(5 - b as usize).map(|(_, a)| a.total)
            } else {
                None
            }
            .unwrap_or_else(|| view.aged(d).total);
            (d, view.dso(d, open))
        })
        .collect();
    // Cash expected per week: open invoices by due date (overdue counted in the first week),
    // promises and payment plans by their dates.
    let weeks: Vec<NaiveDate> = (0..8).map(|w| as_of + chrono::Days::new(7 * w)).collect();
    let mut cash: Vec<(NaiveDate, Decimal, Decimal)> = weeks
        .iter()
        .map(|w| (*w, Decimal::ZERO, Decimal::ZERO))
        .collect();
    let slot = |d: NaiveDate| -> Option<usize> {
        if d < as_of {
            return Some(0);
        }
        let n = ((d - as_of).num_days() / 7) as usize;
        (n < 8).then_some(n)
    };
    let mut top: BTreeMap<&CustomerId, (Decimal, usize)> = BTreeMap::new();
    for (_, p) in &view.pauses {
        match &p.kind {
            PauseKind::PromiseToPay { date, amount, .. } => {
                let covered: Decimal = view
                    .by_customer
                    .get(&p.customer)
                    .into_iter()
                    .flatten()
                    .filter_map(|n| view.invoices.get(*n))
                    .filter(|r| p.invoice.as_ref().is_none_or(|i| *i == r.invoice.id))
                    .map(|r| r.open.max(Decimal::ZERO))
                    .sum();
                if let Some(n) = slot(*date) {
                    cash[n].2 += amount.map(|a| a.min(covered)).unwrap_or(covered);
                }
            }
            PauseKind::PaymentPlan { instalments, .. } => {
                for (d, a) in instalments {
                    if *d >= as_of {
                        if let Some(n) = slot(*d) {
                            cash[n].2 += *a;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for r in &view.invoices {
        if r.invoice.currency != view.currency || r.open <= Decimal::ZERO {
            continue;
        }
        let by_pause = r.pauses.iter().any(|p| {
            matches!(
                p.kind,
                PauseKind::PromiseToPay { .. } | PauseKind::PaymentPlan { .. }
            )
        });
        if !by_pause {
            if let Some(n) = slot(r.invoice.effective_due_date()) {
                cash[n].1 += r.open;
            }
        }
        if r.days_overdue(as_of) > 0 {
            let e = top.entry(&r.invoice.customer).or_default();
            e.0 += r.open;
            e.1 += 1;
        }
    }
    let mut top: Vec<(CustomerId, Decimal, usize)> = top
        .into_iter()
        .map(|(c, (a, n))| (c.clone(), a, n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(10);
    HomeSeries {
        aged,
        dso,
        cash,
        top,
    }
}

fn bucket_names(l: Lang) -> [&'static str; 6] {
    [
        l.t("non échu", "not due"),
        l.t("0–30 j", "0–30 d"),
        l.t("31–60 j", "31–60 d"),
        l.t("61–90 j", "61–90 d"),
        l.t("91–180 j", "91–180 d"),
        l.t("> 180 j", "> 180 d"),
    ]
}

fn buckets(a: &relance_core::aging::AgedBalance) -> [Decimal; 6] {
    [
        a.not_due,
        a.days_0_30,
        a.days_31_60,
        a.days_61_90,
        a.days_91_180,
        a.over_180,
    ]
}

/// `/c/{company}`: aged balance, DSO trend, cash expected, top overdue customers.
pub async fn home(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let today = s.api.0.clock.today();
    let as_of = q
        .as_of
        .as_deref()
        .and_then(super::fmt::parse_date)
        .unwrap_or(today);
    let role = v.p.role_on(&c.id).unwrap_or(Role::Viewer);
    let sum = routes::summary(&s.api, &c, &view, role);
    let vv = view.clone();
    let series = s
        .derived
        .get(
            &c.id,
            &format!("home:{as_of}"),
            stamp(&s, &view),
            move || Ok(home_series(&vv, as_of)),
        )
        .await
        .map_err(|e| unavailable(l, &e))?;
    let currency = cur(&c);
    let names = bucket_names(l);
    let bars: Vec<Bar> = series
        .aged
        .iter()
        .map(|(d, a)| Bar {
            label: l.date(*d),
            values: buckets(a).to_vec(),
        })
        .collect();
    let dso_points: Vec<(String, Option<Decimal>)> = series
        .dso
        .iter()
        .map(|(d, x)| (format!("{:02}/{}", d.month(), d.year() % 100), *x))
        .collect();
    let here = format!("/c/{}", c.id);
    let body = html! {
        section.figures {
            div.figure { span { (l.t("Encours", "Open")) } strong { (l.money(sum.open_total, &currency)) } }
            div.figure { span { (l.t("Échu", "Overdue")) } strong { (l.money(sum.overdue_total, &currency)) } }
            div.figure { span { "DSO" } strong { (sum.dso.map(|d| format!("{} {}", l.number(d), l.t("j", "d"))).unwrap_or_else(|| "—".into())) } }
            div.figure { span { (l.t("Exceptions", "Exceptions")) } strong { a href=(format!("{here}/queue")) { (sum.exceptions.values().sum::<usize>()) } } }
            div.figure { span { (l.t("Décisions en attente du cycle", "Decisions waiting for the cycle")) } strong { (sum.decisions_pending) } }
        }
        form.asof method="get" action=(here) {
            label { (l.t("Au", "As of")) " " input type="date" name="as_of" value=(as_of.to_string()); }
            button type="submit" { (l.t("Afficher", "Show")) }
        }
        @if v.p.role_on(&c.id).is_some_and(|r| r >= Role::Admin) {
            form.inline-form method="post" action=(format!("{here}/cycle")) {
                input type="hidden" name="csrf_token" value=(v.csrf());
                input type="hidden" name="back" value=(here);
                button type="submit" { (l.t("Lancer un cycle maintenant", "Run a cycle now")) }
                span.effect { (l.t("Importe, rapproche, applique les décisions et relance.", "Imports, reconciles, applies the decisions and dunns.")) }
            }
        }
        section.pair {
            div {
                h2 { (l.t("Balance âgée", "Aged balance")) }
                (chart::stacked(l.t("Balance âgée par fin de mois", "Aged balance by month end"), &names, &bars))
            }
            table.data id="aged-table" {
                caption { (l.t("Balance âgée au ", "Aged balance as of ")) (l.date(as_of)) }
                thead { tr { th scope="col" { (l.t("Tranche", "Bucket")) } th scope="col" { (l.t("Montant", "Amount")) } } }
                tbody {
                    @if let Some((_, a)) = series.aged.last() {
                        @for (k, x) in buckets(a).iter().enumerate() {
                            tr data-bucket=(k) { th scope="row" { (names[k]) } td.num { (l.money(*x, &currency)) } }
                        }
                        tr.total { th scope="row" { (l.t("Total", "Total")) } td.num data-total="1" { (l.money(a.total, &currency)) } }
                    }
                }
            }
        }
        section.pair {
            div {
                h2 { (l.t("DSO sur 12 mois", "DSO over 12 months")) }
                (chart::line(l.t("DSO par fin de mois", "DSO by month end"), &dso_points))
            }
            table.data {
                caption { (l.t("DSO (jours, ventes des 90 jours précédents)", "DSO (days, sales of the previous 90 days)")) }
                thead { tr { th scope="col" { (l.t("Fin de mois", "Month end")) } th scope="col" { "DSO" } } }
                tbody {
                    @for (d, x) in &series.dso {
                        tr { th scope="row" { (l.date(*d)) } td.num { (x.map(|x| l.number(x)).unwrap_or_else(|| "—".into())) } }
                    }
                }
            }
        }
        section.pair {
            div {
                h2 { (l.t("Encaissements attendus", "Cash expected")) }
                (chart::stacked(l.t("Encaissements attendus par semaine", "Cash expected by week"),
                    &[l.t("échéances", "due dates"), l.t("promesses et échéanciers", "promises and plans")],
                    &series.cash.iter().map(|(d, a, b)| Bar { label: l.date(*d), values: vec![*a, *b] }).collect::<Vec<_>>()))
            }
            table.data {
                caption { (l.t("Par semaine (les échéances passées comptent dans la première)", "By week (past due dates count in the first)")) }
                thead { tr {
                    th scope="col" { (l.t("Semaine du", "Week of")) }
                    th scope="col" { (l.t("Échéances", "Due dates")) }
                    th scope="col" { (l.t("Promesses, échéanciers", "Promises, plans")) }
                } }
                tbody {
                    @for (d, a, b) in &series.cash {
                        tr { th scope="row" { (l.date(*d)) } td.num { (l.money(*a, &currency)) } td.num { (l.money(*b, &currency)) } }
                    }
                }
            }
        }
        h2 { (l.t("Clients les plus en retard", "Top overdue customers")) }
        table.data {
            thead { tr {
                th scope="col" { (l.t("Client", "Customer")) }
                th scope="col" { (l.t("Échu", "Overdue")) }
                th scope="col" { (l.t("Factures", "Invoices")) }
            } }
            tbody {
                @for (cu, amount, n) in &series.top {
                    tr { td { (customer_link(&c, &view, cu)) } td.num { (l.money(*amount, &currency)) } td.num { (n) } }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(&v, Some(&c), &here, &c.name, q.msg.as_deref(), body),
    ))
}

// ---------- exception queue ----------

fn evidence_list(rec: &crate::store::AllocationRecord) -> Vec<String> {
    match engine_allocation(rec) {
        Some(a) => a
            .evidence()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect(),
        None => vec![rec.evidence.to_string()],
    }
}

/// `/c/{company}/queue`: suggestions with their evidence, probable payments held by the gate,
/// unmatched receipts (with search), receipt flags, holds.
pub async fn queue(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let probable = probable_of(&s, &c, &view)
        .await
        .map_err(|e| unavailable(l, &e))?;
    let here = format!("/c/{}/queue", c.id);
    let currency = cur(&c);
    let search = q.q.as_deref().unwrap_or("").to_lowercase();
    let mut suggestions = Vec::new();
    let mut unmatched = Vec::new();
    let mut flags = Vec::new();
    let mut holds = Vec::new();
    for e in &view.exceptions {
        match e {
            Exception::Suggestion(a) => suggestions.push(a),
            Exception::Unmatched(t) => unmatched.push(t),
            Exception::Flag(f) => flags.push(f),
            Exception::Hold(cu, inv, p) => holds.push((cu, inv, p)),
            Exception::DeadLetter(_) => {}
        }
    }
    let dead = view.dead_letters.len();
    let body = html! {
        p.help { (l.t("Raccourcis : j / k pour passer d'une suggestion à l'autre, c pour confirmer.", "Shortcuts: j / k to move between suggestions, c to confirm.")) }
        h2 id="suggestions" { (l.t("Suggestions de rapprochement", "Suggested matches")) " (" (suggestions.len()) ")" }
        @for a in &suggestions {
            @let receipt = view.receipts.get(&a.transaction);
            @let inv = view.invoice_index.get(&a.invoice).and_then(|n| view.invoices.get(*n));
            article.suggestion tabindex="0" {
                div.side {
                    h3 { (l.t("Encaissement", "Receipt")) " " (a.transaction) }
                    @if let Some(r) = receipt {
                        dl {
                            dt { (l.t("Date", "Date")) } dd { (l.date(r.booking_date)) }
                            dt { (l.t("Montant", "Amount")) } dd { (l.money(r.amount, &r.currency.to_string())) }
                            dt { (l.t("Payeur", "Payer")) } dd { (r.counterparty_name.as_deref().unwrap_or("—")) }
                            dt { "IBAN" } dd { (r.counterparty_iban.as_deref().unwrap_or("—")) }
                            dt { (l.t("Libellé", "Text")) } dd { (r.remittance) }
                        }
                    }
                }
                div.side {
                    h3 { (l.t("Facture", "Invoice")) " " (inv.map(|r| r.invoice.number.as_str()).unwrap_or(a.invoice.as_str())) }
                    @if let Some(r) = inv {
                        dl {
                            dt { (l.t("Client", "Customer")) } dd { (customer_link(&c, &view, &r.invoice.customer)) }
                            dt { (l.t("Montant TTC", "Total")) } dd { (l.money(r.invoice.total_with_vat, &currency)) }
                            dt { (l.t("Reste dû", "Open")) } dd { (l.money(r.open, &currency)) }
                            dt { (l.t("Échéance", "Due")) } dd { (l.date(r.invoice.effective_due_date())) }
                        }
                    }
                }
                div.why {
                    p { strong { (l.t("Proposé : ", "Proposed: ")) (l.money(a.amount, &currency)) } " — " (a.reason) }
                    ul.evidence { @for e in evidence_list(a) { li { code { (e) } } } }
                    @let hidden = [("transaction", a.transaction.to_string()), ("invoice", a.invoice.to_string())];
                    div.actions {
                        (decision_form(&v, &c, "confirm_match", l.t("Confirmer", "Confirm"), &here,
                            &[("transaction", a.transaction.to_string()), ("invoice", a.invoice.to_string()), ("amount", a.amount.to_string())], html! {}))
                        (decision_form(&v, &c, "reject_match", l.t("Rejeter", "Reject"), &here, &hidden, html! {}))
                        (decision_form(&v, &c, "split_receipt", l.t("Répartir", "Split"), &here,
                            &[("transaction", a.transaction.to_string())],
                            html! { label { (l.t("Parts (facture = montant, une par ligne)", "Parts (invoice = amount, one a line)")) " "
                                textarea name="parts" rows="2" required { (a.invoice) " = " (a.amount) } } }))
                        (decision_form(&v, &c, "reassign_match", l.t("Affecter à une autre facture", "Assign to another invoice"), &here,
                            &[("transaction", a.transaction.to_string()), ("from_invoice", a.invoice.to_string())],
                            input(l.t("Facture (id)", "Invoice (id)"), "to_invoice", "text", "", true)))
                    }
                }
            }
        }
        @if suggestions.is_empty() { p { (l.t("Aucune suggestion en attente.", "No suggestion waiting.")) } }

        h2 id="probable" { (l.t("Paiements probables retenus par le contrôle", "Probable payments held by the gate")) " (" (probable.len()) ")" }
        table.data {
            thead { tr {
                th scope="col" { (l.t("Facture", "Invoice")) }
                th scope="col" { (l.t("Client", "Customer")) }
                th scope="col" { (l.t("Encaissement", "Receipt")) }
                th scope="col" { (l.t("Motif", "Why")) }
                th scope="col" { (l.t("Décision", "Decision")) }
            } }
            tbody {
                @for p in probable.iter() {
                    tr {
                        td { (p.invoice) }
                        td { (customer_link(&c, &view, &p.customer)) }
                        td { (p.transaction.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "—".into()))
                             @if let Some(a) = p.amount { " " (l.money(a, &currency)) } }
                        td { (p.reason) }
                        td {
                            @if let Some(t) = &p.transaction {
                                (decision_form(&v, &c, "confirm_match", l.t("C'est son paiement", "It is its payment"), &here,
                                    &[("transaction", t.to_string()), ("invoice", p.invoice.to_string())], html! {}))
                                (decision_form(&v, &c, "reject_match", l.t("Ce n'est pas son paiement", "Not its payment"), &here,
                                    &[("transaction", t.to_string()), ("invoice", p.invoice.to_string())], html! {}))
                            }
                        }
                    }
                }
            }
        }

        h2 id="unmatched" { (l.t("Encaissements non rapprochés", "Unmatched receipts")) }
        form.search method="get" action=(here) {
            label { (l.t("Rechercher (payeur, libellé, montant)", "Search (payer, text, amount)")) " " input type="search" name="q" value=(search); }
            button type="submit" { (l.t("Rechercher", "Search")) }
        }
        table.data {
            thead { tr {
                th scope="col" { (l.t("Encaissement", "Receipt")) }
                th scope="col" { (l.t("Date", "Date")) }
                th scope="col" { (l.t("Montant", "Amount")) }
                th scope="col" { (l.t("Payeur", "Payer")) }
                th scope="col" { (l.t("Libellé", "Text")) }
                th scope="col" { (l.t("Décision", "Decision")) }
            } }
            tbody {
                @for t in unmatched.iter().take(200) {
                    @let r = view.receipts.get(*t);
                    @let text = r.map(|r| format!("{} {} {}", r.counterparty_name.as_deref().unwrap_or(""), r.remittance, r.amount).to_lowercase()).unwrap_or_default();
                    @if search.is_empty() || text.contains(&search) {
                        tr {
                            td { (t) }
                            td { (r.map(|r| l.date(r.booking_date)).unwrap_or_default()) }
                            td.num { (r.map(|r| l.money(r.amount, &r.currency.to_string())).unwrap_or_default()) }
                            td { (r.and_then(|r| r.counterparty_name.clone()).unwrap_or_default()) }
                            td { (r.map(|r| r.remittance.clone()).unwrap_or_default()) }
                            td { (decision_form(&v, &c, "assign_receipt", l.t("Rattacher", "Assign"), &here,
                                &[("transaction", t.to_string())],
                                input(l.t("Client (id)", "Customer (id)"), "customer", "text", "", true))) }
                        }
                    }
                }
            }
        }
        h2 id="flags" { (l.t("Trop-perçus, doublons, retours", "Overpayments, duplicates, returns")) }
        ul { @for f in &flags { li { code { (serde_json::to_string(f).unwrap_or_default()) } } } }
        @if flags.is_empty() { p { (l.t("Rien à signaler.", "Nothing to report.")) } }
        h2 id="holds" { (l.t("Relances suspendues", "Dunning held")) }
        ul {
            @for (cu, inv, p) in &holds {
                li { (customer_link(&c, &view, cu)) " — " (inv.as_ref().map(|i| i.to_string()).unwrap_or_else(|| l.t("toutes les factures", "every invoice").into()))
                     " — " code { (serde_json::to_string(&p.kind).unwrap_or_default()) } }
            }
        }
        p { a href=(format!("/c/{}/connectors", c.id)) { (l.t("Envois abandonnés et fichiers en quarantaine", "Dead letters and quarantined files")) " (" (dead) ")" } }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("File des exceptions", "Exception queue"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

// ---------- customers ----------

/// `/c/{company}/customers`: the customers with their totals, searchable.
pub async fn customers(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let today = s.api.0.clock.today();
    let here = format!("/c/{}/customers", c.id);
    let search = q.q.as_deref().unwrap_or("").to_lowercase();
    let currency = cur(&c);
    let mut rows: Vec<(&CustomerId, Decimal, Decimal)> = Vec::new();
    for (cu, idx) in &view.by_customer {
        let name = customer_name(&view, cu).to_lowercase();
        if !search.is_empty() && !name.contains(&search) && !cu.as_str().contains(&search) {
            continue;
        }
        let (mut open, mut late) = (Decimal::ZERO, Decimal::ZERO);
        for r in idx.iter().filter_map(|n| view.invoices.get(*n)) {
            open += r.open;
            if r.open > Decimal::ZERO && r.days_overdue(today) > 0 {
                late += r.open;
            }
        }
        rows.push((cu, open, late));
    }
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    let total = rows.len();
    let body = html! {
        form.search method="get" action=(here) {
            label { (l.t("Rechercher un client", "Find a customer")) " " input type="search" name="q" value=(search); }
            button type="submit" { (l.t("Rechercher", "Search")) }
        }
        table.data {
            caption { (total) " " (l.t("clients, les plus en retard d'abord (200 au plus)", "customers, most overdue first (200 at most)")) }
            thead { tr {
                th scope="col" { (l.t("Client", "Customer")) }
                th scope="col" { (l.t("Encours", "Open")) }
                th scope="col" { (l.t("Échu", "Overdue")) }
            } }
            tbody {
                @for (cu, open, late) in rows.iter().take(200) {
                    tr { td { (customer_link(&c, &view, cu)) } td.num { (l.money(*open, &currency)) } td.num { (l.money(*late, &currency)) } }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("Clients", "Customers"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

fn event_label(l: Lang, kind: &str) -> &'static str {
    match kind {
        "invoice" => l.t("facture", "invoice"),
        "credit_note" => l.t("avoir", "credit note"),
        "receipt" => l.t("encaissement", "receipt"),
        "allocation" => l.t("rapprochement", "allocation"),
        "suggestion" => l.t("suggestion", "suggestion"),
        "reminder" => l.t("relance", "reminder"),
        "pause" => l.t("suspension", "pause"),
        "credit_event" => l.t("événement de crédit", "credit event"),
        "provision" => l.t("provision", "provision"),
        "decision" => l.t("décision", "decision"),
        _ => "",
    }
}

/// The PDF letters of the company's `letters/` folder whose name holds `needle`.
fn letter_files(s: &Console, c: &CompanyConfig, needle: &str) -> Vec<String> {
    let dir = crate::pipeline::company_dir(&s.api.0.state_dir, &c.id).join("letters");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pdf") && (needle.is_empty() || n.contains(needle)))
        .collect();
    out.sort();
    out
}

/// `/c/{company}/customers/{customer}`: the timeline, open items, the forms that hold or shape
/// dunning, the letters.
pub async fn customer(
    State(s): State<Console>,
    v: Viewer,
    Path((id, customer)): Path<(String, String)>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let cid = CustomerId::new(customer.as_str());
    let Some(tl) = routes::timeline_of(&s.api, &c, &view, &cid) else {
        return Err(error_page(
            l,
            StatusCode::NOT_FOUND,
            l.t("Client introuvable", "No such customer"),
            &customer,
        ));
    };
    let today = s.api.0.clock.today();
    let here = format!("/c/{}/customers/{}", c.id, super::url_encode(&customer));
    let currency = cur(&c);
    let open: Vec<_> = view
        .by_customer
        .get(&cid)
        .into_iter()
        .flatten()
        .filter_map(|n| view.invoices.get(*n))
        .filter(|r| !r.open.is_zero())
        .collect();
    let letters = letter_files(&s, &c, cid.as_str());
    let cust = view.customers.get(&cid);
    let invoice_select = |name: &str, multiple: bool| {
        html! {
            label { (if multiple { l.t("Factures (aucune : toutes)", "Invoices (none: all)") } else { l.t("Facture (vide : toutes)", "Invoice (empty: all)") }) " "
                select name=(name) multiple[multiple] {
                    @if !multiple { option value="" { "—" } }
                    @for r in &open {
                        @if r.invoice.kind == InvoiceKind::Invoice {
                            option value=(r.invoice.id) { (r.invoice.number) " (" (l.money(r.open, &currency)) ")" }
                        }
                    }
                }
            }
        }
    };
    let cust_hidden = [("customer", cid.to_string())];
    let body = html! {
        section.figures {
            div.figure { span { (l.t("Encours", "Open")) } strong { (l.money(tl.customer.open_total, &currency)) } }
            div.figure { span { (l.t("Échu", "Overdue")) } strong { (l.money(tl.customer.overdue_total, &currency)) } }
            div.figure { span { "SIREN" } strong { (tl.customer.siren.as_deref().unwrap_or("—")) } }
            div.figure { span { (l.t("Courriel", "E-mail")) } strong { (tl.customer.emails.join(", ")) } }
        }
        @if let Some(cu) = cust {
            @if let Some(a) = &cu.address { p.address { (a.lines.join(", ")) " " (a.postcode.as_deref().unwrap_or("")) " " (a.city.as_deref().unwrap_or("")) } }
        }
        h2 { (l.t("Factures ouvertes", "Open items")) }
        table.data id="open-items" {
            thead { tr {
                th scope="col" { (l.t("Numéro", "Number")) }
                th scope="col" { (l.t("Échéance", "Due")) }
                th scope="col" { (l.t("Retard (j)", "Days late")) }
                th scope="col" { (l.t("Montant TTC", "Total")) }
                th scope="col" { (l.t("Reste dû", "Open")) }
                th scope="col" { (l.t("Étape", "Stage")) }
                th scope="col" { (l.t("Suspensions", "Pauses")) }
            } }
            tbody {
                @for r in &open {
                    tr {
                        td { (r.invoice.number) }
                        td { (l.date(r.invoice.effective_due_date())) }
                        td.num { (r.days_overdue(today).max(0)) }
                        td.num { (l.money(r.invoice.total_with_vat, &currency)) }
                        td.num { (l.money(r.open, &currency)) }
                        td { (r.stage.map(|(st, d)| format!("{} ({})", stage_label(l, st), l.date(d))).unwrap_or_else(|| "—".into())) }
                        td { @for p in &r.pauses { code { (serde_json::to_value(&p.kind).ok().and_then(|k| k["kind"].as_str().map(str::to_owned)).unwrap_or_default()) } " " } }
                    }
                }
            }
        }
        @if v.may(&c, "dispute") {
            h2 { (l.t("Enregistrer", "Record")) }
            div.forms {
                details { summary { (l.t("Un litige", "A dispute")) }
                    (decision_form(&v, &c, "dispute", l.t("Enregistrer le litige", "Record the dispute"), &here, &cust_hidden, html! {
                        (invoice_select("invoice", false))
                        (input(l.t("Montant contesté (vide : tout)", "Disputed amount (empty: all)"), "amount", "text", "", false))
                        (input(l.t("Jusqu'au (vide : jusqu'à levée)", "Until (empty: until lifted)"), "until", "date", "", false))
                    }))
                }
                details { summary { (l.t("Une promesse de paiement", "A promise to pay")) }
                    (decision_form(&v, &c, "promise_to_pay", l.t("Enregistrer la promesse", "Record the promise"), &here, &cust_hidden, html! {
                        (invoice_select("invoices", true))
                        (input(l.t("Date promise", "Promised date"), "date", "date", "", true))
                        (input(l.t("Montant promis (vide : tout)", "Amount promised (empty: all)"), "amount", "text", "", false))
                    }))
                }
                details { summary { (l.t("Un échéancier", "A payment plan")) }
                    (decision_form(&v, &c, "payment_plan", l.t("Enregistrer l'échéancier", "Record the plan"), &here, &cust_hidden, html! {
                        (invoice_select("invoices", true))
                        label { (l.t("Échéances (date = montant, une par ligne)", "Instalments (date = amount, one a line)")) " "
                            textarea name="instalments" rows="3" required placeholder="2026-07-15 = 500,00" {} }
                    }))
                }
                details { summary { (l.t("Une suspension", "A hold")) }
                    (decision_form(&v, &c, "hold", l.t("Suspendre les relances", "Hold dunning"), &here, &cust_hidden, html! {
                        (invoice_select("invoice", false))
                        (input(l.t("Jusqu'au", "Until"), "until", "date", "", true))
                    }))
                }
                details { summary { (l.t("Une procédure collective", "A procédure collective")) }
                    (decision_form(&v, &c, "procedure_collective", l.t("Enregistrer la procédure", "Record the procedure"), &here, &cust_hidden, html! {
                        label { (l.t("Procédure", "Procedure")) " "
                            select name="procedure" required {
                                option value="sauvegarde" { (l.t("sauvegarde", "safeguard")) }
                                option value="redressement" { (l.t("redressement judiciaire", "receivership")) }
                                option value="liquidation" { (l.t("liquidation judiciaire", "liquidation")) }
                            }
                        }
                        (input(l.t("Date du jugement", "Judgment date"), "judgment_date", "date", "", true))
                        (input(l.t("Date de publication au BODACC", "BODACC publication date"), "bodacc_date", "date", "", false))
                        (input(l.t("Date limite de déclaration", "Declaration deadline"), "declaration_deadline", "date", "", false))
                        (input(l.t("Référence du jugement", "Judgment reference"), "reference", "text", "", false))
                        (input(l.t("Mandataire judiciaire", "Mandataire"), "mandataire", "text", "", false))
                    }))
                }
            }
        }
        h2 { (l.t("Lettres", "Letters")) }
        ul.letters {
            @for n in &letters { li { a href=(format!("/c/{}/letters/{}", c.id, super::url_encode(n))) { (n) } } }
        }
        @if letters.is_empty() { p { (l.t("Aucune lettre.", "No letter.")) } }
        h2 { (l.t("Historique", "Timeline")) }
        table.data id="timeline" {
            thead { tr {
                th scope="col" { (l.t("Date", "Date")) }
                th scope="col" { (l.t("Quoi", "What")) }
                th scope="col" { (l.t("Détail", "Detail")) }
            } }
            tbody {
                @for e in &tl.events {
                    tr data-kind=(e.kind) {
                        td { (l.date(e.date)) }
                        td { (event_label(l, &e.kind)) }
                        td { (e.summary)
                            @if e.kind == "reminder" {
                                @if let Some(ds) = e.details["deliveries"].as_array() {
                                    @for d in ds { " · " (d["channel"].as_str().unwrap_or("")) " : " (d["status"].as_str().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            &tl.customer.name,
            q.msg.as_deref(),
            body,
        ),
    ))
}

fn pdf(name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("inline; filename=\"{}\"", name.replace(['"', '\\'], "_"));
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// `/c/{company}/letters/{name}`: a PDF letter of the company's `letters/` folder.
pub async fn letter_file(
    State(s): State<Console>,
    v: Viewer,
    Path((id, name)): Path<(String, String)>,
) -> Page {
    let (c, _) = company_view(&s, &v, &id).await?;
    let ok = name.ends_with(".pdf")
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && name.len() < 256;
    let path = crate::pipeline::company_dir(&s.api.0.state_dir, &c.id)
        .join("letters")
        .join(&name);
    let bytes = if ok {
        tokio::fs::read(&path).await.ok()
    } else {
        None
    };
    match bytes {
        Some(b) => Ok(pdf(&name, b)),
        None => Err(error_page(
            v.lang,
            StatusCode::NOT_FOUND,
            v.lang.t("Lettre introuvable", "No such letter"),
            &name,
        )),
    }
}

// ---------- approvals ----------

/// `/c/{company}/approvals`: the letters waiting (mise en demeure, contentieux), rendered, to
/// approve, edit, reschedule or cancel.
pub async fn approvals(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let list = letters(&s, &c, &view)
        .await
        .map_err(|e| unavailable(l, &e))?;
    let here = format!("/c/{}/approvals", c.id);
    let currency = cur(&c);
    let body = html! {
        @if list.is_empty() { p { (l.t("Aucune lettre n'attend de validation.", "No letter waits for approval.")) } }
        @for lt in list.iter() {
            @let hidden = [("action", lt.action.clone())];
            article.letter data-action=(lt.action) {
                h2 { (stage_label(l, lt.planned.stage)) " — " (customer_link(&c, &view, &lt.customer)) }
                p { (l.t("Montant dû : ", "Amount due: ")) (l.money(lt.planned.total_due, &currency))
                    " · " (l.t("pénalités : ", "penalties: ")) (l.money(lt.planned.total_penalty, &currency))
                    " · " (l.t("indemnités : ", "indemnities: ")) (l.money(lt.planned.total_indemnity, &currency))
                    " · " (l.t("canal : ", "channel: ")) (format!("{:?}", lt.planned.channel)) }
                p.why { (l.t("Pourquoi : ", "Why: ")) (lt.planned.reason) }
                p { a href=(format!("{here}/{}/pdf", super::url_encode(&lt.action))) { (l.t("Aperçu PDF", "PDF preview")) } }
                div.rendered {
                    p.subject { strong { (lt.subject) } }
                    pre { (lt.body) }
                }
                div.actions {
                    (decision_form(&v, &c, "approve_letter", l.t("Valider et envoyer", "Approve and send"), &here, &hidden, html! {}))
                    (decision_form(&v, &c, "cancel_letter", l.t("Annuler", "Cancel"), &here, &hidden, html! {}))
                    (decision_form(&v, &c, "reschedule_letter", l.t("Reporter", "Reschedule"), &here, &hidden,
                        input(l.t("Pas avant le", "Not before"), "date", "date", "", true)))
                    @if v.may(&c, "edit_letter") {
                        details { summary { (l.t("Modifier le texte", "Edit the text")) }
                            (decision_form(&v, &c, "edit_letter", l.t("Envoyer ce texte", "Send this text"), &here, &hidden, html! {
                                (input(l.t("Objet", "Subject"), "subject", "text", &lt.subject, false))
                                label { (l.t("Texte", "Body")) " " textarea name="body" rows="10" required { (lt.body) } }
                            }))
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("Lettres à valider", "Letters to approve"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

/// `/c/{company}/approvals/{action}/pdf`: the letter rendered from its current text.
pub async fn approval_pdf(
    State(s): State<Console>,
    v: Viewer,
    Path((id, action)): Path<(String, String)>,
) -> Page {
    let (c, _) = company_view(&s, &v, &id).await?;
    let (store, cc, a) = (s.api.0.store.clone(), c.clone(), action.clone());
    let r = tokio::task::spawn_blocking(move || queries::letter_pdf(store.as_ref(), &cc, &a))
        .await
        .map_err(|e| unavailable(v.lang, &e.to_string()))?;
    match r {
        Ok(b) => Ok(pdf(&format!("{action}.pdf"), b)),
        Err(e) => Err(error_page(
            v.lang,
            StatusCode::NOT_FOUND,
            v.lang.t("Lettre introuvable", "No such letter"),
            &e.to_string(),
        )),
    }
}

// ---------- worklist ----------

/// The channel of a dunning step under the company's policy (`None` when the ladder no
/// longer has it).
fn channel_of(
    c: &CompanyConfig,
    stage: relance_core::dunning::Stage,
    step: u32,
) -> Option<relance_core::dunning::Channel> {
    c.dunning
        .steps
        .iter()
        .filter(|s| s.stage == stage)
        .nth(usize::try_from(step).ok()?)
        .map(|s| s.channel)
}

/// The body of an inbox entry's decision (`envelope.decision`).
fn decision_body(d: &crate::store::InboxEntry) -> &serde_json::Value {
    d.item
        .body
        .pointer("/envelope/decision")
        .unwrap_or(&serde_json::Value::Null)
}

/// A registered letter released for posting (approved, or sent without approval) and not yet
/// marked as posted.
pub struct ToPost {
    /// The dunning action's key.
    pub action: String,
    /// The customer.
    pub customer: CustomerId,
    /// Its stage.
    pub stage: relance_core::dunning::Stage,
    /// The PDF's name under the company's `letters/` folder.
    pub file: String,
}

/// The letters to post on `today`: every registered letter whose task (post it) is in the
/// outbox and due by today, whose PDF is in the `letters/` folder, and that nobody marked as
/// posted (decisions recorded and not yet applied count: a letter marked is gone at once).
pub(super) fn letters_to_post(
    s: &Console,
    c: &CompanyConfig,
    view: &CompanyView,
    today: NaiveDate,
) -> Vec<ToPost> {
    use relance_connectors::contract::WriteCommand;
    let mut posted = std::collections::HashSet::new();
    s.api.0.models.for_each_decision(view, |d| {
        if d.item.kind.ends_with(".letters_posted") {
            for a in decision_body(d)["actions"].as_array().into_iter().flatten() {
                if let Some(a) = a.as_str() {
                    posted.insert(a.to_owned());
                }
            }
        }
    });
    let files: std::collections::BTreeSet<String> = letter_files(s, c, "").into_iter().collect();
    let mut customers: Vec<&CustomerId> = view.actions.keys().collect();
    customers.sort();
    let mut out = Vec::new();
    for cu in customers {
        for a in view.actions.get(cu).into_iter().flatten() {
            if a.action.stage < relance_core::dunning::Stage::MiseEnDemeure
                || posted.contains(&a.key)
            {
                continue;
            }
            let Some(task) = a.deliveries.iter().find(|d| d.key.0 == a.key) else {
                continue;
            };
            if task.next_attempt_at.date_naive() > today {
                continue;
            }
            let WriteCommand::CreateTask { details, .. } = &task.command else {
                continue;
            };
            // The task names the letter it asks to post; a letter is named after its stage,
            // customer and date.
            let named = details
                .split_whitespace()
                .map(|w| w.trim_end_matches([',', ';', ':', ')']))
                .find(|w| w.ends_with(".pdf"))
                .map(str::to_owned);
            let standard = format!("{}-{}-{}.pdf", a.action.stage.name(), cu, a.action.date);
            let Some(file) = named
                .into_iter()
                .chain([standard])
                .find(|n| files.contains(n))
            else {
                continue;
            };
            out.push(ToPost {
                action: a.key.clone(),
                customer: (*cu).clone(),
                stage: a.action.stage,
                file,
            });
        }
    }
    out
}

fn call_label(l: Lang, outcome: &str) -> &'static str {
    match outcome {
        "reached" => l.t("joint", "reached"),
        "promise" => l.t("promesse de paiement", "promise to pay"),
        "dispute" => l.t("litige", "dispute"),
        "no_answer" => l.t("pas de réponse", "no answer"),
        "wrong_contact" => l.t("mauvais contact", "wrong contact"),
        _ => "",
    }
}

/// `/c/{company}/worklist`: today's calls and tasks with the customer's contact and open
/// items, the outcome of a call in one click, and the day's letters to post (one PDF to
/// print, marked as posted once sent).
pub async fn worklist(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    use relance_connectors::contract::WriteCommand;
    use relance_core::dunning::Channel;
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let today = s.api.0.clock.today();
    let here = format!("/c/{}/worklist", c.id);
    let currency = cur(&c);
    // The outcome recorded for each call task (the latest), by action key.
    let mut outcomes: std::collections::HashMap<String, (String, String)> =
        std::collections::HashMap::new();
    s.api.0.models.for_each_decision(&view, |d| {
        let b = decision_body(d);
        if b["type"] == "call_outcome" {
            if let Some(a) = b["action"].as_str() {
                outcomes.insert(
                    a.to_owned(),
                    (
                        b["outcome"].as_str().unwrap_or("").to_owned(),
                        d.item.actor.clone(),
                    ),
                );
            }
        }
    });
    let mut tasks = Vec::new();
    let mut customers: Vec<&CustomerId> = view.actions.keys().collect();
    customers.sort();
    for cu in customers {
        for a in view.actions.get(cu).into_iter().flatten() {
            if a.action.date != today {
                continue;
            }
            let channel = channel_of(&c, a.action.stage, a.action.step);
            if channel == Some(Channel::RegisteredLetter) {
                // Posting it is the letters' list below.
                continue;
            }
            for d in &a.deliveries {
                if let WriteCommand::CreateTask { title, details, .. } = &d.command {
                    tasks.push((
                        cu,
                        a,
                        title.clone(),
                        details.clone(),
                        channel == Some(Channel::PhoneTask),
                    ));
                }
            }
        }
    }
    let posts = letters_to_post(&s, &c, &view, today);
    let body = html! {
        h2 { (l.t("Appels et tâches du jour", "Today's calls and tasks")) " (" (tasks.len()) ")" }
        @for (cu, a, title, details, call) in &tasks {
            @let cust = view.customers.get(*cu);
            @let open: Vec<_> = view.by_customer.get(*cu).into_iter().flatten().filter_map(|n| view.invoices.get(*n)).filter(|r| r.open > Decimal::ZERO).collect();
            @let done = outcomes.get(&a.key);
            @let hidden = |outcome: &str| [("customer", cu.to_string()), ("action", a.key.clone()), ("outcome", outcome.to_owned())];
            article.task.done[done.is_some()] data-action=(a.key) {
                h3 { (title) " — " (customer_link(&c, &view, cu)) }
                @if let Some((outcome, by)) = done {
                    p.outcome role="status" { "✓ " (l.t("Fait : ", "Done: ")) (call_label(l, outcome)) " (" (by) ")" }
                }
                p { (details) }
                p.contact { (l.t("Contact : ", "Contact: ")) (cust.map(|x| x.emails.join(", ")).unwrap_or_default()) }
                p { (l.t("Factures ouvertes : ", "Open items: "))
                    @for r in &open { (r.invoice.number) " (" (l.money(r.open, &currency)) ") " } }
                p.small { (stage_label(l, a.action.stage)) " · " (a.summary) }
                @if *call && done.is_none() {
                    div.actions.outcomes {
                        (outcome_form(&v, &c, &here, "reached", l.t("Joint", "Reached"), &hidden("reached"), html! {}))
                        (outcome_form(&v, &c, &here, "no_answer", l.t("Pas de réponse", "No answer"), &hidden("no_answer"), html! {}))
                        (outcome_form(&v, &c, &here, "promise", l.t("Promesse", "Promise"), &hidden("promise"), html! {
                            (input(l.t("Date promise", "Promised date"), "date", "date", "", true))
                            (input(l.t("Montant (vide : tout)", "Amount (empty: all)"), "amount", "text", "", false))
                        }))
                        (outcome_form(&v, &c, &here, "dispute", l.t("Litige", "Dispute"), &hidden("dispute"), html! {}))
                        (outcome_form(&v, &c, &here, "wrong_contact", l.t("Mauvais contact", "Wrong contact"), &hidden("wrong_contact"), html! {}))
                    }
                }
            }
        }
        @if tasks.is_empty() { p { (l.t("Aucun appel prévu aujourd'hui.", "No call planned today.")) } }
        h2 id="to-post" { (l.t("Lettres à poster", "Letters to post")) " (" (posts.len()) ")" }
        @if posts.is_empty() {
            p { (l.t("Aucune lettre à poster aujourd'hui.", "No letter to post today.")) }
        } @else {
            p { a href=(format!("{here}/letters.pdf")) { (l.t("Toutes les lettres à poster en un PDF, à imprimer", "Every letter to post as one PDF, to print")) } }
            ul.letters {
                @for p in &posts {
                    li data-action=(p.action) { (stage_label(l, p.stage)) " — " (customer_link(&c, &view, &p.customer))
                        " · " a href=(format!("/c/{}/letters/{}", c.id, super::url_encode(&p.file))) { (p.file) }
                    }
                }
            }
            @let keys: Vec<(&str, String)> = posts.iter().map(|p| ("actions", p.action.clone())).collect();
            (decision_form(&v, &c, "letters_posted", l.t("Marquer ces lettres comme postées", "Mark these letters as posted"), &here, &keys, html! {}))
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("Aujourd'hui", "Today"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

/// The form of one call outcome (a reason asked where the outcome needs one).
fn outcome_form(
    v: &Viewer,
    c: &CompanyConfig,
    back: &str,
    outcome: &str,
    button: &str,
    hidden: &[(&str, String)],
    fields: Markup,
) -> Markup {
    let needs = crate::decisions::needs_reason_for("call_outcome", Some(outcome));
    decision_form_with(v, c, "call_outcome", needs, button, back, hidden, fields)
}

/// `/c/{company}/worklist/letters.pdf`: every letter to post today, in one PDF to print.
pub async fn letters_to_post_pdf(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let today = s.api.0.clock.today();
    let posts = letters_to_post(&s, &c, &view, today);
    if posts.is_empty() {
        return Err(error_page(
            l,
            StatusCode::NOT_FOUND,
            l.t("Aucune lettre à poster", "No letter to post"),
            "",
        ));
    }
    let dir = crate::pipeline::company_dir(&s.api.0.state_dir, &c.id).join("letters");
    let paths: Vec<std::path::PathBuf> = posts.iter().map(|p| dir.join(&p.file)).collect();
    let r = tokio::task::spawn_blocking(move || {
        let mut files = Vec::with_capacity(paths.len());
        for p in &paths {
            files.push(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?);
        }
        relance_connectors::formats::letter::concat_pdfs(&files).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| unavailable(l, &e.to_string()))?
    .map_err(|e| unavailable(l, &e))?;
    Ok(pdf(&format!("lettres-a-poster-{today}.pdf"), r))
}

// ---------- next run ----------

/// `/c/{company}/next-run`: what tomorrow's cycle would send, and why every other overdue
/// invoice will not be reminded.
pub async fn next_run(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let nr = next_run_of(&s, &c, &view)
        .await
        .map_err(|e| unavailable(l, &e))?;
    let here = format!("/c/{}/next-run", c.id);
    let currency = cur(&c);
    let body = html! {
        p { (l.t("Passage du ", "Run of ")) (l.date(nr.date))
            @if nr.pending_decisions > 0 {
                " — " (nr.pending_decisions) " " (l.t("décision(s) en attente seront appliquées d'abord (non reflétées ici).", "pending decision(s) will be applied first (not shown here)."))
            }
        }
        @if let Some(e) = &nr.plan_error { p.bad { (e) } }
        h2 { (l.t("Ce qui partira", "What will be sent")) " (" (nr.actions.len()) ")" }
        table.data id="next-actions" {
            thead { tr {
                th scope="col" { (l.t("Client", "Customer")) }
                th scope="col" { (l.t("Étape", "Stage")) }
                th scope="col" { (l.t("Canal", "Channel")) }
                th scope="col" { (l.t("Factures", "Invoices")) }
                th scope="col" { (l.t("Dû", "Due")) }
                th scope="col" { (l.t("Pourquoi", "Why")) }
            } }
            tbody {
                @for a in nr.actions.iter().take(500) {
                    tr {
                        td { (customer_link(&c, &view, &a.action.customer)) }
                        td { (stage_label(l, a.action.stage)) @if a.needs_approval { " " span.tag { (l.t("à valider", "needs approval")) } } }
                        td { (format!("{:?}", a.action.channel)) }
                        td { @for i in &a.action.invoices { (i.invoice) " " } }
                        td.num { (l.money(a.action.total_due, &currency)) }
                        td { (a.action.reason) }
                    }
                }
            }
        }
        @if nr.actions.len() > 500 { p { (l.t("500 premières actions.", "First 500 actions.")) } }
        h2 { (l.t("Factures échues qui ne seront pas relancées, et pourquoi", "Overdue invoices that will not be reminded, and why")) " (" (nr.not_reminded.len()) ")" }
        table.data id="not-reminded" {
            thead { tr {
                th scope="col" { (l.t("Facture", "Invoice")) }
                th scope="col" { (l.t("Client", "Customer")) }
                th scope="col" { (l.t("Reste dû", "Open")) }
                th scope="col" { (l.t("Retard (j)", "Days late")) }
                th scope="col" { (l.t("Pourquoi", "Why")) }
            } }
            tbody {
                @for n in nr.not_reminded.iter().take(500) {
                    tr {
                        td { (n.number) }
                        td { (customer_link(&c, &view, &n.customer)) }
                        td.num { (l.money(n.open, &currency)) }
                        td.num { (n.days_overdue) }
                        td.reason { (n.reason) }
                    }
                }
            }
        }
        @if nr.not_reminded.len() > 500 { p { (l.t("500 premières lignes.", "First 500 lines.")) } }
        h2 { (l.t("Alertes", "Alerts")) }
        ul { @for a in &nr.alerts { li { strong { (a.kind) } " " (customer_link(&c, &view, &a.customer)) @if let Some(d) = a.deadline { " (" (l.date(d)) ")" } " : " (a.message) } } }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("Prochain passage", "Next run"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

// ---------- closing ----------

/// `/c/{company}/closing`: the doubtful-debt table with each line's evidence, rate overrides,
/// approval, FEC and CSV downloads.
pub async fn closing(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let drafts = drafts_of(&s, &c, &view)
        .await
        .map_err(|e| unavailable(l, &e))?;
    let here = format!("/c/{}/closing", c.id);
    let currency = cur(&c);
    let want = q.date.as_deref().and_then(super::fmt::parse_date);
    let chosen = drafts
        .iter()
        .find(|d| Some(d.closing) == want)
        .or(drafts.first());
    let body = html! {
        @if drafts.len() > 1 {
            nav.closings aria-label=(l.t("Clôtures", "Closings")) {
                @for d in drafts.iter() { a href=(format!("{here}?date={}", d.closing)) { (l.date(d.closing)) } " " }
            }
        }
        @match chosen {
            None => p { (l.t("Aucune clôture calculée : elles le sont aux dates de clôture configurées (provision.closing_dates).", "No closing computed yet: they are at the configured closing dates (provision.closing_dates).")) },
            Some(d) => {
                h2 { (l.t("Clôture du ", "Closing of ")) (l.date(d.closing)) " — " (format!("{:?}", d.status)) }
                p {
                    a href=(format!("{here}/{}/fec", d.closing)) { (l.t("Télécharger le FEC", "Download the FEC")) }
                    " · "
                    a href=(format!("{here}/{}/csv", d.closing)) { (l.t("Télécharger le CSV", "Download the CSV")) }
                    " · " (d.posted) "/" (d.move_keys.len()) " " (l.t("écritures passées", "entries posted"))
                }
                @if let Some(dr) = &d.draft {
                    @let t = &dr.table;
                    section.figures {
                        div.figure { span { (l.t("Créances douteuses (416)", "Doubtful debts (416)")) } strong { (l.money(t.totals.doubtful_ttc, &currency)) } }
                        div.figure { span { (l.t("Provisions après clôture", "Provisions after closing")) } strong { (l.money(t.totals.new_provision, &currency)) } }
                        div.figure { span { (l.t("Dotations (68174)", "Increase (68174)")) } strong { (l.money(t.totals.increase, &currency)) } }
                        div.figure { span { (l.t("Reprises (78174)", "Reversal (78174)")) } strong { (l.money(t.totals.decrease, &currency)) } }
                    }
                    (decision_form(&v, &c, "approve_closing", l.t("Approuver la clôture", "Approve the closing"), &here,
                        &[("closing", d.closing.to_string()), ("draft", dr.digest.clone())], html! {}))
                    table.data id="provisions" {
                        thead { tr {
                            th scope="col" { (l.t("Facture", "Invoice")) }
                            th scope="col" { (l.t("Client", "Customer")) }
                            th scope="col" { (l.t("Retard (j)", "Days late")) }
                            th scope="col" { (l.t("Reste dû TTC", "Open incl. VAT")) }
                            th scope="col" { (l.t("Base HT", "Base excl. VAT")) }
                            th scope="col" { (l.t("Taux", "Rate")) }
                            th scope="col" { (l.t("Provision", "Provision")) }
                            th scope="col" { (l.t("Justification", "Justification")) }
                            th scope="col" { (l.t("Modifier le taux", "Override the rate")) }
                        } }
                        tbody {
                            @for ln in &t.lines {
                                tr {
                                    td { (ln.number) }
                                    td { (customer_link(&c, &view, &ln.customer)) }
                                    td.num { (ln.days_overdue) }
                                    td.num { (l.money(ln.open_ttc, &currency)) }
                                    td.num { (l.money(ln.base_ht, &currency)) }
                                    td.num { (l.percent(ln.rate)) br; small { (ln.rate_rule) } }
                                    td.num { (l.money(ln.new_provision, &currency)) }
                                    td {
                                        (ln.justification)
                                        details { summary { (l.t("Preuves", "Evidence")) } ul { @for e in &ln.evidence { li { (e) } } } p { (ln.deductibility) } }
                                    }
                                    td { (decision_form(&v, &c, "override_rate", l.t("Appliquer", "Apply"), &here,
                                        &[("closing", d.closing.to_string()), ("invoice", ln.invoice.to_string())],
                                        input(l.t("Taux (%)", "Rate (%)"), "rate_percent", "text", "", true))) }
                                }
                            }
                        }
                    }
                    @if !t.notes.is_empty() {
                        h2 { (l.t("À examiner", "To look at")) }
                        ul { @for n in &t.notes { li { strong { (n.subject) } " : " (n.message) } } }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("Clôture et provisions", "Closing and provisions"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

/// `/c/{company}/closing/{date}/{fec|csv}`: a closing's exports, from its draft.
pub async fn closing_export(
    State(s): State<Console>,
    v: Viewer,
    Path((id, date, format)): Path<(String, String, String)>,
) -> Page {
    let l = v.lang;
    let (c, _) = company_view(&s, &v, &id).await?;
    let Some(date) = super::fmt::parse_date(&date) else {
        return Err(error_page(
            l,
            StatusCode::NOT_FOUND,
            l.t("Date invalide", "Bad date"),
            &date,
        ));
    };
    let (store, cc) = (s.api.0.store.clone(), c.clone());
    let r = tokio::task::spawn_blocking(move || closing::exports(store.as_ref(), &cc, date))
        .await
        .map_err(|e| unavailable(l, &e.to_string()))?
        .map_err(|e| {
            error_page(
                l,
                StatusCode::NOT_FOUND,
                l.t("Export impossible", "No export"),
                &e.to_string(),
            )
        })?;
    let (name, mime, bytes) = match format.as_str() {
        "fec" => (r.fec_name, "text/plain; charset=utf-8", r.fec),
        "csv" => (r.csv_name, "text/csv; charset=utf-8", r.csv),
        _ => {
            return Err(error_page(
                l,
                StatusCode::NOT_FOUND,
                l.t("Format inconnu", "Unknown format"),
                &format,
            ))
        }
    };
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

// ---------- connectors ----------

/// `/c/{company}/connectors`: last pulls, errors, quarantined files with their reasons, dead
/// letters with a retry.
pub async fn connectors(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let k = routes::connectors_of(&s.api, &c, &view);
    let here = format!("/c/{}/connectors", c.id);
    let body = html! {
        p { (if k.runs_here { l.t("Cette instance fait tourner la société.", "This instance runs the company.") } else { l.t("La société tourne sur une autre instance.", "The company runs on another instance.") }) }
        @if let Some(e) = &k.cycle_error { p.bad { (l.t("Dernier cycle en échec : ", "Last cycle failed: ")) (e) } }
        table.data id="sources" {
            thead { tr {
                th scope="col" { (l.t("Source", "Source")) }
                th scope="col" { (l.t("Type", "Type")) }
                th scope="col" { (l.t("Dernier passage", "Last pull")) }
                th scope="col" { (l.t("Fichiers importés", "Files imported")) }
                th scope="col" { (l.t("Dernier fichier", "Last file")) }
                th scope="col" { (l.t("Erreurs", "Errors")) }
            } }
            tbody {
                @for src in &k.sources {
                    tr {
                        td { (src.name) }
                        td { (src.kind) }
                        td { (src.last_pull_at.map(|t| l.datetime(t)).unwrap_or_else(|| "—".into())) }
                        td.num { (src.files_imported) }
                        td { (src.last_file.as_deref().unwrap_or("—")) @if let Some(t) = src.last_import_at { " (" (l.datetime(t)) ")" } }
                        td class=[(!src.errors.is_empty()).then_some("bad")] { @for e in &src.errors { (e) br; } }
                    }
                }
            }
        }
        h2 { (l.t("Fichiers en quarantaine", "Quarantined files")) }
        table.data id="quarantine" {
            thead { tr {
                th scope="col" { (l.t("Source", "Source")) }
                th scope="col" { (l.t("Fichier", "File")) }
                th scope="col" { (l.t("Motif", "Reason")) }
                th scope="col" { (l.t("Quand", "When")) }
            } }
            tbody {
                @for src in &k.sources { @for f in &src.quarantined {
                    tr { td { (src.name) }
                         td { a href=(format!("{here}/{}/quarantine/{}", super::url_encode(&src.name), super::url_encode(file_name(&f.file)))) download { (f.file) } }
                         td { (f.reason) } td { (l.datetime(f.at)) } }
                } }
            }
        }
        h2 { (l.t("Envois abandonnés", "Dead letters")) }
        table.data id="dead-letters" {
            thead { tr {
                th scope="col" { (l.t("Clé", "Key")) }
                th scope="col" { (l.t("Motif", "Reason")) }
                th scope="col" { (l.t("Quand", "When")) }
                th scope="col" { (l.t("Action", "Action")) }
            } }
            tbody {
                @for d in &k.dead_letters {
                    tr {
                        td { code { (d.id) } }
                        td { (d.reason) }
                        td { (l.datetime(d.at)) }
                        td { (decision_form(&v, &c, "retry_dead_letter", l.t("Réessayer", "Retry"), &here, &[("key", d.id.clone())], html! {})) }
                    }
                }
            }
        }
        p.small { (l.t("File d'envoi : ", "Outbox: ")) (view.outbox_counts.0) " " (l.t("en attente", "pending")) ", " (view.outbox_counts.1) " " (l.t("faits", "done")) ", " (view.outbox_counts.2) " " (l.t("abandonnés", "dead")) }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("Connecteurs", "Connectors"),
            q.msg.as_deref(),
            body,
        ),
    ))
}

/// The last component of a file's path as a source names it.
fn file_name(f: &str) -> &str {
    f.rsplit(['/', '\\']).next().unwrap_or(f)
}

/// Why a quarantined file is not served.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineRefusal {
    /// Not a plain file name (a path, `..`, a hidden file).
    #[error("not a file name of the quarantine folder: {0:?}")]
    BadName(String),
    /// No folder source of that name.
    #[error("no folder source {0:?}")]
    NoSource(String),
    /// Not there, or not a regular file (a link, a folder).
    #[error("no quarantined file {0:?}")]
    Missing(String),
}

/// The path of the quarantined file `name` of the folder source `source`: a plain file name
/// (no separator, no `..`, not hidden), a regular file (not a link) directly inside the
/// source's `quarantine/` folder, itself a real folder (not a link), and resolving inside it.
pub fn quarantined_path(
    c: &CompanyConfig,
    source: &str,
    name: &str,
) -> Result<std::path::PathBuf, QuarantineRefusal> {
    if name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
    {
        return Err(QuarantineRefusal::BadName(name.to_owned()));
    }
    let dir = crate::registry::folder_named(c, source)
        .ok_or_else(|| QuarantineRefusal::NoSource(source.to_owned()))?
        .join(relance_connectors::systems::folder::QUARANTINE);
    let missing = || QuarantineRefusal::Missing(name.to_owned());
    let dir_meta = std::fs::symlink_metadata(&dir).map_err(|_| missing())?;
    if !dir_meta.is_dir() {
        return Err(missing());
    }
    let path = dir.join(name);
    let meta = std::fs::symlink_metadata(&path).map_err(|_| missing())?;
    if !meta.file_type().is_file() {
        return Err(missing());
    }
    let (real_dir, real) = (
        dir.canonicalize().map_err(|_| missing())?,
        path.canonicalize().map_err(|_| missing())?,
    );
    if real.parent() != Some(real_dir.as_path()) {
        return Err(missing());
    }
    Ok(real)
}

/// `/c/{company}/connectors/{source}/quarantine/{name}`: a quarantined file, as an attachment
/// (only from the company's quarantine folders; any other path is refused).
pub async fn quarantined_file(
    State(s): State<Console>,
    v: Viewer,
    Path((id, source, name)): Path<(String, String, String)>,
) -> Page {
    let l = v.lang;
    let (c, _) = company_view(&s, &v, &id).await?;
    let refused = |e: QuarantineRefusal| {
        let status = match e {
            QuarantineRefusal::BadName(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::NOT_FOUND,
        };
        error_page(
            l,
            status,
            l.t("Fichier introuvable", "No such file"),
            &e.to_string(),
        )
    };
    let path = quarantined_path(&c, &source, &name).map_err(refused)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| refused(QuarantineRefusal::Missing(name.clone())))?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

// ---------- audit log ----------

/// `/c/{company}/audit`: every decision, by whom, filterable by type, person and text.
pub async fn audit(
    State(s): State<Console>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Page {
    let l = v.lang;
    let (c, view) = company_view(&s, &v, &id).await?;
    let here = format!("/c/{}/audit", c.id);
    let kind = q.kind.as_deref().unwrap_or("");
    let actor = q.actor.as_deref().unwrap_or("");
    let text = q.q.as_deref().unwrap_or("").to_lowercase();
    let models = &s.api.0.models;
    // One pass finds the newest 500 that match and the people; only those rows are copied.
    let mut actors = std::collections::BTreeSet::new();
    let mut matching: Vec<u64> = Vec::new();
    models.for_each_decision(&view, |d| {
        if !actors.contains(d.item.actor.as_str()) {
            actors.insert(d.item.actor.clone());
        }
        let k = d
            .item
            .kind
            .trim_start_matches(crate::api::seam::KIND_PREFIX);
        if (kind.is_empty() || k == kind)
            && (actor.is_empty() || d.item.actor == actor)
            && (text.is_empty() || d.item.body.to_string().to_lowercase().contains(&text))
        {
            matching.push(d.seq);
        }
    });
    let shown: std::collections::HashSet<u64> = matching.iter().rev().take(500).copied().collect();
    let mut rows: Vec<crate::store::InboxEntry> = Vec::with_capacity(shown.len());
    models.for_each_decision(&view, |d| {
        if shown.contains(&d.seq) {
            rows.push(d.clone());
        }
    });
    rows.reverse();
    let actors: Vec<&str> = actors.iter().map(String::as_str).collect();
    let body = html! {
        form.search method="get" action=(here) {
            label { (l.t("Type", "Type")) " "
                select name="kind" {
                    option value="" { (l.t("tous", "all")) }
                    @for (k, _) in crate::api::seam::KINDS { option value=(k) selected[*k == kind] { (k) } }
                }
            }
            label { (l.t("Par", "By")) " "
                select name="actor" {
                    option value="" { (l.t("tous", "all")) }
                    @for a in &actors { option value=(a) selected[*a == actor] { (a) } }
                }
            }
            label { (l.t("Contient", "Contains")) " " input type="search" name="q" value=(text); }
            button type="submit" { (l.t("Filtrer", "Filter")) }
        }
        table.data id="audit" {
            thead { tr {
                th scope="col" { "#" }
                th scope="col" { (l.t("Enregistrée le", "Recorded")) }
                th scope="col" { (l.t("Type", "Type")) }
                th scope="col" { (l.t("Par", "By")) }
                th scope="col" { (l.t("Appliquée", "Applied")) }
                th scope="col" { (l.t("Décision", "Decision")) }
            } }
            tbody {
                @for d in &rows {
                    tr {
                        td.num { (d.seq) }
                        td { (l.datetime(d.item.recorded_at)) }
                        td { (d.item.kind.trim_start_matches(crate::api::seam::KIND_PREFIX)) }
                        td { (d.item.actor) }
                        td { (d.done_at.map(|t| l.datetime(t)).unwrap_or_else(|| l.t("en attente du cycle", "waiting for the cycle").into())) }
                        td { code { (d.item.body.to_string()) } }
                    }
                }
            }
        }
        @if rows.is_empty() { p { (l.t("Aucune décision ne correspond.", "No decision matches.")) } }
    };
    Ok(respond(
        StatusCode::OK,
        layout(
            &v,
            Some(&c),
            &here,
            l.t("Journal des décisions", "Audit log"),
            q.msg.as_deref(),
            body,
        ),
    ))
}
