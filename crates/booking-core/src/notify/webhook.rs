//! `resend-webhook`: Svix-signed deliveries from Resend (contracts-webhooks-setup §4).
//!
//! The shim computes the HMAC with WebCrypto (so the `whsec_` secret never enters the wasm
//! module): `base64(HMAC-SHA256(base64decode(secret without "whsec_"), "{svix-id}.{svix-timestamp}.{raw body}"))`,
//! over the headers exactly as received and the raw body bytes, before anything is parsed. The
//! decision is here ([`verify`]): the three headers present and well formed, the timestamp
//! within [`TOLERANCE_SECONDS`] of now either way, and one of the `v1,<base64>` entries of
//! `svix-signature` equal to the computed MAC in constant time (other versions ignored). Then
//! [`WebhookDriver`] records the event once per `svix-id` (`sql resend_event`): a redelivery or
//! a replay of a captured request inside the tolerance is acknowledged without effect.

use serde::Deserialize;
use serde_json::{json, Value};
use thiserror::Error;

use crate::auth::secret_matches;
use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlFunction};
use crate::time::Timestamp;

/// Largest accepted webhook body.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 256 * 1024;

/// How far `svix-timestamp` may be from now, either way (Standard Webhooks: 5 minutes).
pub const TOLERANCE_SECONDS: i64 = 300;

/// The three Svix headers as received (absent: `None`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SvixHeaders<'a> {
    /// `svix-id`: the message id, stable across redeliveries.
    pub id: Option<&'a str>,
    /// `svix-timestamp`: Unix seconds.
    pub timestamp: Option<&'a str>,
    /// `svix-signature`: space-separated `v1,<base64>` entries.
    pub signature: Option<&'a str>,
}

/// Why a delivery was refused (400, before anything is read from the body).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A Svix header is missing or malformed.
    #[error("the svix-id, svix-timestamp and svix-signature headers are required")]
    MissingSignature,
    /// The timestamp is more than 5 minutes from now.
    #[error("the webhook timestamp is outside the tolerance")]
    StaleTimestamp,
    /// No `v1` signature matches.
    #[error("no webhook signature matches")]
    InvalidSignature,
    /// Signed, but the body is not a Resend event.
    #[error("the webhook body is not a Resend event")]
    InvalidPayload,
    /// Larger than [`MAX_WEBHOOK_BODY_BYTES`].
    #[error("the webhook body is too large")]
    PayloadTooLarge,
}

impl WebhookError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidPayload => "invalid_payload",
            Self::PayloadTooLarge => "payload_too_large",
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::PayloadTooLarge => 413,
            _ => 400,
        }
    }
}

crate::error::impl_error_code!(WebhookError);

fn valid_msg_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Checks a delivery: headers, tolerance, and the computed MAC (`computed_b64`, standard padded
/// base64 of the 32-byte HMAC) against every `v1` entry in constant time.
pub fn verify(
    headers: SvixHeaders<'_>,
    computed_b64: &str,
    now: Timestamp,
) -> Result<(), WebhookError> {
    let (Some(id), Some(ts), Some(sig)) = (headers.id, headers.timestamp, headers.signature) else {
        return Err(WebhookError::MissingSignature);
    };
    if !valid_msg_id(id)
        || ts.is_empty()
        || ts.len() > 12
        || !ts.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(WebhookError::MissingSignature);
    }
    let ts: i64 = ts.parse().map_err(|_| WebhookError::MissingSignature)?;
    let now_s = now.unix_ms().div_euclid(1000);
    if (now_s - ts).abs() > TOLERANCE_SECONDS {
        return Err(WebhookError::StaleTimestamp);
    }
    // Compare with every v1 entry (no early exit) so timing says nothing about which matched.
    let mut matched = false;
    for entry in sig.split(' ').filter(|e| !e.is_empty()).take(16) {
        if let Some(("v1", value)) = entry.split_once(',') {
            matched |= secret_matches(value.as_bytes(), computed_b64.as_bytes());
        }
    }
    if computed_b64.len() != 44 || !matched {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(())
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    data: Value,
}

/// The verified event, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResendEvent {
    /// `svix-id`.
    pub svix_id: String,
    /// Event type (`email.bounced`, …).
    pub kind: String,
    /// `data.email_id`: the id `POST /emails` answered.
    pub email_id: Option<String>,
    /// `created_at`, when readable.
    pub occurred_at: Option<Timestamp>,
}

