//! Trip requests: validating what a traveller sends, and reading the trip row back.
//!
//! [`parse_trip_body`] takes the raw body bytes of a `trip-search` POST and returns either a
//! validated [`NewTrip`] (the contract's "Trip request", passed on to `app.create_trip`) or a
//! [`TripRef`] (`{"trip_id":"<uuid>"}`: search an existing request again). The rules are exactly
//! those of docs/contracts.md; every failing field is reported, not just the first.
//!
//! Field error codes, per rule:
//!
//! | code | when |
//! | --- | --- |
//! | `required` | a required field is missing or `null` |
//! | `invalid_type` | wrong JSON type (string where a number or boolean is expected, …) |
//! | `unknown_field` | a key the contract does not define |
//! | `invalid_iata` | `origin`/`destination` not three upper-case letters |
//! | `same_origin_destination` | `destination` equals `origin` |
//! | `invalid_date` | not an existing `YYYY-MM-DD` date |
//! | `date_in_past` | `departure_date` before `now`'s UTC date |
//! | `date_too_far` | `departure_date` more than 365 days after `now`'s UTC date |
//! | `return_before_departure` | `return_date` before `departure_date` |
//! | `not_an_integer` | a number with a fraction or exponent where an integer is expected |
//! | `out_of_range` | `adults` not 1–9, a child age not 0–17, `max_total_minor` not 1–10^12 |
//! | `too_many_passengers` | adults + children above 9 (reported on `child_ages`) |
//! | `too_many_infants` | more children under 2 than adults (reported on `child_ages`) |
//! | `invalid_cabin` | not `economy`, `premium_economy`, `business` or `first` |
//! | `unknown_currency` | not an ISO 4217 code with a minor-unit exponent |
//! | `invalid_trip_id` | `trip_id` is not a UUID |
//!
//! Child age errors name the element (`child_ages[2]`). A `child_ages` array longer than 9 is
//! reported once as `too_many_passengers` without checking its elements.

use chrono::{Days, NaiveDate};
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::iata::IataCode;
use crate::id::Uuid;
use crate::money::{Currency, MAX_MINOR};
use crate::offer::Cabin;
use crate::time::Timestamp;

mod checker;
mod row;
mod unique;

pub use checker::parse_iso_date;
use checker::Checker;

pub use row::{Trip, TripRowError, TripStatus};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most passengers (adults plus children) in one request.
pub const MAX_PASSENGERS: usize = 9;
/// How far ahead a departure may be, in days after `now`'s UTC date.
pub const MAX_DAYS_AHEAD: u64 = 365;
/// Oldest age that counts as a child.
pub const MAX_CHILD_AGE: i64 = 17;
/// Children younger than this are infants (who sit on an adult's lap).
pub const INFANT_AGE_BELOW: u8 = 2;

const FIELDS: [&str; 12] = [
    "origin",
    "destination",
    "departure_date",
    "return_date",
    "adults",
    "child_ages",
    "cabin",
    "nonstop_only",
    "max_total_minor",
    "currency",
    "auto_book",
    "trip_id",
];

/// A validated trip request; serialises to the contract's flat "Trip request" shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewTrip {
    /// Origin airport or city.
    pub origin: IataCode,
    /// Destination airport or city, different from `origin`.
    pub destination: IataCode,
    /// Outbound date (local to the origin).
    pub departure_date: NaiveDate,
    /// Return date, `None` for one-way.
    pub return_date: Option<NaiveDate>,
    /// Adults, 1–9.
    pub adults: u8,
    /// Age of each child, 0–17.
    pub child_ages: Vec<u8>,
    /// Requested cabin.
    pub cabin: Cabin,
    /// Only accept offers without stops.
    pub nonstop_only: bool,
    /// Most the traveller will pay, all passengers, in minor units of `currency`.
    pub max_total_minor: i64,
    /// Currency of `max_total_minor`.
    pub currency: Currency,
    /// Book automatically when an acceptable offer appears.
    pub auto_book: bool,
}

/// `{"trip_id":"<uuid>"}`: search an existing trip request again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TripRef {
    /// The trip's id.
    pub trip_id: Uuid,
}

/// What a `trip-search` body asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TripBody {
    /// Create a new trip request.
    New(NewTrip),
    /// Search an existing one again.
    Existing(TripRef),
}

