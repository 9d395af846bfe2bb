//! The kill switch (`pipeline_settings.monitor_enabled`) flipped in the middle of bookings.
//!
//! An operator's `update pipeline_settings set monitor_enabled = false` lands between two
//! operations of a run (the scheduler checks the trigger before every operation), so the run in
//! progress keeps its stale claims and drivers, exactly as a live Edge Function invocation
//! would. While the switch is off the checks here hold after every operation:
//!
//! - no attempt starts (`monitor_begin_attempt` answers `monitor_disabled`);
//! - no trip moves into `booking`.
//!
//! And when the switch comes back on (or the scenario ends with it off), every authorization
//! that held money, and every attempt that was open, when it went off has ended (captured or
//! released, closed) by then, within [`PAUSE_MAX_RUNS`] runs: in-flight money never waits for
//! the switch.

use std::collections::BTreeSet;

use super::world::{Endpoint, World};

/// Runs a pause may last with attempts still open before the held money counts as waiting for
/// the switch (a violation). The scripted faults settle in a handful of runs; the slowest honest
/// case is an unknown order outcome under random faults: ten misses of a paged order look-up
/// (two requests each when Duffel pages by two), spaced up to 5 minutes, with timeouts and
/// crashes in between, which took 41 runs in one seed. 80 leaves room for that and still catches
/// an attempt that waits for the switch (it would never settle).
pub(crate) const PAUSE_MAX_RUNS: u32 = 80;
/// The shortest pause (virtual time) before the switch goes back on, so that trips sent back to
/// `watching` really wait across due times.
pub(crate) const PAUSE_MIN_MS: i64 = 3_600_000;

/// When the switch goes off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Once some authorization holds money (`requires_capture`).
    Authorized,
    /// Once Duffel has an order (created; its answer may be lost).
    OrderSent,
    /// Once a capture was tried and the hold is still there (the capture will be retried).
    CaptureTried,
    /// Before any operation, with this probability in permille.
    Random(u64),
}

/// A scenario's kill-switch schedule.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PausePlan {
    pub(crate) trigger: Trigger,
    /// Whether the switch goes back on once the paused work is done (else it stays off to the
    /// end of the scenario).
    pub(crate) resume: bool,
    /// How many times the switch may go off in the scenario.
    pub(crate) times: u32,
}

impl PausePlan {
    /// The schedule of a fault kind, if it flips the switch.
    pub(crate) fn of(kind: &str, seed: u64) -> Option<Self> {
        let (trigger, resume, times) = match kind {
            "pause_after_authorize" | "pause_release_then_resume" => (Trigger::Authorized, true, 1),
            "pause_until_the_end" => (Trigger::Authorized, false, 1),
            "pause_after_order_sent" => (Trigger::OrderSent, true, 1),
            "pause_during_capture_retry" => (Trigger::CaptureTried, true, 1),
            "random_pause" => (Trigger::Random(15), !seed.is_multiple_of(5), 3),
            _ => return None,
        };
        Some(Self {
            trigger,
            resume,
            times,
        })
    }

    /// Whether the switch goes off before the next operation.
    pub(crate) fn fires(&self, w: &mut World) -> bool {
        let holding = |w: &World| {
            w.stripe
                .intents
                .iter()
                .any(|pi| pi.status == "requires_capture")
        };
        match self.trigger {
            Trigger::Authorized => holding(w),
            Trigger::OrderSent => !w.duffel.orders.is_empty(),
            Trigger::CaptureTried => {
                w.calls.get(&Endpoint::Capture).copied().unwrap_or(0) > 0 && holding(w)
            }
            Trigger::Random(permille) => w.rng.chance(permille),
        }
    }
}

/// What was in flight when the switch went off.
#[derive(Clone, Debug)]
pub(crate) struct Paused {
    /// The run during which it went off.
    pub(crate) since_run: u32,
    /// Virtual time it went off.
    pub(crate) since_ms: i64,
    /// Every attempt id that existed.
    attempts: BTreeSet<String>,
    /// The attempts that were open.
    open: BTreeSet<String>,
    /// The PaymentIntents that held money.
    held: BTreeSet<String>,
}

impl Paused {
    /// Turns the switch off and remembers what was in flight.
    pub(crate) fn switch_off(w: &mut World, run: u32) -> Self {
        w.db.monitor_enabled = false;
        Self {
            since_run: run,
            since_ms: w.now,
            attempts: w.db.attempts.keys().cloned().collect(),
            open: w
                .db
                .attempts
                .values()
                .filter(|a| a.is_open())
                .map(|a| a.attempt_id.clone())
                .collect(),
            held: w
                .stripe
                .intents
                .iter()
                .filter(|pi| pi.status == "requires_capture")
                .map(|pi| pi.id.clone())
                .collect(),
        }
    }

    /// Whether anything that was in flight at the switch-off is still unfinished.
    pub(crate) fn in_flight(&self, w: &World) -> bool {
        !self.unfinished(w).is_empty()
    }

    /// What was in flight at the switch-off and has not finished.
    fn unfinished(&self, w: &World) -> Vec<String> {
        let mut left: Vec<String> = w
            .stripe
            .intents
            .iter()
            .filter(|pi| self.held.contains(&pi.id) && pi.status == "requires_capture")
            .map(|pi| format!("authorization {} still held", pi.id))
            .collect();
        left.extend(
            self.open
                .iter()
                .filter(|id| w.db.attempts.get(*id).is_some_and(|a| a.is_open()))
                .map(|id| format!("attempt {id} still open")),
        );
        left
    }

    /// How many of the authorizations held at the switch-off have ended (captured or released).
    pub(crate) fn held_finished(&self, w: &World) -> usize {
        w.stripe
            .intents
            .iter()
            .filter(|pi| self.held.contains(&pi.id) && pi.status != "requires_capture")
            .count()
    }

    /// Checks after one operation with the switch off: no new attempt, no trip into `booking`.
    pub(crate) fn after_operation(&self, w: &World, before: &[&'static str]) -> Vec<String> {
        let mut bad: Vec<String> =
            w.db.attempts
                .keys()
                .filter(|id| !self.attempts.contains(*id))
                .map(|id| format!("attempt {id} started while the monitor was paused"))
                .collect();
        for (trip, was) in w.db.trips.iter().zip(before) {
            if trip.status == "booking" && *was != "booking" {
                bad.push(format!(
                    "trip {} moved from {was} to booking while the monitor was paused",
                    trip.id
                ));
            }
        }
        bad
    }

    /// Checks when the switch goes back on (or at the end with it still off): everything that
    /// was in flight at the switch-off has finished without it.
    pub(crate) fn at_end_of_pause(&self, w: &World, runs: u32) -> Vec<String> {
        self.unfinished(w)
            .into_iter()
            .map(|what| format!("{what} after {runs} paused runs: it waited for the switch"))
            .collect()
    }
}
