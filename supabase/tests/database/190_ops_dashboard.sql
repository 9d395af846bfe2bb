-- The ops dashboard's SQL API and the pipeline metrics (issue 9 items 4 and 5;
-- 20261203000700_ops_dashboard_and_metrics.sql): only callers whose JWT app_metadata grants the
-- operator role pass (user_metadata never counts); the overview's numbers match the tables;
-- pause/resume is recorded in operator_actions; a rollout change goes through
-- app.set_feature_flag and is audited with the operator as the actor; the metrics count
-- attempts, bookings, failures by reason, time to booking, the amount below the maximum and the
-- monitor's provider calls and 429s. Dates derive from now().
begin;
select plan(34);

insert into auth.users (id, email) values
  ('c3c3c3c3-0000-4000-8000-0000000000c3', 'ops-owner@example.test');

create function pg_temp.act(claims jsonb)
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', claims::text, true);
end
$$;

create function pg_temp.operator()
returns void
language sql
as $$
  select pg_temp.act('{"sub": "0d0d0d0d-0000-4000-8000-00000000000d", "role": "authenticated",
    "aud": "authenticated", "app_metadata": {"provider": "email", "roles": ["operator"]}}');
$$;

create function pg_temp.as_postgres()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, amount bigint,
  currency text, intent text)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000opsd',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', currency),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', case when amount is null then null
                   else jsonb_build_object('amount_minor', amount, 'currency', currency) end,
    'passenger_ids', '[]'::jsonb, 'payment_intent', intent, 'order', null, 'check_intent', false,
    'key_generation', 0, 'lookup_misses', 0, 'reason', null, 'started_at', now(), 'updated_at', now())
$$;

create function pg_temp.trip(currency text, created timestamptz default now())
returns uuid
language sql
as $$
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, next_check_at, created_at)
  values ('c3c3c3c3-0000-4000-8000-0000000000c3', 'LHR', 'JFK', (now() + interval '50 days')::date, 1,
    'economy', 42000, currency, now() + interval '300 days', created)
  returning id
$$;

create temp table k (name text primary key, id uuid);
grant select on k to authenticated;
insert into k values
  ('cancelled', pg_temp.trip('GBP')), ('held', pg_temp.trip('KWD')), ('fresh', pg_temp.trip('KWD')),
  ('booked', pg_temp.trip('GBP', now() - interval '2 hours')),
  ('a_held', gen_random_uuid()), ('a_fresh', gen_random_uuid()), ('a_booked', gen_random_uuid());
update public.trip_requests set status = 'cancelled' where id = (select id from k where name = 'cancelled');

-- A stuck attempt holding 12.345 KWD, a fresh one holding 1.000 KWD, a closed one that booked.
insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at, updated_at)
select (select id from k where name = 'a_held'), (select id from k where name = 'held'),
  pg_temp.state((select id from k where name = 'a_held'), (select id from k where name = 'held'), 1,
    '{"name": "order"}', 12345, 'KWD', 'pi_opsd_held'), 1, true, 'order',
  now() - interval '2 hours', now() - interval '2 hours';
insert into public.booking_attempts (id, trip_id, state, version, open, phase)
select (select id from k where name = 'a_fresh'), (select id from k where name = 'fresh'),
  pg_temp.state((select id from k where name = 'a_fresh'), (select id from k where name = 'fresh'), 1,
    '{"name": "capture"}', 1000, 'KWD', 'pi_opsd_fresh'), 1, true, 'capture';
insert into public.booking_attempts (id, trip_id, state, version, open, phase)
select (select id from k where name = 'a_booked'), (select id from k where name = 'booked'),
  pg_temp.state((select id from k where name = 'a_booked'), (select id from k where name = 'booked'), 1,
    '{"name": "closed", "end": "booked"}', 39900, 'GBP', 'pi_opsd_booked'), 1, false, 'closed';
insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
select (select id from k where name = 'booked'), (select id from k where name = 'a_booked'),
  'ord_opsd_0001', 'OPSD01', 39900, 'GBP';
