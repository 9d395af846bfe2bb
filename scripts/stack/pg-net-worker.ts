/**
 * pg_net stand-in, worker half: sends the HTTP requests that `net.http_get/http_post/http_delete`
 * queue, and records the responses, like pg_net 0.20's background worker.
 *
 *   SUPABASE_DB_URL=postgresql://postgres:postgres@127.0.0.1:54322/postgres \
 *     deno run --allow-net --allow-env --allow-write=.local scripts/stack/pg-net-worker.ts
 *
 * The SQL half is in scripts/stack/sql/bootstrap.sql: the functions insert into
 * `net.http_request_queue(id, method, url, headers, body, timeout_milliseconds)` and call
 * `pg_notify('pg_net_wake', '')`, which Postgres delivers only at COMMIT (never on rollback), the
 * same wake-at-commit behaviour as pg_net's commit callback. This worker:
 * - LISTENs on `pg_net_wake` and also polls every second (a missed notification, or rows queued
 *   while it was down, are still picked up);
 * - keeps at most 200 requests in flight (pg_net.batch_size), taken in id order and sent
 *   concurrently, each with its own `timeout_milliseconds`;
 * - writes one `net._http_response` row per request under the same id: status_code,
 *   content_type, headers (jsonb object), content (body as text); a timeout gives
 *   `timed_out = true` and `error_msg = 'Timeout of <n> ms reached'`; any other failure (refused,
 *   DNS, bad URL) gives `error_msg` and null status, like pg_net's curl error strings;
 * - deletes each queue row in the same transaction that stores its response;
 * - purges responses older than 6 hours (pg_net.ttl), at most once a minute.
 *
 * Differences from pg_net: it is a separate process outside Postgres (if it is down, requests wait
 * in the queue instead of failing); it uses Deno's fetch instead of libcurl (redirects are not
 * followed, like pg_net's default; error_msg wording differs); a crash between sending and
 * recording leaves the rows queued, so they are sent again (pg_net would drop them); `timed_out`
 * is recorded explicitly where pg_net 0.20 reports timeouts only through error_msg.
 * Logs carry request ids, methods, hosts and status codes only: never URLs' query strings,
 * headers or bodies.
 */
import postgres from "postgres";

/** One row of net.http_request_queue. */
export interface QueuedRequest {
  id: string; // bigint, kept as text
  method: string;
  url: string;
  headers: Record<string, unknown> | null;
  body: Uint8Array | null;
  timeout_milliseconds: number;
}

/** What gets written to net._http_response. */
export interface ResponseRow {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

/** pg_net.batch_size */
export const BATCH_SIZE = 200;
/** pg_net.ttl */
export const RESPONSE_TTL = "6 hours";

function host(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid url)";
  }
}

