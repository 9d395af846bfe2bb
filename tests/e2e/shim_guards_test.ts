/**
 * Issue 6 guards at the edges, through the router: duplicate JSON keys (400), the content type
 * (415), the per-user cap on active trips (409), anonymous users and auto-book (403), the
 * gateway's own 401 (hosted shape, readable by a browser), and the functions' least-privilege
 * database role.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { mintUserJwt } from "../../scripts/stack/testkit.ts";
import {
  callSearch,
  closeSql,
  e2eTest,
  env,
  FUNCTIONS,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";

async function scripted() {
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "399.00", stops: 0 }] });
  return route;
}

e2eTest("duplicate keys at any depth are refused with 400 duplicate_key", async () => {
  const user = await newUser();
  const route = await scripted();
  const valid = JSON.stringify(tripBody(route));
  const raws = [
    valid.replace("{", '{"origin":"XX1",'), // {"origin":"XX1","origin":"Q..."}: last would win
    valid.replace("}", ',"child_ages":[],"child_ages":[]}'),
    '{"trip_id":"5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e11","trip_id":"5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e12"}',
  ];
  for (const raw of raws) {
    const res = await callSearch(null, user.jwt, { raw });
    assert.equal(res.status, 400, raw);
    assert.equal(res.json.code, "duplicate_key", raw);
  }
  const [{ n }] = await sql()`select count(*)::int as n from public.trip_requests
    where owner_id = ${user.id}`;
  assert.equal(n, 0, "nothing was stored");
});

e2eTest("a body that is not application/json gets 415 unsupported_media_type", async () => {
  const user = await newUser();
  const route = await scripted();
  const raw = JSON.stringify(tripBody(route));
  for (
    const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/json; charset=latin1",
      "",
    ]
  ) {
    const res = await callSearch(null, user.jwt, { raw, headers: { "Content-Type": type } });
    assert.equal(res.status, 415, `content type ${JSON.stringify(type)}`);
    assert.equal(res.json.code, "unsupported_media_type");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
  }
  const ok = await callSearch(null, user.jwt, {
    raw,
    headers: { "Content-Type": "application/json; charset=UTF-8" },
  });
  assert.equal(ok.status, 201, JSON.stringify(ok.json));
});

e2eTest("the per-user cap on active trips answers 409 too_many_active_trips", async () => {
  const user = await newUser();
  const route = await scripted();
  await sql()`insert into public.trip_requests (owner_id, origin, destination, departure_date,
      adults, cabin, max_total_minor, currency)
    select ${user.id}, ${route.origin}, ${route.destination}, (now() + interval '60 days')::date,
      1, 'economy', 42000, 'GBP'
    from generate_series(1, (select max_active_trips_per_user from public.pipeline_settings))`;
  const res = await callSearch(tripBody(route), user.jwt);
  assert.equal(res.status, 409, JSON.stringify(res.json));
  assert.equal(res.json.code, "too_many_active_trips");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  // Ending one trip makes room again.
  await sql()`update public.trip_requests set status = 'cancelled'
    where id = (select id from public.trip_requests where owner_id = ${user.id} limit 1)`;
  const again = await callSearch(tripBody(route), user.jwt);
  assert.equal(again.status, 201, JSON.stringify(again.json));
});

e2eTest(
  "anonymous users may watch but not auto-book (403 anonymous_auto_book_forbidden)",
  async () => {
    const user = await newUser();
    const route = await scripted();
    const jwt = await mintUserJwt(user.id, { env, claims: { is_anonymous: true } });
    const refused = await callSearch(tripBody(route, { auto_book: true }), jwt);
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    assert.equal(refused.json.code, "anonymous_auto_book_forbidden");
    const watch = await callSearch(tripBody(route, { auto_book: false }), jwt);
    assert.equal(watch.status, 201, JSON.stringify(watch.json));
  },
);

e2eTest("the gateway's own 401 has the hosted shape and CORS; the function's 401 too", async () => {
  const none = await fetch(`${FUNCTIONS}/trip-search`, { method: "POST", body: "{}" });
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("access-control-allow-origin"), "*");
  assert.equal(none.headers.get("sb-error-code"), "UNAUTHORIZED_NO_AUTH_HEADER");
  assert.deepEqual(await none.json(), {
    code: "UNAUTHORIZED_NO_AUTH_HEADER",
    message: "Missing authorization header",
  });
  const bad = await fetch(`${FUNCTIONS}/trip-search`, {
    method: "POST",
    headers: { Authorization: "Bearer not.a.jwt" },
    body: "{}",
  });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get("access-control-allow-origin"), "*");
  assert.equal((await bad.json()).code, "UNAUTHORIZED_INVALID_JWT_FORMAT");
  // A token the gateway accepts but the function refuses (wrong audience): the function's 401.
  const user = await newUser();
  const wrongAud = await mintUserJwt(user.id, { env, claims: { aud: "somebody-else" } });
  const fn = await callSearch({}, wrongAud);
  assert.equal(fn.status, 401);
  assert.equal(fn.json.code, "unauthorized");
  assert.equal(fn.headers.get("access-control-allow-origin"), "*");
});

e2eTest("functions connect as pipeline_functions, which has no privilege of its own", async () => {
  // The router's connections (opened by the calls above) log in as the functions' role.
  const user = await newUser();
  await callSearch(tripBody(await scripted()), user.jwt);
  const users = await sql()`select distinct usename::text as u from pg_stat_activity
    where application_name = 'parker-functions'`;
  assert.deepEqual(users.map((r) => r.u), ["pipeline_functions"]);

  assert.ok(env.PIPELINE_DB_URL, "PIPELINE_DB_URL is in .local/env");
  const fnDb = postgres(env.PIPELINE_DB_URL, { prepare: false, max: 1, onnotice: () => {} });
  try {
    const [me] = await fnDb`select current_user::text as u, (select rolsuper from pg_roles
      where rolname = current_user) as su`;
    assert.deepEqual({ ...me }, { u: "pipeline_functions", su: false });
    const denied = async (query: string) => {
      await assert.rejects(
        () => fnDb.unsafe(query),
        (e: { code?: string }) => e.code === "42501",
        query,
      );
    };
    await denied("select count(*) from auth.users");
    await denied("select count(*) from public.trip_requests");
    await denied("set role postgres");
    await denied("select pg_catalog.pg_read_file('/etc/hostname')");
    await denied("alter system set log_statement = 'all'");
    // Within a transaction as authenticated, RLS applies: no other user's trips.
    const seen = await fnDb.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true),
        set_config('request.jwt.claims', ${
        JSON.stringify({ sub: user.id, role: "authenticated" })
      }, true)`;
      return await tx`select distinct owner_id::text as o from public.trip_requests`;
    });
    assert.deepEqual(seen.map((r) => r.o), [user.id]);
  } finally {
    await fnDb.end({ timeout: 1 });
    await closeSql();
  }
});
