/**
 * End-to-end: GDPR erasure and export (issue 8 items 3, 4, 6) through the `privacy` and
 * `privacy-operator` functions against the running stack: a person is created, books (card
 * through a SetupIntent, consent, traveller, the monitor, the confirmation email), exports and
 * is erased; then no trace of their name, email, phone or birth date is left in any table or
 * Redis key, the accounting rows are kept under a tombstone, the Stripe customer is deleted with
 * an idempotency key. Also: an attempt holding money makes the erasure wait (409, Retry-After)
 * and is not touched by it, and meanwhile no card set-up or traveller profile is accepted (409
 * erasure_in_progress); an erasure interrupted at the Stripe step resumes; a user deleted outside
 * the erasure keeps the accounting under a tombstone and the resume deletes their Stripe
 * customer; the export holds the caller's data only.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
  e2eTest,
  env,
  FUNCTIONS,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import { driveToEnd, makeDue, STRIPE, stripeFault } from "./monitor_helpers.ts";
import { ERASED_PERSON, ERASED_VALUES } from "./personal_data.ts";
import { databaseHits, redisHits, redisKeys } from "./privacy_scan.ts";
import { attemptState, call, type Json } from "./user_fn_helpers.ts";

const SERVICE_KEY = env.SUPABASE_SECRET_KEY ?? JSON.parse(env.SUPABASE_SECRET_KEYS).default;

async function stripe(path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${STRIPE}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return await res.json();
}

async function privacy(body: unknown, jwt: string) {
  const res = await fetch(`${FUNCTIONS}/privacy`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${jwt}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: JSON.parse(text) as Json };
}

async function operator(body: unknown, key: string | null = SERVICE_KEY) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (key) headers.apikey = key;
  const res = await fetch(`${FUNCTIONS}/privacy-operator`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() as Json };
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await read();
  for (let i = 0; i < 80 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

/** A user with a card saved through a SetupIntent (fake Stripe customer) and a consent. */
async function userWithCardAndConsent() {
  const user = await newUser();
  const setup = await call("payment-methods", { action: "setup" }, user.jwt);
  assert.equal(setup.status, 200, JSON.stringify(setup.json));
  await stripe(`/_fake/setup_intents/${setup.json.setup_intent}/confirm`, {
    payment_method: "pm_card_visa",
  });
  await eventually(
    async () =>
      (await sql()`select stripe_payment_method_id as pm from public.payment_profiles
        where owner_id = ${user.id}`)[0]?.pm ?? null,
    (v) => v !== null,
  );
  const text = await call("payment-methods", {
    action: "consent_text",
    max_amount_minor: 50000,
    currency: "GBP",
  }, user.jwt);
  assert.equal(text.status, 200, JSON.stringify(text.json));
  const consent = await call("payment-methods", {
    action: "consent",
    max_amount_minor: 50000,
    currency: "GBP",
    text: text.json.text,
  }, user.jwt);
  assert.equal(consent.status, 201, JSON.stringify(consent.json));
  return { ...user, customer: setup.json.customer as string };
}

