// Tests for the functions router (scripts/stack/router.ts): the gate logic in-process with fake
// function modules (no function folders are added under supabase/), the config reader on a
// temporary folder, then a few checks against the running router on :54321.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import {
  type AuthConfig,
  createRouter,
  type FunctionEntry,
  type FunctionModule,
  readFunctions,
} from "../../scripts/stack/router.ts";
import { loadEnv, mintUserJwt, REPO_ROOT } from "../../scripts/stack/testkit.ts";

const SECRET = "test-secret-0123456789-0123456789-0123456789";
const OTHER_SECRET = "another-secret-0123456789-0123456789-012345";

async function legacy(role: string, secret = SECRET): Promise<string> {
  return await new SignJWT({ role, iss: "supabase" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));
}

const ANON = await legacy("anon");
const SERVICE = await legacy("service_role");

const AUTH: AuthConfig = {
  jwtSecret: SECRET,
  anonKey: ANON,
  serviceRoleKey: SERVICE,
  publishableKeys: ["sb_publishable_test"],
  secretKeys: ["sb_secret_test"],
};

interface Seen {
  url: string;
  method: string;
  authorization: string | null;
  body: string;
}

/** A router over three fake functions; `seen` records what the functions received. */
function fixture(auth: AuthConfig = AUTH) {
  const seen: Seen[] = [];
  const loads: string[] = [];
  const echo: FunctionModule = {
    default: {
      async fetch(req: Request) {
        seen.push({
          url: req.url,
          method: req.method,
          authorization: req.headers.get("authorization"),
          body: await req.text(),
        });
        return new Response("from function", { status: 207, headers: { "x-fn": "1" } });
      },
    },
  };
  const modules: Record<string, () => Promise<FunctionModule>> = {
    "/fns/secure/index.ts": () => Promise.resolve(echo),
    "/fns/open/index.ts": () => Promise.resolve(echo),
    "/fns/throws/index.ts": () =>
      Promise.resolve({
        default: {
          fetch() {
            throw new Error("boom");
          },
        },
      }),
    "/fns/broken/index.ts": () => Promise.reject(new SyntaxError("Unexpected token")),
    "/fns/nofetch/index.ts": () => Promise.resolve({ default: {} } as FunctionModule),
  };
  const table = new Map<string, FunctionEntry>([
    ["secure", { name: "secure", verifyJwt: true, entrypoint: "/fns/secure/index.ts" }],
    ["open", { name: "open", verifyJwt: false, entrypoint: "/fns/open/index.ts" }],
    ["throws", { name: "throws", verifyJwt: false, entrypoint: "/fns/throws/index.ts" }],
    ["broken", { name: "broken", verifyJwt: false, entrypoint: "/fns/broken/index.ts" }],
    ["nofetch", { name: "nofetch", verifyJwt: false, entrypoint: "/fns/nofetch/index.ts" }],
  ]);
  const handle = createRouter({
    functions: () => Promise.resolve(table),
    auth,
    load: (p) => {
      loads.push(p);
      return modules[p]();
    },
  });
  const call = (path: string, init: RequestInit = {}) =>
    handle(new Request(`http://127.0.0.1:54321${path}`, init));
  return { call, seen, loads };
}

async function expect401(res: Response, code: string) {
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("sb-error-code"), code);
  // The hosted gateway's shape (docs/contracts.md), readable by a browser.
  assert.equal(res.headers.get("access-control-allow-origin"), "*", "a browser can read the 401");
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.json();
  assert.deepEqual(Object.keys(body).sort(), ["code", "message"]);
  assert.equal(body.code, code);
  const messages: Record<string, string> = {
    UNAUTHORIZED_NO_AUTH_HEADER: "Missing authorization header",
    UNAUTHORIZED_INVALID_JWT_FORMAT: "Invalid Token or Protected Header formatting",
  };
  assert.equal(body.message, messages[code] ?? "Invalid JWT");
}

// Routing stays quiet in these tests except for the deliberate boot/worker errors it logs.
const quiet = { sanitizeOps: false, sanitizeResources: false };

Deno.test("router: unknown function → 404 text, health → ok, other paths → 404", async () => {
  const { call } = fixture();
  const nf = await call("/functions/v1/nope");
  assert.equal(nf.status, 404);
  assert.equal(await nf.text(), "Function not found");
  const health = await call("/functions/v1/_internal/health");
  assert.deepEqual(await health.json(), { message: "ok" });
  const other = await call("/rest/v1/trips");
  assert.equal(other.status, 404);
  await other.body?.cancel();
});

