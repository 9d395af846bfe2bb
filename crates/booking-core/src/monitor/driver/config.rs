//! The driver's settings: Duffel's supplier timeout, the lock lease, the call cap. No provider
//! endpoint or credential: requests name their service and the executor adds both.

use serde::Deserialize;

use super::super::CALLS_PER_TRIP;
use super::DriverError;
use crate::duffel::DuffelConfig;
use crate::flags::FlagSnapshot;

/// Settings for a driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// Duffel settings (supplier timeout).
    pub duffel: DuffelConfig,
    /// Lock lease in milliseconds; shorter than the function's wall clock.
    pub lock_lease_ms: u32,
    /// Provider calls one trip may make in one run ([`CALLS_PER_TRIP`] by default).
    pub max_provider_calls: u32,
    /// The feature flags as the run read them once (`app.monitor_flags`): `auto_booking` and
    /// its kill switch gate beginning an attempt. `None` (no snapshot passed, or one that does
    /// not parse): gated off, no new attempt; an open attempt resumes regardless, so held money
    /// always settles.
    pub flags: Option<FlagSnapshot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    duffel: DuffelConfig,
    lock_lease_ms: u32,
    #[serde(default)]
    max_provider_calls: Option<u32>,
    /// Parsed apart ([`FlagSnapshot`] below): an unreadable snapshot gates new attempts off
    /// but never refuses the driver (an open attempt must settle).
    #[serde(default)]
    flags: Option<serde_json::Value>,
}

impl DriverConfig {
    /// Reads `{"duffel":{"supplier_timeout_ms":n}?,"lock_lease_ms":n,"max_provider_calls":n?,"flags":{"flags":[…]}?}`.
    /// Unknown keys (a credential, say) are refused. `flags` is read on its own: missing, `null`
    /// or unreadable (a `null` user id in a list, say) is `None`, never an error.
    pub fn from_json(text: &str) -> Result<Self, DriverError> {
        let raw: RawConfig = serde_json::from_str(text)
            .map_err(|_| DriverError::InvalidConfig("not a driver config"))?;
        if raw.lock_lease_ms < 1_000 {
            return Err(DriverError::InvalidConfig("lock_lease_ms below 1000"));
        }
        Ok(Self {
            duffel: raw.duffel,
            lock_lease_ms: raw.lock_lease_ms,
            max_provider_calls: raw.max_provider_calls.unwrap_or(CALLS_PER_TRIP),
            flags: raw
                .flags
                .and_then(|v| serde_json::from_value::<FlagSnapshot>(v).ok()),
        })
    }
}
