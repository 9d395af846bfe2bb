/**
 * The `travelers` function end to end through the router: each action's happy path and every
 * error code (docs/contracts.md "travelers"). Every test uses its own users; the profile data is
 * made up and listed in tests/e2e/personal_data.ts so the log scan can prove none of it is logged.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
  e2eTest,
  isoDay,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import { CHILD, TRAVELLER } from "./personal_data.ts";
import { attemptState, call } from "./user_fn_helpers.ts";

/** A trip of `user` for one adult and a child of 7 (searched, so `watching`). */
async function familyTrip(jwt: string): Promise<string> {
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "455.00", stops: 0 }] });
  const res = await callSearch(
    tripBody(route, { child_ages: [7], return_date: isoDay(67) }),
    jwt,
  );
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return (res.json.trip as { id: string }).id;
}

/** A child born so that they are 7 on the trip's return date (67 days ahead). */
function childBornOn(): string {
  const d = new Date(Date.now() + 67 * 86_400_000);
  d.setUTCFullYear(d.getUTCFullYear() - 7);
  d.setUTCDate(d.getUTCDate() - 30);
  return d.toISOString().slice(0, 10);
}

e2eTest("travelers: create, list decrypted, update, attach to a trip's slots, delete", async () => {
  const a = await newUser();
  const created = await call("travelers", { action: "create", traveler: TRAVELLER }, a.jwt);
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const adult = created.json.traveler;
  assert.equal(adult.given_name, TRAVELLER.given_name);
  assert.equal(adult.passenger_type, "adult");
  const child = await call("travelers", {
    action: "create",
    traveler: {
      ...CHILD,
      born_on: childBornOn(),
      identity_document: {
        type: "passport",
        unique_identifier: "P7654321",
        issuing_country_code: "GB",
        expires_on: isoDay(900),
      },
    },
  }, a.jwt);
  assert.equal(child.status, 201, JSON.stringify(child.json));
  assert.equal(child.json.traveler.passenger_type, "child");

  const list = await call("travelers", { action: "list" }, a.jwt);
  assert.equal(list.status, 200);
  assert.equal(list.json.travelers.length, 2);
  assert.equal(list.json.travelers[1].identity_document.unique_identifier, "P7654321");
  const [stored] =
    await sql()`select position(${TRAVELLER.family_name} in encode(pii, 'escape')) as at
    from public.travelers where id = ${adult.id}`;
  assert.equal(stored.at, 0, "stored encrypted");

  const updated = await call("travelers", {
    action: "update",
    traveler_id: adult.id,
    traveler: { ...TRAVELLER, phone_number: "+442079460000" },
  }, a.jwt);
  assert.equal(updated.status, 200, JSON.stringify(updated.json));
  assert.equal(updated.json.traveler.version, 2);

  const tripId = await familyTrip(a.jwt);
  const attached = await call("travelers", {
    action: "attach",
    trip_id: tripId,
    traveler_ids: [adult.id, child.json.traveler.id],
  }, a.jwt);
  assert.equal(attached.status, 200, JSON.stringify(attached.json));
  const [p] = await sql()`select app.monitor_passengers(${
    JSON.stringify({ trip_id: tripId })
  }::text::jsonb) as r`;
  assert.equal(p.r.passengers.length, 2, "the monitor finds the travellers");
  assert.equal(p.r.passengers[1].identity_document.unique_identifier, "P7654321");

  const spare = await call("travelers", { action: "create", traveler: TRAVELLER }, a.jwt);
  const deleted = await call(
    "travelers",
    { action: "delete", traveler_id: spare.json.traveler.id },
    a.jwt,
  );
  assert.deepEqual([deleted.status, deleted.json.deleted], [200, true]);
});

