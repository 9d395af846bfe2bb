//! The monitor's re-price path: `GET /air/offers/{id}` and its `{"data":{offer}}` answer.

mod common;

use booking_core::duffel::{build_get_offer_request, parse_offer_response, DuffelConfig};
use booking_core::select::{check, Criteria, Rejection};
use serde_json::json;

use common::{fixture, search_time, trip};

#[test]
fn reprices_and_rechecks_the_selected_offer() {
    let config = DuffelConfig::default();
    let request = build_get_offer_request(&config, "off_0000AgWTXv1").unwrap();
    assert_eq!(request.path, "/air/offers/off_0000AgWTXv1");

    let offer = parse_offer_response(&fixture("duffel_offer_single.json")).unwrap();
    assert_eq!(offer.provider_offer_id, "off_0000AgWTXv1");
    assert_eq!(offer.total_minor, 61240);
    let criteria = Criteria::from_trip(&trip(json!({})));
    assert_eq!(check(&offer, &criteria, search_time()), Ok(()));
    let tighter = Criteria::from_trip(&trip(json!({"max_total_minor": 61239})));
    assert_eq!(
        check(&offer, &tighter, search_time()),
        Err(Rejection::OverBudget)
    );
}

#[test]
fn a_repriced_offer_in_kwd_and_jpy_keeps_exact_minor_units() {
    let mut value: serde_json::Value =
        serde_json::from_slice(&fixture("duffel_offer_single.json")).unwrap();
    for (amount, currency, minor) in [("190.125", "KWD", 190_125), ("92000", "JPY", 92_000)] {
        value["data"]["total_amount"] = json!(amount);
        value["data"]["total_currency"] = json!(currency);
        let offer = parse_offer_response(value.to_string().as_bytes()).unwrap();
        assert_eq!(
            (offer.total_minor, offer.currency.code()),
            (minor, currency)
        );
        assert_eq!(offer.total().to_decimal_string(), amount);
    }
    value["data"]["total_amount"] = json!("92000.5");
    let err = parse_offer_response(value.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.code(), "provider_bad_response");
}
