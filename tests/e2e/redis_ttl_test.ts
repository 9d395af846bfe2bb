/**
 * Every Redis key the project writes has a TTL (issue 8 item 2). The test watches Redis itself
 * (`MONITOR`, which also shows the commands Lua scripts run) while the functions do everything
 * that writes Redis: a trip search through `trip-search` (the per-user rate limit of
 * `@upstash/ratelimit`) and a monitor run over that trip (the per-trip lock). Then, for every key
 * written:
 *
 * - it matches one of KEY_PATTERNS (a new kind of key must be added here, with its TTL);
 * - it was written with an expiry (`SET … PX|EX`) or given one (`PEXPIRE`/`EXPIRE`) in the same
 *   capture, and, if it still exists, its PTTL is positive (not -1: no expiry);
 *
 * and every pattern in KEY_PATTERNS was seen, so the list is exactly what the project writes.
 * Finally no key under the project's prefixes exists without a TTL.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
  e2eTest,
  env,
  newUser,
  randomRoute,
  scriptRoute,
  tripBody,
} from "./helpers.ts";
import { makeDue, runMonitor } from "./monitor_helpers.ts";

/** Every key the project writes, with where it comes from and its TTL. */
const KEY_PATTERNS: { name: string; pattern: RegExp; ttl: string }[] = [
  {
    name: "trip lock (booking-core upstash.rs, monitor driver)",
    pattern: /^lock:trip:[0-9a-f-]{36}$/,
    ttl: "SET NX PX lock_lease_ms (120 s)",
  },
  {
    name: "rate limit window (supabase/functions/_shared/ratelimit.ts, @upstash/ratelimit)",
    pattern: /^rl:trip-search:[0-9a-f-]{36}:\d+$/,
    ttl: "PEXPIRE 2 x window + 1 s, set by the library's sliding-window script",
  },
  {
    name: "shared provider token bucket (supabase/functions/_shared/provider_limit.ts)",
    pattern: /^pl:(duffel|stripe)$/,
    ttl: "PEXPIRE burst / rate + 1 s, set by the take script",
  },
];
// pl:<provider>:pause (SET PX, at most 60 s) is written only on a provider's 429, so it is not
// in KEY_PATTERNS (every pattern there must be seen), but its prefix is scanned for TTLs.
const PREFIXES = ["lock:*", "rl:*", "pl:*"];

const WRITES = new Set([
  "SET",
  "SETNX",
  "SETEX",
  "PSETEX",
  "GETSET",
  "MSET",
  "APPEND",
  "INCR",
  "INCRBY",
  "INCRBYFLOAT",
  "DECR",
  "DECRBY",
  "HSET",
  "HSETNX",
  "HINCRBY",
  "HMSET",
  "ZADD",
  "ZINCRBY",
  "SADD",
  "LPUSH",
  "RPUSH",
  "XADD",
]);
const EXPIRES = new Set(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]);

function redisAddress(): { hostname: string; port: number } {
  const url = new URL(env.REDIS_URL ?? "redis://127.0.0.1:54379");
  return { hostname: url.hostname, port: Number(url.port || 6379) };
}

/** A RESP command. */
function resp(...args: string[]): Uint8Array {
  const enc = new TextEncoder();
  return enc.encode(
    `*${args.length}\r\n` + args.map((a) => `$${enc.encode(a).length}\r\n${a}\r\n`).join(""),
  );
}

type Reply = string | number | null | Reply[];

/** Parses one RESP reply from `text` at `at`: [value, next position], or null if incomplete. */
function parse(text: string, at = 0): [Reply, number] | null {
  const eol = text.indexOf("\r\n", at);
  if (eol < 0) return null;
  const head = text[at];
  const body = text.slice(at + 1, eol);
  if (head === "+" || head === "-") return [body, eol + 2];
  if (head === ":") return [Number(body), eol + 2];
  if (head === "$") {
    const len = Number(body);
    if (len < 0) return [null, eol + 2];
    if (text.length < eol + 2 + len + 2) return null;
    return [text.slice(eol + 2, eol + 2 + len), eol + 2 + len + 2];
  }
  if (head === "*") {
    const items: Reply[] = [];
    let pos = eol + 2;
    for (let i = 0; i < Number(body); i++) {
      const item = parse(text, pos);
      if (!item) return null;
      items.push(item[0]);
      pos = item[1];
    }
    return [items, pos];
  }
  throw new Error(`unexpected RESP: ${text.slice(at, at + 40)}`);
}

