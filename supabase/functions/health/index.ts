/**
 * health: for an uptime checker. No user JWT (`verify_jwt` off); GET or HEAD. The core's
 * `HealthDriver` reads the database's numbers (`app.health_snapshot`), pings Redis through
 * Upstash REST and decides: 200 `{"status":"ok",…}` when every check passes, 503 with the
 * failing checks otherwise. With `Authorization: Bearer <HEALTH_TOKEN>` (or a service key) the
 * body adds each check's numbers. Never personal data (docs/contracts.md "health").
 */
import { healthDriver } from "../_shared/core/webhooks.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";
import { presentsHealthToken } from "../_shared/service.ts";

export default serve("health", async (req, log) => {
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new HttpError(405, "method_not_allowed", "use GET");
  }
  const e = env();
  const detail = presentsHealthToken(req, e);
  const ctx = { sql: db(e.dbUrl), services: services(e), log };
  const done = await drive(healthDriver(detail), ctx);
  const failing = (done.body as { failing?: string[] }).failing ?? [];
  log.info("health", { status: done.status, outcome: done.outcome, failing: failing.join(",") });
  const res = json(done.status, done.body, { "Cache-Control": "no-store" });
  return req.method === "HEAD"
    ? new Response(null, { status: res.status, headers: res.headers })
    : res;
}, { cors: false });
