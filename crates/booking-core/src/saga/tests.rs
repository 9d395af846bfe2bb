//! One test (or more) per transition of the table in the module docs.

use super::*;
use crate::duffel::order::{OrderPassenger, PricedOffer};
use crate::http::Method;
use crate::money::Currency;
use crate::trip::TripStatus;

const T0: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);

struct Fixture {
    duffel: DuffelConfig,
    travellers: Vec<OrderPassenger>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            duffel: DuffelConfig::default(),
            travellers: vec![traveller()],
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            duffel: &self.duffel,
            travellers: &self.travellers,
            traveller_request: None,
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
        ..OrderPassenger::default()
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

/// A last page of `GET /air/orders` listing `orders` (comma-separated order objects).
fn last_page(orders: &str) -> String {
    format!(r#"{{"data":[{orders}],"meta":{{"limit":200,"after":null,"before":null}}}}"#)
}

/// A page of `GET /air/orders` listing `orders`, with more after `cursor`.
fn page(orders: &str, cursor: &str) -> String {
    format!(r#"{{"data":[{orders}],"meta":{{"limit":1,"after":"{cursor}","before":null}}}}"#)
}

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
        (req.method, req.path.as_str()),
        (Method::Get, "/air/offers/off_1")
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
    assert_eq!(
        s.phase,
        Phase::FindIntent {
            end: End::SearchAgain
        }
    );
    let found = r#"{"object":"search_result","data":[{"id":"pi_7","status":"requires_capture",
        "amount":20000,"currency":"gbp","metadata":{"attempt_id":"att_1"}}]}"#;
    let (req, after) = step(&fx, &s, resp(200, found));
    assert!(req.path.contains("/v1/payment_intents/search?query="));
    assert_eq!(after.payment_intent.as_deref(), Some("pi_7"));
    release_then(&fx, &after, End::SearchAgain);
    // Search is eventually consistent: only INTENT_SEARCH_MISSES empty answers, a minute
    // apart, mean nothing is held.
    let mut s = s;
    for miss in 1..INTENT_SEARCH_MISSES {
        let (_, after) = step(&fx, &s, resp(200, r#"{"data":[]}"#));
        assert_eq!(after.phase, s.phase, "miss {miss}");
        assert_eq!(after.not_before, Some(T0.plus_ms(INTENT_SEARCH_SPACING_MS)));
        s = after;
        s.not_before = None;
    }
    let (_, done) = step(&fx, &s, resp(200, r#"{"data":[]}"#));
    assert_eq!(
        done.phase,
        Phase::Finish {
            end: End::SearchAgain
        }
    );
    assert_eq!(done.reason.as_deref(), Some("payment_provider_unavailable"));
}

#[test]
fn the_intent_search_window_outlasts_stripe_search_lag() {
    const { assert!(INTENT_SEARCH_MISSES >= 3 && INTENT_SEARCH_SPACING_MS >= 60_000) };
    let window: i64 = (1..INTENT_SEARCH_MISSES)
        .map(|_| INTENT_SEARCH_SPACING_MS)
        .sum();
    assert!(window > 120_000, "{window}");
}

#[test]
fn declines_and_authentication_ask_the_traveller_without_retrying() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let auth = r#"{"error":{"type":"card_error","code":"authentication_required",
        "payment_intent":{"id":"pi_2","status":"requires_payment_method","amount":20000,"currency":"gbp"}}}"#;
    let (_, after) = step(&fx, &s, resp(402, auth));
    assert_eq!(after.reason.as_deref(), Some("authentication_required"));
    // The intent is kept for the traveller (issue 7); past the deadline it is released.
    let after = past_deadline(&fx, &after);
    assert_eq!(after.reason.as_deref(), Some("authentication_expired"));
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
            template: Template::PaymentNeedsAttention,
            ..
        }
    )));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::SetTripStatus {
            to: TripStatus::NeedsTraveller,
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
    assert_eq!(req.path, "/v1/payment_intents/pi_1/capture");
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
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::SetTripStatus {
            to: TripStatus::Booked,
            ..
        }
    )));
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
        let list = last_page(ORDER);
        let (req, s) = step(&fx, &s, resp(200, &list));
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.path, "/air/orders?offer_id=off_1&limit=200");
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

/// Drives `reconcile` through `misses` empty look-ups, checking the spacing; returns the state.
fn reconcile_misses(fx: &Fixture, mut s: AttemptState, misses: u32) -> AttemptState {
    for miss in 1..=misses {
        let other = ORDER.replace("att_1", "att_other");
        let (_, after) = step(fx, &s, resp(200, &last_page(&other)));
        if miss < RECONCILE_MISSES {
            assert_eq!(after.phase, Phase::Reconcile, "miss {miss}");
            assert_eq!(
                after.not_before,
                Some(T0.plus_ms(reconcile_spacing_ms(miss)))
            );
            assert_eq!(after.reason.as_deref(), Some("order_outcome_unknown"));
        }
        s = after;
        s.not_before = None;
    }
    s
}

#[test]
fn an_order_never_found_fails_the_trip_after_a_long_window_never_searches_again() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &authorized(&fx), Outcome::Timeout);
    let s = reconcile_misses(&fx, s, RECONCILE_MISSES);
    assert_eq!(s.reason.as_deref(), Some("order_outcome_unknown"));
    // The hold is released (a 503 on the cancel does not lose the reason), then the trip fails.
    assert_eq!(s.phase, Phase::Release { end: End::Fail });
    let (_, mut s) = step(&fx, &s, resp(503, ""));
    assert_eq!(s.reason.as_deref(), Some("order_outcome_unknown"));
    s.not_before = None;
    let s = release_then(&fx, &s, End::Fail);
    assert_eq!(s.reason.as_deref(), Some("order_outcome_unknown"));
    let Command::Write { effects, .. } = next(&s, T0, &fx.ctx()) else {
        panic!("expected the closing write");
    };
    assert!(effects.contains(&Effect::SetTripStatus {
        trip_id: "trip_1".into(),
        to: TripStatus::Failed,
        reason: "order_outcome_unknown".into(),
        next_check_at: None,
    }));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Notify {
            template: Template::CouldNotBook,
            ..
        }
    )));
}

#[test]
fn the_reconcile_window_is_minutes_not_seconds() {
    let spacings: Vec<i64> = (1..RECONCILE_MISSES).map(reconcile_spacing_ms).collect();
    let window: i64 = spacings.iter().sum();
    assert!(window >= 30 * 60_000, "{window}");
    assert!(spacings.windows(2).all(|w| w[0] <= w[1]), "backs off");
    assert_eq!(spacings.iter().sum::<i64>(), RECONCILE_WINDOW_MS);
    assert_eq!(reconcile_spacing_ms(40), RECONCILE_MAX_SPACING_MS);
}

