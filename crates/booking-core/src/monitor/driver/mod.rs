//! The monitor's per-trip driver: one claimed trip, from taking its lock to releasing it, as a
//! pure state machine (`docs/contracts.md`, "The monitor").
//!
//! The shim (or the simulation harness) loops: [`TripDriver::poll`] returns a
//! [`DriverCommand`]; the shim executes it and feeds the outcome back with exactly one of
//! [`TripDriver::handle_http`], [`TripDriver::handle_transport`] (for `http`),
//! [`TripDriver::handle_sql`] or [`TripDriver::handle_sql_error`] (for `sql`), until the command
//! is `done`. Polling again before feeding an outcome returns the same command.
//!
//! # Flow
//!
//! 1. Lock: `SET lock:trip:<id> <token> NX PX <lease>` through Upstash REST. Held by another run
//!    → done `locked` (`lock_held`); Upstash failing → done `locked` (`lock_unavailable`): the
//!    trip stays leased and is due again after the claim lease. Money safety does not rest on
//!    the lock (the database's compare-and-set guards do), but without it two runs would waste
//!    provider calls on each other's work.
//! 2. An open attempt in the claim: drive the saga from its stored state (a state left in flight
//!    resolves as [`crate::saga::Outcome::Lost`] inside [`saga::next`]). The travellers are read
//!    first (`monitor_passengers`) when a later phase may need them.
//! 3. Otherwise by status: `searching`, or `watching` without a selected offer → search; too close
//!    to departure → `monitor_expire`; `watching` → re-price the selected offer, [`decide`]:
//!    - wait → `monitor_reschedule` → done `waiting`;
//!    - search again → search: `monitor_record_search` (or `_failure`) → done `searched`; except
//!      that when the recorded search selected an offer that [`decide`] would book on its fresh
//!      price, the driver goes on to book it in the same run (offers expire in about the time to
//!      the next check, so waiting would mostly find them gone);
//!    - expire → `monitor_expire` → done `expired`;
//!    - book → payment profile from the claim, travellers (`monitor_passengers`); either missing
//!      → `monitor_reschedule` with `payment_profile_missing` / `travelers_missing` (the trip stays
//!      `watching`, no attempt) → done `waiting`; else [`saga::begin`] →
//!      `monitor_begin_attempt` (not started → done `skipped`) → the saga loop.
//! 4. The saga loop: [`Command::Send`] → `monitor_save_attempt` of the mark (not saved → done
//!    `stopped`) → the request → [`saga::apply`] → `monitor_save_attempt`;
//!    [`Command::Write`] → `monitor_save_attempt` with its effects; [`Command::WaitUntil`] →
//!    `monitor_reschedule` (trip stays `booking`) → done `waiting`; [`Command::Done`] → done with
//!    the end's outcome.
//! 5. Before `done`, the lock is released (compare-and-delete `EVAL`) when it was taken.
//!
//! Provider calls (Duffel, Stripe; not Upstash) are counted; at the per-trip cap the driver stops
//! cleanly: `monitor_reschedule` with reason `call_cap` and the next check due at once.
//!
//! The travellers (personal data) live only in the driver's memory. They appear in no command
//! except the Duffel order body, and never in `Debug` output or errors.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;

use super::{
    decide, departure_lower_bound, next_check_at, Decision, Quote, TripView, CALLS_PER_TRIP,
};
use crate::duffel::order::{classify_offer, OrderPassenger, Reply};
use crate::duffel::{self, DuffelConfig};
use crate::error::{ProviderError, TransportFailure};
use crate::http::HttpRequest;
use crate::id::Uuid;
use crate::money::{Currency, Money};
use crate::saga::{self, AttemptState, Begin, Command, Context, End, Outcome, Phase};
use crate::search;
use crate::stripe::StripeConfig;
use crate::time::Timestamp;
use crate::trip::{Trip, TripStatus};
use crate::upstash::{self, UpstashConfig};

/// Longest error detail kept from a serde message (never a whole value).
const MAX_DETAIL_CHARS: usize = 200;

/// What the shim must do next for this trip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriverCommand {
    /// Perform the request (Duffel, Stripe or the Upstash lock), then feed the response with
    /// [`TripDriver::handle_http`] or the failure with [`TripDriver::handle_transport`].
    Http {
        /// The request.
        request: HttpRequest,
    },
    /// Run `select app.<function>($1::text::jsonb)` in its own transaction as `service_role`,
    /// then feed the result with [`TripDriver::handle_sql`] or the SQLSTATE with
    /// [`TripDriver::handle_sql_error`].
    Sql {
        /// One of the `monitor_*` functions of the contract.
        function: &'static str,
        /// The function's argument.
        args: Value,
    },
    /// Nothing more to do for this trip in this run.
    Done {
        /// How the trip's turn ended.
        outcome: DriverOutcome,
        /// Stable reason code.
        reason: String,
    },
}

