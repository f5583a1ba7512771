//! The dunning policy of one company: its ladder of steps, segments, pauses, sending windows.
//!
//! Embedded in a company's configuration as the `[dunning]` table. Every field has a default
//! (the process of the seed material: préventive D-5, amiable D+1 and D+7, formelle D+15,
//! mise en demeure D+45, contentieux D+60), and unknown keys are refused.

use crate::dunning::stage::{Channel, Stage};
use crate::dunning::DunningError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The dunning policy of a company (`[dunning]` in its configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// The ladder, in order. Each step belongs to a stage; stages never go backwards.
    pub steps: Vec<StepPolicy>,
    /// Reconcile-then-remind: no action while the latest bank data is older than this
    /// (days between the latest statement date and the plan date). Default 3.
    pub bank_data_max_age_days: u32,
    /// Which invoices an unapplied receipt of the customer holds back.
    pub unapplied_credit_hold: UnappliedCreditHold,
    /// Unapplied credits at or below this amount are ignored (rounding leftovers). Default 0.
    pub unapplied_credit_tolerance: Decimal,
    /// Open amounts at or below this are not reminded (a few cents left by a bank fee).
    pub min_amount_to_remind: Decimal,
    /// Penalty computation options.
    pub penalties: PenaltyPolicy,
    /// Payment terms used when an invoice carries no due date.
    pub terms: TermsPolicy,
    /// Payment-history segments and how each one changes the schedule and tone.
    pub segments: SegmentPolicy,
    /// Pauses: promises to pay and payment plans.
    pub pauses: PausePolicy,
    /// When actions may go out, and how many per day.
    pub sending: SendingPolicy,
    /// Prescription and credit-risk alerts.
    pub alerts: AlertPolicy,
    /// Days given in the mise en demeure to pay before legal action. Default 8.
    pub mise_en_demeure_deadline_days: u32,
    /// Claims up to this amount (principal and interest) may use the procédure simplifiée de
    /// recouvrement des petites créances (CPCE L125-1, R125-1): 5 000 €.
    pub petites_creances_max: Decimal,
    /// When a penalty needs a rate the table does not have (a semester whose ECB rate or taux
    /// légal is not in the table yet). Either way the plan goes on, reminders that state no
    /// penalty (préventive, amiable) go out as usual, nothing is guessed, and an alert names
    /// the missing row: `state_clause` (default) — the letters that state penalties (formelle,
    /// mise en demeure, contentieux) state the legal clause without an amount ("taux de la BCE
    /// majoré de 10 points" for businesses, the intérêts moratoires clause for public buyers,
    /// the taux légal for consumers), the 40 € indemnity being known; `hold` — those invoices
    /// are held until the table is updated.
    pub on_missing_rate: MissingRatePolicy,
    /// The postal addresses of letters, from the top of the company's configuration file
    /// (`[address]`, `[[customers]]`), not from `[dunning]`.
    #[serde(skip)]
    pub letters: Letters,
    /// The stages whose actions wait for a person's approval: planned as usual and their
    /// letter rendered, but nothing is sent (nor written back) until approved, edited,
    /// rescheduled — or never, when cancelled. Default the acts with legal weight:
    /// `["mise_en_demeure", "contentieux"]`; `[]` sends everything without approval.
    #[serde(with = "crate::dunning::stage::names")]
    pub approval_stages: Vec<Stage>,
}

/// The postal addresses posted letters need, and the customers' e-mail addresses, as the
/// company's configuration sets them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Letters {
    /// The company's address: the sender (and, its city, the place before the date).
    pub sender: Option<crate::model::PostalAddress>,
    /// Customers' addresses set in the configuration, over the sources'.
    pub customers: std::collections::BTreeMap<crate::ids::CustomerId, crate::model::PostalAddress>,
    /// Customers' e-mail addresses set in the configuration, over the sources'.
    pub emails: std::collections::BTreeMap<crate::ids::CustomerId, Vec<String>>,
}

