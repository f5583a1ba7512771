//! Checks run on every parsed statement, streamed: balance continuity (`BANK-BALANCE`),
//! repeated bank references and identical-looking entries (`BANK-DUPLICATE`), unknown
//! codes (`BANK-CODE`, `BANK-RETURN-CODE`), structured references (`BANK-RF`), batches
//! (`BANK-BATCH`), missing dates and currencies (`BANK-DATE`, `BANK-CURRENCY`).
//!
//! Memory stays bounded per entry: duplicate detection keeps one 64-bit hash per entry (9 to
//! 18 bytes, in one flat table).

use super::model::{Balance, Entry};
use super::rf::{check_rf, RfCheck};
use super::seen::Seen;
use super::BankEvent;
use crate::formats::diag::{Diagnostic, Severity};
use relance_core::money::Currency;
use rust_decimal::Decimal;
use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

/// ISO 20022 bank transaction code domains (ExternalBankTransactionDomain1Code).
const DOMAINS: &[&str] = &[
    "PMNT", "CAMT", "DERV", "LDAS", "FORX", "PMET", "SECU", "TRAD", "ACMT", "XTND", "CMDT",
];

/// Return reason codes (ExternalReturnReason1Code) seen on SEPA R-transactions.
const RETURN_REASONS: &[&str] = &[
    "AC01", "AC02", "AC03", "AC04", "AC05", "AC06", "AC07", "AC13", "AG01", "AG02", "AM01", "AM02",
    "AM03", "AM04", "AM05", "AM06", "AM07", "AM09", "BE01", "BE04", "BE05", "CNOR", "CURR", "CUST",
    "DNOR", "DUPL", "ED05", "FF01", "FOCR", "FRAD", "MD01", "MD02", "MD06", "MD07", "MS02", "MS03",
    "NOAS", "NOOR", "RC01", "RR01", "RR02", "RR03", "RR04", "SL01", "TECH", "TM01", "UPAY", "ARDT",
    "AC14", "ERIN", "RUTA", "LEGL", "NARR",
];

struct Current {
    position: usize,
    account: String,
    opening: Option<Balance>,
    closing: Option<Balance>,
    currency: Option<String>,
    sum: Decimal,
    all_booked: bool,
    entries: usize,
}

/// The streaming checker.
#[derive(Default)]
pub(crate) struct Checker {
    statements: usize,
    /// Hashes of the bank references (with account and amount) and, for entries without a
    /// reference, of the booking content: one table for both (the hashes say which).
    seen: Seen,
    cur: Option<Current>,
}

fn h64<T: Hash>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

impl Checker {
    pub(crate) fn observe(&mut self, ev: &BankEvent, out: &mut VecDeque<BankEvent>) {
        match ev {
            BankEvent::Statement(s) => {
                self.close(out);
                self.statements += 1;
                self.cur = Some(Current {
                    position: self.statements,
                    account: s.account.clone().unwrap_or_default(),
                    opening: s.opening_balance().cloned(),
                    closing: s.closing_balance().cloned(),
                    currency: s.effective_currency().map(str::to_owned),
                    sum: Decimal::ZERO,
                    all_booked: true,
                    entries: 0,
                });
            }
            BankEvent::Entry(e) => self.entry(e, out),
            BankEvent::StatementEnd { late_balances } => {
                if let Some(c) = self.cur.as_mut() {
                    if c.opening.is_none() {
                        c.opening = late_balances
                            .iter()
                            .find(|b| b.code == "OPBD" || b.code == "PRCD")
                            .cloned();
                    }
                    if c.closing.is_none() {
                        c.closing = late_balances.iter().find(|b| b.code == "CLBD").cloned();
                    }
                }
                self.close(out);
            }
            BankEvent::Format { .. } | BankEvent::Diagnostic(_) => {}
        }
    }

    pub(crate) fn finish(&mut self, out: &mut VecDeque<BankEvent>) {
        self.close(out);
    }

    fn push(out: &mut VecDeque<BankEvent>, sev: Severity, rule: &str, path: String, msg: String) {
        out.push_back(BankEvent::Diagnostic(Diagnostic::new(sev, rule, path, msg)));
    }

