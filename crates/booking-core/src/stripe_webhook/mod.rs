//! The `stripe-webhook` function as a [`Driver`] (`docs/contracts.md`, "stripe-webhook").
//!
//! The driver is built from the `Stripe-Signature` header, the MAC the shim computed over
//! `"{t}." ‖ raw body` ([`webhook::signed_payload_prefix`]) and the raw body; it decides the
//! signature ([`webhook::verify`]) before reading a byte of the body, and a refused signature
//! is done at once with 400 and its code. Then:
//!
//! 1. `sql stripe_event_context` (service) `{event_id, customer?, payment_method?,
//!    payment_intent?, attempt_id?}` → `{seen, owner_id, detached, attempt}`: a `seen` event is
//!    acknowledged as a duplicate without doing anything again. `attempt` is the saga's ledger
//!    row for the PaymentIntent (by `metadata.attempt_id`, else by the recorded intent id).
//! 2. The core decides ([`decide`]): the effects to record and an operator alert for every
//!    mismatch with the ledger. Nothing here ever calls Stripe to move money; the only request
//!    is a read (`GET /v1/payment_intents/{id}`) when order matters: a hold reported capturable
//!    for an attempt the ledger says was released is checked against Stripe's current state.
//! 3. `sql stripe_event_record` `{event, outcome, effects}` → `{recorded}`: the event id is
//!    inserted and the effects applied in one transaction, so each event is processed once even
//!    when two deliveries race (`recorded: false` = the other one won).
//!
//! Unknown event types are recorded and acknowledged (200). SQL failures answer 503 and a
//! failed read 503, so Stripe delivers again.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlFunction};
use crate::http::HttpRequest;
use crate::money::{Currency, Money};
use crate::stripe::webhook::{self, Event, TOLERANCE_SECONDS};
use crate::stripe::{self, IntentStatus, StripeReply, API_VERSION};
use crate::time::Timestamp;

#[cfg(test)]
mod tests;

/// What the function answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StripeWebhookDone {
    /// HTTP status for Stripe (2xx = delivered).
    pub status: u16,
    /// JSON body: `{received, duplicate, outcome}` or `{code, message}`.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub body: Value,
    /// Stable outcome code for the log line.
    pub outcome: String,
    /// The event id, once the signature passed and the body parsed.
    pub event_id: Option<String>,
}

/// The saga ledger row for a PaymentIntent, as `stripe_event_context` returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct LedgerAttempt {
    /// The attempt.
    pub attempt_id: String,
    /// Its trip.
    pub trip_id: String,
    /// Still running.
    pub open: bool,
    /// Saga phase name.
    #[serde(default)]
    pub phase: String,
    /// The PaymentIntent it recorded.
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// Authorized amount, minor units.
    #[serde(default)]
    pub amount_minor: Option<i64>,
    /// ISO currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Closing reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// A booking row exists (captured, or ticketed with `capture_failed`).
    #[serde(default)]
    pub booked: bool,
}

/// What `stripe_event_context` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct EventContext {
    /// The event id is already recorded.
    #[serde(default)]
    pub seen: bool,
    /// The payment profile owning the event's customer.
    #[serde(default)]
    pub owner_id: Option<String>,
    /// The event's payment method was detached (a `payment_method.detached` already recorded).
    #[serde(default)]
    pub detached: bool,
    /// The ledger row of the event's PaymentIntent.
    #[serde(default)]
    pub attempt: Option<LedgerAttempt>,
}

