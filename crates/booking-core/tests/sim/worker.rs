//! One monitor run as a step machine: every `step` performs exactly one operation against the
//! world (a Redis call, a database transaction, or a provider request), so the scheduler can
//! crash it between any two operations or interleave two runs operation by operation.

use booking_core::duffel::order::{classify_offer, OrderPassenger, Reply};
use booking_core::duffel::{build_get_offer_request, DuffelConfig};
use booking_core::http::HttpRequest;
use booking_core::monitor::{decide, Decision, Quote, TripView};
use booking_core::saga::{self, AttemptState, Begin, Command, Context};
use booking_core::stripe::StripeConfig;
use booking_core::time::Timestamp;

use super::world::{TripRow, World, DUFFEL_URL, STRIPE_URL};

/// Redis lock lease: shorter than a run's wall clock in the real system.
pub(crate) const LOCK_MS: i64 = 30_000;

pub(crate) struct Configs {
    pub(crate) duffel: DuffelConfig,
    pub(crate) stripe: StripeConfig,
    pub(crate) travellers: Vec<OrderPassenger>,
}

impl Configs {
    pub(crate) fn new() -> Self {
        Self {
            duffel: DuffelConfig::new(DUFFEL_URL, "duffel_test_sim", 20_000).unwrap(),
            stripe: StripeConfig::new(STRIPE_URL, "sk_test_sim").unwrap(),
            travellers: vec![OrderPassenger {
                id: String::new(),
                title: "mx".into(),
                gender: "f".into(),
                given_name: "Sim".into(),
                family_name: "Traveller".into(),
                born_on: "1990-01-01".into(),
                email: "sim@example.test".into(),
                phone_number: "+15555550100".into(),
            }],
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            duffel: &self.duffel,
            stripe: &self.stripe,
            travellers: &self.travellers,
        }
    }
}

enum Stage {
    Lock(usize),
    Read(usize),
    Quote(usize, Box<TripRow>),
    Decide(usize, Box<TripRow>, Quote),
    Next(usize, Box<AttemptState>),
    Execute(usize, Box<(AttemptState, HttpRequest)>),
    Persist(usize, Box<AttemptState>),
    Unlock(usize),
    Finished,
}

pub(crate) struct Worker {
    trips: Vec<usize>,
    cursor: usize,
    stage: Stage,
    token: String,
    use_lock: bool,
}

