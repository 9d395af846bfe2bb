//! The input half: given the in-flight state and the request's outcome, the state to persist.

use super::retry::{backoff_ms, policy};
use super::state::{AttemptState, End, OrderRecord, Phase, UNKNOWN_BOOKING_REFERENCE};
use super::{Outcome, SagaError};
use crate::duffel::order::{self, is_valid_booking_reference, Order, PricedOffer, Reply};
use crate::stripe::{self, IntentStatus, PaymentIntent, StripeReply};
use crate::time::Timestamp;

/// Empty intent searches, [`INTENT_SEARCH_SPACING_MS`] apart, before concluding that an
/// authorization whose answer was lost created no hold. Stripe Search is eventually consistent
/// (about a minute): four searches a minute apart span three minutes.
pub const INTENT_SEARCH_MISSES: u32 = 4;
/// Spacing between intent searches that find nothing.
pub const INTENT_SEARCH_SPACING_MS: i64 = 60_000;

/// Order look-ups that must find nothing before an unknown order outcome is given up on. The
/// airline may confirm late (Duffel 202, a 5xx after ticketing, a lost response), so the
/// look-ups back off ([`reconcile_spacing_ms`]) over [`RECONCILE_WINDOW_MS`]; after that the hold
/// is released and the attempt ends `fail` with reason `order_outcome_unknown` (never
/// `search_again`: a second booking could follow a late first one).
pub const RECONCILE_MISSES: u32 = 10;
/// First spacing between empty order look-ups; it doubles up to [`RECONCILE_MAX_SPACING_MS`].
pub const RECONCILE_FIRST_SPACING_MS: i64 = 30_000;
/// Largest spacing between empty order look-ups.
pub const RECONCILE_MAX_SPACING_MS: i64 = 300_000;
/// The least time between the first and the last empty look-up (32.5 minutes).
pub const RECONCILE_WINDOW_MS: i64 = {
    let mut total = 0;
    let mut misses = 1;
    while misses < RECONCILE_MISSES {
        total += reconcile_spacing_ms(misses);
        misses += 1;
    }
    total
};

/// Pages one reconcile step reads at most (each [`order::ORDER_PAGE_LIMIT`] orders). A look-up
/// that needs more stops there: it is not empty (an order may be on a later page), so it goes
/// on from the stored cursor after [`RECONCILE_FIRST_SPACING_MS`], and only a look-up whose last
/// page was read counts as a miss.
pub const RECONCILE_MAX_PAGES: u32 = 5;

/// The wait after the `misses`-th empty order look-up (`misses ≥ 1`).
pub const fn reconcile_spacing_ms(misses: u32) -> i64 {
    let shift = if misses > 8 {
        8
    } else {
        misses.saturating_sub(1)
    };
    let spacing = RECONCILE_FIRST_SPACING_MS << shift;
    if spacing > RECONCILE_MAX_SPACING_MS {
        RECONCILE_MAX_SPACING_MS
    } else {
        spacing
    }
}

/// The state to persist after `mark`'s request ended with `outcome`.
pub(crate) fn apply(
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
        Phase::FindIntent { .. } => on_find_intent(state, now, status, &body),
        Phase::AwaitTraveller { deadline, .. } => on_await(state, now, deadline, status, &body),
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
    accept_offer(state, now, offer)
}

/// The rules a fresh price must pass before anything is authorized (same currency, not expired,
/// within the maximum, passengers known): `authorize` with the amount, else the attempt ends.
pub(crate) fn accept_offer(
    state: AttemptState,
    now: Timestamp,
    offer: PricedOffer,
) -> AttemptState {
    if let Some(held) = state.authorized {
        return accept_on_hold(state, now, offer, held);
    }
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
    state.offer_rules = Some(offer.rules);
    state
}

