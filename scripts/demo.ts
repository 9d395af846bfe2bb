/**
 * The demo trip for the main job (scripts/dev.sh), on the running local stack:
 *
 * 1. search and selection: a traveller asks for LHR -> JFK, economy, nonstop, booked if the total
 *    is at most GBP 420; the fake Duffel's offers are all too dear, so the trip is watched;
 * 2. the price drops, and the scheduled monitor run (pg_cron -> pg_net -> auto-book-monitor)
 *    searches again, selects, authorizes the card, orders and captures: the trip is booked.
 *
 * Prints what happened in readable steps; exits non-zero if any step misbehaves.
 */
import { check, detail, money, say, scriptOffers, seedPassenger, seedProfile } from "./demo/lib.ts";
import { connect, createUser, loadEnv, mintUserJwt, TEST_USER } from "./stack/testkit.ts";

const env = loadEnv();
const sql = connect(env, 2);
const fns = `${env.SUPABASE_URL}/functions/v1`;
const TICK_WAIT_MS = 150_000;

try {
  await createUser(sql, TEST_USER.id, TEST_USER.email);
  await seedProfile(sql, TEST_USER.id);
  // Earlier demo runs that did not finish leave watched trips; cancel them so repeated runs stay
  // under the per-user cap on active trips (pipeline_settings.max_active_trips_per_user).
  await sql`update public.trip_requests set status = 'cancelled'
    where owner_id = ${TEST_USER.id} and status in ('searching', 'watching', 'needs_traveller')`;
  const jwt = await mintUserJwt(TEST_USER.id, { env });
  const departure = new Date(Date.now() + 110 * 86_400_000).toISOString().slice(0, 10);

  say("1", "The fake Duffel answers LHR -> JFK with these offers:");
  await scriptOffers(env.DUFFEL_API_URL, [
    { total: "455.00", stops: 0, duration_minutes: 475, carrier: "BA", departing_at: "08:20" },
    { total: "389.00", stops: 1, duration_minutes: 640, carrier: "AA", departing_at: "07:05" },
    { total: "430.10", stops: 0, duration_minutes: 455, carrier: "DL", departing_at: "13:00" },
  ]);

  say(
    "2",
    `The traveller asks: LHR -> JFK on ${departure}, 1 adult, economy, nonstop; book it if the total is at most GBP 420.00.`,
  );
  const res = await fetch(`${fns}/trip-search`, {
    method: "POST",
    headers: { Authorization: `Bearer ${jwt}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      origin: "LHR",
      destination: "JFK",
      departure_date: departure,
      adults: 1,
      cabin: "economy",
      nonstop_only: true,
      max_total_minor: 42000,
      currency: "GBP",
      auto_book: true,
    }),
  });
  const body = await res.json();
  check(res.status === 201, `trip-search answered ${res.status}: ${JSON.stringify(body)}`);
  const tripId: string = body.trip.id;
  say("3", `POST /functions/v1/trip-search -> ${res.status}: ${body.decision}.`);
  detail(
    `Duffel returned ${body.offers_seen} offers; rejected: ${
      Object.entries(body.rejections).filter(([, n]) => Number(n) > 0)
        .map(([why, n]) => `${n} ${why.replaceAll("_", " ")}`).join(", ")
    }.`,
  );
  detail(`Trip ${tripId} is '${body.trip.status}': the monitor will keep looking.`);
  await seedPassenger(sql, TEST_USER.id, tripId);
  detail("The traveller's passenger details and saved card (a Stripe test card) are on file.");

  const stranger = crypto.randomUUID();
  await createUser(sql, stranger);
  const other = await fetch(`${fns}/trip-search`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${await mintUserJwt(stranger, { env })}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({ trip_id: tripId }),
  });
  await other.body?.cancel();
  check(other.status === 404, "another user could reach the trip");
  say(
    "4",
    `Another signed-in user asking for this trip gets ${other.status} (RLS, no existence leak).`,
  );

  say("5", "The price drops: the fake Duffel now answers:");
  await scriptOffers(env.DUFFEL_API_URL, [
    { total: "455.00", stops: 0, duration_minutes: 475, carrier: "BA", departing_at: "08:20" },
    { total: "412.40", stops: 0, duration_minutes: 470, carrier: "VS", departing_at: "11:40" },
    { total: "412.40", stops: 0, duration_minutes: 470, carrier: "ZZ", departing_at: "09:15" },
  ]);
  // Demo shortcut: the trip would be looked at again in a few hours; make it due now.
  await sql`update public.trip_requests set next_check_at = now() where id = ${tripId}`;
  say("6", "Waiting for the scheduled monitor run (pg_cron, every minute locally; 30 s hosted)...");
  const started = Date.now();
  let status = "watching";
  let seen = "";
  while (status !== "booked" && Date.now() - started < TICK_WAIT_MS) {
    await new Promise((r) => setTimeout(r, 1000));
    const events = await sql`select stage, decision, reason_code from public.pipeline_events
      where trip_id = ${tripId} and occurred_at > now() - interval '10 minutes'
      order by occurred_at, id`;
    for (const e of events.slice(seen ? Number(seen) : 1)) {
      detail(`event: ${e.stage} -> ${e.decision}${e.reason_code ? ` (${e.reason_code})` : ""}`);
    }
    seen = String(events.length);
    const [row] = await sql`select status, selected_offer_id is not null as selected,
      next_check_at > now() + interval '1 minute' as later from public.trip_requests where id = ${tripId}`;
    status = row.status;
    // A run that only searched leaves the next look hours away: ask for the next tick again.
    if (row.later && status === "watching" && row.selected) {
      await sql`update public.trip_requests set next_check_at = now() where id = ${tripId}`;
    }
  }
  check(status === "booked", `the trip did not get booked (status '${status}')`);

  const [booking] = await sql`select b.booking_reference, b.amount_minor, b.currency,
      a.payment_intent, f.carriers, f.departing_at
    from public.bookings b join public.booking_attempts a on a.id = b.attempt_id
    join public.trip_requests t on t.id = b.trip_id join public.flight_offers f on f.id = t.selected_offer_id
    where b.trip_id = ${tripId}`;
  const [note] =
    await sql`select template, status from public.notifications where trip_id = ${tripId}`;
  say(
    "7",
    `Booked: ${booking.carriers.join("/")} ${
      new Date(booking.departing_at).toISOString().slice(0, 16).replace("T", " ")
    }, booking reference ${booking.booking_reference}, ${
      money(Number(booking.amount_minor), booking.currency)
    } captured once on ${booking.payment_intent}.`,
  );
  detail("(two offers tied at GBP 412.40 and 470 min: the earlier departure won)");
  detail(`Outbox: '${note.template}' email ${note.status} for the traveller.`);
  console.log("\ndemo: search, selection and a scheduled booking worked end to end.");
} finally {
  await sql.end({ timeout: 1 });
}
