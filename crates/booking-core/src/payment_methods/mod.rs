//! The `payment-methods` function as a [`Driver`]: the caller's saved cards and their consent
//! to off-session charges (`docs/contracts.md`, "payment-methods").
//!
//! Every action starts with `sql payment_profile_open` as the caller (`{"create": bool}` →
//! `{"profile": {owner_id, customer, default_payment_method, consent}}`; `setup` creates the
//! caller's `payment_profiles` row first, so the customer's idempotency key `<owner>-customer`
//! rests on durable state). Then, by action:
//!
//! | action | commands | answer |
//! | --- | --- | --- |
//! | `setup` | (no customer yet: `POST /v1/customers`, `sql payment_customer_record`) → `POST /v1/setup_intents` | 200 `{setup_intent, client_secret, customer}` |
//! | `list` | `GET /v1/customers/{cus}/payment_methods` (none without a customer) | 200 `{cards, default_payment_method, consent}` |
//! | `set_default` | `GET /v1/payment_methods/{pm}` (must be the caller's) → `sql payment_default_set` | 200 `{default_payment_method, consent_required}` |
//! | `detach` | `GET …/{pm}` → `POST …/{pm}/detach` → `sql payment_method_forget` | 200 `{detached, default_payment_method}` |
//! | `consent_text` | (default card needed) `GET …/{pm}` | 200 `{text, text_version, payment_method, …}` |
//! | `consent` | `GET …/{pm}`; the text must be [`consent_text`]'s → `sql consent_record` | 201 `{consent}` |
//!
//! Errors: 400 for the body; 404 `payment_method_not_found` for a card that is not the
//! caller's (or does not exist: no existence leak); 409 `no_default_card`; 422
//! `consent_text_mismatch`; 409 `default_card_changed` (SQLSTATE PF004, the default moved while
//! the consent was being recorded); Stripe unreachable or 429/5xx → 503 `stripe_unavailable`;
//! another Stripe refusal → 502 `stripe_rejected`; SQL errors as trip-search's
//! ([`sql_error_reply`]).

mod request;

pub use request::{consent_text, parse_request, PaymentMethodsRequest, CONSENT_TEXT_VERSION};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlFunction};
use crate::http::HttpRequest;
use crate::money::Money;
use crate::stripe::cards::{self, PaymentMethod};
use crate::time::Timestamp;
use crate::trip_search::sql_error_reply;

#[cfg(test)]
mod tests;

/// What the function answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PaymentsDone {
    /// HTTP status.
    pub status: u16,
    /// JSON body (one of the response types below, or `{code, message}`). Holds the
    /// SetupIntent's `client_secret`: never log it.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub body: Value,
    /// Stable outcome code for the log line.
    pub outcome: String,
}

/// One saved card, as `list` answers it (never more than brand, last 4 and expiry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CardSummary {
    /// `pm_…`.
    pub id: String,
    /// `visa`, `mastercard`, …
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month, 1-12.
    pub exp_month: u8,
    /// Expiry year.
    pub exp_year: u16,
    /// The card auto-booking charges.
    pub default: bool,
}

/// The caller's recorded consent (current, for the default card).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConsentSummary {
    /// Consent id.
    pub id: String,
    /// The card it covers.
    pub payment_method: String,
    /// Most one booking may charge.
    pub max_amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Which version of the text was shown.
    pub text_version: String,
    /// When it was given (RFC 3339).
    pub created_at: String,
}

/// `list`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CardsResponse {
    /// Saved cards, newest first.
    pub cards: Vec<CardSummary>,
    /// The default card, if any.
    pub default_payment_method: Option<String>,
    /// The consent covering the default card, if any (auto-booking needs one).
    pub consent: Option<ConsentSummary>,
}

/// `setup`'s answer: hand `client_secret` to Stripe.js (`confirmCardSetup`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SetupResponse {
    /// `seti_…`.
    pub setup_intent: String,
    /// For Stripe.js only.
    pub client_secret: String,
    /// The caller's Stripe customer.
    pub customer: String,
}

/// `consent_text`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConsentTextResponse {
    /// Show exactly this, then send it back with `consent`.
    pub text: String,
    /// Its version.
    pub text_version: String,
    /// The default card it names.
    pub payment_method: String,
    /// The maximum it names.
    pub max_amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Profile {
    owner_id: String,
    customer: Option<String>,
    default_payment_method: Option<String>,
    consent: Option<ConsentSummary>,
}

#[derive(Deserialize)]
struct ProfileReply {
    profile: Option<Profile>,
}

