/**
 * stripe-webhook: Stripe's event deliveries (no user JWT; `verify_jwt = false`). The raw body is
 * read as bytes, the MAC over `"{t}." + body` computed here with the endpoint secret
 * (STRIPE_WEBHOOK_SECRET, which never enters the wasm module), and the core's
 * `StripeWebhookDriver` decides the signature (tolerance, every v1, constant time) before it reads
 * the body, then processes the event once against the payment profiles and the saga's ledger
 * (docs/contracts.md "stripe-webhook"). 2xx = delivered; 400 = refused; 503 = deliver again.
 */
import { stripeSignedPrefix, stripeWebhookDriver } from "../_shared/core/webhooks.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env, requireStripeWebhookSecret } from "../_shared/env.ts";
import { HttpError, json, readBody } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";
import { hmacSha256 } from "../_shared/signature.ts";

const MAX_BODY_BYTES = 256 * 1024;

export default serve("stripe-webhook", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const secret = requireStripeWebhookSecret(e);
  const body = await readBody(req, MAX_BODY_BYTES);
  const header = req.headers.get("stripe-signature");
  const prefix = header === null ? undefined : stripeSignedPrefix(header);
  const mac = prefix === undefined ? new Uint8Array() : await hmacSha256(secret, prefix, body);
  const ctx = { sql: db(e.dbUrl), services: services(e), log };
  const done = await drive(stripeWebhookDriver(header, mac, body, Date.now()), ctx);
  log.info("stripe event", { event_id: done.event_id, status: done.status, outcome: done.outcome });
  return json(done.status, done.body);
}, { cors: false });
