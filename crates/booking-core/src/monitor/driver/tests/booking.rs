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

/// A driver resuming `state` (at `now`) whose `monitor_passengers` call fails with `sqlstate`.
fn resume_unreadable_at(state: &AttemptState, now: Timestamp, sqlstate: &str) -> TripDriver {
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    d.handle_sql_error(now, sqlstate).unwrap();
    d
}

fn resume_without_passengers(state: &AttemptState) -> TripDriver {
    resume_unreadable_at(state, NOW, "55000")
}

#[test]
fn a_passenger_lookup_error_while_money_is_held_stops_without_releasing() {
    let mut order = stored(Phase::Order);
    order.payment_intent = Some("pi_1".into());
    let mut authorize = stored(Phase::Authorize);
    authorize.tries = 1;
    let mut reprice = stored(Phase::Reprice);
    reprice.tries = 1;
    for state in [order, authorize, reprice, stored(Phase::Authorize)] {
        for sqlstate in ["08006", "40001", "57014", "55000", "XX000"] {
            let mut d = resume_unreadable_at(&state, NOW, sqlstate);
            assert_eq!(
                finish(&mut d),
                (
                    DriverOutcome::Stopped,
                    format!("sql_error_{}", sqlstate.to_ascii_lowercase())
                ),
                "{:?} {sqlstate}: an error is not 'travellers gone'",
                state.phase
            );
            assert_eq!(d.provider_calls(), 0, "nothing released, nothing sent");
        }
    }
}

#[test]
fn a_passenger_lookup_error_still_lets_an_order_in_flight_reconcile() {
    let mut state = stored(Phase::Order);
    state.payment_intent = Some("pi_1".into());
    state.in_flight = true;
    let mut d = resume_unreadable_at(&state, NOW, "08006");
    // The lost order's resolution goes with the look-up's mark (one write).
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["state"]["phase"]["name"], "reconcile");
    assert_eq!(args["state"]["in_flight"], true);
    answer(&mut d, json!({"saved": true}));
    let r = http(&mut d);
    assert!(r.path.contains("/air/orders?offer_id="), "{}", r.path);
}

#[test]
fn travellers_unreadable_for_hours_are_flagged_for_an_operator() {
    let mut state = stored(Phase::Order);
    state.payment_intent = Some("pi_1".into());
    let late = Timestamp::from_unix_ms(NOW.unix_ms() + TRAVELLERS_UNREADABLE_ALERT_MS);
    let mut d = resume_unreadable_at(&state, late, "08006");
    let (f, args) = match d.poll(late) {
        Command::Sql { function, args, .. } => (function, args),
        other => panic!("{other:?}"),
    };
    assert_eq!(f, SqlFunction::MonitorFlagAttempt);
    assert_eq!(
        args,
        json!({"attempt_id": ATTEMPT, "expected_version": 6,
            "reason": "travelers_unreadable", "sqlstate": "08006"})
    );
    d.handle_sql(late, r#"{"flagged": true}"#).unwrap();
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::NeedsOperator, "travelers_unreadable".into())
    );
    assert_eq!(d.provider_calls(), 0, "the hold is left for the operator");
    // Just before the alert time the run only stops.
    let early = Timestamp::from_unix_ms(late.unix_ms() - 1);
    let mut d = resume_unreadable_at(&state, early, "08006");
    assert_eq!(finish(&mut d).0, DriverOutcome::Stopped);
}

#[test]
fn travellers_definitely_gone_still_release_the_hold() {
    let mut state = stored(Phase::Order);
    state.payment_intent = Some("pi_1".into());
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    answer(
        &mut d,
        json!({"passengers": null, "reason": "travelers_missing"}),
    );
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt", "the saga goes on");
    assert_eq!(args["expected_version"], 6);
    assert_eq!(args["state"]["phase"]["name"], "release");
    assert_eq!(args["state"]["reason"], "traveller_mismatch");
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

/// A driver resuming a captured attempt whose closing write comes next; returns it waiting on
/// that write (`monitor_save_attempt` with the effects).
fn closing_write() -> TripDriver {
    let mut state = stored(Phase::Finish { end: End::Booked });
    state.payment_intent = Some("pi_1".into());
    state.order = Some(saga::OrderRecord {
        id: "ord_1".into(),
        booking_reference: "ABC123".into(),
    });
    state.reason = Some("captured".into());
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["effects"][1]["kind"], "record_booking");
    d
}

