/**
 * On-session payment end to end (issue 7, item 4): an off-session authorize that needs 3-D
 * Secure keeps its PaymentIntent and the attempt waits for the traveller (saga phase
 * `await_traveller`); the traveller reads the client_secret through `trips {payment}`, the fake
 * Stripe's `/_fake/payment_intents/{id}/authenticate` stands in for Stripe.js completing 3-D
 * Secure in the browser, and `trips {payment_done}` lets the monitor book on that ONE intent.
 * Also: another card (the old intent cancelled before the new authorization), the deadline, a
 * cancel racing the confirmation, and every error code (docs/contracts.md "trips").
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
  seedCard,
  STRIPE,
  stripeFault,
  tripStatus,
} from "./monitor_helpers.ts";
import { call, type Json } from "./user_fn_helpers.ts";

/** A trip whose card needs 3-D Secure, run once: the attempt now waits for the traveller. */
async function awaiting() {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "399.00", stops: 0 }] });
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const tripId = (res.json.trip as { id: string }).id;
  await seedBooker(user.id, tripId, "pm_card_authenticationRequired");
  await makeDue(tripId);
  const run = await runMonitor({ trip_id: tripId });
  assert.equal(run.status, 200, JSON.stringify(run.json));
  assert.equal(await tripStatus(tripId), "booking");
  const [a] = await sql()`select phase, payment_intent, state from public.booking_attempts
    where trip_id = ${tripId} and open`;
  assert.equal(a.phase, "await_traveller");
  assert.equal(a.state.phase.told, true);
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].status, "requires_payment_method", "no money held yet");
  return { user, tripId, pi: a.payment_intent as string };
}

async function notifications(tripId: string): Promise<string[]> {
  const rows = await sql()`select dedupe_key from public.notifications
    where trip_id = ${tripId} and template = 'payment_needs_attention' order by dedupe_key`;
  return rows.map((r) => String(r.dedupe_key).replace(/^[0-9a-f-]{36}-/, ""));
}

