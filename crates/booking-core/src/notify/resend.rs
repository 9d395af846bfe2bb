//! Resend's `POST /emails` (contracts-providers §3): the request, what an answer means, and the
//! retry schedule.

use serde::Deserialize;
use serde_json::json;

use super::render::Email;
use crate::error::TransportFailure;
use crate::http::{HttpRequest, Method, Service};

/// How long the executor waits for Resend.
pub const SEND_TIMEOUT_MS: u32 = 15_000;

/// First retry delay; doubles per attempt up to [`MAX_BACKOFF_MS`].
pub const BASE_BACKOFF_MS: i64 = 30_000;

/// Longest retry delay (with the default 8 attempts the last try is well inside Resend's 24 h
/// idempotency window).
pub const MAX_BACKOFF_MS: i64 = 3_600_000;

/// A row `sending` longer than this is not sent again: Resend keeps idempotency keys 24 h, so a
/// resend after that could deliver a second copy. It ends `dead` (`idempotency_window_passed`).
pub const IDEMPOTENCY_WINDOW_MS: i64 = 23 * 3_600_000;

/// The JSON body of `POST /emails`.
pub fn email_body(id: &str, template: &str, from: &str, to: &str, email: &Email) -> String {
    json!({
        "from": from,
        "to": [to],
        "subject": email.subject,
        "html": email.html,
        "text": email.text,
        "tags": [{"name": "notification_id", "value": id}, {"name": "template", "value": template}],
    })
    .to_string()
}

/// `POST /emails` with `body`, `Idempotency-Key` = the notification id.
pub fn send_request(id: &str, body: String) -> HttpRequest {
    let mut request = HttpRequest::new(
        Service::Resend,
        Method::Post,
        "/emails".into(),
        SEND_TIMEOUT_MS,
    );
    request.headers = vec![
        ("Content-Type".into(), "application/json".into()),
        ("Idempotency-Key".into(), id.into()),
    ];
    request.body = Some(body);
    request
}

/// What Resend's answer means for the notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted (or the same key's earlier acceptance replayed): Resend's email id.
    Sent(String),
    /// Worth trying again later with the same key and body (429, 5xx, a key still in flight,
    /// no answer, an unreadable 200). The code names why.
    Retry(String),
    /// Will never succeed as it is (validation, unknown recipient, a key reused with another
    /// body). The code names why.
    Permanent(String),
}

#[derive(Deserialize)]
struct Accepted {
    id: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    name: Option<String>,
}

fn code_of(name: Option<String>, fallback: &str) -> String {
    let name = name.unwrap_or_default();
    let clean = !name.is_empty()
        && name.len() <= 50
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase();
    if clean {
        format!("resend_{name}")
    } else {
        fallback.to_owned()
    }
}

/// Classifies an HTTP answer from `POST /emails`.
pub fn classify(status: u16, body: &[u8]) -> SendOutcome {
    if (200..300).contains(&status) {
        return match serde_json::from_slice::<Accepted>(body) {
            Ok(a) if valid_message_id(&a.id) => SendOutcome::Sent(a.id),
            // Accepted but unreadable: the same key will replay the id.
            _ => SendOutcome::Retry("resend_bad_response".into()),
        };
    }
    let name = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .and_then(|e| e.name);
    match status {
        429 => match name.as_deref() {
            // Quotas do not reset within our retry window: stop, an operator must act.
            Some("daily_quota_exceeded" | "monthly_quota_exceeded") => {
                SendOutcome::Permanent(code_of(name, "resend_quota_exceeded"))
            }
            _ => SendOutcome::Retry("resend_rate_limited".into()),
        },
        409 => match name.as_deref() {
            Some("concurrent_idempotent_requests") => {
                SendOutcome::Retry("resend_concurrent_idempotent_requests".into())
            }
            _ => SendOutcome::Permanent(code_of(name, "resend_conflict")),
        },
        // A key problem is the operator's to fix; the mail itself is fine: retry (bounded by
        // the attempt limit), so fixing the key lets queued mail go out.
        401 => SendOutcome::Retry(code_of(name, "resend_unauthorized")),
        403 if matches!(
            name.as_deref(),
            Some("invalid_api_key" | "restricted_api_key")
        ) =>
        {
            SendOutcome::Retry(code_of(name, "resend_forbidden"))
        }
        s if s >= 500 => SendOutcome::Retry(code_of(name, "resend_unavailable")),
        _ => SendOutcome::Permanent(code_of(name, "resend_rejected")),
    }
}

/// No answer from Resend: the email may or may not have been accepted; retry with the same key.
pub fn classify_transport(failure: TransportFailure) -> SendOutcome {
    SendOutcome::Retry(format!("resend_{}", failure.code()))
}

/// Resend's ids are UUIDs; anything id-shaped is accepted.
pub fn valid_message_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The delay before retry number `attempts + 1`: 30 s doubling per attempt, at most 1 h, plus
/// up to 10 % spread derived from the notification id (no randomness in the core; different
/// notifications spread out, the same one is reproducible).
pub fn backoff_ms(attempts: u32, id: &str) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    let base = BASE_BACKOFF_MS
        .saturating_mul(1_i64 << exp)
        .min(MAX_BACKOFF_MS);
    let spread = id
        .bytes()
        .fold(0_u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    base + (base / 10) * i64::from(spread % 101) / 100
}
