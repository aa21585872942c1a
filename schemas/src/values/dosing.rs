//! Dosing values: treatment path, drug, route, amounts, weight, devices, fasting and observation
//! times, vitals phases and side effects (domain §2 and the dose family of §3).
//!
//! Cross-field dose rules (Spravato is 56 or 84 mg, devices = amount / 28, intranasal only)
//! depend on the course and the patient's history, so the dose service enforces them; these
//! types only guarantee each value is plausible on its own.

use serde::{Deserialize, Serialize};

use super::ValueError;

name_enum! {
    /// The treatment path a course follows (domain §2).
    pub enum Path {
        /// Esketamine nasal spray in a certified Spravato clinic.
        Spravato => "spravato",
        /// Off-label racemic ketamine.
        Ketamine => "ketamine",
    }
}

impl Path {
    /// The drug given on this path.
    pub fn drug(&self) -> Drug {
        match self {
            Path::Spravato => Drug::Esketamine,
            Path::Ketamine => Drug::Ketamine,
        }
    }
}

name_enum! {
    /// The drug of an administered dose.
    pub enum Drug {
        Esketamine => "esketamine",
        Ketamine => "ketamine",
    }
}

name_enum! {
    /// How a dose was given.
    pub enum Route {
        Intranasal => "intranasal",
        Iv => "iv",
        Im => "im",
        Subcutaneous => "subcutaneous",
        Sublingual => "sublingual",
        Oral => "oral",
    }
}

name_enum! {
    /// When in a dosing visit vitals were taken: before dosing (required for Spravato), at
    /// about 40 minutes, at discharge, or at another time.
    pub enum VitalsPhase {
        PreDose => "pre_dose",
        T40 => "t40",
        Discharge => "discharge",
        Other => "other",
    }
}

name_enum! {
    /// A side effect seen during or after a dose.
    pub enum SideEffectKind {
        Nausea => "nausea",
        Vomiting => "vomiting",
        Dizziness => "dizziness",
        Sedation => "sedation",
        Dissociation => "dissociation",
        Headache => "headache",
        ElevatedBloodPressure => "elevated_blood_pressure",
        Other => "other",
    }
}

name_enum! {
    /// How bad a side effect was.
    pub enum Severity {
        Mild => "mild",
        Moderate => "moderate",
        Severe => "severe",
    }
}

fixed_point! {
    /// A dose amount, 0.001..=1000 mg. Off-label ketamine is dosed by weight (0.5 mg/kg ×
    /// 73.5 kg = 36.75 mg), so whole milligrams are not enough: the wire holds micrograms
    /// (`u32`), JSON a decimal number of milligrams (`36.75`).
    pub struct Milligrams(u32);
    units_per_one: 1000,
    fraction_digits: 3,
    units: 1 ..= 1_000_000,
    out_of_range: AmountOutOfRange,
    too_precise: AmountTooPrecise,
    suffix: " mg",
}

impl Milligrams {
    /// A whole number of milligrams, such as a Spravato 56 or 84 mg dose.
    pub fn from_whole_milligrams(milligrams: u32) -> Result<Self, ValueError> {
        let micrograms = milligrams
            .checked_mul(1000)
            .ok_or_else(|| ValueError::AmountOutOfRange(milligrams.to_string()))?;
        Self::from_units(micrograms)
    }

    pub fn from_micrograms(micrograms: u32) -> Result<Self, ValueError> {
        Self::from_units(micrograms)
    }

    pub fn micrograms(&self) -> u32 {
        self.0
    }

    /// The amount in milligrams when it is a whole number of them (Spravato amounts are).
    pub fn whole_milligrams(&self) -> Option<u32> {
        // Division and remainder rather than `is_multiple_of`, which is newer than the
        // workspace's rust-version.
        let (whole, micrograms_left) = (self.0 / 1000, self.0 % 1000);
        (micrograms_left == 0).then_some(whole)
    }
}

fixed_point! {
    /// A body weight, 20..=400 kg to 0.1 kg: the wire holds tenths of a kilogram (`u16`), JSON
    /// a decimal number of kilograms (`73.5`).
    pub struct WeightKg(u16);
    units_per_one: 10,
    fraction_digits: 1,
    units: 200 ..= 4000,
    out_of_range: WeightOutOfRange,
    too_precise: WeightTooPrecise,
    suffix: " kg",
}

