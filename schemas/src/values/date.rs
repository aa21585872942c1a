//! Calendar dates without a time of day, for things a person logs by day ("practised on
//! Wednesday"), in the same 2000..2200 range as [`crate::Timestamp`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::macros::format_description;
use time::Date;

use super::ValueError;

/// Days from 1970-01-01 to 2000-01-01.
const EARLIEST_DAYS: i32 = 10_957;
/// Days from 1970-01-01 to 2200-01-01 (the first day past the range).
const LATEST_DAYS_EXCLUSIVE: i32 = 84_006;
/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// A calendar date, 2000-01-01 .. 2200-01-01. On the wire: `i32` days since 1970-01-01 (small,
/// and ordered like the dates); in JSON: `"2026-03-04"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate(i32);

impl CalendarDate {
    /// From days since 1970-01-01, the wire form.
    pub fn from_days_since_epoch(days: i32) -> Result<Self, ValueError> {
        if (EARLIEST_DAYS..LATEST_DAYS_EXCLUSIVE).contains(&days) {
            Ok(Self(days))
        } else {
            let shown = Date::from_julian_day(days.saturating_add(UNIX_EPOCH_JULIAN_DAY))
                .map(|date| date.to_string())
                .unwrap_or_else(|_| format!("{days} days after 1970-01-01"));
            Err(ValueError::DateOutOfRange(shown))
        }
    }

    pub fn from_date(date: Date) -> Result<Self, ValueError> {
        Self::from_days_since_epoch(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse_iso(text: &str) -> Result<Self, ValueError> {
        let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
            .map_err(|error| ValueError::DateNotIso(error.to_string()))?;
        Self::from_date(date)
    }

    pub fn days_since_epoch(&self) -> i32 {
        self.0
    }

    pub fn to_date(&self) -> Date {
        // In range by construction, so the conversion cannot fail.
        Date::from_julian_day(self.0 + UNIX_EPOCH_JULIAN_DAY).unwrap_or(Date::MIN)
    }
}

impl std::fmt::Display for CalendarDate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // time's Display for Date is ISO 8601, `2026-03-04`.
        std::fmt::Display::fmt(&self.to_date(), formatter)
    }
}

impl std::fmt::Debug for CalendarDate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "CalendarDate({self})")
    }
}

impl Serialize for CalendarDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::parse_iso(&text).map_err(serde::de::Error::custom)
        } else {
            let days = i32::deserialize(deserializer)?;
            Self::from_days_since_epoch(days).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_in_range() {
        fn check(text: &str, expected: Result<i32, &str>) {
            let parsed = CalendarDate::parse_iso(text);
            match expected {
                Ok(days) => {
                    let date = parsed.expect(text);
                    assert_eq!(date.days_since_epoch(), days, "{text}");
                    assert_eq!(date.to_string(), text);
                }
                Err(message) => {
                    let error = parsed.expect_err(text).to_string();
                    assert!(error.contains(message), "{text}: {error}");
                }
            }
        }
        check("2000-01-01", Ok(EARLIEST_DAYS));
        check("2026-03-04", Ok(20_516));
        check("2199-12-31", Ok(LATEST_DAYS_EXCLUSIVE - 1));
        check("1999-12-31", Err("outside 2000-01-01 .. 2200-01-01"));
        check("2200-01-01", Err("outside 2000-01-01 .. 2200-01-01"));
        check("2026-02-30", Err("must look like 2026-03-04"));
        check("04/03/2026", Err("must look like 2026-03-04"));
        check("2026-03-04T10:00:00Z", Err("must look like 2026-03-04"));
    }

    #[test]
    fn wire_is_days_and_json_is_iso() {
        let date = CalendarDate::parse_iso("2026-03-04").expect("valid");
        assert_eq!(
            serde_json::to_string(&date).expect("json"),
            "\"2026-03-04\""
        );
        let wire = postcard::to_allocvec(&date).expect("postcard");
        assert_eq!(wire, postcard::to_allocvec(&20_516_i32).expect("postcard"));
        assert_eq!(
            postcard::from_bytes::<CalendarDate>(&wire).expect("decode"),
            date
        );
        for days in [
            i32::MIN,
            -1,
            0,
            EARLIEST_DAYS - 1,
            LATEST_DAYS_EXCLUSIVE,
            i32::MAX,
        ] {
            let wire = postcard::to_allocvec(&days).expect("postcard");
            assert!(
                postcard::from_bytes::<CalendarDate>(&wire).is_err(),
                "{days}"
            );
        }
    }
}