Deno.test("router: verify_jwt rejects a missing, malformed, foreign or expired JWT", async () => {
  const { call, seen, loads } = fixture();
  await expect401(await call("/functions/v1/secure"), "UNAUTHORIZED_NO_AUTH_HEADER");
  await expect401(
    await call("/functions/v1/secure", { headers: { authorization: "Basic abc" } }),
    "UNAUTHORIZED_INVALID_JWT_FORMAT",
  );
  await expect401(
    await call("/functions/v1/secure", { headers: { authorization: "Bearer not.a.jwt" } }),
    "UNAUTHORIZED_INVALID_JWT_FORMAT",
  );
  const foreign = await mintUserJwt("00000000-0000-4000-8000-0000000000aa", {
    secret: OTHER_SECRET,
  });
  await expect401(
    await call("/functions/v1/secure", { headers: { authorization: `Bearer ${foreign}` } }),
    "UNAUTHORIZED_LEGACY_JWT",
  );
  const expired = await mintUserJwt("00000000-0000-4000-8000-0000000000aa", {
    secret: SECRET,
    expiresInSeconds: -60,
  });
  await expect401(
    await call("/functions/v1/secure", { headers: { authorization: `Bearer ${expired}` } }),
    "UNAUTHORIZED_LEGACY_JWT",
  );
  assert.equal(seen.length, 0, "the function never ran");
  assert.equal(loads.length, 0, "the module is not even loaded for rejected requests");
});

Deno.test("router: a valid user JWT passes; the request arrives unchanged minus the prefix", async () => {
  const { call, seen, loads } = fixture();
  const jwt = await mintUserJwt("00000000-0000-4000-8000-0000000000aa", { secret: SECRET });
  const res = await call("/functions/v1/secure/sub/path?x=1&y=2", {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
    body: '{"origin":"LHR"}',
  });
  assert.equal(res.status, 207);
  assert.equal(res.headers.get("x-fn"), "1");
  assert.equal(await res.text(), "from function");
  assert.deepEqual(seen, [{
    url: "http://127.0.0.1:54321/secure/sub/path?x=1&y=2",
    method: "POST",
    authorization: `Bearer ${jwt}`,
    body: '{"origin":"LHR"}',
  }]);
  await (await call("/functions/v1/secure", { headers: { authorization: `Bearer ${jwt}` } }))
    .text();
  assert.deepEqual(loads, ["/fns/secure/index.ts"], "imported lazily, once");
});

Deno.test("router: OPTIONS passes without a JWT; verify_jwt=false needs none", async () => {
  const { call, seen } = fixture();
  const pre = await call("/functions/v1/secure", { method: "OPTIONS" });
  assert.equal(pre.status, 207);
  await pre.text();
  const open = await call("/functions/v1/open/x", { method: "POST", body: "{}" });
  assert.equal(open.status, 207);
  await open.text();
  assert.deepEqual(seen.map((s) => [s.method, new URL(s.url).pathname, s.authorization]), [
    ["OPTIONS", "/secure", null],
    ["POST", "/open/x", null],
  ]);
});

Deno.test("router: Kong maps sb_ API keys to the legacy JWTs", async () => {
  const { call, seen } = fixture();
  (await call("/functions/v1/secure", { headers: { apikey: "sb_secret_test" } })).body?.cancel();
  (await call("/functions/v1/secure", { headers: { apikey: "sb_publishable_test" } })).body
    ?.cancel();
  (await call("/functions/v1/secure", {
    headers: { authorization: "Bearer sb_secret_test" },
  })).body?.cancel();
  assert.deepEqual(seen.map((s) => s.authorization), [
    `Bearer ${SERVICE}`,
    `Bearer ${ANON}`,
    `Bearer ${SERVICE}`,
  ]);
  await expect401(
    await call("/functions/v1/secure", { headers: { apikey: "sb_secret_wrong" } }),
    "UNAUTHORIZED_INVALID_JWT_FORMAT",
  );
  // A user JWT in Authorization wins over an apikey.
  const jwt = await mintUserJwt("00000000-0000-4000-8000-0000000000aa", { secret: SECRET });
  (await call("/functions/v1/secure", {
    headers: { authorization: `Bearer ${jwt}`, apikey: "sb_secret_test" },
  })).body?.cancel();
  assert.equal(seen.at(-1)?.authorization, `Bearer ${jwt}`);
});

