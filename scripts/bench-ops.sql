-- Benchmark (a command, not a test): how long the ops dashboard's queries take on a busy
-- database. In one transaction that is rolled back: 20,000 trips (4 owners), 200,000 decision-log rows,
-- 2,000 closed attempts with bookings, 20 open attempts, 10,000 outbox rows and 2,880 monitor runs
-- (one every 30 s for 24 h); then app.ops_overview and app.pipeline_metrics as an operator, 7
-- times each, median and max printed in milliseconds. Nothing is left behind.
--
--   psql "$SUPABASE_DB_URL" -q -f scripts/bench-ops.sql          (the local stack: stack.sh env)
\set ON_ERROR_STOP on
begin;
set local client_min_messages = notice;
update public.pipeline_settings set max_active_trips_per_user = 10000;
insert into auth.users (id, email)
select ('beeeeeee-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'bench-ops-' || g || '@example.test'
from generate_series(0, 3) g;

-- Seeding only: skip the per-insert triggers (the active-trip cap counts every owner's trips).
set local session_replication_role = replica;
insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
  max_total_minor, currency, next_check_at, created_at)
select ('beeeeeee-0000-4000-8000-' || lpad((g % 4)::text, 12, '0'))::uuid, 'LHR', 'JFK', (now() + interval '50 days')::date, 1,
  'economy', 42000, 'GBP', now() + (g % 600) * interval '1 minute', now() - (g % 1440) * interval '1 minute'
from generate_series(1, 20000) g;
create temp table bench_trips as
select id, owner_id, row_number() over (order by id) as n from public.trip_requests
where owner_id::text like 'beeeeeee-0000-4000-8000-%';
update public.trip_requests set status = 'cancelled'
where id in (select id from bench_trips where n > 12000);
set local session_replication_role = origin;

insert into public.pipeline_events (trip_id, occurred_at, stage, decision, reason_code)
select t.id, now() - (g % 2880) * interval '30 seconds',
  case when g % 20 = 0 then 'book' else 'monitor' end,
  case when g % 20 = 0 then 'fail' else 'wait' end,
  case when g % 20 = 0 then (array['card_declined', 'offer_no_longer_available', 'capture_failed'])[1 + g % 3] end
from generate_series(1, 200000) g join bench_trips t on t.n = 1 + g % 20000;

create function pg_temp.state(attempt uuid, trip uuid, phase jsonb, amount bigint, intent text)
returns jsonb language sql as $$
  select jsonb_build_object('schema_version', 1, 'attempt_id', attempt, 'trip_id', trip,
    'offer_id', 'off_bench', 'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_bench', 'payment_method', 'pm_bench', 'seed', 7, 'version', 1, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', amount, 'currency', 'GBP'), 'passenger_ids', '[]'::jsonb,
    'payment_intent', intent, 'order', null, 'check_intent', false, 'key_generation', 0,
    'lookup_misses', 0, 'reason', null, 'started_at', now(), 'updated_at', now())
$$;
create temp table bench_attempts as
select gen_random_uuid() as id, t.id as trip_id, t.n from bench_trips t where t.n <= 2020;
insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at, updated_at)
select a.id, a.trip_id,
  pg_temp.state(a.id, a.trip_id, case when a.n <= 2000 then '{"name": "closed", "end": "booked"}'::jsonb
                                      else '{"name": "order"}'::jsonb end, 39000 + a.n, 'pi_bench_' || a.n),
  1, a.n > 2000, case when a.n <= 2000 then 'closed' else 'order' end,
  now() - (a.n % 1440) * interval '1 minute', now() - (a.n % 60) * interval '1 minute'
from bench_attempts a;
insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency, created_at)
select a.trip_id, a.id, 'ord_bench_' || a.n, 'BENCH' || a.n, 39000 + a.n, 'GBP', now() - (a.n % 1440) * interval '1 minute'
from bench_attempts a where a.n <= 2000;

insert into public.notifications (trip_id, owner_id, template, dedupe_key, status, next_attempt_at, provider_message_id, sent_at)
select t.id, t.owner_id, 'booking_confirmed', 'bench-' || g,
  case when g % 10 = 0 then 'pending' else 'sent' end, now() - interval '1 minute',
  case when g % 10 = 0 then null else 'msg_bench_' || g end, case when g % 10 = 0 then null else now() end
from generate_series(1, 10000) g join bench_trips t on t.n = g;

insert into public.monitor_runs (run_id, started_at, finished_at, summary)
select 'bench-' || g, now() - g * interval '30 seconds', now() - g * interval '30 seconds',
  jsonb_build_object('claimed', 25, 'outcomes', jsonb_build_object('booked', g % 2, 'failed', g % 3, 'waiting', 20),
    'duration_ms', 800 + g % 400, 'provider_calls', jsonb_build_object('duffel', 30, 'stripe', 2, 'upstash', 50),
    'provider_429', jsonb_build_object('duffel', g % 5))
from generate_series(1, 2880) g;
analyze;

select set_config('role', 'authenticated', true), set_config('request.jwt.claims',
  '{"sub": "beeeeeee-0000-4000-8000-000000000000", "role": "authenticated", "app_metadata": {"roles": ["operator"]}}', true)
\gset
do $$
declare
  t0 timestamptz;
  o numeric[] := '{}';
  m numeric[] := '{}';
  i int;
begin
  for i in 1..7 loop
    t0 := clock_timestamp();
    perform app.ops_overview('{}');
    o := o || (extract(epoch from clock_timestamp() - t0) * 1000)::numeric(10, 1);
    t0 := clock_timestamp();
    perform app.pipeline_metrics('{"hours": 24}');
    m := m || (extract(epoch from clock_timestamp() - t0) * 1000)::numeric(10, 1);
  end loop;
  raise notice 'bench-ops: ops_overview ms median % max % | pipeline_metrics ms median % max %',
    (select percentile_disc(0.5) within group (order by x) from unnest(o) x), (select max(x) from unnest(o) x),
    (select percentile_disc(0.5) within group (order by x) from unnest(m) x), (select max(x) from unnest(m) x);
end
$$;
rollback;