/// What the driver waits for.
#[derive(Clone, Debug)]
enum Wait {
    Open,
    CreateCustomer,
    RecordCustomer,
    CreateSetup(String),
    List,
    Retrieve,
    Detach(String),
    Forget(String),
    SetDefault,
    RecordConsent,
}

enum Next {
    Sql(SqlFunction, Value),
    Http(HttpRequest),
}

/// The driver for one `payment-methods` request.
pub struct PaymentMethodsDriver {
    request: PaymentMethodsRequest,
    nonce: String,
    seq: Sequencer,
    pending: Option<Command<PaymentsDone>>,
    wait: Option<Wait>,
    started: bool,
    done: Option<PaymentsDone>,
    profile: Profile,
}

impl std::fmt::Debug for PaymentMethodsDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentMethodsDriver")
            .field("waiting", &self.seq.waiting())
            .finish_non_exhaustive()
    }
}

impl PaymentMethodsDriver {
    /// A driver for a validated request; `nonce` (from the shim, e.g. a UUID) keys the
    /// SetupIntent's creation.
    pub fn new(request: PaymentMethodsRequest, nonce: &str) -> Self {
        Self {
            request,
            nonce: nonce
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(64)
                .collect(),
            seq: Sequencer::default(),
            pending: None,
            wait: None,
            started: false,
            done: None,
            profile: Profile::default(),
        }
    }

    fn issue(&mut self, next: Next, wait: Wait) -> Command<PaymentsDone> {
        let command = match next {
            Next::Sql(function, args) => Command::sql(self.seq.issue("sql"), function, args),
            Next::Http(request) => Command::Http {
                id: self.seq.issue("http"),
                request,
            },
        };
        self.wait = Some(wait);
        self.pending = Some(command.clone());
        command
    }

    fn step(&mut self, wait: Wait, input: Input<'_>) -> Result<(Next, Wait), PaymentsDone> {
        if let Input::SqlError(sqlstate) = input {
            return Err(sql_reply(sqlstate));
        }
        match wait {
            Wait::Open | Wait::RecordCustomer | Wait::SetDefault | Wait::Forget(_) => {
                self.profile = read_profile(input)?;
                self.after_profile(wait)
            }
            Wait::CreateCustomer => {
                let customer = cards::parse_customer(stripe_ok(input)?).map_err(bad_response)?;
                Ok((
                    Next::Sql(
                        SqlFunction::PaymentCustomerRecord,
                        json!({"customer": customer.id}),
                    ),
                    Wait::RecordCustomer,
                ))
            }
            Wait::CreateSetup(customer) => {
                let si = cards::parse_setup_intent(stripe_ok(input)?).map_err(bad_response)?;
                Err(answer(
                    200,
                    "setup_intent_created",
                    &SetupResponse {
                        setup_intent: si.id,
                        client_secret: si.client_secret,
                        customer,
                    },
                ))
            }
            Wait::List => {
                let list = cards::parse_card_list(stripe_ok(input)?).map_err(bad_response)?;
                let default = self.profile.default_payment_method.clone();
                let cards = list
                    .into_iter()
                    .filter_map(|pm| {
                        let card = pm.card?;
                        Some(CardSummary {
                            default: default.as_deref() == Some(pm.id.as_str()),
                            id: pm.id,
                            brand: card.brand,
                            last4: card.last4,
                            exp_month: card.exp_month,
                            exp_year: card.exp_year,
                        })
                    })
                    .collect();
                Err(answer(
                    200,
                    "listed",
                    &CardsResponse {
                        cards,
                        default_payment_method: default,
                        consent: self.profile.consent.clone(),
                    },
                ))
            }
            Wait::Retrieve => {
                let pm = match input {
                    Input::Http { status: 404, .. } => return Err(not_found()),
                    other => {
                        cards::parse_payment_method(stripe_ok(other)?).map_err(bad_response)?
                    }
                };
                if pm.customer.is_none()
                    || pm.customer != self.profile.customer
                    || pm.kind != "card"
                {
                    return Err(not_found());
                }
                self.with_card(pm)
            }
            Wait::Detach(pm) => {
                match input {
                    Input::Http { status: 404, .. } => return Err(not_found()),
                    other => {
                        stripe_ok(other)?;
                    }
                }
                Ok((
                    Next::Sql(
                        SqlFunction::PaymentMethodForget,
                        json!({"payment_method": pm}),
                    ),
                    Wait::Forget(pm),
                ))
            }
            Wait::RecordConsent => {
                let reply: Value = sql_json(input)?;
                match serde_json::from_value::<ConsentSummary>(reply["consent"].clone()) {
                    Ok(consent) => Err(answer(
                        201,
                        "consent_recorded",
                        &json!({"consent": consent}),
                    )),
                    Err(_) => Err(internal("consent_record answered no consent")),
                }
            }
        }
    }

