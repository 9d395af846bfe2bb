//! From the traveller's body to the Duffel offer request, through the stored row.

mod common;

use booking_core::duffel::{build_offer_request, DuffelConfig};
use booking_core::trip::{parse_trip_body, TripBody};
use serde_json::{json, Value};

use common::{search_time, trip};

#[test]
fn validated_request_round_trips_through_the_row_into_a_search() {
    let body = br#"{"origin":"LHR","destination":"JFK","departure_date":"2027-03-12",
        "return_date":"2027-03-19","adults":2,"child_ages":[1,10],"cabin":"economy",
        "nonstop_only":true,"max_total_minor":84000,"currency":"GBP","auto_book":true}"#;
    let TripBody::New(new_trip) = parse_trip_body(body, search_time()).unwrap() else {
        panic!("expected a new trip");
    };
    // What app.create_trip receives, and (with the row fields added) returns.
    let input = serde_json::to_value(&new_trip).unwrap();
    let stored = trip(input.clone());
    assert_eq!(stored.child_ages, vec![1, 10]);

    let config: DuffelConfig =
        serde_json::from_value(json!({"supplier_timeout_ms": 20000})).unwrap();
    let request = build_offer_request(&config, &stored);
    let sent: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({"data":{
            "slices":[{"origin":"LHR","destination":"JFK","departure_date":"2027-03-12"},
                      {"origin":"JFK","destination":"LHR","departure_date":"2027-03-19"}],
            "passengers":[{"type":"adult"},{"type":"adult"},{"age":1},{"age":10}],
            "cabin_class":"economy","max_connections":0}})
    );
    let wire = serde_json::to_value(&request).unwrap();
    assert_eq!(wire["method"], "POST");
    assert_eq!(wire["service"], "duffel");
    assert_eq!(wire["headers"][0], json!(["Duffel-Version", "v2"]));
}

#[test]
fn bad_bodies_report_every_field() {
    let err = parse_trip_body(
        br#"{"origin":"LHR","destination":"LHR","adults":0}"#,
        search_time(),
    )
    .unwrap_err();
    let body = serde_json::to_value(err.to_body()).unwrap();
    assert_eq!(body["code"], "validation_failed");
    let codes: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "same_origin_destination",
            "required",
            "out_of_range",
            "required",
            "required",
            "required"
        ]
    );
}
