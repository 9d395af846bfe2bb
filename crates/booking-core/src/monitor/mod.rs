//! The monitor's pure decisions: for a due trip, book now, wait until a later check, search
//! again, or give up; when to look next (sooner as departure nears, with seeded jitter); and how
//! much work one run may take on (a batch budget of provider calls).
//!
//! The shim claims due trips ([`claim_limit`] bounds how many) and runs one
//! [`driver::TripDriver`] per claimed trip: it takes the trip's lock, re-prices the selected
//! offer, calls [`decide`], and on a [`Decision::Book`] starts and drives a booking attempt
//! ([`crate::saga::begin`]).

pub mod driver;
pub mod provider_pause;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::saga::retry::mix;
use crate::time::Timestamp;
use crate::trip::TripStatus;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// No booking is attempted closer to departure than this: airlines close ticketing, and a failed
/// attempt would leave no time to tell the traveller.
pub const MIN_LEAD_MS: i64 = 3 * HOUR_MS;

/// What the monitor knows about a due trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripView {
    /// Trip status.
    pub status: TripStatus,
    /// Whether the traveller allowed booking on their behalf.
    pub auto_book: bool,
    /// Departure instant: the first segment's departure, or when only the date is known its
    /// start in the earliest time zone (00:00 at UTC+14), a safe lower bound.
    pub departs_at: Timestamp,
    /// The traveller's ceiling.
    pub max_total: Money,
    /// Whether a selected offer exists.
    pub has_selected_offer: bool,
}

/// The selected offer's latest price, as the monitor's re-price found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// Still offered at `total` until `expires_at`.
    Priced {
        /// Total including fees.
        total: Money,
        /// Offer expiry.
        expires_at: Option<Timestamp>,
    },
    /// Gone or expired (Duffel 404/422).
    Gone,
    /// The provider did not answer usefully; try again at the next check.
    Unavailable,
}

/// What to do with a due trip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Start a booking attempt now.
    Book,
    /// Keep watching; check again at `until`.
    Wait {
        /// Next check time.
        until: Timestamp,
        /// Stable reason code.
        reason: &'static str,
    },
    /// The selected offer is gone: search again, then check at `until`.
    SearchAgain {
        /// Next check time if the search finds nothing better.
        until: Timestamp,
        /// Stable reason code.
        reason: &'static str,
    },
    /// Stop watching: the trip moves to `expired`.
    Expire {
        /// Stable reason code.
        reason: &'static str,
    },
    /// Not the monitor's to touch (booked, cancelled, needs the traveller, …).
    Skip {
        /// Stable reason code.
        reason: &'static str,
    },
}

/// Decides for one due `trip` given the fresh `quote` of its selected offer.
pub fn decide(trip: &TripView, quote: Quote, now: Timestamp, seed: u64) -> Decision {
    if trip.status != TripStatus::Watching {
        return Decision::Skip {
            reason: "not_watching",
        };
    }
    if trip.departs_at.unix_ms() - now.unix_ms() < MIN_LEAD_MS {
        return Decision::Expire {
            reason: "departure_too_close",
        };
    }
    let until = next_check_at(now, trip.departs_at, seed);
    if !trip.has_selected_offer {
        return Decision::SearchAgain {
            until,
            reason: "no_selected_offer",
        };
    }
    match quote {
        Quote::Gone => Decision::SearchAgain {
            until,
            reason: "offer_gone",
        },
        Quote::Priced {
            expires_at: Some(at),
            ..
        } if at <= now => Decision::SearchAgain {
            until,
            reason: "offer_expired",
        },
        Quote::Priced { total, .. } if total.currency != trip.max_total.currency => {
            Decision::SearchAgain {
                until,
                reason: "currency_mismatch",
            }
        }
        Quote::Priced { total, .. } if total.amount_minor > trip.max_total.amount_minor => {
            Decision::Wait {
                until,
                reason: "over_budget",
            }
        }
        Quote::Priced { .. } if !trip.auto_book => Decision::Wait {
            until,
            reason: "auto_book_off",
        },
        Quote::Priced { .. } => Decision::Book,
        Quote::Unavailable => Decision::Wait {
            until,
            reason: "provider_unavailable",
        },
    }
}

/// When to check a watched trip next: every 12 h more than 60 days out, 6 h from 14 days, 2 h
/// from 3 days, 30 min in the last 3 days; plus up to 10 % seeded jitter so trips created
/// together do not hit the provider together. Never after departure minus [`MIN_LEAD_MS`]
/// (unless that is already past, when it is `now` plus one minute).
pub fn next_check_at(now: Timestamp, departs_at: Timestamp, seed: u64) -> Timestamp {
    let left = departs_at.unix_ms() - now.unix_ms();
    let interval = if left > 60 * DAY_MS {
        12 * HOUR_MS
    } else if left > 14 * DAY_MS {
        6 * HOUR_MS
    } else if left > 3 * DAY_MS {
        2 * HOUR_MS
    } else {
        30 * MINUTE_MS
    };
    let span = u64::try_from(interval / 10).unwrap_or(1).max(1);
    let jitter = i64::try_from(mix(seed) % span).unwrap_or(0);
    let at = now.plus_ms(interval + jitter);
    let last = departs_at.plus_ms(-MIN_LEAD_MS);
    if at > last {
        if last > now {
            last
        } else {
            now.plus_ms(MINUTE_MS)
        }
    } else {
        at
    }
}

