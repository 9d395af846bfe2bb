/** Fake Stripe: PaymentIntent search. */

import assert from "node:assert/strict";
import { type Json } from "../_test_helpers.ts";
import { assertError, AUTHORIZE, call, fresh } from "./test_helpers.ts";

Deno.test("stripe: search by metadata, status, customer; paging", async () => {
  const { fake } = fresh();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push(
      (await call(fake, "POST", "/v1/payment_intents", {
        ...AUTHORIZE,
        "metadata[attempt_id]": "att_s",
      })).json.id,
    );
  }
  await call(fake, "POST", "/v1/payment_intents", {
    ...AUTHORIZE,
    "metadata[attempt_id]": "att_other",
    customer: "cus_9",
  });
  await call(fake, "POST", `/v1/payment_intents/${ids[0]}/cancel`);
  const q = (query: string, extra = "") =>
    call(fake, "GET", `/v1/payment_intents/search?query=${encodeURIComponent(query)}${extra}`);
  const r = await q("metadata['attempt_id']:'att_s'");
  assert.equal(r.json.object, "search_result");
  assert.equal(r.json.url, "/v1/payment_intents/search");
  assert.deepEqual(r.json.data.map((p: Json) => p.id), [...ids].reverse()); // newest first
  assert.equal(r.json.has_more, false);
  assert.equal(r.json.next_page, null);
  assert.deepEqual(
    (await q(`metadata["attempt_id"]:"att_s" AND status:'canceled'`)).json.data.map((p: Json) =>
      p.id
    ),
    [ids[0]],
  );
  assert.equal((await q("customer:'cus_9'")).json.data.length, 1);
  assert.deepEqual((await q("metadata['attempt_id']:'nobody'")).json.data, []);
  const p1 = await q("metadata['attempt_id']:'att_s'", "&limit=2");
  assert.deepEqual([p1.json.data.length, p1.json.has_more], [2, true]);
  const p2 = await q("metadata['attempt_id']:'att_s'", `&limit=2&page=${p1.json.next_page}`);
  assert.deepEqual([p2.json.data.map((p: Json) => p.id), p2.json.has_more], [[ids[0]], false]);
  assertError(await q("amount>100"), 400, "invalid_request_error");
  assertError(
    await call(fake, "GET", "/v1/payment_intents/search"),
    400,
    "invalid_request_error",
    "parameter_missing",
  );
});
