use serde_json::{json, Value};

use super::*;
use crate::engine::SqlRole;
use crate::error::TransportFailure;
use crate::http::{Method, Service};

const NOW: Timestamp = Timestamp::from_unix_ms(1_800_000_000_000);
const EID: &str = "0b7c9a52-5d1e-4c3a-9f7e-2a1b3c4d5e6f";
const USER: &str = "7d4a1f0e-2b3c-4d5e-8f90-a1b2c3d4e5f6";

fn state(step: &str) -> String {
    json!({"erasure": {
        "erasure_id": EID, "step": step, "user_id": USER, "stripe_customer": "cus_Abc123",
        "trip_ids": ["11111111-1111-4111-8111-111111111111"], "retry_after_seconds": 60,
        "counts": {}, "created_at": "2027-01-01T00:00:00.000Z", "completed_at": null}})
    .to_string()
}

fn done_state() -> String {
    json!({"erasure": {"erasure_id": EID, "step": "done", "user_id": null,
        "stripe_customer": null, "trip_ids": [], "retry_after_seconds": null,
        "counts": {"trips_kept": 1}, "created_at": "2027-01-01T00:00:00.000Z",
        "completed_at": "2027-01-01T00:00:01.000Z"}})
    .to_string()
}

fn sql(d: &mut ErasureDriver) -> (u32, SqlFunction, SqlRole, Value) {
    match d.poll(NOW) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => (id, function, role, args.to_value()),
        other => panic!("expected sql, got {other:?}"),
    }
}

fn http(d: &mut ErasureDriver) -> (u32, HttpRequest) {
    match d.poll(NOW) {
        Command::Http { id, request } => (id, request),
        other => panic!("expected http, got {other:?}"),
    }
}

fn done(d: &mut ErasureDriver) -> Reply {
    match d.poll(NOW) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

fn body(r: &HttpRequest) -> Value {
    serde_json::from_str(r.body.as_deref().unwrap()).unwrap()
}

#[test]
fn a_whole_erasure_persists_each_step_before_the_next_side_effect() {
    let mut d = ErasureDriver::new(None);
    let (id, f, role, args) = sql(&mut d);
    assert_eq!(
        (f, role, args),
        (SqlFunction::PrivacyErase, SqlRole::User, json!({}))
    );
    d.handle(NOW, id, Input::Sql(&state("scrub"))).unwrap();

    let (id, f, role, args) = sql(&mut d);
    assert_eq!((f, role), (SqlFunction::ErasureAdvance, SqlRole::Service));
    assert_eq!(args, json!({"erasure_id": EID, "step": "scrub"}));
    d.handle(NOW, id, Input::Sql(&state("stripe"))).unwrap();

    let (id, req) = http(&mut d);
    assert_eq!((req.service, req.method), (Service::Stripe, Method::Delete));
    assert_eq!(req.path, "/v1/customers/cus_Abc123");
    assert!(req
        .headers
        .contains(&("Idempotency-Key".into(), format!("erasure-{EID}-customer"))));
    assert!(req.headers.iter().all(|(k, _)| k != "Authorization"));
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 200,
            body: br#"{"id":"cus_Abc123","object":"customer","deleted":true}"#,
        },
    )
    .unwrap();

    let (id, _, _, args) = sql(&mut d);
    assert_eq!(args, json!({"erasure_id": EID, "step": "stripe"}));
    d.handle(NOW, id, Input::Sql(&state("redis"))).unwrap();

    let (id, req) = http(&mut d);
    assert_eq!(req.service, Service::Upstash);
    assert_eq!(
        body(&req),
        json!([
            "SCAN",
            "0",
            "MATCH",
            format!("rl:*:{USER}:*"),
            "COUNT",
            1000
        ])
    );
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 200,
            body: format!(r#"{{"result":["17",["rl:trip-search:{USER}:1"]]}}"#).as_bytes(),
        },
    )
    .unwrap();
    let (id, req) = http(&mut d);
    assert_eq!(body(&req)[1], "17", "the scan goes on from the cursor");
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 200,
            body: format!(r#"{{"result":["0",["rl:trip-search:{USER}:2"]]}}"#).as_bytes(),
        },
    )
    .unwrap();
    let (id, req) = http(&mut d);
    assert_eq!(
        body(&req),
        json!([
            "DEL",
            "lock:trip:11111111-1111-4111-8111-111111111111",
            format!("rl:trip-search:{USER}:1"),
            format!("rl:trip-search:{USER}:2")
        ])
    );
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 200,
            body: br#"{"result":3}"#,
        },
    )
    .unwrap();

    let (id, _, _, args) = sql(&mut d);
    assert_eq!(args, json!({"erasure_id": EID, "step": "redis"}));
    d.handle(NOW, id, Input::Sql(&done_state())).unwrap();
    let reply = done(&mut d);
    assert_eq!((reply.status, reply.outcome.as_str()), (200, "erased"));
    assert_eq!(reply.body["erasure"]["status"], "done");
    assert_eq!(reply.body["erasure"]["counts"]["trips_kept"], 1);
}

