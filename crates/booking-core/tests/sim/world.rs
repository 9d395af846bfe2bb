//! The simulated world: virtual time, the database and Upstash stand-ins, the provider fakes,
//! and the fault plan. See the module docs of `sim` for what each stand-in differs in.

use std::collections::{BTreeSet, HashMap};

use booking_core::http::{HttpRequest, Service};
use booking_core::saga::Outcome;

use super::db_fake::Db;
use super::duffel_fake::DuffelFake;
use super::stripe_fake::StripeFake;
use super::upstash_fake::Upstash;
use super::Rng;

pub(crate) const UPSTASH_TOKEN: &str = "upstash_sim";
/// A late confirmation the saga's reconcile window still catches (10 minutes).
pub(crate) const LATE_IN_WINDOW_MS: i64 = 10 * 60_000;
/// A confirmation later than the reconcile window (3 hours).
pub(crate) const LATE_AFTER_WINDOW_MS: i64 = 3 * 3_600_000;

/// The endpoints faults can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    OfferRequest,
    GetOffer,
    CreateOrder,
    FindOrders,
    Authorize,
    Capture,
    Cancel,
    Search,
    Retrieve,
    Lock,
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
    /// Order only: the airline says the offer is gone (422 `offer_no_longer_available`, no
    /// order), and refuses every later order for it, while a re-price still shows it.
    OfferGone,
    /// Order only: Duffel accepts the order, the answer is lost (timeout), and the airline
    /// confirms it late: it shows in look-ups only this many milliseconds later (Duffel's 202 or
    /// a 5xx after ticketing look the same to the saga).
    Late(i64),
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

/// Postgres failing transiently (the transaction rolled back, or the connection dropped) for a
/// run that resumes an attempt stored in `phase`: once a claim hands out such an attempt, that
/// run's first `monitor_passengers` of the trip or `monitor_save_attempt` of the attempt fails,
/// `left` more times in the scenario.
#[derive(Clone, Debug)]
pub(crate) struct SqlFaults {
    pub(crate) phase: &'static str,
    pub(crate) left: u32,
    pub(crate) fired: u32,
    /// Trips whose latest claim handed out an open attempt in `phase`.
    pub(crate) armed: BTreeSet<String>,
}

/// The monitor's group commit failing as a whole (`app.monitor_batch`, sql_batch.ts): every
/// other batchable money step (begins and saves, and flags on a path that flags; 1st, 3rd, 5th, …
/// of the scenario) is answered with a transient SQLSTATE, `left` times. `committed`: the batch
/// did commit and only its answer was lost (the connection dropped after the commit: 08006 or
/// 57P01, what such a loss looks like), so the write is durable although the driver hears an
/// error; otherwise nothing of it was written (any transient code).
#[derive(Clone, Debug)]
pub(crate) struct BatchFaults {
    pub(crate) committed: bool,
    pub(crate) left: u32,
    pub(crate) seen: u32,
    pub(crate) fired: u32,
}

/// The calls the executor batches that move a booking (`SqlFunction::batch` of the money steps).
const BATCHED_MONEY_STEPS: [&str; 3] = [
    "monitor_begin_attempt",
    "monitor_save_attempt",
    "monitor_flag_attempt",
];

/// The SQLSTATEs of a database that is failing over or overloaded, none of them permanent.
const TRANSIENT_SQLSTATES: [&str; 4] = ["08006", "40001", "57P01", "53300"];

