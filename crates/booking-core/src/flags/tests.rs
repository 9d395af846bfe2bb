use proptest::prelude::*;
use serde::Deserialize;

use super::*;

fn uuid(text: &str) -> Uuid {
    Uuid::parse(text).expect("uuid")
}

#[derive(Deserialize)]
struct Vectors {
    buckets: Vec<BucketVector>,
}

#[derive(Deserialize)]
struct BucketVector {
    flag: String,
    user: String,
    bucket: u16,
}

/// The shared vectors: the pgTAP test `180_feature_flags.sql` checks the same file's values
/// against `app.flag_bucket`.
#[test]
fn shared_vectors_bucket_identically() {
    let text = include_str!("../../../../tests/vectors/flag_buckets.json");
    let vectors: Vectors = serde_json::from_str(text).expect("vectors");
    assert!(vectors.buckets.len() >= 20);
    for v in &vectors.buckets {
        assert_eq!(
            bucket(&v.flag, &uuid(&v.user)),
            v.bucket,
            "{} {}",
            v.flag,
            v.user
        );
    }
}

#[test]
fn upper_case_ids_bucket_like_lower_case() {
    let lower = uuid("6f1c2b9e-0d3a-4c5b-8e7f-a1b2c3d4e5f6");
    let upper = uuid("6F1C2B9E-0D3A-4C5B-8E7F-A1B2C3D4E5F6");
    assert_eq!(
        bucket("auto_booking", &lower),
        bucket("auto_booking", &upper)
    );
}

fn flag(enabled: bool, rollout_bp: u16) -> Flag {
    Flag {
        name: AUTO_BOOKING.into(),
        enabled,
        rollout_bp,
        allow_users: vec![],
        deny_users: vec![],
    }
}

#[test]
fn disabled_deny_allow_and_kill_switch() {
    let u = uuid("00000000-0000-4000-8000-000000000001");
    assert!(!flag(false, 10_000).allows(&u));
    assert!(flag(true, 10_000).allows(&u));
    assert!(!flag(true, 0).allows(&u));
    let mut allowed = flag(true, 0);
    allowed.allow_users.push(u.clone());
    assert!(allowed.allows(&u));
    allowed.enabled = false;
    assert!(
        !allowed.allows(&u),
        "a disabled flag is off for the allow list too"
    );
    let mut denied = flag(true, 10_000);
    denied.allow_users.push(u.clone());
    denied.deny_users.push(u.clone());
    assert!(!denied.allows(&u), "deny wins over allow");

    let mut snap = FlagSnapshot {
        flags: vec![flag(true, 10_000)],
    };
    assert!(snap.auto_booking(&u));
    snap.flags.push(Flag {
        name: AUTO_BOOKING_KILL_SWITCH.into(),
        enabled: true,
        rollout_bp: 0,
        allow_users: vec![],
        deny_users: vec![],
    });
    assert!(!snap.auto_booking(&u));
    assert!(
        !FlagSnapshot::default().auto_booking(&u),
        "a missing flag is off"
    );
}

#[test]
fn a_rollout_reaches_about_its_share() {
    let f = flag(true, 2_000);
    let users = (0..10_000u32).map(|i| uuid(&format!("{i:08x}-0000-4000-8000-000000000000")));
    let inside = users.filter(|u| f.allows(u)).count();
    assert!(
        (1_800..2_200).contains(&inside),
        "{inside} of 10000 at 20 %"
    );
}

proptest! {
    #[test]
    fn raising_a_rollout_never_moves_a_user_out(
        a in any::<u32>(), b in any::<u64>(), low in 0u16..=10_000, high in 0u16..=10_000,
    ) {
        let (low, high) = (low.min(high), low.max(high));
        let u = uuid(&format!("{a:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (b >> 48) as u16, (b >> 36) as u16 & 0xfff, (b >> 24) as u16 & 0xfff, b & 0xffff_ffff_ffff));
        prop_assert!(bucket(AUTO_BOOKING, &u) < FULL_ROLLOUT_BP);
        if flag(true, low).allows(&u) {
            prop_assert!(flag(true, high).allows(&u));
        }
    }
}

/// The pgTAP file's copy of the vectors (between `-- vectors:begin` and `-- vectors:end`, in a
/// `$vectors$` literal) is the JSON file: SQL is tested on the very same vectors.
#[test]
fn the_pgtap_copy_of_the_vectors_is_the_shared_file() {
    let sql = include_str!("../../../../supabase/tests/database/180_feature_flags.sql");
    let start = sql.find("-- vectors:begin").expect("begin marker");
    let end = sql.find("-- vectors:end").expect("end marker");
    let block = &sql[start..end];
    let open = block.find("$vectors$").expect("literal") + "$vectors$".len();
    let close = block.rfind("$vectors$").expect("literal end");
    let copy: serde_json::Value = serde_json::from_str(&block[open..close]).expect("copy");
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../../../tests/vectors/flag_buckets.json"))
            .expect("file");
    assert_eq!(copy, file);
}
