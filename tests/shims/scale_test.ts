/**
 * The monitor's scale helpers, in-process: the SQL group commit (`sql_batch.ts`), the Upstash
 * pipeline coalescer (`upstash_batch.ts`) and reading a provider's "slow down" answer
 * (`provider_limit.ts` `pauseFrom`).
 */
import assert from "node:assert/strict";
import { SqlBatcher } from "../../supabase/functions/_shared/sql_batch.ts";
import { UpstashBatcher } from "../../supabase/functions/_shared/upstash_batch.ts";
import { pauseFrom } from "../../supabase/functions/_shared/provider_limit.ts";
import type { FetchOutcome } from "../../supabase/functions/_shared/fetcher.ts";
import type { HttpRequest } from "../../supabase/functions/_shared/types/HttpRequest.ts";

type Calls = { calls: { function: string; args: { trip_id: string } }[] };

Deno.test("calls made together go in one batch, sorted by trip, each answered on its own", async () => {
  const seen: Calls[] = [];
  const b = new SqlBatcher((argsJson) => {
    const args = JSON.parse(argsJson) as Calls;
    seen.push(args);
    const results = args.calls.map((c) =>
      c.args.trip_id === "b"
        ? { ok: false, sqlstate: "P0002" }
        : { ok: true, result: { id: c.args.trip_id } }
    );
    return Promise.resolve(JSON.stringify({ results }));
  }, { maxCalls: 10, lingerMs: 5, maxOpen: 1 });
  const out = await Promise.allSettled(
    ["c", "a", "b"].map((id) => b.call("monitor_reschedule", JSON.stringify({ trip_id: id }), id)),
  );
  assert.equal(seen.length, 1, "one transaction");
  assert.deepEqual(
    seen[0].calls.map((c) => c.args.trip_id),
    ["a", "b", "c"],
    "locked in trip order",
  );
  assert.deepEqual(out[0], { status: "fulfilled", value: '{"id":"c"}' });
  assert.deepEqual(out[1], { status: "fulfilled", value: '{"id":"a"}' });
  assert.equal(out[2].status, "rejected");
  assert.equal((out[2] as PromiseRejectedResult).reason.code, "P0002", "its own SQLSTATE");
  assert.deepEqual(b.stats, { batches: 1, calls: 3, alone: 0 });
});

Deno.test("a full batch goes at once; a failed batch fails each of its calls; one batch open at a time", async () => {
  let open = 0;
  let most = 0;
  const sizes: number[] = [];
  const b = new SqlBatcher(async (argsJson) => {
    const args = JSON.parse(argsJson) as Calls;
    open++;
    most = Math.max(most, open);
    sizes.push(args.calls.length);
    await new Promise((r) => setTimeout(r, 5));
    open--;
    if (sizes.length === 1) throw Object.assign(new Error("lost"), { code: "08006" });
    return JSON.stringify({ results: args.calls.map(() => ({ ok: true, result: {} })) });
  }, { maxCalls: 2, lingerMs: 1000, maxOpen: 1 });
  const out = await Promise.allSettled(
    ["a", "b", "c", "d"].map((id) => b.call("monitor_expire", JSON.stringify({ trip_id: id }), id)),
  );
  assert.deepEqual(sizes, [2, 2], "full batches did not wait for the linger");
  assert.equal(most, 1);
  assert.deepEqual(out.map((o) => o.status), ["rejected", "rejected", "fulfilled", "fulfilled"]);
  assert.equal((out[0] as PromiseRejectedResult).reason.code, "08006");
});

const cmd = (body: unknown[]): HttpRequest =>
  ({
    service: "upstash",
    method: "POST",
    path: "/",
    headers: [["Content-Type", "application/json"]],
    body: JSON.stringify(body),
    timeout_ms: 1500,
  }) as unknown as HttpRequest;

