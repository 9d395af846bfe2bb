/**
 * The main job's demo (scripts/dev.sh): the whole traveller journey on the running local stack,
 * through the public functions only, as the web app would call them:
 *
 * 1. a signed-in traveller (a local user's JWT) saves a passenger profile (`travelers`);
 * 2. saves a card: a SetupIntent (`payment-methods`), confirmed as Stripe.js would (the fake
 *    Stripe's test helper), saved by the signed `setup_intent.succeeded` webhook
 *    (`stripe-webhook`); then consents to off-session charges up to GBP 500.00;
 * 3. asks for LHR -> JFK, book it if the total is at most GBP 420.00 (`trip-search`): too dear,
 *    so the trip is watched; attaches the profile to the trip (`travelers`);
 * 4. the price drops; the scheduled monitor run (pg_cron -> pg_net -> auto-book-monitor) books
 *    it: authorize, order, capture once;
 * 5. the outbox dispatcher (`notify-dispatch`, on its pg_cron schedule) sends the confirmation
 *    through Resend: the fake Resend's copy is printed (subject and text part);
 * 6. the trip's readable timeline (`trips`).
 *
 * Prints what happened in readable steps; exits non-zero if any step misbehaves. The passenger is
 * made-up test data and is printed only where the traveller would see it (their own email).
 */
import { check, detail, money, say, scriptOffers } from "./demo/lib.ts";
import { connect, createUser, loadEnv, mintUserJwt, TEST_USER } from "./stack/testkit.ts";

const env = loadEnv();
const sql = connect(env, 2);
const fns = `${env.SUPABASE_URL}/functions/v1`;
const WAIT_MS = 150_000;

type Json = Record<string, unknown>;

