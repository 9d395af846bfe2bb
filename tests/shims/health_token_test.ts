/** health's token check (`_shared/service.ts` `presentsHealthToken`): Bearer HEALTH_TOKEN or a service key. */
import assert from "node:assert/strict";
import type { Env } from "../../supabase/functions/_shared/env.ts";
import "../../supabase/functions/_shared/core/webhooks.ts"; // the module health loads
import { presentsHealthToken } from "../../supabase/functions/_shared/service.ts";

const e = {
  healthToken: "health-token-0123456789",
  serviceKeys: ["sb_secret_service_key_0123456789"],
} as unknown as Env;

const req = (authorization?: string) =>
  new Request("http://127.0.0.1/health", {
    headers: authorization ? { Authorization: authorization } : {},
  });

Deno.test("health detail needs the health token or a service key", () => {
  assert.ok(presentsHealthToken(req("Bearer health-token-0123456789"), e));
  assert.ok(presentsHealthToken(req("bearer sb_secret_service_key_0123456789"), e));
  for (
    const auth of [
      undefined,
      "Bearer ",
      "Bearer health-token-012345678",
      "health-token-0123456789",
      "Basic aGVhbHRoOnRva2Vu",
    ]
  ) {
    assert.equal(presentsHealthToken(req(auth), e), false, String(auth));
  }
  const none = { healthToken: undefined, serviceKeys: [] } as unknown as Env;
  assert.equal(presentsHealthToken(req("Bearer "), none), false);
  assert.equal(presentsHealthToken(req("Bearer anything-at-all-here"), none), false);
});
