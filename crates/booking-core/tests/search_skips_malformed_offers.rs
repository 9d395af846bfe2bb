//! Malformed offers inside a valid answer are skipped and counted, not fatal.

mod common;

use booking_core::search::process_search_response;
use serde_json::json;

use common::{fixture, search_time, trip};

#[test]
fn one_good_offer_among_malformed_ones_is_still_selected() {
    // Offer 2 lacks total_amount, offer 3 is in "GBX" (not ISO 4217), offer 4 has a total with
    // more decimals than GBP allows.
    let body = fixture("duffel_offer_request_malformed_offer.json");
    let result = process_search_response(&trip(json!({})), 201, &body, search_time()).unwrap();
    assert_eq!(result.offers_seen, 4);
    assert_eq!(result.malformed, 3);
    assert_eq!(result.offers.len(), 1);
    assert_eq!(
        result.selected_provider_offer_id.as_deref(),
        Some("off_0000AgWTXv1")
    );
    assert_eq!(result.rejections.total(), 0);
}

#[test]
fn an_answer_of_only_malformed_offers_is_a_bad_response() {
    let mut value: serde_json::Value =
        serde_json::from_slice(&fixture("duffel_offer_request_malformed_offer.json")).unwrap();
    value["data"]["offers"].as_array_mut().unwrap().remove(0);
    let err = process_search_response(
        &trip(json!({})),
        201,
        value.to_string().as_bytes(),
        search_time(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "provider_bad_response");
}
