//! The simulated world: virtual time, the database and Redis stand-ins, the provider fakes, and
//! the fault plan. See the module docs of `sim` for what each stand-in differs in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use booking_core::http::HttpRequest;
use booking_core::money::Money;
use booking_core::saga::{AttemptState, Effect, Outcome};
use booking_core::time::Timestamp;

use super::duffel_fake::DuffelFake;
use super::stripe_fake::StripeFake;
use super::Rng;

pub(crate) const DUFFEL_URL: &str = "http://duffel.sim";
pub(crate) const STRIPE_URL: &str = "http://stripe.sim";

/// The endpoints faults can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    GetOffer,
    CreateOrder,
    FindOrders,
    Authorize,
    Capture,
    Cancel,
    Search,
    Retrieve,
}

/// What goes wrong on one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Refused before anything happens, with this status (429, 503 …); never stored.
    Before(u16),
    /// Executed, then answered 500 (Stripe stores it for replays).
    ExecutedThen500,
    /// Executed, but the answer never arrives (timeout).
    Lost,
    /// Card declined (authorize only).
    Decline,
    /// Authentication required (authorize only).
    AuthRequired,
    /// Duffel 502 `airline_unknown`, no order created.
    AirlineUnknown,
    /// Duffel 422 `price_changed`.
    PriceChanged,
    /// The offer's price is temporarily far above every budget (get offer only).
    PriceSpike,
}

/// Which calls fail, by endpoint and 1-based call number, plus optional random faults.
#[derive(Clone, Debug, Default)]
pub(crate) struct FaultPlan {
    pub(crate) rules: Vec<(Endpoint, u32, Fault)>,
    /// Random faults per call, in permille, until `calm`.
    pub(crate) random_permille: u64,
    /// Once set, no more faults: lets every scenario settle so "stuck" can be judged.
    pub(crate) calm: bool,
}

/// A `trip_requests` row (the fields the monitor and saga touch).
#[derive(Clone, Debug)]
pub(crate) struct TripRow {
    pub(crate) id: String,
    pub(crate) status: &'static str,
    pub(crate) version: u64,
    pub(crate) offer_id: Option<String>,
    pub(crate) max_total: Money,
    pub(crate) departs_at: Timestamp,
    pub(crate) next_check_at: i64,
    pub(crate) auto_book: bool,
    pub(crate) payment_method: &'static str,
}

/// Stand-in for the Postgres tables.
#[derive(Clone, Debug, Default)]
pub(crate) struct Db {
    pub(crate) trips: Vec<TripRow>,
    pub(crate) attempts: BTreeMap<String, AttemptState>,
    /// (trip id, attempt id, order id, amount)
    pub(crate) bookings: Vec<(String, String, String, Money)>,
    pub(crate) notifications: BTreeSet<String>,
}

impl Db {
    pub(crate) fn trip_index(&self, trip_id: &str) -> Option<usize> {
        self.trips.iter().position(|t| t.id == trip_id)
    }

    pub(crate) fn open_attempt(&self, trip_id: &str) -> Option<&AttemptState> {
        self.attempts
            .values()
            .find(|a| a.trip_id == trip_id && a.is_open())
    }

    /// The begin transaction: trip `watching → booking` guarded by its version, plus the insert
    /// guarded by the unique open-attempt index. All or nothing.
    pub(crate) fn begin_attempt(&mut self, trip: usize, version: u64, state: AttemptState) -> bool {
        let row = &self.trips[trip];
        if row.version != version || row.status != "watching" {
            return false;
        }
        if self.open_attempt(&row.id).is_some() || self.attempts.contains_key(&state.attempt_id) {
            return false;
        }
        let row = &mut self.trips[trip];
        row.status = "booking";
        row.version += 1;
        self.attempts.insert(state.attempt_id.clone(), state);
        true
    }

    /// Persists a saga state with compare-and-set on its version, together with its effects.
    pub(crate) fn persist(&mut self, state: &AttemptState, effects: &[Effect], now: i64) -> bool {
        let Some(stored) = self.attempts.get(&state.attempt_id) else {
            return false;
        };
        if stored.version + 1 != state.version {
            return false;
        }
        // Validate every effect before applying any (one transaction).
        for effect in effects {
            if let Effect::SetTripStatus { trip_id, .. } = effect {
                match self.trip_index(trip_id) {
                    Some(i) if self.trips[i].status == "booking" => {}
                    _ => return false,
                }
            }
        }
        for effect in effects {
            match effect {
                Effect::SetTripStatus { trip_id, to, .. } => {
                    let i = self.trip_index(trip_id).unwrap_or_default();
                    let row = &mut self.trips[i];
                    row.status = to;
                    row.version += 1;
                    row.next_check_at = now;
                }
                Effect::RecordBooking {
                    trip_id,
                    attempt_id,
                    order_id,
                    amount,
                    ..
                } => self.bookings.push((
                    trip_id.clone(),
                    attempt_id.clone(),
                    order_id.clone(),
                    *amount,
                )),
                Effect::Notify { dedupe_key, .. } => {
                    self.notifications.insert(dedupe_key.clone());
                }
                _ => {}
            }
        }
        self.attempts
            .insert(state.attempt_id.clone(), state.clone());
        true
    }
}

