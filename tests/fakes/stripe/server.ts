/**
 * The fake Stripe's HTTP layer: `createStripeFake` builds one instance; each request is logged,
 * its form body decoded, its API key checked (Bearer or Basic, `sk_test_…` only), its endpoint
 * resolved, then it passes the scripted rate limit, the idempotency layer, validation and a
 * scripted fault before it runs. Every answer carries `Request-Id` and `Stripe-Version`.
 *
 * @module
 */

import {
  appendLog,
  canonicalJson,
  decodeForm,
  type LoggedRequest,
  queryRecord,
  sleep,
} from "../_shared.ts";
import { control } from "./control.ts";
import { errorResponse, invalid, StripeError } from "./errors.ts";
import {
  lostResponse,
  rateLimited,
  scripted500,
  scriptedUnexpectedState,
  takeFault,
} from "./faults.ts";
import { beginKey, checkKey, replay, storeResult } from "./idempotency.ts";
import {
  prepareCancel,
  prepareCapture,
  prepareConfirm,
  prepareCreate,
  prepareRetrieve,
} from "./payment_intents.ts";
import { prepareRefund } from "./refunds.ts";
import { emitForIntent, emitRefund } from "./events.ts";
import {
  prepareCustomerCreate,
  prepareCustomerDelete,
  prepareCustomerPaymentMethods,
  prepareCustomerRetrieve,
  preparePaymentMethodAttach,
  preparePaymentMethodDetach,
  preparePaymentMethodRetrieve,
  prepareSetupIntentCreate,
  prepareSetupIntentRetrieve,
} from "./setup.ts";
import { search } from "./search.ts";
import { StripeState } from "./state.ts";
import type { Endpoint, Params, Prepared, StripeFake, StripeFakeOptions } from "./types.ts";

/** The secret key of a request (Bearer, or Basic with the key as user), "" when none. */
function apiKeyOf(req: Request): string {
  const auth = req.headers.get("authorization") ?? "";
  if (auth.startsWith("Bearer ")) return auth.slice(7).trim();
  if (auth.startsWith("Basic ")) {
    try {
      return atob(auth.slice(6).trim()).split(":")[0];
    } catch {
      return "";
    }
  }
  return "";
}

/** The 401 for a missing key or one that is not a test secret key (shown masked). */
function authError(apiKey: string): StripeError {
  const shown = apiKey
    ? `${apiKey.slice(0, 8)}${"*".repeat(Math.max(0, apiKey.length - 12))}${apiKey.slice(-4)}`
    : "";
  return new StripeError(401, {
    type: "invalid_request_error",
    message: apiKey
      ? `Invalid API Key provided: ${shown}`
      : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
  }, false);
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
  if (p === "/v1/customers" && method === "POST") return { endpoint: "customer_create", id: null };
  if ((m = /^\/v1\/customers\/([^/]+)$/.exec(p)) && method === "GET") {
    return { endpoint: "customer_retrieve", id: m[1] };
  }
  if ((m = /^\/v1\/customers\/([^/]+)$/.exec(p)) && method === "DELETE") {
    return { endpoint: "customer_delete", id: m[1] };
  }
  if ((m = /^\/v1\/customers\/([^/]+)\/payment_methods$/.exec(p)) && method === "GET") {
    return { endpoint: "payment_method_list", id: m[1] };
  }
  if (p === "/v1/setup_intents" && method === "POST") {
    return { endpoint: "setup_intent_create", id: null };
  }
  if ((m = /^\/v1\/setup_intents\/([^/]+)$/.exec(p)) && method === "GET") {
    return { endpoint: "setup_intent_retrieve", id: m[1] };
  }
  if ((m = /^\/v1\/payment_methods\/([^/]+)$/.exec(p)) && method === "GET") {
    return { endpoint: "payment_method_retrieve", id: m[1] };
  }
  if ((m = /^\/v1\/payment_methods\/([^/]+)\/(attach|detach)$/.exec(p)) && method === "POST") {
    return { endpoint: `payment_method_${m[2]}` as Endpoint, id: m[1] };
  }
  return null;
}

/** Validates a request for its endpoint (throws unstored errors) and returns it ready to run. */
function prepare(
  s: StripeState,
  ep: { endpoint: Endpoint; id: string | null },
  params: Params,
  url: URL,
): Prepared {
  const id = ep.id as string;
  switch (ep.endpoint) {
    case "retrieve":
      return prepareRetrieve(s, id);
    case "search":
      return { target: null, execute: () => search(s, url) };
    case "create":
      return prepareCreate(s, params);
    case "confirm":
      return prepareConfirm(s, id, params);
    case "capture":
      return prepareCapture(s, id, params);
    case "cancel":
      return prepareCancel(s, id, params);
    case "customer_create":
      return prepareCustomerCreate(s, params);
    case "customer_retrieve":
      return prepareCustomerRetrieve(s, id);
    case "customer_delete":
      return prepareCustomerDelete(s, id);
    case "setup_intent_create":
      return prepareSetupIntentCreate(s, params);
    case "setup_intent_retrieve":
      return prepareSetupIntentRetrieve(s, id);
    case "payment_method_list":
      return prepareCustomerPaymentMethods(s, id, url);
    case "payment_method_retrieve":
      return preparePaymentMethodRetrieve(s, id);
    case "payment_method_attach":
      return preparePaymentMethodAttach(s, id, params);
    case "payment_method_detach":
      return preparePaymentMethodDetach(s, id, params);
    default:
      return prepareRefund(s, params);
  }
}

