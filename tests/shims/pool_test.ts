/** The monitor's worker pool (`_shared/pool.ts`): a slow provider call does not starve the others. */
import assert from "node:assert/strict";
import { runPool } from "../../supabase/functions/_shared/pool.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a slow call lends its place: the other items finish first", async () => {
  const finished: string[] = [];
  const started = performance.now();
  await runPool(
    ["slow", "a", "b", "c"],
    { concurrency: 1, slowAfterMs: 50, maxInFlight: 4 },
    async (
      item,
      slot,
    ) => {
      await slot.call(sleep(item === "slow" ? 400 : 10));
      finished.push(item);
    },
  );
  assert.deepEqual(finished, ["a", "b", "c", "slow"]);
  assert.ok(performance.now() - started < 1000);
});

Deno.test("never more than `concurrency` items active, nor `maxInFlight` started", async () => {
  let active = 0;
  let maxActive = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const items = Array.from({ length: 12 }, (_, i) => i);
  await runPool(items, { concurrency: 2, slowAfterMs: 20, maxInFlight: 5 }, async (i, slot) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const step = async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(2); // "SQL" / core work: always inside a place
      active--;
    };
    await step();
    // Each item's provider call is slow: the pool lends places up to maxInFlight.
    await slot.call(sleep(i % 3 === 0 ? 80 : 5));
    await step();
    inFlight--;
  });
  assert.ok(maxActive <= 2, `active ${maxActive}`);
  assert.ok(maxInFlight <= 5, `in flight ${maxInFlight}`);
  assert.ok(maxInFlight > 2, "slow calls let more items start");
});

Deno.test("fast calls never lend: plain concurrency-bounded order", async () => {
  const order: number[] = [];
  await runPool([1, 2, 3, 4], { concurrency: 2, slowAfterMs: 1000, maxInFlight: 8 }, async (
    i,
    slot,
  ) => {
    await slot.call(sleep(5 * i));
    order.push(i);
  });
  assert.deepEqual(order.sort(), [1, 2, 3, 4]);
});

Deno.test("an empty list and a throwing worker both resolve", async () => {
  await runPool([], { concurrency: 3, slowAfterMs: 10, maxInFlight: 3 }, () => Promise.resolve());
  let after = 0;
  await runPool([1, 2], { concurrency: 1, slowAfterMs: 10, maxInFlight: 1 }, (i) => {
    if (i === 1) return Promise.reject(new Error("boom"));
    after++;
    return Promise.resolve();
  });
  assert.equal(after, 1);
});
