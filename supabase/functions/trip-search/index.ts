/**
 * trip-search: a signed-in traveller creates a trip request (or names one of their own) and gets
 * the best offer found, stored and selected. authenticate -> parse -> drive -> respond: the
 * core's `SearchDriver` validates the body, builds the Duffel search, selects, records through
 * the SQL API as the caller, decides the hand-off to the monitor, and shapes the answer.
 *
 * POST { ...trip request }  -> 201 { trip, selected_offer, decision, offers_seen, rejections }
 * POST { "trip_id": uuid }  -> 200 (same shape), 404 when it is not the caller's
 */
import { requireUser } from "../_shared/auth.ts";
import { triggerMonitor } from "../_shared/background.ts";
import { searchDriver } from "../_shared/core/search.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { enforceLimit } from "../_shared/ratelimit.ts";
import { serve } from "../_shared/serve.ts";

const MAX_BODY_BYTES = 16 * 1024;

export default serve("trip-search", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireJson(req);
  const body = await readBody(req, MAX_BODY_BYTES);
  const beforeIo = () => enforceLimit(e, "trip-search", user.sub, log);
  const ctx = { sql: db(e.dbUrl), services: services(e), log, user, beforeIo };
  const done = await drive(searchDriver(body, Date.now()), ctx);
  log.info("search done", { trip_id: done.trip_id, status: done.status, outcome: done.outcome });
  if (done.trigger_monitor) triggerMonitor(e, done.trigger_monitor, log);
  return json(done.status, done.body);
});
