//! Stand-in for Postgres behind the monitor SQL API (`app.monitor_*`, docs/contracts.md): the
//! `trip_requests`, `booking_attempts`, `bookings`, outbox and `pipeline_events` rows the
//! monitor touches, and the kill switch of `pipeline_settings`. Unlike Postgres every call is
//! atomic and serial, and there is no SQL: each `monitor_*` function is written out in Rust from
//! the migrations (20261123000600_monitor_api.sql as replaced by
//! 20261124000100_monitor_money_safety.sql, 20261201000200_attempt_limit_dead_offers.sql and
//! 20261201000600_ledger_unclosable.sql's `monitor_flag_attempt` with its `operator_alerts` and
//! trip status `needs_operator`), answering and refusing (SQLSTATE) the same way: every trip
//! update bumps `version` (the `trip_requests_guard` trigger) except a claim's lease, which moves
//! only `next_check_at`; the attempt reason and
//! the booking reference must meet their check constraints (23514), codes must be snake_case
//! (22023). Not modelled: deletes (nothing in the monitor deletes), `due_left`, the
//! `pipeline_events` detail, offers other than the selected one, and `next_check_at = null`
//! (a trip the monitor no longer handles keeps a time nobody reads).

use std::collections::{BTreeMap, BTreeSet};

