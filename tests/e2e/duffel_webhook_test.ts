/**
 * duffel-webhook through the router, with events the fake Duffel emits and signs for a real fake
 * order: a schedule change of a booked trip is recorded and enqueues one notification even when
 * delivered twice and out of order; an airline cancellation cancels the booking with an operator
 * alert; bad signatures (missing, malformed, wrong secret, stale, replayed with a fresh-looking
 * timestamp) get 400 and store nothing.
 */
import assert from "node:assert/strict";
import {
  closeSql,
  DUFFEL,
  e2eTest,
  env,
  FUNCTIONS,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

const HOOK = `${FUNCTIONS}/duffel-webhook`;
const SECRET = env.DUFFEL_WEBHOOK_SECRET;

async function fake(method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${DUFFEL}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** A real order in the fake Duffel and a booked trip whose booking names it. */
async function bookedTrip(): Promise<{ trip: string; booking: string; order: string }> {
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "399.00", stops: 0 }] });
  const duffel = {
    authorization: `Bearer ${env.DUFFEL_ACCESS_TOKEN}`,
    "duffel-version": "v2",
    accept: "application/json",
    "content-type": "application/json",
  };
  const trip = tripBody(route);
  const orq = await (await fetch(`${DUFFEL}/air/offer_requests?return_offers=true`, {
    method: "POST",
    headers: duffel,
    body: JSON.stringify({
      data: {
        slices: [{
          origin: route.origin,
          destination: route.destination,
          departure_date: trip.departure_date,
        }],
        passengers: [{ type: "adult" }],
        cabin_class: "economy",
      },
    }),
  })).json();
  const offer = orq.data.offers[0];
  const orderRes = await fetch(`${DUFFEL}/air/orders`, {
    method: "POST",
    headers: duffel,
    body: JSON.stringify({
      data: {
        type: "instant",
        selected_offers: [offer.id],
        passengers: [{
          id: offer.passengers[0].id,
          title: "ms",
          gender: "f",
          given_name: "Test",
          family_name: "Traveller",
          born_on: "1990-01-01",
          email: "t@example.test",
          phone_number: "+442080160509",
        }],
        payments: [{ type: "balance", amount: offer.total_amount, currency: offer.total_currency }],
      },
    }),
  });
  const order = (await orderRes.json()).data;
  assert.equal(orderRes.status, 201, JSON.stringify(order));

  const user = await newUser();
  const db = sql();
  const [t] = await db`
    insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
      max_total_minor, currency)
    values (${user.id}, ${route.origin}, ${route.destination}, ${trip.departure_date as string}, 1,
      'economy', 42000, 'GBP')
    returning id`;
  const attempt = crypto.randomUUID();
  const state = {
    schema_version: 1,
    attempt_id: attempt,
    trip_id: t.id,
    offer_id: offer.id,
    max_total: { amount_minor: 42000, currency: "GBP" },
    customer: "cus_test",
    payment_method: "pm_test",
    seed: 7,
    version: 1,
    phase: { name: "closed", end: "booked" },
    in_flight: false,
    tries: 0,
    not_before: null,
    amount: null,
    passenger_ids: [],
    payment_intent: null,
    order: null,
    check_intent: false,
    key_generation: 0,
    lookup_misses: 0,
    reason: null,
    started_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
  await db`
    insert into public.booking_attempts (id, trip_id, state, version, open, phase)
    values (${attempt}, ${t.id}, ${db.json(state)}, 1, false, 'closed')`;
  const [b] = await db`
    insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference,
      amount_minor, currency)
    values (${t.id}, ${attempt}, ${order.id}, ${order.booking_reference}, 39900, 'GBP')
    returning id`;
  return { trip: t.id, booking: b.id, order: order.id };
}

async function emit(type: string, order: string, deliver = true): Promise<Json> {
  return (await fake("POST", "/_fake/webhooks/events", { type, order_id: order, deliver })).data;
}

async function redeliver(eventId: string): Promise<Json> {
  return (await fake("POST", `/_fake/webhooks/events/${eventId}/deliver`)).data.delivery;
}

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message)),
  );
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function post(
  body: string,
  signature: string | null,
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature !== null) headers["x-duffel-signature"] = signature;
  const res = await fetch(HOOK, { method: "POST", headers, body });
  return { status: res.status, json: await res.json() };
}

