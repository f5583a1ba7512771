//! Write-back, exactly once. Every command but a move ends with a chatter note
//! (`message_post`, subtype `mail.mt_note`) whose body carries `[relance:<key>]`: the
//! completion mark [`find_applied`] searches (`mail.message`, `body ilike`). A move carries
//! the marker in its `ref` and is complete once posted. Each step checks Odoo's state first,
//! so `apply` can run again after a crash at any point:
//!
//! - dunning level: a `mail.activity` when configured (its summary tagged
//!   `[relance-activity:<key>]`, looked for before creating one), the follow-up level of the
//!   customer where Enterprise `account_followup` is installed (the N-th follow-up line by
//!   delay, never lowered), OCA `account_credit_control` lines where that module is installed
//!   (one per open receivable line at the N-th level of the policy, looked for first), then the
//!   note;
//! - dispute: the company's tag on the customer or its `x_` field on the invoice, else (up to
//!   17) `account.move.line.blocked` on the receivable lines; on 18+ without either a clear
//!   refusal, since `blocked` is gone (odoo/odoo#180593);
//! - note: on the invoice or the customer;
//! - reconciliation: a note on the first invoice naming the receipt and the amounts, for the
//!   accountant to reconcile in Odoo (relance does not register payments in Odoo);
//! - move: `account.move` (`entry`) with the marker in `ref`, then `action_post`.
//!
//! Installed modules are read from `ir.module.module` (state `installed`) once per connector.

use super::pull::m2o;
use super::rpc::{OdooError, Rpc};
use crate::contract::{IdempotencyKey, MoveLine, RemoteRef, WriteCommand};
use crate::wire::{self, marker};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

/// What the database offers the write-back (read once).
#[derive(Clone, Debug, Default)]
pub struct Features {
    /// Enterprise follow-up is installed.
    pub followup: bool,
    /// OCA credit control is installed.
    pub credit_control: bool,
    /// `account.move.line.blocked` exists (Odoo ≤ 17).
    pub blocked_flag: bool,
    /// The server's major version.
    pub version: u32,
}

/// Reads the installed modules and fields.
pub async fn features(rpc: &Rpc) -> Result<Features, OdooError> {
    let installed = match rpc
        .search_read(
            "ir.module.module",
            json!([
                ["name", "in", ["account_followup", "account_credit_control"]],
                ["state", "=", "installed"]
            ]),
            &["name"],
            0,
            None,
            "id asc",
        )
        .await
    {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| wire::text(&r["name"]))
            .collect::<Vec<_>>(),
        // a user without rights on modules: tell by the fields instead
        Err(OdooError::AccessError { .. }) => {
            let partner = rpc.field_names("res.partner").await?;
            let mut m = Vec::new();
            if partner.iter().any(|f| f == "followup_line_id") {
                m.push("account_followup".to_owned());
            }
            if partner.iter().any(|f| f == "credit_policy_id") {
                m.push("account_credit_control".to_owned());
            }
            m
        }
        Err(e) => return Err(e),
    };
    let lines = rpc.field_names("account.move.line").await?;
    Ok(Features {
        followup: installed.iter().any(|m| m == "account_followup"),
        credit_control: installed.iter().any(|m| m == "account_credit_control"),
        blocked_flag: lines.iter().any(|f| f == "blocked"),
        version: rpc.version().await?,
    })
}

fn odoo_id(s: &str, what: &str) -> Result<i64, OdooError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| OdooError::Refused(format!("{what} {s:?} is not an Odoo id")))
}

fn like(mark: &str) -> String {
    // `_` and `%` are LIKE wildcards; markers carry neither, `[` is plain in PostgreSQL LIKE
    format!("%{mark}%")
}

