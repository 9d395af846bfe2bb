//! # booking-core
//!
//! The pure, deterministic core of the Parker Flight auto-booking pipeline. It never performs
//! I/O, never reads a clock and never draws randomness: `now` and ids are inputs, provider
//! requests go out as plain descriptions ([`http::HttpRequest`]) and provider responses come back
//! in as bytes. The Deno shims under `supabase/functions/` execute the I/O; the wasm-bindgen crate
//! `booking-wasm` is the only bridge.
//!
//! Stages and where they live:
//!
//! | stage | module |
//! | --- | --- |
//! | validate a trip request | [`trip`] |
//! | build a Duffel search, parse offers | [`duffel`] |
//! | pick the best offer | [`select`] |
//! | the search stage as one step | [`search`] |
//! | the one drive API every function uses | [`engine`] |
//! | the monitor: decide, and the per-trip driver | [`monitor`] |
//! | the booking saga (private steps, driven through the monitor) | [`saga`] |
//! | saved cards and consent (`payment-methods`) | [`payment_methods`] |
//! | Stripe's webhook events (`stripe-webhook`) | [`stripe_webhook`] |
//! | Duffel webhooks: signature, events, the `duffel-webhook` driver | [`duffel_webhook`] |
//! | the traveller's profiles (`travelers` function) | [`travelers`] |
//! | the traveller's watches and their timeline (`trips` function) | [`trips`] |
//! | emails: the outbox dispatcher, templates, Resend and its webhook | [`notify`] |
//! | GDPR erasure and export requests (`privacy`, `privacy-operator`) | [`privacy`] |
//! | feature flags: bucketing and evaluation | [`flags`] |
//! | health checks (`health` function) | [`health`] |

pub mod auth;
pub mod contract;
pub mod duffel;
pub mod duffel_webhook;
pub mod engine;
pub mod error;
pub mod flags;
pub mod health;
pub mod http;
pub mod iata;
pub mod id;
pub mod money;
pub mod monitor;
pub mod notify;
pub mod offer;
pub mod ops;
pub mod payment_methods;
pub mod privacy;
pub mod reply;
pub mod saga;
pub mod search;
pub mod select;
pub mod service;
pub mod stripe;
pub mod stripe_webhook;
pub mod time;
pub mod travelers;
pub mod trip;
pub mod trip_search;
pub mod trips;
pub mod upstash;
