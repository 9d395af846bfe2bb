//! The monitor's per-trip driver: one claimed trip, from taking its lock to releasing it, as a
//! pure state machine (`docs/contracts.md`, "The monitor").
//!
//! A [`crate::engine::Driver`]: the shim's executor (or the simulation harness) loops:
//! [`TripDriver::poll`] returns a [`crate::engine::Command`]; the executor performs it and feeds the outcome
//! back with [`TripDriver::handle`] and the command's id, until the command is `done` (with a
//! [`TripDone`]). Polling again before feeding an outcome returns the same command.
//!
//! # Flow
//!
//! 1. Lock: `SET lock:trip:<id> <token> NX PX <lease>` through Upstash REST. Held by another run
//!    → done `locked` (`lock_held`). Upstash failing (an error answer, a timeout, a network
//!    failure) does not stop the trip: the run goes on without the lock, for money steps and
//!    for search / re-price alike. Money safety does not rest on the lock (the claim lease and
//!    the database's compare-and-set guards do); the lock only keeps two runs from wasting
//!    provider calls on each other's work, which during an outage costs at most a duplicate
//!    search or re-price of a trip claimed twice ("process this trip now" racing the schedule).
//!    A `SET` whose answer was lost may have taken the lock, so it is released at the end.
//! 2. An open attempt in the claim: drive the saga from its stored state (a state left in flight
//!    resolves as [`crate::saga::Outcome::Lost`]). The travellers are read
//!    first (`monitor_passengers`) when a later phase may need them. If that read fails (a SQL
//!    error, e.g. the Vault key is missing) and the attempt may hold money (an intent is known,
//!    an authorize may have been sent, or the order phase), the saga goes on with no travellers:
//!    a phase that needs them then releases the hold and ends the attempt `fail`. Before any
//!    money moved, the run stops (`sql_error_<sqlstate>`) and the attempt waits for the next run.
//! 3. Otherwise by status: `searching`, or `watching` without a selected offer → search; too close
//!    to departure → `monitor_expire`; `booking` without an open attempt (begin and every closing
//!    save move trip and attempt together, so an operator edit or a bug) → `monitor_reschedule`
//!    an hour ahead, decision `skip`, reason `booking_without_attempt` → done `skipped`;
//!    `watching` → re-price the selected offer, [`decide`]:
//!    - wait → `monitor_reschedule` → done `waiting`;
//!    - search again → search: `monitor_record_search` (or `_failure`) → done `searched`; except
//!      that when the recorded search selected an offer that [`decide`] would book on its fresh
//!      price, the driver goes on to book it in the same run (offers expire in about the time to
//!      the next check, so waiting would mostly find them gone);
//!    - expire → `monitor_expire` → done `expired`;
//!    - book → payment profile from the claim, travellers (`monitor_passengers`); either missing
//!      → `monitor_reschedule` with `payment_profile_missing` / `travelers_missing` (the trip stays
//!      `watching`, no attempt) → done `waiting`; else [`saga::begin`] →
//!      `monitor_begin_attempt` → the saga loop. Not started: `attempt_limit` (the database
//!      failed the trip, too many attempts in 24 hours) → done `failed`; `monitor_disabled` (the
//!      kill switch is off), `trip_changed`, `attempt_open` → done `skipped`.
//! 4. The saga loop: `Command::Send` → `monitor_save_attempt` of the mark (not saved → done
//!    `stopped`) → the request → `saga::apply` → `monitor_save_attempt`;
//!    `Command::Write` → `monitor_save_attempt` with its effects; `Command::WaitUntil` →
//!    `monitor_reschedule` (trip stays `booking`) → done `waiting`; `Command::Done` → done with
//!    the end's outcome.
//! 5. Before `done`, the lock is released (compare-and-delete `EVAL`) when it was (or may have
//!    been) taken; the release's answer, or its failure, never changes the outcome.
//!
//! Provider calls (Duffel, Stripe; not Upstash) are counted; at the per-trip cap the driver stops
//! cleanly: `monitor_reschedule` with reason `call_cap` and the next check due at once.
//!
//! The travellers (personal data) live only in the driver's memory. They appear in no command
//! except the Duffel order body, and never in `Debug` output or errors.
//!
//! # Layout
//!
//! One file per role, all private; the public items are re-exported here.
//!
//! - `command`: the pending command, [`TripDone`] and [`DriverOutcome`];
//! - `config`, `claim`, `error`: the inputs ([`DriverConfig`], [`Claim`] and the travellers)
//!   and [`DriverError`];
//! - `state`: the internal stages; `feed`: taking each outcome back;
//! - `route`: lock → route → search / re-price → decide (steps 1 to 3);
//! - `booking`: the book checks, beginning the attempt, and the saga loop (steps 3 and 4);
//! - `calls`: building the SQL calls, and provider requests under the call cap.
//!
//! [`decide`]: crate::monitor::decide
//! [`saga::begin`]: crate::saga::begin