fn kw(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Decimal → JSON number for Odoo's float fields (through its text, never through `f64`
/// arithmetic).
fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

/// The effect already applied under `key`, if any.
pub async fn find_applied(rpc: &Rpc, key: &IdempotencyKey) -> Result<Option<RemoteRef>, OdooError> {
    let mark = marker(key);
    let moves = rpc
        .search_read(
            "account.move",
            json!([["ref", "ilike", like(&mark)], ["state", "=", "posted"]]),
            &["id"],
            0,
            Some(1),
            "id asc",
        )
        .await?;
    if let Some(m) = moves.first().and_then(|m| m["id"].as_i64()) {
        return Ok(Some(RemoteRef(format!("account.move,{m}"))));
    }
    let notes = rpc
        .search_read(
            "mail.message",
            json!([["body", "ilike", like(&mark)]]),
            &["id", "model", "res_id"],
            0,
            Some(1),
            "id asc",
        )
        .await?;
    Ok(notes.first().map(|n| {
        RemoteRef(format!(
            "{},{}/mail.message,{}",
            n["model"].as_str().unwrap_or("mail.message"),
            n["res_id"],
            n["id"]
        ))
    }))
}

struct MoveInfo {
    id: i64,
    name: String,
    partner: i64,
    company: Option<i64>,
}

async fn invoice_info(rpc: &Rpc, invoice: &str) -> Result<MoveInfo, OdooError> {
    let id = odoo_id(invoice, "invoice")?;
    let rows = rpc
        .search_read(
            "account.move",
            json!([["id", "=", id]]),
            &["name", "commercial_partner_id", "partner_id", "company_id"],
            0,
            Some(1),
            "id asc",
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| OdooError::Refused(format!("no Odoo invoice {id}")))?;
    Ok(MoveInfo {
        id,
        name: wire::text(&row["name"]).unwrap_or_else(|| format!("#{id}")),
        partner: m2o(&row["commercial_partner_id"])
            .or_else(|| m2o(&row["partner_id"]))
            .map(|p| p.0)
            .ok_or_else(|| OdooError::Refused(format!("Odoo invoice {id} has no customer")))?,
        company: m2o(&row["company_id"]).map(|c| c.0),
    })
}

/// Posts the completion note on `model,id`; its reference.
async fn note(
    rpc: &Rpc,
    model: &str,
    id: i64,
    text: &str,
    key: &IdempotencyKey,
) -> Result<RemoteRef, OdooError> {
    let body = format!("<p>{} {}</p>", escape(text), marker(key));
    let r = rpc
        .call(
            model,
            "message_post",
            Some(&[id]),
            kw(&[
                ("body", json!(body)),
                ("message_type", json!("comment")),
                ("subtype_xmlid", json!("mail.mt_note")),
            ]),
        )
        .await?;
    let mid = match &r {
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.first().map(|v| v.to_string()).unwrap_or_default(),
        other => wire::short(other),
    };
    Ok(RemoteRef(format!("{model},{id}/mail.message,{mid}")))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Open receivable lines of an invoice: `(id, amount_residual)`.
async fn open_receivable_lines(
    rpc: &Rpc,
    move_id: i64,
) -> Result<Vec<(i64, Value, Value)>, OdooError> {
    let rows = rpc
        .search_read(
            "account.move.line",
            json!([
                ["move_id", "=", move_id],
                ["account_type", "=", "asset_receivable"],
                ["reconciled", "=", false]
            ]),
            &["id", "amount_residual", "date_maturity"],
            0,
            None,
            "date_maturity asc, id asc",
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                r["id"].as_i64()?,
                r["amount_residual"].clone(),
                r["date_maturity"].clone(),
            ))
        })
        .collect())
}

