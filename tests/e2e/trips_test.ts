/**
 * The `trips` function end to end through the router: list with price history, one trip's
 * timeline, pause / resume / cancel / update and every error code, and a cancel racing an
 * attempt: when the cancel commits first nothing is charged; one that meets an attempt in flight
 * lets it finish and says so (docs/contracts.md "trips").
 */
import assert from "node:assert/strict";
import { createUser, mintUserJwt } from "../../scripts/stack/testkit.ts";
import {
  callSearch,
  closeSql,
  e2eTest,
  env,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import {
  intentsFor,
  runMonitor,
  seedBooker,
  seedCard,
  stripeFault,
  tripStatus,
} from "./monitor_helpers.ts";
import { attemptState, call, type Json } from "./user_fn_helpers.ts";

async function trip(jwt: string, total: string, overrides: Record<string, unknown> = {}) {
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total, stops: 0 }] });
  const res = await callSearch(tripBody(route, overrides), jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return { route, id: (res.json.trip as { id: string }).id };
}

async function version(tripId: string): Promise<number> {
  const [row] = await sql()`select version from public.trip_requests where id = ${tripId}`;
  return Number(row.version);
}

e2eTest(
  "trips: list with price history, get with the timeline, pause, resume, update, cancel",
  async () => {
    const a = await newUser();
    const { route, id } = await trip(a.jwt, "455.00");
    // The price drops; the traveller searches again.
    await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "412.40", stops: 0 }] });
    assert.equal((await callSearch({ trip_id: id }, a.jwt)).status, 200);
    // Auto-book on only now, so no background monitor run moves the version under the test
    // (auto-booking needs a saved card and a consent).
    await seedCard(a.id);
    await sql()`update public.trip_requests set auto_book = true where id = ${id}`;

    const list = await call("trips", { action: "list" }, a.jwt);
    assert.equal(list.status, 200, JSON.stringify(list.json));
    const watch = list.json.trips.find((w: Json) => w.trip.id === id);
    assert.equal(watch.trip.status, "watching");
    assert.deepEqual(watch.prices.map((p: Json) => p.best), ["GBP 455.00", "GBP 412.40"]);
    assert.equal(watch.selected_offer.total_minor, 41240);
    assert.equal(watch.max, "GBP 420.00");

    const got = await call("trips", { action: "get", trip_id: id }, a.jwt);
    assert.equal(got.status, 200);
    const lines: string[] = got.json.timeline.map((e: Json) => e.text);
    assert.match(lines[0], /^searched .* UTC: 1 offer, best GBP 455\.00 over your GBP 420\.00$/);
    assert.match(lines[1], /^searched .* UTC: 1 offer, best GBP 412\.40 within your GBP 420\.00$/);

    const paused = await call("trips", { action: "pause", trip_id: id }, a.jwt);
    assert.deepEqual([paused.status, paused.json.trip.auto_book_paused], [200, true]);
    assert.equal(paused.json.trip.trip.auto_book, false);
    const resumed = await call("trips", { action: "resume", trip_id: id }, a.jwt);
    assert.deepEqual([resumed.status, resumed.json.trip.trip.auto_book], [200, true]);

    const v = await version(id);
    const updated = await call("trips", {
      action: "update",
      trip_id: id,
      version: v,
      max_total_minor: 40000,
      nonstop_only: false,
    }, a.jwt);
    assert.equal(updated.status, 200, JSON.stringify(updated.json));
    assert.equal(updated.json.trip.trip.max_total_minor, 40000);
    assert.equal(updated.json.trip.selected_offer, null, "the old selection is dropped");

    const cancelled = await call("trips", { action: "cancel", trip_id: id }, a.jwt);
    assert.deepEqual([cancelled.status, cancelled.json.charged], [200, false]);
    assert.equal(await tripStatus(id), "cancelled");
    const again = await call("trips", { action: "cancel", trip_id: id }, a.jwt);
    assert.equal(again.status, 200, "cancelling twice is harmless");
    const timeline = (await call("trips", { action: "get", trip_id: id }, a.jwt)).json.timeline
      .map((e: Json) => e.text);
    assert.ok(timeline.some((t: string) => t.startsWith("you paused auto-booking")));
    assert.ok(timeline.some((t: string) => t.includes("maximum GBP 400.00")));
    assert.ok(timeline.some((t: string) => t.startsWith("you cancelled")));
  },
);

