/**
 * The ops function's requests: one JSON body naming an action, each answered by one `app.ops_*`
 * SQL call made AS THE CALLER (role `authenticated` with the verified claims, so the database's
 * own operator check applies too). docs/contracts.md "ops".
 *
 *   {"action":"overview","stuck_minutes"?}           -> app.ops_overview
 *   {"action":"metrics","hours"?}                    -> app.pipeline_metrics
 *   {"action":"pause_monitor"|"resume_monitor","reason"}        -> app.ops_set_monitor
 *   {"action":"set_flag","name","rollout_bp"?,"enabled"?,"reason"} -> app.ops_set_flag
 *
 * The SQL functions validate every field (22023); this maps their SQLSTATEs to stable codes.
 */
import type { UserClaims } from "./auth.ts";
import { asUser } from "./db.ts";
import type { Sql } from "./deps.ts";
import { HttpError } from "./http.ts";

type Call = { fn: string; args: Record<string, unknown> };

/** Parses a body into the SQL call it asks for (400 `invalid_request` otherwise). */
export function opsCall(body: Uint8Array): Call {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw bad("the body must be a JSON object");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw bad("the body must be a JSON object");
  }
  const { action, ...args } = parsed as Record<string, unknown>;
  switch (action) {
    case "overview":
      return { fn: "ops_overview", args };
    case "metrics":
      return { fn: "pipeline_metrics", args };
    case "pause_monitor":
    case "resume_monitor":
      return { fn: "ops_set_monitor", args: { ...args, enabled: action === "resume_monitor" } };
    case "set_flag":
      return { fn: "ops_set_flag", args };
    default:
      throw bad(
        "field action must be one of overview, metrics, pause_monitor, resume_monitor, set_flag",
      );
  }
}

/** Runs `call` as the caller; SQL errors become 403 / 400 / 404 with stable codes. */
export async function runOps(
  sql: Sql,
  user: UserClaims,
  call: Call,
  correlationId: string,
): Promise<unknown> {
  try {
    const rows = await asUser(
      sql,
      user,
      (tx) => tx.unsafe(`select app.${call.fn}($1::text::jsonb) as r`, [JSON.stringify(call.args)]),
      correlationId,
    );
    return rows[0].r;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    if (e.code === "42501") {
      throw new HttpError(403, "operator_required", "this needs an operator's account");
    }
    if (e.code === "22023") throw bad(String(e.message).slice(0, 200));
    if (e.code === "P0002") throw new HttpError(404, "unknown_flag", "no flag of that name");
    throw err;
  }
}

function bad(message: string): HttpError {
  return new HttpError(400, "invalid_request", message);
}
