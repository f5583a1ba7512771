//! OFX 1.x (SGML, leaf elements without end tags) and 2.x (XML) bank and credit-card
//! statements (`STMTRS`, `CCSTMTRS`). Investment statements and profile responses are
//! skipped with a finding; a file without any bank statement is rejected.
//!
//! Mapping: `ACCTID` → account, `CURDEF` → currency, `LEDGERBAL` → `CLBD`, `AVAILBAL` →
//! `CLAV`; each `STMTTRN` is one entry: `TRNAMT` signed amount, `DTPOSTED` booking date,
//! `DTAVAIL`/`DTUSER` value date, `FITID` the bank's id (receipt id), `TRNTYPE` bank code,
//! `NAME`/`PAYEE/NAME` counterparty, `MEMO` remittance (else `NAME`), `BANKACCTTO/ACCTID`
//! counterparty account. OFX gives no opening balance.
//!
//! The file is read as a stream of tags in constant memory (a text is kept up to 64 KiB, a tag
//! up to 4 KiB); amounts are the OFX decimal syntax only (a sign, digits, one `.` or `,`), and
//! a date that is not a calendar date is reported with the element and the value.

use super::model::{Balance, BankFormat, CreditDebit, Entry, Statement, TxDetail};
use super::BankEvent;
use crate::formats::diag::{Diagnostic, Severity};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::io::BufRead;
use std::str::FromStr;

/// Longest text and tag kept.
const MAX_TEXT: usize = 64 * 1024;
const MAX_TAG: usize = 4 * 1024;
/// Longest header before `<OFX>`.
const MAX_HEADER: usize = 64 * 1024;
/// Entries held while a statement has not named its account yet (OFX puts `BANKACCTFROM`
/// first; a file that does not is still read, up to this many entries).
const MAX_HELD: usize = 10_000;

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
    if !s.contains('&') {
        return s.to_owned();
    }
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

/// One token of OFX text: a tag (its raw content between `<` and `>`) and the text after it.
struct Token {
    tag: String,
    text: String,
}

/// Splits OFX text into tags and texts, skipping comments, in constant memory.
struct Tokenizer<R: BufRead> {
    r: R,
    error: Option<std::io::Error>,
    eof: bool,
}

impl<R: BufRead> Tokenizer<R> {
    /// Reads up to (not including) `stop`, keeping at most `max` bytes; false at the end.
    fn read_until(&mut self, stop: u8, max: usize, out: &mut Vec<u8>) -> bool {
        loop {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                    return false;
                }
            };
            if buf.is_empty() {
                self.eof = true;
                return false;
            }
            match buf.iter().position(|c| *c == stop) {
                Some(i) => {
                    let room = max.saturating_sub(out.len());
                    out.extend_from_slice(&buf[..i.min(room)]);
                    self.r.consume(i + 1);
                    return true;
                }
                None => {
                    let n = buf.len();
                    let room = max.saturating_sub(out.len());
                    out.extend_from_slice(&buf[..n.min(room)]);
                    self.r.consume(n);
                }
            }
        }
    }

    /// Skips a comment whose `<!--` was read, up to `-->`.
    fn skip_comment(&mut self, already: &[u8]) {
        if already.ends_with(b"--") {
            return;
        }
        let mut tail: Vec<u8> = already.to_vec();
        loop {
            let mut chunk = Vec::new();
            let more = self.read_until(b'>', MAX_TAG, &mut chunk);
            tail.extend_from_slice(&chunk);
            if tail.ends_with(b"--") || !more {
                return;
            }
            let keep = tail.len().saturating_sub(2);
            tail.drain(..keep);
        }
    }

    /// The next tag and the text after it.
    fn next_token(&mut self) -> Option<Token> {
        loop {
            if self.eof {
                return None;
            }
            let mut tag = Vec::new();
            if !self.read_until(b'>', MAX_TAG, &mut tag) {
                return None;
            }
            if tag.starts_with(b"!--") {
                self.skip_comment(&tag[3..]);
                let mut discard = Vec::new();
                self.read_until(b'<', 0, &mut discard);
                continue;
            }
            let mut text = Vec::new();
            self.read_until(b'<', MAX_TEXT, &mut text);
            return Some(Token {
                tag: String::from_utf8_lossy(&tag).into_owned(),
                text: String::from_utf8_lossy(&text).into_owned(),
            });
        }
    }
}

/// A statement being read.
struct Open {
    header: Statement,
    sent: bool,
    late: Vec<Balance>,
    held: Vec<Entry>,
    entries: usize,
    dropped: bool,
}

