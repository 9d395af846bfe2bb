//! Building the driver's commands: the `monitor_*` SQL calls, and provider requests under the
//! per-trip call cap.

use serde_json::{json, Value};

use super::state::{Await, Step};
use super::{DriverCommand, DriverOutcome, TripDriver};
use crate::engine::SqlFunction;
use crate::http::HttpRequest;
use crate::saga::{self, AttemptState};
use crate::time::Timestamp;

impl TripDriver {
    /// Waits on `app.<function>(args)`.
    pub(super) fn sql(function: SqlFunction, args: Value, on: Await) -> Step {
        Self::sql_text(function, args.to_string(), on)
    }

    /// Waits on `app.<function>(args)`, `args` as JSON text.
    fn sql_text(function: SqlFunction, args: String, on: Await) -> Step {
        Step::Wait(DriverCommand::Sql { function, args }, on)
    }

    /// A provider request, unless the per-trip call cap is reached.
    pub(super) fn provider(&mut self, request: HttpRequest, on: Await, now: Timestamp) -> Step {
        if self.provider_calls >= self.config.max_provider_calls {
            return self.reschedule(now, "call_cap", "call_cap", DriverOutcome::Waiting);
        }
        self.provider_calls += 1;
        Step::Wait(DriverCommand::Http { request }, on)
    }

    /// `monitor_reschedule`: the next check at `at`; the turn ends with `outcome`.
    pub(super) fn reschedule(
        &self,
        at: Timestamp,
        decision: &str,
        reason: &str,
        outcome: DriverOutcome,
    ) -> Step {
        let mut args = json!({"trip_id": self.trip_id(), "next_check_at": at,
            "decision": decision, "reason": reason});
        // The version the claim read, so a trip the traveller changed meanwhile keeps what
        // they asked for (app.monitor_reschedule leaves a stale run's next check unwritten). Not
        // once an attempt is in hand: its saves move the trip themselves.
        if self.stored.is_none() {
            args["trip_version"] = json!(self.trip.version);
        }
        Self::sql(
            SqlFunction::MonitorReschedule,
            args,
            Await::Reschedule(outcome, reason.to_owned()),
        )
    }

    /// `monitor_expire` with `reason`.
    pub(super) fn expire(&self, reason: &str) -> Step {
        Self::sql(
            SqlFunction::MonitorExpire,
            json!({"trip_id": self.trip_id(), "reason": reason}),
            Await::Expire(reason.to_owned()),
        )
    }

    /// `monitor_passengers`; `resume` is the open attempt to go on with once they are read.
    pub(super) fn passengers(&self, resume: Option<Box<AttemptState>>) -> Step {
        Self::sql(
            SqlFunction::MonitorPassengers,
            json!({"trip_id": self.trip_id()}),
            Await::Passengers(resume),
        )
    }

    /// `monitor_save_attempt`: compare-and-set from the stored `expected_version` to `next`, with
    /// `effects`.
    pub(super) fn save_from(
        expected_version: u64,
        next: &AttemptState,
        effects: &[saga::Effect],
        on: Await,
    ) -> Step {
        // Written as text at once: the state is the largest argument the driver sends.
        let args = format!(
            r#"{{"attempt_id":{},"expected_version":{expected_version},"state":{},"effects":{}}}"#,
            json(&next.attempt_id),
            json(next),
            json(effects),
        );
        Self::sql_text(SqlFunction::MonitorSaveAttempt, args, on)
    }
}

/// `value` as JSON text (`null` if it cannot be written, which the database then refuses).
pub(super) fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
