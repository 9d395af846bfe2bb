//! The traveller while an attempt waits for them (saga phase `await_traveller`, issue 7): what
//! they do in the browser and through the `trips` function, between any two operations of a
//! monitor run, so that their actions race the monitor's.
//!
//! - `confirm`: Stripe.js completes 3-D Secure (the intent becomes `requires_capture`, as the
//!   fake Stripe's `/_fake/payment_intents/{id}/authenticate` does), then `payment_done` makes
//!   the trip due at once;
//! - `fail_then_confirm`: the first challenge fails (the intent stays
//!   `requires_payment_method`), the second passes;
//! - `another_card`: a new default card (`pm_card_visa`), then `use_another_card`: the claim
//!   carries `traveller_request: another_card` for this attempt and the trip is due at once;
//! - `confirm_then_cancel`: authenticates (a hold now exists) and then cancels the trip before
//!   the monitor sees the hold: the pending cancel must release it;
//! - `nothing`: never acts; the deadline releases the intent.

use booking_core::saga::Phase;

use super::world::World;

/// What the traveller does when an attempt of theirs waits for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    Confirm,
    FailThenConfirm,
    AnotherCard,
    ConfirmThenCancel,
    Nothing,
    /// Chosen per wait by the world's rng (random scenarios), never `Nothing` (the pause checks
    /// need held money to settle within a bounded number of runs).
    Random,
}

impl Plan {
    /// The plan of a scenario kind.
    pub(crate) fn of(kind: &str) -> Self {
        match kind {
            "authentication_required" => Self::Confirm,
            "authentication_failed_then_confirmed" => Self::FailThenConfirm,
            "authentication_other_card" => Self::AnotherCard,
            "authentication_cancel_races_confirm" => Self::ConfirmThenCancel,
            "authentication_deadline" => Self::Nothing,
            _ => Self::Random,
        }
    }
}

/// One step of every waiting traveller (called between operations and after every run).
/// Each waiting attempt moves at most one step per call.
pub(crate) fn act(w: &mut World, plan: Plan) {
    for t in 0..w.db.trips.len() {
        let trip_id = w.db.trips[t].id.clone();
        let Some(attempt) = w.db.open_attempt(&trip_id).cloned() else {
            continue;
        };
        if !matches!(attempt.phase, Phase::AwaitTraveller { told: true, .. })
            || w.db.trips[t].cancel_requested
        {
            continue;
        }
        let Some(pi) = attempt.payment_intent.clone() else {
            continue;
        };
        let plan = match plan {
            Plan::Random => match w.rng.below(4) {
                0 => Plan::Confirm,
                1 => Plan::FailThenConfirm,
                2 => Plan::AnotherCard,
                _ => Plan::ConfirmThenCancel,
            },
            other => other,
        };
        let now = w.now;
        let status = w.stripe.intent_status(&pi);
        match plan {
            Plan::Nothing => {}
            Plan::AnotherCard => {
                let row = &mut w.db.trips[t];
                if row.traveller_request.is_none() {
                    row.payment_method = Some("pm_card_visa");
                    row.traveller_request = Some((attempt.attempt_id.clone(), "another_card"));
                    row.next_check_at = now;
                }
            }
            Plan::FailThenConfirm if !w.stripe.failed_once(&pi) => {
                w.stripe.authenticate(&pi, false);
            }
            Plan::Confirm | Plan::FailThenConfirm => {
                if status == Some("requires_payment_method") {
                    w.stripe.authenticate(&pi, true);
                }
                w.db.trips[t].next_check_at = now;
            }
            Plan::ConfirmThenCancel => {
                if status == Some("requires_payment_method") {
                    w.stripe.authenticate(&pi, true);
                } else {
                    // `trips {cancel}` meets the open attempt: a pending cancel.
                    let row = &mut w.db.trips[t];
                    row.cancel_requested = true;
                    row.auto_book = false;
                    row.version += 1;
                }
            }
            Plan::Random => unreachable!(),
        }
    }
}
