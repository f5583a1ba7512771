//! Write-back, exactly once. Each command ends by creating an `ir.note` whose text carries the
//! marker `[relance:<key>]`, attached to the record the command changed: the note is the
//! completion mark [`find_applied`] searches for. Moves carry the marker in their description
//! too, so a command interrupted after its move was created resumes on that move instead of
//! creating a second one; every step checks Tryton's state before acting (a dunning already at
//! the level, a line already allocated), so `apply` may be re-run after a crash at any point.

use super::error::TrytonError;
use super::rpc::RpcClient;
use super::value::{self as v, enc_date, enc_decimal};
use crate::contract::{IdempotencyKey, MoveLine, RemoteRef, WriteCommand};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The marker stored in Tryton for `key`.
pub fn marker(key: &IdempotencyKey) -> String {
    format!("[relance:{}]", key.as_str())
}

fn like(key: &IdempotencyKey) -> String {
    format!("%{}%", marker(key))
}

/// The record an already-applied `key` changed (`model,id`), from its completion note.
pub async fn find_applied(
    rpc: &RpcClient,
    key: &IdempotencyKey,
) -> Result<Option<RemoteRef>, TrytonError> {
    let rows = rpc
        .search_read(
            "ir.note",
            json!([["message", "like", like(key)]]),
            0,
            Some(1),
            json!([["id", "ASC"]]),
            &["resource"],
        )
        .await?;
    Ok(rows.first().map(|n| {
        RemoteRef(
            v::opt_str(v::field(n, "resource"))
                .unwrap_or_else(|| format!("ir.note,{}", v::field(n, "id"))),
        )
    }))
}

/// Applies `cmd` under `key` (a no-op returning the reference when already applied).
pub async fn apply(
    rpc: &RpcClient,
    key: &IdempotencyKey,
    cmd: &WriteCommand,
) -> Result<RemoteRef, TrytonError> {
    if let Some(done) = find_applied(rpc, key).await? {
        return Ok(done);
    }
    let (resource, text) = match cmd {
        WriteCommand::AddNote {
            target_kind,
            target,
            text,
        } => (resource_of(target_kind, target)?, text.clone()),
        WriteCommand::BlockDunning {
            invoice,
            blocked,
            reason,
        } => block_dunning(rpc, invoice, *blocked, reason).await?,
        WriteCommand::SetDunningLevel {
            invoice,
            level,
            date,
        } => set_dunning_level(rpc, invoice, *level, *date).await?,
        WriteCommand::PostMove {
            journal,
            date,
            description,
            lines,
        } => post_move(rpc, key, journal, *date, description, lines).await?,
        WriteCommand::Reconcile {
            transaction,
            allocations,
            date,
        } => reconcile(rpc, key, transaction, allocations, *date).await?,
        WriteCommand::SendEmail { .. }
        | WriteCommand::CreateTask { .. }
        | WriteCommand::ReportPayment { .. } => {
            return Err(TrytonError::Refused("the Tryton connector does not send e-mails or create tasks (use the mail connector)".to_owned()));
        }
    };
    let message = format!("{text}\n\n{}", marker(key));
    rpc.model(
        "ir.note",
        "create",
        vec![json!([{"resource": resource, "message": message}])],
    )
    .await?;
    Ok(RemoteRef(resource))
}

fn tryton_id(s: &str, what: &str) -> Result<i64, TrytonError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| TrytonError::Refused(format!("{what} {s:?} is not a Tryton id")))
}

fn resource_of(kind: &str, target: &str) -> Result<String, TrytonError> {
    let model = match kind {
        "invoice" => "account.invoice",
        "party" | "customer" => "party.party",
        "move" => "account.move",
        "dunning" => "account.dunning",
        other => {
            return Err(TrytonError::Refused(format!(
                "cannot attach a note to a {other:?} (invoice, party, move, dunning)"
            )))
        }
    };
    Ok(format!("{model},{}", tryton_id(target, kind)?))
}

/// What the write steps need to know about an invoice.
struct InvoiceInfo {
    id: i64,
    number: String,
    party: i64,
    account: i64,
    state: String,
    amount_to_pay: Decimal,
    lines_to_pay: Vec<i64>,
    payment_lines: Vec<i64>,
    procedure: Option<i64>,
}

