/**
 * Types of the fake Duffel: the public script and option types (re-exported by
 * `tests/fakes/duffel.ts`) and the in-memory records the handlers share.
 *
 * @module
 */

import type { FakeClock } from "../_shared.ts";
import type { OfferSpec } from "./offer_spec.ts";

/** A scripted fault on search or order creation. */
export interface FaultScript {
  /** HTTP status to answer with (with Duffel's error envelope). */
  status?: number;
  /** Duffel error code. */
  code?: string;
  /** Duffel error type; derived from the status when absent. */
  type?: string;
  /** Human message. */
  message?: string;
  /** Wait this long before answering. */
  delay_ms?: number;
  /** Search only: answer a broken body. */
  malformed?: "not_json" | "bad_envelope" | "bad_offer";
  /** Order only: create the order, then answer 504 (true) or break the body ("drop"). */
  lose_response?: true | "drop";
  /** Apply to the next n calls only (default: every call). */
  times?: number;
}

/** The per-route script set with `POST /_fake/routes`. */
export interface RouteScript {
  /** Origin IATA code of the first slice. */
  origin: string;
  /** Destination IATA code of the first slice. */
  destination: string;
  /** Currency of this route's offers. */
  currency?: string;
  /** Explicit offers (compact specs). */
  offers?: OfferSpec[];
  /** Number of generated offers when `offers` is absent (default 12). */
  offer_count?: number;
  /** Return scripted offers even when they exceed the searched `max_connections`. */
  ignore_max_connections?: boolean;
  /** Search fault. */
  search?: FaultScript;
  /** Total per successive GET of each offer. */
  reprice?: string[];
  /** Amount added to the total on each GET of an offer. */
  reprice_step?: string;
  /** Offers answer 422 offer_no_longer_available although not expired. */
  offer_gone?: boolean;
  /** Order fault. */
  order?: FaultScript;
  /** Offers say `passenger_identity_documents_required: true` (default false): an order must
   * then carry one valid, unexpired identity document per passenger. */
  identity_documents_required?: boolean;
}

/** Options of `createDuffelFake`. */
export interface DuffelFakeOptions {
  /** Clock; default real time. */
  clock?: FakeClock;
  /** Requests per minute before 429 (default 4000). */
  rateLimitPerMinute?: number;
  /** Seed for ids (default "duffel"). */
  seed?: string;
  /**
   * Id epoch (0-12 of `[0-9a-z]`). Default: a fresh one at every start and reset, so ids are
   * unique across restarts; fix it only where a test needs repeatable ids.
   */
  epoch?: string;
  /** Currency of generated offers (default GBP). */
  currency?: string;
  /** Where webhook events go (`POST /_fake/webhooks/events`); also settable at run time. */
  webhookUrl?: string;
  /** The webhook signing secret (as Duffel returns it once when a webhook is created). */
  webhookSecret?: string;
}

/** A fake Duffel instance: call `fetch` in-process or serve it. */
export interface DuffelFake {
  /** Handles one HTTP request. */
  fetch(req: Request): Promise<Response>;
}

/** One offer the fake has answered, with its re-pricing state. */
export interface OfferState {
  /** The offer object as last answered. */
  offer: Record<string, unknown>;
  /** The `orq_` id of the search that made it. */
  requestId: string;
  /** `ORIGIN-DESTINATION` of the first slice (the script key). */
  routeKey: string;
  /** How many times `GET /air/offers/{id}` read it. */
  reads: number;
  /** The total at search time, in minor units. */
  originalMinor: number;
  /** Total per successive read, when scripted. */
  reprice: string[] | null;
  /** Minor units added per read, when scripted. */
  repriceStepMinor: number | null;
  /** Answer offer_no_longer_available although not expired. */
  gone: boolean;
  /** Expiry on the fake's clock, ms since the epoch. */
  expiresAtMs: number;
}

/** One offer request (search) and whether an order was made from it. */
export interface OfferRequestState {
  /** The `orq_` id. */
  id: string;
  /** Ids of its offers, in answer order. */
  offerIds: string[];
  /** Set once an order is created: Duffel allows one order per offer request. */
  booked: boolean;
}

/** One created order with the offer it came from. */
export interface OrderState {
  /** The order object as answered. */
  order: Record<string, unknown>;
  /** The booked `off_` id. */
  offerId: string;
  /** The `orq_` id of the search. */
  offerRequestId: string;
}
