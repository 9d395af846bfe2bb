/**
 * The ops function's operator check through the wasm core (`isOperator`, the core's
 * `ops::is_operator`; `operator.ts` turns a refusal into 403 `operator_required`): app_metadata
 * only. The body's validation is tested in the core (`crates/booking-core/src/ops/tests.rs`).
 */
import assert from "node:assert/strict";
import type { UserClaims } from "../../supabase/functions/_shared/auth.ts";
import { HttpError } from "../../supabase/functions/_shared/http.ts";
import { isOperator } from "../../supabase/functions/_shared/core/user.ts"; // the module ops loads
import { requireOperator } from "../../supabase/functions/_shared/operator.ts";

const claims = (extra: Record<string, unknown>) =>
  ({ sub: "5b0c3b8e-1d1b-4a53-9d5e-3f2a1c0b9a87", role: "authenticated", ...extra }) as UserClaims;

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