e2eTest("a person books, exports and is erased: no trace left, accounting kept", async () => {
  // A run that failed half-way may have left the person's account behind.
  await sql()`delete from auth.users where email = ${ERASED_PERSON.email}`;
  const user = await userWithCardAndConsent();
  await sql()`update auth.users set email = ${ERASED_PERSON.email} where id = ${user.id}`;
  const created = await call("travelers", { action: "create", traveler: ERASED_PERSON }, user.jwt);
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "389.00", stops: 0 }] });
  const search = await callSearch(tripBody(route), user.jwt);
  assert.equal(search.status, 201, JSON.stringify(search.json));
  const tripId = (search.json.trip as { id: string }).id;
  const attached = await call("travelers", {
    action: "attach",
    trip_id: tripId,
    traveler_ids: [created.json.traveler.id],
  }, user.jwt);
  assert.equal(attached.status, 200, JSON.stringify(attached.json));
  await makeDue(tripId);
  assert.equal(await driveToEnd(tripId), "booked");
  // The confirmation email goes out (its request is stored encrypted, then cleared).
  const [n] = await sql()`select id from public.notifications
    where trip_id = ${tripId} and template = 'booked'`;
  await fetch(`${FUNCTIONS}/notify-dispatch`, {
    method: "POST",
    headers: { "Content-Type": "application/json", apikey: SERVICE_KEY },
    body: JSON.stringify({ notification_id: n.id }),
  }).then((r) => r.body?.cancel());
  assert.ok((await redisKeys(`rl:*:${user.id}:*`)).length > 0, "the rate limit wrote keys");

  // Another user's data, which the export must never show.
  const other = await newUser();
  const otherRoute = randomRoute();
  await scriptRoute({ ...otherRoute, currency: "GBP", offers: [{ total: "455.00", stops: 0 }] });
  const otherTrip = await callSearch(tripBody(otherRoute), other.jwt);
  const otherTripId = (otherTrip.json.trip as { id: string }).id;

  // Export ------------------------------------------------------------------------------------
  const exported = await privacy({ action: "export" }, user.jwt);
  assert.equal(exported.status, 200);
  assert.equal(exported.headers.get("content-type"), "application/json");
  const doc = exported.json;
  assert.equal(doc.format, "parker-flight-export/1");
  for (
    const section of [
      "account",
      "profiles",
      "consents",
      "payment_profile",
      "trips",
      "price_history",
      "offers",
      "bookings",
      "payments",
      "decision_log",
      "notifications",
      "erasure",
    ]
  ) assert.ok(Array.isArray(doc[section]), `section ${section}`);
  assert.equal(doc.account[0].email, ERASED_PERSON.email);
  assert.equal(doc.profiles[0].given_name, ERASED_PERSON.given_name, "profiles are decrypted");
  assert.equal(doc.profiles[0].born_on, ERASED_PERSON.born_on);
  assert.equal(doc.consents.length, 1);
  assert.equal(doc.payment_profile[0].stripe_customer_id, user.customer);
  assert.deepEqual(doc.trips.map((t: Json) => t.id), [tripId]);
  assert.ok(doc.price_history.length >= 1, "the price history");
  assert.ok(doc.offers.some((o: Json) => o.trip_id === tripId), "the offers kept");
  assert.equal(doc.bookings.length, 1);
  assert.equal(doc.payments.length, 1);
  assert.equal(doc.payments[0].amount_minor, 38900);
  assert.match(doc.payments[0].payment_intent, /^pi_/);
  assert.ok(doc.decision_log.length >= 2);
  assert.ok(
    doc.notifications.some((x: Json) =>
      x.template === "booked" && x.status === "sent" && /^Your flight is booked/.test(x.subject)
    ),
    "notifications with their subjects",
  );
  assert.ok(!exported.text.includes(otherTripId), "another user's trip is not exported");
  assert.ok(!exported.text.includes(other.id), "nor their id");

  // Erase -------------------------------------------------------------------------------------
  const [booking] = await sql()`select id from public.bookings where trip_id = ${tripId}`;
  assert.ok((await databaseHits(ERASED_VALUES)).length > 0, "the scan sees the person before");
  const erased = await privacy({ action: "erase" }, user.jwt);
  assert.equal(erased.status, 200, JSON.stringify(erased.json));
  assert.equal(erased.json.erasure.status, "done");
  const erasureId = erased.json.erasure.id as string;

  const deletes = (await stripe("/_fake/requests")).data.filter((r: Json) =>
    r.method === "DELETE" && r.path === `/v1/customers/${user.customer}`
  );
  assert.equal(deletes.length, 1, "the Stripe customer is deleted once");
  assert.equal(deletes[0].idempotency_key, `erasure-${erasureId}-customer`);
  assert.equal(deletes[0].status, 200);

  assert.deepEqual(await redisKeys(`rl:*:${user.id}:*`), [], "the rate-limit keys are gone");
  assert.deepEqual(await redisKeys(`lock:trip:${tripId}`), []);
  const [left] = await sql()`select
      (select count(*)::int from auth.users where id = ${user.id}) as users,
      (select count(*)::int from public.travelers where owner_id = ${user.id}) as travelers,
      (select count(*)::int from public.trip_requests where owner_id = ${user.id}) as trips,
      (select count(*)::int from public.bookings where id = ${booking.id}) as bookings,
      (select count(*)::int from public.booking_attempts where trip_id = ${tripId}) as attempts,
      (select owner_id in (select id from public.erased_subjects) from public.trip_requests
        where id = ${tripId}) as tombstoned`;
  assert.deepEqual(left, {
    users: 0,
    travelers: 0,
    trips: 0,
    bookings: 1,
    attempts: 1,
    tombstoned: true,
  });
  assert.deepEqual(await databaseHits(ERASED_VALUES), [], "no trace in any table");
  assert.deepEqual(await redisHits(ERASED_VALUES), [], "no trace in Redis");
  const [audit] = await sql()`select to_jsonb(r)::text as t from public.erasure_requests r
    where id = ${erasureId}`;
  assert.ok(!audit.t.includes(user.id), "the audit row does not name the user");

  // Asking again (the token is still valid for a while) is idempotent.
  const again = await privacy({ action: "erase" }, user.jwt);
  assert.deepEqual([again.status, again.json.erasure.id], [200, erasureId]);
});

