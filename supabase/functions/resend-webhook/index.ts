/**
 * resend-webhook: Resend's email events (delivered, bounced, complained, …), Svix-signed. No
 * JWT (`verify_jwt` off): the signature is the credential. The raw body is read first and the
 * MAC computed over it (WebCrypto, `_shared/svix.ts`); the core decides (headers, 5-minute
 * tolerance, any `v1` entry, constant time), parses only type / email id / time, and records the
 * event once per `svix-id` (a bounce or complaint suppresses the address).
 *
 * POST (Svix headers) -> 200 { received: true, duplicate } | 400 { code: missing_signature |
 *   stale_timestamp | invalid_signature | invalid_payload } | 413 payload_too_large
 */
import { resendWebhookDriver } from "../_shared/core/webhooks.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env, requireResendWebhookSecret } from "../_shared/env.ts";
import { HttpError, json, readBody } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";
import { svixHeaders, svixMac } from "../_shared/svix.ts";

export default serve("resend-webhook", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const secret = requireResendWebhookSecret(e);
  const body = await readBody(req, 256 * 1024);
  const headers = svixHeaders(req);
  const mac = await svixMac(secret, headers, body);
  const ctx = { sql: db(e.dbUrl), services: services(e), log };
  const done = await drive(resendWebhookDriver(headers, body, mac, Date.now()), ctx);
  log.info("webhook done", { status: done.status, outcome: done.outcome });
  return json(done.status, done.body);
}, { cors: false });
