/**
 * Stands in for the traveller's browser completing 3-D Secure: what Stripe.js
 * `stripe.confirmCardPayment(client_secret, {payment_method})` and the bank's challenge page do
 * together, which no server-side Stripe API can do. Control endpoint (no API key, not logged):
 *
 *   POST /_fake/payment_intents/{id}/authenticate
 *     {"client_secret": "...", "outcome": "succeed" | "fail", "payment_method"?: "pm_..."}
 *
 * The PaymentIntent must be `requires_payment_method` (an off-session confirm that answered
 * `authentication_required`) or `requires_action` (an on-session confirm whose `next_action` is
 * `use_stripe_sdk`), and the client_secret must be the intent's (Stripe.js authenticates with
 * it). `succeed`: the on-session confirm passes the challenge, so a manual-capture intent becomes
 * `requires_capture` (`amount_capturable` = `amount`; event
 * `payment_intent.amount_capturable_updated`), an automatic one `succeeded`. `fail`: the
 * challenge fails, the intent is `requires_payment_method` again with `last_payment_error.code`
 * `payment_intent_authentication_failure` (event `payment_intent.payment_failed`), as Stripe
 * reports a failed 3-D Secure.
 *
 * @module
 */

import { isObject, jsonResponse, readJsonOrUndefined } from "../_shared.ts";
import { docUrl } from "./errors.ts";
import { emit, emitForIntent } from "./events.ts";
import type { StripeState } from "./state.ts";

const WAITING = ["requires_payment_method", "requires_action"];

/** Answers `POST /_fake/payment_intents/{id}/authenticate`. */
export async function authenticate(s: StripeState, id: string, req: Request): Promise<Response> {
  const body = await readJsonOrUndefined(req);
  if (!isObject(body)) return jsonResponse(400, { error: "body must be a JSON object" });
  const st = s.pis.get(id);
  if (!st) return jsonResponse(404, { error: `no PaymentIntent ${id}` });
  const pi = st.pi;
  if (body.client_secret !== pi.client_secret) {
    return jsonResponse(401, { error: "client_secret does not belong to this PaymentIntent" });
  }
  const outcome = body.outcome ?? "succeed";
  if (outcome !== "succeed" && outcome !== "fail") {
    return jsonResponse(400, { error: 'outcome must be "succeed" or "fail"' });
  }
  const before = pi.status as string;
  if (!WAITING.includes(before)) {
    return jsonResponse(409, {
      error: `PaymentIntent is ${before}; authentication needs one of ${WAITING.join(", ")}`,
    });
  }
  const lastError = pi.last_payment_error as { payment_method?: { id?: string } } | null;
  const pm = typeof body.payment_method === "string"
    ? body.payment_method
    : (pi.payment_method as string | null) ?? lastError?.payment_method?.id ?? null;
  if (!pm) return jsonResponse(400, { error: "no payment method to authenticate" });
  pi.payment_method = pm;
  pi.next_action = null;
  if (outcome === "fail") {
    const code = "payment_intent_authentication_failure";
    pi.status = "requires_payment_method";
    pi.last_payment_error = {
      type: "invalid_request_error",
      code,
      doc_url: docUrl(code),
      message:
        "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
      payment_method: { id: pm, object: "payment_method", type: "card" },
    };
    emit(s, "payment_intent.payment_failed", pi, undefined, true);
    return jsonResponse(200, { payment_intent: pi });
  }
  pi.latest_charge = s.ids.stripe("ch");
  pi.last_payment_error = null;
  if (pi.capture_method === "manual") {
    pi.status = "requires_capture";
    pi.amount_capturable = pi.amount;
  } else {
    pi.status = "succeeded";
    pi.amount_received = pi.amount;
  }
  emitForIntent(s, before, pi);
  return jsonResponse(200, { payment_intent: pi });
}
