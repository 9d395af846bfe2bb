//! The input half: given the in-flight state and the request's outcome, the state to persist.

use super::retry::{backoff_ms, policy};
use super::state::{AttemptState, End, OrderRecord, Phase};
use super::{Outcome, SagaError};
use crate::duffel::order::{self, Reply};
use crate::stripe::{self, IntentStatus, PaymentIntent, StripeReply};
use crate::time::Timestamp;

/// Spacing between order (or intent) look-ups that find nothing, before concluding there is none.
pub const LOOKUP_SPACING_MS: i64 = 30_000;
/// Look-ups that must come back empty before an unknown outcome counts as "nothing happened".
pub const LOOKUP_MISSES: u32 = 2;

/// The state to persist after `mark`'s request ended with `outcome`.
pub fn apply(
    mark: &AttemptState,
    now: Timestamp,
    outcome: Outcome,
) -> Result<AttemptState, SagaError> {
    if !mark.in_flight {
        return Err(SagaError::NotInFlight);
    }
    Ok(resolve(mark, now, outcome))
}

/// [`apply`] without the misuse check; also used when a run finds a state left in flight.
pub(super) fn resolve(mark: &AttemptState, now: Timestamp, outcome: Outcome) -> AttemptState {
    let state = mark.successor(now);
    let (status, body) = match outcome {
        Outcome::Response { status, body } => (status, body),
        Outcome::Timeout | Outcome::Network | Outcome::Lost => {
            return match state.phase {
                // Never re-send an order whose outcome is unknown: look it up.
                Phase::Order => with_reason(state.enter(Phase::Reconcile), "order_outcome_unknown"),
                _ => retry(state, now, "no_answer"),
            };
        }
    };
    match state.phase {
        Phase::Reprice => on_reprice(state, now, status, &body),
        Phase::Authorize => on_authorize(state, now, status, &body),
        Phase::FindIntent => on_find_intent(state, now, status, &body),
        Phase::Order => on_order(state, now, status, &body),
        Phase::Reconcile => on_reconcile(state, now, status, &body),
        Phase::Capture => on_capture(state, now, status, &body),
        Phase::Release { end } => on_release(state, now, end, status, &body),
        Phase::Finish { .. } | Phase::Closed { .. } => state,
    }
}

fn on_reprice(state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    let offer = match order::classify_offer(status, body) {
        Ok(Reply::Ok(offer)) => offer,
        Ok(Reply::Refused(_)) => return state.end(End::SearchAgain, "offer_unavailable"),
        Ok(Reply::Retry(_) | Reply::Unknown(_)) => {
            return retry(state, now, "provider_unavailable")
        }
        Err(e) => return retry(state, now, e.code()),
    };
    let max = state.max_total;
    if offer.total.currency != max.currency {
        return state.end(End::SearchAgain, "currency_mismatch");
    }
    if offer.expires_at.is_some_and(|at| at <= now) {
        return state.end(End::SearchAgain, "offer_expired");
    }
    if offer.total.amount_minor > max.amount_minor {
        return state.end(End::SearchAgain, "over_budget");
    }
    if offer.passenger_ids.is_empty() {
        return state.end(End::Fail, "offer_without_passengers");
    }
    let mut state = state.enter(Phase::Authorize);
    state.amount = Some(offer.total);
    state.passenger_ids = offer.passenger_ids;
    state
}

