//! Scoring the dunning on labelled data: a run of the daemon's cycle over a generated ledger,
//! day after day, against the truth of what was paid and when.
//!
//! Any generator plugs in by implementing [`Generator`] (or by building a [`ScoreData`]
//! directly): customers, invoices, bank lines, and the truth as dated settlements. [`simulate`]
//! replays the cycle every `every_days` from the first issue date to the last statement: each
//! cycle sees the invoices issued and the bank lines booked so far, reconciles them, finds the
//! probable payments, plans with the history of the actions already planned, and records the
//! new actions as sent. The [`Scorecard`] counts:
//!
//! * reminders of an invoice the truth says was fully paid by that day (goal: none);
//! * at the last cycle, invoices unpaid and overdue 15 days or more that were never acted on
//!   and are not held with a reason (goal: at most 5 %);
//! * B2B (business and public) actions stating penalties without the 40 € on a late invoice,
//!   and consumer actions with any indemnity (goal: none).

use crate::dunning::plan::{plan, PlanInput, SentAction};
use crate::dunning::policy::Policy;
use crate::dunning::probable::{holds_from_reconciliation, FinderPolicy};
use crate::dunning::rates::RateTable;
use crate::dunning::stage::Stage;
use crate::dunning::DunningError;
use crate::ids::{CompanyId, CustomerId, InvoiceId};
use crate::model::{Customer, CustomerKind, Invoice, InvoiceKind, Receipt};
use crate::reconcile::synth::Dataset;
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Days past due from which an unpaid invoice must have been acted on or be held.
pub const OVERDUE_DAYS: i64 = 15;

/// One truth: `amount` of `invoice` settled on `date` (by a payment, a discount or charges
/// written off beside it, a credit note netted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The invoice.
    pub invoice: InvoiceId,
    /// Amount settled (positive).
    pub amount: Decimal,
    /// The day the settlement is visible on the bank statement.
    pub date: NaiveDate,
}

/// A labelled ledger.
#[derive(Clone, Debug, Default)]
pub struct ScoreData {
    /// Customers.
    pub customers: Vec<Customer>,
    /// Invoices and credit notes.
    pub invoices: Vec<Invoice>,
    /// Bank lines.
    pub receipts: Vec<Receipt>,
    /// What was settled, when.
    pub settlements: Vec<Settlement>,
}

/// A generator of labelled ledgers, one per seed.
pub trait Generator {
    /// A name for the report.
    fn name(&self) -> String;
    /// The ledger of one seed.
    fn generate(&self, seed: u64) -> ScoreData;
}

/// The project's reconciliation generator ([`crate::reconcile::synth`]) as a dunning source.
#[derive(Clone, Debug)]
pub struct SynthGenerator(pub crate::reconcile::synth::SynthConfig);

impl Generator for SynthGenerator {
    fn name(&self) -> String {
        format!("synth ({} customers)", self.0.customers)
    }

    fn generate(&self, seed: u64) -> ScoreData {
        let cfg = crate::reconcile::synth::SynthConfig {
            seed,
            ..self.0.clone()
        };
        from_synth(&crate::reconcile::synth::generate(&cfg))
    }
}

/// Wraps a generator so that a share of the credit receipts come from payers reconciliation
/// cannot identify: the bank squeezes the name into capitals without spaces
/// (`ETSNGUYENSASU`), the IBAN is one never seen, the remittance text and references are
/// gone. The truth is unchanged: those receipts still pay what they paid.
#[derive(Clone, Debug)]
pub struct Unidentified<G> {
    /// The generator wrapped.
    pub inner: G,
    /// Receipts affected, per mille.
    pub per_mille: u64,
}

impl<G: Generator> Generator for Unidentified<G> {
    fn name(&self) -> String {
        format!(
            "{} with {} ‰ of payers unidentified",
            self.inner.name(),
            self.per_mille
        )
    }

    fn generate(&self, seed: u64) -> ScoreData {
        let mut data = self.inner.generate(seed);
        for (k, r) in data.receipts.iter_mut().enumerate() {
            // SplitMix64 of (seed, position): which receipts lose their identity.
            let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (k as u64);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if !r.is_credit() || z % 1000 >= self.per_mille {
                continue;
            }
            r.counterparty_name = r.counterparty_name.as_ref().map(|n| {
                n.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
                    .to_uppercase()
            });
            r.counterparty_iban = Some(format!("FR76{:023}", z % 100_000_000_000_000_000));
            r.remittance = "VIREMENT".into();
            r.structured_ref = None;
            r.end_to_end_id = None;
            r.mandate_id = None;
        }
        data
    }
}