async fn invoice_info(rpc: &RpcClient, invoice: &str) -> Result<InvoiceInfo, TrytonError> {
    let id = tryton_id(invoice, "invoice")?;
    let fields = json!([
        "number",
        "party",
        "account",
        "state",
        "amount_to_pay",
        "lines_to_pay",
        "payment_lines",
        "party.dunning_procedure"
    ]);
    let rows = rpc
        .model("account.invoice", "read", vec![json!([id]), fields])
        .await?;
    let row = rows
        .get(0)
        .ok_or_else(|| TrytonError::Refused(format!("no Tryton invoice {id}")))?;
    Ok(InvoiceInfo {
        id,
        number: v::opt_str(v::field(row, "number")).unwrap_or_else(|| format!("#{id}")),
        party: v::id(v::field(row, "party"), "party")?,
        account: v::id(v::field(row, "account"), "account")?,
        state: v::string(v::field(row, "state"), "state")?,
        amount_to_pay: v::decimal_or_zero(v::field(row, "amount_to_pay"), "amount_to_pay")?,
        lines_to_pay: v::ids(v::field(row, "lines_to_pay"), "lines_to_pay")?,
        payment_lines: v::ids(v::field(row, "payment_lines"), "payment_lines")?,
        procedure: v::path(row, &["party", "dunning_procedure"]).as_i64(),
    })
}

/// Open (unreconciled) lines to pay with their maturity dates.
async fn open_lines(
    rpc: &RpcClient,
    inv: &InvoiceInfo,
) -> Result<Vec<(i64, Option<NaiveDate>)>, TrytonError> {
    if inv.lines_to_pay.is_empty() {
        return Ok(Vec::new());
    }
    let rows = rpc
        .search_read(
            "account.move.line",
            json!([
                ["id", "in", inv.lines_to_pay],
                ["reconciliation", "=", null]
            ]),
            0,
            None,
            json!([["maturity_date", "ASC"], ["id", "ASC"]]),
            &["maturity_date"],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                v::id(v::field(r, "id"), "id")?,
                v::opt_date(v::field(r, "maturity_date"), "maturity_date")?,
            ))
        })
        .collect()
}

/// Dunnings of lines, active or not: `line id → (dunning id, level id, state, blocked)`.
async fn dunnings_of(
    rpc: &RpcClient,
    lines: &[i64],
) -> Result<HashMap<i64, (i64, i64, String, bool)>, TrytonError> {
    let rows = rpc
        .search_read(
            "account.dunning",
            json!([["line", "in", lines], ["active", "in", [true, false]]]),
            0,
            None,
            json!([["id", "ASC"]]),
            &["line", "level", "state", "blocked"],
        )
        .await?;
    let mut out = HashMap::new();
    for r in &rows {
        out.insert(
            v::id(v::field(r, "line"), "line")?,
            (
                v::id(v::field(r, "id"), "id")?,
                v::id(v::field(r, "level"), "level")?,
                v::string(v::field(r, "state"), "state")?,
                v::boolean(v::field(r, "blocked")),
            ),
        );
    }
    Ok(out)
}

/// Levels of a procedure, ordered by sequence: `(id, sequence)`.
async fn levels(rpc: &RpcClient, procedure: i64) -> Result<Vec<(i64, i64)>, TrytonError> {
    let rows = rpc
        .search_read(
            "account.dunning.level",
            json!([["procedure", "=", procedure]]),
            0,
            None,
            json!([["sequence", "ASC"], ["id", "ASC"]]),
            &["sequence"],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                v::id(v::field(r, "id"), "id")?,
                v::field(r, "sequence").as_i64().unwrap_or(0),
            ))
        })
        .collect()
}

async fn procedure_of(rpc: &RpcClient, inv: &InvoiceInfo) -> Result<i64, TrytonError> {
    if let Some(p) = inv.procedure {
        return Ok(p);
    }
    let cfg = rpc
        .model(
            "account.configuration",
            "read",
            vec![json!([1]), json!(["default_dunning_procedure"])],
        )
        .await?;
    cfg.get(0)
        .map(|c| v::field(c, "default_dunning_procedure"))
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            TrytonError::Missing(format!(
                "no dunning procedure for the customer of invoice {} nor a default one in Tryton",
                inv.number
            ))
        })
}

