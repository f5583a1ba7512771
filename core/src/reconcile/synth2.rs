//! A second generator of labelled receivables and bank statements, written apart from
//! [`super::synth`] so that the engine is measured on data it was not shaped by.
//!
//! **Company models.** Each seed draws one seller among three (or the configured one):
//! * [`Sector::Consumer`]: a consumer-heavy business (a sports club, a music school, a
//!   boiler-maintenance firm): most customers are households on monthly subscriptions
//!   collected by SEPA direct debit or paid by standing orders without any reference, plus
//!   one-off services paid by cheque, by card through a payment platform, or by transfer;
//! * [`Sector::Public`]: a supplier of public buyers (communes, colleges, hospitals,
//!   inter-communal bodies) paid by the public treasury (DRFIP, DDFIP, trésorerie) with the
//!   mandate number and the invoice number or the legal commitment (EJ, the order
//!   reference), the treasury paying for many buyers from one account; a few private
//!   customers beside;
//! * [`Sector::Services`]: a services SME (web agency, IT maintenance, consulting) with
//!   business customers on monthly subscriptions paid by standing orders without reference,
//!   project invoices paid with or without their number, some paid by a reverse-factoring
//!   house, by the manager's personal account, or by card through a platform.
//!
//! **Bank behaviours.** The payer's bank prints the account holder's name, not the ledger's:
//! upper case with accents and punctuation stripped, and per payer one of: spaces removed
//! (`ETSNGUYENSASU`), cut at 35 or 70 characters (with the address run on), words reordered
//! (`DUPONT JEAN M`, `SAS LEGRAND CONSEIL`), legal forms added, dropped or abbreviated
//! (ETS, STE, SOC, SARL, SAS, SASU, EURL), couples (`M OU MME`, `MR ET MME`). IBANs are those
//! of the payer's bank (valid check digits), recorded in the ledger only for direct-debit
//! customers and some others; a customer's first payment, and the payments after it changed
//! bank, come from an IBAN the ledger never saw. Cheques arrive as the detail lines of a
//! remittance slip with the drawer's printed name and no IBAN. Platforms pay each charge net
//! of their fee from an account abroad.
//!
//! **Truth conventions** (what a careful bookkeeper books, which [`super::score`] checks):
//! * a payment that designates invoices (their number in the text or the structured field,
//!   the direct-debit end-to-end id, the legal commitment of a public buyer) settles those;
//! * a payment without designation from a customer settles, by Code civil art. 1342-10, the
//!   invoice the customer meant when its amount is exactly one open invoice's (the payer
//!   knows what it pays; an amount equal to one invoice beats older different amounts), and
//!   among several open invoices of exactly that amount the first due, oldest (a standing
//!   order pays the oldest month first); a standing order catching up a skipped month pays
//!   the two oldest;
//! * a platform's fee is booked as bank charges ([`DeductionKind::BankFees`]) beside the
//!   invoice, which it closes;
//! * a receipt of a stranger (another person of the same surname, someone paying the wrong
//!   seller), interest, an internal transfer, a supplier's refund, and a direct debit the
//!   payer's bank returned (the credit and its return are one event) settle nothing;
//! * every event that should settle something is matchable, also when the statement alone
//!   cannot say who paid (a customer paying under a trade name the ledger does not know):
//!   the rate is measured against everything that should eventually be applied.
//!
//! The ledger is the seller's view before relance: every invoice is open for its total. The
//! data mirrors what the readers produce: camt.053 entries and their transaction details
//! (`AcctSvcrRef` as id, `Ustrd`, `Strd/CdtrRefInf`, `EndToEndId`, `MndtId`, return reason),
//! UBL/CII invoices (BT-1 number, BT-10 buyer reference, BT-13 order reference, BT-89
//! mandate, BT-9 due date). Its own generator (PCG-XSH-RR) keeps it independent of
//! [`super::synth::Rng`].

use crate::dunning::score::{Generator, ScoreData, Settlement};
use crate::ids::{CustomerId, InvoiceId, TransactionId};
use crate::model::{Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus, Receipt};
use crate::money::Currency;
use crate::reconcile::DeductionKind;
use crate::siren::Siren;
use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// PCG-XSH-RR 64/32: a small, deterministic generator.
#[derive(Clone, Debug)]
pub struct Pcg {
    state: u64,
}

impl Pcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        let mut p = Pcg { state: 0 };
        p.next();
        p.state = p.state.wrapping_add(seed ^ 0x853c_49e6_748f_ea9b);
        p.next();
        p
    }
    fn next(&mut self) -> u32 {
        let old = self.state;
        self.state = old
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }
    /// Uniform in `0..n` (0 when n is 0).
    pub fn upto(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u32::try_from((hi - lo + 1).max(1)).unwrap_or(u32::MAX);
        lo + i64::from(self.upto(span))
    }
    /// True with probability `pct` per cent.
    pub fn percent(&mut self, pct: u32) -> bool {
        self.upto(100) < pct
    }
    /// One element of a non-empty slice.
    pub fn one<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.upto(u32::try_from(v.len()).unwrap_or(1)) as usize]
    }
}

/// The seller's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sector {
    /// Households on subscriptions and one-off services.
    Consumer,
    /// Public buyers paid by the treasury.
    Public,
    /// Business customers, subscriptions and projects.
    Services,
}

/// What a payment event shows; the score is reported per case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// The invoice number in the text (as the payer writes it) or the structured field.
    Referenced,
    /// Several invoices in one transfer, their numbers listed.
    ReferencedSeveral,
    /// A direct debit: mandate, the invoice number as end-to-end id or none.
    DirectDebit,
    /// A standing order of a subscription: equal amounts, no reference.
    Subscription,
    /// A standing order paying two skipped months at once.
    SubscriptionCatchUp,
    /// No reference, the amount of one open invoice while older ones of other amounts are open.
    AmountNotOldest,
    /// No reference, one open invoice of the amount, the payer's name printed as the bank
    /// does (plain upper case, accents stripped).
    NamePlain,
    /// ... spaces removed.
    NameGlued,
    /// ... cut at 35 or 70 characters.
    NameCut,
    /// ... words reordered.
    NameReordered,
    /// ... legal form added, dropped or abbreviated.
    NameLegalForm,
    /// ... a couple (`M OU MME`, `MR ET MME`).
    NameCouple,
    /// First payment from an IBAN never seen (new customer or new bank), no reference.
    NewIban,
    /// A cheque in a remittance slip: drawer's name, no IBAN.
    Cheque,
    /// Someone else pays with the reference (the manager, an accountant).
    ThirdParty,
    /// A reverse-factoring house pays for its client.
    Factoring,
    /// A card payment platform pays net of its fee.
    Platform,
    /// The public treasury pays with mandate and invoice number or legal commitment.
    Treasury,
    /// A trade name the ledger does not know, new IBAN, no reference.
    TradeName,
    /// A direct debit returned by the payer's bank.
    Returned,
    /// Someone who owes nothing paying an amount equal to an open invoice.
    Stranger,
    /// Interest, internal transfers, supplier refunds, debits.
    Noise,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = serde_json_like(*self);
        f.write_str(&v)
    }
}