/// A streaming OFX reader: an iterator of [`BankEvent`]s over UTF-8 text.
pub struct OfxReader<R: BufRead> {
    tokens: Tokenizer<R>,
    pending: VecDeque<BankEvent>,
    started: bool,
    header: String,
    message: String,
    stack: Vec<String>,
    cur: Option<Open>,
    trn: Option<Trn>,
    ledger: (Option<String>, Option<String>),
    avail: (Option<String>, Option<String>),
    status_code: Option<String>,
    status_msg: Option<String>,
    investments: usize,
    statements: usize,
    fatal: bool,
    done: bool,
}

impl<R: BufRead> OfxReader<R> {
    /// A reader over UTF-8 text.
    pub fn new(input: R) -> Self {
        Self {
            tokens: Tokenizer {
                r: input,
                error: None,
                eof: false,
            },
            pending: VecDeque::new(),
            started: false,
            header: String::new(),
            message: "OFX".to_owned(),
            stack: Vec::new(),
            cur: None,
            trn: None,
            ledger: (None, None),
            avail: (None, None),
            status_code: None,
            status_msg: None,
            investments: 0,
            statements: 0,
            fatal: false,
            done: false,
        }
    }

    fn diag(&mut self, sev: Severity, rule: &str, path: String, msg: String) {
        if sev == Severity::Fatal {
            self.fatal = true;
        }
        self.pending
            .push_back(BankEvent::Diagnostic(Diagnostic::new(sev, rule, path, msg)));
    }

    fn version(&self) -> String {
        let t = &self.header;
        if t.contains("VERSION:1") {
            t.split("VERSION:")
                .nth(1)
                .map(|v| v.chars().take(3).collect::<String>())
                .unwrap_or_default()
        } else {
            t.split("VERSION=\"")
                .nth(1)
                .map(|v| v.chars().take(3).collect::<String>())
                .unwrap_or_default()
        }
    }

