//! `relance decide …`: each subcommand becomes [`Request`]s for its company; [`run`] executes
//! them against the store (no daemon running), and a running daemon executes the same
//! requests ([`crate::decisions::command::execute`]) when the command line reaches it.

use crate::cli::{CompanyArg, DecideCommand, DecisionArgs};
use crate::clock::Clock;
use crate::decisions::command::{execute, Request, Response};
use crate::decisions::record::Filter;
use crate::decisions::*;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use relance_connectors::contract::IdempotencyKey;
use relance_core::{CustomerId, InvoiceId, TransactionId};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where a response's bytes go, for the commands that write files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// JSON on standard output.
    Json,
    /// The PDF into this file.
    File(PathBuf),
    /// The exports into this folder.
    Dir(PathBuf),
}

/// The person deciding when `--by` is not given: `cli:<login name>`.
fn default_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// The envelope of a decision given on the command line.
pub fn envelope(d: &DecisionArgs, decision: Decision, now: DateTime<Utc>) -> Envelope {
    let actor = d.by.clone().unwrap_or_else(default_actor);
    let key = d.key.clone().unwrap_or_else(|| {
        let body = serde_json::to_string(&decision).unwrap_or_default();
        let reason = d.reason.clone().unwrap_or_default();
        IdempotencyKey::derive(&d.target.company, "cli", &[&actor, &body, &reason]).0
    });
    Envelope {
        v: ENVELOPE_VERSION,
        key,
        actor,
        at: d.at.unwrap_or(now),
        reason: d.reason.clone(),
        decision,
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// The company, the requests and where their answers go, for one `relance decide` command.
pub fn requests(
    cmd: DecideCommand,
    now: DateTime<Utc>,
) -> anyhow::Result<(CompanyArg, Vec<Request>, Output)> {
    let one = |d: DecisionArgs, decision: Decision| {
        let env = envelope(&d, decision, now);
        (
            d.target,
            vec![Request::Record { envelope: env }],
            Output::Json,
        )
    };
    let tx = TransactionId::new;
    let inv = InvoiceId::new;
    let cust = CustomerId::new;
    Ok(match cmd {
        DecideCommand::Confirm {
            d,
            transaction,
            invoice,
            amount,
        } => one(
            d,
            Decision::ConfirmMatch(ConfirmMatch {
                transaction: tx(transaction),
                invoice: inv(invoice),
                amount,
            }),
        ),
        DecideCommand::Reject {
            d,
            transaction,
            invoice,
        } => one(
            d,
            Decision::RejectMatch(RejectMatch {
                transaction: tx(transaction),
                invoice: inv(invoice),
            }),
        ),
        DecideCommand::Split {
            d,
            transaction,
            parts,
        } => one(
            d,
            Decision::SplitReceipt(SplitReceipt {
                transaction: tx(transaction),
                parts: parts
                    .into_iter()
                    .map(|(i, a)| Part {
                        invoice: inv(i),
                        amount: a,
                    })
                    .collect(),
            }),
        ),
        DecideCommand::Reassign {
            d,
            transaction,
            from,
            to,
            amount,
        } => one(
            d,
            Decision::ReassignMatch(ReassignMatch {
                transaction: tx(transaction),
                from_invoice: inv(from),
                to_invoice: inv(to),
                amount,
            }),
        ),
        DecideCommand::Assign {
            d,
            transaction,
            customer,
        } => one(
            d,
            Decision::AssignReceipt(AssignReceipt {
                transaction: tx(transaction),
                customer: cust(customer),
            }),
        ),
        DecideCommand::WriteOff {
            d,
            invoice,
            amount,
            account,
        } => one(
            d,
            Decision::WriteOff(WriteOff {
                invoice: inv(invoice),
                amount,
                account,
            }),
        ),
        DecideCommand::Dispute {
            d,
            customer,
            invoice,
            amount,
            since,
            until,
        } => one(
            d,
            Decision::Dispute(Dispute {
                customer: cust(customer),
                invoice: invoice.map(inv),
                amount,
                since,
                until,
            }),
        ),
        DecideCommand::Promise {
            d,
            customer,
            invoices,
            date,
            amount,
        } => one(
            d,
            Decision::PromiseToPay(PromiseToPay {
                customer: cust(customer),
                invoices: invoices.into_iter().map(inv).collect(),
                date,
                amount,
            }),
        ),
        DecideCommand::PaymentPlan {
            d,
            customer,
            invoices,
            instalments,
        } => {
            let mut list = Vec::new();
            for (date, amount) in instalments {
                let date = date.parse().with_context(|| {
                    format!("--instalment {date}={amount}: the date, as YYYY-MM-DD")
                })?;
                list.push(Instalment { date, amount });
            }
            one(
                d,
                Decision::PaymentPlan(PaymentPlan {
                    customer: cust(customer),
                    invoices: invoices.into_iter().map(inv).collect(),
                    instalments: list,
                }),
            )
        }
        DecideCommand::Hold {
            d,
            customer,
            invoice,
            until,
        } => one(
            d,
            Decision::Hold(Hold {
                customer: cust(customer),
                invoice: invoice.map(inv),
                until,
            }),
        ),
        DecideCommand::Procedure {
            d,
            customer,
            procedure,
            judgment_date,
            bodacc_date,
            declaration_deadline,
            abroad,
            reference,
            mandataire,
        } => {
            let procedure = serde_json::from_value(serde_json::Value::String(procedure.clone()))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "--procedure {procedure:?}: expected sauvegarde, redressement or liquidation"
                    )
                })?;
            one(
                d,
                Decision::ProcedureCollective(ProcedureCollective {
                    customer: cust(customer),
                    procedure,
                    judgment_date,
                    bodacc_date,
                    declaration_deadline,
                    creditor_abroad: abroad,
                    reference,
                    mandataire,
                }),
            )
        }
        DecideCommand::EndPause { d, pause } => one(d, Decision::EndPause(EndPause { pause })),
        DecideCommand::Approve { d, action } => {
            one(d, Decision::ApproveLetter(LetterRef { action }))
        }
        DecideCommand::Edit {
            d,
            action,
            subject,
            body_file,
        } => {
            let body = read_text(&body_file)?;
            one(
                d,
                Decision::EditLetter(EditLetter {
                    action,
                    subject,
                    body,
                }),
            )
        }
        DecideCommand::Reschedule { d, action, date } => one(
            d,
            Decision::RescheduleLetter(RescheduleLetter { action, date }),
        ),
        DecideCommand::Cancel { d, action } => one(d, Decision::CancelLetter(LetterRef { action })),
        DecideCommand::ApproveClosing { d, closing, draft } => one(
            d,
            Decision::ApproveClosing(ApproveClosing { closing, draft }),
        ),
        DecideCommand::OverrideRate {
            d,
            closing,
            invoice,
            rate,
        } => one(
            d,
            Decision::OverrideRate(OverrideRate {
                closing,
                invoice: inv(invoice),
                rate,
            }),
        ),
        DecideCommand::Retry { d, entry } => {
            one(d, Decision::RetryDeadLetter(RetryDeadLetter { key: entry }))
        }
        DecideCommand::File { target, file } => {
            let text = read_text(&file)?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", file.display()))?;
            let list = match v {
                serde_json::Value::Array(a) => a,
                other => vec![other],
            };
            let mut reqs = Vec::new();
            for (i, e) in list.into_iter().enumerate() {
                let envelope: Envelope = serde_json::from_value(e)
                    .with_context(|| format!("{}: decision [{i}]", file.display()))?;
                reqs.push(Request::Record { envelope });
            }
            (target, reqs, Output::Json)
        }
        DecideCommand::List {
            target,
            pending,
            customer,
            invoice,
        } => (
            target,
            vec![Request::List {
                filter: Filter {
                    pending_only: pending,
                    customer: customer.map(cust),
                    invoice: invoice.map(inv),
                    actor: None,
                },
            }],
            Output::Json,
        ),
        DecideCommand::Letters { target, all } => {
            (target, vec![Request::Letters { all }], Output::Json)
        }
        DecideCommand::LetterPdf {
            target,
            action,
            out,
        } => (
            target,
            vec![Request::LetterPdf { action }],
            Output::File(out),
        ),
        DecideCommand::Suggestions { target } => (target, vec![Request::Suggestions], Output::Json),
        DecideCommand::Probable { target, date } => (
            target,
            vec![Request::Probable {
                date: date.unwrap_or(now.date_naive()),
            }],
            Output::Json,
        ),
        DecideCommand::NextRun { target, date } => (
            target,
            vec![Request::NextRun {
                date: date
                    .unwrap_or_else(|| now.date_naive().succ_opt().unwrap_or(now.date_naive())),
            }],
            Output::Json,
        ),
        DecideCommand::Closings { target } => (target, vec![Request::Closings], Output::Json),
        DecideCommand::Json { d, decision } => {
            let text = if decision == "-" {
                read_text(Path::new("-"))?
            } else {
                decision
            };
            let decision: Decision =
                serde_json::from_str(&text).context("the decision does not read")?;
            one(d, decision)
        }
        DecideCommand::Export {
            target,
            closing,
            out,
        } => (target, vec![Request::Export { closing }], Output::Dir(out)),
    })
}

