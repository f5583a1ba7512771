//! OFX 1.x (SGML, leaf elements without end tags) and 2.x (XML) bank and credit-card
//! statements (`STMTRS`, `CCSTMTRS`). Investment statements and profile responses are
//! skipped with a finding; a file without any bank statement is rejected.
//!
//! Mapping: `ACCTID` → account, `CURDEF` → currency, `LEDGERBAL` → `CLBD`, `AVAILBAL` →
//! `CLAV`; each `STMTTRN` is one entry: `TRNAMT` signed amount, `DTPOSTED` booking date,
//! `DTAVAIL`/`DTUSER` value date, `FITID` the bank's id (receipt id), `TRNTYPE` bank code,
//! `NAME`/`PAYEE/NAME` counterparty, `MEMO` remittance (else `NAME`), `BANKACCTTO/ACCTID`
//! counterparty account. OFX gives no opening balance.

use super::model::{Balance, BankFormat, CreditDebit, Entry, Statement, TxDetail};
use super::{decode_text, events_from, BankEvent};
use crate::formats::diag::{Diagnostic, Severity};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

const AGGREGATES: &[&str] = &[
    "OFX",
    "SIGNONMSGSRSV1",
    "SONRS",
    "STATUS",
    "FI",
    "BANKMSGSRSV1",
    "STMTTRNRS",
    "STMTRS",
    "BANKACCTFROM",
    "BANKACCTTO",
    "CCACCTFROM",
    "CCACCTTO",
    "BANKTRANLIST",
    "STMTTRN",
    "LEDGERBAL",
    "AVAILBAL",
    "CREDITCARDMSGSRSV1",
    "CCSTMTTRNRS",
    "CCSTMTRS",
    "INVSTMTMSGSRSV1",
    "INVSTMTTRNRS",
    "INVSTMTRS",
    "PAYEE",
    "CURRENCY",
    "ORIGCURRENCY",
    "SIGNUPMSGSRSV1",
    "ACCTINFORS",
    "ACCTINFOTRNRS",
    "ACCTINFO",
    "BANKACCTINFO",
    "CCACCTINFO",
    "PROFMSGSRSV1",
    "PROFTRNRS",
    "PROFRS",
    "INVACCTFROM",
    "INVTRANLIST",
    "INVPOSLIST",
    "INVBAL",
    "BALLIST",
    "MSGSETLIST",
    "SECLISTMSGSRSV1",
    "SECLIST",
    "BANKMSGSET",
    "INVBANKTRAN",
];

/// Parses an OFX amount: optional sign, digits, one `.` or `,` as decimal mark.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty()
        || !body
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b'.' || c == b',')
        || body.bytes().filter(|c| *c == b'.' || *c == b',').count() > 1
        || !body.bytes().any(|c| c.is_ascii_digit())
    {
        return None;
    }
    let v = Decimal::from_str(&body.replace(',', ".")).ok()?;
    Some(if neg { -v } else { v })
}

fn ofx_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim().get(..8)?, "%Y%m%d").ok()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[derive(Default)]
struct Trn {
    trntype: Option<String>,
    posted: Option<String>,
    user: Option<String>,
    avail: Option<String>,
    amount: Option<String>,
    fitid: Option<String>,
    name: Option<String>,
    memo: Option<String>,
    checknum: Option<String>,
    refnum: Option<String>,
    acct_to: Option<String>,
    currency: Option<String>,
}

