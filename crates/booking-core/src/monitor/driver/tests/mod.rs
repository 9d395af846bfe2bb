//! Shared fixtures for the driver's tests, which are split by role like the driver itself:
//! `route` (lock, route, search, re-price, decide), `booking` (the book checks, begin, the saga
//! loop), `feed` (misuse and refused SQL) and `contract` (inputs, `Debug`, serialisation).

use serde_json::{json, Value};

use super::*;
use crate::engine::{Command, DriveError, Input, SqlFunction};
use crate::error::TransportFailure;
use crate::http::{HttpRequest, Method};
use crate::money::{Currency, Money};
use crate::monitor::CALLS_PER_TRIP;
use crate::saga::{self, Begin, End, Phase};
use crate::search;
use crate::time::Timestamp;

mod booking;
mod contract;
mod feed;
mod flags;
mod route;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000); // 2026-09-21T…
const ATTEMPT: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const TRIP: &str = "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c";
const GIVEN: &str = "Zelda";
const FAMILY: &str = "Quuxington";
const EMAIL: &str = "zq@example.test";

/// The old per-kind feeding calls, over the one `handle` (with the waiting command's id).
trait Feed {
    fn handle_http(&mut self, now: Timestamp, status: u16, body: &[u8]) -> Result<(), DriveError>;
    fn handle_transport(&mut self, now: Timestamp, f: TransportFailure) -> Result<(), DriveError>;
    fn handle_sql(&mut self, now: Timestamp, result: &str) -> Result<(), DriveError>;
    fn handle_sql_error(&mut self, now: Timestamp, sqlstate: &str) -> Result<(), DriveError>;
}

impl Feed for TripDriver {
    fn handle_http(&mut self, now: Timestamp, status: u16, body: &[u8]) -> Result<(), DriveError> {
        let id = self.seq.waiting().unwrap_or(0);
        self.handle(now, id, Input::Http { status, body })
    }
    fn handle_transport(&mut self, now: Timestamp, f: TransportFailure) -> Result<(), DriveError> {
        let id = self.seq.waiting().unwrap_or(0);
        self.handle(now, id, Input::Transport(f))
    }
    fn handle_sql(&mut self, now: Timestamp, result: &str) -> Result<(), DriveError> {
        let id = self.seq.waiting().unwrap_or(0);
        self.handle(now, id, Input::Sql(result))
    }
    fn handle_sql_error(&mut self, now: Timestamp, sqlstate: &str) -> Result<(), DriveError> {
        let id = self.seq.waiting().unwrap_or(0);
        self.handle(now, id, Input::SqlError(sqlstate))
    }
}

fn config(max_calls: u32) -> DriverConfig {
    DriverConfig::from_json(
        &json!({"lock_lease_ms":30000,"max_provider_calls":max_calls,
            "flags":{"flags":[{"name":"auto_booking","enabled":true,"rollout_bp":10000}]}})
        .to_string(),
    )
    .unwrap()
}

fn trip(status: &str) -> Value {
    json!({"id":TRIP,"owner_id":"11111111-2222-4333-8444-555555555555","origin":"LHR",
        "destination":"JFK","departure_date":"2026-12-12","return_date":null,"adults":1,
        "child_ages":[],"cabin":"economy","nonstop_only":false,"max_total_minor":40000,
        "currency":"GBP","auto_book":true,"status":status,"selected_offer_id":null,
        "next_check_at":null,"check_count":0,"last_error_code":null,"version":4,
        "created_at":"2026-09-01T10:00:00Z","updated_at":"2026-09-01T10:00:00Z"})
}

fn offer() -> Value {
    json!({"provider_offer_id":"off_1","total_minor":30000,"currency":"GBP",
        "expires_at":"2026-09-21T15:00:00Z","departing_at":"2026-12-12T09:00:00"})
}

fn payment() -> Value {
    json!({"customer":"cus_1","payment_method":"pm_card_visa"})
}

fn claim(status: &str, offer: Option<Value>, payment: Option<Value>) -> Value {
    json!({"trip": trip(status), "selected_offer": offer, "attempt": null, "payment": payment})
}

fn driver_with(claim: Value, max_calls: u32) -> TripDriver {
    TripDriver::new(
        Claim::from_json(&claim.to_string()).unwrap(),
        config(max_calls),
        NOW,
        ATTEMPT,
        42,
        "tok-1",
    )
    .unwrap()
}

fn driver(claim: Value) -> TripDriver {
    driver_with(claim, CALLS_PER_TRIP)
}

fn http(d: &mut TripDriver) -> HttpRequest {
    match d.poll(NOW) {
        Command::Http { request, .. } => request,
        other => panic!("expected http, got {other:?}"),
    }
}

fn sql(d: &mut TripDriver) -> (&'static str, Value) {
    match d.poll(NOW) {
        Command::Sql { function, args, .. } => {
            // The shim's text of the same command: the argument as written, and the trip as
            // the key exactly when the executor may batch the call.
            let text = crate::engine::read_command_text(&d.poll_json(NOW)).unwrap();
            assert_eq!(text["args"], args.to_value());
            let key = function.batch().map(|_| Value::from(TRIP));
            assert_eq!(text.get("key"), key.as_ref(), "{}", function.name());
            (function.name(), args.to_value())
        }
        other => panic!("expected sql, got {other:?}"),
    }
}