/// Parses a verified body. Only the type, the email id and the time are kept (the addresses
/// and subject in `data` are personal data and are not read).
pub fn parse_event(svix_id: &str, body: &[u8]) -> Result<ResendEvent, WebhookError> {
    let event: Event = serde_json::from_slice(body).map_err(|_| WebhookError::InvalidPayload)?;
    let kind_ok = (1..=64).contains(&event.kind.len())
        && event.kind.as_bytes()[0].is_ascii_lowercase()
        && event
            .kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if !kind_ok {
        return Err(WebhookError::InvalidPayload);
    }
    let email_id = event
        .data
        .get("email_id")
        .and_then(Value::as_str)
        .filter(|id| super::resend::valid_message_id(id))
        .map(str::to_owned);
    Ok(ResendEvent {
        svix_id: svix_id.to_owned(),
        kind: event.kind,
        email_id,
        occurred_at: event
            .created_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339),
    })
}

/// The webhook's answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WebhookDone {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`{received, duplicate}` or `{code, message}`).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub body: Value,
    /// Stable outcome code for the log line.
    pub outcome: String,
}

fn refused(error: &WebhookError) -> WebhookDone {
    WebhookDone {
        status: error.status(),
        body: json!({"code": error.code(), "message": error.to_string()}),
        outcome: error.code().to_owned(),
    }
}

/// One delivery: verified, parsed and recorded (or refused at once).
pub struct WebhookDriver {
    state: Result<Option<ResendEvent>, WebhookDone>,
    pending: Option<Command<WebhookDone>>,
    seq: Sequencer,
}

impl std::fmt::Debug for WebhookDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDriver").finish_non_exhaustive()
    }
}

impl WebhookDriver {
    /// Verifies and parses; a refused delivery is done at once with its 4xx.
    pub fn new(headers: SvixHeaders<'_>, body: &[u8], computed_b64: &str, now: Timestamp) -> Self {
        let state = (|| {
            if body.len() > MAX_WEBHOOK_BODY_BYTES {
                return Err(WebhookError::PayloadTooLarge);
            }
            verify(headers, computed_b64, now)?;
            parse_event(headers.id.unwrap_or_default(), body)
        })();
        Self {
            state: state.map(Some).map_err(|e| refused(&e)),
            pending: None,
            seq: Sequencer::default(),
        }
    }
}

impl Driver for WebhookDriver {
    type Done = WebhookDone;

    fn poll(&mut self, _now: Timestamp) -> Command<WebhookDone> {
        if let Some(pending) = &self.pending {
            return pending.clone();
        }
        match &mut self.state {
            Err(done) => Command::Done {
                result: done.clone(),
            },
            Ok(event) => match event.take() {
                Some(e) => {
                    let args = json!({"svix_id": e.svix_id, "type": e.kind,
                        "email_id": e.email_id, "occurred_at": e.occurred_at});
                    let id = self.seq.issue("sql");
                    let cmd = Command::sql(id, SqlFunction::ResendEvent, args);
                    self.pending = Some(cmd.clone());
                    cmd
                }
                None => {
                    let done = WebhookDone {
                        status: 500,
                        body: json!({"code": "internal", "message": "driver invariant"}),
                        outcome: "internal".into(),
                    };
                    self.state = Err(done.clone());
                    Command::Done { result: done }
                }
            },
        }
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.pending = None;
        let done = match input {
            Input::Sql(text) => {
                let result: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                let duplicate = result["duplicate"] == Value::Bool(true);
                WebhookDone {
                    status: 200,
                    body: json!({"received": true, "duplicate": duplicate}),
                    outcome: if duplicate { "duplicate" } else { "recorded" }.into(),
                }
            }
            // Not recorded: a 5xx makes Svix deliver it again later.
            Input::SqlError(_) => WebhookDone {
                status: 503,
                body: json!({"code": "database_unavailable",
                    "message": "the event was not recorded; it will be redelivered"}),
                outcome: "database_unavailable".into(),
            },
            _ => WebhookDone {
                status: 500,
                body: json!({"code": "internal", "message": "driver invariant"}),
                outcome: "internal".into(),
            },
        };
        self.state = Err(done);
        Ok(())
    }
}