/// Stage `level` (1-based) is the `level`-th level of the customer's procedure, by sequence.
async fn set_dunning_level(
    rpc: &RpcClient,
    invoice: &str,
    level: u8,
    date: NaiveDate,
) -> Result<(String, String), TrytonError> {
    let inv = invoice_info(rpc, invoice).await?;
    if level == 0 {
        return Err(TrytonError::Refused(
            "stage 0 (préventive) has no Tryton dunning level".to_owned(),
        ));
    }
    let procedure = procedure_of(rpc, &inv).await?;
    let lvls = levels(rpc, procedure).await?;
    let Some(&(target, target_seq)) = lvls.get(usize::from(level) - 1) else {
        return Err(TrytonError::Refused(format!(
            "the Tryton dunning procedure {procedure} has {} levels, stage {level} asked",
            lvls.len()
        )));
    };
    let seq_of: HashMap<i64, i64> = lvls.iter().copied().collect();
    let open = open_lines(rpc, &inv).await?;
    let due: Vec<i64> = open
        .iter()
        .filter(|(_, m)| m.is_none_or(|m| m <= date))
        .map(|(id, _)| *id)
        .collect();
    if due.is_empty() {
        return Err(TrytonError::Refused(format!(
            "invoice {} has no open line due on {date}",
            inv.number
        )));
    }
    let existing = dunnings_of(rpc, &due).await?;
    let mut to_process = Vec::new();
    for line in &due {
        match existing.get(line) {
            None => {
                let created = rpc
                    .model(
                        "account.dunning",
                        "create",
                        vec![json!([{"line": line, "procedure": procedure, "level": target}])],
                    )
                    .await?;
                to_process.extend(v::ids(&created, "account.dunning.create")?);
            }
            Some((_, _, _, true)) => {
                return Err(TrytonError::Refused(format!(
                    "the dunning of invoice {} is blocked in Tryton (dispute): not raised",
                    inv.number
                )));
            }
            Some((id, lvl, state, false)) => {
                let current = seq_of.get(lvl).copied().unwrap_or(i64::MIN);
                if *lvl == target || current > target_seq {
                    // already there (a re-run) or further: never lower a level
                    if state == "draft" {
                        to_process.push(*id);
                    }
                } else if state == "draft" {
                    rpc.model(
                        "account.dunning",
                        "write",
                        vec![json!([id]), json!({"level": target})],
                    )
                    .await?;
                    to_process.push(*id);
                } else {
                    return Err(TrytonError::Refused(format!(
                        "Tryton refuses to change the level of dunning {id} of invoice {} ({state}); its own dunning run raises levels one at a time",
                        inv.number
                    )));
                }
            }
        }
    }
    if rpc.config().process_dunnings && !to_process.is_empty() {
        rpc.wizard(
            "account.dunning.process",
            "process",
            json!({}),
            "account.dunning",
            &to_process,
        )
        .await?;
    }
    Ok((
        format!("account.invoice,{}", inv.id),
        format!(
            "Relance niveau {level} (Tryton niveau {target_seq}) au {date}, facture {}",
            inv.number
        ),
    ))
}

async fn block_dunning(
    rpc: &RpcClient,
    invoice: &str,
    blocked: bool,
    reason: &str,
) -> Result<(String, String), TrytonError> {
    let inv = invoice_info(rpc, invoice).await?;
    let open: Vec<i64> = open_lines(rpc, &inv)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let existing = dunnings_of(rpc, &open).await?;
    let ids: Vec<i64> = existing
        .values()
        .filter(|d| d.3 != blocked)
        .map(|d| d.0)
        .collect();
    if !ids.is_empty() {
        rpc.model(
            "account.dunning",
            "write",
            vec![json!(ids), json!({"blocked": blocked})],
        )
        .await?;
    }
    if blocked {
        // lines never dunned yet get a blocked draft dunning at the first level: Tryton keeps
        // one dunning per line, so its own runs will not dun them while blocked
        let missing: Vec<i64> = open
            .iter()
            .filter(|l| !existing.contains_key(l))
            .copied()
            .collect();
        if !missing.is_empty() {
            let procedure = procedure_of(rpc, &inv).await?;
            let first = levels(rpc, procedure)
                .await?
                .first()
                .map(|l| l.0)
                .ok_or_else(|| {
                    TrytonError::Missing(format!("dunning procedure {procedure} has no level"))
                })?;
            let vals: Vec<Value> = missing
                .iter()
                .map(
                    |l| json!({"line": l, "procedure": procedure, "level": first, "blocked": true}),
                )
                .collect();
            rpc.model("account.dunning", "create", vec![Value::Array(vals)])
                .await?;
        }
    }
    let what = if blocked {
        "Relances bloquées"
    } else {
        "Relances débloquées"
    };
    Ok((
        format!("account.invoice,{}", inv.id),
        format!("{what} (facture {}) : {reason}", inv.number),
    ))
}

