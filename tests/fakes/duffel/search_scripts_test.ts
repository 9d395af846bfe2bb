/** Fake Duffel: scripted searches — offer specs, return trips, search faults. */

import assert from "node:assert/strict";
import { type Json } from "../_test_helpers.ts";
import { assertErrorEnvelope, call, fresh, script, search, searchBody } from "./test_helpers.ts";

Deno.test("duffel: scripted offer specs are honoured (stops, cabin, duration, carrier, times)", async () => {
  const { fake } = fresh();
  await script(fake, {
    origin: "LHR",
    destination: "JFK",
    offers: [
      {
        total: "421.00",
        stops: 0,
        cabin: "business",
        duration_minutes: 490,
        carrier: "BA",
        departing_at: "09:00",
      },
      {
        total: "250.00",
        stops: 2,
        duration_minutes: 900,
        departing_at: "2027-03-12T21:05:00",
        requires_instant_payment: false,
      },
    ],
  });
  const [a, b] = (await search(fake)).offers;
  assert.equal(a.owner.iata_code, "BA");
  assert.equal(a.slices[0].duration, "PT8H10M");
  assert.equal(a.slices[0].segments[0].departing_at, "2027-03-12T09:00:00");
  assert.equal(a.slices[0].segments[0].arriving_at, "2027-03-12T12:10:00");
  assert.equal(a.slices[0].segments[0].passengers[0].cabin_class, "business");
  assert.equal(b.slices[0].segments.length, 3);
  assert.equal(b.slices[0].duration, "PT15H");
  assert.equal(b.slices[0].segments[0].departing_at, "2027-03-12T21:05:00");
  assert.equal(b.payment_requirements.requires_instant_payment, false);
  assert.ok(b.payment_requirements.payment_required_by);
  // max_connections filters scripted offers like the real API …
  const r = await call(
    fake,
    "POST",
    "/air/offer_requests",
    searchBody("LHR", "JFK", { max_connections: 0 }),
  );
  assert.deepEqual(r.json.data.offers.map((o: Json) => o.total_amount), ["421.00"]);
  // … unless the script opts out.
  await script(fake, {
    origin: "LHR",
    destination: "JFK",
    ignore_max_connections: true,
    offers: [{ stops: 1 }],
  });
  const r2 = await call(
    fake,
    "POST",
    "/air/offer_requests",
    searchBody("LHR", "JFK", { max_connections: 0 }),
  );
  assert.equal(r2.json.data.offers.length, 1);
});

Deno.test("duffel: return trips get two slices and search passengers by age", async () => {
  const { fake } = fresh();
  const r = await call(fake, "POST", "/air/offer_requests", {
    data: {
      slices: [
        { origin: "LHR", destination: "JFK", departure_date: "2027-03-12" },
        { origin: "JFK", destination: "LHR", departure_date: "2027-03-19" },
      ],
      passengers: [{ type: "adult" }, { age: 1 }],
    },
  });
  assert.equal(r.status, 201);
  const o = r.json.data.offers[0];
  assert.equal(o.slices.length, 2);
  assert.equal(o.slices[1].segments[0].origin.iata_code, "JFK");
  assert.ok(o.slices[1].segments[0].departing_at.startsWith("2027-03-19T"));
  assert.equal(o.passengers[1].type, "infant_without_seat");
  // Infants without a seat are not listed on segments.
  assert.equal(o.slices[0].segments[0].passengers.length, 1);
});

Deno.test("duffel: search faults — status, supplier timeout, malformed bodies, built-in routes", async () => {
  const { fake } = fresh();
  await script(fake, {
    origin: "LHR",
    destination: "JFK",
    search: { status: 503, code: "service_unavailable", times: 1 },
  });
  assertErrorEnvelope(
    await call(fake, "POST", "/air/offer_requests", searchBody()),
    503,
    "service_unavailable",
    "api_error",
  );
  assert.equal((await call(fake, "POST", "/air/offer_requests", searchBody())).status, 201); // times: 1

  await script(fake, { origin: "LHR", destination: "CDG", search: { delay_ms: 2500 } });
  const t0 = performance.now();
  const timedOut = await search(fake, "LHR", "CDG", "?supplier_timeout=2000");
  assert.ok(performance.now() - t0 >= 1900);
  assert.deepEqual(timedOut.offers, []); // airlines did not answer within supplier_timeout

  await script(fake, { origin: "LHR", destination: "AMS", search: { malformed: "not_json" } });
  const nj = await call(fake, "POST", "/air/offer_requests", searchBody("LHR", "AMS"));
  assert.equal(nj.status, 201);
  assert.equal(typeof nj.json, "string");
  assert.throws(() => JSON.parse(nj.json));
  await script(fake, { origin: "LHR", destination: "AMS", search: { malformed: "bad_envelope" } });
  const be = await call(fake, "POST", "/air/offer_requests", searchBody("LHR", "AMS"));
  assert.equal(be.json.data, undefined);
  assert.ok(Array.isArray(be.json.offers));
  await script(fake, { origin: "LHR", destination: "AMS", search: { malformed: "bad_offer" } });
  const bo = await call(fake, "POST", "/air/offer_requests", searchBody("LHR", "AMS"));
  assert.equal(typeof bo.json.data.offers[0].total_amount, "number");
  assert.equal(bo.json.data.offers[0].slices, undefined);
  assert.equal(typeof bo.json.data.offers[1].total_amount, "string");

  assertErrorEnvelope(
    await call(fake, "POST", "/air/offer_requests", searchBody("STN", "LHR")),
    504,
    "gateway_timeout_error",
  );
  assert.deepEqual((await search(fake, "PVD", "RAI")).offers, []);
  for (const o of (await search(fake, "LHR", "DXB")).offers) {
    assert.ok(o.slices[0].segments.length >= 2);
  }
});
