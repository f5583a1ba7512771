//! The strategies. Each module reads the receipt, the ledger and the unit's state and
//! returns [`Proposal`]s with structured evidence ([`super::explain`]); the engine commits
//! them. Confidences come from [`super::confidence`].
//!
//! | module | decides |
//! |---|---|
//! | [`identify`] | who paid: IBAN, mandate, SIREN/VAT, customer number, payer name ([`super::names`]) |
//! | [`reference`] | exact references: the reference pass and what the amount says of the referenced items |
//! | [`tolerant`] | references close to the identified payer's own invoices |
//! | [`deduction`] | whether a shortfall is a discount, bank charges or rounding |
//! | [`several`] | several receipts paying one invoice together |
//! | [`customer`] | the identified customer's items without reference: amount, recurring amounts, instalment, combination, 1342-10 |
//! | [`amount_only`] | open items of the amount when the payer is unknown (never applied) |
//! | [`probable`] | probable payments of unapplied receipts, for the gate and the queue |

pub(super) mod amount_only;
pub(super) mod customer;
pub(super) mod deduction;
pub(super) mod identify;
pub(super) mod probable;
pub(super) mod reading;
pub(super) mod reference;
pub(super) mod several;
pub(super) mod tolerant;

use super::engine::{Run, Shared};
use super::explain::{Basis, Designation, Why};
use super::index::from_cents;
use super::normalise;
use super::{DeductionKind, Evidence, RefKind, Rule};
use crate::model::Receipt;
use rust_decimal::Decimal;

pub(super) use amount_only::Final;

/// One allocation line of a proposal: invoice index, signed cents, optional deduction.
#[derive(Clone, Debug)]
pub(super) struct Line {
    pub inv: u32,
    pub cents: i64,
    pub deduction: Option<(DeductionKind, i64)>,
}

/// The rich explanation a strategy builds; committed in its compact form ([`Why`]).
#[derive(Clone, Debug)]
pub(super) struct Reasoning {
    /// The receipt's unapplied amount when decided.
    pub received: Decimal,
    /// How the amount is explained.
    pub basis: Basis,
    /// What designates the items and identifies the payer.
    pub evidence: Vec<Evidence>,
    /// The reference designates another customer's invoice than the identified payer's.
    pub foreign: bool,
}

impl Reasoning {
    /// The compact form kept in the outcome.
    pub(super) fn compact(&self) -> Why {
        Why::new(
            self.received,
            self.basis.clone(),
            &self.evidence,
            self.foreign,
        )
    }
}

/// What a strategy proposes for one receipt.
#[derive(Clone, Debug)]
pub(super) struct Proposal {
    pub lines: Vec<Line>,
    pub rule: Rule,
    /// Per-mille.
    pub confidence: u16,
    /// Whether the rule allows automatic application at all.
    pub eligible: bool,
    /// The evidence and how the amount is explained.
    pub why: Reasoning,
    /// Surplus left unapplied (cents), flagged when applied.
    pub surplus: i64,
    /// Lower-ranked alternatives (suggestions only).
    pub alternatives: Vec<Proposal>,
}

impl Proposal {
    /// Whether its evidence says the amount is equal.
    pub(super) fn amount_equal(&self) -> bool {
        self.why.evidence.contains(&Evidence::AmountEqual)
    }
}

/// A reference found in a receipt.
#[derive(Clone, Debug)]
pub(super) struct Hit {
    pub inv: u32,
    pub kind: RefKind,
    /// What was typed, for a reference that is not exact (exact references cite the
    /// invoice's own reference).
    pub found: Option<Box<str>>,
    pub distance: u8,
}

impl Hit {
    /// The length of what was typed (0 for an exact reference).
    pub(super) fn found_len(&self) -> usize {
        self.found.as_deref().map_or(0, str::len)
    }
}

/// A candidate of the several-receipts pass: receipt `r` may pay part of invoice `inv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct N1Cand {
    pub inv: u32,
    pub r: usize,
    pub kind: Designation,
    /// Strength (per-mille) of the identification of the payer as the invoice's customer;
    /// 0 when the payer is not identified.
    pub strength: u16,
}

/// How a customer was identified for a receipt, with the strength of that identification.
#[derive(Clone, Debug, Default)]
pub(super) struct Ident {
    /// (customer, per-mille strength, evidence), strongest first, then by customer index.
    pub custs: Vec<(u32, u16, Evidence)>,
    /// Customers identified only by a name several customers share (2 or 3 homonyms whose
    /// strength was lowered for it).
    pub homonyms: Vec<u32>,
}