fixed_point! {
    /// Time since the patient last ate solids or drank clear liquids, 0..=72 h to 0.1 h (the
    /// pre-dose rule is about "under 2 hours", so half hours matter). The wire holds tenths of
    /// an hour (`u16`), JSON a decimal number of hours (`1.5`). Longer than three days is
    /// recorded as 72.
    pub struct FastingHours(u16);
    units_per_one: 10,
    fraction_digits: 1,
    units: 0 ..= 720,
    out_of_range: FastingHoursOutOfRange,
    too_precise: FastingHoursTooPrecise,
    suffix: " h",
}

/// How many 28 mg Spravato nasal devices were used, 1..=3 (28, 56 or 84 mg).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct DeviceCount(u8);

impl DeviceCount {
    pub fn new(devices: u8) -> Result<Self, ValueError> {
        if (1..=3).contains(&devices) {
            Ok(Self(devices))
        } else {
            Err(ValueError::DeviceCountOutOfRange(devices))
        }
    }

    pub fn get(&self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for DeviceCount {
    type Error = ValueError;
    fn try_from(value: u8) -> Result<Self, ValueError> {
        Self::new(value)
    }
}

impl From<DeviceCount> for u8 {
    fn from(value: DeviceCount) -> u8 {
        value.0
    }
}

/// How long a patient was observed after a dose before discharge, 0..=1440 minutes. Spravato
/// needs at least 120; the dose service enforces that, because it depends on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct ObservedMinutes(u16);

impl ObservedMinutes {
    pub fn new(minutes: u16) -> Result<Self, ValueError> {
        if minutes <= 1440 {
            Ok(Self(minutes))
        } else {
            Err(ValueError::ObservedMinutesOutOfRange(minutes))
        }
    }

    pub fn minutes(&self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for ObservedMinutes {
    type Error = ValueError;
    fn try_from(value: u16) -> Result<Self, ValueError> {
        Self::new(value)
    }
}

impl From<ObservedMinutes> for u16 {
    fn from(value: ObservedMinutes) -> u16 {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks one JSON number against a fixed-point type: accepted with the given units, or
    /// refused with an error mentioning `message`.
    fn check_json<T>(json: &str, expected: Result<T, &str>)
    where
        T: for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let decoded = serde_json::from_str::<T>(json);
        match (decoded, expected) {
            (Ok(value), Ok(expected)) => assert_eq!(value, expected, "{json}"),
            (Err(error), Err(message)) => {
                assert!(error.to_string().contains(message), "{json}: {error}")
            }
            (decoded, expected) => panic!("{json}: got {decoded:?}, expected {expected:?}"),
        }
    }

    fn mg(micrograms: u32) -> Milligrams {
        Milligrams::from_micrograms(micrograms).expect("valid amount")
    }

    #[test]
    fn milligrams_accept_fractions_down_to_a_microgram() {
        check_json("36.75", Ok(mg(36_750)));
        check_json("56", Ok(mg(56_000)));
        check_json("56.0", Ok(mg(56_000)));
        check_json("0.001", Ok(mg(1)));
        check_json("1000", Ok(mg(1_000_000)));
        check_json::<Milligrams>("0", Err("outside 0.001..=1000 mg"));
        check_json::<Milligrams>("-5", Err("outside 0.001..=1000 mg"));
        check_json::<Milligrams>("1000.001", Err("outside 0.001..=1000 mg"));
        check_json::<Milligrams>("1e30", Err("outside 0.001..=1000 mg"));
        check_json::<Milligrams>("0.0005", Err("more precise than 1 µg"));
        check_json::<Milligrams>("\"56\"", Err("invalid type"));
    }

    #[test]
    fn milligrams_are_micrograms_on_the_wire_and_decimals_in_json() {
        let amount = mg(36_750);
        assert_eq!(serde_json::to_string(&amount).expect("json"), "36.75");
        assert_eq!(amount.to_string(), "36.75 mg");
        assert_eq!(format!("{amount:?}"), "Milligrams(36.75 mg)");
        let wire = postcard::to_allocvec(&amount).expect("postcard");
        assert_eq!(wire, postcard::to_allocvec(&36_750_u32).expect("postcard"));
        assert_eq!(
            postcard::from_bytes::<Milligrams>(&wire).expect("decode"),
            amount
        );
        let too_much = postcard::to_allocvec(&1_000_001_u32).expect("postcard");
        assert!(postcard::from_bytes::<Milligrams>(&too_much).is_err());
        let zero = postcard::to_allocvec(&0_u32).expect("postcard");
        assert!(postcard::from_bytes::<Milligrams>(&zero).is_err());
    }

    #[test]
    fn whole_milligrams() {
        assert_eq!(
            Milligrams::from_whole_milligrams(56).map(|amount| amount.micrograms()),
            Ok(56_000)
        );
        assert_eq!(mg(84_000).whole_milligrams(), Some(84));
        assert_eq!(mg(36_750).whole_milligrams(), None);
        assert!(Milligrams::from_whole_milligrams(u32::MAX).is_err());
        assert!(Milligrams::from_whole_milligrams(0).is_err());
    }

    #[test]
    fn weight_in_tenths_of_a_kilogram() {
        let kg = |tenths| WeightKg::from_units(tenths).expect("valid weight");
        check_json("73.5", Ok(kg(735)));
        check_json("20", Ok(kg(200)));
        check_json("400", Ok(kg(4000)));
        check_json::<WeightKg>("19.9", Err("outside the plausible range 20..=400 kg"));
        check_json::<WeightKg>("400.1", Err("outside the plausible range 20..=400 kg"));
        check_json::<WeightKg>("73.55", Err("more precise than 0.1 kg"));
        check_json::<WeightKg>("70000", Err("outside the plausible range 20..=400 kg"));
        assert_eq!(kg(735).to_string(), "73.5 kg");
        let wire = postcard::to_allocvec(&19_u16).expect("postcard");
        assert!(postcard::from_bytes::<WeightKg>(&wire).is_err());
    }

    #[test]
    fn fasting_hours() {
        let hours = |tenths| FastingHours::from_units(tenths).expect("valid hours");
        check_json("0", Ok(hours(0)));
        check_json("1.5", Ok(hours(15)));
        check_json("72", Ok(hours(720)));
        check_json::<FastingHours>("-0.5", Err("outside 0..=72 h"));
        check_json::<FastingHours>("72.1", Err("outside 0..=72 h"));
        check_json::<FastingHours>("1.25", Err("more precise than 0.1 h"));
    }

    #[test]
    fn device_count_and_observed_minutes() {
        fn check_devices(devices: u8, accepted: bool) {
            assert_eq!(
                DeviceCount::new(devices).is_ok(),
                accepted,
                "{devices} devices"
            );
            let wire = postcard::to_allocvec(&devices).expect("postcard");
            assert_eq!(postcard::from_bytes::<DeviceCount>(&wire).is_ok(), accepted);
        }
        check_devices(0, false);
        check_devices(1, true);
        check_devices(3, true);
        check_devices(4, false);

        fn check_minutes(minutes: u16, accepted: bool) {
            assert_eq!(
                ObservedMinutes::new(minutes).is_ok(),
                accepted,
                "{minutes} min"
            );
            let json = serde_json::from_str::<ObservedMinutes>(&minutes.to_string());
            assert_eq!(json.is_ok(), accepted, "{minutes} min from JSON");
        }
        check_minutes(0, true);
        check_minutes(120, true);
        check_minutes(1440, true);
        check_minutes(1441, false);
    }

    #[test]
    fn names_on_the_wire_are_the_documented_ones() {
        fn check<T: Serialize + std::fmt::Display>(values: &[T], expected: &[&str]) {
            let names: Vec<String> = values
                .iter()
                .map(|value| {
                    let json = serde_json::to_string(value).expect("json");
                    assert_eq!(json, format!("\"{value}\""));
                    value.to_string()
                })
                .collect();
            assert_eq!(names, expected);
        }
        check(Path::ALL, &["spravato", "ketamine"]);
        check(Drug::ALL, &["esketamine", "ketamine"]);
        check(
            Route::ALL,
            &[
                "intranasal",
                "iv",
                "im",
                "subcutaneous",
                "sublingual",
                "oral",
            ],
        );
        check(VitalsPhase::ALL, &["pre_dose", "t40", "discharge", "other"]);
        check(
            SideEffectKind::ALL,
            &[
                "nausea",
                "vomiting",
                "dizziness",
                "sedation",
                "dissociation",
                "headache",
                "elevated_blood_pressure",
                "other",
            ],
        );
        check(Severity::ALL, &["mild", "moderate", "severe"]);
        assert!(serde_json::from_str::<Route>("\"nasal\"").is_err());
        assert_eq!(Path::Spravato.drug(), Drug::Esketamine);
    }
}