fn serde_json_like(c: Case) -> String {
    let dbg = format!("{c:?}");
    let mut out = String::new();
    for (k, ch) in dbg.chars().enumerate() {
        if ch.is_uppercase() && k > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The truth of one payment event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// What it shows.
    pub case: Case,
    /// Its bank lines (a direct debit and its return are one event).
    pub transactions: Vec<TransactionId>,
    /// Net allocations expected.
    pub expected: Vec<(InvoiceId, Decimal)>,
    /// Differences written off beside them.
    pub deductions: Vec<(InvoiceId, DeductionKind, Decimal)>,
}

impl super::score::Labelled for Event {
    type Label = Case;
    fn label(&self) -> Case {
        self.case
    }
    fn transactions(&self) -> &[TransactionId] {
        &self.transactions
    }
    fn expected(&self) -> &[(InvoiceId, Decimal)] {
        &self.expected
    }
    fn deductions(&self) -> &[(InvoiceId, DeductionKind, Decimal)] {
        &self.deductions
    }
}

/// A generated ledger and statement with its truth.
#[derive(Clone, Debug, Serialize)]
pub struct Dataset {
    /// The seller's business.
    pub sector: Sector,
    /// Customers.
    pub customers: Vec<Customer>,
    /// Invoices.
    pub invoices: Vec<Invoice>,
    /// Bank lines.
    pub receipts: Vec<Receipt>,
    /// Truth per event.
    pub truth: Vec<Event>,
}

/// Size and shape.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seed.
    pub seed: u64,
    /// Customers.
    pub customers: usize,
    /// Months of invoicing (from January 2026).
    pub months: u32,
    /// The seller; `None` draws it from the seed.
    pub sector: Option<Sector>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            customers: 300,
            months: 6,
            sector: None,
        }
    }
}

const SURNAMES: &[&str] = &[
    "Nguyen",
    "Lefèvre",
    "Dupont",
    "Legrand",
    "Ménard",
    "Bénard",
    "Da Silva",
    "Ferreira",
    "Le Gall",
    "Le Goff",
    "Kerbrat",
    "Haddad",
    "Benali",
    "Traoré",
    "Diallo",
    "Moulin",
    "Chevalier",
    "Brunet",
    "Renaud",
    "Marchand",
    "Barbier",
    "Collin",
    "Gaillard",
    "Perrot",
    "Lemaire",
    "Riviere",
    "Caron",
    "Picard",
    "Roger",
    "Masson",
    "Aubert",
    "Huet",
    "Carpentier",
    "Rolland",
    "Bouvier",
    "Lacroix",
    "Prévost",
    "Boyer",
    "Hoarau",
    "Payet",
    "Grondin",
    "Lebreton",
    "Gauthier",
    "Hamon",
    "Guillot",
    "Joly",
    "Colas",
    "Arnaud",
    "Vasseur",
    "Baron",
    "Tessier",
    "Poirier",
    "Leclerc",
    "Besnard",
    "Jacquet",
    "Rey",
    "Cordier",
    "Blanchard",
    "Charpentier",
    "Géraud",
    "Delaunay",
    "Marechal",
    "Lebrun",
    "Perret",
    "Millet",
    "Etienne",
    "Pasquier",
    "Texier",
    "Rousset",
    "Chauvin",
    "Bailly",
    "Langlois",
    "Hubert",
    "Maillard",
    "Schmitt",
    "Klein",
    "Meyer",
    "Weber",
    "Ortega",
    "Santos",
    "Pereira",
    "Lopes",
    "Tran",
    "Pham",
    "Ould Ahmed",
    "Saint-Martin",
    "Des Roches",
    "Benoît",
    "Lagarde",
    "Pons",
];
const GIVEN: &[&str] = &[
    "Jean",
    "Marie",
    "Sophie",
    "Élodie",
    "Hélène",
    "François",
    "Loïc",
    "Gaëlle",
    "Thierry",
    "Nathalie",
    "Stéphane",
    "Céline",
    "Jérôme",
    "Agnès",
    "Yannick",
    "Maëlle",
    "Karim",
    "Fatima",
    "Mamadou",
    "Aurélie",
    "Benoît",
    "Chloé",
    "Rémi",
    "Inès",
    "Joël",
    "Noémie",
    "Hervé",
    "Sandrine",
    "Grégory",
    "Anaïs",
    "Luc",
    "Paul",
    "Anne",
    "Eric",
    "Zoé",
];
const ACTIVITIES: &[&str] = &[
    "Rénovation",
    "Conseil",
    "Plomberie",
    "Transports",
    "Immobilier",
    "Informatique",
    "Menuiserie",
    "Électricité",
    "Paysages",
    "Traiteur",
    "Architecture",
    "Formation",
    "Communication",
    "Ingénierie",
    "Nettoyage",
    "Logistique",
    "Optique",
    "Pharmacie",
    "Boulangerie",
    "Garage",
    "Imprimerie",
    "Distribution",
    "Études",
    "Maintenance",
];
const PLACES: &[&str] = &[
    "Rhône",
    "Vallée",
    "Pays Basque",
    "Léman",
    "Cévennes",
    "Val de Loire",
    "Mont-Blanc",
    "Bocage",
    "Littoral",
    "Centre",
    "Vexin",
    "Morbihan",
    "Périgord",
    "Brocéliande",
    "Marais",
];
const TOWNS: &[&str] = &[
    "Saint-Étienne",
    "Villeurbanne",
    "Quimper",
    "Besançon",
    "Hérouville",
    "Aubagne",
    "Épinal",
    "Lorient",
    "Montbéliard",
    "Sète",
    "Valence",
    "Niort",
    "Bourg-en-Bresse",
    "Mâcon",
    "Agen",
    "Castres",
    "Évreux",
    "Saint-Denis",
    "Cergy",
    "Annecy",
    "Chambéry",
    "Pau",
    "Tarbes",
];
const FORMS: &[&str] = &["SARL", "SAS", "SASU", "EURL", "SA", "SNC"];
const TREASURIES: &[&str] = &[
    "DRFIP AUVERGNE RHONE ALPES ET DEPARTEMENT DU RHONE",
    "DDFIP DE LA LOIRE",
    "DRFIP BRETAGNE ET DEPARTEMENT D ILLE ET VILAINE",
    "TRESORERIE MUNICIPALE DE VALENCE",
    "DDFIP DU FINISTERE",
];
const FACTORS: &[&str] = &[
    "ECOFACTO PAIEMENTS FOURNISSEURS",
    "BPCE FACTOR AFFACTURAGE INVERSE",
    "CREDIT MUTUEL FACTORING",
];
const PLATFORMS: &[(&str, &str, i64, i64)] = &[
    // name, country, fee per ten thousand, fixed fee in cents
    ("STRIPE TECHNOLOGY EUROPE LTD", "IE", 150, 25),
    ("SUMUP PAYMENTS LIMITED", "IE", 175, 0),
    ("PAYPAL EUROPE S.A R.L. ET CIE S.C.A", "LU", 290, 35),
];
const NOREF_TEXTS: &[&str] = &[
    "",
    "VIREMENT",
    "VIR SEPA",
    "VIREMENT PERMANENT",
    "ABONNEMENT",
    "COTISATION",
    "PAIEMENT",
    "REGLEMENT",
    "MENSUALITE",
    "HEBERGEMENT",
    "NOTPROVIDED",
];

