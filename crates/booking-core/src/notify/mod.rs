//! Communications: the outbox dispatcher's per-notification [`Driver`] (`notify-dispatch`),
//! the email templates ([`render`]), Resend's send API ([`resend`]) and Resend's webhook
//! ([`webhook`]). `docs/contracts.md` ("notify-dispatch", "resend-webhook").
//!
//! One claimed notification (an element of `notify_claim`'s `notifications`) is driven as:
//!
//! 1. Final without sending when the attempt limit is passed (`dead`, `too_many_attempts`), the
//!    address is suppressed (`suppressed`), there is no recipient (`dead`, `no_recipient`), the
//!    template cannot be rendered (`dead`, the render code) or a `sending` row is older than
//!    Resend's idempotency window (`dead`, `idempotency_window_passed`).
//! 2. A row already `sending` (an earlier run may have sent it) is sent again with its stored
//!    body, unchanged. Otherwise the email is rendered and the body persisted first
//!    (`sql notify_sending`), then sent: persist, then act.
//! 3. `http POST /emails` with `Idempotency-Key` = the notification id.
//! 4. `sql notify_finish`: `sent` with Resend's id, `retry` with a backoff time (429, 5xx, no
//!    answer), or `dead` (a permanent refusal, or the last attempt failed).
//!
//! A crash between 3 and 4 leaves the row `sending` with its stored body; after the claim's
//! lease the next run sends the same bytes under the same key and Resend answers with the first
//! email's id instead of sending another.

pub mod render;
pub mod resend;
pub mod webhook;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;

use crate::engine::{Command, DriveError, Driver, Input, Sequencer, SqlFunction};
use crate::http::HttpRequest;
use crate::time::Timestamp;

use render::{BookingView, OfferView, PassengerName, RenderInput, TripView};
use resend::SendOutcome;

/// The dispatcher settings `notify_claim` returns.
#[derive(Clone, Debug, Deserialize)]
pub struct NotifySettings {
    /// Attempts (claims) before a notification ends `dead`.
    pub max_attempts: u32,
    /// The From header.
    pub from: String,
    /// The frontend's base URL for links.
    pub app_base_url: String,
}

/// One claimed notification, as `notify_claim` returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct ClaimedNotification {
    /// Notification id (also the Idempotency-Key).
    pub id: String,
    /// Template name.
    pub template: String,
    /// Claims so far, this one included.
    pub attempts: u32,
    /// When it first became `sending`, if it did.
    #[serde(default)]
    pub sending_at: Option<Timestamp>,
    /// The persisted request body of a `sending` row.
    #[serde(default)]
    pub stored_request: Option<String>,
    /// The recipient address (absent for a `sending` row: it is in the stored body).
    #[serde(default)]
    pub recipient: Option<String>,
    /// The address is on the suppression list.
    #[serde(default)]
    pub suppressed: bool,
    /// Template data not in other rows.
    #[serde(default)]
    pub payload: Value,
    /// The trip.
    pub trip: TripView,
    /// Its offer.
    #[serde(default)]
    pub offer: Option<OfferView>,
    /// Its booking.
    #[serde(default)]
    pub booking: Option<BookingView>,
    /// Passengers' names.
    #[serde(default)]
    pub passengers: Vec<PassengerName>,
}

impl ClaimedNotification {
    /// Parses one element of `notify_claim`'s `notifications`.
    pub fn from_json(text: &str) -> Result<Self, NotifyError> {
        serde_json::from_str(text).map_err(|_| NotifyError::InvalidClaim)
    }
}

/// Why a driver could not be built.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The claim JSON does not have the expected shape.
    #[error("the claimed notification cannot be read")]
    InvalidClaim,
    /// The settings JSON does not have the expected shape.
    #[error("the dispatcher settings cannot be read")]
    InvalidSettings,
}

impl NotifyError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidClaim => "invalid_claim",
            Self::InvalidSettings => "invalid_settings",
        }
    }
}

crate::error::impl_error_code!(NotifyError);

/// How one notification ended this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum NotifyOutcome {
    /// Resend accepted it.
    Sent,
    /// It will be tried again.
    Retry,
    /// It will never be sent; `reason` says why.
    Dead,
    /// The address is suppressed.
    Suppressed,
    /// Nothing done (another run finished it, the database failed, …).
    Skipped,
}