use std::fmt;

use super::{departure_lower_bound, TripView};
use crate::duffel::order::{OrderPassenger, PricedOffer};
use crate::engine::{Command, DriveError, Driver, Input, Sequencer};
use crate::id::Uuid;
use crate::money::Money;
use crate::saga::AttemptState;
use crate::time::Timestamp;
use crate::trip::Trip;
use crate::upstash;

mod booking;
mod calls;
mod claim;
mod command;
mod config;
mod error;
mod feed;
mod route;
mod state;

pub use claim::{Claim, ClaimedAttempt, OfferFacts, PaymentProfile, SelectedOffer};
pub(crate) use command::DriverCommand;
pub use command::{DriverOutcome, TripDone};
pub use config::DriverConfig;
pub use error::DriverError;

use state::{unreachable_ready, Await, Ready, Stage, Step};

/// How long an attempt that may hold money waits, without moving, for travellers that cannot
/// be read (a SQL error, not an answer that they are gone) before the driver flags it for an
/// operator: 6 hours. Well inside Stripe's 24-hour idempotency window for a retried authorize
/// and its 7-day hold (the saga's own guards release a hold before either runs out, see
/// [`crate::saga`]), and long enough that a blip or a failover never needs a person.
pub const TRAVELLERS_UNREADABLE_ALERT_MS: i64 = 6 * 60 * 60 * 1000;

/// Whether a SQLSTATE means the statement can never succeed by retrying it unchanged: classes
/// `22` (data exception), `23` (integrity constraint violation, e.g. `23505` on
/// `bookings_provider_order_key`), `42` (syntax error or access rule violation), and `55000`
/// (object not in prerequisite state: the row is not in the state the call requires). Anything
/// else (connection loss `08…`, serialization failure `40001`, deadlock `40P01`, statement
/// timeout `57014`, lock not available `55P03`, too many connections `53300`, …) may pass on
/// the next run.
pub fn is_permanent_sqlstate(sqlstate: &str) -> bool {
    let s = sqlstate.to_ascii_uppercase();
    s.len() == 5
        && (s.starts_with("22") || s.starts_with("23") || s.starts_with("42") || s == "55000")
}

/// An attempt that waits for the traveller ([`crate::saga::Phase::AwaitTraveller`]) reads its
/// intent at once in every run that claims its trip: the trip is claimed when its wait is due,
/// or earlier because the traveller said "done", chose another card or cancelled (which make it
/// due now), so the saga's own poll time must not hold that run back. Within the run the saga's
/// wait applies again after the read (no busy loop).
fn woken(mut state: AttemptState) -> AttemptState {
    if matches!(state.phase, crate::saga::Phase::AwaitTraveller { .. }) && !state.in_flight {
        state.not_before = None;
    }
    state
}

