use serde_json::{json, Value};

use super::*;
use crate::error::TransportFailure;
use crate::http::{HttpRequest, Method};
use crate::money::{Currency, Money};
use crate::monitor::CALLS_PER_TRIP;
use crate::saga::{self, Begin, End, Phase};
use crate::search;
use crate::time::Timestamp;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000); // 2026-09-21T…
const ATTEMPT: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const TRIP: &str = "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c";
const GIVEN: &str = "Zelda";
const FAMILY: &str = "Quuxington";
const EMAIL: &str = "zq@example.test";

fn config(max_calls: u32) -> DriverConfig {
    DriverConfig::from_json(
        &json!({"duffel":{"base_url":"http://duffel.test","access_token":"duffel_test_x"},
            "stripe":{"base_url":"http://stripe.test","secret_key":"sk_test_x"},
            "upstash":{"url":"http://upstash.test","token":"up_tok"},
            "lock_lease_ms":30000,"max_provider_calls":max_calls})
        .to_string(),
    )
    .unwrap()
}

fn trip(status: &str) -> Value {
    json!({"id":TRIP,"owner_id":"11111111-2222-4333-8444-555555555555","origin":"LHR",
        "destination":"JFK","departure_date":"2026-12-12","return_date":null,"adults":1,
        "child_ages":[],"cabin":"economy","nonstop_only":false,"max_total_minor":40000,
        "currency":"GBP","auto_book":true,"status":status,"selected_offer_id":null,
        "next_check_at":null,"check_count":0,"last_error_code":null,"version":4,
        "created_at":"2026-09-01T10:00:00Z","updated_at":"2026-09-01T10:00:00Z"})
}

fn offer() -> Value {
    json!({"provider_offer_id":"off_1","total_minor":30000,"currency":"GBP",
        "expires_at":"2026-09-21T15:00:00Z","departing_at":"2026-12-12T09:00:00"})
}

fn payment() -> Value {
    json!({"customer":"cus_1","payment_method":"pm_card_visa"})
}

fn claim(status: &str, offer: Option<Value>, payment: Option<Value>) -> Value {
    json!({"trip": trip(status), "selected_offer": offer, "attempt": null, "payment": payment})
}

fn driver_with(claim: Value, max_calls: u32) -> TripDriver {
    TripDriver::new(
        Claim::from_json(&claim.to_string()).unwrap(),
        config(max_calls),
        NOW,
        ATTEMPT,
        42,
        "tok-1",
    )
    .unwrap()
}

fn driver(claim: Value) -> TripDriver {
    driver_with(claim, CALLS_PER_TRIP)
}

fn http(d: &mut TripDriver) -> HttpRequest {
    match d.poll(NOW) {
        DriverCommand::Http { request } => request,
        other => panic!("expected http, got {other:?}"),
    }
}

fn sql(d: &mut TripDriver) -> (&'static str, Value) {
    match d.poll(NOW) {
        DriverCommand::Sql { function, args } => (function, args),
        other => panic!("expected sql, got {other:?}"),
    }
}

fn body(r: &HttpRequest) -> Value {
    serde_json::from_str(r.body.as_deref().unwrap_or("null")).unwrap()
}

fn respond(d: &mut TripDriver, status: u16, body: Value) {
    d.handle_http(NOW, status, body.to_string().as_bytes())
        .unwrap();
}

fn answer(d: &mut TripDriver, result: Value) {
    d.handle_sql(NOW, &result.to_string()).unwrap();
}

fn lock(d: &mut TripDriver) {
    let r = http(d);
    assert_eq!(body(&r)[0], "SET");
    assert_eq!(
        body(&r),
        json!([
            "SET",
            format!("lock:trip:{TRIP}"),
            "tok-1",
            "NX",
            "PX",
            30000
        ])
    );
    respond(d, 200, json!({"result":"OK"}));
}

/// Expects the lock release, then `done`.
fn finish(d: &mut TripDriver) -> (DriverOutcome, String) {
    let r = http(d);
    assert_eq!(body(&r)[0], "EVAL", "release before done");
    assert_eq!(body(&r)[4], "tok-1");
    respond(d, 200, json!({"result":1}));
    done(d)
}

