/**
 * End to end: a release that Stripe keeps refusing (docs/saga.md, "On-session payment: the races
 * a second reader found", 1). The airline refuses the order, so the saga releases the hold; every
 * cancel meets a 400 `payment_intent_unexpected_state` (the fake answers as if the intent were
 * briefly `processing`) while the intent stays `requires_capture`. The saga reads the intent after
 * each refusal and sends the cancel again under the next key, at most 5 times, then ends the
 * attempt `release_failed`: the trip is `failed` (never back to watching, so no second hold or
 * charge), nothing is captured, the traveller is told the team will return anything held, and the
 * `hold_not_released` operator alert is open.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
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
  STRIPE,
  stripeFault,
  tripStatus,
} from "./monitor_helpers.ts";

const RELEASE_MAX_SENDS = 5;

e2eTest(
  "a cancel Stripe keeps refusing ends release_failed with the hold flagged, never captured",
  async () => {
    const user = await newUser();
    const route = randomRoute();
    await scriptRoute({
      ...route,
      currency: "GBP",
      offers: [{ total: "399.00", stops: 0 }],
      order: { status: 422, code: "insufficient_balance" },
    });
    const res = await callSearch(tripBody(route), user.jwt);
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const tripId = (res.json.trip as { id: string }).id;
    await seedBooker(user.id, tripId);
    for (let i = 0; i < RELEASE_MAX_SENDS; i++) {
      await stripeFault({
        endpoint: "cancel",
        fault: "unexpected_state",
        metadata: { trip_id: tripId },
      });
    }

    assert.equal(await driveToEnd(tripId, 12), "failed");
    const [intent] = await intentsFor(tripId);
    assert.equal((await intentsFor(tripId)).length, 1, "one authorization");
    assert.equal(intent.status, "requires_capture", "the hold is still there (Stripe refused)");
    assert.equal(intent.captures, 0, "never captured without a ticket");

    const requests = (await (await fetch(`${STRIPE}/_fake/requests`)).json()).data as {
      method: string;
      path: string;
      status: number;
      idempotency_key: string | null;
    }[];
    const cancels = requests.filter((r) => r.path === `/v1/payment_intents/${intent.id}/cancel`);
    assert.equal(cancels.length, RELEASE_MAX_SENDS, "bounded: five refused cancels, then it stops");
    assert.ok(cancels.every((c) => c.status === 400));
    assert.equal(
      new Set(cancels.map((c) => c.idempotency_key)).size,
      RELEASE_MAX_SENDS,
      "each re-send under the next key generation",
    );
    const reads = requests.filter((r) =>
      r.method === "GET" && r.path === `/v1/payment_intents/${intent.id}`
    );
    assert.ok(reads.length >= RELEASE_MAX_SENDS - 1, "the intent is read after each refusal");

    const [attempt] = await sql()`select id, open, reason from public.booking_attempts
    where trip_id = ${tripId}`;
    assert.deepEqual([attempt.open, attempt.reason], [false, "release_failed"]);
    const notes = await sql()`select template from public.notifications
    where trip_id = ${tripId} and template <> 'price_alert'`;
    assert.deepEqual(notes.map((n) => n.template), ["could_not_book"]);

    await sql()`select app.alerts_evaluate('{}'::jsonb)`;
    const alerts = await sql()`select rule, resolved_at from public.operator_alerts
    where attempt_id = ${attempt.id} and rule = 'hold_not_released'`;
    assert.equal(alerts.length, 1, "the operator is alerted to the hold");
    assert.equal(alerts[0].resolved_at, null);

    // The monitor leaves the failed trip alone: no new attempt, no second hold.
    await makeDue(tripId);
    await runMonitor({ trip_id: tripId });
    assert.equal(await tripStatus(tripId), "failed");
    assert.equal((await intentsFor(tripId)).length, 1);
  },
);

e2eTest("(close the database pool)", async () => {
  await closeSql();
});