async function handle(s: StripeState, req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname.startsWith("/_fake/")) return await control(s, req, url);
  const requestId = `req_${s.ids.code(14)}`;
  const baseHeaders: Record<string, string> = {
    "request-id": requestId,
    "stripe-version": req.headers.get("stripe-version") ?? "2025-04-30.basil",
  };
  const text = req.method === "POST" ? await req.text() : "";
  const key = req.method === "POST" ? req.headers.get("idempotency-key") : null;
  const entry: LoggedRequest = {
    at: new Date(s.clock.nowMs()).toISOString(),
    method: req.method,
    path: url.pathname,
    query: queryRecord(url),
    // Logged for every method; applied to POST only (Stripe ignores it on GET and DELETE).
    idempotency_key: req.headers.get("idempotency-key"),
    body: null,
    status: null,
  };
  appendLog(s.log, entry);

  const finish = (res: Response, extra: Record<string, string> = {}): Response => {
    entry.status = res.status;
    for (const [k, v] of Object.entries({ ...baseHeaders, ...extra })) res.headers.set(k, v);
    return res;
  };
  const fail = (e: StripeError): Response => finish(errorResponse(e, requestId));

  let params: Params = {};
  try {
    params = req.method === "GET" ? {} : decodeForm(text);
    entry.body = params;
  } catch (e) {
    entry.body = text;
    return fail(invalid(`Invalid request body: ${(e as Error).message}`));
  }

  const apiKey = apiKeyOf(req);
  if (!/^sk_test_\w+$/.test(apiKey)) return fail(authError(apiKey));

  const ep = resolveEndpoint(req.method, url.pathname);
  if (!ep) {
    return fail(
      new StripeError(404, {
        type: "invalid_request_error",
        message: `Unrecognized request URL (${req.method}: ${url.pathname}).`,
      }, false),
    );
  }

  // Rate limiter runs before the idempotency layer.
  if (takeFault(s, ep.endpoint, null, ep.id, params, true)) return fail(rateLimited());

  const signature = `${req.method} ${url.pathname}`;
  const canon = canonicalJson(params);
  if (key !== null) {
    const check = checkKey(s, key, signature, canon);
    if (check.kind === "reject") return fail(check.error);
    if (check.kind === "replay") {
      return finish(replay(check.record), {
        "idempotent-replayed": "true",
        "original-request": check.record.requestId ?? "",
      });
    }
  }

  // Validation (not stored), then execution (stored).
  let prepared: Prepared;
  try {
    prepared = prepare(s, ep, params, url);
  } catch (e) {
    if (e instanceof StripeError) return fail(e);
    throw e;
  }

  const fault = takeFault(s, ep.endpoint, prepared, ep.id, params, false);
  const rec = key !== null ? beginKey(s, key, signature, canon) : null;

  let res: Response;
  let store = true;
  try {
    if (fault?.fault === "timeout") await sleep(fault.delay_ms ?? 5000);
    if (fault?.fault === "500") {
      store = fault.store ?? true;
      throw scripted500();
    }
    if (fault?.fault === "unexpected_state" && prepared.target) {
      throw scriptedUnexpectedState(prepared.target, ep.endpoint);
    }
    const before = prepared.target?.pi.status as string | undefined;
    const refundedBefore = prepared.target?.refundedMinor ?? 0;
    res = prepared.execute();
    if (res.status === 200) emitAfter(s, ep.endpoint, prepared, before, refundedBefore, res);
  } catch (e) {
    if (!(e instanceof StripeError)) {
      if (rec) s.idem.delete(key as string);
      throw e;
    }
    res = errorResponse(e, requestId);
    store = store && e.stored;
  }

  const bodyText = await res.clone().text();
  if (rec) {
    if (store) storeResult(rec, res.status, bodyText, requestId);
    else s.idem.delete(key as string);
  }

  if (fault?.fault === "lose_response") {
    return finish(lostResponse(fault, res, bodyText, requestId));
  }
  return finish(res);
}

/** The events an API call causes (PaymentIntent status changes, refunds). */
function emitAfter(
  s: StripeState,
  endpoint: Endpoint,
  prepared: Prepared,
  before: string | undefined,
  refundedBefore: number,
  res: Response,
): void {
  if (endpoint === "refund" && prepared.target) {
    if (prepared.target.refundedMinor > refundedBefore) {
      emitRefund(s, prepared.target.pi, prepared.target.refundedMinor);
    }
    return;
  }
  if (!["create", "confirm", "capture", "cancel"].includes(endpoint)) return;
  const st = prepared.target ?? [...s.pis.values()].at(-1);
  if (!st) return;
  void res;
  emitForIntent(s, before, st.pi);
}

/** Creates an independent fake Stripe with its own in-memory state. */
export function createStripeFake(options: StripeFakeOptions = {}): StripeFake {
  const state = new StripeState(options);
  return { fetch: (req) => handle(state, req) };
}
