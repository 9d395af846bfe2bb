//! One test (or more) per transition of the table in the module docs.

use super::*;
use crate::duffel::order::OrderPassenger;
use crate::http::Method;
use crate::money::Currency;

const T0: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);

struct Fixture {
    duffel: DuffelConfig,
    stripe: StripeConfig,
    travellers: Vec<OrderPassenger>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            duffel: DuffelConfig::new("http://duffel.test", "duffel_test_x", 20_000).unwrap(),
            stripe: StripeConfig::new("http://stripe.test", "sk_test_x").unwrap(),
            travellers: vec![traveller()],
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            duffel: &self.duffel,
            stripe: &self.stripe,
            travellers: &self.travellers,
        }
    }
}

fn traveller() -> OrderPassenger {
    OrderPassenger {
        id: String::new(),
        title: "ms".into(),
        gender: "f".into(),
        given_name: "Grace".into(),
        family_name: "Hopper".into(),
        born_on: "1986-12-09".into(),
        email: "g@example.com".into(),
        phone_number: "+15555550100".into(),
    }
}

fn gbp(minor: i64) -> Money {
    Money::from_minor(minor, Currency::parse("GBP").unwrap()).unwrap()
}

fn start(max: Money) -> AttemptState {
    begin(
        Begin {
            attempt_id: "att_1".into(),
            trip_id: "trip_1".into(),
            offer_id: "off_1".into(),
            max_total: max,
            customer: "cus_1".into(),
            payment_method: "pm_1".into(),
            seed: 42,
        },
        T0,
    )
}

fn resp(status: u16, body: &str) -> Outcome {
    Outcome::Response {
        status,
        body: body.as_bytes().to_vec(),
    }
}

fn offer(total: &str, currency: &str) -> Outcome {
    resp(
        200,
        &format!(
            r#"{{"data":{{"id":"off_1","total_amount":"{total}","total_currency":"{currency}",
            "expires_at":"2026-09-22T14:00:00Z","passengers":[{{"id":"pas_1"}}]}}}}"#
        ),
    )
}

fn intent(status: &str, amount: i64) -> Outcome {
    resp(
        200,
        &format!(
            r#"{{"id":"pi_1","object":"payment_intent","status":"{status}","amount":{amount},
            "currency":"gbp","metadata":{{"attempt_id":"att_1"}}}}"#
        ),
    )
}

