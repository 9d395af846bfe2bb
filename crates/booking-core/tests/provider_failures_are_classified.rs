//! Provider failures map to the three stable codes, keeping Duffel's own code.

mod common;

use booking_core::duffel::{classify_failure, parse_offer_response};
use booking_core::error::{ErrorCode, ProviderError, TransportFailure};
use booking_core::search::{process_search_response, search_failure_next_check};
use serde_json::json;

use common::{fixture, search_time, trip};

#[test]
fn search_timeout_is_unavailable() {
    let body = fixture("duffel_error_gateway_timeout.json");
    let err = process_search_response(&trip(json!({})), 504, &body, search_time()).unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: 504,
            provider_code: Some("gateway_timeout_error".into())
        }
    );
    assert_eq!(
        search_failure_next_check(search_time()).to_rfc3339(),
        "2027-03-01T10:05:00.000Z"
    );
}

#[test]
fn gone_offer_is_rejected_with_duffel_code() {
    let err = classify_failure(422, &fixture("duffel_error_offer_no_longer_available.json"));
    assert_eq!(err.code(), "provider_rejected");
    assert_eq!(err.provider_code(), Some("offer_no_longer_available"));
    // The human message Duffel sent is not carried along.
    assert!(!err.to_string().contains("please search again"));
}

#[test]
fn html_from_a_proxy() {
    let html = fixture("duffel_non_json.html");
    let err = process_search_response(&trip(json!({})), 502, &html, search_time()).unwrap_err();
    assert_eq!(
        (err.code(), err.provider_code()),
        ("provider_unavailable", None)
    );
    let err = process_search_response(&trip(json!({})), 201, &html, search_time()).unwrap_err();
    assert_eq!(err.code(), "provider_bad_response");
    assert_eq!(
        parse_offer_response(&html).unwrap_err().code(),
        "provider_bad_response"
    );
}

#[test]
fn error_envelope_with_a_success_status_is_a_bad_response() {
    let body = fixture("duffel_error_offer_no_longer_available.json");
    let err = process_search_response(&trip(json!({})), 201, &body, search_time()).unwrap_err();
    assert_eq!(err.code(), "provider_bad_response");
}

#[test]
fn transport_failures_are_unavailable() {
    for failure in [TransportFailure::Timeout, TransportFailure::Network] {
        let body = ProviderError::from(failure).to_body();
        assert_eq!(body.code, "provider_unavailable");
    }
}
