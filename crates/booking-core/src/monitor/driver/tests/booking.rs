//! The book checks, beginning the attempt, the saga loop, and the call cap.

use super::*;

#[test]
fn missing_payment_profile_keeps_watching_without_an_attempt() {
    let mut d = driver(claim("watching", Some(offer()), None));
    reprice_at(&mut d, "300.00");
    rescheduled(&mut d, "payment_profile_missing");
}

#[test]
fn missing_travellers_keep_watching_without_an_attempt() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    reprice_at(&mut d, "300.00");
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    answer(
        &mut d,
        json!({"passengers": null, "reason": "travelers_missing"}),
    );
    rescheduled(&mut d, "travelers_missing");
}

/// A trip for one adult and an infant whose stored offer requires identity documents.
fn family_claim(raw: Value) -> Value {
    let mut c = claim("watching", Some(offer()), Some(payment()));
    c["trip"]["child_ages"] = json!([1]);
    c["selected_offer"]["raw"] = raw;
    c
}

fn family_raw() -> Value {
    json!({"passenger_identity_documents_required": true,
        "supported_passenger_identity_document_types": ["passport"],
        "passengers": [{"id": "pas_1", "type": "adult", "age": null},
                       {"id": "pas_2", "type": "infant_without_seat", "age": 1}]})
}

fn family_passengers(expires_on: Option<&str>) -> Value {
    let doc = expires_on.map(|e| {
        json!({"type": "passport", "unique_identifier": "X1234567",
        "issuing_country_code": "GB", "expires_on": e})
    });
    let one = |name: &str, born: &str| {
        json!({"title":"ms","gender":"f","given_name":name,
        "family_name":FAMILY,"born_on":born,"email":EMAIL,"phone_number":"+15555550100",
        "identity_document": doc})
    };
    json!({"passengers": [one(GIVEN, "1990-01-01"), one("Baby", "2025-06-01")]})
}

#[test]
fn missing_or_expired_documents_keep_watching_without_an_attempt() {
    // The trip departs 2026-12-12: a passport expiring the day before is no good.
    for (expires_on, reason) in [
        (None, "identity_document_missing"),
        (Some("2026-12-11"), "identity_document_expired"),
    ] {
        let mut d = driver(family_claim(family_raw()));
        reprice_at(&mut d, "300.00");
        assert_eq!(sql(&mut d).0, "monitor_passengers");
        answer(&mut d, family_passengers(expires_on));
        let args = rescheduled(&mut d, reason);
        assert_eq!(args["decision"], "book_blocked");
        assert!(!mentions_personal_data(&args.to_string()));
    }
}

#[test]
fn valid_documents_or_an_unknown_raw_offer_begin_the_attempt() {
    for raw in [
        family_raw(),
        Value::Null,
        json!({"passengers": "unreadable"}),
    ] {
        let mut d = driver(family_claim(raw));
        reprice_at(&mut d, "300.00");
        assert_eq!(sql(&mut d).0, "monitor_passengers");
        answer(&mut d, family_passengers(Some("2030-01-01")));
        assert_eq!(sql(&mut d).0, "monitor_begin_attempt");
        assert!(!format!("{d:?}").contains("X1234567"));
    }
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
fn begin_refused_by_the_kill_switch_is_skipped_and_starts_nothing() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(
        &mut d,
        json!({"started": false, "reason": "monitor_disabled"}),
    );
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Skipped, "monitor_disabled".into())
    );
    assert_eq!(d.provider_calls(), 1, "only the monitor's re-price");
}

#[test]
fn begin_refused_by_the_attempt_limit_ends_the_run_failed() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(&mut d, json!({"started": false, "reason": "attempt_limit"}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Failed, "attempt_limit".into())
    );
    assert_eq!(d.provider_calls(), 1, "no authorize after the refusal");
}

/// A stored attempt of [`TRIP`] in `phase` at version 6, re-priced (one passenger, GBP 300.00).
fn stored(phase: Phase) -> AttemptState {
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
    state.phase = phase;
    state.version = 6;
    state.passenger_ids = vec!["pas_1".into()];
    state.amount = Some(Money::from_minor(30_000, Currency::parse("GBP").unwrap()).unwrap());
    state
}

/// A driver resuming `state` whose `monitor_passengers` call fails with a SQL error.
fn resume_without_passengers(state: &AttemptState) -> TripDriver {
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    d.handle_sql_error(NOW, "55000").unwrap();
    d
}

