//! `relance inspect` of a bank file, written as it is read: the JSON of
//! [`super::inspect_json`] (same keys, entries written one by one) or the text of
//! [`super::render_text`], in memory that does not grow with the file. At most
//! [`MAX_LISTED_DIAGNOSTICS`] findings are listed; the others are counted by rule in a last
//! `BANK-FINDINGS` finding.

use super::{entry_json, is_usable_summary, statement_json, BankEvent, BankFormat, Statement};
use crate::formats::diag::{Diagnostic, Severity};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Most findings listed in full by a streamed inspect.
pub const MAX_LISTED_DIAGNOSTICS: usize = 10_000;

/// Findings kept for the end of the output, bounded.
#[derive(Default)]
struct Findings {
    listed: Vec<Diagnostic>,
    more: BTreeMap<String, usize>,
    fatal: bool,
}

impl Findings {
    fn add(&mut self, d: Diagnostic) {
        if d.severity == Severity::Fatal {
            self.fatal = true;
        }
        if self.listed.len() < MAX_LISTED_DIAGNOSTICS {
            self.listed.push(d);
        } else {
            *self.more.entry(d.rule).or_insert(0) += 1;
        }
    }

    fn finish(mut self) -> (Vec<Diagnostic>, bool) {
        if !self.more.is_empty() {
            let n: usize = self.more.values().sum();
            let by_rule = self
                .more
                .iter()
                .map(|(r, c)| format!("{r}: {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            self.listed.push(Diagnostic::new(
                Severity::Info,
                "BANK-FINDINGS",
                "/",
                format!("{n} more findings not listed ({by_rule})"),
            ));
        }
        (self.listed, self.fatal)
    }
}

/// The statement being written: its header, late balances and the first entry currency.
struct Current {
    stmt: Statement,
    entries: usize,
}

fn balances_json(cur: &Current) -> Value {
    statement_json(&cur.stmt)
}

/// Writes the inspect JSON of the bank file read from `reader` to `out`, entry by entry.
/// Returns whether the file is usable (no fatal finding, at least one statement).
pub fn write_inspect_json<R: BufRead, W: Write>(
    file_name: &str,
    reader: R,
    out: &mut W,
) -> std::io::Result<bool> {
    json_of(file_name, super::parse_reader(file_name, reader), out)
}

/// As [`write_inspect_json`], for a reader of the start of `file` (a ZIP archive is read
/// from `file` at offsets, never held: [`super::parse_reader_at`]).
pub fn write_inspect_json_at<R: BufRead, W: Write>(
    file_name: &str,
    reader: R,
    file: std::fs::File,
    out: &mut W,
) -> std::io::Result<bool> {
    json_of(
        file_name,
        super::parse_reader_at(file_name, reader, file),
        out,
    )
}

fn json_of<W: Write>(
    file_name: &str,
    events: impl Iterator<Item = BankEvent>,
    out: &mut W,
) -> std::io::Result<bool> {
    let mut findings = Findings::default();
    let mut format: Option<BankFormat> = None;
    let mut statements = 0usize;
    let mut cur: Option<Current> = None;
    write!(out, "{{\"file\":{}", Value::String(file_name.to_owned()))?;
    let mut head_written = false;
    let write_head = |out: &mut W, format: Option<BankFormat>| -> std::io::Result<()> {
        let f = format.map_or(Value::Null, |f| Value::String(f.as_str().to_owned()));
        write!(out, ",\"format\":{f},\"statements\":[")
    };
    let close = |out: &mut W, cur: Current| -> std::io::Result<()> {
        let v = balances_json(&cur);
        write!(out, "]")?;
        for k in ["currency", "opening_balance", "closing_balance"] {
            write!(out, ",{}:{}", Value::String(k.to_owned()), v[k])?;
        }
        write!(out, "}}")
    };
    for ev in events {
        match ev {
            BankEvent::Format { format: f, .. } => {
                if format.is_none() {
                    format = Some(f);
                }
            }
            BankEvent::Statement(s) => {
                if !head_written {
                    write_head(out, format)?;
                    head_written = true;
                }
                if let Some(c) = cur.take() {
                    close(out, c)?;
                }
                if statements > 0 {
                    write!(out, ",")?;
                }
                statements += 1;
                let account = s.account.clone().map_or(Value::Null, Value::String);
                write!(out, "\n{{\"account\":{account},\"entries\":[")?;
                cur = Some(Current {
                    stmt: s,
                    entries: 0,
                });
            }
            BankEvent::Entry(e) => {
                let Some(c) = cur.as_mut() else { continue };
                if c.entries > 0 {
                    write!(out, ",")?;
                }
                c.entries += 1;
                writeln!(out)?;
                serde_json::to_writer(&mut *out, &entry_json(&c.stmt, &e))?;
                // the statement's currency may come from its first entry
                if c.stmt.entries.is_empty() && c.stmt.effective_currency().is_none() {
                    let mut first = e;
                    first.details.clear();
                    c.stmt.entries.push(first);
                }
            }
            BankEvent::StatementEnd { late_balances } => {
                if let Some(mut c) = cur.take() {
                    c.stmt.balances.extend(late_balances);
                    close(out, c)?;
                }
            }
            BankEvent::Diagnostic(d) => findings.add(d),
        }
    }
    if !head_written {
        write_head(out, format)?;
    }
    if let Some(c) = cur.take() {
        close(out, c)?;
    }
    let (diags, fatal) = findings.finish();
    write!(out, "],\"diagnostics\":")?;
    serde_json::to_writer(&mut *out, &diags)?;
    writeln!(out, "}}")?;
    Ok(is_usable_summary(fatal, statements))
}

