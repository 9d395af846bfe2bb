/**
 * privacy-operator: erasure requests received outside the app (email, post), run by an operator.
 * Service only: `verify_jwt` is off and the caller must present the project's secret key.
 *
 * POST {"action":"erase","user_id":"<uuid>"} -> the same answers as `privacy` erase; asking
 * again resumes a waiting or interrupted erasure (docs/privacy.md).
 */
import { erasureDriver, parsePrivacyRequest } from "../_shared/core/user.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env, requireStripe } from "../_shared/env.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";
import { requireService } from "../_shared/service.ts";
import { retryAfter } from "../_shared/retry.ts";

export default serve("privacy-operator", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  requireService(req, e);
  requireJson(req);
  const parsed = parsePrivacyRequest(await readBody(req, 4096), true);
  if (!parsed.ok) return json(parsed.reply.status, parsed.reply.body);
  const ctx = { sql: db(e.dbUrl), services: services(e), log };
  requireStripe(e);
  const done = await drive(erasureDriver(parsed.user_id ?? undefined), ctx);
  log.info("erasure", { status: done.status, outcome: done.outcome });
  return json(done.status, done.body, retryAfter(done.body));
}, { cors: false });