e2eTest(
  "an attempt that may hold money: the erasure waits (409, Retry-After), then the operator finishes it",
  async () => {
    const user = await newUser();
    const route = randomRoute();
    await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "389.00", stops: 0 }] });
    const search = await callSearch(tripBody(route), user.jwt);
    const tripId = (search.json.trip as { id: string }).id;
    const attemptId = crypto.randomUUID();
    const state = {
      ...attemptState(attemptId, tripId),
      phase: { name: "order" },
      payment_intent: "pi_e2eheld",
    };
    await sql()`update public.trip_requests set status = 'booking' where id = ${tripId}`;
    await sql()`insert into public.booking_attempts (id, trip_id, state, version, open, phase)
    values (${attemptId}, ${tripId}, ${sql().json(state)}, 1, true, 'order')`;

    const waiting = await privacy({ action: "erase" }, user.jwt);
    assert.equal(waiting.status, 409);
    assert.equal(waiting.json.code, "erasure_waiting_for_payment");
    assert.equal(waiting.headers.get("retry-after"), "60");
    const [a] = await sql()`select phase, open, version::int from public.booking_attempts
    where id = ${attemptId}`;
    assert.deepEqual(a, { phase: "order", open: true, version: 1 }, "the attempt is untouched");
    const [t] = await sql()`select status, auto_book, cancel_requested_at is not null as cancel
    from public.trip_requests where id = ${tripId}`;
    assert.deepEqual(t, { status: "booking", auto_book: false, cancel: true });
    const blocked = await callSearch(tripBody(randomRoute()), user.jwt);
    assert.deepEqual([blocked.status, blocked.json.code], [409, "erasure_in_progress"]);
    // Nothing new to erase later: no card set-up (no Stripe customer), no traveller profile.
    const setup = await call("payment-methods", { action: "setup" }, user.jwt);
    assert.deepEqual([setup.status, setup.json.code], [409, "erasure_in_progress"]);
    const traveller = await call(
      "travelers",
      { action: "create", traveler: ERASED_PERSON },
      user.jwt,
    );
    assert.deepEqual([traveller.status, traveller.json.code], [409, "erasure_in_progress"]);
    const customers = (await stripe("/_fake/requests")).data.filter((r: Json) =>
      r.method === "POST" && r.path === "/v1/customers" &&
      JSON.stringify(r).includes(user.id)
    );
    assert.equal(customers.length, 0, "no Stripe customer was created for the erasing user");

    // The saga releases the hold and closes the attempt; the operator finishes the erasure.
    await sql()`update public.booking_attempts set state = ${
      sql().json({ ...state, version: 2, phase: { name: "closed", end: "fail" } })
    } where id = ${attemptId}`;
    await sql()`update public.trip_requests set status = 'watching' where id = ${tripId}`;
    assert.equal((await operator({ action: "erase", user_id: user.id }, null)).status, 401);
    const bad = await operator({ action: "erase", user_id: "nope" });
    assert.deepEqual([bad.status, bad.json.fields[0].code], [400, "invalid_user_id"]);
    const done = await operator({ action: "erase", user_id: user.id });
    assert.equal(done.status, 200, JSON.stringify(done.json));
    const [kept] = await sql()`select owner_id <> ${user.id} as unlinked from public.trip_requests
    where id = ${tripId}`;
    assert.equal(kept.unlinked, true, "the trip with its attempt is kept, unlinked");
    const unknown = await operator({ action: "erase", user_id: crypto.randomUUID() });
    assert.deepEqual([unknown.status, unknown.json.code], [404, "not_found"]);
  },
);