use booking_core::money::{Currency, Money};
use booking_core::saga::{AttemptState, End, Phase};
use booking_core::time::Timestamp;
use serde_json::{json, Value};

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
    /// `trip_requests.cancel_requested_at` is set (a cancel that met an open attempt).
    pub(crate) cancel_requested: bool,
    /// `payment_request` for the attempt `payment_request_attempt_id` (issue 7).
    pub(crate) traveller_request: Option<(String, &'static str)>,
    /// Simulation only: the traveller cancels once the monitor re-prices their hold.
    pub(crate) racing_cancel: bool,
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
#[derive(Clone, Debug)]
pub(crate) struct Db {
    /// `pipeline_settings.monitor_enabled`: the kill switch.
    pub(crate) monitor_enabled: bool,
    /// `monitor_begin_attempt` calls refused with `monitor_disabled` (not in the database: the
    /// simulation's own count, to show a scenario reached the refusal).
    pub(crate) disabled_refusals: u32,
    pub(crate) trips: Vec<TripRow>,
    pub(crate) attempts: BTreeMap<String, AttemptState>,
    /// `booking_attempts.created_at` (the database's clock at insert), by attempt id.
    pub(crate) attempt_created: BTreeMap<String, i64>,
    /// (trip id, attempt id, order id, amount)
    pub(crate) bookings: Vec<(String, String, String, Money)>,
    pub(crate) notifications: BTreeSet<String>,
    /// `pipeline_events` rows: (trip id, stage, decision, reason).
    pub(crate) events: Vec<(String, &'static str, String, String)>,
    /// `flight_offers.dead_at` set: (trip id, provider offer id).
    pub(crate) dead_offers: BTreeSet<(String, String)>,
    /// `operator_alerts` rows (all unresolved: nothing in the simulation resolves them).
    pub(crate) alerts: Vec<Alert>,
}

/// An `operator_alerts` row.
#[derive(Clone, Debug)]
pub(crate) struct Alert {
    pub(crate) trip_id: String,
    pub(crate) attempt_id: String,
    pub(crate) reason: String,
    pub(crate) sqlstate: Option<String>,
}

impl Default for Db {
    fn default() -> Self {
        Self {
            monitor_enabled: true,
            disabled_refusals: 0,
            trips: Vec::new(),
            attempts: BTreeMap::new(),
            attempt_created: BTreeMap::new(),
            bookings: Vec::new(),
            notifications: BTreeSet::new(),
            events: Vec::new(),
            dead_offers: BTreeSet::new(),
            alerts: Vec::new(),
        }
    }
}

/// A SQL call refused with this SQLSTATE (the transaction rolled back).
pub(crate) type SqlState = &'static str;

const MONITORED: [&str; 3] = ["searching", "watching", "booking"];

/// `monitor_begin_attempt`: at most this many attempts created per trip within
/// [`ATTEMPT_WINDOW_MS`].
pub(crate) const ATTEMPT_LIMIT: usize = 3;
/// The attempt limit's window: 24 hours.
pub(crate) const ATTEMPT_WINDOW_MS: i64 = 24 * 3_600_000;

/// `app.arg_code` and the `*_reason_format` checks: `^[a-z][a-z0-9_]{0,63}$`.
fn is_code(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `app.arg_code(args, key, required)`: the code, `None` when absent/null and optional, else
/// 22023.
fn arg_code<'a>(args: &'a Value, key: &str, required: bool) -> Result<Option<&'a str>, SqlState> {
    match &args[key] {
        Value::Null if !required => Ok(None),
        Value::String(text) if is_code(text) => Ok(Some(text)),
        _ => Err("22023"),
    }
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

    fn claim_json(&self, t: usize) -> Value {
        let row = &self.trips[t];
        json!({
            "trip": row.json(),
            "selected_offer": row.offer.as_ref().map(|o| json!({
                "provider_offer_id": o.provider_offer_id, "total_minor": o.total_minor,
                "currency": row.max_total.currency.code(), "expires_at": o.expires_at,
                "departing_at": o.departing_at})),
            "attempt": self.open_attempt(&row.id).map(|s| {
                // As app.monitor_claim_json: a pending cancel outranks another card.
                let request = if row.cancel_requested {
                    Some("cancel")
                } else {
                    row.traveller_request
                        .as_ref()
                        .filter(|(a, _)| *a == s.attempt_id)
                        .map(|(_, r)| *r)
                };
                json!({"state": s, "traveller_request": request})
            }),
            "payment": row.payment_method.map(|pm| json!({"customer": "cus_sim", "payment_method": pm})),
        })
    }

    /// Whether `monitor_claim` may take the trip now: any monitored status while the switch is
    /// on; with it off, only `booking` with an open attempt (in-flight money finishes).
    fn claimable(&self, t: usize) -> bool {
        let row = &self.trips[t];
        MONITORED.contains(&row.status)
            && (self.monitor_enabled
                || (row.status == "booking" && self.open_attempt(&row.id).is_some()))
    }

    /// `monitor_claim`: due trips oldest first (or just `trip_id`, due or not), leased. With the
    /// kill switch off, only `booking` trips with an open attempt.
    pub(crate) fn claim(
        &mut self,
        limit: usize,
        lease_ms: i64,
        trip_id: Option<&str>,
        now: i64,
    ) -> Vec<Value> {
        let mut due: Vec<usize> = (0..self.trips.len())
            .filter(|&t| self.claimable(t))
            .filter(|&t| match trip_id {
                Some(id) => self.trips[t].id == id,
                None => self.trips[t].next_check_at <= now,
            })
            .collect();
        due.sort_by(|&a, &b| {
            let key = |t: usize| (self.trips[t].next_check_at, self.trips[t].id.as_str());
            key(a).cmp(&key(b))
        });
        due.truncate(limit);
        due.into_iter()
            .map(|t| {
                // The lease moves only next_check_at: the version stays (defect 14).
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
                let at = ts(&args["next_check_at"]).ok_or("22007")?;
                let decision = arg_code(args, "decision", true)?;
                let reason = arg_code(args, "reason", false)?;
                let t = trip(self)?;
                let row = &mut self.trips[t];
                if !MONITORED.contains(&row.status) {
                    return Ok(json!({"ok": false}));
                }
                row.next_check_at = at;
                row.check_count += 1;
                row.version += 1;
                let id = row.id.clone();
                self.event(&id, "monitor", decision, reason);
                Ok(json!({"ok": true}))
            }
            "monitor_expire" => {
                let reason = arg_code(args, "reason", true)?;
                let t = trip(self)?;
                let row = &mut self.trips[t];
                let ok = matches!(row.status, "watching" | "searching");
                if ok {
                    row.status = "expired";
                    row.last_error_code = reason.map(str::to_owned);
                    row.version += 1;
                    let id = row.id.clone();
                    self.event(&id, "monitor", Some("expired"), reason);
                }
                Ok(json!({"ok": ok}))
            }
            "monitor_begin_attempt" => self.begin_attempt(args, now),
            "monitor_save_attempt" => self.save_attempt(args, now),
            "monitor_flag_attempt" => self.flag_attempt(args),
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
                // A dead offer is never selected again (record_search drops the selection).
                let trip_id = self.trips[t].id.clone();
                let selected = selected.filter(|id| {
                    !self
                        .dead_offers
                        .contains(&(trip_id.clone(), (*id).to_owned()))
                });
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

    /// `monitor_begin_attempt`, checked in the SQL's order: kill switch off →
    /// `monitor_disabled`; no trip → `trip_changed`; an open attempt → `attempt_open`; not
    /// `watching` or another version → `trip_changed`; [`ATTEMPT_LIMIT`] attempts created in the
    /// last [`ATTEMPT_WINDOW_MS`] → `attempt_limit`, and the trip is failed
    /// (`too_many_attempts`) with a `could_not_book` notification and a `monitor` event; else the
    /// trip moves to `booking` and the attempt is inserted (an attempt id already used: 23505).
    fn begin_attempt(&mut self, args: &Value, now: i64) -> Result<Value, SqlState> {
        let state: AttemptState =
            serde_json::from_value(args["state"].clone()).map_err(|_| "22023")?;
        let version = args["trip_version"].as_u64().ok_or("22023")?;
        if args["trip_id"].as_str() != Some(state.trip_id.as_str()) {
            return Err("22023");
        }
        if !state.is_open() {
            return Err("22023");
        }
        if !self.monitor_enabled {
            self.disabled_refusals += 1;
            return Ok(json!({"started": false, "reason": "monitor_disabled"}));
        }
        let Some(t) = self.trip_index(&state.trip_id) else {
            return Ok(json!({"started": false, "reason": "trip_changed"}));
        };
        if self.open_attempt(&state.trip_id).is_some() {
            return Ok(json!({"started": false, "reason": "attempt_open"}));
        }
        let row = &self.trips[t];
        if row.status != "watching" || row.version != version {
            return Ok(json!({"started": false, "reason": "trip_changed"}));
        }
        // Only attempts that held money (an intent named) or ended for the traveller's reasons.
        let recent = self
            .attempts
            .values()
            .filter(|a| a.trip_id == state.trip_id)
            .filter(|a| {
                a.payment_intent.is_some()
                    || a.phase
                        == (Phase::Closed {
                            end: End::NeedsTraveller,
                        })
            })
            .filter(|a| {
                self.attempt_created
                    .get(&a.attempt_id)
                    .is_some_and(|&at| at > now - ATTEMPT_WINDOW_MS)
            })
            .count();
        if recent >= ATTEMPT_LIMIT {
            let row = &mut self.trips[t];
            row.status = "failed";
            row.last_error_code = Some("too_many_attempts".into());
            row.version += 1;
            let id = row.id.clone();
            self.notifications.insert(format!("{id}-too_many_attempts"));
            self.event(&id, "monitor", Some("fail"), Some("too_many_attempts"));
            return Ok(json!({"started": false, "reason": "attempt_limit"}));
        }
        if self.attempts.contains_key(&state.attempt_id) {
            return Err("23505");
        }
        let row = &mut self.trips[t];
        row.status = "booking";
        row.version += 1;
        let id = row.id.clone();
        self.attempt_created.insert(state.attempt_id.clone(), now);
        self.attempts.insert(state.attempt_id.clone(), state);
        self.event(&id, "book", Some("attempt_started"), None);
        Ok(json!({"started": true}))
    }

    /// `monitor_flag_attempt`: an unresolved alert for the attempt and reason → flagged (only a
    /// trip still `booking` moves again); else missing, closed or at another version → not
    /// flagged, nothing written; else the attempt's version is bumped (a run holding the old one
    /// loses its compare-and-set), an alert and a `book` event `needs_operator` are written, the
    /// traveller's `booking_under_review` is enqueued when the attempt knows an order, and the
    /// trip moves `booking → needs_operator`.
    fn flag_attempt(&mut self, args: &Value) -> Result<Value, SqlState> {
        let attempt_id = args["attempt_id"].as_str().ok_or("22023")?.to_owned();
        let expected = args["expected_version"].as_u64().ok_or("22023")?;
        let reason = arg_code(args, "reason", true)?
            .unwrap_or_default()
            .to_owned();
        let sqlstate = match &args["sqlstate"] {
            Value::Null => None,
            Value::String(s)
                if s.len() == 5
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) =>
            {
                Some(s.clone())
            }
            _ => return Err("22023"),
        };
        let Some(stored) = self.attempts.get_mut(&attempt_id) else {
            return Ok(json!({"flagged": false}));
        };
        let trip_id = stored.trip_id.clone();
        let already = self
            .alerts
            .iter()
            .any(|a| a.attempt_id == attempt_id && a.reason == reason);
        if !already {
            if !stored.is_open() || stored.version != expected {
                return Ok(json!({"flagged": false}));
            }
            stored.version += 1;
            let ticketed = stored.order.is_some();
            self.alerts.push(Alert {
                trip_id: trip_id.clone(),
                attempt_id: attempt_id.clone(),
                reason: reason.clone(),
                sqlstate,
            });
            self.event(&trip_id, "book", Some("needs_operator"), Some(&reason));
            if ticketed {
                self.notifications
                    .insert(format!("{attempt_id}-booking_under_review"));
            }
        }
        let t = self.trip_index(&trip_id).ok_or("P0002")?;
        let row = &mut self.trips[t];
        if row.status == "booking" {
            row.status = "needs_operator";
            row.last_error_code = Some(reason);
            row.version += 1;
        }
        Ok(json!({"flagged": true}))
    }

    /// `monitor_save_attempt`: compare-and-set on the attempt version (missing, closed or at
    /// another version: saved false), then the effects, all in one transaction (validated
    /// before anything is applied, so a refusal writes nothing).
    fn save_attempt(&mut self, args: &Value, now: i64) -> Result<Value, SqlState> {
        let state: AttemptState =
            serde_json::from_value(args["state"].clone()).map_err(|_| "22023")?;
        let expected = args["expected_version"].as_u64().ok_or("22023")?;
        if args["attempt_id"].as_str() != Some(state.attempt_id.as_str())
            || state.version <= expected
        {
            return Err("22023");
        }
        let Some(stored) = self.attempts.get(&state.attempt_id) else {
            return Ok(json!({"saved": false}));
        };
        if !stored.is_open() || stored.version != expected {
            return Ok(json!({"saved": false}));
        }
        let trip_id = stored.trip_id.clone();
        if state.trip_id != trip_id {
            return Err("22023");
        }
        // As app.monitor_save_attempt (20261204000100): no order on a hold the traveller
        // authenticated while their cancel or another card is pending; the trip is due now.
        if state.phase == Phase::Order && state.authorized.is_some() {
            let t = self.trip_index(&trip_id).ok_or("P0002")?;
            let row = &mut self.trips[t];
            let pending = row.cancel_requested
                || row
                    .traveller_request
                    .as_ref()
                    .is_some_and(|(a, _)| *a == state.attempt_id);
            if pending {
                row.next_check_at = now;
                return Ok(json!({"saved": false, "refused": "traveller_request"}));
            }
        }
        // booking_attempts_reason_format
        if state.reason.as_deref().is_some_and(|r| !is_code(r)) {
            return Err("23514");
        }
        let effects = args["effects"].as_array().ok_or("22023")?;
        let t = self.trip_index(&trip_id).ok_or("P0002")?;
        let mut status = self.trips[t].status;
        for effect in effects {
            if effect["trip_id"].as_str() != Some(trip_id.as_str()) {
                return Err("22023");
            }
            match effect["kind"].as_str() {
                Some("set_trip_status") => {
                    let to = arg_code(effect, "to", true)?.unwrap_or_default();
                    arg_code(effect, "reason", false)?;
                    if !effect["next_check_at"].is_null() && ts(&effect["next_check_at"]).is_none()
                    {
                        return Err("22007");
                    }
                    if status != to && status != "booking" {
                        return Err("55000");
                    }
                    status = match to {
                        "booked" => "booked",
                        "needs_traveller" => "needs_traveller",
                        "watching" => "watching",
                        "failed" => "failed",
                        "expired" => "expired",
                        // booking -> anything else breaks the status graph.
                        _ => return Err("55000"),
                    };
                }
                Some("record_booking") => {
                    // bookings_booking_reference_format
                    let reference = effect["booking_reference"].as_str().ok_or("22023")?;
                    let ok = (1..=32).contains(&reference.len())
                        && reference.bytes().all(|b| b.is_ascii_alphanumeric());
                    if !ok {
                        return Err("23514");
                    }
                    let order_id = effect["order_id"].as_str().ok_or("22023")?;
                    if effect["attempt_id"].as_str() != Some(state.attempt_id.as_str()) {
                        return Err("22023");
                    }
                    money(&effect["amount"])?;
                    // Idempotent on attempt_id (ON CONFLICT DO NOTHING); another attempt's row
                    // with the same provider order id breaks bookings_provider_order_key, and
                    // the whole transaction (state and every effect) rolls back.
                    let ours = self.bookings.iter().any(|b| b.1 == state.attempt_id);
                    if !ours && self.bookings.iter().any(|b| b.2 == order_id) {
                        return Err("23505");
                    }
                }
                Some("mark_offer_dead") => {
                    let id = effect["offer_id"].as_str().ok_or("22023")?;
                    if id.is_empty() || id.len() > 255 {
                        return Err("22023");
                    }
                }
                Some("notify") => {
                    arg_code(effect, "template", true)?;
                    effect["dedupe_key"].as_str().ok_or("22023")?;
                }
                Some("log_decision") => {
                    arg_code(effect, "decision", true)?;
                    arg_code(effect, "reason", false)?;
                }
                _ => return Err("22023"),
            }
        }
        for effect in effects {
            match effect["kind"].as_str() {
                Some("set_trip_status") => {
                    let to = status_name(effect["to"].as_str().unwrap_or_default());
                    let row = &mut self.trips[t];
                    if row.status != to {
                        row.status = to;
                        row.version += 1;
                        if row.cancel_requested && matches!(to, "watching" | "needs_traveller") {
                            // app.trip_requests_cancel_pending: the pending cancel takes effect.
                            row.status = "cancelled";
                        }
                        row.next_check_at = ts(&effect["next_check_at"]).unwrap_or(now);
                        row.last_error_code = if to == "booked" {
                            None
                        } else {
                            effect["reason"].as_str().map(str::to_owned)
                        };
                    }
                }
                Some("record_booking") => {
                    let attempt_id = effect["attempt_id"].as_str().unwrap_or_default();
                    let order_id = effect["order_id"].as_str().unwrap_or_default();
                    // Idempotent on attempt_id (the conflict was checked above).
                    if self.bookings.iter().any(|b| b.1 == attempt_id) {
                        continue;
                    }
                    self.bookings.push((
                        trip_id.clone(),
                        attempt_id.to_owned(),
                        order_id.to_owned(),
                        money(&effect["amount"])?,
                    ));
                }
                Some("mark_offer_dead") => {
                    let id = effect["offer_id"].as_str().unwrap_or_default().to_owned();
                    self.dead_offers.insert((trip_id.clone(), id.clone()));
                    let row = &mut self.trips[t];
                    let selected = row
                        .offer
                        .as_ref()
                        .is_some_and(|o| o.provider_offer_id == id);
                    if selected && row.status != "booking" {
                        row.offer = None;
                        row.version += 1;
                    }
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

/// The `&'static` trip status for a status name checked by `save_attempt`.
fn status_name(to: &str) -> &'static str {
    ["booked", "needs_traveller", "watching", "failed", "expired"]
        .into_iter()
        .find(|s| *s == to)
        .unwrap_or("failed")
}

/// `{amount_minor, currency}` as [`Money`], else 22023.
fn money(value: &Value) -> Result<Money, SqlState> {
    let currency =
        Currency::parse(value["currency"].as_str().unwrap_or("")).map_err(|_| "22023")?;
    Money::from_minor(value["amount_minor"].as_i64().ok_or("22023")?, currency).map_err(|_| "22023")
}

fn ts(value: &Value) -> Option<i64> {
    value
        .as_str()
        .and_then(Timestamp::parse_rfc3339)
        .map(Timestamp::unix_ms)
}

/// The fake's own answers for the money-safety rules, against the SQL's (supabase/tests/database/90_*.sql).
#[cfg(test)]
mod tests {
    use booking_core::saga::{self, Begin};

    use super::*;

    const NOW: i64 = 1_790_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn trip(id: &str, status: &'static str) -> TripRow {
        let gbp = Currency::parse("GBP").unwrap();
        TripRow {
            id: id.to_owned(),
            status,
            version: 1,
            offer: None,
            max_total: Money::from_minor(40_000, gbp).unwrap(),
            departure_date: "2026-12-12".into(),
            next_check_at: NOW - HOUR,
            check_count: 0,
            last_error_code: None,
            auto_book: true,
            payment_method: Some("pm_card_visa"),
            has_travellers: true,
            cancel_requested: false,
            traveller_request: None,
            racing_cancel: false,
        }
    }

    fn attempt(attempt_id: &str, trip_id: &str) -> AttemptState {
        saga::begin(
            Begin {
                attempt_id: attempt_id.to_owned(),
                trip_id: trip_id.to_owned(),
                offer_id: "off_1".into(),
                max_total: Money::from_minor(40_000, Currency::parse("GBP").unwrap()).unwrap(),
                customer: "cus_1".into(),
                payment_method: "pm_1".into(),
                seed: 1,
            },
            Timestamp::from_unix_ms(NOW),
        )
    }

    fn begin(db: &mut Db, trip_id: &str, attempt_id: &str) -> Value {
        let t = db.trip_index(trip_id).unwrap();
        let args = json!({"trip_id": trip_id, "trip_version": db.trips[t].version,
            "state": attempt(attempt_id, trip_id)});
        db.call("monitor_begin_attempt", &args, NOW).unwrap()
    }

    fn ids(claims: &[Value]) -> Vec<&str> {
        claims
            .iter()
            .map(|c| c["trip"]["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_paused_claim_takes_only_booking_trips_with_an_open_attempt() {
        let mut db = Db {
            trips: vec![
                trip("t-watching", "watching"),
                trip("t-searching", "searching"),
                trip("t-booking", "booking"),
                trip("t-stray", "booking"),
            ],
            ..Db::default()
        };
        let open = attempt("a-1", "t-booking");
        db.attempts.insert("a-1".into(), open);
        db.monitor_enabled = false;
        let claimed = db.claim(10, 60_000, None, NOW);
        assert_eq!(ids(&claimed), ["t-booking"]);
        assert_eq!(claimed[0]["attempt"]["state"]["attempt_id"], "a-1");
        assert!(db.claim(1, 60_000, Some("t-watching"), NOW).is_empty());
        assert_eq!(
            begin(&mut db, "t-watching", "a-2"),
            json!({"started": false, "reason": "monitor_disabled"})
        );
        assert_eq!(db.trips[0].status, "watching");
        db.monitor_enabled = true;
        let claimed = db.claim(10, 60_000, None, NOW);
        assert_eq!(ids(&claimed), ["t-searching", "t-stray", "t-watching"]);
    }

    #[test]
    fn a_fourth_attempt_in_24_hours_fails_the_trip() {
        let mut db = Db {
            trips: vec![trip("t-1", "watching"), trip("t-2", "watching")],
            ..Db::default()
        };
        for (n, age) in [(1, HOUR), (2, 2 * HOUR), (3, 23 * HOUR), (4, 25 * HOUR)] {
            let id = format!("old-{n}");
            let mut a = attempt(&id, if n < 4 { "t-1" } else { "t-2" });
            a.phase = Phase::Closed {
                end: End::SearchAgain,
            };
            a.payment_intent = Some(format!("pi_{n}"));
            db.attempts.insert(id.clone(), a);
            db.attempt_created.insert(id, NOW - age);
        }
        assert_eq!(
            begin(&mut db, "t-1", "new-1"),
            json!({"started": false, "reason": "attempt_limit"})
        );
        assert_eq!(db.trips[0].status, "failed");
        assert_eq!(
            db.trips[0].last_error_code.as_deref(),
            Some("too_many_attempts")
        );
        assert!(db.notifications.contains("t-1-too_many_attempts"));
        assert!(!db.attempts.contains_key("new-1"));
        assert_eq!(
            db.events.last().unwrap(),
            &(
                "t-1".to_owned(),
                "monitor",
                "fail".to_owned(),
                "too_many_attempts".to_owned()
            )
        );
        assert_eq!(begin(&mut db, "t-2", "new-2"), json!({"started": true}));
        assert_eq!(db.attempt_created["new-2"], NOW);
    }

    #[test]
    fn attempts_a_provider_outage_ended_do_not_count_towards_the_limit() {
        let mut db = Db {
            trips: vec![trip("t-1", "watching"), trip("t-2", "watching")],
            ..Db::default()
        };
        for n in 0..4 {
            let id = format!("outage-{n}");
            let mut a = attempt(&id, "t-1");
            a.phase = Phase::Closed {
                end: End::SearchAgain,
            };
            db.attempts.insert(id.clone(), a);
            db.attempt_created.insert(id, NOW - HOUR);
        }
        for n in 0..3 {
            let id = format!("declined-{n}");
            let mut a = attempt(&id, "t-2");
            a.phase = Phase::Closed {
                end: End::NeedsTraveller,
            };
            db.attempts.insert(id.clone(), a);
            db.attempt_created.insert(id, NOW - HOUR);
        }
        assert_eq!(begin(&mut db, "t-1", "new-1"), json!({"started": true}));
        assert_eq!(
            begin(&mut db, "t-2", "new-2"),
            json!({"started": false, "reason": "attempt_limit"})
        );
    }

    #[test]
    fn a_claim_leases_without_bumping_the_version() {
        let mut db = Db {
            trips: vec![trip("t-1", "watching")],
            ..Db::default()
        };
        db.claim(1, 60_000, Some("t-1"), NOW);
        assert_eq!(db.trips[0].version, 1);
        assert_eq!(db.trips[0].next_check_at, NOW + 60_000);
    }
}
