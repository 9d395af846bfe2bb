//! Unit tests for Duffel offer normalization.

use serde_json::{json, Value};

use super::*;

fn segment(dep: &str, arr: &str, carrier: &str, cabin: &str, stops: usize) -> Value {
    json!({"id":"seg_1","origin":{"iata_code":"LHR"},"destination":{"iata_code":"JFK"},
           "departing_at":dep,"arriving_at":arr,"duration":"PT8H10M",
           "marketing_carrier":{"iata_code":carrier,"name":"Airline"},
           "marketing_carrier_flight_number":"0123","operating_carrier":{"iata_code":carrier},
           "stops": (0..stops).map(|i| json!({"id":format!("sto_{i}"),"duration":"PT1H"})).collect::<Vec<_>>(),
           "passengers":[{"passenger_id":"pas_1","cabin_class":cabin,"baggages":[]}]})
}

fn offer_json(total: &str, currency: &str) -> Value {
    json!({"id":"off_0000A","live_mode":false,"expires_at":"2026-11-22T10:42:14.545Z",
           "total_amount":total,"total_currency":currency,"base_amount":"1","base_currency":currency,
           "tax_amount":null,"tax_currency":null,
           "owner":{"iata_code":"ZZ"},"passengers":[{"id":"pas_1","type":"adult","age":null}],
           "slices":[{"id":"sli_1","duration":"PT8H10M","segments":[
               segment("2027-03-12T09:00:00","2027-03-12T12:10:00","ZZ","economy",0)]}]})
}

fn normalize(value: &Value) -> Result<Offer, OfferError> {
    let raw = RawValue::from_string(value.to_string()).unwrap();
    normalize_offer(&raw)
}

#[test]
fn normalizes_a_simple_offer() {
    let offer = normalize(&offer_json("221.78", "GBP")).unwrap();
    assert_eq!(offer.provider_offer_id, "off_0000A");
    assert_eq!((offer.total_minor, offer.currency.code()), (22178, "GBP"));
    assert_eq!(offer.cabin, Cabin::Economy);
    assert_eq!(offer.stops, 0);
    assert_eq!(offer.duration_minutes, Some(490));
    assert_eq!(offer.departing_at.to_string(), "2027-03-12 09:00:00");
    assert_eq!(offer.arriving_at.to_string(), "2027-03-12 12:10:00");
    assert_eq!(offer.carriers, vec!["ZZ"]);
    assert_eq!(offer.expires_at.to_rfc3339(), "2026-11-22T10:42:14.545Z");
    let raw: Value = serde_json::from_str(offer.raw.as_ref().unwrap().get()).unwrap();
    assert_eq!(raw, offer_json("221.78", "GBP"));
}

#[test]
fn money_in_zero_two_and_three_decimal_currencies() {
    assert_eq!(
        normalize(&offer_json("15000", "JPY")).unwrap().total_minor,
        15000
    );
    assert_eq!(
        normalize(&offer_json("45.5", "GBP")).unwrap().total_minor,
        4550
    );
    assert_eq!(
        normalize(&offer_json("12.345", "KWD")).unwrap().total_minor,
        12345
    );
    let code = |total: &str, cur: &str| normalize(&offer_json(total, cur)).unwrap_err().code();
    assert_eq!(code("15000.5", "JPY"), "too_precise");
    assert_eq!(code("12.3456", "KWD"), "too_precise");
    assert_eq!(code("221.785", "GBP"), "too_precise");
    assert_eq!(code("2.2e2", "GBP"), "malformed_amount");
    assert_eq!(code("221.78", "XXX"), "unknown_currency");
    assert_eq!(code("221.78", "gbp"), "unknown_currency");
    assert_eq!(code("0.00", "GBP"), "non_positive_total");
    assert_eq!(code("-1.00", "GBP"), "non_positive_total");
}

