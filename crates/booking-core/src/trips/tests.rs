use serde_json::{json, Value};

use super::timeline::{money, render, when};
use super::*;
use crate::engine::SqlRole;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);
const TRIP: &str = "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c";

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn run(v: Value, answer: Input<'_>) -> (SqlFunction, Value, Reply) {
    let mut d = driver(&body(v)).unwrap();
    let (id, function, args) = match d.poll(NOW) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => {
            assert_eq!(role, SqlRole::User);
            (id, function, args)
        }
        other => panic!("expected sql, got {other:?}"),
    };
    d.handle(NOW, id, answer).unwrap();
    match d.poll(NOW) {
        Command::Done { result } => (function, args.to_value(), result),
        other => panic!("expected done, got {other:?}"),
    }
}

fn field_codes(r: &Reply) -> Vec<String> {
    r.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["field"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn money_uses_the_currency_exponent() {
    assert_eq!(money(45500, "GBP"), "GBP 455.00");
    assert_eq!(money(41240, "GBP"), "GBP 412.40");
    assert_eq!(money(1500, "JPY"), "JPY 1500");
    assert_eq!(money(12345, "KWD"), "KWD 12.345");
    assert_eq!(money(5, "EUR"), "EUR 0.05");
    assert_eq!(money(7, "XYZ"), "XYZ 7 (minor units)");
    assert_eq!(when("2026-12-02T12:00:31.123Z"), "2026-12-02 12:00 UTC");
}

#[test]
fn the_timeline_reads_like_the_decision_log() {
    let events = json!([
        {"at":"2026-12-02T12:00:00.000Z","stage":"search","decision":"no_acceptable_offer",
         "reason":"over_budget","detail":{"offers_seen":229,"best_total_minor":45500,
         "best_currency":"GBP","max_total_minor":42000,"currency":"GBP"}},
        {"at":"2026-12-02T12:20:00.000Z","stage":"search","decision":"offer_selected",
         "reason":"acceptable_offer_found","detail":{"offers_seen":1,"selected_total_minor":41240,
         "selected_currency":"GBP","max_total_minor":42000,"currency":"GBP"}},
        {"at":"2026-12-02T12:21:00.000Z","stage":"book","decision":"attempt_started","reason":null,
         "detail":{"attempt_id":"a","max_total_minor":42000,"currency":"GBP"}},
        {"at":"2026-12-02T12:30:00.000Z","stage":"book","decision":"booked","reason":"none",
         "detail":{"attempt_id":"a","amount_minor":41240,"currency":"GBP","booking_reference":"K9W6RR",
         "carriers":["ZZ"],"departing_at":"2027-03-12T09:15:00"}},
        {"at":"2026-12-02T13:00:00.000Z","stage":"search","decision":"search_failed",
         "reason":"provider_unavailable","detail":{}},
        {"at":"2026-12-02T13:05:00.000Z","stage":"search","decision":"no_acceptable_offer",
         "reason":"no_offers_returned","detail":{"offers_seen":0}},
        {"at":"2026-12-02T13:10:00.000Z","stage":"book","decision":"needs_traveller",
         "reason":"authentication_required","detail":{}},
        {"at":"2026-12-02T13:11:00.000Z","stage":"book","decision":"search_again",
         "reason":"price_rose","detail":{}},
        {"at":"2026-12-02T13:12:00.000Z","stage":"monitor","decision":"fail",
         "reason":"too_many_attempts","detail":{}},
        {"at":"2026-12-02T13:13:00.000Z","stage":"traveller","decision":"paused","reason":null,"detail":{}},
        {"at":"2026-12-02T13:14:00.000Z","stage":"traveller","decision":"criteria_changed","reason":null,
         "detail":{"max_total_minor":150000,"currency":"JPY","cabin":"premium_economy","nonstop_only":true}},
        {"at":"2026-12-02T13:15:00.000Z","stage":"traveller","decision":"cancelled",
         "reason":"attempt_ended_unbooked","detail":{}},
        {"at":"2026-12-02T13:16:00.000Z","stage":"monitor","decision":"wait","reason":"price_above_max","detail":{}}
    ]);
    let lines: Vec<String> = render(events.as_array().unwrap(), "GBP")
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(
        lines,
        vec![
            "searched 2026-12-02 12:00 UTC: 229 offers, best GBP 455.00 over your GBP 420.00",
            "searched 2026-12-02 12:20 UTC: 1 offer, best GBP 412.40 within your GBP 420.00",
            "booking started 2026-12-02 12:21 UTC: at most GBP 420.00",
            "booked 2026-12-02 12:30 UTC: ZZ 09:15, reference K9W6RR, GBP 412.40 charged once",
            "search failed 2026-12-02 13:00 UTC: provider unavailable; trying again later",
            "searched 2026-12-02 13:05 UTC: no offers",
            "payment needs you 2026-12-02 13:10 UTC: authentication required; nothing charged",
            "booking stopped 2026-12-02 13:11 UTC: price rose; nothing charged, watching again",
            "stopped 2026-12-02 13:12 UTC: too many booking attempts; nothing more will be tried",
            "you paused auto-booking 2026-12-02 13:13 UTC",
            "you changed the watch 2026-12-02 13:14 UTC: maximum JPY 150000, premium economy, nonstop only",
            "cancelled 2026-12-02 13:15 UTC: the booking in flight ended without a booking; nothing charged",
            "checked 2026-12-02 13:16 UTC: wait (price above max)",
        ]
    );
}

#[test]
fn get_renders_the_timeline_and_formats_prices() {
    let answer = json!({"trip":{"trip":{"id":TRIP,"currency":"GBP","max_total_minor":42000},
        "prices":[{"at":"2026-12-02T12:00:00.000Z","best_total_minor":45500,"currency":"GBP"}],
        "events":[{"at":"2026-12-02T12:00:00.000Z","stage":"search","decision":"no_acceptable_offer",
            "reason":"over_budget","detail":{"offers_seen":2,"best_total_minor":45500,"max_total_minor":42000}}]}})
    .to_string();
    let (f, args, r) = run(json!({"action":"get","trip_id":TRIP}), Input::Sql(&answer));
    assert_eq!((f, args), (SqlFunction::TripsGet, json!({"trip_id": TRIP})));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["trip"]["max"], "GBP 420.00");
    assert_eq!(r.body["trip"]["prices"][0]["best"], "GBP 455.00");
    assert!(
        r.body["trip"].get("events").is_none(),
        "events become the timeline"
    );
    assert_eq!(
        r.body["timeline"][0]["text"],
        "searched 2026-12-02 12:00 UTC: 2 offers, best GBP 455.00 over your GBP 420.00"
    );
    let (_, _, r) = run(
        json!({"action":"get","trip_id":TRIP}),
        Input::Sql(r#"{"trip":null}"#),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let (f, _, r) = run(json!({"action":"list"}), Input::Sql(r#"{"trips":[]}"#));
    assert_eq!((f, r.status), (SqlFunction::TripsList, 200));
}

#[test]
fn control_outcomes_map_to_statuses() {
    let cases = [
        (r#"{"outcome":"paused","trip":{}}"#, 200, "paused"),
        (r#"{"outcome":"resumed","trip":{}}"#, 200, "resumed"),
        (r#"{"outcome":"cancelled","trip":{}}"#, 200, "cancelled"),
        (
            r#"{"outcome":"cancel_pending","attempt":{"phase":"order"},"trip":{}}"#,
            202,
            "cancel_pending",
        ),
        (r#"{"outcome":"not_found","trip":null}"#, 404, "not_found"),
        (
            r#"{"outcome":"version_conflict","trip":{}}"#,
            409,
            "version_conflict",
        ),
        (
            r#"{"outcome":"not_auto_book","trip":{}}"#,
            409,
            "not_auto_book",
        ),
        (r#"{"outcome":"not_paused","trip":{}}"#, 409, "not_paused"),
        (r#"{"outcome":"trip_closed","trip":{}}"#, 409, "trip_closed"),
        (
            r#"{"outcome":"trip_not_watching","trip":{}}"#,
            409,
            "trip_not_watching",
        ),
        (r#"{"outcome":"???"}"#, 500, "internal"),
    ];
    for (answer, status, outcome) in cases {
        let (f, args, r) = run(
            json!({"action":"cancel","trip_id":TRIP,"version":3}),
            Input::Sql(answer),
        );
        assert_eq!(f, SqlFunction::TripsControl);
        assert_eq!(args, json!({"trip_id":TRIP,"action":"cancel","version":3}));
        assert_eq!(
            (r.status, r.outcome.as_str()),
            (status, outcome),
            "{answer}"
        );
    }
    let (_, _, r) = run(
        json!({"action":"cancel","trip_id":TRIP}),
        Input::Sql(r#"{"outcome":"cancelled","trip":{}}"#),
    );
    assert_eq!(r.body["charged"], false);
    let (_, _, r) = run(
        json!({"action":"resume","trip_id":TRIP}),
        Input::SqlError("PF002"),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("anonymous_auto_book_forbidden"))
    );
    let (_, _, r) = run(
        json!({"action":"update","trip_id":TRIP,"version":3,"max_total_minor":50000}),
        Input::SqlError("PFF01"),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("auto_booking_unavailable"))
    );
    let (_, _, r) = run(
        json!({"action":"pause","trip_id":TRIP}),
        Input::SqlError("28000"),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn a_cancel_meeting_an_attempt_says_whether_it_finishes_or_releases() {
    assert_eq!(attempt_will("reprice", None), "finish");
    assert_eq!(attempt_will("order", None), "finish");
    assert_eq!(attempt_will("capture", None), "finish");
    assert_eq!(attempt_will("release", Some("search_again")), "release");
    assert_eq!(attempt_will("find_intent", Some("fail")), "release");
    assert_eq!(attempt_will("finish", Some("booked")), "finish");
    assert_eq!(attempt_will("finish", Some("needs_traveller")), "release");
    let (_, _, r) = run(
        json!({"action":"cancel","trip_id":TRIP}),
        Input::Sql(
            r#"{"outcome":"cancel_pending","attempt":{"phase":"release","end":"search_again"},"trip":{}}"#,
        ),
    );
    assert_eq!(
        r.body["attempt"],
        json!({"phase":"release","will":"release"})
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("nothing will be charged"));
}

#[test]
fn update_needs_a_version_and_valid_changes() {
    let (_, args, _) = run(
        json!({"action":"update","trip_id":TRIP,"version":4,"max_total_minor":50000,"cabin":"business","nonstop_only":true}),
        Input::Sql(r#"{"outcome":"updated","trip":{}}"#),
    );
    assert_eq!(
        args,
        json!({"trip_id":TRIP,"action":"update","version":4,
        "changes":{"max_total_minor":50000,"cabin":"business","nonstop_only":true}})
    );
    let bad = |v: Value| parse_request(&body(v)).unwrap_err();
    assert_eq!(
        field_codes(&bad(
            json!({"action":"update","trip_id":TRIP,"max_total_minor":1})
        )),
        vec!["version:required"]
    );
    assert_eq!(
        field_codes(&bad(
            json!({"action":"update","trip_id":TRIP,"version":1,"max_total_minor":0,"cabin":"sofa","nonstop_only":"y"})
        )),
        vec![
            "max_total_minor:out_of_range",
            "cabin:invalid_cabin",
            "nonstop_only:invalid_type"
        ]
    );
    assert_eq!(
        field_codes(&bad(json!({"action":"update","trip_id":TRIP,"version":1}))),
        vec!["max_total_minor:nothing_to_change"]
    );
    assert_eq!(
        field_codes(&bad(
            json!({"action":"update","trip_id":TRIP,"version":1,"max_total_minor":1.5})
        )),
        vec!["max_total_minor:out_of_range"]
    );
    assert_eq!(
        field_codes(&bad(json!({"action":"pause","trip_id":"x"}))),
        vec!["trip_id:invalid_trip_id"]
    );
    assert_eq!(
        field_codes(&bad(json!({"action":"pause","trip_id":TRIP,"version":0}))),
        vec!["version:invalid_version"]
    );
    assert_eq!(
        field_codes(&bad(json!({"action":"get"}))),
        vec!["trip_id:required"]
    );
    assert_eq!(
        field_codes(&bad(json!({"action":"list","trip_id":TRIP}))),
        vec!["trip_id:unknown_field"]
    );
    assert_eq!(
        field_codes(&bad(json!({"action":"book"}))),
        vec!["action:invalid_action"]
    );
    assert_eq!(
        parse_request(b"{}").unwrap_err().body["fields"][0]["code"],
        "required"
    );
    assert_eq!(
        parse_request(b"nope").unwrap_err().body["code"],
        "invalid_json"
    );
}

// On-session payment (issue 7): payment, payment_done, use_another_card. ---------------------

#[test]
fn payment_reads_the_client_secret_from_stripe_for_the_waiting_intent() {
    let mut d = driver(&body(json!({"action": "payment", "trip_id": TRIP}))).unwrap();
    let Command::Sql {
        id, function, args, ..
    } = d.poll(NOW)
    else {
        panic!("expected sql");
    };
    assert_eq!(function, SqlFunction::TripsPayment);
    assert_eq!(args, json!({"trip_id": TRIP, "action": "details"}));
    let pending = r#"{"outcome":"pending","attempt_id":"a1","payment_intent":"pi_9",
        "amount_minor":20000,"currency":"GBP","deadline":"2026-12-03T10:00:00Z"}"#;
    d.handle(NOW, id, Input::Sql(pending)).unwrap();
    let Command::Http { id, request } = d.poll(NOW) else {
        panic!("expected the Stripe read");
    };
    assert_eq!(request.path, "/v1/payment_intents/pi_9");
    assert_eq!(request.method, crate::http::Method::Get);
    let intent =
        br#"{"id":"pi_9","status":"requires_payment_method","client_secret":"pi_9_secret_x",
        "next_action":null,"amount":20000,"currency":"gbp"}"#;
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 200,
            body: intent,
        },
    )
    .unwrap();
    let Command::Done { result } = d.poll(NOW) else {
        panic!("expected done");
    };
    assert_eq!(result.status, 200);
    let p = &result.body["payment"];
    assert_eq!(p["client_secret"], "pi_9_secret_x");
    assert_eq!(p["payment_intent"], "pi_9");
    assert_eq!(p["amount_minor"], 20000);
    assert_eq!(p["deadline"], "2026-12-03T10:00:00Z");
}

#[test]
fn payment_answers_502_when_stripe_fails_or_names_another_intent() {
    let pending = r#"{"outcome":"pending","payment_intent":"pi_9"}"#;
    for (status, intent) in [
        (500, &br#"{}"#[..]),
        (200, &br#"{"id":"pi_other","client_secret":"s"}"#[..]),
        (200, &br#"not json"#[..]),
        (200, &br#"{"id":"pi_9"}"#[..]),
    ] {
        let mut d = driver(&body(json!({"action": "payment", "trip_id": TRIP}))).unwrap();
        let Command::Sql { id, .. } = d.poll(NOW) else {
            panic!()
        };
        d.handle(NOW, id, Input::Sql(pending)).unwrap();
        let Command::Http { id, .. } = d.poll(NOW) else {
            panic!()
        };
        d.handle(
            NOW,
            id,
            Input::Http {
                status,
                body: intent,
            },
        )
        .unwrap();
        let Command::Done { result } = d.poll(NOW) else {
            panic!()
        };
        assert_eq!(result.status, 502);
        assert_eq!(result.body["code"], "payment_provider_unavailable");
        assert!(!result.body.to_string().contains("secret"));
    }
}

#[test]
fn payment_done_and_another_card_answer_every_outcome() {
    for (action, sql_action) in [
        ("payment_done", "done"),
        ("use_another_card", "another_card"),
        ("payment", "details"),
    ] {
        for (answer, status, code) in [
            (r#"{"outcome":"not_found"}"#, 404, "not_found"),
            (
                r#"{"outcome":"no_payment_pending","trip":{}}"#,
                409,
                "no_payment_pending",
            ),
        ] {
            let (f, args, r) = run(
                json!({"action": action, "trip_id": TRIP}),
                Input::Sql(answer),
            );
            assert_eq!(f, SqlFunction::TripsPayment);
            assert_eq!(args["action"], sql_action);
            assert_eq!((r.status, r.body["code"].as_str()), (status, Some(code)));
        }
    }
    let (_, _, r) = run(
        json!({"action": "payment_done", "trip_id": TRIP}),
        Input::Sql(r#"{"outcome":"checking","trip":{}}"#),
    );
    assert_eq!(
        (r.status, r.body["outcome"].as_str()),
        (202, Some("checking"))
    );
    for (answer, status, key, value) in [
        (
            r#"{"outcome":"switching_card","trip":{}}"#,
            202,
            "outcome",
            "switching_card",
        ),
        (
            r#"{"outcome":"same_card","trip":{}}"#,
            409,
            "code",
            "same_card",
        ),
        (
            r#"{"outcome":"needs_card","trip":{}}"#,
            403,
            "code",
            "auto_book_needs_card",
        ),
    ] {
        let (_, _, r) = run(
            json!({"action": "use_another_card", "trip_id": TRIP}),
            Input::Sql(answer),
        );
        assert_eq!((r.status, r.body[key].as_str()), (status, Some(value)));
    }
}

#[test]
fn payment_actions_take_only_a_trip_id() {
    let r = driver(&body(
        json!({"action": "payment", "trip_id": TRIP, "version": 1}),
    ))
    .unwrap_err();
    assert_eq!(field_codes(&r), ["version:unknown_field"]);
    let r = driver(&body(json!({"action": "payment_done"}))).unwrap_err();
    assert_eq!(field_codes(&r), ["trip_id:required"]);
    assert_eq!(attempt_will("await_traveller", None), "release");
}

#[test]
fn the_timeline_tells_the_on_session_payment_steps() {
    let at = "2026-12-02T12:00:00Z";
    let events = [
        json!({"at": at, "stage": "book", "decision": "needs_traveller",
            "reason": "awaiting_authentication", "detail": {}}),
        json!({"at": at, "stage": "traveller", "decision": "payment_confirmed", "detail": {}}),
        json!({"at": at, "stage": "traveller", "decision": "card_changed", "detail": {}}),
    ];
    let lines: Vec<String> = render(&events, "GBP").into_iter().map(|e| e.text).collect();
    assert_eq!(
        lines,
        [
            "payment needs you 2026-12-02 12:00 UTC: confirm it with your bank (3-D Secure); nothing is held until you do",
            "you confirmed the payment 2026-12-02 12:00 UTC: the booking goes on with your authorization",
            "you chose another card 2026-12-02 12:00 UTC: the payment waiting for you is cancelled first",
        ]
    );
}