/// How much of the due work one monitor run takes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Provider calls this run may still make.
    pub calls_left: u32,
    /// Trips this run may still claim.
    pub trips_left: u32,
    /// Calls kept back for trips that go on to book (see [`BOOKING_RESERVE_CALLS`]).
    pub reserve: u32,
}

/// Most provider calls one trip may make in one run (the driver's per-trip cap): one re-price,
/// plus a whole booking attempt (re-price, authorize, order, capture or cancel, and a look-up).
pub const CALLS_PER_TRIP: u32 = 6;

/// Provider calls a due trip really uses when it does not book: one re-price (`GET
/// /air/offers/{id}`) or one search. This is what each claimed trip reserves.
pub const CALLS_PER_CHECK: u32 = 1;

/// Calls each run keeps back for the trips whose check turns into a booking (each adds at most
/// [`CALLS_PER_TRIP`] - [`CALLS_PER_CHECK`] calls): 100, room for 20 bookings, or half the
/// budget when that is smaller. Bookings are rare next to checks (a trip books once; it is
/// checked every 30 minutes to 12 hours for weeks), so reserving a whole attempt per claimed
/// trip, as before, cut each run to a sixth of what it could check.
pub const BOOKING_RESERVE_CALLS: u32 = 100;

impl Budget {
    /// A fresh budget from the `pipeline_settings` batch size and per-run call budget.
    pub fn new(batch_size: u32, provider_calls: u32) -> Self {
        Self {
            calls_left: provider_calls,
            trips_left: batch_size,
            reserve: BOOKING_RESERVE_CALLS.min(provider_calls / 2),
        }
    }

    /// How many of `due` trips to claim now; the rest are left for the next run.
    pub fn claimable(&self, due: u32) -> u32 {
        due.min(self.trips_left)
            .min(self.calls_left.saturating_sub(self.reserve) / CALLS_PER_CHECK)
    }

    /// Takes one trip's reservation; false (and no change) when the budget cannot cover it.
    pub fn take_trip(&mut self) -> bool {
        if self.claimable(1) == 0 {
            return false;
        }
        self.trips_left -= 1;
        self.calls_left -= CALLS_PER_CHECK;
        true
    }
}

/// The `pipeline_settings` row as `monitor_claim` returns it (`settings`). Missing fields take
/// conservative defaults; unknown fields are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct MonitorSettings {
    /// The kill switch: nothing is claimed when false.
    #[serde(default)]
    pub monitor_enabled: bool,
    /// Most trips one run claims.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Most provider calls one run makes.
    #[serde(default = "default_call_budget")]
    pub provider_call_budget: u32,
}

fn default_batch_size() -> u32 {
    10
}

fn default_call_budget() -> u32 {
    10 * CALLS_PER_TRIP
}

/// How many due trips one monitor run may claim: the batch size bounded by the call budget at
/// [`CALLS_PER_CHECK`] call per trip, less the booking reserve ([`Budget`]). The kill switch does not change it: while the
/// monitor is paused `app.monitor_claim` hands out only trips whose open attempt may hold money,
/// so they finish, and `app.monitor_begin_attempt` refuses to start new ones.
pub fn claim_limit(settings: &MonitorSettings) -> u32 {
    Budget::new(settings.batch_size, settings.provider_call_budget).claimable(u32::MAX)
}

/// Earliest UTC offset in use (UTC+14, Kiribati), in milliseconds.
const EARLIEST_OFFSET_MS: i64 = 14 * HOUR_MS;

/// The departure instant for [`TripView::departs_at`], as a safe lower bound: local departure
/// times carry no offset, so the local time (the selected offer's first departure when known,
/// else 00:00 of the departure date) is read in the earliest time zone, UTC+14. The true instant
/// is never earlier, so [`MIN_LEAD_MS`] is never cut short.
pub fn departure_lower_bound(date: NaiveDate, departing_at: Option<NaiveDateTime>) -> Timestamp {
    let local = departing_at.unwrap_or_else(|| date.and_time(chrono::NaiveTime::MIN));
    Timestamp::from_unix_ms(local.and_utc().timestamp_millis()).plus_ms(-EARLIEST_OFFSET_MS)
}

#[cfg(test)]
mod tests;
