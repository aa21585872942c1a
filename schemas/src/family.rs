//! The four event families; each is one aggregate per patient and one subject per aggregate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An event family (domain §3). The order of the variants is part of the wire format: append
/// new families at the end, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Dose,
    Consent,
    Target,
    Observation,
}

impl Family {
    pub const ALL: [Family; 4] = [
        Family::Dose,
        Family::Consent,
        Family::Target,
        Family::Observation,
    ];

    /// The token used in subjects (`care.<token>.<patient_id>`) and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Family::Dose => "dose",
            Family::Consent => "consent",
            Family::Target => "target",
            Family::Observation => "observation",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A family name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event family {0:?}: expected dose, consent, target or observation")]
pub struct UnknownFamily(pub String);

impl FromStr for Family {
    type Err = UnknownFamily;
    fn from_str(text: &str) -> Result<Self, UnknownFamily> {
        Family::ALL
            .into_iter()
            .find(|family| family.as_str() == text)
            .ok_or_else(|| UnknownFamily(text.to_owned()))
    }
}
