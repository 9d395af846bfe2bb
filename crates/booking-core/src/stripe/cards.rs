//! Saving cards for off-session use: Stripe customers, SetupIntents and payment methods
//! (wire format: `reference/contracts-webhooks-setup.md` §2). Request building and response
//! parsing only; the `payment-methods` driver ([`crate::payment_methods`]) decides the order.
//!
//! Writes carry an `Idempotency-Key` derived from durable state: the customer's from the owner
//! id (the `payment_profiles` row exists before the request is sent), a detach's from the owner
//! and the payment method, a SetupIntent's from the owner and a per-request nonce the shim
//! supplies (a lost SetupIntent answer only leaves an unused intent behind).

use serde::Deserialize;

use super::{form_encode, get, path_segment, post, StripeError};
use crate::http::HttpRequest;

/// `POST /v1/customers` for the owner, with `metadata[user_id]` and the key `<owner>-customer`.
/// No name or email: the pipeline does not need Stripe to hold personal data.
pub fn create_customer_request(owner_id: &str) -> HttpRequest {
    post(
        "/v1/customers",
        &format!("{owner_id}-customer"),
        form_encode(&[("metadata[user_id]", owner_id)]),
    )
}

/// `POST /v1/setup_intents`: an off-session card SetupIntent for `customer`.
pub fn create_setup_intent_request(owner_id: &str, customer: &str, nonce: &str) -> HttpRequest {
    post(
        "/v1/setup_intents",
        &format!("{owner_id}-setup-{nonce}"),
        form_encode(&[
            ("customer", customer),
            ("usage", "off_session"),
            ("payment_method_types[]", "card"),
            ("metadata[user_id]", owner_id),
        ]),
    )
}

/// `GET /v1/customers/{id}/payment_methods?type=card&limit=100`: the customer's saved cards.
pub fn list_cards_request(customer: &str) -> HttpRequest {
    get(format!(
        "/v1/customers/{}/payment_methods?{}",
        path_segment(customer),
        form_encode(&[("type", "card"), ("limit", "100")])
    ))
}

/// `GET /v1/payment_methods/{id}`: one payment method (to check whose it is).
pub fn retrieve_payment_method_request(payment_method: &str) -> HttpRequest {
    get(format!(
        "/v1/payment_methods/{}",
        path_segment(payment_method)
    ))
}

/// `POST /v1/payment_methods/{id}/detach` with the key `<owner>-detach-<pm>`. Permanent.
pub fn detach_request(owner_id: &str, payment_method: &str) -> HttpRequest {
    post(
        &format!(
            "/v1/payment_methods/{}/detach",
            path_segment(payment_method)
        ),
        &format!("{owner_id}-detach-{payment_method}"),
        String::new(),
    )
}

/// `DELETE /v1/customers/{id}` (the erasure): permanent, removes every card of the customer.
/// Carries `Idempotency-Key: <key>` (derived from the erasure row); Stripe treats DELETE as
/// idempotent by itself and a second delete answers 404 `resource_missing`, which the erasure
/// counts as done.
pub fn delete_customer_request(customer: &str, idempotency_key: &str) -> HttpRequest {
    let mut req = get(format!("/v1/customers/{}", path_segment(customer)));
    req.method = crate::http::Method::Delete;
    req.headers
        .push(("Idempotency-Key".to_owned(), idempotency_key.to_owned()));
    req
}

/// A Stripe customer (`cus_…`), as far as the pipeline reads it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Customer {
    /// `cus_…`.
    pub id: String,
}

/// A SetupIntent's fields the function answers with.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SetupIntent {
    /// `seti_…`.
    pub id: String,
    /// `seti_…_secret_…`: for Stripe.js in the browser only; never logged or stored.
    pub client_secret: String,
    /// The customer the card will be attached to.
    #[serde(default)]
    pub customer: Option<String>,
    /// `requires_payment_method` when new.
    pub status: String,
}

/// The card part of a payment method.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Card {
    /// `visa`, `mastercard`, …
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month, 1-12.
    pub exp_month: u8,
    /// Expiry year (four digits).
    pub exp_year: u16,
}

/// A payment method (`pm_…`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentMethod {
    /// `pm_…`.
    pub id: String,
    /// `card` for cards.
    #[serde(rename = "type")]
    pub kind: String,
    /// The customer it is attached to (`null` once detached).
    #[serde(default)]
    pub customer: Option<String>,
    /// Present for cards.
    #[serde(default)]
    pub card: Option<Card>,
}

#[derive(Deserialize)]
struct List {
    data: Vec<PaymentMethod>,
}

/// Parses a 2xx customer body.
pub fn parse_customer(body: &[u8]) -> Result<Customer, StripeError> {
    serde_json::from_slice::<Customer>(body)
        .ok()
        .filter(|c| valid_id(&c.id, "cus_"))
        .ok_or(StripeError::MalformedResponse("customer"))
}

/// Parses a 2xx SetupIntent body.
pub fn parse_setup_intent(body: &[u8]) -> Result<SetupIntent, StripeError> {
    serde_json::from_slice::<SetupIntent>(body)
        .ok()
        .filter(|s| valid_id(&s.id, "seti_") && s.client_secret.starts_with(&s.id))
        .ok_or(StripeError::MalformedResponse("setup_intent"))
}

