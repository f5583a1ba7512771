//! Generator of realistic labelled reconciliation data, deterministic from a seed.
//!
//! It draws customers with behaviours (clean payers, sloppy typists, RF users, direct-debit
//! customers, subsidiaries paid by a group or a factor, public buyers paid by the DRFIP,
//! consumers), their invoices and credit notes, and a bank statement of several months with
//! every phenomenon of `domain/reconciliation.md`, plus the truth: for each payment event, the
//! invoices it settles. The output is plain model structs (easy to write as UBL/CII and
//! camt.053 by the connectors). Its own small PRNG (SplitMix64) keeps `relance-core` free of
//! dependencies; the numbering pattern of the seller varies with the seed, and so does its
//! order (one chronological sequence, as the law requires, or account by account), so the
//! engine cannot lean on one pattern.
//!
//! The truth is what a careful person would book: the invoices each event settles with the
//! amounts, and the differences written off beside them (a discount, bank charges, rounding),
//! which [`super::score`] checks too. Events that cannot be resolved from what the statement
//! shows (a down payment without any reference, a common name shared by many customers) stay
//! matchable: the rate is measured against everything that should eventually be applied.

use crate::ids::{CustomerId, InvoiceId, TransactionId};
use crate::model::{
    Customer, CustomerKind, Instalment, Invoice, InvoiceKind, InvoiceStatus, Receipt,
};
use crate::money::Currency;
use crate::reconcile::DeductionKind;
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use std::fmt;

/// SplitMix64: a tiny, good-enough, deterministic generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo + 1).unwrap_or(1))).unwrap_or(0)
    }
    /// True with probability `p` per-mille.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[usize::try_from(self.below(v.len() as u64)).unwrap_or(0)]
    }
}

/// The phenomenon a payment event illustrates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phenomenon {
    /// Exact amount, invoice number in the remittance.
    Clean,
    /// Prefix, separators, case, zeros dropped, digit typo or swap, sequence only.
    SloppyRef,
    /// ISO 11649 RF reference in the structured field.
    RfRef,
    /// No reference: payer name and IBAN only.
    NoRef,
    /// One payment for several invoices.
    OneToMany,
    /// A partial payment (a round figure or a third), the balance paid later or not.
    Partial,
    /// One receipt per instalment of an invoice's payment schedule (several receipts for one
    /// invoice), the last sometimes not paid yet.
    Instalment,
    /// Early-payment discount deducted.
    Discount,
    /// Bank charges deducted from a transfer from abroad.
    BankFees,
    /// A few cents short (écart de règlement).
    Rounding,
    /// A credit note netted.
    CreditNote,
    /// A parent company or factor pays.
    GroupPayer,
    /// A SEPA direct-debit batch detail.
    SddBatch,
    /// A public buyer (DRFIP) pays with the engagement / PO number.
    PublicBuyer,
    /// The customer's own PO number instead of the invoice number.
    BuyerRef,
    /// A second payment of a settled invoice.
    Duplicate,
    /// More than due.
    Overpayment,
    /// A direct debit returned (R-transaction) or a transfer reversed.
    Return,
    /// Interest, internal transfers, refunds.
    Noise,
    /// A stranger paying the same amount as an open invoice.
    Stranger,
}

impl fmt::Display for Phenomenon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json_name(*self);
        f.write_str(s)
    }
}

fn serde_json_name(p: Phenomenon) -> &'static str {
    match p {
        Phenomenon::Clean => "clean",
        Phenomenon::SloppyRef => "sloppy_ref",
        Phenomenon::RfRef => "rf_ref",
        Phenomenon::NoRef => "no_ref",
        Phenomenon::OneToMany => "one_to_many",
        Phenomenon::Partial => "partial",
        Phenomenon::Instalment => "instalment",
        Phenomenon::Discount => "discount",
        Phenomenon::BankFees => "bank_fees",
        Phenomenon::Rounding => "rounding",
        Phenomenon::CreditNote => "credit_note",
        Phenomenon::GroupPayer => "group_payer",
        Phenomenon::SddBatch => "sdd_batch",
        Phenomenon::PublicBuyer => "public_buyer",
        Phenomenon::BuyerRef => "buyer_ref",
        Phenomenon::Duplicate => "duplicate",
        Phenomenon::Overpayment => "overpayment",
        Phenomenon::Return => "return",
        Phenomenon::Noise => "noise",
        Phenomenon::Stranger => "stranger",
    }
}

/// The truth of one payment event: the transactions it consists of and what they settle, net
/// (empty when nothing should be applied: noise, stranger, duplicate, returned debit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Truth {
    /// The phenomenon.
    pub phenomenon: Phenomenon,
    /// The transactions of the event (a credit and its return are one event).
    pub transactions: Vec<TransactionId>,
    /// Net allocations expected (credit notes negative).
    pub expected: Vec<(InvoiceId, Decimal)>,
    /// Differences expected to be written off beside them, closing the invoice although
    /// less was received: an early-payment discount, bank charges, a rounding difference.
    pub deductions: Vec<(InvoiceId, DeductionKind, Decimal)>,
}

/// A labelled data set.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Dataset {
    /// The ledger's customers.
    pub customers: Vec<Customer>,
    /// Invoices and credit notes.
    pub invoices: Vec<Invoice>,
    /// The bank statement lines (credits, debits, returns).
    pub receipts: Vec<Receipt>,
    /// The truth per event.
    pub truth: Vec<Truth>,
    /// Whether the seller numbers account by account (else one chronological sequence).
    pub numbering_by_account: bool,
}