/// The driver's result (for the run summary; no personal data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NotifyDone {
    /// The notification.
    pub notification_id: String,
    /// How it ended.
    pub outcome: NotifyOutcome,
    /// Stable reason code.
    pub reason: String,
}

enum Stage {
    Start,
    Persisting(String),
    Send(String),
    Sending,
    Finishing(NotifyOutcome, String),
    Done(NotifyDone),
}

/// The driver for one claimed notification.
pub struct NotifyDriver {
    claim: ClaimedNotification,
    settings: NotifySettings,
    stage: Stage,
    pending: Option<Command<NotifyDone>>,
    seq: Sequencer,
}

impl std::fmt::Debug for NotifyDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyDriver")
            .field("id", &self.claim.id)
            .field("waiting", &self.seq.waiting())
            .finish_non_exhaustive()
    }
}

impl NotifyDriver {
    /// A driver for one claimed notification with the run's settings.
    pub fn new(claim: ClaimedNotification, settings: NotifySettings) -> Self {
        Self {
            claim,
            settings,
            stage: Stage::Start,
            pending: None,
            seq: Sequencer::default(),
        }
    }

    /// Builds from JSON texts (the wasm binding's constructor).
    pub fn from_json(claim: &str, settings: &str) -> Result<Self, NotifyError> {
        let claim = ClaimedNotification::from_json(claim)?;
        let settings: NotifySettings =
            serde_json::from_str(settings).map_err(|_| NotifyError::InvalidSettings)?;
        Ok(Self::new(claim, settings))
    }

    fn wait(&mut self, command: Command<NotifyDone>) -> Command<NotifyDone> {
        self.pending = Some(command.clone());
        command
    }

    fn sql(&mut self, function: SqlFunction, args: Value) -> Command<NotifyDone> {
        let id = self.seq.issue("sql");
        self.wait(Command::sql(id, function, args))
    }

    fn http(&mut self, request: HttpRequest) -> Command<NotifyDone> {
        let id = self.seq.issue("http");
        self.wait(Command::Http { id, request })
    }

    fn done(&self, outcome: NotifyOutcome, reason: &str) -> NotifyDone {
        NotifyDone {
            notification_id: self.claim.id.clone(),
            outcome,
            reason: reason.to_owned(),
        }
    }

    /// `notify_finish` with `outcome` (`dead`/`suppressed` carry `reason`).
    fn finish(&mut self, outcome: NotifyOutcome, args: Value, reason: &str) -> Command<NotifyDone> {
        self.stage = Stage::Finishing(outcome, reason.to_owned());
        self.sql(SqlFunction::NotifyFinish, args)
    }

    fn dead(&mut self, reason: &str, error_code: Option<&str>) -> Command<NotifyDone> {
        let args = json!({"id": self.claim.id, "outcome": "dead", "reason": reason,
            "error_code": error_code});
        self.finish(NotifyOutcome::Dead, args, reason)
    }

    /// The first decision: final without sending, resend the stored body, or render and persist.
    fn start(&mut self, now: Timestamp) -> Command<NotifyDone> {
        let c = &self.claim;
        if c.attempts > self.settings.max_attempts {
            return self.dead("too_many_attempts", None);
        }
        if c.suppressed {
            let args =
                json!({"id": c.id, "outcome": "suppressed", "reason": "recipient_suppressed"});
            return self.finish(NotifyOutcome::Suppressed, args, "recipient_suppressed");
        }
        if let Some(body) = c.stored_request.clone() {
            let started = c.sending_at.unwrap_or(now);
            if now.unix_ms() - started.unix_ms() > resend::IDEMPOTENCY_WINDOW_MS {
                return self.dead("idempotency_window_passed", None);
            }
            return self.send(body);
        }
        let Some(to) = c.recipient.clone().filter(|r| valid_address(r)) else {
            return self.dead("no_recipient", None);
        };
        let input = RenderInput {
            template: &c.template,
            trip: &c.trip,
            offer: c.offer.as_ref(),
            booking: c.booking.as_ref(),
            passengers: &c.passengers,
            payload: &c.payload,
            app_base_url: &self.settings.app_base_url,
        };
        match render::render(&input) {
            Ok(email) => {
                let body = resend::email_body(&c.id, &c.template, &self.settings.from, &to, &email);
                let args = json!({"id": c.id, "body": body});
                self.stage = Stage::Persisting(body);
                self.sql(SqlFunction::NotifySending, args)
            }
            Err(error) => {
                let reason = format!("render_{}", error.code());
                self.dead(&reason, None)
            }
        }
    }