/// Parses an OFX file into events.
pub fn parse_events(bytes: &[u8]) -> Vec<BankEvent> {
    let text = decode_text(bytes);
    let mut diags: Vec<Diagnostic> = Vec::new();
    let version = if text.contains("VERSION:1") {
        text.split("VERSION:")
            .nth(1)
            .map(|v| v.chars().take(3).collect::<String>())
            .unwrap_or_default()
    } else {
        text.split("VERSION=\"")
            .nth(1)
            .map(|v| v.chars().take(3).collect::<String>())
            .unwrap_or_default()
    };
    let message = format!("OFX {version}").trim().to_owned();
    let Some(start) = text.find("<OFX>").or_else(|| text.find("<OFX ")) else {
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "BANK-FORMAT",
            "/",
            "no <OFX> element: not an OFX file",
        ));
        return events_from(BankFormat::Ofx, &message, Vec::new(), diags);
    };
    let body = &text[start..];
    let mut stack: Vec<String> = Vec::new();
    let mut stmts: Vec<Statement> = Vec::new();
    let mut cur: Option<Statement> = None;
    let mut trn: Option<Trn> = None;
    let mut ledger: (Option<String>, Option<String>) = (None, None);
    let mut avail: (Option<String>, Option<String>) = (None, None);
    let mut status_code: Option<String> = None;
    let mut status_msg: Option<String> = None;
    let mut investments = 0usize;
    let mut i = 0usize;
    let b = body.as_bytes();
    while i < b.len() {
        let Some(lt) = body[i..].find('<') else { break };
        let tag_start = i + lt;
        if body[tag_start..].starts_with("<!--") {
            i = body[tag_start..]
                .find("-->")
                .map_or(b.len(), |p| tag_start + p + 3);
            continue;
        }
        let Some(gt) = body[tag_start..].find('>') else {
            break;
        };
        let tag_end = tag_start + gt;
        let raw_tag = body[tag_start + 1..tag_end].trim();
        let text_end = body[tag_end + 1..]
            .find('<')
            .map_or(b.len(), |p| tag_end + 1 + p);
        let value = unescape(body[tag_end + 1..text_end].trim());
        i = text_end;
        if raw_tag.starts_with('?') || raw_tag.starts_with('!') {
            continue;
        }
        if let Some(name) = raw_tag.strip_prefix('/') {
            let name = name.trim().to_ascii_uppercase();
            if !stack.contains(&name) {
                continue; // end tag of a leaf (OFX 2 / tidy SGML)
            }
            while let Some(top) = stack.pop() {
                close(
                    &top,
                    &mut cur,
                    &mut trn,
                    &mut stmts,
                    &mut ledger,
                    &mut avail,
                    &mut diags,
                );
                if top == name {
                    break;
                }
            }
            continue;
        }
        let name = raw_tag
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_ascii_uppercase();
        if AGGREGATES.contains(&name.as_str()) {
            match name.as_str() {
                "STMTRS" | "CCSTMTRS" => {
                    cur = Some(Statement {
                        message: message.clone(),
                        ..Statement::default()
                    });
                }
                "INVSTMTRS" => investments += 1,
                "STMTTRN" if cur.is_some() => trn = Some(Trn::default()),
                "LEDGERBAL" => ledger = (None, None),
                "AVAILBAL" => avail = (None, None),
                _ => {}
            }
            stack.push(name);
            continue;
        }
        // a leaf
        let parent = stack.last().map(String::as_str).unwrap_or("");
        let v = (!value.is_empty()).then(|| value.clone());
        match (parent, name.as_str()) {
            ("STATUS", "CODE")
                if value != "0"
                    && stack
                        .iter()
                        .any(|s| s == "SONRS" || s == "STMTTRNRS" || s == "CCSTMTTRNRS") =>
            {
                status_code = Some(value.clone());
            }
            ("STATUS", "MESSAGE") => status_msg = v,
            ("STMTTRNRS" | "CCSTMTTRNRS", "TRNUID") => {}
            ("STMTRS" | "CCSTMTRS", "CURDEF") => {
                if let Some(s) = cur.as_mut() {
                    s.currency = v;
                }
            }
            ("BANKACCTFROM" | "CCACCTFROM", "ACCTID") => {
                if let Some(s) = cur.as_mut() {
                    s.account = v;
                }
            }
            ("LEDGERBAL", "BALAMT") => ledger.0 = Some(value.clone()),
            ("LEDGERBAL", "DTASOF") => ledger.1 = v,
            ("AVAILBAL", "BALAMT") => avail.0 = Some(value.clone()),
            ("AVAILBAL", "DTASOF") => avail.1 = v,
            ("BANKTRANLIST", "DTEND") => {
                if let Some(s) = cur.as_mut() {
                    if s.id.is_none() {
                        s.id = v;
                    }
                }
            }
            ("BANKACCTTO" | "CCACCTTO", "ACCTID") => {
                if let Some(t) = trn.as_mut() {
                    t.acct_to = v;
                }
            }
            ("PAYEE", "NAME") => {
                if let Some(t) = trn.as_mut() {
                    t.name = v;
                }
            }
            ("CURRENCY" | "ORIGCURRENCY", "CURSYM") => {
                if let Some(t) = trn.as_mut() {
                    t.currency = v;
                }
            }
            ("STMTTRN", n) if let Some(t) = trn.as_mut() => match n {
                "TRNTYPE" => t.trntype = v,
                "DTPOSTED" => t.posted = v,
                "DTUSER" => t.user = v,
                "DTAVAIL" => t.avail = v,
                "TRNAMT" => t.amount = Some(value.clone()),
                "FITID" => t.fitid = v,
                "NAME" if t.name.is_none() => t.name = v,
                "MEMO" => t.memo = v,
                "CHECKNUM" => t.checknum = v,
                "REFNUM" => t.refnum = v,
                _ => {}
            },
            _ => {}
        }
    }
    // close anything left open (SGML files are often cut short)
    while let Some(top) = stack.pop() {
        close(
            &top,
            &mut cur,
            &mut trn,
            &mut stmts,
            &mut ledger,
            &mut avail,
            &mut diags,
        );
    }
    if let Some(code) = status_code {
        let m = status_msg.unwrap_or_default();
        let sev = if stmts.is_empty() {
            Severity::Fatal
        } else {
            Severity::Error
        };
        diags.push(Diagnostic::new(
            sev,
            "OFX-STATUS",
            "/OFX",
            format!("the bank answered with status code {code} {m:?}"),
        ));
    }
    if investments > 0 {
        diags.push(Diagnostic::new(
            Severity::Info,
            "OFX-SKIPPED",
            "/OFX",
            format!("{investments} investment statement(s) skipped: not bank receipts"),
        ));
    }
    if stmts.is_empty() && !diags.iter().any(|d| d.severity == Severity::Fatal) {
        let why = if investments > 0 {
            " (investment statements only)"
        } else {
            ""
        };
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "BANK-EMPTY",
            "/OFX",
            format!("the OFX file holds no bank or credit-card statement{why}"),
        ));
    }
    for (k, s) in stmts.iter_mut().enumerate() {
        s.position = k + 1;
    }
    events_from(BankFormat::Ofx, &message, stmts, diags)
}

