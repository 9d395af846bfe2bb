//! Parsing Duffel offers into [`Offer`]s.
//!
//! Normalization rules (each documented on [`normalize_offer`]) turn one Duffel offer object into
//! the provider-neutral [`Offer`]. Malformed offers inside a search answer are skipped and
//! counted, because one bad offer among hundreds should not cost the traveller the whole search;
//! a search answer that is not Duffel's envelope, or in which every offer is malformed, is a
//! [`ProviderError::BadResponse`]. A single-offer answer with a malformed offer is also a bad
//! response: there is nothing else to fall back on.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use super::duration::parse_iso_duration_minutes;
use crate::error::ProviderError;
use crate::money::{Currency, Money, MoneyError};
use crate::offer::{local_time, Cabin, Offer, MAX_RAW_OFFER_BYTES};
use crate::time::Timestamp;

/// Offers normalized from a search answer.
#[derive(Clone, Debug)]
pub struct ParsedOffers {
    /// Duffel's offer request id (`orq_…`).
    pub offer_request_id: String,
    /// The offers that normalized cleanly, in the provider's order.
    pub offers: Vec<Offer>,
    /// How many offers the answer contained, malformed ones included.
    pub offers_seen: usize,
    /// How many were skipped as malformed.
    pub malformed: usize,
}

/// Why one offer object could not be normalized.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum OfferError {
    /// Missing field or wrong JSON type (serde's description, without values).
    #[error("offer does not match the schema: {0}")]
    Schema(String),
    /// The offer or request id is empty, too long, or has characters other than `[A-Za-z0-9_]`.
    #[error("invalid id")]
    InvalidId,
    /// `total_amount`/`total_currency` are not an exact amount in a known currency.
    #[error("invalid total: {0}")]
    Total(MoneyError),
    /// The total is zero or negative.
    #[error("total must be positive")]
    NonPositiveTotal,
    /// `expires_at` is not RFC 3339.
    #[error("invalid expires_at")]
    ExpiresAt,
    /// No slices, or a slice without segments.
    #[error("offer has no itinerary")]
    NoItinerary,
    /// A departure or arrival time is not `YYYY-MM-DDTHH:MM:SS`.
    #[error("invalid local time")]
    LocalTime,
    /// No segment passenger has a known `cabin_class`, or one has an unknown cabin.
    #[error("invalid or missing cabin_class")]
    Cabin,
    /// A marketing carrier code is missing or not 2–3 upper-case letters/digits.
    #[error("invalid marketing carrier")]
    Carrier,
}

impl OfferError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Schema(_) => "offer_schema",
            Self::InvalidId => "invalid_offer_id",
            Self::Total(e) => e.code(),
            Self::NonPositiveTotal => "non_positive_total",
            Self::ExpiresAt => "invalid_expires_at",
            Self::NoItinerary => "no_itinerary",
            Self::LocalTime => "invalid_local_time",
            Self::Cabin => "invalid_cabin",
            Self::Carrier => "invalid_carrier",
        }
    }
}

crate::error::impl_error_code!(OfferError);

#[derive(Deserialize)]
struct SingleEnvelope<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

// The wire shapes borrow from the body (`Cow`: borrowed unless the JSON string has escapes) and
// name only the fields the rules read; serde skips every other field without allocating.
#[derive(Deserialize)]
pub(super) struct WireOffer<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    total_amount: Cow<'a, str>,
    #[serde(borrow)]
    total_currency: Cow<'a, str>,
    #[serde(borrow)]
    expires_at: Cow<'a, str>,
    #[serde(borrow)]
    slices: Vec<WireSlice<'a>>,
}

#[derive(Deserialize)]
pub(super) struct WireSlice<'a> {
    #[serde(default, borrow)]
    duration: Option<Cow<'a, str>>,
    #[serde(borrow)]
    segments: Vec<WireSegment<'a>>,
}

#[derive(Deserialize)]
pub(super) struct WireSegment<'a> {
    #[serde(borrow)]
    departing_at: Cow<'a, str>,
    #[serde(borrow)]
    arriving_at: Cow<'a, str>,
    #[serde(borrow)]
    marketing_carrier: WireCarrier<'a>,
    #[serde(default)]
    stops: Option<Vec<IgnoredAny>>,
    #[serde(default, borrow)]
    passengers: Option<Vec<WirePassenger<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct WireCarrier<'a> {
    #[serde(default, borrow)]
    iata_code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct WirePassenger<'a> {
    #[serde(default, borrow)]
    cabin_class: Option<Cow<'a, str>>,
}