/// Size and shape of a data set.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    /// Seed.
    pub seed: u64,
    /// Number of customers.
    pub customers: usize,
    /// Average invoices per customer.
    pub invoices_per_customer: usize,
    /// Per-mille of invoices left unpaid (they stay open, as distractors).
    pub unpaid_per_mille: u64,
    /// Per-mille of extra noise receipts (interest, internal transfers, refunds, strangers).
    pub noise_per_mille: u64,
    /// Numbering order: `Some(false)` chronological across all customers (as French law
    /// requires of one sequence, CGI ann. II art. 242 nonies A), customers invoiced in runs
    /// getting consecutive numbers; `Some(true)` account by account (a seller whose billing
    /// runs invoice each customer's account in turn, so a customer's invoices are
    /// consecutive); `None`: drawn from the seed (one seed in three by account).
    pub numbering_by_account: Option<bool>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            customers: 400,
            invoices_per_customer: 8,
            unpaid_per_mille: 120,
            noise_per_mille: 40,
            numbering_by_account: None,
        }
    }
}

const SURNAMES: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "Andre",
    "Lefevre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "Francois",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guerin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clement",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
];
const FIRST: &[&str] = &[
    "Jean", "Marie", "Pierre", "Sophie", "Luc", "Claire", "Paul", "Julie", "Marc", "Anne", "Louis",
    "Camille", "Hugo", "Emma", "Jules", "Lea",
];
const TRADES: &[&str] = &[
    "Boulangerie",
    "Garage",
    "Transports",
    "Menuiserie",
    "Plomberie",
    "Imprimerie",
    "Pharmacie",
    "Cabinet",
    "Atelier",
    "Electricite",
    "Charpente",
    "Traiteur",
    "Librairie",
    "Hotel",
    "Ambulances",
    "Maconnerie",
    "Informatique",
    "Conseil",
    "Fromagerie",
    "Optique",
];
const PLACES: &[&str] = &[
    "du Centre",
    "de Provence",
    "Atlantique",
    "des Alpes",
    "du Nord",
    "Saint-Michel",
    "de la Gare",
    "Occitanie",
    "Bretagne",
    "du Port",
    "Val de Loire",
    "des Halles",
];
const FORMS: &[&str] = &["SARL", "SAS", "EURL", "SA", "SASU", "SNC"];
const COMMUNES: &[&str] = &[
    "Commune de Saint-Ouen",
    "Mairie de Lyon",
    "CHU de Rennes",
    "Departement du Gard",
    "Lycee Victor Hugo",
    "Communaute de communes du Pays Basque",
];

/// How the seller numbers its documents (varies with the seed).
#[derive(Clone, Copy, Debug)]
enum Numbering {
    /// VT2026_000042
    PrefixYearUnderscore,
    /// F-2026-00042
    DashYear,
    /// FA0000042
    PrefixOnly,
    /// 2026/000042
    YearSlash,
}

impl Numbering {
    fn format(self, credit: bool, seq: u64) -> String {
        match (self, credit) {
            (Numbering::PrefixYearUnderscore, false) => format!("VT2026_{seq:06}"),
            (Numbering::PrefixYearUnderscore, true) => format!("AV2026_{seq:06}"),
            (Numbering::DashYear, false) => format!("F-2026-{seq:05}"),
            (Numbering::DashYear, true) => format!("A-2026-{seq:05}"),
            (Numbering::PrefixOnly, false) => format!("FA{seq:07}"),
            (Numbering::PrefixOnly, true) => format!("AV{seq:07}"),
            (Numbering::YearSlash, false) => format!("2026/{seq:06}"),
            (Numbering::YearSlash, true) => format!("AV2026/{seq:06}"),
        }
    }
}

/// A customer's payment habit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Habit {
    Clean,
    Sloppy,
    NoRef,
    Rf,
    Sdd,
    Group,
    Public,
    BuyerRef,
}

struct Cust {
    idx: usize,
    habit: Habit,
    /// Name as the bank shows it.
    bank_name: String,
    payer_name: String,
    payer_iban: String,
    mandate: String,
}

/// A made-up French-sounding word (brand or family name), so that names do not repeat more
/// than they do in a real ledger.
fn word(rng: &mut Rng) -> String {
    const ON: &[&str] = &[
        "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "br", "tr", "gr",
    ];
    const NU: &[&str] = &["a", "e", "i", "o", "ou", "au", "eu", "an", "on", "in"];
    const CO: &[&str] = &["", "", "l", "r", "n", "t", "s", "x", "rd", "ll"];
    let n = rng.range(2, 3);
    let mut w = String::new();
    for _ in 0..n {
        w.push_str(rng.pick::<&str>(ON));
        w.push_str(rng.pick::<&str>(NU));
    }
    w.push_str(rng.pick::<&str>(CO));
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => w,
    }
}

fn iban(rng: &mut Rng, country: &str) -> String {
    let mut s = format!("{country}{:02}", rng.range(10, 99));
    let n = if country == "FR" { 23 } else { 18 };
    for _ in 0..n {
        s.push(char::from(b'0' + u8::try_from(rng.below(10)).unwrap_or(0)));
    }
    s
}

