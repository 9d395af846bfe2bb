/**
 * The monitor beyond one instance (issue 10 item 5), end to end on the local stack: the scheduled
 * tick fans out to several concurrent invocations that claim disjoint trips (no trip checked
 * twice), and the shared provider rate limit (token bucket in Redis through Upstash REST) holds
 * across all of them; a provider's 429 `Retry-After` pauses every instance. No timing assertions:
 * the limit is checked by counting the fake Duffel's requests per window.
 */
import assert from "node:assert/strict";
import { closeSql, DUFFEL, e2eTest, env, sql } from "./helpers.ts";
import { dropSeeded, type Seeded, seedTrips } from "../../scripts/stack/seed_trips.ts";
import { ProviderLimits, TAKE_SCRIPT } from "../../supabase/functions/_shared/provider_limit.ts";
import { Logger } from "../../supabase/functions/_shared/log.ts";

type Settings = Record<string, number | boolean>;

/** Runs `fn` with the cron job paused, nothing else due, and `settings` applied; restores all. */
async function isolated(settings: Settings, fn: () => Promise<void>): Promise<void> {
  const [saved] = await sql()`select batch_size, provider_call_budget, fanout_max,
    duffel_calls_per_second, stripe_calls_per_second from public.pipeline_settings`;
  await sql()`update cron.job set active = false where jobname = 'auto-book-monitor'`;
  try {
    await sql()`update public.trip_requests set next_check_at = now() + interval '1 hour'
      where status in ('searching', 'watching', 'booking') and next_check_at <= now()`;
    await sql()`update public.pipeline_settings set ${sql()(settings)}`;
    await fn();
  } finally {
    await sql()`update public.pipeline_settings set ${sql()(saved)}`;
    await sql()`update cron.job set active = true where jobname = 'auto-book-monitor'`;
  }
}

/** Runs the cron job's command once (what a tick does); resolves to the requests it queued. */
async function tick(): Promise<number> {
  const [job] = await sql()`select command from cron.job where jobname = 'auto-book-monitor'`;
  const rows = await sql().unsafe(job.command);
  return rows.length;
}

/** Waits until every seeded trip was checked once (or 60 s pass). */
async function checked(seeded: Seeded): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const [{ n }] = await sql()`select count(*)::int as n from public.trip_requests
      where id = any(${seeded.ids}::uuid[]) and check_count > 0`;
    if (n === seeded.ids.length) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runsSince(at: Date): Promise<{ claimed: number; cost: Record<string, number> }[]> {
  // Each invocation writes its heartbeat when it finishes; wait for them a little.
  const rows = await sql()`select summary from public.monitor_runs where started_at >= ${at}
    order by started_at`;
  return rows.map((r) => r.summary);
}

async function reprices(offerId: string): Promise<{ at: string; status: number }[]> {
  const log = await (await fetch(`${DUFFEL}/_fake/requests?path=/air/offers/${offerId}`)).json();
  return (log.data as { at: string; status: number; method: string }[]).filter((e) =>
    e.method === "GET"
  );
}

e2eTest(
  "a tick with a backlog fans out: 3 concurrent invocations, disjoint claims, each trip checked once",
  async () => {
    await isolated({ batch_size: 10, provider_call_budget: 100, fanout_max: 3 }, async () => {
      const seeded = await seedTrips(sql(), DUFFEL, 30);
      try {
        const since = new Date(Date.now() - 1000);
        assert.equal(await tick(), 3, "30 due trips at 10 per run: 3 invocations");
        await checked(seeded);
        const events = await sql()`select trip_id, count(*)::int as n from public.pipeline_events
        where trip_id = any(${seeded.ids}::uuid[]) and stage = 'monitor' group by trip_id`;
        assert.equal(events.length, 30, "every trip was checked");
        assert.ok(events.every((e) => e.n === 1), "and none twice");
        const [{ n }] = await sql()`select count(*)::int as n from public.trip_requests
        where id = any(${seeded.ids}::uuid[]) and check_count = 1 and next_check_at > now()`;
        assert.equal(n, 30, "each rescheduled once");
        assert.equal(
          (await reprices(seeded.offerId)).length,
          30,
          "one re-price per trip, no duplicate",
        );
        // A run the cron job queued just before the pause can still finish in this window; it
        // finds nothing due (everything else was pushed an hour out), so count the runs that
        // claimed work: exactly the tick's three.
        const working = async () => (await runsSince(since)).filter((r) => r.claimed > 0);
        let runs = await working();
        for (let i = 0; i < 50 && runs.length < 3; i++) {
          await new Promise((r) => setTimeout(r, 100));
          runs = await working();
        }
        assert.equal(runs.length, 3, "three invocations did the work");
        assert.deepEqual(runs.map((r) => r.claimed).sort(), [10, 10, 10], "each claimed one batch");
        assert.ok(runs.every((r) => r.cost.batches < r.claimed), "their writes were batched");
      } finally {
        await dropSeeded(sql(), seeded);
      }
    });
  },
);

