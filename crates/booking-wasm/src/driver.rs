//! The drivers for the shims' one executor (`docs/contracts.md`, "The drive API"): thin wrappers
//! around the core's [`booking_core::engine::Driver`]s.
//!
//! Each class has the same surface: `poll(now_ms)` returns the next command as text
//! (`booking_core::engine::command_text`: `{kind:"http",id,request}` or `{kind:"done",result}`
//! as JSON; a SQL command as its header `{kind:"sql",id,function,role}`, a newline, and its
//! argument's JSON text);
//! the outcome of command `id` goes back through `handle_http(now_ms, id, status, body)`,
//! `handle_transport(now_ms, id, kind)`, `handle_sql(now_ms, id, result_json)` or
//! `handle_sql_error(now_ms, id, sqlstate)`, each returning `undefined` (taken) or
//! `{ok:false,error:{code,message}}`. Nothing here throws; a driver that cannot be built polls
//! `done` with a stopped/500 result naming the error's code.

use booking_core::auth;
#[cfg(feature = "search")]
use booking_core::duffel::DuffelConfig;
#[cfg(feature = "webhooks")]
use booking_core::duffel_webhook::{
    DuffelWebhookDone, DuffelWebhookDriver as CoreDuffelWebhookDriver, SignatureHeader,
};
use booking_core::engine::{Command, Driver, Input, SqlFunction};
use booking_core::error::TransportFailure;
#[cfg(feature = "monitor")]
use booking_core::monitor::driver::{
    Claim, DriverConfig, DriverError, DriverOutcome, TripDone, TripDriver as CoreTripDriver,
};
#[cfg(feature = "monitor")]
use booking_core::monitor::{self, MonitorSettings};
#[cfg(feature = "user")]
use booking_core::payment_methods::{
    parse_request as parse_payment_request, PaymentMethodsDriver as CorePaymentMethodsDriver,
    PaymentsDone,
};
#[cfg(feature = "webhooks")]
use booking_core::stripe::webhook::signed_payload_prefix;
#[cfg(feature = "webhooks")]
use booking_core::stripe_webhook::{
    StripeWebhookDone, StripeWebhookDriver as CoreStripeWebhookDriver,
};
#[cfg(feature = "search")]
use booking_core::trip::parse_trip_body;
#[cfg(feature = "search")]
use booking_core::trip_search::{SearchDone, SearchDriver as CoreSearchDriver};
use serde::Serialize;
use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::{timestamp, to_js};

/// Feeds `input` to `driver` and reports `undefined` (taken) or `{ok:false,error}`: the
/// common answer is a constant, not an object built through serde-wasm-bindgen at every call.
fn feed<D: Driver>(driver: &mut D, now_ms: f64, id: u32, input: Input<'_>) -> JsValue {
    match driver.handle(timestamp(now_ms), id, input) {
        Ok(()) => JsValue::UNDEFINED,
        Err(error) => to_js(
            &json!({"ok": false, "error": {"code": error.code(), "message": error.to_string()}}),
        ),
    }
}

/// `value` as JSON text; `null` if it cannot be written (as `to_js` gives `null`).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// A driver's next command as the shim's text (`booking_core::engine::command_text`). Not built
/// into the monitor's module alone: its one driver writes its own text (`poll_json`).
#[cfg(any(feature = "search", feature = "user", feature = "webhooks"))]
fn poll_text<D: Driver>(driver: &mut D, now: booking_core::time::Timestamp) -> String
where
    D::Done: Serialize,
{
    booking_core::engine::command_text(&driver.poll(now))
}

fn transport(kind: &str) -> Result<TransportFailure, JsValue> {
    TransportFailure::from_code(kind).ok_or_else(|| {
        to_js(&json!({"ok": false, "error": {
            "code": "invalid_transport_kind",
            "message": "transport failure kind must be timeout or network"}}))
    })
}