e2eTest(
  "duffel-webhook: a schedule change delivered twice and out of order notifies once",
  async () => {
    const { trip, booking, order } = await bookedTrip();
    // order.created is emitted first but delivered last; the change is delivered twice.
    const created = await emit("order.created", order, false);
    const change = await emit("order.airline_initiated_change_detected", order);
    assert.equal(change.delivery.status, 200, JSON.stringify(change.delivery));
    assert.deepEqual(change.delivery.body, {
      received: true,
      event_id: change.event.id,
      type: "order.airline_initiated_change_detected",
      duplicate: false,
      outcome: "notified",
    });
    const again = await redeliver(change.event.id);
    assert.equal(again.status, 200);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.outcome, "notified");
    const late = await redeliver(created.event.id);
    assert.equal(late.status, 200);
    assert.equal(late.body.outcome, "recorded");

    const db = sql();
    const notes = await db`
    select template, dedupe_key, status from public.notifications
    where trip_id = ${trip} and template = 'schedule_changed'`;
    assert.equal(notes.length, 1, "one notification for two deliveries");
    assert.equal(notes[0].dedupe_key, `duffel:${change.event.id.replaceAll("_", ".")}`);
    assert.equal(notes[0].status, "pending");
    const events = await db`
    select id, kind, outcome, booking_id from public.duffel_webhook_events
    where order_id = ${order} order by received_at`;
    assert.deepEqual(events.map((e) => [e.id, e.kind, e.outcome, e.booking_id]), [
      [change.event.id, "schedule_changed", "notified", booking],
      [created.event.id, "order_created", "recorded", booking],
    ]);
    const log = await db`
    select decision from public.pipeline_events
    where trip_id = ${trip} and stage = 'duffel_webhook' order by id`;
    assert.deepEqual(log.map((r) => r.decision), ["schedule_changed", "order_created"]);
  },
);

e2eTest(
  "duffel-webhook: an airline cancellation cancels the booking and alerts operators",
  async () => {
    const { trip, booking, order } = await bookedTrip();
    const cancel = await emit("order.cancelled", order);
    assert.equal(cancel.delivery.status, 200, JSON.stringify(cancel.delivery));
    assert.equal(cancel.delivery.body.outcome, "booking_cancelled");
    const change = await emit("order.airline_initiated_change_detected", order);
    assert.equal(change.delivery.body.outcome, "booking_cancelled");
    const db = sql();
    const [b] = await db`select status from public.bookings where id = ${booking}`;
    assert.equal(b.status, "cancelled");
    const alerts = await db`
    select reason_code from public.pipeline_events
    where trip_id = ${trip} and decision = 'operator_alert'`;
    assert.deepEqual(alerts.map((a) => a.reason_code), ["airline_cancelled"]);
    const notes = await db`select 1 from public.notifications where trip_id = ${trip}`;
    assert.equal(notes.length, 0, "no schedule-change mail for a cancelled booking");
  },
);

e2eTest("duffel-webhook: an event for an order we do not know is acknowledged", async () => {
  const body = JSON.stringify({
    id: `wev_0000e2e${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`,
    api_version: "v2",
    type: "order.created",
    data: { object: { id: "ord_0000notoursatall" } },
    live_mode: false,
    created_at: new Date().toISOString(),
  });
  const t = Math.floor(Date.now() / 1000);
  const r = await post(body, `t=${t},v1=${await hmacHex(SECRET, `${t}.${body}`)}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, "unknown_order");
  const unknown = JSON.stringify({
    ...JSON.parse(body),
    id: `${JSON.parse(body).id}x`,
    type: "payment.created",
  });
  const u = await post(unknown, `t=${t},v1=${await hmacHex(SECRET, `${t}.${unknown}`)}`);
  assert.equal(u.status, 200);
  assert.equal(u.json.outcome, "ignored");
});

e2eTest("duffel-webhook: bad signatures get 400 and nothing is stored", async () => {
  const { trip, order } = await bookedTrip();
  const id = `wev_0000bad${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const body = JSON.stringify({
    id,
    api_version: "v2",
    type: "order.airline_initiated_change_detected",
    data: { object: { id: "aic_0000x", order_id: order } },
    live_mode: false,
    created_at: new Date().toISOString(),
  });
  const now = Math.floor(Date.now() / 1000);
  const sign = async (t: number, secret = SECRET, b = body) =>
    `t=${t},v1=${await hmacHex(secret, `${t}.${b}`)}`;
  const stale = await sign(now - 600);
  const cases: [string | null, string][] = [
    [null, "signature_missing"],
    ["t=abc,v1=123", "signature_malformed"],
    [`${await sign(now)},v1=${"0".repeat(64)}`, "signature_malformed"],
    [await sign(now, "not-the-secret"), "signature_mismatch"],
    [await sign(now, SECRET, body + " "), "signature_mismatch"],
    [stale, "signature_expired"],
    // The stale delivery replayed with a fresh t but its old v1: t is signed, so it fails.
    [`t=${now},${stale.split(",")[1]}`, "signature_mismatch"],
  ];
  for (const [sig, code] of cases) {
    const r = await post(body, sig);
    assert.equal(r.status, 400, `${code}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, code);
  }
  const db = sql();
  const stored = await db`select 1 from public.duffel_webhook_events where id = ${id}`;
  assert.equal(stored.length, 0, "no event row");
  const notes = await db`select 1 from public.notifications where trip_id = ${trip}`;
  assert.equal(notes.length, 0, "no notification");
  // The same body correctly signed is accepted: the refusals were about the signature only.
  const ok = await post(body, await sign(now));
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.outcome, "notified");
  await closeSql();
});
