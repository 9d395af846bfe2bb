/**
 * The ops dashboard (web/ops/, served by the local stack at /ops/) in headless Chromium: Debian's
 * `chromium` (scripts/install.sh) driven by playwright-core (pinned in package.json; no browser
 * is ever downloaded). It loads with an operator's token, refuses a traveller's, shows numbers
 * that match the database (seeded rows: a cancelled trip, an open attempt holding 12.345 KWD
 * that is stuck, an open alert), the pause button pauses the monitor (recorded in
 * operator_actions) and resume resumes it, and a flag's rollout is changed (audited).
 * Screenshots: .local/artifacts/ops-dashboard/*.png (git-ignored).
 *
 * Not a `*_test.ts` file: `deno test tests/` does not pick it up, because playwright needs
 * `--allow-sys`; scripts/test.sh runs it as its own step ("browser") with that flag.
 */
import assert from "node:assert/strict";
import { createUser, mintUserJwt } from "../../scripts/stack/testkit.ts";
import { closeSql, e2eTest, env, newUser, randomRoute, sql } from "../e2e/helpers.ts";
import { attemptState } from "../e2e/user_fn_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const PAGE = `${env.SUPABASE_URL ?? "http://127.0.0.1:54321"}/ops/`;
const ARTIFACTS = `${Deno.cwd()}/.local/artifacts/ops-dashboard`;
const TMP = `${Deno.cwd()}/.local/tmp`;
/**
 * How long the page may take to reach a state. Chromium under libfaketime
 * (scripts/test-future.sh sets FAKETIME) is several times slower: the operator's first load took
 * longer than 15 s there on 2026-12-07 while the same request answered in milliseconds.
 */
const WAIT_MS = Deno.env.get("FAKETIME") ? 90_000 : 15_000;

// playwright-core writes its scratch files under os.tmpdir(); keep them inside .local.
await Deno.mkdir(TMP, { recursive: true });
await Deno.mkdir(ARTIFACTS, { recursive: true });
Deno.env.set("TMPDIR", TMP);
// The same version package.json pins (npm installs it; Deno loads it from its own cache).
// deno-lint-ignore no-import-prefix
const { chromium } = await import("npm:playwright-core@1.65.1");
type Browser = Awaited<ReturnType<typeof chromium.launchPersistentContext>>;

async function launch(): Promise<{ ctx: Browser; dir: string }> {
  const dir = await Deno.makeTempDir({ dir: TMP, prefix: "chromium-profile-" });
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return { ctx, dir };
}

async function operator(): Promise<{ id: string; jwt: string }> {
  const id = crypto.randomUUID();
  await createUser(sql(), id);
  const jwt = await mintUserJwt(id, {
    env,
    claims: { app_metadata: { provider: "email", providers: ["email"], roles: ["operator"] } },
  });
  return { id, jwt };
}

/** Rows the page must show: a cancelled trip, a stuck open attempt holding KWD, an open alert. */
async function seed(owner: string) {
  const db = sql();
  const route = randomRoute();
  const [cancelled] = await db`
    insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
      max_total_minor, currency)
    values (${owner}, ${route.origin}, ${route.destination}, (now() + interval '60 days')::date, 1,
      'economy', 42000, 'GBP')
    returning id`;
  await db`update public.trip_requests set status = 'cancelled' where id = ${cancelled.id}`;
  const [held] = await db`
    insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
      max_total_minor, currency, next_check_at)
    values (${owner}, ${route.origin}, ${route.destination}, (now() + interval '61 days')::date, 1,
      'economy', 20000, 'KWD', now() + interval '300 days')
    returning id`;
  const attempt = crypto.randomUUID();
  const state = {
    ...attemptState(attempt, held.id),
    max_total: { amount_minor: 20000, currency: "KWD" },
    phase: { name: "order" },
    amount: { amount_minor: 12345, currency: "KWD" },
    payment_intent: `pi_ops_${attempt.slice(0, 8)}`,
  };
  await db`
    insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at,
      updated_at)
    values (${attempt}, ${held.id}, ${db.json(state)}, 1, true, 'order',
      now() - interval '2 hours', now() - interval '2 hours')`;
  const [alert] = await db`
    insert into public.operator_alerts (trip_id, attempt_id, reason, detail)
    values (${held.id}, ${attempt}, 'ops_dashboard_test', '{}'::jsonb) returning id`;
  return { cancelled: cancelled.id, held: held.id, attempt, state, alert: alert.id };
}

async function unseed(s: Awaited<ReturnType<typeof seed>>) {
  const db = sql();
  await db`update public.operator_alerts set resolved_at = now() where id = ${s.alert}`;
  const closed = { ...s.state, version: 2, phase: { name: "closed", end: "released" } };
  await db`update public.booking_attempts set state = ${db.json(closed)} where id = ${s.attempt}`;
  await db`delete from public.trip_requests where id in (${s.cancelled}, ${s.held})`;
}

/** Open attempts' held money per currency, as the page defines it. */
async function heldKwd(): Promise<bigint> {
  const [r] = await sql()`
    select coalesce(sum(amount_minor), 0)::text as m from public.booking_attempts
    where open and payment_intent is not null and amount_minor is not null and phase <> 'finish'
      and currency = 'KWD'`;
  return BigInt(r.m);
}

function kwd(minor: bigint): string {
  const s = minor.toString().padStart(4, "0");
  return `${s.slice(0, -3)}.${s.slice(-3)} KWD`;
}

