//! The one drive API every function uses (`docs/contracts.md`, "The drive API").
//!
//! A function's work is a state machine implementing [`Driver`]. The shim's executor (one for
//! every function, `supabase/functions/_shared/engine.ts`; the simulation's worker in the
//! tests) loops:
//!
//! 1. [`Driver::poll`] returns a [`Command`]: an HTTP request to a provider, a call to the SQL
//!    API, or `done` with the driver's result. Polling again before the outcome is fed returns
//!    the same command (same id).
//! 2. The executor performs it (adding the service's base URL and credential to a request; the
//!    core never holds either) and feeds the outcome back with [`Driver::handle`], naming the
//!    command's id. An outcome for another id, or of the wrong kind, is refused.
//!
//! SQL calls name a [`SqlFunction`] from the core's own list ([`SqlFunction::ALL`]), each with
//! the role it runs as; the executor refuses anything else. Every call is
//! `select app.<function>($1::text::jsonb)` in its own transaction, except those
//! [`SqlFunction::batch`] names, which the monitor's executor may run in one transaction with
//! other trips' calls (`app.monitor_batch`, a savepoint each, every answer after the commit).

mod args;
mod sql;
mod wire;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::error::TransportFailure;
use crate::http::HttpRequest;
use crate::time::Timestamp;

pub use args::SqlArgs;
pub use sql::{SqlFunction, SqlRole};
pub use wire::{command_text, read_command_text, sql_command_text};

/// What a driver asks the executor to do next. `D` is the driver's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command<D> {
    /// Perform the request, then feed [`Input::Http`] or [`Input::Transport`].
    Http {
        /// The command's id, to name in [`Driver::handle`].
        id: u32,
        /// The request, without base URL or credential.
        request: HttpRequest,
    },
    /// Run `select app.<function>($1::text::jsonb)` as the function's [`SqlRole`] in its own
    /// transaction, then feed [`Input::Sql`] with the result or [`Input::SqlError`].
    Sql {
        /// The command's id.
        id: u32,
        /// Which function of the SQL API.
        function: SqlFunction,
        /// Whose rights it runs with (also derivable from `function`; sent for the executor).
        role: SqlRole,
        /// The function's single `jsonb` argument.
        #[cfg_attr(feature = "ts", ts(type = "unknown"))]
        args: SqlArgs,
    },
    /// Nothing more to do: the driver's result.
    Done {
        /// What the driver produced.
        result: D,
    },
}

impl<D> Command<D> {
    /// A SQL command for `function` (its role filled in).
    pub fn sql(id: u32, function: SqlFunction, args: Value) -> Self {
        Self::sql_args(id, function, SqlArgs::Value(args))
    }

    /// A SQL command for `function` whose argument is JSON text already written (spliced into
    /// the command's JSON as it is, never built as a [`Value`]).
    pub fn sql_args(id: u32, function: SqlFunction, args: SqlArgs) -> Self {
        Self::Sql {
            id,
            function,
            role: function.role(),
            args,
        }
    }

    /// The id of a command that waits for an outcome (`None` for `done`).
    pub fn id(&self) -> Option<u32> {
        match self {
            Self::Http { id, .. } | Self::Sql { id, .. } => Some(*id),
            Self::Done { .. } => None,
        }
    }
}

/// The outcome of a command, fed back with [`Driver::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// The provider answered: status and the raw body bytes.
    Http {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: &'a [u8],
    },
    /// The request got no answer.
    Transport(TransportFailure),
    /// The SQL function returned this JSON text.
    Sql(&'a str),
    /// The SQL call failed with this SQLSTATE (`08006` for a lost connection, ...).
    SqlError(&'a str),
}

impl Input<'_> {
    /// `http` or `sql`: the kind of command this outcome answers.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http { .. } | Self::Transport(_) => "http",
            Self::Sql(_) | Self::SqlError(_) => "sql",
        }
    }
}

