/**
 * The fake Duffel's rate limit: one fixed window per minute of the fake's clock for the whole
 * server (real Duffel counts per token), reported in lowercase `ratelimit-*` headers on every
 * answer; over the limit the server answers 429 `rate_limit_exceeded`.
 *
 * @module
 */

/** Counts requests per clock minute against a configurable limit. */
export class RateLimiter {
  #defaultLimit: number;
  #limit: number;
  #window = -1;
  #count = 0;

  /** `limit` requests per minute; {@link reset} returns to it. */
  constructor(limit: number) {
    this.#defaultLimit = limit;
    this.#limit = limit;
  }

  /** The current limit per minute. */
  get limit(): number {
    return this.#limit;
  }

  /** Back to the default limit with an empty window. */
  reset(): void {
    this.#limit = this.#defaultLimit;
    this.#window = -1;
    this.#count = 0;
  }

  /** Sets a new limit (`POST /_fake/config`) and restarts the count of this window. */
  configure(limit: number): void {
    this.#limit = limit;
    this.#count = 0;
  }

  /** Counts one request at `nowMs` and returns the `ratelimit-*` headers for its answer. */
  count(nowMs: number): Record<string, string> {
    const minute = Math.floor(nowMs / 60_000);
    if (minute !== this.#window) {
      this.#window = minute;
      this.#count = 0;
    }
    this.#count++;
    return {
      "ratelimit-limit": String(this.#limit),
      "ratelimit-remaining": String(Math.max(0, this.#limit - this.#count)),
      "ratelimit-reset": new Date((minute + 1) * 60_000).toUTCString(),
    };
  }

  /** Whether this window has seen more requests than the limit. */
  exceeded(): boolean {
    return this.#count > this.#limit;
  }
}
