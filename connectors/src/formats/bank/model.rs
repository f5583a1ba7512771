//! The common statement model every bank format (camt, MT940, CFONB120, OFX) is parsed into.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which bank file format a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankFormat {
    /// ISO 20022 camt.052 intraday account report.
    Camt052,
    /// ISO 20022 camt.053 end-of-day statement.
    Camt053,
    /// ISO 20022 camt.054 debit/credit notification.
    Camt054,
    /// SWIFT MT940 customer statement (MT942 interim reports are read the same way).
    Mt940,
    /// French CFONB 120-character statement (relevé AFB).
    Cfonb120,
    /// OFX 1.x (SGML) or 2.x (XML) statement download.
    Ofx,
}

impl BankFormat {
    /// Stable lower-case name, as used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            BankFormat::Camt052 => "camt052",
            BankFormat::Camt053 => "camt053",
            BankFormat::Camt054 => "camt054",
            BankFormat::Mt940 => "mt940",
            BankFormat::Cfonb120 => "cfonb120",
            BankFormat::Ofx => "ofx",
        }
    }

    /// True for the three ISO 20022 camt messages.
    pub fn is_camt(self) -> bool {
        matches!(
            self,
            BankFormat::Camt052 | BankFormat::Camt053 | BankFormat::Camt054
        )
    }
}

/// Direction of a booking on the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreditDebit {
    /// Money in (`CRDT`).
    #[serde(rename = "CRDT")]
    Credit,
    /// Money out (`DBIT`).
    #[serde(rename = "DBIT")]
    Debit,
}

impl CreditDebit {
    /// Parses `CRDT` / `DBIT`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "CRDT" => Some(CreditDebit::Credit),
            "DBIT" => Some(CreditDebit::Debit),
            _ => None,
        }
    }

    /// The ISO code.
    pub fn as_str(self) -> &'static str {
        match self {
            CreditDebit::Credit => "CRDT",
            CreditDebit::Debit => "DBIT",
        }
    }

    /// `amount` with the sign of this direction (debits negative).
    pub fn signed(self, amount: Decimal) -> Decimal {
        match self {
            CreditDebit::Credit => amount,
            CreditDebit::Debit => -amount,
        }
    }
}

/// One balance of a statement, signed (a debit balance is negative).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Balance type: ISO code (`OPBD`, `PRCD`, `CLBD`, `ITBD`, `CLAV`, ...) or the format's
    /// equivalent mapped onto it (MT940 `:60F:`/`:60M:` → `OPBD`, `:62F:`/`:62M:` → `CLBD`, `:64:` → `CLAV`).
    pub code: String,
    /// Signed amount.
    pub amount: Decimal,
    /// Currency as written in the file.
    pub currency: Option<String>,
    /// Date of the balance.
    pub date: Option<chrono::NaiveDate>,
}

/// The other party of a transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Party {
    /// Name.
    pub name: Option<String>,
    /// IBAN (or the account id the bank gives when it is not an IBAN).
    pub iban: Option<String>,
}

impl Party {
    /// True when neither a name nor an account is known.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.iban.is_none()
    }
}

/// One underlying transaction of an entry (camt `TxDtls`); a SEPA batch has many.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxDetail {
    /// 1-based position inside its entry.
    pub position: usize,
    /// The bank's reference of this transaction (`Refs/AcctSvcrRef`).
    pub acct_svcr_ref: Option<String>,
    /// Instruction id.
    pub instr_id: Option<String>,
    /// Transaction id.
    pub tx_id: Option<String>,
    /// End-to-end id.
    pub end_to_end_id: Option<String>,
    /// SEPA mandate id.
    pub mandate_id: Option<String>,
    /// Amount of this transaction in the account currency, when given (unsigned).
    pub amount: Option<Decimal>,
    /// Currency of `amount`.
    pub currency: Option<String>,
    /// Direction, when the detail gives one (else the entry's applies).
    pub credit_debit: Option<CreditDebit>,
    /// Charges taken on this transaction, when given.
    pub charges: Option<Decimal>,
    /// Debtor.
    pub debtor: Party,
    /// Ultimate debtor name.
    pub ultimate_debtor: Option<String>,
    /// Creditor.
    pub creditor: Party,
    /// Ultimate creditor name.
    pub ultimate_creditor: Option<String>,
    /// Unstructured remittance lines joined by a space.
    pub remittance: String,
    /// Structured creditor reference (`Strd/CdtrRefInf/Ref`).
    pub structured_ref: Option<String>,
    /// Return reason code (`RtrInf/Rsn/Cd`).
    pub return_reason: Option<String>,
    /// Bank transaction code of the detail, when different from the entry's.
    pub bank_code: Option<String>,
    /// Additional transaction information.
    pub additional_info: Option<String>,
}