/// The state machine for one claimed trip (see the module docs).
pub struct TripDriver {
    trip: Trip,
    selected_offer: Option<SelectedOffer>,
    attempt: Option<AttemptState>,
    /// The traveller's request for an attempt that waits for them (from the claim).
    traveller_request: Option<crate::saga::TravellerRequest>,
    payment: Option<PaymentProfile>,
    config: DriverConfig,
    attempt_id: String,
    seed: u64,
    lock_token: String,
    lock_key: String,
    lock_taken: bool,
    provider_calls: u32,
    travellers: Vec<OrderPassenger>,
    /// The SQLSTATE of a failed `monitor_passengers` read while resuming an attempt that may
    /// hold money: the travellers are unknown (not gone), so the saga must stop before a step
    /// that needs them.
    travellers_unreadable: Option<String>,
    /// Id and version of the attempt state as stored (what a failed save expected).
    stored: Option<(String, u64)>,
    /// While a save that carries a state not saved yet (an applied answer) waits: that state.
    /// If the database refuses the combined save for good, it is saved on its own first, so the
    /// operator's flag names what is known (a capture taken, an order placed), not the older mark.
    combined: Option<Box<AttemptState>>,
    stage: Stage,
    seq: Sequencer,
    /// The offer as this run's re-price found it: the attempt starts from it (priced once).
    fresh_quote: Option<PricedOffer>,
}

impl fmt::Debug for TripDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TripDriver")
            .field("trip_id", &self.trip.id.as_str())
            .field("status", &self.trip.status)
            .field("stage", &self.stage.name())
            .field("lock_taken", &self.lock_taken)
            .field("provider_calls", &self.provider_calls)
            .field("travellers", &self.travellers.len())
            .finish_non_exhaustive()
    }
}

