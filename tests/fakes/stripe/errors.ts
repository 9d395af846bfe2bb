/**
 * Stripe's error envelope for the fake: {@link StripeError} (thrown by handlers; `stored` says
 * whether the idempotency layer keeps it) and `{"error":{type,code,decline_code,charge,message,
 * param,doc_url,request_log_url,payment_intent,payment_method}}` answers.
 *
 * @module
 */

import { jsonResponse } from "../_shared.ts";
import type { PiState } from "./types.ts";

/** The fields of a Stripe error object. */
export interface StripeErrorFields {
  /** `invalid_request_error`, `card_error`, `api_error`, `idempotency_error`. */
  type: string;
  /** Human message. */
  message: string;
  /** Error code (gives `doc_url`). */
  code?: string;
  /** Card decline code. */
  decline_code?: string;
  /** The parameter at fault. */
  param?: string;
  /** The charge, for card errors. */
  charge?: string;
  /** The PaymentIntent as it is after the failure. */
  payment_intent?: Record<string, unknown>;
  /** The payment method, for card errors. */
  payment_method?: Record<string, unknown>;
}

/** An error answer; `stored` says whether the idempotency layer keeps it. */
export class StripeError extends Error {
  /** @param stored whether a replay under the same idempotency key answers it again */
  constructor(
    readonly status: number,
    readonly fields: StripeErrorFields,
    readonly stored: boolean,
  ) {
    super(fields.message);
  }
}

/** A parameter error found before execution (never stored under an idempotency key). */
export function invalid(message: string, param?: string, code?: string): StripeError {
  return new StripeError(400, { type: "invalid_request_error", message, param, code }, false);
}

/** Stripe's documentation page of an error code. */
export function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replace(/_/g, "-")}`;
}

/** 404 `resource_missing` for an unknown PaymentIntent id. */
export function noSuchPaymentIntent(id: string, param: string): StripeError {
  return new StripeError(404, {
    type: "invalid_request_error",
    code: "resource_missing",
    param,
    message: `No such payment_intent: '${id}'`,
  }, false);
}

/** 400 `payment_intent_unexpected_state` (stored): the PI's status does not allow `action`. */
export function unexpectedState(st: PiState, action: string, allowed: string[]): StripeError {
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

/** Stripe's error envelope for an error. */
export function errorResponse(e: StripeError, requestId: string): Response {
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
