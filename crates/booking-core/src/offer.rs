//! The provider-neutral offer: what the core compares, stores and re-checks.
//!
//! Serialises exactly as one element of `offers` in the contract's "Search result":
//! `{"provider_offer_id","total_minor","currency","cabin","stops","duration_minutes",
//! "departing_at","arriving_at","carriers","expires_at","raw"}`.

use std::cmp::Ordering;
use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::money::{Currency, Money};
use crate::time::Timestamp;

/// Largest raw provider offer kept alongside the normalized one (bytes of JSON text).
pub const MAX_RAW_OFFER_BYTES: usize = 16 * 1024;

/// Cabin class, ordered from the lowest (`Economy`) to the highest (`First`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cabin {
    /// `economy`
    Economy,
    /// `premium_economy`
    PremiumEconomy,
    /// `business`
    Business,
    /// `first`
    First,
}

impl Cabin {
    /// Parses the wire name (`economy`, `premium_economy`, `business`, `first`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "economy" => Some(Self::Economy),
            "premium_economy" => Some(Self::PremiumEconomy),
            "business" => Some(Self::Business),
            "first" => Some(Self::First),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Economy => "economy",
            Self::PremiumEconomy => "premium_economy",
            Self::Business => "business",
            Self::First => "first",
        }
    }
}

impl fmt::Display for Cabin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalized flight offer from one provider.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Offer {
    /// The provider's offer id (`off_…`).
    pub provider_offer_id: String,
    /// Total price for all passengers, fees and taxes included, in minor units of `currency`.
    pub total_minor: i64,
    /// Currency of `total_minor`.
    pub currency: Currency,
    /// Cabin class: the lowest cabin any passenger sits in on any segment.
    pub cabin: Cabin,
    /// Stops on the slice with the most stops (connections plus technical stops).
    pub stops: u32,
    /// Sum of the slices' durations in minutes; `None` when the provider omitted or garbled any.
    pub duration_minutes: Option<u32>,
    /// Local departure time of the first segment, no offset.
    #[serde(with = "local_time")]
    pub departing_at: NaiveDateTime,
    /// Local arrival time of the last segment of the first (outbound) slice, no offset.
    #[serde(with = "local_time")]
    pub arriving_at: NaiveDateTime,
    /// Distinct marketing carrier codes in order of first appearance.
    pub carriers: Vec<String>,
    /// When the provider stops honouring the offer.
    pub expires_at: Timestamp,
    /// The provider's offer object when it is at most [`MAX_RAW_OFFER_BYTES`], else `None`.
    pub raw: Option<Box<RawValue>>,
}

impl Offer {
    /// The total as [`Money`].
    pub fn total(&self) -> Money {
        Money {
            amount_minor: self.total_minor,
            currency: self.currency,
        }
    }

    /// The selection order (see [`crate::select`]): lowest total, then shortest duration (unknown
    /// durations last), then earliest departure, then offer id. Offers equal on all of these are
    /// ordered by their remaining fields, so sorting never depends on input order.
    pub fn cmp_rank(&self, other: &Self) -> Ordering {
        self.total_minor
            .cmp(&other.total_minor)
            .then_with(|| cmp_duration(self.duration_minutes, other.duration_minutes))
            .then_with(|| self.departing_at.cmp(&other.departing_at))
            .then_with(|| self.provider_offer_id.cmp(&other.provider_offer_id))
            .then_with(|| self.cmp_rest(other))
    }

    fn cmp_rest(&self, other: &Self) -> Ordering {
        self.currency
            .code()
            .cmp(other.currency.code())
            .then_with(|| self.cabin.cmp(&other.cabin))
            .then_with(|| self.stops.cmp(&other.stops))
            .then_with(|| self.arriving_at.cmp(&other.arriving_at))
            .then_with(|| self.expires_at.cmp(&other.expires_at))
            .then_with(|| self.carriers.cmp(&other.carriers))
            .then_with(|| {
                let raw = |o: &Self| o.raw.as_ref().map(|r| r.get().to_owned());
                raw(self).cmp(&raw(other))
            })
    }
}

