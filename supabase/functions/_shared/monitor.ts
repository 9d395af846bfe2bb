/**
 * The monitor's run: claims due trips and drives the core's per-trip `TripDriver` for each (up to
 * the configured concurrency) through the one executor (`engine.ts`). It decides nothing itself.
 * See docs/contracts.md "The monitor".
 */
import { claimLimit, type DriverConfig, tripDriver } from "./core.ts";
import { db } from "./db.ts";
import { callSql, drive, type ExecContext, services } from "./engine.ts";
import { type Env, requireStripe } from "./env.ts";
import { errorFields, type Logger } from "./log.ts";
import { poolOptions, runPool } from "./pool.ts";
import { reportError } from "./sentry.ts";

/** What one monitor run did (the function's response body). */
export interface RunSummary {
  run_id: string;
  enabled: boolean;
  claimed: number;
  outcomes: Record<string, number>;
  left_for_next_run: number;
  duration_ms: number;
  /** Provider calls made by this run, per service (metrics: app.metrics_monitor_hourly). */
  provider_calls: Record<string, number>;
  /** Of those, answers with HTTP 429 (rate limited), per service. */
  provider_429: Record<string, number>;
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
    try {
      const done = await drive(tripDriver(c, config, Date.now()), { ...ctx, slot });
      outcome = done.outcome;
      ctx.log.info("trip done", { trip_id: c.trip.id, outcome, reason: done.reason });
    } catch (err) {
      ctx.log.error("trip driver failed", { trip_id: c.trip.id, ...errorFields(err) });
      await reportError(err, { function: "auto-book-monitor", trip_id: c.trip.id });
    }
    summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
  });
}

/**
 * One monitor run: all due trips (or just `tripId`), bounded by the settings. A paused monitor
 * still runs: `monitor_claim` then hands out only trips whose open attempt may hold money, so
 * they finish, and no new attempt starts.
 */
export async function runMonitor(e: Env, tripId: string | null, log: Logger): Promise<RunSummary> {
  const started = Date.now();
  const runId = crypto.randomUUID();
  requireStripe(e); // before leasing anything: a run without its keys would lease and do nothing
  const ctx: ExecContext = { sql: db(e.dbUrl), services: services(e), log };
  const { settings, enabled } = await claim(ctx, { limit: 0, lease_seconds: 0, trip_id: null });
  const claimed = await claim(ctx, {
    limit: tripId ? 1 : claimLimit(settings),
    lease_seconds: Number(settings.claim_lease_seconds ?? 120),
    trip_id: tripId,
  });
  const config: DriverConfig = { lock_lease_ms: Number(settings.lock_lease_ms ?? 60_000) };
  const summary: RunSummary = {
    run_id: runId,
    enabled,
    claimed: claimed.trips.length,
    outcomes: {},
    left_for_next_run: claimed.due_left,
    duration_ms: 0,
    provider_calls: {},
    provider_429: {},
  };
  ctx.onProviderCall = (service, status) => {
    summary.provider_calls[service] = (summary.provider_calls[service] ?? 0) + 1;
    if (status === 429) summary.provider_429[service] = (summary.provider_429[service] ?? 0) + 1;
  };
  await driveAll(ctx, claimed.trips, Number(settings.concurrency ?? 4), config, summary);
  summary.duration_ms = Date.now() - started;
  await callSql(ctx, "monitor_heartbeat", "service", {
    run_id: runId,
    started_at: new Date(started).toISOString(),
    finished_at: new Date().toISOString(),
    summary,
  });
  return summary;
}
