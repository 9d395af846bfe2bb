/**
 * The fake Stripe's control API under `/_fake/` (no auth, not logged): `POST /_fake/reset`,
 * `GET|POST /_fake/script` (scripted faults), `GET /_fake/requests`, `GET /_fake/payment_intents`
 * (every PI with status, amounts and `captures`) and `POST /_fake/clock {"advance_seconds":n}`.
 *
 * @module
 */

import { advanceClock, jsonResponse } from "../_shared.ts";
import { parseScript } from "./faults.ts";
import type { StripeState } from "./state.ts";

async function scriptEndpoint(s: StripeState, req: Request): Promise<Response | null> {
  if (req.method === "GET") return jsonResponse(200, { data: s.faults });
  if (req.method !== "POST") return null;
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return jsonResponse(400, { error: "body must be JSON" });
  }
  const faults = parseScript(body);
  if (typeof faults === "string") return jsonResponse(400, { error: faults });
  s.faults.push(...faults);
  return jsonResponse(201, { data: s.faults });
}

function paymentIntents(s: StripeState): Response {
  return jsonResponse(200, {
    data: [...s.pis.values()].sort((a, b) => a.order - b.order).map((x) => ({
      id: x.pi.id,
      status: x.pi.status,
      amount: x.pi.amount,
      amount_capturable: x.pi.amount_capturable,
      amount_received: x.pi.amount_received,
      amount_refunded: x.refundedMinor,
      currency: x.pi.currency,
      customer: x.pi.customer,
      capture_method: x.pi.capture_method,
      metadata: x.pi.metadata,
      captures: x.captures,
      created: x.pi.created,
    })),
  });
}

/** Answers one `/_fake/…` request (404 for anything else under `/_fake/`). */
export async function control(s: StripeState, req: Request, url: URL): Promise<Response> {
  const path = url.pathname;
  if (req.method === "POST" && path === "/_fake/reset") {
    s.reset();
    return jsonResponse(200, { ok: true });
  }
  if (path === "/_fake/script") {
    const res = await scriptEndpoint(s, req);
    if (res) return res;
  }
  if (req.method === "GET" && path === "/_fake/requests") {
    return jsonResponse(200, { data: s.log });
  }
  if (req.method === "GET" && path === "/_fake/payment_intents") return paymentIntents(s);
  if (req.method === "POST" && path === "/_fake/clock") return await advanceClock(req, s.clock);
  return jsonResponse(404, { error: `no control endpoint ${req.method} ${path}` });
}
