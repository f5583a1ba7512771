//! Write-back, exactly once, as agenda events. Every command ends with an event
//! (`POST /agendaevents`, linked to the invoice or the third party) whose label ends with the
//! key's tag `relance-<24 hex>` (the key's SHA-256: no `:` nor parenthesis, which
//! `sqlfilters` cannot carry) and whose note carries `[relance:<key>]`: [`find_applied`]
//! looks the tag up with `sqlfilters=(t.label:like:'%<tag>%')`. Before the event:
//!
//! - dunning level: the invoice's level extrafield when configured (never lowered);
//! - dispute: the invoice's dispute extrafield when configured;
//! - reconciliation: when a bank account and a payment mode are configured, one Dolibarr
//!   payment over the invoices (`POST /invoices/paymentsdistributed`), its `num_payment`
//!   the tag, looked for first among the first invoice's payments
//!   (`GET /invoices/{id}/payments`); otherwise the event alone tells the accountant;
//! - moves: Dolibarr has no REST endpoint for general-ledger entries: refused (Permanent).

use super::client::{Client, DolibarrError};
use super::config::DolibarrWriteOptions;
use crate::contract::{IdempotencyKey, RemoteRef, WriteCommand};
use crate::http::Method;
use crate::wire::{self, marker};
use chrono::NaiveDate;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The tag of `key` searched in labels and payment numbers.
pub fn tag(key: &IdempotencyKey) -> String {
    format!(
        "relance-{}",
        hex::encode(&Sha256::digest(key.as_str().as_bytes())[..12])
    )
}

fn dol_id(s: &str, what: &str) -> Result<i64, DolibarrError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| DolibarrError::Refused(format!("{what} {s:?} is not a Dolibarr id")))
}

/// The event already recorded under `key`, if any.
pub async fn find_applied(
    client: &Client,
    key: &IdempotencyKey,
) -> Result<Option<RemoteRef>, DolibarrError> {
    let t = tag(key);
    let rows = client
        .list(
            "/agendaevents",
            &[
                ("sqlfilters", format!("(t.label:like:'%{t}%')")),
                ("limit", "1".to_owned()),
                ("sortfield", "t.id".to_owned()),
                ("sortorder", "ASC".to_owned()),
            ],
            "GET /agendaevents",
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| super::pull::unix(&r["id"]))
        .map(|id| RemoteRef(format!("agendaevent:{id}"))))
}

struct Owner {
    user: i64,
}

async fn owner(client: &Client, opts: &DolibarrWriteOptions) -> Result<Owner, DolibarrError> {
    if let Some(u) = opts.user_owner_id {
        return Ok(Owner { user: u });
    }
    let me = client
        .call(Method::Get, "/users/info", &[], None, "GET /users/info")
        .await?;
    let user = super::pull::unix(&me["id"]).ok_or_else(|| DolibarrError::Protocol {
        what: "GET /users/info".into(),
        detail: wire::short(&me),
    })?;
    Ok(Owner { user })
}

async fn invoice(client: &Client, id: i64) -> Result<Value, DolibarrError> {
    client
        .call(
            Method::Get,
            &format!("/invoices/{id}"),
            &[],
            None,
            "GET invoice",
        )
        .await
}

