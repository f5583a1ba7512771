//! SWIFT MT940 customer statements (and MT942 interim reports), read as a stream in constant
//! memory, including the structured `:86:` forms: German `?NN` subfields (GV code, `?20`-`?29`
//! purpose with `EREF+`/`MREF+`/`SVWZ+` keywords, `?30` BIC, `?31` IBAN, `?32`-`?33` name) and
//! the slash-keyword form used by French, Dutch and other banks (`/EREF/`, `/CNTP/iban/bic/
//! name/`, `/REMI/USTD//text`, `/RTRN/reason`, `/MARF/mandate`).
//!
//! Mapping: `:60F:`/`:60M:` → `OPBD`, `:62F:`/`:62M:` → `CLBD`, `:64:` → `CLAV`, `:65:` →
//! `FWAV`; each `:61:` is one entry with one detail built from its `:86:`. `RC`/`RD` marks are
//! reversals (RC: reversal of a credit, booked as a debit). The receipt id is the `:61:` bank
//! reference (after `//`), else the customer reference unless it is `NONREF`.
//!
//! A field ends at the next tag, and also at a SWIFT block trailer (a line `-` or `-}`), at a
//! block header (`{1:…}{2:…}{4:`, a line starting with `{`) and at the DOS end-of-file byte
//! 0x1A: what follows such a boundary up to the next tag (bank header lines such as
//! `ABNANL2A` / `940`) is not glued into the last field.
//!
//! Amounts follow SWIFT's `15d`: digits with one decimal comma, at most 15 characters. Two
//! unambiguous deviations of real exports are read with one warning per file (`MT940-AMOUNT`):
//! no decimal mark at all (whole units, Knab) and a decimal point (old Rabobank exports).
//! Anything else (`1e9`, several marks, letters glued to the digits) is an error naming the
//! field, and the entry or balance is not read.

use super::input::{Line, Lines};
use super::model::{Balance, BankFormat, CreditDebit, Entry, Statement, TxDetail};
use super::BankEvent;
use crate::formats::diag::{Diagnostic, Severity};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::io::BufRead;
use std::str::FromStr;

/// Longest line kept (SWIFT lines are at most 65 characters; longer ones are cut).
const MAX_LINE: usize = 8 * 1024;
/// Longest field value kept (a `:86:` is at most 6 × 65 characters).
const MAX_FIELD: usize = 64 * 1024;

/// True when the text looks like MT940/MT942 (a `:20:` tag near the start, or a SWIFT block).
pub fn looks_like(text: &str) -> bool {
    let head: String = text.chars().take(2048).collect();
    (head.contains(":20:")
        && (head.contains(":25:") || head.contains(":60F:") || head.contains(":61:")))
        || head.starts_with("{1:")
        || head.starts_with(":60F:")
        || head.starts_with(":940:")
}

/// An amount read with a [`Deviation`], and the amount as written.
type Deviated = Option<(Deviation, String)>;

/// How an amount deviates from SWIFT `15d` while staying unambiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deviation {
    /// No decimal mark: whole units (`500`).
    NoMark,
    /// A decimal point instead of the comma (`12.50`).
    Point,
}

/// Parses an MT940 amount: SWIFT `15d` (digits, one decimal comma, `"12,"` and `",5"`
/// accepted, 15 characters at most), or one of the two [`Deviation`]s, said so.
pub fn parse_amount_strict(s: &str) -> Result<(Decimal, Option<Deviation>), String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the amount is empty".into());
    }
    // 15 characters by the standard; zeros some banks pad in front are not counted.
    let significant = t.trim_start_matches('0').len().max(1);
    if significant > 15 {
        return Err(format!(
            "amount {t:?} has {significant} characters, SWIFT allows 15"
        ));
    }
    if t.bytes().all(|c| c.is_ascii_digit()) {
        return Decimal::from_str(t)
            .map(|d| (d, Some(Deviation::NoMark)))
            .map_err(|_| format!("amount {t:?} is not a number"));
    }
    let (mark, deviation) = if t.contains(',') {
        (',', None)
    } else {
        ('.', Some(Deviation::Point))
    };
    let ok = t.matches(mark).count() == 1
        && t.bytes().all(|c| c.is_ascii_digit() || c == mark as u8)
        && t.len() > 1;
    if !ok {
        return Err(format!(
            "amount {t:?} is not digits with one decimal comma (SWIFT 15d)"
        ));
    }
    let (i, f) = t.split_once(mark).unwrap_or((t, ""));
    let i = if i.is_empty() { "0" } else { i };
    let text = if f.is_empty() {
        i.to_owned()
    } else {
        format!("{i}.{f}")
    };
    Decimal::from_str(&text)
        .map(|d| (d, deviation))
        .map_err(|_| format!("amount {t:?} is not a number"))
}

