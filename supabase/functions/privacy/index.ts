/**
 * privacy: a signed-in traveller's GDPR rights. authenticate -> parse -> drive -> respond.
 *
 * POST {"action":"erase"}  -> 200 {erasure} when erased, 409 erasure_waiting_for_payment with
 *                             Retry-After while a booking settles its payment, 503 (Retry-After)
 *                             while Stripe or Redis is unavailable; asking again resumes.
 *                             The core's `ErasureDriver` walks the stored erasure (docs/privacy.md).
 * POST {"action":"export"} -> 200, a streamed JSON document of everything stored about the caller.
 */
import { requireUser } from "../_shared/auth.ts";
import { erasureDriver, parsePrivacyRequest } from "../_shared/core/user.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env, requireStripe } from "../_shared/env.ts";
import { exportStream } from "../_shared/export.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { corsHeaders } from "../_shared/cors.ts";
import { serve } from "../_shared/serve.ts";
import { retryAfter } from "../_shared/retry.ts";

export default serve("privacy", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireJson(req);
  const parsed = parsePrivacyRequest(await readBody(req, 4096), false);
  if (!parsed.ok) return json(parsed.reply.status, parsed.reply.body);
  const ctx = { sql: db(e.dbUrl), services: services(e), log, user };
  if (parsed.action === "export") {
    log.info("export started", {});
    return new Response(exportStream(ctx, new Date().toISOString()), {
      status: 200,
      headers: { ...corsHeaders, "Content-Type": "application/json", "Cache-Control": "no-store" },
    });
  }
  requireStripe(e);
  const done = await drive(erasureDriver(), ctx);
  log.info("erasure", { status: done.status, outcome: done.outcome });
  return json(done.status, done.body, retryAfter(done.body));
});
