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
/// format Duffel sends and Postgres `timestamp` reads.
pub mod local_time {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

    /// Parses a local time without offset; a trailing `Z` or offset is refused.
    pub fn parse(text: &str) -> Option<NaiveDateTime> {
        if text.len() < 19 || text.len() > 32 {
            return None;
        }
        if let Some(fast) = canonical(text.as_bytes()) {
            return fast;
        }
        NaiveDateTime::parse_from_str(text, FORMAT).ok()
    }

    /// `YYYY-MM-DDTHH:MM:SS` exactly (what Duffel sends), read without a format string:
    /// `Some(result)` for text of that shape (the result chrono's format would give: `None`
    /// for an impossible date or time), `None` for any other shape (then chrono decides).
    fn canonical(b: &[u8]) -> Option<Option<NaiveDateTime>> {
        let digit = |i: usize| {
            b.get(i)
                .filter(|c| c.is_ascii_digit())
                .map(|c| u32::from(c - b'0'))
        };
        let num = |at: usize, n: usize| {
            (at..at + n).try_fold(0_u32, |acc, i| digit(i).map(|d| acc * 10 + d))
        };
        let sep = |i: usize, c: u8| b.get(i) == Some(&c);
        if b.len() != 19
            || !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':'))
            || !sep(16, b':')
        {
            return None;
        }
        let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if second == 60 {
            return None; // a leap second: chrono's own rules decide
        }
        let year = i32::try_from(year).ok()?;
        Some(
            chrono::NaiveDate::from_ymd_opt(year, month, day)
                .and_then(|date| date.and_hms_opt(hour, minute, second)),
        )
    }

    /// Serde serializer.
    pub fn serialize<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&value.format(FORMAT))
    }

    /// Serde deserializer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom("expected YYYY-MM-DDTHH:MM:SS"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn local_time_fast_path_agrees_with_the_format() {
        for text in [
            "2027-03-12T09:00:00",
            "2027-02-29T09:00:00",
            "2028-02-29T23:59:59",
            "2027-13-01T00:00:00",
            "2027-03-12T24:00:00",
            "2027-03-12T09:60:00",
            "2027-03-12T09:00:60",
            "2027-03-12t09:00:00",
            "2027-03-12T09:00:00.5",
            "0000-01-01T00:00:00",
        ] {
            let format = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok();
            assert_eq!(local_time::parse(text), format, "{text}");
        }
    }
}