#[test]
fn a_ledger_that_cannot_close_is_flagged_for_an_operator() {
    for sqlstate in ["23505", "23514", "22023", "42501", "55000"] {
        let mut d = closing_write();
        d.handle_sql_error(NOW, sqlstate).unwrap();
        let (f, args) = sql(&mut d);
        assert_eq!(f, "monitor_flag_attempt", "{sqlstate}");
        assert_eq!(
            args,
            json!({"attempt_id": ATTEMPT, "expected_version": 6,
                "reason": "ledger_unclosable", "sqlstate": sqlstate})
        );
        answer(&mut d, json!({"flagged": true}));
        assert_eq!(
            finish(&mut d),
            (DriverOutcome::NeedsOperator, "ledger_unclosable".into())
        );
    }
    // Another run moved the attempt first: stop, nothing flagged by this run.
    let mut d = closing_write();
    d.handle_sql_error(NOW, "23505").unwrap();
    sql(&mut d);
    answer(&mut d, json!({"flagged": false}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "attempt_changed".into())
    );
    // The flag itself failing: stop; the next run meets the same error and flags again.
    let mut d = closing_write();
    d.handle_sql_error(NOW, "23505").unwrap();
    sql(&mut d);
    d.handle_sql_error(NOW, "08006").unwrap();
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "sql_error_08006".into())
    );
}

#[test]
fn a_transient_error_on_a_save_only_stops_the_run() {
    for sqlstate in ["40001", "40P01", "08006", "57014", "55P03", "53300"] {
        let mut d = closing_write();
        d.handle_sql_error(NOW, sqlstate).unwrap();
        assert_eq!(
            finish(&mut d),
            (
                DriverOutcome::Stopped,
                format!("sql_error_{}", sqlstate.to_ascii_lowercase())
            )
        );
    }
    // A mark refused for good is flagged too (the order is not sent): the order's mark,
    // which carries the authorization, refused against the stored authorize mark (version 2).
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(&mut d, json!({"started": true}));
    let (f, args) = authorized(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 2);
    assert_eq!(args["state"]["phase"]["name"], "order");
    assert_eq!(args["state"]["in_flight"], true);
    assert_eq!(args["state"]["payment_intent"], "pi_1");
    d.handle_sql_error(NOW, "23514").unwrap();
    // The authorization it carried is saved on its own first, so the flagged state names the
    // intent an operator must release.
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 2);
    assert_eq!(args["state"]["payment_intent"], "pi_1");
    assert_eq!(args["state"]["in_flight"], false);
    let own = args["state"]["version"].as_u64().unwrap();
    assert!(own > 2);
    answer(&mut d, json!({"saved": true}));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_flag_attempt");
    assert_eq!(args["expected_version"], own);
    assert_eq!(
        d.provider_calls(),
        2,
        "the route's re-price and the authorize"
    );
}

#[test]
fn books_end_to_end_and_keeps_travellers_out_of_everything_but_the_order() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    let begun = start_booking(&mut d);
    // The attempt begins with the authorize's mark: durable before the authorize leaves.
    assert_eq!(begun["state"]["in_flight"], true, "begins with the mark");
    assert_eq!(begun["state"]["tries"], 1);
    assert_eq!(begun["state"]["version"], 2);
    answer(&mut d, json!({"started": true}));
    let mut order_seen = false;
    let mut saves = 0;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 40, "runaway driver");
        assert!(!mentions_personal_data(&format!("{d:?}")));
        // The shim's text form is the command (polling twice gives the same command), plus
        // the trip as the key when the executor may batch the call (every save here).
        let text = d.poll_json(NOW);
        let command = d.poll(NOW);
        let mut expected = serde_json::to_value(&command).unwrap();
        if let Command::Sql { function, .. } = &command {
            if function.batch().is_some() {
                expected["key"] = json!(TRIP);
            }
        }
        assert_eq!(crate::engine::read_command_text(&text), Some(expected));
        match command {
            Command::Sql { function, args, .. } => {
                assert!(!mentions_personal_data(&args.to_string()));
                assert_eq!(function, SqlFunction::MonitorSaveAttempt);
                assert_eq!(args["attempt_id"], ATTEMPT);
                let expected = args["expected_version"].as_u64().unwrap();
                assert!(args["state"]["version"].as_u64().unwrap() > expected);
                saves += 1;
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
    // After the begin (which carries the authorize's mark): the order's mark (with the
    // authorization), the capture's mark (with the order), the closing write (with the
    // capture and the effects). Each answer is durable before the next request leaves.
    assert_eq!(saves, 3);
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
    // The lost order resolves to reconcile, saved with the look-up's mark (one write).
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 6);
    assert_eq!(args["state"]["in_flight"], true);
    assert_eq!(args["state"]["phase"]["name"], "reconcile");
    assert_eq!(d.provider_calls(), 0, "nothing is re-sent before the write");
    answer(&mut d, json!({"saved": true}));
    let r = http(&mut d);
    assert!(r.path.contains("/air/orders?offer_id="), "{}", r.path);
}

