/** Fake Stripe: authentication, the request log, reset, and serving over real HTTP. */

import assert from "node:assert/strict";
import defaultFake from "../stripe.ts";
import { type Json } from "../_test_helpers.ts";
import { assertError, AUTHORIZE, call, control, fresh, KEY } from "./test_helpers.ts";
import { withServedFake } from "../_test_helpers.ts";

Deno.test("stripe: auth is required and every answer has a Request-Id", async () => {
  const { fake } = fresh();
  const none = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, { authorization: "" });
  assertError(none, 401, "invalid_request_error");
  assert.match(none.json.error.message, /did not provide an API key/);
  const live = await call(fake, "GET", "/v1/payment_intents/pi_x", undefined, {
    authorization: "Bearer sk_live_abc123456789",
  });
  assertError(live, 401, "invalid_request_error");
  assert.ok(!live.json.error.message.includes("sk_live_abc123456789"), "key is masked");
  const basic = await call(fake, "GET", "/v1/payment_intents/pi_x", undefined, {
    authorization: `Basic ${btoa(`${KEY}:`)}`,
  });
  assertError(basic, 404, "invalid_request_error", "resource_missing");
  const unknown = await call(fake, "POST", "/v1/charges", { amount: "1" });
  assertError(unknown, 404, "invalid_request_error");
  assert.notEqual(none.headers.get("request-id"), live.headers.get("request-id"));
});

Deno.test("stripe: request log and reset", async () => {
  const { fake } = fresh();
  await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, { "idempotency-key": "log-1" });
  await call(fake, "GET", "/v1/payment_intents/pi_nope");
  const log = (await control(fake, "GET", "/_fake/requests")).data;
  assert.deepEqual(log.map((l: Json) => [l.method, l.path, l.status, l.idempotency_key]), [
    ["POST", "/v1/payment_intents", 200, "log-1"],
    ["GET", "/v1/payment_intents/pi_nope", 404, null],
  ]);
  assert.deepEqual(log[0].body.metadata, { attempt_id: "att_1" });
  assert.deepEqual(log[0].body.payment_method_types, ["card"]);
  await control(fake, "POST", "/_fake/reset");
  assert.deepEqual((await control(fake, "GET", "/_fake/requests")).data, []);
  assert.deepEqual((await control(fake, "GET", "/_fake/payment_intents")).data, []);
  // The key is forgotten too.
  const again = await call(fake, "POST", "/v1/payment_intents", AUTHORIZE, {
    "idempotency-key": "log-1",
  });
  assert.equal(again.headers.get("idempotent-replayed"), null);
});

Deno.test("stripe: the default export serves over real HTTP", async () => {
  await withServedFake(defaultFake, async (base) => {
    const res = await fetch(`${base}/v1/payment_intents`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${KEY}`,
        "content-type": "application/x-www-form-urlencoded",
        "idempotency-key": "http-1",
      },
      body: new URLSearchParams(AUTHORIZE),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("request-id") ?? "", /^req_/);
    assert.equal((await res.json()).status, "requires_capture");
  });
});
