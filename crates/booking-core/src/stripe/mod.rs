//! Stripe PaymentIntents for off-session, authorize-then-capture payments: request building and
//! response/error parsing (wire format: `reference/contracts-providers.md` §2).
//!
//! Every write carries an `Idempotency-Key` derived from the booking attempt id
//! (`<attempt>-authorize`, `<attempt>-capture`, `<attempt>-cancel`), so a retry after a lost
//! response replays Stripe's first answer instead of charging twice. Requests are absolute
//! descriptions for [`Service::Stripe`]: the executor adds the base URL and the secret key, the
//! core pins [`API_VERSION`].
//!
//! Amounts go through one conversion, [`to_stripe_amount`]: Stripe's unit is the ISO minor unit
//! for most currencies (`22178` for GBP 221.78, `1500` for JPY 1500) but not for ISK (two-decimal
//! in Stripe) and MGA (zero-decimal in Stripe), and three-decimal amounts must end in 0. An amount
//! Stripe cannot charge exactly is refused ([`StripeError::AmountNotChargeable`],
//! [`StripeError::CurrencyNotSupported`]) rather than rounded. See [`amount`].

pub mod amount;
pub mod cards;
mod form;
mod reply;
pub mod webhook;

pub use amount::{is_same_amount, to_stripe_amount};
pub use form::encode as form_encode;
pub use reply::{classify, parse_search, IntentStatus, PaymentIntent, StripeReply};

use thiserror::Error;

use crate::http::{HttpRequest, Method, Service};
use crate::money::Money;

/// The content type of every Stripe request body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The Stripe API version every request pins (`Stripe-Version`): the shapes the reply parsers read are
/// this version's, so a change of the account's default version cannot change them silently.
pub const API_VERSION: &str = "2025-09-30.clover";
/// How long the shim waits for a Stripe answer before reporting a timeout.
pub const TIMEOUT_MS: u32 = 30_000;

/// What an authorization needs: the re-priced total and the traveller's saved Stripe objects.
#[derive(Clone, Copy, Debug)]
pub struct Authorize<'a> {
    /// The attempt id: the idempotency-key root and the `metadata[attempt_id]` value.
    pub attempt_id: &'a str,
    /// The trip id, also sent as metadata for operators.
    pub trip_id: &'a str,
    /// Amount to hold.
    pub amount: Money,
    /// Stripe customer id (`cus_…`).
    pub customer: &'a str,
    /// Saved payment method id (`pm_…`).
    pub payment_method: &'a str,
}

/// `POST /v1/payment_intents`: create and confirm an off-session PaymentIntent that only holds
/// the funds (`capture_method=manual`).
pub fn authorize_request(params: &Authorize<'_>) -> Result<HttpRequest, StripeError> {
    let amount = chargeable_amount(params.amount)?;
    let currency = params.amount.currency.code().to_ascii_lowercase();
    let body = form_encode(&[
        ("amount", &amount),
        ("currency", &currency),
        ("customer", params.customer),
        ("payment_method", params.payment_method),
        ("payment_method_types[]", "card"),
        ("capture_method", "manual"),
        ("confirm", "true"),
        ("off_session", "true"),
        ("metadata[attempt_id]", params.attempt_id),
        ("metadata[trip_id]", params.trip_id),
    ]);
    Ok(post(
        "/v1/payment_intents",
        &format!("{}-authorize", params.attempt_id),
        body,
    ))
}

/// The idempotency key of a capture or cancel: `<attempt>-<step>` first, `<attempt>-<step>-<n>`
/// for generation `n - 1 ≥ 1`. A new generation is only used after a retrieve showed the intent
/// still waiting, because Stripe replays a stored 500 for the old key for 24 hours.
pub fn step_key(attempt_id: &str, step: &str, generation: u32) -> String {
    if generation == 0 {
        format!("{attempt_id}-{step}")
    } else {
        format!("{attempt_id}-{step}-{}", generation + 1)
    }
}

/// `POST /v1/payment_intents/{id}/capture` for exactly `amount` (which must not exceed the hold).
pub fn capture_request(
    attempt_id: &str,
    payment_intent_id: &str,
    amount: Money,
    generation: u32,
) -> Result<HttpRequest, StripeError> {
    let amount = chargeable_amount(amount)?;
    Ok(post(
        &format!(
            "/v1/payment_intents/{}/capture",
            path_segment(payment_intent_id)
        ),
        &step_key(attempt_id, "capture", generation),
        form_encode(&[("amount_to_capture", &amount)]),
    ))
}

