use serde_json::{json, Value};

use super::signature::{verify, SignatureError, SignatureHeader, TOLERANCE_SECONDS};
use super::*;

/// `{"id":"wev_0000A4tQSmKyqOrcySrGbo","type":"order.created"}` signed at t=1616202842.
const BODY: &[u8] = br#"{"id":"wev_0000A4tQSmKyqOrcySrGbo","type":"order.created"}"#;
const T: i64 = 1_616_202_842;
/// `hex(HMAC-SHA256(key = "QKfUULLQh+8SegYmIsF6kA==" as bytes, "1616202842." ++ BODY))`,
/// computed independently (Python's `hmac`), like the shim's WebCrypto does.
const SIG_RIGHT_SECRET: &str = "f41a8366ac5141bc27ba2b952cf5b1449276b0e963e1f6643f3eff9fdaca5c75";
/// The same message under another secret (`another-secret`).
const SIG_WRONG_SECRET: &str = "d3148b9951ead492f231bbd34d6b6bcfe1db2f680407b68237d14c04bed00acf";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_ms(seconds * 1000)
}

fn header(t: i64, v1: &str) -> String {
    format!("t={t},v1={v1}")
}

#[test]
fn a_correct_signature_inside_the_tolerance_passes() {
    let h = header(T, SIG_RIGHT_SECRET);
    assert_eq!(verify(Some(&h), SIG_RIGHT_SECRET, at(T)), Ok(()));
    assert_eq!(
        verify(Some(&h), SIG_RIGHT_SECRET, at(T + TOLERANCE_SECONDS)),
        Ok(())
    );
    assert_eq!(
        verify(Some(&h), SIG_RIGHT_SECRET, at(T - TOLERANCE_SECONDS)),
        Ok(())
    );
    let parsed = SignatureHeader::parse(Some(&h)).unwrap();
    assert_eq!(parsed.signed_prefix(), "1616202842.");
    // The message the shim signs: the prefix, then the raw body bytes as they arrived.
    let message = [parsed.signed_prefix().as_bytes(), BODY].concat();
    assert!(message.starts_with(b"1616202842.{\"id\":\"wev_"));
    assert_eq!(parsed.seconds(), T);
}

#[test]
fn a_signature_made_with_another_secret_is_refused() {
    // Duffel signed with its secret; our shim computed the HMAC with a different one.
    let h = header(T, SIG_WRONG_SECRET);
    assert_eq!(
        verify(Some(&h), SIG_RIGHT_SECRET, at(T)),
        Err(SignatureError::Mismatch)
    );
    // And the reverse: a right signature checked under a wrong secret.
    let h = header(T, SIG_RIGHT_SECRET);
    assert_eq!(
        verify(Some(&h), SIG_WRONG_SECRET, at(T)),
        Err(SignatureError::Mismatch)
    );
    // No computed HMAC (the shim could not make one) never matches.
    assert_eq!(verify(Some(&h), "", at(T)), Err(SignatureError::Mismatch));
}

#[test]
fn a_stale_or_future_timestamp_is_refused_even_with_a_right_signature() {
    let h = header(T, SIG_RIGHT_SECRET);
    assert_eq!(
        verify(Some(&h), SIG_RIGHT_SECRET, at(T + TOLERANCE_SECONDS + 1)),
        Err(SignatureError::Expired)
    );
    assert_eq!(
        verify(Some(&h), SIG_RIGHT_SECRET, at(T - TOLERANCE_SECONDS - 1)),
        Err(SignatureError::Expired)
    );
    // Sub-second clocks: 300.999 s after t is still inside, 301 s is not.
    let just_inside = Timestamp::from_unix_ms((T + TOLERANCE_SECONDS) * 1000 + 999);
    assert_eq!(verify(Some(&h), SIG_RIGHT_SECRET, just_inside), Ok(()));
}

