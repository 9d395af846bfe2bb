//! Booking (steps 3 and 4 of the flow): the payment profile and travellers checks, beginning the
//! attempt (`monitor_begin_attempt`), and the saga loop: mark → send → apply → save.

use serde::Deserialize;
use serde_json::{json, Value};

use super::super::next_check_at;
use super::claim::{to_order_passenger, PassengersResult};
use super::feed::{flag, sql_error_reason};
use super::state::{invalid_result, Await, HttpResult, Ready, Step};
use super::{DriverCommand, DriverOutcome, TripDriver};
use crate::duffel::passengers::{self, OfferRules, PassengerError};
use crate::engine::SqlFunction;
use crate::error::TransportFailure;
use crate::http::HttpRequest;
use crate::saga::{self, AttemptState, Begin, Command, Context, Outcome, Phase};
use crate::time::Timestamp;

impl TripDriver {
    pub(super) fn book(&mut self, now: Timestamp) -> Step {
        if self.payment.is_none() {
            return self.blocked(now, "payment_profile_missing");
        }
        self.passengers(None)
    }

    /// Booking cannot start for a reason only the traveller can fix: keep watching.
    pub(super) fn blocked(&self, now: Timestamp, reason: &str) -> Step {
        let until = next_check_at(now, self.view().departs_at, self.seed);
        self.reschedule(until, "book_blocked", reason, DriverOutcome::Waiting)
    }

    pub(super) fn begin(&mut self, now: Timestamp) -> Step {
        let (Some(payment), Some(offer)) = (&self.payment, &self.selected_offer) else {
            return self.blocked(now, "payment_profile_missing");
        };
        let params = Begin {
            attempt_id: self.attempt_id.clone(),
            trip_id: self.trip_id().to_owned(),
            offer_id: offer.provider_offer_id.clone(),
            max_total: self.max_total(),
            customer: payment.customer.clone(),
            payment_method: payment.payment_method.clone(),
            seed: self.seed,
        };
        // A quote from this run's re-price is fresh: the saga starts at authorize from it.
        let state = match self.fresh_quote.take() {
            Some(quote) => saga::begin_priced(params, quote, now),
            None => saga::begin(params, now),
        };
        // The attempt begins with its first request's mark (the state the saga makes durable
        // before that request leaves): one transaction instead of two, and the request is sent
        // once it is started, exactly as after a saved mark.
        if self.provider_calls < self.config.max_provider_calls {
            let ctx = Context {
                duffel: &self.config.duffel,
                travellers: &self.travellers,
                traveller_request: self.traveller_request,
            };
            if let Command::Send { mark, request } = saga::next(&state, now, &ctx) {
                return Self::sql(
                    SqlFunction::MonitorBeginAttempt,
                    json!({"trip_id": self.trip_id(), "trip_version": self.trip.version,
                        "state": mark}),
                    Await::BeginSend(Box::new(mark), Box::new(request)),
                );
            }
        }
        Self::sql(
            SqlFunction::MonitorBeginAttempt,
            json!({"trip_id": self.trip_id(), "trip_version": self.trip.version, "state": state}),
            Await::Begin(Box::new(state)),
        )
    }

    pub(super) fn saga(&mut self, state: AttemptState, now: Timestamp) -> Step {
        // Every state reaching here is the stored one (resumed, begun, or just saved).
        self.stored = Some((state.attempt_id.clone(), state.version));
        self.saga_from(state, None, now)
    }

    /// The saga from `state`, which is newer than the stored one (an answer applied, or
    /// `writes` effect-free writes in a row, none saved yet).
    pub(super) fn saga_unsaved(&mut self, state: AttemptState, writes: u8, now: Timestamp) -> Step {
        self.saga_from(state, Some(writes), now)
    }

