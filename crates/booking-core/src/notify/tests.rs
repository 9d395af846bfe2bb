use serde_json::{json, Value};

use super::render::{escape_html, format_money, render, RenderInput};
use super::resend::{backoff_ms, classify, SendOutcome};
use super::webhook::{parse_event, verify, SvixHeaders, WebhookDriver, WebhookError};
use super::*;
use crate::error::TransportFailure;
use crate::http::Service;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);
const ID: &str = "5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e11";
const TRIP: &str = "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c";
const HOSTILE: &str = "<script>alert('x')</script>&\"";

fn claim(template: &str) -> Value {
    json!({
        "id": ID, "template": template, "attempts": 1, "status": "pending",
        "sending_at": null, "stored_request": null, "recipient": "ann@example.com",
        "suppressed": false,
        "payload": {"amount_minor": 41240, "currency": "GBP", "target_minor": 42000},
        "trip": {"id": TRIP, "origin": "LHR", "destination": "JFK",
            "departure_date": "2027-03-12", "return_date": null, "adults": 1, "children": 0,
            "cabin": "economy", "max_total_minor": 42000, "currency": "GBP", "auto_book": true,
            "status": "booked", "last_error_code": null},
        "offer": {"departing_at": "2027-03-12T09:15:00", "arriving_at": "2027-03-12T12:10:00",
            "carriers": ["ZZ"], "stops": 0, "duration_minutes": 475, "total_minor": 41240,
            "currency": "GBP"},
        "booking": {"booking_reference": "K9W6RR", "amount_minor": 41240, "currency": "GBP"},
        "passengers": [{"given_name": "Ann", "family_name": "Lee"}]
    })
}

fn settings() -> NotifySettings {
    NotifySettings {
        max_attempts: 3,
        from: "Parker Flight <bookings@parkerflight.example>".into(),
        app_base_url: "https://app.example/".into(),
    }
}

fn driver(value: &Value) -> NotifyDriver {
    NotifyDriver::new(
        ClaimedNotification::from_json(&value.to_string()).unwrap(),
        settings(),
    )
}

fn email(value: &Value) -> render::Email {
    let c = ClaimedNotification::from_json(&value.to_string()).unwrap();
    render(&RenderInput {
        template: &c.template,
        trip: &c.trip,
        offer: c.offer.as_ref(),
        booking: c.booking.as_ref(),
        passengers: &c.passengers,
        payload: &c.payload,
        app_base_url: "https://app.example",
    })
    .unwrap()
}

#[test]
fn booked_email_has_itinerary_reference_names_and_price() {
    let e = email(&claim("booked"));
    assert_eq!(e.subject, "Your flight is booked: K9W6RR (LHR to JFK)");
    for part in [&e.html, &e.text] {
        assert!(part.contains("K9W6RR"), "{part}");
        assert!(part.contains("Ann Lee"));
        assert!(part.contains("GBP 412.40"));
        assert!(part.contains("2027-03-12 09:15"));
        assert!(part.contains("ZZ, non-stop"));
        assert!(part.contains(&format!("https://app.example/trips/{TRIP}")));
    }
}

#[test]
fn every_template_has_its_subject() {
    let cases = [
        ("booked", "Your flight is booked: K9W6RR (LHR to JFK)"),
        (
            "payment_needs_attention",
            "Action needed: confirm your payment for LHR to JFK",
        ),
        ("could_not_book", "We could not book LHR to JFK"),
        (
            "watch_expired",
            "Your watch for LHR to JFK on 2027-03-12 has ended",
        ),
        ("price_alert", "Price alert: LHR to JFK now GBP 412.40"),
        (
            "booking_under_review",
            "We are checking your booking for LHR to JFK",
        ),
        (
            "schedule_changed",
            "Schedule change for your flight LHR to JFK",
        ),
    ];
    for (template, subject) in cases {
        let e = email(&claim(template));
        assert_eq!(e.subject, subject, "{template}");
        assert!(!e.text.is_empty() && e.html.starts_with("<!doctype html>"));
    }
    let e = email(&claim("payment_needs_attention"));
    assert!(e
        .text
        .contains(&format!("https://app.example/trips/{TRIP}/payment")));
    assert!(e.text.contains("What to do"));
    let e = email(&claim("could_not_book"));
    assert!(e.text.contains("Why:") && e.text.contains("What happens next"));
}