/// What a missing rate does to the letters that state penalties.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingRatePolicy {
    /// State the legal clause without an amount; the action goes out.
    #[default]
    StateClause,
    /// Hold the invoice (reason and alert name the missing row) until the table is updated.
    Hold,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            steps: default_steps(),
            bank_data_max_age_days: 3,
            unapplied_credit_hold: UnappliedCreditHold::Any,
            unapplied_credit_tolerance: Decimal::ZERO,
            min_amount_to_remind: Decimal::new(100, 2),
            penalties: PenaltyPolicy::default(),
            terms: TermsPolicy::default(),
            segments: SegmentPolicy::default(),
            pauses: PausePolicy::default(),
            sending: SendingPolicy::default(),
            alerts: AlertPolicy::default(),
            mise_en_demeure_deadline_days: 8,
            petites_creances_max: Decimal::new(5000, 0),
            on_missing_rate: MissingRatePolicy::StateClause,
            letters: Letters::default(),
            approval_stages: vec![Stage::MiseEnDemeure, Stage::Contentieux],
        }
    }
}

/// The seed process (practice, not law — french-rules §3.1 and the seed material's
/// four-step table): préventive D-5 by e-mail; amiable D+1 by e-mail then a call at D+7;
/// formelle D+15 stating penalties and the 40 €; mise en demeure D+45 by LRAR; contentieux D+60.
pub fn default_steps() -> Vec<StepPolicy> {
    vec![
        StepPolicy::new(Stage::Preventive, -5, Channel::Email, 0, false),
        StepPolicy::new(Stage::Amiable, 1, Channel::Email, 0, false),
        StepPolicy::new(Stage::Amiable, 7, Channel::PhoneTask, 5, false),
        StepPolicy::new(Stage::Formelle, 15, Channel::Email, 7, true),
        StepPolicy::new(
            Stage::MiseEnDemeure,
            45,
            Channel::RegisteredLetter,
            15,
            true,
        ),
        StepPolicy::new(Stage::Contentieux, 60, Channel::LegalTask, 15, true),
    ]
}

/// One step of the ladder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepPolicy {
    /// Stage of this step (0 préventive … 4 contentieux).
    pub stage: Stage,
    /// Days relative to the due date when the step becomes due (negative: before due).
    pub offset_days: i32,
    /// How it goes out.
    pub channel: Channel,
    /// Minimum days since the previous action on the same invoice.
    #[serde(default)]
    pub min_days_since_previous: u32,
    /// A mandatory step is never skipped when catching up: an invoice found at D+50 with no
    /// history gets the formal reminder (penalties stated) before any mise en demeure.
    #[serde(default)]
    pub mandatory: bool,
}

impl StepPolicy {
    /// A step.
    pub fn new(
        stage: Stage,
        offset_days: i32,
        channel: Channel,
        gap: u32,
        mandatory: bool,
    ) -> Self {
        Self {
            stage,
            offset_days,
            channel,
            min_days_since_previous: gap,
            mandatory,
        }
    }
}

/// Which invoices an unapplied receipt holds back (reconcile-then-remind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnappliedCreditHold {
    /// Every invoice of the customer: money we have not placed may settle any of them
    /// (default; the safe reading of "could settle it").
    Any,
    /// Only invoices whose open amount the unapplied credit covers in full.
    Covering,
}

/// How late-payment penalties are computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PenaltyPolicy {
    /// B2B: split the late period at 30 June / 31 December and apply each semester's rate
    /// (default, legifiscal's reading of L441-10 II) or freeze the rate of the semester in
    /// which the delay began (french-rules §2.1 ⚠, §8 point 2).
    pub semester_rule: SemesterRule,
    /// Day-count denominator: 365 always (default; the formula practitioners use) or the
    /// actual 365/366 of each day's year (french-rules §8 point 3).
    pub day_count: DayCount,
    /// A company-wide contractual penalty rate (percent per year) for business customers,
    /// replacing ECB MRO + 10 points. Checked against 3 × taux légal each semester.
    pub contract_rate_percent: Option<Decimal>,
    /// Taux légal column for consumer debts: `other_cases` (default — the creditor is a
    /// company; the "particuliers" column is for natural-person creditors, french-rules §2.3)
    /// or `natural_person`.
    pub consumer_legal_rate: LegalRateColumn,
}

