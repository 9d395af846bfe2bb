/**
 * Upstash Redis REST gateway: a local stand-in for Upstash's HTTP API in front of a real Redis 7.
 *
 *   UPSTASH_REDIS_REST_TOKEN=... REDIS_URL=redis://127.0.0.1:54379 \
 *     deno serve --host 127.0.0.1 --port 54380 --allow-env --allow-net=127.0.0.1 upstash-gateway.ts
 *
 * Implements the wire contract of reference/contracts-platform.md §5.1 (what npm:@upstash/redis
 * relies on) the way the official emulator serverless-redis-http (§5.2) does, plus a few things
 * SRH lacks:
 * - auth: `Authorization: Bearer <token>` or `?_token=`; wrong/missing → 401 `{"error":…}`;
 * - `POST /` with a JSON command array; path style `/set/foo/bar?EX=100` (GET/POST/PUT/HEAD,
 *   a POST body becomes the last argument);
 * - `POST /pipeline` (`[[…],[…]]` → `[{"result"}|{"error"}, …]`, not atomic) and
 *   `POST /multi-exec` (MULTI … EXEC on one connection; runtime errors per item, a rejected
 *   transaction → one `{"error"}` with 400);
 * - envelopes `{"result": …}` / `{"error": "ERR …"}`; 200, 400 for a Redis error, bad JSON or a
 *   refused command, 401, 405 for methods other than HEAD/GET/POST/PUT, 404 for unknown paths,
 *   500 when Redis is unreachable;
 * - `Upstash-Encoding: base64`: every string in the result, recursively, is base64 of the raw
 *   bytes except the status reply "OK"; numbers and null unchanged; errors stay plain;
 * - `upstash-sync-token`: echoed (or a fresh one issued). Locally there is one Redis, so every
 *   read already sees every write; the token only keeps clients that track it happy.
 * - EVAL / EVALSHA / SCRIPT pass through to Redis, except that Upstash-only script flags
 *   (`#!lua flags=allow-key-locking`, used by @upstash/ratelimit) are dropped before Redis sees
 *   them, with EVALSHA / SCRIPT LOAD / SCRIPT EXISTS kept consistent (see `ScriptFlags`).
 *
 * Differences from the hosted service: no read-only tokens, no per-request limits or max request
 * size, no `Upstash-Response-Format: resp2`, RESP2 only, no TLS; blocking and connection-state
 * commands (BLPOP, SUBSCRIBE, WATCH, MULTI, SELECT, …) are refused with 400 as Upstash does.
 * Connections to Redis come from a small pool (at most 16 open).
 */

const ENC = new TextEncoder();
const DEC = new TextDecoder();

/** A decoded RESP2 reply. Bulk strings stay bytes so base64 mode can encode the raw value. */
export type Reply =
  | { t: "status"; v: string }
  | { t: "error"; v: string }
  | { t: "int"; v: number }
  | { t: "bulk"; v: Uint8Array | null }
  | { t: "array"; v: Reply[] | null };

/** A Redis protocol or connection failure (not a Redis `-ERR` reply). */
export class RedisConnectionError extends Error {
  /** Stable code for logs. */
  readonly code = "redis_unavailable";
}

