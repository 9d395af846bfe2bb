/** Fake Stripe: the traveller's browser completing 3-D Secure on an intent that needs it. */

import assert from "node:assert/strict";
import { AUTHORIZE, call, control, fresh } from "./test_helpers.ts";

const NEEDS_3DS = { ...AUTHORIZE, payment_method: "pm_card_authenticationRequired" };

async function needing3ds() {
  const { fake } = fresh();
  const r = await call(fake, "POST", "/v1/payment_intents", NEEDS_3DS);
  assert.equal(r.status, 402);
  const pi = r.json.error.payment_intent;
  assert.equal(pi.status, "requires_payment_method");
  return { fake, pi };
}

Deno.test("stripe: 3-D Secure completed in the browser leaves a hold", async () => {
  const { fake, pi } = await needing3ds();
  const done = await control(fake, "POST", `/_fake/payment_intents/${pi.id}/authenticate`, {
    client_secret: pi.client_secret,
  });
  assert.equal(done.status, 200);
  const got = await call(fake, "GET", `/v1/payment_intents/${pi.id}`);
  assert.deepEqual(
    [got.json.status, got.json.amount_capturable, got.json.last_payment_error],
    ["requires_capture", 22178, null],
  );
  assert.equal(got.json.payment_method, "pm_card_authenticationRequired");
  const events = await control(fake, "GET", "/_fake/events");
  assert.ok(
    events.data.some((e: { type: string; object_id: string }) =>
      e.type === "payment_intent.amount_capturable_updated" && e.object_id === pi.id
    ),
  );
  // A second authentication is refused: the intent no longer waits.
  const again = await control(fake, "POST", `/_fake/payment_intents/${pi.id}/authenticate`, {
    client_secret: pi.client_secret,
  });
  assert.equal(again.status, 409);
});

Deno.test("stripe: a failed challenge, a wrong secret, an unknown intent", async () => {
  const { fake, pi } = await needing3ds();
  const wrong = await control(fake, "POST", `/_fake/payment_intents/${pi.id}/authenticate`, {
    client_secret: "pi_x_secret_y",
  });
  assert.equal(wrong.status, 401);
  const missing = await control(fake, "POST", "/_fake/payment_intents/pi_nope/authenticate", {
    client_secret: pi.client_secret,
  });
  assert.equal(missing.status, 404);
  const bad = await control(fake, "POST", `/_fake/payment_intents/${pi.id}/authenticate`, {
    client_secret: pi.client_secret,
    outcome: "maybe",
  });
  assert.equal(bad.status, 400);
  const failed = await control(fake, "POST", `/_fake/payment_intents/${pi.id}/authenticate`, {
    client_secret: pi.client_secret,
    outcome: "fail",
  });
  assert.equal(failed.status, 200);
  const got = await call(fake, "GET", `/v1/payment_intents/${pi.id}`);
  assert.equal(got.json.status, "requires_payment_method");
  assert.equal(got.json.last_payment_error.code, "payment_intent_authentication_failure");
  // The traveller may try again with the same secret.
  const retry = await control(fake, "POST", `/_fake/payment_intents/${pi.id}/authenticate`, {
    client_secret: pi.client_secret,
  });
  assert.equal(retry.status, 200);
  assert.equal(retry.payment_intent.status, "requires_capture");
});