/// `POST /v1/payment_intents/{id}/cancel`: releases an uncaptured hold.
pub fn cancel_request(attempt_id: &str, payment_intent_id: &str, generation: u32) -> HttpRequest {
    post(
        &format!(
            "/v1/payment_intents/{}/cancel",
            path_segment(payment_intent_id)
        ),
        &step_key(attempt_id, "cancel", generation),
        form_encode(&[("cancellation_reason", "abandoned")]),
    )
}

/// `GET /v1/payment_intents/{id}`: the intent's current state, to reconcile a capture or cancel
/// whose answers keep failing.
pub fn retrieve_request(payment_intent_id: &str) -> HttpRequest {
    get(format!(
        "/v1/payment_intents/{}",
        path_segment(payment_intent_id)
    ))
}

/// `GET /v1/payment_intents/search?query=metadata['attempt_id']:'<attempt>'`: finds the
/// PaymentIntents an attempt created when the authorization's outcome was never learnt.
pub fn search_by_attempt_request(attempt_id: &str) -> HttpRequest {
    let query = format!("metadata['attempt_id']:'{attempt_id}'");
    get(format!(
        "/v1/payment_intents/search?{}",
        form_encode(&[("query", &query)])
    ))
}

/// The amount as Stripe's form parameter ([`to_stripe_amount`] as text), or an error when Stripe
/// cannot charge it exactly.
pub fn chargeable_amount(amount: Money) -> Result<String, StripeError> {
    to_stripe_amount(amount).map(|a| a.to_string())
}

fn post(path: &str, idempotency_key: &str, body: String) -> HttpRequest {
    let mut req = get(path.to_owned());
    req.method = Method::Post;
    req.headers.extend([
        ("Content-Type".to_owned(), FORM_CONTENT_TYPE.to_owned()),
        ("Idempotency-Key".to_owned(), idempotency_key.to_owned()),
    ]);
    req.body = Some(body);
    req
}

fn get(path: String) -> HttpRequest {
    let mut req = HttpRequest::new(Service::Stripe, Method::Get, path, TIMEOUT_MS);
    req.headers
        .push(("Stripe-Version".to_owned(), API_VERSION.to_owned()));
    req
}

/// Provider ids are `[A-Za-z0-9_]`; anything else is escaped so an id can never change the path.
fn path_segment(id: &str) -> String {
    form_encode(&[("", id)])[1..].to_owned()
}

/// Why a Stripe request could not be built or a response not understood.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StripeError {
    /// Zero, negative, an MGA amount with a fraction, or a three-decimal amount whose last digit
    /// is not 0.
    #[error("amount cannot be charged exactly by stripe")]
    AmountNotChargeable,
    /// A currency Stripe does not charge (exponent 4 such as CLF, or IQD, LYD).
    #[error("currency cannot be charged by stripe")]
    CurrencyNotSupported,
    /// The body is not the JSON Stripe documents.
    #[error("malformed stripe response: {0}")]
    MalformedResponse(&'static str),
}