/// What the event is about, read from `data.object`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `setup_intent.succeeded`: a card was saved for `customer`.
    CardSaved {
        /// `cus_…`.
        customer: String,
        /// `pm_…`.
        payment_method: String,
    },
    /// `payment_method.detached`.
    CardDetached {
        /// `pm_…`.
        payment_method: String,
    },
    /// `payment_intent.amount_capturable_updated` / `payment_intent.canceled`.
    Intent {
        /// True for `payment_intent.canceled`.
        canceled: bool,
        /// `pi_…`.
        id: String,
        /// `amount_capturable` (Stripe units).
        capturable: i64,
        /// Lower-case currency.
        currency: String,
        /// `metadata.attempt_id`.
        attempt_id: Option<String>,
    },
    /// `charge.refunded`.
    Refund {
        /// `ch_…`.
        charge: String,
        /// The charge's PaymentIntent.
        payment_intent: Option<String>,
        /// Refunded so far (Stripe units).
        amount_refunded: i64,
        /// Lower-case currency.
        currency: String,
    },
    /// `charge.dispute.created`.
    Dispute {
        /// `dp_…`.
        id: String,
        /// Disputed charge.
        charge: Option<String>,
        /// Its PaymentIntent.
        payment_intent: Option<String>,
        /// Disputed amount (Stripe units).
        amount: i64,
        /// Lower-case currency.
        currency: String,
        /// Stripe's reason.
        reason: Option<String>,
        /// Stripe's status.
        status: Option<String>,
    },
    /// A type the pipeline does not act on.
    Ignored,
    /// A type it acts on, without the fields it needs.
    Unreadable,
}