#[test]
fn an_order_confirmed_late_is_found_and_captured() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &authorized(&fx), Outcome::Timeout);
    let s = reconcile_misses(&fx, s, RECONCILE_MISSES - 1);
    assert_eq!(s.phase, Phase::Reconcile);
    let (_, s) = step(&fx, &s, resp(200, &last_page(ORDER)));
    assert_eq!(s.phase, Phase::Capture);
    assert_eq!(s.alert, None);
    let (_, s) = step(&fx, &s, intent("succeeded", 20_000));
    assert_eq!(s.phase, Phase::Finish { end: End::Booked });
    assert_eq!(s.reason.as_deref(), Some("captured"));
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

/// An offer for one adult and an infant, requiring passports, last flight on 2030-01-10.
fn family_offer() -> Outcome {
    resp(
        200,
        r#"{"data":{"id":"off_1","total_amount":"200.00","total_currency":"GBP",
        "expires_at":"2026-09-22T14:00:00Z","passenger_identity_documents_required":true,
        "supported_passenger_identity_document_types":["passport"],
        "passengers":[{"id":"pas_i","type":"infant_without_seat","age":0},
                      {"id":"pas_a","type":"adult","age":null}],
        "slices":[{"segments":[{"departing_at":"2030-01-10T09:00:00"}]}]}}"#,
    )
}

fn family(passport_expires: Option<(i32, u32, u32)>) -> Fixture {
    use crate::duffel::passengers::IdentityDocument;
    let doc = |number: &str| {
        passport_expires.map(|(y, m, d)| IdentityDocument {
            kind: "passport".into(),
            unique_identifier: number.into(),
            issuing_country_code: "GB".into(),
            expires_on: chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(),
        })
    };
    let adult = OrderPassenger {
        identity_documents: doc("P1").into_iter().collect(),
        ..traveller()
    };
    let infant = OrderPassenger {
        given_name: "Baby".into(),
        identity_documents: doc("P2").into_iter().collect(),
        searched_age: Some(0),
        ..traveller()
    };
    Fixture {
        travellers: vec![adult, infant],
        ..Fixture::new()
    }
}

#[test]
fn missing_or_expired_documents_end_needs_traveller_before_any_authorize() {
    for (fx, reason) in [
        (family(None), "identity_document_missing"),
        (family(Some((2030, 1, 9))), "identity_document_expired"),
    ] {
        let (_, s) = step(&fx, &start(gbp(25_000)), family_offer());
        assert_eq!(s.phase, Phase::Authorize);
        let Command::Write { state, .. } = next(&s, T0, &fx.ctx()) else {
            panic!("expected an ending write, not an authorize");
        };
        assert_eq!(
            state.phase,
            Phase::Finish {
                end: End::NeedsTraveller
            }
        );
        assert_eq!(state.reason.as_deref(), Some(reason));
        assert!(state.payment_intent.is_none());
    }
}

#[test]
fn a_family_order_carries_the_infant_link_and_the_documents() {
    let fx = family(Some((2031, 4, 25)));
    let (_, s) = step(&fx, &start(gbp(25_000)), family_offer());
    let (req, s) = step(&fx, &s, intent("requires_capture", 20_000));
    assert!(req.path.contains("payment_intents"));
    assert_eq!(s.phase, Phase::Order);
    let Command::Send { request, .. } = next(&s, T0, &fx.ctx()) else {
        panic!("expected the order");
    };
    let body: serde_json::Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    let pax = &body["data"]["passengers"];
    assert_eq!(pax[0]["id"], "pas_i");
    assert_eq!(pax[0]["given_name"], "Baby");
    assert_eq!(pax[1]["id"], "pas_a");
    assert_eq!(pax[1]["infant_passenger_id"], "pas_i");
    assert_eq!(pax[1]["identity_documents"][0]["unique_identifier"], "P1");
    assert_eq!(pax[0]["identity_documents"][0]["expires_on"], "2031-04-25");
    // The rules live in the state (no personal data there), so any run builds the same body.
    let snapshot = s.to_snapshot();
    assert!(snapshot.contains("infant_without_seat") && !snapshot.contains("P1"));
    assert_eq!(AttemptState::from_snapshot(&snapshot).unwrap(), s);
}

#[test]
fn snapshots_without_offer_rules_still_order_in_offer_order() {
    let fx = Fixture::new();
    let s = authorized(&fx);
    let mut json: serde_json::Value = serde_json::from_str(&s.to_snapshot()).unwrap();
    json.as_object_mut().unwrap().remove("offer_rules");
    let old = AttemptState::from_snapshot(&json.to_string()).unwrap();
    assert_eq!(old.offer_rules, None);
    let Command::Send { request, .. } = next(&old, T0, &fx.ctx()) else {
        panic!("expected the order");
    };
    assert!(request.body.unwrap().contains(r#""id":"pas_1""#));
}

#[test]
fn travellers_missing_after_an_unanswered_authorize_release_the_hold_first() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    // The authorize went out and its answer was lost: a hold may exist, no intent id known.
    let (_, mut s) = step(&fx, &s, Outcome::Timeout);
    assert_eq!(
        (s.phase, s.payment_intent.as_deref()),
        (Phase::Authorize, None)
    );
    s.not_before = None;
    let gone = Fixture {
        travellers: Vec::new(),
        ..Fixture::new()
    };
    let Command::Write { state, .. } = next(&s, T0, &gone.ctx()) else {
        panic!("expected an ending write");
    };
    assert_eq!(state.phase, Phase::FindIntent { end: End::Fail });
    assert_eq!(state.reason.as_deref(), Some("traveller_mismatch"));
    // A search error does not lose the reason; the hold found is cancelled, then the trip fails.
    let (_, mut s) = step(&gone, &state, resp(500, ""));
    assert_eq!(s.reason.as_deref(), Some("traveller_mismatch"));
    s.not_before = None;
    let found = r#"{"data":[{"id":"pi_9","status":"requires_capture","amount":20000,
        "currency":"gbp","metadata":{"attempt_id":"att_1"}}]}"#;
    let (_, s) = step(&gone, &s, resp(200, found));
    assert_eq!(s.payment_intent.as_deref(), Some("pi_9"));
    let s = release_then(&gone, &s, End::Fail);
    assert_eq!(s.reason.as_deref(), Some("traveller_mismatch"));
    // With an intent known, the hold is cancelled directly.
    let (_, mut s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    s.payment_intent = Some("pi_1".into());
    s.tries = 1;
    let Command::Write { state, .. } = next(&s, T0, &gone.ctx()) else {
        panic!("expected an ending write");
    };
    assert_eq!(state.phase, Phase::Release { end: End::Fail });
}