fn order_201() -> Outcome {
    resp(201, &format!(r#"{{"data":{}}}"#, ORDER))
}

const ORDER: &str = r#"{"id":"ord_1","booking_reference":"ABC123","total_amount":"200.00",
    "total_currency":"GBP","metadata":{"attempt_id":"att_1"}}"#;

fn duffel_error(status: u16, code: &str) -> Outcome {
    resp(status, &format!(r#"{{"errors":[{{"code":"{code}"}}]}}"#))
}

/// Sends the phase's request and applies `outcome`; returns the request and the new state.
fn step(fx: &Fixture, state: &AttemptState, outcome: Outcome) -> (HttpRequest, AttemptState) {
    match next(state, T0, &fx.ctx()) {
        Command::Send { mark, request } => {
            assert!(mark.in_flight && mark.version == state.version + 1);
            let after = apply(&mark, T0, outcome).unwrap();
            assert!(!after.in_flight && after.version == mark.version + 1);
            (request, after)
        }
        other => panic!("expected a request in {:?}, got {other:?}", state.phase),
    }
}

/// Runs from `state` to the point where the saga wants to order.
fn authorized(fx: &Fixture) -> AttemptState {
    let (_, s) = step(fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let (_, s) = step(fx, &s, intent("requires_capture", 20_000));
    assert_eq!(s.phase, Phase::Order);
    s
}

fn release_then(fx: &Fixture, s: &AttemptState, end: End) -> AttemptState {
    assert_eq!(s.phase, Phase::Release { end });
    let (req, s) = step(fx, s, intent("canceled", 20_000));
    assert_eq!(req.header("Idempotency-Key"), Some("att_1-cancel"));
    assert_eq!(s.phase, Phase::Finish { end });
    s
}

#[test]
fn reprice_within_budget_moves_to_authorize() {
    let fx = Fixture::new();
    let (req, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    assert_eq!(
        (req.method, req.url.as_str()),
        (Method::Get, "http://duffel.test/air/offers/off_1")
    );
    assert_eq!(s.phase, Phase::Authorize);
    assert_eq!(s.amount, Some(gbp(20_000)));
    assert_eq!(s.passenger_ids, ["pas_1"]);
}

#[test]
fn reprice_refusals_stop_before_any_charge() {
    let fx = Fixture::new();
    for (outcome, reason) in [
        (offer("250.01", "GBP"), "over_budget"),
        (offer("200.00", "EUR"), "currency_mismatch"),
        (
            duffel_error(422, "offer_no_longer_available"),
            "offer_unavailable",
        ),
    ] {
        let (_, s) = step(&fx, &start(gbp(25_000)), outcome);
        assert_eq!(
            s.phase,
            Phase::Finish {
                end: End::SearchAgain
            }
        );
        assert_eq!(s.reason.as_deref(), Some(reason));
        assert_eq!(s.payment_intent, None);
    }
    let expired = resp(
        200,
        r#"{"data":{"id":"off_1","total_amount":"1.00","total_currency":"GBP",
        "expires_at":"2020-01-01T00:00:00Z","passengers":[{"id":"pas_1"}]}}"#,
    );
    let (_, s) = step(&fx, &start(gbp(25_000)), expired);
    assert_eq!(s.reason.as_deref(), Some("offer_expired"));
}

#[test]
fn reprice_failures_back_off_then_give_up() {
    let fx = Fixture::new();
    let mut s = start(gbp(25_000));
    for tries in 1..=4 {
        let (_, after) = step(&fx, &s, resp(503, ""));
        s = after;
        if tries < 4 {
            let at = s.not_before.expect("backoff");
            assert!(at > T0);
            assert_eq!(next(&s, T0, &fx.ctx()), Command::WaitUntil(at));
            s.not_before = None; // time passes
        }
    }
    assert_eq!(
        s.phase,
        Phase::Finish {
            end: End::SearchAgain
        }
    );
    assert_eq!(s.reason.as_deref(), Some("provider_unavailable"));
}

#[test]
fn authorize_sends_the_attempt_key_and_holds_the_repriced_amount() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let (req, s) = step(&fx, &s, intent("requires_capture", 20_000));
    assert_eq!(req.header("Idempotency-Key"), Some("att_1-authorize"));
    assert!(req.body.unwrap().starts_with("amount=20000&currency=gbp&"));
    assert_eq!(s.phase, Phase::Order);
    assert_eq!(s.payment_intent.as_deref(), Some("pi_1"));
}

#[test]
fn authorize_retries_reuse_the_same_key_then_search_for_a_hold() {
    let fx = Fixture::new();
    let (_, mut s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let mut first = None;
    for outcome in [
        resp(500, ""),
        Outcome::Timeout,
        resp(429, ""),
        Outcome::Network,
        resp(409, ""),
    ] {
        let (req, after) = step(&fx, &s, outcome);
        let body = req.body.clone();
        assert_eq!(
            *first.get_or_insert(body.clone()),
            body,
            "same parameters every try"
        );
        assert_eq!(after.phase, Phase::Authorize);
        s = after;
        s.not_before = None;
    }
    let (_, s) = step(&fx, &s, resp(502, ""));
    assert_eq!(s.phase, Phase::FindIntent);
    let found = r#"{"object":"search_result","data":[{"id":"pi_7","status":"requires_capture",
        "amount":20000,"currency":"gbp","metadata":{"attempt_id":"att_1"}}]}"#;
    let (req, after) = step(&fx, &s, resp(200, found));
    assert!(req.url.contains("/v1/payment_intents/search?query="));
    assert_eq!(after.payment_intent.as_deref(), Some("pi_7"));
    release_then(&fx, &after, End::SearchAgain);
    // Nothing found twice, 30 s apart: nothing is held.
    let (_, s1) = step(&fx, &s, resp(200, r#"{"data":[]}"#));
    assert_eq!(s1.phase, Phase::FindIntent);
    let mut s1 = s1;
    s1.not_before = None;
    let (_, s2) = step(&fx, &s1, resp(200, r#"{"data":[]}"#));
    assert_eq!(
        s2.phase,
        Phase::Finish {
            end: End::SearchAgain
        }
    );
}

#[test]
fn declines_and_authentication_ask_the_traveller_without_retrying() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let auth = r#"{"error":{"type":"card_error","code":"authentication_required",
        "payment_intent":{"id":"pi_2","status":"requires_payment_method","amount":20000,"currency":"gbp"}}}"#;
    let (_, after) = step(&fx, &s, resp(402, auth));
    assert_eq!(after.reason.as_deref(), Some("authentication_required"));
    let after = release_then(&fx, &after, End::NeedsTraveller);
    let Command::Write { effects, state } = next(&after, T0, &fx.ctx()) else {
        panic!("expected the closing write");
    };
    assert_eq!(
        state.phase,
        Phase::Closed {
            end: End::NeedsTraveller
        }
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Notify {
            template: "payment_needs_attention",
            ..
        }
    )));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::SetTripStatus {
            to: "needs_traveller",
            ..
        }
    )));
    let decline = r#"{"error":{"type":"card_error","code":"card_declined"}}"#;
    let (_, after) = step(&fx, &s, resp(402, decline));
    assert_eq!(
        after.phase,
        Phase::Finish {
            end: End::NeedsTraveller
        }
    );
    assert_eq!(after.reason.as_deref(), Some("card_declined"));
}

