/**
 * Builders of Duffel v2 objects (reference: contracts-providers.md §1.1–§1.2): places, offers
 * with slices and segments, offer requests, search passengers, and the in-place re-price of an
 * offer's total. Pure: ids come from the {@link IdMinter} passed in, times from the context.
 *
 * @module
 */

import { formatMinor, type IdMinter, parseDecimal } from "../_shared.ts";
import { AIRCRAFT, AIRPORTS, CARRIERS, HUBS } from "./catalog.ts";
import type { ResolvedOffer, SearchContext, SearchPassenger } from "./offer_spec.ts";

/** The Duffel "place" object for an airport. */
export function place(iata: string): Record<string, unknown> {
  const a = AIRPORTS[iata];
  return {
    type: "airport",
    id: `arp_${iata.toLowerCase()}_${(a?.country ?? "xx").toLowerCase()}`,
    iata_code: iata,
    icao_code: null,
    name: a?.name ?? `${iata} Airport`,
    city_name: a?.city ?? iata,
    iata_city_code: iata,
    iata_country_code: a?.country ?? "XX",
    time_zone: a?.timeZone ?? "UTC",
  };
}

/** ISO 8601 duration as Duffel writes it (`PT8H10M`, `P1DT2H`). */
export function isoDuration(minutes: number): string {
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  let s = d > 0 ? `P${d}DT` : "PT";
  if (h > 0) s += `${h}H`;
  if (m > 0 || (h === 0 && d === 0)) s += `${m}M`;
  if (s.endsWith("T")) s = s.slice(0, -1);
  return s;
}

function offsetOf(iata: string): number {
  return AIRPORTS[iata]?.utcOffsetMinutes ?? 0;
}

/** Adds minutes to a local "YYYY-MM-DDTHH:MM:SS" string. */
function addLocal(local: string, minutes: number): string {
  const ms = Date.parse(`${local}Z`) + minutes * 60_000;
  return new Date(ms).toISOString().slice(0, 19);
}

function localStart(date: string, dep: string): string {
  if (dep.includes("T")) return dep.length === 16 ? `${dep}:00` : dep;
  return `${date}T${dep.length === 5 ? `${dep}:00` : dep}`;
}

/** A search passenger as offers and offer requests echo it (no names until ordered). */
function echoPassenger(p: SearchPassenger): Record<string, unknown> {
  return {
    id: p.id,
    type: p.type,
    age: p.age,
    given_name: null,
    family_name: null,
    fare_type: null,
    loyalty_programme_accounts: [],
  };
}

/** Sets an offer's total (and base/tax) in place, as a re-price does. */
export function setOfferTotal(offer: Record<string, unknown>, totalMinor: number): void {
  const currency = offer.total_currency as string;
  const oldTotal = parseDecimal(offer.total_amount, currency) ?? totalMinor;
  const oldBase = parseDecimal(offer.base_amount, currency) ?? totalMinor;
  const base = oldTotal > 0
    ? Math.min(totalMinor, Math.round(oldBase * totalMinor / oldTotal))
    : totalMinor;
  offer.total_amount = formatMinor(totalMinor, currency);
  offer.base_amount = formatMinor(base, currency);
  offer.tax_amount = formatMinor(totalMinor - base, currency);
}

