//! SWIFT MT940 customer statements (and MT942 interim reports), including the structured
//! `:86:` forms: German `?NN` subfields (GV code, `?20`-`?29` purpose with `EREF+`/`MREF+`/
//! `SVWZ+` keywords, `?30` BIC, `?31` IBAN, `?32`-`?33` name) and the slash-keyword form used
//! by French, Dutch and other banks (`/EREF/`, `/CNTP/iban/bic/name/`, `/REMI/USTD//text`,
//! `/RTRN/reason`, `/MARF/mandate`).
//!
//! Mapping: `:60F:`/`:60M:` → `OPBD`, `:62F:`/`:62M:` → `CLBD`, `:64:` → `CLAV`, `:65:` →
//! `FWAV`; each `:61:` is one entry with one detail built from its `:86:`. `RC`/`RD` marks are
//! reversals (RC: reversal of a credit, booked as a debit). The receipt id is the `:61:` bank
//! reference (after `//`), else the customer reference unless it is `NONREF`.

use super::model::{Balance, BankFormat, CreditDebit, Entry, Statement, TxDetail};
use super::{decode_text, events_from, BankEvent};
use crate::formats::diag::{Diagnostic, Severity};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use std::str::FromStr;

/// True when the text looks like MT940/MT942 (a `:20:` tag near the start, or a SWIFT block).
pub fn looks_like(text: &str) -> bool {
    let head: String = text.chars().take(2048).collect();
    (head.contains(":20:")
        && (head.contains(":25:") || head.contains(":60F:") || head.contains(":61:")))
        || head.starts_with("{1:")
        || head.starts_with(":60F:")
        || head.starts_with(":940:")
}

/// Parses an MT940 amount: digits with one `,` as decimal mark (`"12,"`, `",5"` accepted).
/// A few old exports (Rabobank) use `.` instead; one `.` and no `,` is read the same way,
/// and an amount without any mark (Knab) is whole units.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    let t = s.trim();
    let mark = if t.contains(',') { ',' } else { '.' };
    if t.is_empty() || t.len() > 26 || t.matches(mark).count() > 1 {
        return None;
    }
    if t.bytes().all(|c| c.is_ascii_digit()) {
        // no decimal mark at all ("C500NTRF", Knab): whole units
        return Decimal::from_str(t).ok();
    }
    if !t.bytes().all(|c| c.is_ascii_digit() || c == mark as u8) || t.len() == 1 {
        return None;
    }
    let (i, f) = t.split_once(mark)?;
    let i = if i.is_empty() { "0" } else { i };
    if f.is_empty() {
        Decimal::from_str(i).ok()
    } else {
        Decimal::from_str(&format!("{i}.{f}")).ok()
    }
}

/// A YYMMDD date; an impossible day (30 February) is moved to the last day of the month
/// (second value true) rather than dropped.
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

struct Builder {
    stmts: Vec<Statement>,
    diags: Vec<Diagnostic>,
    cur: Option<Statement>,
    last_entry_open: bool,
    raw86: String,
    currency: Option<String>,
}

impl Builder {
    /// Applies the `:86:` text gathered for the last entry (several `:86:` are joined).
    fn apply_pending_86(&mut self) {
        if self.raw86.is_empty() {
            return;
        }
        let raw = std::mem::take(&mut self.raw86);
        if let Some(e) = self.cur.as_mut().and_then(|s| s.entries.last_mut()) {
            apply_86(e, &raw);
        }
    }

    fn flush(&mut self) {
        self.apply_pending_86();
        if let Some(mut s) = self.cur.take() {
            if s.currency.is_none() {
                s.currency = self.currency.clone();
            }
            for e in &mut s.entries {
                if e.currency.is_none() {
                    e.currency = s.currency.clone();
                }
            }
            s.position = self.stmts.len() + 1;
            self.stmts.push(s);
        }
        self.last_entry_open = false;
    }

    fn stmt(&mut self) -> &mut Statement {
        let message = "MT940".to_owned();
        self.cur.get_or_insert_with(|| Statement {
            message,
            ..Statement::default()
        })
    }

    fn diag(&mut self, sev: Severity, rule: &str, line: usize, msg: String) {
        self.diags
            .push(Diagnostic::new(sev, rule, format!("line {line}"), msg));
    }
}

