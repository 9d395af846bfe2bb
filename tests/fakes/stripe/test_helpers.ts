/**
 * Helpers for the fake Stripe's tests (not a test file itself): a fresh fake on a fixed clock,
 * form-encoded authenticated calls, control-API calls, a manual-capture authorization and the
 * check of Stripe's error envelope.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FakeClock } from "../_shared.ts";
import { type CallResult, type Json, readResult } from "../_test_helpers.ts";
import { createStripeFake, type StripeFake } from "../stripe.ts";

/** The fixed "now" of {@link fresh} fakes. */
export const NOW = Date.parse("2027-03-01T10:00:00.000Z");
/** The test secret key the calls use. */
export const KEY = "sk_test_fake123";

/** A new fake whose clock stands at {@link NOW} until advanced. */
export function fresh(): { fake: StripeFake; clock: FakeClock } {
  const clock = new FakeClock(() => NOW);
  return { fake: createStripeFake({ clock }), clock };
}

/** Sends one API request in-process: form-encoded body, Bearer {@link KEY} unless overridden. */
export async function call(
  fake: StripeFake,
  method: string,
  path: string,
  form?: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<CallResult> {
  const body = form === undefined
    ? undefined
    : typeof form === "string"
    ? form
    : new URLSearchParams(form).toString();
  const res = await fake.fetch(
    new Request(`http://fake${path}`, {
      method,
      headers: {
        authorization: `Bearer ${KEY}`,
        ...(body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        ...headers,
      },
      body,
    }),
  );
  return await readResult(res);
}

/** The parameters of an off-session, manual-capture authorization of GBP 221.78. */
export const AUTHORIZE: Record<string, string> = {
  amount: "22178",
  currency: "gbp",
  customer: "cus_123",
  payment_method: "pm_card_visa",
  off_session: "true",
  confirm: "true",
  capture_method: "manual",
  "metadata[attempt_id]": "att_1",
  "payment_method_types[]": "card",
};

/** Calls the control API (JSON body); returns the status merged into the JSON answer. */
export async function control(
  fake: StripeFake,
  method: string,
  path: string,
  body?: unknown,
): Promise<Json> {
  const res = await fake.fetch(
    new Request(`http://fake${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  return { status: res.status, ...(await res.json()) };
}

/** Asserts a Stripe error envelope (and `doc_url` when a code is given); returns the error. */
export function assertError(r: CallResult, status: number, type: string, code?: string): Json {
  assert.equal(r.status, status, JSON.stringify(r.json));
  const e = r.json.error;
  assert.ok(e, "error envelope");
  assert.equal(e.type, type);
  assert.equal(typeof e.message, "string");
  if (code !== undefined) {
    assert.equal(e.code, code);
    assert.equal(e.doc_url, `https://stripe.com/docs/error-codes/${code.replace(/_/g, "-")}`);
  }
  assert.match(r.headers.get("request-id") ?? "", /^req_/);
  return e;
}