fn noon(d: NaiveDate) -> i64 {
    d.and_hms_opt(12, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
async fn event(
    client: &Client,
    opts: &DolibarrWriteOptions,
    key: &IdempotencyKey,
    label: &str,
    note: &str,
    socid: i64,
    invoice: Option<i64>,
    date: Option<NaiveDate>,
) -> Result<RemoteRef, DolibarrError> {
    let who = owner(client, opts).await?;
    let mut body = json!({"userownerid": who.user, "type_code": opts.event_type,
        "label": format!("{label} ({})", tag(key)), "note": format!("{note}\n{}", marker(key)),
        "socid": socid, "percentage": -1,
        "datep": date.map(noon).or_else(|| client.server_time().map(|t| t.timestamp())).unwrap_or(0)});
    if let Some(i) = invoice {
        body["elementtype"] = json!("invoice");
        body["fk_element"] = json!(i);
    }
    let r = client
        .call(
            Method::Post,
            "/agendaevents",
            &[],
            Some(&body),
            "POST /agendaevents",
        )
        .await?;
    let id = super::pull::unix(&r).ok_or_else(|| DolibarrError::Protocol {
        what: "POST /agendaevents".into(),
        detail: wire::short(&r),
    })?;
    Ok(RemoteRef(format!("agendaevent:{id}")))
}

async fn set_extrafield(
    client: &Client,
    id: i64,
    field: &str,
    value: Value,
) -> Result<(), DolibarrError> {
    let name = if field.starts_with("options_") {
        field.to_owned()
    } else {
        format!("options_{field}")
    };
    let mut opts = serde_json::Map::new();
    opts.insert(name, value);
    client
        .call(
            Method::Put,
            &format!("/invoices/{id}"),
            &[],
            Some(&json!({ "array_options": opts })),
            "PUT invoice extrafield",
        )
        .await?;
    Ok(())
}

fn socid(inv: &Value) -> Result<i64, DolibarrError> {
    super::pull::unix(&inv["socid"]).ok_or_else(|| {
        DolibarrError::Refused(format!(
            "invoice without a third party: {}",
            wire::short(inv)
        ))
    })
}

/// Applies `cmd` under `key` (a no-op returning the reference when already applied).
pub async fn apply(
    client: &Client,
    opts: &DolibarrWriteOptions,
    key: &IdempotencyKey,
    cmd: &WriteCommand,
) -> Result<RemoteRef, DolibarrError> {
    if let Some(done) = find_applied(client, key).await? {
        return Ok(done);
    }
    match cmd {
        WriteCommand::SetDunningLevel { invoice: inv, level, date } => {
            let id = dol_id(inv, "invoice")?;
            let row = invoice(client, id).await?;
            if let Some(field) = &opts.dunning_level_extrafield {
                let name = field.strip_prefix("options_").unwrap_or(field);
                let current = row["array_options"][format!("options_{name}")]
                    .as_str()
                    .and_then(|s| s.parse::<u8>().ok())
                    .or_else(|| row["array_options"][format!("options_{name}")].as_u64().map(|n| n as u8));
                if current.is_none_or(|c| c < *level) {
                    set_extrafield(client, id, field, json!(level.to_string())).await?;
                }
            }
            let refe = wire::text(&row["ref"]).unwrap_or_else(|| format!("#{id}"));
            let label = format!("Relance {refe} : {} (niveau {level})", wire::stage_label(*level));
            event(client, opts, key, &label, &label, socid(&row)?, Some(id), Some(*date)).await
        }
        WriteCommand::AddNote { target_kind, target, text } => match target_kind.as_str() {
            "invoice" => {
                let id = dol_id(target, "invoice")?;
                let row = invoice(client, id).await?;
                event(client, opts, key, "Note relance", text, socid(&row)?, Some(id), None).await
            }
            "party" | "customer" => {
                let id = dol_id(target, "third party")?;
                event(client, opts, key, "Note relance", text, id, None, None).await
            }
            other => Err(DolibarrError::Refused(format!(
                "cannot attach a note to a {other:?} in Dolibarr (invoice, party)"
            ))),
        },
        WriteCommand::BlockDunning { invoice: inv, blocked, reason } => {
            let id = dol_id(inv, "invoice")?;
            let row = invoice(client, id).await?;
            if let Some(field) = &opts.dispute_extrafield {
                set_extrafield(client, id, field, json!(if *blocked { "1" } else { "0" })).await?;
            }
            let label = if *blocked { "Litige : relances suspendues" } else { "Fin du litige : relances reprises" };
            event(client, opts, key, label, reason, socid(&row)?, Some(id), None).await
        }
        WriteCommand::Reconcile { transaction, allocations, date } => {
            let Some((first, _)) = allocations.first() else {
                return Err(DolibarrError::Refused(format!("receipt {transaction}: no invoice")));
            };
            let first = dol_id(first, "invoice")?;
            let row = invoice(client, first).await?;
            let t = tag(key);
            let list: Vec<String> = allocations.iter().map(|(i, a)| format!("#{i} {a}")).collect();
            let recorded = match (opts.bank_account_id, opts.payment_mode_id) {
                (Some(account), Some(mode)) => {
                    let payments = client
                        .list(&format!("/invoices/{first}/payments"), &[], "GET invoice payments")
                        .await?;
                    if !payments.iter().any(|p| p["num"].as_str() == Some(t.as_str())) {
                        let mut amounts = serde_json::Map::new();
                        for (inv, amount) in allocations {
                            amounts.insert(
                                dol_id(inv, "invoice")?.to_string(),
                                json!({"amount": amount.to_string(), "multicurrency_amount": ""}),
                            );
                        }
                        let body = json!({"arrayofamounts": amounts, "datepaye": noon(*date),
                            "paymentid": mode, "closepaidinvoices": "yes", "accountid": account,
                            "num_payment": t, "comment": format!("{transaction} {}", marker(key))});
                        client
                            .call(Method::Post, "/invoices/paymentsdistributed", &[], Some(&body), "POST paymentsdistributed")
                            .await?;
                    }
                    "paiement enregistré"
                }
                _ => "à saisir dans Dolibarr",
            };
            let note = format!("Encaissement {transaction} du {} rapproché par relance ({recorded}) : {}", date.format("%d/%m/%Y"), list.join(", "));
            event(client, opts, key, "Encaissement rapproché", &note, socid(&row)?, Some(first), Some(*date)).await
        }
        WriteCommand::PostMove { description, .. } => Err(DolibarrError::Refused(format!(
            "Dolibarr has no REST endpoint for ledger entries ({description}): book it in Dolibarr's accounting, the provision table and FEC export give the lines"
        ))),
        WriteCommand::SendEmail { .. }
        | WriteCommand::CreateTask { .. }
        | WriteCommand::ReportPayment { .. } => Err(DolibarrError::Refused(
            "the Dolibarr connector does not send e-mails or create tasks (mail and tasks targets do)".into(),
        )),
    }
}
