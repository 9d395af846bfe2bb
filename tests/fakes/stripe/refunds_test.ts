/** Fake Stripe: refunds. */

import assert from "node:assert/strict";
import { assertError, AUTHORIZE, call, control, fresh } from "./test_helpers.ts";

Deno.test("stripe: refunds — full, partial, over-refund, uncaptured", async () => {
  const { fake } = fresh();
  const { capture_method: _c, ...auto } = AUTHORIZE;
  const pi = (await call(fake, "POST", "/v1/payment_intents", auto)).json;
  const part = await call(fake, "POST", "/v1/refunds", {
    payment_intent: pi.id,
    amount: "2178",
    reason: "requested_by_customer",
    "metadata[attempt_id]": "att_1",
  });
  assert.equal(part.status, 200);
  assert.match(part.json.id, /^re_/);
  assert.deepEqual(
    [
      part.json.object,
      part.json.amount,
      part.json.currency,
      part.json.payment_intent,
      part.json.charge,
      part.json.status,
      part.json.reason,
    ],
    ["refund", 2178, "gbp", pi.id, pi.latest_charge, "succeeded", "requested_by_customer"],
  );
  const over = await call(fake, "POST", "/v1/refunds", { payment_intent: pi.id, amount: "20001" });
  assertError(over, 400, "invalid_request_error", "amount_too_large");
  const rest = await call(fake, "POST", "/v1/refunds", { payment_intent: pi.id });
  assert.equal(rest.json.amount, 20000);
  assertError(
    await call(fake, "POST", "/v1/refunds", { payment_intent: pi.id }),
    400,
    "invalid_request_error",
    "charge_already_refunded",
  );
  const held = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json;
  assertError(
    await call(fake, "POST", "/v1/refunds", { payment_intent: held.id }),
    400,
    "invalid_request_error",
    "payment_intent_unexpected_state",
  );
  assertError(
    await call(fake, "POST", "/v1/refunds", { payment_intent: "pi_none" }),
    404,
    "invalid_request_error",
    "resource_missing",
  );
  assertError(
    await call(fake, "POST", "/v1/refunds", {}),
    400,
    "invalid_request_error",
    "parameter_missing",
  );
  const list = await control(fake, "GET", "/_fake/payment_intents");
  assert.equal(list.data[0].amount_refunded, 22178);
});
