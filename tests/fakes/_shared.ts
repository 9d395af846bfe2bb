/**
 * Helpers shared by the fake provider servers in this folder (fake Duffel, fake Stripe).
 *
 * Nothing here talks to the network: money formatting with ISO 4217 exponents, a seeded
 * deterministic random generator, id minting, JSON responses, request logging and Stripe-style
 * form decoding. Every function is pure or works only on the state passed to it, so the fakes
 * stay deterministic and can run in-process inside tests.
 *
 * @module
 */

/** ISO 4217 minor-unit exponents that differ from the default of 2. */
const EXPONENT_OVERRIDES: Readonly<Record<string, number>> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
};

/** The ISO 4217 exponent (number of decimals) of a currency code; 2 unless listed otherwise. */
export function currencyExponent(currency: string): number {
  return EXPONENT_OVERRIDES[currency.toUpperCase()] ?? 2;
}

/**
 * Formats integer minor units as Duffel's decimal string with exactly the currency's exponent:
 * `formatMinor(22178, "GBP") === "221.78"`, `formatMinor(5400, "JPY") === "5400"`,
 * `formatMinor(123456, "KWD") === "123.456"`.
 */
export function formatMinor(minor: number, currency: string): string {
  if (!Number.isSafeInteger(minor)) {
    throw new RangeError(`minor units must be an integer: ${minor}`);
  }
  const exp = currencyExponent(currency);
  const negative = minor < 0;
  const digits = String(Math.abs(minor)).padStart(exp + 1, "0");
  const whole = digits.slice(0, digits.length - exp);
  const frac = digits.slice(digits.length - exp);
  return (negative ? "-" : "") + (exp === 0 ? whole : `${whole}.${frac}`);
}

/**
 * Parses a non-negative decimal string into integer minor units of `currency`. Accepts at most
 * the currency's exponent of decimals (`"221.8"` is 22180 for GBP); returns null for anything
 * else (`"221.789"` for GBP, `"1e3"`, `" 5"`, numbers).
 */
export function parseDecimal(value: unknown, currency: string): number | null {
  if (typeof value !== "string") return null;
  const exp = currencyExponent(currency);
  const m = /^(\d{1,15})(?:\.(\d+))?$/.exec(value);
  if (!m) return null;
  const frac = m[2] ?? "";
  if (frac.length > exp) return null;
  const minor = Number(m[1] + frac.padEnd(exp, "0"));
  return Number.isSafeInteger(minor) ? minor : null;
}

/** FNV-1a 32-bit hash of a string, used to seed {@link Rng}. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small deterministic PRNG (mulberry32) seeded from a string. */
export class Rng {
  #state: number;

