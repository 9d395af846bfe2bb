/** Fake Duffel: the control API — request log, routes, reset, clock. */

import assert from "node:assert/strict";
import { type Json } from "../_test_helpers.ts";
import { assertErrorEnvelope, call, fresh, script, search } from "./test_helpers.ts";

Deno.test("duffel: request log, route listing and reset", async () => {
  const { fake } = fresh();
  await script(fake, { origin: "LHR", destination: "JFK", offer_count: 1 });
  await search(fake);
  await call(fake, "GET", "/air/offers/off_0000x");
  const log = (await call(fake, "GET", "/_fake/requests", undefined, {})).json.data;
  assert.deepEqual(log.map((l: Json) => [l.method, l.path, l.status]), [
    ["POST", "/air/offer_requests", 201],
    ["GET", "/air/offers/off_0000x", 404],
  ]);
  assert.equal(log[0].body.data.slices[0].origin, "LHR");
  const filtered =
    (await call(fake, "GET", "/_fake/requests?path=/air/offers", undefined, {})).json.data;
  assert.equal(filtered.length, 1);
  const routes = (await call(fake, "GET", "/_fake/routes", undefined, {})).json.data;
  assert.ok(
    routes.some((r: Json) => r.origin === "LHR" && r.destination === "JFK" && r.offer_count === 1),
  );
  assert.equal((await call(fake, "POST", "/_fake/reset", undefined, {})).status, 200);
  assert.deepEqual((await call(fake, "GET", "/_fake/requests", undefined, {})).json.data, []);
  assert.equal((await search(fake)).offers.length, 12); // script forgotten
  assert.deepEqual((await search(fake, "PVD", "RAI")).offers, []); // built-ins restored
  const bad = await call(fake, "POST", "/_fake/routes", { origin: "London" }, {});
  assert.equal(bad.status, 400);
  assert.equal((await call(fake, "GET", "/_fake/nothing", undefined, {})).status, 404);
});

Deno.test("duffel: the control clock endpoint expires offers", async () => {
  const { fake } = fresh();
  const offer = (await search(fake)).offers[0];
  assert.equal((await call(fake, "GET", `/air/offers/${offer.id}`)).status, 200);
  const c = await call(fake, "POST", "/_fake/clock", { advance_seconds: 1800 }, {});
  assert.equal(c.json.now, "2027-03-01T10:30:00.000Z");
  assertErrorEnvelope(
    await call(fake, "GET", `/air/offers/${offer.id}`),
    422,
    "offer_no_longer_available",
  );
});
