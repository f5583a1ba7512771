//! Probable payments: receipts not yet applied that could be an invoice's payment, whoever the
//! payer — the gate holds those invoices ([`PaymentHold`], `PlanInput::payment_holds`).
//!
//! The reconcile engine knows best which receipt pays what; what it leaves unapplied may still
//! be a payment from a payer it did not identify (a bank that mangled the name, a third
//! party). A reminder for an invoice already paid is the one error a finance team does not
//! forgive, so the dunning side holds an invoice while any unapplied receipt could settle it.
//! [`probable_payments`] is a conservative finder from what reconciliation outputs:
//!
//! * a receipt reconciliation proposed for the invoice (an allocation it did not apply
//!   automatically, waiting for a person);
//! * an unapplied credit receipt whose remaining amount equals the invoice's open amount
//!   within the rounding tolerance, or one of its instalments (payment schedule), or its open
//!   amount less one of the policy's early-payment discounts, booked on or after the issue
//!   date, from any payer; or its open amount less
//!   bank charges within the policy's bounds, when at most [`MAX_FEE_CANDIDATES`] invoices fit
//!   (a range of amounts that fits many invoices points at none of them);
//! * an unapplied credit receipt whose payer name names the customer loosely — every word of
//!   the customer's name (legal forms and civilities aside) found in the payer name squeezed
//!   of spaces and punctuation, as banks print it (`ETSNGUYENSASU`, `DUPONTJEANM`) — holds
//!   that customer's invoices it could pay (open amount up to the receipt's plus the bank
//!   charges a transfer may have lost). False-match
//!   guard: the name's words must total at least [`MIN_NAME_LETTERS`] letters, so a short
//!   common word does not name anyone; a false match only holds (never applies) and names the
//!   receipt, so a person sees it.
//!
//! A hold ends when the receipt is applied (to this invoice or elsewhere) or a person decides.

use crate::ids::{CustomerId, InvoiceId, TransactionId};
use crate::model::{Customer, Invoice, InvoiceKind, InvoiceStatus, Receipt};
use crate::reconcile::normalise::{compact, name_tokens};
use crate::reconcile::{Allocation, Suggestion};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// An invoice held because a receipt not yet applied may be its payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentHold {
    /// The invoice held.
    pub invoice: InvoiceId,
    /// The receipt.
    pub transaction: TransactionId,
    /// Its amount not yet applied.
    pub amount: Decimal,
    /// The payer's name as the bank gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Booking date of the receipt.
    pub booking_date: NaiveDate,
    /// Why it may be the payment.
    pub why: String,
}

impl PaymentHold {
    /// The reason given in the plan: "a receipt of 348.00 from ETSNGUYENSASU on 2026-01-30
    /// may be its payment (…)".
    pub fn reason(&self) -> String {
        let mut amount = self.amount.round_dp(2);
        amount.rescale(2);
        format!(
            "a receipt of {amount} from {} on {} ({}) may be its payment: {}; reconcile before reminding",
            self.payer.as_deref().unwrap_or("an unnamed payer"),
            self.booking_date,
            self.transaction,
            self.why
        )
    }
}

/// The unapplied remainder of one credit receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnappliedReceipt {
    /// The receipt.
    pub transaction: TransactionId,
    /// What remains after the automatic allocations.
    pub remaining: Decimal,
    /// The payer's name as the bank gave it.
    pub payer: Option<String>,
    /// Booking date.
    pub booking_date: NaiveDate,
}