e2eTest("travelers: every error code", async () => {
  const a = await newUser();
  const b = await newUser();
  const mine = (await call("travelers", { action: "create", traveler: TRAVELLER }, a.jwt)).json
    .traveler;

  // 401 (the gateway's, no JWT; the function's, a bad one), 405, 415, 400s.
  assert.equal((await call("travelers", { action: "list" }, null)).status, 401);
  const bad = await call("travelers", { action: "list" }, "x.y.z");
  assert.equal(bad.status, 401);
  assert.equal(
    (await call("travelers", null, a.jwt, { method: "GET" })).json.code,
    "method_not_allowed",
  );
  assert.equal(
    (await call("travelers", null, a.jwt, { raw: "{}", contentType: "text/plain" })).json.code,
    "unsupported_media_type",
  );
  assert.equal((await call("travelers", null, a.jwt, { raw: "{" })).json.code, "invalid_json");
  assert.equal(
    (await call("travelers", null, a.jwt, { raw: '{"action":"list","action":"list"}' })).json.code,
    "duplicate_key",
  );
  const invalid = await call("travelers", {
    action: "create",
    traveler: { ...TRAVELLER, given_name: "Æsa", phone_number: "020 7946 0000", email: "nope" },
  }, a.jwt);
  assert.equal(invalid.status, 400);
  assert.deepEqual(
    invalid.json.fields.map((f: { code: string }) => f.code).sort(),
    ["invalid_email", "invalid_name", "invalid_phone"],
  );
  assert.ok(!JSON.stringify(invalid.json).includes("Æsa"), "values are never echoed");

  // B cannot see or touch A's profile or trip: 404 like a missing one.
  assert.deepEqual((await call("travelers", { action: "list" }, b.jwt)).json.travelers, []);
  const upd = await call("travelers", {
    action: "update",
    traveler_id: mine.id,
    traveler: TRAVELLER,
  }, b.jwt);
  assert.deepEqual([upd.status, upd.json.code], [404, "not_found"]);
  const del = await call("travelers", { action: "delete", traveler_id: mine.id }, b.jwt);
  assert.deepEqual([del.status, del.json.code], [404, "not_found"]);
  const tripId = await familyTrip(a.jwt);
  const foreign = await call("travelers", {
    action: "attach",
    trip_id: tripId,
    traveler_ids: [mine.id, mine.id.replace(/.$/, (c: string) => (c === "0" ? "1" : "0"))],
  }, b.jwt);
  assert.deepEqual([foreign.status, foreign.json.code], [404, "not_found"]);

  // Ages against the slots (400), a wrong count (400), a profile that is not A's (404).
  const young = (await call("travelers", {
    action: "create",
    traveler: { ...CHILD, born_on: isoDay(-365 * 3) },
  }, a.jwt)).json.traveler;
  const ages = await call("travelers", {
    action: "attach",
    trip_id: tripId,
    traveler_ids: [mine.id, young.id],
  }, a.jwt);
  assert.equal(ages.status, 400);
  assert.equal(ages.json.fields[0].code, "age_mismatch");
  const count = await call(
    "travelers",
    { action: "attach", trip_id: tripId, traveler_ids: [mine.id] },
    a.jwt,
  );
  assert.equal(count.json.fields[0].code, "wrong_count");
  const notMine = await call("travelers", {
    action: "attach",
    trip_id: tripId,
    traveler_ids: [mine.id, crypto.randomUUID()],
  }, a.jwt);
  assert.deepEqual([notMine.status, notMine.json.message], [404, "no such traveller"]);

  // 409 trip_busy (the trip is booking) and traveler_in_use (an open attempt uses the profile).
  const child = (await call("travelers", {
    action: "create",
    traveler: { ...CHILD, born_on: childBornOn() },
  }, a.jwt)).json.traveler;
  assert.equal(
    (await call("travelers", {
      action: "attach",
      trip_id: tripId,
      traveler_ids: [mine.id, child.id],
    }, a.jwt)).status,
    200,
  );
  await sql()`insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor,
      currency, cabin, stops, duration_minutes, departing_at, arriving_at, carriers, expires_at)
    values (${tripId}, 'duffel', 'off_busy', 40000, 'GBP', 'economy', 0, 60, now()::timestamp,
      now()::timestamp, '{ZZ}', now() + interval '1 hour')`;
  await sql()`update public.trip_requests set selected_offer_id =
    (select id from public.flight_offers where trip_id = ${tripId} and provider_offer_id = 'off_busy')
    where id = ${tripId}`;
  const [{ version }] = await sql()`select version from public.trip_requests where id = ${tripId}`;
  const attemptId = crypto.randomUUID();
  const [begun] = await sql()`select app.monitor_begin_attempt(${
    JSON.stringify({
      trip_id: tripId,
      trip_version: Number(version),
      state: attemptState(attemptId, tripId),
    })
  }::text::jsonb) as r`;
  assert.deepEqual(begun.r, { started: true });
  const busy = await call("travelers", {
    action: "attach",
    trip_id: tripId,
    traveler_ids: [mine.id, child.id],
  }, a.jwt);
  assert.deepEqual([busy.status, busy.json.code], [409, "trip_busy"]);
  const inUse = await call("travelers", { action: "delete", traveler_id: mine.id }, a.jwt);
  assert.deepEqual([inUse.status, inUse.json.code], [409, "traveler_in_use"]);
  const inUseUpdate = await call("travelers", {
    action: "update",
    traveler_id: mine.id,
    traveler: TRAVELLER,
  }, a.jwt);
  assert.deepEqual([inUseUpdate.status, inUseUpdate.json.code], [409, "traveler_in_use"]);

  // 409 too_many_travelers: the 51st profile.
  const c = await newUser();
  await sql()`select app.create_traveler(${c.id}::uuid, ${JSON.stringify(TRAVELLER)}::text::jsonb)
    from generate_series(1, 50)`;
  const full = await call("travelers", { action: "create", traveler: TRAVELLER }, c.jwt);
  assert.deepEqual([full.status, full.json.code], [409, "too_many_travelers"]);
  await closeSql();
});