#[test]
fn schema_violations() {
    let mut o = offer_json("1.00", "GBP");
    o.as_object_mut().unwrap().remove("total_amount");
    assert_eq!(normalize(&o).unwrap_err().code(), "offer_schema");
    let mut o = offer_json("1.00", "GBP");
    o["total_amount"] = json!(221.78);
    assert_eq!(normalize(&o).unwrap_err().code(), "offer_schema");
    let mut o = offer_json("1.00", "GBP");
    o["expires_at"] = json!("tomorrow");
    assert_eq!(normalize(&o).unwrap_err().code(), "invalid_expires_at");
    let mut o = offer_json("1.00", "GBP");
    o["slices"] = json!([]);
    assert_eq!(normalize(&o).unwrap_err().code(), "no_itinerary");
    let mut o = offer_json("1.00", "GBP");
    o["slices"][0]["segments"] = json!([]);
    assert_eq!(normalize(&o).unwrap_err().code(), "no_itinerary");
    let mut o = offer_json("1.00", "GBP");
    o["slices"][0]["segments"][0]["departing_at"] = json!("2027-03-12T09:00:00Z");
    assert_eq!(normalize(&o).unwrap_err().code(), "invalid_local_time");
    let mut o = offer_json("1.00", "GBP");
    o["slices"][0]["segments"][0]["marketing_carrier"] = json!({"iata_code":null});
    assert_eq!(normalize(&o).unwrap_err().code(), "invalid_carrier");
    let mut o = offer_json("1.00", "GBP");
    o["slices"][0]["segments"][0]["passengers"] = json!([]);
    assert_eq!(normalize(&o).unwrap_err().code(), "invalid_cabin");
    let mut o = offer_json("1.00", "GBP");
    o["slices"][0]["segments"][0]["passengers"][0]["cabin_class"] = json!("coach");
    assert_eq!(normalize(&o).unwrap_err().code(), "invalid_cabin");
    let mut o = offer_json("1.00", "GBP");
    o["id"] = json!("off/../1");
    assert_eq!(normalize(&o).unwrap_err().code(), "invalid_offer_id");
}

#[test]
fn round_trip_with_connections_mixed_cabins_and_technical_stops() {
    let mut o = offer_json("900.00", "EUR");
    o["slices"] = json!([
        {"duration":"PT10H","segments":[
            segment("2027-03-12T07:00:00","2027-03-12T08:00:00","BA","business",0),
            segment("2027-03-12T10:00:00","2027-03-12T14:00:00","AA","economy",1)]},
        {"duration":"P1DT2H","segments":[
            segment("2027-03-20T18:00:00","2027-03-21T06:00:00","AA","business",0)]}
    ]);
    let offer = normalize(&o).unwrap();
    assert_eq!(
        offer.stops, 2,
        "1 connection + 1 technical stop on the outbound"
    );
    assert_eq!(offer.cabin, Cabin::Economy, "the lowest cabin wins");
    assert_eq!(offer.duration_minutes, Some(600 + 1560));
    assert_eq!(offer.departing_at.to_string(), "2027-03-12 07:00:00");
    assert_eq!(
        offer.arriving_at.to_string(),
        "2027-03-12 14:00:00",
        "end of the first slice"
    );
    assert_eq!(offer.carriers, vec!["BA", "AA"]);

    o["slices"][1]["duration"] = json!("P1M");
    assert_eq!(normalize(&o).unwrap().duration_minutes, None);
    o["slices"][1].as_object_mut().unwrap().remove("duration");
    assert_eq!(normalize(&o).unwrap().duration_minutes, None);
}

#[test]
fn raw_is_dropped_above_16_kib() {
    let mut o = offer_json("1.00", "GBP");
    o["padding"] = json!("x".repeat(MAX_RAW_OFFER_BYTES));
    let offer = normalize(&o).unwrap();
    assert!(offer.raw.is_none());
    assert_eq!(offer.total_minor, 100);
}

#[test]
fn search_answer_skips_and_counts_malformed_offers() {
    let mut bad = offer_json("1.00", "GBP");
    bad["total_currency"] = json!("???");
    let mut second = offer_json("2.00", "GBP");
    second["id"] = json!("off_0000B");
    let body = json!({"data":{"id":"orq_1","offers":[offer_json("1.00","GBP"), bad, second]}});
    let parsed = parse_offer_request_response(body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.offer_request_id, "orq_1");
    assert_eq!(
        (parsed.offers_seen, parsed.malformed, parsed.offers.len()),
        (3, 1, 2)
    );
}