fn done(d: &mut TripDriver) -> (DriverOutcome, String) {
    match d.poll(NOW) {
        DriverCommand::Done { outcome, reason } => (outcome, reason),
        other => panic!("expected done, got {other:?}"),
    }
}

fn offer_body(total: &str) -> Value {
    json!({"data":{"id":"off_1","total_amount":total,"total_currency":"GBP",
        "expires_at":"2026-09-21T15:00:00Z","passengers":[{"id":"pas_1","type":"adult"}]}})
}

fn passengers() -> Value {
    json!({"passengers":[{"title":"ms","gender":"f","given_name":GIVEN,"family_name":FAMILY,
        "born_on":"1990-01-01","email":EMAIL,"phone_number":"+15555550100"}]})
}

fn intent(status: &str) -> Value {
    json!({"id":"pi_1","object":"payment_intent","status":status,"amount":30000,
        "amount_received": if status == "succeeded" { 30000 } else { 0 },
        "currency":"gbp","capture_method":"manual","metadata":{"attempt_id":ATTEMPT}})
}

fn mentions_personal_data(text: &str) -> bool {
    [GIVEN, FAMILY, EMAIL].iter().any(|p| text.contains(p))
}

/// Runs the watching → book path up to the started attempt; returns the first saga command.
fn start_booking(d: &mut TripDriver) {
    lock(d);
    let r = http(d);
    assert_eq!(r.url, "http://duffel.test/air/offers/off_1");
    respond(d, 200, offer_body("300.00"));
    let (f, args) = sql(d);
    assert_eq!((f, args), ("monitor_passengers", json!({"trip_id": TRIP})));
    answer(d, passengers());
    let (f, args) = sql(d);
    assert_eq!(f, "monitor_begin_attempt");
    assert_eq!(args["trip_id"], TRIP);
    assert_eq!(args["trip_version"], 4);
    assert_eq!(args["state"]["attempt_id"], ATTEMPT);
    assert_eq!(args["state"]["offer_id"], "off_1");
    assert_eq!(args["state"]["customer"], "cus_1");
    assert!(!mentions_personal_data(&args.to_string()));
}

#[test]
fn lock_held_by_another_run_ends_locked_without_release() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    let r = http(&mut d);
    assert_eq!(r.method, Method::Post);
    assert_eq!(r.url, "http://upstash.test");
    respond(&mut d, 200, json!({"result": null}));
    assert_eq!(done(&mut d), (DriverOutcome::Locked, "lock_held".into()));
    assert!(d.is_done());
    assert_eq!(d.provider_calls(), 0);
}

#[test]
fn lock_service_failure_ends_locked() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    http(&mut d);
    d.handle_transport(NOW, TransportFailure::Timeout).unwrap();
    assert_eq!(
        done(&mut d),
        (DriverOutcome::Locked, "lock_unavailable".into())
    );
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    http(&mut d);
    respond(&mut d, 401, json!({"error":"Unauthorized"}));
    assert_eq!(done(&mut d).0, DriverOutcome::Locked);
}

#[test]
fn searching_trip_is_searched_and_recorded() {
    let mut d = driver(claim("searching", None, None));
    lock(&mut d);
    let r = http(&mut d);
    assert!(
        r.url.starts_with("http://duffel.test/air/offer_requests"),
        "{}",
        r.url
    );
    let answer_body = json!({"data":{"id":"orq_1","offers":[{"id":"off_9",
        "total_amount":"250.00","total_currency":"GBP","expires_at":"2026-09-21T15:00:00Z",
        "slices":[{"duration":"PT8H","segments":[{"departing_at":"2026-12-12T09:00:00",
            "arriving_at":"2026-12-12T12:00:00","marketing_carrier":{"iata_code":"BA"},
            "passengers":[{"cabin_class":"economy"}]}]}]}]}});
    respond(&mut d, 201, answer_body);
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_record_search");
    assert_eq!(args["trip_id"], TRIP);
    assert_eq!(args["result"]["selected_provider_offer_id"], "off_9");
    assert_eq!(args["result"]["decision"], "offer_selected");
    answer(
        &mut d,
        json!({"trip": trip("watching"), "selected_offer": null}),
    );
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Searched, "offer_selected".into())
    );
    assert_eq!(d.provider_calls(), 1);
}