fn on_authorize(mut state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    match stripe::classify(status, body) {
        Ok(StripeReply::Intent(pi)) => {
            state.payment_intent = Some(pi.id.clone());
            match pi.status {
                IntentStatus::RequiresCapture if holds_our_amount(&state, &pi) => {
                    state.enter(Phase::Order)
                }
                IntentStatus::RequiresCapture => state.end(End::Fail, "authorization_mismatch"),
                IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresAction => {
                    state.end(End::NeedsTraveller, "authentication_required")
                }
                // The same key replays the same answer; waiting lets the bound send us to a search.
                IntentStatus::Processing | IntentStatus::RequiresConfirmation => {
                    retry(state, now, "payment_processing")
                }
                IntentStatus::Canceled | IntentStatus::Succeeded => {
                    state.end(End::Fail, "payment_unexpected_state")
                }
            }
        }
        Ok(StripeReply::Card {
            code,
            payment_intent,
        }) => {
            state.payment_intent = payment_intent.map(|pi| pi.id).or(state.payment_intent);
            let mut state = state.end(End::NeedsTraveller, "card_error");
            state.reason = Some(code);
            state
        }
        Ok(StripeReply::Rejected {
            code,
            payment_intent,
            ..
        }) => {
            state.payment_intent = payment_intent.map(|pi| pi.id).or(state.payment_intent);
            let mut state = state.end(End::Fail, "payment_rejected");
            state.reason = Some(code);
            state
        }
        Ok(StripeReply::Retry { .. }) => retry(state, now, "provider_unavailable"),
        Err(e) => retry(state, now, e.code()),
    }
}

fn holds_our_amount(state: &AttemptState, pi: &PaymentIntent) -> bool {
    state.amount.is_some_and(|amount| {
        pi.amount == amount.amount_minor
            && pi.currency.eq_ignore_ascii_case(amount.currency.code())
            && pi
                .metadata
                .attempt_id
                .as_deref()
                .is_none_or(|a| a == state.attempt_id)
    })
}

fn on_find_intent(
    mut state: AttemptState,
    now: Timestamp,
    status: u16,
    body: &[u8],
) -> AttemptState {
    let (200, Ok(found)) = (status, stripe::parse_search(body)) else {
        return retry(state, now, "provider_unavailable");
    };
    let hold = found.into_iter().find(|pi| {
        pi.status != IntentStatus::Canceled
            && pi.metadata.attempt_id.as_deref() == Some(state.attempt_id.as_str())
    });
    if let Some(pi) = hold {
        state.payment_intent = Some(pi.id);
        return state.end(End::SearchAgain, "payment_provider_unavailable");
    }
    look_again(state, now, "payment_provider_unavailable")
}

fn on_order(mut state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    match order::classify_create(status, body) {
        Reply::Ok(found)
            if found
                .attempt_id
                .as_deref()
                .is_none_or(|a| a == state.attempt_id) =>
        {
            state.order = Some(OrderRecord {
                id: found.id,
                booking_reference: found.booking_reference,
            });
            state.enter(Phase::Capture)
        }
        Reply::Refused(code) => {
            let end = match code.as_str() {
                "offer_no_longer_available"
                | "price_changed"
                | "payment_amount_does_not_match_order_amount"
                | "order_not_created" => End::SearchAgain,
                _ => End::Fail,
            };
            let mut state = state.end(end, "order_refused");
            state.reason = Some(code);
            state
        }
        Reply::Retry(_) => retry(state, now, "provider_unavailable"),
        Reply::Ok(_) | Reply::Unknown(_) => {
            with_reason(state.enter(Phase::Reconcile), "order_outcome_unknown")
        }
    }
}

fn on_reconcile(mut state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    let Ok(Reply::Ok(orders)) = order::classify_find(status, body) else {
        return retry(state, now, "provider_unavailable");
    };
    let ours = orders
        .into_iter()
        .find(|o| !o.cancelled && o.attempt_id.as_deref() == Some(state.attempt_id.as_str()));
    match ours {
        Some(found) => {
            state.order = Some(OrderRecord {
                id: found.id,
                booking_reference: found.booking_reference,
            });
            with_reason(state.enter(Phase::Capture), "order_reconciled")
        }
        None => look_again(state, now, "order_not_created"),
    }
}

fn on_capture(state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    if state.check_intent {
        return on_retrieved(state, now, status, body);
    }
    match stripe::classify(status, body) {
        Ok(StripeReply::Intent(pi)) if pi.status == IntentStatus::Succeeded => {
            with_reason(state.enter(Phase::Finish { end: End::Booked }), "captured")
        }
        Ok(StripeReply::Intent(pi)) if pi.status == IntentStatus::RequiresCapture => {
            retry(state, now, "capture_pending")
        }
        // Ticketed but the money could not be taken (e.g. the hold expired): the booking stands
        // and operators follow up on the reason.
        Ok(StripeReply::Intent(_) | StripeReply::Card { .. } | StripeReply::Rejected { .. }) => {
            with_reason(
                state.enter(Phase::Finish { end: End::Booked }),
                "capture_failed",
            )
        }
        Ok(StripeReply::Retry { .. }) => retry(state, now, "provider_unavailable"),
        Err(e) => retry(state, now, e.code()),
    }
}

