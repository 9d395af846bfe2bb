/**
 * The monitor's executor: claims due trips, runs the core's `TripDriver` for each (up to the
 * configured concurrency), executes the commands it emits (HTTP to Duffel, Stripe and the Upstash
 * lock; calls to the `app.monitor_*` SQL API as `service_role`) and feeds the outcomes back. It
 * decides nothing itself. See docs/contracts.md "The monitor".
 */
import { claimLimit, type DriverCommand, type DriverConfig, TripDriver } from "./core.ts";
import { asService, db } from "./db.ts";
import type { Sql } from "./deps.ts";
import { type Env, requireStripe } from "./env.ts";
import { execute } from "./fetcher.ts";
import { errorFields, type Logger } from "./log.ts";

/** The SQL functions a driver may call (anything else is refused). */
const SQL_API = new Set([
  "monitor_reschedule",
  "monitor_expire",
  "monitor_begin_attempt",
  "monitor_save_attempt",
  "monitor_passengers",
  "monitor_flag_attempt",
  "monitor_record_search",
  "monitor_record_search_failure",
]);

/** Upper bound on commands per trip in one run: a runaway driver cannot spin the isolate. */
const MAX_STEPS = 200;

/** What one monitor run did (the function's response body). */
export interface RunSummary {
  run_id: string;
  enabled: boolean;
  claimed: number;
  outcomes: Record<string, number>;
  left_for_next_run: number;
  duration_ms: number;
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

async function callApi(sql: Sql, fn: string, args: unknown): Promise<unknown> {
  const rows = await asService(
    sql,
    (tx) => tx.unsafe(`select app.${fn}($1::text::jsonb) as r`, [JSON.stringify(args)]),
  );
  return rows[0].r;
}

/** Runs the driver for one claimed trip to completion; returns its final outcome. */
async function drive(sql: Sql, claim: Claim, config: DriverConfig, log: Logger) {
  const driver = new TripDriver(claim, config, Date.now());
  try {
    for (let step = 0; step < MAX_STEPS; step++) {
      const cmd: DriverCommand = driver.poll(Date.now());
      if (cmd.kind === "done") return cmd;
      if (cmd.kind === "http") {
        const out = await execute(cmd.request);
        if (out.kind === "response") driver.handleHttp(Date.now(), out.status, out.body);
        else driver.handleTransport(Date.now(), out.kind);
        continue;
      }
      let result: string | undefined;
      try {
        // Anything outside the API is refused like a missing function, so the driver still
        // winds down (and releases its lock) through its error path.
        if (!SQL_API.has(cmd.function)) {
          throw Object.assign(new Error("not in the monitor SQL API"), { code: "42883" });
        }
        result = JSON.stringify(await callApi(sql, cmd.function, cmd.args));
      } catch (err) {
        const code = (err as { code?: string }).code;
        log.warn("sql call failed", { trip_id: claim.trip.id, fn: cmd.function, sqlstate: code });
        driver.handleSqlError(Date.now(), typeof code === "string" ? code : "XX000");
      }
      if (result !== undefined) driver.handleSql(Date.now(), result);
    }
    return { kind: "done", outcome: "stopped", reason: "step_limit" } as const;
  } finally {
    driver.free();
  }
}

/** Drives `claims` with at most `concurrency` drivers at once, counting outcomes into `summary`. */
async function driveAll(
  sql: Sql,
  claims: Claim[],
  concurrency: number,
  config: DriverConfig,
  log: Logger,
  summary: RunSummary,
): Promise<void> {
  const queue = [...claims];
  const worker = async () => {
    for (let claim = queue.shift(); claim; claim = queue.shift()) {
      let outcome = "failed";
      try {
        const done = await drive(sql, claim, config, log);
        outcome = done.outcome;
        log.info("trip done", { trip_id: claim.trip.id, outcome, reason: done.reason });
      } catch (err) {
        log.error("trip driver failed", { trip_id: claim.trip.id, ...errorFields(err) });
      }
      summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
    }
  };
  const n = Math.max(1, Math.min(concurrency, queue.length));
  await Promise.all(Array.from({ length: n }, worker));
}

/**
 * One monitor run: all due trips (or just `tripId`), bounded by the settings. A paused monitor
 * still runs: `monitor_claim` then hands out only trips whose open attempt may hold money, so
 * they finish, and no new attempt starts.
 */
export async function runMonitor(e: Env, tripId: string | null, log: Logger): Promise<RunSummary> {
  const started = Date.now();
  const runId = crypto.randomUUID();
  const sql = db(e.dbUrl);
  const { settings, enabled } = await callApi(sql, "monitor_claim", {
    limit: 0,
    lease_seconds: 0,
    trip_id: null,
  }) as ClaimResult;
  const claimed = await callApi(sql, "monitor_claim", {
    limit: tripId ? 1 : claimLimit(settings),
    lease_seconds: Number(settings.claim_lease_seconds ?? 120),
    trip_id: tripId,
  }) as ClaimResult;
  const config: DriverConfig = {
    duffel: { base_url: e.duffelUrl, access_token: e.duffelToken },
    stripe: { base_url: e.stripeUrl, secret_key: requireStripe(e) },
    upstash: { url: e.upstashUrl, token: e.upstashToken },
    lock_lease_ms: Number(settings.lock_lease_ms ?? 60_000),
  };
  const summary: RunSummary = {
    run_id: runId,
    enabled,
    claimed: claimed.trips.length,
    outcomes: {},
    left_for_next_run: claimed.due_left,
    duration_ms: 0,
  };
  await driveAll(sql, claimed.trips, Number(settings.concurrency ?? 4), config, log, summary);
  summary.duration_ms = Date.now() - started;
  await callApi(sql, "monitor_heartbeat", {
    run_id: runId,
    started_at: new Date(started).toISOString(),
    finished_at: new Date().toISOString(),
    summary,
  });
  return summary;
}
