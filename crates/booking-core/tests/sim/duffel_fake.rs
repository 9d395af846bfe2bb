//! Stand-in for Duffel offers and orders (see `sim` module docs for how it differs from Duffel).

use booking_core::http::{HttpRequest, Method};
use booking_core::money::Money;
use booking_core::saga::Outcome;
use booking_core::time::Timestamp;
use serde_json::{json, Value};

use super::world::Fault;

/// An offer whose price follows a schedule over virtual time.
#[derive(Clone, Debug)]
pub(crate) struct OfferSim {
    pub(crate) id: String,
    /// (from time, total minor units), ascending by time.
    pub(crate) prices: Vec<(i64, i64)>,
    pub(crate) currency: &'static str,
    pub(crate) expires_at: i64,
}

impl OfferSim {
    pub(crate) fn price_at(&self, now: i64) -> i64 {
        self.prices
            .iter()
            .take_while(|(from, _)| *from <= now)
            .last()
            .map_or(self.prices[0].1, |(_, p)| *p)
    }

    fn total(&self, minor: i64) -> String {
        Money::from_minor(
            minor,
            booking_core::money::Currency::parse(self.currency).unwrap(),
        )
        .unwrap()
        .to_decimal_string()
    }
}

#[derive(Clone, Debug)]
pub(crate) struct OrderSim {
    pub(crate) id: String,
    pub(crate) offer_id: String,
    pub(crate) attempt_id: String,
    pub(crate) amount: i64,
    pub(crate) cancelled: bool,
    /// When the order starts showing in look-ups (the airline confirmed it).
    pub(crate) visible_at: i64,
    /// Someone else's order on the same Duffel account (no attempt of this simulation): only an
    /// unfiltered list shows it.
    pub(crate) foreign: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct DuffelFake {
    pub(crate) offers: Vec<OfferSim>,
    pub(crate) orders: Vec<OrderSim>,
    /// The price schedule of offers a search returns (each search lists one fresh offer,
    /// bookable for 30 minutes).
    pub(crate) search_prices: Vec<(i64, i64)>,
    /// Local departure time of the searched flight (`YYYY-MM-DDTHH:MM:SS`).
    pub(crate) departing_at: String,
    pub(crate) searches: u32,
    /// Booking references no database rule expects (`pnr-0001 ✈`).
    pub(crate) hostile: bool,
    /// `GET /air/orders` ignores its `offer_id` filter and lists every order of the account.
    pub(crate) unfiltered: bool,
    /// Orders per page at most, whatever `limit` asks (Duffel's default is 50, its maximum 200).
    pub(crate) page_cap: Option<usize>,
    /// Offers the airline declared gone at order time (`Fault::OfferGone`): every later order
    /// for them is refused with `offer_no_longer_available`, although a re-price still shows
    /// them (the airline's inventory and Duffel's offer cache disagree).
    pub(crate) dead: Vec<String>,
}

impl DuffelFake {
    pub(crate) fn handle(
        &mut self,
        request: &HttpRequest,
        path: &str,
        now: i64,
        fault: Option<Fault>,
        violations: &mut Vec<String>,
        holds: &dyn Fn(&str, i64) -> bool,
    ) -> Outcome {
        if request.header("Duffel-Version") != Some("v2")
            || request.header("Authorization") != Some("Bearer duffel_test_sim")
        {
            violations.push(format!("duffel request without v2 headers: {path}"));
            return respond(401, error("authentication_error", "unauthorized"));
        }
        if let Some(Fault::Before(status)) = fault {
            return respond(status, error("api_error", "unavailable"));
        }
        if path.starts_with("/air/offer_requests") {
            return self.search(now, fault);
        }
        if let Some(id) = path.strip_prefix("/air/offers/") {
            return match (self.offers.iter().find(|o| o.id == id), fault) {
                (_, Some(Fault::Lost)) => Outcome::Timeout,
                (Some(o), _) if o.expires_at > now => {
                    let price = if fault == Some(Fault::PriceSpike) {
                        9_999_999
                    } else {
                        o.price_at(now)
                    };
                    let body = json!({"data": {"id": o.id, "total_amount": o.total(price),
                        "total_currency": o.currency,
                        "expires_at": Timestamp::from_unix_ms(o.expires_at).to_rfc3339(),
                        "passengers": [{"id": "pas_1", "type": "adult"}]}});
                    respond(200, body.to_string())
                }
                _ => respond(
                    422,
                    error("invalid_state_error", "offer_no_longer_available"),
                ),
            };
        }
        if request.method == Method::Get {
            if fault == Some(Fault::Lost) {
                return Outcome::Timeout;
            }
            if fault.is_some() {
                return respond(500, error("api_error", "internal"));
            }
            return self.list_orders(path, now);
        }
        self.create(request, now, fault, violations, holds)
    }

