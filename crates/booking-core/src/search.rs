//! The search stage as one pure step: a Duffel answer in, the contract's "Search result" out.
//!
//! The shim builds the request with [`crate::duffel::build_offer_request`], performs it, and
//! passes the status and body bytes to [`process_search_response`]. On success the result goes
//! to `app.record_search` unchanged; on failure the shim calls `app.record_search_failure` with
//! the error's code and [`search_failure_next_check`]. When the request could not be completed
//! at all, the shim reports a [`TransportFailure`], which is a `provider_unavailable`
//! [`ProviderError`].

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Serialize;

use crate::duffel;
use crate::error::ProviderError;
pub use crate::error::TransportFailure;
use crate::offer::{Offer, MAX_RAW_OFFER_BYTES};
use crate::select::{check, rank_by, Criteria, Decision, Rejections};
use crate::time::Timestamp;
use crate::trip::Trip;

mod offer_json;

/// Most offers stored per search (the best ones).
pub const MAX_STORED_OFFERS: usize = 200;
/// Retry delay after a failed search (5 minutes).
pub const SEARCH_FAILURE_RETRY_MS: i64 = 5 * 60 * 1000;

const MINUTE_MS: i64 = 60 * 1000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// The contract's "Search result", the argument of `app.record_search(trip_id, result)`.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResult {
    /// Always `"duffel"` for now.
    pub provider: &'static str,
    /// The provider's search id (`orq_…`).
    pub offer_request_id: String,
    /// Offers in the provider's answer, malformed and duplicate ones included.
    pub offers_seen: usize,
    /// At most [`MAX_STORED_OFFERS`] offers: acceptable ones in selection order, then the rest.
    /// Only the selected offer (the first, when one is selected) has [`Offer::raw`] set (when
    /// its text is at most [`MAX_RAW_OFFER_BYTES`]); what `app.record_search` stores.
    pub offers: Vec<Offer>,
    /// The selected offer's provider id (the first of `offers`), if any.
    pub selected_provider_offer_id: Option<String>,
    /// Rejected offers per reason.
    pub rejections: Rejections,
    /// Whether an offer was selected.
    pub decision: Decision,
    /// When the monitor should look again ([`next_check_after_search`]).
    pub next_check_at: Timestamp,
    /// Offers skipped because they did not normalize (not part of the contract JSON).
    #[serde(skip)]
    pub malformed: usize,
    /// Offers dropped because another offer had the same provider id (not part of the JSON).
    #[serde(skip)]
    pub duplicates: usize,
}

/// Turns Duffel's answer to the offer request for `trip` into a [`SearchResult`].
///
/// Non-2xx statuses are classified by [`duffel::classify_failure`]; a 2xx body is parsed by
/// [`duffel::parse_offer_request_response`] (malformed offers skipped and counted, a broken
/// envelope is `provider_bad_response`). Offers with the same provider id are reduced to one
/// (the acceptable copy if any, else the best-ranked), so the database's unique key holds.
pub fn process_search_response(
    trip: &Trip,
    status: u16,
    body: &[u8],
    now: Timestamp,
) -> Result<SearchResult, ProviderError> {
    let (mut result, raws) = search_ranked(trip, status, body, now)?;
    // Only the selected offer (the first, when one is selected) keeps its raw text: that is all
    // `app.record_search` stores.
    let selected = result.decision == Decision::OfferSelected;
    result.offers = std::mem::take(&mut result.offers)
        .into_iter()
        .zip(raws)
        .enumerate()
        .map(|(i, (offer, raw))| {
            if selected && i == 0 {
                duffel::attach_raw(offer, raw)
            } else {
                offer
            }
        })
        .collect();
    Ok(result)
}

/// [`process_search_response`] with the result also as its JSON text (exactly
/// `serde_json::to_string` of the [`SearchResult`] that function returns), built without
/// copying the stored offers' raw text into [`Offer::raw`] first: each offer's text goes from the
/// body straight into the JSON. The returned result's offers have `raw` unset. The hot path.
pub fn process_search_response_json(
    trip: &Trip,
    status: u16,
    body: &[u8],
    now: Timestamp,
) -> Result<(SearchResult, String), ProviderError> {
    let (mut result, raws) = search_ranked(trip, status, body, now)?;
    let internal = |_| ProviderError::bad_response("search result not serialisable");
    let offers = std::mem::take(&mut result.offers);
    let outer = serde_json::to_string(&result).map_err(internal)?;
    let selected_raw = raws
        .first()
        .filter(|_| result.decision == Decision::OfferSelected)
        .and_then(|raw| kept_raw(raw))
        .and_then(|raw| std::str::from_utf8(raw).ok());
    // The only `"offers":[]` in the text: the fields before it are fixed words, an id of
    // `[A-Za-z0-9_]` and a number. The offers go between its brackets.
    let at = outer
        .find("\"offers\":[]")
        .ok_or_else(|| ProviderError::bad_response("search result without offers"))?
        + "\"offers\":[".len();
    let mut json =
        String::with_capacity(outer.len() + offers.len() * 400 + selected_raw.map_or(0, str::len));
    json.push_str(&outer[..at]);
    for (i, offer) in offers.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        // Only the selected offer (the first) keeps its raw text.
        offer_json::push_offer(&mut json, offer, selected_raw.filter(|_| i == 0));
    }
    json.push_str(&outer[at..]);
    result.offers = offers;
    Ok((result, json))
}

