/**
 * `SqlBatcher` settles every caller whatever the batch reply: a reply that is not JSON, or JSON
 * without a `results` array, rejects each queued call (before the fix the parse error escaped the
 * promise chain and the callers waited forever).
 */
import assert from "node:assert/strict";
import { SqlBatcher } from "../../supabase/functions/_shared/sql_batch.ts";

const opts = { maxCalls: 10, lingerMs: 1, maxOpen: 1 };

for (const [name, reply] of [["not JSON", "<html>"], ["no results", '{"rows": []}']]) {
  Deno.test(`a batch reply that is ${name} rejects every caller`, async () => {
    const b = new SqlBatcher(() => Promise.resolve(reply), opts);
    const settled = await Promise.allSettled([
      b.call("monitor_reschedule", "{}", "a"),
      b.call("monitor_expire", "{}", "b"),
    ]);
    assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected"]);
  });
}

Deno.test("a good reply still settles each caller with its own result", async () => {
  const b = new SqlBatcher(
    () =>
      Promise.resolve(
        JSON.stringify({
          results: [{ ok: true, result: { a: 1 } }, { ok: false, sqlstate: "40001" }],
        }),
      ),
    opts,
  );
  const settled = await Promise.allSettled([
    b.call("monitor_reschedule", "{}", "a"),
    b.call("monitor_expire", "{}", "b"),
  ]);
  assert.deepEqual(settled[0], { status: "fulfilled", value: '{"a":1}' });
  assert.equal(settled[1].status, "rejected");
  assert.equal((settled[1] as PromiseRejectedResult).reason.code, "40001");
});
