//! Stand-in for Stripe PaymentIntents (see `sim` module docs for how it differs from Stripe).

use std::collections::{HashMap, HashSet};

use booking_core::http::{HttpRequest, Method};
use booking_core::saga::Outcome;
use serde_json::json;

use super::form_decode;
use super::world::{Endpoint, Fault};

/// One PaymentIntent.
#[derive(Clone, Debug)]
pub(crate) struct Intent {
    pub(crate) id: String,
    pub(crate) status: &'static str,
    pub(crate) amount: i64,
    pub(crate) amount_received: i64,
    pub(crate) currency: String,
    pub(crate) attempt_id: String,
    pub(crate) trip_id: String,
    /// Virtual creation time: Search only lists the intent [`SEARCH_LAG_MS`] later.
    pub(crate) created_at: i64,
}

/// Stripe Search is eventually consistent ("usually within a minute"): a new intent shows in
/// search results only after this lag.
pub(crate) const SEARCH_LAG_MS: i64 = 60_000;

impl Intent {
    fn json(&self) -> serde_json::Value {
        json!({"id": self.id, "object": "payment_intent", "status": self.status,
            "amount": self.amount, "amount_received": self.amount_received,
            "currency": self.currency, "capture_method": "manual",
            "metadata": {"attempt_id": self.attempt_id, "trip_id": self.trip_id}})
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct StripeFake {
    pub(crate) intents: Vec<Intent>,
    /// Idempotency key → (method + path + body, status, body).
    keys: HashMap<String, (String, u16, String)>,
    /// Card errors carry a code no database rule expects (`Card-Declined / Do Not Honor`).
    pub(crate) hostile: bool,
    /// Intents on which the traveller failed a 3-D Secure challenge.
    failed_challenges: HashSet<String>,
}

impl StripeFake {
    pub(crate) fn endpoint(request: &HttpRequest, path: &str) -> Endpoint {
        if request.method == Method::Get && path.starts_with("/v1/payment_intents/search") {
            Endpoint::Search
        } else if request.method == Method::Get {
            Endpoint::Retrieve
        } else if path.ends_with("/capture") {
            Endpoint::Capture
        } else if path.ends_with("/cancel") {
            Endpoint::Cancel
        } else {
            Endpoint::Authorize
        }
    }

    /// Whether an authorization for `attempt` holds exactly `amount` right now.
    pub(crate) fn holds(&self, attempt: &str, amount: i64) -> bool {
        self.intents.iter().any(|pi| {
            pi.attempt_id == attempt && pi.status == "requires_capture" && pi.amount == amount
        })
    }

    pub(crate) fn handle(
        &mut self,
        request: &HttpRequest,
        path: &str,
        now: i64,
        fault: Option<Fault>,
        violations: &mut Vec<String>,
    ) -> Outcome {
        if request.header("Authorization") != Some("Bearer sk_test_sim") {
            violations.push("stripe request without the secret key".into());
            return respond(401, error("invalid_request_error", "unauthorized"));
        }
        if let Some(Fault::Before(status)) = fault {
            return respond(status, error("api_error", "unavailable"));
        }
        if request.method == Method::Get && path.starts_with("/v1/payment_intents/search") {
            return self.search(path, now, fault);
        }
        if request.method == Method::Get {
            let id = path.strip_prefix("/v1/payment_intents/").unwrap_or("");
            return match (self.intents.iter().find(|pi| pi.id == id), fault) {
                (_, Some(Fault::Lost)) => Outcome::Timeout,
                (_, Some(_)) => respond(500, error("api_error", "internal")),
                (Some(pi), None) => respond(200, pi.json().to_string()),
                (None, None) => respond(404, error("invalid_request_error", "resource_missing")),
            };
        }
        let Some(key) = request.header("Idempotency-Key").map(str::to_owned) else {
            violations.push(format!("stripe POST {path} without an Idempotency-Key"));
            return respond(400, error("invalid_request_error", "missing_key"));
        };
        let fingerprint = format!("{path}\n{}", request.body.as_deref().unwrap_or(""));
        if let Some((stored, status, body)) = self.keys.get(&key) {
            if *stored != fingerprint {
                violations.push(format!(
                    "idempotency key {key} reused with other parameters"
                ));
                return respond(400, error("idempotency_error", "idempotency_error"));
            }
            if fault == Some(Fault::Lost) {
                return Outcome::Timeout;
            }
            return respond(*status, body.clone());
        }
        let params: HashMap<String, String> = form_decode(request.body.as_deref().unwrap_or(""))
            .into_iter()
            .collect();
        let (status, body) = if path == "/v1/payment_intents" {
            self.create(&params, now, fault, violations)
        } else if let Some(id) = path
            .strip_prefix("/v1/payment_intents/")
            .and_then(|p| p.strip_suffix("/capture"))
        {
            self.capture(id, &params)
        } else if let Some(id) = path
            .strip_prefix("/v1/payment_intents/")
            .and_then(|p| p.strip_suffix("/cancel"))
        {
            self.cancel(id)
        } else {
            (404, error("invalid_request_error", "resource_missing"))
        };
        let (status, body) = if fault == Some(Fault::ExecutedThen500) {
            (500, error("api_error", "internal"))
        } else {
            (status, body)
        };
        self.keys.insert(key, (fingerprint, status, body.clone()));
        if fault == Some(Fault::Lost) {
            return Outcome::Timeout;
        }
        respond(status, body)
    }

    fn create(
        &mut self,
        p: &HashMap<String, String>,
        now: i64,
        fault: Option<Fault>,
        violations: &mut Vec<String>,
    ) -> (u16, String) {
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        for (k, v) in [
            ("capture_method", "manual"),
            ("confirm", "true"),
            ("off_session", "true"),
        ] {
            if get(k) != v {
                violations.push(format!("authorization without {k}={v}"));
            }
        }
        let trip = get("metadata[trip_id]");
        if self
            .intents
            .iter()
            .any(|pi| pi.trip_id == trip && pi.status == "requires_capture")
        {
            // Never two live holds for one trip (issue 7: another card only after the old
            // intent is cancelled).
            violations.push(format!(
                "trip {trip}: a second authorization while a hold is live"
            ));
        }
        let Ok(amount) = get("amount").parse::<i64>() else {
            return (
                400,
                error("invalid_request_error", "parameter_invalid_integer"),
            );
        };
        let mut intent = Intent {
            id: format!("pi_{:04}", self.intents.len() + 1),
            status: "requires_capture",
            amount,
            amount_received: 0,
            currency: get("currency").to_owned(),
            attempt_id: get("metadata[attempt_id]").to_owned(),
            trip_id: get("metadata[trip_id]").to_owned(),
            created_at: now,
        };
        let card_error = match (fault, get("payment_method")) {
            (Some(Fault::Decline), _) | (_, "pm_card_chargeDeclined") => Some("card_declined"),
            (Some(Fault::AuthRequired), _) | (_, "pm_card_authenticationRequired") => {
                Some("authentication_required")
            }
            _ => None,
        };
        if let Some(code) = card_error {
            let code = match (self.hostile, code) {
                (true, "card_declined") => "Card-Declined / Do Not Honor",
                _ => code,
            };
            intent.status = "requires_payment_method";
            let body = json!({"error": {"type": "card_error", "code": code,
                "message": "card error", "payment_intent": intent.json()}});
            self.intents.push(intent);
            return (402, body.to_string());
        }
        let body = intent.json().to_string();
        self.intents.push(intent);
        (200, body)
    }

    fn capture(&mut self, id: &str, p: &HashMap<String, String>) -> (u16, String) {
        let Some(pi) = self.intents.iter_mut().find(|pi| pi.id == id) else {
            return (404, error("invalid_request_error", "resource_missing"));
        };
        let amount = p
            .get("amount_to_capture")
            .and_then(|a| a.parse::<i64>().ok())
            .unwrap_or(pi.amount);
        if pi.status != "requires_capture" || amount > pi.amount {
            return (400, unexpected_state(pi));
        }
        pi.status = "succeeded";
        pi.amount_received = amount;
        (200, pi.json().to_string())
    }

    fn cancel(&mut self, id: &str) -> (u16, String) {
        let Some(pi) = self.intents.iter_mut().find(|pi| pi.id == id) else {
            return (404, error("invalid_request_error", "resource_missing"));
        };
        if !matches!(
            pi.status,
            "requires_capture" | "requires_payment_method" | "requires_action"
        ) {
            return (400, unexpected_state(pi));
        }
        pi.status = "canceled";
        (200, pi.json().to_string())
    }

    /// The status of an intent, if it exists.
    pub(crate) fn intent_status(&self, id: &str) -> Option<&'static str> {
        self.intents
            .iter()
            .find(|pi| pi.id == id)
            .map(|pi| pi.status)
    }

    /// Whether the traveller already failed a 3-D Secure challenge on the intent.
    pub(crate) fn failed_once(&self, id: &str) -> bool {
        self.failed_challenges.contains(id)
    }

    /// The traveller's browser completes (or fails) 3-D Secure on an intent that needs it, as
    /// `/_fake/payment_intents/{id}/authenticate` does in the fake Stripe server.
    pub(crate) fn authenticate(&mut self, id: &str, pass: bool) {
        let Some(pi) = self.intents.iter_mut().find(|pi| pi.id == id) else {
            return;
        };
        if !matches!(pi.status, "requires_payment_method" | "requires_action") {
            return;
        }
        if pass {
            pi.status = "requires_capture";
        } else {
            self.failed_challenges.insert(id.to_owned());
        }
    }

    /// The traveller's browser submitted 3-D Secure and the intent is briefly `processing`
    /// (Stripe refuses a cancel then: 400 `payment_intent_unexpected_state`).
    pub(crate) fn start_processing(&mut self, id: &str) {
        if let Some(pi) = self.intents.iter_mut().find(|pi| pi.id == id) {
            if matches!(pi.status, "requires_payment_method" | "requires_action") {
                pi.status = "processing";
            }
        }
    }

    /// The authentication settles: a `processing` intent becomes a hold (`requires_capture`).
    pub(crate) fn settle(&mut self, id: &str) {
        if let Some(pi) = self.intents.iter_mut().find(|pi| pi.id == id) {
            if pi.status == "processing" {
                pi.status = "requires_capture";
            }
        }
    }

    fn search(&self, path: &str, now: i64, fault: Option<Fault>) -> Outcome {
        let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
        let text = form_decode(query)
            .into_iter()
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let attempt = text
            .strip_prefix("metadata['attempt_id']:'")
            .and_then(|t| t.strip_suffix('\''))
            .unwrap_or("\u{0}");
        let data: Vec<_> = self
            .intents
            .iter()
            .filter(|pi| pi.attempt_id == attempt && pi.created_at + SEARCH_LAG_MS <= now)
            .map(Intent::json)
            .collect();
        match fault {
            Some(Fault::Lost) => Outcome::Timeout,
            Some(_) => respond(500, error("api_error", "internal")),
            None => respond(
                200,
                json!({"object": "search_result", "data": data}).to_string(),
            ),
        }
    }
}

fn unexpected_state(pi: &Intent) -> String {
    json!({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state",
        "message": "unexpected state", "payment_intent": pi.json()}})
    .to_string()
}

fn error(kind: &str, code: &str) -> String {
    json!({"error": {"type": kind, "code": code, "message": "simulated"}}).to_string()
}

fn respond(status: u16, body: String) -> Outcome {
    Outcome::Response {
        status,
        body: body.into_bytes(),
    }
}
