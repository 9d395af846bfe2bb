//! The rows the driver works from: one claimed trip as `monitor_claim` returns it, and the
//! travellers `monitor_passengers` returns (personal data: kept in memory only, never logged).

use serde::{Deserialize, Deserializer};

use super::DriverError;
use crate::duffel::order::OrderPassenger;
use crate::duffel::passengers::{IdentityDocument, OfferPassenger};
use crate::money::Currency;
use crate::saga::AttemptState;
use crate::time::Timestamp;
use crate::trip::Trip;

/// Longest error detail kept from a serde message (never a whole value).
const MAX_DETAIL_CHARS: usize = 200;

/// One claimed trip as `monitor_claim` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Claim {
    /// The trip row.
    pub trip: Trip,
    /// The selected offer, if any.
    #[serde(default)]
    pub selected_offer: Option<SelectedOffer>,
    /// The trip's open attempt, if any.
    #[serde(default)]
    pub attempt: Option<ClaimedAttempt>,
    /// The owner's payment profile, if any.
    #[serde(default)]
    pub payment: Option<PaymentProfile>,
}

impl Claim {
    /// Reads the claim JSON.
    pub fn from_json(text: &str) -> Result<Self, DriverError> {
        serde_json::from_str(text).map_err(|e| {
            DriverError::InvalidClaim(e.to_string().chars().take(MAX_DETAIL_CHARS).collect())
        })
    }
}

/// The selected offer's fields the monitor needs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SelectedOffer {
    /// Duffel's offer id (`off_…`).
    pub provider_offer_id: String,
    /// Total at the last search, in minor units.
    pub total_minor: i64,
    /// Currency of the total.
    pub currency: Currency,
    /// When the offer expires.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Local departure time of the first segment (no offset).
    #[serde(default, with = "crate::offer::local_time::option")]
    pub departing_at: Option<chrono::NaiveDateTime>,
    /// What the stored raw offer says about its passengers, when the raw offer was kept (the
    /// claim sends just these fields of it; a recorded search the whole raw offer). Unreadable
    /// or absent: `None` (the saga still checks the re-priced offer before authorizing).
    #[serde(default, deserialize_with = "lenient")]
    pub raw: Option<OfferFacts>,
}

/// The passenger facts of a raw Duffel offer (no personal data).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct OfferFacts {
    /// The offer's passengers: ids, types and searched ages.
    #[serde(default)]
    pub passengers: Vec<OfferPassenger>,
    /// `passenger_identity_documents_required`.
    #[serde(default)]
    pub passenger_identity_documents_required: Option<bool>,
    /// `supported_passenger_identity_document_types`.
    #[serde(default)]
    pub supported_passenger_identity_document_types: Option<Vec<String>>,
}

/// A raw offer that does not read as [`OfferFacts`] is treated as absent, never as a bad claim.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OfferFacts>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// The open attempt of a claim.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ClaimedAttempt {
    /// The stored saga state.
    pub state: AttemptState,
    /// What the traveller asked for while the attempt waits for them (`cancel`,
    /// `another_card`; see [`crate::saga::TravellerRequest`]); absent: nothing. Unknown codes
    /// are ignored.
    #[serde(default)]
    pub traveller_request: Option<String>,
}

/// Stripe objects of the trip's owner (never card data).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentProfile {
    /// Stripe customer id.
    pub customer: String,
    /// Saved payment method id.
    pub payment_method: String,
}

/// A traveller row from `monitor_passengers` (personal data).
#[derive(Deserialize)]
pub(super) struct PassengerRow {
    title: String,
    gender: String,
    given_name: String,
    family_name: String,
    born_on: String,
    email: String,
    phone_number: String,
    #[serde(default)]
    identity_document: Option<IdentityDocument>,
}

/// What `monitor_passengers` returns: `null` when the trip's travellers are incomplete.
#[derive(Deserialize)]
pub(super) struct PassengersResult {
    pub(super) passengers: Option<Vec<PassengerRow>>,
}

/// The order body's traveller for a `monitor_passengers` row; `id` stays empty (the saga pairs
/// each traveller with the re-priced offer's passenger id), and the searched age is set by the
/// driver from the trip.
pub(super) fn to_order_passenger(row: PassengerRow) -> OrderPassenger {
    OrderPassenger {
        identity_documents: row.identity_document.into_iter().collect(),
        id: String::new(),
        title: row.title,
        gender: row.gender,
        given_name: row.given_name,
        family_name: row.family_name,
        born_on: row.born_on,
        email: row.email,
        phone_number: row.phone_number,
        ..OrderPassenger::default()
    }
}
