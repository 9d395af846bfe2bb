//! The persisted saga state: one `booking_attempts` row, serialised as JSON with a schema version.

use serde::{Deserialize, Serialize};

use super::{SagaError, Template};
use crate::duffel::passengers::OfferRules;
use crate::money::Money;
use crate::time::Timestamp;
use crate::trip::TripStatus;

/// The schema version written into every snapshot. Bump it (and migrate) when the shape changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything the saga knows about one booking attempt. It holds no personal data: travellers
/// are passed to the saga's steps when needed and never stored here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptState {
    /// [`SCHEMA_VERSION`] at the time of writing.
    pub schema_version: u32,
    /// The attempt id: the root of every idempotency key.
    pub attempt_id: String,
    /// The trip being booked.
    pub trip_id: String,
    /// The provider offer id (`off_…`) selected for booking.
    pub offer_id: String,
    /// The traveller's ceiling: the re-priced total must not exceed it, in the same currency.
    pub max_total: Money,
    /// Stripe customer id.
    pub customer: String,
    /// Stripe saved payment method id.
    pub payment_method: String,
    /// Seed for retry jitter, drawn by the caller when the attempt began.
    pub seed: u64,
    /// Bumped on every transition; the shim persists with compare-and-set on it.
    pub version: u64,
    /// Where the saga is.
    pub phase: Phase,
    /// True while the phase's request may be on the wire: a run that loads a state with this set
    /// died (or lost the answer) after sending, and the outcome is unknown.
    pub in_flight: bool,
    /// Requests sent in the current phase (durably counted before sending).
    pub tries: u32,
    /// Earliest time the next request may go out (retry backoff, reconciliation spacing).
    pub not_before: Option<Timestamp>,
    /// The re-priced total: the amount authorized, paid to Duffel and captured.
    pub amount: Option<Money>,
    /// The offer's passenger ids, from the re-price, in order.
    pub passenger_ids: Vec<String>,
    /// What the re-priced offer says about its passengers (types, ages, identity documents
    /// required, last travel date; no personal data): the authorize check and the order body
    /// follow it. Absent from snapshots written before it existed: the order then pairs
    /// travellers with `passenger_ids` in order, as it did then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_rules: Option<OfferRules>,
    /// The PaymentIntent, once Stripe named one.
    pub payment_intent: Option<String>,
    /// On-session payment (issue 7): the amount the traveller's own 3-D Secure authorization
    /// holds on [`Self::payment_intent`], once Stripe reports it `requires_capture` after
    /// [`Phase::AwaitTraveller`]. While set, the re-price goes straight to `order` (never a
    /// second authorize) when the fresh total is at most this amount, in its currency; the
    /// order and the capture then use the fresh total (capture may be less, never more).
    /// Absent from older snapshots (read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized: Option<Money>,
    /// The Duffel order, once one is known to exist.
    pub order: Option<OrderRecord>,
    /// In `capture`/`release`: the next request is a retrieve of the intent instead of the write
    /// (after repeated failures, to see whether the write already happened).
    pub check_intent: bool,
    /// Idempotency-key generation for capture/cancel (see [`crate::stripe::step_key`]).
    pub key_generation: u32,
    /// Successful order look-ups that did not find the order (a look-up reads every page).
    pub lookup_misses: u32,
    /// In `reconcile`: the `meta.after` cursor of the next page of the current look-up (Duffel
    /// lists orders in pages; a look-up is only empty once its last page was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_cursor: Option<String>,
    /// In `reconcile`: pages read in the current look-up step (at most
    /// [`super::RECONCILE_MAX_PAGES`] before the step stops and continues later).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lookup_pages: u32,
    /// Duffel refused the order because the offer no longer exists (`offer_no_longer_available`):
    /// the closing save marks the offer dead, so it is never priced or authorized again.
    #[serde(default, skip_serializing_if = "is_false")]
    pub offer_gone: bool,
    /// In `release`: cancels Stripe refused (a 4xx that did not name a cancelled intent) while
    /// the intent stayed cancelable. Only these count towards [`super::RELEASE_MAX_SENDS`];
    /// outage retries (429/5xx/transport) never do. Absent from older snapshots (read as 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cancel_refusals: u32,
    /// In `release`: reads of the intent Stripe refused (404 `resource_missing`, 401, 403, …:
    /// a 4xx that is not an intent). At [`super::RELEASE_MAX_BAD_READS`] the attempt gives up
    /// for an operator. Absent from older snapshots (read as 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub intent_read_refusals: u32,
    /// Why the attempt ended the way it did, or the last provider error: always a stable code
    /// in the database's `booking_attempts_reason_format` (`^[a-z][a-z0-9_]{0,63}$`), provider
    /// strings pass through [`super::reason_code`]. Once an end is decided (`release`,
    /// `find_intent`) retries no longer overwrite it.
    pub reason: Option<String>,
    /// Something operators must follow up on although the attempt goes on (`order_total_mismatch`,
    /// `booking_reference_invalid`); it becomes the closing reason of a successful capture.
    /// Absent from snapshots written before it existed (read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// When the attempt began.
    pub started_at: Timestamp,
    /// When the state last changed.
    pub updated_at: Timestamp,
}