/// The same `poll`/`handle_*` methods on a wasm class wrapping `Result<CoreDriver, Done>`: a
/// driver that could not be built is done at once with `$refused`.
macro_rules! driver_methods {
    ($class:ident) => {
        driver_methods!($class, poll_text);
    };
    ($class:ident, $poll:expr) => {
        #[wasm_bindgen]
        impl $class {
            /// The next command, as text (`command_text`; `core.ts` reads it: one string across
            /// the boundary instead of an object built field by field, a SQL argument never
            /// parsed in JavaScript).
            pub fn poll(&mut self, now_ms: f64) -> String {
                match &mut self.inner {
                    Ok(driver) => ($poll)(driver, timestamp(now_ms)),
                    Err(done) => to_json(&Command::Done {
                        result: done.clone(),
                    }),
                }
            }

            /// Feeds an HTTP answer (status and the raw body bytes) to command `id`.
            pub fn handle_http(&mut self, now_ms: f64, id: u32, status: u16, body: &[u8]) -> JsValue {
                self.handle(now_ms, id, Input::Http { status, body })
            }

            /// Reports that request `id` got no answer: `kind` is `timeout` or `network`.
            pub fn handle_transport(&mut self, now_ms: f64, id: u32, kind: &str) -> JsValue {
                match transport(kind) {
                    Ok(failure) => self.handle(now_ms, id, Input::Transport(failure)),
                    Err(error) => error,
                }
            }

            /// Feeds the JSON text SQL command `id` returned.
            pub fn handle_sql(&mut self, now_ms: f64, id: u32, result_json: &str) -> JsValue {
                self.handle(now_ms, id, Input::Sql(result_json))
            }

            /// Reports that SQL command `id` failed with `sqlstate`.
            pub fn handle_sql_error(&mut self, now_ms: f64, id: u32, sqlstate: &str) -> JsValue {
                self.handle(now_ms, id, Input::SqlError(sqlstate))
            }
        }

        impl $class {
            fn handle(&mut self, now_ms: f64, id: u32, input: Input<'_>) -> JsValue {
                match &mut self.inner {
                    Ok(driver) => feed(driver, now_ms, id, input),
                    Err(_) => to_js(&json!({"ok": false, "error": {
                        "code": "driver_not_waiting", "message": "the driver is done"}})),
                }
            }
        }
    };
}

/// One claimed trip's state machine (the monitor). Call `free()` when done with it.
#[cfg(feature = "monitor")]
#[wasm_bindgen]
pub struct TripDriver {
    inner: Result<CoreTripDriver, TripDone>,
}

#[cfg(feature = "monitor")]
#[wasm_bindgen]
impl TripDriver {
    /// Builds the driver from the claim JSON (one element of `monitor_claim`'s `trips`), the
    /// config JSON (`{lock_lease_ms, max_provider_calls?, duffel?: {supplier_timeout_ms}}`: no
    /// credential, unknown keys refused), the shim's clock, a fresh attempt id (UUID), a random
    /// seed as two u32 halves (high, low; only 53 bits are kept) and a random lock token.
    /// Invalid input does not throw: the driver then polls `done`/`stopped`.
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
        let inner = Claim::from_json(claim_json)
            .and_then(|claim| {
                let config = DriverConfig::from_json(config_json)?;
                CoreTripDriver::new(
                    claim,
                    config,
                    timestamp(now_ms),
                    attempt_id,
                    seed,
                    lock_token,
                )
            })
            .map_err(|error: DriverError| TripDone {
                outcome: DriverOutcome::Stopped,
                reason: error.code().to_owned(),
            });
        Self { inner }
    }
}

// The monitor's driver writes its command text in place (`poll_json`: no copy of the command,
// the attempt state written once as text).
#[cfg(feature = "monitor")]
driver_methods!(TripDriver, CoreTripDriver::poll_json);

/// One `trip-search` request's state machine. Call `free()` when done with it.
#[cfg(feature = "search")]
#[wasm_bindgen]
pub struct SearchDriver {
    inner: Result<CoreSearchDriver, SearchDone>,
}

#[cfg(feature = "search")]
#[wasm_bindgen]
impl SearchDriver {
    /// Builds the driver from the request body bytes (validated here: a bad body makes the
    /// driver done at once with the 400 answer) and the shim's clock.
    #[wasm_bindgen(constructor)]
    pub fn new(body: &[u8], now_ms: f64) -> Self {
        let inner = parse_trip_body(body, timestamp(now_ms))
            .map(|body| CoreSearchDriver::new(body, DuffelConfig::default()))
            .map_err(|error| SearchDone {
                status: 400,
                body: serde_json::to_value(error.to_body()).unwrap_or_default(),
                trigger_monitor: None,
                trip_id: None,
                outcome: error.code().to_owned(),
            });
        Self { inner }
    }
}

#[cfg(feature = "search")]
driver_methods!(SearchDriver);

#[derive(Serialize)]
struct SqlEntry {
    function: SqlFunction,
    name: &'static str,
    role: booking_core::engine::SqlRole,
    /// The function that may carry this call together with others (`monitor_batch`), if any.
    batch: Option<SqlFunction>,
}

