//! The file commands: `inspect` (parse and show) and `reconcile` (offline matching).

use crate::offline;
use relance_connectors::formats::{bank, einvoice};
use serde_json::{json, Value};
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// `relance inspect FILE...`: one JSON document per file (an array when several), or a
/// readable view with `--human`; `--deep` adds the full EN 16931 rule set to e-invoices.
/// Exits non-zero when any file is unusable.
///
/// Bank statements are streamed from the file to stdout, entry by entry (a statement of
/// hundreds of MB is never held in memory); an e-invoice (at most `einvoice::MAX_BYTES`) is
/// read whole.
pub fn inspect(files: &[PathBuf], human: bool, deep: bool) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut o = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let all_usable = match inspect_to(&mut o, files, human, deep) {
        Ok(u) => u,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    match o.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(if all_usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes the inspection of `files` to `o`; whether every file is usable.
fn inspect_to<W: Write>(
    o: &mut W,
    files: &[PathBuf],
    human: bool,
    deep: bool,
) -> std::io::Result<bool> {
    let mut all_usable = true;
    let several = files.len() > 1;
    if several && !human {
        o.write_all(b"[")?;
    }
    for (i, f) in files.iter().enumerate() {
        if i > 0 && !human {
            o.write_all(b",\n")?;
        }
        let name = f.display().to_string();
        let mut reader = match std::fs::File::open(f) {
            Ok(file) => BufReader::with_capacity(64 * 1024, file),
            Err(e) => {
                all_usable = false;
                if human {
                    writeln!(o, "{name}: cannot read: {e}")?;
                } else {
                    let v = json!({"file": name, "format": null, "diagnostics": [{
                        "severity": "fatal", "rule": "FILE-READ", "path": "", "message": e.to_string()}]});
                    write_pretty(o, &v)?;
                }
                continue;
            }
        };
        // The start of the file tells a bank statement from an e-invoice; it is read again
        // by the parser.
        let mut probe = Vec::with_capacity(8192);
        (&mut reader).take(8192).read_to_end(&mut probe)?;
        let start = std::io::Cursor::new(probe.clone()).chain(reader);
        if bank::zip::is_zip(&probe) || bank::detect(&probe).is_some() {
            // A ZIP archive's members are read from the file at their offsets.
            let file = std::fs::File::open(f)?;
            let input = BufReader::with_capacity(64 * 1024, start);
            let usable = if human {
                bank::write_inspect_text_at(&name, input, file, o)?
            } else {
                bank::write_inspect_json_at(&name, input, file, o)?
            };
            all_usable &= usable;
            continue;
        }
        let mut bytes = Vec::new();
        start
            .take(einvoice::MAX_BYTES as u64 + 1)
            .read_to_end(&mut bytes)?;
        let parsed = if deep {
            einvoice::parse_deep(&name, &bytes)
        } else {
            einvoice::parse(&name, &bytes)
        };
        all_usable &= einvoice::is_usable(&parsed);
        if human {
            writeln!(o, "{}", einvoice::human(&parsed))?;
        } else {
            write_pretty(o, &einvoice::inspect_json(&parsed))?;
        }
    }
    if several && !human {
        o.write_all(b"]")?;
    }
    if !human {
        o.write_all(b"\n")?;
    }
    Ok(all_usable)
}

fn write_pretty<W: Write>(o: &mut W, v: &Value) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *o, v)?;
    Ok(())
}

/// `relance reconcile --invoices DIR --bank FILE... [--config DIR] [--company C]`: the offline
/// contract, JSON on stdout, under the company's reconciliation policy (else the default).
pub fn reconcile(
    invoices: &std::path::Path,
    banks: &[PathBuf],
    config: &crate::cli::OfflineConfig,
) -> anyhow::Result<ExitCode> {
    let policy = super::run::offline_company(config)?
        .map(|c| c.reconcile)
        .unwrap_or_default();
    let l = offline::load(invoices, banks)?;
    for (f, r) in &l.rejected {
        eprintln!("relance: skipped unusable file {f}: {r}");
    }
    for w in &l.warnings {
        eprintln!("relance: {w}");
    }
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
