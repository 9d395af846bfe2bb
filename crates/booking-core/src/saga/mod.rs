//! The money-safe booking saga: re-price → authorize → order → capture, as a pure state machine
//! over a persisted [`AttemptState`].
//!
//! # Driving it
//!
//! The saga's steps (`next`, `apply`) are private to the crate: functions drive it only through
//! the monitor's [`TripDriver`](crate::monitor::driver::TripDriver) and the one drive API
//! ([`crate::engine`]). Inside, one loop, the same for every run: `next(state)` says *send*
//! (persist the mark, send the request, `apply` the outcome, persist the result), *write*
//! (persist the state and its effects in one transaction), *wait until* (reschedule) or *done*.
//!
//! `persist` is a compare-and-set on [`AttemptState::version`]: if it fails another runner moved
//! the attempt, and this run stops. Because the *mark* (the state with `in_flight` set) is durable
//! before the request leaves, and the outcome is durable before the next request, a crash at any
//! point leaves a stored state that says exactly what may have happened: a run that loads an
//! in-flight state treats the request's outcome as unknown ([`Outcome::Lost`]).
//!
//! # States and transitions
//!
//! | phase | request (idempotency key) | outcome → next phase |
//! | --- | --- | --- |
//! | `reprice` | `GET /air/offers/{id}` | ok, same currency, total ≤ max, not expired → `authorize`; gone, dearer, other currency, expired → `finish(search_again)`; 429/5xx/no answer → retry ×4, then `finish(search_again)` |
//! | `authorize` | `POST /v1/payment_intents` (`<a>-authorize`) | `requires_capture` for the amount (compared in Stripe units) → `order`; card error (decline, `authentication_required`) → `release(needs_traveller)` if it named an intent, else `finish(needs_traveller)`; other 4xx → `release(fail)`, or `find_intent(fail)` when no intent is named; 409/429/5xx/no answer → retry same key ×6, then `find_intent(search_again)`; travellers no longer match → `finish(fail)` before the first try, `find_intent(fail)` (or `release(fail)` with a known intent) after it; a retry [`AUTHORIZE_RETRY_WINDOW_MS`] (20 h) or more after the attempt began → `find_intent(search_again)` (or `release`), reason `authorization_stale` (the key may have expired) |
//! | `await_traveller{deadline}` | `GET /v1/payment_intents/{pi}` (a read) | entered from `authorize` when Stripe answers `authentication_required` naming an intent for our amount (a 402 card error off-session, or `requires_action`): the intent is kept (no money held); the first `next` writes the traveller's `payment_needs_attention` notification (`<a>-authentication_required`) and a `needs_traveller` decision; then, every [`AWAIT_POLL_MS`] (or at once when the traveller says "done"): `requires_capture` for our amount → `reprice` with [`AttemptState::authorized`]; still `requires_payment_method` / `requires_action` / `processing` → wait; `canceled` → `finish(needs_traveller)`; another amount → `release(fail)`; the traveller's cancel → `release(search_again)` (`cancelled_by_traveller`; the pending cancel then cancels the trip); the traveller's other card → `release(search_again)` (`payment_method_changed`; the next attempt authorizes the new card); the deadline ([`AWAIT_TRAVELLER_MS`]) → `release(needs_traveller)` (`authentication_expired`); errors → retry until the deadline |
//! | `reprice` with `authorized` | `GET /air/offers/{id}` | as above, but the bound is the authorized amount (not the maximum) and a fresh total within it goes straight to `order` with that total: no second authorize; anything else releases the intent (`release(search_again)`) |
//! | `find_intent(end)` | `GET /v1/payment_intents/search` | a hold found → `release(end)`; none, 4 times 60 s apart (Search is eventually consistent) → `finish(end)`; errors → retry forever |
//! | `order` | `POST /air/orders` (no key: never re-sent; `metadata.attempt_id` and `metadata.offer_id`) | 201 → `capture` (order total or currency ≠ authorized: alert `order_total_mismatch`; unstorable PNR: alert `booking_reference_invalid`); definite refusal (offer gone, price changed, `order_not_created`) → `release(search_again)`, and `offer_no_longer_available` also marks the offer dead at the closing save ([`Effect::MarkOfferDead`]); other refusal → `release(fail)`; 429 → retry ×3, then `release(search_again)`; 5xx, timeout, lost, unreadable → `reconcile` |
//! | `reconcile` | `GET /air/orders?offer_id=…&limit=200[&after=…]` | each listed order matched on `metadata.attempt_id` (and `metadata.offer_id` when present; the filter is not trusted); ours → `capture` (same alerts); more pages (`meta.after`) → the next page at once, up to [`RECONCILE_MAX_PAGES`] per step, then the step stops (`order_lookup_incomplete`, not a miss) and goes on from the cursor 30 s later; a failed page restarts the look-up; none after the last page, 10 times with spacing 30 s doubling to 5 min (≥ 32 min) → `release(fail)` with reason `order_outcome_unknown`, never `search_again`; errors → retry forever |
//! | `capture` | `POST …/{pi}/capture` (`<a>-capture`, the authorized amount) | ok → `finish(booked)` (reason: the alert, else `captured`); refused → `finish(booked)` with reason `capture_failed` (ticketed: operators follow up); 409/429/5xx/no answer → retry forever, every 4th failure retrieving the intent first (see below) |
//! | `release(end)` | `POST …/{pi}/cancel` (`<a>-cancel`) | canceled (or already) → `finish(end)`; errors → retry forever, with the same retrieve rule |
//! | `finish(end)` | none: a durable write of the trip status (back to `watching` after a provider outage: next check [`OUTAGE_RECHECK_MS`] later), the dead offer, booking, notification and decision log | → `closed(end)` |
//! | `closed(end)` | none | done |
//!
//! Reasons are stable codes in the database's `booking_attempts_reason_format`: provider error
//! codes go through [`reason_code`]; once an end is decided (`find_intent`, `release`), retries
//! keep its reason. An `order_outcome_unknown` failure may leave a ticket the airline confirmed
//! after the window: the trip is `failed` with that reason and operators follow up.
//!
//! Stripe stores a 500 under its idempotency key and replays it for 24 hours, so a capture or
//! cancel that keeps failing would never get through on the same key. Every 4th failure the saga
//! retrieves the intent (`GET /v1/payment_intents/{pi}`): already `succeeded` or `canceled`
//! resolves the phase; still `requires_capture` moves to a new key generation
//! (`<a>-capture-2`, …), which is safe because Stripe captures or cancels an intent at most once.
//!
//! Invariants that follow from the table: nothing is authorized before a successful re-price; an
//! order is only sent while holding an authorization; every hold ends in `capture` or `release`;
//! the order request is sent at most once per attempt; `closed(booked)` implies a known order.

