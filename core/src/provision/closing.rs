//! The closing run: the provision table at a closing date and the entries that bring the
//! books from the previous state to it. A pure function of its inputs up to that date.

use super::classify::{classify, Criterion, DefinitiveLoss, Facts};
use super::entries::{Builder, Entry, EntryKind};
use super::events::{CreditEventKind, RateOverride, Settlement, SettlementKind};
use super::policy::{PaymentBooking, Policy, PolicyError, VatRegime};
use super::rate::{allowance, choose_rate, split_ttc, RateChoice};
use crate::ids::{CompanyId, CustomerId, InvoiceId};
use crate::model::{Invoice, InvoiceKind, InvoiceStatus};
use crate::money::Currency;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An invoice with the dated reductions of its open amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receivable {
    /// The invoice (its `amount_due` is not used: the open amount at the closing date is
    /// recomputed from the dated settlements, so a past closing can be regenerated).
    pub invoice: Invoice,
    /// Payments and credit notes applied to it, tax included.
    #[serde(default)]
    pub settlements: Vec<Settlement>,
}

/// Everything a closing run reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingInput {
    /// The company.
    pub company: CompanyId,
    /// Accounting currency; invoices in another currency are listed as held.
    #[serde(default = "eur")]
    pub currency: Currency,
    /// Its receivables (credit notes among them are ignored: apply them as settlements).
    pub receivables: Vec<Receivable>,
    /// Credit events of its customers and invoices (those after the closing date are ignored).
    #[serde(default)]
    pub events: Vec<CreditEvent>,
    /// Rate overrides decided by people.
    #[serde(default)]
    pub overrides: Vec<RateOverride>,
    /// The state after the previous closing's entries (empty for the first closing).
    #[serde(default)]
    pub previous: ProvisionState,
}

use super::events::CreditEvent;

fn eur() -> Currency {
    Currency::EUR
}

/// What the books hold for one invoice after a closing's entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceState {
    /// The invoice.
    pub invoice: InvoiceId,
    /// Its customer.
    pub customer: CustomerId,
    /// The closing at which it was reclassified to 416.
    pub classified_on: NaiveDate,
    /// The criteria met then (descriptions), kept for audit.
    pub classified_because: Vec<String>,
    /// Balance of 416 for this invoice (TTC).
    pub doubtful_ttc: Decimal,
    /// Balance of 491 for this invoice.
    pub allowance: Decimal,
    /// Base without VAT of the last allowance.
    pub base_ht: Decimal,
    /// Rate of the last allowance.
    pub rate: Decimal,
    /// Rule of the last rate.
    pub rule: String,
    /// Settlements already reflected in 416 (booked by relance, or before reclassification).
    pub booked_settlements: Vec<String>,
    /// Closing at which it was written off, if it was.
    pub written_off: Option<NaiveDate>,
}

/// The provision state of a company after a closing (input of the next closing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionState {
    /// The closing this state results from; `None` before the first closing.
    pub closing: Option<NaiveDate>,
    /// Per invoice, ordered by invoice id.
    pub invoices: Vec<InvoiceState>,
    /// Keys of every entry this state includes.
    pub entry_keys: Vec<String>,
}

/// How an invoice stands at the closing date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Recovery compromised (BOI-BIC-PROV-40-20 §10).
    Douteuse,
    /// Disputed by the customer and nothing else.
    Litigieuse,
    /// Written off at this closing: the loss is definitive.
    Irrecouvrable,
    /// Settled in full (its 416 and 491 balances are cleared at this closing).
    Soldee,
}

impl Classification {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Douteuse => "douteuse",
            Classification::Litigieuse => "litigieuse",
            Classification::Irrecouvrable => "irrecouvrable",
            Classification::Soldee => "soldee",
        }
    }
}