/// How a trip's turn in a monitor run ended (the run's summary counts these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverOutcome {
    /// The attempt closed booked.
    Booked,
    /// Nothing to do until the next check (over budget, backoff, missing travellers, …).
    Waiting,
    /// A search ran and was recorded (successful or not).
    Searched,
    /// The trip expired.
    Expired,
    /// The attempt closed needing the traveller.
    NeedsTraveller,
    /// The attempt closed failed.
    Failed,
    /// Another run holds the trip's lock, or the lock could not be taken.
    Locked,
    /// Not this run's to handle (the trip changed, an attempt is already open, …).
    Skipped,
    /// Stopped early: another run moved the attempt, or the database refused a call.
    Stopped,
}

impl DriverOutcome {
    /// The outcome for a closed attempt.
    pub fn of_end(end: End) -> Self {
        match end {
            End::Booked => Self::Booked,
            End::NeedsTraveller => Self::NeedsTraveller,
            End::SearchAgain => Self::Waiting,
            End::Fail => Self::Failed,
        }
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Waiting => "waiting",
            Self::Searched => "searched",
            Self::Expired => "expired",
            Self::NeedsTraveller => "needs_traveller",
            Self::Failed => "failed",
            Self::Locked => "locked",
            Self::Skipped => "skipped",
            Self::Stopped => "stopped",
        }
    }
}

/// Provider and lock settings for a driver. `Debug` never shows a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// Duffel base URL and token.
    pub duffel: DuffelConfig,
    /// Stripe base URL and secret key.
    pub stripe: StripeConfig,
    /// Upstash REST URL and token (the per-trip lock).
    pub upstash: UpstashConfig,
    /// Lock lease in milliseconds; shorter than the function's wall clock.
    pub lock_lease_ms: u32,
    /// Provider calls one trip may make in one run ([`CALLS_PER_TRIP`] by default).
    pub max_provider_calls: u32,
}

#[derive(Deserialize)]
struct RawConfig {
    duffel: DuffelConfig,
    stripe: RawStripe,
    upstash: RawUpstash,
    lock_lease_ms: u32,
    #[serde(default)]
    max_provider_calls: Option<u32>,
}

#[derive(Deserialize)]
struct RawStripe {
    base_url: String,
    secret_key: String,
}

#[derive(Deserialize)]
struct RawUpstash {
    url: String,
    token: String,
}

impl DriverConfig {
    /// Reads `{"duffel":{"base_url","access_token"},"stripe":{"base_url","secret_key"},
    /// "upstash":{"url","token"},"lock_lease_ms":n,"max_provider_calls":n?}`.
    pub fn from_json(text: &str) -> Result<Self, DriverError> {
        let raw: RawConfig = serde_json::from_str(text)
            .map_err(|_| DriverError::InvalidConfig("not a driver config"))?;
        let stripe = StripeConfig::new(&raw.stripe.base_url, &raw.stripe.secret_key)
            .map_err(|_| DriverError::InvalidConfig("stripe"))?;
        let upstash = UpstashConfig::new(&raw.upstash.url, &raw.upstash.token)
            .map_err(|_| DriverError::InvalidConfig("upstash"))?;
        if raw.lock_lease_ms < 1_000 {
            return Err(DriverError::InvalidConfig("lock_lease_ms below 1000"));
        }
        Ok(Self {
            duffel: raw.duffel,
            stripe,
            upstash,
            lock_lease_ms: raw.lock_lease_ms,
            max_provider_calls: raw.max_provider_calls.unwrap_or(CALLS_PER_TRIP),
        })
    }
}

/// One claimed trip as `monitor_claim` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Claim {
    /// The trip row.
    pub trip: Trip,
    /// The selected offer, if any.
    #[serde(default)]
    pub selected_offer: Option<SelectedOffer>,
    /// The trip's open attempt, if any.
    #[serde(default)]
    pub attempt: Option<ClaimedAttempt>,
    /// The owner's payment profile, if any.
    #[serde(default)]
    pub payment: Option<PaymentProfile>,
}

impl Claim {
    /// Reads the claim JSON.
    pub fn from_json(text: &str) -> Result<Self, DriverError> {
        serde_json::from_str(text).map_err(|e| {
            DriverError::InvalidClaim(e.to_string().chars().take(MAX_DETAIL_CHARS).collect())
        })
    }
}

