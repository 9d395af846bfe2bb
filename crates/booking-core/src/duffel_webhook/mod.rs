//! The `duffel-webhook` function as a [`Driver`] (`docs/contracts.md`, "duffel-webhook"):
//! verify the delivery's `X-Duffel-Signature` over the raw body, read the event, record it once
//! against its booking, and answer.
//!
//! Before anything is parsed, [`signature::verify`] decides on the header and the shim's HMAC of
//! the raw body (the secret stays in the shim): a refusal is a 400 with the signature's code and
//! nothing is stored. Then the envelope `{"id":"wev_…","type":…,"data":{"object":…},
//! "created_at":…}` is read; the order id is `data.object.order_id` (an airline-initiated change
//! object `aic_…`) or else `data.object.id` (an order `ord_…`).
//!
//! Commands: for `order.created`, `order.airline_initiated_change_detected` and
//! `order.cancelled`, one `sql duffel_webhook_record` (service) with what to do:
//! `{"event_id","type","kind","order_id","occurred_at","notification","alert"}`, answering
//! `{"duplicate":bool,"outcome":…}`. The database stores the event id first (a duplicate
//! changes nothing), finds the booking by provider order id, and applies the kind in the same
//! transaction (see the migration `20261202000400_duffel_webhook.sql`):
//!
//! | kind | booking confirmed | booking cancelled | no booking |
//! | --- | --- | --- | --- |
//! | `order_created` | `recorded` | `recorded` | `unknown_order` |
//! | `schedule_changed` | `notified` (outbox `schedule_changed`, dedupe key from the event id) | `booking_cancelled` (no mail) | `unknown_order` |
//! | `order_cancelled` | `booking_cancelled` (status `cancelled`, operator alert `airline_cancelled`) | `already_cancelled` | `unknown_order` |
//!
//! Every outcome is a 200 (`{"received":true,…}`): the event is acknowledged, so Duffel stops
//! retrying; any other type is acknowledged as `ignored` without a database call. Unreadable
//! events are 400 `invalid_event`; database trouble is 503 (Duffel retries) or 500.

pub mod signature;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::duffel::order::is_valid_order_id;
use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlFunction};
use crate::time::Timestamp;

pub use signature::{SignatureError, SignatureHeader, TOLERANCE_SECONDS};

/// The outbox template of a schedule-change message (the sender renders it from the trip and
/// booking rows).
pub const SCHEDULE_CHANGED_TEMPLATE: &str = "schedule_changed";

/// The operator alert an airline cancellation of a confirmed booking raises (a `pipeline_events`
/// row, stage `duffel_webhook`, decision `operator_alert`, this reason).
pub const AIRLINE_CANCELLED_ALERT: &str = "airline_cancelled";

/// The largest body the function reads (Duffel orders are tens of kilobytes).
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// What the function answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DuffelWebhookDone {
    /// HTTP status for Duffel.
    pub status: u16,
    /// JSON body: [`DuffelWebhookResponse`], or an error `{code, message}`.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub body: Value,
    /// The event id, once the signature passed and the envelope was read (for the log line).
    pub event_id: Option<String>,
    /// The event type, likewise.
    pub event_type: Option<String>,
    /// Stable outcome code for the log line (`notified`, `duplicate`, `signature_mismatch`, …).
    pub outcome: String,
}

/// The 200 body of an acknowledged event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DuffelWebhookResponse {
    /// Always `true`.
    pub received: bool,
    /// Duffel's event id (`wev_…`).
    pub event_id: String,
    /// Duffel's event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event id was already processed; nothing changed now.
    pub duplicate: bool,
    /// What processing did (the first time): `recorded`, `notified`, `booking_cancelled`,
    /// `already_cancelled`, `unknown_order`, or `ignored` for a type we do not handle.
    pub outcome: String,
}

/// The event types the pipeline acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `order.created`.
    OrderCreated,
    /// `order.airline_initiated_change_detected`.
    ScheduleChanged,
    /// `order.cancelled`.
    OrderCancelled,
}

impl EventKind {
    /// The kind of a Duffel event type, `None` for types we only acknowledge.
    pub fn of(event_type: &str) -> Option<Self> {
        match event_type {
            "order.created" => Some(Self::OrderCreated),
            "order.airline_initiated_change_detected" => Some(Self::ScheduleChanged),
            "order.cancelled" => Some(Self::OrderCancelled),
            _ => None,
        }
    }
}

