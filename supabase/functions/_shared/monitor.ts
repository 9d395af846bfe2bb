/**
 * The monitor's run: claims due trips and drives the core's per-trip `TripDriver` for each (up to
 * the configured concurrency) through the one executor (`engine.ts`). It decides nothing itself.
 * See docs/contracts.md "The monitor".
 */
import { claimLimit, type DriverConfig, tripDriver } from "./core.ts";
import { db, serviceCallOneTrip } from "./db.ts";
import { callSql, drive, type ExecContext, send, services } from "./engine.ts";
import { type Env, requireStripe } from "./env.ts";
import { errorFields, type Logger } from "./log.ts";
import { poolOptions, runPool } from "./pool.ts";
import { providerLimits } from "./provider_limit.ts";
import { SqlBatcher } from "./sql_batch.ts";
import { UpstashBatcher } from "./upstash_batch.ts";
import type { HttpRequest } from "./types/HttpRequest.ts";
import { reportError } from "./sentry.ts";

/** What one monitor run did (the function's response body). */
export interface RunSummary {
  run_id: string;
  enabled: boolean;
  claimed: number;
  outcomes: Record<string, number>;
  left_for_next_run: number;
  duration_ms: number;
  /** What the run cost: provider and Upstash calls, SQL transactions (batched and alone). */
  cost: RunCost;
  /** Provider calls made by this run, per service (metrics: app.metrics_monitor_hourly). */
  provider_calls: Record<string, number>;
  /** Of those, answers with HTTP 429 (rate limited), per service. */
  provider_429: Record<string, number>;
}

/** The run's calls, counted by the executor (docs/benchmarks.md reads them). */
export interface RunCost {
  duffel: number;
  stripe: number;
  upstash: number;
  /** Upstash HTTP requests the lock commands took (pipelines; `upstash` counts commands). */
  upstash_requests: number;
  /** Upstash calls of the shared provider limit (token takes). */
  limit_takes: number;
  /** 429s and "remaining 0" answers that paused every instance. */
  provider_pauses: number;
  /**
   * SQL transactions: the claims, each unbatched call, each batch, each call a batch that failed
   * as a whole ran on its own, the heartbeat.
   */
  sql_transactions: number;
  /** Calls that went through `monitor_batch`, and how many batches carried them. */
  batched_calls: number;
  batches: number;
}

type Claim = { trip: { id: string } };
type ClaimResult = {
  enabled: boolean;
  settings: Record<string, number | boolean> & {
    concurrency?: number;
    claim_lease_seconds?: number;
  };
  due_left: number;
  trips: Claim[];
};

async function claim(ctx: ExecContext, args: unknown): Promise<ClaimResult> {
  return JSON.parse(await callSql(ctx, "monitor_claim", "service", args)) as ClaimResult;
}

/** Counts each provider call and each SQL transaction of the run into `cost`. */
function counted(ctx: ExecContext, cost: RunCost): ExecContext {
  const before = ctx.beforeSend;
  return {
    ...ctx,
    beforeSend: (req: HttpRequest) => {
      cost[req.service as "duffel" | "stripe" | "upstash"] =
        (cost[req.service as "duffel" | "stripe" | "upstash"] ?? 0) + 1;
      return before ? before(req) : Promise.resolve();
    },
  };
}

/**
 * Drives `claims` with at most `concurrency` drivers at once (a driver waiting on a slow provider
 * call lends its place, see pool.ts), counting outcomes into `summary`.
 */
async function driveAll(
  ctx: ExecContext,
  claims: Claim[],
  concurrency: number,
  config: DriverConfig,
  summary: RunSummary,
): Promise<void> {
  await runPool(claims, poolOptions(concurrency), async (c, slot) => {
    let outcome = "failed";
    // The trip's successful provider calls, on its one "trip done" line (engine.ts `calls`).
    const calls: string[] = [];
    try {
      const done = await drive(tripDriver(c, config, Date.now()), { ...ctx, slot, calls });
      outcome = done.outcome;
      ctx.log.info("trip done", {
        trip_id: c.trip.id,
        outcome,
        reason: done.reason,
        provider_calls: calls.join("; "),
      });
    } catch (err) {
      ctx.log.error("trip driver failed", {
        trip_id: c.trip.id,
        provider_calls: calls.join("; "),
        ...errorFields(err),
      });
      await reportError(err, { function: "auto-book-monitor", trip_id: c.trip.id });
    }
    summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
  });
}

