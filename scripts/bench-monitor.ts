/**
 * The monitor at scale, on the running local stack (issue 10 item 4): seeds due watched trips,
 * runs auto-book-monitor invocations through the router and prints what they cost.
 *
 *   eval "$(bash scripts/stack.sh env)"
 *   deno run -A scripts/bench-monitor.ts [--trips 10000] [--batch 5000] [--invocations 2]
 *     [--path waiting|booking] [--latency 0|500] [--concurrency 64] [--warm 0]
 *     [--warm-path waiting|booking]
 *
 * `--invocations` runs start together (the fan-out a tick would do); each claims `--batch`.
 * `--warm N` first runs N trips of the same path through one invocation, outside the measurement
 * (the empty warm-up runs load every isolate but do not run the path's code: without it the
 * measured run includes the JIT's and wasm tier-up's first pass over the path, on one isolate).
 * `--warm-path` picks the warm-up's path (default `--path`): `--path booking --warm-path waiting`
 * measures bookings on an isolate that has only checked trips before, as in production, where a
 * monitor isolate's invocations check many trips for each one that books.
 * Printed per scenario: wall time, trips/s, the router process's CPU ms per trip (utime + stime
 * from /proc, the process that runs every function; the fakes run elsewhere) and by thread, its
 * peak RSS, database transactions per trip (pg_stat_database xact_commit, measured by Postgres)
 * and round trips per trip (each transaction is one simple-protocol query, db.ts callOneTrip), provider
 * and Upstash calls
 * per trip (the runs' own counts, and the fake Duffel's request count), and the outcomes.
 * Every cron job and the fake Stripe's webhook deliveries are paused while it runs (restored at
 * the end), and the measurement starts once the router is quiet, so the router runs only the
 * monitor; seeded waiting trips are deleted afterwards.
 */
import { connect, loadEnv } from "./stack/testkit.ts";
import { dropSeeded, seedTrips } from "./stack/seed_trips.ts";
import { threadCpuMs } from "./bench/thread_cpu.ts";
import { fakeDuffelConfig } from "./bench/fake_duffel.ts";

const args: Record<string, string | number> = {
  trips: 10000,
  batch: 5000,
  invocations: 2,
  path: "waiting",
  latency: 0,
  concurrency: 64,
  warm: 0,
  "warm-path": "",
};
for (let i = 0; i < Deno.args.length; i += 2) {
  const k = Deno.args[i].replace(/^--/, "");
  if (!(k in args) || Deno.args[i + 1] === undefined) throw new Error(`unknown or empty: ${k}`);
  args[k] = Deno.args[i + 1];
}
const env = loadEnv();
const FUNCTIONS = `${env.SUPABASE_URL}/functions/v1`;
const DUFFEL = env.DUFFEL_API_URL ?? "http://127.0.0.1:54391";
const STRIPE = env.STRIPE_API_URL ?? "http://127.0.0.1:54392";
const KEY = env.SUPABASE_SECRET_KEY ?? JSON.parse(env.SUPABASE_SECRET_KEYS).default;
const db = connect(env, 2);

function routerPid(): number {
  return Number(Deno.readTextFileSync(".local/run/router.pid").trim());
}
function cpuMs(pid: number): number {
  // utime + stime of the process and its threads, in clock ticks (100 Hz on Linux).
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}
/**
 * Waits until nothing runs in the router: a job invoked just before the pause (a notify-dispatch
 * run sending the previous run's confirmation emails, say) or a pg_net request still queued
 * would otherwise land in the measurement. Quiet: no queued pg_net request and at most one clock
 * tick (10 ms) of router CPU in 300 ms, twice in a row; gives up after 60 s.
 */
