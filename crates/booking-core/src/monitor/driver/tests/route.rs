//! Lock → route → search / re-price → decide, and booking a freshly selected offer.

use super::*;

#[test]
fn lock_held_by_another_run_ends_locked_without_release() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    let r = http(&mut d);
    assert_eq!(r.method, Method::Post);
    assert_eq!(r.path, "/");
    respond(&mut d, 200, json!({"result": null}));
    assert_eq!(done(&mut d), (DriverOutcome::Locked, "lock_held".into()));
    assert!(d.is_done());
    assert_eq!(d.provider_calls(), 0);
}

#[test]
fn an_upstash_outage_does_not_stop_the_trip() {
    // Upstash answers an error: the key was not set; the run goes on and releases nothing.
    for (status, body) in [
        (503, json!({"error": "ERR unavailable"})),
        (401, json!({"error": "Unauthorized"})),
        (200, json!({"result": "QUEUED"})),
    ] {
        let mut d = driver(claim("watching", Some(offer()), Some(payment())));
        http(&mut d);
        respond(&mut d, status, body);
        let r = http(&mut d);
        assert_eq!(r.path, "/air/offers/off_1", "{status}");
        respond(&mut d, 200, offer_body("450.00"));
        let (f, args) = sql(&mut d);
        assert_eq!(
            (f, &args["reason"]),
            ("monitor_reschedule", &json!("over_budget"))
        );
        answer(&mut d, json!({"ok": true}));
        assert_eq!(done(&mut d), (DriverOutcome::Waiting, "over_budget".into()));
    }
    // No answer at all: the SET may have gone through, so the run releases its token at the end.
    for failure in [TransportFailure::Timeout, TransportFailure::Network] {
        let mut d = driver(claim("watching", Some(offer()), Some(payment())));
        http(&mut d);
        d.handle_transport(NOW, failure).unwrap();
        http(&mut d);
        respond(&mut d, 200, offer_body("450.00"));
        rescheduled(&mut d, "over_budget");
    }
}

#[test]
fn a_failed_unlock_does_not_change_the_outcome() {
    for failure in [
        Some(TransportFailure::Timeout),
        Some(TransportFailure::Network),
        None,
    ] {
        let mut d = driver(claim("watching", Some(offer()), Some(payment())));
        reprice_at(&mut d, "450.00");
        let (f, _) = sql(&mut d);
        assert_eq!(f, "monitor_reschedule");
        answer(&mut d, json!({"ok": true}));
        assert_eq!(body(&http(&mut d))[0], "EVAL");
        match failure {
            Some(failure) => d.handle_transport(NOW, failure).unwrap(),
            None => respond(&mut d, 502, json!({"error": "ERR bad gateway"})),
        }
        assert_eq!(done(&mut d), (DriverOutcome::Waiting, "over_budget".into()));
    }
}

#[test]
fn searching_trip_is_searched_and_recorded() {
    let mut d = driver(claim("searching", None, None));
    lock(&mut d);
    let r = http(&mut d);
    assert!(r.path.starts_with("/air/offer_requests"), "{}", r.path);
    respond(&mut d, 201, search_body());
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
    reprice_at(&mut d, "400.01");
    let args = rescheduled(&mut d, "over_budget");
    assert_eq!(args["decision"], "wait");
    let next = Timestamp::parse_rfc3339(args["next_check_at"].as_str().unwrap()).unwrap();
    assert!(next > NOW);
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
    assert!(r.path.contains("/air/offer_requests"));
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
}

#[test]
fn a_booking_trip_without_an_open_attempt_is_rescheduled_in_an_hour_and_logged() {
    let mut d = driver(claim("booking", Some(offer()), Some(payment())));
    lock(&mut d);
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_reschedule");
    assert_eq!(
        args,
        json!({"trip_id": TRIP, "trip_version": trip("booking")["version"],
            "next_check_at": NOW.plus_ms(3_600_000),
            "decision": "skip", "reason": "booking_without_attempt"})
    );
    answer(&mut d, json!({"ok": true}));
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Skipped, "booking_without_attempt".into())
    );
    assert_eq!(d.provider_calls(), 0, "nothing is re-priced or booked");
}

#[test]
fn a_search_that_selects_a_bookable_offer_books_it_in_the_same_run() {
    let mut d = driver(claim("searching", None, Some(payment())));
    lock(&mut d);
    http(&mut d);
    respond(&mut d, 201, search_body());
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
    respond(&mut d, 201, search_body());
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

/// The traveller changed the trip while the run searched: the database discards the search
/// (`stale`), and the run books nothing from it, even an offer that would be bookable.
#[test]
fn a_search_the_database_discarded_as_stale_books_nothing() {
    let mut d = driver(claim("searching", None, Some(payment())));
    lock(&mut d);
    http(&mut d);
    respond(&mut d, 201, search_body());
    let (f, args) = sql(&mut d);
    assert_eq!(f, "monitor_record_search");
    assert_eq!(
        args["trip_version"],
        trip("searching")["version"],
        "the version the claim read goes with the search"
    );
    let mut row = trip("watching");
    row["version"] = json!(9);
    answer(
        &mut d,
        json!({"trip": row, "selected_offer": null, "stale": true}),
    );
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Searched, "search_discarded".into())
    );
    assert_eq!(d.provider_calls(), 1, "only the search; nothing is booked");
}
