//! Unit tests and properties for offer selection.

use proptest::prelude::*;

use super::*;
use crate::offer::local_time;

const NOW: &str = "2027-03-01T10:00:00Z";

fn now() -> Timestamp {
    Timestamp::parse_rfc3339(NOW).unwrap()
}

fn gbp() -> Currency {
    Currency::parse("GBP").unwrap()
}

fn criteria() -> Criteria {
    Criteria {
        currency: gbp(),
        max_total_minor: 50_000,
        cabin: Cabin::Economy,
        nonstop_only: true,
    }
}

fn offer(id: &str, total: i64) -> Offer {
    Offer {
        provider_offer_id: id.into(),
        total_minor: total,
        currency: gbp(),
        cabin: Cabin::Economy,
        stops: 0,
        duration_minutes: Some(490),
        departing_at: local_time::parse("2027-03-12T09:00:00").unwrap(),
        arriving_at: local_time::parse("2027-03-12T12:10:00").unwrap(),
        carriers: vec!["ZZ".into()],
        expires_at: now().plus_ms(30 * 60 * 1000),
        raw: None,
    }
}

fn ids(selection: &Selection) -> Vec<&str> {
    selection
        .ranked
        .iter()
        .map(|o| o.provider_offer_id.as_str())
        .collect()
}

#[test]
fn lowest_total_wins() {
    let s = select(
        vec![offer("off_a", 30_000), offer("off_b", 22_178)],
        &criteria(),
        now(),
    );
    assert_eq!(s.best().unwrap().provider_offer_id, "off_b");
    assert_eq!(s.decision(), Decision::OfferSelected);
    assert_eq!(s.acceptable, 2);
}

#[test]
fn ties_on_total_break_by_duration_then_departure_then_id() {
    let mut long = offer("off_a", 100);
    long.duration_minutes = Some(500);
    let mut unknown = offer("off_0", 100);
    unknown.duration_minutes = None;
    let short = offer("off_z", 100);
    let s = select(
        vec![long.clone(), unknown.clone(), short.clone()],
        &criteria(),
        now(),
    );
    assert_eq!(ids(&s), vec!["off_z", "off_a", "off_0"]);

    let mut late = offer("off_a", 100);
    late.departing_at = local_time::parse("2027-03-12T18:00:00").unwrap();
    let early = offer("off_z", 100);
    let s = select(vec![late, early], &criteria(), now());
    assert_eq!(ids(&s), vec!["off_z", "off_a"]);

    let s = select(
        vec![offer("off_b", 100), offer("off_a", 100)],
        &criteria(),
        now(),
    );
    assert_eq!(ids(&s), vec!["off_a", "off_b"]);
}

#[test]
fn expiry_margin() {
    let mut gone = offer("off_gone", 1);
    gone.expires_at = now().plus_ms(-1);
    let mut edge = offer("off_edge", 2);
    edge.expires_at = now().plus_ms(EXPIRY_MARGIN_MS);
    let mut inside = offer("off_inside", 3);
    inside.expires_at = now().plus_ms(EXPIRY_MARGIN_MS - 1);
    let mut fine = offer("off_fine", 4);
    fine.expires_at = now().plus_ms(EXPIRY_MARGIN_MS + 1);
    let s = select(vec![gone, edge, inside, fine], &criteria(), now());
    assert_eq!(s.best().unwrap().provider_offer_id, "off_fine");
    assert_eq!(s.rejections.expired, 3);
    assert_eq!(
        ids(&s),
        vec!["off_fine", "off_gone", "off_edge", "off_inside"]
    );
}

#[test]
fn each_criterion_rejects_and_is_counted_once_under_its_first_reason() {
    let mut usd = offer("off_usd", 100);
    usd.currency = Currency::parse("USD").unwrap();
    let pricey = offer("off_pricey", 50_001);
    let at_limit = offer("off_limit", 50_000);
    let mut business = offer("off_biz", 100);
    business.cabin = Cabin::Business;
    let mut one_stop = offer("off_stop", 100);
    one_stop.stops = 1;
    // Fails everything: counted only as expired.
    let mut all_bad = offer("off_bad", 99_999);
    all_bad.expires_at = now();
    all_bad.currency = Currency::parse("EUR").unwrap();
    all_bad.cabin = Cabin::First;
    all_bad.stops = 3;
    // Cheaper than the budget but also wrong cabin and stops: over_budget is not hit, cabin is.
    let mut cabin_and_stops = offer("off_cs", 100);
    cabin_and_stops.cabin = Cabin::First;
    cabin_and_stops.stops = 2;

    let s = select(
        vec![
            usd,
            pricey,
            at_limit,
            business,
            one_stop,
            all_bad,
            cabin_and_stops,
        ],
        &criteria(),
        now(),
    );
    assert_eq!(s.best().unwrap().provider_offer_id, "off_limit");
    assert_eq!(
        s.rejections,
        Rejections {
            expired: 1,
            currency_mismatch: 1,
            over_budget: 1,
            cabin_mismatch: 2,
            too_many_stops: 1,
        }
    );
    assert_eq!(s.rejections.total(), 6);
    assert_eq!(s.ranked.len(), 7);
}