/// Misuse of the drive API: the outcome does not fit the waiting command.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DriveError {
    /// No command is waiting (not polled yet, or done).
    #[error("no command is waiting for an outcome")]
    NotWaiting,
    /// The id names another command than the waiting one.
    #[error("command {given} is not the waiting command {waiting}")]
    StaleCommand {
        /// The id fed.
        given: u32,
        /// The waiting command's id.
        waiting: u32,
    },
    /// An outcome of the wrong kind (an HTTP answer for a SQL call or the reverse).
    #[error("the waiting command is {expected}, not this kind of outcome")]
    WrongOutcome {
        /// The kind of command that is waiting (`http` or `sql`).
        expected: &'static str,
    },
}

impl DriveError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotWaiting => "driver_not_waiting",
            Self::StaleCommand { .. } => "driver_stale_command",
            Self::WrongOutcome { .. } => "driver_wrong_outcome",
        }
    }
}

crate::error::impl_error_code!(DriveError);

/// A function's state machine: `poll` for the next command, `handle` its outcome.
pub trait Driver {
    /// What the driver produces when it is done.
    type Done;

    /// The next command (the same one again until its outcome is fed).
    fn poll(&mut self, now: Timestamp) -> Command<Self::Done>;

    /// Feeds the outcome of the waiting command `id`.
    fn handle(&mut self, now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError>;
}

/// Numbers a driver's commands and checks that an outcome answers the waiting one. Drivers keep
/// one and call [`Sequencer::issue`] whenever they start waiting on a new command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sequencer {
    last: u32,
    waiting: Option<(u32, &'static str)>,
}

impl Sequencer {
    /// Numbers a new command of `kind` (`http` or `sql`), now the waiting one.
    pub fn issue(&mut self, kind: &'static str) -> u32 {
        self.last = self.last.wrapping_add(1);
        self.waiting = Some((self.last, kind));
        self.last
    }

    /// The waiting command's id, if any.
    pub fn waiting(&self) -> Option<u32> {
        self.waiting.map(|(id, _)| id)
    }

    /// Checks that `input` answers command `id`, and clears the wait.
    pub fn accept(&mut self, id: u32, input: &Input<'_>) -> Result<(), DriveError> {
        let (waiting, kind) = self.waiting.ok_or(DriveError::NotWaiting)?;
        if id != waiting {
            return Err(DriveError::StaleCommand { given: id, waiting });
        }
        if input.kind() != kind {
            return Err(DriveError::WrongOutcome { expected: kind });
        }
        self.waiting = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencer_accepts_only_the_waiting_command_of_its_kind() {
        let mut seq = Sequencer::default();
        assert_eq!(
            seq.accept(1, &Input::Sql("{}")),
            Err(DriveError::NotWaiting)
        );
        let id = seq.issue("sql");
        assert_eq!(
            seq.accept(id + 1, &Input::Sql("{}")),
            Err(DriveError::StaleCommand {
                given: id + 1,
                waiting: id
            })
        );
        assert_eq!(
            seq.accept(
                id,
                &Input::Http {
                    status: 200,
                    body: b""
                }
            ),
            Err(DriveError::WrongOutcome { expected: "sql" })
        );
        assert_eq!(seq.accept(id, &Input::SqlError("08006")), Ok(()));
        assert_eq!(
            seq.accept(id, &Input::Sql("{}")),
            Err(DriveError::NotWaiting)
        );
        assert!(seq.issue("http") > id, "ids only grow");
    }

    #[test]
    fn sql_commands_carry_their_role() {
        let cmd: Command<()> = Command::sql(3, SqlFunction::MonitorExpire, Value::Null);
        assert_eq!(
            serde_json::to_value(&cmd).unwrap(),
            serde_json::json!({"kind": "sql", "id": 3, "function": "monitor_expire",
                "role": "service", "args": null})
        );
        assert_eq!(cmd.id(), Some(3));
    }
}