insert into public.operator_alerts (trip_id, attempt_id, reason)
select (select id from k where name = 'held'), (select id from k where name = 'a_held'), 'ops_test_alert';
insert into public.pipeline_events (trip_id, stage, decision, reason_code)
select (select id from k where name = 'cancelled'), 'book', 'fail', r
from unnest(array['ops_test_declined', 'ops_test_declined', 'ops_test_gone']) r;
insert into public.monitor_runs (run_id, started_at, finished_at, summary) values
  ('opsd-run-1', now(), now(), '{"claimed": 3, "outcomes": {"booked": 1, "failed": 1}, "duration_ms": 100,
    "provider_calls": {"duffel": 4, "stripe": 2}, "provider_429": {"duffel": 1}}'),
  ('opsd-run-2', now(), now(), '{"claimed": 2, "outcomes": {"failed": 1}, "duration_ms": 300,
    "provider_calls": {"duffel": 1}, "provider_429": {}}');

-- What the tables say, computed directly (as the owner).
create temp table expect as
select
  (select count(*) from public.trip_requests where status = 'cancelled') as cancelled,
  (select sum(amount_minor)::bigint from public.booking_attempts
    where open and payment_intent is not null and phase <> 'finish' and currency = 'KWD') as held_kwd,
  (select count(*) from public.operator_alerts where resolved_at is null) as alerts,
  (select sum((summary ->> 'claimed')::int)::bigint from public.monitor_runs
    where date_trunc('hour', started_at) = date_trunc('hour', now())) as claimed_this_hour,
  (select sum((summary -> 'provider_429' ->> 'duffel')::int)::bigint from public.monitor_runs
    where started_at >= now() - interval '24 hours') as duffel_429;
grant select on expect to authenticated;

-- Who is an operator.
select pg_temp.act('{"sub": "0d0d0d0d-0000-4000-8000-00000000000d", "role": "authenticated", "app_metadata": {"role": "operator"}}');
select ok(app.is_operator(), 'app_metadata.role = operator is an operator');
select pg_temp.operator();
select ok(app.is_operator(), 'app_metadata.roles containing operator is an operator');
select pg_temp.act('{"sub": "0d0d0d0d-0000-4000-8000-00000000000d", "role": "authenticated", "app_metadata": {"provider": "email"}, "user_metadata": {"role": "operator", "roles": ["operator"]}}');
select ok(not app.is_operator(), 'user_metadata never makes an operator');
select throws_ok($$ select app.ops_overview('{}') $$, '42501', 'operator_required',
  'a traveller is refused the overview');
select throws_ok($$ select app.ops_set_monitor('{"enabled": false, "reason": "x"}') $$, '42501',
  'operator_required', 'a traveller cannot pause the monitor');
select throws_ok($$ select app.ops_set_flag('{"name": "auto_booking", "rollout_bp": 1, "reason": "x"}') $$,
  '42501', 'operator_required', 'a traveller cannot change a flag');
select throws_ok($$ select app.pipeline_metrics('{}') $$, '42501', 'operator_required',
  'a traveller cannot read the metrics');
select pg_temp.act('{"sub": "0d0d0d0d-0000-4000-8000-00000000000d", "role": "anon", "app_metadata": {"roles": ["operator"]}}');
select ok(not app.is_operator(), 'only a signed-in (authenticated) token counts');
select pg_temp.act('{"sub": "not-a-uuid", "role": "authenticated", "app_metadata": {"roles": ["operator"]}}');
select ok(not app.is_operator(), 'a token without a user id does not count');
select pg_temp.as_postgres();

-- Grants.
select ok(not has_table_privilege('authenticated', 'public.operator_actions', 'select'),
  'travellers cannot read operator_actions');
select ok(not has_table_privilege('authenticated', 'app.metrics_bookings', 'select')
  and not has_table_privilege('authenticated', 'app.metrics_monitor_hourly', 'select'),
  'the metrics views are not readable by travellers');
select ok(has_table_privilege('service_role', 'app.metrics_monitor_hourly', 'select'),
  'the service reads the metrics views');
select ok(not has_function_privilege('anon', 'app.ops_overview(jsonb)', 'execute'),
  'anon cannot call the overview');
select ok((select relrowsecurity from pg_class where oid = 'public.operator_actions'::regclass),
  'RLS is on for operator_actions');

-- The overview.
select pg_temp.operator();
create temp table o as select app.ops_overview('{}') as j;
select is((select (j -> 'trips_by_status' ->> 'cancelled')::bigint from o), (select cancelled from expect),
  'trips by status match the table');
