/** Fake Stripe: test cards that decline or need authentication. */

import assert from "node:assert/strict";
import { assertError, AUTHORIZE, call, fresh } from "./test_helpers.ts";

Deno.test("stripe: test cards decline with 402 card errors and leave requires_payment_method", async () => {
  const { fake } = fresh();
  const cases: [string, string, string][] = [
    ["pm_card_chargeDeclined", "card_declined", "generic_decline"],
    ["pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"],
    ["pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"],
    ["pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"],
    ["pm_card_authenticationRequired", "authentication_required", "authentication_required"],
  ];
  for (const [pm, code, decline] of cases) {
    const r = await call(fake, "POST", "/v1/payment_intents", { ...AUTHORIZE, payment_method: pm });
    const e = assertError(r, 402, "card_error", code);
    assert.equal(e.decline_code, decline, pm);
    assert.match(e.charge, /^ch_/);
    assert.equal(e.payment_intent.status, "requires_payment_method");
    assert.equal(e.payment_intent.last_payment_error.code, code);
    assert.equal(e.payment_method.id, pm);
    const stored = await call(fake, "GET", `/v1/payment_intents/${e.payment_intent.id}`);
    assert.equal(stored.json.status, "requires_payment_method");
    assert.equal(stored.json.last_payment_error.decline_code, decline);
  }
  // On-session, the authentication card asks for action instead of failing.
  const { off_session: _o, ...onSession } = AUTHORIZE;
  const r = await call(fake, "POST", "/v1/payment_intents", {
    ...onSession,
    payment_method: "pm_card_authenticationRequired",
  });
  assert.deepEqual([r.status, r.json.status, r.json.next_action.type], [
    200,
    "requires_action",
    "use_stripe_sdk",
  ]);
  // A declined PI can be confirmed again with a good card.
  const d = await call(fake, "POST", "/v1/payment_intents", {
    ...AUTHORIZE,
    payment_method: "pm_card_chargeDeclined",
  });
  const retry = await call(
    fake,
    "POST",
    `/v1/payment_intents/${d.json.error.payment_intent.id}/confirm`,
    {
      payment_method: "pm_card_visa",
      off_session: "true",
    },
  );
  assert.equal(retry.json.status, "requires_capture");
});
