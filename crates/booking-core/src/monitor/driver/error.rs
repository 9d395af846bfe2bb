//! The driver's errors: misuse, or inputs it cannot work with.

use thiserror::Error;

/// Misuse of the driver, or inputs it cannot work with. Messages carry no personal data.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The claim JSON does not match the contract.
    #[error("claim does not match the contract: {0}")]
    InvalidClaim(String),
    /// The configuration cannot be used.
    #[error("invalid driver configuration: {0}")]
    InvalidConfig(&'static str),
    /// The attempt id is not a UUID, or the lock token is empty or not header-safe.
    #[error("invalid driver input: {0}")]
    InvalidInput(&'static str),
    /// An outcome was fed while no command was waiting for one (not polled yet, or done).
    #[error("no command is waiting for an outcome")]
    NotWaiting,
    /// An outcome of the wrong kind was fed (an HTTP answer for a SQL call or the reverse).
    #[error("the waiting command is {expected}, not this kind of outcome")]
    WrongOutcome {
        /// The kind of command that is waiting (`http` or `sql`).
        expected: &'static str,
    },
}

impl DriverError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidClaim(_) => "invalid_claim",
            Self::InvalidConfig(_) => "invalid_config",
            Self::InvalidInput(_) => "invalid_driver_input",
            Self::NotWaiting => "driver_not_waiting",
            Self::WrongOutcome { .. } => "driver_wrong_outcome",
        }
    }
}

crate::error::impl_error_code!(DriverError);