#[test]
fn could_not_book_never_claims_a_hold_released_when_the_release_was_given_up() {
    let mut c = claim("could_not_book");
    c["trip"]["status"] = "failed".into();
    c["trip"]["last_error_code"] = "price_above_maximum".into();
    let plain = email(&c);
    assert!(
        plain.text.contains("any hold on your card is released"),
        "{}",
        plain.text
    );
    for code in ["release_failed", "captured_not_released"] {
        c["trip"]["last_error_code"] = code.into();
        let e = email(&c);
        for part in [&e.html, &e.text] {
            assert!(!part.contains("is released"), "{code}: {part}");
            assert!(!part.contains("Nothing was charged"), "{code}: {part}");
            assert!(part.contains("Our team has been alerted"), "{code}: {part}");
        }
    }
}

#[test]
fn price_alert_tells_the_previous_low_from_the_price_history() {
    let plain = email(&claim("price_alert"));
    assert!(
        !plain.text.contains("Lowest price before"),
        "{}",
        plain.text
    );
    let mut c = claim("price_alert");
    c["payload"]["previous_low_minor"] = 45500.into();
    c["payload"]["previous_checks"] = 12.into();
    let e = email(&c);
    for part in [&e.html, &e.text] {
        assert!(part.contains("GBP 412.40"), "{part}");
        assert!(
            part.contains("Lowest price before this one, over 12 checks: GBP 455.00."),
            "{part}"
        );
    }
    c["payload"]["previous_checks"] = 1.into();
    assert!(email(&c).text.contains("over 1 check: GBP 455.00."));
    c["payload"]["previous_checks"] = 0.into();
    assert!(!email(&c).text.contains("Lowest price before"));
}