/// The SQL API the executor may call: `[{function, name, role, batch}]`, the core's own list.
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn sql_api() -> JsValue {
    let list: Vec<SqlEntry> = SqlFunction::ALL
        .iter()
        .map(|&function| SqlEntry {
            function,
            name: function.name(),
            role: function.role(),
            batch: function.batch(),
        })
        .collect();
    to_js(&list)
}

/// How many due trips one monitor run may claim, from the `settings` object `monitor_claim`
/// returns; 0 when the kill switch is off or the JSON cannot be read.
#[cfg(feature = "monitor")]
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn claim_limit(settings_json: &str) -> u32 {
    serde_json::from_str::<MonitorSettings>(settings_json)
        .map_or(0, |settings| monitor::claim_limit(&settings))
}

/// How long a provider's answer asks every instance to pause, in ms (0: none): the rule of
/// [`booking_core::monitor::provider_pause`], given the answer's status and its `Retry-After`,
/// `ratelimit-remaining` and `ratelimit-reset` headers (`undefined` when absent).
#[cfg(feature = "monitor")]
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn provider_pause_ms(
    now_ms: f64,
    status: u16,
    retry_after: Option<String>,
    ratelimit_remaining: Option<String>,
    ratelimit_reset: Option<String>,
) -> u32 {
    let headers = monitor::provider_pause::LimitHeaders {
        retry_after: retry_after.as_deref(),
        ratelimit_remaining: ratelimit_remaining.as_deref(),
        ratelimit_reset: ratelimit_reset.as_deref(),
    };
    monitor::provider_pause::pause_ms(status, headers, timestamp(now_ms))
}

/// Constant-time comparison of a presented service secret with the expected one (an empty
/// expected secret never matches).
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn secret_matches(given: &str, expected: &str) -> bool {
    auth::secret_matches(given.as_bytes(), expected.as_bytes())
}

/// One `payment-methods` request's state machine. Call `free()` when done with it.
#[cfg(feature = "user")]
#[wasm_bindgen]
pub struct PaymentMethodsDriver {
    inner: Result<CorePaymentMethodsDriver, PaymentsDone>,
}

#[cfg(feature = "user")]
#[wasm_bindgen]
impl PaymentMethodsDriver {
    /// Builds the driver from the request body bytes (a bad body makes it done at once with the
    /// 400 answer) and a fresh nonce (UUID) that keys the SetupIntent's creation.
    #[wasm_bindgen(constructor)]
    pub fn new(body: &[u8], nonce: &str) -> Self {
        let inner = parse_payment_request(body)
            .map(|request| CorePaymentMethodsDriver::new(request, nonce))
            .map_err(|error| PaymentsDone {
                status: 400,
                body: serde_json::to_value(error.to_body()).unwrap_or_default(),
                outcome: error.code().to_owned(),
            });
        Self { inner }
    }
}

#[cfg(feature = "user")]
driver_methods!(PaymentMethodsDriver);

/// One Stripe webhook delivery's state machine. Call `free()` when done with it.
#[cfg(feature = "webhooks")]
#[wasm_bindgen]
pub struct StripeWebhookDriver {
    inner: Result<CoreStripeWebhookDriver, StripeWebhookDone>,
}

#[cfg(feature = "webhooks")]
#[wasm_bindgen]
impl StripeWebhookDriver {
    /// Builds the driver from the `Stripe-Signature` header (`None` when absent), the MAC the
    /// shim computed (`HMAC-SHA256(secret, stripe_signed_prefix(header) ‖ body)`, empty when it
    /// could not) and the raw body. The core decides the signature first: a refusal makes the
    /// driver done at once with the 400 answer.
    #[wasm_bindgen(constructor)]
    pub fn new(header: Option<String>, mac: &[u8], body: &[u8], now_ms: f64) -> Self {
        let inner = CoreStripeWebhookDriver::new(header.as_deref(), mac, body, timestamp(now_ms));
        Self { inner }
    }
}

#[cfg(feature = "webhooks")]
driver_methods!(StripeWebhookDriver);

/// The prefix the shim puts before the raw body when computing a Stripe webhook's MAC
/// (`"{t}."` from the header), or `undefined` when the header does not parse.
#[cfg(feature = "webhooks")]
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn stripe_signed_prefix(header: &str) -> Option<String> {
    signed_payload_prefix(header)
}

/// One `duffel-webhook` delivery's state machine. Call `free()` when done with it.
#[cfg(feature = "webhooks")]
#[wasm_bindgen]
pub struct DuffelWebhookDriver {
    inner: Result<CoreDuffelWebhookDriver, DuffelWebhookDone>,
}

