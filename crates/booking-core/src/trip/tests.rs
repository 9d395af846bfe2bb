//! Unit tests for trip request validation.

use serde_json::{json, Value};

use super::*;

/// 2026-11-22T23:30:00Z: late in the UTC day, so "today" is the 22nd even though some time
/// zones are already on the 23rd.
fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-22T23:30:00Z").unwrap()
}

fn valid() -> Value {
    json!({"origin":"LHR","destination":"JFK","departure_date":"2027-03-12","return_date":null,
           "adults":1,"child_ages":[],"cabin":"economy","nonstop_only":true,
           "max_total_minor":42000,"currency":"GBP","auto_book":true})
}

fn with(changes: Value) -> Vec<u8> {
    let mut body = valid();
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string().into_bytes()
}

fn without(key: &str) -> Vec<u8> {
    let mut body = valid();
    body.as_object_mut().unwrap().remove(key);
    body.to_string().into_bytes()
}

/// The (field, code) pairs of a refused body.
fn codes(body: &[u8]) -> Vec<(String, &'static str)> {
    match validate_new_trip(body, now()) {
        Err(TripError::Invalid(fields)) => fields.into_iter().map(|f| (f.field, f.code)).collect(),
        other => panic!("expected validation errors, got {other:?}"),
    }
}

fn one(field: &str, code: &'static str) -> Vec<(String, &'static str)> {
    vec![(field.to_owned(), code)]
}

#[test]
fn valid_body_round_trips_to_the_contract_shape() {
    let trip = validate_new_trip(&with(json!({})), now()).unwrap();
    assert_eq!(serde_json::to_value(&trip).unwrap(), valid());
}

#[test]
fn defaults_for_optional_fields() {
    let mut body = valid();
    let object = body.as_object_mut().unwrap();
    for key in ["return_date", "child_ages", "nonstop_only", "auto_book"] {
        object.remove(key);
    }
    let trip = validate_new_trip(body.to_string().as_bytes(), now()).unwrap();
    assert!(!trip.nonstop_only && !trip.auto_book);
    assert!(trip.child_ages.is_empty() && trip.return_date.is_none());
    let trip = validate_new_trip(&with(json!({"nonstop_only":null})), now()).unwrap();
    assert!(!trip.nonstop_only);
}

#[test]
fn invalid_json_covers_non_json_non_objects_and_oversized_bodies() {
    for body in [
        &b"not json"[..],
        b"",
        b"[1,2]",
        b"\"LHR\"",
        b"null",
        b"{\"origin\":",
    ] {
        assert_eq!(validate_new_trip(body, now()), Err(TripError::InvalidJson));
    }
    let mut big = valid();
    big["padding"] = json!("x".repeat(MAX_BODY_BYTES));
    let err = validate_new_trip(big.to_string().as_bytes(), now()).unwrap_err();
    assert_eq!(err.code(), "invalid_json");
}

#[test]
fn required_fields() {
    for key in [
        "origin",
        "destination",
        "departure_date",
        "adults",
        "cabin",
        "max_total_minor",
        "currency",
    ] {
        assert_eq!(codes(&without(key)), one(key, "required"), "{key}");
        assert_eq!(
            codes(&with(json!({ key: null }))),
            one(key, "required"),
            "{key}"
        );
    }
}

#[test]
fn iata_codes() {
    assert_eq!(
        codes(&with(json!({"origin":"lhr"}))),
        one("origin", "invalid_iata")
    );
    assert_eq!(
        codes(&with(json!({"destination":"JFKX"}))),
        one("destination", "invalid_iata")
    );
    assert_eq!(
        codes(&with(json!({"origin":7}))),
        one("origin", "invalid_type")
    );
    assert_eq!(
        codes(&with(json!({"destination":"LHR"}))),
        one("destination", "same_origin_destination")
    );
}

#[test]
fn departure_date_relative_to_now() {
    // Today (UTC) is allowed, yesterday is not.
    assert!(validate_new_trip(&with(json!({"departure_date":"2026-11-22"})), now()).is_ok());
    assert_eq!(
        codes(&with(json!({"departure_date":"2026-11-21"}))),
        one("departure_date", "date_in_past")
    );
    // 365 days ahead is allowed, 366 is not.
    assert!(validate_new_trip(&with(json!({"departure_date":"2027-11-22"})), now()).is_ok());
    assert_eq!(
        codes(&with(json!({"departure_date":"2027-11-23"}))),
        one("departure_date", "date_too_far")
    );
    for bad in [
        "2027-02-29",
        "2027-3-12",
        "12/03/2027",
        "2027-03-12T00:00:00",
        "",
        "+2027-03-1",
    ] {
        assert_eq!(
            codes(&with(json!({"departure_date":bad}))),
            one("departure_date", "invalid_date"),
            "{bad}"
        );
    }
    assert_eq!(
        codes(&with(json!({"departure_date":20270312}))),
        one("departure_date", "invalid_type")
    );
}

