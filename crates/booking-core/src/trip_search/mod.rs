//! The `trip-search` function as a [`Driver`]: open the caller's trip (create it, or load one
//! of theirs), search Duffel, record the result, and answer; the hand-off to the monitor is
//! decided here too (`docs/contracts.md`, "trip-search").
//!
//! Commands, in order:
//!
//! 1. `sql search_open` as the user: `{"trip": <validated new trip>}` or `{"trip_id": uuid}` →
//!    `{"trip": row | null}`. `null` (missing, or another user's: no existence leak) ends 404.
//! 2. `http` to Duffel: the offer request for the stored trip.
//! 3. Answer usable → `sql search_record` `{"trip_id","result"}` → 201 (new) / 200 with the
//!    trip, the selected offer (without its raw body), the decision, offers seen and the
//!    rejections; the monitor is handed the trip at once when it is auto-book and an offer was
//!    selected. Otherwise → `sql search_record_failure` `{"trip_id","error_code","next_check_at"}`
//!    → 502 with the provider error and the trip.
//!
//! SQL errors end the request with the status their SQLSTATE implies ([`sql_error_reply`]).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::duffel::{self, DuffelConfig};
use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlArgs, SqlFunction};
use crate::error::ProviderError;
use crate::http::HttpRequest;
use crate::search;
use crate::select::Decision;
use crate::time::Timestamp;
use crate::trip::{Trip, TripBody};

#[cfg(test)]
mod tests;

/// What the function answers, and what it hands on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SearchDone {
    /// HTTP status for the caller.
    pub status: u16,
    /// JSON body for the caller (`SearchResponse`, or an error `{code, message, ...}`).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub body: Value,
    /// A trip to hand to the monitor now (auto-book with a selected offer).
    pub trigger_monitor: Option<String>,
    /// The trip, when one was opened (for the log line).
    pub trip_id: Option<String>,
    /// Stable outcome code for the log line (`offer_selected`, `not_found`, a provider code…).
    pub outcome: String,
}

enum Stage {
    Open,
    Opening,
    Search(Box<Trip>),
    Searching(Box<Trip>),
    /// The trip, `search_record`'s argument (written as JSON text) and the decision.
    Record(Box<Trip>, SqlArgs, Decision),
    Recording(Box<Trip>, Decision, SearchSummary),
    RecordingFailure(Box<ProviderError>),
    Done(SearchDone),
}

/// What the answer reports of a successful search, besides the stored rows.
#[derive(Clone, Debug)]
struct SearchSummary {
    offers_seen: usize,
    rejections: Value,
}

/// The driver for one `trip-search` request.
pub struct SearchDriver {
    body: TripBody,
    created: bool,
    duffel: DuffelConfig,
    stage: Stage,
    pending: Option<Command<SearchDone>>,
    seq: Sequencer,
    summary: Option<SearchSummary>,
}

impl std::fmt::Debug for SearchDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchDriver")
            .field("created", &self.created)
            .field("waiting", &self.seq.waiting())
            .finish_non_exhaustive()
    }
}

impl SearchDriver {
    /// A driver for a validated `trip-search` body.
    pub fn new(body: TripBody, duffel: DuffelConfig) -> Self {
        let created = matches!(body, TripBody::New(_));
        Self {
            body,
            created,
            duffel,
            stage: Stage::Open,
            pending: None,
            seq: Sequencer::default(),
            summary: None,
        }
    }

    fn wait(&mut self, command: Command<SearchDone>) -> Command<SearchDone> {
        self.pending = Some(command.clone());
        command
    }

    fn sql(&mut self, function: SqlFunction, args: impl Into<SqlArgs>) -> Command<SearchDone> {
        let id = self.seq.issue("sql");
        self.wait(Command::sql_args(id, function, args.into()))
    }

    fn http(&mut self, request: HttpRequest) -> Command<SearchDone> {
        let id = self.seq.issue("http");
        self.wait(Command::Http { id, request })
    }

    fn finish(&mut self, done: SearchDone) -> Command<SearchDone> {
        self.stage = Stage::Done(done.clone());
        Command::Done { result: done }
    }

    /// `search_open`'s answer `{"trip": row | null}`, read straight into the [`Trip`] (no
    /// [`Value`] tree in between).
    fn on_open(text: &str) -> Stage {
        #[derive(Deserialize)]
        struct Opened {
            #[serde(default)]
            trip: Option<Trip>,
        }
        match serde_json::from_slice::<Opened>(text.as_bytes()) {
            Ok(Opened { trip: None }) => Stage::Done(reply(
                404,
                "not_found",
                "no such trip request",
                None,
                json!({}),
            )),
            Ok(Opened { trip: Some(trip) }) => Stage::Search(Box::new(trip)),
            Err(_) => Stage::Done(internal("search_open returned an unreadable trip")),
        }
    }

