/**
 * Events and webhook delivery in the fake Stripe (reference/contracts-webhooks-setup.md §1):
 * the envelope `{id:"evt_…", object:"event", api_version, created, type, livemode,
 * pending_webhooks, data:{object, previous_attributes?}, request}` with `api_version` the
 * pinned version, signed like Stripe (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
 * "{t}.{body}")>`, the secret's UTF-8 bytes as the key) and POSTed to the configured endpoint
 * (STRIPE_WEBHOOK_URL / STRIPE_WEBHOOK_SECRET, or `POST /_fake/webhook {url, secret, auto}`).
 *
 * Automatic deliveries go out one at a time, in creation order, after the API answer; a
 * non-2xx or network failure is retried twice, 2 s apart (real Stripe retries for days, and in
 * test mode a few times over hours). `POST /_fake/events/{id}/deliver` delivers again at once
 * (a replay with the same id), optionally signed with another secret or timestamp; events made
 * with `POST /_fake/events {"type","object","deliver":false}` wait for it, so tests choose the
 * order.
 *
 * @module
 */

import { uniqueId } from "./setup.ts";
import type { StripeState } from "./state.ts";

/** The Stripe version every event is rendered with (the core's pinned API_VERSION). */
export const EVENT_API_VERSION = "2025-09-30.clover";

/** One event and what became of its deliveries. */
export interface FakeEvent {
  /** The event as sent. */
  event: Record<string, unknown>;
  /** The status of each delivery (0 for a network failure). */
  deliveries: number[];
}

/** Where and how events go. */
export interface WebhookConfig {
  /** The endpoint (the router's stripe-webhook), or "" for none. */
  url: string;
  /** The endpoint's signing secret (`whsec_…`). */
  secret: string;
  /** Deliver API-caused events automatically. */
  auto: boolean;
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The `Stripe-Signature` header for `body` signed with `secret` at `timestamp`. */
export async function signatureHeader(
  secret: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`${timestamp}.${body}`),
  );
  return `t=${timestamp},v1=${hex(mac)}`;
}

/** Creates an event about `object` and, when configured and `deliver`, queues its delivery. */
export function emit(
  s: StripeState,
  type: string,
  object: Record<string, unknown>,
  previous?: Record<string, unknown>,
  deliver = true,
): FakeEvent {
  const event: Record<string, unknown> = {
    id: uniqueId("evt"),
    object: "event",
    api_version: EVENT_API_VERSION,
    created: s.nowSec(),
    data: previous
      ? { object: structuredClone(object), previous_attributes: previous }
      : { object: structuredClone(object) },
    livemode: false,
    pending_webhooks: s.webhook.url ? 1 : 0,
    request: { id: null, idempotency_key: null },
    type,
  };
  const fake: FakeEvent = { event, deliveries: [] };
  s.events.set(event.id as string, fake);
  if (deliver && s.webhook.auto && s.webhook.url) {
    s.outbox = s.outbox.then(() => deliverWithRetries(s, fake)).catch(() => {});
  }
  return fake;
}

async function deliverWithRetries(s: StripeState, fake: FakeEvent): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const { status } = await deliver(s, fake);
    if (status >= 200 && status < 300) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Delivers `fake` once; `secret`/`timestamp` override the signing (tests of refusals). */
export async function deliver(
  s: StripeState,
  fake: FakeEvent,
  opts: { secret?: string; timestamp?: number } = {},
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify(fake.event);
  const ts = opts.timestamp ?? s.nowSec();
  const header = await signatureHeader(opts.secret ?? s.webhook.secret, ts, body);
  try {
    const res = await fetch(s.webhook.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": header,
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
      },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    fake.deliveries.push(res.status);
    return { status: res.status, body: text };
  } catch {
    fake.deliveries.push(0);
    return { status: 0, body: "" };
  }
}

/** Events about a PaymentIntent after an API call changed it. */
export function emitForIntent(
  s: StripeState,
  before: string | undefined,
  pi: Record<string, unknown>,
): void {
  if (pi.status === before) return;
  if (pi.status === "requires_capture") emit(s, "payment_intent.amount_capturable_updated", pi);
  if (pi.status === "canceled") emit(s, "payment_intent.canceled", pi);
  if (pi.status === "succeeded") emit(s, "payment_intent.succeeded", pi);
}

/** `charge.refunded` after a refund: a charge object built from the PaymentIntent. */
export function emitRefund(s: StripeState, pi: Record<string, unknown>, refunded: number): void {
  emit(s, "charge.refunded", {
    id: pi.latest_charge,
    object: "charge",
    amount: pi.amount_received,
    amount_captured: pi.amount_received,
    amount_refunded: refunded,
    currency: pi.currency,
    customer: pi.customer,
    metadata: pi.metadata,
    paid: true,
    payment_intent: pi.id,
    payment_method: pi.payment_method,
    refunded: refunded >= (pi.amount_received as number),
    status: "succeeded",
  });
}
