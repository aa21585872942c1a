//! Observation values: mood, sleep, noticed shifts, symptoms, notes, and questionnaire scores
//! whose shape (item count, item range, total) is part of the type (domain §3, observation).

use serde::{Deserialize, Serialize};

use super::{FreeText, ValueError};

/// A mood rating on the 0..=10 scale (0 worst, 10 best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Mood(u8);

impl Mood {
    pub fn new(rating: u8) -> Result<Self, ValueError> {
        if rating <= 10 {
            Ok(Self(rating))
        } else {
            Err(ValueError::MoodOutOfRange(rating))
        }
    }

    pub fn rating(&self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Mood {
    type Error = ValueError;
    fn try_from(value: u8) -> Result<Self, ValueError> {
        Self::new(value)
    }
}

impl From<Mood> for u8 {
    fn from(value: Mood) -> u8 {
        value.0
    }
}

fixed_point! {
    /// Hours slept, 0..=24 to 0.1 h: tenths of an hour on the wire (`u16`), a decimal number
    /// of hours in JSON (`6.5`).
    pub struct SleepHours(u16);
    units_per_one: 10,
    fraction_digits: 1,
    units: 0 ..= 240,
    out_of_range: SleepHoursOutOfRange,
    too_precise: SleepHoursTooPrecise,
    suffix: " h",
}

name_enum! {
    /// A symptom worth telling the clinic about. All but `other` are the red flags of domain
    /// §4 when they come within 72 hours of a dose.
    pub enum Symptom {
        PersistentVomiting => "persistent_vomiting",
        SevereHeadache => "severe_headache",
        ChestPain => "chest_pain",
        FeelingWorse => "feeling_worse",
        Other => "other",
    }
}

/// A reported symptom with optional words about it (what "other" was, how long it lasted).
/// The safety exception of domain §5 shows the clinic the symptom without the detail text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymptomReport {
    pub symptom: Symptom,
    pub detail: Option<FreeText>,
}

name_enum! {
    /// The kind of an observation, without its value: for filtering and summaries.
    pub enum ObservationKind {
        Mood => "mood",
        SleepHours => "sleep_hours",
        Shift => "shift",
        Symptom => "symptom",
        Note => "note",
    }
}

/// What was observed: the kind and its value in one enum, so a mood can never carry a symptom.
///
/// JSON: externally tagged, `{"mood": 7}`, `{"sleep_hours": 6.5}`,
/// `{"shift": "starting tasks felt easier"}`,
/// `{"symptom": {"symptom": "severe_headache", "detail": null}}`, `{"note": "…"}`.
/// Variant order is the wire tag: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObservationValue {
    #[serde(rename = "mood")]
    Mood(Mood),
    #[serde(rename = "sleep_hours")]
    SleepHours(SleepHours),
    /// A change the person noticed, such as "starting tasks felt easier".
    #[serde(rename = "shift")]
    Shift(FreeText),
    #[serde(rename = "symptom")]
    Symptom(SymptomReport),
    #[serde(rename = "note")]
    Note(FreeText),
}

impl ObservationValue {
    pub fn kind(&self) -> ObservationKind {
        match self {
            ObservationValue::Mood(_) => ObservationKind::Mood,
            ObservationValue::SleepHours(_) => ObservationKind::SleepHours,
            ObservationValue::Shift(_) => ObservationKind::Shift,
            ObservationValue::Symptom(_) => ObservationKind::Symptom,
            ObservationValue::Note(_) => ObservationKind::Note,
        }
    }
}

name_enum! {
    /// A validated questionnaire.
    pub enum Instrument {
        /// Patient Health Questionnaire, 9 items 0–3 (depression).
        Phq9 => "phq9",
        /// Generalized Anxiety Disorder scale, 7 items 0–3.
        Gad7 => "gad7",
        /// Montgomery–Åsberg Depression Rating Scale, 10 items 0–6.
        Madrs => "madrs",
        /// Clinician-Administered Dissociative States Scale, 23 items 0–4.
        Cadss => "cadss",
    }
}

impl Instrument {
    /// How many items the instrument has.
    pub fn item_count(&self) -> usize {
        match self {
            Instrument::Phq9 => 9,
            Instrument::Gad7 => 7,
            Instrument::Madrs => 10,
            Instrument::Cadss => 23,
        }
    }

    /// The highest score of one item (the lowest is 0).
    pub fn item_max(&self) -> u8 {
        match self {
            Instrument::Phq9 | Instrument::Gad7 => 3,
            Instrument::Madrs => 6,
            Instrument::Cadss => 4,
        }
    }

    /// The highest possible total: 27, 21, 60 or 92.
    pub fn max_total(&self) -> u16 {
        // item_count is at most 23, so the product fits easily.
        self.item_count() as u16 * u16::from(self.item_max())
    }
}