e2eTest("the shared Duffel limit holds across concurrent invocations", async () => {
  const rate = 4;
  await isolated(
    { batch_size: 8, provider_call_budget: 100, fanout_max: 3, duffel_calls_per_second: rate },
    async () => {
      const seeded = await seedTrips(sql(), DUFFEL, 24);
      try {
        assert.equal(await tick(), 3);
        await checked(seeded);
        const calls = (await reprices(seeded.offerId)).map((e) => Date.parse(e.at)).sort();
        assert.equal(calls.length, 24, "every trip re-priced once");
        // A token bucket of `rate` per second with a burst of `rate` lets at most 2 x rate calls
        // into any one-second window (plus one for the fake's millisecond clock at the edges).
        let most = 0;
        for (let i = 0; i < calls.length; i++) {
          most = Math.max(most, calls.filter((t) => t >= calls[i] && t < calls[i] + 1000).length);
        }
        assert.ok(most <= 2 * rate + 1, `at most ${2 * rate + 1} calls in any second, saw ${most}`);
        const [{ n }] = await sql()`select count(*)::int as n from public.monitor_runs
          where (summary -> 'cost' ->> 'limit_takes')::int > 0 and started_at > now() - interval '2 minutes'`;
        assert.ok(n >= 3, "every invocation took its tokens from the shared bucket");
      } finally {
        await dropSeeded(sql(), seeded);
      }
    },
  );
});

e2eTest("a provider's 429 Retry-After pauses the shared bucket for every instance", async () => {
  const log = new Logger("test", "corr-scale");
  const svc = `duffel`;
  const limits = new ProviderLimits(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN, log);
  limits.configure({ duffel: 1000 }, log);
  const req = {
    service: "duffel",
    method: "GET",
    path: "/air/offers/off_x",
    headers: [],
    body: null,
    timeout_ms: 1000,
  } as unknown as Parameters<typeof limits.before>[0];
  await limits.before(req); // the bucket works
  limits.after(req, {
    kind: "response",
    status: 429,
    body: new Uint8Array(),
    durationMs: 1,
    headers: new Headers({ "retry-after": "30" }),
  });
  const gw = (cmd: unknown[]) =>
    fetch(env.UPSTASH_REDIS_REST_URL, {
      method: "POST",
      headers: { Authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
      body: JSON.stringify(cmd),
    }).then((r) => r.json());
  let ttl = -2;
  for (let i = 0; i < 20 && ttl <= 0; i++) {
    ttl = (await gw(["PTTL", `pl:${svc}:pause`])).result;
    if (ttl <= 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(ttl > 25_000 && ttl <= 30_000, `paused for Retry-After (30 s), ttl ${ttl}`);
  // Another instance asking for tokens now gets none and is told to wait the pause out.
  const other = (await gw(["EVAL", TAKE_SCRIPT, 2, `pl:${svc}`, `pl:${svc}:pause`, 1000, 1000, 8]))
    .result as [number, number];
  assert.equal(other[0], 0, "no token during the pause");
  assert.ok(other[1] > 25_000, "told to wait until the pause ends");
  await gw(["DEL", `pl:${svc}:pause`]);
  const after = (await gw(["EVAL", TAKE_SCRIPT, 2, `pl:${svc}`, `pl:${svc}:pause`, 1000, 1000, 8]))
    .result as [number, number];
  assert.ok(after[0] > 0, "tokens again once the pause is over");
  await closeSql();
});