#[test]
fn stripe_amounts_are_compared_in_stripe_units() {
    let fx = Fixture::new();
    let isk = Currency::parse("ISK").unwrap();
    let max = Money::from_minor(50_000, isk).unwrap();
    let offer_isk = resp(
        200,
        r#"{"data":{"id":"off_1","total_amount":"45000","total_currency":"ISK",
        "expires_at":"2026-09-22T14:00:00Z","passengers":[{"id":"pas_1"}]}}"#,
    );
    let (_, s) = step(&fx, &start(max), offer_isk);
    let isk_intent = |amount: i64| {
        resp(
            200,
            &format!(
                r#"{{"id":"pi_1","status":"requires_capture","amount":{amount},
                "currency":"isk","metadata":{{"attempt_id":"att_1"}}}}"#
            ),
        )
    };
    let (req, ok) = step(&fx, &s, isk_intent(4_500_000));
    assert!(req
        .body
        .unwrap()
        .starts_with("amount=4500000&currency=isk&"));
    assert_eq!(ok.phase, Phase::Order);
    let (_, wrong) = step(&fx, &s, isk_intent(45_000));
    assert_eq!(wrong.reason.as_deref(), Some("authorization_mismatch"));
    assert_eq!(wrong.phase, Phase::Release { end: End::Fail });
    let (req, ok) = step(&fx, &ok, order_201_total("45000", "ISK"));
    assert!(req.body.unwrap().contains(r#""amount":"45000""#));
    let (req, _) = step(&fx, &ok, isk_intent(4_500_000));
    assert_eq!(req.body.as_deref(), Some("amount_to_capture=4500000"));
}

fn order_201_total(total: &str, currency: &str) -> Outcome {
    let order = ORDER
        .replace(r#""200.00""#, &format!("{total:?}"))
        .replace(r#""GBP""#, &format!("{currency:?}"));
    resp(201, &format!(r#"{{"data":{order}}}"#))
}

#[test]
fn an_order_total_that_differs_is_captured_at_the_authorized_amount_and_flagged() {
    let fx = Fixture::new();
    for (total, currency) in [("210.00", "GBP"), ("190.00", "GBP"), ("200.00", "EUR")] {
        let (_, s) = step(&fx, &authorized(&fx), order_201_total(total, currency));
        assert_eq!(s.phase, Phase::Capture);
        assert_eq!(s.alert.as_deref(), Some("order_total_mismatch"));
        let (req, s) = step(&fx, &s, intent("succeeded", 20_000));
        assert_eq!(req.body.as_deref(), Some("amount_to_capture=20000"));
        assert_eq!(s.reason.as_deref(), Some("order_total_mismatch"));
        let Command::Write { effects, .. } = next(&s, T0, &fx.ctx()) else {
            panic!("expected the closing write");
        };
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::RecordBooking { amount, .. } if *amount == gbp(20_000)
        )));
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::LogDecision { reason, .. } if reason == "order_total_mismatch"
        )));
    }
    // A capture Stripe refuses stays `capture_failed`, the more urgent follow-up.
    let (_, s) = step(&fx, &authorized(&fx), order_201_total("210.00", "GBP"));
    let refused =
        r#"{"error":{"type":"invalid_request_error","code":"charge_expired_for_capture"}}"#;
    let (_, s) = step(&fx, &s, resp(400, refused));
    assert_eq!(s.reason.as_deref(), Some("capture_failed"));
}