e2eTest("ops dashboard: a traveller is refused (403 operator_required)", async () => {
  const traveller = await newUser();
  const { ctx, dir } = await launch();
  try {
    const page = await ctx.newPage();
    await page.goto(`${PAGE}#access_token=${traveller.jwt}`);
    await page.waitForSelector("body[data-state=refused]", { timeout: WAIT_MS });
    assert.equal(await page.textContent("#refused-code"), "operator_required");
    assert.equal(await page.isVisible("#dashboard"), false);
    assert.ok(!page.url().includes("access_token"), "the token leaves the address bar");
    await page.screenshot({ path: `${ARTIFACTS}/traveller-refused.png`, fullPage: true });
  } finally {
    await ctx.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

e2eTest(
  "ops dashboard: an operator sees the database's numbers, pauses and resumes, sets a rollout",
  async () => {
    const op = await operator();
    const seeded = await seed(op.id);
    const db = sql();
    const [flagBefore] =
      await db`select rollout_bp from public.feature_flags where name = 'auto_booking'`;
    const { ctx, dir } = await launch();
    try {
      await db`update public.pipeline_settings set monitor_enabled = true`;
      const page = await ctx.newPage();
      page.setDefaultTimeout(2 * WAIT_MS);
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${PAGE}#access_token=${op.jwt}`);
      await page.waitForSelector("body[data-state=loaded]", { timeout: WAIT_MS });

      // Numbers compared with the database. A scheduled monitor run may finish a trip left by an
      // earlier test between the two reads, so a mismatch is read again after a refresh.
      for (let attempt = 1;; attempt++) {
        const [c] = await db`select count(*)::int as n from public.trip_requests
          where status = 'cancelled'`;
        const [a] = await db`select count(*)::int as n from public.operator_alerts
          where resolved_at is null`;
        const shown = {
          cancelled: await page.getAttribute(
            "#trips-by-status tr[data-status=cancelled] td:last-child",
            "data-count",
          ),
          alerts: await page.textContent("[data-metric=open_alerts_total]"),
        };
        const want = { cancelled: String(c.n), alerts: String(a.n) };
        if (JSON.stringify(shown) === JSON.stringify(want) || attempt === 3) {
          assert.deepEqual(shown, want);
          break;
        }
        await page.click("#refresh");
        await page.waitForTimeout(300);
      }
      const held = await heldKwd();
      assert.ok(held >= 12345n);
      assert.ok((await page.textContent("#money-held"))!.includes(kwd(held)), "money held in KWD");
      assert.ok((await page.textContent("#stuck-attempts"))!.includes(seeded.attempt.slice(0, 8)));
      assert.ok((await page.textContent("#open-alerts"))!.includes("ops_dashboard_test"));
      const orderRow = await page.textContent("#attempts-by-phase");
      assert.ok(orderRow!.includes("order") && orderRow!.includes("KWD"));
      assert.equal(
        await page.getAttribute(
          "#flags tr:has(form[data-flag=auto_booking]) [data-rollout]",
          "data-rollout",
        ),
        String(flagBefore.rollout_bp),
      );
      assert.equal(await page.textContent("#monitor-state"), "running");
      assert.ok(await page.isVisible("#runs-chart svg"));
      await page.screenshot({ path: `${ARTIFACTS}/operator.png`, fullPage: true });

      // No reason, no action.
      await page.click("#monitor-toggle");
      await page.waitForSelector("#error:not([hidden])");
      const [still] = await db`select monitor_enabled from public.pipeline_settings`;
      assert.equal(still.monitor_enabled, true);

      // Pause.
      await page.fill("#action-reason", "ops dashboard test");
      await page.click("#monitor-toggle");
      await page.waitForSelector("#monitor-state.paused");
      const [paused] = await db`select monitor_enabled from public.pipeline_settings`;
      assert.equal(paused.monitor_enabled, false);
      const [act] = await db`select action, reason from public.operator_actions
      where actor = ${op.id} order by id desc limit 1`;
      assert.deepEqual({ ...act }, { action: "monitor_pause", reason: "ops dashboard test" });
      await page.screenshot({ path: `${ARTIFACTS}/paused.png`, fullPage: true });

      // Resume.
      await page.click("#monitor-toggle");
      await page.waitForSelector("#monitor-state.running");
      const [resumed] = await db`select monitor_enabled from public.pipeline_settings`;
      assert.equal(resumed.monitor_enabled, true);

      // A flag's rollout, audited with the operator as the actor.
      const target = flagBefore.rollout_bp === 9999 ? 9998 : 9999;
      await page.fill("form[data-flag=auto_booking] input", String(target));
      await page.click("form[data-flag=auto_booking] button");
      await page.waitForSelector(`#flags [data-rollout="${target}"]`);
      const [flag] =
        await db`select rollout_bp, updated_by from public.feature_flags where name = 'auto_booking'`;
      assert.deepEqual({ ...flag }, { rollout_bp: target, updated_by: op.id });
      const [audit] = await db`select changed_by, reason, after ->> 'rollout_bp' as bp
      from public.feature_flag_audit where flag = 'auto_booking' order by id desc limit 1`;
      assert.deepEqual({ ...audit }, {
        changed_by: op.id,
        reason: "ops dashboard test",
        bp: String(target),
      });
      assert.deepEqual(errors, []);
    } finally {
      await ctx.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await db`update public.pipeline_settings set monitor_enabled = true`;
      await db`select app.set_feature_flag(${
        db.json({
          name: "auto_booking",
          rollout_bp: flagBefore.rollout_bp,
          actor: "ops_dashboard_test",
          reason: "restore after the ops dashboard test",
        })
      })`;
      await unseed(seeded);
      await closeSql();
    }
  },
);
