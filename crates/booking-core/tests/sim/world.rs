//! The simulated world: virtual time, the database and Upstash stand-ins, the provider fakes,
//! and the fault plan. See the module docs of `sim` for what each stand-in differs in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use booking_core::http::HttpRequest;
use booking_core::money::{Currency, Money};
use booking_core::saga::{AttemptState, Outcome};
use booking_core::time::Timestamp;
use serde_json::{json, Value};

use super::duffel_fake::DuffelFake;
use super::stripe_fake::StripeFake;
use super::Rng;

pub(crate) const DUFFEL_URL: &str = "http://duffel.sim";
pub(crate) const STRIPE_URL: &str = "http://stripe.sim";
pub(crate) const UPSTASH_URL: &str = "http://upstash.sim";
pub(crate) const UPSTASH_TOKEN: &str = "upstash_sim";

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

/// A `flight_offers` row as the claim shows the selected one.
#[derive(Clone, Debug)]
pub(crate) struct OfferRow {
    pub(crate) provider_offer_id: String,
    pub(crate) total_minor: i64,
    pub(crate) expires_at: Timestamp,
    pub(crate) departing_at: String,
}

/// A `trip_requests` row (the fields the monitor touches), plus the owner's travellers and
/// payment profile.
#[derive(Clone, Debug)]
pub(crate) struct TripRow {
    pub(crate) id: String,
    pub(crate) status: &'static str,
    pub(crate) version: u64,
    pub(crate) offer: Option<OfferRow>,
    pub(crate) max_total: Money,
    pub(crate) departure_date: String,
    pub(crate) next_check_at: i64,
    pub(crate) check_count: u32,
    pub(crate) last_error_code: Option<String>,
    pub(crate) auto_book: bool,
    pub(crate) payment_method: Option<&'static str>,
    pub(crate) has_travellers: bool,
}

impl TripRow {
    /// The contract's trip row JSON.
    fn json(&self) -> Value {
        json!({"id": self.id, "owner_id": "11111111-2222-4333-8444-555555555555",
            "origin": "LHR", "destination": "JFK", "departure_date": self.departure_date,
            "return_date": null, "adults": 1, "child_ages": [], "cabin": "economy",
            "nonstop_only": false, "max_total_minor": self.max_total.amount_minor,
            "currency": self.max_total.currency.code(), "auto_book": self.auto_book,
            "status": self.status,
            "selected_offer_id": self.offer.as_ref().map(|_| "99999999-0000-4000-8000-000000000000"),
            "next_check_at": Timestamp::from_unix_ms(self.next_check_at),
            "check_count": self.check_count, "last_error_code": self.last_error_code,
            "version": self.version, "created_at": "2026-09-01T10:00:00Z",
            "updated_at": "2026-09-01T10:00:00Z"})
    }
}

/// Stand-in for Postgres behind the monitor SQL API (`app.monitor_*`, docs/contracts.md).
#[derive(Clone, Debug, Default)]
pub(crate) struct Db {
    pub(crate) trips: Vec<TripRow>,
    pub(crate) attempts: BTreeMap<String, AttemptState>,
    /// (trip id, attempt id, order id, amount)
    pub(crate) bookings: Vec<(String, String, String, Money)>,
    pub(crate) notifications: BTreeSet<String>,
    /// `pipeline_events` rows: (trip id, stage, decision, reason).
    pub(crate) events: Vec<(String, &'static str, String, String)>,
}

/// A SQL call refused with this SQLSTATE (the transaction rolled back).
pub(crate) type SqlState = &'static str;

const MONITORED: [&str; 3] = ["searching", "watching", "booking"];

impl Db {
    pub(crate) fn trip_index(&self, trip_id: &str) -> Option<usize> {
        self.trips.iter().position(|t| t.id == trip_id)
    }

    pub(crate) fn open_attempt(&self, trip_id: &str) -> Option<&AttemptState> {
        self.attempts
            .values()
            .find(|a| a.trip_id == trip_id && a.is_open())
    }