/** One request and its reply, on a fresh connection (keys here are ASCII). */
async function ask(...args: string[]): Promise<Reply> {
  const conn = await Deno.connect(redisAddress());
  try {
    await conn.write(resp(...args));
    const buf = new Uint8Array(1 << 16);
    let text = "";
    for (;;) {
      const done = parse(text);
      if (done) return done[0];
      const n = await conn.read(buf);
      if (n === null) throw new Error("Redis closed the connection");
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

/** All keys matching `pattern` (SCAN). */
async function scan(pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await ask("SCAN", cursor, "MATCH", pattern, "COUNT", "1000") as [
      string,
      string[],
    ];
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

async function pttl(key: string): Promise<number> {
  return await ask("PTTL", key) as number;
}

/** Parses one MONITOR line: `<ts> [db addr|lua] "CMD" "arg" …` -> [CMD, args…]. */
function parseMonitorLine(line: string): string[] | null {
  const m = line.match(/^\+\d+\.\d+ \[[^\]]*\] (.*)$/);
  if (!m) return null;
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  let a;
  while ((a = re.exec(m[1])) !== null) args.push(a[1].replace(/\\(.)/g, "$1"));
  return args.length ? [args[0].toUpperCase(), ...args.slice(1)] : null;
}

e2eTest(
  "every Redis key the functions write has a TTL, and the key patterns are all listed",
  async () => {
    const monitor = await Deno.connect(redisAddress());
    await monitor.write(resp("MONITOR"));
    let captured = "";
    const reading = (async () => {
      const buf = new Uint8Array(1 << 16);
      try {
        for (;;) {
          const n = await monitor.read(buf);
          if (n === null) break;
          captured += new TextDecoder().decode(buf.subarray(0, n));
        }
      } catch {
        // closed below
      }
    })();
    try {
      // The functions' writes: a search (rate limit), then a monitor run over the trip (lock).
      const user = await newUser();
      const route = randomRoute();
      await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "455.00", stops: 0 }] });
      const res = await callSearch(tripBody(route), user.jwt);
      assert.equal(res.status, 201, JSON.stringify(res.json));
      const tripId = (res.json.trip as { id: string }).id;
      await makeDue(tripId, false);
      const run = await runMonitor({ trip_id: tripId });
      assert.equal(run.status, 200, JSON.stringify(run.json));
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      monitor.close();
      await reading;
    }

    const commands = captured.split("\r\n").map(parseMonitorLine).filter((c): c is string[] =>
      c !== null
    );
    const written = new Map<string, boolean>(); // key -> written with an expiry
    const expired = new Set<string>();
    for (const [cmd, key, ...rest] of commands) {
      if (EXPIRES.has(cmd)) expired.add(key);
      if (!WRITES.has(cmd)) continue;
      const withTtl = (cmd === "SET" && rest.some((a) => /^(PX|EX|PXAT|EXAT)$/i.test(a))) ||
        cmd === "SETEX" || cmd === "PSETEX";
      written.set(key, (written.get(key) ?? false) || withTtl);
    }
    // Keys of other tests' own fixtures (test:…) are not the project's.
    const projectKeys = [...written.keys()].filter((k) => !k.startsWith("test:"));
    assert.ok(projectKeys.length > 0, `no Redis writes captured:\n${captured.slice(0, 2000)}`);

    const seen = new Set<string>();
    for (const key of projectKeys) {
      const kind = KEY_PATTERNS.find((p) => p.pattern.test(key));
      assert.ok(kind, `key ${key} matches no listed pattern: add it to KEY_PATTERNS with its TTL`);
      seen.add(kind.name);
      assert.ok(written.get(key) || expired.has(key), `key ${key} was written without an expiry`);
      const ttl = await pttl(key);
      assert.ok(ttl === -2 || ttl > 0, `key ${key} has PTTL ${ttl} (no expiry)`);
    }
    assert.deepEqual(
      [...seen].sort(),
      KEY_PATTERNS.map((p) => p.name).sort(),
      "every listed pattern is written by the journey (the list is not stale)",
    );

    // Nothing under the project's prefixes lives forever (the cron-driven runs included).
    for (const prefix of PREFIXES) {
      for (const key of await scan(prefix)) {
        const ttl = await pttl(key);
        assert.ok(ttl === -2 || ttl > 0, `key ${key} has PTTL ${ttl} (no expiry)`);
      }
    }
    await closeSql();
  },
);