/// A read event envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `wev_…` (letters, digits, `_`; 1-100 characters).
    pub id: String,
    /// The Duffel type string.
    pub event_type: String,
    /// The kind, when we act on the type.
    pub kind: Option<EventKind>,
    /// The order the event is about (required for the kinds we act on).
    pub order_id: Option<String>,
    /// Duffel's `created_at`, when readable.
    pub created_at: Option<Timestamp>,
}

/// Why an (authentic) event could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not JSON, not an object, or `id` / `type` / the order id missing or malformed.
    #[error("the event is not a readable Duffel webhook event")]
    Invalid,
}

impl EventError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid => "invalid_event",
        }
    }
}

crate::error::impl_error_code!(EventError);

fn is_event_id(text: &str) -> bool {
    (1..=100).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_event_type(text: &str) -> bool {
    (1..=100).contains(&text.len())
        && text.as_bytes()[0].is_ascii_lowercase()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// Reads the event envelope (only after the signature passed).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, EventError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(EventError::Invalid);
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| EventError::Invalid)?;
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| is_event_id(s));
    let event_type = value
        .get("type")
        .and_then(Value::as_str)
        .filter(|s| is_event_type(s));
    let (Some(id), Some(event_type)) = (id, event_type) else {
        return Err(EventError::Invalid);
    };
    let kind = EventKind::of(event_type);
    let object = value.pointer("/data/object");
    let order_id = object
        .and_then(|o| o.get("order_id"))
        .and_then(Value::as_str)
        .or_else(|| object.and_then(|o| o.get("id")).and_then(Value::as_str))
        .filter(|s| s.starts_with("ord_") && is_valid_order_id(s))
        .map(str::to_owned);
    if kind.is_some() && order_id.is_none() {
        return Err(EventError::Invalid);
    }
    let created_at = value
        .get("created_at")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse_rfc3339);
    Ok(WebhookEvent {
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        kind,
        order_id,
        created_at,
    })
}

/// The outbox dedupe key of the schedule-change message for event `event_id`: one message per
/// event however often it is delivered. (`_` is not in the key alphabet; ids have no `.`, so the
/// mapping is one-to-one.)
pub fn notification_dedupe_key(event_id: &str) -> String {
    format!("duffel:{}", event_id.replace('_', "."))
}

/// The `duffel_webhook_record` arguments for an event we act on.
pub fn record_args(event: &WebhookEvent, kind: EventKind) -> Value {
    let notification = (kind == EventKind::ScheduleChanged).then(|| {
        json!({"template": SCHEDULE_CHANGED_TEMPLATE,
               "dedupe_key": notification_dedupe_key(&event.id)})
    });
    let alert = (kind == EventKind::OrderCancelled).then_some(AIRLINE_CANCELLED_ALERT);
    json!({
        "event_id": event.id,
        "type": event.event_type,
        "kind": kind,
        "order_id": event.order_id,
        "occurred_at": event.created_at,
        "notification": notification,
        "alert": alert,
    })
}

enum Stage {
    Record(WebhookEvent, Value),
    Recording(WebhookEvent),
    Done(DuffelWebhookDone),
}

/// The driver for one `duffel-webhook` delivery.
pub struct DuffelWebhookDriver {
    stage: Stage,
    pending: Option<Command<DuffelWebhookDone>>,
    seq: Sequencer,
}

impl std::fmt::Debug for DuffelWebhookDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuffelWebhookDriver")
            .field("waiting", &self.seq.waiting())
            .finish_non_exhaustive()
    }
}

impl DuffelWebhookDriver {
    /// A driver for one delivery: the raw body, the `X-Duffel-Signature` header, the shim's HMAC
    /// of `signed_prefix ++ body` in lower-case hex (empty when the header did not parse) and
    /// the shim's clock. A refused signature or an unreadable event makes it done at once.
    pub fn new(body: &[u8], header: Option<&str>, expected_hex: &str, now: Timestamp) -> Self {
        let stage = match signature::verify(header, expected_hex, now) {
            Err(error) => Stage::Done(error_done(400, error.code(), &error.to_string(), None)),
            Ok(()) => match parse_event(body) {
                Err(error) => Stage::Done(error_done(400, error.code(), &error.to_string(), None)),
                Ok(event) => match event.kind {
                    None => {
                        let done = acknowledged(&event, false, "ignored");
                        Stage::Done(done)
                    }
                    Some(kind) => {
                        let args = record_args(&event, kind);
                        Stage::Record(event, args)
                    }
                },
            },
        };
        Self {
            stage,
            pending: None,
            seq: Sequencer::default(),
        }
    }
}