#[test]
fn an_attempt_that_may_hold_money_makes_the_erasure_wait_with_a_retry_after() {
    let mut d = ErasureDriver::new(None);
    let (id, ..) = sql(&mut d);
    d.handle(NOW, id, Input::Sql(&state("waiting"))).unwrap();
    let reply = done(&mut d);
    assert_eq!(reply.status, 409);
    assert_eq!(reply.body["code"], "erasure_waiting_for_payment");
    assert_eq!(reply.body["retry_after_seconds"], 60);
    assert_eq!(reply.body["erasure_id"], EID);
}

#[test]
fn the_operator_opens_by_user_id_as_the_service() {
    let mut d = ErasureDriver::new(Some(USER.into()));
    let (id, f, role, args) = sql(&mut d);
    assert_eq!(
        (f, role, args),
        (
            SqlFunction::ErasureOpen,
            SqlRole::Service,
            json!({"user_id": USER})
        )
    );
    d.handle(NOW, id, Input::SqlError("P0002")).unwrap();
    let reply = done(&mut d);
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[test]
fn a_resumed_erasure_starts_at_its_stored_step_and_a_deleted_customer_counts_as_done() {
    let mut d = ErasureDriver::new(None);
    let (id, ..) = sql(&mut d);
    d.handle(NOW, id, Input::Sql(&state("stripe"))).unwrap();
    let (id, req) = http(&mut d);
    assert_eq!(req.method, Method::Delete);
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 404,
            body: br#"{"error":{"type":"invalid_request_error","code":"resource_missing"}}"#,
        },
    )
    .unwrap();
    let (_, _, _, args) = sql(&mut d);
    assert_eq!(args["step"], "stripe");
}

#[test]
fn a_second_request_after_the_end_answers_done_without_side_effects() {
    let mut d = ErasureDriver::new(None);
    let (id, ..) = sql(&mut d);
    d.handle(NOW, id, Input::Sql(&done_state())).unwrap();
    assert_eq!(done(&mut d).status, 200);
}

#[test]
fn providers_unavailable_leave_the_step_for_the_next_request() {
    for input in [
        Input::Transport(TransportFailure::Timeout),
        Input::Http {
            status: 500,
            body: b"{}",
        },
        Input::Http {
            status: 429,
            body: b"{}",
        },
    ] {
        let mut d = ErasureDriver::new(None);
        let (id, ..) = sql(&mut d);
        d.handle(NOW, id, Input::Sql(&state("stripe"))).unwrap();
        let (id, _) = http(&mut d);
        d.handle(NOW, id, input).unwrap();
        let reply = done(&mut d);
        assert_eq!(reply.status, 503);
        assert_eq!(reply.body["code"], "stripe_unavailable");
        assert_eq!(reply.body["retry_after_seconds"], 30);
    }
    let mut d = ErasureDriver::new(None);
    let (id, ..) = sql(&mut d);
    d.handle(NOW, id, Input::Sql(&state("redis"))).unwrap();
    let (id, _) = http(&mut d);
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 200,
            body: br#"{"error":"ERR nope"}"#,
        },
    )
    .unwrap();
    assert_eq!(done(&mut d).body["code"], "redis_unavailable");
}

