//! Warnings carried on an event (domain §4: "warnings are appended as flags on the event, never
//! silently dropped"). The command services decide which flags apply; the contract only carries
//! them, so a projection or an auditor sees the same warning the clinic was shown.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::ValueError;

name_enum! {
    /// A warning raised by a rule of domain §4. Each one becomes a clinic alert.
    ///
    /// Variant order is the wire tag and the order flags are listed in: append only.
    pub enum Flag {
        /// Pre-dose blood pressure above 140/90 (on the pre-dose vitals and on the dose).
        BpAbove140Over90 => "bp_above_140_90",
        /// A blood pressure at or above 180/110.
        BpCrisis => "bp_crisis",
        /// Solid food less than 2 hours before dosing.
        SolidFoodFastedUnder2h => "solid_food_fasted_under_2h",
        /// A benzodiazepine in the 24 hours before dosing.
        BenzodiazepineLast24h => "benzodiazepine_last_24h",
        /// A stimulant in the 24 hours before dosing.
        StimulantLast24h => "stimulant_last_24h",
        /// No ride home arranged at the pre-dose check.
        NoRideHomeArranged => "no_ride_home_arranged",
        /// PHQ-9 item 9 (thoughts of self-harm) scored above 0: contact the patient.
        Phq9Item9Positive => "phq9_item9_positive",
        /// A red-flag symptom (persistent vomiting, severe headache, chest pain, feeling worse)
        /// within 72 hours of a dose: contact the patient.
        RedFlagSymptomWithin72h => "red_flag_symptom_within_72h",
    }
}

/// How long after a dose a red-flag symptom raises [`Flag::RedFlagSymptomWithin72h`]
/// (inclusive): the observation service flags by it, and the projections send the alert to
/// the clinics that gave a dose within it.
pub const RED_FLAG_WINDOW_HOURS: i64 = 72;

/// The flags on one event, each at most once, listed in [`Flag`] order. Usually empty.
///
/// Like [`super::Scopes`], a decoded list naming a flag twice is refused: the encoder never
/// writes one, so such bytes are a bug or a forgery, not data to tidy up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<Flag>", into = "Vec<Flag>")]
pub struct Flags(BTreeSet<Flag>);

impl Flags {
    /// No warnings.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, flag: Flag) {
        self.0.insert(flag);
    }

    /// These flags plus one more.
    #[must_use]
    pub fn with(mut self, flag: Flag) -> Self {
        self.0.insert(flag);
        self
    }

    pub fn contains(&self, flag: Flag) -> bool {
        self.0.contains(&flag)
    }

    /// The flags in [`Flag`] order.
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(flags: I) -> Self {
        Self(flags.into_iter().collect())
    }
}

impl TryFrom<Vec<Flag>> for Flags {
    type Error = ValueError;
    fn try_from(list: Vec<Flag>) -> Result<Self, ValueError> {
        let mut set = BTreeSet::new();
        for flag in list {
            if !set.insert(flag) {
                return Err(ValueError::FlagRepeated(flag));
            }
        }
        Ok(Self(set))
    }
}

impl From<Flags> for Vec<Flag> {
    fn from(value: Flags) -> Vec<Flag> {
        value.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names() {
        let names: Vec<&str> = Flag::ALL.iter().map(Flag::as_str).collect();
        assert_eq!(
            names,
            [
                "bp_above_140_90",
                "bp_crisis",
                "solid_food_fasted_under_2h",
                "benzodiazepine_last_24h",
                "stimulant_last_24h",
                "no_ride_home_arranged",
                "phq9_item9_positive",
                "red_flag_symptom_within_72h",
            ]
        );
        for flag in Flag::ALL {
            assert_eq!(
                serde_json::to_string(flag).expect("json"),
                format!("\"{flag}\"")
            );
        }
    }

    #[test]
    fn flag_lists() {
        fn check(json: &str, expected: Result<&[Flag], &str>) {
            let decoded = serde_json::from_str::<Flags>(json);
            match expected {
                Ok(flags) => {
                    let decoded = decoded.expect(json);
                    assert_eq!(decoded.iter().collect::<Vec<_>>(), flags, "{json}");
                }
                Err(message) => {
                    let error = decoded.expect_err(json).to_string();
                    assert!(error.contains(message), "{json}: {error}");
                }
            }
        }
        check("[]", Ok(&[]));
        check(
            r#"["bp_crisis","bp_above_140_90"]"#,
            Ok(&[Flag::BpAbove140Over90, Flag::BpCrisis]),
        );
        check(
            r#"["bp_crisis","bp_crisis"]"#,
            Err("flag bp_crisis is listed twice"),
        );
        check(r#"["bp_high"]"#, Err("unknown variant"));
    }

    #[test]
    fn flags_encode_in_flag_order() {
        let flags: Flags = [Flag::StimulantLast24h, Flag::SolidFoodFastedUnder2h]
            .into_iter()
            .collect();
        assert_eq!(
            serde_json::to_string(&flags).expect("json"),
            r#"["solid_food_fasted_under_2h","stimulant_last_24h"]"#
        );
        let wire = postcard::to_allocvec(&flags).expect("postcard");
        assert_eq!(wire, [2, 2, 4]);
        assert_eq!(postcard::from_bytes::<Flags>(&wire).expect("decode"), flags);
        assert!(postcard::from_bytes::<Flags>(&[2, 4, 4]).is_err());
        assert!(postcard::from_bytes::<Flags>(&[1, 200]).is_err());
        assert!(Flags::none().with(Flag::BpCrisis).contains(Flag::BpCrisis));
    }
}