async fn lookup_one(
    rpc: &RpcClient,
    model: &str,
    domain: Value,
    what: &str,
) -> Result<i64, TrytonError> {
    rpc.search(model, domain, Some(1))
        .await?
        .first()
        .copied()
        .ok_or_else(|| TrytonError::Missing(format!("no {what} in Tryton")))
}

async fn journal_id(rpc: &RpcClient, code: &str) -> Result<i64, TrytonError> {
    lookup_one(
        rpc,
        "account.journal",
        json!([["code", "=", code]]),
        &format!("journal with code {code:?}"),
    )
    .await
}

async fn period_id(rpc: &RpcClient, date: NaiveDate) -> Result<i64, TrytonError> {
    let company = rpc.company().await?;
    let d = enc_date(date);
    let domain = json!([
        ["company", "=", company],
        ["type", "=", "standard"],
        ["start_date", "<=", d],
        ["end_date", ">=", d],
        ["state", "=", "open"]
    ]);
    lookup_one(
        rpc,
        "account.period",
        domain,
        &format!("open standard period containing {date}"),
    )
    .await
}

async fn account_id(rpc: &RpcClient, code: &str) -> Result<i64, TrytonError> {
    let company = rpc.company().await?;
    let code = rpc.config().accounts.resolve(code).to_owned();
    lookup_one(
        rpc,
        "account.account",
        json!([["company", "=", company], ["code", "=", code]]),
        &format!("account {code}"),
    )
    .await
}

/// Moves whose description carries the marker: `(id, state)`.
async fn marked_move(
    rpc: &RpcClient,
    key: &IdempotencyKey,
) -> Result<Option<(i64, String)>, TrytonError> {
    let rows = rpc
        .search_read(
            "account.move",
            json!([["description", "like", like(key)]]),
            0,
            Some(1),
            json!([["id", "ASC"]]),
            &["state"],
        )
        .await?;
    match rows.first() {
        Some(r) => Ok(Some((
            v::id(v::field(r, "id"), "id")?,
            v::string(v::field(r, "state"), "state")?,
        ))),
        None => Ok(None),
    }
}

async fn post_if_draft(rpc: &RpcClient, id: i64, state: &str) -> Result<(), TrytonError> {
    if state == "draft" {
        // account.move.post is fresh_session: the client re-logs in on its 401
        rpc.model("account.move", "post", vec![json!([id])]).await?;
    }
    Ok(())
}

async fn post_move(
    rpc: &RpcClient,
    key: &IdempotencyKey,
    journal: &str,
    date: NaiveDate,
    description: &str,
    lines: &[MoveLine],
) -> Result<(String, String), TrytonError> {
    let debit: Decimal = lines.iter().map(|l| l.debit).sum();
    let credit: Decimal = lines.iter().map(|l| l.credit).sum();
    if lines.len() < 2 || debit != credit || debit <= Decimal::ZERO {
        return Err(TrytonError::Refused(format!(
            "move {description:?} is not balanced (debit {debit}, credit {credit}, {} lines)",
            lines.len()
        )));
    }
    if lines.iter().any(|l| {
        l.debit < Decimal::ZERO
            || l.credit < Decimal::ZERO
            || (l.debit > Decimal::ZERO && l.credit > Decimal::ZERO)
    }) {
        return Err(TrytonError::Refused(format!(
            "move {description:?} has a line with a negative amount or both debit and credit"
        )));
    }
    let (id, state) = match marked_move(rpc, key).await? {
        Some(found) => found,
        None => {
            let journal = if journal.is_empty() {
                rpc.config().journals.misc.clone()
            } else {
                journal.to_owned()
            };
            let jid = journal_id(rpc, &journal).await?;
            let pid = period_id(rpc, date).await?;
            let mut vals = Vec::with_capacity(lines.len());
            for l in lines {
                let mut line = json!({"account": account_id(rpc, &l.account).await?, "debit": enc_decimal(l.debit), "credit": enc_decimal(l.credit), "description": l.label});
                if let Some(p) = &l.party {
                    line["party"] = json!(tryton_id(p, "party")?);
                }
                vals.push(line);
            }
            let move_ = json!({"journal": jid, "period": pid, "date": enc_date(date), "description": format!("{description} {}", marker(key)), "lines": [["create", vals]]});
            let created = rpc
                .model("account.move", "create", vec![json!([move_])])
                .await?;
            let id = v::ids(&created, "account.move.create")?
                .first()
                .copied()
                .ok_or_else(|| TrytonError::Protocol {
                    method: "model.account.move.create".into(),
                    detail: "no id".into(),
                })?;
            (id, "draft".to_owned())
        }
    };
    post_if_draft(rpc, id, &state).await?;
    Ok((
        format!("account.move,{id}"),
        format!("Écriture passée par relance : {description}"),
    ))
}

