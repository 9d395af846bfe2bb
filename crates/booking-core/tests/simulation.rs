//! Deterministic simulation of the monitor's `TripDriver` (and through it the booking saga)
//! against in-memory fakes of the monitor SQL API, the Upstash lock, Stripe and Duffel, with a
//! crash injected at every command boundary of every fault scenario, random faults and crashes,
//! two monitors racing on the same trips, and the kill switch flipped while attempts hold money.
//!
//! Prints exactly one line:
//! `simulation: <crash points> crash points x <fault kinds> fault kinds, <runs> runs, <violations> violations`.

mod sim;

use sim::run::{scenario, Setup, KINDS};

/// Crash runs per fault kind at most (the longest scripted kinds before the outage one had 170
/// operations, crashed before each).
const MAX_CRASH_RUNS_PER_KIND: u64 = 200;

#[test]
fn money_safety_holds_under_crashes_faults_and_races() {
    let base = |kind: &'static str, seed: u64| Setup {
        kind,
        seed,
        trips: 1,
        crash_at: None,
        crash_permille: 0,
        racing: false,
        use_lock: true,
    };
    let mut runs = 0_u64;
    let mut violations = Vec::new();
    let mut crash_points = 0_u64;
    // 1. Every fault kind, crashed before each of its operations in turn.
    for (i, kind) in KINDS.iter().enumerate() {
        let seed = i as u64 + 1;
        let clean = scenario(base(kind, seed));
        runs += 1;
        violations.extend(clean.violations);
        crash_points = crash_points.max(clean.operations);
        // A kind that repeats the same attempt several times (`stripe_outage_across_attempts`)
        // is crashed at every few operations, which still lands on every kind of operation of
        // the repeated attempt, to keep the run time near that of the others.
        let stride = clean.operations.div_ceil(MAX_CRASH_RUNS_PER_KIND).max(1);
        for k in (1..=clean.operations).step_by(usize::try_from(stride).unwrap_or(1)) {
            let report = scenario(Setup {
                crash_at: Some(k),
                ..base(kind, seed)
            });
            runs += 1;
            violations.extend(report.violations);
        }
    }
    // 2. Random faults and random crashes (several per scenario), several trips.
    for seed in 0..200 {
        let report = scenario(Setup {
            trips: 3,
            crash_permille: 40,
            ..base("random", 1_000 + seed)
        });
        runs += 1;
        violations.extend(report.violations);
    }
    // 3. Two monitors interleaved on the same trips, with and without the Redis lock (the
    //    database guard alone must prevent double booking).
    for seed in 0..200 {
        let report = scenario(Setup {
            trips: 4,
            racing: true,
            use_lock: seed % 2 == 0,
            crash_permille: if seed % 4 < 2 { 0 } else { 20 },
            ..base(if seed % 3 == 0 { "none" } else { "random" }, 5_000 + seed)
        });
        runs += 1;
        violations.extend(report.violations);
    }
    // 4. The kill switch flipped off at random moments (up to three times, back on after each
    //    pause except for every fifth seed), with random faults, random crashes and, for odd
    //    seeds, a racing monitor.
    for seed in 0..40 {
        let report = scenario(Setup {
            trips: 3,
            racing: seed % 2 == 1,
            crash_permille: 20,
            ..base("random_pause", 9_000 + seed)
        });
        runs += 1;
        violations.extend(report.violations);
    }
    println!(
        "simulation: {crash_points} crash points x {} fault kinds, {runs} runs, {} violations",
        KINDS.len(),
        violations.len()
    );
    for v in violations.iter().take(20) {
        eprintln!("{v}");
    }
    assert!(violations.is_empty(), "{} violations", violations.len());
}