    fn claim_json(&self, t: usize) -> Value {
        let row = &self.trips[t];
        json!({
            "trip": row.json(),
            "selected_offer": row.offer.as_ref().map(|o| json!({
                "provider_offer_id": o.provider_offer_id, "total_minor": o.total_minor,
                "currency": row.max_total.currency.code(), "expires_at": o.expires_at,
                "departing_at": o.departing_at})),
            "attempt": self.open_attempt(&row.id).map(|s| json!({"state": s})),
            "payment": row.payment_method.map(|pm| json!({"customer": "cus_sim", "payment_method": pm})),
        })
    }

    /// `monitor_claim`: due trips oldest first (or just `trip_id`, due or not), leased.
    pub(crate) fn claim(
        &mut self,
        limit: usize,
        lease_ms: i64,
        trip_id: Option<&str>,
        now: i64,
    ) -> Vec<Value> {
        let mut due: Vec<usize> = (0..self.trips.len())
            .filter(|&t| MONITORED.contains(&self.trips[t].status))
            .filter(|&t| match trip_id {
                Some(id) => self.trips[t].id == id,
                None => self.trips[t].next_check_at <= now,
            })
            .collect();
        due.sort_by_key(|&t| self.trips[t].next_check_at);
        due.truncate(limit);
        due.into_iter()
            .map(|t| {
                self.trips[t].next_check_at = now + lease_ms;
                self.claim_json(t)
            })
            .collect()
    }

    /// Executes one `app.monitor_*` function in its own transaction.
    pub(crate) fn call(
        &mut self,
        function: &str,
        args: &Value,
        now: i64,
    ) -> Result<Value, SqlState> {
        let trip = |db: &Self| {
            args["trip_id"]
                .as_str()
                .and_then(|id| db.trip_index(id))
                .ok_or("P0002")
        };
        match function {
            "monitor_reschedule" => {
                let t = trip(self)?;
                let at = ts(&args["next_check_at"]).ok_or("22023")?;
                let row = &mut self.trips[t];
                row.next_check_at = at;
                row.check_count += 1;
                let id = row.id.clone();
                self.event(
                    &id,
                    "monitor",
                    args["decision"].as_str(),
                    args["reason"].as_str(),
                );
                Ok(json!({"ok": true}))
            }
            "monitor_expire" => {
                let t = trip(self)?;
                let row = &mut self.trips[t];
                let ok = matches!(row.status, "watching" | "searching");
                if ok {
                    row.status = "expired";
                    row.version += 1;
                    let id = row.id.clone();
                    self.event(&id, "monitor", Some("expire"), args["reason"].as_str());
                }
                Ok(json!({"ok": ok}))
            }
            "monitor_begin_attempt" => {
                let t = trip(self)?;
                let state: AttemptState =
                    serde_json::from_value(args["state"].clone()).map_err(|_| "22023")?;
                let row = &self.trips[t];
                if Some(row.version) != args["trip_version"].as_u64() || row.status != "watching" {
                    return Ok(json!({"started": false, "reason": "trip_changed"}));
                }
                if self.open_attempt(&row.id).is_some() {
                    return Ok(json!({"started": false, "reason": "attempt_open"}));
                }
                if self.attempts.contains_key(&state.attempt_id) {
                    return Err("23505");
                }
                let row = &mut self.trips[t];
                row.status = "booking";
                row.version += 1;
                self.attempts.insert(state.attempt_id.clone(), state);
                Ok(json!({"started": true}))
            }
            "monitor_save_attempt" => self.save_attempt(args, now),
            "monitor_passengers" => {
                let t = trip(self)?;
                Ok(if self.trips[t].has_travellers {
                    json!({"passengers": [{"title": "mx", "gender": "f", "given_name": "Sim",
                        "family_name": "Traveller", "born_on": "1990-01-01",
                        "email": "sim@example.test", "phone_number": "+15555550100"}]})
                } else {
                    json!({"passengers": null, "reason": "travelers_missing"})
                })
            }
            "monitor_record_search" => {
                let t = trip(self)?;
                if !matches!(self.trips[t].status, "searching" | "watching") {
                    return Err("55000");
                }
                let result = &args["result"];
                let next = ts(&result["next_check_at"]).ok_or("22023")?;
                let selected = result["selected_provider_offer_id"].as_str();
                let offer = match selected {
                    Some(id) => {
                        let o = result["offers"]
                            .as_array()
                            .and_then(|offers| offers.iter().find(|o| o["provider_offer_id"] == id))
                            .ok_or("22023")?;
                        Some(OfferRow {
                            provider_offer_id: id.to_owned(),
                            total_minor: o["total_minor"].as_i64().ok_or("22023")?,
                            expires_at: Timestamp::from_unix_ms(
                                ts(&o["expires_at"]).ok_or("22023")?,
                            ),
                            departing_at: o["departing_at"].as_str().ok_or("22023")?.to_owned(),
                        })
                    }
                    None => None,
                };
                let row = &mut self.trips[t];
                row.offer = offer;
                row.status = "watching";
                row.next_check_at = next;
                row.check_count += 1;
                row.last_error_code = None;
                row.version += 1;
                let id = row.id.clone();
                self.event(&id, "search", result["decision"].as_str(), None);
                let offer = self.claim_json(t)["selected_offer"].clone();
                Ok(json!({"trip": self.trips[t].json(), "selected_offer": offer}))
            }
            "monitor_record_search_failure" => {
                let t = trip(self)?;
                if !matches!(self.trips[t].status, "searching" | "watching") {
                    return Err("55000");
                }
                let next = ts(&args["next_check_at"]).ok_or("22023")?;
                let row = &mut self.trips[t];
                row.next_check_at = next;
                row.last_error_code = args["error_code"].as_str().map(str::to_owned);
                row.version += 1;
                let id = row.id.clone();
                self.event(
                    &id,
                    "search",
                    Some("search_failed"),
                    args["error_code"].as_str(),
                );
                Ok(json!({"trip": self.trips[t].json(), "selected_offer": null}))
            }
            _ => Err("42883"),
        }
    }