/// The `name` of a saga phase as stored (`{"name": "capture"}`).
pub(crate) fn phase_name(phase: &booking_core::saga::Phase) -> String {
    serde_json::to_value(phase)
        .ok()
        .and_then(|v| v["name"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Everything the simulation mutates.
pub(crate) struct World {
    pub(crate) now: i64,
    pub(crate) rng: Rng,
    pub(crate) db: Db,
    pub(crate) upstash: Upstash,
    pub(crate) stripe: StripeFake,
    pub(crate) duffel: DuffelFake,
    pub(crate) plan: FaultPlan,
    pub(crate) calls: HashMap<Endpoint, u32>,
    /// Protocol violations seen as they happen (an order without a hold, a misused driver, …).
    pub(crate) violations: Vec<String>,
    pub(crate) ids: u64,
    /// Transient Postgres errors while an attempt in a given phase is resumed.
    pub(crate) sql_faults: Option<SqlFaults>,
    /// The group commit failing as a whole for money steps.
    pub(crate) batch_faults: Option<BatchFaults>,
    /// Upstash goes down for good (every call times out or answers 503) once an open attempt
    /// is found in this phase when a run takes or releases its lock.
    pub(crate) upstash_down_in: Option<&'static str>,
    pub(crate) upstash_down: bool,
    upstash_down_calls: u32,
}

impl World {
    pub(crate) fn new(seed: u64, now: i64) -> Self {
        Self {
            now,
            rng: Rng::new(seed),
            db: Db::default(),
            upstash: Upstash::default(),
            stripe: StripeFake::default(),
            duffel: DuffelFake::default(),
            plan: FaultPlan::default(),
            calls: HashMap::new(),
            violations: Vec::new(),
            ids: 0,
            sql_faults: None,
            batch_faults: None,
            upstash_down_in: None,
            upstash_down: false,
            upstash_down_calls: 0,
        }
    }

    /// Arms (or disarms) [`SqlFaults`] for the trips a claim handed out.
    pub(crate) fn claimed(&mut self, claims: &[serde_json::Value]) {
        let Some(f) = self.sql_faults.as_mut() else {
            return;
        };
        for claim in claims {
            let trip = claim["trip"]["id"].as_str().unwrap_or_default().to_owned();
            if claim["attempt"]["state"]["phase"]["name"].as_str() == Some(f.phase) {
                f.armed.insert(trip);
            } else {
                f.armed.remove(&trip);
            }
        }
    }

    /// Executes one `app.monitor_*` call, applying [`SqlFaults`].
    pub(crate) fn sql(
        &mut self,
        function: &str,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, &'static str> {
        let trip = match function {
            "monitor_passengers" => args["trip_id"].as_str().map(str::to_owned),
            "monitor_save_attempt" => args["attempt_id"]
                .as_str()
                .and_then(|id| self.db.attempts.get(id))
                .map(|a| a.trip_id.clone()),
            _ => None,
        };
        let calm = self.plan.calm;
        if let (Some(f), Some(trip)) = (self.sql_faults.as_mut(), trip) {
            // The first such call of the run fails (the run's next calls go through).
            if f.left > 0 && !calm && f.armed.remove(&trip) {
                f.left -= 1;
                f.fired += 1;
                return Err(TRANSIENT_SQLSTATES[f.fired as usize % TRANSIENT_SQLSTATES.len()]);
            }
        }
        if let Some(f) = self.batch_faults.as_mut() {
            if !calm && BATCHED_MONEY_STEPS.contains(&function) {
                f.seen += 1;
                if f.left > 0 && f.seen % 2 == 1 {
                    f.left -= 1;
                    f.fired += 1;
                    let sqlstate = if f.committed {
                        ["08006", "57P01"][f.fired as usize % 2]
                    } else {
                        TRANSIENT_SQLSTATES[f.fired as usize % TRANSIENT_SQLSTATES.len()]
                    };
                    if f.committed {
                        // Durable, but the driver never hears so (whatever it answered).
                        let _ = self.db.call(function, args, self.now);
                    }
                    return Err(sqlstate);
                }
            }
        }
        self.db.call(function, args, self.now)
    }

    /// A fresh UUID-shaped id.
    pub(crate) fn fresh_uuid(&mut self) -> String {
        self.ids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.ids)
    }

    /// Executes a request against the fakes, applying the fault plan. Like the shim's executor,
    /// it adds the service's credential; the core must never have set one.
    pub(crate) fn http(&mut self, core_request: &HttpRequest) -> Outcome {
        let now = self.now;
        if core_request.header("Authorization").is_some() {
            self.violations
                .push(format!("the core set a credential: {core_request:?}"));
        }
        let mut request = core_request.clone();
        let token = match request.service {
            Service::Duffel => "duffel_test_sim",
            Service::Stripe => "sk_test_sim",
            Service::Upstash => UPSTASH_TOKEN,
            Service::Resend => "re_sim",
        };
        request
            .headers
            .push(("Authorization".into(), format!("Bearer {token}")));
        let request = &request;
        let rest = request.path.as_str();
        if request.service == Service::Duffel {
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
        } else if request.service == Service::Stripe {
            let endpoint = StripeFake::endpoint(request, rest);
            let fault = self.fault(endpoint);
            let mut seen = Vec::new();
            let out = self.stripe.handle(request, rest, now, fault, &mut seen);
            self.violations.extend(seen);
            out
        } else if request.service == Service::Upstash && rest == "/" {
            if let Some(phase) = self.upstash_down_in {
                self.upstash_down = self.upstash_down
                    || self
                        .db
                        .attempts
                        .values()
                        .any(|a| a.is_open() && phase_name(&a.phase) == phase);
            }
            if self.upstash_down {
                // A release sent into the outage still counts as sent (the lock expires).
                self.upstash.note_release(request);
                self.upstash_down_calls += 1;
                return if self.upstash_down_calls.is_multiple_of(2) {
                    Outcome::Timeout
                } else {
                    Outcome::Response {
                        status: 503,
                        body: br#"{"error":"ERR service unavailable"}"#.to_vec(),
                    }
                };
            }
            let fault = self.fault(Endpoint::Lock);
            self.upstash.handle(request, now, fault)
        } else {
            self.violations
                .push(format!("request to an unknown service: {request:?}"));
            Outcome::Network
        }
    }

    fn duffel_endpoint(&self, request: &HttpRequest, rest: &str) -> Endpoint {
        if rest.starts_with("/air/offer_requests") {
            Endpoint::OfferRequest
        } else if rest.starts_with("/air/offers/") {
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
                    Fault::Late(LATE_IN_WINDOW_MS),
                ],
                Endpoint::GetOffer => [
                    Fault::Before(429),
                    Fault::Before(503),
                    Fault::Lost,
                    Fault::PriceSpike,
                    Fault::Before(504),
                    Fault::Lost,
                ],
                Endpoint::OfferRequest | Endpoint::Lock => [
                    Fault::Before(429),
                    Fault::Before(503),
                    Fault::Lost,
                    Fault::Before(500),
                    Fault::Before(502),
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