#[test]
fn failed_search_is_recorded_as_a_failure() {
    let mut d = driver(claim("watching", None, None));
    lock(&mut d);
    http(&mut d);
    d.handle_transport(NOW, TransportFailure::Network).unwrap();
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_record_search_failure");
    assert_eq!(args["error_code"], "provider_unavailable");
    assert_eq!(
        args["next_check_at"],
        json!(search::search_failure_next_check(NOW))
    );
    answer(
        &mut d,
        json!({"trip": trip("watching"), "selected_offer": null}),
    );
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Searched, "provider_unavailable".into())
    );
}

#[test]
fn watching_over_budget_is_rescheduled() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    lock(&mut d);
    http(&mut d);
    respond(&mut d, 200, offer_body("400.01"));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_reschedule");
    assert_eq!(args["decision"], "wait");
    assert_eq!(args["reason"], "over_budget");
    let next = Timestamp::parse_rfc3339(args["next_check_at"].as_str().unwrap()).unwrap();
    assert!(next > NOW);
    answer(&mut d, json!({"ok": true}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Waiting, "over_budget".into())
    );
}

#[test]
fn a_gone_offer_leads_to_a_new_search() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    lock(&mut d);
    http(&mut d);
    respond(
        &mut d,
        422,
        json!({"errors":[{"code":"offer_no_longer_available","type":"invalid_state_error"}]}),
    );
    let r = http(&mut d);
    assert!(r.url.contains("/air/offer_requests"));
    assert_eq!(d.provider_calls(), 2);
}

#[test]
fn too_close_to_departure_expires_without_provider_calls() {
    let mut late = trip("watching");
    late["departure_date"] = json!("2026-09-22"); // lower bound 2026-09-21T10:00Z, before NOW+3h
    let c = json!({"trip": late, "selected_offer": null, "attempt": null, "payment": null});
    let mut d = driver(c.clone());
    lock(&mut d);
    let (f, args) = sql(&mut d);
    assert_eq!(
        (f, args),
        (
            "monitor_expire",
            json!({"trip_id": TRIP, "reason": "departure_too_close"})
        )
    );
    answer(&mut d, json!({"ok": true}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Expired, "departure_too_close".into())
    );
    assert_eq!(d.provider_calls(), 0);
    let mut d = driver(c);
    lock(&mut d);
    sql(&mut d);
    answer(&mut d, json!({"ok": false}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Skipped, "trip_changed".into())
    );
}

#[test]
fn other_statuses_are_skipped() {
    let mut d = driver(claim("booked", None, None));
    lock(&mut d);
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Skipped, "not_monitored".into())
    );
    let mut d = driver(claim("booking", None, None));
    lock(&mut d);
    assert_eq!(finish(&mut d).1, "booking_without_attempt".to_owned());
}

#[test]
fn missing_payment_profile_keeps_watching_without_an_attempt() {
    let mut d = driver(claim("watching", Some(offer()), None));
    lock(&mut d);
    http(&mut d);
    respond(&mut d, 200, offer_body("300.00"));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_reschedule");
    assert_eq!(args["reason"], "payment_profile_missing");
    answer(&mut d, json!({"ok": true}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Waiting, "payment_profile_missing".into())
    );
}

#[test]
fn missing_travellers_keep_watching_without_an_attempt() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    lock(&mut d);
    http(&mut d);
    respond(&mut d, 200, offer_body("300.00"));
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    answer(
        &mut d,
        json!({"passengers": null, "reason": "travelers_missing"}),
    );
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_reschedule");
    assert_eq!(args["reason"], "travelers_missing");
    answer(&mut d, json!({"ok": true}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Waiting, "travelers_missing".into())
    );
}

