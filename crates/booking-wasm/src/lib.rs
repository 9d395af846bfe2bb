//! # booking-wasm
//!
//! The thin WebAssembly surface over [`booking_core`] for the Deno shims. Bytes or strings go in;
//! small JSON-compatible objects come out as `{ ok: true, ... }` or
//! `{ ok: false, error: { code, message, ... } }`. Nothing here throws for bad input, and nothing
//! here holds logic: every decision is the core's.
//!
//! Time comes in as `now_ms` (milliseconds since the Unix epoch, from the shim's clock).

use booking_core::duffel::{self, DuffelConfig};
use booking_core::error::{ErrorCode, ProviderError, TransportFailure};
use booking_core::search;
use booking_core::select;
use booking_core::service;
use booking_core::time::Timestamp;
use booking_core::trip::{self, Trip, TripBody};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

mod driver;

/// Validates a `trip-search` body: `{ ok, kind: "new", trip }`, `{ ok, kind: "ref", trip_id }`,
/// or `{ ok: false, error: { code: "invalid_json" | "validation_failed", message, fields? } }`.
#[wasm_bindgen]
pub fn parse_trip_input(body: &[u8], now_ms: f64) -> JsValue {
    to_js(&match trip::parse_trip_body(body, timestamp(now_ms)) {
        Ok(TripBody::New(trip)) => json!({ "ok": true, "kind": "new", "trip": trip }),
        Ok(TripBody::Existing(r)) => json!({ "ok": true, "kind": "ref", "trip_id": r.trip_id }),
        Err(err) => json!({ "ok": false, "error": err.to_body() }),
    })
}

#[derive(Deserialize)]
struct DuffelSettings {
    base_url: String,
    access_token: String,
    #[serde(default)]
    supplier_timeout_ms: Option<u32>,
}

/// Builds the Duffel offer request for a stored trip (`trip_json` is the trip row JSON):
/// `{ ok, request: { method, url, headers, body, timeout_ms } }`.
#[wasm_bindgen]
pub fn build_search_request(trip_json: &str, duffel_json: &str) -> JsValue {
    to_js(&match (trip_row(trip_json), duffel_config(duffel_json)) {
        (Ok(trip), Ok(config)) => {
            json!({ "ok": true, "request": duffel::build_offer_request(&config, &trip) })
        }
        (Err(error), _) | (_, Err(error)) => json!({ "ok": false, "error": error }),
    })
}

/// Small summary of a processed search plus the storage-ready JSON for `app.record_search`.
#[derive(Serialize)]
struct Summary<'a> {
    ok: bool,
    result_json: String,
    decision: &'a select::Decision,
    offers_seen: usize,
    offers_stored: usize,
    malformed: usize,
    selected_provider_offer_id: Option<&'a str>,
    rejections: &'a select::Rejections,
}

/// Turns Duffel's answer (status and raw body bytes) into `{ ok, result_json, decision,
/// offers_seen, offers_stored, selected_provider_offer_id, rejections }`, or a provider error
/// `{ ok: false, error: { code, message, provider_code } }`.
#[wasm_bindgen]
pub fn process_search_response(trip_json: &str, status: u16, body: &[u8], now_ms: f64) -> JsValue {
    let trip = match trip_row(trip_json) {
        Ok(trip) => trip,
        Err(error) => return to_js(&json!({ "ok": false, "error": error })),
    };
    match search::process_search_response(&trip, status, body, timestamp(now_ms)) {
        Ok(result) => match serde_json::to_string(&result) {
            Ok(result_json) => to_js(&Summary {
                ok: true,
                result_json,
                decision: &result.decision,
                offers_seen: result.offers_seen,
                offers_stored: result.offers.len(),
                malformed: result.malformed,
                selected_provider_offer_id: result.selected_provider_offer_id.as_deref(),
                rejections: &result.rejections,
            }),
            Err(_) => to_js(&json!({ "ok": false, "error": internal("result not serialisable") })),
        },
        Err(err) => to_js(&json!({ "ok": false, "error": provider_error(&err) })),
    }
}

/// The provider error for a request the shim could not complete (`kind` is `timeout` or
/// `network`) and when to retry: `{ error: { code, message, provider_code }, next_check_at }`.
#[wasm_bindgen]
pub fn transport_failure(kind: &str, now_ms: f64) -> JsValue {
    let failure = TransportFailure::from_code(kind).unwrap_or(TransportFailure::Network);
    to_js(&json!({
        "error": provider_error(&ProviderError::from(failure)),
        "next_check_at": search::search_failure_next_check(timestamp(now_ms)),
    }))
}

/// Parses a monitor request body: `{ ok, trip_id: string | null }` or
/// `{ ok: false, error: { code, message } }`.
#[wasm_bindgen]
pub fn parse_monitor_request(body: &[u8]) -> JsValue {
    to_js(&match service::parse_monitor_request(body) {
        Ok(req) => json!({ "ok": true, "trip_id": req.trip_id.map(|id| id.to_string()) }),
        Err(err) => json!({ "ok": false, "error": err.to_body() }),
    })
}

/// When to try a failed search again (RFC 3339).
#[wasm_bindgen]
pub fn failure_next_check(now_ms: f64) -> String {
    search::search_failure_next_check(timestamp(now_ms)).to_rfc3339()
}

fn provider_error(err: &ProviderError) -> Value {
    json!({ "code": err.code(), "message": err.to_string(), "provider_code": err.provider_code() })
}

fn internal(message: &str) -> Value {
    json!({ "code": "internal", "message": message })
}

fn trip_row(trip_json: &str) -> Result<Trip, Value> {
    Trip::from_json(trip_json.as_bytes())
        .map_err(|e| json!({ "code": e.code(), "message": e.to_string() }))
}

fn duffel_config(duffel_json: &str) -> Result<DuffelConfig, Value> {
    let settings: DuffelSettings = serde_json::from_str(duffel_json)
        .map_err(|_| json!({ "code": "invalid_config", "message": "bad Duffel settings" }))?;
    DuffelConfig::new(
        &settings.base_url,
        &settings.access_token,
        settings
            .supplier_timeout_ms
            .unwrap_or(duffel::DEFAULT_SUPPLIER_TIMEOUT_MS),
    )
    .map_err(|e| json!({ "code": e.code(), "message": e.to_string() }))
}

/// Converts the shim's clock reading; NaN or infinities (never sent by a sane shim) become 0.
fn timestamp(now_ms: f64) -> Timestamp {
    #[allow(clippy::cast_possible_truncation)] // milliseconds since 1970 fit i64 exactly
    let ms = if now_ms.is_finite() { now_ms as i64 } else { 0 };
    Timestamp::from_unix_ms(ms)
}

/// Serialises with plain objects (not JS `Map`s), so `JSON.stringify` works on the result.
fn to_js<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::NULL)
}