mod apply;
mod next;
pub mod retry;
mod state;

#[cfg(test)]
mod tests;

pub(crate) use apply::apply;
pub use apply::{
    reconcile_spacing_ms, INTENT_SEARCH_MISSES, INTENT_SEARCH_SPACING_MS,
    RECONCILE_FIRST_SPACING_MS, RECONCILE_MAX_PAGES, RECONCILE_MAX_SPACING_MS, RECONCILE_MISSES,
    RECONCILE_WINDOW_MS, RELEASE_MAX_BAD_READS, RELEASE_MAX_SENDS,
};
pub(crate) use next::is_stale;
pub(crate) use next::next;
pub use next::{
    AUTHORIZE_RETRY_WINDOW_MS, AWAIT_POLL_MS, AWAIT_TRAVELLER_MS, ORDER_HOLD_MAX_AGE_MS,
    OUTAGE_RECHECK_MS, QUOTE_FRESH_MS, RECONCILE_DEADLINE_MS,
};
pub use state::{
    reason_code, AttemptState, End, OrderRecord, Phase, TravellerRequest, REASON_MAX_LEN,
    SCHEMA_VERSION, UNKNOWN_BOOKING_REFERENCE,
};

use serde::Serialize;
use thiserror::Error;

use crate::duffel::order::{OrderPassenger, PricedOffer};
use crate::duffel::DuffelConfig;
use crate::http::HttpRequest;
use crate::money::Money;
use crate::time::Timestamp;
use crate::trip::TripStatus;

/// What the shim must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Command {
    /// Persist `mark` (compare-and-set on the previous version), then send `request` to
    /// `provider`, then feed the outcome to [`apply`] together with `mark`.
    Send {
        /// The state to make durable before sending (`in_flight` set, `tries` counted).
        mark: AttemptState,
        /// The request; Stripe writes carry their `Idempotency-Key` header.
        request: HttpRequest,
    },
    /// Persist `state` and apply `effects` in one transaction, then call [`next`] again.
    Write {
        /// The new attempt state.
        state: AttemptState,
        /// Other rows to write in the same transaction.
        effects: Vec<Effect>,
    },
    /// Nothing to do before this time (retry backoff); the monitor schedules the next run then.
    WaitUntil(Timestamp),
    /// The attempt is closed.
    Done(End),
}

/// What [`next`] reads besides the state: the Duffel settings and the travellers. None of it
/// is stored in the state (the travellers are personal data). No credential: requests name
/// their service and the executor adds it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context<'a> {
    /// Duffel settings (supplier timeout).
    pub duffel: &'a DuffelConfig,
    /// The passengers to ticket, in the order of the offer's passengers.
    pub travellers: &'a [OrderPassenger],
    /// What the traveller asked for while the attempt waits for them (read only in
    /// [`Phase::AwaitTraveller`]).
    pub traveller_request: Option<TravellerRequest>,
}

/// What came back from a request the saga sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// An HTTP response: status and raw body bytes.
    Response {
        /// HTTP status.
        status: u16,
        /// Body bytes as received.
        body: Vec<u8>,
    },
    /// The request timed out: it may or may not have been executed.
    Timeout,
    /// Connection failure: it may or may not have been executed.
    Network,
    /// The run that sent it died before seeing the answer (found `in_flight` on load).
    Lost,
}