fn db_reason_ok(reason: &str) -> bool {
    let b = reason.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

#[test]
fn reason_codes_always_fit_the_database_rule() {
    for (input, want) in [
        ("card_declined", "card_declined"),
        ("Card-Declined", "card_declined"),
        ("  Price Changed!! ", "price_changed"),
        ("402", "code_402"),
        ("__x__", "x"),
        ("", "unknown"),
        ("✈✈✈", "unknown"),
        ("x'; drop table bookings;--", "x_drop_table_bookings"),
    ] {
        assert_eq!(reason_code(input), want, "{input:?}");
    }
    let long = "A".repeat(500) + "-b";
    assert_eq!(reason_code(&long), "a".repeat(64));
    for hostile in [
        "Insufficient Balance",
        "ÄÖÜ-error",
        "9lives",
        "a\nb\r\tc",
        &"_-".repeat(100),
        &"é".repeat(100),
        "x".repeat(70).as_str(),
    ] {
        assert!(db_reason_ok(&reason_code(hostile)), "{hostile:?}");
    }
}

#[test]
fn hostile_provider_strings_never_reach_the_state_unsanitised() {
    let fx = Fixture::new();
    // A Stripe card error with an odd code.
    let (_, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let odd = r#"{"error":{"type":"card_error","code":"Card-Declined / Do Not Honor"}}"#;
    let (_, after) = step(&fx, &s, resp(402, odd));
    assert_eq!(after.reason.as_deref(), Some("card_declined_do_not_honor"));
    // A Stripe rejection and Duffel refusals with hostile codes.
    let rejected = format!(
        r#"{{"error":{{"type":"invalid_request_error","code":"{}"}}}}"#,
        "Bad Param ".repeat(20)
    );
    let (_, after) = step(&fx, &s, resp(400, &rejected));
    assert!(db_reason_ok(after.reason.as_deref().unwrap()));
    for code in ["Price-Changed", "1st_problem", "😀", &"z".repeat(300)] {
        let (_, after) = step(&fx, &authorized(&fx), duffel_error(422, code));
        let reason = after.reason.clone().unwrap();
        assert!(db_reason_ok(&reason), "{code:?} -> {reason:?}");
        let s = release_then(&fx, &after, End::Fail);
        let Command::Write { effects, state } = next(&s, T0, &fx.ctx()) else {
            panic!("expected the closing write");
        };
        assert!(db_reason_ok(state.reason.as_deref().unwrap()));
        for e in effects {
            if let Effect::SetTripStatus { reason, .. } | Effect::LogDecision { reason, .. } = e {
                assert!(db_reason_ok(&reason), "{reason:?}");
            }
        }
    }
}

#[test]
fn a_booking_reference_the_database_would_refuse_is_replaced_and_flagged() {
    let fx = Fixture::new();
    for bad in [
        "AB-12 3",
        "",
        r"RZPVQC\u0000",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "x'--",
    ] {
        let order = ORDER.replace("ABC123", bad);
        let (_, s) = step(
            &fx,
            &authorized(&fx),
            resp(201, &format!(r#"{{"data":{order}}}"#)),
        );
        assert_eq!(
            s.phase,
            Phase::Capture,
            "{bad:?}: the ticket exists, capture it"
        );
        let record = s.order.clone().unwrap();
        assert_eq!(record.booking_reference, UNKNOWN_BOOKING_REFERENCE);
        assert_eq!(s.alert.as_deref(), Some("booking_reference_invalid"));
        let (_, s) = step(&fx, &s, intent("succeeded", 20_000));
        assert_eq!(s.reason.as_deref(), Some("booking_reference_invalid"));
        let Command::Write { effects, .. } = next(&s, T0, &fx.ctx()) else {
            panic!("expected the closing write");
        };
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::RecordBooking { booking_reference, .. }
                if crate::duffel::order::is_valid_booking_reference(booking_reference)
        )));
    }
    // The same check applies to an order found by reconciliation.
    let (_, s) = step(&fx, &authorized(&fx), Outcome::Timeout);
    let order = ORDER.replace("ABC123", "abc 123");
    let (_, s) = step(&fx, &s, resp(200, &last_page(&order)));
    assert_eq!(
        s.order.unwrap().booking_reference,
        UNKNOWN_BOOKING_REFERENCE
    );
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

#[test]
fn snapshots_written_before_find_intent_carried_an_end_still_read() {
    let fx = Fixture::new();
    let mut s = authorized(&fx);
    s.phase = Phase::FindIntent { end: End::Fail };
    let json = s.to_snapshot();
    assert!(!json.contains("alert"), "no alert key while there is none");
    assert_eq!(AttemptState::from_snapshot(&json).unwrap(), s);
    // The shape stored before this change: a unit `find_intent`, no `alert`.
    let old = json.replace(
        r#"{"name":"find_intent","end":"fail"}"#,
        r#"{"name":"find_intent"}"#,
    );
    assert_ne!(old, json);
    let read = AttemptState::from_snapshot(&old).unwrap();
    assert_eq!(
        read.phase,
        Phase::FindIntent {
            end: End::SearchAgain
        }
    );
    s.alert = Some("order_total_mismatch".into());
    let json = s.to_snapshot();
    assert_eq!(AttemptState::from_snapshot(&json).unwrap(), s);
}

fn quote(id: &str, minor: i64, passengers: &[&str]) -> PricedOffer {
    PricedOffer {
        id: id.into(),
        total: gbp(minor),
        expires_at: Some(Timestamp::from_unix_ms(T0.unix_ms() + 3_600_000)),
        passenger_ids: passengers.iter().map(|p| (*p).to_owned()).collect(),
        rules: crate::duffel::passengers::OfferRules {
            passengers: passengers
                .iter()
                .map(|p| crate::duffel::passengers::OfferPassenger {
                    id: (*p).to_owned(),
                    kind: Some("adult".into()),
                    age: None,
                })
                .collect(),
            ..Default::default()
        },
    }
}

fn begin_with(q: PricedOffer) -> AttemptState {
    let fresh = start(gbp(40_000));
    let params = Begin {
        attempt_id: fresh.attempt_id.clone(),
        trip_id: fresh.trip_id.clone(),
        offer_id: fresh.offer_id.clone(),
        max_total: fresh.max_total,
        customer: fresh.customer.clone(),
        payment_method: fresh.payment_method.clone(),
        seed: 42,
    };
    begin_priced(params, q, T0)
}

#[test]
fn a_fresh_quote_starts_the_attempt_at_authorize_with_its_amount() {
    let s = begin_with(quote("off_1", 30_000, &["pas_1"]));
    assert_eq!(s.phase, Phase::Authorize);
    assert_eq!(s.amount, Some(gbp(30_000)));
    assert_eq!(s.passenger_ids, vec!["pas_1".to_owned()]);
    assert_eq!(s.version, 1, "still the first state");
    let ctx_fixture = Fixture::new();
    match next(&s, T0, &ctx_fixture.ctx()) {
        Command::Send { request, .. } => {
            assert_eq!(request.path, "/v1/payment_intents", "no second re-price")
        }
        other => panic!("expected the authorization, got {other:?}"),
    }
}

#[test]
fn a_quote_the_checks_refuse_leaves_the_attempt_to_price_again() {
    for q in [
        quote("off_other", 30_000, &["pas_1"]),
        quote("off_1", 40_001, &["pas_1"]),
        quote("off_1", 30_000, &[]),
        PricedOffer {
            expires_at: Some(T0),
            ..quote("off_1", 30_000, &["pas_1"])
        },
    ] {
        let s = begin_with(q.clone());
        assert_eq!(s.phase, Phase::Reprice, "{q:?}");
        assert_eq!(s.amount, None);
        assert!(s.is_open());
    }
}

#[test]
fn a_reconcile_reads_every_page_and_matches_each_order_on_its_metadata() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &authorized(&fx), Outcome::Timeout);
    // Duffel ignored the filter: other attempts' orders come first, one per page.
    let other = ORDER
        .replace("att_1", "att_other")
        .replace("ord_1", "ord_9");
    let (req, s) = step(&fx, &s, resp(200, &page(&other, "c1")));
    assert!(
        req.path.ends_with("offer_id=off_1&limit=200"),
        "{}",
        req.path
    );
    assert_eq!(
        (s.phase, s.lookup_pages, s.lookup_misses),
        (Phase::Reconcile, 1, 0)
    );
    assert_eq!(s.not_before, None, "the next page is read at once");
    let (req, s) = step(&fx, &s, resp(200, &page(&other, "c2")));
    assert!(req.path.ends_with("&after=c1"), "{}", req.path);
    // Our attempt id on an order of another offer is not ours.
    let elsewhere = ORDER.replace(
        r#""attempt_id":"att_1""#,
        r#""attempt_id":"att_1","offer_id":"off_2""#,
    );
    let (req, s) = step(&fx, &s, resp(200, &page(&elsewhere, "c3")));
    assert!(req.path.ends_with("&after=c2"), "{}", req.path);
    assert_eq!(s.phase, Phase::Reconcile);
    let ours = ORDER.replace(
        r#""attempt_id":"att_1""#,
        r#""attempt_id":"att_1","offer_id":"off_1""#,
    );
    let (req, s) = step(&fx, &s, resp(200, &last_page(&ours)));
    assert!(req.path.ends_with("&after=c3"), "{}", req.path);
    assert_eq!(s.phase, Phase::Capture);
    assert_eq!(s.order.as_ref().unwrap().id, "ord_1");
    assert_eq!((s.lookup_cursor.as_deref(), s.lookup_pages), (None, 0));
}

