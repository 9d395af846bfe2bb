//! The `trips` function as a [`Driver`]: the signed-in caller's watches — list them with their
//! price history and booking, read one with its decision log as a readable timeline, pause,
//! resume and cancel auto-booking, and change the maximum or criteria of a watching trip
//! (`docs/contracts.md`, "trips").
//!
//! One `POST` body with an `action`:
//!
//! | action | body | answer |
//! | --- | --- | --- |
//! | `list` | `{}` | 200 `{trips: [watch…]}` |
//! | `get` | `{trip_id}` | 200 `{trip: watch, timeline: [entry…]}`, 404 |
//! | `pause` / `resume` / `cancel` | `{trip_id, version?}` | 200 `{outcome, trip}`; cancel meeting an attempt in flight 202 `{outcome:"cancel_pending", attempt:{phase, will}}` |
//! | `update` | `{trip_id, version, max_total_minor?, cabin?, nonstop_only?}` | 200 `{outcome:"updated", trip}`, 409 `version_conflict` |
//!
//! All SQL runs as the user (`trips_list`, `trips_get`, `trips_control`); the timeline is
//! rendered here ([`timeline`]) with money from integer minor units.

pub mod payment;
#[cfg(test)]
mod tests;
pub mod timeline;

use serde_json::{json, Map, Value};

use crate::engine::{Command, DriveError, Driver, Input, SqlFunction};
use crate::id::Uuid;
use crate::money::MAX_MINOR;
use crate::offer::Cabin;
use crate::reply::{Reply, SqlStep};
use crate::time::Timestamp;
use crate::trip::{parse_object, FieldError, TripError};

/// A control action on one trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop auto-booking (the watch goes on).
    Pause,
    /// Auto-book again; a `needs_traveller` trip goes back to `watching`.
    Resume,
    /// Cancel the trip.
    Cancel,
}

impl Control {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }
}

/// What a `trips` body asks for (validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TripsAction {
    /// The caller's trips.
    List,
    /// One trip with its timeline.
    Get(Uuid),
    /// Pause, resume or cancel; `version` optional (compare-and-set when given).
    Control {
        /// The trip.
        trip_id: Uuid,
        /// Which.
        control: Control,
        /// The version the caller saw.
        version: Option<i64>,
    },
    /// The payment an attempt waits for the traveller to authenticate ([`payment`]).
    Payment {
        /// The trip.
        trip_id: Uuid,
        /// Which.
        action: payment::PaymentAction,
    },
    /// Change the maximum or criteria (compare-and-set on `version`).
    Update {
        /// The trip.
        trip_id: Uuid,
        /// The version the caller saw.
        version: i64,
        /// The changed fields (`max_total_minor`, `cabin`, `nonstop_only`).
        changes: Map<String, Value>,
    },
}

fn field(name: &str, code: &'static str, message: &str) -> FieldError {
    FieldError {
        field: name.chars().take(64).collect(),
        code,
        message: message.to_owned(),
    }
}

fn invalid(fields: Vec<FieldError>) -> Reply {
    Reply::invalid(&TripError::Invalid(fields))
}

