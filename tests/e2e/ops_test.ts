/**
 * The `ops` function over HTTP: only operators (app_metadata role/roles) pass, everybody else is
 * refused with stable codes; bad input is a 4xx; and the pipeline metrics it serves count the
 * monitor's provider calls and 429s (a scripted Duffel 429 shows up in app.pipeline_metrics).
 */
import assert from "node:assert/strict";
import { createUser, mintUserJwt } from "../../scripts/stack/testkit.ts";
import {
  callSearch,
  closeSql,
  e2eTest,
  env,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import { makeDue, runMonitor } from "./monitor_helpers.ts";
import { call } from "./user_fn_helpers.ts";

async function userWith(appMetadata: unknown, userMetadata: unknown = {}): Promise<string> {
  const id = crypto.randomUUID();
  await createUser(sql(), id);
  return await mintUserJwt(id, {
    env,
    claims: { app_metadata: appMetadata, user_metadata: userMetadata },
  });
}

e2eTest("ops: only operators pass; everybody else gets 401/403 with stable codes", async () => {
  const none = await call("ops", { action: "overview" }, null);
  assert.equal(none.status, 401);
  const traveller = await newUser();
  const t = await call("ops", { action: "overview" }, traveller.jwt);
  assert.deepEqual([t.status, t.json.code], [403, "operator_required"]);
  // user_metadata is the user's own to write: it never grants anything.
  const selfMade = await userWith({ provider: "email" }, { role: "operator", roles: ["operator"] });
  const s = await call("ops", { action: "overview" }, selfMade);
  assert.deepEqual([s.status, s.json.code], [403, "operator_required"]);
  const wrongShape = await userWith({ roles: "operator" });
  assert.equal((await call("ops", { action: "overview" }, wrongShape)).status, 403);

  for (const meta of [{ role: "operator" }, { roles: ["support", "operator"] }]) {
    const ok = await call("ops", { action: "overview" }, await userWith(meta));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(typeof ok.json.trips_by_status, "object");
    assert.ok(Array.isArray(ok.json.flags));
    assert.ok(Array.isArray(ok.json.runs_24h));
    assert.equal(typeof ok.json.metrics.attempts_started, "number");
  }
});

e2eTest("ops: bad input is a 4xx with a stable code and changes nothing", async () => {
  const op = await userWith({ roles: ["operator"] });
  const cases: [unknown, number, string][] = [
    [{ action: "nope" }, 400, "validation_failed"],
    [{}, 400, "validation_failed"],
    [[1], 400, "invalid_json"],
    [{ action: "overview", extra: 1 }, 400, "validation_failed"],
    [{ action: "overview", stuck_minutes: 0 }, 400, "validation_failed"],
    [{ action: "metrics", hours: 10000 }, 400, "validation_failed"],
    [{ action: "pause_monitor" }, 400, "validation_failed"],
    [{ action: "pause_monitor", reason: "  " }, 400, "validation_failed"],
    [{ action: "set_flag", name: "auto_booking", reason: "x" }, 400, "validation_failed"],
    [
      { action: "set_flag", name: "auto_booking", rollout_bp: 10001, reason: "x" },
      400,
      "validation_failed",
    ],
    [
      { action: "set_flag", name: "auto_booking", rollout_bp: 1.5, reason: "x" },
      400,
      "validation_failed",
    ],
    [{ action: "set_flag", name: "no_such_flag", rollout_bp: 1, reason: "x" }, 404, "unknown_flag"],
  ];
  const [before] = await sql()`select monitor_enabled from public.pipeline_settings`;
  const [flag] = await sql()`select rollout_bp, updated_at from public.feature_flags
    where name = 'auto_booking'`;
  for (const [body, status, code] of cases) {
    const r = await call("ops", body, op);
    assert.deepEqual([r.status, r.json.code], [status, code], JSON.stringify(body));
  }
  const raw = await call("ops", null, op, { raw: "{not json" });
  assert.deepEqual([raw.status, raw.json.code], [400, "invalid_json"]);
  const type = await call("ops", { action: "overview" }, op, { contentType: "text/plain" });
  assert.deepEqual([type.status, type.json.code], [415, "unsupported_media_type"]);
  const get = await call("ops", null, op, { method: "GET" });
  assert.deepEqual([get.status, get.json.code], [405, "method_not_allowed"]);
  const [after] = await sql()`select monitor_enabled from public.pipeline_settings`;
  assert.equal(after.monitor_enabled, before.monitor_enabled);
  const [flagAfter] = await sql()`select rollout_bp, updated_at from public.feature_flags
    where name = 'auto_booking'`;
  assert.deepEqual({ ...flagAfter }, { ...flag });
});

e2eTest("ops: a Duffel 429 in a monitor run shows in the metrics' provider calls", async () => {
  const op = await userWith({ roles: ["operator"] });
  const before = (await call("ops", { action: "metrics", hours: 1 }, op)).json;
  const route = randomRoute();
  await scriptRoute({
    ...route,
    currency: "GBP",
    offers: [{ total: "399.00", stops: 0, cabin: "economy" }],
  });
  const traveller = await newUser();
  const created = await callSearch(tripBody(route), traveller.jwt);
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const tripId = (created.json.trip as { id: string }).id;
  await scriptRoute({
    ...route,
    currency: "GBP",
    offers: [{ total: "399.00", stops: 0, cabin: "economy" }],
    search: { status: 429, code: "rate_limit_exceeded", type: "rate_limit_error", times: 1 },
  });
  await sql()`update public.trip_requests set selected_offer_id = null where id = ${tripId}`;
  await makeDue(tripId, false);
  const run = await runMonitor({ trip_id: tripId });
  assert.equal(run.status, 200, JSON.stringify(run.json));
  const calls = run.json.provider_calls as Record<string, number>;
  const limited = run.json.provider_429 as Record<string, number>;
  assert.ok((calls.duffel ?? 0) >= 1, JSON.stringify(run.json));
  assert.ok((limited.duffel ?? 0) >= 1, JSON.stringify(run.json));
  const [row] = await sql()`select summary from public.monitor_runs where run_id = ${run.json
    .run_id as string}`;
  assert.deepEqual(row.summary.provider_429, limited);
  const after = (await call("ops", { action: "metrics", hours: 1 }, op)).json;
  assert.equal(
    (after.provider_429.duffel ?? 0) - (before.provider_429.duffel ?? 0) >= limited.duffel,
    true,
    JSON.stringify({ before: before.provider_429, after: after.provider_429 }),
  );
  await closeSql();
});