#[test]
fn a_reconcile_step_reads_a_bounded_number_of_pages_and_a_bound_is_not_a_miss() {
    let fx = Fixture::new();
    let (_, mut s) = step(&fx, &authorized(&fx), Outcome::Timeout);
    let other = ORDER.replace("att_1", "att_other");
    for n in 1..=RECONCILE_MAX_PAGES {
        let (_, after) = step(&fx, &s, resp(200, &page(&other, &format!("c{n}"))));
        s = after;
    }
    // The bound: the look-up is unknown, not empty; it goes on from the cursor later.
    assert_eq!(s.phase, Phase::Reconcile);
    assert_eq!(s.lookup_misses, 0);
    assert_eq!(s.lookup_pages, 0);
    assert_eq!(s.lookup_cursor.as_deref(), Some("c5"));
    assert_eq!(s.not_before, Some(T0.plus_ms(RECONCILE_FIRST_SPACING_MS)));
    assert_eq!(s.reason.as_deref(), Some("order_lookup_incomplete"));
    assert_eq!(
        next(&s, T0, &fx.ctx()),
        Command::WaitUntil(s.not_before.unwrap())
    );
    s.not_before = None;
    let (req, s) = step(&fx, &s, resp(200, &last_page(&other)));
    assert!(req.path.ends_with("&after=c5"), "{}", req.path);
    // Only a look-up whose last page was read is a miss; the next one starts from the top.
    assert_eq!((s.lookup_misses, s.lookup_cursor.as_deref()), (1, None));
    let mut s = s;
    s.not_before = None;
    // A failed page (or a cursor that cannot be followed) restarts the look-up.
    let (_, s) = step(&fx, &s, resp(200, &page(&other, "c1")));
    let (_, mut s) = step(
        &fx,
        &s,
        resp(422, r#"{"errors":[{"code":"validation_format"}]}"#),
    );
    assert_eq!((s.lookup_cursor.as_deref(), s.lookup_misses), (None, 1));
    s.not_before = None;
    let (_, mut s) = step(&fx, &s, resp(200, &page(&other, "bad cursor")));
    assert_eq!((s.lookup_cursor.as_deref(), s.lookup_misses), (None, 1));
    s.not_before = None;
    // A list without Duffel's paging metadata cannot say the order is not there.
    let (_, s) = step(&fx, &s, resp(200, &format!(r#"{{"data":[{other}]}}"#)));
    assert_eq!((s.phase, s.lookup_misses), (Phase::Reconcile, 1));
}

#[test]
fn an_offer_gone_at_order_time_is_marked_dead_with_the_closing_save() {
    let fx = Fixture::new();
    let (_, s) = step(
        &fx,
        &authorized(&fx),
        duffel_error(422, "offer_no_longer_available"),
    );
    assert!(s.offer_gone);
    assert_eq!(
        s.phase,
        Phase::Release {
            end: End::SearchAgain
        }
    );
    let json = s.to_snapshot();
    assert_eq!(
        AttemptState::from_snapshot(&json).unwrap(),
        s,
        "durable in the state"
    );
    let s = release_then(&fx, &s, End::SearchAgain);
    let Command::Write { effects, .. } = next(&s, T0, &fx.ctx()) else {
        panic!("expected the closing write");
    };
    assert_eq!(
        effects[..2],
        [
            Effect::SetTripStatus {
                trip_id: "trip_1".into(),
                to: TripStatus::Watching,
                reason: "offer_no_longer_available".into(),
                next_check_at: None,
            },
            Effect::MarkOfferDead {
                trip_id: "trip_1".into(),
                offer_id: "off_1".into(),
            },
        ]
    );
    // Other refusals leave the offer alone (a changed price is re-priced).
    let (_, s) = step(&fx, &authorized(&fx), duffel_error(422, "price_changed"));
    assert!(!s.offer_gone);
    let s = release_then(&fx, &s, End::SearchAgain);
    let Command::Write { effects, .. } = next(&s, T0, &fx.ctx()) else {
        panic!("expected the closing write");
    };
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::MarkOfferDead { .. })));
}

#[test]
fn an_attempt_a_provider_outage_ended_puts_the_next_check_off() {
    let fx = Fixture::new();
    let (_, mut s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    while s.phase == Phase::Authorize {
        let (_, after) = step(&fx, &s, resp(503, ""));
        s = after;
        s.not_before = None;
    }
    while matches!(s.phase, Phase::FindIntent { .. }) {
        let (_, after) = step(&fx, &s, resp(200, r#"{"data":[]}"#));
        s = after;
        s.not_before = None;
    }
    assert_eq!(s.reason.as_deref(), Some("payment_provider_unavailable"));
    let Command::Write { effects, .. } = next(&s, T0, &fx.ctx()) else {
        panic!("expected the closing write");
    };
    assert_eq!(
        effects[0],
        Effect::SetTripStatus {
            trip_id: "trip_1".into(),
            to: TripStatus::Watching,
            reason: "payment_provider_unavailable".into(),
            next_check_at: Some(T0.plus_ms(OUTAGE_RECHECK_MS)),
        }
    );
    let wire = serde_json::to_value(&effects[0]).unwrap();
    assert_eq!(
        wire["next_check_at"],
        serde_json::json!(T0.plus_ms(OUTAGE_RECHECK_MS))
    );
}

#[test]
fn an_order_resumed_on_an_old_hold_releases_it_instead() {
    let fx = Fixture::new();
    let s = authorized(&fx);
    let late = Timestamp::from_unix_ms(T0.unix_ms() + ORDER_HOLD_MAX_AGE_MS);
    let Command::Write { state, .. } = next(&s, late, &fx.ctx()) else {
        panic!("expected a write, no order");
    };
    assert_eq!(
        state.phase,
        Phase::Release {
            end: End::SearchAgain
        }
    );
    assert_eq!(state.reason.as_deref(), Some("authorization_stale"));
    // Just inside the age the order goes out.
    let early = Timestamp::from_unix_ms(late.unix_ms() - 1);
    let Command::Send { request, .. } = next(&s, early, &fx.ctx()) else {
        panic!("expected the order");
    };
    assert!(request.path.ends_with("/air/orders"));
}

#[test]
fn an_authorize_retried_after_the_key_window_searches_for_the_hold_instead() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let (_, mut s) = step(&fx, &s, Outcome::Timeout);
    s.not_before = None;
    let late = Timestamp::from_unix_ms(T0.unix_ms() + AUTHORIZE_RETRY_WINDOW_MS);
    let Command::Write { state, .. } = next(&s, late, &fx.ctx()) else {
        panic!("expected a write, no authorize under an expired key");
    };
    assert_eq!(
        state.phase,
        Phase::FindIntent {
            end: End::SearchAgain
        }
    );
    assert_eq!(state.reason.as_deref(), Some("authorization_stale"));
    // A first authorize is never stale (nothing can be held yet): its old quote is priced
    // again instead.
    let (_, fresh) = step(&fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let Command::Write { state, .. } = next(&fresh, late, &fx.ctx()) else {
        panic!("expected a write back to reprice");
    };
    assert_eq!(state.phase, Phase::Reprice);
}

#[test]
fn an_old_quote_is_priced_again_before_the_first_authorize() {
    let fx = Fixture::new();
    let s = begin_with(quote("off_1", 30_000, &["pas_1"]));
    assert_eq!(s.phase, Phase::Authorize);
    let late = Timestamp::from_unix_ms(T0.unix_ms() + QUOTE_FRESH_MS);
    let Command::Write { state, .. } = next(&s, late, &fx.ctx()) else {
        panic!("expected a write back to reprice");
    };
    assert_eq!(state.phase, Phase::Reprice);
    assert_eq!(state.reason.as_deref(), Some("quote_stale"));
    // Just inside the window it authorizes.
    let early = Timestamp::from_unix_ms(late.unix_ms() - 1);
    assert!(matches!(next(&s, early, &fx.ctx()), Command::Send { .. }));
}

#[test]
fn an_unknown_order_outcome_never_reconciles_past_the_deadline() {
    let fx = Fixture::new();
    let (_, s) = step(&fx, &authorized(&fx), Outcome::Timeout);
    assert_eq!(s.phase, Phase::Reconcile);
    let late = Timestamp::from_unix_ms(s.started_at.unix_ms() + RECONCILE_DEADLINE_MS);
    let Command::Write { state, .. } = next(&s, late, &fx.ctx()) else {
        panic!("expected the end, not another look-up");
    };
    assert_eq!(state.phase, Phase::Release { end: End::Fail });
    assert_eq!(state.reason.as_deref(), Some("order_outcome_unknown"));
}

// On-session payment (issue 7): the attempt waits for the traveller's 3-D Secure. -------------

const AUTH_402: &str = r#"{"error":{"type":"card_error","code":"authentication_required",
    "payment_intent":{"id":"pi_1","status":"requires_payment_method","amount":20000,"currency":"gbp",
    "metadata":{"attempt_id":"att_1"}}}}"#;

/// Re-price and an off-session authorize that needs authentication: the attempt awaits.
fn awaiting(fx: &Fixture) -> AttemptState {
    let (_, s) = step(fx, &start(gbp(25_000)), offer("200.00", "GBP"));
    let (_, s) = step(fx, &s, resp(402, AUTH_402));
    let Phase::AwaitTraveller { deadline, told } = s.phase else {
        panic!("expected await_traveller, got {:?}", s.phase);
    };
    assert!(!told);
    assert_eq!(deadline, T0.plus_ms(AWAIT_TRAVELLER_MS));
    assert_eq!(s.payment_intent.as_deref(), Some("pi_1"));
    s
}

/// The one write that tells the traveller; then the attempt waits for the poll.
fn told(fx: &Fixture, s: &AttemptState) -> AttemptState {
    let Command::Write { state, effects } = next(s, T0, &fx.ctx()) else {
        panic!("expected the notification write");
    };
    assert!(matches!(
        state.phase,
        Phase::AwaitTraveller { told: true, .. }
    ));
    assert_eq!(state.not_before, Some(T0.plus_ms(AWAIT_POLL_MS)));
    assert!(effects.iter().any(|e| matches!(e,
        Effect::Notify { template: Template::PaymentNeedsAttention, dedupe_key, .. }
            if dedupe_key == "att_1-authentication_required")));
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::SetTripStatus { .. })));
    state
}