/// Credit receipts with a remainder after the automatic allocations. A credit reversed by a
/// return (same end-to-end id, or same payer IBAN and amount booked after it) is left out.
pub fn unapplied_receipts(
    receipts: &[Receipt],
    allocations: &[Allocation],
) -> Vec<UnappliedReceipt> {
    let mut applied: HashMap<&str, Decimal> = HashMap::new();
    for a in allocations.iter().filter(|a| a.auto) {
        *applied.entry(a.transaction.as_str()).or_default() += a.amount;
    }
    let mut credits_by_amount: HashMap<Decimal, Vec<usize>> = HashMap::new();
    for (i, c) in receipts.iter().enumerate().filter(|(_, c)| c.is_credit()) {
        credits_by_amount
            .entry(c.amount.normalize())
            .or_default()
            .push(i);
    }
    let mut returned: HashSet<usize> = HashSet::new();
    for ret in receipts.iter().filter(|r| r.is_return()) {
        let same_amount = credits_by_amount
            .get(&(-ret.amount).normalize())
            .map_or(&[][..], |v| v.as_slice());
        let hit = same_amount.iter().copied().find(|&i| {
            let c = &receipts[i];
            !returned.contains(&i)
                && c.booking_date <= ret.booking_date
                && match (&c.end_to_end_id, &ret.end_to_end_id) {
                    (Some(a), Some(b)) => a == b,
                    _ => {
                        c.counterparty_iban.is_some()
                            && c.counterparty_iban == ret.counterparty_iban
                    }
                }
        });
        if let Some(i) = hit {
            returned.insert(i);
        }
    }
    receipts
        .iter()
        .enumerate()
        .filter(|(i, r)| r.is_credit() && !returned.contains(i))
        .filter_map(|(_, r)| {
            let remaining = r.amount - applied.get(r.id.as_str()).copied().unwrap_or_default();
            (remaining > Decimal::ZERO).then(|| UnappliedReceipt {
                transaction: r.id.clone(),
                remaining,
                payer: r.counterparty_name.clone(),
                booking_date: r.booking_date,
            })
        })
        .collect()
}

/// Letters a customer's name words must total for a payer name to name it loosely.
pub const MIN_NAME_LETTERS: usize = 5;

/// Shortest name word looked for inside a squeezed payer name (shorter words are initials).
const MIN_WORD_LETTERS: usize = 2;

/// Shortest beginning of a word cut by the bank at the end of the payer name.
const MIN_CUT_LETTERS: usize = 3;

/// At most this many invoices may fit the open-amount-less-bank-charges range of a receipt
/// for the range to hold them.
pub const MAX_FEE_CANDIDATES: usize = 3;

/// What the finder tolerates, from the reconcile policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinderPolicy {
    /// Rounding tolerance on amounts (`reconcile.rounding_tolerance`).
    pub tolerance: Decimal,
    /// Early-payment discount rates a payment may have deducted (`reconcile.discount_rates`).
    pub discount_rates: Vec<Decimal>,
    /// Bank charges a transfer may have lost (`reconcile.max_bank_fee`), and at most this
    /// share of the amount (`reconcile.max_fee_fraction`).
    pub max_bank_fee: Decimal,
    /// See `max_bank_fee`.
    pub max_fee_fraction: Decimal,
}

impl From<&crate::reconcile::Policy> for FinderPolicy {
    fn from(p: &crate::reconcile::Policy) -> Self {
        Self {
            tolerance: p.rounding_tolerance,
            discount_rates: p.discount_rates.clone(),
            max_bank_fee: p.max_bank_fee,
            max_fee_fraction: p.max_fee_fraction,
        }
    }
}

/// The customers a payer name names loosely (see the module documentation).
struct NameIndex<'a> {
    /// Customer by its longest name word.
    by_word: HashMap<String, Vec<(&'a CustomerId, Vec<String>)>>,
    /// Lengths of the indexed words.
    lengths: Vec<usize>,
}

impl<'a> NameIndex<'a> {
    fn new(customers: &'a [Customer]) -> Self {
        let mut by_word: HashMap<String, Vec<(&CustomerId, Vec<String>)>> = HashMap::new();
        for c in customers {
            let words: Vec<String> = name_tokens(&c.name)
                .into_iter()
                .filter(|w| w.len() >= MIN_WORD_LETTERS)
                .collect();
            if words.iter().map(String::len).sum::<usize>() < MIN_NAME_LETTERS {
                continue;
            }
            // Indexed by its two longest words: a name cut by the bank loses at most its last
            // word, so one of them is whole in the payer name.
            let mut keys: Vec<&String> = words.iter().collect();
            keys.sort_by_key(|w| std::cmp::Reverse(w.len()));
            keys.dedup();
            for k in keys.into_iter().take(2) {
                by_word
                    .entry(k.clone())
                    .or_default()
                    .push((&c.id, words.clone()));
            }
        }
        let mut lengths: Vec<usize> = by_word.keys().map(String::len).collect();
        lengths.sort_unstable();
        lengths.dedup();
        Self { by_word, lengths }
    }

