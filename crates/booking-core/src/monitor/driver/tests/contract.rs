//! The inputs the driver refuses, what `Debug` hides, and the commands' JSON.

use super::*;

#[test]
fn bad_inputs_are_refused() {
    let c = Claim::from_json(&claim("watching", None, None).to_string()).unwrap();
    let err = TripDriver::new(c.clone(), config(6), NOW, "not-a-uuid", 1, "t").unwrap_err();
    assert_eq!(err.code(), "invalid_driver_input");
    let err = TripDriver::new(c, config(6), NOW, ATTEMPT, 1, "").unwrap_err();
    assert_eq!(err.code(), "invalid_driver_input");
    assert_eq!(
        Claim::from_json(r#"{"trip":{}}"#).unwrap_err().code(),
        "invalid_claim"
    );
    assert_eq!(
        DriverConfig::from_json("{}").unwrap_err().code(),
        "invalid_config"
    );
}

#[test]
fn debug_shows_no_personal_data_or_secrets() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    let text = format!("{d:?}");
    assert!(!mentions_personal_data(&text), "{text}");
    assert!(text.contains("travellers: 1"), "{text}");
    assert!(
        !text.contains("sk_test_x") && !text.contains("up_tok"),
        "{text}"
    );
    let text = format!("{:?}", config(6));
    assert!(
        !text.contains("sk_test_x") && !text.contains("up_tok") && !text.contains("duffel_test_x")
    );
}

#[test]
fn commands_serialise_to_the_contract() {
    let c: Command<TripDone> = Command::Done {
        result: TripDone {
            outcome: DriverOutcome::NeedsTraveller,
            reason: "card_declined".into(),
        },
    };
    assert_eq!(
        serde_json::to_value(c).unwrap(),
        json!({"kind":"done","result":{"outcome":"needs_traveller","reason":"card_declined"}})
    );
    let c: Command<TripDone> =
        Command::sql(7, SqlFunction::MonitorExpire, json!({"trip_id": TRIP}));
    assert_eq!(
        serde_json::to_value(c).unwrap(),
        json!({"kind":"sql","id":7,"function":"monitor_expire","role":"service",
            "args":{"trip_id": TRIP}})
    );
    let mut d = driver(claim("watching", None, None));
    let v = serde_json::to_value(d.poll(NOW)).unwrap();
    assert_eq!(v["kind"], "http");
    assert_eq!(v["id"], 1);
    assert_eq!(v["request"]["service"], "upstash");
    assert!(v["request"].get("url").is_none(), "no base URL in the core");
    assert_eq!(v["request"]["method"], "POST");
    assert_eq!(v["request"]["timeout_ms"], 5000);
    assert_eq!(DriverOutcome::Stopped.as_str(), "stopped");
}
