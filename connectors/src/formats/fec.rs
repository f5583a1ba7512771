//! FEC (Fichier des Écritures Comptables, LPF A47 A-1, arrêté du 29 juillet 2013): reader,
//! writer, and the conversion of provision entries into FEC lines and Tryton-ready moves.
//!
//! The file has 18 columns `JournalCode|JournalLib|EcritureNum|EcritureDate|CompteNum|
//! CompteLib|CompAuxNum|CompAuxLib|PieceRef|PieceDate|EcritureLib|Debit|Credit|EcritureLet|
//! DateLet|ValidDate|Montantdevise|Idevise` (or `Montant|Sens` instead of `Debit|Credit`),
//! separated by a tab or a pipe, dates `AAAAMMJJ`, amounts with a decimal comma.
//!
//! ```
//! use relance_connectors::formats::fec;
//! let text = "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise\r\n\
//! OD\tOpérations diverses\t1\t20241231\t416\tClients douteux\tC1\tC1\tF1\t20241231\tReclass\t12000,00\t0,00\t\t\t20241231\t\t\r\n\
//! OD\tOpérations diverses\t1\t20241231\t411\tClients\tC1\tC1\tF1\t20241231\tReclass\t0,00\t12000,00\t\t\t20241231\t\t\r\n";
//! let read = fec::read(text.as_bytes());
//! assert!(read.diagnostics.is_empty());
//! assert_eq!(read.summary.entries, 1);
//! assert_eq!(read.summary.unbalanced, 0);
//! ```

use crate::contract::{IdempotencyKey, MoveLine, WriteCommand};
use crate::formats::diag::{Diagnostic, Severity};
use crate::formats::{decimal, encoding};
use chrono::NaiveDate;
use relance_core::provision::{ClosingTable, Entry, Policy};
use relance_core::CompanyId;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The 18 column names of A47 A-1, in order.
pub const COLUMNS: [&str; 18] = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
];

/// Field separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Separator {
    /// Horizontal tab.
    Tab,
    /// Vertical bar `|`.
    Pipe,
}

impl Separator {
    /// The character.
    pub fn char(self) -> char {
        match self {
            Separator::Tab => '\t',
            Separator::Pipe => '|',
        }
    }
}

/// Character set of a written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charset {
    /// UTF-8 without BOM (what Tryton and most current software write).
    Utf8,
    /// ISO 8859-15 (the character set the BOFiP commentary names); characters outside it
    /// are written as `?`.
    Latin9,
}

/// One line (one account movement) of a FEC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FecLine {
    /// JournalCode.
    pub journal_code: String,
    /// JournalLib.
    pub journal_lib: String,
    /// EcritureNum: the entry number, continuous within a journal.
    pub ecriture_num: String,
    /// EcritureDate.
    pub ecriture_date: NaiveDate,
    /// CompteNum (the first three characters are PCG digits).
    pub compte_num: String,
    /// CompteLib.
    pub compte_lib: String,
    /// CompAuxNum (auxiliary account: the customer), empty when none.
    pub comp_aux_num: String,
    /// CompAuxLib.
    pub comp_aux_lib: String,
    /// PieceRef.
    pub piece_ref: String,
    /// PieceDate.
    pub piece_date: NaiveDate,
    /// EcritureLib.
    pub ecriture_lib: String,
    /// Debit.
    pub debit: Decimal,
    /// Credit.
    pub credit: Decimal,
    /// EcritureLet (lettering code), empty when none.
    pub ecriture_let: String,
    /// DateLet.
    pub date_let: Option<NaiveDate>,
    /// ValidDate (validation date of the entry).
    pub valid_date: Option<NaiveDate>,
    /// Montantdevise (amount in foreign currency).
    pub montant_devise: Option<Decimal>,
    /// Idevise (currency of that amount).
    pub idevise: String,
    /// Values of columns after the 18th (cash-basis variants: DateRglt, ModeRglt, NatOp...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Line number in the file read (1 is the header); 0 for lines built in memory.
    #[serde(default)]
    pub source_line: usize,
}

