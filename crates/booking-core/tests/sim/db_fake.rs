//! Stand-in for Postgres behind the monitor SQL API (`app.monitor_*`, docs/contracts.md): the
//! `trip_requests`, `booking_attempts`, `bookings`, outbox and `pipeline_events` rows the
//! monitor touches. Unlike Postgres every call is atomic and serial, and there is no SQL: each
//! `monitor_*` function is written out in Rust from the contract.

use std::collections::{BTreeMap, BTreeSet};

use booking_core::money::{Currency, Money};
use booking_core::saga::AttemptState;
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