    fn event(
        &mut self,
        trip: &str,
        stage: &'static str,
        decision: Option<&str>,
        reason: Option<&str>,
    ) {
        self.events.push((
            trip.to_owned(),
            stage,
            decision.unwrap_or("").to_owned(),
            reason.unwrap_or("").to_owned(),
        ));
    }

    /// `monitor_save_attempt`: compare-and-set on the attempt version, then the effects, all in
    /// one transaction (validated before anything is applied).
    fn save_attempt(&mut self, args: &Value, now: i64) -> Result<Value, SqlState> {
        let state: AttemptState =
            serde_json::from_value(args["state"].clone()).map_err(|_| "22023")?;
        let expected = args["expected_version"].as_u64().ok_or("22023")?;
        let Some(stored) = self.attempts.get(&state.attempt_id) else {
            return Ok(json!({"saved": false}));
        };
        if stored.version != expected || state.version != expected + 1 {
            return Ok(json!({"saved": false}));
        }
        let effects = args["effects"].as_array().ok_or("22023")?;
        for effect in effects {
            if effect["kind"] == "set_trip_status" {
                let i = effect["trip_id"]
                    .as_str()
                    .and_then(|id| self.trip_index(id))
                    .ok_or("P0002")?;
                if self.trips[i].status != "booking" {
                    return Ok(json!({"saved": false}));
                }
            }
        }
        for effect in effects {
            let trip_id = effect["trip_id"].as_str().unwrap_or_default().to_owned();
            match effect["kind"].as_str() {
                Some("set_trip_status") => {
                    let i = self.trip_index(&trip_id).ok_or("P0002")?;
                    let to = match effect["to"].as_str() {
                        Some("booked") => "booked",
                        Some("needs_traveller") => "needs_traveller",
                        Some("watching") => "watching",
                        Some("failed") => "failed",
                        _ => return Err("22023"),
                    };
                    let row = &mut self.trips[i];
                    row.status = to;
                    row.version += 1;
                    row.next_check_at = now;
                }
                Some("record_booking") => {
                    let currency =
                        Currency::parse(effect["amount"]["currency"].as_str().unwrap_or(""))
                            .map_err(|_| "22023")?;
                    let amount = Money::from_minor(
                        effect["amount"]["amount_minor"].as_i64().ok_or("22023")?,
                        currency,
                    )
                    .map_err(|_| "22023")?;
                    if self.bookings.iter().any(|b| b.0 == trip_id) {
                        return Err("23505");
                    }
                    self.bookings.push((
                        trip_id,
                        effect["attempt_id"].as_str().unwrap_or_default().to_owned(),
                        effect["order_id"].as_str().unwrap_or_default().to_owned(),
                        amount,
                    ));
                }
                Some("notify") => {
                    self.notifications
                        .insert(effect["dedupe_key"].as_str().unwrap_or_default().to_owned());
                }
                Some("log_decision") => {
                    let decision = effect["decision"].as_str().map(str::to_owned);
                    self.event(
                        &trip_id,
                        "book",
                        decision.as_deref(),
                        effect["reason"].as_str(),
                    );
                }
                _ => return Err("22023"),
            }
        }
        self.attempts.insert(state.attempt_id.clone(), state);
        Ok(json!({"saved": true}))
    }
}

fn ts(value: &Value) -> Option<i64> {
    value
        .as_str()
        .and_then(Timestamp::parse_rfc3339)
        .map(Timestamp::unix_ms)
}

/// Stand-in for Upstash Redis REST behind the lock: `SET NX PX` and the compare-and-delete
/// `EVAL`, with expiry on virtual time.
#[derive(Clone, Debug, Default)]
pub(crate) struct Upstash {
    pub(crate) keys: HashMap<String, (String, i64)>,
    /// A broken lock that never excludes anyone: the database guards alone must suffice.
    pub(crate) broken: bool,
    /// Tokens whose release (`EVAL`) was sent, whether or not it got through.
    pub(crate) releases: BTreeSet<String>,
}

impl Upstash {
    fn handle(&mut self, request: &HttpRequest, now: i64, fault: Option<Fault>) -> Outcome {
        if request.header("Authorization") != Some(&format!("Bearer {UPSTASH_TOKEN}")) {
            return respond(401, json!({"error": "Unauthorized"}));
        }
        let command: Vec<Value> =
            serde_json::from_str(request.body.as_deref().unwrap_or("")).unwrap_or_default();
        let text = |i: usize| command.get(i).and_then(Value::as_str).unwrap_or("");
        if text(0) == "EVAL" {
            self.releases.insert(text(4).to_owned());
        }
        match fault {
            Some(Fault::Lost) => return Outcome::Timeout,
            Some(Fault::Before(status)) => {
                return respond(status, json!({"error": "ERR unavailable"}))
            }
            _ => {}
        }
        match text(0) {
            "SET" if text(3) == "NX" && text(4) == "PX" => {
                let lease = command.get(5).and_then(Value::as_i64).unwrap_or(0);
                let held = self
                    .keys
                    .get(text(1))
                    .is_some_and(|(_, expires)| *expires > now);
                if held && !self.broken {
                    return respond(200, json!({"result": null}));
                }
                self.keys
                    .insert(text(1).to_owned(), (text(2).to_owned(), now + lease));
                respond(200, json!({"result": "OK"}))
            }
            "EVAL" if text(1).contains("KEYS[1]") => {
                let (key, token) = (text(3), text(4));
                let ours = self
                    .keys
                    .get(key)
                    .is_some_and(|(t, expires)| t == token && *expires > now);
                if ours {
                    self.keys.remove(key);
                }
                respond(200, json!({"result": i64::from(ours)}))
            }
            _ => respond(400, json!({"error": "ERR unknown command"})),
        }
    }

    /// Keys held (unexpired) by a token starting with `prefix-` that was never released.
    pub(crate) fn unreleased_by_run(&self, prefix: &str, now: i64) -> usize {
        let prefix = format!("{prefix}-");
        self.keys
            .values()
            .filter(|(t, expires)| {
                t.starts_with(&prefix) && *expires > now && !self.releases.contains(t)
            })
            .count()
    }
}

fn respond(status: u16, body: Value) -> Outcome {
    Outcome::Response {
        status,
        body: body.to_string().into_bytes(),
    }
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
        }
    }

    /// A fresh UUID-shaped id.
    pub(crate) fn fresh_uuid(&mut self) -> String {
        self.ids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.ids)
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
        } else if request.url == UPSTASH_URL {
            let fault = self.fault(Endpoint::Lock);
            self.upstash.handle(request, now, fault)
        } else {
            self.violations
                .push(format!("request to an unknown host: {}", request.url));
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