e2eTest("an erasure interrupted at the Stripe step resumes where it stopped", async () => {
  const user = await userWithCardAndConsent();
  // Stripe deletes the customer but the answer is lost (a crash after the side effect).
  await stripeFault({ endpoint: "customer_delete", fault: "lose_response" });
  const first = await privacy({ action: "erase" }, user.jwt);
  assert.equal(first.status, 503, JSON.stringify(first.json));
  assert.equal(first.json.code, "stripe_unavailable");
  assert.equal(first.headers.get("retry-after"), "30");
  const [row] = await sql()`select step from public.erasure_requests where user_id = ${user.id}`;
  assert.equal(row.step, "stripe", "the database part is done, the Stripe step is not recorded");
  assert.equal(
    (await sql()`select count(*)::int as n from public.payment_profiles where owner_id = ${user.id}`)[
      0
    ]
      .n,
    0,
  );
  const second = await privacy({ action: "erase" }, user.jwt);
  assert.equal(second.status, 200, JSON.stringify(second.json));
  const deletes = (await stripe("/_fake/requests")).data.filter((r: Json) =>
    r.method === "DELETE" && r.path === `/v1/customers/${user.customer}`
  );
  assert.deepEqual(deletes.map((d: Json) => d.status), [500, 404], "resumed: the 404 counts");
  assert.equal(new Set(deletes.map((d: Json) => d.idempotency_key)).size, 1, "one key");
});

e2eTest(
  "a user deleted outside the erasure (the dashboard): accounting kept, the resume deletes the card",
  async () => {
    const user = await userWithCardAndConsent();
    const route = randomRoute();
    await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "389.00", stops: 0 }] });
    const search = await callSearch(tripBody(route), user.jwt);
    assert.equal(search.status, 201, JSON.stringify(search.json));
    const tripId = (search.json.trip as { id: string }).id;
    const attemptId = crypto.randomUUID();
    const closed = {
      ...attemptState(attemptId, tripId),
      phase: { name: "closed", end: "booked" },
      payment_intent: "pi_e2eauthdelete",
    };
    await sql()`update public.trip_requests set status = 'booking' where id = ${tripId}`;
    await sql()`insert into public.booking_attempts (id, trip_id, state, version, open, phase)
      values (${attemptId}, ${tripId}, ${sql().json(closed)}, 1, false, 'closed')`;
    await sql()`insert into public.bookings (trip_id, attempt_id, provider_order_id,
        booking_reference, amount_minor, currency)
      values (${tripId}, ${attemptId}, ${
      "ord_e2e" + attemptId.slice(0, 8)
    }, 'E2EDEL', 38900, 'GBP')`;
    await sql()`update public.trip_requests set status = 'booked' where id = ${tripId}`;

    // What GoTrue's admin API (the dashboard's "Delete user") does.
    await sql()`delete from auth.users where id = ${user.id}`;
    const [left] = await sql()`select
        (select count(*)::int from public.bookings where trip_id = ${tripId}) as bookings,
        (select count(*)::int from public.booking_attempts where trip_id = ${tripId}) as attempts,
        (select owner_id in (select id from public.erased_subjects) from public.trip_requests
          where id = ${tripId}) as tombstoned,
        (select count(*)::int from public.consents where owner_id = ${user.id}) as consents,
        (select count(*)::int from public.payment_profiles where owner_id = ${user.id}) as profiles,
        (select step from public.erasure_requests where user_id = ${user.id}) as step`;
    assert.deepEqual(left, {
      bookings: 1,
      attempts: 1,
      tombstoned: true,
      consents: 0,
      profiles: 0,
      step: "stripe",
    });
    assert.deepEqual(
      (await stripe("/_fake/requests")).data.filter((r: Json) =>
        r.method === "DELETE" && r.path === `/v1/customers/${user.customer}`
      ),
      [],
      "nothing is called from inside the database",
    );

    // The erasure-resume job's request (privacy-operator), which pg_cron makes 5 minutes later.
    const done = await operator({ action: "erase", user_id: user.id });
    assert.equal(done.status, 200, JSON.stringify(done.json));
    assert.equal(done.json.erasure.status, "done");
    const deletes = (await stripe("/_fake/requests")).data.filter((r: Json) =>
      r.method === "DELETE" && r.path === `/v1/customers/${user.customer}`
    );
    assert.equal(deletes.length, 1, "the Stripe customer (and its card) is deleted once");
    assert.equal(deletes[0].idempotency_key, `erasure-${done.json.erasure.id}-customer`);
    assert.deepEqual(await redisKeys(`rl:*:${user.id}:*`), [], "the rate-limit keys are gone");
  },
);

e2eTest("privacy: bad bodies and callers get stable codes", async () => {
  const user = await newUser();
  assert.equal((await privacy({ action: "drop" }, user.jwt)).json.fields[0].code, "invalid_action");
  const res = await fetch(`${FUNCTIONS}/privacy`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: "{}",
  });
  await res.body?.cancel();
  assert.equal(res.status, 401);
  assert.equal((await operator({ action: "export" })).json.fields[0].code, "invalid_action");
});

e2eTest("(close the database pool)", async () => {
  await closeSql();
});