async function routerQuiet(pid: number): Promise<void> {
  let calm = 0;
  for (let i = 0; i < 200 && calm < 2; i++) {
    const before = cpuMs(pid);
    await new Promise((r) => setTimeout(r, 300));
    const [{ queued }] = await db`select count(*)::int as queued from net.http_request_queue`;
    calm = cpuMs(pid) - before <= 10 && queued === 0 ? calm + 1 : 0;
  }
  if (calm < 2) console.error("the router did not go quiet within 60 s; measuring anyway");
}
function peakRssMb(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmHWM:\s+(\d+) kB/);
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}
async function xacts(): Promise<number> {
  const [r] =
    await db`select xact_commit::bigint as n from pg_stat_database where datname = current_database()`;
  return Number(r.n);
}
async function duffelCount(): Promise<number> {
  const s = await (await fetch(`${DUFFEL}/_fake/stats`)).json();
  return Object.values(s.data as Record<string, number>).reduce((a, b) => a + b, 0);
}
const fakeConfig = (body: Record<string, unknown>) => fakeDuffelConfig(DUFFEL, body);
async function runMonitor(): Promise<Record<string, unknown>> {
  const r = await fetch(`${FUNCTIONS}/auto-book-monitor`, {
    method: "POST",
    headers: { apikey: KEY, "Content-Type": "application/json" },
    body: "{}",
  });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`monitor answered ${r.status}: ${JSON.stringify(j)}`);
  return j;
}

const n = Number(args.trips);
const book = args.path === "booking";
const [saved] = await db`select * from public.pipeline_settings`;
// Only the monitor runs in the router while measuring: every cron job paused (not only the
// monitor's and notify-dispatch's: operator-alerts, cleanup and the others invoke functions in
// the same process too; the ones active now are restored at the end), and the fake Stripe's
// automatic webhook deliveries (stripe-webhook runs in the same process) off.
const pausedJobs = (await db`update cron.job set active = false where active returning jobname`)
  .map((j) => j.jobname as string);
