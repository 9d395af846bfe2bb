//! The `travelers` function as a [`Driver`]: the signed-in caller's passenger profiles (create,
//! list, update, delete) and attaching them to a trip's passenger slots
//! (`docs/contracts.md`, "travelers").
//!
//! One `POST` body with an `action`:
//!
//! | action | body | SQL (as the user) | answer |
//! | --- | --- | --- | --- |
//! | `list` | `{}` | `travelers_list` | 200 `{travelers}` |
//! | `create` | `{traveler}` | `travelers_create` | 201 `{traveler}` |
//! | `update` | `{traveler_id, traveler}` | `travelers_update` | 200 `{traveler}`, 404 |
//! | `delete` | `{traveler_id}` | `travelers_delete` | 200 `{deleted:true}`, 404, 409 `traveler_in_use` |
//! | `attach` | `{trip_id, traveler_ids}` | `travelers_attach_check`, then `travelers_attach` | 200 `{trip_id, traveler_ids}`, 400 ages, 404, 409 `trip_busy` / `traveler_changed` |
//!
//! Profiles are validated here ([`profile`]) before any I/O; the ages against the trip's slots
//! after `travelers_attach_check`, and the attach is a compare-and-set on the profiles' versions.

pub mod profile;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::engine::{Command, DriveError, Driver, Input, SqlFunction};
use crate::id::Uuid;
use crate::reply::{Reply, SqlStep};
use crate::time::Timestamp;
use crate::trip::{parse_iso_date, parse_object, FieldError, TripError};

pub use profile::{validate_profile, Profile};

/// What a `travelers` body asks for (validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TravelersAction {
    /// The caller's profiles.
    List,
    /// A new profile.
    Create(Box<Profile>),
    /// Replace a profile.
    Update {
        /// Which.
        traveler_id: Uuid,
        /// The new profile.
        profile: Box<Profile>,
    },
    /// Delete a profile.
    Delete {
        /// Which.
        traveler_id: Uuid,
    },
    /// Fill a trip's passenger slots, in order (adults, then children in `child_ages` order).
    Attach {
        /// The trip.
        trip_id: Uuid,
        /// One profile per slot.
        traveler_ids: Vec<Uuid>,
    },
}

fn invalid(fields: Vec<FieldError>) -> Reply {
    Reply::invalid(&TripError::Invalid(fields))
}

fn field(field: &str, code: &'static str, message: &str) -> FieldError {
    FieldError {
        field: field.chars().take(64).collect(),
        code,
        message: message.to_owned(),
    }
}

fn only_keys(object: &Map<String, Value>, allowed: &[&str]) -> Vec<FieldError> {
    object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| field(k, "unknown_field", "this field is not part of this action"))
        .collect()
}