#[test]
fn return_date_rules() {
    let ok = validate_new_trip(&with(json!({"return_date":"2027-03-12"})), now()).unwrap();
    assert_eq!(ok.return_date, parse_iso_date("2027-03-12"));
    assert_eq!(
        codes(&with(json!({"return_date":"2027-03-11"}))),
        one("return_date", "return_before_departure")
    );
    assert_eq!(
        codes(&with(json!({"return_date":"2027-13-01"}))),
        one("return_date", "invalid_date")
    );
    assert_eq!(
        codes(&with(json!({"return_date":false}))),
        one("return_date", "invalid_type")
    );
}

#[test]
fn passenger_counts() {
    assert_eq!(
        codes(&with(json!({"adults":0}))),
        one("adults", "out_of_range")
    );
    assert_eq!(
        codes(&with(json!({"adults":10}))),
        one("adults", "out_of_range")
    );
    assert_eq!(
        codes(&with(json!({"adults":-1}))),
        one("adults", "out_of_range")
    );
    assert_eq!(
        codes(&with(json!({"adults":u64::MAX}))),
        one("adults", "out_of_range")
    );
    assert_eq!(
        codes(&with(json!({"adults":1.5}))),
        one("adults", "not_an_integer")
    );
    assert_eq!(
        codes(&with(json!({"adults":2.0}))),
        one("adults", "not_an_integer")
    );
    assert_eq!(
        codes(&with(json!({"adults":"2"}))),
        one("adults", "invalid_type")
    );
    let nine = validate_new_trip(&with(json!({"adults":9})), now()).unwrap();
    assert_eq!(nine.adults, 9);
    assert_eq!(
        codes(&with(json!({"adults":8,"child_ages":[5,6]}))),
        one("child_ages", "too_many_passengers")
    );
    assert_eq!(
        codes(&with(
            json!({"adults":1,"child_ages":[1,2,3,4,5,6,7,8,9,10]})
        )),
        one("child_ages", "too_many_passengers")
    );
    let ok = validate_new_trip(&with(json!({"adults":2,"child_ages":[0,1,17]})), now()).unwrap();
    assert_eq!(ok.child_ages, vec![0, 1, 17]);
}

#[test]
fn child_ages_and_infants() {
    assert_eq!(
        codes(&with(json!({"adults":1,"child_ages":[0,1]}))),
        one("child_ages", "too_many_infants")
    );
    // Age 2 is a child with a seat, not an infant.
    assert!(validate_new_trip(&with(json!({"adults":1,"child_ages":[1,2]})), now()).is_ok());
    assert_eq!(
        codes(&with(json!({"child_ages":[3,18,-1,2.5,"4"]}))),
        vec![
            ("child_ages[1]".to_owned(), "out_of_range"),
            ("child_ages[2]".to_owned(), "out_of_range"),
            ("child_ages[3]".to_owned(), "not_an_integer"),
            ("child_ages[4]".to_owned(), "invalid_type"),
        ]
    );
    assert_eq!(
        codes(&with(json!({"child_ages":"3"}))),
        one("child_ages", "invalid_type")
    );
}

#[test]
fn cabin_currency_money_and_flags() {
    assert_eq!(
        codes(&with(json!({"cabin":"Economy"}))),
        one("cabin", "invalid_cabin")
    );
    assert_eq!(
        codes(&with(json!({"cabin":"coach"}))),
        one("cabin", "invalid_cabin")
    );
    for cabin in ["economy", "premium_economy", "business", "first"] {
        assert!(validate_new_trip(&with(json!({"cabin":cabin})), now()).is_ok());
    }
    assert_eq!(
        codes(&with(json!({"currency":"gbp"}))),
        one("currency", "unknown_currency")
    );
    assert_eq!(
        codes(&with(json!({"currency":"XAU"}))),
        one("currency", "unknown_currency")
    );
    assert_eq!(
        codes(&with(json!({"currency":826}))),
        one("currency", "invalid_type")
    );
    let jpy = validate_new_trip(
        &with(json!({"currency":"JPY","max_total_minor":150000})),
        now(),
    );
    assert_eq!(jpy.unwrap().currency.exponent(), 0);
    assert_eq!(
        codes(&with(json!({"max_total_minor":0}))),
        one("max_total_minor", "out_of_range")
    );
    assert_eq!(
        codes(&with(json!({"max_total_minor":1_000_000_000_001_i64}))),
        one("max_total_minor", "out_of_range")
    );
    assert!(validate_new_trip(
        &with(json!({"max_total_minor":1_000_000_000_000_i64})),
        now()
    )
    .is_ok());
    assert_eq!(
        codes(&with(json!({"max_total_minor":420.5}))),
        one("max_total_minor", "not_an_integer")
    );
    assert_eq!(
        codes(&with(json!({"max_total_minor":"42000"}))),
        one("max_total_minor", "invalid_type")
    );
    assert_eq!(
        codes(&with(json!({"nonstop_only":"yes"}))),
        one("nonstop_only", "invalid_type")
    );
    assert_eq!(
        codes(&with(json!({"auto_book":1}))),
        one("auto_book", "invalid_type")
    );
}

