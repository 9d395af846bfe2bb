-- The health function's numbers (migration 20261203000602_health.sql, issue 9 item 2):
-- app.health_snapshot's due backlog (what a run would claim, so a deliberate pause is not a
-- backlog), money held per currency (only authorized, not captured or released), stuck attempts
-- (not those already with an operator), the heartbeat's age and the schedule interval; service
-- only. Every date derives from now().
begin;
select plan(12);

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-000000000183', 'health-183@example.test');

create function pg_temp.trip(status text, due interval default null)
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
  d date := (now() + interval '60 days')::date;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('aaaaaaaa-0000-4000-8000-000000000183', 'LHR', 'JFK', d, 1, 'economy', 42000, 'GBP') returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000test183', 39900, 'GBP', 'economy', 0, 490, d + time '09:00', d + time '12:10', '{ZZ}',
    now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o,
    next_check_at = case when due is null then now() + interval '1 day' else now() - due end where id = t;
  if status <> 'watching' then
    update public.trip_requests set status = 'booking' where id = t;
  end if;
  if status = 'needs_operator' then
    update public.trip_requests set status = 'needs_operator' where id = t;
  end if;
  return t;
end
$$;

create function pg_temp.attempt(trip uuid, phase text, amount bigint, currency text, pi text, idle interval)
returns uuid
language plpgsql
as $$
declare
  a uuid := gen_random_uuid();
begin
  insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at, updated_at)
  values (a, trip, jsonb_build_object(
    'schema_version', 1, 'attempt_id', a, 'trip_id', trip, 'offer_id', 'off_0000test183',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', currency),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', 3,
    'phase', jsonb_build_object('name', phase), 'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', amount, 'currency', currency),
    'passenger_ids', '["pas_1"]'::jsonb, 'payment_intent', pi, 'order', null,
    'check_intent', false, 'key_generation', 0, 'lookup_misses', 0, 'reason', null),
    3, true, phase, now() - idle, now() - idle);
  return a;
end
$$;

-- A known baseline: whatever else is in the database is subtracted.
create temp table base as select app.health_snapshot('{}') as s;
create function pg_temp.delta(k text) returns bigint language sql as $$
  select (app.health_snapshot('{}') ->> k)::bigint - coalesce(((select s from base) ->> k)::bigint, 0) $$;
create function pg_temp.held(c text) returns jsonb language sql as $$
  select h from jsonb_array_elements(app.health_snapshot('{}') -> 'money_held') h where h ->> 'currency' = c $$;

select pg_temp.trip('watching', '20 minutes');
select pg_temp.trip('watching');
select is(pg_temp.delta('due_backlog'), 1::bigint, 'a trip due 20 minutes ago is in the backlog, one due tomorrow is not');
select ok((app.health_snapshot('{}') ->> 'due_oldest_age_s')::int >= 1200, 'the oldest due age is at least 20 minutes');

select pg_temp.attempt(pg_temp.trip('booking', '1 minute'), 'order', 39900, 'GBP', 'pi_test183a', '2 minutes');
select pg_temp.attempt(pg_temp.trip('booking'), 'capture', 10000, 'GBP', 'pi_test183b', '50 minutes');
select pg_temp.attempt(pg_temp.trip('booking'), 'authorize', 5000, 'JPY', null, '1 minute');
select pg_temp.attempt(pg_temp.trip('needs_operator'), 'capture', 777, 'KWD', 'pi_test183c', '3 hours');
select is((pg_temp.held('GBP') ->> 'amount_minor')::bigint
  - coalesce((select (h ->> 'amount_minor')::bigint from base, jsonb_array_elements(s -> 'money_held') h
              where h ->> 'currency' = 'GBP'), 0), 49900::bigint,
  'GBP held: the order and the capture (integer minor units)');
select is(pg_temp.held('JPY'), null, 'an authorize without a PaymentIntent holds nothing yet');
select is((pg_temp.held('KWD') ->> 'amount_minor')::bigint
  - coalesce((select (h ->> 'amount_minor')::bigint from base, jsonb_array_elements(s -> 'money_held') h
              where h ->> 'currency' = 'KWD'), 0), 777::bigint, 'KWD held, three decimals, minor units');
select is(pg_temp.delta('stuck_attempts'), 1::bigint, 'idle 50 minutes is stuck; the needs_operator one has its own alert');
select is(pg_temp.delta('needs_operator'), 1::bigint, 'trips with an operator are counted');

update public.pipeline_settings set monitor_enabled = false;
select is((app.health_snapshot('{}') ->> 'due_backlog')::bigint,
  (select count(*) from public.trip_requests t where t.status = 'booking' and t.next_check_at <= now()
     and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open)),
  'paused: only trips whose open attempt may hold money are a backlog (the watching trip is not)');
update public.pipeline_settings set monitor_enabled = true;

update public.pipeline_settings set heartbeat_at = now() - interval '7 minutes';
select is((app.health_snapshot('{}') ->> 'heartbeat_age_s')::int, 420, 'the heartbeat age in seconds');
select ok((app.health_snapshot('{}') ->> 'schedule_interval_s')::int in (30, 60), 'the monitor schedule interval');
select ok(not has_function_privilege('authenticated', 'app.health_snapshot(jsonb)', 'execute')
  and not has_function_privilege('anon', 'app.health_snapshot(jsonb)', 'execute')
  and has_function_privilege('service_role', 'app.health_snapshot(jsonb)', 'execute'), 'service only');
select ok(app.health_snapshot('{}')::text not like '%example.test%', 'no personal data');

select * from finish();
rollback;
