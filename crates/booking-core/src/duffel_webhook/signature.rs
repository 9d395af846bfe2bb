//! `X-Duffel-Signature` verification (`t=<unix seconds>,v1=<64 lower-case hex>`), the decision
//! half: parsing the header, which bytes are signed, the constant-time comparison and the
//! timestamp tolerance.
//!
//! The HMAC itself is computed by the shim with WebCrypto, so the webhook secret never enters the
//! wasm module: the shim asks [`SignatureHeader::signed_prefix`] what precedes the raw body
//! (`"{t}."`), computes `lower_hex(HMAC-SHA256(key = secret as UTF-8 bytes, msg = prefix ++ raw
//! body))` and hands that to [`verify`]. Wire contract (Duffel's Ruby SDK `WebhookEvent` and the
//! "receiving webhooks" guide): the header is exactly `t=…,v1=…` (one `v1`, nothing else), the
//! key is the secret string as-is (not base64-decoded), the comparison is constant time. Duffel's
//! SDK applies no timestamp tolerance; we add [`TOLERANCE_SECONDS`] either way (Duffel signs each
//! delivery with the time of sending), so a captured delivery cannot be replayed later.

use thiserror::Error;

use crate::auth::secret_matches;
use crate::time::Timestamp;

/// How far the signed timestamp may be from `now`, in seconds, in either direction.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a delivery's signature was refused. Every variant is a 400 for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `X-Duffel-Signature` header (or an empty one).
    #[error("the X-Duffel-Signature header is missing")]
    Missing,
    /// The header is not `t=<unix seconds>,v1=<64 lower-case hex digits>`.
    #[error("the X-Duffel-Signature header is not t=<seconds>,v1=<hex>")]
    Malformed,
    /// The signature does not match the body under our secret.
    #[error("the signature does not match the body")]
    Mismatch,
    /// The signed timestamp is more than the tolerance away from now.
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
}

impl SignatureError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_malformed",
            Self::Mismatch => "signature_mismatch",
            Self::Expired => "signature_expired",
        }
    }
}

crate::error::impl_error_code!(SignatureError);

/// A well-formed `X-Duffel-Signature` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    /// The `t` value exactly as sent (1-12 decimal digits): it is what was signed.
    timestamp: &'a str,
    /// Unix seconds of `t`.
    seconds: i64,
    /// The `v1` value (64 lower-case hex digits).
    v1: &'a str,
}

impl<'a> SignatureHeader<'a> {
    /// Parses the header: exactly `t=<1-12 digits>,v1=<64 lower-case hex>` (Duffel's SDK matches
    /// `^t=(.+),v1=(.+)$`; a second `v1`, other keys, spaces or upper-case hex are refused).
    pub fn parse(header: Option<&'a str>) -> Result<Self, SignatureError> {
        let header = match header {
            None | Some("") => return Err(SignatureError::Missing),
            Some(h) => h,
        };
        let rest = header.strip_prefix("t=").ok_or(SignatureError::Malformed)?;
        let (timestamp, v1) = rest.split_once(",v1=").ok_or(SignatureError::Malformed)?;
        let digits_ok =
            (1..=12).contains(&timestamp.len()) && timestamp.bytes().all(|b| b.is_ascii_digit());
        let hex_ok = v1.len() == 64 && v1.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !digits_ok || !hex_ok {
            return Err(SignatureError::Malformed);
        }
        let seconds = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
        Ok(Self {
            timestamp,
            seconds,
            v1,
        })
    }

    /// What precedes the raw body in the signed message: `"{t}."`.
    pub fn signed_prefix(&self) -> String {
        format!("{}.", self.timestamp)
    }

    /// The signed time, Unix seconds.
    pub fn seconds(&self) -> i64 {
        self.seconds
    }
}

/// Checks a delivery: `header` is the `X-Duffel-Signature` value, `expected_hex` the shim's
/// `lower_hex(HMAC-SHA256(secret, signed_prefix ++ raw body))` (empty when it could not compute
/// one: never matches), `now` the shim's clock.
///
/// Order: the header must parse, the signature must match (constant time, whatever
/// `expected_hex` is), then the timestamp must be within [`TOLERANCE_SECONDS`] of `now`. A replay
/// of a captured delivery inside the tolerance passes here; the event id makes it a duplicate
/// (processed once, in the database).
pub fn verify(
    header: Option<&str>,
    expected_hex: &str,
    now: Timestamp,
) -> Result<(), SignatureError> {
    let parsed = SignatureHeader::parse(header)?;
    // `secret_matches` compares in time that depends only on the expected length (always 64 for
    // a parsed header), and an empty expected value never matches.
    if !secret_matches(expected_hex.as_bytes(), parsed.v1.as_bytes()) {
        return Err(SignatureError::Mismatch);
    }
    let now_seconds = now.unix_ms().div_euclid(1000);
    if (now_seconds - parsed.seconds).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Expired);
    }
    Ok(())
}
