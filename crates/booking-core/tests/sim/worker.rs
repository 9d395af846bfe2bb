//! One monitor run, playing the `auto-book-monitor` shim: it claims trips through the SQL API
//! and, for each claim, runs the core's `TripDriver`, executing every command it emits against
//! the world and feeding the outcome back. Every `step` performs exactly one operation: a claim,
//! one command's execution, or feeding that command's outcome to the driver. The scheduler can
//! therefore crash a run at every command boundary (before a request or SQL call is executed, or
//! after it was executed but before the driver learnt the answer) and interleave two runs
//! operation by operation.

use std::collections::VecDeque;

use booking_core::duffel::DuffelConfig;
use booking_core::engine::{Command, Input};
use booking_core::error::TransportFailure;
use booking_core::flags::{Flag, FlagSnapshot, AUTO_BOOKING};
use booking_core::monitor::driver::{Claim, DriverConfig, TripDone, TripDriver};
use booking_core::saga::Outcome;
use booking_core::time::Timestamp;
use serde_json::Value;

use super::world::World;

/// Redis lock lease: shorter than a run's wall clock in the real system.
pub(crate) const LOCK_MS: u32 = 30_000;
/// The claim lease: a run that dies leaves its trips due again after this.
pub(crate) const CLAIM_LEASE_MS: i64 = 60_000;
/// Trips one run claims.
pub(crate) const BATCH: usize = 10;

/// The configuration every driver gets.
pub(crate) fn config() -> DriverConfig {
    DriverConfig {
        duffel: DuffelConfig::default(),
        lock_lease_ms: LOCK_MS,
        max_provider_calls: booking_core::monitor::CALLS_PER_TRIP,
        // Auto-booking on for everybody (no snapshot would gate every new attempt off).
        flags: Some(FlagSnapshot {
            flags: vec![Flag {
                name: AUTO_BOOKING.into(),
                enabled: true,
                rollout_bp: booking_core::flags::FULL_ROLLOUT_BP,
                allow_users: Vec::new(),
                deny_users: Vec::new(),
            }],
        }),
    }
}

/// How a run finds its work.
#[derive(Clone, Debug)]
pub(crate) enum Work {
    /// The scheduled run: claim up to [`BATCH`] due trips at once.
    Batch,
    /// "Process this trip now" for each id in turn (`monitor_claim` with `trip_id`, due or not),
    /// as trip-search triggers it; racing the scheduled run on the same trips.
    Each(VecDeque<String>),
}

/// The outcome of an executed command, waiting to be fed to the driver.
enum Executed {
    Http(Outcome),
    Sql(Result<Value, &'static str>),
}

enum Stage {
    Claim,
    Next,
    Execute,
    Feed(u32, Executed),
    Finished,
}

pub(crate) struct Worker {
    work: Work,
    claims: VecDeque<Value>,
    driver: Option<TripDriver>,
    stage: Stage,
    /// Prefix of this run's lock tokens (`<prefix>-<n>`).
    pub(crate) token_prefix: String,
    drivers: u32,
    /// Done outcomes seen, as `outcome:reason`.
    pub(crate) outcomes: Vec<String>,
}

impl Worker {
    pub(crate) fn new(work: Work, token_prefix: String) -> Self {
        Self {
            work,
            claims: VecDeque::new(),
            driver: None,
            stage: Stage::Claim,
            token_prefix,
            drivers: 0,
            outcomes: Vec::new(),
        }
    }

    /// A run that has died: it does nothing more.
    pub(crate) fn dead() -> Self {
        let mut w = Self::new(Work::Batch, String::new());
        w.stage = Stage::Finished;
        w
    }

    pub(crate) fn finished(&self) -> bool {
        matches!(self.stage, Stage::Finished)
    }