impl StripeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AmountNotChargeable => "amount_not_chargeable",
            Self::CurrencyNotSupported => "currency_not_supported",
            Self::MalformedResponse(_) => "provider_bad_response",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn money(minor: i64, code: &str) -> Money {
        Money::from_minor(minor, Currency::parse(code).unwrap()).unwrap()
    }

    fn authorize(amount: Money) -> Result<HttpRequest, StripeError> {
        authorize_request(&Authorize {
            attempt_id: "att_1",
            trip_id: "trip_1",
            amount,
            customer: "cus_123",
            payment_method: "pm_123",
        })
    }

    fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
        req.header(name)
    }

    #[test]
    fn authorize_is_a_manual_capture_off_session_confirm_with_attempt_metadata() {
        let req = authorize(money(22178, "GBP")).unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.service, Service::Stripe);
        assert_eq!(req.path, "/v1/payment_intents");
        assert_eq!(
            header(&req, "Authorization"),
            None,
            "the executor adds the key"
        );
        assert_eq!(header(&req, "Stripe-Version"), Some(API_VERSION));
        assert_eq!(header(&req, "Idempotency-Key"), Some("att_1-authorize"));
        assert_eq!(header(&req, "Content-Type"), Some(FORM_CONTENT_TYPE));
        assert_eq!(
            req.body.as_deref(),
            Some(
                "amount=22178&currency=gbp&customer=cus_123&payment_method=pm_123\
                 &payment_method_types[]=card&capture_method=manual&confirm=true\
                 &off_session=true&metadata[attempt_id]=att_1&metadata[trip_id]=trip_1"
            )
        );
    }

    #[test]
    fn amounts_use_the_currency_exponent() {
        let body = |m| authorize(m).unwrap().body.unwrap();
        assert!(body(money(1500, "JPY")).starts_with("amount=1500&currency=jpy&"));
        assert!(body(money(42000, "GBP")).starts_with("amount=42000&currency=gbp&"));
        assert!(body(money(12340, "KWD")).starts_with("amount=12340&currency=kwd&"));
        // Stripe units, not ISO minor units: ISK is two-decimal in Stripe, MGA zero-decimal.
        assert!(body(money(45_000, "ISK")).starts_with("amount=4500000&currency=isk&"));
        assert!(body(money(150_000, "MGA")).starts_with("amount=1500&currency=mga&"));
        assert_eq!(
            authorize(money(10_000, "CLF")).unwrap_err().code(),
            "currency_not_supported"
        );
        let cap = capture_request("a", "pi_1", money(45_000, "ISK"), 0).unwrap();
        assert_eq!(cap.body.as_deref(), Some("amount_to_capture=4500000"));
        let cap = capture_request("a", "pi_1", money(150_000, "MGA"), 0).unwrap();
        assert_eq!(cap.body.as_deref(), Some("amount_to_capture=1500"));
    }

    #[test]
    fn three_decimal_amounts_stripe_cannot_charge_are_refused_not_rounded() {
        assert_eq!(
            authorize(money(12345, "KWD")).unwrap_err().code(),
            "amount_not_chargeable"
        );
        assert!(authorize(money(0, "GBP")).is_err());
        assert!(capture_request("a", "pi_1", money(12345, "KWD"), 0).is_err());
    }

    #[test]
    fn capture_and_cancel_have_their_own_keys() {
        let cap = capture_request("att_1", "pi_9", money(1500, "JPY"), 0).unwrap();
        assert_eq!(cap.path, "/v1/payment_intents/pi_9/capture");
        assert_eq!(header(&cap, "Idempotency-Key"), Some("att_1-capture"));
        assert_eq!(cap.body.as_deref(), Some("amount_to_capture=1500"));
        let cancel = cancel_request("att_1", "pi_9", 0);
        assert_eq!(cancel.path, "/v1/payment_intents/pi_9/cancel");
        assert_eq!(header(&cancel, "Idempotency-Key"), Some("att_1-cancel"));
        let again = cancel_request("att_1", "pi_9", 1);
        assert_eq!(header(&again, "Idempotency-Key"), Some("att_1-cancel-2"));
        let get = retrieve_request("pi_9");
        assert_eq!(
            (get.method, get.path.as_str()),
            (Method::Get, "/v1/payment_intents/pi_9")
        );
        assert!(get.header("Idempotency-Key").is_none());
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        let cancel = cancel_request("a", "pi_1/../../v1/refunds", 0);
        assert_eq!(
            cancel.path,
            "/v1/payment_intents/pi_1%2F..%2F..%2Fv1%2Frefunds/cancel"
        );
    }

    #[test]
    fn every_request_pins_the_api_version_and_carries_no_credential() {
        let reqs = [
            authorize(money(1500, "JPY")).unwrap(),
            capture_request("a", "pi_1", money(1500, "JPY"), 0).unwrap(),
            cancel_request("a", "pi_1", 0),
            retrieve_request("pi_1"),
            search_by_attempt_request("a"),
        ];
        for req in reqs {
            assert_eq!(req.header("Stripe-Version"), Some(API_VERSION), "{req:?}");
            assert!(req.header("Authorization").is_none(), "{req:?}");
            assert_eq!(req.service, Service::Stripe);
        }
    }

    #[test]
    fn search_query_is_encoded() {
        let req = search_by_attempt_request("att_1");
        assert_eq!(req.method, Method::Get);
        assert_eq!(
            req.path,
            "/v1/payment_intents/search?query=metadata%5B%27attempt_id%27%5D%3A%27att_1%27"
        );
    }
}