fn text(v: &Value, key: &str) -> Option<String> {
    match &v[key] {
        Value::String(s) if !s.is_empty() && s.len() <= 255 => Some(s.clone()),
        // Expanded objects carry their id.
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Reads the subject of an event.
pub fn subject(event: &Event) -> Subject {
    let o = &event.data.object;
    let int = |k: &str| o[k].as_i64();
    let read = || -> Option<Subject> {
        Some(match event.kind.as_str() {
            "setup_intent.succeeded" => Subject::CardSaved {
                customer: text(o, "customer")?,
                payment_method: text(o, "payment_method")?,
            },
            "payment_method.detached" => Subject::CardDetached {
                payment_method: text(o, "id")?,
            },
            "payment_intent.amount_capturable_updated" | "payment_intent.canceled" => {
                Subject::Intent {
                    canceled: event.kind == "payment_intent.canceled",
                    id: text(o, "id")?,
                    capturable: int("amount_capturable").unwrap_or(0),
                    currency: text(o, "currency")?,
                    attempt_id: text(&o["metadata"], "attempt_id"),
                }
            }
            "charge.refunded" => Subject::Refund {
                charge: text(o, "id")?,
                payment_intent: text(o, "payment_intent"),
                amount_refunded: int("amount_refunded")?,
                currency: text(o, "currency")?,
            },
            "charge.dispute.created" => Subject::Dispute {
                id: text(o, "id")?,
                charge: text(o, "charge"),
                payment_intent: text(o, "payment_intent"),
                amount: int("amount")?,
                currency: text(o, "currency")?,
                reason: text(o, "reason"),
                status: text(o, "status"),
            },
            _ => return Some(Subject::Ignored),
        })
    };
    read().unwrap_or(Subject::Unreadable)
}

/// The core's decision for one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Record with this outcome and these effects.
    Record {
        /// Stable outcome code.
        outcome: &'static str,
        /// Effects for `stripe_event_record`.
        effects: Vec<Value>,
    },
    /// Look the PaymentIntent up first (order matters), then [`after_fetch`].
    Fetch {
        /// `pi_…`.
        payment_intent: String,
    },
}

fn alert(code: &str, attempt: Option<&LedgerAttempt>, detail: Value) -> Value {
    json!({"kind": "alert", "code": code,
        "attempt_id": attempt.map(|a| a.attempt_id.as_str()),
        "trip_id": attempt.map(|a| a.trip_id.as_str()),
        "detail": detail})
}

/// The authorized amount of `attempt` in Stripe's unit and currency, if recorded.
fn ledger_amount(attempt: &LedgerAttempt) -> Option<(i64, String)> {
    let currency = Currency::parse(attempt.currency.as_deref()?).ok()?;
    let money = Money::from_minor(attempt.amount_minor?, currency).ok()?;
    Some((
        stripe::to_stripe_amount(money).ok()?,
        currency.code().to_ascii_lowercase(),
    ))
}

/// Reconciles `subject` against the ledger in `ctx`. Mismatches become operator alerts;
/// nothing is ever charged, captured, cancelled or refunded because of an event.
pub fn decide(event: &Event, subject: &Subject, ctx: &EventContext) -> Decision {
    let record = |outcome, effects| Decision::Record { outcome, effects };
    let mut effects = Vec::new();
    let known = !matches!(subject, Subject::Ignored | Subject::Unreadable);
    if known
        && event
            .api_version
            .as_deref()
            .is_some_and(|v| v != API_VERSION)
    {
        effects.push(alert(
            "webhook_api_version_mismatch",
            None,
            json!({"event_id": event.id, "api_version": event.api_version}),
        ));
    }
    let attempt = ctx.attempt.as_ref();
    match subject {
        Subject::Ignored => record("ignored", effects),
        Subject::Unreadable => {
            effects.push(alert(
                "webhook_event_unreadable",
                None,
                json!({"event_id": event.id, "type": event.kind}),
            ));
            record("unreadable", effects)
        }
        Subject::CardSaved {
            customer,
            payment_method,
        } => {
            if ctx.owner_id.is_none() {
                return record("customer_unknown", effects);
            }
            if ctx.detached {
                return record("card_already_detached", effects);
            }
            effects.push(json!({"kind": "card_saved", "customer": customer,
                "payment_method": payment_method}));
            record("card_saved", effects)
        }
        Subject::CardDetached { payment_method } => {
            effects.push(json!({"kind": "card_detached", "payment_method": payment_method}));
            record("card_detached", effects)
        }
        Subject::Intent {
            canceled,
            id,
            capturable,
            currency,
            ..
        } => {
            let Some(a) = attempt else {
                effects.push(alert(
                    "payment_intent_unknown",
                    None,
                    json!({"event_id": event.id, "payment_intent": id, "type": event.kind}),
                ));
                return record("alert", effects);
            };
            if a.payment_intent.as_ref().is_some_and(|p| p != id) {
                effects.push(alert(
                    "payment_intent_not_in_ledger",
                    Some(a),
                    json!({"event_id": event.id, "payment_intent": id,
                        "ledger_payment_intent": a.payment_intent, "type": event.kind}),
                ));
                return record("alert", effects);
            }
            if a.open && a.phase == "await_traveller" {
                // The attempt waits for the traveller's 3-D Secure: wake it (its trip is due
                // now); the saga reads the intent itself and decides. Never moves money here.
                effects.push(json!({"kind": "wake_attempt", "attempt_id": a.attempt_id}));
                return record("attempt_woken", effects);
            }
            if *canceled {
                if a.booked {
                    effects.push(alert(
                        "booked_but_canceled",
                        Some(a),
                        json!({"event_id": event.id, "payment_intent": id}),
                    ));
                    return record("alert", effects);
                }
                return record("matched", effects);
            }
            if let Some((amount, ledger_currency)) = ledger_amount(a) {
                if *capturable != amount || *currency != ledger_currency {
                    effects.push(alert(
                        "capturable_amount_mismatch",
                        Some(a),
                        json!({"event_id": event.id, "payment_intent": id,
                            "amount_capturable": capturable, "currency": currency,
                            "ledger_amount": amount, "ledger_currency": ledger_currency}),
                    ));
                    return record("alert", effects);
                }
            }
            if !a.open && !a.booked {
                // Released per the ledger, capturable per this event: stale, or a hold left
                // behind. Stripe's current state decides.
                return Decision::Fetch {
                    payment_intent: id.clone(),
                };
            }
            record("matched", effects)
        }
        Subject::Refund {
            charge,
            payment_intent,
            amount_refunded,
            currency,
        } => {
            // The pipeline never refunds: every refund differs from the ledger.
            let code = if attempt.is_some() {
                "unexpected_refund"
            } else {
                "payment_intent_unknown"
            };
            effects.push(alert(
                code,
                attempt,
                json!({"event_id": event.id, "charge": charge, "payment_intent": payment_intent,
                    "amount_refunded": amount_refunded, "currency": currency}),
            ));
            record("alert", effects)
        }
        Subject::Dispute {
            id,
            charge,
            payment_intent,
            amount,
            currency,
            reason,
            status,
        } => {
            effects.push(
                json!({"kind": "dispute", "dispute_id": id, "charge": charge,
                "payment_intent": payment_intent, "amount": amount, "currency": currency,
                "reason": reason, "status": status,
                "attempt_id": attempt.map(|a| a.attempt_id.as_str()),
                "trip_id": attempt.map(|a| a.trip_id.as_str())}),
            );
            effects.push(alert(
                "dispute_created",
                attempt,
                json!({"event_id": event.id, "dispute": id, "payment_intent": payment_intent,
                    "amount": amount, "currency": currency}),
            ));
            record("dispute_recorded", effects)
        }
    }
}

/// The decision after [`Decision::Fetch`]: the intent still holds funds → alert
/// `hold_not_released`; otherwise the event was stale.
pub fn after_fetch(event: &Event, ctx: &EventContext, status: IntentStatus) -> Decision {
    let a = ctx.attempt.as_ref();
    if status == IntentStatus::RequiresCapture {
        Decision::Record {
            outcome: "alert",
            effects: vec![alert(
                "hold_not_released",
                a,
                json!({"event_id": event.id,
                    "payment_intent": a.and_then(|a| a.payment_intent.as_deref())}),
            )],
        }
    } else {
        Decision::Record {
            outcome: "stale_event",
            effects: vec![],
        }
    }
}

enum Wait {
    Context,
    Fetch,
    Record,
}

/// The driver for one webhook delivery.
pub struct StripeWebhookDriver {
    event: Event,
    subject: Subject,
    ctx: EventContext,
    seq: Sequencer,
    pending: Option<Command<StripeWebhookDone>>,
    wait: Option<Wait>,
    started: bool,
    outcome: &'static str,
    done: Option<StripeWebhookDone>,
}

impl std::fmt::Debug for StripeWebhookDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeWebhookDriver")
            .field("event", &self.event.id)
            .finish_non_exhaustive()
    }
}

