/** Fake Duffel: generated offer-request bodies for benchmarks. */

import assert from "node:assert/strict";
import { generateOfferRequest, generateOfferRequestBody } from "../duffel_offers.ts";
import { type Json } from "../_test_helpers.ts";

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
