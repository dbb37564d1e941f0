//! Timestamps as the contract writes them: RFC 3339, UTC, millisecond precision, `Z`.
//!
//! Stored timestamps use the same text form, so they sort chronologically as strings and can
//! be embedded in DynamoDB sort keys directly.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time truncated to whole milliseconds, always rendered as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`. Truncation happens on construction so that two timestamps
/// that render the same also compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// Why a string is not an acceptable timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time with a time zone: {0:?}")]
pub struct TimestampParseError(pub String);

impl Timestamp {
    /// The current wall-clock time, truncated to milliseconds.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Wraps a chrono time, dropping anything finer than a millisecond.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        let millis = at.timestamp_millis();
        Self(Utc.timestamp_millis_opt(millis).single().unwrap_or(at))
    }

    /// Builds a timestamp from milliseconds since the Unix epoch (used by the seed generator,
    /// which derives every time from a fixed origin so its output is deterministic).
    pub fn from_millis(millis: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(millis).single().map(Self)
    }

    /// Parses RFC 3339 with `Z` or a numeric offset and up to nine fractional digits.
    pub fn parse(text: &str) -> Result<Self, TimestampParseError> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| Self::from_datetime(at.with_timezone(&Utc)))
            .map_err(|_| TimestampParseError(text.to_owned()))
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Seconds since the Unix epoch (DynamoDB TTL attributes are in seconds).
    pub fn epoch_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    /// This instant moved by a signed number of milliseconds.
    pub fn plus_millis(&self, millis: i64) -> Self {
        Self::from_millis(self.millis().saturating_add(millis)).unwrap_or(*self)
    }

    /// The underlying chrono value.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_milliseconds_and_z() {
        let at = Timestamp::parse("2026-03-15T09:41:07.120456+02:00").unwrap();
        assert_eq!(at.to_string(), "2026-03-15T07:41:07.120Z");
    }

    #[test]
    fn truncation_makes_equal_renderings_equal() {
        let a = Timestamp::parse("2026-03-15T09:41:07.1201Z").unwrap();
        let b = Timestamp::parse("2026-03-15T09:41:07.1209Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_dates_without_time() {
        assert!(Timestamp::parse("2026-03-15").is_err());
        assert!(Timestamp::parse("2026-03-15T09:41:07").is_err());
    }

    #[test]
    fn text_order_is_time_order() {
        let early = Timestamp::parse("2026-03-15T09:41:07.120Z").unwrap();
        let late = early.plus_millis(1);
        assert!(early.to_string() < late.to_string());
    }
}