fn refuse(status: u16, code: &str, message: &str) -> StripeWebhookDone {
    StripeWebhookDone {
        status,
        body: json!({"code": code, "message": message}),
        outcome: code.to_owned(),
        event_id: None,
    }
}

impl StripeWebhookDriver {
    /// Verifies the signature (before reading the body) and parses the event; a refusal is the
    /// 400 answer: `signature_missing`, `signature_header_malformed`, `signature_mismatch`,
    /// `signature_timestamp_stale`, then `invalid_event` for a signed body that is no event.
    pub fn new(
        header: Option<&str>,
        mac: &[u8],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Self, StripeWebhookDone> {
        webhook::verify(header, mac, now, TOLERANCE_SECONDS)
            .map_err(|e| refuse(400, e.code(), &e.to_string()))?;
        let event = webhook::parse_event(body).ok_or_else(|| {
            refuse(
                400,
                "invalid_event",
                "the body is not a Stripe event (id evt_…, type, data.object)",
            )
        })?;
        let subject = subject(&event);
        Ok(Self {
            event,
            subject,
            ctx: EventContext::default(),
            seq: Sequencer::default(),
            pending: None,
            wait: None,
            started: false,
            outcome: "",
            done: None,
        })
    }

    fn issue(
        &mut self,
        command: Command<StripeWebhookDone>,
        wait: Wait,
    ) -> Command<StripeWebhookDone> {
        self.wait = Some(wait);
        self.pending = Some(command.clone());
        command
    }

    fn sql(
        &mut self,
        function: SqlFunction,
        args: Value,
        wait: Wait,
    ) -> Command<StripeWebhookDone> {
        let id = self.seq.issue("sql");
        self.issue(Command::sql(id, function, args), wait)
    }

    fn fetch(&mut self, request: HttpRequest) -> Command<StripeWebhookDone> {
        let id = self.seq.issue("http");
        self.issue(Command::Http { id, request }, Wait::Fetch)
    }

    fn context_args(&self) -> Value {
        let (customer, payment_method, payment_intent, attempt_id) = match &self.subject {
            Subject::CardSaved {
                customer,
                payment_method,
            } => (Some(customer), Some(payment_method), None, None),
            Subject::CardDetached { payment_method } => (None, Some(payment_method), None, None),
            Subject::Intent { id, attempt_id, .. } => (None, None, Some(id), attempt_id.as_ref()),
            Subject::Refund { payment_intent, .. } | Subject::Dispute { payment_intent, .. } => {
                (None, None, payment_intent.as_ref(), None)
            }
            Subject::Ignored | Subject::Unreadable => (None, None, None, None),
        };
        json!({"event_id": self.event.id, "customer": customer, "payment_method": payment_method,
            "payment_intent": payment_intent, "attempt_id": attempt_id})
    }

    fn record(&mut self, decision: Decision) -> Command<StripeWebhookDone> {
        match decision {
            Decision::Fetch { payment_intent } => {
                self.fetch(stripe::retrieve_request(&payment_intent))
            }
            Decision::Record { outcome, effects } => {
                self.outcome = outcome;
                let o = &self.event.data.object;
                let args = json!({
                    "event": {"id": self.event.id, "type": self.event.kind,
                        "created": self.event.created, "api_version": self.event.api_version,
                        "object_id": text(o, "id")},
                    "outcome": outcome,
                    "effects": effects,
                });
                self.sql(SqlFunction::StripeEventRecord, args, Wait::Record)
            }
        }
    }

    fn finish(&self, duplicate: bool, outcome: &str) -> StripeWebhookDone {
        StripeWebhookDone {
            status: 200,
            body: json!({"received": true, "duplicate": duplicate, "outcome": outcome}),
            outcome: if duplicate { "duplicate" } else { outcome }.to_owned(),
            event_id: Some(self.event.id.clone()),
        }
    }

    fn fail(&self, status: u16, code: &str, message: &str) -> StripeWebhookDone {
        let mut done = refuse(status, code, message);
        done.event_id = Some(self.event.id.clone());
        done
    }
}

impl Driver for StripeWebhookDriver {
    type Done = StripeWebhookDone;