    /// Performs one operation.
    pub(crate) fn step(&mut self, w: &mut World) {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        self.stage = match stage {
            Stage::Finished => Stage::Finished,
            Stage::Claim => {
                let claimed = match &mut self.work {
                    Work::Batch => w.db.claim(BATCH, CLAIM_LEASE_MS, None, w.now),
                    Work::Each(ids) => match ids.pop_front() {
                        Some(id) => w.db.claim(1, CLAIM_LEASE_MS, Some(&id), w.now),
                        None => return,
                    },
                };
                w.claimed(&claimed);
                self.claims.extend(claimed);
                self.start_next(w)
            }
            Stage::Next => self.start_next(w),
            Stage::Execute => self.execute(w),
            Stage::Feed(id, executed) => self.feed(w, id, executed),
        };
    }

    /// Builds the driver for the next claim, or claims more, or finishes.
    fn start_next(&mut self, w: &mut World) -> Stage {
        let Some(claim) = self.claims.pop_front() else {
            return match &self.work {
                Work::Each(ids) if !ids.is_empty() => Stage::Claim,
                _ => Stage::Finished,
            };
        };
        let claim = match Claim::from_json(&claim.to_string()) {
            Ok(claim) => claim,
            Err(e) => {
                w.violations.push(format!("claim refused by the core: {e}"));
                return Stage::Next;
            }
        };
        self.drivers += 1;
        let attempt_id = w.fresh_uuid();
        let seed = w.rng.next_u64();
        let token = format!("{}-{}", self.token_prefix, self.drivers);
        match TripDriver::new(claim, config(), ts(w), &attempt_id, seed, &token) {
            Ok(driver) => {
                self.driver = Some(driver);
                Stage::Execute
            }
            Err(e) => {
                w.violations.push(format!("driver refused its inputs: {e}"));
                Stage::Next
            }
        }
    }

    /// Polls the driver and executes its command against the world.
    fn execute(&mut self, w: &mut World) -> Stage {
        let Some(driver) = self.driver.as_mut() else {
            return Stage::Next;
        };
        match driver.poll(ts(w)) {
            Command::Http { id, request } => Stage::Feed(id, Executed::Http(w.http(&request))),
            Command::Sql {
                id, function, args, ..
            } => Stage::Feed(id, Executed::Sql(w.sql(function.name(), &args.to_value()))),
            Command::Done {
                result: TripDone { outcome, reason },
            } => {
                if matches!(
                    reason.as_str(),
                    "invalid_sql_result" | "driver_invariant" | "booking_without_attempt"
                ) || reason.starts_with("sql_error_2")
                    || reason.starts_with("sql_error_42")
                {
                    w.violations
                        .push(format!("driver ended {} {reason}", outcome.as_str()));
                }
                self.outcomes.push(format!("{}:{reason}", outcome.as_str()));
                self.driver = None;
                self.start_next(w)
            }
        }
    }

    /// Feeds an executed command's outcome to the driver.
    fn feed(&mut self, w: &mut World, id: u32, executed: Executed) -> Stage {
        let Some(driver) = self.driver.as_mut() else {
            return Stage::Next;
        };
        let now = ts(w);
        let text;
        let input = match &executed {
            Executed::Http(Outcome::Response { status, body }) => Input::Http {
                status: *status,
                body,
            },
            Executed::Http(Outcome::Timeout | Outcome::Lost) => {
                Input::Transport(TransportFailure::Timeout)
            }
            Executed::Http(_) => Input::Transport(TransportFailure::Network),
            Executed::Sql(Ok(result)) => {
                text = result.to_string();
                Input::Sql(&text)
            }
            Executed::Sql(Err(sqlstate)) => Input::SqlError(sqlstate),
        };
        let fed = driver.handle(now, id, input);
        if let Err(e) = fed {
            w.violations.push(format!("driver misuse: {e}"));
            self.driver = None;
            return Stage::Next;
        }
        Stage::Execute
    }
}

fn ts(w: &World) -> Timestamp {
    Timestamp::from_unix_ms(w.now)
}
