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

    /// The stage of a name as [`Stage::name`] gives it.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
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

/// Serde of a list of stages by name (`["mise_en_demeure", "contentieux"]`), numbers (0–4)
/// also accepted: configuration keys naming stages.
pub mod names {
    use super::Stage;
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::{SerializeSeq, Serializer};
    use std::fmt;

    /// Writes the stages' names.
    pub fn serialize<S: Serializer>(stages: &[Stage], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(stages.len()))?;
        for st in stages {
            seq.serialize_element(st.name())?;
        }
        seq.end()
    }

    struct One;

    impl<'de> Visitor<'de> for One {
        type Value = Stage;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a stage name (preventive, amiable, formelle, mise_en_demeure, contentieux) or number 0 to 4")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Stage, E> {
            Stage::from_name(v).ok_or_else(|| {
                E::custom(format!(
                    "unknown stage {v:?}, expected one of preventive, amiable, formelle, mise_en_demeure, contentieux"
                ))
            })
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Stage, E> {
            u8::try_from(v)
                .ok()
                .and_then(|n| Stage::try_from(n).ok())
                .ok_or_else(|| E::custom(format!("unknown dunning stage {v}, expected 0 to 4")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Stage, E> {
            match u64::try_from(v) {
                Ok(u) => self.visit_u64(u),
                Err(_) => Err(E::custom(format!(
                    "unknown dunning stage {v}, expected 0 to 4"
                ))),
            }
        }
    }

    struct Many;

    impl<'de> Visitor<'de> for Many {
        type Value = Vec<Stage>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of stage names")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Stage>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element_seed(OneSeed)? {
                out.push(s);
            }
            Ok(out)
        }
    }

    struct OneSeed;

    impl<'de> de::DeserializeSeed<'de> for OneSeed {
        type Value = Stage;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Stage, D::Error> {
            d.deserialize_any(One)
        }
    }

    /// Reads a list of stage names or numbers.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Stage>, D::Error> {
        d.deserialize_seq(Many)
    }
}