/// A scored questionnaire: the instrument and its item scores. It cannot hold a wrong number
/// of items, an item out of range, or a total that is not the sum of the items — decoding
/// such bytes or JSON fails.
///
/// JSON and wire: `{"instrument": "phq9", "items": [1, 0, …], "total": 7}`. The total is
/// carried (people and exports read it) and checked against the items on decode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ScaleScoreFields", into = "ScaleScoreFields")]
pub struct ScaleScore {
    instrument: Instrument,
    items: Vec<u8>,
}

/// The unchecked shape of [`ScaleScore`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleScoreFields {
    instrument: Instrument,
    items: Vec<u8>,
    total: u16,
}

impl ScaleScore {
    /// Checks the item count and each item's range; the total is their sum.
    pub fn new(instrument: Instrument, items: Vec<u8>) -> Result<Self, ValueError> {
        if items.len() != instrument.item_count() {
            return Err(ValueError::ScaleItemCount {
                instrument,
                expected: instrument.item_count(),
                found: items.len(),
            });
        }
        let max = instrument.item_max();
        if let Some((index, &value)) = items.iter().enumerate().find(|(_, &value)| value > max) {
            return Err(ValueError::ScaleItemOutOfRange {
                instrument,
                item: index + 1,
                value,
                max,
            });
        }
        Ok(Self { instrument, items })
    }

    /// Like [`ScaleScore::new`], and also checks a total stated by the caller.
    pub fn with_total(
        instrument: Instrument,
        items: Vec<u8>,
        stated_total: u16,
    ) -> Result<Self, ValueError> {
        let score = Self::new(instrument, items)?;
        let sum = score.total();
        if sum != stated_total {
            return Err(ValueError::ScaleTotalMismatch {
                instrument,
                stated: stated_total,
                sum,
            });
        }
        Ok(score)
    }

    pub fn instrument(&self) -> Instrument {
        self.instrument
    }

    /// The item scores in questionnaire order.
    pub fn items(&self) -> &[u8] {
        &self.items
    }

    /// The score of item `number`, counted from 1 as on the questionnaire (PHQ-9 item 9 is
    /// `item(9)`).
    pub fn item(&self, number: usize) -> Option<u8> {
        number
            .checked_sub(1)
            .and_then(|index| self.items.get(index))
            .copied()
    }

    /// The sum of the items.
    pub fn total(&self) -> u16 {
        self.items.iter().map(|&item| u16::from(item)).sum()
    }
}

impl TryFrom<ScaleScoreFields> for ScaleScore {
    type Error = ValueError;
    fn try_from(fields: ScaleScoreFields) -> Result<Self, ValueError> {
        Self::with_total(fields.instrument, fields.items, fields.total)
    }
}