/**
 * The longest a group commit may run (`statement_timeout`). Each call in it waits at most 2 s for a
 * lock (`lock_timeout` on `app.monitor_batch`); this bounds the batch as a whole, which otherwise
 * could take calls x 2 s. Past it, 57014: nothing of the batch commits and each of its drivers
 * stops and resumes on the next run. A batch of 500 calls takes well under a second here.
 */
const BATCH_TIMEOUT_MS = 15_000;

/**
 * One monitor run: all due trips (or just `tripId`), bounded by the settings. A paused monitor
 * still runs: `monitor_claim` then hands out only trips whose open attempt may hold money, so
 * they finish, and no new attempt starts.
 */
export async function runMonitor(e: Env, tripId: string | null, log: Logger): Promise<RunSummary> {
  const started = Date.now();
  const runId = crypto.randomUUID();
  requireStripe(e); // before leasing anything: a run without its keys would lease and do nothing
  const base: ExecContext = { sql: db(e.dbUrl), services: services(e), log };
  const cost: RunCost = {
    duffel: 0,
    stripe: 0,
    upstash: 0,
    upstash_requests: 0,
    limit_takes: 0,
    provider_pauses: 0,
    sql_transactions: 2,
    batched_calls: 0,
    batches: 0,
  };
  const { settings, enabled } = await claim(base, { limit: 0, lease_seconds: 0, trip_id: null });
  const limits = providerLimits(e.upstashUrl, e.upstashToken, log);
  limits.configure({
    duffel: Number(settings.duffel_calls_per_second ?? 0),
    stripe: Number(settings.stripe_calls_per_second ?? 0),
  }, log);
  const takes0 = limits.takes;
  const pauses0 = limits.pauses;
  // The group commit: one round trip per batch (db.ts serviceCallOneTrip).
  const batch = new SqlBatcher(
    (argsJson) =>
      serviceCallOneTrip(base.sql, "monitor_batch", argsJson, log.correlationId, BATCH_TIMEOUT_MS),
    undefined,
    (fn, argsJson) => serviceCallOneTrip(base.sql, fn, argsJson, log.correlationId),
  );
  const upstash = new UpstashBatcher((req) => send(req, base.services));
  const ctx = counted({
    ...base,
    batch,
    upstash,
    beforeSend: limits.before,
    afterSend: limits.after,
    onSql: () => void cost.sql_transactions++,
  }, cost);
  const claimed = await claim(ctx, {
    limit: tripId ? 1 : claimLimit(settings),
    lease_seconds: Number(settings.claim_lease_seconds ?? 120),
    trip_id: tripId,
  });
  // The flags once per run: every driver decides on the same snapshot (the kill switch stops
  // new attempts within one run; open attempts resume regardless). Unreadable flags fail
  // closed: an empty snapshot begins no attempt, and held money still settles.
  let flags: unknown = { flags: [] };
  try {
    flags = JSON.parse(await callSql(ctx, "monitor_flags", "service", {}));
  } catch (err) {
    log.warn("flags unreadable: no new attempts this run", errorFields(err));
  }
  const config: DriverConfig = {
    lock_lease_ms: Number(settings.lock_lease_ms ?? 60_000),
    flags,
  };
  const summary: RunSummary = {
    run_id: runId,
    enabled,
    claimed: claimed.trips.length,
    outcomes: {},
    left_for_next_run: claimed.due_left,
    duration_ms: 0,
    cost,
    provider_calls: {},
    provider_429: {},
  };
  ctx.onProviderCall = (service, status) => {
    summary.provider_calls[service] = (summary.provider_calls[service] ?? 0) + 1;
    if (status === 429) summary.provider_429[service] = (summary.provider_429[service] ?? 0) + 1;
  };
  await driveAll(ctx, claimed.trips, Number(settings.concurrency ?? 4), config, summary);
  cost.upstash_requests = upstash.pipelines;
  cost.batched_calls = batch.stats.calls;
  cost.batches = batch.stats.batches;
  cost.sql_transactions += batch.stats.batches + batch.stats.alone + 1;
  cost.limit_takes = limits.takes - takes0;
  cost.provider_pauses = limits.pauses - pauses0;
  summary.duration_ms = Date.now() - started;
  await callSql(ctx, "monitor_heartbeat", "service", {
    run_id: runId,
    started_at: new Date(started).toISOString(),
    finished_at: new Date().toISOString(),
    summary,
  });
  return summary;
}