#[cfg(feature = "webhooks")]
#[wasm_bindgen]
impl DuffelWebhookDriver {
    /// Builds the driver from the raw body bytes, the `X-Duffel-Signature` header (absent:
    /// `undefined`), the shim's lower-case hex HMAC-SHA256 of `duffel_signed_prefix(header)` ++
    /// body under the webhook secret (empty when the header did not parse) and the shim's clock.
    /// The core decides: a refused signature or unreadable event makes the driver done at once.
    #[wasm_bindgen(constructor)]
    pub fn new(body: &[u8], header: Option<String>, expected_hex: &str, now_ms: f64) -> Self {
        let inner = Ok(CoreDuffelWebhookDriver::new(
            body,
            header.as_deref(),
            expected_hex,
            timestamp(now_ms),
        ));
        Self { inner }
    }
}

#[cfg(feature = "webhooks")]
driver_methods!(DuffelWebhookDriver);

/// What precedes the raw body in the message Duffel signs (`"{t}."`), or `undefined` when the
/// `X-Duffel-Signature` header is missing or malformed (the driver then refuses it).
#[cfg(feature = "webhooks")]
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn duffel_signed_prefix(header: Option<String>) -> Option<String> {
    SignatureHeader::parse(header.as_deref())
        .ok()
        .map(|parsed| parsed.signed_prefix())
}
/// One `travelers` request's state machine (the caller's profiles). Call `free()` when done.
#[cfg(feature = "user")]
#[wasm_bindgen]
pub struct TravelersDriver {
    inner: Result<booking_core::travelers::TravelersDriver, booking_core::reply::Reply>,
}

#[cfg(feature = "user")]
#[wasm_bindgen]
impl TravelersDriver {
    /// Builds the driver from the request body bytes (validated here: a bad body makes the
    /// driver done at once with the 400 answer) and the shim's clock.
    #[wasm_bindgen(constructor)]
    pub fn new(body: &[u8], now_ms: f64) -> Self {
        Self {
            inner: booking_core::travelers::driver(body, timestamp(now_ms)),
        }
    }
}

#[cfg(feature = "user")]
driver_methods!(TravelersDriver);

/// One `trips` request's state machine (the caller's watches). Call `free()` when done.
#[cfg(feature = "user")]
#[wasm_bindgen]
pub struct TripsDriver {
    inner: Result<booking_core::trips::TripsDriver, booking_core::reply::Reply>,
}

#[cfg(feature = "user")]
#[wasm_bindgen]
impl TripsDriver {
    /// Builds the driver from the request body bytes (a bad body: done at once with the 400).
    #[wasm_bindgen(constructor)]
    pub fn new(body: &[u8]) -> Self {
        Self {
            inner: booking_core::trips::driver(body),
        }
    }
}

#[cfg(feature = "user")]
driver_methods!(TripsDriver);

/// One claimed notification's state machine (notify-dispatch). Call `free()` when done with it.
#[cfg(feature = "webhooks")]
#[wasm_bindgen]
pub struct NotifyDriver {
    inner: Result<booking_core::notify::NotifyDriver, booking_core::notify::NotifyDone>,
}

#[cfg(feature = "webhooks")]
#[wasm_bindgen]
impl NotifyDriver {
    /// Builds the driver from one element of `notify_claim`'s `notifications` and its
    /// `settings` (JSON texts). Unreadable input does not throw: the driver polls `done` with
    /// outcome `skipped` and the error's code.
    #[wasm_bindgen(constructor)]
    pub fn new(claim_json: &str, settings_json: &str) -> Self {
        let inner = booking_core::notify::NotifyDriver::from_json(claim_json, settings_json)
            .map_err(|error| booking_core::notify::NotifyDone {
                notification_id: String::new(),
                outcome: booking_core::notify::NotifyOutcome::Skipped,
                reason: error.code().to_owned(),
            });
        Self { inner }
    }
}

#[cfg(feature = "webhooks")]
driver_methods!(NotifyDriver);

/// One resend-webhook delivery. Call `free()` when done with it.
#[cfg(feature = "webhooks")]
#[wasm_bindgen]
pub struct ResendWebhookDriver {
    inner: Result<
        booking_core::notify::webhook::WebhookDriver,
        booking_core::notify::webhook::WebhookDone,
    >,
}