/// The search up to the stored offers: the result with those offers' `raw` unset, and their raw
/// texts (slices of `body`) in the same order.
fn search_ranked<'a>(
    trip: &Trip,
    status: u16,
    body: &'a [u8],
    now: Timestamp,
) -> Result<(SearchResult, Vec<&'a [u8]>), ProviderError> {
    if !(200..=299).contains(&status) {
        return Err(duffel::classify_failure(status, body));
    }
    let parsed = duffel::parse_offer_request_borrowed(body)?;
    let criteria = Criteria::from_trip(trip);
    let received = parsed.offers.len();
    let unique = dedupe_by_id(parsed.offers, &criteria, now);
    let duplicates = received - unique.len();

    // Ranked next to their raw text (borrowed from `body`): only the stored ones are kept.
    let (mut ranked, acceptable, rejections) = rank_by(unique, |(o, _)| o, &criteria, now);
    let decision = if acceptable > 0 {
        Decision::OfferSelected
    } else {
        Decision::NoAcceptableOffer
    };
    let selected_provider_offer_id = ranked
        .first()
        .filter(|_| acceptable > 0)
        .map(|(o, _)| o.provider_offer_id.clone());
    ranked.truncate(MAX_STORED_OFFERS);
    let (offers, raws) = ranked.into_iter().unzip();

    Ok((
        SearchResult {
            provider: duffel::PROVIDER,
            offer_request_id: parsed.offer_request_id,
            offers_seen: parsed.offers_seen,
            offers,
            selected_provider_offer_id,
            rejections,
            decision,
            next_check_at: next_check_after_search(trip.departure_date, now),
            malformed: parsed.malformed,
            duplicates,
        },
        raws,
    ))
}

