/**
 * Bulk seeding of due watched trips on the local stack, for the monitor's scale benchmark
 * (scripts/bench-monitor.ts) and end-to-end tests (tests/e2e/monitor_scale_test.ts). Local only:
 * it writes as the superuser, straight into the tables, thousands of trips per statement.
 *
 * One search against the fake Duffel on a fresh route gives a real offer id (the fake re-prices
 * it on every `GET /air/offers/{id}`); every seeded trip has that offer selected. Owners are
 * fresh users with at most 20 trips each (the active-trip cap). `book: true` trips get a card
 * with consent and one traveller per owner, and a maximum above the price (the booking path);
 * otherwise the price is above the maximum (the waiting path: re-price, reschedule).
 */
import type { Sql } from "./testkit.ts";

/** What was seeded. */
export interface Seeded {
  ids: string[];
  owners: string[];
  route: { origin: string; destination: string };
  /** The (first) selected offer; with `book` each trip has its own. */
  offerId: string;
}

const PASSENGER = {
  title: "ms",
  gender: "f",
  given_name: "Ada",
  family_name: "Lovelace",
  born_on: "1985-12-10",
  email: "ada@example.test",
  phone_number: "+442071234567",
};

function code(prefix: string): string {
  const b = crypto.getRandomValues(new Uint8Array(2));
  return prefix + String.fromCharCode(65 + (b[0] % 26), 65 + (b[1] % 26));
}

/** A fresh made-up route (`Q..` to `X..`). */
export function freshRoute(): { origin: string; destination: string } {
  return { origin: code("Q"), destination: code("X") };
}

/** Seeds `n` due watched trips (see the module docs). */
export async function seedTrips(
  db: Sql,
  duffelUrl: string,
  n: number,
  opts: { book?: boolean; route?: { origin: string; destination: string } } = {},
): Promise<Seeded> {
  const route = opts.route ?? freshRoute();
  const day = new Date(Date.now() + 60 * 86_400_000).toISOString().slice(0, 10);
  const total = opts.book ? "399.00" : "455.00";
  const res = await fetch(`${duffelUrl}/_fake/routes`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      ...route,
      currency: "GBP",
      offers: [{ total, stops: 0, expires_in_seconds: 86_400 }],
    }),
  });
  await res.body?.cancel();
  // Booking: one search per trip (Duffel books one offer per offer request); waiting: one
  // offer for every trip.
  const search = async () => {
    const r = await fetch(`${duffelUrl}/air/offer_requests?return_offers=true`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "Duffel-Version": "v2",
        Authorization: "Bearer duffel_test_seed",
      },
      body: JSON.stringify({
        data: {
          slices: [{ ...route, departure_date: day }],
          passengers: [{ type: "adult" }],
          cabin_class: "economy",
          max_connections: 0,
        },
      }),
    });
    return (await r.json()).data.offers[0] as {
      id: string;
      slices: { segments: { departing_at: string; arriving_at: string }[] }[];
    };
  };
  const offers: Awaited<ReturnType<typeof search>>[] = [];
  for (let i = 0; i < (opts.book ? n : 1); i += 20) {
    offers.push(
      ...await Promise.all(Array.from({ length: Math.min(20, (opts.book ? n : 1) - i) }, search)),
    );
  }
  const offer = offers[0];
  const offerId = offer.id;
  const offerIds = Array.from({ length: n }, (_, i) => offers[opts.book ? i : 0].id);
  const departing = offer.slices[0].segments[0].departing_at as string;
  const arriving = offer.slices[0].segments[0].arriving_at as string;
  const owners = Math.ceil(n / 20);
  const rows = await db.begin(async (tx) => {
    const users = await tx`insert into auth.users (id, email)
      select id, 'seed-' || id || '@example.test'
      from (select gen_random_uuid() as id from generate_series(1, ${owners})) u
      returning id`;
    const ownerIds = users.map((u) => u.id as string);
    if (opts.book) {
      await tx`insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
        select o, 'cus_' || left(replace(o::text, '-', ''), 14), 'pm_card_visa'
        from unnest(${ownerIds}::uuid[]) o`;
      await tx`insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency,
          text, text_version)
        select o, 'pm_card_visa', 99999999, 'GBP', 'seed consent', 'test' from unnest(${ownerIds}::uuid[]) o`;
    }
    const trips = await tx`insert into public.trip_requests (owner_id, origin, destination,
        departure_date, adults, cabin, nonstop_only, max_total_minor, currency, auto_book)
      select (${ownerIds}::uuid[])[g / 20 + 1], ${route.origin}, ${route.destination}, ${day}::date,
        1, 'economy', true, 42000, 'GBP', ${opts.book ?? false}
      from generate_series(0, ${n - 1}) g
      returning id, owner_id`;
    const ids = trips.map((t) => t.id as string);
    await tx`with o as (
        insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency,
          cabin, stops, duration_minutes, departing_at, arriving_at, carriers, expires_at)
        select t, 'duffel', off, ${Math.round(Number(total) * 100)}, 'GBP', 'economy', 0, 490,
          ${departing}::timestamp, ${arriving}::timestamp, '{ZZ}', now() + interval '1 day'
        from unnest(${ids}::uuid[], ${offerIds}::text[]) as x(t, off)
        returning id, trip_id)
      update public.trip_requests r set status = 'watching', selected_offer_id = o.id,
        next_check_at = now() - interval '1 second'
      from o where r.id = o.trip_id`;
    if (opts.book) {
      const travellers = await tx`select o as owner_id,
          app.create_traveler(o, ${JSON.stringify(PASSENGER)}::text::jsonb) as id
        from unnest(${ownerIds}::uuid[]) o`;
      const byOwner = new Map(travellers.map((t) => [t.owner_id as string, t.id as string]));
      const ownersOf = trips.map((t) => t.owner_id as string);
      await tx`insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
        select t, o, tr, 1
        from unnest(${ids}::uuid[], ${ownersOf}::uuid[], ${
        ownersOf.map((o) => byOwner.get(o)!)
      }::uuid[]) as x(t, o, tr)`;
    }
    return { ids, ownerIds };
  });
  return { ids: rows.ids, owners: rows.ownerIds, route, offerId };
}

/** Removes seeded trips and their owners (cascade). */
export async function dropSeeded(db: Sql, seeded: Seeded): Promise<void> {
  await db`delete from auth.users where id = any(${seeded.owners}::uuid[])`;
}
