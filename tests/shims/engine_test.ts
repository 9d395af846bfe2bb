/**
 * The shared executor and the wasm boundary, without the stack: credentials are added by the
 * executor (never by the core), SQL calls outside the core's list are refused, and a wasm trap
 * re-instantiates the module while drivers of the old instance refuse further use.
 */
import assert from "node:assert/strict";
import "../../supabase/functions/_shared/core/search.ts";
import "../../supabase/functions/_shared/core/monitor.ts";
import {
  guarded,
  readCommand,
  searchDriver,
  sqlApi,
  tripDriver,
} from "../../supabase/functions/_shared/core.ts";
import { callSql, drive, send } from "../../supabase/functions/_shared/engine.ts";
import type { CoreDriver, Input, Step } from "../../supabase/functions/_shared/core.ts";
import { SqlBatcher } from "../../supabase/functions/_shared/sql_batch.ts";
import { HttpError } from "../../supabase/functions/_shared/http.ts";
import { Logger } from "../../supabase/functions/_shared/log.ts";
import type { Sql } from "../../supabase/functions/_shared/deps.ts";
import type { SqlFunction } from "../../supabase/functions/_shared/types/SqlFunction.ts";
import type { SqlRole } from "../../supabase/functions/_shared/types/SqlRole.ts";

const quiet = () => {
  const original = console.log;
  console.log = () => {};
  return () => (console.log = original);
};

