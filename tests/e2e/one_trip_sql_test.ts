/**
 * db.ts `callOneTrip` (every unbatched SQL API call: one simple-protocol round trip with the
 * role, claims and correlation id set transaction-locally) on the real database, as the
 * functions' own login role: a user call sees only the caller's rows (RLS, `auth.uid()`), a
 * failing call rolls back and rejects with its SQLSTATE, and no setting outlives the call.
 */
import assert from "node:assert/strict";
import { postgres } from "../../supabase/functions/_shared/deps.ts";
import { callOneTrip } from "../../supabase/functions/_shared/db.ts";
import { closeSql, e2eTest, env, newUser, sql } from "./helpers.ts";

e2eTest("a one-trip user call runs as the caller only; settings end with the call", async () => {
  // One connection, so every query below runs on the same session.
  const fnSql = postgres(env.PIPELINE_DB_URL, { prepare: false, max: 1, onnotice: () => {} });
  try {
    const a = await newUser();
    const b = await newUser();
    const customer = `cus_onetrip${crypto.randomUUID().slice(0, 8)}`;
    await sql()`insert into public.payment_profiles (owner_id, stripe_customer_id)
      values (${a.id}, ${customer})`;
    const open = async (id: string) =>
      JSON.parse(
        await callOneTrip(
          fnSql,
          {
            role: "user",
            claims: { sub: id, role: "authenticated" },
          },
          "payment_profile_open",
          '{"create": false}',
          "corr-onetrip-1",
        ),
      ) as { profile: { owner_id?: string; customer?: string | null } | null };
    const mine = await open(a.id);
    assert.equal(mine.profile?.customer, customer, "the caller reads their own profile");
    const theirs = await open(b.id);
    assert.notEqual(theirs.profile?.customer, customer, "another user never reads it");
    assert.notEqual(theirs.profile?.owner_id, a.id);

    // Nothing of the call's settings is left on the session afterwards.
    const [after] = await fnSql`select current_user as u,
      coalesce(current_setting('request.jwt.claims', true), '') as claims,
      coalesce(current_setting('app.correlation_id', true), '') as corr`;
    assert.equal(after.u, "pipeline_functions");
    assert.equal(after.claims, "");
    assert.equal(after.corr, "");

    // A failing call rejects with its SQLSTATE and leaves the session usable.
    await assert.rejects(
      callOneTrip(
        fnSql,
        { role: "user", claims: { sub: a.id, role: "authenticated" } },
        "payment_profile_open",
        '{"create": 1}',
      ),
      (e: { code?: string }) => e.code === "22023",
    );
    // A user call without the service role's rights: a service-only function is refused.
    await assert.rejects(
      callOneTrip(
        fnSql,
        { role: "user", claims: { sub: a.id, role: "authenticated" } },
        "monitor_flags",
        "{}",
      ),
      (e: { code?: string }) => e.code === "42501",
    );
    // Quoting: a payload containing the fixed dollar tag (and a would-be random one) travels as
    // data: the call would be a syntax error if the tag closed the literal early.
    const weird = JSON.stringify({ create: false, note: "$pf$ $pf1$ '; select 1; --" });
    const ok = JSON.parse(
      await callOneTrip(
        fnSql,
        { role: "user", claims: { sub: a.id, role: "authenticated" } },
        "payment_profile_open",
        weird,
      ),
    );
    assert.equal(ok.profile?.customer, customer);
    // A literal ending in the start of the tag ("...$pf" then "$pf$"): the first "$pf$" would
    // close it one character early if the tag were chosen by `includes` alone.
    const echoed = await callOneTrip(
      fnSql,
      { role: "service" },
      "monitor_flags",
      "{}",
      "corr$pf",
    );
    assert.ok(JSON.parse(echoed) !== undefined);
    await assert.rejects(
      callOneTrip(fnSql, { role: "service" }, "monitor_flags; select 1", "{}"),
      (e: { code?: string }) => e.code === "42883",
    );
  } finally {
    await fnSql.end({ timeout: 1 });
    await closeSql();
  }
});