/// Prints (or writes) one response.
pub fn emit(resp: &Response, out: &Output) -> anyhow::Result<()> {
    match (resp, out) {
        (Response::Pdf(bytes), Output::File(p)) => {
            std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display()))?;
            super::out(&serde_json::json!({ "written": p, "bytes": bytes.len() }).to_string())
        }
        (
            Response::Export {
                fec_name,
                fec,
                csv_name,
                csv,
            },
            Output::Dir(dir),
        ) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut written = Vec::new();
            for (name, bytes) in [(fec_name, fec), (csv_name, csv)] {
                let p = dir.join(name);
                std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
                written.push(p);
            }
            super::out(&serde_json::json!({ "written": written }).to_string())
        }
        (r, _) => {
            let v = match r {
                Response::Recorded(x) => serde_json::to_value(x)?,
                Response::Decisions(x) => serde_json::to_value(x)?,
                Response::Letters(x) => serde_json::to_value(x)?,
                Response::Suggestions(x) => serde_json::to_value(x)?,
                Response::Probable(x) => serde_json::to_value(x)?,
                Response::NextRun(x) => serde_json::to_value(x)?,
                Response::Closings(x) => serde_json::to_value(x)?,
                other => serde_json::to_value(other)?,
            };
            super::out(&serde_json::to_string_pretty(&v)?)
        }
    }
}

