/** Helpers for the demo (scripts/demo.ts): printing and scripting the fake Duffel. */

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
