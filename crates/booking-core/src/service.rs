//! Bodies of requests to the service-only functions.
//!
//! The monitor is called by pg_cron through pg_net (a small JSON object such as
//! `{"source":"pg_cron","at":"…"}`) and by `trip-search` to process one trip now
//! (`{"trip_id":"<uuid>"}`). An empty body means "a scheduled run".

use serde_json::{Map, Value};
use thiserror::Error;

use crate::id::Uuid;

/// Largest monitor request body accepted.
pub const MAX_MONITOR_BODY_BYTES: usize = 4096;

/// Keys a monitor request may carry: `trip_id`, and the informational `source` and `at`.
const KNOWN_KEYS: [&str; 3] = ["trip_id", "source", "at"];

/// What a monitor call asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorRequest {
    /// Process only this trip (due or not); `None` processes every due trip.
    pub trip_id: Option<Uuid>,
}

/// Why a monitor request body was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MonitorRequestError {
    /// Not a JSON object of at most [`MAX_MONITOR_BODY_BYTES`].
    #[error("the body must be empty or a JSON object of at most 4 KiB")]
    InvalidJson,
    /// `trip_id` is present but not a UUID string.
    #[error("trip_id must be a UUID")]
    InvalidTripId,
    /// A key other than `trip_id`, `source` or `at`.
    #[error("unknown field in the monitor request")]
    UnknownField,
}

impl MonitorRequestError {
    /// Stable code: `invalid_json`, `invalid_trip_id` or `unknown_field`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidTripId => "invalid_trip_id",
            Self::UnknownField => "unknown_field",
        }
    }
}

crate::error::impl_error_code!(MonitorRequestError);

/// Parses a monitor request body (empty, or a JSON object).
pub fn parse_monitor_request(body: &[u8]) -> Result<MonitorRequest, MonitorRequestError> {
    if body.len() > MAX_MONITOR_BODY_BYTES {
        return Err(MonitorRequestError::InvalidJson);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(MonitorRequest { trip_id: None });
    }
    let object: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| MonitorRequestError::InvalidJson)?;
    if object.keys().any(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(MonitorRequestError::UnknownField);
    }
    let trip_id = match object.get("trip_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            Some(Uuid::parse(text).ok_or(MonitorRequestError::InvalidTripId)?)
        }
        Some(_) => return Err(MonitorRequestError::InvalidTripId),
    };
    Ok(MonitorRequest { trip_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_cron_bodies_are_scheduled_runs() {
        for body in [
            "",
            "  ",
            "{}",
            r#"{"source":"pg_cron","at":"2026-11-22T10:00:00Z"}"#,
        ] {
            assert_eq!(
                parse_monitor_request(body.as_bytes()).unwrap().trip_id,
                None,
                "{body}"
            );
        }
    }

    #[test]
    fn a_trip_id_selects_one_trip() {
        let body = br#"{"trip_id":"5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e11"}"#;
        let id = parse_monitor_request(body).unwrap().trip_id.unwrap();
        assert_eq!(id.as_str(), "5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e11");
    }

    #[test]
    fn bad_bodies_have_stable_codes() {
        let code = |b: &str| parse_monitor_request(b.as_bytes()).unwrap_err().code();
        assert_eq!(code("[1]"), "invalid_json");
        assert_eq!(code("{nope"), "invalid_json");
        assert_eq!(code(r#"{"trip_id":"x"}"#), "invalid_trip_id");
        assert_eq!(code(r#"{"trip_id":7}"#), "invalid_trip_id");
        assert_eq!(code(r#"{"drop":"tables"}"#), "unknown_field");
        let big = format!(r#"{{"source":"{}"}}"#, "x".repeat(5000));
        assert_eq!(code(&big), "invalid_json");
    }
}
