/**
 * The ops function's shim parts: who counts as an operator (`operator.ts`: app_metadata only, as
 * verified claims), and how a body becomes one `app.ops_*` call (`ops.ts`).
 */
import assert from "node:assert/strict";
import type { UserClaims } from "../../supabase/functions/_shared/auth.ts";
import { HttpError } from "../../supabase/functions/_shared/http.ts";
import { isOperator, requireOperator } from "../../supabase/functions/_shared/operator.ts";
import { opsCall } from "../../supabase/functions/_shared/ops.ts";

const claims = (extra: Record<string, unknown>) =>
  ({ sub: "5b0c3b8e-1d1b-4a53-9d5e-3f2a1c0b9a87", role: "authenticated", ...extra }) as UserClaims;
const bytes = (v: unknown) =>
  new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

Deno.test("operator: app_metadata.role or roles grants it; nothing else does", () => {
  assert.ok(isOperator(claims({ app_metadata: { role: "operator" } })));
  assert.ok(isOperator(claims({ app_metadata: { roles: ["support", "operator"] } })));
  for (
    const c of [
      {},
      { app_metadata: null },
      { app_metadata: ["operator"] },
      { app_metadata: { roles: "operator" } },
      { app_metadata: { role: "Operator" } },
      { app_metadata: { roles: ["operators"] } },
      { user_metadata: { role: "operator", roles: ["operator"] } },
      { role: "operator" },
    ]
  ) {
    assert.equal(isOperator(claims(c)), false, JSON.stringify(c));
  }
  assert.throws(
    () => requireOperator(claims({})),
    (e) => e instanceof HttpError && e.status === 403 && e.code === "operator_required",
  );
});

Deno.test("ops: a body names one SQL call; anything else is 400 invalid_request", () => {
  assert.deepEqual(opsCall(bytes({ action: "overview" })), { fn: "ops_overview", args: {} });
  assert.deepEqual(opsCall(bytes({ action: "metrics", hours: 6 })), {
    fn: "pipeline_metrics",
    args: { hours: 6 },
  });
  assert.deepEqual(opsCall(bytes({ action: "pause_monitor", reason: "r" })), {
    fn: "ops_set_monitor",
    args: { reason: "r", enabled: false },
  });
  // The action decides `enabled`; a body cannot smuggle the opposite in.
  assert.deepEqual(opsCall(bytes({ action: "resume_monitor", reason: "r", enabled: false })), {
    fn: "ops_set_monitor",
    args: { reason: "r", enabled: true },
  });
  assert.deepEqual(opsCall(bytes({ action: "set_flag", name: "f", rollout_bp: 1, reason: "r" })), {
    fn: "ops_set_flag",
    args: { name: "f", rollout_bp: 1, reason: "r" },
  });
  for (const body of ["", "{", "[]", "null", "1", '{"action":"drop"}', "{}", "\xff"]) {
    assert.throws(
      () => opsCall(bytes(body)),
      (e) => e instanceof HttpError && e.status === 400 && e.code === "invalid_request",
      body,
    );
  }
});
