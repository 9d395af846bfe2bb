/**
 * The shared provider rate limit: one token bucket per provider (Duffel, Stripe) in Redis through
 * Upstash REST, taken by every monitor invocation on every function instance, so all of them
 * together stay under `pipeline_settings.<provider>_calls_per_second` (burst: one second's
 * worth). Each isolate takes tokens in small chunks (one `EVAL` per chunk, not per call) and
 * spends them locally; tokens left unspent when a run ends are simply lost (conservative).
 *
 * A provider that says "slow down" pauses everybody: a 429 with `Retry-After` (seconds or an
 * HTTP date), or Duffel's `ratelimit-reset` (HTTP date) on a 429 or on an answer whose
 * `ratelimit-remaining` is 0, sets `pl:<provider>:pause` with that TTL (at most 60 s), and the
 * bucket hands out nothing until it expires.
 *
 * Redis failing must not stop the pipeline: a failed take is logged and lets one call through
 * after 1/rate seconds (the limit then holds per isolate only).
 */
import { Redis } from "./deps.ts";
import { providerPauseMs } from "./core/monitor.ts";
import type { HttpRequest } from "./types/HttpRequest.ts";
import type { FetchOutcome } from "./fetcher.ts";
import type { Logger } from "./log.ts";

/** Providers the limit applies to. */
export type LimitedService = "duffel" | "stripe";

/** How long tokens taken from the shared bucket may be spent (a quarter second's worth). */
export const GRANT_LIFETIME_MS = 250;

/** Longest pause a provider's answer can impose (the core's `provider_pause::MAX_PAUSE_MS`). */
export const MAX_PAUSE_MS = 60_000;

/**
 * KEYS[1] bucket hash {tokens, ts}, KEYS[2] pause key; ARGV rate per second, burst, wanted.
 * Returns {granted, wait_ms}: wait_ms is how long until a token (or the pause) is due.
 */
export const TAKE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return {0, pause} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then tokens = tokens + (now - ts) * rate / 1000 end
tokens = math.min(burst, tokens)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
local wait = 0
if granted == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {granted, wait}
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a provider's answer asks everybody to wait, in ms (0: no pause): the core's rule
 * (`booking_core::monitor::provider_pause`, its tests there), read from the answer's headers.
 */
export function pauseFrom(out: FetchOutcome, nowMs: number): number {
  if (out.kind !== "response" || !out.headers) return 0;
  return providerPauseMs(nowMs, out.status, out.headers);
}

/** One provider's bucket as seen from this isolate. */
class Bucket {
  #local = 0;
  #localUntil = 0;
  #refill: Promise<void> | null = null;
  takes = 0;

  constructor(
    private redis: Redis,
    private name: LimitedService,
    public perSecond: number,
    private log: Logger,
  ) {}

  /** A new rate; tokens taken at the old one are dropped. */
  setRate(rate: number): void {
    if (rate !== this.perSecond) this.#local = 0;
    this.perSecond = rate;
  }

  get chunk(): number {
    // A quarter of a second's worth per take, at most 64: few Upstash calls at high rates,
    // and at low rates one token at a time, so no instance sits on tokens others could use.
    return Math.max(1, Math.min(64, Math.floor(this.perSecond / 4)));
  }

  async take(): Promise<void> {
    for (;;) {
      // Tokens are spent within a quarter second of their grant or not at all: held longer
      // (a run ends, the next one starts at another rate) they would add up to a burst.
      if (this.#local > 0 && Date.now() > this.#localUntil) this.#local = 0;
      if (this.#local > 0) {
        this.#local--;
        return;
      }
      this.#refill ??= this.#fill().finally(() => (this.#refill = null));
      await this.#refill;
    }
  }

  async #fill(): Promise<void> {
    this.takes++;
    try {
      const [granted, wait] = await this.redis.eval(
        TAKE_SCRIPT,
        [`pl:${this.name}`, `pl:${this.name}:pause`],
        [String(this.perSecond), String(this.perSecond), String(this.chunk)],
      ) as [number, number];
      if (granted > 0) {
        this.#local += granted;
        this.#localUntil = Date.now() + GRANT_LIFETIME_MS;
      } else await sleep(Math.min(Math.max(1, wait), MAX_PAUSE_MS));
    } catch (err) {
      this.log.error("provider limit unavailable; pacing locally", {
        code: "provider_limit_unavailable",
        service: this.name,
        error: (err as Error)?.name ?? "unknown",
      });
      await sleep(Math.ceil(1000 / this.perSecond));
      this.#local += 1;
      this.#localUntil = Date.now() + GRANT_LIFETIME_MS;
    }
  }

  async pause(ms: number): Promise<void> {
    this.#local = 0; // tokens taken before the provider said stop are not spent
    try {
      await this.redis.set(`pl:${this.name}:pause`, "1", { px: ms });
    } catch {
      // The next take still works; only the shared pause is lost.
    }
  }
}

/** The limits of one isolate, configured from the settings of each run. */
export class ProviderLimits {
  #buckets = new Map<LimitedService, Bucket>();
  #redis: Redis;
  pauses = 0;

  constructor(url: string, token: string, private log: Logger) {
    this.#redis = new Redis({ url, token, retry: false, automaticDeserialization: false });
  }

  /** Sets each provider's calls per second (from `pipeline_settings`). */
  configure(rates: Partial<Record<LimitedService, number>>, log: Logger): void {
    this.log = log;
    for (const [name, rate] of Object.entries(rates) as [LimitedService, number][]) {
      if (!Number.isFinite(rate) || rate < 1) continue;
      const b = this.#buckets.get(name);
      if (b) b.setRate(rate);
      else this.#buckets.set(name, new Bucket(this.#redis, name, rate, this.log));
    }
  }

  /** Upstash calls made to take tokens so far. */
  get takes(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.takes;
    return n;
  }

  /** Waits for a token of `req`'s provider (nothing for Upstash itself). */
  before = (req: HttpRequest): Promise<void> => {
    const b = this.#buckets.get(req.service as LimitedService);
    return b ? b.take() : Promise.resolve();
  };

  /** Pauses every instance when the provider's answer asks for it. */
  after = (req: HttpRequest, out: FetchOutcome): void => {
    const b = this.#buckets.get(req.service as LimitedService);
    if (!b) return;
    const ms = pauseFrom(out, Date.now());
    if (ms > 0) {
      this.pauses++;
      this.log.warn("provider asked to slow down", { service: req.service, pause_ms: ms });
      void b.pause(ms);
    }
  };
}

let shared: ProviderLimits | undefined;

/** The isolate's limits (one Redis client per isolate). */
export function providerLimits(url: string, token: string, log: Logger): ProviderLimits {
  shared ??= new ProviderLimits(url, token, log);
  return shared;
}