    /// Customers every word of whose name is in `payer` squeezed, with those words; one word
    /// may be cut short at the end (banks cut names at 35 or 70 characters).
    fn named_by(&self, payer: &str) -> Vec<(&'a CustomerId, &[String])> {
        let squeezed = compact(payer);
        let mut out: Vec<(&CustomerId, &[String])> = Vec::new();
        for &len in &self.lengths {
            for start in 0..squeezed.len().saturating_sub(len - 1) {
                let Some(sub) = squeezed.get(start..start + len) else {
                    continue;
                };
                for (id, words) in self.by_word.get(sub).into_iter().flatten() {
                    let cut = |w: &String| {
                        (MIN_CUT_LETTERS..w.len()).any(|n| squeezed.ends_with(&w[..n]))
                    };
                    let missing: Vec<&String> = words
                        .iter()
                        .filter(|w| !squeezed.contains(w.as_str()))
                        .collect();
                    let named = match missing.as_slice() {
                        [] => true,
                        [w] => cut(w),
                        _ => false,
                    };
                    if named && !out.iter().any(|(x, _)| x == id) {
                        out.push((id, words.as_slice()));
                    }
                }
            }
        }
        out
    }
}

/// Invoices an unapplied receipt may pay (see the module documentation). `open` is the open
/// amount of each invoice after the automatic allocations; `proposed` the allocations
/// reconciliation proposed without applying them. Sorted by invoice, then booking date and
/// transaction.
pub fn probable_payments(
    invoices: &[Invoice],
    customers: &[Customer],
    open: &HashMap<InvoiceId, Decimal>,
    receipts: &[UnappliedReceipt],
    proposed: &[Allocation],
    policy: &FinderPolicy,
) -> Vec<PaymentHold> {
    let tolerance = policy.tolerance;
    let open_of = |i: &Invoice| open.get(&i.id).copied().unwrap_or(i.amount_due);
    let mut by_amount: BTreeMap<Decimal, Vec<&Invoice>> = BTreeMap::new();
    let mut by_customer: HashMap<&CustomerId, Vec<&Invoice>> = HashMap::new();
    let mut by_instalment: BTreeMap<Decimal, Vec<(&Invoice, NaiveDate)>> = BTreeMap::new();
    for i in invoices
        .iter()
        .filter(|i| i.kind == InvoiceKind::Invoice && i.status == InvoiceStatus::Open)
    {
        let o = open_of(i);
        if o > Decimal::ZERO {
            by_amount.entry(o).or_default().push(i);
            by_customer.entry(&i.customer).or_default().push(i);
            for ins in &i.instalments {
                if ins.amount > Decimal::ZERO && ins.amount < o {
                    by_instalment
                        .entry(ins.amount)
                        .or_default()
                        .push((i, ins.due_date));
                }
            }
        }
    }
    let by_tx: HashMap<&str, &UnappliedReceipt> = receipts
        .iter()
        .map(|r| (r.transaction.as_str(), r))
        .collect();
    let mut seen: HashSet<(&InvoiceId, &TransactionId)> = HashSet::new();
    let mut out = Vec::new();
    let hold = |out: &mut Vec<PaymentHold>, i: &InvoiceId, r: &UnappliedReceipt, why: String| {
        out.push(PaymentHold {
            invoice: i.clone(),
            transaction: r.transaction.clone(),
            amount: r.remaining,
            payer: r.payer.clone(),
            booking_date: r.booking_date,
            why,
        });
    };
    for a in proposed
        .iter()
        .filter(|a| !a.auto && a.amount > Decimal::ZERO)
    {
        let Some(r) = by_tx.get(a.transaction.as_str()) else {
            continue; // applied meanwhile: nothing left to be this invoice's payment
        };
        if r.remaining <= tolerance || open.get(&a.invoice).is_none_or(|o| *o <= Decimal::ZERO) {
            continue;
        }
        if seen.insert((&a.invoice, &r.transaction)) {
            hold(
                &mut out,
                &a.invoice,
                r,
                format!(
                    "reconciliation proposes it for this invoice (confidence {:.2}) and waits for a person",
                    a.confidence.as_f64()
                ),
            );
        }
    }
    let names = NameIndex::new(customers);
    for r in receipts {
        // The amount: the open amount, or the open amount less an early-payment discount.
        let mut targets = vec![(r.remaining, None)];
        for d in &policy.discount_rates {
            if *d > Decimal::ZERO && *d < Decimal::ONE {
                targets.push((r.remaining / (Decimal::ONE - d), Some(*d)));
            }
        }
        for (target, discount) in targets {
            for (_, invs) in by_amount.range(target - tolerance..=target + tolerance) {
                for i in invs {
                    if r.booking_date < i.issue_date || !seen.insert((&i.id, &r.transaction)) {
                        continue;
                    }
                    let o = open_of(i);
                    let why = match discount {
                        None if o == r.remaining => {
                            format!("its amount equals the open amount {o} of {}", i.number)
                        }
                        None => format!(
                            "its amount is within {tolerance} of the open amount {o} of {}",
                            i.number
                        ),
                        Some(d) => format!(
                            "its amount is the open amount {o} of {} less an early-payment discount of {}%",
                            i.number,
                            (d * Decimal::ONE_HUNDRED).normalize()
                        ),
                    };
                    hold(&mut out, &i.id, r, why);
                }
            }
        }
        // One instalment of a payment schedule.
        for (_, invs) in by_instalment.range(r.remaining - tolerance..=r.remaining + tolerance) {
            for (i, due) in invs {
                if r.booking_date < i.issue_date || !seen.insert((&i.id, &r.transaction)) {
                    continue;
                }
                let why = format!("its amount equals the instalment of {} due {due}", i.number);
                hold(&mut out, &i.id, r, why);
            }
        }
        // The open amount less bank charges, when few invoices fit.
        let fee_range: Vec<&Invoice> = by_amount
            .range(r.remaining + tolerance..=r.remaining + policy.max_bank_fee)
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|i| {
                let o = open_of(i);
                o > r.remaining + tolerance
                    && o - r.remaining <= o * policy.max_fee_fraction
                    && r.booking_date >= i.issue_date
            })
            .collect();
        if fee_range.len() <= MAX_FEE_CANDIDATES {
            for i in fee_range {
                if !seen.insert((&i.id, &r.transaction)) {
                    continue;
                }
                let o = open_of(i);
                let why = format!(
                    "its amount is the open amount {o} of {} less {} of bank charges",
                    i.number,
                    o - r.remaining
                );
                hold(&mut out, &i.id, r, why);
            }
        }
        // The payer's name names a customer loosely: any of its invoices the receipt could pay.
        let Some(payer) = r.payer.as_deref() else {
            continue;
        };
        for (cust, words) in names.named_by(payer) {
            for i in by_customer.get(cust).into_iter().flatten() {
                if r.booking_date < i.issue_date
                    || open_of(i) > r.remaining + tolerance.max(policy.max_bank_fee)
                    || !seen.insert((&i.id, &r.transaction))
                {
                    continue;
                }
                hold(
                    &mut out,
                    &i.id,
                    r,
                    format!(
                        "the payer name names customer {cust} loosely ({} in {payer:?}) and the amount could pay {}",
                        words.join(" + "),
                        i.number
                    ),
                );
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.invoice, a.booking_date, &a.transaction).cmp(&(
            &b.invoice,
            b.booking_date,
            &b.transaction,
        ))
    });
    out
}

/// The probable payments left by a reconciliation run: open amounts after its automatic
/// allocations, receipts with a remainder, its proposals (allocations not applied, ranked
/// suggestions) — see [`probable_payments`].
pub fn holds_from_reconciliation(
    invoices: &[Invoice],
    customers: &[Customer],
    receipts: &[Receipt],
    allocations: &[Allocation],
    suggestions: &[Suggestion],
    policy: &FinderPolicy,
) -> Vec<PaymentHold> {
    let open: HashMap<InvoiceId, Decimal> = crate::reconcile::open_after(invoices, allocations)
        .into_iter()
        .collect();
    let unapplied = unapplied_receipts(receipts, allocations);
    let mut proposed: Vec<Allocation> = allocations.iter().filter(|a| !a.auto).cloned().collect();
    for s in suggestions {
        for (inv, amount) in &s.invoices {
            proposed.push(Allocation {
                transaction: s.transaction.clone(),
                invoice: inv.clone(),
                amount: *amount,
                auto: false,
                confidence: s.confidence,
                rule: s.rule,
                deduction: None,
                why: s.why.clone(),
            });
        }
    }
    probable_payments(invoices, customers, &open, &unapplied, &proposed, policy)
}
