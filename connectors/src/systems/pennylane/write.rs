//! Write-back, exactly once, on an API without idempotency keys.
//!
//! - A dunning level, a note on an invoice, a dispute: a comment on the invoice
//!   (`POST /customer_invoices/{id}/comments`, plain text) ending with the marker
//!   `[relance:<key>]`. The comment is the completion mark: [`find_applied`] reads the command
//!   recorded under the key ([`CommandLog`]) and looks for the marker among that invoice's
//!   comments (Pennylane's reference: "each call adds a new comment, so retrying after a
//!   timeout can create a duplicate" — hence the look first).
//! - A dispute also puts the configured analytic category on the invoice
//!   (`PUT /customer_invoices/{id}/categories`, the whole list), and takes it off when the
//!   dispute ends — a set, repeated harmlessly — before the comment.
//! - A note on a customer: appended to the customer's `notes` with the marker.
//! - A reconciliation: each invoice is matched to the transaction
//!   (`POST /customer_invoices/{id}/matched_transactions {transaction_id}`) unless its
//!   matched transactions already hold it (the natural key); with `matching = "pennylane"`
//!   nothing is written and the reference says so.
//! - Moves (provisions), e-mails and tasks are not Pennylane's to take here: refused
//!   (Permanent), so they show in the exception queue.

use super::client::{Client, PennylaneError};
use super::config::{Matching, PennylaneWriteOptions};
use super::pull::TRANSACTION_PREFIX;
use crate::contract::{CommandLog, IdempotencyKey, RemoteRef, WriteCommand};
use crate::http::Method;
use crate::wire::{self, marker};
use serde_json::{json, Value};

/// Most comment pages read when looking for a marker (100 each, newest first).
const MAX_COMMENT_PAGES: usize = 20;

fn invoice_id(s: &str) -> Result<i64, PennylaneError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| PennylaneError::Refused(format!("invoice {s:?} is not a Pennylane id")))
}

fn transaction_id(receipt: &str) -> Result<i64, PennylaneError> {
    receipt
        .strip_prefix(TRANSACTION_PREFIX)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| {
            PennylaneError::Refused(format!(
                "receipt {receipt} did not come from Pennylane's bank transactions: match it in Pennylane"
            ))
        })
}

