/** Fake Duffel: infants must be linked to an adult; identity documents when the offer requires them. */

import assert from "node:assert/strict";
import { type Json } from "../_test_helpers.ts";
import { assertErrorEnvelope, call, fresh, orderBody, script, searchBody } from "./test_helpers.ts";

/** Searches LHR→CDG (2027-03-12) for one adult and an infant of 1; returns the first offer. */
async function familyOffer(
  documents: boolean,
): Promise<{ fake: ReturnType<typeof fresh>["fake"]; offer: Json }> {
  const { fake } = fresh();
  await script(fake, {
    origin: "LHR",
    destination: "CDG",
    offers: [{ total: "300.00" }],
    identity_documents_required: documents,
  });
  const r = await call(fake, "POST", "/air/offer_requests", {
    data: { ...searchBody("LHR", "CDG").data, passengers: [{ type: "adult" }, { age: 1 }] },
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return { fake, offer: r.json.data.offers[0] };
}

function familyOrder(offer: Json): Json {
  const body = orderBody(offer);
  body.data.passengers[1].born_on = "2026-01-15"; // 1 on 2027-03-12
  return body;
}

const passport = (expires_on = "2030-04-25") => ({
  type: "passport",
  unique_identifier: "19KL56147",
  issuing_country_code: "GB",
  expires_on,
});

Deno.test("duffel: offers list infants as infant_without_seat and script the document requirement", async () => {
  const { offer } = await familyOffer(true);
  assert.deepEqual(offer.passengers.map((p: Json) => p.type), ["adult", "infant_without_seat"]);
  assert.equal(offer.passenger_identity_documents_required, true);
  assert.deepEqual(offer.supported_passenger_identity_document_types, ["passport"]);
  assert.equal((await familyOffer(false)).offer.passenger_identity_documents_required, false);
  const { fake } = fresh();
  const bad = await call(fake, "POST", "/_fake/routes", {
    origin: "LHR",
    destination: "CDG",
    identity_documents_required: "yes",
  }, {});
  assert.equal(bad.status, 400);
});

Deno.test("duffel: an infant not linked to an adult is refused with 422", async () => {
  const { fake, offer } = await familyOffer(false);
  const body = familyOrder(offer);
  const r = await call(fake, "POST", "/air/orders", body);
  assertErrorEnvelope(r, 422, "validation_required", "validation_error");
  assert.match(r.json.errors[0].message, /infant_passenger_id/);
  // The infant cannot carry itself, nor an adult an id that is not an infant of the offer.
  body.data.passengers[1].infant_passenger_id = offer.passengers[1].id;
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", body), 422, "validation_format");
  delete body.data.passengers[1].infant_passenger_id;
  body.data.passengers[0].infant_passenger_id = offer.passengers[0].id;
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", body), 422, "validation_format");
  body.data.passengers[0].infant_passenger_id = offer.passengers[1].id;
  const ok = await call(fake, "POST", "/air/orders", body);
  assert.equal(ok.status, 201, JSON.stringify(ok.json));
  assert.equal(ok.json.data.passengers[0].infant_passenger_id, offer.passengers[1].id);
  // Infants get no ticket of their own.
  assert.equal(ok.json.data.documents.length, 1);
});

Deno.test("duffel: documents required and missing, expired or malformed are refused with 422", async () => {
  const { fake, offer } = await familyOffer(true);
  const body = familyOrder(offer);
  body.data.passengers[0].infant_passenger_id = offer.passengers[1].id;
  const missing = await call(fake, "POST", "/air/orders", body);
  assertErrorEnvelope(missing, 422, "validation_required", "validation_error");
  assert.equal(missing.json.errors.length, 2, "one error per passenger without a document");
  assert.equal(missing.json.errors[0].source.pointer, "/data/passengers/0/identity_documents");

  body.data.passengers[0].identity_documents = [passport()];
  body.data.passengers[1].identity_documents = [passport("2027-03-11")];
  const expired = await call(fake, "POST", "/air/orders", body);
  assertErrorEnvelope(expired, 422, "validation_format");
  assert.match(expired.json.errors[0].message, /expires before travel/);

  body.data.passengers[1].identity_documents = [{ ...passport(), issuing_country_code: "GBR" }];
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", body), 422, "validation_format");
  body.data.passengers[1].identity_documents = [{ ...passport(), type: "visa" }];
  assertErrorEnvelope(await call(fake, "POST", "/air/orders", body), 422, "validation_inclusion");

  body.data.passengers[1].identity_documents = [passport("2027-03-12")];
  const ok = await call(fake, "POST", "/air/orders", body);
  assert.equal(ok.status, 201, JSON.stringify(ok.json));
});