/// Offers normalized from a search answer, each next to its JSON text in the body (borrowed:
/// nothing is copied until the caller keeps an offer's raw text, see [`attach_raw`]).
#[derive(Clone, Debug)]
pub struct BorrowedOffers<'a> {
    /// Duffel's offer request id (`orq_…`).
    pub offer_request_id: String,
    /// The offers that normalized cleanly (their `raw` unset), in the provider's order, each
    /// with its JSON text as it appears in the body.
    pub offers: Vec<(Offer, &'a [u8])>,
    /// How many offers the answer contained, malformed ones included.
    pub offers_seen: usize,
    /// How many were skipped as malformed.
    pub malformed: usize,
}

/// Sets `offer.raw` to the offer's JSON text as received when it is at most
/// [`MAX_RAW_OFFER_BYTES`] (the rule of [`normalize_offer`]).
/// `raw` is one offer's text from [`parse_offer_request_borrowed`], so it is valid JSON (and
/// UTF-8).
pub fn attach_raw(mut offer: Offer, raw: &[u8]) -> Offer {
    offer.raw = (raw.len() <= MAX_RAW_OFFER_BYTES)
        .then(|| std::str::from_utf8(raw).ok())
        .flatten()
        .and_then(|text| RawValue::from_string(text.to_owned()).ok());
    offer
}

/// Parses the body of a `201` from `POST /air/offer_requests?return_offers=true`.
///
/// Errors with [`ProviderError::BadResponse`] when the body is not JSON, lacks `data.id` or
/// `data.offers`, or contains offers of which none normalizes.
pub fn parse_offer_request_response(body: &[u8]) -> Result<ParsedOffers, ProviderError> {
    let parsed = parse_offer_request_borrowed(body)?;
    Ok(ParsedOffers {
        offer_request_id: parsed.offer_request_id,
        offers: parsed
            .offers
            .into_iter()
            .map(|(offer, raw)| attach_raw(offer, raw))
            .collect(),
        offers_seen: parsed.offers_seen,
        malformed: parsed.malformed,
    })
}

