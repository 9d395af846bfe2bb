/**
 * The I/O floor of a booking: what this Deno runtime spends on a booking's calls alone, with no
 * core, no saga and no shims around them. Each "booking" is the monitor's 4 provider requests
 * (the re-price's `GET /air/offers/{id}`, Stripe's authorize, Duffel's order, Stripe's capture;
 * the monitor's two Upstash lock commands are left out)
 * and 5 SQL round trips shaped as `db.ts` `callOneTrip` sends them (one simple-protocol query:
 * the three `set_config`s and a ~1 KB dollar-quoted JSON argument read back as text), in the
 * same order, the next call leaving only when the previous answer is read, N bookings in flight.
 *
 * It talks to the running local stack (`bash scripts/stack.sh up`; run it in the stack's
 * network namespace, with `eval "$(bash scripts/stack.sh env)"`): the fake Duffel and the fake
 * Stripe answer with the bodies they give the monitor, but every request here is a GET of an
 * order, offer or payment intent the stack already holds (no side effect, so it can run any
 * number of times; the monitor's POSTs carry 0.3-1 KB bodies more). The SQL goes to PostgreSQL
 * as `pipeline_functions` through postgres.js with `db.ts`'s options and calls no function.
 *
 * Prints one JSON object: CPU ms per booking on this process's main thread (what the hosted
 * runtime's per-worker CPU timer counts) and in all (`bench/thread_cpu.ts`).
 *
 *   deno run -A scripts/bench-io-floor.ts [--bookings 1000] [--concurrency 64] [--warm 200]
 *     [--latency 0]
 *
 * `--latency ms` makes the fake Duffel answer after that long (its `/_fake/config`, reset to none
 * at the end), as `bench-monitor.ts --latency` does: the re-price and the order wait, Stripe not.
 */
import { postgres } from "../supabase/functions/_shared/deps.ts";
import { db } from "../supabase/functions/_shared/db.ts";
import { type CoreHttpRequest, execute } from "../supabase/functions/_shared/fetcher.ts";
import { threadCpuMs, totalMs } from "./bench/thread_cpu.ts";
import { fakeDuffelConfig } from "./bench/fake_duffel.ts";

const args: Record<string, string> = {
  bookings: "1000",
  concurrency: "64",
  warm: "200",
  latency: "0",
};
for (let i = 0; i < Deno.args.length; i += 2) {
  const k = Deno.args[i].replace(/^--/, "");
  if (!(k in args) || Deno.args[i + 1] === undefined) throw new Error(`unknown or empty: ${k}`);
  args[k] = Deno.args[i + 1];
}
const env = (name: string): string => {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`${name} is not set: eval "$(bash scripts/stack.sh env)" first`);
  return v;
};

/** A booked attempt's provider ids (a booking the stack has made: the demo or a bench run). */
async function bookedIds(): Promise<{ offer: string; order: string; intent: string }> {
  const admin = postgres(env("SUPABASE_DB_URL"), { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`
      select state->>'offer_id' as offer, order_id as order, payment_intent as intent
        from public.booking_attempts
       where order_id is not null and payment_intent is not null
       order by created_at desc limit 1`;
    if (rows.length === 0) {
      throw new Error("no booking yet: run scripts/bench-monitor.ts --path booking first");
    }
    return rows[0] as unknown as { offer: string; order: string; intent: string };
  } finally {
    await admin.end();
  }
}

const ids = await bookedIds();
const sql = db(env("PIPELINE_DB_URL"));
const duffelHeaders: [string, string][] = [
  ["Authorization", `Bearer ${env("DUFFEL_ACCESS_TOKEN")}`],
  ["Duffel-Version", "v2"],
  ["Accept", "application/json"],
];
const stripeHeaders: [string, string][] = [["Authorization", `Bearer ${env("STRIPE_SECRET_KEY")}`]];
const get = (base: string, path: string, headers: [string, string][]): CoreHttpRequest => ({
  method: "GET",
  url: base + path,
  headers,
  body: null,
  timeout_ms: 30_000,
});
const requests = [
  get(env("DUFFEL_API_URL"), `/air/offers/${ids.offer}`, duffelHeaders),
  get(env("STRIPE_API_URL"), `/v1/payment_intents/${ids.intent}`, stripeHeaders),
  get(env("DUFFEL_API_URL"), `/air/orders/${ids.order}`, duffelHeaders),
  get(env("STRIPE_API_URL"), `/v1/payment_intents/${ids.intent}`, stripeHeaders),
];
/** An attempt state's size of JSON (the saves' argument; ~1 KB). */
const argument = JSON.stringify({
  trip_id: crypto.randomUUID(),
  attempt_id: crypto.randomUUID(),
  state: { pad: "x".repeat(900), version: 3 },
});
/** `callOneTrip`'s query with the call replaced by the argument read back (no function runs). */
const query = `select set_config('role', 'service_role', true),
       set_config('request.jwt.claims', $pf$${'{"role":"service_role"}'}$pf$, true),
       set_config('app.correlation_id', $pf$$pf$, true);
     select $pf$${argument}$pf$::jsonb::text as r`;
const bodyBytes: number[] = [];

/**
 * One booking's calls in the monitor's order (recorded from its driver): the re-price, the
 * travellers' read, the begin, then each request after the save that marks it, and the close.
 */
async function booking(): Promise<void> {
  const q = () => sql.unsafe(query).simple();
  const f = async (i: number) => {
    const out = await execute(requests[i]);
    if (out.kind !== "response" || out.status !== 200) throw new Error(`request ${i}: ${out.kind}`);
    bodyBytes[i] = out.body.length;
  };
  await f(0); // the re-price
  await q(); // monitor_passengers
  await q(); // monitor_begin_attempt (the authorize's mark)
  await f(1); // authorize
  await q(); // the order's mark
  await f(2); // the order
  await q(); // the capture's mark
  await f(3); // capture
  await q(); // the closing write
}

async function run(n: number, concurrency: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await booking();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
}

/** Sets the fake Duffel's answer delay (null: none). */
const duffelLatency = (ms: number | null) =>
  fakeDuffelConfig(env("DUFFEL_API_URL"), { latency_ms: ms });

const n = Number(args.bookings);
const concurrency = Number(args.concurrency);
const latency = Number(args.latency);
if (!Number.isFinite(latency) || latency < 0) throw new Error("--latency must be ms >= 0");
await duffelLatency(latency || null);
try {
  await run(Number(args.warm), concurrency);
  const before = threadCpuMs(Deno.pid);
  const started = performance.now();
  await run(n, concurrency);
  const wallMs = performance.now() - started;
  const after = threadCpuMs(Deno.pid);
  const main = (after.get("deno") ?? 0) - (before.get("deno") ?? 0);
  await sql.end();
  console.log(JSON.stringify({
    bookings: n,
    concurrency,
    duffel_latency_ms: latency,
    wall_ms: Math.round(wallMs),
    main_thread_cpu_ms_per_booking: (main / n).toFixed(3),
    cpu_ms_per_booking: ((totalMs(after) - totalMs(before)) / n).toFixed(3),
    response_body_bytes: bodyBytes,
    sql_argument_bytes: argument.length,
  }));
} finally {
  await duffelLatency(null);
}
