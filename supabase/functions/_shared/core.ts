/**
 * The core, compiled to WebAssembly: one module per function group (scripts/build-wasm.sh), each
 * loaded once per isolate by its loader in `./core/` (`./core/search.ts`, `./core/monitor.ts`,
 * `./core/user.ts`, `./core/webhooks.ts`), which a function imports first. The wrappers below find
 * the loaded module that exports what they need, so one isolate may hold several modules (the
 * local router runs every function in one). Every value that crosses the boundary has a
 * TypeScript type generated from the Rust type (`./types/`, ts-rs). Nothing here decides anything.
 *
 * A wasm trap (a panic, `unreachable`) leaves the instance unusable: it is logged, every loaded
 * module is re-instantiated (`__wbg_reinit`, appended to the glue by scripts/build-wasm.sh)
 * before the next use, and every driver made on an old instance refuses further calls (its trip
 * resumes from the database on the next run).
 */
import type * as SearchGlue from "./wasm/search/booking_wasm.js";
import type * as MonitorGlue from "./wasm/monitor/booking_wasm.js";
import type * as UserGlue from "./wasm/user/booking_wasm.js";
import type * as WebhooksGlue from "./wasm/webhooks/booking_wasm.js";
import type { Command } from "./types/Command.ts";
import type { SearchDone } from "./types/SearchDone.ts";
import type { SqlFunction } from "./types/SqlFunction.ts";
import type { SqlRole } from "./types/SqlRole.ts";
import type { TripDone } from "./types/TripDone.ts";
import type { PaymentsDone } from "./types/PaymentsDone.ts";
import type { NotifyDone } from "./types/NotifyDone.ts";
import type { WebhookDone } from "./types/WebhookDone.ts";
import type { StripeWebhookDone } from "./types/StripeWebhookDone.ts";
import type { DuffelWebhookDone } from "./types/DuffelWebhookDone.ts";
import type { Reply } from "./types/Reply.ts";
import { HttpError } from "./http.ts";

/** Everything any module exports (each module has a part of it). */
type Exports = Omit<
  typeof SearchGlue & typeof MonitorGlue & typeof UserGlue & typeof WebhooksGlue,
  "default" | "initSync" | "__wbg_reinit"
>;

/** A module's glue as the loaders pass it. */
export interface Glue {
  initSync(init: { module: WebAssembly.Module }): unknown;
  __wbg_reinit(module: WebAssembly.Module): unknown;
}

const loaded: { glue: Glue; compiled: WebAssembly.Module; name: string }[] = [];

/**
 * Compiles and instantiates one module (called once per isolate by `./core/<name>.ts`, with the
 * glue it imports statically and the `.wasm` next to it, which `static_files` ships).
 */
export function loadModule(name: string, glue: Glue, wasmUrl: URL): void {
  if (loaded.some((m) => m.name === name)) return;
  const compiled = new WebAssembly.Module(Deno.readFileSync(wasmUrl));
  glue.initSync({ module: compiled });
  loaded.push({ glue, compiled, name });
}

/** The export `key` of the first loaded module that has it. */
function from<K extends keyof Exports>(key: K): Exports[K] {
  for (const m of loaded) {
    const value = (m.glue as unknown as Partial<Exports>)[key];
    if (value !== undefined) return value as Exports[K];
  }
  throw new HttpError(
    500,
    "core_missing",
    `no loaded wasm module exports ${String(key)}; import its loader from _shared/core/`,
  );
}

/** Incremented at every re-instantiation; drivers remember the generation they were made in. */
let generation = 0;

/** Runs a call into the core; a trap resets every module and becomes a 500 `core_trap`. */
export function guarded<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (!(err instanceof WebAssembly.RuntimeError)) throw err;
    console.log(JSON.stringify({
      ts: new Date().toISOString(),
      level: "error",
      msg: "wasm trap; re-instantiating the core",
      error: err.name,
    }));
    generation++;
    for (const m of loaded) m.glue.__wbg_reinit(m.compiled);
    throw new HttpError(500, "core_trap", "internal error in the core; nothing was completed");
  }
}