/// The truth of a synth data set as dated settlements: each event's expected allocations and
/// deductions, dated by the latest booking date of its transactions.
pub fn from_synth(ds: &Dataset) -> ScoreData {
    let dates: HashMap<&str, NaiveDate> = ds
        .receipts
        .iter()
        .map(|r| (r.id.as_str(), r.booking_date))
        .collect();
    let mut settlements = Vec::new();
    for t in &ds.truth {
        let Some(date) = t
            .transactions
            .iter()
            .filter_map(|tx| dates.get(tx.as_str()).copied())
            .max()
        else {
            continue;
        };
        let amounts = t
            .expected
            .iter()
            .map(|(i, a)| (i, *a))
            .chain(t.deductions.iter().map(|(i, _, a)| (i, *a)));
        for (invoice, amount) in amounts {
            if amount > Decimal::ZERO {
                settlements.push(Settlement {
                    invoice: invoice.clone(),
                    amount,
                    date,
                });
            }
        }
    }
    ScoreData {
        customers: ds.customers.clone(),
        invoices: ds.invoices.clone(),
        receipts: ds.receipts.clone(),
        settlements,
    }
}

/// How the cycle is replayed.
#[derive(Clone, Debug)]
pub struct Simulation {
    /// Days between two cycles.
    pub every_days: i64,
    /// The dunning policy (the same for every data set).
    pub policy: Policy,
    /// The rate table.
    pub rates: RateTable,
    /// The reconciliation policy.
    pub reconcile: crate::reconcile::Policy,
}

/// What a replay did.
#[derive(Clone, Debug, Default)]
pub struct Scorecard {
    /// Cycles run.
    pub cycles: usize,
    /// Actions planned.
    pub actions: usize,
    /// Invoice reminders (one per invoice of each action).
    pub reminders: usize,
    /// Reminders of an invoice fully paid by that day: (invoice, day).
    pub paid_reminded: Vec<(InvoiceId, NaiveDate)>,
    /// Invoices unpaid and overdue 15 days or more at the last cycle.
    pub overdue: usize,
    /// Of those, acted on at some cycle or held with a reason at the last one.
    pub overdue_covered: usize,
    /// Those neither acted on nor held (first 20).
    pub uncovered: Vec<InvoiceId>,
    /// Late invoices of B2B actions stating penalties.
    pub b2b_stating: usize,
    /// Of those, without the 40 € indemnity.
    pub b2b_without_indemnity: Vec<(InvoiceId, NaiveDate)>,
    /// Consumer reminders carrying an indemnity.
    pub consumer_with_indemnity: Vec<(InvoiceId, NaiveDate)>,
    /// Invoices held at the last cycle, by the first words of the reason.
    pub held_by_reason: BTreeMap<String, usize>,
}

impl Scorecard {
    /// Share of the overdue invoices acted on or held, percent (100 when there are none).
    pub fn coverage(&self) -> f64 {
        if self.overdue == 0 {
            100.0
        } else {
            self.overdue_covered as f64 * 100.0 / self.overdue as f64
        }
    }
}

impl fmt::Display for Scorecard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  {} cycles, {} actions, {} invoice reminders; paid invoices reminded: {}",
            self.cycles,
            self.actions,
            self.reminders,
            self.paid_reminded.len()
        )?;
        writeln!(
            f,
            "  overdue {OVERDUE_DAYS}+ days and unpaid: {}, acted on or held: {} ({:.1} %)",
            self.overdue,
            self.overdue_covered,
            self.coverage()
        )?;
        writeln!(
            f,
            "  B2B late invoices in letters stating penalties: {}, without the 40 €: {}; consumer reminders with an indemnity: {}",
            self.b2b_stating,
            self.b2b_without_indemnity.len(),
            self.consumer_with_indemnity.len()
        )?;
        for (r, n) in &self.held_by_reason {
            writeln!(f, "  held at the end: {n:>5}  {r}")?;
        }
        Ok(())
    }
}

