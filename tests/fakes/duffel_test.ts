import assert from "node:assert/strict";
import defaultFake, { createDuffelFake, type DuffelFake } from "./duffel.ts";
import { generateOfferRequest, generateOfferRequestBody } from "./duffel_offers.ts";
import { FakeClock, parseDecimal } from "./_shared.ts";

const NOW = Date.parse("2027-03-01T10:00:00.000Z");
const AUTH = {
  authorization: "Bearer duffel_test_abc",
  "duffel-version": "v2",
  accept: "application/json",
  "content-type": "application/json",
};

// deno-lint-ignore no-explicit-any
type Json = any;

function fresh(): { fake: DuffelFake; clock: FakeClock } {
  const clock = new FakeClock(() => NOW);
  return { fake: createDuffelFake({ clock }), clock };
}

async function call(
  fake: DuffelFake,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = AUTH,
): Promise<{ status: number; json: Json; headers: Headers }> {
  const res = await fake.fetch(
    new Request(`http://fake${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  const text = await res.text();
  let json: Json = text;
  try {
    json = JSON.parse(text);
  } catch { /* keep text */ }
  return { status: res.status, json, headers: res.headers };
}

function searchBody(origin = "LHR", destination = "JFK", extra: Record<string, unknown> = {}) {
  return {
    data: {
      slices: [{ origin, destination, departure_date: "2027-03-12" }],
      passengers: [{ type: "adult" }],
      cabin_class: "economy",
      ...extra,
    },
  };
}

async function script(fake: DuffelFake, s: Record<string, unknown>): Promise<void> {
  const r = await call(fake, "POST", "/_fake/routes", s, {});
  assert.equal(r.status, 201, JSON.stringify(r.json));
}

async function search(fake: DuffelFake, origin = "LHR", destination = "JFK", query = "") {
  const r = await call(
    fake,
    "POST",
    `/air/offer_requests${query}`,
    searchBody(origin, destination),
  );
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.data;
}

function passengerFor(id: string, i = 0) {
  return {
    id,
    title: "ms",
    gender: "f",
    given_name: `Test${i}`,
    family_name: "Traveller",
    born_on: "1990-01-0" + (i + 1),
    email: `t${i}@example.com`,
    phone_number: "+442080160509",
  };
}

function orderBody(
  offer: Json,
  amount = offer.total_amount,
  metadata: Record<string, string> = {},
) {
  return {
    data: {
      type: "instant",
      selected_offers: [offer.id],
      passengers: offer.passengers.map((p: Json, i: number) => passengerFor(p.id, i)),
      payments: [{ type: "balance", amount, currency: offer.total_currency }],
      services: [],
      metadata,
    },
  };
}

function assertErrorEnvelope(
  r: { status: number; json: Json; headers: Headers },
  status: number,
  code: string,
  type?: string,
) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.ok(Array.isArray(r.json.errors) && r.json.errors.length >= 1);
  const e = r.json.errors[0];
  assert.equal(e.code, code);
  if (type) assert.equal(e.type, type);
  for (const f of ["type", "code", "title", "message", "documentation_url"]) {
    assert.equal(typeof e[f], "string", f);
  }
  assert.equal(r.json.meta.status, status);
  assert.equal(r.json.meta.request_id, r.headers.get("x-request-id"));
}

// ---------------------------------------------------------------- transport

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

// ---------------------------------------------------------------- search

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

// ---------------------------------------------------------------- offers

Deno.test("duffel: list offers pages with cursors and sorts by total", async () => {
  const { fake } = fresh();
  await script(fake, { origin: "LHR", destination: "JFK", offer_count: 7 });
  const orq = await search(fake, "LHR", "JFK", "?return_offers=false");
  assert.equal("offers" in orq, false);
  const pages: Json[] = [];
  let after: string | null = null;
  do {
    const q: string = `/air/offers?offer_request_id=${orq.id}&sort=total_amount&limit=3${
      after ? `&after=${after}` : ""
    }`;
    const r = await call(fake, "GET", q);
    assert.equal(r.status, 200);
    assert.equal(r.json.meta.limit, 3);
    assert.equal(r.json.meta.before, null);
    pages.push(r.json.data);
    after = r.json.meta.after;
  } while (after !== null && pages.length < 10);
  assert.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
  const totals = pages.flat().map((o: Json) => parseDecimal(o.total_amount, o.total_currency)!);
  assert.deepEqual(totals, [...totals].sort((a, b) => a - b));
  assert.equal(new Set(pages.flat().map((o: Json) => o.id)).size, 7);
  const desc = await call(fake, "GET", `/air/offers?offer_request_id=${orq.id}&sort=-total_amount`);
  const d = desc.json.data.map((o: Json) => parseDecimal(o.total_amount, o.total_currency)!);
  assert.deepEqual(d, [...totals].reverse());
  assert.equal(desc.json.meta.after, null);
  assert.equal(desc.json.meta.limit, 50);
  const byId = await call(fake, "GET", `/air/offers?offer_request_id=${orq.id}`);
  const idList = byId.json.data.map((o: Json) => o.id);
  assert.deepEqual(idList, [...idList].sort());

  assertErrorEnvelope(await call(fake, "GET", "/air/offers"), 422, "validation_required");
  assertErrorEnvelope(
    await call(fake, "GET", "/air/offers?offer_request_id=orq_nope"),
    404,
    "not_found",
  );
  assertErrorEnvelope(
    await call(fake, "GET", `/air/offers?offer_request_id=${orq.id}&limit=500`),
    422,
    "validation_inclusion",
  );
  assertErrorEnvelope(
    await call(fake, "GET", `/air/offers?offer_request_id=${orq.id}&sort=price`),
    422,
    "validation_inclusion",
  );
  assertErrorEnvelope(
    await call(fake, "GET", `/air/offers?offer_request_id=${orq.id}&after=garbage`),
    422,
    "validation_format",
  );
  // An empty search lists as 200 with no data.
  const empty = await search(fake, "PVD", "RAI", "?return_offers=false");
  const e = await call(fake, "GET", `/air/offers?offer_request_id=${empty.id}`);
  assert.deepEqual([e.status, e.json.data, e.json.meta.after], [200, [], null]);
});

Deno.test("duffel: get offer re-prices per read, expires, and 404s unknown ids", async () => {
  const { fake, clock } = fresh();
  await script(fake, {
    origin: "LHR",
    destination: "JFK",
    offers: [{ total: "399.00", expires_in_seconds: 600 }],
    reprice: ["399.00", "389.00", "409.50"],
  });
  const offer = (await search(fake)).offers[0];
  const reads = [];
  for (let i = 0; i < 4; i++) {
    reads.push((await call(fake, "GET", `/air/offers/${offer.id}`)).json.data.total_amount);
  }
  assert.deepEqual(reads, ["399.00", "389.00", "409.50", "409.50"]);
  const withServices = await call(
    fake,
    "GET",
    `/air/offers/${offer.id}?return_available_services=true`,
  );
  assert.equal(withServices.json.data.available_services[0].type, "baggage");
  assert.equal(
    (await call(fake, "GET", `/air/offers/${offer.id}`)).json.data.available_services,
    undefined,
  );
  clock.advance(601_000);
  assertErrorEnvelope(
    await call(fake, "GET", `/air/offers/${offer.id}`),
    422,
    "offer_no_longer_available",
  );
  assertErrorEnvelope(
    await call(fake, "GET", "/air/offers/off_0000nothere"),
    404,
    "not_found",
    "invalid_request_error",
  );

  // Built-in LHR→STN adds 10.00 per read; LGW→LHR offers are gone.
  const stn = (await search(fake, "LHR", "STN")).offers[0];
  const base = parseDecimal(stn.total_amount, "GBP")!;
  const r1 = (await call(fake, "GET", `/air/offers/${stn.id}`)).json.data.total_amount;
  const r2 = (await call(fake, "GET", `/air/offers/${stn.id}`)).json.data.total_amount;
  assert.deepEqual([parseDecimal(r1, "GBP"), parseDecimal(r2, "GBP")], [base + 1000, base + 2000]);
  const gone = (await search(fake, "LGW", "LHR")).offers[0];
  assertErrorEnvelope(
    await call(fake, "GET", `/air/offers/${gone.id}`),
    422,
    "offer_no_longer_available",
  );
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

// ---------------------------------------------------------------- orders

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

Deno.test("duffel: two-step cancellation, and already_cancelled on repeat", async () => {
  const { fake } = fresh();
  const offer = (await search(fake)).offers[0];
  const order = (await call(fake, "POST", "/air/orders", orderBody(offer))).json.data;
  const q = await call(fake, "POST", "/air/order_cancellations", { data: { order_id: order.id } });
  assert.equal(q.status, 201);
  const quote = q.json.data;
  assert.match(quote.id, /^ore_/);
  assert.deepEqual(
    [
      quote.order_id,
      quote.refund_amount,
      quote.refund_currency,
      quote.refund_to,
      quote.confirmed_at,
    ],
    [order.id, order.total_amount, order.total_currency, "balance", null],
  );
  assert.deepEqual(
    (await call(fake, "GET", `/air/order_cancellations/${quote.id}`)).json.data,
    quote,
  );
  const c = await call(fake, "POST", `/air/order_cancellations/${quote.id}/actions/confirm`);
  assert.equal(c.status, 200);
  assert.ok(c.json.data.confirmed_at);
  const after = (await call(fake, "GET", `/air/orders/${order.id}`)).json.data;
  assert.ok(after.cancelled_at);
  assert.deepEqual(after.available_actions, ["update"]);
  assert.equal(after.cancellation.id, quote.id);
  assertErrorEnvelope(
    await call(fake, "POST", `/air/order_cancellations/${quote.id}/actions/confirm`),
    422,
    "already_cancelled",
    "invalid_state_error",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations", { data: { order_id: order.id } }),
    422,
    "already_cancelled",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations", { data: { order_id: "ord_0000x" } }),
    404,
    "not_found",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations/ore_0000x/actions/confirm"),
    404,
    "not_found",
  );
  assertErrorEnvelope(
    await call(fake, "POST", "/air/order_cancellations", { data: {} }),
    422,
    "validation_required",
  );
});

// ---------------------------------------------------------------- control API

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

Deno.test("duffel: the default export serves over real HTTP, including a dropped body", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    defaultFake.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    await fetch(`${base}/_fake/reset`, { method: "POST" }).then((r) => r.body?.cancel());
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
  } finally {
    await fetch(`${base}/_fake/reset`, { method: "POST" }).then((r) => r.body?.cancel());
    await server.shutdown();
  }
});

// ---------------------------------------------------------------- generator

Deno.test("duffel: generateOfferRequestBody makes deterministic Duffel-shaped bodies of any size", () => {
  for (const n of [10, 100, 1000]) {
    const text = generateOfferRequestBody(n);
    assert.equal(text, generateOfferRequestBody(n));
    const parsed = JSON.parse(text);
    assert.equal(parsed.data.offers.length, n);
    assert.equal(new Set(parsed.data.offers.map((o: Json) => o.id)).size, n);
    assert.ok(text.length > n * 1500, `${n} offers: ${text.length} bytes`);
  }
  const kwd = generateOfferRequest(5, {
    currency: "KWD",
    origin: "KWI",
    destination: "LHR",
    return_date: "2027-03-20",
    child_ages: [4],
  });
  const offers = kwd.offers as Json[];
  for (const o of offers) {
    assert.match(o.total_amount, /^\d+\.\d{3}$/);
    assert.equal(o.slices.length, 2);
    assert.equal(o.passengers.length, 2);
  }
  assert.notEqual(
    generateOfferRequestBody(10, { seed: "a" }),
    generateOfferRequestBody(10, { seed: "b" }),
  );
});