/// One invoice in the provision table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionLine {
    /// The invoice.
    pub invoice: InvoiceId,
    /// Its number as printed.
    pub number: String,
    /// Its customer.
    pub customer: CustomerId,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date used.
    pub due_date: NaiveDate,
    /// Days past due at the closing date.
    pub days_overdue: i64,
    /// Classification.
    pub classification: Classification,
    /// Criteria met, with dates.
    pub criteria: Vec<Criterion>,
    /// Every event up to the closing date (reminders, mise en demeure, judgments...).
    pub evidence: Vec<String>,
    /// Invoice total TTC.
    pub total_ttc: Decimal,
    /// Open amount at the closing date, TTC (after payments, credit notes, dividends).
    pub open_ttc: Decimal,
    /// Base of the allowance: open amount without VAT.
    pub base_ht: Decimal,
    /// VAT part of the open amount (recoverable only on definitive loss).
    pub vat: Decimal,
    /// Rate applied.
    pub rate: Decimal,
    /// Rule of the rate: matrix row id, "override" or "none".
    pub rate_rule: String,
    /// The rate's explanation.
    pub rate_detail: String,
    /// Balance of 416 before and after this closing.
    pub doubtful_before: Decimal,
    /// Balance of 416 after this closing.
    pub doubtful_after: Decimal,
    /// Allowance at the previous closing.
    pub previous_provision: Decimal,
    /// Change at this closing (positive: 68174; negative: 78174).
    pub movement: Decimal,
    /// Allowance after this closing.
    pub new_provision: Decimal,
    /// True when the allowance is tax-deductible (CGI 39-1-5°): a precise fact is met.
    pub deductible: bool,
    /// Why deductible or not.
    pub deductibility: String,
    /// The whole justification in words.
    pub justification: String,
    /// Keys of this closing's entries for the invoice.
    pub entry_keys: Vec<String>,
}

/// Something a person must look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// What it concerns: an invoice id, or `customer <id>`.
    pub subject: String,
    /// What and why.
    pub message: String,
}

/// Totals of the table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// 416 after the closing.
    pub doubtful_ttc: Decimal,
    /// Sum of bases without VAT.
    pub base_ht: Decimal,
    /// Allowances at the previous closing.
    pub previous_provision: Decimal,
    /// Allowances added (68174).
    pub increase: Decimal,
    /// Allowances reversed (78174), write-offs included.
    pub decrease: Decimal,
    /// Allowances after the closing.
    pub new_provision: Decimal,
    /// Losses written off (654).
    pub written_off_ht: Decimal,
    /// Of the new allowances, the non-deductible part.
    pub non_deductible: Decimal,
}

/// The result of a closing run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingTable {
    /// The company.
    pub company: CompanyId,
    /// The closing date.
    pub closing_date: NaiveDate,
    /// The previous closing, if any.
    pub previous_closing: Option<NaiveDate>,
    /// One line per doubtful invoice (and per invoice that left 416 at this closing).
    pub lines: Vec<ProvisionLine>,
    /// The new entries (none when the state already includes this closing).
    pub entries: Vec<Entry>,
    /// Held decisions and inconsistencies for a person.
    pub notes: Vec<Note>,
    /// Totals.
    pub totals: Totals,
    /// The state after the entries: the next closing's `previous`.
    pub state: ProvisionState,
}

/// Inputs a closing cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    /// The policy is invalid.
    #[error("invalid provision policy: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Policy(Vec<PolicyError>),
    /// The previous state is from a later closing.
    #[error("previous provision state is from closing {state}, after the closing date {closing}")]
    StateAhead {
        /// The state's closing.
        state: NaiveDate,
        /// The requested closing.
        closing: NaiveDate,
    },
    /// An invoice id appears twice.
    #[error("invoice {0} appears twice in the receivables")]
    DuplicateInvoice(InvoiceId),
    /// A rate override outside 0..=1.
    #[error("rate override for invoice {invoice} by {by}: rate {rate} is outside 0..=1")]
    OverrideRate {
        /// The invoice.
        invoice: InvoiceId,
        /// Who.
        by: String,
        /// The rate.
        rate: Decimal,
    },
    /// Two settlements of an invoice share a reference (their entries would share a key).
    #[error("invoice {invoice}: settlement reference {reference} appears twice")]
    DuplicateSettlement {
        /// The invoice.
        invoice: InvoiceId,
        /// The reference.
        reference: String,
    },
    /// A settlement or dividend amount is negative.
    #[error("invoice {invoice}: settlement {reference} has a negative amount {amount}")]
    NegativeSettlement {
        /// The invoice.
        invoice: InvoiceId,
        /// Its reference.
        reference: String,
        /// The amount.
        amount: Decimal,
    },
}

