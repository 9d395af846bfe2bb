//! The driver's settings: provider endpoints and credentials, the lock lease, the call cap.

use serde::Deserialize;

use super::super::CALLS_PER_TRIP;
use super::DriverError;
use crate::duffel::DuffelConfig;
use crate::stripe::StripeConfig;
use crate::upstash::UpstashConfig;

/// Provider and lock settings for a driver. `Debug` never shows a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// Duffel base URL and token.
    pub duffel: DuffelConfig,
    /// Stripe base URL and secret key.
    pub stripe: StripeConfig,
    /// Upstash REST URL and token (the per-trip lock).
    pub upstash: UpstashConfig,
    /// Lock lease in milliseconds; shorter than the function's wall clock.
    pub lock_lease_ms: u32,
    /// Provider calls one trip may make in one run ([`CALLS_PER_TRIP`] by default).
    pub max_provider_calls: u32,
}

#[derive(Deserialize)]
struct RawConfig {
    duffel: DuffelConfig,
    stripe: RawStripe,
    upstash: RawUpstash,
    lock_lease_ms: u32,
    #[serde(default)]
    max_provider_calls: Option<u32>,
}

#[derive(Deserialize)]
struct RawStripe {
    base_url: String,
    secret_key: String,
}

#[derive(Deserialize)]
struct RawUpstash {
    url: String,
    token: String,
}

impl DriverConfig {
    /// Reads `{"duffel":{"base_url","access_token"},"stripe":{"base_url","secret_key"},
    /// "upstash":{"url","token"},"lock_lease_ms":n,"max_provider_calls":n?}`.
    pub fn from_json(text: &str) -> Result<Self, DriverError> {
        let raw: RawConfig = serde_json::from_str(text)
            .map_err(|_| DriverError::InvalidConfig("not a driver config"))?;
        let stripe = StripeConfig::new(&raw.stripe.base_url, &raw.stripe.secret_key)
            .map_err(|_| DriverError::InvalidConfig("stripe"))?;
        let upstash = UpstashConfig::new(&raw.upstash.url, &raw.upstash.token)
            .map_err(|_| DriverError::InvalidConfig("upstash"))?;
        if raw.lock_lease_ms < 1_000 {
            return Err(DriverError::InvalidConfig("lock_lease_ms below 1000"));
        }
        Ok(Self {
            duffel: raw.duffel,
            stripe,
            upstash,
            lock_lease_ms: raw.lock_lease_ms,
            max_provider_calls: raw.max_provider_calls.unwrap_or(CALLS_PER_TRIP),
        })
    }
}
