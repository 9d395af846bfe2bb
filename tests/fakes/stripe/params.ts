/**
 * Form-parameter validation for the fake Stripe: the parameters each endpoint knows (others are
 * 400 `parameter_unknown`), typed readers of decoded form values (string, boolean, integer) and
 * Stripe's metadata limits. Every failure is an unstored 400 `invalid_request_error`.
 *
 * @module
 */

import { isObject } from "../_shared.ts";
import { invalid } from "./errors.ts";
import type { Params } from "./types.ts";

/** Parameters of `POST /v1/payment_intents`. */
export const CREATE_PARAMS: ReadonlySet<string> = new Set([
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
/** Parameters of `POST /v1/payment_intents/{id}/confirm`. */
export const CONFIRM_PARAMS: ReadonlySet<string> = new Set([
  "payment_method",
  "off_session",
  "return_url",
  "capture_method",
  "expand",
  "error_on_requires_action",
  "payment_method_options",
]);
/** Parameters of `POST /v1/payment_intents/{id}/capture`. */
export const CAPTURE_PARAMS: ReadonlySet<string> = new Set([
  "amount_to_capture",
  "metadata",
  "statement_descriptor",
  "statement_descriptor_suffix",
  "final_capture",
  "expand",
]);
/** Parameters of `POST /v1/payment_intents/{id}/cancel`. */
export const CANCEL_PARAMS: ReadonlySet<string> = new Set(["cancellation_reason", "expand"]);
/** Parameters of `POST /v1/refunds`. */
export const REFUND_PARAMS: ReadonlySet<string> = new Set([
  "payment_intent",
  "charge",
  "amount",
  "reason",
  "metadata",
  "expand",
]);

/** Rejects any parameter outside `allowed`. */
export function checkKnown(params: Params, allowed: ReadonlySet<string>): void {
  for (const k of Object.keys(params)) {
    if (!allowed.has(k)) throw invalid(`Received unknown parameter: ${k}`, k, "parameter_unknown");
  }
}

/** A string parameter, or undefined when absent. */
export function str(params: Params, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") {
    throw invalid(`Invalid ${name}: must be a string`, name, "parameter_invalid_string");
  }
  return v;
}

/** A `true`/`false` parameter, or undefined when absent. */
export function bool(params: Params, name: string): boolean | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (v !== "true" && v !== "false") {
    throw invalid(`Invalid boolean: ${v}`, name, "parameter_invalid_boolean");
  }
  return v === "true";
}

/** An integer parameter (safe integer), or undefined when absent. */
export function int(params: Params, name: string): number | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw invalid(`Invalid integer: ${v}`, name, "parameter_invalid_integer");
  }
  return Number(v);
}

/** `metadata[k]=v`: at most 50 keys, keys ≤40 and values ≤500 characters. */
export function metadataOf(params: Params): Record<string, string> | undefined {
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
