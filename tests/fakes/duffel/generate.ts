/**
 * Generated Duffel offer-request answers of any size, for tests and benchmarks
 * (`generateOfferRequestBody(1000)`): deterministic for the same options, on a fixed search time.
 *
 * @module
 */

import { IdMinter } from "../_shared.ts";
import { buildOffer, buildOfferRequest, searchPassengers } from "./offer_builder.ts";
import { generateSpecs, type SearchContext, type SearchSlice } from "./offer_spec.ts";

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
