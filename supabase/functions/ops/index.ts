/**
 * ops: the operators' JSON API behind the ops dashboard (web/ops/). authenticate (a verified user
 * JWT whose app_metadata grants the operator role; everybody else 403 `operator_required`) ->
 * parse (the core's `OpsDriver` validates the body) -> drive (one `app.ops_*` SQL call as the
 * caller; the database checks the role again) -> respond. No personal data in any answer.
 *
 * POST {"action":"overview","stuck_minutes"?} | {"action":"metrics","hours"?} |
 *      {"action":"pause_monitor"|"resume_monitor","reason"} |
 *      {"action":"set_flag","name","rollout_bp"?,"enabled"?,"reason"}  (docs/contracts.md "ops")
 */
import { requireUser } from "../_shared/auth.ts";
import { opsDriver } from "../_shared/core/user.ts";
import { db } from "../_shared/db.ts";
import { drive, services } from "../_shared/engine.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { requireOperator } from "../_shared/operator.ts";
import { serve } from "../_shared/serve.ts";

const MAX_BODY_BYTES = 4 * 1024;

export default serve("ops", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireOperator(user);
  requireJson(req);
  const body = await readBody(req, MAX_BODY_BYTES);
  const ctx = { sql: db(e.dbUrl), services: services(e), log, user };
  const done = await drive(opsDriver(body), ctx);
  log.info("ops done", { status: done.status, outcome: done.outcome, operator: user.sub });
  return json(done.status, done.body);
});