#[test]
fn a_captured_delivery_replayed_later_is_refused() {
    // An attacker who captured header and body replays them ten minutes later: the signature
    // still matches the body, but its timestamp is outside the tolerance. (A replay inside the
    // tolerance passes here and is a duplicate event id in the database.)
    let captured = header(T, SIG_RIGHT_SECRET);
    assert_eq!(verify(Some(&captured), SIG_RIGHT_SECRET, at(T + 1)), Ok(()));
    assert_eq!(
        verify(Some(&captured), SIG_RIGHT_SECRET, at(T + 600)),
        Err(SignatureError::Expired)
    );
    // Changing `t` to look fresh breaks the signature (t is part of the signed message: the
    // shim's HMAC over the new prefix differs from the captured v1).
    let forged = header(T + 600, SIG_RIGHT_SECRET);
    assert_eq!(
        verify(Some(&forged), SIG_WRONG_SECRET, at(T + 600)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn missing_and_malformed_headers_are_refused() {
    assert_eq!(
        verify(None, SIG_RIGHT_SECRET, at(T)),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        verify(Some(""), SIG_RIGHT_SECRET, at(T)),
        Err(SignatureError::Missing)
    );
    let sig = SIG_RIGHT_SECRET;
    let upper = sig.to_uppercase();
    let bad = [
        format!("v1={sig},t={T}"),
        format!("t={T}"),
        format!("v1={sig}"),
        format!("t=,v1={sig}"),
        format!("t=abc,v1={sig}"),
        format!("t=-1,v1={sig}"),
        format!("t={T},v1="),
        format!("t={T},v1={}", &sig[..63]),
        format!("t={T},v1={sig}0"),
        format!("t={T},v1={upper}"),
        format!("t={T}, v1={sig}"),
        format!(" t={T},v1={sig}"),
        format!("t={T},v1={sig},v1={sig}"),
        format!("t={T},v0={sig}"),
        format!("t=1234567890123,v1={sig}"),
        format!("t={T},v1={}", "z".repeat(64)),
    ];
    for h in bad {
        assert_eq!(
            verify(Some(&h), sig, at(T)),
            Err(SignatureError::Malformed),
            "{h}"
        );
        assert!(SignatureHeader::parse(Some(&h)).is_err(), "{h}");
    }
    assert_eq!(SignatureError::Malformed.code(), "signature_malformed");
    assert_eq!(SignatureError::Mismatch.code(), "signature_mismatch");
    assert_eq!(SignatureError::Expired.code(), "signature_expired");
    assert_eq!(SignatureError::Missing.code(), "signature_missing");
}

// ---- events and the driver -------------------------------------------------------------------

const NOW: i64 = 1_800_000_000;

fn event_body(id: &str, event_type: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "api_version": "v2", "type": event_type,
        "data": {"object": object}, "live_mode": false,
        "idempotency_key": "ord_0000AbC", "created_at": "2026-12-02T10:00:00.000000Z",
        "identity_organisation_id": "org_0000X"
    }))
    .unwrap()
}

/// A driver whose signature check passes (the header's v1 equals the "computed" one).
fn verified(body: &[u8]) -> DuffelWebhookDriver {
    let h = header(NOW, SIG_RIGHT_SECRET);
    DuffelWebhookDriver::new(body, Some(&h), SIG_RIGHT_SECRET, at(NOW))
}