impl Ident {
    pub(super) fn strength(&self, c: u32) -> Option<u16> {
        self.custs.iter().filter(|x| x.0 == c).map(|x| x.1).max()
    }
    pub(super) fn evidence(&self, c: u32) -> Vec<Evidence> {
        self.custs
            .iter()
            .filter(|x| x.0 == c)
            .map(|x| x.2.clone())
            .collect()
    }
}

/// What the referenced items say.
pub(super) enum HitsOutcome {
    /// Nothing conclusive.
    Nothing,
    /// Every referenced item is already settled: a duplicate payment.
    Duplicate(Vec<u32>),
    /// A proposal.
    Proposal(Proposal),
}

/// All the text a payer could have put a reference in.
pub(super) fn receipt_text(r: &Receipt) -> String {
    let mut t = r.remittance.clone();
    if let Some(s) = &r.structured_ref {
        t.push(' ');
        t.push_str(s);
    }
    if let Some(e) = &r.end_to_end_id {
        if !e.eq_ignore_ascii_case("NOTPROVIDED") {
            t.push(' ');
            t.push_str(e);
        }
    }
    t
}

/// What the payer typed: the remittance and the structured reference, without the
/// end-to-end id (an identifier its software generates, matched exactly or not at all).
pub(super) fn typed_text(r: &Receipt) -> String {
    let mut t = r.remittance.clone();
    if let Some(s) = &r.structured_ref {
        t.push(' ');
        t.push_str(s);
    }
    t
}

/// Whether the remittance says the payer takes an early-payment discount.
pub(super) fn says_discount(r: &Receipt) -> bool {
    normalise::tokens(&r.remittance)
        .iter()
        .any(|t| matches!(t.as_str(), "ESCOMPTE" | "ESC" | "DISCOUNT" | "SKONTO"))
}

/// Candidate reference words of a receipt for tolerant matching: runs of up to four
/// consecutive tokens of what the payer typed, compacted, of 4 characters or more with a
/// digit.
pub(super) fn ref_words(r: &Receipt) -> Vec<String> {
    let text = typed_text(r);
    let mut words: Vec<String> = Vec::new();
    let toks = normalise::tokens(&text);
    for i in 0..toks.len().min(64) {
        let mut c = String::new();
        for t in &toks[i..(i + 4).min(toks.len())] {
            c.push_str(t);
            if c.len() >= 4 && c.bytes().any(|b| b.is_ascii_digit()) {
                words.push(c.clone());
            }
        }
    }
    words.sort_unstable();
    words.dedup();
    words
}

/// Whether the text says the payment is partial: a down payment, an instalment or the
/// balance ("acompte", "échéance 2/3", "solde", "paiement partiel").
pub(super) fn partial_words(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "ACOMPTE",
        "ACOMPTES",
        "ACPTE",
        "ACPT",
        "ECHEANCE",
        "ECHEANCES",
        "ECH",
        "PARTIEL",
        "PARTIELLE",
        "PARTIAL",
        "SOLDE",
        "RELIQUAT",
        "VERSEMENT",
        "INSTALMENT",
        "INSTALLMENT",
        "DEPOSIT",
    ];
    normalise::tokens(text)
        .iter()
        .any(|t| WORDS.contains(&t.as_str()))
}

/// Whether the text calls the payment a down payment ("acompte"): not the settlement of an
/// invoice's whole open amount.
pub(super) fn down_payment_words(text: &str) -> bool {
    normalise::tokens(text).iter().any(|t| {
        matches!(
            t.as_str(),
            "ACOMPTE" | "ACOMPTES" | "ACPTE" | "ACPT" | "DEPOSIT"
        )
    })
}

/// Where the payer's bank is, from its IBAN: `Some(true)` outside France (a foreign
/// transfer, the only kind that arrives less bank charges: within the EEA, PSD2 art. 81
/// forbids deducting charges from the amount transferred), `Some(false)` in France or
/// Monaco, `None` when the statement gives no IBAN.
pub(super) fn payer_abroad(r: &Receipt) -> Option<bool> {
    let ib = normalise::iban(r.counterparty_iban.as_deref()?);
    if ib.len() < 2 {
        return None;
    }
    Some(!(ib.starts_with("FR") || ib.starts_with("MC")))
}

/// Payment platforms (card acquirers, wallets, payment-link services) that pay a seller each
/// charge net of their commission, as their names begin on a statement.
const PLATFORMS: &[&str] = &[
    "STRIPE",
    "PAYPAL",
    "SUMUP",
    "MOLLIE",
    "ADYEN",
    "PAYPLUG",
    "STANCER",
    "LYDIA",
    "HIPAY",
    "LEMONWAY",
    "GOCARDLESS",
    "ZETTLE",
    "SQUARE",
    "PAYZEN",
    "SYSTEMPAY",
    "MONEXT",
    "PAYBOX",
    "SHOPIFY",
    "KLARNA",
    "ALMA",
    "VIVA",
    "WORLDLINE",
    "SUMUPPAYMENTS",
];

