/** Fake Duffel: instant orders — happy path, validation, payment, faults. */

import assert from "node:assert/strict";
import { type Json } from "../_test_helpers.ts";
import {
  assertErrorEnvelope,
  AUTH,
  call,
  fresh,
  orderBody,
  script,
  search,
  searchBody,
} from "./test_helpers.ts";

Deno.test("duffel: instant order happy path, lookups and one order per offer request", async () => {
  const { fake } = fresh();
  const orq = await call(fake, "POST", "/air/offer_requests", {
    data: { ...searchBody().data, passengers: [{ type: "adult" }, { age: 9 }] },
  });
  const offer = orq.json.data.offers[0];
  const body = orderBody(offer, offer.total_amount, { attempt_id: "att_1", source: "autobook" });
  body.data.passengers[1].born_on = "2017-06-01"; // 9 on 2027-03-12
  const r = await call(fake, "POST", "/air/orders", body);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const o = r.json.data;
  assert.match(o.id, /^ord_/);
  assert.match(o.booking_reference, /^[A-Z0-9]{6}$/);
  assert.equal(o.total_amount, offer.total_amount);
  assert.equal(o.total_currency, offer.total_currency);
  assert.deepEqual(o.metadata, { attempt_id: "att_1", source: "autobook" });
  assert.equal(o.payment_status.awaiting_payment, false);
  assert.equal(o.documents.length, 2);
  for (const d of o.documents) {
    assert.equal(d.type, "electronic_ticket");
    assert.match(d.unique_identifier, /^\d{13}$/);
    assert.equal(d.passenger_ids.length, 1);
  }
  assert.deepEqual(o.passengers.map((p: Json) => p.id), offer.passengers.map((p: Json) => p.id));
  assert.equal(o.passengers[0].type, undefined);
  assert.deepEqual(o.available_actions, ["cancel", "change", "update"]);
  assert.equal(o.cancelled_at, null);

  assert.deepEqual((await call(fake, "GET", `/air/orders/${o.id}`)).json.data, o);
  assertErrorEnvelope(await call(fake, "GET", "/air/orders/ord_0000none"), 404, "not_found");
  const byRef = await call(fake, "GET", `/air/orders?booking_reference=${o.booking_reference}`);
  assert.deepEqual(byRef.json.data.map((x: Json) => x.id), [o.id]);
  assert.equal(byRef.json.meta.after, null);
  assert.deepEqual(
    (await call(fake, "GET", `/air/orders?offer_id=${offer.id}`)).json.data.map((x: Json) => x.id),
    [o.id],
  );
  assert.deepEqual(
    (await call(fake, "GET", "/air/orders?metadata[attempt_id]=att_1")).json.data.length,
    1,
  );
  assert.deepEqual(
    (await call(fake, "GET", "/air/orders?metadata[attempt_id]=att_2")).json.data,
    [],
  );
  assert.deepEqual((await call(fake, "GET", "/air/orders?booking_reference=ZZZZZZ")).json.data, []);

  // Another offer of the same search cannot be booked.
  const second = orderBody(orq.json.data.offers[1]);
  second.data.passengers[1].born_on = "2017-06-01";
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", second),
    422,
    "offer_request_already_booked",
    "validation_error",
  );
  const list = await call(fake, "GET", "/_fake/orders", undefined, {});
  assert.equal(list.json.data.length, 1);
  assert.equal(list.json.data[0].offer_id, offer.id);
});

Deno.test("duffel: order validation — passengers, selected offers, metadata, payment", async () => {
  const { fake } = fresh();
  const offer = (await search(fake)).offers[0];
  const two = orderBody(offer);
  two.data.selected_offers = [offer.id, offer.id];
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", two), 422, "validation_format");
  const hold = orderBody(offer);
  (hold.data as Json).type = "hold";
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", hold), 422, "validation_inclusion");

  const bad = orderBody(offer);
  Object.assign(bad.data.passengers[0], {
    title: "sir",
    gender: "x",
    born_on: "2015-01-01",
    email: "nope",
    phone_number: "020 8016 0509",
  });
  delete (bad.data.passengers[0] as Json).family_name;
  const r = await call(fake, "POST", "/air/orders", bad);
  assert.equal(r.status, 422);
  assert.deepEqual(r.json.errors.map((e: Json) => `${e.code} ${e.source.field}`).sort(), [
    "validation_format born_on", // an adult must be 18+
    "validation_format email",
    "validation_format phone_number",
    "validation_inclusion gender",
    "validation_inclusion title",
    "validation_required family_name",
  ]);

  const missing = orderBody(offer);
  missing.data.passengers = [];
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", missing), 422, "validation_required");
  const meta = orderBody(offer, offer.total_amount, { "bad key!": "x" });
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", meta), 422, "validation_format");

  const cheap = orderBody(offer, "1.00");
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", cheap),
    422,
    "payment_amount_does_not_match_order_amount",
    "validation_error",
  );
  const wrongCur = orderBody(offer);
  wrongCur.data.payments[0].currency = "USD";
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", wrongCur),
    422,
    "payment_amount_does_not_match_order_amount",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", {
      data: { ...orderBody(offer).data, selected_offers: ["off_0000none"] },
    }),
    404,
    "not_found",
  );
  // Nothing was booked by any of these.
  assert.deepEqual((await call(fake, "GET", "/_fake/orders", undefined, {})).json.data, []);
  assert.equal((await call(fake, "POST", "/air/orders", orderBody(offer))).status, 201);
});

