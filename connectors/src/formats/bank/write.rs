//! Writes camt.053.001.02 statements from a small description: used by benchmarks and by
//! the generator of labelled reconciliation data. [`Camt053Writer`] streams (constant
//! memory for any number of entries); [`camt053`] renders a whole [`StatementSpec`].

use super::BankError;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::io::Write;

/// One entry to write. A positive amount is a credit, a negative one a debit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntrySpec {
    /// Signed amount.
    pub amount: Decimal,
    /// Booking date.
    pub booking_date: NaiveDate,
    /// Value date (defaults to the booking date).
    pub value_date: Option<NaiveDate>,
    /// The bank's reference (`AcctSvcrRef`), written on the entry and its detail.
    pub acct_svcr_ref: Option<String>,
    /// End-to-end id.
    pub end_to_end_id: Option<String>,
    /// SEPA mandate id.
    pub mandate_id: Option<String>,
    /// Debtor name (the payer of a credit).
    pub debtor_name: Option<String>,
    /// Debtor IBAN.
    pub debtor_iban: Option<String>,
    /// Creditor name (the payee of a debit).
    pub creditor_name: Option<String>,
    /// Creditor IBAN.
    pub creditor_iban: Option<String>,
    /// Unstructured remittance (`Ustrd`).
    pub remittance: Option<String>,
    /// Structured creditor reference (`Strd/CdtrRefInf/Ref`), e.g. an ISO 11649 RF reference.
    pub structured_ref: Option<String>,
    /// Bank transaction code `DOMN/FMLY/SUBF` (defaults to `PMNT/RCDT/ESCT` for credits,
    /// `PMNT/ICDT/ESCT` for debits).
    pub bank_code: Option<String>,
    /// Reversal indicator.
    pub reversal: bool,
    /// Return reason code (`RtrInf/Rsn/Cd`).
    pub return_reason: Option<String>,
}

/// A statement to write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatementSpec {
    /// Message id (`GrpHdr/MsgId`).
    pub msg_id: String,
    /// Statement id (`Stmt/Id`).
    pub statement_id: String,
    /// Creation date (written as midnight UTC; no clock is read).
    pub created: NaiveDate,
    /// Account IBAN.
    pub account_iban: String,
    /// Account currency.
    pub currency: String,
    /// Opening booked balance (signed).
    pub opening_balance: Decimal,
    /// Date of the opening balance.
    pub from_date: NaiveDate,
    /// Date of the closing balance.
    pub to_date: NaiveDate,
    /// Entries.
    pub entries: Vec<EntrySpec>,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn cdi(a: Decimal) -> &'static str {
    if a.is_sign_negative() {
        "DBIT"
    } else {
        "CRDT"
    }
}

/// Header fields of a streamed statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Message id.
    pub msg_id: &'a str,
    /// Statement id.
    pub statement_id: &'a str,
    /// Creation date.
    pub created: NaiveDate,
    /// Account IBAN.
    pub account_iban: &'a str,
    /// Currency.
    pub currency: &'a str,
    /// Opening balance (signed) and its date.
    pub opening: (Decimal, NaiveDate),
    /// Closing balance (signed) and its date; balances precede entries in camt, so the
    /// caller computes it beforehand.
    pub closing: (Decimal, NaiveDate),
}

/// Streams one camt.053.001.02 statement: [`Camt053Writer::begin`], any number of
/// [`Camt053Writer::entry`], then [`Camt053Writer::finish`].
pub struct Camt053Writer<W: Write> {
    out: W,
    currency: String,
    entries: u64,
}