/// The selected offer's fields the monitor needs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SelectedOffer {
    /// Duffel's offer id (`off_…`).
    pub provider_offer_id: String,
    /// Total at the last search, in minor units.
    pub total_minor: i64,
    /// Currency of the total.
    pub currency: Currency,
    /// When the offer expires.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Local departure time of the first segment (no offset).
    #[serde(default)]
    pub departing_at: Option<chrono::NaiveDateTime>,
}

/// The open attempt of a claim.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ClaimedAttempt {
    /// The stored saga state.
    pub state: AttemptState,
}

/// Stripe objects of the trip's owner (never card data).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentProfile {
    /// Stripe customer id.
    pub customer: String,
    /// Saved payment method id.
    pub payment_method: String,
}

/// A traveller row from `monitor_passengers` (personal data).
#[derive(Deserialize)]
struct PassengerRow {
    title: String,
    gender: String,
    given_name: String,
    family_name: String,
    born_on: String,
    email: String,
    phone_number: String,
}

#[derive(Deserialize)]
struct PassengersResult {
    passengers: Option<Vec<PassengerRow>>,
}

/// Misuse of the driver, or inputs it cannot work with. Messages carry no personal data.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The claim JSON does not match the contract.
    #[error("claim does not match the contract: {0}")]
    InvalidClaim(String),
    /// The configuration cannot be used.
    #[error("invalid driver configuration: {0}")]
    InvalidConfig(&'static str),
    /// The attempt id is not a UUID, or the lock token is empty or not header-safe.
    #[error("invalid driver input: {0}")]
    InvalidInput(&'static str),
    /// An outcome was fed while no command was waiting for one (not polled yet, or done).
    #[error("no command is waiting for an outcome")]
    NotWaiting,
    /// An outcome of the wrong kind was fed (an HTTP answer for a SQL call or the reverse).
    #[error("the waiting command is {expected}, not this kind of outcome")]
    WrongOutcome {
        /// The kind of command that is waiting (`http` or `sql`).
        expected: &'static str,
    },
}

impl DriverError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidClaim(_) => "invalid_claim",
            Self::InvalidConfig(_) => "invalid_config",
            Self::InvalidInput(_) => "invalid_driver_input",
            Self::NotWaiting => "driver_not_waiting",
            Self::WrongOutcome { .. } => "driver_wrong_outcome",
        }
    }
}

crate::error::impl_error_code!(DriverError);

/// Work the driver can do without waiting for anything.
enum Ready {
    Lock,
    Route,
    Search,
    Reprice,
    Book,
    Saga(Box<AttemptState>),
    Finish(DriverOutcome, String),
}

/// What the command being waited on was for.
enum Await {
    Lock,
    Search,
    RecordSearch(String),
    /// A successful search that selected an offer: the answer may let the driver book it now.
    RecordSelected(String),
    Reprice,
    Reschedule(DriverOutcome, String),
    Expire(String),
    Passengers(Option<Box<AttemptState>>),
    Begin(Box<AttemptState>),
    SaveMark(Box<AttemptState>, Box<HttpRequest>),
    Send(Box<AttemptState>),
    Save(Box<AttemptState>),
    Unlock(DriverOutcome, String),
}

enum Stage {
    Ready(Ready),
    Waiting(DriverCommand, Await),
    Done(DriverOutcome, String),
}

enum Step {
    Ready(Ready),
    Wait(DriverCommand, Await),
}

enum HttpResult<'a> {
    Response(u16, &'a [u8]),
    Transport(TransportFailure),
}

/// The state machine for one claimed trip (see the module docs).
pub struct TripDriver {
    trip: Trip,
    selected_offer: Option<SelectedOffer>,
    attempt: Option<AttemptState>,
    payment: Option<PaymentProfile>,
    config: DriverConfig,
    attempt_id: String,
    seed: u64,
    lock_token: String,
    lock_key: String,
    lock_taken: bool,
    provider_calls: u32,
    travellers: Vec<OrderPassenger>,
    stage: Stage,
}

impl fmt::Debug for TripDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TripDriver")
            .field("trip_id", &self.trip.id.as_str())
            .field("status", &self.trip.status)
            .field("stage", &self.stage_name())
            .field("lock_taken", &self.lock_taken)
            .field("provider_calls", &self.provider_calls)
            .field("travellers", &self.travellers.len())
            .finish_non_exhaustive()
    }
}