async fn ensure_activity(
    rpc: &Rpc,
    inv: &MoveInfo,
    key: &IdempotencyKey,
    summary: &str,
    deadline: NaiveDate,
    user: Option<i64>,
) -> Result<(), OdooError> {
    let tag = format!("[relance-activity:{}]", key.as_str());
    let mut k = kw(&[
        (
            "domain",
            json!([
                ["res_model", "=", "account.move"],
                ["res_id", "=", inv.id],
                ["summary", "ilike", like(&tag)],
                ["active", "in", [true, false]]
            ]),
        ),
        ("fields", json!(["id"])),
        ("limit", json!(1)),
    ]);
    k.insert("order".into(), json!("id asc"));
    let existing = rpc.call("mail.activity", "search_read", None, k).await?;
    if existing.as_array().is_some_and(|a| !a.is_empty()) {
        return Ok(());
    }
    let model = rpc
        .search_read(
            "ir.model",
            json!([["model", "=", "account.move"]]),
            &["id"],
            0,
            Some(1),
            "id asc",
        )
        .await?;
    let model_id = model
        .first()
        .and_then(|m| m["id"].as_i64())
        .ok_or_else(|| OdooError::Refused("no ir.model for account.move".into()))?;
    let todo = rpc
        .search_read(
            "ir.model.data",
            json!([
                ["module", "=", "mail"],
                ["name", "=", "mail_activity_data_todo"]
            ]),
            &["res_id"],
            0,
            Some(1),
            "id asc",
        )
        .await?;
    let mut vals = json!({"res_model_id": model_id, "res_id": inv.id,
        "summary": format!("{summary} {tag}"),
        "note": format!("<p>{}</p>", escape(summary)),
        "date_deadline": deadline.format("%Y-%m-%d").to_string()});
    if let Some(t) = todo.first().and_then(|t| t["res_id"].as_i64()) {
        vals["activity_type_id"] = json!(t);
    }
    if let Some(u) = user {
        vals["user_id"] = json!(u);
    }
    rpc.call(
        "mail.activity",
        "create",
        None,
        kw(&[("vals_list", json!([vals]))]),
    )
    .await?;
    Ok(())
}

/// Raises the customer's follow-up level to the `level`-th line (by delay); never lowers it.
async fn followup_level(rpc: &Rpc, inv: &MoveInfo, level: u8) -> Result<Option<String>, OdooError> {
    let mut d = vec![];
    if let Some(c) = inv.company {
        d.push(json!(["company_id", "=", c]));
    }
    let lines = rpc
        .search_read(
            "account_followup.followup.line",
            Value::Array(d),
            &["id", "name", "delay"],
            0,
            None,
            "delay asc, id asc",
        )
        .await?;
    let Some(target) = lines.get(usize::from(level.max(1)) - 1) else {
        return Err(OdooError::Refused(format!(
            "the Odoo follow-up has {} levels, stage {level} asked",
            lines.len()
        )));
    };
    let target_id = target["id"].as_i64().unwrap_or(0);
    let rank = |id: i64| lines.iter().position(|l| l["id"].as_i64() == Some(id));
    let partner = rpc
        .search_read(
            "res.partner",
            json!([["id", "=", inv.partner]]),
            &["followup_line_id"],
            0,
            Some(1),
            "id asc",
        )
        .await?;
    let current = partner
        .first()
        .and_then(|p| m2o(&p["followup_line_id"]))
        .map(|l| l.0);
    if current.and_then(rank) >= rank(target_id) {
        return Ok(None);
    }
    rpc.call(
        "res.partner",
        "write",
        Some(&[inv.partner]),
        kw(&[("vals", json!({"followup_line_id": target_id}))]),
    )
    .await?;
    Ok(wire::text(&target["name"]))
}