/// Parses a 2xx payment method body.
pub fn parse_payment_method(body: &[u8]) -> Result<PaymentMethod, StripeError> {
    serde_json::from_slice::<PaymentMethod>(body)
        .ok()
        .filter(|p| valid_id(&p.id, "pm_"))
        .ok_or(StripeError::MalformedResponse("payment_method"))
}

/// Parses a 2xx list of payment methods; entries that are not cards are left out.
pub fn parse_card_list(body: &[u8]) -> Result<Vec<PaymentMethod>, StripeError> {
    let list: List =
        serde_json::from_slice(body).map_err(|_| StripeError::MalformedResponse("list"))?;
    Ok(list
        .data
        .into_iter()
        .filter(|p| p.kind == "card" && p.card.is_some() && valid_id(&p.id, "pm_"))
        .collect())
}

/// Whether `id` is a Stripe id with `prefix` that the database's format checks accept
/// (`^<prefix>[A-Za-z0-9_]{1,250}$`).
pub fn valid_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 250
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Method, Service};
    use crate::stripe::{API_VERSION, FORM_CONTENT_TYPE};

    const OWNER: &str = "11111111-2222-4333-8444-555555555555";

    #[test]
    fn customer_creation_is_keyed_on_the_owner_and_carries_no_personal_data() {
        let req = create_customer_request(OWNER);
        assert_eq!(
            (req.method, req.path.as_str()),
            (Method::Post, "/v1/customers")
        );
        assert_eq!(
            req.header("Idempotency-Key"),
            Some(format!("{OWNER}-customer").as_str())
        );
        assert_eq!(req.header("Content-Type"), Some(FORM_CONTENT_TYPE));
        assert_eq!(
            req.body.as_deref(),
            Some(format!("metadata[user_id]={OWNER}").as_str())
        );
    }

    #[test]
    fn setup_intent_is_off_session_cards_for_the_customer() {
        let req = create_setup_intent_request(OWNER, "cus_1", "n1");
        assert_eq!(req.path, "/v1/setup_intents");
        assert_eq!(
            req.body.as_deref(),
            Some(
                format!(
                    "customer=cus_1&usage=off_session&payment_method_types[]=card\
                     &metadata[user_id]={OWNER}"
                )
                .as_str()
            )
        );
        assert_eq!(
            req.header("Idempotency-Key"),
            Some(format!("{OWNER}-setup-n1").as_str())
        );
    }

    #[test]
    fn reads_and_detach_have_their_paths() {
        let list = list_cards_request("cus_1");
        assert_eq!(list.method, Method::Get);
        assert_eq!(
            list.path,
            "/v1/customers/cus_1/payment_methods?type=card&limit=100"
        );
        assert!(list.header("Idempotency-Key").is_none());
        let get = retrieve_payment_method_request("pm_1");
        assert_eq!(get.path, "/v1/payment_methods/pm_1");
        let detach = detach_request(OWNER, "pm_1");
        assert_eq!(
            (detach.method, detach.path.as_str()),
            (Method::Post, "/v1/payment_methods/pm_1/detach")
        );
        assert_eq!(
            detach.header("Idempotency-Key"),
            Some(format!("{OWNER}-detach-pm_1").as_str())
        );
        assert_eq!(detach.body.as_deref(), Some(""));
        let escaped = retrieve_payment_method_request("pm_1/../../v1/customers");
        assert_eq!(
            escaped.path,
            "/v1/payment_methods/pm_1%2F..%2F..%2Fv1%2Fcustomers"
        );
    }

    #[test]
    fn every_request_pins_the_version_without_credential() {
        for req in [
            create_customer_request(OWNER),
            create_setup_intent_request(OWNER, "cus_1", "n"),
            list_cards_request("cus_1"),
            retrieve_payment_method_request("pm_1"),
            detach_request(OWNER, "pm_1"),
        ] {
            assert_eq!(req.service, Service::Stripe);
            assert_eq!(req.header("Stripe-Version"), Some(API_VERSION));
            assert!(req.header("Authorization").is_none());
        }
    }

    #[test]
    fn parses_the_documented_shapes() {
        let si = parse_setup_intent(
            br#"{"id":"seti_1","object":"setup_intent","client_secret":"seti_1_secret_x",
            "customer":"cus_1","status":"requires_payment_method","usage":"off_session"}"#,
        )
        .unwrap();
        assert_eq!(si.client_secret, "seti_1_secret_x");
        assert!(
            parse_setup_intent(br#"{"id":"seti_1","client_secret":"other","status":"x"}"#).is_err()
        );
        let list = parse_card_list(
            br#"{"object":"list","has_more":false,"data":[
            {"id":"pm_1","object":"payment_method","type":"card","customer":"cus_1",
             "card":{"brand":"visa","last4":"4242","exp_month":8,"exp_year":2031}},
            {"id":"pm_2","type":"sepa_debit","customer":"cus_1"}]}"#,
        )
        .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].card.as_ref().unwrap().last4, "4242");
        assert_eq!(parse_customer(br#"{"id":"cus_9"}"#).unwrap().id, "cus_9");
        assert!(parse_customer(br#"{"id":"cus_9'; drop"}"#).is_err());
        assert!(parse_payment_method(b"nope").is_err());
    }

    #[test]
    fn ids_are_checked_like_the_database() {
        assert!(valid_id("pm_card_visa", "pm_"));
        assert!(!valid_id("pm_", "pm_"));
        assert!(!valid_id("cus_1", "pm_"));
        assert!(!valid_id("pm_a-b", "pm_"));
    }
}