/// A settlement with dividends folded in.
struct Reduction {
    reference: String,
    date: NaiveDate,
    amount: Decimal,
    kind: SettlementKind,
    dividend: bool,
}

fn reductions(
    r: &Receivable,
    events: &[CreditEvent],
    closing: NaiveDate,
) -> Result<Vec<Reduction>, ProvisionError> {
    let inv = &r.invoice;
    let mut out = Vec::new();
    for s in r.settlements.iter().filter(|s| s.date <= closing) {
        out.push(Reduction {
            reference: s.reference.clone(),
            date: s.date,
            amount: s.amount,
            kind: s.kind,
            dividend: false,
        });
    }
    for e in events {
        if let CreditEventKind::LiquidationDividend { amount } = &e.kind {
            if e.date <= closing
                && e.customer == inv.customer
                && e.invoice.as_ref() == Some(&inv.id)
            {
                let reference = e
                    .reference
                    .clone()
                    .unwrap_or_else(|| format!("dividend-{}-{amount}", e.date));
                out.push(Reduction {
                    reference,
                    date: e.date,
                    amount: *amount,
                    kind: SettlementKind::Payment,
                    dividend: true,
                });
            }
        }
    }
    let mut refs = BTreeSet::new();
    if let Some(dup) = out.iter().find(|x| !refs.insert(x.reference.as_str())) {
        return Err(ProvisionError::DuplicateSettlement {
            invoice: inv.id.clone(),
            reference: dup.reference.clone(),
        });
    }
    if let Some(bad) = out.iter().find(|x| x.amount < Decimal::ZERO) {
        return Err(ProvisionError::NegativeSettlement {
            invoice: inv.id.clone(),
            reference: bad.reference.clone(),
            amount: bad.amount,
        });
    }
    out.sort_by(|a, b| (a.date, &a.reference).cmp(&(b.date, &b.reference)));
    Ok(out)
}