async fn reconcile(
    rpc: &RpcClient,
    key: &IdempotencyKey,
    transaction: &str,
    allocations: &[(String, Decimal)],
    date: NaiveDate,
) -> Result<(String, String), TrytonError> {
    if let Some(line) = transaction.strip_prefix(STATEMENT_LINE_PREFIX) {
        return reconcile_statement_line(rpc, line, allocations).await;
    }
    if allocations.is_empty() || allocations.iter().any(|(_, a)| *a <= Decimal::ZERO) {
        return Err(TrytonError::Refused(format!(
            "receipt {transaction}: allocations must be positive and not empty"
        )));
    }
    let mut invoices = Vec::with_capacity(allocations.len());
    for (inv, amount) in allocations {
        invoices.push((invoice_info(rpc, inv).await?, *amount));
    }
    let (move_id, state) = match marked_move(rpc, key).await? {
        Some(found) => found,
        None => {
            for (inv, amount) in &invoices {
                if inv.state != "posted" || *amount > inv.amount_to_pay {
                    return Err(TrytonError::Refused(format!(
                        "receipt {transaction}: invoice {} is {} with {} to pay, {amount} allocated",
                        inv.number, inv.state, inv.amount_to_pay
                    )));
                }
            }
            let jid = journal_id(rpc, &rpc.config().journals.bank).await?;
            let pid = period_id(rpc, date).await?;
            let bank_code = rpc.config().accounts.bank.clone();
            let bank = account_id(rpc, &bank_code).await?;
            let total: Decimal = invoices.iter().map(|(_, a)| *a).sum();
            let mut vals = vec![
                json!({"account": bank, "debit": enc_decimal(total), "credit": enc_decimal(Decimal::ZERO), "description": format!("Encaissement {transaction}")}),
            ];
            for (inv, amount) in &invoices {
                vals.push(json!({"account": inv.account, "party": inv.party, "debit": enc_decimal(Decimal::ZERO), "credit": enc_decimal(*amount), "description": format!("{transaction} → {} (#{})", inv.number, inv.id)}));
            }
            let move_ = json!({"journal": jid, "period": pid, "date": enc_date(date), "description": format!("Encaissement {transaction} {}", marker(key)), "lines": [["create", vals]]});
            let created = rpc
                .model("account.move", "create", vec![json!([move_])])
                .await?;
            let id = v::ids(&created, "account.move.create")?
                .first()
                .copied()
                .ok_or_else(|| TrytonError::Protocol {
                    method: "model.account.move.create".into(),
                    detail: "no id".into(),
                })?;
            (id, "draft".to_owned())
        }
    };
    post_if_draft(rpc, move_id, &state).await?;
    // the move's credit lines, matched to invoices by the "(#id)" their description ends with
    let lines = rpc
        .search_read(
            "account.move.line",
            json!([["move", "=", move_id], ["credit", ">", 0]]),
            0,
            None,
            json!([["id", "ASC"]]),
            &["description", "reconciliation"],
        )
        .await?;
    for (inv, _) in &invoices {
        let tag = format!("(#{})", inv.id);
        let Some(line) = lines.iter().find(|l| {
            v::field(l, "description")
                .as_str()
                .is_some_and(|d| d.ends_with(&tag))
        }) else {
            return Err(TrytonError::Protocol {
                method: "reconcile".into(),
                detail: format!("move {move_id} has no line for invoice {}", inv.id),
            });
        };
        let lid = v::id(v::field(line, "id"), "id")?;
        if !v::field(line, "reconciliation").is_null() {
            continue;
        }
        allocate_line(rpc, inv.id, lid).await?;
    }
    let list: Vec<String> = invoices
        .iter()
        .map(|(i, a)| format!("{} {a}", i.number))
        .collect();
    Ok((
        format!("account.move,{move_id}"),
        format!(
            "Encaissement {transaction} du {date} affecté par relance : {}",
            list.join(", ")
        ),
    ))
}