/// Stand-in for Redis locks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redis {
    keys: HashMap<String, (String, i64)>,
}

impl Redis {
    pub(crate) fn set_nx_px(&mut self, key: &str, token: &str, px: i64, now: i64) -> bool {
        if let Some((_, expires)) = self.keys.get(key) {
            if *expires > now {
                return false;
            }
        }
        self.keys
            .insert(key.to_owned(), (token.to_owned(), now + px));
        true
    }

    /// `if GET key == token then DEL key` (the EVAL script).
    pub(crate) fn release(&mut self, key: &str, token: &str) -> bool {
        if self.keys.get(key).is_some_and(|(t, _)| t == token) {
            self.keys.remove(key);
            return true;
        }
        false
    }
}

/// Everything the simulation mutates.
pub(crate) struct World {
    pub(crate) now: i64,
    pub(crate) rng: Rng,
    pub(crate) db: Db,
    pub(crate) redis: Redis,
    pub(crate) stripe: StripeFake,
    pub(crate) duffel: DuffelFake,
    pub(crate) plan: FaultPlan,
    pub(crate) calls: HashMap<Endpoint, u32>,
    /// Protocol violations seen by the fakes as they happen (e.g. an order without a hold).
    pub(crate) violations: Vec<String>,
    pub(crate) ids: u64,
}

impl World {
    pub(crate) fn new(seed: u64, now: i64) -> Self {
        Self {
            now,
            rng: Rng::new(seed),
            db: Db::default(),
            redis: Redis::default(),
            stripe: StripeFake::default(),
            duffel: DuffelFake::default(),
            plan: FaultPlan::default(),
            calls: HashMap::new(),
            violations: Vec::new(),
            ids: 0,
        }
    }

    pub(crate) fn fresh_id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}_{:04}", self.ids)
    }

    /// Executes a request against the fakes, applying the fault plan.
    pub(crate) fn http(&mut self, request: &HttpRequest) -> Outcome {
        let now = self.now;
        if let Some(rest) = request.url.strip_prefix(DUFFEL_URL) {
            let endpoint = self.duffel_endpoint(request, rest);
            let fault = self.fault(endpoint);
            let stripe = &self.stripe;
            let mut seen = Vec::new();
            let out =
                self.duffel
                    .handle(request, rest, now, fault, &mut seen, &|attempt, amount| {
                        stripe.holds(attempt, amount)
                    });
            self.violations.extend(seen);
            out
        } else if let Some(rest) = request.url.strip_prefix(STRIPE_URL) {
            let endpoint = StripeFake::endpoint(request, rest);
            let fault = self.fault(endpoint);
            let mut seen = Vec::new();
            let out = self.stripe.handle(request, rest, fault, &mut seen);
            self.violations.extend(seen);
            out
        } else {
            self.violations
                .push(format!("request to an unknown host: {}", request.url));
            Outcome::Network
        }
    }

    fn duffel_endpoint(&self, request: &HttpRequest, rest: &str) -> Endpoint {
        if rest.starts_with("/air/offers/") {
            Endpoint::GetOffer
        } else if request.method == booking_core::http::Method::Post {
            Endpoint::CreateOrder
        } else {
            Endpoint::FindOrders
        }
    }

    fn fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let n = self.calls.entry(endpoint).or_default();
        *n += 1;
        let n = *n;
        if self.plan.calm {
            return None;
        }
        if let Some((_, _, fault)) = self
            .plan
            .rules
            .iter()
            .find(|(e, c, _)| *e == endpoint && *c == n)
        {
            return Some(*fault);
        }
        if self.plan.random_permille > 0 && self.rng.chance(self.plan.random_permille) {
            let pick = match endpoint {
                Endpoint::Authorize => [
                    Fault::Before(429),
                    Fault::Before(503),
                    Fault::ExecutedThen500,
                    Fault::Lost,
                    Fault::Decline,
                    Fault::AuthRequired,
                ],
                Endpoint::CreateOrder => [
                    Fault::Before(429),
                    Fault::AirlineUnknown,
                    Fault::ExecutedThen500,
                    Fault::Lost,
                    Fault::PriceChanged,
                    Fault::Before(503),
                ],
                Endpoint::GetOffer => [
                    Fault::Before(429),
                    Fault::Before(503),
                    Fault::Lost,
                    Fault::PriceSpike,
                    Fault::Before(504),
                    Fault::Lost,
                ],
                _ => [
                    Fault::Before(429),
                    Fault::Before(503),
                    Fault::ExecutedThen500,
                    Fault::Lost,
                    Fault::Before(500),
                    Fault::Lost,
                ],
            };
            return Some(pick[usize::try_from(self.rng.below(6)).unwrap_or(0)]);
        }
        None
    }
}
