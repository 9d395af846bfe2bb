//! The trip row the database returns (contract "Trip row").

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::iata::IataCode;
use crate::id::Uuid;
use crate::money::Currency;
use crate::offer::Cabin;
use crate::time::Timestamp;

/// Lifecycle status of a trip request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum TripStatus {
    /// No successful search yet.
    Searching,
    /// Searched; the monitor re-checks.
    Watching,
    /// A booking attempt is open.
    Booking,
    /// Booked.
    Booked,
    /// The traveller must act (payment authentication, declined card).
    NeedsTraveller,
    /// A booking attempt cannot go on without a person (the database refused to record it, or
    /// the travellers stayed unreadable); an operator alert is open and the attempt stays open.
    NeedsOperator,
    /// Departure passed or the request expired.
    Expired,
    /// Cancelled by the traveller.
    Cancelled,
    /// Gave up after an unrecoverable error.
    Failed,
}

/// A trip request as stored, deserialised from the JSON that `app.create_trip`, `app.get_trip`
/// and `app.record_search*` return. Unknown extra fields are ignored; optional columns may be
/// missing or `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trip {
    /// Row id.
    pub id: Uuid,
    /// The traveller (`auth.users.id`).
    pub owner_id: Uuid,
    /// Origin.
    pub origin: IataCode,
    /// Destination.
    pub destination: IataCode,
    /// Outbound date.
    #[serde(with = "crate::time::iso_date")]
    pub departure_date: NaiveDate,
    /// Return date, if any.
    #[serde(default, with = "crate::time::iso_date::option")]
    pub return_date: Option<NaiveDate>,
    /// Adults.
    pub adults: u8,
    /// Children's ages.
    #[serde(default)]
    pub child_ages: Vec<u8>,
    /// Requested cabin.
    pub cabin: Cabin,
    /// Only nonstop offers.
    #[serde(default)]
    pub nonstop_only: bool,
    /// Budget in minor units of `currency`.
    pub max_total_minor: i64,
    /// Budget currency.
    pub currency: Currency,
    /// Book automatically.
    #[serde(default)]
    pub auto_book: bool,
    /// Lifecycle status.
    pub status: TripStatus,
    /// The selected `flight_offers.id`, if any.
    #[serde(default)]
    pub selected_offer_id: Option<Uuid>,
    /// When the monitor should look next.
    #[serde(default)]
    pub next_check_at: Option<Timestamp>,
    /// Number of searches and checks so far.
    #[serde(default)]
    pub check_count: u32,
    /// Code of the last failure, cleared by a successful search.
    #[serde(default)]
    pub last_error_code: Option<String>,
    /// Compare-and-set version.
    pub version: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
}

/// A trip row the core cannot read (a contract break between the database and the core).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("trip row does not match the contract: {0}")]
pub struct TripRowError(String);

impl TripRowError {
    /// Stable code: `invalid_trip_row`.
    pub fn code(&self) -> &'static str {
        "invalid_trip_row"
    }
}

crate::error::impl_error_code!(TripRowError);

impl Trip {
    /// Reads the row from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TripRowError> {
        serde_json::from_slice(bytes).map_err(|e| {
            // serde's message names the field and position; it never contains a whole value
            // except for short scalars of this row, none of which are personal data.
            TripRowError(e.to_string().chars().take(200).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = r#"{"id":"0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c",
      "owner_id":"11111111-2222-4333-8444-555555555555","origin":"LHR","destination":"JFK",
      "departure_date":"2027-03-12","return_date":null,"adults":2,"child_ages":[1,9],
      "cabin":"economy","nonstop_only":true,"max_total_minor":84000,"currency":"GBP",
      "auto_book":true,"status":"watching","selected_offer_id":null,
      "next_check_at":"2026-11-22T12:00:00.123456+00:00","check_count":3,
      "last_error_code":"provider_unavailable","version":7,
      "created_at":"2026-11-22T10:00:00+00:00","updated_at":"2026-11-22T11:00:00.5+00:00",
      "some_future_column":{"x":1}}"#;

    #[test]
    fn reads_a_row_with_postgres_timestamps_and_extra_fields() {
        let trip = Trip::from_json(ROW.as_bytes()).unwrap();
        assert_eq!(trip.origin.as_str(), "LHR");
        assert_eq!(trip.child_ages, vec![1, 9]);
        assert_eq!(trip.status, TripStatus::Watching);
        assert_eq!(trip.currency.code(), "GBP");
        assert_eq!(
            trip.next_check_at.unwrap().to_rfc3339(),
            "2026-11-22T12:00:00.123Z"
        );
        assert_eq!(
            trip.last_error_code.as_deref(),
            Some("provider_unavailable")
        );
    }

    #[test]
    fn optional_columns_may_be_missing() {
        let mut value: serde_json::Value = serde_json::from_str(ROW).unwrap();
        let object = value.as_object_mut().unwrap();
        for key in [
            "return_date",
            "child_ages",
            "selected_offer_id",
            "next_check_at",
            "check_count",
        ] {
            object.remove(key);
        }
        let trip = Trip::from_json(value.to_string().as_bytes()).unwrap();
        assert!(trip.child_ages.is_empty());
        assert_eq!(trip.next_check_at, None);
    }

    #[test]
    fn refuses_rows_that_break_the_contract() {
        let broken = ROW.replace(r#""status":"watching""#, r#""status":"paused""#);
        let err = Trip::from_json(broken.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "invalid_trip_row");
        let broken = ROW.replace(r#""currency":"GBP""#, r#""currency":"XAU""#);
        assert!(Trip::from_json(broken.as_bytes()).is_err());
        assert!(Trip::from_json(b"[]").is_err());
    }
}