/// Counts of a file read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FecSummary {
    /// Data lines read.
    pub lines: usize,
    /// Distinct entries: (JournalCode, EcritureNum) pairs.
    pub entries: usize,
    /// Entries whose debits and credits differ.
    pub unbalanced: usize,
    /// Sum of debits.
    pub total_debit: Decimal,
    /// Sum of credits.
    pub total_credit: Decimal,
}

/// What [`read`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FecRead {
    /// The separator detected, when a header was found.
    pub separator: Option<Separator>,
    /// Header names after the 18th (a variant such as the BNC/BA cash-basis file).
    pub extra_columns: Vec<String>,
    /// True when the file uses `Montant` and `Sens` instead of `Debit` and `Credit`.
    pub montant_sens: bool,
    /// The lines that could be read.
    pub lines: Vec<FecLine>,
    /// Counts and totals.
    pub summary: FecSummary,
    /// Findings, each with its line number (`line N`).
    pub diagnostics: Vec<Diagnostic>,
}

/// Decodes bytes: a BOM's encoding (UTF-8, UTF-16), else UTF-8 when valid, else ISO 8859-15
/// (the character set the BOFiP names); the offset of the first byte that is not UTF-8 when
/// the fallback was taken.
fn decode(bytes: &[u8]) -> (String, Option<u64>) {
    let mut sniffed = encoding::sniff_text(bytes, true);
    let fallback = match sniffed.how {
        encoding::How::Fallback(at) => {
            sniffed.encoding = encoding_rs::ISO_8859_15;
            Some(at)
        }
        _ => None,
    };
    (encoding::decode(bytes, &sniffed).0, fallback)
}

fn latin9_byte(c: char) -> u8 {
    match c {
        '€' => 0xA4,
        'Š' => 0xA6,
        'š' => 0xA8,
        'Ž' => 0xB4,
        'ž' => 0xB8,
        'Œ' => 0xBC,
        'œ' => 0xBD,
        'Ÿ' => 0xBE,
        '\u{A4}' | '\u{A6}' | '\u{A8}' | '\u{B4}' | '\u{B8}' | '\u{BC}' | '\u{BD}' | '\u{BE}' => {
            b'?'
        }
        c if (c as u32) < 0x100 => c as u32 as u8,
        _ => b'?',
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").ok()
}

/// Parses a FEC amount: decimal comma (a dot is accepted), optional sign, zero padding;
/// no thousands separators, no exponent.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    amount_or_reason(s).ok()
}

/// Parses a FEC amount, with the reason when it is not one.
fn amount_or_reason(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    if t.matches([',', '.']).count() > 1 {
        return Err("more than one decimal mark (no thousands separator is allowed)".into());
    }
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if body.starts_with([',', '.']) {
        return Err("no digit before the decimal mark".into());
    }
    decimal::xsd(&t.replace(',', ".")).map_err(|e| e.to_string())
}

/// Formats an amount with two decimals and a decimal comma.
pub fn format_amount(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2)).replace('.', ",")
}

struct Layout {
    sep: Separator,
    width: usize,
    montant_sens: bool,
    extra: Vec<String>,
}

fn header(line: &str, diags: &mut Vec<Diagnostic>) -> Option<Layout> {
    let sep = if line.contains('\t') {
        Separator::Tab
    } else if line.contains('|') {
        Separator::Pipe
    } else {
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "FEC-SEPARATOR",
            "line 1",
            "no tab or pipe in the header: expected 18 column names separated by a tab or a pipe",
        ));
        return None;
    };
    let mut names: Vec<&str> = line.split(sep.char()).map(str::trim).collect();
    if names.len() > COLUMNS.len() && names.last().is_some_and(|n| n.is_empty()) {
        names.pop();
    }
    if names.len() < COLUMNS.len() {
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "FEC-COLUMNS",
            "line 1",
            format!(
                "{} columns in the header, expected at least 18: {}",
                names.len(),
                COLUMNS.join(", ")
            ),
        ));
        return None;
    }
    let montant_sens =
        names[11].eq_ignore_ascii_case("Montant") && names[12].eq_ignore_ascii_case("Sens");
    for (i, (got, want)) in names.iter().zip(COLUMNS).enumerate() {
        let alt_ok = montant_sens && (i == 11 || i == 12);
        if !alt_ok && !got.eq_ignore_ascii_case(want) {
            diags.push(Diagnostic::new(
                Severity::Error,
                "FEC-COLUMNS",
                "line 1",
                format!("column {} is {got:?}, expected {want:?}", i + 1),
            ));
        }
    }
    let extra: Vec<String> = names[COLUMNS.len()..]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if !extra.is_empty() {
        diags.push(Diagnostic::new(
            Severity::Info,
            "FEC-EXTRA-COLUMNS",
            "line 1",
            format!(
                "{} columns after the 18 of A47 A-1: {}",
                extra.len(),
                extra.join(", ")
            ),
        ));
    }
    Some(Layout {
        sep,
        width: names.len(),
        montant_sens,
        extra,
    })
}

