/**
 * The fake Stripe's control API under `/_fake/` (no auth, not logged): `POST /_fake/reset`,
 * `GET|POST /_fake/script` (scripted faults), `GET /_fake/requests`, `GET /_fake/payment_intents`
 * (every PI with status, amounts and `captures`), `POST /_fake/clock {"advance_seconds":n}` and
 * `POST /_fake/payment_intents/{id}/authenticate` (the traveller's browser completing 3-D Secure,
 * see `authenticate.ts`).
 *
 * @module
 */

import { advanceClock, isObject, jsonResponse, readJsonOrUndefined } from "../_shared.ts";
import { authenticate } from "./authenticate.ts";
import { deliver, emit } from "./events.ts";
import { confirmSetupIntent } from "./setup.ts";
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
  const auth = /^\/_fake\/payment_intents\/([^/]+)\/authenticate$/.exec(path);
  if (auth && req.method === "POST") return await authenticate(s, auth[1], req);
  const webhooks = await webhookControl(s, req, path);
  if (webhooks) return webhooks;
  return jsonResponse(404, { error: `no control endpoint ${req.method} ${path}` });
}

/**
 * Setup and event helpers: `GET|POST /_fake/webhook {url?, secret?, auto?}`,
 * `POST /_fake/setup_intents/{id}/confirm {"payment_method":"pm_card_visa"}` (Stripe.js's
 * confirmCardSetup), `GET /_fake/events`, `POST /_fake/events {"type","object","deliver"?}`
 * (an event about any object, e.g. a dispute), and `POST /_fake/events/{id}/deliver
 * {"secret"?, "timestamp"?}` (deliver again now, optionally signed otherwise; answers the
 * endpoint's status and body).
 */
async function webhookControl(s: StripeState, req: Request, path: string) {
  if (path === "/_fake/webhook") {
    if (req.method === "POST") {
      const body = await readJsonOrUndefined(req);
      if (!isObject(body)) return jsonResponse(400, { error: "body must be a JSON object" });
      if (typeof body.url === "string") s.webhook.url = body.url;
      if (typeof body.secret === "string") s.webhook.secret = body.secret;
      if (typeof body.auto === "boolean") s.webhook.auto = body.auto;
    }
    return jsonResponse(200, { url: s.webhook.url, auto: s.webhook.auto });
  }
  let m = /^\/_fake\/setup_intents\/([^/]+)\/confirm$/.exec(path);
  if (m && req.method === "POST") {
    const body = await readJsonOrUndefined(req);
    const token = isObject(body) && typeof body.payment_method === "string"
      ? body.payment_method
      : "pm_card_visa";
    const si = confirmSetupIntent(s, m[1], token);
    return typeof si === "string"
      ? jsonResponse(400, { error: si })
      : jsonResponse(200, { setup_intent: si });
  }
  if (path === "/_fake/events" && req.method === "GET") {
    return jsonResponse(200, {
      data: [...s.events.values()].map((e) => ({
        id: e.event.id,
        type: e.event.type,
        object_id: (e.event.data as { object: { id?: unknown } }).object.id ?? null,
        deliveries: e.deliveries,
      })),
    });
  }
  if (path === "/_fake/events" && req.method === "POST") {
    const body = await readJsonOrUndefined(req);
    if (!isObject(body) || typeof body.type !== "string" || !isObject(body.object)) {
      return jsonResponse(400, { error: 'body must be {"type": "...", "object": {...}}' });
    }
    const previous = isObject(body.previous_attributes) ? body.previous_attributes : undefined;
    const e = emit(s, body.type, body.object, previous, body.deliver !== false);
    return jsonResponse(201, { event: e.event });
  }
  m = /^\/_fake\/events\/([^/]+)\/deliver$/.exec(path);
  if (m && req.method === "POST") {
    const e = s.events.get(m[1]);
    if (!e) return jsonResponse(404, { error: `no event ${m[1]}` });
    if (!s.webhook.url) return jsonResponse(409, { error: "no webhook endpoint configured" });
    const body = await readJsonOrUndefined(req);
    const opts = isObject(body) ? body : {};
    const out = await deliver(s, e, {
      secret: typeof opts.secret === "string" ? opts.secret : undefined,
      timestamp: typeof opts.timestamp === "number" ? opts.timestamp : undefined,
    });
    return jsonResponse(200, out);
  }
  return null;
}
