//! Time as data. The core never reads a clock: every "now" is an input.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
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

    /// Parses an RFC 3339 timestamp (`2026-10-01T10:42:14.545Z`, any offset): what chrono's
    /// `DateTime::parse_from_rfc3339` accepts (`T`, `t` or a space between date and time, a
    /// leap second `60`, any number of fraction digits of which the first 9 count, `Z`, `z` or
    /// `±HH:MM` up to 23:59), read without chrono's parser.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
            return None;
        }
        let (local, rest) = parse_date_time(b)?;
        let offset_secs = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hours = i64::from(two_digits(*h1, *h2)?);
                let minutes = i64::from(two_digits(*m1, *m2)?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let secs = hours * 3600 + minutes * 60;
                if *sign == b'-' {
                    -secs
                } else {
                    secs
                }
            }
            // U+2212 MINUS SIGN, which chrono also takes.
            [0xE2, 0x88, 0x92, h1, h2, b':', m1, m2] => {
                let (hours, minutes) = (two_digits(*h1, *h2)?, two_digits(*m1, *m2)?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                -(i64::from(hours) * 3600 + i64::from(minutes) * 60)
            }
            _ => return None,
        };
        Some(Self(
            local.and_utc().timestamp_millis() - offset_secs * 1000,
        ))
    }

    /// The calendar date of this instant in UTC.
    pub fn utc_date(self) -> NaiveDate {
        self.to_datetime().date_naive()
    }

    /// This instant shifted by `ms` milliseconds (negative goes back), saturating at the ends.
    pub const fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Renders as RFC 3339 UTC with milliseconds (`2026-11-22T10:00:00.000Z`; years outside
    /// 0000-9999 signed, as chrono writes them).
    pub fn to_rfc3339(self) -> String {
        let mut out = String::with_capacity(24);
        self.push_rfc3339(&mut out);
        out
    }

    /// Appends [`Timestamp::to_rfc3339`]'s text to `out`.
    pub(crate) fn push_rfc3339(self, out: &mut String) {
        let dt = self.to_datetime().naive_utc();
        push_date_time(out, dt);
        out.push('.');
        push_digits(out, dt.nanosecond() / 1_000_000, 3);
        out.push('Z');
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

/// `YYYY-MM-DD?HH:MM:SS` with an optional fraction (`.` and at least one digit; the first 9
/// count, the rest are skipped) at the start of `b` (any byte at index 10, checked by the
/// caller): the local date and time (a leap second `60` as chrono keeps it) and the bytes after.
pub(crate) fn parse_date_time(b: &[u8]) -> Option<(NaiveDateTime, &[u8])> {
    let head = b.get(..19)?;
    let digit = |i: usize| {
        let c = head[i];
        c.is_ascii_digit().then(|| u32::from(c - b'0'))
    };
    let pair = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let fixed = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if fixed.iter().any(|&(i, c)| head[i] != c) {
        return None;
    }
    let year = pair(0)? * 100 + pair(2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, pair(5)?, pair(8)?)?;
    let (hour, minute, second) = (pair(11)?, pair(14)?, pair(17)?);
    let (second, mut nano) = match second {
        60 => (59, 1_000_000_000),
        s => (s, 0),
    };
    let mut rest = &b[19..];
    if let Some((b'.', digits)) = rest.split_first() {
        let count = digits.iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        let mut fraction = 0_u32;
        for i in 0..9 {
            let d = digits.get(i).filter(|_| i < count).map_or(0, |c| c - b'0');
            fraction = fraction * 10 + u32::from(d);
        }
        nano += fraction;
        rest = &digits[count..];
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?;
    Some((date.and_time(time), rest))
}

fn two_digits(a: u8, b: u8) -> Option<u32> {
    (a.is_ascii_digit() && b.is_ascii_digit())
        .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
}

/// Appends `YYYY-MM-DDTHH:MM:SS` of `dt` (a leap second as `60`), as chrono's `%Y-%m-%dT%H:%M:%S`
/// writes it: years outside 0000-9999 with their sign and at least four digits.
pub(crate) fn push_date_time(out: &mut String, dt: NaiveDateTime) {
    push_date(out, dt.date());
    out.push('T');
    push_digits(out, dt.hour(), 2);
    out.push(':');
    push_digits(out, dt.minute(), 2);
    out.push(':');
    push_digits(out, dt.second() + dt.nanosecond() / 1_000_000_000, 2);
}

/// Appends `YYYY-MM-DD` of `date`, as chrono's `%Y-%m-%d` (and its `Display`) writes it: years
/// outside 0000-9999 with their sign and at least four digits.
pub(crate) fn push_date(out: &mut String, date: NaiveDate) {
    use std::fmt::Write;
    let year = date.year();
    match u32::try_from(year) {
        Ok(y) if y <= 9999 => push_digits(out, y, 4),
        _ => {
            let _ = write!(out, "{year:+05}");
        }
    }
    out.push('-');
    push_digits(out, date.month(), 2);
    out.push('-');
    push_digits(out, date.day(), 2);
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
pub(crate) fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let d = (value / 10_u32.pow(place)) % 10;
        out.push(char::from(b'0' + d as u8));
    }
}

/// Serde for a calendar date as exactly `YYYY-MM-DD` ([`crate::trip::parse_iso_date`]), written
/// as chrono writes it.
pub mod iso_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serde serializer.
    pub fn serialize<S: Serializer>(value: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(10);
        super::push_date(&mut out, *value);
        s.serialize_str(&out)
    }

    /// Serde deserializer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::trip::parse_iso_date(&text)
            .ok_or_else(|| serde::de::Error::custom("expected a date YYYY-MM-DD"))
    }

    /// The same for an optional date (`null` is `None`).
    pub mod option {
        use chrono::NaiveDate;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serde serializer.
        pub fn serialize<S: Serializer>(
            value: &Option<NaiveDate>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(date) => super::serialize(date, s),
                None => s.serialize_none(),
            }
        }

        /// Serde deserializer.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
            match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
                None => Ok(None),
                Some(text) => crate::trip::parse_iso_date(&text)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom("expected a date YYYY-MM-DD")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::SecondsFormat;
    use proptest::prelude::*;

    use super::*;

    /// chrono's reading, the oracle.
    fn chrono_parse(text: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|dt| Timestamp(dt.with_timezone(&Utc).timestamp_millis()))
    }

    #[test]
    fn parses_as_chrono_does() {
        for text in [
            "2026-10-01T10:42:14.545Z",
            "2026-10-01t10:42:14z",
            "2026-10-01 10:42:14+02:00",
            "2026-10-01T10:42:14.123456789123-23:59",
            "2026-10-01T10:42:14.5\u{2212}01:30",
            "2026-10-01T10:42:14−01:30",
            "2026-12-31T23:59:60.999Z",
            "2026-10-01T10:42:60+00:00",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59.999-23:59",
            "2026-10-01T10:42:14.Z",
            "2026-10-01T10:42:14+24:00",
            "2026-10-01T10:42:14+01:60",
            "2026-10-01T10:42:14+0100",
            "2026-10-01T10:42:14+01",
            "2026-10-01T10:42:14",
            "2026-10-01T10:42:14Z ",
            "2026-02-29T10:42:14Z",
            "2026-10-01T24:00:00Z",
            "2026-10-01T10:42:61Z",
            "2026-10-01X10:42:14Z",
            "2026-1-01T10:42:14Z",
            "+2026-10-01T10:42:14Z",
            "",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(text), chrono_parse(text), "{text}");
        }
    }

    #[test]
    fn writes_as_chrono_does() {
        for ms in [
            0,
            1_790_000_000_123,
            -1,
            -62_167_219_200_000,
            -62_167_219_200_001,
            253_402_300_799_999,
            253_402_300_800_000,
            i64::MIN,
            i64::MAX,
        ] {
            let t = Timestamp(ms);
            let chrono = t.to_datetime().to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(t.to_rfc3339(), chrono, "{ms}");
        }
    }

    proptest! {
        #[test]
        fn any_shaped_text_parses_as_chrono_does(
            text in "[0-9]{4}-[01][0-9]-[0-3][0-9][Tt ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,12})?([Zz]|[+-][0-2][0-9]:[0-6][0-9])?",
        ) {
            prop_assert_eq!(Timestamp::parse_rfc3339(&text), chrono_parse(&text));
        }

        #[test]
        fn any_instant_writes_and_reads_back(ms in -62_167_219_200_000_i64..253_402_300_800_000) {
            let t = Timestamp(ms);
            let text = t.to_rfc3339();
            prop_assert_eq!(&text, &t.to_datetime().to_rfc3339_opts(SecondsFormat::Millis, true));
            prop_assert_eq!(Timestamp::parse_rfc3339(&text), Some(t));
        }

        /// `iso_date` writes what chrono's serde wrote before (stored attempt states hold such
        /// dates), and reads back every date it writes in 0000-9999.
        #[test]
        fn any_date_writes_as_chrono_does(days in -800_000_i32..4_000_000) {
            let date = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            let ours = serde_json::to_string(&IsoDate(date)).unwrap();
            prop_assert_eq!(&ours, &serde_json::to_string(&date).unwrap());
            let back = serde_json::from_str::<IsoDate>(&ours).ok().map(|d| d.0);
            prop_assert_eq!(back, (0..=9999).contains(&date.year()).then_some(date));
            let some = serde_json::to_string(&OptionDate(Some(date))).unwrap();
            prop_assert_eq!(&some, &ours);
        }
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct IsoDate(#[serde(with = "iso_date")] NaiveDate);

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct OptionDate(#[serde(with = "iso_date::option")] Option<NaiveDate>);

    #[test]
    fn an_absent_date_is_null() {
        assert_eq!(serde_json::to_string(&OptionDate(None)).unwrap(), "null");
        assert_eq!(
            serde_json::from_str::<OptionDate>("null").unwrap(),
            OptionDate(None)
        );
    }

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
