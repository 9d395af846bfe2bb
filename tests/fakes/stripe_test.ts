import assert from "node:assert/strict";
import defaultFake, { createStripeFake, type StripeFake } from "./stripe.ts";
import { FakeClock } from "./_shared.ts";

const NOW = Date.parse("2027-03-01T10:00:00.000Z");
const KEY = "sk_test_fake123";

// deno-lint-ignore no-explicit-any
type Json = any;

function fresh(): { fake: StripeFake; clock: FakeClock } {
  const clock = new FakeClock(() => NOW);
  return { fake: createStripeFake({ clock }), clock };
}

interface Res {
  status: number;
  json: Json;
  headers: Headers;
}

async function call(
  fake: StripeFake,
  method: string,
  path: string,
  form?: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<Res> {
  const body = form === undefined
    ? undefined
    : typeof form === "string"
    ? form
    : new URLSearchParams(form).toString();
  const res = await fake.fetch(
    new Request(`http://fake${path}`, {
      method,
      headers: {
        authorization: `Bearer ${KEY}`,
        ...(body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        ...headers,
      },
      body,
    }),
  );
  const text = await res.text();
  let json: Json = text;
  try {
    json = JSON.parse(text);
  } catch { /* keep text */ }
  return { status: res.status, json, headers: res.headers };
}

const AUTHORIZE = {
  amount: "22178",
  currency: "gbp",
  customer: "cus_123",
  payment_method: "pm_card_visa",
  off_session: "true",
  confirm: "true",
  capture_method: "manual",
  "metadata[attempt_id]": "att_1",
  "payment_method_types[]": "card",
};

async function control(
  fake: StripeFake,
  method: string,
  path: string,
  body?: unknown,
): Promise<Json> {
  const res = await fake.fetch(
    new Request(`http://fake${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  return { status: res.status, ...(await res.json()) };
}

function assertError(r: Res, status: number, type: string, code?: string): Json {
  assert.equal(r.status, status, JSON.stringify(r.json));
  const e = r.json.error;
  assert.ok(e, "error envelope");
  assert.equal(e.type, type);
  assert.equal(typeof e.message, "string");
  if (code !== undefined) {
    assert.equal(e.code, code);
    assert.equal(e.doc_url, `https://stripe.com/docs/error-codes/${code.replace(/_/g, "-")}`);
  }
  assert.match(r.headers.get("request-id") ?? "", /^req_/);
  return e;
}

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

Deno.test("stripe: search by metadata, status, customer; paging", async () => {
  const { fake } = fresh();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push(
      (await call(fake, "POST", "/v1/payment_intents", {
        ...AUTHORIZE,
        "metadata[attempt_id]": "att_s",
      })).json.id,
    );
  }
  await call(fake, "POST", "/v1/payment_intents", {
    ...AUTHORIZE,
    "metadata[attempt_id]": "att_other",
    customer: "cus_9",
  });
  await call(fake, "POST", `/v1/payment_intents/${ids[0]}/cancel`);
  const q = (query: string, extra = "") =>
    call(fake, "GET", `/v1/payment_intents/search?query=${encodeURIComponent(query)}${extra}`);
  const r = await q("metadata['attempt_id']:'att_s'");
  assert.equal(r.json.object, "search_result");
  assert.equal(r.json.url, "/v1/payment_intents/search");
  assert.deepEqual(r.json.data.map((p: Json) => p.id), [...ids].reverse()); // newest first
  assert.equal(r.json.has_more, false);
  assert.equal(r.json.next_page, null);
  assert.deepEqual(
    (await q(`metadata["attempt_id"]:"att_s" AND status:'canceled'`)).json.data.map((p: Json) =>
      p.id
    ),
    [ids[0]],
  );
  assert.equal((await q("customer:'cus_9'")).json.data.length, 1);
  assert.deepEqual((await q("metadata['attempt_id']:'nobody'")).json.data, []);
  const p1 = await q("metadata['attempt_id']:'att_s'", "&limit=2");
  assert.deepEqual([p1.json.data.length, p1.json.has_more], [2, true]);
  const p2 = await q("metadata['attempt_id']:'att_s'", `&limit=2&page=${p1.json.next_page}`);
  assert.deepEqual([p2.json.data.map((p: Json) => p.id), p2.json.has_more], [[ids[0]], false]);
  assertError(await q("amount>100"), 400, "invalid_request_error");
  assertError(
    await call(fake, "GET", "/v1/payment_intents/search"),
    400,
    "invalid_request_error",
    "parameter_missing",
  );
});

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
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    defaultFake.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    await fetch(`${base}/_fake/reset`, { method: "POST" }).then((r) => r.body?.cancel());
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
  } finally {
    await fetch(`${base}/_fake/reset`, { method: "POST" }).then((r) => r.body?.cancel());
    await server.shutdown();
  }
});