/// Credit control lines at the `level`-th level of the policy, one per open receivable line
/// not already at that level.
async fn credit_control(
    rpc: &Rpc,
    inv: &MoveInfo,
    level: u8,
    date: NaiveDate,
    policy: Option<i64>,
) -> Result<usize, OdooError> {
    let policy = match policy {
        Some(p) => p,
        None => rpc
            .search_read(
                "credit.control.policy",
                json!([]),
                &["id"],
                0,
                Some(1),
                "id asc",
            )
            .await?
            .first()
            .and_then(|p| p["id"].as_i64())
            .ok_or_else(|| {
                OdooError::Refused("OCA credit control is installed but has no policy".into())
            })?,
    };
    let levels = rpc
        .search_read(
            "credit.control.policy.level",
            json!([["policy_id", "=", policy]]),
            &["id", "level", "channel"],
            0,
            None,
            "level asc, id asc",
        )
        .await?;
    let Some(lvl) = levels.get(usize::from(level.max(1)) - 1) else {
        return Err(OdooError::Refused(format!(
            "credit control policy {policy} has {} levels, stage {level} asked",
            levels.len()
        )));
    };
    let lvl_id = lvl["id"].as_i64().unwrap_or(0);
    let channel = lvl["channel"].as_str().unwrap_or("letter").to_owned();
    let lines = open_receivable_lines(rpc, inv.id).await?;
    let mut created = 0;
    for (line, residual, due) in lines {
        let exists = rpc
            .search_read(
                "credit.control.line",
                json!([
                    ["move_line_id", "=", line],
                    ["policy_level_id", "=", lvl_id]
                ]),
                &["id"],
                0,
                Some(1),
                "id asc",
            )
            .await?;
        if !exists.is_empty() {
            continue;
        }
        let vals = json!({"move_line_id": line, "partner_id": inv.partner, "policy_level_id": lvl_id,
            "date": date.format("%Y-%m-%d").to_string(), "date_due": due, "amount_due": residual,
            "balance_due": residual, "state": "sent", "channel": channel});
        rpc.call(
            "credit.control.line",
            "create",
            None,
            kw(&[("vals_list", json!([vals]))]),
        )
        .await?;
        created += 1;
    }
    Ok(created)
}

async fn dispute_flag(
    rpc: &Rpc,
    opts: &super::config::OdooWriteOptions,
    feat: &Features,
    inv: &MoveInfo,
    on: bool,
) -> Result<String, OdooError> {
    if let Some(field) = &opts.dispute_field {
        rpc.call(
            "account.move",
            "write",
            Some(&[inv.id]),
            kw(&[("vals", json!({ field.as_str(): on }))]),
        )
        .await?;
        return Ok(format!("champ {field}"));
    }
    if let Some(tag) = &opts.dispute_tag {
        let found = rpc
            .search_read(
                "res.partner.category",
                json!([["name", "=", tag]]),
                &["id"],
                0,
                Some(1),
                "id asc",
            )
            .await?;
        let tag_id = match found.first().and_then(|t| t["id"].as_i64()) {
            Some(t) => t,
            None => {
                let r = rpc
                    .call(
                        "res.partner.category",
                        "create",
                        None,
                        kw(&[("vals_list", json!([{"name": tag}]))]),
                    )
                    .await?;
                r.as_array()
                    .and_then(|a| a.first())
                    .or(Some(&r))
                    .and_then(Value::as_i64)
                    .ok_or_else(|| OdooError::Protocol {
                        what: "res.partner.category.create".into(),
                        detail: wire::short(&r),
                    })?
            }
        };
        // command 4 links, 3 unlinks: both harmless when already so
        let cmd = if on { 4 } else { 3 };
        rpc.call(
            "res.partner",
            "write",
            Some(&[inv.partner]),
            kw(&[("vals", json!({"category_id": [[cmd, tag_id]]}))]),
        )
        .await?;
        return Ok(format!("étiquette {tag}"));
    }
    if feat.blocked_flag {
        let lines: Vec<i64> = open_receivable_lines(rpc, inv.id)
            .await?
            .into_iter()
            .map(|l| l.0)
            .collect();
        if !lines.is_empty() {
            rpc.call(
                "account.move.line",
                "write",
                Some(&lines),
                kw(&[("vals", json!({"blocked": on}))]),
            )
            .await?;
        }
        return Ok("« Pas de relance » (blocked)".to_owned());
    }
    Err(OdooError::Refused(format!(
        "Odoo {} has no \"No follow-up\" flag (account.move.line.blocked was removed in 18): set dispute_tag or dispute_field in [writeback]",
        feat.version
    )))
}

