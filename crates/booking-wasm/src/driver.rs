//! The monitor's per-trip driver for the `auto-book-monitor` shim (`docs/contracts.md`, "The
//! monitor"): a thin wrapper around [`booking_core::monitor::driver::TripDriver`].
//!
//! The shim constructs one `TripDriver` per claimed trip, then loops: `poll(now_ms)` returns the
//! command as a plain object (`{kind:"http",request}`, `{kind:"sql",function,args}` or
//! `{kind:"done",outcome,reason}`); the outcome goes back through `handle_http`,
//! `handle_transport`, `handle_sql` or `handle_sql_error`, each returning `{ok:true}` or
//! `{ok:false,error:{code,message}}`. Nothing here throws; a driver that cannot be built polls
//! `done` with outcome `stopped` and the error's code as the reason.

use booking_core::auth;
use booking_core::error::{ErrorCode, TransportFailure};
use booking_core::monitor::driver::{
    Claim, DriverCommand, DriverConfig, DriverError, DriverOutcome, TripDriver as CoreDriver,
};
use booking_core::monitor::{self, MonitorSettings};
use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::{timestamp, to_js};

/// One claimed trip's state machine. Call `free()` when done with it.
#[wasm_bindgen]
pub struct TripDriver {
    inner: Result<CoreDriver, DriverError>,
}

#[wasm_bindgen]
impl TripDriver {
    /// Builds the driver from the claim JSON (one element of `monitor_claim`'s `trips`), the
    /// config JSON (`{duffel:{base_url,access_token}, stripe:{base_url,secret_key},
    /// upstash:{url,token}, lock_lease_ms, max_provider_calls?}`), the shim's clock, a fresh
    /// attempt id (UUID), a random seed as two u32 halves (high, low; only 53 bits are kept) and a random lock
    /// token. Invalid input does not throw: the driver then polls `done`/`stopped`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        claim_json: &str,
        config_json: &str,
        now_ms: f64,
        attempt_id: &str,
        seed_high: u32,
        seed_low: u32,
        lock_token: &str,
    ) -> Self {
        // 53 bits: the seed travels in the attempt state as a JSON number, and JavaScript (the
        // shim parses claims) keeps integers exact only up to 2^53.
        let seed = ((u64::from(seed_high) & 0x1F_FFFF) << 32) | u64::from(seed_low);
        let inner = Claim::from_json(claim_json).and_then(|claim| {
            let config = DriverConfig::from_json(config_json)?;
            CoreDriver::new(
                claim,
                config,
                timestamp(now_ms),
                attempt_id,
                seed,
                lock_token,
            )
        });
        Self { inner }
    }

    /// The next command, as a plain JSON-compatible object.
    pub fn poll(&mut self, now_ms: f64) -> JsValue {
        match &mut self.inner {
            Ok(driver) => to_js(&driver.poll(timestamp(now_ms))),
            Err(error) => to_js(&DriverCommand::Done {
                outcome: DriverOutcome::Stopped,
                reason: error.code().to_owned(),
            }),
        }
    }

    /// Feeds an HTTP answer (status and the raw body bytes).
    pub fn handle_http(&mut self, now_ms: f64, status: u16, body: &[u8]) -> JsValue {
        self.feed(|d| d.handle_http(timestamp(now_ms), status, body))
    }

    /// Reports an HTTP request that got no answer: `kind` is `timeout` or `network`.
    pub fn handle_transport(&mut self, now_ms: f64, kind: &str) -> JsValue {
        let Some(failure) = TransportFailure::from_code(kind) else {
            return to_js(&json!({"ok": false, "error": {
                "code": "invalid_transport_kind",
                "message": "transport failure kind must be timeout or network"}}));
        };
        self.feed(|d| d.handle_transport(timestamp(now_ms), failure))
    }

    /// Feeds the JSON text a `sql` command's function returned.
    pub fn handle_sql(&mut self, now_ms: f64, result_json: &str) -> JsValue {
        self.feed(|d| d.handle_sql(timestamp(now_ms), result_json))
    }

    /// Reports that a `sql` command failed with `code` (the SQLSTATE).
    pub fn handle_sql_error(&mut self, now_ms: f64, code: &str) -> JsValue {
        self.feed(|d| d.handle_sql_error(timestamp(now_ms), code))
    }

    fn feed(&mut self, f: impl FnOnce(&mut CoreDriver) -> Result<(), DriverError>) -> JsValue {
        let result = match &mut self.inner {
            Ok(driver) => f(driver),
            Err(_) => Err(DriverError::NotWaiting),
        };
        to_js(&match result {
            Ok(()) => json!({"ok": true}),
            Err(error) => json!({"ok": false, "error": error.to_body()}),
        })
    }
}

/// How many due trips one monitor run may claim, from the `settings` object `monitor_claim`
/// returns; 0 when the kill switch is off or the JSON cannot be read.
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn claim_limit(settings_json: &str) -> u32 {
    serde_json::from_str::<MonitorSettings>(settings_json)
        .map_or(0, |settings| monitor::claim_limit(&settings))
}

/// Constant-time comparison of a presented service secret with the expected one (an empty
/// expected secret never matches).
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn secret_matches(given: &str, expected: &str) -> bool {
    auth::secret_matches(given.as_bytes(), expected.as_bytes())
}