e2eTest("trips: needs_traveller resumes to watching", async () => {
  const a = await newUser();
  const { id } = await trip(a.jwt, "399.00");
  await seedCard(a.id);
  await sql()`update public.trip_requests set status = 'booking', auto_book = true where id = ${id}`;
  await sql()`update public.trip_requests set status = 'needs_traveller' where id = ${id}`;
  const upd = await call("trips", {
    action: "update",
    trip_id: id,
    version: await version(id),
    cabin: "business",
  }, a.jwt);
  assert.deepEqual([upd.status, upd.json.code], [409, "trip_not_watching"]);
  const r = await call("trips", { action: "resume", trip_id: id }, a.jwt);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(await tripStatus(id), "watching");
});

e2eTest("trips: every error code", async () => {
  const a = await newUser();
  const b = await newUser();
  const { id } = await trip(a.jwt, "455.00");
  assert.equal((await call("trips", { action: "list" }, null)).status, 401);
  assert.equal(
    (await call("trips", null, a.jwt, { method: "GET" })).json.code,
    "method_not_allowed",
  );
  assert.equal(
    (await call("trips", null, a.jwt, { raw: "{}", contentType: "text/plain" })).status,
    415,
  );
  assert.equal((await call("trips", null, a.jwt, { raw: "[" })).json.code, "invalid_json");
  assert.equal(
    (await call("trips", null, a.jwt, { raw: '{"action":"get","action":"list"}' })).json.code,
    "duplicate_key",
  );
  const v400 = await call("trips", { action: "update", trip_id: id, cabin: "sofa" }, a.jwt);
  assert.deepEqual([v400.status, v400.json.code], [400, "validation_failed"]);

  // B: nothing of A's, answered like a missing trip.
  assert.deepEqual((await call("trips", { action: "list" }, b.jwt)).json.trips, []);
  for (const action of ["get", "pause", "resume", "cancel"]) {
    const r = await call("trips", { action, trip_id: id }, b.jwt);
    assert.deepEqual([r.status, r.json.code], [404, "not_found"], action);
  }
  const bUpd = await call(
    "trips",
    { action: "update", trip_id: id, version: 1, max_total_minor: 1 },
    b.jwt,
  );
  assert.equal(bUpd.status, 404);
  assert.equal(await tripStatus(id), "watching", "A's trip is untouched");

  // 409s.
  const stale = await call(
    "trips",
    { action: "update", trip_id: id, version: 1, max_total_minor: 50000 },
    a.jwt,
  );
  assert.deepEqual([stale.status, stale.json.code], [409, "version_conflict"]);
  const stalePause = await call("trips", { action: "cancel", trip_id: id, version: 1 }, a.jwt);
  assert.deepEqual([stalePause.status, stalePause.json.code], [409, "version_conflict"]);
  const noAuto = await call("trips", { action: "pause", trip_id: id }, a.jwt);
  assert.deepEqual([noAuto.status, noAuto.json.code], [409, "not_auto_book"]);
  const notPaused = await call("trips", { action: "resume", trip_id: id }, a.jwt);
  assert.deepEqual([notPaused.status, notPaused.json.code], [409, "not_paused"]);
  await call("trips", { action: "cancel", trip_id: id }, a.jwt);
  const closed = await call("trips", { action: "pause", trip_id: id }, a.jwt);
  assert.deepEqual([closed.status, closed.json.code], [409, "trip_closed"]);
  const closedUpd = await call("trips", {
    action: "update",
    trip_id: id,
    version: await version(id),
    max_total_minor: 1000,
  }, a.jwt);
  assert.deepEqual([closedUpd.status, closedUpd.json.code], [409, "trip_not_watching"]);

  // 403: an anonymous user cannot resume auto-booking (trip_requests_limits).
  const anonId = crypto.randomUUID();
  await createUser(sql(), anonId);
  const anonJwt = await mintUserJwt(anonId, { env, claims: { is_anonymous: true } });
  const anonTrip = await trip(anonJwt, "455.00");
  await sql()`update public.trip_requests set auto_book_paused = true where id = ${anonTrip.id}`;
  const anon = await call("trips", { action: "resume", trip_id: anonTrip.id }, anonJwt);
  assert.deepEqual([anon.status, anon.json.code], [403, "anonymous_auto_book_forbidden"]);
});

