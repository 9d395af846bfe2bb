//! Stripe webhooks: the `Stripe-Signature` decision and the event envelope
//! (`reference/contracts-webhooks-setup.md` §1).
//!
//! The endpoint secret never enters the core. The shim asks for the signed payload's prefix
//! ([`signed_payload_prefix`], `"{t}."` from the header), computes
//! `HMAC-SHA256(secret, prefix ‖ raw body)` with WebCrypto, and hands the MAC to [`verify`],
//! which decides: the header must parse (a `t` and at least one `v1`), one of the `v1`
//! signatures must equal the MAC (constant time, every candidate compared), and the timestamp
//! must be at most [`TOLERANCE_SECONDS`] old (future timestamps are accepted, as Stripe's SDKs
//! do). Other schemes (`v0`) are ignored. Nothing of the body is read before this passes.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::auth::secret_matches;
use crate::time::Timestamp;

/// How old a signature may be (Stripe's SDK default).
pub const TOLERANCE_SECONDS: i64 = 300;
/// Longest header accepted.
const MAX_HEADER: usize = 4096;
/// Most `v1` entries considered (Stripe sends two while a secret is rolled).
const MAX_SIGNATURES: usize = 16;

/// A parsed `Stripe-Signature` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t`: Unix seconds when Stripe signed.
    pub timestamp: i64,
    /// Every `v1` value, decoded from hex (values that are not 64 hex digits are kept as
    /// empty and never match).
    pub signatures: Vec<Vec<u8>>,
}

/// Why a webhook's signature was refused. Each is a 400 for the caller.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("the Stripe-Signature header is missing")]
    Missing,
    /// The header is not `t=<digits>,v1=<hex>[,…]`.
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// No `v1` signature matches the payload (wrong secret, altered body).
    #[error("no signature matches the payload")]
    Mismatch,
    /// The signature is older than the tolerance.
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
}

impl SignatureError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_header_malformed",
            Self::Mismatch => "signature_mismatch",
            Self::Stale => "signature_timestamp_stale",
        }
    }
}

crate::error::impl_error_code!(SignatureError);

/// Parses the header: comma-separated `key=value` pairs, exactly one numeric `t`, at least one
/// `v1`; unknown keys skipped.
pub fn parse_signature_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::Missing);
    }
    if header.len() > MAX_HEADER {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                let digits_ok = !value.is_empty()
                    && value.len() <= 12
                    && value.bytes().all(|b| b.is_ascii_digit());
                if timestamp.is_some() || !digits_ok {
                    return Err(SignatureError::Malformed);
                }
                timestamp = value.parse::<i64>().ok();
            }
            "v1" => {
                if signatures.len() >= MAX_SIGNATURES {
                    return Err(SignatureError::Malformed);
                }
                signatures.push(decode_hex(value).unwrap_or_default());
            }
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if !signatures.is_empty() => Ok(SignatureHeader {
            timestamp,
            signatures,
        }),
        _ => Err(SignatureError::Malformed),
    }
}

/// What the shim prepends to the raw body before computing the MAC: `"{t}."`. `None` when the
/// header does not parse (the driver then reports why).
pub fn signed_payload_prefix(header: &str) -> Option<String> {
    parse_signature_header(header)
        .ok()
        .map(|h| format!("{}.", h.timestamp))
}

/// The decision: `mac` is `HMAC-SHA256(secret, "{t}." ‖ raw body)` as computed by the shim.
/// Every `v1` is compared in constant time (no early exit); then the age is checked.
pub fn verify(
    header: Option<&str>,
    mac: &[u8],
    now: Timestamp,
    tolerance_seconds: i64,
) -> Result<SignatureHeader, SignatureError> {
    let parsed = parse_signature_header(header.ok_or(SignatureError::Missing)?)?;
    let mut matched = false;
    for candidate in &parsed.signatures {
        // secret_matches never matches an empty expected value, so a missing MAC fails.
        matched |= candidate.len() == 32 && secret_matches(candidate, mac);
    }
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if now.unix_ms().div_euclid(1000) - parsed.timestamp > tolerance_seconds {
        return Err(SignatureError::Stale);
    }
    Ok(parsed)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// The event envelope (§1.2), as far as the pipeline reads it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Event {
    /// `evt_…`: processed once.
    pub id: String,
    /// `setup_intent.succeeded`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// The version that rendered `data`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The resource and, on `*.updated`, the changed attributes.
    pub data: EventData,
}

/// `data` of an event.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EventData {
    /// The full resource.
    pub object: Value,
    /// Changed attributes (only on some events).
    #[serde(default)]
    pub previous_attributes: Option<Value>,
}

