//! The `health` function: checks for an uptime checker, decided here (the shim only executes).
//!
//! The driver asks for `app.health_snapshot` (as `service_role`), then pings Redis through
//! Upstash REST (`["PING"]`), and answers 200 when every check passes, 503 otherwise:
//!
//! ```json
//! {"status":"ok"|"fail","checks":{"database":"ok","redis":"fail",…},"failing":["redis"]}
//! ```
//!
//! With `detail` (the caller presented the health token) the body adds `detail`: each check's
//! numbers and limits, and the money currently held per currency. Never personal data: counts,
//! ages in seconds, amounts.
//!
//! | check | fails when |
//! | --- | --- |
//! | `database` | the snapshot cannot be read (any SQL error) |
//! | `redis` | `PING` does not answer `PONG` (error, non-200, timeout) |
//! | `heartbeat` | no monitor run yet, or the last is older than 3 schedule intervals + 60 s |
//! | `due_backlog` | a trip has been due for more than 15 minutes |
//! | `stuck_attempts` | an open attempt is idle past its expected time or holds money over 3 hours (`app.stuck_attempts`) |
//! | `outbox` | an email has been due for more than 15 minutes |
//! | `dead_letters` | an email dead-lettered in 24 h, or an operator alert could not be delivered |
//! | `money_held` | a hold (authorized, not captured or released) is older than 24 hours |
//!
//! Checks that come from the snapshot are `unknown` (failing) when the database is down.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlFunction};
use crate::http::{HttpRequest, Method, Service};
use crate::reply::Reply;
use crate::time::Timestamp;
use crate::upstash;

/// Longest a due trip or email may wait before its check fails (seconds).
pub const MAX_BACKLOG_AGE_S: i64 = 15 * 60;
/// Longest a payment hold may stay open before `money_held` fails (seconds).
pub const MAX_HOLD_AGE_S: i64 = 24 * 60 * 60;
/// The Upstash `PING` timeout.
const PING_TIMEOUT_MS: u32 = 2_000;

/// The checks, in answer order.
pub const CHECKS: [&str; 8] = [
    "database",
    "redis",
    "heartbeat",
    "due_backlog",
    "stuck_attempts",
    "outbox",
    "dead_letters",
    "money_held",
];

/// One currency's held money, as `app.health_snapshot` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Held {
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of the holds, in minor units.
    pub amount_minor: i64,
    /// Attempts holding it.
    pub attempts: i64,
    /// Age of the oldest (seconds).
    pub oldest_age_s: i64,
}

/// What `app.health_snapshot` returns.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Snapshot {
    /// `pipeline_settings.monitor_enabled`.
    #[serde(default)]
    pub monitor_enabled: bool,
    /// Seconds since the last monitor run; `None`: never ran.
    pub heartbeat_age_s: Option<i64>,
    /// The monitor job's interval in seconds; `None`: not scheduled.
    pub schedule_interval_s: Option<i64>,
    /// Trips due now.
    pub due_backlog: i64,
    /// How long the oldest has been due (seconds).
    pub due_oldest_age_s: Option<i64>,
    /// Attempts idle past their expected time.
    pub stuck_attempts: i64,
    /// Trips waiting for an operator.
    #[serde(default)]
    pub needs_operator: i64,
    /// Emails due now.
    pub outbox_backlog: i64,
    /// How long the oldest has been due (seconds).
    pub outbox_oldest_age_s: Option<i64>,
    /// Emails dead-lettered in the last 24 hours.
    pub outbox_dead_24h: i64,
    /// Operator alert messages waiting.
    #[serde(default)]
    pub alert_backlog: i64,
    /// Operator alert messages that could not be delivered.
    #[serde(default)]
    pub alert_dead: i64,
    /// Money held, per currency.
    #[serde(default)]
    pub money_held: Vec<Held>,
}

/// The longest acceptable heartbeat age for a schedule interval (3 intervals + 60 s; a minute's
/// schedule when unknown).
pub fn max_heartbeat_age_s(interval_s: Option<i64>) -> i64 {
    3 * interval_s.unwrap_or(60).max(1) + 60
}

