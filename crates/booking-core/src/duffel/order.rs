//! Duffel booking calls: re-pricing one offer, creating an instant order paid from balance, and
//! looking orders up to reconcile an unknown outcome (`reference/contracts-providers.md` §1.4,
//! §1.5, §1.7).
//!
//! Duffel has no idempotency key for orders, so a lost order response can never be retried
//! blindly: the saga looks the order up (`GET /air/orders?offer_id=…`) and matches it on
//! `metadata.attempt_id`. Requests carry the standard Duffel v2 headers from [`DuffelConfig`].
//! Re-pricing uses [`super::build_get_offer_request`]; [`classify_offer`] reads the answer with
//! the passenger ids an order needs.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use super::passengers::{IdentityDocument, OfferPassenger, OfferRules};
use super::{DuffelConfig, SHORT_CALL_TIMEOUT_MS};
use crate::http::{HttpRequest, Method};
use crate::money::{Currency, Money};
use crate::time::Timestamp;

/// One traveller as the order needs them. Holds personal data: its `Debug` shows only the offer
/// passenger id, the infant link and how many documents it carries, and it is never stored in
/// the saga state. [`super::passengers::assign`] pairs travellers with the offer's passengers.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPassenger {
    /// The offer's passenger id (`pas_…`).
    pub id: String,
    /// `mr|ms|mrs|miss|dr`.
    pub title: String,
    /// `m|f`.
    pub gender: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// ISO date of birth.
    pub born_on: String,
    /// Contact email.
    pub email: String,
    /// E.164 phone number.
    pub phone_number: String,
    /// On an adult: the offer passenger id of the infant on their lap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infant_passenger_id: Option<String>,
    /// Identity documents (at most one). A traveller read from the database carries their
    /// stored document here; the order body keeps it only when the offer requires documents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_documents: Vec<IdentityDocument>,
    /// The age the trip searched for (children and infants); `None` for adults. Never sent.
    #[serde(skip)]
    pub searched_age: Option<u8>,
}

impl fmt::Debug for OrderPassenger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderPassenger")
            .field("id", &self.id)
            .field("infant_passenger_id", &self.infant_passenger_id)
            .field("identity_documents", &self.identity_documents.len())
            .finish_non_exhaustive()
    }
}

/// How long the shim waits for `POST /air/orders` (airlines can be slow to ticket).
pub const ORDER_TIMEOUT_MS: u32 = 60_000;

/// `POST /air/orders`: an instant order for `offer_id`, paid from balance with exactly `amount`
/// (the re-priced total), tagged with the attempt id and the offer id (`metadata.attempt_id`,
/// `metadata.offer_id`: what a reconciliation matches each listed order on).
pub fn create_order_request(
    config: &DuffelConfig,
    offer_id: &str,
    passengers: &[OrderPassenger],
    amount: Money,
    attempt_id: &str,
) -> HttpRequest {
    let body = json!({"data": {
        "type": "instant",
        "selected_offers": [offer_id],
        "passengers": passengers,
        "payments": [{
            "type": "balance",
            "amount": amount.to_decimal_string(),
            "currency": amount.currency.code(),
        }],
        "metadata": {"attempt_id": attempt_id, "offer_id": offer_id, "source": "autobook"},
    }});
    config.request(
        Method::Post,
        "/air/orders".to_owned(),
        Some(body.to_string()),
        ORDER_TIMEOUT_MS,
    )
}

/// Orders asked for per page of a look-up (Duffel's largest `limit`).
pub const ORDER_PAGE_LIMIT: u32 = 200;

/// Longest `meta.after` cursor kept (Duffel's are opaque base64 of about 60 characters); a longer
/// one, or one with other characters than base64's, is not followed.
pub const MAX_CURSOR_LEN: usize = 512;

/// `GET /air/orders?offer_id=…&limit=200[&after=…]`: one page of the orders made from one offer,
/// for reconciliation. `after` is the previous page's `meta.after` cursor. Duffel may ignore the
/// filter: the saga matches every listed order on its metadata, never on the filter.
pub fn find_orders_request(
    config: &DuffelConfig,
    offer_id: &str,
    after: Option<&str>,
) -> HttpRequest {
    let mut path = format!(
        "/air/orders?offer_id={}&limit={ORDER_PAGE_LIMIT}",
        segment(offer_id)
    );
    if let Some(cursor) = after {
        path.push_str("&after=");
        path.push_str(&segment(cursor));
    }
    config.request(Method::Get, path, None, SHORT_CALL_TIMEOUT_MS)
}