// Without `auto` the fake only answers its current setting (it answers the new one when set).
const stripeWebhook = async (auto?: boolean) => {
  const r = await fetch(`${STRIPE}/_fake/webhook`, {
    method: "POST",
    body: JSON.stringify(auto === undefined ? {} : { auto }),
  });
  return (await r.json()).auto as boolean;
};
const stripeAuto = await stripeWebhook();
await stripeWebhook(false);
try {
  await fakeConfig({ rate_limit_per_minute: 1_000_000, latency_ms: null });
  // Leave nothing else due, so the runs claim only the seeded trips.
  await db`update public.trip_requests set next_check_at = now() + interval '1 day'
    where status in ('searching', 'watching', 'booking') and next_check_at <= now()`;
  // Warm the router's isolates (module load, wasm compile, pool) outside the measurement:
  // several rounds of concurrent runs with nothing due, so every isolate has served one.
  for (let i = 0; i < 3; i++) {
    await Promise.all(Array.from({ length: Math.max(4, Number(args.invocations)) }, runMonitor));
  }
  const warm = Number(args.warm);
  const warmBook = (args["warm-path"] || args.path) === "booking";
  if (warm > 0) {
    const seededWarm = await seedTrips(db, DUFFEL, warm, { book: warmBook });
    await db`update public.pipeline_settings set batch_size = ${warm},
      provider_call_budget = ${warm * (warmBook ? 6 : 1) + 100}, concurrency = ${
      Number(args.concurrency)
    },
      duffel_calls_per_second = 10000, stripe_calls_per_second = 10000`;
    const w = await runMonitor();
    const warmPath = warmBook ? "booking" : "waiting";
    console.log(`warmed: ${w.claimed} ${warmPath} trips, ${JSON.stringify(w.outcomes)}`);
    if (!warmBook) await dropSeeded(db, seededWarm);
  }
  const t0 = performance.now();
  const seeded = await seedTrips(db, DUFFEL, n, { book });
  console.log(`seeded ${n} ${args.path} trips in ${Math.round(performance.now() - t0)} ms`);
  await fakeConfig({ latency_ms: Number(args.latency) || null });
  await db`update public.pipeline_settings set batch_size = ${Number(args.batch)},
    provider_call_budget = ${Math.min(100000, Number(args.batch) * (book ? 6 : 1) + 100)},
    concurrency = ${Number(args.concurrency)}, duffel_calls_per_second = 10000,
    stripe_calls_per_second = 10000, claim_lease_seconds = 900, lock_lease_ms = 900000`;
  const pid = routerPid();
  await routerQuiet(pid);
  const cpu0 = cpuMs(pid);
  const threads0 = threadCpuMs(pid);
  const x0 = await xacts();
  const d0 = await duffelCount();
  const started = performance.now();
  const runs = await Promise.all(
    Array.from({ length: Number(args.invocations) }, () => runMonitor()),
  );
  const wall = performance.now() - started;
  const cpu = cpuMs(pid) - cpu0;
  const threads: Record<string, number> = {};
  for (const [name, ms] of threadCpuMs(pid)) {
    const d = ms - (threads0.get(name) ?? 0);
    if (d > 0) threads[name] = d;
  }
  const x = (await xacts()) - x0;
  const duffel = (await duffelCount()) - d0;
  const trips = runs.reduce((s, r) => s + Number(r.claimed), 0);
  const cost: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.cost as Record<string, number>)) {
      cost[k] = (cost[k] ?? 0) + v;
    }
    for (const [k, v] of Object.entries(r.outcomes as Record<string, number>)) {
      outcomes[k] = (outcomes[k] ?? 0) + v;
    }
  }
  const per = (v: number) => (trips ? (v / trips).toFixed(3) : "-");
  // The isolates' own threads ("deno": the main one, which serves too; "serve-worker-#": the
  // others of `deno serve --parallel`): what the edge runtime's CPU limit counts (a CPU timer
  // per worker thread, CLOCK_THREAD_CPUTIME_ID), leaving out V8's helper threads (concurrent
  // GC, optimising compiles) and tokio's blocking pool.
  const isolateMs = Object.entries(threads)
    .filter(([name]) => name === "deno" || name.startsWith("serve-worker"))
    .reduce((sum, [, ms]) => sum + ms, 0);
  console.log(JSON.stringify(
    {
      scenario:
        `${args.path}, ${args.latency} ms provider latency, ${args.invocations} x batch ${args.batch}, concurrency ${args.concurrency}`,
      due: n,
      trips,
      left: runs.map((r) => r.left_for_next_run),
      wall_ms: Math.round(wall),
      trips_per_s: Math.round(trips / (wall / 1000)),
      cpu_ms_per_trip: per(cpu),
      cpu_ms_per_invocation: Math.round(cpu / runs.length),
      isolate_cpu_ms_per_trip: per(isolateMs),
      peak_rss_mb: peakRssMb(pid),
      // Where the CPU went, by thread name (an ended thread's CPU counts in the process total).
      cpu_ms_by_thread: threads,
      db_transactions_per_trip: per(x),
      // Every transaction is one round trip: a batch, and every other call (db.ts callOneTrip),
      // is one simple-protocol query of two statements (set_config, the call).
      db_round_trips_per_trip: per(x),
      run_sql_transactions_per_trip: per(cost.sql_transactions),
      batches: cost.batches,
      duffel_calls_per_trip: per(cost.duffel),
      duffel_requests_seen_by_fake_per_trip: per(duffel),
      stripe_calls_per_trip: per(cost.stripe),
      upstash_commands_per_trip: per(cost.upstash + cost.limit_takes),
      upstash_requests_per_trip: per(cost.upstash_requests + cost.limit_takes),
      outcomes,
    },
    null,
    2,
  ));
  await fakeConfig({ latency_ms: null });
  if (!book) await dropSeeded(db, seeded);
} finally {
  await db`update public.pipeline_settings set batch_size = ${saved.batch_size},
    provider_call_budget = ${saved.provider_call_budget}, concurrency = ${saved.concurrency},
    duffel_calls_per_second = ${saved.duffel_calls_per_second},
    stripe_calls_per_second = ${saved.stripe_calls_per_second},
    claim_lease_seconds = ${saved.claim_lease_seconds}, lock_lease_ms = ${saved.lock_lease_ms}`;
  await db`update cron.job set active = true where jobname = any(${pausedJobs})`;
  await stripeWebhook(stripeAuto);
  await db.end();
}
