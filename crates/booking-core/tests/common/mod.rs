//! Helpers shared by the integration tests: fixtures, a fixed clock and a trip row.
#![allow(dead_code, unreachable_pub)]

use booking_core::time::Timestamp;
use booking_core::trip::Trip;
use serde_json::{json, Value};

/// Reads a file from `tests/data/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The moment the recorded search was made; offers expire 30 minutes later.
pub fn search_time() -> Timestamp {
    Timestamp::parse_rfc3339("2027-03-01T10:00:00Z").unwrap()
}

/// The stored trip the recorded search answers: LHR→JFK on 12 March 2027, 2 adults, economy,
/// nonstop only, at most GBP 840.00. `overrides` replaces top-level fields.
pub fn trip(overrides: Value) -> Trip {
    let mut row = json!({
        "id": "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c",
        "owner_id": "11111111-2222-4333-8444-555555555555",
        "origin": "LHR", "destination": "JFK", "departure_date": "2027-03-12", "return_date": null,
        "adults": 2, "child_ages": [], "cabin": "economy", "nonstop_only": true,
        "max_total_minor": 84000, "currency": "GBP", "auto_book": true,
        "status": "searching", "selected_offer_id": null, "next_check_at": null, "check_count": 0,
        "last_error_code": null, "version": 1,
        "created_at": "2027-03-01T09:59:58.123456+00:00", "updated_at": "2027-03-01T09:59:58.123456+00:00"
    });
    for (key, value) in overrides.as_object().expect("overrides must be an object") {
        row[key] = value.clone();
    }
    Trip::from_json(row.to_string().as_bytes()).expect("test trip row")
}
