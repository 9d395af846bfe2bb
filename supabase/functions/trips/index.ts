/**
 * trips: a signed-in traveller's watches. authenticate -> parse -> drive -> respond: the core's
 * `TripsDriver` validates the body, calls the SQL API as the caller and renders the answer (the
 * price history's amounts and the decision log's timeline, money from integer minor units).
 *
 * POST {"action":"list"} | {"action":"get","trip_id"} |
 *      {"action":"pause"|"resume"|"cancel","trip_id","version"?} |
 *      {"action":"update","trip_id","version","max_total_minor"?,"cabin"?,"nonstop_only"?} |
 *      {"action":"payment"|"payment_done"|"use_another_card","trip_id"} (an attempt waiting for
 *      the traveller's 3-D Secure: the client_secret read from Stripe, never logged)
 *      (docs/contracts.md "trips")
 */
import { requireUser } from "../_shared/auth.ts";
import { tripsDriver } from "../_shared/core/user.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";

const MAX_BODY_BYTES = 16 * 1024;

export default serve("trips", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireJson(req);
  const body = await readBody(req, MAX_BODY_BYTES);
  const ctx = { sql: db(e.dbUrl), services: services(e), log, user };
  const done = await drive(tripsDriver(body), ctx);
  log.info("trips done", { status: done.status, outcome: done.outcome });
  return json(done.status, done.body);
});
