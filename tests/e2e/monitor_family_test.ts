/**
 * Infants and identity documents end to end (issue 6, defect 4): a family trip (one adult, an
 * infant of 1) on a route whose offers require identity documents, booked through the monitor
 * (wasm driver -> fake Duffel, which refuses an order with an unlinked infant or a missing
 * document, as Duffel does); and the same trip without the infant's passport, which the monitor
 * refuses to book before any money moves (no attempt, no PaymentIntent), keeping it watched.
 * Dates derive from now.
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
  ordersFor,
  PASSENGER,
  runMonitor,
  tripStatus,
} from "./monitor_helpers.ts";

const DAYS = 60;

/** An ISO date `days` from now, shifted by whole `years`/`months`. */
function isoDate(days: number, years = 0, months = 0): string {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setUTCFullYear(d.getUTCFullYear() + years, d.getUTCMonth() + months);
  return d.toISOString().slice(0, 10);
}

function passport(number: string): Record<string, string> {
  return {
    type: "passport",
    unique_identifier: number,
    issuing_country_code: "GB",
    expires_on: isoDate(DAYS, 5),
  };
}

/** A watched family trip on a documents-required route; the infant's passport is optional. */
async function familyTrip(infantPassport: boolean) {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({
    ...route,
    currency: "GBP",
    offers: [{ total: "399.00", stops: 0 }],
    identity_documents_required: true,
  });
  const res = await callSearch(tripBody(route, { child_ages: [1] }, DAYS), user.jwt);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const tripId = (res.json.trip as { id: string }).id;
  const offerId = (res.json.selected_offer as { provider_offer_id: string }).provider_offer_id;
  // The adult (position 1, with a passport), the infant (position 2, 1 on the travel date) and a
  // card.
  const adult = { ...PASSENGER, identity_document: passport("19KL56147") };
  const infant = {
    ...PASSENGER,
    title: "miss",
    given_name: "Baby",
    born_on: isoDate(DAYS, -1, -2),
    passenger_type: "infant_without_seat",
    ...(infantPassport ? { identity_document: passport("20BB00001") } : {}),
  };
  await sql().begin(async (tx) => {
    for (const [position, traveller] of [[1, adult], [2, infant]] as const) {
      const [{ id }] = await tx`select app.create_traveler(${user.id}::uuid,
        ${JSON.stringify(traveller)}::text::jsonb) as id`;
      await tx`insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
        values (${tripId}, ${user.id}, ${id}, ${position})`;
    }
    await tx`insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
      values (${user.id}, ${
      "cus_" + crypto.randomUUID().replaceAll("-", "").slice(0, 14)
    }, 'pm_card_visa')`;
    await tx`insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency,
        text, text_version)
      values (${user.id}, 'pm_card_visa', 99999999, 'GBP', 'e2e test consent', 'test')`;
  });
  return { tripId, offerId };
}

e2eTest("a family with an infant books on a route that requires identity documents", async () => {
  const { tripId, offerId } = await familyTrip(true);
  assert.equal(await driveToEnd(tripId), "booked");
  const orders = await ordersFor([offerId]) as {
    passengers: { id: string; given_name: string; infant_passenger_id: string | null }[];
  }[];
  assert.equal(orders.length, 1);
  const [adult, infant] = orders[0].passengers;
  assert.equal(adult.given_name, PASSENGER.given_name);
  assert.equal(infant.given_name, "Baby");
  assert.equal(adult.infant_passenger_id, infant.id, "the adult carries the infant");
  const intents = await intentsFor(tripId);
  assert.equal(intents.length, 1);
  assert.equal(intents[0].captures, 1);
});

e2eTest("a missing passport keeps the trip watched: no attempt, nothing authorized", async () => {
  const { tripId, offerId } = await familyTrip(false);
  await makeDue(tripId);
  const run = await runMonitor({ trip_id: tripId });
  assert.equal(run.status, 200, JSON.stringify(run.json));
  assert.equal(await tripStatus(tripId), "watching");
  const [counts] = await sql()`select
      (select count(*)::int from public.booking_attempts where trip_id = ${tripId}) as attempts,
      (select reason_code from public.pipeline_events where trip_id = ${tripId}
        order by id desc limit 1) as reason`;
  assert.deepEqual(counts, { attempts: 0, reason: "identity_document_missing" });
  assert.deepEqual(await intentsFor(tripId), []);
  assert.deepEqual(await ordersFor([offerId]), []);
});

e2eTest("(close the database pool)", async () => {
  await closeSql();
});
