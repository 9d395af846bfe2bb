/** Fake Stripe: scripted faults. */

import assert from "node:assert/strict";
import { assertError, AUTHORIZE, call, control, fresh, KEY } from "./test_helpers.ts";

Deno.test("stripe: scripted faults — 500 stored, lose_response, drop, 429, matching, order", async () => {
  const { fake } = fresh();
  const pi = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json.id;

  // lose_response: the capture happens, the answer is a 500; the retry with the same key replays success.
  await control(fake, "POST", "/_fake/script", { endpoint: "capture", fault: "lose_response" });
  const h = { "idempotency-key": "cap-lost" };
  assertError(
    await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, h),
    500,
    "api_error",
  );
  assert.equal((await call(fake, "GET", `/v1/payment_intents/${pi}`)).json.status, "succeeded");
  const retry = await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, h);
  assert.deepEqual([retry.status, retry.json.status, retry.headers.get("idempotent-replayed")], [
    200,
    "succeeded",
    "true",
  ]);
  assert.equal((await control(fake, "GET", "/_fake/payment_intents")).data[0].captures, 1);

  // 500: not executed; stored under the key (Stripe replays 500s); store:false lets a retry run.
  const p2 = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json.id;
  await control(fake, "POST", "/_fake/script", [
    { endpoint: "capture", fault: "500" },
    { endpoint: "capture", fault: "500", store: false },
  ]);
  const k1 = { "idempotency-key": "cap-500-a" };
  assertError(
    await call(fake, "POST", `/v1/payment_intents/${p2}/capture`, {}, k1),
    500,
    "api_error",
  );
  const replay500 = await call(fake, "POST", `/v1/payment_intents/${p2}/capture`, {}, k1);
  assert.deepEqual([replay500.status, replay500.headers.get("idempotent-replayed")], [500, "true"]);
  const k2 = { "idempotency-key": "cap-500-b" };
  assertError(
    await call(fake, "POST", `/v1/payment_intents/${p2}/capture`, {}, k2),
    500,
    "api_error",
  );
  assert.equal(
    (await call(fake, "GET", `/v1/payment_intents/${p2}`)).json.status,
    "requires_capture",
  );
  const k2retry = await call(fake, "POST", `/v1/payment_intents/${p2}/capture`, {}, k2);
  assert.deepEqual([k2retry.status, k2retry.json.status], [200, "succeeded"]);

  // 429 happens before the idempotency layer and executes nothing.
  await control(fake, "POST", "/_fake/script", { endpoint: "create", fault: "429" });
  const k3 = { "idempotency-key": "create-429" };
  assertError(
    await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, k3),
    429,
    "invalid_request_error",
    "rate_limit",
  );
  const created = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, k3);
  assert.deepEqual([created.status, created.headers.get("idempotent-replayed")], [200, null]);

  // Faults restricted by metadata or PaymentIntent only hit matching requests.
  await control(fake, "POST", "/_fake/script", {
    endpoint: "create",
    fault: "500",
    metadata: { attempt_id: "att_9" },
  });
  assert.equal((await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).status, 200);
  assert.equal(
    (await call(fake, "POST", "/v1/payment_intents", {
      ...AUTHORIZE,
      "metadata[attempt_id]": "att_9",
    })).status,
    500,
  );
  const p3 = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json.id;
  const p4 = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json.id;
  await control(fake, "POST", "/_fake/script", {
    endpoint: "cancel",
    fault: "500",
    payment_intent: p4,
  });
  assert.equal((await call(fake, "POST", `/v1/payment_intents/${p3}/cancel`)).status, 200);
  assert.equal((await call(fake, "POST", `/v1/payment_intents/${p4}/cancel`)).status, 500);
  assert.deepEqual((await control(fake, "GET", "/_fake/script")).data, []);

  // Faults on one endpoint are consumed in order.
  await control(fake, "POST", "/_fake/script", {
    faults: [{ endpoint: "retrieve", fault: "429" }, { endpoint: "retrieve", fault: "500" }],
  });
  assert.equal((await call(fake, "GET", `/v1/payment_intents/${p3}`)).status, 429);
  assert.equal((await call(fake, "GET", `/v1/payment_intents/${p3}`)).status, 500);
  assert.equal((await call(fake, "GET", `/v1/payment_intents/${p3}`)).status, 200);

  // drop: the body breaks mid-stream, the operation happened.
  const p5 = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json.id;
  await control(fake, "POST", "/_fake/script", {
    endpoint: "capture",
    fault: "lose_response",
    drop: true,
  });
  const res = await fake.fetch(
    new Request(`http://fake/v1/payment_intents/${p5}/capture`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
    }),
  );
  await assert.rejects(() => res.json());
  assert.equal((await call(fake, "GET", `/v1/payment_intents/${p5}`)).json.status, "succeeded");

  const bad = await control(fake, "POST", "/_fake/script", { endpoint: "charge", fault: "500" });
  assert.equal(bad.status, 400);
});

Deno.test("stripe: timeout fault delays and still executes", async () => {
  const { fake } = fresh();
  await control(fake, "POST", "/_fake/script", {
    endpoint: "create",
    fault: "timeout",
    delay_ms: 120,
  });
  const t0 = performance.now();
  const r = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE);
  assert.ok(performance.now() - t0 >= 100);
  assert.equal(r.json.status, "requires_capture");
});

Deno.test("stripe: unexpected_state refuses a cancel as if processing, stored, intent unchanged", async () => {
  const { fake } = fresh();
  const pi = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json.id;
  await control(fake, "POST", "/_fake/script", { endpoint: "cancel", fault: "unexpected_state" });
  const h = { "idempotency-key": "cancel-refused" };
  const refused = await call(fake, "POST", `/v1/payment_intents/${pi}/cancel`, {}, h);
  const e = assertError(refused, 400, "invalid_request_error", "payment_intent_unexpected_state");
  assert.equal((e.payment_intent as { status: string }).status, "processing");
  assert.equal(
    (await call(fake, "GET", `/v1/payment_intents/${pi}`)).json.status,
    "requires_capture",
  );
  const replay = await call(fake, "POST", `/v1/payment_intents/${pi}/cancel`, {}, h);
  assert.deepEqual([replay.status, replay.headers.get("idempotent-replayed")], [400, "true"]);
  const next = await call(fake, "POST", `/v1/payment_intents/${pi}/cancel`, {}, {
    "idempotency-key": "cancel-2",
  });
  assert.deepEqual([next.status, next.json.status], [200, "canceled"], "one fault, one refusal");
  const bad = await control(fake, "POST", "/_fake/script", {
    endpoint: "create",
    fault: "unexpected_state",
  });
  assert.equal(bad.status, 400);
});
