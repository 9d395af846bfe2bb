/**
 * The one executor every function uses to drive the core (docs/contracts.md "The drive API"):
 * poll the driver, perform its command, feed the outcome back with the command's id, until it is
 * done. HTTP requests get their service's base URL and credential here (the core never holds
 * either); SQL calls must be on the core's own list (`sql_api()`) with the role it names, and run
 * as `select app.<fn>(<args>::jsonb)::text` in their own transaction (one round trip, db.ts
 * `callOneTrip`), as the caller (RLS) or as `service_role`, with the invocation's correlation id
 * set for the decision log; the monitor's batchable calls (`batch` in `sql_api()`) go through
 * its group commit instead (sql_batch.ts).
 */
import type { HttpRequest } from "./types/HttpRequest.ts";
import type { SqlFunction } from "./types/SqlFunction.ts";
import type { SqlRole } from "./types/SqlRole.ts";
import { type CoreDriver, sqlApi, type Step } from "./core.ts";
import { type Caller, callOneTrip, type Claims } from "./db.ts";
import type { Sql } from "./deps.ts";
import { execute, type FetchOutcome } from "./fetcher.ts";
import type { Logger } from "./log.ts";
import type { Slot } from "./pool.ts";
import type { SqlBatcher } from "./sql_batch.ts";
import type { UpstashBatcher } from "./upstash_batch.ts";
import type { Env } from "./env.ts";

/** Base URL and bearer credential per service, from the function's environment. */
export type Services = Record<HttpRequest["service"], { baseUrl: string; token: string }>;

/** What the executor needs besides the driver. */
export interface ExecContext {
  sql: Sql;
  services: Partial<Services>;
  log: Logger;
  /** The signed-in caller, for `user` SQL calls; absent for service-only work. */
  user?: Claims;
  /** Upper bound on commands for one driver: a runaway driver cannot spin the isolate. */
  maxSteps?: number;
  /**
   * Runs once before the driver's first I/O (not at all when it is done at once, e.g. a body
   * the core refused): trip-search's per-user rate limit, so invalid requests are not counted.
   */
  beforeIo?: () => Promise<void>;
  /** The monitor's pool place: a slow provider call lends it to another trip (pool.ts). */
  slot?: Slot;
  /**
   * The monitor's group commit (sql_batch.ts): calls the core names as batchable go through it,
   * in one transaction with other drivers' calls; every other call keeps its own transaction.
   */
  batch?: SqlBatcher;
  /** Waits before a provider call for the shared rate limit (provider_limit.ts). */
  beforeSend?: (req: HttpRequest) => Promise<void>;
  /** Sees every provider answer (a 429's Retry-After pauses every instance). */
  afterSend?: (req: HttpRequest, out: FetchOutcome) => void;
  /** The monitor's Upstash coalescer: single lock commands go out as one pipeline. */
  upstash?: UpstashBatcher;
  /**
   * Where successful provider answers (2xx) are noted instead of one "provider call" log line
   * each: the monitor logs them on its one "trip done" line. Failures, timeouts and other
   * statuses are still logged one by one. Absent: every call is logged.
   */
  calls?: string[];
  /** Counts each SQL call that runs in a transaction of its own (not batched). */
  onSql?: () => void;
  /** Told of every provider call (its service, and the HTTP status or null): the run's metrics. */
  onProviderCall?: (service: HttpRequest["service"], status: number | null) => void;
}

/** The services the environment configures (a missing secret leaves its service out). */
export function services(e: Env): Partial<Services> {
  const out: Partial<Services> = {
    duffel: { baseUrl: e.duffelUrl, token: e.duffelToken },
    upstash: { baseUrl: e.upstashUrl, token: e.upstashToken },
  };
  if (e.stripeKey) out.stripe = { baseUrl: e.stripeUrl, token: e.stripeKey };
  if (e.resendKey) out.resend = { baseUrl: e.resendUrl, token: e.resendKey };
  return out;
}

/** The core's SQL API: name -> role. Built once per isolate from the wasm module. */
let api: Map<SqlFunction, SqlRole> | undefined;
let batchedBy: Map<SqlFunction, SqlFunction> | undefined;
function sqlRole(fn: SqlFunction): SqlRole | undefined {
  api ??= new Map(sqlApi().map((e) => [e.function, e.role]));
  return api.get(fn);
}

/** The function that may carry `fn` with other calls (the core's list), if any. */
export function sqlBatch(fn: SqlFunction): SqlFunction | undefined {
  batchedBy ??= new Map(
    sqlApi().flatMap((e) => (e.batch ? [[e.function, e.batch] as const] : [])),
  );
  return batchedBy.get(fn);
}

