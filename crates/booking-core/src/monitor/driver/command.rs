//! The driver's pending command ([`DriverCommand`], numbered and made public as an
//! [`crate::engine::Command`] by `poll`) and how a trip's turn ended ([`TripDone`],
//! [`DriverOutcome`]).

use serde::Serialize;

use crate::engine::SqlFunction;
use crate::http::HttpRequest;
use crate::saga::End;

/// The driver's result: how the trip's turn ended, with a stable reason code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TripDone {
    /// How the trip's turn ended.
    pub outcome: DriverOutcome,
    /// Stable reason code.
    pub reason: String,
}

/// What the shim must do next for this trip (before it is numbered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DriverCommand {
    /// Perform the request (Duffel, Stripe or the Upstash lock), then feed the response with
    /// [`TripDriver::handle_http`] or the failure with [`TripDriver::handle_transport`].
    ///
    /// [`TripDriver::handle_http`]: super::TripDriver::handle_http
    /// [`TripDriver::handle_transport`]: super::TripDriver::handle_transport
    Http {
        /// The request.
        request: HttpRequest,
    },
    /// Run `select app.<function>($1::text::jsonb)` as `service_role` in its own transaction
    /// (or, for a function [`SqlFunction::batch`] names, in a savepoint of the executor's group
    /// commit, answered after the commit), then feed the result with
    /// [`TripDriver::handle_sql`] or the SQLSTATE with [`TripDriver::handle_sql_error`].
    ///
    /// [`TripDriver::handle_sql`]: super::TripDriver::handle_sql
    /// [`TripDriver::handle_sql_error`]: super::TripDriver::handle_sql_error
    Sql {
        /// One of the `monitor_*` functions of the contract.
        function: SqlFunction,
        /// The function's argument, as JSON text (written once, sent as is by `poll_json`).
        args: String,
    },
    /// Nothing more to do for this trip in this run.
    Done {
        /// How the trip's turn ended.
        outcome: DriverOutcome,
        /// Stable reason code.
        reason: String,
    },
}

/// How a trip's turn in a monitor run ended (the run's summary counts these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum DriverOutcome {
    /// The attempt closed booked.
    Booked,
    /// Nothing to do until the next check (over budget, backoff, missing travellers, …).
    Waiting,
    /// A search ran and was recorded (successful or not).
    Searched,
    /// The trip expired.
    Expired,
    /// The attempt closed needing the traveller.
    NeedsTraveller,
    /// The attempt closed failed, or the database failed the trip instead of starting one
    /// (`attempt_limit`).
    Failed,
    /// Another run holds the trip's lock (Upstash failing is not `locked`: the run goes on).
    Locked,
    /// Not this run's to handle (the trip changed, an attempt is already open, the kill switch
    /// refused a new attempt, a `booking` trip without an attempt was put off, …).
    Skipped,
    /// Stopped early: another run moved the attempt, or the database refused a call.
    Stopped,
    /// The attempt cannot go on without a person: the database refused to record it for good
    /// (`ledger_unclosable`), or the travellers stayed unreadable (`travelers_unreadable`).
    /// `monitor_flag_attempt` moved the trip to `needs_operator` and raised an operator alert.
    NeedsOperator,
}

impl DriverOutcome {
    /// The outcome for a closed attempt.
    pub fn of_end(end: End) -> Self {
        match end {
            End::Booked => Self::Booked,
            End::NeedsTraveller => Self::NeedsTraveller,
            End::SearchAgain => Self::Waiting,
            End::Fail => Self::Failed,
        }
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Waiting => "waiting",
            Self::Searched => "searched",
            Self::Expired => "expired",
            Self::NeedsTraveller => "needs_traveller",
            Self::Failed => "failed",
            Self::Locked => "locked",
            Self::Skipped => "skipped",
            Self::Stopped => "stopped",
            Self::NeedsOperator => "needs_operator",
        }
    }
}