async fn account_id(
    rpc: &Rpc,
    opts: &super::config::OdooWriteOptions,
    code: &str,
    company: Option<i64>,
    version: u32,
) -> Result<i64, OdooError> {
    let code = opts.accounts.get(code).map(String::as_str).unwrap_or(code);
    let scope = |mut d: Vec<Value>| {
        if let Some(c) = company {
            // 18 made accounts shared between companies (company_ids)
            d.push(if version >= 18 {
                json!(["company_ids", "in", [c]])
            } else {
                json!(["company_id", "=", c])
            });
        }
        Value::Array(d)
    };
    for domain in [
        scope(vec![json!(["code", "=", code])]),
        scope(vec![json!(["code", "=like", format!("{code}%")])]),
    ] {
        let rows = rpc
            .search_read("account.account", domain, &["id"], 0, Some(1), "code asc")
            .await?;
        if let Some(id) = rows.first().and_then(|r| r["id"].as_i64()) {
            return Ok(id);
        }
    }
    Err(OdooError::Refused(format!(
        "no Odoo account with code {code} (or starting with it)"
    )))
}

/// The move of a `PostMove` command, found by its marker or created, then posted.
async fn post_move(
    rpc: &Rpc,
    opts: &super::config::OdooWriteOptions,
    feat: &Features,
    key: &IdempotencyKey,
    mv: (&str, NaiveDate, &str, &[MoveLine]),
) -> Result<RemoteRef, OdooError> {
    let (journal, date, description, lines) = mv;
    let debit: Decimal = lines.iter().map(|l| l.debit).sum();
    let credit: Decimal = lines.iter().map(|l| l.credit).sum();
    if lines.len() < 2 || debit != credit || debit <= Decimal::ZERO {
        return Err(OdooError::Refused(format!(
            "move {description:?} is not balanced (debit {debit}, credit {credit})"
        )));
    }
    let mark = marker(key);
    let company = rpc.company().await?;
    let existing = rpc
        .search_read(
            "account.move",
            json!([["ref", "ilike", like(&mark)]]),
            &["id", "state"],
            0,
            Some(1),
            "id asc",
        )
        .await?;
    let (id, state) = match existing.first() {
        Some(m) => (
            m["id"].as_i64().unwrap_or(0),
            m["state"].as_str().unwrap_or("").to_owned(),
        ),
        None => {
            let code = if journal.is_empty() {
                opts.journal.as_str()
            } else {
                journal
            };
            let mut jd = vec![json!(["code", "=", code])];
            if let Some(c) = company {
                jd.push(json!(["company_id", "=", c]));
            }
            let j = rpc
                .search_read(
                    "account.journal",
                    Value::Array(jd),
                    &["id"],
                    0,
                    Some(1),
                    "id asc",
                )
                .await?
                .first()
                .and_then(|j| j["id"].as_i64())
                .ok_or_else(|| OdooError::Refused(format!("no Odoo journal with code {code}")))?;
            let mut vals = Vec::with_capacity(lines.len());
            for l in lines {
                let mut line = json!({"account_id": account_id(rpc, opts, &l.account, company, feat.version).await?,
                    "name": l.label, "debit": number(l.debit), "credit": number(l.credit)});
                if let Some(p) = &l.party {
                    line["partner_id"] = json!(odoo_id(p, "partner")?);
                }
                vals.push(json!([0, 0, line]));
            }
            let mv = json!({"move_type": "entry", "journal_id": j, "date": date.format("%Y-%m-%d").to_string(),
                "ref": format!("{description} {mark}"), "line_ids": vals});
            let r = rpc
                .call(
                    "account.move",
                    "create",
                    None,
                    kw(&[("vals_list", json!([mv]))]),
                )
                .await?;
            let id = r
                .as_array()
                .and_then(|a| a.first())
                .or(Some(&r))
                .and_then(Value::as_i64)
                .ok_or_else(|| OdooError::Protocol {
                    what: "account.move.create".into(),
                    detail: wire::short(&r),
                })?;
            (id, "draft".to_owned())
        }
    };
    if state == "draft" {
        rpc.call("account.move", "action_post", Some(&[id]), Map::new())
            .await?;
    }
    Ok(RemoteRef(format!("account.move,{id}")))
}