select is((select (j -> 'money_held' ->> 'KWD')::bigint from o), (select held_kwd from expect),
  'money held per currency matches the open attempts');
select is((select (x -> 'held' ->> 'KWD')::bigint from o, jsonb_array_elements(j -> 'attempts_by_phase') x
           where x ->> 'phase' = 'order'), 12345::bigint, 'attempts by phase carry the money each phase holds');
select ok((select j -> 'stuck_attempts' @> jsonb_build_array(jsonb_build_object(
             'attempt_id', (select id from k where name = 'a_held'), 'minutes', 120)) from o),
  'the attempt without progress for 2 hours is stuck');
select ok((select not (j -> 'stuck_attempts' @> jsonb_build_array(jsonb_build_object(
             'attempt_id', (select id from k where name = 'a_fresh')))) from o),
  'a fresh attempt is not stuck');
select is((select (j ->> 'open_alerts_total')::bigint from o), (select alerts from expect),
  'open alerts are counted');
select ok((select j -> 'open_alerts' @> '[{"reason": "ops_test_alert"}]' from o), 'open alerts are listed');
select is((select (x ->> 'claimed')::bigint from o, jsonb_array_elements(j -> 'runs_24h') x
           where (x ->> 'hour')::timestamptz = date_trunc('hour', now())),
  (select claimed_this_hour from expect), 'the 24 h chart sums this hour''s runs');
select ok((select j -> 'flags' @> '[{"name": "auto_booking"}, {"name": "auto_booking_kill_switch"}]' from o),
  'the flags are shown');
select throws_ok($$ select app.ops_overview('{"stuck_minutes": 0}') $$, '22023', NULL,
  'stuck_minutes out of range is refused');

-- Metrics.
select is((select (j -> 'metrics' -> 'failed_by_reason') @> '[{"reason": "ops_test_declined", "count": 2}, {"reason": "ops_test_gone", "count": 1}]' from o),
  true, 'failures are counted by reason');
select pg_temp.as_postgres();
select is((select jsonb_build_object('s', time_to_book_seconds, 'below', below_max_minor)
           from app.metrics_bookings where trip_id = (select id from k where name = 'booked')),
  '{"s": 7200, "below": 2100}'::jsonb, 'a booking''s time from request and amount below the maximum');
select is((select (provider_calls, provider_429, booked, failed)::text from app.metrics_monitor_hourly
           where hour = date_trunc('hour', now())) is not null, true, 'the hourly view has this hour');
select pg_temp.operator();
select is((select (app.pipeline_metrics('{"hours": 24}') -> 'provider_429' ->> 'duffel')::bigint),
  (select duffel_429 from expect), 'provider 429s are summed per service');

-- Pause and resume, recorded.
select is(app.ops_set_monitor('{"enabled": false, "reason": "pgTAP pause"}'),
  '{"changed": true, "monitor_enabled": false}'::jsonb, 'an operator pauses the monitor');
select pg_temp.as_postgres();
select is((select monitor_enabled from public.pipeline_settings), false, 'the kill switch is off');
select is((select jsonb_build_object('actor', actor, 'action', action, 'reason', reason)
           from public.operator_actions order by id desc limit 1),
  '{"actor": "0d0d0d0d-0000-4000-8000-00000000000d", "action": "monitor_pause", "reason": "pgTAP pause"}'::jsonb,
  'the pause is recorded with who and why');
select pg_temp.operator();
select throws_ok($$ select app.ops_set_monitor('{"enabled": true}') $$, '22023', NULL,
  'a change without a reason is refused');

-- A rollout change, audited with the operator as the actor.
select is((select app.ops_set_flag('{"name": "auto_booking", "rollout_bp": 2000, "reason": "pgTAP ramp"}') ->> 'rollout_bp'),
  '2000', 'an operator changes a rollout');
select pg_temp.as_postgres();
select is((select jsonb_build_object('by', changed_by, 'reason', reason, 'after', after -> 'rollout_bp')
           from public.feature_flag_audit where flag = 'auto_booking' order by id desc limit 1),
  '{"by": "0d0d0d0d-0000-4000-8000-00000000000d", "reason": "pgTAP ramp", "after": 2000}'::jsonb,
  'the change is audited with the operator''s id');

select * from finish();
rollback;
