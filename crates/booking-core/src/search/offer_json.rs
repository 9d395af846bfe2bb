//! The stored offers' JSON written by hand into one buffer (the hot path's storage text):
//! exactly what `serde_json::to_string(&offer)` writes (tested against it), without serde's
//! per-field machinery. A string that needs escaping goes through serde_json; times are written
//! by the same hand-written writers `offer::local_time` and `Timestamp` serialise with.

use chrono::NaiveDateTime;

use crate::offer::{local_time, Offer};
use crate::time::Timestamp;

/// Appends `offer` as JSON with `raw` (a JSON text, or `null` when `None`) as its last field.
pub(super) fn push_offer(out: &mut String, offer: &Offer, raw: Option<&str>) {
    out.push_str("{\"provider_offer_id\":");
    push_str(out, &offer.provider_offer_id);
    out.push_str(",\"total_minor\":");
    push_int(out, offer.total_minor);
    out.push_str(",\"currency\":\"");
    out.push_str(offer.currency.code());
    out.push_str("\",\"cabin\":\"");
    out.push_str(offer.cabin.as_str());
    out.push_str("\",\"stops\":");
    push_int(out, i64::from(offer.stops));
    out.push_str(",\"duration_minutes\":");
    match offer.duration_minutes {
        Some(minutes) => push_int(out, i64::from(minutes)),
        None => out.push_str("null"),
    }
    out.push_str(",\"departing_at\":");
    push_local(out, &offer.departing_at);
    out.push_str(",\"arriving_at\":");
    push_local(out, &offer.arriving_at);
    out.push_str(",\"carriers\":[");
    for (i, carrier) in offer.carriers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, carrier);
    }
    out.push_str("],\"expires_at\":");
    push_timestamp(out, offer.expires_at);
    out.push_str(",\"raw\":");
    out.push_str(raw.unwrap_or("null"));
    out.push('}');
}

/// A JSON string: as is when nothing needs escaping, else serde_json's escaping.
fn push_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Serialising a `str` cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

fn push_int(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    let mut n = v.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// As `offer::local_time` writes it, quoted.
fn push_local(out: &mut String, t: &NaiveDateTime) {
    out.push('"');
    local_time::push(out, t);
    out.push('"');
}

/// As [`Timestamp`] serialises (RFC 3339 UTC with milliseconds), quoted.
fn push_timestamp(out: &mut String, t: Timestamp) {
    out.push('"');
    t.push_rfc3339(out);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::money::Currency;
    use crate::offer::Cabin;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_]{0,30}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}a\u{7f}\u{e9}\u{2028}\u{1F600}/]{0,8}",
        ]
    }

    fn local() -> impl Strategy<Value = NaiveDateTime> {
        (
            prop_oneof![1900i32..2100, -300_000i32..300_000],
            1u32..=12,
            1u32..=28,
            0u32..86_400,
            prop_oneof![Just(0u32), 0u32..2_000_000_000],
        )
            .prop_map(|(y, m, d, s, n)| {
                NaiveDate::from_ymd_opt(y, m, d)
                    .and_then(|date| date.and_hms_nano_opt(s / 3600, s / 60 % 60, s % 60, n))
                    .unwrap_or_default()
            })
    }

    fn offer() -> impl Strategy<Value = Offer> {
        (
            (text(), any::<i64>(), 0usize..4, 0usize..4, any::<u32>()),
            (proptest::option::of(any::<u32>()), local(), local()),
            (
                proptest::collection::vec(text(), 0..4),
                prop_oneof![
                    any::<i64>(),
                    -62_135_596_800_000i64..253_402_300_799_999,
                    Just(i64::MIN),
                    Just(i64::MAX)
                ],
            ),
        )
            .prop_map(
                |((id, total, cur, cabin, stops), (dur, dep, arr), (carriers, exp))| Offer {
                    provider_offer_id: id,
                    total_minor: total,
                    currency: Currency::parse(["GBP", "JPY", "KWD", "USD"][cur]).unwrap(),
                    cabin: [
                        Cabin::Economy,
                        Cabin::PremiumEconomy,
                        Cabin::Business,
                        Cabin::First,
                    ][cabin],
                    stops,
                    duration_minutes: dur,
                    departing_at: dep,
                    arriving_at: arr,
                    carriers,
                    expires_at: Timestamp::from_unix_ms(exp),
                    raw: None,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn writes_what_serde_json_writes(offer in offer()) {
            let mut out = String::new();
            push_offer(&mut out, &offer, None);
            prop_assert_eq!(out, serde_json::to_string(&offer).unwrap());
        }
    }

    #[test]
    fn raw_is_written_verbatim() {
        let raw = serde_json::value::RawValue::from_string(r#"{ "id": "off_1" }"#.into()).unwrap();
        let offer = Offer {
            provider_offer_id: "off_1".into(),
            total_minor: -5,
            currency: Currency::parse("GBP").unwrap(),
            cabin: Cabin::Business,
            stops: 1,
            duration_minutes: None,
            departing_at: local_time_of("2027-03-12T09:00:00"),
            arriving_at: local_time_of("2027-03-12T12:00:00.5"),
            carriers: vec!["BA".into(), "A\"A".into()],
            expires_at: Timestamp::from_unix_ms(1_800_000_000_123),
            raw: Some(raw),
        };
        let mut out = String::new();
        push_offer(&mut out, &offer, offer.raw.as_deref().map(|r| r.get()));
        assert_eq!(out, serde_json::to_string(&offer).unwrap());
    }

    fn local_time_of(text: &str) -> NaiveDateTime {
        local_time::parse(text).unwrap()
    }
}
