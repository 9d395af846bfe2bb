//! Duffel Flights API (v2): request builders and response parsers.
//!
//! Nothing here performs I/O. Builders return [`HttpRequest`](crate::http::HttpRequest) descriptions; parsers take the
//! status and the body bytes the shim received. Wire formats follow
//! shared/reference/contracts-providers.md §1.
//!
//! | call | builder | parser |
//! | --- | --- | --- |
//! | search: `POST /air/offer_requests?return_offers=true` | [`build_offer_request`] | [`parse_offer_request_response`] |
//! | re-price: `GET /air/offers/{id}` | [`build_get_offer_request`] | [`parse_offer_response`] |
//! | any non-2xx answer | | [`classify_failure`] |

use std::fmt;

use serde::Deserialize;
use thiserror::Error;

mod duration;
mod errors;
mod offers;
pub mod order;
pub mod passengers;
mod request;

pub use duration::parse_iso_duration_minutes;
pub use errors::classify_failure;
pub use offers::{
    normalize_offer, parse_offer_request_response, parse_offer_response, OfferError, ParsedOffers,
};
pub use request::{build_get_offer_request, build_offer_request};

/// Provider name recorded with every offer.
pub const PROVIDER: &str = "duffel";
/// Production base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.duffel.com";
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

/// How to reach Duffel. Validated on construction; `Debug` never shows the token.
///
/// Deserialises from `{"base_url":"…","access_token":"…","supplier_timeout_ms":20000}`
/// (`supplier_timeout_ms` optional).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct DuffelConfig {
    base_url: String,
    access_token: String,
    supplier_timeout_ms: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    base_url: String,
    access_token: String,
    #[serde(default = "default_supplier_timeout")]
    supplier_timeout_ms: u32,
}

fn default_supplier_timeout() -> u32 {
    DEFAULT_SUPPLIER_TIMEOUT_MS
}

impl TryFrom<RawConfig> for DuffelConfig {
    type Error = DuffelConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, Self::Error> {
        Self::new(&raw.base_url, &raw.access_token, raw.supplier_timeout_ms)
    }
}

/// A Duffel configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DuffelConfigError {
    /// The base URL is not an `http://` or `https://` URL without spaces, query or fragment.
    #[error("DUFFEL_API_URL must be an http(s) URL without query or fragment")]
    BaseUrl,
    /// The token is empty or contains characters that cannot go in a header.
    #[error("DUFFEL_ACCESS_TOKEN is empty or not a header-safe token")]
    AccessToken,
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
    /// Validates and builds a configuration. A trailing `/` on the base URL is dropped.
    pub fn new(
        base_url: &str,
        access_token: &str,
        supplier_timeout_ms: u32,
    ) -> Result<Self, DuffelConfigError> {
        let base = base_url.trim_end_matches('/');
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or(DuffelConfigError::BaseUrl)?;
        if rest.is_empty()
            || !rest
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"?#".contains(&b))
        {
            return Err(DuffelConfigError::BaseUrl);
        }
        if access_token.is_empty()
            || access_token.len() > 512
            || !access_token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DuffelConfigError::AccessToken);
        }
        if !(MIN_SUPPLIER_TIMEOUT_MS..=MAX_SUPPLIER_TIMEOUT_MS).contains(&supplier_timeout_ms) {
            return Err(DuffelConfigError::SupplierTimeout);
        }
        Ok(Self {
            base_url: base.to_owned(),
            access_token: access_token.to_owned(),
            supplier_timeout_ms,
        })
    }

    /// Base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// How long Duffel waits for airlines, in milliseconds.
    pub fn supplier_timeout_ms(&self) -> u32 {
        self.supplier_timeout_ms
    }

    /// The headers every Duffel v2 request carries (`Content-Type` only with a body).
    fn headers(&self, with_body: bool) -> Vec<(String, String)> {
        let mut headers = vec![
            (
                "Authorization".to_owned(),
                format!("Bearer {}", self.access_token),
            ),
            ("Duffel-Version".to_owned(), API_VERSION.to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ];
        if with_body {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        headers
    }
}

impl fmt::Debug for DuffelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuffelConfig")
            .field("base_url", &self.base_url)
            .field("access_token", &"<redacted>")
            .field("supplier_timeout_ms", &self.supplier_timeout_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        let ok = DuffelConfig::new("http://127.0.0.1:54391/", "duffel_test_x", 20_000).unwrap();
        assert_eq!(ok.base_url(), "http://127.0.0.1:54391");
        let code = |r: Result<DuffelConfig, DuffelConfigError>| r.unwrap_err();
        assert_eq!(
            code(DuffelConfig::new("ftp://x", "t", 20_000)),
            DuffelConfigError::BaseUrl
        );
        assert_eq!(
            code(DuffelConfig::new("https://", "t", 20_000)),
            DuffelConfigError::BaseUrl
        );
        assert_eq!(
            code(DuffelConfig::new("https://a b", "t", 20_000)),
            DuffelConfigError::BaseUrl
        );
        assert_eq!(
            code(DuffelConfig::new("https://a?x=1", "t", 20_000)),
            DuffelConfigError::BaseUrl
        );
        assert_eq!(
            code(DuffelConfig::new("https://a", "", 20_000)),
            DuffelConfigError::AccessToken
        );
        assert_eq!(
            code(DuffelConfig::new("https://a", "tok\r\nX-Evil: 1", 20_000)),
            DuffelConfigError::AccessToken
        );
        assert_eq!(
            code(DuffelConfig::new("https://a", "t", 1_999)),
            DuffelConfigError::SupplierTimeout
        );
        assert_eq!(
            code(DuffelConfig::new("https://a", "t", 60_001)),
            DuffelConfigError::SupplierTimeout
        );
        assert_eq!(DuffelConfigError::BaseUrl.code(), "invalid_config");
    }

    #[test]
    fn config_from_json_defaults_timeout_and_hides_token() {
        let config: DuffelConfig = serde_json::from_str(
            r#"{"base_url":"https://api.duffel.com","access_token":"duffel_test_secret"}"#,
        )
        .unwrap();
        assert_eq!(config.supplier_timeout_ms(), DEFAULT_SUPPLIER_TIMEOUT_MS);
        assert!(!format!("{config:?}").contains("duffel_test_secret"));
        assert!(
            serde_json::from_str::<DuffelConfig>(r#"{"base_url":"x","access_token":"t"}"#).is_err()
        );
    }
}