/// Parses an MT940 amount ([`parse_amount_strict`]), `None` when it is not one.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    parse_amount_strict(s).ok().map(|(d, _)| d)
}

/// A YYMMDD date; an impossible day (30 February) is moved to the last day of the month
/// (second value true) rather than dropped, and the caller says so.
fn yymmdd(s: &str) -> Option<(NaiveDate, bool)> {
    if s.len() != 6 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let yy: i32 = s[..2].parse().ok()?;
    let m: u32 = s[2..4].parse().ok()?;
    let d: u32 = s[4..6].parse().ok()?;
    // SWIFT years: 00-79 → 2000-2079, 80-99 → 1980-1999.
    let y = if yy < 80 { 2000 + yy } else { 1900 + yy };
    if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
        return Some((date, false));
    }
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    (28..d)
        .rev()
        .find_map(|dd| NaiveDate::from_ymd_opt(y, m, dd))
        .map(|x| (x, true))
}

fn is_tag_line(line: &str) -> Option<(String, String)> {
    let b = line.as_bytes();
    if b.len() < 4 || b[0] != b':' {
        return None;
    }
    let end = line[1..].find(':')? + 1;
    let tag = &line[1..end];
    let ok = (2..=3).contains(&tag.len())
        && tag.bytes().take(2).all(|c| c.is_ascii_alphanumeric())
        && tag.bytes().skip(2).all(|c| c.is_ascii_uppercase());
    ok.then(|| (tag.to_owned(), line[end + 1..].to_owned()))
}

