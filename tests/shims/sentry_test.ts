/**
 * Error tracking (`_shared/sentry.ts` through `serve.ts`): with SENTRY_DSN set, an unexpected
 * error reaches a Sentry ingest (the stand-in `tests/fakes/sentry.ts`) as an envelope with the
 * tags function / trip_id / flag_state / environment, and none of the personal data that was in
 * the error, the request or the handler's scope leaves; without SENTRY_DSN nothing is sent.
 */
import assert from "node:assert/strict";
import { serve } from "../../supabase/functions/_shared/serve.ts";
import { reportError, scrubEvent, scrubText } from "../../supabase/functions/_shared/sentry.ts";
import { startFakeSentry } from "../fakes/sentry.ts";

const PII = [
  "ada.lovelace@example.com",
  "Ada Lovelace",
  "4242424242424242",
  "+44 20 7946 0958",
  "1815-12-10",
  "Bearer eyJ",
];
const TRIP = "0b6c1f7e-3f7a-4d55-9a0e-1c2d3e4f5a6b";

function noPii(raw: string): void {
  for (const p of PII) assert.ok(!raw.includes(p), `envelope contains ${p}`);
}

async function waitFor<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("timed out");
}

Deno.test({
  name: "sentry: nothing is sent without SENTRY_DSN",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const fake = startFakeSentry();
    try {
      Deno.env.delete("SENTRY_DSN");
      await reportError(new TypeError("boom"), { function: "trips", flag_state: "none" });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(fake.envelopes.length, 0);
    } finally {
      await fake.close();
    }
  },
});

Deno.test({
  name: "sentry: an unexpected error arrives as an envelope with tags and no personal data",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const fake = startFakeSentry();
    Deno.env.set("SENTRY_DSN", fake.dsn);
    Deno.env.set("SENTRY_ENVIRONMENT", "test");
    try {
      // A programming error whose message carries an email and a card number.
      const fn = serve("trips", (_req) => {
        const traveller = { name: "Ada Lovelace", born: "1815-12-10", phone: "+44 20 7946 0958" };
        throw new TypeError(
          `cannot read ada.lovelace@example.com card 4242424242424242 ${traveller.phone}`,
        );
      });
      const res = await fn.fetch(
        new Request("http://127.0.0.1/trips", {
          method: "POST",
          headers: { authorization: "Bearer eyJhbGciOi.x.y", "content-type": "application/json" },
          body: JSON.stringify({ email: "ada.lovelace@example.com", name: "Ada Lovelace" }),
        }),
      );
      assert.equal(res.status, 500);
      assert.equal((await res.json()).code, "internal");
      const env = await waitFor(() => fake.envelopes[0]);
      noPii(env.raw);
      const event = env.items.find((i) => i.header.type === "event")?.payload as Record<
        string,
        // deno-lint-ignore no-explicit-any
        any
      >;
      assert.ok(event, "an event item");
      assert.equal(event.tags.function, "trips");
      assert.equal(event.tags.environment, "test");
      assert.ok(typeof event.tags.flag_state === "string" && event.tags.flag_state.length > 0);
      assert.equal(event.environment, "test");
      assert.equal(event.exception.values[0].type, "TypeError");
      assert.match(event.exception.values[0].value, /\[email\]/);
      assert.equal(event.request, undefined);
      assert.equal(event.user, undefined);
      assert.equal(event.breadcrumbs, undefined);

      // A domain error (any other class): its message never leaves; the trip id tag does.
      await fake.envelopes.splice(0);
      await reportError(new Error("Ada Lovelace ada.lovelace@example.com"), {
        function: "auto-book-monitor",
        trip_id: TRIP,
        flag_state: "auto_booking=on:10000",
      });
      const env2 = await waitFor(() => fake.envelopes[0]);
      noPii(env2.raw);
      const ev2 = env2.items.find((i) => i.header.type === "event")?.payload as Record<
        string,
        // deno-lint-ignore no-explicit-any
        any
      >;
      assert.equal(ev2.tags.trip_id, TRIP);
      assert.equal(ev2.tags.function, "auto-book-monitor");
      assert.equal(ev2.tags.flag_state, "auto_booking=on:10000");
      assert.equal(ev2.exception.values[0].value, "[redacted]");
    } finally {
      Deno.env.delete("SENTRY_DSN");
      Deno.env.delete("SENTRY_ENVIRONMENT");
      await fake.close();
    }
  },
});

Deno.test("sentry: scrubEvent keeps only allow-listed fields and tags", () => {
  const out = scrubEvent({
    event_id: "abc",
    level: "error",
    user: { email: "ada.lovelace@example.com", ip_address: "10.0.0.1" },
    request: { headers: { authorization: "Bearer eyJ" }, data: "Ada Lovelace" },
    extra: { traveller: "Ada Lovelace" },
    breadcrumbs: [{ message: "ada.lovelace@example.com" }],
    server_name: "host-1",
    contexts: { os: { name: "linux" } },
    tags: { function: "trips", trip_id: "not-a-uuid", email: "ada.lovelace@example.com" },
    exception: {
      values: [{
        type: "RangeError",
        value: "ada.lovelace@example.com 4242424242424242",
        stacktrace: { frames: [{ filename: "a.ts", lineno: 3, vars: { name: "Ada Lovelace" } }] },
      }],
    },
  });
  noPii(JSON.stringify(out));
  assert.deepEqual(Object.keys(out).sort(), ["event_id", "exception", "level", "tags"]);
  assert.deepEqual(out.tags, { function: "trips" });
  assert.equal(scrubText("call +44 20 7946 0958 now"), "call [number] now");
});