/// Writes the text rendering of the bank file read from `reader` to `out`, entry by entry
/// (the statement line first, its closing balance and entry count after its entries).
/// Returns whether the file is usable.
pub fn write_inspect_text<R: BufRead, W: Write>(
    file_name: &str,
    reader: R,
    out: &mut W,
) -> std::io::Result<bool> {
    text_of(file_name, super::parse_reader(file_name, reader), out)
}

/// As [`write_inspect_text`], for a reader of the start of `file` (a ZIP archive is read
/// from `file` at offsets, never held).
pub fn write_inspect_text_at<R: BufRead, W: Write>(
    file_name: &str,
    reader: R,
    file: std::fs::File,
    out: &mut W,
) -> std::io::Result<bool> {
    text_of(
        file_name,
        super::parse_reader_at(file_name, reader, file),
        out,
    )
}

fn text_of<W: Write>(
    file_name: &str,
    events: impl Iterator<Item = BankEvent>,
    out: &mut W,
) -> std::io::Result<bool> {
    let mut findings = Findings::default();
    let mut statements = 0usize;
    let mut cur: Option<Current> = None;
    let mut announced = false;
    let end = |out: &mut W, c: &Current| -> std::io::Result<()> {
        writeln!(
            out,
            "    closing {}, {} entries",
            c.stmt
                .closing_balance()
                .map_or("-".to_owned(), |b| b.amount.to_string()),
            c.entries
        )
    };
    for ev in events {
        match ev {
            BankEvent::Format { format, message } => {
                if !announced {
                    announced = true;
                    writeln!(out, "{file_name}: {} ({message})", format.as_str())?;
                }
            }
            BankEvent::Statement(s) => {
                if let Some(c) = cur.take() {
                    end(out, &c)?;
                }
                statements += 1;
                writeln!(
                    out,
                    "  statement {} {} account {} {}: opening {}",
                    s.position,
                    s.id.as_deref().unwrap_or("-"),
                    s.account.as_deref().unwrap_or("-"),
                    s.effective_currency().unwrap_or(""),
                    s.opening_balance()
                        .map_or("-".to_owned(), |b| b.amount.to_string()),
                )?;
                cur = Some(Current {
                    stmt: s,
                    entries: 0,
                });
            }
            BankEvent::Entry(e) => {
                let Some(c) = cur.as_mut() else { continue };
                c.entries += 1;
                out.write_all(super::entry_line(&c.stmt, &e).as_bytes())?;
            }
            BankEvent::StatementEnd { late_balances } => {
                if let Some(mut c) = cur.take() {
                    c.stmt.balances.extend(late_balances);
                    end(out, &c)?;
                }
            }
            BankEvent::Diagnostic(d) => findings.add(d),
        }
    }
    if let Some(c) = cur.take() {
        end(out, &c)?;
    }
    if !announced {
        writeln!(out, "{file_name}: unknown format")?;
    }
    let (diags, fatal) = findings.finish();
    let usable = is_usable_summary(fatal, statements);
    writeln!(
        out,
        "  {statements} statement(s), usable: {}",
        if usable { "yes" } else { "no" }
    )?;
    for d in &diags {
        writeln!(
            out,
            "  {:?} {} at {}: {}",
            d.severity, d.rule, d.path, d.message
        )?;
    }
    Ok(usable)
}
