/** Helpers for the end-to-end tests of the user functions (travelers, trips). */
import { FUNCTIONS } from "./helpers.ts";

/** A parsed JSON answer (tests read it loosely). */
// deno-lint-ignore no-explicit-any
export type Json = any;

/** POSTs `body` to function `fn` as `jwt`; status and parsed JSON. */
export async function call(
  fn: string,
  body: unknown,
  jwt: string | null,
  init: { method?: string; raw?: string; contentType?: string } = {},
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = {
    "Content-Type": init.contentType ?? "application/json",
  };
  if (jwt) headers.Authorization = `Bearer ${jwt}`;
  const method = init.method ?? "POST";
  const res = await fetch(`${FUNCTIONS}/${fn}`, {
    method,
    headers,
    body: method === "POST" ? (init.raw ?? JSON.stringify(body)) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/** An AttemptState (booking_core::saga::AttemptState JSON) at its first phase. */
export function attemptState(attemptId: string, tripId: string, offerId = "off_busy") {
  const now = new Date().toISOString();
  return {
    schema_version: 1,
    attempt_id: attemptId,
    trip_id: tripId,
    offer_id: offerId,
    max_total: { amount_minor: 42000, currency: "GBP" },
    customer: "cus_test",
    payment_method: "pm_test",
    seed: 7,
    version: 1,
    phase: { name: "reprice" },
    in_flight: false,
    tries: 0,
    not_before: null,
    amount: null,
    passenger_ids: [],
    payment_intent: null,
    order: null,
    check_intent: false,
    key_generation: 0,
    lookup_misses: 0,
    reason: null,
    started_at: now,
    updated_at: now,
  };
}
