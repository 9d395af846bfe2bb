//! The `auto_booking` flag and its kill switch at booking time (the run's snapshot in the
//! driver config): no new attempt when off for the owner, an open attempt always resumes.

use super::*;

const OWNER: &str = "11111111-2222-4333-8444-555555555555";

fn flagged(flags: Value) -> TripDriver {
    flagged_claim(claim("watching", Some(offer()), Some(payment())), flags)
}

fn flagged_claim(c: Value, flags: Value) -> TripDriver {
    let config = DriverConfig::from_json(
        &json!({"lock_lease_ms":30000,"flags":{"flags":flags}}).to_string(),
    )
    .unwrap();
    TripDriver::new(
        Claim::from_json(&c.to_string()).unwrap(),
        config,
        NOW,
        ATTEMPT,
        42,
        "tok-1",
    )
    .unwrap()
}

fn auto_booking(enabled: bool, rollout_bp: u16, allow: &[&str]) -> Value {
    json!({"name":"auto_booking","enabled":enabled,"rollout_bp":rollout_bp,
        "allow_users":allow,"deny_users":[]})
}

fn kill_switch(enabled: bool) -> Value {
    json!({"name":"auto_booking_kill_switch","enabled":enabled,"rollout_bp":0})
}

#[test]
fn flag_on_for_the_owner_begins_the_attempt() {
    let mut d = flagged(json!([auto_booking(true, 10_000, &[]), kill_switch(false)]));
    reprice_at(&mut d, "300.00");
    assert_eq!(sql(&mut d).0, "monitor_passengers");
}

#[test]
fn the_kill_switch_or_a_rollout_without_the_owner_keeps_watching() {
    for flags in [
        json!([auto_booking(true, 10_000, &[]), kill_switch(true)]),
        json!([auto_booking(true, 0, &[]), kill_switch(false)]),
        json!([auto_booking(false, 10_000, &[OWNER]), kill_switch(false)]),
        json!([kill_switch(false)]),
    ] {
        let mut d = flagged(flags.clone());
        reprice_at(&mut d, "300.00");
        let args = rescheduled(&mut d, "auto_booking_flag_off");
        assert_eq!(args["decision"], "wait", "{flags}");
    }
}

#[test]
fn the_allow_list_is_in_below_the_rollout() {
    let mut d = flagged(json!([auto_booking(true, 0, &[OWNER])]));
    reprice_at(&mut d, "300.00");
    assert_eq!(sql(&mut d).0, "monitor_passengers");
}

#[test]
fn a_search_that_selects_a_bookable_offer_only_records_it_while_off() {
    let mut d = flagged_claim(
        claim("searching", None, Some(payment())),
        json!([auto_booking(true, 10_000, &[]), kill_switch(true)]),
    );
    lock(&mut d);
    http(&mut d);
    respond(&mut d, 201, search_body());
    assert_eq!(sql(&mut d).0, "monitor_record_search");
    let selected = json!({"provider_offer_id":"off_9","total_minor":25000,"currency":"GBP",
        "expires_at":"2026-09-21T15:00:00Z","departing_at":"2026-12-12T09:00:00"});
    answer(
        &mut d,
        json!({"trip": trip("watching"), "selected_offer": selected}),
    );
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Searched, "offer_selected".into())
    );
}

#[test]
fn an_open_attempt_holding_money_resumes_under_the_kill_switch() {
    let mut state = saga::begin(
        Begin {
            attempt_id: ATTEMPT.into(),
            trip_id: TRIP.into(),
            offer_id: "off_1".into(),
            max_total: Money::from_minor(40_000, Currency::parse("GBP").unwrap()).unwrap(),
            customer: "cus_1".into(),
            payment_method: "pm_1".into(),
            seed: 1,
        },
        NOW,
    );
    state.phase = Phase::Order;
    state.version = 6;
    state.payment_intent = Some("pi_1".into());
    state.passenger_ids = vec!["pas_1".into()];
    state.amount = Some(Money::from_minor(30_000, Currency::parse("GBP").unwrap()).unwrap());
    let mut c = claim("booking", Some(offer()), Some(payment()));
    c["attempt"] = json!({"state": state});
    let mut d = flagged_claim(c, json!([auto_booking(false, 0, &[]), kill_switch(true)]));
    lock(&mut d);
    assert_eq!(
        sql(&mut d).0,
        "monitor_passengers",
        "the saga goes on towards its order or release"
    );
}

fn config_json(extra: Value) -> DriverConfig {
    let mut c = json!({"lock_lease_ms":30000});
    if let Value::Object(m) = extra {
        c.as_object_mut().unwrap().extend(m);
    }
    DriverConfig::from_json(&c.to_string()).unwrap()
}

fn driver_with(c: Value, config: DriverConfig) -> TripDriver {
    TripDriver::new(
        Claim::from_json(&c.to_string()).unwrap(),
        config,
        NOW,
        ATTEMPT,
        42,
        "tok-1",
    )
    .unwrap()
}

fn unreadable_or_missing() -> Vec<Value> {
    vec![
        json!({}),
        json!({"flags": null}),
        // A NULL uuid in a list (what app.set_feature_flag once stored for a JSON null).
        json!({"flags":{"flags":[{"name":"auto_booking","enabled":true,"rollout_bp":10000,
            "allow_users":[null],"deny_users":[]}]}}),
        json!({"flags":{"flags":"nonsense"}}),
        json!({"flags": 7}),
    ]
}

#[test]
fn a_missing_or_unreadable_snapshot_parses_and_begins_no_attempt() {
    for extra in unreadable_or_missing() {
        let config = config_json(extra.clone());
        assert_eq!(config.flags, None, "{extra}");
        let mut d = driver_with(claim("watching", Some(offer()), Some(payment())), config);
        reprice_at(&mut d, "300.00");
        let args = rescheduled(&mut d, "auto_booking_flag_off");
        assert_eq!(args["decision"], "wait", "{extra}");
    }
}

#[test]
fn an_unreadable_snapshot_never_stops_an_attempt_holding_money() {
    for extra in unreadable_or_missing() {
        let mut state = saga::begin(
            Begin {
                attempt_id: ATTEMPT.into(),
                trip_id: TRIP.into(),
                offer_id: "off_1".into(),
                max_total: Money::from_minor(40_000, Currency::parse("GBP").unwrap()).unwrap(),
                customer: "cus_1".into(),
                payment_method: "pm_1".into(),
                seed: 1,
            },
            NOW,
        );
        state.phase = Phase::Order;
        state.version = 6;
        state.payment_intent = Some("pi_1".into());
        state.passenger_ids = vec!["pas_1".into()];
        state.amount = Some(Money::from_minor(30_000, Currency::parse("GBP").unwrap()).unwrap());
        let mut c = claim("booking", Some(offer()), Some(payment()));
        c["attempt"] = json!({"state": state});
        let mut d = driver_with(c, config_json(extra.clone()));
        lock(&mut d);
        assert_eq!(sql(&mut d).0, "monitor_passengers", "{extra}");
    }
}

#[test]
fn the_rest_of_the_config_is_still_checked() {
    assert!(DriverConfig::from_json(r#"{"lock_lease_ms":30000,"secret":"x"}"#).is_err());
    assert!(DriverConfig::from_json(r#"{"lock_lease_ms":10,"flags":{"flags":[]}}"#).is_err());
}