/// Parses and validates a `trips` body (the 400 answer on refusal).
pub fn parse_request(body: &[u8]) -> Result<TripsAction, Reply> {
    let object = parse_object(body).map_err(|e| Reply::invalid(&e))?;
    let mut errors = Vec::new();
    let action = match object.get("action") {
        Some(Value::String(a)) => a.clone(),
        None | Some(Value::Null) => {
            return Err(invalid(vec![field(
                "action",
                "required",
                "this field is required",
            )]))
        }
        Some(_) => String::new(),
    };
    let allowed: &[&str] = match action.as_str() {
        "list" => &["action"],
        "get" => &["action", "trip_id"],
        "pause" | "resume" | "cancel" => &["action", "trip_id", "version"],
        "payment" | "payment_done" | "use_another_card" => &["action", "trip_id"],
        "update" => &[
            "action",
            "trip_id",
            "version",
            "max_total_minor",
            "cabin",
            "nonstop_only",
        ],
        _ => {
            return Err(invalid(vec![field(
                "action",
                "invalid_action",
                "must be list, get, pause, resume, cancel, update, payment, payment_done or use_another_card",
            )]))
        }
    };
    for key in object.keys().filter(|k| !allowed.contains(&k.as_str())) {
        errors.push(field(
            key,
            "unknown_field",
            "this field is not part of this action",
        ));
    }
    if action == "list" {
        return if errors.is_empty() {
            Ok(TripsAction::List)
        } else {
            Err(invalid(errors))
        };
    }
    let trip_id = match object.get("trip_id") {
        Some(Value::String(t)) => {
            let id = Uuid::parse(t);
            if id.is_none() {
                errors.push(field("trip_id", "invalid_trip_id", "expected a UUID"));
            }
            id
        }
        None | Some(Value::Null) => {
            errors.push(field("trip_id", "required", "this field is required"));
            None
        }
        Some(_) => {
            errors.push(field("trip_id", "invalid_trip_id", "expected a UUID"));
            None
        }
    };
    let version = match object.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v >= 1) => n.as_i64(),
        Some(_) => {
            errors.push(field(
                "version",
                "invalid_version",
                "expected the trip's version, a positive integer",
            ));
            None
        }
    };
    let mut changes = Map::new();
    if action == "update" {
        if version.is_none() && !errors.iter().any(|e| e.field == "version") {
            errors.push(field(
                "version",
                "required",
                "send the version you saw (compare-and-set)",
            ));
        }
        match object.get("max_total_minor") {
            None => {}
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| (1..=MAX_MINOR).contains(&v)) => {
                changes.insert("max_total_minor".into(), Value::from(n.as_i64()));
            }
            Some(_) => errors.push(field(
                "max_total_minor",
                "out_of_range",
                "must be a whole number of minor units between 1 and 1000000000000",
            )),
        }
        match object.get("cabin") {
            None => {}
            Some(Value::String(c)) if Cabin::parse(c).is_some() => {
                changes.insert("cabin".into(), Value::from(c.as_str()));
            }
            Some(_) => errors.push(field(
                "cabin",
                "invalid_cabin",
                "must be economy, premium_economy, business or first",
            )),
        }
        match object.get("nonstop_only") {
            None => {}
            Some(Value::Bool(b)) => {
                changes.insert("nonstop_only".into(), Value::Bool(*b));
            }
            Some(_) => errors.push(field(
                "nonstop_only",
                "invalid_type",
                "expected true or false",
            )),
        }
        if changes.is_empty() && errors.is_empty() {
            errors.push(field(
                "max_total_minor",
                "nothing_to_change",
                "send at least one of max_total_minor, cabin, nonstop_only",
            ));
        }
    }
    let (Some(trip_id), true) = (trip_id, errors.is_empty()) else {
        return Err(invalid(errors));
    };
    if let Some(action) = payment::PaymentAction::parse(&action) {
        return Ok(TripsAction::Payment { trip_id, action });
    }
    Ok(match action.as_str() {
        "get" => TripsAction::Get(trip_id),
        "update" => TripsAction::Update {
            trip_id,
            version: version.unwrap_or(1),
            changes,
        },
        other => TripsAction::Control {
            trip_id,
            control: match other {
                "pause" => Control::Pause,
                "resume" => Control::Resume,
                _ => Control::Cancel,
            },
            version,
        },
    })
}

/// Whether the open attempt a cancel met will finish (it may still book, charged once) or is
/// releasing its hold (nothing will be charged), from its phase.
pub fn attempt_will(phase: &str, end: Option<&str>) -> &'static str {
    match (phase, end) {
        // An attempt waiting for the traveller's payment releases its intent on a cancel.
        ("release" | "find_intent" | "await_traveller", _) => "release",
        ("finish", Some(end)) if end != "booked" => "release",
        _ => "finish",
    }
}

