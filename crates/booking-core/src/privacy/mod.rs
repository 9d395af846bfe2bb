//! GDPR: erasure (Art. 17) as a resumable [`Driver`], and the request of the `privacy` and
//! `privacy-operator` functions (`docs/privacy.md`, `docs/contracts.md` "privacy").
//!
//! The erasure's progress lives in one database row (`erasure_requests`, migration
//! `20261203000500_gdpr_erasure.sql`); the driver only ever acts on the step that row says, and
//! records each step as done before the next side effect:
//!
//! | step | the driver | then |
//! | --- | --- | --- |
//! | (start) | `sql privacy_erase {}` (caller) or `erasure_open {user_id}` (operator) | the row's state |
//! | `waiting` | an attempt of the user may hold money: answer 409 `erasure_waiting_for_payment` with `retry_after_seconds` | (a later request resumes) |
//! | `scrub` | `sql erasure_advance {step: scrub}`: the database part, one transaction | state |
//! | `stripe` | `DELETE /v1/customers/{cus}` (`Idempotency-Key: erasure-<id>-customer`); 200 or 404 → `erasure_advance {step: stripe}`; another 4xx → `erasure_stripe_refused {status}` then 502 `stripe_rejected` | state |
//! | `redis` | `SCAN 0 MATCH rl:*:<user>:*` until the cursor is 0, then `DEL` those keys and `lock:trip:<id>` of every trip → `erasure_advance {step: redis}` (deletes `auth.users` last) | state |
//! | `done` | answer 200 `{erasure}` | |
//!
//! A crash between any two commands leaves the row at its last step; the next request starts
//! again from there (each step is idempotent: a customer already deleted answers 404, keys
//! already gone delete nothing, `erasure_advance` with a step that is no longer current changes
//! nothing). Stripe or Redis unavailable: 503 with `retry_after_seconds`, the row unchanged.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlFunction};
use crate::http::HttpRequest;
use crate::id::Uuid;
use crate::reply::Reply;
use crate::stripe::cards::delete_customer_request;
use crate::time::Timestamp;
use crate::trip::{parse_object, FieldError, TripError};
use crate::upstash;

#[cfg(test)]
mod tests;

/// The Redis key prefix of the per-user rate limits (`supabase/functions/_shared/ratelimit.ts`
/// makes `rl:<function>:<user id>:<window>`).
pub const RATE_LIMIT_PREFIX: &str = "rl";

/// Keys per `SCAN` page asked for.
const SCAN_COUNT: u32 = 1000;
/// At most this many `SCAN` pages per erasure request (then the next request goes on).
const MAX_SCANS: u32 = 200;
/// Keys per `DEL`.
const DEL_CHUNK: usize = 500;
/// How long a caller should wait before asking again when a provider is unavailable.
const PROVIDER_RETRY_SECONDS: u32 = 30;

/// What a `privacy` request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivacyAction {
    /// Erase the caller (user) or `user_id` (operator).
    Erase {
        /// The operator's subject; `None` for the signed-in caller.
        user_id: Option<String>,
    },
    /// Export the caller's data (streamed by the shim page by page).
    Export,
}

fn field(name: &str, code: &'static str, message: &str) -> FieldError {
    FieldError {
        field: name.chars().take(64).collect(),
        code,
        message: message.to_owned(),
    }
}

fn invalid(fields: Vec<FieldError>) -> Reply {
    Reply::invalid(&TripError::Invalid(fields))
}

/// Parses a `privacy` body: `{"action":"erase"}` or `{"action":"export"}` for the signed-in
/// caller; with `operator`, `{"action":"erase","user_id":"<uuid>"}` only.
pub fn parse_request(body: &[u8], operator: bool) -> Result<PrivacyAction, Reply> {
    let object = parse_object(body).map_err(|e| Reply::invalid(&e))?;
    let action = match object.get("action") {
        Some(Value::String(a)) => a.as_str(),
        None | Some(Value::Null) => {
            return Err(invalid(vec![field(
                "action",
                "required",
                "this field is required",
            )]))
        }
        Some(_) => "",
    };
    let allowed: &[&str] = match (action, operator) {
        ("erase", false) | ("export", false) => &["action"],
        ("erase", true) => &["action", "user_id"],
        (_, false) => {
            return Err(invalid(vec![field(
                "action",
                "invalid_action",
                "must be erase or export",
            )]))
        }
        (_, true) => {
            return Err(invalid(vec![field(
                "action",
                "invalid_action",
                "must be erase",
            )]))
        }
    };
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| field(k, "unknown_field", "this field is not part of this action"))
        .collect();
    let user_id = if operator {
        match object.get("user_id") {
            Some(Value::String(u)) => match Uuid::parse(u) {
                Some(_) => Some(u.to_ascii_lowercase()),
                None => {
                    errors.push(field("user_id", "invalid_user_id", "expected a UUID"));
                    None
                }
            },
            None | Some(Value::Null) => {
                errors.push(field("user_id", "required", "this field is required"));
                None
            }
            Some(_) => {
                errors.push(field("user_id", "invalid_user_id", "expected a UUID"));
                None
            }
        }
    } else {
        None
    };
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    Ok(match action {
        "export" => PrivacyAction::Export,
        _ => PrivacyAction::Erase { user_id },
    })
}

