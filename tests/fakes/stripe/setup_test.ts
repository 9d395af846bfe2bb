/** The fake Stripe's saved cards and webhook deliveries (in-process, a local receiver). */
import assert from "node:assert/strict";
import { call, control, fresh } from "./test_helpers.ts";
import { signatureHeader } from "./events.ts";

const SECRET = "whsec_test_secret";

/** A local endpoint that records what it receives. */
function receiver() {
  const got: { header: string; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    got.push({ header: req.headers.get("stripe-signature") ?? "", body: await req.text() });
    return new Response("{}", { status: 200 });
  });
  return { got, server, url: `http://127.0.0.1:${server.addr.port}/hook` };
}

Deno.test("stripe: a SetupIntent saves a card, signed events reach the endpoint", async () => {
  const { fake } = fresh();
  const r = receiver();
  try {
    await control(fake, "POST", "/_fake/webhook", { url: r.url, secret: SECRET });
    const cus = await call(fake, "POST", "/v1/customers", { "metadata[user_id]": "u1" });
    assert.equal(cus.status, 200);
    assert.match(cus.json.id, /^cus_\w{24}$/);
    const si = await call(fake, "POST", "/v1/setup_intents", {
      customer: cus.json.id,
      usage: "off_session",
      "payment_method_types[]": "card",
    });
    assert.equal(si.json.status, "requires_payment_method");
    assert.ok(si.json.client_secret.startsWith(`${si.json.id}_secret_`));
    const confirmed = await control(fake, "POST", `/_fake/setup_intents/${si.json.id}/confirm`, {
      payment_method: "pm_card_mastercard",
    });
    const pm = confirmed.setup_intent.payment_method;
    assert.match(pm, /^pm_\w{24}$/);
    const list = await call(fake, "GET", `/v1/customers/${cus.json.id}/payment_methods?type=card`);
    assert.equal(list.json.data[0].card.last4, "4444");
    const detached = await call(fake, "POST", `/v1/payment_methods/${pm}/detach`, "");
    assert.equal(detached.json.customer, null);
    const again = await call(fake, "POST", `/v1/payment_methods/${pm}/detach`, "");
    assert.equal(again.status, 400);
    // Deliveries are sequential: wait for the three events.
    for (let i = 0; i < 50 && r.got.length < 3; i++) await new Promise((x) => setTimeout(x, 20));
    const types = r.got.map((g) => JSON.parse(g.body).type);
    assert.deepEqual(types, [
      "payment_method.attached",
      "setup_intent.succeeded",
      "payment_method.detached",
    ]);
    for (const g of r.got) {
      const t = Number(/t=(\d+)/.exec(g.header)![1]);
      assert.equal(g.header, await signatureHeader(SECRET, t, g.body), "Stripe's signature");
      assert.equal(JSON.parse(g.body).api_version, "2025-09-30.clover");
    }
    const last = JSON.parse(r.got[2].body);
    assert.equal(last.data.previous_attributes.customer, cus.json.id);
    // A replay delivers the same event id again; another secret signs differently.
    const replay = await control(fake, "POST", `/_fake/events/${last.id}/deliver`, {
      secret: "whsec_other",
    });
    assert.equal(replay.status, 200);
    assert.equal(JSON.parse(r.got[3].body).id, last.id);
    assert.notEqual(
      r.got[3].header,
      await signatureHeader(SECRET, Number(/t=(\d+)/.exec(r.got[3].header)![1]), r.got[3].body),
    );
  } finally {
    await r.server.shutdown();
  }
});

Deno.test("stripe: unknown customers and payment methods are 404 resource_missing", async () => {
  const { fake } = fresh();
  const pm = await call(fake, "GET", "/v1/payment_methods/pm_nope");
  assert.equal(pm.status, 404);
  assert.equal(pm.json.error.code, "resource_missing");
  const si = await call(fake, "POST", "/v1/setup_intents", { customer: "cus_nope" });
  assert.equal(si.status, 404);
});

Deno.test("stripe: DELETE /v1/customers/{id} deletes once, detaches the cards, then 404s", async () => {
  const { fake } = fresh();
  const cus = await call(fake, "POST", "/v1/customers", { "metadata[user_id]": "u2" });
  const si = await call(fake, "POST", "/v1/setup_intents", {
    customer: cus.json.id,
    usage: "off_session",
    "payment_method_types[]": "card",
  });
  const confirmed = await control(fake, "POST", `/_fake/setup_intents/${si.json.id}/confirm`, {
    payment_method: "pm_card_visa",
  });
  const pm = confirmed.setup_intent.payment_method;
  const del = await call(fake, "DELETE", `/v1/customers/${cus.json.id}`, undefined, {
    "idempotency-key": "erasure-x-customer",
  });
  assert.equal(del.status, 200);
  assert.deepEqual(del.json, { id: cus.json.id, object: "customer", deleted: true });
  const again = await call(fake, "DELETE", `/v1/customers/${cus.json.id}`);
  assert.equal(again.status, 404);
  assert.equal(again.json.error.code, "resource_missing");
  const stub = await call(fake, "GET", `/v1/customers/${cus.json.id}`);
  assert.equal(stub.json.deleted, true, "a deleted customer stays retrievable as a stub");
  const card = await call(fake, "GET", `/v1/payment_methods/${pm}`);
  assert.equal(card.json.customer, null, "its cards are detached");
  const reattach = await call(fake, "POST", `/v1/payment_methods/${pm}/attach`, {
    customer: cus.json.id,
  });
  assert.equal(reattach.status >= 400, true, "and cannot be used again");
  const unknown = await call(fake, "DELETE", "/v1/customers/cus_missing");
  assert.equal(unknown.status, 404);
  const log = await control(fake, "GET", "/_fake/requests");
  const logged = log.data.find((r: { method: string }) => r.method === "DELETE");
  assert.equal(logged.idempotency_key, "erasure-x-customer", "the key is logged");
});