/// Skips one `{…}` block (nested braces included) at the start of `s`; the rest of the line.
fn skip_block(s: &str) -> Option<&str> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(&s[i + 1..]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The statement being read.
struct Open {
    header: Statement,
    sent: bool,
    late: Vec<Balance>,
    entries: usize,
    closed: bool,
    /// The last `:61:`, waiting for its `:86:`.
    entry: Option<Entry>,
    raw86: String,
    /// Entries read before any currency is known (no currency in `:60F:`): held until a
    /// balance names it, at most [`MAX_HELD`].
    held: Vec<Entry>,
}

/// Most entries held while the statement's currency is unknown.
const MAX_HELD: usize = 10_000;

/// A streaming MT940/MT942 reader: an iterator of [`BankEvent`]s over UTF-8 text.
pub struct Mt940Reader<R: BufRead> {
    lines: Lines<R>,
    pending: VecDeque<BankEvent>,
    field: Option<(usize, String, String)>,
    /// After a block boundary, until the next tag: lines are not part of any field.
    outside: bool,
    message: String,
    format_sent: bool,
    cur: Option<Open>,
    currency: Option<String>,
    content: bool,
    deviations: [Option<usize>; 2],
    long_lines: usize,
    done: bool,
}

impl<R: BufRead> Mt940Reader<R> {
    /// A reader over UTF-8 text.
    pub fn new(input: R) -> Self {
        Self {
            lines: Lines::new(input, MAX_LINE, false),
            pending: VecDeque::new(),
            field: None,
            outside: false,
            message: "MT940".to_owned(),
            format_sent: false,
            cur: None,
            currency: None,
            content: false,
            deviations: [None, None],
            long_lines: 0,
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

    fn send_format(&mut self) {
        if !self.format_sent {
            self.format_sent = true;
            self.pending.push_front(BankEvent::Format {
                format: BankFormat::Mt940,
                message: self.message.clone(),
            });
        }
    }

    fn open(&mut self) -> &mut Open {
        self.cur.get_or_insert_with(|| Open {
            header: Statement {
                message: "MT940".to_owned(),
                ..Statement::default()
            },
            sent: false,
            late: Vec::new(),
            entries: 0,
            closed: false,
            entry: None,
            raw86: String::new(),
            held: Vec::new(),
        })
    }

    fn send_header(&mut self) {
        let carry = self.currency.clone();
        let Some(o) = self.cur.as_mut() else { return };
        if o.sent {
            return;
        }
        if o.header.currency.is_none() {
            o.header.currency = carry;
        }
        o.sent = true;
        let h = o.header.clone();
        if !self.format_sent {
            self.format_sent = true;
            self.pending.push_back(BankEvent::Format {
                format: BankFormat::Mt940,
                message: self.message.clone(),
            });
        }
        self.pending.push_back(BankEvent::Statement(h));
    }

    /// Emits the pending entry with its `:86:` applied.
    fn flush_entry(&mut self) {
        let Some(o) = self.cur.as_mut() else { return };
        let Some(mut e) = o.entry.take() else {
            o.raw86.clear();
            return;
        };
        let raw = std::mem::take(&mut o.raw86);
        if !raw.is_empty() {
            apply_86(&mut e, &raw);
        }
        if e.currency.is_none() {
            e.currency = o.header.currency.clone().or_else(|| self.currency.clone());
        }
        if e.currency.is_none() && o.held.len() < MAX_HELD {
            o.held.push(e);
            return;
        }
        self.release();
        self.pending.push_back(BankEvent::Entry(e));
    }

    /// Sends the header and the held entries (with the currency known by now, if any).
    fn release(&mut self) {
        self.send_header();
        let carry = self.currency.clone();
        let Some(o) = self.cur.as_mut() else { return };
        let ccy = o.header.currency.clone().or(carry);
        for mut e in std::mem::take(&mut o.held) {
            if e.currency.is_none() {
                e.currency = ccy.clone();
            }
            self.pending.push_back(BankEvent::Entry(e));
        }
    }

    fn end_statement(&mut self) {
        self.flush_entry();
        if self.cur.is_none() {
            return;
        }
        self.release();
        if let Some(o) = self.cur.take() {
            self.pending.push_back(BankEvent::StatementEnd {
                late_balances: o.late,
            });
        }
    }

    fn finish_field(&mut self) {
        if let Some((line, tag, value)) = self.field.take() {
            self.field_done(line, &tag, value);
        }
    }

    fn deviation(&mut self, d: Option<Deviation>, line: usize, field: &str, raw: &str) {
        let Some(d) = d else { return };
        let k = d as usize;
        if self.deviations[k].is_some() {
            return;
        }
        self.deviations[k] = Some(line);
        let what = match d {
            Deviation::NoMark => "has no decimal comma: read as whole units",
            Deviation::Point => "has a decimal point instead of the comma: read as a decimal",
        };
        self.diag(
            Severity::Warning,
            "MT940-AMOUNT",
            line,
            format!(
                ":{field}: amount {raw:?} {what} (SWIFT 15d wants one decimal comma); every such amount of the file is read the same way"
            ),
        );
    }

    fn field_done(&mut self, line: usize, tag: &str, value: String) {
        if tag != "86" {
            self.flush_entry();
        }
        match tag {
            "20" => {
                self.end_statement();
                self.open().header.id = Some(value.trim().to_owned());
            }
            "25" | "28" | "28C" => {
                if self.cur.as_ref().is_some_and(|o| o.sent || o.closed) {
                    self.end_statement();
                    self.diag(
                        Severity::Info,
                        "MT940-SEQUENCE",
                        line,
                        format!(":{tag}: after the statement lines without a new :20:: read as the start of another statement"),
                    );
                }
                let v = value.trim();
                let o = self.open();
                if tag == "25" {
                    o.header.account = Some(account_of(v));
                } else {
                    o.header.id = Some(v.to_owned());
                }
            }
            "60F" | "60M" | "62F" | "62M" | "64" | "65" => {
                let code = match tag {
                    "60F" | "60M" => "OPBD",
                    "62F" | "62M" => "CLBD",
                    "64" => "CLAV",
                    _ => "FWAV",
                };
                if code == "OPBD" && self.cur.as_ref().is_some_and(|o| o.sent || o.closed) {
                    self.end_statement();
                    self.diag(
                        Severity::Info,
                        "MT940-SEQUENCE",
                        line,
                        format!(":{tag}: opening balance after the statement lines without a new :20:: read as another statement"),
                    );
                }
                match parse_balance(value.trim(), code) {
                    Ok((bal, fixed, deviation)) => {
                        self.content = true;
                        if let Some(raw) = fixed {
                            self.diag(
                                Severity::Warning,
                                "BANK-DATE",
                                line,
                                format!(
                                    ":{tag}: date {raw} is not a calendar date: read as {}, the last day of that month",
                                    bal.date.map(|d| d.to_string()).unwrap_or_default()
                                ),
                            );
                        }
                        if let Some((d, raw)) = deviation {
                            self.deviation(Some(d), line, tag, &raw);
                        }
                        if self.currency.is_none() || code == "OPBD" {
                            if let Some(c) = &bal.currency {
                                self.currency = Some(c.clone());
                            }
                        }
                        let o = self.open();
                        if o.header.currency.is_none() && code == "OPBD" && !o.sent {
                            o.header.currency = bal.currency.clone();
                        }
                        if code == "CLBD" {
                            o.closed = true;
                        }
                        let release = !o.held.is_empty() && bal.currency.is_some();
                        if o.sent {
                            o.late.push(bal);
                        } else {
                            o.header.balances.push(bal);
                        }
                        if release {
                            self.release();
                        }
                    }
                    Err(msg) => self.diag(
                        Severity::Error,
                        "BANK-AMOUNT",
                        line,
                        format!(":{tag}: {msg}; balance ignored"),
                    ),
                }
            }
            "61" => {
                let pos = self.open().entries + 1;
                match parse_61(&value, pos) {
                    Ok((e, fixed, deviation)) => {
                        self.content = true;
                        if let Some(raw) = fixed {
                            self.diag(
                                Severity::Warning,
                                "BANK-DATE",
                                line,
                                format!(
                                    ":61: date {raw}: not a calendar date, moved to the last day of that month"
                                ),
                            );
                        }
                        if let Some((d, raw)) = deviation {
                            self.deviation(Some(d), line, "61", &raw);
                        }
                        let o = self.open();
                        o.entries += 1;
                        o.entry = Some(e);
                    }
                    Err(msg) => {
                        self.diag(
                            Severity::Error,
                            "MT940-61",
                            line,
                            format!(
                                "statement line unreadable ({msg}): {:?}; entry skipped",
                                value.lines().next().unwrap_or("")
                            ),
                        );
                    }
                }
            }
            "86" => {
                if let Some(o) = self.cur.as_mut().filter(|o| o.entry.is_some()) {
                    if !o.raw86.is_empty() {
                        o.raw86.push('\n');
                    }
                    o.raw86.push_str(&value);
                }
            }
            _ => {}
        }
    }

    /// Ends the current field at a block boundary; lines up to the next tag are outside.
    fn boundary(&mut self) {
        self.finish_field();
        self.outside = true;
    }

    fn segment(&mut self, number: usize, raw: &str) {
        let mut line = raw.trim_end_matches([' ', '\t', '\0']);
        if (line.starts_with("{2:") && line.contains("942")) || line.trim() == "942" {
            self.message = "MT942".to_owned();
        }
        if line.starts_with('{') {
            self.boundary();
            while let Some(rest) = line.strip_prefix('{') {
                if let Some(r) = rest.strip_prefix("4:") {
                    line = r;
                    break;
                }
                match skip_block(line) {
                    Some(r) => line = r,
                    None => {
                        line = "";
                        break;
                    }
                }
            }
        }
        let t = line.trim();
        if t == "-" || t.starts_with("-}") {
            self.boundary();
            return;
        }
        if t.is_empty() {
            return;
        }
        if let Some((tag, value)) = is_tag_line(line) {
            self.finish_field();
            self.outside = false;
            if !self.format_sent {
                self.send_format();
            }
            self.field = Some((number, tag, value));
        } else if !self.outside {
            if let Some(f) = self.field.as_mut() {
                if f.2.len() < MAX_FIELD {
                    f.2.push('\n');
                    f.2.push_str(line);
                }
            }
        }
    }

    fn line(&mut self, l: Line) {
        if l.cut {
            self.long_lines += 1;
        }
        // 0x1A (DOS end of file) ends what comes before it, wherever it stands.
        for (k, seg) in l.text.split('\u{1a}').enumerate() {
            if k > 0 {
                self.boundary();
            }
            self.segment(l.number, seg);
        }
    }

    fn finish(&mut self) {
        self.finish_field();
        // An MT940 statement ends with its closing balance (:62F:/:62M:, mandatory); the last
        // one of a file without it, after statement lines, is a file cut short (still being
        // written, or a bad copy). An MT942 interim report has no closing balance.
        let cut = self
            .cur
            .as_ref()
            .is_some_and(|o| !o.closed && (o.entries > 0 || o.entry.is_some()))
            && self.message == "MT940";
        if cut {
            // A warning, not a refusal: real banks' files end so too (an available balance
            // last, a block trailer right after the lines), and their lines are still theirs;
            // a copy cut short and later complete adds only what it lacked (receipt keys).
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Warning,
                    "MT940-CUT",
                    "end of file",
                    "the last statement ends without its closing balance (:62F:): the file may be \
                 cut short; its lines are read, and the complete file adds only what it lacks",
                )));
        }
        self.end_statement();
        if let Some(e) = self.lines.error.take() {
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Fatal,
                    "BANK-IO",
                    "/",
                    format!("cannot read: {e}"),
                )));
        }
        if self.long_lines > 0 {
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Warning,
                    "MT940-LINE",
                    "/",
                    format!(
                        "{} line(s) longer than {MAX_LINE} characters were cut (SWIFT lines have at most 65)",
                        self.long_lines
                    ),
                )));
        }
        if !self.content {
            self.pending
                .push_back(BankEvent::Diagnostic(Diagnostic::new(
                    Severity::Fatal,
                    "BANK-EMPTY",
                    "/",
                    "no MT940 statement found (no :60F:/:61:/:62F: fields)",
                )));
        }
        self.send_format();
        self.done = true;
    }
}