impl TripDriver {
    /// A driver for `claim`. `attempt_id` (a UUID) names the attempt if this run starts one;
    /// `seed` drives the check-time and retry jitter; `lock_token` is this run's lock value.
    /// `_now` is accepted for symmetry with the other calls; nothing happens until [`Self::poll`].
    pub fn new(
        claim: Claim,
        config: DriverConfig,
        _now: Timestamp,
        attempt_id: &str,
        seed: u64,
        lock_token: &str,
    ) -> Result<Self, DriverError> {
        let attempt_id = Uuid::parse(attempt_id)
            .ok_or(DriverError::InvalidInput("attempt id is not a UUID"))?
            .as_str()
            .to_owned();
        if lock_token.is_empty()
            || lock_token.len() > 128
            || !lock_token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DriverError::InvalidInput("lock token"));
        }
        let lock_key = upstash::trip_lock_key(claim.trip.id.as_str());
        Ok(Self {
            trip: claim.trip,
            selected_offer: claim.selected_offer,
            traveller_request: claim
                .attempt
                .as_ref()
                .and_then(|a| a.traveller_request.as_deref())
                .and_then(crate::saga::TravellerRequest::parse),
            attempt: claim.attempt.map(|a| woken(a.state)),
            payment: claim.payment,
            config,
            attempt_id,
            seed,
            lock_token: lock_token.to_owned(),
            lock_key,
            lock_taken: false,
            provider_calls: 0,
            travellers: Vec::new(),
            travellers_unreadable: None,
            stored: None,
            combined: None,
            stage: Stage::Ready(Ready::Lock),
            seq: Sequencer::default(),
            fresh_quote: None,
        })
    }

    /// The next command, unnumbered. Repeats the waiting command until its outcome is fed.
    fn next_command(&mut self, now: Timestamp) -> DriverCommand {
        self.settle(now);
        match &self.stage {
            Stage::Waiting(command, _) => command.clone(),
            Stage::Done(outcome, reason) => DriverCommand::Done {
                outcome: *outcome,
                reason: reason.clone(),
            },
            Stage::Ready(_) => unreachable_ready(),
        }
    }

    /// Advances until the driver waits on a command (numbered) or is done.
    fn settle(&mut self, now: Timestamp) {
        loop {
            let ready = match std::mem::replace(&mut self.stage, Stage::Ready(Ready::Route)) {
                Stage::Ready(ready) => ready,
                waiting @ Stage::Waiting(..) => {
                    self.stage = waiting;
                    break;
                }
                Stage::Done(outcome, reason) => {
                    self.stage = Stage::Done(outcome, reason);
                    break;
                }
            };
            self.stage = match self.advance(ready, now) {
                Step::Ready(Ready::Finish(outcome, reason)) if !self.lock_taken => {
                    Stage::Done(outcome, reason)
                }
                Step::Ready(Ready::Finish(outcome, reason)) => {
                    self.lock_taken = false;
                    let request = upstash::unlock_request(&self.lock_key, &self.lock_token);
                    Stage::Waiting(
                        DriverCommand::Http { request },
                        Await::Unlock(outcome, reason),
                    )
                }
                Step::Ready(ready) => Stage::Ready(ready),
                Step::Wait(command, on) => Stage::Waiting(command, on),
            };
        }
        if let Stage::Waiting(command, _) = &self.stage {
            // A command not numbered yet (feeding an outcome clears the number).
            if self.seq.waiting().is_none() {
                self.seq.issue(match command {
                    DriverCommand::Http { .. } => "http",
                    _ => "sql",
                });
            }
        }
    }

    /// The next command (see [`Driver`]).
    pub fn poll(&mut self, now: Timestamp) -> Command<TripDone> {
        let command = self.next_command(now);
        let id = self.seq.waiting().unwrap_or(0);
        match command {
            DriverCommand::Http { request } => Command::Http { id, request },
            DriverCommand::Sql { function, args } => Command::sql(
                id,
                function,
                serde_json::from_str(&args).unwrap_or(serde_json::Value::Null),
            ),
            DriverCommand::Done { outcome, reason } => Command::Done {
                result: TripDone { outcome, reason },
            },
        }
    }

    /// [`Self::poll`] as the shim's text ([`crate::engine::command_text`] of it), written from
    /// the waiting command in place: no copy of it, and the SQL arguments as the text they were
    /// written as once (the shim parses only the header; the arguments go to PostgreSQL as is).
    pub fn poll_json(&mut self, now: Timestamp) -> String {
        self.settle(now);
        let id = self.seq.waiting().unwrap_or(0);
        let done = |outcome: DriverOutcome, reason: &str| {
            let result = TripDone {
                outcome,
                reason: reason.to_owned(),
            };
            format!(r#"{{"kind":"done","result":{}}}"#, calls::json(&result))
        };
        match &self.stage {
            Stage::Waiting(DriverCommand::Http { request }, _) => {
                format!(
                    r#"{{"kind":"http","id":{id},"request":{}}}"#,
                    calls::json(request)
                )
            }
            Stage::Waiting(DriverCommand::Sql { function, args }, _) => {
                // A call the executor may batch names its trip, the row it locks.
                let key = function.batch().map(|_| self.trip_id());
                crate::engine::sql_command_text(id, *function, key, args)
            }
            Stage::Waiting(DriverCommand::Done { outcome, reason }, _)
            | Stage::Done(outcome, reason) => done(*outcome, reason),
            Stage::Ready(_) => done(DriverOutcome::Stopped, "driver_invariant"),
        }
    }

    /// Feeds the outcome of command `id` (see [`Driver`]).
    pub fn handle(&mut self, now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        let fed = match input {
            Input::Http { status, body } => self.feed_http(now, status, body),
            Input::Transport(failure) => self.feed_transport(now, failure),
            Input::Sql(result) => self.feed_sql(now, result),
            Input::SqlError(sqlstate) => self.feed_sql_error(now, sqlstate),
        };
        // The sequencer matched the waiting command, so the stage is waiting for this kind.
        fed.map_err(|_| DriveError::NotWaiting)
    }

    /// Whether the driver has finished (its next poll returns `done`).
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(..))
    }

    /// Provider calls made so far.
    pub fn provider_calls(&self) -> u32 {
        self.provider_calls
    }

    fn trip_id(&self) -> &str {
        self.trip.id.as_str()
    }

    fn view(&self) -> TripView {
        TripView {
            status: self.trip.status,
            auto_book: self.trip.auto_book,
            departs_at: departure_lower_bound(
                self.trip.departure_date,
                self.selected_offer.as_ref().and_then(|o| o.departing_at),
            ),
            max_total: self.max_total(),
            has_selected_offer: self.selected_offer.is_some(),
        }
    }

    fn max_total(&self) -> Money {
        Money {
            amount_minor: self.trip.max_total_minor,
            currency: self.trip.currency,
        }
    }
}

impl Driver for TripDriver {
    type Done = TripDone;

    fn poll(&mut self, now: Timestamp) -> Command<TripDone> {
        Self::poll(self, now)
    }

    fn handle(&mut self, now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        Self::handle(self, now, id, input)
    }
}

#[cfg(test)]
mod tests;