/** An error the core reports: a stable code and a message. */
export interface CoreError {
  code: string;
  message: string;
}

/** The outcome of a command, fed back to the driver with the command's id. */
export type Input =
  | { kind: "http"; status: number; body: Uint8Array }
  | { kind: "transport"; failure: "timeout" | "network" }
  | { kind: "sql"; result: string }
  | { kind: "sql_error"; sqlstate: string };

/**
 * A command as the executor gets it: {@link Command}, except that a SQL command's argument is
 * the JSON text the core wrote (handed to PostgreSQL as it is, never parsed here), and a call the
 * executor may batch names the row it locks (`key`: the monitor's trip).
 */
export type Step<D> =
  | Exclude<Command<D>, { kind: "sql" }>
  | (Omit<Extract<Command<D>, { kind: "sql" }>, "args"> & { args: string; key?: string });

/**
 * Reads a command's text from the core (`booking_core::engine::command_text`): JSON, except a
 * SQL command, which is its header as JSON, a newline, then its argument's JSON text (the header
 * never holds a newline, the argument may: the first newline ends the header).
 */
export function readCommand<D>(text: string): Step<D> {
  if (!text.startsWith('{"kind":"sql"')) return JSON.parse(text) as Step<D>;
  const nl = text.indexOf("\n");
  if (nl < 0) throw new Error("a SQL command without its argument");
  const head = JSON.parse(text.slice(0, nl)) as Step<D> & { args: string };
  head.args = text.slice(nl + 1);
  return head;
}

/** What the executor drives (docs/contracts.md "The drive API"). */
export interface CoreDriver<D> {
  poll(nowMs: number): Step<D>;
  handle(nowMs: number, id: number, input: Input): void;
  free(): void;
}

type WasmDriver = {
  __destroy_into_raw?: () => void;
  poll(now: number): string;
  handle_http(now: number, id: number, status: number, body: Uint8Array): unknown;
  handle_transport(now: number, id: number, kind: string): unknown;
  handle_sql(now: number, id: number, result: string): unknown;
  handle_sql_error(now: number, id: number, sqlstate: string): unknown;
  free(): void;
};

class Wrapped<D> implements CoreDriver<D> {
  readonly #made = generation;
  constructor(readonly inner: WasmDriver) {}

