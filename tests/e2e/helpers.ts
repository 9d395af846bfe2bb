/** Shared helpers for the end-to-end tests against the running local stack. */
import { connect, createUser, loadEnv, mintUserJwt } from "../../scripts/stack/testkit.ts";
import type { Sql } from "../../scripts/stack/testkit.ts";

export const env: Record<string, string> = loadEnv();
export const FUNCTIONS = `${env.SUPABASE_URL ?? "http://127.0.0.1:54321"}/functions/v1`;
export const DUFFEL = env.DUFFEL_API_URL ?? "http://127.0.0.1:54391";

let pool: Sql | undefined;
/** One shared database client (superuser; tests use it to inspect rows and act as users). */
export function sql(): Sql {
  pool ??= connect(env, 4);
  return pool;
}

/** Closes the shared client (call in the last test of a file, or leaks are reported). */
export async function closeSql(): Promise<void> {
  await pool?.end({ timeout: 1 });
  pool = undefined;
}

/** A fresh user with a valid access token. */
export async function newUser(): Promise<{ id: string; jwt: string }> {
  const id = crypto.randomUUID();
  await createUser(sql(), id);
  return { id, jwt: await mintUserJwt(id, { env }) };
}

/** A random route of two distinct made-up IATA codes, so parallel tests never share fake state. */
export function randomRoute(): { origin: string; destination: string } {
  const code = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => String.fromCharCode(65 + (b % 26)))
      .join("");
  const origin = "Q" + code().slice(1);
  let destination = "X" + code().slice(1);
  while (destination === origin) destination = "X" + code().slice(1);
  return { origin, destination };
}

/** Scripts the fake Duffel for one route. */
export async function scriptRoute(script: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${DUFFEL}/_fake/routes`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(script),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`scripting the fake Duffel failed: ${res.status}`);
}

/** The UTC date `days` days from now (negative: ago) as YYYY-MM-DD: tests never name a day. */
export function isoDay(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** A valid new-trip body for `route`, departing in `days` days. */
export function tripBody(
  route: { origin: string; destination: string },
  overrides: Record<string, unknown> = {},
  days = 60,
): Record<string, unknown> {
  return {
    ...route,
    departure_date: isoDay(days),
    adults: 1,
    cabin: "economy",
    nonstop_only: true,
    max_total_minor: 42000,
    currency: "GBP",
    ...overrides,
  };
}

/** POSTs to trip-search and returns the status, headers and parsed JSON body. */
export async function callSearch(
  body: unknown,
  jwt: string | null,
  init: { method?: string; raw?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { "Content-Type": "application/json", ...init.headers };
  if (jwt) headers.Authorization = `Bearer ${jwt}`;
  const res = await fetch(`${FUNCTIONS}/trip-search`, {
    method: init.method ?? "POST",
    headers,
    body: (init.method ?? "POST") === "POST" ? (init.raw ?? JSON.stringify(body)) : undefined,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { _text: text };
  }
  return { status: res.status, headers: res.headers, json };
}

/**
 * `Deno.test` for tests that share the database pool across tests (its connections outlive a
 * single test, which Deno's resource sanitizers would otherwise report as leaks).
 */
export function e2eTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeResources: false, sanitizeOps: false });
}