    /// `GET /air/orders?offer_id=…&limit=…&after=…`: one page, oldest first, with Duffel's
    /// `meta.after` cursor (here `c<offset>`; `null` on the last page). A bad `limit` or cursor
    /// is a 422 like Duffel's.
    fn list_orders(&self, path: &str, now: i64) -> Outcome {
        let query = path.split_once('?').map_or("", |(_, q)| q);
        let params = super::form_decode(query);
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let limit = match get("limit").map(str::parse::<usize>) {
            None => 50,
            Some(Ok(n)) if (1..=200).contains(&n) => n,
            Some(_) => return respond(422, error("validation_error", "validation_inclusion")),
        };
        let limit = self.page_cap.map_or(limit, |cap| limit.min(cap));
        let offset = match get("after") {
            None => 0,
            Some(c) => match c.strip_prefix('c').and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => return respond(422, error("validation_error", "validation_format")),
            },
        };
        let offer = get("offer_id");
        let listed: Vec<&OrderSim> = self
            .orders
            .iter()
            .filter(|o| self.unfiltered || Some(o.offer_id.as_str()) == offer)
            .filter(|o| o.visible_at <= now)
            .collect();
        let data: Vec<Value> = listed
            .iter()
            .skip(offset)
            .take(limit)
            .map(|o| order_json(o, self.hostile))
            .collect();
        let after = (offset + limit < listed.len()).then(|| format!("c{}", offset + limit));
        respond(
            200,
            json!({"data": data, "meta": {"limit": limit, "after": after, "before": null}})
                .to_string(),
        )
    }

    /// `POST /air/offer_requests`: one fresh offer in Duffel's wire format.
    fn search(&mut self, now: i64, fault: Option<Fault>) -> Outcome {
        self.searches += 1;
        let offer = OfferSim {
            id: format!("off_s{:04}", self.searches),
            prices: self.search_prices.clone(),
            currency: "GBP",
            expires_at: now + 30 * 60_000,
        };
        let wire = json!({"id": offer.id, "total_amount": offer.total(offer.price_at(now)),
            "total_currency": offer.currency,
            "expires_at": Timestamp::from_unix_ms(offer.expires_at).to_rfc3339(),
            "passengers": [{"id": "pas_1", "type": "adult"}],
            "slices": [{"duration": "PT7H", "segments": [{"departing_at": self.departing_at,
                "arriving_at": self.departing_at, "marketing_carrier": {"iata_code": "ZZ"},
                "passengers": [{"cabin_class": "economy"}]}]}]});
        self.offers.push(offer);
        if fault == Some(Fault::Lost) {
            return Outcome::Timeout;
        }
        respond(
            201,
            json!({"data": {"id": format!("orq_{:04}", self.searches), "offers": [wire]}})
                .to_string(),
        )
    }