#[test]
fn stops_are_fine_when_not_nonstop_only() {
    let mut one_stop = offer("off_stop", 100);
    one_stop.stops = 2;
    let relaxed = Criteria {
        nonstop_only: false,
        ..criteria()
    };
    assert_eq!(check(&one_stop, &relaxed, now()), Ok(()));
    assert_eq!(
        check(&one_stop, &criteria(), now()),
        Err(Rejection::TooManyStops)
    );
}

#[test]
fn currency_mismatch_is_never_compared() {
    // A JPY offer of 100 "minor units" is far under a GBP budget numerically, but never chosen.
    let mut yen = offer("off_yen", 100);
    yen.currency = Currency::parse("JPY").unwrap();
    let s = select(vec![yen], &criteria(), now());
    assert_eq!(s.best().map(|o| o.provider_offer_id.clone()), None);
    assert_eq!(s.decision(), Decision::NoAcceptableOffer);
    assert_eq!(s.rejections.currency_mismatch, 1);
}

#[test]
fn empty_input() {
    let s = select(Vec::new(), &criteria(), now());
    assert!(s.best().is_none());
    assert_eq!(s.rejections, Rejections::default());
    assert_eq!(
        serde_json::to_string(&s.rejections).unwrap(),
        r#"{"expired":0,"currency_mismatch":0,"over_budget":0,"cabin_mismatch":0,"too_many_stops":0}"#
    );
    assert_eq!(
        serde_json::to_string(&s.decision()).unwrap(),
        r#""no_acceptable_offer""#
    );
}

/// Offers drawn from small domains so ties at every level are common.
fn arb_offer() -> impl Strategy<Value = Offer> {
    (
        0u8..6,
        prop_oneof![
            Just(100i64),
            Just(200),
            Just(49_999),
            Just(50_000),
            Just(50_001)
        ],
        prop::option::of(prop_oneof![Just(60u32), Just(90)]),
        0u32..3,
        0i64..3,
        0u8..3,
        0u8..4,
        0i64..4,
    )
        .prop_map(
            |(id, total, duration, dep_hour, stops, currency, cabin, expiry)| {
                let mut o = offer(&format!("off_{id}"), total);
                o.duration_minutes = duration;
                o.departing_at =
                    local_time::parse(&format!("2027-03-12T0{dep_hour}:00:00")).unwrap();
                o.stops = u32::try_from(stops).unwrap();
                o.currency = Currency::parse(["GBP", "JPY", "KWD"][usize::from(currency)]).unwrap();
                o.cabin = [
                    Cabin::Economy,
                    Cabin::PremiumEconomy,
                    Cabin::Business,
                    Cabin::First,
                ][usize::from(cabin)];
                o.expires_at = now().plus_ms(expiry * 60_000);
                o.carriers = vec![["ZZ", "BA"][usize::from(id % 2)].to_owned()];
                o
            },
        )
}

proptest! {
    #[test]
    fn shuffling_never_changes_the_outcome(
        (original, shuffled) in prop::collection::vec(arb_offer(), 0..24)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        nonstop_only in any::<bool>(),
    ) {
        let c = Criteria { nonstop_only, ..criteria() };
        let a = select(original, &c, now());
        let b = select(shuffled, &c, now());
        prop_assert_eq!(a.rejections, b.rejections);
        prop_assert_eq!(a.acceptable, b.acceptable);
        prop_assert_eq!(
            a.best().map(|o| serde_json::to_string(o).unwrap()),
            b.best().map(|o| serde_json::to_string(o).unwrap())
        );
        prop_assert_eq!(
            serde_json::to_string(&a.ranked).unwrap(),
            serde_json::to_string(&b.ranked).unwrap()
        );
        prop_assert_eq!(a.rejections.total() as usize + a.acceptable, a.ranked.len());
        if let Some(best) = a.best() {
            prop_assert!(check(best, &c, now()).is_ok());
            prop_assert!(a.ranked[..a.acceptable].iter().all(|o| best.total_minor <= o.total_minor));
        }
    }
}
