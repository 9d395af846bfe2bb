/** Helpers for the demo trip (scripts/demo.ts): printing, scripting the fakes, seeding a profile. */
import type { Sql } from "../stack/testkit.ts";

/** Prints a numbered step. */
export function say(step: string, text: string): void {
  console.log(`\n[${step}] ${text}`);
}

/** Prints an indented detail line. */
export function detail(text: string): void {
  console.log(`      ${text}`);
}

/** Ends the demo with an error when `ok` is false. */
export function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`demo: ${what}`);
    Deno.exit(1);
  }
}

/** Minor units as a decimal string with the currency's digits (display only; no floats). */
export function money(minor: number, currency: string): string {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency })
    .resolvedOptions().maximumFractionDigits ?? 2;
  const s = String(minor).padStart(digits + 1, "0");
  return `${currency} ${digits ? `${s.slice(0, -digits)}.${s.slice(-digits)}` : s}`;
}

/** A compact offer for the fake Duffel's route script. */
export interface DemoOffer {
  total: string;
  stops: number;
  duration_minutes: number;
  carrier: string;
  departing_at: string;
}

/** Makes the fake Duffel answer LHR -> JFK with `offers`, and prints them. */
export async function scriptOffers(duffelUrl: string, offers: DemoOffer[]): Promise<void> {
  for (const o of offers) {
    detail(`${o.carrier} ${o.departing_at}  GBP ${o.total}  ${o.stops ? "1 stop" : "nonstop"}`);
  }
  const res = await fetch(`${duffelUrl}/_fake/routes`, {
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
  await res.body?.cancel();
  check(res.ok, "could not script the fake Duffel");
}

/**
 * Puts a saved test card on file for `userId` with a consent to off-session charges up to
 * GBP 500.00 per booking (auto-booking needs both; service-side seeding).
 */
export async function seedProfile(sql: Sql, userId: string): Promise<void> {
  await sql`insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
    values (${userId}, 'cus_demo_traveller', 'pm_card_visa')
    on conflict (owner_id) do update set stripe_payment_method_id = 'pm_card_visa'`;
  await sql`insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency,
      text, text_version)
    select ${userId}, 'pm_card_visa', 50000, 'GBP',
      'I authorise Parker Flight to charge my Visa card ending 4242 while I am not present, up to GBP 500.00 per booking, to pay for flights I asked it to book automatically. I can withdraw this at any time by removing the card or turning auto-booking off.',
      '2026-12-01'
    where not exists (select 1 from public.consents where owner_id = ${userId}
      and payment_method_id = 'pm_card_visa' and currency = 'GBP' and revoked_at is null)`;
}

/** Lists the trip's passengers: one traveller (made-up test data, never logged). */
export async function seedPassenger(sql: Sql, userId: string, tripId: string): Promise<void> {
  await sql.begin(async (tx) => {
    const [{ id }] = await tx`select app.create_traveler(${userId}::uuid, ${
      JSON.stringify({
        title: "ms",
        gender: "f",
        given_name: "Ada",
        family_name: "Lovelace",
        born_on: "1985-12-10",
        email: "traveller@example.test",
        phone_number: "+442071234567",
      })
    }::text::jsonb) as id`;
    await tx`insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
      values (${tripId}, ${userId}, ${id}, 1)`;
  });
}