impl TripDriver {
    /// A driver for `claim`. `attempt_id` (a UUID) names the attempt if this run starts one;
    /// `seed` drives the check-time and retry jitter; `lock_token` is this run's lock value.
    /// `_now` is accepted for symmetry with the other calls; nothing happens until [`Self::poll`].
    pub fn new(
        claim: Claim,
        config: DriverConfig,
        _now: Timestamp,
        attempt_id: &str,
        seed: u64,
        lock_token: &str,
    ) -> Result<Self, DriverError> {
        let attempt_id = Uuid::parse(attempt_id)
            .ok_or(DriverError::InvalidInput("attempt id is not a UUID"))?
            .as_str()
            .to_owned();
        if lock_token.is_empty()
            || lock_token.len() > 128
            || !lock_token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DriverError::InvalidInput("lock token"));
        }
        let lock_key = upstash::trip_lock_key(claim.trip.id.as_str());
        Ok(Self {
            trip: claim.trip,
            selected_offer: claim.selected_offer,
            attempt: claim.attempt.map(|a| a.state),
            payment: claim.payment,
            config,
            attempt_id,
            seed,
            lock_token: lock_token.to_owned(),
            lock_key,
            lock_taken: false,
            provider_calls: 0,
            travellers: Vec::new(),
            stage: Stage::Ready(Ready::Lock),
        })
    }

    /// The next command. Repeats the waiting command until its outcome is fed.
    pub fn poll(&mut self, now: Timestamp) -> DriverCommand {
        loop {
            let ready = match std::mem::replace(&mut self.stage, Stage::Ready(Ready::Route)) {
                Stage::Ready(ready) => ready,
                waiting @ Stage::Waiting(..) => {
                    self.stage = waiting;
                    break;
                }
                Stage::Done(outcome, reason) => {
                    self.stage = Stage::Done(outcome, reason);
                    break;
                }
            };
            self.stage = match self.advance(ready, now) {
                Step::Ready(Ready::Finish(outcome, reason)) if !self.lock_taken => {
                    Stage::Done(outcome, reason)
                }
                Step::Ready(Ready::Finish(outcome, reason)) => {
                    self.lock_taken = false;
                    let request = upstash::unlock_request(
                        &self.config.upstash,
                        &self.lock_key,
                        &self.lock_token,
                    );
                    Stage::Waiting(
                        DriverCommand::Http { request },
                        Await::Unlock(outcome, reason),
                    )
                }
                Step::Ready(ready) => Stage::Ready(ready),
                Step::Wait(command, on) => Stage::Waiting(command, on),
            };
        }
        match &self.stage {
            Stage::Waiting(command, _) => command.clone(),
            Stage::Done(outcome, reason) => DriverCommand::Done {
                outcome: *outcome,
                reason: reason.clone(),
            },
            Stage::Ready(_) => unreachable_ready(),
        }
    }

    /// Whether the driver has finished (its next poll returns `done`).
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(..))
    }

    /// Provider calls made so far.
    pub fn provider_calls(&self) -> u32 {
        self.provider_calls
    }

    /// Feeds the HTTP response to the waiting `http` command.
    pub fn handle_http(
        &mut self,
        now: Timestamp,
        status: u16,
        body: &[u8],
    ) -> Result<(), DriverError> {
        let on = self.take_waiting("http")?;
        let step = self.on_http(on, now, HttpResult::Response(status, body));
        self.stage = stage_of(step);
        Ok(())
    }

    /// Reports that the waiting `http` command got no answer (timeout or network failure).
    pub fn handle_transport(
        &mut self,
        now: Timestamp,
        failure: TransportFailure,
    ) -> Result<(), DriverError> {
        let on = self.take_waiting("http")?;
        let step = self.on_http(on, now, HttpResult::Transport(failure));
        self.stage = stage_of(step);
        Ok(())
    }

    /// Feeds the JSON result of the waiting `sql` command.
    pub fn handle_sql(&mut self, now: Timestamp, result_json: &str) -> Result<(), DriverError> {
        let on = self.take_waiting("sql")?;
        let step = match serde_json::from_str::<Value>(result_json) {
            Ok(result) => self.on_sql(on, now, &result),
            Err(_) => invalid_result(),
        };
        self.stage = stage_of(step);
        Ok(())
    }

    /// Reports that the waiting `sql` command failed with `sqlstate`.
    pub fn handle_sql_error(&mut self, _now: Timestamp, sqlstate: &str) -> Result<(), DriverError> {
        let on = self.take_waiting("sql")?;
        let step = match on {
            // The unique open-attempt index refused a second attempt.
            Await::Begin(_) if sqlstate == "23505" => {
                Ready::Finish(DriverOutcome::Skipped, "attempt_open".into())
            }
            _ => Ready::Finish(DriverOutcome::Stopped, sql_error_reason(sqlstate)),
        };
        self.stage = Stage::Ready(step);
        Ok(())
    }

    fn take_waiting(&mut self, kind: &'static str) -> Result<Await, DriverError> {
        let stage = std::mem::replace(&mut self.stage, Stage::Ready(Ready::Route));
        match stage {
            Stage::Waiting(command, on) => {
                let expected = match command {
                    DriverCommand::Http { .. } => "http",
                    _ => "sql",
                };
                if expected == kind {
                    Ok(on)
                } else {
                    self.stage = Stage::Waiting(command, on);
                    Err(DriverError::WrongOutcome { expected })
                }
            }
            other => {
                self.stage = other;
                Err(DriverError::NotWaiting)
            }
        }
    }

    fn stage_name(&self) -> &'static str {
        match &self.stage {
            Stage::Ready(Ready::Lock) => "lock",
            Stage::Ready(Ready::Route) => "route",
            Stage::Ready(Ready::Search) => "search",
            Stage::Ready(Ready::Reprice) => "reprice",
            Stage::Ready(Ready::Book) => "book",
            Stage::Ready(Ready::Saga(_)) => "saga",
            Stage::Ready(Ready::Finish(..)) => "finish",
            Stage::Waiting(..) => "waiting_for_outcome",
            Stage::Done(..) => "done",
        }
    }

    fn trip_id(&self) -> &str {
        self.trip.id.as_str()
    }

    fn view(&self) -> TripView {
        let status = serde_json::to_value(self.trip.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        TripView {
            status,
            auto_book: self.trip.auto_book,
            departs_at: departure_lower_bound(
                self.trip.departure_date,
                self.selected_offer.as_ref().and_then(|o| o.departing_at),
            ),
            max_total: self.max_total(),
            has_selected_offer: self.selected_offer.is_some(),
        }
    }

    fn max_total(&self) -> Money {
        Money {
            amount_minor: self.trip.max_total_minor,
            currency: self.trip.currency,
        }
    }

    fn sql(function: &'static str, args: Value, on: Await) -> Step {
        Step::Wait(DriverCommand::Sql { function, args }, on)
    }

    /// A provider request, unless the per-trip call cap is reached.
    fn provider(&mut self, request: HttpRequest, on: Await, now: Timestamp) -> Step {
        if self.provider_calls >= self.config.max_provider_calls {
            return self.reschedule(now, "call_cap", "call_cap", DriverOutcome::Waiting);
        }
        self.provider_calls += 1;
        Step::Wait(DriverCommand::Http { request }, on)
    }

    fn reschedule(
        &self,
        at: Timestamp,
        decision: &str,
        reason: &str,
        outcome: DriverOutcome,
    ) -> Step {
        Self::sql(
            "monitor_reschedule",
            json!({"trip_id": self.trip_id(), "next_check_at": at,
                "decision": decision, "reason": reason}),
            Await::Reschedule(outcome, reason.to_owned()),
        )
    }

    fn expire(&self, reason: &str) -> Step {
        Self::sql(
            "monitor_expire",
            json!({"trip_id": self.trip_id(), "reason": reason}),
            Await::Expire(reason.to_owned()),
        )
    }

    fn passengers(&self, resume: Option<Box<AttemptState>>) -> Step {
        Self::sql(
            "monitor_passengers",
            json!({"trip_id": self.trip_id()}),
            Await::Passengers(resume),
        )
    }

    fn save(
        expected: &AttemptState,
        next: &AttemptState,
        effects: &[saga::Effect],
        on: Await,
    ) -> Step {
        Self::sql(
            "monitor_save_attempt",
            json!({"attempt_id": next.attempt_id, "expected_version": expected.version,
                "state": next, "effects": effects}),
            on,
        )
    }

    fn too_close(&self, now: Timestamp) -> bool {
        self.view().departs_at.unix_ms() - now.unix_ms() < super::MIN_LEAD_MS
    }

    fn advance(&mut self, ready: Ready, now: Timestamp) -> Step {
        match ready {
            Ready::Lock => Step::Wait(
                DriverCommand::Http {
                    request: upstash::lock_request(
                        &self.config.upstash,
                        &self.lock_key,
                        &self.lock_token,
                        self.config.lock_lease_ms,
                    ),
                },
                Await::Lock,
            ),
            Ready::Route => self.route(now),
            Ready::Search => {
                let request = duffel::build_offer_request(&self.config.duffel, &self.trip);
                self.provider(request, Await::Search, now)
            }
            Ready::Reprice => {
                let offer = self
                    .selected_offer
                    .as_ref()
                    .map(|o| o.provider_offer_id.as_str())
                    .unwrap_or_default();
                match duffel::build_get_offer_request(&self.config.duffel, offer) {
                    Ok(request) => self.provider(request, Await::Reprice, now),
                    // An id Duffel could never have issued: treat the offer as gone.
                    Err(_) => self.decided(Quote::Gone, now),
                }
            }
            Ready::Book => self.book(now),
            Ready::Saga(state) => self.saga(*state, now),
            finish @ Ready::Finish(..) => Step::Ready(finish),
        }
    }

    fn route(&mut self, now: Timestamp) -> Step {
        if let Some(state) = self.attempt.take() {
            let may_need_travellers = matches!(
                state.phase,
                Phase::Reprice | Phase::Authorize | Phase::Order
            );
            return if may_need_travellers {
                self.passengers(Some(Box::new(state)))
            } else {
                Step::Ready(Ready::Saga(Box::new(state)))
            };
        }
        match self.trip.status {
            TripStatus::Searching | TripStatus::Watching if self.too_close(now) => {
                self.expire("departure_too_close")
            }
            TripStatus::Searching => Step::Ready(Ready::Search),
            TripStatus::Watching if self.selected_offer.is_none() => Step::Ready(Ready::Search),
            TripStatus::Watching => Step::Ready(Ready::Reprice),
            TripStatus::Booking => Step::Ready(Ready::Finish(
                DriverOutcome::Skipped,
                "booking_without_attempt".into(),
            )),
            _ => Step::Ready(Ready::Finish(
                DriverOutcome::Skipped,
                "not_monitored".into(),
            )),
        }
    }

    fn decided(&mut self, quote: Quote, now: Timestamp) -> Step {
        match decide(&self.view(), quote, now, self.seed) {
            Decision::Book => Step::Ready(Ready::Book),
            Decision::Wait { until, reason } => {
                self.reschedule(until, "wait", reason, DriverOutcome::Waiting)
            }
            Decision::SearchAgain { .. } => Step::Ready(Ready::Search),
            Decision::Expire { reason } => self.expire(reason),
            Decision::Skip { reason } => {
                Step::Ready(Ready::Finish(DriverOutcome::Skipped, reason.into()))
            }
        }
    }

    fn book(&mut self, now: Timestamp) -> Step {
        if self.payment.is_none() {
            return self.blocked(now, "payment_profile_missing");
        }
        self.passengers(None)
    }

    /// Booking cannot start for a reason only the traveller can fix: keep watching.
    fn blocked(&self, now: Timestamp, reason: &str) -> Step {
        let until = next_check_at(now, self.view().departs_at, self.seed);
        self.reschedule(until, "book_blocked", reason, DriverOutcome::Waiting)
    }

    fn begin(&mut self, now: Timestamp) -> Step {
        let (Some(payment), Some(offer)) = (&self.payment, &self.selected_offer) else {
            return self.blocked(now, "payment_profile_missing");
        };
        let state = saga::begin(
            Begin {
                attempt_id: self.attempt_id.clone(),
                trip_id: self.trip_id().to_owned(),
                offer_id: offer.provider_offer_id.clone(),
                max_total: self.max_total(),
                customer: payment.customer.clone(),
                payment_method: payment.payment_method.clone(),
                seed: self.seed,
            },
            now,
        );
        Self::sql(
            "monitor_begin_attempt",
            json!({"trip_id": self.trip_id(), "trip_version": self.trip.version, "state": state}),
            Await::Begin(Box::new(state)),
        )
    }

    fn saga(&mut self, state: AttemptState, now: Timestamp) -> Step {
        let ctx = Context {
            duffel: &self.config.duffel,
            stripe: &self.config.stripe,
            travellers: &self.travellers,
        };
        match saga::next(&state, now, &ctx) {
            Command::Send { mark, request } => {
                if self.provider_calls >= self.config.max_provider_calls {
                    return self.reschedule(now, "call_cap", "call_cap", DriverOutcome::Waiting);
                }
                Self::save(
                    &state,
                    &mark,
                    &[],
                    Await::SaveMark(Box::new(mark.clone()), Box::new(request)),
                )
            }
            Command::Write {
                state: next,
                effects,
            } => Self::save(&state, &next, &effects, Await::Save(Box::new(next.clone()))),
            Command::WaitUntil(at) => {
                let reason = state.reason.as_deref().unwrap_or("saga_backoff");
                self.reschedule(at, "booking_wait", reason, DriverOutcome::Waiting)
            }
            Command::Done(end) => Step::Ready(Ready::Finish(
                DriverOutcome::of_end(end),
                state.reason.clone().unwrap_or_else(|| "none".into()),
            )),
        }
    }

    fn on_http(&mut self, on: Await, now: Timestamp, result: HttpResult<'_>) -> Step {
        match on {
            Await::Lock => Step::Ready(match result {
                HttpResult::Response(status, body) => match upstash::parse_lock(status, body) {
                    Ok(true) => {
                        self.lock_taken = true;
                        Ready::Route
                    }
                    Ok(false) => Ready::Finish(DriverOutcome::Locked, "lock_held".into()),
                    Err(_) => Ready::Finish(DriverOutcome::Locked, "lock_unavailable".into()),
                },
                HttpResult::Transport(_) => {
                    Ready::Finish(DriverOutcome::Locked, "lock_unavailable".into())
                }
            }),
            Await::Unlock(outcome, reason) => Step::Ready(Ready::Finish(outcome, reason)),
            Await::Search => self.searched(now, result),
            Await::Reprice => {
                let quote = match result {
                    HttpResult::Response(status, body) => match classify_offer(status, body) {
                        Ok(Reply::Ok(offer)) => Quote::Priced {
                            total: offer.total,
                            expires_at: offer.expires_at,
                        },
                        Ok(Reply::Refused(_)) => Quote::Gone,
                        _ => Quote::Unavailable,
                    },
                    HttpResult::Transport(_) => Quote::Unavailable,
                };
                self.decided(quote, now)
            }
            Await::Send(mark) => {
                let outcome = match result {
                    HttpResult::Response(status, body) => Outcome::Response {
                        status,
                        body: body.to_vec(),
                    },
                    HttpResult::Transport(TransportFailure::Timeout) => Outcome::Timeout,
                    HttpResult::Transport(TransportFailure::Network) => Outcome::Network,
                };
                match saga::apply(&mark, now, outcome) {
                    Ok(after) => {
                        Self::save(&mark, &after, &[], Await::Save(Box::new(after.clone())))
                    }
                    Err(e) => Step::Ready(Ready::Finish(DriverOutcome::Stopped, e.code().into())),
                }
            }
            // Only `http` commands reach here (checked by `take_waiting`).
            _ => Step::Ready(Ready::Finish(
                DriverOutcome::Stopped,
                "driver_invariant".into(),
            )),
        }
    }

    fn searched(&mut self, now: Timestamp, result: HttpResult<'_>) -> Step {
        let outcome = match result {
            HttpResult::Response(status, body) => {
                search::process_search_response(&self.trip, status, body, now)
            }
            HttpResult::Transport(failure) => Err(ProviderError::from(failure)),
        };
        match outcome {
            Ok(result) => {
                let reason = serde_json::to_value(result.decision)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "searched".into());
                let on = if result.selected_provider_offer_id.is_some() {
                    Await::RecordSelected(reason)
                } else {
                    Await::RecordSearch(reason)
                };
                Self::sql(
                    "monitor_record_search",
                    json!({"trip_id": self.trip_id(), "result": result}),
                    on,
                )
            }
            Err(error) => Self::sql(
                "monitor_record_search_failure",
                json!({"trip_id": self.trip_id(), "error_code": error.code(),
                    "next_check_at": search::search_failure_next_check(now)}),
                Await::RecordSearch(error.code().to_owned()),
            ),
        }
    }

    /// A search selected an offer. Offers live about as long as the next check is away, so
    /// waiting for the next run would often find it expired: when the fresh quote already says
    /// "book", book it now (the saga re-prices before any money moves). Otherwise the search's
    /// own next check stands.
    fn after_selection(&mut self, result: &Value, now: Timestamp, reason: String) -> Step {
        #[derive(Deserialize)]
        struct Recorded {
            trip: Trip,
            selected_offer: Option<SelectedOffer>,
        }
        let searched = Step::Ready(Ready::Finish(DriverOutcome::Searched, reason));
        let Ok(Recorded {
            trip,
            selected_offer: Some(offer),
        }) = serde_json::from_value::<Recorded>(result.clone())
        else {
            return searched;
        };
        if trip.id != self.trip.id || trip.status != TripStatus::Watching {
            return searched;
        }
        let quote = Quote::Priced {
            total: Money {
                amount_minor: offer.total_minor,
                currency: offer.currency,
            },
            expires_at: offer.expires_at,
        };
        self.trip = trip;
        self.selected_offer = Some(offer);
        match decide(&self.view(), quote, now, self.seed) {
            Decision::Book => Step::Ready(Ready::Book),
            _ => searched,
        }
    }

    fn on_sql(&mut self, on: Await, now: Timestamp, result: &Value) -> Step {
        let flag = |name: &str| result.get(name).and_then(Value::as_bool);
        match on {
            Await::RecordSearch(reason) => {
                Step::Ready(Ready::Finish(DriverOutcome::Searched, reason))
            }
            Await::RecordSelected(reason) => self.after_selection(result, now, reason),
            Await::Reschedule(outcome, reason) => Step::Ready(Ready::Finish(outcome, reason)),
            Await::Expire(reason) => match flag("ok") {
                Some(true) => Step::Ready(Ready::Finish(DriverOutcome::Expired, reason)),
                Some(false) => {
                    Step::Ready(Ready::Finish(DriverOutcome::Skipped, "trip_changed".into()))
                }
                None => invalid_result(),
            },
            Await::Passengers(resume) => {
                match serde_json::from_value::<PassengersResult>(result.clone()) {
                    Ok(PassengersResult {
                        passengers: Some(rows),
                    }) => {
                        self.travellers = rows.into_iter().map(to_order_passenger).collect();
                        match resume {
                            Some(state) => Step::Ready(Ready::Saga(state)),
                            None => self.begin(now),
                        }
                    }
                    Ok(PassengersResult { passengers: None }) => match resume {
                        // Mid-attempt the saga decides (a phase that needs them fails cleanly,
                        // releasing any hold first).
                        Some(state) => Step::Ready(Ready::Saga(state)),
                        None => self.blocked(now, "travelers_missing"),
                    },
                    Err(_) => invalid_result(),
                }
            }
            Await::Begin(state) => match flag("started") {
                Some(true) => Step::Ready(Ready::Saga(state)),
                Some(false) => {
                    let reason = result
                        .get("reason")
                        .and_then(Value::as_str)
                        .map_or_else(|| "not_started".to_owned(), code_text);
                    Step::Ready(Ready::Finish(DriverOutcome::Skipped, reason))
                }
                None => invalid_result(),
            },
            Await::SaveMark(mark, request) => match flag("saved") {
                Some(true) => {
                    if self.provider_calls >= self.config.max_provider_calls {
                        // Unreachable in practice (checked before the mark), kept for safety:
                        // the mark is durable, so the next run resolves it as lost.
                        self.reschedule(now, "call_cap", "call_cap", DriverOutcome::Waiting)
                    } else {
                        self.provider_calls += 1;
                        Step::Wait(DriverCommand::Http { request: *request }, Await::Send(mark))
                    }
                }
                Some(false) => Step::Ready(Ready::Finish(
                    DriverOutcome::Stopped,
                    "attempt_changed".into(),
                )),
                None => invalid_result(),
            },
            Await::Save(state) => match flag("saved") {
                Some(true) => Step::Ready(Ready::Saga(state)),
                Some(false) => Step::Ready(Ready::Finish(
                    DriverOutcome::Stopped,
                    "attempt_changed".into(),
                )),
                None => invalid_result(),
            },
            _ => Step::Ready(Ready::Finish(
                DriverOutcome::Stopped,
                "driver_invariant".into(),
            )),
        }
    }
}

