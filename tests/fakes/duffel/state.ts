/**
 * The in-memory state of one fake Duffel: route scripts and how often their faults fired,
 * searches, offers, orders, cancellation quotes, the request log, the rate limiter and the clock.
 * Every handler takes it as its first argument; `reset` forgets everything but the built-in routes.
 *
 * @module
 */

import { FakeClock, freshEpoch, IdMinter, type LoggedRequest } from "../_shared.ts";
import { RateLimiter } from "./rate_limit.ts";
import { builtInRoutes, routeKeyOf } from "./routes.ts";
import type {
  DuffelFakeOptions,
  FaultScript,
  OfferRequestState,
  OfferState,
  OrderState,
  RouteScript,
} from "./types.ts";
import type { WebhookEventState, WebhookTarget } from "./webhooks.ts";

/** Everything one fake Duffel remembers. */
export class DuffelState {
  /** The fake's notion of "now". */
  readonly clock: FakeClock;
  /** Seed of ids and generated offers. */
  readonly seed: string;
  /** Currency of generated offers when the route names none. */
  readonly defaultCurrency: string;
  /** Requests per minute. */
  readonly rate: RateLimiter;
  /** Fixed id epoch from the options, if any (tests); else a fresh one at every start and reset. */
  readonly epoch: string | undefined;
  /**
   * Mints ids; renewed on reset with a fresh epoch, so ids never repeat across starts and
   * resets (the database they end up in outlives the fake). With a fixed `epoch` option a
   * reset fake repeats its ids.
   */
  ids!: IdMinter;
  /** Route scripts by `ORIGIN-DESTINATION`. */
  routes!: Map<string, RouteScript>;
  /** Uses of each route's faults, by `ORIGIN-DESTINATION:search|order`. */
  faultUses!: Map<string, number>;
  /** Searches by `orq_` id. */
  offerRequests!: Map<string, OfferRequestState>;
  /** Offers by `off_` id. */
  offers!: Map<string, OfferState>;
  /** Orders by `ord_` id. */
  orders!: Map<string, OrderState>;
  /** Cancellation quotes by `ore_` id. */
  cancellations!: Map<string, Record<string, unknown>>;
  /** The request log (`GET /_fake/requests`). */
  log!: LoggedRequest[];
  /** Searches so far (numbers the client keys). */
  searchCount!: number;
  /** Added latency per API answer, `[min, max]` ms uniformly (`POST /_fake/config`), or null. */
  latencyMs!: [number, number] | null;
  /** API requests since the last reset, by `METHOD /path-prefix` (`GET /_fake/stats`). */
  counts!: Map<string, number>;
  /** Where webhook events are delivered (kept across resets). */
  readonly webhook: WebhookTarget;
  /** Emitted webhook events by `wev_` id. */
  webhookEvents!: Map<string, WebhookEventState>;

  /** A fresh state with the built-in routes. */
  constructor(options: DuffelFakeOptions = {}) {
    this.clock = options.clock ?? new FakeClock();
    this.seed = options.seed ?? "duffel";
    this.epoch = options.epoch;
    this.defaultCurrency = (options.currency ?? "GBP").toUpperCase();
    this.rate = new RateLimiter(options.rateLimitPerMinute ?? 4000);
    this.webhook = { url: options.webhookUrl ?? null, secret: options.webhookSecret ?? null };
    this.reset();
  }

  /** Forgets everything, restores the built-in routes, the default rate limit and the clock. */
  reset(): void {
    this.ids = new IdMinter(this.seed, this.epoch ?? freshEpoch());
    this.routes = builtInRoutes();
    this.faultUses = new Map();
    this.offerRequests = new Map();
    this.offers = new Map();
    this.orders = new Map();
    this.cancellations = new Map();
    this.log = [];
    this.rate.reset();
    this.searchCount = 0;
    this.latencyMs = null;
    this.counts = new Map();
    this.webhookEvents = new Map();
    this.clock.reset();
  }

  /** "Now" on the fake's clock, ISO 8601. */
  nowIso(): string {
    return new Date(this.clock.nowMs()).toISOString();
  }

  /** Replaces a route's script and restarts the count of its faults. */
  setRoute(script: RouteScript): void {
    const key = routeKeyOf(script.origin, script.destination);
    this.routes.set(key, script);
    this.faultUses.delete(`${key}:search`);
    this.faultUses.delete(`${key}:order`);
  }

  /** Returns the route's fault if it still applies (and counts the use). */
  takeFault(routeKey: string, kind: "search" | "order"): FaultScript | null {
    const f = this.routes.get(routeKey)?.[kind];
    if (!f) return null;
    const key = `${routeKey}:${kind}`;
    const used = this.faultUses.get(key) ?? 0;
    if (f.times !== undefined && used >= f.times) return null;
    this.faultUses.set(key, used + 1);
    return f;
  }
}