fn body(r: &HttpRequest) -> Value {
    serde_json::from_str(r.body.as_deref().unwrap_or("null")).unwrap()
}

fn respond(d: &mut TripDriver, status: u16, body: Value) {
    d.handle_http(NOW, status, body.to_string().as_bytes())
        .unwrap();
}

fn answer(d: &mut TripDriver, result: Value) {
    d.handle_sql(NOW, &result.to_string()).unwrap();
}

fn lock(d: &mut TripDriver) {
    let r = http(d);
    assert_eq!(body(&r)[0], "SET");
    assert_eq!(
        body(&r),
        json!([
            "SET",
            format!("lock:trip:{TRIP}"),
            "tok-1",
            "NX",
            "PX",
            30000
        ])
    );
    respond(d, 200, json!({"result":"OK"}));
}

/// Takes the lock, then answers the re-price of the selected offer with `total`.
fn reprice_at(d: &mut TripDriver, total: &str) {
    lock(d);
    http(d);
    respond(d, 200, offer_body(total));
}

/// Expects `monitor_reschedule` with `reason`, answers it, expects the release and `waiting`;
/// returns the reschedule's arguments.
fn rescheduled(d: &mut TripDriver, reason: &str) -> Value {
    let (f, args) = sql(d);
    assert_eq!(f, "monitor_reschedule");
    assert_eq!(args["reason"], reason);
    answer(d, json!({"ok": true}));
    assert_eq!(finish(d), (DriverOutcome::Waiting, reason.into()));
    args
}

/// Expects the lock release, then `done`.
fn finish(d: &mut TripDriver) -> (DriverOutcome, String) {
    let r = http(d);
    assert_eq!(body(&r)[0], "EVAL", "release before done");
    assert_eq!(body(&r)[4], "tok-1");
    respond(d, 200, json!({"result":1}));
    done(d)
}

fn done(d: &mut TripDriver) -> (DriverOutcome, String) {
    match d.poll(NOW) {
        Command::Done {
            result: TripDone { outcome, reason },
        } => (outcome, reason),
        other => panic!("expected done, got {other:?}"),
    }
}

fn offer_body(total: &str) -> Value {
    json!({"data":{"id":"off_1","total_amount":total,"total_currency":"GBP",
        "expires_at":"2026-09-21T15:00:00Z","passengers":[{"id":"pas_1","type":"adult"}]}})
}

/// A Duffel offer-request answer with one offer, `off_9` at GBP 250.00.
fn search_body() -> Value {
    json!({"data":{"id":"orq_1","offers":[{"id":"off_9",
        "total_amount":"250.00","total_currency":"GBP","expires_at":"2026-09-21T15:00:00Z",
        "slices":[{"duration":"PT8H","segments":[{"departing_at":"2026-12-12T09:00:00",
            "arriving_at":"2026-12-12T12:00:00","marketing_carrier":{"iata_code":"BA"},
            "passengers":[{"cabin_class":"economy"}]}]}]}]}})
}

fn passengers() -> Value {
    json!({"passengers":[{"title":"ms","gender":"f","given_name":GIVEN,"family_name":FAMILY,
        "born_on":"1990-01-01","email":EMAIL,"phone_number":"+15555550100"}]})
}

fn intent(status: &str) -> Value {
    json!({"id":"pi_1","object":"payment_intent","status":status,"amount":30000,
        "amount_received": if status == "succeeded" { 30000 } else { 0 },
        "currency":"gbp","capture_method":"manual","metadata":{"attempt_id":ATTEMPT}})
}

fn mentions_personal_data(text: &str) -> bool {
    [GIVEN, FAMILY, EMAIL].iter().any(|p| text.contains(p))
}

/// Runs the watching → book path up to `monitor_begin_attempt`; returns its arguments.
fn start_booking(d: &mut TripDriver) -> Value {
    lock(d);
    let r = http(d);
    assert_eq!(r.path, "/air/offers/off_1");
    respond(d, 200, offer_body("300.00"));
    let (f, args) = sql(d);
    assert_eq!((f, args), ("monitor_passengers", json!({"trip_id": TRIP})));
    answer(d, passengers());
    let (f, args) = sql(d);
    assert_eq!(f, "monitor_begin_attempt");
    assert_eq!(args["trip_id"], TRIP);
    assert_eq!(args["trip_version"], 4);
    assert_eq!(args["state"]["attempt_id"], ATTEMPT);
    assert_eq!(args["state"]["offer_id"], "off_1");
    assert_eq!(
        args["state"]["phase"]["name"], "authorize",
        "priced once: the run's re-price stands"
    );
    assert_eq!(args["state"]["amount"]["amount_minor"], 30000);
    assert_eq!(args["state"]["customer"], "cus_1");
    assert!(!mentions_personal_data(&args.to_string()));
    args
}

/// After [`start_booking`] and the begin's `started`: the authorize goes out (its mark is the
/// begun state) and Stripe holds the money; returns the next command's SQL call (the order's
/// mark, which also carries the authorization).
fn authorized(d: &mut TripDriver) -> (&'static str, Value) {
    let r = http(d);
    assert!(r.path.ends_with("/v1/payment_intents"), "{}", r.path);
    respond(d, 200, intent("requires_capture"));
    sql(d)
}