/// Runs the closing at `closing_date`: classifies, rates, and books the differences between
/// the previous state and the target as balanced entries, all dated `closing_date`.
///
/// Idempotent: given the state it returned (`table.state`) as `previous`, the same closing
/// returns no entry. Entries whose key is already in the previous state are never repeated.
pub fn closing(
    input: &ClosingInput,
    policy: &Policy,
    closing_date: NaiveDate,
) -> Result<ClosingTable, ProvisionError> {
    let problems = policy.validate();
    if !problems.is_empty() {
        return Err(ProvisionError::Policy(problems));
    }
    if let Some(s) = input.previous.closing {
        if s > closing_date {
            return Err(ProvisionError::StateAhead {
                state: s,
                closing: closing_date,
            });
        }
    }
    if let Some(o) = input
        .overrides
        .iter()
        .find(|o| o.rate < Decimal::ZERO || o.rate > Decimal::ONE)
    {
        return Err(ProvisionError::OverrideRate {
            invoice: o.invoice.clone(),
            by: o.by.clone(),
            rate: o.rate,
        });
    }
    let mut seen = BTreeSet::new();
    for r in &input.receivables {
        if !seen.insert(&r.invoice.id) {
            return Err(ProvisionError::DuplicateInvoice(r.invoice.id.clone()));
        }
    }

    let mut states: BTreeMap<InvoiceId, InvoiceState> = input
        .previous
        .invoices
        .iter()
        .map(|s| (s.invoice.clone(), s.clone()))
        .collect();
    let known_keys: BTreeSet<&str> = input
        .previous
        .entry_keys
        .iter()
        .map(String::as_str)
        .collect();

    let mut receivables: Vec<&Receivable> = input
        .receivables
        .iter()
        // Invoices issued after the closing date do not exist at that closing.
        .filter(|r| r.invoice.kind == InvoiceKind::Invoice && r.invoice.issue_date <= closing_date)
        .collect();
    receivables.sort_by(|a, b| a.invoice.id.cmp(&b.invoice.id));

    let mut table = ClosingTable {
        company: input.company.clone(),
        closing_date,
        previous_closing: input.previous.closing,
        lines: Vec::new(),
        entries: Vec::new(),
        notes: Vec::new(),
        totals: Totals::default(),
        state: ProvisionState::default(),
    };

    // Events grouped by customer, so each invoice reads only its customer's events.
    let mut by_customer: BTreeMap<&CustomerId, Vec<CreditEvent>> = BTreeMap::new();
    for e in &input.events {
        by_customer.entry(&e.customer).or_default().push(e.clone());
    }
    let no_events: Vec<CreditEvent> = Vec::new();
    for r in receivables {
        let prev = states.get(&r.invoice.id).cloned();
        let run = InvoiceRun {
            input,
            policy,
            closing: closing_date,
            r,
            events: by_customer.get(&r.invoice.customer).unwrap_or(&no_events),
        };
        let Some(out) = run.run(prev, &mut table.notes)? else {
            continue;
        };
        if let Some(s) = out.state {
            states.insert(s.invoice.clone(), s);
        }
        let Some(mut line) = out.line else {
            continue;
        };
        for mut e in out.entries {
            // The state already holds an entry under this key: the inputs of this closing
            // changed since it was booked (an override, a late settlement). The difference is
            // a new entry, keyed as a numbered revision so it is neither lost nor taken for
            // the first one.
            if known_keys.contains(e.key.as_str()) {
                let base = e.key.clone();
                let mut n = 2;
                while known_keys.contains(format!("{base}:r{n}").as_str()) {
                    n += 1;
                }
                e.key = format!("{base}:r{n}");
            }
            line.entry_keys.push(e.key.clone());
            table.entries.push(e);
        }
        let quiet = line.entry_keys.is_empty()
            && line.doubtful_after.is_zero()
            && line.new_provision.is_zero()
            && line.classification != Classification::Irrecouvrable
            && line.doubtful_before.is_zero();
        if !quiet {
            table.lines.push(line);
        }
    }
    for s in states.values() {
        if s.written_off.is_none() && !s.doubtful_ttc.is_zero() && !seen.contains(&s.invoice) {
            table.notes.push(Note {
                subject: s.invoice.to_string(),
                message: format!(
                    "in 416 for {} with allowance {} but missing from the receivables: state carried over unchanged, review",
                    s.doubtful_ttc, s.allowance
                ),
            });
        }
    }

    for e in &input.events {
        if let CreditEventKind::LiquidationDividend { amount } = &e.kind {
            if e.invoice.is_none() && e.date <= closing_date {
                table.notes.push(Note {
                    subject: format!("customer {}", e.customer),
                    message: format!(
                        "liquidation dividend of {amount} received {} is not allocated to an invoice: ignored until it is",
                        e.date
                    ),
                });
            }
        }
    }

    let t = &mut table.totals;
    for l in &table.lines {
        t.doubtful_ttc += l.doubtful_after;
        if l.classification != Classification::Irrecouvrable {
            t.base_ht += l.base_ht;
        }
        t.previous_provision += l.previous_provision;
        if l.movement > Decimal::ZERO {
            t.increase += l.movement;
        } else {
            t.decrease -= l.movement;
        }
        t.new_provision += l.new_provision;
        if !l.deductible {
            t.non_deductible += l.new_provision;
        }
    }
    for e in table
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::WriteOff)
    {
        t.written_off_ht += e
            .lines
            .iter()
            .filter(|l| l.account == policy.accounts.loss)
            .map(|l| l.debit)
            .sum::<Decimal>();
    }

    let mut keys: BTreeSet<String> = input.previous.entry_keys.iter().cloned().collect();
    keys.extend(table.entries.iter().map(|e| e.key.clone()));
    table.state = ProvisionState {
        closing: Some(closing_date),
        invoices: states.into_values().collect(),
        entry_keys: keys.into_iter().collect(),
    };
    Ok(table)
}