    fn on_search(&mut self, trip: Box<Trip>, now: Timestamp, input: Input<'_>) -> Stage {
        let processed = match input {
            Input::Http { status, body } => {
                search::process_search_response_json(&trip, status, body, now)
            }
            Input::Transport(failure) => Err(ProviderError::from(failure)),
            _ => return Stage::Done(internal("driver invariant")),
        };
        match processed {
            Ok((result, json)) => {
                self.summary = Some(SearchSummary {
                    offers_seen: result.offers_seen,
                    rejections: serde_json::to_value(result.rejections).unwrap_or(Value::Null),
                });
                match record_args(trip.id.as_str(), &json) {
                    Some(args) => Stage::Record(trip, args, result.decision),
                    None => Stage::Done(internal("search result not serialisable")),
                }
            }
            Err(error) => Stage::RecordingFailure(Box::new(error)),
        }
    }

    fn on_recorded(
        &self,
        trip: &Trip,
        decision: Decision,
        summary: &SearchSummary,
        stored: &Value,
    ) -> SearchDone {
        let row = &stored["trip"];
        let selected = match &stored["selected_offer"] {
            Value::Object(offer) => {
                let mut offer = offer.clone();
                offer.remove("raw");
                Value::Object(offer)
            }
            _ => Value::Null,
        };
        let trip_id = trip.id.as_str().to_owned();
        let hand_off = row["auto_book"] == Value::Bool(true) && decision == Decision::OfferSelected;
        let decision_name = serde_json::to_value(decision).unwrap_or(Value::Null);
        SearchDone {
            status: if self.created { 201 } else { 200 },
            body: json!({
                "trip": row,
                "selected_offer": selected,
                "decision": decision_name,
                "offers_seen": summary.offers_seen,
                "rejections": summary.rejections,
            }),
            trigger_monitor: hand_off.then(|| trip_id.clone()),
            trip_id: Some(trip_id),
            outcome: decision_name.as_str().unwrap_or("recorded").to_owned(),
        }
    }
}

impl Driver for SearchDriver {
    type Done = SearchDone;

    fn poll(&mut self, now: Timestamp) -> Command<SearchDone> {
        if let Some(pending) = &self.pending {
            return pending.clone();
        }
        match std::mem::replace(&mut self.stage, Stage::Open) {
            Stage::Open => {
                self.stage = Stage::Opening;
                let args = match &self.body {
                    TripBody::New(trip) => json!({ "trip": trip }),
                    TripBody::Existing(r) => json!({ "trip_id": r.trip_id }),
                };
                self.sql(SqlFunction::SearchOpen, args)
            }
            Stage::Search(trip) => {
                let request = duffel::build_offer_request(&self.duffel, &trip);
                self.stage = Stage::Searching(trip);
                self.http(request)
            }
            Stage::Record(trip, args, decision) => {
                let summary = self.summary.clone().unwrap_or(SearchSummary {
                    offers_seen: 0,
                    rejections: Value::Null,
                });
                self.stage = Stage::Recording(trip, decision, summary);
                self.sql(SqlFunction::SearchRecord, args)
            }
            Stage::Done(done) => self.finish(done),
            waiting @ (Stage::Opening
            | Stage::Searching(_)
            | Stage::Recording(..)
            | Stage::RecordingFailure(_)) => {
                // A stage that waits always has a pending command; reaching here is a bug.
                let _ = (waiting, now);
                self.finish(internal("driver invariant"))
            }
        }
    }

    fn handle(&mut self, now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.pending = None;
        let stage = std::mem::replace(&mut self.stage, Stage::Open);
        if let Input::SqlError(sqlstate) = input {
            let trip_id = match &stage {
                Stage::Recording(trip, ..) => Some(trip.id.as_str().to_owned()),
                _ => None,
            };
            let mut done = sql_error_reply(sqlstate);
            done.trip_id = trip_id;
            self.stage = Stage::Done(done);
            return Ok(());
        }
        self.stage = match (stage, input) {
            (Stage::Opening, Input::Sql(text)) => Self::on_open(text),
            (Stage::Searching(trip), input) => match self.on_search(trip.clone(), now, input) {
                Stage::RecordingFailure(error) => {
                    let args = json!({"trip_id": trip.id.as_str(), "error_code": error.code(),
                            "next_check_at": search::search_failure_next_check(now)});
                    self.stage = Stage::RecordingFailure(error);
                    self.sql(SqlFunction::SearchRecordFailure, args);
                    return Ok(());
                }
                next => next,
            },
            (Stage::Recording(trip, decision, summary), Input::Sql(text)) => {
                match serde_json::from_str::<Value>(text) {
                    Ok(stored) => Stage::Done(self.on_recorded(&trip, decision, &summary, &stored)),
                    Err(_) => Stage::Done(internal("search_record answered no JSON")),
                }
            }
            (Stage::RecordingFailure(error), Input::Sql(text)) => {
                let stored: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                let trip = stored.get("trip").cloned().unwrap_or(Value::Null);
                let mut done = reply(
                    502,
                    error.code(),
                    &error.to_string(),
                    None,
                    json!({"provider_code": error.provider_code(), "trip": trip}),
                );
                done.trip_id = trip.get("id").and_then(Value::as_str).map(str::to_owned);
                Stage::Done(done)
            }
            _ => Stage::Done(internal("driver invariant")),
        };
        Ok(())
    }
}

