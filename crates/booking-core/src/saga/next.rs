//! The output half: given the stored state and `now`, the next command.

use super::apply::resolve;
use super::state::{AttemptState, End, Phase};
use super::{Command, Context, Effect, Outcome};
use crate::duffel::build_get_offer_request;
use crate::duffel::order::{self, OrderPassenger};
use crate::http::HttpRequest;
use crate::stripe::{self, Authorize};
use crate::time::Timestamp;

/// The next command for `state` at `now`.
///
/// `ctx.travellers` are only read in the `authorize` phase (count check, before any money moves)
/// and the `order` phase, and never copied into the state. When they no longer match (the
/// travellers went missing mid-attempt) the attempt ends `fail` with `traveller_mismatch`, but
/// only after releasing any hold: a known intent is cancelled, and an authorize that may have
/// been sent without a known intent is first searched for (`find_intent`).
pub fn next(state: &AttemptState, now: Timestamp, ctx: &Context<'_>) -> Command {
    if state.in_flight {
        // The run that sent this phase's request died before recording the answer.
        return write(resolve(state, now, Outcome::Lost));
    }
    match state.phase {
        Phase::Closed { end } => return Command::Done(end),
        Phase::Finish { end } => return finish(state, now, end),
        _ => {}
    }
    if let Some(at) = state.not_before.filter(|at| *at > now) {
        return Command::WaitUntil(at);
    }
    if is_stale(state, now) {
        // Resumed too late for the phase's request to be safe: release whatever may be held
        // (a known intent is cancelled, a possible one searched for) and search again.
        return write(
            state
                .successor(now)
                .end(End::SearchAgain, "authorization_stale"),
        );
    }
    match request(state, ctx) {
        Ok(request) => {
            let mut mark = state.successor(now);
            mark.in_flight = true;
            mark.tries += 1;
            mark.not_before = None;
            Command::Send { mark, request }
        }
        Err((end, reason)) => write(state.successor(now).end(end, reason)),
    }
}

/// How long after an attempt began an authorize may still be retried: 20 hours, inside
/// Stripe's 24-hour idempotency-key lifetime (a retry after it would create a second intent
/// instead of replaying the first).
pub const AUTHORIZE_RETRY_WINDOW_MS: i64 = 20 * 60 * 60 * 1000;

/// How long after an attempt began an order may still be placed on its authorization: 5 days,
/// inside the 7 days a card hold lasts, so a ticket is never issued on a hold that may have
/// lapsed before the capture.
pub const ORDER_HOLD_MAX_AGE_MS: i64 = 5 * 24 * 60 * 60 * 1000;

/// Whether the attempt was resumed too late for its phase's request: a retried authorize past
/// [`AUTHORIZE_RETRY_WINDOW_MS`], or an order past [`ORDER_HOLD_MAX_AGE_MS`]. Normally the
/// saga runs its phases minutes apart; only an attempt left waiting (travellers unreadable, an
/// operator's hold, the monitor down) gets here.
fn is_stale(state: &AttemptState, now: Timestamp) -> bool {
    let age = now.unix_ms() - state.started_at.unix_ms();
    match state.phase {
        Phase::Authorize => state.tries > 0 && age >= AUTHORIZE_RETRY_WINDOW_MS,
        Phase::Order => age >= ORDER_HOLD_MAX_AGE_MS,
        _ => false,
    }
}

/// The phase's request, or the end to take instead when it cannot be built.
fn request(state: &AttemptState, ctx: &Context<'_>) -> Result<HttpRequest, (End, &'static str)> {
    let travellers = ctx.travellers;
    let attempt = state.attempt_id.as_str();
    let amount = || state.amount.ok_or((End::Fail, "saga_invariant"));
    let intent = || {
        state
            .payment_intent
            .as_deref()
            .ok_or((End::Fail, "saga_invariant"))
    };
    Ok(match state.phase {
        Phase::Reprice => build_get_offer_request(ctx.duffel, &state.offer_id)
            .map_err(|_| (End::Fail, "invalid_offer_id"))?,
        Phase::Authorize => {
            if travellers.len() != state.passenger_ids.len() {
                return Err((End::Fail, "traveller_mismatch"));
            }
            let params = Authorize {
                attempt_id: attempt,
                trip_id: &state.trip_id,
                amount: amount()?,
                customer: &state.customer,
                payment_method: &state.payment_method,
            };
            stripe::authorize_request(ctx.stripe, &params).map_err(|e| (End::Fail, e.code()))?
        }
        Phase::FindIntent { .. } => stripe::search_by_attempt_request(ctx.stripe, attempt),
        Phase::Order => {
            if travellers.len() != state.passenger_ids.len() {
                return Err((End::Fail, "traveller_mismatch"));
            }
            let passengers: Vec<OrderPassenger> = travellers
                .iter()
                .zip(&state.passenger_ids)
                .map(|(t, id)| OrderPassenger {
                    id: id.clone(),
                    ..t.clone()
                })
                .collect();
            order::create_order_request(
                ctx.duffel,
                &state.offer_id,
                &passengers,
                amount()?,
                attempt,
            )
        }
        Phase::Reconcile => order::find_orders_request(ctx.duffel, &state.offer_id),
        Phase::Capture | Phase::Release { .. } if state.check_intent => {
            stripe::retrieve_request(ctx.stripe, intent()?)
        }
        Phase::Capture => stripe::capture_request(
            ctx.stripe,
            attempt,
            intent()?,
            amount()?,
            state.key_generation,
        )
        .map_err(|e| (End::Fail, e.code()))?,
        Phase::Release { .. } => {
            stripe::cancel_request(ctx.stripe, attempt, intent()?, state.key_generation)
        }
        Phase::Finish { .. } | Phase::Closed { .. } => return Err((End::Fail, "saga_invariant")),
    })
}

fn write(state: AttemptState) -> Command {
    Command::Write {
        state,
        effects: Vec::new(),
    }
}

/// Closes the attempt and writes everything its end implies, in one transaction.
fn finish(state: &AttemptState, now: Timestamp, end: End) -> Command {
    let trip_id = state.trip_id.clone();
    let reason = state.reason.clone().unwrap_or_else(|| "none".to_owned());
    let mut effects = vec![Effect::SetTripStatus {
        trip_id: trip_id.clone(),
        to: end.trip_status(),
        reason: reason.clone(),
    }];
    if let (End::Booked, Some(order), Some(amount)) = (end, &state.order, state.amount) {
        effects.push(Effect::RecordBooking {
            trip_id: trip_id.clone(),
            attempt_id: state.attempt_id.clone(),
            order_id: order.id.clone(),
            booking_reference: order.booking_reference.clone(),
            amount,
        });
    }
    let template = match end {
        End::Booked => Some("booked"),
        End::NeedsTraveller => Some("payment_needs_attention"),
        End::Fail => Some("could_not_book"),
        End::SearchAgain => None,
    };
    if let Some(template) = template {
        effects.push(Effect::Notify {
            trip_id: trip_id.clone(),
            template,
            dedupe_key: format!("{}-{template}", state.attempt_id),
        });
    }
    effects.push(Effect::LogDecision {
        trip_id,
        decision: end,
        reason,
    });
    Command::Write {
        state: state.successor(now).enter(Phase::Closed { end }),
        effects,
    }
}
