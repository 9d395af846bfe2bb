/** Fake Duffel: webhook events for existing orders, delivered signed like Duffel does. */

import assert from "node:assert/strict";
import { type Json } from "../_test_helpers.ts";
import { createDuffelFake } from "../duffel.ts";

/** A fixed id epoch, so that two fakes mint the same order ids (the real fake varies it). */
const EPOCH = "testepoch1";
import { FakeClock } from "../_shared.ts";
import { call, NOW, orderBody, search } from "./test_helpers.ts";

const SECRET = "QKfUULLQh+8SegYmIsF6kA==";

/** An independent check of the signature: HMAC-SHA256(secret bytes, "t." + body), hex. */
async function expectedSignature(header: string, body: string): Promise<boolean> {
  const m = /^t=(.+),v1=(.+)$/.exec(header);
  if (!m) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const mac = new Uint8Array(m[2].match(/../g)!.map((h) => parseInt(h, 16)));
  return await crypto.subtle.verify("HMAC", key, mac, new TextEncoder().encode(`${m[1]}.${body}`));
}

async function withReceiver(
  fn: (url: string, got: { headers: Headers; body: string }[]) => Promise<void>,
): Promise<void> {
  const got: { headers: Headers; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    got.push({ headers: req.headers, body: await req.text() });
    return Response.json({ received: true }, { status: got.length === 1 ? 200 : 503 });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/hook`, got);
  } finally {
    await server.shutdown();
  }
}

Deno.test("duffel webhooks: events for an order, signed, redelivered, unique ids", async () => {
  await withReceiver(async (url, got) => {
    const fake = createDuffelFake({
      epoch: EPOCH,
      clock: new FakeClock(() => NOW),
      webhookUrl: url,
      webhookSecret: SECRET,
    });
    const orq = await search(fake);
    const order = (await call(fake, "POST", "/air/orders", orderBody(orq.offers[0]))).json.data;

    const change = await call(fake, "POST", "/_fake/webhooks/events", {
      type: "order.airline_initiated_change_detected",
      order_id: order.id,
    }, {});
    assert.equal(change.status, 201, JSON.stringify(change.json));
    const ev = change.json.data.event;
    assert.match(ev.id, /^wev_0000[0-9A-Za-z]{22}$/);
    assert.equal(ev.api_version, "v2");
    assert.equal(ev.live_mode, false);
    assert.match(ev.data.object.id, /^aic_/);
    assert.equal(ev.data.object.order_id, order.id);
    assert.equal(ev.idempotency_key, ev.data.object.id);
    assert.equal(change.json.data.delivery.status, 200);
    assert.deepEqual(change.json.data.delivery.body, { received: true });

    assert.equal(got.length, 1);
    const sig = got[0].headers.get("x-duffel-signature")!;
    assert.match(sig, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.ok(Math.abs(Number(sig.slice(2, sig.indexOf(","))) - Date.now() / 1000) < 60);
    assert.ok(await expectedSignature(sig, got[0].body), "signed over t.body with the secret");
    assert.deepEqual(JSON.parse(got[0].body), ev);

    // Redelivery: the same body, signed again; the receiver's answer is recorded.
    const again = await call(
      fake,
      "POST",
      `/_fake/webhooks/events/${ev.id}/deliver`,
      undefined,
      {},
    );
    assert.equal(again.status, 200);
    assert.equal(again.json.data.delivery.status, 503);
    assert.equal(got[1].body, got[0].body);
    assert.ok(await expectedSignature(got[1].headers.get("x-duffel-signature")!, got[1].body));

    // Not delivered when asked; cancellation marks the order.
    const cancel = await call(fake, "POST", "/_fake/webhooks/events", {
      type: "order.cancelled",
      order_id: order.id,
      deliver: false,
    }, {});
    assert.equal(cancel.json.data.delivery, null);
    assert.equal(got.length, 2);
    assert.equal(cancel.json.data.event.data.object.id, order.id);
    assert.equal(typeof cancel.json.data.event.data.object.cancelled_at, "string");
    const stored = (await call(fake, "GET", `/air/orders/${order.id}`)).json.data;
    assert.equal(typeof stored.cancelled_at, "string");
    assert.equal(stored.airline_initiated_changes.length, 1);

    const list = (await call(fake, "GET", "/_fake/webhooks/events", undefined, {})).json.data;
    assert.deepEqual(list.map((e: Json) => [e.type, e.deliveries.length]), [
      ["order.airline_initiated_change_detected", 2],
      ["order.cancelled", 0],
    ]);

    // A second fake with the same seed and a fixed id epoch repeats order ids (as tests pin
    // them), but never event ids.
    const other = createDuffelFake({
      clock: new FakeClock(() => NOW),
      webhookUrl: url,
      epoch: EPOCH,
    });
    const o2 =
      (await call(other, "POST", "/air/orders", orderBody((await search(other)).offers[0])))
        .json.data;
    assert.equal(o2.id, order.id, "seeded order ids repeat");
    const e2 = await call(
      other,
      "POST",
      "/_fake/webhooks/events",
      { type: "order.created", order_id: o2.id, deliver: false },
      {},
    );
    assert.notEqual(e2.json.data.event.id, ev.id);
  });
});

Deno.test("duffel webhooks: bad requests and no target", async () => {
  const fake = createDuffelFake({ clock: new FakeClock(() => NOW) });
  const orq = await search(fake);
  const order = (await call(fake, "POST", "/air/orders", orderBody(orq.offers[0]))).json.data;
  const bad = await call(fake, "POST", "/_fake/webhooks/events", {
    type: "order.updated",
    order_id: order.id,
  }, {});
  assert.equal(bad.status, 400);
  const missing = await call(fake, "POST", "/_fake/webhooks/events", {
    type: "order.created",
    order_id: "ord_nope",
  }, {});
  assert.equal(missing.status, 404);
  const unconfigured = await call(fake, "POST", "/_fake/webhooks/events", {
    type: "order.created",
    order_id: order.id,
  }, {});
  assert.equal(unconfigured.status, 201);
  assert.equal(unconfigured.json.data.delivery.status, 0);
  assert.equal((await call(fake, "GET", "/_fake/webhooks", undefined, {})).json.configured, false);
  const set = await call(fake, "POST", "/_fake/webhooks", {
    url: "http://127.0.0.1:9/x",
    secret: "s",
  }, {});
  assert.deepEqual(set.json, { url: "http://127.0.0.1:9/x", configured: true });
  const nope = await call(fake, "POST", "/_fake/webhooks/events/wev_none/deliver", undefined, {});
  assert.equal(nope.status, 404);
});
