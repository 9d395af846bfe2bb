-- The monitor at scale (migration 20261203000300): the new settings and their ranges, the claim's
-- larger limit, app.monitor_batch (group commit: one savepoint per call, a failing call fails
-- alone, only the monitor's per-trip writes, service only) and app.monitor_fanout (one invocation per
-- batch of due trips, at least 1, at most fanout_max) and the cron command that uses it.
begin;
select plan(25);

create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;

insert into auth.users (id, email) values ('15015015-0000-4000-8000-000000000150', 'scale@example.test');

-- n searching trips of the test user, due since 1900 (before anything real).
create function pg_temp.trips(n int) returns setof uuid language sql as $$
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, next_check_at)
  select '15015015-0000-4000-8000-000000000150', 'LHR', 'JFK', pg_temp.day(100), 1, 'economy', 42000, 'GBP',
    timestamptz '1900-01-03 00:00:00+00' + make_interval(secs => g)
  from generate_series(1, n) g
  returning id
$$;
create temp table t as select id, row_number() over () as k from pg_temp.trips(3) as id;
grant select on t to public;

-- Settings ------------------------------------------------------------------------------------
select is(
  (select jsonb_build_object('batch', batch_size, 'budget', provider_call_budget, 'concurrency', concurrency,
     'fanout', fanout_max, 'duffel', duffel_calls_per_second, 'stripe', stripe_calls_per_second)
   from public.pipeline_settings),
  '{"batch": 1000, "budget": 1100, "concurrency": 64, "fanout": 4, "duffel": 40, "stripe": 20}'::jsonb,
  'defaults: 1000 trips per run, 64 in flight, up to 4 runs per tick, shared provider rates');
select ok(
  (select batch_size * fanout_max * 15 >= 10000 from public.pipeline_settings),
  'the defaults re-check 10,000 watched trips within 15 one-minute ticks (even without 30 s ticks)');
select lives_ok($$ update public.pipeline_settings set batch_size = 10000 $$, 'batch_size may be 10,000');
select throws_ok($$ update public.pipeline_settings set batch_size = 10001 $$, '23514', null, 'but not more');
select throws_ok($$ update public.pipeline_settings set concurrency = 513 $$, '23514', null, 'concurrency at most 512');
select throws_ok($$ update public.pipeline_settings set fanout_max = 0 $$, '23514', null, 'fanout_max at least 1');
select throws_ok($$ update public.pipeline_settings set fanout_max = 33 $$, '23514', null, 'fanout_max at most 32');
select throws_ok($$ update public.pipeline_settings set duffel_calls_per_second = 0 $$, '23514', null, 'a rate is at least 1/s');

-- monitor_batch -------------------------------------------------------------------------------
select set_config('role', 'service_role', true);
create temp table got as select app.monitor_batch(jsonb_build_object('calls', jsonb_build_array(
  jsonb_build_object('function', 'monitor_reschedule', 'args', jsonb_build_object(
    'trip_id', (select id from t where k = 1), 'next_check_at', '2100-01-01T00:00:00Z', 'decision', 'wait', 'reason', 'over_budget')),
  jsonb_build_object('function', 'monitor_reschedule', 'args', jsonb_build_object(
    'trip_id', '15015015-ffff-4000-8000-000000000000', 'next_check_at', '2100-01-01T00:00:00Z', 'decision', 'wait')),
  jsonb_build_object('function', 'monitor_reschedule', 'args', jsonb_build_object(
    'trip_id', (select id from t where k = 2), 'next_check_at', 'not a time', 'decision', 'wait')),
  jsonb_build_object('function', 'monitor_expire', 'args', jsonb_build_object(
    'trip_id', (select id from t where k = 3), 'reason', 'departure_too_close'))
))) as j;
select set_config('role', 'postgres', true);

select is((select j -> 'results' from got),
  '[{"ok": true, "result": {"ok": true}}, {"ok": false, "sqlstate": "P0002"},
    {"ok": false, "sqlstate": "22007"}, {"ok": true, "result": {"ok": true}}]'::jsonb,
  'each call answered in order: results, and a failing call''s own SQLSTATE');
