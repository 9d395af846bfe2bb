use serde_json::{json, Value};

use super::*;
use crate::error::TransportFailure;
use crate::http::Service;
use crate::trip::parse_trip_body;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000); // 2026-09-21
const TRIP: &str = "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c";

fn new_body() -> TripBody {
    parse_trip_body(
        br#"{"origin":"LHR","destination":"JFK","departure_date":"2026-12-12","adults":1,
            "cabin":"economy","max_total_minor":40000,"currency":"GBP","auto_book":true}"#,
        NOW,
    )
    .unwrap()
}

fn row(auto_book: bool) -> Value {
    json!({"id":TRIP,"owner_id":"11111111-2222-4333-8444-555555555555","origin":"LHR",
        "destination":"JFK","departure_date":"2026-12-12","return_date":null,"adults":1,
        "child_ages":[],"cabin":"economy","nonstop_only":false,"max_total_minor":40000,
        "currency":"GBP","auto_book":auto_book,"status":"searching","version":1,
        "created_at":"2026-09-21T10:00:00Z","updated_at":"2026-09-21T10:00:00Z"})
}

fn search_body() -> Value {
    json!({"data":{"id":"orq_1","offers":[{"id":"off_9",
        "total_amount":"250.00","total_currency":"GBP","expires_at":"2026-09-21T15:00:00Z",
        "slices":[{"duration":"PT8H","segments":[{"departing_at":"2026-12-12T09:00:00",
            "arriving_at":"2026-12-12T12:00:00","marketing_carrier":{"iata_code":"BA"},
            "passengers":[{"cabin_class":"economy"}]}]}]}]}})
}

fn expect_sql(d: &mut SearchDriver) -> (u32, SqlFunction, Value) {
    match d.poll(NOW) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => {
            assert_eq!(role, SqlRole::User, "trip-search works as the caller");
            (id, function, args.to_value())
        }
        other => panic!("expected sql, got {other:?}"),
    }
}

fn expect_http(d: &mut SearchDriver) -> (u32, HttpRequest) {
    match d.poll(NOW) {
        Command::Http { id, request } => (id, request),
        other => panic!("expected http, got {other:?}"),
    }
}

fn done(d: &mut SearchDriver) -> SearchDone {
    match d.poll(NOW) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

fn opened(auto_book: bool) -> SearchDriver {
    let mut d = SearchDriver::new(new_body(), DuffelConfig::default());
    let (id, f, args) = expect_sql(&mut d);
    assert_eq!(f, SqlFunction::SearchOpen);
    assert_eq!(args["trip"]["origin"], "LHR");
    assert_eq!(
        d.poll(NOW).id(),
        Some(id),
        "the same command until it is answered"
    );
    let text = json!({"trip": row(auto_book)}).to_string();
    d.handle(NOW, id, Input::Sql(&text)).unwrap();
    d
}

use crate::engine::SqlRole;

#[test]
fn a_new_auto_book_trip_is_searched_recorded_and_handed_to_the_monitor() {
    let mut d = opened(true);
    let (id, req) = expect_http(&mut d);
    assert_eq!(req.service, Service::Duffel);
    assert!(req.path.starts_with("/air/offer_requests"));
    assert!(req.header("Authorization").is_none());
    let body = search_body().to_string();
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 201,
            body: body.as_bytes(),
        },
    )
    .unwrap();
    let (id, f, args) = expect_sql(&mut d);
    assert_eq!(f, SqlFunction::SearchRecord);
    assert_eq!(args["trip_id"], TRIP);
    assert_eq!(args["result"]["selected_provider_offer_id"], "off_9");
    // Exactly the search result (the selected offer with its raw body), written as JSON text
    // once and shared, not copied, by the repeated poll.
    let trip: Trip = serde_json::from_value(row(true)).unwrap();
    let full = search::process_search_response(&trip, 201, body.as_bytes(), NOW).unwrap();
    assert_eq!(
        args,
        json!({"trip_id": TRIP, "result": serde_json::to_value(&full).unwrap()})
    );
    assert_eq!(args["result"]["offers"][0]["raw"]["id"], "off_9");
    let (Command::Sql { args: a, .. }, Command::Sql { args: b, .. }) = (d.poll(NOW), d.poll(NOW))
    else {
        panic!("expected the same sql command");
    };
    match (a, b) {
        (SqlArgs::Raw(a), SqlArgs::Raw(b)) => assert!(std::sync::Arc::ptr_eq(&a, &b)),
        other => panic!("expected raw args, got {other:?}"),
    }
    let stored = json!({"trip": row(true), "selected_offer": {"provider_offer_id": "off_9",
        "raw": {"big": true}}})
    .to_string();
    d.handle(NOW, id, Input::Sql(&stored)).unwrap();
    let out = done(&mut d);
    assert_eq!(out.status, 201);
    assert_eq!(out.trigger_monitor.as_deref(), Some(TRIP));
    assert_eq!(out.outcome, "offer_selected");
    assert_eq!(out.body["decision"], "offer_selected");
    assert_eq!(out.body["offers_seen"], 1);
    assert_eq!(out.body["selected_offer"]["provider_offer_id"], "off_9");
    assert!(
        out.body["selected_offer"].get("raw").is_none(),
        "raw stays in the database"
    );
    assert_eq!(done(&mut d), out, "done repeats");
}

