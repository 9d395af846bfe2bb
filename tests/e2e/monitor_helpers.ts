/** Helpers for the monitor end-to-end tests: seeding travellers and cards, running the monitor. */
import { env, FUNCTIONS, sql } from "./helpers.ts";
import type { Sql } from "../../scripts/stack/testkit.ts";

export const STRIPE = env.STRIPE_API_URL ?? "http://127.0.0.1:54392";

/** A made-up passenger (test data, never logged). */
export const PASSENGER = {
  title: "ms",
  gender: "f",
  given_name: "Ada",
  family_name: "Lovelace",
  born_on: "1985-12-10",
  email: "ada@example.test",
  phone_number: "+442071234567",
};

/**
 * Gives `userId` a saved card (`pm`, a fake-Stripe test method) as the default and a consent to
 * off-session charges on it up to GBP 999,999.99, which auto-booking needs (PF003 / PF005).
 */
export async function seedCard(userId: string, pm = "pm_card_visa", db: Sql = sql()) {
  const customer = `cus_${crypto.randomUUID().replaceAll("-", "").slice(0, 14)}`;
  await db`insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
    values (${userId}, ${customer}, ${pm})
    on conflict (owner_id) do update set stripe_payment_method_id = excluded.stripe_payment_method_id`;
  await db`insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency,
      text, text_version)
    values (${userId}, ${pm}, 99999999, 'GBP', 'e2e test consent', 'test')`;
}

/** Gives `userId` a traveller on `tripId` and a saved card with consent ({@link seedCard}). */
export async function seedBooker(userId: string, tripId: string, pm = "pm_card_visa") {
  await sql().begin(async (tx) => {
    const [{ id }] = await tx`select app.create_traveler(${userId}::uuid,
      ${JSON.stringify(PASSENGER)}::text::jsonb) as id`;
    await tx`insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
      values (${tripId}, ${userId}, ${id}, 1)`;
    await seedCard(userId, pm, tx as unknown as Sql);
  });
}

/** Turns auto-booking on and makes the trip due now. */
export async function makeDue(tripId: string, autoBook = true): Promise<void> {
  await sql()`update public.trip_requests set auto_book = ${autoBook}, next_check_at = now()
    where id = ${tripId}`;
}

/** Calls the monitor as the service (optionally for one trip) and returns status and summary. */
export async function runMonitor(
  body: Record<string, unknown> = {},
  key: string | null = env.SUPABASE_SECRET_KEY ?? JSON.parse(env.SUPABASE_SECRET_KEYS).default,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (key) headers.apikey = key;
  const res = await fetch(`${FUNCTIONS}/auto-book-monitor`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/**
 * Runs the monitor for `tripId` until its status leaves `watching`/`booking` (or gives up),
 * waiting out an attempt's retry backoff between runs.
 */
export async function driveToEnd(tripId: string, maxRuns = 6): Promise<string> {
  let status = "";
  for (let i = 0; i < maxRuns; i++) {
    await makeDue(tripId);
    const run = await runMonitor({ trip_id: tripId });
    if (run.status !== 200) {
      throw new Error(`monitor answered ${run.status}: ${JSON.stringify(run.json)}`);
    }
    status = await tripStatus(tripId);
    if (!["watching", "booking", "searching"].includes(status)) return status;
    if (status === "booking") {
      // An attempt is backing off (retry with jitter): wait for its next try, at most 5 s.
      const [row] = await sql()`select greatest(0, extract(epoch from next_check_at - now()) * 1000)
        as wait_ms from public.trip_requests where id = ${tripId}`;
      await new Promise((r) => setTimeout(r, Math.min(Number(row.wait_ms), 5000) + 50));
    }
  }
  return status;
}

/** The trip's current status. */
export async function tripStatus(tripId: string): Promise<string> {
  const [row] = await sql()`select status from public.trip_requests where id = ${tripId}`;
  return row.status;
}

/** Every fake-Stripe PaymentIntent created for `tripId` (by its metadata). */
export async function intentsFor(
  tripId: string,
): Promise<{ id: string; status: string; captures: number; amount: number }[]> {
  const res = await fetch(`${STRIPE}/_fake/payment_intents`);
  const all = await res.json();
  const list = (Array.isArray(all) ? all : all.data ?? all.payment_intents) as {
    id: string;
    status: string;
    captures: number;
    amount: number;
    metadata?: Record<string, string>;
  }[];
  return list.filter((pi) => pi.metadata?.trip_id === tripId);
}

/** Orders the fake Duffel created for offers of `route`. */
export async function ordersFor(offerIds: string[]): Promise<unknown[]> {
  const res = await fetch(`${env.DUFFEL_API_URL}/_fake/orders`);
  const all = await res.json();
  const list = (Array.isArray(all) ? all : all.data ?? all.orders) as { offer_id: string }[];
  return list.filter((o) => offerIds.includes(o.offer_id));
}

/** Scripts one fake-Stripe fault (see tests/fakes/stripe.ts). */
export async function stripeFault(fault: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${STRIPE}/_fake/script`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(fault),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`scripting the fake Stripe failed: ${res.status}`);
}
