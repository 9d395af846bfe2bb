/** Fake Duffel: offer requests — validation, offer shape, determinism, money. */

import assert from "node:assert/strict";
import { parseDecimal } from "../_shared.ts";
import { type Json } from "../_test_helpers.ts";
import { assertErrorEnvelope, call, fresh, script, search, searchBody } from "./test_helpers.ts";

Deno.test("duffel: offer request validation reports one error per bad field", async () => {
  const { fake } = fresh();
  const r = await call(fake, "POST", "/air/offer_requests", {
    data: {
      slices: [{ origin: "lhr", destination: "JFK", departure_date: "2027-02-30" }, {
        destination: "LHR",
      }],
      passengers: [{ type: "adult", age: 30 }, { age: 18 }, { type: "child" }, {}],
      cabin_class: "cattle",
      max_connections: 5,
    },
  });
  assertErrorEnvelope(r, 422, "validation_format", "validation_error");
  const got = r.json.errors.map((e: Json) => `${e.code} ${e.source.pointer}`).sort();
  assert.deepEqual(got, [
    "validation_format /data/passengers/0",
    "validation_format /data/slices/0/departure_date",
    "validation_format /data/slices/0/origin",
    "validation_inclusion /data/cabin_class",
    "validation_inclusion /data/max_connections",
    "validation_inclusion /data/passengers/1/age",
    "validation_inclusion /data/passengers/2/type",
    "validation_required /data/passengers/3/type",
    "validation_required /data/slices/1/departure_date",
    "validation_required /data/slices/1/origin",
  ]);
  for (const e of r.json.errors) assert.equal(e.type, "validation_error");
  const missing = await call(fake, "POST", "/air/offer_requests", { nodata: true });
  assertErrorEnvelope(missing, 422, "validation_required");
});

Deno.test("duffel: unscripted search returns the full, realistic offer shape", async () => {
  const { fake } = fresh();
  const r = await call(
    fake,
    "POST",
    "/air/offer_requests?return_offers=true&supplier_timeout=10000",
    {
      data: {
        slices: [{ origin: "LHR", destination: "JFK", departure_date: "2027-03-12" }],
        passengers: [{ type: "adult" }, { age: 9 }],
        cabin_class: "economy",
      },
    },
  );
  assert.equal(r.status, 201);
  assert.equal(r.headers.get("content-type")?.startsWith("application/json"), true);
  const orq = r.json.data;
  assert.match(orq.id, /^orq_/);
  assert.equal(orq.live_mode, false);
  assert.equal(orq.cabin_class, "economy");
  assert.equal(orq.slices[0].origin.iata_code, "LHR");
  assert.equal(orq.slices[0].departure_date, "2027-03-12");
  assert.deepEqual(orq.passengers.map((p: Json) => [p.type, p.age]), [["adult", null], [
    "child",
    9,
  ]]);
  assert.equal(orq.offers.length, 12);
  const paxIds = orq.passengers.map((p: Json) => p.id);
  for (const o of orq.offers) {
    assert.match(o.id, /^off_0000/);
    assert.equal(o.expires_at, "2027-03-01T10:30:00.000Z"); // search time + 30 min
    assert.match(o.total_amount, /^\d+\.\d{2}$/);
    assert.equal(o.total_currency, "GBP");
    assert.equal(
      parseDecimal(o.base_amount, "GBP")! + parseDecimal(o.tax_amount, "GBP")!,
      parseDecimal(o.total_amount, "GBP"),
    );
    assert.equal(o.owner.iata_code.length, 2);
    assert.match(o.owner.id, /^aln_/);
    assert.deepEqual(o.passengers.map((p: Json) => p.id), paxIds);
    assert.ok(
      "refund_before_departure" in o.conditions && "change_before_departure" in o.conditions,
    );
    assert.equal(typeof o.payment_requirements.requires_instant_payment, "boolean");
    if (o.payment_requirements.requires_instant_payment) {
      assert.equal(o.payment_requirements.payment_required_by, null);
      assert.equal(o.payment_requirements.price_guarantee_expires_at, null);
    }
    assert.equal(o.slices.length, 1);
    const s = o.slices[0];
    assert.match(s.id, /^sli_/);
    assert.match(s.duration, /^P(\d+D)?T?(\d+H)?(\d+M)?$/);
    assert.equal(s.segments[0].origin.iata_code, "LHR");
    assert.equal(s.segments.at(-1).destination.iata_code, "JFK");
    for (const g of s.segments) {
      assert.match(g.id, /^seg_/);
      assert.match(g.departing_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/); // local, no offset
      assert.match(g.arriving_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
      assert.match(g.duration, /^PT(\d+H)?(\d+M)?$/);
      assert.equal(g.marketing_carrier.iata_code, o.owner.iata_code);
      assert.ok(g.operating_carrier.iata_code);
      assert.match(g.marketing_carrier_flight_number, /^\d{4}$/);
      assert.deepEqual(g.stops, []);
      assert.deepEqual(g.passengers.map((p: Json) => p.passenger_id), paxIds);
      for (const p of g.passengers) {
        assert.ok(["economy", "premium_economy", "business", "first"].includes(p.cabin_class));
      }
    }
    for (let i = 1; i < s.segments.length; i++) {
      assert.equal(s.segments[i].origin.iata_code, s.segments[i - 1].destination.iata_code);
    }
  }
  // Some nonstop offers exist, and a nonstop LHR→JFK arrives earlier in local time than
  // departure + duration (New York is behind London).
  const nonstop = orq.offers.find((o: Json) => o.slices[0].segments.length === 1);
  assert.ok(nonstop);
  const seg = nonstop.slices[0].segments[0];
  const localGap = (Date.parse(seg.arriving_at + "Z") - Date.parse(seg.departing_at + "Z")) / 60000;
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?$/.exec(seg.duration)!;
  assert.equal(localGap, Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0) - 300);
});

