/**
 * Per-user sliding-window rate limit through Upstash REST (`@upstash/ratelimit`'s own Lua scripts,
 * so it behaves exactly as on Upstash). Fails open after a short timeout, as the library does: a
 * Redis outage must not lock travellers out.
 */
import { Ratelimit, Redis } from "./deps.ts";
import type { Env } from "./env.ts";
import { HttpError } from "./http.ts";
import type { Logger } from "./log.ts";

const limiters = new Map<string, Ratelimit>();

function limiter(e: Env, name: string): Ratelimit {
  let rl = limiters.get(name);
  if (!rl) {
    rl = new Ratelimit({
      redis: new Redis({ url: e.upstashUrl, token: e.upstashToken }),
      limiter: Ratelimit.slidingWindow(e.searchLimit.count, `${e.searchLimit.windowSeconds} s`),
      prefix: `rl:${name}`,
      ephemeralCache: false,
      timeout: 1500,
      analytics: false,
    });
    limiters.set(name, rl);
  }
  return rl;
}

/**
 * Counts one call of `name` by `userId`; throws 429 with `Retry-After` when over the limit. When
 * Redis cannot be asked (an error, or slower than the timeout) the call is let through and the
 * failure logged: the limit protects the provider budget, it must not take the product down.
 */
export async function enforceLimit(
  e: Env,
  name: string,
  userId: string,
  log: Logger,
): Promise<void> {
  let outcome;
  try {
    outcome = await limiter(e, name).limit(userId);
  } catch (err) {
    log.error("rate limit unavailable; allowing the call", {
      code: "rate_limit_unavailable",
      error: (err as Error)?.name ?? "unknown",
    });
    return;
  }
  const { success, reset } = outcome;
  if (success) return;
  const retryAfter = Math.max(1, Math.ceil((reset - Date.now()) / 1000));
  throw new HttpError(
    429,
    "rate_limited",
    `too many requests; try again in ${retryAfter} s`,
    { retry_after_seconds: retryAfter },
    { "Retry-After": String(retryAfter) },
  );
}
