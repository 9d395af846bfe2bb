/**
 * The monitor and the booking saga end to end on the local stack: pg_cron's job body ->
 * net.http_post (pg_net stand-in, sent after commit) -> router -> auto-book-monitor -> wasm
 * driver -> fake Duffel / fake Stripe / Upstash lock -> Postgres. Every test uses its own user,
 * route and card; Stripe faults are scoped to the test's trip through the PaymentIntent metadata.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
  DUFFEL,
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
  ordersFor,
  runMonitor,
  seedBooker,
  seedCard,
  stripeFault,
  tripStatus,
} from "./monitor_helpers.ts";

/** A watched trip with an acceptable selected offer, auto-book off until the test turns it on. */
async function watchedTrip(script: Record<string, unknown> = {}, pm = "pm_card_visa") {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({
    ...route,
    currency: "GBP",
    offers: [{ total: "399.00", stops: 0 }],
    ...script,
  });
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const tripId = (res.json.trip as { id: string }).id;
  await seedBooker(user.id, tripId, pm);
  return {
    user,
    route,
    tripId,
    offerId: (res.json.selected_offer as { provider_offer_id: string }).provider_offer_id,
  };
}

async function ledger(tripId: string) {
  const [counts] = await sql()`select
      (select count(*)::int from public.bookings where trip_id = ${tripId}) as bookings,
      (select count(*)::int from public.booking_attempts where trip_id = ${tripId}) as attempts,
      (select count(*)::int from public.booking_attempts where trip_id = ${tripId} and open) as open,
      (select coalesce(array_agg(template order by template), '{}') from public.notifications
        where trip_id = ${tripId} and template <> 'price_alert') as notifications`;
  return counts as { bookings: number; attempts: number; open: number; notifications: string[] };
}

e2eTest("the cron job books a trip whose price dropped, with exactly one capture", async () => {
  const user = await newUser();
  const route = randomRoute();
  // At first everything is over the GBP 420 maximum: the trip is watched, nothing selected.
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "455.00", stops: 0 }] });
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 201);
  assert.equal(res.json.decision, "no_acceptable_offer");
  const tripId = (res.json.trip as { id: string }).id;
  await seedBooker(user.id, tripId);
  // The price drops.
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "389.00", stops: 0 }] });

  let status = "";
  for (let tick = 0; tick < 4 && status !== "booked"; tick++) {
    await makeDue(tripId);
    await sql()`do $$ declare c text; begin
      select command into c from cron.job where jobname = 'auto-book-monitor'; execute c; end $$`;
    // pg_net sends after commit; the run is asynchronous: wait for it to settle.
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const [row] = await sql()`select status, next_check_at > now() as later
        from public.trip_requests where id = ${tripId}`;
      status = row.status;
      if (status === "booked" || row.later) break;
    }
  }
  assert.equal(status, "booked");
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].captures, 1);
  assert.equal(intents[0].amount, 38900);
  assert.deepEqual(await ledger(tripId), {
    bookings: 1,
    attempts: 1,
    open: 0,
    notifications: ["booked"],
  });
  const [booking] = await sql()`select amount_minor, currency from public.bookings
    where trip_id = ${tripId}`;
  assert.deepEqual([Number(booking.amount_minor), booking.currency], [38900, "GBP"]);
  // The run's answer is stored by the pg_net worker once the whole run ends (after the trip's
  // booking, its lock release and the heartbeat): wait for it rather than race it.
  let answered = 0;
  for (let i = 0; i < 40 && answered === 0; i++) {
    const [job] = await sql()`select count(*)::int as n from net._http_response
      where status_code = 200 and content like '%"run_id"%'`;
    answered = job.n;
    if (answered === 0) await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(answered >= 1, "the cron job's HTTP call reached the monitor");
  const events = await sql()`select stage, decision from public.pipeline_events
    where trip_id = ${tripId} order by occurred_at, id`;
  assert.deepEqual(events.at(-1), { stage: "book", decision: "booked" });
});

e2eTest(
  "a card that needs authentication keeps its intent, holds nothing and asks the traveller",
  async () => {
    // Issue 7: the attempt waits for the traveller's 3-D Secure (on_session_payment_test.ts).
    const { tripId } = await watchedTrip({}, "pm_card_authenticationRequired");
    assert.equal(await driveToEnd(tripId, 2), "booking");
    const intents = await intentsFor(tripId);
    assert.equal(intents.length, 1, "one intent, kept for the traveller");
    assert.ok(intents.every((pi) => pi.captures === 0), "nothing captured");
    assert.ok(intents.every((pi) => pi.status !== "requires_capture"), "no hold");
    const l = await ledger(tripId);
    assert.equal(l.bookings, 0);
    assert.equal(l.open, 1);
    assert.deepEqual(l.notifications, ["payment_needs_attention"]);
  },
);

