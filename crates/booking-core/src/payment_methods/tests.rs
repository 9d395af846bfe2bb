use serde_json::{json, Value};

use super::*;
use crate::engine::SqlRole;
use crate::error::TransportFailure;
use crate::http::Method;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);
const OWNER: &str = "11111111-2222-4333-8444-555555555555";

fn profile(customer: Option<&str>, default: Option<&str>, consent: Option<&str>) -> String {
    let consent = consent.map(|pm| {
        json!({"id": "c1", "payment_method": pm, "max_amount_minor": 50000, "currency": "GBP",
            "text_version": CONSENT_TEXT_VERSION, "created_at": "2026-09-21T10:00:00Z"})
    });
    json!({"profile": {"owner_id": OWNER, "customer": customer,
        "default_payment_method": default, "consent": consent}})
    .to_string()
}

fn driver(body: &str) -> PaymentMethodsDriver {
    PaymentMethodsDriver::new(parse_request(body.as_bytes()).unwrap(), "nonce-1")
}

fn sql(d: &mut PaymentMethodsDriver) -> (u32, SqlFunction, Value) {
    match d.poll(NOW) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => {
            assert_eq!(role, SqlRole::User, "payment-methods works as the caller");
            (id, function, args.to_value())
        }
        other => panic!("expected sql, got {other:?}"),
    }
}

fn http(d: &mut PaymentMethodsDriver) -> (u32, HttpRequest) {
    match d.poll(NOW) {
        Command::Http { id, request } => (id, request),
        other => panic!("expected http, got {other:?}"),
    }
}

