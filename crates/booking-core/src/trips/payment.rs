//! The `trips` actions for an attempt that waits for the traveller's on-session payment
//! (3-D Secure, saga phase `await_traveller`; docs/saga.md "On-session payment"):
//!
//! | action | answer |
//! | --- | --- |
//! | `payment` | 200 `{outcome:"pending", payment:{payment_intent, client_secret, status, next_action_type, amount_minor, currency, deadline}}`: what Stripe.js `confirmCardPayment` needs, the client_secret read from Stripe now (never stored, never logged); 502 `payment_provider_unavailable` |
//! | `payment_done` | 202 `{outcome:"checking"}`: the monitor reads the intent at its next run and books on the hold, or releases it |
//! | `use_another_card` | 202 `{outcome:"switching_card"}`: the intent is cancelled first, then a new attempt authorizes the new default card; 409 `same_card`, 403 `auto_book_needs_card` |
//!
//! All: 404 `not_found` (also another user's trip), 409 `no_payment_pending`.

use serde_json::{json, Value};

use crate::http::HttpRequest;
use crate::reply::Reply;
use crate::stripe;

/// Which payment action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentAction {
    /// What the browser needs to authenticate (`payment`).
    Details,
    /// The traveller finished in the browser (`payment_done`).
    Done,
    /// The traveller set another default card (`use_another_card`).
    AnotherCard,
}

impl PaymentAction {
    /// The action name in a `trips` body, if it is one of these.
    pub fn parse(action: &str) -> Option<Self> {
        match action {
            "payment" => Some(Self::Details),
            "payment_done" => Some(Self::Done),
            "use_another_card" => Some(Self::AnotherCard),
            _ => None,
        }
    }

    /// The `trips_payment` action.
    pub fn sql_action(self) -> &'static str {
        match self {
            Self::Details => "details",
            Self::Done => "done",
            Self::AnotherCard => "another_card",
        }
    }
}

/// What `trips_payment` answered: a reply, or (for `details`) the intent to read first.
pub enum AfterSql {
    /// Done.
    Reply(Reply),
    /// Read the intent from Stripe (its client_secret), then answer with [`after_intent`].
    Fetch(HttpRequest, Value),
}

/// The answer to `trips_payment`.
pub fn after_sql(result: Value) -> AfterSql {
    let trip = result.get("trip").cloned().unwrap_or(Value::Null);
    let conflict = |code: &str, message: &str| {
        AfterSql::Reply(Reply::error(
            409,
            code,
            message,
            json!({"trip": trip.clone()}),
        ))
    };
    match result["outcome"].as_str().unwrap_or("") {
        "pending" => match result["payment_intent"].as_str() {
            Some(pi) if pi.starts_with("pi_") => {
                AfterSql::Fetch(stripe::retrieve_request(pi), result.clone())
            }
            _ => AfterSql::Reply(Reply::internal("the pending payment names no intent")),
        },
        "checking" => AfterSql::Reply(Reply::ok(
            202,
            "checking",
            json!({"outcome": "checking", "trip": trip,
                "message": "thanks: the booking goes on with your authorization within minutes, or the hold is released if the fare is gone or dearer"}),
        )),
        "switching_card" => AfterSql::Reply(Reply::ok(
            202,
            "switching_card",
            json!({"outcome": "switching_card", "trip": trip,
                "message": "the payment waiting for you is cancelled first; then the booking is tried with your new default card"}),
        )),
        "not_found" => AfterSql::Reply(Reply::error(
            404,
            "not_found",
            "no such trip request",
            json!({}),
        )),
        "no_payment_pending" => conflict(
            "no_payment_pending",
            "no booking attempt of this trip is waiting for you to confirm a payment",
        ),
        "same_card" => conflict(
            "same_card",
            "this card is the one that needs authentication: set another default card first, or confirm the payment",
        ),
        "needs_card" => AfterSql::Reply(Reply::error(
            403,
            "auto_book_needs_card",
            "save a default card and consent to its use first",
            json!({"trip": trip}),
        )),
        _ => AfterSql::Reply(Reply::internal("trips_payment answered an unknown outcome")),
    }
}

/// The answer once Stripe returned the intent: what the browser needs. The client_secret goes
/// only into this body, never into a log line.
pub fn after_intent(pending: &Value, status: u16, body: &[u8]) -> Reply {
    let unavailable = || {
        Reply::error(
            502,
            "payment_provider_unavailable",
            "the payment provider did not answer; try again in a moment",
            json!({}),
        )
    };
    if !(200..300).contains(&status) {
        return unavailable();
    }
    let Ok(intent) = serde_json::from_slice::<Value>(body) else {
        return unavailable();
    };
    let (Some(secret), Some(id)) = (intent["client_secret"].as_str(), intent["id"].as_str()) else {
        return unavailable();
    };
    if Some(id) != pending["payment_intent"].as_str() {
        return unavailable();
    }
    Reply::ok(
        200,
        "pending",
        json!({"outcome": "pending", "payment": {
            "attempt_id": pending["attempt_id"],
            "payment_intent": id,
            "client_secret": secret,
            "status": intent["status"],
            "next_action_type": intent.pointer("/next_action/type"),
            "amount_minor": pending["amount_minor"],
            "currency": pending["currency"],
            "deadline": pending["deadline"],
        }}),
    )
}
