//! ISO 20022 camt.052 / camt.053 / camt.054 (versions .001.01 to .001.14, with or without
//! namespace), read as a stream of events over any `BufRead` in constant memory.
//!
//! The reader keeps only the element path (as bytes), the entry being built and its
//! details; it never builds a DOM. Elements are recognised by their path relative to the
//! record (`Stmt`, `Rpt`, `Ntfctn`), the entry (`Ntry`) or the detail (`TxDtls`), so the
//! namespace prefix and version do not matter: the element names these versions share are
//! what is read, and the v8+ nestings (`Sts/Cd`, `Dbtr/Pty/Nm`, `TxDtls/Amt`) are read too.

use super::model::{Balance, BankFormat, CreditDebit, Entry, Statement, TxDetail};
use super::BankEvent;
use crate::formats::decimal;
use crate::formats::diag::{Diagnostic, Severity};
use chrono::NaiveDate;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::io::BufRead;

/// Longest text kept for one element; longer text is cut (bounded memory on hostile input).
const MAX_TEXT: usize = 64 * 1024;
/// Deepest element nesting accepted (camt needs about 15).
const MAX_DEPTH: usize = 64;

/// The ISO 20022 amount type (`ActiveOrHistoricCurrencyAndAmount`): an `xs:decimal` without
/// sign, at most 18 digits of which at most 5 are fraction digits.
pub const AMOUNT: decimal::Limits = decimal::Limits {
    total_digits: Some(18),
    fraction_digits: Some(5),
    signed: false,
};

/// Parses a camt amount ([`AMOUNT`]): `None` when it is not one.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    decimal::parse(s, AMOUNT).ok()
}

/// Parses a camt amount, with the reason when it is not one.
fn amount_or_reason(s: &str) -> Result<Decimal, String> {
    decimal::parse(s, AMOUNT)
        .map_err(|e| format!("{} is not an ISO 20022 amount ({e})", decimal::shown(s)))
}

/// Parses an ISO date or date-time, keeping the calendar date as written (the bank's local
/// date, not converted to UTC).
pub fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    let d = t.get(..10)?;
    let rest = &t[10..];
    if !(rest.is_empty()
        || rest.starts_with('T')
        || rest.starts_with('Z')
        || rest.starts_with(['+', '-']))
    {
        return None;
    }
    NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
}

#[derive(Default)]
struct BalB {
    code: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    cdi: Option<String>,
    date: Option<String>,
}

#[derive(Default)]
struct CodeB {
    domain: Option<String>,
    family: Option<String>,
    subfamily: Option<String>,
    prtry: Option<String>,
}

impl CodeB {
    fn iso(&self) -> Option<String> {
        let d = self.domain.as_deref()?;
        let mut s = d.to_owned();
        if let Some(f) = &self.family {
            s.push('/');
            s.push_str(f);
            if let Some(sf) = &self.subfamily {
                s.push('/');
                s.push_str(sf);
            }
        }
        Some(s)
    }
}

struct EntryB {
    e: Entry,
    amount: Option<String>,
    cdi: Option<String>,
    reversal: Option<String>,
    code: CodeB,
    charges: Charges,
    booking: Option<String>,
    value: Option<String>,
}

/// Charges as written: the total, else the sum of the amounts, checked when the element ends.
#[derive(Default)]
struct Charges {
    total: Option<String>,
    amounts: Vec<String>,
}

#[derive(Default)]
struct DetailB {
    d: TxDetail,
    amt_direct: Option<(String, Option<String>)>,
    amt_tx: Option<(String, Option<String>)>,
    amt_instd: Option<(String, Option<String>)>,
    cdi: Option<String>,
    code: CodeB,
    charges: Charges,
}

/// Longest run of bytes without `<` or `>` let through to the XML parser: camt's texts and
/// tags are short, and the parser would hold a longer run whole before giving it.
pub const MAX_MARKUP_RUN: usize = 1024 * 1024;

/// Passes bytes through, and fails the read once more than [`MAX_MARKUP_RUN`] bytes went by
/// without a `<` or `>` (a text or a tag that would be buffered whole).
pub struct Bounded<R: BufRead> {
    inner: R,
    run: usize,
}