impl<R: BufRead> Iterator for Mt940Reader<R> {
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
                Some(l) => self.line(l),
                None => self.finish(),
            }
        }
    }
}

/// Parses an MT940/MT942 file held in memory into events (UTF-8, else windows-1252).
pub fn parse_events(bytes: &[u8]) -> Vec<BankEvent> {
    super::events_of(BankFormat::Mt940, bytes)
}

fn account_of(v: &str) -> String {
    // "BIC/IBAN" or "BLZ/account": keep the account part when it is an IBAN.
    let v = v.trim();
    if let Some((_, acct)) = v.split_once('/') {
        if super::rf::iban_is_valid(acct) {
            return acct.to_owned();
        }
    }
    // "NL77INGB0574908765EUR", "1017.490.554EUR", "0800003200000001610722 EUR": the account
    // followed by its currency.
    if v.len() > 6 && v.is_char_boundary(v.len() - 3) {
        let (a, c) = v.split_at(v.len() - 3);
        let a = a.trim_end();
        if c.bytes().all(|x| x.is_ascii_uppercase())
            && a.bytes().last().is_some_and(|x| x.is_ascii_digit())
        {
            return a.to_owned();
        }
    }
    v.to_owned()
}

/// A balance field: the balance, the impossible date as written when it was moved, and the
/// amount's deviation from SWIFT 15d.
fn parse_balance(v: &str, code: &str) -> Result<(Balance, Option<String>, Deviated), String> {
    let mut chars = v.chars();
    let sign = chars.next().ok_or("empty balance")?;
    let cd = match sign {
        'C' => CreditDebit::Credit,
        'D' => CreditDebit::Debit,
        _ => return Err(format!("mark {sign:?} is neither C nor D")),
    };
    let rest = &v[1..];
    let raw_date = rest.get(..6).unwrap_or("");
    let (date, fixed) =
        yymmdd(raw_date).ok_or_else(|| format!("date {raw_date:?} is not a date YYMMDD"))?;
    let rest = &rest[6..];
    let (ccy, amt) = match rest.get(..3) {
        Some(c) if c.bytes().all(|x| x.is_ascii_alphabetic()) => {
            (Some(c.to_ascii_uppercase()), &rest[3..])
        }
        _ => (None, rest),
    };
    let (amount, deviation) = parse_amount_strict(amt)?;
    let deviation = deviation.map(|d| (d, amt.trim().to_owned()));
    Ok((
        Balance {
            code: code.to_owned(),
            amount: cd.signed(amount),
            currency: ccy,
            date: Some(date),
        },
        fixed.then(|| raw_date.to_owned()),
        deviation,
    ))
}

