/**
 * Fake Stripe API (PaymentIntents + Refunds): a stand-in for `https://api.stripe.com` in local
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
 * How it differs from real Stripe: in memory, one account for every key (any `sk_test_…` works),
 * no customers, payment-method objects, charges endpoint, events or webhooks; unknown `pm_…` ids
 * behave like `pm_card_visa`; search is immediately consistent (real search lags by up to a
 * minute) and supports only `AND`-joined `metadata['k']:'v'`, `status:'…'`, `customer:'…'` and
 * `currency:'…'` clauses; validation covers the parameters listed above and rejects other
 * parameters as `parameter_unknown`; no rate limiting unless scripted; minimum amounts are a flat
 * 50 minor units.
 *
 * @module
 */

import {
  canonicalJson,
  decodeForm,
  FakeClock,
  type FormValue,
  IdMinter,
  isObject,
  jsonResponse,
  type LoggedRequest,
  queryRecord,
  serveFake,
  sleep,
} from "./_shared.ts";

/** Endpoint names used by scripts. */
export const ENDPOINTS = [
  "create",
  "confirm",
  "capture",
  "cancel",
  "retrieve",
  "search",
  "refund",
] as const;
/** One endpoint name. */
export type Endpoint = (typeof ENDPOINTS)[number];

/** A scripted fault (`POST /_fake/script`). */
export interface StripeFault {
  /** Which endpoint it applies to. */
  endpoint: Endpoint;
  /** What goes wrong. */
  fault: "500" | "timeout" | "lose_response" | "429";
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

/** Options of {@link createStripeFake}. */
export interface StripeFakeOptions {
  /** Clock; default real time. */
  clock?: FakeClock;
  /** Seed for ids (default "stripe"). */
  seed?: string;
}

/** A fake Stripe instance: call `fetch` in-process or serve it. */
export interface StripeFake {
  /** Handles one HTTP request. */
  fetch(req: Request): Promise<Response>;
}

interface PiState {
  pi: Record<string, unknown>;
  captures: number;
  refundedMinor: number;
  order: number;
}

interface IdemRecord {
  signature: string;
  params: string;
  inFlight: boolean;
  createdMs: number;
  status?: number;
  body?: string;
  requestId?: string;
}

interface StripeErrorFields {
  type: string;
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  charge?: string;
  payment_intent?: Record<string, unknown>;
  payment_method?: Record<string, unknown>;
}

/** An error answer; `stored` says whether the idempotency layer keeps it. */
class StripeError extends Error {
  constructor(
    readonly status: number,
    readonly fields: StripeErrorFields,
    readonly stored: boolean,
  ) {
    super(fields.message);
  }
}

/** A parameter error found before execution (never stored under an idempotency key). */
function invalid(message: string, param?: string, code?: string): StripeError {
  return new StripeError(400, { type: "invalid_request_error", message, param, code }, false);
}

const DECLINES: Record<string, { code: string; decline: string; message: string }> = {
  chargeDeclined: {
    code: "card_declined",
    decline: "generic_decline",
    message: "Your card was declined.",
  },
  chargeDeclinedInsufficientFunds: {
    code: "card_declined",
    decline: "insufficient_funds",
    message: "Your card has insufficient funds.",
  },
  chargeDeclinedExpiredCard: {
    code: "expired_card",
    decline: "expired_card",
    message: "Your card has expired.",
  },
  chargeDeclinedIncorrectCvc: {
    code: "incorrect_cvc",
    decline: "incorrect_cvc",
    message: "Your card's security code is incorrect.",
  },
};

const CREATE_PARAMS = new Set([
  "amount",
  "currency",
  "customer",
  "payment_method",
  "off_session",
  "confirm",
  "capture_method",
  "metadata",
  "payment_method_types",
  "automatic_payment_methods",
  "description",
  "statement_descriptor",
  "statement_descriptor_suffix",
  "setup_future_usage",
  "return_url",
  "expand",
  "confirmation_method",
  "error_on_requires_action",
  "payment_method_options",
  "receipt_email",
]);
const CONFIRM_PARAMS = new Set([
  "payment_method",
  "off_session",
  "return_url",
  "capture_method",
  "expand",
  "error_on_requires_action",
  "payment_method_options",
]);
const CAPTURE_PARAMS = new Set([
  "amount_to_capture",
  "metadata",
  "statement_descriptor",
  "statement_descriptor_suffix",
  "final_capture",
  "expand",
]);
const CANCEL_PARAMS = new Set(["cancellation_reason", "expand"]);
const REFUND_PARAMS = new Set([
  "payment_intent",
  "charge",
  "amount",
  "reason",
  "metadata",
  "expand",
]);

type Params = Record<string, FormValue>;

function checkKnown(params: Params, allowed: Set<string>): void {
  for (const k of Object.keys(params)) {
    if (!allowed.has(k)) throw invalid(`Received unknown parameter: ${k}`, k, "parameter_unknown");
  }
}

function str(params: Params, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") {
    throw invalid(`Invalid ${name}: must be a string`, name, "parameter_invalid_string");
  }
  return v;
}

