//! Instants on the care timeline, with microsecond precision and a plausible range.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The earliest instant a care event may carry (2000-01-01T00:00:00Z).
const EARLIEST_MICROS: i64 = 946_684_800_000_000;
/// The first instant past the latest a care event may carry (2200-01-01T00:00:00Z).
const LATEST_MICROS_EXCLUSIVE: i64 = 7_258_118_400_000_000;

/// A timestamp that failed to parse or lies outside 2000-01-01 .. 2200-01-01.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("timestamp {0} µs since the epoch is outside 2000-01-01 .. 2200-01-01")]
    OutOfRange(i64),
    #[error("timestamp must be RFC 3339 with an offset, like 2026-03-03T09:30:00Z: {0}")]
    NotRfc3339(String),
}

/// A UTC instant with microsecond precision. On the wire: i64 microseconds since the Unix
/// epoch; in JSON: an RFC 3339 string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_unix_micros(micros: i64) -> Result<Self, TimestampError> {
        if (EARLIEST_MICROS..LATEST_MICROS_EXCLUSIVE).contains(&micros) {
            Ok(Self(micros))
        } else {
            Err(TimestampError::OutOfRange(micros))
        }
    }

    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc()).unwrap_or_else(|_| unreachable_clock_state())
    }

    pub fn from_datetime(datetime: OffsetDateTime) -> Result<Self, TimestampError> {
        let micros = datetime.unix_timestamp_nanos() / 1_000;
        let micros = i64::try_from(micros).map_err(|_| TimestampError::OutOfRange(i64::MAX))?;
        Self::from_unix_micros(micros)
    }

    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let datetime = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|error| TimestampError::NotRfc3339(error.to_string()))?;
        Self::from_datetime(datetime)
    }

    pub fn unix_micros(&self) -> i64 {
        self.0
    }

    pub fn to_datetime(&self) -> OffsetDateTime {
        // In range by construction, so the conversion cannot fail.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// This instant moved by a number of microseconds, if the result stays in range.
    pub fn checked_add_micros(&self, micros: i64) -> Option<Self> {
        self.0
            .checked_add(micros)
            .and_then(|sum| Self::from_unix_micros(sum).ok())
    }
}

fn unreachable_clock_state() -> Timestamp {
    // A system clock outside 2000..2200 is a broken machine; refuse to invent a time.
    panic!("the system clock is outside 2000-01-01 .. 2200-01-01")
}

impl fmt::Display for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime().format(&Rfc3339) {
            Ok(text) => formatter.write_str(&text),
            Err(_) => write!(formatter, "@{}µs", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
        } else {
            let micros = i64::deserialize(deserializer)?;
            Self::from_unix_micros(micros).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_rfc3339_and_wire_is_micros() {
        let instant = Timestamp::parse_rfc3339("2026-03-03T09:30:00.25+01:00").expect("parse");
        assert_eq!(
            serde_json::to_string(&instant).expect("json"),
            "\"2026-03-03T08:30:00.25Z\""
        );
        let bytes = postcard::to_allocvec(&instant).expect("postcard");
        assert_eq!(
            postcard::from_bytes::<Timestamp>(&bytes).expect("decode"),
            instant
        );
    }

    #[test]
    fn out_of_range_instants_are_errors() {
        assert!(Timestamp::parse_rfc3339("1999-12-31T23:59:59Z").is_err());
        assert!(Timestamp::parse_rfc3339("2200-01-01T00:00:00Z").is_err());
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        let bytes = postcard::to_allocvec(&-5i64).expect("postcard");
        assert!(postcard::from_bytes::<Timestamp>(&bytes).is_err());
    }
}
