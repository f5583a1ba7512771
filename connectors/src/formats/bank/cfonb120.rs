//! CFONB 120-character bank statements (relevé de compte AFB/CFONB 120): records 01 (old
//! balance), 04 (operation), 05 (operation complement), 07 (new balance).
//!
//! Layout (1-based positions): 1-2 record code, 3-7 bank, 8-11 internal operation code,
//! 12-16 branch (guichet), 17-19 currency, 20 number of decimals, 22-32 account, 33-34
//! interbank operation code, 35-40 date (DDMMYY), 41-42 rejection reason, 43-48 value date,
//! 49-79 label (libellé), 82-88 écriture number, 91-104 amount, 105-120 reference. Amounts
//! end with a signed "overpunch" digit: `{`=+0, `A`..`I`=+1..+9, `}`=-0, `J`..`R`=-1..-9.
//! Records 05 carry a 3-letter qualifier at 46-48 and 70 characters of text at 49-118:
//! `LIB`/`LCC`/`LC2` label lines (appended to the remittance), `NPY` payer name, `NBE`
//! beneficiary name, `RCN` end-to-end reference, `RUM` mandate, `REF` bank reference.
//!
//! The account is the RIB without its key: bank + branch + account (21 characters). The
//! receipt id is the reference zone (105-120) when not blank, else the écriture number
//! (82-88) when not zero, else the derived `RLC-` id (module docs of `bank`).
//!
//! Sequence errors (an operation outside a statement, a complement without operation, a
//! statement not ended) are `CFONB-SEQUENCE` errors: the record is skipped, the rest kept.

use super::model::{Balance, BankFormat, CreditDebit, Entry, Statement, TxDetail};
use super::{decode_text, events_from, BankEvent};
use crate::formats::diag::{Diagnostic, Severity};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// True when the text looks like CFONB120 (first non-blank record 01/04/05/07 with a
/// numeric bank code).
pub fn looks_like(text: &str) -> bool {
    let Some(first) = text.lines().find(|l| !l.trim().is_empty()) else {
        return false;
    };
    let b = first.as_bytes();
    b.len() >= 40
        && matches!(&b[..2], b"01" | b"04" | b"05" | b"07")
        && b[2..7].iter().all(u8::is_ascii_digit)
        && (first.trim_end().len() <= 120 || first.len() % 120 == 0 || first.len() > 240)
}

/// Decodes a CFONB amount of `decimals` decimals with its overpunch last character.
pub fn parse_amount(zone: &str, decimals: u32) -> Option<Decimal> {
    let z = zone.trim();
    if !z.is_ascii() {
        return None;
    }
    let (digits, last) = z.split_at(z.len().checked_sub(1)?);
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let l = last.as_bytes()[0];
    let (neg, d) = match l {
        b'{' => (false, 0),
        b'A'..=b'I' => (false, l - b'A' + 1),
        b'}' => (true, 0),
        b'J'..=b'R' => (true, l - b'J' + 1),
        b'0'..=b'9' => (false, l - b'0'),
        _ => return None,
    };
    let n: i64 = format!("{digits}{d}").parse().ok()?;
    let v = Decimal::new(if neg { -n } else { n }, decimals.min(9));
    Some(v)
}

fn ddmmyy(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 6 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let d: u32 = s[..2].parse().ok()?;
    let m: u32 = s[2..4].parse().ok()?;
    let yy: i32 = s[4..].parse().ok()?;
    NaiveDate::from_ymd_opt(if yy < 80 { 2000 + yy } else { 1900 + yy }, m, d)
}

fn zone(line: &str, from: usize, to: usize) -> &str {
    // 1-based inclusive positions; lines are ASCII-padded by the caller
    line.get(from - 1..to.min(line.len())).unwrap_or("")
}

