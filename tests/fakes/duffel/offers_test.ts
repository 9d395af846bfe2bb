/** Fake Duffel: listing, reading and re-pricing offers. */

import assert from "node:assert/strict";
import { parseDecimal } from "../_shared.ts";
import { type Json } from "../_test_helpers.ts";
import { assertErrorEnvelope, call, fresh, script, search } from "./test_helpers.ts";

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
