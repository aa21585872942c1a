//! Domain values that can only hold valid values: every constructor and every decoder (postcard
//! and JSON alike) checks the same rules, so a value read from the log or from an API is as
//! trustworthy as one built in code ("parse, don't validate").
//!
//! Numbers with a fractional part (milligrams, kilograms, hours) are fixed-point integers on the
//! postcard wire, so encoding is exact and deterministic, and decimal numbers in JSON, so people
//! and other systems read `36.75`, not `36750`.

/// A decimal quantity held as a whole count of small units: an integer on the postcard wire
/// (exact, deterministic), a decimal number in JSON (what people and other systems expect).
/// A JSON value finer than one unit is refused, never rounded.
macro_rules! fixed_point {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($wire:ty);
        units_per_one: $units_per_one:literal,
        fraction_digits: $fraction_digits:literal,
        units: $min:literal ..= $max:literal,
        out_of_range: $out_of_range:ident,
        too_precise: $too_precise:ident,
        suffix: $suffix:literal,
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($wire);

        impl $name {
            /// The smallest count of units allowed.
            pub const MIN_UNITS: $wire = $min;
            /// The largest count of units allowed.
            pub const MAX_UNITS: $wire = $max;
            /// How many units make one of the quantity's display unit.
            pub const UNITS_PER_ONE: u32 = $units_per_one;

            /// From a whole count of units, the form stored on the wire.
            pub fn from_units(units: $wire) -> Result<Self, $crate::values::ValueError> {
                if (Self::MIN_UNITS..=Self::MAX_UNITS).contains(&units) {
                    Ok(Self(units))
                } else {
                    Err($crate::values::ValueError::$out_of_range(
                        $crate::values::format_units(i64::from(units), $fraction_digits),
                    ))
                }
            }

            /// From a decimal number, the form used in JSON.
            pub fn from_decimal(value: f64) -> Result<Self, $crate::values::ValueError> {
                use $crate::values::{DecimalProblem, ValueError};
                match $crate::values::decimal_to_units(value, $units_per_one) {
                    Ok(units) => {
                        let units = <$wire>::try_from(units).map_err(|_| {
                            ValueError::$out_of_range($crate::values::format_units(
                                units,
                                $fraction_digits,
                            ))
                        })?;
                        Self::from_units(units)
                    }
                    Err(DecimalProblem::TooPrecise) => {
                        Err(ValueError::$too_precise($crate::values::show_float(value)))
                    }
                    Err(DecimalProblem::OutOfRange) => {
                        Err(ValueError::$out_of_range($crate::values::show_float(value)))
                    }
                }
            }

            /// The whole count of units.
            pub fn units(&self) -> $wire {
                self.0
            }

            /// The decimal value, as written in JSON.
            pub fn to_decimal(&self) -> f64 {
                $crate::values::units_to_decimal(i64::from(self.0), $units_per_one)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let decimal = $crate::values::format_units(i64::from(self.0), $fraction_digits);
                write!(formatter, "{decimal}{}", $suffix)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(formatter, "{}({self})", stringify!($name))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_f64(self.to_decimal())
                } else {
                    serde::Serialize::serialize(&self.0, serializer)
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let value = <f64 as serde::Deserialize>::deserialize(deserializer)?;
                    Self::from_decimal(value).map_err(serde::de::Error::custom)
                } else {
                    let units = <$wire as serde::Deserialize>::deserialize(deserializer)?;
                    Self::from_units(units).map_err(serde::de::Error::custom)
                }
            }
        }
    };
}

mod consent;
mod date;
mod dosing;
mod flags;
mod observation;
mod target;
mod text;
mod vitals;

