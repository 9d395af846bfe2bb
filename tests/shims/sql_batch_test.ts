/**
 * `SqlBatcher` settles every caller whatever the batch reply: a reply that is not JSON, or JSON
 * without a `results` array, rejects each queued call (before the fix the parse error escaped the
 * promise chain and the callers waited forever). A batch that fails as a whole with a SQLSTATE
 * a call of its own would take as permanent runs each call on its own (one bad call stays one
 * trip's problem); a transient or ambiguous failure fails each call, none run again.
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

/**
 * A batch runner that fails as a whole with `code` (undefined: none, a lost connection), as an
 * error the server reported (postgres.js `PostgresError`) or, `client`, one made on this side.
 */
const failing = (code: string | undefined, client = false) => () =>
  Promise.reject(
    Object.assign(new Error("batch failed"), {
      ...(code ? { code } : {}),
      ...(client ? {} : { name: "PostgresError" }),
    }),
  );

Deno.test("a batch that fails as a whole with a permanent SQLSTATE runs each call on its own", async () => {
  const alone: string[] = [];
  let inFlight = 0;
  let most = 0;
  const b = new SqlBatcher(failing("22P02"), { ...opts, maxOpen: 2 }, async (fn, args) => {
    alone.push(`${fn} ${args}`);
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 2));
    inFlight--;
    if (fn === "monitor_begin_attempt") {
      throw Object.assign(new Error("its own"), { name: "PostgresError", code: "22023" });
    }
    return '{"saved":true}';
  });
  const settled = await Promise.allSettled([
    b.call("monitor_save_attempt", '{"attempt_id":"a"}', "a"),
    b.call("monitor_begin_attempt", '{"trip_id":"b"}', "b"),
    b.call("monitor_save_attempt", '{"attempt_id":"c"}', "c"),
    b.call("monitor_save_attempt", '{"attempt_id":"d"}', "d"),
  ]);
  assert.deepEqual(alone.sort(), [
    'monitor_begin_attempt {"trip_id":"b"}',
    'monitor_save_attempt {"attempt_id":"a"}',
    'monitor_save_attempt {"attempt_id":"c"}',
    'monitor_save_attempt {"attempt_id":"d"}',
  ], "each call ran once on its own");
  assert.deepEqual(settled[0], { status: "fulfilled", value: '{"saved":true}' }, "its own answer");
  assert.equal((settled[1] as PromiseRejectedResult).reason.code, "22023", "its own SQLSTATE");
  assert.deepEqual(settled.slice(2).map((s) => s.status), ["fulfilled", "fulfilled"]);
  assert.equal(b.stats.alone, 4);
  assert.equal(most, 2, "at most maxOpen of them at a time");
});

for (
  const [code, client] of [
    ["08006", false],
    ["40P01", false],
    ["57014", false],
    ["53300", false],
    ["XX000", false], // Supavisor lost the database connection: the batch may have committed
    [undefined, false],
    ["EPIPE", true], // the socket broke under a pipelined batch: it may have committed
    ["22P02", true], // a client-side error is never proof of a rollback
  ] as const
) {
  const what = `${code ?? "no SQLSTATE"}${client ? " (client side)" : ""}`;
  Deno.test(`a batch that fails as a whole with ${what} fails each call, none run again`, async () => {
    let alone = 0;
    const b = new SqlBatcher(failing(code, client), opts, () => {
      alone++;
      return Promise.resolve("{}");
    });
    const settled = await Promise.allSettled([
      b.call("monitor_save_attempt", "{}", "a"),
      b.call("monitor_reschedule", "{}", "b"),
    ]);
    assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected"]);
    assert.deepEqual(
      settled.map((s) => (s as PromiseRejectedResult).reason.code),
      [code, code],
      "each with the batch's SQLSTATE",
    );
    assert.equal(alone, 0, "a transient or ambiguous failure is not retried within the run");
  });
}

Deno.test("without a single runner a batch's permanent failure fails each call with it", async () => {
  const b = new SqlBatcher(failing("42501"), opts);
  const settled = await Promise.allSettled([b.call("monitor_expire", "{}", "a")]);
  assert.equal((settled[0] as PromiseRejectedResult).reason.code, "42501");
});

Deno.test("a failed batch keeps its place while its calls run alone; a runner that throws still settles", async () => {
  let batches = 0;
  let aloneDone = false;
  let secondStartedBeforeAloneDone = false;
  const b = new SqlBatcher(
    () => {
      batches++;
      if (batches === 1) return failing("22P02")();
      secondStartedBeforeAloneDone = !aloneDone;
      return Promise.resolve(JSON.stringify({ results: [{ ok: true, result: 1 }] }));
    },
    { maxCalls: 2, lingerMs: 1, maxOpen: 1 },
    async (fn) => {
      await new Promise((r) => setTimeout(r, 5));
      if (fn === "monitor_expire") throw new Error("thrown, not rejected");
      aloneDone = true;
      return "{}";
    },
  );
  const first = [b.call("monitor_save_attempt", "{}", "a"), b.call("monitor_expire", "{}", "b")];
  const second = b.call("monitor_reschedule", "{}", "c"); // queued behind the failed batch
  const settled = await Promise.allSettled([...first, second]);
  assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.equal(
    secondStartedBeforeAloneDone,
    false,
    "the next batch waited for the calls run alone",
  );
});