select is((select next_check_at from public.trip_requests where id = (select id from t where k = 1)),
  timestamptz '2100-01-01 00:00:00+00', 'the first call committed its reschedule');
select is((select count(*)::int from public.pipeline_events where trip_id = (select id from t where k = 1)
    and stage = 'monitor' and decision = 'wait' and reason_code = 'over_budget'), 1, 'with its decision-log row');
select is((select next_check_at from public.trip_requests where id = (select id from t where k = 2)),
  timestamptz '1900-01-03 00:00:02+00', 'the failed call left its trip untouched (its savepoint rolled back)');
select is((select status::text from public.trip_requests where id = (select id from t where k = 3)), 'expired',
  'a call after a failed one still runs');

select set_config('role', 'service_role', true);
-- (Money steps are batched since 20261205000500: 254_monitor_batch_money_steps.sql.)
select throws_ok($$ select app.monitor_batch('{"calls": [{"function": "monitor_heartbeat", "args": {}}]}') $$,
  '22023', 'function monitor_heartbeat cannot be batched', 'the heartbeat is never batched');
select throws_ok($$ select app.monitor_batch('{"calls": [{"function": "monitor_flags", "args": {}}]}') $$,
  '22023', 'function monitor_flags cannot be batched', 'nor is a read');
select throws_ok($$ select app.monitor_batch('{"calls": []}') $$, '22023',
  'field calls must be an array of 1 to 1000 calls', 'an empty batch is refused');
select throws_ok($$ select app.monitor_batch('{"calls": [{"function": "monitor_expire", "args": {}, "x": 1}]}') $$,
  '22023', 'unknown field: x', 'unknown fields in a call are refused');
select throws_ok($$ select app.monitor_batch('{"calls": [], "more": 1}') $$, '22023', 'unknown field: more',
  'unknown fields are refused');
select set_config('role', 'authenticated', true);
select throws_ok($$ select app.monitor_batch('{"calls": []}') $$, '42501', 'permission denied for function monitor_batch',
  'service only');
select set_config('role', 'postgres', true);

-- monitor_claim takes more than 1,000 ---------------------------------------------------------
select set_config('role', 'service_role', true);
select lives_ok($$ select app.monitor_claim('{"limit": 10000, "lease_seconds": 60, "trip_id": null}') $$,
  'a claim may take up to 10,000 trips');
select set_config('role', 'postgres', true);

-- monitor_fanout ------------------------------------------------------------------------------
-- Everything due was just leased, so only the trips made below are due.
update public.pipeline_settings set batch_size = 3, fanout_max = 4, monitor_enabled = true;
select is(app.monitor_fanout(), 1, 'nothing due: one invocation (the heartbeat)');
create temp table more7 as select pg_temp.trips(7);
select is(app.monitor_fanout(), 3, '7 due trips at 3 per run: 3 invocations');
create temp table more6 as select pg_temp.trips(6);
select is(app.monitor_fanout(), 4, 'a large backlog: bounded by fanout_max');
update public.pipeline_settings set monitor_enabled = false;
select is(app.monitor_fanout(), 1, 'kill switch off: one invocation (open attempts finish)');
update public.pipeline_settings set monitor_enabled = true;

-- The cron command posts once per invocation.
delete from vault.secrets where name in ('project_url', 'monitor_key');
select vault.create_secret('http://127.0.0.1:54321', 'project_url');
select vault.create_secret('sb_secret_pgtap0000000000000000', 'monitor_key');
create temp table before as select coalesce(max(id), 0) as id from net.http_request_queue;
do $$
declare
  c text;
begin
  select command into c from cron.job where jobname = 'auto-book-monitor';
  execute c;
end
$$;
select is((select count(*)::int from net.http_request_queue where id > (select id from before)), 4,
  'the tick queues fanout_max requests for a large backlog');

select * from finish();
rollback;
