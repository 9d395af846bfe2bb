//! The answer of a user function whose driver only talks to the SQL API (`travelers`, `trips`):
//! a status, a JSON body and a stable outcome code for the log line, plus the small driver
//! machinery they share (one SQL command at a time, SQL errors mapped by SQLSTATE).

use serde::Serialize;
use serde_json::{json, Value};

use crate::engine::{Command, Sequencer, SqlFunction};
use crate::trip::TripError;

/// What a user function answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Reply {
    /// HTTP status for the caller.
    pub status: u16,
    /// JSON body for the caller (the action's answer, or `{code, message, ...}`).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub body: Value,
    /// Stable outcome code for the log line (never personal data).
    pub outcome: String,
}

impl Reply {
    /// A success answer.
    pub fn ok(status: u16, outcome: &str, body: Value) -> Self {
        Self {
            status,
            body,
            outcome: outcome.to_owned(),
        }
    }

    /// An error answer `{code, message}` plus the members of `extra` (an object).
    pub fn error(status: u16, code: &str, message: &str, extra: Value) -> Self {
        let mut body = json!({"code": code, "message": message});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        Self {
            status,
            body,
            outcome: code.to_owned(),
        }
    }

    /// 500 `internal` (a driver invariant or an unreadable SQL answer; never caller input).
    pub fn internal(message: &str) -> Self {
        Self::error(500, "internal", message, json!({}))
    }

    /// The 400 answer for a refused body.
    pub fn invalid(error: &TripError) -> Self {
        Self {
            status: 400,
            body: serde_json::to_value(error.to_body()).unwrap_or_default(),
            outcome: error.code().to_owned(),
        }
    }

    /// The answer for a SQL error, by SQLSTATE: 28000 401; P0002/42501 404 (`what` names the
    /// missing thing); 55006 409 `traveler_in_use`; 54000 409 `too_many_travelers`; 22xxx/23xxx
    /// 400 `validation_failed`; connection, resource and serialisation errors 503
    /// `database_unavailable`; a lock wait past its `lock_timeout` (55P03) 503 `database_busy`;
    /// anything else 500.
    pub fn sql_error(sqlstate: &str, what: &str) -> Self {
        let class = sqlstate.get(..2).unwrap_or("");
        match sqlstate {
            "28000" => Self::error(
                401,
                "unauthorized",
                "a signed-in user is required",
                json!({}),
            ),
            "P0002" | "42501" => {
                Self::error(404, "not_found", &format!("no such {what}"), json!({}))
            }
            "55006" => Self::error(
                409,
                "traveler_in_use",
                "this traveller is on a trip whose booking is in progress; wait until it ends",
                json!({}),
            ),
            // The owner triggers while the caller's erasure runs (migrations 20261203000500,
            // 20261203000900): no new traveller profile, card, customer or consent.
            "PF010" => Self::error(
                409,
                "erasure_in_progress",
                "this account is being erased; nothing new can be saved",
                json!({}),
            ),
            "54000" => Self::error(
                409,
                "too_many_travelers",
                "you have the maximum number of traveller profiles (50)",
                json!({}),
            ),
            _ if class == "22" || class == "23" => Self::error(
                400,
                "validation_failed",
                "the request violates a data rule",
                json!({"fields": [], "db_code": sqlstate}),
            ),
            // A row the call needs stayed locked past its lock_timeout (a flag change waits at
            // most 10 s for the flags table, migration 20261205000502): nothing was changed.
            "55P03" => Self::error(
                503,
                "database_busy",
                "what this changes is locked by another operation; try again in a few seconds",
                json!({}),
            ),
            _ if matches!(class, "08" | "53" | "57" | "40") => Self::error(
                503,
                "database_unavailable",
                "the database is unavailable; try again shortly",
                json!({}),
            ),
            _ => Self::error(
                500,
                "internal",
                "internal error; the request was not completed",
                json!({}),
            ),
        }
    }
}

/// One SQL command at a time: numbers it, repeats it until its outcome is fed.
#[derive(Debug, Default)]
pub(crate) struct SqlStep {
    seq: Sequencer,
    pending: Option<Command<Reply>>,
}

impl SqlStep {
    /// The waiting command, if any.
    pub(crate) fn pending(&self) -> Option<Command<Reply>> {
        self.pending.clone()
    }

    /// Issues a new SQL command.
    pub(crate) fn call(&mut self, function: SqlFunction, args: Value) -> Command<Reply> {
        let id = self.seq.issue("sql");
        let command = Command::sql(id, function, args);
        self.pending = Some(command.clone());
        command
    }

    /// Issues an HTTP request (a provider read the driver needs, e.g. Stripe).
    pub(crate) fn http(&mut self, request: crate::http::HttpRequest) -> Command<Reply> {
        let id = self.seq.issue("http");
        let command = Command::Http { id, request };
        self.pending = Some(command.clone());
        command
    }

    /// Checks that `input` answers the waiting command.
    pub(crate) fn accept(
        &mut self,
        id: u32,
        input: &crate::engine::Input<'_>,
    ) -> Result<(), crate::engine::DriveError> {
        self.seq.accept(id, input)?;
        self.pending = None;
        Ok(())
    }
}