/** Calls one of the traveller's functions with their JWT. */
async function call(
  jwt: string,
  fn: string,
  body: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${fns}/${fn}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${jwt}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/** Polls `probe` every second until it returns a value, for at most `ms`. */
async function until<T>(ms: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return undefined;
}

try {
  await createUser(sql, TEST_USER.id, TEST_USER.email);
  // Earlier demo runs that did not finish leave watched trips; cancel them so repeated runs stay
  // under the per-user cap on active trips (pipeline_settings.max_active_trips_per_user).
  await sql`update public.trip_requests set status = 'cancelled'
    where owner_id = ${TEST_USER.id} and status in ('searching', 'watching', 'needs_traveller')`;
  const jwt = await mintUserJwt(TEST_USER.id, { env });
  const departure = new Date(Date.now() + 110 * 86_400_000).toISOString().slice(0, 10);
  say("1", `Signed in as the local test user (${TEST_USER.id}).`);

  const email = `ada.${crypto.randomUUID().slice(0, 8)}@example.test`;
  const profile = await call(jwt, "travelers", {
    action: "create",
    traveler: {
      title: "ms",
      gender: "f",
      given_name: "Ada",
      family_name: "Lovelace",
      born_on: "1985-12-10",
      email,
      phone_number: "+442080160509",
    },
  });
  check(
    profile.status === 201,
    `travelers create answered ${profile.status}: ${JSON.stringify(profile.json)}`,
  );
  const travelerId = (profile.json.traveler as Json).id as string;
  say("2", `POST travelers {create} -> 201: passenger profile ${travelerId} (stored encrypted).`);

  const setup = await call(jwt, "payment-methods", { action: "setup" });
  check(
    setup.status === 200,
    `payment-methods setup answered ${setup.status}: ${JSON.stringify(setup.json)}`,
  );
  say(
    "3",
    `POST payment-methods {setup} -> 200: SetupIntent ${setup.json.setup_intent} (off_session).`,
  );
  const confirmed = await fetch(
    `${env.STRIPE_API_URL}/_fake/setup_intents/${setup.json.setup_intent}/confirm`,
    {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ payment_method: "pm_card_visa" }),
    },
  );
  check(confirmed.ok, "the fake Stripe did not confirm the SetupIntent");
  await confirmed.body?.cancel();
  detail("The browser confirms it with Stripe.js (here: the fake Stripe's test helper).");
  const card = await until(20_000, async () => {
    const list = await call(jwt, "payment-methods", { action: "list" });
    const cards = (list.json.cards ?? []) as Json[];
    return cards.find((c) => c.default === true);
  });
  check(card !== undefined, "the signed setup_intent.succeeded webhook did not save the card");
  detail(
    `stripe-webhook verified setup_intent.succeeded and saved the card: ${card!.brand} ending ${
      card!.last4
    }, default.`,
  );
  const text = await call(jwt, "payment-methods", {
    action: "consent_text",
    max_amount_minor: 50000,
    currency: "GBP",
  });
  check(text.status === 200, `consent_text answered ${text.status}`);
  const consent = await call(jwt, "payment-methods", {
    action: "consent",
    max_amount_minor: 50000,
    currency: "GBP",
    text: text.json.text,
  });
  check(
    consent.status === 201,
    `consent answered ${consent.status}: ${JSON.stringify(consent.json)}`,
  );
  detail(`Consent recorded: "${text.json.text}"`);

  say("4", "The fake Duffel answers LHR -> JFK with these offers:");
  await scriptOffers(env.DUFFEL_API_URL, [
    { total: "455.00", stops: 0, duration_minutes: 475, carrier: "BA", departing_at: "08:20" },
    { total: "389.00", stops: 1, duration_minutes: 640, carrier: "AA", departing_at: "07:05" },
    { total: "430.10", stops: 0, duration_minutes: 455, carrier: "DL", departing_at: "13:00" },
  ]);
  const search = await call(jwt, "trip-search", {
    origin: "LHR",
    destination: "JFK",
    departure_date: departure,
    adults: 1,
    cabin: "economy",
    nonstop_only: true,
    max_total_minor: 42000,
    currency: "GBP",
    auto_book: true,
  });
  check(
    search.status === 201,
    `trip-search answered ${search.status}: ${JSON.stringify(search.json)}`,
  );
  const trip = search.json.trip as Json;
  const tripId = trip.id as string;
  say(
    "5",
    `POST trip-search (LHR -> JFK on ${departure}, nonstop, book if at most GBP 420.00) -> 201: ${search.json.decision}; trip ${tripId} is '${trip.status}'.`,
  );
  const attach = await call(jwt, "travelers", {
    action: "attach",
    trip_id: tripId,
    traveler_ids: [travelerId],
  });
  check(
    attach.status === 200,
    `travelers attach answered ${attach.status}: ${JSON.stringify(attach.json)}`,
  );
  detail("POST travelers {attach} -> 200: the profile fills the trip's passenger slot.");

  const stranger = crypto.randomUUID();
  await createUser(sql, stranger);
  const other = await call(await mintUserJwt(stranger, { env }), "trips", {
    action: "get",
    trip_id: tripId,
  });
  check(other.status === 404, "another user could reach the trip");
  detail(`Another signed-in user asking for this trip gets ${other.status} (no existence leak).`);

  say("6", "The price drops: the fake Duffel now answers:");
  await scriptOffers(env.DUFFEL_API_URL, [
    { total: "455.00", stops: 0, duration_minutes: 475, carrier: "BA", departing_at: "08:20" },
    { total: "412.40", stops: 0, duration_minutes: 470, carrier: "VS", departing_at: "11:40" },
    { total: "412.40", stops: 0, duration_minutes: 470, carrier: "ZZ", departing_at: "09:15" },
  ]);
  // Demo shortcut: the trip would be looked at again in a few hours; make it due now.
  await sql`update public.trip_requests set next_check_at = now() where id = ${tripId}`;
  detail("Waiting for the scheduled monitor run (pg_cron every minute locally; 30 s hosted)...");
  const booked = await until(WAIT_MS, async () => {
    const [row] = await sql`select status, selected_offer_id is not null as selected,
      next_check_at > now() + interval '1 minute' as later from public.trip_requests where id = ${tripId}`;
    if (row.status === "booked") return row;
    // A run that only searched leaves the next look hours away: ask for the next tick again.
    if (row.later && row.status === "watching" && row.selected) {
      await sql`update public.trip_requests set next_check_at = now() where id = ${tripId}`;
    }
    return undefined;
  });
  check(booked !== undefined, "the trip did not get booked");
  const [b] = await sql`select b.booking_reference, b.amount_minor, b.currency, a.payment_intent
    from public.bookings b join public.booking_attempts a on a.id = b.attempt_id
    where b.trip_id = ${tripId}`;
  say(
    "7",
    `Booked: reference ${b.booking_reference}, ${
      money(Number(b.amount_minor), b.currency)
    } captured once on ${b.payment_intent}.`,
  );

  // Demo shortcut, like making the trip due: ask the dispatcher (service key) for this email now
  // rather than waiting behind whatever else the outbox holds; pg_cron runs it every minute too.
  const [note] = await sql`select id from public.notifications
    where trip_id = ${tripId} and template = 'booked'`;
  check(note !== undefined, "no confirmation email was queued");
  detail(`Outbox: 'booked' email ${note.id} queued; the dispatcher sends it through Resend.`);
  const mail = await until(WAIT_MS, async () => {
    const run = await fetch(`${fns}/notify-dispatch`, {
      method: "POST",
      headers: { apikey: env.SUPABASE_SECRET_KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ notification_id: note.id }),
    });
    await run.body?.cancel();
    const res = await fetch(`${env.RESEND_API_URL}/_fake/emails?to=${encodeURIComponent(email)}`);
    const { data } = await res.json() as { data: Json[] };
    return data.find((m) => String(m.subject).startsWith("Your flight is booked"));
  });
  check(mail !== undefined, "the confirmation email was not sent");
  say("8", `The confirmation email, as the fake Resend received it (to the traveller's address):`);
  detail(`Subject: ${mail!.subject}`);
  for (const line of String(mail!.text).split("\n")) detail(`  ${line}`);

  const view = await call(jwt, "trips", { action: "get", trip_id: tripId });
  check(view.status === 200, `trips get answered ${view.status}`);
  say("9", "POST trips {get} -> 200: the trip's timeline:");
  for (const entry of (view.json.timeline ?? []) as Json[]) detail(String(entry.text));
  console.log("\ndemo: the whole traveller journey worked end to end.");
} finally {
  await sql.end({ timeout: 1 });
}