    fn entry(&mut self, e: &Entry, out: &mut VecDeque<BankEvent>) {
        let Some(c) = self.cur.as_mut() else { return };
        c.entries += 1;
        // built only when there is something to report (this runs once per entry)
        let (cpos, epos) = (c.position, e.position);
        let at = move || format!("statement[{cpos}]/entry[{epos}]");
        if e.is_booked() {
            c.sum += e.signed_amount();
        } else {
            c.all_booked = false;
        }
        if c.currency.is_none() {
            c.currency = e.currency.clone();
        }
        // A bank reference seen twice on one account: the bank's ids should be unique.
        if let Some(r) = e.acct_svcr_ref.as_deref() {
            if e.is_booked()
                && !self
                    .seen
                    .insert(h64(&(0u8, &c.account, r, e.signed_amount())))
            {
                Self::push(
                    out,
                    Severity::Warning,
                    "BANK-DUPLICATE",
                    at(),
                    format!("bank reference {r:?} with the same amount appears twice on this account; both kept"),
                );
            }
        } else {
            let d = e.single_detail();
            let content = (
                1u8,
                &c.account,
                e.booking_date,
                e.signed_amount(),
                d.map(|d| (&d.remittance, &d.debtor, &d.creditor, &d.end_to_end_id)),
                &e.additional_info,
            );
            if !self.seen.insert(h64(&content)) {
                Self::push(
                    out,
                    Severity::Info,
                    "BANK-DUPLICATE",
                    at(),
                    "entry looks identical to an earlier one (same day, amount, party and text) and the bank gives \
                     no reference; both kept as distinct payments (numbered in the deduplication key)"
                        .to_owned(),
                );
            }
        }
        if e.booking_date.is_none() && e.value_date.is_none() {
            Self::push(
                out,
                Severity::Error,
                "BANK-DATE",
                at(),
                "entry has neither booking nor value date; it cannot become a receipt".to_owned(),
            );
        }
        let ccy = e.currency.as_deref().or(c.currency.as_deref());
        match ccy {
            Some(x) if Currency::parse(x).is_ok() => {}
            other => Self::push(
                out,
                Severity::Error,
                "BANK-CURRENCY",
                at(),
                format!("currency {:?} is not an ISO 4217 letter code; the entry cannot become a receipt", other.unwrap_or("")),
            ),
        }
        if let Some(code) = e.bank_code.as_deref() {
            if let Some(dom) = code.split('/').next().filter(|_| code.contains('/')) {
                if !DOMAINS.contains(&dom) {
                    Self::push(
                        out,
                        Severity::Warning,
                        "BANK-CODE",
                        at(),
                        format!("bank transaction domain {dom:?} is not an ISO 20022 domain code"),
                    );
                }
            }
        }
        if e.details.len() > 1 {
            let with_amount: Vec<Decimal> = e.details.iter().filter_map(|d| d.amount).collect();
            if with_amount.len() < e.details.len() {
                Self::push(
                    out,
                    Severity::Warning,
                    "BANK-BATCH",
                    at(),
                    format!(
                        "batch of {} transactions, {} without an amount: imported as one receipt for the whole entry",
                        e.details.len(),
                        e.details.len() - with_amount.len()
                    ),
                );
            } else {
                let total: Decimal = e
                    .details
                    .iter()
                    .map(|d| {
                        d.credit_debit
                            .unwrap_or(e.credit_debit)
                            .signed(d.amount.unwrap_or_default())
                    })
                    .sum();
                if total != e.signed_amount() {
                    Self::push(
                        out,
                        Severity::Warning,
                        "BANK-BATCH",
                        at(),
                        format!(
                            "the {} transaction amounts add up to {total}, the entry says {} (charges or a currency \
                             conversion may explain it); each transaction is imported with its own amount",
                            e.details.len(),
                            e.signed_amount()
                        ),
                    );
                }
            }
        }
        if let Some(n) = e.batch_count {
            if e.details.len() > 1 && n as usize != e.details.len() {
                Self::push(
                    out,
                    Severity::Warning,
                    "BANK-BATCH",
                    at(),
                    format!(
                        "batch says {n} transactions but {} are detailed",
                        e.details.len()
                    ),
                );
            }
        }
        for d in &e.details {
            let dpos = d.position;
            let dat = || format!("{}/detail[{dpos}]", at());
            if let Some(r) = d.structured_ref.as_deref() {
                if check_rf(r) == RfCheck::Invalid {
                    Self::push(
                        out,
                        Severity::Warning,
                        "BANK-RF",
                        dat(),
                        format!("structured reference {r:?} looks like ISO 11649 but its check digits are wrong; not trusted (moved to the remittance text)"),
                    );
                }
            }
            if let Some(rr) = d.return_reason.as_deref() {
                if !RETURN_REASONS.contains(&rr) {
                    Self::push(
                        out,
                        Severity::Info,
                        "BANK-RETURN-CODE",
                        dat(),
                        format!("return reason {rr:?} is not a known ISO 20022 return reason code"),
                    );
                }
            }
        }
    }

    fn close(&mut self, out: &mut VecDeque<BankEvent>) {
        let Some(c) = self.cur.take() else { return };
        let (Some(o), Some(cl)) = (&c.opening, &c.closing) else {
            return;
        };
        if !c.all_booked {
            return;
        }
        if o.currency.is_some() && cl.currency.is_some() && o.currency != cl.currency {
            Self::push(
                out,
                Severity::Info,
                "BANK-BALANCE",
                format!("statement[{}]", c.position),
                format!(
                    "opening balance in {} and closing balance in {}: continuity not checked",
                    o.currency.as_deref().unwrap_or(""),
                    cl.currency.as_deref().unwrap_or("")
                ),
            );
            return;
        }
        let expected = o.amount + c.sum;
        if expected != cl.amount {
            Self::push(
                out,
                Severity::Warning,
                "BANK-BALANCE",
                format!("statement[{}]", c.position),
                format!(
                    "opening {} + {} entries ({}) = {expected}, but the closing balance is {} (difference {})",
                    o.amount,
                    c.entries,
                    c.sum,
                    cl.amount,
                    cl.amount - expected
                ),
            );
        }
    }
}
