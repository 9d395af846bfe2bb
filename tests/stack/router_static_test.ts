// The router's static part (scripts/stack/router.ts serveStatic): the ops dashboard's files from
// web/ops at /ops/, with the page's security headers; nothing outside that flat folder.
import assert from "node:assert/strict";
import { createRouter, serveStatic } from "../../scripts/stack/router.ts";
import { REPO_ROOT } from "../../scripts/stack/testkit.ts";

const DIR = `${REPO_ROOT}/web/ops`;

Deno.test("router static: /ops/ is the dashboard page with its security headers", async () => {
  const res = await serveStatic(DIR, "/ops/", "GET");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.match(await res.text(), /<title>Auto-Booking Ops<\/title>/);
  const js = await serveStatic(DIR, "/ops/app.js", "GET");
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  await js.body?.cancel();
});

Deno.test("router static: traversal, other types, missing files and other methods are refused", async () => {
  for (const path of ["/ops/../deno.json", "/ops/..%2Fdeno.json", "/ops/.env", "/ops/x/app.js"]) {
    const res = await serveStatic(DIR, path, "GET");
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  const json = await serveStatic(DIR, "/ops/deno.json", "GET");
  assert.equal(json.status, 404);
  await json.body?.cancel();
  const missing = await serveStatic(DIR, "/ops/nope.js", "GET");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = await serveStatic(DIR, "/ops/", "POST");
  assert.equal(post.status, 405);
  await post.body?.cancel();
  const bare = await serveStatic(DIR, "/ops", "GET");
  assert.deepEqual([bare.status, bare.headers.get("location")], [308, "/ops/"]);
});

Deno.test("router static: only with staticOps; functions routes are unchanged", async () => {
  const without = createRouter({
    functions: () => Promise.resolve(new Map()),
    auth: { publishableKeys: [], secretKeys: [] },
  });
  const res = await without(new Request("http://127.0.0.1/ops/"));
  assert.equal(res.status, 404);
  await res.body?.cancel();
  const withPage = createRouter({
    functions: () => Promise.resolve(new Map()),
    auth: { publishableKeys: [], secretKeys: [] },
    staticOps: DIR,
  });
  const page = await withPage(new Request("http://127.0.0.1/ops/"));
  assert.equal(page.status, 200);
  await page.body?.cancel();
  const fn = await withPage(new Request("http://127.0.0.1/functions/v1/nope"));
  assert.equal(fn.status, 404);
  assert.equal(await fn.text(), "Function not found");
});
