/**
 * Stripe's `Idempotency-Key` semantics in the fake (contracts-providers.md §2.3): the first
 * result whose execution began (402s and 500s included) is stored and replayed with
 * `Idempotent-Replayed: true`; the same key with other parameters or on another endpoint is 400
 * `idempotency_error`; while the first request runs, 409 `idempotency_key_in_use`; keys are
 * forgotten 24 h after first use (on the fake's clock).
 *
 * @module
 */

import { invalid, StripeError } from "./errors.ts";
import type { StripeState } from "./state.ts";
import type { IdemRecord } from "./types.ts";

const KEY_LIFETIME_MS = 24 * 3600_000;

/** What the idempotency layer decides before a request runs. */
export type KeyCheck =
  | { kind: "run" }
  | { kind: "reject"; error: StripeError }
  | { kind: "replay"; record: IdemRecord };

function keyInUse(key: string): StripeError {
  return new StripeError(409, {
    type: "invalid_request_error",
    code: "idempotency_key_in_use",
    message:
      "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): " +
      `${key}. Please try again later.`,
  }, false);
}

function keyMismatch(key: string, live: IdemRecord, signature: string): StripeError {
  return new StripeError(400, {
    type: "idempotency_error",
    message: live.signature !== signature
      ? `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${live.signature}' vs '${signature}'). Try using a key other than '${key}' if you meant to execute a different request.`
      : `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
  }, false);
}

/** Checks a key against what is stored for it (`signature` is `METHOD /path`). */
export function checkKey(
  s: StripeState,
  key: string,
  signature: string,
  params: string,
): KeyCheck {
  if (key.length > 255 || key.length === 0) {
    return {
      kind: "reject",
      error: invalid(
        "Idempotency keys must be 1–255 characters.",
        undefined,
        "idempotency_key_too_long",
      ),
    };
  }
  const rec = s.idem.get(key);
  if (rec && s.clock.nowMs() - rec.createdMs >= KEY_LIFETIME_MS && !rec.inFlight) {
    s.idem.delete(key);
  }
  const live = s.idem.get(key);
  if (!live) return { kind: "run" };
  if (live.inFlight) return { kind: "reject", error: keyInUse(key) };
  if (live.signature !== signature || live.params !== params) {
    return { kind: "reject", error: keyMismatch(key, live, signature) };
  }
  return { kind: "replay", record: live };
}

/** The stored answer of a key, as replayed. */
export function replay(record: IdemRecord): Response {
  return new Response(record.body, {
    status: record.status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** Marks a key in flight for a request about to run. */
export function beginKey(
  s: StripeState,
  key: string,
  signature: string,
  params: string,
): IdemRecord {
  const rec: IdemRecord = { signature, params, inFlight: true, createdMs: s.clock.nowMs() };
  s.idem.set(key, rec);
  return rec;
}

/** Stores a finished request's answer under its key. */
export function storeResult(
  rec: IdemRecord,
  status: number,
  body: string,
  requestId: string,
): void {
  rec.inFlight = false;
  rec.status = status;
  rec.body = body;
  rec.requestId = requestId;
}
