/**
 * Webhook delivery of the fake Duffel: events about its existing orders, signed and POSTed to a
 * configured URL the way Duffel delivers them (contracts-webhooks-setup.md §5).
 *
 * - Envelope: `{"id":"wev_…","api_version":"v2","type":…,"data":{"object":…},"live_mode":false,
 *   "idempotency_key":<id of data.object>,"created_at":…,"identity_organisation_id":"org_…"}`.
 *   `order.created` and `order.cancelled` carry the order (`order.cancelled` sets the fake
 *   order's `cancelled_at` and empties its `available_actions`); `order.airline_initiated_change_detected`
 *   carries an airline-initiated change `aic_…` with `order_id`, `added` / `removed` slices and
 *   `available_actions` (it is appended to the order's `airline_initiated_changes`).
 * - Signature: `X-Duffel-Signature: t=<unix seconds>,v1=<lower-case hex HMAC-SHA256>` over
 *   `"{t}." + raw body`, keyed by the secret string as UTF-8 bytes (not base64-decoded); `t` is
 *   the wall-clock time of each delivery (a redelivery is signed afresh, same body).
 * - Event and change ids are random (`wev_0000` + 22 base62 characters from the system RNG), so
 *   they are unique across restarts and resets of the fake, unlike its seeded order ids.
 *
 * Differs from Duffel: one delivery per call (no automatic retries for 72 h, no ordering either
 * way: tests choose the order); no `/air/webhooks` management API (the URL and secret come from
 * the environment or `POST /_fake/webhooks`); only the three order events.
 *
 * Control endpoints (under `/_fake/`, no auth):
 * - `GET /_fake/webhooks` → `{url, configured}`; `POST /_fake/webhooks {"url","secret"}` sets them.
 * - `POST /_fake/webhooks/events {"type","order_id","deliver"?:true}` → 201
 *   `{data:{event, delivery}}` (`delivery` null when `deliver` is false); 404 for an unknown order.
 * - `POST /_fake/webhooks/events/{id}/deliver` → 200 `{data:{delivery}}` (redelivery).
 * - `GET /_fake/webhooks/events` → `{data:[{id,type,order_id,deliveries:[…]}]}`.
 * A delivery is `{at, status, body}` (`status` 0 and `error` when the URL could not be reached).
 *
 * @module
 */

import { isObject, jsonResponse, readJsonOrUndefined } from "../_shared.ts";
import type { DuffelState } from "./state.ts";

/** The event types the fake can emit. */
export const WEBHOOK_EVENT_TYPES = [
  "order.created",
  "order.airline_initiated_change_detected",
  "order.cancelled",
] as const;

/** Where and how deliveries go. */
export interface WebhookTarget {
  url: string | null;
  secret: string | null;
}

/** One delivery attempt. */
export interface WebhookDelivery {
  at: string;
  status: number;
  body: unknown;
  error?: string;
}

/** One emitted event: its exact body (signed as-is) and its deliveries. */
export interface WebhookEventState {
  id: string;
  type: string;
  orderId: string;
  body: string;
  deliveries: WebhookDelivery[];
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const encoder = new TextEncoder();

/** A Duffel-looking id from the system RNG: unique across restarts. */
export function randomDuffelId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  return `${prefix}_0000${Array.from(bytes, (b) => BASE62[b % 62]).join("")}`;
}

/** The `X-Duffel-Signature` value for `body` signed at `t` (Unix seconds) with `secret`. */
export async function signDuffel(secret: string, t: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${t}.${body}`)));
  return `t=${t},v1=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function deliver(s: DuffelState, ev: WebhookEventState): Promise<WebhookDelivery> {
  const at = new Date().toISOString();
  const { url, secret } = s.webhook;
  if (!url || !secret) {
    const d = { at, status: 0, body: null, error: "no webhook url or secret configured" };
    ev.deliveries.push(d);
    return d;
  }
  const signature = await signDuffel(secret, Math.floor(Date.now() / 1000), ev.body);
  let d: WebhookDelivery;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-duffel-signature": signature },
      body: ev.body,
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch { /* keep the text */ }
    d = { at, status: res.status, body };
  } catch (e) {
    d = { at, status: 0, body: null, error: e instanceof Error ? e.message : String(e) };
  }
  ev.deliveries.push(d);
  return d;
}

