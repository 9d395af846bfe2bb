/**
 * The demo trip for the main job (scripts/dev.sh): a traveller asks for LHR -> JFK, economy,
 * nonstop, at most GBP 420, and the running local stack searches (fake Duffel), selects and stores
 * the best offer. Prints what happened in readable steps. Exits non-zero if any step misbehaves.
 */
import { connect, createUser, loadEnv, mintUserJwt, TEST_USER } from "./stack/testkit.ts";

const env = loadEnv();
const sql = connect(env, 2);
const fns = `${env.SUPABASE_URL}/functions/v1`;
const say = (step: string, text: string) => console.log(`\n[${step}] ${text}`);
const money = (minor: number, currency: string) => {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency })
    .resolvedOptions().maximumFractionDigits ?? 2;
  const s = String(minor).padStart(digits + 1, "0");
  return `${currency} ${digits ? `${s.slice(0, -digits)}.${s.slice(-digits)}` : s}`;
};
function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`demo: ${what}`);
    Deno.exit(1);
  }
}

try {
  await createUser(sql, TEST_USER.id, TEST_USER.email);
  const jwt = await mintUserJwt(TEST_USER.id, { env });
  const departure = new Date(Date.now() + 110 * 86_400_000).toISOString().slice(0, 10);

  say("1", "The fake Duffel will answer LHR -> JFK with five offers (prices in GBP):");
  const offers = [
    { total: "455.00", stops: 0, duration_minutes: 475, carrier: "BA", departing_at: "08:20" },
    { total: "389.00", stops: 1, duration_minutes: 640, carrier: "AA", departing_at: "07:05" },
    { total: "412.40", stops: 0, duration_minutes: 470, carrier: "VS", departing_at: "11:40" },
    { total: "412.40", stops: 0, duration_minutes: 470, carrier: "ZZ", departing_at: "09:15" },
    { total: "430.10", stops: 0, duration_minutes: 455, carrier: "DL", departing_at: "13:00" },
  ];
  for (const o of offers) {
    console.log(
      `      ${o.carrier} ${o.departing_at}  ${o.total}  ${
        o.stops ? `${o.stops} stop` : "nonstop"
      }`,
    );
  }
  const scripted = await fetch(`${env.DUFFEL_API_URL}/_fake/routes`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      origin: "LHR",
      destination: "JFK",
      currency: "GBP",
      offers,
      ignore_max_connections: true,
    }),
  });
  await scripted.body?.cancel();
  check(scripted.ok, "could not script the fake Duffel");

  say(
    "2",
    `The traveller asks: LHR -> JFK on ${departure}, 1 adult, economy, nonstop, book it if the total is at most GBP 420.00.`,
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
  const trip = body.trip;
  const offer = body.selected_offer;
  say("3", `POST /functions/v1/trip-search -> ${res.status}. Trip ${trip.id} is '${trip.status}'.`);
  console.log(
    `      Duffel returned ${body.offers_seen} offers; rejected: ${
      Object.entries(body.rejections).filter(([, n]) => Number(n) > 0)
        .map(([why, n]) => `${n} ${why.replaceAll("_", " ")}`).join(", ")
    }.`,
  );
  check(offer !== null, "no offer was selected");
  console.log(
    `      Selected: ${offer.carriers.join("/")} departing ${offer.departing_at}, ${
      money(offer.total_minor, offer.currency)
    }, ${offer.duration_minutes} min, ${offer.stops === 0 ? "nonstop" : `${offer.stops} stops`}.`,
  );
  console.log("      (two offers tie at GBP 412.40 and 470 min: the earlier departure wins)");

  const [row] = await sql`select t.status, t.check_count, t.next_check_at,
      (select count(*)::int from public.flight_offers f where f.trip_id = t.id) as offers
    from public.trip_requests t where t.id = ${trip.id}`;
  const events = await sql`select stage, decision, reason_code from public.pipeline_events
    where trip_id = ${trip.id} order by occurred_at`;
  say(
    "4",
    `In Postgres: trip '${row.status}', ${row.offers} offers stored, next check at ${
      new Date(row.next_check_at).toISOString()
    }.`,
  );
  for (const e of events) {
    console.log(`      event: ${e.stage} -> ${e.decision} (${e.reason_code})`);
  }

  const stranger = crypto.randomUUID();
  await createUser(sql, stranger);
  const other = await fetch(`${fns}/trip-search`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${await mintUserJwt(stranger, { env })}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({ trip_id: trip.id }),
  });
  await other.body?.cancel();
  const seen = await sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
      set_config('request.jwt.claims', ${
      JSON.stringify({ sub: stranger, role: "authenticated" })
    }, true)`;
    return (await tx`select count(*)::int as n from public.trip_requests where id = ${trip.id}`)[0]
      .n;
  });
  check(other.status === 404 && seen === 0, "another user could see the trip");
  say("5", `Another user asking for this trip gets ${other.status}, and sees ${seen} rows (RLS).`);
  console.log("\ndemo: search and selection worked end to end.");
} finally {
  await sql.end({ timeout: 1 });
}