fn done(d: &mut PaymentMethodsDriver) -> PaymentsDone {
    match d.poll(NOW) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

fn answer_sql(d: &mut PaymentMethodsDriver, id: u32, text: &str) {
    d.handle(NOW, id, Input::Sql(text)).unwrap();
}

fn answer_http(d: &mut PaymentMethodsDriver, id: u32, status: u16, body: &Value) {
    let body = body.to_string();
    d.handle(
        NOW,
        id,
        Input::Http {
            status,
            body: body.as_bytes(),
        },
    )
    .unwrap();
}

fn open(d: &mut PaymentMethodsDriver, create: bool, reply: &str) {
    let (id, f, args) = sql(d);
    assert_eq!(f, SqlFunction::PaymentProfileOpen);
    assert_eq!(args, json!({"create": create}));
    answer_sql(d, id, reply);
}

fn card(id: &str, customer: Option<&str>) -> Value {
    json!({"id": id, "object": "payment_method", "type": "card", "customer": customer,
        "card": {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2031}})
}

#[test]
fn setup_creates_the_customer_once_then_the_setup_intent() {
    let mut d = driver(r#"{"action":"setup"}"#);
    open(&mut d, true, &profile(None, None, None));
    let (id, req) = http(&mut d);
    assert_eq!(req.path, "/v1/customers");
    assert_eq!(
        req.header("Idempotency-Key"),
        Some(format!("{OWNER}-customer").as_str())
    );
    answer_http(
        &mut d,
        id,
        200,
        &json!({"id": "cus_new", "object": "customer"}),
    );
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::PaymentCustomerRecord);
    assert_eq!(args, json!({"customer": "cus_new"}));
    // The stored customer wins (a concurrent request may have stored it first).
    answer_sql(&mut d, id, &profile(Some("cus_stored"), None, None));
    let (id, req) = http(&mut d);
    assert_eq!(req.path, "/v1/setup_intents");
    assert!(req
        .body
        .as_deref()
        .unwrap()
        .starts_with("customer=cus_stored&usage=off_session"));
    assert_eq!(
        req.header("Idempotency-Key"),
        Some(format!("{OWNER}-setup-nonce1").as_str())
    );
    answer_http(
        &mut d,
        id,
        200,
        &json!({"id": "seti_1", "client_secret": "seti_1_secret_abc",
            "customer": "cus_stored", "status": "requires_payment_method"}),
    );
    let out = done(&mut d);
    assert_eq!(out.status, 200);
    assert_eq!(
        out.body,
        json!({"setup_intent": "seti_1", "client_secret": "seti_1_secret_abc",
            "customer": "cus_stored"})
    );
    assert!(!out.outcome.contains("secret"));
}

#[test]
fn setup_with_a_customer_goes_straight_to_the_setup_intent() {
    let mut d = driver(r#"{"action":"setup"}"#);
    open(&mut d, true, &profile(Some("cus_1"), None, None));
    let (id, req) = http(&mut d);
    assert_eq!(req.path, "/v1/setup_intents");
    d.handle(NOW, id, Input::Transport(TransportFailure::Timeout))
        .unwrap();
    let out = done(&mut d);
    assert_eq!(
        (out.status, out.outcome.as_str()),
        (503, "stripe_unavailable")
    );
}

#[test]
fn list_marks_the_default_and_needs_no_stripe_call_without_customer() {
    let mut d = driver(r#"{"action":"list"}"#);
    open(&mut d, false, &profile(None, None, None));
    let out = done(&mut d);
    assert_eq!(out.status, 200);
    assert_eq!(out.body["cards"], json!([]));

    let mut d = driver(r#"{"action":"list"}"#);
    open(
        &mut d,
        false,
        &profile(Some("cus_1"), Some("pm_2"), Some("pm_2")),
    );
    let (id, req) = http(&mut d);
    assert_eq!(req.method, Method::Get);
    assert_eq!(
        req.path,
        "/v1/customers/cus_1/payment_methods?type=card&limit=100"
    );
    answer_http(
        &mut d,
        id,
        200,
        &json!({"object": "list", "data": [card("pm_1", Some("cus_1")), card("pm_2", Some("cus_1"))]}),
    );
    let out = done(&mut d);
    let cards: Vec<CardSummary> = serde_json::from_value(out.body["cards"].clone()).unwrap();
    assert_eq!(cards.len(), 2);
    assert!(!cards[0].default && cards[1].default);
    assert_eq!(out.body["default_payment_method"], "pm_2");
    assert_eq!(out.body["consent"]["payment_method"], "pm_2");
}

#[test]
fn another_customers_card_is_not_found() {
    for reply in [
        (200, card("pm_9", Some("cus_other"))),
        (200, card("pm_9", None)),
        (
            404,
            json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}}),
        ),
    ] {
        let mut d = driver(r#"{"action":"set_default","payment_method":"pm_9"}"#);
        open(&mut d, false, &profile(Some("cus_1"), None, None));
        let (id, req) = http(&mut d);
        assert_eq!(req.path, "/v1/payment_methods/pm_9");
        answer_http(&mut d, id, reply.0, &reply.1);
        let out = done(&mut d);
        assert_eq!(
            (out.status, out.body["code"].as_str()),
            (404, Some("payment_method_not_found"))
        );
    }
    let mut d = driver(r#"{"action":"detach","payment_method":"pm_9"}"#);
    open(&mut d, false, &profile(None, None, None));
    assert_eq!(done(&mut d).status, 404, "no customer: nothing to look up");
}

#[test]
fn set_default_then_says_whether_consent_is_needed() {
    let mut d = driver(r#"{"action":"set_default","payment_method":"pm_2"}"#);
    open(
        &mut d,
        false,
        &profile(Some("cus_1"), Some("pm_1"), Some("pm_1")),
    );
    let (id, _) = http(&mut d);
    answer_http(&mut d, id, 200, &card("pm_2", Some("cus_1")));
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::PaymentDefaultSet);
    assert_eq!(args, json!({"payment_method": "pm_2"}));
    answer_sql(&mut d, id, &profile(Some("cus_1"), Some("pm_2"), None));
    let out = done(&mut d);
    assert_eq!(out.status, 200);
    assert_eq!(
        out.body,
        json!({"default_payment_method": "pm_2", "consent_required": true})
    );
}

#[test]
fn detach_checks_ownership_detaches_then_forgets() {
    let mut d = driver(r#"{"action":"detach","payment_method":"pm_1"}"#);
    open(
        &mut d,
        false,
        &profile(Some("cus_1"), Some("pm_1"), Some("pm_1")),
    );
    let (id, _) = http(&mut d);
    answer_http(&mut d, id, 200, &card("pm_1", Some("cus_1")));
    let (id, req) = http(&mut d);
    assert_eq!(req.path, "/v1/payment_methods/pm_1/detach");
    answer_http(&mut d, id, 200, &card("pm_1", None));
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::PaymentMethodForget);
    assert_eq!(args, json!({"payment_method": "pm_1"}));
    answer_sql(&mut d, id, &profile(Some("cus_1"), None, None));
    let out = done(&mut d);
    assert_eq!(
        out.body,
        json!({"detached": "pm_1", "default_payment_method": null})
    );
}

#[test]
fn consent_needs_a_default_card_and_the_exact_text() {
    let mut d = driver(r#"{"action":"consent_text","max_amount_minor":50000,"currency":"GBP"}"#);
    open(&mut d, false, &profile(Some("cus_1"), None, None));
    let out = done(&mut d);
    assert_eq!(
        (out.status, out.body["code"].as_str()),
        (409, Some("no_default_card"))
    );

    let mut d = driver(r#"{"action":"consent_text","max_amount_minor":50000,"currency":"GBP"}"#);
    open(&mut d, false, &profile(Some("cus_1"), Some("pm_1"), None));
    let (id, req) = http(&mut d);
    assert_eq!(req.path, "/v1/payment_methods/pm_1");
    answer_http(&mut d, id, 200, &card("pm_1", Some("cus_1")));
    let out = done(&mut d);
    assert_eq!(out.status, 200);
    let text = out.body["text"].as_str().unwrap().to_owned();
    assert!(text.contains("Visa card ending 4242") && text.contains("GBP 500.00"));

    let body = json!({"action": "consent", "max_amount_minor": 50000, "currency": "GBP",
        "text": "I agree"})
    .to_string();
    let mut d = driver(&body);
    open(&mut d, false, &profile(Some("cus_1"), Some("pm_1"), None));
    let (id, _) = http(&mut d);
    answer_http(&mut d, id, 200, &card("pm_1", Some("cus_1")));
    let out = done(&mut d);
    assert_eq!(
        (out.status, out.body["code"].as_str()),
        (422, Some("consent_text_mismatch"))
    );

    let body = json!({"action": "consent", "max_amount_minor": 50000, "currency": "GBP",
        "text": text})
    .to_string();
    let mut d = driver(&body);
    open(&mut d, false, &profile(Some("cus_1"), Some("pm_1"), None));
    let (id, _) = http(&mut d);
    answer_http(&mut d, id, 200, &card("pm_1", Some("cus_1")));
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::ConsentRecord);
    assert_eq!(args["payment_method"], "pm_1");
    assert_eq!(args["max_amount_minor"], 50000);
    assert_eq!(args["text"], text.as_str());
    assert_eq!(args["text_version"], CONSENT_TEXT_VERSION);
    let recorded = json!({"consent": {"id": "c1", "payment_method": "pm_1",
        "max_amount_minor": 50000, "currency": "GBP", "text_version": CONSENT_TEXT_VERSION,
        "created_at": "2026-09-21T10:00:00Z"}});
    answer_sql(&mut d, id, &recorded.to_string());
    let out = done(&mut d);
    assert_eq!(out.status, 201);
    assert_eq!(out.body, recorded);
}

#[test]
fn sql_and_stripe_errors_have_stable_codes() {
    let body = r#"{"action":"set_default","payment_method":"pm_1"}"#;
    let mut d = driver(body);
    let (id, _, _) = sql(&mut d);
    d.handle(NOW, id, Input::SqlError("08006")).unwrap();
    assert_eq!(done(&mut d).status, 503);

    let mut d = driver(body);
    open(&mut d, false, &profile(Some("cus_1"), None, None));
    let (id, _) = http(&mut d);
    answer_http(
        &mut d,
        id,
        400,
        &json!({"error": {"type": "invalid_request_error"}}),
    );
    assert_eq!(done(&mut d).body["code"], "stripe_rejected");

    let mut d = driver(body);
    open(&mut d, false, &profile(Some("cus_1"), None, None));
    let (id, _) = http(&mut d);
    answer_http(&mut d, id, 200, &json!({"nope": true}));
    assert_eq!(done(&mut d).body["code"], "provider_bad_response");

    assert_eq!(sql_reply("PF004").body["code"], "default_card_changed");
    let erasing = sql_reply("PF010");
    assert_eq!(
        (erasing.status, erasing.body["code"].as_str()),
        (409, Some("erasure_in_progress"))
    );
    assert_eq!(sql_reply("28000").status, 401);

    let mut d = driver(body);
    open(&mut d, false, r#"{"profile": null}"#);
    assert_eq!(done(&mut d).status, 401);
    // A stale id is refused and changes nothing.
    let mut d = driver(body);
    let (id, _, _) = sql(&mut d);
    assert!(d.handle(NOW, id + 1, Input::Sql("{}")).is_err());
    assert_eq!(sql(&mut d).0, id);
}