struct InvoiceRun<'a> {
    input: &'a ClosingInput,
    policy: &'a Policy,
    closing: NaiveDate,
    r: &'a Receivable,
    /// The events of the invoice's customer.
    events: &'a [CreditEvent],
}

struct InvoiceOutcome {
    line: Option<ProvisionLine>,
    entries: Vec<Entry>,
    state: Option<InvoiceState>,
}

impl InvoiceRun<'_> {
    fn note(&self, notes: &mut Vec<Note>, message: String) {
        notes.push(Note {
            subject: self.r.invoice.id.to_string(),
            message,
        });
    }

    fn run(
        &self,
        prev: Option<InvoiceState>,
        notes: &mut Vec<Note>,
    ) -> Result<Option<InvoiceOutcome>, ProvisionError> {
        let inv = &self.r.invoice;
        if let Some(st) = prev.as_ref() {
            if let Some(off) = st.written_off {
                let late: Vec<Reduction> = reductions(self.r, self.events, self.closing)?
                    .into_iter()
                    .filter(|x| !st.booked_settlements.contains(&x.reference))
                    .collect();
                let mut st = st.clone();
                for x in &late {
                    st.booked_settlements.push(x.reference.clone());
                    self.note(
                        notes,
                        format!(
                            "{} of {} received {} after the write-off at {off}: book it by hand as a recovery on a written-off receivable and reverse the VAT relief (CGI 272-1)",
                            x.reference, x.amount, x.date
                        ),
                    );
                }
                if late.is_empty() {
                    return Ok(None);
                }
                // Noted once: the references join the state so later closings stay quiet.
                st.booked_settlements.sort();
                return Ok(Some(InvoiceOutcome {
                    line: None,
                    entries: Vec::new(),
                    state: Some(st),
                }));
            }
        }
        let facts = classify(inv, self.events, &self.policy.criteria, self.closing);
        if inv.currency != self.input.currency {
            if prev.is_some() || !facts.criteria.is_empty() {
                self.note(
                    notes,
                    format!(
                        "invoice in {}, accounts in {}: not provisioned (convert it to the accounting currency first)",
                        inv.currency, self.input.currency
                    ),
                );
            }
            return Ok(None);
        }
        let reds = reductions(self.r, self.events, self.closing)?;
        let reduced: Decimal = reds.iter().map(|x| x.amount).sum();
        let open_ttc = (inv.total_with_vat - reduced).max(Decimal::ZERO);

        if inv.status == InvoiceStatus::Cancelled
            && prev.as_ref().is_some_and(|s| !s.doubtful_ttc.is_zero())
        {
            self.note(
                notes,
                "cancelled in the source while in 416: record the credit note as a settlement so 416 and 491 are cleared".to_owned(),
            );
        }
        let newly = prev.is_none()
            && !facts.criteria.is_empty()
            && open_ttc > Decimal::ZERO
            && inv.status != InvoiceStatus::Cancelled;
        if prev.is_none() && !newly {
            return Ok(None);
        }
        let b = Builder {
            policy: self.policy,
            company: &self.input.company,
            invoice: &inv.id,
            number: &inv.number,
            customer: &inv.customer,
            closing: self.closing,
        };
        let mut entries = Vec::new();
        let mut why: Vec<String> = Vec::new();
        let mut criteria = facts.criteria.clone();
        let mut st = match prev {
            Some(s) => {
                if criteria.is_empty() {
                    criteria.push(Criterion::PreviouslyClassified {
                        closing: s.classified_on,
                    });
                }
                s
            }
            None => {
                let because: Vec<String> = criteria.iter().map(Criterion::describe).collect();
                why.push(format!(
                    "reclassified at TTC {open_ttc}: {}",
                    because.join("; ")
                ));
                entries.push(b.reclassification(
                    open_ttc,
                    format!(
                        "416/411 {open_ttc} TTC (PCG 416: whole receivable TTC, recovery pursued in full); criteria: {}",
                        because.join("; ")
                    ),
                ));
                InvoiceState {
                    invoice: inv.id.clone(),
                    customer: inv.customer.clone(),
                    classified_on: self.closing,
                    classified_because: because,
                    doubtful_ttc: open_ttc,
                    allowance: Decimal::ZERO,
                    base_ht: Decimal::ZERO,
                    rate: Decimal::ZERO,
                    rule: String::new(),
                    booked_settlements: reds.iter().map(|x| x.reference.clone()).collect(),
                    written_off: None,
                }
            }
        };
        let doubtful_before = if entries.is_empty() {
            st.doubtful_ttc
        } else {
            Decimal::ZERO
        };
        let previous_provision = st.allowance;

        // Settlements not yet reflected in 416.
        let pending: Vec<&Reduction> = reds
            .iter()
            .filter(|x| !st.booked_settlements.contains(&x.reference))
            .collect();
        for red in pending {
            let amount = red.amount.min(st.doubtful_ttc);
            if amount < red.amount {
                self.note(notes, format!(
                    "settlement {} of {} exceeds the 416 balance: {} booked, the excess belongs on 419 (clients créditeurs)",
                    red.reference, red.amount, amount
                ));
            }
            st.booked_settlements.push(red.reference.clone());
            if amount.is_zero() {
                continue;
            }
            let via_411 = red.kind == SettlementKind::CreditNote
                || self.policy.payment_booking == PaymentBooking::TransferTo411;
            let what = match (red.dividend, red.kind) {
                (true, _) => "liquidation dividend",
                (false, SettlementKind::Payment) => "payment",
                (false, SettlementKind::CreditNote) => "credit note",
            };
            let text = format!(
                "{what} {} of {} received {} on a doubtful receivable",
                red.reference, amount, red.date
            );
            why.push(text.clone());
            entries.push(b.payment(&red.reference, amount, via_411, text));
            st.doubtful_ttc -= amount;
        }
        st.booked_settlements.sort();
        st.booked_settlements.dedup();

        // 416 above or below the open amount (a returned payment, a changed invoice).
        if st.doubtful_ttc < open_ttc
            && !entries
                .iter()
                .any(|e| e.kind == EntryKind::Reclassification)
        {
            let more = open_ttc - st.doubtful_ttc;
            let text = format!("open amount {open_ttc} exceeds the 416 balance {}: {more} more reclassified (a settlement was reversed or the invoice changed)", st.doubtful_ttc);
            why.push(text.clone());
            entries.push(b.reclassification(more, text));
            st.doubtful_ttc = open_ttc;
        } else if st.doubtful_ttc > open_ttc {
            self.note(notes, format!(
                "416 balance {} exceeds the open amount {open_ttc}: check settlements in the source (not corrected automatically)",
                st.doubtful_ttc
            ));
        }

        let split = split_ttc(st.doubtful_ttc, inv);
        let choice = choose_rate(
            self.policy,
            &facts,
            &self.input.overrides,
            &inv.id,
            self.closing,
        );
        let (deductible, deductibility) = deductibility(&criteria, &choice);
        let mut classification = if st.doubtful_ttc.is_zero() {
            Classification::Soldee
        } else if facts.litigieuse_only() {
            Classification::Litigieuse
        } else {
            Classification::Douteuse
        };

        let write_off = match &facts.loss {
            Some(loss) if !st.doubtful_ttc.is_zero() => match &loss.rectified_invoice {
                Some(rect) => Some((loss.clone(), rect.clone())),
                None => {
                    self.note(notes, format!(
                        "definitive loss recorded {} ({}) but no rectified invoice: write-off and VAT recovery held (CGI 272-1; CE 28/03/2012 n°320470)",
                        loss.date,
                        loss.reason.describe()
                    ));
                    None
                }
            },
            _ => None,
        };

        let target = if let Some((loss, rect)) = write_off {
            classification = Classification::Irrecouvrable;
            let (vat_account, vat_rule) = match self.policy.vat_regime {
                VatRegime::Debits => (
                    &self.policy.accounts.vat_collected,
                    "VAT recovered on the CA3 (CGI 272-1)",
                ),
                VatRegime::Encaissements => (
                    &self.policy.accounts.vat_pending,
                    "VAT never declared (encaissements regime): 'en attente' account cleared",
                ),
            };
            let text = write_off_text(&loss, &rect, split.ht, split.vat, vat_rule);
            why.push(text.clone());
            entries.push(b.write_off(split.ht, split.vat, vat_account, text));
            if !st.allowance.is_zero() {
                entries.push(b.reversal(
                    EntryKind::WriteOffReversal,
                    st.allowance,
                    format!(
                        "whole allowance {} reversed on write-off (491/78174)",
                        st.allowance
                    ),
                ));
            }
            st.doubtful_ttc = Decimal::ZERO;
            st.written_off = Some(self.closing);
            Decimal::ZERO
        } else {
            allowance(split.ht, choice.rate)
        };

        if st.written_off.is_none() {
            let delta = target - st.allowance;
            let text = format!(
                "allowance {target} = base HT {} × rate {} ({}); previously {}",
                split.ht, choice.rate, choice.detail, st.allowance
            );
            if delta > Decimal::ZERO {
                entries.push(b.allowance(delta, format!("68174/491 +{delta}: {text}")));
            } else if delta < Decimal::ZERO {
                entries.push(b.reversal(
                    EntryKind::AllowanceReversal,
                    -delta,
                    format!("491/78174 {}: {text}", -delta),
                ));
            }
            why.push(text);
        }
        let new_provision = target;
        st.allowance = target;
        st.base_ht = if st.written_off.is_some() {
            Decimal::ZERO
        } else {
            split.ht
        };
        st.rate = choice.rate;
        st.rule = choice.rule.clone();

        let criteria_text: Vec<String> = criteria.iter().map(Criterion::describe).collect();
        let justification = format!(
            "{} [{}]: criteria: {}. {}. {}",
            inv.number,
            classification.as_str(),
            criteria_text.join("; "),
            why.join(". "),
            deductibility
        );
        let line = ProvisionLine {
            invoice: inv.id.clone(),
            number: inv.number.clone(),
            customer: inv.customer.clone(),
            issue_date: inv.issue_date,
            due_date: inv.effective_due_date(),
            days_overdue: facts.days_overdue,
            classification,
            criteria,
            evidence: facts.evidence.clone(),
            total_ttc: inv.total_with_vat,
            open_ttc,
            base_ht: split.ht,
            vat: split.vat,
            rate: choice.rate,
            rate_rule: choice.rule.clone(),
            rate_detail: choice.detail.clone(),
            doubtful_before,
            doubtful_after: st.doubtful_ttc,
            previous_provision,
            movement: new_provision - previous_provision,
            new_provision,
            deductible,
            deductibility,
            justification,
            entry_keys: Vec::new(),
        };
        Ok(Some(InvoiceOutcome {
            line: Some(line),
            entries,
            state: Some(st),
        }))
    }
}

