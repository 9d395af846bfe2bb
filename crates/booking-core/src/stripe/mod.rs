//! Stripe PaymentIntents for off-session, authorize-then-capture payments: request building and
//! response/error parsing (wire format: `reference/contracts-providers.md` §2).
//!
//! Every write carries an `Idempotency-Key` derived from the booking attempt id
//! (`<attempt>-authorize`, `<attempt>-capture`, `<attempt>-cancel`), so a retry after a lost
//! response replays Stripe's first answer instead of charging twice. Requests are absolute
//! descriptions built from a [`StripeConfig`] (base URL and secret key).
//!
//! Amounts go through one conversion, [`to_stripe_amount`]: Stripe's unit is the ISO minor unit
//! for most currencies (`22178` for GBP 221.78, `1500` for JPY 1500) but not for ISK (two-decimal
//! in Stripe) and MGA (zero-decimal in Stripe), and three-decimal amounts must end in 0. An amount
//! Stripe cannot charge exactly is refused ([`StripeError::AmountNotChargeable`],
//! [`StripeError::CurrencyNotSupported`]) rather than rounded. See [`amount`].

pub mod amount;
mod form;
mod reply;

pub use amount::{is_same_amount, to_stripe_amount};
pub use form::encode as form_encode;
pub use reply::{classify, parse_search, IntentStatus, PaymentIntent, StripeReply};

use std::fmt;

use thiserror::Error;

use crate::http::{HttpRequest, Method};
use crate::money::Money;

/// The content type of every Stripe request body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Production base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// How long the shim waits for a Stripe answer before reporting a timeout.
pub const TIMEOUT_MS: u32 = 30_000;

/// How to reach Stripe. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    base_url: String,
    secret_key: String,
}

