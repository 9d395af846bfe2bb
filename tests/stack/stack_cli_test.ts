// Tests for scripts/stack.sh's commands and the testkit against the running stack.
import assert from "node:assert/strict";
import { jwtVerify } from "jose";
import {
  connect,
  createUser,
  loadEnv,
  parseEnv,
  REPO_ROOT,
  shellQuote,
  TEST_USER,
} from "../../scripts/stack/testkit.ts";

async function stack(...args: string[]): Promise<{ code: number; stdout: string }> {
  const out = await new Deno.Command("bash", {
    args: [`${REPO_ROOT}/scripts/stack.sh`, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("testkit: parseEnv reads back what shellQuote writes, and dotenv forms", () => {
  const values = ['{"keys":[{"k":"a b"}]}', "it's", "plain-value_1", "", "a=b #c"];
  const text = values.map((v, i) => `K${i}=${shellQuote(v)}`).join("\n");
  assert.deepEqual(Object.values(parseEnv(text)), values);
  assert.deepEqual(
    parseEnv('# c\nexport A="x \\"y\\""\nB=bare # comment\n\nnot a line\nC=\'q\'\n'),
    { A: 'x "y"', B: "bare", C: "q" },
  );
});

Deno.test("stack.sh running exits 0 and a second up changes nothing", async () => {
  assert.equal((await stack("running")).code, 0);
  const up = await stack("up");
  assert.equal(up.code, 0);
  for (const line of up.stdout.trim().split("\n")) {
    assert.match(line, /already running|up to date|skipped/, line);
  }
});

Deno.test("stack.sh env prints the generated environment as export lines", async () => {
  const out = await stack("env");
  assert.equal(out.code, 0);
  assert.ok(out.stdout.split("\n").filter(Boolean).every((l) => l.startsWith("export ")));
  const printed = parseEnv(out.stdout);
  for (const [k, v] of Object.entries(loadEnv())) {
    // supabase/functions/.env may override a value; every generated key is present.
    assert.ok(k in printed, k);
    if (!k.startsWith("SUPABASE_") && !k.startsWith("UPSTASH_")) continue;
    assert.equal(printed[k], v, k);
  }
  const env = loadEnv();
  assert.equal(env.SUPABASE_URL, "http://127.0.0.1:54321");
  assert.equal(env.SUPABASE_DB_URL, "postgresql://postgres:postgres@127.0.0.1:54322/postgres");
  assert.equal(env.TRIP_SEARCH_RATE_LIMIT, "10/60");
  assert.match(JSON.parse(env.SUPABASE_PUBLISHABLE_KEYS).default, /^sb_publishable_/);
  assert.match(JSON.parse(env.SUPABASE_SECRET_KEYS).default, /^sb_secret_/);
  const jwk = JSON.parse(env.SUPABASE_JWKS).keys[0];
  assert.deepEqual([jwk.kty, jwk.kid, jwk.alg], ["oct", "local", "HS256"]);
});

Deno.test({
  name: "stack.sh status prints a JWT for the local test user, who exists in auth.users",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const out = await stack("status");
    assert.equal(out.code, 0, out.stdout);
    const token = out.stdout.match(/^user jwt: (\S+)$/m)?.[1];
    assert.ok(token, "a `user jwt:` line");
    const env = loadEnv();
    const { payload } = await jwtVerify(token, new TextEncoder().encode(env.SUPABASE_JWT_SECRET));
    assert.equal(payload.sub, TEST_USER.id);
    assert.equal(payload.role, "authenticated");
    assert.equal(payload.aud, "authenticated");
    for (const k of ["anon key", "service_role key", "publishable key", "secret key", "db url"]) {
      assert.match(out.stdout, new RegExp(`^${k}: \\S+`, "m"), k);
    }
    const sql = connect(env, 1);
    try {
      const rows = await sql`select email from auth.users where id = ${TEST_USER.id}`;
      assert.equal(rows.length, 1);
      // createUser is idempotent.
      assert.equal(await createUser(sql, TEST_USER.id, TEST_USER.email), false);
    } finally {
      await sql.end({ timeout: 2 });
    }
  },
});