fn past_deadline(fx: &Fixture, s: &AttemptState) -> AttemptState {
    let s = told(fx, s);
    let Phase::AwaitTraveller { deadline, .. } = s.phase else {
        unreachable!()
    };
    let Command::Write { state, .. } = next(&s, deadline, &fx.ctx()) else {
        panic!("expected the release at the deadline");
    };
    state
}

fn due(s: &AttemptState) -> AttemptState {
    let mut s = s.clone();
    s.not_before = None; // the traveller said "done", or the poll came
    s
}

#[test]
fn authentication_required_keeps_the_intent_and_waits_for_the_traveller() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    // Nothing happens before the poll.
    assert_eq!(
        next(&s, T0, &fx.ctx()),
        Command::WaitUntil(T0.plus_ms(AWAIT_POLL_MS))
    );
    // Still not authenticated: wait again, never past the deadline.
    let (req, waiting) = step(&fx, &due(&s), intent("requires_action", 20_000));
    assert_eq!(
        (req.method, req.path.as_str()),
        (Method::Get, "/v1/payment_intents/pi_1")
    );
    assert!(matches!(
        waiting.phase,
        Phase::AwaitTraveller { told: true, .. }
    ));
    assert_eq!(waiting.reason.as_deref(), Some("awaiting_authentication"));
    assert_eq!(waiting.not_before, Some(T0.plus_ms(AWAIT_POLL_MS)));
}

#[test]
fn authenticated_hold_reprices_then_orders_without_a_second_authorize() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    let (_, s) = step(&fx, &due(&s), intent("requires_capture", 20_000));
    assert_eq!(s.phase, Phase::Reprice);
    assert_eq!(s.authorized, Some(gbp(20_000)));
    // Cheaper now: order at the fresh total, capture it (less than the hold, never more).
    let (req, s) = step(&fx, &s, offer("190.00", "GBP"));
    assert_eq!(req.path, "/air/offers/off_1");
    assert_eq!(s.phase, Phase::Order);
    assert_eq!(s.amount, Some(gbp(19_000)));
    let (req, s) = step(&fx, &s, order_201());
    assert_eq!(req.path, "/air/orders");
    assert_eq!(s.phase, Phase::Capture);
    let (req, s) = step(&fx, &s, intent("succeeded", 19_000));
    assert_eq!(req.path, "/v1/payment_intents/pi_1/capture");
    assert!(req.body.unwrap().contains("amount_to_capture=19000"));
    assert_eq!(s.phase, Phase::Finish { end: End::Booked });
}

#[test]
fn a_dearer_or_changed_offer_after_authentication_releases_the_hold() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    let (_, held) = step(&fx, &due(&s), intent("requires_capture", 20_000));
    for (outcome, reason) in [
        (offer("200.01", "GBP"), "over_authorized_amount"),
        (offer("150.00", "EUR"), "currency_mismatch"),
        (duffel_error(404, "not_found"), "offer_unavailable"),
    ] {
        let (_, s) = step(&fx, &held, outcome);
        assert_eq!(s.reason.as_deref(), Some(reason));
        release_then(&fx, &s, End::SearchAgain);
    }
}

