//! Deterministic simulation harness for the monitor and the booking saga.
//!
//! In-memory stand-ins, each for one real component:
//!
//! - [`db_fake::Db`] stands in for Postgres: `trip_requests` rows with a version for
//!   compare-and-set, `booking_attempts` with the unique open-attempt-per-trip rule, `bookings`,
//!   the notification outbox. Unlike Postgres every operation is atomic and serial (the
//!   interleaving is at the granularity of one operation), and there is no SQL.
//! - [`upstash_fake::Upstash`] stands in for Upstash Redis: `SET NX PX` and compare-and-delete
//!   on a token, with expiry on virtual time.
//! - [`stripe_fake::StripeFake`] stands in for Stripe PaymentIntents: form bodies,
//!   `Idempotency-Key` replay (including stored 500s) and `idempotency_error` on changed
//!   parameters, manual capture, cancel, metadata search, card errors in Stripe's envelope.
//!   Search is eventually consistent like Stripe's, with a fixed lag of one minute (Stripe's
//!   varies and is usually under a minute).
//! - [`duffel_fake::DuffelFake`] stands in for Duffel: offers re-priced over virtual time and
//!   expiring, instant orders paid from balance that must match the price exactly, one order per
//!   offer, order look-ups in pages with Duffel's `meta.after` cursor (optionally ignoring the
//!   `offer_id` filter and listing other accounts' orders first), and offers the airline declares
//!   gone at order time (`Fault::OfferGone`) while a re-price still shows them. An order may be confirmed late (`Fault::Late`): created
//!   at once (it blocks a second order for the offer) but listed by look-ups only later, which
//!   stands in for Duffel's 202 and for a 5xx or lost answer after ticketing.
//!
//! Faults are injected by [`world::FaultPlan`] per endpoint call, seeded; crashes by the
//! scheduler in [`run`], which stops a monitor run before its k-th operation; the kill switch is
//! flipped off between two operations (and back on later) by [`pause::PausePlan`].

pub(crate) mod checks;
pub(crate) mod db_fake;
pub(crate) mod duffel_fake;
pub(crate) mod pause;
pub(crate) mod run;
pub(crate) mod stripe_fake;
pub(crate) mod traveller;
pub(crate) mod upstash_fake;
pub(crate) mod worker;
pub(crate) mod world;

/// SplitMix64: small, seeded, good enough for fault schedules.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `permille / 1000`.
    pub(crate) fn chance(&mut self, permille: u64) -> bool {
        self.next_u64() % 1000 < permille
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Decodes an `application/x-www-form-urlencoded` string into pairs.
pub(crate) fn form_decode(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("3F");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