/// Parses a verified body; `None` when it is not an event with an `evt_` id, a type and an
/// object.
pub fn parse_event(body: &[u8]) -> Option<Event> {
    let event: Event = serde_json::from_slice(body).ok()?;
    let type_ok = !event.kind.is_empty()
        && event.kind.len() <= 100
        && event
            .kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    (super::cards::valid_id(&event.id, "evt_") && type_ok && event.data.object.is_object())
        .then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 32] = [0xab; 32];
    const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);
    const T: i64 = 1_790_000_000;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn header(t: i64, sigs: &[&[u8]]) -> String {
        let mut h = format!("t={t}");
        for s in sigs {
            h.push_str(&format!(",v1={}", hex(s)));
        }
        h
    }

    #[test]
    fn a_matching_fresh_signature_passes() {
        let h = header(T, &[&MAC]);
        assert_eq!(signed_payload_prefix(&h).as_deref(), Some("1790000000."));
        let ok = verify(Some(&h), &MAC, NOW, TOLERANCE_SECONDS).unwrap();
        assert_eq!(ok.timestamp, T);
    }

    #[test]
    fn the_wrong_secret_is_a_mismatch() {
        let h = header(T, &[&[0xcd; 32]]);
        assert_eq!(
            verify(Some(&h), &MAC, NOW, 300),
            Err(SignatureError::Mismatch)
        );
        // A MAC the shim could not compute (empty) never matches.
        assert_eq!(
            verify(Some(&h), &[], NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_v1_may_match_and_v0_is_ignored() {
        let h = format!("{},v0={}", header(T, &[&[1; 32], &MAC]), hex(&MAC));
        assert!(verify(Some(&h), &MAC, NOW, 300).is_ok());
        let only_v0 = format!("t={T},v0={}", hex(&MAC));
        assert_eq!(
            verify(Some(&only_v0), &MAC, NOW, 300),
            Err(SignatureError::Malformed)
        );
        // Upper-case hex is not what Stripe sends: it never matches.
        let upper = format!("t={T},v1={}", hex(&MAC).to_uppercase());
        assert_eq!(
            verify(Some(&upper), &MAC, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamps_are_refused_after_the_signature_check() {
        let h = header(T - 301, &[&MAC]);
        assert_eq!(verify(Some(&h), &MAC, NOW, 300), Err(SignatureError::Stale));
        let edge = header(T - 300, &[&MAC]);
        assert!(verify(Some(&edge), &MAC, NOW, 300).is_ok());
        // A stale header with a wrong MAC says mismatch (the signature is checked first).
        assert_eq!(
            verify(Some(&h), &[0; 32], NOW, 300),
            Err(SignatureError::Mismatch)
        );
        // Future timestamps pass, as in Stripe's SDKs.
        assert!(verify(Some(&header(T + 3600, &[&MAC])), &MAC, NOW, 300).is_ok());
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(verify(None, &MAC, NOW, 300), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some(" "), &MAC, NOW, 300),
            Err(SignatureError::Missing)
        );
        let m = hex(&MAC);
        for bad in [
            format!("v1={m}"),
            format!("t={T}"),
            format!("t=abc,v1={m}"),
            format!("t=-5,v1={m}"),
            format!("t={T},t={T},v1={m}"),
            format!("t={T};v1={m}"),
            format!("t={T},v1"),
            "garbage".to_owned(),
            format!("t={T},{}", vec![format!("v1={m}"); 17].join(",")),
            format!("t={T},v1={}", "a".repeat(5000)),
        ] {
            assert_eq!(
                verify(Some(&bad), &MAC, NOW, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
            assert!(signed_payload_prefix(&bad).is_none());
        }
        assert_eq!(SignatureError::Stale.code(), "signature_timestamp_stale");
    }

    #[test]
    fn events_need_an_id_a_type_and_an_object() {
        let ok = parse_event(
            br#"{"id":"evt_1","object":"event","type":"setup_intent.succeeded","created":5,
            "api_version":"2025-09-30.clover","data":{"object":{"id":"seti_1"}}}"#,
        )
        .unwrap();
        assert_eq!(ok.kind, "setup_intent.succeeded");
        assert!(parse_event(br#"{"id":"x","type":"a","data":{"object":{}}}"#).is_none());
        assert!(parse_event(br#"{"id":"evt_1","type":"A B","data":{"object":{}}}"#).is_none());
        assert!(parse_event(br#"{"id":"evt_1","type":"a","data":{"object":1}}"#).is_none());
        assert!(parse_event(b"[]").is_none());
    }
}