#[test]
fn order_pays_the_authorized_amount_and_confirmed_order_is_captured() {
    let fx = Fixture::new();
    let s = authorized(&fx);
    let (req, s) = step(&fx, &s, order_201());
    let body: serde_json::Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["data"]["payments"][0]["amount"], "200.00");
    assert_eq!(body["data"]["passengers"][0]["id"], "pas_1");
    assert_eq!(body["data"]["metadata"]["attempt_id"], "att_1");
    assert_eq!(s.phase, Phase::Capture);
    let (req, s) = step(&fx, &s, intent("succeeded", 20_000));
    assert_eq!(
        req.url,
        "http://stripe.test/v1/payment_intents/pi_1/capture"
    );
    assert_eq!(req.header("Idempotency-Key"), Some("att_1-capture"));
    assert_eq!(s.phase, Phase::Finish { end: End::Booked });
    let Command::Write { state, effects } = next(&s, T0, &fx.ctx()) else {
        panic!("expected the closing write");
    };
    assert!(!state.is_open());
    assert!(effects.contains(&Effect::RecordBooking {
        trip_id: "trip_1".into(),
        attempt_id: "att_1".into(),
        order_id: "ord_1".into(),
        booking_reference: "ABC123".into(),
        amount: gbp(20_000),
    }));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::SetTripStatus { to: "booked", .. })));
    assert_eq!(next(&state, T0, &fx.ctx()), Command::Done(End::Booked));
}

#[test]
fn an_unknown_order_outcome_is_reconciled_never_resent() {
    let fx = Fixture::new();
    for outcome in [
        Outcome::Timeout,
        resp(500, ""),
        duffel_error(502, "airline_unknown"),
        resp(201, "{"),
    ] {
        let (_, s) = step(&fx, &authorized(&fx), outcome);
        assert_eq!(s.phase, Phase::Reconcile);
        let list = format!(r#"{{"data":[{ORDER}]}}"#);
        let (req, s) = step(&fx, &s, resp(200, &list));
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.url, "http://duffel.test/air/orders?offer_id=off_1");
        assert_eq!(s.phase, Phase::Capture);
        assert_eq!(s.order.as_ref().unwrap().id, "ord_1");
    }
}

