//! The functions' public request and response shapes, for frontends (`docs/contracts.md`).
//!
//! These types describe the JSON the functions accept and answer; ts-rs exports them (with the
//! `ts` feature) next to the drive API's types in `supabase/functions/_shared/types/`, so a web
//! app can `import type { SearchResponse } from ".../types/SearchResponse.ts"`. The tests below
//! check them against what the core really produces, so they cannot drift.

use serde::{Deserialize, Serialize};

use crate::select::{Decision, Rejections};

/// `POST /functions/v1/trip-search` with a new trip request (validated by the core).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(deny_unknown_fields)]
pub struct NewTripRequest {
    /// Origin IATA airport or city code (`LHR`).
    pub origin: String,
    /// Destination IATA code, different from `origin`.
    pub destination: String,
    /// Outbound date, `YYYY-MM-DD`, today or later, within 365 days.
    pub departure_date: String,
    /// Return date (`YYYY-MM-DD`), absent or null for one-way.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub return_date: Option<String>,
    /// Adults, 1-9.
    pub adults: u8,
    /// Age of each child, 0-17.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub child_ages: Option<Vec<u8>>,
    /// `economy`, `premium_economy`, `business` or `first`.
    pub cabin: String,
    /// Only offers without stops.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub nonstop_only: Option<bool>,
    /// The most the traveller pays, all passengers, in minor units of `currency` (GBP 420.00 is
    /// `42000`; JPY has no minor unit, KWD three).
    pub max_total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Book automatically when an acceptable offer appears.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub auto_book: Option<bool>,
}

/// `POST /functions/v1/trip-search` with `{"trip_id"}`: search one of the caller's trips again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(deny_unknown_fields)]
pub struct SearchAgainRequest {
    /// The trip's id.
    pub trip_id: String,
}

/// trip-search's body: a new trip request, or one of the caller's trips to search again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(untagged)]
pub enum TripSearchRequest {
    /// Create and search.
    New(NewTripRequest),
    /// Search again.
    Again(SearchAgainRequest),
}

/// A trip request as stored (`trip` in answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TripView {
    /// Id.
    pub id: String,
    /// The traveller.
    pub owner_id: String,
    /// Origin IATA code.
    pub origin: String,
    /// Destination IATA code.
    pub destination: String,
    /// `YYYY-MM-DD`.
    pub departure_date: String,
    /// `YYYY-MM-DD` or null.
    pub return_date: Option<String>,
    /// Adults.
    pub adults: u8,
    /// Children's ages.
    pub child_ages: Vec<u8>,
    /// Cabin.
    pub cabin: String,
    /// Nonstop only.
    pub nonstop_only: bool,
    /// Maximum total in minor units.
    pub max_total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Auto-book on.
    pub auto_book: bool,
    /// `searching`, `watching`, `booking`, `booked`, `needs_traveller`, `needs_operator`,
    /// `expired`, `cancelled`, `failed`.
    pub status: crate::trip::TripStatus,
    /// The selected offer's id, if any.
    pub selected_offer_id: Option<String>,
    /// When the monitor looks next (RFC 3339).
    pub next_check_at: Option<String>,
    /// Checks so far.
    pub check_count: u32,
    /// The last provider error code, if the last search failed.
    pub last_error_code: Option<String>,
    /// Compare-and-set version.
    pub version: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The selected offer in answers (the provider's raw body is never sent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(deny_unknown_fields)]
pub struct OfferView {
    /// Id.
    pub id: String,
    /// Trip id.
    pub trip_id: String,
    /// `duffel`.
    pub provider: String,
    /// The provider's offer id (`off_…`).
    pub provider_offer_id: String,
    /// Total including fees, minor units.
    pub total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Cabin.
    pub cabin: String,
    /// Stops on the outbound journey.
    pub stops: u8,
    /// Outbound duration.
    pub duration_minutes: u32,
    /// Local departure time, `YYYY-MM-DDTHH:MM:SS`.
    pub departing_at: String,
    /// Local arrival time.
    pub arriving_at: String,
    /// Marketing carriers' IATA codes.
    pub carriers: Vec<String>,
    /// When the offer stops being bookable (RFC 3339).
    pub expires_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// trip-search's answer: 201 for a new trip, 200 for a search again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(deny_unknown_fields)]
pub struct SearchResponse {
    /// The trip as stored after the search.
    pub trip: TripView,
    /// The best acceptable offer, or null.
    pub selected_offer: Option<OfferView>,
    /// `offer_selected` or `no_acceptable_offer`.
    pub decision: Decision,
    /// Offers the provider returned.
    pub offers_seen: u32,
    /// Rejected offers per reason.
    pub rejections: Rejections,
}

/// One failing field of a `validation_failed` error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldError {
    /// The field (`origin`, `child_ages[1]`, …).
    pub field: String,
    /// Stable code (`invalid_iata`, `required`, …).
    pub code: String,
    /// Human text.
    pub message: String,
}

/// Every non-2xx answer of every function: a stable `code` and a human `message`; some codes
/// carry more (`fields` for validation errors, `provider_code` and `trip` for 502s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ErrorResponse {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable text (no personal data).
    pub message: String,
    /// Per-field problems (`validation_failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub fields: Option<Vec<FieldError>>,
    /// The provider's own error code (502s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub provider_code: Option<String>,
    /// The trip after a failed search (502s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub trip: Option<TripView>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::time::Timestamp;
    use crate::trip::{parse_trip_body, TripBody};

    #[test]
    fn a_validated_trip_request_has_the_request_shape() {
        let now = Timestamp::from_unix_ms(1_790_000_000_000);
        let body = br#"{"origin":"LHR","destination":"JFK","departure_date":"2026-12-12",
            "adults":1,"child_ages":[3],"cabin":"economy","max_total_minor":42000,"currency":"GBP"}"#;
        let TripBody::New(trip) = parse_trip_body(body, now).unwrap() else {
            panic!("a new trip")
        };
        let back: NewTripRequest = serde_json::from_value(serde_json::to_value(trip).unwrap())
            .expect("what the core stores is a valid request");
        assert_eq!(back.origin, "LHR");
        assert_eq!(back.child_ages, Some(vec![3]));
    }

    #[test]
    fn the_search_answer_and_errors_have_the_published_shapes() {
        let trip = json!({"id":"0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c",
            "owner_id":"11111111-2222-4333-8444-555555555555","origin":"LHR","destination":"JFK",
            "departure_date":"2026-12-12","return_date":null,"adults":1,"child_ages":[],
            "cabin":"economy","nonstop_only":false,"max_total_minor":40000,"currency":"GBP",
            "auto_book":true,"status":"watching","selected_offer_id":null,"next_check_at":null,
            "check_count":0,"last_error_code":null,"version":2,
            "created_at":"2026-09-21T10:00:00Z","updated_at":"2026-09-21T10:00:00Z"});
        let answer = json!({"trip": trip, "selected_offer": null, "decision": "no_acceptable_offer",
            "offers_seen": 3, "rejections": {"expired":0,"currency_mismatch":0,"over_budget":3,
            "cabin_mismatch":0,"too_many_stops":0}});
        let parsed: SearchResponse = serde_json::from_value(answer).unwrap();
        assert_eq!(parsed.decision, Decision::NoAcceptableOffer);
        let err: ErrorResponse = serde_json::from_value(json!({"code":"provider_unavailable",
            "message":"m","provider_code":null,"trip":trip}))
        .unwrap();
        assert_eq!(err.code, "provider_unavailable");
    }
}