    fn send(&mut self, body: String) -> Command<NotifyDone> {
        self.stage = Stage::Sending;
        let request = resend::send_request(&self.claim.id, body);
        self.http(request)
    }

    fn on_sent(&mut self, now: Timestamp, outcome: SendOutcome) -> Command<NotifyDone> {
        let id = self.claim.id.clone();
        match outcome {
            SendOutcome::Sent(message_id) => {
                let args = json!({"id": id, "outcome": "sent", "message_id": message_id});
                self.finish(NotifyOutcome::Sent, args, "sent")
            }
            SendOutcome::Retry(code) if self.claim.attempts < self.settings.max_attempts => {
                let at = now.plus_ms(resend::backoff_ms(self.claim.attempts, &id));
                let args = json!({"id": id, "outcome": "retry", "next_attempt_at": at,
                    "error_code": code});
                self.finish(NotifyOutcome::Retry, args, &code)
            }
            SendOutcome::Retry(code) => self.dead("too_many_attempts", Some(&code)),
            SendOutcome::Permanent(code) => self.dead(&code, Some(&code)),
        }
    }
}

/// A plausible single address (the database checked it on the way in; this keeps a header
/// injection or a list out of `to`).
fn valid_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && address.len() <= 254
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>'))
}

impl Driver for NotifyDriver {
    type Done = NotifyDone;

    fn poll(&mut self, now: Timestamp) -> Command<NotifyDone> {
        if let Some(pending) = &self.pending {
            return pending.clone();
        }
        match std::mem::replace(&mut self.stage, Stage::Start) {
            Stage::Start => self.start(now),
            Stage::Send(body) => self.send(body),
            Stage::Done(done) => {
                self.stage = Stage::Done(done.clone());
                Command::Done { result: done }
            }
            Stage::Persisting(_) | Stage::Sending | Stage::Finishing(..) => {
                let done = self.done(NotifyOutcome::Skipped, "driver_invariant");
                self.stage = Stage::Done(done.clone());
                Command::Done { result: done }
            }
        }
    }

    fn handle(&mut self, now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.seq.accept(id, &input)?;
        self.pending = None;
        let stage = std::mem::replace(&mut self.stage, Stage::Start);
        self.stage = match (stage, input) {
            (Stage::Persisting(body), Input::Sql(text)) => {
                let ok = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("ok").and_then(Value::as_bool))
                    .unwrap_or(false);
                if ok {
                    Stage::Send(body)
                } else {
                    Stage::Done(self.done(NotifyOutcome::Skipped, "not_claimable"))
                }
            }
            (Stage::Sending, Input::Http { status, body }) => {
                self.on_sent(now, resend::classify(status, body));
                return Ok(());
            }
            (Stage::Sending, Input::Transport(failure)) => {
                self.on_sent(now, resend::classify_transport(failure));
                return Ok(());
            }
            (Stage::Finishing(outcome, reason), Input::Sql(text)) => {
                let ok = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("ok").and_then(Value::as_bool))
                    .unwrap_or(false);
                if ok {
                    Stage::Done(self.done(outcome, &reason))
                } else {
                    Stage::Done(self.done(NotifyOutcome::Skipped, "already_final"))
                }
            }
            // A SQL error: the row keeps its state and lease; the next run picks it up.
            (_, Input::SqlError(sqlstate)) => {
                let reason = format!("sql_{}", sqlstate.to_ascii_lowercase());
                Stage::Done(self.done(NotifyOutcome::Skipped, &reason))
            }
            _ => Stage::Done(self.done(NotifyOutcome::Skipped, "driver_invariant")),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests;