fn control_reply(action: &TripsAction, result: Value) -> Reply {
    let outcome = result["outcome"].as_str().unwrap_or("").to_owned();
    let trip = result.get("trip").cloned().unwrap_or(Value::Null);
    let attempt = match result.get("attempt") {
        Some(Value::Object(a)) => {
            let phase = a.get("phase").and_then(Value::as_str).unwrap_or("");
            let end = a.get("end").and_then(Value::as_str);
            json!({"phase": phase, "will": attempt_will(phase, end)})
        }
        _ => Value::Null,
    };
    let conflict =
        |code: &str, message: &str| Reply::error(409, code, message, json!({"trip": trip.clone()}));
    match outcome.as_str() {
        "cancel_pending" => {
            let will = attempt["will"].as_str().unwrap_or("finish");
            let message = if will == "release" {
                "a booking attempt that began before your cancel is releasing its hold: nothing will be charged, and the trip is then cancelled"
            } else {
                "a booking attempt that began before your cancel is in flight and is allowed to finish: if it books you are charged once; if not, any hold is released and the trip is cancelled"
            };
            Reply::ok(
                202,
                "cancel_pending",
                json!({"outcome": "cancel_pending", "message": message, "attempt": attempt, "trip": trip}),
            )
        }
        "cancelled" => Reply::ok(
            200,
            "cancelled",
            json!({"outcome": "cancelled", "charged": false, "trip": trip,
                "message": "cancelled before any booking attempt began: nothing will be charged"}),
        ),
        "paused" | "resumed" | "updated" => {
            let mut body = json!({"outcome": outcome, "trip": trip});
            if !attempt.is_null() {
                body["attempt"] = attempt;
            }
            Reply::ok(200, &outcome, body)
        }
        "not_found" => Reply::error(404, "not_found", "no such trip request", json!({})),
        "version_conflict" => conflict(
            "version_conflict",
            "the trip changed since you read it; read it again and retry",
        ),
        "not_auto_book" => conflict(
            "not_auto_book",
            "this trip is a watch without auto-booking; there is nothing to pause",
        ),
        "not_paused" => conflict(
            "not_paused",
            "auto-booking is not paused and the trip does not need you",
        ),
        "trip_closed" => conflict(
            "trip_closed",
            "the trip has ended (booked, expired, cancelled or failed)",
        ),
        "trip_not_watching" => conflict(
            "trip_not_watching",
            "only a searching or watching trip can change its maximum or criteria",
        ),
        _ => {
            let _ = action;
            Reply::internal("trips_control answered an unknown outcome")
        }
    }
}

fn list_reply(mut result: Value) -> Reply {
    if let Some(Value::Array(trips)) = result.get_mut("trips") {
        for watch in trips.iter_mut() {
            timeline::annotate_prices(watch);
        }
    }
    Reply::ok(200, "listed", result)
}

fn get_reply(result: Value) -> Reply {
    let mut watch = match result.get("trip") {
        Some(Value::Object(w)) => Value::Object(w.clone()),
        _ => return Reply::error(404, "not_found", "no such trip request", json!({})),
    };
    timeline::annotate_prices(&mut watch);
    let events = watch
        .as_object_mut()
        .and_then(|w| w.remove("events"))
        .unwrap_or(Value::Null);
    let currency = watch["trip"]["currency"].as_str().unwrap_or("").to_owned();
    let entries = timeline::render(events.as_array().map_or(&[][..], Vec::as_slice), &currency);
    Reply::ok(200, "read", json!({"trip": watch, "timeline": entries}))
}

enum Stage {
    Start,
    Waiting,
    /// Reading the intent from Stripe for `payment` (with `trips_payment`'s answer).
    Fetching(Value),
    Done(Reply),
}

/// The driver for one `trips` request.
pub struct TripsDriver {
    action: TripsAction,
    stage: Stage,
    step: SqlStep,
}

impl std::fmt::Debug for TripsDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TripsDriver").finish_non_exhaustive()
    }
}