impl Default for PenaltyPolicy {
    fn default() -> Self {
        Self {
            semester_rule: SemesterRule::Split,
            day_count: DayCount::Fixed365,
            contract_rate_percent: None,
            consumer_legal_rate: LegalRateColumn::OtherCases,
        }
    }
}

/// Semester handling of B2B penalty rates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SemesterRule {
    /// Each day at the rate of its semester.
    Split,
    /// The whole delay at the rate of the semester in which it began.
    Frozen,
}

/// Day-count denominator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayCount {
    /// Always 365.
    #[serde(rename = "365")]
    Fixed365,
    /// 366 for days of a leap year.
    Actual,
}

/// Which column of the taux de l'intérêt légal table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalRateColumn {
    /// Creditor is a natural person not acting professionally.
    NaturalPerson,
    /// All other cases.
    OtherCases,
}

/// Payment terms applied when an invoice has no due date (days after the issue date).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TermsPolicy {
    /// Business: 30 days (délai supplétif, C. com. L441-10 I).
    pub business_days: u32,
    /// Consumer: the company's own terms (default 30).
    pub consumer_days: u32,
    /// State, collectivités and their établissements: 30 days (CCP R2192-10).
    pub public_entity_days: u32,
    /// Public hospitals: 50 days (CCP R2192-11 1°).
    pub public_hospital_days: u32,
}

impl Default for TermsPolicy {
    fn default() -> Self {
        Self {
            business_days: 30,
            consumer_days: 30,
            public_entity_days: 30,
            public_hospital_days: 50,
        }
    }
}

/// Payment-history segmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentPolicy {
    /// History window, in days before the plan date.
    pub lookback_days: u32,
    /// Fewer paid invoices than this in the window (or no history) makes a new customer.
    pub new_customer_min_paid: u32,
    /// A payment up to this many days after the due date still counts as on time.
    pub late_tolerance_days: u32,
    /// Share of late payments (percent) from which a customer is a chronic late payer.
    pub chronic_late_share_percent: Decimal,
    /// Average days late (over late payments) from which a customer is a chronic late payer.
    pub chronic_avg_days_late: u32,
    /// Schedule and tone for good payers.
    pub good_payer: SegmentAdjust,
    /// Schedule and tone for occasional late payers.
    pub occasional: SegmentAdjust,
    /// Schedule and tone for chronic late payers.
    pub chronic: SegmentAdjust,
    /// Schedule and tone for new customers.
    pub new_customer: SegmentAdjust,
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        Self {
            lookback_days: 365,
            new_customer_min_paid: 3,
            late_tolerance_days: 5,
            chronic_late_share_percent: Decimal::new(50, 0),
            chronic_avg_days_late: 20,
            // A loyal customer late once deserves a more human approach (seed material).
            good_payer: SegmentAdjust {
                shift_days: 3,
                tone: Tone::Courteous,
                skip_preventive: true,
            },
            occasional: SegmentAdjust {
                shift_days: 0,
                tone: Tone::Standard,
                skip_preventive: false,
            },
            // A customer who never pays on time needs firmer, earlier reminders (seed material).
            chronic: SegmentAdjust {
                shift_days: -3,
                tone: Tone::Firm,
                skip_preventive: false,
            },
            new_customer: SegmentAdjust {
                shift_days: 0,
                tone: Tone::Courteous,
                skip_preventive: false,
            },
        }
    }
}

/// How a segment changes the ladder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentAdjust {
    /// Days added to every after-due step offset (negative: earlier). Never moves a step
    /// before D+1, and never touches the pre-due step.
    pub shift_days: i32,
    /// Tone of the templates.
    pub tone: Tone,
    /// No préventive reminder for this segment.
    pub skip_preventive: bool,
}

impl Default for SegmentAdjust {
    fn default() -> Self {
        Self {
            shift_days: 0,
            tone: Tone::Standard,
            skip_preventive: false,
        }
    }
}

/// Tone of a reminder: selects the template variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Courteous (good payers, new customers).
    Courteous,
    /// Standard.
    Standard,
    /// Firm (chronic late payers).
    Firm,
}