fn balance(
    code: &str,
    raw: &(Option<String>, Option<String>),
    ccy: Option<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Balance> {
    let amt = raw.0.as_deref()?;
    match parse_amount(amt) {
        Some(a) => Some(Balance {
            code: code.into(),
            amount: a,
            currency: ccy,
            date: raw.1.as_deref().and_then(ofx_date),
        }),
        None => {
            diags.push(Diagnostic::new(
                Severity::Error,
                "BANK-AMOUNT",
                if code == "CLBD" {
                    "LEDGERBAL/BALAMT"
                } else {
                    "AVAILBAL/BALAMT"
                },
                format!("balance amount {amt:?} is empty or not a number; balance ignored"),
            ));
            None
        }
    }
}

fn close(
    name: &str,
    cur: &mut Option<Statement>,
    trn: &mut Option<Trn>,
    stmts: &mut Vec<Statement>,
    ledger: &mut (Option<String>, Option<String>),
    avail: &mut (Option<String>, Option<String>),
    diags: &mut Vec<Diagnostic>,
) {
    match name {
        "STMTTRN" => {
            let (Some(t), Some(s)) = (trn.take(), cur.as_mut()) else {
                return;
            };
            let pos = s.entries.len() + 1;
            let at = format!("STMTRS[{}]/STMTTRN[{pos}]", stmts.len() + 1);
            let Some(amount) = t.amount.as_deref().and_then(parse_amount) else {
                diags.push(Diagnostic::new(
                    Severity::Error,
                    "BANK-AMOUNT",
                    at,
                    format!(
                        "TRNAMT {:?} is missing or not a number; transaction skipped",
                        t.amount.unwrap_or_default()
                    ),
                ));
                return;
            };
            let Some(posted) = t.posted.as_deref().and_then(ofx_date) else {
                diags.push(Diagnostic::new(
                    Severity::Error,
                    "BANK-DATE",
                    at,
                    format!(
                        "DTPOSTED {:?} is missing or not a date; transaction skipped",
                        t.posted.unwrap_or_default()
                    ),
                ));
                return;
            };
            let cd = if amount.is_sign_negative() {
                CreditDebit::Debit
            } else {
                CreditDebit::Credit
            };
            let mut e = Entry::new(pos, amount.abs(), cd);
            e.booking_date = Some(posted);
            e.value_date = t
                .avail
                .as_deref()
                .or(t.user.as_deref())
                .and_then(ofx_date)
                .or(Some(posted));
            e.acct_svcr_ref = t.fitid;
            e.ntry_ref = t.refnum.or(t.checknum);
            e.bank_code = t.trntype;
            e.currency = t.currency.or_else(|| s.currency.clone());
            let mut d = TxDetail {
                position: 1,
                ..TxDetail::default()
            };
            d.remittance = t
                .memo
                .clone()
                .or_else(|| t.name.clone())
                .unwrap_or_default();
            if cd == CreditDebit::Credit {
                d.debtor.name = t.name;
                d.debtor.iban = t.acct_to;
            } else {
                d.creditor.name = t.name;
                d.creditor.iban = t.acct_to;
            }
            e.details.push(d);
            s.entries.push(e);
        }
        "LEDGERBAL" | "AVAILBAL" => {
            let code = if name == "LEDGERBAL" { "CLBD" } else { "CLAV" };
            let raw = if name == "LEDGERBAL" {
                ledger.clone()
            } else {
                avail.clone()
            };
            if let Some(s) = cur.as_mut() {
                if let Some(b) = balance(code, &raw, s.currency.clone(), diags) {
                    s.balances.push(b);
                }
            }
        }
        "STMTRS" | "CCSTMTRS" => {
            if let Some(s) = cur.take() {
                if s.account.is_none() {
                    diags.push(Diagnostic::new(
                        Severity::Error,
                        "OFX-ACCOUNT",
                        format!("STMTRS[{}]", stmts.len() + 1),
                        "statement without an account id (BANKACCTFROM/ACCTID); statement skipped",
                    ));
                } else {
                    stmts.push(s);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("+100.00"), Some(Decimal::new(10000, 2)));
        assert_eq!(parse_amount("-80.25"), Some(Decimal::new(-8025, 2)));
        assert_eq!(parse_amount("$120"), None);
        assert_eq!(parse_amount(" "), None);
        assert_eq!(parse_amount("12,5"), Some(Decimal::new(125, 1)));
    }
}
