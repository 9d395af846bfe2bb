use super::*;
use crate::money::Currency;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);

fn gbp(minor: i64) -> Money {
    Money::from_minor(minor, Currency::parse("GBP").unwrap()).unwrap()
}

fn trip(days_out: i64) -> TripView {
    TripView {
        status: TripStatus::Watching,
        auto_book: true,
        departs_at: NOW.plus_ms(days_out * DAY_MS),
        max_total: gbp(40_000),
        has_selected_offer: true,
    }
}

fn priced(minor: i64) -> Quote {
    Quote::Priced {
        total: gbp(minor),
        expires_at: Some(NOW.plus_ms(HOUR_MS)),
    }
}

#[test]
fn books_only_within_budget_same_currency_and_with_consent() {
    assert_eq!(decide(&trip(30), priced(40_000), NOW, 1), Decision::Book);
    assert!(matches!(
        decide(&trip(30), priced(40_001), NOW, 1),
        Decision::Wait {
            reason: "over_budget",
            ..
        }
    ));
    let eur = Quote::Priced {
        total: Money::from_minor(100, Currency::parse("EUR").unwrap()).unwrap(),
        expires_at: None,
    };
    assert!(matches!(
        decide(&trip(30), eur, NOW, 1),
        Decision::SearchAgain {
            reason: "currency_mismatch",
            ..
        }
    ));
    let mut off = trip(30);
    off.auto_book = false;
    assert!(matches!(
        decide(&off, priced(100), NOW, 1),
        Decision::Wait {
            reason: "auto_book_off",
            ..
        }
    ));
}

#[test]
fn gone_or_expired_offers_search_again_and_outages_wait() {
    assert!(matches!(
        decide(&trip(30), Quote::Gone, NOW, 1),
        Decision::SearchAgain {
            reason: "offer_gone",
            ..
        }
    ));
    let stale = Quote::Priced {
        total: gbp(1),
        expires_at: Some(NOW),
    };
    assert!(matches!(
        decide(&trip(30), stale, NOW, 1),
        Decision::SearchAgain {
            reason: "offer_expired",
            ..
        }
    ));
    assert!(matches!(
        decide(&trip(30), Quote::Unavailable, NOW, 1),
        Decision::Wait {
            reason: "provider_unavailable",
            ..
        }
    ));
}

#[test]
fn expires_near_departure_and_skips_other_statuses() {
    let close = TripView {
        departs_at: NOW.plus_ms(MIN_LEAD_MS - 1),
        ..trip(0)
    };
    assert_eq!(
        decide(&close, priced(1), NOW, 1),
        Decision::Expire {
            reason: "departure_too_close"
        }
    );
    let mut booked = trip(30);
    booked.status = TripStatus::Booked;
    assert!(matches!(
        decide(&booked, priced(1), NOW, 1),
        Decision::Skip { .. }
    ));
}

#[test]
fn checks_get_more_frequent_as_departure_nears_with_bounded_jitter() {
    let gap = |days: i64, seed| {
        next_check_at(NOW, NOW.plus_ms(days * DAY_MS), seed).unix_ms() - NOW.unix_ms()
    };
    for seed in 0..100 {
        let far = gap(90, seed);
        assert!((12 * HOUR_MS..=12 * HOUR_MS + 12 * HOUR_MS / 10).contains(&far));
        assert!((6 * HOUR_MS..=6 * HOUR_MS + 6 * HOUR_MS / 10).contains(&gap(30, seed)));
        assert!((2 * HOUR_MS..=2 * HOUR_MS + 2 * HOUR_MS / 10).contains(&gap(7, seed)));
        assert!((30 * MINUTE_MS..=33 * MINUTE_MS).contains(&gap(2, seed)));
    }
    let distinct: std::collections::BTreeSet<i64> = (0..50).map(|s| gap(30, s)).collect();
    assert!(distinct.len() > 10, "jitter spreads trips");
    assert_eq!(gap(30, 7), gap(30, 7), "deterministic per seed");
    // Never past the last useful moment before departure.
    let departs = NOW.plus_ms(MIN_LEAD_MS + 10 * MINUTE_MS);
    assert_eq!(
        next_check_at(NOW, departs, 3),
        departs.plus_ms(-MIN_LEAD_MS)
    );
    assert_eq!(next_check_at(NOW, NOW, 3), NOW.plus_ms(MINUTE_MS));
}

#[test]
fn budget_bounds_the_batch_and_leaves_the_rest() {
    // 20 calls: 10 kept for bookings, 10 checks at one call each, but the batch is 8.
    let budget = Budget::new(8, 20);
    assert_eq!(budget.reserve, 10);
    assert_eq!(budget.claimable(50), 8);
    let mut budget = Budget::new(10, 6);
    assert_eq!(budget.claimable(50), 3);
    assert!(budget.take_trip() && budget.take_trip() && budget.take_trip());
    assert!(!budget.take_trip());
    assert_eq!(
        budget.calls_left, 3,
        "the booking reserve is never taken by checks"
    );
    // The shipped defaults: 1,000 checks and room for 20 bookings.
    assert_eq!(Budget::new(1000, 1100).claimable(u32::MAX), 1000);
    assert_eq!(Budget::new(10_000, 10_100).claimable(20_000), 10_000);
    assert_eq!(Budget::new(2, 1000).claimable(5), 2);
    assert_eq!(Budget::new(2, 1000).claimable(1), 1);
}

#[test]
fn claim_limit_follows_batch_and_budget_even_when_paused() {
    let settings = |enabled, batch, budget| MonitorSettings {
        monitor_enabled: enabled,
        batch_size: batch,
        provider_call_budget: budget,
    };
    // Paused runs still claim (the SQL hands out only attempts that may hold money).
    assert_eq!(claim_limit(&settings(false, 50, 1_000)), 50);
    assert_eq!(claim_limit(&settings(true, 50, 1_000)), 50);
    assert_eq!(
        claim_limit(&settings(true, 50, 60)),
        30,
        "half kept for bookings"
    );
    assert_eq!(claim_limit(&settings(true, 50, 1)), 1);
    assert_eq!(claim_limit(&settings(true, 50, 0)), 0);
    let parsed: MonitorSettings = serde_json::from_str(
        r#"{"monitor_enabled":true,"batch_size":7,"provider_call_budget":600,"concurrency":4,"lock_lease_ms":60000}"#,
    )
    .unwrap();
    assert_eq!(claim_limit(&parsed), 7);
    let defaults: MonitorSettings = serde_json::from_str("{}").unwrap();
    assert!(
        !defaults.monitor_enabled,
        "a missing kill switch reads as off"
    );
    assert_eq!(claim_limit(&defaults), 10, "the default batch");
}

#[test]
fn departure_lower_bound_reads_local_times_at_utc_plus_14() {
    let date = NaiveDate::from_ymd_opt(2027, 3, 12).unwrap();
    assert_eq!(
        departure_lower_bound(date, None).to_rfc3339(),
        "2027-03-11T10:00:00.000Z"
    );
    let first = date.and_hms_opt(9, 25, 0).unwrap();
    assert_eq!(
        departure_lower_bound(date, Some(first)).to_rfc3339(),
        "2027-03-11T19:25:00.000Z"
    );
}
