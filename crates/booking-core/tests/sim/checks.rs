//! The money-safety invariants, checked after every monitor run and at the end of a scenario.

use booking_core::duffel::order::is_valid_booking_reference;
use booking_core::saga::{AttemptState, End, Phase};

use super::world::World;

/// The reason an attempt must close with when its order's outcome stayed unknown.
const UNKNOWN: &str = "order_outcome_unknown";

/// `booking_attempts_reason_format` / `pipeline_events_reason_code_format`:
/// `^[a-z][a-z0-9_]{0,63}$`.
fn db_code(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Whether the attempt closed failed with `order_outcome_unknown` and its trip is `failed`:
/// the one way an order may be left without a capture (operators follow up).
fn failed_unknown(w: &World, attempt: &AttemptState) -> bool {
    attempt.phase == (Phase::Closed { end: End::Fail })
        && attempt.reason.as_deref() == Some(UNKNOWN)
        && w.db
            .trips
            .iter()
            .any(|t| t.id == attempt.trip_id && t.status == "failed")
}

/// Whether the trip was flagged for an operator: `needs_operator` with its one open attempt
/// under an alert. Money may be held or captured there without a booking row: a person was told.
fn flagged(w: &World, trip_id: &str) -> bool {
    w.db.trips
        .iter()
        .any(|t| t.id == trip_id && t.status == "needs_operator")
        && w.db.open_attempt(trip_id).is_some_and(|a| {
            w.db.alerts
                .iter()
                .any(|x| x.attempt_id == a.attempt_id && x.trip_id == trip_id)
        })
}

/// Invariants that must hold at every moment between runs.
pub(crate) fn after_run(w: &World) -> Vec<String> {
    let mut bad = w.violations.clone();
    for trip in &w.db.trips {
        let captured: Vec<_> = w
            .stripe
            .intents
            .iter()
            .filter(|pi| pi.trip_id == trip.id && pi.status == "succeeded")
            .collect();
        if captured.len() > 1 {
            bad.push(format!("trip {}: {} captures", trip.id, captured.len()));
        }
        let holds = w
            .stripe
            .intents
            .iter()
            .filter(|pi| pi.trip_id == trip.id && pi.status == "requires_capture")
            .count();
        if holds > 1 {
            bad.push(format!("trip {}: {holds} live holds at once", trip.id));
        }
        for pi in &captured {
            let orders = w
                .duffel
                .orders
                .iter()
                .filter(|o| o.attempt_id == pi.attempt_id && !o.cancelled)
                .count();
            if orders != 1 {
                bad.push(format!("capture {} has {orders} confirmed orders", pi.id));
            }
            if pi.amount_received > trip.max_total.amount_minor {
                bad.push(format!("capture {} above the trip maximum", pi.id));
            }
        }
        let confirmed = w
            .duffel
            .orders
            .iter()
            .filter(|o| {
                !o.cancelled
                    && w.db
                        .attempts
                        .get(&o.attempt_id)
                        .is_some_and(|a| a.trip_id == trip.id)
            })
            .count();
        if confirmed > 1 {
            bad.push(format!("trip {}: {confirmed} confirmed orders", trip.id));
        }
        let bookings = w.db.bookings.iter().filter(|b| b.0 == trip.id).count();
        if bookings > 1 {
            bad.push(format!("trip {}: {bookings} bookings", trip.id));
        }
        if trip.status == "needs_operator" && !flagged(w, &trip.id) {
            bad.push(format!(
                "trip {} needs an operator but no alert says so",
                trip.id
            ));
        }
        if let Some(a) = w.db.open_attempt(&trip.id).filter(|a| a.order.is_some()) {
            let told =
                w.db.notifications
                    .contains(&format!("{}-booking_under_review", a.attempt_id));
            if trip.status == "needs_operator" && !told {
                bad.push(format!(
                    "trip {} flagged with a ticket but the traveller was not told",
                    trip.id
                ));
            }
        }
        if trip.status == "booked" && (bookings != 1 || captured.len() != 1) {
            bad.push(format!(
                "trip {} booked with {bookings} bookings, {} captures",
                trip.id,
                captured.len()
            ));
        }
        let open =
            w.db.attempts
                .values()
                .filter(|a| a.trip_id == trip.id && a.is_open())
                .count();
        let holds_attempt = matches!(trip.status, "booking" | "needs_operator");
        if open > 1 || (open == 1) != holds_attempt {
            bad.push(format!(
                "trip {} is {} with {open} open attempts",
                trip.id, trip.status
            ));
        }
    }
    // An offer the airline declared gone is authorized by no attempt after the one it refused.
    for dead in &w.duffel.dead {
        let holders =
            w.db.attempts
                .values()
                .filter(|a| &a.offer_id == dead)
                .filter(|a| {
                    w.stripe
                        .intents
                        .iter()
                        .any(|pi| pi.attempt_id == a.attempt_id)
                })
                .count();
        if holders > 1 {
            bad.push(format!(
                "offer {dead} authorized by {holders} attempts although the airline said it is gone"
            ));
        }
    }
    for order in w.duffel.orders.iter().filter(|o| !o.foreign) {
        let trip_booked = w.db.attempts.get(&order.attempt_id).and_then(|a| {
            w.db.trips
                .iter()
                .find(|t| t.id == a.trip_id)
                .map(|t| (t.status, a.is_open()))
        });
        let unknown =
            w.db.attempts
                .get(&order.attempt_id)
                .is_some_and(|a| failed_unknown(w, a));
        match trip_booked {
            Some(("booked", _)) | Some((_, true)) => {}
            _ if unknown => {}
            other => bad.push(format!(
                "order {} exists but its trip is {other:?}",
                order.id
            )),
        }
    }
    // What the database would refuse (and then refuse forever, wedging the attempt).
    for attempt in w.db.attempts.values() {
        if let Some(reason) = attempt.reason.as_deref().filter(|r| !db_code(r)) {
            bad.push(format!(
                "attempt {} reason {reason:?} breaks booking_attempts_reason_format",
                attempt.attempt_id
            ));
        }
        if let Some(order) = attempt
            .order
            .as_ref()
            .filter(|o| !is_valid_booking_reference(&o.booking_reference))
        {
            bad.push(format!(
                "attempt {} booking reference {:?} breaks bookings_booking_reference_format",
                attempt.attempt_id, order.booking_reference
            ));
        }
    }
    for (trip, stage, _, reason) in &w.db.events {
        if !reason.is_empty() && !db_code(reason) {
            bad.push(format!(
                "trip {trip}: {stage} event reason {reason:?} is not a code"
            ));
        }
    }
    bad
}

/// Invariants for a settled scenario: nothing open, nothing held, every trip resolved. With the
/// kill switch still off (`paused`), trips in `watching` or `searching` without an open attempt
/// are resolved for now: they wait for the switch, holding no money.
pub(crate) fn settled(w: &World, paused: bool) -> Vec<String> {
    let mut bad = after_run(w);
    for order in w
        .duffel
        .orders
        .iter()
        .filter(|o| !o.cancelled && !o.foreign)
    {
        let captured = w
            .stripe
            .intents
            .iter()
            .any(|pi| pi.attempt_id == order.attempt_id && pi.status == "succeeded");
        let unknown =
            w.db.attempts
                .get(&order.attempt_id)
                .is_some_and(|a| failed_unknown(w, a));
        let operator =
            w.db.attempts
                .get(&order.attempt_id)
                .is_some_and(|a| flagged(w, &a.trip_id));
        if !captured && !unknown && !operator {
            bad.push(format!(
                "order {} ticketed but never paid, and its trip did not fail with {UNKNOWN}",
                order.id
            ));
        }
    }
    for pi in &w.stripe.intents {
        if pi.status == "requires_capture" && !flagged(w, &pi.trip_id) {
            bad.push(format!(
                "authorization {} never captured or released",
                pi.id
            ));
        }
    }
    for trip in &w.db.trips {
        let waiting = (paused
            && matches!(trip.status, "watching" | "searching")
            && w.db.open_attempt(&trip.id).is_none())
            || flagged(w, &trip.id);
        if !waiting
            && !matches!(
                trip.status,
                "booked" | "needs_traveller" | "failed" | "expired" | "cancelled"
            )
        {
            let attempt = w.db.open_attempt(&trip.id).map(|a| {
                (
                    a.phase,
                    a.in_flight,
                    a.tries,
                    a.not_before,
                    a.reason.clone(),
                )
            });
            bad.push(format!(
                "trip {} stuck in {} (attempt {attempt:?}, next check {}, now {})",
                trip.id, trip.status, trip.next_check_at, w.now
            ));
        }
        if trip.status == "booked" {
            let attempt =
                w.db.bookings
                    .iter()
                    .find(|b| b.0 == trip.id)
                    .map(|b| b.1.clone());
            let notified =
                attempt.is_some_and(|a| w.db.notifications.contains(&format!("{a}-booked")));
            if !notified {
                bad.push(format!("trip {} booked without a notification", trip.id));
            }
        }
    }
    bad
}
