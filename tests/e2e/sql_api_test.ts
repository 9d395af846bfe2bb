/**
 * The core's SQL API list (`sql_api()`, the only functions the executor may call) against the
 * migrated database: every entry exists as `app.<name>(jsonb) returns jsonb`, `user` functions are
 * executable by `authenticated`, `service` functions only by `service_role` (never by `anon` or
 * `authenticated`). A function added to one side only fails here.
 */
import assert from "node:assert/strict";
import { sqlApi } from "../../supabase/functions/_shared/core/user.ts";
import { closeSql, sql } from "./helpers.ts";

Deno.test("every SQL function of the core's list exists with its grants", async () => {
  try {
    for (const { name, role } of sqlApi()) {
      const [row] = await sql()`
        select p.oid::regprocedure::text as sig, pg_get_function_result(p.oid) as result,
          has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
          has_function_privilege('anon', p.oid, 'execute') as anon,
          has_function_privilege('service_role', p.oid, 'execute') as service
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'app' and p.proname = ${name}
          and pg_get_function_identity_arguments(p.oid) ~ '^[a-z_]* ?jsonb$'`;
      assert.ok(row, `app.${name}(jsonb) is missing`);
      assert.equal(row.result, "jsonb", `app.${name} returns jsonb`);
      assert.equal(row.anon, false, `anon may not call app.${name}`);
      assert.equal(row.service, true, `service_role may call app.${name}`);
      assert.equal(row.authenticated, role === "user", `authenticated and app.${name} (${role})`);
    }
  } finally {
    await closeSql();
  }
});