Deno.test("single Upstash commands sent together go out as one pipeline, answered one by one", async () => {
  const sent: HttpRequest[] = [];
  const u = new UpstashBatcher(
    (req) => {
      sent.push(req);
      const body = JSON.stringify([{ result: "OK" }, { error: "ERR wrong" }, { result: null }]);
      return Promise.resolve(
        { kind: "response", status: 200, body: new TextEncoder().encode(body), durationMs: 1 },
      );
    },
    5,
    10,
  );
  const outs = await Promise.all([
    u.send(cmd(["SET", "k1", "t", "NX", "PX", 1000])),
    u.send(cmd(["SET", "k2", "t", "NX", "PX", 1000])),
    u.send(cmd(["EVAL", "s", 1, "k3", "t"])),
  ]);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].path, "/pipeline");
  assert.deepEqual(JSON.parse(sent[0].body!), [
    ["SET", "k1", "t", "NX", "PX", 1000],
    ["SET", "k2", "t", "NX", "PX", 1000],
    ["EVAL", "s", 1, "k3", "t"],
  ]);
  const read = (o: FetchOutcome) =>
    o.kind === "response" ? [o.status, new TextDecoder().decode(o.body)] : [o.kind];
  assert.deepEqual(outs.map(read), [
    [200, '{"result":"OK"}'],
    [400, '{"error":"ERR wrong"}'],
    [200, '{"result":null}'],
  ]);
});

Deno.test("a pipeline that fails as a whole gives every command that outcome", async () => {
  const u = new UpstashBatcher(() => Promise.resolve({ kind: "timeout", durationMs: 1500 }), 5, 10);
  const outs = await Promise.all([u.send(cmd(["SET", "a"])), u.send(cmd(["SET", "b"]))]);
  assert.deepEqual(outs.map((o) => o.kind), ["timeout", "timeout"]);
  const bad = new UpstashBatcher(
    () =>
      Promise.resolve({
        kind: "response",
        status: 200,
        body: new TextEncoder().encode('[{"result":1}]'),
        durationMs: 1,
      }),
    5,
    10,
  );
  const short = await Promise.all([bad.send(cmd(["SET", "a"])), bad.send(cmd(["SET", "b"]))]);
  assert.ok(
    short.every((o) => o.kind === "response" && o.status === 200 && o.body.length === 14),
    "a reply of the wrong length is passed on whole, which the core reads as a bad envelope",
  );
});

const answer = (status: number, headers: Record<string, string>): FetchOutcome => ({
  kind: "response",
  status,
  body: new Uint8Array(),
  durationMs: 1,
  headers: new Headers(headers),
});

Deno.test("pauseFrom: Retry-After seconds or date, Duffel's ratelimit-reset, capped at 60 s", () => {
  const now = Date.parse("2027-01-01T00:00:00Z");
  assert.equal(pauseFrom(answer(429, { "retry-after": "3" }), now), 3000);
  assert.equal(
    pauseFrom(answer(429, { "retry-after": "Fri, 01 Jan 2027 00:00:05 GMT" }), now),
    5000,
  );
  assert.equal(
    pauseFrom(answer(429, { "ratelimit-reset": "Fri, 01 Jan 2027 00:00:20 GMT" }), now),
    20000,
  );
  assert.equal(pauseFrom(answer(429, {}), now), 1000, "a bare 429 backs off a second");
  assert.equal(pauseFrom(answer(429, { "retry-after": "3600" }), now), 60_000);
  assert.equal(
    pauseFrom(
      answer(200, {
        "ratelimit-remaining": "0",
        "ratelimit-reset": "Fri, 01 Jan 2027 00:00:07 GMT",
      }),
      now,
    ),
    7000,
    "the last call of the window pauses before the 429",
  );
  assert.equal(pauseFrom(answer(200, { "ratelimit-remaining": "5" }), now), 0);
  assert.equal(pauseFrom({ kind: "timeout", durationMs: 1 }, now), 0);
});