e2eTest("a declined card asks the traveller to act, with no retry loop", async () => {
  const { tripId } = await watchedTrip({}, "pm_card_chargeDeclined");
  assert.equal(await driveToEnd(tripId), "needs_traveller");
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1, "one authorization attempt, not a loop");
  assert.equal(intents[0].captures, 0);
  // The monitor leaves it alone afterwards.
  await makeDue(tripId);
  await runMonitor({ trip_id: tripId });
  assert.equal(await tripStatus(tripId), "needs_traveller");
  assert.equal((await intentsFor(tripId)).length, 1);
});

e2eTest("an order refused by the airline releases the hold and fails the trip", async () => {
  const { tripId, offerId } = await watchedTrip({
    order: { status: 422, code: "insufficient_balance" },
  });
  assert.equal(await driveToEnd(tripId), "failed");
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].captures, 0);
  assert.equal(intents[0].status, "canceled", "the authorization was released");
  assert.equal((await ordersFor([offerId])).length, 0);
  const l = await ledger(tripId);
  assert.equal(l.bookings, 0);
  assert.deepEqual(l.notifications, ["could_not_book"]);
});

e2eTest("a booking's money steps ride the monitor's group commit (app.monitor_batch)", async () => {
  const { tripId } = await watchedTrip();
  await makeDue(tripId);
  const run = await runMonitor({ trip_id: tripId });
  assert.equal(run.status, 200, JSON.stringify(run.json));
  assert.equal(await tripStatus(tripId), "booked");
  const cost = run.json.cost as {
    batched_calls: number;
    batches: number;
    sql_transactions: number;
  };
  // The begin, the order's mark, the capture's mark and the closing write; one trip in the run,
  // so each batch carries one call (its driver waits for each answer before the next request).
  assert.equal(cost.batched_calls, 4, JSON.stringify(cost));
  assert.equal(cost.batches, 4);
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].captures, 1);
  assert.deepEqual(await ledger(tripId), {
    bookings: 1,
    attempts: 1,
    open: 0,
    notifications: ["booked"],
  });
});

e2eTest("a lost order response is reconciled, never re-sent: one order, one capture", async () => {
  const { tripId, offerId } = await watchedTrip({ order: { lose_response: true, times: 1 } });
  assert.equal(await driveToEnd(tripId), "booked");
  assert.equal((await ordersFor([offerId])).length, 1);
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].captures, 1);
  assert.equal((await ledger(tripId)).bookings, 1);
});

e2eTest("a failing capture is retried with its idempotency key until it lands once", async () => {
  const { tripId } = await watchedTrip();
  await stripeFault({
    endpoint: "capture",
    fault: "500",
    store: false,
    metadata: { trip_id: tripId },
  });
  await stripeFault({ endpoint: "capture", fault: "lose_response", metadata: { trip_id: tripId } });
  assert.equal(await driveToEnd(tripId, 10), "booked");
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].captures, 1);
});

e2eTest("a price above the maximum at re-price keeps watching without charging", async () => {
  // The one re-price before any authorization (priced once) finds the offer dearer.
  const { tripId } = await watchedTrip({ reprice: ["430.00"] });
  await makeDue(tripId);
  const run = await runMonitor({ trip_id: tripId });
  assert.equal(run.status, 200);
  assert.equal(await tripStatus(tripId), "watching");
  assert.equal((await intentsFor(tripId)).length, 0);
  const [event] = await sql()`select stage, reason_code from public.pipeline_events
    where trip_id = ${tripId} order by occurred_at desc, id desc limit 1`;
  assert.equal(event.reason_code, "over_budget");
});

e2eTest("the kill switch stops booking", async () => {
  const { tripId } = await watchedTrip();
  await sql()`update public.pipeline_settings set monitor_enabled = false`;
  try {
    await makeDue(tripId);
    const run = await runMonitor({ trip_id: tripId });
    assert.equal(run.status, 200);
    assert.equal(run.json.enabled, false);
    assert.equal(run.json.claimed, 0);
    assert.equal(await tripStatus(tripId), "watching");
    assert.equal((await intentsFor(tripId)).length, 0);
  } finally {
    await sql()`update public.pipeline_settings set monitor_enabled = true`;
  }
  assert.equal(await driveToEnd(tripId), "booked");
});

