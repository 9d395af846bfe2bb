//! Time as data. The core never reads a clock: every "now" is an input.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A point in time in whole milliseconds since the Unix epoch (UTC).
///
/// Serialises as an RFC 3339 string with millisecond precision (`2026-11-22T10:00:00.000Z`), the
/// format Postgres `timestamptz` and JavaScript `Date` both read back exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Builds a timestamp from milliseconds since the Unix epoch.
    pub const fn from_unix_ms(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_ms(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp (`2026-10-01T10:42:14.545Z`, any offset).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|dt| Self(dt.with_timezone(&Utc).timestamp_millis()))
    }

    /// The calendar date of this instant in UTC.
    pub fn utc_date(self) -> NaiveDate {
        self.to_datetime().date_naive()
    }

    /// This instant shifted by `ms` milliseconds (negative goes back), saturating at the ends.
    pub const fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Renders as RFC 3339 UTC with milliseconds.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or(if self.0 < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-10-01T10:42:14.545Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-10-01T10:42:14.545Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let a = Timestamp::parse_rfc3339("2026-10-01T12:00:00+02:00").unwrap();
        let b = Timestamp::parse_rfc3339("2026-10-01T10:00:00Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_garbage_and_saturates() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
        assert_eq!(
            Timestamp::from_unix_ms(i64::MAX).plus_ms(1).unix_ms(),
            i64::MAX
        );
    }
}
