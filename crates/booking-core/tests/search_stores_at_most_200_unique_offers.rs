//! Large answers are capped at 200 stored offers, best first, one per provider id.

mod common;

use booking_core::search::{process_search_response, MAX_STORED_OFFERS};
use serde_json::{json, Value};

use common::{fixture, search_time, trip};

/// The recorded answer with its first offer cloned `n` times under new ids and prices.
fn big_answer(n: usize) -> Value {
    let mut value: Value =
        serde_json::from_slice(&fixture("duffel_offer_request_lhr_jfk.json")).unwrap();
    let template = value["data"]["offers"][0].clone();
    let offers = value["data"]["offers"].as_array_mut().unwrap();
    for i in 0..n {
        let mut offer = template.clone();
        offer["id"] = json!(format!("off_gen{i:04}"));
        // 700.00 + i pence: all acceptable, all more expensive than the recorded best.
        offer["total_amount"] = json!(format!("{}.{:02}", 700 + i / 100, i % 100));
        offers.push(offer);
    }
    value
}

#[test]
fn keeps_the_200_best_with_the_selected_offer_first() {
    let body = big_answer(250).to_string();
    let result =
        process_search_response(&trip(json!({})), 201, body.as_bytes(), search_time()).unwrap();
    assert_eq!(result.offers_seen, 258);
    assert_eq!(result.offers.len(), MAX_STORED_OFFERS);
    assert_eq!(result.offers[0].provider_offer_id, "off_0000AgWTXv3");
    assert_eq!(result.offers[2].provider_offer_id, "off_gen0000");
    // The cap drops the worst acceptable offers and every rejected one.
    assert_eq!(result.offers[199].provider_offer_id, "off_gen0197");
    assert!(result
        .offers
        .windows(2)
        .all(|w| w[0].total_minor <= w[1].total_minor));
}

#[test]
fn duplicate_ids_keep_the_acceptable_copy_whatever_the_order() {
    let mut value: Value =
        serde_json::from_slice(&fixture("duffel_offer_request_lhr_jfk.json")).unwrap();
    let offers = value["data"]["offers"].as_array_mut().unwrap();
    // A second, cheaper copy of off_3 in premium economy (not acceptable), listed first.
    let mut copy = offers[2].clone();
    copy["total_amount"] = json!("100.00");
    for passenger in copy["slices"][0]["segments"][0]["passengers"]
        .as_array_mut()
        .unwrap()
    {
        passenger["cabin_class"] = json!("premium_economy");
    }
    offers.insert(0, copy.clone());
    let first = process_search_response(
        &trip(json!({})),
        201,
        value.to_string().as_bytes(),
        search_time(),
    )
    .unwrap();

    let offers = value["data"]["offers"].as_array_mut().unwrap();
    offers.remove(0);
    offers.push(copy);
    let last = process_search_response(
        &trip(json!({})),
        201,
        value.to_string().as_bytes(),
        search_time(),
    )
    .unwrap();

    for result in [&first, &last] {
        assert_eq!(result.duplicates, 1);
        assert_eq!(result.offers.len(), 8);
        assert_eq!(
            result.selected_provider_offer_id.as_deref(),
            Some("off_0000AgWTXv3")
        );
        assert_eq!(result.offers[0].total_minor, 61240);
    }
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&last).unwrap()
    );
}