/// The re-price after the traveller authenticated on-session: the intent already holds `held`.
/// A fresh total in its currency, not expired, at most `held` (and the maximum) orders with that
/// total at once (capture may be less than the hold, never more); anything else releases the
/// hold and the trip watches again. Never a second authorize.
fn accept_on_hold(
    state: AttemptState,
    now: Timestamp,
    offer: PricedOffer,
    held: crate::money::Money,
) -> AttemptState {
    if offer.total.currency != held.currency {
        return state.end(End::SearchAgain, "currency_mismatch");
    }
    if offer.expires_at.is_some_and(|at| at <= now) {
        return state.end(End::SearchAgain, "offer_expired");
    }
    if offer.total.amount_minor > held.amount_minor
        || offer.total.amount_minor > state.max_total.amount_minor
    {
        return state.end(End::SearchAgain, "over_authorized_amount");
    }
    if offer.passenger_ids.is_empty() {
        return state.end(End::Fail, "offer_without_passengers");
    }
    let mut state = state.enter(Phase::Order);
    state.amount = Some(offer.total);
    state.passenger_ids = offer.passenger_ids;
    state.offer_rules = Some(offer.rules);
    state
}

/// `authentication_required` naming an intent for our amount: keep the intent (it holds no
/// money) and wait for the traveller on-session ([`Phase::AwaitTraveller`]).
fn await_traveller(mut state: AttemptState, now: Timestamp, pi: &PaymentIntent) -> AttemptState {
    state.payment_intent = Some(pi.id.clone());
    let deadline = now.plus_ms(super::AWAIT_TRAVELLER_MS);
    let mut state = state.enter(Phase::AwaitTraveller {
        deadline,
        told: false,
    });
    state.set_reason("authentication_required");
    state
}

/// The intent's status while the attempt waits for the traveller.
fn on_await(
    state: AttemptState,
    now: Timestamp,
    deadline: Timestamp,
    status: u16,
    body: &[u8],
) -> AttemptState {
    let pi = match stripe::classify(status, body) {
        Ok(StripeReply::Intent(pi)) => pi,
        Ok(_) => return retry(state, now, "provider_unavailable"),
        Err(e) => return retry(state, now, e.code()),
    };
    match pi.status {
        IntentStatus::RequiresCapture if holds_our_amount(&state, &pi) => {
            // Authenticated: a hold for our amount. Price again before ordering on it.
            let mut next = state.enter(Phase::Reprice);
            next.authorized = next.amount;
            next.set_reason("authenticated");
            next
        }
        IntentStatus::RequiresCapture => state.end(End::Fail, "authorization_mismatch"),
        IntentStatus::Canceled => with_reason(
            state.enter(Phase::Finish {
                end: End::NeedsTraveller,
            }),
            "payment_canceled",
        ),
        IntentStatus::Succeeded => state.end(End::Fail, "payment_unexpected_state"),
        IntentStatus::RequiresPaymentMethod
        | IntentStatus::RequiresAction
        | IntentStatus::RequiresConfirmation
        | IntentStatus::Processing => {
            let mut waiting = state;
            waiting.tries = 0;
            waiting.not_before = Some(super::next::await_wake(now, deadline));
            waiting.set_reason("awaiting_authentication");
            waiting
        }
    }
}

fn on_authorize(mut state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    match stripe::classify(status, body) {
        Ok(StripeReply::Intent(pi))
            if pi.status == IntentStatus::RequiresAction && holds_our_amount(&state, &pi) =>
        {
            await_traveller(state, now, &pi)
        }
        Ok(StripeReply::Card {
            code,
            payment_intent: Some(pi),
        }) if code == "authentication_required" && holds_our_amount(&state, &pi) => {
            await_traveller(state, now, &pi)
        }
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
            state.end_answered(End::NeedsTraveller, &code)
        }
        Ok(StripeReply::Rejected {
            code,
            payment_intent,
            ..
        }) => {
            state.payment_intent = payment_intent.map(|pi| pi.id).or(state.payment_intent);
            // Not a card answer: when it names no intent, search for one before finishing.
            state.end(End::Fail, &code)
        }
        Ok(StripeReply::Retry { .. }) => retry(state, now, "provider_unavailable"),
        Err(e) => retry(state, now, e.code()),
    }
}