/// A `:61:` statement line: the entry, the impossible date as written when one was moved,
/// and the amount's deviation from SWIFT 15d.
fn parse_61(v: &str, position: usize) -> Result<(Entry, Option<String>, Deviated), String> {
    let (first, supplementary) = match v.split_once('\n') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (v.trim(), None),
    };
    let raw_value_date = first.get(..6).unwrap_or("");
    let (value_date, vfixed) =
        yymmdd(raw_value_date).ok_or_else(|| format!("value date {raw_value_date:?}"))?;
    let mut fixes: Vec<String> = Vec::new();
    if vfixed {
        fixes.push(format!(
            "{raw_value_date} (value date, read as {value_date})"
        ));
    }
    let mut rest = &first[6..];
    let mut booking = value_date;
    if rest.len() >= 4 && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        let m: u32 = rest[..2].parse().map_err(|_| "bad entry date")?;
        let d: u32 = rest[2..4].parse().map_err(|_| "bad entry date")?;
        let mut y = value_date.year();
        if m == 12 && value_date.month() == 1 {
            y -= 1;
        } else if m == 1 && value_date.month() == 12 {
            y += 1;
        }
        match NaiveDate::from_ymd_opt(y, m, d) {
            Some(x) => booking = x,
            None => {
                if let Some(x) = (28..d.min(32))
                    .rev()
                    .find_map(|dd| NaiveDate::from_ymd_opt(y, m, dd))
                {
                    booking = x;
                    fixes.push(format!("{} (entry date, read as {x})", &rest[..4]));
                } else {
                    return Err(format!("entry date {:?}", &rest[..4]));
                }
            }
        }
        rest = &rest[4..];
    }
    let (cd, reversal, skip) = if rest.starts_with("RC") {
        (CreditDebit::Debit, true, 2)
    } else if rest.starts_with("RD") {
        (CreditDebit::Credit, true, 2)
    } else if rest.starts_with("EC") || rest.starts_with('C') {
        (
            CreditDebit::Credit,
            false,
            if rest.starts_with("EC") { 2 } else { 1 },
        )
    } else if rest.starts_with("ED") || rest.starts_with('D') {
        (
            CreditDebit::Debit,
            false,
            if rest.starts_with("ED") { 2 } else { 1 },
        )
    } else {
        return Err("no C/D mark".into());
    };
    rest = &rest[skip..];
    // optional funds code: one letter before the amount
    if rest.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        rest = &rest[1..];
    }
    let amt_len = rest
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b',' || *c == b'.')
        .count();
    // The amount ends where the transaction type (a letter and three characters, N, F or S
    // by the standard) begins, or at a space or the `//` of the bank reference: anything else glued to the digits (`1e9`, a
    // lower-case letter) is no SWIFT amount.
    let tail = &rest.as_bytes()[amt_len..];
    let exponent = matches!(tail, [b'E', d, ..] if d.is_ascii_digit() || *d == b'+' || *d == b'-');
    if exponent || !matches!(tail.first(), None | Some(b' ' | b'/' | b'A'..=b'Z')) {
        let token: String = rest
            .chars()
            .enumerate()
            .take_while(|(i, c)| *i < amt_len + 1 || !(c.is_ascii_uppercase() || *c == ' '))
            .map(|(_, c)| c)
            .take(20)
            .collect();
        return Err(format!(
            "amount {token:?} is not digits with one decimal comma (SWIFT 15d)"
        ));
    }
    let raw_amount = rest[..amt_len].to_owned();
    let (amount, deviation) = parse_amount_strict(&raw_amount)?;
    let deviation = deviation.map(|d| (d, raw_amount));
    rest = &rest[amt_len..];
    // transaction type: N/F/S + 3 characters (some banks omit it before NONREF)
    let mut type_code = None;
    if !rest.starts_with("NONREF") && matches!(rest.as_bytes().first(), Some(b'N' | b'F' | b'S')) {
        if let Some(t) = rest.get(..4) {
            type_code = Some(t.to_owned());
            rest = &rest[4..];
        }
    }
    let (cust, bank) = match rest.split_once("//") {
        Some((c, b)) => (c.trim(), Some(b.trim())),
        None => (rest.trim(), None),
    };
    let clean = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && !s.eq_ignore_ascii_case("NONREF")).then(|| s.to_owned())
    };
    let mut e = Entry::new(position, amount, cd);
    e.reversal = reversal;
    e.value_date = Some(value_date);
    e.booking_date = Some(booking);
    e.bank_code = type_code;
    e.ntry_ref = clean(cust);
    e.acct_svcr_ref = bank.and_then(clean);
    let mut d = TxDetail {
        position: 1,
        ..TxDetail::default()
    };
    if let Some(s) = supplementary.filter(|s| !s.is_empty()) {
        d.additional_info = Some(s.replace('\n', " "));
    }
    e.details.push(d);
    let fixed = (!fixes.is_empty()).then(|| fixes.join(" and "));
    Ok((e, fixed, deviation))
}