pub use consent::{GranteeRole, Scope, Scopes};
pub use date::CalendarDate;
pub use dosing::{
    DeviceCount, Drug, FastingHours, Milligrams, ObservedMinutes, Path, Route, Severity,
    SideEffectKind, VitalsPhase, WeightKg,
};
pub use flags::{Flag, Flags, RED_FLAG_WINDOW_HOURS};
pub use observation::{
    Instrument, Mood, ObservationKind, ObservationValue, ScaleScore, SleepHours, Symptom,
    SymptomReport,
};
pub use target::{Ease, MenuItem, PracticeOutcome, RetireReason, TargetCategory};
pub use text::{FreeText, LotNumber, MAX_FREE_TEXT_CHARS, MAX_LOT_NUMBER_CHARS};
pub use vitals::{BloodPressure, HeartRate, SpO2};

/// A domain value that breaks its rule. Each variant names the value and what is allowed, in
/// words a clinician or an integrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("systolic blood pressure {0} mmHg is outside the plausible range 50..=300 mmHg")]
    SystolicOutOfRange(u16),
    #[error("diastolic blood pressure {0} mmHg is outside the plausible range 20..=200 mmHg")]
    DiastolicOutOfRange(u16),
    #[error("blood pressure {systolic}/{diastolic} mmHg: systolic must be above diastolic")]
    SystolicNotAboveDiastolic { systolic: u16, diastolic: u16 },
    #[error("heart rate {0} bpm is outside the plausible range 20..=250 bpm")]
    HeartRateOutOfRange(u16),
    #[error("SpO2 {0}% is outside the plausible range 50..=100%")]
    Spo2OutOfRange(u8),
    #[error("dose amount {0} mg is outside 0.001..=1000 mg")]
    AmountOutOfRange(String),
    #[error("dose amount {0} mg is more precise than 1 µg (at most three decimals)")]
    AmountTooPrecise(String),
    #[error("weight {0} kg is outside the plausible range 20..=400 kg")]
    WeightOutOfRange(String),
    #[error("weight {0} kg is more precise than 0.1 kg (at most one decimal)")]
    WeightTooPrecise(String),
    #[error("device count {0} is outside 1..=3 (28 mg Spravato devices)")]
    DeviceCountOutOfRange(u8),
    #[error("fasting time {0} h is outside 0..=72 h")]
    FastingHoursOutOfRange(String),
    #[error("fasting time {0} h is more precise than 0.1 h (at most one decimal)")]
    FastingHoursTooPrecise(String),
    #[error("observed minutes {0} is outside 0..=1440 (one day)")]
    ObservedMinutesOutOfRange(u16),
    #[error("mood {0} is outside the 0..=10 scale")]
    MoodOutOfRange(u8),
    #[error("sleep {0} h is outside 0..=24 h")]
    SleepHoursOutOfRange(String),
    #[error("sleep {0} h is more precise than 0.1 h (at most one decimal)")]
    SleepHoursTooPrecise(String),
    #[error("text must not be empty or only whitespace")]
    TextEmpty,
    #[error("text is {chars} characters long; at most {max} are allowed")]
    TextTooLong { chars: usize, max: usize },
    #[error(
        "text contains the control character U+{0:04X}; only line breaks and tabs are allowed"
    )]
    TextControlCharacter(u32),
    #[error("lot number must be 1..={max} characters of letters, digits, '-', '.' or '/', got {chars} characters")]
    LotNumberLength { chars: usize, max: usize },
    #[error("lot number contains {0:?}; only letters, digits, '-', '.' and '/' are allowed")]
    LotNumberCharacter(char),
    #[error("a consent needs at least one scope (doses, vitals, side_effects, targets, sessions, observations, scores)")]
    ScopesEmpty,
    #[error("scope {0} is listed twice")]
    ScopeRepeated(Scope),
    #[error("flag {0} is listed twice")]
    FlagRepeated(Flag),
    #[error("{instrument} has {expected} items, got {found}")]
    ScaleItemCount {
        instrument: Instrument,
        expected: usize,
        found: usize,
    },
    #[error("{instrument} item {item} is {value}; items range 0..={max}")]
    ScaleItemOutOfRange {
        instrument: Instrument,
        /// 1-based, as printed on the questionnaire.
        item: usize,
        value: u8,
        max: u8,
    },
    #[error("{instrument} total {stated} does not equal the sum of its items, {sum}")]
    ScaleTotalMismatch {
        instrument: Instrument,
        stated: u16,
        sum: u16,
    },
    #[error("menu item {menu_item} belongs to the {menu_category} menu, not to {category}")]
    MenuItemCategoryMismatch {
        menu_item: MenuItem,
        menu_category: TargetCategory,
        category: TargetCategory,
    },
    #[error("date {0} is outside 2000-01-01 .. 2200-01-01")]
    DateOutOfRange(String),
    #[error("date must look like 2026-03-04: {0}")]
    DateNotIso(String),
}