e2eTest(
  "a paused monitor still finishes an attempt that holds money, and starts none",
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
    await sql()`update public.pipeline_settings set monitor_enabled = false`;
    try {
      await makeDue(idle.tripId);
      // Wait out the capture's retry backoff, then let paused runs finish the attempt.
      let status = "booking";
      for (let i = 0; i < 20 && status === "booking"; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const run = await runMonitor();
        assert.equal(run.json.enabled, false);
        status = await tripStatus(holding.tripId);
      }
      assert.equal(status, "booked", "the hold was captured while paused");
      assert.equal((await intentsFor(holding.tripId))[0].captures, 1);
      assert.equal(await tripStatus(idle.tripId), "watching", "nothing new started while paused");
      assert.equal((await intentsFor(idle.tripId)).length, 0);
    } finally {
      await sql()`update public.pipeline_settings set monitor_enabled = true`;
    }
  },
);

e2eTest("only the service may call the monitor", async () => {
  const none = await runMonitor({}, null);
  assert.equal(none.status, 401);
  assert.equal(none.json.code, "unauthorized");
  const user = await newUser();
  const asUser = await runMonitor({}, user.jwt);
  assert.equal(asUser.status, 401);
  const bad = await runMonitor({ trip_id: "nope" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, "invalid_trip_id");
});

e2eTest(
  "two monitors started together on the same 50 due trips book each exactly once",
  async () => {
    const trips: { tripId: string; offerId: string }[] = [];
    for (let i = 0; i < 50; i++) trips.push(await watchedTrip());
    const ids = trips.map((t) => t.tripId);
    const [saved] =
      await sql()`select batch_size, provider_call_budget from public.pipeline_settings`;
    await sql()`update public.pipeline_settings set batch_size = 100, provider_call_budget = 1000`;
    try {
      await sql()`update public.trip_requests set auto_book = true, next_check_at = now()
      where id = any(${ids}::uuid[])`;
      const [a, b] = await Promise.all([runMonitor(), runMonitor()]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      // Whatever one run left (locked by the other, or over budget) the next runs finish.
      for (let i = 0; i < 5; i++) {
        const [{ n }] = await sql()`select count(*)::int as n from public.trip_requests
        where id = any(${ids}::uuid[]) and status <> 'booked'`;
        if (n === 0) break;
        await sql()`update public.trip_requests set next_check_at = now()
        where id = any(${ids}::uuid[]) and status <> 'booked'`;
        await Promise.all([runMonitor(), runMonitor()]);
      }
    } finally {
      await sql()`update public.pipeline_settings set batch_size = ${saved.batch_size},
      provider_call_budget = ${saved.provider_call_budget}`;
    }
    const rows = await sql()`select t.status, (select count(*)::int from public.bookings b
      where b.trip_id = t.id) as bookings from public.trip_requests t where t.id = any(${ids}::uuid[])`;
    assert.ok(rows.every((r) => r.status === "booked"), "every trip booked");
    assert.ok(rows.every((r) => r.bookings === 1), "exactly one booking per trip");
    let captures = 0;
    for (const t of trips) {
      const intents = await intentsFor(t.tripId);
      assert.ok(intents.every((pi) => pi.captures <= 1));
      captures += intents.reduce((s, pi) => s + pi.captures, 0);
      assert.equal((await ordersFor([t.offerId])).length, 1, "one order per trip");
    }
    assert.equal(captures, 50, "one capture per trip, no duplicates");
    await closeSql();
  },
);

/** The fake Duffel's `POST /air/offer_requests` for exactly this route. */
async function offerRequestsFor(route: { origin: string; destination: string }): Promise<number> {
  const log = await (await fetch(`${DUFFEL}/_fake/requests?path=/air/offer_requests`)).json();
  const entries = (Array.isArray(log) ? log : log.data) as { method: string; body: unknown }[];
  return entries.filter((e) => e.method === "POST")
    .map((e) => (typeof e.body === "string" ? JSON.parse(e.body) : e.body))
    .filter((b) =>
      b?.data?.slices?.[0]?.origin === route.origin &&
      b?.data?.slices?.[0]?.destination === route.destination
    ).length;
}

e2eTest(
  "an offer gone at order time is never authorized again: the hold is released and a fresh search books",
  async () => {
    const { tripId, offerId, route } = await watchedTrip({
      order: { status: 422, code: "offer_no_longer_available", times: 1 },
    });
    assert.equal(await offerRequestsFor(route), 1);
    assert.equal(await driveToEnd(tripId), "booked");
    assert.equal(await offerRequestsFor(route), 2, "a fresh search after the airline said gone");
    const [dead] = await sql()`select dead_at is not null as dead from public.flight_offers
      where trip_id = ${tripId} and provider_offer_id = ${offerId}`;
    assert.equal(dead.dead, true, "the offer is marked dead");
    const attempts = await sql()`select state ->> 'offer_id' as offer, payment_intent
      from public.booking_attempts where trip_id = ${tripId} order by created_at`;
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0].offer, offerId);
    assert.notEqual(attempts[1].offer, offerId, "the second attempt books another offer");
    const intents = await intentsFor(tripId);
    assert.equal(intents.length, 2, "one hold on the dead offer, one on the new one");
    assert.deepEqual(intents.map((pi) => pi.status).sort(), ["canceled", "succeeded"]);
    assert.equal(intents.reduce((n, pi) => n + pi.captures, 0), 1);
    assert.equal((await ordersFor([offerId])).length, 0);
    assert.equal((await ledger(tripId)).bookings, 1);
  },
);