/// Reads a FEC: detects the separator, checks the header, parses every line, and checks
/// that each entry (JournalCode, EcritureNum) balances. Lines that cannot be parsed are
/// reported and left out; the rest is returned.
pub fn read(bytes: &[u8]) -> FecRead {
    let mut diags = Vec::new();
    let (text, not_utf8) = decode(bytes);
    if let Some(at) = not_utf8 {
        diags.push(Diagnostic::new(
            Severity::Info,
            "FEC-CHARSET",
            format!("byte {at}"),
            format!("not UTF-8 (byte {at} is not): read as ISO 8859-15"),
        ));
    }
    let mut out = FecRead {
        separator: None,
        extra_columns: Vec::new(),
        montant_sens: false,
        lines: Vec::new(),
        summary: FecSummary::default(),
        diagnostics: Vec::new(),
    };
    // Lines end with LF, CR LF, or CR CR LF (all seen in the wild); a file with CR only is
    // split on CR.
    let raw: Vec<&str> = if text.contains('\n') {
        text.split('\n').collect()
    } else {
        text.split('\r').collect()
    };
    let mut rows = raw
        .into_iter()
        .map(|l| l.trim_end_matches('\r'))
        .enumerate();
    let Some((_, head)) = rows.next() else {
        diags.push(Diagnostic::new(
            Severity::Fatal,
            "FEC-EMPTY",
            "file",
            "empty file, expected a header line",
        ));
        out.diagnostics = diags;
        return out;
    };
    let Some(layout) = header(head, &mut diags) else {
        out.diagnostics = diags;
        return out;
    };
    out.separator = Some(layout.sep);
    out.montant_sens = layout.montant_sens;
    out.extra_columns = layout.extra.clone();

    for (i, row) in rows {
        let n = i + 1;
        if row.trim().is_empty() {
            continue;
        }
        if let Some(line) = parse_row(row, n, &layout, &mut diags) {
            out.lines.push(line);
        }
    }
    out.summary = check_balance(&out.lines, &mut diags);
    out.diagnostics = diags;
    out
}