#[test]
fn no_hand_off_without_auto_book_or_without_a_selection() {
    let mut d = opened(false);
    let (id, _) = expect_http(&mut d);
    let body = search_body().to_string();
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 201,
            body: body.as_bytes(),
        },
    )
    .unwrap();
    let (id, ..) = expect_sql(&mut d);
    let stored = json!({"trip": row(false), "selected_offer": null}).to_string();
    d.handle(NOW, id, Input::Sql(&stored)).unwrap();
    let out = done(&mut d);
    assert_eq!(out.trigger_monitor, None);
    assert_eq!(out.body["selected_offer"], Value::Null);

    let mut d = opened(true);
    let (id, _) = expect_http(&mut d);
    let empty = json!({"data":{"id":"orq_2","offers":[]}}).to_string();
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 201,
            body: empty.as_bytes(),
        },
    )
    .unwrap();
    let (id, ..) = expect_sql(&mut d);
    let stored = json!({"trip": row(true), "selected_offer": null}).to_string();
    d.handle(NOW, id, Input::Sql(&stored)).unwrap();
    let out = done(&mut d);
    assert_eq!(out.body["decision"], "no_acceptable_offer");
    assert_eq!(out.trigger_monitor, None, "nothing to book yet");
}

#[test]
fn provider_failures_are_recorded_then_answered_502() {
    for input in [
        Input::Transport(TransportFailure::Timeout),
        Input::Http {
            status: 503,
            body: b"<html>",
        },
    ] {
        let mut d = opened(true);
        let (id, _) = expect_http(&mut d);
        d.handle(NOW, id, input).unwrap();
        let (id, f, args) = expect_sql(&mut d);
        assert_eq!(f, SqlFunction::SearchRecordFailure);
        assert_eq!(args["error_code"], "provider_unavailable");
        assert!(args["next_check_at"].is_string());
        let stored = json!({"trip": row(true)}).to_string();
        d.handle(NOW, id, Input::Sql(&stored)).unwrap();
        let out = done(&mut d);
        assert_eq!(out.status, 502);
        assert_eq!(out.body["code"], "provider_unavailable");
        assert_eq!(out.body["trip"]["id"], TRIP);
        assert_eq!(out.trigger_monitor, None);
    }
}

#[test]
fn a_missing_or_foreign_trip_is_404_and_sql_errors_map_to_statuses() {
    let body = parse_trip_body(format!(r#"{{"trip_id":"{TRIP}"}}"#).as_bytes(), NOW).unwrap();
    let mut d = SearchDriver::new(body, DuffelConfig::default());
    let (id, f, args) = expect_sql(&mut d);
    assert_eq!(
        (f, args),
        (SqlFunction::SearchOpen, json!({"trip_id": TRIP}))
    );
    d.handle(NOW, id, Input::Sql(r#"{"trip":null}"#)).unwrap();
    let out = done(&mut d);
    assert_eq!(
        (out.status, out.body["code"].clone()),
        (404, json!("not_found"))
    );

    for (sqlstate, status, code) in [
        ("42501", 404, "not_found"),
        ("P0002", 404, "not_found"),
        ("28000", 401, "unauthorized"),
        ("55000", 409, "trip_busy"),
        ("PF001", 409, "too_many_active_trips"),
        ("PF002", 403, "anonymous_auto_book_forbidden"),
        ("PFF01", 403, "auto_booking_unavailable"),
        ("23514", 400, "validation_failed"),
        ("08006", 503, "database_unavailable"),
        ("40001", 503, "database_unavailable"),
        ("XX000", 500, "internal"),
    ] {
        let mut d = SearchDriver::new(new_body(), DuffelConfig::default());
        let (id, ..) = expect_sql(&mut d);
        d.handle(NOW, id, Input::SqlError(sqlstate)).unwrap();
        let out = done(&mut d);
        assert_eq!(
            (out.status, out.body["code"].as_str()),
            (status, Some(code)),
            "{sqlstate}"
        );
    }
}

#[test]
fn outcomes_for_other_commands_are_refused() {
    let mut d = SearchDriver::new(new_body(), DuffelConfig::default());
    assert_eq!(
        d.handle(NOW, 1, Input::Sql("{}")),
        Err(DriveError::NotWaiting),
        "before the first poll"
    );
    let (id, ..) = expect_sql(&mut d);
    assert!(matches!(
        d.handle(NOW, id + 1, Input::Sql("{}")),
        Err(DriveError::StaleCommand { .. })
    ));
    assert_eq!(
        d.handle(NOW, id, Input::Transport(TransportFailure::Network)),
        Err(DriveError::WrongOutcome { expected: "sql" })
    );
    d.handle(NOW, id, Input::Sql("not json")).unwrap();
    assert_eq!(done(&mut d).status, 500);
}

#[test]
fn auto_book_without_card_or_consent_is_a_403_with_its_code() {
    let card = sql_error_reply("PF003");
    assert_eq!(
        (card.status, card.outcome.as_str()),
        (403, "auto_book_needs_card")
    );
    let consent = sql_error_reply("PF005");
    assert_eq!(
        (consent.status, consent.outcome.as_str()),
        (403, "auto_book_needs_consent")
    );
}

#[test]
fn an_unreadable_open_answer_is_a_500() {
    for answer in [r#"{"trip":{"id":"not a trip"}}"#, "not json"] {
        let mut d = SearchDriver::new(new_body(), DuffelConfig::default());
        let (id, ..) = expect_sql(&mut d);
        d.handle(NOW, id, Input::Sql(answer)).unwrap();
        let out = done(&mut d);
        assert_eq!(
            (out.status, out.outcome.as_str()),
            (500, "internal"),
            "{answer}"
        );
    }
    // A missing `trip` is no trip: 404.
    let mut d = SearchDriver::new(new_body(), DuffelConfig::default());
    let (id, ..) = expect_sql(&mut d);
    d.handle(NOW, id, Input::Sql("{}")).unwrap();
    assert_eq!(done(&mut d).status, 404);
}