Deno.test("the executor adds base URL and credential; a core Authorization is replaced", async () => {
  const seen: { path: string; headers: Headers }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    seen.push({ path: new URL(req.url).pathname, headers: req.headers });
    return new Response("{}", { status: 200 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}/base/`;
    const out = await send({
      service: "stripe",
      method: "GET",
      path: "/v1/payment_intents/pi_1",
      headers: [["Stripe-Version", "2025-09-30.clover"], ["Authorization", "Bearer injected"]],
      body: null,
      timeout_ms: 2000,
    }, { stripe: { baseUrl: base, token: "sk_test_exec" } });
    assert.equal(out.kind, "response");
    assert.equal(seen[0].path, "/base/v1/payment_intents/pi_1");
    assert.equal(seen[0].headers.get("authorization"), "Bearer sk_test_exec");
    assert.equal(seen[0].headers.get("stripe-version"), "2025-09-30.clover");
    const missing = await send({
      service: "resend",
      method: "GET",
      path: "/",
      headers: [],
      body: null,
      timeout_ms: 2000,
    }, {});
    assert.equal(missing.kind, "network", "an unconfigured service is never called");
  } finally {
    await server.shutdown();
  }
});

Deno.test("the SQL API comes from the core; anything else is refused before the database", async () => {
  const names = sqlApi().map((e) => e.name);
  assert.ok(names.includes("monitor_save_attempt") && names.includes("search_open"));
  let queried = 0;
  const ran = () => (queried++, Promise.resolve([{ r: null }]));
  const sql = { begin: ran, unsafe: () => ({ simple: ran }) } as unknown as Sql;
  const ctx = { sql, services: {}, log: new Logger("test", "corr-12345678") };
  const calls: [string, SqlRole][] = [
    ["pg_sleep", "service"],
    ["monitor_claim", "user"],
    ["search_open", "user"],
  ];
  for (const [fn, role] of calls) {
    await assert.rejects(
      callSql(ctx, fn as SqlFunction, role, {}),
      (e: { code?: string }) => e.code === "42883",
    );
  }
  assert.equal(queried, 0, "user calls need a signed-in caller; unknown names never run");
});

Deno.test("a bad trip-search body is answered 400 by the core without any I/O", async () => {
  const sql = {} as Sql;
  const done = await drive(searchDriver(new TextEncoder().encode('{"origin":1}'), Date.now()), {
    sql,
    services: {},
    log: new Logger("test", "corr-12345678"),
  });
  assert.equal(done.status, 400);
  assert.equal((done.body as { code: string }).code, "validation_failed");
});

Deno.test("a wasm trap re-instantiates the module; drivers of the old instance refuse", () => {
  const restore = quiet();
  try {
    const old = tripDriver({ trip: { id: "x" } }, { lock_lease_ms: 30_000 }, Date.now());
    assert.throws(
      () =>
        guarded(() => {
          throw new WebAssembly.RuntimeError("unreachable");
        }),
      (e: unknown) => e instanceof HttpError && e.code === "core_trap",
    );
    assert.throws(
      () => old.poll(Date.now()),
      (e: unknown) => e instanceof HttpError && e.code === "core_reset",
    );
    old.free();
    const fresh = searchDriver(new TextEncoder().encode("{}"), Date.now());
    assert.equal(fresh.poll(Date.now()).kind, "done", "the new instance serves");
    fresh.free();
    assert.ok(sqlApi().length > 0);
  } finally {
    restore();
  }
});

Deno.test("a SQL command's argument is the core's JSON text after its header's newline", () => {
  const args = '{"note":"a\\nb","n":[1, 2]}';
  const cmd = readCommand<unknown>(
    `{"kind":"sql","id":4,"function":"monitor_expire","role":"service"}\n${args}`,
  );
  assert.deepEqual(cmd, {
    kind: "sql",
    id: 4,
    function: "monitor_expire",
    role: "service",
    args,
  });
  const done = readCommand<unknown>('{"kind":"done","result":{"text":"x\\ny"}}');
  assert.deepEqual(done, { kind: "done", result: { text: "x\ny" } });
  assert.throws(() => readCommand('{"kind":"sql","id":1}'), /without its argument/);
});

Deno.test("a driver's SQL argument reaches the database as the core wrote it", async () => {
  const queries: string[] = [];
  const sql = {
    unsafe: (text: string) => ({
      simple: () => (queries.push(text), Promise.resolve([[], [{ r: null }]])),
    }),
  } as unknown as Sql;
  const tripId = crypto.randomUUID();
  const restore = quiet();
  try {
    await drive(searchDriver(new TextEncoder().encode(JSON.stringify({ trip_id: tripId })), 0), {
      sql,
      services: {},
      log: new Logger("test", "corr-12345678"),
      user: { sub: crypto.randomUUID(), role: "authenticated" },
    });
  } finally {
    restore();
  }
  const call = queries[0].match(/app\.search_open\(\$pf\$(.*)\$pf\$::jsonb\)/s);
  assert.ok(call, queries[0]);
  assert.deepEqual(JSON.parse(call[1]), { trip_id: tripId });
});

/** A driver that asks for one SQL call, then is done with what it was fed. */
function oneCall(step: Step<unknown>): CoreDriver<unknown> & { fed: Input[] } {
  const fed: Input[] = [];
  return {
    fed,
    poll: () => (fed.length ? { kind: "done", result: fed[0] } : step),
    handle: (_now, _id, input) => void fed.push(input),
    free: () => {},
  };
}

Deno.test("the argument text goes to the database byte for byte, alone or in a batch", async () => {
  const args = '{"b":1,  "a":"x\\ny",\n "c":[ ]}';
  const queries: string[] = [];
  const sql = {
    unsafe: (text: string) => ({
      simple: () => (queries.push(text), Promise.resolve([[], [{ r: '{"ok":true}' }]])),
    }),
  } as unknown as Sql;
  const log = new Logger("test", "corr-12345678");
  const alone = oneCall({ kind: "sql", id: 1, function: "monitor_flags", role: "service", args });
  assert.deepEqual(await drive(alone, { sql, services: {}, log }), {
    kind: "sql",
    result: '{"ok":true}',
  });
  assert.ok(queries[0].includes(`app.monitor_flags($pf$${args}$pf$::jsonb)`), queries[0]);

  const batches: string[] = [];
  const batch = new SqlBatcher((text) => {
    batches.push(text);
    return Promise.resolve(
      '{"results":[{"ok":true,"result":{"n":2}},{"ok":true,"result":{"n":1}}]}',
    );
  }, { maxCalls: 10, lingerMs: 5, maxOpen: 1 });
  const keyed = (key: string) =>
    oneCall({
      kind: "sql",
      id: 1,
      function: "monitor_reschedule",
      role: "service",
      key,
      args: `{"trip_id":"${key}",  "x":1}`,
    });
  const [second, first] = await Promise.all([
    drive(keyed("t2"), { sql, services: {}, log, batch }),
    drive(keyed("t1"), { sql, services: {}, log, batch }),
  ]);
  assert.equal(
    batches[0],
    '{"calls":[{"function":"monitor_reschedule","args":{"trip_id":"t1",  "x":1}},' +
      '{"function":"monitor_reschedule","args":{"trip_id":"t2",  "x":1}}]}',
    "sorted by the header's key, each argument spliced as written",
  );
  assert.deepEqual([first, second], [
    { kind: "sql", result: '{"n":2}' },
    { kind: "sql", result: '{"n":1}' },
  ]);
  assert.equal(queries.length, 1, "batched calls never ran alone");
});