fn set_party(
    d: &mut TxDetail,
    cd: CreditDebit,
    reversal: bool,
    name: Option<String>,
    iban: Option<String>,
) {
    let p = if cd == CreditDebit::Credit || reversal {
        &mut d.debtor
    } else {
        &mut d.creditor
    };
    if name.is_some() {
        p.name = name;
    }
    if iban.is_some() {
        p.iban = iban;
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Reads the `:86:` information into the entry's detail.
fn apply_86(e: &mut Entry, v: &str) {
    let cd = e.credit_debit;
    let rev = e.reversal;
    let joined: String = v.split('\n').collect::<Vec<_>>().join("");
    let b = joined.as_bytes();
    // German structured form: 3-digit GV code then a separator (usually '?') and 2 digits.
    if b.len() >= 6 && b[..3].iter().all(u8::is_ascii_digit) && b[3].is_ascii_punctuation() {
        let sep = b[3] as char;
        let gv = joined[..3].to_owned();
        let mut purpose = String::new();
        let (mut name, mut iban, mut booking_text, mut ret) = (String::new(), None, None, None);
        for part in joined[4..].split(sep) {
            if part.len() < 2 || !part.as_bytes()[..2].iter().all(u8::is_ascii_digit) {
                continue;
            }
            let (k, val) = part.split_at(2);
            match k {
                "00" => booking_text = non_empty(val),
                "20" | "21" | "22" | "23" | "24" | "25" | "26" | "27" | "28" | "29" | "60"
                | "61" | "62" | "63" => purpose.push_str(val),
                "31" => iban = non_empty(val),
                "32" | "33" => name.push_str(val),
                "34" => ret = non_empty(val),
                _ => {}
            }
        }
        e.proprietary_code = Some(gv);
        let d = match e.details.first_mut() {
            Some(d) => d,
            None => return,
        };
        let kw = sepa_keywords(&purpose);
        d.end_to_end_id = kw.eref;
        d.mandate_id = kw.mref;
        d.remittance = kw.svwz.unwrap_or_else(|| purpose.trim().to_owned());
        if d.remittance.is_empty() {
            d.remittance = booking_text.clone().unwrap_or_default();
        }
        if d.additional_info.is_none() {
            d.additional_info = booking_text;
        }
        if let Some(r) = ret {
            if rev
                || r.len() == 4
                    && r.bytes().all(|c| c.is_ascii_alphanumeric())
                    && r.bytes().any(|c| c.is_ascii_alphabetic())
            {
                d.return_reason = Some(r);
            }
        }
        set_party(d, cd, rev, non_empty(&name), iban);
        return;
    }
    // Slash-keyword form (/EREF/…/CNTP/…/REMI/…).
    let found = if joined.starts_with('/') {
        slash_keys(&joined)
    } else {
        Vec::new()
    };
    if joined.starts_with('/')
        && slash_value(
            &joined,
            &found,
            &[
                "EREF", "REMI", "CNTP", "RTRN", "MARF", "PREF", "ORDP", "BENM", "NAME",
            ],
        )
        .is_some()
    {
        let d = match e.details.first_mut() {
            Some(d) => d,
            None => return,
        };
        if let Some(x) = slash_value(&joined, &found, &["EREF"]) {
            d.end_to_end_id = non_empty(&x).filter(|s| s != "NOTPROVIDED");
        }
        if let Some(x) = slash_value(&joined, &found, &["MARF"]) {
            d.mandate_id = non_empty(&x);
        }
        if let Some(x) = slash_value(&joined, &found, &["RTRN"]) {
            d.return_reason = non_empty(x.split('/').next().unwrap_or(""));
        }
        if let Some(x) = slash_value(&joined, &found, &["CNTP", "BENM", "ORDP"]) {
            let parts: Vec<&str> = x.split('/').collect();
            let (iban, name) = if parts.len() >= 3 {
                (non_empty(parts[0]), non_empty(parts[2]))
            } else {
                (
                    None,
                    parts
                        .iter()
                        .find_map(|p| non_empty(p.strip_prefix("NAME").unwrap_or(p))),
                )
            };
            set_party(d, cd, rev, name, iban);
        }
        if let Some(x) = slash_value(&joined, &found, &["REMI"]) {
            let t = x.trim_start_matches("USTD").trim_start_matches('/');
            if let Some(r) = x
                .strip_prefix("STRD/CUR/")
                .or_else(|| x.strip_prefix("STRD//CUR/"))
            {
                d.structured_ref = non_empty(r.trim_end_matches('/'));
            }
            d.remittance = t.trim_end_matches('/').trim().to_owned();
        } else {
            d.remittance = v.replace('\n', " ").trim().to_owned();
        }
        return;
    }
    // Free text.
    if let Some(d) = e.details.first_mut() {
        d.remittance = v
            .split('\n')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
            .trim()
            .to_owned();
    }
}

/// The `/KEY/` words of the slash-keyword form.
const SLASH_KEYS: &[&str] = &[
    "/EREF/", "/REMI/", "/CNTP/", "/RTRN/", "/MARF/", "/PREF/", "/ORDP/", "/BENM/", "/NAME/",
    "/CSID/", "/PURP/", "/ULTC/", "/ULTD/", "/ULTB/", "/TRCD/", "/BUSP/", "/ID/", "/ADDR/",
    "/ISDT/", "/FX/", "/EXCH/", "/IREF/", "/OCMT/", "/CHGS/", "/SVCL/", "/ATTN/", "/RCUR/",
    "/LREF/", "/KREF/",
];

/// Every `/KEY/` of `s` (overlapping ones too), in order: (offset, key).
fn slash_keys(s: &str) -> Vec<(usize, &'static str)> {
    let b = s.as_bytes();
    memchr::memchr_iter(b'/', b)
        .filter_map(|i| {
            let len = memchr::memchr(b'/', b.get(i + 1..)?)?;
            let key = &s[i..i + len + 2];
            SLASH_KEYS.iter().find(|k| **k == key).map(|k| (i, *k))
        })
        .collect()
}

/// The value after the first `/KEY/` of `keys` (in that order of preference) up to the next
/// known `/KEY/` (or the end); `found` is [`slash_keys`] of `s`.
fn slash_value(s: &str, found: &[(usize, &str)], keys: &[&str]) -> Option<String> {
    for k in keys {
        let Some(&(i, pat)) = found
            .iter()
            .find(|(_, p)| p.len() == k.len() + 2 && p[1..].starts_with(k))
        else {
            continue;
        };
        let start = i + pat.len();
        let end = found
            .iter()
            .map(|(p, _)| *p)
            .find(|p| *p >= start)
            .unwrap_or(s.len());
        let mut v = s[start..end].to_owned();
        // a value ending at a key boundary ("…//REMI/") keeps its trailing slashes out
        while v.ends_with('/') {
            v.pop();
        }
        return Some(v);
    }
    None
}

#[derive(Default)]
struct Keywords {
    eref: Option<String>,
    mref: Option<String>,
    svwz: Option<String>,
}

/// SEPA keywords of the German purpose lines (DFÜ-Abkommen): `EREF+`, `MREF+`, `SVWZ+` …
fn sepa_keywords(p: &str) -> Keywords {
    const KEYS: &[&str] = &[
        "EREF+", "KREF+", "MREF+", "CRED+", "DEBT+", "SVWZ+", "ABWA+", "ABWE+", "COAM+", "OAMT+",
    ];
    let mut found: Vec<(usize, &str)> = KEYS
        .iter()
        .filter_map(|k| p.find(k).map(|i| (i, *k)))
        .collect();
    found.sort();
    let mut kw = Keywords::default();
    for (n, (i, k)) in found.iter().enumerate() {
        let end = found.get(n + 1).map_or(p.len(), |x| x.0);
        let val = p[i + k.len()..end].trim().to_owned();
        match *k {
            "EREF+" => kw.eref = (!val.is_empty() && val != "NOTPROVIDED").then_some(val),
            "MREF+" => kw.mref = (!val.is_empty()).then_some(val),
            "SVWZ+" => kw.svwz = Some(val),
            _ => {}
        }
    }
    kw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("100,00"), Some(Decimal::new(10000, 2)));
        assert_eq!(parse_amount("380115,"), Some(Decimal::from(380115)));
        assert_eq!(parse_amount("1,2,3"), None);
        assert_eq!(parse_amount("12.3"), Some(Decimal::new(123, 1)));
        assert_eq!(parse_amount("12,3.4"), None);
        assert_eq!(parse_amount("500"), Some(Decimal::from(500)));
    }

    #[test]
    fn multibyte_text_never_splits_a_character() {
        // regression (fuzz): a non-ASCII character right after the N of the type code, and
        // as the :86: separator
        assert!(parse_61("2009020902D20,00N\u{80}ONREF", 1).is_ok());
        assert!(parse_61("2009020902D20,00N\u{e9}", 1).is_ok());
        let mut e = Entry::new(1, Decimal::ONE, CreditDebit::Credit);
        e.details.push(TxDetail::default());
        apply_86(&mut e, "166\u{e9}00TEXT?20SVWZ+X");
        let text = ":20:X\n:25:A\n:60F:C200101EUR1,00\n:61:2001010101C1,00N\u{e9}\n:86:999\u{e9}\n:62F:C200101EUR2,00\n";
        let _ = parse_events(text.as_bytes());
    }

    #[test]
    fn line_61() {
        let (e, _, _) = parse_61("1907310731CP100,00FFPC913000381", 1).unwrap();
        assert_eq!(e.amount, Decimal::new(10000, 2));
        assert_eq!(e.ntry_ref.as_deref(), Some("913000381"));
        let (e, _, _) = parse_61("0203170320RC5000,00S05168790452", 1).unwrap();
        assert!(e.reversal);
        assert_eq!(e.credit_debit, CreditDebit::Debit);
        let (e, _, _) = parse_61("2606210621CR500,00NMSCREF1//CREF1", 1).unwrap();
        let err = parse_61("2601010101C1e9NTRFNONREF", 1).unwrap_err();
        assert!(err.contains("\"1e9\""), "{err}");
        assert!(parse_61("2601010101C1,2,3NTRF", 1).is_err());
        assert!(parse_61(&format!("2601010101C{},00NTRF", "9".repeat(28)), 1).is_err());
        assert_eq!(e.acct_svcr_ref.as_deref(), Some("CREF1"));
        assert_eq!(e.bank_code.as_deref(), Some("NMSC"));
    }

    #[test]
    fn a_statement_cut_before_its_closing_balance_makes_the_file_unusable() {
        let whole = ":20:S1\n:25:FR7630006000011234567890189\n:28C:1\n:60F:C260105EUR100,00\n\
                     :61:2601050105C50,00NTRFNONREF//BQ1\n:86:VT2026-001 ACME\n:62F:C260105EUR150,00\n-\n";
        let cut = &whole[..whole.find(" ACME").unwrap()];
        let rules = |t: &str| -> Vec<(Severity, String)> {
            parse_events(t.as_bytes())
                .into_iter()
                .filter_map(|e| match e {
                    BankEvent::Diagnostic(d) => Some((d.severity, d.rule)),
                    _ => None,
                })
                .collect()
        };
        assert!(!rules(whole).iter().any(|(s, _)| *s == Severity::Fatal));
        assert!(rules(cut).contains(&(Severity::Warning, "MT940-CUT".to_owned())));
        // An interim report (MT942) has no closing balance.
        let mt942 = format!("{{2:I942BANK}}\n{}", &whole[..whole.find(":62F:").unwrap()]);
        assert!(!rules(&mt942).iter().any(|(_, r)| r == "MT940-CUT"));
    }
}
