/** Fake Duffel: two-step order cancellations. */

import assert from "node:assert/strict";
import { assertErrorEnvelope, call, fresh, orderBody, search } from "./test_helpers.ts";

Deno.test("duffel: two-step cancellation, and already_cancelled on repeat", async () => {
  const { fake } = fresh();
  const offer = (await search(fake)).offers[0];
  const order = (await call(fake, "POST", "/air/orders", orderBody(offer))).json.data;
  const q = await call(fake, "POST", "/air/order_cancellations", { data: { order_id: order.id } });
  assert.equal(q.status, 201);
  const quote = q.json.data;
  assert.match(quote.id, /^ore_/);
  assert.deepEqual(
    [
      quote.order_id,
      quote.refund_amount,
      quote.refund_currency,
      quote.refund_to,
      quote.confirmed_at,
    ],
    [order.id, order.total_amount, order.total_currency, "balance", null],
  );
  assert.deepEqual(
    (await call(fake, "GET", `/air/order_cancellations/${quote.id}`)).json.data,
    quote,
  );
  const c = await call(fake, "POST", `/air/order_cancellations/${quote.id}/actions/confirm`);
  assert.equal(c.status, 200);
  assert.ok(c.json.data.confirmed_at);
  const after = (await call(fake, "GET", `/air/orders/${order.id}`)).json.data;
  assert.ok(after.cancelled_at);
  assert.deepEqual(after.available_actions, ["update"]);
  assert.equal(after.cancellation.id, quote.id);
  assertErrorEnvelope(
    await call(fake, "POST", `/air/order_cancellations/${quote.id}/actions/confirm`),
    422,
    "already_cancelled",
    "invalid_state_error",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations", { data: { order_id: order.id } }),
    422,
    "already_cancelled",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations", { data: { order_id: "ord_0000x" } }),
    404,
    "not_found",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations/ore_0000x/actions/confirm"),
    404,
    "not_found",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations", { data: {} }),
    422,
    "validation_required",
  );
});
