//! Retry policy: exponential backoff with seeded "equal jitter", bounded per phase.
//!
//! The delay before try `n + 1` (after `n` tries) is `d = min(cap, base · 2^(n-1))`, and the wait
//! is `d/2 + j` with `j` drawn from `[0, d/2]` by a hash of the attempt's seed and `n`: no clock,
//! no randomness in the core, and two attempts that fail together spread apart.

use super::state::Phase;

/// How one phase retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// First delay in milliseconds.
    pub base_ms: i64,
    /// Largest delay in milliseconds.
    pub cap_ms: i64,
    /// Tries before giving up on the phase; `None` retries forever (the phase holds money or a
    /// possible order and must be resolved).
    pub max_tries: Option<u32>,
}

/// The policy for `phase`'s request.
pub fn policy(phase: Phase) -> Policy {
    match phase {
        // Nothing is held yet: give up quickly and let the monitor look again later.
        Phase::Reprice => Policy {
            base_ms: 1_000,
            cap_ms: 30_000,
            max_tries: Some(4),
        },
        // Same key every time; after the bound, find out whether a hold exists.
        Phase::Authorize => Policy {
            base_ms: 500,
            cap_ms: 60_000,
            max_tries: Some(6),
        },
        // Only 429 is retried on an order (Duffel refused it before doing anything).
        Phase::Order => Policy {
            base_ms: 2_000,
            cap_ms: 30_000,
            max_tries: Some(3),
        },
        // A read of the intent while the traveller authenticates: retried until the deadline.
        Phase::AwaitTraveller { .. } => Policy {
            base_ms: 5_000,
            cap_ms: 300_000,
            max_tries: None,
        },
        Phase::FindIntent { .. } | Phase::Reconcile => Policy {
            base_ms: 2_000,
            cap_ms: 600_000,
            max_tries: None,
        },
        Phase::Capture | Phase::Release { .. } => Policy {
            base_ms: 500,
            cap_ms: 300_000,
            max_tries: None,
        },
        Phase::Finish { .. } | Phase::Closed { .. } => Policy {
            base_ms: 0,
            cap_ms: 0,
            max_tries: Some(0),
        },
    }
}

/// Milliseconds to wait after `tries` failed tries (`tries ≥ 1`).
pub fn backoff_ms(policy: Policy, tries: u32, seed: u64) -> i64 {
    let exponent = tries.saturating_sub(1).min(30);
    let delay = policy
        .base_ms
        .saturating_mul(1_i64 << exponent)
        .min(policy.cap_ms)
        .max(0);
    let half = delay / 2;
    let span = u64::try_from(half + 1).unwrap_or(1);
    let jitter = i64::try_from(mix(seed ^ u64::from(tries)) % span).unwrap_or(0);
    half + jitter
}

/// SplitMix64's finaliser: a cheap, well-spread hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        let p = policy(Phase::Authorize);
        for tries in 1..=12 {
            let d = p.base_ms.saturating_mul(1 << (tries - 1)).min(p.cap_ms);
            for seed in 0..50 {
                let wait = backoff_ms(p, tries, seed);
                assert!(
                    wait >= d / 2 && wait <= d,
                    "tries {tries} seed {seed}: {wait}"
                );
            }
        }
        assert!(backoff_ms(p, 40, 7) <= p.cap_ms);
    }

    #[test]
    fn jitter_depends_on_the_seed_and_is_deterministic() {
        let p = policy(Phase::Capture);
        let waits: std::collections::BTreeSet<i64> =
            (0..20).map(|seed| backoff_ms(p, 4, seed)).collect();
        assert!(waits.len() > 5);
        assert_eq!(backoff_ms(p, 4, 3), backoff_ms(p, 4, 3));
    }

    #[test]
    fn money_holding_phases_never_give_up() {
        assert_eq!(policy(Phase::Capture).max_tries, None);
        assert_eq!(policy(Phase::Reconcile).max_tries, None);
        assert_eq!(policy(Phase::Reprice).max_tries, Some(4));
    }
}