#[test]
fn sql_errors_map_to_stable_codes() {
    for (sqlstate, status) in [("28000", 401), ("08006", 503), ("XX000", 500)] {
        let mut d = ErasureDriver::new(None);
        let (id, ..) = sql(&mut d);
        d.handle(NOW, id, Input::SqlError(sqlstate)).unwrap();
        assert_eq!(done(&mut d).status, status, "{sqlstate}");
    }
}

#[test]
fn stale_or_wrong_outcomes_are_refused() {
    let mut d = ErasureDriver::new(None);
    let (id, ..) = sql(&mut d);
    assert_eq!(
        d.handle(NOW, id + 1, Input::Sql("{}")),
        Err(DriveError::StaleCommand {
            given: id + 1,
            waiting: id
        })
    );
    assert!(d
        .handle(
            NOW,
            id,
            Input::Http {
                status: 200,
                body: b""
            }
        )
        .is_err());
    d.handle(NOW, id, Input::Sql("not json")).unwrap();
    assert_eq!(done(&mut d).status, 500);
}

#[test]
fn requests_are_validated() {
    assert_eq!(
        parse_request(br#"{"action":"erase"}"#, false),
        Ok(PrivacyAction::Erase { user_id: None })
    );
    assert_eq!(
        parse_request(br#"{"action":"export"}"#, false),
        Ok(PrivacyAction::Export)
    );
    assert_eq!(
        parse_request(
            format!(r#"{{"action":"erase","user_id":"{USER}"}}"#).as_bytes(),
            true
        ),
        Ok(PrivacyAction::Erase {
            user_id: Some(USER.into())
        })
    );
    for (body, operator, code) in [
        (&br#"{"action":"drop"}"#[..], false, "invalid_action"),
        (br#"{}"#, false, "required"),
        (
            br#"{"action":"erase","user_id":"x"}"#,
            false,
            "unknown_field",
        ),
        (br#"{"action":"export"}"#, true, "invalid_action"),
        (
            br#"{"action":"erase","user_id":"nope"}"#,
            true,
            "invalid_user_id",
        ),
        (br#"{"action":"erase"}"#, true, "required"),
    ] {
        let reply = parse_request(body, operator).unwrap_err();
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["fields"][0]["code"], code, "{body:?}");
    }
    assert_eq!(
        parse_request(b"[", false).unwrap_err().body["code"],
        "invalid_json"
    );
}

#[test]
fn a_stripe_refusal_is_recorded_on_the_row_before_the_502() {
    for recorded in [Input::Sql(&state("stripe")), Input::SqlError("40001")] {
        let mut d = ErasureDriver::new(None);
        let (id, ..) = sql(&mut d);
        d.handle(NOW, id, Input::Sql(&state("stripe"))).unwrap();
        let (id, _) = http(&mut d);
        d.handle(
            NOW,
            id,
            Input::Http {
                status: 400,
                body: br#"{"error":{"type":"invalid_request_error"}}"#,
            },
        )
        .unwrap();
        let (id, function, role, args) = sql(&mut d);
        assert_eq!(function, SqlFunction::ErasureStripeRefused);
        assert_eq!(role, SqlRole::Service);
        assert_eq!(args, json!({"erasure_id": EID, "status": 400}));
        d.handle(NOW, id, recorded).unwrap();
        let reply = done(&mut d);
        assert_eq!(reply.status, 502);
        assert_eq!(reply.body["code"], "stripe_rejected");
        assert_eq!(reply.body["erasure_id"], EID);
    }
}