fn uuid_field(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Uuid> {
    match object.get(name) {
        None | Some(Value::Null) => {
            errors.push(field(name, "required", "this field is required"));
            None
        }
        Some(Value::String(text)) => {
            let id = Uuid::parse(text);
            if id.is_none() {
                errors.push(field(name, "invalid_id", "expected a UUID"));
            }
            id
        }
        Some(_) => {
            errors.push(field(name, "invalid_type", "expected a UUID string"));
            None
        }
    }
}

/// Parses and validates a `travelers` body against `now` (the 400 answer on refusal).
pub fn parse_request(body: &[u8], now: Timestamp) -> Result<TravelersAction, Reply> {
    let object = parse_object(body).map_err(|e| Reply::invalid(&e))?;
    let today = now.utc_date();
    let action = match object.get("action") {
        Some(Value::String(a)) => a.as_str(),
        None | Some(Value::Null) => {
            return Err(invalid(vec![field(
                "action",
                "required",
                "this field is required",
            )]))
        }
        Some(_) => {
            return Err(invalid(vec![field(
                "action",
                "invalid_action",
                "must be list, create, update, delete or attach",
            )]))
        }
    };
    let mut errors = Vec::new();
    let parsed = match action {
        "list" => {
            errors.extend(only_keys(&object, &["action"]));
            Some(TravelersAction::List)
        }
        "create" => {
            errors.extend(only_keys(&object, &["action", "traveler"]));
            match validate_profile(object.get("traveler"), today, "traveler.") {
                Ok(p) => Some(TravelersAction::Create(Box::new(p))),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            }
        }
        "update" => {
            errors.extend(only_keys(&object, &["action", "traveler_id", "traveler"]));
            let id = uuid_field(&object, "traveler_id", &mut errors);
            match (
                validate_profile(object.get("traveler"), today, "traveler."),
                id,
            ) {
                (Ok(p), Some(traveler_id)) => Some(TravelersAction::Update {
                    traveler_id,
                    profile: Box::new(p),
                }),
                (Err(e), _) => {
                    errors.extend(e);
                    None
                }
                _ => None,
            }
        }
        "delete" => {
            errors.extend(only_keys(&object, &["action", "traveler_id"]));
            uuid_field(&object, "traveler_id", &mut errors)
                .map(|traveler_id| TravelersAction::Delete { traveler_id })
        }
        "attach" => {
            errors.extend(only_keys(&object, &["action", "trip_id", "traveler_ids"]));
            let trip_id = uuid_field(&object, "trip_id", &mut errors);
            let ids = attach_ids(object.get("traveler_ids"), &mut errors);
            match (trip_id, ids) {
                (Some(trip_id), Some(traveler_ids)) => Some(TravelersAction::Attach {
                    trip_id,
                    traveler_ids,
                }),
                _ => None,
            }
        }
        _ => {
            errors.push(field(
                "action",
                "invalid_action",
                "must be list, create, update, delete or attach",
            ));
            None
        }
    };
    match parsed {
        Some(action) if errors.is_empty() => Ok(action),
        _ => Err(invalid(errors)),
    }
}

fn attach_ids(value: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Vec<Uuid>> {
    let Some(Value::Array(items)) = value else {
        errors.push(field(
            "traveler_ids",
            "required",
            "an array of traveller ids, one per passenger",
        ));
        return None;
    };
    if !(1..=9).contains(&items.len()) {
        errors.push(field(
            "traveler_ids",
            "out_of_range",
            "1 to 9 traveller ids",
        ));
        return None;
    }
    let mut ids: Vec<Uuid> = Vec::new();
    let before = errors.len();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().and_then(Uuid::parse) {
            Some(id) if ids.contains(&id) => errors.push(field(
                &format!("traveler_ids[{i}]"),
                "duplicate_traveler",
                "a traveller can fill only one seat",
            )),
            Some(id) => ids.push(id),
            None => errors.push(field(
                &format!("traveler_ids[{i}]"),
                "invalid_id",
                "expected a UUID",
            )),
        }
    }
    (errors.len() == before).then_some(ids)
}

/// `travelers_attach_check`'s answer.
#[derive(Deserialize)]
struct AttachCheck {
    trip: Option<CheckTrip>,
    travelers: Vec<CheckTraveler>,
}

#[derive(Deserialize)]
struct CheckTrip {
    status: String,
    adults: u8,
    child_ages: Vec<u8>,
    departure_date: String,
    return_date: Option<String>,
}

#[derive(Deserialize)]
struct CheckTraveler {
    id: String,
    born_on: String,
    version: i64,
}

enum Stage {
    Start,
    Waiting,
    Checking,
    Attaching,
    Done(Reply),
}

/// The driver for one `travelers` request.
pub struct TravelersDriver {
    action: TravelersAction,
    stage: Stage,
    step: SqlStep,
}

impl std::fmt::Debug for TravelersDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TravelersDriver").finish_non_exhaustive()
    }
}

fn not_found(what: &str) -> Reply {
    Reply::error(404, "not_found", &format!("no such {what}"), json!({}))
}

impl TravelersDriver {
    /// A driver for a validated action.
    pub fn new(action: TravelersAction) -> Self {
        Self {
            action,
            stage: Stage::Start,
            step: SqlStep::default(),
        }
    }

    fn first_call(&self) -> (SqlFunction, Value) {
        match &self.action {
            TravelersAction::List => (SqlFunction::TravelersList, json!({})),
            TravelersAction::Create(p) => (SqlFunction::TravelersCreate, json!({"traveler": p})),
            TravelersAction::Update {
                traveler_id,
                profile,
            } => (
                SqlFunction::TravelersUpdate,
                json!({"traveler_id": traveler_id, "traveler": profile}),
            ),
            TravelersAction::Delete { traveler_id } => (
                SqlFunction::TravelersDelete,
                json!({"traveler_id": traveler_id}),
            ),
            TravelersAction::Attach {
                trip_id,
                traveler_ids,
            } => (
                SqlFunction::TravelersAttachCheck,
                json!({"trip_id": trip_id, "traveler_ids": traveler_ids}),
            ),
        }
    }

    fn on_first(&mut self, result: Value) -> Result<Reply, (SqlFunction, Value)> {
        Ok(match &self.action {
            TravelersAction::List => Reply::ok(200, "listed", result),
            TravelersAction::Create(_) => Reply::ok(201, "created", result),
            TravelersAction::Update { .. } => match result.get("traveler") {
                Some(Value::Object(_)) => Reply::ok(200, "updated", result),
                _ => not_found("traveller"),
            },
            TravelersAction::Delete { traveler_id } => {
                if result["deleted"] == Value::Bool(true) {
                    Reply::ok(
                        200,
                        "deleted",
                        json!({"deleted": true, "traveler_id": traveler_id}),
                    )
                } else {
                    not_found("traveller")
                }
            }
            TravelersAction::Attach {
                trip_id,
                traveler_ids,
            } => return self.on_check(trip_id, traveler_ids, result),
        })
    }