/// One booking line of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1-based position inside its statement.
    pub position: usize,
    /// The bank's reference of the entry (camt `AcctSvcrRef`, MT940 `:61:` bank reference,
    /// OFX `FITID`, CFONB écriture number + reference).
    pub acct_svcr_ref: Option<String>,
    /// camt `NtryRef` (or the MT940 customer reference).
    pub ntry_ref: Option<String>,
    /// Unsigned amount as written.
    pub amount: Decimal,
    /// Currency as written.
    pub currency: Option<String>,
    /// Direction.
    pub credit_debit: CreditDebit,
    /// Reversal indicator (camt `RvslInd`, MT940 `RC`/`RD`).
    pub reversal: bool,
    /// Status (`BOOK`, `PDNG`, `INFO`); `None` when the format has no such notion (booked).
    pub status: Option<String>,
    /// Booking date.
    pub booking_date: Option<chrono::NaiveDate>,
    /// Value date.
    pub value_date: Option<chrono::NaiveDate>,
    /// Bank transaction code: `DOMN/FMLY/SUBF`, else the proprietary code.
    pub bank_code: Option<String>,
    /// Proprietary bank transaction code, when both are given.
    pub proprietary_code: Option<String>,
    /// Additional entry information (camt `AddtlNtryInf`, MT940 `:86:` free text).
    pub additional_info: Option<String>,
    /// Number of transactions the bank says a batch holds (`Btch/NbOfTxs`).
    pub batch_count: Option<u32>,
    /// Charges on the entry, when given.
    pub charges: Option<Decimal>,
    /// Transaction details (empty when the format or file has none).
    pub details: Vec<TxDetail>,
}

impl Entry {
    /// A booked entry with only the required fields.
    pub fn new(position: usize, amount: Decimal, credit_debit: CreditDebit) -> Self {
        Self {
            position,
            acct_svcr_ref: None,
            ntry_ref: None,
            amount,
            currency: None,
            credit_debit,
            reversal: false,
            status: None,
            booking_date: None,
            value_date: None,
            bank_code: None,
            proprietary_code: None,
            additional_info: None,
            batch_count: None,
            charges: None,
            details: Vec::new(),
        }
    }

    /// Amount signed by direction (debits negative).
    pub fn signed_amount(&self) -> Decimal {
        self.credit_debit.signed(self.amount)
    }

    /// True unless the bank marks the entry pending or information only.
    pub fn is_booked(&self) -> bool {
        match self.status.as_deref() {
            None => true,
            Some(s) => s.eq_ignore_ascii_case("BOOK"),
        }
    }

    /// The only detail, when there is exactly one.
    pub fn single_detail(&self) -> Option<&TxDetail> {
        match self.details.as_slice() {
            [d] => Some(d),
            _ => None,
        }
    }
}

/// One statement, report or notification for one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// 1-based position in the file.
    pub position: usize,
    /// Message type and version as found (`camt.053.001.02`, `MT940`, `CFONB120`, `OFX 102`).
    pub message: String,
    /// Statement id (camt `Stmt/Id`, MT940 `:20:`/`:28C:`, OFX `TRNUID`).
    pub id: Option<String>,
    /// Account: IBAN, else the bank's account id.
    pub account: Option<String>,
    /// Account currency (camt `Acct/Ccy`, else from balances or entries).
    pub currency: Option<String>,
    /// Every balance, in file order.
    pub balances: Vec<Balance>,
    /// Entries, in file order.
    pub entries: Vec<Entry>,
}

impl Statement {
    /// Opening balance: `OPBD`, else `PRCD` (previously closed booked balance).
    pub fn opening_balance(&self) -> Option<&Balance> {
        self.balances
            .iter()
            .find(|b| b.code == "OPBD")
            .or_else(|| self.balances.iter().find(|b| b.code == "PRCD"))
    }

    /// Closing balance: `CLBD`.
    pub fn closing_balance(&self) -> Option<&Balance> {
        self.balances.iter().find(|b| b.code == "CLBD")
    }

    /// The statement currency: declared, else that of the first balance or entry.
    pub fn effective_currency(&self) -> Option<&str> {
        self.currency
            .as_deref()
            .or_else(|| self.balances.iter().find_map(|b| b.currency.as_deref()))
            .or_else(|| self.entries.iter().find_map(|e| e.currency.as_deref()))
    }
}