e2eTest(
  "many 'process this trip now' triggers for the same trips do not delay them: all book once",
  async () => {
    const trips: { tripId: string; offerId: string }[] = [];
    for (let i = 0; i < 10; i++) trips.push(await watchedTrip());
    const ids = trips.map((t) => t.tripId);
    const [saved] =
      await sql()`select batch_size, provider_call_budget from public.pipeline_settings`;
    await sql()`update public.pipeline_settings set batch_size = 100, provider_call_budget = 1000`;
    try {
      await sql()`update public.trip_requests set auto_book = true, next_check_at = now()
        where id = any(${ids}::uuid[])`;
      // One scheduled run and 4 triggers per trip, all at once: one round.
      const calls = [runMonitor()];
      for (let n = 0; n < 4; n++) for (const id of ids) calls.push(runMonitor({ trip_id: id }));
      const runs = await Promise.all(calls);
      assert.ok(
        runs.every((r) => r.status === 200),
        JSON.stringify(runs.find((r) => r.status !== 200)),
      );
    } finally {
      await sql()`update public.pipeline_settings set batch_size = ${saved.batch_size},
        provider_call_budget = ${saved.provider_call_budget}`;
    }
    const rows = await sql()`select t.status, (select count(*)::int from public.bookings b
      where b.trip_id = t.id) as bookings from public.trip_requests t where t.id = any(${ids}::uuid[])`;
    assert.deepEqual(
      rows.map((r) => r.status),
      ids.map(() => "booked"),
      "every trip booked in the round the triggers came in",
    );
    assert.ok(rows.every((r) => r.bookings === 1), "exactly one booking per trip");
    for (const t of trips) {
      const intents = await intentsFor(t.tripId);
      assert.equal(intents.length, 1, "one authorization per trip");
      assert.equal(intents[0].captures, 1);
      assert.equal((await ordersFor([t.offerId])).length, 1, "one order per trip");
    }
  },
);

e2eTest("trip-search with auto-book on hands the trip to the monitor at once", async () => {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "399.00", stops: 0 }] });
  // Auto-booking needs a saved card and a consent before the trip is created.
  await seedCard(user.id);
  const created = await callSearch(tripBody(route, { auto_book: true }), user.jwt);
  assert.equal(created.status, 201);
  const tripId = (created.json.trip as { id: string }).id;
  // The immediate run finds no passenger details yet: the trip keeps watching.
  let reasons: string[] = [];
  const missing = (r: string) => r === "travelers_missing" || r === "payment_profile_missing";
  for (let i = 0; i < 50 && !reasons.some(missing); i++) {
    await new Promise((r) => setTimeout(r, 100));
    reasons = (await sql()`select reason_code from public.pipeline_events
      where trip_id = ${tripId} and stage = 'monitor'`).map((e) => e.reason_code);
  }
  assert.ok(reasons.some(missing), "the triggered run looked at the trip");
  assert.equal(await tripStatus(tripId), "watching");
  await seedBooker(user.id, tripId);
  // Searching it again (details now on file) triggers the monitor without waiting for a tick.
  const again = await callSearch({ trip_id: tripId }, user.jwt);
  assert.equal(again.status, 200);
  let status = "watching";
  for (let i = 0; i < 40 && status !== "booked"; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = await tripStatus(tripId);
  }
  assert.equal(status, "booked");
  assert.equal((await intentsFor(tripId))[0].captures, 1);
});

e2eTest("(close the database pool)", async () => {
  await closeSql();
});