    fn after_profile(&mut self, wait: Wait) -> Result<(Next, Wait), PaymentsDone> {
        let p = &self.profile;
        match (&self.request, wait) {
            (PaymentMethodsRequest::Setup, Wait::Open | Wait::RecordCustomer) => {
                match &p.customer {
                    None => Ok((
                        Next::Http(cards::create_customer_request(&p.owner_id)),
                        Wait::CreateCustomer,
                    )),
                    Some(customer) => Ok((
                        Next::Http(cards::create_setup_intent_request(
                            &p.owner_id,
                            customer,
                            &self.nonce,
                        )),
                        Wait::CreateSetup(customer.clone()),
                    )),
                }
            }
            (PaymentMethodsRequest::List, Wait::Open) => match &p.customer {
                None => Err(answer(
                    200,
                    "listed",
                    &CardsResponse {
                        cards: vec![],
                        default_payment_method: None,
                        consent: None,
                    },
                )),
                Some(customer) => Ok((Next::Http(cards::list_cards_request(customer)), Wait::List)),
            },
            (
                PaymentMethodsRequest::SetDefault { payment_method }
                | PaymentMethodsRequest::Detach { payment_method },
                Wait::Open,
            ) => {
                if p.customer.is_none() {
                    return Err(not_found());
                }
                Ok((
                    Next::Http(cards::retrieve_payment_method_request(payment_method)),
                    Wait::Retrieve,
                ))
            }
            (
                PaymentMethodsRequest::ConsentText { .. } | PaymentMethodsRequest::Consent { .. },
                Wait::Open,
            ) => match (&p.customer, &p.default_payment_method) {
                (Some(_), Some(pm)) => Ok((
                    Next::Http(cards::retrieve_payment_method_request(pm)),
                    Wait::Retrieve,
                )),
                _ => Err(reply(
                    409,
                    "no_default_card",
                    "save a card first; auto-booking charges the default card",
                )),
            },
            (PaymentMethodsRequest::SetDefault { payment_method }, Wait::SetDefault) => {
                let consent_required = p
                    .consent
                    .as_ref()
                    .is_none_or(|c| &c.payment_method != payment_method);
                Err(answer(
                    200,
                    "default_set",
                    &json!({"default_payment_method": p.default_payment_method,
                        "consent_required": consent_required}),
                ))
            }
            (PaymentMethodsRequest::Detach { .. }, Wait::Forget(pm)) => Err(answer(
                200,
                "detached",
                &json!({"detached": pm, "default_payment_method": p.default_payment_method}),
            )),
            _ => Err(internal("driver invariant")),
        }
    }

    fn with_card(&mut self, pm: PaymentMethod) -> Result<(Next, Wait), PaymentsDone> {
        let owner = self.profile.owner_id.clone();
        match &self.request {
            PaymentMethodsRequest::SetDefault { payment_method } => Ok((
                Next::Sql(
                    SqlFunction::PaymentDefaultSet,
                    json!({"payment_method": payment_method}),
                ),
                Wait::SetDefault,
            )),
            PaymentMethodsRequest::Detach { payment_method } => Ok((
                Next::Http(cards::detach_request(&owner, payment_method)),
                Wait::Detach(payment_method.clone()),
            )),
            PaymentMethodsRequest::ConsentText {
                max_amount_minor,
                currency,
            } => {
                let max = amount(*max_amount_minor, currency)?;
                let card = pm.card.as_ref().ok_or_else(not_found)?;
                Err(answer(
                    200,
                    "consent_text",
                    &ConsentTextResponse {
                        text: consent_text(&card.brand, &card.last4, max),
                        text_version: CONSENT_TEXT_VERSION.to_owned(),
                        payment_method: pm.id.clone(),
                        max_amount_minor: max.amount_minor,
                        currency: max.currency.code().to_owned(),
                    },
                ))
            }
            PaymentMethodsRequest::Consent {
                max_amount_minor,
                currency,
                text,
            } => {
                let max = amount(*max_amount_minor, currency)?;
                let card = pm.card.as_ref().ok_or_else(not_found)?;
                let expected = consent_text(&card.brand, &card.last4, max);
                if text != &expected {
                    return Err(reply(
                        422,
                        "consent_text_mismatch",
                        "send back exactly the text consent_text returned for this card and maximum",
                    ));
                }
                Ok((
                    Next::Sql(
                        SqlFunction::ConsentRecord,
                        json!({"payment_method": pm.id, "max_amount_minor": max.amount_minor,
                            "currency": max.currency.code(), "text": expected,
                            "text_version": CONSENT_TEXT_VERSION}),
                    ),
                    Wait::RecordConsent,
                ))
            }
            _ => Err(internal("driver invariant")),
        }
    }
}