/// `Some` before `None`, shorter before longer.
fn cmp_duration(a: Option<u32>, b: Option<u32>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Local airport times as `YYYY-MM-DDTHH:MM:SS` (fractional seconds only when present), the
/// format Duffel sends and Postgres `timestamp` reads. Read and written by hand, as chrono's
/// `%Y-%m-%dT%H:%M:%S%.f` does for that shape (chrono's format machinery is not in the wasm).
pub mod local_time {
    use chrono::{NaiveDateTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::time::{parse_date_time, push_date_time, push_digits};

    /// Parses `YYYY-MM-DDTHH:MM:SS` with an optional fraction (`.` and 1 or more digits, the
    /// first 9 kept); a trailing `Z` or offset, another separator or other padding is refused.
    pub fn parse(text: &str) -> Option<NaiveDateTime> {
        let b = text.as_bytes();
        if b.len() > 32 || b.get(10) != Some(&b'T') {
            return None;
        }
        match parse_date_time(b)? {
            (value, []) => Some(value),
            _ => None,
        }
    }

    /// The text [`parse`] reads: the fraction as 3, 6 or 9 digits, only when not zero.
    pub fn format(value: &NaiveDateTime) -> String {
        let mut out = String::with_capacity(29);
        push(&mut out, value);
        out
    }

    /// Appends [`format`]'s text to `out`.
    pub(crate) fn push(out: &mut String, value: &NaiveDateTime) {
        push_date_time(out, *value);
        let nano = value.nanosecond() % 1_000_000_000;
        if nano != 0 {
            out.push('.');
            if nano.is_multiple_of(1_000_000) {
                push_digits(out, nano / 1_000_000, 3);
            } else if nano.is_multiple_of(1_000) {
                push_digits(out, nano / 1_000, 6);
            } else {
                push_digits(out, nano, 9);
            }
        }
    }

    /// Serde serializer.
    pub fn serialize<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(value))
    }

    /// Serde deserializer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom("expected YYYY-MM-DDTHH:MM:SS"))
    }

    /// The same for an optional local time (`null` is `None`).
    pub mod option {
        use chrono::NaiveDateTime;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serde serializer.
        pub fn serialize<S: Serializer>(
            value: &Option<NaiveDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => super::serialize(value, s),
                None => s.serialize_none(),
            }
        }

        /// Serde deserializer.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<NaiveDateTime>, D::Error> {
            match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
                None => Ok(None),
                Some(text) => super::parse(&text)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom("expected YYYY-MM-DDTHH:MM:SS")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct MaybeLocal(#[serde(with = "local_time::option")] Option<NaiveDateTime>);

    #[test]
    fn an_optional_local_time_reads_null_text_and_refuses_an_offset() {
        let read = |json: &str| serde_json::from_str::<MaybeLocal>(json).ok();
        assert_eq!(read("null"), Some(MaybeLocal(None)));
        let at = local_time::parse("2026-12-12T09:00:00").unwrap();
        assert_eq!(read(r#""2026-12-12T09:00:00""#), Some(MaybeLocal(Some(at))));
        assert_eq!(read(r#""2026-12-12T09:00:00Z""#), None);
        assert_eq!(
            serde_json::to_string(&MaybeLocal(Some(at))).unwrap(),
            r#""2026-12-12T09:00:00""#
        );
        assert_eq!(serde_json::to_string(&MaybeLocal(None)).unwrap(), "null");
    }

    fn offer(id: &str, total: i64, duration: Option<u32>, dep: &str) -> Offer {
        Offer {
            provider_offer_id: id.into(),
            total_minor: total,
            currency: Currency::parse("GBP").unwrap(),
            cabin: Cabin::Economy,
            stops: 0,
            duration_minutes: duration,
            departing_at: local_time::parse(dep).unwrap(),
            arriving_at: local_time::parse("2027-03-12T12:10:00").unwrap(),
            carriers: vec!["ZZ".into()],
            expires_at: Timestamp::parse_rfc3339("2027-03-01T10:42:14.545Z").unwrap(),
            raw: None,
        }
    }

    #[test]
    fn cabin_names_and_order() {
        for cabin in [
            Cabin::Economy,
            Cabin::PremiumEconomy,
            Cabin::Business,
            Cabin::First,
        ] {
            assert_eq!(Cabin::parse(cabin.as_str()), Some(cabin));
        }
        assert_eq!(Cabin::parse("Economy"), None);
        assert!(Cabin::Economy < Cabin::PremiumEconomy && Cabin::Business < Cabin::First);
    }

    #[test]
    fn serialises_the_contract_shape() {
        let mut o = offer("off_1", 22178, Some(490), "2027-03-12T09:00:00");
        o.raw = Some(RawValue::from_string(r#"{"id":"off_1"}"#.into()).unwrap());
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(
            json,
            r#"{"provider_offer_id":"off_1","total_minor":22178,"currency":"GBP","cabin":"economy","stops":0,"duration_minutes":490,"departing_at":"2027-03-12T09:00:00","arriving_at":"2027-03-12T12:10:00","carriers":["ZZ"],"expires_at":"2027-03-01T10:42:14.545Z","raw":{"id":"off_1"}}"#
        );
        let back: Offer = serde_json::from_str(&json).unwrap();
        assert_eq!(back.cmp_rank(&o), Ordering::Equal);
        assert_eq!(back.total().to_decimal_string(), "221.78");
    }

    #[test]
    fn local_time_refuses_offsets() {
        assert!(local_time::parse("2027-03-12T09:00:00").is_some());
        assert!(local_time::parse("2027-03-12T09:00:00.250").is_some());
        assert!(local_time::parse("2027-03-12T09:00:00Z").is_none());
        assert!(local_time::parse("2027-03-12T09:00:00+01:00").is_none());
        assert!(local_time::parse("2027-03-12 09:00").is_none());
        assert!(local_time::parse("").is_none());
    }

    #[test]
    fn rank_breaks_ties_level_by_level() {
        let base = offer("off_b", 100, Some(60), "2027-03-12T09:00:00");
        let cheaper = offer("off_z", 99, None, "2027-03-13T09:00:00");
        assert_eq!(cheaper.cmp_rank(&base), Ordering::Less);
        let shorter = offer("off_z", 100, Some(59), "2027-03-13T09:00:00");
        assert_eq!(shorter.cmp_rank(&base), Ordering::Less);
        let unknown = offer("off_a", 100, None, "2027-03-11T09:00:00");
        assert_eq!(unknown.cmp_rank(&base), Ordering::Greater);
        let earlier = offer("off_z", 100, Some(60), "2027-03-12T08:59:00");
        assert_eq!(earlier.cmp_rank(&base), Ordering::Less);
        let lower_id = offer("off_a", 100, Some(60), "2027-03-12T09:00:00");
        assert_eq!(lower_id.cmp_rank(&base), Ordering::Less);
        let mut same_id_other_cabin = base.clone();
        same_id_other_cabin.cabin = Cabin::First;
        assert_eq!(same_id_other_cabin.cmp_rank(&base), Ordering::Greater);
        assert_eq!(base.cmp_rank(&base.clone()), Ordering::Equal);
    }

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

    #[test]
    fn local_time_agrees_with_chronos_format() {
        for text in [
            "2027-03-12T09:00:00",
            "2027-02-29T09:00:00",
            "2028-02-29T23:59:59",
            "2027-13-01T00:00:00",
            "2027-03-12T24:00:00",
            "2027-03-12T09:60:00",
            "2027-03-12T09:00:60",
            "2027-03-12T09:59:60.5",
            "2027-03-12T09:00:00.5",
            "2027-03-12T09:00:00.123456789",
            "2027-03-12T09:00:00.123456789999",
            "2027-03-12T09:00:00.",
            "2027-03-12T09:00:00.x",
            "0000-01-01T00:00:00",
            "9999-12-31T23:59:59.000001",
        ] {
            let chrono = NaiveDateTime::parse_from_str(text, FORMAT).ok();
            assert_eq!(local_time::parse(text), chrono, "{text}");
            if let Some(value) = chrono {
                assert_eq!(local_time::format(&value), value.format(FORMAT).to_string());
            }
        }
        // Shapes chrono's format also takes that Duffel and Postgres never send: refused.
        for text in [
            "2027-3-12T09:00:00",
            "2027-03-12t09:00:00",
            "+2027-03-12T09:00:00",
        ] {
            assert_eq!(local_time::parse(text), None, "{text}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn local_time_round_trips_as_chrono_writes(
            secs in -62_167_219_200_i64..253_402_300_800,
            nano in prop_oneof![
                Just(0_u32),
                (0_u32..1000).prop_map(|ms| ms * 1_000_000),
                (0_u32..1_000_000).prop_map(|us| us * 1000),
                0_u32..2_000_000_000,
            ],
        ) {
            let Some(value) = chrono::DateTime::from_timestamp(secs, nano).map(|d| d.naive_utc())
            else {
                return Ok(());
            };
            let text = local_time::format(&value);
            prop_assert_eq!(&text, &value.format(FORMAT).to_string());
            prop_assert_eq!(local_time::parse(&text), Some(value));
        }

        #[test]
        fn local_time_reads_shaped_text_as_chrono(
            text in "[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,12})?",
        ) {
            let chrono = NaiveDateTime::parse_from_str(&text, FORMAT).ok();
            prop_assert_eq!(local_time::parse(&text), chrono);
        }
    }
}