/** Builds a full Duffel v2 offer object. */
export function buildOffer(
  r: ResolvedOffer,
  ctx: SearchContext,
  ids: IdMinter,
  nowMs: number = ctx.now_ms,
): Record<string, unknown> {
  const cur = r.currency;
  const iso = (ms: number) => new Date(ms).toISOString();
  const fmt = (minor: number) => formatMinor(minor, cur);
  const owner = {
    id: `aln_00000000${r.carrier}`,
    iata_code: r.carrier,
    name: CARRIERS[r.carrier] ?? `${r.carrier} Airlines`,
    logo_symbol_url: null,
    conditions_of_carriage_url: null,
  };
  const seatedPax = ctx.passengers.filter((p) => p.type !== "infant_without_seat");
  const flightNoBase = ids.digits(4);
  const timeOnly = r.departing_at.includes("T")
    ? r.departing_at.split("T")[1].slice(0, 5)
    : r.departing_at.slice(0, 5);
  const slices = ctx.slices.map((s, si) => {
    const start = localStart(s.departure_date, si === 0 ? r.departing_at : timeOnly);
    const hubs = HUBS.filter((h) => h !== s.origin && h !== s.destination);
    const points = [s.origin];
    for (let k = 0; k < r.stops; k++) {
      points.push(hubs[(k * 3 + si + s.origin.charCodeAt(0)) % hubs.length]);
    }
    points.push(s.destination);
    const layover = 90;
    const flying = Math.max(30 * (r.stops + 1), r.duration_minutes - layover * r.stops);
    const legMinutes = Math.floor(flying / (r.stops + 1));
    let depLocal = start;
    let depUtcMin = 0; // minutes since slice start, in UTC terms
    const segments = [];
    for (let k = 0; k <= r.stops; k++) {
      const from = points[k];
      const to = points[k + 1];
      const leg = k === r.stops ? flying - legMinutes * r.stops : legMinutes;
      const arrLocal = addLocal(depLocal, leg + offsetOf(to) - offsetOf(from));
      segments.push({
        id: ids.duffel("seg"),
        origin: place(from),
        destination: place(to),
        origin_terminal: String(1 + (k % 5)),
        destination_terminal: String(1 + ((k + 2) % 5)),
        departing_at: depLocal,
        arriving_at: arrLocal,
        duration: isoDuration(leg),
        distance: String(leg * 13),
        marketing_carrier: { iata_code: r.carrier, name: owner.name },
        marketing_carrier_flight_number: String((Number(flightNoBase) + si * 10 + k) % 10000)
          .padStart(4, "0"),
        operating_carrier: { iata_code: r.carrier, name: owner.name },
        operating_carrier_flight_number: String((Number(flightNoBase) + si * 10 + k) % 10000)
          .padStart(4, "0"),
        aircraft: AIRCRAFT[(k + si + r.stops) % AIRCRAFT.length],
        stops: [],
        passengers: seatedPax.map((p) => ({
          passenger_id: p.id,
          cabin_class: r.cabin,
          cabin_class_marketing_name: r.cabin === "premium_economy"
            ? "Premium Economy"
            : r.cabin[0].toUpperCase() + r.cabin.slice(1),
          fare_basis_code: "Y20LGTN2",
          baggages: [{ type: "checked", quantity: r.cabin === "economy" ? 0 : 2 }, {
            type: "carry_on",
            quantity: 1,
          }],
          cabin: null,
        })),
      });
      depUtcMin += leg + (k < r.stops ? layover : 0);
      depLocal = addLocal(arrLocal, k < r.stops ? layover : 0);
    }
    return {
      id: ids.duffel("sli"),
      origin: place(s.origin),
      origin_type: "airport",
      destination: place(s.destination),
      destination_type: "airport",
      duration: isoDuration(depUtcMin),
      fare_brand_name: r.cabin === "economy" ? "Basic" : "Flex",
      conditions: {
        change_before_departure: {
          allowed: r.cabin !== "economy",
          penalty_amount: r.cabin !== "economy" ? fmt(Math.round(r.total_minor * 0.1)) : null,
          penalty_currency: r.cabin !== "economy" ? cur : null,
        },
        advance_seat_selection: null,
        priority_boarding: null,
        priority_check_in: null,
      },
      segments,
    };
  });
  const refundable = r.cabin !== "economy";
  return {
    id: ids.duffel("off"),
    live_mode: false,
    created_at: iso(nowMs),
    updated_at: iso(nowMs),
    expires_at: iso(r.expires_at_ms),
    total_amount: fmt(r.total_minor),
    total_currency: cur,
    base_amount: fmt(r.base_minor),
    base_currency: cur,
    tax_amount: fmt(r.total_minor - r.base_minor),
    tax_currency: cur,
    total_emissions_kg: String(Math.round(r.duration_minutes * 0.9 * ctx.slices.length)),
    owner,
    partial: false,
    passenger_identity_documents_required: false,
    supported_passenger_identity_document_types: ["passport"],
    supported_loyalty_programmes: [],
    private_fares: [],
    passengers: ctx.passengers.map(echoPassenger),
    conditions: {
      refund_before_departure: {
        allowed: refundable,
        penalty_amount: refundable ? fmt(Math.round(r.total_minor * 0.15)) : null,
        penalty_currency: refundable ? cur : null,
      },
      change_before_departure: { allowed: false, penalty_amount: null, penalty_currency: null },
    },
    payment_requirements: r.requires_instant_payment
      ? {
        requires_instant_payment: true,
        price_guarantee_expires_at: null,
        payment_required_by: null,
      }
      : {
        requires_instant_payment: false,
        price_guarantee_expires_at: iso(nowMs + 48 * 3600_000).slice(0, 19) + "Z",
        payment_required_by: iso(nowMs + 72 * 3600_000).slice(0, 19) + "Z",
      },
    slices,
  };
}

/** Passengers of a search, with deterministic `pas_` ids. */
export function searchPassengers(
  passengers: ({ type: "adult" } | { age: number })[],
  ids: IdMinter,
): SearchPassenger[] {
  return passengers.map((p) => {
    if ("age" in p) {
      return {
        id: ids.duffel("pas"),
        type: p.age < 2 ? "infant_without_seat" : p.age < 18 ? "child" : "adult",
        age: p.age,
      };
    }
    return { id: ids.duffel("pas"), type: "adult", age: null };
  });
}

/** The offer-request object (without `offers`). */
export function buildOfferRequest(
  id: string,
  ctx: SearchContext,
  clientKey: string,
): Record<string, unknown> {
  return {
    id,
    live_mode: false,
    created_at: new Date(ctx.now_ms).toISOString(),
    cabin_class: ctx.cabin_class,
    client_key: clientKey,
    slices: ctx.slices.map((s) => ({
      origin: place(s.origin),
      origin_type: "airport",
      destination: place(s.destination),
      destination_type: "airport",
      departure_date: s.departure_date,
      departure_time: null,
      arrival_time: null,
    })),
    passengers: ctx.passengers.map(echoPassenger),
  };
}