fn acknowledged(event: &WebhookEvent, duplicate: bool, outcome: &str) -> DuffelWebhookDone {
    let body = DuffelWebhookResponse {
        received: true,
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        duplicate,
        outcome: outcome.to_owned(),
    };
    DuffelWebhookDone {
        status: 200,
        body: serde_json::to_value(body).unwrap_or(Value::Null),
        event_id: Some(event.id.clone()),
        event_type: Some(event.event_type.clone()),
        outcome: if duplicate { "duplicate" } else { outcome }.to_owned(),
    }
}

fn error_done(
    status: u16,
    code: &str,
    message: &str,
    event: Option<&WebhookEvent>,
) -> DuffelWebhookDone {
    DuffelWebhookDone {
        status,
        body: json!({"code": code, "message": message}),
        event_id: event.map(|e| e.id.clone()),
        event_type: event.map(|e| e.event_type.clone()),
        outcome: code.to_owned(),
    }
}

const OUTCOMES: &[&str] = &[
    "recorded",
    "notified",
    "booking_cancelled",
    "already_cancelled",
    "unknown_order",
];

fn on_recorded(event: &WebhookEvent, text: &str) -> DuffelWebhookDone {
    #[derive(Deserialize)]
    struct Recorded {
        duplicate: bool,
        outcome: String,
    }
    match serde_json::from_str::<Recorded>(text) {
        Ok(r) if OUTCOMES.contains(&r.outcome.as_str()) => {
            acknowledged(event, r.duplicate, &r.outcome)
        }
        _ => error_done(
            500,
            "internal",
            "duffel_webhook_record answered an unreadable result",
            Some(event),
        ),
    }
}

/// The answer for a SQL error: connection, resource and serialisation trouble is 503 (Duffel
/// retries the delivery), anything else 500 (also retried; operators look at the log).
fn sql_error_done(event: &WebhookEvent, sqlstate: &str) -> DuffelWebhookDone {
    if matches!(sqlstate.get(..2), Some("08" | "40" | "53" | "57")) {
        error_done(
            503,
            "database_unavailable",
            "the database is unavailable; deliver again later",
            Some(event),
        )
    } else {
        error_done(
            500,
            "internal",
            "internal error; the event was not recorded",
            Some(event),
        )
    }
}

impl Driver for DuffelWebhookDriver {
    type Done = DuffelWebhookDone;

    fn poll(&mut self, _now: Timestamp) -> Command<DuffelWebhookDone> {
        if let Some(pending) = &self.pending {
            return pending.clone();
        }
        match std::mem::replace(&mut self.stage, Stage::Done(internal())) {
            Stage::Record(event, args) => {
                self.stage = Stage::Recording(event);
                let id = self.seq.issue("sql");
                let command = Command::sql(id, SqlFunction::DuffelWebhookRecord, args);
                self.pending = Some(command.clone());
                command
            }
            Stage::Done(done) => {
                self.stage = Stage::Done(done.clone());
                Command::Done { result: done }
            }
            Stage::Recording(_) => {
                // A waiting stage always has a pending command; reaching here is a bug.
                let done = internal();
                self.stage = Stage::Done(done.clone());
                Command::Done { result: done }
            }
        }
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.pending = None;
        let stage = std::mem::replace(&mut self.stage, Stage::Done(internal()));
        self.stage = match (stage, input) {
            (Stage::Recording(event), Input::Sql(text)) => Stage::Done(on_recorded(&event, text)),
            (Stage::Recording(event), Input::SqlError(sqlstate)) => {
                Stage::Done(sql_error_done(&event, sqlstate))
            }
            _ => Stage::Done(internal()),
        };
        Ok(())
    }
}

fn internal() -> DuffelWebhookDone {
    error_done(500, "internal", "driver invariant", None)
}
