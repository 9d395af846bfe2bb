/**
 * Pure builders of Duffel v2 offer and offer-request objects (reference:
 * contracts-providers.md §1.1–§1.2), used by the fake Duffel server and importable by benchmarks:
 *
 * ```ts
 * import { generateOfferRequestBody } from "../tests/fakes/duffel_offers.ts";
 * const bytes = new TextEncoder().encode(generateOfferRequestBody(1000));
 * ```
 *
 * No clock, no randomness outside a seeded generator: the same inputs give the same bytes.
 *
 * Realism notes. Offers carry the full v2 shape (ids `off_`/`pas_`/`sli_`/`seg_`, decimal-string
 * money with the currency's ISO 4217 exponent, owner, passengers, conditions,
 * payment_requirements, slices with segments, ISO 8601 durations, local times without offset,
 * marketing/operating carriers, segment `stops`, per-segment passenger cabin and baggage).
 * Connections are modelled as extra segments (a 1-stop slice has 2 segments, each with `stops:[]`),
 * as Duffel does; arrival local times apply a fixed (DST-free) UTC offset per airport, so
 * `arriving_at - departing_at` differs from `duration` across time zones, as on the real API.
 * Generated offers are about 2–3 KB each; real ones are about 6 KB (more services and
 * loyalty data), so byte sizes in benchmarks are an under-estimate.
 *
 * @module
 */

import { currencyExponent, formatMinor, IdMinter, parseDecimal, Rng } from "./_shared.ts";

/** One airport the fake knows; unknown IATA codes get a generic place with UTC time. */
interface Airport {
  name: string;
  city: string;
  country: string;
  timeZone: string;
  utcOffsetMinutes: number;
}

