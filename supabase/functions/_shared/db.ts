/**
 * Postgres access, as the functions' own login role `pipeline_functions` (`PIPELINE_DB_URL`; it
 * has no privilege of its own, see docs/architecture.md). One client per isolate, `prepare: false`
 * (Supavisor transaction pooling does not
 * support prepared statements). Work done for a traveller runs inside one transaction as the
 * `authenticated` role with the caller's claims set exactly as PostgREST sets them, so RLS and
 * `auth.uid()` apply; no session state outlives the transaction.
 */
import { postgres } from "./deps.ts";
import type { Sql, TransactionSql } from "./deps.ts";

let client: Sql | undefined;

/**
 * Connections per isolate. postgres.js opens them only as queries queue, so a function with one
 * query at a time keeps one. 8, not 4: with 4, a monitor run's 64 trips in flight queue on the
 * pool and their answers arrive one by one, each its own turn of the event loop; 8 took a warm
 * booking from 1.73-1.78 to 1.37-1.38 ms of the isolate's CPU (docs/benchmarks.md seventh pass).
 * Hosted these are client connections to Supavisor's transaction pooler, above Supabase's 1-4 for
 * serverless clients; docs/architecture.md "Capacity" says what bounds them and when to turn back.
 */
export const POOL_MAX = 8;

/** The isolate's Postgres client. */
export function db(url: string): Sql {
  client ??= postgres(url, {
    prepare: false,
    max: POOL_MAX,
    idle_timeout: 20,
    connect_timeout: 10,
    connection: { application_name: "parker-functions" },
    onnotice: () => {},
  });
  return client;
}

/** The claims of a signed-in caller, as PostgREST would set them. */
export type Claims = { sub: string; role: string };

/** Runs `work` in one transaction as `service_role` (pipeline work not done for a caller). */
export function asService<T>(
  sql: Sql,
  work: (tx: TransactionSql) => Promise<T>,
  correlationId = "",
): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('role', 'service_role', true),
                    set_config('request.jwt.claims', '{"role":"service_role"}', true),
                    set_config('app.correlation_id', ${correlationId}, true)`;
    return await work(tx);
  }) as Promise<T>;
}

/**
 * `text` as a dollar-quoted SQL literal: the literal ends at the first occurrence of its tag after
 * the opening one, so the tag must first occur at the very end, neither inside `text` nor across
 * its end (`...$pf` followed by `$pf$`).
 */
function dollarQuoted(text: string): string {
  // The fixed tag first (no random draw on the hot path); a random one if it would close early.
  let tag = "$pf$";
  while ((text + tag).indexOf(tag) !== text.length) {
    tag = `$pf${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}$`;
  }
  return tag + text + tag;
}

/** The caller an {@link callOneTrip} runs as: `service_role`, or a signed-in user's claims. */
export type Caller = { role: "service" } | { role: "user"; claims: Claims };

/**
 * `select app.<fn>(<json>)::text` as `caller` in ONE round trip: a simple-protocol query of two
 * statements, which PostgreSQL runs as one implicit transaction (so the transaction-local role,
 * claims and correlation id hold for the call exactly as in {@link asService} (for a user: role
 * `authenticated` and their claims, as PostgREST sets them),
 * and an error in the call rolls the whole thing back). A user call runs as `authenticated` with
 * the caller's claims, so RLS and `auth.uid()` apply as through PostgREST. Every value travels as
 * a dollar-quoted literal (the simple protocol has no parameters; dollar quoting does not depend
 * on `standard_conforming_strings`). The result comes back as the JSON text PostgreSQL printed
 * (never parsed here). `fn` must be a name from the core's SQL API (the caller checks it; the
 * pattern here is a second line of defence). `statementTimeoutMs` bounds the call (a
 * transaction-local `statement_timeout`, set in the first statement, which PostgreSQL 13+ arms
 * for the second): 57014 past it, and nothing of the call commits.
 */
export async function callOneTrip(
  sql: Sql,
  caller: Caller,
  fn: string,
  argsJson: string,
  correlationId = "",
  statementTimeoutMs?: number,
): Promise<string> {
  if (!/^[a-z_]+$/.test(fn)) throw Object.assign(new Error("bad function name"), { code: "42883" });
  const [role, claims] = caller.role === "user"
    ? ["authenticated", JSON.stringify(caller.claims)]
    : ["service_role", '{"role":"service_role"}'];
  const results = await sql.unsafe(
    `select set_config('role', '${role}', true),
       set_config('request.jwt.claims', ${dollarQuoted(claims)}, true),
       set_config('app.correlation_id', ${dollarQuoted(correlationId)}, true)${
      statementTimeoutMs === undefined ? "" : `,
       set_config('statement_timeout', '${Math.max(1, Math.trunc(statementTimeoutMs))}', true)`
    };
     select app.${fn}(${dollarQuoted(argsJson)}::jsonb)::text as r`,
  ).simple() as unknown as { r: string | null }[][];
  // A function returning SQL NULL reads as JSON null, as the jsonb path did.
  return results[1][0].r ?? "null";
}

/** {@link callOneTrip} as `service_role` (the monitor's group commit). */
export function serviceCallOneTrip(
  sql: Sql,
  fn: string,
  argsJson: string,
  correlationId = "",
  statementTimeoutMs?: number,
): Promise<string> {
  return callOneTrip(sql, { role: "service" }, fn, argsJson, correlationId, statementTimeoutMs);
}