    fn poll(&mut self, _now: Timestamp) -> Command<StripeWebhookDone> {
        if let Some(pending) = &self.pending {
            return pending.clone();
        }
        if let Some(done) = &self.done {
            return Command::Done {
                result: done.clone(),
            };
        }
        if self.started {
            let done = self.fail(500, "internal", "driver invariant");
            self.done = Some(done.clone());
            return Command::Done { result: done };
        }
        self.started = true;
        if matches!(self.subject, Subject::Ignored | Subject::Unreadable) {
            // Nothing to look up: recording dedupes.
            let decision = decide(&self.event, &self.subject, &self.ctx);
            return self.record(decision);
        }
        let args = self.context_args();
        self.sql(SqlFunction::StripeEventContext, args, Wait::Context)
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.pending = None;
        let wait = self.wait.take();
        let unavailable = |d: &Self| {
            d.fail(
                503,
                "temporarily_unavailable",
                "the event could not be processed now; deliver it again",
            )
        };
        match (wait, input) {
            (_, Input::SqlError(_)) => self.done = Some(unavailable(self)),
            (Some(Wait::Context), Input::Sql(text)) => {
                match serde_json::from_str::<EventContext>(text) {
                    Ok(ctx) if ctx.seen => self.done = Some(self.finish(true, "duplicate")),
                    Ok(ctx) => {
                        self.ctx = ctx;
                        let decision = decide(&self.event, &self.subject, &self.ctx);
                        self.record(decision);
                    }
                    Err(_) => self.done = Some(unavailable(self)),
                }
            }
            (Some(Wait::Fetch), Input::Http { status, body }) => {
                match stripe::classify(status, body) {
                    Ok(StripeReply::Intent(pi)) => {
                        let decision = after_fetch(&self.event, &self.ctx, pi.status);
                        self.record(decision);
                    }
                    _ => self.done = Some(unavailable(self)),
                }
            }
            (Some(Wait::Fetch), Input::Transport(_)) => self.done = Some(unavailable(self)),
            (Some(Wait::Record), Input::Sql(text)) => {
                let recorded = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v["recorded"].as_bool());
                self.done = Some(match recorded {
                    Some(recorded) => self.finish(!recorded, self.outcome),
                    None => unavailable(self),
                });
            }
            _ => self.done = Some(self.fail(500, "internal", "driver invariant")),
        }
        Ok(())
    }
}
