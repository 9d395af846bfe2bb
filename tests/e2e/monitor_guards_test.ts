/**
 * Issue 6, defects 11 and 15, on the local stack: a monitor without its Stripe key leases no trip
 * (500 misconfigured before the claim); one trip whose Duffel order hangs does not hold the only
 * worker place while the others wait (fake Duffel order `delay_ms`, concurrency 1).
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
  e2eTest,
  env,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import { runMonitor, seedBooker, tripStatus } from "./monitor_helpers.ts";

async function watchedTrip(script: Record<string, unknown> = {}) {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({
    ...route,
    currency: "GBP",
    offers: [{ total: "399.00", stops: 0 }],
    ...script,
  });
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const tripId = (res.json.trip as { id: string }).id;
  await seedBooker(user.id, tripId);
  return tripId;
}

const secretKey = () => env.SUPABASE_SECRET_KEY ?? JSON.parse(env.SUPABASE_SECRET_KEYS).default;

e2eTest(
  "a monitor without STRIPE_SECRET_KEY answers 500 misconfigured and leases nothing",
  async () => {
    const tripId = await watchedTrip();
    // Not due, so the scheduled monitor leaves it alone; a claim by id would still take it.
    await sql()`update public.trip_requests set auto_book = true,
    next_check_at = now() + interval '1 day' where id = ${tripId}`;
    const lease = () =>
      sql()`select version::int, next_check_at::text from public.trip_requests where id = ${tripId}`;
    const [before] = await lease();
    // The router's isolate has the key; this test runs the function module itself without it.
    const saved = Deno.env.get("STRIPE_SECRET_KEY");
    Deno.env.delete("STRIPE_SECRET_KEY");
    try {
      const mod = await import("../../supabase/functions/auto-book-monitor/index.ts");
      const res = await mod.default.fetch(
        new Request("http://127.0.0.1/auto-book-monitor", {
          method: "POST",
          headers: { apikey: secretKey(), "Content-Type": "application/json" },
          body: JSON.stringify({ trip_id: tripId }),
        }),
      );
      assert.equal(res.status, 500);
      const body = await res.json();
      assert.equal(body.code, "misconfigured");
      assert.match(body.message, /STRIPE_SECRET_KEY/);
    } finally {
      if (saved !== undefined) Deno.env.set("STRIPE_SECRET_KEY", saved);
    }
    const [after] = await lease();
    assert.deepEqual(
      { ...after },
      { ...before },
      "the trip was not claimed: lease and version kept",
    );
  },
);

e2eTest("one trip's hanging Duffel order does not keep the other trips waiting", async () => {
  const ORDER_DELAY_MS = 10_000;
  const slow = await watchedTrip({ order: { delay_ms: ORDER_DELAY_MS } });
  const fast = [await watchedTrip(), await watchedTrip()];
  const [{ jobid, active }] = await sql()`select jobid, active from cron.job
    where jobname = 'auto-book-monitor'`;
  const [{ concurrency }] = await sql()`select concurrency from public.pipeline_settings`;
  // Only this run drives the trips: the schedule is paused and one place is all it gets.
  await sql()`select cron.alter_job(${jobid}::bigint, active := false)`;
  await sql()`update public.pipeline_settings set concurrency = 1`;
  try {
    // Due since 1900, the slow one first, so the claim takes them in this order before any other.
    for (const [i, id] of [slow, ...fast].entries()) {
      await sql()`update public.trip_requests set auto_book = true,
        next_check_at = timestamptz '1900-01-01 00:00:00+00' + make_interval(secs => ${i + 1})
        where id = ${id}`;
    }
    const started = Date.now();
    const run = runMonitor({});
    let slowWhenFastBooked: string | null = null;
    while (Date.now() - started < ORDER_DELAY_MS + 20_000) {
      const statuses = await Promise.all(fast.map(tripStatus));
      if (statuses.every((s) => s === "booked")) {
        slowWhenFastBooked = await tripStatus(slow);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const fastMs = Date.now() - started;
    const result = await run;
    assert.equal(result.status, 200, JSON.stringify(result.json));
    assert.equal(slowWhenFastBooked, "booking", "the others booked while the slow order hung");
    assert.ok(fastMs < ORDER_DELAY_MS, `the others took ${fastMs} ms`);
    assert.equal(await tripStatus(slow), "booked", "the slow one books too when its order returns");
  } finally {
    await sql()`update public.pipeline_settings set concurrency = ${concurrency}`;
    await sql()`select cron.alter_job(${jobid}::bigint, active := ${active})`;
    await closeSql();
  }
});
