//! The file commands: `inspect` (parse and show) and `reconcile` (offline matching).

use super::out;
use crate::offline;
use relance_connectors::formats::{bank, einvoice};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// `relance inspect FILE...`: one JSON document per file (an array when several), or a
/// readable view with `--human`; `--deep` adds the full EN 16931 rule set to e-invoices.
/// Exits non-zero when any file is unusable.
pub fn inspect(files: &[PathBuf], human: bool, deep: bool) -> anyhow::Result<ExitCode> {
    let mut all_usable = true;
    let mut docs: Vec<Value> = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                all_usable = false;
                let v = json!({"file": name, "format": null, "diagnostics": [{
                    "severity": "fatal", "rule": "FILE-READ", "path": "", "message": e.to_string()}]});
                if human {
                    out(&format!("{name}: cannot read: {e}"))?;
                } else {
                    docs.push(v);
                }
                continue;
            }
        };
        if bank::detect(&bytes).is_some() {
            let parsed = bank::parse(&name, &bytes);
            all_usable &= bank::is_usable(&parsed);
            if human {
                out(&bank::render_text(&parsed))?;
            } else {
                docs.push(bank::inspect_json(&parsed));
            }
        } else {
            let parsed = if deep {
                einvoice::parse_deep(&name, &bytes)
            } else {
                einvoice::parse(&name, &bytes)
            };
            all_usable &= einvoice::is_usable(&parsed);
            if human {
                out(&einvoice::human(&parsed))?;
            } else {
                docs.push(einvoice::inspect_json(&parsed));
            }
        }
    }
    if !human {
        let value = if docs.len() == 1 {
            docs.remove(0)
        } else {
            Value::Array(docs)
        };
        out(&serde_json::to_string_pretty(&value)?)?;
    }
    Ok(if all_usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `relance reconcile --invoices DIR --bank FILE...`: the offline contract, JSON on stdout.
pub fn reconcile(invoices: &std::path::Path, banks: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let l = offline::load(invoices, banks)?;
    for (f, r) in &l.rejected {
        eprintln!("relance: skipped unusable file {f}: {r}");
    }
    for w in &l.warnings {
        eprintln!("relance: {w}");
    }
    let policy = relance_core::reconcile::Policy::default();
    let outcome =
        relance_core::reconcile::reconcile(&l.invoices, &l.customers, &l.receipts, &[], &policy);
    let allocations: Vec<Value> = outcome
        .allocations
        .iter()
        .map(|a| {
            json!({
                "transaction": a.transaction,
                "invoice": a.invoice,
                "amount": a.amount.to_string(),
                "auto": a.auto,
                "confidence": a.confidence.as_f64(),
                "reason": a.reason(),
                "rule": a.rule,
            })
        })
        .collect();
    let out = json!({
        "allocations": allocations,
        "unmatched": outcome.unmatched,
        "suggestions": outcome.suggestions,
        "flags": outcome.flags,
    });
    super::out(&serde_json::to_string_pretty(&out)?)?;
    Ok(ExitCode::SUCCESS)
}