    /// Handles one token; false when the file turns out not to be OFX.
    fn token(&mut self, t: Token) {
        let raw_tag = t.tag.trim();
        if !self.started {
            let name = raw_tag.split_whitespace().next().unwrap_or("");
            if name.eq_ignore_ascii_case("OFX") && !raw_tag.starts_with('/') {
                self.started = true;
                self.message = format!("OFX {}", self.version()).trim().to_owned();
                self.pending.push_front(BankEvent::Format {
                    format: BankFormat::Ofx,
                    message: self.message.clone(),
                });
            } else {
                if self.header.len() < MAX_HEADER {
                    self.header.push('<');
                    self.header.push_str(raw_tag);
                    self.header.push('>');
                    self.header.push_str(&t.text);
                }
                return;
            }
        }
        let value = unescape(t.text.trim());
        if raw_tag.starts_with('?') || raw_tag.starts_with('!') {
            return;
        }
        if let Some(name) = raw_tag.strip_prefix('/') {
            let name = name.trim().to_ascii_uppercase();
            if !self.stack.contains(&name) {
                return; // end tag of a leaf (OFX 2 / tidy SGML)
            }
            while let Some(top) = self.stack.pop() {
                self.close(&top);
                if top == name {
                    break;
                }
            }
            return;
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
                    self.cur = Some(Open {
                        header: Statement {
                            message: self.message.clone(),
                            ..Statement::default()
                        },
                        sent: false,
                        late: Vec::new(),
                        held: Vec::new(),
                        entries: 0,
                        dropped: false,
                    });
                }
                "INVSTMTRS" => self.investments += 1,
                "STMTTRN" if self.cur.is_some() => self.trn = Some(Trn::default()),
                "LEDGERBAL" => self.ledger = (None, None),
                "AVAILBAL" => self.avail = (None, None),
                _ => {}
            }
            if self.stack.len() < 64 {
                self.stack.push(name);
            }
            return;
        }
        // a leaf
        let parent = self.stack.last().map(String::as_str).unwrap_or("");
        let v = (!value.is_empty()).then(|| value.clone());
        match (parent, name.as_str()) {
            ("STATUS", "CODE")
                if value != "0"
                    && self
                        .stack
                        .iter()
                        .any(|s| s == "SONRS" || s == "STMTTRNRS" || s == "CCSTMTTRNRS") =>
            {
                self.status_code = Some(value.clone());
            }
            ("STATUS", "MESSAGE") => self.status_msg = v,
            ("STMTRS" | "CCSTMTRS", "CURDEF") => {
                if let Some(s) = self.cur.as_mut() {
                    if !s.sent {
                        s.header.currency = v;
                    }
                }
            }
            ("BANKACCTFROM" | "CCACCTFROM", "ACCTID") => {
                if let Some(s) = self.cur.as_mut() {
                    if !s.sent {
                        s.header.account = v;
                    }
                }
            }
            ("LEDGERBAL", "BALAMT") => self.ledger.0 = Some(value.clone()),
            ("LEDGERBAL", "DTASOF") => self.ledger.1 = v,
            ("AVAILBAL", "BALAMT") => self.avail.0 = Some(value.clone()),
            ("AVAILBAL", "DTASOF") => self.avail.1 = v,
            ("BANKTRANLIST", "DTEND") => {
                if let Some(s) = self.cur.as_mut() {
                    if s.header.id.is_none() && !s.sent {
                        s.header.id = v;
                    }
                }
            }
            ("BANKACCTTO" | "CCACCTTO", "ACCTID") => {
                if let Some(t) = self.trn.as_mut() {
                    t.acct_to = v;
                }
            }
            ("PAYEE", "NAME") => {
                if let Some(t) = self.trn.as_mut() {
                    t.name = v;
                }
            }
            ("CURRENCY" | "ORIGCURRENCY", "CURSYM") => {
                if let Some(t) = self.trn.as_mut() {
                    t.currency = v;
                }
            }
            ("STMTTRN", n) if let Some(t) = self.trn.as_mut() => match n {
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

    fn at(&self) -> String {
        let pos = self.cur.as_ref().map_or(0, |s| s.entries + 1);
        format!("STMTRS[{}]/STMTTRN[{pos}]", self.statements + 1)
    }

    fn send_header(&mut self) {
        let Some(s) = self.cur.as_mut() else { return };
        if s.sent || s.dropped {
            return;
        }
        s.sent = true;
        let h = s.header.clone();
        let held = std::mem::take(&mut s.held);
        self.pending.push_back(BankEvent::Statement(h));
        self.pending.extend(held.into_iter().map(BankEvent::Entry));
    }

    fn balance(&mut self, code: &str) -> Option<Balance> {
        let raw = if code == "CLBD" {
            self.ledger.clone()
        } else {
            self.avail.clone()
        };
        let amt = raw.0.as_deref()?;
        let elem = if code == "CLBD" {
            "LEDGERBAL"
        } else {
            "AVAILBAL"
        };
        let date = match raw.1.as_deref() {
            Some(d) => match ofx_date(d) {
                Some(x) => Some(x),
                None => {
                    self.diag(
                        Severity::Warning,
                        "BANK-DATE",
                        format!("{elem}/DTASOF"),
                        format!("DTASOF {d:?} is not a calendar date; the balance has no date"),
                    );
                    None
                }
            },
            None => None,
        };
        match parse_amount(amt) {
            Some(a) => Some(Balance {
                code: code.into(),
                amount: a,
                currency: self.cur.as_ref().and_then(|s| s.header.currency.clone()),
                date,
            }),
            None => {
                self.diag(
                    Severity::Error,
                    "BANK-AMOUNT",
                    format!("{elem}/BALAMT"),
                    format!("balance amount {amt:?} is empty or not a number; balance ignored"),
                );
                None
            }
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "STMTTRN" => {
                let Some(t) = self.trn.take() else { return };
                if self.cur.is_none() {
                    return;
                }
                let at = self.at();
                let Some(amount) = t.amount.as_deref().and_then(parse_amount) else {
                    self.diag(
                        Severity::Error,
                        "BANK-AMOUNT",
                        at,
                        format!(
                            "TRNAMT {:?} is missing or not a number; transaction skipped",
                            t.amount.unwrap_or_default()
                        ),
                    );
                    return;
                };
                let Some(posted) = t.posted.as_deref().and_then(ofx_date) else {
                    self.diag(
                        Severity::Error,
                        "BANK-DATE",
                        at,
                        format!(
                            "DTPOSTED {:?} is missing or not a calendar date; transaction skipped",
                            t.posted.unwrap_or_default()
                        ),
                    );
                    return;
                };
                let mut value_date = Some(posted);
                for (elem, raw) in [("DTAVAIL", &t.avail), ("DTUSER", &t.user)] {
                    if let Some(r) = raw.as_deref() {
                        match ofx_date(r) {
                            Some(d) => {
                                value_date = Some(d);
                                break;
                            }
                            None => self.diag(
                                Severity::Warning,
                                "BANK-DATE",
                                format!("{at}/{elem}"),
                                format!("{elem} {r:?} is not a calendar date; not used as the value date"),
                            ),
                        }
                    }
                }
                let Some(s) = self.cur.as_mut() else { return };
                let cd = if amount.is_sign_negative() {
                    CreditDebit::Debit
                } else {
                    CreditDebit::Credit
                };
                s.entries += 1;
                let mut e = Entry::new(s.entries, amount.abs(), cd);
                e.booking_date = Some(posted);
                e.value_date = value_date;
                e.acct_svcr_ref = t.fitid;
                e.ntry_ref = t.refnum.or(t.checknum);
                e.bank_code = t.trntype;
                e.currency = t.currency.or_else(|| s.header.currency.clone());
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
                if s.header.account.is_some() {
                    self.send_header();
                    self.pending.push_back(BankEvent::Entry(e));
                } else if s.held.len() < MAX_HELD {
                    s.held.push(e);
                } else if !s.dropped {
                    s.dropped = true;
                    s.held.clear();
                    let path = format!("STMTRS[{}]", self.statements + 1);
                    self.diag(
                        Severity::Error,
                        "OFX-ACCOUNT",
                        path,
                        format!("{MAX_HELD} transactions before any account id (BANKACCTFROM/ACCTID): statement skipped"),
                    );
                }
            }
            "LEDGERBAL" | "AVAILBAL" => {
                let code = if name == "LEDGERBAL" { "CLBD" } else { "CLAV" };
                if self.cur.is_none() {
                    return;
                }
                if let Some(b) = self.balance(code) {
                    if let Some(s) = self.cur.as_mut() {
                        if s.sent {
                            s.late.push(b);
                        } else {
                            s.header.balances.push(b);
                        }
                    }
                }
            }
            "STMTRS" | "CCSTMTRS" => {
                let Some(s) = self.cur.as_ref() else { return };
                if s.dropped {
                    self.cur = None;
                    return;
                }
                if s.header.account.is_none() {
                    let path = format!("STMTRS[{}]", self.statements + 1);
                    self.diag(
                        Severity::Error,
                        "OFX-ACCOUNT",
                        path,
                        "statement without an account id (BANKACCTFROM/ACCTID); statement skipped"
                            .to_owned(),
                    );
                    self.cur = None;
                    return;
                }
                self.send_header();
                if let Some(s) = self.cur.take() {
                    self.statements += 1;
                    self.pending.push_back(BankEvent::StatementEnd {
                        late_balances: s.late,
                    });
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.done = true;
        if let Some(e) = self.tokens.error.take() {
            self.diag(
                Severity::Fatal,
                "BANK-IO",
                "/".into(),
                format!("cannot read: {e}"),
            );
        }
        if !self.started {
            self.pending.push_front(BankEvent::Format {
                format: BankFormat::Ofx,
                message: format!("OFX {}", self.version()).trim().to_owned(),
            });
            self.diag(
                Severity::Fatal,
                "BANK-FORMAT",
                "/".into(),
                "no <OFX> element: not an OFX file".into(),
            );
            return;
        }
        // close anything left open (SGML files are often cut short)
        while let Some(top) = self.stack.pop() {
            self.close(&top);
        }
        if let Some(code) = self.status_code.take() {
            let m = self.status_msg.take().unwrap_or_default();
            let sev = if self.statements == 0 {
                Severity::Fatal
            } else {
                Severity::Error
            };
            self.diag(
                sev,
                "OFX-STATUS",
                "/OFX".into(),
                format!("the bank answered with status code {code} {m:?}"),
            );
        }
        if self.investments > 0 {
            let n = self.investments;
            self.diag(
                Severity::Info,
                "OFX-SKIPPED",
                "/OFX".into(),
                format!("{n} investment statement(s) skipped: not bank receipts"),
            );
        }
        if self.statements == 0 && !self.fatal {
            let why = if self.investments > 0 {
                " (investment statements only)"
            } else {
                ""
            };
            self.diag(
                Severity::Fatal,
                "BANK-EMPTY",
                "/OFX".into(),
                format!("the OFX file holds no bank or credit-card statement{why}"),
            );
        }
    }
}

impl<R: BufRead> Iterator for OfxReader<R> {
    type Item = BankEvent;

    fn next(&mut self) -> Option<BankEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            if !self.started && self.header.is_empty() {
                // text before the first '<' is header text (OFX 1: "OFXHEADER:100 …")
                let mut pre = Vec::new();
                self.tokens.read_until(b'<', MAX_HEADER, &mut pre);
                self.header = String::from_utf8_lossy(&pre).into_owned();
                self.header.push(' ');
                continue;
            }
            match self.tokens.next_token() {
                Some(t) => self.token(t),
                None => self.finish(),
            }
        }
    }
}

/// Parses an OFX file held in memory into events.
pub fn parse_events(bytes: &[u8]) -> Vec<BankEvent> {
    super::events_of(BankFormat::Ofx, bytes)
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