fn stage_of(step: Step) -> Stage {
    match step {
        Step::Ready(ready) => Stage::Ready(ready),
        Step::Wait(command, on) => Stage::Waiting(command, on),
    }
}

fn invalid_result() -> Step {
    Step::Ready(Ready::Finish(
        DriverOutcome::Stopped,
        "invalid_sql_result".into(),
    ))
}

fn unreachable_ready() -> DriverCommand {
    DriverCommand::Done {
        outcome: DriverOutcome::Stopped,
        reason: "driver_invariant".into(),
    }
}

fn to_order_passenger(row: PassengerRow) -> OrderPassenger {
    OrderPassenger {
        id: String::new(),
        title: row.title,
        gender: row.gender,
        given_name: row.given_name,
        family_name: row.family_name,
        born_on: row.born_on,
        email: row.email,
        phone_number: row.phone_number,
    }
}

/// A reason code from the database, kept only when it looks like one.
fn code_text(text: &str) -> String {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        text.to_owned()
    } else {
        "not_started".to_owned()
    }
}

/// `sql_error_<sqlstate>` for a well-formed SQLSTATE, else `sql_error`.
fn sql_error_reason(sqlstate: &str) -> String {
    if sqlstate.len() == 5 && sqlstate.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("sql_error_{}", sqlstate.to_ascii_lowercase())
    } else {
        "sql_error".to_owned()
    }
}

#[cfg(test)]
mod tests;