/// Keeps one offer per provider id: the acceptable copy first, then the best-ranked one (its raw
/// text as the last tie-break, as [`Offer::cmp_rank`] does), so the choice does not depend on
/// the provider's order.
fn dedupe_by_id<'a>(
    offers: Vec<(Offer, &'a [u8])>,
    criteria: &Criteria,
    now: Timestamp,
) -> Vec<(Offer, &'a [u8])> {
    // The acceptance check once per offer, not once per comparison; the sort moves indices,
    // not offers, and the ids are compared borrowed.
    let rejected: Vec<bool> = offers
        .iter()
        .map(|(o, _)| check(o, criteria, now).is_err())
        .collect();
    let mut order: Vec<usize> = (0..offers.len()).collect();
    order.sort_by(|&x, &y| {
        let ((a, raw_a), (b, raw_b)) = (&offers[x], &offers[y]);
        rejected[x]
            .cmp(&rejected[y])
            .then_with(|| a.cmp_rank(b))
            .then_with(|| kept_raw(raw_a).cmp(&kept_raw(raw_b)))
    });
    let mut seen = HashSet::with_capacity(offers.len());
    let mut keep = vec![false; offers.len()];
    for &i in &order {
        keep[i] = seen.insert(offers[i].0.provider_offer_id.as_str());
    }
    drop(seen);
    let mut slots: Vec<Option<(Offer, &'a [u8])>> = offers.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter(|&i| keep[i])
        .filter_map(|i| slots[i].take())
        .collect()
}

/// The raw text an offer would keep ([`duffel::attach_raw`]): `None` above the size limit.
fn kept_raw(raw: &[u8]) -> Option<&[u8]> {
    Some(raw).filter(|text| text.len() <= MAX_RAW_OFFER_BYTES)
}

/// When to look again after a successful search: every 30 minutes when departure is at most 7
/// days after `now`'s UTC date (including departures already past, which the monitor then closes),
/// every 2 hours up to 30 days, every 6 hours beyond.
pub fn next_check_after_search(departure_date: NaiveDate, now: Timestamp) -> Timestamp {
    let days = (departure_date - now.utc_date()).num_days();
    let delay = if days <= 7 {
        30 * MINUTE_MS
    } else if days <= 30 {
        2 * HOUR_MS
    } else {
        6 * HOUR_MS
    };
    now.plus_ms(delay)
}

/// When to try again after a failed search: [`SEARCH_FAILURE_RETRY_MS`] after `now`.
pub fn search_failure_next_check(now: Timestamp) -> Timestamp {
    now.plus_ms(SEARCH_FAILURE_RETRY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        crate::trip::parse_iso_date(text).unwrap()
    }

    #[test]
    fn next_check_policy_boundaries() {
        let now = at("2026-11-22T23:59:00Z");
        let delay = |d: &str| next_check_after_search(date(d), now).unix_ms() - now.unix_ms();
        assert_eq!(delay("2026-11-20"), 30 * MINUTE_MS);
        assert_eq!(delay("2026-11-22"), 30 * MINUTE_MS);
        assert_eq!(delay("2026-11-29"), 30 * MINUTE_MS);
        assert_eq!(delay("2026-11-30"), 2 * HOUR_MS);
        assert_eq!(delay("2026-12-22"), 2 * HOUR_MS);
        assert_eq!(delay("2026-12-23"), 6 * HOUR_MS);
        assert_eq!(
            search_failure_next_check(now).to_rfc3339(),
            "2026-11-23T00:04:00.000Z"
        );
    }

    #[test]
    fn the_json_hot_path_writes_exactly_the_serialised_result() {
        let trip: Trip = serde_json::from_str(
            r#"{"id":"0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c","owner_id":"11111111-2222-4333-8444-555555555555",
            "origin":"LHR","destination":"JFK","departure_date":"2027-03-12","adults":1,"cabin":"economy",
            "max_total_minor":30000,"currency":"GBP","status":"searching","version":1,
            "created_at":"2026-11-22T10:00:00Z","updated_at":"2026-11-22T10:00:00Z"}"#,
        )
        .unwrap();
        let offer = |id: &str, total: &str, pad: usize| {
            format!(
                r#"{{ "id":"{id}","total_amount":"{total}","total_currency":"GBP",
                "expires_at":"2027-03-12T10:00:00Z","pad":"{}","slices":[{{"duration":"PT8H",
                "segments":[{{"departing_at":"2027-03-12T09:00:00","arriving_at":"2027-03-12T12:00:00",
                "marketing_carrier":{{"iata_code":"BA"}},"stops":[],
                "passengers":[{{"cabin_class":"economy"}}]}}]}}] }}"#,
                "x".repeat(pad)
            )
        };
        let body = |selected_pad: usize| {
            format!(
                r#"{{"data":{{"id":"orq_1","offers":[{},{},{},{}]}}}}"#,
                offer("off_a", "250.00", 0),
                offer("off_b", "199.99", selected_pad),
                offer("off_c", "420.00", 3),
                offer("off_a", "260.00", 0)
            )
        };
        let now = at("2027-03-01T10:00:00Z");
        for (pad, selected_has_raw) in [(20_000, false), (5, true)] {
            let body = body(pad);
            let full = process_search_response(&trip, 201, body.as_bytes(), now).unwrap();
            let (fast, json) =
                process_search_response_json(&trip, 201, body.as_bytes(), now).unwrap();
            assert_eq!(json, serde_json::to_string(&full).unwrap());
            assert_eq!(fast.selected_provider_offer_id.as_deref(), Some("off_b"));
            assert_eq!(full.offers.len(), 3);
            // Only the selected offer keeps raw, and only up to 16 KB.
            assert_eq!(full.offers[0].raw.is_some(), selected_has_raw);
            if selected_has_raw {
                let raw = full.offers[0].raw.as_ref().unwrap().get();
                assert!(raw.starts_with("{ \"id\":\"off_b\""));
            }
            assert!(full.offers[1..].iter().all(|o| o.raw.is_none()));
        }
        // Nothing acceptable: no offer keeps raw.
        let broke = Trip {
            max_total_minor: 100,
            ..trip.clone()
        };
        let body = body(5);
        let full = process_search_response(&broke, 201, body.as_bytes(), now).unwrap();
        let (_, json) = process_search_response_json(&broke, 201, body.as_bytes(), now).unwrap();
        assert_eq!(json, serde_json::to_string(&full).unwrap());
        assert_eq!(full.decision, Decision::NoAcceptableOffer);
        assert!(full.offers.iter().all(|o| o.raw.is_none()));
    }

    #[test]
    fn non_2xx_is_classified_without_parsing_offers() {
        let trip: Trip = serde_json::from_str(
            r#"{"id":"0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c","owner_id":"11111111-2222-4333-8444-555555555555",
            "origin":"STN","destination":"LHR","departure_date":"2027-03-12","adults":1,"cabin":"economy",
            "max_total_minor":1000,"currency":"GBP","status":"searching","version":1,
            "created_at":"2026-11-22T10:00:00Z","updated_at":"2026-11-22T10:00:00Z"}"#,
        )
        .unwrap();
        let now = at("2026-11-22T10:00:00Z");
        let err = process_search_response(
            &trip,
            504,
            br#"{"errors":[{"code":"gateway_timeout_error"}]}"#,
            now,
        )
        .unwrap_err();
        assert_eq!(
            (err.code(), err.provider_code()),
            ("provider_unavailable", Some("gateway_timeout_error"))
        );
        let err = process_search_response(&trip, 201, b"not json", now).unwrap_err();
        assert_eq!(err.code(), "provider_bad_response");
        let err = ProviderError::from(TransportFailure::Timeout);
        assert_eq!(err.code(), "provider_unavailable");
    }
}