#[test]
fn losing_the_compare_and_set_stops_the_run() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(&mut d, json!({"started": true}));
    let (f, args) = authorized(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["state"]["in_flight"], true, "the order's mark");
    answer(&mut d, json!({"saved": false}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "attempt_changed".into())
    );
    assert_eq!(
        d.provider_calls(),
        2,
        "the request after a lost CAS is never sent"
    );
}

#[test]
fn a_save_refused_for_the_travellers_request_stops_without_sending() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    answer(&mut d, json!({"started": true}));
    let (f, args) = authorized(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["state"]["phase"]["name"], "order");
    answer(
        &mut d,
        json!({"saved": false, "refused": "traveller_request"}),
    );
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "traveller_request".into())
    );
    assert_eq!(
        d.provider_calls(),
        2,
        "nothing is sent after a refused save"
    );
}

#[test]
fn the_call_cap_stops_cleanly_and_reschedules_at_once() {
    let mut d = driver_with(claim("watching", Some(offer()), Some(payment())), 1);
    let begun = start_booking(&mut d);
    assert_eq!(
        begun["state"]["in_flight"], false,
        "no mark: the cap is reached"
    );
    answer(&mut d, json!({"started": true}));
    let args = rescheduled(&mut d, "call_cap");
    assert_eq!(args["next_check_at"], json!(NOW));
    assert_eq!(d.provider_calls(), 1);
}

#[test]
fn held_money_moves_while_upstash_is_down() {
    // A confirmed order waiting for its capture, and a refused order waiting for its release:
    // neither may wait for Redis.
    let order = saga::OrderRecord {
        id: "ord_1".into(),
        booking_reference: "ABC123".into(),
    };
    let mut capture = stored(Phase::Capture);
    capture.payment_intent = Some("pi_1".into());
    capture.order = Some(order);
    let mut release = stored(Phase::Release {
        end: End::SearchAgain,
    });
    release.payment_intent = Some("pi_1".into());
    for (state, path) in [(capture, "capture"), (release, "cancel")] {
        for outage in [Some(TransportFailure::Timeout), None] {
            let mut c = claim("booking", Some(offer()), Some(payment()));
            c["attempt"] = json!({"state": state});
            let mut d = driver(c);
            assert_eq!(body(&http(&mut d))[0], "SET");
            match outage {
                Some(failure) => d.handle_transport(NOW, failure).unwrap(),
                None => respond(&mut d, 503, json!({"error": "ERR unavailable"})),
            }
            let (f, args) = sql(&mut d);
            assert_eq!(
                f, "monitor_save_attempt",
                "{path}: the mark, without the lock"
            );
            assert_eq!(args["state"]["in_flight"], true);
            answer(&mut d, json!({"saved": true}));
            let r = http(&mut d);
            assert_eq!(r.path, format!("/v1/payment_intents/pi_1/{path}"));
        }
    }
}

/// Resumed at capture (version 6): the mark (7) is saved, the capture lands, and the closing
/// write that carries its result (8, not saved yet) with the booking is refused for good. Returns
/// the driver waiting on what comes next.
fn capture_then_closing_write_refused() -> TripDriver {
    let mut state = stored(Phase::Capture);
    state.payment_intent = Some("pi_1".into());
    state.order = Some(saga::OrderRecord {
        id: "ord_1".into(),
        booking_reference: "ABC123".into(),
    });
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    let (f, args) = sql(&mut d);
    assert_eq!(
        (f, args["state"]["version"].as_u64()),
        ("monitor_save_attempt", Some(7))
    );
    answer(&mut d, json!({"saved": true}));
    let r = http(&mut d);
    assert!(r.path.ends_with("/capture"), "{}", r.path);
    respond(&mut d, 200, intent("succeeded"));
    let (f, args) = sql(&mut d);
    assert_eq!(
        (f, args["expected_version"].as_u64()),
        ("monitor_save_attempt", Some(7))
    );
    assert!(
        !args["effects"].as_array().unwrap().is_empty(),
        "the closing write"
    );
    d.handle_sql_error(NOW, "23514").unwrap();
    d
}

