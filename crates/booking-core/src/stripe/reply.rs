//! Reading Stripe's answers: PaymentIntent objects, search results and the error envelope.

use serde::Deserialize;

use super::StripeError;

/// A PaymentIntent's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntentStatus {
    /// Needs a new payment method (what a failed off-session confirm leaves behind).
    RequiresPaymentMethod,
    /// Created but not confirmed.
    RequiresConfirmation,
    /// Needs the customer (3-D Secure).
    RequiresAction,
    /// The bank is still deciding.
    Processing,
    /// Authorized: funds held, waiting for capture.
    RequiresCapture,
    /// Cancelled; any hold is released.
    Canceled,
    /// Captured.
    Succeeded,
}

/// The PaymentIntent fields the saga uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    /// `pi_…`.
    pub id: String,
    /// Current status.
    pub status: IntentStatus,
    /// Authorized amount in Stripe's unit for the currency (see [`super::to_stripe_amount`]; not
    /// always the ISO minor unit). Compare with [`super::is_same_amount`].
    pub amount: i64,
    /// Captured amount in Stripe's unit (0 until captured).
    #[serde(default)]
    pub amount_received: i64,
    /// Lower-case ISO currency.
    pub currency: String,
    /// The `metadata[attempt_id]` the intent was created with.
    #[serde(default)]
    pub metadata: Metadata,
}

/// The metadata keys the saga sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    /// The booking attempt that created the intent.
    pub attempt_id: Option<String>,
}

/// What a Stripe response means for the saga.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StripeReply {
    /// 2xx with a PaymentIntent.
    Intent(PaymentIntent),
    /// 402 card error: a decline, an expired card, or `authentication_required`. Never retried.
    Card {
        /// Stripe's `code` (`card_declined`, `authentication_required`, …).
        code: String,
        /// The intent Stripe created, when the envelope names it.
        payment_intent: Option<PaymentIntent>,
    },
    /// 409, 429, 5xx: try again later with the same idempotency key.
    Retry {
        /// HTTP status.
        status: u16,
    },
    /// Any other error: the request itself is wrong (400 `invalid_request_error`,
    /// `idempotency_error`, 401, 404 …). Retrying cannot help.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Stripe's `code`, or the error `type` when there is no code.
        code: String,
        /// The intent named by the error, if any (e.g. `payment_intent_unexpected_state`).
        payment_intent: Option<PaymentIntent>,
    },
}

#[derive(Deserialize)]
struct Envelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    payment_intent: Option<PaymentIntent>,
}

/// Interprets a Stripe response to a PaymentIntent request.
///
/// Status codes decide retryability (Stripe's SDKs retry 409, 429 and ≥500 with the same key;
/// never 402); the body is only trusted for the detail.
pub fn classify(status: u16, body: &[u8]) -> Result<StripeReply, StripeError> {
    if (200..300).contains(&status) {
        let intent: PaymentIntent = serde_json::from_slice(body)
            .map_err(|_| StripeError::MalformedResponse("payment_intent"))?;
        return Ok(StripeReply::Intent(intent));
    }
    if status == 409 || status == 429 || status >= 500 {
        return Ok(StripeReply::Retry { status });
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|_| StripeError::MalformedResponse("error"))?;
    let error = envelope.error;
    let code = error
        .code
        .or(error.kind)
        .unwrap_or_else(|| "unknown".to_owned());
    if status == 402 {
        return Ok(StripeReply::Card {
            code,
            payment_intent: error.payment_intent,
        });
    }
    Ok(StripeReply::Rejected {
        status,
        code,
        payment_intent: error.payment_intent,
    })
}

#[derive(Deserialize)]
struct SearchResult {
    data: Vec<PaymentIntent>,
}

/// Parses a `GET /v1/payment_intents/search` 200 body.
pub fn parse_search(body: &[u8]) -> Result<Vec<PaymentIntent>, StripeError> {
    serde_json::from_slice::<SearchResult>(body)
        .map(|r| r.data)
        .map_err(|_| StripeError::MalformedResponse("search_result"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PI: &str = r#"{"id":"pi_1","object":"payment_intent","amount":22178,
        "amount_received":0,"currency":"gbp","status":"requires_capture",
        "metadata":{"attempt_id":"att_1","trip_id":"t"},"latest_charge":"ch_1"}"#;

    #[test]
    fn reads_an_authorized_intent() {
        let StripeReply::Intent(pi) = classify(200, PI.as_bytes()).unwrap() else {
            panic!("expected an intent");
        };
        assert_eq!(pi.status, IntentStatus::RequiresCapture);
        assert_eq!(pi.amount, 22178);
        assert_eq!(pi.metadata.attempt_id.as_deref(), Some("att_1"));
    }

    #[test]
    fn card_errors_carry_the_code_and_intent() {
        let body = br#"{"error":{"type":"card_error","code":"authentication_required",
            "decline_code":"authentication_required","message":"x",
            "payment_intent":{"id":"pi_2","status":"requires_payment_method","amount":5,
            "currency":"gbp"}}}"#;
        let reply = classify(402, body).unwrap();
        let StripeReply::Card {
            code,
            payment_intent,
        } = reply
        else {
            panic!("expected a card error");
        };
        assert_eq!(code, "authentication_required");
        assert_eq!(
            payment_intent.unwrap().status,
            IntentStatus::RequiresPaymentMethod
        );
    }

    #[test]
    fn retryable_statuses_ignore_the_body() {
        for status in [409, 429, 500, 502, 503] {
            assert_eq!(
                classify(status, b"<html>").unwrap(),
                StripeReply::Retry { status }
            );
        }
    }

    #[test]
    fn idempotency_errors_are_rejections() {
        let body = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent..."}}"#;
        let reply = classify(400, body).unwrap();
        assert!(
            matches!(reply, StripeReply::Rejected { status: 400, ref code, .. }
            if code == "idempotency_error")
        );
    }

    #[test]
    fn garbage_is_a_bad_response() {
        assert_eq!(
            classify(200, b"{}").unwrap_err().code(),
            "provider_bad_response"
        );
        assert_eq!(
            classify(400, b"nope").unwrap_err().code(),
            "provider_bad_response"
        );
        assert_eq!(parse_search(br#"{"data":[]}"#).unwrap(), vec![]);
    }
}