/// Adds move line `lid` to the payment lines of invoice `invoice` (unless there already) and,
/// when nothing remains to pay, reconciles the invoice's open lines with its payment lines.
async fn allocate_line(rpc: &RpcClient, invoice: i64, lid: i64) -> Result<(), TrytonError> {
    // fresh state: a resumed run may already have allocated the line
    let cur = invoice_info(rpc, &invoice.to_string()).await?;
    if !cur.payment_lines.contains(&lid) {
        rpc.model(
            "account.invoice",
            "write",
            vec![json!([cur.id]), json!({"payment_lines": [["add", [lid]]]})],
        )
        .await?;
    }
    let cur = invoice_info(rpc, &invoice.to_string()).await?;
    if cur.amount_to_pay.is_zero() && cur.state == "posted" {
        // fully paid: reconcile every open line to pay with the payment lines
        let mut all: Vec<i64> = open_lines(rpc, &cur)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let pays = rpc
            .search(
                "account.move.line",
                json!([
                    ["id", "in", cur.payment_lines],
                    ["reconciliation", "=", null]
                ]),
                None,
            )
            .await?;
        all.extend(pays);
        rpc.wizard(
            "account.move.reconcile_lines",
            "start",
            json!({}),
            "account.move.line",
            &all,
        )
        .await?;
    }
    Ok(())
}

/// Prefix of the receipts pulled from Tryton's own bank statements (see `pull`).
pub const STATEMENT_LINE_PREFIX: &str = "tryton:account.statement.line,";

/// A receipt Tryton already booked (a posted statement line): its receivable credit line is
/// allocated to the invoice; no new move, which would book the cash twice. Tryton cannot split
/// a line over several invoices through RPC, so one allocation of the line's whole amount.
async fn reconcile_statement_line(
    rpc: &RpcClient,
    line_id: &str,
    allocations: &[(String, Decimal)],
) -> Result<(String, String), TrytonError> {
    let stl = tryton_id(line_id, "statement line")?;
    let [(invoice, amount)] = allocations else {
        return Err(TrytonError::Refused(format!(
            "statement line {stl}: {} allocations; split the line in Tryton first",
            allocations.len()
        )));
    };
    let inv = invoice_info(rpc, invoice).await?;
    let rows = rpc
        .model(
            "account.statement.line",
            "read",
            vec![json!([stl]), json!(["move"])],
        )
        .await?;
    let move_id = rows
        .get(0)
        .map(|r| v::field(r, "move"))
        .and_then(Value::as_i64)
        .ok_or_else(|| TrytonError::Refused(format!("statement line {stl} has no posted move")))?;
    let lines = rpc
        .search_read(
            "account.move.line",
            json!([
                ["move", "=", move_id],
                ["account", "=", inv.account],
                ["party", "=", inv.party],
                ["credit", ">", 0]
            ]),
            0,
            None,
            json!([["id", "ASC"]]),
            &["credit", "reconciliation"],
        )
        .await?;
    let line = lines.first().ok_or_else(|| {
        TrytonError::Refused(format!(
            "statement line {stl} has no receivable credit for the customer of invoice {}",
            inv.number
        ))
    })?;
    let lid = v::id(v::field(line, "id"), "id")?;
    let credit = v::decimal_or_zero(v::field(line, "credit"), "credit")?;
    if credit != *amount {
        return Err(TrytonError::Refused(format!(
            "statement line {stl} credits {credit}, {amount} allocated to {}: Tryton allocates whole lines; split it in Tryton first",
            inv.number
        )));
    }
    if v::field(line, "reconciliation").is_null() {
        allocate_line(rpc, inv.id, lid).await?;
    }
    Ok((
        format!("account.statement.line,{stl}"),
        format!(
            "Relevé bancaire (ligne {stl}) affecté par relance à la facture {} : {amount}",
            inv.number
        ),
    ))
}