/// Parses an MT940/MT942 file into events.
pub fn parse_events(bytes: &[u8]) -> Vec<BankEvent> {
    let text = decode_text(bytes).replace("\r\n", "\n").replace('\r', "\n");
    let mut fields: Vec<(usize, String, String)> = Vec::new();
    let mut message = "MT940".to_owned();
    for (i, raw) in text.lines().enumerate() {
        let mut line = raw.trim_end_matches([' ', '\t', '\u{0}']);
        if line.starts_with("{2:") && line.contains("942") || line.trim() == "942" {
            message = "MT942".to_owned();
        }
        // SWIFT envelope blocks {1:..}{2:..}{4: and the trailer -}
        while line.starts_with('{') {
            match line.find('}') {
                Some(p) if !line[..p].contains(":4:") && !line.starts_with("{4:") => {
                    line = &line[p + 1..]
                }
                _ => {
                    line = line.strip_prefix("{4:").unwrap_or(line);
                    break;
                }
            }
        }
        if line.trim() == "-" || line.trim() == "-}" || line.trim().is_empty() {
            continue;
        }
        if let Some((tag, value)) = is_tag_line(line) {
            fields.push((i + 1, tag, value));
        } else if let Some(last) = fields.last_mut() {
            last.2.push('\n');
            last.2.push_str(line);
        }
    }
    let mut b = Builder {
        stmts: Vec::new(),
        diags: Vec::new(),
        cur: None,
        last_entry_open: false,
        raw86: String::new(),
        currency: None,
    };
    for (line, tag, value) in fields {
        if tag != "86" {
            b.apply_pending_86();
        }
        match tag.as_str() {
            "20" => {
                b.flush();
                b.stmt().id = Some(value.trim().to_owned());
            }
            "25" => b.stmt().account = Some(account_of(value.trim())),
            "28" | "28C" => {
                let v = value.trim().to_owned();
                b.stmt().id = Some(v);
            }
            "60F" | "60M" | "62F" | "62M" | "64" | "65" => {
                let code = match tag.as_str() {
                    "60F" | "60M" => "OPBD",
                    "62F" | "62M" => "CLBD",
                    "64" => "CLAV",
                    _ => "FWAV",
                };
                match parse_balance(value.trim(), code) {
                    Ok((bal, fixed)) => {
                        if fixed {
                            b.diag(
                                Severity::Warning,
                                "BANK-DATE",
                                line,
                                format!("impossible date in :{tag}: moved to the month's last day"),
                            );
                        }
                        if b.currency.is_none() || code == "OPBD" {
                            if let Some(c) = &bal.currency {
                                b.currency = Some(c.clone());
                            }
                        }
                        let s = b.stmt();
                        if s.currency.is_none() && code == "OPBD" {
                            s.currency = bal.currency.clone();
                        }
                        s.balances.push(bal);
                    }
                    Err(msg) => b.diag(
                        Severity::Error,
                        "BANK-AMOUNT",
                        line,
                        format!(":{tag}: {msg}; balance ignored"),
                    ),
                }
                b.last_entry_open = false;
            }
            "61" => {
                let pos = b.stmt().entries.len() + 1;
                match parse_61(&value, pos) {
                    Ok((e, fixed)) => {
                        if fixed {
                            b.diag(
                                Severity::Warning,
                                "BANK-DATE",
                                line,
                                "impossible date in :61: moved to the month's last day".into(),
                            );
                        }
                        b.stmt().entries.push(e);
                        b.last_entry_open = true;
                    }
                    Err(msg) => {
                        b.diag(
                            Severity::Error,
                            "MT940-61",
                            line,
                            format!(
                                "statement line unreadable ({msg}): {:?}; entry skipped",
                                value.lines().next().unwrap_or("")
                            ),
                        );
                        // keep a placeholder position so later positions stay stable
                        b.last_entry_open = false;
                    }
                }
            }
            "86" if b.last_entry_open => {
                if !b.raw86.is_empty() {
                    b.raw86.push('\n');
                }
                b.raw86.push_str(&value);
            }
            _ => {}
        }
    }
    b.flush();
    let mut diags = b.diags;
    if b.stmts.is_empty()
        || b.stmts
            .iter()
            .all(|s| s.entries.is_empty() && s.balances.is_empty())
    {
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "BANK-EMPTY",
            "/",
            "no MT940 statement found (no :60F:/:61:/:62F: fields)",
        ));
    }
    events_from(BankFormat::Mt940, &message, b.stmts, diags)
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