const AIRPORTS: Readonly<Record<string, Airport>> = {
  LHR: {
    name: "Heathrow Airport",
    city: "London",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  LGW: {
    name: "Gatwick Airport",
    city: "London",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  STN: {
    name: "Stansted Airport",
    city: "London",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  MAN: {
    name: "Manchester Airport",
    city: "Manchester",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  DUB: {
    name: "Dublin Airport",
    city: "Dublin",
    country: "IE",
    timeZone: "Europe/Dublin",
    utcOffsetMinutes: 0,
  },
  JFK: {
    name: "John F. Kennedy International Airport",
    city: "New York",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  EWR: {
    name: "Newark Liberty International Airport",
    city: "New York",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  BOS: {
    name: "Logan International Airport",
    city: "Boston",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  PVD: {
    name: "T. F. Green International Airport",
    city: "Providence",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  ORD: {
    name: "O'Hare International Airport",
    city: "Chicago",
    country: "US",
    timeZone: "America/Chicago",
    utcOffsetMinutes: -360,
  },
  LAX: {
    name: "Los Angeles International Airport",
    city: "Los Angeles",
    country: "US",
    timeZone: "America/Los_Angeles",
    utcOffsetMinutes: -480,
  },
  SFO: {
    name: "San Francisco International Airport",
    city: "San Francisco",
    country: "US",
    timeZone: "America/Los_Angeles",
    utcOffsetMinutes: -480,
  },
  CDG: {
    name: "Paris Charles de Gaulle Airport",
    city: "Paris",
    country: "FR",
    timeZone: "Europe/Paris",
    utcOffsetMinutes: 60,
  },
  AMS: {
    name: "Amsterdam Airport Schiphol",
    city: "Amsterdam",
    country: "NL",
    timeZone: "Europe/Amsterdam",
    utcOffsetMinutes: 60,
  },
  FRA: {
    name: "Frankfurt Airport",
    city: "Frankfurt",
    country: "DE",
    timeZone: "Europe/Berlin",
    utcOffsetMinutes: 60,
  },
  MAD: {
    name: "Adolfo Suárez Madrid–Barajas Airport",
    city: "Madrid",
    country: "ES",
    timeZone: "Europe/Madrid",
    utcOffsetMinutes: 60,
  },
  KEF: {
    name: "Keflavík International Airport",
    city: "Reykjavík",
    country: "IS",
    timeZone: "Atlantic/Reykjavik",
    utcOffsetMinutes: 0,
  },
  IST: {
    name: "Istanbul Airport",
    city: "Istanbul",
    country: "TR",
    timeZone: "Europe/Istanbul",
    utcOffsetMinutes: 180,
  },
  DXB: {
    name: "Dubai International Airport",
    city: "Dubai",
    country: "AE",
    timeZone: "Asia/Dubai",
    utcOffsetMinutes: 240,
  },
  DOH: {
    name: "Hamad International Airport",
    city: "Doha",
    country: "QA",
    timeZone: "Asia/Qatar",
    utcOffsetMinutes: 180,
  },
  KWI: {
    name: "Kuwait International Airport",
    city: "Kuwait City",
    country: "KW",
    timeZone: "Asia/Kuwait",
    utcOffsetMinutes: 180,
  },
  HND: {
    name: "Haneda Airport",
    city: "Tokyo",
    country: "JP",
    timeZone: "Asia/Tokyo",
    utcOffsetMinutes: 540,
  },
  NRT: {
    name: "Narita International Airport",
    city: "Tokyo",
    country: "JP",
    timeZone: "Asia/Tokyo",
    utcOffsetMinutes: 540,
  },
  SIN: {
    name: "Singapore Changi Airport",
    city: "Singapore",
    country: "SG",
    timeZone: "Asia/Singapore",
    utcOffsetMinutes: 480,
  },
  RAI: {
    name: "Nelson Mandela International Airport",
    city: "Praia",
    country: "CV",
    timeZone: "Atlantic/Cape_Verde",
    utcOffsetMinutes: -60,
  },
};

const HUBS = ["AMS", "CDG", "FRA", "DUB", "KEF", "MAD", "IST", "DOH", "DXB", "BOS", "ORD"];

const CARRIERS: Readonly<Record<string, string>> = {
  ZZ: "Duffel Airways",
  BA: "British Airways",
  AA: "American Airlines",
  VS: "Virgin Atlantic",
  AF: "Air France",
  KL: "KLM",
  LH: "Lufthansa",
  EK: "Emirates",
  JL: "Japan Airlines",
  KU: "Kuwait Airways",
};

const AIRCRAFT = [
  { iata_code: "789", name: "Boeing 787-9" },
  { iata_code: "77W", name: "Boeing 777-300ER" },
  { iata_code: "359", name: "Airbus A350-900" },
  { iata_code: "32N", name: "Airbus A320neo" },
];

/** Cabin classes Duffel accepts. */
export const CABIN_CLASSES = ["first", "business", "premium_economy", "economy"] as const;

const CABIN_FACTOR: Readonly<Record<string, number>> = {
  economy: 1,
  premium_economy: 1.7,
  business: 3.5,
  first: 6,
};

/** Rough GBP → currency rates for generated prices (fixed, so output is deterministic). */
const GBP_RATES: Readonly<Record<string, number>> = {
  GBP: 1,
  USD: 1.27,
  EUR: 1.17,
  CHF: 1.12,
  JPY: 190,
  KWD: 0.39,
  BHD: 0.48,
  AED: 4.66,
  ISK: 175,
};

/** A compact, scriptable description of one offer (`POST /_fake/routes` → `offers[]`). */
export interface OfferSpec {
  /** Total as a decimal string in `currency` (e.g. "399.00", "54000" for JPY). */
  total?: string;
  /** ISO currency; defaults to the route's currency, then GBP. */
  currency?: string;
  /** Base fare as a decimal string; default 82% of the total. */
  base?: string;
  /** Connections per slice (0 = nonstop). */
  stops?: number;
  /** Cabin for every segment passenger; default the searched cabin. */
  cabin?: string;
  /** Duration of each slice in minutes. */
  duration_minutes?: number;
  /** Marketing and owning carrier IATA code; default ZZ. */
  carrier?: string;
  /** Local departure time of the first segment: "HH:MM" or a full "YYYY-MM-DDTHH:MM:SS". */
  departing_at?: string;
  /** Offer lifetime from the search; default 1800 (Duffel's ≈30 min). 0 or less: already expired. */
  expires_in_seconds?: number;
  /** `payment_requirements.requires_instant_payment`; default true. */
  requires_instant_payment?: boolean;
  /** Per-offer re-pricing schedule; overrides the route's `reprice`. */
  reprice?: string[];
}

/** A passenger of an offer request, as echoed in offers. */
export interface SearchPassenger {
  /** `pas_…` id. */
  id: string;
  /** `adult`, `child` or `infant_without_seat`. */
  type: string;
  /** Age when searched by age, else null. */
  age: number | null;
}

/** One requested slice. */
export interface SearchSlice {
  /** Origin IATA code. */
  origin: string;
  /** Destination IATA code. */
  destination: string;
  /** ISO date. */
  departure_date: string;
}

/** Everything an offer depends on besides its spec. */
export interface SearchContext {
  /** Requested slices. */
  slices: SearchSlice[];
  /** Passengers with their ids. */
  passengers: SearchPassenger[];
  /** Requested cabin; default economy. */
  cabin_class: string;
  /** Requested maximum connections, if any. */
  max_connections: number | null;
  /** The search time, milliseconds since the epoch. */
  now_ms: number;
  /** Currency of generated offers (the "org billing currency"). */
  currency: string;
}

/** A spec with every field decided. */
export interface ResolvedOffer {
  /** Total in minor units. */
  total_minor: number;
  /** ISO currency (upper case). */
  currency: string;
  /** Base fare in minor units. */
  base_minor: number;
  /** Connections per slice. */
  stops: number;
  /** Segment cabin. */
  cabin: string;
  /** Minutes per slice. */
  duration_minutes: number;
  /** Carrier IATA code. */
  carrier: string;
  /** "HH:MM" or full local datetime for the first slice. */
  departing_at: string;
  /** Expiry, ms since the epoch. */
  expires_at_ms: number;
  /** Whether the offer can only be booked with instant payment. */
  requires_instant_payment: boolean;
}

/** Thrown for an offer spec that cannot be turned into an offer (bad decimal, unknown cabin). */
export class OfferSpecError extends Error {
  /** The spec field at fault. */
  readonly field: string;
  /** @param field the offending field; @param message human text */
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** Resolves a scripted spec against a search (explicit values win, the rest from defaults). */
export function resolveSpec(
  spec: OfferSpec,
  ctx: SearchContext,
  routeCurrency?: string,
): ResolvedOffer {
  const currency = (spec.currency ?? routeCurrency ?? ctx.currency ?? "GBP").toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new OfferSpecError("currency", "must be an ISO 4217 code");
  }
  const total = spec.total === undefined
    ? 39900 * 10 ** (currencyExponent(currency) - 2)
    : parseDecimal(spec.total, currency);
  if (total === null || !Number.isSafeInteger(total)) {
    throw new OfferSpecError(
      "total",
      `not a ${currency} decimal with at most ${currencyExponent(currency)} decimals`,
    );
  }
  let base = Math.round(total * 0.82);
  if (spec.base !== undefined) {
    const b = parseDecimal(spec.base, currency);
    if (b === null || b > total) {
      throw new OfferSpecError("base", "must be a decimal not above total");
    }
    base = b;
  }
  const cabin = spec.cabin ?? ctx.cabin_class;
  if (!(CABIN_CLASSES as readonly string[]).includes(cabin)) {
    throw new OfferSpecError("cabin", "unknown cabin");
  }
  const stops = spec.stops ?? 0;
  if (!Number.isInteger(stops) || stops < 0 || stops > 3) {
    throw new OfferSpecError("stops", "must be 0–3");
  }
  const duration = spec.duration_minutes ?? 300 + stops * 150;
  if (!Number.isInteger(duration) || duration < 30) {
    throw new OfferSpecError("duration_minutes", "integer ≥ 30");
  }
  const carrier = (spec.carrier ?? "ZZ").toUpperCase();
  if (!/^[A-Z0-9]{2}$/.test(carrier)) {
    throw new OfferSpecError("carrier", "must be a 2-character IATA code");
  }
  const dep = spec.departing_at ?? "09:00";
  if (!/^(\d{4}-\d{2}-\d{2}T)?\d{2}:\d{2}(:\d{2})?$/.test(dep)) {
    throw new OfferSpecError("departing_at", "HH:MM or YYYY-MM-DDTHH:MM:SS");
  }
  return {
    total_minor: total,
    currency,
    base_minor: base,
    stops,
    cabin,
    duration_minutes: duration,
    carrier,
    departing_at: dep,
    expires_at_ms: ctx.now_ms + (spec.expires_in_seconds ?? 1800) * 1000,
    requires_instant_payment: spec.requires_instant_payment ?? true,
  };
}

/** Deterministic offers for an unscripted route: seeded by route, dates and cabin. */
export function generateSpecs(n: number, ctx: SearchContext, seed = ""): ResolvedOffer[] {
  const first = ctx.slices[0];
  const routeKey = `${first.origin}-${first.destination}`;
  const routeRng = new Rng(`route:${routeKey}`);
  const routeBasePounds = routeRng.int(90, 520);
  const routeMinutes = routeRng.int(70, 780);
  const rng = new Rng(
    `offers:${seed}:${
      ctx.slices.map((s) => `${s.origin}${s.destination}${s.departure_date}`).join("|")
    }:${ctx.cabin_class}`,
  );
  const currency = ctx.currency.toUpperCase();
  const rate = GBP_RATES[currency] ?? 1;
  const exp = currencyExponent(currency);
  const paxFactor = ctx.passengers.reduce(
    (sum, p) => sum + (p.type === "adult" ? 1 : p.type === "child" ? 0.75 : 0.1),
    0,
  ) || 1;
  const maxStops = Math.min(2, ctx.max_connections ?? 2);
  const carriers = Object.keys(CARRIERS);
  const out: ResolvedOffer[] = [];
  for (let i = 0; i < n; i++) {
    const stops = i % 3 === 0 ? 0 : Math.min(maxStops, rng.int(0, 2));
    const cabin = rng.next() < 0.9 ? ctx.cabin_class : rng.pick(CABIN_CLASSES);
    const carrier = rng.next() < 0.6 ? "ZZ" : rng.pick(carriers);
    const duration = routeMinutes + stops * rng.int(95, 240) + rng.int(-15, 25);
    const pounds = routeBasePounds * (CABIN_FACTOR[cabin] ?? 1) * (stops === 0 ? 1.15 : 1) *
      (0.75 + rng.next() * 0.6) * paxFactor;
    const totalMinor = Math.max(1, Math.round(pounds * rate * 10 ** exp));
    const minutes = rng.int(72, 264) * 5; // 06:00–22:00
    const hh = String(Math.floor(minutes / 60)).padStart(2, "0");
    const mm = String(minutes % 60).padStart(2, "0");
    out.push({
      total_minor: totalMinor,
      currency,
      base_minor: Math.round(totalMinor * (0.7 + rng.next() * 0.2)),
      stops,
      cabin,
      duration_minutes: Math.max(30, duration),
      carrier,
      departing_at: `${hh}:${mm}`,
      expires_at_ms: ctx.now_ms + 1800 * 1000,
      requires_instant_payment: rng.next() < 0.7,
    });
  }
  return out;
}

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
    passengers: ctx.passengers.map((p) => ({
      id: p.id,
      type: p.type,
      age: p.age,
      given_name: null,
      family_name: null,
      fare_type: null,
      loyalty_programme_accounts: [],
    })),
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
    passengers: ctx.passengers.map((p) => ({
      id: p.id,
      type: p.type,
      age: p.age,
      given_name: null,
      family_name: null,
      fare_type: null,
      loyalty_programme_accounts: [],
    })),
  };
}

/** Options for {@link generateOfferRequestBody}. */
export interface GenerateOptions {
  /** Default LHR. */
  origin?: string;
  /** Default JFK. */
  destination?: string;
  /** Default 2027-03-12. */
  departure_date?: string;
  /** Optional return date (adds a second slice). */
  return_date?: string;
  /** Default 1. */
  adults?: number;
  /** Ages of children/infants. */
  child_ages?: number[];
  /** Default economy. */
  cabin_class?: string;
  /** Default GBP. */
  currency?: string;
  /** Search time; default 2027-03-01T10:00:00Z (fixed, so output is reproducible). */
  now_ms?: number;
  /** Extra seed text. */
  seed?: string;
}

/** A Duffel-shaped offer request object with `n` generated offers (`data` of the 201 answer). */
export function generateOfferRequest(
  n: number,
  opts: GenerateOptions = {},
): Record<string, unknown> {
  const ids = new IdMinter(`gen:${opts.seed ?? ""}`);
  const origin = opts.origin ?? "LHR";
  const destination = opts.destination ?? "JFK";
  const slices: SearchSlice[] = [{
    origin,
    destination,
    departure_date: opts.departure_date ?? "2027-03-12",
  }];
  if (opts.return_date) {
    slices.push({ origin: destination, destination: origin, departure_date: opts.return_date });
  }
  const pax: ({ type: "adult" } | { age: number })[] = [];
  for (let i = 0; i < (opts.adults ?? 1); i++) pax.push({ type: "adult" });
  for (const age of opts.child_ages ?? []) pax.push({ age });
  const ctx: SearchContext = {
    slices,
    passengers: searchPassengers(pax, ids),
    cabin_class: opts.cabin_class ?? "economy",
    max_connections: null,
    now_ms: opts.now_ms ?? Date.parse("2027-03-01T10:00:00Z"),
    currency: opts.currency ?? "GBP",
  };
  const orq = buildOfferRequest(ids.duffel("orq"), ctx, "fake_client_key");
  orq.offers = generateSpecs(n, ctx, opts.seed ?? "").map((r) => buildOffer(r, ctx, ids));
  return orq;
}

/** The JSON text of a `POST /air/offer_requests` 201 answer with `n` offers (10, 100, 1000…). */
export function generateOfferRequestBody(n: number, opts: GenerateOptions = {}): string {
  return JSON.stringify({ data: generateOfferRequest(n, opts) });
}
