//! Shared error plumbing.
//!
//! Convention: every error enum in the core is a `thiserror` enum with an inherent
//! `code(&self) -> &'static str` returning a stable snake_case code, and implements [`ErrorCode`]
//! so generic code (the wasm binding, logging) can turn any of them into an [`ErrorBody`]
//! `{ "code", "message" }` without knowing the concrete type. Messages never contain personal
//! data or provider bodies; only codes and short descriptions.
//!
//! [`ProviderError`] lives here because every provider (Duffel now; Stripe, Resend, Upstash later)
//! fails in the same three ways from the caller's point of view.

use serde::Serialize;
use thiserror::Error;

use crate::money::MoneyError;

/// An error with a stable machine-readable code.
pub trait ErrorCode: std::fmt::Display {
    /// Stable snake_case code (`validation_failed`, `provider_unavailable`, …).
    fn code(&self) -> &'static str;

    /// The `{ code, message }` body the functions send back and the logs record.
    fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

/// Implements [`ErrorCode`] by delegating to the type's inherent `code()`.
macro_rules! impl_error_code {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::error::ErrorCode for $ty {
            fn code(&self) -> &'static str {
                <$ty>::code(self)
            }
        }
    )*};
}
pub(crate) use impl_error_code;

/// The JSON error shape of the contract: `{"code":"…","message":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// Stable code.
    pub code: &'static str,
    /// Human-readable text without personal data.
    pub message: String,
}

/// How the shim's own attempt to reach a provider failed (no HTTP status was received).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TransportFailure {
    /// The request did not complete within its `timeout_ms`.
    #[error("the provider did not answer in time")]
    Timeout,
    /// DNS, connection or TLS failure, or the connection dropped mid-response.
    #[error("the provider could not be reached")]
    Network,
}

impl TransportFailure {
    /// Stable code of the failure itself (`timeout` or `network`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Network => "network",
        }
    }

    /// Parses the code the shim reports (`"timeout"` or `"network"`).
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "timeout" => Some(Self::Timeout),
            "network" => Some(Self::Network),
            _ => None,
        }
    }
}

/// A provider call that did not produce a usable answer.
///
/// Codes: `provider_unavailable` (try again later: 429, 5xx, timeouts, network),
/// `provider_rejected` (the provider refused the request: other 4xx), `provider_bad_response`
/// (a 2xx whose body we cannot trust, or a status that makes no sense for the call).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider answered 429 or 5xx.
    #[error("provider unavailable (HTTP {status}{})", fmt_code(.provider_code))]
    Unavailable {
        /// HTTP status received.
        status: u16,
        /// The provider's own stable error code (Duffel `errors[0].code`), when it sent one.
        provider_code: Option<String>,
    },
    /// The shim could not complete the request at all.
    #[error("provider unavailable: {0}")]
    Transport(TransportFailure),
    /// The provider refused the request (4xx other than 429).
    #[error("provider rejected the request (HTTP {status}{})", fmt_code(.provider_code))]
    Rejected {
        /// HTTP status received.
        status: u16,
        /// The provider's own stable error code, e.g. `offer_no_longer_available`.
        provider_code: Option<String>,
    },
    /// The provider's answer could not be understood or violates its documented schema.
    #[error("provider sent a bad response: {reason}")]
    BadResponse {
        /// Short description of what was wrong (never a copy of the body).
        reason: String,
    },
}

fn fmt_code(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(", {c}"))
        .unwrap_or_default()
}

impl ProviderError {
    /// Stable code: `provider_unavailable`, `provider_rejected` or `provider_bad_response`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } | Self::Transport(_) => "provider_unavailable",
            Self::Rejected { .. } => "provider_rejected",
            Self::BadResponse { .. } => "provider_bad_response",
        }
    }

    /// The provider's own error code (or the transport failure code), when known.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            Self::Unavailable { provider_code, .. } | Self::Rejected { provider_code, .. } => {
                provider_code.as_deref()
            }
            Self::Transport(failure) => Some(failure.code()),
            Self::BadResponse { .. } => None,
        }
    }

    /// Builds a [`ProviderError::BadResponse`].
    pub fn bad_response(reason: impl Into<String>) -> Self {
        Self::BadResponse {
            reason: reason.into(),
        }
    }
}

impl From<TransportFailure> for ProviderError {
    fn from(failure: TransportFailure) -> Self {
        Self::Transport(failure)
    }
}

impl_error_code!(ProviderError, TransportFailure, MoneyError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_error_codes_are_stable() {
        let unavailable = ProviderError::Unavailable {
            status: 504,
            provider_code: Some("gateway_timeout_error".into()),
        };
        assert_eq!(unavailable.code(), "provider_unavailable");
        assert_eq!(unavailable.provider_code(), Some("gateway_timeout_error"));
        assert_eq!(
            unavailable.to_string(),
            "provider unavailable (HTTP 504, gateway_timeout_error)"
        );
        let timeout = ProviderError::from(TransportFailure::Timeout);
        assert_eq!(timeout.code(), "provider_unavailable");
        assert_eq!(timeout.provider_code(), Some("timeout"));
        let rejected = ProviderError::Rejected {
            status: 422,
            provider_code: None,
        };
        assert_eq!(rejected.code(), "provider_rejected");
        assert_eq!(
            rejected.to_string(),
            "provider rejected the request (HTTP 422)"
        );
        assert_eq!(
            ProviderError::bad_response("x").code(),
            "provider_bad_response"
        );
    }

    #[test]
    fn error_body_uses_code_and_display() {
        let body = ProviderError::from(TransportFailure::Network).to_body();
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"code":"provider_unavailable","message":"provider unavailable: the provider could not be reached"}"#
        );
        assert_eq!(
            TransportFailure::from_code("timeout"),
            Some(TransportFailure::Timeout)
        );
        assert_eq!(TransportFailure::from_code("dns"), None);
    }
}