/// Whether a `meta.after` cursor can be stored and sent back ([`MAX_CURSOR_LEN`], base64url or
/// base64 characters).
pub fn is_usable_cursor(text: &str) -> bool {
    (1..=MAX_CURSOR_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='))
}

/// The fields of a re-priced offer that booking needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedOffer {
    /// `off_…`.
    pub id: String,
    /// Total including fees.
    pub total: Money,
    /// When the offer stops being bookable.
    pub expires_at: Option<Timestamp>,
    /// The offer's passenger ids, in order.
    pub passenger_ids: Vec<String>,
    /// The offer's passengers (types, ages), whether it requires identity documents, and the
    /// date of its last flight.
    pub rules: OfferRules,
}

/// A Duffel order as the saga sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// `ord_…` (always passes [`is_valid_order_id`]: an order without a usable id is unreadable).
    pub id: String,
    /// The airline PNR as Duffel sent it: check it with [`is_valid_booking_reference`] before
    /// storing it.
    pub booking_reference: String,
    /// What the order cost.
    pub total: Money,
    /// `metadata.attempt_id`, when set.
    pub attempt_id: Option<String>,
    /// `metadata.offer_id`, when set (orders created before it was sent carry none).
    pub offer_id: Option<String>,
    /// Whether the order was cancelled.
    pub cancelled: bool,
}

/// What a Duffel answer means for a booking step.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply<T> {
    /// Success.
    Ok(T),
    /// A definite "no": the offer is gone, the price changed, no order was created. Carries
    /// Duffel's stable `code`.
    Refused(String),
    /// 429, 503, 504: nothing happened; try again later.
    Retry(u16),
    /// 500, 502 without `order_not_created`, or anything unexpected on a write: the outcome is
    /// unknown and must be reconciled.
    Unknown(u16),
}

/// Interprets `GET /air/offers/{id}`.
pub fn classify_offer(status: u16, body: &[u8]) -> Result<Reply<PricedOffer>, OrderError> {
    match status {
        200 => parse_offer(body).map(Reply::Ok),
        404 | 410 | 422 => Ok(Reply::Refused(error_code(body))),
        _ => Ok(Reply::Retry(status)),
    }
}

/// Interprets `POST /air/orders`. A 201 body that cannot be read is an unknown outcome too.
pub fn classify_create(status: u16, body: &[u8]) -> Reply<Order> {
    match status {
        200 | 201 => match parse_data::<RawOrder>(body).and_then(RawOrder::into_order) {
            Ok(order) => Reply::Ok(order),
            Err(_) => Reply::Unknown(status),
        },
        // Validation and state errors are decided before anything is booked.
        400 | 404 | 422 => match error_code(body).as_str() {
            // Someone (maybe our lost first try) already booked this offer: look it up.
            "offer_request_already_booked" => Reply::Unknown(status),
            code => Reply::Refused(code.to_owned()),
        },
        429 => Reply::Retry(status),
        _ if error_code(body) == "order_not_created" => Reply::Refused("order_not_created".into()),
        _ => Reply::Unknown(status),
    }
}

/// One page of `GET /air/orders`: the readable orders and the next page's cursor (`meta.after`,
/// `None` on the last page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderPage {
    /// The orders of this page that could be read.
    pub orders: Vec<Order>,
    /// `meta.after`: more orders follow when set.
    pub after: Option<String>,
}

/// Interprets one page of `GET /air/orders` ([`classify_find`] plus the `meta.after` cursor). A
/// body without `meta.after` (null or a string) is malformed: only Duffel's own "last page"
/// (`"after": null`) ends a look-up.
pub fn classify_find_page(status: u16, body: &[u8]) -> Result<Reply<OrderPage>, OrderError> {
    let orders = match classify_find(status, body)? {
        Reply::Ok(orders) => orders,
        Reply::Refused(code) => return Ok(Reply::Refused(code)),
        Reply::Retry(status) => return Ok(Reply::Retry(status)),
        Reply::Unknown(status) => return Ok(Reply::Unknown(status)),
    };
    let after = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match v.get("meta").and_then(|m| m.get("after")) {
            Some(serde_json::Value::Null) => Some(None),
            Some(serde_json::Value::String(text)) => Some(Some(text.clone())),
            _ => None,
        })
        .ok_or(OrderError::Malformed("meta.after"))?;
    Ok(Reply::Ok(OrderPage { orders, after }))
}