/// Why a JSON decimal does not fit a fixed-point type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecimalProblem {
    /// Not finite, or so large that no range of this crate could hold it.
    OutOfRange,
    /// Finer than one unit of the type (e.g. 0.0005 mg when the unit is 1 µg).
    TooPrecise,
}

/// Converts a decimal number read from JSON into a whole count of `1 / units_per_one` units
/// (micrograms per milligram, tenths per kilogram), refusing values it would have to round.
fn decimal_to_units(value: f64, units_per_one: u32) -> Result<i64, DecimalProblem> {
    if !value.is_finite() || value.abs() > 1e12 {
        return Err(DecimalProblem::OutOfRange);
    }
    let scaled = value * f64::from(units_per_one);
    let rounded = scaled.round();
    // JSON decimals are binary floats: 0.001 × 1000 is 1.0000000000000000208…, not 1. Anything
    // within a millionth of a unit is that unit; anything farther is a finer value than the
    // type can hold, which is refused rather than silently rounded.
    if (scaled - rounded).abs() > 1e-6 {
        return Err(DecimalProblem::TooPrecise);
    }
    // |rounded| <= 1e12 × units_per_one, well inside i64, so the cast is exact.
    Ok(rounded as i64)
}

/// The decimal form of a fixed-point count for messages and `Display`: `36750` µg with 3
/// digits is `36.75`; trailing zeros and a bare point are dropped.
fn format_units(units: i64, fraction_digits: u32) -> String {
    let scale = 10_i64.pow(fraction_digits);
    let sign = if units < 0 { "-" } else { "" };
    let magnitude = units.unsigned_abs();
    let scale = scale.unsigned_abs();
    let whole = magnitude / scale;
    let fraction = magnitude % scale;
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{fraction:0width$}", width = fraction_digits as usize);
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// The JSON number for a fixed-point count.
fn units_to_decimal(units: i64, units_per_one: u32) -> f64 {
    // Counts here are at most a few million, so the conversion to f64 is exact and the division
    // yields the nearest double to the decimal, which serde_json prints in its shortest form.
    units as f64 / f64::from(units_per_one)
}

/// A display string for a float that came from JSON and was refused.
fn show_float(value: f64) -> String {
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_convert_to_whole_units_or_are_refused() {
        fn check(value: f64, units_per_one: u32, expected: Result<i64, DecimalProblem>) {
            assert_eq!(
                decimal_to_units(value, units_per_one),
                expected,
                "{value} × {units_per_one}"
            );
        }
        check(36.75, 1000, Ok(36_750));
        check(0.001, 1000, Ok(1));
        check(0.1, 10, Ok(1));
        check(73.5, 10, Ok(735));
        check(56.0, 1000, Ok(56_000));
        check(0.0005, 1000, Err(DecimalProblem::TooPrecise));
        check(73.55, 10, Err(DecimalProblem::TooPrecise));
        check(f64::NAN, 10, Err(DecimalProblem::OutOfRange));
        check(f64::INFINITY, 10, Err(DecimalProblem::OutOfRange));
        check(1e300, 10, Err(DecimalProblem::OutOfRange));
    }

    #[test]
    fn units_format_as_short_decimals() {
        fn check(units: i64, digits: u32, expected: &str) {
            assert_eq!(format_units(units, digits), expected);
        }
        check(36_750, 3, "36.75");
        check(56_000, 3, "56");
        check(1, 3, "0.001");
        check(735, 1, "73.5");
        check(0, 1, "0");
        check(-15, 1, "-1.5");
    }
}