#[test]
fn unknown_fields_are_rejected() {
    assert_eq!(
        codes(&with(json!({"price":1}))),
        one("price", "unknown_field")
    );
    // trip_id belongs to the other body shape; mixed with trip fields it is still refused.
    let err = parse_trip_body(
        &with(json!({"trip_id":"0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c"})),
        now(),
    );
    let fields = err.unwrap_err();
    assert!(fields.fields().iter().all(|f| f.code == "unknown_field"));
    assert_eq!(fields.fields().len(), 11);
}

#[test]
fn collects_every_error() {
    let body = json!({"origin":"xx","destination":"JFK","departure_date":"2020-01-01",
        "adults":0,"cabin":"coach","max_total_minor":-5,"currency":"ZZZ","extra":true});
    let got = codes(body.to_string().as_bytes());
    let mut got_codes: Vec<&str> = got.iter().map(|(_, c)| *c).collect();
    got_codes.sort_unstable();
    assert_eq!(
        got_codes,
        vec![
            "date_in_past",
            "invalid_cabin",
            "invalid_iata",
            "out_of_range",
            "out_of_range",
            "unknown_currency",
            "unknown_field"
        ]
    );
    let err = validate_new_trip(body.to_string().as_bytes(), now()).unwrap_err();
    let rendered = serde_json::to_value(err.to_body()).unwrap();
    assert_eq!(rendered["code"], "validation_failed");
    assert_eq!(rendered["fields"].as_array().unwrap().len(), 7);
    assert_eq!(rendered["fields"][0]["field"], "extra");
}

#[test]
fn trip_ref_parsing() {
    let id = "0B0F0C1E-8D5A-4C53-9A53-7B1E2F3A4B5C";
    let body = json!({ "trip_id": id }).to_string();
    let parsed = parse_trip_ref(body.as_bytes()).unwrap();
    assert_eq!(parsed.trip_id.as_str(), id.to_ascii_lowercase());
    assert_eq!(
        parse_trip_body(body.as_bytes(), now()).unwrap(),
        TripBody::Existing(parsed)
    );
    let bad = |body: Value| {
        parse_trip_ref(body.to_string().as_bytes())
            .unwrap_err()
            .fields()
            .to_vec()
    };
    assert_eq!(bad(json!({"trip_id":"42"}))[0].code, "invalid_trip_id");
    assert_eq!(bad(json!({"trip_id":42}))[0].code, "invalid_type");
    assert_eq!(bad(json!({}))[0].code, "required");
    assert_eq!(bad(json!({"trip_id":id,"x":1}))[0].code, "unknown_field");
    assert_eq!(parse_trip_ref(b"[]"), Err(TripError::InvalidJson));
    assert!(matches!(
        parse_trip_body(&with(json!({})), now()),
        Ok(TripBody::New(_))
    ));
}

#[test]
fn iso_date_parser() {
    assert_eq!(
        parse_iso_date("2028-02-29"),
        NaiveDate::from_ymd_opt(2028, 2, 29)
    );
    for bad in [
        "2027-02-29",
        "2027-00-10",
        "2027-01-32",
        "0000-01-01x",
        "２０２７-01-01",
    ] {
        assert_eq!(parse_iso_date(bad), None, "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let _ = parse_trip_body(&bytes, now());
    }

    #[test]
    fn arbitrary_field_values_never_panic(
        adults in proptest::num::i64::ANY,
        ages in proptest::collection::vec(-3i64..30, 0..12),
        total in proptest::num::i64::ANY,
        day in 0u32..800,
    ) {
        let date = now().utc_date() + Days::new(u64::from(day));
        let body = with(json!({"adults":adults,"child_ages":ages,"max_total_minor":total,
                               "departure_date":date.to_string()}));
        match validate_new_trip(&body, now()) {
            Ok(trip) => {
                proptest::prop_assert!(trip.adults >= 1 && usize::from(trip.adults) + trip.child_ages.len() <= 9);
                proptest::prop_assert!(day <= 365);
            }
            Err(err) => proptest::prop_assert!(!err.fields().is_empty()),
        }
    }
}

#[test]
fn duplicate_keys_are_refused_not_last_one_wins() {
    let body =
        br#"{"origin":"XX1","origin":"QUE","destination":"JFK","departure_date":"2027-03-12",
        "adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}"#;
    let err = validate_new_trip(body, now()).unwrap_err();
    assert_eq!(err, TripError::DuplicateKey);
    assert_eq!(err.code(), "duplicate_key");
    let body = serde_json::to_value(err.to_body()).unwrap();
    assert_eq!(body["code"], "duplicate_key");
    assert!(body.get("fields").is_none());
    // Through the trip-search entry point too, for both body kinds and nested values.
    for body in [
        &br#"{"trip_id":"5b0c3b8e-1d1b-4a53-9d5e-3f2a1c0b9a87","trip_id":"5b0c3b8e-1d1b-4a53-9d5e-3f2a1c0b9a88"}"#[..],
        br#"{"origin":"LHR","child_ages":[],"extra":{"a":1,"a":2}}"#,
    ] {
        assert_eq!(
            parse_trip_body(body, now()).map(|_| ()),
            Err(TripError::DuplicateKey)
        );
    }
}