#[test]
fn begin_not_started_is_skipped() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(&mut d, json!({"started": false, "reason": "trip_changed"}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Skipped, "trip_changed".into())
    );

    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    d.handle_sql_error(NOW, "23505").unwrap();
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Skipped, "attempt_open".into())
    );
}

#[test]
fn books_end_to_end_and_keeps_travellers_out_of_everything_but_the_order() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(&mut d, json!({"started": true}));
    let mut order_seen = false;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 40, "runaway driver");
        assert!(!mentions_personal_data(&format!("{d:?}")));
        let command = d.poll(NOW);
        match command {
            DriverCommand::Sql { function, args } => {
                assert!(!mentions_personal_data(&args.to_string()));
                assert_eq!(function, "monitor_save_attempt");
                assert_eq!(args["attempt_id"], ATTEMPT);
                let expected = args["expected_version"].as_u64().unwrap();
                assert_eq!(args["state"]["version"].as_u64(), Some(expected + 1));
                answer(&mut d, json!({"saved": true}));
            }
            DriverCommand::Http { request } => {
                let is_order = request.url.ends_with("/air/orders");
                assert_eq!(
                    mentions_personal_data(&serde_json::to_string(&request).unwrap()),
                    is_order,
                    "{}",
                    request.url
                );
                assert!(!mentions_personal_data(&format!("{request:?}")));
                let (status, reply) = if request.url.contains("/air/offers/") {
                    (200, offer_body("300.00"))
                } else if request.url.ends_with("/v1/payment_intents") {
                    (200, intent("requires_capture"))
                } else if is_order {
                    order_seen = true;
                    let b = body(&request);
                    assert_eq!(b["data"]["passengers"][0]["id"], "pas_1");
                    assert_eq!(b["data"]["passengers"][0]["given_name"], GIVEN);
                    (
                        201,
                        json!({"data":{"id":"ord_1","booking_reference":"PNR001",
                            "total_amount":"300.00","total_currency":"GBP",
                            "metadata":{"attempt_id":ATTEMPT},"cancelled_at":null}}),
                    )
                } else if request.url.ends_with("/capture") {
                    (200, intent("succeeded"))
                } else if body(&request).get(0) == Some(&json!("EVAL")) {
                    (200, json!({"result": 1}))
                } else {
                    panic!("unexpected request {}", request.url)
                };
                respond(&mut d, status, reply);
            }
            DriverCommand::Done { outcome, reason } => {
                assert_eq!(outcome, DriverOutcome::Booked);
                assert_eq!(reason, "captured");
                break;
            }
        }
    }
    assert!(order_seen);
    // Re-price (monitor), re-price (saga), authorize, order, capture.
    assert_eq!(d.provider_calls(), 5);
}

#[test]
fn the_closing_write_carries_the_effects() {
    let mut state = saga::begin(
        Begin {
            attempt_id: ATTEMPT.into(),
            trip_id: TRIP.into(),
            offer_id: "off_1".into(),
            max_total: Money::from_minor(40_000, Currency::parse("GBP").unwrap()).unwrap(),
            customer: "cus_1".into(),
            payment_method: "pm_1".into(),
            seed: 1,
        },
        NOW,
    );
    state.phase = Phase::Finish { end: End::Fail };
    state.reason = Some("offer_without_passengers".into());
    state.version = 9;
    let mut c = claim("booking", None, None);
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 9);
    let kinds: Vec<&str> = args["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["set_trip_status", "notify", "log_decision"]);
    answer(&mut d, json!({"saved": true}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Failed, "offer_without_passengers".into())
    );
}

