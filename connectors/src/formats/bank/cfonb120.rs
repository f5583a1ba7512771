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
//!
//! An account is its branch and account number (a bank code that differs with the same branch
//! and account is a warning, as real files do it): an operation record of another account
//! inside a statement is a `CFONB-ACCOUNT` error and is imported as a statement of its own
//! account (the interrupted statement resumes after it, without opening balance); a closing
//! record of another account is an error and is not applied. The number of decimals (position
//! 20) must be that of the currency (2 for EUR, ISO 4217): a record that says otherwise is a
//! `CFONB-DECIMALS` error and its amount is not read. The file is read as a stream, one record
//! at a time.

use super::input::Lines;
use super::model::{Balance, BankFormat, CreditDebit, Entry, Statement, TxDetail};
use super::BankEvent;
use crate::formats::diag::{Diagnostic, Severity};
use chrono::NaiveDate;
use relance_core::money::Currency;
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::io::BufRead;

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
    // 1-based inclusive positions; records are ASCII-padded to 120 by the reader
    line.get(from - 1..to.min(line.len())).unwrap_or("")
}

fn trimmed(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The statement being read.
struct Open {
    header: Statement,
    sent: bool,
    /// Branch and account number: what names the account.
    key: (String, String),
    bank: String,
    currency: Option<String>,
    entries: usize,
    entry: Option<Entry>,
    /// A statement of another account, cut out of the one that was open.
    foreign: bool,
    bank_warned: bool,
}

/// A streaming CFONB 120 reader: an iterator of [`BankEvent`]s over UTF-8 text.
pub struct CfonbReader<R: BufRead> {
    lines: Lines<R>,
    pending: VecDeque<BankEvent>,
    open: Option<Open>,
    /// The statement interrupted by records of another account, to resume after them.
    suspended: Option<Open>,
    known_records: usize,
    statements: usize,
    done: bool,
}

/// A parsed record: its line, the record text, and its account fields.
struct Rec {
    line: usize,
    r: String,
    bank: String,
    key: (String, String),
    currency: Option<String>,
    account: String,
}

impl<R: BufRead> CfonbReader<R> {
    /// A reader over UTF-8 text.
    pub fn new(input: R) -> Self {
        let mut pending = VecDeque::new();
        pending.push_back(BankEvent::Format {
            format: BankFormat::Cfonb120,
            message: "CFONB120".to_owned(),
        });
        Self {
            lines: Lines::new(input, 120, true),
            pending,
            open: None,
            suspended: None,
            known_records: 0,
            statements: 0,
            done: false,
        }
    }

    fn diag(&mut self, sev: Severity, rule: &str, line: usize, msg: String) {
        self.pending
            .push_back(BankEvent::Diagnostic(Diagnostic::new(
                sev,
                rule,
                format!("line {line}"),
                msg,
            )));
    }

    fn send_header(&mut self) {
        if let Some(o) = self.open.as_mut() {
            if !o.sent {
                o.sent = true;
                self.statements += 1;
                self.pending
                    .push_back(BankEvent::Statement(o.header.clone()));
            }
        }
    }

    fn flush_entry(&mut self) {
        let Some(e) = self.open.as_mut().and_then(|o| o.entry.take()) else {
            return;
        };
        self.send_header();
        self.pending.push_back(BankEvent::Entry(e));
    }

    /// Ends the open statement (its closing balance, if any, in `late`).
    fn end(&mut self, late: Vec<Balance>) -> Option<Open> {
        self.flush_entry();
        if self
            .open
            .as_ref()
            .is_some_and(|o| !o.sent && late.is_empty())
        {
            // a resumed statement that got nothing: nothing to say
            return self.open.take();
        }
        self.send_header();
        let o = self.open.take()?;
        self.pending.push_back(BankEvent::StatementEnd {
            late_balances: late,
        });
        Some(o)
    }

    /// The number of decimals of a record's amount: position 20, which must agree with the
    /// currency's minor units (ISO 4217); blank means the currency's.
    fn decimals(r: &Rec) -> Result<u32, String> {
        let code = zone(&r.r, 20, 20);
        let minor = r
            .currency
            .as_deref()
            .and_then(|c| Currency::parse(c).ok())
            .map(|c| c.minor_units());
        let ccy = r.currency.as_deref().unwrap_or("EUR");
        match code.trim() {
            "" => Ok(minor.unwrap_or(2)),
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => {
                let n = u32::from(d.as_bytes()[0] - b'0');
                match minor {
                    Some(m) if m != n => Err(format!(
                        "the record declares {n} decimals (position 20) for {ccy}, whose amounts have {m} (ISO 4217)"
                    )),
                    _ => Ok(n),
                }
            }
            other => Err(format!(
                "decimals code {other:?} at position 20 is not a digit"
            )),
        }
    }

    fn amount(&mut self, rec: &Rec, what: &str, consequence: &str) -> Option<Decimal> {
        let decimals = match Self::decimals(rec) {
            Ok(d) => d,
            Err(msg) => {
                self.diag(
                    Severity::Error,
                    "CFONB-DECIMALS",
                    rec.line,
                    format!("{what}: {msg}; {consequence}"),
                );
                return None;
            }
        };
        let raw = zone(&rec.r, 91, 104);
        match parse_amount(raw, decimals) {
            Some(a) => Some(a),
            None => {
                self.diag(
                    Severity::Error,
                    "BANK-AMOUNT",
                    rec.line,
                    format!("{what} {raw:?} unreadable; {consequence}"),
                );
                None
            }
        }
    }

    fn new_statement(rec: &Rec, foreign: bool, balances: Vec<Balance>) -> Open {
        let date_raw = zone(&rec.r, 35, 40).trim().to_owned();
        Open {
            header: Statement {
                message: "CFONB120".into(),
                id: Some(format!("{}-{date_raw}", rec.account)),
                account: Some(rec.account.clone()),
                currency: Some(rec.currency.clone().unwrap_or_else(|| "EUR".to_owned())),
                balances,
                ..Statement::default()
            },
            sent: false,
            key: rec.key.clone(),
            bank: rec.bank.clone(),
            currency: rec.currency.clone(),
            entries: 0,
            entry: None,
            foreign,
            bank_warned: false,
        }
    }

    fn resumed(o: &Open) -> Open {
        Open {
            header: Statement {
                balances: Vec::new(),
                entries: Vec::new(),
                ..o.header.clone()
            },
            sent: false,
            key: o.key.clone(),
            bank: o.bank.clone(),
            currency: o.currency.clone(),
            entries: 0,
            entry: None,
            foreign: false,
            bank_warned: o.bank_warned,
        }
    }

    fn same_account(o: &Open, rec: &Rec) -> bool {
        o.key == rec.key
            && match (&o.currency, &rec.currency) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Makes the open statement the one of `rec`'s account, when it is another account's;
    /// false when the record must be skipped (`closing`: a closing record of an account that
    /// is neither open nor interrupted).
    fn switch_account(&mut self, rec: &Rec, closing: bool) -> bool {
        let Some(o) = self.open.as_ref() else {
            return true;
        };
        if Self::same_account(o, rec) {
            if o.bank != rec.bank && !o.bank_warned {
                let msg = format!(
                    "bank code {:?} differs from the statement's {:?} (same branch and account {}): kept in the statement",
                    rec.bank, o.bank, o.key.1
                );
                self.diag(Severity::Warning, "CFONB-ACCOUNT", rec.line, msg);
                if let Some(o) = self.open.as_mut() {
                    o.bank_warned = true;
                }
            }
            return true;
        }
        let current = o.header.account.clone().unwrap_or_default();
        if self
            .suspended
            .as_ref()
            .is_some_and(|s| Self::same_account(s, rec))
        {
            // back to the interrupted statement
            self.end(Vec::new());
            if let Some(s) = self.suspended.take() {
                self.open = Some(Self::resumed(&s));
            }
            return true;
        }
        if closing {
            self.diag(
                Severity::Error,
                "CFONB-ACCOUNT",
                rec.line,
                format!(
                    "closing record (07) of account {} inside the statement of account {current}: not applied to it, skipped",
                    rec.account
                ),
            );
            return false;
        }
        self.diag(
            Severity::Error,
            "CFONB-ACCOUNT",
            rec.line,
            format!(
                "operation record (04) of account {} inside the statement of account {current}: imported as a statement of account {} (without balances); the statement of {current} resumes after it",
                rec.account, rec.account
            ),
        );
        let ended = self.end(Vec::new());
        let was_foreign = ended.as_ref().is_some_and(|o| o.foreign);
        if !was_foreign {
            self.suspended = ended;
        }
        self.open = Some(Self::new_statement(rec, true, Vec::new()));
        self.send_header();
        true
    }

    fn record(&mut self, line: usize, raw: &str) {
        let raw = raw.trim_end_matches(['\r', '\u{1a}']);
        if raw.trim().is_empty() {
            return;
        }
        // non-ASCII characters would shift byte positions: map them to '?'
        let padded: String = raw
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect();
        let r = format!("{padded:<120}");
        let code = r[..2].to_owned();
        if !matches!(code.as_str(), "01" | "04" | "05" | "07") {
            self.diag(
                Severity::Error,
                "CFONB-RECORD",
                line,
                format!("record code {code:?} is not 01, 04, 05 or 07; record skipped"),
            );
            return;
        }
        self.known_records += 1;
        let bank = zone(&r, 3, 7).trim().to_owned();
        let branch = zone(&r, 12, 16).trim().to_owned();
        let number = zone(&r, 22, 32).trim().to_owned();
        let rec = Rec {
            line,
            account: format!("{bank}{branch}{number}"),
            key: (branch, number),
            bank,
            currency: trimmed(zone(&r, 17, 19)),
            r,
        };
        let date_raw = zone(&rec.r, 35, 40).to_owned();
        let date = ddmmyy(&date_raw);
        match code.as_str() {
            "01" => {
                if self.open.is_some() {
                    self.diag(
                        Severity::Error,
                        "CFONB-SEQUENCE",
                        line,
                        "new statement (record 01) before the previous one ended (record 07); previous statement kept without closing balance".into(),
                    );
                    self.end(Vec::new());
                }
                self.suspended = None;
                if date.is_none() {
                    self.diag(
                        Severity::Error,
                        "BANK-DATE",
                        line,
                        format!("old-balance date {date_raw:?} is not a calendar date DDMMYY"),
                    );
                }
                let mut balances = Vec::new();
                if let Some(a) =
                    self.amount(&rec, "old balance", "the statement has no opening balance")
                {
                    balances.push(Balance {
                        code: "OPBD".into(),
                        amount: a,
                        currency: Some(rec.currency.clone().unwrap_or_else(|| "EUR".to_owned())),
                        date,
                    });
                }
                self.open = Some(Self::new_statement(&rec, false, balances));
                self.send_header();
            }
            "04" => {
                self.flush_entry();
                if self.open.is_none() {
                    self.diag(Severity::Error, "CFONB-SEQUENCE", line, "operation (record 04) outside any statement (no record 01 before it); skipped".into());
                    return;
                }
                self.switch_account(&rec, false);
                let Some(a) = self.amount(&rec, "operation amount", "operation skipped") else {
                    return;
                };
                let value_raw = zone(&rec.r, 43, 48).to_owned();
                let value_date = ddmmyy(&value_raw);
                if date.is_none() {
                    self.diag(
                        Severity::Error,
                        "BANK-DATE",
                        line,
                        format!("operation date {date_raw:?} is not a calendar date DDMMYY"),
                    );
                }
                if value_date.is_none() && !value_raw.trim().is_empty() {
                    self.diag(
                        Severity::Warning,
                        "BANK-DATE",
                        line,
                        format!(
                            "value date {value_raw:?} is not a calendar date DDMMYY; read as none"
                        ),
                    );
                }
                let Some(o) = self.open.as_mut() else { return };
                let cd = if a.is_sign_negative() {
                    CreditDebit::Debit
                } else {
                    CreditDebit::Credit
                };
                o.entries += 1;
                let mut e = Entry::new(o.entries, a.abs(), cd);
                e.currency = Some(rec.currency.clone().unwrap_or_else(|| "EUR".to_owned()));
                e.booking_date = date;
                e.value_date = value_date;
                e.bank_code = trimmed(zone(&rec.r, 33, 34));
                e.proprietary_code = trimmed(zone(&rec.r, 8, 11));
                e.acct_svcr_ref = trimmed(zone(&rec.r, 105, 120));
                let ecriture = zone(&rec.r, 82, 88).trim();
                if e.acct_svcr_ref.is_none()
                    && !ecriture.is_empty()
                    && ecriture.bytes().any(|c| c != b'0')
                {
                    e.ntry_ref = Some(format!(
                        "{}-{ecriture}",
                        o.header.account.as_deref().unwrap_or("")
                    ));
                }
                let label = zone(&rec.r, 49, 79).trim().to_owned();
                e.additional_info = trimmed(&label);
                let mut det = TxDetail {
                    position: 1,
                    remittance: label,
                    ..TxDetail::default()
                };
                det.return_reason = trimmed(zone(&rec.r, 41, 42));
                e.details.push(det);
                o.entry = Some(e);
            }
            "05" => {
                let Some(e) = self.open.as_mut().and_then(|o| o.entry.as_mut()) else {
                    self.diag(Severity::Error, "CFONB-SEQUENCE", line, "complement (record 05) without an operation (record 04) before it; skipped".into());
                    return;
                };
                let q = zone(&rec.r, 46, 48).trim().to_owned();
                let t = zone(&rec.r, 49, 118).trim().to_owned();
                let Some(det) = e.details.first_mut() else {
                    return;
                };
                match q.as_str() {
                    "NPY" | "NPO" => det.debtor.name = trimmed(&t),
                    "NBE" | "NBU" => det.creditor.name = trimmed(&t),
                    "RCN" => {
                        det.end_to_end_id =
                            trimmed(zone(&rec.r, 49, 83)).filter(|x| x != "NOTPROVIDED");
                        let rest = zone(&rec.r, 84, 118).trim();
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
                self.flush_entry();
                if self.open.is_none() {
                    self.diag(
                        Severity::Error,
                        "CFONB-SEQUENCE",
                        line,
                        "end of statement (record 07) without a beginning (record 01); skipped"
                            .into(),
                    );
                    return;
                }
                if !self.switch_account(&rec, true) {
                    return;
                }
                if date.is_none() {
                    self.diag(
                        Severity::Warning,
                        "BANK-DATE",
                        line,
                        format!("new-balance date {date_raw:?} is not a calendar date DDMMYY; read as none"),
                    );
                }
                let mut late = Vec::new();
                if let Some(a) =
                    self.amount(&rec, "new balance", "the statement has no closing balance")
                {
                    late.push(Balance {
                        code: "CLBD".into(),
                        amount: a,
                        currency: Some(rec.currency.clone().unwrap_or_else(|| "EUR".to_owned())),
                        date,
                    });
                }
                self.end(late);
                self.suspended = None;
            }
        }
    }

    fn finish(&mut self) {
        self.flush_entry();
        if self.open.is_some() || self.suspended.is_some() {
            let msg = "file ends inside a statement (no record 07); kept without closing balance";
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Error,
                    "CFONB-SEQUENCE",
                    "end of file",
                    msg,
                )));
        }
        self.end(Vec::new());
        if let Some(e) = self.lines.error.take() {
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Fatal,
                    "BANK-IO",
                    "/",
                    format!("cannot read: {e}"),
                )));
        }
        if self.known_records == 0 {
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Fatal,
                    "BANK-FORMAT",
                    "/",
                    "no CFONB120 record (01, 04, 05, 07) found",
                )));
        } else if self.statements == 0 {
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Fatal,
                    "BANK-EMPTY",
                    "/",
                    "no complete statement: operations without an opening record 01",
                )));
        }
        self.done = true;
    }
}

impl<R: BufRead> Iterator for CfonbReader<R> {
    type Item = BankEvent;

    fn next(&mut self) -> Option<BankEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            match self.lines.next() {
                Some(l) => self.record(l.number, &l.text),
                None => self.finish(),
            }
        }
    }
}

/// Parses a CFONB120 file held in memory into events (UTF-8, else windows-1252).
pub fn parse_events(bytes: &[u8]) -> Vec<BankEvent> {
    super::events_of(BankFormat::Cfonb120, bytes)
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