#[test]
fn the_travellers_cancel_or_other_card_releases_the_intent_first() {
    let mut fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    for (request, reason) in [
        (TravellerRequest::Cancel, "cancelled_by_traveller"),
        (TravellerRequest::AnotherCard, "payment_method_changed"),
    ] {
        fx.travellers = vec![traveller()];
        let ctx = Context {
            traveller_request: Some(request),
            ..fx.ctx()
        };
        // At once, even before the poll is due.
        let Command::Write { state, effects } = next(&s, T0, &ctx) else {
            panic!("expected the release");
        };
        assert!(effects.is_empty());
        assert_eq!(state.reason.as_deref(), Some(reason));
        let done = release_then(&fx, &state, End::SearchAgain);
        assert_eq!(done.reason.as_deref(), Some(reason));
    }
}

#[test]
fn an_intent_cancelled_elsewhere_or_a_wrong_amount_ends_the_wait() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    let (_, gone) = step(&fx, &due(&s), intent("canceled", 20_000));
    assert_eq!(
        gone.phase,
        Phase::Finish {
            end: End::NeedsTraveller
        }
    );
    assert_eq!(gone.reason.as_deref(), Some("payment_canceled"));
    let (_, wrong) = step(&fx, &due(&s), intent("requires_capture", 30_000));
    assert_eq!(wrong.phase, Phase::Release { end: End::Fail });
    assert_eq!(wrong.reason.as_deref(), Some("authorization_mismatch"));
}

#[test]
fn read_failures_and_lost_answers_retry_but_never_past_the_deadline() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    let Phase::AwaitTraveller { deadline, .. } = s.phase else {
        unreachable!()
    };
    let (_, failed) = step(&fx, &due(&s), resp(503, ""));
    assert!(matches!(failed.phase, Phase::AwaitTraveller { .. }));
    assert!(failed.not_before.unwrap() <= deadline);
    // A crash after the read was sent: the next run resolves it as lost and reads again.
    let Command::Send { mark, .. } = next(&due(&s), T0, &fx.ctx()) else {
        panic!("expected the read");
    };
    let Command::Write { state, .. } = next(&mark, T0, &fx.ctx()) else {
        panic!("expected the lost outcome");
    };
    assert!(matches!(state.phase, Phase::AwaitTraveller { .. }));
    // Close to the deadline the retry waits only until it.
    let late = deadline.plus_ms(-1);
    let Command::Send { mark, .. } = next(&due(&s), late, &fx.ctx()) else {
        panic!("expected the read");
    };
    let after = apply(&mark, late, resp(503, "")).unwrap();
    assert_eq!(after.not_before, Some(deadline));
}

#[test]
fn an_awaiting_snapshot_round_trips() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    let text = s.to_snapshot();
    assert!(text.contains(r#""name":"await_traveller""#), "{text}");
    assert_eq!(AttemptState::from_snapshot(&text).unwrap(), s);
    assert_eq!(
        TravellerRequest::parse("cancel"),
        Some(TravellerRequest::Cancel)
    );
    assert_eq!(
        TravellerRequest::parse("another_card"),
        Some(TravellerRequest::AnotherCard)
    );
    assert_eq!(TravellerRequest::parse("x"), None);
}

/// Stripe's answer to a cancel of an intent that is not cancelable right now.
const CANCEL_REFUSED: &str = r#"{"error":{"type":"invalid_request_error",
    "code":"payment_intent_unexpected_state","message":"This PaymentIntent's status is processing.",
    "payment_intent":{"id":"pi_1","object":"payment_intent","status":"processing","amount":20000,
    "currency":"gbp","metadata":{"attempt_id":"att_1"}}}}"#;

/// The traveller cancelled while the cancel met an intent that is `processing` (3-D Secure
/// completing): the attempt must stay open, read the intent, wait while it processes, and
/// cancel the hold once it is `requires_capture`, under a fresh key.
#[test]
fn a_cancel_refused_while_processing_reads_the_intent_and_cancels_the_hold_later() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    let ctx = Context {
        traveller_request: Some(TravellerRequest::Cancel),
        ..fx.ctx()
    };
    let Command::Write { state: s, .. } = next(&s, T0, &ctx) else {
        panic!("expected the release");
    };
    assert_eq!(
        s.phase,
        Phase::Release {
            end: End::SearchAgain
        }
    );
    let (req, refused) = step(&fx, &s, resp(400, CANCEL_REFUSED));
    assert_eq!(req.header("Idempotency-Key"), Some("att_1-cancel"));
    assert_eq!(
        refused.phase,
        Phase::Release {
            end: End::SearchAgain
        },
        "not closed"
    );
    assert!(refused.check_intent);
    assert_eq!(refused.not_before, None, "read at once");
    // Still processing: read again later, the attempt stays open.
    let (req, processing) = step(&fx, &refused, intent("processing", 20_000));
    assert_eq!(
        (req.method, req.path.as_str()),
        (Method::Get, "/v1/payment_intents/pi_1")
    );
    assert_eq!(
        processing.phase,
        Phase::Release {
            end: End::SearchAgain
        }
    );
    assert!(processing.check_intent);
    assert!(processing.not_before.is_some_and(|at| at > T0));
    assert_eq!(processing.reason.as_deref(), Some("cancelled_by_traveller"));
    // Now a hold: cancel it again under the next key generation.
    let (_, resend) = step(&fx, &due(&processing), intent("requires_capture", 20_000));
    assert!(!resend.check_intent);
    assert_eq!(resend.key_generation, 1);
    let (req, done) = step(&fx, &resend, intent("canceled", 20_000));
    assert_eq!(req.path, "/v1/payment_intents/pi_1/cancel");
    assert_eq!(req.header("Idempotency-Key"), Some("att_1-cancel-2"));
    assert_eq!(
        done.phase,
        Phase::Finish {
            end: End::SearchAgain
        }
    );
    assert_eq!(done.reason.as_deref(), Some("cancelled_by_traveller"));
}