impl<R: BufRead> Bounded<R> {
    fn new(inner: R) -> Self {
        Self { inner, run: 0 }
    }
}

impl<R: BufRead> std::io::Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.run > MAX_MARKUP_RUN {
            return Err(std::io::Error::other(format!(
                "more than {MAX_MARKUP_RUN} bytes without markup (a text or tag that long is no camt)"
            )));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let seen = &buf[..amt.min(buf.len())];
            match seen.iter().rposition(|c| *c == b'<' || *c == b'>') {
                Some(i) => self.run = seen.len() - i - 1,
                None => self.run += seen.len(),
            }
        }
        self.inner.consume(amt);
    }
}

/// A streaming camt reader: an iterator of [`BankEvent`]s.
pub struct CamtReader<R: BufRead> {
    reader: Reader<Bounded<R>>,
    buf: Vec<u8>,
    name: Vec<u8>,
    attr_ccy: Option<String>,
    attr_xmlns: Option<String>,
    path: Vec<u8>,
    lens: Vec<usize>,
    text: String,
    pending: VecDeque<BankEvent>,
    done: bool,
    // document level
    root_seen: bool,
    container_depth: Option<usize>,
    ns_message: Option<String>,
    format: Option<BankFormat>,
    message: String,
    // record level
    rec_base: Option<usize>,
    stmt: Option<Statement>,
    header_sent: bool,
    late_balances: Vec<Balance>,
    bal: Option<BalB>,
    entry: Option<EntryB>,
    ntry_base: usize,
    detail: Option<DetailB>,
    dtl_base: usize,
    records: usize,
    entries_in_stmt: usize,
    good_entries: usize,
    bad_entries: usize,
}