Deno.test("duffel: order must pay the re-priced total; expired offers cannot be booked", async () => {
  const { fake, clock } = fresh();
  await script(fake, {
    origin: "LHR",
    destination: "JFK",
    offers: [{ total: "399.00" }],
    reprice: ["399.00", "389.00"],
  });
  const offer = (await search(fake)).offers[0];
  await call(fake, "GET", `/air/offers/${offer.id}`);
  await call(fake, "GET", `/air/offers/${offer.id}`); // now 389.00
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", orderBody(offer, "399.00")),
    422,
    "payment_amount_does_not_match_order_amount",
  );
  const ok = await call(fake, "POST", "/air/orders", orderBody(offer, "389.00"));
  assert.equal(ok.status, 201);
  assert.equal(ok.json.data.total_amount, "389.00");

  const later = (await search(fake, "LHR", "CDG")).offers[0];
  clock.advance(30 * 60_000);
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", orderBody(later)),
    422,
    "offer_no_longer_available",
  );
});

Deno.test("duffel: order faults — airline error, lost response, dropped connection, delay", async () => {
  const { fake } = fresh();
  // Built-in LHR→LGW: 502 airline_unknown, no order created.
  const lgw = (await search(fake, "LHR", "LGW")).offers[0];
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", orderBody(lgw)),
    502,
    "airline_unknown",
    "airline_error",
  );
  assert.deepEqual((await call(fake, "GET", "/_fake/orders", undefined, {})).json.data, []);
  // Built-in LGW→STN: insufficient balance.
  const stn = (await search(fake, "LGW", "STN")).offers[0];
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", orderBody(stn)),
    422,
    "insufficient_balance",
    "invalid_state_error",
  );

  // Lost response: 504, but the order exists and is found by metadata.
  await script(fake, {
    origin: "LHR",
    destination: "JFK",
    order: { lose_response: true, times: 1 },
  });
  const offer = (await search(fake)).offers[0];
  const lost = await call(
    fake,
    "POST",
    "/air/orders",
    orderBody(offer, offer.total_amount, { attempt_id: "att_lost" }),
  );
  assertErrorEnvelope(lost, 504, "gateway_timeout_error", "api_error");
  const found = await call(fake, "GET", "/air/orders?metadata[attempt_id]=att_lost");
  assert.equal(found.json.data.length, 1);
  // A blind retry is refused.
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", orderBody(offer)),
    422,
    "offer_request_already_booked",
  );

  // Dropped connection: status line arrives, the body breaks.
  await script(fake, { origin: "LHR", destination: "CDG", order: { lose_response: "drop" } });
  const cdg = (await search(fake, "LHR", "CDG")).offers[0];
  const res = await fake.fetch(
    new Request("http://fake/air/orders", {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify(orderBody(cdg)),
    }),
  );
  await assert.rejects(() => res.json());
  assert.equal((await call(fake, "GET", `/air/orders?offer_id=${cdg.id}`)).json.data.length, 1);

  // Delay: a concurrent second order during the delay sees the request as booked.
  await script(fake, { origin: "LHR", destination: "AMS", order: { delay_ms: 200 } });
  const ams = await search(fake, "LHR", "AMS");
  const first = call(fake, "POST", "/air/orders", orderBody(ams.offers[0]));
  const concurrent = await call(fake, "POST", "/air/orders", orderBody(ams.offers[1]));
  assertErrorEnvelope(concurrent, 422, "offer_request_already_booked");
  assert.equal((await first).status, 201);

  // times: 1 on a status fault, then success.
  await script(fake, {
    origin: "LHR",
    destination: "MAD",
    order: { status: 502, code: "order_not_created", times: 1 },
  });
  const mad = await search(fake, "LHR", "MAD");
  assertErrorEnvelope(
    await call(fake, "POST", "/air/orders", orderBody(mad.offers[0])),
    502,
    "order_not_created",
  );
  assert.equal((await call(fake, "POST", "/air/orders", orderBody(mad.offers[0]))).status, 201);
});
