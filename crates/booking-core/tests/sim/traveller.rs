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
//! - `processing_then_cancel`: submits 3-D Secure (the intent is `processing`) and cancels the
//!   trip while it processes: the cancel meets a `processing` intent (Stripe refuses it), and only
//!   after that refusal does the intent settle into a hold, which must still be released;
//! - `cancel_during_reprice`: authenticates, and cancels once the monitor re-prices the hold
//!   (after the run read its claim): no order may follow;
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
    ProcessingThenCancel,
    CancelDuringReprice,
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
            "authentication_processing_cancel" => Self::ProcessingThenCancel,
            "authentication_request_races_reprice" => Self::CancelDuringReprice,
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
        if after_wait(w, t, &attempt) {
            continue;
        }
        if !matches!(attempt.phase, Phase::AwaitTraveller { told: true, .. })
            || w.db.trips[t].cancel_requested
        {
            continue;
        }
        let Some(pi) = attempt.payment_intent.clone() else {
            continue;
        };
        let plan = match plan {
            Plan::Random => match w.rng.below(6) {
                0 => Plan::Confirm,
                1 => Plan::FailThenConfirm,
                2 => Plan::AnotherCard,
                3 => Plan::ProcessingThenCancel,
                4 => Plan::CancelDuringReprice,
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
            Plan::ProcessingThenCancel => {
                if status == Some("requires_payment_method") {
                    w.stripe.start_processing(&pi);
                } else {
                    cancel(w, t);
                }
            }
            Plan::CancelDuringReprice => {
                if status == Some("requires_payment_method") {
                    w.stripe.authenticate(&pi, true);
                    w.db.trips[t].racing_cancel = true;
                }
                w.db.trips[t].next_check_at = now;
            }
            Plan::Random => unreachable!(),
        }
    }
}

/// `trips {cancel}` meets the open attempt: a pending cancel.
fn cancel(w: &mut World, t: usize) {
    let row = &mut w.db.trips[t];
    row.cancel_requested = true;
    row.auto_book = false;
    row.version += 1;
}

/// What a traveller does after the wait: a `processing` intent settles into a hold once a
/// cancel was refused for it (the release is reading it), and a traveller who authenticated
/// cancels once the monitor re-prices the hold. True when the attempt was handled here.
fn after_wait(w: &mut World, t: usize, attempt: &booking_core::saga::AttemptState) -> bool {
    let Some(pi) = attempt.payment_intent.clone() else {
        return false;
    };
    let status = w.stripe.intent_status(&pi);
    if status == Some("processing") {
        if matches!(attempt.phase, Phase::Release { .. }) && attempt.check_intent {
            w.stripe.settle(&pi);
        }
        return !matches!(attempt.phase, Phase::AwaitTraveller { .. });
    }
    if w.db.trips[t].racing_cancel
        && attempt.authorized.is_some()
        && matches!(attempt.phase, Phase::Reprice | Phase::Order)
        && !w.db.trips[t].cancel_requested
    {
        cancel(w, t);
        return true;
    }
    false
}