impl<W: Write> Camt053Writer<W> {
    /// Writes the document start, group header, account and balances.
    pub fn begin(mut out: W, h: &Header<'_>) -> Result<Self, BankError> {
        let ccy = esc(h.currency);
        if ccy.len() != 3 {
            return Err(BankError::Invalid(format!(
                "currency {:?} is not a 3-letter code",
                h.currency
            )));
        }
        write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt>\n<GrpHdr><MsgId>{}</MsgId><CreDtTm>{}T00:00:00Z</CreDtTm></GrpHdr>\n<Stmt>\n<Id>{}</Id>\n<CreDtTm>{}T00:00:00Z</CreDtTm>\n<Acct><Id><IBAN>{}</IBAN></Id><Ccy>{ccy}</Ccy></Acct>\n",
            esc(h.msg_id),
            h.created,
            esc(h.statement_id),
            h.created,
            esc(h.account_iban)
        )?;
        for (code, (amt, date)) in [("OPBD", h.opening), ("CLBD", h.closing)] {
            writeln!(
                out,
                "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">{}</Amt><CdtDbtInd>{}</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>",
                amt.abs(),
                cdi(amt)
            )?;
        }
        Ok(Self {
            out,
            currency: ccy,
            entries: 0,
        })
    }

    /// Writes one entry (with one transaction detail).
    pub fn entry(&mut self, e: &EntrySpec) -> Result<(), BankError> {
        self.entries += 1;
        let o = &mut self.out;
        let ccy = &self.currency;
        let credit = !e.amount.is_sign_negative();
        write!(o, "<Ntry>")?;
        if let Some(r) = &e.acct_svcr_ref {
            write!(o, "<NtryRef>{}</NtryRef>", esc(r))?;
        }
        write!(
            o,
            "<Amt Ccy=\"{ccy}\">{}</Amt><CdtDbtInd>{}</CdtDbtInd>",
            e.amount.abs(),
            cdi(e.amount)
        )?;
        if e.reversal {
            write!(o, "<RvslInd>true</RvslInd>")?;
        }
        write!(
            o,
            "<Sts>BOOK</Sts><BookgDt><Dt>{}</Dt></BookgDt><ValDt><Dt>{}</Dt></ValDt>",
            e.booking_date,
            e.value_date.unwrap_or(e.booking_date)
        )?;
        if let Some(r) = &e.acct_svcr_ref {
            write!(o, "<AcctSvcrRef>{}</AcctSvcrRef>", esc(r))?;
        }
        let code = e.bank_code.clone().unwrap_or_else(|| {
            if credit {
                "PMNT/RCDT/ESCT".into()
            } else {
                "PMNT/ICDT/ESCT".into()
            }
        });
        let mut parts = code.split('/');
        let (d, f, s) = (
            parts.next().unwrap_or("PMNT"),
            parts.next().unwrap_or("MCOP"),
            parts.next().unwrap_or("OTHR"),
        );
        write!(
            o,
            "<BkTxCd><Domn><Cd>{}</Cd><Fmly><Cd>{}</Cd><SubFmlyCd>{}</SubFmlyCd></Fmly></Domn></BkTxCd>",
            esc(d),
            esc(f),
            esc(s)
        )?;
        write!(o, "<NtryDtls><TxDtls><Refs>")?;
        if let Some(r) = &e.acct_svcr_ref {
            write!(o, "<AcctSvcrRef>{}</AcctSvcrRef>", esc(r))?;
        }
        write!(
            o,
            "<EndToEndId>{}</EndToEndId>",
            esc(e.end_to_end_id.as_deref().unwrap_or("NOTPROVIDED"))
        )?;
        if let Some(m) = &e.mandate_id {
            write!(o, "<MndtId>{}</MndtId>", esc(m))?;
        }
        write!(
            o,
            "</Refs><AmtDtls><TxAmt><Amt Ccy=\"{ccy}\">{}</Amt></TxAmt></AmtDtls>",
            e.amount.abs()
        )?;
        let party = |o: &mut W,
                     tag: &str,
                     name: &Option<String>,
                     iban: &Option<String>|
         -> Result<(), BankError> {
            if let Some(n) = name {
                write!(o, "<{tag}><Nm>{}</Nm></{tag}>", esc(n))?;
            }
            if let Some(i) = iban {
                write!(o, "<{tag}Acct><Id><IBAN>{}</IBAN></Id></{tag}Acct>", esc(i))?;
            }
            Ok(())
        };
        let any_party = e.debtor_name.is_some()
            || e.debtor_iban.is_some()
            || e.creditor_name.is_some()
            || e.creditor_iban.is_some();
        if any_party {
            write!(o, "<RltdPties>")?;
            party(o, "Dbtr", &e.debtor_name, &e.debtor_iban)?;
            party(o, "Cdtr", &e.creditor_name, &e.creditor_iban)?;
            write!(o, "</RltdPties>")?;
        }
        if e.remittance.is_some() || e.structured_ref.is_some() {
            write!(o, "<RmtInf>")?;
            if let Some(u) = &e.remittance {
                // Ustrd is at most 140 characters: longer text is split over several lines.
                let chars: Vec<char> = u.chars().collect();
                for chunk in chars.chunks(140) {
                    write!(
                        o,
                        "<Ustrd>{}</Ustrd>",
                        esc(&chunk.iter().collect::<String>())
                    )?;
                }
            }
            if let Some(r) = &e.structured_ref {
                write!(
                    o,
                    "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{}</Ref></CdtrRefInf></Strd>",
                    esc(r)
                )?;
            }
            write!(o, "</RmtInf>")?;
        }
        if let Some(r) = &e.return_reason {
            write!(o, "<RtrInf><Rsn><Cd>{}</Cd></Rsn></RtrInf>", esc(r))?;
        }
        writeln!(o, "</TxDtls></NtryDtls></Ntry>")?;
        Ok(())
    }

    /// Closes the statement and the document; returns the output and the entry count.
    pub fn finish(mut self) -> Result<(W, u64), BankError> {
        write!(self.out, "</Stmt>\n</BkToCstmrStmt>\n</Document>\n")?;
        self.out.flush()?;
        Ok((self.out, self.entries))
    }
}

/// Writes a whole statement; the closing balance is the opening plus the entries.
pub fn camt053<W: Write>(out: W, s: &StatementSpec) -> Result<W, BankError> {
    let closing = s.opening_balance + s.entries.iter().map(|e| e.amount).sum::<Decimal>();
    let h = Header {
        msg_id: &s.msg_id,
        statement_id: &s.statement_id,
        created: s.created,
        account_iban: &s.account_iban,
        currency: &s.currency,
        opening: (s.opening_balance, s.from_date),
        closing: (closing, s.to_date),
    };
    let mut w = Camt053Writer::begin(out, &h)?;
    for e in &s.entries {
        w.entry(e)?;
    }
    Ok(w.finish()?.0)
}

/// Renders a whole statement as a string.
pub fn camt053_string(s: &StatementSpec) -> Result<String, BankError> {
    let v = camt053(Vec::new(), s)?;
    String::from_utf8(v).map_err(|e| BankError::Invalid(e.to_string()))
}
