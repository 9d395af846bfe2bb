//! Steps 1 to 3 of the flow: take the lock, route the claimed trip (open attempt, search,
//! re-price, expire), record a search, and act on [`decide`]'s answer.

use serde::Deserialize;
use serde_json::{json, Value};

use super::super::{decide, next_check_at, Decision, Quote, MIN_LEAD_MS};
use super::state::{Await, HttpResult, Ready, Step};
use super::{DriverCommand, DriverOutcome, SelectedOffer, TripDriver};
use crate::duffel;
use crate::duffel::order::{classify_offer, Reply};
use crate::engine::SqlFunction;
use crate::error::ProviderError;
use crate::money::Money;
use crate::saga::Phase;
use crate::search;
use crate::time::Timestamp;
use crate::trip::{Trip, TripStatus};
use crate::upstash;

/// How long a trip in `booking` without an open attempt waits before it is looked at again.
pub(super) const BOOKING_WITHOUT_ATTEMPT_RECHECK_MS: i64 = 60 * 60 * 1000;

impl TripDriver {
    pub(super) fn advance(&mut self, ready: Ready, now: Timestamp) -> Step {
        match ready {
            Ready::Lock => Step::Wait(
                DriverCommand::Http {
                    request: upstash::lock_request(
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
            Ready::Unsaved(state, writes) => self.saga_unsaved(*state, writes, now),
            finish @ Ready::Finish(..) => Step::Ready(finish),
        }
    }

    pub(super) fn route(&mut self, now: Timestamp) -> Step {
        if let Some(state) = self.attempt.take() {
            // An attempt waiting for the traveller goes on to re-price and order in the same
            // run once the traveller authenticated.
            let may_need_travellers = matches!(
                state.phase,
                Phase::Reprice | Phase::Authorize | Phase::AwaitTraveller { .. } | Phase::Order
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
            // Begin and every closing save move the trip and the attempt together, so this is
            // an operator edit or a bug: nothing to resume. Look again in an hour, and leave a
            // `monitor` event operators can find, instead of skipping it silently every lease.
            TripStatus::Booking => self.reschedule(
                now.plus_ms(BOOKING_WITHOUT_ATTEMPT_RECHECK_MS),
                "skip",
                "booking_without_attempt",
                DriverOutcome::Skipped,
            ),
            _ => Step::Ready(Ready::Finish(
                DriverOutcome::Skipped,
                "not_monitored".into(),
            )),
        }
    }

    pub(super) fn decided(&mut self, quote: Quote, now: Timestamp) -> Step {
        match decide(&self.view(), quote, now, self.seed) {
            Decision::Book => self.book_if_flagged(now, None),
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

    /// The lock's answer: taken → route; held by another run → `locked` (`lock_held`). Upstash
    /// failing (an error answer, a timeout, a network failure) does not stop the trip: the run
    /// goes on without the lock, money steps and the rest alike (the claim lease and the
    /// database's compare-and-set guards are what keep money safe; the lock only saves
    /// duplicate provider calls between racing runs). A `SET` whose answer was lost may have
    /// taken the lock, so it is released at the end like a taken one (compare-and-delete on
    /// this run's token cannot remove another run's lock).
    pub(super) fn locked(&mut self, result: HttpResult<'_>) -> Step {
        Step::Ready(match result {
            HttpResult::Response(status, body) => match upstash::parse_lock(status, body) {
                Ok(true) => {
                    self.lock_taken = true;
                    Ready::Route
                }
                Ok(false) => Ready::Finish(DriverOutcome::Locked, "lock_held".into()),
                // Upstash answered but did not set the key: nothing to release.
                Err(_) => Ready::Route,
            },
            HttpResult::Transport(_) => {
                self.lock_taken = true;
                Ready::Route
            }
        })
    }

    /// The re-price's answer, as a [`Quote`] for [`decide`].
    pub(super) fn repriced(&mut self, now: Timestamp, result: HttpResult<'_>) -> Step {
        let quote = match result {
            HttpResult::Response(status, body) => match classify_offer(status, body) {
                Ok(Reply::Ok(offer)) => {
                    let quote = Quote::Priced {
                        total: offer.total,
                        expires_at: offer.expires_at,
                    };
                    self.fresh_quote = Some(offer);
                    quote
                }
                Ok(Reply::Refused(_)) => Quote::Gone,
                _ => Quote::Unavailable,
            },
            HttpResult::Transport(_) => Quote::Unavailable,
        };
        self.decided(quote, now)
    }

    pub(super) fn searched(&mut self, now: Timestamp, result: HttpResult<'_>) -> Step {
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
                    SqlFunction::MonitorRecordSearch,
                    json!({"trip_id": self.trip_id(), "trip_version": self.trip.version, "result": result}),
                    on,
                )
            }
            Err(error) => Self::sql(
                SqlFunction::MonitorRecordSearchFailure,
                json!({"trip_id": self.trip_id(), "trip_version": self.trip.version, "error_code": error.code(),
                    "next_check_at": search::search_failure_next_check(now)}),
                Await::RecordSearch(error.code().to_owned()),
            ),
        }
    }

    /// A search selected an offer. Offers live about as long as the next check is away, so
    /// waiting for the next run would often find it expired: when the fresh quote already says
    /// "book", book it now (the saga re-prices before any money moves). Otherwise the search's
    /// own next check stands.
    pub(super) fn after_selection(
        &mut self,
        result: &Value,
        now: Timestamp,
        reason: String,
    ) -> Step {
        #[derive(Deserialize)]
        struct Recorded {
            trip: Trip,
            selected_offer: Option<SelectedOffer>,
        }
        // A search the database discarded (the trip changed since the claim: `stale`) books
        // nothing; the trip is checked again under what it is now.
        if result.get("stale").and_then(Value::as_bool) == Some(true) {
            return Step::Ready(Ready::Finish(
                DriverOutcome::Searched,
                "search_discarded".into(),
            ));
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
            Decision::Book => self.book_if_flagged(now, Some(searched)),
            _ => searched,
        }
    }

    /// The `auto_booking` flag at booking time (the run's snapshot, [`DriverConfig`]'s
    /// `flags`): a new attempt begins only when the flag is on for the trip's owner and the kill
    /// switch is off; no snapshot (missing or unreadable) is off. Otherwise the trip keeps watching: `fallback` (a search's own next check
    /// stands) or a `wait` with reason `auto_booking_flag_off`. Only new attempts pass here; an
    /// open attempt resumes without it, so money already held always settles.
    ///
    /// [`DriverConfig`]: super::DriverConfig
    fn book_if_flagged(&mut self, now: Timestamp, fallback: Option<Step>) -> Step {
        let allowed = self
            .config
            .flags
            .as_ref()
            .is_some_and(|f| f.auto_booking(&self.trip.owner_id));
        if allowed {
            return Step::Ready(Ready::Book);
        }
        match fallback {
            Some(step) => step,
            None => {
                let until = next_check_at(now, self.view().departs_at, self.seed);
                self.reschedule(
                    until,
                    "wait",
                    "auto_booking_flag_off",
                    DriverOutcome::Waiting,
                )
            }
        }
    }

    fn too_close(&self, now: Timestamp) -> bool {
        self.view().departs_at.unix_ms() - now.unix_ms() < MIN_LEAD_MS
    }
}