/// One failing field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field name (`origin`, `child_ages[1]`, or the unknown key).
    pub field: String,
    /// Stable code (see the module docs).
    pub code: &'static str,
    /// Human-readable explanation; never echoes the submitted value.
    pub message: String,
}

/// Why a trip body was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TripError {
    /// Not JSON, not an object, or larger than [`MAX_BODY_BYTES`].
    #[error("the body must be a JSON object of at most 16 KiB")]
    InvalidJson,
    /// Some object in the body, at any depth, names the same key twice.
    #[error("the body names the same key twice in one object")]
    DuplicateKey,
    /// One or more fields break the rules.
    #[error("{} field(s) failed validation", .0.len())]
    Invalid(Vec<FieldError>),
}

impl TripError {
    /// Stable code: `invalid_json`, `duplicate_key` or `validation_failed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::DuplicateKey => "duplicate_key",
            Self::Invalid(_) => "validation_failed",
        }
    }

    /// The failing fields (empty for `InvalidJson` and `DuplicateKey`).
    pub fn fields(&self) -> &[FieldError] {
        match self {
            Self::InvalidJson | Self::DuplicateKey => &[],
            Self::Invalid(fields) => fields,
        }
    }

    /// The contract's error body: `{"code","message","fields"?}` (`fields` only when non-empty).
    pub fn to_body(&self) -> TripErrorBody<'_> {
        TripErrorBody {
            code: self.code(),
            message: self.to_string(),
            fields: self.fields(),
        }
    }
}

crate::error::impl_error_code!(TripError);

/// Serialisable error body for a [`TripError`].
#[derive(Clone, Debug, Serialize)]
pub struct TripErrorBody<'a> {
    /// `invalid_json`, `duplicate_key` or `validation_failed`.
    pub code: &'static str,
    /// Summary.
    pub message: String,
    /// The failing fields.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub fields: &'a [FieldError],
}

/// Parses a `trip-search` body: `{"trip_id":…}` re-searches, anything else must be a new trip.
pub fn parse_trip_body(body: &[u8], now: Timestamp) -> Result<TripBody, TripError> {
    let object = parse_object(body)?;
    if object.contains_key("trip_id") {
        trip_ref_from(&object).map(TripBody::Existing)
    } else {
        new_trip_from(&object, now).map(TripBody::New)
    }
}

/// Validates a new trip request body against `now`.
pub fn validate_new_trip(body: &[u8], now: Timestamp) -> Result<NewTrip, TripError> {
    new_trip_from(&parse_object(body)?, now)
}

/// Parses `{"trip_id":"<uuid>"}` (no other keys).
pub fn parse_trip_ref(body: &[u8]) -> Result<TripRef, TripError> {
    trip_ref_from(&parse_object(body)?)
}

/// Parses any function's JSON request body as an object, refusing duplicate keys at any depth
/// and bodies over [`MAX_BODY_BYTES`] (`invalid_json` / `duplicate_key`, as for trips).
pub fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, TripError> {
    parse_object(body)
}

pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, TripError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(TripError::InvalidJson);
    }
    match unique::parse_unique(body) {
        Ok(Value::Object(object)) => Ok(object),
        Err(unique::ParseError::DuplicateKey) => Err(TripError::DuplicateKey),
        _ => Err(TripError::InvalidJson),
    }
}