impl TripsDriver {
    /// A driver for a validated action.
    pub fn new(action: TripsAction) -> Self {
        Self {
            action,
            stage: Stage::Start,
            step: SqlStep::default(),
        }
    }

    fn call(&self) -> (SqlFunction, Value) {
        match &self.action {
            TripsAction::List => (SqlFunction::TripsList, json!({})),
            TripsAction::Get(id) => (SqlFunction::TripsGet, json!({"trip_id": id})),
            TripsAction::Control {
                trip_id,
                control,
                version,
            } => {
                let mut args = json!({"trip_id": trip_id, "action": control.as_str()});
                if let Some(v) = version {
                    args["version"] = json!(v);
                }
                (SqlFunction::TripsControl, args)
            }
            TripsAction::Payment { trip_id, action } => (
                SqlFunction::TripsPayment,
                json!({"trip_id": trip_id, "action": action.sql_action()}),
            ),
            TripsAction::Update {
                trip_id,
                version,
                changes,
            } => (
                SqlFunction::TripsControl,
                json!({"trip_id": trip_id, "action": "update", "version": version, "changes": changes}),
            ),
        }
    }
}

impl Driver for TripsDriver {
    type Done = Reply;

    fn poll(&mut self, _now: Timestamp) -> Command<Reply> {
        if let Some(pending) = self.step.pending() {
            return pending;
        }
        match std::mem::replace(&mut self.stage, Stage::Waiting) {
            Stage::Start => {
                let (function, args) = self.call();
                self.step.call(function, args)
            }
            Stage::Done(reply) => {
                self.stage = Stage::Done(reply.clone());
                Command::Done { result: reply }
            }
            Stage::Fetching(_) | Stage::Waiting => {
                let reply = Reply::internal("driver invariant");
                self.stage = Stage::Done(reply.clone());
                Command::Done { result: reply }
            }
        }
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.step.accept(id, &input)?;
        if let Stage::Fetching(pending) = &self.stage {
            let reply = match input {
                Input::Http { status, body } => payment::after_intent(pending, status, body),
                _ => payment::after_intent(pending, 502, b""),
            };
            self.stage = Stage::Done(reply);
            return Ok(());
        }
        let reply = match input {
            Input::SqlError(sqlstate) => match sqlstate {
                // The anonymous auto-book rule (resume of an anonymous user's trip).
                "PF002" => Reply::error(
                    403,
                    "anonymous_auto_book_forbidden",
                    "sign in with a permanent account to let the pipeline book",
                    json!({}),
                ),
                // The feature-flag gate (turning auto-book on while auto_booking is off).
                "PFF01" => Reply::error(
                    403,
                    "auto_booking_unavailable",
                    "auto-booking is not available for your account yet",
                    json!({}),
                ),
                "PF001" => Reply::error(
                    409,
                    "too_many_active_trips",
                    "you have the maximum number of active trips",
                    json!({}),
                ),
                _ => Reply::sql_error(sqlstate, "trip request"),
            },
            Input::Sql(text) => match serde_json::from_str::<Value>(text) {
                Ok(result) => match &self.action {
                    TripsAction::Payment { .. } => match payment::after_sql(result) {
                        payment::AfterSql::Reply(reply) => reply,
                        payment::AfterSql::Fetch(request, pending) => {
                            self.stage = Stage::Fetching(pending);
                            self.step.http(request);
                            return Ok(());
                        }
                    },
                    TripsAction::List => list_reply(result),
                    TripsAction::Get(_) => get_reply(result),
                    action => control_reply(action, result),
                },
                Err(_) => Reply::internal("the SQL API answered no JSON"),
            },
            _ => Reply::internal("driver invariant"),
        };
        self.stage = Stage::Done(reply);
        Ok(())
    }
}

/// The driver for a `trips` body: done at once with the 400 answer when it is refused.
pub fn driver(body: &[u8]) -> Result<TripsDriver, Reply> {
    parse_request(body).map(TripsDriver::new)
}