#[test]
fn a_permanent_save_failure_after_an_answer_saves_the_answer_then_flags_it() {
    // The capture's success is saved on its own first (no effects), so the flag and the stored
    // state say the money was taken: never a capture left "in flight" for an operator to resume.
    let mut d = capture_then_closing_write_refused();
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 7);
    assert_eq!(args["state"]["version"], 8);
    assert_eq!(args["state"]["in_flight"], false);
    assert_eq!(args["state"]["reason"], "captured");
    assert_eq!(args["effects"], json!([]));
    answer(&mut d, json!({"saved": true}));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_flag_attempt");
    assert_eq!(
        args,
        json!({"attempt_id": ATTEMPT, "expected_version": 8,
            "reason": "ledger_unclosable", "sqlstate": "23514"})
    );
    answer(&mut d, json!({"flagged": true}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::NeedsOperator, "ledger_unclosable".into())
    );
    assert_eq!(d.provider_calls(), 1, "nothing sent after the refusal");

    // That save refused too (or lost to another run): flag at the version that is stored, 7.
    for outcome in [Err("23514"), Ok(json!({"saved": false}))] {
        let mut d = capture_then_closing_write_refused();
        let (f, _) = sql(&mut d);
        assert_eq!(f, "monitor_save_attempt");
        match outcome {
            Err(sqlstate) => d.handle_sql_error(NOW, sqlstate).unwrap(),
            Ok(result) => answer(&mut d, result),
        }
        let (f, args) = sql(&mut d);
        assert_eq!(f, "monitor_flag_attempt");
        assert_eq!(args["expected_version"], 7, "the version that is stored");
        assert_eq!(args["sqlstate"], "23514", "the first refusal's SQLSTATE");
    }
}

#[test]
fn a_stale_attempt_is_released_even_while_the_travellers_cannot_be_read() {
    // An order phase holding money, resumed after the hold-age limit with the travellers
    // unreadable: the saga releases the hold (it needs no travellers for that).
    let mut state = stored(Phase::Order);
    state.payment_intent = Some("pi_1".into());
    let late = Timestamp::from_unix_ms(NOW.unix_ms() + saga::ORDER_HOLD_MAX_AGE_MS);
    let mut d = resume_unreadable_at(&state, late, "08006");
    let (f, args) = match d.poll(late) {
        Command::Sql { function, args, .. } => (function, args),
        other => panic!("{other:?}"),
    };
    assert_eq!(f, SqlFunction::MonitorSaveAttempt);
    assert_eq!(args["state"]["phase"]["name"], "release");
    assert_eq!(args["state"]["reason"], "authorization_stale");
}

#[test]
fn an_answer_that_leads_to_a_wait_is_saved_on_its_own_first() {
    // Resumed at capture (version 6): the mark (7) is saved, Stripe answers 503, and the saga
    // waits before its retry. The answer (8, no longer in flight) is saved before the
    // reschedule, so the next run does not take it for a lost request.
    let mut state = stored(Phase::Capture);
    state.payment_intent = Some("pi_1".into());
    state.order = Some(saga::OrderRecord {
        id: "ord_1".into(),
        booking_reference: "ABC123".into(),
    });
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver(c);
    lock(&mut d);
    let (f, _) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    answer(&mut d, json!({"saved": true}));
    let r = http(&mut d);
    assert!(r.path.ends_with("/capture"), "{}", r.path);
    respond(&mut d, 503, json!({"error": {"type": "api_error"}}));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 7);
    assert_eq!(args["state"]["version"], 8);
    assert_eq!(args["state"]["in_flight"], false);
    assert_eq!(args["effects"], json!([]));
    answer(&mut d, json!({"saved": true}));
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_reschedule");
    assert_eq!(args["decision"], "booking_wait");
}

#[test]
fn a_resolution_the_call_cap_stops_is_saved_on_its_own_first() {
    // An order left in flight (version 6) resolves to reconcile without a save; the look-up
    // would go with its mark, but the per-trip cap (0 calls) stops the run: the resolution is
    // saved alone (7, not in flight), then the trip is rescheduled.
    let mut state = stored(Phase::Order);
    state.payment_intent = Some("pi_1".into());
    state.in_flight = true;
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = driver_with(c, 0);
    lock(&mut d);
    assert_eq!(sql(&mut d).0, "monitor_passengers");
    answer(&mut d, passengers());
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_save_attempt");
    assert_eq!(args["expected_version"], 6);
    assert_eq!(args["state"]["version"], 7);
    assert_eq!(args["state"]["phase"]["name"], "reconcile");
    assert_eq!(args["state"]["in_flight"], false);
    answer(&mut d, json!({"saved": true}));
    let args = rescheduled(&mut d, "call_cap");
    assert_eq!(args["next_check_at"], json!(NOW));
    assert_eq!(d.provider_calls(), 0);
}