impl Worker {
    pub(crate) fn new(trips: Vec<usize>, token: String, use_lock: bool) -> Self {
        let stage = trips.first().map_or(Stage::Finished, |&t| Stage::Lock(t));
        Self {
            trips,
            cursor: 0,
            stage,
            token,
            use_lock,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        matches!(self.stage, Stage::Finished)
    }

    fn after(&mut self) -> Stage {
        self.cursor += 1;
        self.trips
            .get(self.cursor)
            .map_or(Stage::Finished, |&t| Stage::Lock(t))
    }

    /// Performs one operation.
    pub(crate) fn step(&mut self, w: &mut World, cfg: &Configs) {
        let now = w.now;
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        self.stage = match stage {
            Stage::Finished => Stage::Finished,
            Stage::Lock(t) => {
                let key = format!("lock:trip:{}", w.db.trips[t].id);
                if !self.use_lock || w.redis.set_nx_px(&key, &self.token, LOCK_MS, now) {
                    Stage::Read(t)
                } else {
                    self.after()
                }
            }
            Stage::Read(t) => {
                let row = w.db.trips[t].clone();
                match row.status {
                    "watching" if row.offer_id.is_some() => Stage::Quote(t, Box::new(row)),
                    "booking" => match w.db.open_attempt(&row.id) {
                        Some(state) => Stage::Next(t, Box::new(state.clone())),
                        None => {
                            w.violations
                                .push(format!("trip {} booking without an open attempt", row.id));
                            Stage::Unlock(t)
                        }
                    },
                    _ => Stage::Unlock(t),
                }
            }
            Stage::Quote(t, row) => {
                let offer = row.offer_id.clone().unwrap_or_default();
                let request = build_get_offer_request(&cfg.duffel, &offer).unwrap();
                let quote = match w.http(&request) {
                    saga::Outcome::Response { status, body } => match classify_offer(status, &body)
                    {
                        Ok(Reply::Ok(o)) => Quote::Priced {
                            total: o.total,
                            expires_at: o.expires_at,
                        },
                        Ok(Reply::Refused(_)) => Quote::Gone,
                        _ => Quote::Unavailable,
                    },
                    _ => Quote::Unavailable,
                };
                Stage::Decide(t, row, quote)
            }
            Stage::Decide(t, row, quote) => self.decide(w, t, *row, quote),
            Stage::Next(t, state) => {
                match saga::next(&state, Timestamp::from_unix_ms(now), &cfg.ctx()) {
                    Command::Send { mark, request } => {
                        if w.db.persist(&mark, &[], now) {
                            Stage::Execute(t, Box::new((mark, request)))
                        } else {
                            Stage::Unlock(t)
                        }
                    }
                    Command::Write { state, effects } => {
                        if w.db.persist(&state, &effects, now) {
                            Stage::Next(t, Box::new(state))
                        } else {
                            Stage::Unlock(t)
                        }
                    }
                    Command::WaitUntil(at) => {
                        let row = &mut w.db.trips[t];
                        row.next_check_at = row.next_check_at.max(at.unix_ms());
                        Stage::Unlock(t)
                    }
                    Command::Done(_) => Stage::Unlock(t),
                    _ => unreachable!("no other commands exist"),
                }
            }
            Stage::Execute(t, sent) => {
                let (mark, request) = *sent;
                let outcome = w.http(&request);
                let after = saga::apply(&mark, Timestamp::from_unix_ms(now), outcome).unwrap();
                Stage::Persist(t, Box::new(after))
            }
            Stage::Persist(t, after) => {
                if w.db.persist(&after, &[], now) {
                    Stage::Next(t, after)
                } else {
                    Stage::Unlock(t)
                }
            }
            Stage::Unlock(t) => {
                if self.use_lock {
                    let key = format!("lock:trip:{}", w.db.trips[t].id);
                    w.redis.release(&key, &self.token);
                }
                self.after()
            }
        };
    }

    /// Decides on the row as read earlier (it may be stale by now: only the guarded writes below
    /// may rely on it).
    fn decide(&mut self, w: &mut World, t: usize, row: TripRow, quote: Quote) -> Stage {
        let now = w.now;
        let version = row.version;
        let view = TripView {
            status: row.status.to_owned(),
            auto_book: row.auto_book,
            departs_at: row.departs_at,
            max_total: row.max_total,
            has_selected_offer: row.offer_id.is_some(),
        };
        let seed = w.rng.next_u64();
        let guard_ok = w.db.trips[t].version == version;
        match decide(&view, quote, Timestamp::from_unix_ms(now), seed) {
            Decision::Book => {
                let attempt_id = w.fresh_id("att");
                let state = saga::begin(
                    Begin {
                        attempt_id,
                        trip_id: row.id.clone(),
                        offer_id: row.offer_id.clone().unwrap_or_default(),
                        max_total: row.max_total,
                        customer: "cus_sim".into(),
                        payment_method: row.payment_method.into(),
                        seed,
                    },
                    Timestamp::from_unix_ms(now),
                );
                if w.db.begin_attempt(t, version, state.clone()) {
                    Stage::Next(t, Box::new(state))
                } else {
                    Stage::Unlock(t)
                }
            }
            Decision::Wait { until, .. } if guard_ok => {
                w.db.trips[t].next_check_at = until.unix_ms();
                Stage::Unlock(t)
            }
            Decision::SearchAgain { .. } if guard_ok => {
                // The search stage (another module) picks a fresh offer; here the fake lists one.
                let id = w.fresh_id("off");
                let mut offer = w
                    .duffel
                    .offers
                    .iter()
                    .find(|o| Some(&o.id) == row.offer_id.as_ref())
                    .cloned()
                    .unwrap();
                offer.id = id.clone();
                offer.expires_at = now + 30 * 60_000;
                w.duffel.offers.push(offer);
                let r = &mut w.db.trips[t];
                r.offer_id = Some(id);
                r.version += 1;
                r.next_check_at = now + 60_000;
                Stage::Unlock(t)
            }
            Decision::Expire { .. } if guard_ok => {
                let r = &mut w.db.trips[t];
                r.status = "expired";
                r.version += 1;
                Stage::Unlock(t)
            }
            _ => Stage::Unlock(t),
        }
    }
}