/// A short, stable label of a hold reason, for the report.
fn reason_label(r: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        (
            "may be its payment",
            "a receipt not yet applied may be its payment",
        ),
        (
            "received and not yet applied",
            "the customer has money not yet applied",
        ),
        (
            "lettre recommandée",
            "a postal address is missing for the registered letter",
        ),
        ("bank data", "bank data missing or stale"),
        ("penalty not computed", "a rate-table row is missing"),
    ];
    KNOWN
        .iter()
        .find(|(k, _)| r.contains(k))
        .map(|(_, label)| (*label).to_owned())
        .unwrap_or_else(|| {
            r.split([':', '(', ';'])
                .next()
                .unwrap_or(r)
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// Replays the cycle over `data` and scores it.
pub fn simulate(data: &ScoreData, sim: &Simulation) -> Result<Scorecard, DunningError> {
    let mut card = Scorecard::default();
    let (Some(start), Some(end)) = (
        data.invoices.iter().map(|i| i.issue_date).min(),
        data.receipts.iter().map(|r| r.booking_date).max(),
    ) else {
        return Ok(card);
    };
    let kinds: HashMap<&CustomerId, CustomerKind> =
        data.customers.iter().map(|c| (&c.id, c.kind)).collect();
    let due_of: HashMap<&InvoiceId, &Invoice> = data.invoices.iter().map(|i| (&i.id, i)).collect();
    let mut by_invoice: HashMap<&InvoiceId, Vec<&Settlement>> = HashMap::new();
    for s in &data.settlements {
        by_invoice.entry(&s.invoice).or_default().push(s);
    }
    let paid_by = |inv: &Invoice, day: NaiveDate| -> bool {
        let got: Decimal = by_invoice
            .get(&inv.id)
            .into_iter()
            .flatten()
            .filter(|s| s.date <= day)
            .map(|s| s.amount)
            .sum();
        got >= inv.amount_due - sim.policy.min_amount_to_remind
    };
    let mut history: Vec<SentAction> = Vec::new();
    let mut acted: HashSet<InvoiceId> = HashSet::new();
    let mut day = start;
    let (last, day) = loop {
        let invoices: Vec<Invoice> = data
            .invoices
            .iter()
            .filter(|i| i.issue_date <= day)
            .cloned()
            .collect();
        let receipts: Vec<Receipt> = data
            .receipts
            .iter()
            .filter(|r| r.booking_date <= day)
            .cloned()
            .collect();
        let outcome =
            crate::reconcile::reconcile(&invoices, &data.customers, &receipts, &[], &sim.reconcile);
        let auto: Vec<_> = outcome.auto_allocations().cloned().collect();
        let mut input = PlanInput::new(
            CompanyId::new("score"),
            sim.policy.clone(),
            sim.rates.clone(),
        );
        input.payment_holds = holds_from_reconciliation(
            &invoices,
            &data.customers,
            &receipts,
            &outcome.allocations,
            &outcome.suggestions,
            &FinderPolicy::from(&sim.reconcile),
        );
        input.open_amounts = crate::reconcile::open_after(&invoices, &auto)
            .into_iter()
            .collect();
        input.unapplied_credits = crate::reconcile::unapplied_credits_by_customer(
            &invoices,
            &data.customers,
            &receipts,
            &auto,
        )
        .into_iter()
        .map(|(c, v)| (c, v.iter().map(|u| u.remaining).sum()))
        .collect();
        input.customers = data.customers.clone();
        input.invoices = invoices;
        input.bank_data_as_of = Some(day);
        input.history = history.clone();
        let p = plan(&input, day)?;
        card.cycles += 1;
        for a in &p.actions {
            card.actions += 1;
            let consumer = kinds.get(&a.customer) == Some(&CustomerKind::Consumer);
            for pi in &a.invoices {
                card.reminders += 1;
                acted.insert(pi.invoice.clone());
                if let Some(inv) = due_of.get(&pi.invoice) {
                    if paid_by(inv, day) {
                        card.paid_reminded.push((pi.invoice.clone(), day));
                    }
                }
                if consumer && pi.indemnity > Decimal::ZERO {
                    card.consumer_with_indemnity.push((pi.invoice.clone(), day));
                }
                if !consumer && a.stage >= Stage::Formelle && pi.days_overdue > 0 {
                    card.b2b_stating += 1;
                    if pi.indemnity != sim.rates.indemnity.amount {
                        card.b2b_without_indemnity.push((pi.invoice.clone(), day));
                    }
                }
            }
            history.push(SentAction {
                customer: a.customer.clone(),
                stage: a.stage,
                step: a.step,
                invoices: a.invoices.iter().map(|i| i.invoice.clone()).collect(),
                date: a.scheduled_for,
            });
        }
        if day >= end {
            break (p, day);
        }
        day = (day + Duration::days(sim.every_days.max(1))).min(end);
    };
    {
        let p = last;
        let held: HashMap<&InvoiceId, &str> = p
            .held
            .iter()
            .map(|h| (&h.invoice, h.reason.as_str()))
            .collect();
        for h in &p.held {
            *card
                .held_by_reason
                .entry(reason_label(&h.reason))
                .or_default() += 1;
        }
        for inv in data
            .invoices
            .iter()
            .filter(|i| i.kind == InvoiceKind::Invoice && i.issue_date <= day)
        {
            let overdue = (day - inv.effective_due_date()).num_days() >= OVERDUE_DAYS;
            if !overdue || paid_by(inv, day) {
                continue;
            }
            card.overdue += 1;
            if acted.contains(&inv.id) || held.get(&inv.id).is_some_and(|r| !r.is_empty()) {
                card.overdue_covered += 1;
            } else if card.uncovered.len() < 20 {
                card.uncovered.push(inv.id.clone());
            }
        }
    }
    Ok(card)
}