    /// One saga step from `state`; `unsaved` when `state` is not the stored one (see
    /// [`Ready::Unsaved`]). A state not saved yet goes to the database with the next save the
    /// saga asks for (the next request's mark, or a write with effects), compare-and-set from
    /// the stored version: nothing leaves before the state it follows is durable, and a crash
    /// before that save leaves the previous mark stored, which the next run resolves as lost
    /// (as a crash before the state's own save would). Anything else (a wait, the end, a stop,
    /// the call cap, a flag) saves it on its own first.
    fn saga_from(&mut self, state: AttemptState, unsaved: Option<u8>, now: Timestamp) -> Step {
        self.combined = None;
        let expected = self.stored.as_ref().map_or(state.version, |(_, v)| *v);
        let flush = |state: AttemptState| {
            Self::save_from(expected, &state, &[], Await::Save(Box::new(state.clone())))
        };
        if let Some(sqlstate) = self.travellers_unreadable.clone() {
            // A stale attempt ends without them (its hold is released): let the saga do it.
            if needs_travellers(&state, now) && !saga::is_stale(&state, now) {
                if unsaved.is_some() {
                    return flush(state);
                }
                // Unknown is not gone: never release because of a failed read. Stop, and
                // resume next run; flag for an operator once the attempt has been stuck long.
                let stuck_ms = now.unix_ms() - state.updated_at.unix_ms();
                if stuck_ms >= super::TRAVELLERS_UNREADABLE_ALERT_MS {
                    if let Some(step) = self.flag(TRAVELLERS_UNREADABLE, &sqlstate) {
                        return step;
                    }
                }
                return Step::Ready(Ready::Finish(
                    DriverOutcome::Stopped,
                    sql_error_reason(&sqlstate),
                ));
            }
        }
        let ctx = Context {
            duffel: &self.config.duffel,
            travellers: &self.travellers,
            traveller_request: self.traveller_request,
        };
        let command = saga::next(&state, now, &ctx);
        let goes_on = match command {
            Command::Send { .. } => self.provider_calls < self.config.max_provider_calls,
            Command::Write { .. } => true,
            Command::WaitUntil(_) | Command::Done(_) => false,
        };
        if unsaved.is_some() && !goes_on {
            return flush(state);
        }
        // The save below carries `state` (not saved yet) with the next step: kept in case the
        // database refuses it for good (see `combined`).
        self.combined = unsaved.map(|_| Box::new(state.clone()));
        match command {
            Command::Send { mark, request } => {
                if self.provider_calls >= self.config.max_provider_calls {
                    return self.reschedule(now, "call_cap", "call_cap", DriverOutcome::Waiting);
                }
                Self::save_from(
                    expected,
                    &mark,
                    &[],
                    Await::SaveMark(Box::new(mark.clone()), Box::new(request)),
                )
            }
            Command::Write {
                state: next,
                effects,
            } => {
                let writes = unsaved.unwrap_or(0);
                if effects.is_empty() && writes < MAX_UNSAVED_WRITES {
                    Step::Ready(Ready::Unsaved(Box::new(next), writes + 1))
                } else {
                    Self::save_from(
                        expected,
                        &next,
                        &effects,
                        Await::Save(Box::new(next.clone())),
                    )
                }
            }
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

    /// `monitor_flag_attempt` for the stored attempt: the trip goes to `needs_operator` with an
    /// operator alert (`reason`, the SQLSTATE that caused it), and the traveller is told when a
    /// ticket exists. `None` when no attempt state is known (nothing to flag).
    pub(super) fn flag(&self, reason: &str, sqlstate: &str) -> Option<Step> {
        let (attempt_id, version) = self.stored.as_ref()?;
        let sqlstate = is_sqlstate(sqlstate).then(|| sqlstate.to_ascii_uppercase());
        Some(Self::sql(
            SqlFunction::MonitorFlagAttempt,
            json!({"attempt_id": attempt_id, "expected_version": version,
                "reason": reason, "sqlstate": sqlstate}),
            Await::Flag(reason.to_owned()),
        ))
    }

    /// The travellers' answer: with them, resume the saga or begin the attempt; without them,
    /// the saga decides mid-attempt, and before one the trip keeps watching.
    pub(super) fn passengers_read(
        &mut self,
        resume: Option<Box<AttemptState>>,
        now: Timestamp,
        result: &Value,
    ) -> Step {
        match PassengersResult::deserialize(result) {
            Ok(PassengersResult {
                passengers: Some(rows),
            }) => {
                self.travellers = rows.into_iter().map(to_order_passenger).collect();
                // Positions 1..adults are the adults, then the children in child_ages order.
                let adults = usize::from(self.trip.adults);
                for (i, traveller) in self.travellers.iter_mut().enumerate() {
                    traveller.searched_age = i
                        .checked_sub(adults)
                        .and_then(|c| self.trip.child_ages.get(c).copied());
                }
                match resume {
                    Some(state) => Step::Ready(Ready::Saga(state)),
                    None => match self.passenger_check() {
                        Ok(()) => self.begin(now),
                        // Nothing authorized, no attempt: the trip keeps watching until the
                        // traveller fixes their details.
                        Err(e) => self.blocked(now, e.code()),
                    },
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

    /// The passengers check of [`passengers::assign`] against the selected offer as stored
    /// (its raw offer's passengers and `passenger_identity_documents_required`), with the trip's
    /// last date as the travel date, before any attempt begins. Without a stored raw offer there
    /// is nothing to check here: the saga checks the re-priced offer before it authorizes.
    fn passenger_check(&self) -> Result<(), PassengerError> {
        let Some(facts) = self.selected_offer.as_ref().and_then(|o| o.raw.as_ref()) else {
            return Ok(());
        };
        if facts.passengers.is_empty() {
            return Ok(());
        }
        let rules = OfferRules {
            passengers: facts.passengers.clone(),
            documents_required: facts.passenger_identity_documents_required == Some(true),
            document_types: facts
                .supported_passenger_identity_document_types
                .clone()
                .unwrap_or_default(),
            last_travel_date: Some(self.trip.return_date.unwrap_or(self.trip.departure_date)),
        };
        passengers::assign(&self.travellers, &rules).map(drop)
    }

    /// `monitor_begin_attempt`'s answer: started → the saga loop; `attempt_limit` (the database
    /// failed the trip: too many attempts in 24 hours) → `failed`; any other refusal
    /// (`monitor_disabled`, `trip_changed`, `attempt_open`, `auto_booking_flag_off`) → `skipped`.
    pub(super) fn begun(state: Box<AttemptState>, result: &Value) -> Step {
        match flag(result, "started") {
            Some(true) => Step::Ready(Ready::Saga(state)),
            Some(false) => {
                let reason = result
                    .get("reason")
                    .and_then(Value::as_str)
                    .map_or_else(|| "not_started".to_owned(), code_text);
                let outcome = if reason == ATTEMPT_LIMIT {
                    DriverOutcome::Failed
                } else {
                    DriverOutcome::Skipped
                };
                Step::Ready(Ready::Finish(outcome, reason))
            }
            None => invalid_result(),
        }
    }

    /// `monitor_begin_attempt`'s answer when the attempt began with its first request's mark:
    /// started → the mark is the stored state, send its request (counted against the cap);
    /// refused → as [`Self::begun`].
    pub(super) fn begun_send(
        &mut self,
        mark: Box<AttemptState>,
        request: HttpRequest,
        result: &Value,
    ) -> Step {
        if flag(result, "started") != Some(true) {
            return Self::begun(mark, result);
        }
        self.stored = Some((mark.attempt_id.clone(), mark.version));
        self.provider_calls += 1;
        Step::Wait(DriverCommand::Http { request }, Await::Send(mark))
    }

    /// The mark is saved: send its request (counted against the cap).
    pub(super) fn mark_saved(
        &mut self,
        mark: Box<AttemptState>,
        request: HttpRequest,
        now: Timestamp,
        result: &Value,
    ) -> Step {
        match flag(result, "saved") {
            Some(true) => {
                // The mark is now the stored version (a flag after the answer names it).
                self.stored = Some((mark.attempt_id.clone(), mark.version));
                if self.provider_calls >= self.config.max_provider_calls {
                    // Unreachable in practice (checked before the mark), kept for safety:
                    // the mark is durable, so the next run resolves it as lost.
                    self.reschedule(now, "call_cap", "call_cap", DriverOutcome::Waiting)
                } else {
                    self.provider_calls += 1;
                    Step::Wait(DriverCommand::Http { request }, Await::Send(mark))
                }
            }
            Some(false) => not_saved(result),
            None => invalid_result(),
        }
    }

    /// The provider's answer to a sent request: [`saga::apply`], then save the result.
    pub(super) fn sent(mark: &AttemptState, now: Timestamp, result: HttpResult<'_>) -> Step {
        let outcome = match result {
            HttpResult::Response(status, body) => Outcome::Response {
                status,
                body: body.to_vec(),
            },
            HttpResult::Transport(TransportFailure::Timeout) => Outcome::Timeout,
            HttpResult::Transport(TransportFailure::Network) => Outcome::Network,
        };
        match saga::apply(mark, now, outcome) {
            // Saved with the next save the saga asks for (see `saga_from`).
            Ok(after) => Step::Ready(Ready::Unsaved(Box::new(after), 0)),
            Err(e) => Step::Ready(Ready::Finish(DriverOutcome::Stopped, e.code().into())),
        }
    }

    /// A saved step: go on with the saga, or stop if another run moved the attempt.
    /// A combined save refused for good (`sqlstate`): save the state it carried on its own
    /// first (`None` when it carried none).
    pub(super) fn save_before_flag(&mut self, sqlstate: &str) -> Option<Step> {
        let state = self.combined.take()?;
        let expected = self.stored.as_ref().map_or(state.version, |(_, v)| *v);
        Some(Self::save_from(
            expected,
            &state,
            &[],
            Await::SaveBeforeFlag(state.clone(), sqlstate.to_owned()),
        ))
    }

    /// The carried state's own save: flag at its version once it is stored, else at the
    /// stored one.
    pub(super) fn saved_before_flag(
        &mut self,
        state: Box<AttemptState>,
        sqlstate: &str,
        result: &Value,
    ) -> Step {
        if flag(result, "saved") == Some(true) {
            self.stored = Some((state.attempt_id.clone(), state.version));
        }
        self.flag(super::feed::LEDGER_UNCLOSABLE, sqlstate)
            .unwrap_or_else(|| {
                Step::Ready(Ready::Finish(
                    DriverOutcome::Stopped,
                    sql_error_reason(sqlstate),
                ))
            })
    }

    pub(super) fn saved(state: Box<AttemptState>, result: &Value) -> Step {
        match flag(result, "saved") {
            Some(true) => Step::Ready(Ready::Saga(state)),
            Some(false) => not_saved(result),
            None => invalid_result(),
        }
    }
}

/// A save the database did not take: `refused: traveller_request` (an order on a hold the
/// traveller authenticated while their cancel or "another card" is pending: the next run's
/// claim carries the request and the saga releases), else another run moved the attempt.
fn not_saved(result: &Value) -> Step {
    let reason = match result.get("refused").and_then(Value::as_str) {
        Some(TRAVELLER_REQUEST) => TRAVELLER_REQUEST,
        _ => "attempt_changed",
    };
    Step::Ready(Ready::Finish(DriverOutcome::Stopped, reason.into()))
}

/// How many effect-free writes the saga may take in a row before one is saved on its own (a
/// bound on work between saves; the saga never needs more than a few).
const MAX_UNSAVED_WRITES: u8 = 8;

/// `monitor_save_attempt`'s refusal of an order while the traveller's request is pending.
const TRAVELLER_REQUEST: &str = "traveller_request";

/// `monitor_begin_attempt`'s refusal when the trip reached the attempt limit (3 in 24 hours); the
/// database has moved the trip to `failed` (`too_many_attempts`) in the same transaction.
const ATTEMPT_LIMIT: &str = "attempt_limit";

/// The flag reason when the travellers stayed unreadable while an attempt may hold money.
const TRAVELLERS_UNREADABLE: &str = "travelers_unreadable";

/// Whether the saga's next step for `state` reads the travellers: a re-price (which goes on to
/// authorize), an authorize (the count check) or the order (the body), once due and not left
/// in flight (a request in flight resolves first, without them).
fn needs_travellers(state: &AttemptState, now: Timestamp) -> bool {
    !state.in_flight
        && matches!(
            state.phase,
            Phase::Reprice | Phase::Authorize | Phase::Order
        )
        && state.not_before.is_none_or(|at| at <= now)
}

/// A well-formed SQLSTATE: five ASCII letters or digits.
fn is_sqlstate(text: &str) -> bool {
    text.len() == 5 && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a stored attempt may hold the traveller's money (an authorization may have been sent,
/// or an intent is known): the saga must run to release it, travellers or not.
pub(super) fn may_hold_money(state: &AttemptState) -> bool {
    state.payment_intent.is_some()
        || match state.phase {
            Phase::Reprice => false,
            Phase::Authorize => state.tries > 0,
            _ => true,
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
