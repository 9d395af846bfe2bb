import assert from "node:assert/strict";
import {
  canonicalJson,
  currencyExponent,
  decodeForm,
  formatMinor,
  freshEpoch,
  IdMinter,
  parseDecimal,
  Rng,
} from "./_shared.ts";
import { DuffelState } from "./duffel/state.ts";
import { StripeState } from "./stripe/state.ts";

Deno.test("formatMinor uses the ISO 4217 exponent of each currency", () => {
  assert.equal(formatMinor(22178, "GBP"), "221.78");
  assert.equal(formatMinor(5, "GBP"), "0.05");
  assert.equal(formatMinor(0, "GBP"), "0.00");
  assert.equal(formatMinor(54000, "JPY"), "54000");
  assert.equal(formatMinor(123456, "KWD"), "123.456");
  assert.equal(formatMinor(7, "KWD"), "0.007");
  assert.equal(formatMinor(-150, "EUR"), "-1.50");
  assert.throws(() => formatMinor(1.5, "GBP"), RangeError);
  assert.equal(currencyExponent("jpy"), 0);
  assert.equal(currencyExponent("BHD"), 3);
  assert.equal(currencyExponent("USD"), 2);
});

Deno.test("parseDecimal accepts at most the currency's decimals and rejects other shapes", () => {
  assert.equal(parseDecimal("221.78", "GBP"), 22178);
  assert.equal(parseDecimal("221.8", "GBP"), 22180);
  assert.equal(parseDecimal("221", "GBP"), 22100);
  assert.equal(parseDecimal("221.789", "GBP"), null);
  assert.equal(parseDecimal("54000", "JPY"), 54000);
  assert.equal(parseDecimal("54000.0", "JPY"), null);
  assert.equal(parseDecimal("123.456", "KWD"), 123456);
  for (const bad of ["", " 5", "1e3", "-1.00", "1,00", "0x10"]) {
    assert.equal(parseDecimal(bad, "GBP"), null, bad);
  }
  assert.equal(parseDecimal(221.78, "GBP"), null);
  for (const minor of [0, 1, 99, 100, 22178, 99999999]) {
    for (const cur of ["GBP", "JPY", "KWD"]) {
      assert.equal(parseDecimal(formatMinor(minor, cur), cur), minor);
    }
  }
});

Deno.test("decodeForm decodes Stripe's bracket syntax", () => {
  const v = decodeForm(
    "amount=22178&currency=gbp&metadata%5Bbooking_id%5D=bk_1&metadata[source]=auto" +
      "&payment_method_types[]=card&payment_method_types[]=link&expand[0]=latest_charge" +
      "&automatic_payment_methods[enabled]=true&a[b][c]=d",
  );
  assert.deepEqual(v, {
    amount: "22178",
    currency: "gbp",
    metadata: { booking_id: "bk_1", source: "auto" },
    payment_method_types: ["card", "link"],
    expand: ["latest_charge"],
    automatic_payment_methods: { enabled: "true" },
    a: { b: { c: "d" } },
  });
  assert.throws(() => decodeForm("a=1&a[b]=2"), SyntaxError);
  assert.throws(() => decodeForm("a]=1"), SyntaxError);
});

Deno.test("canonicalJson ignores key order but not values", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, 2], c: "x" } }),
    canonicalJson({ a: { c: "x", d: [1, 2] }, b: 1 }),
  );
  assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  assert.notEqual(canonicalJson({ a: "1" }), canonicalJson({ a: 1 }));
});

Deno.test("Rng and IdMinter are deterministic per seed", () => {
  const a = new Rng("LHR-JFK"), b = new Rng("LHR-JFK"), c = new Rng("LHR-CDG");
  const sa = [a.next(), a.next(), a.next()];
  assert.deepEqual(sa, [b.next(), b.next(), b.next()]);
  assert.notDeepEqual(sa, [c.next(), c.next(), c.next()]);
  const m1 = new IdMinter("s"), m2 = new IdMinter("s");
  const ids = [m1.duffel("off"), m1.duffel("off"), m1.stripe("pi")];
  assert.deepEqual(ids, [m2.duffel("off"), m2.duffel("off"), m2.stripe("pi")]);
  assert.equal(new Set(ids).size, 3);
  assert.match(ids[0], /^off_0000[0-9A-Za-z]{22}$/);
  assert.match(ids[2], /^pi_[0-9A-Za-z]{24}$/);
  assert.match(m1.code(6), /^[A-Z0-9]{6}$/);
  assert.match(m1.digits(13), /^[1-9]\d{12}$/);
});

Deno.test("fake ids never repeat across restarts and resets (the database outlives the fake)", () => {
  const e1 = freshEpoch(), e2 = freshEpoch();
  assert.ok(e2 > e1 && e1.length === 8, `${e1} ${e2}`);
  assert.notEqual(new IdMinter("s", e1).duffel("ord"), new IdMinter("s", e2).duffel("ord"));
  assert.match(new IdMinter("s", e1).duffel("ord"), /^ord_0000[0-9A-Za-z]{22}$/);
  assert.match(new IdMinter("s", e1).stripe("pi"), /^pi_[0-9A-Za-z]{24}$/);
  assert.throws(() => new IdMinter("s", "NOT-OK"), RangeError);
  // A stack restart is a new fake with the default seed; a `POST /_fake/reset` is a reset.
  const duffel = new DuffelState(), again = new DuffelState();
  const first = duffel.ids.duffel("ord");
  assert.notEqual(again.ids.duffel("ord"), first);
  duffel.reset();
  assert.notEqual(duffel.ids.duffel("ord"), first);
  const stripe = new StripeState(), stripeAgain = new StripeState();
  const pi = stripe.ids.stripe("pi");
  assert.notEqual(stripeAgain.ids.stripe("pi"), pi);
  stripe.reset();
  assert.notEqual(stripe.ids.stripe("pi"), pi);
  // A fixed epoch repeats, for tests that need it.
  const fixed = new DuffelState({ epoch: "t" });
  const id = fixed.ids.duffel("ord");
  fixed.reset();
  assert.equal(fixed.ids.duffel("ord"), id);
});
