/**
 * The in-memory state of one fake Stripe: PaymentIntents, refunds, idempotency records, the
 * scripted faults, the request log and the clock. Every handler takes it as its first argument;
 * `reset` forgets everything.
 *
 * @module
 */

import { FakeClock, freshEpoch, IdMinter, type LoggedRequest } from "../_shared.ts";
import { noSuchPaymentIntent } from "./errors.ts";
import type { FakeEvent, WebhookConfig } from "./events.ts";
import type { IdemRecord, PiState, PmState, StripeFakeOptions, StripeFault } from "./types.ts";

/** Everything one fake Stripe remembers. */
export class StripeState {
  /** The fake's notion of "now". */
  readonly clock: FakeClock;
  /** Seed of ids. */
  readonly seed: string;
  /** Fixed id epoch from the options, if any (tests); else a fresh one at every start and reset. */
  readonly epoch: string | undefined;
  /**
   * Mints ids; renewed on reset with a fresh epoch, so ids never repeat across starts and
   * resets (the database they end up in outlives the fake). With a fixed `epoch` option a
   * reset fake repeats its ids.
   */
  ids!: IdMinter;
  /** PaymentIntents by id. */
  pis!: Map<string, PiState>;
  /** Refunds by id. */
  refunds!: Map<string, Record<string, unknown>>;
  /** Idempotency records by key. */
  idem!: Map<string, IdemRecord>;
  /** Scripted faults, consumed in order. */
  faults!: StripeFault[];
  /** The request log (`GET /_fake/requests`). */
  log!: LoggedRequest[];
  /** PaymentIntents created so far (their creation order). */
  piCounter!: number;
  /** Customers by id. */
  customers!: Map<string, Record<string, unknown>>;
  /** SetupIntents by id. */
  setupIntents!: Map<string, Record<string, unknown>>;
  /** Payment methods by id (with the test token they were made from). */
  paymentMethods!: Map<string, PmState>;
  /** Payment methods minted so far. */
  pmCounter!: number;
  /** Events by id. */
  events!: Map<string, FakeEvent>;
  /** The webhook endpoint (kept across resets). */
  webhook: WebhookConfig;
  /** Automatic deliveries, one at a time. */
  outbox: Promise<void> = Promise.resolve();

  /** A fresh, empty state. */
  constructor(options: StripeFakeOptions = {}) {
    this.clock = options.clock ?? new FakeClock();
    this.seed = options.seed ?? "stripe";
    this.webhook = { url: "", secret: "", auto: true, ...options.webhook };
    this.epoch = options.epoch;
    this.reset();
  }

  /** Forgets everything and resets the clock. */
  reset(): void {
    this.ids = new IdMinter(this.seed, this.epoch ?? freshEpoch());
    this.pis = new Map();
    this.refunds = new Map();
    this.idem = new Map();
    this.faults = [];
    this.log = [];
    this.piCounter = 0;
    this.customers = new Map();
    this.setupIntents = new Map();
    this.paymentMethods = new Map();
    this.pmCounter = 0;
    this.events = new Map();
    this.clock.reset();
  }

  /** "Now" on the fake's clock, Unix seconds (Stripe's `created`). */
  nowSec(): number {
    return Math.floor(this.clock.nowMs() / 1000);
  }

  /** The PaymentIntent with this id, or a 404 `resource_missing` naming `param`. */
  piOrThrow(id: string, param = "intent"): PiState {
    const st = this.pis.get(id);
    if (!st) throw noSuchPaymentIntent(id, param);
    return st;
  }
}
