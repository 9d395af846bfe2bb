//! Building Duffel requests.

use chrono::NaiveDate;
use serde::Serialize;

use super::{offers::valid_id, DuffelConfig, OfferError, RESPONSE_GRACE_MS, SHORT_CALL_TIMEOUT_MS};
use crate::http::{HttpRequest, Method};
use crate::iata::IataCode;
use crate::trip::Trip;

#[derive(Serialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Serialize)]
struct OfferRequestData {
    slices: Vec<SliceRequest>,
    passengers: Vec<PassengerRequest>,
    cabin_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<u8>,
}

#[derive(Serialize)]
struct SliceRequest {
    origin: IataCode,
    destination: IataCode,
    departure_date: NaiveDate,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PassengerRequest {
    Adult {
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Child {
        age: u8,
    },
}

/// `POST /air/offer_requests?return_offers=true&supplier_timeout=<ms>` for `trip`.
///
/// Body: `{"data":{"slices":[…],"passengers":[…],"cabin_class":…}}` with an outbound slice, a
/// return slice when `return_date` is set, one `{"type":"adult"}` per adult and one
/// `{"age":n}` per child, and `"max_connections":0` when the trip is nonstop only (omitted
/// otherwise, leaving Duffel's default). The shim's timeout is the supplier timeout plus
/// [`RESPONSE_GRACE_MS`].
pub fn build_offer_request(config: &DuffelConfig, trip: &Trip) -> HttpRequest {
    let mut slices = vec![SliceRequest {
        origin: trip.origin,
        destination: trip.destination,
        departure_date: trip.departure_date,
    }];
    if let Some(return_date) = trip.return_date {
        slices.push(SliceRequest {
            origin: trip.destination,
            destination: trip.origin,
            departure_date: return_date,
        });
    }
    let adults = (0..trip.adults).map(|_| PassengerRequest::Adult { kind: "adult" });
    let children = trip
        .child_ages
        .iter()
        .map(|&age| PassengerRequest::Child { age });
    let body = Envelope {
        data: OfferRequestData {
            slices,
            passengers: adults.chain(children).collect(),
            cabin_class: trip.cabin.as_str(),
            max_connections: trip.nonstop_only.then_some(0),
        },
    };
    config.request(
        Method::Post,
        format!(
            "/air/offer_requests?return_offers=true&supplier_timeout={}",
            config.supplier_timeout_ms()
        ),
        // Serialising these plain structs cannot fail (string keys, no maps, no floats).
        serde_json::to_string(&body).ok(),
        config
            .supplier_timeout_ms()
            .saturating_add(RESPONSE_GRACE_MS),
    )
}

/// `GET /air/offers/{offer_id}`: the latest version of an offer, re-priced by Duffel.
///
/// The id must look like a Duffel id (ASCII letters, digits and `_`, at most 128 characters) so
/// it can go into the path unescaped.
pub fn build_get_offer_request(
    config: &DuffelConfig,
    offer_id: &str,
) -> Result<HttpRequest, OfferError> {
    if !valid_id(offer_id) {
        return Err(OfferError::InvalidId);
    }
    Ok(config.request(
        Method::Get,
        format!("/air/offers/{offer_id}"),
        None,
        SHORT_CALL_TIMEOUT_MS,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::Service;

    fn trip(extra: serde_json::Value) -> Trip {
        let mut row = json!({"id":"0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c",
            "owner_id":"11111111-2222-4333-8444-555555555555","origin":"LHR","destination":"JFK",
            "departure_date":"2027-03-12","return_date":null,"adults":1,"child_ages":[],
            "cabin":"economy","nonstop_only":false,"max_total_minor":84000,"currency":"GBP",
            "auto_book":true,"status":"searching","version":1,
            "created_at":"2026-11-22T10:00:00Z","updated_at":"2026-11-22T10:00:00Z"});
        for (k, v) in extra.as_object().unwrap() {
            row[k] = v.clone();
        }
        serde_json::from_value(row).unwrap()
    }

    fn config() -> DuffelConfig {
        DuffelConfig::default()
    }

    fn body(request: &HttpRequest) -> serde_json::Value {
        serde_json::from_str(request.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn one_way_search_request() {
        let request = build_offer_request(&config(), &trip(json!({})));
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.service, Service::Duffel);
        assert_eq!(
            request.path,
            "/air/offer_requests?return_offers=true&supplier_timeout=20000"
        );
        assert_eq!(
            request.header("Authorization"),
            None,
            "the executor adds it"
        );
        assert_eq!(request.header("Duffel-Version"), Some("v2"));
        assert_eq!(request.header("Accept"), Some("application/json"));
        assert_eq!(request.header("Content-Type"), Some("application/json"));
        assert_eq!(request.header("Accept-Encoding"), None);
        assert_eq!(request.timeout_ms, 30_000);
        assert_eq!(
            body(&request),
            json!({"data":{"slices":[{"origin":"LHR","destination":"JFK","departure_date":"2027-03-12"}],
                   "passengers":[{"type":"adult"}],"cabin_class":"economy"}})
        );
    }

    #[test]
    fn return_nonstop_and_children() {
        let t = trip(
            json!({"return_date":"2027-03-20","adults":2,"child_ages":[9,1],
                            "nonstop_only":true,"cabin":"premium_economy"}),
        );
        assert_eq!(
            body(&build_offer_request(&config(), &t)),
            json!({"data":{
                "slices":[{"origin":"LHR","destination":"JFK","departure_date":"2027-03-12"},
                          {"origin":"JFK","destination":"LHR","departure_date":"2027-03-20"}],
                "passengers":[{"type":"adult"},{"type":"adult"},{"age":9},{"age":1}],
                "cabin_class":"premium_economy","max_connections":0}})
        );
    }

    #[test]
    fn get_offer_request() {
        let request = build_get_offer_request(&config(), "off_0000A").unwrap();
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.path, "/air/offers/off_0000A");
        assert_eq!(request.body, None);
        assert_eq!(request.header("Content-Type"), None);
        assert_eq!(request.header("Duffel-Version"), Some("v2"));
        for bad in ["", "off/../x", "off?x=1", "off 1"] {
            assert_eq!(
                build_get_offer_request(&config(), bad),
                Err(OfferError::InvalidId)
            );
        }
    }
}