fn parse_row(row: &str, n: usize, layout: &Layout, diags: &mut Vec<Diagnostic>) -> Option<FecLine> {
    let at = format!("line {n}");
    let mut f: Vec<&str> = row.split(layout.sep.char()).collect();
    if f.len() == layout.width + 1 && f.last().is_some_and(|v| v.trim().is_empty()) {
        f.pop();
    }
    if f.len() != layout.width {
        diags.push(Diagnostic::new(
            Severity::Error,
            "FEC-FIELDS",
            &at,
            format!(
                "{} fields, expected {} as in the header",
                f.len(),
                layout.width
            ),
        ));
        return None;
    }
    let v = |k: usize| f[k].trim().to_owned();
    let mut bad = false;
    let mut date = |k: usize, required: bool| -> Option<NaiveDate> {
        let s = f[k].trim();
        if s.is_empty() && !required {
            return None;
        }
        let d = parse_date(s);
        if d.is_none() {
            // A bad mandatory date drops the line; a bad optional one (DateLet, ValidDate)
            // is reported and read as empty.
            bad |= required;
            diags.push(Diagnostic::new(
                if required {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                "FEC-DATE",
                &at,
                format!("{} is {s:?}, expected a date AAAAMMJJ", COLUMNS[k]),
            ));
        }
        d
    };
    let ecriture_date = date(3, true);
    let piece_date = date(9, true);
    let date_let = date(14, false);
    let valid_date = date(15, false);
    let mut amount = |k: usize, name: &str| -> Decimal {
        let s = f[k].trim();
        if s.is_empty() {
            return Decimal::ZERO;
        }
        match amount_or_reason(s) {
            Ok(d) => d,
            Err(why) => {
                diags.push(Diagnostic::new(
                    Severity::Error,
                    "FEC-AMOUNT",
                    &at,
                    format!(
                        "{name} is {s:?} ({why}), expected an amount with a decimal comma such as 1234,56"
                    ),
                ));
                bad = true;
                Decimal::ZERO
            }
        }
    };
    let mut bad_sens: Option<&str> = None;
    let (debit, credit) = if layout.montant_sens {
        let m = amount(11, "Montant");
        match f[12].trim() {
            "D" | "d" | "+1" | "1" => (m, Decimal::ZERO),
            "C" | "c" | "-1" => (Decimal::ZERO, m),
            other => {
                bad_sens = Some(other);
                (Decimal::ZERO, Decimal::ZERO)
            }
        }
    } else {
        (amount(11, "Debit"), amount(12, "Credit"))
    };
    let montant_devise = {
        let s = f[16].trim();
        if s.is_empty() {
            None
        } else {
            Some(amount(16, "Montantdevise"))
        }
    };
    if let Some(other) = bad_sens {
        diags.push(Diagnostic::new(
            Severity::Error,
            "FEC-AMOUNT",
            &at,
            format!("Sens is {other:?}, expected D, C, +1 or -1"),
        ));
        bad = true;
    }
    let (Some(ecriture_date), Some(piece_date)) = (ecriture_date, piece_date) else {
        return None;
    };
    if bad {
        return None;
    }
    let compte = v(4);
    if compte.len() < 3 || !compte.bytes().take(3).all(|b| b.is_ascii_digit()) {
        diags.push(Diagnostic::new(
            Severity::Warning,
            "FEC-ACCOUNT",
            &at,
            format!("CompteNum {compte:?} should start with three PCG digits"),
        ));
    }
    if !debit.is_zero() && !credit.is_zero() {
        diags.push(Diagnostic::new(
            Severity::Warning,
            "FEC-AMOUNT",
            &at,
            "both Debit and Credit are set on one line",
        ));
    }
    Some(FecLine {
        journal_code: v(0),
        journal_lib: v(1),
        ecriture_num: v(2),
        ecriture_date,
        compte_num: compte,
        compte_lib: v(5),
        comp_aux_num: v(6),
        comp_aux_lib: v(7),
        piece_ref: v(8),
        piece_date,
        ecriture_lib: v(10),
        debit,
        credit,
        ecriture_let: v(13),
        date_let,
        valid_date,
        montant_devise,
        idevise: v(17),
        extra: f[COLUMNS.len()..]
            .iter()
            .map(|s| s.trim().to_owned())
            .collect(),
        source_line: n,
    })
}

fn check_balance(lines: &[FecLine], diags: &mut Vec<Diagnostic>) -> FecSummary {
    // (journal, num) → (debit, credit, first line)
    let mut entries: BTreeMap<(&str, &str), (Decimal, Decimal, usize)> = BTreeMap::new();
    let mut s = FecSummary {
        lines: lines.len(),
        ..FecSummary::default()
    };
    for l in lines {
        let e = entries
            .entry((&l.journal_code, &l.ecriture_num))
            .or_insert((Decimal::ZERO, Decimal::ZERO, l.source_line));
        e.0 += l.debit;
        e.1 += l.credit;
        s.total_debit += l.debit;
        s.total_credit += l.credit;
    }
    s.entries = entries.len();
    for ((j, num), (d, c, first)) in &entries {
        if d != c {
            s.unbalanced += 1;
            diags.push(Diagnostic::new(
                Severity::Error,
                "FEC-BALANCE",
                format!("line {first}"),
                format!(
                    "entry {j} {num}: debit {d} and credit {c} differ by {}",
                    d - c
                ),
            ));
        }
    }
    if s.total_debit != s.total_credit {
        diags.push(Diagnostic::new(
            Severity::Error,
            "FEC-BALANCE",
            "file",
            format!(
                "total debit {} and total credit {} differ",
                s.total_debit, s.total_credit
            ),
        ));
    }
    s
}

/// How to write a FEC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOptions {
    /// Field separator (tab by default).
    pub separator: Separator,
    /// Character set (UTF-8 by default).
    pub charset: Charset,
    /// CR LF line ends (default) or LF.
    pub crlf: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            separator: Separator::Tab,
            charset: Charset::Utf8,
            crlf: true,
        }
    }
}

