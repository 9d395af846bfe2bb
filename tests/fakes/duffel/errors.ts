/**
 * Duffel's error envelope for the fake: {@link ApiError} (thrown by handlers, turned into
 * `{"errors":[…],"meta":{status,request_id}}` by the server), error objects with Duffel's fields
 * (type, code, title, message, documentation_url, source) and the errors of scripted faults.
 *
 * @module
 */

import { jsonResponse } from "../_shared.ts";
import type { FaultScript } from "./types.ts";

const DOC_URL = "https://duffel.com/docs/api/overview/errors";

/** An error answer: status, Duffel type and code, and the per-field errors when there are some. */
export class ApiError extends Error {
  /** @param errors Duffel error objects; when empty, one is made from type, code and message. */
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly errors: Record<string, unknown>[] = [],
  ) {
    super(message);
  }
}

function titleOf(code: string): string {
  const t = code.replace(/_/g, " ");
  return t[0].toUpperCase() + t.slice(1);
}

/** One Duffel error object (`source` points at the field or query parameter at fault). */
export function errorObject(
  type: string,
  code: string,
  message: string,
  source?: { field?: string; pointer?: string; parameter?: string },
): Record<string, unknown> {
  const e: Record<string, unknown> = {
    type,
    code,
    title: titleOf(code),
    message,
    documentation_url: DOC_URL,
  };
  if (source) e.source = source;
  return e;
}

/** The Duffel error type that goes with an HTTP status. */
export function typeForStatus(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 429) return "rate_limit_error";
  if (status === 422) return "validation_error";
  if (status === 502) return "airline_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

/** A 404 `not_found` for a missing resource ("Offer" → "Offer not found"). */
export function notFound(what: string): ApiError {
  return new ApiError(404, "invalid_request_error", "not_found", `${what} not found`);
}

/** A 422 about one query parameter (`source.field` and `source.parameter` name it). */
export function queryParamError(code: string, parameter: string, message: string): ApiError {
  return new ApiError(422, "validation_error", code, "", [
    errorObject("validation_error", code, message, { field: parameter, parameter }),
  ]);
}

/** The error a scripted fault answers with (status 500 and a code derived from it by default). */
export function faultError(f: FaultScript): ApiError {
  const status = f.status ?? 500;
  const code = f.code ?? (status === 504 ? "gateway_timeout_error" : "internal_server_error");
  return new ApiError(
    status,
    f.type ?? typeForStatus(status),
    code,
    f.message ?? `Scripted failure: ${code}`,
  );
}

/** Duffel's error envelope for an {@link ApiError}. */
export function errorResponse(e: ApiError, requestId: string): Response {
  const errors = e.errors.length ? e.errors : [errorObject(e.type, e.code, e.message)];
  return jsonResponse(e.status, { errors, meta: { status: e.status, request_id: requestId } });
}