fn write_off_text(
    loss: &DefinitiveLoss,
    rect: &str,
    ht: Decimal,
    vat: Decimal,
    vat_rule: &str,
) -> String {
    format!(
        "definitive loss {} ({}): 654 {ht} HT, VAT {vat} ({vat_rule}), rectified invoice {rect}",
        loss.date,
        loss.reason.describe()
    )
}

fn deductibility(criteria: &[Criterion], choice: &RateChoice) -> (bool, String) {
    let precise: Vec<String> = criteria
        .iter()
        .filter(|c| c.is_precise_fact())
        .map(Criterion::describe)
        .collect();
    if precise.is_empty() {
        (
            false,
            "not deductible: a mere overdue is not a precise fact making the loss probable (CGI 39-1-5°, BOI-BIC-PROV-40-20); reintegrate on form 2058-A".to_owned(),
        )
    } else {
        let mut s = format!(
            "deductible (CGI 39-1-5°): precise facts {}",
            precise.join("; ")
        );
        if choice.overridden.is_some() {
            s.push_str("; rate set by a person: keep the estimate's support in the file");
        }
        (true, s)
    }
}

/// The facts of an invoice, for callers that want the classification without a closing.
pub fn facts_of(
    invoice: &Invoice,
    input: &ClosingInput,
    policy: &Policy,
    closing: NaiveDate,
) -> Facts {
    classify(invoice, &input.events, &policy.criteria, closing)
}
