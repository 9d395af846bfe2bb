/** Fake Stripe: Idempotency-Key replay, mismatch, expiry and in-flight keys. */

import assert from "node:assert/strict";
import { assertError, AUTHORIZE, call, control, fresh } from "./test_helpers.ts";

Deno.test("stripe: idempotent replay returns the first status and body, including 402s", async () => {
  const { fake } = fresh();
  const h = { "idempotency-key": "auth-att_1" };
  const first = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, h);
  assert.equal(first.headers.get("idempotent-replayed"), null);
  const second = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, h);
  assert.equal(second.status, 200);
  assert.deepEqual(second.json, first.json);
  assert.equal(second.headers.get("idempotent-replayed"), "true");
  assert.equal(second.headers.get("original-request"), first.headers.get("request-id"));
  assert.notEqual(second.headers.get("request-id"), first.headers.get("request-id"));
  // Parameter order does not matter.
  const reordered = Object.fromEntries(Object.entries(AUTHORIZE).reverse());
  assert.equal(
    (await call(fake, "POST", "/v1/payment_intents", reordered, h)).headers.get(
      "idempotent-replayed",
    ),
    "true",
  );
  assert.equal((await control(fake, "GET", "/_fake/payment_intents")).data.length, 1);

  const dh = { "idempotency-key": "auth-att_2" };
  const declined = await call(fake, "POST", "/v1/payment_intents", {
    ...AUTHORIZE,
    payment_method: "pm_card_chargeDeclined",
  }, dh);
  const replay = await call(fake, "POST", "/v1/payment_intents", {
    ...AUTHORIZE,
    payment_method: "pm_card_chargeDeclined",
  }, dh);
  assert.deepEqual([replay.status, replay.json], [402, declined.json]);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.equal((await control(fake, "GET", "/_fake/payment_intents")).data.length, 2);

  // Captures with their own key: one capture however often it is retried.
  const pi = first.json.id;
  const ch = { "idempotency-key": "capture-att_1" };
  const c1 = await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, ch);
  const c2 = await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, ch);
  assert.deepEqual([c1.status, c2.status, c2.json.status], [200, 200, "succeeded"]);
  assert.equal(c2.headers.get("idempotent-replayed"), "true");
  assert.equal((await control(fake, "GET", "/_fake/payment_intents")).data[0].captures, 1);
  // A state error during execution is stored and replayed too.
  const sh = { "idempotency-key": "capture-again" };
  const s1 = await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, sh);
  await call(fake, "POST", `/v1/payment_intents/${pi}/cancel`);
  const s2 = await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, sh);
  assert.deepEqual([s1.status, s2.status, s2.headers.get("idempotent-replayed")], [
    400,
    400,
    "true",
  ]);
  assert.deepEqual(s2.json, s1.json);
});

Deno.test("stripe: idempotency mismatch, endpoint mismatch, unstored validation failures, expiry", async () => {
  const { fake, clock } = fresh();
  const h = { "idempotency-key": "k1" };
  await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, h);
  const diff = await call(
    fake,
    "POST",
    "/v1/payment_intents",
    { ...AUTHORIZE, amount: "22179" },
    h,
  );
  const e = assertError(diff, 400, "idempotency_error");
  assert.match(e.message, /same parameters/);
  const other = await call(fake, "POST", "/v1/refunds", { payment_intent: "pi_x" }, h);
  assertError(other, 400, "idempotency_error");
  // A validation failure is not stored: the same key then works with good params.
  const vh = { "idempotency-key": "k2" };
  assertError(
    await call(fake, "POST", "/v1/payment_intents", { amount: "x", currency: "gbp" }, vh),
    400,
    "invalid_request_error",
  );
  const ok = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, vh);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("idempotent-replayed"), null);
  // After 24 h the key is forgotten and starts a new request.
  clock.advance(24 * 3600_000);
  const fresh2 = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, h);
  assert.equal(fresh2.headers.get("idempotent-replayed"), null);
  assert.equal((await control(fake, "GET", "/_fake/payment_intents")).data.length, 3);
  // GETs ignore the key.
  const g = await call(fake, "GET", `/v1/payment_intents/${ok.json.id}`, undefined, h);
  assert.equal(g.headers.get("idempotent-replayed"), null);
});

Deno.test("stripe: concurrent request with an in-flight key gets 409", async () => {
  const { fake } = fresh();
  const pi = (await call(fake, "POST", "/v1/payment_intents", AUTHORIZE)).json.id;
  await control(fake, "POST", "/_fake/script", {
    endpoint: "capture",
    fault: "timeout",
    delay_ms: 150,
  });
  const h = { "idempotency-key": "cap-1" };
  const slow = call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, h);
  await new Promise((r) => setTimeout(r, 20));
  const conflict = await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, h);
  assertError(conflict, 409, "invalid_request_error", "idempotency_key_in_use");
  const done = await slow;
  assert.deepEqual([done.status, done.json.status], [200, "succeeded"]);
  // The conflict was not stored; a retry now replays the slow request's result.
  const after = await call(fake, "POST", `/v1/payment_intents/${pi}/capture`, {}, h);
  assert.deepEqual([after.status, after.headers.get("idempotent-replayed")], [200, "true"]);
  assert.equal((await control(fake, "GET", "/_fake/payment_intents")).data[0].captures, 1);
});
