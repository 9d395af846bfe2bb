/**
 * Types of the fake Stripe: the public fault and option types (re-exported by
 * `tests/fakes/stripe.ts`) and the in-memory records the handlers share.
 *
 * @module
 */

import type { FakeClock, FormValue } from "../_shared.ts";

/** Endpoint names used by scripts. */
export const ENDPOINTS = [
  "create",
  "confirm",
  "capture",
  "cancel",
  "retrieve",
  "search",
  "refund",
  "customer_create",
  "customer_retrieve",
  "setup_intent_create",
  "setup_intent_retrieve",
  "payment_method_list",
  "payment_method_retrieve",
  "payment_method_attach",
  "payment_method_detach",
  "customer_delete",
] as const;
/** One endpoint name. */
export type Endpoint = (typeof ENDPOINTS)[number];

/** A scripted fault (`POST /_fake/script`). */
export interface StripeFault {
  /** Which endpoint it applies to. */
  endpoint: Endpoint;
  /**
   * What goes wrong. `unexpected_state` (confirm, capture, cancel only): a 400
   * `payment_intent_unexpected_state` as if the intent were `processing`, nothing executed (the
   * intent keeps its status).
   */
  fault: "500" | "timeout" | "lose_response" | "429" | "unexpected_state";
  /** For `timeout`: how long to wait before executing (default 5000 ms). */
  delay_ms?: number;
  /** For `lose_response`: break the body instead of answering 500. */
  drop?: boolean;
  /** For `500`: store the 500 under the idempotency key (default true, as Stripe does). */
  store?: boolean;
  /** Only for requests about this PaymentIntent. */
  payment_intent?: string;
  /** Only for requests whose params (or target PI) carry these metadata pairs. */
  metadata?: Record<string, string>;
}

/** Options of `createStripeFake`. */
export interface StripeFakeOptions {
  /** Clock; default real time. */
  clock?: FakeClock;
  /** Seed for ids (default "stripe"). */
  seed?: string;
  /** Where events are delivered (default: nowhere). */
  webhook?: { url?: string; secret?: string; auto?: boolean };
  /**
   * Id epoch (0-12 of `[0-9a-z]`). Default: a fresh one at every start and reset, so ids are
   * unique across restarts; fix it only where a test needs repeatable ids.
   */
  epoch?: string;
}

/** One payment method with what the fake remembers about it. */
export interface PmState {
  /** The PaymentMethod object as answered. */
  pm: Record<string, unknown>;
  /** The test token it was made from (`pm_card_visa`…): charges behave like it. */
  token: string;
  /** Detached (permanent). */
  detached: boolean;
  /** Creation order (lists answer newest first). */
  order: number;
}

/** A fake Stripe instance: call `fetch` in-process or serve it. */
export interface StripeFake {
  /** Handles one HTTP request. */
  fetch(req: Request): Promise<Response>;
}

/** Decoded form parameters of a request. */
export type Params = Record<string, FormValue>;

/** One PaymentIntent with what the fake counts about it. */
export interface PiState {
  /** The PaymentIntent object as answered. */
  pi: Record<string, unknown>;
  /** Successful captures (a correct client captures at most once). */
  captures: number;
  /** Refunded so far, minor units. */
  refundedMinor: number;
  /** Creation order (search answers newest first). */
  order: number;
}

/** What the idempotency layer remembers about one key. */
export interface IdemRecord {
  /** `METHOD /path` of the first request. */
  signature: string;
  /** Canonical JSON of its parameters. */
  params: string;
  /** True while the first request is still executing. */
  inFlight: boolean;
  /** First use on the fake's clock (keys are forgotten 24 h later). */
  createdMs: number;
  /** Stored status. */
  status?: number;
  /** Stored body text. */
  body?: string;
  /** Request-Id of the first answer. */
  requestId?: string;
}

/**
 * A validated request, ready to run. Validation throws unstored 400s; `execute` runs the effect
 * (its errors are stored under the idempotency key).
 */
export interface Prepared {
  /** Runs the effect and answers. */
  execute: () => Response;
  /** The PaymentIntent the request is about, if any (scripted faults can match on it). */
  target: PiState | null;
  /** The request's metadata, if it carries some. */
  metadata?: Record<string, string>;
}