/// A confirmed Duffel order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// `ord_…` (checked by [`crate::duffel::order::is_valid_order_id`]).
    pub id: String,
    /// The airline PNR, always in the database's `bookings_booking_reference_format`
    /// (`^[A-Za-z0-9]{1,32}$`): a provider value outside it is stored as
    /// [`UNKNOWN_BOOKING_REFERENCE`] with the alert `booking_reference_invalid`.
    pub booking_reference: String,
}

/// The booking reference recorded when the provider's cannot be stored (operators follow up on
/// the alert `booking_reference_invalid`; the order id stays authoritative).
pub const UNKNOWN_BOOKING_REFERENCE: &str = "UNKNOWN";

/// The saga's phases. Each phase owns exactly one kind of request (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Phase {
    /// Re-price the offer: `GET /air/offers/{id}`.
    Reprice,
    /// Hold the funds: `POST /v1/payment_intents`, key `<attempt>-authorize`.
    Authorize,
    /// An authorization may have been sent but no PaymentIntent id is known: search intents by
    /// `metadata[attempt_id]`, release any hold found, then finish with `end`.
    FindIntent {
        /// How the attempt ends once no hold is left (snapshots without it: `search_again`).
        #[serde(default = "search_again")]
        end: End,
    },
    /// Book: `POST /air/orders`. Never re-sent; an unknown outcome goes to `Reconcile`.
    Order,
    /// Look the order up: `GET /air/orders?offer_id=…`, matched on `metadata.attempt_id`.
    Reconcile,
    /// The off-session authorize needed the traveller (`authentication_required`): the
    /// PaymentIntent is kept (it holds no money until the traveller authenticates) and the
    /// attempt waits for them until `deadline`, polling the intent with
    /// `GET /v1/payment_intents/{id}`. `requires_capture` → `reprice` with the hold
    /// ([`AttemptState::authorized`]); the traveller's cancel or "another card", or the deadline,
    /// → `release` (see the module docs).
    AwaitTraveller {
        /// When the wait ends: the intent is then cancelled and the trip `needs_traveller`.
        deadline: Timestamp,
        /// Whether the traveller was told (the notification and decision log are written once,
        /// by the first `next` in this phase).
        #[serde(default)]
        told: bool,
    },
    /// Take the money: `POST /v1/payment_intents/{id}/capture`, key `<attempt>-capture`.
    Capture,
    /// Release the hold: `POST /v1/payment_intents/{id}/cancel`, key `<attempt>-cancel`, then
    /// finish with `end`.
    Release {
        /// How the attempt ends once the hold is released.
        end: End,
    },
    /// Write the trip status, booking, notification and decision log with the closing state.
    Finish {
        /// How the attempt ends.
        end: End,
    },
    /// Terminal; the attempt row no longer counts as open.
    Closed {
        /// How the attempt ended.
        end: End,
    },
}

/// How an attempt ends, and the trip status it leaves behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Order confirmed and payment captured: trip `booked`.
    Booked,
    /// Declined or authentication required: trip `needs_traveller`, no retry loop.
    NeedsTraveller,
    /// Nothing charged, nothing booked; the offer went away, got dearer or the provider failed:
    /// trip back to `watching` to search again.
    SearchAgain,
    /// Nothing charged, nothing booked, and trying again will not help: trip `failed`.
    Fail,
}