impl Tone {
    /// The name used in template file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Courteous => "courteous",
            Tone::Standard => "standard",
            Tone::Firm => "firm",
        }
    }
}

/// Pauses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PausePolicy {
    /// Days after a promised payment date before dunning resumes.
    pub promise_grace_days: u32,
    /// Days after an instalment's date before it counts as missed.
    pub payment_plan_grace_days: u32,
}

impl Default for PausePolicy {
    fn default() -> Self {
        Self {
            promise_grace_days: 2,
            payment_plan_grace_days: 3,
        }
    }
}

/// Sending windows and caps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendingPolicy {
    /// Only Monday to Friday.
    pub business_days_only: bool,
    /// Also skip French public holidays (metropolitan list, Easter-based ones computed).
    pub skip_french_holidays: bool,
    /// First hour (local time, 0–23) at which actions may go out.
    pub window_start_hour: u8,
    /// Hour (exclusive) after which actions wait for the next day.
    pub window_end_hour: u8,
    /// At most this many actions per company and day (already-sent ones included).
    pub max_actions_per_day: Option<u32>,
    /// No new action to a customer within this many days of the previous one (any invoice,
    /// any stage; actions of the same day are grouped anyway). Repeated unwanted contacts are
    /// an aggressive practice towards consumers (C. conso L121-6) and train any customer to
    /// wait for the next reminder (seed material). Default 3.
    pub min_days_between_contacts: u32,
}

impl Default for SendingPolicy {
    fn default() -> Self {
        Self {
            business_days_only: true,
            skip_french_holidays: true,
            window_start_hour: 9,
            window_end_hour: 18,
            max_actions_per_day: None,
            min_days_between_contacts: 3,
        }
    }
}

/// Alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertPolicy {
    /// Warn when the prescription deadline of an open invoice is this close (days).
    pub prescription_warn_days: u32,
    /// Alert when more than this amount of a customer's balance is over 90 days past due.
    pub over_90_days_amount: Option<Decimal>,
    /// Alert when a customer's DSO (from the sales given in input) exceeds this.
    pub dso_days: Option<Decimal>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            prescription_warn_days: 180,
            over_90_days_amount: Some(Decimal::new(10000, 0)),
            dso_days: None,
        }
    }
}

impl Policy {
    /// True when actions of `stage` wait for a person's approval.
    pub fn needs_approval(&self, stage: Stage) -> bool {
        self.approval_stages.contains(&stage)
    }

    /// Checks the ladder: at least one step, stages in non-decreasing order, offsets
    /// increasing, only the préventive stage before the due date, nothing after contentieux.
    pub fn validate(&self) -> Result<(), DunningError> {
        let bad = |m: String| Err(DunningError::InvalidPolicy(m));
        if self.steps.is_empty() {
            return bad("dunning.steps is empty, expected at least one step".into());
        }
        for (i, w) in self.steps.windows(2).enumerate() {
            if w[1].stage < w[0].stage {
                return bad(format!("dunning.steps[{}]: stage goes backwards", i + 1));
            }
            if w[1].offset_days <= w[0].offset_days {
                return bad(format!(
                    "dunning.steps[{}]: offset_days must increase",
                    i + 1
                ));
            }
        }
        for (i, s) in self.steps.iter().enumerate() {
            if (s.stage == Stage::Preventive) != (s.offset_days <= 0) {
                return bad(format!(
                    "dunning.steps[{i}]: the préventive stage and only it comes on or before the due date"
                ));
            }
        }
        for (i, st) in self.approval_stages.iter().enumerate() {
            if self.approval_stages[..i].contains(st) {
                return bad(format!(
                    "dunning.approval_stages[{i}]: {} is listed twice",
                    st.name()
                ));
            }
        }
        if self.sending.window_start_hour >= self.sending.window_end_hour
            || self.sending.window_end_hour > 24
        {
            return bad(
                "dunning.sending: window_start_hour must be before window_end_hour (≤ 24)".into(),
            );
        }
        Ok(())
    }
}
