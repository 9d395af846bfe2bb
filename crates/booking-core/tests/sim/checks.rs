//! The money-safety invariants, checked after every monitor run and at the end of a scenario.

use super::world::World;

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
        let bookings = w.db.bookings.iter().filter(|b| b.0 == trip.id).count();
        if bookings > 1 {
            bad.push(format!("trip {}: {bookings} bookings", trip.id));
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
        if open > 1 || (open == 1) != (trip.status == "booking") {
            bad.push(format!(
                "trip {} is {} with {open} open attempts",
                trip.id, trip.status
            ));
        }
    }
    for order in &w.duffel.orders {
        let trip_booked = w.db.attempts.get(&order.attempt_id).and_then(|a| {
            w.db.trips
                .iter()
                .find(|t| t.id == a.trip_id)
                .map(|t| (t.status, a.is_open()))
        });
        match trip_booked {
            Some(("booked", _)) | Some((_, true)) => {}
            other => bad.push(format!(
                "order {} exists but its trip is {other:?}",
                order.id
            )),
        }
    }
    bad
}

/// Invariants for a settled scenario: nothing open, nothing held, every trip resolved.
pub(crate) fn settled(w: &World) -> Vec<String> {
    let mut bad = after_run(w);
    for pi in &w.stripe.intents {
        if pi.status == "requires_capture" {
            bad.push(format!(
                "authorization {} never captured or released",
                pi.id
            ));
        }
    }
    for trip in &w.db.trips {
        if !matches!(
            trip.status,
            "booked" | "needs_traveller" | "failed" | "expired"
        ) {
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
