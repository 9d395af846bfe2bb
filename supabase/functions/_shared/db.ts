/**
 * Postgres access, as the functions' own login role `pipeline_functions` (`PIPELINE_DB_URL`; it
 * has no privilege of its own, see docs/architecture.md). One client per isolate, `prepare: false` (Supavisor transaction pooling does not
 * support prepared statements). Work done for a traveller runs inside one transaction as the
 * `authenticated` role with the caller's claims set exactly as PostgREST sets them, so RLS and
 * `auth.uid()` apply; no session state outlives the transaction.
 */
import { postgres } from "./deps.ts";
import type { Sql, TransactionSql } from "./deps.ts";
import { HttpError } from "./http.ts";

let client: Sql | undefined;

/** The isolate's Postgres client. */
export function db(url: string): Sql {
  client ??= postgres(url, {
    prepare: false,
    max: 4,
    idle_timeout: 20,
    connect_timeout: 10,
    connection: { application_name: "parker-functions" },
    onnotice: () => {},
  });
  return client;
}

/** Runs `work` in one transaction as the signed-in user (role `authenticated`, claims set). */
export function asUser<T>(
  sql: Sql,
  claims: { sub: string; role: string },
  work: (tx: TransactionSql) => Promise<T>,
): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return await work(tx);
  }) as Promise<T>;
}

/** Runs `work` in one transaction as `service_role` (pipeline work not done for a caller). */
export function asService<T>(sql: Sql, work: (tx: TransactionSql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('role', 'service_role', true),
                    set_config('request.jwt.claims', '{"role":"service_role"}', true)`;
    return await work(tx);
  }) as Promise<T>;
}

/**
 * Maps a database error raised by the `app` SQL API to an HTTP error: "not found" and "not yours"
 * both become 404 so no caller learns whether another user's row exists; constraint violations
 * become 400. Anything else is rethrown (a real 500).
 */
export function mapDbError(err: unknown): never {
  const code = (err as { code?: string }).code;
  if (code === "P0002" || code === "42501") {
    throw new HttpError(404, "not_found", "no such trip request");
  }
  if (code === "28000") {
    throw new HttpError(401, "unauthorized", "a signed-in user is required");
  }
  if (code === "PF001") {
    throw new HttpError(
      409,
      "too_many_active_trips",
      "you have the maximum number of active trips; cancel one or wait until one ends",
    );
  }
  if (code === "PF002") {
    throw new HttpError(
      403,
      "anonymous_auto_book_forbidden",
      "sign in with a permanent account to let the pipeline book; anonymous users may only watch",
    );
  }
  if (code === "55000") {
    throw new HttpError(409, "trip_busy", "the trip is not in a state that allows this right now");
  }
  if (code && /^(23|22)/.test(code)) {
    throw new HttpError(400, "validation_failed", "the request violates a data rule", {
      fields: [],
      db_code: code,
    });
  }
  throw err;
}