impl<R: BufRead> CamtReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        let mut reader = Reader::from_reader(Bounded::new(input));
        reader.config_mut().trim_text(true);
        reader.config_mut().expand_empty_elements = false;
        Self {
            reader,
            buf: Vec::with_capacity(4096),
            name: Vec::with_capacity(64),
            attr_ccy: None,
            attr_xmlns: None,
            path: Vec::with_capacity(256),
            lens: Vec::with_capacity(32),
            text: String::with_capacity(256),
            pending: VecDeque::new(),
            done: false,
            root_seen: false,
            container_depth: None,
            ns_message: None,
            format: None,
            message: String::new(),
            rec_base: None,
            stmt: None,
            header_sent: false,
            late_balances: Vec::new(),
            bal: None,
            entry: None,
            ntry_base: 0,
            detail: None,
            dtl_base: 0,
            records: 0,
            entries_in_stmt: 0,
            good_entries: 0,
            bad_entries: 0,
        }
    }

    fn fatal(&mut self, rule: &str, path: &str, msg: String) {
        self.pending
            .push_back(BankEvent::Diagnostic(Diagnostic::new(
                Severity::Fatal,
                rule,
                path,
                msg,
            )));
        self.done = true;
    }

    fn diag(&mut self, sev: Severity, rule: &str, path: String, msg: String) {
        self.pending
            .push_back(BankEvent::Diagnostic(Diagnostic::new(sev, rule, path, msg)));
    }

    fn where_entry(&self) -> String {
        let s = self.stmt.as_ref().map_or(0, |s| s.position);
        format!(
            "{}[{}]/Ntry[{}]",
            self.record_name(),
            s,
            self.entries_in_stmt
        )
    }

    fn record_name(&self) -> &'static str {
        match self.format {
            Some(BankFormat::Camt052) => "Rpt",
            Some(BankFormat::Camt054) => "Ntfctn",
            _ => "Stmt",
        }
    }

    /// Reads `Ccy` (amount elements) and the namespace (root or message element); attributes
    /// of other elements are not looked at (they carry nothing relance reads).
    fn capture_attrs(e: &BytesStart<'_>, ccy: &mut Option<String>, xmlns: &mut Option<String>) {
        *ccy = None;
        for a in e.attributes().flatten() {
            let key = a.key.as_ref();
            if key == b"Ccy" {
                *ccy = Some(String::from_utf8_lossy(&a.value).trim().to_owned());
            } else if key == b"xmlns"
                || (key.starts_with(b"xmlns:")
                    && a.value.as_ref().starts_with(b"urn:iso:std:iso:20022"))
            {
                *xmlns = Some(String::from_utf8_lossy(&a.value).trim().to_owned());
            }
        }
    }

    fn step(&mut self) {
        enum Tok {
            Start,
            Empty,
            End,
            Text,
            Eof,
            Other,
            Error(String),
        }
        let tok = match self.reader.read_event_into(&mut self.buf) {
            Ok(Event::Start(e)) => {
                self.name.clear();
                self.name.extend_from_slice(e.local_name().as_ref());
                if self.lens.len() <= 1 || self.name.ends_with(b"Amt") {
                    Self::capture_attrs(&e, &mut self.attr_ccy, &mut self.attr_xmlns);
                } else {
                    self.attr_ccy = None;
                }
                Tok::Start
            }
            Ok(Event::Empty(e)) => {
                self.name.clear();
                self.name.extend_from_slice(e.local_name().as_ref());
                if self.lens.len() <= 1 || self.name.ends_with(b"Amt") {
                    Self::capture_attrs(&e, &mut self.attr_ccy, &mut self.attr_xmlns);
                } else {
                    self.attr_ccy = None;
                }
                Tok::Empty
            }
            Ok(Event::End(_)) => Tok::End,
            Ok(Event::Text(t)) => {
                if self.text.len() < MAX_TEXT {
                    match t.unescape() {
                        Ok(s) => self.text.push_str(&s),
                        Err(_) => self.text.push_str(&String::from_utf8_lossy(&t)),
                    }
                }
                Tok::Text
            }
            Ok(Event::CData(c)) => {
                if self.text.len() < MAX_TEXT {
                    self.text.push_str(&String::from_utf8_lossy(&c));
                }
                Tok::Text
            }
            Ok(Event::Eof) => Tok::Eof,
            Ok(_) => Tok::Other,
            Err(e) => Tok::Error(e.to_string()),
        };
        self.buf.clear();
        match tok {
            Tok::Start => self.on_start(),
            Tok::Empty => {
                self.on_start();
                if !self.done {
                    self.on_end();
                }
            }
            Tok::End => self.on_end(),
            Tok::Text => {
                if self.text.len() > MAX_TEXT {
                    let mut cut = MAX_TEXT;
                    while !self.text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    self.text.truncate(cut);
                }
                if self.text.contains("{{") || self.text.contains("{%") {
                    let t: String = self.text.chars().take(40).collect();
                    let at = String::from_utf8_lossy(&self.path).to_string();
                    self.fatal(
                        "CAMT-TEMPLATE",
                        &at,
                        format!("file is a template, not a statement: it contains the placeholder {t:?}"),
                    );
                } else if !self.root_seen {
                    self.fatal(
                        "BANK-FORMAT",
                        "/",
                        "text before any XML element: not a camt XML message".to_owned(),
                    );
                }
            }
            Tok::Eof => self.on_eof(),
            Tok::Other => {}
            Tok::Error(msg) => {
                let pos = self.reader.error_position();
                self.fatal(
                    "XML-SYNTAX",
                    &format!("byte {pos}"),
                    format!("malformed XML: {msg}"),
                );
            }
        }
    }

    fn on_eof(&mut self) {
        if !self.root_seen {
            self.fatal(
                "BANK-FORMAT",
                "/",
                "no XML element found: not a camt message".to_owned(),
            );
            return;
        }
        if !self.lens.is_empty() {
            let p = String::from_utf8_lossy(&self.path).into_owned();
            self.fatal("XML-SYNTAX", &p, format!("file ends inside {p}: truncated"));
            return;
        }
        if self.records == 0 {
            let what = self.record_name();
            self.fatal(
                "BANK-EMPTY",
                "/",
                format!("the message holds no {what} element: nothing to import (an empty or wrong message)"),
            );
            return;
        }
        if self.bad_entries > 0 && self.good_entries == 0 {
            let n = self.bad_entries;
            self.fatal(
                "BANK-AMOUNT",
                "/",
                format!("no usable entry: all {n} entries are invalid"),
            );
            return;
        }
        self.done = true;
    }

    fn on_start(&mut self) {
        if self.lens.len() >= MAX_DEPTH {
            self.fatal(
                "XML-SYNTAX",
                "/",
                format!("elements nested deeper than {MAX_DEPTH}"),
            );
            return;
        }
        self.lens.push(self.path.len());
        self.path.push(b'/');
        self.path.extend_from_slice(&self.name);
        self.text.clear();
        let depth = self.lens.len();
        if depth == 1 {
            self.root_seen = true;
            if self.name == b"Document" {
                if let Some(ns) = self.attr_xmlns.clone() {
                    match message_from_namespace(&ns) {
                        Some(m) => self.ns_message = Some(m),
                        None => {
                            self.fatal(
                                "BANK-FORMAT",
                                "/Document",
                                format!(
                                    "namespace {ns:?} is not an ISO 20022 camt.052/053/054 message"
                                ),
                            );
                            return;
                        }
                    }
                }
                return;
            }
        }
        if self.container_depth.is_none() && depth <= 2 {
            let name = String::from_utf8_lossy(&self.name).into_owned();
            match container_format(&name) {
                Some(f) => {
                    self.container_depth = Some(depth);
                    self.format = Some(f);
                    let kind = format!("camt.{}", &f.as_str()[4..]);
                    self.message = match self.ns_message.clone() {
                        Some(m) => {
                            if !m.starts_with(&kind) {
                                self.diag(
                                    Severity::Warning,
                                    "CAMT-NAMESPACE",
                                    "/Document".into(),
                                    format!("namespace says {m} but the message element is {name}; read as {kind}"),
                                );
                            }
                            m
                        }
                        None => format!("{kind} (no namespace)"),
                    };
                    self.pending.push_back(BankEvent::Format {
                        format: f,
                        message: self.message.clone(),
                    });
                }
                None => {
                    let p = String::from_utf8_lossy(&self.path).into_owned();
                    self.fatal(
                        "BANK-FORMAT",
                        &p,
                        format!(
                            "element {name} is not a camt statement (BkToCstmrStmt), report (BkToCstmrAcctRpt) or notification (BkToCstmrDbtCdtNtfctn)"
                        ),
                    );
                }
            }
            return;
        }
        let Some(cd) = self.container_depth else {
            return;
        };
        if depth == cd + 1 && matches!(self.name.as_slice(), b"Stmt" | b"Rpt" | b"Ntfctn") {
            self.records += 1;
            self.rec_base = Some(self.path.len());
            self.stmt = Some(Statement {
                position: self.records,
                message: self.message.clone(),
                ..Statement::default()
            });
            self.header_sent = false;
            self.entries_in_stmt = 0;
            return;
        }
        let Some(rb) = self.rec_base else { return };
        if self.entry.is_none() {
            let rel = &self.path[rb..];
            if rel == b"/Bal" {
                self.bal = Some(BalB::default());
            } else if rel == b"/Ntry" {
                if !self.header_sent {
                    self.send_header();
                }
                self.entries_in_stmt += 1;
                self.ntry_base = self.path.len();
                self.entry = Some(EntryB {
                    e: Entry::new(self.entries_in_stmt, Decimal::ZERO, CreditDebit::Credit),
                    amount: None,
                    cdi: None,
                    reversal: None,
                    code: CodeB::default(),
                    charges: Charges::default(),
                    booking: None,
                    value: None,
                });
            }
        } else if self.detail.is_none() && &self.path[self.ntry_base..] == b"/NtryDtls/TxDtls" {
            let n = self.entry.as_ref().map_or(0, |e| e.e.details.len()) + 1;
            self.dtl_base = self.path.len();
            self.detail = Some(DetailB {
                d: TxDetail {
                    position: n,
                    ..TxDetail::default()
                },
                ..DetailB::default()
            });
        }
    }

    fn send_header(&mut self) {
        if let Some(s) = &self.stmt {
            self.pending.push_back(BankEvent::Statement(s.clone()));
        }
        self.header_sent = true;
    }

    fn on_end(&mut self) {
        let path = std::mem::take(&mut self.path);
        self.end_with(&path);
        self.path = path;
        if let Some(l) = self.lens.pop() {
            self.path.truncate(l);
        }
        self.text.clear();
    }

    fn end_with(&mut self, path: &[u8]) {
        let Some(rb) = self.rec_base else { return };
        if path.len() < rb {
            return;
        }
        if path.len() == rb {
            // end of the record
            if !self.header_sent {
                self.send_header();
            }
            let late = std::mem::take(&mut self.late_balances);
            self.pending.push_back(BankEvent::StatementEnd {
                late_balances: late,
            });
            self.rec_base = None;
            self.stmt = None;
            return;
        }
        let text = self.text.trim();
        if let Some(eb) = self.entry.as_mut() {
            if path.len() < self.ntry_base {
                return;
            }
            if path.len() == self.ntry_base {
                self.finish_entry();
                return;
            }
            if let Some(db) = self.detail.as_mut() {
                if path.len() > self.dtl_base {
                    detail_leaf(db, &path[self.dtl_base..], text, &self.attr_ccy);
                    return;
                }
                if path.len() == self.dtl_base {
                    self.finish_detail();
                    return;
                }
            }
            entry_leaf(eb, &path[self.ntry_base..], text, &self.attr_ccy);
            return;
        }
        let rel = &path[rb..];
        if let Some(b) = self.bal.as_mut() {
            if rel == b"/Bal" {
                self.finish_balance();
                return;
            }
            match rel {
                b"/Bal/Tp/CdOrPrtry/Cd"
                | b"/Bal/Tp/CdOrPrtry/Prtry"
                | b"/Bal/Tp/Cd"
                | b"/Bal/Tp/Prtry" => b.code = Some(text.to_owned()),
                b"/Bal/Amt" => {
                    b.amount = Some(text.to_owned());
                    b.currency = self.attr_ccy.clone();
                }
                b"/Bal/CdtDbtInd" => b.cdi = Some(text.to_owned()),
                b"/Bal/Dt/Dt" | b"/Bal/Dt/DtTm" => b.date = non_empty(text),
                _ => {}
            }
            return;
        }
        if let Some(s) = self.stmt.as_mut() {
            match rel {
                b"/Id" => s.id = Some(text.to_owned()),
                b"/Acct/Id/IBAN" => s.account = Some(text.to_owned()),
                b"/Acct/Id/Othr/Id" | b"/Acct/Id/PrtryAcct/Id" | b"/Acct/Id/BBAN"
                    if s.account.is_none() =>
                {
                    s.account = Some(text.to_owned());
                }
                b"/Acct/Ccy" => s.currency = Some(text.to_owned()),
                _ => {}
            }
        }
    }

    /// A date element's value, with an error naming it when it is not a calendar date (`at`:
    /// the element's path, relative to the current entry when it starts with `/`).
    fn date(&mut self, raw: Option<&str>, at: &str, what: &str) -> Option<NaiveDate> {
        let raw = raw?;
        let d = parse_iso_date(raw);
        if d.is_none() {
            let path = if at.starts_with('/') {
                format!("{}{at}", self.where_entry())
            } else {
                at.to_owned()
            };
            self.diag(
                Severity::Error,
                "BANK-DATE",
                path,
                format!(
                    "{what} {} is not a calendar date (ISO 8601 YYYY-MM-DD); none is assumed",
                    decimal::shown(raw)
                ),
            );
        }
        d
    }

    /// Charges: the total, else the sum of the amounts; a warning for one that is no amount.
    fn charges(&mut self, c: &Charges, at: &str) -> Option<Decimal> {
        let read = |raw: &str, me: &mut Self| match amount_or_reason(raw) {
            Ok(a) => Some(a),
            Err(why) => {
                me.diag(
                    Severity::Warning,
                    "BANK-AMOUNT",
                    format!("{at}/Chrgs"),
                    format!("charges amount {why}; not read"),
                );
                None
            }
        };
        if let Some(t) = c.total.as_deref() {
            if let Some(a) = read(t, self) {
                return Some(a);
            }
        }
        let mut sum: Option<Decimal> = None;
        for a in &c.amounts {
            if let Some(v) = read(a, self) {
                sum = Some(sum.unwrap_or_default() + v);
            }
        }
        sum
    }

    fn finish_balance(&mut self) {
        let Some(b) = self.bal.take() else { return };
        let n = self
            .stmt
            .as_ref()
            .map_or(0, |s| s.balances.len() + self.late_balances.len())
            + 1;
        let where_ = format!("{}[{}]/Bal[{n}]", self.record_name(), self.records);
        let amount = match b.amount.as_deref().map(amount_or_reason) {
            Some(Ok(a)) => a,
            Some(Err(why)) => {
                self.diag(
                    Severity::Error,
                    "BANK-AMOUNT",
                    format!("{where_}/Amt"),
                    format!("balance amount {why}; balance ignored"),
                );
                return;
            }
            None => {
                self.diag(
                    Severity::Error,
                    "BANK-AMOUNT",
                    format!("{where_}/Amt"),
                    "balance without an amount; balance ignored".to_owned(),
                );
                return;
            }
        };
        let date = self.date(b.date.as_deref(), &format!("{where_}/Dt"), "balance date");
        let signed = match b.cdi.as_deref().map(CreditDebit::parse) {
            Some(Some(cd)) => cd.signed(amount),
            Some(None) | None => {
                // Real files (some Lithuanian banks) omit CdtDbtInd on balances: read as credit.
                if b.cdi.is_some() {
                    self.diag(
                        Severity::Warning,
                        "CAMT-CDTDBTIND",
                        where_.clone(),
                        format!(
                            "balance indicator {:?} is neither CRDT nor DBIT; read as credit",
                            b.cdi.unwrap_or_default()
                        ),
                    );
                }
                amount
            }
        };
        let bal = Balance {
            code: b.code.unwrap_or_else(|| "UNKNOWN".to_owned()),
            amount: signed,
            currency: b.currency,
            date,
        };
        if self.header_sent {
            self.diag(
                Severity::Warning,
                "CAMT-ORDER",
                where_,
                "balance after the entries (the schema puts balances first); kept".to_owned(),
            );
            self.late_balances.push(bal);
        } else if let Some(s) = self.stmt.as_mut() {
            s.balances.push(bal);
        }
    }

    fn finish_detail(&mut self) {
        let Some(db) = self.detail.take() else { return };
        let mut d = db.d;
        let amt = db.amt_direct.or(db.amt_tx).or(db.amt_instd);
        let dpos = d.position;
        let at = |me: &Self| format!("{}/TxDtls[{dpos}]", me.where_entry());
        if let Some((raw, ccy)) = amt {
            match amount_or_reason(&raw) {
                Ok(a) => {
                    d.amount = Some(a);
                    d.currency = ccy;
                }
                Err(why) => {
                    let path = format!("{}/Amt", at(self));
                    self.diag(
                        Severity::Error,
                        "BANK-AMOUNT",
                        path,
                        format!("transaction amount {why}; detail kept without amount (the entry's amount is used)"),
                    )
                }
            }
        }
        if c_any(&db.charges) {
            let path = at(self);
            d.charges = self.charges(&db.charges, &path);
        }
        if let Some(c) = db.cdi {
            d.credit_debit = CreditDebit::parse(&c);
        }
        d.bank_code = db.code.iso().or(db.code.prtry);
        if let Some(eb) = self.entry.as_mut() {
            eb.e.details.push(d);
        }
    }

    fn finish_entry(&mut self) {
        let Some(eb) = self.entry.take() else { return };
        let mut e = eb.e;
        let amount = match eb.amount.as_deref().map(amount_or_reason) {
            Some(Ok(a)) => a,
            other => {
                let why = match other {
                    Some(Err(why)) => why,
                    _ => "is missing".to_owned(),
                };
                self.bad_entries += 1;
                self.diag(
                    Severity::Error,
                    "BANK-AMOUNT",
                    self.where_entry() + "/Amt",
                    format!("entry amount {why}; entry skipped, the rest of the file is kept"),
                );
                return;
            }
        };
        let Some(cd) = eb.cdi.as_deref().and_then(CreditDebit::parse) else {
            self.bad_entries += 1;
            let raw = eb.cdi.unwrap_or_default();
            self.diag(
                Severity::Error,
                "CAMT-CDTDBTIND",
                self.where_entry() + "/CdtDbtInd",
                format!("credit/debit indicator {raw:?} is neither CRDT nor DBIT; entry skipped"),
            );
            return;
        };
        e.amount = amount;
        e.credit_debit = cd;
        e.reversal = eb
            .reversal
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("true") || r == "1");
        e.bank_code = eb.code.iso().or_else(|| eb.code.prtry.clone());
        if eb.code.domain.is_some() {
            e.proprietary_code = eb.code.prtry;
        }
        let at = self.where_entry();
        e.charges = self.charges(&eb.charges, &at);
        e.booking_date = self.date(
            eb.booking.as_deref(),
            &format!("{at}/BookgDt"),
            "booking date",
        );
        e.value_date = self.date(eb.value.as_deref(), &format!("{at}/ValDt"), "value date");
        self.good_entries += 1;
        self.pending.push_back(BankEvent::Entry(e));
    }
}

