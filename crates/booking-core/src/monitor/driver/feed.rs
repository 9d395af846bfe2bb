//! Feeding outcomes back: [`TripDriver::handle`] checks the command id, then the `handle_*`
//! calls here hand the outcome to the step that asked for it (in `route` or `booking`).

use serde_json::Value;

use super::booking::may_hold_money;
use super::state::{invalid_result, stage_of, Await, HttpResult, Ready, Stage, Step};
use super::{DriverCommand, DriverError, DriverOutcome, TripDriver};
use crate::error::TransportFailure;
use crate::time::Timestamp;

impl TripDriver {
    /// Feeds the HTTP response to the waiting `http` command.
    pub(super) fn feed_http(
        &mut self,
        now: Timestamp,
        status: u16,
        body: &[u8],
    ) -> Result<(), DriverError> {
        let on = self.take_waiting("http")?;
        let step = self.on_http(on, now, HttpResult::Response(status, body));
        self.stage = stage_of(step);
        Ok(())
    }

    /// Reports that the waiting `http` command got no answer (timeout or network failure).
    pub(super) fn feed_transport(
        &mut self,
        now: Timestamp,
        failure: TransportFailure,
    ) -> Result<(), DriverError> {
        let on = self.take_waiting("http")?;
        let step = self.on_http(on, now, HttpResult::Transport(failure));
        self.stage = stage_of(step);
        Ok(())
    }

    /// Feeds the JSON result of the waiting `sql` command.
    pub(super) fn feed_sql(
        &mut self,
        now: Timestamp,
        result_json: &str,
    ) -> Result<(), DriverError> {
        let on = self.take_waiting("sql")?;
        let step = match serde_json::from_str::<Value>(result_json) {
            Ok(result) => self.on_sql(on, now, &result),
            Err(_) => invalid_result(),
        };
        self.stage = stage_of(step);
        Ok(())
    }

    /// Reports that the waiting `sql` command failed with `sqlstate` (the transaction rolled
    /// back; a connection lost before an answer is reported the same way, with the shim's
    /// SQLSTATE for it, e.g. `08006`).
    ///
    /// The run stops (`stopped`, `sql_error_<sqlstate>`) and the trip is due again after the
    /// claim lease, except:
    /// - a refused second attempt (`23505` on begin) is `skipped`;
    /// - the travellers cannot be read while resuming an attempt that may hold money (an intent
    ///   is known, an authorization may have been sent, or the attempt is ordering): an error is
    ///   not an answer that they are gone, so nothing is released because of it. The saga goes on
    ///   as far as it can without them (resolving a request left in flight, reconciling,
    ///   capturing, releasing) and the run stops before a step that needs them; the attempt
    ///   resumes next run. When the attempt has not moved for
    ///   [`TRAVELLERS_UNREADABLE_ALERT_MS`] the driver flags it for an operator instead
    ///   (`monitor_flag_attempt`, reason `travelers_unreadable`);
    /// - a save of the attempt (`monitor_save_attempt`) refused with a SQLSTATE that retrying can
    ///   never fix ([`is_permanent_sqlstate`]: classes 22, 23, 42 and `55000`) flags the attempt
    ///   for an operator (reason `ledger_unclosable`): after money moved, the ledger must end in
    ///   a state someone is told about rather than fail the same way every run.
    ///
    /// [`TRAVELLERS_UNREADABLE_ALERT_MS`]: super::TRAVELLERS_UNREADABLE_ALERT_MS
    /// [`is_permanent_sqlstate`]: super::is_permanent_sqlstate
    pub(super) fn feed_sql_error(
        &mut self,
        _now: Timestamp,
        sqlstate: &str,
    ) -> Result<(), DriverError> {
        let on = self.take_waiting("sql")?;
        let stopped = || {
            Step::Ready(Ready::Finish(
                DriverOutcome::Stopped,
                sql_error_reason(sqlstate),
            ))
        };
        let step = match on {
            // The unique open-attempt index refused a second attempt.
            Await::Begin(_) | Await::BeginSend(..) if sqlstate == "23505" => {
                Step::Ready(Ready::Finish(DriverOutcome::Skipped, "attempt_open".into()))
            }
            Await::Passengers(Some(state)) if may_hold_money(&state) => {
                self.travellers.clear();
                self.travellers_unreadable = Some(sqlstate.to_owned());
                Step::Ready(Ready::Saga(state))
            }
            Await::Save(_) | Await::SaveMark(..) if super::is_permanent_sqlstate(sqlstate) => self
                .save_before_flag(sqlstate)
                .or_else(|| self.flag(LEDGER_UNCLOSABLE, sqlstate))
                .unwrap_or_else(stopped),
            // The carried state could not be saved either: flag at the stored version.
            Await::SaveBeforeFlag(_, first) => {
                self.flag(LEDGER_UNCLOSABLE, &first).unwrap_or_else(stopped)
            }
            _ => stopped(),
        };
        self.stage = stage_of(step);
        Ok(())
    }

