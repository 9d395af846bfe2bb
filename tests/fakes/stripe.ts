/**
 * Fake Stripe API (PaymentIntents, Refunds, customers, SetupIntents, payment methods and webhook
 * event delivery): a stand-in for `https://api.stripe.com` in local
 * runs and tests.
 *
 * Wire format per /work/shared/reference/contracts-providers.md §2: `Authorization: Bearer
 * sk_test_…` (or HTTP Basic with the key as user), form-encoded bodies with Stripe's bracket
 * syntax (`metadata[k]=v`, `payment_method_types[]=card`), JSON answers, `Request-Id` on every
 * answer, the `{"error":{type,code,decline_code,message,param,doc_url,payment_intent,…}}`
 * envelope, and `Idempotency-Key` semantics per §2.3: the first result whose execution began
 * (including 402s and 500s) is stored and replayed with `Idempotent-Replayed: true`; the same key
 * with other parameters or another endpoint → 400 `idempotency_error`; the same key while the
 * first request is still running → 409 `idempotency_key_in_use`; validation failures, 401s,
 * 429s and conflicts are not stored; keys are forgotten 24 h after first use (fake clock).
 * Default export `{ fetch }` (in-process use); run as a main module with `deno run` (not
 * `deno serve`, which would start a second listener) it serves on 127.0.0.1:$PORT
 * (default 54392).
 *
 * Endpoints: `POST /v1/payment_intents`, `POST /v1/payment_intents/{id}/confirm`,
 * `POST /v1/payment_intents/{id}/capture`, `POST /v1/payment_intents/{id}/cancel`,
 * `GET /v1/payment_intents/{id}`, `GET /v1/payment_intents/search?query=…`, `POST /v1/refunds`.
 * Test payment methods: `pm_card_visa` / `pm_card_mastercard` (and any other `pm_…` id) succeed;
 * `pm_card_chargeDeclined` → 402 card_declined/generic_decline;
 * `pm_card_chargeDeclinedInsufficientFunds` → card_declined/insufficient_funds;
 * `pm_card_chargeDeclinedExpiredCard` → expired_card; `pm_card_authenticationRequired` → 402
 * `authentication_required` off-session (PI left `requires_payment_method`), `requires_action`
 * on-session. The `pm_card_visa_chargeDeclined…` spellings work too.
 *
 * Control API (no auth, not logged):
 * - `POST /_fake/script` with one fault, a list, or `{"faults":[…]}`; each
 *   `{"endpoint":"create"|"confirm"|"capture"|"cancel"|"retrieve"|"search"|"refund",
 *   "fault":"500"|"timeout"|"lose_response"|"429", "delay_ms":n, "drop":bool, "store":bool,
 *   "payment_intent":"pi_…", "metadata":{"k":"v"}}` is consumed by the next matching request, in
 *   order. `500`: not executed, answers 500 (stored under the idempotency key unless
 *   `"store":false`). `timeout`: waits `delay_ms` (default 5000), then executes and answers (a
 *   client with a shorter timeout gives up; the operation still happens; the key stays in flight
 *   meanwhile). `lose_response`: executes and stores the real result, then answers 500 (or, with
 *   `"drop":true`, a body that breaks mid-stream). `429`: rate-limited before the idempotency
 *   layer, nothing executed or stored. `payment_intent`/`metadata` restrict a fault to requests
 *   about that PaymentIntent (or carrying that metadata) so parallel tests do not interfere.
 * - `GET /_fake/script`, `POST /_fake/reset`, `GET /_fake/requests`, `GET /_fake/payment_intents`
 *   (every PI with status, amounts and `captures`, the number of successful captures),
 *   `POST /_fake/clock {"advance_seconds":n}`.
 *
 * Saved cards (stripe/setup.ts, stripe/events.ts): `POST /v1/customers`, `GET /v1/customers/{id}`,
 * `DELETE /v1/customers/{id}` (the erasure: detaches every card; a second delete 404s),
 * `POST /v1/setup_intents`, `GET /v1/setup_intents/{id}`, `GET /v1/customers/{id}/payment_methods`,
 * `GET /v1/payment_methods/{id}`, `POST /v1/payment_methods/{id}/attach|detach`; the browser's
 * confirmation is the test helper `POST /_fake/setup_intents/{id}/confirm {"payment_method":
 * "pm_card_visa"}`. Events (`setup_intent.succeeded`, `payment_method.attached|detached`,
 * `payment_intent.amount_capturable_updated|canceled|succeeded`, `charge.refunded`, and any
 * event made with `POST /_fake/events`) carry `api_version` 2025-09-30.clover and are signed like
 * Stripe's and delivered to STRIPE_WEBHOOK_URL with STRIPE_WEBHOOK_SECRET (or
 * `POST /_fake/webhook`); `POST /_fake/events/{id}/deliver` replays one, `GET /_fake/events`
 * lists them with their delivery statuses. Customer, SetupIntent, payment-method and event ids
 * are random (unique across restarts); PaymentIntent ids are seeded.
 *
 * How it differs from real Stripe: in memory, one account for every key (any `sk_test_…` works),
 * no charges endpoint or `GET /v1/events`; SetupIntents are never declined (every test token
 * saves; a saved card is charged as its token behaves) and have no 3-D Secure step; no
 * `invoice_settings` updates; automatic deliveries are retried twice, 2 s apart; unknown `pm_…`
 * ids behave like `pm_card_visa` when charged; search is immediately consistent (real search lags by up to a
 * minute) and supports only `AND`-joined `metadata['k']:'v'`, `status:'…'`, `customer:'…'` and
 * `currency:'…'` clauses; validation covers the parameters listed above and rejects other
 * parameters as `parameter_unknown`; no rate limiting unless scripted; minimum amounts are a flat
 * 50 minor units.
 *
 * The implementation lives in `./stripe/`, one file per role: `server.ts` (auth, routing, the
 * request pipeline), `payment_intents.ts`, `refunds.ts`, `search.ts`, `cards.ts` (test cards),
 * `params.ts` (form validation), `idempotency.ts`, `faults.ts`, `control.ts`, `errors.ts`,
 * `state.ts`.
 *
 * @module
 */

import { serveFake } from "./_shared.ts";
import { createStripeFake } from "./stripe/server.ts";
import type { StripeFake } from "./stripe/types.ts";

export { createStripeFake } from "./stripe/server.ts";
export {
  type Endpoint,
  ENDPOINTS,
  type StripeFake,
  type StripeFakeOptions,
  type StripeFault,
} from "./stripe/types.ts";

/** The shared instance behind the default export and the served process. */
const instance: StripeFake = createStripeFake(
  import.meta.main
    ? {
      webhook: {
        url: Deno.env.get("STRIPE_WEBHOOK_URL") ?? "",
        secret: Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? "",
      },
    }
    : {},
);

export default instance;

if (import.meta.main) serveFake("fake stripe", instance, 54392);