fn on_release(
    state: AttemptState,
    now: Timestamp,
    end: End,
    status: u16,
    body: &[u8],
) -> AttemptState {
    if state.check_intent {
        return on_retrieved(state, now, status, body);
    }
    let intent = match stripe::classify(status, body) {
        Ok(StripeReply::Intent(pi)) => Some(pi),
        Ok(
            StripeReply::Rejected { payment_intent, .. } | StripeReply::Card { payment_intent, .. },
        ) => payment_intent,
        Ok(StripeReply::Retry { .. }) => return retry(state, now, "provider_unavailable"),
        Err(e) => return retry(state, now, e.code()),
    };
    let reason = state.reason.clone();
    let mut done = state.enter(Phase::Finish { end });
    if intent.is_none_or(|pi| pi.status != IntentStatus::Canceled) {
        // Stripe refused to cancel and did not say the intent is cancelled: record it for
        // operators rather than loop on a request that cannot succeed.
        done.reason = Some("release_failed".to_owned());
    } else {
        done.reason = reason;
    }
    done
}

/// The answer to a retrieve made because a capture or cancel kept failing.
fn on_retrieved(mut state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    let Ok(StripeReply::Intent(pi)) = stripe::classify(status, body) else {
        return retry(state, now, "provider_unavailable");
    };
    let waiting = matches!(
        pi.status,
        IntentStatus::RequiresCapture
            | IntentStatus::RequiresPaymentMethod
            | IntentStatus::RequiresAction
    );
    match (state.phase, pi.status) {
        (Phase::Capture, IntentStatus::Succeeded) => {
            with_reason(state.enter(Phase::Finish { end: End::Booked }), "captured")
        }
        (Phase::Release { end }, IntentStatus::Canceled) => {
            let reason = state.reason.clone();
            let mut done = state.enter(Phase::Finish { end });
            done.reason = reason;
            done
        }
        (Phase::Capture, IntentStatus::RequiresCapture) | (Phase::Release { .. }, _) if waiting => {
            // The write never happened: send it again now, under a fresh key.
            state.check_intent = false;
            state.key_generation += 1;
            state.not_before = None;
            state
        }
        (Phase::Release { end }, _) => {
            with_reason(state.enter(Phase::Finish { end }), "release_failed")
        }
        _ => with_reason(
            state.enter(Phase::Finish { end: End::Booked }),
            "capture_failed",
        ),
    }
}

/// A look-up found nothing: look once more after a pause, then conclude nothing happened.
fn look_again(mut state: AttemptState, now: Timestamp, reason: &str) -> AttemptState {
    state.lookup_misses += 1;
    if state.lookup_misses >= LOOKUP_MISSES {
        return state.end(End::SearchAgain, reason);
    }
    state.not_before = Some(now.plus_ms(LOOKUP_SPACING_MS));
    state
}

/// Schedules another try of the phase's request, or gives the phase up after its bound.
fn retry(mut state: AttemptState, now: Timestamp, reason: &str) -> AttemptState {
    let policy = policy(state.phase);
    if policy.max_tries.is_some_and(|max| state.tries >= max) {
        return match state.phase {
            Phase::Authorize => with_reason(state.enter(Phase::FindIntent), reason),
            _ => state.end(End::SearchAgain, "provider_unavailable"),
        };
    }
    state.not_before = Some(now.plus_ms(backoff_ms(policy, state.tries, state.seed)));
    state.reason = Some(reason.to_owned());
    if matches!(state.phase, Phase::Capture | Phase::Release { .. }) && state.tries % 4 == 0 {
        state.check_intent = true;
    }
    state
}

fn with_reason(mut state: AttemptState, reason: &str) -> AttemptState {
    state.reason = Some(reason.to_owned());
    state
}