#[test]
fn a_passenger_lookup_error_in_the_order_phase_releases_the_hold() {
    let mut state = stored(Phase::Order);
    state.payment_intent = Some("pi_1".into());
    let mut d = resume_without_passengers(&state);
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt", "the saga goes on");
    assert_eq!(args["expected_version"], 6);
    assert_eq!(args["state"]["phase"]["name"], "release");
    let mut cancelled = false;
    for _ in 0..20 {
        match d.poll(NOW) {
            Command::Sql { function, args, .. } => {
                assert_eq!(function, SqlFunction::MonitorSaveAttempt);
                answer(&mut d, json!({"saved": true}));
                if args["state"]["phase"]["name"] == "closed" {
                    break;
                }
            }
            Command::Http { request, .. } => {
                assert!(!request.path.ends_with("/air/orders"), "no order is placed");
                assert_eq!(
                    request.path, "/v1/payment_intents/pi_1/cancel",
                    "the only request releases the hold"
                );
                cancelled = true;
                respond(&mut d, 200, intent("canceled"));
            }
            Command::Done { .. } => panic!("done before the attempt closed"),
        }
    }
    assert!(cancelled);
    assert_eq!(finish(&mut d).0, DriverOutcome::Failed);
}

#[test]
fn a_passenger_lookup_error_after_an_unanswered_authorize_searches_for_the_hold() {
    let mut state = stored(Phase::Authorize);
    state.tries = 1;
    let mut d = resume_without_passengers(&state);
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt", "the saga goes on");
    assert_eq!(args["state"]["phase"]["name"], "find_intent");
    assert_eq!(args["state"]["payment_intent"], Value::Null);
}

#[test]
fn a_passenger_lookup_error_before_any_money_moved_stops_the_run() {
    for state in [stored(Phase::Reprice), stored(Phase::Authorize)] {
        let mut d = resume_without_passengers(&state);
        assert_eq!(
            finish(&mut d),
            (DriverOutcome::Stopped, "sql_error_55000".into()),
            "{:?}: nothing is held, so the attempt waits for the travellers",
            state.phase
        );
        assert_eq!(d.provider_calls(), 0);
    }
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
            Command::Sql { function, args, .. } => {
                assert!(!mentions_personal_data(&args.to_string()));
                assert_eq!(function, SqlFunction::MonitorSaveAttempt);
                assert_eq!(args["attempt_id"], ATTEMPT);
                let expected = args["expected_version"].as_u64().unwrap();
                assert_eq!(args["state"]["version"].as_u64(), Some(expected + 1));
                answer(&mut d, json!({"saved": true}));
            }
            Command::Http { request, .. } => {
                let is_order = request.path.ends_with("/air/orders");
                assert_eq!(
                    mentions_personal_data(&serde_json::to_string(&request).unwrap()),
                    is_order,
                    "{}",
                    request.path
                );
                assert!(!mentions_personal_data(&format!("{request:?}")));
                let (status, reply) = if request.path.contains("/air/offers/") {
                    (200, offer_body("300.00"))
                } else if request.path.ends_with("/v1/payment_intents") {
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
                } else if request.path.ends_with("/capture") {
                    (200, intent("succeeded"))
                } else if body(&request).get(0) == Some(&json!("EVAL")) {
                    (200, json!({"result": 1}))
                } else {
                    panic!("unexpected request {}", request.path)
                };
                respond(&mut d, status, reply);
            }
            Command::Done {
                result: TripDone { outcome, reason },
            } => {
                assert_eq!(outcome, DriverOutcome::Booked);
                assert_eq!(reason, "captured");
                break;
            }
        }
    }
    assert!(order_seen);
    // Re-price (monitor, once: the attempt starts at authorize from it), authorize, order,
    // capture. Before the one-price fix the saga re-priced again: 5 calls.
    assert_eq!(d.provider_calls(), 4);
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
fn the_call_cap_stops_cleanly_and_reschedules_at_once() {
    let mut d = driver_with(claim("watching", Some(offer()), Some(payment())), 1);
    start_booking(&mut d);
    answer(&mut d, json!({"started": true}));
    let args = rescheduled(&mut d, "call_cap");
    assert_eq!(args["next_check_at"], json!(NOW));
    assert_eq!(d.provider_calls(), 1);
}