#[test]
fn an_attempt_left_in_flight_resolves_as_lost_first() {
    let mut state = saga::begin(
        Begin {
            attempt_id: ATTEMPT.into(),
            trip_id: TRIP.into(),
            offer_id: "off_1".into(),
            max_total: Money::from_minor(40_000, Currency::parse("GBP").unwrap()).unwrap(),
            customer: "cus_1".into(),
            payment_method: "pm_1".into(),
            seed: 1,
        },
        NOW,
    );
    state.phase = Phase::Order;
    state.in_flight = true;
    state.payment_intent = Some("pi_1".into());
    state.version = 6;
    let mut c = claim("booking", None, Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    // The order phase may need the travellers: they are read first.
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    answer(&mut d, passengers());
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 6);
    assert_eq!(args["state"]["in_flight"], false);
    assert_eq!(args["state"]["phase"]["name"], "reconcile");
    assert_eq!(d.provider_calls(), 0, "nothing is re-sent before the write");
}

#[test]
fn losing_the_compare_and_set_stops_the_run() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(&mut d, json!({"started": true}));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["state"]["in_flight"], true, "the mark");
    answer(&mut d, json!({"saved": false}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "attempt_changed".into())
    );
    assert_eq!(
        d.provider_calls(),
        1,
        "the request after a lost CAS is never sent"
    );
}

#[test]
fn sql_errors_and_bad_results_stop_the_run() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    d.handle_sql_error(NOW, "40001").unwrap();
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "sql_error_40001".into())
    );
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    d.handle_sql(NOW, "not json").unwrap();
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "invalid_sql_result".into())
    );
}

#[test]
fn the_call_cap_stops_cleanly_and_reschedules_at_once() {
    let mut d = driver_with(claim("watching", Some(offer()), Some(payment())), 1);
    start_booking(&mut d);
    answer(&mut d, json!({"started": true}));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_reschedule");
    assert_eq!(args["reason"], "call_cap");
    assert_eq!(args["next_check_at"], json!(NOW));
    answer(&mut d, json!({"ok": true}));
    assert_eq!(finish(&mut d), (DriverOutcome::Waiting, "call_cap".into()));
    assert_eq!(d.provider_calls(), 1);
}

#[test]
fn misuse_is_an_error_never_a_panic() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    assert_eq!(
        d.handle_http(NOW, 200, b"{}"),
        Err(DriverError::NotWaiting),
        "before the first poll"
    );
    http(&mut d);
    let err = d.handle_sql(NOW, "{}").unwrap_err();
    assert_eq!(err, DriverError::WrongOutcome { expected: "http" });
    assert_eq!(err.code(), "driver_wrong_outcome");
    // The waiting command survives the misuse and repeats on poll.
    assert_eq!(body(&http(&mut d))[0], "SET");
    respond(&mut d, 200, json!({"result": null}));
    done(&mut d);
    assert_eq!(
        d.handle_transport(NOW, TransportFailure::Timeout),
        Err(DriverError::NotWaiting)
    );
    assert_eq!(
        d.handle_sql_error(NOW, "40001").unwrap_err().code(),
        "driver_not_waiting"
    );
    assert_eq!(done(&mut d).0, DriverOutcome::Locked, "done repeats");
}

#[test]
fn bad_inputs_are_refused() {
    let c = Claim::from_json(&claim("watching", None, None).to_string()).unwrap();
    let err = TripDriver::new(c.clone(), config(6), NOW, "not-a-uuid", 1, "t").unwrap_err();
    assert_eq!(err.code(), "invalid_driver_input");
    let err = TripDriver::new(c, config(6), NOW, ATTEMPT, 1, "").unwrap_err();
    assert_eq!(err.code(), "invalid_driver_input");
    assert_eq!(
        Claim::from_json(r#"{"trip":{}}"#).unwrap_err().code(),
        "invalid_claim"
    );
    assert_eq!(
        DriverConfig::from_json("{}").unwrap_err().code(),
        "invalid_config"
    );
}

#[test]
fn debug_shows_no_personal_data_or_secrets() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    let text = format!("{d:?}");
    assert!(!mentions_personal_data(&text), "{text}");
    assert!(text.contains("travellers: 1"), "{text}");
    assert!(
        !text.contains("sk_test_x") && !text.contains("up_tok"),
        "{text}"
    );
    let text = format!("{:?}", config(6));
    assert!(
        !text.contains("sk_test_x") && !text.contains("up_tok") && !text.contains("duffel_test_x")
    );
}

