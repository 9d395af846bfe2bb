/**
 * Issue 9, item 1, on the local stack: the `auto_booking` flag gates creating or enabling
 * auto-book (trip-search, trips: 403 `auto_booking_unavailable`) and beginning an attempt (the
 * monitor's snapshot, read once per run); the kill switch stops new attempts within one run while
 * an attempt that holds money still settles.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  e2eTest,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import {
  driveToEnd,
  intentsFor,
  makeDue,
  runMonitor,
  seedBooker,
  seedCard,
  stripeFault,
  tripStatus,
} from "./monitor_helpers.ts";
import { call } from "./user_fn_helpers.ts";

async function setFlag(args: Record<string, unknown>): Promise<void> {
  await sql()`select app.set_feature_flag(${
    JSON.stringify({ actor: "e2e", reason: "flags_test", ...args })
  }::text::jsonb)`;
}

/** A watched trip with an acceptable offer, a traveller and a card; auto-book off. */
async function watchedTrip() {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "399.00", stops: 0 }] });
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const tripId = (res.json.trip as { id: string }).id;
  await seedBooker(user.id, tripId);
  return { user, route, tripId };
}

e2eTest("auto_booking off for a user: trip-search and trips refuse auto-book (403)", async () => {
  const user = await newUser();
  await seedCard(user.id);
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "399.00", stops: 0 }] });
  await setFlag({ name: "auto_booking", deny_users: [user.id] });
  try {
    const refused = await callSearch(tripBody(route, { auto_book: true }), user.jwt);
    assert.deepEqual([refused.status, refused.json.code], [403, "auto_booking_unavailable"]);
    const [{ n }] = await sql()`select count(*)::int as n from public.trip_requests
      where owner_id = ${user.id}`;
    assert.equal(n, 0, "nothing stored for the refused create");

    const watch = await callSearch(tripBody(route), user.jwt);
    assert.equal(watch.status, 201, "watching without auto-book is always allowed");
    const id = (watch.json.trip as { id: string }).id;
    await sql()`update public.trip_requests set auto_book_paused = true where id = ${id}`;
    const resume = await call("trips", { action: "resume", trip_id: id }, user.jwt);
    assert.deepEqual([resume.status, resume.json.code], [403, "auto_booking_unavailable"]);
    const [row] = await sql()`select auto_book, auto_book_paused from public.trip_requests
      where id = ${id}`;
    assert.deepEqual({ ...row }, { auto_book: false, auto_book_paused: true }, "nothing changed");

    await setFlag({ name: "auto_booking", deny_users: [] });
    const again = await call("trips", { action: "resume", trip_id: id }, user.jwt);
    assert.equal(again.status, 200, JSON.stringify(again.json));
  } finally {
    await setFlag({ name: "auto_booking", deny_users: [] });
  }
});

e2eTest(
  "the kill switch stops new attempts within one run while held money settles",
  async () => {
    const holding = await watchedTrip();
    const idle = await watchedTrip();
    await stripeFault({
      endpoint: "capture",
      fault: "500",
      store: false,
      metadata: { trip_id: holding.tripId },
    });
    await makeDue(holding.tripId);
    await runMonitor({ trip_id: holding.tripId });
    assert.equal(
      await tripStatus(holding.tripId),
      "booking",
      "authorized and ordered, capture pending",
    );
    // Auto-book on but not due yet; then the switch; then due: a scheduled run reads the flags
    // after it claims, so whichever run claims the idle trip from here on sees the switch.
    await sql()`update public.trip_requests set auto_book = true,
      next_check_at = now() + interval '1 day' where id = ${idle.tripId}`;
    await setFlag({ name: "auto_booking_kill_switch", enabled: true });
    try {
      await sql()`update public.trip_requests set next_check_at = now() where id = ${idle.tripId}`;
      // The first run after the switch begins nothing for the idle trip.
      const first = await runMonitor({ trip_id: idle.tripId });
      assert.equal(first.status, 200, JSON.stringify(first.json));
      assert.equal(await tripStatus(idle.tripId), "watching");
      assert.equal((await intentsFor(idle.tripId)).length, 0, "no authorization");
      const [event] = await sql()`select decision, reason_code from public.pipeline_events
        where trip_id = ${idle.tripId} and stage = 'monitor' order by id desc limit 1`;
      assert.deepEqual({ ...event }, { decision: "wait", reason_code: "auto_booking_flag_off" });

      // Runs under the switch still finish the attempt that holds money.
      let status = "booking";
      for (let i = 0; i < 20 && status === "booking"; i++) {
        await new Promise((r) => setTimeout(r, 300));
        await runMonitor({ trip_id: holding.tripId });
        status = await tripStatus(holding.tripId);
      }
      assert.equal(status, "booked", "the hold was captured under the kill switch");
      assert.equal((await intentsFor(holding.tripId))[0].captures, 1);
      await sql()`update public.trip_requests set next_check_at = now() where id = ${idle.tripId}`;
      await runMonitor({ trip_id: idle.tripId });
      assert.equal(await tripStatus(idle.tripId), "watching", "still nothing new");
    } finally {
      await setFlag({ name: "auto_booking_kill_switch", enabled: false });
    }
    await makeDue(idle.tripId);
    assert.equal(await driveToEnd(idle.tripId), "booked", "switch off: it books");
  },
);
