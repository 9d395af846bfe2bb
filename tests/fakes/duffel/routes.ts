/**
 * Route scripts of the fake Duffel: the built-in routes that mirror Duffel's test-mode routes
 * (contracts-providers.md §1.9) and the check of a script posted to `POST /_fake/routes`.
 *
 * @module
 */

import { isObject, parseDecimal } from "../_shared.ts";
import { type OfferSpec, OfferSpecError, resolveSpec, type SearchContext } from "./offer_spec.ts";
import type { RouteScript } from "./types.ts";
import { IATA } from "./validation.ts";

const BUILT_IN_ROUTES: RouteScript[] = [
  { origin: "PVD", destination: "RAI", offer_count: 0 },
  { origin: "STN", destination: "LHR", search: { status: 504, code: "gateway_timeout_error" } },
  { origin: "LGW", destination: "LHR", offer_gone: true },
  { origin: "LHR", destination: "STN", reprice_step: "10.00" },
  { origin: "LHR", destination: "LGW", order: { status: 502, code: "airline_unknown" } },
  {
    origin: "LGW",
    destination: "STN",
    order: { status: 422, code: "insufficient_balance", type: "invalid_state_error" },
  },
  {
    origin: "LHR",
    destination: "DXB",
    offers: [
      { total: "612.40", stops: 1, duration_minutes: 560, departing_at: "08:15" },
      { total: "578.10", stops: 1, duration_minutes: 655, departing_at: "13:40", carrier: "EK" },
      { total: "530.00", stops: 2, duration_minutes: 900, departing_at: "21:05" },
    ],
  },
];

/** The script key of a route: `ORIGIN-DESTINATION`. */
export function routeKeyOf(origin: string, destination: string): string {
  return `${origin}-${destination}`;
}

/** A fresh copy of the built-in routes, keyed by route. */
export function builtInRoutes(): Map<string, RouteScript> {
  return new Map(
    BUILT_IN_ROUTES.map((r) => [routeKeyOf(r.origin, r.destination), structuredClone(r)]),
  );
}

/** Checks a route script; returns an error message or null. */
export function checkScript(s: unknown): string | null {
  if (!isObject(s)) return "body must be a JSON object";
  if (typeof s.origin !== "string" || !IATA.test(s.origin)) return "origin must be an IATA code";
  if (typeof s.destination !== "string" || !IATA.test(s.destination)) {
    return "destination must be an IATA code";
  }
  if (s.offers !== undefined && !Array.isArray(s.offers)) return "offers must be an array";
  if (
    s.offer_count !== undefined &&
    (!Number.isInteger(s.offer_count) || (s.offer_count as number) < 0 ||
      (s.offer_count as number) > 5000)
  ) return "offer_count must be an integer 0–5000";
  if (s.reprice !== undefined && (!Array.isArray(s.reprice) || s.reprice.length === 0)) {
    return "reprice must be a non-empty array of decimal strings";
  }
  const ctx: SearchContext = {
    slices: [{ origin: s.origin, destination: s.destination, departure_date: "2027-01-01" }],
    passengers: [{ id: "pas_x", type: "adult", age: null }],
    cabin_class: "economy",
    max_connections: null,
    now_ms: 0,
    currency: "GBP",
  };
  try {
    for (const o of (s.offers ?? []) as OfferSpec[]) {
      if (!isObject(o)) return "offers[] must be objects";
      const r = resolveSpec(o, ctx, s.currency as string | undefined);
      for (const p of (o as OfferSpec).reprice ?? []) {
        if (parseDecimal(p, r.currency) === null) return `offers[].reprice: bad decimal ${p}`;
      }
    }
  } catch (e) {
    if (e instanceof OfferSpecError) return `offers[].${e.field}: ${e.message}`;
    throw e;
  }
  for (const p of (s.reprice ?? []) as unknown[]) {
    if (typeof p !== "string" || !/^\d+(\.\d+)?$/.test(p)) return `reprice: bad decimal ${p}`;
  }
  if (s.reprice_step !== undefined && !/^\d+(\.\d+)?$/.test(String(s.reprice_step))) {
    return "reprice_step must be a decimal string";
  }
  if (
    s.identity_documents_required !== undefined &&
    typeof s.identity_documents_required !== "boolean"
  ) return "identity_documents_required must be a boolean";
  for (const k of ["search", "order"] as const) {
    if (s[k] !== undefined && !isObject(s[k])) return `${k} must be an object`;
  }
  return null;
}