    fn on_check(
        &self,
        trip_id: &Uuid,
        ids: &[Uuid],
        result: Value,
    ) -> Result<Reply, (SqlFunction, Value)> {
        let Ok(check) = serde_json::from_value::<AttachCheck>(result) else {
            return Ok(Reply::internal(
                "travelers_attach_check answered an unreadable shape",
            ));
        };
        let Some(trip) = check.trip else {
            return Ok(not_found("trip request"));
        };
        if !matches!(
            trip.status.as_str(),
            "searching" | "watching" | "needs_traveller"
        ) {
            return Ok(trip_busy());
        }
        let slots = usize::from(trip.adults) + trip.child_ages.len();
        if ids.len() != slots {
            return Ok(invalid(vec![field(
                "traveler_ids",
                "wrong_count",
                &format!("this trip has {slots} passenger(s): one traveller id each"),
            )]));
        }
        let mut born = Vec::with_capacity(ids.len());
        let mut versions = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(t) = check.travelers.iter().find(|t| t.id == id.as_str()) else {
                return Ok(not_found("traveller"));
            };
            let Some(date) = parse_iso_date(&t.born_on) else {
                return Ok(Reply::internal("a stored birth date is unreadable"));
            };
            born.push(date);
            versions.push(json!({"id": id, "version": t.version}));
        }
        let last: Option<NaiveDate> = trip
            .return_date
            .as_deref()
            .or(Some(trip.departure_date.as_str()))
            .and_then(parse_iso_date);
        let Some(last_travel_date) = last else {
            return Ok(Reply::internal("the trip's dates are unreadable"));
        };
        let errors = profile::check_ages(
            &profile::TripSlots {
                adults: trip.adults,
                child_ages: trip.child_ages,
                last_travel_date,
            },
            &born,
        );
        if !errors.is_empty() {
            return Ok(invalid(errors));
        }
        Err((
            SqlFunction::TravelersAttach,
            json!({"trip_id": trip_id, "travelers": versions}),
        ))
    }

    fn on_attached(&self, result: &Value) -> Reply {
        let TravelersAction::Attach {
            trip_id,
            traveler_ids,
        } = &self.action
        else {
            return Reply::internal("driver invariant");
        };
        if result["attached"] == Value::Bool(true) {
            return Reply::ok(
                200,
                "attached",
                json!({"trip_id": trip_id, "traveler_ids": traveler_ids}),
            );
        }
        match result["reason"].as_str() {
            Some("not_found") => not_found("trip request"),
            Some("trip_busy") => trip_busy(),
            Some("traveler_changed") => Reply::error(
                409,
                "traveler_changed",
                "a traveller profile changed while attaching; try again",
                json!({}),
            ),
            _ => Reply::internal("travelers_attach answered an unknown reason"),
        }
    }
}

fn trip_busy() -> Reply {
    Reply::error(
        409,
        "trip_busy",
        "travellers can be changed only while the trip is searching, watching or needs you; not while it books or after it ended",
        json!({}),
    )
}

impl Driver for TravelersDriver {
    type Done = Reply;

    fn poll(&mut self, _now: Timestamp) -> Command<Reply> {
        if let Some(pending) = self.step.pending() {
            return pending;
        }
        match std::mem::replace(&mut self.stage, Stage::Waiting) {
            Stage::Start => {
                let (function, args) = self.first_call();
                self.stage = Stage::Checking;
                self.step.call(function, args)
            }
            Stage::Done(reply) => {
                self.stage = Stage::Done(reply.clone());
                Command::Done { result: reply }
            }
            Stage::Waiting | Stage::Checking | Stage::Attaching => {
                let reply = Reply::internal("driver invariant");
                self.stage = Stage::Done(reply.clone());
                Command::Done { result: reply }
            }
        }
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.step.accept(id, &input)?;
        let stage = std::mem::replace(&mut self.stage, Stage::Waiting);
        let result = match input {
            Input::SqlError(sqlstate) => {
                let what = match self.action {
                    TravelersAction::Attach { .. } => "trip request",
                    _ => "traveller",
                };
                self.stage = Stage::Done(Reply::sql_error(sqlstate, what));
                return Ok(());
            }
            Input::Sql(text) => match serde_json::from_str::<Value>(text) {
                Ok(v) => v,
                Err(_) => {
                    self.stage = Stage::Done(Reply::internal("the SQL API answered no JSON"));
                    return Ok(());
                }
            },
            _ => Value::Null,
        };
        self.stage = match stage {
            Stage::Checking => match self.on_first(result) {
                Ok(reply) => Stage::Done(reply),
                Err((function, args)) => {
                    self.step.call(function, args);
                    Stage::Attaching
                }
            },
            Stage::Attaching => Stage::Done(self.on_attached(&result)),
            _ => Stage::Done(Reply::internal("driver invariant")),
        };
        Ok(())
    }
}

/// The driver for a `travelers` body: done at once with the 400 answer when it is refused.
pub fn driver(body: &[u8], now: Timestamp) -> Result<TravelersDriver, Reply> {
    parse_request(body, now).map(TravelersDriver::new)
}