impl StripeConfig {
    /// Validates and builds a configuration; a trailing `/` on the base URL is dropped.
    pub fn new(base_url: &str, secret_key: &str) -> Result<Self, StripeError> {
        let base = base_url.trim_end_matches('/');
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or(StripeError::InvalidConfig)?;
        let url_ok = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_graphic() && b != b'?');
        let key_ok = !secret_key.is_empty()
            && secret_key.len() <= 256
            && secret_key.bytes().all(|b| b.is_ascii_graphic());
        if !url_ok || !key_ok {
            return Err(StripeError::InvalidConfig);
        }
        Ok(Self {
            base_url: base.to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    /// Base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

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
pub fn authorize_request(
    config: &StripeConfig,
    params: &Authorize<'_>,
) -> Result<HttpRequest, StripeError> {
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
        config,
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
    config: &StripeConfig,
    attempt_id: &str,
    payment_intent_id: &str,
    amount: Money,
    generation: u32,
) -> Result<HttpRequest, StripeError> {
    let amount = chargeable_amount(amount)?;
    Ok(post(
        config,
        &format!(
            "/v1/payment_intents/{}/capture",
            path_segment(payment_intent_id)
        ),
        &step_key(attempt_id, "capture", generation),
        form_encode(&[("amount_to_capture", &amount)]),
    ))
}

/// `POST /v1/payment_intents/{id}/cancel`: releases an uncaptured hold.
pub fn cancel_request(
    config: &StripeConfig,
    attempt_id: &str,
    payment_intent_id: &str,
    generation: u32,
) -> HttpRequest {
    post(
        config,
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
pub fn retrieve_request(config: &StripeConfig, payment_intent_id: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        url: format!(
            "{}/v1/payment_intents/{}",
            config.base_url,
            path_segment(payment_intent_id)
        ),
        headers: vec![auth(config)],
        body: None,
        timeout_ms: TIMEOUT_MS,
    }
}

/// `GET /v1/payment_intents/search?query=metadata['attempt_id']:'<attempt>'`: finds the
/// PaymentIntents an attempt created when the authorization's outcome was never learnt.
pub fn search_by_attempt_request(config: &StripeConfig, attempt_id: &str) -> HttpRequest {
    let query = format!("metadata['attempt_id']:'{attempt_id}'");
    HttpRequest {
        method: Method::Get,
        url: format!(
            "{}/v1/payment_intents/search?{}",
            config.base_url,
            form_encode(&[("query", &query)])
        ),
        headers: vec![auth(config)],
        body: None,
        timeout_ms: TIMEOUT_MS,
    }
}

/// The amount as Stripe's form parameter ([`to_stripe_amount`] as text), or an error when Stripe
/// cannot charge it exactly.
pub fn chargeable_amount(amount: Money) -> Result<String, StripeError> {
    to_stripe_amount(amount).map(|a| a.to_string())
}

fn post(config: &StripeConfig, path: &str, idempotency_key: &str, body: String) -> HttpRequest {
    HttpRequest {
        method: Method::Post,
        url: format!("{}{path}", config.base_url),
        headers: vec![
            auth(config),
            ("Content-Type".to_owned(), FORM_CONTENT_TYPE.to_owned()),
            ("Idempotency-Key".to_owned(), idempotency_key.to_owned()),
        ],
        body: Some(body),
        timeout_ms: TIMEOUT_MS,
    }
}

fn auth(config: &StripeConfig) -> (String, String) {
    (
        "Authorization".to_owned(),
        format!("Bearer {}", config.secret_key),
    )
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
    /// The base URL is not http(s) or the secret key is empty or not header-safe.
    #[error("stripe base url or secret key unusable")]
    InvalidConfig,
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
            Self::InvalidConfig => "invalid_config",
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

    fn config() -> StripeConfig {
        StripeConfig::new("http://127.0.0.1:54392/", "sk_test_123").unwrap()
    }

    fn authorize(amount: Money) -> Result<HttpRequest, StripeError> {
        authorize_request(
            &config(),
            &Authorize {
                attempt_id: "att_1",
                trip_id: "trip_1",
                amount,
                customer: "cus_123",
                payment_method: "pm_123",
            },
        )
    }

    fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
        req.header(name)
    }

    #[test]
    fn authorize_is_a_manual_capture_off_session_confirm_with_attempt_metadata() {
        let req = authorize(money(22178, "GBP")).unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.url, "http://127.0.0.1:54392/v1/payment_intents");
        assert_eq!(header(&req, "Authorization"), Some("Bearer sk_test_123"));
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
        let cap = capture_request(&config(), "a", "pi_1", money(45_000, "ISK"), 0).unwrap();
        assert_eq!(cap.body.as_deref(), Some("amount_to_capture=4500000"));
        let cap = capture_request(&config(), "a", "pi_1", money(150_000, "MGA"), 0).unwrap();
        assert_eq!(cap.body.as_deref(), Some("amount_to_capture=1500"));
    }

    #[test]
    fn three_decimal_amounts_stripe_cannot_charge_are_refused_not_rounded() {
        assert_eq!(
            authorize(money(12345, "KWD")).unwrap_err().code(),
            "amount_not_chargeable"
        );
        assert!(authorize(money(0, "GBP")).is_err());
        assert!(capture_request(&config(), "a", "pi_1", money(12345, "KWD"), 0).is_err());
    }

    #[test]
    fn capture_and_cancel_have_their_own_keys() {
        let cap = capture_request(&config(), "att_1", "pi_9", money(1500, "JPY"), 0).unwrap();
        assert_eq!(
            cap.url,
            "http://127.0.0.1:54392/v1/payment_intents/pi_9/capture"
        );
        assert_eq!(header(&cap, "Idempotency-Key"), Some("att_1-capture"));
        assert_eq!(cap.body.as_deref(), Some("amount_to_capture=1500"));
        let cancel = cancel_request(&config(), "att_1", "pi_9", 0);
        assert_eq!(
            cancel.url,
            "http://127.0.0.1:54392/v1/payment_intents/pi_9/cancel"
        );
        assert_eq!(header(&cancel, "Idempotency-Key"), Some("att_1-cancel"));
        let again = cancel_request(&config(), "att_1", "pi_9", 1);
        assert_eq!(header(&again, "Idempotency-Key"), Some("att_1-cancel-2"));
        let get = retrieve_request(&config(), "pi_9");
        assert_eq!(
            (get.method, get.url.as_str()),
            (
                Method::Get,
                "http://127.0.0.1:54392/v1/payment_intents/pi_9"
            )
        );
        assert!(get.header("Idempotency-Key").is_none());
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        let cancel = cancel_request(&config(), "a", "pi_1/../../v1/refunds", 0);
        assert_eq!(
            cancel.url,
            "http://127.0.0.1:54392/v1/payment_intents/pi_1%2F..%2F..%2Fv1%2Frefunds/cancel"
        );
    }

    #[test]
    fn config_is_validated_and_hides_the_key() {
        assert!(StripeConfig::new("ftp://x", "sk").is_err());
        assert!(StripeConfig::new("https://api.stripe.com", "").is_err());
        assert!(StripeConfig::new("https://api.stripe.com", "sk\r\nX: 1").is_err());
        assert!(!format!("{:?}", config()).contains("sk_test_123"));
        assert_eq!(config().base_url(), "http://127.0.0.1:54392");
    }

    #[test]
    fn search_query_is_encoded() {
        let req = search_by_attempt_request(&config(), "att_1");
        assert_eq!(req.method, Method::Get);
        assert_eq!(
            req.url,
            "http://127.0.0.1:54392/v1/payment_intents/search?query=metadata%5B%27attempt_id%27%5D%3A%27att_1%27"
        );
    }
}