fn search_again() -> End {
    End::SearchAgain
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl End {
    /// The trip status this end leaves (`docs/contracts.md` trip statuses).
    pub fn trip_status(self) -> TripStatus {
        match self {
            Self::Booked => TripStatus::Booked,
            Self::NeedsTraveller => TripStatus::NeedsTraveller,
            Self::SearchAgain => TripStatus::Watching,
            Self::Fail => TripStatus::Failed,
        }
    }

    /// The notification this end sends the traveller, if any.
    pub fn template(self) -> Option<Template> {
        match self {
            Self::Booked => Some(Template::Booked),
            Self::NeedsTraveller => Some(Template::PaymentNeedsAttention),
            Self::Fail => Some(Template::CouldNotBook),
            Self::SearchAgain => None,
        }
    }
}

impl AttemptState {
    /// Whether the attempt still counts as open (the unique open-attempt-per-trip index).
    pub fn is_open(&self) -> bool {
        !matches!(self.phase, Phase::Closed { .. })
    }

    /// Serialises the state for the `booking_attempts.state` column.
    pub fn to_snapshot(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored snapshot, refusing other schema versions.
    pub fn from_snapshot(json: &str) -> Result<Self, SagaError> {
        let state: Self = serde_json::from_str(json)
            .map_err(|_| SagaError::BadSnapshot("not an attempt state"))?;
        if state.schema_version != SCHEMA_VERSION {
            return Err(SagaError::BadSnapshot("unsupported schema version"));
        }
        Ok(state)
    }

    /// A successor state: version bumped, stamped `now`, request no longer in flight.
    pub(super) fn successor(&self, now: Timestamp) -> Self {
        let mut next = self.clone();
        next.version = self.version + 1;
        next.updated_at = now;
        next.in_flight = false;
        next
    }

    /// Moves to `phase`, resetting the per-phase counters.
    pub(super) fn enter(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self.tries = 0;
        self.not_before = None;
        self.lookup_misses = 0;
        self.lookup_cursor = None;
        self.lookup_pages = 0;
        self.check_intent = false;
        self
    }

    /// Ends the attempt: release the hold first when one may exist. A known intent is
    /// cancelled; an authorize that may have been sent without an answer naming its intent
    /// (`authorize` with `tries > 0`) is searched for first.
    pub(super) fn end(self, end: End, reason: &str) -> Self {
        let unsure = self.phase == Phase::Authorize && self.tries > 0;
        if self.payment_intent.is_none() && unsure && end != End::Booked {
            let mut next = self.enter(Phase::FindIntent { end });
            next.set_reason(reason);
            return next;
        }
        self.end_answered(end, reason)
    }

    /// Ends the attempt after Stripe answered the authorize definitively (a card error): only an
    /// intent the answer named can hold funds.
    pub(super) fn end_answered(self, end: End, reason: &str) -> Self {
        let mut next = if self.payment_intent.is_some() && end != End::Booked {
            self.enter(Phase::Release { end })
        } else {
            self.enter(Phase::Finish { end })
        };
        next.set_reason(reason);
        next
    }

    /// Sets the reason, sanitised to the database's reason format.
    pub(super) fn set_reason(&mut self, text: &str) {
        self.reason = Some(reason_code(text));
    }

    /// Whether the phase already carries a decided end whose reason retries must keep.
    pub(super) fn end_decided(&self) -> bool {
        matches!(
            self.phase,
            Phase::Release { .. } | Phase::FindIntent { .. } | Phase::Finish { .. }
        )
    }
}

/// What the traveller asked for while the attempt waits for them ([`Phase::AwaitTraveller`]),
/// as the monitor's claim reports it (`attempt.traveller_request`). Confirming the payment needs
/// no request: the saga reads the intent's status from Stripe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TravellerRequest {
    /// The traveller cancelled the trip: release the intent, the trip is then cancelled.
    Cancel,
    /// The traveller chose another default card: cancel this intent first; the next attempt
    /// authorizes the new card.
    AnotherCard,
}

impl TravellerRequest {
    /// Reads the claim's code (`cancel`, `another_card`); anything else is no request.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "cancel" => Some(Self::Cancel),
            "another_card" => Some(Self::AnotherCard),
            _ => None,
        }
    }
}

/// Longest reason code (`booking_attempts_reason_format`: `^[a-z][a-z0-9_]{0,63}$`).
pub const REASON_MAX_LEN: usize = 64;

/// Turns any text (a Stripe or Duffel error code, possibly hostile) into a reason code the
/// database accepts: ASCII lower case, runs of anything outside `[a-z0-9]` become one `_`,
/// leading/trailing `_` dropped, a leading digit prefixed with `code_`, at most
/// [`REASON_MAX_LEN`] characters; nothing usable left gives `unknown`.
pub fn reason_code(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() > REASON_MAX_LEN + 8 {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "code_");
    }
    out.truncate(REASON_MAX_LEN);
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        "unknown".to_owned()
    } else {
        out
    }
}
