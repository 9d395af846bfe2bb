/**
 * Scripted faults of the fake Stripe (`POST /_fake/script`): checking a posted script, picking
 * the next fault that matches a request (endpoint, PaymentIntent, metadata; 429s apart, since
 * they act before the idempotency layer), and the answers of a lost response.
 *
 * @module
 */

import { droppedBodyResponse, isObject } from "../_shared.ts";
import { errorResponse, StripeError, unexpectedState } from "./errors.ts";
import type { StripeState } from "./state.ts";
import {
  type Endpoint,
  ENDPOINTS,
  type Params,
  type PiState,
  type Prepared,
  type StripeFault,
} from "./types.ts";

const FAULT_KINDS = ["500", "timeout", "lose_response", "429", "unexpected_state"];
/** Endpoints acting on one PaymentIntent's status, where `unexpected_state` applies. */
const STATE_ENDPOINTS = ["confirm", "capture", "cancel"];

/** The faults of a posted script (one fault, a list, or `{"faults":[…]}`), or an error text. */
export function parseScript(body: unknown): StripeFault[] | string {
  const list = Array.isArray(body)
    ? body
    : isObject(body) && Array.isArray(body.faults)
    ? body.faults
    : [body];
  for (const f of list) {
    if (
      !isObject(f) || !(ENDPOINTS as readonly unknown[]).includes(f.endpoint) ||
      !FAULT_KINDS.includes(f.fault as string)
    ) {
      return `each fault needs endpoint (${
        ENDPOINTS.join("|")
      }) and fault (500|timeout|lose_response|429|unexpected_state)`;
    }
    if (f.fault === "unexpected_state" && !STATE_ENDPOINTS.includes(f.endpoint as string)) {
      return `unexpected_state applies to ${STATE_ENDPOINTS.join("|")} only`;
    }
    if (f.delay_ms !== undefined && (typeof f.delay_ms !== "number" || f.delay_ms < 0)) {
      return "delay_ms must be a non-negative number";
    }
  }
  return list as StripeFault[];
}

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

/** Removes and returns the first scripted fault matching the request (only 429s, or none). */
export function takeFault(
  s: StripeState,
  endpoint: Endpoint,
  prepared: Prepared | null,
  piId: string | null,
  params: Params,
  only429: boolean,
): StripeFault | null {
  const i = s.faults.findIndex((f) =>
    (f.fault === "429") === only429 && faultMatches(f, endpoint, prepared, piId, params)
  );
  if (i < 0) return null;
  return s.faults.splice(i, 1)[0];
}

/** The 429 a scripted rate limit answers (nothing executed or stored). */
export function rateLimited(): StripeError {
  return new StripeError(429, {
    type: "invalid_request_error",
    code: "rate_limit",
    message:
      "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
  }, false);
}

/** The 500 a scripted `500` fault answers instead of executing. */
export function scripted500(): StripeError {
  return new StripeError(500, {
    type: "api_error",
    message: "An unknown error occurred while processing this request (scripted by the fake).",
  }, true);
}

/**
 * What an `unexpected_state` fault answers instead of executing: Stripe's 400
 * `payment_intent_unexpected_state` (stored under the idempotency key, as Stripe stores it) as if
 * the intent were briefly `processing` (3-D Secure or a bank completing at that moment); the
 * intent itself is unchanged, so a read afterwards shows its real status.
 */
export function scriptedUnexpectedState(target: PiState, endpoint: Endpoint): StripeError {
  const processing: PiState = { ...target, pi: { ...target.pi, status: "processing" } };
  const [action, allowed] = endpoint === "cancel"
    ? ["canceled", [
      "requires_payment_method",
      "requires_capture",
      "requires_confirmation",
      "requires_action",
    ]]
    : endpoint === "capture"
    ? ["captured", ["requires_capture"]]
    : ["confirmed", ["requires_payment_method", "requires_confirmation", "requires_action"]];
  return unexpectedState(processing, action, allowed);
}

/**
 * What a `lose_response` fault answers after the request ran: a body that breaks after 10
 * characters (`drop`), else a 500 (the real result stays stored under the idempotency key).
 */
export function lostResponse(
  fault: StripeFault,
  res: Response,
  bodyText: string,
  requestId: string,
): Response {
  if (fault.drop) return droppedBodyResponse(res.status, bodyText.slice(0, 10));
  return errorResponse(
    new StripeError(500, {
      type: "api_error",
      message: "An unknown error occurred while processing this request.",
    }, false),
    requestId,
  );
}
