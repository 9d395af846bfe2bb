//! A recorded multi-offer Duffel answer goes through the whole search stage.

mod common;

use booking_core::search::process_search_response;
use booking_core::select::{Decision, Rejections};
use serde_json::{json, Value};

use common::{fixture, search_time, trip};

fn ids(offers: &[booking_core::offer::Offer]) -> Vec<&str> {
    offers
        .iter()
        .map(|o| o.provider_offer_id.as_str())
        .collect()
}

#[test]
fn picks_the_cheapest_nonstop_economy_offer_breaking_the_price_tie_by_duration() {
    let body = fixture("duffel_offer_request_lhr_jfk.json");
    let result = process_search_response(&trip(json!({})), 201, &body, search_time()).unwrap();

    assert_eq!(result.offer_request_id, "orq_0000AgWTXqP3");
    assert_eq!(result.offers_seen, 8);
    assert_eq!(result.decision, Decision::OfferSelected);
    // off_1 and off_3 both cost 612.40; off_3 flies 7h55 against 8h05.
    assert_eq!(
        result.selected_provider_offer_id.as_deref(),
        Some("off_0000AgWTXv3")
    );
    assert_eq!(
        ids(&result.offers),
        vec![
            // acceptable, best first
            "off_0000AgWTXv3",
            "off_0000AgWTXv1",
            "off_0000AgWTXv8",
            // rejected, same order
            "off_0000AgWTXv5",
            "off_0000AgWTXv2",
            "off_0000AgWTXv6",
            "off_0000AgWTXv7",
            "off_0000AgWTXv4",
        ]
    );
    assert_eq!(
        result.rejections,
        Rejections {
            expired: 1,           // off_5 expires 90 s after the search, inside the margin
            currency_mismatch: 1, // off_6 is in USD
            over_budget: 1,       // off_4, business at 2950.00, fails the budget first
            cabin_mismatch: 1,    // off_7 premium economy
            too_many_stops: 1,    // off_2 connects in Dublin
        }
    );
    assert_eq!((result.malformed, result.duplicates), (0, 0));
    // 11 days before departure: look again in 2 hours.
    assert_eq!(
        result.next_check_at.to_rfc3339(),
        "2027-03-01T12:00:00.000Z"
    );

    let best = &result.offers[0];
    assert_eq!((best.total_minor, best.currency.code()), (61240, "GBP"));
    assert_eq!(best.carriers, vec!["VS"]);
    assert_eq!(best.duration_minutes, Some(475));
    let connecting = result
        .offers
        .iter()
        .find(|o| o.provider_offer_id == "off_0000AgWTXv2")
        .unwrap();
    assert_eq!(
        (connecting.stops, connecting.carriers.clone()),
        (1, vec!["EI".to_owned()])
    );
    assert_eq!(connecting.arriving_at.to_string(), "2027-03-12 13:20:00");
}

#[test]
fn result_json_has_exactly_the_contract_shape() {
    let body = fixture("duffel_offer_request_lhr_jfk.json");
    let result = process_search_response(&trip(json!({})), 201, &body, search_time()).unwrap();
    let json: Value = serde_json::to_value(&result).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "decision",
            "next_check_at",
            "offer_request_id",
            "offers",
            "offers_seen",
            "provider",
            "rejections",
            "selected_provider_offer_id"
        ]
    );
    assert_eq!(json["provider"], "duffel");
    assert_eq!(json["decision"], "offer_selected");
    let offer = &json["offers"][0];
    let mut offer_keys: Vec<&str> = offer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    offer_keys.sort_unstable();
    assert_eq!(
        offer_keys,
        vec![
            "arriving_at",
            "cabin",
            "carriers",
            "currency",
            "departing_at",
            "duration_minutes",
            "expires_at",
            "provider_offer_id",
            "raw",
            "stops",
            "total_minor"
        ]
    );
    assert_eq!(offer["departing_at"], "2027-03-12T11:00:00");
    assert_eq!(offer["expires_at"], "2027-03-01T10:30:00.000Z");
    assert_eq!(offer["total_minor"], 61240);
    // raw is the provider's object, untouched.
    let recorded: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(offer["raw"], recorded["data"]["offers"][2]);
}

#[test]
fn nothing_acceptable_reports_the_reasons() {
    let tight = trip(json!({"max_total_minor": 50000}));
    let body = fixture("duffel_offer_request_lhr_jfk.json");
    let result = process_search_response(&tight, 201, &body, search_time()).unwrap();
    assert_eq!(result.decision, Decision::NoAcceptableOffer);
    assert_eq!(result.selected_provider_offer_id, None);
    // Every GBP offer that has not expired is over 500.00; off_5 (expired) and off_6 (USD) fail
    // earlier checks first.
    assert_eq!(
        result.rejections,
        Rejections {
            expired: 1,
            currency_mismatch: 1,
            over_budget: 6,
            cabin_mismatch: 0,
            too_many_stops: 0
        }
    );
    assert_eq!(result.rejections.total(), 8);
    assert_eq!(result.offers.len(), 8, "rejected offers are still stored");
    assert_eq!(
        serde_json::to_value(&result).unwrap()["selected_provider_offer_id"],
        Value::Null
    );
}

#[test]
fn relaxed_criteria_change_the_choice() {
    let body = fixture("duffel_offer_request_lhr_jfk.json");
    let with_stops = trip(json!({"nonstop_only": false}));
    let result = process_search_response(&with_stops, 201, &body, search_time()).unwrap();
    assert_eq!(
        result.selected_provider_offer_id.as_deref(),
        Some("off_0000AgWTXv2")
    );
    let business = trip(json!({"cabin": "business", "max_total_minor": 300000}));
    let result = process_search_response(&business, 201, &body, search_time()).unwrap();
    assert_eq!(
        result.selected_provider_offer_id.as_deref(),
        Some("off_0000AgWTXv4")
    );
    let later = search_time().plus_ms(29 * 60 * 1000);
    let result = process_search_response(&trip(json!({})), 201, &body, later).unwrap();
    assert_eq!(
        result.decision,
        Decision::NoAcceptableOffer,
        "all inside the expiry margin"
    );
    assert_eq!(result.rejections.expired, 8);
}
