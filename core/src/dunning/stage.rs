//! Stages of the ladder (0 préventive … 4 contentieux), channels, and the choice of the next step.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A dunning stage. Serialised as its number (0–4), as Tryton dunning levels are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Stage {
    /// 0 — relance préventive, before the due date (courteous, e-mail).
    Preventive,
    /// 1 — relance amiable, just after the due date (e-mail, then a call).
    Amiable,
    /// 2 — relance écrite formelle: states the penalties and the 40 € indemnity
    /// (C. com. L441-10 II, D441-5).
    Formelle,
    /// 3 — mise en demeure by LRAR (C. civ. 1344): starts legal interest on consumer debts
    /// (C. civ. 1344-1); does not interrupt prescription.
    MiseEnDemeure,
    /// 4 — contentieux: injonction de payer (CPC 1405 s.) or a collection agency; dunning stops.
    Contentieux,
}

impl Stage {
    /// All stages in order.
    pub const ALL: [Stage; 5] = [
        Stage::Preventive,
        Stage::Amiable,
        Stage::Formelle,
        Stage::MiseEnDemeure,
        Stage::Contentieux,
    ];

    /// The stage number.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Name used in template files and explanations.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Preventive => "preventive",
            Stage::Amiable => "amiable",
            Stage::Formelle => "formelle",
            Stage::MiseEnDemeure => "mise_en_demeure",
            Stage::Contentieux => "contentieux",
        }
    }
}

impl From<Stage> for u8 {
    fn from(s: Stage) -> u8 {
        s.number()
    }
}

impl TryFrom<u8> for Stage {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Stage::ALL
            .get(usize::from(n))
            .copied()
            .ok_or_else(|| format!("unknown dunning stage {n}, expected 0 to 4"))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.name())
    }
}

/// How an action goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An e-mail to the customer's addresses.
    Email,
    /// A task for the operator: call the customer.
    PhoneTask,
    /// A PDF letter to print and post by lettre recommandée avec accusé de réception, with a
    /// task for the operator; a copy goes by e-mail when an address is known.
    RegisteredLetter,
    /// A task for the operator: file an injonction de payer or mandate a collection agency.
    LegalTask,
}

impl Channel {
    /// Name used in output and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::PhoneTask => "phone_task",
            Channel::RegisteredLetter => "registered_letter",
            Channel::LegalTask => "legal_task",
        }
    }
}