/// Interprets `GET /air/orders?offer_id=…`. An entry that cannot be read (a missing field, a bad
/// amount, an id that is not a Duffel id) is left out rather than failing the whole list: one odd
/// order of someone else's must not stop the saga from finding its own.
pub fn classify_find(status: u16, body: &[u8]) -> Result<Reply<Vec<Order>>, OrderError> {
    if status != 200 {
        return Ok(Reply::Retry(status));
    }
    let raw: Vec<serde_json::Value> = parse_data(body)?;
    Ok(Reply::Ok(
        raw.into_iter()
            .filter_map(|entry| serde_json::from_value::<RawOrder>(entry).ok())
            .filter_map(|entry| entry.into_order().ok())
            .collect(),
    ))
}

/// Whether `text` fits the database's `bookings_booking_reference_format` rule
/// (`^[A-Za-z0-9]{1,32}$`, `supabase/migrations/20261123000200_booking_attempts.sql`).
pub fn is_valid_booking_reference(text: &str) -> bool {
    (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `text` can be an order id the saga stores and the database records
/// (`provider_order_id` is 1 to 255 characters; Duffel's are `ord_` and letters and digits).
pub fn is_valid_order_id(text: &str) -> bool {
    (1..=255).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_offer(body: &[u8]) -> Result<PricedOffer, OrderError> {
    #[derive(Deserialize)]
    struct RawOffer {
        id: String,
        total_amount: String,
        total_currency: String,
        expires_at: Option<String>,
        #[serde(default)]
        passengers: Vec<OfferPassenger>,
        #[serde(default)]
        passenger_identity_documents_required: Option<bool>,
        #[serde(default)]
        supported_passenger_identity_document_types: Option<Vec<String>>,
        #[serde(default)]
        slices: Vec<RawSlice>,
    }
    #[derive(Deserialize)]
    struct RawSlice {
        #[serde(default)]
        segments: Vec<RawSegment>,
    }
    #[derive(Deserialize)]
    struct RawSegment {
        #[serde(default)]
        departing_at: Option<String>,
    }
    let raw: RawOffer = parse_data(body)?;
    let total = money(&raw.total_amount, &raw.total_currency)?;
    let expires_at = match raw.expires_at {
        Some(text) => {
            Some(Timestamp::parse_rfc3339(&text).ok_or(OrderError::Malformed("expires_at"))?)
        }
        None => None,
    };
    // The latest local departure date of any segment (`YYYY-MM-DDTHH:MM:SS`).
    let last_travel_date = raw
        .slices
        .iter()
        .flat_map(|s| &s.segments)
        .filter_map(|s| s.departing_at.as_deref())
        .filter_map(|t| crate::trip::parse_iso_date(t.get(..10)?))
        .max();
    Ok(PricedOffer {
        id: raw.id,
        total,
        expires_at,
        passenger_ids: raw.passengers.iter().map(|p| p.id.clone()).collect(),
        rules: OfferRules {
            passengers: raw.passengers,
            documents_required: raw.passenger_identity_documents_required.unwrap_or(false),
            document_types: raw
                .supported_passenger_identity_document_types
                .unwrap_or_default(),
            last_travel_date,
        },
    })
}

#[derive(Deserialize)]
struct RawOrder {
    id: String,
    booking_reference: String,
    total_amount: String,
    total_currency: String,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    cancelled_at: Option<String>,
}

impl RawOrder {
    fn into_order(self) -> Result<Order, OrderError> {
        if !is_valid_order_id(&self.id) {
            return Err(OrderError::Malformed("id"));
        }
        let meta = |key: &str| {
            self.metadata
                .as_ref()
                .and_then(|m| m.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let attempt_id = meta("attempt_id");
        let offer_id = meta("offer_id");
        Ok(Order {
            total: money(&self.total_amount, &self.total_currency)?,
            id: self.id,
            booking_reference: self.booking_reference,
            attempt_id,
            offer_id,
            cancelled: self.cancelled_at.is_some(),
        })
    }
}

fn parse_data<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, OrderError> {
    #[derive(Deserialize)]
    struct Data<T> {
        data: T,
    }
    serde_json::from_slice::<Data<T>>(body)
        .map(|d| d.data)
        .map_err(|_| OrderError::Malformed("data"))
}

fn money(amount: &str, currency: &str) -> Result<Money, OrderError> {
    let currency = Currency::parse(currency).map_err(|_| OrderError::Malformed("currency"))?;
    Money::parse_decimal(amount, currency).map_err(|_| OrderError::Malformed("amount"))
}

/// Duffel's stable `errors[0].code`, or `unknown`.
fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Duffel ids are `[a-z]{3}_[A-Za-z0-9]+`; anything else is escaped so it cannot alter the path.
fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Why a Duffel booking response could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OrderError {
    /// The body lacks a field or holds a bad amount, currency or time.
    #[error("malformed duffel response: {0}")]
    Malformed(&'static str),
}

impl OrderError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "provider_bad_response",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: i64, code: &str) -> Money {
        Money::from_minor(minor, Currency::parse(code).unwrap()).unwrap()
    }

    fn passenger() -> OrderPassenger {
        OrderPassenger {
            id: "pas_1".into(),
            title: "ms".into(),
            gender: "f".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            born_on: "1990-12-10".into(),
            email: "ada@example.com".into(),
            phone_number: "+442080160509".into(),
            ..OrderPassenger::default()
        }
    }

    fn config() -> DuffelConfig {
        DuffelConfig::default()
    }

    fn body_json(req: &HttpRequest) -> serde_json::Value {
        serde_json::from_str(req.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn order_body_pays_the_exact_total_with_the_currency_exponent() {
        for (minor, code, text) in [
            (22178, "GBP", "221.78"),
            (22100, "GBP", "221.00"),
            (150000, "JPY", "150000"),
            (12345, "KWD", "12.345"),
        ] {
            let req = create_order_request(
                &config(),
                "off_1",
                &[passenger()],
                money(minor, code),
                "att_1",
            );
            assert_eq!(req.method, Method::Post);
            assert_eq!(req.path, "/air/orders");
            assert_eq!(req.header("Duffel-Version"), Some("v2"));
            assert_eq!(req.header("Content-Type"), Some("application/json"));
            let body = body_json(&req);
            assert_eq!(
                body["data"]["payments"],
                json!([{"type": "balance", "amount": text, "currency": code}])
            );
        }
    }

    #[test]
    fn order_body_is_instant_with_one_offer_and_the_attempt_metadata() {
        let req = create_order_request(
            &config(),
            "off_1",
            &[passenger()],
            money(100, "GBP"),
            "att_1",
        );
        let data = &body_json(&req)["data"];
        assert_eq!(data["type"], "instant");
        assert_eq!(data["selected_offers"], json!(["off_1"]));
        assert_eq!(data["metadata"]["attempt_id"], "att_1");
        assert_eq!(data["metadata"]["offer_id"], "off_1");
        assert_eq!(data["passengers"][0]["id"], "pas_1");
        assert_eq!(data["passengers"][0]["born_on"], "1990-12-10");
        assert!(data["passengers"][0].get("type").is_none());
    }

    const FAMILY_OFFER: &str = r#"{"data":{"id":"off_f","total_amount":"900.00",
        "total_currency":"GBP","expires_at":null,
        "passenger_identity_documents_required":true,
        "supported_passenger_identity_document_types":["passport"],
        "passengers":[{"id":"pas_a","type":"adult","age":null},
                      {"id":"pas_i","type":"infant_without_seat","age":1}],
        "slices":[{"segments":[{"departing_at":"2030-01-02T09:00:00"}]},
                  {"segments":[{"departing_at":"2030-01-09T21:00:00"},
                               {"departing_at":"2030-01-10T07:00:00"}]}]}}"#;

    #[test]
    fn a_family_order_links_the_infant_and_sends_documents() {
        use crate::duffel::passengers::{assign, IdentityDocument};
        let Reply::Ok(offer) = classify_offer(200, FAMILY_OFFER.as_bytes()).unwrap() else {
            panic!("expected an offer");
        };
        assert!(offer.rules.documents_required);
        assert_eq!(offer.rules.document_types, ["passport"]);
        assert_eq!(
            offer
                .rules
                .last_travel_date
                .map(|d| d.to_string())
                .as_deref(),
            Some("2030-01-10")
        );
        let doc = |number: &str| IdentityDocument {
            kind: "passport".into(),
            unique_identifier: number.into(),
            issuing_country_code: "GB".into(),
            expires_on: chrono::NaiveDate::from_ymd_opt(2031, 4, 25).unwrap(),
        };
        let adult = OrderPassenger {
            identity_documents: vec![doc("19KL56147")],
            ..passenger()
        };
        let infant = OrderPassenger {
            given_name: "Baby".into(),
            born_on: "2029-03-01".into(),
            identity_documents: vec![doc("20XX00001")],
            searched_age: Some(1),
            ..passenger()
        };
        let passengers = assign(&[adult, infant], &offer.rules).unwrap();
        let req = create_order_request(
            &config(),
            "off_f",
            &passengers,
            money(90000, "GBP"),
            "att_1",
        );
        let data = &body_json(&req)["data"];
        assert_eq!(data["passengers"][0]["id"], "pas_a");
        assert_eq!(data["passengers"][0]["infant_passenger_id"], "pas_i");
        assert_eq!(
            data["passengers"][0]["identity_documents"],
            json!([{"type": "passport", "unique_identifier": "19KL56147",
                "issuing_country_code": "GB", "expires_on": "2031-04-25"}])
        );
        assert_eq!(data["passengers"][1]["id"], "pas_i");
        assert_eq!(data["passengers"][1]["given_name"], "Baby");
        assert!(data["passengers"][1].get("infant_passenger_id").is_none());
        assert_eq!(
            data["passengers"][1]["identity_documents"][0]["unique_identifier"],
            "20XX00001"
        );
        assert!(data["passengers"][1].get("searched_age").is_none());
        // The stored document stays out of an order that does not require it, and a single
        // adult carries no infant link.
        let req = create_order_request(
            &config(),
            "off_1",
            &[passenger()],
            money(100, "GBP"),
            "att_1",
        );
        let p = &body_json(&req)["data"]["passengers"][0];
        assert!(p.get("identity_documents").is_none() && p.get("infant_passenger_id").is_none());
        let text = format!("{:?}", passengers[0]);
        assert!(!text.contains("19KL") && !text.contains("2031"));
    }

    #[test]
    fn passenger_debug_hides_personal_data() {
        let text = format!("{:?}", passenger());
        assert!(text.contains("pas_1"));
        assert!(!text.contains("Ada") && !text.contains("1990") && !text.contains("example"));
    }

    #[test]
    fn lookups_escape_ids() {
        let req = find_orders_request(&config(), "off_1&x=1", None);
        assert_eq!(req.path, "/air/orders?offer_id=off_1%26x%3D1&limit=200");
        assert_eq!(req.method, Method::Get);
        assert!(req.body.is_none());
        let next = find_orders_request(&config(), "off_1", Some("g2w+AA/B="));
        assert_eq!(
            next.path,
            "/air/orders?offer_id=off_1&limit=200&after=g2w%2BAA%2FB%3D"
        );
    }

    #[test]
    fn a_page_of_orders_carries_the_next_cursor() {
        let page = |meta: &str| format!(r#"{{"data":[{}],{meta}}}"#, &ORDER[8..ORDER.len() - 1]);
        let Ok(Reply::Ok(last)) =
            classify_find_page(200, page(r#""meta":{"after":null}"#).as_bytes())
        else {
            panic!("expected a page");
        };
        assert_eq!(last.after, None);
        assert_eq!(last.orders.len(), 1);
        assert_eq!(last.orders[0].offer_id, None);
        let more = classify_find_page(200, page(r#""meta":{"limit":1,"after":"g2wA"}"#).as_bytes());
        assert!(matches!(more, Ok(Reply::Ok(OrderPage { after: Some(ref c), .. })) if c == "g2wA"));
        // Without Duffel's `meta.after` nobody can tell whether more orders follow.
        assert!(classify_find_page(200, br#"{"data":[]}"#).is_err());
        assert!(classify_find_page(200, br#"{"data":[],"meta":{"after":7}}"#).is_err());
        assert_eq!(classify_find_page(503, b"").unwrap(), Reply::Retry(503));
        assert!(is_usable_cursor(
            "g2wAAAACbQAAABBBZXJvbWlzdC1LaGFya2l2bQAAAB="
        ));
        assert!(
            !is_usable_cursor("")
                && !is_usable_cursor("a&b")
                && !is_usable_cursor(&"a".repeat(513))
        );
    }

    const OFFER: &str = r#"{"data":{"id":"off_1","total_amount":"221.78","total_currency":"GBP",
        "expires_at":"2026-10-01T10:42:14.545Z","passengers":[{"id":"pas_1","type":"adult"}]}}"#;

    #[test]
    fn reads_a_repriced_offer() {
        let Reply::Ok(offer) = classify_offer(200, OFFER.as_bytes()).unwrap() else {
            panic!("expected an offer");
        };
        assert_eq!(offer.total, money(22178, "GBP"));
        assert_eq!(offer.passenger_ids, ["pas_1"]);
        assert_eq!(
            offer.expires_at.unwrap().to_rfc3339(),
            "2026-10-01T10:42:14.545Z"
        );
        let gone =
            br#"{"errors":[{"type":"invalid_state_error","code":"offer_no_longer_available"}]}"#;
        assert_eq!(
            classify_offer(422, gone).unwrap(),
            Reply::Refused("offer_no_longer_available".into())
        );
        assert_eq!(classify_offer(503, b"").unwrap(), Reply::Retry(503));
        assert!(classify_offer(200, br#"{"data":{"id":"off_1"}}"#).is_err());
    }

    const ORDER: &str = r#"{"data":{"id":"ord_1","booking_reference":"RZPVQC",
        "total_amount":"221.78","total_currency":"GBP","metadata":{"attempt_id":"att_1"},
        "cancelled_at":null}}"#;

    #[test]
    fn order_outcomes_separate_refusals_from_unknowns() {
        let Reply::Ok(order) = classify_create(201, ORDER.as_bytes()) else {
            panic!("expected an order");
        };
        assert_eq!(order.attempt_id.as_deref(), Some("att_1"));
        assert_eq!(order.total, money(22178, "GBP"));
        assert!(!order.cancelled);
        let err = |code: &str| format!(r#"{{"errors":[{{"code":"{code}"}}]}}"#).into_bytes();
        assert_eq!(
            classify_create(422, &err("price_changed")),
            Reply::Refused("price_changed".into())
        );
        assert_eq!(
            classify_create(502, &err("order_not_created")),
            Reply::Refused("order_not_created".into())
        );
        // An airline error may still hide an order: reconcile first.
        assert_eq!(
            classify_create(502, &err("airline_unknown")),
            Reply::Unknown(502)
        );
        assert_eq!(classify_create(500, b""), Reply::Unknown(500));
        assert_eq!(classify_create(201, b"{"), Reply::Unknown(201));
        assert_eq!(
            classify_create(422, &err("offer_request_already_booked")),
            Reply::Unknown(422)
        );
        assert_eq!(classify_create(429, b""), Reply::Retry(429));
    }

    #[test]
    fn reads_order_lists() {
        let list = format!(
            r#"{{"data":[{}],"meta":{{"after":null}}}}"#,
            &ORDER[8..ORDER.len() - 1]
        );
        let Reply::Ok(orders) = classify_find(200, list.as_bytes()).unwrap() else {
            panic!("expected orders");
        };
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].booking_reference, "RZPVQC");
        assert_eq!(classify_find(504, b"").unwrap(), Reply::Retry(504));
    }

    #[test]
    fn an_odd_order_in_a_list_is_skipped_not_fatal() {
        let ours = &ORDER[8..ORDER.len() - 1];
        let list = format!(
            r#"{{"data":[{{"id":"ord_x","total_amount":"abc"}},
            {{"id":"ord/../x","booking_reference":"A","total_amount":"1.00","total_currency":"GBP"}},
            {ours}]}}"#
        );
        let Reply::Ok(orders) = classify_find(200, list.as_bytes()).unwrap() else {
            panic!("expected orders");
        };
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].id, "ord_1");
        assert!(classify_find(200, b"{").is_err());
    }

    #[test]
    fn booking_references_follow_the_database_rule() {
        for ok in ["RZPVQC", "abc123", "A", &"Z".repeat(32)] {
            assert!(is_valid_booking_reference(ok), "{ok:?}");
        }
        for bad in [
            "",
            "AB-123",
            "AB 123",
            " ABC123",
            "ÅBC123",
            "ABC123\n",
            "x'; drop table bookings;--",
            &"Z".repeat(33),
        ] {
            assert!(!is_valid_booking_reference(bad), "{bad:?}");
        }
        assert!(is_valid_order_id("ord_0000AgX1"));
        assert!(!is_valid_order_id("ord_1/../x"));
        assert!(!is_valid_order_id(""));
        assert!(!is_valid_order_id(&"o".repeat(256)));
        let long = format!(
            r#"{{"data":{}}}"#,
            ORDER[8..ORDER.len() - 1].replace("ord_1", "ord 1")
        );
        assert_eq!(classify_create(201, long.as_bytes()), Reply::Unknown(201));
    }
}
