/**
 * No traveller's personal data in any log line (issue 7): after the end-to-end tests ran (this
 * file is named to run last), every log the local stack wrote (.local/logs: the functions'
 * router, Postgres, the pg_net worker, Upstash, Redis) is scanned for the made-up names, emails,
 * phones, birth dates and document numbers the tests sent through the functions (travelers, trips,
 * trip-search, the monitor). The fakes' own logs are left out: they stand in for the providers,
 * which do receive the order's passengers. The person tests/e2e/privacy_test.ts erased is looked
 * for in every table and Redis key too (tests/e2e/privacy_scan.ts), after everything else ran.
 */
import assert from "node:assert/strict";
import { CHILD, ERASED_VALUES, TRAVELLER } from "./personal_data.ts";
import { databaseHits, redisHits } from "./privacy_scan.ts";
import { closeSql } from "./helpers.ts";
import { PASSENGER } from "./monitor_helpers.ts";

const LOGS = new URL("../../.local/logs/", import.meta.url);

/** Every personal value the tests send (birth dates of children are derived per test). */
export const PERSONAL_VALUES: string[] = [
  ...Object.entries(TRAVELLER),
  ...Object.entries(CHILD).filter(([k]) => k !== "born_on"),
  ...Object.entries(PASSENGER),
].filter(([k]) => !["title", "gender"].includes(k)).map(([, v]) => v).concat(["P7654321"])
  .concat(ERASED_VALUES);

/**
 * A value as a whole token: not inside a longer run of letters or digits, so a random id such as
 * `evt_…gAdapA…` (fake Stripe) is not taken for the name "Ada", while `"Ada"`, `Ada Lovelace` or
 * `ada@example.test` in a line still are.
 */
const PATTERNS = PERSONAL_VALUES.map((v) =>
  new RegExp(
    `(?<![\\p{L}\\p{N}])${v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\p{L}\\p{N}])`,
    "u",
  )
);

Deno.test("no traveller name, email, phone or birth date in any log line", async () => {
  const hits: string[] = [];
  let scanned = 0;
  for await (const entry of Deno.readDir(LOGS)) {
    if (!entry.isFile || entry.name.startsWith("fake-")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, LOGS));
    scanned++;
    text.split("\n").forEach((line, i) => {
      for (const [n, value] of PERSONAL_VALUES.entries()) {
        if (PATTERNS[n].test(line)) {
          hits.push(
            `${entry.name}:${i + 1} contains a traveller's ${value.length}-character value`,
          );
        }
      }
    });
  }
  assert.ok(scanned > 0, "the stack's logs were found");
  assert.deepEqual(hits, []);
});

Deno.test({
  name: "the erased person left no trace in any table or Redis key, after every other test",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    try {
      assert.deepEqual(await databaseHits(ERASED_VALUES), []);
      assert.deepEqual(await redisHits(ERASED_VALUES), []);
    } finally {
      await closeSql();
    }
  },
});