impl Driver for PaymentMethodsDriver {
    type Done = PaymentsDone;

    fn poll(&mut self, _now: Timestamp) -> Command<PaymentsDone> {
        if let Some(pending) = &self.pending {
            return pending.clone();
        }
        if let Some(done) = &self.done {
            return Command::Done {
                result: done.clone(),
            };
        }
        if self.started {
            let done = internal("driver invariant");
            self.done = Some(done.clone());
            return Command::Done { result: done };
        }
        self.started = true;
        let create = matches!(self.request, PaymentMethodsRequest::Setup);
        self.issue(
            Next::Sql(SqlFunction::PaymentProfileOpen, json!({"create": create})),
            Wait::Open,
        )
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.pending = None;
        let Some(wait) = self.wait.take() else {
            self.done = Some(internal("driver invariant"));
            return Ok(());
        };
        match self.step(wait, input) {
            Ok((next, wait)) => {
                self.issue(next, wait);
            }
            Err(done) => self.done = Some(done),
        }
        Ok(())
    }
}

fn amount(minor: i64, currency: &str) -> Result<Money, PaymentsDone> {
    request::consent_amount(minor, currency)
        .map_err(|_| reply(400, "validation_failed", "invalid maximum amount"))
}

fn read_profile(input: Input<'_>) -> Result<Profile, PaymentsDone> {
    let value = sql_json(input)?;
    match serde_json::from_value::<ProfileReply>(value) {
        Ok(ProfileReply {
            profile: Some(profile),
        }) => Ok(profile),
        Ok(ProfileReply { profile: None }) => {
            Err(reply(401, "unauthorized", "a signed-in user is required"))
        }
        Err(_) => Err(internal("the payment profile is unreadable")),
    }
}

fn sql_json(input: Input<'_>) -> Result<Value, PaymentsDone> {
    match input {
        Input::Sql(text) => {
            serde_json::from_str(text).map_err(|_| internal("the SQL API answered no JSON"))
        }
        _ => Err(internal("driver invariant")),
    }
}

/// The body of a 2xx Stripe answer, or the reply for anything else.
fn stripe_ok(input: Input<'_>) -> Result<&[u8], PaymentsDone> {
    match input {
        Input::Http { status, body } if (200..300).contains(&status) => Ok(body),
        Input::Http { status, .. } if status == 409 || status == 429 || status >= 500 => {
            Err(unavailable())
        }
        Input::Transport(_) => Err(unavailable()),
        Input::Http { status: 404, .. } => Err(not_found()),
        Input::Http { .. } => Err(reply(
            502,
            "stripe_rejected",
            "the card provider refused the request",
        )),
        _ => Err(internal("driver invariant")),
    }
}

fn sql_reply(sqlstate: &str) -> PaymentsDone {
    match sqlstate {
        "PF004" => reply(
            409,
            "default_card_changed",
            "the default card changed meanwhile; ask for the consent text again",
        ),
        "P0002" => not_found(),
        // The payment-profile and consent guards while the caller's erasure runs
        // (migrations 20261203000500, 20261203000900).
        "PF010" => reply(
            409,
            "erasure_in_progress",
            "this account is being erased; no card, customer or consent can be saved",
        ),
        _ => {
            let done = sql_error_reply(sqlstate);
            PaymentsDone {
                status: done.status,
                body: done.body,
                outcome: done.outcome,
            }
        }
    }
}

fn unavailable() -> PaymentsDone {
    reply(
        503,
        "stripe_unavailable",
        "the card provider is unavailable; try again shortly",
    )
}

fn bad_response(_: crate::stripe::StripeError) -> PaymentsDone {
    reply(
        502,
        "provider_bad_response",
        "the card provider answered something unreadable",
    )
}

fn not_found() -> PaymentsDone {
    reply(404, "payment_method_not_found", "no such saved card")
}

fn internal(message: &str) -> PaymentsDone {
    reply(500, "internal", message)
}

fn reply(status: u16, code: &str, message: &str) -> PaymentsDone {
    PaymentsDone {
        status,
        body: json!({"code": code, "message": message}),
        outcome: code.to_owned(),
    }
}

fn answer<T: Serialize>(status: u16, outcome: &str, body: &T) -> PaymentsDone {
    match serde_json::to_value(body) {
        Ok(body) => PaymentsDone {
            status,
            body,
            outcome: outcome.to_owned(),
        },
        Err(_) => internal("answer not serialisable"),
    }
}