fn set_code(code: &mut CodeB, rel: &[u8], text: &str) -> bool {
    match rel {
        b"/BkTxCd/Domn/Cd" => code.domain = Some(text.to_owned()),
        b"/BkTxCd/Domn/Fmly/Cd" => code.family = Some(text.to_owned()),
        b"/BkTxCd/Domn/Fmly/SubFmlyCd" => code.subfamily = Some(text.to_owned()),
        b"/BkTxCd/Prtry/Cd" => code.prtry = Some(text.to_owned()),
        _ => return false,
    }
    true
}

fn set_charges(c: &mut Charges, rel: &[u8], text: &str) -> bool {
    match rel {
        b"/Chrgs/TtlChrgsAndTaxAmt" => c.total = Some(text.to_owned()),
        b"/Chrgs/Amt" | b"/Chrgs/Rcrd/Amt" => {
            if c.amounts.len() < 64 {
                c.amounts.push(text.to_owned());
            }
        }
        _ => return false,
    }
    true
}

/// True when any charges were given.
fn c_any(c: &Charges) -> bool {
    c.total.is_some() || !c.amounts.is_empty()
}

fn non_empty(text: &str) -> Option<String> {
    if text.is_empty() {
        None
    } else {
        Some(text.to_owned())
    }
}

fn entry_leaf(eb: &mut EntryB, rel: &[u8], text: &str, ccy: &Option<String>) {
    if set_code(&mut eb.code, rel, text) || set_charges(&mut eb.charges, rel, text) {
        return;
    }
    let e = &mut eb.e;
    match rel {
        b"/Amt" => {
            eb.amount = Some(text.to_owned());
            e.currency = ccy.clone();
        }
        b"/CdtDbtInd" => eb.cdi = Some(text.to_owned()),
        b"/RvslInd" => eb.reversal = Some(text.to_owned()),
        b"/Sts" | b"/Sts/Cd" | b"/Sts/Prtry" => e.status = non_empty(text),
        b"/BookgDt/Dt" | b"/BookgDt/DtTm" => eb.booking = non_empty(text),
        b"/ValDt/Dt" | b"/ValDt/DtTm" => eb.value = non_empty(text),
        b"/AcctSvcrRef" => e.acct_svcr_ref = non_empty(text),
        b"/NtryRef" => e.ntry_ref = non_empty(text),
        b"/AddtlNtryInf" => e.additional_info = non_empty(text),
        b"/NtryDtls/Btch/NbOfTxs" => e.batch_count = text.parse().ok(),
        _ => {}
    }
}

