// Tests for the Upstash REST gateway (scripts/stack/upstash-gateway.ts) against the running stack
// (`bash scripts/stack.sh up`): the official npm:@upstash/redis client, then raw REST checks.
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";
import { Ratelimit } from "@upstash/ratelimit";
import { loadEnv } from "../../scripts/stack/testkit.ts";

const env = loadEnv();
const URL_ = env.UPSTASH_REDIS_REST_URL;
const TOKEN = env.UPSTASH_REDIS_REST_TOKEN;
const run = crypto.randomUUID().slice(0, 8);
const key = (name: string) => `test:gateway:${run}:${name}`;

function client(token = TOKEN): Redis {
  return new Redis({ url: URL_, token, enableTelemetry: false });
}

/** POST a raw REST call; returns status, parsed JSON body and headers. */
async function rest(
  path: string,
  body: unknown,
  opts: { base64?: boolean; token?: string | null; method?: string; headers?: HeadersInit } = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const headers = new Headers(opts.headers);
  if (opts.token !== null) headers.set("authorization", `Bearer ${opts.token ?? TOKEN}`);
  if (opts.base64) headers.set("upstash-encoding", "base64");
  const res = await fetch(`${URL_}${path}`, {
    method: opts.method ?? "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

Deno.test("client: set nx px, then a second nx set fails and the ttl is set", async () => {
  const redis = client();
  assert.equal(await redis.set(key("lock"), "token-1", { nx: true, px: 30000 }), "OK");
  assert.equal(await redis.set(key("lock"), "token-2", { nx: true, px: 30000 }), null);
  assert.equal(await redis.get(key("lock")), "token-1");
  const ttl = await redis.pttl(key("lock"));
  assert.ok(ttl > 0 && ttl <= 30000, `pttl ${ttl}`);
  await redis.del(key("lock"));
});

Deno.test("client: get returns JSON values and non-ASCII strings intact", async () => {
  const redis = client();
  const value = { trip: "t1", total_minor: 42000, carriers: ["ZZ"], nested: { ok: true } };
  await redis.set(key("json"), value);
  assert.deepEqual(await redis.get(key("json")), value);
  await redis.set(key("text"), "café ✈ £840");
  assert.equal(await redis.get(key("text")), "café ✈ £840");
  assert.equal(await redis.get(key("missing")), null);
  await redis.del(key("json"), key("text"));
});

Deno.test("client: pipeline returns every result in order", async () => {
  const redis = client();
  const p = redis.pipeline();
  p.set(key("p"), 1);
  p.incr(key("p"));
  p.incrby(key("p"), 40);
  p.get(key("p"));
  p.del(key("p"));
  assert.deepEqual(await p.exec(), ["OK", 2, 42, 42, 1]);
});

Deno.test("client: multi runs atomically and returns the results", async () => {
  const redis = client();
  const m = redis.multi();
  m.set(key("m"), "a");
  m.append(key("m"), "b");
  m.get(key("m"));
  m.del(key("m"));
  assert.deepEqual(await m.exec(), ["OK", 2, "ab", 1]);
});

const COMPARE_AND_DELETE =
  'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';

Deno.test("client: eval compare-and-delete only releases the owner's lock", async () => {
  const redis = client();
  await redis.set(key("cad"), "owner", { px: 30000 });
  assert.equal(await redis.eval(COMPARE_AND_DELETE, [key("cad")], ["intruder"]), 0);
  assert.equal(await redis.get(key("cad")), "owner");
  assert.equal(await redis.eval(COMPARE_AND_DELETE, [key("cad")], ["owner"]), 1);
  assert.equal(await redis.get(key("cad")), null);
});

Deno.test("client: a script runs via EVALSHA after the NOSCRIPT fallback", async () => {
  const redis = client();
  const script = redis.createScript<number>("return tonumber(ARGV[1]) + 1");
  await redis.scriptFlush();
  assert.equal(await script.exec([], ["41"]), 42); // EVALSHA → NOSCRIPT → EVAL
  assert.equal(await redis.evalsha(script.sha1, [], ["1"]), 2); // now cached
});

Deno.test("client: @upstash/ratelimit's flagged scripts run (sliding window denies the 4th)", async () => {
  // Its Lua scripts start with `#!lua flags=allow-key-locking`, an Upstash-only flag.
  const rl = new Ratelimit({
    redis: client(),
    limiter: Ratelimit.slidingWindow(3, "60 s"),
    prefix: key("rl"),
    ephemeralCache: false,
    analytics: false,
    timeout: 0, // no fail-open: errors must surface
  });
  const results = [];
  for (let i = 0; i < 4; i++) results.push((await rl.limit("user-1")).success);
  assert.deepEqual(results, [true, true, true, false]);
  const again = await rl.limit("user-2"); // EVALSHA of the cached script
  assert.equal(again.success, true);
  assert.equal(again.remaining, 2);
});

Deno.test("raw: SCRIPT LOAD returns the client's SHA1 even when a flag is dropped", async () => {
  const script = "#!lua flags=allow-key-locking,no-writes\nreturn 7";
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-1", new TextEncoder().encode(script)),
  );
  const sha = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.deepEqual((await rest("/", ["SCRIPT", "LOAD", script])).json, { result: sha });
  assert.deepEqual((await rest("/", ["EVALSHA", sha, "0"])).json, { result: 7 });
  assert.deepEqual((await rest("/", ["SCRIPT", "EXISTS", sha])).json, { result: [1] });
});

Deno.test("client: a bad token is rejected", async () => {
  await assert.rejects(() => client("not-the-token").get(key("x")), /Unauthorized|401/);
});

Deno.test("raw: base64 encoding applies to every string except OK, recursively", async () => {
  const set = await rest("/", ["SET", key("b64"), "hello"], { base64: true });
  assert.equal(set.status, 200);
  assert.deepEqual(set.json, { result: "OK" });
  assert.deepEqual((await rest("/", ["GET", key("b64")], { base64: true })).json, {
    result: btoa("hello"),
  });
  assert.deepEqual((await rest("/", ["GET", key("b64")])).json, { result: "hello" });
  assert.deepEqual(
    (await rest("/", ["MGET", key("b64"), key("none")], { base64: true })).json,
    { result: [btoa("hello"), null] },
  );
  // Status replies other than OK are encoded too (PONG), integers never.
  assert.deepEqual((await rest("/", ["PING"], { base64: true })).json, { result: btoa("PONG") });
  assert.deepEqual((await rest("/", ["STRLEN", key("b64")], { base64: true })).json, {
    result: 5,
  });
  await rest("/", ["DEL", key("b64")]);
});

Deno.test("raw: a Redis error on a single command is 400 with an error envelope", async () => {
  await rest("/", ["SET", key("str"), "not a number"]);
  const r = await rest("/", ["INCR", key("str")]);
  assert.equal(r.status, 400);
  assert.match((r.json as { error: string }).error, /^ERR value is not an integer/);
  const bad = await fetch(`${URL_}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
    body: "{not json",
  });
  assert.equal(bad.status, 400);
  assert.ok("error" in await bad.json());
  const blocking = await rest("/", ["BLPOP", key("list"), "1"]);
  assert.equal(blocking.status, 400);
  await rest("/", ["DEL", key("str")]);
});

Deno.test("raw: methods other than HEAD/GET/POST/PUT get 405; no token gets 401", async () => {
  const del = await fetch(`${URL_}/`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await del.body?.cancel();
  assert.equal(del.status, 405);
  const noAuth = await rest("/", ["PING"], { token: null });
  assert.equal(noAuth.status, 401);
  assert.ok("error" in (noAuth.json as object));
  const query = await rest(`/?_token=${encodeURIComponent(TOKEN)}`, ["PING"], { token: null });
  assert.deepEqual(query.json, { result: "PONG" });
});

Deno.test("raw: pipeline reports errors per item and keeps going", async () => {
  const r = await rest("/pipeline", [
    ["SET", key("pl"), "x"],
    ["INCR", key("pl")],
    ["GET", key("pl")],
    ["DEL", key("pl")],
  ]);
  assert.equal(r.status, 200);
  const items = r.json as Record<string, unknown>[];
  assert.deepEqual(items[0], { result: "OK" });
  assert.match(String(items[1].error), /not an integer/);
  assert.deepEqual(items.slice(2), [{ result: "x" }, { result: 1 }]);
});

Deno.test("raw: multi-exec is one transaction; a rejected transaction is one error", async () => {
  const ok = await rest("/multi-exec", [
    ["SET", key("mx"), "x"],
    ["INCR", key("mx")],
    ["GET", key("mx")],
  ], { base64: true });
  assert.equal(ok.status, 200);
  const items = ok.json as Record<string, unknown>[];
  assert.deepEqual(items[0], { result: "OK" });
  assert.match(String(items[1].error), /not an integer/); // runtime errors stay per item
  assert.deepEqual(items[2], { result: btoa("x") });

  const rejected = await rest("/multi-exec", [["SET", key("mx2"), "y"], ["GET"]]);
  assert.equal(rejected.status, 400);
  assert.match(String((rejected.json as { error: string }).error), /EXECABORT/);
  assert.deepEqual((await rest("/", ["EXISTS", key("mx2")])).json, { result: 0 });
  await rest("/", ["DEL", key("mx")]);
});

Deno.test("raw: path-style commands and the sync token echo", async () => {
  const set = await fetch(`${URL_}/set/${encodeURIComponent(key("path"))}/v1?EX=60`, {
    headers: { authorization: `Bearer ${TOKEN}`, "upstash-sync-token": "sync-123" },
  });
  assert.equal(set.headers.get("upstash-sync-token"), "sync-123");
  assert.deepEqual(await set.json(), { result: "OK" });
  const get = await fetch(`${URL_}/get/${encodeURIComponent(key("path"))}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.deepEqual(await get.json(), { result: "v1" });
  assert.ok(get.headers.get("upstash-sync-token"));
  const ttl = await rest("/", ["TTL", key("path")]);
  assert.ok((ttl.json as { result: number }).result > 0);
  await rest("/", ["DEL", key("path")]);
});