fn done(driver: &mut DuffelWebhookDriver) -> DuffelWebhookDone {
    match driver.poll(at(NOW)) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn a_refused_signature_ends_at_once_with_400_and_no_database_call() {
    let body = event_body("wev_1", "order.created", json!({"id": "ord_1"}));
    let cases = [
        (None, "signature_missing"),
        (Some(header(NOW, SIG_WRONG_SECRET)), "signature_mismatch"),
        (
            Some(header(NOW - 301, SIG_RIGHT_SECRET)),
            "signature_expired",
        ),
        (Some("t=1,v1=2".to_owned()), "signature_malformed"),
    ];
    for (h, code) in cases {
        let mut d = DuffelWebhookDriver::new(&body, h.as_deref(), SIG_RIGHT_SECRET, at(NOW));
        let result = done(&mut d);
        assert_eq!(result.status, 400, "{code}");
        assert_eq!(result.body["code"], code);
        assert_eq!(result.outcome, code);
        assert_eq!(result.event_id, None, "nothing of the body is read");
    }
}

#[test]
fn a_signature_check_comes_before_parsing() {
    // Garbage with a bad signature is a signature error, not invalid_event.
    let mut d = DuffelWebhookDriver::new(
        b"not json",
        Some(&header(NOW, SIG_WRONG_SECRET)),
        SIG_RIGHT_SECRET,
        at(NOW),
    );
    assert_eq!(done(&mut d).body["code"], "signature_mismatch");
    // With a good signature it is invalid_event.
    let mut d = verified(b"not json");
    let result = done(&mut d);
    assert_eq!(
        (result.status, result.body["code"].clone()),
        (400, json!("invalid_event"))
    );
}

#[test]
fn unreadable_envelopes_are_invalid_events() {
    let bodies = [
        b"[]".to_vec(),
        br#"{"type":"order.created","data":{"object":{"id":"ord_1"}}}"#.to_vec(),
        br#"{"id":"wev_1","data":{"object":{"id":"ord_1"}}}"#.to_vec(),
        br#"{"id":"wev 1","type":"order.created","data":{"object":{"id":"ord_1"}}}"#.to_vec(),
        br#"{"id":"wev.1","type":"order.created","data":{"object":{"id":"ord_1"}}}"#.to_vec(),
        br#"{"id":"wev_1","type":"Order.Created","data":{"object":{"id":"ord_1"}}}"#.to_vec(),
        event_body("wev_1", "order.created", json!({})),
        event_body("wev_1", "order.cancelled", json!({"id": "off_1"})),
        event_body("wev_1", "order.created", json!({"id": "ord_a/b"})),
        vec![b' '; MAX_BODY_BYTES + 1],
    ];
    for body in bodies {
        let mut d = verified(&body);
        let result = done(&mut d);
        assert_eq!(
            result.status,
            400,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        assert_eq!(result.body["code"], "invalid_event");
    }
}

#[test]
fn unknown_types_are_acknowledged_without_a_database_call() {
    let body = event_body("wev_9", "payment.created", json!({"id": "pay_1"}));
    let mut d = verified(&body);
    let result = done(&mut d);
    assert_eq!(result.status, 200);
    assert_eq!(
        result.body,
        json!({"received": true, "event_id": "wev_9", "type": "payment.created",
               "duplicate": false, "outcome": "ignored"})
    );
    // A type without an order is fine when we do not act on it.
    let body = event_body("wev_10", "ping.triggered", json!({}));
    assert_eq!(done(&mut verified(&body)).status, 200);
}

fn record_call(driver: &mut DuffelWebhookDriver) -> (u32, Value) {
    match driver.poll(at(NOW)) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => {
            assert_eq!(function, SqlFunction::DuffelWebhookRecord);
            assert_eq!(role, crate::engine::SqlRole::Service);
            assert_eq!(
                driver.poll(at(NOW)).id(),
                Some(id),
                "same command until fed"
            );
            (id, args.to_value())
        }
        other => panic!("expected sql, got {other:?}"),
    }
}

#[test]
fn a_schedule_change_asks_for_one_notification_keyed_on_the_event() {
    // v2 sends the airline-initiated change object: the order is its `order_id`.
    let body = event_body(
        "wev_0000A4tQSmKyqOrcySrGbo",
        "order.airline_initiated_change_detected",
        json!({"id": "aic_0011AJSACO83RgsiSySpzH", "order_id": "ord_0000ABd6wggSct7BoraU1o",
               "added": [], "removed": []}),
    );
    let mut d = verified(&body);
    let (id, args) = record_call(&mut d);
    assert_eq!(
        args,
        json!({
            "event_id": "wev_0000A4tQSmKyqOrcySrGbo",
            "type": "order.airline_initiated_change_detected",
            "kind": "schedule_changed",
            "order_id": "ord_0000ABd6wggSct7BoraU1o",
            "occurred_at": "2026-12-02T10:00:00.000Z",
            "notification": {"template": "schedule_changed",
                             "dedupe_key": "duffel:wev.0000A4tQSmKyqOrcySrGbo"},
            "alert": null,
        })
    );
    d.handle(
        at(NOW),
        id,
        Input::Sql(r#"{"duplicate":false,"outcome":"notified"}"#),
    )
    .unwrap();
    let result = done(&mut d);
    assert_eq!(result.status, 200);
    assert_eq!(result.outcome, "notified");
    assert_eq!(result.body["duplicate"], false);
    assert_eq!(
        result.event_id.as_deref(),
        Some("wev_0000A4tQSmKyqOrcySrGbo")
    );
}

#[test]
fn an_order_object_names_its_order_by_id_and_cancellations_raise_the_alert() {
    let body = event_body(
        "wev_2",
        "order.cancelled",
        json!({"id": "ord_7", "cancelled_at": "x"}),
    );
    let (_, args) = record_call(&mut verified(&body));
    assert_eq!(args["kind"], "order_cancelled");
    assert_eq!(args["order_id"], "ord_7");
    assert_eq!(args["alert"], "airline_cancelled");
    assert_eq!(args["notification"], Value::Null);

    let body = event_body("wev_3", "order.created", json!({"id": "ord_8"}));
    let (_, args) = record_call(&mut verified(&body));
    assert_eq!(
        (args["kind"].clone(), args["alert"].clone()),
        (json!("order_created"), json!(null))
    );
}

#[test]
fn a_duplicate_is_acknowledged_as_such() {
    let body = event_body("wev_4", "order.created", json!({"id": "ord_8"}));
    let mut d = verified(&body);
    let (id, _) = record_call(&mut d);
    d.handle(
        at(NOW),
        id,
        Input::Sql(r#"{"duplicate":true,"outcome":"recorded"}"#),
    )
    .unwrap();
    let result = done(&mut d);
    assert_eq!((result.status, result.outcome.as_str()), (200, "duplicate"));
    assert_eq!(result.body["duplicate"], true);
    assert_eq!(result.body["outcome"], "recorded");
}

#[test]
fn database_trouble_is_not_an_acknowledgement() {
    let body = event_body("wev_5", "order.created", json!({"id": "ord_8"}));
    for (sqlstate, status) in [
        ("08006", 503),
        ("40001", 503),
        ("22023", 500),
        ("42883", 500),
    ] {
        let mut d = verified(&body);
        let (id, _) = record_call(&mut d);
        d.handle(at(NOW), id, Input::SqlError(sqlstate)).unwrap();
        assert_eq!(done(&mut d).status, status, "{sqlstate}");
    }
    let mut d = verified(&body);
    let (id, _) = record_call(&mut d);
    d.handle(
        at(NOW),
        id,
        Input::Sql(r#"{"duplicate":false,"outcome":"whatever"}"#),
    )
    .unwrap();
    assert_eq!(done(&mut d).status, 500);
}

#[test]
fn the_driver_refuses_outcomes_for_other_commands() {
    let body = event_body("wev_6", "order.created", json!({"id": "ord_8"}));
    let mut d = verified(&body);
    let (id, _) = record_call(&mut d);
    assert!(d.handle(at(NOW), id + 1, Input::Sql("{}")).is_err());
    assert!(d
        .handle(
            at(NOW),
            id,
            Input::Http {
                status: 200,
                body: b""
            }
        )
        .is_err());
    let mut fresh = verified(&body);
    assert_eq!(
        fresh.handle(at(NOW), 1, Input::Sql("{}")),
        Err(DriveError::NotWaiting)
    );
}

#[test]
fn dedupe_keys_fit_the_outbox_alphabet() {
    let key = notification_dedupe_key("wev_0000A4tQSmKyqOrcySrGbo");
    assert!(key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b) && b != b'_'));
    assert_ne!(
        notification_dedupe_key("wev_1"),
        notification_dedupe_key("wev_2")
    );
}