/// ISO 11649 reference for a payload: `RF` + check digits + payload.
pub fn make_rf(payload: &str) -> String {
    let p: String = payload
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let mut rem: u32 = 0;
    for ch in p.bytes().chain(*b"RF00") {
        let v = if ch.is_ascii_digit() {
            u32::from(ch - b'0')
        } else {
            u32::from(ch - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    format!("RF{:02}{p}", 98 - rem)
}

fn bank_name(rng: &mut Rng, legal: &str, kind: CustomerKind) -> String {
    // Statements upper-case names, move or drop the legal form, swap consumer name order,
    // truncate to 35 characters.
    let mut words: Vec<String> = legal.split_whitespace().map(str::to_uppercase).collect();
    if kind == CustomerKind::Consumer {
        if rng.chance(500) && words.len() >= 3 {
            words.swap(1, 2);
        }
        if rng.chance(500) {
            words[0] = if rng.chance(500) {
                "M".into()
            } else {
                "MME".into()
            };
        }
    } else if let Some(p) = words.iter().position(|w| FORMS.contains(&w.as_str())) {
        let f = words.remove(p);
        match rng.below(3) {
            0 => words.push(f),
            1 => words.insert(0, f),
            _ => {}
        }
    }
    let mut s = words.join(" ");
    s.truncate(35);
    s
}

fn money(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

fn sloppy(rng: &mut Rng, number: &str) -> String {
    let digits_at: Vec<usize> = number
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
        .map(|(i, _)| i)
        .collect();
    let seq_tail: String = {
        let t: String = number
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let s = t.trim_start_matches('0');
        if s.is_empty() {
            "0".into()
        } else {
            s.into()
        }
    };
    match rng.below(8) {
        0 => format!("Fac n° {}", number.to_lowercase()),
        1 => format!("FACTURE {}", number.replace(['_', '-', '/'], " ")),
        2 => number.replace(['_', '-', '/'], ""),
        3 => {
            // Leading zeros of the sequence dropped.
            let head: String = number[..number.len()
                - number
                    .chars()
                    .rev()
                    .take_while(char::is_ascii_digit)
                    .count()]
                .to_owned();
            format!("REGLEMENT {head}{seq_tail}")
        }
        4 => {
            // One digit of the sequence mistyped.
            let mut b = number.as_bytes().to_vec();
            let k = digits_at[digits_at.len() - 1 - usize::try_from(rng.below(2)).unwrap_or(0)];
            b[k] = if b[k] == b'9' { b'1' } else { b[k] + 1 };
            String::from_utf8(b).unwrap_or_default()
        }
        5 => {
            // Two adjacent digits swapped (distinct ones when possible).
            let mut b = number.as_bytes().to_vec();
            let n = digits_at.len();
            let mut k = n - 2;
            while k > 0 && b[digits_at[k]] == b[digits_at[k + 1]] {
                k -= 1;
            }
            b.swap(digits_at[k], digits_at[k + 1]);
            format!("fact {}", String::from_utf8(b).unwrap_or_default())
        }
        7 => {
            // The remittance cut at the bank's field length: the last one or two characters
            // of the number lost.
            let t = format!("REGLEMENT FACTURE {number}");
            let cut = 1 + usize::try_from(rng.below(2)).unwrap_or(0);
            t[..t.len() - cut].to_owned()
        }
        _ => format!("FACTURE N {seq_tail}"),
    }
}

struct Gen {
    rng: Rng,
    numbering: Numbering,
    seq: u64,
    tx: u64,
    ds: Dataset,
    start: NaiveDate,
}

impl Gen {
    fn next_tx(&mut self) -> TransactionId {
        self.tx += 1;
        TransactionId::new(format!("BQ{:010}", self.tx))
    }

    fn receipt(&mut self, c: &Cust, amount: Decimal, date: NaiveDate, text: String) -> Receipt {
        let id = self.next_tx();
        Receipt {
            id: id.clone(),
            account: "FR7630004000031234567890143".into(),
            booking_date: date,
            value_date: Some(date),
            amount,
            currency: Currency::EUR,
            counterparty_name: Some(c.payer_name.clone()),
            counterparty_iban: Some(c.payer_iban.clone()),
            remittance: text,
            structured_ref: None,
            end_to_end_id: Some("NOTPROVIDED".into()),
            mandate_id: None,
            bank_code: Some("PMNT-RCDT-ESCT".into()),
            return_reason: None,
            reversal: false,
            source: format!("synth.camt053#{id}"),
        }
    }

    fn push(&mut self, r: Receipt, p: Phenomenon, expected: Vec<(InvoiceId, Decimal)>) {
        self.push_with(r, p, expected, Vec::new());
    }

    fn push_with(
        &mut self,
        r: Receipt,
        p: Phenomenon,
        expected: Vec<(InvoiceId, Decimal)>,
        deductions: Vec<(InvoiceId, DeductionKind, Decimal)>,
    ) {
        self.ds.truth.push(Truth {
            phenomenon: p,
            transactions: vec![r.id.clone()],
            expected,
            deductions,
        });
        self.ds.receipts.push(r);
    }

    /// A credit and the return or reversal that undoes it: one event, nothing to apply.
    fn push_returned(&mut self, r: Receipt, ret: Receipt) {
        self.ds.truth.push(Truth {
            phenomenon: Phenomenon::Return,
            transactions: vec![r.id.clone(), ret.id.clone()],
            expected: vec![],
            deductions: vec![],
        });
        self.ds.receipts.push(r);
        self.ds.receipts.push(ret);
    }

    fn invoice(&mut self, c: &Cust, kind: InvoiceKind, cents: i64, issue: NaiveDate) -> Invoice {
        self.seq += 1;
        let number = self
            .numbering
            .format(kind == InvoiceKind::CreditNote, self.seq);
        let amount = money(cents);
        let ht = (amount / Decimal::new(12, 1)).round_dp(2);
        let cust = &self.ds.customers[c.idx];
        let public = cust.kind.is_public();
        Invoice {
            id: InvoiceId::new(number.clone()),
            number: number.clone(),
            kind,
            type_code: if kind == InvoiceKind::CreditNote {
                381
            } else {
                380
            },
            issue_date: issue,
            due_date: Some(
                issue
                    + Duration::days(if public {
                        30
                    } else {
                        *self.rng.pick(&[30, 45, 60])
                    }),
            ),
            instalments: Vec::new(),
            currency: Currency::EUR,
            total_without_vat: ht,
            total_vat: amount - ht,
            total_with_vat: amount,
            amount_due: amount,
            customer: cust.id.clone(),
            buyer_reference: if public {
                Some(format!("SE{:05}", self.rng.below(100_000)))
            } else {
                None
            },
            order_reference: if public {
                Some(format!("EJ 13{:08}", self.rng.below(100_000_000)))
            } else if c.habit == Habit::BuyerRef || self.rng.chance(200) {
                Some(format!("PO-{:06}", self.rng.below(1_000_000)))
            } else {
                None
            },
            remittance_reference: if c.habit == Habit::Rf {
                Some(make_rf(&number))
            } else {
                None
            },
            payment_iban: Some("FR7630004000031234567890143".into()),
            mandate_id: if c.habit == Habit::Sdd {
                Some(c.mandate.clone())
            } else {
                None
            },
            status: InvoiceStatus::Open,
        }
    }
}

/// Generates a labelled data set.
pub fn generate(cfg: &SynthConfig) -> Dataset {
    let mut rng = Rng::new(cfg.seed);
    let numbering = *rng.pick(&[
        Numbering::PrefixYearUnderscore,
        Numbering::DashYear,
        Numbering::PrefixOnly,
        Numbering::YearSlash,
    ]);
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let mut g = Gen {
        rng,
        numbering,
        seq: 0,
        tx: 0,
        ds: Dataset::default(),
        start,
    };
    // Groups and factors paying for several customers.
    let n_groups = (cfg.customers / 40).max(1);
    let groups: Vec<(String, String)> = (0..n_groups)
        .map(|k| {
            let name = if k % 3 == 0 {
                format!("FACTOR {} FINANCE", g.rng.pick(SURNAMES).to_uppercase())
            } else {
                format!("HOLDING {}", g.rng.pick(SURNAMES).to_uppercase())
            };
            let ib = iban(&mut g.rng, "FR");
            (name, ib)
        })
        .collect();
    let drfip_iban = iban(&mut g.rng, "FR");
    let mut custs = Vec::with_capacity(cfg.customers);
    for k in 0..cfg.customers {
        let roll = g.rng.below(1000);
        let (kind, habit) = match roll {
            0..=59 => (CustomerKind::PublicEntity, Habit::Public),
            60..=259 => (
                CustomerKind::Consumer,
                *g.rng
                    .pick(&[Habit::Clean, Habit::NoRef, Habit::Sloppy, Habit::Sdd]),
            ),
            260..=359 => (CustomerKind::Business, Habit::Sdd),
            360..=419 => (CustomerKind::Business, Habit::Group),
            420..=489 => (CustomerKind::Business, Habit::Rf),
            490..=539 => (CustomerKind::Business, Habit::BuyerRef),
            540..=699 => (CustomerKind::Business, Habit::Sloppy),
            700..=819 => (CustomerKind::Business, Habit::NoRef),
            _ => (CustomerKind::Business, Habit::Clean),
        };
        let surname = if g.rng.chance(300) {
            (*g.rng.pick(SURNAMES)).to_owned()
        } else {
            word(&mut g.rng)
        };
        let legal = match kind {
            CustomerKind::Consumer => format!("M. {} {}", g.rng.pick(FIRST), surname),
            CustomerKind::PublicEntity | CustomerKind::PublicHospital => {
                format!("{} {}", g.rng.pick(COMMUNES), k)
            }
            CustomerKind::Business => format!(
                "{} {} {} {}",
                g.rng.pick(TRADES),
                surname,
                g.rng.pick(PLACES),
                g.rng.pick(FORMS)
            ),
        };
        let id = CustomerId::new(format!("C{k:06}"));
        let foreign = g.rng.chance(60);
        let own_iban = iban(&mut g.rng, if foreign { "DE" } else { "FR" });
        let mut customer = Customer::new(id, legal.clone());
        customer.kind = kind;
        // Half the ledgers know the customer's IBAN (from the ERP's bank details).
        if g.rng.chance(500) {
            customer.ibans.push(own_iban.clone());
        }
        let bname = bank_name(&mut g.rng, &legal, kind);
        let (payer_name, payer_iban) = match habit {
            Habit::Group => {
                let gr = g.rng.pick(&groups).clone();
                gr
            }
            Habit::Public => ("DRFIP ILE DE FRANCE".to_owned(), drfip_iban.clone()),
            _ => (bname.clone(), own_iban.clone()),
        };
        g.ds.customers.push(customer);
        custs.push(Cust {
            idx: k,
            habit,
            bank_name: bname,
            payer_name,
            payer_iban,
            mandate: format!("MDT{k:08}"),
        });
    }
    let mut ledgers: Vec<(Vec<Invoice>, Option<Invoice>)> = custs
        .iter()
        .map(|c| draw_invoices(&mut g, cfg, c))
        .collect();
    let by_account = cfg
        .numbering_by_account
        .unwrap_or_else(|| g.rng.chance(333));
    renumber(&mut g, &mut ledgers, by_account);
    g.ds.numbering_by_account = by_account;
    for (c, (invs, credit)) in custs.iter().zip(ledgers) {
        pay_customer(&mut g, cfg, c, invs, credit);
    }
    // Noise: interest, internal transfers, refunds, strangers paying an open amount.
    let n_noise = g.ds.receipts.len() * usize::try_from(cfg.noise_per_mille).unwrap_or(0) / 1000;
    let open_now: Vec<(i64, NaiveDate)> =
        g.ds.invoices
            .iter()
            .filter(|i| i.kind == InvoiceKind::Invoice)
            .map(|i| {
                (
                    crate::reconcile::index::cents(i.amount_due),
                    i.effective_due_date(),
                )
            })
            .collect();
    for _ in 0..n_noise {
        let stranger = Cust {
            idx: 0,
            habit: Habit::Clean,
            bank_name: String::new(),
            payer_name: format!(
                "{} {}",
                g.rng.pick(FIRST).to_uppercase(),
                g.rng.pick(SURNAMES).to_uppercase()
            ),
            payer_iban: iban(&mut g.rng, "FR"),
            mandate: String::new(),
        };
        let date = g.start + Duration::days(g.rng.range(20, 200));
        match g.rng.below(4) {
            0 => {
                let v = g.rng.range(50, 5000);
                let r = g.receipt(&stranger, money(v), date, "INTERETS CREDITEURS".into());
                let mut r = r;
                r.counterparty_name = None;
                r.counterparty_iban = None;
                g.push(r, Phenomenon::Noise, vec![]);
            }
            1 => {
                let v = g.rng.range(100_000, 5_000_000);
                let mut r = g.receipt(&stranger, money(v), date, "VIR INTERNE TRESORERIE".into());
                r.counterparty_name = Some("NOTRE SOCIETE".into());
                g.push(r, Phenomenon::Noise, vec![]);
            }
            2 => {
                let v = g.rng.range(1000, 50_000);
                let r = g.receipt(&stranger, money(-v), date, "REMBOURSEMENT CLIENT".into());
                g.push(r, Phenomenon::Noise, vec![]);
            }
            _ => {
                if open_now.is_empty() {
                    continue;
                }
                let (amt, due) = *g.rng.pick(&open_now);
                let text = if g.rng.chance(500) {
                    "VIREMENT".to_owned()
                } else {
                    format!("LOYER {}", g.rng.range(1, 12))
                };
                let dd = g.rng.range(-5, 20);
                let r = g.receipt(&stranger, money(amt), due + Duration::days(dd), text);
                g.push(r, Phenomenon::Stranger, vec![]);
            }
        }
    }
    g.ds
}

/// Draws a customer's invoices (and perhaps a credit note): amounts, issue dates, payment
/// schedules. Numbers are assigned afterwards for the whole ledger (see [`renumber`]).
fn draw_invoices(g: &mut Gen, cfg: &SynthConfig, c: &Cust) -> (Vec<Invoice>, Option<Invoice>) {
    let kind = g.ds.customers[c.idx].kind;
    let n = g.rng.range(
        1,
        i64::try_from(cfg.invoices_per_customer * 2 - 1)
            .unwrap_or(1)
            .max(1),
    );
    // Some business customers are invoiced in runs: several invoices the same day.
    let runs = kind == CustomerKind::Business && g.rng.chance(300);
    let mut run: Option<(NaiveDate, i64)> = None;
    let mut invs: Vec<Invoice> = Vec::new();
    for _ in 0..n {
        let cents = if kind == CustomerKind::Consumer {
            g.rng.range(2_000, 80_000)
        } else {
            // Log-uniform-ish between 40 and 25 000.
            let e = g.rng.range(0, 3);
            let base = [4_000, 40_000, 400_000, 2_500_000][usize::try_from(e).unwrap_or(0)];
            g.rng.range(base / 2, base * 2)
        };
        let issue = match run {
            Some((d, left)) if left > 0 => {
                run = Some((d, left - 1));
                d
            }
            _ => {
                let d = g.start + Duration::days(g.rng.range(0, 150));
                if runs {
                    run = Some((d, g.rng.range(1, 3)));
                }
                d
            }
        };
        let mut inv = g.invoice(c, InvoiceKind::Invoice, cents, issue);
        // A payment schedule (échéancier) on some larger business invoices.
        if kind == CustomerKind::Business
            && c.habit != Habit::Sdd
            && c.habit != Habit::Public
            && cents > 100_000
            && g.rng.chance(80)
        {
            let parts = g.rng.range(2, 4);
            let each = cents / parts;
            let first = inv.effective_due_date();
            inv.instalments = (0..parts)
                .map(|j| Instalment {
                    due_date: first + Duration::days(30 * j),
                    amount: money(if j + 1 == parts {
                        cents - each * (parts - 1)
                    } else {
                        each
                    }),
                })
                .collect();
        }
        invs.push(inv);
    }
    // Some customers have a credit note.
    let mut credit: Option<Invoice> = None;
    if kind != CustomerKind::Consumer
        && c.habit != Habit::Sdd
        && g.rng.chance(120)
        && !invs.is_empty()
    {
        let base = crate::reconcile::index::cents(invs[0].amount_due);
        let cn_cents = (base / g.rng.range(3, 10)).max(500);
        let issue = invs[0].issue_date + Duration::days(5);
        let cn = g.invoice(c, InvoiceKind::CreditNote, cn_cents, issue);
        credit = Some(cn);
    }
    (invs, credit)
}

/// Numbers the whole ledger in one sequence: chronologically by issue date (a customer's
/// invoices of one day consecutive), or account by account.
fn renumber(g: &mut Gen, ledgers: &mut [(Vec<Invoice>, Option<Invoice>)], by_account: bool) {
    let mut keys: Vec<(NaiveDate, usize, usize)> = Vec::new();
    for (k, (invs, cn)) in ledgers.iter().enumerate() {
        for (p, i) in invs.iter().enumerate() {
            keys.push((i.issue_date, k, p));
        }
        if let Some(c) = cn {
            keys.push((c.issue_date, k, usize::MAX));
        }
    }
    if by_account {
        keys.sort_by_key(|&(_, k, p)| (k, p));
    } else {
        keys.sort_unstable();
    }
    g.seq = 0;
    for (_, k, p) in keys {
        g.seq += 1;
        let (invs, cn) = &mut ledgers[k];
        let inv = if p == usize::MAX {
            cn.as_mut()
        } else {
            invs.get_mut(p)
        };
        if let Some(inv) = inv {
            let number = g
                .numbering
                .format(inv.kind == InvoiceKind::CreditNote, g.seq);
            inv.id = InvoiceId::new(number.clone());
            if inv.remittance_reference.is_some() {
                inv.remittance_reference = Some(make_rf(&number));
            }
            inv.number = number;
        }
    }
}

/// The customer's payments of its invoices, with their phenomena and the truth.
fn pay_customer(
    g: &mut Gen,
    cfg: &SynthConfig,
    c: &Cust,
    invs: Vec<Invoice>,
    mut credit: Option<Invoice>,
) {
    let kind = g.ds.customers[c.idx].kind;
    let mut k = 0;
    while k < invs.len() {
        let inv = invs[k].clone();
        k += 1;
        if g.rng.chance(cfg.unpaid_per_mille) {
            continue;
        }
        let amount = inv.amount_due;
        let cents = crate::reconcile::index::cents(amount);
        let date = inv.effective_due_date() + Duration::days(g.rng.range(-15, 40));
        let number = inv.number.clone();
        let id = inv.id.clone();
        match c.habit {
            Habit::Sdd => {
                let mut r = g.receipt(
                    c,
                    amount,
                    inv.effective_due_date(),
                    format!("PRLV SEPA {}", g.ds.customers[c.idx].name.to_uppercase()),
                );
                r.mandate_id = Some(c.mandate.clone());
                r.bank_code = Some("PMNT-RDDT-ESDD".into());
                r.end_to_end_id = Some(if g.rng.chance(600) {
                    number.replace(['_', '-', '/'], "")
                } else {
                    format!("E2E{}", g.tx)
                });
                if g.rng.chance(40) {
                    // Returned: the credit and its return are one event with nothing net.
                    let mut ret = r.clone();
                    ret.id = g.next_tx();
                    ret.amount = -amount;
                    ret.return_reason =
                        Some(g.rng.pick(&["AM04", "MD06", "AC04", "MS02"]).to_string());
                    ret.booking_date = r.booking_date + Duration::days(g.rng.range(2, 5));
                    ret.bank_code = Some("PMNT-RDDT-UPDD".into());
                    ret.source = format!("synth.camt053#{}", ret.id);
                    g.push_returned(r, ret);
                } else {
                    g.push(r, Phenomenon::SddBatch, vec![(id, amount)]);
                }
                continue;
            }
            Habit::Public => {
                let po = inv.order_reference.clone().unwrap_or_default();
                let text = if g.rng.chance(700) {
                    format!(
                        "DRFIP MANDAT {} {}",
                        g.rng.range(1000, 99999),
                        po.replace(' ', "")
                    )
                } else {
                    format!("DGFIP PAIEMENT {po} FACT {number}")
                };
                let r = g.receipt(c, amount, date + Duration::days(20), text);
                g.push(r, Phenomenon::PublicBuyer, vec![(id, amount)]);
                continue;
            }
            _ => {}
        }
        let roll = g.rng.below(1000);
        let ref_text = |g: &mut Gen, number: &str| -> String {
            match c.habit {
                Habit::Sloppy => sloppy(&mut g.rng, number),
                Habit::NoRef => format!("VIR {}", c.bank_name),
                Habit::BuyerRef => format!(
                    "COMMANDE {}",
                    inv.order_reference.clone().unwrap_or_default()
                ),
                _ => {
                    if g.rng.chance(500) {
                        number.to_owned()
                    } else {
                        format!("FACTURE {number}")
                    }
                }
            }
        };
        let base_phen = match c.habit {
            Habit::Sloppy => Phenomenon::SloppyRef,
            Habit::NoRef => Phenomenon::NoRef,
            Habit::Rf => Phenomenon::RfRef,
            Habit::Group => Phenomenon::GroupPayer,
            Habit::BuyerRef => Phenomenon::BuyerRef,
            _ => Phenomenon::Clean,
        };
        // A payment schedule: one receipt per instalment, the last not always paid yet.
        if !inv.instalments.is_empty() {
            let n = inv.instalments.len();
            let paid = if g.rng.chance(250) { n - 1 } else { n };
            for (j, ins) in inv.instalments.iter().enumerate().take(paid) {
                let t = format!("ECHEANCE {}/{} {}", j + 1, n, ref_text(g, &number));
                let d = ins.due_date + Duration::days(g.rng.range(-3, 10));
                let r = g.receipt(c, ins.amount, d, t);
                g.push(r, Phenomenon::Instalment, vec![(id.clone(), ins.amount)]);
            }
            continue;
        }
        // Credit note netting on the invoice it credits (the first one, issued before it).
        if let Some(cn) = credit.take_if(|_| k == 1) {
            let net = cents - crate::reconcile::index::cents(cn.amount_due);
            if net > 0 {
                let text = if g.rng.chance(500) {
                    format!("{number} MOINS AVOIR {}", cn.number)
                } else {
                    format!("FACTURE {number}")
                };
                let r = g.receipt(c, money(net), date, text);
                g.push(
                    r,
                    Phenomenon::CreditNote,
                    vec![(id.clone(), amount), (cn.id.clone(), -cn.amount_due)],
                );
                g.ds.invoices.push(cn);
                continue;
            }
            g.ds.invoices.push(cn);
        }
        match roll {
            // One payment for several invoices of this customer (2 to 10).
            0..=89 if k < invs.len() && kind != CustomerKind::Consumer => {
                let extra = if g.rng.chance(100) {
                    g.rng.range(4, 9)
                } else {
                    g.rng.range(1, 4)
                };
                let extra = usize::try_from(extra).unwrap_or(1).min(invs.len() - k);
                let mut group = vec![inv.clone()];
                group.extend(
                    invs[k..k + extra]
                        .iter()
                        .filter(|i| i.instalments.is_empty())
                        .cloned(),
                );
                k += extra;
                let total: Decimal = group.iter().map(|i| i.amount_due).sum();
                let text = if c.habit == Habit::NoRef || g.rng.chance(300) {
                    format!("REGLEMENT FACTURES {}", c.bank_name)
                } else {
                    group
                        .iter()
                        .map(|i| i.number.clone())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let last = group
                    .iter()
                    .map(Invoice::effective_due_date)
                    .max()
                    .unwrap_or(date);
                let dd = g.rng.range(0, 20);
                let r = g.receipt(c, total, last + Duration::days(dd), text);
                let exp = group.iter().map(|i| (i.id.clone(), i.amount_due)).collect();
                g.push(r, Phenomenon::OneToMany, exp);
            }
            // Partial payment then the balance.
            90..=129 if cents > 20_000 => {
                let part = if g.rng.chance(500) {
                    (cents / 2 / 10_000).max(1) * 10_000
                } else {
                    cents / 3
                };
                let part = part.min(cents - 100);
                let t1 = format!("ACOMPTE {}", ref_text(g, &number));
                let r = g.receipt(c, money(part), date, t1);
                g.push(r, Phenomenon::Partial, vec![(id.clone(), money(part))]);
                let t2 = format!("SOLDE {}", ref_text(g, &number));
                let r = g.receipt(c, money(cents - part), date + Duration::days(30), t2);
                g.push(r, Phenomenon::Partial, vec![(id, money(cents - part))]);
            }
            // Early-payment discount.
            130..=169 if c.habit != Habit::NoRef => {
                let rate =
                    *g.rng
                        .pick(&[Decimal::new(1, 2), Decimal::new(2, 2), Decimal::new(3, 2)]);
                let paid = (amount * (Decimal::ONE - rate)).round_dp(2);
                let t = format!(
                    "{} ESCOMPTE {}%",
                    ref_text(g, &number),
                    rate * Decimal::ONE_HUNDRED
                );
                let r = g.receipt(c, paid, inv.issue_date + Duration::days(8), t);
                g.push_with(
                    r,
                    Phenomenon::Discount,
                    vec![(id.clone(), paid)],
                    vec![(id, DeductionKind::Discount, amount - paid)],
                );
            }
            // Bank charges of a transfer from abroad.
            170..=199 if c.habit != Habit::NoRef && cents > 60_000 => {
                let fee = g.rng.range(500, 2_500);
                let t = ref_text(g, &number);
                let mut r = g.receipt(c, money(cents - fee), date, t);
                let country = *g.rng.pick(&["GB", "CH"]);
                r.counterparty_iban = Some(iban(&mut g.rng, country));
                g.push_with(
                    r,
                    Phenomenon::BankFees,
                    vec![(id.clone(), money(cents - fee))],
                    vec![(id, DeductionKind::BankFees, money(fee))],
                );
            }
            // Overpayment.
            200..=214 if c.habit != Habit::NoRef => {
                let over = g.rng.range(100, 50_000);
                let t = ref_text(g, &number);
                let r = g.receipt(c, money(cents + over), date, t);
                g.push(r, Phenomenon::Overpayment, vec![(id, amount)]);
            }
            // Paid twice.
            215..=229 => {
                let t = ref_text(g, &number);
                let r = g.receipt(c, amount, date, t.clone());
                g.push(r, base_phen, vec![(id.clone(), amount)]);
                let dd = g.rng.range(1, 10);
                let r = g.receipt(c, amount, date + Duration::days(dd), t);
                g.push(r, Phenomenon::Duplicate, vec![]);
            }
            // A few cents short: a rounding difference (écart de règlement).
            230..=244 if cents > 1_000 => {
                let diff = g.rng.range(1, 5);
                let t = ref_text(g, &number);
                let r = g.receipt(c, money(cents - diff), date, t);
                g.push_with(
                    r,
                    Phenomenon::Rounding,
                    vec![(id.clone(), money(cents - diff))],
                    vec![(id, DeductionKind::Rounding, money(diff))],
                );
            }
            // A down payment, the balance not paid yet.
            245..=259 if cents > 20_000 => {
                let part = if g.rng.chance(500) {
                    (cents / 2 / 10_000).max(1) * 10_000
                } else {
                    cents / 3
                };
                let part = part.min(cents - 100);
                let t = format!("ACOMPTE {}", ref_text(g, &number));
                let r = g.receipt(c, money(part), date, t);
                g.push(r, Phenomenon::Partial, vec![(id, money(part))]);
            }
            // RF structured reference for RF customers (or the invoice number in the
            // structured field); no-reference payments occasionally.
            _ => {
                let mut r = g.receipt(c, amount, date, String::new());
                let mut phen = base_phen;
                if c.habit == Habit::Rf {
                    r.structured_ref = if g.rng.chance(250) {
                        Some(number.clone())
                    } else {
                        inv.remittance_reference.clone()
                    };
                    r.remittance = "PAIEMENT".into();
                } else if g.rng.chance(80) && c.habit != Habit::Group {
                    r.remittance = format!("VIREMENT {}", c.bank_name);
                    phen = Phenomenon::NoRef;
                } else if c.habit == Habit::Group && g.rng.chance(250) {
                    r.remittance = format!(
                        "REGLEMENT POUR {}",
                        g.ds.customers[c.idx].name.to_uppercase()
                    );
                } else {
                    r.remittance = ref_text(g, &number);
                }
                if g.rng.chance(8) {
                    // The transfer is reversed by the bank a few days later.
                    let mut ret = r.clone();
                    ret.id = g.next_tx();
                    ret.amount = -amount;
                    ret.reversal = true;
                    ret.remittance = format!("RETOUR VIREMENT {}", r.remittance);
                    ret.booking_date = r.booking_date + Duration::days(g.rng.range(1, 6));
                    ret.bank_code = Some("PMNT-RCDT-RRTN".into());
                    ret.source = format!("synth.camt053#{}", ret.id);
                    g.push_returned(r, ret);
                } else {
                    g.push(r, phen, vec![(id, amount)]);
                }
            }
        }
    }
    // Unused credit notes stay in the ledger.
    if let Some(cn) = credit {
        g.ds.invoices.push(cn);
    }
    g.ds.invoices.extend(invs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_labelled() {
        let cfg = SynthConfig {
            customers: 50,
            ..SynthConfig::default()
        };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(a.receipts, b.receipts);
        assert_eq!(a.truth, b.truth);
        assert!(a.truth.iter().any(|t| t.phenomenon == Phenomenon::Stranger));
        for t in &a.truth {
            for tx in &t.transactions {
                assert!(a.receipts.iter().any(|r| &r.id == tx));
            }
        }
    }

    #[test]
    fn every_phenomenon_is_generated() {
        use std::collections::BTreeSet;
        for by_account in [false, true] {
            let ds = generate(&SynthConfig {
                customers: 800,
                numbering_by_account: Some(by_account),
                ..SynthConfig::default()
            });
            let seen: BTreeSet<Phenomenon> = ds.truth.iter().map(|t| t.phenomenon).collect();
            for p in [
                Phenomenon::Clean,
                Phenomenon::SloppyRef,
                Phenomenon::RfRef,
                Phenomenon::NoRef,
                Phenomenon::OneToMany,
                Phenomenon::Partial,
                Phenomenon::Instalment,
                Phenomenon::Discount,
                Phenomenon::BankFees,
                Phenomenon::Rounding,
                Phenomenon::CreditNote,
                Phenomenon::GroupPayer,
                Phenomenon::SddBatch,
                Phenomenon::PublicBuyer,
                Phenomenon::BuyerRef,
                Phenomenon::Duplicate,
                Phenomenon::Overpayment,
                Phenomenon::Return,
                Phenomenon::Noise,
                Phenomenon::Stranger,
            ] {
                assert!(seen.contains(&p), "{p} not generated");
            }
            // Returns include reversed transfers, not only direct debits.
            assert!(ds.receipts.iter().any(|r| r.reversal));
            // Write-offs are labelled with their kind.
            for t in &ds.truth {
                let want = match t.phenomenon {
                    Phenomenon::Discount => Some(DeductionKind::Discount),
                    Phenomenon::BankFees => Some(DeductionKind::BankFees),
                    Phenomenon::Rounding => Some(DeductionKind::Rounding),
                    _ => None,
                };
                assert_eq!(t.deductions.first().map(|d| d.1), want, "{t:?}");
            }
        }
    }

    #[test]
    fn numbering_is_chronological_unless_by_account() {
        let ds = generate(&SynthConfig {
            customers: 200,
            numbering_by_account: Some(false),
            ..SynthConfig::default()
        });
        let mut v: Vec<&Invoice> = ds.invoices.iter().collect();
        v.sort_by(|a, b| a.number.cmp(&b.number));
        // Same prefix and zero-padded sequence: number order is issue-date order.
        let invoices: Vec<&&Invoice> = v
            .iter()
            .filter(|i| i.kind == InvoiceKind::Invoice)
            .collect();
        assert!(invoices
            .windows(2)
            .all(|w| w[0].issue_date <= w[1].issue_date));
    }

    #[test]
    fn rf_reference_is_valid() {
        assert!(crate::reconcile::normalise::rf_valid(&make_rf(
            "VT2026000042"
        )));
        assert_eq!(make_rf("539007547034"), "RF18539007547034");
    }
}