/// Each snapshot check's verdict (`true` = ok) and its numbers.
pub fn snapshot_checks(s: &Snapshot) -> Vec<(&'static str, bool, Value)> {
    let max_age = max_heartbeat_age_s(s.schedule_interval_s);
    let oldest_hold = s.money_held.iter().map(|h| h.oldest_age_s).max();
    vec![
        (
            "heartbeat",
            s.heartbeat_age_s.is_some_and(|age| age <= max_age),
            json!({"age_s": s.heartbeat_age_s, "max_age_s": max_age,
                "schedule_interval_s": s.schedule_interval_s, "monitor_enabled": s.monitor_enabled}),
        ),
        (
            "due_backlog",
            s.due_oldest_age_s.unwrap_or(0) <= MAX_BACKLOG_AGE_S,
            json!({"due": s.due_backlog, "oldest_age_s": s.due_oldest_age_s,
                "max_age_s": MAX_BACKLOG_AGE_S}),
        ),
        (
            "stuck_attempts",
            s.stuck_attempts == 0,
            json!({"stuck": s.stuck_attempts, "needs_operator": s.needs_operator}),
        ),
        (
            "outbox",
            s.outbox_oldest_age_s.unwrap_or(0) <= MAX_BACKLOG_AGE_S,
            json!({"due": s.outbox_backlog, "oldest_age_s": s.outbox_oldest_age_s,
                "max_age_s": MAX_BACKLOG_AGE_S, "alert_messages_waiting": s.alert_backlog}),
        ),
        (
            "dead_letters",
            s.outbox_dead_24h == 0 && s.alert_dead == 0,
            json!({"emails_24h": s.outbox_dead_24h, "alert_messages": s.alert_dead}),
        ),
        (
            "money_held",
            oldest_hold.unwrap_or(0) <= MAX_HOLD_AGE_S,
            json!({"held": s.money_held.iter().map(|h| json!({"currency": h.currency,
                "amount_minor": h.amount_minor, "attempts": h.attempts,
                "oldest_age_s": h.oldest_age_s})).collect::<Vec<_>>(),
                "max_age_s": MAX_HOLD_AGE_S}),
        ),
    ]
}

/// The answer for what the checks found: `database` is `None` when the snapshot could not be
/// read, `redis` whether `PING` answered `PONG`.
pub fn answer(snapshot: Option<&Snapshot>, redis: bool, detail: bool) -> Reply {
    let mut checks = Map::new();
    let mut details = Map::new();
    let mut failing = Vec::new();
    let mut put = |name: &'static str, verdict: Option<bool>, numbers: Value| {
        let word = match verdict {
            Some(true) => "ok",
            Some(false) => "fail",
            None => "unknown",
        };
        if verdict != Some(true) {
            failing.push(name);
        }
        checks.insert(name.into(), json!(word));
        details.insert(name.into(), numbers);
    };
    put("database", Some(snapshot.is_some()), json!({}));
    put("redis", Some(redis), json!({}));
    match snapshot {
        Some(s) => {
            for (name, ok, numbers) in snapshot_checks(s) {
                put(name, Some(ok), numbers);
            }
        }
        None => {
            for name in &CHECKS[2..] {
                put(name, None, json!({}));
            }
        }
    }
    let healthy = failing.is_empty();
    let mut body = json!({
        "status": if healthy { "ok" } else { "fail" },
        "checks": checks,
        "failing": failing,
    });
    if detail {
        body["detail"] = Value::Object(details);
    }
    Reply::ok(
        if healthy { 200 } else { 503 },
        if healthy { "healthy" } else { "unhealthy" },
        body,
    )
}

/// The `PING` request (Upstash REST, body-style command).
pub fn ping_request() -> HttpRequest {
    let mut req = HttpRequest::new(
        Service::Upstash,
        Method::Post,
        "/".to_owned(),
        PING_TIMEOUT_MS,
    );
    req.headers
        .push(("Content-Type".into(), "application/json".into()));
    req.body = Some(json!(["PING"]).to_string());
    req
}

#[derive(Clone, Debug)]
enum Stage {
    Snapshot,
    Ping,
    Done(Reply),
}

/// The `health` driver: snapshot, ping, answer.
#[derive(Clone, Debug)]
pub struct HealthDriver {
    detail: bool,
    snapshot: Option<Snapshot>,
    stage: Stage,
    waiting: Option<Command<Reply>>,
    seq: Sequencer,
}

impl HealthDriver {
    /// A driver; `detail`: the caller presented the health token (the shim checked it).
    pub fn new(detail: bool) -> Self {
        Self {
            detail,
            snapshot: None,
            stage: Stage::Snapshot,
            waiting: None,
            seq: Sequencer::default(),
        }
    }
}

impl Driver for HealthDriver {
    type Done = Reply;

    fn poll(&mut self, _now: Timestamp) -> Command<Reply> {
        if let Some(command) = &self.waiting {
            return command.clone();
        }
        let command = match &self.stage {
            Stage::Snapshot => Command::sql(
                self.seq.issue("sql"),
                SqlFunction::HealthSnapshot,
                json!({}),
            ),
            Stage::Ping => Command::Http {
                id: self.seq.issue("http"),
                request: ping_request(),
            },
            Stage::Done(reply) => {
                return Command::Done {
                    result: reply.clone(),
                }
            }
        };
        self.waiting = Some(command.clone());
        command
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.waiting = None;
        match (&self.stage, input) {
            (Stage::Snapshot, Input::Sql(text)) => {
                // An unreadable snapshot counts as the database failing its check.
                self.snapshot = serde_json::from_str(text).ok();
                self.stage = Stage::Ping;
            }
            (Stage::Snapshot, _) => self.stage = Stage::Ping,
            (Stage::Ping, input) => {
                let pong = match input {
                    Input::Http { status, body } => {
                        upstash::parse_reply(status, body).is_ok_and(|v| v.as_str() == Some("PONG"))
                    }
                    _ => false,
                };
                self.stage = Stage::Done(answer(self.snapshot.as_ref(), pong, self.detail));
            }
            (Stage::Done(_), _) => return Err(DriveError::NotWaiting),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