/// `relance decide …`: through the running daemon's socket when one runs (it owns the
/// store), else with the store opened here. Both run the same [`execute`].
pub fn run(cmd: DecideCommand) -> anyhow::Result<ExitCode> {
    let (target, reqs, out) = requests(cmd, Clock::System.now())?;
    let config = super::run::load_config(&target.config.config)?;
    let company = config
        .companies
        .iter()
        .find(|c| c.id.as_str() == target.company)
        .with_context(|| {
            format!(
                "no company {:?} in {}",
                target.company,
                target.config.config.display()
            )
        })?;
    if let Some(client) = crate::api::client::Client::find(&config)? {
        let path = format!("/api/v1/companies/{}/requests", company.id);
        let mut code = ExitCode::SUCCESS;
        for r in reqs {
            match client.post_json(&path, &serde_json::to_value(&r)?, None) {
                Ok(v) => {
                    let resp: Response =
                        serde_json::from_value(v).context("reading the daemon's answer")?;
                    emit(&resp, &out)?;
                }
                Err(e) => {
                    code = ExitCode::FAILURE;
                    eprintln!("relance: {e:#}");
                }
            }
        }
        return Ok(code);
    }
    let store = super::run::open_store(&config)?;
    let rates = crate::assets::rates(Some(&target.config.config))?;
    let mut code = ExitCode::SUCCESS;
    for r in reqs {
        match execute(&*store, company, &rates, r) {
            Ok(resp) => emit(&resp, &out)?,
            Err(DecisionError::Invalid(errors)) => {
                code = ExitCode::FAILURE;
                eprintln!("relance: decision refused:");
                for e in errors {
                    eprintln!("  {e}");
                }
            }
            Err(e) => {
                code = ExitCode::FAILURE;
                eprintln!("relance: {e}");
            }
        }
    }
    Ok(code)
}