#[cfg(feature = "webhooks")]
#[wasm_bindgen]
impl ResendWebhookDriver {
    /// Builds the driver from the Svix headers as received (empty string: absent), the raw body
    /// and the MAC the shim computed over `{id}.{timestamp}.{body}` (base64). The decision
    /// (tolerance, which signature, constant-time compare) is the core's; a refused delivery
    /// polls `done` with its 4xx at once.
    #[wasm_bindgen(constructor)]
    pub fn new(
        svix_id: &str,
        svix_timestamp: &str,
        svix_signature: &str,
        body: &[u8],
        computed_b64: &str,
        now_ms: f64,
    ) -> Self {
        let headers = booking_core::notify::webhook::SvixHeaders {
            id: present(svix_id),
            timestamp: present(svix_timestamp),
            signature: present(svix_signature),
        };
        Self {
            inner: Ok(booking_core::notify::webhook::WebhookDriver::new(
                headers,
                body,
                computed_b64,
                timestamp(now_ms),
            )),
        }
    }
}

#[cfg(feature = "webhooks")]
driver_methods!(ResendWebhookDriver);

#[cfg(feature = "webhooks")]
fn present(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

/// One erasure request's state machine (`privacy` for the caller, `privacy-operator` for a user
/// id). Call `free()` when done with it.
#[cfg(feature = "user")]
#[wasm_bindgen]
pub struct ErasureDriver {
    inner: Result<booking_core::privacy::ErasureDriver, booking_core::reply::Reply>,
}

#[cfg(feature = "user")]
#[wasm_bindgen]
impl ErasureDriver {
    /// The erasure of the signed-in caller (`user_id` undefined) or, for the operator, of
    /// `user_id` (already validated by `parse_privacy_request`).
    #[wasm_bindgen(constructor)]
    pub fn new(user_id: Option<String>) -> Self {
        Self {
            inner: Ok(booking_core::privacy::ErasureDriver::new(user_id)),
        }
    }
}

#[cfg(feature = "user")]
driver_methods!(ErasureDriver);

/// Validates a `privacy` body (`operator`: the `privacy-operator` function's):
/// `{ok:true, action:"erase"|"export", user_id?}` or `{ok:false, reply:{status, body, outcome}}`.
#[cfg(feature = "user")]
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn parse_privacy_request(body: &[u8], operator: bool) -> JsValue {
    use booking_core::privacy::{parse_request, PrivacyAction};
    to_js(&match parse_request(body, operator) {
        Ok(PrivacyAction::Erase { user_id }) => {
            json!({"ok": true, "action": "erase", "user_id": user_id})
        }
        Ok(PrivacyAction::Export) => json!({"ok": true, "action": "export"}),
        Err(reply) => json!({"ok": false, "reply": reply}),
    })
}

/// One `health` request's state machine (snapshot, Redis ping, answer). Call `free()` when done.
#[cfg(feature = "webhooks")]
#[wasm_bindgen]
pub struct HealthDriver {
    inner: Result<booking_core::health::HealthDriver, booking_core::reply::Reply>,
}

#[cfg(feature = "webhooks")]
#[wasm_bindgen]
impl HealthDriver {
    /// Builds the driver; `detail`: the caller presented the health token (checked by the shim
    /// with `secret_matches`), so the answer carries each check's numbers.
    #[wasm_bindgen(constructor)]
    pub fn new(detail: bool) -> Self {
        Self {
            inner: Ok(booking_core::health::HealthDriver::new(detail)),
        }
    }
}

#[cfg(feature = "webhooks")]
driver_methods!(HealthDriver);

/// One `ops` request's state machine (the operators' API). Call `free()` when done.
#[cfg(feature = "user")]
#[wasm_bindgen]
pub struct OpsDriver {
    inner: Result<booking_core::ops::OpsDriver, booking_core::reply::Reply>,
}

#[cfg(feature = "user")]
#[wasm_bindgen]
impl OpsDriver {
    /// Builds the driver from the request body bytes (a bad body: done at once with the 400).
    #[wasm_bindgen(constructor)]
    pub fn new(body: &[u8]) -> Self {
        Self {
            inner: booking_core::ops::driver(body),
        }
    }
}

#[cfg(feature = "user")]
driver_methods!(OpsDriver);

/// Whether verified JWT claims (JSON text) grant the operator role (`app_metadata.role` or
/// `app_metadata.roles`); false for unreadable JSON.
#[cfg(feature = "user")]
#[wasm_bindgen]
#[allow(unreachable_pub)] // exported to JavaScript by wasm-bindgen, not to Rust
pub fn is_operator(claims_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(claims_json)
        .is_ok_and(|claims| booking_core::ops::is_operator(&claims))
}