#[test]
fn hostile_values_are_escaped_in_html_and_flattened_in_subjects() {
    let mut c = claim("booked");
    c["passengers"][0]["given_name"] = HOSTILE.into();
    c["booking"]["booking_reference"] = "K9\r\nBcc: x@evil".into();
    c["offer"]["carriers"] = json!(["<b>ZZ</b>"]);
    c["trip"]["origin"] = "<i>".into();
    let e = email(&c);
    assert!(!e.html.contains("<script>"), "{}", e.html);
    assert!(!e.html.contains("<b>ZZ") && !e.html.contains("<i>"));
    assert!(e
        .html
        .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert!(!e.subject.contains('\n') && !e.subject.contains('\r'));
    assert!(e.subject.contains("K9  Bcc: x@evil"));
    // The text part is plain text: the value as it is, but on one line.
    assert!(e.text.contains(HOSTILE));
    assert_eq!(escape_html("a&b"), "a&amp;b");
}

#[test]
fn links_need_an_http_base_and_a_uuid_trip() {
    let mut c = claim("booked");
    c["trip"]["id"] = "\"><script>".into();
    let e = email(&c);
    assert!(!e.html.contains("<a href"), "no link for a non-uuid id");
    let cl = ClaimedNotification::from_json(&claim("booked").to_string()).unwrap();
    let e = render(&RenderInput {
        template: "booked",
        trip: &cl.trip,
        offer: None,
        booking: cl.booking.as_ref(),
        passengers: &[],
        payload: &Value::Null,
        app_base_url: "javascript:alert(1)",
    })
    .unwrap();
    assert!(!e.html.contains("javascript:"));
}

#[test]
fn money_uses_the_currency_exponent() {
    assert_eq!(format_money(41240, "GBP").unwrap(), "GBP 412.40");
    assert_eq!(format_money(5400, "JPY").unwrap(), "JPY 5400");
    assert_eq!(format_money(123456, "KWD").unwrap(), "KWD 123.456");
    assert_eq!(format_money(5, "EUR").unwrap(), "EUR 0.05");
    assert!(format_money(1, "XXX").is_err());
    assert!(format_money(i64::MAX, "GBP").is_err());
}

#[test]
fn missing_data_and_unknown_templates_are_render_errors() {
    let mut c = claim("booked");
    c["booking"] = Value::Null;
    let mut d = driver(&c);
    let Command::Sql { function, args, .. } = d.poll(NOW) else {
        panic!("sql")
    };
    assert_eq!(function, SqlFunction::NotifyFinish);
    assert_eq!(args["outcome"], "dead");
    assert_eq!(args["reason"], "render_missing_data");
    let mut d = driver(&claim("mystery"));
    let Command::Sql { args, .. } = d.poll(NOW) else {
        panic!("sql")
    };
    assert_eq!(args["reason"], "render_unknown_template");
}

fn expect_sql(d: &mut NotifyDriver) -> (u32, SqlFunction, Value) {
    match d.poll(NOW) {
        Command::Sql {
            id, function, args, ..
        } => (id, function, args),
        other => panic!("expected sql, got {other:?}"),
    }
}

fn expect_http(d: &mut NotifyDriver) -> (u32, HttpRequest) {
    match d.poll(NOW) {
        Command::Http { id, request } => (id, request),
        other => panic!("expected http, got {other:?}"),
    }
}

fn done(d: &mut NotifyDriver) -> NotifyDone {
    match d.poll(NOW) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn a_fresh_notification_is_persisted_then_sent_then_marked_sent() {
    let mut d = driver(&claim("booked"));
    let (id, f, args) = expect_sql(&mut d);
    assert_eq!(f, SqlFunction::NotifySending);
    let body = args["body"].as_str().unwrap().to_owned();
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["to"], json!(["ann@example.com"]));
    assert_eq!(
        sent["from"],
        "Parker Flight <bookings@parkerflight.example>"
    );
    assert!(sent["subject"].as_str().unwrap().contains("K9W6RR"));
    assert!(sent["html"].is_string() && sent["text"].is_string());
    d.handle(NOW, id, Input::Sql(r#"{"ok":true}"#)).unwrap();
    let (id, req) = expect_http(&mut d);
    assert_eq!(req.service, Service::Resend);
    assert_eq!(req.path, "/emails");
    assert_eq!(req.header("Idempotency-Key"), Some(ID));
    assert_eq!(
        req.body.as_deref(),
        Some(body.as_str()),
        "exactly what was persisted"
    );
    assert!(req.header("Authorization").is_none());
    let answer = br#"{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}"#;
    d.handle(
        NOW,
        id,
        Input::Http {
            status: 200,
            body: answer,
        },
    )
    .unwrap();
    let (id, f, args) = expect_sql(&mut d);
    assert_eq!(f, SqlFunction::NotifyFinish);
    assert_eq!(
        args,
        json!({"id": ID, "outcome": "sent", "message_id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})
    );
    d.handle(NOW, id, Input::Sql(r#"{"ok":true}"#)).unwrap();
    assert_eq!(done(&mut d).outcome, NotifyOutcome::Sent);
}

#[test]
fn a_row_already_sending_is_sent_again_with_its_stored_body() {
    let mut c = claim("booked");
    c["stored_request"] = r#"{"to":["ann@example.com"],"subject":"s"}"#.into();
    c["recipient"] = Value::Null;
    c["attempts"] = 2.into();
    c["sending_at"] = NOW.plus_ms(-60_000).to_rfc3339().into();
    let mut d = driver(&c);
    let (_, req) = expect_http(&mut d);
    assert_eq!(
        req.body.as_deref(),
        Some(r#"{"to":["ann@example.com"],"subject":"s"}"#)
    );
    assert_eq!(req.header("Idempotency-Key"), Some(ID));

    c["sending_at"] = NOW.plus_ms(-24 * 3_600_000).to_rfc3339().into();
    let mut d = driver(&c);
    let (_, _, args) = expect_sql(&mut d);
    assert_eq!(args["reason"], "idempotency_window_passed");
}

fn sent_with(status: u16, body: &str, attempts: u32) -> Value {
    let mut c = claim("booked");
    c["attempts"] = attempts.into();
    let mut d = driver(&c);
    let (id, ..) = expect_sql(&mut d);
    d.handle(NOW, id, Input::Sql(r#"{"ok":true}"#)).unwrap();
    let (id, _) = expect_http(&mut d);
    d.handle(
        NOW,
        id,
        Input::Http {
            status,
            body: body.as_bytes(),
        },
    )
    .unwrap();
    expect_sql(&mut d).2
}

#[test]
fn rate_limits_and_outages_retry_with_backoff_until_the_last_attempt() {
    let args = sent_with(
        429,
        r#"{"statusCode":429,"name":"rate_limit_exceeded","message":"x"}"#,
        1,
    );
    assert_eq!(args["outcome"], "retry");
    assert_eq!(args["error_code"], "resend_rate_limited");
    let at = Timestamp::parse_rfc3339(args["next_attempt_at"].as_str().unwrap()).unwrap();
    assert_eq!(at.unix_ms() - NOW.unix_ms(), backoff_ms(1, ID));
    let args = sent_with(500, "oops", 2);
    assert_eq!(args["outcome"], "retry");
    assert_eq!(args["error_code"], "resend_unavailable");
    let args = sent_with(503, "", 3);
    assert_eq!(args["outcome"], "dead");
    assert_eq!(args["reason"], "too_many_attempts");
    assert_eq!(args["error_code"], "resend_unavailable");
}

#[test]
fn permanent_refusals_end_dead_with_the_providers_name() {
    let args = sent_with(
        422,
        r#"{"statusCode":422,"name":"missing_required_field","message":"x"}"#,
        1,
    );
    assert_eq!(args["outcome"], "dead");
    assert_eq!(args["reason"], "resend_missing_required_field");
    let args = sent_with(
        409,
        r#"{"statusCode":409,"name":"invalid_idempotent_request","message":"x"}"#,
        1,
    );
    assert_eq!(args["reason"], "resend_invalid_idempotent_request");
    let args = sent_with(
        409,
        r#"{"statusCode":409,"name":"concurrent_idempotent_requests","message":"x"}"#,
        1,
    );
    assert_eq!(args["outcome"], "retry");
}

#[test]
fn classification_table() {
    assert_eq!(
        classify(200, br#"{"id":"abc"}"#),
        SendOutcome::Sent("abc".into())
    );
    assert!(matches!(classify(200, b"{}"), SendOutcome::Retry(_)));
    assert!(matches!(
        classify(429, br#"{"name":"daily_quota_exceeded"}"#),
        SendOutcome::Permanent(_)
    ));
    assert!(matches!(classify(401, b""), SendOutcome::Retry(_)));
    assert!(matches!(
        classify(403, br#"{"name":"validation_error"}"#),
        SendOutcome::Permanent(_)
    ));
    assert!(matches!(
        classify(400, br#"{"name":"Bad Name!"}"#),
        SendOutcome::Permanent(code) if code == "resend_rejected"
    ));
    assert_eq!(
        resend::classify_transport(TransportFailure::Timeout),
        SendOutcome::Retry("resend_timeout".into())
    );
}

#[test]
fn backoff_doubles_is_capped_and_spreads() {
    let b1 = backoff_ms(1, ID);
    let b2 = backoff_ms(2, ID);
    assert!((30_000..=33_000).contains(&b1), "{b1}");
    assert!((60_000..=66_000).contains(&b2), "{b2}");
    assert!(backoff_ms(30, ID) <= resend::MAX_BACKOFF_MS * 11 / 10);
    assert_eq!(backoff_ms(1, ID), backoff_ms(1, ID));
    let total: i64 = (1..8).map(|a| backoff_ms(a, ID)).sum();
    assert!(
        total < resend::IDEMPOTENCY_WINDOW_MS,
        "all retries fit in the window"
    );
}

#[test]
fn suppressed_over_limit_and_no_recipient_end_without_sending() {
    let mut c = claim("booked");
    c["suppressed"] = true.into();
    let (_, _, args) = expect_sql(&mut driver(&c));
    assert_eq!(args["outcome"], "suppressed");
    let mut c = claim("booked");
    c["attempts"] = 4.into();
    let (_, _, args) = expect_sql(&mut driver(&c));
    assert_eq!(args["reason"], "too_many_attempts");
    for bad in [Value::Null, "a@b.c, evil@x.y".into(), "nobody".into()] {
        let mut c = claim("booked");
        c["recipient"] = bad;
        let (_, _, args) = expect_sql(&mut driver(&c));
        assert_eq!(args["reason"], "no_recipient");
    }
}

#[test]
fn sql_errors_and_lost_races_skip_without_sending() {
    let mut d = driver(&claim("booked"));
    let (id, ..) = expect_sql(&mut d);
    d.handle(NOW, id, Input::Sql(r#"{"ok":false}"#)).unwrap();
    assert_eq!(done(&mut d).reason, "not_claimable");
    let mut d = driver(&claim("booked"));
    let (id, ..) = expect_sql(&mut d);
    d.handle(NOW, id, Input::SqlError("08006")).unwrap();
    let out = done(&mut d);
    assert_eq!(out.outcome, NotifyOutcome::Skipped);
    assert_eq!(out.reason, "sql_08006");
}

#[test]
fn a_transport_failure_retries_with_the_same_key() {
    let mut d = driver(&claim("booked"));
    let (id, ..) = expect_sql(&mut d);
    d.handle(NOW, id, Input::Sql(r#"{"ok":true}"#)).unwrap();
    let (id, _) = expect_http(&mut d);
    d.handle(NOW, id, Input::Transport(TransportFailure::Network))
        .unwrap();
    let (_, _, args) = expect_sql(&mut d);
    assert_eq!(args["outcome"], "retry");
    assert_eq!(args["error_code"], "resend_network");
}

// ---- Svix ----

const SIG: &str = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn headers<'a>(ts: &'a str, sig: &'a str) -> SvixHeaders<'a> {
    SvixHeaders {
        id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
        timestamp: Some(ts),
        signature: Some(sig),
    }
}

fn now_s(s: i64) -> Timestamp {
    Timestamp::from_unix_ms(s * 1000)
}

#[test]
fn svix_accepts_any_matching_v1_entry_within_tolerance() {
    let at = now_s(1_614_265_330);
    let sig = format!("v1,{SIG}");
    assert_eq!(verify(headers("1614265330", &sig), SIG, at), Ok(()));
    let rotated = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v2,zzz v1,{SIG}");
    assert_eq!(verify(headers("1614265330", &rotated), SIG, at), Ok(()));
    assert_eq!(
        verify(headers("1614265330", &sig), SIG, now_s(1_614_265_330 + 300)),
        Ok(())
    );
}

#[test]
fn svix_refusals_have_stable_codes() {
    let at = now_s(1_614_265_330);
    let sig = format!("v1,{SIG}");
    let wrong = "v1,BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";
    assert_eq!(
        verify(headers("1614265330", wrong), SIG, at),
        Err(WebhookError::InvalidSignature)
    );
    assert_eq!(
        verify(headers("1614265330", &format!("v2,{SIG}")), SIG, at),
        Err(WebhookError::InvalidSignature),
        "only v1 counts"
    );
    assert_eq!(
        verify(headers("1614265330", &sig), SIG, now_s(1_614_265_330 + 301)),
        Err(WebhookError::StaleTimestamp)
    );
    assert_eq!(
        verify(headers("1614265330", &sig), SIG, now_s(1_614_265_330 - 301)),
        Err(WebhookError::StaleTimestamp),
        "too new is refused too"
    );
    assert_eq!(
        verify(headers("16142653x0", &sig), SIG, at),
        Err(WebhookError::MissingSignature)
    );
    assert_eq!(
        verify(SvixHeaders::default(), SIG, at),
        Err(WebhookError::MissingSignature)
    );
    assert_eq!(
        verify(headers("1614265330", "v1,"), "", at),
        Err(WebhookError::InvalidSignature),
        "an empty computed MAC never matches"
    );
}

#[test]
fn events_keep_only_type_email_id_and_time() {
    let body = br#"{"type":"email.bounced","created_at":"2026-05-01T10:00:00.000Z",
        "data":{"email_id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794","to":["ann@example.com"],
        "bounce":{"type":"Permanent"}}}"#;
    let e = parse_event("msg_1", body).unwrap();
    assert_eq!(e.kind, "email.bounced");
    assert_eq!(
        e.email_id.as_deref(),
        Some("49a3999c-0ce1-4ea6-ab68-afcd6dc2e794")
    );
    assert!(e.occurred_at.is_some());
    assert_eq!(parse_event("m", b"[1]"), Err(WebhookError::InvalidPayload));
    assert_eq!(
        parse_event("m", br#"{"type":"DROP TABLE"}"#),
        Err(WebhookError::InvalidPayload)
    );
}

#[test]
fn webhook_driver_records_once_and_refuses_bad_signatures_without_sql() {
    let at = now_s(1_614_265_330);
    let sig = format!("v1,{SIG}");
    let body = br#"{"type":"email.delivered","data":{"email_id":"abc"}}"#;
    let mut d = WebhookDriver::new(headers("1614265330", &sig), body, SIG, at);
    let Command::Sql {
        id, function, args, ..
    } = d.poll(at)
    else {
        panic!("sql")
    };
    assert_eq!(function, SqlFunction::ResendEvent);
    assert_eq!(args["svix_id"], "msg_p5jXN8AQM9LWM0D4loKWxJek");
    assert_eq!(args["type"], "email.delivered");
    assert!(
        !args.to_string().contains('@'),
        "no address reaches the database"
    );
    d.handle(at, id, Input::Sql(r#"{"duplicate":true,"matched":false}"#))
        .unwrap();
    let Command::Done { result } = d.poll(at) else {
        panic!("done")
    };
    assert_eq!(result.status, 200);
    assert_eq!(result.outcome, "duplicate");

    let mut d = WebhookDriver::new(headers("1614265330", "v1,nope"), body, SIG, at);
    let Command::Done { result } = d.poll(at) else {
        panic!("done")
    };
    assert_eq!(result.status, 400);
    assert_eq!(result.body["code"], "invalid_signature");
}

#[test]
fn a_passenger_rule_refusal_asks_for_passenger_details_not_the_payment() {
    let mut c = claim("payment_needs_attention");
    c["trip"]["status"] = json!("needs_traveller");
    c["trip"]["last_error_code"] = json!("identity_document_missing");
    let e = email(&c);
    assert_eq!(e.subject, "Action needed: passenger details for LHR to JFK");
    assert!(e.text.contains("passport or ID"), "{}", e.text);
    assert!(!e.text.contains("payment"), "{}", e.text);
    assert!(e.text.contains("nothing was charged"));
    // A card problem keeps the payment email.
    c["trip"]["last_error_code"] = json!("authentication_required");
    assert_eq!(
        email(&c).subject,
        "Action needed: confirm your payment for LHR to JFK"
    );
}
