/** Fake Duffel: headers, the rate limit, and serving over real HTTP. */

import assert from "node:assert/strict";
import defaultFake from "../duffel.ts";
import { assertErrorEnvelope, AUTH, call, fresh, orderBody, searchBody } from "./test_helpers.ts";
import { withServedFake } from "../_test_helpers.ts";

Deno.test("duffel: auth, version and accept headers are enforced with Duffel's envelope", async () => {
  const { fake } = fresh();
  const body = searchBody();
  const noAuth = await call(fake, "POST", "/air/offer_requests", body, {
    ...AUTH,
    authorization: "",
  });
  assertErrorEnvelope(noAuth, 401, "missing_authorization_header", "authentication_error");
  const badAuth = await call(fake, "POST", "/air/offer_requests", body, {
    ...AUTH,
    authorization: "Token x",
  });
  assertErrorEnvelope(badAuth, 401, "invalid_authorization_header", "authentication_error");
  const v1 = await call(fake, "POST", "/air/offer_requests", body, {
    ...AUTH,
    "duffel-version": "v1",
  });
  assertErrorEnvelope(v1, 400, "unsupported_version", "invalid_request_error");
  const { "duffel-version": _v, ...noVersion } = AUTH;
  assertErrorEnvelope(
    await call(fake, "POST", "/air/offer_requests", body, noVersion),
    400,
    "unsupported_version",
  );
  const html = await call(fake, "POST", "/air/offer_requests", body, {
    ...AUTH,
    accept: "text/html",
  });
  assertErrorEnvelope(html, 406, "unsupported_format");
  const notJson = await call(fake, "POST", "/air/offer_requests", "{nope", AUTH);
  assertErrorEnvelope(notJson, 400, "malformed_json");
  const unknown = await call(fake, "GET", "/air/nothing");
  assertErrorEnvelope(unknown, 404, "not_found", "invalid_request_error");
  for (const r of [noAuth, v1, html, unknown]) {
    assert.match(r.headers.get("x-request-id") ?? "", /^\w{10,}$/);
    assert.ok(r.headers.has("ratelimit-limit") && r.headers.has("ratelimit-remaining"));
  }
  // Distinct request ids.
  assert.notEqual(noAuth.headers.get("x-request-id"), v1.headers.get("x-request-id"));
  // Correlation id echoed.
  const corr = await call(fake, "GET", "/air/offers/off_x", undefined, {
    ...AUTH,
    "x-client-correlation-id": "c-1",
  });
  assert.equal(corr.headers.get("x-client-correlation-id"), "c-1");
});

Deno.test("duffel: ratelimit headers count down and a configured limit gives 429", async () => {
  const { fake } = fresh();
  const cfg = await call(fake, "POST", "/_fake/config", { rate_limit_per_minute: 2 }, {});
  assert.equal(cfg.status, 200);
  const a = await call(fake, "GET", "/air/offers/off_unknown");
  const b = await call(fake, "GET", "/air/offers/off_unknown");
  const c = await call(fake, "GET", "/air/offers/off_unknown");
  assert.equal(a.headers.get("ratelimit-limit"), "2");
  assert.equal(a.headers.get("ratelimit-remaining"), "1");
  assert.equal(b.headers.get("ratelimit-remaining"), "0");
  assertErrorEnvelope(c, 429, "rate_limit_exceeded", "rate_limit_error");
  assert.equal(c.headers.get("ratelimit-remaining"), "0");
  // Reset = HTTP date at the end of the current minute of the fake clock.
  assert.equal(c.headers.get("ratelimit-reset"), "Mon, 01 Mar 2027 10:01:00 GMT");
  // Control endpoints are never limited.
  assert.equal((await call(fake, "GET", "/_fake/routes", undefined, {})).status, 200);
});

Deno.test("duffel: the default export serves over real HTTP, including a dropped body", async () => {
  await withServedFake(defaultFake, async (base) => {
    const s = await fetch(`${base}/air/offer_requests`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify(searchBody("LHR", "BOS")),
    });
    assert.equal(s.status, 201);
    assert.ok(s.headers.get("ratelimit-reset"));
    const offer = (await s.json()).data.offers[0];
    await fetch(`${base}/_fake/routes`, {
      method: "POST",
      body: JSON.stringify({ origin: "LHR", destination: "BOS", order: { lose_response: "drop" } }),
    })
      .then((r) => r.body?.cancel());
    const o = await fetch(`${base}/air/orders`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify(orderBody(offer)),
    })
      .then((r) => r.json()).then(() => "parsed", () => "broken");
    assert.equal(o, "broken");
    const orders = await fetch(`${base}/_fake/orders`).then((r) => r.json());
    assert.equal(orders.data.length, 1);
  });
});