/// [`parse_offer_request_response`] without copying any offer's JSON text: each normalized
/// offer comes with its text borrowed from `body` and `raw` unset (the search keeps the text of
/// the offers it stores only, [`attach_raw`]). Same errors.
pub fn parse_offer_request_borrowed(body: &[u8]) -> Result<BorrowedOffers<'_>, ProviderError> {
    let data = scan::scan(body).map_err(|e| match e {
        scan::ScanError::Json(m) => {
            ProviderError::bad_response(format!("not an offer request: {m}"))
        }
        scan::ScanError::Envelope(m) => {
            ProviderError::bad_response(format!("not an offer request: {m}"))
        }
    })?;
    if !valid_id(&data.id) {
        return Err(ProviderError::bad_response("invalid offer request id"));
    }
    let offers_seen = data.offers.len();
    let mut offers = Vec::with_capacity(offers_seen);
    let mut first_error = None;
    for (wire, (start, end)) in data.offers {
        match wire.map_err(OfferError::Schema).and_then(from_wire) {
            Ok(offer) => offers.push((offer, body.get(start..end).unwrap_or_default())),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let (true, Some(error)) = (offers.is_empty(), first_error) {
        return Err(ProviderError::bad_response(format!(
            "all {offers_seen} offers malformed, first: {} ({error})",
            error.code()
        )));
    }
    Ok(BorrowedOffers {
        offer_request_id: data.id,
        malformed: offers_seen - offers.len(),
        offers,
        offers_seen,
    })
}

/// Parses the body of a `200` from `GET /air/offers/{id}`: `{"data":{offer}}`.
pub fn parse_offer_response(body: &[u8]) -> Result<Offer, ProviderError> {
    let envelope: SingleEnvelope<'_> = serde_json::from_slice(body)
        .map_err(|e| ProviderError::bad_response(format!("not an offer: {}", brief(&e))))?;
    normalize_offer(envelope.data)
        .map_err(|e| ProviderError::bad_response(format!("offer {}: {e}", e.code())))
}

/// Normalizes one Duffel offer object.
///
/// - `total_minor`/`currency`: `total_amount` parsed exactly in `total_currency`
///   ([`Money::parse_decimal`]); must be positive.
/// - `cabin`: the lowest `cabin_class` among all segments' passengers (an offer mixing business
///   and economy legs counts as economy, so a business-class request never accepts it).
///   Segments without passenger cabins are skipped; an unknown cabin name is an error.
/// - `stops`: the maximum over slices of `segments − 1 + Σ segment stops`.
/// - `duration_minutes`: the sum of the slices' ISO 8601 `duration`s; `None` when any slice
///   lacks a parseable duration (the offer stays usable and ranks after those with a duration).
/// - `departing_at`: first segment of the first slice; `arriving_at`: last segment of the first
///   slice. Both local times without offset.
/// - `carriers`: distinct marketing carrier codes in order of first appearance.
/// - `raw`: the offer's JSON text as received when it is at most [`MAX_RAW_OFFER_BYTES`].
pub fn normalize_offer(raw: &RawValue) -> Result<Offer, OfferError> {
    let wire: WireOffer<'_> =
        serde_json::from_str(raw.get()).map_err(|e| OfferError::Schema(brief(&e)))?;
    let mut offer = from_wire(wire)?;
    offer.raw = (raw.get().len() <= MAX_RAW_OFFER_BYTES).then(|| raw.to_owned());
    Ok(offer)
}

/// The normalization rules of [`normalize_offer`] on the wire fields (`raw` left `None`).
fn from_wire(wire: WireOffer<'_>) -> Result<Offer, OfferError> {
    if !valid_id(&wire.id) {
        return Err(OfferError::InvalidId);
    }
    let currency = Currency::parse(&wire.total_currency).map_err(OfferError::Total)?;
    let total = Money::parse_decimal(&wire.total_amount, currency).map_err(OfferError::Total)?;
    if total.amount_minor <= 0 {
        return Err(OfferError::NonPositiveTotal);
    }
    let expires_at = Timestamp::parse_rfc3339(&wire.expires_at).ok_or(OfferError::ExpiresAt)?;

    let first = wire.slices.first().ok_or(OfferError::NoItinerary)?;
    if wire.slices.iter().any(|s| s.segments.is_empty()) {
        return Err(OfferError::NoItinerary);
    }
    let (Some(first_segment), Some(last_segment)) = (first.segments.first(), first.segments.last())
    else {
        return Err(OfferError::NoItinerary);
    };
    let departing_at =
        local_time::parse(&first_segment.departing_at).ok_or(OfferError::LocalTime)?;
    let arriving_at = local_time::parse(&last_segment.arriving_at).ok_or(OfferError::LocalTime)?;

    let mut cabin: Option<Cabin> = None;
    let mut carriers: Vec<String> = Vec::new();
    let mut stops = 0_u32;
    let mut duration = Some(0_u32);
    for slice in &wire.slices {
        let mut slice_stops =
            u32::try_from(slice.segments.len().saturating_sub(1)).unwrap_or(u32::MAX);
        for segment in &slice.segments {
            let code = segment.marketing_carrier.iata_code.as_deref().unwrap_or("");
            if !valid_carrier(code) {
                return Err(OfferError::Carrier);
            }
            if !carriers.iter().any(|c| c == code) {
                carriers.push(code.to_owned());
            }
            let technical = segment.stops.as_ref().map_or(0, Vec::len);
            slice_stops = slice_stops.saturating_add(u32::try_from(technical).unwrap_or(u32::MAX));
            for passenger in segment.passengers.iter().flatten() {
                if let Some(name) = &passenger.cabin_class {
                    let this = Cabin::parse(name).ok_or(OfferError::Cabin)?;
                    cabin = Some(cabin.map_or(this, |c| c.min(this)));
                }
            }
        }
        stops = stops.max(slice_stops);
        let slice_minutes = slice
            .duration
            .as_deref()
            .and_then(parse_iso_duration_minutes);
        duration = duration
            .zip(slice_minutes)
            .and_then(|(a, b)| a.checked_add(b));
    }

    Ok(Offer {
        provider_offer_id: wire.id.into_owned(),
        total_minor: total.amount_minor,
        currency,
        cabin: cabin.ok_or(OfferError::Cabin)?,
        stops,
        duration_minutes: duration,
        departing_at,
        arriving_at,
        carriers,
        expires_at,
        raw: None,
    })
}

/// A Duffel id: 1–128 ASCII letters, digits or `_` (`off_0000A…`, `orq_…`).
pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An airline designator: 2–3 upper-case ASCII letters or digits (`BA`, `U2`, `ZZ`).
fn valid_carrier(code: &str) -> bool {
    (2..=3).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// serde's error text, bounded. It names fields and positions; for invalid values it may quote
/// a short scalar, which in an offer is never personal data.
fn brief(error: &serde_json::Error) -> String {
    error.to_string().chars().take(160).collect()
}

mod lex;
mod scan;

#[cfg(test)]
mod tests;