/// Whether the intent holds exactly the re-priced amount, compared in Stripe's unit.
fn holds_our_amount(state: &AttemptState, pi: &PaymentIntent) -> bool {
    state.amount.is_some_and(|amount| {
        stripe::is_same_amount(amount, pi.amount, &pi.currency)
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
    let Phase::FindIntent { end } = state.phase else {
        return state;
    };
    let (200, Ok(found)) = (status, stripe::parse_search(body)) else {
        return retry(state, now, "provider_unavailable");
    };
    let hold = found.into_iter().find(|pi| {
        pi.status != IntentStatus::Canceled
            && pi.metadata.attempt_id.as_deref() == Some(state.attempt_id.as_str())
    });
    if let Some(pi) = hold {
        state.payment_intent = Some(pi.id);
        return state.enter(Phase::Release { end });
    }
    // Search is eventually consistent: only several empty answers, spread out, mean "no hold".
    state.lookup_misses += 1;
    if state.lookup_misses >= INTENT_SEARCH_MISSES {
        return state.enter(Phase::Finish { end });
    }
    state.not_before = Some(now.plus_ms(INTENT_SEARCH_SPACING_MS));
    state
}

fn on_order(state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    match order::classify_create(status, body) {
        Reply::Ok(found)
            if found
                .attempt_id
                .as_deref()
                .is_none_or(|a| a == state.attempt_id) =>
        {
            learn_order(state, found)
        }
        Reply::Refused(code) => {
            let mut state = state;
            // The airline says the offer is gone: it must never be authorized again.
            state.offer_gone = code == "offer_no_longer_available";
            let end = match code.as_str() {
                "offer_no_longer_available"
                | "price_changed"
                | "payment_amount_does_not_match_order_amount"
                | "order_not_created" => End::SearchAgain,
                _ => End::Fail,
            };
            state.end(end, &code)
        }
        Reply::Retry(_) => retry(state, now, "provider_unavailable"),
        Reply::Ok(_) | Reply::Unknown(_) => {
            with_reason(state.enter(Phase::Reconcile), "order_outcome_unknown")
        }
    }
}

/// A confirmed order of ours: record it (with a storable booking reference) and capture. The
/// capture is always the authorized amount, never the order's total; a total or currency that
/// differs from it, or a reference the database cannot store, raises an alert for operators.
fn learn_order(mut state: AttemptState, found: Order) -> AttemptState {
    let booking_reference = if is_valid_booking_reference(&found.booking_reference) {
        found.booking_reference
    } else {
        state.alert = Some("booking_reference_invalid".to_owned());
        UNKNOWN_BOOKING_REFERENCE.to_owned()
    };
    if state.amount != Some(found.total) {
        state.alert = Some("order_total_mismatch".to_owned());
    }
    state.order = Some(OrderRecord {
        id: found.id,
        booking_reference,
    });
    state.enter(Phase::Capture)
}

fn on_reconcile(mut state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    let Ok(Reply::Ok(page)) = order::classify_find_page(status, body) else {
        // The look-up starts again from its first page (a cursor may have gone stale).
        state.lookup_cursor = None;
        state.lookup_pages = 0;
        return retry(state, now, "provider_unavailable");
    };
    // Duffel may ignore the `offer_id` filter: every listed order is matched on its metadata.
    let ours = page.orders.into_iter().find(|o| {
        !o.cancelled
            && o.attempt_id.as_deref() == Some(state.attempt_id.as_str())
            && o.offer_id.as_deref().is_none_or(|id| id == state.offer_id)
    });
    if let Some(found) = ours {
        return with_reason(learn_order(state, found), "order_reconciled");
    }
    state.lookup_pages += 1;
    match page.after {
        Some(cursor) if order::is_usable_cursor(&cursor) => {
            state.lookup_cursor = Some(cursor);
            if state.lookup_pages >= RECONCILE_MAX_PAGES {
                // Not "no order": the rest of the list is read in the next step.
                state.lookup_pages = 0;
                state.not_before = Some(now.plus_ms(RECONCILE_FIRST_SPACING_MS));
                state.set_reason("order_lookup_incomplete");
            }
            state
        }
        Some(_) => {
            // A cursor that cannot be followed: the look-up is incomplete; start it again.
            state.lookup_cursor = None;
            state.lookup_pages = 0;
            retry(state, now, "provider_bad_response")
        }
        None => {
            // The whole list was read and our order is not in it. Never "nothing happened": the
            // airline may still confirm. Look again, backing off, and after the window release
            // the hold and fail for operators to follow up.
            state.lookup_cursor = None;
            state.lookup_pages = 0;
            state.lookup_misses += 1;
            if state.lookup_misses >= RECONCILE_MISSES {
                return state.end(End::Fail, "order_outcome_unknown");
            }
            state.not_before = Some(now.plus_ms(reconcile_spacing_ms(state.lookup_misses)));
            state.set_reason("order_outcome_unknown");
            state
        }
    }
}

fn on_capture(state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    if state.check_intent {
        return on_retrieved(state, now, status, body);
    }
    match stripe::classify(status, body) {
        Ok(StripeReply::Intent(pi)) if pi.status == IntentStatus::Succeeded => captured(state),
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
    if intent
        .as_ref()
        .is_some_and(|pi| pi.status == IntentStatus::Canceled)
    {
        let reason = state.reason.clone();
        let mut done = state.enter(Phase::Finish { end });
        done.reason = reason;
        return done;
    }
    // Stripe refused the cancel without saying the intent is cancelled (e.g. 400
    // `payment_intent_unexpected_state` while the traveller's 3-D Secure is `processing`): the
    // intent may still become a hold, so never close here. Read the intent at once and decide
    // from its status (`on_retrieved`). Only such refusals count towards the bound.
    let mut state = state;
    state.cancel_refusals += 1;
    state.check_intent = true;
    state.not_before = None;
    state
}

/// Cancels Stripe may refuse in one `release` (counted in `cancel_refusals`; an outage retry
/// never counts) before the attempt gives up: a retrieve after the last refusal that finds the
/// intent still cancelable ends it with `give_up_hold`.
pub const RELEASE_MAX_SENDS: u32 = 5;

/// Reads of the intent Stripe may refuse in one `release` (404 `resource_missing`, 401, 403:
/// counted in `intent_read_refusals`; 429/5xx never count) before the attempt gives up with
/// `give_up_hold`.
pub const RELEASE_MAX_BAD_READS: u32 = 5;

/// A release that cannot be completed: the hold may still exist. The attempt closes
/// `release_failed` with end `fail`: the trip goes to `failed`, so no new attempt starts (never a
/// second hold or charge), and the alert rule `hold_not_released` raises an operator alert for
/// the attempt (for a card hold's life, 7 days).
fn give_up_hold(state: AttemptState) -> AttemptState {
    with_reason(
        state.enter(Phase::Finish { end: End::Fail }),
        "release_failed",
    )
}

/// A release that found the intent `succeeded`: the money was taken and the release has no
/// ticket to show for it. Closed like [`give_up_hold`] (trip `failed`, never re-booked), with
/// its own reason `captured_not_released`, so the alert rule `captured_not_released` keeps an
/// operator alert open until a person refunds the charge and resolves it (it never lapses: a
/// capture, unlike a hold, does not expire).
fn captured_without_ticket(state: AttemptState) -> AttemptState {
    with_reason(
        state.enter(Phase::Finish { end: End::Fail }),
        "captured_not_released",
    )
}

/// The answer to a retrieve made because a capture or cancel kept failing.
fn on_retrieved(mut state: AttemptState, now: Timestamp, status: u16, body: &[u8]) -> AttemptState {
    let pi = match stripe::classify(status, body) {
        Ok(StripeReply::Intent(pi)) => pi,
        Ok(StripeReply::Rejected { .. } | StripeReply::Card { .. })
            if matches!(state.phase, Phase::Release { .. }) =>
        {
            // Not an outage: the read itself is refused (the intent is unknown to this key, or
            // the key lacks access). Bounded, then an operator looks.
            state.intent_read_refusals += 1;
            if state.intent_read_refusals >= RELEASE_MAX_BAD_READS {
                return give_up_hold(state);
            }
            return retry(state, now, "intent_unreadable");
        }
        _ => return retry(state, now, "provider_unavailable"),
    };
    match (state.phase, pi.status) {
        (Phase::Capture, IntentStatus::Succeeded) => captured(state),
        (Phase::Capture, IntentStatus::RequiresCapture) => {
            // The write never happened: send it again now, under a fresh key.
            state.check_intent = false;
            state.key_generation += 1;
            state.not_before = None;
            state
        }
        (Phase::Capture, _) => with_reason(
            state.enter(Phase::Finish { end: End::Booked }),
            "capture_failed",
        ),
        (Phase::Release { end }, status) => release_read(state, now, end, status),
        _ => state,
    }
}

/// What a release does with the intent it read. Every status is named (no wildcard): a status
/// added to [`IntentStatus`] must be decided here, never fall through to a silent no-op.
fn release_read(
    mut state: AttemptState,
    now: Timestamp,
    end: End,
    status: IntentStatus,
) -> AttemptState {
    match status {
        IntentStatus::Canceled => {
            let reason = state.reason.clone();
            let mut done = state.enter(Phase::Finish { end });
            done.reason = reason;
            done
        }
        // Mid-authentication: Stripe refuses a cancel now but the intent will settle
        // (`requires_capture` or back to `requires_payment_method`). Read it again later, the
        // backoff growing; the attempt stays open (money-holding phases never give up).
        IntentStatus::Processing => retry(state, now, "payment_processing"),
        IntentStatus::RequiresCapture
        | IntentStatus::RequiresAction
        | IntentStatus::RequiresPaymentMethod
        | IntentStatus::RequiresConfirmation => {
            if state.cancel_refusals >= RELEASE_MAX_SENDS {
                return give_up_hold(state);
            }
            // Still cancelable: the cancel did not take. Send it again now under the next key
            // generation (a durable counter in the state, so a crash re-sends the same key; a
            // fresh key because Stripe replays a stored 5xx answer under the old one).
            state.check_intent = false;
            state.key_generation += 1;
            state.not_before = None;
            state
        }
        // Money taken without a ticket: an operator must refund it.
        IntentStatus::Succeeded => captured_without_ticket(state),
    }
}

/// The capture went through: booked, with the alert (if any) as the closing reason.
fn captured(state: AttemptState) -> AttemptState {
    let reason = state.alert.clone();
    let done = state.enter(Phase::Finish { end: End::Booked });
    with_reason(done, reason.as_deref().unwrap_or("captured"))
}

/// Schedules another try of the phase's request, or gives the phase up after its bound.
fn retry(mut state: AttemptState, now: Timestamp, reason: &str) -> AttemptState {
    let policy = policy(state.phase);
    if policy.max_tries.is_some_and(|max| state.tries >= max) {
        // An authorize without a named intent goes to `find_intent` (see `AttemptState::end`).
        return match state.phase {
            Phase::Authorize => state.end(End::SearchAgain, "payment_provider_unavailable"),
            _ => state.end(End::SearchAgain, "provider_unavailable"),
        };
    }
    let mut at = now.plus_ms(backoff_ms(policy, state.tries, state.seed));
    if let Phase::AwaitTraveller { deadline, .. } = state.phase {
        // A failing read never keeps the wait past its deadline.
        at = at.min(deadline);
    }
    state.not_before = Some(at);
    if !state.end_decided() {
        state.set_reason(reason);
    }
    if matches!(state.phase, Phase::Capture | Phase::Release { .. })
        && state.tries.is_multiple_of(4)
    {
        state.check_intent = true;
    }
    state
}

fn with_reason(mut state: AttemptState, reason: &str) -> AttemptState {
    state.set_reason(reason);
    state
}
