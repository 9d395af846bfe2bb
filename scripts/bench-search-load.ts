/**
 * Load on trip-search through the local router (issue 10 item 6): a bounded closed-loop load
 * client on loopback. For each level of concurrent travellers (default 1, 8, 32), every traveller
 * is a fresh signed-in user who sends one search at a time, for `--seconds` each level, with the
 * fake Duffel answering every call after 300-800 ms (uniform). Prints requests per second,
 * latency p50/p95/p99 of the searches that ran (201) and of every answer, the error rate
 * (5xx and transport failures), the 429s, and whether the per-user rate limit held: no traveller
 * got more than TRIP_SEARCH_RATE_LIMIT's count of searches through inside one of the limiter's
 * windows.
 *
 *   eval "$(bash scripts/stack.sh env)"
 *   deno run -A scripts/bench-search-load.ts [--levels 1,8,32] [--seconds 20]
 */
import { connect, createUser, loadEnv, mintUserJwt } from "./stack/testkit.ts";
import { freshRoute } from "./stack/seed_trips.ts";
import { fakeDuffelConfig } from "./bench/fake_duffel.ts";

const opts: Record<string, string> = { levels: "1,8,32", seconds: "20" };
for (let i = 0; i < Deno.args.length; i += 2) {
  opts[Deno.args[i].replace(/^--/, "")] = Deno.args[i + 1];
}
const env = loadEnv();
const URL = `${env.SUPABASE_URL}/functions/v1/trip-search`;
const DUFFEL = env.DUFFEL_API_URL ?? "http://127.0.0.1:54391";
const [limitCount, limitWindow] = (env.TRIP_SEARCH_RATE_LIMIT ?? "10/60").split("/").map(Number);
const db = connect(env, 2);

const fakeConfig = (body: Record<string, unknown>) => fakeDuffelConfig(DUFFEL, body);

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

type Sample = { user: number; status: number; ms: number; at: number };

async function level(travellers: number, seconds: number) {
  const users = await Promise.all(Array.from({ length: travellers }, async () => {
    const id = crypto.randomUUID();
    await createUser(db, id);
    return await mintUserJwt(id, { env });
  }));
  const route = freshRoute();
  const day = new Date(Date.now() + 60 * 86_400_000).toISOString().slice(0, 10);
  const body = JSON.stringify({
    ...route,
    departure_date: day,
    adults: 1,
    cabin: "economy",
    nonstop_only: true,
    max_total_minor: 42000,
    currency: "GBP",
  });
  const samples: Sample[] = [];
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(users.map(async (jwt, user) => {
    while (performance.now() < end) {
      const t = performance.now();
      let status = 0;
      try {
        const res = await fetch(URL, {
          method: "POST",
          headers: { Authorization: `Bearer ${jwt}`, "Content-Type": "application/json" },
          body,
        });
        await res.body?.cancel();
        status = res.status;
      } catch {
        status = 0;
      }
      samples.push({ user, status, ms: performance.now() - t, at: t });
      // A 429 says when to come back; a real client waits. Here it waits a second, so the
      // limiter is asked again and again (what the test of "the limit holds" needs).
      if (status === 429) await new Promise((r) => setTimeout(r, 1000));
    }
  }));
  const wall = (performance.now() - started) / 1000;
  const ok = samples.filter((s) => s.status === 201).map((s) => s.ms).sort((a, b) => a - b);
  const all = samples.map((s) => s.ms).sort((a, b) => a - b);
  const errors = samples.filter((s) => s.status === 0 || s.status >= 500).length;
  const limited = samples.filter((s) => s.status === 429).length;
  // The limit is @upstash/ratelimit's sliding window: within each fixed window (aligned to
  // the epoch, as the library counts) at most `count` pass; the previous window's count is
  // weighted in, so any 60 s span may see a few more (shown as `most_in_any_span`).
  let most = 0;
  let mostSpan = 0;
  const w = limitWindow * 1000;
  for (let u = 0; u < travellers; u++) {
    const times = samples.filter((s) => s.user === u && s.status === 201)
      .map((s) => performance.timeOrigin + s.at).sort((a, b) => a - b);
    const perWindow = new Map<number, number>();
    for (const t of times) {
      perWindow.set(Math.floor(t / w), (perWindow.get(Math.floor(t / w)) ?? 0) + 1);
    }
    most = Math.max(most, ...perWindow.values());
    for (let i = 0; i < times.length; i++) {
      mostSpan = Math.max(mostSpan, times.filter((t) => t >= times[i] && t < times[i] + w).length);
    }
  }
  return {
    travellers,
    seconds: Math.round(wall * 10) / 10,
    requests: samples.length,
    rps: Math.round((samples.length / wall) * 10) / 10,
    searches_per_s: Math.round((ok.length / wall) * 10) / 10,
    searched_201: ok.length,
    p50_ms: Math.round(pct(ok, 50)),
    p95_ms: Math.round(pct(ok, 95)),
    p99_ms: Math.round(pct(ok, 99)),
    all_p50_ms: Math.round(pct(all, 50)),
    all_p99_ms: Math.round(pct(all, 99)),
    error_rate: samples.length ? Math.round((errors / samples.length) * 10000) / 10000 : 0,
    rate_limited_429: limited,
    most_searches_per_user_per_window: most,
    most_in_any_span: mostSpan,
    limit: `${limitCount}/${limitWindow}s`,
    limit_held: most <= limitCount,
  };
}

try {
  await fakeConfig({ latency_ms: [300, 800] });
  for (const n of opts.levels.split(",").map(Number)) {
    console.log(JSON.stringify(await level(n, Number(opts.seconds))));
  }
} finally {
  await fakeConfig({ latency_ms: null });
  await db.end();
}
