/**
 * The core, compiled to WebAssembly, loaded once per isolate at module load with `initSync`
 * (the portable recipe: works on old and new edge runtimes and in plain Deno). Every export of
 * the binding returns `{ ok: true, ... }` or `{ ok: false, error: { code, message } }` and never
 * throws for bad input; this module turns the error half into `HttpError`s.
 */
import * as wasm from "./wasm/booking_wasm.js";
import type { CoreHttpRequest } from "./fetcher.ts";
import { HttpError } from "./http.ts";

wasm.initSync({
  module: Deno.readFileSync(new URL("./wasm/booking_wasm_bg.wasm", import.meta.url)),
});

/** An error the core reports: a stable code, a message, and per-field details for validation. */
export interface CoreError {
  code: string;
  message: string;
  fields?: { field: string; code: string; message: string }[];
  provider_code?: string | null;
}

type Result<T> = ({ ok: true } & T) | { ok: false; error: CoreError };

function unwrap<T>(r: Result<T>, status: number): T {
  if (r.ok) return r;
  const { code, message, ...extra } = r.error;
  throw new HttpError(status, code, message, extra);
}

/** A validated new trip request (docs/contracts.md "Trip request"). */
export type NewTrip = Record<string, unknown>;

/** What a trip-search body asks for: a new request, or searching one of the caller's again. */
export type TripInput = { kind: "new"; trip: NewTrip } | { kind: "ref"; trip_id: string };

/** Validates a trip-search body; throws 400 (`invalid_json` / `validation_failed`). */
export function parseTripInput(body: Uint8Array, nowMs: number): TripInput {
  return unwrap(wasm.parse_trip_input(body, nowMs) as Result<TripInput>, 400);
}

/** The Duffel offer request for a stored trip. */
export function buildSearchRequest(
  tripJson: string,
  duffel: { base_url: string; access_token: string },
): CoreHttpRequest {
  const r = wasm.build_search_request(tripJson, JSON.stringify(duffel)) as Result<
    { request: CoreHttpRequest }
  >;
  return unwrap(r, 500).request;
}

/** Summary of a processed search; `result_json` goes to `app.record_search` untouched. */
export interface SearchSummary {
  result_json: string;
  decision: string;
  offers_seen: number;
  offers_stored: number;
  selected_provider_offer_id: string | null;
  rejections: Record<string, number>;
}

/** Normalizes and selects from a provider answer, or reports a 502-class provider error. */
export function processSearchResponse(
  tripJson: string,
  status: number,
  body: Uint8Array,
  nowMs: number,
): Result<SearchSummary> {
  return wasm.process_search_response(tripJson, status, body, nowMs) as Result<SearchSummary>;
}

/** The provider error for a request that timed out or never connected, and when to retry. */
export function transportFailure(
  kind: "timeout" | "network",
  nowMs: number,
): { error: CoreError; next_check_at: string } {
  return wasm.transport_failure(kind, nowMs) as { error: CoreError; next_check_at: string };
}

/** When to look again after a failed search. */
export function failureNextCheck(nowMs: number): string {
  return wasm.failure_next_check(nowMs) as string;
}

/** Constant-time comparison of a presented secret with the expected one (in the core). */
export function secretMatches(given: string, expected: string): boolean {
  return wasm.secret_matches(given, expected);
}

/** How many due trips one monitor run may claim, from the `pipeline_settings` row. */
export function claimLimit(settings: unknown): number {
  return wasm.claim_limit(JSON.stringify(settings));
}

/** A command of the core's per-trip driver (docs/contracts.md "The monitor"). */
export type DriverCommand =
  | { kind: "http"; request: CoreHttpRequest }
  | { kind: "sql"; function: string; args: unknown }
  | { kind: "done"; outcome: string; reason: string | null };

/** Settings the driver needs to build provider and lock requests. */
export interface DriverConfig {
  duffel: { base_url: string; access_token: string };
  stripe: { base_url: string; secret_key: string };
  upstash: { url: string; token: string };
  lock_lease_ms: number;
}

/** The core's state machine for one claimed trip; `free()` it when done. */
export class TripDriver {
  #inner: wasm.TripDriver;

  constructor(claim: unknown, config: DriverConfig, nowMs: number) {
    const seed = crypto.getRandomValues(new Uint32Array(2));
    this.#inner = new wasm.TripDriver(
      JSON.stringify(claim),
      JSON.stringify(config),
      nowMs,
      crypto.randomUUID(),
      seed[0],
      seed[1],
      crypto.randomUUID(),
    );
  }

  poll(nowMs: number): DriverCommand {
    const cmd = this.#inner.poll(nowMs) as DriverCommand | null;
    return cmd ?? { kind: "done", outcome: "stopped", reason: "driver_unserialisable" };
  }

  handleHttp(nowMs: number, status: number, body: Uint8Array): void {
    check(this.#inner.handle_http(nowMs, status, body));
  }

  handleTransport(nowMs: number, kind: "timeout" | "network"): void {
    check(this.#inner.handle_transport(nowMs, kind));
  }

  handleSql(nowMs: number, resultJson: string): void {
    check(this.#inner.handle_sql(nowMs, resultJson));
  }

  handleSqlError(nowMs: number, sqlstate: string): void {
    check(this.#inner.handle_sql_error(nowMs, sqlstate));
  }

  free(): void {
    this.#inner.free();
  }
}

function check(r: { ok: boolean; error?: CoreError }): void {
  if (!r.ok) throw new HttpError(500, r.error?.code ?? "internal", r.error?.message ?? "driver");
}

/** Validates a monitor request body; throws 400 with a stable code. */
export function parseMonitorRequest(body: Uint8Array): { trip_id: string | null } {
  return unwrap(wasm.parse_monitor_request(body) as Result<{ trip_id: string | null }>, 400);
}
