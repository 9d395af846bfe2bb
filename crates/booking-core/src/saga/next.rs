//! The output half: given the stored state and `now`, the next command.

use super::apply::resolve;
use super::state::{AttemptState, End, Phase};
use super::{Command, Context, Effect, Outcome, Template, TravellerRequest};
use crate::duffel::build_get_offer_request;
use crate::duffel::order::{self, OrderPassenger};
use crate::duffel::passengers;
use crate::http::HttpRequest;
use crate::stripe::{self, Authorize};
use crate::time::Timestamp;

/// The next command for `state` at `now`.
///
/// `ctx.travellers` are only read in the `authorize` phase (the passenger check of
/// [`passengers::assign`]: count, types and ages, infants, identity documents; before any money
/// moves) and the `order` phase, and never copied into the state. A traveller problem found
/// before the first authorize ends the attempt `needs_traveller` with its code
/// (`too_many_infants`, `identity_document_missing`, `_expired`, `_unsupported`). When they no longer match (the
/// travellers went missing mid-attempt) the attempt ends `fail` with `traveller_mismatch`, but
/// only after releasing any hold: a known intent is cancelled, and an authorize that may have
/// been sent without a known intent is first searched for (`find_intent`).
pub(crate) fn next(state: &AttemptState, now: Timestamp, ctx: &Context<'_>) -> Command {
    if state.in_flight {
        // The run that sent this phase's request died before recording the answer.
        return write(resolve(state, now, Outcome::Lost));
    }
    match state.phase {
        Phase::Closed { end } => return Command::Done(end),
        Phase::Finish { end } => return finish(state, now, end),
        Phase::AwaitTraveller { deadline, told } => {
            if let Some(command) = await_traveller(state, now, ctx, deadline, told) {
                return command;
            }
        }
        Phase::Reprice | Phase::Order if state.authorized.is_some() => {
            if let Some(reason) = ctx.traveller_request.map(request_reason) {
                // The traveller's cancel or "another card" arrived while this attempt re-prices
                // the hold they authenticated (issue 7): release instead of ordering. The
                // database refuses to save an `order` on such a hold while a request is pending
                // (`monitor_save_attempt`, migration 20261204000100), so a run that read its
                // claim before the request stops there and the next run ends up here.
                return write(state.successor(now).end(End::SearchAgain, reason));
            }
        }
        _ => {}
    }
    if let Some(at) = state.not_before.filter(|at| *at > now) {
        return Command::WaitUntil(at);
    }
    let age = now.unix_ms() - state.started_at.unix_ms();
    if state.phase == Phase::Reconcile && age >= RECONCILE_DEADLINE_MS {
        // However the look-up fares (a long paged list, pages failing), an unknown order
        // outcome never waits longer than this: release the hold and fail for operators to
        // follow up, exactly as when the reconcile window runs out (never search again).
        return write(state.successor(now).end(End::Fail, "order_outcome_unknown"));
    }
    if state.phase == Phase::Authorize && state.tries == 0 && age >= QUOTE_FRESH_MS {
        // The quote the attempt began from (the monitor's re-price) is old: the run that began
        // it stopped before authorizing. Price again before any money is held.
        let mut again = state.successor(now).enter(Phase::Reprice);
        again.set_reason("quote_stale");
        return write(again);
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

/// How long the attempt waits for the traveller to authenticate the payment on-session
/// ([`Phase::AwaitTraveller`]) before it cancels the intent and ends `needs_traveller`
/// (`authentication_expired`): 24 hours from the authorize's answer.
pub const AWAIT_TRAVELLER_MS: i64 = 24 * 60 * 60 * 1000;

/// How often a waiting attempt reads its intent when neither the traveller's "done" nor a
/// Stripe webhook woke it earlier: 15 minutes.
pub const AWAIT_POLL_MS: i64 = 15 * 60 * 1000;

/// The next wake-up of a waiting attempt: the poll, never after the deadline.
pub(crate) fn await_wake(now: Timestamp, deadline: Timestamp) -> Timestamp {
    let poll = now.plus_ms(AWAIT_POLL_MS);
    if poll < deadline {
        poll
    } else {
        deadline
    }
}

/// [`Phase::AwaitTraveller`] before its read: tell the traveller once; then the traveller's
/// request (cancel, another card) and the deadline end the wait by releasing the intent, which
/// holds no money unless the traveller authenticated (a cancel then releases the hold: nothing
/// is charged without a ticket, and never two holds at once, since the next attempt can only
/// begin once this one is closed). `None`: read the intent (when due).
fn await_traveller(
    state: &AttemptState,
    now: Timestamp,
    ctx: &Context<'_>,
    deadline: Timestamp,
    told: bool,
) -> Option<Command> {
    if !told {
        let mut next = state.successor(now);
        next.phase = Phase::AwaitTraveller {
            deadline,
            told: true,
        };
        next.not_before = Some(await_wake(now, deadline));
        let template = Template::PaymentNeedsAttention;
        return Some(Command::Write {
            state: next,
            effects: vec![
                Effect::Notify {
                    trip_id: state.trip_id.clone(),
                    template,
                    dedupe_key: format!("{}-authentication_required", state.attempt_id),
                },
                Effect::LogDecision {
                    trip_id: state.trip_id.clone(),
                    decision: End::NeedsTraveller,
                    // Not the closing reason: the attempt stays open, waiting.
                    reason: "awaiting_authentication".to_owned(),
                },
            ],
        });
    }
    let reason = match ctx.traveller_request {
        Some(request) => request_reason(request),
        None if now >= deadline => {
            return Some(write(
                state
                    .successor(now)
                    .end(End::NeedsTraveller, "authentication_expired"),
            ))
        }
        None => return None,
    };
    Some(write(state.successor(now).end(End::SearchAgain, reason)))
}

/// The closing reason of a release the traveller's request caused.
fn request_reason(request: TravellerRequest) -> &'static str {
    match request {
        TravellerRequest::Cancel => "cancelled_by_traveller",
        TravellerRequest::AnotherCard => "payment_method_changed",
    }
}

/// How long a quote the attempt began from stays good for authorizing: a first authorize later
/// than this after the attempt began re-prices first (`quote_stale`).
pub const QUOTE_FRESH_MS: i64 = 10 * 60 * 1000;

/// The longest an unknown order outcome is looked up (from the attempt's start): 6 hours, far
/// past the ≥ 32-minute reconcile window, so a look-up that cannot finish (a very long or
/// failing paged list) still ends in `release(fail)` with `order_outcome_unknown`.
pub const RECONCILE_DEADLINE_MS: i64 = 6 * 60 * 60 * 1000;

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
pub(crate) fn is_stale(state: &AttemptState, now: Timestamp) -> bool {
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
            // Infants, documents and the count are checked before any money moves.
            order_passengers(state, travellers)?;
            let params = Authorize {
                attempt_id: attempt,
                trip_id: &state.trip_id,
                amount: amount()?,
                customer: &state.customer,
                payment_method: &state.payment_method,
            };
            stripe::authorize_request(&params).map_err(|e| (End::Fail, e.code()))?
        }
        Phase::FindIntent { .. } => stripe::search_by_attempt_request(attempt),
        Phase::AwaitTraveller { .. } => stripe::retrieve_request(intent()?),
        Phase::Order => {
            let passengers = order_passengers(state, travellers)?;
            order::create_order_request(
                ctx.duffel,
                &state.offer_id,
                &passengers,
                amount()?,
                attempt,
            )
        }
        Phase::Reconcile => {
            order::find_orders_request(ctx.duffel, &state.offer_id, state.lookup_cursor.as_deref())
        }
        Phase::Capture | Phase::Release { .. } if state.check_intent => {
            stripe::retrieve_request(intent()?)
        }
        Phase::Capture => {
            stripe::capture_request(attempt, intent()?, amount()?, state.key_generation)
                .map_err(|e| (End::Fail, e.code()))?
        }
        Phase::Release { .. } => stripe::cancel_request(attempt, intent()?, state.key_generation),
        Phase::Finish { .. } | Phase::Closed { .. } => return Err((End::Fail, "saga_invariant")),
    })
}