/// The comment on `invoice` carrying `mark`, if any.
async fn find_comment(
    client: &Client,
    invoice: i64,
    mark: &str,
) -> Result<Option<RemoteRef>, PennylaneError> {
    let path = format!("/customer_invoices/{invoice}/comments");
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_COMMENT_PAGES {
        let page = client
            .list(
                &path,
                vec![("limit", "100".into()), ("sort", "-created_at".into())],
                cursor.as_deref(),
                "GET comments",
            )
            .await?;
        for c in &page.items {
            if c.get("content")
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains(mark))
            {
                let cid = c.get("id").map(|v| v.to_string()).unwrap_or_default();
                return Ok(Some(RemoteRef(format!(
                    "customer_invoice:{invoice}:comment:{cid}"
                ))));
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    Ok(None)
}

async fn matched(client: &Client, invoice: i64) -> Result<Vec<i64>, PennylaneError> {
    let path = format!("/customer_invoices/{invoice}/matched_transactions");
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .list(
                &path,
                vec![("limit", "100".into())],
                cursor.as_deref(),
                "GET matched_transactions",
            )
            .await?;
        out.extend(
            page.items
                .iter()
                .filter_map(|t| t.get("id").and_then(Value::as_i64)),
        );
        cursor = page.next;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

fn reconcile_ref(tx: i64, invoices: &[i64]) -> RemoteRef {
    let list: Vec<String> = invoices.iter().map(i64::to_string).collect();
    RemoteRef(format!("transaction:{tx}:matched:{}", list.join(",")))
}

async fn customer(client: &Client, id: &str) -> Result<Value, PennylaneError> {
    let id = id
        .trim()
        .parse::<i64>()
        .map_err(|_| PennylaneError::Refused(format!("customer {id:?} is not a Pennylane id")))?;
    client
        .call(
            Method::Get,
            &format!("/customers/{id}"),
            None,
            "GET customer",
        )
        .await
}

/// The remote effect of the command recorded under `key`, if it was applied.
pub async fn find_applied(
    client: &Client,
    opts: &PennylaneWriteOptions,
    log: &dyn CommandLog,
    key: &IdempotencyKey,
) -> Result<Option<RemoteRef>, PennylaneError> {
    let Some(cmd) = log
        .command(key)
        .map_err(|e| PennylaneError::Config(e.to_string()))?
    else {
        return Ok(None);
    };
    find(client, opts, key, &cmd).await
}

/// Looks for the effect of `cmd`; a command that cannot be applied (an id that is not
/// Pennylane's) was never applied: `None`.
async fn find(
    client: &Client,
    opts: &PennylaneWriteOptions,
    key: &IdempotencyKey,
    cmd: &WriteCommand,
) -> Result<Option<RemoteRef>, PennylaneError> {
    let mark = marker(key);
    match cmd {
        WriteCommand::SetDunningLevel { invoice, .. }
        | WriteCommand::BlockDunning { invoice, .. } => match invoice_id(invoice) {
            Ok(id) => find_comment(client, id, &mark).await,
            Err(_) => Ok(None),
        },
        WriteCommand::AddNote {
            target_kind,
            target,
            ..
        } => match target_kind.as_str() {
            "invoice" => match invoice_id(target) {
                Ok(id) => find_comment(client, id, &mark).await,
                Err(_) => Ok(None),
            },
            "party" | "customer" => {
                let c = match customer(client, target).await {
                    Ok(c) => c,
                    Err(PennylaneError::Refused(_) | PennylaneError::NotFound { .. }) => {
                        return Ok(None)
                    }
                    Err(e) => return Err(e),
                };
                let notes = c.get("notes").and_then(Value::as_str).unwrap_or("");
                Ok(notes
                    .contains(&mark)
                    .then(|| RemoteRef(format!("customer:{}:notes", target.trim()))))
            }
            _ => Ok(None),
        },
        WriteCommand::Reconcile {
            transaction,
            allocations,
            ..
        } => {
            let Ok(tx) = transaction_id(transaction) else {
                return Ok(None);
            };
            if opts.matching == Matching::Pennylane {
                return Ok(Some(RemoteRef(format!("matching-left-to-pennylane:{tx}"))));
            }
            if allocations.is_empty() {
                return Ok(None);
            }
            let mut invoices = Vec::with_capacity(allocations.len());
            for (inv, _) in allocations {
                let Ok(id) = invoice_id(inv) else {
                    return Ok(None);
                };
                if !matched(client, id).await?.contains(&tx) {
                    return Ok(None);
                }
                invoices.push(id);
            }
            Ok(Some(reconcile_ref(tx, &invoices)))
        }
        WriteCommand::PostMove { .. }
        | WriteCommand::SendEmail { .. }
        | WriteCommand::ReportPayment { .. }
        | WriteCommand::CreateTask { .. } => Ok(None),
    }
}

async fn comment(
    client: &Client,
    invoice: i64,
    text: &str,
    key: &IdempotencyKey,
) -> Result<RemoteRef, PennylaneError> {
    let content = format!("{text} {}", marker(key));
    let r = client
        .call(
            Method::Post,
            &format!("/customer_invoices/{invoice}/comments"),
            Some(&json!({ "content": content })),
            "POST comment",
        )
        .await?;
    let cid = r.get("id").map(|v| v.to_string()).unwrap_or_default();
    Ok(RemoteRef(format!(
        "customer_invoice:{invoice}:comment:{cid}"
    )))
}

/// Puts the dispute category on the invoice (or takes it off): the whole list is written.
async fn set_category(
    client: &Client,
    invoice: i64,
    category: i64,
    on: bool,
) -> Result<(), PennylaneError> {
    let inv = client
        .call(
            Method::Get,
            &format!("/customer_invoices/{invoice}"),
            None,
            "GET customer invoice",
        )
        .await?;
    let current: Vec<Value> = inv
        .get("categories")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = current
        .iter()
        .any(|c| c.get("id").and_then(Value::as_i64) == Some(category));
    if has == on {
        return Ok(());
    }
    let mut list: Vec<Value> = current
        .iter()
        .filter(|c| c.get("id").and_then(Value::as_i64) != Some(category))
        .map(|c| json!({"id": c.get("id"), "weight": c.get("weight").cloned().unwrap_or(json!("1"))}))
        .collect();
    if on {
        list.push(json!({"id": category, "weight": "1"}));
    }
    client
        .call(
            Method::Put,
            &format!("/customer_invoices/{invoice}/categories"),
            Some(&Value::Array(list)),
            "PUT categories",
        )
        .await?;
    Ok(())
}

/// Applies `cmd` under `key` (returns the existing effect when already applied).
pub async fn apply(
    client: &Client,
    opts: &PennylaneWriteOptions,
    log: &dyn CommandLog,
    key: &IdempotencyKey,
    cmd: &WriteCommand,
) -> Result<RemoteRef, PennylaneError> {
    log.remember(key, cmd);
    if let Some(done) = find(client, opts, key, cmd).await? {
        return Ok(done);
    }
    match cmd {
        WriteCommand::SetDunningLevel {
            invoice,
            level,
            date,
        } => {
            let id = invoice_id(invoice)?;
            let text = format!(
                "relance : {} (niveau {level}) le {}",
                wire::stage_label(*level),
                date.format("%d/%m/%Y")
            );
            comment(client, id, &text, key).await
        }
        WriteCommand::AddNote {
            target_kind,
            target,
            text,
        } => match target_kind.as_str() {
            "invoice" => comment(client, invoice_id(target)?, text, key).await,
            "party" | "customer" => {
                let c = customer(client, target).await?;
                let notes = c.get("notes").and_then(Value::as_str).unwrap_or("");
                let line = format!("{text} {}", marker(key));
                let new = if notes.trim().is_empty() {
                    line
                } else {
                    format!("{notes}\n{line}")
                };
                let kind = if c.get("customer_type").and_then(Value::as_str) == Some("individual")
                {
                    "individual_customers"
                } else {
                    "company_customers"
                };
                let id = target.trim();
                client
                    .call(
                        Method::Put,
                        &format!("/{kind}/{id}"),
                        Some(&json!({ "notes": new })),
                        "PUT customer notes",
                    )
                    .await?;
                Ok(RemoteRef(format!("customer:{id}:notes")))
            }
            other => Err(PennylaneError::Refused(format!(
                "cannot attach a note to a {other:?} in Pennylane (invoice, party)"
            ))),
        },
        WriteCommand::BlockDunning {
            invoice,
            blocked,
            reason,
        } => {
            let id = invoice_id(invoice)?;
            if let Some(cat) = opts.dispute_category_id {
                set_category(client, id, cat, *blocked).await?;
            }
            let text = if *blocked {
                format!("litige : relances suspendues ({reason})")
            } else {
                format!("fin du litige : relances reprises ({reason})")
            };
            comment(client, id, &text, key).await
        }
        WriteCommand::Reconcile {
            transaction,
            allocations,
            ..
        } => {
            let tx = transaction_id(transaction)?;
            if allocations.is_empty() {
                return Err(PennylaneError::Refused(format!(
                    "receipt {transaction}: no invoice to match"
                )));
            }
            let mut invoices = Vec::with_capacity(allocations.len());
            for (inv, _) in allocations {
                let id = invoice_id(inv)?;
                if !matched(client, id).await?.contains(&tx) {
                    client
                        .call(
                            Method::Post,
                            &format!("/customer_invoices/{id}/matched_transactions"),
                            Some(&json!({ "transaction_id": tx })),
                            "POST matched_transactions",
                        )
                        .await?;
                }
                invoices.push(id);
            }
            Ok(reconcile_ref(tx, &invoices))
        }
        WriteCommand::PostMove { description, .. } => Err(PennylaneError::Refused(format!(
            "the Pennylane connector does not post moves ({description}): book it in Pennylane, the provision table and FEC export give the lines"
        ))),
        WriteCommand::SendEmail { .. }
        | WriteCommand::CreateTask { .. }
        | WriteCommand::ReportPayment { .. } => Err(PennylaneError::Refused(
                "the Pennylane connector does not send e-mails or create tasks (mail and tasks targets do)"
                    .to_owned(),
            ),
        ),
    }
}
