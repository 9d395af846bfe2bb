/** The function environment refuses a database URL that logs in as the superuser (`_shared/env.ts`). */
import assert from "node:assert/strict";
import { leastPrivilege } from "../../supabase/functions/_shared/env.ts";

Deno.test("PIPELINE_DB_URL must name the functions' own role", () => {
  assert.ok(leastPrivilege("postgresql://pipeline_functions:pw@127.0.0.1:54322/postgres"));
  assert.ok(
    leastPrivilege(
      "postgresql://pipeline_functions.abcdefghijklmnop:pw@aws-0-eu-west-2.pooler.supabase.com:6543/postgres",
    ),
  );
  for (
    const url of [
      "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
      "postgresql://postgres.abcdefghijklmnop:pw@aws-0-eu-west-2.pooler.supabase.com:6543/postgres",
      "postgresql://supabase_admin:pw@db.abcdefghijklmnop.supabase.co:5432/postgres",
      "postgresql://127.0.0.1:54322/postgres",
      "not a url",
    ]
  ) {
    assert.equal(leastPrivilege(url), false, url);
  }
});
