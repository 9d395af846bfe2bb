/**
 * travelers: a signed-in traveller's passenger profiles. authenticate -> parse -> drive ->
 * respond: the core's `TravelersDriver` validates the body (names in the character set airlines
 * accept, E.164 phones, emails, dates, identity documents, ages against the trip's slots) and
 * calls the SQL API as the caller, which stores the profiles encrypted and decrypts only the
 * caller's own. Nothing personal is logged: the log line has the outcome and status only.
 *
 * POST {"action":"list"} | {"action":"create","traveler":{…}} |
 *      {"action":"update","traveler_id","traveler":{…}} | {"action":"delete","traveler_id"} |
 *      {"action":"attach","trip_id","traveler_ids":[…]}     (docs/contracts.md "travelers")
 */
import { requireUser } from "../_shared/auth.ts";
import { travelersDriver } from "../_shared/core/user.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { serve } from "../_shared/serve.ts";

const MAX_BODY_BYTES = 16 * 1024;

export default serve("travelers", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireJson(req);
  const body = await readBody(req, MAX_BODY_BYTES);
  const ctx = { sql: db(e.dbUrl), services: services(e), log, user };
  const done = await drive(travelersDriver(body, Date.now()), ctx);
  log.info("travelers done", { status: done.status, outcome: done.outcome });
  return json(done.status, done.body);
});