/** Performs `req` against its service, adding the base URL and the credential. */
export function send(req: HttpRequest, svc: Partial<Services>): Promise<FetchOutcome> {
  const target = svc[req.service];
  if (!target) return Promise.resolve({ kind: "network", durationMs: 0 });
  const headers = req.headers.filter(([name]) => name.toLowerCase() !== "authorization");
  headers.push(["Authorization", `Bearer ${target.token}`]);
  return execute({ ...req, url: target.baseUrl.replace(/\/$/, "") + req.path, headers });
}

/** Runs one SQL API call with the role the core's list names; resolves to the JSON text. */
export function callSql(
  ctx: ExecContext,
  fn: SqlFunction,
  role: SqlRole,
  args: unknown,
): Promise<string> {
  return callSqlText(ctx, fn, role, JSON.stringify(args));
}

/** {@link callSql} with the argument as JSON text already written (a core command's). */
export async function callSqlText(
  ctx: ExecContext,
  fn: SqlFunction,
  role: SqlRole,
  argsJson: string,
): Promise<string> {
  const allowed = sqlRole(fn);
  if (allowed === undefined || allowed !== role || (role === "user" && !ctx.user)) {
    // Refused like a missing function, so the driver still winds down through its error path.
    throw Object.assign(new Error("not in the SQL API"), { code: "42883" });
  }
  // One round trip (db.ts callOneTrip): the role, claims and correlation id and the call in one
  // implicit transaction, the settings PostgREST (user) or asService makes; the result as text.
  const caller: Caller = role === "user"
    ? { role: "user", claims: ctx.user! }
    : { role: "service" };
  return await callOneTrip(ctx.sql, caller, fn, argsJson, ctx.log.correlationId);
}

/** Drives `driver` to its result. The driver is freed afterwards. */
export async function drive<D>(driver: CoreDriver<D>, ctx: ExecContext): Promise<D> {
  try {
    for (let step = 0; step < (ctx.maxSteps ?? 200); step++) {
      const cmd: Step<D> = driver.poll(Date.now());
      if (cmd.kind === "done") return cmd.result;
      if (step === 0) await ctx.beforeIo?.();
      if (cmd.kind === "http") {
        await ctx.beforeSend?.(cmd.request);
        const sent = ctx.upstash && cmd.request.service === "upstash"
          ? ctx.upstash.send(cmd.request)
          : send(cmd.request, ctx.services);
        const out = await (ctx.slot ? ctx.slot.call(sent) : sent);
        ctx.afterSend?.(cmd.request, out);
        // Upstash lock commands are counted in the monitor's run summary, not logged one by
        // one (two per trip); a failing one still shows in the trip's outcome and reason.
        const ok = out.kind === "response" && out.status >= 200 && out.status < 300;
        if (ok && ctx.calls && cmd.request.service !== "upstash") {
          const path = cmd.request.path.split("?")[0];
          ctx.calls.push(
            `${cmd.request.service} ${cmd.request.method} ${path} ${out.status} ${out.durationMs}ms`,
          );
        } else if (
          cmd.request.service !== "upstash" || out.kind !== "response" || out.status !== 200
        ) {
          ctx.log.info("provider call", {
            service: cmd.request.service,
            method: cmd.request.method,
            path: cmd.request.path.split("?")[0],
            outcome: out.kind,
            status: out.kind === "response" ? out.status : null,
            duration_ms: out.durationMs,
          });
        }
        ctx.onProviderCall?.(cmd.request.service, out.kind === "response" ? out.status : null);
        driver.handle(
          Date.now(),
          cmd.id,
          out.kind === "response"
            ? { kind: "http", status: out.status, body: out.body }
            : { kind: "transport", failure: out.kind },
        );
        continue;
      }
      let result: string | undefined;
      let sqlstate = "";
      try {
        const via = ctx.batch && cmd.role === "service" ? sqlBatch(cmd.function) : undefined;
        result = via && sqlRole(via) === "service"
          ? await ctx.batch!.call(cmd.function, cmd.args, cmd.key ?? "")
          : (ctx.onSql?.(), await callSqlText(ctx, cmd.function, cmd.role, cmd.args));
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        sqlstate = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : "08006";
        ctx.log.warn("sql call failed", { fn: cmd.function, sqlstate });
      }
      driver.handle(
        Date.now(),
        cmd.id,
        result !== undefined ? { kind: "sql", result } : { kind: "sql_error", sqlstate },
      );
    }
    throw Object.assign(new Error("driver exceeded its step limit"), { code: "step_limit" });
  } finally {
    driver.free();
  }
}
