-- Review of the feature-flag gate (migration 20261203000910_flag_review_fixes.sql): a JSON null
-- (or any non-string) in allow_users / deny_users is refused by app.set_feature_flag and a NULL
-- element by the table's check; monitor_begin_attempt checks app.auto_booking_allowed(owner)
-- under the trip lock (kill switch, rollout, deny list), whatever snapshot the driver had.
begin;
select plan(12);

insert into auth.users (id, email) values ('d2210000-0000-4000-8000-00000000000d', 'user-221@example.test');

create function pg_temp.trip() returns uuid language plpgsql as $$
declare
  t uuid;
  o uuid;
  day date := (now() + interval '60 days')::date;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('d2210000-0000-4000-8000-00000000000d', 'LHR', 'JFK', day, 1, 'economy', 42000, 'GBP') returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000flag', 39900, 'GBP', 'economy', 0, 490, day + time '09:00', day + time '12:10', '{ZZ}',
    now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o where id = t;
  return t;
end
$$;

create function pg_temp.begin(trip uuid) returns jsonb language sql as $$
  select app.monitor_begin_attempt(jsonb_build_object(
    'trip_id', trip,
    'trip_version', (select version from public.trip_requests where id = trip),
    'state', jsonb_build_object(
      'schema_version', 1, 'attempt_id', gen_random_uuid(), 'trip_id', trip, 'offer_id', 'off_0000flag',
      'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
      'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', 1, 'phase', '{"name": "reprice"}'::jsonb,
      'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
      'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
      'reason', null, 'started_at', now(), 'updated_at', now())))
$$;

create function pg_temp.flag(args jsonb) returns jsonb language sql as $$
  select app.set_feature_flag(args || '{"actor": "pgtap", "reason": "review 221"}')
$$;

update public.pipeline_settings set monitor_enabled = true where id;

-- 2. No NULL in the lists ------------------------------------------------------------------------
select throws_ok($$ select pg_temp.flag('{"name": "auto_booking", "allow_users": [null]}') $$, '22023', 'user ids must be UUIDs',
  'a JSON null in allow_users is refused');
select throws_ok($$ select pg_temp.flag('{"name": "auto_booking", "deny_users": ["d2210000-0000-4000-8000-00000000000d", null]}') $$,
  '22023', 'user ids must be UUIDs', 'a JSON null in deny_users is refused');
select throws_ok($$ select pg_temp.flag('{"name": "auto_booking", "deny_users": [7]}') $$, '22023', 'user ids must be UUIDs',
  'a number in a list is refused');
select is((select allow_users || deny_users from public.feature_flags where name = 'auto_booking'), '{}'::uuid[],
  'nothing was stored');
select throws_ok($$ update public.feature_flags set allow_users = array[null::uuid] where name = 'auto_booking' $$, '23514', null,
  'the table refuses a NULL element whoever writes it');
select lives_ok($$ select pg_temp.flag('{"name": "auto_booking", "allow_users": ["d2210000-0000-4000-8000-00000000000d"]}') $$,
  'a list of UUIDs is accepted');
select pg_temp.flag('{"name": "auto_booking", "allow_users": []}');

-- 3b. The gate in monitor_begin_attempt ------------------------------------------------------------
select pg_temp.flag('{"name": "auto_booking_kill_switch", "enabled": true}');
create temp table g as select pg_temp.trip() as t;
select is(pg_temp.begin((select t from g)), '{"started": false, "reason": "auto_booking_flag_off"}'::jsonb,
  'the kill switch refuses a new attempt in the database');
select is((select status from public.trip_requests where id = (select t from g)), 'watching', 'the trip keeps watching');
select is((select count(*)::int from public.booking_attempts where trip_id = (select t from g)), 0, 'no attempt row');
select pg_temp.flag('{"name": "auto_booking_kill_switch", "enabled": false}');
select pg_temp.flag('{"name": "auto_booking", "deny_users": ["d2210000-0000-4000-8000-00000000000d"]}');
select is(pg_temp.begin((select t from g)) ->> 'reason', 'auto_booking_flag_off', 'a denied owner gets no attempt');
select pg_temp.flag('{"name": "auto_booking", "deny_users": [], "enabled": true, "rollout_bp": 0}');
select is(pg_temp.begin((select t from g)) ->> 'reason', 'auto_booking_flag_off', 'an owner outside the rollout gets no attempt');
select pg_temp.flag('{"name": "auto_booking", "rollout_bp": 10000}');
select is(pg_temp.begin((select t from g)), '{"started": true}'::jsonb, 'the flag on for the owner: the attempt begins');

select * from finish();
rollback;