  #live(): WasmDriver {
    if (this.#made !== generation) {
      throw new HttpError(500, "core_reset", "the core was re-instantiated; driver lost");
    }
    return this.inner;
  }

  poll(nowMs: number): Step<D> {
    // Text from the core (one string across the boundary), read natively here.
    return readCommand<D>(guarded(() => this.#live().poll(nowMs)));
  }

  handle(nowMs: number, id: number, input: Input): void {
    const d = this.#live();
    const r = guarded(() => {
      switch (input.kind) {
        case "http":
          return d.handle_http(nowMs, id, input.status, input.body);
        case "transport":
          return d.handle_transport(nowMs, id, input.failure);
        case "sql":
          return d.handle_sql(nowMs, id, input.result);
        case "sql_error":
          return d.handle_sql_error(nowMs, id, input.sqlstate);
      }
    }) as { ok: boolean; error?: CoreError } | undefined;
    // `undefined`: taken (the common answer, a constant); else `{ok:false,error}`.
    if (r !== undefined && !r.ok) {
      throw new HttpError(500, r.error?.code ?? "internal", r.error?.message ?? "driver");
    }
  }

  /** Frees the driver; one of an old instance is only detached (its memory is gone). */
  free(): void {
    if (this.#made === generation) this.inner.free();
    else (this.inner as { __destroy_into_raw?: () => void }).__destroy_into_raw?.();
  }
}

/** The monitor's state machine for one claimed trip. */
export function tripDriver(
  claim: unknown,
  config: DriverConfig,
  nowMs: number,
): CoreDriver<TripDone> {
  const seed = crypto.getRandomValues(new Uint32Array(2));
  return new Wrapped(guarded(() =>
    new (from("TripDriver"))(
      JSON.stringify(claim),
      JSON.stringify(config),
      nowMs,
      crypto.randomUUID(),
      seed[0],
      seed[1],
      crypto.randomUUID(),
    )
  ));
}

/** trip-search's state machine for one request body (a bad body is done at once with a 400). */
export function searchDriver(body: Uint8Array, nowMs: number): CoreDriver<SearchDone> {
  return new Wrapped(guarded(() => new (from("SearchDriver"))(body, nowMs)));
}

/** Driver settings: no credential (the executor adds those). */
export interface DriverConfig {
  lock_lease_ms: number;
  max_provider_calls?: number;
  /**
   * The feature flags as the run read them once (`app.monitor_flags`); gates new attempts.
   * Missing or unreadable: no new attempt (open attempts still settle).
   */
  flags?: unknown;
}

/** The SQL API the executor may call, from the core's own list. */
export function sqlApi(): {
  function: SqlFunction;
  name: string;
  role: SqlRole;
  batch: SqlFunction | null;
}[] {
  return guarded(() => from("sql_api")()) as {
    function: SqlFunction;
    name: string;
    role: SqlRole;
    batch: SqlFunction | null;
  }[];
}

/** Constant-time comparison of a presented secret with the expected one (in the core). */
export function secretMatches(given: string, expected: string): boolean {
  return guarded(() => from("secret_matches")(given, expected));
}

/** How many due trips one monitor run may claim, from the `pipeline_settings` row. */
export function claimLimit(settings: unknown): number {
  return guarded(() => from("claim_limit")(JSON.stringify(settings)));
}

/**
 * How long a provider's answer asks every instance to pause, in ms (0: none): the core's rule
 * (`monitor::provider_pause`) over the status and the `Retry-After`, `ratelimit-remaining` and
 * `ratelimit-reset` headers.
 */
export function providerPauseMs(nowMs: number, status: number, headers: Headers): number {
  const h = (name: string) => headers.get(name) ?? undefined;
  return guarded(() =>
    from("provider_pause_ms")(
      nowMs,
      status,
      h("retry-after"),
      h("ratelimit-remaining"),
      h("ratelimit-reset"),
    )
  );
}

/** Validates a monitor request body; throws 400 with a stable code. */
export function parseMonitorRequest(body: Uint8Array): { trip_id: string | null } {
  const r = guarded(() => from("parse_monitor_request")(body)) as
    | { ok: true; trip_id: string | null }
    | { ok: false; error: CoreError };
  if (r.ok) return r;
  throw new HttpError(400, r.error.code, r.error.message);
}

/** payment-methods' state machine for one request body (a bad body is done at once with a 400). */
export function paymentMethodsDriver(body: Uint8Array): CoreDriver<PaymentsDone> {
  return new Wrapped(guarded(() => new (from("PaymentMethodsDriver"))(body, crypto.randomUUID())));
}

/**
 * stripe-webhook's state machine: the header, the MAC the shim computed over
 * `stripeSignedPrefix(header) + body` with the endpoint secret (the secret stays here), and the
 * raw body. The core decides the signature before the body is read.
 */
export function stripeWebhookDriver(
  header: string | null,
  mac: Uint8Array,
  body: Uint8Array,
  nowMs: number,
): CoreDriver<StripeWebhookDone> {
  return new Wrapped(
    guarded(() => new (from("StripeWebhookDriver"))(header ?? undefined, mac, body, nowMs)),
  );
}

/** `"{t}."` from a `Stripe-Signature` header, or undefined when it does not parse (core). */
export function stripeSignedPrefix(header: string): string | undefined {
  return guarded(() => from("stripe_signed_prefix")(header));
}

/**
 * duffel-webhook's state machine for one delivery: the raw body, the `X-Duffel-Signature`
 * header and the shim's HMAC hex of `duffelSignedPrefix(header)` ++ body (empty when the header
 * does not parse). The core decides on the signature and the event.
 */
export function duffelWebhookDriver(
  body: Uint8Array,
  header: string | null,
  expectedHex: string,
  nowMs: number,
): CoreDriver<DuffelWebhookDone> {
  return new Wrapped(
    guarded(() => new (from("DuffelWebhookDriver"))(body, header ?? undefined, expectedHex, nowMs)),
  );
}

/** What precedes the raw body in the message Duffel signs (`"{t}."`), or undefined. */
export function duffelSignedPrefix(header: string | null): string | undefined {
  return guarded(() => from("duffel_signed_prefix")(header ?? undefined));
}

/** The `travelers` function's state machine for one request body (a bad body: done with a 400). */
export function travelersDriver(body: Uint8Array, nowMs: number): CoreDriver<Reply> {
  return new Wrapped(guarded(() => new (from("TravelersDriver"))(body, nowMs)));
}

/** The `trips` function's state machine for one request body (a bad body: done with a 400). */
export function tripsDriver(body: Uint8Array): CoreDriver<Reply> {
  return new Wrapped(guarded(() => new (from("TripsDriver"))(body)));
}

/** notify-dispatch's state machine for one claimed notification and the run's settings. */
export function notifyDriver(claim: unknown, settings: unknown): CoreDriver<NotifyDone> {
  return new Wrapped(
    guarded(() => new (from("NotifyDriver"))(JSON.stringify(claim), JSON.stringify(settings))),
  );
}

/** The Svix headers of a Resend webhook delivery, as received ("" when absent). */
export interface SvixHeaders {
  id: string;
  timestamp: string;
  signature: string;
}

/**
 * resend-webhook's state machine: the core checks the headers, the tolerance and the computed
 * MAC against every `v1` signature (constant time); a refused delivery is done at once.
 */
export function resendWebhookDriver(
  h: SvixHeaders,
  body: Uint8Array,
  computedB64: string,
  nowMs: number,
): CoreDriver<WebhookDone> {
  return new Wrapped(
    guarded(() =>
      new (from("ResendWebhookDriver"))(h.id, h.timestamp, h.signature, body, computedB64, nowMs)
    ),
  );
}

/** An erasure request's state machine: the caller's (`userId` undefined) or, operator, a user's. */
export function erasureDriver(userId?: string): CoreDriver<Reply> {
  return new Wrapped(guarded(() => new (from("ErasureDriver"))(userId)));
}

/** A validated `privacy` / `privacy-operator` request, or the 400 answer the core gave. */
export type PrivacyRequest =
  | { ok: true; action: "erase" | "export"; user_id?: string | null }
  | { ok: false; reply: Reply };

/** Validates a `privacy` body (`operator`: the operator function's). */
export function parsePrivacyRequest(body: Uint8Array, operator: boolean): PrivacyRequest {
  return guarded(() => from("parse_privacy_request")(body, operator)) as PrivacyRequest;
}

/** health's state machine: the database snapshot, the Redis ping, the answer (200 or 503). */
export function healthDriver(detail: boolean): CoreDriver<Reply> {
  return new Wrapped(guarded(() => new (from("HealthDriver"))(detail)));
}

/** The `ops` function's state machine for one request body (a bad body: done with a 400). */
export function opsDriver(body: Uint8Array): CoreDriver<Reply> {
  return new Wrapped(guarded(() => new (from("OpsDriver"))(body)));
}

/** Whether verified JWT claims grant the operator role (the core's rule: app_metadata only). */
export function isOperator(claims: unknown): boolean {
  return guarded(() => from("is_operator")(JSON.stringify(claims)));
}