function objectFor(
  s: DuffelState,
  type: string,
  order: Record<string, unknown>,
): Record<string, unknown> {
  const now = s.nowIso();
  if (type === "order.cancelled") {
    order.cancelled_at = now;
    order.available_actions = [];
    return structuredClone(order);
  }
  if (type === "order.airline_initiated_change_detected") {
    const change = {
      id: randomDuffelId("aic"),
      order_id: order.id,
      added: structuredClone(order.slices ?? []),
      removed: structuredClone(order.slices ?? []),
      action_taken: null,
      action_taken_at: null,
      available_actions: ["accept", "cancel", "change"],
      created_at: now,
      updated_at: now,
      travel_agent_ticket: null,
    };
    const list = Array.isArray(order.airline_initiated_changes)
      ? order.airline_initiated_changes
      : (order.airline_initiated_changes = []);
    (list as unknown[]).push(change);
    return structuredClone(change);
  }
  return structuredClone(order);
}

async function emit(s: DuffelState, req: Request): Promise<Response> {
  const b = await readJsonOrUndefined(req);
  if (!isObject(b)) return jsonResponse(400, { error: "body must be a JSON object" });
  const type = b.type;
  if (typeof type !== "string" || !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type)) {
    return jsonResponse(400, { error: `type must be one of ${WEBHOOK_EVENT_TYPES.join(", ")}` });
  }
  const orderId = b.order_id;
  const st = typeof orderId === "string" ? s.orders.get(orderId) : undefined;
  if (!st) return jsonResponse(404, { error: "no such order" });
  const object = objectFor(s, type, st.order);
  const event = {
    id: randomDuffelId("wev"),
    api_version: "v2",
    type,
    data: { object },
    live_mode: false,
    idempotency_key: object.id,
    created_at: s.nowIso(),
    identity_organisation_id: "org_0000FakeDuffelOrganisation",
  };
  const ev: WebhookEventState = {
    id: event.id,
    type,
    orderId: orderId as string,
    body: JSON.stringify(event),
    deliveries: [],
  };
  s.webhookEvents.set(ev.id, ev);
  const delivery = b.deliver === false ? null : await deliver(s, ev);
  return jsonResponse(201, { data: { event, delivery } });
}

/** Answers `/_fake/webhooks…`, or null when the path is not one of them. */
export async function webhooksControl(
  s: DuffelState,
  req: Request,
  path: string,
): Promise<Response | null> {
  if (path === "/_fake/webhooks") {
    if (req.method === "GET") {
      return jsonResponse(200, { url: s.webhook.url, configured: !!s.webhook.secret });
    }
    if (req.method !== "POST") return null;
    const b = await readJsonOrUndefined(req);
    if (!isObject(b)) return jsonResponse(400, { error: "body must be a JSON object" });
    if (b.url !== undefined) s.webhook.url = typeof b.url === "string" ? b.url : null;
    if (b.secret !== undefined) s.webhook.secret = typeof b.secret === "string" ? b.secret : null;
    return jsonResponse(200, { url: s.webhook.url, configured: !!s.webhook.secret });
  }
  if (path === "/_fake/webhooks/events") {
    if (req.method === "POST") return await emit(s, req);
    if (req.method === "GET") {
      return jsonResponse(200, {
        data: [...s.webhookEvents.values()].map((e) => ({
          id: e.id,
          type: e.type,
          order_id: e.orderId,
          deliveries: e.deliveries,
        })),
      });
    }
    return null;
  }
  const g = /^\/_fake\/webhooks\/events\/([^/]+)\/deliver$/.exec(path);
  if (g && req.method === "POST") {
    const ev = s.webhookEvents.get(g[1]);
    if (!ev) return jsonResponse(404, { error: "no such event" });
    return jsonResponse(200, { data: { delivery: await deliver(s, ev) } });
  }
  return null;
}