fn new_trip_from(object: &Map<String, Value>, now: Timestamp) -> Result<NewTrip, TripError> {
    let mut c = Checker::default();
    for key in object.keys() {
        if !FIELDS[..11].contains(&key.as_str()) {
            c.fail(
                key,
                "unknown_field",
                "this field is not part of a trip request",
            );
        }
    }

    let origin = c.iata(object, "origin");
    let destination = c.iata(object, "destination");
    if origin.is_some() && origin == destination {
        c.fail(
            "destination",
            "same_origin_destination",
            "must differ from origin",
        );
    }

    let today = now.utc_date();
    let departure = c
        .required(object, "departure_date")
        .and_then(|v| c.date("departure_date", v));
    if let Some(date) = departure {
        if date < today {
            c.fail(
                "departure_date",
                "date_in_past",
                "must not be before today (UTC)",
            );
        } else if today
            .checked_add_days(Days::new(MAX_DAYS_AHEAD))
            .is_none_or(|limit| date > limit)
        {
            c.fail(
                "departure_date",
                "date_too_far",
                "must be at most 365 days ahead",
            );
        }
    }
    let return_date = match object.get("return_date") {
        None | Some(Value::Null) => None,
        Some(value) => c.date("return_date", value),
    };
    if let (Some(out), Some(back)) = (departure, return_date) {
        if back < out {
            c.fail(
                "return_date",
                "return_before_departure",
                "must not be before departure_date",
            );
        }
    }

    let max_pax = MAX_PASSENGERS as i64;
    let adults = c
        .required(object, "adults")
        .and_then(|v| c.integer("adults", v, 1, max_pax))
        .and_then(|a| u8::try_from(a).ok());
    let child_ages = children(&mut c, object);
    if let (Some(adults), Some(ages)) = (adults, &child_ages) {
        let infants = ages.iter().filter(|age| **age < INFANT_AGE_BELOW).count();
        if usize::from(adults) + ages.len() > MAX_PASSENGERS {
            c.fail(
                "child_ages",
                "too_many_passengers",
                "at most 9 passengers in total",
            );
        } else if infants > usize::from(adults) {
            c.fail(
                "child_ages",
                "too_many_infants",
                "at most one infant under 2 per adult",
            );
        }
    }

    let cabin = c
        .required(object, "cabin")
        .and_then(|v| c.string("cabin", v))
        .and_then(|text| {
            let cabin = Cabin::parse(text);
            if cabin.is_none() {
                c.fail(
                    "cabin",
                    "invalid_cabin",
                    "expected economy, premium_economy, business or first",
                );
            }
            cabin
        });
    let max_total_minor = c
        .required(object, "max_total_minor")
        .and_then(|v| c.integer("max_total_minor", v, 1, MAX_MINOR));
    let currency = c
        .required(object, "currency")
        .and_then(|v| c.string("currency", v))
        .and_then(|text| {
            let currency = Currency::parse(text).ok();
            if currency.is_none() {
                c.fail(
                    "currency",
                    "unknown_currency",
                    "expected an ISO 4217 currency code",
                );
            }
            currency
        });
    let nonstop_only = c.flag(object, "nonstop_only");
    let auto_book = c.flag(object, "auto_book");

    // Invariant: every `None` below recorded a field error, so a complete tuple with no errors is
    // the only way to success.
    match (
        origin,
        destination,
        departure,
        adults,
        child_ages,
        cabin,
        max_total_minor,
        currency,
    ) {
        (
            Some(origin),
            Some(destination),
            Some(departure_date),
            Some(adults),
            Some(child_ages),
            Some(cabin),
            Some(max_total_minor),
            Some(currency),
        ) if c.errors.is_empty() => Ok(NewTrip {
            origin,
            destination,
            departure_date,
            return_date,
            adults,
            child_ages,
            cabin,
            nonstop_only,
            max_total_minor,
            currency,
            auto_book,
        }),
        _ => Err(TripError::Invalid(c.errors)),
    }
}

/// `child_ages`: optional array of ages 0–17; `None` when it has errors.
fn children(c: &mut Checker, object: &Map<String, Value>) -> Option<Vec<u8>> {
    let items = match object.get("child_ages") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            c.fail("child_ages", "invalid_type", "expected an array of ages");
            return None;
        }
    };
    if items.len() > MAX_PASSENGERS {
        c.fail(
            "child_ages",
            "too_many_passengers",
            "at most 9 passengers in total",
        );
        return None;
    }
    let before = c.errors.len();
    let ages: Vec<u8> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let age = c.integer(&format!("child_ages[{i}]"), item, 0, MAX_CHILD_AGE)?;
            u8::try_from(age).ok()
        })
        .collect();
    (c.errors.len() == before).then_some(ages)
}

fn trip_ref_from(object: &Map<String, Value>) -> Result<TripRef, TripError> {
    let mut c = Checker::default();
    for key in object.keys().filter(|k| *k != "trip_id") {
        c.fail(
            key,
            "unknown_field",
            "only trip_id may be sent to search an existing trip",
        );
    }
    let trip_id = c
        .required(object, "trip_id")
        .and_then(|v| c.string("trip_id", v))
        .and_then(|text| {
            let id = Uuid::parse(text);
            if id.is_none() {
                c.fail("trip_id", "invalid_trip_id", "expected a UUID");
            }
            id
        });
    match trip_id {
        Some(trip_id) if c.errors.is_empty() => Ok(TripRef { trip_id }),
        _ => Err(TripError::Invalid(c.errors)),
    }
}

#[cfg(test)]
mod tests;
