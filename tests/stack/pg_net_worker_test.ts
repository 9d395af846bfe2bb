// Tests for the pg_net stand-in (SQL half in scripts/stack/sql/bootstrap.sql, worker in
// scripts/stack/pg-net-worker.ts) against the running stack: requests queued with net.http_*
// reach a local HTTP server only after COMMIT, and their responses appear in net._http_response.
import assert from "node:assert/strict";
import { connect, loadEnv, type Sql } from "../../scripts/stack/testkit.ts";
import { send } from "../../scripts/stack/pg-net-worker.ts";

interface Hit {
  method: string;
  path: string;
  query: string;
  contentType: string | null;
  marker: string | null;
  body: string;
}

/** A local HTTP server that records every request; `/slow` answers after 1.5 s. */
function startServer() {
  const hits: Hit[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      hits.push({
        method: req.method,
        path: url.pathname,
        query: url.search,
        contentType: req.headers.get("content-type"),
        marker: req.headers.get("x-marker"),
        body: await req.text(),
      });
      if (url.pathname === "/slow") {
        await new Promise((r) => setTimeout(r, 1500));
      }
      return new Response(JSON.stringify({ echoed: url.pathname }), {
        status: url.pathname === "/missing" ? 404 : 201,
        headers: { "content-type": "application/json", "x-reply": "yes" },
      });
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { hits, base, server };
}

interface ResponseRow {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
  created: Date;
}

async function waitForResponse(sql: Sql, id: string, ms = 10_000): Promise<ResponseRow> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const rows = await sql<ResponseRow[]>`
      select id::text, status_code, content_type, headers, content, timed_out, error_msg, created
      from net._http_response where id = ${id}::bigint`;
    if (rows.length > 0) return rows[0];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no net._http_response row for request ${id} after ${ms} ms (worker running?)`);
}

async function withStack(fn: (sql: Sql, srv: ReturnType<typeof startServer>) => Promise<void>) {
  const sql = connect(loadEnv(), 2);
  const srv = startServer();
  try {
    await fn(sql, srv);
  } finally {
    await sql.end({ timeout: 2 });
    await srv.server.shutdown();
  }
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "pg_net: a committed http_post reaches the server and its response is recorded",
  ...opts,
  fn: () =>
    withStack(async (sql, { hits, base }) => {
      const marker = crypto.randomUUID();
      const [{ id }] = await sql`
        select net.http_post(
          url := ${base + "/hook"},
          body := ${sql.json({ trip: "t1", n: 1 })},
          params := '{"q":"a b"}'::jsonb,
          headers := jsonb_build_object('Content-Type', 'application/json', 'X-Marker', ${marker}::text)
        )::text as id`;
      const row = await waitForResponse(sql, id);
      assert.equal(row.status_code, 201);
      assert.equal(row.content_type, "application/json");
      assert.equal(row.headers?.["x-reply"], "yes");
      assert.deepEqual(JSON.parse(row.content ?? ""), { echoed: "/hook" });
      assert.equal(row.timed_out, false);
      assert.equal(row.error_msg, null);

      const hit = hits.find((h) => h.marker === marker);
      assert.ok(hit, "the server saw the request");
      assert.equal(hit.method, "POST");
      assert.equal(hit.query, "?q=a%20b");
      assert.equal(hit.contentType, "application/json");
      assert.deepEqual(JSON.parse(hit.body), { trip: "t1", n: 1 });

      const queued = await sql`select 1 from net.http_request_queue where id = ${id}::bigint`;
      assert.equal(queued.length, 0, "the queue row is deleted");
    }),
});

Deno.test({
  name: "pg_net: a rolled-back http_post is never sent",
  ...opts,
  fn: () =>
    withStack(async (sql, { hits, base }) => {
      const rolledBack = crypto.randomUUID();
      let rbId = "";
      await assert.rejects(
        sql.begin(async (tx) => {
          const [{ id }] = await tx`
            select net.http_post(${base + "/never"}, '{}'::jsonb, '{}'::jsonb,
              jsonb_build_object('Content-Type', 'application/json', 'X-Marker', ${rolledBack}::text)
            )::text as id`;
          rbId = id;
          throw new Error("roll back");
        }),
        /roll back/,
      );
      // A committed request queued afterwards is processed; by then the rolled-back one would
      // have been too, had it been visible.
      const committed = crypto.randomUUID();
      const [{ id }] = await sql`
        select net.http_get(${base + "/after"},
          headers := jsonb_build_object('X-Marker', ${committed}::text))::text as id`;
      await waitForResponse(sql, id);
      await new Promise((r) => setTimeout(r, 1200)); // one more poll interval
      assert.ok(hits.some((h) => h.marker === committed));
      assert.equal(hits.filter((h) => h.marker === rolledBack).length, 0);
      const rows = await sql`select 1 from net._http_response where id = ${rbId}::bigint`;
      assert.equal(rows.length, 0);
    }),
});

Deno.test({
  name: "pg_net: a timeout is recorded as timed_out without holding back other requests",
  ...opts,
  fn: () =>
    withStack(async (sql, { base }) => {
      const [{ slow, fast }] = await sql`
        select net.http_get(${base + "/slow"}, timeout_milliseconds := 300)::text as slow,
               net.http_get(${base + "/missing"})::text as fast`;
      const fastRow = await waitForResponse(sql, fast);
      assert.equal(fastRow.status_code, 404);
      const slowRow = await waitForResponse(sql, slow);
      assert.equal(slowRow.timed_out, true);
      assert.equal(slowRow.status_code, null);
      assert.match(slowRow.error_msg ?? "", /Timeout of 300 ms reached/);
      // Recorded separately: the quick answer did not wait for the slow one's timeout.
      assert.ok(fastRow.created < slowRow.created, "the fast response was stored first");
    }),
});

Deno.test({
  name: "pg_net: a refused connection is recorded as an error, not a timeout",
  ...opts,
  fn: () =>
    withStack(async (sql) => {
      // Bind and release a port so that nothing listens on it.
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      const [{ id }] = await sql`
        select net.http_delete(${`http://127.0.0.1:${port}/x`})::text as id`;
      const row = await waitForResponse(sql, id);
      assert.equal(row.status_code, null);
      assert.equal(row.timed_out, false);
      assert.ok(row.error_msg && row.error_msg.length > 0);
    }),
});

Deno.test({
  name: "pg_net worker: send() maps a response, a timeout and an error to response rows",
  ...opts,
  async fn() {
    const srv = startServer();
    try {
      const ok = await send({
        id: "1",
        method: "POST",
        url: `${srv.base}/unit`,
        headers: { "Content-Type": "application/json", "X-Marker": "unit" },
        body: new TextEncoder().encode('{"a": 1}'),
        timeout_milliseconds: 2000,
      });
      assert.equal(ok.status_code, 201);
      assert.equal(ok.timed_out, false);
      assert.equal(srv.hits.at(-1)?.body, '{"a": 1}');
      const slow = await send({
        id: "2",
        method: "GET",
        url: `${srv.base}/slow`,
        headers: {},
        body: null,
        timeout_milliseconds: 100,
      });
      assert.deepEqual([slow.timed_out, slow.status_code, slow.error_msg], [
        true,
        null,
        "Timeout of 100 ms reached",
      ]);
      const bad = await send({
        id: "3",
        method: "GET",
        url: "not a url",
        headers: {},
        body: null,
        timeout_milliseconds: 100,
      });
      assert.equal(bad.timed_out, false);
      assert.ok(bad.error_msg);
    } finally {
      await srv.server.shutdown();
    }
  },
});
