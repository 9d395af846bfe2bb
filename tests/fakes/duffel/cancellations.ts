/**
 * Order cancellations of the fake Duffel, in Duffel's two steps: `POST /air/order_cancellations`
 * makes a quote (full refund to balance, valid 15 minutes), `POST
 * /air/order_cancellations/{id}/actions/confirm` cancels the order; `GET
 * /air/order_cancellations/{id}` reads a quote. A cancelled order answers 422 `already_cancelled`.
 *
 * @module
 */

import { isObject, jsonResponse } from "../_shared.ts";
import { ApiError, notFound } from "./errors.ts";
import type { DuffelState } from "./state.ts";
import { Validation } from "./validation.ts";

function alreadyCancelled(): ApiError {
  return new ApiError(
    422,
    "invalid_state_error",
    "already_cancelled",
    "The order is already cancelled.",
  );
}

/** `POST /air/order_cancellations` `{"data":{"order_id":…}}`: a refund quote. */
export function createCancellation(s: DuffelState, body: unknown): Response {
  const data = isObject(body) ? body.data : undefined;
  const orderId = isObject(data) ? data.order_id : undefined;
  if (typeof orderId !== "string") {
    const v = new Validation();
    v.add("validation_required", "/order_id", "order_id is required");
    v.throwIfAny();
  }
  const o = s.orders.get(orderId as string);
  if (!o) throw notFound("Order");
  if (o.order.cancelled_at) throw alreadyCancelled();
  const now = s.clock.nowMs();
  const quote = {
    id: s.ids.duffel("ore"),
    order_id: orderId,
    refund_amount: o.order.total_amount,
    refund_currency: o.order.total_currency,
    refund_to: "balance",
    expires_at: new Date(now + 15 * 60_000).toISOString(),
    confirmed_at: null,
    created_at: new Date(now).toISOString(),
    live_mode: false,
    airline_credits: [],
  };
  s.cancellations.set(quote.id, quote);
  return jsonResponse(201, { data: quote });
}

/** `GET /air/order_cancellations/{id}`. */
export function getCancellation(s: DuffelState, id: string): Response {
  const c = s.cancellations.get(id);
  if (!c) throw notFound("Order cancellation");
  return jsonResponse(200, { data: c });
}

/** `POST /air/order_cancellations/{id}/actions/confirm`: cancels the order. */
export function confirmCancellation(s: DuffelState, id: string): Response {
  const quote = s.cancellations.get(id);
  if (!quote) throw notFound("Order cancellation");
  const o = s.orders.get(quote.order_id as string)!;
  if (quote.confirmed_at || o.order.cancelled_at) throw alreadyCancelled();
  const now = s.nowIso();
  quote.confirmed_at = now;
  o.order.cancelled_at = now;
  o.order.available_actions = ["update"];
  o.order.cancellation = quote;
  return jsonResponse(200, { data: quote });
}