e2eTest("trips: a cancel racing an attempt: no charge when the cancel commits first", async () => {
  const a = await newUser();
  // Auto-book off at creation, so trip-search hands nothing to the monitor in the background.
  const { id } = await trip(a.jwt, "399.00");
  await seedBooker(a.id, id);
  await sql()`update public.trip_requests set auto_book = true where id = ${id}`;
  const seen = await version(id); // what a monitor run that claimed the trip now would hold

  // The cancel commits while holding the row lock; a concurrent begin waits for it, then sees
  // the new version and status and starts nothing.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const holding = new Promise<void>((r) => (locked = r));
  const cancel = sql().begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims',
      ${JSON.stringify({ sub: a.id, role: "authenticated", aud: "authenticated" })}, true)`;
    const [r] = await tx`select app.trips_control(${
      JSON.stringify({ trip_id: id, action: "cancel" })
    }::text::jsonb) as r`;
    assert.equal(r.r.outcome, "cancelled");
    locked();
    await gate;
  });
  await holding;
  const begin = sql()`select app.monitor_begin_attempt(${
    JSON.stringify({
      trip_id: id,
      trip_version: seen,
      state: attemptState(crypto.randomUUID(), id, "off_x"),
    })
  }::text::jsonb) as r`.then((rows) => rows[0].r);
  await new Promise((r) => setTimeout(r, 300));
  release();
  await cancel;
  assert.deepEqual(await begin, { started: false, reason: "trip_changed" });

  // And the monitor itself, run for the cancelled trip, charges nothing.
  await sql()`update public.trip_requests set next_check_at = now() where id = ${id}`;
  assert.equal((await runMonitor({ trip_id: id })).status, 200);
  assert.equal(await tripStatus(id), "cancelled");
  assert.equal((await intentsFor(id)).length, 0, "no PaymentIntent: nothing held or charged");
  const [n] =
    await sql()`select count(*)::int as n from public.booking_attempts where trip_id = ${id}`;
  assert.equal(n.n, 0);
});

e2eTest("trips: a cancel meeting an attempt in flight lets it finish and says so", async () => {
  const a = await newUser();
  // Auto-book off at creation, so trip-search hands nothing to the monitor in the background.
  const { id } = await trip(a.jwt, "399.00");
  await seedBooker(a.id, id);
  await sql()`update public.trip_requests set auto_book = true where id = ${id}`;
  // The capture fails once: the attempt stays open (phase capture, order placed).
  await stripeFault({ endpoint: "capture", fault: "500", store: false, metadata: { trip_id: id } });
  await sql()`update public.trip_requests set next_check_at = now() where id = ${id}`;
  const run = await runMonitor({ trip_id: id });
  assert.equal(run.status, 200);
  assert.equal(await tripStatus(id), "booking", JSON.stringify(run.json));

  const c = await call("trips", { action: "cancel", trip_id: id }, a.jwt);
  assert.equal(c.status, 202, JSON.stringify(c.json));
  assert.equal(c.json.outcome, "cancel_pending");
  assert.deepEqual(c.json.attempt, { phase: "capture", will: "finish" });

  for (let i = 0; i < 8 && (await tripStatus(id)) === "booking"; i++) {
    await new Promise((r) => setTimeout(r, 600));
    await sql()`update public.trip_requests set next_check_at = now() where id = ${id}`;
    await runMonitor({ trip_id: id });
  }
  assert.equal(await tripStatus(id), "booked", "the attempt in flight finished");
  const intents = await intentsFor(id);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].captures, 1, "charged once");
  const got = await call("trips", { action: "get", trip_id: id }, a.jwt);
  assert.ok(
    got.json.timeline.some((e: Json) =>
      /^booked .*: ZZ \d\d:\d\d, reference \w+, GBP 399\.00 charged once$/.test(e.text)
    ),
    JSON.stringify(got.json.timeline.map((e: Json) => e.text)),
  );
  await closeSql();
});
