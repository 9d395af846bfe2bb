/**
 * Offer specs of the fake Duffel: the compact description a test scripts per route
 * (`POST /_fake/routes` → `offers[]`), its resolution against a search, and the deterministic
 * specs of unscripted routes (seeded by route, dates and cabin).
 *
 * @module
 */

import { currencyExponent, parseDecimal, Rng } from "../_shared.ts";
import { CABIN_CLASSES, CABIN_FACTOR, CARRIERS, GBP_RATES } from "./catalog.ts";

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
