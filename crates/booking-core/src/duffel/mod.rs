//! Duffel Flights API (v2): request builders and response parsers.
//!
//! Nothing here performs I/O. Builders return [`HttpRequest`] descriptions; parsers take the
//! status and the body bytes the shim received. Wire formats follow
//! shared/reference/contracts-providers.md §1.
//!
//! | call | builder | parser |
//! | --- | --- | --- |
//! | search: `POST /air/offer_requests?return_offers=true` | [`build_offer_request`] | [`parse_offer_request_response`] |
//! | re-price: `GET /air/offers/{id}` | [`build_get_offer_request`] | [`parse_offer_response`] |
//! | any non-2xx answer | | [`classify_failure`] |

use serde::Deserialize;
use thiserror::Error;

use crate::http::{HttpRequest, Method, Service};

mod duration;
mod errors;
mod offers;
pub mod order;
pub mod passengers;
mod request;

pub use duration::parse_iso_duration_minutes;
pub use errors::classify_failure;
pub use offers::{
    attach_raw, normalize_offer, parse_offer_request_borrowed, parse_offer_request_response,
    parse_offer_response, BorrowedOffers, OfferError, ParsedOffers,
};
pub use request::{build_get_offer_request, build_offer_request};

/// Provider name recorded with every offer.
pub const PROVIDER: &str = "duffel";
/// The API version header value.
pub const API_VERSION: &str = "v2";
/// Duffel's default supplier timeout, in milliseconds.
pub const DEFAULT_SUPPLIER_TIMEOUT_MS: u32 = 20_000;
/// Smallest supplier timeout Duffel honours.
pub const MIN_SUPPLIER_TIMEOUT_MS: u32 = 2_000;
/// Largest supplier timeout Duffel honours.
pub const MAX_SUPPLIER_TIMEOUT_MS: u32 = 60_000;
/// Extra time the shim waits beyond the supplier timeout for Duffel to assemble its answer.
pub const RESPONSE_GRACE_MS: u32 = 10_000;
/// Timeout for single-object calls such as `GET /air/offers/{id}`.
pub const SHORT_CALL_TIMEOUT_MS: u32 = 15_000;

/// Duffel settings the requests need. There is no base URL and no token here: requests are
/// for [`Service::Duffel`] and the executor adds both from the environment.
///
/// Deserialises from `{"supplier_timeout_ms":20000}` (optional; `{}` gives the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct DuffelConfig {
    supplier_timeout_ms: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_supplier_timeout")]
    supplier_timeout_ms: u32,
}

fn default_supplier_timeout() -> u32 {
    DEFAULT_SUPPLIER_TIMEOUT_MS
}

impl TryFrom<RawConfig> for DuffelConfig {
    type Error = DuffelConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, Self::Error> {
        Self::new(raw.supplier_timeout_ms)
    }
}

impl Default for DuffelConfig {
    fn default() -> Self {
        Self {
            supplier_timeout_ms: DEFAULT_SUPPLIER_TIMEOUT_MS,
        }
    }
}

/// A Duffel configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DuffelConfigError {
    /// The supplier timeout is outside 2000–60000 ms.
    #[error("supplier timeout must be 2000-60000 ms")]
    SupplierTimeout,
}

impl DuffelConfigError {
    /// Stable code: `invalid_config`.
    pub fn code(&self) -> &'static str {
        "invalid_config"
    }
}

crate::error::impl_error_code!(DuffelConfigError);

impl DuffelConfig {
    /// Validates and builds a configuration.
    pub fn new(supplier_timeout_ms: u32) -> Result<Self, DuffelConfigError> {
        if !(MIN_SUPPLIER_TIMEOUT_MS..=MAX_SUPPLIER_TIMEOUT_MS).contains(&supplier_timeout_ms) {
            return Err(DuffelConfigError::SupplierTimeout);
        }
        Ok(Self {
            supplier_timeout_ms,
        })
    }

    /// How long Duffel waits for airlines, in milliseconds.
    pub fn supplier_timeout_ms(&self) -> u32 {
        self.supplier_timeout_ms
    }

    /// A Duffel v2 request with the headers every call carries (`Content-Type` only with a
    /// body).
    fn request(
        &self,
        method: Method,
        path: String,
        body: Option<String>,
        timeout_ms: u32,
    ) -> HttpRequest {
        let mut req = HttpRequest::new(Service::Duffel, method, path, timeout_ms);
        req.headers.extend([
            ("Duffel-Version".to_owned(), API_VERSION.to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ]);
        if body.is_some() {
            req.headers
                .push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        req.body = body;
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert_eq!(
            DuffelConfig::new(20_000).unwrap().supplier_timeout_ms(),
            20_000
        );
        assert_eq!(
            DuffelConfig::new(1_999).unwrap_err(),
            DuffelConfigError::SupplierTimeout
        );
        assert_eq!(
            DuffelConfig::new(60_001).unwrap_err(),
            DuffelConfigError::SupplierTimeout
        );
        assert_eq!(DuffelConfigError::SupplierTimeout.code(), "invalid_config");
    }

    #[test]
    fn config_from_json_defaults_timeout_and_refuses_credentials() {
        let config: DuffelConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config.supplier_timeout_ms(), DEFAULT_SUPPLIER_TIMEOUT_MS);
        assert!(serde_json::from_str::<DuffelConfig>(r#"{"access_token":"t"}"#).is_err());
    }
}