fn clean(s: &str, sep: char) -> String {
    s.chars()
        .map(|c| {
            if c == sep || c == '\r' || c == '\n' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// Writes lines as a FEC: the 18-column header, then one row per line. Separators and line
/// breaks inside values are replaced by spaces; amounts get two decimals and a comma.
pub fn write(lines: &[FecLine], opts: &WriteOptions) -> Vec<u8> {
    let sep = opts.separator.char();
    let eol = if opts.crlf { "\r\n" } else { "\n" };
    let mut text = String::new();
    text.push_str(&COLUMNS.join(&sep.to_string()));
    text.push_str(eol);
    for l in lines {
        let fields = [
            clean(&l.journal_code, sep),
            clean(&l.journal_lib, sep),
            clean(&l.ecriture_num, sep),
            ymd(l.ecriture_date),
            clean(&l.compte_num, sep),
            clean(&l.compte_lib, sep),
            clean(&l.comp_aux_num, sep),
            clean(&l.comp_aux_lib, sep),
            clean(&l.piece_ref, sep),
            ymd(l.piece_date),
            clean(&l.ecriture_lib, sep),
            format_amount(l.debit),
            format_amount(l.credit),
            clean(&l.ecriture_let, sep),
            l.date_let.map(ymd).unwrap_or_default(),
            l.valid_date.map(ymd).unwrap_or_default(),
            l.montant_devise.map(format_amount).unwrap_or_default(),
            clean(&l.idevise, sep),
        ];
        text.push_str(&fields.join(&sep.to_string()));
        text.push_str(eol);
    }
    match opts.charset {
        Charset::Utf8 => text.into_bytes(),
        Charset::Latin9 => text.chars().map(latin9_byte).collect(),
    }
}

/// The FEC file name: `<SIREN>FEC<AAAAMMJJ>.txt`, the date being the closing date of the
/// fiscal year.
pub fn file_name(siren: &str, closing: NaiveDate) -> String {
    format!("{}FEC{}.txt", siren.trim(), ymd(closing))
}

/// What the conversion of provision entries needs beyond the entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FecContext {
    /// Journal labels by code (defaults: OD "Opérations diverses", BQ "Banque").
    pub journal_labels: BTreeMap<String, String>,
    /// Account labels by number (defaults: PCG titles of the provision accounts, matched by
    /// prefix so sub-accounts such as 4161 get 416's title).
    pub account_labels: BTreeMap<String, String>,
    /// Customer names by customer id (CompAuxLib); the id when unknown.
    pub customer_names: BTreeMap<String, String>,
    /// Last entry number already used, per journal (numbering continues after it).
    pub last_numbers: BTreeMap<String, u64>,
    /// Validation date (ValidDate); the entry date when `None`.
    pub valid_date: Option<NaiveDate>,
}

const PCG_TITLES: [(&str, &str); 10] = [
    ("411", "Clients"),
    ("416", "Clients douteux ou litigieux"),
    ("491", "Dépréciations des comptes de clients"),
    ("6817", "Dotations aux dépréciations des actifs circulants"),
    ("7817", "Reprises sur dépréciations des actifs circulants"),
    ("654", "Pertes sur créances irrécouvrables"),
    ("44571", "TVA collectée"),
    (
        "4458",
        "Taxes sur le chiffre d'affaires à régulariser ou en attente",
    ),
    ("512", "Banques"),
    ("419", "Clients créditeurs"),
];

fn account_label(ctx: &FecContext, account: &str) -> String {
    if let Some(l) = ctx.account_labels.get(account) {
        return l.clone();
    }
    PCG_TITLES
        .iter()
        .filter(|(p, _)| account.starts_with(p))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, t)| (*t).to_owned())
        .unwrap_or_else(|| account.to_owned())
}