function bool(params: Params, name: string): boolean | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (v !== "true" && v !== "false") {
    throw invalid(`Invalid boolean: ${v}`, name, "parameter_invalid_boolean");
  }
  return v === "true";
}

function int(params: Params, name: string): number | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw invalid(`Invalid integer: ${v}`, name, "parameter_invalid_integer");
  }
  return Number(v);
}

function metadataOf(params: Params): Record<string, string> | undefined {
  const m = params.metadata;
  if (m === undefined) return undefined;
  if (!isObject(m)) throw invalid("Invalid metadata: must be a hash", "metadata");
  const out: Record<string, string> = {};
  const entries = Object.entries(m);
  if (entries.length > 50) throw invalid("Metadata can have at most 50 keys", "metadata");
  for (const [k, v] of entries) {
    if (typeof v !== "string") {
      throw invalid(`Invalid metadata[${k}]: must be a string`, `metadata[${k}]`);
    }
    if (k.length > 40) {
      throw invalid("Metadata keys can be at most 40 characters", `metadata[${k}]`);
    }
    if (v.length > 500) {
      throw invalid("Metadata values can be at most 500 characters", `metadata[${k}]`);
    }
    out[k] = v;
  }
  return out;
}

function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replace(/_/g, "-")}`;
}

/** Creates an independent fake Stripe with its own in-memory state. */
export function createStripeFake(options: StripeFakeOptions = {}): StripeFake {
  const clock = options.clock ?? new FakeClock();
  const seed = options.seed ?? "stripe";
  let ids = new IdMinter(seed);
  let pis = new Map<string, PiState>();
  let refunds = new Map<string, Record<string, unknown>>();
  let idem = new Map<string, IdemRecord>();
  let faults: StripeFault[] = [];
  let log: LoggedRequest[] = [];
  let piCounter = 0;

  function reset(): void {
    ids = new IdMinter(seed);
    pis = new Map();
    refunds = new Map();
    idem = new Map();
    faults = [];
    log = [];
    piCounter = 0;
    clock.reset();
  }
  reset();

  const nowSec = () => Math.floor(clock.nowMs() / 1000);

  function piOrThrow(id: string, param = "intent"): PiState {
    const st = pis.get(id);
    if (!st) {
      throw new StripeError(404, {
        type: "invalid_request_error",
        code: "resource_missing",
        param,
        message: `No such payment_intent: '${id}'`,
      }, false);
    }
    return st;
  }

  function unexpectedState(st: PiState, action: string, allowed: string[]): StripeError {
    return new StripeError(400, {
      type: "invalid_request_error",
      code: "payment_intent_unexpected_state",
      message:
        `This PaymentIntent could not be ${action} because it has a status of ${st.pi.status}. ` +
        `Only a PaymentIntent with one of the following statuses may be ${action}: ${
          allowed.join(", ")
        }.`,
      payment_intent: structuredClone(st.pi),
    }, true);
  }

  /** Confirms a PI with a payment method: success, decline (402) or authentication. */
  function runConfirm(st: PiState, pm: string, offSession: boolean): void {
    const pi = st.pi;
    pi.payment_method = pm;
    const kind = pm.replace(/^pm_card_(visa_)?/, "");
    const decline = DECLINES[kind];
    const chargeId = ids.stripe("ch");
    if (decline) {
      pi.status = "requires_payment_method";
      pi.payment_method = null;
      pi.latest_charge = chargeId;
      pi.last_payment_error = {
        type: "card_error",
        code: decline.code,
        decline_code: decline.decline,
        message: decline.message,
        charge: chargeId,
        doc_url: docUrl(decline.code),
        payment_method: {
          id: pm,
          object: "payment_method",
          type: "card",
          card: { brand: "visa", last4: "0002" },
        },
      };
      throw new StripeError(402, {
        type: "card_error",
        code: decline.code,
        decline_code: decline.decline,
        message: decline.message,
        charge: chargeId,
        payment_intent: structuredClone(pi),
        payment_method: {
          id: pm,
          object: "payment_method",
          type: "card",
          card: { brand: "visa", last4: "0002" },
        },
      }, true);
    }
    if (kind === "authenticationRequired" || kind === "threeDSecureRequired") {
      if (offSession) {
        pi.status = "requires_payment_method";
        pi.payment_method = null;
        pi.latest_charge = chargeId;
        const message = "Your card was declined. This transaction requires authentication.";
        pi.last_payment_error = {
          type: "card_error",
          code: "authentication_required",
          decline_code: "authentication_required",
          message,
          charge: chargeId,
          doc_url: docUrl("authentication_required"),
          payment_method: {
            id: pm,
            object: "payment_method",
            type: "card",
            card: { brand: "visa", last4: "3184" },
          },
        };
        throw new StripeError(402, {
          type: "card_error",
          code: "authentication_required",
          decline_code: "authentication_required",
          message,
          charge: chargeId,
          payment_intent: structuredClone(pi),
          payment_method: {
            id: pm,
            object: "payment_method",
            type: "card",
            card: { brand: "visa", last4: "3184" },
          },
        }, true);
      }
      pi.status = "requires_action";
      pi.next_action = {
        type: "use_stripe_sdk",
        use_stripe_sdk: { type: "three_d_secure_redirect" },
      };
      return;
    }
    pi.latest_charge = chargeId;
    pi.last_payment_error = null;
    pi.next_action = null;
    if (pi.capture_method === "manual") {
      pi.status = "requires_capture";
      pi.amount_capturable = pi.amount;
    } else {
      pi.status = "succeeded";
      pi.amount_received = pi.amount;
    }
  }

  // ---------------------------------------------------------------- endpoints
  // Each endpoint is split in `validate` (throws unstored 400s) and `execute` (runs the effect).

  type Prepared = {
    execute: () => Response;
    target: PiState | null;
    metadata?: Record<string, string>;
  };

  function prepareCreate(params: Params): Prepared {
    checkKnown(params, CREATE_PARAMS);
    const amount = int(params, "amount");
    if (amount === undefined) {
      throw invalid("Missing required param: amount.", "amount", "parameter_missing");
    }
    if (amount < 50) {
      throw invalid("Amount must be at least 50 minor units.", "amount", "amount_too_small");
    }
    if (amount > 99999999) {
      throw invalid("Amount must be no more than 99999999.", "amount", "amount_too_large");
    }
    const currencyRaw = str(params, "currency");
    if (currencyRaw === undefined) {
      throw invalid("Missing required param: currency.", "currency", "parameter_missing");
    }
    if (!/^[a-zA-Z]{3}$/.test(currencyRaw)) {
      throw invalid(`Invalid currency: ${currencyRaw}.`, "currency", "parameter_invalid_string");
    }
    const captureMethod = str(params, "capture_method") ?? "automatic";
    if (!["automatic", "automatic_async", "manual"].includes(captureMethod)) {
      throw invalid(
        "Invalid capture_method: must be one of automatic, automatic_async, or manual",
        "capture_method",
      );
    }
    const confirm = bool(params, "confirm") ?? false;
    const offSession = bool(params, "off_session") ?? false;
    if (offSession && !confirm) {
      throw invalid("off_session can only be used when confirm=true.", "off_session");
    }
    const pm = str(params, "payment_method");
    if (confirm && !pm) {
      throw invalid(
        "You cannot confirm this PaymentIntent because it's missing a payment method.",
        "payment_method",
        "parameter_missing",
      );
    }
    const customer = str(params, "customer");
    const metadata = metadataOf(params) ?? {};
    const types = params.payment_method_types;
    if (
      types !== undefined && (!Array.isArray(types) || types.some((t) => typeof t !== "string"))
    ) {
      throw invalid("Invalid array", "payment_method_types");
    }
    return {
      target: null,
      metadata,
      execute: () => {
        const id = ids.stripe("pi");
        const pi: Record<string, unknown> = {
          id,
          object: "payment_intent",
          amount,
          amount_capturable: 0,
          amount_details: { tip: {} },
          amount_received: 0,
          application: null,
          application_fee_amount: null,
          automatic_payment_methods: null,
          canceled_at: null,
          cancellation_reason: null,
          capture_method: captureMethod,
          client_secret: `${id}_secret_${ids.code(24)}`,
          confirmation_method: "automatic",
          created: nowSec(),
          currency: currencyRaw.toLowerCase(),
          customer: customer ?? null,
          description: str(params, "description") ?? null,
          last_payment_error: null,
          latest_charge: null,
          livemode: false,
          metadata,
          next_action: null,
          on_behalf_of: null,
          payment_method: pm ?? null,
          payment_method_types: (types as string[] | undefined) ?? ["card"],
          processing: null,
          receipt_email: null,
          setup_future_usage: str(params, "setup_future_usage") ?? null,
          statement_descriptor: str(params, "statement_descriptor") ?? null,
          status: pm ? "requires_confirmation" : "requires_payment_method",
        };
        const st: PiState = { pi, captures: 0, refundedMinor: 0, order: piCounter++ };
        pis.set(id, st);
        if (confirm) runConfirm(st, pm as string, offSession);
        return jsonResponse(200, pi);
      },
    };
  }

  function prepareConfirm(id: string, params: Params): Prepared {
    checkKnown(params, CONFIRM_PARAMS);
    const st = piOrThrow(id);
    const pm = str(params, "payment_method") ?? (st.pi.payment_method as string | null) ??
      undefined;
    const offSession = bool(params, "off_session") ?? false;
    if (!pm) {
      throw invalid(
        "You cannot confirm this PaymentIntent because it's missing a payment method.",
        "payment_method",
        "parameter_missing",
      );
    }
    return {
      target: st,
      execute: () => {
        const allowed = ["requires_payment_method", "requires_confirmation", "requires_action"];
        if (!allowed.includes(st.pi.status as string)) {
          throw unexpectedState(st, "confirmed", allowed);
        }
        runConfirm(st, pm, offSession);
        return jsonResponse(200, st.pi);
      },
    };
  }

  function prepareCapture(id: string, params: Params): Prepared {
    checkKnown(params, CAPTURE_PARAMS);
    const st = piOrThrow(id);
    const amountToCapture = int(params, "amount_to_capture");
    const metadata = metadataOf(params);
    if (amountToCapture !== undefined && amountToCapture < 1) {
      throw invalid("amount_to_capture must be positive", "amount_to_capture");
    }
    return {
      target: st,
      execute: () => {
        if (st.pi.status !== "requires_capture") {
          throw unexpectedState(st, "captured", ["requires_capture"]);
        }
        const capturable = st.pi.amount_capturable as number;
        if (amountToCapture !== undefined && amountToCapture > capturable) {
          throw new StripeError(400, {
            type: "invalid_request_error",
            code: "amount_too_large",
            param: "amount_to_capture",
            message:
              `The amount to capture (${amountToCapture}) is greater than the amount capturable (${capturable}).`,
          }, true);
        }
        st.pi.status = "succeeded";
        st.pi.amount_received = amountToCapture ?? capturable;
        st.pi.amount_capturable = 0;
        if (metadata) st.pi.metadata = { ...(st.pi.metadata as object), ...metadata };
        st.captures++;
        return jsonResponse(200, st.pi);
      },
    };
  }

  function prepareCancel(id: string, params: Params): Prepared {
    checkKnown(params, CANCEL_PARAMS);
    const st = piOrThrow(id);
    const reason = str(params, "cancellation_reason");
    if (
      reason !== undefined &&
      !["duplicate", "fraudulent", "requested_by_customer", "abandoned"].includes(reason)
    ) {
      throw invalid(
        "Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer, or abandoned",
        "cancellation_reason",
      );
    }
    return {
      target: st,
      execute: () => {
        const allowed = [
          "requires_payment_method",
          "requires_capture",
          "requires_confirmation",
          "requires_action",
          "processing",
        ];
        if (!allowed.includes(st.pi.status as string)) {
          throw unexpectedState(st, "canceled", allowed);
        }
        st.pi.status = "canceled";
        st.pi.canceled_at = nowSec();
        st.pi.cancellation_reason = reason ?? null;
        st.pi.amount_capturable = 0;
        return jsonResponse(200, st.pi);
      },
    };
  }

  function prepareRefund(params: Params): Prepared {
    checkKnown(params, REFUND_PARAMS);
    const piId = str(params, "payment_intent");
    if (!piId) {
      throw invalid(
        params.charge !== undefined
          ? "The fake supports refunds by payment_intent only."
          : "Missing required param: payment_intent.",
        "payment_intent",
        "parameter_missing",
      );
    }
    const st = piOrThrow(piId, "payment_intent");
    const amount = int(params, "amount");
    if (amount !== undefined && amount < 1) throw invalid("Invalid positive integer", "amount");
    const reason = str(params, "reason");
    if (
      reason !== undefined && !["duplicate", "fraudulent", "requested_by_customer"].includes(reason)
    ) {
      throw invalid(
        "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
        "reason",
      );
    }
    const metadata = metadataOf(params) ?? {};
    return {
      target: st,
      metadata,
      execute: () => {
        if (st.pi.status !== "succeeded") {
          throw new StripeError(400, {
            type: "invalid_request_error",
            code: "payment_intent_unexpected_state",
            message:
              `This PaymentIntent has a status of ${st.pi.status}; only a succeeded PaymentIntent can be refunded ` +
              "(cancel an uncaptured one instead).",
            payment_intent: structuredClone(st.pi),
          }, true);
        }
        const remaining = (st.pi.amount_received as number) - st.refundedMinor;
        if (remaining <= 0) {
          throw new StripeError(400, {
            type: "invalid_request_error",
            code: "charge_already_refunded",
            message: `Charge ${st.pi.latest_charge} has already been refunded.`,
            charge: st.pi.latest_charge as string,
          }, true);
        }
        if (amount !== undefined && amount > remaining) {
          throw new StripeError(400, {
            type: "invalid_request_error",
            code: "amount_too_large",
            param: "amount",
            message:
              `Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining}).`,
          }, true);
        }
        const value = amount ?? remaining;
        st.refundedMinor += value;
        const refund = {
          id: ids.stripe("re"),
          object: "refund",
          amount: value,
          balance_transaction: ids.stripe("txn"),
          charge: st.pi.latest_charge,
          created: nowSec(),
          currency: st.pi.currency,
          destination_details: { card: { type: "refund" }, type: "card" },
          metadata,
          payment_intent: st.pi.id,
          reason: reason ?? null,
          receipt_number: null,
          source_transfer_reversal: null,
          status: "succeeded",
          transfer_reversal: null,
        };
        refunds.set(refund.id, refund);
        return jsonResponse(200, refund);
      },
    };
  }

  function search(url: URL): Response {
    const query = url.searchParams.get("query");
    if (!query) throw invalid("Missing required param: query.", "query", "parameter_missing");
    const clauses = query.split(/\s+AND\s+/);
    const preds: ((pi: Record<string, unknown>) => boolean)[] = [];
    for (const c of clauses) {
      const m =
        /^\s*(?:metadata\[(['"])(.+?)\1\]|(status|customer|currency))\s*:\s*(['"])(.*)\4\s*$/.exec(
          c,
        );
      if (!m) {
        throw invalid(
          `The fake cannot parse the search clause "${c}" (supported: metadata['k']:'v', status, customer, currency joined by AND).`,
          "query",
        );
      }
      const value = m[5];
      if (m[2] !== undefined) {
        const key = m[2];
        preds.push((pi) => (pi.metadata as Record<string, string>)[key] === value);
      } else {
        const field = m[3];
        preds.push((pi) => pi[field] === value);
      }
    }
    const limit = url.searchParams.has("limit") ? Number(url.searchParams.get("limit")) : 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw invalid("limit must be 1–100", "limit");
    }
    const page = url.searchParams.get("page");
    const offset = page ? Number(atob(page)) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw invalid("Invalid page token", "page");
    const all = [...pis.values()].sort((a, b) => b.order - a.order).map((s) => s.pi)
      .filter((pi) => preds.every((p) => p(pi)));
    const data = all.slice(offset, offset + limit);
    const hasMore = offset + limit < all.length;
    return jsonResponse(200, {
      object: "search_result",
      data,
      has_more: hasMore,
      next_page: hasMore ? btoa(String(offset + limit)) : null,
      url: "/v1/payment_intents/search",
    });
  }

  // ---------------------------------------------------------------- faults

  function faultMatches(
    f: StripeFault,
    endpoint: Endpoint,
    prepared: Prepared | null,
    piId: string | null,
    params: Params,
  ): boolean {
    if (f.endpoint !== endpoint) return false;
    if (f.payment_intent && f.payment_intent !== (prepared?.target?.pi.id ?? piId)) return false;
    if (f.metadata) {
      const meta = {
        ...((prepared?.target?.pi.metadata as Record<string, string> | undefined) ?? {}),
        ...((isObject(params.metadata) ? params.metadata : {}) as Record<string, string>),
      };
      if (!Object.entries(f.metadata).every(([k, v]) => meta[k] === v)) return false;
    }
    return true;
  }

  function takeFault(
    endpoint: Endpoint,
    prepared: Prepared | null,
    piId: string | null,
    params: Params,
    only429: boolean,
  ): StripeFault | null {
    const i = faults.findIndex((f) =>
      (f.fault === "429") === only429 && faultMatches(f, endpoint, prepared, piId, params)
    );
    if (i < 0) return null;
    return faults.splice(i, 1)[0];
  }

  // ---------------------------------------------------------------- dispatch

  function errorResponse(e: StripeError, requestId: string): Response {
    const f = e.fields;
    const error: Record<string, unknown> = { type: f.type };
    if (f.code) error.code = f.code;
    if (f.decline_code) error.decline_code = f.decline_code;
    if (f.charge) error.charge = f.charge;
    error.message = f.message;
    if (f.param) error.param = f.param;
    if (f.code) error.doc_url = docUrl(f.code);
    error.request_log_url = `https://dashboard.stripe.com/test/logs/${requestId}`;
    if (f.payment_intent) error.payment_intent = f.payment_intent;
    if (f.payment_method) error.payment_method = f.payment_method;
    return jsonResponse(e.status, { error });
  }

  function resolveEndpoint(
    method: string,
    path: string,
  ): { endpoint: Endpoint; id: string | null } | null {
    const p = path.replace(/\/+$/, "");
    let m: RegExpExecArray | null;
    if (method === "POST" && p === "/v1/payment_intents") return { endpoint: "create", id: null };
    if (method === "GET" && p === "/v1/payment_intents/search") {
      return { endpoint: "search", id: null };
    }
    if (method === "POST" && p === "/v1/refunds") return { endpoint: "refund", id: null };
    if (
      (m = /^\/v1\/payment_intents\/([^/]+)\/(confirm|capture|cancel)$/.exec(p)) &&
      method === "POST"
    ) {
      return { endpoint: m[2] as Endpoint, id: m[1] };
    }
    if ((m = /^\/v1\/payment_intents\/([^/]+)$/.exec(p)) && method === "GET") {
      return { endpoint: "retrieve", id: m[1] };
    }
    return null;
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/_fake/")) return await control(req, url);
    const requestId = `req_${ids.code(14)}`;
    const baseHeaders: Record<string, string> = {
      "request-id": requestId,
      "stripe-version": req.headers.get("stripe-version") ?? "2025-04-30.basil",
    };
    const text = req.method === "POST" ? await req.text() : "";
    const key = req.method === "POST" ? req.headers.get("idempotency-key") : null;
    const entry: LoggedRequest = {
      at: new Date(clock.nowMs()).toISOString(),
      method: req.method,
      path: url.pathname,
      query: queryRecord(url),
      idempotency_key: key,
      body: null,
      status: null,
    };
    log.push(entry);
    if (log.length > 2000) log.shift();

    const finish = (res: Response, extra: Record<string, string> = {}): Response => {
      entry.status = res.status;
      for (const [k, v] of Object.entries({ ...baseHeaders, ...extra })) res.headers.set(k, v);
      return res;
    };

    let params: Params = {};
    try {
      params = req.method === "GET" ? {} : decodeForm(text);
      entry.body = params;
    } catch (e) {
      entry.body = text;
      return finish(
        errorResponse(invalid(`Invalid request body: ${(e as Error).message}`), requestId),
      );
    }

    // Authentication.
    const auth = req.headers.get("authorization") ?? "";
    let apiKey = "";
    if (auth.startsWith("Bearer ")) apiKey = auth.slice(7).trim();
    else if (auth.startsWith("Basic ")) {
      try {
        apiKey = atob(auth.slice(6).trim()).split(":")[0];
      } catch {
        apiKey = "";
      }
    }
    if (!/^sk_test_\w+$/.test(apiKey)) {
      const shown = apiKey
        ? `${apiKey.slice(0, 8)}${"*".repeat(Math.max(0, apiKey.length - 12))}${apiKey.slice(-4)}`
        : "";
      return finish(errorResponse(
        new StripeError(401, {
          type: "invalid_request_error",
          message: apiKey
            ? `Invalid API Key provided: ${shown}`
            : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        }, false),
        requestId,
      ));
    }

    const ep = resolveEndpoint(req.method, url.pathname);
    if (!ep) {
      return finish(errorResponse(
        new StripeError(404, {
          type: "invalid_request_error",
          message: `Unrecognized request URL (${req.method}: ${url.pathname}).`,
        }, false),
        requestId,
      ));
    }

    // Rate limiter runs before the idempotency layer.
    if (takeFault(ep.endpoint, null, ep.id, params, true)) {
      return finish(errorResponse(
        new StripeError(429, {
          type: "invalid_request_error",
          code: "rate_limit",
          message:
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        }, false),
        requestId,
      ));
    }

    // Idempotency layer.
    const signature = `${req.method} ${url.pathname}`;
    const canon = canonicalJson(params);
    if (key !== null) {
      if (key.length > 255 || key.length === 0) {
        return finish(
          errorResponse(
            invalid(
              "Idempotency keys must be 1–255 characters.",
              undefined,
              "idempotency_key_too_long",
            ),
            requestId,
          ),
        );
      }
      const rec = idem.get(key);
      if (rec && clock.nowMs() - rec.createdMs >= 24 * 3600_000 && !rec.inFlight) idem.delete(key);
      const live = idem.get(key);
      if (live) {
        if (live.inFlight) {
          return finish(errorResponse(
            new StripeError(409, {
              type: "invalid_request_error",
              code: "idempotency_key_in_use",
              message:
                "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): " +
                `${key}. Please try again later.`,
            }, false),
            requestId,
          ));
        }
        if (live.signature !== signature || live.params !== canon) {
          return finish(errorResponse(
            new StripeError(400, {
              type: "idempotency_error",
              message: live.signature !== signature
                ? `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${live.signature}' vs '${signature}'). Try using a key other than '${key}' if you meant to execute a different request.`
                : `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            }, false),
            requestId,
          ));
        }
        const replay = new Response(live.body, {
          status: live.status,
          headers: { "content-type": "application/json; charset=utf-8" },
        });
        return finish(replay, {
          "idempotent-replayed": "true",
          "original-request": live.requestId ?? "",
        });
      }
    }

    // Validation (not stored), then execution (stored).
    let prepared: Prepared;
    try {
      if (ep.endpoint === "retrieve") {
        const st = piOrThrow(ep.id as string);
        prepared = { target: st, execute: () => jsonResponse(200, st.pi) };
      } else if (ep.endpoint === "search") {
        prepared = { target: null, execute: () => search(url) };
      } else if (ep.endpoint === "create") prepared = prepareCreate(params);
      else if (ep.endpoint === "confirm") prepared = prepareConfirm(ep.id as string, params);
      else if (ep.endpoint === "capture") prepared = prepareCapture(ep.id as string, params);
      else if (ep.endpoint === "cancel") prepared = prepareCancel(ep.id as string, params);
      else prepared = prepareRefund(params);
    } catch (e) {
      if (e instanceof StripeError) return finish(errorResponse(e, requestId));
      throw e;
    }

    const fault = takeFault(ep.endpoint, prepared, ep.id, params, false);
    const rec: IdemRecord | null = key !== null
      ? { signature, params: canon, inFlight: true, createdMs: clock.nowMs() }
      : null;
    if (rec) idem.set(key as string, rec);

    let res: Response;
    let store = true;
    try {
      if (fault?.fault === "timeout") await sleep(fault.delay_ms ?? 5000);
      if (fault?.fault === "500") {
        store = fault.store ?? true;
        throw new StripeError(500, {
          type: "api_error",
          message:
            "An unknown error occurred while processing this request (scripted by the fake).",
        }, true);
      }
      res = prepared.execute();
    } catch (e) {
      if (!(e instanceof StripeError)) {
        if (rec) idem.delete(key as string);
        throw e;
      }
      res = errorResponse(e, requestId);
      store = store && e.stored;
    }

    const bodyText = await res.clone().text();
    if (rec) {
      if (store) {
        rec.inFlight = false;
        rec.status = res.status;
        rec.body = bodyText;
        rec.requestId = requestId;
      } else idem.delete(key as string);
    }

    if (fault?.fault === "lose_response") {
      if (fault.drop) {
        const stream = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(bodyText.slice(0, 10)));
            c.error(new Error("connection dropped by the fake"));
          },
        });
        return finish(
          new Response(stream, {
            status: res.status,
            headers: { "content-type": "application/json" },
          }),
        );
      }
      return finish(errorResponse(
        new StripeError(500, {
          type: "api_error",
          message: "An unknown error occurred while processing this request.",
        }, false),
        requestId,
      ));
    }
    return finish(res);
  }

  // ---------------------------------------------------------------- control API

  async function control(req: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    if (req.method === "POST" && path === "/_fake/reset") {
      reset();
      return jsonResponse(200, { ok: true });
    }
    if (path === "/_fake/script") {
      if (req.method === "GET") return jsonResponse(200, { data: faults });
      if (req.method === "POST") {
        let body: unknown;
        try {
          body = await req.json();
        } catch {
          return jsonResponse(400, { error: "body must be JSON" });
        }
        const list = Array.isArray(body)
          ? body
          : isObject(body) && Array.isArray(body.faults)
          ? body.faults
          : [body];
        for (const f of list) {
          if (
            !isObject(f) || !(ENDPOINTS as readonly unknown[]).includes(f.endpoint) ||
            !["500", "timeout", "lose_response", "429"].includes(f.fault as string)
          ) {
            return jsonResponse(400, {
              error: `each fault needs endpoint (${
                ENDPOINTS.join("|")
              }) and fault (500|timeout|lose_response|429)`,
            });
          }
          if (f.delay_ms !== undefined && (typeof f.delay_ms !== "number" || f.delay_ms < 0)) {
            return jsonResponse(400, { error: "delay_ms must be a non-negative number" });
          }
        }
        faults.push(...(list as StripeFault[]));
        return jsonResponse(201, { data: faults });
      }
    }
    if (req.method === "GET" && path === "/_fake/requests") return jsonResponse(200, { data: log });
    if (req.method === "GET" && path === "/_fake/payment_intents") {
      return jsonResponse(200, {
        data: [...pis.values()].sort((a, b) => a.order - b.order).map((s) => ({
          id: s.pi.id,
          status: s.pi.status,
          amount: s.pi.amount,
          amount_capturable: s.pi.amount_capturable,
          amount_received: s.pi.amount_received,
          amount_refunded: s.refundedMinor,
          currency: s.pi.currency,
          customer: s.pi.customer,
          capture_method: s.pi.capture_method,
          metadata: s.pi.metadata,
          captures: s.captures,
          created: s.pi.created,
        })),
      });
    }
    if (req.method === "POST" && path === "/_fake/clock") {
      let body: unknown;
      try {
        body = await req.json();
      } catch {
        body = undefined;
      }
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
    return jsonResponse(404, { error: `no control endpoint ${req.method} ${path}` });
  }

  return { fetch: handle };
}

/** The shared instance behind the default export and the served process. */
const instance: StripeFake = createStripeFake();

export default instance;

if (import.meta.main) serveFake("fake stripe", instance, 54392);
