/**
 * ops: the operators' JSON API behind the ops dashboard (web/ops/). authenticate (a verified user
 * JWT whose app_metadata grants the operator role; everybody else 403 `operator_required`) ->
 * parse the action -> one `app.ops_*` SQL call as the caller (the database checks the role again)
 * -> respond. No personal data in any answer: ids, codes, counts, amounts, times.
 *
 * POST {"action":"overview"} | {"action":"metrics","hours"?} |
 *      {"action":"pause_monitor"|"resume_monitor","reason"} |
 *      {"action":"set_flag","name","rollout_bp"?,"enabled"?,"reason"}  (docs/contracts.md "ops")
 */
import { requireUser } from "../_shared/auth.ts";
import { db } from "../_shared/db.ts";
import { env } from "../_shared/env.ts";
import { HttpError, json, readBody, requireJson } from "../_shared/http.ts";
import { requireOperator } from "../_shared/operator.ts";
import { opsCall, runOps } from "../_shared/ops.ts";
import { serve } from "../_shared/serve.ts";

const MAX_BODY_BYTES = 4 * 1024;

export default serve("ops", async (req, log) => {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
  const e = env();
  const user = await requireUser(req, e);
  requireOperator(user);
  requireJson(req);
  const call = opsCall(await readBody(req, MAX_BODY_BYTES));
  const out = await runOps(db(e.dbUrl), user, call, log.correlationId);
  log.info("ops done", { action: call.fn, operator: user.sub });
  return json(200, out);
});