/// `search_record`'s argument `{"trip_id": ..., "result": <the search result's JSON text>}`,
/// written around the text (never parsed into a [`Value`]).
fn record_args(trip_id: &str, result: &str) -> Option<SqlArgs> {
    let id = serde_json::to_string(trip_id).ok()?;
    let mut text = String::with_capacity(result.len() + id.len() + 24);
    text.push_str("{\"trip_id\":");
    text.push_str(&id);
    text.push_str(",\"result\":");
    text.push_str(result);
    text.push('}');
    SqlArgs::raw(text)
}

fn reply(
    status: u16,
    code: &str,
    message: &str,
    trip_id: Option<String>,
    extra: Value,
) -> SearchDone {
    let mut body = json!({"code": code, "message": message});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    SearchDone {
        status,
        body,
        trigger_monitor: None,
        trip_id,
        outcome: code.to_owned(),
    }
}

fn internal(message: &str) -> SearchDone {
    reply(500, "internal", message, None, json!({}))
}

/// The answer for a SQL error raised by the search API, by SQLSTATE: not found and not yours
/// are both 404 (no existence leak); 28000 is 401; PF001 is 409 `too_many_active_trips`; PF002 is
/// 403 `anonymous_auto_book_forbidden`; PF003 is 403 `auto_book_needs_card` and PF005 403
/// `auto_book_needs_consent` (no default card / no consent covering the trip); PFF01 is 403
/// `auto_booking_unavailable` (the `auto_booking` flag is off for the caller); 55000 is 409
/// `trip_busy`; data and
/// constraint errors (22xxx, 23xxx) are 400; connection, resource and serialisation errors are
/// 503 (try again); anything else is 500.
pub fn sql_error_reply(sqlstate: &str) -> SearchDone {
    let class = sqlstate.get(..2).unwrap_or("");
    match sqlstate {
        "P0002" | "42501" => reply(404, "not_found", "no such trip request", None, json!({})),
        // Raised by the trip_requests cap trigger (pipeline_settings.max_active_trips_per_user).
        "PF001" => reply(
            409,
            "too_many_active_trips",
            "you have the maximum number of active trips; cancel one or wait until one ends",
            None,
            json!({}),
        ),
        // Raised when an anonymous user asks for auto-booking.
        "PF002" => reply(
            403,
            "anonymous_auto_book_forbidden",
            "sign in with a permanent account to let the pipeline book; anonymous users may only watch",
            None,
            json!({}),
        ),
        // Raised by the trip_requests consent trigger: auto-booking needs a default card and a
        // consent covering the trip (payment-methods).
        "PF003" => reply(
            403,
            "auto_book_needs_card",
            "save a card (payment-methods setup) and record a consent before turning auto-booking on",
            None,
            json!({}),
        ),
        // Raised by the feature-flag gate: auto_booking is off for the caller (rollout, deny
        // list, kill switch).
        "PFF01" => reply(
            403,
            "auto_booking_unavailable",
            "auto-booking is not available for your account yet; you can still watch the price",
            None,
            json!({}),
        ),
        "PF005" => reply(
            403,
            "auto_book_needs_consent",
            "record a consent for your default card in this trip's currency, at least its maximum",
            None,
            json!({}),
        ),
        // Raised by the owner trigger while the caller's erasure runs (migration 20261203000500).
        "PF010" => reply(
            409,
            "erasure_in_progress",
            "this account is being erased; no new watches can be created",
            None,
            json!({}),
        ),
        "28000" => reply(
            401,
            "unauthorized",
            "a signed-in user is required",
            None,
            json!({}),
        ),
        "55000" => reply(
            409,
            "trip_busy",
            "the trip is not in a state that allows this right now",
            None,
            json!({}),
        ),
        _ if class == "22" || class == "23" => reply(
            400,
            "validation_failed",
            "the request violates a data rule",
            None,
            json!({"fields": [], "db_code": sqlstate}),
        ),
        _ if matches!(class, "08" | "53" | "57" | "40") => reply(
            503,
            "database_unavailable",
            "the database is unavailable; try again shortly",
            None,
            json!({}),
        ),
        _ => reply(
            500,
            "internal",
            "internal error; the request was not completed",
            None,
            json!({}),
        ),
    }
}
