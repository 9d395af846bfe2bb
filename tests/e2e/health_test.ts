/**
 * Issue 9, item 2, on the local stack: `health` answers 503 naming the failing check when Redis
 * is stopped or the monitor's heartbeat is old, and 200 again once they recover; no user JWT is
 * needed, the numbers come only with a token, and nothing personal is in the answer.
 */
import assert from "node:assert/strict";
import { e2eTest, env, FUNCTIONS, sql } from "./helpers.ts";
import { runMonitor } from "./monitor_helpers.ts";

type Health = {
  status: string;
  checks: Record<string, string>;
  failing: string[];
  detail?: Record<string, Record<string, unknown>>;
};

async function health(token?: string): Promise<{ status: number; body: Health }> {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${FUNCTIONS}/health`, { headers });
  return { status: res.status, body: await res.json() };
}

const secretKey = () => env.SUPABASE_SECRET_KEY ?? JSON.parse(env.SUPABASE_SECRET_KEYS).default;

/**
 * The checks that fail for reasons older than this test (earlier runs' dead letters or idle
 * attempts in a long-lived local database), computed from the database directly. On a fresh
 * stack (CI) there are none, and health must answer 200.
 */
async function leftovers(): Promise<string[]> {
  const [{ s }] = await sql()`select app.health_snapshot('{}') as s`;
  const out: string[] = [];
  if (s.due_oldest_age_s !== null && s.due_oldest_age_s > 900) out.push("due_backlog");
  if (s.stuck_attempts > 0) out.push("stuck_attempts");
  if (s.outbox_oldest_age_s !== null && s.outbox_oldest_age_s > 900) out.push("outbox");
  if (s.outbox_dead_24h > 0 || s.alert_dead > 0) out.push("dead_letters");
  if (s.money_held.some((h: { oldest_age_s: number }) => h.oldest_age_s > 86_400)) {
    out.push("money_held");
  }
  return out;
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function healthyAgain(): Promise<void> {
  await runMonitor({}); // a fresh heartbeat
  const expected = await leftovers();
  const res = await health();
  assert.deepEqual(res.body.failing, expected, JSON.stringify(res.body));
  assert.equal(res.status, expected.length === 0 ? 200 : 503);
  assert.equal(res.body.status, expected.length === 0 ? "ok" : "fail");
}

e2eTest("health: 200 when healthy, numbers only with a token, nothing personal", async () => {
  await healthyAgain();
  const plain = await health();
  assert.equal(plain.body.detail, undefined, "no numbers without the token");
  assert.deepEqual(Object.keys(plain.body.checks).sort(), [
    "database",
    "dead_letters",
    "due_backlog",
    "heartbeat",
    "money_held",
    "outbox",
    "redis",
    "stuck_attempts",
  ]);
  const wrong = await health("not-the-token-at-all");
  assert.equal(wrong.body.detail, undefined, "a wrong token gets no numbers");
  const detailed = await health(secretKey());
  assert.equal(typeof detailed.body.detail?.heartbeat.age_s, "number");
  assert.ok(Array.isArray(detailed.body.detail?.money_held.held));
  const text = JSON.stringify(detailed.body);
  assert.doesNotMatch(text, /@|given_name|family_name|born_on|phone/, "no personal data");
  const post = await fetch(`${FUNCTIONS}/health`, { method: "POST", body: "{}" });
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

e2eTest("health: 503 naming redis while Redis is stopped, 200 after", async () => {
  const port = new URL(env.REDIS_URL ?? "redis://127.0.0.1:54379").port;
  await run("redis-cli", ["-h", "127.0.0.1", "-p", port, "shutdown", "nosave"]).catch(() => {});
  try {
    const down = await health();
    assert.equal(down.status, 503);
    assert.equal(down.body.status, "fail");
    assert.equal(down.body.checks.redis, "fail");
    assert.ok(down.body.failing.includes("redis"));
    assert.equal(down.body.checks.database, "ok", "only Redis is down");
  } finally {
    await run("bash", ["scripts/stack.sh", "up"]);
  }
  // The Upstash gateway reconnects to the restarted Redis within moments.
  let up = await health();
  for (let i = 0; i < 25 && up.body.checks.redis !== "ok"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    up = await health();
  }
  assert.equal(up.body.checks.redis, "ok", JSON.stringify(up.body));
  await healthyAgain();
});

e2eTest("health: 503 naming heartbeat when the last monitor run is old, 200 after", async () => {
  const [{ jobid, active }] = await sql()`select jobid, active from cron.job
    where jobname = 'auto-book-monitor'`;
  await sql()`select cron.alter_job(${jobid}::bigint, active := false)`;
  try {
    // A run already on its way when the job was paused may still stamp a fresh heartbeat once.
    let old = await health();
    for (let i = 0; i < 5 && old.body.checks.heartbeat !== "fail"; i++) {
      await sql()`update public.pipeline_settings set heartbeat_at = now() - interval '10 minutes'`;
      old = await health();
      if (old.body.checks.heartbeat !== "fail") await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(old.status, 503);
    assert.equal(old.body.checks.heartbeat, "fail");
    assert.ok(old.body.failing.includes("heartbeat"));
    const detailed = await health(secretKey());
    assert.ok(Number(detailed.body.detail?.heartbeat.age_s) >= 600);
  } finally {
    await sql()`select cron.alter_job(${jobid}::bigint, active := ${active})`;
  }
  await healthyAgain();
});
