/**
 * duffel-webhook: Duffel delivers order events here (no JWT; `verify_jwt = false`). The raw body
 * and `X-Duffel-Signature` go to the core before anything is parsed: the shim only computes the
 * HMAC with WebCrypto (the secret stays here), the core's `DuffelWebhookDriver` decides on the
 * signature (constant time, 5-minute tolerance), reads the event and records it once through
 * `app.duffel_webhook_record` as the service.
 *
 * POST <event> -> 200 { received, event_id, type, duplicate, outcome }
 *              -> 400 signature_missing | signature_malformed | signature_mismatch |
 *                 signature_expired | invalid_event (nothing stored)
 */
import { duffelSignedPrefix, duffelWebhookDriver } from "../_shared/core/webhooks.ts";
import { db } from "../_shared/db.ts";
import { hmacSha256, toHex } from "../_shared/signature.ts";
import { drive } from "../_shared/engine.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";

const MAX_BODY_BYTES = 512 * 1024;

export default serve("duffel-webhook", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const secret = e.duffelWebhookSecret;
  if (!secret) {
    throw new HttpError(
      500,
      "misconfigured",
      "function environment is missing DUFFEL_WEBHOOK_SECRET",
    );
  }
  const body = await readBody(req, MAX_BODY_BYTES);
  const header = req.headers.get("x-duffel-signature");
  const prefix = duffelSignedPrefix(header);
  const expected = prefix === undefined ? "" : toHex(await hmacSha256(secret, prefix, body));
  const ctx = { sql: db(e.dbUrl), services: {}, log };
  const done = await drive(duffelWebhookDriver(body, header, expected, Date.now()), ctx);
  log.info("event done", {
    event_id: done.event_id,
    type: done.event_type,
    status: done.status,
    outcome: done.outcome,
  });
  return json(done.status, done.body);
}, { cors: false });