/// Applies `cmd` under `key` (a no-op returning the reference when already applied).
pub async fn apply(
    rpc: &Rpc,
    opts: &super::config::OdooWriteOptions,
    feat: &Features,
    key: &IdempotencyKey,
    cmd: &WriteCommand,
) -> Result<RemoteRef, OdooError> {
    if let Some(done) = find_applied(rpc, key).await? {
        return Ok(done);
    }
    match cmd {
        WriteCommand::SetDunningLevel {
            invoice,
            level,
            date,
        } => {
            let inv = invoice_info(rpc, invoice).await?;
            let summary = format!(
                "{} (niveau {level}) – facture {}",
                wire::stage_label(*level),
                inv.name
            );
            if opts.activity {
                ensure_activity(
                    rpc,
                    &inv,
                    key,
                    &format!("Relance : {summary}"),
                    *date,
                    opts.activity_user_id,
                )
                .await?;
            }
            let mut done = vec![format!(
                "{} le {}",
                wire::stage_label(*level),
                date.format("%d/%m/%Y")
            )];
            if opts.followup && feat.followup && *level > 0 {
                if let Some(name) = followup_level(rpc, &inv, *level).await? {
                    done.push(format!("niveau de suivi « {name} »"));
                }
            }
            if opts.credit_control && feat.credit_control && *level > 0 {
                let n =
                    credit_control(rpc, &inv, *level, *date, opts.credit_control_policy_id).await?;
                if n > 0 {
                    done.push(format!("{n} ligne(s) de contrôle de crédit"));
                }
            }
            note(
                rpc,
                "account.move",
                inv.id,
                &format!("relance : {}", done.join(", ")),
                key,
            )
            .await
        }
        WriteCommand::AddNote {
            target_kind,
            target,
            text,
        } => {
            let model = match target_kind.as_str() {
                "invoice" => "account.move",
                "party" | "customer" => "res.partner",
                other => {
                    return Err(OdooError::Refused(format!(
                        "cannot attach a note to a {other:?} in Odoo (invoice, party)"
                    )))
                }
            };
            note(rpc, model, odoo_id(target, target_kind)?, text, key).await
        }
        WriteCommand::BlockDunning {
            invoice,
            blocked,
            reason,
        } => {
            let inv = invoice_info(rpc, invoice).await?;
            let how = dispute_flag(rpc, opts, feat, &inv, *blocked).await?;
            let text = if *blocked {
                format!("litige : relances suspendues ({how}) : {reason}")
            } else {
                format!("fin du litige : relances reprises ({how}) : {reason}")
            };
            note(rpc, "account.move", inv.id, &text, key).await
        }
        WriteCommand::Reconcile {
            transaction,
            allocations,
            date,
        } => {
            let Some((first, _)) = allocations.first() else {
                return Err(OdooError::Refused(format!(
                    "receipt {transaction}: no invoice"
                )));
            };
            let inv = invoice_info(rpc, first).await?;
            let list: Vec<String> = allocations
                .iter()
                .map(|(i, a)| format!("#{i} {a}"))
                .collect();
            let text = format!(
                "encaissement {transaction} du {} rapproché par relance : {} — à lettrer dans Odoo",
                date.format("%d/%m/%Y"),
                list.join(", ")
            );
            note(rpc, "account.move", inv.id, &text, key).await
        }
        WriteCommand::PostMove {
            journal,
            date,
            description,
            lines,
        } => post_move(rpc, opts, feat, key, (journal, *date, description, lines)).await,
        WriteCommand::SendEmail { .. }
        | WriteCommand::CreateTask { .. }
        | WriteCommand::ReportPayment { .. } => Err(OdooError::Refused(
            "the Odoo connector does not send e-mails or create tasks (mail and tasks targets do)"
                .into(),
        )),
    }
}
