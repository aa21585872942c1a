//! Vital signs: blood pressure, heart rate and oxygen saturation, each bounded to what a living
//! patient in a clinic chair can show, so a typo (400/80, a heart rate of 7) never enters the log.

use serde::{Deserialize, Serialize};

use super::ValueError;

/// Systolic pressures a clinic can plausibly measure, in mmHg.
const SYSTOLIC_RANGE: std::ops::RangeInclusive<u16> = 50..=300;
/// Diastolic pressures a clinic can plausibly measure, in mmHg.
const DIASTOLIC_RANGE: std::ops::RangeInclusive<u16> = 20..=200;

/// One blood pressure reading in mmHg. Systolic and diastolic are one value because the rules
/// (systolic above diastolic, "above 140/90", "at or above 180/110") concern the pair.
///
/// JSON: `{"systolic": 150, "diastolic": 95}`; postcard: the two numbers in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "BloodPressureFields", into = "BloodPressureFields")]
pub struct BloodPressure {
    systolic: u16,
    diastolic: u16,
}

/// The unchecked shape of [`BloodPressure`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BloodPressureFields {
    systolic: u16,
    diastolic: u16,
}

impl BloodPressure {
    pub fn new(systolic: u16, diastolic: u16) -> Result<Self, ValueError> {
        if !SYSTOLIC_RANGE.contains(&systolic) {
            return Err(ValueError::SystolicOutOfRange(systolic));
        }
        if !DIASTOLIC_RANGE.contains(&diastolic) {
            return Err(ValueError::DiastolicOutOfRange(diastolic));
        }
        if systolic <= diastolic {
            return Err(ValueError::SystolicNotAboveDiastolic {
                systolic,
                diastolic,
            });
        }
        Ok(Self {
            systolic,
            diastolic,
        })
    }

    /// Systolic pressure in mmHg.
    pub fn systolic(&self) -> u16 {
        self.systolic
    }

    /// Diastolic pressure in mmHg.
    pub fn diastolic(&self) -> u16 {
        self.diastolic
    }
}

impl std::fmt::Display for BloodPressure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{} mmHg", self.systolic, self.diastolic)
    }
}

impl TryFrom<BloodPressureFields> for BloodPressure {
    type Error = ValueError;
    fn try_from(fields: BloodPressureFields) -> Result<Self, ValueError> {
        Self::new(fields.systolic, fields.diastolic)
    }
}

impl From<BloodPressure> for BloodPressureFields {
    fn from(value: BloodPressure) -> Self {
        BloodPressureFields {
            systolic: value.systolic,
            diastolic: value.diastolic,
        }
    }
}

/// Heart rate in beats per minute, 20..=250.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct HeartRate(u16);

impl HeartRate {
    pub fn new(beats_per_minute: u16) -> Result<Self, ValueError> {
        if (20..=250).contains(&beats_per_minute) {
            Ok(Self(beats_per_minute))
        } else {
            Err(ValueError::HeartRateOutOfRange(beats_per_minute))
        }
    }

    pub fn beats_per_minute(&self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for HeartRate {
    type Error = ValueError;
    fn try_from(value: u16) -> Result<Self, ValueError> {
        Self::new(value)
    }
}

impl From<HeartRate> for u16 {
    fn from(value: HeartRate) -> u16 {
        value.0
    }
}

/// Peripheral oxygen saturation in whole percent, 50..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct SpO2(u8);

impl SpO2 {
    pub fn new(percent: u8) -> Result<Self, ValueError> {
        if (50..=100).contains(&percent) {
            Ok(Self(percent))
        } else {
            Err(ValueError::Spo2OutOfRange(percent))
        }
    }

    pub fn percent(&self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for SpO2 {
    type Error = ValueError;
    fn try_from(value: u8) -> Result<Self, ValueError> {
        Self::new(value)
    }
}

impl From<SpO2> for u8 {
    fn from(value: SpO2) -> u8 {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blood_pressure_accepts_plausible_pairs_only() {
        fn check(systolic: u16, diastolic: u16, expected: Result<(), ValueError>) {
            assert_eq!(
                BloodPressure::new(systolic, diastolic).map(|_| ()),
                expected,
                "{systolic}/{diastolic}"
            );
        }
        check(120, 80, Ok(()));
        check(50, 20, Ok(()));
        check(300, 200, Ok(()));
        check(181, 111, Ok(()));
        check(49, 30, Err(ValueError::SystolicOutOfRange(49)));
        check(400, 80, Err(ValueError::SystolicOutOfRange(400)));
        check(120, 19, Err(ValueError::DiastolicOutOfRange(19)));
        check(250, 201, Err(ValueError::DiastolicOutOfRange(201)));
        check(
            90,
            90,
            Err(ValueError::SystolicNotAboveDiastolic {
                systolic: 90,
                diastolic: 90,
            }),
        );
        check(
            80,
            120,
            Err(ValueError::SystolicNotAboveDiastolic {
                systolic: 80,
                diastolic: 120,
            }),
        );
    }

    #[test]
    fn blood_pressure_is_checked_when_decoded() {
        let wire = postcard::to_allocvec(&(400_u16, 80_u16)).expect("encode raw pair");
        assert!(postcard::from_bytes::<BloodPressure>(&wire).is_err());
        let valid = postcard::to_allocvec(&(150_u16, 95_u16)).expect("encode raw pair");
        assert_eq!(
            postcard::from_bytes::<BloodPressure>(&valid).expect("decode"),
            BloodPressure::new(150, 95).expect("valid")
        );

        let error = serde_json::from_str::<BloodPressure>(r#"{"systolic":80,"diastolic":120}"#)
            .expect_err("inverted pair");
        assert!(
            error
                .to_string()
                .contains("systolic must be above diastolic"),
            "{error}"
        );
        assert!(serde_json::from_str::<BloodPressure>(
            r#"{"systolic":120,"diastolic":80,"pulse":60}"#
        )
        .is_err());
        assert_eq!(
            serde_json::to_string(&BloodPressure::new(150, 95).expect("valid")).expect("json"),
            r#"{"systolic":150,"diastolic":95}"#
        );
    }

    #[test]
    fn heart_rate_range() {
        fn check(value: u16, accepted: bool) {
            assert_eq!(HeartRate::new(value).is_ok(), accepted, "{value} bpm");
            let json = serde_json::from_str::<HeartRate>(&value.to_string());
            assert_eq!(json.is_ok(), accepted, "{value} bpm from JSON");
            let wire = postcard::to_allocvec(&value).expect("encode");
            assert_eq!(postcard::from_bytes::<HeartRate>(&wire).is_ok(), accepted);
        }
        check(19, false);
        check(20, true);
        check(72, true);
        check(250, true);
        check(251, false);
        check(0, false);
    }

    #[test]
    fn spo2_range() {
        fn check(value: u8, accepted: bool) {
            assert_eq!(SpO2::new(value).is_ok(), accepted, "{value}%");
            let json = serde_json::from_str::<SpO2>(&value.to_string());
            assert_eq!(json.is_ok(), accepted, "{value}% from JSON");
        }
        check(49, false);
        check(50, true);
        check(98, true);
        check(100, true);
        check(101, false);
        assert!(serde_json::from_str::<SpO2>("300").is_err());
        assert!(serde_json::from_str::<SpO2>("97.5").is_err());
    }

    #[test]
    fn messages_name_the_value_and_the_range() {
        assert_eq!(
            ValueError::SystolicOutOfRange(400).to_string(),
            "systolic blood pressure 400 mmHg is outside the plausible range 50..=300 mmHg"
        );
    }
}