fn parse_balance(v: &str, code: &str) -> Result<(Balance, bool), String> {
    let mut chars = v.chars();
    let sign = chars.next().ok_or("empty balance")?;
    let cd = match sign {
        'C' => CreditDebit::Credit,
        'D' => CreditDebit::Debit,
        _ => return Err(format!("mark {sign:?} is neither C nor D")),
    };
    let rest = &v[1..];
    let (date, fixed) = rest.get(..6).and_then(yymmdd).ok_or("bad date")?;
    let rest = &rest[6..];
    let (ccy, amt) = match rest.get(..3) {
        Some(c) if c.bytes().all(|x| x.is_ascii_alphabetic()) => {
            (Some(c.to_ascii_uppercase()), &rest[3..])
        }
        _ => (None, rest),
    };
    let amount = parse_amount(amt)
        .ok_or_else(|| format!("amount {amt:?} is not a number with one decimal comma"))?;
    Ok((
        Balance {
            code: code.to_owned(),
            amount: cd.signed(amount),
            currency: ccy,
            date: Some(date),
        },
        fixed,
    ))
}

fn parse_61(v: &str, position: usize) -> Result<(Entry, bool), String> {
    let (first, supplementary) = match v.split_once('\n') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (v.trim(), None),
    };
    let (value_date, mut fixed) = first.get(..6).and_then(yymmdd).ok_or("bad value date")?;
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
                    fixed = true;
                } else {
                    return Err("bad entry date".into());
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
    let amount =
        parse_amount(&rest[..amt_len]).ok_or_else(|| format!("amount {:?}", &rest[..amt_len]))?;
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
    Ok((e, fixed))
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
    if joined.starts_with('/')
        && slash_value(
            &joined,
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
        if let Some(x) = slash_value(&joined, &["EREF"]) {
            d.end_to_end_id = non_empty(&x).filter(|s| s != "NOTPROVIDED");
        }
        if let Some(x) = slash_value(&joined, &["MARF"]) {
            d.mandate_id = non_empty(&x);
        }
        if let Some(x) = slash_value(&joined, &["RTRN"]) {
            d.return_reason = non_empty(x.split('/').next().unwrap_or(""));
        }
        if let Some(x) = slash_value(&joined, &["CNTP", "BENM", "ORDP"]) {
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
        if let Some(x) = slash_value(&joined, &["REMI"]) {
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

/// The value after `/KEY/` up to the next known `/KEY/` (or the end).
fn slash_value(s: &str, keys: &[&str]) -> Option<String> {
    const ALL: &[&str] = &[
        "/EREF/", "/REMI/", "/CNTP/", "/RTRN/", "/MARF/", "/PREF/", "/ORDP/", "/BENM/", "/NAME/",
        "/CSID/", "/PURP/", "/ULTC/", "/ULTD/", "/ULTB/", "/TRCD/", "/BUSP/", "/ID/", "/ADDR/",
        "/ISDT/", "/FX/", "/EXCH/", "/IREF/", "/OCMT/", "/CHGS/", "/SVCL/", "/ATTN/", "/RCUR/",
        "/LREF/", "/KREF/",
    ];
    for k in keys {
        let Some(pat) = ALL
            .iter()
            .find(|p| p.len() == k.len() + 2 && p[1..].starts_with(k))
        else {
            continue;
        };
        if let Some(i) = s.find(pat) {
            let tail = &s[i + pat.len()..];
            let end = ALL
                .iter()
                .filter_map(|p2| tail.find(p2))
                .min()
                .unwrap_or(tail.len());
            let mut v = tail[..end].to_owned();
            // a value ending at a key boundary ("…//REMI/") keeps its trailing slashes out
            while v.ends_with('/') {
                v.pop();
            }
            return Some(v);
        }
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
        let (e, _) = parse_61("1907310731CP100,00FFPC913000381", 1).unwrap();
        assert_eq!(e.amount, Decimal::new(10000, 2));
        assert_eq!(e.ntry_ref.as_deref(), Some("913000381"));
        let (e, _) = parse_61("0203170320RC5000,00S05168790452", 1).unwrap();
        assert!(e.reversal);
        assert_eq!(e.credit_debit, CreditDebit::Debit);
        let (e, _) = parse_61("2606210621CR500,00NMSCREF1//CREF1", 1).unwrap();
        assert_eq!(e.acct_svcr_ref.as_deref(), Some("CREF1"));
        assert_eq!(e.bank_code.as_deref(), Some("NMSC"));
    }
}