/// The erasure row as the SQL API answers it (`{"erasure": …}`).
#[derive(Clone, Debug, Default, Deserialize)]
struct ErasureState {
    erasure_id: String,
    step: String,
    user_id: Option<String>,
    stripe_customer: Option<String>,
    #[serde(default)]
    trip_ids: Vec<String>,
    retry_after_seconds: Option<u32>,
    #[serde(default)]
    counts: Value,
    created_at: Option<String>,
    completed_at: Option<String>,
}

#[derive(Deserialize)]
struct StateReply {
    erasure: ErasureState,
}

/// What the driver waits for.
#[derive(Clone, Debug)]
enum Wait {
    State,
    StripeDelete,
    /// `erasure_stripe_refused` recorded (or not): answer 502 either way.
    Refused,
    Scan,
    Del,
}

enum Next {
    Sql(SqlFunction, Value),
    Http(HttpRequest),
    Done(Reply),
}

/// One erasure request: resumes the subject's erasure where its row says and takes it as far
/// as it can go now.
pub struct ErasureDriver {
    user_id: Option<String>,
    seq: Sequencer,
    pending: Option<Command<Reply>>,
    wait: Option<Wait>,
    started: bool,
    done: Option<Reply>,
    state: ErasureState,
    advances: u32,
    scans: u32,
    found: Vec<String>,
}

impl std::fmt::Debug for ErasureDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasureDriver")
            .field("step", &self.state.step)
            .field("waiting", &self.seq.waiting())
            .finish_non_exhaustive()
    }
}

impl ErasureDriver {
    /// The erasure of the signed-in caller (`None`) or, for the operator, of `user_id`.
    pub fn new(user_id: Option<String>) -> Self {
        Self {
            user_id,
            seq: Sequencer::default(),
            pending: None,
            wait: None,
            started: false,
            done: None,
            state: ErasureState::default(),
            advances: 0,
            scans: 0,
            found: Vec::new(),
        }
    }

    fn issue(&mut self, next: Next, wait: Wait) -> Command<Reply> {
        let command = match next {
            Next::Sql(function, args) => Command::sql(self.seq.issue("sql"), function, args),
            Next::Http(request) => Command::Http {
                id: self.seq.issue("http"),
                request,
            },
            Next::Done(reply) => {
                self.done = Some(reply.clone());
                return Command::Done { result: reply };
            }
        };
        self.wait = Some(wait);
        self.pending = Some(command.clone());
        command
    }

    fn advance(&mut self, step: &str) -> (Next, Wait) {
        self.advances += 1;
        if self.advances > 8 {
            return (
                Next::Done(Reply::internal("the erasure did not progress")),
                Wait::State,
            );
        }
        (
            Next::Sql(
                SqlFunction::ErasureAdvance,
                json!({"erasure_id": self.state.erasure_id, "step": step}),
            ),
            Wait::State,
        )
    }

    /// What to do for the step the row is at.
    fn act(&mut self) -> (Next, Wait) {
        match self.state.step.as_str() {
            "waiting" => {
                let retry = self.state.retry_after_seconds.unwrap_or(60).max(1);
                (
                    Next::Done(Reply::error(
                        409,
                        "erasure_waiting_for_payment",
                        "a booking of yours is still settling its payment; the erasure goes on once it has captured or released the money",
                        json!({"erasure_id": self.state.erasure_id, "retry_after_seconds": retry}),
                    )),
                    Wait::State,
                )
            }
            "scrub" => self.advance("scrub"),
            "stripe" => match self.state.stripe_customer.clone() {
                Some(customer) => (
                    Next::Http(delete_customer_request(
                        &customer,
                        &format!("erasure-{}-customer", self.state.erasure_id),
                    )),
                    Wait::StripeDelete,
                ),
                None => self.advance("stripe"),
            },
            "redis" => match self.state.user_id.clone() {
                Some(user) => {
                    self.scans = 1;
                    self.found.clear();
                    (
                        Next::Http(upstash::scan_request(
                            "0",
                            &format!("{RATE_LIMIT_PREFIX}:*:{user}:*"),
                            SCAN_COUNT,
                        )),
                        Wait::Scan,
                    )
                }
                None => (
                    Next::Done(Reply::internal("the erasure names no user")),
                    Wait::State,
                ),
            },
            "done" => (
                Next::Done(Reply::ok(
                    200,
                    "erased",
                    json!({"erasure": {
                        "id": self.state.erasure_id,
                        "status": "done",
                        "created_at": self.state.created_at,
                        "completed_at": self.state.completed_at,
                        "counts": self.state.counts,
                    }}),
                )),
                Wait::State,
            ),
            _ => (
                Next::Done(Reply::internal("unknown erasure step")),
                Wait::State,
            ),
        }
    }

