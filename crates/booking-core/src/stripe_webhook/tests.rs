use serde_json::{json, Value};

use super::*;
use crate::engine::SqlRole;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);
const MAC: [u8; 32] = [7; 32];
const ATTEMPT: &str = "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c";
const TRIP: &str = "11111111-2222-4333-8444-555555555555";

fn header(age_s: i64) -> String {
    let hex: String = MAC.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={},v1={hex}", 1_790_000_000 - age_s)
}

fn event(kind: &str, object: Value) -> Vec<u8> {
    json!({"id": "evt_1", "object": "event", "type": kind, "created": 1_789_999_990,
        "api_version": API_VERSION, "livemode": false, "data": {"object": object}})
    .to_string()
    .into_bytes()
}

fn driver(kind: &str, object: Value) -> StripeWebhookDriver {
    StripeWebhookDriver::new(Some(&header(1)), &MAC, &event(kind, object), NOW).unwrap()
}

fn sql(d: &mut StripeWebhookDriver) -> (u32, SqlFunction, Value) {
    match d.poll(NOW) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => {
            assert_eq!(role, SqlRole::Service);
            (id, function, args.to_value())
        }
        other => panic!("expected sql, got {other:?}"),
    }
}

fn done(d: &mut StripeWebhookDriver) -> StripeWebhookDone {
    match d.poll(NOW) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

/// Context → record, returning the record's args.
fn run(kind: &str, object: Value, ctx: Value) -> Value {
    let mut d = driver(kind, object);
    let (id, f, _) = sql(&mut d);
    assert_eq!(f, SqlFunction::StripeEventContext);
    d.handle(NOW, id, Input::Sql(&ctx.to_string())).unwrap();
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::StripeEventRecord);
    d.handle(NOW, id, Input::Sql(r#"{"recorded":true}"#))
        .unwrap();
    let out = done(&mut d);
    assert_eq!(out.status, 200);
    assert_eq!(out.body["duplicate"], false);
    args
}

fn alerts(args: &Value) -> Vec<String> {
    args["effects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alert")
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect()
}

fn attempt(open: bool, booked: bool) -> Value {
    json!({"attempt_id": ATTEMPT, "trip_id": TRIP, "open": open, "phase": "capture",
        "payment_intent": "pi_1", "amount_minor": 41240, "currency": "GBP", "booked": booked})
}

fn intent(capturable: i64) -> Value {
    json!({"id": "pi_1", "object": "payment_intent", "status": "requires_capture",
        "amount": 41240, "amount_capturable": capturable, "currency": "gbp",
        "metadata": {"attempt_id": ATTEMPT}})
}

#[test]
fn signature_failures_end_at_once_without_reading_the_body() {
    let body = b"not even json";
    let refuse =
        |h: Option<&str>, mac: &[u8]| StripeWebhookDriver::new(h, mac, body, NOW).unwrap_err();
    assert_eq!(refuse(None, &MAC).outcome, "signature_missing");
    assert_eq!(
        refuse(Some("t=1"), &MAC).outcome,
        "signature_header_malformed"
    );
    assert_eq!(
        refuse(Some(&header(1)), &[8; 32]).outcome,
        "signature_mismatch"
    );
    assert_eq!(
        refuse(Some(&header(301)), &MAC).outcome,
        "signature_timestamp_stale"
    );
    let bad = refuse(Some(&header(1)), &MAC);
    assert_eq!((bad.status, bad.outcome.as_str()), (400, "invalid_event"));
}

#[test]
fn a_saved_card_is_recorded_for_a_known_customer() {
    let si = json!({"id": "seti_1", "object": "setup_intent", "status": "succeeded",
        "customer": "cus_1", "payment_method": "pm_1", "usage": "off_session"});
    let mut d = driver("setup_intent.succeeded", si.clone());
    let (_, _, args) = sql(&mut d);
    assert_eq!(args["customer"], "cus_1");
    assert_eq!(args["payment_method"], "pm_1");
    let args = run(
        "setup_intent.succeeded",
        si.clone(),
        json!({"seen": false, "owner_id": TRIP, "detached": false}),
    );
    assert_eq!(args["outcome"], "card_saved");
    assert_eq!(
        args["effects"],
        json!([{"kind": "card_saved", "customer": "cus_1", "payment_method": "pm_1"}])
    );
    assert_eq!(args["event"]["id"], "evt_1");
    assert_eq!(args["event"]["object_id"], "seti_1");
    // Out of order: the detach was processed first; the card is not saved again.
    let late = run(
        "setup_intent.succeeded",
        si.clone(),
        json!({"seen": false, "owner_id": TRIP, "detached": true}),
    );
    assert_eq!(late["outcome"], "card_already_detached");
    assert_eq!(late["effects"], json!([]));
    let stranger = run("setup_intent.succeeded", si, json!({"seen": false}));
    assert_eq!(stranger["outcome"], "customer_unknown");
}

#[test]
fn duplicates_are_acknowledged_without_effects() {
    let mut d = driver(
        "payment_method.detached",
        json!({"id": "pm_1", "customer": null}),
    );
    let (id, _, _) = sql(&mut d);
    d.handle(NOW, id, Input::Sql(r#"{"seen":true}"#)).unwrap();
    let out = done(&mut d);
    assert_eq!(out.status, 200);
    assert_eq!(out.body["duplicate"], true);
    // A concurrent delivery that lost the insert race is a duplicate too.
    let mut d = driver(
        "payment_method.detached",
        json!({"id": "pm_1", "customer": null}),
    );
    let (id, _, _) = sql(&mut d);
    d.handle(NOW, id, Input::Sql(r#"{"seen":false}"#)).unwrap();
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::StripeEventRecord);
    assert_eq!(args["effects"][0]["kind"], "card_detached");
    d.handle(NOW, id, Input::Sql(r#"{"recorded":false}"#))
        .unwrap();
    assert_eq!(done(&mut d).body["duplicate"], true);
}

#[test]
fn unknown_types_are_recorded_and_acknowledged() {
    let mut d = driver("customer.created", json!({"id": "cus_1"}));
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::StripeEventRecord, "no context needed");
    assert_eq!(args["outcome"], "ignored");
    d.handle(NOW, id, Input::Sql(r#"{"recorded":true}"#))
        .unwrap();
    let out = done(&mut d);
    assert_eq!((out.status, out.outcome.as_str()), (200, "ignored"));
    // A known type without its fields: acknowledged, and operators are told.
    let mut d = driver("charge.refunded", json!({"id": "ch_1"}));
    let (_, _, args) = sql(&mut d);
    assert_eq!(alerts(&args), ["webhook_event_unreadable"]);
}

#[test]
fn a_matching_hold_raises_nothing_and_a_different_amount_alerts() {
    let ok = run(
        "payment_intent.amount_capturable_updated",
        intent(41240),
        json!({"attempt": attempt(true, false)}),
    );
    assert_eq!(ok["outcome"], "matched");
    assert!(alerts(&ok).is_empty());
    let off = run(
        "payment_intent.amount_capturable_updated",
        intent(50000),
        json!({"attempt": attempt(true, false)}),
    );
    assert_eq!(alerts(&off), ["capturable_amount_mismatch"]);
    let effect = &off["effects"][0];
    assert_eq!(effect["attempt_id"], ATTEMPT);
    assert_eq!(effect["detail"]["ledger_amount"], 41240);
    let unknown = run(
        "payment_intent.amount_capturable_updated",
        intent(41240),
        json!({}),
    );
    assert_eq!(alerts(&unknown), ["payment_intent_unknown"]);
    let mut other = attempt(true, false);
    other["payment_intent"] = json!("pi_other");
    let second = run(
        "payment_intent.amount_capturable_updated",
        intent(41240),
        json!({"attempt": other}),
    );
    assert_eq!(alerts(&second), ["payment_intent_not_in_ledger"]);
}

#[test]
fn a_hold_after_a_release_is_checked_against_stripe() {
    for (status, expected) in [("requires_capture", "alert"), ("canceled", "stale_event")] {
        let mut d = driver("payment_intent.amount_capturable_updated", intent(41240));
        let (id, _, _) = sql(&mut d);
        let ctx = json!({"attempt": attempt(false, false)}).to_string();
        d.handle(NOW, id, Input::Sql(&ctx)).unwrap();
        let (id, req) = match d.poll(NOW) {
            Command::Http { id, request } => (id, request),
            other => panic!("expected the read, got {other:?}"),
        };
        assert_eq!(req.path, "/v1/payment_intents/pi_1");
        assert_eq!(
            req.method,
            crate::http::Method::Get,
            "a read, never a money move"
        );
        let pi =
            json!({"id": "pi_1", "status": status, "amount": 41240, "currency": "gbp"}).to_string();
        d.handle(
            NOW,
            id,
            Input::Http {
                status: 200,
                body: pi.as_bytes(),
            },
        )
        .unwrap();
        let (_, _, args) = sql(&mut d);
        assert_eq!(args["outcome"], expected);
        if expected == "alert" {
            assert_eq!(alerts(&args), ["hold_not_released"]);
        }
    }
}

#[test]
fn cancels_refunds_and_disputes_against_the_ledger() {
    let mut canceled = intent(0);
    canceled["status"] = json!("canceled");
    let released = run(
        "payment_intent.canceled",
        canceled.clone(),
        json!({"attempt": attempt(false, false)}),
    );
    assert_eq!(released["outcome"], "matched");
    let booked = run(
        "payment_intent.canceled",
        canceled,
        json!({"attempt": attempt(false, true)}),
    );
    assert_eq!(alerts(&booked), ["booked_but_canceled"]);

    let charge = json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1",
        "amount": 41240, "amount_refunded": 41240, "refunded": true, "currency": "gbp"});
    let refund = run(
        "charge.refunded",
        charge,
        json!({"attempt": attempt(false, true)}),
    );
    assert_eq!(alerts(&refund), ["unexpected_refund"]);

    let dispute = json!({"id": "dp_1", "object": "dispute", "charge": "ch_1",
        "payment_intent": "pi_1", "amount": 41240, "currency": "gbp",
        "reason": "fraudulent", "status": "needs_response"});
    let args = run(
        "charge.dispute.created",
        dispute,
        json!({"attempt": attempt(false, true)}),
    );
    assert_eq!(args["outcome"], "dispute_recorded");
    assert_eq!(args["effects"][0]["kind"], "dispute");
    assert_eq!(args["effects"][0]["dispute_id"], "dp_1");
    assert_eq!(args["effects"][0]["trip_id"], TRIP);
    assert_eq!(alerts(&args), ["dispute_created"]);
}

#[test]
fn database_trouble_asks_stripe_to_deliver_again() {
    let mut d = driver("payment_method.detached", json!({"id": "pm_1"}));
    let (id, _, _) = sql(&mut d);
    d.handle(NOW, id, Input::SqlError("40001")).unwrap();
    let out = done(&mut d);
    assert_eq!(out.status, 503);
    assert_eq!(out.event_id.as_deref(), Some("evt_1"));
}

#[test]
fn an_attempt_waiting_for_the_traveller_is_woken_not_alerted() {
    let mut waiting = attempt(true, false);
    waiting["phase"] = json!("await_traveller");
    for (kind, object) in [
        ("payment_intent.amount_capturable_updated", intent(41240)),
        (
            "payment_intent.canceled",
            json!({"id": "pi_1", "object": "payment_intent", "status": "canceled",
                "amount": 41240, "amount_capturable": 0, "currency": "gbp",
                "metadata": {"attempt_id": ATTEMPT}}),
        ),
    ] {
        let args = run(kind, object, json!({"attempt": waiting.clone()}));
        assert_eq!(args["outcome"], "attempt_woken", "{kind}");
        assert!(alerts(&args).is_empty());
        assert_eq!(
            args["effects"],
            json!([{"kind": "wake_attempt", "attempt_id": ATTEMPT}])
        );
    }
    // Another intent than the ledger's is still an alert, waiting or not.
    waiting["payment_intent"] = json!("pi_other");
    let args = run(
        "payment_intent.amount_capturable_updated",
        intent(41240),
        json!({"attempt": waiting}),
    );
    assert_eq!(alerts(&args), ["payment_intent_not_in_ledger"]);
}