fn trimmed(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Splits the text into 120-character records: lines as given, long lines (files without
/// line breaks) cut every 120 characters, blank lines dropped.
fn records(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim_end_matches(['\r', '\u{1a}']);
        if l.trim().is_empty() {
            continue;
        }
        let chars: Vec<char> = l.chars().collect();
        if chars.len() > 120 {
            for (k, c) in chars.chunks(120).enumerate() {
                let r: String = c.iter().collect();
                if !r.trim().is_empty() {
                    out.push((i + 1 + k, format!("{r:<120}")));
                }
            }
        } else {
            out.push((i + 1, format!("{l:<120}")));
        }
    }
    out
}

struct Open {
    stmt: Statement,
    decimals: u32,
}

/// Parses a CFONB120 file into events.
pub fn parse_events(bytes: &[u8]) -> Vec<BankEvent> {
    let text = decode_text(bytes);
    let mut stmts: Vec<Statement> = Vec::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut open: Option<Open> = None;
    let mut op_open = false;
    let mut known_records = 0usize;
    let mut d = |sev, rule: &str, line: usize, msg: String| {
        diags.push(Diagnostic::new(sev, rule, format!("line {line}"), msg))
    };
    for (line, r) in records(&text) {
        // non-ASCII characters would shift byte positions: map them to '?'
        let r: String = r
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect();
        let code = &r[..2];
        let decimals: u32 = zone(&r, 20, 20).trim().parse().unwrap_or(2);
        let currency = trimmed(zone(&r, 17, 19)).unwrap_or_else(|| "EUR".to_owned());
        let account = format!(
            "{}{}{}",
            zone(&r, 3, 7).trim(),
            zone(&r, 12, 16).trim(),
            zone(&r, 22, 32).trim()
        );
        match code {
            "01" | "07" => known_records += 1,
            "04" | "05" => known_records += 1,
            _ => {
                d(
                    Severity::Error,
                    "CFONB-RECORD",
                    line,
                    format!("record code {code:?} is not 01, 04, 05 or 07; record skipped"),
                );
                continue;
            }
        }
        let date_raw = zone(&r, 35, 40);
        let date = ddmmyy(date_raw);
        match code {
            "01" => {
                if let Some(o) = open.take() {
                    d(
                        Severity::Error,
                        "CFONB-SEQUENCE",
                        line,
                        "new statement (record 01) before the previous one ended (record 07); previous statement kept without closing balance".into(),
                    );
                    stmts.push(o.stmt);
                }
                if date.is_none() {
                    d(
                        Severity::Error,
                        "BANK-DATE",
                        line,
                        format!("old-balance date {date_raw:?} is not DDMMYY"),
                    );
                }
                let mut s = Statement {
                    message: "CFONB120".into(),
                    id: Some(format!("{account}-{}", date_raw.trim())),
                    account: Some(account),
                    currency: Some(currency.clone()),
                    ..Statement::default()
                };
                match parse_amount(zone(&r, 91, 104), decimals) {
                    Some(a) => s.balances.push(Balance {
                        code: "OPBD".into(),
                        amount: a,
                        currency: Some(currency),
                        date,
                    }),
                    None => d(
                        Severity::Error,
                        "BANK-AMOUNT",
                        line,
                        format!("old balance {:?} unreadable", zone(&r, 91, 104)),
                    ),
                }
                open = Some(Open { stmt: s, decimals });
                op_open = false;
            }
            "04" => {
                let Some(o) = open.as_mut() else {
                    d(Severity::Error, "CFONB-SEQUENCE", line, "operation (record 04) outside any statement (no record 01 before it); skipped".into());
                    op_open = false;
                    continue;
                };
                let pos = o.stmt.entries.len() + 1;
                let Some(a) = parse_amount(zone(&r, 91, 104), decimals) else {
                    d(
                        Severity::Error,
                        "BANK-AMOUNT",
                        line,
                        format!(
                            "operation amount {:?} unreadable; operation skipped",
                            zone(&r, 91, 104)
                        ),
                    );
                    op_open = false;
                    continue;
                };
                let cd = if a.is_sign_negative() {
                    CreditDebit::Debit
                } else {
                    CreditDebit::Credit
                };
                let mut e = Entry::new(pos, a.abs(), cd);
                e.currency = Some(currency);
                e.booking_date = date;
                e.value_date = ddmmyy(zone(&r, 43, 48));
                if date.is_none() {
                    d(
                        Severity::Error,
                        "BANK-DATE",
                        line,
                        format!("operation date {date_raw:?} is not DDMMYY"),
                    );
                }
                e.bank_code = trimmed(zone(&r, 33, 34));
                e.proprietary_code = trimmed(zone(&r, 8, 11));
                e.acct_svcr_ref = trimmed(zone(&r, 105, 120));
                let ecriture = zone(&r, 82, 88).trim();
                if e.acct_svcr_ref.is_none()
                    && !ecriture.is_empty()
                    && ecriture.bytes().any(|c| c != b'0')
                {
                    e.ntry_ref = Some(format!(
                        "{}-{ecriture}",
                        o.stmt.account.as_deref().unwrap_or("")
                    ));
                }
                let label = zone(&r, 49, 79).trim().to_owned();
                e.additional_info = trimmed(&label);
                let mut det = TxDetail {
                    position: 1,
                    remittance: label,
                    ..TxDetail::default()
                };
                det.return_reason = trimmed(zone(&r, 41, 42));
                e.details.push(det);
                o.stmt.entries.push(e);
                op_open = true;
            }
            "05" => {
                let Some(e) = open
                    .as_mut()
                    .and_then(|o| o.stmt.entries.last_mut())
                    .filter(|_| op_open)
                else {
                    d(Severity::Error, "CFONB-SEQUENCE", line, "complement (record 05) without an operation (record 04) before it; skipped".into());
                    continue;
                };
                let q = zone(&r, 46, 48).trim().to_owned();
                let t = zone(&r, 49, 118).trim().to_owned();
                let Some(det) = e.details.first_mut() else {
                    continue;
                };
                match q.as_str() {
                    "NPY" | "NPO" => det.debtor.name = trimmed(&t),
                    "NBE" | "NBU" => det.creditor.name = trimmed(&t),
                    "RCN" => {
                        det.end_to_end_id =
                            trimmed(zone(&r, 49, 83)).filter(|x| x != "NOTPROVIDED");
                        let rest = zone(&r, 84, 118).trim();
                        if !rest.is_empty() {
                            append(&mut det.remittance, rest);
                        }
                    }
                    "RUM" => det.mandate_id = trimmed(&t),
                    "REF" => {
                        if e.acct_svcr_ref.is_none() && det.tx_id.is_none() {
                            det.tx_id = trimmed(&t);
                        }
                    }
                    "LIB" | "LCC" | "LC2" | "LCS" | "LCZ" => append(&mut det.remittance, &t),
                    _ => {
                        if !t.is_empty() {
                            let info = det.additional_info.get_or_insert_with(String::new);
                            append(info, &format!("{q} {t}"));
                        }
                    }
                }
            }
            _ => {
                // "07"
                let Some(mut o) = open.take() else {
                    d(
                        Severity::Error,
                        "CFONB-SEQUENCE",
                        line,
                        "end of statement (record 07) without a beginning (record 01); skipped"
                            .into(),
                    );
                    op_open = false;
                    continue;
                };
                match parse_amount(zone(&r, 91, 104), o.decimals.max(decimals)) {
                    Some(a) => o.stmt.balances.push(Balance {
                        code: "CLBD".into(),
                        amount: a,
                        currency: Some(currency),
                        date,
                    }),
                    None => d(
                        Severity::Error,
                        "BANK-AMOUNT",
                        line,
                        format!("new balance {:?} unreadable", zone(&r, 91, 104)),
                    ),
                }
                stmts.push(o.stmt);
                op_open = false;
            }
        }
    }
    if let Some(o) = open.take() {
        d(
            Severity::Error,
            "CFONB-SEQUENCE",
            0,
            "file ends inside a statement (no record 07); kept without closing balance".into(),
        );
        stmts.push(o.stmt);
    }
    if known_records == 0 {
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "BANK-FORMAT",
            "/",
            "no CFONB120 record (01, 04, 05, 07) found",
        ));
    } else if stmts.is_empty() {
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "BANK-EMPTY",
            "/",
            "no complete statement: operations without an opening record 01",
        ));
    }
    for (i, s) in stmts.iter_mut().enumerate() {
        s.position = i + 1;
    }
    events_from(BankFormat::Cfonb120, "CFONB120", stmts, diags)
}

fn append(s: &mut String, t: &str) {
    let t = t.trim();
    if t.is_empty() {
        return;
    }
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str(t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overpunch() {
        assert_eq!(
            parse_amount("0000000166956E", 2),
            Some(Decimal::new(1669565, 2))
        );
        assert_eq!(
            parse_amount("0000000000227R", 2),
            Some(Decimal::new(-2279, 2))
        );
        assert_eq!(
            parse_amount("0000000001904}", 2),
            Some(Decimal::new(-19040, 2))
        );
        assert_eq!(
            parse_amount("0000000001904{", 2),
            Some(Decimal::new(19040, 2))
        );
        assert_eq!(parse_amount("00000000X1904{", 2), None);
    }
}
