/**
 * Helpers for the fake Duffel's tests (not a test file itself): a fresh fake on a fixed clock,
 * authenticated calls, search and order bodies, and the check of Duffel's error envelope.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FakeClock } from "../_shared.ts";
import { type CallResult, type Json, readResult } from "../_test_helpers.ts";
import { createDuffelFake, type DuffelFake } from "../duffel.ts";

/** The fixed "now" of {@link fresh} fakes. */
export const NOW = Date.parse("2027-03-01T10:00:00.000Z");

/** Headers of a well-formed Duffel API request. */
export const AUTH = {
  authorization: "Bearer duffel_test_abc",
  "duffel-version": "v2",
  accept: "application/json",
  "content-type": "application/json",
};

/** A new fake whose clock stands at {@link NOW} until advanced. */
export function fresh(): { fake: DuffelFake; clock: FakeClock } {
  const clock = new FakeClock(() => NOW);
  return { fake: createDuffelFake({ clock }), clock };
}

/** Sends one request in-process (JSON-encodes a non-string body). */
export async function call(
  fake: DuffelFake,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = AUTH,
): Promise<CallResult> {
  const res = await fake.fetch(
    new Request(`http://fake${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  return await readResult(res);
}

/** A one-way, one-adult economy search body on 2027-03-12. */
export function searchBody(
  origin = "LHR",
  destination = "JFK",
  extra: Record<string, unknown> = {},
): Json {
  return {
    data: {
      slices: [{ origin, destination, departure_date: "2027-03-12" }],
      passengers: [{ type: "adult" }],
      cabin_class: "economy",
      ...extra,
    },
  };
}

/** Scripts a route through the control API (asserts 201). */
export async function script(fake: DuffelFake, s: Record<string, unknown>): Promise<void> {
  const r = await call(fake, "POST", "/_fake/routes", s, {});
  assert.equal(r.status, 201, JSON.stringify(r.json));
}

/** Searches a route (asserts 201) and returns the offer request. */
export async function search(
  fake: DuffelFake,
  origin = "LHR",
  destination = "JFK",
  query = "",
): Promise<Json> {
  const r = await call(
    fake,
    "POST",
    `/air/offer_requests${query}`,
    searchBody(origin, destination),
  );
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.data;
}

/** A complete, valid (made-up) passenger for an order. */
export function passengerFor(id: string, i = 0): Record<string, string> {
  return {
    id,
    title: "ms",
    gender: "f",
    given_name: `Test${i}`,
    family_name: "Traveller",
    born_on: "1990-01-0" + (i + 1),
    email: `t${i}@example.com`,
    phone_number: "+442080160509",
  };
}

/** An instant order body for an offer, paying `amount` from balance. */
export function orderBody(
  offer: Json,
  amount = offer.total_amount,
  metadata: Record<string, string> = {},
): Json {
  return {
    data: {
      type: "instant",
      selected_offers: [offer.id],
      passengers: offer.passengers.map((p: Json, i: number) => passengerFor(p.id, i)),
      payments: [{ type: "balance", amount, currency: offer.total_currency }],
      services: [],
      metadata,
    },
  };
}

/** Asserts a Duffel error envelope with this status and first error code (and type). */
export function assertErrorEnvelope(
  r: CallResult,
  status: number,
  code: string,
  type?: string,
): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.ok(Array.isArray(r.json.errors) && r.json.errors.length >= 1);
  const e = r.json.errors[0];
  assert.equal(e.code, code);
  if (type) assert.equal(e.type, type);
  for (const f of ["type", "code", "title", "message", "documentation_url"]) {
    assert.equal(typeof e[f], "string", f);
  }
  assert.equal(r.json.meta.status, status);
  assert.equal(r.json.meta.request_id, r.headers.get("x-request-id"));
}
