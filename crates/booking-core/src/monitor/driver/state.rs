//! The driver's internal state: work it can do at once ([`Ready`]), what a waiting command is
//! for ([`Await`]), and where the driver stands ([`Stage`]). The steps in `route`, `booking` and
//! `feed` return a [`Step`]; `poll` turns it into the next stage.

use crate::error::TransportFailure;
use crate::http::HttpRequest;
use crate::saga::AttemptState;

use super::{DriverCommand, DriverOutcome};

/// Work the driver can do without waiting for anything.
pub(super) enum Ready {
    Lock,
    Route,
    Search,
    Reprice,
    Book,
    /// The saga from this state, which is the stored one.
    Saga(Box<AttemptState>),
    /// The saga from this state, which is newer than the stored one (the driver's `stored`):
    /// an answer applied, or an effect-free write, not saved yet. Its save goes with the next
    /// one: the next request's mark, a write with effects, or (before anything else) on its own.
    Unsaved(Box<AttemptState>, u8),
    Finish(DriverOutcome, String),
}

/// What the command being waited on was for.
pub(super) enum Await {
    Lock,
    Search,
    RecordSearch(String),
    /// A successful search that selected an offer: the answer may let the driver book it now.
    RecordSelected(String),
    Reprice,
    Reschedule(DriverOutcome, String),
    Expire(String),
    Passengers(Option<Box<AttemptState>>),
    Begin(Box<AttemptState>),
    /// `monitor_begin_attempt` with the first request's mark as the state: once started, send.
    BeginSend(Box<AttemptState>, Box<HttpRequest>),
    SaveMark(Box<AttemptState>, Box<HttpRequest>),
    Send(Box<AttemptState>),
    Save(Box<AttemptState>),
    /// A combined save was refused for good (this SQLSTATE): the unsaved state it carried is
    /// saved on its own, then the attempt is flagged `ledger_unclosable` at that version.
    SaveBeforeFlag(Box<AttemptState>, String),
    /// `monitor_flag_attempt` with this reason.
    Flag(String),
    Unlock(DriverOutcome, String),
}

/// Where the driver stands between calls.
pub(super) enum Stage {
    Ready(Ready),
    Waiting(DriverCommand, Await),
    Done(DriverOutcome, String),
}

/// What a step returns: more work to do now, or a command whose outcome it waits for.
pub(super) enum Step {
    Ready(Ready),
    Wait(DriverCommand, Await),
}

/// The outcome of an `http` command: a response, or none at all.
pub(super) enum HttpResult<'a> {
    Response(u16, &'a [u8]),
    Transport(TransportFailure),
}

impl Stage {
    /// A short name for `Debug` output (no data).
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Ready(Ready::Lock) => "lock",
            Self::Ready(Ready::Route) => "route",
            Self::Ready(Ready::Search) => "search",
            Self::Ready(Ready::Reprice) => "reprice",
            Self::Ready(Ready::Book) => "book",
            Self::Ready(Ready::Saga(_) | Ready::Unsaved(..)) => "saga",
            Self::Ready(Ready::Finish(..)) => "finish",
            Self::Waiting(..) => "waiting_for_outcome",
            Self::Done(..) => "done",
        }
    }
}

pub(super) fn stage_of(step: Step) -> Stage {
    match step {
        Step::Ready(ready) => Stage::Ready(ready),
        Step::Wait(command, on) => Stage::Waiting(command, on),
    }
}

pub(super) fn invalid_result() -> Step {
    Step::Ready(Ready::Finish(
        DriverOutcome::Stopped,
        "invalid_sql_result".into(),
    ))
}

pub(super) fn unreachable_ready() -> DriverCommand {
    DriverCommand::Done {
        outcome: DriverOutcome::Stopped,
        reason: "driver_invariant".into(),
    }
}