#[test]
fn commands_serialise_to_the_contract() {
    let c = DriverCommand::Done {
        outcome: DriverOutcome::NeedsTraveller,
        reason: "card_declined".into(),
    };
    assert_eq!(
        serde_json::to_value(c).unwrap(),
        json!({"kind":"done","outcome":"needs_traveller","reason":"card_declined"})
    );
    let c = DriverCommand::Sql {
        function: "monitor_expire",
        args: json!({"trip_id": TRIP}),
    };
    assert_eq!(
        serde_json::to_value(c).unwrap(),
        json!({"kind":"sql","function":"monitor_expire","args":{"trip_id": TRIP}})
    );
    let mut d = driver(claim("watching", None, None));
    let v = serde_json::to_value(d.poll(NOW)).unwrap();
    assert_eq!(v["kind"], "http");
    assert_eq!(v["request"]["method"], "POST");
    assert_eq!(v["request"]["timeout_ms"], 5000);
    assert_eq!(DriverOutcome::Stopped.as_str(), "stopped");
}

#[test]
fn a_search_that_selects_a_bookable_offer_books_it_in_the_same_run() {
    let mut d = driver(claim("searching", None, Some(payment())));
    lock(&mut d);
    http(&mut d);
    let answer_body = json!({"data":{"id":"orq_1","offers":[{"id":"off_9",
        "total_amount":"250.00","total_currency":"GBP","expires_at":"2026-09-21T15:00:00Z",
        "slices":[{"duration":"PT8H","segments":[{"departing_at":"2026-12-12T09:00:00",
            "arriving_at":"2026-12-12T12:00:00","marketing_carrier":{"iata_code":"BA"},
            "passengers":[{"cabin_class":"economy"}]}]}]}]}});
    respond(&mut d, 201, answer_body);
    assert_eq!(sql(&mut d).0, "monitor_record_search");
    let mut row = trip("watching");
    row["version"] = json!(5);
    let selected = json!({"id":"99999999-0000-4000-8000-000000000000",
        "provider_offer_id":"off_9","total_minor":25000,"currency":"GBP",
        "expires_at":"2026-09-21T15:00:00Z","departing_at":"2026-12-12T09:00:00",
        "cabin":"economy","stops":0});
    answer(&mut d, json!({"trip": row, "selected_offer": selected}));
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    answer(&mut d, passengers());
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_begin_attempt");
    assert_eq!(args["trip_version"], 5, "the version the search left");
    assert_eq!(args["state"]["offer_id"], "off_9");
    assert_eq!(
        d.provider_calls(),
        1,
        "no second re-price before the saga's own"
    );
}

#[test]
fn a_search_that_selects_an_offer_without_consent_only_records_it() {
    let mut c = claim("searching", None, Some(payment()));
    c["trip"]["auto_book"] = json!(false);
    let mut d = driver(c);
    lock(&mut d);
    http(&mut d);
    let answer_body = json!({"data":{"id":"orq_1","offers":[{"id":"off_9",
        "total_amount":"250.00","total_currency":"GBP","expires_at":"2026-09-21T15:00:00Z",
        "slices":[{"duration":"PT8H","segments":[{"departing_at":"2026-12-12T09:00:00",
            "arriving_at":"2026-12-12T12:00:00","marketing_carrier":{"iata_code":"BA"},
            "passengers":[{"cabin_class":"economy"}]}]}]}]}});
    respond(&mut d, 201, answer_body);
    sql(&mut d);
    let mut row = trip("watching");
    row["auto_book"] = json!(false);
    let selected = json!({"provider_offer_id":"off_9","total_minor":25000,"currency":"GBP",
        "expires_at":"2026-09-21T15:00:00Z","departing_at":"2026-12-12T09:00:00"});
    answer(&mut d, json!({"trip": row, "selected_offer": selected}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Searched, "offer_selected".into())
    );
}