  /** Seeds the generator from any string (route + date, test name, …). */
  constructor(seed: string) {
    this.#state = hash32(seed) || 1;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max] inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

const ALPHANUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

let lastEpochMs = 0;

/**
 * A fresh id epoch: 8 base36 characters from the wall clock in milliseconds, strictly
 * increasing within the process. A fake that mixes it into its ids never repeats an id of an
 * earlier start or reset, so a database that outlives the fake (the local stack keeps its
 * data across `stack.sh down`/`up`) never meets the same order or PaymentIntent id twice
 * (that collision once wedged a captured booking on `bookings_provider_order_key`).
 */
export function freshEpoch(): string {
  lastEpochMs = Math.max(Date.now(), lastEpochMs + 1);
  return lastEpochMs.toString(36).padStart(8, "0").slice(-8);
}

/**
 * Mints provider-looking ids (`off_0000…`) from a seed, an epoch and a counter: a counter
 * (6 base36 characters), the epoch, then characters drawn from the seed.
 */
export class IdMinter {
  #rng: Rng;
  #epoch: string;
  #counter = 0;

  /**
   * Ids from two minters with the same seed and epoch are identical, in the same order; with
   * different epochs (see {@link freshEpoch}) they never collide. The epoch (at most 12
   * characters from `[0-9a-z]`) defaults to none: deterministic ids for tests.
   */
  constructor(seed: string, epoch = "") {
    if (!/^[0-9a-z]{0,12}$/.test(epoch)) throw new RangeError("epoch must be 0-12 of [0-9a-z]");
    this.#rng = new Rng(`ids:${seed}`);
    this.#epoch = epoch;
  }

  /** A Duffel-style id: prefix, `_0000`, then 22 base62 characters (unique per minter). */
  duffel(prefix: string): string {
    this.#counter++;
    let s = this.#counter.toString(36).padStart(6, "0") + this.#epoch;
    while (s.length < 22) s += ALPHANUM[this.#rng.int(0, 61)];
    return `${prefix}_0000${s}`;
  }

  /** A Stripe-style id: prefix, `_`, 24 base62 characters (unique per minter). */
  stripe(prefix: string): string {
    this.#counter++;
    let s = this.#counter.toString(36).padStart(6, "0") + this.#epoch;
    while (s.length < 24) s += ALPHANUM[this.#rng.int(0, 61)];
    return `${prefix}_${s}`;
  }

  /** An upper-case alphanumeric code without look-alike characters (booking references). */
  code(length: number): string {
    let s = "";
    for (let i = 0; i < length; i++) s += UPPER_ALNUM[this.#rng.int(0, UPPER_ALNUM.length - 1)];
    return s;
  }

  /** A string of decimal digits (ticket numbers). */
  digits(length: number): string {
    let s = String(this.#rng.int(1, 9));
    while (s.length < length) s += String(this.#rng.int(0, 9));
    return s;
  }
}

/** A JSON response with the given status and extra headers. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** One entry of a fake's request log (`GET /_fake/requests`). */
export interface LoggedRequest {
  /** When the fake received it (ISO 8601, on the fake's clock). */
  at: string;
  /** HTTP method. */
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query string parameters. */
  query: Record<string, string>;
  /** The idempotency key header, when one was sent. */
  idempotency_key: string | null;
  /** The decoded body (JSON, decoded form, raw text) or null. */
  body: unknown;
  /** The status the fake answered with (filled in once known). */
  status: number | null;
}

/** How many entries a fake keeps in its request log (`GET /_fake/requests`). */
export const LOG_LIMIT = 2000;

/** Appends an entry to a request log, dropping the oldest beyond {@link LOG_LIMIT}. */
export function appendLog(log: LoggedRequest[], entry: LoggedRequest): void {
  log.push(entry);
  if (log.length > LOG_LIMIT) log.shift();
}

/** Decodes a query string into a flat record (last value wins). */
export function queryRecord(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) out[k] = v;
  return out;
}

/** Sleeps for `ms` milliseconds (0 or less returns at once). */
export function sleep(ms: number): Promise<void> {
  if (!(ms > 0)) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A value that is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A decoded form value: strings, nested objects and arrays, as Stripe's bracket syntax makes. */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };

/**
 * Decodes an `application/x-www-form-urlencoded` body the way Stripe does: `metadata[k]=v`
 * becomes `{metadata:{k:"v"}}`, `payment_method_types[]=card` and `payment_method_types[0]=card`
 * become arrays, and deeper nesting (`a[b][c]=v`) nests objects. Throws on a key that is used
 * both as a scalar and as a container.
 */
export function decodeForm(text: string): Record<string, FormValue> {
  const root: Record<string, FormValue> = {};
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    if (!m) throw new SyntaxError(`invalid form key: ${rawKey}`);
    const path = [m[1], ...[...m[2].matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1])];
    // deno-lint-ignore no-explicit-any
    let node: any = root;
    for (let i = 0; i < path.length; i++) {
      const last = i === path.length - 1;
      const seg = path[i];
      const nextIsArray = !last && (path[i + 1] === "" || /^\d+$/.test(path[i + 1]));
      if (Array.isArray(node)) {
        const idx = seg === "" ? node.length : Number(seg);
        if (last) node[idx] = value;
        else {
          node[idx] ??= nextIsArray ? [] : {};
          node = node[idx];
        }
      } else {
        if (last) {
          if (typeof node[seg] === "object") {
            throw new SyntaxError(`conflicting form key: ${rawKey}`);
          }
          node[seg] = value;
        } else {
          if (typeof node[seg] === "string") {
            throw new SyntaxError(`conflicting form key: ${rawKey}`);
          }
          node[seg] ??= nextIsArray ? [] : {};
          node = node[seg];
        }
      }
    }
  }
  return root;
}

/** A canonical JSON string (object keys sorted) used to compare request parameters. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** The JSON body of a request, or undefined when it is missing or not JSON. */
export async function readJsonOrUndefined(req: Request): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    return undefined;
  }
}

/**
 * A 2xx-looking response whose body starts with `prefix` and then breaks, as when the
 * connection drops mid-body (a client reading it gets an error, not a parse result).
 */
export function droppedBodyResponse(status: number, prefix: string): Response {
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(prefix));
      c.error(new Error("connection dropped by the fake"));
    },
  });
  return new Response(stream, { status, headers: { "content-type": "application/json" } });
}

/**
 * A clock with an adjustable offset, so tests can move a fake's notion of "now" forward
 * (expire offers, age idempotency keys) without waiting.
 */
export class FakeClock {
  #offsetMs = 0;
  #base: () => number;

  /** `base` defaults to `Date.now`; pass a fixed function for fully deterministic output. */
  constructor(base: () => number = Date.now) {
    this.#base = base;
  }

  /** Milliseconds since the epoch, offset applied. */
  nowMs(): number {
    return this.#base() + this.#offsetMs;
  }

  /** Moves the clock forward (or back, with a negative value). */
  advance(ms: number): void {
    this.#offsetMs += ms;
  }

  /** Clears the offset. */
  reset(): void {
    this.#offsetMs = 0;
  }

  /** The current offset in milliseconds. */
  get offsetMs(): number {
    return this.#offsetMs;
  }
}

/**
 * The control endpoint `POST /_fake/clock {"advance_seconds":n}` shared by the fakes: moves
 * `clock` forward and answers the new "now" and offset, or 400 for a missing or non-finite n.
 */
export async function advanceClock(req: Request, clock: FakeClock): Promise<Response> {
  const body = await readJsonOrUndefined(req);
  const s = isObject(body) ? body.advance_seconds : undefined;
  if (typeof s !== "number" || !Number.isFinite(s)) {
    return jsonResponse(400, { error: "advance_seconds must be a number" });
  }
  clock.advance(s * 1000);
  return jsonResponse(200, {
    now: new Date(clock.nowMs()).toISOString(),
    offset_ms: clock.offsetMs,
  });
}

/**
 * Serves a fake's default export on 127.0.0.1 at env PORT or `defaultPort`. Meant for
 * `deno run --allow-net=127.0.0.1 --allow-env <fake>.ts`; under `deno serve` the module is also
 * the main module, so use `deno run` (a second listener would compete for the port).
 */
export function serveFake(
  name: string,
  handler: { fetch(req: Request): Promise<Response> | Response },
  defaultPort: number,
): Deno.HttpServer {
  const port = Number(Deno.env.get("PORT") ?? defaultPort);
  return Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ hostname, port }) =>
      console.log(`${name} listening on http://${hostname}:${port}`),
  }, (req) => handler.fetch(req));
}
