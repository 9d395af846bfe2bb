//! # booking-wasm
//!
//! The thin WebAssembly surface over [`booking_core`] for the Deno shims: the drivers of the one
//! drive API ([`driver`]), the SQL API list, and a few pure helpers. Bytes or strings go in;
//! small JSON-compatible objects come out as `{ ok: true, ... }` or
//! `{ ok: false, error: { code, message, ... } }`. Nothing here throws for bad input, and nothing
//! here holds logic: every decision is the core's. No credential ever comes in: provider
//! requests leave without one and the shim's executor adds it.
//!
//! Time comes in as `now_ms` (milliseconds since the Unix epoch, from the shim's clock).

#[cfg(feature = "monitor")]
use booking_core::error::ErrorCode;
#[cfg(feature = "search")]
use booking_core::error::ProviderError;
#[cfg(feature = "search")]
use booking_core::search;
#[cfg(feature = "search")]
use booking_core::select;
#[cfg(feature = "monitor")]
use booking_core::service;
use booking_core::time::Timestamp;
#[cfg(feature = "search")]
use booking_core::trip::Trip;
use serde::Serialize;
#[cfg(any(feature = "search", feature = "monitor"))]
use serde_json::json;
#[cfg(feature = "search")]
use serde_json::Value;
use wasm_bindgen::prelude::*;

pub mod driver;

#[cfg(feature = "search")]
/// Small summary of a processed search plus the storage-ready JSON for `app.record_search`
/// (kept for the benchmark, `scripts/bench.ts`; the function uses the search driver).
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

#[cfg(feature = "search")]
/// Turns Duffel's answer (status and raw body bytes) into `{ ok, result_json, decision,
/// offers_seen, offers_stored, selected_provider_offer_id, rejections }`, or a provider error
/// `{ ok: false, error: { code, message, provider_code } }`.
#[wasm_bindgen]
pub fn process_search_response(trip_json: &str, status: u16, body: &[u8], now_ms: f64) -> JsValue {
    let trip = match trip_row(trip_json) {
        Ok(trip) => trip,
        Err(error) => return to_js(&json!({ "ok": false, "error": error })),
    };
    match search::process_search_response_json(&trip, status, body, timestamp(now_ms)) {
        Ok((result, result_json)) => to_js(&Summary {
            ok: true,
            result_json,
            decision: &result.decision,
            offers_seen: result.offers_seen,
            offers_stored: result.offers.len(),
            malformed: result.malformed,
            selected_provider_offer_id: result.selected_provider_offer_id.as_deref(),
            rejections: &result.rejections,
        }),
        Err(err) => to_js(&json!({ "ok": false, "error": provider_error(&err) })),
    }
}

#[cfg(feature = "monitor")]
/// Parses a monitor request body: `{ ok, trip_id: string | null }` or
/// `{ ok: false, error: { code, message } }`.
#[wasm_bindgen]
pub fn parse_monitor_request(body: &[u8]) -> JsValue {
    to_js(&match service::parse_monitor_request(body) {
        Ok(req) => json!({ "ok": true, "trip_id": req.trip_id.map(|id| id.to_string()) }),
        Err(err) => json!({ "ok": false, "error": err.to_body() }),
    })
}

#[cfg(feature = "search")]
fn provider_error(err: &ProviderError) -> Value {
    json!({ "code": err.code(), "message": err.to_string(), "provider_code": err.provider_code() })
}

#[cfg(feature = "search")]
fn trip_row(trip_json: &str) -> Result<Trip, Value> {
    Trip::from_json(trip_json.as_bytes())
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