    fn create(
        &mut self,
        request: &HttpRequest,
        now: i64,
        fault: Option<Fault>,
        violations: &mut Vec<String>,
        holds: &dyn Fn(&str, i64) -> bool,
    ) -> Outcome {
        let body: Value =
            serde_json::from_str(request.body.as_deref().unwrap_or("")).unwrap_or_default();
        let data = &body["data"];
        let offer_id = data["selected_offers"][0].as_str().unwrap_or("").to_owned();
        let attempt = data["metadata"]["attempt_id"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if data["type"] != "instant" || data["payments"][0]["type"] != "balance" {
            violations.push("order is not an instant balance order".into());
        }
        if data["passengers"][0]["id"] != "pas_1"
            || data["passengers"].as_array().map(Vec::len) != Some(1)
        {
            violations.push("order passengers do not match the offer".into());
        }
        match fault {
            Some(Fault::AirlineUnknown) => {
                return respond(502, error("airline_error", "airline_unknown"))
            }
            Some(Fault::PriceChanged) => {
                return respond(422, error("validation_error", "price_changed"))
            }
            Some(Fault::OfferGone) => self.dead.push(offer_id.clone()),
            _ => {}
        }
        if self.dead.contains(&offer_id) {
            return respond(
                422,
                error("invalid_state_error", "offer_no_longer_available"),
            );
        }
        let Some(offer) = self
            .offers
            .iter()
            .find(|o| o.id == offer_id && o.expires_at > now)
        else {
            return respond(
                422,
                error("invalid_state_error", "offer_no_longer_available"),
            );
        };
        if self
            .orders
            .iter()
            .any(|o| o.offer_id == offer_id && !o.cancelled)
        {
            return respond(
                422,
                error("validation_error", "offer_request_already_booked"),
            );
        }
        let price = offer.price_at(now);
        if data["payments"][0]["amount"] != offer.total(price).as_str()
            || data["payments"][0]["currency"] != offer.currency
        {
            return respond(
                422,
                error(
                    "validation_error",
                    "payment_amount_does_not_match_order_amount",
                ),
            );
        }
        if !holds(&attempt, price) {
            violations.push(format!(
                "order for attempt {attempt} without a matching authorization"
            ));
        }
        let order = OrderSim {
            id: format!("ord_{:04}", self.orders.len() + 1),
            offer_id,
            attempt_id: attempt,
            amount: price,
            cancelled: false,
            foreign: false,
            visible_at: match fault {
                Some(Fault::Late(after)) => now + after,
                _ => now,
            },
        };
        let body = json!({"data": order_json(&order, self.hostile)}).to_string();
        self.orders.push(order);
        match fault {
            Some(Fault::Lost | Fault::Late(_)) => Outcome::Timeout,
            Some(Fault::ExecutedThen500) => respond(500, error("api_error", "internal")),
            _ => respond(201, body),
        }
    }
}

fn order_json(o: &OrderSim, hostile: bool) -> Value {
    let total = Money::from_minor(
        o.amount,
        booking_core::money::Currency::parse("GBP").unwrap(),
    )
    .unwrap()
    .to_decimal_string();
    let reference = if hostile {
        format!("pnr-{} \u{2708}", &o.id[4..])
    } else {
        format!("PNR{}", &o.id[4..])
    };
    json!({"id": o.id, "booking_reference": reference,
        "total_amount": total, "total_currency": "GBP",
        "metadata": {"attempt_id": o.attempt_id, "offer_id": o.offer_id, "source": "autobook"},
        "cancelled_at": if o.cancelled { Value::from("2026-01-01T00:00:00Z") } else { Value::Null }})
}

fn error(kind: &str, code: &str) -> String {
    json!({"errors": [{"type": kind, "code": code, "title": "t", "message": "simulated"}],
        "meta": {"status": 0, "request_id": "sim"}})
    .to_string()
}

fn respond(status: u16, body: String) -> Outcome {
    Outcome::Response {
        status,
        body: body.into_bytes(),
    }
}