Deno.test("duffel: generated offers are deterministic per route and date", async () => {
  const a = fresh().fake, b = fresh().fake;
  const totals = (d: Json) => d.offers.map((o: Json) => o.total_amount);
  const da = await search(a), db = await search(b);
  assert.deepEqual(totals(da), totals(db));
  const other = await call(a, "POST", "/air/offer_requests", {
    data: {
      ...searchBody().data,
      slices: [{ origin: "LHR", destination: "JFK", departure_date: "2027-03-13" }],
    },
  });
  assert.notDeepEqual(totals(other.json.data), totals(da));
  // A second identical search in the same fake gives the same prices, new ids.
  const again = await search(a);
  assert.deepEqual(totals(again), totals(da));
  assert.notEqual(again.offers[0].id, da.offers[0].id);
});

Deno.test("duffel: decimal strings follow the currency exponent (GBP, JPY, KWD)", async () => {
  const { fake } = fresh();
  await script(fake, {
    origin: "LHR",
    destination: "HND",
    currency: "JPY",
    offers: [{ total: "54000", base: "50000" }],
  });
  await script(fake, {
    origin: "LHR",
    destination: "KWI",
    currency: "KWD",
    offers: [{ total: "123.456" }],
  });
  await script(fake, {
    origin: "LHR",
    destination: "CDG",
    offers: [{ total: "399" }, { total: "399.5" }],
  });
  const jp = (await search(fake, "LHR", "HND")).offers[0];
  assert.deepEqual([jp.total_amount, jp.base_amount, jp.tax_amount, jp.total_currency], [
    "54000",
    "50000",
    "4000",
    "JPY",
  ]);
  const kw = (await search(fake, "LHR", "KWI")).offers[0];
  assert.equal(kw.total_amount, "123.456");
  assert.match(kw.base_amount, /^\d+\.\d{3}$/);
  assert.match(kw.tax_amount, /^\d+\.\d{3}$/);
  assert.equal(parseDecimal(kw.base_amount, "KWD")! + parseDecimal(kw.tax_amount, "KWD")!, 123456);
  const gb = (await search(fake, "LHR", "CDG")).offers;
  assert.deepEqual(gb.map((o: Json) => o.total_amount), ["399.00", "399.50"]);
  // Generated offers in a zero- and a three-decimal currency.
  await script(fake, { origin: "LHR", destination: "NRT", currency: "JPY", offer_count: 20 });
  await script(fake, { origin: "KWI", destination: "LHR", currency: "KWD", offer_count: 20 });
  for (const o of (await search(fake, "LHR", "NRT")).offers) {
    assert.match(o.total_amount, /^\d+$/);
    assert.match(o.tax_amount, /^\d+$/);
  }
  for (const o of (await search(fake, "KWI", "LHR")).offers) {
    assert.match(o.total_amount, /^\d+\.\d{3}$/);
  }
  // A spec that is not a valid decimal for its currency is refused by the control API.
  const bad = await call(fake, "POST", "/_fake/routes", {
    origin: "LHR",
    destination: "HND",
    currency: "JPY",
    offers: [{ total: "54000.5" }],
  }, {});
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /total/);
});