/** The traveller's browser: Stripe.js confirmCardPayment + the 3-D Secure challenge. */
async function authenticate(pi: string, clientSecret: string, outcome = "succeed") {
  const res = await fetch(`${STRIPE}/_fake/payment_intents/${pi}/authenticate`, {
    method: "POST",
    body: JSON.stringify({ client_secret: clientSecret, outcome }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.payment_intent;
}

e2eTest("3-D Secure on-session: confirm, then booked on ONE PaymentIntent", async () => {
  const { user, tripId, pi } = await awaiting();
  assert.deepEqual(await notifications(tripId), ["authentication_required"]);

  const details = await call("trips", { action: "payment", trip_id: tripId }, user.jwt);
  assert.equal(details.status, 200, JSON.stringify(details.json));
  const p = details.json.payment;
  assert.equal(p.payment_intent, pi);
  assert.ok(String(p.client_secret).startsWith(`${pi}_secret_`));
  assert.deepEqual([p.amount_minor, p.currency], [39900, "GBP"]);
  assert.ok(Date.parse(p.deadline) > Date.now() + 23 * 3600_000);
  const listed = await call("trips", { action: "get", trip_id: tripId }, user.jwt);
  assert.equal(listed.json.trip.attempt.phase, "await_traveller");

  // A failed challenge first: nothing moves; the traveller tries again.
  await authenticate(pi, p.client_secret, "fail");
  const early = await call("trips", { action: "payment_done", trip_id: tripId }, user.jwt);
  assert.equal(early.status, 202);
  await runMonitor({ trip_id: tripId });
  assert.equal(await tripStatus(tripId), "booking");
  const held = await authenticate(pi, p.client_secret);
  assert.equal(held.status, "requires_capture");

  const done = await call("trips", { action: "payment_done", trip_id: tripId }, user.jwt);
  assert.deepEqual([done.status, done.json.outcome], [202, "checking"]);
  assert.equal(await driveToEnd(tripId), "booked");
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1, "one PaymentIntent, no second hold");
  assert.deepEqual([intents[0].id, intents[0].status, intents[0].captures], [pi, "succeeded", 1]);
  const [b] = await sql()`select amount_minor from public.bookings where trip_id = ${tripId}`;
  assert.equal(Number(b.amount_minor), 39900);
  const after = await call("trips", { action: "payment", trip_id: tripId }, user.jwt);
  assert.deepEqual([after.status, after.json.code], [409, "no_payment_pending"]);
});

e2eTest("Stripe's webhook wakes the waiting attempt before the traveller says done", async () => {
  const { user, tripId, pi } = await awaiting();
  await sql()`update public.trip_requests set next_check_at = now() + interval '15 minutes'
    where id = ${tripId}`;
  const details = await call("trips", { action: "payment", trip_id: tripId }, user.jwt);
  await authenticate(pi, details.json.payment.client_secret);
  // The fake Stripe delivers payment_intent.amount_capturable_updated, signed, to stripe-webhook.
  let woken = false;
  for (let i = 0; i < 40 && !woken; i++) {
    const [row] = await sql()`select count(*)::int as n from public.stripe_webhook_events
      where object_id = ${pi} and outcome = 'attempt_woken'`;
    woken = row.n === 1;
    if (!woken) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(woken, "the webhook woke the attempt");
  const [t] = await sql()`select next_check_at <= now() as due from public.trip_requests
    where id = ${tripId}`;
  assert.equal(t.due, true, "the trip is due now");
  const run = await runMonitor({ trip_id: tripId });
  assert.equal(run.status, 200);
  assert.equal(await tripStatus(tripId), "booked");
  assert.equal((await intentsFor(tripId)).length, 1);
  // "Done" after the booking is too late, and harmless.
  const late = await call("trips", { action: "payment_done", trip_id: tripId }, user.jwt);
  assert.deepEqual([late.status, late.json.code], [409, "no_payment_pending"]);
});

e2eTest(
  "another card: the waiting intent is cancelled before the new card is authorized",
  async () => {
    const { user, tripId, pi } = await awaiting();
    const same = await call("trips", { action: "use_another_card", trip_id: tripId }, user.jwt);
    assert.deepEqual([same.status, same.json.code], [409, "same_card"]);
    await sql()`update public.payment_profiles set stripe_payment_method_id = null
    where owner_id = ${user.id}`;
    const none = await call("trips", { action: "use_another_card", trip_id: tripId }, user.jwt);
    assert.deepEqual([none.status, none.json.code], [403, "auto_book_needs_card"]);
    await seedCard(user.id, "pm_card_visa");

    const sw = await call("trips", { action: "use_another_card", trip_id: tripId }, user.jwt);
    assert.deepEqual([sw.status, sw.json.outcome], [202, "switching_card"]);
    assert.equal(await driveToEnd(tripId), "booked");
    const intents = await intentsFor(tripId);
    assert.equal(intents.length, 2);
    assert.deepEqual([intents[0].id, intents[0].status, intents[0].captures], [pi, "canceled", 0]);
    assert.deepEqual([intents[1].status, intents[1].captures], ["succeeded", 1]);
    const [a] = await sql()`select reason from public.booking_attempts
    where trip_id = ${tripId} and payment_intent = ${pi}`;
    assert.equal(a.reason, "payment_method_changed");
  },
);

e2eTest("the deadline passes: the intent is cancelled and the traveller told", async () => {
  const { user, tripId, pi } = await awaiting();
  // Time passes (the deadline is the saga's; move it into the past as 24 hours would).
  await sql()`update public.booking_attempts
    set state = jsonb_set(jsonb_set(state, '{phase,deadline}',
      to_jsonb(app.rfc3339(now() - interval '1 minute'))), '{version}', to_jsonb(version + 1))
    where trip_id = ${tripId} and open`;
  await makeDue(tripId);
  await runMonitor({ trip_id: tripId });
  assert.equal(await tripStatus(tripId), "needs_traveller");
  const intents = await intentsFor(tripId);
  assert.deepEqual(intents.map((i) => [i.id, i.status]), [[pi, "canceled"]]);
  assert.deepEqual(await notifications(tripId), [
    "authentication_required",
    "payment_needs_attention",
  ]);
  const [a] =
    await sql()`select reason, open from public.booking_attempts where trip_id = ${tripId}`;
  assert.deepEqual([a.reason, a.open], ["authentication_expired", false]);
  const late = await call("trips", { action: "payment_done", trip_id: tripId }, user.jwt);
  assert.deepEqual([late.status, late.json.code], [409, "no_payment_pending"]);
});

e2eTest("a cancel racing the confirmation releases the hold: nothing charged", async () => {
  const { user, tripId, pi } = await awaiting();
  const details = await call("trips", { action: "payment", trip_id: tripId }, user.jwt);
  await authenticate(pi, details.json.payment.client_secret);
  // The hold exists, and the traveller cancels before the monitor sees it.
  const cancel = await call("trips", { action: "cancel", trip_id: tripId }, user.jwt);
  assert.deepEqual([cancel.status, cancel.json.outcome], [202, "cancel_pending"]);
  assert.equal(cancel.json.attempt.will, "release");
  const done = await call("trips", { action: "payment_done", trip_id: tripId }, user.jwt);
  assert.deepEqual([done.status, done.json.code], [409, "no_payment_pending"]);
  assert.equal(await driveToEnd(tripId), "cancelled");
  const intents = await intentsFor(tripId);
  assert.deepEqual(intents.map((i) => [i.id, i.status, i.captures]), [[pi, "canceled", 0]]);
  const [n] = await sql()`select count(*)::int as n from public.bookings where trip_id = ${tripId}`;
  assert.equal(n.n, 0);
});

e2eTest("payment actions: every error code, another user's trip reads as missing", async () => {
  const { user, tripId, pi } = await awaiting();
  const other = await newUser();
  for (const action of ["payment", "payment_done", "use_another_card"]) {
    const foreign = await call("trips", { action, trip_id: tripId }, other.jwt);
    assert.deepEqual([foreign.status, foreign.json.code], [404, "not_found"], action);
    const missing = await call("trips", { action, trip_id: crypto.randomUUID() }, user.jwt);
    assert.deepEqual([missing.status, missing.json.code], [404, "not_found"], action);
    const bad = await call("trips", { action, trip_id: "nope" }, user.jwt);
    assert.equal(bad.status, 400, action);
    const anon = await call("trips", { action, trip_id: tripId }, null);
    assert.equal(anon.status, 401, action);
  }
  const extra = await call("trips", { action: "payment", trip_id: tripId, pi }, user.jwt);
  assert.equal(extra.status, 400);
  assert.equal(
    (extra.json.fields as Json[]).map((f) => `${f.field}:${f.code}`).join(),
    "pi:unknown_field",
  );
  // Stripe failing while the client_secret is read: 502, nothing stored changes.
  await stripeFault({ endpoint: "retrieve", fault: "500", payment_intent: pi });
  const down = await call("trips", { action: "payment", trip_id: tripId }, user.jwt);
  assert.deepEqual([down.status, down.json.code], [502, "payment_provider_unavailable"]);
  const again = await call("trips", { action: "payment", trip_id: tripId }, user.jwt);
  assert.equal(again.status, 200);
  // A watching trip with no attempt has nothing to confirm.
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "455.00", stops: 0 }] });
  const res = await callSearch(tripBody(route), user.jwt);
  const idle = await call("trips", {
    action: "payment",
    trip_id: (res.json.trip as { id: string }).id,
  }, user.jwt);
  assert.deepEqual([idle.status, idle.json.code], [409, "no_payment_pending"]);
});

e2eTest("on-session payment: close the pool", async () => {
  await closeSql();
});
