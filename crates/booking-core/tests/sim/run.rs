//! Scenarios and the scheduler: virtual time, monitor runs, crash injection, interleaving.

use booking_core::money::{Currency, Money};
use booking_core::time::Timestamp;

use super::checks;
use super::duffel_fake::OfferSim;
use super::worker::{Configs, Worker};
use super::world::{Endpoint as E, Fault as F, FaultPlan, TripRow, World};

pub(crate) const START: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;
/// Monitor runs before faults stop, and the hard cap after which anything open counts as stuck.
const CALM_AFTER: u32 = 60;
const MAX_RUNS: u32 = 400;

/// The fault kinds of the crash matrix.
pub(crate) const KINDS: [&str; 15] = [
    "none",
    "price_drops_later",
    "offer_gone",
    "reprice_spike",
    "card_declined",
    "authentication_required",
    "stripe_429_503",
    "stripe_500_stored",
    "stripe_lost_responses",
    "duffel_502_airline_unknown",
    "duffel_order_lost",
    "duffel_order_500_created",
    "duffel_lookup_flaky",
    "duffel_price_changed",
    "random",
];

/// How a scenario runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Setup {
    pub(crate) kind: &'static str,
    pub(crate) seed: u64,
    pub(crate) trips: usize,
    /// Crash the run in progress before its k-th operation (counted over the whole scenario).
    pub(crate) crash_at: Option<u64>,
    /// Random crashes per operation, in permille.
    pub(crate) crash_permille: u64,
    /// Two monitors on the same trips, interleaved operation by operation.
    pub(crate) racing: bool,
    pub(crate) use_lock: bool,
}

/// What a scenario did.
pub(crate) struct Report {
    pub(crate) operations: u64,
    pub(crate) violations: Vec<String>,
}

fn world(setup: &Setup) -> World {
    let mut w = World::new(setup.seed, START);
    let gbp = Currency::parse("GBP").unwrap();
    let over_then_under = setup.kind == "price_drops_later";
    for i in 0..setup.trips {
        let offer = format!("off_t{i}");
        let price = 30_000 + i64::try_from(i).unwrap() * 1_000;
        let prices = if over_then_under {
            vec![(0, 45_000), (START + 3 * HOUR, price)]
        } else {
            vec![(0, price)]
        };
        let expires_at = if setup.kind == "offer_gone" {
            START - 1
        } else {
            START + 30 * 60_000
        };
        w.duffel.offers.push(OfferSim {
            id: offer.clone(),
            prices,
            currency: "GBP",
            expires_at,
        });
        let payment_method = match (setup.kind, i) {
            ("card_declined", 0) => "pm_card_chargeDeclined",
            ("authentication_required", 0) => "pm_card_authenticationRequired",
            _ => "pm_card_visa",
        };
        w.db.trips.push(TripRow {
            id: format!("trip_{i}"),
            status: "watching",
            version: 1,
            offer_id: Some(offer),
            max_total: Money::from_minor(40_000, gbp).unwrap(),
            departs_at: Timestamp::from_unix_ms(START + 30 * HOUR),
            next_check_at: START,
            auto_book: true,
            payment_method,
        });
    }
    let rules: Vec<(E, u32, F)> = match setup.kind {
        "reprice_spike" => vec![(E::GetOffer, 2, F::PriceSpike)],
        "stripe_429_503" => vec![
            (E::Authorize, 1, F::Before(429)),
            (E::Authorize, 2, F::Before(503)),
            (E::Authorize, 3, F::Before(429)),
            (E::Capture, 1, F::Before(503)),
        ],
        "stripe_500_stored" => vec![(E::Authorize, 1, F::ExecutedThen500)],
        "stripe_lost_responses" => vec![(E::Authorize, 1, F::Lost), (E::Capture, 1, F::Lost)],
        "duffel_502_airline_unknown" => vec![(E::CreateOrder, 1, F::AirlineUnknown)],
        "duffel_order_lost" => vec![(E::CreateOrder, 1, F::Lost)],
        "duffel_order_500_created" => vec![(E::CreateOrder, 1, F::ExecutedThen500)],
        "duffel_lookup_flaky" => vec![
            (E::CreateOrder, 1, F::Lost),
            (E::FindOrders, 1, F::Before(503)),
            (E::FindOrders, 2, F::Lost),
        ],
        "duffel_price_changed" => vec![(E::CreateOrder, 1, F::PriceChanged)],
        _ => Vec::new(),
    };
    w.plan = FaultPlan {
        rules,
        random_permille: if setup.kind == "random" { 150 } else { 0 },
        calm: false,
    };
    w
}

/// Runs one scenario to the end and checks the invariants after every monitor run.
pub(crate) fn scenario(setup: Setup) -> Report {
    let cfg = Configs::new();
    let mut w = world(&setup);
    let mut crash_rng = super::Rng::new(setup.seed ^ 0xC0FFEE);
    let mut ops = 0_u64;
    let mut bad = Vec::new();
    for run in 0..MAX_RUNS {
        let open: Vec<usize> = (0..w.db.trips.len())
            .filter(|&t| matches!(w.db.trips[t].status, "watching" | "booking"))
            .collect();
        if open.is_empty() {
            break;
        }
        w.plan.calm = run >= CALM_AFTER;
        let due_at = open
            .iter()
            .map(|&t| w.db.trips[t].next_check_at)
            .min()
            .unwrap_or(w.now);
        w.now = (w.now + 1_000).max(due_at);
        // Claim: due trips get a lease (their next check moves a minute ahead).
        let due: Vec<usize> = open
            .into_iter()
            .filter(|&t| w.db.trips[t].next_check_at <= w.now)
            .collect();
        for &t in &due {
            w.db.trips[t].next_check_at = w.now + 60_000;
        }
        let monitors = if setup.racing { 2 } else { 1 };
        let mut workers: Vec<Worker> = (0..monitors)
            .map(|m| Worker::new(due.clone(), format!("tok-{run}-{m}"), setup.use_lock))
            .collect();
        while workers.iter().any(|wk| !wk.finished()) {
            let live: Vec<usize> = (0..workers.len())
                .filter(|&i| !workers[i].finished())
                .collect();
            let pick = live[usize::try_from(w.rng.below(live.len() as u64)).unwrap()];
            ops += 1;
            let crash = setup.crash_at == Some(ops) || crash_rng.chance(setup.crash_permille);
            if crash && !w.plan.calm {
                // The run dies here: its in-memory state is gone, its lock stays until expiry.
                workers[pick] = Worker::new(Vec::new(), String::new(), false);
                continue;
            }
            workers[pick].step(&mut w, &cfg);
        }
        bad.extend(
            checks::after_run(&w)
                .into_iter()
                .map(|v| format!("run {run}: {v}")),
        );
        w.violations.clear();
        if !bad.is_empty() {
            break;
        }
    }
    bad.extend(checks::settled(&w));
    bad.dedup();
    Report {
        operations: ops,
        violations: bad
            .into_iter()
            .map(|v| format!("[{} seed {}] {v}", setup.kind, setup.seed))
            .collect(),
    }
}