fn detail_leaf(db: &mut DetailB, rel: &[u8], text: &str, ccy: &Option<String>) {
    if set_code(&mut db.code, rel, text) || set_charges(&mut db.charges, rel, text) {
        return;
    }
    let d = &mut db.d;
    match rel {
        b"/Refs/AcctSvcrRef" => d.acct_svcr_ref = non_empty(text),
        b"/Refs/InstrId" => d.instr_id = non_empty(text),
        b"/Refs/TxId" => d.tx_id = non_empty(text),
        // "NOTPROVIDED" is the SEPA placeholder for an absent end-to-end id.
        b"/Refs/EndToEndId" if !text.eq_ignore_ascii_case("NOTPROVIDED") => {
            d.end_to_end_id = non_empty(text)
        }
        b"/Refs/MndtId" => d.mandate_id = non_empty(text),
        b"/Amt" => db.amt_direct = Some((text.to_owned(), ccy.clone())),
        b"/AmtDtls/TxAmt/Amt" => db.amt_tx = Some((text.to_owned(), ccy.clone())),
        b"/AmtDtls/InstdAmt/Amt" => db.amt_instd = Some((text.to_owned(), ccy.clone())),
        b"/CdtDbtInd" => db.cdi = Some(text.to_owned()),
        b"/RltdPties/Dbtr/Nm" | b"/RltdPties/Dbtr/Pty/Nm" => d.debtor.name = non_empty(text),
        b"/RltdPties/DbtrAcct/Id/IBAN" => d.debtor.iban = non_empty(text),
        b"/RltdPties/DbtrAcct/Id/Othr/Id" if d.debtor.iban.is_none() => {
            d.debtor.iban = non_empty(text)
        }
        b"/RltdPties/UltmtDbtr/Nm" | b"/RltdPties/UltmtDbtr/Pty/Nm" => {
            d.ultimate_debtor = non_empty(text)
        }
        b"/RltdPties/Cdtr/Nm" | b"/RltdPties/Cdtr/Pty/Nm" => d.creditor.name = non_empty(text),
        b"/RltdPties/CdtrAcct/Id/IBAN" => d.creditor.iban = non_empty(text),
        b"/RltdPties/CdtrAcct/Id/Othr/Id" if d.creditor.iban.is_none() => {
            d.creditor.iban = non_empty(text)
        }
        b"/RltdPties/UltmtCdtr/Nm" | b"/RltdPties/UltmtCdtr/Pty/Nm" => {
            d.ultimate_creditor = non_empty(text)
        }
        b"/RmtInf/Ustrd" if !text.is_empty() => {
            if !d.remittance.is_empty() {
                d.remittance.push(' ');
            }
            d.remittance.push_str(text);
        }
        b"/RmtInf/Strd/CdtrRefInf/Ref" if d.structured_ref.is_none() => {
            d.structured_ref = non_empty(text)
        }
        b"/RtrInf/Rsn/Cd" | b"/RtrInf/Rsn/Prtry" => d.return_reason = non_empty(text),
        b"/AddtlTxInf" => d.additional_info = non_empty(text),
        _ => {}
    }
}

