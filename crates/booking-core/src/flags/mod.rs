//! Feature flags: deterministic bucketing and evaluation, identical to the SQL side
//! (`app.flag_bucket`, `app.flag_allows`, `app.auto_booking_allowed` in `supabase/migrations/20261203000601_feature_flag_evaluation.sql`).
//!
//! # The bucketing hash
//!
//! `bucket(flag, user)` is the first four bytes of `SHA-256(flag ":" user)` (UTF-8; the user id
//! in canonical lower-case `8-4-4-4-12` form) read as a big-endian unsigned 32-bit integer,
//! modulo 10000: a number in `0..10000`. A user is in a rollout of `rollout_bp` basis points
//! when `bucket < rollout_bp`. The bucket does not depend on the percentage, so raising a
//! rollout only ever adds users (a user in at 5 % is in at 20 %). The flag name is part of the
//! hash so two flags at 5 % reach different users. The modulo bias (2^32 is not a multiple of
//! 10000) is below 3 in a million per bucket.
//!
//! # Evaluation
//!
//! [`FlagSnapshot::allows`]: a missing or disabled flag is off for everybody (allow list
//! included); the deny list wins over everything; the allow list is in; else the bucket rule.
//! [`FlagSnapshot::auto_booking`] adds the kill switch: when `auto_booking_kill_switch` is
//! enabled, `auto_booking` is off for everybody at once.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::Uuid;

/// Basis points in 100 %.
pub const FULL_ROLLOUT_BP: u16 = 10_000;

/// The flag that gates creating or enabling auto-book, and beginning an attempt.
pub const AUTO_BOOKING: &str = "auto_booking";

/// The kill switch: enabled = `auto_booking` is off for everybody.
pub const AUTO_BOOKING_KILL_SWITCH: &str = "auto_booking_kill_switch";

/// The user's bucket for `flag`, in `0..10000` (see the module docs for the hash).
pub fn bucket(flag: &str, user: &Uuid) -> u16 {
    let mut hasher = Sha256::new();
    hasher.update(flag.as_bytes());
    hasher.update(b":");
    hasher.update(user.as_str().as_bytes());
    let digest = hasher.finalize();
    let head = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // Lossless: the remainder is below 10000.
    (head % u32::from(FULL_ROLLOUT_BP)) as u16
}

/// One flag as `public.feature_flags` stores it (the fields evaluation needs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// The flag's name.
    pub name: String,
    /// Off for everybody when false.
    pub enabled: bool,
    /// Share of users in, in basis points (0..=10000).
    pub rollout_bp: u16,
    /// Always in while enabled.
    #[serde(default)]
    pub allow_users: Vec<Uuid>,
    /// Always out.
    #[serde(default)]
    pub deny_users: Vec<Uuid>,
}

impl Flag {
    /// Whether `user` is in.
    pub fn allows(&self, user: &Uuid) -> bool {
        if !self.enabled || self.deny_users.contains(user) {
            return false;
        }
        self.allow_users.contains(user) || bucket(&self.name, user) < self.rollout_bp
    }
}

/// Every flag as one read saw them (the monitor reads it once per run).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagSnapshot {
    /// The flags.
    pub flags: Vec<Flag>,
}

impl FlagSnapshot {
    /// The named flag, if it exists.
    pub fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// Whether flag `name` is on for `user` (a missing flag is off).
    pub fn allows(&self, name: &str, user: &Uuid) -> bool {
        self.get(name).is_some_and(|f| f.allows(user))
    }

    /// Whether the kill switch is on (every auto-booking rollout overridden off).
    pub fn kill_switch(&self) -> bool {
        self.get(AUTO_BOOKING_KILL_SWITCH)
            .is_some_and(|f| f.enabled)
    }

    /// Whether `user` may auto-book: `auto_booking` on for them and the kill switch off.
    pub fn auto_booking(&self, user: &Uuid) -> bool {
        !self.kill_switch() && self.allows(AUTO_BOOKING, user)
    }
}

#[cfg(test)]
mod tests;