#[test]
fn a_run_that_died_mid_order_resumes_by_looking_it_up() {
    let fx = Fixture::new();
    let Command::Send { mark, .. } = next(&authorized(&fx), T0, &fx.ctx()) else {
        panic!("expected the order");
    };
    // The stored state is the mark: the order may or may not exist.
    let Command::Write { state, effects } = next(&mark, T0, &fx.ctx()) else {
        panic!("expected a resolution write");
    };
    assert!(effects.is_empty());
    assert_eq!(state.phase, Phase::Reconcile);
    let Command::Send { request, .. } = next(&state, T0, &fx.ctx()) else {
        panic!("expected a look-up");
    };
    assert_eq!(request.method, Method::Get);
}

#[test]
fn no_order_found_twice_releases_the_hold() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &authorized(&fx), Outcome::Timeout);
    let (_, mut s) = step(&fx, &s, resp(200, r#"{"data":[]}"#));
    assert_eq!(s.phase, Phase::Reconcile);
    assert_eq!(s.not_before, Some(T0.plus_ms(LOOKUP_SPACING_MS)));
    s.not_before = None;
    let other = ORDER.replace("att_1", "att_other");
    let (_, s) = step(&fx, &s, resp(200, &format!(r#"{{"data":[{other}]}}"#)));
    release_then(&fx, &s, End::SearchAgain);
}

#[test]
fn refused_orders_release_the_hold() {
    let fx = Fixture::new();
    for (code, end) in [
        ("price_changed", End::SearchAgain),
        ("offer_no_longer_available", End::SearchAgain),
        ("insufficient_balance", End::Fail),
    ] {
        let (_, s) = step(&fx, &authorized(&fx), duffel_error(422, code));
        assert_eq!(s.reason.as_deref(), Some(code));
        let s = release_then(&fx, &s, end);
        let Command::Write { effects, .. } = next(&s, T0, &fx.ctx()) else {
            panic!("expected the closing write");
        };
        assert!(!effects
            .iter()
            .any(|e| matches!(e, Effect::RecordBooking { .. })));
    }
    let (_, s) = step(
        &fx,
        &authorized(&fx),
        duffel_error(502, "order_not_created"),
    );
    assert_eq!(
        s.phase,
        Phase::Release {
            end: End::SearchAgain
        }
    );
}

#[test]
fn capture_and_release_retry_forever_with_capped_backoff() {
    let fx = Fixture::new();
    let (_, mut s) = step(&fx, &authorized(&fx), order_201());
    for _ in 0..20 {
        let (_, after) = step(&fx, &s, resp(503, ""));
        assert_eq!(after.phase, Phase::Capture);
        let wait = after.not_before.unwrap().unix_ms() - T0.unix_ms();
        assert!(wait <= retry::policy(Phase::Capture).cap_ms);
        s = after;
        s.not_before = None;
    }
}

#[test]
fn travellers_must_match_the_offer_before_money_moves() {
    let mut fx = Fixture::new();
    fx.travellers.push(traveller());
    let (_, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let Command::Write { state, .. } = next(&s, T0, &fx.ctx()) else {
        panic!("expected an ending write");
    };
    assert_eq!(state.phase, Phase::Finish { end: End::Fail });
    assert_eq!(state.reason.as_deref(), Some("traveller_mismatch"));
}

#[test]
fn apply_refuses_a_state_with_nothing_in_flight() {
    let err = apply(&start(gbp(1)), T0, Outcome::Timeout).unwrap_err();
    assert_eq!(err.code(), "saga_not_in_flight");
}

#[test]
fn snapshots_round_trip_and_check_the_schema_version() {
    let fx = Fixture::new();
    let s = authorized(&fx);
    let json = s.to_snapshot();
    assert!(!json.contains("Grace"), "no personal data in the state");
    assert_eq!(AttemptState::from_snapshot(&json).unwrap(), s);
    let old = json.replace("\"schema_version\":1", "\"schema_version\":0");
    assert_eq!(
        AttemptState::from_snapshot(&old).unwrap_err().code(),
        "saga_bad_snapshot"
    );
}