fn journal_label(ctx: &FecContext, code: &str) -> String {
    ctx.journal_labels
        .get(code)
        .cloned()
        .unwrap_or_else(|| match code {
            "OD" => "Opérations diverses".to_owned(),
            "BQ" => "Banque".to_owned(),
            other => other.to_owned(),
        })
}

/// FEC lines of provision entries, numbered continuously per journal after
/// `ctx.last_numbers`. PieceRef is the invoice number the entry concerns.
pub fn provision_lines(entries: &[Entry], ctx: &FecContext) -> Vec<FecLine> {
    let mut numbers = ctx.last_numbers.clone();
    let mut out = Vec::new();
    for e in entries {
        let n = numbers.entry(e.journal.clone()).or_insert(0);
        *n += 1;
        let num = n.to_string();
        for l in &e.lines {
            let (aux, aux_lib) = match &l.party {
                Some(p) => {
                    let name = ctx
                        .customer_names
                        .get(p.as_str())
                        .cloned()
                        .unwrap_or_else(|| p.to_string());
                    (p.to_string(), name)
                }
                None => (String::new(), String::new()),
            };
            out.push(FecLine {
                journal_code: e.journal.clone(),
                journal_lib: journal_label(ctx, &e.journal),
                ecriture_num: num.clone(),
                ecriture_date: e.date,
                compte_num: l.account.clone(),
                compte_lib: account_label(ctx, &l.account),
                comp_aux_num: aux,
                comp_aux_lib: aux_lib,
                piece_ref: e.invoice.to_string(),
                piece_date: e.date,
                ecriture_lib: l.label.clone(),
                debit: l.debit,
                credit: l.credit,
                ecriture_let: String::new(),
                date_let: None,
                valid_date: Some(ctx.valid_date.unwrap_or(e.date)),
                montant_devise: None,
                idevise: String::new(),
                extra: Vec::new(),
                source_line: 0,
            });
        }
    }
    out
}

/// The FEC of a closing's entries: its file name (`<SIREN>FEC<closing date>.txt`) and bytes.
pub fn closing_file(
    table: &ClosingTable,
    siren: &str,
    ctx: &FecContext,
    opts: &WriteOptions,
) -> (String, Vec<u8>) {
    let lines = provision_lines(&table.entries, ctx);
    (file_name(siren, table.closing_date), write(&lines, opts))
}

/// The outbox form of a provision entry: its idempotency key (derived from the entry's
/// deterministic key) and a `PostMove` command with the same lines.
pub fn post_move(company: &CompanyId, entry: &Entry) -> (IdempotencyKey, WriteCommand) {
    let key: IdempotencyKey = crate::keys::provision(company, &entry.key);
    let cmd = WriteCommand::PostMove {
        journal: entry.journal.clone(),
        date: entry.date,
        description: entry.label.clone(),
        lines: entry
            .lines
            .iter()
            .map(|l| MoveLine {
                account: l.account.clone(),
                debit: l.debit,
                credit: l.credit,
                party: l.party.as_ref().map(|p| p.to_string()),
                label: l.label.clone(),
            })
            .collect(),
    };
    (key, cmd)
}

/// The accounts a policy's entries use, with their PCG titles, for a chart check.
pub fn provision_accounts(policy: &Policy) -> Vec<(String, String)> {
    let a = &policy.accounts;
    let ctx = FecContext::default();
    [
        &a.receivable,
        &a.doubtful,
        &a.allowance,
        &a.allowance_expense,
        &a.allowance_reversal,
        &a.loss,
        &a.vat_collected,
        &a.vat_pending,
        &a.bank,
    ]
    .into_iter()
    .map(|acc| (acc.clone(), account_label(&ctx, acc)))
    .collect()
}