    fn take_waiting(&mut self, kind: &'static str) -> Result<Await, DriverError> {
        let stage = std::mem::replace(&mut self.stage, Stage::Ready(Ready::Route));
        match stage {
            Stage::Waiting(command, on) => {
                let expected = match command {
                    DriverCommand::Http { .. } => "http",
                    _ => "sql",
                };
                if expected == kind {
                    Ok(on)
                } else {
                    self.stage = Stage::Waiting(command, on);
                    Err(DriverError::WrongOutcome { expected })
                }
            }
            other => {
                self.stage = other;
                Err(DriverError::NotWaiting)
            }
        }
    }

    fn on_http(&mut self, on: Await, now: Timestamp, result: HttpResult<'_>) -> Step {
        match on {
            Await::Lock => self.locked(result),
            Await::Unlock(outcome, reason) => Step::Ready(Ready::Finish(outcome, reason)),
            Await::Search => self.searched(now, result),
            Await::Reprice => self.repriced(now, result),
            Await::Send(mark) => Self::sent(&mark, now, result),
            // Only `http` commands reach here (checked by `take_waiting`).
            _ => Step::Ready(Ready::Finish(
                DriverOutcome::Stopped,
                "driver_invariant".into(),
            )),
        }
    }

    fn on_sql(&mut self, on: Await, now: Timestamp, result: &Value) -> Step {
        match on {
            Await::RecordSearch(reason) => {
                let reason = if flag(result, "stale") == Some(true) {
                    "search_discarded".into()
                } else {
                    reason
                };
                Step::Ready(Ready::Finish(DriverOutcome::Searched, reason))
            }
            Await::RecordSelected(reason) => self.after_selection(result, now, reason),
            Await::Reschedule(outcome, reason) => Step::Ready(Ready::Finish(outcome, reason)),
            Await::Expire(reason) => match flag(result, "ok") {
                Some(true) => Step::Ready(Ready::Finish(DriverOutcome::Expired, reason)),
                Some(false) => {
                    Step::Ready(Ready::Finish(DriverOutcome::Skipped, "trip_changed".into()))
                }
                None => invalid_result(),
            },
            Await::Passengers(resume) => self.passengers_read(resume, now, result),
            Await::Begin(state) => Self::begun(state, result),
            Await::BeginSend(mark, request) => self.begun_send(mark, *request, result),
            Await::SaveMark(mark, request) => self.mark_saved(mark, *request, now, result),
            Await::Save(state) => Self::saved(state, result),
            Await::SaveBeforeFlag(state, sqlstate) => {
                self.saved_before_flag(state, &sqlstate, result)
            }
            Await::Flag(reason) => match flag(result, "flagged") {
                Some(true) => Step::Ready(Ready::Finish(DriverOutcome::NeedsOperator, reason)),
                Some(false) => Step::Ready(Ready::Finish(
                    DriverOutcome::Stopped,
                    "attempt_changed".into(),
                )),
                None => invalid_result(),
            },
            _ => Step::Ready(Ready::Finish(
                DriverOutcome::Stopped,
                "driver_invariant".into(),
            )),
        }
    }
}

/// A boolean field of a SQL result (`ok`, `started`, `saved`); `None` when missing.
pub(super) fn flag(result: &Value, name: &str) -> Option<bool> {
    result.get(name).and_then(Value::as_bool)
}

/// The flag reason when the database refuses for good to record an attempt's step.
pub(super) const LEDGER_UNCLOSABLE: &str = "ledger_unclosable";

/// `sql_error_<sqlstate>` for a well-formed SQLSTATE, else `sql_error`.
pub(super) fn sql_error_reason(sqlstate: &str) -> String {
    if sqlstate.len() == 5 && sqlstate.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("sql_error_{}", sqlstate.to_ascii_lowercase())
    } else {
        "sql_error".to_owned()
    }
}
