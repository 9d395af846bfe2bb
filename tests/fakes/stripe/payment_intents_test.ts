/** Fake Stripe: PaymentIntents — authorize, capture, confirm, cancel, validation. */

import assert from "node:assert/strict";
import { type Json } from "../_test_helpers.ts";
import { assertError, AUTHORIZE, call, control, fresh, NOW } from "./test_helpers.ts";

Deno.test("stripe: manual-capture authorization, capture, retrieve", async () => {
  const { fake } = fresh();
  const r = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const pi = r.json;
  assert.match(pi.id, /^pi_/);
  assert.equal(pi.object, "payment_intent");
  assert.deepEqual(
    [
      pi.status,
      pi.amount,
      pi.amount_capturable,
      pi.amount_received,
      pi.currency,
      pi.customer,
      pi.capture_method,
    ],
    ["requires_capture", 22178, 22178, 0, "gbp", "cus_123", "manual"],
  );
  assert.deepEqual(pi.metadata, { attempt_id: "att_1" });
  assert.deepEqual(pi.payment_method_types, ["card"]);
  assert.match(pi.latest_charge, /^ch_/);
  assert.ok(pi.client_secret.startsWith(`${pi.id}_secret_`));
  assert.equal(pi.created, NOW / 1000);
  assert.equal(pi.livemode, false);

  const got = await call(fake, "GET", `/v1/payment_intents/${pi.id}`);
  assert.deepEqual(got.json, pi);

  const cap = await call(fake, "POST", `/v1/payment_intents/${pi.id}/capture`, {
    amount_to_capture: "20000",
  });
  assert.equal(cap.status, 200);
  assert.deepEqual([cap.json.status, cap.json.amount_received, cap.json.amount_capturable], [
    "succeeded",
    20000,
    0,
  ]);

  const again = await call(fake, "POST", `/v1/payment_intents/${pi.id}/capture`);
  const e = assertError(again, 400, "invalid_request_error", "payment_intent_unexpected_state");
  assert.equal(e.payment_intent.status, "succeeded");
  const list = await control(fake, "GET", "/_fake/payment_intents");
  assert.deepEqual(list.data.map((p: Json) => [p.id, p.status, p.captures, p.amount_received]), [[
    pi.id,
    "succeeded",
    1,
    20000,
  ]]);
});

Deno.test("stripe: automatic capture succeeds at once; capture of a non-capturable PI is refused", async () => {
  const { fake } = fresh();
  const { capture_method: _c, ...auto } = AUTHORIZE;
  const r = await call(fake, "POST", "/v1/payment_intents", auto);
  assert.deepEqual([r.json.status, r.json.amount_received, r.json.capture_method], [
    "succeeded",
    22178,
    "automatic",
  ]);
  assertError(
    await call(fake, "POST", `/v1/payment_intents/${r.json.id}/capture`),
    400,
    "invalid_request_error",
    "payment_intent_unexpected_state",
  );
  // Over-capture is refused.
  const m = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE);
  const over = await call(fake, "POST", `/v1/payment_intents/${m.json.id}/capture`, {
    amount_to_capture: "22179",
  });
  const e = assertError(over, 400, "invalid_request_error", "amount_too_large");
  assert.equal(e.param, "amount_to_capture");
});

Deno.test("stripe: create without confirm, then confirm; cancel releases the hold", async () => {
  const { fake } = fresh();
  const c = await call(fake, "POST", "/v1/payment_intents", {
    amount: "5000",
    currency: "usd",
    capture_method: "manual",
  });
  assert.equal(c.json.status, "requires_payment_method");
  const c2 = await call(fake, "POST", "/v1/payment_intents", {
    amount: "5000",
    currency: "usd",
    payment_method: "pm_card_visa",
  });
  assert.equal(c2.json.status, "requires_confirmation");
  const conf = await call(fake, "POST", `/v1/payment_intents/${c.json.id}/confirm`, {
    payment_method: "pm_card_mastercard",
  });
  assert.deepEqual([conf.status, conf.json.status, conf.json.payment_method], [
    200,
    "requires_capture",
    "pm_card_mastercard",
  ]);
  assertError(
    await call(fake, "POST", `/v1/payment_intents/${c.json.id}/confirm`),
    400,
    "invalid_request_error",
    "payment_intent_unexpected_state",
  );
  const can = await call(fake, "POST", `/v1/payment_intents/${c.json.id}/cancel`, {
    cancellation_reason: "abandoned",
  });
  assert.deepEqual([can.json.status, can.json.cancellation_reason, can.json.amount_capturable], [
    "canceled",
    "abandoned",
    0,
  ]);
  assert.equal(can.json.canceled_at, NOW / 1000);
  assertError(
    await call(fake, "POST", `/v1/payment_intents/${c.json.id}/cancel`),
    400,
    "invalid_request_error",
    "payment_intent_unexpected_state",
  );
  assertError(
    await call(fake, "POST", `/v1/payment_intents/${c.json.id}/capture`),
    400,
    "invalid_request_error",
    "payment_intent_unexpected_state",
  );
  assertError(
    await call(fake, "POST", "/v1/payment_intents/pi_nope/cancel"),
    404,
    "invalid_request_error",
    "resource_missing",
  );
});

Deno.test("stripe: parameter validation errors", async () => {
  const { fake } = fresh();
  const cases: [Record<string, string>, string, string | undefined][] = [
    [{ currency: "gbp" }, "amount", "parameter_missing"],
    [{ amount: "12.50", currency: "gbp" }, "amount", "parameter_invalid_integer"],
    [{ amount: "10", currency: "gbp" }, "amount", "amount_too_small"],
    [{ amount: "1000" }, "currency", "parameter_missing"],
    [{ amount: "1000", currency: "gbp", capture_method: "later" }, "capture_method", undefined],
    [{ amount: "1000", currency: "gbp", off_session: "true" }, "off_session", undefined],
    [{ amount: "1000", currency: "gbp", confirm: "true" }, "payment_method", "parameter_missing"],
    [{ amount: "1000", currency: "gbp", confirm: "yes" }, "confirm", "parameter_invalid_boolean"],
    [{ amount: "1000", currency: "gbp", colour: "red" }, "colour", "parameter_unknown"],
    [{ amount: "1000", currency: "gbp", "metadata[k]": "x".repeat(501) }, "metadata[k]", undefined],
  ];
  for (const [form, param, code] of cases) {
    const e = assertError(
      await call(fake, "POST", "/v1/payment_intents", form),
      400,
      "invalid_request_error",
      code,
    );
    assert.equal(e.param, param, JSON.stringify(form));
  }
  assert.deepEqual((await control(fake, "GET", "/_fake/payment_intents")).data, []);
  const badForm = await call(fake, "POST", "/v1/payment_intents", "a=1&a[b]=2");
  assertError(badForm, 400, "invalid_request_error");
});
