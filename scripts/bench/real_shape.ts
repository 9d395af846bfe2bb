/**
 * A Duffel answer in the shape of a real test-mode `POST /air/offer_requests` 201 (round trip,
 * one adult, every field the v2 API returns on an offer: nested city places with coordinates,
 * carrier logos and conditions-of-carriage URLs, aircraft, per-slice and per-offer conditions,
 * fare brands, emissions, identity-document lists, payment requirements, baggage), about 6 KB per
 * slice (12 KB per round-trip offer), as real Duffel offers are (the fake's generator writes about
 * half that). Deterministic: the
 * same bytes every run. Not a verbatim recording: none can be committed here (no provider access
 * from this machine); `BENCH_DUFFEL_BODY=<file>` makes `scripts/bench.ts` use a recorded body.
 *
 * @module
 */
import { generateOfferRequest } from "../../tests/fakes/duffel_offers.ts";

const cities: Record<string, [string, string, number, number]> = {
  LHR: ["London", "Europe/London", 51.470311, -0.458118],
  JFK: ["New York", "America/New_York", 40.640556, -73.778519],
};

function realPlace(p: Record<string, unknown>): Record<string, unknown> {
  const iata = String(p.iata_code);
  const [city, tz, lat, lon] = cities[iata] ?? [String(p.city_name), "UTC", 50.1, 8.6];
  return {
    ...p,
    type: "airport",
    time_zone: tz,
    longitude: lon,
    latitude: lat,
    icao_code: `K${iata}`,
    city: {
      type: "city",
      time_zone: null,
      name: city,
      longitude: null,
      latitude: null,
      id: `cit_${iata.toLowerCase()}_xx`,
      icao_code: null,
      iata_country_code: p.iata_country_code,
      iata_code: iata,
      iata_city_code: iata,
      city_name: null,
    },
    airports: null,
  };
}

function carrier(c: Record<string, unknown>): Record<string, unknown> {
  const code = String(c.iata_code);
  return {
    ...c,
    logo_symbol_url:
      `https://assets.duffel.com/img/airlines/for-light-background/full-color-logo/${code}.svg`,
    logo_lockup_url:
      `https://assets.duffel.com/img/airlines/for-light-background/full-color-lockup/${code}.svg`,
    id: `arl_00009VME7D${code}eMags5CliQ`,
    conditions_of_carriage_url: `https://www.example-airline-${code.toLowerCase()}.com/conditions`,
  };
}

/** The answer's JSON text with `n` offers (LHR-JFK 2027-03-12, back 2027-03-19, GBP). */
export function realShapeBody(n = 300): string {
  const orq = generateOfferRequest(n, { seed: "real-shape", return_date: "2027-03-19" });
  const offers = orq.offers as Record<string, unknown>[];
  orq.offers = offers.map((o, i) => {
    const slices = (o.slices as Record<string, unknown>[]).map((s) => ({
      ...s,
      origin: realPlace(s.origin as Record<string, unknown>),
      destination: realPlace(s.destination as Record<string, unknown>),
      origin_type: "airport",
      destination_type: "airport",
      fare_brand_name: ["Basic", "Standard", "Flex"][i % 3],
      conditions: {
        change_before_departure: {
          penalty_currency: i % 2 ? "GBP" : null,
          penalty_amount: i % 2 ? "75.00" : null,
          allowed: i % 2 === 1,
        },
      },
      segments: (s.segments as Record<string, unknown>[]).map((g) => ({
        ...g,
        origin: realPlace(g.origin as Record<string, unknown>),
        destination: realPlace(g.destination as Record<string, unknown>),
        marketing_carrier: carrier(g.marketing_carrier as Record<string, unknown>),
        operating_carrier: carrier(g.operating_carrier as Record<string, unknown>),
        passengers: (g.passengers as Record<string, unknown>[]).map((p) => ({
          ...p,
          fare_basis_code: "Y20LGTN2",
          cabin_class_marketing_name: String(p.cabin_class).replace("_", " "),
          baggages: [{ type: "checked", quantity: 1 }, { type: "carry_on", quantity: 1 }],
        })),
      })),
    }));
    return {
      ...o,
      updated_at: o.created_at,
      total_emissions_kg: String(400 + (i * 37) % 600),
      supported_passenger_identity_document_types: [
        "passport",
        "known_traveler_number",
        "passenger_redress_number",
      ],
      allowed_passenger_identity_document_types: [
        "passport",
        "tax_id",
        "known_traveler_number",
        "passenger_redress_number",
      ],
      private_fares: [],
      owner: carrier(o.owner as Record<string, unknown>),
      slices,
      conditions: {
        refund_before_departure: { penalty_currency: null, penalty_amount: null, allowed: false },
        change_before_departure: {
          penalty_currency: "GBP",
          penalty_amount: "75.00",
          allowed: true,
        },
      },
    };
  });
  return JSON.stringify({ data: orq });
}