#[test]
fn search_answer_envelope_errors() {
    let bad = |body: &[u8]| parse_offer_request_response(body).unwrap_err().code();
    assert_eq!(bad(b"<html>"), "provider_bad_response");
    assert_eq!(bad(br#"{"data":{"id":"orq_1"}}"#), "provider_bad_response");
    assert_eq!(bad(br#"{"data":{"offers":[]}}"#), "provider_bad_response");
    assert_eq!(
        bad(br#"{"data":{"id":"orq 1","offers":[]}}"#),
        "provider_bad_response"
    );
    assert_eq!(bad(br#"{"data":[]}"#), "provider_bad_response");
    let all_bad = json!({"data":{"id":"orq_1","offers":[{"id":"off_1"}]}});
    let err = parse_offer_request_response(all_bad.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("all 1 offers malformed"), "{err}");
    // No offers at all is a valid, empty search.
    let empty = parse_offer_request_response(br#"{"data":{"id":"orq_1","offers":[]}}"#).unwrap();
    assert_eq!((empty.offers_seen, empty.malformed), (0, 0));
}

#[test]
fn single_offer_answer() {
    let body = json!({"data": offer_json("221.78", "GBP")}).to_string();
    assert_eq!(
        parse_offer_response(body.as_bytes()).unwrap().total_minor,
        22178
    );
    let mut broken = offer_json("221.78", "GBP");
    broken.as_object_mut().unwrap().remove("total_amount");
    let err = parse_offer_response(json!({"data": broken}).to_string().as_bytes()).unwrap_err();
    assert_eq!(err.code(), "provider_bad_response");
    assert!(parse_offer_response(b"{}").is_err());
}

proptest::proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = parse_offer_request_response(&bytes);
        let _ = parse_offer_response(&bytes);
    }
}

/// The one-pass search reader and the serde types of a single offer apply the same shape rules:
/// every variant below normalizes (or fails with the same code) the same way both ways, and the
/// search keeps each offer's text exactly as it appears in the body.
#[test]
fn one_pass_reader_agrees_with_the_serde_shape() {
    let base = offer_json("221.78", "GBP");
    let mut variants: Vec<Value> = vec![base.clone(), json!(null), json!(7), json!([base.clone()])];
    let edits: Vec<(&str, Value)> = vec![
        ("/id", json!(null)),
        ("/id", json!(5)),
        ("/total_amount", json!(221.78)),
        ("/expires_at", json!(["x"])),
        ("/slices", json!(null)),
        ("/slices", json!({})),
        ("/slices", json!([])),
        ("/slices/0", json!("sli")),
        ("/slices/0/duration", json!(null)),
        ("/slices/0/duration", json!(490)),
        ("/slices/0/segments", json!(null)),
        ("/slices/0/segments/0/stops", json!(null)),
        ("/slices/0/segments/0/stops", json!({})),
        ("/slices/0/segments/0/stops", json!([1, {"a": [2]}])),
        ("/slices/0/segments/0/passengers", json!(null)),
        ("/slices/0/segments/0/passengers", json!([7])),
        ("/slices/0/segments/0/passengers/0/cabin_class", json!(null)),
        ("/slices/0/segments/0/passengers/0/cabin_class", json!(true)),
        ("/slices/0/segments/0/marketing_carrier", json!(null)),
        ("/slices/0/segments/0/marketing_carrier", json!({})),
        (
            "/slices/0/segments/0/marketing_carrier/iata_code",
            json!(null),
        ),
        ("/slices/0/segments/0/departing_at", json!(null)),
    ];
    for (path, value) in edits {
        let mut v = base.clone();
        *v.pointer_mut(path).unwrap() = value;
        variants.push(v);
    }
    for field in [
        "id",
        "total_amount",
        "total_currency",
        "expires_at",
        "slices",
    ] {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(field);
        variants.push(v);
    }
    let mut escaped = base.clone();
    escaped["id"] = json!("off_\u{0041}\"x");
    variants.push(escaped);
    for (i, variant) in variants.iter().enumerate() {
        let text = variant.to_string();
        let body = format!(
            r#"{{"data":{{"id":"orq_1","offers":[ {text} ,{}]}}}}"#,
            base
        );
        let parsed = parse_offer_request_borrowed(body.as_bytes()).unwrap();
        let one = RawValue::from_string(text.clone())
            .map_err(|_| ())
            .and_then(|raw| normalize_offer(&raw).map_err(|_| ()));
        assert_eq!(
            parsed.offers.len(),
            1 + usize::from(one.is_ok()),
            "variant {i}: {text}"
        );
        if let Ok(expected) = one {
            let (offer, raw) = &parsed.offers[0];
            assert_eq!(*raw, text.as_bytes(), "variant {i}");
            let kept = attach_raw(offer.clone(), raw);
            assert_eq!(
                serde_json::to_string(&kept).unwrap(),
                serde_json::to_string(&expected).unwrap(),
                "variant {i}"
            );
        }
    }
    // A repeated known key is malformed both ways; broken JSON is the whole answer's error.
    let dup = r#"{"data":{"id":"orq_1","offers":[{"id":"off_1","id":"off_2"}]}}"#;
    assert!(parse_offer_request_borrowed(dup.as_bytes()).is_err());
    let broken = r#"{"data":{"id":"orq_1","offers":[{"id":"off_1"]}}"#;
    assert!(parse_offer_request_borrowed(broken.as_bytes()).is_err());
    assert!(parse_offer_request_borrowed(br#"{"data":{"id":"orq_1","offers":[]}} x"#).is_err());
    // Bytes that are not UTF-8 anywhere (here in an unread string after the offers) break the
    // whole answer, as `from_utf8` of the body would.
    let mut bad = br#"{"data":{"id":"orq_1","offers":[]},"meta":"caf"#.to_vec();
    bad.extend_from_slice(b"\xc3\"}");
    let err = parse_offer_request_borrowed(&bad).unwrap_err();
    assert_eq!(err.code(), "provider_bad_response");
    assert!(err.to_string().contains("invalid UTF-8"), "{err}");
}