/// The order's passengers: the travellers paired with the re-priced offer's passengers
/// ([`passengers::assign`]: infants linked to adults, documents when required). A traveller
/// problem only the traveller can fix (documents, infants) ends `needs_traveller`; a mismatch
/// with the offer ends `fail` (`traveller_mismatch`). Snapshots from before `offer_rules` pair
/// them in order.
fn order_passengers(
    state: &AttemptState,
    travellers: &[OrderPassenger],
) -> Result<Vec<OrderPassenger>, (End, &'static str)> {
    if travellers.len() != state.passenger_ids.len() {
        return Err((End::Fail, "traveller_mismatch"));
    }
    match &state.offer_rules {
        Some(rules) => passengers::assign(travellers, rules).map_err(|e| {
            let end = if e.needs_traveller() {
                End::NeedsTraveller
            } else {
                End::Fail
            };
            (end, e.code())
        }),
        None => Ok(travellers
            .iter()
            .zip(&state.passenger_ids)
            .map(|(t, id)| OrderPassenger {
                id: id.clone(),
                infant_passenger_id: None,
                identity_documents: Vec::new(),
                ..t.clone()
            })
            .collect()),
    }
}

fn write(state: AttemptState) -> Command {
    Command::Write {
        state,
        effects: Vec::new(),
    }
}

/// How long a trip waits before its next check when a provider outage ended its attempt
/// (Stripe or Duffel unavailable through the phase's retries): such attempts do not count
/// towards the 3-in-24-hours limit, so without this spacing an outage would start a new attempt
/// every few minutes.
pub const OUTAGE_RECHECK_MS: i64 = 15 * 60 * 1000;

/// The closing reasons of a search-again end that a provider outage caused.
const OUTAGE_REASONS: [&str; 2] = ["payment_provider_unavailable", "provider_unavailable"];

/// Closes the attempt and writes everything its end implies, in one transaction.
fn finish(state: &AttemptState, now: Timestamp, end: End) -> Command {
    let trip_id = state.trip_id.clone();
    let reason = state.reason.clone().unwrap_or_else(|| "none".to_owned());
    let outage = end == End::SearchAgain && OUTAGE_REASONS.contains(&reason.as_str());
    let mut effects = vec![Effect::SetTripStatus {
        trip_id: trip_id.clone(),
        to: end.trip_status(),
        reason: reason.clone(),
        next_check_at: outage.then(|| now.plus_ms(OUTAGE_RECHECK_MS)),
    }];
    if state.offer_gone {
        effects.push(Effect::MarkOfferDead {
            trip_id: trip_id.clone(),
            offer_id: state.offer_id.clone(),
        });
    }
    if let (End::Booked, Some(order), Some(amount)) = (end, &state.order, state.amount) {
        effects.push(Effect::RecordBooking {
            trip_id: trip_id.clone(),
            attempt_id: state.attempt_id.clone(),
            order_id: order.id.clone(),
            booking_reference: order.booking_reference.clone(),
            amount,
        });
    }
    if let Some(template) = end.template() {
        effects.push(Effect::Notify {
            trip_id: trip_id.clone(),
            template,
            dedupe_key: format!("{}-{}", state.attempt_id, template.as_str()),
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