/// How a customer pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Habit {
    DirectDebit,
    TransferRef,
    TransferNoRef,
    Cheque,
    Platform(usize),
    Factor(usize),
    Manager,
    Treasury(usize),
}

/// How its bank prints the holder's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Print {
    Plain,
    Glued,
    Cut,
    Reordered,
    LegalForm,
    Couple,
}

struct Party {
    id: CustomerId,
    kind: CustomerKind,
    /// Person: (given, surname); company: None.
    person: Option<(String, String)>,
    /// The legal name without its form, and the form.
    company: Option<(String, Option<&'static str>)>,
    print: Print,
    ibans: [String; 2],
    switch: Option<NaiveDate>,
    habit: Habit,
    subscription: Option<Decimal>,
    delay: i64,
    never_pays: bool,
    trade_name: Option<String>,
    address: String,
    iban_in_ledger: bool,
}

fn fold(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        let c = match ch {
            'à' | 'â' | 'ä' | 'À' | 'Â' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' => 'E',
            'î' | 'ï' | 'Î' => 'I',
            'ô' | 'ö' | 'Ô' => 'O',
            'ù' | 'û' | 'ü' | 'Û' => 'U',
            'ç' | 'Ç' => 'C',
            '\'' | '-' | '.' | ',' | '&' => ' ',
            c => c.to_ascii_uppercase(),
        };
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn iban(rng: &mut Pcg, country: &str, bank: &str) -> String {
    let len = match country {
        "FR" => 23,
        "LU" => 16,
        _ => 18,
    };
    let mut bban = String::from(bank);
    while bban.len() < len {
        bban.push(char::from(b'0' + u8::try_from(rng.upto(10)).unwrap_or(0)));
    }
    // ISO 13616 check digits: BBAN + country + "00" as digits, mod 97.
    let moved = format!("{bban}{country}00");
    let mut r: u32 = 0;
    for ch in moved.chars() {
        let v = if ch.is_ascii_digit() {
            ch as u32 - '0' as u32
        } else {
            ch as u32 - 'A' as u32 + 10
        };
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    format!("{country}{:02}{bban}", 98 - r)
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

impl Party {
    fn ledger_name(&self, variant: u32) -> String {
        if let Some((g, s)) = &self.person {
            return match variant % 3 {
                0 => format!("{g} {s}"),
                1 => format!("{} {g}", s.to_uppercase()),
                _ => format!("M. {g} {s}"),
            };
        }
        if let Some((n, f)) = &self.company {
            return match (f, variant % 2) {
                (Some(f), 0) => format!("{n} {f}"),
                (Some(f), _) => format!("{f} {n}"),
                (None, _) => n.clone(),
            };
        }
        String::new()
    }

    /// The holder's name as the payer's bank prints it.
    fn printed(&self, rng: &mut Pcg) -> String {
        if let Some(t) = &self.trade_name {
            return fold(t);
        }
        match (&self.person, &self.company) {
            (Some((g, s)), _) => {
                let (g, s) = (fold(g), fold(s));
                match self.print {
                    Print::Glued => format!("{s}{g}").replace(' ', ""),
                    Print::Cut => {
                        let full = format!("M {g} {s} {}", fold(&self.address));
                        full.chars().take(35).collect()
                    }
                    Print::Reordered => {
                        if rng.percent(50) {
                            format!("{s} {g} M")
                        } else {
                            format!("{s} {g}")
                        }
                    }
                    Print::Couple => match rng.upto(3) {
                        0 => format!("M OU MME {s} {g}"),
                        1 => format!("MR ET MME {s} {g}"),
                        _ => format!("MR OU MME {g} {s}"),
                    },
                    Print::LegalForm | Print::Plain => format!("{g} {s}"),
                }
            }
            (None, Some((n, f))) => {
                let n = fold(n);
                let form = f.unwrap_or("");
                match self.print {
                    Print::Glued => format!("{n}{form}").replace(' ', ""),
                    Print::Cut => {
                        // A long name cut at the field length; a short one with the address
                        // run on and cut (legacy formats have one field for both).
                        let name = format!("{n} {form}").trim().to_owned();
                        let full = if name.chars().count() > 35 {
                            name
                        } else {
                            format!("{name} {}", fold(&self.address))
                        };
                        let at = if full.chars().count() > 70 && rng.percent(50) {
                            70
                        } else {
                            35
                        };
                        full.chars()
                            .take(at)
                            .collect::<String>()
                            .trim_end()
                            .to_owned()
                    }
                    Print::Reordered => format!("{form} {n}").trim().to_owned(),
                    Print::LegalForm => {
                        let abbreviated = n
                            .replace("ETABLISSEMENTS", "ETS")
                            .replace("SOCIETE", if rng.percent(50) { "STE" } else { "SOC" });
                        if abbreviated != n {
                            abbreviated
                        } else if f.is_some() {
                            n // the form dropped
                        } else {
                            format!("{n} {}", rng.one(&["SARL", "SAS", "EURL"]))
                        }
                    }
                    Print::Plain | Print::Couple => format!("{n} {form}").trim().to_owned(),
                }
            }
            _ => String::new(),
        }
    }

    fn iban_on(&self, day: NaiveDate) -> &str {
        match self.switch {
            Some(d) if day >= d => &self.ibans[1],
            _ => &self.ibans[0],
        }
    }
}

struct Gen {
    rng: Pcg,
    sector: Sector,
    numbering: u32,
    seq: u32,
    tx: u32,
    parties: Vec<Party>,
    invoices: Vec<Invoice>,
    receipts: Vec<Receipt>,
    truth: Vec<Event>,
    treasury_ibans: Vec<String>,
    factor_ibans: Vec<String>,
    platform_ibans: Vec<String>,
    /// Open amount (cents) of each invoice, by index, as the generator pays them.
    open: Vec<i64>,
}

impl Gen {
    fn number(&mut self, issue: NaiveDate) -> String {
        self.seq += 1;
        let y = issue.year();
        match self.numbering {
            0 => format!("FA{y}-{:05}", self.seq),
            1 => format!("F{}{:02}{:04}", y % 100, issue.month(), self.seq),
            2 => format!("{y}/{:04}", self.seq),
            _ => format!("FAC-{:06}", self.seq + 1000),
        }
    }

    fn tx_id(&mut self, day: NaiveDate) -> TransactionId {
        self.tx += 1;
        TransactionId::new(format!("{}{:07}", day.format("%Y%m%d"), self.tx))
    }

    fn party(&mut self, k: usize) -> Party {
        let rng = &mut self.rng;
        let sector = self.sector;
        let id = CustomerId::new(format!("C{:05}", k + 1));
        let consumer_share = match sector {
            Sector::Consumer => 75,
            Sector::Public => 0,
            Sector::Services => 5,
        };
        let public_share = if sector == Sector::Public { 65 } else { 0 };
        let roll = rng.upto(100);
        let (kind, person, company) = if roll < consumer_share {
            let g = (*rng.one(GIVEN)).to_owned();
            let s = (*rng.one(SURNAMES)).to_owned();
            (CustomerKind::Consumer, Some((g, s)), None)
        } else if roll < consumer_share + public_share {
            let town = rng.one(TOWNS);
            let (kind, name) = match rng.upto(5) {
                0 => (
                    CustomerKind::PublicHospital,
                    format!("Centre Hospitalier de {town}"),
                ),
                1 => (
                    CustomerKind::PublicEntity,
                    format!("Collège {} {}", rng.one(GIVEN), rng.one(SURNAMES)),
                ),
                2 => (
                    CustomerKind::PublicEntity,
                    format!("Communauté de Communes du {}", rng.one(PLACES)),
                ),
                _ => (CustomerKind::PublicEntity, format!("Commune de {town}")),
            };
            (kind, None, Some((name, None)))
        } else {
            let s = *rng.one(SURNAMES);
            let a = *rng.one(ACTIVITIES);
            let name = match rng.upto(7) {
                0 => format!("{s} {a}"),
                1 => format!("{a} {s}"),
                2 => format!("Établissements {s}"),
                3 => format!("Société {a} du {}", rng.one(PLACES)),
                4 => format!("L'Atelier {s}"),
                5 => format!("{s} & Fils"),
                _ => format!("{a} {s} {}", rng.one(PLACES)),
            };
            let form = if rng.percent(75) {
                Some(*rng.one(FORMS))
            } else {
                None
            };
            (CustomerKind::Business, None, Some((name, form)))
        };
        let print = match rng.upto(100) {
            0..=24 => Print::Plain,
            25..=39 => Print::Glued,
            40..=54 => Print::Cut,
            55..=69 => Print::Reordered,
            70..=84 => Print::LegalForm,
            _ => Print::Couple,
        };
        let print = match (print, kind) {
            (Print::Couple, k) if k != CustomerKind::Consumer => Print::LegalForm,
            (Print::LegalForm, CustomerKind::Consumer) => Print::Reordered,
            (p, _) => p,
        };
        let banks = [
            "30004", "30003", "10278", "20041", "16606", "18206", "30056",
        ];
        let b1 = *rng.one(&banks);
        let b2 = *rng.one(&banks);
        let ibans = [iban(rng, "FR", b1), iban(rng, "FR", b2)];
        let switch = rng
            .percent(6)
            .then(|| date(2026, 1, 1) + Duration::days(rng.between(40, 150)));
        let habit = if kind.is_public() {
            Habit::Treasury(rng.upto(TREASURIES.len() as u32) as usize)
        } else {
            let r = rng.upto(100);
            match (sector, kind) {
                (Sector::Consumer, CustomerKind::Consumer) => match r {
                    0..=39 => Habit::DirectDebit,
                    40..=64 => Habit::TransferNoRef,
                    65..=79 => Habit::TransferRef,
                    80..=91 => Habit::Cheque,
                    _ => Habit::Platform(rng.upto(PLATFORMS.len() as u32) as usize),
                },
                _ => match r {
                    0..=39 => Habit::TransferRef,
                    40..=69 => Habit::TransferNoRef,
                    70..=77 => Habit::DirectDebit,
                    78..=83 => Habit::Cheque,
                    84..=88 => Habit::Platform(rng.upto(PLATFORMS.len() as u32) as usize),
                    89..=94 => Habit::Factor(rng.upto(FACTORS.len() as u32) as usize),
                    _ => Habit::Manager,
                },
            }
        };
        let subscription = match sector {
            Sector::Consumer if kind == CustomerKind::Consumer && rng.percent(80) => {
                Some(cents(*rng.one(&[2990, 3490, 3900, 4500, 5990, 2500])))
            }
            Sector::Services if rng.percent(60) => {
                let ht = *rng.one(&[2900i64, 4900, 9900, 14900, 24900, 39000]);
                Some(cents(ht * 12 / 10))
            }
            _ => None,
        };
        let delay = match rng.upto(10) {
            0..=5 => rng.between(-5, 5),
            6..=8 => rng.between(5, 40),
            _ => rng.between(40, 90),
        };
        let never_pays = rng.percent(7);
        let trade_name = (kind == CustomerKind::Business && rng.percent(3))
            .then(|| format!("{} {}", rng.one(ACTIVITIES), rng.one(PLACES)));
        let address = format!(
            "{} {} {} {}",
            rng.between(1, 140),
            rng.one(&[
                "RUE DES LILAS",
                "AVENUE JEAN JAURES",
                "BD GAMBETTA",
                "CHEMIN DU MOULIN",
                "PLACE DE LA REPUBLIQUE"
            ]),
            rng.between(10, 95) * 1000 + rng.between(0, 9) * 10,
            rng.one(TOWNS)
        );
        let iban_in_ledger = habit == Habit::DirectDebit || rng.percent(25);
        Party {
            id,
            kind,
            person,
            company,
            print,
            ibans,
            switch,
            habit,
            subscription,
            delay,
            never_pays,
            trade_name,
            address,
            iban_in_ledger,
        }
    }

    fn customer(&mut self, p: &Party, k: usize) -> Customer {
        let mut c = Customer::new(p.id.clone(), p.ledger_name(self.rng.upto(6)));
        c.kind = p.kind;
        if p.kind != CustomerKind::Consumer {
            let first = if p.kind.is_public() { '2' } else { '4' };
            let body = format!("{first}{:07}", 1_000_000 + k * 7919 % 8_999_999);
            // Luhn digit making the nine digits valid.
            let digit = (0..10)
                .find(|d| crate::siren::luhn_valid(&format!("{body}{d}")))
                .unwrap_or(0);
            c.siren = Siren::parse(&format!("{body}{digit}")).ok();
        }
        if p.iban_in_ledger {
            c.ibans.push(p.ibans[0].clone());
        }
        c.country = Some("FR".into());
        c
    }

    fn invoice(&mut self, p: usize, issue: NaiveDate, amount: Decimal) -> usize {
        let party = &self.parties[p];
        let due = issue
            + Duration::days(match party.kind {
                CustomerKind::Consumer => 0,
                CustomerKind::PublicHospital => 50,
                CustomerKind::PublicEntity => 30,
                CustomerKind::Business => 30,
            });
        let mandate =
            (party.habit == Habit::DirectDebit).then(|| format!("RUM{}", party.id.as_str()));
        let public = party.kind.is_public();
        let customer = party.id.clone();
        let number = self.number(issue);
        let order = public.then(|| format!("EJ13{:08}", 10_000_000 + self.seq * 37));
        let buyer = public.then(|| "SERVICE-FACTURIER".to_owned());
        let vat = (amount / Decimal::new(6, 0)).round_dp(2);
        self.invoices.push(Invoice {
            id: InvoiceId::new(number.clone()),
            number,
            kind: InvoiceKind::Invoice,
            type_code: 380,
            issue_date: issue,
            due_date: Some(due),
            instalments: Vec::new(),
            currency: Currency::EUR,
            total_without_vat: amount - vat,
            total_vat: vat,
            total_with_vat: amount,
            amount_due: amount,
            customer,
            buyer_reference: buyer,
            order_reference: order,
            remittance_reference: None,
            payment_iban: Some("FR7630004000031234567890143".into()),
            mandate_id: mandate,
            status: InvoiceStatus::Open,
        });
        self.open.push(super::index::cents(amount));
        self.invoices.len() - 1
    }

    #[allow(clippy::too_many_arguments)]
    fn receipt(
        &mut self,
        day: NaiveDate,
        amount: Decimal,
        name: Option<String>,
        iban: Option<String>,
        text: String,
        strd: Option<String>,
        e2e: Option<String>,
        mandate: Option<String>,
        code: &str,
    ) -> TransactionId {
        let id = self.tx_id(day);
        self.receipts.push(Receipt {
            id: id.clone(),
            account: "FR7630004000031234567890143".into(),
            booking_date: day,
            value_date: Some(day),
            amount,
            currency: Currency::EUR,
            counterparty_name: name,
            counterparty_iban: iban,
            remittance: text,
            structured_ref: strd,
            end_to_end_id: e2e,
            mandate_id: mandate,
            bank_code: Some(code.into()),
            return_reason: None,
            reversal: false,
            source: format!("releve-{}.xml#{}", day.format("%Y%m"), self.tx),
        });
        id
    }

    fn written(&mut self, number: &str) -> String {
        let n = number.to_owned();
        match self.rng.upto(9) {
            0 => n,
            1 => format!("FACTURE {n}"),
            2 => format!("FACT N {n}"),
            3 => format!("REGLEMENT FACTURE {n}"),
            4 => format!("Fac n° {}", n.to_lowercase()),
            5 => n.replace(['-', '/'], ""),
            6 => format!("VIREMENT {n} MERCI"),
            7 => format!("REF {n}"),
            _ => format!("PAIEMENT {n}"),
        }
    }

    /// Pays invoices `items` (indexes) of party `p` on `day` the way the party pays.
    fn pay(&mut self, p: usize, day: NaiveDate, items: &[usize], case_hint: Option<Case>) {
        let total: i64 = items.iter().map(|&i| self.open[i]).sum();
        let amount = cents(total);
        let numbers: Vec<String> = items
            .iter()
            .map(|&i| self.invoices[i].number.clone())
            .collect();
        let expected: Vec<(InvoiceId, Decimal)> = items
            .iter()
            .map(|&i| (self.invoices[i].id.clone(), cents(self.open[i])))
            .collect();
        for &i in items {
            self.open[i] = 0;
        }
        let habit = self.parties[p].habit;
        let printed = {
            let party = &self.parties[p];
            let mut rng = self.rng.clone();
            let s = party.printed(&mut rng);
            self.rng = rng;
            s
        };
        let own_iban = self.parties[p].iban_on(day).to_owned();
        let first_from_iban = !self.receipts.iter().any(|r| {
            r.counterparty_iban.as_deref() == Some(own_iban.as_str()) && r.booking_date < day
        });
        let known = self.parties[p].iban_in_ledger && own_iban == self.parties[p].ibans[0];
        let print_case = match self.parties[p].print {
            Print::Plain => Case::NamePlain,
            Print::Glued => Case::NameGlued,
            Print::Cut => Case::NameCut,
            Print::Reordered => Case::NameReordered,
            Print::LegalForm => Case::NameLegalForm,
            Print::Couple => Case::NameCouple,
        };
        let (case, tx, deductions) = match habit {
            Habit::DirectDebit => {
                let mandate = self.invoices[items[0]].mandate_id.clone();
                let e2e = if self.rng.percent(50) && items.len() == 1 {
                    Some(numbers[0].clone())
                } else {
                    Some("NOTPROVIDED".to_owned())
                };
                let text = format!("PRLV SEPA {}", fold(&seller()));
                let tx = self.receipt(
                    day,
                    amount,
                    Some(printed),
                    Some(own_iban),
                    text,
                    None,
                    e2e,
                    mandate,
                    "PMNT-RDDT-ESDD",
                );
                // Some collections come back: the payer's bank returns them.
                if self.rng.percent(3) {
                    let back = day + Duration::days(self.rng.between(2, 5));
                    let rid = self.tx_id(back);
                    let mut r = self.receipts[self.receipts.len() - 1].clone();
                    r.id = rid.clone();
                    r.amount = -amount;
                    r.booking_date = back;
                    r.value_date = Some(back);
                    r.return_reason = Some((*self.rng.one(&["AM04", "MS02", "AC04"])).into());
                    r.bank_code = Some("PMNT-RDDT-UPDD".into());
                    self.receipts.push(r);
                    for &i in items {
                        self.open[i] = super::index::cents(self.invoices[i].amount_due);
                    }
                    self.truth.push(Event {
                        case: Case::Returned,
                        transactions: vec![tx, rid],
                        expected: Vec::new(),
                        deductions: Vec::new(),
                    });
                    return;
                }
                (case_hint.unwrap_or(Case::DirectDebit), tx, Vec::new())
            }
            Habit::Treasury(t) => {
                let text = if self.rng.percent(75) {
                    format!(
                        "MANDAT {} BORD {} {}",
                        self.rng.between(100, 9999),
                        self.rng.between(1, 300),
                        numbers.join(" ")
                    )
                } else {
                    let ejs: Vec<String> = items
                        .iter()
                        .filter_map(|&i| self.invoices[i].order_reference.clone())
                        .collect();
                    format!(
                        "MANDAT {} EJ {}",
                        self.rng.between(100, 9999),
                        ejs.join(" ")
                    )
                };
                let iban = self.treasury_ibans[t].clone();
                let tx = self.receipt(
                    day,
                    amount,
                    Some(TREASURIES[t].chars().take(70).collect()),
                    Some(iban),
                    text,
                    None,
                    None,
                    None,
                    "PMNT-RCDT-ESCT",
                );
                (Case::Treasury, tx, Vec::new())
            }
            Habit::Factor(f) => {
                let text = format!(
                    "PAIEMENT POUR COMPTE DE {} FACT {}",
                    fold(&self.parties[p].ledger_name(0)),
                    numbers.join(" ")
                );
                let iban = self.factor_ibans[f].clone();
                let tx = self.receipt(
                    day,
                    amount,
                    Some(FACTORS[f].into()),
                    Some(iban),
                    text,
                    None,
                    None,
                    None,
                    "PMNT-RCDT-ESCT",
                );
                (Case::Factoring, tx, Vec::new())
            }
            Habit::Platform(k) if items.len() == 1 => {
                let (name, _, per, fixed) = PLATFORMS[k];
                let fee = (total * per + 5_000) / 10_000 + fixed;
                let text = format!("{} {}", name.split(' ').next().unwrap_or(name), numbers[0]);
                let iban = self.platform_ibans[k].clone();
                let tx = self.receipt(
                    day,
                    cents(total - fee),
                    Some(name.into()),
                    Some(iban),
                    text,
                    None,
                    None,
                    None,
                    "PMNT-RCDT-ESCT",
                );
                let d = vec![(expected[0].0.clone(), DeductionKind::BankFees, cents(fee))];
                self.truth.push(Event {
                    case: Case::Platform,
                    transactions: vec![tx],
                    expected: vec![(expected[0].0.clone(), cents(total - fee))],
                    deductions: d,
                });
                return;
            }
            Habit::Manager => {
                let (g, s) = (
                    fold(self.rng.one::<&str>(GIVEN)),
                    fold(self.rng.one::<&str>(SURNAMES)),
                );
                let name = format!("M {g} {s}");
                let text = self.written(&numbers.join(" "));
                let iban = iban(&mut self.rng, "FR", "30002");
                let tx = self.receipt(
                    day,
                    amount,
                    Some(name),
                    Some(iban),
                    text,
                    None,
                    None,
                    None,
                    "PMNT-RCDT-ESCT",
                );
                (Case::ThirdParty, tx, Vec::new())
            }
            Habit::Cheque => {
                let text = if self.rng.percent(50) {
                    format!(
                        "REMISE CHQ {} {}",
                        self.rng.between(1_000_000, 9_999_999),
                        numbers.join(" ")
                    )
                } else {
                    format!(
                        "REMISE CHQ {} CHQ {}",
                        self.rng.between(1_000_000, 9_999_999),
                        self.rng.between(100_000, 999_999)
                    )
                };
                let tx = self.receipt(
                    day,
                    amount,
                    Some(printed),
                    None,
                    text,
                    None,
                    None,
                    None,
                    "PMNT-RCHQ-CCHQ",
                );
                (Case::Cheque, tx, Vec::new())
            }
            Habit::TransferRef | Habit::TransferNoRef | Habit::Platform(_) => {
                let with_ref = habit == Habit::TransferRef && case_hint.is_none()
                    || matches!(case_hint, Some(Case::Referenced | Case::ReferencedSeveral));
                let (text, strd) = if with_ref {
                    if self.rng.percent(10) && items.len() == 1 {
                        (String::new(), Some(numbers[0].clone()))
                    } else if items.len() == 1 {
                        (self.written(&numbers[0]), None)
                    } else {
                        (format!("FACTURES {}", numbers.join(" ")), None)
                    }
                } else {
                    ((*self.rng.one(NOREF_TEXTS)).to_owned(), None)
                };
                let tx = self.receipt(
                    day,
                    amount,
                    Some(printed),
                    Some(own_iban),
                    text,
                    strd,
                    Some("NOTPROVIDED".into()),
                    None,
                    "PMNT-RCDT-ESCT",
                );
                let case = if with_ref {
                    if items.len() > 1 {
                        Case::ReferencedSeveral
                    } else {
                        Case::Referenced
                    }
                } else if self.parties[p].trade_name.is_some() {
                    Case::TradeName
                } else if let Some(c) = case_hint {
                    c
                } else if first_from_iban && !known {
                    Case::NewIban
                } else {
                    print_case
                };
                (case, tx, Vec::new())
            }
        };
        self.truth.push(Event {
            case,
            transactions: vec![tx],
            expected,
            deductions,
        });
    }

    /// The customer's open invoices (indexes), first due first.
    fn open_of(&self, p: usize, by: &HashMap<usize, Vec<usize>>) -> Vec<usize> {
        let mut v: Vec<usize> = by
            .get(&p)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| self.open[i] > 0)
            .collect();
        v.sort_by_key(|&i| {
            (
                self.invoices[i].effective_due_date(),
                self.invoices[i].issue_date,
                i,
            )
        });
        v
    }
}

/// The seller's trade name printed on its direct debits.
fn seller() -> String {
    "Relance Démo Services".to_owned()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// Generates one data set.
pub fn generate(cfg: &Config) -> Dataset {
    let mut rng = Pcg::new(cfg.seed);
    let sector = cfg.sector.unwrap_or(match rng.upto(3) {
        0 => Sector::Consumer,
        1 => Sector::Public,
        _ => Sector::Services,
    });
    let numbering = rng.upto(4);
    let mut g = Gen {
        rng,
        sector,
        numbering,
        seq: 0,
        tx: 0,
        parties: Vec::new(),
        invoices: Vec::new(),
        receipts: Vec::new(),
        truth: Vec::new(),
        treasury_ibans: Vec::new(),
        factor_ibans: Vec::new(),
        platform_ibans: Vec::new(),
        open: Vec::new(),
    };
    for _ in TREASURIES {
        let i = iban(&mut g.rng, "FR", "30001");
        g.treasury_ibans.push(i);
    }
    for _ in FACTORS {
        let i = iban(&mut g.rng, "FR", "30007");
        g.factor_ibans.push(i);
    }
    for (_, country, _, _) in PLATFORMS {
        let i = iban(&mut g.rng, country, "9");
        g.platform_ibans.push(i);
    }
    let mut customers = Vec::new();
    // Company names are unique in a ledger (two companies of one name and different legal
    // forms are rare enough to leave out); people's names are not.
    let mut companies: std::collections::HashSet<String> = std::collections::HashSet::new();
    for k in 0..cfg.customers {
        let mut p = g.party(k);
        for _ in 0..20 {
            match &p.company {
                Some((n, _)) if companies.contains(&fold(n)) => p = g.party(k),
                _ => break,
            }
        }
        if let Some((n, _)) = &p.company {
            companies.insert(fold(n));
        }
        let c = g.customer(&p, k);
        g.parties.push(p);
        customers.push(c);
    }
    let start = date(2026, 1, 1);
    let months = cfg.months.max(1);
    // Invoices: subscriptions monthly, other services at random.
    let mut by_party: HashMap<usize, Vec<usize>> = HashMap::new();
    for m in 0..months {
        let month_start = date(2026, 1 + m, 1);
        for p in 0..g.parties.len() {
            let joined = p as u32 % months.max(1) <= m || p % 3 != 0;
            if !joined {
                continue;
            }
            if let Some(a) = g.parties[p].subscription {
                let i = g.invoice(p, month_start, a);
                by_party.entry(p).or_default().push(i);
            }
            let extra = match (g.sector, g.parties[p].subscription.is_some()) {
                (Sector::Public, _) => g.rng.percent(45),
                (_, true) => g.rng.percent(12),
                (_, false) => g.rng.percent(40),
            };
            if extra {
                let day = month_start + Duration::days(g.rng.between(0, 27));
                let a = match (g.sector, g.parties[p].kind) {
                    (_, CustomerKind::Consumer) => cents(g.rng.between(6_000, 32_000)),
                    (Sector::Public, _) => cents(g.rng.between(20_000, 1_800_000)),
                    _ => cents(g.rng.between(35_000, 980_000)),
                };
                let i = g.invoice(p, day, a);
                by_party.entry(p).or_default().push(i);
            }
        }
    }
    // Payment days: each invoice's due date plus the party's delay.
    let mut plans: Vec<(NaiveDate, usize, usize)> = Vec::new();
    for p in 0..g.parties.len() {
        if g.parties[p].never_pays {
            continue;
        }
        for &i in by_party.get(&p).into_iter().flatten() {
            let jitter = g.rng.between(0, 6);
            let day = g.invoices[i].effective_due_date()
                + Duration::days((g.parties[p].delay + jitter).max(0));
            plans.push((day, p, i));
        }
    }
    plans.sort();
    let end = date(2026, months + 1, 15);
    let mut stranger_pool: Vec<usize> = Vec::new();
    for (day, p, i) in plans {
        if day > end || g.open[i] == 0 {
            continue;
        }
        let open = g.open_of(p, &by_party);
        let sub = g.parties[p].subscription;
        let habit = g.parties[p].habit;
        let amount = g.invoices[i].amount_due;
        let same: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&j| g.invoices[j].amount_due == amount)
            .collect();
        let is_sub = Some(amount) == sub;
        match habit {
            Habit::TransferNoRef | Habit::DirectDebit if is_sub => {
                // A standing order or a collection of the subscription pays the oldest
                // month; a standing order sometimes catches up a skipped month.
                let due = same
                    .iter()
                    .filter(|&&j| g.invoices[j].effective_due_date() <= day)
                    .count();
                if habit == Habit::TransferNoRef && due >= 2 && g.rng.percent(40) {
                    g.pay(p, day, &same[..2], Some(Case::SubscriptionCatchUp));
                } else {
                    let hint = (habit == Habit::TransferNoRef).then_some(Case::Subscription);
                    g.pay(p, day, &same[..1], hint);
                }
            }
            Habit::TransferNoRef => {
                // Without its number: the invoice the payer means, the oldest of that amount.
                let target = same.first().copied().unwrap_or(i);
                let older_other = open.iter().any(|&j| {
                    g.invoices[j].effective_due_date() < g.invoices[target].effective_due_date()
                        && g.invoices[j].amount_due != amount
                });
                g.pay(
                    p,
                    day,
                    &[target],
                    older_other.then_some(Case::AmountNotOldest),
                );
            }
            _ => {
                // Now and then two invoices together, with their numbers.
                let other = open
                    .iter()
                    .copied()
                    .find(|&j| j != i && g.invoices[j].effective_due_date() <= day);
                match other {
                    Some(j) if habit == Habit::TransferRef && g.rng.percent(15) => {
                        g.pay(p, day, &[i, j], Some(Case::ReferencedSeveral))
                    }
                    _ => g.pay(p, day, &[i], None),
                }
            }
        }
        stranger_pool.push(p);
    }
    // Traps and noise.
    let savings = iban(&mut g.rng, "FR", "30004");
    let n_noise = (g.truth.len() / 25).max(4);
    for k in 0..n_noise {
        let day = start + Duration::days(g.rng.between(5, i64::from(months) * 30));
        match k % 4 {
            0 => {
                // A person of the same surname as a customer, another given name, paying an
                // amount one of the customer's invoices has; or someone paying the wrong seller.
                let p = *g.rng.one(&stranger_pool);
                let amount = by_party
                    .get(&p)
                    .and_then(|v| v.first())
                    .map(|&i| g.invoices[i].amount_due)
                    .unwrap_or(Decimal::new(4500, 2));
                let name = match &g.parties[p].person {
                    Some((given, s)) => {
                        let other = GIVEN
                            .iter()
                            .find(|x| **x != given.as_str() && g.rng.percent(30))
                            .copied()
                            .unwrap_or("Gustave");
                        format!("{} {}", fold(s), fold(other))
                    }
                    None => format!(
                        "M {} {}",
                        fold(g.rng.one::<&str>(GIVEN)),
                        fold(g.rng.one::<&str>(SURNAMES))
                    ),
                };
                let ib = iban(&mut g.rng, "FR", "30066");
                let text = (*g.rng.one(NOREF_TEXTS)).to_owned();
                let tx = g.receipt(
                    day,
                    amount,
                    Some(name),
                    Some(ib),
                    text,
                    None,
                    None,
                    None,
                    "PMNT-RCDT-ESCT",
                );
                g.truth.push(Event {
                    case: Case::Stranger,
                    transactions: vec![tx],
                    expected: Vec::new(),
                    deductions: Vec::new(),
                });
            }
            1 => {
                let a = cents(g.rng.between(1, 4_000));
                let tx = g.receipt(
                    day,
                    a,
                    Some("BANQUE".into()),
                    None,
                    "INTERETS CREDITEURS".into(),
                    None,
                    None,
                    None,
                    "PMNT-RCDT-INTR",
                );
                g.truth.push(Event {
                    case: Case::Noise,
                    transactions: vec![tx],
                    expected: Vec::new(),
                    deductions: Vec::new(),
                });
            }
            2 => {
                let a = cents(g.rng.between(100_000, 2_000_000));
                let tx = g.receipt(
                    day,
                    a,
                    Some(fold(&seller())),
                    Some(savings.clone()),
                    "VIR INTERNE DEPUIS LIVRET".into(),
                    None,
                    None,
                    None,
                    "PMNT-ICDT-BOOK",
                );
                g.truth.push(Event {
                    case: Case::Noise,
                    transactions: vec![tx],
                    expected: Vec::new(),
                    deductions: Vec::new(),
                });
            }
            _ => {
                let a = cents(g.rng.between(-90_000, -1_000));
                let tx = g.receipt(
                    day,
                    a,
                    Some("ORANGE SA".into()),
                    None,
                    "PRLV FACTURE TELEPHONE".into(),
                    None,
                    None,
                    None,
                    "PMNT-IDDT-ESDD",
                );
                g.truth.push(Event {
                    case: Case::Noise,
                    transactions: vec![tx],
                    expected: Vec::new(),
                    deductions: Vec::new(),
                });
            }
        }
    }
    // The statement lists lines by booking date, then as the bank numbered them.
    g.receipts
        .sort_by(|a, b| a.booking_date.cmp(&b.booking_date).then(a.id.cmp(&b.id)));
    Dataset {
        sector,
        customers,
        invoices: g.invoices,
        receipts: g.receipts,
        truth: g.truth,
    }
}

/// The truth as dated settlements for the dunning score.
pub fn settlements(ds: &Dataset) -> Vec<Settlement> {
    let dates: HashMap<&str, NaiveDate> = ds
        .receipts
        .iter()
        .map(|r| (r.id.as_str(), r.booking_date))
        .collect();
    let mut out = Vec::new();
    for e in &ds.truth {
        let Some(day) = e
            .transactions
            .iter()
            .filter_map(|t| dates.get(t.as_str()).copied())
            .max()
        else {
            continue;
        };
        for (inv, a) in e
            .expected
            .iter()
            .map(|(i, a)| (i, *a))
            .chain(e.deductions.iter().map(|(i, _, a)| (i, *a)))
        {
            if a > Decimal::ZERO {
                out.push(Settlement {
                    invoice: inv.clone(),
                    amount: a,
                    date: day,
                });
            }
        }
    }
    out
}

/// This generator as a source of the dunning score.
#[derive(Clone, Debug)]
pub struct Synth2Generator {
    /// Customers per data set.
    pub customers: usize,
    /// The seller; `None` draws it from the seed.
    pub sector: Option<Sector>,
}

impl Generator for Synth2Generator {
    fn name(&self) -> String {
        format!("synth2 ({} customers, {:?})", self.customers, self.sector)
    }
    fn generate(&self, seed: u64) -> ScoreData {
        let ds = generate(&Config {
            seed,
            customers: self.customers,
            sector: self.sector,
            ..Config::default()
        });
        let settlements = settlements(&ds);
        ScoreData {
            customers: ds.customers,
            invoices: ds.invoices,
            receipts: ds.receipts,
            settlements,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid_ibans() {
        let a = generate(&Config::default());
        let b = generate(&Config::default());
        assert_eq!(a.receipts, b.receipts);
        assert!(!a.truth.is_empty());
        for r in &a.receipts {
            if let Some(i) = &r.counterparty_iban {
                let moved = format!("{}{}", &i[4..], &i[..4]);
                let mut rem = 0u32;
                for ch in moved.chars() {
                    let v = ch.to_digit(36).unwrap_or(0);
                    rem = if v >= 10 {
                        (rem * 100 + v) % 97
                    } else {
                        (rem * 10 + v) % 97
                    };
                }
                assert_eq!(rem, 1, "{i}");
            }
        }
    }

    #[test]
    fn the_expected_never_exceeds_an_invoice() {
        for sector in [Sector::Consumer, Sector::Public, Sector::Services] {
            let ds = generate(&Config {
                sector: Some(sector),
                ..Config::default()
            });
            let total: HashMap<&InvoiceId, Decimal> =
                ds.invoices.iter().map(|i| (&i.id, i.amount_due)).collect();
            let mut paid: HashMap<&InvoiceId, Decimal> = HashMap::new();
            for e in &ds.truth {
                for (i, a) in &e.expected {
                    *paid.entry(i).or_default() += *a;
                }
                for (i, _, a) in &e.deductions {
                    *paid.entry(i).or_default() += *a;
                }
            }
            for (i, a) in paid {
                assert!(a <= total[i], "{sector:?} {i:?} {a}");
            }
        }
    }
}