/// The traveller notifications the booking saga enqueues (the outbox's `template` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// The booking is confirmed and paid.
    Booked,
    /// The card was declined or needs authentication: the traveller must act.
    PaymentNeedsAttention,
    /// The booking could not be made; nothing was charged.
    CouldNotBook,
}

impl Template {
    /// The snake_case name stored in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::PaymentNeedsAttention => "payment_needs_attention",
            Self::CouldNotBook => "could_not_book",
        }
    }
}

/// A durable write made with the attempt state, in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Effect {
    /// Move the trip from `booking` to `to` (compare-and-set on the status).
    SetTripStatus {
        /// Trip id.
        trip_id: String,
        /// New status (`booked`, `needs_traveller`, `watching`, `failed`).
        to: TripStatus,
        /// Stable reason code.
        reason: String,
        /// Back to `watching` after a provider outage: the next check (absent: at once), so
        /// attempts that a Stripe or Duffel outage ends are spaced ([`OUTAGE_RECHECK_MS`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        next_check_at: Option<Timestamp>,
    },
    /// The airline said the offer is gone (`offer_no_longer_available` at order time): mark the
    /// trip's offer dead and, when it is still the trip's selected offer, clear the selection, so
    /// the next run searches afresh and no later search or run selects it again. Written with the
    /// closing save (after `set_trip_status`).
    MarkOfferDead {
        /// Trip id.
        trip_id: String,
        /// The provider offer id (`off_…`).
        offer_id: String,
    },
    /// Insert the confirmed booking.
    RecordBooking {
        /// Trip id.
        trip_id: String,
        /// Attempt id.
        attempt_id: String,
        /// Duffel order id.
        order_id: String,
        /// Airline PNR.
        booking_reference: String,
        /// What was charged.
        amount: Money,
    },
    /// Enqueue a notification in the outbox (unique on `dedupe_key`).
    Notify {
        /// Trip id.
        trip_id: String,
        /// Which email.
        template: Template,
        /// `<attempt>-<template>`: enqueuing twice is a no-op.
        dedupe_key: String,
    },
    /// A `pipeline_events` row (stage `book`), no personal data.
    LogDecision {
        /// Trip id.
        trip_id: String,
        /// The end reached (`booked`, `needs_traveller`, `search_again`, `fail`).
        decision: End,
        /// Stable reason code.
        reason: String,
    },
}

/// Caller misuse of the saga API.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SagaError {
    /// `apply` was given a state that has no request in flight.
    #[error("no request is in flight for this attempt state")]
    NotInFlight,
    /// A stored snapshot could not be read.
    #[error("bad attempt snapshot: {0}")]
    BadSnapshot(&'static str),
}

impl SagaError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotInFlight => "saga_not_in_flight",
            Self::BadSnapshot(_) => "saga_bad_snapshot",
        }
    }
}

/// What starting an attempt needs; all ids and the seed are inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Begin {
    /// New attempt id (a UUID drawn by the shim).
    pub attempt_id: String,
    /// Trip id.
    pub trip_id: String,
    /// Selected provider offer id.
    pub offer_id: String,
    /// The trip's maximum total.
    pub max_total: Money,
    /// Stripe customer id.
    pub customer: String,
    /// Stripe saved payment method id.
    pub payment_method: String,
    /// Jitter seed.
    pub seed: u64,
}

/// The first state of an attempt whose offer the monitor re-priced moments ago, in the same run:
/// the quote passes the same checks as the saga's own re-price, so the attempt starts at
/// `authorize` and the offer is priced once before authorization (not twice). A quote for
/// another offer, or one the checks refuse, leaves the attempt at `reprice` (the saga prices
/// again itself; `decide` only books quotes within the maximum, so this is a guard).
pub fn begin_priced(params: Begin, quote: PricedOffer, now: Timestamp) -> AttemptState {
    let state = begin(params, now);
    if quote.id != state.offer_id {
        return state;
    }
    let priced = apply::accept_offer(state.clone(), now, quote);
    if priced.phase == Phase::Authorize {
        priced
    } else {
        state
    }
}

/// The first state of an attempt. The shim inserts it in the same transaction that moves the trip
/// `watching → booking` with a compare-and-set on the trip's version; the unique open-attempt
/// index makes a second insert fail.
pub fn begin(params: Begin, now: Timestamp) -> AttemptState {
    AttemptState {
        schema_version: SCHEMA_VERSION,
        attempt_id: params.attempt_id,
        trip_id: params.trip_id,
        offer_id: params.offer_id,
        max_total: params.max_total,
        customer: params.customer,
        payment_method: params.payment_method,
        seed: params.seed,
        version: 1,
        phase: Phase::Reprice,
        in_flight: false,
        tries: 0,
        not_before: None,
        amount: None,
        passenger_ids: Vec::new(),
        offer_rules: None,
        payment_intent: None,
        authorized: None,
        order: None,
        check_intent: false,
        key_generation: 0,
        lookup_misses: 0,
        lookup_cursor: None,
        lookup_pages: 0,
        offer_gone: false,
        cancel_refusals: 0,
        intent_read_refusals: 0,
        reason: None,
        alert: None,
        started_at: now,
        updated_at: now,
    }
}