    fn stripe_rejected(&self) -> Reply {
        Reply::error(
            502,
            "stripe_rejected",
            "the card provider refused to delete the customer; an operator will look",
            json!({"erasure_id": self.state.erasure_id}),
        )
    }

    fn delete_keys(&mut self) -> (Next, Wait) {
        if self.found.is_empty() {
            return self.advance("redis");
        }
        let take = self.found.len().min(DEL_CHUNK);
        let chunk: Vec<String> = self.found.drain(..take).collect();
        (Next::Http(upstash::del_request(&chunk)), Wait::Del)
    }

    fn step(&mut self, wait: Wait, input: Input<'_>) -> (Next, Wait) {
        match wait {
            Wait::State => match input {
                Input::Sql(text) => match serde_json::from_str::<StateReply>(text) {
                    Ok(reply) => {
                        self.state = reply.erasure;
                        self.act()
                    }
                    Err(_) => (
                        Next::Done(Reply::internal("the erasure state is unreadable")),
                        Wait::State,
                    ),
                },
                Input::SqlError(sqlstate) => (Next::Done(sql_reply(sqlstate)), Wait::State),
                _ => (Next::Done(Reply::internal("driver invariant")), Wait::State),
            },
            Wait::StripeDelete => match input {
                Input::Http { status, .. } if (200..300).contains(&status) || status == 404 => {
                    self.advance("stripe")
                }
                Input::Http { status, .. } if status == 409 || status == 429 || status >= 500 => {
                    (Next::Done(unavailable("stripe_unavailable")), Wait::State)
                }
                Input::Transport(_) => (Next::Done(unavailable("stripe_unavailable")), Wait::State),
                // A refusal (4xx other than 404): recorded on the row (the operator alert
                // `erasure_stripe_refused`), the step unchanged, then 502.
                Input::Http { status, .. } if (400..500).contains(&status) => (
                    Next::Sql(
                        SqlFunction::ErasureStripeRefused,
                        json!({"erasure_id": self.state.erasure_id, "status": status}),
                    ),
                    Wait::Refused,
                ),
                _ => (Next::Done(self.stripe_rejected()), Wait::State),
            },
            Wait::Refused => (Next::Done(self.stripe_rejected()), Wait::State),
            Wait::Scan => match input {
                Input::Http { status, body } => match upstash::parse_scan(status, body) {
                    Ok((cursor, keys)) => {
                        self.found.extend(keys);
                        if cursor != "0" && self.scans < MAX_SCANS {
                            self.scans += 1;
                            let user = self.state.user_id.clone().unwrap_or_default();
                            return (
                                Next::Http(upstash::scan_request(
                                    &cursor,
                                    &format!("{RATE_LIMIT_PREFIX}:*:{user}:*"),
                                    SCAN_COUNT,
                                )),
                                Wait::Scan,
                            );
                        }
                        if cursor != "0" {
                            return (Next::Done(unavailable("redis_unavailable")), Wait::State);
                        }
                        let locks: Vec<String> = self
                            .state
                            .trip_ids
                            .iter()
                            .map(|t| upstash::trip_lock_key(t))
                            .collect();
                        self.found.extend(locks);
                        self.found.sort();
                        self.found.dedup();
                        self.delete_keys()
                    }
                    Err(_) => (Next::Done(unavailable("redis_unavailable")), Wait::State),
                },
                _ => (Next::Done(unavailable("redis_unavailable")), Wait::State),
            },
            Wait::Del => match input {
                Input::Http { status, body } if upstash::parse_reply(status, body).is_ok() => {
                    self.delete_keys()
                }
                _ => (Next::Done(unavailable("redis_unavailable")), Wait::State),
            },
        }
    }
}

impl Driver for ErasureDriver {
    type Done = Reply;

    fn poll(&mut self, _now: Timestamp) -> Command<Reply> {
        if let Some(pending) = &self.pending {
            return pending.clone();
        }
        if let Some(done) = &self.done {
            return Command::Done {
                result: done.clone(),
            };
        }
        if self.started {
            let done = Reply::internal("driver invariant");
            self.done = Some(done.clone());
            return Command::Done { result: done };
        }
        self.started = true;
        let next = match &self.user_id {
            None => Next::Sql(SqlFunction::PrivacyErase, json!({})),
            Some(user) => Next::Sql(SqlFunction::ErasureOpen, json!({"user_id": user})),
        };
        self.issue(next, Wait::State)
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.pending = None;
        let Some(wait) = self.wait.take() else {
            self.done = Some(Reply::internal("driver invariant"));
            return Ok(());
        };
        let (next, wait) = self.step(wait, input);
        self.issue(next, wait);
        Ok(())
    }
}

fn unavailable(code: &str) -> Reply {
    Reply::error(
        503,
        code,
        "a provider is unavailable; the erasure goes on when you ask again",
        json!({"retry_after_seconds": PROVIDER_RETRY_SECONDS}),
    )
}

fn sql_reply(sqlstate: &str) -> Reply {
    match sqlstate {
        "P0002" => Reply::error(404, "not_found", "no such user", json!({})),
        _ => Reply::sql_error(sqlstate, "user"),
    }
}
