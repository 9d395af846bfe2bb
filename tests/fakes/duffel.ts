/**
 * Fake Duffel Flights API (v2): a stand-in for `https://api.duffel.com` in local runs and tests.
 *
 * Wire format per /work/shared/reference/contracts-providers.md §1: `Authorization: Bearer …`,
 * `Duffel-Version: v2`, `Accept: application/json`, bodies wrapped in `{"data":…}`, lists with
 * `meta.after` cursors, Duffel's error envelope, `x-request-id` and lowercase `ratelimit-*`
 * headers on every answer. Default export `{ fetch }` (in-process use); run as a main module
 * with `deno run` (not `deno serve`, which would start a second listener) it serves on
 * 127.0.0.1:$PORT (default 54391). Env when run as main: `PORT`, `DUFFEL_FAKE_RATE_LIMIT`
 * (requests per minute, default 4000 like a test token), `DUFFEL_WEBHOOK_SECRET` (signs webhook
 * deliveries) and `DUFFEL_FAKE_WEBHOOK_URL` (default `$SUPABASE_URL/functions/v1/duffel-webhook`).
 *
 * Endpoints: `POST /air/offer_requests` (201; `return_offers`, `supplier_timeout`),
 * `GET /air/offers` (`offer_request_id`, `sort`, `limit`, `after`), `GET /air/offers/{id}`
 * (re-prices on read when scripted; `return_available_services=true`), `POST /air/orders`
 * (instant orders paid from balance), `GET /air/orders/{id}`, `GET /air/orders`
 * (`booking_reference`, `offer_id`, `limit`, `after`, and the fake-only extension
 * `metadata[key]=value`), `POST /air/order_cancellations`, `GET /air/order_cancellations/{id}`,
 * `POST /air/order_cancellations/{id}/actions/confirm`.
 *
 * Control API (no auth, not logged, not rate limited), scriptable per route so parallel tests
 * that use different routes do not interfere:
 * - `POST /_fake/routes` `{"origin":"LHR","destination":"JFK","currency":"GBP",
 *   "offers":[{"total":"399.00","stops":0,"cabin":"economy","duration_minutes":490,"carrier":"ZZ",
 *   "departing_at":"09:00","expires_in_seconds":1800,"requires_instant_payment":true,
 *   "reprice":["399.00"]}] | "offer_count":n, "ignore_max_connections":false,
 *   "search":{"status":503,"code":"…","type":"…","times":n} | {"delay_ms":…} |
 *   {"malformed":"not_json"|"bad_envelope"|"bad_offer"},
 *   "reprice":["399.00","389.00"] (price per successive GET of an offer; the last one sticks),
 *   "reprice_step":"10.00" (add this much per GET), "offer_gone":true (GET/order → 422),
 *   "order":{"status":502,"code":"airline_unknown","times":n} | {"lose_response":true|"drop"} |
 *   {"delay_ms":…}}` replaces that route's script. `times` limits a fault to the next n calls.
 * - `GET /_fake/routes`, `POST /_fake/reset` (forget everything, restore the built-in routes),
 *   `GET /_fake/requests` (method, path, query, body, status; last 2000), `GET /_fake/orders`
 *   (orders with their `offer_id`/`offer_request_id`), `POST /_fake/config
 *   {"rate_limit_per_minute":n}`, `POST /_fake/clock {"advance_seconds":n}` (moves "now" to expire
 *   offers without waiting).
 * - Webhooks (`./duffel/webhooks.ts`): `POST /_fake/webhooks/events {"type","order_id"}` emits
 *   `order.created`, `order.airline_initiated_change_detected` or `order.cancelled` for an
 *   existing order and delivers it signed (`X-Duffel-Signature`) to the configured URL;
 *   `POST /_fake/webhooks/events/{id}/deliver` redelivers; `GET|POST /_fake/webhooks`.
 * - Built-in routes mirroring Duffel's test-mode routes (§1.9): PVD→RAI no offers; STN→LHR 504
 *   `gateway_timeout_error`; LGW→LHR offers gone (422); LHR→STN +10.00 per read; LHR→LGW order 502
 *   `airline_unknown`; LGW→STN order 422 `insufficient_balance`; LHR→DXB connections only.
 *   Any other route answers deterministic generated offers seeded by route, dates and cabin.
 *
 * How it differs from the real service:
 * - In memory, single process; any non-empty bearer token is accepted; webhooks are delivered
 *   only when a test asks (once per call, no automatic retries, no `/air/webhooks` API).
 * - Only `instant` orders with one `balance` payment; no holds, `POST /air/payments`, services,
 *   seat maps, order changes, `POST /air/offers/{id}/actions/price`, `before` cursors, or
 *   `sort=total_duration` beyond a simple sum of slice durations.
 * - Validation covers the fields listed in the contract, not Duffel's full rule set; error codes
 *   for missing `Duffel-Version` (400 `unsupported_version`), missing `Accept` (406
 *   `unsupported_format`) and a non-JSON body (400 `malformed_json`) are unverified guesses.
 *   `offer_no_longer_available` is typed `airline_error` (as observed), branch on `code`.
 * - Past departure dates are not rejected (tests run on virtual time); rate limiting is one
 *   fixed window per wall-clock minute for the whole server, not per token.
 * - `GET /air/orders?metadata[k]=v` is a fake-only filter (real Duffel has no metadata search).
 * - Generated offers are smaller than real ones (about 2–3 KB instead of 6 KB each).
 *
 * The implementation lives in `./duffel/`, one file per role: `server.ts` (headers, rate limit,
 * log, routing), `search.ts`, `offers.ts`, `orders.ts` + `order_validation.ts`,
 * `cancellations.ts`, `control.ts`, `errors.ts`, `routes.ts` (scripts), `state.ts`.
 *
 * @module
 */

import { serveFake } from "./_shared.ts";
import { createDuffelFake } from "./duffel/server.ts";
import type { DuffelFake } from "./duffel/types.ts";

export { createDuffelFake } from "./duffel/server.ts";
export type { DuffelFake, DuffelFakeOptions, FaultScript, RouteScript } from "./duffel/types.ts";

/** The shared instance behind the default export and the served process. */
const instance: DuffelFake = createDuffelFake();

export default instance;

if (import.meta.main) {
  const limit = Deno.env.get("DUFFEL_FAKE_RATE_LIMIT");
  const base = Deno.env.get("SUPABASE_URL")?.replace(/\/$/, "");
  const webhookUrl = Deno.env.get("DUFFEL_FAKE_WEBHOOK_URL") ??
    (base ? `${base}/functions/v1/duffel-webhook` : undefined);
  const served = createDuffelFake({
    rateLimitPerMinute: limit ? Number(limit) : undefined,
    webhookUrl,
    webhookSecret: Deno.env.get("DUFFEL_WEBHOOK_SECRET"),
  });
  serveFake("fake duffel", served, 54391);
}