/// A refusal that names a cancelled intent is a release; one whose retrieve finds it cancelled
/// too. Only a spent bound of re-sends (or a captured intent) ends `release_failed`.
#[test]
fn release_failed_only_after_the_bounded_re_sends() {
    let fx = Fixture::new();
    let s = authorized(&fx);
    let (_, s) = step(
        &fx,
        &s,
        resp(422, r#"{"errors":[{"code":"price_changed"}]}"#),
    );
    assert_eq!(
        s.phase,
        Phase::Release {
            end: End::SearchAgain
        }
    );
    let mut s = s;
    let mut sends = 0;
    loop {
        let (req, refused) = step(&fx, &s, resp(400, CANCEL_REFUSED));
        assert!(req.path.ends_with("/cancel"));
        sends += 1;
        assert!(refused.is_open() && refused.check_intent);
        let (_, after) = step(&fx, &refused, intent("requires_capture", 20_000));
        if let Phase::Finish { end } = after.phase {
            assert_eq!(end, End::Fail, "never back to watching: no second hold");
            assert_eq!(after.reason.as_deref(), Some("release_failed"));
            break;
        }
        assert!(sends < RELEASE_MAX_SENDS, "the re-sends are bounded");
        s = after;
    }
    assert_eq!(sends, RELEASE_MAX_SENDS);
    // A retrieve that finds it cancelled after all: released, the reason kept.
    let (_, refused) = step(&fx, &authorized_release(&fx), resp(400, CANCEL_REFUSED));
    let (_, done) = step(&fx, &refused, intent("canceled", 20_000));
    assert_eq!(done.reason.as_deref(), Some("price_changed"));
    // Captured without a ticket: operators must look.
    let (_, refused) = step(&fx, &authorized_release(&fx), resp(400, CANCEL_REFUSED));
    let (_, taken) = step(&fx, &refused, intent("succeeded", 20_000));
    assert_eq!(taken.reason.as_deref(), Some("captured_not_released"));
    assert_eq!(taken.phase, Phase::Finish { end: End::Fail });
    assert_gives_up_for_an_operator(&fx, &taken, "captured_not_released");
}

/// The closing save of a given-up release: trip `failed` (never `watching`, so no new attempt
/// and no second hold), with `reason` (`release_failed`: the `hold_not_released` alert's
/// condition; `captured_not_released`: the `captured_not_released` alert's).
fn assert_gives_up_for_an_operator(fx: &Fixture, state: &AttemptState, reason: &str) {
    let Command::Write {
        state: closed,
        effects,
    } = next(state, T0, &fx.ctx())
    else {
        panic!("expected the closing write");
    };
    assert_eq!(closed.phase, Phase::Closed { end: End::Fail });
    assert!(effects.contains(&Effect::SetTripStatus {
        trip_id: state.trip_id.clone(),
        to: TripStatus::Failed,
        reason: reason.to_owned(),
        next_check_at: None,
    }));
}

/// A long cancel outage (503s, with a retrieve every 4th failure that finds the hold still
/// there) never spends the refusal bound: the attempt stays open in `release` however long it
/// lasts, and the cancel that finally goes through releases with the original reason.
#[test]
fn a_long_cancel_outage_never_gives_up_the_hold() {
    let fx = Fixture::new();
    let mut s = authorized_release(&fx);
    let mut sends = 0;
    let mut reads = 0;
    while sends < 10 * RELEASE_MAX_SENDS {
        let (req, after) = if s.check_intent {
            reads += 1;
            step(&fx, &due(&s), intent("requires_capture", 20_000))
        } else {
            sends += 1;
            step(
                &fx,
                &due(&s),
                resp(503, r#"{"error":{"type":"api_error"}}"#),
            )
        };
        assert!(req.path.starts_with("/v1/payment_intents/pi_1"));
        assert_eq!(
            after.phase,
            Phase::Release {
                end: End::SearchAgain
            },
            "still releasing after {sends} failed cancels"
        );
        assert_eq!(after.cancel_refusals, 0, "an outage is not a refusal");
        s = after;
    }
    assert!(reads >= RELEASE_MAX_SENDS, "the reads happened ({reads})");
    let s = if s.check_intent {
        step(&fx, &due(&s), intent("requires_capture", 20_000)).1
    } else {
        s
    };
    let (_, done) = step(&fx, &due(&s), intent("canceled", 20_000));
    assert_eq!(
        done.phase,
        Phase::Finish {
            end: End::SearchAgain
        }
    );
    assert_eq!(done.reason.as_deref(), Some("price_changed"));
}

/// A read after a refused cancel that Stripe refuses too (404 `resource_missing`, 401, 403) is
/// bounded: after `RELEASE_MAX_BAD_READS` the attempt gives up for an operator, never re-books.
/// A 5xx read never counts.
#[test]
fn refused_intent_reads_give_up_for_an_operator() {
    let fx = Fixture::new();
    for status in [404, 401, 403] {
        let body = r#"{"error":{"type":"invalid_request_error","code":"resource_missing"}}"#;
        let (_, mut s) = step(&fx, &authorized_release(&fx), resp(400, CANCEL_REFUSED));
        assert!(s.check_intent);
        let (_, outage) = step(
            &fx,
            &due(&s),
            resp(503, r#"{"error":{"type":"api_error"}}"#),
        );
        assert_eq!(outage.intent_read_refusals, 0, "a 5xx read is an outage");
        s = outage;
        let mut reads = 0;
        let closed = loop {
            let (req, after) = step(&fx, &due(&s), resp(status, body));
            assert_eq!(req.method, Method::Get);
            reads += 1;
            if let Phase::Finish { .. } = after.phase {
                break after;
            }
            assert!(after.check_intent, "reads again");
            assert!(reads < RELEASE_MAX_BAD_READS, "bounded");
            s = after;
        };
        assert_eq!(reads, RELEASE_MAX_BAD_READS, "{status}");
        assert_eq!(closed.phase, Phase::Finish { end: End::Fail });
        assert_eq!(closed.reason.as_deref(), Some("release_failed"));
        assert_gives_up_for_an_operator(&fx, &closed, "release_failed");
    }
}

fn authorized_release(fx: &Fixture) -> AttemptState {
    let (_, s) = step(
        fx,
        &authorized(fx),
        resp(422, r#"{"errors":[{"code":"price_changed"}]}"#),
    );
    s
}

/// The traveller's request reaching a run that already re-prices (or is about to order on) the
/// hold they authenticated: the next step releases, never orders.
#[test]
fn a_request_after_authentication_releases_instead_of_ordering() {
    let fx = Fixture::new();
    let s = told(&fx, &awaiting(&fx));
    let (_, reprice) = step(&fx, &due(&s), intent("requires_capture", 20_000));
    assert_eq!(reprice.phase, Phase::Reprice);
    let (_, order) = step(&fx, &reprice, offer("190.00", "GBP"));
    assert_eq!(order.phase, Phase::Order);
    for (request, reason) in [
        (TravellerRequest::Cancel, "cancelled_by_traveller"),
        (TravellerRequest::AnotherCard, "payment_method_changed"),
    ] {
        let ctx = Context {
            traveller_request: Some(request),
            ..fx.ctx()
        };
        for held in [&reprice, &order] {
            let Command::Write { state, .. } = next(held, T0, &ctx) else {
                panic!("expected the release in {:?}", held.phase);
            };
            assert_eq!(state.reason.as_deref(), Some(reason));
            release_then(&fx, &state, End::SearchAgain);
        }
    }
    // Without a hold from the traveller (the off-session path) a request changes nothing here.
    let plain = authorized(&fx);
    let ctx = Context {
        traveller_request: Some(TravellerRequest::Cancel),
        ..fx.ctx()
    };
    assert!(matches!(next(&plain, T0, &ctx), Command::Send { .. }));
}