/// True when the payer is a payment platform: the first word of its name is one.
pub(super) fn payment_platform(r: &Receipt) -> bool {
    r.counterparty_name
        .as_deref()
        .and_then(|n| {
            n.split(|c: char| !c.is_alphanumeric())
                .find(|w| !w.is_empty())
        })
        .is_some_and(|w| PLATFORMS.contains(&normalise::compact(w).as_str()))
}

/// How many combinations of `k` among `n` items one would expect, by chance alone, to add up
/// exactly to `target` cents: C(n, k) spread over the amount's range (a rough count of the
/// sums a combination of that size can take). Among many open items, some combination of
/// several matches almost any amount; a combination is evidence only when a chance match is
/// unlikely.
pub(super) fn chance_combinations(n: usize, k: usize, target: i64) -> f64 {
    let mut c = 1.0f64;
    for i in 0..k.min(n) {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    c / (target.max(1) as f64)
}

/// Above this expected number of chance matches, a unique combination is not applied.
pub(super) const CHANCE_MAX: f64 = 0.001;

pub(super) fn kind_rank(k: RefKind) -> u8 {
    match k {
        RefKind::CreditorReference => 0,
        RefKind::InvoiceNumber => 1,
        RefKind::OrderReference => 2,
        RefKind::BuyerReference => 3,
        RefKind::Tolerant => 4,
        RefKind::Sequence => 5,
    }
}

/// A count for an explanation.
pub(super) fn count(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Cents as a decimal, for explanations.
pub(super) fn dec(c: i64) -> Decimal {
    from_cents(c)
}

/// Sorts invoice indexes by Code civil art. 1342-10: debts due first (at the receipt's
/// booking date this is the due date order), then the oldest; ties by number.
pub(super) fn sort_1342(sh: &Shared<'_>, v: &mut [u32]) {
    let inv = &sh.ledger.invoices;
    v.sort_by(|&a, &b| {
        let (x, y) = (inv[a as usize], inv[b as usize]);
        x.effective_due_date()
            .cmp(&y.effective_due_date())
            .then(x.issue_date.cmp(&y.issue_date))
            .then(x.number.cmp(&y.number))
            .then(a.cmp(&b))
    });
}

/// Whether invoice `i` was issued by receipt `r`'s booking date (with a week's slack for
/// documents dated after they were sent): a payment without reference does not pay an
/// invoice that did not exist yet.
pub(super) fn issued_by(sh: &Shared<'_>, r: usize, i: u32) -> bool {
    sh.ledger.invoices[i as usize].issue_date
        <= sh.receipts[r].booking_date + chrono::Duration::days(7)
}

pub(super) fn currency_ok(sh: &Shared<'_>, r: usize, i: u32) -> bool {
    sh.ledger.invoices[i as usize].currency == sh.receipts[r].currency
}

impl Run<'_, '_> {
    pub(super) fn issued_by(&self, r: usize, i: u32) -> bool {
        issued_by(self.sh, r, i)
    }

    pub(super) fn currency_ok(&self, r: usize, i: u32) -> bool {
        currency_ok(self.sh, r, i)
    }

    pub(super) fn inv_number(&self, i: u32) -> &str {
        &self.inv(i).number
    }

    pub(super) fn sort_1342(&self, v: &mut [u32]) {
        sort_1342(self.sh, v)
    }

    /// Imputes `amount` over `order`: each item fully until the amount runs out.
    pub(super) fn impute(&self, order: &[u32], amount: i64) -> Vec<Line> {
        let mut left = amount;
        let mut lines = Vec::new();
        for &i in order {
            if left <= 0 {
                break;
            }
            let o = self.open(i);
            if o <= 0 {
                continue;
            }
            let take = o.min(left);
            lines.push(Line {
                inv: i,
                cents: take,
                deduction: None,
            });
            left -= take;
        }
        lines
    }

    /// Commits a proposal and says whether the receipt is settled.
    pub(super) fn commit_step(&mut self, r: usize, p: Proposal) -> super::engine::RefStep {
        if self.commit(r, p) {
            super::engine::RefStep::Settled
        } else {
            super::engine::RefStep::Open
        }
    }

    /// The identification evidence for customers `custs` (what the sentence cites of the
    /// payer).
    pub(super) fn payer_evidence(&self, ident: &Ident, custs: &[u32]) -> Vec<Evidence> {
        let mut ev = Vec::new();
        for &c in custs {
            ev.extend(ident.evidence(c));
        }
        ev
    }
}