/** Send one queued request and describe the outcome as a response row. Never throws. */
export async function send(
  req: QueuedRequest,
  fetchFn: typeof fetch = fetch,
): Promise<ResponseRow> {
  const ms = Number(req.timeout_milliseconds) > 0 ? Number(req.timeout_milliseconds) : 5000;
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    headers.set(k, typeof v === "string" ? v : JSON.stringify(v));
  }
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ms);
  const base = { id: req.id, timed_out: false };
  try {
    const res = await fetchFn(req.url, {
      method: req.method,
      headers,
      body: req.body && req.method !== "GET" ? new Uint8Array(req.body) : undefined,
      redirect: "manual",
      signal: ctl.signal,
    });
    const content = await res.text();
    const rh: Record<string, string> = {};
    res.headers.forEach((v, k) => (rh[k] = v));
    return {
      ...base,
      status_code: res.status,
      content_type: res.headers.get("content-type"),
      headers: rh,
      content,
      error_msg: null,
    };
  } catch (e) {
    if (ctl.signal.aborted) {
      return {
        ...base,
        status_code: null,
        content_type: null,
        headers: null,
        content: null,
        timed_out: true,
        error_msg: `Timeout of ${ms} ms reached`,
      };
    }
    const msg = e instanceof Error ? e.message : String(e);
    return {
      ...base,
      status_code: null,
      content_type: null,
      headers: null,
      content: null,
      error_msg: msg.includes("Connection refused") ? `Couldn't connect to server: ${msg}` : msg,
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The worker loop around one database client. Requests run concurrently (at most 200 in
 * flight); each one's response row and queue-row deletion commit together as soon as it finishes,
 * so a slow or timing-out request never holds back the others.
 */
export class Worker {
  #inflight = new Map<string, Promise<void>>();
  #selecting = false;
  #again = false;
  #lastPurge = 0;
  #stopped = false;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /** Pick up queued rows that are not in flight yet. Safe to call at any time. */
  async tick(): Promise<void> {
    if (this.#selecting) {
      this.#again = true;
      return;
    }
    this.#selecting = true;
    try {
      do {
        this.#again = false;
        const room = BATCH_SIZE - this.#inflight.size;
        if (room <= 0 || this.#stopped) break;
        const busy = [...this.#inflight.keys()];
        const rows = await this.sql<QueuedRequest[]>`
          select id::text as id, method, url, headers, body, timeout_milliseconds
          from net.http_request_queue
          where not (id = any(${busy}::bigint[]))
          order by id limit ${room}`;
        for (const r of rows) this.#inflight.set(r.id, this.#handle(r, rows.length === room));
      } while (this.#again);
      await this.#purge();
    } finally {
      this.#selecting = false;
    }
  }

  async #handle(req: QueuedRequest, maybeMore: boolean): Promise<void> {
    const r = await send(req, this.fetchFn);
    try {
      await this.sql.begin(async (tx) => {
        await tx`
          insert into net._http_response
            (id, status_code, content_type, headers, content, timed_out, error_msg)
          values (${r.id}::bigint, ${r.status_code}, ${r.content_type},
                  ${r.headers === null ? null : tx.json(r.headers)}, ${r.content},
                  ${r.timed_out}, ${r.error_msg})`;
        await tx`delete from net.http_request_queue where id = ${r.id}::bigint`;
      });
      const outcome = r.status_code ?? (r.timed_out ? "timeout" : "error");
      console.log(`pg-net-worker: request ${r.id} ${req.method} ${host(req.url)} ${outcome}`);
    } catch (e) {
      // The row stays queued and is retried on the next tick.
      console.error(`pg-net-worker: request ${r.id}: storing the response failed: ${msgOf(e)}`);
    } finally {
      this.#inflight.delete(r.id);
    }
    if (maybeMore) void this.tick().catch(() => {});
  }

  async #purge() {
    if (Date.now() - this.#lastPurge < 60_000) return;
    this.#lastPurge = Date.now();
    const r = await this.sql`
      delete from net._http_response where created < now() - ${RESPONSE_TTL}::interval`;
    if (r.count > 0) console.log(`pg-net-worker: purged ${r.count} old responses`);
  }

  /** Resolve when every request in flight has been recorded. */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight.values()]);
  }

  /** Take no new rows; requests in flight still finish. */
  stop() {
    this.#stopped = true;
  }
}

function msgOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function main() {
  const dbUrl = Deno.env.get("SUPABASE_DB_URL");
  if (!dbUrl) throw new Error("SUPABASE_DB_URL is not set");
  const sql = postgres(dbUrl, { max: 3, onnotice: () => {}, prepare: true });
  const worker = new Worker(sql);
  const tick = () =>
    worker.tick().catch((e) => console.error(`pg-net-worker: poll failed: ${msgOf(e)}`));
  await sql.listen("pg_net_wake", () => void tick(), () => void tick());
  setInterval(tick, 1000);
  // stack.sh waits for this file (holding our pid) before it starts the next part.
  const ready = Deno.env.get("PG_NET_WORKER_READY_FILE");
  if (ready) await Deno.writeTextFile(ready, `${Deno.pid}\n`);
  console.log("pg-net-worker: listening on pg_net_wake");
  const shutdown = async () => {
    worker.stop();
    await Promise.race([worker.idle(), new Promise((r) => setTimeout(r, 2000))]);
    await sql.end({ timeout: 2 });
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", shutdown);
  Deno.addSignalListener("SIGINT", shutdown);
}

if (import.meta.main) await main();