/** Encode one command as a RESP array of bulk strings. */
export function encodeCommand(args: string[]): Uint8Array {
  const parts: Uint8Array[] = [ENC.encode(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = ENC.encode(a);
    parts.push(ENC.encode(`$${b.length}\r\n`), b, ENC.encode("\r\n"));
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One TCP connection to Redis with an incremental RESP2 reader. */
class RedisConn {
  #buf = new Uint8Array(0);
  #pos = 0;
  broken = false;

  constructor(private readonly conn: Deno.TcpConn) {}

  static async open(hostname: string, port: number): Promise<RedisConn> {
    try {
      return new RedisConn(await Deno.connect({ hostname, port }));
    } catch (e) {
      throw new RedisConnectionError(`cannot connect to Redis at ${hostname}:${port}: ${e}`);
    }
  }

  close() {
    this.broken = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** Send several commands at once, then read exactly one reply per command. */
  async exec(commands: string[][]): Promise<Reply[]> {
    try {
      const bytes = concat(commands.map(encodeCommand));
      let off = 0;
      while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
      const out: Reply[] = [];
      for (let i = 0; i < commands.length; i++) out.push(await this.#read());
      return out;
    } catch (e) {
      this.close();
      if (e instanceof RedisConnectionError) throw e;
      throw new RedisConnectionError(`Redis connection failed: ${e}`);
    }
  }

  async #fill() {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) throw new RedisConnectionError("Redis closed the connection");
    const rest = this.#buf.subarray(this.#pos);
    const next = new Uint8Array(rest.length + n);
    next.set(rest);
    next.set(chunk.subarray(0, n), rest.length);
    this.#buf = next;
    this.#pos = 0;
  }

  async #line(): Promise<string> {
    for (;;) {
      for (let i = this.#pos; i + 1 < this.#buf.length; i++) {
        if (this.#buf[i] === 13 && this.#buf[i + 1] === 10) {
          const s = DEC.decode(this.#buf.subarray(this.#pos, i));
          this.#pos = i + 2;
          return s;
        }
      }
      await this.#fill();
    }
  }

  async #bytes(n: number): Promise<Uint8Array> {
    while (this.#buf.length - this.#pos < n + 2) await this.#fill();
    const out = this.#buf.slice(this.#pos, this.#pos + n);
    this.#pos += n + 2;
    return out;
  }

  async #read(): Promise<Reply> {
    const line = await this.#line();
    const kind = line[0];
    const rest = line.slice(1);
    switch (kind) {
      case "+":
        return { t: "status", v: rest };
      case "-":
        return { t: "error", v: rest };
      case ":":
        return { t: "int", v: Number(rest) };
      case "$": {
        const n = Number(rest);
        return { t: "bulk", v: n < 0 ? null : await this.#bytes(n) };
      }
      case "*": {
        const n = Number(rest);
        if (n < 0) return { t: "array", v: null };
        const items: Reply[] = [];
        for (let i = 0; i < n; i++) items.push(await this.#read());
        return { t: "array", v: items };
      }
      default:
        throw new RedisConnectionError(`unexpected RESP type byte ${JSON.stringify(kind)}`);
    }
  }
}

/** A small pool of Redis connections; a connection serves one HTTP request at a time. */
export class RedisPool {
  #idle: RedisConn[] = [];
  #open = 0;
  #waiters: ((c: RedisConn | null) => void)[] = [];

  constructor(
    private readonly hostname: string,
    private readonly port: number,
    private readonly max = 16,
  ) {}

  async #acquire(): Promise<RedisConn> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#open < this.max) {
      this.#open++;
      try {
        return await RedisConn.open(this.hostname, this.port);
      } catch (e) {
        this.#open--;
        throw e;
      }
    }
    const handed = await new Promise<RedisConn | null>((res) => this.#waiters.push(res));
    return handed ?? await this.#acquire();
  }

  #release(c: RedisConn) {
    if (c.broken) {
      this.#open--;
      const w = this.#waiters.shift();
      if (w) w(null); // let the waiter open a fresh connection
      return;
    }
    const w = this.#waiters.shift();
    if (w) w(c);
    else this.#idle.push(c);
  }

  /** Run `commands` back to back on one connection and return their replies in order. */
  async run(commands: string[][]): Promise<Reply[]> {
    const c = await this.#acquire();
    try {
      return await c.exec(commands);
    } finally {
      this.#release(c);
    }
  }

  /** Close every idle connection. */
  close() {
    for (const c of this.#idle.splice(0)) c.close();
  }
}

/** Commands Upstash refuses over REST (blocking or connection-state commands). */
const REFUSED = new Set([
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BLMOVE",
  "BLMPOP",
  "BZPOPMIN",
  "BZPOPMAX",
  "BZMPOP",
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "MONITOR",
  "SYNC",
  "PSYNC",
  "WAIT",
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
  "SELECT",
  "QUIT",
  "RESET",
  "HELLO",
  "AUTH",
  "CLIENT",
  "SHUTDOWN",
]);

/** Turn one JSON command array into Redis arguments, or return an error message. */
export function toArgs(cmd: unknown): string[] | string {
  if (!Array.isArray(cmd) || cmd.length === 0) return "ERR command must be a non-empty array";
  const args: string[] = [];
  for (const a of cmd) {
    if (typeof a === "string") args.push(a);
    else if (typeof a === "number" || typeof a === "boolean") args.push(String(a));
    else if (a === null) args.push("");
    else args.push(JSON.stringify(a));
  }
  const name = args[0].toUpperCase();
  const blocking = (name === "XREAD" || name === "XREADGROUP") &&
    args.some((a) => a.toUpperCase() === "BLOCK");
  if (REFUSED.has(name) || blocking) {
    return `ERR Command is not allowed: ${args[0]}`;
  }
  return args;
}

/** Script flags Redis 7.0 understands; Upstash also accepts its own (e.g. `allow-key-locking`). */
const REDIS_SCRIPT_FLAGS = new Set([
  "no-writes",
  "allow-oom",
  "allow-stale",
  "no-cluster",
  "allow-cross-slot-keys",
]);

async function sha1hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-1", ENC.encode(text)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Makes Upstash-only Lua script flags acceptable to Redis 7.0. @upstash/ratelimit's scripts start
 * with `#!lua flags=allow-key-locking`, which Upstash accepts and Redis rejects ("Unexpected flag
 * in script shebang"). Unknown flags are dropped from the shebang before EVAL / SCRIPT LOAD; the
 * client's SHA1 (of the original text) is mapped to the SHA1 Redis knows, so EVALSHA keeps
 * working and SCRIPT LOAD still answers with the SHA1 the client expects.
 */
export class ScriptFlags {
  #shaMap = new Map<string, string>(); // client sha1 → sha1 of the script Redis holds

  /** Rewrite one command; the optional function fixes up its reply. */
  async rewrite(args: string[]): Promise<{ args: string[]; fix?: (r: Reply) => Reply }> {
    const name = args[0].toUpperCase();
    if ((name === "EVAL" || name === "EVAL_RO") && args.length > 1) {
      const script = await this.#strip(args[1]);
      return { args: [args[0], script, ...args.slice(2)] };
    }
    if ((name === "EVALSHA" || name === "EVALSHA_RO") && args.length > 1) {
      const mapped = this.#shaMap.get(args[1].toLowerCase());
      return { args: mapped ? [args[0], mapped, ...args.slice(2)] : args };
    }
    if (name === "SCRIPT" && args.length > 2) {
      const sub = args[1].toUpperCase();
      if (sub === "LOAD") {
        const original = await sha1hex(args[2]);
        const script = await this.#strip(args[2]);
        return {
          args: [args[0], args[1], script],
          fix: (r) => (r.t === "bulk" ? { t: "bulk", v: ENC.encode(original) } : r),
        };
      }
      if (sub === "EXISTS") {
        const shas = args.slice(2).map((h) => this.#shaMap.get(h.toLowerCase()) ?? h);
        return { args: [args[0], args[1], ...shas] };
      }
    }
    return { args };
  }

  async #strip(script: string): Promise<string> {
    const m = script.match(/^#!lua(?:[ \t]+name=\S+)?[ \t]+flags=([^\n]*)\n/);
    if (!m) return script;
    const flags = m[1].split(",").map((f) => f.trim()).filter(Boolean);
    const kept = flags.filter((f) => REDIS_SCRIPT_FLAGS.has(f));
    if (kept.length === flags.length) return script;
    const head = m[0].replace(/flags=[^\n]*/, `flags=${kept.join(",")}`);
    const out = head + script.slice(m[0].length);
    this.#shaMap.set(await sha1hex(script), await sha1hex(out));
    return out;
  }

  /** Forget every mapping (after SCRIPT FLUSH). */
  clear() {
    this.#shaMap.clear();
  }
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Convert a reply to its JSON result; `base64` applies Upstash-Encoding. Errors come back as `{error}`. */
export function toEnvelope(r: Reply, base64: boolean): { result: unknown } | { error: string } {
  if (r.t === "error") return { error: r.v };
  return { result: toJson(r, base64) };
}

function toJson(r: Reply, base64: boolean): unknown {
  switch (r.t) {
    case "status":
      return base64 && r.v !== "OK" ? b64(ENC.encode(r.v)) : r.v;
    case "error":
      // An error nested in an array (e.g. inside EXEC): Upstash renders it as its message.
      return r.v;
    case "int":
      return r.v;
    case "bulk":
      return r.v === null ? null : base64 ? b64(r.v) : DEC.decode(r.v);
    case "array":
      return r.v === null ? null : r.v.map((x) => toJson(x, base64));
  }
}

/** Gateway configuration. */
export interface GatewayOptions {
  /** The REST token clients must present. */
  token: string;
  /** Redis connection pool. */
  pool: RedisPool;
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function timingSafeEqual(a: string, b: string): boolean {
  const x = ENC.encode(a);
  const y = ENC.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

let syncCounter = 0;

/** Build the gateway's request handler. */
export function createGateway(opts: GatewayOptions): (req: Request) => Promise<Response> {
  const scripts = new ScriptFlags();
  /**
   * Run commands on one connection, with Upstash-only script flags made Redis-compatible. With
   * `multi`, the commands are wrapped in MULTI … EXEC and the replies are MULTI's, the QUEUED
   * ones and EXEC's (whose items get the per-command fix-ups).
   */
  const runAll = async (argv: string[][], multi = false): Promise<Reply[]> => {
    const rewritten = await Promise.all(argv.map((a) => scripts.rewrite(a)));
    const cmds = rewritten.map((r) => r.args);
    const replies = await opts.pool.run(multi ? [["MULTI"], ...cmds, ["EXEC"]] : cmds);
    if (argv.some((a) => a[0].toUpperCase() === "SCRIPT" && a[1]?.toUpperCase() === "FLUSH")) {
      scripts.clear();
    }
    if (!multi) return replies.map((r, i) => rewritten[i].fix?.(r) ?? r);
    const exec = replies[replies.length - 1];
    if (exec.t === "array" && exec.v !== null) {
      exec.v = exec.v.map((r, i) => rewritten[i]?.fix?.(r) ?? r);
    }
    return replies;
  };
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const method = req.method.toUpperCase();
    if (!["GET", "HEAD", "POST", "PUT"].includes(method)) {
      return json({ error: "Method not allowed" }, 405, { allow: "GET, HEAD, POST, PUT" });
    }
    const auth = req.headers.get("authorization") ?? "";
    const given = auth.startsWith("Bearer ")
      ? auth.slice(7).trim()
      : (url.searchParams.get("_token") ?? "");
    if (!given || !timingSafeEqual(given, opts.token)) {
      return json({ error: "Unauthorized" }, 401);
    }
    const base64 = (req.headers.get("upstash-encoding") ?? "").toLowerCase() === "base64";
    const sync = req.headers.get("upstash-sync-token") ?? `local-${++syncCounter}`;
    const extra = { "upstash-sync-token": sync };
    const path = url.pathname.replace(/\/+$/, "");

    try {
      if (path === "/pipeline" || path === "/multi-exec") {
        if (method !== "POST") return json({ error: "Method not allowed" }, 405);
        let body: unknown;
        try {
          body = await req.json();
        } catch {
          return json({ error: "ERR failed to parse pipeline request" }, 400, extra);
        }
        if (!Array.isArray(body) || body.length === 0) {
          return json({ error: "ERR pipeline must be a non-empty array of commands" }, 400, extra);
        }
        const cmds = body.map(toArgs);
        const bad = cmds.find((c) => typeof c === "string");
        if (typeof bad === "string") return json({ error: bad }, 400, extra);
        const argv = cmds as string[][];
        if (path === "/pipeline") {
          const replies = await runAll(argv);
          return json(replies.map((r) => toEnvelope(r, base64)), 200, extra);
        }
        const replies = await runAll(argv, true);
        const exec = replies[replies.length - 1];
        if (exec.t === "error") {
          const queued = replies.slice(1, -1).find((r) => r.t === "error");
          const msg = queued && queued.t === "error" ? `${exec.v}: ${queued.v}` : exec.v;
          return json({ error: msg }, 400, extra);
        }
        if (exec.t !== "array" || exec.v === null) {
          return json({ error: "ERR transaction aborted" }, 400, extra);
        }
        return json(exec.v.map((r) => toEnvelope(r, base64)), 200, extra);
      }

      let cmd: unknown;
      if (path === "" && method === "POST") {
        try {
          cmd = await req.json();
        } catch {
          return json({ error: "ERR failed to parse command" }, 400, extra);
        }
      } else if (path === "" && (method === "GET" || method === "HEAD")) {
        return json({ result: "Welcome to the local Upstash REST gateway" }, 200, extra);
      } else {
        // Path style: /set/foo/bar?EX=100, body (if any) is the last argument.
        const segs = path.split("/").slice(1).map(decodeURIComponent);
        const args: string[] = [...segs];
        for (const [k, v] of url.searchParams) {
          if (k === "_token") continue;
          args.push(k);
          if (v !== "") args.push(v);
        }
        if (method === "POST" || method === "PUT") {
          const text = await req.text();
          if (text !== "") args.push(text);
        }
        cmd = args;
      }
      const args = toArgs(cmd);
      if (typeof args === "string") return json({ error: args }, 400, extra);
      const [reply] = await runAll([args]);
      const env = toEnvelope(reply, base64);
      return json(env, "error" in env ? 400 : 200, extra);
    } catch (e) {
      if (e instanceof RedisConnectionError) {
        console.error(`upstash-gateway: ${e.code}: ${e.message}`);
        return json({ error: `ERR ${e.message}` }, 500, extra);
      }
      throw e;
    }
  };
}

function fromEnv(): (req: Request) => Promise<Response> {
  const token = Deno.env.get("UPSTASH_REDIS_REST_TOKEN");
  if (!token) throw new Error("UPSTASH_REDIS_REST_TOKEN is not set");
  const redis = new URL(Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:54379");
  const pool = new RedisPool(redis.hostname, Number(redis.port || 6379));
  return createGateway({ token, pool });
}

let handler: ((req: Request) => Promise<Response>) | undefined;

/** `deno serve` entry point (env is read on the first request, not at import). */
export default {
  fetch(req: Request): Promise<Response> {
    handler ??= fromEnv();
    return handler(req);
  },
};