impl From<ScaleScore> for ScaleScoreFields {
    fn from(value: ScaleScore) -> Self {
        let total = value.total();
        ScaleScoreFields {
            instrument: value.instrument,
            items: value.items,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mood_and_sleep() {
        fn check_mood(rating: u8, accepted: bool) {
            assert_eq!(Mood::new(rating).is_ok(), accepted, "mood {rating}");
            let json = serde_json::from_str::<Mood>(&rating.to_string());
            assert_eq!(json.is_ok(), accepted, "mood {rating} from JSON");
        }
        check_mood(0, true);
        check_mood(10, true);
        check_mood(11, false);

        fn check_sleep(json: &str, expected: Result<u16, &str>) {
            let decoded = serde_json::from_str::<SleepHours>(json);
            match expected {
                Ok(tenths) => assert_eq!(decoded.expect(json).units(), tenths, "{json}"),
                Err(message) => {
                    let error = decoded.expect_err(json).to_string();
                    assert!(error.contains(message), "{json}: {error}");
                }
            }
        }
        check_sleep("0", Ok(0));
        check_sleep("6.5", Ok(65));
        check_sleep("24", Ok(240));
        check_sleep("24.1", Err("outside 0..=24 h"));
        check_sleep("-1", Err("outside 0..=24 h"));
        check_sleep("7.25", Err("more precise than 0.1 h"));
    }

    #[test]
    fn observation_kind_and_value_travel_together() {
        let mood = ObservationValue::Mood(Mood::new(7).expect("valid"));
        assert_eq!(mood.kind(), ObservationKind::Mood);
        assert_eq!(serde_json::to_string(&mood).expect("json"), r#"{"mood":7}"#);
        let sleep: ObservationValue =
            serde_json::from_str(r#"{"sleep_hours":6.5}"#).expect("sleep");
        assert_eq!(sleep.kind(), ObservationKind::SleepHours);
        let symptom: ObservationValue =
            serde_json::from_str(r#"{"symptom":{"symptom":"chest_pain","detail":null}}"#)
                .expect("symptom");
        assert_eq!(symptom.kind(), ObservationKind::Symptom);
        // A kind with the wrong kind of value does not decode.
        assert!(serde_json::from_str::<ObservationValue>(r#"{"mood":"great"}"#).is_err());
        assert!(serde_json::from_str::<ObservationValue>(r#"{"mood":11}"#).is_err());
        assert!(serde_json::from_str::<ObservationValue>(r#"{"symptom":"chest_pain"}"#).is_err());
        assert!(serde_json::from_str::<ObservationValue>(r#"{"weather":"rain"}"#).is_err());
        for (kind, value) in ObservationKind::ALL.iter().zip([
            mood,
            sleep,
            ObservationValue::Shift(FreeText::new("easier").expect("valid")),
            symptom,
            ObservationValue::Note(FreeText::new("ok").expect("valid")),
        ]) {
            assert_eq!(value.kind(), *kind);
            let json = serde_json::to_value(&value).expect("json");
            assert!(json.get(kind.as_str()).is_some(), "{json}");
        }
    }

    #[test]
    fn instruments() {
        fn check(instrument: Instrument, count: usize, max: u8, total: u16) {
            assert_eq!(instrument.item_count(), count, "{instrument}");
            assert_eq!(instrument.item_max(), max, "{instrument}");
            assert_eq!(instrument.max_total(), total, "{instrument}");
        }
        check(Instrument::Phq9, 9, 3, 27);
        check(Instrument::Gad7, 7, 3, 21);
        check(Instrument::Madrs, 10, 6, 60);
        check(Instrument::Cadss, 23, 4, 92);
    }

    #[test]
    fn scale_scores_hold_only_well_formed_questionnaires() {
        fn check(json: &str, expected: Result<u16, ValueError>) {
            let decoded = serde_json::from_str::<ScaleScore>(json);
            match expected {
                Ok(total) => assert_eq!(decoded.expect(json).total(), total, "{json}"),
                Err(error) => {
                    let message = decoded.expect_err(json).to_string();
                    assert!(message.contains(&error.to_string()), "{json}: {message}");
                }
            }
        }
        check(
            r#"{"instrument":"phq9","items":[1,0,2,3,0,0,1,0,1],"total":8}"#,
            Ok(8),
        );
        check(
            r#"{"instrument":"gad7","items":[0,0,0,0,0,0,0],"total":0}"#,
            Ok(0),
        );
        check(
            r#"{"instrument":"madrs","items":[6,6,6,6,6,6,6,6,6,6],"total":60}"#,
            Ok(60),
        );
        check(
            r#"{"instrument":"cadss","items":[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4],"total":92}"#,
            Ok(92),
        );
        check(
            r#"{"instrument":"phq9","items":[1,0,2,3,0,0,1,0],"total":7}"#,
            Err(ValueError::ScaleItemCount {
                instrument: Instrument::Phq9,
                expected: 9,
                found: 8,
            }),
        );
        check(
            r#"{"instrument":"gad7","items":[0,0,4,0,0,0,0],"total":4}"#,
            Err(ValueError::ScaleItemOutOfRange {
                instrument: Instrument::Gad7,
                item: 3,
                value: 4,
                max: 3,
            }),
        );
        check(
            r#"{"instrument":"phq9","items":[1,0,2,3,0,0,1,0,1],"total":9}"#,
            Err(ValueError::ScaleTotalMismatch {
                instrument: Instrument::Phq9,
                stated: 9,
                sum: 8,
            }),
        );
        assert!(serde_json::from_str::<ScaleScore>(
            r#"{"instrument":"phq9","items":[0,0,0,0,0,0,0,0,0]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ScaleScore>(
            r#"{"instrument":"bdi","items":[0],"total":0}"#
        )
        .is_err());
    }

    #[test]
    fn scale_scores_are_checked_on_the_wire_too() {
        let score =
            ScaleScore::new(Instrument::Phq9, vec![0, 0, 0, 0, 0, 0, 0, 0, 2]).expect("valid");
        assert_eq!(score.item(9), Some(2));
        assert_eq!(score.item(0), None);
        assert_eq!(score.item(10), None);
        let wire = postcard::to_allocvec(&score).expect("postcard");
        assert_eq!(
            postcard::from_bytes::<ScaleScore>(&wire).expect("decode"),
            score
        );
        // The same fields with a wrong total, encoded by hand.
        let forged = postcard::to_allocvec(&(0_u8, vec![0_u8, 0, 0, 0, 0, 0, 0, 0, 2], 3_u16))
            .expect("postcard");
        assert!(postcard::from_bytes::<ScaleScore>(&forged).is_err());
        let too_many = postcard::to_allocvec(&(1_u8, vec![0_u8; 8], 0_u16)).expect("postcard");
        assert!(postcard::from_bytes::<ScaleScore>(&too_many).is_err());
    }
}
