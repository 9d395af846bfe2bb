/**
 * trip-search end to end: router (verify_jwt) -> function -> wasm core -> fake Duffel -> Postgres,
 * against the running local stack. Every test uses its own user and its own route.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
  DUFFEL,
  e2eTest,
  env,
  isoDay,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";

const offers = [
  { total: "455.00", stops: 0, duration_minutes: 480 }, // over budget
  { total: "399.00", stops: 1, duration_minutes: 600 }, // not nonstop
  { total: "401.50", stops: 0, duration_minutes: 470, departing_at: "10:00" },
  { total: "401.50", stops: 0, duration_minutes: 470, departing_at: "08:00" }, // the best
  { total: "380.00", stops: 0, duration_minutes: 450, currency: "USD" }, // other currency
  { total: "350.00", stops: 0, duration_minutes: 450, expires_in_seconds: 30 }, // about to expire
];

e2eTest("creates a trip, stores the offers and selects the best one", async () => {
  const user = await newUser();
  const route = randomRoute();
  // The fake filters by max_connections like Duffel; switch that off to exercise our own check.
  await scriptRoute({ ...route, currency: "GBP", offers, ignore_max_connections: true });
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const trip = res.json.trip as Record<string, unknown>;
  const selected = res.json.selected_offer as Record<string, unknown>;
  assert.equal(res.json.decision, "offer_selected");
  assert.equal(trip.status, "watching");
  assert.equal(trip.owner_id, user.id);
  assert.equal(selected.total_minor, 40150);
  assert.equal(selected.currency, "GBP");
  assert.equal(String(selected.departing_at).slice(11, 16), "08:00");
  assert.equal(selected.raw, undefined, "the raw provider offer is not echoed to the caller");
  assert.equal(res.json.offers_seen, 6);
  const rejections = res.json.rejections as Record<string, number>;
  assert.equal(rejections.over_budget, 1);
  assert.equal(rejections.too_many_stops, 1);
  assert.equal(rejections.currency_mismatch, 1);
  assert.equal(rejections.expired, 1);

  const [row] = await sql()`select status, selected_offer_id, check_count, owner_id
    from public.trip_requests where id = ${trip.id as string}`;
  assert.equal(row.status, "watching");
  assert.equal(row.selected_offer_id, selected.id);
  assert.equal(row.check_count, 1);
  const [{ n }] = await sql()`select count(*)::int as n from public.flight_offers
    where trip_id = ${trip.id as string}`;
  assert.equal(n, 6);
  const events = await sql()`select stage, decision from public.pipeline_events
    where trip_id = ${trip.id as string}`;
  assert.deepEqual(events.map((e) => [e.stage, e.decision]), [["search", "offer_selected"]]);
});

e2eTest("another user can neither read nor re-search someone else's trip", async () => {
  const owner = await newUser();
  const other = await newUser();
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "300.00", stops: 0 }] });
  const created = await callSearch(tripBody(route), owner.jwt);
  assert.equal(created.status, 201);
  const tripId = (created.json.trip as { id: string }).id;

  const theirs = await callSearch({ trip_id: tripId }, other.jwt);
  const missing = await callSearch({ trip_id: crypto.randomUUID() }, other.jwt);
  assert.equal(theirs.status, 404);
  assert.equal(missing.status, 404);
  assert.deepEqual(theirs.json, missing.json, "no difference between 'not yours' and 'absent'");

  const visible = await sql().begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
      set_config('request.jwt.claims', ${
      JSON.stringify({ sub: other.id, role: "authenticated" })
    }, true)`;
    const trips = await tx`select id from public.trip_requests where id = ${tripId}`;
    const offerRows = await tx`select id from public.flight_offers where trip_id = ${tripId}`;
    return trips.length + offerRows.length;
  });
  assert.equal(visible, 0);

  const again = await callSearch({ trip_id: tripId }, owner.jwt);
  assert.equal(again.status, 200);
  assert.equal((again.json.trip as { check_count: number }).check_count, 2);
});

e2eTest("no acceptable offer keeps watching and says why", async () => {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({
    ...route,
    currency: "GBP",
    offers: [{ total: "500.00", stops: 0 }, { total: "600.00", stops: 0 }],
  });
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 201);
  assert.equal(res.json.decision, "no_acceptable_offer");
  assert.equal(res.json.selected_offer, null);
  assert.equal((res.json.rejections as Record<string, number>).over_budget, 2);
  assert.equal((res.json.trip as { status: string }).status, "watching");
});

e2eTest("bad input gets 400 with stable codes", async () => {
  const user = await newUser();
  const notJson = await callSearch(null, user.jwt, { raw: "{not json" });
  assert.equal(notJson.status, 400);
  assert.equal(notJson.json.code, "invalid_json");

  const bad = await callSearch(
    {
      origin: "lhr",
      destination: "JFK",
      departure_date: isoDay(-1), // yesterday (UTC), on any day
      adults: 0,
      cabin: "steerage",
      max_total_minor: 420.5,
      currency: "GBP",
      colour: "red",
    },
    user.jwt,
  );
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, "validation_failed");
  const fields = Object.fromEntries(
    (bad.json.fields as { field: string; code: string }[]).map((f) => [f.field, f.code]),
  );
  assert.equal(fields.origin, "invalid_iata");
  assert.equal(fields.departure_date, "date_in_past");
  assert.equal(fields.adults, "out_of_range");
  assert.equal(fields.cabin, "invalid_cabin");
  assert.equal(fields.max_total_minor, "not_an_integer");
  assert.equal(fields.colour, "unknown_field");

  // More than 365 days ahead of today is refused too (tripBody counts days from Date.now()).
  const far = await callSearch(tripBody(randomRoute(), {}, 400), user.jwt);
  assert.equal(far.status, 400);
  assert.equal(far.json.code, "validation_failed");
  assert.deepEqual(
    (far.json.fields as { field: string; code: string }[]).map((f) => [f.field, f.code]),
    [["departure_date", "date_too_far"]],
  );

  const badId = await callSearch({ trip_id: "not-a-uuid" }, user.jwt);
  assert.equal(badId.status, 400);
  assert.equal(badId.json.code, "validation_failed");

  const big = await callSearch(null, user.jwt, {
    raw: JSON.stringify({ pad: "x".repeat(40_000) }),
  });
  assert.equal(big.status, 413);
  assert.equal(big.json.code, "payload_too_large");

  const get = await callSearch(null, user.jwt, { method: "GET" });
  assert.equal(get.status, 405);
  assert.equal(get.json.code, "method_not_allowed");
});

e2eTest("callers without a user's JWT get 401", async () => {
  const route = randomRoute();
  const none = await callSearch(tripBody(route), null);
  assert.equal(none.status, 401);
  const forged = await callSearch(tripBody(route), "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad");
  assert.equal(forged.status, 401);
  // A valid JWT of the anon role passes the gateway but is not a signed-in traveller.
  const anon = await callSearch(tripBody(route), env.SUPABASE_ANON_KEY);
  assert.equal(anon.status, 401);
  assert.equal(anon.json.code, "unauthorized");
});

e2eTest("CORS preflight is answered without a JWT", async () => {
  const res = await fetch(`${env.SUPABASE_URL}/functions/v1/trip-search`, {
    method: "OPTIONS",
    headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST" },
  });
  await res.body?.cancel();
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("access-control-allow-headers") ?? "", /authorization/);
});

e2eTest("the per-user rate limit answers 429 with Retry-After", async () => {
  const user = await newUser();
  const [count] = (env.TRIP_SEARCH_RATE_LIMIT ?? "10/60").split("/").map(Number);
  for (let i = 0; i < count; i++) {
    const res = await callSearch({ trip_id: crypto.randomUUID() }, user.jwt);
    assert.equal(res.status, 404, `call ${i + 1} is within the limit`);
  }
  const limited = await callSearch({ trip_id: crypto.randomUUID() }, user.jwt);
  assert.equal(limited.status, 429);
  assert.equal(limited.json.code, "rate_limited");
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  // Another user is not affected.
  const other = await newUser();
  assert.equal((await callSearch({ trip_id: crypto.randomUUID() }, other.jwt)).status, 404);
});

e2eTest("provider failures answer 502 and the trip keeps a meaningful status", async () => {
  const user = await newUser();
  const down = randomRoute();
  await scriptRoute({ ...down, search: { status: 503, code: "service_unavailable" } });
  const res = await callSearch(tripBody(down), user.jwt);
  assert.equal(res.status, 502);
  assert.equal(res.json.code, "provider_unavailable");
  const trip = res.json.trip as { id: string; status: string; last_error_code: string };
  assert.equal(trip.status, "searching");
  assert.equal(trip.last_error_code, "provider_unavailable");
  const [event] = await sql()`select decision, reason_code from public.pipeline_events
    where trip_id = ${trip.id}`;
  assert.equal(event.decision, "search_failed");

  for (const malformed of ["not_json", "bad_envelope"]) {
    const route = randomRoute();
    await scriptRoute({ ...route, search: { malformed } });
    const garbage = await callSearch(tripBody(route), user.jwt);
    assert.equal(garbage.status, 502, malformed);
    assert.equal(garbage.json.code, "provider_bad_response", malformed);
  }

  const rejected = randomRoute();
  await scriptRoute({ ...rejected, search: { status: 422, code: "validation_required" } });
  const r = await callSearch(tripBody(rejected), user.jwt);
  assert.equal(r.status, 502);
  assert.equal(r.json.code, "provider_rejected");
  assert.equal(r.json.provider_code, "validation_required");

  // Once the provider recovers, searching the same trip again succeeds.
  await scriptRoute({ ...down, currency: "GBP", offers: [{ total: "300.00", stops: 0 }] });
  const again = await callSearch({ trip_id: trip.id }, user.jwt);
  assert.equal(again.status, 200);
  assert.equal((again.json.trip as { status: string }).status, "watching");
  assert.equal((again.json.trip as { last_error_code: unknown }).last_error_code, null);
});

e2eTest("the Duffel request carries the trip's criteria", async () => {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "300.00", stops: 0 }] });
  const body = tripBody(route, { adults: 2, child_ages: [9], cabin: "business" });
  const res = await callSearch(body, user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const log = await (await fetch(`${DUFFEL}/_fake/requests`)).json();
  const entries = (Array.isArray(log) ? log : log.data ?? log.requests) as {
    method: string;
    path: string;
    body: unknown;
  }[];
  const sent = entries.filter((e) => e.method === "POST" && e.path === "/air/offer_requests")
    .map((e) => (typeof e.body === "string" ? JSON.parse(e.body) : e.body))
    // The newest request for this exact route (other tests may share an origin code).
    .findLast((b) =>
      b?.data?.slices?.[0]?.origin === route.origin &&
      b?.data?.slices?.[0]?.destination === route.destination
    );
  assert.ok(sent, "the search reached the fake Duffel");
  assert.equal(sent.data.cabin_class, "business");
  assert.equal(sent.data.max_connections, 0);
  assert.deepEqual(sent.data.passengers, [{ type: "adult" }, { type: "adult" }, { age: 9 }]);
  await closeSql();
});