Deno.test("router: the oct key of SUPABASE_JWKS verifies HS256 tokens", async () => {
  const k = btoa(SECRET).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const { call, seen } = fixture({
    publishableKeys: [],
    secretKeys: [],
    jwks: { keys: [{ kty: "oct", kid: "local", alg: "HS256", k }] },
  });
  const jwt = await mintUserJwt("00000000-0000-4000-8000-0000000000aa", { secret: SECRET });
  const ok = await call("/functions/v1/secure", { headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(ok.status, 207);
  await ok.text();
  assert.equal(seen.length, 1);
});

Deno.test({
  name: "router: thrown error → 500 WORKER_ERROR; failed boot → 503 BOOT_ERROR",
  ...quiet,
  async fn() {
    const { call } = fixture();
    const thrown = await call("/functions/v1/throws");
    assert.equal(thrown.status, 500);
    assert.equal((await thrown.json()).code, "WORKER_ERROR");
    const broken = await call("/functions/v1/broken");
    assert.equal(broken.status, 503);
    assert.equal((await broken.json()).code, "BOOT_ERROR");
    const nofetch = await call("/functions/v1/nofetch");
    assert.equal(nofetch.status, 503);
    assert.equal((await nofetch.json()).code, "BOOT_ERROR");
  },
});

Deno.test("router: readFunctions reads config.toml and the function folders", async () => {
  const local = `${REPO_ROOT}/.local`;
  await Deno.mkdir(local, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: local, prefix: "router-test-" });
  try {
    for (const f of ["alpha", "beta", "gamma", "_shared", "custom", "empty"]) {
      await Deno.mkdir(`${dir}/functions/${f}`, { recursive: true });
    }
    for (const f of ["alpha", "beta", "gamma", "_shared"]) {
      await Deno.writeTextFile(`${dir}/functions/${f}/index.ts`, "export default {};\n");
    }
    await Deno.writeTextFile(`${dir}/functions/custom/main.ts`, "export default {};\n");
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      `project_id = "x"
[functions.beta]
verify_jwt = false
[functions.gamma]
enabled = false
[functions.custom]
entrypoint = "./functions/custom/main.ts"
`,
    );
    const t = await readFunctions(dir);
    assert.deepEqual([...t.keys()].sort(), ["alpha", "beta", "custom"]);
    assert.equal(t.get("alpha")?.verifyJwt, true);
    assert.equal(t.get("beta")?.verifyJwt, false);
    assert.equal(t.get("custom")?.entrypoint, `${dir}/functions/custom/main.ts`);
    assert.equal(t.get("alpha")?.entrypoint, `${dir}/functions/alpha/index.ts`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- against the running router ----------------------------------------------------------------

// Read lazily so that the in-process tests above also run without a stack.
const base = () => `${loadEnv().SUPABASE_URL}/functions/v1`;

Deno.test("live router: 404 for an unknown function, health answers", async () => {
  const nf = await fetch(`${base()}/no-such-function`);
  assert.equal(nf.status, 404);
  assert.equal(await nf.text(), "Function not found");
  const health = await fetch(`${base()}/_internal/health`);
  assert.deepEqual(await health.json(), { message: "ok" });
});

Deno.test("live router: a verify_jwt function (trip-search) needs a valid JWT", async () => {
  const table = await readFunctions(`${REPO_ROOT}/supabase`);
  const gated = [...table.values()].find((f) => f.verifyJwt);
  assert.ok(gated, "supabase/config.toml declares at least one verify_jwt function");
  const url = `${base()}/${gated.name}`;
  const none = await fetch(url, { method: "POST", body: "{}" });
  await expect401(none, "UNAUTHORIZED_NO_AUTH_HEADER");
  const foreign = await mintUserJwt("00000000-0000-4000-8000-0000000000aa", {
    secret: OTHER_SECRET,
  });
  const bad = await fetch(url, {
    method: "POST",
    body: "{}",
    headers: { authorization: `Bearer ${foreign}` },
  });
  await expect401(bad, "UNAUTHORIZED_LEGACY_JWT");
  // Preflight is not gated: whatever the function answers, it is not the router's 401.
  const pre = await fetch(url, { method: "OPTIONS" });
  await pre.body?.cancel();
  assert.notEqual(pre.status, 401);
  // With a valid token the gate lets the request through to the function.
  const jwt = await mintUserJwt("00000000-0000-4000-8000-000000000001", { env: loadEnv() });
  const ok = await fetch(url, {
    method: "POST",
    body: "{}",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
  });
  await ok.body?.cancel();
  assert.notEqual(ok.headers.get("sb-error-code")?.startsWith("UNAUTHORIZED"), true);
});