/// `camt.053.001.02` from `urn:iso:std:iso:20022:tech:xsd:camt.053.001.02`; `None` when the
/// namespace is not a camt.052/053/054 one.
pub fn message_from_namespace(ns: &str) -> Option<String> {
    let i = ns.find("camt.05")?;
    let m = &ns[i..];
    let m: String = m
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    if m.starts_with("camt.052") || m.starts_with("camt.053") || m.starts_with("camt.054") {
        Some(m)
    } else {
        None
    }
}

fn container_format(name: &str) -> Option<BankFormat> {
    // camt.05x.001.01 suffixes the element with the version (BkToCstmrAcctRptV01).
    let base = match name.rfind('V') {
        Some(i)
            if i > 0 && name[i + 1..].bytes().all(|c| c.is_ascii_digit()) && name.len() > i + 1 =>
        {
            &name[..i]
        }
        _ => name,
    };
    match base {
        "BkToCstmrStmt" => Some(BankFormat::Camt053),
        "BkToCstmrAcctRpt" => Some(BankFormat::Camt052),
        "BkToCstmrDbtCdtNtfctn" => Some(BankFormat::Camt054),
        _ => None,
    }
}

impl<R: BufRead> Iterator for CamtReader<R> {
    type Item = BankEvent;

    fn next(&mut self) -> Option<BankEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            self.step();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_strict() {
        assert_eq!(parse_amount("12.34"), Some(Decimal::new(1234, 2)));
        assert_eq!(parse_amount("1.23456"), Some(Decimal::new(123456, 5)));
        assert_eq!(parse_amount("12..34"), None);
        assert_eq!(parse_amount("-1"), None);
        assert_eq!(parse_amount("1e3"), None);
        assert_eq!(parse_amount(""), None);
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            message_from_namespace("urn:iso:std:iso:20022:tech:xsd:camt.053.001.02").as_deref(),
            Some("camt.053.001.02")
        );
        assert_eq!(message_from_namespace("urn:weird-namespace"), None);
        assert_eq!(
            container_format("BkToCstmrAcctRptV01"),
            Some(BankFormat::Camt052)
        );
        assert_eq!(container_format("BkToCstmrStmt"), Some(BankFormat::Camt053));
        assert_eq!(container_format("Foo"), None);
    }
}
